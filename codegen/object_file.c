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
 * Objects the merge does not handle (a host whose objects are not ELF64) fall back to the
 * whole-graph module of output.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Analysis.h>

#include "codegen/cg.h"

/* One call of the table: 16 bytes, host byte order. */
typedef struct call_record {
    int32_t kernel; /* index into the task table */
    int32_t flags;  /* GC_TASK_* for gc_pool_run */
    int32_t parallel;
    int32_t offsets; /* index of its first pointer offset */
} call_record;

typedef struct tables {
    call_record *calls;
    int64_t *offsets;
    int begin[CG_ENTRY_COUNT + 1];
    int num_offsets;
} tables;

static void free_tables(tables *t) {
    free(t->calls);
    free(t->offsets);
}

/* The calls of each entry point in graph order, as cg_program_build lays them out. */
static int make_tables(const gc_graph *g, const gc_layout *layout, const cg_kernels *ks, const int *task_of,
                       tables *t, gc_error *err) {
    memset(t, 0, sizeof *t);
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
    int used = 0;
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
    }
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

/* void name(ptr arena, ptr pool): the calls [from, to) of the table, each through gc_pool_run
 * when it is split and there is a pool, else directly with the whole share (part 0 of 1). */
static void emit_entry(cg_ctx *cg, const char *name, int from, int to, LLVMValueRef calls, LLVMValueRef tasks,
                       LLVMValueRef offsets, LLVMValueRef run, LLVMTypeRef run_type, LLVMTypeRef task_type) {
    LLVMTypeRef params[2] = {cg->t_ptr, cg->t_ptr};
    LLVMValueRef fn = LLVMAddFunction(cg->mod, name, LLVMFunctionType(cg->t_void, params, 2, 0));
    unsigned nounwind = LLVMGetEnumAttributeKindForName("nounwind", 8);
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(cg->ctx, nounwind, 0));
    cg->fn = fn;
    LLVMPositionBuilderAtEnd(cg->b, LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry"));
    if (to > from) {
        LLVMValueRef arena = LLVMGetParam(fn, 0), pool = LLVMGetParam(fn, 1);
        cg_loop loop;
        cg_loop_begin(cg, &loop, cg_i64(cg, to - from));
        LLVMValueRef i = LLVMBuildAdd(cg->b, loop.iv, cg_i64(cg, from), "");
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
        LLVMBuildCall2(cg->b, run_type, run, run_args, 5, "");
        LLVMBuildBr(cg->b, next);
        LLVMPositionBuilderAtEnd(cg->b, alone);
        LLVMValueRef task_args[4] = {arena, offs, cg_i32(cg, 0), cg_i32(cg, GC_SHARE_ONE)};
        LLVMBuildCall2(cg->b, task_type, task, task_args, 4, "");
        LLVMBuildBr(cg->b, next);
        LLVMPositionBuilderAtEnd(cg->b, next);
        cg_loop_end(cg, &loop);
    }
    LLVMBuildRetVoid(cg->b);
}

/* The entry points' module: the tables, the task table (gc_t_<key> of every distinct kernel,
 * defined by the kernels' objects) and gc_init, gc_step, gc_update. */
static LLVMModuleRef entries_module(LLVMContextRef ctx, LLVMTargetMachineRef tm, const cg_kernels *ks,
                                    const int *unique, int num_unique, const tables *t, gc_error *err) {
    LLVMModuleRef mod = LLVMModuleCreateWithNameInContext("gradc-entries", ctx);
    char *triple = LLVMGetTargetMachineTriple(tm);
    LLVMSetTarget(mod, triple);
    LLVMDisposeMessage(triple);
    LLVMTargetDataRef dl = LLVMCreateTargetDataLayout(tm);
    LLVMSetModuleDataLayout(mod, dl);
    LLVMDisposeTargetData(dl);
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
    LLVMValueRef calls = byte_table(&cg, "gc_calls", t->calls, (size_t)num_calls * sizeof *t->calls);
    LLVMValueRef offsets = byte_table(&cg, "gc_offsets", t->offsets, (size_t)t->num_offsets * sizeof *t->offsets);
    LLVMTypeRef run_params[5] = {cg.t_ptr, cg.t_ptr, cg.t_ptr, cg.t_ptr, cg.t_i32};
    LLVMTypeRef run_type = LLVMFunctionType(cg.t_void, run_params, 5, 0);
    /* Weak: an object linked without gradc's runtime (--emit obj) runs with a NULL pool and never
     * calls it (as module.c's entry points). */
    LLVMValueRef run = LLVMAddFunction(mod, "gc_pool_run", run_type);
    LLVMSetLinkage(run, LLVMExternalWeakLinkage);
    static const char *const names[CG_ENTRY_COUNT] = {"gc_init", "gc_step", "gc_update"};
    for (int e = 0; e < CG_ENTRY_COUNT; e++)
        emit_entry(&cg, names[e], t->begin[e], t->begin[e + 1], calls, task_table, offsets, run, run_type, task_type);
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

int gc_codegen_emit_object_planned(const gc_graph *g, const gc_layout *given, const char *path,
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
    ok = ok && make_tables(g, lp, &ks, task_of, &tab, err);
    bool entries_hit = false;
    ok = ok && entries_object(&ks, unique, num_unique, &tab, &entries, &entries_len, &entries_hit, err);
    double entered = cg_now_ms();
    if (ok) {
        parts[0] = (cg_object_part){entries, entries_len, "(entry points)"};
        for (int u = 0; u < num_unique; u++)
            parts[1 + u] = (cg_object_part){ks.jobs[unique[u]].object, ks.jobs[unique[u]].object_len, ks.jobs[unique[u]].key};
        static const char *const globals[] = {"gc_init", "gc_step", "gc_update"};
        ok = cg_object_merge(parts, 1 + num_unique, globals, 3, &merged, &merged_len, err);
        if (ok == CG_MERGE_UNSUPPORTED) {
            /* Not ELF64 as object_merge.c knows it: the whole graph in one module instead. */
            gc_error ignored = {0};
            *err = ignored;
            ok = cg_emit_module_object(g, path, err);
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

int gc_codegen_emit_object(const gc_graph *g, const char *path, gc_error *err) {
    return gc_codegen_emit_object_planned(g, NULL, path, NULL, err);
}
