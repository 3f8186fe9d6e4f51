/*
 * autodiff.h: reverse-mode automatic differentiation, graph to graph.
 *
 * Takes a graph whose `output "loss"` is an f32[] value and appends, in the same graph, the
 * vector-Jacobian products of every op between the params and the loss, in reverse order; each
 * param the loss depends on gets an output `grad "<param>"`. Gradients of a value used several
 * times accumulate; broadcasting is summed back to each operand's shape; ops without a gradient
 * (comparisons, argmax, integer ops, stop_gradient) stop the flow. Only nodes that lie on a path
 * from a param to the loss get gradients. A param with no such path gets no grad output (as a
 * torch parameter whose .grad stays None); gc_autodiff_unreached lists them.
 */
#ifndef GC_PASSES_AUTODIFF_H
#define GC_PASSES_AUTODIFF_H

#include "ir/graph.h"

int gc_autodiff(gc_graph *g, gc_error *err);

/* After gc_autodiff: the params that got no grad output, in graph order. Returns the count and
 * fills up to max entries of params. */
int gc_autodiff_unreached(const gc_graph *g, const gc_node **params, int max);

#endif
