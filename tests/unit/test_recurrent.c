/*
 * test_recurrent.c: rnn, lstm and gru against nn.RNN, nn.LSTM and nn.GRU (tests/oracle/
 * gen_recurrent.py) on both backends: each case builds the layer with torch's weights, input and
 * initial states, and compares the output sequence, the final states and the gradient of
 * sum(out * w_out) + sum(h_n * w_h) (+ sum(c_n * w_c)) for every parameter, x, h0 and c0, from the
 * f32 interpreter and from the JIT on two threads (whose recurrence splits by batch rows).
 * Also: the loop does not grow the graph with the sequence length, and misuse is refused at the call.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "frontend/layers.h"
#include "ir/recurrence.h"
#include "passes/autodiff.h"
#include "runtime/gemm.h"
#include "runtime/interp.h"
#include "runtime/jit.h"
#include "runtime/npy.h"
#include "runtime/parallel.h"

typedef struct rcase {
    const char *name;
    int cell;
    int64_t hidden, layers;
    bool bias, bidirectional, h0, c0;
} rcase;

static const rcase cases[] = {
    {"rnn_tanh", GC_CELL_RNN_TANH, 4, 1, true, false, false, false},
    {"rnn_relu_2layers_h0", GC_CELL_RNN_RELU, 4, 2, true, false, true, false},
    {"rnn_bi_nobias", GC_CELL_RNN_TANH, 3, 1, false, true, false, false},
    {"lstm", GC_CELL_LSTM, 4, 1, true, false, false, false},
    {"lstm_2layers_bi_h0_c0", GC_CELL_LSTM, 4, 2, true, true, true, true},
    {"lstm_nobias_h0", GC_CELL_LSTM, 6, 1, false, false, true, false},
    {"gru", GC_CELL_GRU, 4, 1, true, false, false, false},
    {"gru_bi_h0", GC_CELL_GRU, 4, 1, true, true, true, false},
    {"gru_3layers_nobias", GC_CELL_GRU, 3, 3, false, false, false, false},
};

static const char *case_file(const char *name, const char *file) {
    static char path[1024];
    const char *root = getenv("GC_EXPECTED_DIR");
    snprintf(path, sizeof path, "%s/recurrent/%s/%s.npy", root ? root : "tests/expected", name, file);
    return path;
}

static gc_tensor load(const char *name, const char *file) {
    gc_tensor t;
    gc_error err = {0};
    if (!gc_npy_read(case_file(name, file), GC_F32, &t, &err)) fail_msg("%s", err.message);
    return t;
}

static gc_node *source(gc_layer_context *c, gc_op op, const char *cname, const char *name) {
    char file[64];
    snprintf(file, sizeof file, "src.%s", name);
    gc_npy_info info;
    gc_error err = {0};
    if (!gc_npy_read_info(case_file(cname, file), &info, &err)) fail_msg("%s", err.message);
    gc_type t = gc_type_make(GC_F32, info.rank, info.shape);
    return gc_graph_make(c->b.graph, op, NULL, 0, NULL, &t, name, c->b.loc, c->b.err);
}

static gc_node *weighted(gc_builder *b, gc_node *y, gc_node *w) {
    return gc_reduce(b, GC_OP_SUM, gc_binary(b, GC_OP_MUL, y, w), (1u << y->type.rank) - 1, false);
}

/* The case's graph: the layer, its three outputs and the objective, differentiated. */
static gc_graph *build(const rcase *rc) {
    gc_error err = {0};
    gc_graph *g = gc_graph_new(rc->name);
    gc_layer_context c;
    gc_layer_context_init(&c, g, &err, true, 1);
    c.b.loc = (gc_loc){"recurrent.gm", 1, 1};
    gc_recurrent_args a = {rc->cell, rc->hidden, rc->layers, rc->bias, rc->bidirectional, NULL, NULL};
    gc_node *x = source(&c, GC_OP_PARAM, rc->name, "x");
    if (rc->h0) a.h0 = source(&c, GC_OP_PARAM, rc->name, "h0");
    if (rc->c0) a.c0 = source(&c, GC_OP_PARAM, rc->name, "c0");
    gc_node *h_n = NULL, *c_n = NULL;
    gc_node *out = gc_layer_recurrent(&c, "", x, &a, &h_n, &c_n);
    if (!out) fail_msg("%s: %s", rc->name, err.message);
    gc_node *loss = gc_binary(&c.b, GC_OP_ADD, weighted(&c.b, out, source(&c, GC_OP_INPUT, rc->name, "w_out")),
                              weighted(&c.b, h_n, source(&c, GC_OP_INPUT, rc->name, "w_h")));
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "out", out, &err));
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "h_n", h_n, &err));
    if (rc->cell == GC_CELL_LSTM) {
        loss = gc_binary(&c.b, GC_OP_ADD, loss, weighted(&c.b, c_n, source(&c, GC_OP_INPUT, rc->name, "w_c")));
        assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "c_n", c_n, &err));
    }
    assert_non_null(loss);
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "loss", loss, &err));
    if (!gc_autodiff(g, &err)) fail_msg("%s: autodiff: %s", rc->name, err.message);
    return g;
}

/* Within 1e-4 relative (plus 2e-5 absolute for values near 0) of torch. */
static void compare(const char *what, const char *backend, const void *got, bool f64, const gc_tensor *want) {
    const float *w = want->data;
    int64_t n = 1;
    for (int d = 0; d < want->rank; d++) n *= want->shape[d];
    for (int64_t i = 0; i < n; i++) {
        double v = f64 ? ((const double *)got)[i] : ((const float *)got)[i];
        if (!(fabs(v - w[i]) <= 2e-5 + 1e-4 * fabs(w[i])))
            fail_msg("%s (%s)[%lld]: gradc %.8g, torch %.8g", what, backend, (long long)i, v, (double)w[i]);
    }
}

static void check_outputs(const rcase *rc, const gc_graph *g, const char *backend, const void *interp, const void *jit) {
    int grads = 0;
    for (int i = 0; i < g->num_outputs; i++) {
        const gc_graph_output *o = &g->outputs[i];
        if (o->kind == GC_OUTPUT_VALUE && !strcmp(o->name, "loss")) continue;
        char file[64], what[160];
        snprintf(file, sizeof file, "%s%s", o->kind == GC_OUTPUT_GRAD ? "grad." : "", o->name);
        snprintf(what, sizeof what, "%s: %s", rc->name, file);
        gc_tensor want = load(rc->name, file);
        const void *got = interp ? gc_interp_output(interp, o->kind, o->name) : gc_jit_output(jit, o->kind, o->name);
        assert_non_null(got);
        compare(what, backend, got, interp != NULL, &want);
        free(want.data);
        grads += o->kind == GC_OUTPUT_GRAD;
    }
    /* every parameter, x and the given initial states */
    int sources = 0;
    for (int i = 0; i < g->num_nodes; i++) sources += g->nodes[i]->op == GC_OP_PARAM;
    assert_int_equal(grads, sources);
}

static void set_sources(const rcase *rc, const gc_graph *g, gc_interp *it, gc_jit *j) {
    gc_error err = {0};
    for (int i = 0; i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        if (n->op != GC_OP_PARAM && n->op != GC_OP_INPUT) continue;
        char file[64];
        snprintf(file, sizeof file, "src.%s", n->name);
        gc_tensor t = load(rc->name, file);
        if (!(it ? gc_interp_set(it, n->name, &t, &err) : gc_jit_set(j, n->name, &t, &err)))
            fail_msg("%s: %s", rc->name, err.message);
        free(t.data);
    }
}

static void test_against_torch(void **state) {
    (void)state;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const rcase *rc = &cases[k];
        gc_graph *g = build(rc);
        gc_error err = {0};
        gc_interp *it = gc_interp_new(g, GC_INTERP_F32, &err);
        assert_non_null(it);
        set_sources(rc, g, it, NULL);
        if (!gc_interp_run(it, &err)) fail_msg("%s: %s", rc->name, err.message);
        check_outputs(rc, g, "interpreter", it, NULL);
        gc_interp_free(it);

        gc_jit_options opts = {.fuse = true, .threads = 2, .views = true};
        gc_jit *j = gc_jit_new_opts(g, &opts, &err);
        if (!j) fail_msg("%s: %s", rc->name, err.message);
        set_sources(rc, g, NULL, j);
        if (!gc_jit_run(j, &err)) fail_msg("%s: %s", rc->name, err.message);
        check_outputs(rc, g, "jit", NULL, j);
        gc_jit_free(j);
        gc_graph_free(g);
    }
}

/* The graph of an lstm is the same size for 4 steps and for 4096: one recurrence op per layer and
 * direction, however long the sequence. */
static int nodes_for(int64_t steps) {
    gc_error err = {0};
    gc_graph *g = gc_graph_new("len");
    gc_layer_context c;
    gc_layer_context_init(&c, g, &err, true, 1);
    int64_t d[3] = {2, steps, 3};
    gc_type t = gc_type_make(GC_F32, 3, d);
    gc_node *x = gc_graph_make(g, GC_OP_INPUT, NULL, 0, NULL, &t, "x", c.b.loc, &err);
    gc_recurrent_args a = {GC_CELL_LSTM, 5, 2, true, true, NULL, NULL};
    gc_node *h_n, *c_n, *out = gc_layer_recurrent(&c, "enc", x, &a, &h_n, &c_n);
    assert_non_null(out);
    gc_node *loss = gc_binary(&c.b, GC_OP_ADD, gc_reduce(&c.b, GC_OP_SUM, out, 0x7, false),
                              gc_reduce(&c.b, GC_OP_SUM, c_n, 0x7, false));
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "loss", loss, &err));
    assert_true(gc_autodiff(g, &err));
    int n = g->num_nodes;
    gc_graph_free(g);
    return n;
}

static void test_graph_independent_of_length(void **state) {
    (void)state;
    assert_int_equal(nodes_for(4), nodes_for(4096));
}

static void test_errors_at_the_call(void **state) {
    (void)state;
    gc_error err = {0};
    gc_graph *g = gc_graph_new("bad");
    gc_layer_context c;
    gc_layer_context_init(&c, g, &err, true, 1);
    c.b.loc = (gc_loc){"bad.gm", 7, 9};
    int64_t d3[3] = {2, 5, 3}, d2[2] = {5, 3}, s3[3] = {1, 2, 4};
    gc_type t3 = gc_type_make(GC_F32, 3, d3), t2 = gc_type_make(GC_F32, 2, d2), ts = gc_type_make(GC_F32, 3, s3);
    gc_node *x = gc_graph_make(g, GC_OP_INPUT, NULL, 0, NULL, &t3, "x", c.b.loc, &err);
    gc_node *flat = gc_graph_make(g, GC_OP_INPUT, NULL, 0, NULL, &t2, "flat", c.b.loc, &err);
    gc_node *h0 = gc_graph_make(g, GC_OP_INPUT, NULL, 0, NULL, &ts, "h0", c.b.loc, &err);
    gc_recurrent_args a = {GC_CELL_GRU, 4, 1, true, true, h0, NULL};
    assert_null(gc_layer_recurrent(&c, "g", x, &a, NULL, NULL));
    assert_string_equal(err.message, "gru: h0 must be f32[2, 2, 4], got f32[1, 2, 4]");
    assert_int_equal(err.line, 7);
    assert_int_equal(err.col, 9);
    gc_error_clear(&err);
    a.h0 = NULL;
    assert_null(gc_layer_recurrent(&c, "g", flat, &a, NULL, NULL));
    assert_string_equal(err.message, "gru: needs x as f32 [batch, time, features] (batch_first), got f32[5, 3]");
    gc_graph_free(g);
}

/* Batch rows cut anywhere give the same bits: one thread, two with even shares, two cut 30/70. */
static void test_any_cut_same_bits(void **state) {
    (void)state;
    gc_error err = {0};
    gc_graph *g = gc_graph_new("cut");
    gc_layer_context c;
    gc_layer_context_init(&c, g, &err, true, 1);
    int64_t d[3] = {7, 9, 5};
    gc_type t = gc_type_make(GC_F32, 3, d);
    gc_node *x = gc_graph_make(g, GC_OP_PARAM, NULL, 0, NULL, &t, "x", c.b.loc, &err);
    gc_node *h_n = NULL, *outs[2];
    gc_recurrent_args a = {GC_CELL_LSTM, 24, 1, true, true, NULL, NULL};
    outs[0] = gc_layer_recurrent(&c, "l", x, &a, &h_n, NULL);
    a.cell = GC_CELL_GRU;
    outs[1] = gc_layer_recurrent(&c, "g", outs[0], &a, NULL, NULL);
    assert_non_null(outs[1]);
    gc_node *loss = gc_reduce(&c.b, GC_OP_SUM, gc_unary(&c.b, GC_OP_SQUARE, outs[1]), 0x7, false);
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "loss", loss, &err));
    assert_true(gc_autodiff(g, &err));
    int count = 0;
    for (int i = 0; i < g->num_outputs; i++) count += g->outputs[i].kind == GC_OUTPUT_GRAD;
    assert_int_equal(count, 17); /* x, and 4 weights per direction of each layer */
    float *first = NULL;
    int64_t total = 0;
    for (int i = 0; i < g->num_outputs; i++) total += gc_type_numel(&g->outputs[i].value->type);
    const double shares[3][2] = {{1, 0}, {1, 1}, {0.3, 0.7}};
    for (int run = 0; run < 3; run++) {
        gc_pool_fix_shares(shares[run], run == 0 ? 1 : 2);
        gc_jit_options opts = {.fuse = true, .threads = run == 0 ? 1 : 2, .views = true};
        gc_jit *j = gc_jit_new_opts(g, &opts, &err);
        assert_non_null(j);
        for (int i = 0; i < g->num_nodes; i++) {
            gc_node *n = g->nodes[i];
            if (n->op != GC_OP_PARAM) continue;
            float *v = gc_jit_source(j, n->name);
            for (int64_t e = 0; e < gc_type_numel(&n->type); e++) v[e] = (float)sin(0.37 * (double)(e + 11 * i)) * 0.5f;
        }
        assert_true(gc_jit_run(j, &err));
        float *all = malloc(sizeof *all * (size_t)total), *at = all;
        for (int i = 0; i < g->num_outputs; i++) {
            int64_t n = gc_type_numel(&g->outputs[i].value->type);
            memcpy(at, gc_jit_output(j, g->outputs[i].kind, g->outputs[i].name), sizeof *at * (size_t)n);
            at += n;
        }
        gc_jit_free(j);
        if (!first) {
            first = all;
        } else {
            assert_memory_equal(first, all, sizeof *all * (size_t)total);
            free(all);
        }
    }
    gc_pool_fix_shares(NULL, 0);
    free(first);
    gc_graph_free(g);
}

/* W_hh packed once per loop gives the same bits as gc_sgemm packing it every call, for B read
 * transposed or not, beta 0 and 1, and sizes past one KC (384) and one NC (2048) block. */
static void test_packed_b_same_bits(void **state) {
    (void)state;
    if (!gc_sgemm_packed_b_floats(32, 32)) skip(); /* gc_sgemm does not run gradc's kernel here */
    const int m = 13, n = 2100, k = 400;
    float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * n * k);
    float *c1 = malloc(sizeof(float) * m * n), *c2 = malloc(sizeof(float) * m * n);
    float *packed = NULL;
    assert_int_equal(posix_memalign((void **)&packed, 64, sizeof(float) * (size_t)gc_sgemm_packed_b_floats(n, k)), 0);
    for (int i = 0; i < m * k; i++) a[i] = (float)sin(0.1 * i);
    for (int i = 0; i < n * k; i++) b[i] = (float)cos(0.07 * i);
    for (int trans = 0; trans < 2; trans++) {
        assert_true(gc_sgemm_pack_b(trans ? 112 : 111, n, k, b, trans ? k : n, packed));
        for (int beta = 0; beta < 2; beta++) {
            for (int i = 0; i < m * n; i++) c1[i] = c2[i] = (float)i * 1e-3f;
            gc_sgemm(101, 111, trans ? 112 : 111, m, n, k, 1.0f, a, k, b, trans ? k : n, (float)beta, c1, n);
            assert_true(gc_sgemm_packed_b(m, n, k, a, k, packed, (float)beta, c2, n));
            assert_memory_equal(c1, c2, sizeof(float) * m * n);
        }
    }
    free(a), free(b), free(c1), free(c2), free(packed);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_torch),
        cmocka_unit_test(test_graph_independent_of_length),
        cmocka_unit_test(test_errors_at_the_call),
        cmocka_unit_test(test_any_cut_same_bits),
        cmocka_unit_test(test_packed_b_same_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
