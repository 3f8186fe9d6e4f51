/*
 * conv_weight_grad.c: the weight-gradient kernels of generated code (conv_weight_grad; see
 * conv.h for what each computes and how the work is cut), apart from the forward and
 * input-gradient kernels (conv.c) so that each can be tuned on its own. The small helpers both
 * need (the plan of a geometry, its column tiles, unfolding, per-thread buffers) are copied here
 * rather than shared, for the same reason.
 *
 * f32 on AVX-512 runs the tile kernel below ("the unfolded input read where it lies"). Otherwise
 * (no AVX-512, bf16 operands), per group g (og output and cg input channels, K = cg * kernel
 * positions) and per column tile of T output positions, with col the tile's unfolded input [K, T]:
 *   weight grad    dw_g[og, K]   += dy[og, T] @ col[K, T]^T, tile after tile in a fixed order
 * A tile of one image reads dy in place (ld = positions per image); a tile of several images
 * gathers dy into a [og, T] buffer beside the column buffer.
 *
 * The bf16 kernel (mixed precision) is the f32 one with every product's operands rounded to bf16:
 * on this thread, for the call, sgemm and own_packed go to gc_sgemm_bf16 (which rounds while
 * packing) and the direct loops read through gc_bf16_round.
 */
#include "runtime/conv_weight_grad.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ir/conv.h"
#include "runtime/conv.h"
#include "runtime/gemm.h"
#include "runtime/gemm_bf16.h"
#include "runtime/conv_plan.h"
#include "runtime/parallel.h"

#define ROW_MAJOR 101
#define NO_TRANS 111
#define TRANS 112

_Static_assert(sizeof(gc_conv_geom) == GC_CONV_GEOM_WORDS * sizeof(int64_t), "gc_conv_geom is a run of int64s");

/* Set by the bf16 entry points around their f32 kernel: this thread's products take bf16 operands. */
static _Thread_local bool bf16_operands;

/* ---- per-thread buffers ---- */

typedef struct scratch {
    float *data;
    size_t floats;
} scratch;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static bool scratch_key_ok;

static void scratch_free(void *raw) {
    scratch *s = raw;
    if (!s) return;
    free(s->data);
    free(s);
}

static void scratch_key_init(void) { scratch_key_ok = pthread_key_create(&scratch_key, scratch_free) == 0; }

/* At least `floats` floats for this thread, or NULL (the caller then runs direct loops). */
static float *thread_scratch(size_t floats) {
    pthread_once(&scratch_once, scratch_key_init);
    if (!scratch_key_ok) return NULL;
    scratch *s = pthread_getspecific(scratch_key);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s) return NULL;
        if (pthread_setspecific(scratch_key, s) != 0) {
            free(s);
            return NULL;
        }
    }
    if (s->floats < floats) {
        void *p = NULL;
        if (posix_memalign(&p, 64, floats * sizeof(float)) != 0) return NULL;
        free(s->data);
        s->data = p;
        s->floats = floats;
    }
    return s->data;
}

static size_t scratch_floats(const plan *p) {
    int64_t t = max_tile(p);
    return (size_t)((p->k + p->g->out_channels) * t);
}

static int64_t wg_floats(const plan *p);

int64_t gc_conv_weight_grad_workspace_bytes(const int64_t *geom) {
    plan p;
    make_plan((const gc_conv_geom *)(const void *)geom, &p);
    if (p.direct) return 0;
    int64_t floats = (int64_t)scratch_floats(&p), tiled = wg_floats(&p);
    return (floats > tiled ? floats : tiled) * (int64_t)sizeof(float);
}

/* ---- unfolding ---- */

/* d[c_start, a) = 0, d[a, b) = src[o * stride], d[b, c_end) = 0. */
static inline void copy_row(float *restrict d, const float *restrict src, int64_t c_start, int64_t a, int64_t b,
                            int64_t c_end, int64_t stride) {
    for (int64_t o = c_start; o < a; o++) d[o] = 0;
    if (stride == 1)
        for (int64_t o = a; o < b; o++) d[o] = src[o];
    else
        for (int64_t o = a; o < b; o++) d[o] = src[o * stride];
    for (int64_t o = b; o < c_end; o++) d[o] = 0;
}

/* Row (k0, k1, k2) of the unfolded input of one channel plane xc, output positions [q0, q1), into
 * out[0, q1 - q0): x at each position's window offset, 0 in the padding. */
static void unfold_run(const plan *p, const float *xc, int64_t k0, int64_t k1, int64_t k2, int64_t q0,
                                   int64_t q1, float *out) {
    const gc_conv_geom *g = p->g;
    int64_t base = k2 * g->dilation[2] - g->pad_before[2], s2 = g->stride[2];
    int64_t lo, hi;
    valid_range(base, s2, g->in[2], p->ow, &lo, &hi);
    /* Output row r = (p0, p1) and column c_start of position q0; then row by row, no division. */
    int64_t r = q0 / p->ow, c_start = q0 % p->ow, p0 = r / g->out[1], p1 = r % g->out[1];
    for (int64_t q = q0; q < q1;) {
        int64_t c_end = c_start + (q1 - q) < p->ow ? c_start + (q1 - q) : p->ow;
        int64_t i0 = p0 * g->stride[0] - g->pad_before[0] + k0 * g->dilation[0];
        int64_t i1 = p1 * g->stride[1] - g->pad_before[1] + k1 * g->dilation[1];
        float *d = out + (q - q0) - c_start; /* d[ow] is column ow of this row */
        if (i0 < 0 || i0 >= g->in[0] || i1 < 0 || i1 >= g->in[1]) {
            for (int64_t o = c_start; o < c_end; o++) d[o] = 0;
        } else {
            const float *src = xc + (i0 * g->in[1] + i1) * g->in[2] + base;
            int64_t a = lo > c_start ? lo : c_start, b = hi < c_end ? hi : c_end;
            if (a > b) a = b;
            /* Loops rather than memcpy: rows are short (a 4x4 image's are 4 floats). */
            copy_row(d, src, c_start, a, b, c_end, s2);
        }
        q += c_end - c_start;
        c_start = 0;
        if (++p1 == g->out[1]) p1 = 0, p0++;
    }
}

/* Rows [c0, c0 + channels) x kernel positions of the unfolded input of one image (x points at its
 * channel c0), for output positions [q0, q1), into col (row stride ld) from column col_off. */
static void im2col(const plan *p, const float *x, int64_t channels, int64_t q0, int64_t q1, float *col, int64_t ld,
                   int64_t col_off) {
    const gc_conv_geom *g = p->g;
    int64_t row = 0;
    for (int64_t c = 0; c < channels; c++)
        for (int64_t k0 = 0; k0 < g->kernel[0]; k0++)
            for (int64_t k1 = 0; k1 < g->kernel[1]; k1++)
                for (int64_t k2 = 0; k2 < g->kernel[2]; k2++, row++)
                    unfold_run(p, x + c * p->in_size, k0, k1, k2, q0, q1, col + row * ld + col_off);
}

/* ---- direct loops (depthwise, tiny groups, f64) ---- */

#define DIRECT_WEIGHT_GRAD(T, ACC, SUFFIX, LOAD)                                                                                \
    static void direct_weight_grad_##SUFFIX(const plan *p, const T *x, const T *dy, T *dw, int64_t c_lo, int64_t c_hi,   \
                                            int64_t o_lo, int64_t o_hi) {                                                \
        const gc_conv_geom *g = p->g;                                                                                   \
        for (int64_t c = c_lo; c < c_hi; c++) {                                                                         \
            int64_t gi = c / p->cg, cl = c % p->cg;                                                                     \
            for (int64_t ol = o_lo; ol < o_hi; ol++) {                                                                  \
                int64_t o = gi * p->og + ol;                                                                            \
                T *wk = dw + (o * p->cg + cl) * p->kk;                                                                  \
                for (int64_t k0 = 0; k0 < g->kernel[0]; k0++)                                                           \
                    for (int64_t k1 = 0; k1 < g->kernel[1]; k1++)                                                       \
                        for (int64_t k2 = 0; k2 < g->kernel[2]; k2++) {                                                 \
                            int64_t base = k2 * g->dilation[2] - g->pad_before[2], s2 = g->stride[2], lo, hi;           \
                            valid_range(base, s2, g->in[2], p->ow, &lo, &hi);                                           \
                            ACC acc = 0;                                                                                \
                            for (int64_t n = 0; n < g->batch; n++) {                                                    \
                                const T *xc = x + (n * g->in_channels + c) * p->in_size;                                \
                                const T *dyo = dy + (n * g->out_channels + o) * p->out_size;                            \
                                for (int64_t p0 = 0; p0 < g->out[0]; p0++) {                                            \
                                    int64_t i0 = p0 * g->stride[0] - g->pad_before[0] + k0 * g->dilation[0];            \
                                    if (i0 < 0 || i0 >= g->in[0]) continue;                                             \
                                    for (int64_t p1 = 0; p1 < g->out[1]; p1++) {                                        \
                                        int64_t i1 = p1 * g->stride[1] - g->pad_before[1] + k1 * g->dilation[1];        \
                                        if (i1 < 0 || i1 >= g->in[1]) continue;                                         \
                                        const T *src = xc + (i0 * g->in[1] + i1) * g->in[2] + base;                     \
                                        const T *d = dyo + (p0 * g->out[1] + p1) * p->ow;                               \
                                        ACC row = 0;                                                                    \
                                        for (int64_t q = lo; q < hi; q++) row += (ACC)LOAD(src[q * s2]) * (ACC)LOAD(d[q]); \
                                        acc += row;                                                                     \
                                    }                                                                                   \
                                }                                                                                       \
                            }                                                                                           \
                            *wk++ = (T)acc;                                                                             \
                        }                                                                                               \
            }                                                                                                           \
        }                                                                                                               \
    }

#define AS_IS(x) (x)
DIRECT_WEIGHT_GRAD(float, double, f32, AS_IS)
DIRECT_WEIGHT_GRAD(float, double, bf16, gc_bf16_round)
DIRECT_WEIGHT_GRAD(double, double, f64, AS_IS)

/* ---- f64: direct loops ---- */

void gc_conv_weight_grad_f64(const int64_t *geom, const double *x, const double *dy, double *dw, int32_t from,
                             int32_t to) {
    plan p;
    make_plan((const gc_conv_geom *)(const void *)geom, &p);
    int64_t lo, hi;
    share_range(p.g->in_channels, from, to, &lo, &hi);
    direct_weight_grad_f64(&p, x, dy, dw, lo, hi, 0, p.og);
}

/* ---- f32: GEMMs over column tiles ---- */

static void sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b,
                  int64_t ldb, float beta, float *c, int64_t ldc) {
    (bf16_operands ? gc_sgemm_bf16 : gc_sgemm)(ROW_MAJOR, ta ? TRANS : NO_TRANS, tb ? TRANS : NO_TRANS, (int32_t)m,
                                               (int32_t)n, (int32_t)k, 1.0f, a,
             (int32_t)lda, b, (int32_t)ldb, beta, c, (int32_t)ldc);
}

/* gc_sgemm_own_packed, or its bf16 twin for a bf16 kernel. */
static bool own_packed(bool trans_a, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, gc_sgemm_pack_fn pack,
                       const void *ctx, float beta, float *c, int64_t ldc) {
    if (bf16_operands) return gc_sgemm_bf16_packed(trans_a, m, n, k, a, lda, pack, ctx, beta, c, ldc);
    return gc_sgemm_own_packed(trans_a, m, n, k, a, lda, pack, ctx, beta, c, ldc);
}


/* ---- implicit GEMM: the unfolded input written straight into gc_sgemm's packed panels ---- */

typedef struct pack_ctx {
    const plan *p;
    const tile *t;
    const float *x; /* channel 0 of the unfolded rows, in image 0 */
    float *row;     /* a row of the tile: max_tile floats */
} pack_ctx;

/* Unfolded row r (channel r / kk from cx->x, kernel position r % kk) at tile columns [j0, j0 + count). */
static void unfold_row(const pack_ctx *cx, int64_t r, int64_t j0, int64_t count, float *out) {
    const plan *p = cx->p;
    const gc_conv_geom *g = p->g;
    int64_t c = r / p->kk, kidx = r % p->kk;
    int64_t k2 = kidx % g->kernel[2], k1 = (kidx / g->kernel[2]) % g->kernel[1], k0 = kidx / (g->kernel[2] * g->kernel[1]);
    const float *xc = cx->x + c * p->in_size;
    bool images = cx->t->n1 - cx->t->n0 > 1;
    for (int64_t j = j0, end = j0 + count; j < end;) {
        int64_t n = images ? cx->t->n0 + j / p->out_size : cx->t->n0;
        int64_t q = images ? j % p->out_size : cx->t->q0 + j;
        int64_t run = images && p->out_size - q < end - j ? p->out_size - q : end - j;
        unfold_run(p, xc + n * g->in_channels * p->in_size, k0, k1, k2, q, q + run, out + (j - j0));
        j += run;
    }
}

/* op(B) = col^T: rows are the tile's positions, columns unfolded rows. */
static void pack_col_t(const void *raw, int64_t p0, int64_t kc, int64_t j0, int64_t nc, float *dst) {
    const pack_ctx *cx = raw;
    int64_t width = (nc + GC_SGEMM_PANEL - 1) / GC_SGEMM_PANEL * GC_SGEMM_PANEL;
    for (int64_t j = 0; j < width; j++) {
        float *d = dst + (j - j % GC_SGEMM_PANEL) * kc + j % GC_SGEMM_PANEL;
        if (j >= nc) {
            for (int64_t t = 0; t < kc; t++) d[t * GC_SGEMM_PANEL] = 0;
            continue;
        }
        unfold_row(cx, j0 + j, p0, kc, cx->row);
        for (int64_t t = 0; t < kc; t++) d[t * GC_SGEMM_PANEL] = cx->row[t];
    }
}

/* ---- f32 on AVX-512: the unfolded input read where it lies ----
 *
 * dw_g[o, r] = sum over images n and output positions q of dy[n, o, q] * col[n, r, q], where the
 * unfolded row r = (c, k0, k1, k2) of position q = (p0, p1, p2) is x[n, c, p0 s0 + k0 d0 - pad0,
 * ...]: for a fixed r, consecutive positions along an output row read x at a fixed stride. So the
 * products need no unfolding: the register tile (WG_MR unfolded rows by WG_NR output channels,
 * 24 zmm accumulators) broadcasts its WG_MR values of x straight from the input, each at its
 * row's offset (a copy of the input with its padding written out as zeros when it is padded), and
 * multiplies them by dy^T, which is packed once per chunk of positions (WG_NR channels side by
 * side for each position). The GEMM form instead unfolded every row into a column buffer and
 * packed it again, which cost as much as the products at 64 channels.
 *
 * Each accumulator adds its products one position after another, images in order, into the sum
 * left by the previous chunk, so every weight's sum is one sequential chain over the whole batch:
 * the same bits whatever the part of the channels a thread takes and however the positions are
 * cut into chunks. The sums are kept transposed (rows by channels, in this thread's buffer) and
 * written into dw at the end. */

#define WG_MR 6
#define WG_NR 64
/* Positions per chunk (at least an output row): each chunk reads and writes every sum once, so a
 * chunk must be long enough to amortise that (a 512-channel layer's sums are 9 MB), and each of its
 * WG_NR-channel panels of dy^T (128 KB) stays in L2 while every row block reads it. */
#define WG_CHUNK_POSITIONS 512
/* The most bytes of sums a part keeps at once: a part with more channels runs as several parts
 * (2048 output channels of a 3 x 3 over 2048 inputs would otherwise need 150 MB a thread). */
#define WG_SUMS_BYTES (16 << 20)

#if defined(__x86_64__) && defined(__GNUC__)
#define WG_X86 1
#include <immintrin.h>

#include "runtime/gemm_transpose.h"
#define WG_AVX512 __attribute__((target("avx512f")))
#else
#define WG_X86 0
#endif

/* How a part (input channels [c0, c1) and output channels [o0, o1) of group gi) is laid out for
 * the tile kernel. */
typedef struct wg_part {
    const plan *p;
    int64_t gi, c0, c1, o0, o1;
    int64_t rows, rows_pad, og_pad; /* unfolded rows, rounded up to WG_MR; o1 - o0 rounded up to WG_NR */
    bool padded;                    /* the input is copied with its padding written out */
    int64_t step0, step1;           /* floats between input planes (depth) and rows in the source */
    int64_t plane;                  /* floats between channels in the source */
    int64_t image;                  /* floats between images in the source */
    int64_t images_per_chunk;       /* >= 1 when a chunk is whole images */
    int64_t rows_per_chunk;         /* output rows (p0, p1) per chunk when a chunk is part of an image */
} wg_part;

/* A chunk of positions: images [n0, n1), and within them output rows [r0, r1) (p0 * out[1] + p1). */
typedef struct wg_chunk {
    int64_t n0, n1, r0, r1;
} wg_chunk;

static bool wg_padded(const gc_conv_geom *g) {
    for (int d = 0; d < 3; d++)
        if (g->pad_before[d] || g->pad_after[d]) return true;
    return false;
}

static int64_t wg_padded_size(const gc_conv_geom *g, int d) { return g->in[d] + g->pad_before[d] + g->pad_after[d]; }

static void wg_make_part(const plan *p, int64_t gi, int64_t c0, int64_t c1, int64_t o0, int64_t o1, wg_part *w) {
    const gc_conv_geom *g = p->g;
    w->p = p;
    w->gi = gi, w->c0 = c0, w->c1 = c1, w->o0 = o0, w->o1 = o1;
    w->rows = (c1 - c0) * p->kk;
    w->rows_pad = (w->rows + WG_MR - 1) / WG_MR * WG_MR;
    w->og_pad = (o1 - o0 + WG_NR - 1) / WG_NR * WG_NR;
    w->padded = wg_padded(g);
    int64_t dp = w->padded ? wg_padded_size(g, 0) : g->in[0];
    int64_t hp = w->padded ? wg_padded_size(g, 1) : g->in[1];
    int64_t wp = w->padded ? wg_padded_size(g, 2) : g->in[2];
    w->step1 = wp;
    w->step0 = hp * wp;
    w->plane = dp * hp * wp;
    w->image = w->padded ? (c1 - c0) * w->plane : g->in_channels * p->in_size;
    int64_t positions = WG_CHUNK_POSITIONS;
    if (positions >= p->out_size) {
        w->images_per_chunk = positions / p->out_size;
        if (w->images_per_chunk > g->batch) w->images_per_chunk = g->batch;
        w->rows_per_chunk = 0;
    } else {
        w->images_per_chunk = 0;
        int64_t out_rows = g->out[0] * g->out[1];
        w->rows_per_chunk = positions / p->ow > 0 ? positions / p->ow : 1;
        if (w->rows_per_chunk > out_rows) w->rows_per_chunk = out_rows;
    }
}

/* The chunk's positions and the floats of each buffer the part needs. */
static int64_t wg_chunk_positions(const wg_part *w) {
    return w->images_per_chunk ? w->images_per_chunk * w->p->out_size : w->rows_per_chunk * w->p->ow;
}

static int64_t wg_input_floats(const wg_part *w) {
    return w->padded ? (w->images_per_chunk ? w->images_per_chunk : 1) * w->image : 0;
}

static int64_t wg_part_floats(const wg_part *w) {
    int64_t positions = wg_chunk_positions(w);
    return w->rows_pad * w->og_pad + positions * w->og_pad + positions * 2 /* offsets */ + wg_input_floats(w);
}

/* Input channels per part: as many as keep the part's sums within WG_SUMS_BYTES. */
static int64_t wg_part_channels(const plan *p) {
    int64_t og_pad = (p->og + WG_NR - 1) / WG_NR * WG_NR;
    int64_t channels = WG_SUMS_BYTES / ((int64_t)sizeof(float) * (p->kk + WG_MR) * og_pad);
    return channels < 1 ? 1 : channels > p->cg ? p->cg : channels;
}

/* The most a thread's part of geometry p needs. */
static int64_t wg_floats(const plan *p) {
    wg_part w;
    wg_make_part(p, 0, 0, wg_part_channels(p), 0, p->og, &w);
    return wg_part_floats(&w);
}

#if WG_X86

static bool wg_cpu_ok(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

/* Images [ch->n0, ch->n1) of channels [c0, c1) into buf with their padding as zeros. */
static void wg_pad_input(const wg_part *w, const float *x, const wg_chunk *ch, float *buf) {
    const plan *p = w->p;
    const gc_conv_geom *g = p->g;
    memset(buf, 0, sizeof(float) * (size_t)((ch->n1 - ch->n0) * w->image));
    for (int64_t n = ch->n0; n < ch->n1; n++)
        for (int64_t c = w->c0; c < w->c1; c++) {
            const float *src = x + (n * g->in_channels + w->gi * p->cg + c) * p->in_size;
            float *dst = buf + (n - ch->n0) * w->image + (c - w->c0) * w->plane;
            for (int64_t i0 = 0; i0 < g->in[0]; i0++)
                for (int64_t i1 = 0; i1 < g->in[1]; i1++)
                    memcpy(dst + (i0 + g->pad_before[0]) * w->step0 + (i1 + g->pad_before[1]) * w->step1 +
                               g->pad_before[2],
                           src + (i0 * g->in[1] + i1) * g->in[2], sizeof(float) * (size_t)g->in[2]);
        }
}

/* dy of the chunk's positions for the group's channels, transposed into WG_NR-channel panels:
 * panel j holds, position after position, channels j * WG_NR .. + WG_NR (zeros past og). */
WG_AVX512 static void wg_pack_dy(const wg_part *w, const float *dy, const wg_chunk *ch, int64_t positions,
                                 float *dst) {
    const plan *p = w->p;
    const gc_conv_geom *g = p->g;
    int64_t q0 = ch->r0 * p->ow, q1 = ch->r1 * p->ow, k = 0;
    for (int64_t n = ch->n0; n < ch->n1; n++, k += q1 - q0) {
        const float *src = dy + (n * g->out_channels + w->gi * p->og + w->o0) * p->out_size;
        int64_t og = w->o1 - w->o0;
        for (int64_t o = 0; o < w->og_pad; o += 16) {
            float *d = dst + (o / WG_NR) * positions * WG_NR + o % WG_NR;
            int64_t q = q0;
            if (o + 16 <= og)
                for (; q + 16 <= q1; q += 16) {
                    __m512 r[16];
                    for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(src + (o + i) * p->out_size + q);
                    gc_transpose16(r);
                    for (int i = 0; i < 16; i++) _mm512_storeu_ps(d + (k + q - q0 + i) * WG_NR, r[i]);
                }
            for (; q < q1; q++)
                for (int64_t i = 0; i < 16; i++)
                    d[(k + q - q0) * WG_NR + i] = o + i < og ? src[(o + i) * p->out_size + q] : 0.0f;
        }
    }
}

/* The offset in the source of each of the chunk's positions, in order: one flat loop over them
 * in wg_tile rather than loops over images, rows and columns (a 4 x 4 image's rows are 4
 * positions long, and stepping to the next row cost a fifth of the time). */
static void wg_positions(const wg_part *w, const wg_chunk *ch, int64_t *pos) {
    const plan *p = w->p;
    const gc_conv_geom *g = p->g;
    int64_t k = 0;
    for (int64_t n = ch->n0; n < ch->n1; n++)
        for (int64_t r = ch->r0; r < ch->r1; r++) {
            int64_t row = (w->padded ? n - ch->n0 : n) * w->image + r / g->out[1] * g->stride[0] * w->step0 +
                          r % g->out[1] * g->stride[1] * w->step1;
            for (int64_t q = 0; q < p->ow; q++) pos[k++] = row + q * g->stride[2];
        }
}

/* acc[WG_MR rows, WG_NR channels] (row stride ld) += the products over the chunk's count
 * positions (at src + pos[k]) of the rows at offsets off from there with panel; = them for the first chunk (adding
 * them to zeros in registers gives the same bits as to zeros in memory, without the memory). */
WG_AVX512 static void wg_tile(const float *src, const int64_t *pos, int64_t count, const int64_t *off,
                              const float *panel, float *acc, int64_t ld, bool first) {
    __m512 c[WG_MR][4];
    for (int i = 0; i < WG_MR; i++)
        for (int v = 0; v < 4; v++) c[i][v] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(acc + i * ld + 16 * v);
    const int64_t o0 = off[0], o1 = off[1], o2 = off[2], o3 = off[3], o4 = off[4], o5 = off[5];
    const float *bt = panel;
    for (int64_t k = 0; k < count; k++, bt += WG_NR) {
        const float *xq = src + pos[k];
        __m512 b0 = _mm512_loadu_ps(bt), b1 = _mm512_loadu_ps(bt + 16);
        __m512 b2 = _mm512_loadu_ps(bt + 32), b3 = _mm512_loadu_ps(bt + 48);
#define WG_ROW(i, o)                                                                                                 \
    do {                                                                                                             \
        __m512 a = _mm512_set1_ps(xq[o]);                                                                            \
        c[i][0] = _mm512_fmadd_ps(a, b0, c[i][0]);                                                                   \
        c[i][1] = _mm512_fmadd_ps(a, b1, c[i][1]);                                                                   \
        c[i][2] = _mm512_fmadd_ps(a, b2, c[i][2]);                                                                   \
        c[i][3] = _mm512_fmadd_ps(a, b3, c[i][3]);                                                                   \
    } while (0)
        WG_ROW(0, o0);
        WG_ROW(1, o1);
        WG_ROW(2, o2);
        WG_ROW(3, o3);
        WG_ROW(4, o4);
        WG_ROW(5, o5);
#undef WG_ROW
    }
    for (int i = 0; i < WG_MR; i++)
        for (int v = 0; v < 4; v++) _mm512_storeu_ps(acc + i * ld + 16 * v, c[i][v]);
}

/* The part's sums, acc [rows_pad, og_pad], into its block of dw [og, rows] (row stride p->k),
 * 16 x 16 at a time (element by element, every read or every write would miss: 9 MB at 512
 * channels). */
WG_AVX512 static void wg_unpack(const wg_part *w, const float *acc, float *dw) {
    const plan *p = w->p;
    int64_t og = w->o1 - w->o0;
    for (int64_t o = 0; o < og; o += 16)
        for (int64_t r = 0; r < w->rows; r += 16) {
            if (o + 16 <= og && r + 16 <= w->rows) {
                __m512 t[16];
                for (int i = 0; i < 16; i++) t[i] = _mm512_loadu_ps(acc + (r + i) * w->og_pad + o);
                gc_transpose16(t);
                for (int i = 0; i < 16; i++) _mm512_storeu_ps(dw + (o + i) * p->k + r, t[i]);
                continue;
            }
            for (int64_t i = o; i < o + 16 && i < og; i++)
                for (int64_t j = r; j < r + 16 && j < w->rows; j++) dw[i * p->k + j] = acc[j * w->og_pad + i];
        }
}

/* The offset in the source, from its image's start, of unfolded row r of the part (rows past the
 * last read row 0 again: their sums are thrown away). */
static int64_t wg_row_offset(const wg_part *w, int64_t r) {
    const plan *p = w->p;
    const gc_conv_geom *g = p->g;
    if (r >= w->rows) r = 0;
    int64_t c = r / p->kk, kidx = r % p->kk;
    int64_t k2 = kidx % g->kernel[2], k1 = (kidx / g->kernel[2]) % g->kernel[1];
    int64_t k0 = kidx / (g->kernel[2] * g->kernel[1]);
    int64_t first = w->padded ? 0 : (w->gi * p->cg + w->c0) * p->in_size;
    return first + c * w->plane + k0 * g->dilation[0] * w->step0 + k1 * g->dilation[1] * w->step1 +
           k2 * g->dilation[2];
}

/* The weight gradient of one part, with buf wg_part_floats(w) floats. */
static void wg_run_part(const wg_part *w, const float *x, const float *dy, float *dw, float *buf) {
    const plan *p = w->p;
    const gc_conv_geom *g = p->g;
    int64_t positions = wg_chunk_positions(w);
    float *acc = buf, *panels = acc + w->rows_pad * w->og_pad;
    int64_t *pos = (int64_t *)(void *)(panels + positions * w->og_pad); /* 8-byte aligned: og_pad % 64 == 0 */
    float *input = (float *)(void *)(pos + positions);
    int64_t out_rows = g->out[0] * g->out[1];
    int64_t chunk_images = w->images_per_chunk ? w->images_per_chunk : 1;
    for (int64_t n0 = 0; n0 < g->batch; n0 += chunk_images) {
        int64_t n1 = n0 + chunk_images < g->batch ? n0 + chunk_images : g->batch;
        const float *src = x;
        if (w->padded) {
            wg_chunk whole = {n0, n1, 0, out_rows};
            wg_pad_input(w, x, &whole, input);
            src = input;
        }
        int64_t step = w->images_per_chunk ? out_rows : w->rows_per_chunk;
        for (int64_t r0 = 0; r0 < out_rows; r0 += step) {
            wg_chunk ch = {n0, n1, r0, r0 + step < out_rows ? r0 + step : out_rows};
            int64_t count = (ch.n1 - ch.n0) * (ch.r1 - ch.r0) * p->ow;
            wg_pack_dy(w, dy, &ch, count, panels);
            wg_positions(w, &ch, pos);
            for (int64_t j = 0; j < w->og_pad; j += WG_NR)
                for (int64_t r = 0; r < w->rows_pad; r += WG_MR) {
                    int64_t off[WG_MR];
                    for (int i = 0; i < WG_MR; i++) off[i] = wg_row_offset(w, r + i);
                    wg_tile(src, pos, count, off, panels + j * count, acc + r * w->og_pad + j, w->og_pad,
                            n0 == 0 && r0 == 0);
                }
        }
    }
    wg_unpack(w, acc, dw + (w->gi * p->og + w->o0) * p->k + w->c0 * p->kk);
}

/* The parts of group gi's input channels [c0, c1) and output channels [o0, o1), each within
 * WG_SUMS_BYTES of sums. */
static void wg_run_parts(const plan *p, const float *x, const float *dy, float *dw, float *buf, int64_t gi, int64_t c0,
                         int64_t c1, int64_t o0, int64_t o1) {
    for (int64_t step = wg_part_channels(p); c0 < c1; c0 += step) {
        wg_part w;
        wg_make_part(p, gi, c0, c0 + step < c1 ? c0 + step : c1, o0, o1, &w);
        wg_run_part(&w, x, dy, dw, buf);
    }
}

/* The weight gradient of share [from, to) by wg_tile; false (nothing done) when the CPU lacks
 * AVX-512, a padding is negative or the buffer cannot be had. With two or more WG_NR-channel
 * panels of output channels per group, the share is a run of those panels (of every group in
 * turn), each part taking all the input channels: then no two threads pack the same dy (the
 * input channels' split made every thread transpose all of dy, a quarter of the time of a 1x1
 * shortcut on two threads). Otherwise it is a run of input channels. Either way each weight's sum
 * is computed whole by one part, in the same order. */
static bool wg_run(const plan *p, const float *x, const float *dy, float *dw, int32_t from, int32_t to) {
    static int cpu; /* 0 unknown, 1 AVX-512, 2 not */
    int known = __atomic_load_n(&cpu, __ATOMIC_RELAXED);
    if (!known) __atomic_store_n(&cpu, known = wg_cpu_ok() ? 1 : 2, __ATOMIC_RELAXED);
    if (known != 1) return false;
    const gc_conv_geom *g = p->g;
    for (int d = 0; d < 3; d++)
        if (g->pad_before[d] < 0 || g->pad_after[d] < 0) return false;
    int64_t panels = (p->og + WG_NR - 1) / WG_NR, lo, hi;
    if (panels >= 2) {
        share_range(g->groups * panels, from, to, &lo, &hi);
        if (lo >= hi) return true;
        /* Without a buffer this share still runs (by direct loops): the other parts cut by panels. */
        float *buf = thread_scratch((size_t)wg_floats(p));
        for (int64_t u = lo; u < hi;) {
            int64_t gi = u / panels, end = (gi + 1) * panels < hi ? (gi + 1) * panels : hi;
            int64_t o0 = (u - gi * panels) * WG_NR, o1 = (end - gi * panels) * WG_NR;
            if (o1 > p->og) o1 = p->og;
            if (buf)
                wg_run_parts(p, x, dy, dw, buf, gi, 0, p->cg, o0, o1);
            else
                direct_weight_grad_f32(p, x, dy, dw, gi * p->cg, (gi + 1) * p->cg, o0, o1);
            u = end;
        }
        return true;
    }
    share_range(g->in_channels, from, to, &lo, &hi);
    if (lo >= hi) return true;
    float *buf = thread_scratch((size_t)wg_floats(p));
    if (!buf) return false;
    for (int64_t gi = lo / p->cg; gi < g->groups && gi * p->cg < hi; gi++) {
        int64_t c0 = (lo > gi * p->cg ? lo : gi * p->cg) - gi * p->cg;
        int64_t c1 = (hi < (gi + 1) * p->cg ? hi : (gi + 1) * p->cg) - gi * p->cg;
        wg_run_parts(p, x, dy, dw, buf, gi, c0, c1, 0, p->og);
    }
    return true;
}

#else

static bool wg_run(const plan *p, const float *x, const float *dy, float *dw, int32_t from, int32_t to) {
    (void)p, (void)x, (void)dy, (void)dw, (void)from, (void)to;
    return false;
}

#endif

/* The bytes of this CPU's L2 cache (per core), as the C library reads it from the CPU; 1 MB when
 * it does not say. */
static int64_t l2_size;
static pthread_once_t l2_once = PTHREAD_ONCE_INIT;

static void l2_read(void) {
    long b = -1;
#ifdef _SC_LEVEL2_CACHE_SIZE
    b = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
    l2_size = b > 0 ? (int64_t)b : (int64_t)1 << 20;
}

static int64_t l2_bytes(void) {
    pthread_once(&l2_once, l2_read);
    return l2_size;
}

/* Whether a weight gradient's column tile of `floats` floats stays in L2 between im2col writing it
 * and gc_sgemm packing it: then unfolding it row by row (contiguous, vectorised copies) and letting
 * the GEMM transpose it 16 x 16 in registers beats unfolding each unfolded row straight into the
 * transposed panels (one scalar store per value, 32 floats apart): measured +10-20% on 64-channel
 * and strided shapes; a tile that spills L2 (512 channels at 4x4: 4.7 MB) packs faster directly.
 * Either way the GEMM sums in the same order, so the choice (which depends on the part's channels)
 * changes no bit. */
static bool col_fits_l2(int64_t floats) { return floats * (int64_t)sizeof(float) <= l2_bytes(); }

void gc_conv_weight_grad_f32(const int64_t *geom, const float *x, const float *dy, float *dw, int32_t from,
                             int32_t to) {
    plan p;
    make_plan((const gc_conv_geom *)(const void *)geom, &p);
    const gc_conv_geom *g = p.g;
    if (!p.direct && !bf16_operands && wg_run(&p, x, dy, dw, from, to)) return;
    int64_t lo, hi;
    share_range(g->in_channels, from, to, &lo, &hi);
    if (lo >= hi) return;
    float *col = p.direct ? NULL : thread_scratch(scratch_floats(&p));
    if (!col) {
        (bf16_operands ? direct_weight_grad_bf16 : direct_weight_grad_f32)(&p, x, dy, dw, lo, hi, 0, p.og);
        return;
    }
    float *buf = col + p.k * max_tile(&p);
    /* Every part walks the same tiles over the whole batch, in the same order, so each weight's
     * sum is the same whoever computes it. */
    int64_t tiles = tile_count(&p, 0, g->batch);
    for (int64_t ti = 0; ti < tiles; ti++) {
        tile t = tile_at(&p, 0, g->batch, ti);
        int64_t width = tile_width(&p, &t);
        bool one = t.n1 - t.n0 == 1;
        for (int64_t gi = lo / p.cg; gi < g->groups && gi * p.cg < hi; gi++) {
            int64_t c0 = (lo > gi * p.cg ? lo : gi * p.cg) - gi * p.cg;
            int64_t c1 = (hi < (gi + 1) * p.cg ? hi : (gi + 1) * p.cg) - gi * p.cg;
            if (c0 >= c1) continue;
            const float *a = buf, *b = col;
            int64_t lda = width, ldb = width;
            if (one) {
                a = dy + (t.n0 * g->out_channels + gi * p.og) * p.out_size + t.q0;
                lda = p.out_size;
            } else {
                gather(&p, &t, dy, gi * p.og, p.og, buf, width);
            }
            const float *xc = x + (gi * p.cg + c0) * p.in_size;
            float beta = ti == 0 ? 0.0f : 1.0f, *c = dw + gi * p.og * p.k + c0 * p.kk;
            pack_ctx cx = {&p, &t, xc, col};
            if (one && p.pointwise) {
                b = xc + t.n0 * g->in_channels * p.in_size + t.q0;
                ldb = p.out_size;
            } else if (!col_fits_l2((c1 - c0) * p.kk * width) &&
                       own_packed(false, p.og, (c1 - c0) * p.kk, width, a, lda, pack_col_t, &cx, beta, c, p.k)) {
                continue;
            } else {
                for (int64_t n = t.n0; n < t.n1; n++)
                    im2col(&p, xc + n * g->in_channels * p.in_size, c1 - c0, t.q0, t.q1, col, width, (n - t.n0) * p.out_size);
            }
            sgemm(false, true, p.og, (c1 - c0) * p.kk, width, a, lda, b, ldb, beta, c, p.k);
        }
    }
}

/* ---- bf16: the f32 kernel with bf16 operands ---- */

void gc_conv_weight_grad_bf16(const int64_t *geom, const float *x, const float *dy, float *dw, int32_t from,
                              int32_t to) {
    bf16_operands = true;
    gc_conv_weight_grad_f32(geom, x, dy, dw, from, to);
    bf16_operands = false;
}
