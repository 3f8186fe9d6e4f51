/*
 * emit_conv.c: the convolution kernels — one call to runtime/conv.c (gradc's im2col tiles on its
 * own GEMM, or direct loops for depthwise and tiny groups) with the geometry as a constant table.
 *
 * The call takes the kernel's share of the work (runtime/parallel.h): images for the forward and
 * input-gradient kernels, input channels for the weight gradient, so the weight gradient's sum over
 * the batch is never cut and every thread count gives the same bits. The runtime functions are
 * ordinary (strong) references: an object that convolves links gradc's runtime library, as the
 * standalone trainers do (there is no BLAS routine to fall back to).
 */
#include <stdio.h>

#include "codegen/cg.h"
#include "ir/conv.h"
#include "runtime/conv.h"

/* The geometry of n as a private constant i64 array. */
static LLVMValueRef geometry_table(cg_ctx *cg, const gc_node *n) {
    gc_conv_geom g;
    gc_conv_geom_of(n, &g);
    const int64_t *words = (const int64_t *)(const void *)&g;
    LLVMValueRef elems[GC_CONV_GEOM_WORDS];
    for (int i = 0; i < GC_CONV_GEOM_WORDS; i++) elems[i] = cg_i64(cg, words[i]);
    LLVMValueRef init = LLVMConstArray(cg->t_i64, elems, GC_CONV_GEOM_WORDS);
    char name[32];
    snprintf(name, sizeof name, "conv%d", n->id);
    LLVMValueRef table = LLVMAddGlobal(cg->mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(table, init);
    LLVMSetGlobalConstant(table, 1);
    LLVMSetLinkage(table, LLVMPrivateLinkage);
    LLVMSetUnnamedAddr(table, 1);
    return table;
}

static int emit_call(cg_ctx *cg, const gc_node *n, const char *base, LLVMValueRef out, const LLVMValueRef *in) {
    if (n->type.dtype != GC_F32 && n->type.dtype != GC_F64)
        return gc_failf(cg->err, GC_ERR_USER, "%s %%%d: only f32 and f64 are supported", gc_op_table[n->op].name, n->id);
    gc_conv_geom g;
    gc_conv_geom_of(n, &g);
    LLVMValueRef from = cg_i32(cg, 0), to = cg_i32(cg, GC_SHARE_ONE);
    /* Images (forward, input gradient) or input channels (weight gradient) share out the work. */
    int64_t units = n->op == GC_OP_CONV_WEIGHT_GRAD ? g.in_channels : g.batch;
    if (units >= 2 && cg_split_worthwhile(cg, gc_conv_macs(&g))) {
        from = cg->share_from;
        to = cg->share_to;
        cg->parallel = true;
    }
    /* The f32 kernels call gc_sgemm, whose results are independent of the cut only when it runs
     * gradc's own kernel: the pool then keeps the shares even otherwise. */
    if (n->type.dtype == GC_F32) cg->calls_gemm = true;
    char name[64];
    snprintf(name, sizeof name, "%s_%s", base, n->type.dtype == GC_F64 ? "f64" : n->attr.conv.bf16 ? "bf16" : "f32");
    LLVMTypeRef params[6] = {cg->t_ptr, cg->t_ptr, cg->t_ptr, cg->t_ptr, cg->t_i32, cg->t_i32};
    LLVMValueRef args[6] = {geometry_table(cg, n), in[0], in[1], out, from, to};
    cg_call(cg, name, cg->t_void, params, args, 6);
    return 1;
}

int cg_emit_conv(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in) {
    return emit_call(cg, n, "gc_conv_forward", out, in);
}

int cg_emit_conv_input_grad(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in) {
    return emit_call(cg, n, "gc_conv_input_grad", out, in);
}

int cg_emit_conv_weight_grad(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in) {
    return emit_call(cg, n, "gc_conv_weight_grad", out, in);
}

bool cg_conv_by_images(const gc_node *n, double *macs) {
    if ((n->op != GC_OP_CONV && n->op != GC_OP_CONV_INPUT_GRAD) || (n->type.dtype != GC_F32 && n->type.dtype != GC_F64))
        return false;
    gc_conv_geom g;
    gc_conv_geom_of(n, &g);
    *macs = gc_conv_macs(&g);
    return true;
}

int64_t cg_conv_images_per_call(const gc_node *n) {
    gc_conv_geom g;
    gc_conv_geom_of(n, &g);
    return gc_conv_images_per_call((const int64_t *)(const void *)&g);
}

int cg_emit_conv_images(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in, LLVMValueRef lo,
                        LLVMValueRef hi, LLVMValueRef again) {
    double macs;
    if (!cg_conv_by_images(n, &macs))
        return gc_failf(cg->err, GC_ERR_INTERNAL, "internal error: codegen: %s %%%d takes no epilogue",
                        gc_op_table[n->op].name, n->id);
    if (n->type.dtype == GC_F32) cg->calls_gemm = true;
    char name[64];
    snprintf(name, sizeof name, "%s_%s", n->op == GC_OP_CONV ? "gc_conv_forward_images" : "gc_conv_input_grad_images",
             n->type.dtype == GC_F32 ? "f32" : "f64");
    LLVMTypeRef params[7] = {cg->t_ptr, cg->t_ptr, cg->t_ptr, cg->t_ptr, cg->t_i64, cg->t_i64, cg->t_i32};
    LLVMValueRef args[7] = {geometry_table(cg, n), in[0], in[1], out, lo, hi, again};
    cg_call(cg, name, cg->t_void, params, args, 7);
    return 1;
}
