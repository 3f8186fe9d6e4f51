/*
 * test_conv_layers.c: conv1d, conv2d and conv_transpose2d against torch.nn.Conv1d, Conv2d and
 * ConvTranspose2d (tests/oracle/gen_conv_layers.py): each case builds the layer, loads torch's
 * weights and input, and compares the output and the gradients of sum(y * w) for every parameter
 * and the input at float32 tolerance, on the interpreter and on the JIT. Also: torch's default
 * initialisation bounds, and the JIT's results bit for bit the same on 1, 2 and 3 threads.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "frontend/check.h"
#include "frontend/layers.h"
#include "frontend/lower.h"
#include "frontend/parser.h"
#include "passes/autodiff.h"
#include "runtime/interp.h"
#include "runtime/jit.h"
#include "runtime/npy.h"
#include "runtime/parallel.h"

typedef struct conv_case {
    const char *name;
    gc_conv_args args;
} conv_case;

/* Keep in step with tests/oracle/gen_conv_layers.py. */
static const conv_case cases[] = {
    {"conv2d_basic", {2, false, 4, 1, {3, 3}, {1, 1}, {0, 0}, {1, 1}, {0, 0}, false, true}},
    {"conv2d_lists", {2, false, 6, 1, {3, 2}, {2, 1}, {1, 2}, {1, 2}, {0, 0}, false, true}},
    {"conv2d_same_even_kernel", {2, false, 4, 1, {4, 4}, {1, 1}, {0, 0}, {1, 1}, {0, 0}, true, true}},
    {"conv2d_same_dilated", {2, false, 4, 1, {3, 2}, {1, 1}, {0, 0}, {2, 3}, {0, 0}, true, true}},
    {"conv2d_valid_groups", {2, false, 6, 2, {3, 3}, {1, 1}, {0, 0}, {1, 1}, {0, 0}, false, true}},
    {"conv2d_depthwise_nobias", {2, false, 8, 4, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {0, 0}, false, false}},
    {"conv2d_unbatched", {2, false, 4, 1, {3, 3}, {2, 2}, {0, 0}, {1, 1}, {0, 0}, false, true}},
    {"conv1d_stride_pad", {1, false, 5, 1, {3}, {2}, {1}, {1}, {0}, false, true}},
    {"conv1d_same_dilated", {1, false, 4, 1, {4}, {1}, {0}, {2}, {0}, true, true}},
    {"conv_transpose2d", {2, true, 3, 1, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, false, true}},
    {"conv_transpose2d_groups_dilated", {2, true, 6, 2, {3, 2}, {1, 2}, {0, 1}, {2, 1}, {0, 0}, false, false}},
};

static const char *case_dir(const char *name) {
    static char path[1024];
    const char *root = getenv("GC_EXPECTED_DIR");
    snprintf(path, sizeof path, "%s/layers/%s", root ? root : "tests/expected", name);
    return path;
}

static gc_tensor load(const char *dir, const char *prefix, const char *name) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.%s.npy", dir, prefix, name);
    gc_tensor t;
    gc_error err = {0};
    if (!gc_npy_read(path, GC_F32, &t, &err)) fail_msg("%s", err.message);
    return t;
}

static void compare(const char *what, const char *backend, const float *got, const gc_tensor *want, int64_t n) {
    const float *w = want->data;
    for (int64_t i = 0; i < n; i++) {
        double tol = 2e-5 + 2e-4 * fabs(w[i]);
        if (!(fabs((double)got[i] - w[i]) <= tol))
            fail_msg("%s (%s)[%lld]: gradc %.8g, torch %.8g", what, backend, (long long)i, (double)got[i], (double)w[i]);
    }
}

/* The layer of case k on torch's x, with loss = sum(y * w) differentiated. */
static gc_graph *build(const conv_case *k, gc_node **y_out) {
    const char *dir = case_dir(k->name);
    gc_error err = {0};
    gc_graph *g = gc_graph_new(k->name);
    gc_layer_context c;
    gc_layer_context_init(&c, g, &err, true, 1);
    c.b.loc = (gc_loc){"layers.gm", 1, 1};
    char path[1200];
    snprintf(path, sizeof path, "%s/src.x.npy", dir);
    gc_npy_info info;
    if (!gc_npy_read_info(path, &info, &err)) fail_msg("%s", err.message);
    gc_type tx = gc_type_make(GC_F32, info.rank, info.shape);
    gc_node *x = gc_graph_make(g, GC_OP_PARAM, NULL, 0, NULL, &tx, "x", c.b.loc, &err);
    gc_node *y = gc_layer_conv(&c, "", x, &k->args);
    if (!y) fail_msg("%s: %s", k->name, err.message);
    gc_node *w = gc_graph_make(g, GC_OP_INPUT, NULL, 0, NULL, &y->type, "w", c.b.loc, &err);
    gc_node *loss = gc_reduce(&c.b, GC_OP_SUM, gc_binary(&c.b, GC_OP_MUL, y, w), (1u << y->type.rank) - 1, false);
    assert_non_null(loss);
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "y", y, &err));
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "loss", loss, &err));
    if (!gc_autodiff(g, &err)) fail_msg("%s: autodiff: %s", k->name, err.message);
    *y_out = y;
    return g;
}

static void check_case(const conv_case *k) {
    const char *dir = case_dir(k->name);
    gc_error err = {0};
    gc_node *y;
    gc_graph *g = build(k, &y);
    gc_interp *it = gc_interp_new(g, GC_INTERP_F32, &err);
    gc_jit *j = gc_jit_new(g, &err);
    if (!it || !j) fail_msg("%s: %s", k->name, err.message);
    int params = 0;
    for (int i = 0; i < g->num_nodes; i++) {
        gc_node *n = g->nodes[i];
        if (n->op != GC_OP_PARAM && n->op != GC_OP_INPUT) continue;
        gc_tensor t = load(dir, "src", n->name);
        if (!gc_interp_set(it, n->name, &t, &err) || !gc_jit_set(j, n->name, &t, &err))
            fail_msg("%s: %s", k->name, err.message);
        free(t.data);
        params += n->op == GC_OP_PARAM;
    }
    if (!gc_interp_run(it, &err) || !gc_jit_run(j, &err)) fail_msg("%s: %s", k->name, err.message);
    int64_t count = gc_type_numel(&y->type);
    gc_tensor want;
    char path[1200];
    snprintf(path, sizeof path, "%s/y.npy", dir);
    if (!gc_npy_read(path, GC_F32, &want, &err)) fail_msg("%s", err.message);
    float *tmp = malloc(sizeof(float) * (size_t)count);
    const double *iy = gc_interp_output(it, GC_OUTPUT_VALUE, "y");
    for (int64_t i = 0; i < count; i++) tmp[i] = (float)iy[i];
    compare(k->name, "interpreter", tmp, &want, count);
    compare(k->name, "jit", gc_jit_output(j, GC_OUTPUT_VALUE, "y"), &want, count);
    free(tmp);
    free(want.data);
    int grads = 0;
    for (int i = 0; i < g->num_outputs; i++) {
        if (g->outputs[i].kind != GC_OUTPUT_GRAD) continue;
        gc_tensor gw = load(dir, "grad", g->outputs[i].name);
        int64_t n = gc_type_numel(&g->outputs[i].value->type);
        const double *ig = gc_interp_output(it, GC_OUTPUT_GRAD, g->outputs[i].name);
        float *f = malloc(sizeof(float) * (size_t)n);
        for (int64_t e = 0; e < n; e++) f[e] = (float)ig[e];
        char what[256];
        snprintf(what, sizeof what, "%s: grad %s", k->name, g->outputs[i].name);
        compare(what, "interpreter", f, &gw, n);
        compare(what, "jit", gc_jit_output(j, GC_OUTPUT_GRAD, g->outputs[i].name), &gw, n);
        free(f);
        free(gw.data);
        grads++;
    }
    assert_int_equal(grads, params); /* x, the weight and the bias all reach the loss */
    gc_jit_free(j);
    gc_interp_free(it);
    gc_graph_free(g);
}

static void test_against_torch(void **s) {
    (void)s;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) check_case(&cases[k]);
}

/* kaiming_uniform(a=sqrt(5)): U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = weight dim 1 x kernel. */
static void test_default_init(void **s) {
    (void)s;
    gc_error err = {0};
    gc_graph *g = gc_graph_new("init");
    gc_layer_context c;
    gc_layer_context_init(&c, g, &err, true, 1);
    int64_t dx[4] = {2, 6, 9, 9};
    gc_type tx = gc_type_make(GC_F32, 4, dx);
    gc_node *x = gc_graph_make(g, GC_OP_INPUT, NULL, 0, NULL, &tx, "x", c.b.loc, &err);
    gc_conv_args conv = {2, false, 8, 2, {3, 2}, {1, 1}, {0, 0}, {1, 1}, {0, 0}, false, true};
    gc_conv_args up = {2, true, 4, 2, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {0, 0}, false, true};
    assert_non_null(gc_layer_conv(&c, "conv", x, &conv));
    assert_non_null(gc_layer_conv(&c, "up", x, &up));
    struct { const char *name; double bound; } want[] = {
        {"conv.weight", 1 / sqrt(3.0 * 3 * 2)}, {"conv.bias", 1 / sqrt(3.0 * 3 * 2)},
        {"up.weight", 1 / sqrt(2.0 * 3 * 3)},   {"up.bias", 1 / sqrt(2.0 * 3 * 3)},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const gc_param_entry *e = gc_layer_find_param(&c, want[i].name);
        assert_non_null(e);
        assert_int_equal(e->init.kind, GC_INIT_UNIFORM);
        assert_true(fabs(e->init.a + want[i].bound) < 1e-12 && fabs(e->init.b - want[i].bound) < 1e-12);
    }
    gc_type wt = gc_layer_find_param(&c, "up.weight")->node->type;
    assert_int_equal(wt.dims[0], 6); /* [C_in, out/groups, kh, kw] */
    assert_int_equal(wt.dims[1], 2);
    gc_graph_free(g);
}

/* The step of a small CNN (the GEMM paths, a depthwise conv, a transposed conv) on the pool: the
 * same bits on 1, 2 and 3 threads and with the shares fixed unevenly. */
static void test_threads_bit_identical(void **s) {
    (void)s;
    gc_error err = {0};
    gc_graph *g = gc_graph_new("cnn");
    gc_layer_context c;
    gc_layer_context_init(&c, g, &err, true, 1);
    int64_t dx[4] = {6, 16, 12, 12};
    gc_type tx = gc_type_make(GC_F32, 4, dx);
    gc_node *x = gc_graph_make(g, GC_OP_PARAM, NULL, 0, NULL, &tx, "x", c.b.loc, &err);
    gc_conv_args a1 = {2, false, 32, 1, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {0, 0}, false, true};
    gc_conv_args a2 = {2, false, 32, 32, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {0, 0}, false, true};
    gc_conv_args a3 = {2, true, 16, 1, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, false, true};
    gc_conv_args a4 = {2, false, 32, 1, {1, 1}, {1, 1}, {0, 0}, {1, 1}, {0, 0}, false, false};
    gc_node *h = gc_unary(&c.b, GC_OP_RELU, gc_layer_conv(&c, "c1", x, &a1));
    h = gc_layer_conv(&c, "c4", h, &a4);
    h = gc_unary(&c.b, GC_OP_TANH, gc_layer_conv(&c, "c2", h, &a2));
    h = gc_layer_conv(&c, "c3", h, &a3);
    gc_node *loss = gc_reduce(&c.b, GC_OP_SUM, gc_unary(&c.b, GC_OP_SQUARE, h), 0xf, false);
    assert_non_null(loss);
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "loss", loss, &err));
    assert_true(gc_autodiff(g, &err));
    float *first[16] = {0};
    static const double shares[][3] = {{1, 0, 0}, {1, 1, 0}, {1, 1, 1}, {1, 3, 0}, {5, 1, 2}};
    static const int counts[] = {1, 2, 3, 2, 3};
    for (int run = 0; run < 5; run++) {
        gc_pool_fix_shares(shares[run], counts[run]);
        gc_jit_options o = {.threads = counts[run], .fuse = true};
        gc_jit *j = gc_jit_new_opts(g, &o, &err);
        gc_pool_fix_shares(NULL, 0);
        if (!j) fail_msg("%s", err.message);
        uint64_t seed = 7;
        for (int i = 0; i < g->num_nodes; i++) {
            gc_node *n = g->nodes[i];
            if (n->op != GC_OP_PARAM) continue;
            float *v = gc_jit_source(j, n->name);
            for (int64_t e = 0; e < gc_type_numel(&n->type); e++) {
                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                v[e] = (float)((double)(seed >> 11) / 9007199254740992.0 - 0.5);
            }
        }
        if (!gc_jit_run(j, &err)) fail_msg("%s", err.message);
        int k = 0;
        for (int i = 0; i < g->num_outputs; i++) {
            const gc_graph_output *out = &g->outputs[i];
            int64_t n = gc_type_numel(&out->value->type);
            const float *v = gc_jit_output(j, out->kind, out->name);
            assert_non_null(v);
            if (run == 0) {
                first[k] = malloc(sizeof(float) * (size_t)n);
                memcpy(first[k], v, sizeof(float) * (size_t)n);
            } else if (memcmp(first[k], v, sizeof(float) * (size_t)n) != 0) {
                fail_msg("run %d (%d threads): %s '%s' differs from one thread's", run, counts[run],
                         gc_output_kind_name(out->kind), out->name);
            }
            k++;
        }
        gc_jit_free(j);
    }
    for (int k = 0; k < 16; k++) free(first[k]);
    gc_graph_free(g);
}

/* A model that must fail at line:col with a message holding `want`. */
static void expect_error(const char *src, int line, int col, const char *want) {
    gc_error err = {0};
    gc_lowered_model lm;
    memset(&lm, 0, sizeof lm);
    gc_arena *arena = gc_arena_new();
    gc_ast_module *m = gc_frontend_parse(src, strlen(src), "model.gm", arena, &err);
    int ok = m && gc_frontend_check(m, NULL, 0, &err) && gc_lower_model(m, true, &lm, &err);
    gc_arena_free(arena);
    if (ok) {
        gc_lowered_model_free(&lm);
        fail_msg("expected an error at %d:%d for\n%s", line, col, src);
    }
    if (err.line != line || err.col != col || !strstr(err.message, want))
        fail_msg("got %d:%d '%s', want %d:%d '%s'", err.line, err.col, err.message, line, col, want);
}

/* Errors name the call's place and the sizes involved. */
static void test_errors_located(void **s) {
    (void)s;
    expect_error("input x: f32[2, 3]\ny = conv2d(x, 4, 3)\nloss = mean(y)\n", 2, 5,
                 "conv2d: x must be an f32 tensor [N, C, H, W] (or [C, H, W] without the batch dim), got f32[2, 3]");
    expect_error("input x: f32[2, 6, 8, 8]\ny = conv2d(x, 4, 3, groups=4)\nloss = mean(y)\n", 2, 5,
                 "conv2d: in_channels (6, dim 1 of x f32[2, 6, 8, 8]) must be divisible by groups (4)");
    expect_error("input x: f32[2, 4, 8, 8]\ny = conv2d(x, 6, 3, groups=4)\nloss = mean(y)\n", 2, 5,
                 "conv2d: out_channels (6) must be divisible by groups (4)");
    expect_error("input x: f32[2, 3, 8, 8]\ny = conv2d(x, 4, 3, stride=2, padding=\"same\")\nloss = mean(y)\n", 2, 5,
                 "conv2d: padding=\"same\" needs stride 1");
    expect_error("input x: f32[2, 3, 4, 8]\ny = conv2d(x, 4, [5, 3])\nloss = mean(y)\n", 2, 5,
                 "conv2d: the output size [0, 6] would be less than 1: the input [4, 8] with padding [0, 0] is smaller "
                 "than the kernel [5, 3]");
    expect_error("input x: f32[2, 3, 8]\ny = conv1d(x, 4, [3, 3])\nloss = mean(y)\n", 2, 18,
                 "conv1d: kernel must be an integer or a list of 1 integer (one per spatial dim), got 2");
    expect_error("input x: f32[2, 3, 8]\ny = conv1d(x, 4, 3, stride=0)\nloss = mean(y)\n", 2, 28,
                 "conv1d: stride must be at least 1, got 0");
    expect_error("input x: f32[2, 3, 8]\ny = conv1d(x, 4, 3, padding=\"full\")\nloss = mean(y)\n", 2, 29,
                 "\"same\" or \"valid\"");
    expect_error("input x: f32[2, 4, 5, 5]\ny = conv_transpose2d(x, 2, 3, stride=2, output_padding=2)\nloss = mean(y)\n",
                 2, 5, "conv_transpose2d: output_padding (2) must be smaller than either stride (2) or dilation (1)");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_torch),
        cmocka_unit_test(test_default_init),
        cmocka_unit_test(test_threads_bit_identical),
        cmocka_unit_test(test_errors_located),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
