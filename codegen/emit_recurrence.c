/*
 * emit_recurrence.c: recurrence and recurrence_grad kernels — one call to the runtime's loop over
 * time (runtime/recurrent.h), so the code does not grow with the sequence length. The kernel
 * splits over the pool by batch rows, each part running every step of its own rows.
 */
#include <limits.h>

#include "codegen/cg.h"
#include "ir/recurrence.h"

static int emit_call(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in, bool backward) {
    const gc_type *seq = &n->inputs[0]->type;
    const gc_type *w = &n->inputs[backward ? 2 : 1]->type;
    gc_dtype dtype = n->type.dtype;
    if (dtype != GC_F32 && dtype != GC_F64)
        return gc_failf(cg->err, GC_ERR_INTERNAL, "internal error: codegen: %s of %s", gc_op_table[n->op].name,
                        gc_dtype_name(dtype));
    int64_t batch = seq->dims[0], steps = seq->dims[1], hidden = w->dims[1];
    int cell = n->attr.recurrence.cell;
    /* The loop's GEMMs step through the packed result and the gradient by a row of all steps. */
    int64_t widest = (steps + 1) * gc_cell_packed(cell) * hidden;
    if (widest > INT_MAX || w->dims[0] > INT_MAX)
        return gc_failf(cg->err, GC_ERR_USER, "%s %%%d: %lld steps of %lld units exceed the BLAS limit of %d per row",
                        gc_op_table[n->op].name, n->id, (long long)steps, (long long)hidden, INT_MAX);
    double work = (double)batch * (double)steps * (double)w->dims[0] * (double)hidden;
    LLVMValueRef lo = cg_i64(cg, 0), hi = cg_i64(cg, batch);
    if (batch >= 2 && cg_split_worthwhile(cg, work)) cg_split_range(cg, batch, 1, &lo, &hi);
    if (dtype == GC_F32)
        cg->calls_gemm = true; /* gc_sgemm for every step's product */
    else
        cg->calls_blas = true;
    LLVMValueRef none = LLVMConstNull(cg->t_ptr);
    LLVMTypeRef params[14] = {cg->t_i32, cg->t_ptr, cg->t_ptr, cg->t_ptr, cg->t_ptr, cg->t_ptr, cg->t_ptr,
                              cg->t_i64, cg->t_i64, cg->t_i64, cg->t_i32, cg->t_i32, cg->t_i64, cg->t_i64};
    LLVMValueRef args[14] = {cg_i32(cg, backward), out, in[0], in[1], in[2], in[3], n->num_inputs > 4 ? in[4] : none,
                             cg_i64(cg, batch), cg_i64(cg, steps), cg_i64(cg, hidden), cg_i32(cg, cell),
                             cg_i32(cg, n->attr.recurrence.reverse), lo, hi};
    cg_call(cg, dtype == GC_F32 ? "gc_recurrence_f32" : "gc_recurrence_f64", cg->t_void, params, args, 14);
    return 1;
}

int cg_emit_recurrence(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in) {
    return emit_call(cg, n, out, in, false);
}

int cg_emit_recurrence_grad(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in) {
    return emit_call(cg, n, out, in, true);
}
