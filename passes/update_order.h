/*
 * update_order.h: the optimizer in backward — each parameter's update placed right after its
 * gradient is final, so the gradient's bytes are free for the rest of backward.
 *
 * After autodiff and the optimizer, a training graph computes every gradient, then every update.
 * When no update needs more than its own gradient (no clip_grad_norm, whose coefficient reads
 * every gradient; no gradient accumulation, whose state the trainer resets between updates),
 * gc_updates_in_backward reorders the nodes so that the nodes only the optimizer needs follow the
 * last node they read, and an update of a param follows the last backward node that reads the
 * param (its in-place write must come after them). Every node computes what it computed before,
 * from the same operands: only the order changes, so losses are bit-identical. The graph is
 * marked updates_in_backward (ir/graph.h), which tells the planner (passes/plan.h) that
 * gradients need not outlive their updates and that backward runs at apply.
 */
#ifndef GC_PASSES_UPDATE_ORDER_H
#define GC_PASSES_UPDATE_ORDER_H

#include <stdbool.h>

#include "ir/graph.h"

/* Reorders *graph as above and marks it; *moved (may be NULL) says whether anything changed.
 * A graph that does not qualify (no optimizer, clip_grad_norm, gradient accumulation, no
 * gradients) is left as it is, unmarked. */
int gc_updates_in_backward(gc_graph **graph, bool *moved, gc_error *err);

/* When each gradient is final: fills order[] with the indices into g->outputs of the grad
 * outputs, sorted by the node position at which their value is computed (after it, nothing
 * adds to that gradient: a bucketed all-reduce may start). Returns how many there are, or -1
 * when out of memory. order must hold g->num_outputs entries. */
int gc_grad_final_order(const gc_graph *g, int *order);

/* The pass: gc_updates_in_backward. */
int gc_pass_update_in_backward(gc_graph **graph, gc_error *err);

#endif
