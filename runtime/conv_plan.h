/*
 * conv_plan.h: the per-call plan of a convolution kernel, shared by runtime/conv.c (forward, input
 * gradient) and runtime/conv_weight_grad.c: the geometry's derived sizes, the tile bound, how a
 * thread's share of a count is cut, and which output positions read inside the input.
 * Internal to the runtime's conv files.
 */
#ifndef GC_RUNTIME_CONV_PLAN_H
#define GC_RUNTIME_CONV_PLAN_H

#include <stdint.h>
#include <string.h>

#include "ir/conv.h"
#include "runtime/conv.h"
#include "runtime/parallel.h"

/* Output positions per column tile: wide enough that gc_sgemm's 32-column panels fill and the
 * weights it packs per call are amortised, narrow enough that the column buffer stays in L2 for
 * the common channel counts (576 x 256 floats for 64 channels of 3x3). */
#define TILE_COLUMNS 256

typedef struct plan {
    const gc_conv_geom *g;
    int64_t cg, og, kk, k;        /* channels per group in and out, kernel positions, cg * kk */
    int64_t in_size, out_size, ow; /* positions per image in and out, output row length */
    bool pointwise;                /* 1x1, stride 1, no padding: col is x itself */
    bool direct;                   /* products too small for GEMM: direct loops */
    int64_t tiles_per_image;       /* >= 1 when a tile is part of an image */
    int64_t images_per_tile;       /* >= 1 when a tile is whole images */
} plan;

static inline void make_plan(const gc_conv_geom *g, plan *p) {
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
static inline int64_t max_tile(const plan *p) {
    if (p->images_per_tile > 1) return p->images_per_tile * p->out_size;
    return (p->out_size + p->tiles_per_image - 1) / p->tiles_per_image;
}

static inline void share_range(int64_t count, int32_t from, int32_t to, int64_t *lo, int64_t *hi) {
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

/* The tiles of images [n_lo, n_hi) in order: *count of them; tile t covers images [*n0, *n1) and,
 * within an image, positions [*q0, *q1). */
typedef struct tile {
    int64_t n0, n1, q0, q1;
} tile;

static inline int64_t tile_count(const plan *p, int64_t n_lo, int64_t n_hi) {
    if (p->images_per_tile > 1) return (n_hi - n_lo + p->images_per_tile - 1) / p->images_per_tile;
    return (n_hi - n_lo) * p->tiles_per_image;
}

static inline tile tile_at(const plan *p, int64_t n_lo, int64_t n_hi, int64_t t) {
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

static inline int64_t tile_width(const plan *p, const tile *t) {
    return t->n1 - t->n0 > 1 ? (t->n1 - t->n0) * p->out_size : t->q1 - t->q0;
}

/* Copies rows [o0, o0 + rows) of dy (or y) for the tile's images into buf [rows, T], or back. */
static inline void gather(const plan *p, const tile *t, const float *src, int64_t o0, int64_t rows, float *buf, int64_t ld) {
    const gc_conv_geom *g = p->g;
    for (int64_t o = 0; o < rows; o++)
        for (int64_t n = t->n0; n < t->n1; n++)
            memcpy(buf + o * ld + (n - t->n0) * p->out_size, src + (n * g->out_channels + o0 + o) * p->out_size,
                   sizeof(float) * (size_t)p->out_size);
}

#endif
