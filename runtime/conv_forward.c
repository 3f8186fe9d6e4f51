/*
 * conv_forward.c: the f32 forward convolution as an implicit GEMM with its own blocking (see
 * conv_forward.h for what it takes).
 *
 * Per group, y[og, columns] = w[og, K] @ col[K, columns], the columns being the output positions
 * of the call's images side by side (an image of 4x4 positions is 16 columns: small images share
 * a tile, so the micro-kernel's 32-column panels stay full). Three things differ from running the
 * convolution on gc_sgemm tile by tile (runtime/conv.c):
 *
 * - The weights are packed into the micro-kernel's 12-row panels once per call (and kept across
 *   the calls of a fused kernel's image loop: `again`), not once per column tile: at 64 channels
 *   the per-tile packing cost a quarter of the forward. A call of one or two tiles (deep layers:
 *   512 channels of 4x4 images, 9 MB of weights for 256 columns; every call of a fused kernel's
 *   loop over 8x8 or 16x16 images) does not pack them at all: its micro-kernel reads each panel's
 *   12 rows where they lie in w (micro_direct). Packing them per call cost 40% of the time of
 *   those layers on two threads (the pool's 8 chunks each packed all of them).
 * - The unfolded input is written into the 32-column panels 16 columns (one image's positions) at
 *   a time, by one AVX-512 load per 16 values: for each kernel position and each 16 positions of
 *   an image, a table (built once per geometry) says either "the 16 values are x at consecutive
 *   addresses from this offset, these lanes zero" (every stride-1 convolution whose rows are a
 *   multiple of 16 wide or whose padding keeps the output the input's size: one masked load) or
 *   gives the 16 offsets for a gather (strides, dilation, other sizes).
 * - A 16-column half-panel belongs to one image, so the micro-kernel stores each half straight
 *   into y at its own address: no buffer to scatter tiles of several images from.
 *
 * Each output element is the sum over K blocks fixed by the geometry, in order, of k ascending in
 * each block: the same bits whatever images a call takes.
 */
#include "runtime/conv_forward.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/gemm.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define FWD_X86 1
#include <immintrin.h>
#else
#define FWD_X86 0
#endif

/* The register tile: 12 output channels by 32 positions, 24 of the 32 zmm registers. */
#define MR 12
#define NR 32
#define HALF 16

/* Blocking (GRADC_CONV_BLOCKING=kc,tile,mc overrides it, for measurement and tests): K blocks of
 * at most KC rows, tiles of TILE columns, whose unfolded K block (KC x TILE, 288 KB) is written
 * row by row (consecutive positions of a plane, then the next kernel position) and stays in L2
 * while the micro-kernel takes its 32-column panels (36 KB, in L1) against row blocks of MC
 * weights (MC x KC, 216 KB, in L2). Measured on the Zen 5 VM at ResNet-18's shapes: KC 192-576,
 * TILE 256-512 and MC 96-576 are within noise of each other; unfolding one panel at a time just
 * before its products is 10-15% slower at 32x32 (its planes are 4 KB apart, so the rows of one
 * panel meet in the same L1 sets). */
static int64_t kc_max = 288, tile_max = 256, mc_max = 192;
static pthread_once_t blocking_once = PTHREAD_ONCE_INIT;

static void blocking_read(void) {
    const char *env = getenv("GRADC_CONV_BLOCKING");
    long long kc, tile, mc;
    if (env && sscanf(env, "%lld,%lld,%lld", &kc, &tile, &mc) == 3 && kc >= 16 && tile >= NR && mc >= MR) {
        kc_max = kc;
        tile_max = (tile > 4096 ? 4096 : tile) / NR * NR;
        mc_max = mc / MR * MR;
    }
}

/* A table longer than this (a huge image) is not worth its memory: conv.c's tiles take it. */
#define MAX_TABLE_ENTRIES (1 << 16)

typedef struct layout {
    const gc_conv_geom *g;
    int64_t cg, og, kk, k;    /* channels per group in and out, kernel positions, cg * kk */
    int64_t in_size, out_size; /* positions per image */
    int64_t blocks;            /* 16-position blocks per image */
    int64_t m_pad;             /* og rounded up to whole 12-row panels */
    int64_t k_blocks;          /* K blocks */
    int64_t tile;              /* columns per tile */
} layout;

static void make_layout(const gc_conv_geom *g, layout *L) {
    pthread_once(&blocking_once, blocking_read);
    L->g = g;
    L->cg = g->in_channels / g->groups;
    L->og = g->out_channels / g->groups;
    L->kk = g->kernel[0] * g->kernel[1] * g->kernel[2];
    L->k = L->cg * L->kk;
    L->in_size = g->in[0] * g->in[1] * g->in[2];
    L->out_size = g->out[0] * g->out[1] * g->out[2];
    L->blocks = L->out_size / HALF;
    L->m_pad = (L->og + MR - 1) / MR * MR;
    L->k_blocks = (L->k + kc_max - 1) / kc_max;
    L->tile = tile_max;
}

/* Row where K block b starts (b = k_blocks: K). */
static int64_t k_start(const layout *L, int64_t b) { return L->k * b / L->k_blocks; }

bool gc_conv_fast_forward_takes(const gc_conv_geom *g) {
#if FWD_X86
    if (!gc_sgemm_uses_own()) return false;
    layout L;
    make_layout(g, &L);
    /* What conv.c runs as direct loops (depthwise, tiny groups) stays there. */
    if (L.og < 4 || L.og * L.k < 512 || L.out_size % HALF != 0 || L.out_size == 0) return false;
    /* The table holds plane offsets as 32-bit gather indices. */
    if (L.in_size > INT32_MAX / 2) return false;
    return L.kk * L.blocks <= MAX_TABLE_ENTRIES;
#else
    (void)g;
    return false;
#endif
}

int64_t gc_conv_fast_forward_images_per_call(const gc_conv_geom *g) {
    layout L;
    make_layout(g, &L);
    return tile_max > L.out_size ? tile_max / L.out_size : 1;
}

/* How a kernel position's values for 16 positions of an image are read from a channel plane. */
typedef struct entry {
    int32_t idx[HALF]; /* gather: the plane offset of each lane */
    int32_t off;       /* shift: lane l reads offset off + l */
    uint16_t mask;     /* the lanes inside the input (the others are padding: 0) */
    uint16_t gather;
} entry;

static void build_table(const layout *L, entry *t) {
    const gc_conv_geom *g = L->g;
    for (int64_t kidx = 0; kidx < L->kk; kidx++) {
        int64_t k2 = kidx % g->kernel[2], k1 = kidx / g->kernel[2] % g->kernel[1], k0 = kidx / (g->kernel[2] * g->kernel[1]);
        for (int64_t blk = 0; blk < L->blocks; blk++) {
            entry *e = &t[kidx * L->blocks + blk];
            memset(e, 0, sizeof *e);
            bool have = false, shift = true;
            for (int l = 0; l < HALF; l++) {
                int64_t q = blk * HALF + l, p2 = q % g->out[2], r = q / g->out[2], p1 = r % g->out[1], p0 = r / g->out[1];
                int64_t i0 = p0 * g->stride[0] - g->pad_before[0] + k0 * g->dilation[0];
                int64_t i1 = p1 * g->stride[1] - g->pad_before[1] + k1 * g->dilation[1];
                int64_t i2 = p2 * g->stride[2] - g->pad_before[2] + k2 * g->dilation[2];
                if (i0 < 0 || i0 >= g->in[0] || i1 < 0 || i1 >= g->in[1] || i2 < 0 || i2 >= g->in[2]) continue;
                int64_t o = (i0 * g->in[1] + i1) * g->in[2] + i2;
                e->idx[l] = (int32_t)o;
                e->mask |= (uint16_t)(1u << l);
                if (!have) e->off = (int32_t)(o - l), have = true;
                else if (o - l != e->off) shift = false;
            }
            e->gather = !shift;
        }
    }
}

/* ---- per-thread buffers ---- */

typedef struct state {
    float *a; /* the packed weights of every group */
    size_t a_floats;
    float *b; /* one K block of one tile, as 32-column panels */
    size_t b_floats;
    entry *table;
    size_t table_entries;
    gc_conv_geom table_geom; /* what the table was built for */
    bool table_ok;
    gc_conv_geom a_geom; /* what the packed weights are */
    const float *a_w;
    bool a_flipped, a_ok;
    struct strided *strided; /* the strided input gradient's plan and buffers (NULL until one runs) */
} state;

struct strided;
static void strided_free(struct strided *st);

static pthread_key_t state_key;
static pthread_once_t state_once = PTHREAD_ONCE_INIT;
static bool state_key_ok;

static void state_free(void *raw) {
    state *s = raw;
    if (!s) return;
    free(s->a);
    free(s->b);
    free(s->table);
    strided_free(s->strided);
    free(s);
}

static void state_key_init(void) { state_key_ok = pthread_key_create(&state_key, state_free) == 0; }

static state *thread_state(void) {
    pthread_once(&state_once, state_key_init);
    if (!state_key_ok) return NULL;
    state *s = pthread_getspecific(state_key);
    if (s) return s;
    s = calloc(1, sizeof *s);
    if (s && pthread_setspecific(state_key, s) != 0) {
        free(s);
        s = NULL;
    }
    return s;
}

/* *buf holding at least `bytes`, 64-byte aligned; false when it cannot grow. *grew says it moved. */
static bool ensure(void **buf, size_t *have, size_t want, size_t elem, bool *grew) {
    *grew = false;
    if (*have >= want) return true;
    void *p = NULL;
    if (posix_memalign(&p, 64, want * elem) != 0) return false;
    free(*buf);
    *buf = p;
    *have = want;
    *grew = true;
    return true;
}

static size_t a_floats(const layout *L) { return (size_t)(L->g->groups * L->m_pad * L->k); }
static size_t b_floats(const layout *L) {
    return (size_t)((L->k + L->k_blocks - 1) / L->k_blocks * L->tile);
}

int64_t gc_conv_fast_forward_workspace_bytes(const gc_conv_geom *g) {
    if (!gc_conv_fast_forward_takes(g)) return 0;
    layout L;
    make_layout(g, &L);
    return (int64_t)((a_floats(&L) + b_floats(&L)) * sizeof(float) + (size_t)(L.kk * L.blocks) * sizeof(entry));
}

/* ---- packing ---- */

/* Rows [p0, p1) (p0 a multiple of 12) of group gi's weights at K block [k0, k0 + kc) as 12-row
 * panels: panel p at dst + (p - p0) * kc, k's 12 values side by side (zeros past og). Flipped:
 * row r, column (o, kidx) is w[o, r, kk - 1 - kidx] of the convolution whose input gradient this
 * is (its weight [in_channels, og, *kernel] per group). */
static void pack_weight_rows(const layout *L, const float *w, bool flipped, int64_t gi, int64_t k0, int64_t kc,
                             int64_t p0, int64_t p1, float *dst) {
    int64_t kk = L->kk;
    if (flipped) {
        /* Column k0 + k is (o, kidx): for each o, rows [p0, p1) of w[o] are contiguous (kk values
         * a row), so reading o by o streams through w rather than jumping a row of w per column. */
        for (int64_t o = k0 / kk; o * kk < k0 + kc; o++) {
            int64_t ka = o * kk > k0 ? o * kk : k0, kb = (o + 1) * kk < k0 + kc ? (o + 1) * kk : k0 + kc;
            const float *wo = w + (gi * L->cg + o) * L->og * kk;
            for (int64_t p = p0; p < p1; p += MR) {
                float *d = dst + (p - p0) * kc;
                int64_t rows = L->og - p < MR ? L->og - p : MR;
                for (int64_t k = ka; k < kb; k++) {
                    const float *src = wo + p * kk + kk - 1 - (k - o * kk);
                    float *dk = d + (k - k0) * MR;
                    for (int64_t r = 0; r < rows; r++) dk[r] = src[r * kk];
                    for (int64_t r = rows; r < MR; r++) dk[r] = 0;
                }
            }
        }
        return;
    }
    for (int64_t p = p0; p < p1; p += MR) {
        float *d = dst + (p - p0) * kc;
        int64_t rows = L->og - p < MR ? L->og - p : MR;
        const float *src = w + (gi * L->og + p) * L->k + k0;
        for (int64_t k = 0; k < kc; k++) {
            for (int64_t r = 0; r < rows; r++) d[k * MR + r] = src[r * L->k + k];
            for (int64_t r = rows; r < MR; r++) d[k * MR + r] = 0;
        }
    }
}

/* All of group gi's weights, K block after K block: block b's panels at dst + k_start(b) * m_pad. */
static void pack_weights(const layout *L, const float *w, bool flipped, int64_t gi, float *dst) {
    for (int64_t b = 0; b < L->k_blocks; b++) {
        int64_t k0 = k_start(L, b), kc = k_start(L, b + 1) - k0;
        pack_weight_rows(L, w, flipped, gi, k0, kc, 0, L->m_pad, dst + k0 * L->m_pad);
    }
}

#if FWD_X86
#define AVX512 __attribute__((target("avx512f")))

/* Rows [k0, k0 + kc) of the unfolded input at the tile's nb 16-column blocks (block i: image
 * plane base xb[i] at the group's first channel, block blk[i] of its image) into 32-column panels:
 * panel i / 2 at dst + (i / 2) * kc * NR, half i % 2; an odd last block's other half is zeros.
 * Row by row, so consecutive loads read consecutive positions of one plane. */
AVX512 static void pack_block(const layout *L, const entry *table, const float *const *xb, const int32_t *blk,
                              int64_t nb, int64_t k0, int64_t kc, float *dst) {
    int64_t c = k0 / L->kk, kidx = k0 % L->kk, panel = kc * NR;
    for (int64_t r = 0; r < kc; r++) {
        const entry *row = table + kidx * L->blocks;
        int64_t plane = c * L->in_size;
        float *d = dst + r * NR;
        for (int64_t i = 0; i < nb; i++) {
            const entry *e = &row[blk[i]];
            const float *src = xb[i] + plane;
            __m512 v = e->gather ? _mm512_mask_i32gather_ps(_mm512_setzero_ps(), e->mask, _mm512_loadu_si512(e->idx), src, 4)
                                 : _mm512_maskz_loadu_ps(e->mask, src + e->off);
            _mm512_store_ps(d + (i >> 1) * panel + (i & 1) * HALF, v);
        }
        if (nb & 1) _mm512_store_ps(d + (nb >> 1) * panel + HALF, _mm512_setzero_ps());
        if (++kidx == L->kk) kidx = 0, c++;
    }
}

/* C (two 16-column halves at c0 and c1, c1 NULL for none; rows ldc apart) = or += the 12-row A
 * panel times the 32-column B panel over kc, for `rows` rows (a constant where inlined) of which
 * the first `store` are stored. */
AVX512 static inline __attribute__((always_inline)) void micro_rows(int64_t kc, const float *restrict ap,
                                                                    const float *restrict bp, float *c0, float *c1,
                                                                    int64_t ldc, bool add, const int rows, int store) {
    __m512 acc[MR][2];
    for (int r = 0; r < rows; r++) {
        _mm_prefetch((const char *)(c0 + r * ldc), _MM_HINT_T0);
        if (c1) _mm_prefetch((const char *)(c1 + r * ldc), _MM_HINT_T0);
        acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    }
#pragma GCC unroll 4
    for (int64_t k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(bp + k * NR), b1 = _mm512_load_ps(bp + k * NR + HALF);
#pragma GCC unroll 12
        for (int r = 0; r < rows; r++) {
            __m512 av = _mm512_set1_ps(ap[k * MR + r]);
            acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
        }
    }
#pragma GCC unroll 12
    for (int r = 0; r < rows; r++) {
        if (r >= store) break;
        float *d0 = c0 + r * ldc;
        if (add) acc[r][0] = _mm512_add_ps(acc[r][0], _mm512_loadu_ps(d0));
        _mm512_storeu_ps(d0, acc[r][0]);
        if (!c1) continue;
        float *d1 = c1 + r * ldc;
        if (add) acc[r][1] = _mm512_add_ps(acc[r][1], _mm512_loadu_ps(d1));
        _mm512_storeu_ps(d1, acc[r][1]);
    }
}

AVX512 static void micro(int64_t kc, const float *ap, const float *bp, float *c0, float *c1, int64_t ldc, bool add,
                         int rows) {
    if (rows > 8) micro_rows(kc, ap, bp, c0, c1, ldc, add, 12, rows);
    else if (rows > 4) micro_rows(kc, ap, bp, c0, c1, ldc, add, 8, rows);
    else micro_rows(kc, ap, bp, c0, c1, ldc, add, 4, rows);
}

/* micro_rows with the 12-row A panel read where it lies in the weights rather than packed: the
 * value of row r at column k of the K block [k0, k0 + kc) is at a + r * rs + (k / seg) * os +
 * (k % seg), or + (seg - 1 - k % seg) flipped. A forward's rows are rows of w (rs = K, one segment);
 * a flipped one's (an input gradient's) are runs of kk values, one per output channel o of the
 * convolution whose gradient this is (rs = kk, seg = kk, os = og * kk), read backwards. The same
 * values multiply in the same order as from a packed panel, so the bits are the same; `rows` (a
 * constant) rows are stored, all of them read (the caller passes whole panels of 4, 8 or 12). */
AVX512 static inline __attribute__((always_inline)) void micro_direct_rows(int64_t k0, int64_t kc, const float *a,
                                                                           int64_t rs, int64_t seg, int64_t os,
                                                                           const bool flip, const float *restrict bp,
                                                                           float *c0, float *c1, int64_t ldc, bool add,
                                                                           const int rows) {
    __m512 acc[MR][2];
    for (int r = 0; r < rows; r++) {
        _mm_prefetch((const char *)(c0 + r * ldc), _MM_HINT_T0);
        if (c1) _mm_prefetch((const char *)(c1 + r * ldc), _MM_HINT_T0);
        acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    }
    int64_t r3 = 3 * rs;
    /* Segments of one value (a 1x1 kernel's input gradient: rows side by side, columns os apart)
     * are one run whose steps are os. */
    int64_t step = seg == 1 ? os : flip ? -1 : 1;
    if (seg == 1) seg = kc + k0, os = 0;
    for (int64_t k = k0, end = k0 + kc; k < end;) {
        int64_t s = k / seg, j = k % seg, n = seg - j < end - k ? seg - j : end - k;
        /* Rows 0-3 from a0, 4-7 from a4, 8-11 from a8: offsets 0, rs, 2 rs, 3 rs, each one
         * addressing mode. */
        const float *a0 = a + s * os + (step != 1 && step != -1 ? j * step : flip ? seg - 1 - j : j);
        const float *a4 = a0 + 4 * rs, *a8 = a0 + 8 * rs;
#pragma GCC unroll 4
        for (int64_t i = 0; i < n; i++) {
            __m512 b0 = _mm512_load_ps(bp), b1 = _mm512_load_ps(bp + HALF);
            const float *at[3] = {a0, a4, a8};
#pragma GCC unroll 12
            for (int r = 0; r < rows; r++) {
                const float *ar = at[r / 4];
                int q = r % 4;
                __m512 av = _mm512_set1_ps(q == 0 ? ar[0] : q == 1 ? ar[rs] : q == 2 ? ar[2 * rs] : ar[r3]);
                acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
                acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
            }
            bp += NR;
            a0 += step, a4 += step, a8 += step;
        }
        k += n;
    }
#pragma GCC unroll 12
    for (int r = 0; r < rows; r++) {
        float *d0 = c0 + r * ldc;
        if (add) acc[r][0] = _mm512_add_ps(acc[r][0], _mm512_loadu_ps(d0));
        _mm512_storeu_ps(d0, acc[r][0]);
        if (!c1) continue;
        float *d1 = c1 + r * ldc;
        if (add) acc[r][1] = _mm512_add_ps(acc[r][1], _mm512_loadu_ps(d1));
        _mm512_storeu_ps(d1, acc[r][1]);
    }
}

/* Where a direct panel's weights are (micro_direct_rows). */
typedef struct direct_a {
    const float *a;
    int64_t rs, seg, os;
    bool flip;
} direct_a;

AVX512 static void micro_direct(int64_t k0, int64_t kc, const direct_a *d, const float *bp, float *c0, float *c1,
                                int64_t ldc, bool add, int rows) {
    if (d->flip) {
        if (rows == 12) micro_direct_rows(k0, kc, d->a, d->rs, d->seg, d->os, true, bp, c0, c1, ldc, add, 12);
        else if (rows == 8) micro_direct_rows(k0, kc, d->a, d->rs, d->seg, d->os, true, bp, c0, c1, ldc, add, 8);
        else micro_direct_rows(k0, kc, d->a, d->rs, d->seg, d->os, true, bp, c0, c1, ldc, add, 4);
    } else {
        if (rows == 12) micro_direct_rows(k0, kc, d->a, d->rs, d->seg, d->os, false, bp, c0, c1, ldc, add, 12);
        else if (rows == 8) micro_direct_rows(k0, kc, d->a, d->rs, d->seg, d->os, false, bp, c0, c1, ldc, add, 8);
        else micro_direct_rows(k0, kc, d->a, d->rs, d->seg, d->os, false, bp, c0, c1, ldc, add, 4);
    }
}

/* The direct panel of group gi's weights at rows [p, p + 12). */
static direct_a direct_panel(const layout *L, const float *w, bool flipped, int64_t gi, int64_t p) {
    direct_a d;
    if (flipped) {
        d.a = w + (gi * L->cg * L->og + p) * L->kk;
        d.rs = L->kk, d.seg = L->kk, d.os = L->og * L->kk, d.flip = true;
    } else {
        d.a = w + (gi * L->og + p) * L->k;
        d.rs = L->k, d.seg = L->k, d.os = 0, d.flip = false;
    }
    return d;
}

/* Weights read where they lie (micro_direct), for a call of one or two tiles: packing them (9 MB
 * at 512 channels, for every call of a fused kernel's image loop and every chunk of a thread's
 * share) cost as much as the products. A panel of other than 4, 8 or 12 rows (the last one of a
 * group) is packed into `block` (12 x KC floats) per K block instead. */
typedef struct weights {
    const float *w;
    bool flipped;
    float *block;
} weights;

/* One tile: columns [j0, j0 + width) of the call's images (from image lo), every group. Each
 * K block's panels are unfolded one at a time into b (kc x 32, in L1) and multiplied at once by
 * every row of the block's weights (og x kc, in L2 across the tile's panels); the tile's y
 * (og x width) stays in L2 across the K blocks. */
AVX512 static void run_tile(const layout *L, const float *x, const float *a, const weights *jit, float *y, int64_t lo,
                            int64_t j0, int64_t width, const entry *table, float *b) {
    const gc_conv_geom *g = L->g;
    enum { MAX_BLOCKS = 4096 / HALF };
    const float *xb[MAX_BLOCKS];
    float *yb[MAX_BLOCKS];
    int32_t blk[MAX_BLOCKS];
    int64_t nb = width / HALF, panels = (nb + 1) / 2;
    for (int64_t gi = 0; gi < g->groups; gi++) {
        for (int64_t i = 0; i < nb; i++) {
            int64_t j = j0 + i * HALF, n = lo + j / L->out_size, q = j % L->out_size;
            xb[i] = x + (n * g->in_channels + gi * L->cg) * L->in_size;
            yb[i] = y + (n * g->out_channels + gi * L->og) * L->out_size + q;
            blk[i] = (int32_t)(q / HALF);
        }
        const float *ag = jit ? NULL : a + gi * L->m_pad * L->k;
        for (int64_t kb = 0; kb < L->k_blocks; kb++) {
            int64_t k0 = k_start(L, kb), kc = k_start(L, kb + 1) - k0;
            const float *ablock = jit ? NULL : ag + k0 * L->m_pad;
            pack_block(L, table, xb, blk, nb, k0, kc, b);
            if (jit) {
                /* The last panel, when it is not 4, 8 or 12 rows, packed once per K block. */
                int64_t last = (L->og - 1) / MR * MR, rows = L->og - last;
                bool packed_last = rows != 4 && rows != 8 && rows != 12;
                if (packed_last) pack_weight_rows(L, jit->w, jit->flipped, gi, k0, kc, last, last + MR, jit->block);
                for (int64_t q = 0; q < panels; q++) {
                    const float *bp = b + q * kc * NR;
                    float *c0 = yb[2 * q], *c1 = 2 * q + 1 < nb ? yb[2 * q + 1] : NULL;
                    for (int64_t p = 0; p < L->og; p += MR) {
                        int rows_p = L->og - p < MR ? (int)(L->og - p) : MR;
                        float *d0 = c0 + p * L->out_size, *d1 = c1 ? c1 + p * L->out_size : NULL;
                        if (p == last && packed_last) {
                            micro(kc, jit->block, bp, d0, d1, L->out_size, kb > 0, rows_p);
                        } else {
                            direct_a d = direct_panel(L, jit->w, jit->flipped, gi, p);
                            micro_direct(k0, kc, &d, bp, d0, d1, L->out_size, kb > 0, rows_p);
                        }
                    }
                }
                continue;
            }
            for (int64_t i0 = 0; i0 < L->og; i0 += mc_max) {
                int64_t i1 = i0 + mc_max < L->og ? i0 + mc_max : L->og;
                /* Panel p of the row block at arows + (p - i0) * kc. */
                const float *arows = ablock + i0 * kc;
                for (int64_t q = 0; q < panels; q++) {
                    const float *bp = b + q * kc * NR;
                    float *c0 = yb[2 * q], *c1 = 2 * q + 1 < nb ? yb[2 * q + 1] : NULL;
                    for (int64_t p = i0; p < i1; p += MR) {
                        int rows = i1 - p < MR ? (int)(i1 - p) : MR;
                        micro(kc, arows + (p - i0) * kc, bp, c0 + p * L->out_size, c1 ? c1 + p * L->out_size : NULL,
                              L->out_size, kb > 0, rows);
                    }
                }
            }
        }
    }
}
#endif

#if FWD_X86
/* The products of gc_conv_fast_forward for layout L with table `table`. `direct`: read the weights
 * where they lie whatever the tile count. */
static bool forward_run(const layout *L, const entry *table, state *s, const float *x, const float *w, bool flipped,
                        float *y, int64_t lo, int64_t hi, int32_t again, bool direct) {
    const gc_conv_geom *g = L->g;
    bool grew;
    if (!ensure((void **)&s->b, &s->b_floats, b_floats(L), sizeof(float), &grew)) return false;
    int64_t columns = (hi - lo) * L->out_size, tiles = (columns + L->tile - 1) / L->tile;
    bool packed = again && s->a_ok && s->a_w == w && s->a_flipped == flipped && memcmp(&s->a_geom, g, sizeof *g) == 0;
    /* A call of one or two tiles reads the weights where they lie (micro_direct): packing them all
     * first (9 MB at 512 channels) would cost more than the products take. More tiles share one
     * packing of all. */
    weights jit = {w, flipped, NULL};
    if (!packed && (direct || tiles <= 2)) {
        if (!ensure((void **)&s->a, &s->a_floats, (size_t)MR * (size_t)kc_max, sizeof(float), &grew))
            return false;
        s->a_ok = false;
        jit.block = s->a;
    } else if (!packed) {
        if (!ensure((void **)&s->a, &s->a_floats, a_floats(L), sizeof(float), &grew)) return false;
        s->a_ok = false;
        for (int64_t gi = 0; gi < g->groups; gi++) pack_weights(L, w, flipped, gi, s->a + gi * L->m_pad * L->k);
        s->a_geom = *g;
        s->a_w = w;
        s->a_flipped = flipped;
        s->a_ok = true;
    }
    for (int64_t j0 = 0; j0 < columns; j0 += L->tile) {
        int64_t width = columns - j0 < L->tile ? columns - j0 : L->tile;
        run_tile(L, x, s->a, jit.block ? &jit : NULL, y, lo, j0, width, table, s->b);
    }
    return true;
}
#endif

bool gc_conv_fast_forward(const gc_conv_geom *g, const float *x, const float *w, bool flipped, float *y, int64_t lo,
                          int64_t hi, int32_t again) {
#if FWD_X86
    if (lo >= hi) return true;
    if (!gc_conv_fast_forward_takes(g)) return false;
    layout L;
    make_layout(g, &L);
    state *s = thread_state();
    if (!s) return false;
    bool grew;
    size_t entries = (size_t)(L.kk * L.blocks);
    if (!ensure((void **)&s->table, &s->table_entries, entries, sizeof(entry), &grew)) return false;
    if (grew || !s->table_ok || memcmp(&s->table_geom, g, sizeof *g) != 0) {
        build_table(&L, s->table);
        s->table_geom = *g;
        s->table_ok = true;
    }
    return forward_run(&L, s->table, s, x, w, flipped, y, lo, hi, again, false);
#else
    (void)g, (void)x, (void)w, (void)flipped, (void)y, (void)lo, (void)hi, (void)again;
    return false;
#endif
}

/* ---- strided input gradient: one stride-1 convolution per stride phase ----
 *
 * dx at positions i = s * m + phi (per dim) receives only the kernel positions k with
 * k * dil = phi + pad (mod s): k = first + t * step (step = s / gcd(s, dil)), from dy at
 * p = m + (phi + pad - k * dil) / s. For each phase phi that is a convolution of dy with stride 1,
 * dilation dil / gcd(s, dil) and the kernel positions k backwards, whose output is the phase's
 * positions m: the forward machinery above computes it (flipped weights read where they lie: w
 * itself when the phase has every kernel position, as a 1x1 kernel's does, else the phase's positions
 * gathered out of w once per call, or once per thread's run of calls with `again`) into a buffer,
 * which is then
 * written to dx's strided positions. Every dx element comes from exactly one phase (0 where no
 * kernel position reaches it), summed in an order fixed by the geometry. */

#define MAX_PHASES 64

typedef struct phase {
    gc_conv_geom g;   /* its convolution of dy */
    int64_t phi[3];   /* dx position of its output 0 along each dim (the stride is the original's) */
    int64_t m[3];     /* its output positions along each dim */
    bool empty;       /* no kernel position reaches its dx positions: 0 there */
    int64_t kk;       /* kernel positions */
    int64_t w_off;    /* its weights in the gathered buffer: [out_channels, in_channels / groups, kk] */
    int64_t table_off;
    int64_t kidx_off; /* its kernel positions (indices into the original kernel) in kidx */
    int64_t t_off;    /* its output for a run of images in the buffer: [images, in_channels, m] */
} phase;

struct strided {
    gc_conv_geom g; /* what the plan is for */
    bool planned, takes;
    int count;
    phase ph[MAX_PHASES];
    int index[MAX_PHASES]; /* phase f = (phi0 * s1 + phi1) * s2 + phi2 is ph[index[f]] */
    int64_t *kidx;      /* each phase's kernel positions, t ascending */
    entry *tables;
    int64_t per;        /* images per run */
    int64_t t_columns;  /* buffer columns a run of images fills (every phase's) */
    int64_t w_gathered; /* floats of gathered weights */
    float *w;           /* the gathered weights */
    size_t w_floats;
    const float *w_src; /* what they were gathered from */
    bool w_ok;
    float *t;           /* one run's phase output */
    size_t t_floats;
};

static void strided_free(struct strided *st) {
    if (!st) return;
    free(st->kidx);
    free(st->tables);
    free(st->w);
    free(st->t);
    free(st);
}

static int64_t gcd64(int64_t a, int64_t b) {
    while (b) {
        int64_t r = a % b;
        a = b;
        b = r;
    }
    return a;
}

/* The phases of g's input gradient into st; false when some phase is not one the forward takes. */
static bool plan_phases(const gc_conv_geom *g, struct strided *st) {
    st->count = 0;
    int64_t kk = g->kernel[0] * g->kernel[1] * g->kernel[2], phases = g->stride[0] * g->stride[1] * g->stride[2];
    if (phases > MAX_PHASES) return false;
    free(st->kidx);
    free(st->tables);
    st->tables = NULL;
    if (!(st->kidx = malloc(sizeof(int64_t) * (size_t)kk))) return false;
    int64_t kidx_at = 0, table_at = 0, w_at = 0, cg = g->in_channels / g->groups;
    st->t_columns = 0;
    for (int64_t f = 0; f < phases; f++) {
        phase *ph = &st->ph[st->count];
        memset(ph, 0, sizeof *ph);
        int64_t phi[3] = {f / (g->stride[1] * g->stride[2]), f / g->stride[2] % g->stride[1], f % g->stride[2]};
        int64_t first[3], step[3], n[3];
        bool none = false;
        for (int d = 0; d < 3; d++) {
            int64_t s = g->stride[d], dil = g->dilation[d];
            ph->phi[d] = phi[d];
            ph->m[d] = g->in[d] > phi[d] ? (g->in[d] - phi[d] + s - 1) / s : 0;
            if (ph->m[d] == 0) none = true;
            step[d] = s / gcd64(s, dil);
            first[d] = -1;
            for (int64_t k = 0; k < g->kernel[d] && k < step[d] && first[d] < 0; k++)
                if ((((k * dil - g->pad_before[d] - phi[d]) % s) + s) % s == 0) first[d] = k;
            n[d] = first[d] < 0 ? 0 : (g->kernel[d] - 1 - first[d]) / step[d] + 1;
            if (n[d] == 0) ph->empty = true;
        }
        if (none) continue; /* no dx positions */
        st->index[f] = st->count++;
        if (ph->empty) continue;
        gc_conv_geom *pg = &ph->g;
        memset(pg, 0, sizeof *pg);
        pg->batch = g->batch, pg->in_channels = g->out_channels, pg->out_channels = g->in_channels;
        pg->groups = g->groups, pg->spatial = g->spatial;
        for (int d = 0; d < 3; d++) {
            pg->in[d] = g->out[d];
            pg->out[d] = ph->m[d];
            pg->kernel[d] = n[d];
            pg->stride[d] = 1;
            /* Its kernel position t reads the original's position first + (n - 1 - t) * step, so
             * that the flipped forward pairs it with the t-th gathered weight from the last: the
             * gathered weights are the original's in their order (w itself when they are all). */
            pg->dilation[d] = g->dilation[d] / gcd64(g->stride[d], g->dilation[d]);
            pg->pad_before[d] =
                -((phi[d] + g->pad_before[d] - (first[d] + (n[d] - 1) * step[d]) * g->dilation[d]) / g->stride[d]);
        }
        if (!gc_conv_fast_forward_takes(pg)) return false;
        layout L;
        make_layout(pg, &L);
        ph->kk = L.kk;
        ph->kidx_off = kidx_at;
        for (int64_t t = 0; t < L.kk; t++) {
            int64_t t2 = t % n[2], t1 = t / n[2] % n[1], t0 = t / (n[2] * n[1]);
            st->kidx[kidx_at++] = ((first[0] + t0 * step[0]) * g->kernel[1] + first[1] + t1 * step[1]) * g->kernel[2] +
                                  first[2] + t2 * step[2];
        }
        ph->table_off = table_at;
        table_at += L.kk * L.blocks;
        ph->w_off = -1; /* w itself */
        if (L.kk != kk) {
            ph->w_off = w_at;
            w_at += g->out_channels * cg * L.kk;
        }
    }
    /* Runs of images whose phase outputs fill about 512 columns (the buffer stays in L2), at
     * least 32 of the smallest phase (a panel of the micro-kernel). */
    int64_t in_size = g->in[0] * g->in[1] * g->in[2], smallest = in_size;
    for (int i = 0; i < st->count; i++)
        if (!st->ph[i].empty) {
            int64_t size = st->ph[i].m[0] * st->ph[i].m[1] * st->ph[i].m[2];
            if (size < smallest) smallest = size;
        }
    st->per = in_size >= 512 ? 1 : 512 / in_size;
    if (st->per * smallest < 32) st->per = (32 + smallest - 1) / smallest;
    for (int i = 0; i < st->count; i++) {
        phase *ph = &st->ph[i];
        ph->t_off = st->t_columns * g->in_channels;
        if (!ph->empty) st->t_columns += st->per * ph->m[0] * ph->m[1] * ph->m[2];
    }
    st->w_gathered = w_at;
    if (table_at > MAX_TABLE_ENTRIES) return false;
    if (table_at && !(st->tables = malloc(sizeof(entry) * (size_t)table_at))) return false;
    for (int i = 0; i < st->count; i++) {
        if (st->ph[i].empty) continue;
        layout L;
        make_layout(&st->ph[i].g, &L);
        build_table(&L, st->tables + st->ph[i].table_off);
    }
    return true;
}

/* The plan of g's strided input gradient on this thread, or NULL when the forward does not take it. */
static struct strided *strided_plan(state *s, const gc_conv_geom *g) {
    if (!s->strided && !(s->strided = calloc(1, sizeof *s->strided))) return NULL;
    struct strided *st = s->strided;
    if (!st->planned || memcmp(&st->g, g, sizeof *g) != 0) {
        st->g = *g;
        st->planned = true;
        st->w_ok = false;
        st->takes = plan_phases(g, st);
    }
    return st->takes ? st : NULL;
}

#if FWD_X86
/* row[2 m] = a[m], row[2 m + 1] = b[m] for m < half (NULL: zeros). */
AVX512 static void interleave_row(float *row, const float *a, const float *b, int64_t half) {
    const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    int64_t m = 0;
    for (; m + HALF <= half; m += HALF) {
        __m512 va = a ? _mm512_loadu_ps(a + m) : _mm512_setzero_ps(), vb = b ? _mm512_loadu_ps(b + m) : _mm512_setzero_ps();
        _mm512_storeu_ps(row + 2 * m, _mm512_permutex2var_ps(va, lo, vb));
        _mm512_storeu_ps(row + 2 * m + HALF, _mm512_permutex2var_ps(va, hi, vb));
    }
    if (m < half) {
        /* The last (or only: rows of 8x8 and 4x4 images) fewer than 16 of each, by masks. */
        int rem = (int)(half - m);
        __mmask16 in = (__mmask16)((1u << rem) - 1);
        __m512 va = a ? _mm512_maskz_loadu_ps(in, a + m) : _mm512_setzero_ps();
        __m512 vb = b ? _mm512_maskz_loadu_ps(in, b + m) : _mm512_setzero_ps();
        int first = 2 * rem < HALF ? 2 * rem : HALF;
        _mm512_mask_storeu_ps(row + 2 * m, (__mmask16)((1u << first) - 1), _mm512_permutex2var_ps(va, lo, vb));
        if (2 * rem > HALF)
            _mm512_mask_storeu_ps(row + 2 * m + HALF, (__mmask16)((1u << (2 * rem - HALF)) - 1),
                                  _mm512_permutex2var_ps(va, hi, vb));
    }
}
#endif

bool gc_conv_fast_input_grad(const gc_conv_geom *g, const float *dy, const float *w, float *dx, int64_t lo, int64_t hi,
                             int32_t again) {
#if FWD_X86
    if (!gc_sgemm_uses_own()) return false;
    if (lo >= hi) return true;
    state *s = thread_state();
    if (!s) return false;
    struct strided *st = strided_plan(s, g);
    if (!st) return false;
    int64_t cg = g->in_channels / g->groups, kk = g->kernel[0] * g->kernel[1] * g->kernel[2];
    int64_t dy_size = g->out[0] * g->out[1] * g->out[2];
    bool grew;
    if (st->w_gathered && !ensure((void **)&st->w, &st->w_floats, (size_t)st->w_gathered, sizeof(float), &grew))
        return false;
    if (!ensure((void **)&st->t, &st->t_floats, (size_t)(st->t_columns * g->in_channels), sizeof(float), &grew))
        return false;
    if (st->w_gathered && !(again && st->w_ok && st->w_src == w)) {
        /* Each phase's weights [o, c, t] = w[o, c, its t-th kernel position]. */
        for (int i = 0; i < st->count; i++) {
            const phase *ph = &st->ph[i];
            if (ph->empty || ph->w_off < 0) continue;
            const int64_t *kidx = st->kidx + ph->kidx_off;
            float *dst = st->w + ph->w_off;
            for (int64_t oc = 0; oc < g->out_channels * cg; oc++, dst += ph->kk)
                for (int64_t t = 0; t < ph->kk; t++) dst[t] = w[oc * kk + kidx[t]];
        }
        st->w_src = w;
        st->w_ok = true;
    }
    int64_t s0 = g->stride[0], s1 = g->stride[1], s2 = g->stride[2];
    for (int64_t n0 = lo; n0 < hi; n0 += st->per) {
        int64_t n1 = n0 + st->per < hi ? n0 + st->per : hi;
        for (int i = 0; i < st->count; i++) {
            const phase *ph = &st->ph[i];
            if (ph->empty) continue;
            layout L;
            make_layout(&ph->g, &L);
            if (!forward_run(&L, st->tables + ph->table_off, s, dy + n0 * g->out_channels * dy_size,
                             ph->w_off < 0 ? w : st->w + ph->w_off, true, st->t + ph->t_off, 0, n1 - n0, 0, true))
                return false;
        }
        /* The run's phase outputs to dx, row by row (each row's phases interleave), 0 where an
         * empty phase's positions are. */
        for (int64_t n = n0; n < n1; n++)
            for (int64_t c = 0; c < g->in_channels; c++)
                /* (phi0, q0) = (i0 mod s0, i0 / s0), and the same for i1, kept by counting. */
                for (int64_t i0 = 0, phi0 = 0, q0 = 0; i0 < g->in[0]; i0++, phi0 = phi0 + 1 == s0 ? (q0++, 0) : phi0 + 1)
                    for (int64_t i1 = 0, phi1 = 0, q1 = 0; i1 < g->in[1];
                         i1++, phi1 = phi1 + 1 == s1 ? (q1++, 0) : phi1 + 1) {
                        float *row = dx + ((n * g->in_channels + c) * g->in[0] + i0) * g->in[1] * g->in[2] + i1 * g->in[2];
                        int64_t f01 = (phi0 * s1 + phi1) * s2;
                        if (s2 == 2 && g->in[2] % 2 == 0) {
                            /* Both phases of the row at once: 16 of each interleaved per store. */
                            const float *src[2];
                            for (int f2 = 0; f2 < 2; f2++) {
                                const phase *ph = &st->ph[st->index[f01 + f2]];
                                src[f2] = ph->empty ? NULL
                                                    : st->t + ph->t_off +
                                                          (((n - n0) * g->in_channels + c) * ph->m[0] + q0) *
                                                              ph->m[1] * ph->m[2] +
                                                          q1 * ph->m[2];
                            }
                            interleave_row(row, src[0], src[1], g->in[2] / 2);
                            continue;
                        }
                        for (int64_t f2 = 0; f2 < s2 && f2 < g->in[2]; f2++) {
                            const phase *ph = &st->ph[st->index[f01 + f2]];
                            float *d = row + f2;
                            if (ph->empty) {
                                for (int64_t m2 = 0; m2 < ph->m[2]; m2++) d[m2 * s2] = 0;
                                continue;
                            }
                            const float *src = st->t + ph->t_off +
                                               (((n - n0) * g->in_channels + c) * ph->m[0] + q0) * ph->m[1] * ph->m[2] +
                                               q1 * ph->m[2];
                            if (s2 == 2) {
                                for (int64_t m2 = 0; m2 < ph->m[2]; m2++) d[2 * m2] = src[m2];
                            } else {
                                for (int64_t m2 = 0; m2 < ph->m[2]; m2++) d[m2 * s2] = src[m2];
                            }
                        }
                    }
    }
    return true;
#else
    (void)g, (void)dy, (void)w, (void)dx, (void)lo, (void)hi, (void)again;
    return false;
#endif
}

int64_t gc_conv_fast_input_grad_workspace_bytes(const gc_conv_geom *g) {
#if FWD_X86
    if (!gc_sgemm_uses_own()) return 0;
    state *s = thread_state();
    struct strided *st = s ? strided_plan(s, g) : NULL;
    if (!st) return 0;
    int64_t cg = g->in_channels / g->groups, kk = g->kernel[0] * g->kernel[1] * g->kernel[2], tables = 0;
    int64_t b = 0;
    for (int i = 0; i < st->count; i++) {
        if (st->ph[i].empty) continue;
        layout L;
        make_layout(&st->ph[i].g, &L);
        tables += L.kk * L.blocks;
        if ((int64_t)b_floats(&L) > b) b = (int64_t)b_floats(&L);
    }
    (void)cg, (void)kk;
    return (int64_t)sizeof(float) * (st->w_gathered + st->t_columns * g->in_channels + b + MR * kc_max) +
           tables * (int64_t)sizeof(entry);
#else
    (void)g;
    return 0;
#endif
}
