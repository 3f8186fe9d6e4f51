/*
 * lower_pool.c: pooling, flatten and pad (torch.nn.functional's) to IR ops.
 *
 *   max_pool1d/2d avg_pool1d/2d   max_pool / avg_pool over [N, C, *spatial]; an unbatched
 *                                 [C, *spatial] gains and then loses a batch dim of 1, as torch
 *   adaptive_avg_pool1d/2d        avg_pool when every dim divides evenly; otherwise, per spatial
 *                                 dim, a matmul with a constant [out, L] averaging matrix built
 *                                 from iota and compares (torch's windows floor(i L / out) to
 *                                 ceil((i + 1) L / out)), so the graph does not grow with the
 *                                 output size
 *   flatten                       reshape
 *   pad                           slice for negative pads, pad for positive ones, and a select
 *                                 against a padded mask of ones for a nonzero value
 * Windows are checked here, against the builtin's own name, so errors point at the call.
 */
#include <stdio.h>
#include <string.h>

#include "frontend/lower_internal.h"
#include "ir/build.h"
#include "ir/pool.h"

static int tensor_result(lval *out, gc_node *n) {
    out->kind = LV_TENSOR;
    out->node = n;
    return n != NULL;
}

static int fail_type(lowerer *L, const lower_args *a, const char *what, const gc_type *t) {
    char s[96];
    return gc_fail(L->err, GC_ERR_USER, a->call->loc, "%s: %s, got %s", a->fn->name, what, gc_type_format(t, s, sizeof s));
}

/* Argument i (an int, a list of one int or of `spatial` ints, or none for `fallback`) as one
 * entry per spatial dim. */
static int spatial_arg(lowerer *L, const lower_args *a, int i, int spatial, const int64_t *fallback, int64_t *out) {
    const gc_const_value *v = &a->vals[i].cv;
    if (fallback && (v->kind == GC_CV_NONE || (v->kind == GC_CV_LIST && v->list.n == 0))) {
        for (int d = 0; d < spatial; d++) out[d] = fallback[d];
        return 1;
    }
    if (v->kind == GC_CV_INT) {
        for (int d = 0; d < spatial; d++) out[d] = v->i;
        return 1;
    }
    if (v->list.n != 1 && v->list.n != spatial)
        return gc_fail(L->err, GC_ERR_USER, gc_lower_arg_loc(a, i), "%s: %s takes one integer or %d, got a list of %d",
                       a->fn->name, a->fn->params[i].name, spatial, v->list.n);
    for (int d = 0; d < spatial; d++) out[d] = v->list.items[v->list.n == 1 ? 0 : d].i;
    return 1;
}

/* x as [N, C, *spatial]: an unbatched operand gets a batch dim of 1 (*unbatched set). */
static gc_node *batched(lowerer *L, const lower_args *a, gc_node *x, int spatial, bool *unbatched) {
    if (!x) return NULL;
    *unbatched = x->type.rank == spatial + 1;
    if (x->type.rank != spatial + 2 && !*unbatched) {
        fail_type(L, a, spatial == 1 ? "needs [N, C, L] or [C, L]" : "needs [N, C, H, W] or [C, H, W]", &x->type);
        return NULL;
    }
    if (!gc_dtype_is_float(x->type.dtype)) {
        fail_type(L, a, "needs a float tensor", &x->type);
        return NULL;
    }
    if (!*unbatched) return x;
    int64_t dims[GC_MAX_RANK] = {1};
    for (int d = 0; d < x->type.rank; d++) dims[d + 1] = x->type.dims[d];
    return gc_reshape(&L->ctx.b, x, x->type.rank + 1, dims);
}

static gc_node *unbatched_result(lowerer *L, gc_node *y, bool unbatched) {
    if (!y || !unbatched) return y;
    return gc_reshape(&L->ctx.b, y, y->type.rank - 1, y->type.dims + 1);
}

/* max_pool1d/2d(x, kernel, stride, padding, dilation, ceil_mode) and
 * avg_pool1d/2d(x, kernel, stride, padding, ceil_mode, count_include_pad). */
static int lower_pool(lowerer *L, lower_args *a, lval *out, int spatial, bool avg) {
    bool unbatched;
    gc_node *x = batched(L, a, gc_lower_arg_tensor(L, a, 0, GC_F32), spatial, &unbatched);
    if (!x) return 0;
    gc_attr attr;
    memset(&attr, 0, sizeof attr);
    gc_attr_pool *p = &attr.pool;
    if (!spatial_arg(L, a, 1, spatial, NULL, p->kernel) || !spatial_arg(L, a, 2, spatial, p->kernel, p->stride) ||
        !spatial_arg(L, a, 3, spatial, NULL, p->padding))
        return 0;
    if (avg) {
        for (int d = 0; d < spatial; d++) p->dilation[d] = 1;
        p->ceil_mode = gc_lower_arg_bool(a, 4);
        p->count_include_pad = gc_lower_arg_bool(a, 5);
    } else {
        if (!spatial_arg(L, a, 4, spatial, NULL, p->dilation)) return 0;
        p->ceil_mode = gc_lower_arg_bool(a, 5);
        p->count_include_pad = true; /* max_pool has none; true is the attribute's canonical value */
    }
    gc_type pooled;
    if (!gc_pool_check(a->fn->name, p, &x->type, avg, &pooled, a->call->loc, L->err)) return 0;
    gc_node *y = gc_build(&L->ctx.b, avg ? GC_OP_AVG_POOL : GC_OP_MAX_POOL, &x, 1, &attr, NULL);
    return tensor_result(out, unbatched_result(L, y, unbatched));
}

/* The [out, in] matrix whose row i averages torch's adaptive window i of a dim of size `in`:
 * columns floor(i in / out) <= j < ceil((i + 1) in / out) hold 1 / their count. */
static gc_node *averaging_matrix(lowerer *L, int64_t out, int64_t in, gc_dtype dtype) {
    gc_builder *b = &L->ctx.b;
    int64_t dims[2] = {out, in};
    gc_type ti = gc_type_make(GC_I32, 2, dims);
    gc_attr row, col;
    memset(&row, 0, sizeof row);
    memset(&col, 0, sizeof col);
    col.axis.axis = 1;
    gc_node *i = gc_build(b, GC_OP_IOTA, NULL, 0, &row, &ti), *j = gc_build(b, GC_OP_IOTA, NULL, 0, &col, &ti);
    gc_node *start = gc_binary(b, GC_OP_DIV, gc_binary(b, GC_OP_MUL, i, gc_scalar(b, GC_I32, (double)in)),
                               gc_scalar(b, GC_I32, (double)out));
    gc_node *i1 = gc_binary(b, GC_OP_ADD, i, gc_scalar(b, GC_I32, 1));
    gc_node *end = gc_binary(b, GC_OP_DIV,
                             gc_binary(b, GC_OP_ADD, gc_binary(b, GC_OP_MUL, i1, gc_scalar(b, GC_I32, (double)in)),
                                       gc_scalar(b, GC_I32, (double)(out - 1))),
                             gc_scalar(b, GC_I32, (double)out));
    gc_node *inside = gc_binary(b, GC_OP_MUL, gc_binary(b, GC_OP_GE, j, start), gc_binary(b, GC_OP_LT, j, end));
    gc_node *count = gc_cast(b, gc_binary(b, GC_OP_SUB, end, start), GC_F32);
    gc_node *m = gc_binary(b, GC_OP_DIV, inside, count);
    return dtype == GC_F32 ? m : gc_cast(b, m, dtype);
}

static int lower_adaptive(lowerer *L, lower_args *a, lval *out, int spatial) {
    bool unbatched;
    gc_node *x = batched(L, a, gc_lower_arg_tensor(L, a, 0, GC_F32), spatial, &unbatched);
    if (!x) return 0;
    int64_t size[GC_MAX_SPATIAL] = {0};
    if (!spatial_arg(L, a, 1, spatial, NULL, size)) return 0;
    bool even = true;
    for (int d = 0; d < spatial; d++) {
        int64_t in = x->type.dims[d + 2];
        if (size[d] < 1 || size[d] > GC_MAX_ELEMENTS)
            return gc_fail(L->err, GC_ERR_USER, gc_lower_arg_loc(a, 1), "%s: output sizes must be positive, got %lld",
                           a->fn->name, (long long)size[d]);
        if (in * size[d] > INT32_MAX)
            return gc_fail(L->err, GC_ERR_USER, gc_lower_arg_loc(a, 1), "%s: input size %lld times output size %lld exceeds 2^31",
                           a->fn->name, (long long)in, (long long)size[d]);
        even = even && in % size[d] == 0;
    }
    gc_builder *b = &L->ctx.b;
    gc_node *y = x;
    if (even) {
        /* Equal windows side by side: the plain pool, window = stride = L / out. */
        gc_attr attr;
        memset(&attr, 0, sizeof attr);
        for (int d = 0; d < spatial; d++) {
            attr.pool.kernel[d] = attr.pool.stride[d] = x->type.dims[d + 2] / size[d];
            attr.pool.dilation[d] = 1;
        }
        attr.pool.count_include_pad = true;
        y = gc_build(b, GC_OP_AVG_POOL, &x, 1, &attr, NULL);
    } else {
        /* Separable: the last dim as y @ A^T, the one before as A @ y (batched over N and C). */
        int last = x->type.rank - 1;
        y = gc_matmul(b, y, averaging_matrix(L, size[spatial - 1], x->type.dims[last], x->type.dtype), false, true);
        if (spatial == 2)
            y = gc_matmul(b, averaging_matrix(L, size[0], x->type.dims[last - 1], x->type.dtype), y, false, false);
    }
    return tensor_result(out, unbatched_result(L, y, unbatched));
}

static int lower_flatten(lowerer *L, lower_args *a, lval *out) {
    gc_node *x = gc_lower_arg_tensor(L, a, 0, GC_F32);
    if (!x) return 0;
    int rank = x->type.rank;
    if (rank == 0) {
        /* torch.flatten of a scalar is a one-element vector. */
        int64_t one = 1;
        return tensor_result(out, gc_reshape(&L->ctx.b, x, 1, &one));
    }
    int start, end;
    if (!gc_lower_axis(L, a, 1, rank, &start) || !gc_lower_axis(L, a, 2, rank, &end)) return 0;
    if (start > end)
        return gc_fail(L->err, GC_ERR_USER, a->call->loc, "flatten: start_dim %lld comes after end_dim %lld",
                       (long long)gc_lower_arg_int(a, 1), (long long)gc_lower_arg_int(a, 2));
    int64_t dims[GC_MAX_RANK];
    int n = 0;
    for (int d = 0; d < rank; d++) {
        if (d > start && d <= end) dims[n - 1] *= x->type.dims[d];
        else dims[n++] = x->type.dims[d];
    }
    return tensor_result(out, n == rank ? x : gc_reshape(&L->ctx.b, x, n, dims));
}

static int lower_pad(lowerer *L, lower_args *a, lval *out) {
    gc_node *x = gc_lower_arg_tensor(L, a, 0, GC_F32);
    if (!x) return 0;
    const gc_const_value *pads = &a->vals[1].cv;
    int rank = x->type.rank;
    if (pads->list.n % 2 || pads->list.n / 2 > rank) {
        char t[96];
        return gc_fail(L->err, GC_ERR_USER, gc_lower_arg_loc(a, 1),
                       "pad: pads needs an even number of entries, at most 2 per dim of %s, got %d",
                       gc_type_format(&x->type, t, sizeof t), pads->list.n);
    }
    gc_builder *b = &L->ctx.b;
    double value = gc_lower_arg_num(a, 2);
    gc_node *mask = NULL;
    /* Crops first: a dim may be cropped on one side and padded on the other. */
    for (int k = 0; k < pads->list.n / 2; k++) {
        int d = rank - 1 - k;
        int64_t before = pads->list.items[2 * k].i, after = pads->list.items[2 * k + 1].i;
        int64_t size = x->type.dims[d] + before + after;
        if (size < 1 || size > GC_MAX_ELEMENTS || before > GC_MAX_ELEMENTS || after > GC_MAX_ELEMENTS) {
            char t[96];
            return gc_fail(L->err, GC_ERR_USER, gc_lower_arg_loc(a, 1),
                           "pad: dim %d of %s padded by (%lld, %lld) would have size %lld", d,
                           gc_type_format(&x->type, t, sizeof t), (long long)before, (long long)after, (long long)size);
        }
        int64_t lo = before < 0 ? -before : 0, hi = x->type.dims[d] - (after < 0 ? -after : 0);
        if (lo > 0 || hi < x->type.dims[d]) x = gc_slice(b, x, d, lo, hi);
        if (!x) return 0;
    }
    for (int k = 0; k < pads->list.n / 2; k++) {
        int d = rank - 1 - k;
        int64_t before = pads->list.items[2 * k].i, after = pads->list.items[2 * k + 1].i;
        before = before > 0 ? before : 0;
        after = after > 0 ? after : 0;
        if (!before && !after) continue;
        if (value != 0.0 && !mask) {
            gc_type ones = x->type;
            ones.dtype = GC_F32; /* select's condition */
            mask = gc_fill(b, &ones, 1.0);
        }
        x = gc_pad(b, x, d, before, after);
        if (mask) mask = gc_pad(b, mask, d, before, after);
    }
    if (mask && x) x = gc_select(b, mask, x, gc_scalar(b, x->type.dtype, value));
    return tensor_result(out, x);
}

int gc_lower_pool_op(lowerer *L, lower_args *a, lval *out) {
    switch (a->fn->id) {
    case GC_BUILTIN_MAX_POOL1D: return lower_pool(L, a, out, 1, false);
    case GC_BUILTIN_MAX_POOL2D: return lower_pool(L, a, out, 2, false);
    case GC_BUILTIN_AVG_POOL1D: return lower_pool(L, a, out, 1, true);
    case GC_BUILTIN_AVG_POOL2D: return lower_pool(L, a, out, 2, true);
    case GC_BUILTIN_ADAPTIVE_AVG_POOL1D: return lower_adaptive(L, a, out, 1);
    case GC_BUILTIN_ADAPTIVE_AVG_POOL2D: return lower_adaptive(L, a, out, 2);
    case GC_BUILTIN_FLATTEN: return lower_flatten(L, a, out);
    case GC_BUILTIN_PAD: return lower_pad(L, a, out);
    default: return -1;
    }
}
