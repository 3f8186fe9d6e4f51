/*
 * conv.h: the geometry of a convolution node (conv, conv_input_grad, conv_weight_grad), shared by
 * the shape rules, the interpreter, the runtime kernels and the code generator.
 *
 * Every field is an int64_t so the code generator can hand the whole struct to the runtime as one
 * constant i64 array (runtime/conv.h). Spatial dims are right-aligned in three slots, depth, height
 * and width: a 2-d convolution has slot 0 of size 1 (kernel 1, stride 1, dilation 1, no padding),
 * a 1-d one slots 0 and 1, so kernels loop over three dims whatever the rank.
 */
#ifndef GC_IR_CONV_H
#define GC_IR_CONV_H

#include <stdbool.h>
#include <stdint.h>

#include "ir/graph.h"

typedef struct gc_conv_geom {
    int64_t batch, in_channels, out_channels, groups, spatial;
    int64_t in[3], out[3], kernel[3], stride[3], pad_before[3], pad_after[3], dilation[3];
} gc_conv_geom;

#define GC_CONV_GEOM_WORDS ((int)(sizeof(gc_conv_geom) / sizeof(int64_t)))

/* The geometry of conv-family node n, whose operand types and attributes its shape rule has
 * accepted: x is operand 0 of conv and conv_weight_grad and the result of conv_input_grad; w is
 * operand 1 of conv and conv_input_grad and the result of conv_weight_grad. */
void gc_conv_geom_of(const gc_node *n, gc_conv_geom *g);

/* Multiply-adds of the convolution (each of the three ops does the same number). */
double gc_conv_macs(const gc_conv_geom *g);

#endif
