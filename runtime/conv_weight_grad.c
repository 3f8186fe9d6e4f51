/*
 * conv_weight_grad.c: the weight-gradient kernels of generated code (conv_weight_grad; see
 * conv.h for what each computes and how the work is cut), apart from the forward and
 * input-gradient kernels (conv.c) so that each can be tuned on its own. The small helpers both
 * need (the plan of a geometry, its column tiles, unfolding, per-thread buffers) are copied here
 * rather than shared, for the same reason.
 *
 * Per group g (og output and cg input channels, K = cg * kernel positions) and per column tile of
 * T output positions, with col the tile's unfolded input [K, T]:
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
#include "runtime/parallel.h"


/* Output positions per column tile: wide enough that gc_sgemm's 32-column panels fill and the
 * weights it packs per call are amortised, narrow enough that the column buffer stays in L2 for
 * the common channel counts (576 x 256 floats for 64 channels of 3x3). */
#define TILE_COLUMNS 256

#define ROW_MAJOR 101
#define NO_TRANS 111
#define TRANS 112

_Static_assert(sizeof(gc_conv_geom) == GC_CONV_GEOM_WORDS * sizeof(int64_t), "gc_conv_geom is a run of int64s");

/* Set by the bf16 entry points around their f32 kernel: this thread's products take bf16 operands. */
static _Thread_local bool bf16_operands;

typedef struct plan {
    const gc_conv_geom *g;
    int64_t cg, og, kk, k;        /* channels per group in and out, kernel positions, cg * kk */
    int64_t in_size, out_size, ow; /* positions per image in and out, output row length */
    bool pointwise;                /* 1x1, stride 1, no padding: col is x itself */
    bool direct;                   /* products too small for GEMM: direct loops */
    int64_t tiles_per_image;       /* >= 1 when a tile is part of an image */
    int64_t images_per_tile;       /* >= 1 when a tile is whole images */
} plan;

static void make_plan(const gc_conv_geom *g, plan *p) {
    p->g = g;
    p->cg = g->in_channels / g->groups;
    p->og = g->out_channels / g->groups;
    p->kk = g->kernel[0] * g->kernel[1] * g->kernel[2];
    p->k = p->cg * p->kk;
    p->in_size = g->in[0] * g->in[1] * g->in[2];
    p->out_size = g->out[0] * g->out[1] * g->out[2];
    p->ow = g->out[2];
    p->pointwise = p->kk == 1;
    for (int d = 0; d < 3; d++) p->pointwise = p->pointwise && g->stride[d] == 1 && g->pad_before[d] == 0 && g->pad_after[d] == 0;
    /* Depthwise and other tiny per-group products waste a GEMM's register tile. */
    p->direct = p->og < 4 || p->og * p->k < 512;
    if (p->out_size >= TILE_COLUMNS) {
        p->tiles_per_image = (p->out_size + TILE_COLUMNS - 1) / TILE_COLUMNS;
        p->images_per_tile = 1;
    } else {
        p->tiles_per_image = 1;
        p->images_per_tile = TILE_COLUMNS / p->out_size;
    }
}

/* The widest tile, in columns. */
static int64_t max_tile(const plan *p) {
    if (p->images_per_tile > 1) return p->images_per_tile * p->out_size;
    return (p->out_size + p->tiles_per_image - 1) / p->tiles_per_image;
}

static void share_range(int64_t count, int32_t from, int32_t to, int64_t *lo, int64_t *hi) {
    *lo = from >= GC_SHARE_ONE ? count : (count * from) >> 16;
    *hi = to >= GC_SHARE_ONE ? count : (count * to) >> 16;
}

/* Output positions o with base + o * stride inside [0, in), clamped to [0, out): [*lo, *hi). */
static inline void valid_range(int64_t base, int64_t stride, int64_t in, int64_t out, int64_t *lo, int64_t *hi) {
    int64_t l = base >= 0 ? 0 : (-base + stride - 1) / stride;
    int64_t h = in - base <= 0 ? 0 : (in - base + stride - 1) / stride;
    if (h > out) h = out;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

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

int64_t gc_conv_weight_grad_workspace_bytes(const int64_t *geom) {
    plan p;
    make_plan((const gc_conv_geom *)(const void *)geom, &p);
    return p.direct ? 0 : (int64_t)(scratch_floats(&p) * sizeof(float));
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
    static void direct_weight_grad_##SUFFIX(const plan *p, const T *x, const T *dy, T *dw, int64_t c_lo, int64_t c_hi) { \
        const gc_conv_geom *g = p->g;                                                                                   \
        for (int64_t c = c_lo; c < c_hi; c++) {                                                                         \
            int64_t gi = c / p->cg, cl = c % p->cg;                                                                     \
            for (int64_t ol = 0; ol < p->og; ol++) {                                                                    \
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
    direct_weight_grad_f64(&p, x, dy, dw, lo, hi);
}

/* ---- f32: GEMMs over column tiles ---- */

/* The tiles of images [n_lo, n_hi) in order: *count of them; tile t covers images [*n0, *n1) and,
 * within an image, positions [*q0, *q1). */
typedef struct tile {
    int64_t n0, n1, q0, q1;
} tile;

static int64_t tile_count(const plan *p, int64_t n_lo, int64_t n_hi) {
    if (p->images_per_tile > 1) return (n_hi - n_lo + p->images_per_tile - 1) / p->images_per_tile;
    return (n_hi - n_lo) * p->tiles_per_image;
}

static tile tile_at(const plan *p, int64_t n_lo, int64_t n_hi, int64_t t) {
    tile r;
    if (p->images_per_tile > 1) {
        r.n0 = n_lo + t * p->images_per_tile;
        r.n1 = r.n0 + p->images_per_tile < n_hi ? r.n0 + p->images_per_tile : n_hi;
        r.q0 = 0;
        r.q1 = p->out_size;
    } else {
        int64_t i = t % p->tiles_per_image;
        r.n0 = n_lo + t / p->tiles_per_image;
        r.n1 = r.n0 + 1;
        r.q0 = p->out_size * i / p->tiles_per_image;
        r.q1 = p->out_size * (i + 1) / p->tiles_per_image;
    }
    return r;
}

static int64_t tile_width(const plan *p, const tile *t) {
    return t->n1 - t->n0 > 1 ? (t->n1 - t->n0) * p->out_size : t->q1 - t->q0;
}

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

/* Copies rows [o0, o0 + rows) of dy (or y) for the tile's images into buf [rows, T], or back. */
static void gather(const plan *p, const tile *t, const float *src, int64_t o0, int64_t rows, float *buf, int64_t ld) {
    const gc_conv_geom *g = p->g;
    for (int64_t o = 0; o < rows; o++)
        for (int64_t n = t->n0; n < t->n1; n++)
            memcpy(buf + o * ld + (n - t->n0) * p->out_size, src + (n * g->out_channels + o0 + o) * p->out_size,
                   sizeof(float) * (size_t)p->out_size);
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
    int64_t lo, hi;
    share_range(g->in_channels, from, to, &lo, &hi);
    if (lo >= hi) return;
    float *col = p.direct ? NULL : thread_scratch(scratch_floats(&p));
    if (!col) {
        (bf16_operands ? direct_weight_grad_bf16 : direct_weight_grad_f32)(&p, x, dy, dw, lo, hi);
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
