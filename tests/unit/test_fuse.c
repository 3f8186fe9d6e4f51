/*
 * test_fuse.c: the fusion partition's rules (which nodes join which kernel and which stay
 * stored), fused code against the interpreter, and kernel sharing: equal kernels compile once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "codegen/codegen.h"
#include "gradc/gradc.h"
#include "ir/text.h"
#include "ir/build.h"
#include "passes/fuse.h"
#include "runtime/interp.h"
#include "runtime/jit.h"

static gc_type ty(gc_dtype dtype, int rank, int64_t d0, int64_t d1) {
    int64_t dims[2] = {d0, d1};
    return gc_type_make(dtype, rank, dims);
}

static gc_node *named(gc_builder *b, gc_op op, const char *name, gc_type t) {
    return gc_graph_make(b->graph, op, NULL, 0, NULL, &t, name, b->loc, b->err);
}

static gc_fusion partition(const gc_graph *g, bool enable) {
    gc_fusion f;
    gc_error err = {0};
    if (!gc_fuse_partition(g, enable, &f, &err)) fail_msg("gc_fuse_partition: %s", err.message);
    assert_int_equal(f.num_nodes, g->num_nodes);
    return f;
}

static void fill(gc_jit *j, gc_interp *it, const gc_graph *g) {
    gc_error err = {0};
    for (int i = 0; i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        if (!(gc_op_table[n->op].flags & GC_FLAG_NAMED)) continue;
        int64_t count = gc_type_numel(&n->type);
        float *data = malloc(sizeof *data * (size_t)count);
        assert_non_null(data);
        for (int64_t k = 0; k < count; k++) data[k] = (float)((k * 7 + i * 3) % 17 - 8) / 16.0f;
        gc_tensor v = {GC_F32, n->type.rank, {0}, data};
        for (int d = 0; d < n->type.rank; d++) v.shape[d] = n->type.dims[d];
        assert_true(gc_interp_set(it, n->name, &v, &err));
        assert_true(gc_jit_set(j, n->name, &v, &err));
        free(data);
    }
}

/* x -> exp -> mul(., x) -> tanh: one kernel rooted at tanh, computing exp and mul in registers. */
/* Every named value output of g as the JIT computed it, against the interpreter's, to
 * abs + rel * |want|. */
static void expect_outputs(gc_jit *j, gc_interp *it, const gc_graph *g, const char *const *names, int count,
                           double abs_tol, double rel_tol) {
    for (int o = 0; o < count; o++) {
        const gc_graph_output *go = gc_graph_find_output(g, GC_OUTPUT_VALUE, names[o]);
        const double *want = gc_interp_output(it, GC_OUTPUT_VALUE, names[o]);
        const float *got = gc_jit_output(j, GC_OUTPUT_VALUE, names[o]);
        assert_non_null(go);
        assert_non_null(want);
        assert_non_null(got);
        for (int64_t k = 0; k < gc_type_numel(&go->value->type); k++)
            if (!(fabs(want[k] - got[k]) <= abs_tol + rel_tol * fabs(want[k])))
                fail_msg("%s[%lld]: interpreter %.9g, JIT %.9g", names[o], (long long)k, want[k], got[k]);
    }
}

static void test_chain_is_one_kernel(void **state) {
    (void)state;
    gc_error err = {0};
    gc_graph *g = gc_graph_new("chain");
    gc_builder b = {g, {"chain.ir", 1, 1}, &err};
    gc_node *x = named(&b, GC_OP_INPUT, "x", ty(GC_F32, 2, 3, 4));
    gc_node *e = gc_unary(&b, GC_OP_EXP, x);
    gc_node *m = gc_binary(&b, GC_OP_MUL, e, x);
    gc_node *t = gc_unary(&b, GC_OP_TANH, m);
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "y", t, &err));
    gc_fusion f = partition(g, true);
    assert_int_equal(f.root[x->id], -1);
    assert_int_equal(f.root[e->id], t->id);
    assert_int_equal(f.root[m->id], t->id);
    assert_int_equal(f.root[t->id], t->id);
    assert_int_equal(f.num_kernels, 1);
    assert_int_equal(f.num_fused, 2);
    gc_fusion_free(&f);

    /* Disabled: every node its own kernel. */
    f = partition(g, false);
    assert_int_equal(f.root[e->id], e->id);
    assert_int_equal(f.root[m->id], m->id);
    assert_int_equal(f.num_kernels, 3);
    assert_int_equal(f.num_fused, 0);
    gc_fusion_free(&f);

    /* The text form names each node's kernel in comments and parses back to the same graph; the
     * dot form draws the kernel as a cluster. */
    f = partition(g, true);
    char *text = gc_fusion_print(g, &f);
    assert_non_null(text);
    char want[64];
    snprintf(want, sizeof want, "tanh(%%%d) : f32[3, 4] loc(\"chain.ir\":1:1)  # kernel %d (root)", m->id, t->id);
    if (!strstr(text, want)) fail_msg("no '%s' in:\n%s", want, text);
    snprintf(want, sizeof want, "  # kernel %d\n", t->id);
    assert_non_null(strstr(text, want));
    gc_graph *back = gc_graph_parse(text, strlen(text), "fused.ir", &err);
    if (!back) fail_msg("the fused text does not parse: %s", err.message);
    assert_int_equal(back->num_nodes, g->num_nodes);
    gc_graph_free(back);
    free(text);
    char *dot = gc_fusion_dot(g, &f);
    assert_non_null(dot);
    snprintf(want, sizeof want, "subgraph cluster_k%d {", t->id);
    assert_non_null(strstr(dot, want));
    free(dot);
    gc_fusion_free(&f);
    gc_graph_free(g);
}

/* What stays a root: a value of another shape than its user's loop, a value output, and anything
 * feeding a matmul (no rule for that class). A value read by a sum and a later loop is computed
 * in the sum's prologue, which stores it for the loop. A matmul read only by elementwise ops of
 * its shape becomes their kernel's GEMM prologue. */
static void test_what_is_materialised(void **state) {
    (void)state;
    gc_error err = {0};
    gc_graph *g = gc_graph_new("stored");
    gc_builder b = {g, {"stored.ir", 1, 1}, &err};
    gc_node *x = named(&b, GC_OP_INPUT, "x", ty(GC_F32, 2, 3, 4));
    gc_node *v = named(&b, GC_OP_INPUT, "v", ty(GC_F32, 1, 4, 0));
    gc_node *w = named(&b, GC_OP_PARAM, "w", ty(GC_F32, 2, 4, 4));
    gc_node *shared = gc_unary(&b, GC_OP_EXP, x);          /* read by two kernels: the sum's stores it */
    gc_node *a = gc_unary(&b, GC_OP_TANH, shared);
    gc_node *red = gc_reduce(&b, GC_OP_SUM, shared, 0x1, false);
    gc_node *small = gc_unary(&b, GC_OP_NEG, v);          /* [4] broadcast into [3, 4] */
    gc_node *bc = gc_binary(&b, GC_OP_ADD, a, small);
    gc_node *out = gc_unary(&b, GC_OP_SIGMOID, x);        /* a value output that a kernel also reads */
    gc_node *sq = gc_unary(&b, GC_OP_SQUARE, x);          /* feeds a matmul */
    gc_node *mm = gc_matmul(&b, sq, w, false, false);
    gc_node *last = gc_binary(&b, GC_OP_MUL, bc, out);
    gc_node *fin = gc_binary(&b, GC_OP_ADD, last, mm);
    assert_non_null(fin);
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "y", fin, &err));
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "s", out, &err));
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "r", red, &err));
    gc_fusion f = partition(g, true);
    assert_int_equal(f.root[shared->id], red->id);
    assert_true(gc_fusion_stored(g, f.root, shared->id));
    assert_int_equal(f.root[small->id], small->id);
    assert_int_equal(f.root[sq->id], sq->id);
    assert_int_equal(f.root[red->id], red->id);
    /* tanh, the broadcast add and the mul are computed in the final add's loop, which runs after
     * the matmul wrote the kernel's buffer. */
    assert_int_equal(f.root[a->id], fin->id);
    assert_int_equal(f.root[bc->id], fin->id);
    assert_int_equal(f.root[last->id], fin->id);
    assert_int_equal(f.root[mm->id], fin->id);
    /* A value output stays a root: the step proper stores it (passes/plan.c). */
    assert_int_equal(f.root[out->id], out->id);
    assert_false(gc_fusion_stored(g, f.root, last->id));
    assert_int_equal(f.num_fused, 5);
    gc_fusion_free(&f);

    /* Fused code agrees with the interpreter, the matmul and the loop included. */
    gc_jit_options opts = {.fuse = true};
    gc_jit *j = gc_jit_new_opts(g, &opts, &err);
    if (!j) fail_msg("gc_jit_new_opts: %s", err.message);
    gc_interp *it = gc_interp_new(g, GC_INTERP_F32, &err);
    assert_non_null(it);
    fill(j, it, g);
    assert_true(gc_interp_run(it, &err));
    assert_true(gc_jit_run(j, &err));
    const char *names[3] = {"y", "s", "r"};
    expect_outputs(j, it, g, names, 3, 1e-5, 1e-4);
    assert_null(gc_jit_value(j, mm));
    gc_interp_free(it);
    gc_jit_free(j);
    gc_graph_free(g);
}

/* Elementwise producers of a reduction are computed where it loads its operand: a column sum of
 * x * y + 0.5, a row max over a short row, a row mean over a long row (vector lanes), and a
 * column sum of y - v, v read once per column (shaped like the result). */
static void test_reduction_prologue(void **state) {
    (void)state;
    gc_error err = {0};
    gc_graph *g = gc_graph_new("prologue");
    gc_builder b = {g, {"prologue.ir", 1, 1}, &err};
    gc_node *x = named(&b, GC_OP_INPUT, "x", ty(GC_F32, 2, 24, 40));
    gc_node *y = named(&b, GC_OP_INPUT, "y", ty(GC_F32, 2, 24, 40));
    gc_node *v = named(&b, GC_OP_INPUT, "v", ty(GC_F32, 1, 40, 0));
    gc_node *z = named(&b, GC_OP_INPUT, "z", ty(GC_F32, 2, 24, 8));
    gc_node *xy = gc_binary(&b, GC_OP_MUL, x, y);
    gc_node *shifted = gc_add_scalar(&b, xy, 0.5);
    gc_node *cols = gc_reduce(&b, GC_OP_SUM, shifted, 0x1, false);
    gc_node *nz = gc_unary(&b, GC_OP_NEG, z);
    gc_node *rows = gc_reduce(&b, GC_OP_MAX, nz, 0x2, true);
    gc_node *sq = gc_unary(&b, GC_OP_SQUARE, x);
    gc_node *long_rows = gc_reduce(&b, GC_OP_MEAN, sq, 0x2, false);
    gc_node *bx = gc_binary(&b, GC_OP_SUB, y, v);
    gc_node *bcols = gc_reduce(&b, GC_OP_SUM, bx, 0x1, false);
    assert_non_null(bcols);
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "cols", cols, &err));
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "rows", rows, &err));
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "long_rows", long_rows, &err));
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "bcols", bcols, &err));
    gc_fusion f = partition(g, true);
    assert_int_equal(f.root[xy->id], cols->id);
    assert_int_equal(f.root[shifted->id], cols->id);
    assert_int_equal(f.root[nz->id], rows->id);
    /* The vector-lane path of a long row takes a prologue too, and a value shaped like the
     * reduction's result (v, one per kept column) is read at the result's element. */
    assert_int_equal(f.root[sq->id], long_rows->id);
    assert_int_equal(f.root[bx->id], bcols->id);
    gc_fusion_free(&f);

    gc_jit_options opts = {.fuse = true, .reuse = true};
    gc_jit *j = gc_jit_new_opts(g, &opts, &err);
    if (!j) fail_msg("gc_jit_new_opts: %s", err.message);
    gc_interp *it = gc_interp_new(g, GC_INTERP_F32, &err);
    assert_non_null(it);
    fill(j, it, g);
    assert_true(gc_interp_run(it, &err));
    assert_true(gc_jit_run(j, &err));
    const char *names[4] = {"cols", "rows", "long_rows", "bcols"};
    expect_outputs(j, it, g, names, 4, 1e-5, 1e-5);
    gc_interp_free(it);
    gc_jit_free(j);
    gc_graph_free(g);
}

/* Pooling takes a prologue too: an elementwise chain of the pooled shape is computed at each
 * window tap (padding taps included: they read element 0 and are discarded), split by planes;
 * a chain reading a value of another shape stays a kernel of its own. */
static void test_pool_prologue(void **state) {
    (void)state;
    gc_error err = {0};
    gc_graph *g = gc_graph_new("pool_prologue");
    gc_builder b = {g, {"pool.ir", 1, 1}, &err};
    int64_t dims[4] = {4, 8, 9, 11};
    gc_type t = gc_type_make(GC_F32, 4, dims);
    gc_node *x = named(&b, GC_OP_INPUT, "x", t);
    gc_node *y = named(&b, GC_OP_INPUT, "y", t);
    gc_node *v = named(&b, GC_OP_INPUT, "v", ty(GC_F32, 1, 11, 0));
    gc_attr a;
    memset(&a, 0, sizeof a);
    a.pool = (gc_attr_pool){.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}, .dilation = {1, 1}, .ceil_mode = true, .count_include_pad = true};
    gc_node *r = gc_unary(&b, GC_OP_RELU, gc_add_scalar(&b, gc_binary(&b, GC_OP_MUL, x, y), 0.5));
    gc_node *mp = gc_build(&b, GC_OP_MAX_POOL, &r, 1, &a, NULL);
    a.pool = (gc_attr_pool){.kernel = {2, 3}, .stride = {1, 2}, .padding = {1, 1}, .dilation = {1, 1}};
    gc_node *th = gc_unary(&b, GC_OP_TANH, x);
    gc_node *ap = gc_build(&b, GC_OP_AVG_POOL, &th, 1, &a, NULL);
    gc_node *shifted = gc_binary(&b, GC_OP_SUB, y, v);
    gc_node *bp = gc_build(&b, GC_OP_AVG_POOL, &shifted, 1, &a, NULL);
    assert_non_null(bp);
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "mp", mp, &err));
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "ap", ap, &err));
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "bp", bp, &err));
    gc_fusion f = partition(g, true);
    assert_int_equal(f.root[r->id], mp->id);
    assert_int_equal(f.root[r->inputs[0]->id], mp->id);
    assert_int_equal(f.root[th->id], ap->id);
    assert_int_equal(f.root[shifted->id], shifted->id);
    gc_fusion_free(&f);

    gc_jit_options opts = {.fuse = true, .reuse = true};
    gc_jit *j = gc_jit_new_opts(g, &opts, &err);
    if (!j) fail_msg("gc_jit_new_opts: %s", err.message);
    gc_interp *it = gc_interp_new(g, GC_INTERP_F32, &err);
    assert_non_null(it);
    fill(j, it, g);
    assert_true(gc_interp_run(it, &err));
    assert_true(gc_jit_run(j, &err));
    const char *names[3] = {"mp", "ap", "bp"};
    expect_outputs(j, it, g, names, 3, 1e-6, 1e-6);
    gc_interp_free(it);
    gc_jit_free(j);
    gc_graph_free(g);
}

/* A value the first loop reading it computes, and stores for a later kernel: tanh is computed in
 * neg's loop and stored there for the sum after it; the fused code agrees with the interpreter. */
static void test_stored_member(void **state) {
    (void)state;
    gc_error err = {0};
    gc_graph *g = gc_graph_new("stored_member");
    gc_builder b = {g, {"stored_member.ir", 1, 1}, &err};
    gc_node *x = named(&b, GC_OP_INPUT, "x", ty(GC_F32, 2, 64, 33));
    gc_node *t = gc_unary(&b, GC_OP_TANH, x);
    gc_node *n = gc_unary(&b, GC_OP_NEG, t);
    gc_node *r = gc_reduce(&b, GC_OP_SUM, t, 0x2, false);
    assert_non_null(r);
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "n", n, &err));
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "r", r, &err));
    gc_fusion f = partition(g, true);
    assert_int_equal(f.root[t->id], n->id);
    assert_true(gc_fusion_stored(g, f.root, t->id));
    assert_false(gc_fusion_stored(g, f.root, n->id));
    assert_int_equal(f.root[r->id], r->id);
    gc_fusion_free(&f);

    gc_jit_options opts = {.fuse = true, .reuse = true};
    gc_jit *j = gc_jit_new_opts(g, &opts, &err);
    if (!j) fail_msg("gc_jit_new_opts: %s", err.message);
    gc_interp *it = gc_interp_new(g, GC_INTERP_F32, &err);
    assert_non_null(it);
    fill(j, it, g);
    assert_true(gc_interp_run(it, &err));
    assert_true(gc_jit_run(j, &err));
    const char *names[2] = {"n", "r"};
    expect_outputs(j, it, g, names, 2, 1e-5, 1e-5);
    gc_jit_free(j);
    gc_interp_free(it);
    gc_graph_free(g);
}

/* Sibling reductions: sums and means over one operand space and the same axes are one kernel,
 * one pass over the operand (batch norm's statistics, and its gradient's sums of dy and
 * dy * x), which stores the earlier reductions and the elementwise members later kernels read.
 * Over a row of H * W = 32 (vector lanes) and of 15 (scalar accumulators), on the interpreter's
 * numbers; a reduction read before the later sibling runs stays a kernel of its own. */
static void sibling_case(int64_t h, int64_t w) {
    gc_error err = {0};
    gc_graph *g = gc_graph_new("siblings");
    gc_builder b = {g, {"siblings.ir", 1, 1}, &err};
    int64_t big[4] = {4, 3, h, w}, small[4] = {1, 3, 1, 1};
    gc_type tb = gc_type_make(GC_F32, 4, big), ts = gc_type_make(GC_F32, 4, small);
    uint32_t axes = 0xdu; /* 0, 2, 3 */
    gc_node *x = named(&b, GC_OP_INPUT, "x", tb);
    gc_node *dy = named(&b, GC_OP_INPUT, "dy", tb);
    gc_node *shift = named(&b, GC_OP_INPUT, "shift", ts);
    gc_node *d = gc_binary(&b, GC_OP_SUB, x, shift);
    gc_node *m1 = gc_reduce(&b, GC_OP_MEAN, d, axes, true);
    gc_node *m2 = gc_reduce(&b, GC_OP_MEAN, gc_unary(&b, GC_OP_SQUARE, d), axes, true);
    gc_node *y = gc_binary(&b, GC_OP_ADD, gc_binary(&b, GC_OP_MUL, d, m2), m1);
    gc_node *g_masked = gc_unary(&b, GC_OP_RELU, dy);
    gc_node *s1 = gc_reduce(&b, GC_OP_SUM, g_masked, axes, true);
    gc_node *s2 = gc_reduce(&b, GC_OP_SUM, gc_binary(&b, GC_OP_MUL, g_masked, d), axes, true);
    gc_node *dx = gc_binary(&b, GC_OP_ADD, gc_binary(&b, GC_OP_MUL, g_masked, s1), gc_binary(&b, GC_OP_MUL, d, s2));
    /* Read right after it is computed (a reported value, a kernel of its own), before the sum of
     * its square: not a sibling. */
    gc_node *early = gc_reduce(&b, GC_OP_SUM, x, axes, true);
    gc_node *early_use = gc_add_scalar(&b, early, 1.0);
    gc_node *late = gc_reduce(&b, GC_OP_SUM, gc_unary(&b, GC_OP_SQUARE, x), axes, true);
    gc_node *both = gc_binary(&b, GC_OP_ADD, early_use, late);
    assert_non_null(both);
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "y", y, &err));
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "dx", dx, &err));
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "both", both, &err));
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "early", early_use, &err));
    gc_fusion f = partition(g, true);
    assert_int_equal(f.root[m1->id], m2->id);
    assert_int_equal(f.root[d->id], m2->id);
    assert_true(gc_fusion_stored(g, f.root, m1->id));
    assert_true(gc_fusion_stored(g, f.root, d->id));
    assert_int_equal(f.root[s1->id], s2->id);
    assert_int_equal(f.root[g_masked->id], s2->id);
    assert_true(gc_fusion_stored(g, f.root, s1->id));
    assert_true(gc_fusion_stored(g, f.root, g_masked->id));
    assert_int_equal(f.root[early->id], early->id);
    assert_int_equal(f.root[late->id], late->id);
    gc_fusion_free(&f);

    gc_jit_options opts = {.fuse = true, .reuse = true};
    gc_jit *j = gc_jit_new_opts(g, &opts, &err);
    if (!j) fail_msg("gc_jit_new_opts: %s", err.message);
    gc_interp *it = gc_interp_new(g, GC_INTERP_F32, &err);
    assert_non_null(it);
    fill(j, it, g);
    assert_true(gc_interp_run(it, &err));
    assert_true(gc_jit_run(j, &err));
    const char *names[4] = {"y", "dx", "both", "early"};
    expect_outputs(j, it, g, names, 4, 1e-5, 1e-5);
    gc_jit_free(j);
    gc_interp_free(it);
    gc_graph_free(g);
}

static void test_sibling_reductions(void **state) {
    (void)state;
    sibling_case(4, 8);
    sibling_case(5, 3);
}

/* A kernel reading more than GC_FUSE_MAX_EXTERNAL outside values is split. */
static void test_outside_values_are_bounded(void **state) {
    (void)state;
    gc_error err = {0};
    gc_graph *g = gc_graph_new("wide");
    gc_builder b = {g, {"wide.ir", 1, 1}, &err};
    gc_node *acc = named(&b, GC_OP_INPUT, "x0", ty(GC_F32, 1, 8, 0));
    for (int i = 1; i <= 2 * GC_FUSE_MAX_EXTERNAL; i++) {
        char name[16];
        snprintf(name, sizeof name, "x%d", i);
        acc = gc_binary(&b, GC_OP_ADD, acc, named(&b, GC_OP_INPUT, name, ty(GC_F32, 1, 8, 0)));
    }
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "y", acc, &err));
    gc_fusion f = partition(g, true);
    assert_true(f.num_kernels >= 2);
    for (int i = 0; i < g->num_nodes; i++) {
        if (f.root[i] != i) continue;
        bool seen[256] = {false};
        int outside = 0;
        for (int m = 0; m < g->num_nodes; m++) {
            if (f.root[m] != i) continue;
            for (int k = 0; k < g->nodes[m]->num_inputs; k++) {
                int x = g->nodes[m]->inputs[k]->id;
                if (f.root[x] != i && !seen[x]) seen[x] = true, outside++;
            }
        }
        assert_true(outside <= GC_FUSE_MAX_EXTERNAL);
    }
    gc_fusion_free(&f);
    gc_graph_free(g);
}

/* Layers of the same shapes: fused kernels agree with the interpreter, members of a kernel
 * have no value of their own, and the repeated layers share their kernels' functions. */
static void test_fused_layers_match_interpreter(void **state) {
    (void)state;
    gc_error err = {0};
    gc_graph *g = gc_graph_new("layers");
    gc_builder b = {g, {"layers.ir", 1, 1}, &err};
    gc_node *h = named(&b, GC_OP_INPUT, "x", ty(GC_F32, 2, 16, 32));
    gc_node *inner = NULL;
    const int layers = 4;
    for (int l = 0; l < layers; l++) {
        char name[16];
        snprintf(name, sizeof name, "w%d", l);
        gc_node *w = named(&b, GC_OP_PARAM, name, ty(GC_F32, 2, 32, 32));
        snprintf(name, sizeof name, "b%d", l);
        gc_node *bias = named(&b, GC_OP_PARAM, name, ty(GC_F32, 1, 32, 0));
        gc_node *mm = gc_matmul(&b, h, w, false, false);
        gc_node *z = gc_binary(&b, GC_OP_ADD, mm, bias);
        inner = gc_unary(&b, GC_OP_GELU, z);
        gc_node *mean = gc_reduce(&b, GC_OP_MEAN, inner, 0x2, true);
        gc_node *c = gc_binary(&b, GC_OP_SUB, inner, mean);
        gc_node *var = gc_reduce(&b, GC_OP_MEAN, gc_unary(&b, GC_OP_SQUARE, c), 0x2, true);
        gc_node *r = gc_unary(&b, GC_OP_RSQRT, gc_add_scalar(&b, var, 1e-5));
        h = gc_binary(&b, GC_OP_ADD, gc_binary(&b, GC_OP_MUL, c, r), h);
    }
    assert_non_null(h);
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "y", h, &err));
    gc_jit_options opts = {.fuse = true};
    gc_jit *j = gc_jit_new_opts(g, &opts, &err);
    if (!j) fail_msg("gc_jit_new_opts: %s", err.message);
    const gc_codegen_times *t = gc_jit_times(j);
    print_message("%d nodes: %d kernels, %d functions\n", g->num_nodes, t->kernels, t->functions);
    /* Per layer the bias add joins gelu, the scalar add joins rsqrt and the mul joins the
     * residual add; the later layers' kernels are the first layer's functions. */
    assert_true(t->kernels < g->num_nodes - 2 * layers - 1);
    assert_true(t->functions * 2 <= t->kernels);

    gc_interp *it = gc_interp_new(g, GC_INTERP_F32, &err);
    assert_non_null(it);
    fill(j, it, g);
    assert_true(gc_interp_run(it, &err));
    assert_true(gc_jit_run(j, &err));
    /* gelu feeds a reduction as well as the sub, so it is stored; the add before it is not. */
    assert_non_null(gc_jit_value(j, inner));
    assert_null(gc_jit_value(j, inner->inputs[0]));
    int missing = 0;
    for (int i = 0; i < g->num_nodes; i++) missing += gc_jit_value(j, g->nodes[i]) == NULL;
    assert_true(missing > 0);
    const double *want = gc_interp_output(it, GC_OUTPUT_VALUE, "y");
    const float *got = gc_jit_output(j, GC_OUTPUT_VALUE, "y");
    assert_non_null(got);
    for (int64_t k = 0; k < 16 * 32; k++)
        if (fabs(want[k] - got[k]) > 1e-5 + 1e-4 * fabs(want[k]))
            fail_msg("y[%lld]: interpreter %.9g, JIT %.9g", (long long)k, want[k], got[k]);
    gc_interp_free(it);
    gc_jit_free(j);

    /* Unfused, the same graph still shares functions between layers. */
    j = gc_jit_new(g, &err);
    assert_non_null(j);
    t = gc_jit_times(j);
    assert_true(t->functions * 2 <= t->kernels);
    gc_jit_free(j);
    gc_graph_free(g);
}

/* The benchmark models' kind of graph: the tiny GPT's training step (AdamW) as the trainer
 * builds it. Fusion and sharing cut its ~1,600 kernels to a few hundred LLVM functions. */
static void test_tiny_gpt_kernel_counts(void **state) {
    (void)state;
    gc_error err = {0};
    const char *src = getenv("GC_SOURCE_DIR");
    assert_non_null(src);
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/models/good/tiny_gpt.gm", src);
    gc_model *m = gc_model_load(path, &err);
    if (!m) fail_msg("%s", err.message);
    gc_options opts = {.backend = GC_BACKEND_INTERP};
    gc_trainer *t = gc_trainer_new(m, &opts, &err);
    if (!t) fail_msg("gc_trainer_new: %s", err.message);
    char *text = gc_trainer_ir(t, "train");
    assert_non_null(text);
    gc_graph *g = gc_graph_parse(text, strlen(text), "train.ir", &err);
    if (!g) fail_msg("parse: %s", err.message);
    free(text);
    gc_trainer_free(t);
    gc_model_free(m);

    gc_fusion unfused = partition(g, false), fused = partition(g, true);
    print_message("%d nodes: %d kernels unfused, %d fused (%d nodes kept in registers)\n", g->num_nodes,
                  unfused.num_kernels, fused.num_kernels, fused.num_fused);
    assert_true(fused.num_kernels + fused.num_fused == unfused.num_kernels);
    assert_true(fused.num_kernels * 10 < unfused.num_kernels * 7);
    gc_fusion_free(&unfused);
    gc_fusion_free(&fused);

    gc_jit_options jo = {.fuse = true};
    gc_jit *j = gc_jit_new_opts(g, &jo, &err);
    if (!j) fail_msg("gc_jit_new_opts: %s", err.message);
    const gc_codegen_times *ct = gc_jit_times(j);
    print_message("fused JIT: %d kernel calls, %d functions, compile %.0f ms (O3 %.0f ms, machine code %.0f ms)\n",
                  ct->kernels, ct->functions, ct->total_ms, ct->optimize_ms, ct->object_ms);
    assert_true(ct->functions * 2 < ct->kernels);
    gc_jit_free(j);
    gc_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain_is_one_kernel),
        cmocka_unit_test(test_what_is_materialised),
        cmocka_unit_test(test_stored_member),
        cmocka_unit_test(test_sibling_reductions),
        cmocka_unit_test(test_outside_values_are_bounded),
        cmocka_unit_test(test_reduction_prologue),
        cmocka_unit_test(test_pool_prologue),
        cmocka_unit_test(test_fused_layers_match_interpreter),
        cmocka_unit_test(test_tiny_gpt_kernel_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
