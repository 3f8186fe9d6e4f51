/*
 * build.h: short-hand constructors over gc_graph_make for code that builds graphs (the frontend's
 * lowering, autodiff, losses, optimizers, tests). Each returns NULL with err set on failure and
 * accepts NULL operands by returning NULL, so a chain of calls needs one check at the end.
 */
#ifndef GC_IR_BUILD_H
#define GC_IR_BUILD_H

#include "ir/graph.h"

/* A builder bundles the graph, the location stamped on new nodes, and the error slot. */
typedef struct gc_builder {
    gc_graph *graph;
    gc_loc loc;
    gc_error *err;
} gc_builder;

gc_node *gc_build(gc_builder *b, gc_op op, gc_node *const *inputs, int n, const gc_attr *attr,
                  const gc_type *type);

gc_node *gc_unary(gc_builder *b, gc_op op, gc_node *x);
gc_node *gc_binary(gc_builder *b, gc_op op, gc_node *x, gc_node *y);
gc_node *gc_select(gc_builder *b, gc_node *cond, gc_node *x, gc_node *y);
/* A rank-0 constant of x's dtype (or dtype), to be broadcast by binary ops. */
gc_node *gc_scalar(gc_builder *b, gc_dtype dtype, double value);
gc_node *gc_fill(gc_builder *b, const gc_type *type, double value);
gc_node *gc_add_scalar(gc_builder *b, gc_node *x, double value);
gc_node *gc_mul_scalar(gc_builder *b, gc_node *x, double value);
gc_node *gc_pow_scalar(gc_builder *b, gc_node *x, double exponent);
/* Reduction over the axes in mask (bit i = dim i). */
gc_node *gc_reduce(gc_builder *b, gc_op op, gc_node *x, uint32_t axes, bool keepdims);
gc_node *gc_axis_op(gc_builder *b, gc_op op, gc_node *x, int axis);
gc_node *gc_matmul(gc_builder *b, gc_node *x, gc_node *y, bool transpose_a, bool transpose_b);
gc_node *gc_reshape(gc_builder *b, gc_node *x, int rank, const int64_t *dims);
gc_node *gc_broadcast_to(gc_builder *b, gc_node *x, const gc_type *shape);
gc_node *gc_permute(gc_builder *b, gc_node *x, const int *perm);
gc_node *gc_slice(gc_builder *b, gc_node *x, int axis, int64_t start, int64_t end);
gc_node *gc_pad(gc_builder *b, gc_node *x, int axis, int64_t before, int64_t after);
gc_node *gc_concat(gc_builder *b, gc_node *const *xs, int n, int axis);
gc_node *gc_cast(gc_builder *b, gc_node *x, gc_dtype dtype);
gc_node *gc_one_hot(gc_builder *b, gc_node *idx, int64_t depth);
/* Sums a broadcast value back down to `shape` (the adjoint of NumPy broadcasting): reduces the
 * leading extra dims and the dims where shape has 1, then reshapes. Returns x when already there. */
gc_node *gc_unbroadcast(gc_builder *b, gc_node *x, const gc_type *shape);

/* Convolution (ir/build_conv.c). `a` holds stride, paddings, dilation and groups; conv_input_grad
 * states x's type, conv_weight_grad w's (see ops.def). */
gc_node *gc_conv(gc_builder *b, gc_node *x, gc_node *w, const gc_attr_conv *a);
gc_node *gc_conv_input_grad(gc_builder *b, gc_node *dy, gc_node *w, const gc_attr_conv *a, const gc_type *x_type);
gc_node *gc_conv_weight_grad(gc_builder *b, gc_node *x, gc_node *dy, const gc_attr_conv *a, const gc_type *w_type);

#endif
