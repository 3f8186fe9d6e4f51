/*
 * executor.h: one interface over the ways gradc can run a graph (the reference interpreter, the
 * JIT), so the trainer is written once.
 *
 * An executor owns typed host storage for every named source (input, param, state) of its graph,
 * in the source's dtype (f32 as float, i32 as int32_t). The caller writes sources there directly,
 * calls run, reads outputs, and calls apply to write each `update` output into its source — apply
 * is separate from run so a step with a non-finite loss can be dropped without touching the
 * parameters.
 */
#ifndef GC_RUNTIME_EXECUTOR_H
#define GC_RUNTIME_EXECUTOR_H

#include "codegen/codegen.h"
#include "ir/graph.h"

typedef struct gc_executor gc_executor;

typedef struct gc_executor_config {
    int threads;  /* the step's threads, the caller's included; 0: one per online CPU */
    bool profile; /* time every kernel (executors with a profile op; the others ignore it) */
    bool ieee_subnormals; /* compiled code keeps subnormal floats (gc_options.ieee_subnormals) */
    const struct gc_step_hooks *hooks; /* non-NULL: each run calls them (runtime/step_hook.h) */
} gc_executor_config;

typedef struct gc_executor_ops {
    const char *name;
    /* Prepares to run g (g must outlive the executor). Sources start zeroed. */
    void *(*create)(const gc_graph *g, const gc_executor_config *config, gc_error *err);
    void (*destroy)(void *impl);
    /* The storage of a named source, or NULL. */
    void *(*source)(void *impl, const char *name);
    int (*run)(void *impl, gc_error *err);
    /* Typed data of an output after run, or NULL. */
    const void *(*output)(void *impl, gc_output_kind kind, const char *name);
    int (*apply)(void *impl, gc_error *err);
    /* Optional: backend-specific program text ("llvm", "asm"); NULL when unknown. Caller frees. */
    char *(*dump)(void *impl, const char *stage);
    /* Optional: a profiled executor's kernel times as text (runtime/profile.h; `top` kernels, 0
     * all), NULL when not profiled; and forgetting them. Caller frees the text. */
    char *(*profile)(void *impl, int top);
    void (*profile_reset)(void *impl);
    /* Optional: how compiling the graph went, phase by phase (NULL for an executor that does
     * not compile). */
    const gc_codegen_times *(*compile_times)(void *impl);
} gc_executor_ops;

extern const gc_executor_ops gc_executor_interp;
/* NULL when gradc was built without a JIT. */
extern const gc_executor_ops *const gc_executor_jit;

#endif
