/*
 * module.c: a whole graph to one LLVM module — a kernel per root of the fusion partition (one
 * node, or a fused group), equal kernels sharing a function, the gc_init, gc_step and gc_update
 * entry points over the arena and the thread pool, verification and the O3 pipeline for the
 * host CPU.
 *
 * Kernels are internal and noinline: each stays a function named k<id> in the IR and assembly
 * (readable dumps, profiles that name the node), and a call per kernel per step costs nothing
 * next to the loop behind it. The entry points only pass arena pointers at constant offsets:
 * directly to a kernel that runs once, or as a table to the pool for a split one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include "codegen/cg.h"
#include "passes/fuse.h"
#include "runtime/profile.h"
#include "runtime/step_hook.h"

/* Dispatch by expanding the op table: an op without a cg_emit_<name> fails to link. */
static const cg_emitter emitters[GC_OP_COUNT] = {
#define GC_OP(E, name, ...) [GC_OP_##E] = cg_emit_##name,
#include "ir/ops.def"
#undef GC_OP
};

void cg_ctx_init(cg_ctx *cg, LLVMContextRef ctx, LLVMModuleRef mod, gc_error *err) {
    memset(cg, 0, sizeof *cg);
    cg->ctx = ctx;
    cg->mod = mod;
    cg->b = LLVMCreateBuilderInContext(ctx);
    cg->err = err;
    cg->t_void = LLVMVoidTypeInContext(ctx);
    cg->t_i1 = LLVMInt1TypeInContext(ctx);
    cg->t_i8 = LLVMInt8TypeInContext(ctx);
    cg->t_i32 = LLVMInt32TypeInContext(ctx);
    cg->t_i64 = LLVMInt64TypeInContext(ctx);
    cg->t_f32 = LLVMFloatTypeInContext(ctx);
    cg->t_f64 = LLVMDoubleTypeInContext(ctx);
    cg->t_ptr = LLVMPointerTypeInContext(ctx, 0);
}

void cg_ctx_dispose(cg_ctx *cg) {
    if (cg->b) LLVMDisposeBuilder(cg->b);
    cg->b = NULL;
}

static void add_attr(cg_ctx *cg, LLVMValueRef fn, LLVMAttributeIndex at, const char *name) {
    unsigned kind = LLVMGetEnumAttributeKindForName(name, strlen(name));
    LLVMAddAttributeAtIndex(fn, at, LLVMCreateEnumAttribute(cg->ctx, kind, 0));
}

static bool is_named_source(const gc_node *n) { return (gc_op_table[n->op].flags & GC_FLAG_NAMED) != 0; }

/* Constants and iota never change: gc_init computes them once. */
static bool is_init(const gc_node *n) { return n->op == GC_OP_CONSTANT || n->op == GC_OP_IOTA; }

static bool has_kernel(const gc_node *n, const gc_layout *layout) {
    return !is_named_source(n) && !layout->aliased[n->id] && (!layout->root || layout->root[n->id] == n->id);
}

/* Mark a kernel whose body is split by its share parameters (codegen/parallel.c), and one that
 * calls gc_sgemm or OpenBLAS (the GC_TASK_* flags of runtime/parallel.h). */
#define PARALLEL_ATTR "gc-parallel"
#define CALLS_GEMM_ATTR "gc-calls-gemm"
#define CALLS_BLAS_ATTR "gc-calls-blas"
#define GEMM_ROWS_ATTR "gc-gemm-rows"
#define GEMM_COLS_ATTR "gc-gemm-cols"
#define GEMM_KSPLIT_ATTR "gc-gemm-ksplit"

static bool has_attr(LLVMValueRef fn, const char *name) {
    return LLVMGetStringAttributeAtIndex(fn, LLVMAttributeFunctionIndex, name, (unsigned)strlen(name)) != NULL;
}

static bool is_parallel(LLVMValueRef fn) { return has_attr(fn, PARALLEL_ATTR); }

static int32_t task_flags(LLVMValueRef fn) {
    return (has_attr(fn, CALLS_GEMM_ATTR) ? GC_TASK_CALLS_GEMM : 0) | (has_attr(fn, CALLS_BLAS_ATTR) ? GC_TASK_CALLS_BLAS : 0) |
           (has_attr(fn, GEMM_ROWS_ATTR) ? GC_TASK_GEMM_ROWS : 0) | (has_attr(fn, GEMM_COLS_ATTR) ? GC_TASK_GEMM_COLS : 0) |
           (has_attr(fn, GEMM_KSPLIT_ATTR) ? GC_TASK_GEMM_KSPLIT : 0);
}

/* The type of a kernel with `pointers` pointer parameters: void (ptr..., i32 from, i32 to). */
static LLVMTypeRef kernel_type(cg_ctx *cg, int pointers, LLVMTypeRef *params) {
    for (int i = 0; i < pointers; i++) params[i] = cg->t_ptr;
    params[pointers] = params[pointers + 1] = cg->t_i32;
    return LLVMFunctionType(cg->t_void, params, (unsigned)(pointers + 2), 0);
}

/* void k<id>(ptr noalias out, ptr noalias readonly in0, ..., ptr noalias stored0, ...,
 * i32 from, i32 to): [from, to) is the share of the work this call does (GC_SHARE_ONE: all). */
static LLVMValueRef emit_kernel(cg_ctx *cg, const cg_group *grp) {
    const gc_node *n = grp->members[grp->num_members - 1];
    int count = cg_group_pointers(grp);
    LLVMTypeRef *params = calloc((size_t)count + 2, sizeof *params);
    if (!params) return gc_failf(cg->err, GC_ERR_MEMORY, "out of memory"), NULL;
    char name[32];
    snprintf(name, sizeof name, "k%d", n->id);
    LLVMValueRef fn = LLVMAddFunction(cg->mod, name, kernel_type(cg, count, params));
    free(params);
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    add_attr(cg, fn, LLVMAttributeFunctionIndex, "nounwind");
    add_attr(cg, fn, LLVMAttributeFunctionIndex, "noinline");
    for (int i = 0; i < count; i++) {
        add_attr(cg, fn, (LLVMAttributeIndex)(i + 1), "noalias");
        add_attr(cg, fn, (LLVMAttributeIndex)(i + 1), "nocapture");
        if (i > 0 && i <= grp->num_ext) add_attr(cg, fn, (LLVMAttributeIndex)(i + 1), "readonly");
    }

    LLVMValueRef in[64], *inputs = in, stored[64];
    if (grp->num_ext > 64 && !(inputs = calloc((size_t)grp->num_ext, sizeof *inputs)))
        return gc_failf(cg->err, GC_ERR_MEMORY, "out of memory"), NULL;
    for (int s = 0; s < grp->num_stores && s < 64; s++) stored[s] = LLVMGetParam(fn, (unsigned)(1 + grp->num_ext + s));
    for (int k = 0; k < grp->num_ext; k++) {
        int from = k < 64 ? grp->reads_from[k] : 0;
        inputs[k] = from == 0 ? LLVMGetParam(fn, (unsigned)(k + 1)) : from == 1 ? LLVMGetParam(fn, 0) : stored[from - 2];
    }
    cg->stored = stored;
    cg->fn = fn;
    cg->share_from = LLVMGetParam(fn, (unsigned)count);
    cg->share_to = LLVMGetParam(fn, (unsigned)count + 1);
    cg->parallel = false;
    cg->calls_gemm = cg->calls_blas = false;
    cg->gemm_split = 0;
    LLVMPositionBuilderAtEnd(cg->b, LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry"));
    int ok = grp->num_members == 1 ? emitters[n->op](cg, n, LLVMGetParam(fn, 0), inputs)
                                   : cg_fused_kernel(cg, grp, LLVMGetParam(fn, 0), inputs);
    if (cg->parallel) LLVMAddTargetDependentFunctionAttr(fn, PARALLEL_ATTR, "");
    if (cg->calls_gemm) LLVMAddTargetDependentFunctionAttr(fn, CALLS_GEMM_ATTR, "");
    if (cg->calls_blas) LLVMAddTargetDependentFunctionAttr(fn, CALLS_BLAS_ATTR, "");
    if (cg->gemm_split)
        LLVMAddTargetDependentFunctionAttr(
            fn, cg->gemm_split == 3 ? GEMM_KSPLIT_ATTR : cg->gemm_split == 2 ? GEMM_COLS_ATTR : GEMM_ROWS_ATTR, "");
    cg->share_from = cg->share_to = NULL;
    cg->stored = NULL;
    if (inputs != in) free(inputs);
    if (!ok) {
        gc_error_prefix(cg->err, "generating code for %%%d (%s)", n->id, gc_op_table[n->op].name);
        return NULL;
    }
    LLVMBuildRetVoid(cg->b);
    return fn;
}

/* void t<kernel>(ptr arena, ptr offsets, i32 from, i32 to): one part of a split kernel with
 * its operands at arena + offsets[k], the task the step hands the pool (runtime/parallel.h). One
 * per kernel function, not per call: each call passes its own table of offsets. */
static LLVMValueRef task_of(cg_ctx *cg, LLVMValueRef kernel, LLVMTypeRef kty, int pointers, LLVMValueRef *args) {
    size_t len;
    const char *kname = LLVMGetValueName2(kernel, &len);
    char name[40];
    snprintf(name, sizeof name, "t%.*s", (int)(len < 30 ? len : 30), kname);
    LLVMValueRef fn = LLVMGetNamedFunction(cg->mod, name);
    if (fn) return fn;
    LLVMTypeRef params[4] = {cg->t_ptr, cg->t_ptr, cg->t_i32, cg->t_i32};
    fn = LLVMAddFunction(cg->mod, name, LLVMFunctionType(cg->t_void, params, 4, 0));
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    add_attr(cg, fn, LLVMAttributeFunctionIndex, "nounwind");
    LLVMBasicBlockRef back = LLVMGetInsertBlock(cg->b);
    LLVMPositionBuilderAtEnd(cg->b, LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry"));
    LLVMValueRef arena = LLVMGetParam(fn, 0), offsets = LLVMGetParam(fn, 1);
    for (int k = 0; k < pointers; k++) {
        LLVMValueRef at = cg_i64(cg, k);
        LLVMValueRef off = LLVMBuildLoad2(cg->b, cg->t_i64, LLVMBuildInBoundsGEP2(cg->b, cg->t_i64, offsets, &at, 1, ""), "");
        args[k] = LLVMBuildInBoundsGEP2(cg->b, cg->t_i8, arena, &off, 1, "");
    }
    args[pointers] = LLVMGetParam(fn, 2);
    args[pointers + 1] = LLVMGetParam(fn, 3);
    LLVMBuildCall2(cg->b, kty, kernel, args, (unsigned)(pointers + 2), "");
    LLVMBuildRetVoid(cg->b);
    LLVMPositionBuilderAtEnd(cg->b, back);
    return fn;
}

/* The constant table of a call's pointer offsets: the node's own, its outside values', its
 * stored members'. */
static LLVMValueRef offset_table(cg_ctx *cg, const gc_layout *layout, const gc_node *n, const cg_group *grp,
                                 LLVMValueRef *scratch) {
    int pointers = cg_group_pointers(grp);
    for (int k = 0; k < pointers; k++) scratch[k] = cg_i64(cg, layout->offsets[cg_group_pointer(grp, n, k)->id]);
    LLVMValueRef init = LLVMConstArray(cg->t_i64, scratch, (unsigned)pointers);
    char name[32];
    snprintf(name, sizeof name, "o%d", n->id);
    LLVMValueRef table = LLVMAddGlobal(cg->mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(table, init);
    LLVMSetGlobalConstant(table, 1);
    LLVMSetLinkage(table, LLVMPrivateLinkage);
    LLVMSetUnnamedAddr(table, 1);
    return table;
}

/* The gradient outputs with bytes of their own, by node id, ascending and each once. */
int *cg_grad_nodes(const gc_graph *g, const gc_layout *layout, int *count) {
    bool *is_grad = calloc((size_t)g->num_nodes + 1, sizeof *is_grad);
    int *ids = calloc((size_t)g->num_outputs + 1, sizeof *ids);
    if (!is_grad || !ids) {
        free(is_grad);
        free(ids);
        return NULL;
    }
    for (int i = 0; i < g->num_outputs; i++) {
        const gc_node *v = g->outputs[i].value;
        if (g->outputs[i].kind == GC_OUTPUT_GRAD && layout->offsets[v->id] >= 0 && !is_init(v) &&
            !(gc_op_table[v->op].flags & GC_FLAG_NAMED))
            is_grad[v->id] = true;
    }
    *count = 0;
    for (int i = 0; i < g->num_nodes; i++)
        if (is_grad[i]) ids[(*count)++] = i;
    free(is_grad);
    return ids;
}

static int64_t value_bytes(const gc_node *n) { return gc_type_numel(&n->type) * (int64_t)gc_dtype_size(n->type.dtype); }

/* Whether reading v reads bytes of one of the gradients made ready so far (grads[0 .. ready)). */
bool cg_reads_ready_grad(const gc_graph *g, const gc_layout *layout, const int *grads, int ready, const gc_node *v) {
    int64_t lo = layout->offsets[v->id];
    if (lo < 0) return false;
    int64_t hi = lo + value_bytes(v);
    for (int k = 0; k < ready; k++) {
        const gc_node *grad = g->nodes[grads[k]];
        int64_t glo = layout->offsets[grad->id], ghi = glo + value_bytes(grad);
        if (lo < ghi && glo < hi) return true;
    }
    return false;
}

/* An entry point void name(ptr arena, ptr pool) calling, in graph order, the kernels whose root
 * is an init node (constants, iota) when `init`, else those with root id in [from, to). A split
 * kernel goes through gc_pool_run, every part on its own thread; the rest are called once. */
/* hooked: the entry takes a third argument, the ctx it passes gc_step_hook (an object's
 * gc_step_hooked; the JIT's hooked module has its ctx as a constant, cg->hooks, instead). */
static int emit_entry(cg_ctx *cg, const gc_graph *g, const gc_layout *layout, LLVMValueRef *kernels,
                      const cg_group *groups, const char *name, bool init, int from, int to, bool hooked) {
    LLVMTypeRef entry_params[3] = {cg->t_ptr, cg->t_ptr, cg->t_ptr};
    LLVMValueRef fn = LLVMAddFunction(cg->mod, name, LLVMFunctionType(cg->t_void, entry_params, hooked ? 3 : 2, 0));
    add_attr(cg, fn, LLVMAttributeFunctionIndex, "nounwind");
    cg->fn = fn;
    LLVMPositionBuilderAtEnd(cg->b, LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry"));
    LLVMValueRef arena = LLVMGetParam(fn, 0), pool = LLVMGetParam(fn, 1);
    int max_args = 1;
    for (int i = 0; i < g->num_nodes; i++)
        if (kernels[i] && cg_group_pointers(&groups[i]) > max_args) max_args = cg_group_pointers(&groups[i]);
    LLVMValueRef *args = calloc((size_t)max_args + 2, sizeof *args);
    LLVMTypeRef *params = calloc((size_t)max_args + 2, sizeof *params);
    if (!args || !params) {
        free(args);
        free(params);
        return gc_failf(cg->err, GC_ERR_MEMORY, "out of memory");
    }
    LLVMTypeRef run_params[5] = {cg->t_ptr, cg->t_ptr, cg->t_ptr, cg->t_ptr, cg->t_i32};
    LLVMTypeRef run_type = LLVMFunctionType(cg->t_void, run_params, 5, 0);
    /* Profiling (runtime/profile.h): a tick on entry and after every kernel, the profile's
     * address a constant of the module (only a JIT's module is ever profiled). */
    LLVMTypeRef tick_params[2] = {cg->t_ptr, cg->t_i32};
    LLVMTypeRef tick_type = LLVMFunctionType(cg->t_void, tick_params, 2, 0);
    LLVMValueRef tick = NULL, profile = NULL;
    if (cg->profile && !init) {
        tick = LLVMGetNamedFunction(cg->mod, "gc_profile_tick");
        if (!tick) tick = LLVMAddFunction(cg->mod, "gc_profile_tick", tick_type);
        profile = LLVMConstIntToPtr(LLVMConstInt(cg->t_i64, (unsigned long long)(uintptr_t)cg->profile, 0), cg->t_ptr);
        LLVMValueRef at[2] = {profile, cg_i32(cg, from == 0 ? GC_PROFILE_STEP : GC_PROFILE_UPDATE)};
        LLVMBuildCall2(cg->b, tick_type, tick, at, 2, "");
    }
    /* Step hooks (runtime/step_hook.h): only gc_step has them, the state's address a constant
     * like the profile's. A gradient is final once every kernel whose root precedes it has run:
     * the kernels writing its bytes (its own, an aliased operand's, the matmuls writing a concat
     * of gradients through strides) all compute its operands. A kernel reading bytes of a
     * gradient made ready is preceded by GRADS_NEEDED; gradients are kept values, so no other
     * value shares their bytes. */
    LLVMTypeRef hook_params[3] = {cg->t_ptr, cg->t_i32, cg->t_i32};
    LLVMTypeRef hook_type = LLVMFunctionType(cg->t_void, hook_params, 3, 0);
    LLVMValueRef hook = NULL, hook_ctx = NULL;
    int *grads = NULL, num_grads = 0, next_grad = 0;
    if ((cg->hooks || hooked) && !init && from == 0) {
        hook = LLVMGetNamedFunction(cg->mod, "gc_step_hook");
        if (!hook) hook = LLVMAddFunction(cg->mod, "gc_step_hook", hook_type);
        hook_ctx = hooked ? LLVMGetParam(fn, 2)
                          : LLVMConstIntToPtr(LLVMConstInt(cg->t_i64, (unsigned long long)(uintptr_t)cg->hooks, 0), cg->t_ptr);
        if (!(grads = cg_grad_nodes(g, layout, &num_grads))) {
            free(args);
            free(params);
            return gc_failf(cg->err, GC_ERR_MEMORY, "out of memory");
        }
    }
    LLVMValueRef run = LLVMGetNamedFunction(cg->mod, "gc_pool_run");
    if (!run) {
        /* Weak: an object linked without gradc's runtime (--emit obj) runs on the caller's
         * thread with a NULL pool, and never calls it. */
        run = LLVMAddFunction(cg->mod, "gc_pool_run", run_type);
        LLVMSetLinkage(run, LLVMExternalWeakLinkage);
    }
    for (int i = 0; i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        if (!kernels[i] || is_init(n) != init || (!init && (i < from || i >= to))) continue;
        const cg_group *grp = &groups[i];
        int pointers = cg_group_pointers(grp);
        LLVMTypeRef kty = kernel_type(cg, pointers, params);
        if (hook) {
            for (; next_grad < num_grads && grads[next_grad] < i; next_grad++)
                LLVMBuildCall2(cg->b, hook_type, hook,
                               (LLVMValueRef[]){hook_ctx, cg_i32(cg, GC_HOOK_GRAD_READY), cg_i32(cg, grads[next_grad])}, 3, "");
            /* Outside values are what a kernel reads from memory. */
            bool reads = false;
            for (int k = 0; k < grp->num_ext && !reads; k++)
                reads = cg_reads_ready_grad(g, layout, grads, next_grad, grp->ext[k]);
            if (reads)
                LLVMBuildCall2(cg->b, hook_type, hook, (LLVMValueRef[]){hook_ctx, cg_i32(cg, GC_HOOK_GRADS_NEEDED), cg_i32(cg, n->id)}, 3, "");
        }
        if (!init && is_parallel(kernels[i])) {
            LLVMValueRef task = task_of(cg, kernels[i], kty, pointers, args);
            LLVMValueRef table = offset_table(cg, layout, n, grp, args);
            LLVMBasicBlockRef threads = LLVMAppendBasicBlockInContext(cg->ctx, fn, "pool");
            LLVMBasicBlockRef alone = LLVMAppendBasicBlockInContext(cg->ctx, fn, "alone");
            LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(cg->ctx, fn, "next");
            LLVMBuildCondBr(cg->b, LLVMBuildIsNull(cg->b, pool, ""), alone, threads);
            LLVMPositionBuilderAtEnd(cg->b, threads);
            LLVMValueRef run_args[5] = {pool, task, arena, table, cg_i32(cg, task_flags(kernels[i]))};
            LLVMBuildCall2(cg->b, run_type, run, run_args, 5, "");
            LLVMBuildBr(cg->b, next);
            LLVMPositionBuilderAtEnd(cg->b, alone);
            LLVMTypeRef task_params[4] = {cg->t_ptr, cg->t_ptr, cg->t_i32, cg->t_i32};
            LLVMValueRef task_args[4] = {arena, table, cg_i32(cg, 0), cg_i32(cg, GC_SHARE_ONE)};
            LLVMBuildCall2(cg->b, LLVMFunctionType(cg->t_void, task_params, 4, 0), task, task_args, 4, "");
            LLVMBuildBr(cg->b, next);
            LLVMPositionBuilderAtEnd(cg->b, next);
            if (tick) LLVMBuildCall2(cg->b, tick_type, tick, (LLVMValueRef[]){profile, cg_i32(cg, n->id)}, 2, "");
            if (hook)
                LLVMBuildCall2(cg->b, hook_type, hook, (LLVMValueRef[]){hook_ctx, cg_i32(cg, GC_HOOK_KERNEL_DONE), cg_i32(cg, n->id)}, 3, "");
            continue;
        }
        for (int k = 0; k < pointers; k++) {
            LLVMValueRef off = cg_i64(cg, layout->offsets[cg_group_pointer(grp, n, k)->id]);
            args[k] = LLVMBuildInBoundsGEP2(cg->b, cg->t_i8, arena, &off, 1, "");
        }
        args[pointers] = cg_i32(cg, 0);
        args[pointers + 1] = cg_i32(cg, GC_SHARE_ONE);
        LLVMBuildCall2(cg->b, kty, kernels[i], args, (unsigned)(pointers + 2), "");
        if (tick) LLVMBuildCall2(cg->b, tick_type, tick, (LLVMValueRef[]){profile, cg_i32(cg, n->id)}, 2, "");
        if (hook)
            LLVMBuildCall2(cg->b, hook_type, hook, (LLVMValueRef[]){hook_ctx, cg_i32(cg, GC_HOOK_KERNEL_DONE), cg_i32(cg, n->id)}, 3, "");
    }
    for (; hook && next_grad < num_grads; next_grad++)
        LLVMBuildCall2(cg->b, hook_type, hook, (LLVMValueRef[]){hook_ctx, cg_i32(cg, GC_HOOK_GRAD_READY), cg_i32(cg, grads[next_grad])}, 3, "");
    if (hook) LLVMBuildCall2(cg->b, hook_type, hook, (LLVMValueRef[]){hook_ctx, cg_i32(cg, GC_HOOK_STEP_END), cg_i32(cg, -1)}, 3, "");
    free(grads);
    LLVMBuildRetVoid(cg->b);
    free(args);
    free(params);
    return 1;
}

/* The kernel of every root: members in graph order and outside values. All pointers point into
 * two arrays owned by the caller (*storage), freed with free(). */
static cg_group *make_groups(const gc_graph *g, const gc_layout *layout, const gc_node ***storage, gc_error *err) {
    int n = g->num_nodes;
    size_t slots = 0, nodes = n > 0 ? (size_t)n : 1;
    for (int i = 0; i < n; i++) slots += 3 + (size_t)g->nodes[i]->num_inputs;
    cg_group *groups = calloc(nodes, sizeof *groups);
    int *count = calloc(nodes, sizeof *count);
    const gc_node **pool = calloc(slots ? slots : 1, sizeof *pool);
    bool *stored = calloc(nodes, sizeof *stored);
    if (!groups || !count || !pool || !stored) {
        free(groups);
        free(count);
        free(pool);
        free(stored);
        return gc_failf(err, GC_ERR_MEMORY, "out of memory"), NULL;
    }
    gc_fusion_stored_all(g, layout->root, stored);
    /* Members per root, then room for the outside values: at most one per operand of a member. */
    for (int i = 0; i < n; i++) {
        int r = layout->root ? layout->root[i] : i;
        if (r >= 0) count[r]++;
    }
    int used = 0;
    for (int i = 0; i < n; i++) {
        if (!count[i]) continue;
        groups[i].members = pool + used;
        used += count[i];
    }
    for (int i = 0; i < n; i++) {
        int r = layout->root ? layout->root[i] : i;
        if (r >= 0) groups[r].members[groups[r].num_members++] = g->nodes[i];
    }
    for (int i = 0; i < n; i++) {
        cg_group *grp = &groups[i];
        if (!grp->num_members) continue;
        grp->ext = pool + used;
        for (int m = 0; m < grp->num_members; m++) {
            const gc_node *x = grp->members[m];
            for (int k = 0; k < x->num_inputs; k++) {
                const gc_node *in = x->inputs[k];
                bool known = false;
                if (grp->num_members > 1) {
                    int r = layout->root ? layout->root[in->id] : in->id;
                    known = r == i;
                    for (int j = 0; j < grp->num_ext && !known; j++) known = grp->ext[j] == in;
                }
                if (!known) grp->ext[grp->num_ext++] = in;
            }
        }
        used += grp->num_ext;
        grp->stores = pool + used;
        for (int m = 0; m + 1 < grp->num_members; m++)
            if (stored[grp->members[m]->id]) grp->stores[grp->num_stores++] = grp->members[m];
        used += grp->num_stores;
        /* A value written in place is read through the pointer that writes it. */
        for (int j = 0; j < grp->num_ext && j < 64; j++) {
            int64_t at = layout->offsets[grp->ext[j]->id];
            if (at == layout->offsets[i]) grp->reads_from[j] = 1;
            for (int s = 0; s < grp->num_stores && s < 62 && !grp->reads_from[j]; s++)
                if (at == layout->offsets[grp->stores[s]->id]) grp->reads_from[j] = (unsigned char)(2 + s);
        }
    }
    free(count);
    free(stored);
    *storage = pool;
    return groups;
}

/* Names the first function the verifier rejects, with LLVM's message. */
static int verify(LLVMModuleRef mod, const gc_graph *g, gc_error *err) {
    char *msg = NULL;
    if (!LLVMVerifyModule(mod, LLVMReturnStatusAction, &msg)) {
        LLVMDisposeMessage(msg);
        return 1;
    }
    const char *bad = "?";
    for (LLVMValueRef fn = LLVMGetFirstFunction(mod); fn; fn = LLVMGetNextFunction(fn)) {
        if (LLVMCountBasicBlocks(fn) && LLVMVerifyFunction(fn, LLVMReturnStatusAction)) {
            size_t len;
            bad = LLVMGetValueName2(fn, &len);
            break;
        }
    }
    const char *what = "";
    int id = -1;
    if (sscanf(bad, "k%d", &id) == 1 && id >= 0 && id < g->num_nodes) what = gc_op_table[g->nodes[id]->op].name;
    gc_failf(err, GC_ERR_INTERNAL, "internal error: LLVM rejected kernel %s%s%s%s: %s", bad, *what ? " (" : "",
             what, *what ? ")" : "", msg ? msg : "");
    LLVMDisposeMessage(msg);
    return 0;
}

static int optimize(LLVMModuleRef mod, LLVMTargetMachineRef tm, gc_error *err) {
    LLVMPassBuilderOptionsRef opts = LLVMCreatePassBuilderOptions();
    LLVMPassBuilderOptionsSetLoopVectorization(opts, 1);
    LLVMPassBuilderOptionsSetSLPVectorization(opts, 1);
    LLVMPassBuilderOptionsSetLoopUnrolling(opts, 0);
    LLVMPassBuilderOptionsSetLoopInterleaving(opts, 1);
    LLVMErrorRef e = LLVMRunPasses(mod, "default<O3>", tm, opts);
    LLVMDisposePassBuilderOptions(opts);
    if (!e) return 1;
    char *msg = LLVMGetErrorMessage(e);
    gc_failf(err, GC_ERR_INTERNAL, "internal error: LLVM optimisation failed: %s", msg);
    LLVMDisposeErrorMessage(msg);
    return 0;
}

static int emit_all(cg_ctx *cg, const gc_graph *g, const gc_layout *layout, gc_codegen_times *t) {
    const gc_node **pool = NULL;
    cg_group *groups = make_groups(g, layout, &pool, cg->err);
    if (!groups) return 0;
    LLVMValueRef *kernels = calloc((size_t)(g->num_nodes ? g->num_nodes : 1), sizeof *kernels);
    cg_kernel_cache *cache = cg_kernel_cache_new(g->num_nodes, layout);
    cg->layout = layout;
    if (!kernels || !cache) {
        free(kernels);
        free(groups);
        free(pool);
        cg_kernel_cache_free(cache);
        return gc_failf(cg->err, GC_ERR_MEMORY, "out of memory");
    }
    int ok = 1;
    for (int i = 0; ok && i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        if (!has_kernel(n, layout)) continue;
        t->kernels++;
        if ((kernels[i] = cg_kernel_cache_get(cache, &groups[i]))) continue;
        kernels[i] = emit_kernel(cg, &groups[i]);
        ok = kernels[i] != NULL;
        t->functions += ok;
        if (ok && !cg_kernel_cache_put(cache, &groups[i], kernels[i]))
            ok = gc_failf(cg->err, GC_ERR_MEMORY, "out of memory");
    }
    int split = layout->update_from < g->num_nodes ? layout->update_from : g->num_nodes;
    ok = ok && emit_entry(cg, g, layout, kernels, groups, "gc_init", true, 0, 0, false);
    ok = ok && emit_entry(cg, g, layout, kernels, groups, "gc_step", false, 0, split, false);
    ok = ok && emit_entry(cg, g, layout, kernels, groups, "gc_update", false, split, g->num_nodes, false);
    /* The same step with hooks whose ctx comes from the caller: what a standalone trainer runs
     * under mpirun, while gc_step stays free of any hook call. */
    ok = ok && (!cg->hooked_step || emit_entry(cg, g, layout, kernels, groups, "gc_step_hooked", false, 0, split, true));
    cg_kernel_cache_free(cache);
    free(kernels);
    free(groups);
    free(pool);
    return ok;
}

LLVMModuleRef cg_build_module(LLVMContextRef ctx, const gc_graph *g, const gc_layout *layout,
                              LLVMTargetMachineRef tm, void *profile, void *hooks, bool hooked_step,
                              gc_codegen_times *times, gc_error *err) {
    if (!g || !layout || layout->num_nodes != g->num_nodes)
        return gc_failf(err, GC_ERR_INTERNAL, "internal error: codegen: the layout is not of this graph"), NULL;
    gc_codegen_times t = {0};
    double start = cg_now_ms();
    LLVMModuleRef mod = cg_module_for(ctx, tm, g->name ? g->name : "gradc");

    cg_ctx cg;
    cg_ctx_init(&cg, ctx, mod, err);
    cg.profile = profile;
    cg.hooks = hooks;
    cg.hooked_step = hooked_step;
    int ok = emit_all(&cg, g, layout, &t);
    cg_ctx_dispose(&cg);
    double emitted = cg_now_ms();
    ok = ok && verify(mod, g, err);
    double verified = cg_now_ms();
    ok = ok && optimize(mod, tm, err);
    double optimized = cg_now_ms();
    if (!ok) {
        LLVMDisposeModule(mod);
        return NULL;
    }
    t.emit_ms = emitted - start;
    t.verify_ms = verified - emitted;
    t.optimize_ms = optimized - verified;
    t.total_ms = optimized - start;
    if (times) *times = t;
    return mod;
}

/* ---- for program.c, which compiles each distinct kernel in a module of its own ---- */

bool cg_has_kernel(const gc_node *n, const gc_layout *layout) { return has_kernel(n, layout); }

bool cg_is_init_node(const gc_node *n) { return is_init(n); }

cg_group *cg_make_groups(const gc_graph *g, const gc_layout *layout, const gc_node ***storage, gc_error *err) {
    return make_groups(g, layout, storage, err);
}

LLVMValueRef cg_emit_kernel(cg_ctx *cg, const cg_group *grp) { return emit_kernel(cg, grp); }

bool cg_kernel_is_parallel(LLVMValueRef fn) { return is_parallel(fn); }

int32_t cg_kernel_task_flags(LLVMValueRef fn) { return task_flags(fn); }

int cg_optimize(LLVMModuleRef mod, LLVMTargetMachineRef tm, gc_error *err) { return optimize(mod, tm, err); }
