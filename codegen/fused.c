/*
 * fused.c: the body of a fused kernel — elementwise members computed at each element of the
 * root's shape, intermediates in registers, only the root stored; optionally after a GEMM that
 * writes the result buffer first (an epilogue: bias add, activation, residual add); or, for a
 * reduction root, computed where the reduction loads its operand (a prologue: sum of squares).
 *
 * passes/fuse.c puts a node into a kernel only when it has the root's shape, so every member is
 * evaluated at the same element as the root; values from outside are read through broadcast
 * strides against the root's shape, each once per element however many members use it.
 */
#include <stdlib.h>

#include "codegen/cg.h"

/* The operands of member m from the members before it and the outside values. */
static int member_args(cg_ctx *cg, const cg_group *grp, int m, const LLVMValueRef *values, const LLVMValueRef *outside,
                       LLVMValueRef *args) {
    const gc_node *n = grp->members[m];
    if (n->num_inputs > 3)
        return gc_failf(cg->err, GC_ERR_INTERNAL, "internal error: codegen: fused %s has %d operands",
                        gc_op_table[n->op].name, n->num_inputs);
    for (int k = 0; k < n->num_inputs; k++) {
        const gc_node *x = n->inputs[k];
        args[k] = NULL;
        for (int j = 0; j < m && !args[k]; j++)
            if (grp->members[j] == x) args[k] = values[j];
        for (int j = 0; j < grp->num_ext && !args[k]; j++)
            if (grp->ext[j] == x) args[k] = outside[j];
        if (!args[k])
            return gc_failf(cg->err, GC_ERR_INTERNAL, "internal error: codegen: %%%d reads %%%d from nowhere", n->id,
                            x->id);
    }
    return 1;
}

LLVMValueRef cg_prologue_value(cg_ctx *cg, LLVMValueRef flat) {
    const cg_group *grp = cg->prologue;
    const gc_node *root = grp->members[grp->num_members - 1];
    /* Outside values have the operand's shape or hold one element (passes/fuse.c). */
    LLVMValueRef outside[CG_MAX_OPERANDS];
    for (int k = 0; k < grp->num_ext; k++) {
        const gc_type *t = &grp->ext[k]->type;
        outside[k] = cg_load(cg, t->dtype, cg->prologue_ext[k], gc_type_numel(t) == 1 ? cg_i64(cg, 0) : flat);
    }
    LLVMValueRef values[64], result = NULL;
    for (int m = 0; m < grp->num_members - 1; m++) {
        LLVMValueRef args[3];
        if (!member_args(cg, grp, m, values, outside, args)) return NULL;
        values[m] = cg_element_value(cg, grp->members[m], args, flat);
        if (!values[m])
            return gc_failf(cg->err, GC_ERR_INTERNAL, "internal error: codegen: %s cannot be fused",
                            gc_op_table[grp->members[m]->op].name), NULL;
        if (grp->members[m] == root->inputs[0]) result = values[m];
    }
    if (!result) gc_failf(cg->err, GC_ERR_INTERNAL, "internal error: codegen: no prologue value for %%%d", root->id);
    return result;
}

/* A reduction whose operand is computed by its members where it loads it. */
static int reduction_kernel(cg_ctx *cg, const cg_group *grp, LLVMValueRef out, const LLVMValueRef *ext) {
    const gc_node *root = grp->members[grp->num_members - 1];
    if (grp->num_members > 64 || grp->num_ext > CG_MAX_OPERANDS)
        return gc_failf(cg->err, GC_ERR_INTERNAL, "internal error: codegen: prologue of %%%d too large", root->id);
    cg->prologue = grp;
    cg->prologue_ext = ext;
    LLVMValueRef none[1] = {NULL};
    int ok = 0;
    switch (root->op) {
    case GC_OP_SUM: ok = cg_emit_sum(cg, root, out, none); break;
    case GC_OP_MEAN: ok = cg_emit_mean(cg, root, out, none); break;
    case GC_OP_MAX: ok = cg_emit_max(cg, root, out, none); break;
    case GC_OP_MIN: ok = cg_emit_min(cg, root, out, none); break;
    default: ok = gc_failf(cg->err, GC_ERR_INTERNAL, "internal error: codegen: %s takes no prologue", gc_op_table[root->op].name);
    }
    cg->prologue = NULL;
    cg->prologue_ext = NULL;
    return ok;
}

int cg_fused_kernel(cg_ctx *cg, const cg_group *grp, LLVMValueRef out, const LLVMValueRef *ext) {
    const gc_node *root = grp->members[grp->num_members - 1];
    if (gc_op_table[root->op].op_class == GC_CLASS_REDUCTION) return reduction_kernel(cg, grp, out, ext);
    if (grp->num_ext > CG_MAX_OPERANDS - 1)
        return gc_failf(cg->err, GC_ERR_INTERNAL, "internal error: codegen: fused kernel %%%d reads %d values",
                        root->id, grp->num_ext);
    /* A GEMM member runs first, into the result buffer; the loop reads its value there. Outside
     * values only the GEMM reads are not walked by the loop (their shapes are not the root's). */
    const gc_node *gemm = NULL;
    bool in_loop[CG_MAX_OPERANDS] = {false};
    for (int m = 0; m < grp->num_members; m++) {
        const gc_node *n = grp->members[m];
        if (gc_op_table[n->op].op_class == GC_CLASS_GEMM) {
            LLVMValueRef operands[2] = {NULL, NULL};
            for (int k = 0; k < 2; k++)
                for (int j = 0; j < grp->num_ext; j++)
                    if (grp->ext[j] == n->inputs[k]) operands[k] = ext[j];
            if (gemm || !operands[0] || !operands[1] || n->type.dtype != root->type.dtype)
                return gc_failf(cg->err, GC_ERR_INTERNAL, "internal error: codegen: bad GEMM epilogue in %%%d",
                                root->id);
            if (!cg_emit_matmul(cg, n, out, operands)) return 0;
            gemm = n;
            continue;
        }
        for (int k = 0; k < n->num_inputs; k++)
            for (int j = 0; j < grp->num_ext; j++)
                if (grp->ext[j] == n->inputs[k]) in_loop[j] = true;
    }

    cg_nest nest;
    cg_nest_init(&nest, root->type.rank, root->type.dims);
    int64_t strides[GC_MAX_RANK];
    gc_type_strides(&root->type, strides);
    cg_nest_add(&nest, strides);
    for (int k = 0; k < grp->num_ext; k++) {
        if (in_loop[k]) cg_broadcast_strides(&grp->ext[k]->type, &root->type, strides);
        else for (int d = 0; d < GC_MAX_RANK; d++) strides[d] = 0;
        cg_nest_add(&nest, strides);
    }
    cg_nest_coalesce(&nest);
    cg_nest_begin(cg, &nest);

    LLVMValueRef outside[CG_MAX_OPERANDS] = {NULL};
    for (int k = 0; k < grp->num_ext; k++)
        if (in_loop[k]) outside[k] = cg_load(cg, grp->ext[k]->type.dtype, ext[k], nest.off[k + 1]);
    LLVMValueRef *values = calloc((size_t)grp->num_members, sizeof *values);
    if (!values) return gc_failf(cg->err, GC_ERR_MEMORY, "out of memory");
    for (int m = 0; m < grp->num_members; m++) {
        const gc_node *n = grp->members[m];
        if (n == gemm) {
            values[m] = cg_load(cg, n->type.dtype, out, nest.off[0]);
            continue;
        }
        LLVMValueRef args[3];
        if (!member_args(cg, grp, m, values, outside, args)) {
            free(values);
            return 0;
        }
        values[m] = cg_element_value(cg, n, args, nest.off[0]);
        if (!values[m]) {
            free(values);
            return gc_failf(cg->err, GC_ERR_INTERNAL, "internal error: codegen: %s cannot be fused",
                            gc_op_table[n->op].name);
        }
    }
    cg_store(cg, root->type.dtype, values[grp->num_members - 1], out, nest.off[0]);
    free(values);
    cg_nest_end(cg, &nest);
    return 1;
}
