/* rewrite.c: node copying and graph rebuilding for passes; see rewrite.h. */
#include "passes/rewrite.h"

#include <stdlib.h>

gc_node *gc_copy_node(gc_graph *dst, const gc_node *n, gc_node *const *inputs, gc_error *err) {
    const gc_op_info *info = gc_op_get(n->op);
    const char *layer = dst->layer;
    dst->layer = n->layer;
    gc_node *copy = gc_graph_make(dst, n->op, inputs, n->num_inputs, &n->attr,
                                  (info->flags & GC_FLAG_GIVEN) ? &n->type : NULL, n->name, n->loc, err);
    dst->layer = layer;
    if (copy) copy->recomputed = n->recomputed;
    return copy;
}

gc_graph *gc_graph_rebuild(const gc_graph *src, const bool *keep, const int *map, gc_error *err) {
    gc_graph *dst = gc_graph_new(src->name);
    gc_node **copied = calloc((size_t)src->num_nodes + 1, sizeof *copied);
    gc_node **operands = NULL;
    int max_inputs = 1;
    for (int i = 0; i < src->num_nodes; i++)
        if (src->nodes[i]->num_inputs > max_inputs) max_inputs = src->nodes[i]->num_inputs;
    operands = malloc(sizeof *operands * (size_t)max_inputs);
    if (!dst || !copied || !operands) {
        gc_failf(err, GC_ERR_MEMORY, "out of memory");
        goto fail;
    }
    for (int i = 0; i < src->num_nodes; i++) {
        const gc_node *n = src->nodes[i];
        if (map && map[i] != i) continue;
        if (keep && !keep[i]) continue;
        for (int k = 0; k < n->num_inputs; k++) {
            int id = n->inputs[k]->id;
            if (map) id = map[id];
            operands[k] = copied[id];
            if (!operands[k]) {
                gc_failf(err, GC_ERR_INTERNAL, "internal error: rebuild dropped %%%d which %%%d uses", id, i);
                goto fail;
            }
        }
        copied[i] = gc_copy_node(dst, n, operands, err);
        if (!copied[i]) goto fail;
    }
    for (int i = 0; i < src->num_outputs; i++) {
        const gc_graph_output *o = &src->outputs[i];
        int id = map ? map[o->value->id] : o->value->id;
        if (!copied[id]) {
            gc_failf(err, GC_ERR_INTERNAL, "internal error: rebuild dropped the value of output '%s'", o->name);
            goto fail;
        }
        if (!gc_graph_add_output(dst, o->kind, o->name, copied[id], err)) goto fail;
    }
    dst->updates_in_backward = src->updates_in_backward;
    free(copied);
    free(operands);
    return dst;
fail:
    free(copied);
    free(operands);
    gc_graph_free(dst);
    return NULL;
}
