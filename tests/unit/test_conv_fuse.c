/*
 * test_conv_fuse.c: convolution epilogues (passes/fuse.c, codegen/fused.c). A bias add, a
 * batch-norm apply with given statistics, a ReLU and a residual add after a conv join the conv's
 * kernel, which convolves an image and then runs them over that image; a ReLU mask and a gradient
 * sum after a conv_input_grad likewise. Each geometry of runtime/conv.c (tiles of several images,
 * tiles cutting rows, 1x1 read in place, strided 1x1, stride 2 with no padding, groups, depthwise,
 * dilation, 1-d, f64) is checked against the interpreter, and a split over two threads against
 * one thread bit for bit (the weight gradient's too, whose unfolding differs with its part's
 * size). What must not fuse stays a kernel of its own: a conv output read twice,
 * and the weight gradient.
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

#include "ir/build.h"
#include "passes/fuse.h"
#include "runtime/interp.h"
#include "runtime/jit.h"

typedef struct geometry {
    gc_dtype dtype;
    int rank, x[4], w[4], stride, pad, dil, groups;
    bool bias;
} geometry;

static const geometry geometries[] = {
    /* tiles of several images (81 positions), bias, residual (same shape) */
    {GC_F32, 4, {3, 8, 9, 9}, {8, 8, 3, 3}, 1, 1, 1, 1, true},
    /* tiles cutting rows (340 positions), no bias */
    {GC_F32, 4, {2, 6, 20, 17}, {12, 6, 3, 3}, 1, 1, 1, 1, false},
    /* stride 2, padding 0 */
    {GC_F32, 4, {3, 6, 10, 10}, {12, 6, 3, 3}, 2, 0, 1, 1, true},
    /* 1x1 read in place, one image per tile and several */
    {GC_F32, 4, {2, 32, 16, 16}, {16, 32, 1, 1}, 1, 0, 1, 1, true},
    {GC_F32, 4, {4, 32, 5, 5}, {32, 32, 1, 1}, 1, 0, 1, 1, false},
    /* strided 1x1 (a ResNet shortcut) */
    {GC_F32, 4, {2, 32, 9, 9}, {16, 32, 1, 1}, 2, 0, 1, 1, false},
    /* groups on GEMMs, dilated */
    {GC_F32, 4, {2, 16, 9, 9}, {16, 8, 3, 3}, 1, 2, 2, 2, true},
    /* depthwise (direct loops) */
    {GC_F32, 4, {2, 8, 7, 7}, {8, 1, 3, 3}, 1, 1, 1, 8, true},
    /* 1-d */
    {GC_F32, 3, {2, 8, 30}, {16, 8, 5}, 3, 2, 1, 1, true},
    /* a weight gradient whose column tile (1152 x 256 floats) spills a 1 MB L2 on one thread and
     * fits on each of two (64 channels each): the packed and the im2col paths agree bit for bit */
    {GC_F32, 4, {2, 128, 16, 16}, {16, 128, 3, 3}, 1, 1, 1, 1, false},
    /* f64 (direct loops) */
    {GC_F64, 4, {2, 8, 9, 9}, {16, 8, 3, 3}, 2, 1, 1, 1, true},
};

static gc_node *named(gc_builder *b, gc_op op, const char *name, gc_type t) {
    return gc_graph_make(b->graph, op, NULL, 0, NULL, &t, name, b->loc, b->err);
}

static gc_type dims_type(gc_dtype dtype, int rank, const int *d) {
    int64_t dims[GC_MAX_RANK];
    for (int i = 0; i < rank; i++) dims[i] = d[i];
    return gc_type_make(dtype, rank, dims);
}

/* A per-channel vector named `name` as [C, 1, ...] for a value of rank `rank`. */
static gc_node *per_channel(gc_builder *b, const char *name, gc_dtype dtype, int64_t channels, int rank) {
    gc_node *v = named(b, GC_OP_PARAM, name, gc_type_make(dtype, 1, &channels));
    int64_t dims[GC_MAX_RANK] = {channels, 1, 1, 1};
    return gc_reshape(b, v, rank - 1, dims);
}

typedef struct built {
    gc_graph *g;
    gc_node *conv, *fwd_root, *dx, *bwd_root, *wgrad, *twice;
} built;

/* The forward: relu(batchnorm-apply(conv(x, w) + bias)) + x when the shapes agree; the input
 * gradient: conv_input_grad(dy, w) * mask + g (a ReLU's gradient plus another path's); the
 * weight gradient; and a second conv whose output two kernels read (it must stay stored). */
static built build(const geometry *geo) {
    built r;
    memset(&r, 0, sizeof r);
    gc_error err = {0};
    r.g = gc_graph_new("conv_fuse");
    gc_builder b = {r.g, {"conv_fuse.ir", 1, 1}, &err};
    gc_attr_conv ca = {.groups = geo->groups};
    for (int d = 0; d < geo->rank - 2; d++) {
        ca.stride[d] = geo->stride;
        ca.pad_before[d] = ca.pad_after[d] = geo->pad;
        ca.dilation[d] = geo->dil;
    }
    gc_type tx = dims_type(geo->dtype, geo->rank, geo->x), tw = dims_type(geo->dtype, geo->rank, geo->w);
    gc_node *x = named(&b, GC_OP_INPUT, "x", tx), *w = named(&b, GC_OP_PARAM, "w", tw);
    gc_node *y = gc_conv(&b, x, w, &ca);
    assert_non_null(y);
    r.conv = y;
    int64_t out_ch = geo->w[0];
    gc_node *h = y;
    if (geo->bias) h = gc_binary(&b, GC_OP_ADD, h, per_channel(&b, "bias", geo->dtype, out_ch, geo->rank));
    /* batch norm as in eval: (h - mean) * inv_std * gamma + beta */
    h = gc_binary(&b, GC_OP_SUB, h, per_channel(&b, "mean", geo->dtype, out_ch, geo->rank));
    h = gc_binary(&b, GC_OP_MUL, h, per_channel(&b, "inv_std", geo->dtype, out_ch, geo->rank));
    h = gc_unary(&b, GC_OP_RELU, h);
    if (gc_type_equal(&h->type, &tx)) h = gc_binary(&b, GC_OP_ADD, h, x);
    r.fwd_root = h;
    assert_true(gc_graph_add_output(r.g, GC_OUTPUT_VALUE, "y", h, &err));

    gc_node *dy = named(&b, GC_OP_INPUT, "dy", y->type);
    gc_node *dx = gc_conv_input_grad(&b, dy, w, &ca, &tx);
    gc_node *mask = named(&b, GC_OP_INPUT, "mask", tx), *other = named(&b, GC_OP_INPUT, "other", tx);
    r.dx = dx;
    r.bwd_root = gc_binary(&b, GC_OP_ADD, gc_binary(&b, GC_OP_MUL, dx, mask), other);
    assert_true(gc_graph_add_output(r.g, GC_OUTPUT_VALUE, "dx", r.bwd_root, &err));
    r.wgrad = gc_unary(&b, GC_OP_NEG, gc_conv_weight_grad(&b, x, dy, &ca, &tw));
    assert_true(gc_graph_add_output(r.g, GC_OUTPUT_VALUE, "dw", r.wgrad, &err));

    gc_node *twice = gc_conv(&b, x, w, &ca);
    r.twice = twice;
    gc_node *sum = gc_reduce(&b, GC_OP_SUM, twice, 1u, true);
    gc_node *centred = gc_binary(&b, GC_OP_SUB, twice, sum);
    assert_true(gc_graph_add_output(r.g, GC_OUTPUT_VALUE, "centred", gc_unary(&b, GC_OP_RELU, centred), &err));
    if (err.code) fail_msg("building: %s", err.message);
    return r;
}

static uint64_t rng = 1;
static double draw(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return -2.0 + 4.0 * (double)(rng >> 11) / 9007199254740992.0;
}

static void set_sources(const gc_graph *g, gc_interp *it, gc_jit **jits, int count) {
    gc_error err = {0};
    rng = 7;
    for (int i = 0; i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        if (!(gc_op_table[n->op].flags & GC_FLAG_NAMED)) continue;
        int64_t numel = gc_type_numel(&n->type);
        size_t size = gc_dtype_size(n->type.dtype);
        void *data = malloc((size_t)numel * size);
        assert_non_null(data);
        for (int64_t k = 0; k < numel; k++) {
            double v = draw();
            if (!strcmp(n->name, "mask")) v = v > 0; /* a ReLU's 0/1 mask */
            if (n->type.dtype == GC_F32) ((float *)data)[k] = (float)v;
            else ((double *)data)[k] = v;
        }
        gc_tensor t = {n->type.dtype, n->type.rank, {0}, data};
        for (int d = 0; d < n->type.rank; d++) t.shape[d] = n->type.dims[d];
        assert_true(gc_interp_set(it, n->name, &t, &err));
        for (int j = 0; j < count; j++)
            if (!gc_jit_set(jits[j], n->name, &t, &err)) fail_msg("gc_jit_set(%s): %s", n->name, err.message);
        free(data);
    }
}

static double element(const void *p, gc_dtype t, int64_t k) {
    return t == GC_F32 ? ((const float *)p)[k] : ((const double *)p)[k];
}

static void check_geometry(int v) {
    const geometry *geo = &geometries[v];
    built r = build(geo);
    gc_fusion f;
    gc_error err = {0};
    if (!gc_fuse_partition(r.g, true, &f, &err)) fail_msg("gc_fuse_partition: %s", err.message);
    /* The conv and its epilogue are one kernel, and so are the input gradient and its mask. */
    if (f.root[r.conv->id] != r.fwd_root->id) fail_msg("geometry %d: conv %%%d not in the epilogue's kernel", v, r.conv->id);
    assert_int_equal(f.root[r.dx->id], r.bwd_root->id);
    /* The weight gradient and a conv two kernels read stay kernels of their own. */
    assert_int_equal(f.root[r.wgrad->inputs[0]->id], r.wgrad->inputs[0]->id);
    assert_int_equal(f.root[r.twice->id], r.twice->id);
    gc_fusion_free(&f);

    gc_jit_options one = {.fuse = true, .reuse = true, .threads = 1};
    gc_jit_options two = {.fuse = true, .reuse = true, .threads = 2};
    gc_jit *jits[2] = {gc_jit_new_opts(r.g, &one, &err), NULL};
    if (!jits[0]) fail_msg("geometry %d: JIT: %s", v, err.message);
    jits[1] = gc_jit_new_opts(r.g, &two, &err);
    if (!jits[1]) fail_msg("geometry %d: JIT: %s", v, err.message);
    gc_interp *it = gc_interp_new(r.g, GC_INTERP_F32, &err);
    assert_non_null(it);
    set_sources(r.g, it, jits, 2);
    assert_true(gc_interp_run(it, &err));
    for (int j = 0; j < 2; j++)
        if (!gc_jit_run(jits[j], &err)) fail_msg("geometry %d: run: %s", v, err.message);
    const char *names[] = {"y", "dx", "dw", "centred"};
    for (int o = 0; o < 4; o++) {
        const gc_graph_output *go = gc_graph_find_output(r.g, GC_OUTPUT_VALUE, names[o]);
        const double *want = gc_interp_output(it, GC_OUTPUT_VALUE, names[o]);
        const void *got = gc_jit_output(jits[0], GC_OUTPUT_VALUE, names[o]);
        const void *got2 = gc_jit_output(jits[1], GC_OUTPUT_VALUE, names[o]);
        assert_non_null(want);
        assert_non_null(got);
        assert_non_null(got2);
        gc_dtype t = go->value->type.dtype;
        double rtol = t == GC_F64 ? 1e-12 : 1e-5, atol = t == GC_F64 ? 1e-12 : 1e-4;
        int64_t count = gc_type_numel(&go->value->type);
        for (int64_t k = 0; k < count; k++) {
            double a = element(got, t, k), b2 = element(got2, t, k);
            if (!(fabs(want[k] - a) <= atol + rtol * fabs(want[k])))
                fail_msg("geometry %d: %s[%lld]: interpreter %.9g, JIT %.9g", v, names[o], (long long)k, want[k], a);
            if (a != b2)
                fail_msg("geometry %d: %s[%lld]: one thread %.9g, two threads %.9g", v, names[o], (long long)k, a, b2);
        }
    }
    gc_interp_free(it);
    gc_jit_free(jits[0]);
    gc_jit_free(jits[1]);
    gc_graph_free(r.g);
}

static void test_conv_epilogues(void **state) {
    (void)state;
    for (int v = 0; v < (int)(sizeof geometries / sizeof geometries[0]); v++) check_geometry(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_epilogues),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
