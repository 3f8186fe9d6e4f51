/*
 * dce.c: dead-code elimination. A node lives if an output uses it, directly or through other
 * nodes. Named sources (input, param, state) always stay: they are how callers bind data and
 * checkpoints to the graph, and dropping one would change its interface.
 */
#include <stdlib.h>

#include "passes/rewrite.h"

int gc_pass_dce(gc_graph **graph, gc_error *err) {
    gc_graph *g = *graph;
    bool *live = calloc((size_t)g->num_nodes + 1, sizeof *live);
    if (!live) return gc_failf(err, GC_ERR_MEMORY, "out of memory");
    for (int i = 0; i < g->num_outputs; i++) live[g->outputs[i].value->id] = true;
    for (int i = g->num_nodes - 1; i >= 0; i--) {
        gc_node *n = g->nodes[i];
        if (gc_op_table[n->op].flags & GC_FLAG_NAMED) live[i] = true;
        if (!live[i]) continue;
        for (int k = 0; k < n->num_inputs; k++) live[n->inputs[k]->id] = true;
    }
    int dead = 0;
    for (int i = 0; i < g->num_nodes; i++) dead += !live[i];
    if (dead == 0) {
        free(live);
        return 1;
    }
    gc_graph *out = gc_graph_rebuild(g, live, NULL, err);
    free(live);
    if (!out) return 0;
    gc_graph_free(g);
    *graph = out;
    return 1;
}
