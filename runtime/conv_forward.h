/*
 * conv_forward.h: the f32 forward convolution (and the stride-1 input gradient, which is the
 * forward of the flipped kernel, and the strided one, a forward per stride phase) as an implicit
 * GEMM with its own driver and micro-kernel, for geometries whose output positions per image are
 * a multiple of 16 (every ResNet shape).
 *
 * runtime/conv.c calls it first and keeps its own tiles for what it declines: bf16 operands, no
 * AVX-512 or GRADC_GEMM=openblas, products small enough for direct loops, other sizes, or a
 * buffer that cannot be allocated. Each output element is summed over the kernel in the same
 * order (fixed K blocks of the geometry, k ascending in each) whichever images a call or a thread
 * takes, so every cut gives the same bits.
 */
#ifndef GC_RUNTIME_CONV_FORWARD_H
#define GC_RUNTIME_CONV_FORWARD_H

#include <stdbool.h>
#include <stdint.h>

#include "ir/conv.h"

/* Whether gc_conv_fast_forward takes geometry g (as the forward's geometry). */
bool gc_conv_fast_forward_takes(const gc_conv_geom *g);

/* y = conv(x, w) for images [lo, hi) of the batch, with g's geometry. With `flipped`, w is the
 * weights of the convolution whose input gradient this is ([g->in_channels, out/groups, *kernel],
 * read flipped and with its channel dims swapped). `again` (not 0): the previous call on this
 * thread was this one with the same weights, so the weights it packed may be reused. false:
 * nothing done (the caller computes it another way). */
bool gc_conv_fast_forward(const gc_conv_geom *g, const float *x, const float *w, bool flipped, float *y, int64_t lo,
                          int64_t hi, int32_t again);

/* dx = the input gradient of the convolution g (any stride, padding or dilation) for images
 * [lo, hi), from dy and g's weights w: one stride-1 convolution of dy per stride phase (the dx
 * positions i = s * m + phi), on the forward's machinery, written to dx's strided positions. No
 * unfolded tensor; the same bits whatever images a call takes. `again`: the previous call on this
 * thread was this one with the same weights (their gathering per phase is reused). false: nothing
 * done (some phase's convolution is not one gc_conv_fast_forward takes, e.g. odd sizes). */
bool gc_conv_fast_input_grad(const gc_conv_geom *g, const float *dy, const float *w, float *dx, int64_t lo, int64_t hi,
                             int32_t again);

/* The buffer bytes a thread holds after running g's input gradient on gc_conv_fast_input_grad. */
int64_t gc_conv_fast_input_grad_workspace_bytes(const gc_conv_geom *g);

/* Images a call should take for the epilogue loop (codegen/fused.c): about one column tile. */
int64_t gc_conv_fast_forward_images_per_call(const gc_conv_geom *g);

/* The buffer bytes a thread holds after running g's forward on this path (0 when it does not). */
int64_t gc_conv_fast_forward_workspace_bytes(const gc_conv_geom *g);

#endif
