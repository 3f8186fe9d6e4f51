/*
 * executor_aot.c: the executor interface (runtime/executor.h) over step functions compiled ahead
 * of time by `gradc compile` and linked into the program (runtime/aot.h, docs/compile.md).
 *
 * The arena is the one the JIT would use: gradc took the offsets from the same layout when it
 * emitted the object, and they come with the program, so this file needs neither codegen nor
 * LLVM. Sources are handed out in place and outputs are views of the arena, as with the JIT;
 * updates are copied into their sources after a step, staged when one update reads a source
 * another overwrites (a swap), so neither a step nor applying updates allocates.
 */
#include <stdlib.h>
#include <string.h>

#include "ir/text.h"
#include "runtime/aot.h"
#include "runtime/gemm.h"
#include "runtime/parallel.h"
#include "runtime/zeroed.h"
#include "runtime/updates.h"

static const gc_aot_program *registered;
static int num_registered;

void gc_aot_register(const gc_aot_program *programs, int count) {
    registered = programs;
    num_registered = count;
}

uint64_t gc_aot_hash(const char *text) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;
    }
    return h;
}

typedef struct aot {
    const gc_graph *graph;
    const gc_aot_program *program;
    char *arena;
    gc_pool *pool;
    gc_update_plan updates;
    int ran, pending; /* pending: run, and its update kernels not yet run */
    bool hooked;      /* runs step_hooked with `hooks` (gc_executor_config.hooks) */
    gc_step_hook_ctx hooks;
} aot;

/* The registered program compiled from g, found by the hash of g's text. */
static const gc_aot_program *find_program(const gc_graph *g, gc_error *err) {
    char *text = gc_graph_print(g);
    if (!text) return gc_failf(err, GC_ERR_MEMORY, "out of memory"), NULL;
    uint64_t h = gc_aot_hash(text);
    free(text);
    for (int i = 0; i < num_registered; i++) {
        const gc_aot_program *p = &registered[i];
        if (p->graph_hash != h) continue;
        if (p->num_nodes != g->num_nodes)
            return gc_failf(err, GC_ERR_INTERNAL, "internal error: compiled program '%s' has %d nodes, the graph %d",
                            p->name, p->num_nodes, g->num_nodes), NULL;
        return p;
    }
    gc_failf(err, GC_ERR_INTERNAL,
             "internal error: graph '%s' is not one this trainer was compiled from (the runtime library it was "
             "linked with builds the model differently from the gradc that compiled it; recompile it)",
             g->name ? g->name : "?");
    return NULL;
}

static void destroy(void *impl) {
    aot *a = impl;
    if (!a) return;
    if (a->program) gc_zeroed_free(a->arena, (size_t)a->program->arena_size);
    gc_pool_free(a->pool);
    gc_update_plan_free(&a->updates);
    free(a);
}

static void *create(const gc_graph *g, const gc_executor_config *config, gc_error *err) {
    if (!g) return gc_failf(err, GC_ERR_INTERNAL, "internal error: aot executor: no graph"), NULL;
    aot *a = calloc(1, sizeof *a);
    if (!a) return gc_failf(err, GC_ERR_MEMORY, "out of memory"), NULL;
    a->graph = g;
    a->program = find_program(g, err);
    if (!a->program) goto fail;
    int64_t size = a->program->arena_size;
    if (size <= 0 || size % 64) {
        gc_failf(err, GC_ERR_INTERNAL, "internal error: program '%s' has an arena of %lld bytes", a->program->name,
                 (long long)size);
        goto fail;
    }
    a->arena = gc_zeroed_alloc((size_t)size);
    if (!a->arena) {
        gc_failf(err, GC_ERR_MEMORY, "out of memory: a %lld-byte arena for graph '%s'", (long long)size,
                 g->name ? g->name : "?");
        goto fail;
    }
    if (!gc_update_plan_make(g, a->program->offsets, &a->updates, err)) goto fail;
    if (config->hooks) {
        /* gradc compile gives the step of the graph a data-parallel trainer builds this entry. */
        if (!a->program->step_hooked) {
            gc_failf(err, GC_ERR_INTERNAL, "internal error: program '%s' was compiled without step hooks",
                     a->program->name);
            goto fail;
        }
        a->hooked = true;
        a->hooks = (gc_step_hook_ctx){g, a->program->offsets, a->arena, *config->hooks};
    }
    if (!(a->pool = gc_pool_new(config->threads, err))) goto fail;
    /* The object names gc_sgemm only weakly (so --emit obj links without this runtime); this
     * reference is what links runtime/gemm.c into a trainer, and it decides the GEMM up front. */
    (void)gc_sgemm_uses_own();
    gc_pool_keep_subnormals(a->pool, config->ieee_subnormals);
    uint32_t mode = gc_pool_enter(a->pool);
    a->program->init(a->arena, a->pool);
    gc_pool_leave(mode);
    return a;
fail:
    destroy(a);
    return NULL;
}

static void *source(void *impl, const char *name) {
    aot *a = impl;
    if (!a || !name) return NULL;
    const gc_node *n = gc_graph_find_source(a->graph, name);
    return n ? a->arena + a->program->offsets[n->id] : NULL;
}

static int run(void *impl, gc_error *err) {
    aot *a = impl;
    if (!a) return gc_failf(err, GC_ERR_INTERNAL, "internal error: aot executor: run without an executor");
    uint32_t mode = gc_pool_enter(a->pool);
    if (a->hooked) a->program->step_hooked(a->arena, a->pool, &a->hooks);
    else a->program->step(a->arena, a->pool);
    gc_pool_leave(mode);
    a->ran = a->pending = 1;
    return 1;
}

static const void *output(void *impl, gc_output_kind kind, const char *name) {
    aot *a = impl;
    if (!a || !name || !a->ran) return NULL;
    const gc_graph_output *o = gc_graph_find_output(a->graph, kind, name);
    return o ? a->arena + a->program->offsets[o->value->id] : NULL;
}

static int apply(void *impl, gc_error *err) {
    aot *a = impl;
    if (!a) return gc_failf(err, GC_ERR_INTERNAL, "internal error: aot executor: apply without an executor");
    if (!a->ran) return gc_failf(err, GC_ERR_USER, "no updates to apply: the graph has not been run");
    if (a->pending && a->program->update) {
        uint32_t mode = gc_pool_enter(a->pool);
        a->program->update(a->arena, a->pool);
        gc_pool_leave(mode);
    }
    a->pending = 0;
    gc_update_plan_apply(&a->updates, a->arena);
    return 1;
}

const gc_executor_ops gc_executor_aot = {"aot", create, destroy, source, run, output, apply, NULL, NULL, NULL, NULL};
