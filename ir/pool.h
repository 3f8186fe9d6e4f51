/*
 * pool.h: the geometry of pooling windows (max_pool, avg_pool and their gradients), shared by
 * the shape rules, the interpreter and the code generator so the three can never disagree.
 *
 * Sizes follow torch 1.13's pooling_output_shape: out = floor((L + 2p - d(k - 1) - 1 [+ s - 1
 * with ceil_mode]) / s) + 1, and with ceil_mode the last window must start inside the input or
 * the left padding (else it is dropped). A window of output o along a dim starts at o*s - p and
 * takes k taps d apart; taps outside [0, L) are padding.
 *
 * A geometry always has three spatial dims: an operand with fewer gets leading dims of size 1
 * (kernel 1, stride 1, no padding), so every kernel is one loop nest whatever the rank.
 */
#ifndef GC_IR_POOL_H
#define GC_IR_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include "ir/graph.h"

typedef struct gc_pool_geom {
    int64_t planes; /* N * C: windows never cross a plane */
    int64_t in[GC_MAX_SPATIAL], out[GC_MAX_SPATIAL];
    int64_t kernel[GC_MAX_SPATIAL], stride[GC_MAX_SPATIAL], pad[GC_MAX_SPATIAL], dilation[GC_MAX_SPATIAL];
    bool ceil_mode, count_include_pad;
} gc_pool_geom;

/* The output size of one spatial dim, or 0 when the window does not fit (caller checks ranges). */
int64_t gc_pool_out_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation, bool ceil_mode);

/* Checks attr against the pooled type x ([N, C, *spatial], 1-3 spatial dims, float) and computes
 * the pooled type; `avg` adds avg_pool's rule (dilation 1). Fills err at loc, naming `op`. */
int gc_pool_check(const char *op, const gc_attr_pool *attr, const gc_type *x, bool avg, gc_type *out, gc_loc loc,
                  gc_error *err);

/* The geometry of a checked pooling of x. */
void gc_pool_geom_make(const gc_attr_pool *attr, const gc_type *x, gc_pool_geom *g);

/* Elements in a plane of the operand and of the result. */
int64_t gc_pool_in_plane(const gc_pool_geom *g);
int64_t gc_pool_out_plane(const gc_pool_geom *g);

/* avg_pool's divisor for the window of output index o (one entry per dim), as torch: the window
 * clipped to the padded input when count_include_pad, else to the input itself. */
int64_t gc_pool_divisor(const gc_pool_geom *g, const int64_t *o);

#endif
