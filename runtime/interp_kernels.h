/*
 * interp_kernels.h: private to the reference interpreter — the kernel signature, one prototype per
 * op expanded from ir/ops.def, and the index helpers the kernels share.
 *
 * Every kernel computes in double from double operands into `out` (numel of n->type elements,
 * zero-filled before the first run but holding the previous run's values after that, so kernels
 * write every element). The driver in interp.c rounds f32 results to float and i32 results to
 * integers afterwards, so kernels compute the exact value and leave the rounding to it; kernels
 * with i32 semantics of their own (wrapping arithmetic, truncating division) do them here.
 */
#ifndef GC_RUNTIME_INTERP_KERNELS_H
#define GC_RUNTIME_INTERP_KERNELS_H

#include <stdint.h>

#include "ir/graph.h"

typedef int (*interp_kernel)(const gc_node *n, const double *const *in, double *out, gc_error *err);

#define GC_OP(E, name, ...) int interp_##name(const gc_node *n, const double *const *in, double *out, gc_error *err);
#include "ir/ops.def"
#undef GC_OP

/* A double as an i32 value: truncated toward zero, saturated to the i32 range, NaN to 0. */
double interp_to_i32(double v);
/* An exact integer reduced to i32 by two's-complement wrap-around, as i32 arithmetic does. */
double interp_wrap_i32(int64_t v);
/* A double rounded to the nearest float (to +-inf beyond the float range, as IEEE conversion). */
double interp_round_f32(double v);

/* Strides (in elements) that read a row-major `from` while walking the dims of `to`, where from
 * broadcasts to `to` by NumPy rules: stride 0 along dims `from` lacks or has as 1. */
void interp_broadcast_strides(const gc_type *from, const gc_type *to, int64_t *strides);

/* An odometer over the dims of a shape that keeps an offset per operand up to date. */
#define INTERP_ITER_MAX 3
typedef struct interp_iter {
    int rank;
    int count; /* operands */
    int64_t dims[GC_MAX_RANK];
    int64_t idx[GC_MAX_RANK];
    int64_t strides[INTERP_ITER_MAX][GC_MAX_RANK];
    int64_t off[INTERP_ITER_MAX];
} interp_iter;

/* Starts at index 0 of `shape` with no operands. */
void interp_iter_init(interp_iter *it, const gc_type *shape);
/* Adds an operand read with `strides` (rank of the shape entries); returns its slot. */
int interp_iter_add(interp_iter *it, const int64_t *strides);
/* Moves to the next index in row-major order (wrapping to 0 after the last). */
void interp_iter_next(interp_iter *it);

#endif
