/*
 * interp_pool.c: kernels of the pooling ops (max_pool, avg_pool and their gradients), written
 * straight from torch 1.13's CPU loops so the oracle is easy to check by eye.
 *
 * Every op walks the planes (N * C) and the output positions of a three-dim geometry (ir/pool.h);
 * a window's taps outside the input are padding. max_pool takes a tap when it is greater than the
 * best so far or NaN (torch's `val > maxval || isnan(val)`), starting from the first tap inside the
 * input, so ties keep the first maximum in scan order and the last NaN wins; its gradient routes
 * dy to that same tap.
 */
#include <math.h>
#include <string.h>

#include "ir/pool.h"
#include "runtime/interp_kernels.h"

/* The taps of one window: its first tap and the taps per dim (before clipping). */
typedef struct window {
    int64_t start[GC_MAX_SPATIAL];
} window;

static void window_at(const gc_pool_geom *g, const int64_t *o, window *w) {
    for (int d = 0; d < GC_MAX_SPATIAL; d++) w->start[d] = o[d] * g->stride[d] - g->pad[d];
}

/* Runs body with idx, a tap's index in the plane, for every tap of the window inside the input,
 * in scan order. */
#define FOR_TAPS(g, w, idx, body)                                                                 \
    for (int64_t k0 = 0; k0 < (g)->kernel[0]; k0++) {                                             \
        int64_t i0 = (w)->start[0] + k0 * (g)->dilation[0];                                       \
        if (i0 < 0 || i0 >= (g)->in[0]) continue;                                                 \
        for (int64_t k1 = 0; k1 < (g)->kernel[1]; k1++) {                                         \
            int64_t i1 = (w)->start[1] + k1 * (g)->dilation[1];                                   \
            if (i1 < 0 || i1 >= (g)->in[1]) continue;                                             \
            for (int64_t k2 = 0; k2 < (g)->kernel[2]; k2++) {                                     \
                int64_t i2 = (w)->start[2] + k2 * (g)->dilation[2];                               \
                if (i2 < 0 || i2 >= (g)->in[2]) continue;                                         \
                int64_t idx = (i0 * (g)->in[1] + i1) * (g)->in[2] + i2;                           \
                body                                                                              \
            }                                                                                     \
        }                                                                                         \
    }

/* Output positions of a plane in row-major order: o holds the index per dim. */
#define FOR_OUTPUTS(g, o, flat)                                                                   \
    for (int64_t flat = 0, o[GC_MAX_SPATIAL] = {0}; flat < gc_pool_out_plane(g);                 \
         flat++, next_output(g, o))

static void next_output(const gc_pool_geom *g, int64_t *o) {
    for (int d = GC_MAX_SPATIAL - 1; d >= 0; d--) {
        if (++o[d] < g->out[d]) return;
        o[d] = 0;
    }
}

/* The tap max_pool takes in the window (an index in the plane), and its value. */
static int64_t window_argmax(const gc_pool_geom *g, const window *w, const double *x, double *value) {
    int64_t best = -1;
    double max = -INFINITY;
    FOR_TAPS(g, w, idx, {
        double v = x[idx];
        if (best < 0 || v > max || isnan(v)) {
            best = idx;
            max = v;
        }
    })
    *value = max;
    return best;
}

int interp_max_pool(const gc_node *n, const double *const *in, double *out, gc_error *err) {
    gc_pool_geom g;
    gc_pool_geom_make(&n->attr.pool, &n->inputs[0]->type, &g);
    int64_t in_plane = gc_pool_in_plane(&g), out_plane = gc_pool_out_plane(&g);
    for (int64_t p = 0; p < g.planes; p++) {
        const double *x = in[0] + p * in_plane;
        FOR_OUTPUTS(&g, o, flat) {
            window w;
            window_at(&g, o, &w);
            double v;
            window_argmax(&g, &w, x, &v);
            out[p * out_plane + flat] = v;
        }
    }
    return 1;
}

int interp_max_pool_grad(const gc_node *n, const double *const *in, double *out, gc_error *err) {
    gc_pool_geom g;
    gc_pool_geom_make(&n->attr.pool, &n->inputs[0]->type, &g);
    int64_t in_plane = gc_pool_in_plane(&g), out_plane = gc_pool_out_plane(&g);
    memset(out, 0, sizeof *out * (size_t)(in_plane * g.planes));
    for (int64_t p = 0; p < g.planes; p++) {
        const double *x = in[0] + p * in_plane, *dy = in[1] + p * out_plane;
        double *dx = out + p * in_plane;
        FOR_OUTPUTS(&g, o, flat) {
            window w;
            window_at(&g, o, &w);
            double v;
            int64_t at = window_argmax(&g, &w, x, &v);
            if (at >= 0) dx[at] += dy[flat];
        }
    }
    return 1;
}

int interp_avg_pool(const gc_node *n, const double *const *in, double *out, gc_error *err) {
    gc_pool_geom g;
    gc_pool_geom_make(&n->attr.pool, &n->inputs[0]->type, &g);
    int64_t in_plane = gc_pool_in_plane(&g), out_plane = gc_pool_out_plane(&g);
    for (int64_t p = 0; p < g.planes; p++) {
        const double *x = in[0] + p * in_plane;
        FOR_OUTPUTS(&g, o, flat) {
            window w;
            window_at(&g, o, &w);
            double sum = 0.0;
            FOR_TAPS(&g, &w, idx, { sum += x[idx]; })
            out[p * out_plane + flat] = sum / (double)gc_pool_divisor(&g, o);
        }
    }
    return 1;
}

int interp_avg_pool_grad(const gc_node *n, const double *const *in, double *out, gc_error *err) {
    gc_pool_geom g;
    gc_pool_geom_make(&n->attr.pool, &n->type, &g);
    int64_t in_plane = gc_pool_in_plane(&g), out_plane = gc_pool_out_plane(&g);
    memset(out, 0, sizeof *out * (size_t)(in_plane * g.planes));
    for (int64_t p = 0; p < g.planes; p++) {
        const double *dy = in[0] + p * out_plane;
        double *dx = out + p * in_plane;
        FOR_OUTPUTS(&g, o, flat) {
            window w;
            window_at(&g, o, &w);
            double share = dy[flat] / (double)gc_pool_divisor(&g, o);
            FOR_TAPS(&g, &w, idx, { dx[idx] += share; })
        }
    }
    return 1;
}
