/*
 * verify.c: the graph verifier, gc_graph_verify (see text.h).
 *
 * gc_graph_make guarantees these invariants for a node when it is made; passes that rewrite
 * graphs in place (rewiring operands, replacing nodes, renumbering) can break them afterwards.
 * The verifier re-derives everything from scratch — including re-running each node's shape rule
 * on a copy — so a pass bug is reported at the pass that caused it rather than as a wrong number
 * three stages later. A failure is a bug in gradc, so it is GC_ERR_INTERNAL.
 */
#include <string.h>

#include "ir/text.h"

#define VFAIL(err, loc, ...) gc_fail((err), GC_ERR_INTERNAL, (loc), "verifier: " __VA_ARGS__)

static const gc_loc no_loc = {NULL, 0, 0};

/* True when n is the node at its own id's position in g (so it belongs to g). */
static bool in_graph(const gc_graph *g, const gc_node *n) {
    return n && n->id >= 0 && n->id < g->num_nodes && g->nodes[n->id] == n;
}

static int check_type(const gc_node *n, gc_error *err) {
    const gc_type *t = &n->type;
    const char *op = gc_op_table[n->op].name;
    if (t->rank < 0 || t->rank > GC_MAX_RANK)
        return VFAIL(err, n->loc, "%%%d (%s) has rank %d, outside 0..%d", n->id, op, t->rank, GC_MAX_RANK);
    if ((unsigned)t->dtype > GC_F64)
        return VFAIL(err, n->loc, "%%%d (%s) has an unknown dtype %d", n->id, op, (int)t->dtype);
    int64_t numel = 1;
    for (int i = 0; i < t->rank; i++) {
        if (t->dims[i] < 1 || t->dims[i] > GC_MAX_ELEMENTS)
            return VFAIL(err, n->loc, "%%%d (%s) has dimension %d of size %lld", n->id, op, i, (long long)t->dims[i]);
        numel *= t->dims[i]; /* both factors <= 2^40, checked each step: cannot overflow */
        if (numel > GC_MAX_ELEMENTS)
            return VFAIL(err, n->loc, "%%%d (%s) has more than 2^40 elements", n->id, op);
    }
    return 1;
}

static int check_operands(const gc_graph *g, const gc_node *n, gc_error *err) {
    const gc_op_info *info = &gc_op_table[n->op];
    bool arity_ok = info->arity >= 0 ? n->num_inputs == info->arity : n->num_inputs >= 1;
    if (!arity_ok)
        return VFAIL(err, n->loc, "%%%d (%s) has %d operands; the op takes %s%d", n->id, info->name, n->num_inputs,
                     info->arity < 0 ? "at least " : "", info->arity < 0 ? 1 : info->arity);
    if (n->num_inputs > 0 && !n->inputs)
        return VFAIL(err, n->loc, "%%%d (%s) has no operand array", n->id, info->name);
    for (int k = 0; k < n->num_inputs; k++) {
        const gc_node *in = n->inputs[k];
        if (!in) return VFAIL(err, n->loc, "operand %d of %%%d (%s) is NULL", k, n->id, info->name);
        if (!in_graph(g, in))
            return VFAIL(err, n->loc, "operand %d of %%%d (%s) is not a node of this graph", k, n->id, info->name);
        if (in->id >= n->id)
            return VFAIL(err, n->loc, "operand %d of %%%d (%s) is %%%d, which does not come before it", k, n->id,
                         info->name, in->id);
    }
    return 1;
}

static int check_name(const gc_graph *g, const gc_node *n, gc_error *err) {
    const gc_op_info *info = &gc_op_table[n->op];
    if (!(info->flags & GC_FLAG_NAMED)) {
        if (n->name) return VFAIL(err, n->loc, "%%%d (%s) carries a name but the op is not named", n->id, info->name);
        return 1;
    }
    if (!n->name || !*n->name) return VFAIL(err, n->loc, "%%%d (%s) has no name", n->id, info->name);
    const gc_node *first = gc_graph_find_named(g, n->op, n->name);
    if (first != n)
        return VFAIL(err, n->loc, "%s \"%.100s\" is defined twice (%%%d and %%%d)", info->name, n->name,
                     first ? first->id : -1, n->id);
    return 1;
}

/* Re-runs the shape rule on a copy, so a rule may rely on the fields it reads without the
 * verifier trusting the stored result type. */
static int check_shape(const gc_node *n, gc_error *err) {
    const gc_op_info *info = &gc_op_table[n->op];
    gc_node copy = *n;
    gc_type expect;
    gc_error sub;
    gc_error_clear(&sub);
    if (!info->shape(&copy, &expect, &sub))
        return VFAIL(err, n->loc, "%%%d (%s) fails its shape rule: %s", n->id, info->name, sub.message);
    if (!gc_type_equal(&expect, &n->type)) {
        char have[96], want[96];
        return VFAIL(err, n->loc, "%%%d (%s) has type %s but its shape rule gives %s", n->id, info->name,
                     gc_type_format(&n->type, have, sizeof have), gc_type_format(&expect, want, sizeof want));
    }
    return 1;
}

static int check_output(const gc_graph *g, int index, gc_error *err) {
    const gc_graph_output *o = &g->outputs[index];
    const char *kw = gc_output_kind_name(o->kind);
    if ((unsigned)o->kind > GC_OUTPUT_GRAD) return VFAIL(err, no_loc, "output %d has an unknown kind", index);
    if (!o->name || !*o->name) return VFAIL(err, no_loc, "%s %d has no name", kw, index);
    if (!in_graph(g, o->value))
        return VFAIL(err, no_loc, "%s \"%.100s\" does not name a node of this graph", kw, o->name);
    for (int j = 0; j < index; j++)
        if (g->outputs[j].kind == o->kind && g->outputs[j].name && strcmp(g->outputs[j].name, o->name) == 0)
            return VFAIL(err, no_loc, "%s \"%.100s\" is defined twice", kw, o->name);
    if (o->kind == GC_OUTPUT_VALUE) return 1;
    const gc_node *target = gc_graph_find_named(g, GC_OP_PARAM, o->name);
    if (!target && o->kind == GC_OUTPUT_UPDATE) target = gc_graph_find_named(g, GC_OP_STATE, o->name);
    if (!target)
        return VFAIL(err, no_loc, "%s \"%.100s\" names no %s", kw, o->name,
                     o->kind == GC_OUTPUT_UPDATE ? "param or state" : "param");
    if (!gc_type_equal(&target->type, &o->value->type)) {
        char a[96], b[96];
        return VFAIL(err, no_loc, "%s \"%.100s\" is %s but the %s is %s", kw, o->name,
                     gc_type_format(&o->value->type, a, sizeof a), gc_op_table[target->op].name,
                     gc_type_format(&target->type, b, sizeof b));
    }
    return 1;
}

int gc_graph_verify(const gc_graph *g, gc_error *err) {
    if (!g) return VFAIL(err, no_loc, "no graph");
    if (g->num_nodes < 0 || (g->num_nodes > 0 && !g->nodes))
        return VFAIL(err, no_loc, "the node list is broken (%d nodes)", g->num_nodes);
    if (g->num_outputs < 0 || (g->num_outputs > 0 && !g->outputs))
        return VFAIL(err, no_loc, "the output list is broken (%d outputs)", g->num_outputs);
    for (int i = 0; i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        if (!n) return VFAIL(err, no_loc, "node %d is NULL", i);
        if (n->id != i) return VFAIL(err, n->loc, "the node at position %d has id %%%d", i, n->id);
        if (!gc_op_get(n->op)) return VFAIL(err, n->loc, "%%%d has an unknown op %d", i, (int)n->op);
        /* Operands and the node's own type come first: the shape rule reads both. */
        if (!check_operands(g, n, err) || !check_type(n, err) || !check_name(g, n, err) || !check_shape(n, err))
            return 0;
    }
    for (int i = 0; i < g->num_outputs; i++)
        if (!check_output(g, i, err)) return 0;
    return 1;
}
