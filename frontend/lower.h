/*
 * lower.h: a checked .gm module lowered to a forward graph.
 *
 * The lowering inlines defs, unrolls loops, names parameters (`as` paths, `<layer>_<k>` defaults,
 * def-instance prefixes), turns built-ins into ops, layers into op sequences (layers.h) and losses
 * into op sequences (passes/losses.h), and reads the train block. The result is the forward graph:
 * every `input` and `param` of the model, `output "loss"` and one `output` per output statement.
 * The frontend is run twice per model: once with training = true (dropout active; the graph the
 * training step differentiates) and once with training = false (the eval graph).
 */
#ifndef GC_FRONTEND_LOWER_H
#define GC_FRONTEND_LOWER_H

#include <stdbool.h>

#include "frontend/ast.h"
#include "frontend/layers.h"
#include "passes/optimizer.h"

/* The most nodes the forward graph of a model, and the training step made from it (autodiff and
 * the optimizer's updates), may have (docs/language.md, "Limits"). The rest of the pipeline
 * (passes, fusion, planning) costs about 5 us per node of the training step, so this bound keeps
 * `gradc check` of any model, however small its file, under a second; real models stay far
 * below it (M2's shape at 48 layers is about 22,000 nodes of training step). */
enum { GC_LOWER_MAX_NODES = 120000 };

/* The train block, resolved into the optimizer's terms. check.h's gc_train_config (m->config) holds
 * the evaluated block with its defaults (adam() when the model has no train block or no optimizer
 * key); this is the same content as passes/optimizer.h wants it. */
typedef struct gc_lowered_train {
    gc_optimizer_config optimizer;
    uint64_t seed;
    gc_precision precision; /* precision = ...; GC_PRECISION_DEFAULT when not given */
    int64_t memory_budget; /* train { memory_budget = ... } in bytes; 0: none */
    bool sync_batchnorm;   /* train { sync_batchnorm = true }: batch norm's statistics over every process */
    gc_loc loc; /* the train block, or line 0 when the model has none */
} gc_lowered_train;

typedef struct gc_lowered_model {
    gc_graph *graph;          /* owned: free with gc_lowered_model_free */
    gc_layer_context layers;  /* the params created, with their initialisers (in graph's arena) */
    gc_lowered_train train;   /* no_decay patterns live in graph's arena */
    /* The first argument of the loss when the loss statement is a loss call
     * (`loss = cross_entropy(logits, y)`: logits), else NULL: what `gradc compile --graph predict`
     * returns. A node of graph, not an output: the passes may drop it. */
    gc_node *prediction;
} gc_lowered_model;

/* Lowers a module that passed gc_frontend_check. On failure returns 0 with a located error and
 * out->graph NULL. */
int gc_lower_model(const gc_ast_module *m, bool training, gc_lowered_model *out, gc_error *err);
void gc_lowered_model_free(gc_lowered_model *model);

#endif
