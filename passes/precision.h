/*
 * precision.h: mixed precision (precision.c): the bf16 flag on every f32 matmul and convolution.
 */
#ifndef GC_PASSES_PRECISION_H
#define GC_PASSES_PRECISION_H

#include "ir/diag.h"
#include "ir/graph.h"

/* gc_precision is public (gradc.h): gc_options.precision. */

/* Sets the bf16 flag on every f32 matmul, conv, conv_input_grad and conv_weight_grad of g. */
int gc_precision_bf16(gc_graph *g, gc_error *err);
int gc_pass_bf16(gc_graph **graph, gc_error *err);

/* "f32" or "bf16"; 0 for anything else. */
int gc_precision_parse(const char *text, gc_precision *out);
const char *gc_precision_name(gc_precision p);

#endif
