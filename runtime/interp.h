/*
 * interp.h: the reference interpreter — walks a graph op by op with plain C kernels.
 *
 * It needs none of fusion, planning or LLVM, which is why it is the oracle generated code is
 * tested against, and a backend users can pick (--backend interp). Every tensor is stored as
 * doubles; in GC_INTERP_F32 precision each f32 result is rounded to float after its op, so the
 * values are those of a float32 program; GC_INTERP_F64 keeps full double precision (f32 values
 * included), for finite-difference gradient checks. i32 values are exact integers in doubles.
 * Kernels are named interp_<op name> and dispatched by expanding ir/ops.def.
 */
#ifndef GC_RUNTIME_INTERP_H
#define GC_RUNTIME_INTERP_H

#include "ir/graph.h"
#include "runtime/step_hook.h"

typedef enum gc_interp_precision {
    GC_INTERP_F32,
    GC_INTERP_F64,
} gc_interp_precision;

typedef struct gc_interp gc_interp;

/* Prepares to run g (which must outlive the interpreter). Sources start unset, except that a
 * param or state with no value yet is an error at run time naming it. */
gc_interp *gc_interp_new(const gc_graph *g, gc_interp_precision precision, gc_error *err);
void gc_interp_free(gc_interp *it);

/* Sets an input, param or state by name from a typed host tensor (f32, i32 or f64 data); the
 * shape must equal the node's. Values are copied. */
int gc_interp_set(gc_interp *it, const char *name, const gc_tensor *value, gc_error *err);
/* Same from doubles (count must equal the element count). */
int gc_interp_set_f64(gc_interp *it, const char *name, const double *data, int64_t count, gc_error *err);
/* The current value of a named source (after set or apply_updates), or NULL. */
const double *gc_interp_source(const gc_interp *it, const char *name);

/* Evaluates every node in order. Fails naming the first unset source. */
int gc_interp_run(gc_interp *it, gc_error *err);
/* Makes every later run call hooks around gradient outputs (runtime/step_hook.h). */
int gc_interp_set_hooks(gc_interp *it, const gc_step_hooks *hooks, gc_error *err);
/* After run: the value of any node (element count = numel of its type). */
const double *gc_interp_value(const gc_interp *it, const gc_node *node);
/* After run: the value of an output by kind and name, or NULL. */
const double *gc_interp_output(const gc_interp *it, gc_output_kind kind, const char *name);
/* Copies each update output into its param or state, as the end of a training step does. */
int gc_interp_apply_updates(gc_interp *it, gc_error *err);

#endif
