/* build_conv.c: constructors of the convolution ops; see build.h. */
#include "ir/build.h"

#include <string.h>

static gc_node *conv_op(gc_builder *b, gc_op op, gc_node *p, gc_node *q, const gc_attr_conv *a, const gc_type *type) {
    gc_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.conv = *a;
    gc_node *in[2] = {p, q};
    return gc_build(b, op, in, 2, &attr, type);
}

gc_node *gc_conv(gc_builder *b, gc_node *x, gc_node *w, const gc_attr_conv *a) {
    return conv_op(b, GC_OP_CONV, x, w, a, NULL);
}

gc_node *gc_conv_input_grad(gc_builder *b, gc_node *dy, gc_node *w, const gc_attr_conv *a, const gc_type *x_type) {
    return conv_op(b, GC_OP_CONV_INPUT_GRAD, dy, w, a, x_type);
}

gc_node *gc_conv_weight_grad(gc_builder *b, gc_node *x, gc_node *dy, const gc_attr_conv *a, const gc_type *w_type) {
    return conv_op(b, GC_OP_CONV_WEIGHT_GRAD, x, dy, a, w_type);
}
