/*
 * gemm.c: gc_sgemm, gradc's AVX-512 single-precision GEMM (see gemm.h for when it runs).
 *
 * The blocking is the classic one (Goto; BLIS): C is computed in NC-column slabs; each slab's
 * B rows are packed KC at a time into 32-column panels (B~, KC x NC, in L3), and for each MC-row
 * block of A, its KC columns are packed into 12-row panels (A~, MC x KC, in L2). The micro-kernel
 * multiplies one A panel by one B panel into a 12 x 32 tile of C held in 24 zmm registers: per k
 * it loads two vectors of B and broadcasts twelve scalars of A, 24 FMAs, so the FMA units, not
 * the loads, are the limit. Its inner loop walks the A panels of the block against one B panel,
 * which stays in L1 (KC x 32 floats) while the A panels stream from L2 (12 floats per k).
 *
 * Packing also absorbs the transposes: A read row-wise (not transposed) and B read column-wise
 * (transposed) are transposed 16 x 16 at a time in registers, so every layout packs at memory
 * speed and the micro-kernel only ever sees one. Edge panels are padded with zeros and edge
 * tiles stored under masks, so any m, n and k work.
 *
 * A short product (all its rows in one MC block: M1's 128-row batch, M3's 256 tokens, a split
 * product's part) packs each weight for only 128-256 rows of FMAs, so reading the weight from L3
 * or memory costs about as much as the FMAs it feeds. Its B block is packed a panel at a time,
 * each just before its tiles, and while one panel's tiles run they prefetch into L2 the rows of
 * op(B) the next panel's packing reads (tile_kernel), so the packing finds them there: M1 on one
 * thread spends 7% of its CPU time packing instead of 11%, and M1-M3 are 2-4% faster a step.
 *
 * Measured on this project's machine (AMD EPYC Zen 5, one thread, transformer-sized shapes):
 * 175-205 GFLOP/s (bench/gemm_short.c), like OpenBLAS's SkylakeX kernel forced with
 * OPENBLAS_CORETYPE and about 1.8x the Haswell kernel it picks by itself; the FMA peak is about
 * 230 a core (docs/optimisation.md).
 */
#include "runtime/gemm.h"
#include "runtime/cpu_caches.h"
#include "runtime/gemm_shared_pack.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define GC_GEMM_X86 1
#include <immintrin.h>

#include "runtime/gemm_transpose.h"
#else
#define GC_GEMM_X86 0
#endif

/* CBLAS's enum values, as the generated code passes them. */
#define ROW_MAJOR 101
#define COL_MAJOR 102
#define NO_TRANS 111

#if GC_GEMM_X86

/* Tile and block sizes: MR x NR is the register tile, 24 of AVX-512's 32 registers (two vectors
 * of B, a broadcast of A, and room to spare), which every AVX-512 CPU has. The blocks come from the
 * machine's caches (runtime/cpu_caches.h): KC x NR floats of B is what the inner loop keeps in L1,
 * MC x KC of A half of L2, KC x NC of B a share of L3. On the Zen 5 VM (48 KiB L1d, 1 MiB L2):
 * KC 384, MC 336, NC 1344; measured there over transformer and MLP shapes, blockings from KC 256
 * and MC 192 up are within noise of each other. */
#define MR 12
#define NR 32
_Static_assert(NR == GC_SGEMM_PANEL, "gemm.h states the panel width");

static gc_gemm_blocking blocking;
static pthread_once_t blocking_once = PTHREAD_ONCE_INIT;

static void blocking_init(void) { blocking = gc_gemm_blocking_for(MR, NR, (int)sizeof(float)); }

/* Every entry point calls this before its first use of MC, KC or NC. */
static void ensure_blocking(void) { pthread_once(&blocking_once, blocking_init); }

#define KC (blocking.kc)
#define MC (blocking.mc)
#define NC (blocking.nc)

#define AVX512 __attribute__((target("avx512f")))

/* ---- per-thread packing buffers ---- */

typedef struct workspace {
    float *a; /* MC x KC, as MR-row panels */
    float *b; /* KC x NC, as NR-column panels */
    int64_t a_floats, b_floats; /* their sizes: gc_sgemm_set_blocking may ask for more */
} workspace;

static pthread_key_t workspace_key;
static pthread_once_t workspace_once = PTHREAD_ONCE_INIT;
static bool workspace_key_ok;

static void workspace_free(void *raw) {
    workspace *w = raw;
    if (!w) return;
    free(w->a);
    free(w->b);
    free(w);
}

static void workspace_key_init(void) { workspace_key_ok = pthread_key_create(&workspace_key, workspace_free) == 0; }

/* Grows *buf to `floats` floats (64-byte aligned); false when out of memory (*buf freed). */
static bool grow(float **buf, int64_t *have, int64_t floats) {
    if (*have >= floats && *buf) return true;
    free(*buf);
    void *p = NULL;
    *buf = posix_memalign(&p, 64, sizeof(float) * (size_t)floats) == 0 ? p : NULL;
    *have = *buf ? floats : 0;
    return *buf != NULL;
}

static workspace *thread_workspace(void) {
    ensure_blocking();
    pthread_once(&workspace_once, workspace_key_init);
    if (!workspace_key_ok) return NULL;
    workspace *w = pthread_getspecific(workspace_key);
    if (!w) {
        w = calloc(1, sizeof *w);
        if (!w) return NULL;
        if (pthread_setspecific(workspace_key, w) != 0) {
            workspace_free(w);
            return NULL;
        }
    }
    if (!grow(&w->a, &w->a_floats, MC * KC) || !grow(&w->b, &w->b_floats, NC * KC)) return NULL;
    return w;
}

/* ---- packing shared between the parts of a split product (runtime/gemm_shared_pack.h) ---- */

/* The largest operand shared, in floats (64 MiB; `gradc check` counts what a step's products
 * need, runtime/trainer.c). */
#define SHARED_MAX_FLOATS (INT64_C(16) << 20)

static shared_pack shared_a, shared_b;

/* The job this thread's calls are parts of, and which operand they share (gc_sgemm_share_begin). */
static _Thread_local uint64_t share_job;
static _Thread_local int share_operand;

/* ---- packing ---- */

static inline __mmask16 lanes(int64_t count) {
    return count >= 16 ? (__mmask16)0xffff : count <= 0 ? (__mmask16)0 : (__mmask16)((1u << count) - 1);
}

/* Rows [i0, i0 + mc) and columns [p0, p0 + kc) of op(A) into MR-row panels: panel p holds, for
 * each k, its MR rows' values side by side (zeros past the last row). */
AVX512 static void pack_a(bool trans, const float *a, int64_t lda, int64_t i0, int64_t mc, int64_t p0, int64_t kc,
                          float *dst) {
    const __mmask16 tile = lanes(MR);
    for (int64_t p = 0; p < mc; p += MR) {
        int64_t rows = mc - p < MR ? mc - p : MR;
        float *d = dst + p * kc;
        if (trans) {
            /* A is stored K x M: each k's rows are adjacent. */
            const float *src = a + p0 * lda + i0 + p;
            __mmask16 m = lanes(rows);
            for (int64_t k = 0; k < kc; k++)
                _mm512_mask_storeu_ps(d + k * MR, tile, _mm512_maskz_loadu_ps(m, src + k * lda));
            continue;
        }
        const float *src = a + (i0 + p) * lda + p0;
        int64_t k = 0;
        if (rows == MR)
            for (; k + 16 <= kc; k += 16) {
                __m512 r[16];
                for (int i = 0; i < MR; i++) r[i] = _mm512_loadu_ps(src + i * lda + k);
                for (int i = MR; i < 16; i++) r[i] = _mm512_setzero_ps();
                gc_transpose16(r);
                for (int i = 0; i < 16; i++) _mm512_mask_storeu_ps(d + (k + i) * MR, tile, r[i]);
            }
        for (; k < kc; k++) {
            for (int64_t r = 0; r < rows; r++) d[k * MR + r] = src[r * lda + k];
            for (int64_t r = rows; r < MR; r++) d[k * MR + r] = 0;
        }
    }
}

/* Rows [p0, p0 + kc) and columns [j0, j0 + nc) of op(B) into NR-column panels: panel q holds,
 * for each k, its NR columns' values side by side (zeros past the last column). */
AVX512 static void pack_b(bool trans, const float *b, int64_t ldb, int64_t p0, int64_t kc, int64_t j0, int64_t nc,
                          float *dst) {
    for (int64_t q = 0; q < nc; q += NR) {
        int64_t cols = nc - q < NR ? nc - q : NR;
        float *d = dst + q * kc;
        if (!trans) {
            const float *src = b + p0 * ldb + j0 + q;
            __mmask16 m0 = lanes(cols), m1 = lanes(cols - 16);
            for (int64_t k = 0; k < kc; k++) {
                _mm512_store_ps(d + k * NR, _mm512_maskz_loadu_ps(m0, src + k * ldb));
                _mm512_store_ps(d + k * NR + 16, _mm512_maskz_loadu_ps(m1, src + k * ldb + 16));
            }
            continue;
        }
        /* B is stored N x K: each column of op(B) is a row in memory. */
        const float *src = b + (j0 + q) * ldb + p0;
        int64_t k = 0;
        if (cols == NR)
            for (; k + 16 <= kc; k += 16)
                for (int h = 0; h < NR; h += 16) {
                    __m512 r[16];
                    for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(src + (h + i) * ldb + k);
                    gc_transpose16(r);
                    for (int i = 0; i < 16; i++) _mm512_store_ps(d + (k + i) * NR + h, r[i]);
                }
        for (; k < kc; k++) {
            for (int64_t c = 0; c < cols; c++) d[k * NR + c] = src[c * ldb + k];
            for (int64_t c = cols; c < NR; c++) d[k * NR + c] = 0;
        }
    }
}

/* ---- the micro-kernel ---- */

/* How a tile meets C: overwrite it (the first KC block of a beta = 0 product) or add to it, and
 * whether the sum is scaled by alpha first. */
typedef struct tile_mode {
    bool add;
    bool scale;
    float alpha;
} tile_mode;

/* Lines of op(B) a packing pass will read next: `rows` runs of `per_row` 64-byte lines, `ld`
 * floats apart (B not transposed: kc rows of a panel's 32 columns, 2 lines each; transposed: 32
 * rows of kc floats). */
typedef struct fetch_plan {
    const float *base;
    int64_t ld, rows, per_row;
} fetch_plan;

/* C[0:rows, 0:cols] (row stride ldc) op= A~ panel x B~ panel over kc. With `ahead` (not NULL),
 * each k also prefetches into L2 the next line of the B panel packed next, from line `*line` of
 * its plan on (and advances *line): the weight a short product packs comes from L3 or memory,
 * and fetched this way its misses overlap the FMAs instead of stalling the packing pass. */
__attribute__((always_inline)) AVX512 static inline void tile_kernel(int64_t kc, const float *restrict ap,
                                                                     const float *restrict bp, float *restrict c,
                                                                     int64_t ldc, tile_mode mode, int rows, int cols,
                                                                     const fetch_plan *ahead, int64_t *line,
                                                                     const int rt) {
    /* C's tile is read or written only after the loop; fetching it now hides the miss behind the
     * loop (C rarely fits a cache: a head's logits are 51 MB). */
    for (int r = 0; r < rows; r++) {
        _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + r * ldc + 16), _MM_HINT_T0);
        /* A row of C not 64-byte aligned (the head's 50257 logits a row) spans three lines. */
        _mm_prefetch((const char *)(c + r * ldc + 31), _MM_HINT_T0);
    }
    int64_t pf_row = 0, pf_in = 0, pf_left = 0;
    const float *pf = NULL;
    if (ahead) {
        int64_t total = ahead->rows * ahead->per_row;
        pf_left = total - *line < kc ? total - *line : kc;
        pf_row = *line / ahead->per_row;
        pf_in = *line % ahead->per_row;
        pf = ahead->base + pf_row * ahead->ld + pf_in * 16;
        *line += pf_left;
    }
    __m512 acc[MR][2];
    for (int r = 0; r < rt; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
#pragma GCC unroll 4
    for (int64_t k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(bp + k * NR), b1 = _mm512_load_ps(bp + k * NR + 16);
        if (pf_left > 0) {
            _mm_prefetch((const char *)pf, _MM_HINT_T1);
            pf_left--;
            if (++pf_in == ahead->per_row) {
                pf_in = 0;
                pf += ahead->ld - (ahead->per_row - 1) * 16;
            } else {
                pf += 16;
            }
        }
#pragma GCC unroll 12
        for (int r = 0; r < rt; r++) {
            __m512 av = _mm512_set1_ps(ap[k * MR + r]);
            acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
        }
    }
    if (mode.scale) {
        __m512 s = _mm512_set1_ps(mode.alpha);
        for (int r = 0; r < rt; r++) {
            acc[r][0] = _mm512_mul_ps(acc[r][0], s);
            acc[r][1] = _mm512_mul_ps(acc[r][1], s);
        }
    }
    if (rows == rt && cols == NR) {
#pragma GCC unroll 12
        for (int r = 0; r < rt; r++) {
            float *cr = c + r * ldc;
            if (mode.add) {
                acc[r][0] = _mm512_add_ps(acc[r][0], _mm512_loadu_ps(cr));
                acc[r][1] = _mm512_add_ps(acc[r][1], _mm512_loadu_ps(cr + 16));
            }
            _mm512_storeu_ps(cr, acc[r][0]);
            _mm512_storeu_ps(cr + 16, acc[r][1]);
        }
        return;
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

/* A tile of at most 4 or 8 rows (a product's last row panel: M3's 256 tokens are 21 panels of 12
 * and one of 4) runs the FMAs of its rows only, not of 12: 3% of the FMAs of a 256- or 128-row
 * product. Every row's sum is the same chain of FMAs whatever the tile's height, so C's bits
 * do not change. */
__attribute__((always_inline)) AVX512 static inline void tile_for_rows(int64_t kc, const float *restrict ap,
                                                                       const float *restrict bp, float *restrict c,
                                                                       int64_t ldc, tile_mode mode, int rows, int cols,
                                                                       const fetch_plan *ahead, int64_t *line) {
    if (rows > 8)
        tile_kernel(kc, ap, bp, c, ldc, mode, rows, cols, ahead, line, MR);
    else if (rows > 4)
        tile_kernel(kc, ap, bp, c, ldc, mode, rows, cols, ahead, line, 8);
    else
        tile_kernel(kc, ap, bp, c, ldc, mode, rows, cols, ahead, line, 4);
}

AVX512 static void micro_kernel(int64_t kc, const float *restrict ap, const float *restrict bp, float *restrict c,
                                int64_t ldc, tile_mode mode, int rows, int cols) {
    tile_for_rows(kc, ap, bp, c, ldc, mode, rows, cols, NULL, NULL);
}

AVX512 static void micro_kernel_fetching(int64_t kc, const float *restrict ap, const float *restrict bp,
                                         float *restrict c, int64_t ldc, tile_mode mode, int rows, int cols,
                                         const fetch_plan *ahead, int64_t *line) {
    tile_for_rows(kc, ap, bp, c, ldc, mode, rows, cols, ahead, line);
}

/* The lines of op(B)'s panel at rows [p0, p0 + kc), columns [j0, j0 + cols), as pack_b reads them. */
static fetch_plan panel_lines(bool trans, const float *b, int64_t ldb, int64_t p0, int64_t kc, int64_t j0,
                              int64_t cols) {
    if (trans) return (fetch_plan){b + j0 * ldb + p0, ldb, cols, (kc + 15) / 16};
    return (fetch_plan){b + p0 * ldb + j0, ldb, kc, (cols + 15) / 16};
}

/* ---- the blocked product ---- */

/* Columns of a packed B block: whole NR-column panels. */
static int64_t padded_cols(int64_t nc) { return (nc + NR - 1) / NR * NR; }

static int64_t blocks_of(int64_t len, int64_t block) { return (len + block - 1) / block; }

/* Row-major C[m x n] = alpha op(A) op(B) + beta C with m, n, k > 0 and alpha != 0. `sa` and
 * `sb`, when not NULL, are joined slots that hold the packing of the whole of A or B (shared
 * between the parts of a split product): B's block (j0, p0) at j0 k + p0 padded_cols(nc), A's
 * block (p0, i0) at p0 m' + i0 kc (m' = m in whole MR-row panels). */
AVX512 static void product(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                           int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc,
                           const workspace *w, gc_sgemm_pack_fn pack, const void *ctx, shared_pack *sa,
                           shared_pack *sb) {
    if (beta != 0 && beta != 1)
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) c[i * ldc + j] *= beta;
    int64_t m_panels = (m + MR - 1) / MR * MR, k_blocks = blocks_of(k, KC), m_blocks = blocks_of(m, MC);
    /* A short product wider than NC is cut into slabs of C of at most half of L2 (M3's 256
     * tokens: 512 columns, not NC's 1344), so that the second and later KC blocks find the slab
     * there, not in L3 or memory: the head's logits, 51 MB written and read back once, 5-8%
     * faster on one thread. Not narrower ones (M3's head's input gradient, 768 wide, reads its A
     * from memory, and two slabs would pack it twice: 4% slower), nor when B is shared (its
     * packing's layout is NC's) or packed by the caller (convolutions). No bit changes: slabs
     * only group columns. */
    int64_t slab = NC;
    if (m <= MC && n > NC && !sb && !pack) {
        int64_t l2 = gc_cpu_caches_get()->l2 > 0 ? gc_cpu_caches_get()->l2 : INT64_C(1) << 20;
        int64_t fit = l2 / 2 / (m * (int64_t)sizeof(float)) / NR * NR;
        slab = fit < 4 * NR ? 4 * NR : fit < NC ? fit : NC;
    }
    for (int64_t j0 = 0; j0 < n; j0 += slab) {
        int64_t nc = n - j0 < slab ? n - j0 : slab;
        for (int64_t p0 = 0; p0 < k; p0 += KC) {
            int64_t kc = k - p0 < KC ? k - p0 : KC;
            tile_mode mode = {p0 > 0 || beta != 0, alpha != 1, alpha};
            /* B's block is packed a panel at a time, each just before the first row block's tiles
             * use it (in L1 then, not written out to L2 or L3 and read back). When those are all
             * the rows (a short product: M1's 128-row batch, M3's 256 tokens), the tiles of one
             * panel also prefetch into L2 the rows of op(B) the next panel's packing reads
             * (tile_kernel), one line per k: for a product that short the packing reads a weight
             * from L3 or memory at about the rate the FMAs consume it, and a packing pass that
             * waits for it cost a sixth of the FMAs (M1, one thread: packing 11% of the step's
             * CPU time before, 7% after; the step 5% faster). */
            float *bp = w->b;
            bool b_packed = true;
            if (pack) {
                pack(ctx, p0, kc, j0, nc, w->b);
            } else {
                int64_t b_index = j0 / slab * k_blocks + p0 / KC;
                int b_take = sb ? block_take(sb, b_index) : 0;
                bp = b_take ? (float *)sb->buf + j0 * k + p0 * padded_cols(nc) : w->b;
                b_packed = b_take == BLOCK_DONE;
                /* A block the job's other parts will read is packed whole and published at once
                 * (until it is, they pack their own). */
                if (b_take == BLOCK_PACKING) {
                    pack_b(tb, b, ldb, p0, kc, j0, nc, bp);
                    block_done(sb, b_index);
                    b_packed = true;
                }
            }
            for (int64_t i0 = 0; i0 < m; i0 += MC) {
                int64_t mc = m - i0 < MC ? m - i0 : MC;
                int64_t index = p0 / KC * m_blocks + i0 / MC;
                int take = sa ? block_take(sa, index) : 0;
                float *ap = take ? (float *)sa->buf + p0 * m_panels + i0 * kc : w->a;
                if (take != BLOCK_DONE) pack_a(ta, a, lda, i0, mc, p0, kc, ap);
                if (take == BLOCK_PACKING) block_done(sa, index);
                for (int64_t q = 0; q < nc; q += NR) {
                    int cols = nc - q < NR ? (int)(nc - q) : NR;
                    if (!b_packed) pack_b(tb, b, ldb, p0, kc, j0 + q, cols, bp + q * kc);
                    /* The panel packed next: this block's next one, else the next block's first. */
                    fetch_plan next = {NULL, 0, 0, 0};
                    if (!pack && m <= MC) {
                        if (q + NR < nc && !b_packed)
                            next = panel_lines(tb, b, ldb, p0, kc, j0 + q + NR, nc - q - NR < NR ? nc - q - NR : NR);
                        else if (q + NR >= nc && p0 + KC < k)
                            next = panel_lines(tb, b, ldb, p0 + KC, k - p0 - KC < KC ? k - p0 - KC : KC, j0,
                                               n - j0 < NR ? n - j0 : NR);
                        else if (q + NR >= nc && j0 + slab < n)
                            next = panel_lines(tb, b, ldb, 0, k < KC ? k : KC, j0 + slab,
                                               n - j0 - slab < NR ? n - j0 - slab : NR);
                    }
                    int64_t line = 0;
                    for (int64_t p = 0; p < mc; p += MR) {
                        int rows = mc - p < MR ? (int)(mc - p) : MR;
                        float *ct = c + (i0 + p) * ldc + j0 + q;
                        if (next.base && line < next.rows * next.per_row)
                            micro_kernel_fetching(kc, ap + p * kc, bp + q * kc, ct, ldc, mode, rows, cols, &next,
                                                  &line);
                        else
                            micro_kernel(kc, ap + p * kc, bp + q * kc, ct, ldc, mode, rows, cols);
                    }
                }
                b_packed = true;
            }
        }
    }
}

/* product(), sharing the packing of the operand the parts of the current job all read whole
 * (gc_sgemm_share_begin) when it can. */
AVX512 static void product_of_part(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                                   int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc,
                                   const workspace *w) {
    shared_pack *sa = NULL, *sb = NULL;
    if (share_job && share_operand == GC_SGEMM_SHARE_B &&
        k * padded_cols(n) <= SHARED_MAX_FLOATS &&
        slot_join(&shared_b, share_job, b, ldb, tb, n, k, (int64_t)sizeof(float) * k * padded_cols(n),
                  blocks_of(n, NC) * blocks_of(k, KC)))
        sb = &shared_b;
    if (share_job && share_operand == GC_SGEMM_SHARE_A &&
        k * ((m + MR - 1) / MR * MR) <= SHARED_MAX_FLOATS &&
        slot_join(&shared_a, share_job, a, lda, ta, m, k, (int64_t)sizeof(float) * k * ((m + MR - 1) / MR * MR),
                  blocks_of(k, KC) * blocks_of(m, MC)))
        sa = &shared_a;
    product(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, w, NULL, NULL, sa, sb);
    if (sa) slot_leave(sa);
    if (sb) slot_leave(sb);
}

/* The same product with alpha 1, A not transposed, beta 0 or 1, and B packed beforehand by
 * gc_sgemm_pack_b: the same panels and micro-kernel calls in the same order, so the same bits. */
AVX512 static void product_packed_b(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *packed,
                                    float beta, float *c, int64_t ldc, const workspace *w) {
    const float *block = packed;
    for (int64_t j0 = 0; j0 < n; j0 += NC) {
        int64_t nc = n - j0 < NC ? n - j0 : NC;
        for (int64_t p0 = 0; p0 < k; p0 += KC) {
            int64_t kc = k - p0 < KC ? k - p0 : KC;
            tile_mode mode = {p0 > 0 || beta != 0, false, 1.0f};
            for (int64_t i0 = 0; i0 < m; i0 += MC) {
                int64_t mc = m - i0 < MC ? m - i0 : MC;
                pack_a(false, a, lda, i0, mc, p0, kc, w->a);
                for (int64_t q = 0; q < nc; q += NR) {
                    int cols = nc - q < NR ? (int)(nc - q) : NR;
                    for (int64_t p = 0; p < mc; p += MR) {
                        int rows = mc - p < MR ? (int)(mc - p) : MR;
                        micro_kernel(kc, w->a + p * kc, block + q * kc, c + (i0 + p) * ldc + j0 + q, ldc, mode, rows,
                                     cols);
                    }
                }
            }
            block += kc * padded_cols(nc);
        }
    }
}

AVX512 static void pack_whole_b(bool tb, int64_t n, int64_t k, const float *b, int64_t ldb, float *packed) {
    for (int64_t j0 = 0; j0 < n; j0 += NC) {
        int64_t nc = n - j0 < NC ? n - j0 : NC;
        for (int64_t p0 = 0; p0 < k; p0 += KC) {
            int64_t kc = k - p0 < KC ? k - p0 : KC;
            pack_b(tb, b, ldb, p0, kc, j0, nc, packed);
            packed += kc * padded_cols(nc);
        }
    }
}

static bool cpu_has_avx512(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

#endif /* GC_GEMM_X86 */

/* C = beta C, for a product with nothing to add (k = 0 or alpha = 0); beta 0 writes zeros even
 * over NaNs, as BLAS does. */
static void scale_only(int64_t m, int64_t n, float beta, float *c, int64_t ldc) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) c[i * ldc + j] = beta == 0 ? 0.0f : beta * c[i * ldc + j];
}

bool gc_sgemm_own(int32_t layout, int32_t trans_a, int32_t trans_b, int32_t m, int32_t n, int32_t k, float alpha,
                  const float *a, int32_t lda, const float *b, int32_t ldb, float beta, float *c, int32_t ldc) {
#if GC_GEMM_X86
    if (!cpu_has_avx512()) return false;
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
    if (m <= 0 || n <= 0) return true;
    if (k <= 0 || alpha == 0) {
        scale_only(m, n, beta, c, ldc);
        return true;
    }
    workspace *w = thread_workspace();
    if (!w) return false;
    product_of_part(trans_a != NO_TRANS, trans_b != NO_TRANS, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, w);
    return true;
#else
    (void)layout, (void)trans_a, (void)trans_b, (void)m, (void)n, (void)k, (void)alpha, (void)a, (void)lda;
    (void)b, (void)ldb, (void)beta, (void)c, (void)ldc;
    (void)scale_only;
    return false;
#endif
}

bool gc_sgemm_own_packed(bool trans_a, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                         gc_sgemm_pack_fn pack, const void *ctx, float beta, float *c, int64_t ldc) {
#if GC_GEMM_X86
    if (!gc_sgemm_uses_own() || m <= 0 || n <= 0 || k <= 0) return false;
    workspace *w = thread_workspace();
    if (!w) return false;
    product(trans_a, false, m, n, k, 1.0f, a, lda, NULL, 0, beta, c, ldc, w, pack, ctx, NULL, NULL);
    return true;
#else
    (void)trans_a, (void)m, (void)n, (void)k, (void)a, (void)lda, (void)pack, (void)ctx, (void)beta, (void)c, (void)ldc;
    return false;
#endif
}

int64_t gc_sgemm_packed_b_floats(int32_t n, int32_t k) {
#if GC_GEMM_X86
    if (!gc_sgemm_uses_own() || n <= 0 || k <= 0) return 0;
    ensure_blocking();
    int64_t total = 0;
    for (int64_t j0 = 0; j0 < n; j0 += NC) total += k * padded_cols(n - j0 < NC ? n - j0 : NC);
    return total;
#else
    (void)n, (void)k;
    return 0;
#endif
}

bool gc_sgemm_pack_b(int32_t trans_b, int32_t n, int32_t k, const float *b, int32_t ldb, float *packed) {
#if GC_GEMM_X86
    if (!gc_sgemm_packed_b_floats(n, k)) return false;
    pack_whole_b(trans_b != NO_TRANS, n, k, b, ldb, packed);
    return true;
#else
    (void)trans_b, (void)n, (void)k, (void)b, (void)ldb, (void)packed;
    return false;
#endif
}

bool gc_sgemm_packed_b(int32_t m, int32_t n, int32_t k, const float *a, int32_t lda, const float *packed, float beta,
                       float *c, int32_t ldc) {
#if GC_GEMM_X86
    if (m <= 0 || n <= 0) return true;
    workspace *w = thread_workspace();
    if (!w || (beta != 0 && beta != 1)) return false;
    product_packed_b(m, n, k, a, lda, packed, beta, c, ldc, w);
    return true;
#else
    (void)m, (void)n, (void)k, (void)a, (void)lda, (void)packed, (void)beta, (void)c, (void)ldc;
    return false;
#endif
}

/* 0 undecided, 1 own kernel, 2 OpenBLAS. A race between the first two calls decides the same. */
static int choice;

bool gc_sgemm_uses_own(void) {
    int c = __atomic_load_n(&choice, __ATOMIC_RELAXED);
    if (c == 0) {
        const char *env = getenv("GRADC_GEMM");
        bool own = !(env && strcmp(env, "openblas") == 0);
#if GC_GEMM_X86
        own = own && cpu_has_avx512();
#else
        own = false;
#endif
        c = own ? 1 : 2;
        __atomic_store_n(&choice, c, __ATOMIC_RELAXED);
    }
    return c == 1;
}

gc_gemm_blocking gc_sgemm_blocking(void) {
#if GC_GEMM_X86
    ensure_blocking();
    return blocking;
#else
    return (gc_gemm_blocking){0, 0, 0};
#endif
}

void gc_sgemm_set_blocking(gc_gemm_blocking b) {
#if GC_GEMM_X86
    ensure_blocking();
    blocking = gc_gemm_blocking_round(b, MR, NR);
#else
    (void)b;
#endif
}

void gc_sgemm_share_begin(uint64_t job, int operand) {
#if GC_GEMM_X86
    share_job = job;
    share_operand = operand;
#else
    (void)job, (void)operand;
#endif
}

void gc_sgemm_share_end(void) {
#if GC_GEMM_X86
    share_job = 0;
    share_operand = 0;
#endif
}

uint64_t gc_sgemm_share_current(int *operand) {
#if GC_GEMM_X86
    *operand = share_operand;
    return share_job;
#else
    *operand = 0;
    return 0;
#endif
}

int64_t gc_sgemm_workspace_bytes(void) {
#if GC_GEMM_X86
    if (!gc_sgemm_uses_own()) return 0;
    ensure_blocking();
    return (int64_t)sizeof(float) * (MC * KC + NC * KC);
#else
    return 0;
#endif
}

void gc_sgemm(int32_t layout, int32_t trans_a, int32_t trans_b, int32_t m, int32_t n, int32_t k, float alpha,
              const float *a, int32_t lda, const float *b, int32_t ldb, float beta, float *c, int32_t ldc) {
    if (gc_sgemm_uses_own() &&
        gc_sgemm_own(layout, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc))
        return;
    cblas_sgemm((enum CBLAS_ORDER)layout, (enum CBLAS_TRANSPOSE)trans_a, (enum CBLAS_TRANSPOSE)trans_b, m, n, k, alpha,
                a, lda, b, ldb, beta, c, ldc);
}

/* ---- products split along k (gemm.h, gc_sgemm_ksplit; the slot: runtime/gemm_shared_pack.h) ---- */

static ksplit_slot ksplit;

/* Ids of products run outside a pool's job, apart from the pool's (runtime/parallel.c counts up
 * from 1). */
static _Atomic uint64_t private_ksplit_jobs;

static int64_t segment_unit(void) { return gc_sgemm_uses_own() ? gc_sgemm_blocking().kc : 256; }

void gc_sgemm_ksplit(int32_t trans_a, int32_t trans_b, int32_t m, int32_t n, int32_t k, const float *a, int32_t lda,
                     const float *b, int32_t ldb, float *c, int32_t ldc, int32_t seg_from, int32_t seg_to) {
    if (m <= 0 || n <= 0) return;
    uint64_t job = 0;
#if GC_GEMM_X86
    if (share_operand == GC_SGEMM_SHARE_K) job = share_job;
#endif
    /* Outside a job, the call that holds segment 0 computes them all. */
    job = ksplit_begin(job, UINT64_C(1) << 60, &private_ksplit_jobs, &seg_from, &seg_to);
    if (!job) return;
    int64_t mn = (int64_t)m * n;
    ksplit_join(&ksplit, job, (GC_SGEMM_K_SEGMENTS - 1) * mn);
    int64_t unit = segment_unit();
    bool ta = trans_a != NO_TRANS, tb = trans_b != NO_TRANS;
    for (int s = seg_from; s < seg_to; s++) {
        int64_t lo = ksplit_segment_start(k, unit, s), hi = ksplit_segment_start(k, unit, s + 1);
        if (!ksplit.ok) {
            /* No buffer: segment 0's part computes the product unsplit. */
            if (s == 0) gc_sgemm(ROW_MAJOR, trans_a, trans_b, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
            continue;
        }
        float *dst = s == 0 ? c : ksplit.buf + (s - 1) * mn;
        int32_t ldd = s == 0 ? ldc : n;
        const float *as = a + (ta ? lo * lda : lo), *bs = b + (tb ? lo : lo * ldb);
        gc_sgemm(ROW_MAJOR, trans_a, trans_b, m, n, (int32_t)(hi - lo), 1.0f, as, lda, bs, ldb, 0.0f, dst, ldd);
    }
    ksplit_finish(&ksplit, k, unit, m, n, c, ldc, seg_to - seg_from);
}

int64_t gc_sgemm_shared_bytes(int split, int64_t m, int64_t n, int64_t k) {
    if (m <= 0 || n <= 0 || k <= 0) return 0;
    if (split == GC_SGEMM_SHARE_K) return (int64_t)sizeof(float) * (GC_SGEMM_K_SEGMENTS - 1) * m * n;
#if GC_GEMM_X86
    if (!gc_sgemm_uses_own()) return 0;
    ensure_blocking();
    int64_t floats, blocks;
    if (split == GC_SGEMM_SHARE_B) {
        floats = k * padded_cols(n);
        blocks = blocks_of(n, NC) * blocks_of(k, KC);
    } else if (split == GC_SGEMM_SHARE_A) {
        floats = k * ((m + MR - 1) / MR * MR);
        blocks = blocks_of(k, KC) * blocks_of(m, MC);
    } else {
        return 0;
    }
    if (floats > SHARED_MAX_FLOATS) return 0;
    return (int64_t)sizeof(float) * floats + (int64_t)sizeof(uint64_t) * blocks;
#else
    return 0;
#endif
}
