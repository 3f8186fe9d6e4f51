/*
 * executor_jit.c: the executor interface (runtime/executor.h) over the JIT executor (runtime/jit.h).
 *
 * The JIT already keeps every value typed in its arena, so sources are handed out in place and
 * outputs are views of the arena: nothing is copied on the way in or out. The interface promises
 * zeroed sources from the start, which the zeroed arena gives; marking each source as set here
 * turns off the JIT's own "has no value" check, which that promise makes moot. The interface
 * reads only outputs, so kernels are fused and values the step does not keep share memory.
 * The trainer reads no update output, and sources only after apply, so updates are computed in
 * place (runtime/jit.h) at apply: a step the trainer drops leaves params and state untouched.
 */
#include <string.h>

#include "passes/fuse.h"
#include "passes/plan.h"
#include "runtime/executor.h"
#include "runtime/jit.h"

static void *create(const gc_graph *g, const gc_executor_config *config, gc_error *err) {
    gc_jit_options opts = {.fuse = true, .reuse = true, .threads = config->threads, .in_place = true,
                           .profile = config->profile, .views = true, .operand_bytes = true,
                           .ieee_subnormals = config->ieee_subnormals,
                           .hooks = config->hooks};
    gc_jit *j = gc_jit_new_opts(g, &opts, err);
    if (!j) return NULL;
    for (int i = 0; i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        if (gc_op_table[n->op].flags & GC_FLAG_NAMED) gc_jit_source(j, n->name);
    }
    return j;
}

static void destroy(void *impl) { gc_jit_free(impl); }

static void *source(void *impl, const char *name) { return gc_jit_source(impl, name); }

static int run(void *impl, gc_error *err) { return gc_jit_run(impl, err); }

static const void *output(void *impl, gc_output_kind kind, const char *name) {
    return gc_jit_output(impl, kind, name);
}

static int apply(void *impl, gc_error *err) { return gc_jit_apply_updates(impl, err); }

/* The kernels the executor runs: "fused" as IR text, "fused.dot" as Graphviz. */
static char *dump_fused(const gc_graph *g, bool dot) {
    gc_error err = {0};
    gc_fusion f;
    if (!gc_fuse_partition(g, true, &f, &err)) return NULL;
    /* The text shows the bytes the step's plan shares, as the JIT plans them. */
    gc_layout l = {0};
    bool planned = !dot && gc_layout_plan_step(g, &l, &err);
    char *text = dot ? gc_fusion_dot(g, &f) : gc_fusion_print_plan(g, &f, planned ? &l : NULL);
    if (planned) gc_layout_free(&l);
    gc_fusion_free(&f);
    return text;
}

static char *dump(void *impl, const char *stage) {
    gc_error err = {0};
    const gc_graph *g = gc_jit_graph(impl);
    if (!stage || !g) return NULL;
    if (!strcmp(stage, "fused") || !strcmp(stage, "fused.dot")) return dump_fused(g, stage[5] == '.');
    if (!strcmp(stage, "llvm")) return gc_codegen_llvm_ir(g, &err);
    if (!strcmp(stage, "asm")) return gc_codegen_asm(g, &err);
    return NULL;
}

static char *profile(void *impl, int top) { return gc_jit_profile_report(impl, top); }

static void profile_reset(void *impl) { gc_jit_profile_reset(impl); }

static const gc_codegen_times *compile_times(void *impl) { return gc_jit_times(impl); }

static const gc_executor_ops jit_ops = {"jit",   create,  destroy,       source,       run, output,
                                        apply,   dump,    profile,       profile_reset, compile_times};

const gc_executor_ops *const gc_executor_jit = &jit_ops;
