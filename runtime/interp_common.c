/*
 * interp_common.c: value conversions and the broadcasting odometer shared by the interpreter's
 * kernels. Conversions are written without any out-of-range float-to-int or double-to-float cast,
 * which C leaves undefined, so the oracle stays defined on every input.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "runtime/interp_kernels.h"

double interp_to_i32(double v) {
    if (isnan(v)) return 0.0;
    if (v >= 2147483647.0) return 2147483647.0;
    if (v <= -2147483648.0) return -2147483648.0;
    return trunc(v);
}

double interp_wrap_i32(int64_t v) {
    uint32_t u = (uint32_t)(uint64_t)v;
    return u >= 0x80000000u ? (double)u - 4294967296.0 : (double)u;
}

double interp_round_f32(double v) {
    if (isfinite(v) && fabs(v) > FLT_MAX) {
        /* FLT_MAX plus half an ulp (2^103) is the point where round-to-nearest overflows. */
        return fabs(v) >= 0x1.ffffffp127 ? copysign(INFINITY, v) : copysign(FLT_MAX, v);
    }
    return (double)(float)v;
}

void interp_broadcast_strides(const gc_type *from, const gc_type *to, int64_t *strides) {
    int64_t own[GC_MAX_RANK];
    gc_type_strides(from, own);
    int lead = to->rank - from->rank;
    for (int d = 0; d < to->rank; d++) {
        int f = d - lead;
        strides[d] = (f >= 0 && from->dims[f] != 1) ? own[f] : 0;
    }
}

void interp_iter_init(interp_iter *it, const gc_type *shape) {
    memset(it, 0, sizeof *it);
    it->rank = shape->rank;
    for (int d = 0; d < shape->rank; d++) it->dims[d] = shape->dims[d];
}

int interp_iter_add(interp_iter *it, const int64_t *strides) {
    int k = it->count++;
    for (int d = 0; d < it->rank; d++) it->strides[k][d] = strides[d];
    it->off[k] = 0;
    return k;
}

void interp_iter_next(interp_iter *it) {
    for (int d = it->rank - 1; d >= 0; d--) {
        it->idx[d]++;
        for (int k = 0; k < it->count; k++) it->off[k] += it->strides[k][d];
        if (it->idx[d] < it->dims[d]) return;
        for (int k = 0; k < it->count; k++) it->off[k] -= it->strides[k][d] * it->dims[d];
        it->idx[d] = 0;
    }
}
