/*
 * conv.c: the forward and input-gradient convolution kernels of generated code (see conv.h for
 * what each computes and how the work is cut; the weight gradient is runtime/conv_weight_grad.c).
 *
 * The GEMM forms, per group g (og output and cg input channels, K = cg * kernel positions) and per
 * column tile of T output positions, with col the tile's unfolded input [K, T]:
 *   forward        y[og, T]       = w_g[og, K] @ col[K, T]
 *   input grad     col[K, T]      = w_g[og, K]^T @ dy[og, T], then folded back into dx (col2im)
 *   weight grad    dw_g[og, K]   += dy[og, T] @ col[K, T]^T, tile after tile in a fixed order
 * A tile of one image reads dy and writes y in place (ld = positions per image); a tile of several
 * images gathers dy into, or scatters y out of, a [og, T] buffer beside the column buffer. The
 * forward and the weight gradient unfold col straight into the GEMM's packed panels (pack_col,
 * pack_col_t); a stride-1 input gradient is a forward (input_grad_is_forward).
 *
 * The bf16 kernels (mixed precision) are the f32 ones with every product's operands rounded to
 * bf16: on this thread, for the call, sgemm and own_packed go to gc_sgemm_bf16 (which rounds while
 * packing) and the direct loops read through gc_bf16_round.
 */
#include "runtime/conv.h"
#include "runtime/conv_forward.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ir/conv.h"
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

/* thread_scratch, and in *kept whether this thread's buffer was already that large (so what an
 * earlier call left in it is still there). */
static float *thread_scratch_kept(size_t floats, bool *kept) {
    pthread_once(&scratch_once, scratch_key_init);
    const scratch *s = scratch_key_ok ? pthread_getspecific(scratch_key) : NULL;
    *kept = s && s->data && s->floats >= floats;
    return thread_scratch(floats);
}

static size_t scratch_floats(const plan *p) {
    int64_t t = max_tile(p);
    return (size_t)((p->k + p->g->out_channels) * t);
}

static bool input_grad_is_forward(const gc_conv_geom *g, gc_conv_geom *g2);

int64_t gc_conv_workspace_bytes(const int64_t *geom) {
    plan p, p2;
    const gc_conv_geom *g = (const gc_conv_geom *)(const void *)geom;
    make_plan(g, &p);
    if (p.direct) return 0;
    size_t floats = scratch_floats(&p);
    gc_conv_geom g2;
    if (input_grad_is_forward(g, &g2)) {
        make_plan(&g2, &p2);
        size_t flipped = scratch_floats(&p2) + (size_t)(g->out_channels * p.cg * p.kk);
        if (!p2.direct && flipped > floats) floats = flipped;
    }
    int64_t bytes = (int64_t)(floats * sizeof(float)), fast = gc_conv_fast_forward_workspace_bytes(g);
    if (input_grad_is_forward(g, &g2) && gc_conv_fast_forward_workspace_bytes(&g2) > fast)
        fast = gc_conv_fast_forward_workspace_bytes(&g2);
    else if (!input_grad_is_forward(g, &g2) && gc_conv_fast_input_grad_workspace_bytes(g) > fast)
        fast = gc_conv_fast_input_grad_workspace_bytes(g);
    return bytes + fast;
}

int64_t gc_conv_images_per_call(const int64_t *geom) {
    plan p;
    if (gc_conv_fast_forward_takes((const gc_conv_geom *)(const void *)geom))
        return gc_conv_fast_forward_images_per_call((const gc_conv_geom *)(const void *)geom);
    make_plan((const gc_conv_geom *)(const void *)geom, &p);
    return p.images_per_tile > 1 ? p.images_per_tile : 1;
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

/* d[o * stride] += s[o] for o in [a, b). */
static inline void add_row(float *restrict d, const float *restrict s, int64_t a, int64_t b, int64_t stride) {
    if (stride == 1)
        for (int64_t o = a; o < b; o++) d[o] += s[o];
    else
        for (int64_t o = a; o < b; o++) d[o * stride] += s[o];
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

/* unfold_run written straight into gc_sgemm's packed panels: position q0 is column j of the panels
 * at dst (column j in panel j / GC_SGEMM_PANEL, at dst + that * panel_floats + j % GC_SGEMM_PANEL),
 * so each value is stored once, where the GEMM reads it, rather than unfolded into a row and copied
 * again (the rows of a 32x32 image are one panel wide: the copy cost as much as the unfolding). */
static void unfold_run_panels(const plan *p, const float *xc, int64_t k0, int64_t k1, int64_t k2, int64_t q0,
                              int64_t q1, float *dst, int64_t j, int64_t panel_floats) {
    const gc_conv_geom *g = p->g;
    int64_t base = k2 * g->dilation[2] - g->pad_before[2], s2 = g->stride[2];
    int64_t lo, hi;
    valid_range(base, s2, g->in[2], p->ow, &lo, &hi);
    int64_t r = q0 / p->ow, c_start = q0 % p->ow, p0 = r / g->out[1], p1 = r % g->out[1];
    for (int64_t q = q0; q < q1;) {
        int64_t c_end = c_start + (q1 - q) < p->ow ? c_start + (q1 - q) : p->ow;
        int64_t i0 = p0 * g->stride[0] - g->pad_before[0] + k0 * g->dilation[0];
        int64_t i1 = p1 * g->stride[1] - g->pad_before[1] + k1 * g->dilation[1];
        bool inside = i0 >= 0 && i0 < g->in[0] && i1 >= 0 && i1 < g->in[1];
        const float *src = inside ? xc + (i0 * g->in[1] + i1) * g->in[2] + base : NULL;
        /* Output columns [c_start, c_end) of this row, cut where a panel ends. */
        for (int64_t o0 = c_start; o0 < c_end;) {
            int64_t col = j + (o0 - c_start), at = col % GC_SGEMM_PANEL;
            int64_t o1 = o0 + (GC_SGEMM_PANEL - at) < c_end ? o0 + (GC_SGEMM_PANEL - at) : c_end;
            float *d = dst + (col / GC_SGEMM_PANEL) * panel_floats + at - o0; /* d[o]: column o */
            if (!inside) {
                for (int64_t o = o0; o < o1; o++) d[o] = 0;
            } else {
                int64_t a = lo > o0 ? lo : o0, b = hi < o1 ? hi : o1;
                if (a > o1) a = o1;
                if (b < a) b = a;
                copy_row(d, src, o0, a, b, o1, s2);
            }
            o0 = o1;
        }
        j += c_end - c_start;
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

/* The adjoint of im2col: adds the columns back into dx (channel c0 of one image). */
static void col2im(const plan *p, const float *col, int64_t ld, int64_t col_off, float *dx, int64_t channels, int64_t q0,
                   int64_t q1) {
    const gc_conv_geom *g = p->g;
    int64_t row = 0;
    for (int64_t c = 0; c < channels; c++) {
        float *xc = dx + c * p->in_size;
        for (int64_t k0 = 0; k0 < g->kernel[0]; k0++)
            for (int64_t k1 = 0; k1 < g->kernel[1]; k1++)
                for (int64_t k2 = 0; k2 < g->kernel[2]; k2++, row++) {
                    const float *src = col + row * ld + col_off;
                    int64_t base = k2 * g->dilation[2] - g->pad_before[2], s2 = g->stride[2];
                    int64_t lo, hi;
                    valid_range(base, s2, g->in[2], p->ow, &lo, &hi);
                    for (int64_t q = q0; q < q1;) {
                        int64_t r = q / p->ow, c_start = q % p->ow;
                        int64_t c_end = c_start + (q1 - q) < p->ow ? c_start + (q1 - q) : p->ow;
                        int64_t p0 = r / g->out[1], p1 = r % g->out[1];
                        int64_t i0 = p0 * g->stride[0] - g->pad_before[0] + k0 * g->dilation[0];
                        int64_t i1 = p1 * g->stride[1] - g->pad_before[1] + k1 * g->dilation[1];
                        if (i0 >= 0 && i0 < g->in[0] && i1 >= 0 && i1 < g->in[1]) {
                            const float *s = src + (q - q0) - c_start;
                            float *d = xc + (i0 * g->in[1] + i1) * g->in[2] + base;
                            int64_t a = lo > c_start ? lo : c_start, b = hi < c_end ? hi : c_end;
                            add_row(d, s, a, b, s2);
                        }
                        q += c_end - c_start;
                    }
                }
    }
}

/* ---- direct loops (depthwise, tiny groups, f64) ---- */

#define DIRECT_KERNELS(T, ACC, SUFFIX, LOAD)                                                                                  \
    static void direct_forward_##SUFFIX(const plan *p, const T *x, const T *w, T *y, int64_t n_lo, int64_t n_hi) {    \
        const gc_conv_geom *g = p->g;                                                                                   \
        for (int64_t n = n_lo; n < n_hi; n++)                                                                           \
            for (int64_t o = 0; o < g->out_channels; o++) {                                                             \
                T *yo = y + (n * g->out_channels + o) * p->out_size;                                                    \
                memset(yo, 0, sizeof(T) * (size_t)p->out_size);                                                        \
                int64_t gi = o / p->og;                                                                                 \
                for (int64_t cl = 0; cl < p->cg; cl++) {                                                                \
                    const T *xc = x + (n * g->in_channels + gi * p->cg + cl) * p->in_size;                              \
                    const T *wk = w + (o * p->cg + cl) * p->kk;                                                         \
                    for (int64_t k0 = 0; k0 < g->kernel[0]; k0++)                                                       \
                        for (int64_t k1 = 0; k1 < g->kernel[1]; k1++)                                                   \
                            for (int64_t k2 = 0; k2 < g->kernel[2]; k2++) {                                             \
                                T wv = LOAD(*wk++);                                                                     \
                                int64_t base = k2 * g->dilation[2] - g->pad_before[2], s2 = g->stride[2], lo, hi;       \
                                valid_range(base, s2, g->in[2], p->ow, &lo, &hi);                                       \
                                for (int64_t p0 = 0; p0 < g->out[0]; p0++) {                                            \
                                    int64_t i0 = p0 * g->stride[0] - g->pad_before[0] + k0 * g->dilation[0];            \
                                    if (i0 < 0 || i0 >= g->in[0]) continue;                                             \
                                    for (int64_t p1 = 0; p1 < g->out[1]; p1++) {                                        \
                                        int64_t i1 = p1 * g->stride[1] - g->pad_before[1] + k1 * g->dilation[1];        \
                                        if (i1 < 0 || i1 >= g->in[1]) continue;                                         \
                                        const T *src = xc + (i0 * g->in[1] + i1) * g->in[2] + base;                     \
                                        T *dst = yo + (p0 * g->out[1] + p1) * p->ow;                                    \
                                        for (int64_t q = lo; q < hi; q++) dst[q] += wv * LOAD(src[q * s2]);             \
                                    }                                                                                   \
                                }                                                                                       \
                            }                                                                                           \
                }                                                                                                       \
            }                                                                                                           \
    }                                                                                                                   \
                                                                                                                        \
    static void direct_input_grad_##SUFFIX(const plan *p, const T *dy, const T *w, T *dx, int64_t n_lo, int64_t n_hi) { \
        const gc_conv_geom *g = p->g;                                                                                   \
        for (int64_t n = n_lo; n < n_hi; n++)                                                                           \
            for (int64_t c = 0; c < g->in_channels; c++) {                                                              \
                T *xc = dx + (n * g->in_channels + c) * p->in_size;                                                     \
                memset(xc, 0, sizeof(T) * (size_t)p->in_size);                                                          \
                int64_t gi = c / p->cg, cl = c % p->cg;                                                                 \
                for (int64_t ol = 0; ol < p->og; ol++) {                                                                \
                    int64_t o = gi * p->og + ol;                                                                        \
                    const T *dyo = dy + (n * g->out_channels + o) * p->out_size;                                        \
                    const T *wk = w + (o * p->cg + cl) * p->kk;                                                         \
                    for (int64_t k0 = 0; k0 < g->kernel[0]; k0++)                                                       \
                        for (int64_t k1 = 0; k1 < g->kernel[1]; k1++)                                                   \
                            for (int64_t k2 = 0; k2 < g->kernel[2]; k2++) {                                             \
                                T wv = LOAD(*wk++);                                                                     \
                                int64_t base = k2 * g->dilation[2] - g->pad_before[2], s2 = g->stride[2], lo, hi;       \
                                valid_range(base, s2, g->in[2], p->ow, &lo, &hi);                                       \
                                for (int64_t p0 = 0; p0 < g->out[0]; p0++) {                                            \
                                    int64_t i0 = p0 * g->stride[0] - g->pad_before[0] + k0 * g->dilation[0];            \
                                    if (i0 < 0 || i0 >= g->in[0]) continue;                                             \
                                    for (int64_t p1 = 0; p1 < g->out[1]; p1++) {                                        \
                                        int64_t i1 = p1 * g->stride[1] - g->pad_before[1] + k1 * g->dilation[1];        \
                                        if (i1 < 0 || i1 >= g->in[1]) continue;                                         \
                                        T *dst = xc + (i0 * g->in[1] + i1) * g->in[2] + base;                           \
                                        const T *src = dyo + (p0 * g->out[1] + p1) * p->ow;                             \
                                        for (int64_t q = lo; q < hi; q++) dst[q * s2] += wv * LOAD(src[q]);             \
                                    }                                                                                   \
                                }                                                                                       \
                            }                                                                                           \
                }                                                                                                       \
            }                                                                                                           \
    }

#define AS_IS(x) (x)
DIRECT_KERNELS(float, double, f32, AS_IS)
DIRECT_KERNELS(float, double, bf16, gc_bf16_round)
DIRECT_KERNELS(double, double, f64, AS_IS)

/* ---- f64: direct loops ---- */

void gc_conv_forward_images_f64(const int64_t *geom, const double *x, const double *w, double *y, int64_t lo,
                                int64_t hi, int32_t again) {
    (void)again;
    plan p;
    make_plan((const gc_conv_geom *)(const void *)geom, &p);
    direct_forward_f64(&p, x, w, y, lo, hi);
}

void gc_conv_forward_f64(const int64_t *geom, const double *x, const double *w, double *y, int32_t from, int32_t to) {
    int64_t lo, hi;
    share_range(((const gc_conv_geom *)(const void *)geom)->batch, from, to, &lo, &hi);
    gc_conv_forward_images_f64(geom, x, w, y, lo, hi, 0);
}

void gc_conv_input_grad_images_f64(const int64_t *geom, const double *dy, const double *w, double *dx, int64_t lo,
                                   int64_t hi, int32_t again) {
    (void)again;
    plan p;
    make_plan((const gc_conv_geom *)(const void *)geom, &p);
    direct_input_grad_f64(&p, dy, w, dx, lo, hi);
}

void gc_conv_input_grad_f64(const int64_t *geom, const double *dy, const double *w, double *dx, int32_t from, int32_t to) {
    int64_t lo, hi;
    share_range(((const gc_conv_geom *)(const void *)geom)->batch, from, to, &lo, &hi);
    gc_conv_input_grad_images_f64(geom, dy, w, dx, lo, hi, 0);
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

/* Copies the tile's rows back from buf [rows, T] into dst; gather (runtime/conv_plan.h) is the way in. */
static void scatter(const plan *p, const tile *t, const float *buf, int64_t ld, float *dst, int64_t o0, int64_t rows) {
    const gc_conv_geom *g = p->g;
    for (int64_t o = 0; o < rows; o++)
        for (int64_t n = t->n0; n < t->n1; n++)
            memcpy(dst + (n * g->out_channels + o0 + o) * p->out_size, buf + o * ld + (n - t->n0) * p->out_size,
                   sizeof(float) * (size_t)p->out_size);
}

/* ---- implicit GEMM: the unfolded input written straight into gc_sgemm's packed panels ---- */

typedef struct pack_ctx {
    const plan *p;
    const tile *t;
    const float *x; /* channel 0 of the unfolded rows, in image 0 */
    float *row;     /* a row of the tile: max_tile floats */
} pack_ctx;

/* op(B) = col: rows are unfolded rows, columns the tile's positions, unfolded straight into the
 * panels. */
static void pack_col(const void *raw, int64_t p0, int64_t kc, int64_t j0, int64_t nc, float *dst) {
    const pack_ctx *cx = raw;
    const plan *p = cx->p;
    const gc_conv_geom *g = p->g;
    int64_t panel_floats = kc * GC_SGEMM_PANEL;
    int64_t padded = (nc + GC_SGEMM_PANEL - 1) / GC_SGEMM_PANEL * GC_SGEMM_PANEL;
    bool images = cx->t->n1 - cx->t->n0 > 1;
    for (int64_t r = p0; r < p0 + kc; r++) {
        int64_t c = r / p->kk, kidx = r % p->kk;
        int64_t k2 = kidx % g->kernel[2], k1 = (kidx / g->kernel[2]) % g->kernel[1];
        int64_t k0 = kidx / (g->kernel[2] * g->kernel[1]);
        const float *xc = cx->x + c * p->in_size;
        float *d = dst + (r - p0) * GC_SGEMM_PANEL;
        for (int64_t j = j0, end = j0 + nc; j < end;) {
            int64_t n = images ? cx->t->n0 + j / p->out_size : cx->t->n0;
            int64_t q = images ? j % p->out_size : cx->t->q0 + j;
            int64_t run = images && p->out_size - q < end - j ? p->out_size - q : end - j;
            unfold_run_panels(p, xc + n * g->in_channels * p->in_size, k0, k1, k2, q, q + run, d, j - j0, panel_floats);
            j += run;
        }
        for (int64_t j = nc; j < padded; j++) d[(j / GC_SGEMM_PANEL) * panel_floats + j % GC_SGEMM_PANEL] = 0;
    }
}

/* The forward GEMMs of images [lo, hi), with col scratch_floats(p) floats of this thread's. */
static void forward_images(const plan *pp, const float *x, const float *w, float *y, int64_t lo, int64_t hi, float *col) {
    const plan p = *pp;
    const gc_conv_geom *g = p.g;
    float *buf = col + p.k * max_tile(&p);
    int64_t tiles = tile_count(&p, lo, hi);
    for (int64_t ti = 0; ti < tiles; ti++) {
        tile t = tile_at(&p, lo, hi, ti);
        int64_t width = tile_width(&p, &t);
        bool one = t.n1 - t.n0 == 1;
        for (int64_t gi = 0; gi < g->groups; gi++) {
            const float *wg = w + gi * p.og * p.k, *xg = x + gi * p.cg * p.in_size;
            float *c = one ? y + (t.n0 * g->out_channels + gi * p.og) * p.out_size + t.q0 : buf;
            int64_t ldc = one ? p.out_size : width;
            pack_ctx cx = {&p, &t, xg, col};
            if (one && p.pointwise) {
                sgemm(false, false, p.og, width, p.k, wg, p.k, xg + t.n0 * g->in_channels * p.in_size + t.q0, p.out_size,
                      0.0f, c, ldc);
            } else if (!own_packed(false, p.og, width, p.k, wg, p.k, pack_col, &cx, 0.0f, c, ldc)) {
                for (int64_t n = t.n0; n < t.n1; n++)
                    im2col(&p, xg + n * g->in_channels * p.in_size, p.cg, t.q0, t.q1, col, width, (n - t.n0) * p.out_size);
                sgemm(false, false, p.og, width, p.k, wg, p.k, col, width, 0.0f, c, ldc);
            }
            if (!one) scatter(&p, &t, buf, width, y, gi * p.og, p.og);
        }
    }
}

void gc_conv_forward_f32(const int64_t *geom, const float *x, const float *w, float *y, int32_t from, int32_t to) {
    int64_t lo, hi;
    share_range(((const gc_conv_geom *)(const void *)geom)->batch, from, to, &lo, &hi);
    gc_conv_forward_images_f32(geom, x, w, y, lo, hi, 0);
}

void gc_conv_forward_images_f32(const int64_t *geom, const float *x, const float *w, float *y, int64_t lo, int64_t hi,
                                int32_t again) {
    if (!bf16_operands && gc_conv_fast_forward((const gc_conv_geom *)(const void *)geom, x, w, false, y, lo, hi, again))
        return;
    plan p;
    make_plan((const gc_conv_geom *)(const void *)geom, &p);
    if (lo >= hi) return;
    float *col = p.direct ? NULL : thread_scratch(scratch_floats(&p));
    if (!col) {
        (bf16_operands ? direct_forward_bf16 : direct_forward_f32)(&p, x, w, y, lo, hi);
        return;
    }
    forward_images(&p, x, w, y, lo, hi, col);
}

/* A stride-1 convolution's input gradient is itself a convolution: of dy with the kernel flipped
 * and its channel dims swapped (w' [C, O/groups, *k], w'[c, o, k] = w[o, c, K - 1 - k]), padded
 * dilation * (k - 1) minus the forward's padding on each side. It then runs as a forward (implicit
 * GEMM, no column buffer to fold back) whenever those paddings are not negative. g2 receives that
 * convolution's geometry. */
static bool input_grad_is_forward(const gc_conv_geom *g, gc_conv_geom *g2) {
    *g2 = *g;
    g2->in_channels = g->out_channels;
    g2->out_channels = g->in_channels;
    for (int d = 0; d < 3; d++) {
        int64_t span = g->dilation[d] * (g->kernel[d] - 1);
        if (g->stride[d] != 1 || g->pad_before[d] > span || g->pad_after[d] > span) return false;
        g2->in[d] = g->out[d];
        g2->out[d] = g->in[d];
        g2->pad_before[d] = span - g->pad_before[d];
        g2->pad_after[d] = span - g->pad_after[d];
    }
    return true;
}

static void flip_weights(const plan *p, const float *w, float *w2) {
    const gc_conv_geom *g = p->g;
    for (int64_t gi = 0; gi < g->groups; gi++)
        for (int64_t ol = 0; ol < p->og; ol++)
            for (int64_t cl = 0; cl < p->cg; cl++) {
                const float *src = w + ((gi * p->og + ol) * p->cg + cl) * p->kk;
                float *dst = w2 + ((gi * p->cg + cl) * p->og + ol) * p->kk + p->kk - 1;
                for (int64_t k = 0; k < p->kk; k++) dst[-k] = src[k];
            }
}

void gc_conv_input_grad_f32(const int64_t *geom, const float *dy, const float *w, float *dx, int32_t from, int32_t to) {
    int64_t lo, hi;
    share_range(((const gc_conv_geom *)(const void *)geom)->batch, from, to, &lo, &hi);
    gc_conv_input_grad_images_f32(geom, dy, w, dx, lo, hi, 0);
}

void gc_conv_input_grad_images_f32(const int64_t *geom, const float *dy, const float *w, float *dx, int64_t lo,
                                   int64_t hi, int32_t again) {
    plan p;
    make_plan((const gc_conv_geom *)(const void *)geom, &p);
    const gc_conv_geom *g = p.g;
    if (lo >= hi) return;
    gc_conv_geom g2;
    plan p2;
    if (!p.direct && input_grad_is_forward(g, &g2)) {
        if (!bf16_operands && gc_conv_fast_forward(&g2, dy, w, true, dx, lo, hi, again)) return;
        make_plan(&g2, &p2);
        size_t weights = (size_t)(g->out_channels * p.cg * p.kk);
        bool kept = false;
        float *col2 = p2.direct ? NULL : thread_scratch_kept(scratch_floats(&p2) + weights, &kept);
        if (col2) {
            float *w2 = col2 + scratch_floats(&p2);
            if (!again || !kept) flip_weights(&p, w, w2);
            forward_images(&p2, dy, w2, dx, lo, hi, col2);
            return;
        }
    }
    /* Strides (and paddings past the kernel's span): a stride-1 convolution per stride phase. */
    if (!p.direct && !bf16_operands && gc_conv_fast_input_grad(g, dy, w, dx, lo, hi, again)) return;
    float *col = p.direct ? NULL : thread_scratch(scratch_floats(&p));
    if (!col) {
        (bf16_operands ? direct_input_grad_bf16 : direct_input_grad_f32)(&p, dy, w, dx, lo, hi);
        return;
    }
    float *buf = col + p.k * max_tile(&p);
    memset(dx + lo * g->in_channels * p.in_size, 0, sizeof(float) * (size_t)((hi - lo) * g->in_channels * p.in_size));
    int64_t tiles = tile_count(&p, lo, hi);
    for (int64_t ti = 0; ti < tiles; ti++) {
        tile t = tile_at(&p, lo, hi, ti);
        int64_t width = tile_width(&p, &t);
        bool one = t.n1 - t.n0 == 1;
        for (int64_t gi = 0; gi < g->groups; gi++) {
            const float *wg = w + gi * p.og * p.k, *a = buf;
            int64_t lda = width;
            if (one) {
                a = dy + (t.n0 * g->out_channels + gi * p.og) * p.out_size + t.q0;
                lda = p.out_size;
            } else {
                gather(&p, &t, dy, gi * p.og, p.og, buf, width);
            }
            float *xg = dx + gi * p.cg * p.in_size;
            if (one && p.pointwise) {
                sgemm(true, false, p.k, width, p.og, wg, p.k, a, lda, 0.0f, xg + t.n0 * g->in_channels * p.in_size + t.q0,
                      p.out_size);
                continue;
            }
            sgemm(true, false, p.k, width, p.og, wg, p.k, a, lda, 0.0f, col, width);
            for (int64_t n = t.n0; n < t.n1; n++)
                col2im(&p, col, width, (n - t.n0) * p.out_size, xg + n * g->in_channels * p.in_size, p.cg, t.q0, t.q1);
        }
    }
}

/* ---- bf16: the f32 kernels with bf16 operands ---- */

void gc_conv_forward_bf16(const int64_t *geom, const float *x, const float *w, float *y, int32_t from, int32_t to) {
    bf16_operands = true;
    gc_conv_forward_f32(geom, x, w, y, from, to);
    bf16_operands = false;
}

void gc_conv_input_grad_bf16(const int64_t *geom, const float *dy, const float *w, float *dx, int32_t from, int32_t to) {
    bf16_operands = true;
    gc_conv_input_grad_f32(geom, dy, w, dx, from, to);
    bf16_operands = false;
}
