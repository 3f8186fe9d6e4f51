/*
 * precision.c: mixed precision (train { precision = "bf16" }, --precision bf16), as
 * torch.autocast("cpu", dtype=torch.bfloat16) does it in torch 1.13.
 *
 * Autocast runs matmul, linear, bmm, baddbmm, addmm and the convolutions with both operands cast
 * to bf16 (round to nearest even), and their gradients too (the casts are differentiable, so the
 * backward products get bf16 operands); softmax, log_softmax, the norms, the losses and the sums
 * stay f32, and so do the f32 master weights, their gradients and the optimizer state. In gradc's
 * IR every such product is a matmul or a convolution op, so the pass sets the `bf16` flag on every
 * f32 one, forward and backward (run it after autodiff). The flag changes only what the product
 * multiplies: the result stays an f32 value, accumulated in f32 (gemm_bf16.h), where torch would
 * round it to bf16 again; what feeds a softmax, a norm or a loss is therefore closer to f32 than
 * under autocast, never further.
 */
#include "passes/precision.h"

#include <string.h>

int gc_precision_bf16(gc_graph *g, gc_error *err) {
    (void)err;
    for (int i = 0; i < g->num_nodes; i++) {
        gc_node *n = g->nodes[i];
        if (n->type.dtype != GC_F32) continue;
        if (n->op == GC_OP_MATMUL) n->attr.matmul.bf16 = true;
        if ((n->op == GC_OP_CONV || n->op == GC_OP_CONV_INPUT_GRAD || n->op == GC_OP_CONV_WEIGHT_GRAD))
            n->attr.conv.bf16 = true;
    }
    return 1;
}

int gc_pass_bf16(gc_graph **graph, gc_error *err) { return gc_precision_bf16(*graph, err); }

int gc_precision_parse(const char *text, gc_precision *out) {
    if (!strcmp(text, "f32")) *out = GC_PRECISION_F32;
    else if (!strcmp(text, "bf16")) *out = GC_PRECISION_BF16;
    else return 0;
    return 1;
}

const char *gc_precision_name(gc_precision p) { return p == GC_PRECISION_BF16 ? "bf16" : "f32"; }
