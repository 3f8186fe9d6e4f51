/*
 * predict_graph.h: the forward-only graph a deployed model runs (`gradc compile --graph predict`,
 * `gradc ir --stage predict`; docs/compile.md).
 *
 * It is the eval graph (no dropout, batch norm on its running statistics) cut down to what a
 * prediction needs: its one output `prediction` is the first argument of the loss call
 * (`loss = cross_entropy(logits, y)`: logits, what a PyTorch module's forward returns), joined by
 * every `output` of the model that reads no input the prediction does not (`output probs =
 * softmax(logits)` stays, `output accuracy = accuracy(logits, y)` goes). The inputs the prediction
 * does not read (the targets) are dropped, and so are the params and buffers it does not read.
 */
#ifndef GC_RUNTIME_PREDICT_GRAPH_H
#define GC_RUNTIME_PREDICT_GRAPH_H

#include <gradc/gradc.h>

#include "ir/graph.h"

/* The forward-only graph of g (an eval lowering) whose prediction is the node `prediction` of g,
 * before the passes. NULL with a user error when prediction is NULL (the loss is not a loss
 * call). The caller frees the result. */
gc_graph *gc_predict_graph_build(const gc_graph *g, const gc_node *prediction, gc_error *err);

/* The model's forward-only graph, lowered, cut and optimised (simplify, cse, dce) as the eval
 * graph is (runtime/trainer.c). */
gc_graph *gc_model_predict_graph(const gc_model *m, gc_error *err);

#endif
