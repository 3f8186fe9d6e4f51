/* remat.c: masks computed again by each reader; see remat.h. */
#include "passes/remat.h"

#include <stdlib.h>

#include "passes/rewrite.h"

/* The most mask nodes one copy brings with it: a mask made of a few others is copied whole for
 * each reader, a long chain of them is not (its copies would outgrow what they save). */
#define REMAT_MAX_NODES 8

/* A one_hot, or an elementwise value whose operands are masks or at most an eighth of its size,
 * one at least a mask. size[i]: the mask nodes a copy of i brings (i included), capped. */
static void find_masks(const gc_graph *g, bool *mask, int *size) {
    for (int i = 0; i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        mask[i] = n->op == GC_OP_ONE_HOT;
        size[i] = 1;
        if (mask[i] || gc_op_table[n->op].op_class != GC_CLASS_ELEMENTWISE || (gc_op_table[n->op].flags & GC_FLAG_NAMED) ||
            n->op == GC_OP_CONSTANT || n->op == GC_OP_IOTA || n->op == GC_OP_RANDOM_UNIFORM ||
            n->op == GC_OP_STOP_GRADIENT || n->num_inputs < 1 || n->num_inputs > 3)
            continue;
        int64_t numel = gc_type_numel(&n->type);
        bool any = false, small = true;
        for (int k = 0; k < n->num_inputs; k++) {
            const gc_node *x = n->inputs[k];
            if (mask[x->id]) {
                any = true;
                size[i] += size[x->id];
            } else if (gc_type_numel(&x->type) * 8 > numel) {
                small = false;
            }
        }
        mask[i] = any && small;
        if (size[i] > REMAT_MAX_NODES) size[i] = REMAT_MAX_NODES + 1;
    }
}

typedef struct remat {
    const gc_graph *g;
    gc_graph *dst;
    gc_node **copied; /* per node of g: its copy in dst */
    const bool *mask;
    int made;
} remat;

/* A fresh copy of mask y in dst, over fresh copies of its own mask operands. */
static gc_node *fresh(remat *r, int y, gc_error *err) {
    const gc_node *n = r->g->nodes[y];
    gc_node *in[3];
    for (int k = 0; k < n->num_inputs; k++) {
        int x = n->inputs[k]->id;
        if (!(in[k] = r->mask[x] ? fresh(r, x, err) : r->copied[x])) return NULL;
    }
    gc_node *c = gc_copy_node(r->dst, n, in, err);
    if (c) r->made++;
    return c;
}

int gc_remat_masks(gc_graph **graph, int *copies, gc_error *err) {
    const gc_graph *g = *graph;
    int n = g->num_nodes, max_inputs = 1;
    if (copies) *copies = 0;
    bool *mask = malloc(((size_t)n + 1) * sizeof *mask);
    int *size = malloc(((size_t)n + 1) * sizeof *size), *first = malloc(((size_t)n + 1) * sizeof *first);
    if (!mask || !size || !first) {
        free(mask), free(size), free(first);
        return gc_failf(err, GC_ERR_MEMORY, "out of memory");
    }
    find_masks(g, mask, size);
    /* Which masks another reader reads after the first: only those are copied. */
    bool any = false;
    for (int i = 0; i < n; i++) first[i] = -1;
    for (int i = 0; i < n; i++) {
        const gc_node *x = g->nodes[i];
        if (x->num_inputs > max_inputs) max_inputs = x->num_inputs;
        for (int k = 0; k < x->num_inputs; k++) {
            int y = x->inputs[k]->id;
            if (first[y] < 0) first[y] = i;
            else if (first[y] != i && mask[y] && size[y] <= REMAT_MAX_NODES) any = true;
        }
    }
    if (!any) {
        free(mask), free(size), free(first);
        return 1;
    }
    remat r = {g, gc_graph_new(g->name), calloc((size_t)n + 1, sizeof(gc_node *)), mask, 0};
    gc_node **operands = malloc((size_t)max_inputs * sizeof *operands);
    bool ok = r.dst && r.copied && operands;
    if (!ok) gc_failf(err, GC_ERR_MEMORY, "out of memory");
    for (int i = 0; ok && i < n; i++) {
        const gc_node *x = g->nodes[i];
        for (int k = 0; ok && k < x->num_inputs; k++) {
            int y = x->inputs[k]->id;
            bool again = mask[y] && size[y] <= REMAT_MAX_NODES && first[y] != i;
            ok = (operands[k] = again ? fresh(&r, y, err) : r.copied[y]) != NULL;
        }
        ok = ok && (r.copied[i] = gc_copy_node(r.dst, x, operands, err)) != NULL;
    }
    for (int i = 0; ok && i < g->num_outputs; i++) {
        const gc_graph_output *o = &g->outputs[i];
        ok = gc_graph_add_output(r.dst, o->kind, o->name, r.copied[o->value->id], err) != 0;
    }
    free(mask), free(size), free(first), free(operands), free(r.copied);
    if (!ok) {
        gc_graph_free(r.dst);
        return 0;
    }
    r.dst->updates_in_backward = g->updates_in_backward;
    gc_graph_free(*graph);
    *graph = r.dst;
    if (copies) *copies = r.made;
    return 1;
}

int gc_pass_remat_masks(gc_graph **graph, gc_error *err) { return gc_remat_masks(graph, NULL, err); }
