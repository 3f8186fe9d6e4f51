/*
 * step_hook.h: calls a training step makes out to its caller while it runs, so gradients can be
 * averaged across processes as soon as they are final, overlapping the rest of backward
 * (runtime/distributed.h). Only executors created with gc_executor_config.hooks make them; a
 * step without hooks has no such calls at all.
 *
 * Events, in the order a step makes them:
 *   GRAD_READY   a gradient output's value is final (after the kernel or node computing it);
 *   KERNEL_DONE  any other kernel ended (a chance to move communication in flight along);
 *   GRADS_NEEDED the next kernel reads gradient outputs: every gradient made ready so far must
 *                hold its final (averaged) value when the call returns;
 *   STEP_END     the step's gradients are all computed; the same promise as GRADS_NEEDED;
 *   ALL_REDUCE   an all_reduce_sum node was computed (its own kernel, never fused): its value,
 *                this process's share, must hold the sum over the processes when the call
 *                returns (sync_batchnorm's statistics; the JIT makes it from KERNEL_DONE).
 * A hook cannot fail the step from inside it: it records its error and the executor's caller
 * asks for it after the run (gc_step_hooks.failed).
 */
#ifndef GC_RUNTIME_STEP_HOOK_H
#define GC_RUNTIME_STEP_HOOK_H

#include <stdint.h>

#include "ir/graph.h"

enum { GC_HOOK_GRAD_READY = 1, GC_HOOK_KERNEL_DONE = 2, GC_HOOK_GRADS_NEEDED = 3, GC_HOOK_STEP_END = 4,
       GC_HOOK_ALL_REDUCE = 5 };

typedef struct gc_step_hooks {
    void *user;
    /* node: the gradient output's value node (GRAD_READY) or NULL; data, dtype, count: its
     * storage in the executor (f32 for the JIT, f64 for the interpreter), writable in place. */
    void (*event)(void *user, int event, const gc_node *node, void *data, gc_dtype dtype, int64_t count);
} gc_step_hooks;

/* What compiled code passes gc_step_hook as ctx: where the step's values are and whom to tell.
 * The JIT's executor (runtime/jit.c) and the AOT one (runtime/executor_aot.c) each keep one. */
typedef struct gc_step_hook_ctx {
    const gc_graph *graph;
    const int64_t *offsets; /* per node id: bytes from the arena start, -1 for none */
    char *arena;
    gc_step_hooks hooks;
} gc_step_hook_ctx;

/* Called around the step kernels of compiled code (codegen/program.c's table; codegen/module.c's
 * whole-module gc_step when built with hooks, and the gc_step_hooked entry of an object file,
 * which takes ctx as its third argument): ctx is a gc_step_hook_ctx. It turns node ids into the
 * values the hooks want. */
void gc_step_hook(void *ctx, int32_t event, int32_t node);

/* Which nodes of g are gradient outputs (is_grad) and which read one as an operand while not being
 * one (reads_grad): arrays of g->num_nodes the caller allocates. */
void gc_step_hook_plan(const gc_graph *g, bool *is_grad, bool *reads_grad);

#endif
