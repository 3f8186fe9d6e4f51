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
} state;

static pthread_key_t state_key;
static pthread_once_t state_once = PTHREAD_ONCE_INIT;
static bool state_key_ok;

static void state_free(void *raw) {
    state *s = raw;
    if (!s) return;
    free(s->a);
    free(s->b);
    free(s->table);
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
    for (int64_t k = k0, end = k0 + kc; k < end;) {
        int64_t s = k / seg, j = k % seg, n = seg - j < end - k ? seg - j : end - k;
        /* Rows 0-3 from a0, 4-7 from a4, 8-11 from a8: offsets 0, rs, 2 rs, 3 rs, each one
         * addressing mode. */
        const float *a0 = a + s * os + (flip ? seg - 1 - j : j), *a4 = a0 + 4 * rs, *a8 = a0 + 8 * rs;
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
            if (flip) a0--, a4--, a8--;
            else a0++, a4++, a8++;
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
    if (!ensure((void **)&s->b, &s->b_floats, b_floats(&L), sizeof(float), &grew)) return false;
    int64_t columns = (hi - lo) * L.out_size, tiles = (columns + L.tile - 1) / L.tile;
    bool packed = again && s->a_ok && s->a_w == w && s->a_flipped == flipped && memcmp(&s->a_geom, g, sizeof *g) == 0;
    /* A call of one or two tiles reads the weights where they lie (micro_direct): packing them all
     * first (9 MB at 512 channels) would cost more than the products take. More tiles share one
     * packing of all. */
    weights jit = {w, flipped, NULL};
    if (!packed && tiles <= 2) {
        if (!ensure((void **)&s->a, &s->a_floats, (size_t)MR * (size_t)kc_max, sizeof(float), &grew))
            return false;
        s->a_ok = false;
        jit.block = s->a;
    } else if (!packed) {
        if (!ensure((void **)&s->a, &s->a_floats, a_floats(&L), sizeof(float), &grew)) return false;
        s->a_ok = false;
        for (int64_t gi = 0; gi < g->groups; gi++) pack_weights(&L, w, flipped, gi, s->a + gi * L.m_pad * L.k);
        s->a_geom = *g;
        s->a_w = w;
        s->a_flipped = flipped;
        s->a_ok = true;
    }
    for (int64_t j0 = 0; j0 < columns; j0 += L.tile) {
        int64_t width = columns - j0 < L.tile ? columns - j0 : L.tile;
        run_tile(&L, x, s->a, jit.block ? &jit : NULL, y, lo, j0, width, s->table, s->b);
    }
    return true;
#else
    (void)g, (void)x, (void)w, (void)flipped, (void)y, (void)lo, (void)hi, (void)again;
    return false;
#endif
}
