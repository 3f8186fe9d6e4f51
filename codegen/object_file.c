/*
 * object_file.c: a graph as one object file (gradc compile: the standalone trainer's objects and
 * --emit obj), assembled from its distinct kernels as the JIT compiles them.
 *
 * The kernels are the JIT's (program.c: each distinct kernel in a module of its own, optimised
 * and compiled on every core, or its object read from the kernel cache), so a second compile of
 * an unchanged model runs no LLVM optimisation and a deep model costs what its distinct kernels
 * cost. The entry points gc_init, gc_step and gc_update are one small module: a loop over a
 * constant table of calls (which kernel's task, its flags, its offsets into the arena) that does
 * what the JIT's cg_program_run does in C, so the trainer's step is the JIT's step. Its size grows
 * with the graph only as data; its code is the same for any graph. The module's object and the
 * kernels' objects are then merged into one relocatable object (object_merge.c) whose only
 * global definitions are the entry points.
 *
 * A standalone trainer's data-parallel program also gets gc_step_hooked(arena, pool, ctx): the
 * same loop over gc_step's calls with gc_step_hook(ctx, event, node) around them, placed as
 * program.c's run_hooked_step places them (a second table gives each call its node, how many
 * gradients are final before it and whether it reads one of them).
 *
 * Objects the merge does not handle (a host whose objects are not ELF64) fall back to the
 * whole-graph module of output.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Analysis.h>

#include "codegen/cg.h"
#include "runtime/step_hook.h"

/* One call of the table: 16 bytes, host byte order. */
typedef struct call_record {
    int32_t kernel; /* index into the task table */
    int32_t flags;  /* GC_TASK_* for gc_pool_run */
    int32_t parallel;
    int32_t offsets; /* index of its first pointer offset */
} call_record;

/* Step hooks of one of gc_step's calls: 16 bytes, host byte order. */
typedef struct hook_record {
    int32_t node;        /* the kernel's root id */
    int32_t grads_ready; /* gradients (a prefix of grads) final before the call */
    int32_t reads_grads; /* it reads bytes of one of them */
    int32_t unused;
} hook_record;

typedef struct tables {
    call_record *calls;
    int64_t *offsets;
    int begin[CG_ENTRY_COUNT + 1];
    int num_offsets;
    hook_record *hooks; /* per call of gc_step, for gc_step_hooked; NULL without */
    int32_t *grads;     /* the gradient outputs' node ids, ascending (cg_grad_nodes) */
    int num_grads;
} tables;

static void free_tables(tables *t) {
    free(t->calls);
    free(t->offsets);
    free(t->hooks);
    free(t->grads);
}

/* The calls of each entry point in graph order, as cg_program_build lays them out. */
static int make_tables(const gc_graph *g, const gc_layout *layout, const cg_kernels *ks, const int *task_of,
                       bool hooked, tables *t, gc_error *err) {
    memset(t, 0, sizeof *t);
    int *grads = NULL;
    if (hooked) {
        grads = cg_grad_nodes(g, layout, &t->num_grads);
        t->hooks = calloc((size_t)ks->counts[CG_ENTRY_STEP] + 1, sizeof *t->hooks);
        t->grads = malloc(sizeof *t->grads * (size_t)(t->num_grads + 1));
        if (!grads || !t->hooks || !t->grads) {
            free(grads);
            free_tables(t);
            return gc_failf(err, GC_ERR_MEMORY, "out of memory");
        }
        for (int k = 0; k < t->num_grads; k++) t->grads[k] = grads[k];
    }
    int total = ks->counts[0] + ks->counts[1] + ks->counts[2];
    if (ks->num_offsets > INT32_MAX) return gc_failf(err, GC_ERR_USER, "the graph has too many kernel operands");
    t->calls = calloc((size_t)(total ? total : 1), sizeof *t->calls);
    t->offsets = malloc((size_t)(ks->num_offsets ? ks->num_offsets : 1) * sizeof *t->offsets);
    if (!t->calls || !t->offsets) {
        free_tables(t);
        return gc_failf(err, GC_ERR_MEMORY, "out of memory");
    }
    for (int e = 0; e < CG_ENTRY_COUNT; e++) t->begin[e + 1] = t->begin[e] + ks->counts[e];
    int fill[CG_ENTRY_COUNT] = {t->begin[0], t->begin[1], t->begin[2]};
    int used = 0, ready = 0;
    for (int i = 0; i < g->num_nodes; i++) {
        if (ks->job_of[i] < 0) continue;
        const gc_node *node = g->nodes[i];
        const cg_group *grp = &ks->groups[i];
        const cg_kernel_job *jb = &ks->jobs[ks->job_of[i]];
        int e = cg_kernels_entry(node, i, ks->split);
        call_record *c = &t->calls[fill[e]++];
        int pointers = cg_group_pointers(grp);
        for (int k = 0; k < pointers; k++) t->offsets[used + k] = layout->offsets[cg_group_pointer(grp, node, k)->id];
        c->kernel = task_of[ks->job_of[i]];
        c->flags = jb->flags;
        c->parallel = jb->parallel && e != CG_ENTRY_INIT;
        c->offsets = used;
        used += pointers;
        if (hooked && e == CG_ENTRY_STEP) {
            /* As program.c: a gradient is final once every kernel whose root precedes it has run;
             * a kernel reading bytes of one made ready waits for them. */
            hook_record *h = &t->hooks[c - t->calls - t->begin[CG_ENTRY_STEP]];
            while (ready < t->num_grads && grads[ready] < i) ready++;
            h->node = node->id;
            h->grads_ready = ready;
            for (int k = 0; k < grp->num_ext && !h->reads_grads; k++)
                h->reads_grads = cg_reads_ready_grad(g, layout, grads, ready, grp->ext[k]);
        }
    }
    free(grads);
    t->num_offsets = used;
    return 1;
}

/* A private constant of raw bytes (the tables), aligned to 16. */
static LLVMValueRef byte_table(cg_ctx *cg, const char *name, const void *data, size_t len) {
    static const char none[16];
    if (!len) {
        data = none;
        len = sizeof none;
    }
    LLVMValueRef init = LLVMConstStringInContext(cg->ctx, data, (unsigned)len, 1);
    LLVMValueRef table = LLVMAddGlobal(cg->mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(table, init);
    LLVMSetGlobalConstant(table, 1);
    LLVMSetLinkage(table, LLVMPrivateLinkage);
    LLVMSetAlignment(table, 16);
    return table;
}

static LLVMValueRef load_i32(cg_ctx *cg, LLVMValueRef base, LLVMValueRef byte_offset) {
    LLVMValueRef at = LLVMBuildInBoundsGEP2(cg->b, cg->t_i8, base, &byte_offset, 1, "");
    LLVMValueRef v = LLVMBuildLoad2(cg->b, cg->t_i32, at, "");
    LLVMSetAlignment(v, 4);
    return v;
}

/* What the entry points call: the tables, gc_pool_run and (hooked) gc_step_hook. */
typedef struct entry_refs {
    LLVMValueRef calls, tasks, offsets, run, hooks, grads, hook;
    LLVMTypeRef run_type, task_type, hook_type;
    int num_grads;
} entry_refs;

/* Runs call i (an i64) of the table: through gc_pool_run when it is split and there is a pool,
 * else directly with the whole share (part 0 of 1). */
static void emit_call(cg_ctx *cg, const entry_refs *r, LLVMValueRef arena, LLVMValueRef pool, LLVMValueRef i) {
    LLVMValueRef fn = cg->fn, calls = r->calls, tasks = r->tasks, offsets = r->offsets;
    LLVMValueRef rec = LLVMBuildMul(cg->b, i, cg_i64(cg, (int64_t)sizeof(call_record)), "");
    LLVMValueRef kernel = load_i32(cg, calls, rec);
    LLVMValueRef flags = load_i32(cg, calls, LLVMBuildAdd(cg->b, rec, cg_i64(cg, 4), ""));
    LLVMValueRef parallel = load_i32(cg, calls, LLVMBuildAdd(cg->b, rec, cg_i64(cg, 8), ""));
    LLVMValueRef first = load_i32(cg, calls, LLVMBuildAdd(cg->b, rec, cg_i64(cg, 12), ""));
    LLVMValueRef k = LLVMBuildZExt(cg->b, kernel, cg->t_i64, "");
    LLVMValueRef task = LLVMBuildLoad2(cg->b, cg->t_ptr, LLVMBuildInBoundsGEP2(cg->b, cg->t_ptr, tasks, &k, 1, ""), "");
    LLVMValueRef o = LLVMBuildZExt(cg->b, first, cg->t_i64, "");
    LLVMValueRef offs = LLVMBuildInBoundsGEP2(cg->b, cg->t_i64, offsets, &o, 1, "");
    LLVMValueRef pooled = LLVMBuildAnd(cg->b, LLVMBuildICmp(cg->b, LLVMIntNE, parallel, cg_i32(cg, 0), ""),
                                       LLVMBuildIsNotNull(cg->b, pool, ""), "");
    LLVMBasicBlockRef on_pool = LLVMAppendBasicBlockInContext(cg->ctx, fn, "pool");
    LLVMBasicBlockRef alone = LLVMAppendBasicBlockInContext(cg->ctx, fn, "alone");
    LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(cg->ctx, fn, "next");
    LLVMBuildCondBr(cg->b, pooled, on_pool, alone);
    LLVMPositionBuilderAtEnd(cg->b, on_pool);
    LLVMValueRef run_args[5] = {pool, task, arena, offs, flags};
    LLVMBuildCall2(cg->b, r->run_type, r->run, run_args, 5, "");
    LLVMBuildBr(cg->b, next);
    LLVMPositionBuilderAtEnd(cg->b, alone);
    LLVMValueRef task_args[4] = {arena, offs, cg_i32(cg, 0), cg_i32(cg, GC_SHARE_ONE)};
    LLVMBuildCall2(cg->b, r->task_type, task, task_args, 4, "");
    LLVMBuildBr(cg->b, next);
    LLVMPositionBuilderAtEnd(cg->b, next);
}

static LLVMValueRef add_entry(cg_ctx *cg, const char *name, int num_params) {
    LLVMTypeRef params[3] = {cg->t_ptr, cg->t_ptr, cg->t_ptr};
    LLVMValueRef fn = LLVMAddFunction(cg->mod, name, LLVMFunctionType(cg->t_void, params, (unsigned)num_params, 0));
    unsigned nounwind = LLVMGetEnumAttributeKindForName("nounwind", 8);
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(cg->ctx, nounwind, 0));
    cg->fn = fn;
    LLVMPositionBuilderAtEnd(cg->b, LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry"));
    return fn;
}

/* void name(ptr arena, ptr pool): the calls [from, to) of the table in order. */
static void emit_entry(cg_ctx *cg, const entry_refs *r, const char *name, int from, int to) {
    LLVMValueRef fn = add_entry(cg, name, 2);
    if (to > from) {
        cg_loop loop;
        cg_loop_begin(cg, &loop, cg_i64(cg, to - from));
        emit_call(cg, r, LLVMGetParam(fn, 0), LLVMGetParam(fn, 1), LLVMBuildAdd(cg->b, loop.iv, cg_i64(cg, from), ""));
        cg_loop_end(cg, &loop);
    }
    LLVMBuildRetVoid(cg->b);
}

/* gc_step_hook(ctx, GRAD_READY, grads[k]) for k from *next up to limit (an i32), then *next = limit
 * when it was below. */
static void emit_grads_ready(cg_ctx *cg, const entry_refs *r, LLVMValueRef ctx, LLVMValueRef next, LLVMValueRef limit) {
    LLVMValueRef from = LLVMBuildSExt(cg->b, LLVMBuildLoad2(cg->b, cg->t_i32, next, ""), cg->t_i64, "");
    LLVMValueRef to = LLVMBuildSExt(cg->b, limit, cg->t_i64, "");
    cg_loop loop;
    cg_loop_begin_range(cg, &loop, from, to);
    LLVMValueRef id = LLVMBuildLoad2(cg->b, cg->t_i32, LLVMBuildInBoundsGEP2(cg->b, cg->t_i32, r->grads, &loop.iv, 1, ""), "");
    LLVMValueRef args[3] = {ctx, cg_i32(cg, GC_HOOK_GRAD_READY), id};
    LLVMBuildCall2(cg->b, r->hook_type, r->hook, args, 3, "");
    LLVMBuildStore(cg->b, LLVMBuildTrunc(cg->b, LLVMBuildAdd(cg->b, loop.iv, cg_i64(cg, 1), ""), cg->t_i32, ""), next);
    cg_loop_end(cg, &loop);
}

/* void gc_step_hooked(ptr arena, ptr pool, ptr ctx): gc_step's calls with the step hooks around
 * them, in program.c's run_hooked_step's order. */
static void emit_hooked_step(cg_ctx *cg, const entry_refs *r, int from, int to) {
    LLVMValueRef fn = add_entry(cg, "gc_step_hooked", 3);
    LLVMValueRef arena = LLVMGetParam(fn, 0), pool = LLVMGetParam(fn, 1), ctx = LLVMGetParam(fn, 2);
    LLVMValueRef next = LLVMBuildAlloca(cg->b, cg->t_i32, "next");
    LLVMBuildStore(cg->b, cg_i32(cg, 0), next);
    if (to > from) {
        cg_loop loop;
        cg_loop_begin(cg, &loop, cg_i64(cg, to - from));
        LLVMValueRef rec = LLVMBuildMul(cg->b, loop.iv, cg_i64(cg, (int64_t)sizeof(hook_record)), "");
        LLVMValueRef node = load_i32(cg, r->hooks, rec);
        LLVMValueRef ready = load_i32(cg, r->hooks, LLVMBuildAdd(cg->b, rec, cg_i64(cg, 4), ""));
        LLVMValueRef reads = load_i32(cg, r->hooks, LLVMBuildAdd(cg->b, rec, cg_i64(cg, 8), ""));
        emit_grads_ready(cg, r, ctx, next, ready);
        LLVMBasicBlockRef wait = LLVMAppendBasicBlockInContext(cg->ctx, fn, "needed");
        LLVMBasicBlockRef go = LLVMAppendBasicBlockInContext(cg->ctx, fn, "run");
        LLVMBuildCondBr(cg->b, LLVMBuildICmp(cg->b, LLVMIntNE, reads, cg_i32(cg, 0), ""), wait, go);
        LLVMPositionBuilderAtEnd(cg->b, wait);
        LLVMValueRef needed[3] = {ctx, cg_i32(cg, GC_HOOK_GRADS_NEEDED), node};
        LLVMBuildCall2(cg->b, r->hook_type, r->hook, needed, 3, "");
        LLVMBuildBr(cg->b, go);
        LLVMPositionBuilderAtEnd(cg->b, go);
        emit_call(cg, r, arena, pool, LLVMBuildAdd(cg->b, loop.iv, cg_i64(cg, from), ""));
        LLVMValueRef done[3] = {ctx, cg_i32(cg, GC_HOOK_KERNEL_DONE), node};
        LLVMBuildCall2(cg->b, r->hook_type, r->hook, done, 3, "");
        cg_loop_end(cg, &loop);
    }
    emit_grads_ready(cg, r, ctx, next, cg_i32(cg, r->num_grads));
    LLVMValueRef end[3] = {ctx, cg_i32(cg, GC_HOOK_STEP_END), cg_i32(cg, -1)};
    LLVMBuildCall2(cg->b, r->hook_type, r->hook, end, 3, "");
    LLVMBuildRetVoid(cg->b);
}

/* The entry points' module: the tables, the task table (gc_t_<key> of every distinct kernel,
 * defined by the kernels' objects) and gc_init, gc_step, gc_update. */
static LLVMModuleRef entries_module(LLVMContextRef ctx, LLVMTargetMachineRef tm, const cg_kernels *ks,
                                    const int *unique, int num_unique, const tables *t, gc_error *err) {
    entry_refs r = {0};
    LLVMModuleRef mod = cg_module_for(ctx, tm, "gradc-entries");
    cg_ctx cg;
    cg_ctx_init(&cg, ctx, mod, err);
    LLVMTypeRef task_params[4] = {cg.t_ptr, cg.t_ptr, cg.t_i32, cg.t_i32};
    LLVMTypeRef task_type = LLVMFunctionType(cg.t_void, task_params, 4, 0);
    LLVMValueRef *tasks = malloc(sizeof *tasks * (size_t)(num_unique ? num_unique : 1));
    if (!tasks) {
        cg_ctx_dispose(&cg);
        LLVMDisposeModule(mod);
        return gc_failf(err, GC_ERR_MEMORY, "out of memory"), NULL;
    }
    for (int u = 0; u < num_unique; u++) {
        char name[64];
        snprintf(name, sizeof name, "gc_t_%s", ks->jobs[unique[u]].key);
        tasks[u] = LLVMAddFunction(mod, name, task_type);
    }
    LLVMValueRef task_init = LLVMConstArray(cg.t_ptr, tasks, (unsigned)num_unique);
    free(tasks);
    LLVMValueRef task_table = LLVMAddGlobal(mod, LLVMTypeOf(task_init), "gc_tasks");
    LLVMSetInitializer(task_table, task_init);
    LLVMSetGlobalConstant(task_table, 1);
    LLVMSetLinkage(task_table, LLVMPrivateLinkage);
    int num_calls = t->begin[CG_ENTRY_COUNT];
    r.calls = byte_table(&cg, "gc_calls", t->calls, (size_t)num_calls * sizeof *t->calls);
    r.offsets = byte_table(&cg, "gc_offsets", t->offsets, (size_t)t->num_offsets * sizeof *t->offsets);
    r.tasks = task_table;
    r.task_type = task_type;
    LLVMTypeRef run_params[5] = {cg.t_ptr, cg.t_ptr, cg.t_ptr, cg.t_ptr, cg.t_i32};
    r.run_type = LLVMFunctionType(cg.t_void, run_params, 5, 0);
    /* Weak: an object linked without gradc's runtime (--emit obj) runs with a NULL pool and never
     * calls it (as module.c's entry points). */
    r.run = LLVMAddFunction(mod, "gc_pool_run", r.run_type);
    LLVMSetLinkage(r.run, LLVMExternalWeakLinkage);
    static const char *const names[CG_ENTRY_COUNT] = {"gc_init", "gc_step", "gc_update"};
    for (int e = 0; e < CG_ENTRY_COUNT; e++) emit_entry(&cg, &r, names[e], t->begin[e], t->begin[e + 1]);
    if (t->hooks) {
        int steps = t->begin[CG_ENTRY_STEP + 1] - t->begin[CG_ENTRY_STEP];
        r.hooks = byte_table(&cg, "gc_hook_calls", t->hooks, (size_t)steps * sizeof *t->hooks);
        r.grads = byte_table(&cg, "gc_grads", t->grads, (size_t)t->num_grads * sizeof *t->grads);
        r.num_grads = t->num_grads;
        LLVMTypeRef hook_params[3] = {cg.t_ptr, cg.t_i32, cg.t_i32};
        r.hook_type = LLVMFunctionType(cg.t_void, hook_params, 3, 0);
        r.hook = LLVMAddFunction(mod, "gc_step_hook", r.hook_type);
        emit_hooked_step(&cg, &r, t->begin[CG_ENTRY_STEP], t->begin[CG_ENTRY_STEP + 1]);
    }
    cg_ctx_dispose(&cg);
    char *msg = NULL;
    if (LLVMVerifyModule(mod, LLVMReturnStatusAction, &msg)) {
        gc_failf(err, GC_ERR_INTERNAL, "internal error: LLVM rejected the entry points: %s", msg ? msg : "");
        LLVMDisposeMessage(msg);
        LLVMDisposeModule(mod);
        return NULL;
    }
    LLVMDisposeMessage(msg);
    return mod;
}

/* The entry points' object (malloc'd): from the kernel cache under the key of the module's IR
 * (tables included) when there, else compiled and stored. Not optimised: the loop is a few
 * instructions per call, and O3's pipeline would cost more than it could save. */
static int entries_object(const cg_kernels *ks, const int *unique, int num_unique, const tables *t, char **object,
                          size_t *len, bool *hit, gc_error *err) {
    LLVMTargetMachineRef tm = cg_host_machine(err);
    if (!tm) return 0;
    LLVMContextRef ctx = LLVMContextCreate();
    LLVMModuleRef mod = entries_module(ctx, tm, ks, unique, num_unique, t, err);
    int ok = mod != NULL;
    char key[CG_CACHE_KEY_LEN + 1];
    bool rejected = false;
    *hit = false;
    if (ok) {
        char *ir = LLVMPrintModuleToString(mod);
        cg_cache_key(ks->target, ir, strlen(ir), key);
        LLVMDisposeMessage(ir);
        *hit = cg_cache_load(&ks->cache, key, object, len, &rejected);
    }
    LLVMMemoryBufferRef buf = NULL;
    char *msg = NULL;
    if (ok && !*hit && LLVMTargetMachineEmitToMemoryBuffer(tm, mod, LLVMObjectFile, &msg, &buf)) {
        ok = gc_failf(err, GC_ERR_INTERNAL, "internal error: LLVM could not compile the entry points: %s", msg ? msg : "");
        LLVMDisposeMessage(msg);
    }
    if (ok && !*hit) {
        *len = LLVMGetBufferSize(buf);
        *object = malloc(*len ? *len : 1);
        if (*object) memcpy(*object, LLVMGetBufferStart(buf), *len);
        else ok = gc_failf(err, GC_ERR_MEMORY, "out of memory");
        if (ok) cg_cache_store(&ks->cache, key, *object, *len);
    }
    if (buf) LLVMDisposeMemoryBuffer(buf);
    if (mod) LLVMDisposeModule(mod);
    LLVMContextDispose(ctx);
    LLVMDisposeTargetMachine(tm);
    return ok;
}

static int write_file(const char *path, const char *data, size_t len, gc_error *err) {
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(data, 1, len, f) == len;
    if (f && fclose(f) != 0) ok = 0;
    return ok ? 1 : gc_failf(err, GC_ERR_IO, "cannot write object file %s: %s", path, strerror(errno));
}

static int emit_object_file(const gc_graph *g, const gc_layout *given, const char *path, bool hooked,
                            gc_codegen_times *times, gc_error *err) {
    if (!path) return gc_failf(err, GC_ERR_INTERNAL, "internal error: gc_codegen_emit_object: no path");
    if (!g) return gc_failf(err, GC_ERR_INTERNAL, "internal error: codegen: no graph");
    if (given && given->num_nodes != g->num_nodes)
        return gc_failf(err, GC_ERR_INTERNAL, "internal error: codegen: the layout is not of this graph");
    gc_codegen_times t = {0};
    double start = cg_now_ms();
    gc_layout planned = {0};
    if (!given && !gc_layout_plan_step(g, &planned, err)) return 0;
    const gc_layout *lp = given ? given : &planned;
    t.plan_ms = cg_now_ms() - start;
    cg_kernels ks;
    if (!cg_kernels_compile(g, lp, &ks, &t, err)) {
        gc_layout_free(&planned);
        return 0;
    }
    double compiled = cg_now_ms();
    /* The distinct keys, each with its index in the task table. */
    int *unique = malloc(sizeof *unique * (size_t)(ks.num_jobs ? ks.num_jobs : 1));
    int *task_of = malloc(sizeof *task_of * (size_t)(ks.num_jobs ? ks.num_jobs : 1));
    cg_object_part *parts = calloc((size_t)ks.num_jobs + 1, sizeof *parts);
    int ok = unique && task_of && parts;
    if (!ok) gc_failf(err, GC_ERR_MEMORY, "out of memory");
    /* Which of the jobs sharing a key compiled it depends on the threads' timing; the tables must
     * not (they are part of the entry points' cache key), so keys are numbered in job order. */
    int num_unique = 0;
    for (int j = 0; ok && j < ks.num_jobs; j++) {
        int owner = ks.jobs[j].same_as < 0 ? j : ks.jobs[j].same_as;
        task_of[j] = -1;
        for (int i = 0; i < j && task_of[j] < 0; i++)
            if ((ks.jobs[i].same_as < 0 ? i : ks.jobs[i].same_as) == owner) task_of[j] = task_of[i];
        if (task_of[j] < 0) {
            task_of[j] = num_unique;
            unique[num_unique++] = owner;
        }
    }
    tables tab = {0};
    char *entries = NULL, *merged = NULL;
    size_t entries_len = 0, merged_len = 0;
    ok = ok && make_tables(g, lp, &ks, task_of, hooked, &tab, err);
    bool entries_hit = false;
    ok = ok && entries_object(&ks, unique, num_unique, &tab, &entries, &entries_len, &entries_hit, err);
    double entered = cg_now_ms();
    if (ok) {
        parts[0] = (cg_object_part){entries, entries_len, "(entry points)"};
        for (int u = 0; u < num_unique; u++)
            parts[1 + u] = (cg_object_part){ks.jobs[unique[u]].object, ks.jobs[unique[u]].object_len, ks.jobs[unique[u]].key};
        static const char *const globals[] = {"gc_init", "gc_step", "gc_update", "gc_step_hooked"};
        ok = cg_object_merge(parts, 1 + num_unique, globals, hooked ? 4 : 3, &merged, &merged_len, err);
        if (ok == CG_MERGE_UNSUPPORTED) {
            /* Not ELF64 as object_merge.c knows it: the whole graph in one module instead. */
            gc_error ignored = {0};
            *err = ignored;
            ok = cg_emit_module_object(g, path, hooked, err);
        } else {
            ok = ok && write_file(path, merged, merged_len, err);
        }
    }
    double written = cg_now_ms();
    free(merged);
    free(entries);
    free_tables(&tab);
    free(parts);
    free(task_of);
    free(unique);
    cg_kernels_free(&ks);
    gc_layout_free(&planned);
    t.entries_ms = entered - compiled;
    t.entries_cached = entries_hit;
    t.jit_ms = written - entered;
    t.total_ms = written - start;
    if (times) *times = t;
    return ok;
}

int gc_codegen_emit_object_planned(const gc_graph *g, const gc_layout *layout, const char *path,
                                   gc_codegen_times *times, gc_error *err) {
    return emit_object_file(g, layout, path, false, times, err);
}

int gc_codegen_emit_object(const gc_graph *g, const char *path, gc_error *err) {
    return emit_object_file(g, NULL, path, false, NULL, err);
}

int gc_codegen_emit_object_hooked(const gc_graph *g, const gc_layout *layout, const char *path,
                                  gc_codegen_times *times, gc_error *err) {
    return emit_object_file(g, layout, path, true, times, err);
}
