/*
 * onnx_ops_nn.c: ONNX's neural-network operators lowered to IR: Conv, pooling, Gemm and MatMul,
 * Softmax, reductions, Clip, Dropout, BatchNormalization (with torch's running statistics) and
 * LayerNormalization.
 */
#include "frontend/onnx_internal.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/layers_norm.h"

static gc_builder *B(importer *I) { return I->b; }

/* Pads of auto_pad SAME_UPPER / SAME_LOWER for one spatial dim (ONNX's definition). */
static void same_pads(int64_t in, int64_t k, int64_t stride, int64_t dilation, bool lower, int64_t *before, int64_t *after) {
    int64_t out = (in + stride - 1) / stride, total = (out - 1) * stride + (k - 1) * dilation + 1 - in;
    if (total < 0) total = 0;
    *before = lower ? total - total / 2 : total / 2;
    *after = total - *before;
}

/* The geometry attributes shared by Conv and the pools, for x's spatial dims. */
typedef struct window {
    int spatial;
    int64_t kernel[GC_MAX_SPATIAL], stride[GC_MAX_SPATIAL], dilation[GC_MAX_SPATIAL];
    int64_t before[GC_MAX_SPATIAL], after[GC_MAX_SPATIAL];
} window;

static int read_window(importer *I, const gc_node *x, const int64_t *kernel_from_w, window *w) {
    int rank = x->type.rank;
    w->spatial = rank - 2;
    if (w->spatial < 1 || w->spatial > GC_MAX_SPATIAL)
        return gc_onnx_fail(I, "expects [N, C, *spatial] with 1 to 3 spatial dims, got rank %d", rank);
    int n;
    const int64_t *k = gc_onnx_attr_ints(I, "kernel_shape", &n);
    if (!k && kernel_from_w) k = kernel_from_w, n = w->spatial;
    if (!k || n != w->spatial) return gc_onnx_fail(I, "kernel_shape must have %d entries", w->spatial);
    int ns, nd, np;
    const int64_t *s = gc_onnx_attr_ints(I, "strides", &ns), *d = gc_onnx_attr_ints(I, "dilations", &nd);
    const int64_t *p = gc_onnx_attr_ints(I, "pads", &np);
    if ((s && ns != w->spatial) || (d && nd != w->spatial) || (p && np != 2 * w->spatial))
        return gc_onnx_fail(I, "strides, dilations or pads do not match %d spatial dims", w->spatial);
    const char *auto_pad = gc_onnx_attr_str(I, "auto_pad", "NOTSET");
    for (int i = 0; i < w->spatial; i++) {
        w->kernel[i] = k[i];
        w->stride[i] = s ? s[i] : 1;
        w->dilation[i] = d ? d[i] : 1;
        if (w->kernel[i] < 1 || w->stride[i] < 1 || w->dilation[i] < 1)
            return gc_onnx_fail(I, "kernel, stride and dilation must be at least 1");
        w->before[i] = p ? p[i] : 0;
        w->after[i] = p ? p[i + w->spatial] : 0;
        if (w->before[i] < 0 || w->after[i] < 0) return gc_onnx_fail(I, "negative pads are not supported");
        int64_t in = x->type.dims[2 + i];
        if (!strcmp(auto_pad, "SAME_UPPER") || !strcmp(auto_pad, "SAME_LOWER"))
            same_pads(in, w->kernel[i], w->stride[i], w->dilation[i], !strcmp(auto_pad, "SAME_LOWER"), &w->before[i],
                      &w->after[i]);
        else if (!strcmp(auto_pad, "VALID")) w->before[i] = w->after[i] = 0;
        else if (strcmp(auto_pad, "NOTSET")) return gc_onnx_fail(I, "auto_pad '%s' is not supported", auto_pad);
    }
    return 1;
}

int gc_onnx_lower_conv(importer *I) {
    gc_node *x = gc_onnx_node(I, 0), *w = x ? gc_onnx_node(I, 1) : NULL;
    if (!w) return 0;
    if (x->type.dtype != GC_F32) return gc_onnx_fail(I, "expects float input");
    window win;
    if (!read_window(I, x, w->type.rank >= 3 ? w->type.dims + 2 : NULL, &win)) return 0;
    gc_attr_conv a;
    memset(&a, 0, sizeof a);
    for (int i = 0; i < win.spatial; i++) {
        a.stride[i] = win.stride[i];
        a.dilation[i] = win.dilation[i];
        a.pad_before[i] = win.before[i];
        a.pad_after[i] = win.after[i];
    }
    a.groups = (int)gc_onnx_attr_int(I, "group", 1);
    gc_node *y = gc_conv(B(I), x, w, &a);
    if (y && gc_onnx_has_input(I, 2)) {
        gc_node *bias = gc_onnx_node(I, 2);
        if (!bias) return 0;
        int64_t dims[GC_MAX_RANK];
        for (int d = 0; d < y->type.rank; d++) dims[d] = d == 1 ? y->type.dims[1] : 1;
        if (bias->type.rank != 1 || bias->type.dims[0] != y->type.dims[1])
            return gc_onnx_fail(I, "bias must be [%lld]", (long long)y->type.dims[1]);
        y = gc_binary(B(I), GC_OP_ADD, y, gc_reshape(B(I), bias, y->type.rank, dims));
    }
    return gc_onnx_set_node(I, 0, y, GC_ONNX_FLOAT);
}

/* x padded along its spatial dims with value (exactly: x inside, value outside). */
static gc_node *pad_spatial(importer *I, gc_node *x, const window *w, double value) {
    gc_node *ones = value != 0 ? gc_fill(B(I), &x->type, 1) : NULL;
    for (int i = 0; i < w->spatial && x; i++) {
        if (!w->before[i] && !w->after[i]) continue;
        x = gc_pad(B(I), x, 2 + i, w->before[i], w->after[i]);
        if (ones) ones = gc_pad(B(I), ones, 2 + i, w->before[i], w->after[i]);
    }
    if (!ones || !x) return x;
    return gc_binary(B(I), GC_OP_ADD, x, gc_mul_scalar(B(I), gc_add_scalar(B(I), gc_unary(B(I), GC_OP_NEG, ones), 1), value));
}

/* MaxPool's Indices output for x pooled into y over windows w: the flat index into x (over N, C and
 * the spatial dims: row-major, or with the spatial dims column-major for storage_order 1) of each
 * window's first maximum in scan order. Built from iota, comparisons and take, one kernel offset at
 * a time, so nothing in it is a constant that grows with the tensor; i32, without gradient. */
static gc_node *pool_indices(importer *I, gc_node *x, gc_node *y, const window *w, bool column_major) {
    gc_builder *b = B(I);
    if (!y) return NULL;
    int rank = x->type.rank, sp = w->spatial;
    int64_t nc = x->type.dims[0] * x->type.dims[1], size = 1, outs = 1, stride[GC_MAX_SPATIAL], told[GC_MAX_SPATIAL];
    for (int i = 0; i < sp; i++) size *= x->type.dims[2 + i], outs *= y->type.dims[2 + i];
    /* stride: where x's element sits (row-major); told: the index the output reports. */
    for (int i = sp - 1, acc = 1; i >= 0; i--) stride[i] = acc, acc *= (int)x->type.dims[2 + i];
    for (int i = 0, acc = 1; i < sp; i++) {
        int d = column_major ? i : sp - 1 - i;
        told[d] = acc;
        acc *= (int)x->type.dims[2 + d];
    }
    if (size >= ((int64_t)1 << 30) || nc * size >= ((int64_t)1 << 31))
        return gc_onnx_fail(I, "the Indices output of a tensor this large does not fit i32"), NULL;
    /* The table [size + 1, N*C]: x's spatial positions, then one below every value for pads. */
    gc_node *flat = gc_reshape(b, x, 2, (int64_t[]){nc, size});
    gc_type pad_t = gc_type_make(GC_F32, 2, (int64_t[]){nc, 1});
    gc_node *table = gc_permute(b, gc_concat(b, (gc_node *[]){flat, gc_fill(b, &pad_t, -INFINITY)}, 2, 1), (int[]){1, 0});
    gc_node *best_of = gc_permute(b, gc_reshape(b, y, 2, (int64_t[]){nc, outs}), (int[]){1, 0});
    gc_type out_t = gc_type_make(GC_I32, sp, y->type.dims + 2);
    int64_t kernel_count = 1, k_at[GC_MAX_SPATIAL];
    for (int i = 0; i < sp; i++) kernel_count *= w->kernel[i];
    gc_node *best = NULL, *none = gc_scalar(b, GC_I32, (double)INT32_MAX);
    for (int64_t k = 0; k < kernel_count; k++) {
        for (int i = sp - 1, rest = (int)k; i >= 0; i--) k_at[i] = rest % w->kernel[i], rest /= (int)w->kernel[i];
        gc_node *pos = NULL, *report = NULL, *inside = NULL;
        for (int i = 0; i < sp; i++) {
            gc_attr a;
            memset(&a, 0, sizeof a);
            a.axis.axis = i;
            gc_node *at = gc_build(b, GC_OP_IOTA, NULL, 0, &a, &out_t);
            at = gc_add_scalar(b, gc_mul_scalar(b, at, (double)w->stride[i]), (double)(k_at[i] * w->dilation[i] - w->before[i]));
            gc_node *ok = gc_binary(b, GC_OP_MUL, gc_binary(b, GC_OP_GE, at, gc_scalar(b, GC_I32, 0)),
                                    gc_binary(b, GC_OP_LT, at, gc_scalar(b, GC_I32, (double)x->type.dims[2 + i])));
            gc_node *term = gc_mul_scalar(b, at, (double)stride[i]), *term2 = gc_mul_scalar(b, at, (double)told[i]);
            pos = pos ? gc_binary(b, GC_OP_ADD, pos, term) : term;
            report = report ? gc_binary(b, GC_OP_ADD, report, term2) : term2;
            inside = inside ? gc_binary(b, GC_OP_MUL, inside, ok) : ok;
        }
        pos = gc_reshape(b, gc_select(b, inside, pos, gc_scalar(b, GC_I32, (double)size)), 1, &outs);
        gc_node *hit = gc_binary(b, GC_OP_EQ, gc_build(b, GC_OP_TAKE, (gc_node *[]){table, pos}, 2, NULL, NULL), best_of);
        gc_node *cand = gc_select(b, hit, gc_reshape(b, report, 2, (int64_t[]){outs, 1}), none);
        best = best ? gc_binary(b, GC_OP_MINIMUM, best, cand) : cand;
    }
    gc_type base_t = gc_type_make(GC_I32, 2, (int64_t[]){nc, 1});
    gc_attr rows;
    memset(&rows, 0, sizeof rows);
    gc_node *base = gc_mul_scalar(b, gc_build(b, GC_OP_IOTA, NULL, 0, &rows, &base_t), (double)size);
    gc_node *idx = gc_binary(b, GC_OP_ADD, gc_permute(b, best, (int[]){1, 0}), base);
    return gc_reshape(b, idx, rank, y->type.dims);
}

int gc_onnx_lower_pool(importer *I) {
    bool avg = !strcmp(I->node->op_type, "AveragePool");
    gc_node *x = gc_onnx_node(I, 0);
    if (!x) return 0;
    if (x->type.dtype != GC_F32 && !avg) {
        /* MaxPool of integers (uint8 images): pooled in f32, exact below 2^24, and cast back. */
        oval *saved = I->in[0], as_float = *saved;
        as_float.node = gc_cast(B(I), x, GC_F32);
        as_float.k = NULL;
        as_float.et = GC_ONNX_FLOAT;
        I->in[0] = &as_float;
        int ok = gc_onnx_lower_pool(I);
        I->in[0] = saved;
        if (!ok) return 0;
        for (int k = 0; k < I->nout && k < 1; k++)
            if (I->out[k].node) I->out[k].node = gc_cast(B(I), I->out[k].node, GC_I32), I->out[k].et = saved->et;
        return I->out[0].node != NULL;
    }
    if (x->type.dtype != GC_F32) return gc_onnx_fail(I, "expects float input");
    window w;
    if (!read_window(I, x, NULL, &w)) return 0;
    if (!avg && I->nout > 1 && I->node->output[1] && *I->node->output[1]) {
        /* The values as without Indices, then the indices of their first occurrence per window. */
        I->nout = 1;
        int ok = gc_onnx_lower_pool(I);
        I->nout = 2;
        if (!ok) return 0;
        bool column_major = gc_onnx_attr_int(I, "storage_order", 0) != 0;
        return gc_onnx_set_node(I, 1, pool_indices(I, x, I->out[0].node, &w, column_major), GC_ONNX_INT64);
    }
    bool count_include_pad = gc_onnx_attr_int(I, "count_include_pad", 0) != 0;
    gc_attr attr;
    memset(&attr, 0, sizeof attr);
    gc_attr_pool *p = &attr.pool;
    p->ceil_mode = gc_onnx_attr_int(I, "ceil_mode", 0) != 0;
    p->count_include_pad = avg ? count_include_pad : true;
    bool symmetric = true;
    for (int i = 0; i < w.spatial; i++) {
        p->kernel[i] = w.kernel[i];
        p->stride[i] = w.stride[i];
        p->dilation[i] = w.dilation[i];
        p->padding[i] = w.before[i];
        /* gradc's pools (as torch's) take at most half the kernel as padding. */
        symmetric = symmetric && w.before[i] == w.after[i] && 2 * w.before[i] <= w.kernel[i];
    }
    gc_op op = avg ? GC_OP_AVG_POOL : GC_OP_MAX_POOL;
    if (symmetric) return gc_onnx_set_node(I, 0, gc_build(B(I), op, &x, 1, &attr, NULL), GC_ONNX_FLOAT);
    /* Pads that differ before and after (auto_pad SAME): pad explicitly, then pool without. */
    if (p->ceil_mode) return gc_onnx_fail(I, "ceil_mode with pads that differ before and after is not supported");
    for (int i = 0; i < w.spatial; i++) p->padding[i] = 0;
    p->count_include_pad = true;
    if (!avg) {
        gc_node *padded = pad_spatial(I, x, &w, -FLT_MAX);
        return gc_onnx_set_node(I, 0, padded ? gc_build(B(I), op, &padded, 1, &attr, NULL) : NULL, GC_ONNX_FLOAT);
    }
    gc_node *padded = pad_spatial(I, x, &w, 0);
    gc_node *y = padded ? gc_build(B(I), op, &padded, 1, &attr, NULL) : NULL;
    if (count_include_pad || !y) return gc_onnx_set_node(I, 0, y, GC_ONNX_FLOAT);
    /* Excluding the pads: divide by the share of real elements in each window. */
    gc_type ones_t = x->type;
    gc_node *ones = pad_spatial(I, gc_fill(B(I), &ones_t, 1), &w, 0);
    gc_node *share = ones ? gc_build(B(I), op, &ones, 1, &attr, NULL) : NULL;
    return gc_onnx_set_node(I, 0, gc_binary(B(I), GC_OP_DIV, y, share), GC_ONNX_FLOAT);
}

int gc_onnx_lower_global_avg_pool(importer *I) {
    gc_node *x = gc_onnx_node(I, 0);
    if (!x) return 0;
    if (x->type.rank < 3) return gc_onnx_fail(I, "expects [N, C, *spatial]");
    uint32_t axes = ((1u << x->type.rank) - 1) & ~3u;
    return gc_onnx_set_node(I, 0, gc_reduce(B(I), GC_OP_MEAN, x, axes, true), GC_ONNX_FLOAT);
}

/* numpy.matmul: rank-1 operands gain a dim that the result drops. */
static gc_node *matmul(importer *I, gc_node *a, gc_node *b) {
    if (!a || !b) return NULL;
    if (a->type.dtype != GC_F32 || b->type.dtype != GC_F32) return gc_onnx_fail(I, "expects float operands"), NULL;
    bool va = a->type.rank == 1, vb = b->type.rank == 1;
    if (va) a = gc_reshape(B(I), a, 2, (int64_t[]){1, a->type.dims[0]});
    if (vb) b = gc_reshape(B(I), b, 2, (int64_t[]){b->type.dims[0], 1});
    gc_node *y = gc_matmul(B(I), a, b, false, false);
    if (!y || (!va && !vb)) return y;
    int64_t dims[GC_MAX_RANK];
    int r = 0;
    for (int d = 0; d < y->type.rank; d++) {
        if (va && d == y->type.rank - 2) continue;
        if (vb && d == y->type.rank - 1) continue;
        dims[r++] = y->type.dims[d];
    }
    return gc_reshape(B(I), y, r, dims);
}

int gc_onnx_lower_matmul(importer *I) {
    return gc_onnx_set_node(I, 0, matmul(I, gc_onnx_node(I, 0), gc_onnx_node(I, 1)), GC_ONNX_FLOAT);
}

int gc_onnx_lower_gemm(importer *I) {
    gc_node *a = gc_onnx_node(I, 0), *b = a ? gc_onnx_node(I, 1) : NULL;
    if (!b) return 0;
    if (a->type.rank != 2 || b->type.rank != 2) return gc_onnx_fail(I, "expects matrices");
    double alpha = gc_onnx_attr_float(I, "alpha", 1), beta = gc_onnx_attr_float(I, "beta", 1);
    gc_node *y = gc_matmul(B(I), a, b, gc_onnx_attr_int(I, "transA", 0) != 0, gc_onnx_attr_int(I, "transB", 0) != 0);
    if (alpha != 1) y = gc_mul_scalar(B(I), y, alpha);
    if (y && gc_onnx_has_input(I, 2) && beta != 0) {
        gc_node *c = gc_onnx_node(I, 2);
        if (!c) return 0;
        if (beta != 1) c = gc_mul_scalar(B(I), c, beta);
        y = gc_binary(B(I), GC_OP_ADD, y, c);
    }
    return gc_onnx_set_node(I, 0, y, GC_ONNX_FLOAT);
}

/* Softmax and LogSoftmax: before opset 13 over the input flattened to 2-d at axis (default 1),
 * from 13 on along one axis (default -1). */
int gc_onnx_lower_softmax(importer *I) {
    gc_node *x = gc_onnx_node(I, 0);
    if (!x) return 0;
    gc_op op = !strcmp(I->node->op_type, "Softmax") ? GC_OP_SOFTMAX : GC_OP_LOG_SOFTMAX;
    int rank = x->type.rank, axis;
    if (rank == 0) return gc_onnx_fail(I, "expects rank 1 or more");
    if (!gc_onnx_axis(I, gc_onnx_attr_int(I, "axis", I->opset < 13 ? 1 : -1), rank, &axis)) return 0;
    if (I->opset >= 13 || axis == rank - 1) return gc_onnx_set_node(I, 0, gc_axis_op(B(I), op, x, axis), GC_ONNX_FLOAT);
    int64_t flat[2] = {1, 1};
    for (int d = 0; d < rank; d++) flat[d >= axis] *= x->type.dims[d];
    gc_node *y = gc_axis_op(B(I), op, gc_reshape(B(I), x, 2, flat), 1);
    return gc_onnx_set_node(I, 0, gc_reshape(B(I), y, rank, x->type.dims), GC_ONNX_FLOAT);
}

/* ReduceMean and ReduceSum: axes from the attribute, or (ReduceSum from opset 13) input 1. */
int gc_onnx_lower_reduce(importer *I) {
    bool sum = !strcmp(I->node->op_type, "ReduceSum");
    gc_node *x = gc_onnx_node(I, 0);
    if (!x) return 0;
    int rank = x->type.rank, n = 0;
    const int64_t *axes;
    if (sum && I->opset >= 13) {
        int64_t count = 0;
        axes = gc_onnx_has_input(I, 1) ? gc_onnx_static_ints(I, 1, "axes", &count) : NULL;
        if (gc_onnx_has_input(I, 1) && !axes) return 0;
        n = (int)count;
    } else axes = gc_onnx_attr_ints(I, "axes", &n);
    bool keepdims = gc_onnx_attr_int(I, "keepdims", 1) != 0;
    uint32_t mask = 0;
    for (int k = 0; k < n; k++) {
        int a;
        if (!gc_onnx_axis(I, axes[k], rank, &a)) return 0;
        mask |= 1u << a;
    }
    if (!n) {
        if (gc_onnx_attr_int(I, "noop_with_empty_axes", 0)) return gc_onnx_set_node(I, 0, x, GC_ONNX_IN_ET(I, 0));
        mask = (1u << rank) - 1;
    }
    if (!sum && x->type.dtype != GC_F32) return gc_onnx_fail(I, "ReduceMean of integers is not supported");
    if (!mask) return gc_onnx_set_node(I, 0, x, GC_ONNX_IN_ET(I, 0));
    return gc_onnx_set_node(I, 0, gc_reduce(B(I), sum ? GC_OP_SUM : GC_OP_MEAN, x, mask, keepdims), GC_ONNX_IN_ET(I, 0));
}

int gc_onnx_lower_clip(importer *I) {
    gc_node *x = gc_onnx_node(I, 0);
    if (!x) return 0;
    double lo = -INFINITY, hi = INFINITY;
    if (I->opset < 11) {
        lo = gc_onnx_attr_float(I, "min", -INFINITY);
        hi = gc_onnx_attr_float(I, "max", INFINITY);
    } else {
        double *v;
        int64_t n;
        if (gc_onnx_has_input(I, 1)) {
            if (!gc_onnx_static_doubles(I, 1, "min", &v, &n)) return 0;
            if (n != 1) return gc_onnx_fail(I, "min must be a scalar");
            lo = gc_onnx_scalar_as_written(v[0]);
        }
        if (gc_onnx_has_input(I, 2)) {
            if (!gc_onnx_static_doubles(I, 2, "max", &v, &n)) return 0;
            if (n != 1) return gc_onnx_fail(I, "max must be a scalar");
            hi = gc_onnx_scalar_as_written(v[0]);
        }
    }
    gc_attr a;
    memset(&a, 0, sizeof a);
    a.clamp.lo = lo;
    a.clamp.hi = hi;
    /* ONNX: min > max gives max everywhere; torch's clamp the same. */
    return gc_onnx_set_node(I, 0, gc_build(B(I), GC_OP_CLAMP, &x, 1, &a, NULL), GC_ONNX_IN_ET(I, 0));
}

/* Dropout trains with dropout when the file says training (opset 12: the training_mode input;
 * before: a mask output) and the graph is the training step; otherwise the identity. */
int gc_onnx_lower_dropout(importer *I) {
    gc_node *x = gc_onnx_node(I, 0);
    if (!x) return 0;
    double ratio = 0.5;
    bool training;
    if (I->opset < 12) {
        ratio = gc_onnx_attr_float(I, "ratio", 0.5);
        training = I->nout > 1 && I->node->output[1] && *I->node->output[1];
    } else {
        double *v;
        int64_t n;
        if (gc_onnx_has_input(I, 1)) {
            if (!gc_onnx_static_doubles(I, 1, "ratio", &v, &n)) return 0;
            if (n) ratio = gc_onnx_scalar_as_written(v[0]);
        }
        training = false;
        if (gc_onnx_has_input(I, 2)) {
            if (!gc_onnx_static_doubles(I, 2, "training_mode", &v, &n)) return 0;
            training = n && v[0] != 0;
        }
    }
    if (!(ratio >= 0 && ratio < 1)) return gc_onnx_fail(I, "ratio %g must be in [0, 1)", ratio);
    if (!(training && I->c->training && ratio > 0)) {
        /* The identity; its mask keeps everything. */
        if (!gc_onnx_set_node(I, 0, x, I->in[0]->et)) return 0;
        return I->nout < 2 || gc_onnx_set_node(I, 1, gc_fill(B(I), &x->type, 1), GC_ONNX_BOOL);
    }
    /* gradc's dropout (frontend/layers.c gc_layer_dropout: the same stream of the same generator,
     * seeded by train.seed), spelled out here to keep its keep-mask for the mask output. */
    gc_layer_context *c = I->c;
    gc_builder *b = B(I);
    if (!c->step) {
        gc_type t = gc_type_scalar(GC_I32);
        c->step = gc_graph_make(b->graph, GC_OP_INPUT, NULL, 0, NULL, &t, GC_STEP_INPUT, b->loc, b->err);
        if (!c->step) return 0;
    }
    gc_attr a;
    memset(&a, 0, sizeof a);
    a.random.seed = (int64_t)c->seed;
    a.random.stream = c->next_stream++;
    gc_type t = x->type;
    gc_node *r = gc_build(b, GC_OP_RANDOM_UNIFORM, &c->step, 1, &a, &t);
    gc_node *keep = gc_binary(b, GC_OP_GE, r, gc_scalar(b, GC_F32, ratio));
    gc_node *y = gc_binary(b, GC_OP_MUL, x, gc_mul_scalar(b, keep, 1.0 / (1.0 - ratio)));
    return gc_onnx_set_node(I, 0, y, I->in[0]->et) && (I->nout < 2 || gc_onnx_set_node(I, 1, keep, GC_ONNX_BOOL));
}

/* [C] shaped to broadcast along axis 1 of rank dims. */
static gc_node *per_channel(importer *I, gc_node *v, int rank) {
    int64_t d[GC_MAX_RANK];
    for (int i = 0; i < rank; i++) d[i] = 1;
    d[1] = v->type.dims[0];
    return gc_reshape(B(I), v, rank, d);
}

/* The name of a buffer source node without the import's prefix: what its update output is named. */
static const char *buffer_name(const gc_node *n) { return n && n->op == GC_OP_BUFFER ? n->name : NULL; }

/* BatchNormalization as torch's nn.BatchNorm: in training (the file says so and this is the
 * training graph) batch statistics, and the running ones updated with torch's momentum
 * (1 - ONNX's) and the unbiased variance; else the running statistics. */
int gc_onnx_lower_batchnorm(importer *I) {
    gc_node *x = gc_onnx_node(I, 0), *scale = gc_onnx_node(I, 1), *bias = gc_onnx_node(I, 2);
    gc_node *mean = gc_onnx_node(I, 3), *var = gc_onnx_node(I, 4);
    if (!x || !scale || !bias || !mean || !var) return 0;
    int rank = x->type.rank;
    if (rank < 2 || x->type.dtype != GC_F32) return gc_onnx_fail(I, "expects a float [N, C, ...] input");
    int64_t ch = x->type.dims[1];
    gc_node *params[4] = {scale, bias, mean, var};
    for (int k = 0; k < 4; k++)
        if (params[k]->type.rank != 1 || params[k]->type.dims[0] != ch)
            return gc_onnx_fail(I, "input %d must be [%lld]", k + 1, (long long)ch);
    double eps = gc_onnx_attr_float(I, "epsilon", 1e-5), momentum = gc_onnx_attr_float(I, "momentum", 0.9);
    bool file_training = I->opset >= 14 ? gc_onnx_attr_int(I, "training_mode", 0) != 0
                                        : I->nout > 1 && I->node->output[1] && *I->node->output[1];
    gc_builder *b = B(I);
    gc_node *y;
    if (!(file_training && I->c->training)) {
        gc_node *inv_std = gc_unary(b, GC_OP_RSQRT, gc_add_scalar(b, var, eps));
        y = gc_binary(b, GC_OP_MUL, gc_binary(b, GC_OP_SUB, x, per_channel(I, mean, rank)), per_channel(I, inv_std, rank));
        y = gc_binary(b, GC_OP_ADD, gc_binary(b, GC_OP_MUL, y, per_channel(I, scale, rank)), per_channel(I, bias, rank));
        if (!gc_onnx_set_node(I, 0, y, GC_ONNX_FLOAT)) return 0;
        for (int k = 1; k < I->nout; k++) gc_onnx_set_missing(I, k, "a training output of BatchNormalization in an eval graph");
        return 1;
    }
    uint32_t axes = ((1u << rank) - 1) & ~2u;
    int64_t count = gc_type_numel(&x->type) / ch;
    gc_node *bmean = gc_reduce(b, GC_OP_MEAN, x, axes, true);
    gc_node *centered = gc_binary(b, GC_OP_SUB, x, bmean);
    gc_node *bvar = gc_reduce(b, GC_OP_MEAN, gc_unary(b, GC_OP_SQUARE, centered), axes, true);
    y = gc_binary(b, GC_OP_MUL, centered, gc_unary(b, GC_OP_RSQRT, gc_add_scalar(b, bvar, eps)));
    y = gc_binary(b, GC_OP_ADD, gc_binary(b, GC_OP_MUL, y, per_channel(I, scale, rank)), per_channel(I, bias, rank));
    gc_node *mean_c = gc_reshape(b, bmean, 1, &ch), *var_c = gc_reshape(b, bvar, 1, &ch);
    double unbiased = count > 1 ? (double)count / (double)(count - 1) : 1.0;
    /* torch's momentum (0.1 for ONNX's 0.9) as torch's module holds it, and 1 - it as torch keeps. */
    char text[32];
    snprintf(text, sizeof text, "%.15g", 1 - momentum);
    double torch_momentum = strtod(text, NULL), keep = 1 - torch_momentum;
    gc_node *new_mean = gc_binary(b, GC_OP_ADD, gc_mul_scalar(b, mean, keep), gc_mul_scalar(b, mean_c, torch_momentum));
    gc_node *new_var = gc_binary(b, GC_OP_ADD, gc_mul_scalar(b, var, keep),
                                 gc_mul_scalar(b, gc_mul_scalar(b, var_c, unbiased), torch_momentum));
    if (!gc_onnx_set_node(I, 0, y, GC_ONNX_FLOAT) || !gc_onnx_set_node(I, 1, new_mean, GC_ONNX_FLOAT) ||
        !gc_onnx_set_node(I, 2, new_var, GC_ONNX_FLOAT))
        return 0;
    if (I->opset < 14) {
        /* saved_mean and saved_var (opset 9 to 13): the batch's mean and inverse standard deviation. */
        gc_onnx_set_node(I, 3, mean_c, GC_ONNX_FLOAT);
        if (I->nout > 4 && I->node->output[4] && *I->node->output[4])
            gc_onnx_set_node(I, 4, gc_unary(b, GC_OP_RSQRT, gc_add_scalar(b, var_c, eps)), GC_ONNX_FLOAT);
    }
    /* Running statistics that are buffers (initializers) are updated; num_batches_tracked beside
     * them, as torch's state_dict has it. */
    const char *mean_name = buffer_name(mean), *var_name = buffer_name(var);
    if (mean_name && !gc_layer_buffer_update(I->c, mean_name, new_mean)) return 0;
    if (var_name && !gc_layer_buffer_update(I->c, var_name, new_var)) return 0;
    size_t len = mean_name ? strlen(mean_name) : 0, suffix = strlen("running_mean");
    if (len > suffix && !strcmp(mean_name + len - suffix, "running_mean")) {
        char name[512];
        snprintf(name, sizeof name, "%.*snum_batches_tracked", (int)(len - suffix), mean_name);
        gc_type count_type = gc_type_scalar(GC_I32);
        gc_init zeros = {GC_INIT_ZEROS, 0, 0};
        gc_node *tracked = gc_layer_buffer(I->c, name, "onnx", &count_type, zeros);
        if (!tracked || !gc_layer_buffer_update(I->c, name, gc_add_scalar(b, tracked, 1.0))) return 0;
    }
    return 1;
}

/* LayerNormalization (opset 17): normalised over the dims from axis on. */
int gc_onnx_lower_layernorm(importer *I) {
    gc_node *x = gc_onnx_node(I, 0), *scale = x ? gc_onnx_node(I, 1) : NULL;
    if (!scale) return 0;
    int rank = x->type.rank, axis;
    if (!gc_onnx_axis(I, gc_onnx_attr_int(I, "axis", -1), rank, &axis)) return 0;
    double eps = gc_onnx_attr_float(I, "epsilon", 1e-5);
    uint32_t axes = ((1u << rank) - 1) & ~((1u << axis) - 1);
    gc_builder *b = B(I);
    gc_node *mean = gc_reduce(b, GC_OP_MEAN, x, axes, true);
    gc_node *centered = gc_binary(b, GC_OP_SUB, x, mean);
    gc_node *var = gc_reduce(b, GC_OP_MEAN, gc_unary(b, GC_OP_SQUARE, centered), axes, true);
    gc_node *inv_std = gc_unary(b, GC_OP_RSQRT, gc_add_scalar(b, var, eps));
    gc_node *y = gc_binary(b, GC_OP_MUL, gc_binary(b, GC_OP_MUL, centered, inv_std), scale);
    if (gc_onnx_has_input(I, 2)) y = gc_binary(b, GC_OP_ADD, y, gc_onnx_node(I, 2));
    return gc_onnx_set_node(I, 0, y, GC_ONNX_FLOAT) && (I->nout < 2 || gc_onnx_set_node(I, 1, mean, GC_ONNX_FLOAT)) &&
           (I->nout < 3 || gc_onnx_set_node(I, 2, inv_std, GC_ONNX_FLOAT));
}
