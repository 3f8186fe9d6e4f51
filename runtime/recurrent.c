/*
 * recurrent.c: the recurrence loops generated code calls (recurrent.h), for f32 through
 * gc_sgemm and for f64 through OpenBLAS's dgemm.
 */
#include "runtime/recurrent.h"

#include <math.h>

#include <cblas.h>

#include "runtime/gemm.h"

#define ROW_MAJOR 101
#define NO_TRANS 111
#define TRANS 112

#define RC_REAL float
#define RC_NAME(x) x##_f32
#define RC_EXP expf
#define RC_TANH tanhf
#define RC_GEMM_NT(m, n, k, a, lda, b, ldb, beta, c, ldc)                                                            \
    gc_sgemm(ROW_MAJOR, NO_TRANS, TRANS, (int32_t)(m), (int32_t)(n), (int32_t)(k), 1.0f, a, (int32_t)(lda), b,      \
             (int32_t)(ldb), beta, c, (int32_t)(ldc))
#define RC_GEMM_NN(m, n, k, a, lda, b, ldb, beta, c, ldc)                                                            \
    gc_sgemm(ROW_MAJOR, NO_TRANS, NO_TRANS, (int32_t)(m), (int32_t)(n), (int32_t)(k), 1.0f, a, (int32_t)(lda), b,   \
             (int32_t)(ldb), beta, c, (int32_t)(ldc))
#include "runtime/recurrent_body.h"
#undef RC_REAL
#undef RC_NAME
#undef RC_EXP
#undef RC_TANH
#undef RC_GEMM_NT
#undef RC_GEMM_NN

#define RC_REAL double
#define RC_NAME(x) x##_f64
#define RC_EXP exp
#define RC_TANH tanh
#define RC_GEMM_NT(m, n, k, a, lda, b, ldb, beta, c, ldc)                                                            \
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(m), (int)(n), (int)(k), 1.0, a, (int)(lda), b,       \
                (int)(ldb), beta, c, (int)(ldc))
#define RC_GEMM_NN(m, n, k, a, lda, b, ldb, beta, c, ldc)                                                            \
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(m), (int)(n), (int)(k), 1.0, a, (int)(lda), b,     \
                (int)(ldb), beta, c, (int)(ldc))
#include "runtime/recurrent_body.h"

void gc_recurrence_f32(int32_t backward, float *out, const float *a0, const float *a1, const float *a2,
                       const float *a3, const float *a4, int64_t batch, int64_t steps, int64_t hidden, int32_t cell,
                       int32_t reverse, int64_t r0, int64_t r1) {
    gc_recurrence_dims d = {batch, steps, hidden, cell, reverse != 0};
    if (backward)
        backward_f32(&d, out, a0, a1, a2, a3, a4, r0, r1);
    else
        forward_f32(&d, out, a0, a1, a2, a3, a4, r0, r1);
}

void gc_recurrence_f64(int32_t backward, double *out, const double *a0, const double *a1, const double *a2,
                       const double *a3, const double *a4, int64_t batch, int64_t steps, int64_t hidden, int32_t cell,
                       int32_t reverse, int64_t r0, int64_t r1) {
    gc_recurrence_dims d = {batch, steps, hidden, cell, reverse != 0};
    if (backward)
        backward_f64(&d, out, a0, a1, a2, a3, a4, r0, r1);
    else
        forward_f64(&d, out, a0, a1, a2, a3, a4, r0, r1);
}
