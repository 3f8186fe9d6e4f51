/*
 * simplify.c: algebraic identities that make a node its operand's value — x * 1, x / 1, x + 0,
 * x - 0 (the constant of any shape that broadcasts into x's), a reshape to the operand's own
 * type, a permute by the identity, and a permute undoing the permute before it. Each such node
 * is replaced by the value it equals and dropped, so later passes and the code generator never
 * see it. The result must have x's exact type (dtype and shape): a node that broadcasts or
 * converts is not an identity. x + 0 gives x bit for bit except that -0 + 0 is +0; the others
 * are exact.
 */
#include <stdlib.h>

#include "passes/rewrite.h"

static bool is_constant(const gc_node *n, double value) {
    return n->op == GC_OP_CONSTANT && n->attr.scalar.value == value;
}

/* The operand n equals, or NULL. */
static const gc_node *identity_of(const gc_node *n) {
    const gc_node *a = n->num_inputs > 0 ? n->inputs[0] : NULL, *b = n->num_inputs > 1 ? n->inputs[1] : NULL;
    const gc_node *x = NULL;
    switch (n->op) {
    case GC_OP_MUL:
        x = is_constant(b, 1.0) ? a : is_constant(a, 1.0) ? b : NULL;
        break;
    case GC_OP_ADD:
        x = is_constant(b, 0.0) ? a : is_constant(a, 0.0) ? b : NULL;
        break;
    case GC_OP_DIV:
        x = is_constant(b, 1.0) ? a : NULL;
        break;
    case GC_OP_SUB:
        x = is_constant(b, 0.0) ? a : NULL;
        break;
    case GC_OP_RESHAPE:
        x = a;
        break;
    case GC_OP_PERMUTE: {
        bool identity = true;
        for (int d = 0; d < n->type.rank; d++) identity = identity && n->attr.permute.perm[d] == d;
        if (identity) {
            x = a;
        } else if (a->op == GC_OP_PERMUTE) {
            /* permute(permute(y, p), q) is y when p[q[d]] == d for every d. */
            bool undo = true;
            for (int d = 0; d < n->type.rank; d++) undo = undo && a->attr.permute.perm[n->attr.permute.perm[d]] == d;
            if (undo) x = a->inputs[0];
        }
        break;
    }
    default:
        break;
    }
    return x && gc_type_equal(&x->type, &n->type) ? x : NULL;
}

int gc_pass_simplify(gc_graph **graph, gc_error *err) {
    gc_graph *g = *graph;
    size_t count = (size_t)g->num_nodes + 1;
    bool *keep = malloc(count * sizeof *keep);
    int *map = malloc(count * sizeof *map);
    if (!keep || !map) {
        free(keep);
        free(map);
        return gc_failf(err, GC_ERR_MEMORY, "out of memory");
    }
    int dropped = 0;
    for (int i = 0; i < g->num_nodes; i++) {
        keep[i] = true;
        map[i] = i;
        const gc_node *x = identity_of(g->nodes[i]);
        if (!x) continue;
        /* Chains collapse: x may itself have been replaced. */
        map[i] = map[x->id];
        keep[i] = false;
        dropped++;
    }
    if (!dropped) {
        free(keep);
        free(map);
        return 1;
    }
    gc_graph *out = gc_graph_rebuild(g, keep, map, err);
    free(keep);
    free(map);
    if (!out) return 0;
    gc_graph_free(g);
    *graph = out;
    return 1;
}
