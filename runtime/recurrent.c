/*
 * recurrent.c: the recurrence loops generated code calls (recurrent.h), for f32 through
 * gc_sgemm and for f64 through OpenBLAS's dgemm.
 */
#include "runtime/recurrent.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "runtime/gemm.h"

#define ROW_MAJOR 101
#define NO_TRANS 111
#define TRANS 112

/* The gates' exp and tanh in float as straight-line arithmetic, so the loops over a step's units
 * vectorise (libm's expf and tanhf are calls, and took two thirds of an LSTM's forward loop).
 * exp: e^x = 2^n e^r with n = round(x / ln 2) and |r| <= ln(2) / 2, e^r by its Taylor series to
 * r^6 (relative error under 2e-7); the argument is clamped to [-87, 88], where e^x is a normal
 * float. tanh: its odd Taylor series to x^11 below |x| = 0.3 (error under 1e-9), else
 * 1 - 2 / (e^2|x| + 1) with x's sign (a few float ulps). */
static inline float fast_expf(float x) {
    x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;
    const float shifter = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float n = (x * 1.44269504088896341f + shifter) - shifter;
    float r = x - n * 0.693145751953125f - n * 1.42860682030941723e-6f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline float fast_tanhf(float x) {
    float a = fabsf(x), x2 = x * x;
    float small = x + x * x2 * (-1.0f / 3 + x2 * (2.0f / 15 + x2 * (-17.0f / 315 + x2 * (62.0f / 2835 + x2 * (-1382.0f / 155925)))));
    float big = copysignf(1.0f - 2.0f / (fast_expf(2.0f * a) + 1.0f), x);
    return a < 0.3f ? small : big;
}

/* ---- W_hh packed once per loop ----
 * Every step multiplies by the same W_hh: packing it for gradc's GEMM once per loop instead of
 * once per step saves a pass over it per step (1 MB for an LSTM of hidden 256). The buffer is
 * per thread (each part of a split recurrence packs its own), kept for the thread's life. */
typedef struct packed_buffer {
    float *data;
    int64_t floats;
} packed_buffer;

static pthread_key_t packed_key;
static pthread_once_t packed_once = PTHREAD_ONCE_INIT;
static bool packed_key_ok;

static void packed_free(void *raw) {
    packed_buffer *p = raw;
    if (p) free(p->data);
    free(p);
}

static void packed_key_init(void) { packed_key_ok = pthread_key_create(&packed_key, packed_free) == 0; }

/* W_hh packed as the B of this loop's products, or NULL (then every step calls gc_sgemm). */
static const float *packed_b(bool trans, int64_t n, int64_t k, const float *b, int64_t ldb) {
    int64_t floats = gc_sgemm_packed_b_floats((int32_t)n, (int32_t)k);
    if (!floats) return NULL;
    pthread_once(&packed_once, packed_key_init);
    if (!packed_key_ok) return NULL;
    packed_buffer *p = pthread_getspecific(packed_key);
    if (!p) {
        if (!(p = calloc(1, sizeof *p))) return NULL;
        if (pthread_setspecific(packed_key, p) != 0) {
            free(p);
            return NULL;
        }
    }
    if (p->floats < floats) {
        void *data = NULL;
        if (posix_memalign(&data, 64, sizeof(float) * (size_t)floats) != 0) return NULL;
        free(p->data);
        p->data = data;
        p->floats = floats;
    }
    return gc_sgemm_pack_b(trans ? TRANS : NO_TRANS, (int32_t)n, (int32_t)k, b, (int32_t)ldb, p->data) ? p->data
                                                                                                        : NULL;
}

#define RC_REAL float
#define RC_NAME(x) x##_f32
#define RC_PACK_B(trans, n, k, b, ldb) const float *rc_b = packed_b(trans, n, k, b, ldb)
#define RC_EXP fast_expf
#define RC_TANH fast_tanhf
#define RC_GEMM_NT(m, n, k, a, lda, b, ldb, beta, c, ldc)                                                            \
    f32_gemm(true, rc_b, m, n, k, a, lda, b, ldb, beta, c, ldc)
#define RC_GEMM_NN(m, n, k, a, lda, b, ldb, beta, c, ldc)                                                            \
    f32_gemm(false, rc_b, m, n, k, a, lda, b, ldb, beta, c, ldc)

/* C = A op(B) + beta C: against B packed once when there is one, else through gc_sgemm. */
static void f32_gemm(bool trans_b, const float *packed, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                     const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    if (packed && gc_sgemm_packed_b((int32_t)m, (int32_t)n, (int32_t)k, a, (int32_t)lda, packed, beta, c, (int32_t)ldc))
        return;
    gc_sgemm(ROW_MAJOR, NO_TRANS, trans_b ? TRANS : NO_TRANS, (int32_t)m, (int32_t)n, (int32_t)k, 1.0f, a, (int32_t)lda,
             b, (int32_t)ldb, beta, c, (int32_t)ldc);
}
#include "runtime/recurrent_body.h"
#undef RC_PACK_B
#undef RC_REAL
#undef RC_NAME
#undef RC_EXP
#undef RC_TANH
#undef RC_GEMM_NT
#undef RC_GEMM_NN

#define RC_REAL double
#define RC_NAME(x) x##_f64
#define RC_PACK_B(trans, n, k, b, ldb) (void)0
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
