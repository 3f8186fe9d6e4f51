/*
 * test_interp.c: the reference interpreter's API — errors that name what went wrong (unknown
 * source, wrong shape, unset source), NULL safety, the difference between F32 and F64 precision,
 * host dtype conversion, outputs, apply_updates, and edge values that must stay defined (the
 * kernels' values themselves are checked against PyTorch by test_interp_ops).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ir/build.h"
#include "runtime/interp.h"

typedef struct fixture {
    gc_graph *g;
    gc_error err;
    gc_builder b;
} fixture;

static int setup(void **state) {
    fixture *f = test_calloc(1, sizeof *f);
    f->g = gc_graph_new("t");
    f->b.graph = f->g;
    f->b.err = &f->err;
    *state = f;
    return f->g ? 0 : -1;
}

static int teardown(void **state) {
    fixture *f = *state;
    gc_graph_free(f->g);
    test_free(f);
    return 0;
}

static gc_node *source(fixture *f, gc_op op, const char *name, gc_dtype dtype, int rank, const int64_t *dims) {
    gc_type t = gc_type_make(dtype, rank, dims);
    gc_loc loc = {NULL, 0, 0};
    gc_node *n = gc_graph_make(f->g, op, NULL, 0, NULL, &t, name, loc, &f->err);
    assert_non_null(n);
    return n;
}

static void assert_contains(const char *haystack, const char *needle) {
    if (!strstr(haystack, needle)) fail_msg("'%s' does not contain '%s'", haystack, needle);
}

static void test_unknown_name(void **state) {
    fixture *f = *state;
    const int64_t dims[] = {3};
    source(f, GC_OP_INPUT, "x", GC_F32, 1, dims);
    gc_interp *it = gc_interp_new(f->g, GC_INTERP_F32, &f->err);
    assert_non_null(it);
    const double v[3] = {1, 2, 3};
    assert_false(gc_interp_set_f64(it, "nosuch", v, 3, &f->err));
    assert_int_equal(f->err.code, GC_ERR_USER);
    assert_contains(f->err.message, "'nosuch'");
    assert_null(gc_interp_source(it, "nosuch"));
    gc_interp_free(it);
}

static void test_wrong_shape(void **state) {
    fixture *f = *state;
    const int64_t dims[] = {2, 3};
    source(f, GC_OP_PARAM, "w", GC_F32, 2, dims);
    gc_interp *it = gc_interp_new(f->g, GC_INTERP_F32, &f->err);
    assert_non_null(it);
    float data[6] = {0};
    gc_tensor t = {GC_F32, 2, {3, 2}, data};
    assert_false(gc_interp_set(it, "w", &t, &f->err));
    assert_int_equal(f->err.code, GC_ERR_USER);
    assert_contains(f->err.message, "'w'");
    assert_contains(f->err.message, "f32[2, 3]");
    assert_contains(f->err.message, "f32[3, 2]");

    gc_tensor r = {GC_F32, 1, {6}, data};
    memset(&f->err, 0, sizeof f->err);
    assert_false(gc_interp_set(it, "w", &r, &f->err));
    assert_contains(f->err.message, "f32[6]");

    const double v[5] = {0};
    assert_false(gc_interp_set_f64(it, "w", v, 5, &f->err));
    assert_contains(f->err.message, "'w'");
    assert_contains(f->err.message, "5 values");
    assert_null(gc_interp_source(it, "w")); /* nothing was stored */
    gc_interp_free(it);
}

static void test_unset_source(void **state) {
    fixture *f = *state;
    const int64_t dims[] = {2};
    gc_node *x = source(f, GC_OP_INPUT, "x", GC_F32, 1, dims);
    gc_node *w = source(f, GC_OP_PARAM, "w", GC_F32, 1, dims);
    gc_node *s = source(f, GC_OP_STATE, "s", GC_F32, 1, dims);
    gc_node *y = gc_binary(&f->b, GC_OP_ADD, gc_binary(&f->b, GC_OP_MUL, x, w), s);
    assert_non_null(y);
    gc_interp *it = gc_interp_new(f->g, GC_INTERP_F32, &f->err);
    assert_non_null(it);
    const double xv[2] = {1, 2}, wv[2] = {3, 4}, sv[2] = {0.5, -0.5};
    assert_true(gc_interp_set_f64(it, "x", xv, 2, &f->err));
    assert_false(gc_interp_run(it, &f->err));
    assert_int_equal(f->err.code, GC_ERR_USER);
    assert_contains(f->err.message, "param 'w'");
    assert_null(gc_interp_value(it, y)); /* a failed run leaves nothing to read */

    assert_true(gc_interp_set_f64(it, "w", wv, 2, &f->err));
    assert_false(gc_interp_run(it, &f->err));
    assert_contains(f->err.message, "state 's'");

    assert_true(gc_interp_set_f64(it, "s", sv, 2, &f->err));
    assert_true(gc_interp_run(it, &f->err));
    const double *v = gc_interp_value(it, y);
    assert_non_null(v);
    assert_true(v[0] == 3.5 && v[1] == 7.5);
    gc_interp_free(it);
}

static void test_null_safety(void **state) {
    fixture *f = *state;
    assert_null(gc_interp_new(NULL, GC_INTERP_F32, &f->err));
    assert_int_not_equal(f->err.code, GC_OK);
    assert_null(gc_interp_new(NULL, GC_INTERP_F32, NULL)); /* a NULL error slot is allowed */
    gc_interp_free(NULL);
    assert_false(gc_interp_run(NULL, &f->err));
    assert_false(gc_interp_apply_updates(NULL, &f->err));
    assert_false(gc_interp_set_f64(NULL, "x", NULL, 0, &f->err));
    assert_null(gc_interp_value(NULL, NULL));
    assert_null(gc_interp_output(NULL, GC_OUTPUT_VALUE, "loss"));
    assert_null(gc_interp_source(NULL, "x"));

    const int64_t dims[] = {1};
    gc_node *x = source(f, GC_OP_INPUT, "x", GC_F32, 1, dims);
    gc_interp *it = gc_interp_new(f->g, GC_INTERP_F32, &f->err);
    assert_non_null(it);
    assert_false(gc_interp_set(it, "x", NULL, &f->err));
    assert_false(gc_interp_set(it, NULL, NULL, &f->err));
    gc_tensor empty = {GC_F32, 1, {1}, NULL};
    assert_false(gc_interp_set(it, "x", &empty, &f->err));
    assert_false(gc_interp_set_f64(it, "x", NULL, 1, &f->err));
    float one = 1;
    gc_tensor bad_dtype = {(gc_dtype)7, 1, {1}, &one};
    assert_false(gc_interp_set(it, "x", &bad_dtype, &f->err));
    gc_tensor bad_rank = {GC_F32, 99, {1}, &one};
    assert_false(gc_interp_set(it, "x", &bad_rank, &f->err));
    assert_contains(f->err.message, "rank 99");

    assert_null(gc_interp_value(it, x)); /* not run yet */
    assert_null(gc_interp_value(it, NULL));
    assert_null(gc_interp_source(it, "x"));
    assert_null(gc_interp_source(it, NULL));
    assert_null(gc_interp_output(it, GC_OUTPUT_VALUE, NULL));
    assert_false(gc_interp_apply_updates(it, &f->err)); /* nothing has run */
    assert_contains(f->err.message, "not been run");
    gc_interp_free(it);
}

/* F32 rounds every f32 value to float after each op (sources included); F64 keeps doubles; f64
 * values are never rounded; i32 values are truncated integers in both. */
static void test_precision(void **state) {
    fixture *f = *state;
    const int64_t dims[] = {3};
    gc_node *x = source(f, GC_OP_INPUT, "x", GC_F32, 1, dims);
    source(f, GC_OP_INPUT, "k", GC_I32, 1, dims);
    gc_node *e = gc_unary(&f->b, GC_OP_EXP, x);
    gc_node *d = gc_mul_scalar(&f->b, gc_cast(&f->b, x, GC_F64), 1.0 / 3.0);
    gc_node *m = gc_mul_scalar(&f->b, e, 1.0 / 3.0);
    assert_non_null(d);
    assert_non_null(m);
    const double xv[3] = {0.1, 1.0 / 3.0, 1e-9}, kv[3] = {2.7, -2.7, 1e12};

    double f32_e[3], f64_e[3];
    for (int mode = 0; mode < 2; mode++) {
        gc_interp *it = gc_interp_new(f->g, mode ? GC_INTERP_F64 : GC_INTERP_F32, &f->err);
        assert_non_null(it);
        assert_true(gc_interp_set_f64(it, "x", xv, 3, &f->err));
        assert_true(gc_interp_set_f64(it, "k", kv, 3, &f->err));
        assert_true(gc_interp_run(it, &f->err));
        const double *xs = gc_interp_source(it, "x"), *ks = gc_interp_source(it, "k");
        const double *ev = gc_interp_value(it, e), *dv = gc_interp_value(it, d), *mv = gc_interp_value(it, m);
        assert_true(ks[0] == 2.0 && ks[1] == -2.0 && ks[2] == 2147483647.0);
        for (int i = 0; i < 3; i++) {
            double xr = mode ? xv[i] : (double)(float)xv[i];
            assert_true(xs[i] == xr);
            /* The cast to f64 is exact, and the f64 product is not rounded to float. */
            assert_true(dv[i] == xr * (double)(1.0 / 3.0));
            if (mode) {
                assert_true(ev[i] == exp(xv[i]));
                assert_true(mv[i] == exp(xv[i]) * (1.0 / 3.0));
                f64_e[i] = ev[i];
            } else {
                assert_true(ev[i] == (double)(float)exp(xr));
                /* The f32 constant 1/3 is itself rounded, and so is the product. */
                assert_true(mv[i] == (double)(float)(ev[i] * (double)(float)(1.0 / 3.0)));
                f32_e[i] = ev[i];
            }
        }
        gc_interp_free(it);
    }
    for (int i = 0; i < 3; i++) assert_true(f32_e[i] != f64_e[i]);
}

static void test_typed_host_data(void **state) {
    fixture *f = *state;
    const int64_t dims[] = {2, 2};
    source(f, GC_OP_INPUT, "a", GC_I32, 2, dims);
    source(f, GC_OP_INPUT, "b", GC_F32, 2, dims);
    source(f, GC_OP_INPUT, "c", GC_F64, 2, dims);
    gc_interp *it = gc_interp_new(f->g, GC_INTERP_F32, &f->err);
    assert_non_null(it);
    float fa[4] = {2.9f, -2.9f, 0.5f, -0.0f};
    int32_t ib[4] = {16777217, -3, 0, 7};
    double dc[4] = {0.1, -1e300, 3.0, 1e-320};
    gc_tensor ta = {GC_F32, 2, {2, 2}, fa}, tb = {GC_I32, 2, {2, 2}, ib}, tc = {GC_F64, 2, {2, 2}, dc};
    assert_true(gc_interp_set(it, "a", &ta, &f->err));
    assert_true(gc_interp_set(it, "b", &tb, &f->err));
    assert_true(gc_interp_set(it, "c", &tc, &f->err));
    const double *a = gc_interp_source(it, "a"), *b = gc_interp_source(it, "b"), *c = gc_interp_source(it, "c");
    assert_true(a[0] == 2 && a[1] == -2 && a[2] == 0 && a[3] == 0);
    assert_true(b[0] == 16777216.0 && b[1] == -3 && b[3] == 7); /* 2^24 + 1 is not a float */
    assert_true(c[0] == 0.1 && c[1] == -1e300 && c[3] == 1e-320);
    gc_interp_free(it);
}

static void test_outputs_and_updates(void **state) {
    fixture *f = *state;
    const int64_t dims[] = {2};
    gc_node *w = source(f, GC_OP_PARAM, "w", GC_F32, 1, dims);
    gc_node *s = source(f, GC_OP_STATE, "step", GC_I32, 0, NULL);
    gc_node *loss = gc_reduce(&f->b, GC_OP_SUM, gc_unary(&f->b, GC_OP_SQUARE, w), 1u, false);
    gc_node *grad = gc_mul_scalar(&f->b, w, 2.0);
    gc_node *w_new = gc_binary(&f->b, GC_OP_SUB, w, gc_mul_scalar(&f->b, grad, 0.25));
    gc_node *s_new = gc_add_scalar(&f->b, s, 1.0);
    assert_non_null(loss);
    assert_non_null(w_new);
    assert_non_null(s_new);
    assert_true(gc_graph_add_output(f->g, GC_OUTPUT_VALUE, "loss", loss, &f->err));
    assert_true(gc_graph_add_output(f->g, GC_OUTPUT_GRAD, "w", grad, &f->err));
    assert_true(gc_graph_add_output(f->g, GC_OUTPUT_UPDATE, "w", w_new, &f->err));
    assert_true(gc_graph_add_output(f->g, GC_OUTPUT_UPDATE, "step", s_new, &f->err));

    gc_interp *it = gc_interp_new(f->g, GC_INTERP_F32, &f->err);
    assert_non_null(it);
    const double wv[2] = {1.0, -2.0}, sv[1] = {5};
    assert_true(gc_interp_set_f64(it, "w", wv, 2, &f->err));
    assert_true(gc_interp_set_f64(it, "step", sv, 1, &f->err));
    assert_null(gc_interp_output(it, GC_OUTPUT_VALUE, "loss"));
    assert_true(gc_interp_run(it, &f->err));
    assert_true(gc_interp_output(it, GC_OUTPUT_VALUE, "loss")[0] == 5.0);
    assert_true(gc_interp_output(it, GC_OUTPUT_GRAD, "w")[1] == -4.0);
    assert_null(gc_interp_output(it, GC_OUTPUT_VALUE, "w"));
    assert_null(gc_interp_output(it, GC_OUTPUT_GRAD, "loss"));

    /* The source keeps its value until the updates are applied. */
    assert_true(gc_interp_source(it, "w")[0] == 1.0);
    assert_true(gc_interp_apply_updates(it, &f->err));
    const double *wn = gc_interp_source(it, "w");
    assert_true(wn[0] == 0.5 && wn[1] == -1.0);
    assert_true(gc_interp_source(it, "step")[0] == 6.0);

    /* A second step reads the updated values, and rewrites every result. */
    assert_true(gc_interp_run(it, &f->err));
    assert_true(gc_interp_output(it, GC_OUTPUT_VALUE, "loss")[0] == 1.25);
    assert_true(gc_interp_apply_updates(it, &f->err));
    assert_true(gc_interp_source(it, "w")[0] == 0.25);
    assert_true(gc_interp_source(it, "step")[0] == 7.0);
    gc_interp_free(it);
}

/* All updates take effect at once: swapping two params must not read a half-applied state. */
static void test_updates_are_simultaneous(void **state) {
    fixture *f = *state;
    const int64_t dims[] = {1};
    gc_node *a = source(f, GC_OP_PARAM, "a", GC_F32, 1, dims);
    gc_node *b = source(f, GC_OP_PARAM, "b", GC_F32, 1, dims);
    assert_true(gc_graph_add_output(f->g, GC_OUTPUT_UPDATE, "a", b, &f->err));
    assert_true(gc_graph_add_output(f->g, GC_OUTPUT_UPDATE, "b", a, &f->err));
    gc_interp *it = gc_interp_new(f->g, GC_INTERP_F32, &f->err);
    assert_non_null(it);
    const double av = 1, bv = 2;
    assert_true(gc_interp_set_f64(it, "a", &av, 1, &f->err));
    assert_true(gc_interp_set_f64(it, "b", &bv, 1, &f->err));
    assert_true(gc_interp_run(it, &f->err));
    assert_true(gc_interp_apply_updates(it, &f->err));
    assert_true(gc_interp_source(it, "a")[0] == 2.0);
    assert_true(gc_interp_source(it, "b")[0] == 1.0);
    gc_interp_free(it);
}

/* Values C leaves undefined for a naive kernel (run under UBSan in the sanitizer build). */
static void test_edge_values_stay_defined(void **state) {
    fixture *f = *state;
    const int64_t four[] = {4}, two[] = {2};
    gc_node *x = source(f, GC_OP_INPUT, "x", GC_F32, 1, four);
    gc_node *k = source(f, GC_OP_INPUT, "k", GC_I32, 1, two);
    gc_node *ci = gc_cast(&f->b, x, GC_I32);
    gc_node *q = gc_binary(&f->b, GC_OP_DIV, k, gc_scalar(&f->b, GC_I32, -1.0));
    gc_node *z = gc_binary(&f->b, GC_OP_DIV, k, gc_scalar(&f->b, GC_I32, 0.0));
    gc_node *n = gc_unary(&f->b, GC_OP_NEG, k);
    gc_node *ab = gc_unary(&f->b, GC_OP_ABS, k);
    gc_node *sq = gc_unary(&f->b, GC_OP_SQUARE, k);
    gc_node *big = gc_mul_scalar(&f->b, gc_cast(&f->b, gc_cast(&f->b, x, GC_F64), GC_F32), 1e30);
    assert_non_null(big);
    assert_non_null(sq);
    assert_non_null(ab);
    assert_non_null(n);
    assert_non_null(z);
    assert_non_null(q);
    gc_interp *it = gc_interp_new(f->g, GC_INTERP_F32, &f->err);
    assert_non_null(it);
    const double xv[4] = {NAN, INFINITY, 1e20, -1e20}, kv[2] = {-2147483648.0, 2147483647.0};
    assert_true(gc_interp_set_f64(it, "x", xv, 4, &f->err));
    assert_true(gc_interp_set_f64(it, "k", kv, 2, &f->err));
    assert_true(gc_interp_run(it, &f->err));
    const double *c = gc_interp_value(it, ci);
    assert_true(c[0] == 0 && c[1] == 2147483647.0 && c[2] == 2147483647.0 && c[3] == -2147483648.0);
    assert_true(gc_interp_value(it, q)[0] == -2147483648.0); /* wraps, as two's complement */
    assert_true(gc_interp_value(it, q)[1] == -2147483647.0);
    assert_true(gc_interp_value(it, z)[0] == 0 && gc_interp_value(it, z)[1] == 0);
    assert_true(gc_interp_value(it, n)[0] == -2147483648.0);
    assert_true(gc_interp_value(it, ab)[0] == -2147483648.0);
    assert_true(gc_interp_value(it, sq)[1] == 1.0); /* (2^31 - 1)^2 mod 2^32 */
    const double *bg = gc_interp_value(it, big);
    assert_true(isinf(bg[1]) && isinf(bg[2]) && bg[2] > 0 && bg[3] < 0);
    gc_interp_free(it);
}

/* The interpreter sizes its storage when made; a graph that grows afterwards is refused. */
static void test_graph_grown_after_creation(void **state) {
    fixture *f = *state;
    const int64_t dims[] = {1};
    gc_node *x = source(f, GC_OP_INPUT, "x", GC_F32, 1, dims);
    gc_interp *it = gc_interp_new(f->g, GC_INTERP_F32, &f->err);
    assert_non_null(it);
    const double v = 1;
    assert_true(gc_interp_set_f64(it, "x", &v, 1, &f->err));
    gc_node *y = gc_unary(&f->b, GC_OP_EXP, x);
    assert_non_null(y);
    assert_false(gc_interp_run(it, &f->err));
    assert_int_equal(f->err.code, GC_ERR_INTERNAL);
    assert_null(gc_interp_value(it, y));
    gc_interp_free(it);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unknown_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unset_source, setup, teardown),
        cmocka_unit_test_setup_teardown(test_null_safety, setup, teardown),
        cmocka_unit_test_setup_teardown(test_precision, setup, teardown),
        cmocka_unit_test_setup_teardown(test_typed_host_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outputs_and_updates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_updates_are_simultaneous, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edge_values_stay_defined, setup, teardown),
        cmocka_unit_test_setup_teardown(test_graph_grown_after_creation, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
