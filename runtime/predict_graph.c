/*
 * predict_graph.c: the forward-only graph (predict_graph.h).
 */
#include "runtime/predict_graph.h"

#include <stdlib.h>
#include <string.h>

#include "passes/rewrite.h"

/* Marks in `seen` every node `from` reads, itself included (ids are in topological order, so
 * one backward sweep from it finds them all). */
static void mark_reads(const gc_graph *g, const gc_node *from, bool *seen) {
    seen[from->id] = true;
    for (int i = from->id; i >= 0; i--) {
        if (!seen[i]) continue;
        const gc_node *n = g->nodes[i];
        for (int k = 0; k < n->num_inputs; k++) seen[n->inputs[k]->id] = true;
    }
}

gc_graph *gc_predict_graph_build(const gc_graph *g, const gc_node *prediction, gc_error *err) {
    if (!prediction) {
        gc_failf(err, GC_ERR_USER,
                 "the model has no prediction to compile: its loss is not a call of a loss function "
                 "(write `loss = cross_entropy(logits, y)`, or the like, and the first argument is the prediction)");
        return NULL;
    }
    size_t n = (size_t)g->num_nodes + 1;
    bool *needed = calloc(n, sizeof *needed), *reads = calloc(n, sizeof *reads);
    bool *keep_output = calloc((size_t)g->num_outputs + 1, sizeof *keep_output);
    gc_node **copied = calloc(n, sizeof *copied), **operands = NULL;
    gc_graph *dst = gc_graph_new(g->name);
    int max_inputs = 1;
    for (int i = 0; i < g->num_nodes; i++)
        if (g->nodes[i]->num_inputs > max_inputs) max_inputs = g->nodes[i]->num_inputs;
    operands = malloc(sizeof *operands * (size_t)max_inputs);
    if (!needed || !reads || !keep_output || !copied || !operands || !dst) {
        gc_failf(err, GC_ERR_MEMORY, "out of memory");
        goto fail;
    }
    mark_reads(g, prediction, needed);
    /* An output stays when every input it reads is one the prediction reads too. */
    for (int o = 0; o < g->num_outputs; o++) {
        const gc_graph_output *out = &g->outputs[o];
        if (out->kind != GC_OUTPUT_VALUE || !strcmp(out->name, "loss")) continue;
        memset(reads, 0, n * sizeof *reads);
        mark_reads(g, out->value, reads);
        bool ok = true;
        for (int i = 0; i < g->num_nodes && ok; i++)
            if (reads[i] && g->nodes[i]->op == GC_OP_INPUT && !needed[i]) ok = false;
        if (ok) {
            keep_output[o] = true;
            for (int i = 0; i < g->num_nodes; i++) needed[i] = needed[i] || reads[i];
        }
    }
    for (int i = 0; i < g->num_nodes; i++) {
        const gc_node *node = g->nodes[i];
        if (!needed[i]) continue;
        for (int k = 0; k < node->num_inputs; k++) operands[k] = copied[node->inputs[k]->id];
        if (!(copied[i] = gc_copy_node(dst, node, operands, err))) goto fail;
    }
    /* A model's own output named `prediction` is its choice of what to return. */
    if (!gc_graph_find_output(g, GC_OUTPUT_VALUE, "prediction") &&
        !gc_graph_add_output(dst, GC_OUTPUT_VALUE, "prediction", copied[prediction->id], err))
        goto fail;
    for (int o = 0; o < g->num_outputs; o++)
        if (keep_output[o] && !gc_graph_add_output(dst, GC_OUTPUT_VALUE, g->outputs[o].name,
                                                   copied[g->outputs[o].value->id], err))
            goto fail;
    free(needed);
    free(reads);
    free(keep_output);
    free(copied);
    free(operands);
    return dst;
fail:
    free(needed);
    free(reads);
    free(keep_output);
    free(copied);
    free(operands);
    gc_graph_free(dst);
    return NULL;
}
