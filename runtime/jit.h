/*
 * jit.h: the JIT executor — runs a graph compiled to native code by codegen/ (LLVM, ORC LLJIT).
 *
 * The same shape as the interpreter (runtime/interp.h) so either can back a trainer and tests can
 * hold one against the other: set the named sources, run, read outputs, apply updates. Values
 * live in one arena laid out by codegen (an offset per node); set copies into it, outputs are
 * views of it in the node's own dtype (float * for f32, int32_t * for i32, double * for f64),
 * valid until the next set, run or apply_updates. A run allocates nothing.
 */
#ifndef GC_RUNTIME_JIT_H
#define GC_RUNTIME_JIT_H

#include "codegen/codegen.h"
#include "ir/graph.h"

typedef struct gc_jit gc_jit;

typedef struct gc_jit_options {
    bool fuse;  /* fuse kernels (passes/fuse.h): nodes computed inside another's kernel then have
                   no value to read (gc_jit_value gives NULL); outputs always have one */
    bool reuse; /* values the step does not keep share arena bytes (passes/plan.c); only
                   sources, outputs and constants can then be read after a run */
    int threads; /* the step's thread pool, the caller's thread included (runtime/parallel.h);
                    0: one per online CPU */
    bool in_place; /* updates are computed in their params' and state's own bytes where legal
                      (passes/plan.h), when gc_jit_apply_updates runs rather than in the run:
                      update outputs (and whatever the update kernels compute) then hold their
                      values only after apply, and sources must not change between run and
                      apply (the update kernels read them then). Value and gradient outputs are
                      computed by the run as without it */
    bool profile; /* time every kernel of the run and of apply (runtime/profile.h) */
    bool views;   /* slices, permutes and reshapes only matmuls read are strided views, with no
                     kernel or value of their own (passes/plan.h) */
    bool operand_bytes; /* with reuse: a kernel may write its result into the bytes of an operand
                           that dies there (passes/plan.h), as the step's plan does */
    bool ieee_subnormals; /* keep subnormal floats; otherwise the step's threads flush them
                             (runtime/parallel.h, gc_fp_enter) */
    const struct gc_step_hooks *hooks; /* non-NULL: the run calls them (runtime/step_hook.h) */
} gc_jit_options;

/* Compiles g (which must outlive the executor) and allocates its arena. Sources start unset;
 * running with one unset is an error naming it. Every node keeps its value (no fusion). */
gc_jit *gc_jit_new(const gc_graph *g, gc_error *err);
/* The same with options; opts may be NULL (the defaults of gc_jit_new). */
gc_jit *gc_jit_new_opts(const gc_graph *g, const gc_jit_options *opts, gc_error *err);
void gc_jit_free(gc_jit *j);

/* Sets an input, param or state by name from a host tensor of the same shape (f32, i32 or f64
 * data, converted to the node's dtype as the interpreter converts). */
int gc_jit_set(gc_jit *j, const char *name, const gc_tensor *value, gc_error *err);
/* The storage of a named source in its dtype, to read or write in place (NULL for an unknown
 * name). Writing through it counts as setting it. */
void *gc_jit_source(gc_jit *j, const char *name);

/* Runs one step: every node in graph order. Fails naming the first unset source. */
int gc_jit_run(gc_jit *j, gc_error *err);
/* After run: the value of a node, or of an output by kind and name (NULL when there is none, or
 * when the node was fused into another's kernel). */
const void *gc_jit_value(const gc_jit *j, const gc_node *node);
const void *gc_jit_output(const gc_jit *j, gc_output_kind kind, const char *name);
/* Copies each update output into its param or state, all at once (a swap works). With
 * in_place it first runs the update kernels, which write their params and state directly; a
 * second apply after the same run changes nothing, as a repeated copy would not. */
int gc_jit_apply_updates(gc_jit *j, gc_error *err);

/* The graph the executor runs. */
const gc_graph *gc_jit_graph(const gc_jit *j);
/* How long compiling took, phase by phase. */
const gc_codegen_times *gc_jit_times(const gc_jit *j);
/* With the profile option: the kernels' times so far as text (gc_profile_report; `top` kernels,
 * 0 all), which the caller frees; NULL without it. reset forgets what was measured. */
char *gc_jit_profile_report(const gc_jit *j, int top);
void gc_jit_profile_reset(gc_jit *j);

#endif
