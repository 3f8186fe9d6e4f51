/*
 * gemm_bf16.c: gc_sgemm_bf16, the bf16-operand, f32-accumulation GEMM of mixed precision (see
 * gemm_bf16.h for what it computes and which kernel runs where).
 *
 * The blocking is gemm.c's (Goto; BLIS) with bf16 panels: K is taken in pairs, and a packed panel
 * holds, for each pair of k, both values side by side in one 32-bit word, the layout vdpbf16ps
 * multiplies: the A panel has MR words per pair (one per row, broadcast by the kernel), the B panel
 * NR words per pair (two zmm registers). Rounding to bf16 happens while packing: for the
 * avx512_bf16 kernel by vcvtne2ps2bf16 (32 values an instruction; it counts subnormal inputs as
 * zero, as vdpbf16ps does with bf16 ones), for the others with integer arithmetic (add 0x7fff plus
 * the lowest kept bit, keep the upper half), torch's rule exactly. An odd K's last pair is
 * completed with zeros. With K blocks of 256 rows against M3's 256-token products, packing is a
 * third of the time with the integer rounding and a sixth with the instruction (1.3-1.5x over f32
 * becomes 1.7-1.9x).
 *
 * Packing reads f32 rows of 32 values (16 pairs), rounds them, gathers the upper halves into pair
 * words with one vpermt2w, and transposes 16 x 16 words in registers where the layout needs it,
 * like gemm.c's packing, so every transpose case packs at memory speed.
 *
 * KC is 768, a B panel of 48 KiB (L1's size on Zen 5; the micro-kernel's 128 bytes of B per 24
 * vdpbf16ps are well within what L2 streams when part of it is evicted): M3's 768-deep products
 * then take one pass over C where KC 512 took two, which for the head's 51 MB of logits is 100 MB
 * less traffic a step (head forward 13% faster on one thread; the layer products 2-3%). NC 1024
 * keeps a B block (1.5 MiB) near L2; MC 264 (22 panels) holds M3's 256 tokens in one block of A,
 * and with one block B is packed a panel at a time just before its tiles (product()). The packing
 * buffers take 2.0 MiB a thread, under f32's. A transposed A is packed pair by pair across the
 * block's panels (contiguous runs), and packing prefetches ahead on its strided streams
 * (docs/optimisation.md, "bf16 packing").
 *
 * The parts of a product split over the pool share the packing of the operand each reads whole,
 * and a product far deeper than its result is split along k (gc_sgemm_bf16_ksplit), as gemm.c
 * does for f32 (both below): without them M3's head input gradient, split by columns, rounded all
 * 51 MB of the logits' gradient in every one of the pool's 8 chunks, and ran at 1.24x the f32
 * product where the other products ran at 1.6-2x.
 */
#include "runtime/gemm_bf16.h"

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/gemm_shared_pack.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define GC_BF16_X86 1
#include <immintrin.h>

#include "runtime/gemm_transpose.h"
#else
#define GC_BF16_X86 0
#endif

#define ROW_MAJOR 101
#define COL_MAJOR 102
#define NO_TRANS 111

#define MR 12
#define NR 32
#define KC 768 /* even: a block never splits a pair */
#define MC 264 /* 22 panels: M3's 256-token products in one block of A */
#define NC 1024
_Static_assert(NR == GC_SGEMM_PANEL, "the conv packing callback writes GC_SGEMM_PANEL-column panels");
_Static_assert(KC % 2 == 0, "pairs of k");

/* ---- rounding ---- */

uint16_t gc_bf16_from_f32(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float gc_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

float gc_bf16_round(float x) { return gc_bf16_to_f32(gc_bf16_from_f32(x)); }

/* Two values as one pair word: x0 in the lower half (the even k), x1 in the upper. */
static inline uint32_t pair_word(float x0, float x1) {
    return (uint32_t)gc_bf16_from_f32(x0) | (uint32_t)gc_bf16_from_f32(x1) << 16;
}

/* ---- per-thread packing buffers ---- */

typedef struct workspace {
    uint32_t *a; /* MC x KC/2 pair words, as MR-row panels */
    uint32_t *b; /* KC/2 x NC pair words, as NR-column panels */
    float *f32;  /* one f32 panel (KC x NR) for a caller's packing callback */
} workspace;

static pthread_key_t workspace_key;
static pthread_once_t workspace_once = PTHREAD_ONCE_INIT;
static bool workspace_key_ok;

static void workspace_free(void *raw) {
    workspace *w = raw;
    if (!w) return;
    free(w->a);
    free(w->b);
    free(w->f32);
    free(w);
}

static void workspace_key_init(void) { workspace_key_ok = pthread_key_create(&workspace_key, workspace_free) == 0; }

static workspace *thread_workspace(void) {
    pthread_once(&workspace_once, workspace_key_init);
    if (!workspace_key_ok) return NULL;
    workspace *w = pthread_getspecific(workspace_key);
    if (w) return w;
    w = calloc(1, sizeof *w);
    if (!w) return NULL;
    void *a = NULL, *b = NULL, *f = NULL;
    if (posix_memalign(&a, 64, sizeof(uint32_t) * MC * (KC / 2)) != 0) a = NULL;
    if (posix_memalign(&b, 64, sizeof(uint32_t) * NC * (KC / 2)) != 0) b = NULL;
    if (posix_memalign(&f, 64, sizeof(float) * NR * KC) != 0) f = NULL;
    w->a = a;
    w->b = b;
    w->f32 = f;
    if (!a || !b || !f || pthread_setspecific(workspace_key, w) != 0) {
        workspace_free(w);
        return NULL;
    }
    return w;
}

int64_t gc_sgemm_bf16_workspace_bytes(void) {
    return (int64_t)sizeof(uint32_t) * (MC + NC) * (KC / 2) + (int64_t)sizeof(float) * NR * KC;
}

/* ---- kernel choice ---- */

static bool cpu_has(gc_bf16_kernel kernel) {
#if GC_BF16_X86
    __builtin_cpu_init();
    switch (kernel) {
    case GC_BF16_KERNEL_AVX512_BF16:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512bf16");
    case GC_BF16_KERNEL_AVX512F: return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
    default: return true;
    }
#else
    return kernel == GC_BF16_KERNEL_SCALAR || kernel == GC_BF16_KERNEL_AUTO;
#endif
}

static gc_bf16_kernel best_from(gc_bf16_kernel want) {
    if (want == GC_BF16_KERNEL_AUTO) want = GC_BF16_KERNEL_AVX512_BF16;
    while (want != GC_BF16_KERNEL_SCALAR && !cpu_has(want)) want = (gc_bf16_kernel)(want + 1);
    return want;
}

static int chosen; /* 0 undecided, else gc_bf16_kernel + 1 */

gc_bf16_kernel gc_sgemm_bf16_kernel(void) {
    int c = __atomic_load_n(&chosen, __ATOMIC_RELAXED);
    if (c == 0) {
        const char *env = getenv("GRADC_BF16_KERNEL");
        gc_bf16_kernel want = GC_BF16_KERNEL_AUTO;
        if (env && !strcmp(env, "avx512_bf16")) want = GC_BF16_KERNEL_AVX512_BF16;
        if (env && !strcmp(env, "avx512f")) want = GC_BF16_KERNEL_AVX512F;
        if (env && !strcmp(env, "scalar")) want = GC_BF16_KERNEL_SCALAR;
        c = (int)best_from(want) + 1;
        __atomic_store_n(&chosen, c, __ATOMIC_RELAXED);
    }
    return (gc_bf16_kernel)(c - 1);
}

bool gc_sgemm_bf16_set_kernel(gc_bf16_kernel kernel) {
    if (kernel != GC_BF16_KERNEL_AUTO && !cpu_has(kernel)) return false;
    __atomic_store_n(&chosen, (int)best_from(kernel) + 1, __ATOMIC_RELAXED);
    return true;
}

const char *gc_bf16_kernel_name(gc_bf16_kernel kernel) {
    switch (kernel) {
    case GC_BF16_KERNEL_AVX512_BF16: return "avx512_bf16";
    case GC_BF16_KERNEL_AVX512F: return "avx512f";
    case GC_BF16_KERNEL_SCALAR: return "scalar";
    default: return "auto";
    }
}

/* ---- packing, plain C ---- */

/* Rows [i0, i0 + mc) and columns [p0, p0 + kc) of op(A) into MR-row panels: panel p holds, for
 * each pair of k, its MR rows' pair words (zeros past the last row and the last k). */
static void pack_a_scalar(bool trans, const float *a, int64_t lda, int64_t i0, int64_t mc, int64_t p0, int64_t kc,
                          uint32_t *dst) {
    int64_t pairs = (kc + 1) / 2;
    for (int64_t p = 0; p < mc; p += MR) {
        uint32_t *d = dst + p * pairs;
        for (int64_t kp = 0; kp < pairs; kp++)
            for (int64_t r = 0; r < MR; r++) {
                int64_t i = i0 + p + r, k = p0 + 2 * kp;
                float x0 = 0, x1 = 0;
                if (p + r < mc) {
                    x0 = trans ? a[k * lda + i] : a[i * lda + k];
                    if (2 * kp + 1 < kc) x1 = trans ? a[(k + 1) * lda + i] : a[i * lda + k + 1];
                }
                d[kp * MR + r] = pair_word(x0, x1);
            }
    }
}

/* Rows [p0, p0 + kc) and columns [j0, j0 + nc) of op(B) into NR-column panels: panel q holds, for
 * each pair of k, its NR columns' pair words (zeros past the last column and the last k). */
static void pack_b_scalar(bool trans, const float *b, int64_t ldb, int64_t p0, int64_t kc, int64_t j0, int64_t nc,
                          uint32_t *dst) {
    int64_t pairs = (kc + 1) / 2;
    for (int64_t q = 0; q < nc; q += NR) {
        uint32_t *d = dst + q * pairs;
        for (int64_t kp = 0; kp < pairs; kp++)
            for (int64_t c = 0; c < NR; c++) {
                int64_t j = j0 + q + c, k = p0 + 2 * kp;
                float x0 = 0, x1 = 0;
                if (q + c < nc) {
                    x0 = trans ? b[j * ldb + k] : b[k * ldb + j];
                    if (2 * kp + 1 < kc) x1 = trans ? b[j * ldb + k + 1] : b[(k + 1) * ldb + j];
                }
                d[kp * NR + c] = pair_word(x0, x1);
            }
    }
}

/* An f32 panel (kc rows of NR floats, a caller's packing) as a pair-word panel. */
static void panel_from_f32_scalar(const float *src, int64_t kc, uint32_t *d) {
    for (int64_t kp = 0; kp < (kc + 1) / 2; kp++)
        for (int c = 0; c < NR; c++)
            d[kp * NR + c] = pair_word(src[2 * kp * NR + c], 2 * kp + 1 < kc ? src[(2 * kp + 1) * NR + c] : 0.0f);
}

/* ---- micro-kernels ---- */

/* How a tile meets C: overwrite or add, and whether the sum is scaled by alpha first. */
typedef struct tile_mode {
    bool add;
    bool scale;
    float alpha;
} tile_mode;

static inline float lo_half(uint32_t w) { return gc_bf16_to_f32((uint16_t)(w & 0xffffu)); }
static inline float hi_half(uint32_t w) { return gc_bf16_to_f32((uint16_t)(w >> 16)); }

/* C[0:rows, 0:cols] op= A~ panel x B~ panel over `pairs` pairs of k; each pair adds its even
 * product, then its odd one, in f32. */
static void micro_scalar(int64_t pairs, const uint32_t *restrict ap, const uint32_t *restrict bp, float *restrict c,
                         int64_t ldc, tile_mode mode, int rows, int cols) {
    float acc[MR][NR];
    memset(acc, 0, sizeof acc);
    for (int64_t kp = 0; kp < pairs; kp++)
        for (int r = 0; r < MR; r++) {
            float a0 = lo_half(ap[kp * MR + r]), a1 = hi_half(ap[kp * MR + r]);
            for (int j = 0; j < NR; j++) {
                uint32_t w = bp[kp * NR + j];
                acc[r][j] = fmaf(a0, lo_half(w), acc[r][j]);
                acc[r][j] = fmaf(a1, hi_half(w), acc[r][j]);
            }
        }
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++) {
            float v = mode.scale ? acc[r][j] * mode.alpha : acc[r][j];
            c[r * ldc + j] = mode.add ? c[r * ldc + j] + v : v;
        }
}

typedef void (*micro_fn)(int64_t pairs, const uint32_t *restrict ap, const uint32_t *restrict bp, float *restrict c,
                         int64_t ldc, tile_mode mode, int rows, int cols);
typedef void (*pack_a_fn)(bool trans, const float *a, int64_t lda, int64_t i0, int64_t mc, int64_t p0, int64_t kc,
                          uint32_t *dst);
typedef void (*pack_b_fn)(bool trans, const float *b, int64_t ldb, int64_t p0, int64_t kc, int64_t j0, int64_t nc,
                          uint32_t *dst);
typedef void (*panel_fn)(const float *src, int64_t kc, uint32_t *d);

typedef struct kernel_set {
    micro_fn micro;
    pack_a_fn pack_a;
    pack_b_fn pack_b;
    panel_fn panel;
} kernel_set;

#if GC_BF16_X86

#define AVX512 __attribute__((target("avx512f,avx512bw")))
#define AVX512BF16 __attribute__((target("avx512f,avx512bw,avx512bf16")))

static inline __mmask16 lanes(int64_t count) {
    return count >= 16 ? (__mmask16)0xffff : count <= 0 ? (__mmask16)0 : (__mmask16)((1u << count) - 1);
}

/* 16 f32 lanes rounded to bf16 (RNE, NaN to 0x7fc0), the result in each lane's upper half. */
AVX512 static inline __m512i round_lanes(__m512 x) {
    __m512i u = _mm512_castps_si512(x);
    __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff)));
    __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    return _mm512_mask_mov_epi32(r, nan, _mm512_set1_epi32(0x7fc00000));
}

/* Pair words of two rows' 16 values: word j = bf16(x0[j]) | bf16(x1[j]) << 16. */
AVX512 static inline __m512i pairs_across(__m512 x0, __m512 x1) {
    return _mm512_or_si512(_mm512_srli_epi32(round_lanes(x0), 16),
                           _mm512_and_si512(round_lanes(x1), _mm512_set1_epi32((int)0xffff0000u)));
}

/* Pair words of 32 consecutive values along k (lo: k..k+15, hi: k+16..k+31): word j =
 * bf16(x[2j]) | bf16(x[2j+1]) << 16, the upper halves gathered by one vpermt2w. */
AVX512 static inline __m512i pairs_along(__m512 lo, __m512 hi) {
    static const int16_t odd[32] = {1,  3,  5,  7,  9,  11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31,
                                    33, 35, 37, 39, 41, 43, 45, 47, 49, 51, 53, 55, 57, 59, 61, 63};
    return _mm512_permutex2var_epi16(round_lanes(lo), _mm512_loadu_si512(odd), round_lanes(hi));
}

/* r[i] holds row i of a 16 x 16 block of 32-bit words (bf16 pairs); afterwards r[i] holds column i. */
AVX512 static inline void transpose16(__m512i ri[16]) {
    __m512 r[16];
    for (int i = 0; i < 16; i++) r[i] = _mm512_castsi512_ps(ri[i]);
    gc_transpose16(r);
    for (int i = 0; i < 16; i++) ri[i] = _mm512_castps_si512(r[i]);
}

/* Packing reads its operand from L3 or DRAM (a layer's weights were last touched by the previous
 * step's optimizer) along 12-32 strided streams at once, more than the hardware prefetcher
 * follows: each load is preceded by a prefetch of what the same stream reads PF_ALONG floats
 * (4 iterations) or PF_ROWS rows (8 pairs) later. A prefetch past the operand's end is harmless. */
#define PF_ALONG 128
#define PF_ROWS 16

/* The cache lines of `count` floats from p (count <= 32), into L1. */
static inline void prefetch_row(const float *p, int64_t count) {
    _mm_prefetch((const char *)p, _MM_HINT_T0);
    if (count > 16 || ((uintptr_t)p & 63) + 4 * (uintptr_t)count > 64) _mm_prefetch((const char *)(p + 16), _MM_HINT_T0);
}

#define PACKING(SUFFIX, TARGET, ALONG, ACROSS) \
/* pack_a_scalar's panels, whole 32-value runs of k through registers. */                                                 \
TARGET static void pack_a_##SUFFIX(bool trans, const float *a, int64_t lda, int64_t i0, int64_t mc, int64_t p0,           \
                                 int64_t kc, uint32_t *dst) {                                                             \
    int64_t pairs = (kc + 1) / 2, kp_across = 0;                                                                          \
    if (trans) {                                                                                                          \
        /* A is stored K x M: rows k and k + 1 hold the block's rows side by side, read pair by pair                      \
         * across all its panels, two runs of mc floats at a time (a panel at a time read 48 bytes                        \
         * of every row of k, each row a page or more apart: 2.7x slower for M3's weight gradients). */                      \
        const float *src = a + p0 * lda + i0;                                                                             \
        for (; 2 * kp_across + 1 < kc; kp_across++) {                                                                     \
            const float *r0 = src + 2 * kp_across * lda, *r1 = r0 + lda;                                                  \
            for (int64_t p = 0; p < mc; p += MR) {                                                                        \
                __mmask16 m = lanes(mc - p < MR ? mc - p : MR);                                                           \
                _mm_prefetch((const char *)(r0 + PF_ROWS * lda + p), _MM_HINT_T0);                                        \
                _mm_prefetch((const char *)(r1 + PF_ROWS * lda + p), _MM_HINT_T0);                                        \
                __m512i w = ACROSS(_mm512_maskz_loadu_ps(m, r0 + p), _mm512_maskz_loadu_ps(m, r1 + p));                   \
                _mm512_mask_storeu_epi32(dst + p * pairs + kp_across * MR, lanes(MR), w);                                 \
            }                                                                                                             \
        }                                                                                                                 \
    }                                                                                                                     \
    for (int64_t p = 0; p < mc; p += MR) {                                                                                \
        int64_t rows = mc - p < MR ? mc - p : MR;                                                                         \
        uint32_t *d = dst + p * pairs;                                                                                    \
        int64_t kp = kp_across;                                                                                           \
        if (!trans) {                                                                                       \
            const float *src = a + (i0 + p) * lda + p0;                                                                   \
            for (; 2 * kp + 32 <= kc; kp += 16) {                                                                         \
                __m512i r[16];                                                                                            \
                for (int i = 0; i < rows; i++) {                                                                          \
                    prefetch_row(src + i * lda + 2 * kp + PF_ALONG, 32);                                                  \
                    r[i] = ALONG(_mm512_loadu_ps(src + i * lda + 2 * kp), _mm512_loadu_ps(src + i * lda + 2 * kp + 16));  \
                }                                                                                                         \
                for (int i = (int)rows; i < 16; i++) r[i] = _mm512_setzero_si512(); /* and a short panel's */             \
                transpose16(r);                                                                                           \
                for (int i = 0; i < 16; i++) _mm512_mask_storeu_epi32(d + (kp + i) * MR, lanes(MR), r[i]);                \
            }                                                                                                             \
        }                                                                                                                 \
        if (kp < pairs) {                                                                                                 \
            /* The rest of k one word at a time. */                                                    \
            for (int64_t q = kp; q < pairs; q++)                                                                          \
                for (int64_t r = 0; r < MR; r++) {                                                                        \
                    int64_t i = i0 + p + r, k = p0 + 2 * q;                                                               \
                    float x0 = 0, x1 = 0;                                                                                 \
                    if (r < rows) {                                                                                       \
                        x0 = trans ? a[k * lda + i] : a[i * lda + k];                                                     \
                        if (2 * q + 1 < kc) x1 = trans ? a[(k + 1) * lda + i] : a[i * lda + k + 1];                       \
                    }                                                                                                     \
                    d[q * MR + r] = pair_word(x0, x1);                                                                    \
                }                                                                                                         \
        }                                                                                                                 \
    }                                                                                                                     \
}                                                                                                                         \
                                                                                                                          \
/* pack_b_scalar's panels through registers. */                                                                           \
TARGET static void pack_b_##SUFFIX(bool trans, const float *b, int64_t ldb, int64_t p0, int64_t kc, int64_t j0,           \
                                 int64_t nc, uint32_t *dst) {                                                             \
    int64_t pairs = (kc + 1) / 2;                                                                                         \
    for (int64_t q = 0; q < nc; q += NR) {                                                                                \
        int64_t cols = nc - q < NR ? nc - q : NR;                                                                         \
        uint32_t *d = dst + q * pairs;                                                                                    \
        int64_t kp = 0;                                                                                                   \
        if (!trans) {                                                                                                     \
            const float *src = b + p0 * ldb + j0 + q;                                                                     \
            __mmask16 m0 = lanes(cols), m1 = lanes(cols - 16);                                                            \
            for (; kp < pairs; kp++) {                                                                                    \
                const float *r0 = src + 2 * kp * ldb, *r1 = r0 + ldb;                                                     \
                prefetch_row(r0 + PF_ROWS * ldb, cols);                                                                   \
                prefetch_row(r1 + PF_ROWS * ldb, cols);                                                                   \
                bool odd = 2 * kp + 1 < kc;                                                                               \
                __m512 z = _mm512_setzero_ps();                                                                           \
                _mm512_store_si512(d + kp * NR, ACROSS(_mm512_maskz_loadu_ps(m0, r0),                                     \
                                                             odd ? _mm512_maskz_loadu_ps(m0, r1) : z));                   \
                _mm512_store_si512(d + kp * NR + 16, ACROSS(_mm512_maskz_loadu_ps(m1, r0 + 16),                           \
                                                                  odd ? _mm512_maskz_loadu_ps(m1, r1 + 16) : z));         \
            }                                                                                                             \
            continue;                                                                                                     \
        }                                                                                                                 \
        /* B is stored N x K: each column of op(B) is a row in memory, k along it. */                                     \
        const float *src = b + (j0 + q) * ldb + p0;                                                                       \
        if (cols == NR)                                                                                                   \
            for (; 2 * kp + 32 <= kc; kp += 16)                                                                           \
                for (int h = 0; h < NR; h += 16) {                                                                        \
                    __m512i r[16];                                                                                        \
                    for (int i = 0; i < 16; i++) {                                                                        \
                        prefetch_row(src + (h + i) * ldb + 2 * kp + PF_ALONG, 32);                                        \
                        r[i] = ALONG(_mm512_loadu_ps(src + (h + i) * ldb + 2 * kp),                                       \
                                           _mm512_loadu_ps(src + (h + i) * ldb + 2 * kp + 16));                           \
                    }                                                                                                     \
                    transpose16(r);                                                                                       \
                    for (int i = 0; i < 16; i++) _mm512_store_si512(d + (kp + i) * NR + h, r[i]);                         \
                }                                                                                                         \
        for (int64_t t = kp; t < pairs; t++)                                                                              \
            for (int64_t c = 0; c < NR; c++) {                                                                            \
                int64_t k = 2 * t;                                                                                        \
                float x0 = 0, x1 = 0;                                                                                     \
                if (c < cols) {                                                                                           \
                    x0 = src[c * ldb + k];                                                                                \
                    if (k + 1 < kc) x1 = src[c * ldb + k + 1];                                                            \
                }                                                                                                         \
                d[t * NR + c] = pair_word(x0, x1);                                                                        \
            }                                                                                                             \
    }                                                                                                                     \
}                                                                                                                         \
                                                                                                                          \
TARGET static void panel_from_f32_##SUFFIX(const float *src, int64_t kc, uint32_t *d) {                                   \
    for (int64_t kp = 0; kp < (kc + 1) / 2; kp++) {                                                                       \
        const float *r0 = src + 2 * kp * NR;                                                                              \
        bool odd = 2 * kp + 1 < kc;                                                                                       \
        __m512 z = _mm512_setzero_ps();                                                                                   \
        _mm512_store_si512(d + kp * NR, ACROSS(_mm512_load_ps(r0), odd ? _mm512_load_ps(r0 + NR) : z));                   \
        _mm512_store_si512(d + kp * NR + 16,                                                                              \
                           ACROSS(_mm512_load_ps(r0 + 16), odd ? _mm512_load_ps(r0 + NR + 16) : z));                      \
    }                                                                                                                     \
}

/* The same pair words by AVX512_BF16's conversion (vcvtne2ps2bf16, one instruction for 32
 * values): round to nearest even like round_lanes, but subnormal inputs count as zero, which
 * vdpbf16ps, the only kernel these panels feed, does to bf16 subnormals anyway. */
AVX512BF16 static inline __m512i hw_pairs_along(__m512 lo, __m512 hi) {
    return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}

AVX512BF16 static inline __m512i hw_pairs_across(__m512 x0, __m512 x1) {
    static const int16_t interleave[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,  21, 6,  22, 7,  23,
                                           8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
    return _mm512_permutexvar_epi16(_mm512_loadu_si512(interleave), (__m512i)_mm512_cvtne2ps_pbh(x1, x0));
}

/* Packing with the integer rounding (any AVX-512 CPU) and with the conversion instruction. */
PACKING(avx512, AVX512, pairs_along, pairs_across)
PACKING(hw, AVX512BF16, hw_pairs_along, hw_pairs_across)

/* The accumulators' trip to C: scale, add, store (masked at the edges). */
AVX512 static inline void store_tile(__m512 acc[MR][2], float *restrict c, int64_t ldc, tile_mode mode, int rows,
                                     int cols) {
    if (mode.scale) {
        __m512 s = _mm512_set1_ps(mode.alpha);
        for (int r = 0; r < MR; r++) {
            acc[r][0] = _mm512_mul_ps(acc[r][0], s);
            acc[r][1] = _mm512_mul_ps(acc[r][1], s);
        }
    }
    __mmask16 m0 = lanes(cols), m1 = lanes(cols - 16);
    for (int r = 0; r < rows; r++) {
        float *cr = c + r * ldc;
        if (mode.add) {
            acc[r][0] = _mm512_add_ps(acc[r][0], _mm512_maskz_loadu_ps(m0, cr));
            acc[r][1] = _mm512_add_ps(acc[r][1], _mm512_maskz_loadu_ps(m1, cr + 16));
        }
        _mm512_mask_storeu_ps(cr, m0, acc[r][0]);
        _mm512_mask_storeu_ps(cr + 16, m1, acc[r][1]);
    }
}

AVX512 static inline void prefetch_tile(const float *c, int64_t ldc, int rows) {
    for (int r = 0; r < rows; r++) {
        _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + r * ldc + 16), _MM_HINT_T0);
    }
}

/* Per pair of k: two B vectors of 16 pair words, MR broadcast A words, 2 * MR vdpbf16ps. */
AVX512BF16 static void micro_dpbf16(int64_t pairs, const uint32_t *restrict ap, const uint32_t *restrict bp,
                                    float *restrict c, int64_t ldc, tile_mode mode, int rows, int cols) {
    prefetch_tile(c, ldc, rows);
    __m512 acc[MR][2];
    for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
#pragma GCC unroll 4
    for (int64_t kp = 0; kp < pairs; kp++) {
        __m512bh b0 = (__m512bh)_mm512_load_si512(bp + kp * NR), b1 = (__m512bh)_mm512_load_si512(bp + kp * NR + 16);
#pragma GCC unroll 12
        for (int r = 0; r < MR; r++) {
            __m512bh av = (__m512bh)_mm512_set1_epi32((int)ap[kp * MR + r]);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], av, b0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], av, b1);
        }
    }
    store_tile(acc, c, ldc, mode, rows, cols);
}

/* The same with the pairs widened to f32 (the even value shifted up, the odd one masked) and FMAs:
 * per pair, the even product, then the odd one, as micro_scalar. */
AVX512 static void micro_avx512f(int64_t pairs, const uint32_t *restrict ap, const uint32_t *restrict bp,
                                 float *restrict c, int64_t ldc, tile_mode mode, int rows, int cols) {
    prefetch_tile(c, ldc, rows);
    __m512 acc[MR][2];
    for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    const __m512i upper = _mm512_set1_epi32((int)0xffff0000u);
#pragma GCC unroll 2
    for (int64_t kp = 0; kp < pairs; kp++) {
        __m512i w0 = _mm512_load_si512(bp + kp * NR), w1 = _mm512_load_si512(bp + kp * NR + 16);
        __m512 b0e = _mm512_castsi512_ps(_mm512_slli_epi32(w0, 16)), b0o = _mm512_castsi512_ps(_mm512_and_si512(w0, upper));
        __m512 b1e = _mm512_castsi512_ps(_mm512_slli_epi32(w1, 16)), b1o = _mm512_castsi512_ps(_mm512_and_si512(w1, upper));
#pragma GCC unroll 12
        for (int r = 0; r < MR; r++) {
            uint32_t w = ap[kp * MR + r];
            __m512 ae = _mm512_set1_ps(lo_half(w)), ao = _mm512_set1_ps(hi_half(w));
            acc[r][0] = _mm512_fmadd_ps(ae, b0e, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(ae, b1e, acc[r][1]);
            acc[r][0] = _mm512_fmadd_ps(ao, b0o, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(ao, b1o, acc[r][1]);
        }
    }
    store_tile(acc, c, ldc, mode, rows, cols);
}

#endif /* GC_BF16_X86 */

static kernel_set kernels(void) {
    switch (gc_sgemm_bf16_kernel()) {
#if GC_BF16_X86
    case GC_BF16_KERNEL_AVX512_BF16: return (kernel_set){micro_dpbf16, pack_a_hw, pack_b_hw, panel_from_f32_hw};
    case GC_BF16_KERNEL_AVX512F: return (kernel_set){micro_avx512f, pack_a_avx512, pack_b_avx512, panel_from_f32_avx512};
#endif
    default: return (kernel_set){micro_scalar, pack_a_scalar, pack_b_scalar, panel_from_f32_scalar};
    }
}

/* ---- packing shared between the parts of a split product (runtime/gemm_shared_pack.h) ----
 *
 * The pair-word panels, as gemm.c shares its float panels. Without it every part rounds the whole
 * operand afresh: M3's layer products by columns round their activations 8 times (the pool's
 * chunks), and gc_sgemm_bf16 itself packs A again for every NC-column slab. */

/* The largest operand shared, in pair words (32 MiB). */
#define SHARED_MAX_WORDS (INT64_C(8) << 20)

static shared_pack shared_a, shared_b;

/* ---- the blocked product ---- */

/* A caller's packing of op(B) (pack, ctx), or NULL for b itself. */
typedef struct b_source {
    bool trans;
    const float *b;
    int64_t ldb;
    gc_sgemm_pack_fn pack;
    const void *ctx;
} b_source;

static int64_t blocks_of(int64_t len, int64_t block) { return (len + block - 1) / block; }
/* Columns of a packed B block, rows of a packed A block: whole panels. */
static int64_t padded(int64_t len, int64_t panel) { return (len + panel - 1) / panel * panel; }
/* Pairs of k in all its KC blocks (only the last may be odd). */
static int64_t all_pairs(int64_t k) { return k / KC * (KC / 2) + (k % KC + 1) / 2; }

/* Rows [p0, p0 + kc) and columns [j0, j0 + nc) of op(B) as pair-word panels at dst. */
static void pack_b_block(const kernel_set *ks, const b_source *src, int64_t p0, int64_t kc, int64_t j0, int64_t nc,
                         const workspace *w, uint32_t *dst) {
    if (!src->pack) {
        ks->pack_b(src->trans, src->b, src->ldb, p0, kc, j0, nc, dst);
        return;
    }
    /* One f32 panel at a time from the caller, then rounded into its pair-word panel. */
    int64_t pairs = (kc + 1) / 2;
    for (int64_t q = 0; q < nc; q += NR) {
        src->pack(src->ctx, p0, kc, j0 + q, nc - q < NR ? nc - q : NR, w->f32);
        ks->panel(w->f32, kc, dst + q * pairs);
    }
}

/* Row-major C[m x n] = alpha op(A) op(B) + beta C with m, n, k > 0 and alpha != 0. `sa` and `sb`,
 * when not NULL, are joined slots holding the packing of the whole of A or B: B's block (j0, p0)
 * at j0 all_pairs(k) + p0/2 padded(nc, NR), A's block (p0, i0) at p0/2 padded(m, MR) + i0 pairs. */
static void product(bool ta, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                    const b_source *src, float beta, float *c, int64_t ldc, const workspace *w, shared_pack *sa,
                    shared_pack *sb) {
    kernel_set ks = kernels();
    if (beta != 0 && beta != 1)
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) c[i * ldc + j] *= beta;
    int64_t k_blocks = blocks_of(k, KC), m_blocks = blocks_of(m, MC), m_panels = padded(m, MR), k_pairs = all_pairs(k);
    for (int64_t j0 = 0; j0 < n; j0 += NC) {
        int64_t nc = n - j0 < NC ? n - j0 : NC;
        for (int64_t p0 = 0; p0 < k; p0 += KC) {
            int64_t kc = k - p0 < KC ? k - p0 : KC, pairs = (kc + 1) / 2;
            tile_mode mode = {p0 > 0 || beta != 0, alpha != 1, alpha};
            int64_t index = j0 / NC * k_blocks + p0 / KC;
            int take = sb ? block_take(sb, index) : 0;
            uint32_t *bp = take ? (uint32_t *)sb->buf + j0 * k_pairs + p0 / 2 * padded(nc, NR) : w->b;
            if (!take && m <= MC) {
                /* One block of A (MC 264: M3's 256 tokens): B is packed a panel at a time into one
                 * slot, just before its tiles read it (48 KiB, still in L1 or L2, where a 1.5 MiB
                 * block of panels was written to L2 and beyond and read back), and the tiles pass
                 * over B once where two blocks of A (MC 192) took two. */
                take = sa ? block_take(sa, p0 / KC) : 0;
                uint32_t *ap = take ? (uint32_t *)sa->buf + p0 / 2 * m_panels : w->a;
                if (take != BLOCK_DONE) ks.pack_a(ta, a, lda, 0, m, p0, kc, ap);
                if (take == BLOCK_PACKING) block_done(sa, p0 / KC);
                for (int64_t q = 0; q < nc; q += NR) {
                    int cols = nc - q < NR ? (int)(nc - q) : NR;
                    pack_b_block(&ks, src, p0, kc, j0 + q, cols, w, w->b);
                    for (int64_t p = 0; p < m; p += MR) {
                        int rows = m - p < MR ? (int)(m - p) : MR;
                        ks.micro(pairs, ap + p * pairs, w->b, c + p * ldc + j0 + q, ldc, mode, rows, cols);
                    }
                }
                continue;
            }
            if (take != BLOCK_DONE) pack_b_block(&ks, src, p0, kc, j0, nc, w, bp);
            if (take == BLOCK_PACKING) block_done(sb, index);
            for (int64_t i0 = 0; i0 < m; i0 += MC) {
                int64_t mc = m - i0 < MC ? m - i0 : MC;
                index = p0 / KC * m_blocks + i0 / MC;
                take = sa ? block_take(sa, index) : 0;
                uint32_t *ap = take ? (uint32_t *)sa->buf + p0 / 2 * m_panels + i0 * pairs : w->a;
                if (take != BLOCK_DONE) ks.pack_a(ta, a, lda, i0, mc, p0, kc, ap);
                if (take == BLOCK_PACKING) block_done(sa, index);
                for (int64_t q = 0; q < nc; q += NR) {
                    int cols = nc - q < NR ? (int)(nc - q) : NR;
                    for (int64_t p = 0; p < mc; p += MR) {
                        int rows = mc - p < MR ? (int)(mc - p) : MR;
                        ks.micro(pairs, ap + p * pairs, bp + q * pairs, c + (i0 + p) * ldc + j0 + q, ldc, mode, rows,
                                 cols);
                    }
                }
            }
        }
    }
}

int64_t gc_sgemm_bf16_shared_bytes(int split, int64_t m, int64_t n, int64_t k) {
    if (m <= 0 || n <= 0 || k <= 0) return 0;
    if (split == GC_SGEMM_SHARE_K) return (int64_t)sizeof(float) * (GC_SGEMM_K_SEGMENTS - 1) * m * n;
    int64_t words, blocks;
    if (split == GC_SGEMM_SHARE_B) {
        words = all_pairs(k) * padded(n, NR);
        blocks = blocks_of(n, NC) * blocks_of(k, KC);
    } else if (split == GC_SGEMM_SHARE_A) {
        words = all_pairs(k) * padded(m, MR);
        blocks = blocks_of(k, KC) * blocks_of(m, MC);
    } else {
        return 0;
    }
    if (words > SHARED_MAX_WORDS) return 0;
    return (int64_t)sizeof(uint32_t) * words + (int64_t)sizeof(uint64_t) * blocks;
}

/* product(), sharing the packing of the operand the parts of the current job all read whole
 * (gc_sgemm_share_begin, runtime/gemm.h) when it can. */
static void product_of_part(bool ta, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                            const b_source *src, float beta, float *c, int64_t ldc, const workspace *w) {
    int operand = 0;
    uint64_t job = gc_sgemm_share_current(&operand);
    shared_pack *sa = NULL, *sb = NULL;
    if (job && operand == GC_SGEMM_SHARE_B && !src->pack &&
        all_pairs(k) * padded(n, NR) <= SHARED_MAX_WORDS &&
        slot_join(&shared_b, job, src->b, src->ldb, src->trans, n, k,
                  (int64_t)sizeof(uint32_t) * all_pairs(k) * padded(n, NR), blocks_of(n, NC) * blocks_of(k, KC)))
        sb = &shared_b;
    if (job && operand == GC_SGEMM_SHARE_A &&
        all_pairs(k) * padded(m, MR) <= SHARED_MAX_WORDS &&
        slot_join(&shared_a, job, a, lda, ta, m, k, (int64_t)sizeof(uint32_t) * all_pairs(k) * padded(m, MR),
                  blocks_of(k, KC) * blocks_of(m, MC)))
        sa = &shared_a;
    product(ta, m, n, k, alpha, a, lda, src, beta, c, ldc, w, sa, sb);
    if (sa) slot_leave(sa);
    if (sb) slot_leave(sb);
}

/* C = beta C, for a product with nothing to add (k = 0 or alpha = 0); beta 0 writes zeros even
 * over NaNs, as BLAS does. */
static void scale_only(int64_t m, int64_t n, float beta, float *c, int64_t ldc) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) c[i * ldc + j] = beta == 0 ? 0.0f : beta * c[i * ldc + j];
}

/* The product one element at a time, for a thread whose packing buffers cannot be allocated: the
 * same rounding, f32 sums in k order. */
static void product_unpacked(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                             int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            float sum = 0;
            for (int64_t p = 0; p < k; p++)
                sum = fmaf(gc_bf16_round(ta ? a[p * lda + i] : a[i * lda + p]),
                           gc_bf16_round(tb ? b[j * ldb + p] : b[p * ldb + j]), sum);
            float *cij = c + i * ldc + j;
            *cij = alpha * sum + (beta == 0 ? 0.0f : beta * *cij);
        }
}

void gc_sgemm_bf16(int32_t layout, int32_t trans_a, int32_t trans_b, int32_t m, int32_t n, int32_t k, float alpha,
                   const float *a, int32_t lda, const float *b, int32_t ldb, float beta, float *c, int32_t ldc) {
    if (layout == COL_MAJOR) {
        /* A column-major C is the row-major C^T = op(B)^T op(A)^T. */
        int32_t t = trans_a;
        trans_a = trans_b;
        trans_b = t;
        int32_t s = m;
        m = n;
        n = s;
        const float *p = a;
        a = b;
        b = p;
        s = lda;
        lda = ldb;
        ldb = s;
    }
    if (m <= 0 || n <= 0) return;
    if (k <= 0 || alpha == 0) {
        scale_only(m, n, beta, c, ldc);
        return;
    }
    workspace *w = thread_workspace();
    if (!w) {
        product_unpacked(trans_a != NO_TRANS, trans_b != NO_TRANS, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    b_source src = {trans_b != NO_TRANS, b, ldb, NULL, NULL};
    product_of_part(trans_a != NO_TRANS, m, n, k, alpha, a, lda, &src, beta, c, ldc, w);
}

bool gc_sgemm_bf16_packed(bool trans_a, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                          gc_sgemm_pack_fn pack, const void *ctx, float beta, float *c, int64_t ldc) {
    if (m <= 0 || n <= 0 || k <= 0) return false;
    workspace *w = thread_workspace();
    if (!w) return false;
    b_source src = {false, NULL, 0, pack, ctx};
    product(trans_a, m, n, k, 1.0f, a, lda, &src, beta, c, ldc, w, NULL, NULL);
    return true;
}

/* ---- products split along k (gc_sgemm_bf16_ksplit): gemm.c's scheme with a slot of its own
 * (runtime/gemm_shared_pack.h) ---- */

static ksplit_slot ksplit;

/* Ids of products run outside a pool's job, apart from the pool's (runtime/parallel.c counts up
 * from 1) and from gemm.c's (1 << 60 up). */
static _Atomic uint64_t private_ksplit_jobs;

void gc_sgemm_bf16_ksplit(int32_t trans_a, int32_t trans_b, int32_t m, int32_t n, int32_t k, const float *a,
                          int32_t lda, const float *b, int32_t ldb, float *c, int32_t ldc, int32_t seg_from,
                          int32_t seg_to) {
    if (m <= 0 || n <= 0) return;
    int operand = 0;
    uint64_t job = gc_sgemm_share_current(&operand);
    if (operand != GC_SGEMM_SHARE_K) job = 0;
    /* Outside a job, the call that holds segment 0 computes them all. */
    job = ksplit_begin(job, UINT64_C(1) << 61, &private_ksplit_jobs, &seg_from, &seg_to);
    if (!job) return;
    int64_t mn = (int64_t)m * n;
    ksplit_join(&ksplit, job, (GC_SGEMM_K_SEGMENTS - 1) * mn);
    bool ta = trans_a != NO_TRANS, tb = trans_b != NO_TRANS;
    workspace *w = thread_workspace();
    for (int s = seg_from; s < seg_to; s++) {
        int64_t lo = ksplit_segment_start(k, KC, s), hi = ksplit_segment_start(k, KC, s + 1);
        if (!ksplit.ok) {
            /* No buffer: segment 0's part computes the product unsplit. */
            if (s == 0) gc_sgemm_bf16(ROW_MAJOR, trans_a, trans_b, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
            continue;
        }
        float *dst = s == 0 ? c : ksplit.buf + (s - 1) * mn;
        int64_t ldd = s == 0 ? ldc : n;
        if (hi == lo) {
            if (s == 0) scale_only(m, n, 0.0f, dst, ldd);
            continue;
        }
        const float *as = a + (ta ? lo * lda : lo), *bs = b + (tb ? lo : lo * ldb);
        if (!w) {
            product_unpacked(ta, tb, m, n, hi - lo, 1.0f, as, lda, bs, ldb, 0.0f, dst, ldd);
            continue;
        }
        b_source src = {tb, bs, ldb, NULL, NULL};
        product(ta, m, n, hi - lo, 1.0f, as, lda, &src, 0.0f, dst, ldd, w, NULL, NULL);
    }
    ksplit_finish(&ksplit, k, KC, m, n, c, ldc, seg_to - seg_from);
}
