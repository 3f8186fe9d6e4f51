/* build.c: constructors over gc_graph_make; see build.h. */
#include "ir/build.h"

#include <string.h>

gc_node *gc_build(gc_builder *b, gc_op op, gc_node *const *inputs, int n, const gc_attr *attr,
                  const gc_type *type) {
    for (int i = 0; i < n; i++)
        if (!inputs[i]) return NULL; /* an earlier call failed and already set the error */
    return gc_graph_make(b->graph, op, inputs, n, attr, type, NULL, b->loc, b->err);
}

/* An elementwise op of a reshape is the reshape of the op: the op then meets its operand in the
 * operand's own shape and joins its kernel (a linear layer's activation, applied to the layer's
 * reshaped result, runs in the GEMM's epilogue). Elementwise ops do not care about shape, so the
 * values are the same. */
gc_node *gc_unary(gc_builder *b, gc_op op, gc_node *x) {
    if (x && x->op == GC_OP_RESHAPE && gc_op_table[op].op_class == GC_CLASS_ELEMENTWISE &&
        gc_op_table[op].arity == 1 && !(gc_op_table[x->inputs[0]->op].flags & GC_FLAG_NAMED)) {
        gc_node *y = x->inputs[0];
        gc_node *r = gc_build(b, op, &y, 1, NULL, NULL);
        if (r && gc_type_same_shape(&r->type, &y->type)) return gc_reshape(b, r, x->type.rank, x->type.dims);
    }
    return gc_build(b, op, &x, 1, NULL, NULL);
}

/* Broadcasts folded into their consumer: an elementwise op with several operands broadcasts them
 * itself, so an explicit broadcast of one is dropped when the result keeps its shape. The code
 * generator then reads the small value with stride 0 instead of a materialised copy. */
static void fold_broadcasts(gc_node **in, int n) {
    gc_type whole, without;
    for (int i = 0; i < n; i++) {
        if (!in[i] || in[i]->op != GC_OP_BROADCAST) continue;
        whole = in[0]->type;
        for (int k = 1; k < n; k++)
            if (!gc_broadcast_shapes(&whole, &in[k]->type, &whole)) return;
        without = i == 0 ? in[i]->inputs[0]->type : in[0]->type;
        for (int k = 1; k < n; k++)
            if (!gc_broadcast_shapes(&without, k == i ? &in[i]->inputs[0]->type : &in[k]->type, &without)) return;
        if (gc_type_same_shape(&whole, &without)) in[i] = in[i]->inputs[0];
    }
}

gc_node *gc_binary(gc_builder *b, gc_op op, gc_node *x, gc_node *y) {
    gc_node *in[2] = {x, y};
    if (x && y) fold_broadcasts(in, 2);
    return gc_build(b, op, in, 2, NULL, NULL);
}

gc_node *gc_select(gc_builder *b, gc_node *cond, gc_node *x, gc_node *y) {
    gc_node *in[3] = {cond, x, y};
    if (cond && x && y) fold_broadcasts(in, 3);
    return gc_build(b, GC_OP_SELECT, in, 3, NULL, NULL);
}

gc_node *gc_fill(gc_builder *b, const gc_type *type, double value) {
    gc_attr a;
    memset(&a, 0, sizeof a);
    a.scalar.value = value;
    return gc_build(b, GC_OP_CONSTANT, NULL, 0, &a, type);
}

gc_node *gc_scalar(gc_builder *b, gc_dtype dtype, double value) {
    gc_type t = gc_type_scalar(dtype);
    return gc_fill(b, &t, value);
}

gc_node *gc_add_scalar(gc_builder *b, gc_node *x, double value) {
    if (!x) return NULL;
    return gc_binary(b, GC_OP_ADD, x, gc_scalar(b, x->type.dtype, value));
}

gc_node *gc_mul_scalar(gc_builder *b, gc_node *x, double value) {
    if (!x) return NULL;
    return gc_binary(b, GC_OP_MUL, x, gc_scalar(b, x->type.dtype, value));
}

gc_node *gc_pow_scalar(gc_builder *b, gc_node *x, double exponent) {
    gc_attr a;
    memset(&a, 0, sizeof a);
    a.pow.exponent = exponent;
    return gc_build(b, GC_OP_POW, &x, 1, &a, NULL);
}

gc_node *gc_reduce(gc_builder *b, gc_op op, gc_node *x, uint32_t axes, bool keepdims) {
    gc_attr a;
    memset(&a, 0, sizeof a);
    a.reduce.axes = axes;
    a.reduce.keepdims = keepdims;
    return gc_build(b, op, &x, 1, &a, NULL);
}

gc_node *gc_axis_op(gc_builder *b, gc_op op, gc_node *x, int axis) {
    gc_attr a;
    memset(&a, 0, sizeof a);
    a.axis.axis = axis;
    return gc_build(b, op, &x, 1, &a, NULL);
}

/* x when it only swaps the last two dims of its operand (a matrix transpose, batch dims kept in
 * place), else NULL: a GEMM reads that operand with its transpose flag flipped instead. */
static gc_node *transposed_operand(gc_node *x) {
    if (!x || x->op != GC_OP_PERMUTE || x->type.rank < 2) return NULL;
    int r = x->type.rank;
    const int *perm = x->attr.permute.perm;
    for (int d = 0; d < r - 2; d++)
        if (perm[d] != d) return NULL;
    return perm[r - 2] == r - 1 && perm[r - 1] == r - 2 ? x->inputs[0] : NULL;
}

gc_node *gc_matmul(gc_builder *b, gc_node *x, gc_node *y, bool transpose_a, bool transpose_b) {
    /* No materialised transposes: matmul(permute(w), ...) reads w with the flag flipped. */
    gc_node *tx = transposed_operand(x), *ty = transposed_operand(y);
    if (tx) x = tx, transpose_a = !transpose_a;
    if (ty) y = ty, transpose_b = !transpose_b;
    gc_attr a;
    memset(&a, 0, sizeof a);
    a.matmul.transpose_a = transpose_a;
    a.matmul.transpose_b = transpose_b;
    gc_node *in[2] = {x, y};
    return gc_build(b, GC_OP_MATMUL, in, 2, &a, NULL);
}

gc_node *gc_reshape(gc_builder *b, gc_node *x, int rank, const int64_t *dims) {
    if (!x) return NULL;
    gc_type t = gc_type_make(x->type.dtype, rank, dims);
    if (gc_type_same_shape(&t, &x->type)) return x;
    return gc_build(b, GC_OP_RESHAPE, &x, 1, NULL, &t);
}

gc_node *gc_broadcast_to(gc_builder *b, gc_node *x, const gc_type *shape) {
    if (!x) return NULL;
    gc_type t = *shape;
    t.dtype = x->type.dtype;
    if (gc_type_same_shape(&t, &x->type)) return x;
    return gc_build(b, GC_OP_BROADCAST, &x, 1, NULL, &t);
}

gc_node *gc_permute(gc_builder *b, gc_node *x, const int *perm) {
    if (!x) return NULL;
    gc_attr a;
    memset(&a, 0, sizeof a);
    for (int i = 0; i < x->type.rank; i++) a.permute.perm[i] = perm[i];
    return gc_build(b, GC_OP_PERMUTE, &x, 1, &a, NULL);
}

gc_node *gc_slice(gc_builder *b, gc_node *x, int axis, int64_t start, int64_t end) {
    gc_attr a;
    memset(&a, 0, sizeof a);
    a.slice.axis = axis;
    a.slice.start = start;
    a.slice.end = end;
    return gc_build(b, GC_OP_SLICE, &x, 1, &a, NULL);
}

gc_node *gc_pad(gc_builder *b, gc_node *x, int axis, int64_t before, int64_t after) {
    gc_attr a;
    memset(&a, 0, sizeof a);
    a.pad.axis = axis;
    a.pad.before = before;
    a.pad.after = after;
    return gc_build(b, GC_OP_PAD, &x, 1, &a, NULL);
}

gc_node *gc_concat(gc_builder *b, gc_node *const *xs, int n, int axis) {
    gc_attr a;
    memset(&a, 0, sizeof a);
    a.axis.axis = axis;
    return gc_build(b, GC_OP_CONCAT, xs, n, &a, NULL);
}

gc_node *gc_cast(gc_builder *b, gc_node *x, gc_dtype dtype) {
    if (!x) return NULL;
    if (x->type.dtype == dtype) return x;
    gc_type t = x->type;
    t.dtype = dtype;
    return gc_build(b, GC_OP_CAST, &x, 1, NULL, &t);
}

gc_node *gc_one_hot(gc_builder *b, gc_node *idx, int64_t depth) {
    gc_attr a;
    memset(&a, 0, sizeof a);
    a.one_hot.depth = depth;
    return gc_build(b, GC_OP_ONE_HOT, &idx, 1, &a, NULL);
}

gc_node *gc_unbroadcast(gc_builder *b, gc_node *x, const gc_type *shape) {
    if (!x) return NULL;
    if (gc_type_same_shape(&x->type, shape)) return x;
    int lead = x->type.rank - shape->rank;
    uint32_t axes = 0;
    for (int i = 0; i < x->type.rank; i++) {
        if (i < lead || (shape->dims[i - lead] == 1 && x->type.dims[i] != 1)) axes |= 1u << i;
    }
    gc_node *r = axes ? gc_reduce(b, GC_OP_SUM, x, axes, true) : x;
    return gc_reshape(b, r, shape->rank, shape->dims);
}
