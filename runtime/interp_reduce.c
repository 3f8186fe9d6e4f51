/*
 * interp_reduce.c: kernels of the reductions (over a bit mask of axes, with or without kept dims)
 * and of the ops that reduce along one axis and broadcast back (argmax, softmax, log_softmax).
 *
 * Reductions walk the operand once and add each element into the result slot its index maps to;
 * the result's layout does not depend on keepdims (kept dims have size 1), so one mapping serves
 * both. Accumulation is in double, rounded once by the driver.
 */
#include <math.h>

#include "runtime/interp_kernels.h"

typedef enum reduce_kind { REDUCE_SUM, REDUCE_MAX, REDUCE_MIN } reduce_kind;

/* Strides into the result for each operand dim: 0 along the reduced axes. */
static void reduce_strides(const gc_type *x, uint32_t axes, int64_t *strides) {
    int64_t s = 1;
    for (int d = x->rank - 1; d >= 0; d--) {
        if (axes & (1u << d)) {
            strides[d] = 0;
        } else {
            strides[d] = s;
            s *= x->dims[d];
        }
    }
}

static int reduce(const gc_node *n, const double *x, double *out, reduce_kind kind) {
    const gc_type *tx = &n->inputs[0]->type;
    bool is_int = tx->dtype == GC_I32;
    int64_t count = gc_type_numel(&n->type), in_count = gc_type_numel(tx);
    double init = kind == REDUCE_SUM ? 0.0 : kind == REDUCE_MAX ? -INFINITY : INFINITY;
    for (int64_t i = 0; i < count; i++) out[i] = init;

    int64_t strides[GC_MAX_RANK];
    reduce_strides(tx, n->attr.reduce.axes, strides);
    interp_iter it;
    interp_iter_init(&it, tx);
    interp_iter_add(&it, strides);
    for (int64_t i = 0; i < in_count; i++, interp_iter_next(&it)) {
        double v = x[i], *acc = &out[it.off[0]];
        switch (kind) {
        case REDUCE_SUM:
            /* Two i32 values add exactly in double; wrapping each partial sum keeps it i32. */
            *acc = is_int ? interp_wrap_i32((int64_t)*acc + (int64_t)v) : *acc + v;
            break;
        case REDUCE_MAX:
            /* Once NaN, stays NaN (NaN > v is false): torch.amax propagates NaN. */
            if (isnan(v) || v > *acc) *acc = v;
            break;
        case REDUCE_MIN:
            if (isnan(v) || v < *acc) *acc = v;
            break;
        }
    }
    return 1;
}

int interp_sum(const gc_node *n, const double *const *in, double *out, gc_error *err) {
    return reduce(n, in[0], out, REDUCE_SUM);
}

int interp_max(const gc_node *n, const double *const *in, double *out, gc_error *err) {
    return reduce(n, in[0], out, REDUCE_MAX);
}

int interp_min(const gc_node *n, const double *const *in, double *out, gc_error *err) {
    return reduce(n, in[0], out, REDUCE_MIN);
}

int interp_mean(const gc_node *n, const double *const *in, double *out, gc_error *err) {
    const gc_type *tx = &n->inputs[0]->type;
    double group = 1.0;
    for (int d = 0; d < tx->rank; d++)
        if (n->attr.reduce.axes & (1u << d)) group *= (double)tx->dims[d];
    reduce(n, in[0], out, REDUCE_SUM);
    int64_t count = gc_type_numel(&n->type);
    for (int64_t i = 0; i < count; i++) out[i] /= group;
    return 1;
}

/* An operand viewed as [outer, len, inner] around one axis. */
typedef struct axis_view {
    int64_t outer, len, inner;
} axis_view;

static axis_view view_axis(const gc_type *t, int axis) {
    axis_view v = {1, t->dims[axis], 1};
    for (int d = 0; d < axis; d++) v.outer *= t->dims[d];
    for (int d = axis + 1; d < t->rank; d++) v.inner *= t->dims[d];
    return v;
}

/* The first maximum; a NaN counts as larger than everything, as torch.argmax. */
int interp_argmax(const gc_node *n, const double *const *in, double *out, gc_error *err) {
    axis_view v = view_axis(&n->inputs[0]->type, n->attr.axis.axis);
    const double *x = in[0];
    for (int64_t o = 0; o < v.outer; o++) {
        for (int64_t j = 0; j < v.inner; j++) {
            const double *row = x + o * v.len * v.inner + j;
            int64_t best = 0;
            for (int64_t k = 1; k < v.len; k++) {
                double b = row[best * v.inner], c = row[k * v.inner];
                if (!isnan(b) && (isnan(c) || c > b)) best = k;
            }
            out[o * v.inner + j] = (double)best;
        }
    }
    return 1;
}

/* Shifts by the maximum so no exponent is positive; log_softmax then never takes log of an
 * underflowed probability. */
static int softmax_common(const gc_node *n, const double *x, double *out, bool log_form) {
    axis_view v = view_axis(&n->type, n->attr.axis.axis);
    for (int64_t o = 0; o < v.outer; o++) {
        for (int64_t j = 0; j < v.inner; j++) {
            int64_t base = o * v.len * v.inner + j;
            double m = -INFINITY;
            for (int64_t k = 0; k < v.len; k++) {
                double c = x[base + k * v.inner];
                if (isnan(c) || c > m) m = c;
                if (isnan(m)) break;
            }
            double sum = 0.0;
            for (int64_t k = 0; k < v.len; k++) sum += exp(x[base + k * v.inner] - m);
            double log_sum = log(sum);
            for (int64_t k = 0; k < v.len; k++) {
                double shifted = x[base + k * v.inner] - m;
                out[base + k * v.inner] = log_form ? shifted - log_sum : exp(shifted) / sum;
            }
        }
    }
    return 1;
}

int interp_softmax(const gc_node *n, const double *const *in, double *out, gc_error *err) {
    return softmax_common(n, in[0], out, false);
}

int interp_log_softmax(const gc_node *n, const double *const *in, double *out, gc_error *err) {
    return softmax_common(n, in[0], out, true);
}
