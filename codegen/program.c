/*
 * program.c: the JIT's code for a graph as distinct kernels plus a table of calls, so that
 * compiling a deep model costs what its distinct kernels cost, not what its depth does.
 *
 * The layers of a deep model repeat the same kernels on other buffers. Kernels equal as code
 * (codegen/dedup.c) are emitted once, each in an LLVM module of its own with a task wrapper
 * `gc_t_<key>(arena, offsets, from, to)` that loads its pointers from a table of arena offsets
 * (the pool's task type, runtime/parallel.h). The entry points are not code: gc_init, gc_step and
 * gc_update are lists of calls (task, offsets, flags) that cg_program_run walks, so no LLVM
 * function grows with the graph and O3 never sees one giant step function.
 *
 * Each kernel module is keyed by a hash of its IR and the target (disk_cache.c): a key found in
 * the cache is an object file read back, anything else is optimised (default<O3>) and compiled to
 * an object, which the cache then keeps. Kernels are emitted, hashed and compiled on a few
 * threads, each with its own LLVM context and target machine (LLVM is thread-safe across
 * contexts); the objects are then linked into the JIT on the caller's thread.
 *
 * The kernels' code is the code module.c puts in a whole module (the same emitters, attributes
 * and O3 pipeline), called through a wrapper: one indirect call more per kernel per step.
 * cg_kernels_compile (the kernels compiled or read from the cache) also serves object files
 * (object_file.c), which merge the same objects instead of linking them into a JIT.
 */
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>

#include "codegen/cg.h"
#include "runtime/profile.h"
#include "runtime/step_hook.h"

#define MAX_THREADS 8

/* Keys claimed in this compile: the first job with a key compiles it, later ones share it. */
typedef struct key_table {
    int *slots; /* job index + 1; 0 empty */
    int cap;    /* a power of two */
} key_table;

static uint64_t key_hash(const char *key) {
    uint64_t h = 0;
    for (int i = 0; i < 16; i++) h = h << 4 | (uint64_t)(key[i] <= '9' ? key[i] - '0' : key[i] - 'a' + 10);
    return h;
}

typedef cg_kernel_job job;

typedef struct shared {
    const gc_layout *layout;
    const char *target; /* cg_cache_target */
    const cg_disk_cache *cache;
    job *jobs;
    int num_jobs;
    atomic_int next;
    atomic_int failed;
    pthread_mutex_t lock; /* guards err, keys and the times below */
    key_table keys;
    gc_error *err;
    double emit_ms, optimize_ms, object_ms;
    int hits, compiled, rejected;
} shared;

/* void t(ptr arena, ptr offsets, i32 from, i32 to): k's pointers at arena + offsets[i]. */
static void emit_task(cg_ctx *cg, LLVMValueRef kernel, int pointers) {
    LLVMTypeRef params[4] = {cg->t_ptr, cg->t_ptr, cg->t_i32, cg->t_i32};
    LLVMValueRef fn = LLVMAddFunction(cg->mod, "t", LLVMFunctionType(cg->t_void, params, 4, 0));
    unsigned kind = LLVMGetEnumAttributeKindForName("nounwind", 8);
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(cg->ctx, kind, 0));
    LLVMPositionBuilderAtEnd(cg->b, LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry"));
    LLVMValueRef arena = LLVMGetParam(fn, 0), offsets = LLVMGetParam(fn, 1);
    LLVMValueRef *args = malloc(((size_t)pointers + 2) * sizeof *args);
    LLVMTypeRef *types = malloc(((size_t)pointers + 2) * sizeof *types);
    if (!args || !types) {
        free(args);
        free(types);
        LLVMBuildRetVoid(cg->b);
        return;
    }
    for (int k = 0; k < pointers; k++) {
        LLVMValueRef at = cg_i64(cg, k);
        LLVMValueRef off = LLVMBuildLoad2(cg->b, cg->t_i64, LLVMBuildInBoundsGEP2(cg->b, cg->t_i64, offsets, &at, 1, ""), "");
        args[k] = LLVMBuildInBoundsGEP2(cg->b, cg->t_i8, arena, &off, 1, "");
        types[k] = cg->t_ptr;
    }
    args[pointers] = LLVMGetParam(fn, 2);
    args[pointers + 1] = LLVMGetParam(fn, 3);
    types[pointers] = types[pointers + 1] = cg->t_i32;
    LLVMBuildCall2(cg->b, LLVMFunctionType(cg->t_void, types, (unsigned)pointers + 2, 0), kernel, args,
                   (unsigned)pointers + 2, "");
    LLVMBuildRetVoid(cg->b);
    free(args);
    free(types);
}

static void rename_fn(LLVMModuleRef mod, const char *from, const char *prefix, const char *key) {
    char name[64];
    snprintf(name, sizeof name, "%s%s", prefix, key);
    LLVMValueRef fn = LLVMGetNamedFunction(mod, from);
    if (fn) LLVMSetValueName2(fn, name, strlen(name));
}

/* Emits, keys and (unless cached) compiles one kernel in ctx; 0 after filling err. */
static int compile_job(shared *s, job *jb, LLVMContextRef ctx, LLVMTargetMachineRef tm, gc_error *err) {
    double t0 = cg_now_ms();
    LLVMModuleRef mod = cg_module_for(ctx, tm, "gradc-kernel");
    cg_ctx cg;
    cg_ctx_init(&cg, ctx, mod, err);
    cg.layout = s->layout;
    LLVMValueRef fn = cg_emit_kernel(&cg, jb->grp);
    if (fn) {
        /* Names are part of the IR, hence of the key: every kernel is k (and its task t) until
         * keyed, then named by its key, unique in any JIT that links it. */
        LLVMSetValueName2(fn, "k", 1);
        jb->parallel = cg_kernel_is_parallel(fn);
        jb->flags = cg_kernel_task_flags(fn);
        emit_task(&cg, fn, cg_group_pointers(jb->grp));
    }
    cg_ctx_dispose(&cg);
    char *msg = NULL;
    if (fn && LLVMVerifyModule(mod, LLVMReturnStatusAction, &msg)) {
        const gc_node *n = jb->grp->members[jb->grp->num_members - 1];
        gc_failf(err, GC_ERR_INTERNAL, "internal error: LLVM rejected kernel k%d (%s): %s", n->id,
                 gc_op_table[n->op].name, msg ? msg : "");
        fn = NULL;
    }
    LLVMDisposeMessage(msg);
    if (!fn) {
        LLVMDisposeModule(mod);
        return 0;
    }
    char *ir = LLVMPrintModuleToString(mod);
    cg_cache_key(s->target, ir, strlen(ir), jb->key);
    LLVMDisposeMessage(ir);
    rename_fn(mod, "k", "gc_k_", jb->key);
    rename_fn(mod, "t", "gc_t_", jb->key);
    /* Kernels unequal as graphs can still be equal as IR (an attribute the code ignores): the
     * first to claim the key compiles it. */
    pthread_mutex_lock(&s->lock);
    int at = (int)(key_hash(jb->key) & (uint64_t)(s->keys.cap - 1));
    while (s->keys.slots[at] && strcmp(s->jobs[s->keys.slots[at] - 1].key, jb->key)) at = (at + 1) & (s->keys.cap - 1);
    if (s->keys.slots[at]) jb->same_as = s->keys.slots[at] - 1;
    else s->keys.slots[at] = (int)(jb - s->jobs) + 1;
    pthread_mutex_unlock(&s->lock);
    if (jb->same_as >= 0) {
        LLVMDisposeModule(mod);
        return 1;
    }
    double t1 = cg_now_ms(), t2 = t1, t3 = t1;
    jb->hit = cg_cache_load(s->cache, jb->key, &jb->object, &jb->object_len, &jb->rejected);
    int ok = 1;
    if (!jb->hit) {
        ok = cg_optimize(mod, tm, err);
        t2 = cg_now_ms();
        LLVMMemoryBufferRef buf = NULL;
        if (ok && LLVMTargetMachineEmitToMemoryBuffer(tm, mod, LLVMObjectFile, &msg, &buf)) {
            ok = gc_failf(err, GC_ERR_INTERNAL, "internal error: LLVM could not compile a kernel: %s", msg ? msg : "");
            LLVMDisposeMessage(msg);
        }
        if (ok) {
            jb->object_len = LLVMGetBufferSize(buf);
            jb->object = malloc(jb->object_len ? jb->object_len : 1);
            if (jb->object) memcpy(jb->object, LLVMGetBufferStart(buf), jb->object_len);
            else ok = gc_failf(err, GC_ERR_MEMORY, "out of memory");
        }
        if (buf) LLVMDisposeMemoryBuffer(buf);
        if (ok) cg_cache_store(s->cache, jb->key, jb->object, jb->object_len);
        t3 = cg_now_ms();
    }
    LLVMDisposeModule(mod);
    pthread_mutex_lock(&s->lock);
    s->emit_ms += t1 - t0;
    s->optimize_ms += t2 - t1;
    s->object_ms += t3 - t2;
    s->hits += jb->hit;
    s->compiled += !jb->hit && ok;
    s->rejected += jb->rejected;
    pthread_mutex_unlock(&s->lock);
    return ok;
}

static void *worker(void *arg) {
    shared *s = arg;
    gc_error err = {0};
    LLVMTargetMachineRef tm = cg_host_machine(&err);
    LLVMContextRef ctx = tm ? LLVMContextCreate() : NULL;
    int ok = tm != NULL;
    while (ok && !atomic_load(&s->failed)) {
        int i = atomic_fetch_add(&s->next, 1);
        if (i >= s->num_jobs) break;
        ok = compile_job(s, &s->jobs[i], ctx, tm, &err);
    }
    if (ctx) LLVMContextDispose(ctx);
    if (tm) LLVMDisposeTargetMachine(tm);
    if (!ok && !atomic_exchange(&s->failed, 1)) {
        pthread_mutex_lock(&s->lock);
        *s->err = err;
        pthread_mutex_unlock(&s->lock);
    }
    return NULL;
}

/* Compiles every job on up to MAX_THREADS threads (the caller's one of them). */
static int compile_jobs(shared *s, int *threads_used) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = cpus > 1 ? (int)(cpus < MAX_THREADS ? cpus : MAX_THREADS) : 1;
    if (threads > s->num_jobs) threads = s->num_jobs > 0 ? s->num_jobs : 1;
    pthread_t ids[MAX_THREADS];
    int started = 0;
    for (int t = 1; t < threads; t++)
        if (!pthread_create(&ids[started], NULL, worker, s)) started++;
    worker(s);
    for (int t = 0; t < started; t++) pthread_join(ids[t], NULL);
    *threads_used = started + 1;
    return !atomic_load(&s->failed);
}

static int llvm_fail(LLVMErrorRef e, const char *what, gc_error *err) {
    char *msg = LLVMGetErrorMessage(e);
    gc_failf(err, GC_ERR_INTERNAL, "internal error: %s: %s", what, msg);
    LLVMDisposeErrorMessage(msg);
    return 0;
}

/* Hands every distinct object to the JIT and looks up its task. */
static int link_jobs(LLVMOrcLLJITRef jit, job *jobs, int num_jobs, gc_error *err) {
    LLVMOrcJITDylibRef jd = LLVMOrcLLJITGetMainJITDylib(jit);
    for (int i = 0; i < num_jobs; i++) {
        job *jb = &jobs[i];
        if (jb->same_as >= 0) continue;
        LLVMMemoryBufferRef buf = LLVMCreateMemoryBufferWithMemoryRangeCopy(jb->object, jb->object_len, jb->key);
        LLVMErrorRef e = LLVMOrcLLJITAddObjectFile(jit, jd, buf);
        if (e) return llvm_fail(e, "adding a kernel to the JIT", err);
    }
    for (int i = 0; i < num_jobs; i++) {
        job *jb = &jobs[i];
        if (jb->same_as >= 0) continue;
        char name[64];
        snprintf(name, sizeof name, "gc_t_%s", jb->key);
        LLVMOrcExecutorAddress addr = 0;
        LLVMErrorRef e = LLVMOrcLLJITLookup(jit, &addr, name);
        if (e) return llvm_fail(e, "linking a kernel", err);
        /* The JIT hands back an address; the task's type is fixed by emit_task. */
        jb->task = (gc_task_fn)(uintptr_t)addr;
    }
    /* The job that claimed a key may come later than one sharing it (threads claim in any order). */
    for (int i = 0; i < num_jobs; i++)
        if (jobs[i].same_as >= 0) jobs[i].task = jobs[jobs[i].same_as].task;
    return 1;
}

int cg_kernels_entry(const gc_node *n, int i, int split) {
    return cg_is_init_node(n) ? CG_ENTRY_INIT : i < split ? CG_ENTRY_STEP : CG_ENTRY_UPDATE;
}

void cg_kernels_free(cg_kernels *ks) {
    for (int i = 0; ks->jobs && i < ks->num_jobs; i++) free(ks->jobs[i].object);
    free(ks->jobs);
    free(ks->job_of);
    free(ks->groups);
    free(ks->storage);
    free(ks->target);
    memset(ks, 0, sizeof *ks);
}

int cg_kernels_compile(const gc_graph *g, const gc_layout *layout, cg_kernels *ks, gc_codegen_times *t, gc_error *err) {
    memset(ks, 0, sizeof *ks);
    double start = cg_now_ms();
    ks->groups = cg_make_groups(g, layout, &ks->storage, err);
    if (!ks->groups) return 0;
    int n = g->num_nodes;
    ks->job_of = malloc((size_t)(n ? n : 1) * sizeof *ks->job_of);
    job *jobs = ks->jobs = calloc((size_t)(n ? n : 1), sizeof *jobs);
    cg_kernel_cache *dedup = cg_kernel_cache_new(n, layout);
    char *cpu = NULL, *features = NULL, *target = NULL;
    shared s = {.layout = layout, .jobs = jobs, .err = err};
    cg_disk_cache *cache = &ks->cache;
    pthread_mutex_init(&s.lock, NULL);
    int ok = ks->job_of && jobs && dedup;
    if (!ok) gc_failf(err, GC_ERR_MEMORY, "out of memory");
    /* Kernels equal as code share a job; calls per entry are counted for the table. */
    ks->split = layout->update_from < n ? layout->update_from : n;
    for (int i = 0; ok && i < n; i++) {
        ks->job_of[i] = -1;
        if (!cg_has_kernel(g->nodes[i], layout)) continue;
        t->kernels++;
        ks->counts[cg_kernels_entry(g->nodes[i], i, ks->split)]++;
        ks->num_offsets += cg_group_pointers(&ks->groups[i]);
        int shared_job = cg_kernel_cache_share(dedup, &ks->groups[i], s.num_jobs);
        if (shared_job < 0) ok = gc_failf(err, GC_ERR_MEMORY, "out of memory");
        else if (shared_job == s.num_jobs) {
            jobs[s.num_jobs].same_as = -1;
            jobs[s.num_jobs++].grp = &ks->groups[i];
        }
        ks->job_of[i] = shared_job;
    }
    ks->num_jobs = s.num_jobs;
    if (ok) {
        cpu = gc_codegen_host_cpu(err);
        features = cpu ? gc_codegen_host_features(err) : NULL;
        target = features ? cg_cache_target(cpu, features) : NULL;
        ok = target != NULL;
        if (features && !target) gc_failf(err, GC_ERR_MEMORY, "out of memory");
    }
    s.target = target;
    s.keys.cap = 64;
    while (s.keys.cap < 2 * s.num_jobs) s.keys.cap *= 2;
    if (ok && !(s.keys.slots = calloc((size_t)s.keys.cap, sizeof *s.keys.slots)))
        ok = gc_failf(err, GC_ERR_MEMORY, "out of memory");
    t->cache_enabled = cg_cache_open(cache);
    s.cache = cache;
    double prepared = cg_now_ms();
    int threads = 0;
    ok = ok && compile_jobs(&s, &threads);
    /* Entries were added: keep the cache within its bound (disk_cache.c). */
    if (ok && s.compiled) cg_cache_evict(cache);
    double compiled = cg_now_ms();
    int distinct = 0;
    for (int i = 0; i < s.num_jobs; i++) distinct += jobs[i].same_as < 0;
    t->functions = distinct;
    t->cache_hits = s.hits;
    t->compiled = s.compiled;
    t->cache_rejected = s.rejected;
    t->threads = threads;
    t->emit_ms = s.emit_ms;
    t->optimize_ms = s.optimize_ms;
    t->object_ms = s.object_ms;
    t->prepare_ms = prepared - start;
    t->kernels_ms = compiled - prepared;
    cg_kernel_cache_free(dedup);
    free(cpu);
    free(features);
    ks->target = target;
    free(s.keys.slots);
    pthread_mutex_destroy(&s.lock);
    if (!ok) cg_kernels_free(ks);
    return ok;
}

int cg_program_build(LLVMOrcLLJITRef jit, const gc_graph *g, const gc_layout *layout, void *profile, void *hooks,
                     cg_program *p, gc_codegen_times *t, gc_error *err) {
    memset(p, 0, sizeof *p);
    p->profile = profile;
    p->hooks = hooks;
    if (hooks && !(p->grads = cg_grad_nodes(g, layout, &p->num_grads)))
        return gc_failf(err, GC_ERR_MEMORY, "out of memory");
    double start = cg_now_ms();
    cg_kernels ks;
    if (!cg_kernels_compile(g, layout, &ks, t, err)) {
        cg_program_free(p);
        return 0;
    }
    double compiled = cg_now_ms();
    int ok = link_jobs(jit, ks.jobs, ks.num_jobs, err);
    double linked = cg_now_ms();

    /* The table: calls in graph order per entry, each with its slice of offsets. */
    int n = g->num_nodes;
    if (ok) {
        int total = ks.counts[0] + ks.counts[1] + ks.counts[2];
        p->calls = calloc((size_t)(total ? total : 1), sizeof *p->calls);
        p->offsets = malloc((size_t)(ks.num_offsets ? ks.num_offsets : 1) * sizeof *p->offsets);
        ok = p->calls && p->offsets;
        if (!ok) gc_failf(err, GC_ERR_MEMORY, "out of memory");
        p->begin[0] = 0;
        for (int e = 0; e < CG_ENTRY_COUNT; e++) p->begin[e + 1] = p->begin[e] + ks.counts[e];
    }
    int fill[CG_ENTRY_COUNT] = {p->begin[0], p->begin[1], p->begin[2]};
    int64_t used = 0;
    int ready = 0;
    for (int i = 0; ok && i < n; i++) {
        if (ks.job_of[i] < 0) continue;
        const gc_node *node = g->nodes[i];
        const cg_group *grp = &ks.groups[i];
        const job *jb = &ks.jobs[ks.job_of[i]];
        int e = cg_kernels_entry(node, i, ks.split);
        cg_program_call *c = &p->calls[fill[e]++];
        int pointers = cg_group_pointers(grp);
        for (int k = 0; k < pointers; k++) p->offsets[used + k] = layout->offsets[cg_group_pointer(grp, node, k)->id];
        c->offsets = p->offsets + used;
        used += pointers;
        c->task = jb->task;
        c->flags = jb->flags;
        c->parallel = jb->parallel && e != CG_ENTRY_INIT;
        c->node = node->id;
        /* Step hooks, as module.c places them: a gradient is final once every kernel whose root
         * precedes it has run; a kernel reading bytes of one made ready waits for them. */
        if (p->hooks && e == CG_ENTRY_STEP) {
            while (ready < p->num_grads && p->grads[ready] < i) ready++;
            c->grads_ready = ready;
            for (int k = 0; k < grp->num_ext && !c->reads_grads; k++)
                c->reads_grads = cg_reads_ready_grad(g, layout, p->grads, ready, grp->ext[k]);
        }
    }
    t->jit_ms = linked - compiled;
    cg_kernels_free(&ks);
    if (!ok) cg_program_free(p);
    t->total_ms = cg_now_ms() - start;
    return ok;
}

/* gc_step with the step hooks (runtime/step_hook.h) called around its kernels. */
static void run_hooked_step(const cg_program *p, char *arena, void *pool) {
    gc_profile *profile = p->profile;
    if (profile) gc_profile_tick(profile, GC_PROFILE_STEP);
    int next = 0;
    for (int i = p->begin[CG_ENTRY_STEP]; i < p->begin[CG_ENTRY_STEP + 1]; i++) {
        const cg_program_call *c = &p->calls[i];
        for (; next < c->grads_ready; next++) gc_step_hook(p->hooks, GC_HOOK_GRAD_READY, p->grads[next]);
        if (c->reads_grads) gc_step_hook(p->hooks, GC_HOOK_GRADS_NEEDED, c->node);
        if (c->parallel && pool) gc_pool_run(pool, c->task, arena, c->offsets, c->flags);
        else c->task(arena, c->offsets, 0, GC_SHARE_ONE);
        if (profile) gc_profile_tick(profile, c->node);
        gc_step_hook(p->hooks, GC_HOOK_KERNEL_DONE, c->node);
    }
    for (; next < p->num_grads; next++) gc_step_hook(p->hooks, GC_HOOK_GRAD_READY, p->grads[next]);
    gc_step_hook(p->hooks, GC_HOOK_STEP_END, -1);
}

void cg_program_run(const cg_program *p, int entry, char *arena, void *pool) {
    if (p->hooks && entry == CG_ENTRY_STEP) {
        run_hooked_step(p, arena, pool);
        return;
    }
    gc_profile *profile = entry == CG_ENTRY_INIT ? NULL : p->profile;
    if (profile) gc_profile_tick(profile, entry == CG_ENTRY_STEP ? GC_PROFILE_STEP : GC_PROFILE_UPDATE);
    for (int i = p->begin[entry]; i < p->begin[entry + 1]; i++) {
        const cg_program_call *c = &p->calls[i];
        if (c->parallel && pool) gc_pool_run(pool, c->task, arena, c->offsets, c->flags);
        else c->task(arena, c->offsets, 0, GC_SHARE_ONE);
        if (profile) gc_profile_tick(profile, c->node);
    }
}

void cg_program_free(cg_program *p) {
    free(p->calls);
    free(p->offsets);
    free(p->grads);
    memset(p, 0, sizeof *p);
}
