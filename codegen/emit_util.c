/*
 * emit_util.c: the small IR-building pieces every kernel emitter uses — constants converted the
 * way the interpreter converts them, typed loads and stores, calls to intrinsics and libm, and
 * counted loops and loop nests over static shapes.
 *
 * Loops are emitted bottom-tested (the shape of a loop after LLVM's rotation), since every extent
 * is a known positive constant; the optimiser then needs no guard to vectorise them.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "codegen/cg.h"

LLVMTypeRef cg_type(cg_ctx *cg, gc_dtype dtype) {
    switch (dtype) {
    case GC_F32: return cg->t_f32;
    case GC_I32: return cg->t_i32;
    case GC_F64: return cg->t_f64;
    }
    return cg->t_f32;
}

LLVMValueRef cg_i64(cg_ctx *cg, int64_t v) { return LLVMConstInt(cg->t_i64, (unsigned long long)v, 1); }

LLVMValueRef cg_i32(cg_ctx *cg, int32_t v) {
    return LLVMConstInt(cg->t_i32, (unsigned long long)(int64_t)v, 1);
}

double cg_to_i32(double v) {
    if (isnan(v)) return 0.0;
    if (v >= 2147483647.0) return 2147483647.0;
    if (v <= -2147483648.0) return -2147483648.0;
    return trunc(v);
}

double cg_round_f32(double v) {
    /* C leaves an out-of-range double-to-float conversion undefined; IEEE rounds it to inf once
     * past FLT_MAX plus half an ulp, to FLT_MAX before that. */
    if (isfinite(v) && fabs(v) > FLT_MAX)
        return fabs(v) >= 0x1.ffffffp127 ? copysign(INFINITY, v) : copysign(FLT_MAX, v);
    return (double)(float)v;
}

LLVMValueRef cg_const(cg_ctx *cg, gc_dtype dtype, double v) {
    switch (dtype) {
    case GC_F32: return LLVMConstReal(cg->t_f32, cg_round_f32(v));
    case GC_I32: return cg_i32(cg, (int32_t)cg_to_i32(v));
    case GC_F64: return LLVMConstReal(cg->t_f64, v);
    }
    return LLVMConstReal(cg->t_f32, cg_round_f32(v));
}

LLVMValueRef cg_elem_ptr(cg_ctx *cg, gc_dtype dtype, LLVMValueRef ptr, LLVMValueRef i) {
    return LLVMBuildInBoundsGEP2(cg->b, cg_type(cg, dtype), ptr, &i, 1, "");
}

LLVMValueRef cg_load(cg_ctx *cg, gc_dtype dtype, LLVMValueRef ptr, LLVMValueRef i) {
    return LLVMBuildLoad2(cg->b, cg_type(cg, dtype), cg_elem_ptr(cg, dtype, ptr, i), "");
}

void cg_store(cg_ctx *cg, gc_dtype dtype, LLVMValueRef v, LLVMValueRef ptr, LLVMValueRef i) {
    LLVMBuildStore(cg->b, v, cg_elem_ptr(cg, dtype, ptr, i));
}

static LLVMValueRef contract(LLVMValueRef inst) {
    if (LLVMIsAInstruction(inst)) LLVMSetFastMathFlags(inst, LLVMFastMathAllowContract);
    return inst;
}

LLVMValueRef cg_fadd(cg_ctx *cg, LLVMValueRef a, LLVMValueRef b) { return contract(LLVMBuildFAdd(cg->b, a, b, "")); }
LLVMValueRef cg_fsub(cg_ctx *cg, LLVMValueRef a, LLVMValueRef b) { return contract(LLVMBuildFSub(cg->b, a, b, "")); }
LLVMValueRef cg_fmul(cg_ctx *cg, LLVMValueRef a, LLVMValueRef b) { return contract(LLVMBuildFMul(cg->b, a, b, "")); }

LLVMValueRef cg_intrinsic(cg_ctx *cg, const char *name, LLVMValueRef *args, int n) {
    LLVMTypeRef ty = LLVMTypeOf(args[0]);
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(cg->mod, id, &ty, 1);
    LLVMTypeRef fty = LLVMIntrinsicGetType(cg->ctx, id, &ty, 1);
    return LLVMBuildCall2(cg->b, fty, fn, args, (unsigned)n, "");
}

LLVMValueRef cg_intrinsic2(cg_ctx *cg, const char *name, LLVMTypeRef ret, LLVMValueRef *args, int n) {
    LLVMTypeRef tys[2] = {ret, LLVMTypeOf(args[0])};
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(cg->mod, id, tys, 2);
    LLVMTypeRef fty = LLVMIntrinsicGetType(cg->ctx, id, tys, 2);
    return LLVMBuildCall2(cg->b, fty, fn, args, (unsigned)n, "");
}

LLVMValueRef cg_call(cg_ctx *cg, const char *name, LLVMTypeRef ret, LLVMTypeRef *params,
                     LLVMValueRef *args, int n) {
    LLVMTypeRef fty = LLVMFunctionType(ret, params, (unsigned)n, 0);
    LLVMValueRef fn = LLVMGetNamedFunction(cg->mod, name);
    if (!fn) {
        fn = LLVMAddFunction(cg->mod, name, fty);
        unsigned kind = LLVMGetEnumAttributeKindForName("nounwind", 8);
        LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(cg->ctx, kind, 0));
    }
    return LLVMBuildCall2(cg->b, fty, fn, args, (unsigned)n, "");
}

LLVMValueRef cg_libm1(cg_ctx *cg, const char *name, gc_dtype dtype, LLVMValueRef x) {
    char full[32];
    size_t len = strlen(name);
    if (len + 2 > sizeof full) len = sizeof full - 2;
    memcpy(full, name, len);
    /* erff for f32, erf for f64: the C library's naming. */
    if (dtype == GC_F32) full[len++] = 'f';
    full[len] = '\0';
    LLVMTypeRef t = cg_type(cg, dtype);
    return cg_call(cg, full, t, &t, &x, 1);
}

LLVMValueRef cg_entry_alloca(cg_ctx *cg, LLVMTypeRef type, int64_t count) {
    LLVMBasicBlockRef here = LLVMGetInsertBlock(cg->b);
    LLVMBasicBlockRef entry = LLVMGetEntryBasicBlock(cg->fn);
    LLVMValueRef first = LLVMGetFirstInstruction(entry);
    if (first)
        LLVMPositionBuilderBefore(cg->b, first);
    else
        LLVMPositionBuilderAtEnd(cg->b, entry);
    LLVMValueRef slot = count == 1 ? LLVMBuildAlloca(cg->b, type, "acc")
                                   : LLVMBuildArrayAlloca(cg->b, type, cg_i64(cg, count), "acc");
    LLVMSetAlignment(slot, 64);
    LLVMPositionBuilderAtEnd(cg->b, here);
    return slot;
}

void cg_loop_begin_range(cg_ctx *cg, cg_loop *loop, LLVMValueRef lo, LLVMValueRef hi) {
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(cg->b);
    loop->body = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "loop");
    loop->exit = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "after");
    loop->count = hi;
    LLVMBuildCondBr(cg->b, LLVMBuildICmp(cg->b, LLVMIntSLT, lo, hi, ""), loop->body, loop->exit);
    LLVMPositionBuilderAtEnd(cg->b, loop->body);
    loop->iv = LLVMBuildPhi(cg->b, cg->t_i64, "i");
    LLVMAddIncoming(loop->iv, &lo, &pre, 1);
}

void cg_loop_begin(cg_ctx *cg, cg_loop *loop, LLVMValueRef count) {
    loop->exit = NULL;
    /* A loop that runs once is no loop: its index is the constant 0, which lets accumulators
     * indexed by it be promoted to registers. */
    if (LLVMIsAConstantInt(count) && LLVMConstIntGetSExtValue(count) == 1) {
        loop->body = NULL;
        loop->iv = cg_i64(cg, 0);
        loop->count = count;
        return;
    }
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(cg->b);
    loop->body = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "loop");
    loop->count = count;
    LLVMBuildBr(cg->b, loop->body);
    LLVMPositionBuilderAtEnd(cg->b, loop->body);
    loop->iv = LLVMBuildPhi(cg->b, cg->t_i64, "i");
    LLVMValueRef zero = cg_i64(cg, 0);
    LLVMAddIncoming(loop->iv, &zero, &pre, 1);
}

void cg_loop_end(cg_ctx *cg, cg_loop *loop) {
    if (!loop->body) return;
    LLVMValueRef next = LLVMBuildAdd(cg->b, loop->iv, cg_i64(cg, 1), "i.next");
    LLVMSetNUW(next, 1);
    LLVMSetNSW(next, 1);
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(cg->b);
    LLVMValueRef more = LLVMBuildICmp(cg->b, LLVMIntSLT, next, loop->count, "");
    LLVMBasicBlockRef after = loop->exit ? loop->exit : LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "after");
    LLVMBuildCondBr(cg->b, more, loop->body, after);
    LLVMAddIncoming(loop->iv, &next, &latch, 1);
    LLVMPositionBuilderAtEnd(cg->b, after);
}

void cg_nest_init(cg_nest *nest, int rank, const int64_t *dims) {
    memset(nest, 0, sizeof *nest);
    nest->rank = rank;
    for (int d = 0; d < rank; d++) nest->dims[d] = dims[d];
}

int cg_nest_add(cg_nest *nest, const int64_t *strides) {
    int k = nest->count++;
    for (int d = 0; d < nest->rank; d++) nest->strides[k][d] = strides[d];
    return k;
}

void cg_nest_coalesce(cg_nest *nest) {
    int rank = 0;
    int64_t dims[GC_MAX_RANK], strides[CG_MAX_OPERANDS][GC_MAX_RANK];
    /* Walk from the innermost dim outwards; a dim of extent 1 moves nothing and disappears. */
    for (int d = nest->rank - 1; d >= 0; d--) {
        if (nest->dims[d] == 1) continue;
        bool merge = rank > 0;
        for (int k = 0; merge && k < nest->count; k++)
            merge = nest->strides[k][d] == strides[k][rank - 1] * dims[rank - 1];
        if (merge) {
            dims[rank - 1] *= nest->dims[d];
            continue;
        }
        dims[rank] = nest->dims[d];
        for (int k = 0; k < nest->count; k++) strides[k][rank] = nest->strides[k][d];
        rank++;
    }
    /* The kept dims were collected innermost first. */
    nest->rank = rank;
    for (int d = 0; d < rank; d++) {
        nest->dims[d] = dims[rank - 1 - d];
        for (int k = 0; k < nest->count; k++) nest->strides[k][d] = strides[k][rank - 1 - d];
    }
}

void cg_nest_begin(cg_ctx *cg, cg_nest *nest) { cg_nest_begin_part(cg, nest, -1, NULL, NULL); }

void cg_nest_begin_part(cg_ctx *cg, cg_nest *nest, int dim, LLVMValueRef lo, LLVMValueRef hi) {
    for (int d = 0; d < nest->rank; d++) {
        if (d == dim) cg_loop_begin_range(cg, &nest->loops[d], lo, hi);
        else cg_loop_begin(cg, &nest->loops[d], cg_i64(cg, nest->dims[d]));
        nest->idx[d] = nest->loops[d].iv;
    }
    for (int k = 0; k < nest->count; k++) {
        LLVMValueRef off = NULL;
        for (int d = 0; d < nest->rank; d++) {
            int64_t s = nest->strides[k][d];
            if (s == 0) continue;
            LLVMValueRef term = s == 1 ? nest->idx[d] : LLVMBuildMul(cg->b, nest->idx[d], cg_i64(cg, s), "");
            if (s != 1) LLVMSetNSW(term, 1);
            if (off) {
                off = LLVMBuildAdd(cg->b, off, term, "");
                LLVMSetNSW(off, 1);
            } else {
                off = term;
            }
        }
        nest->off[k] = off ? off : cg_i64(cg, 0);
    }
}

void cg_nest_end(cg_ctx *cg, cg_nest *nest) {
    for (int d = nest->rank - 1; d >= 0; d--) cg_loop_end(cg, &nest->loops[d]);
}

void cg_broadcast_strides(const gc_type *from, const gc_type *to, int64_t *strides) {
    int64_t own[GC_MAX_RANK];
    gc_type_strides(from, own);
    int lead = to->rank - from->rank;
    for (int d = 0; d < to->rank; d++) {
        int f = d - lead;
        strides[d] = (f >= 0 && from->dims[f] != 1) ? own[f] : 0;
    }
}

void cg_copy(cg_ctx *cg, gc_dtype dtype, LLVMValueRef dst, LLVMValueRef src, int64_t count) {
    unsigned align = (unsigned)gc_dtype_size(dtype);
    LLVMBuildMemCpy(cg->b, dst, align, src, align, cg_i64(cg, count * (int64_t)gc_dtype_size(dtype)));
}

void cg_zero(cg_ctx *cg, gc_dtype dtype, LLVMValueRef dst, int64_t count) {
    unsigned align = (unsigned)gc_dtype_size(dtype);
    LLVMBuildMemSet(cg->b, dst, LLVMConstInt(cg->t_i8, 0, 0), cg_i64(cg, count * (int64_t)gc_dtype_size(dtype)),
                    align);
}
