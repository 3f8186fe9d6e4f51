/*
 * interp_movement.c: kernels of the data-movement ops (reshape, permute, broadcast, slice, pad,
 * concat), of the row gather/scatter pair (take, scatter_add) and of one_hot.
 *
 * Most are an odometer walk over the result reading the operand through strides chosen so the
 * walk lands on the right element; indices that come from data are range-checked, never trusted.
 */
#include <string.h>

#include "runtime/interp_kernels.h"

static int64_t numel(const gc_type *t) { return gc_type_numel(t); }

/* out[i] = x[offset of the iterator at i] over the whole result. */
static void gather(const gc_type *result, const double *x, int64_t base, const int64_t *strides, double *out) {
    interp_iter it;
    interp_iter_init(&it, result);
    interp_iter_add(&it, strides);
    int64_t count = numel(result);
    for (int64_t i = 0; i < count; i++, interp_iter_next(&it)) out[i] = x[base + it.off[0]];
}

int interp_reshape(const gc_node *n, const double *const *in, double *out, gc_error *err) {
    memcpy(out, in[0], sizeof *out * (size_t)numel(&n->type));
    return 1;
}

/* One process's share: the step's hooks add the other processes' after it (GC_HOOK_ALL_REDUCE). */
int interp_all_reduce_sum(const gc_node *n, const double *const *in, double *out, gc_error *err) {
    (void)err;
    memcpy(out, in[0], sizeof *out * (size_t)numel(&n->type));
    return 1;
}

/* Result dim i walks operand dim perm[i]. */
int interp_permute(const gc_node *n, const double *const *in, double *out, gc_error *err) {
    int64_t own[GC_MAX_RANK], strides[GC_MAX_RANK];
    gc_type_strides(&n->inputs[0]->type, own);
    for (int d = 0; d < n->type.rank; d++) strides[d] = own[n->attr.permute.perm[d]];
    gather(&n->type, in[0], 0, strides, out);
    return 1;
}

int interp_broadcast(const gc_node *n, const double *const *in, double *out, gc_error *err) {
    int64_t strides[GC_MAX_RANK];
    interp_broadcast_strides(&n->inputs[0]->type, &n->type, strides);
    gather(&n->type, in[0], 0, strides, out);
    return 1;
}

int interp_slice(const gc_node *n, const double *const *in, double *out, gc_error *err) {
    int64_t strides[GC_MAX_RANK];
    gc_type_strides(&n->inputs[0]->type, strides);
    const gc_attr_slice *s = &n->attr.slice;
    gather(&n->type, in[0], s->start * strides[s->axis], strides, out);
    return 1;
}

int interp_pad(const gc_node *n, const double *const *in, double *out, gc_error *err) {
    const gc_attr_pad *p = &n->attr.pad;
    const gc_type *tx = &n->inputs[0]->type;
    int64_t strides[GC_MAX_RANK];
    gc_type_strides(tx, strides);
    interp_iter it;
    interp_iter_init(&it, &n->type);
    interp_iter_add(&it, strides);
    int64_t count = numel(&n->type);
    /* Index j along the axis reads operand index j - before, when that is inside the operand. */
    for (int64_t i = 0; i < count; i++, interp_iter_next(&it)) {
        int64_t j = it.idx[p->axis] - p->before;
        out[i] = (j >= 0 && j < tx->dims[p->axis]) ? in[0][it.off[0] - p->before * strides[p->axis]] : 0.0;
    }
    return 1;
}

/* Each operand is a run of `len` elements per outer index; the result interleaves the runs. */
int interp_concat(const gc_node *n, const double *const *in, double *out, gc_error *err) {
    int axis = n->attr.axis.axis;
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++) outer *= n->type.dims[d];
    for (int d = axis + 1; d < n->type.rank; d++) inner *= n->type.dims[d];
    int64_t row = n->type.dims[axis] * inner, at = 0;
    for (int k = 0; k < n->num_inputs; k++) {
        int64_t len = n->inputs[k]->type.dims[axis] * inner;
        for (int64_t o = 0; o < outer; o++)
            memcpy(out + o * row + at, in[k] + o * len, sizeof *out * (size_t)len);
        at += len;
    }
    return 1;
}

/* Row r of a table whose first dim is `rows`, or -1 when the index is out of range. */
static int64_t row_index(double idx, int64_t rows) {
    return (idx >= 0 && idx < (double)rows) ? (int64_t)idx : -1;
}

int interp_take(const gc_node *n, const double *const *in, double *out, gc_error *err) {
    const gc_type *table = &n->inputs[0]->type, *idx = &n->inputs[1]->type;
    int64_t width = numel(table) / table->dims[0], count = numel(idx);
    for (int64_t i = 0; i < count; i++) {
        int64_t r = row_index(in[1][i], table->dims[0]);
        if (r >= 0)
            memcpy(out + i * width, in[0] + r * width, sizeof *out * (size_t)width);
        else
            memset(out + i * width, 0, sizeof *out * (size_t)width);
    }
    return 1;
}

int interp_scatter_add(const gc_node *n, const double *const *in, double *out, gc_error *err) {
    const gc_type *idx = &n->inputs[1]->type;
    bool is_int = n->type.dtype == GC_I32;
    int64_t width = numel(&n->type) / n->type.dims[0], count = numel(idx);
    memset(out, 0, sizeof *out * (size_t)numel(&n->type));
    for (int64_t i = 0; i < count; i++) {
        int64_t r = row_index(in[1][i], n->type.dims[0]);
        if (r < 0) continue;
        double *dst = out + r * width;
        const double *src = in[0] + i * width;
        for (int64_t j = 0; j < width; j++)
            dst[j] = is_int ? interp_wrap_i32((int64_t)dst[j] + (int64_t)src[j]) : dst[j] + src[j];
    }
    return 1;
}

/* base, then row idx[i] += updates[i] in index order (exact; the driver rounds the result). */
int interp_index_add(const gc_node *n, const double *const *in, double *out, gc_error *err) {
    const gc_type *idx = &n->inputs[2]->type;
    bool is_int = n->type.dtype == GC_I32;
    int64_t width = numel(&n->type) / n->type.dims[0], count = numel(idx);
    memcpy(out, in[0], sizeof *out * (size_t)numel(&n->type));
    for (int64_t i = 0; i < count; i++) {
        int64_t r = row_index(in[2][i], n->type.dims[0]);
        if (r < 0) continue;
        double *dst = out + r * width;
        const double *src = in[1] + i * width;
        for (int64_t j = 0; j < width; j++)
            dst[j] = is_int ? interp_wrap_i32((int64_t)dst[j] + (int64_t)src[j]) : dst[j] + src[j];
    }
    return 1;
}

int interp_one_hot(const gc_node *n, const double *const *in, double *out, gc_error *err) {
    int64_t depth = n->attr.one_hot.depth, count = numel(&n->inputs[0]->type);
    memset(out, 0, sizeof *out * (size_t)numel(&n->type));
    for (int64_t i = 0; i < count; i++) {
        int64_t r = row_index(in[0][i], depth);
        if (r >= 0) out[i * depth + r] = 1.0;
    }
    return 1;
}
