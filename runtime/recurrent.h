/*
 * recurrent.h: the loop over time of the recurrence ops (ir/recurrence.h) for generated code.
 *
 * A recurrence is one kernel that calls gc_recurrence_f32 (or _f64): T steps, each one GEMM of
 * the previous hidden state against w_hh (gc_sgemm) followed by the cell's gate math, all inside
 * this function, so the compiled code does not grow with T. The input projections of all steps
 * are an ordinary matmul outside the op, and so are the weight gradients of the backward loop.
 *
 * Generated code passes the batch rows [r0, r1) it owns: a kernel split over the pool gives each
 * thread whole rows, and since a row's recurrence never reads another row, and gradc's GEMM
 * computes each element the same whatever rows a call covers, any cut gives the same bits.
 */
#ifndef GC_RUNTIME_RECURRENT_H
#define GC_RUNTIME_RECURRENT_H

#include <stdbool.h>
#include <stdint.h>

typedef struct gc_recurrence_dims {
    int64_t batch, steps, hidden;
    int cell; /* gc_cell */
    bool reverse;
} gc_recurrence_dims;

/* backward 0: out = recurrence(a0 xproj, a1 w_hh, a2 b_hh, a3 h0, a4 c0 or NULL);
 * backward 1: out = recurrence_grad(a0 packed, a1 dpacked, a2 w_hh, a3 h0, a4 c0 or NULL).
 * Only batch rows [r0, r1) are read and written. */
void gc_recurrence_f32(int32_t backward, float *out, const float *a0, const float *a1, const float *a2,
                       const float *a3, const float *a4, int64_t batch, int64_t steps, int64_t hidden, int32_t cell,
                       int32_t reverse, int64_t r0, int64_t r1);
void gc_recurrence_f64(int32_t backward, double *out, const double *a0, const double *a1, const double *a2,
                       const double *a3, const double *a4, int64_t batch, int64_t steps, int64_t hidden, int32_t cell,
                       int32_t reverse, int64_t r0, int64_t r1);

#endif
