/*
 * verify.c: the graph verifier, gc_graph_verify (see text.h).
 *
 * gc_graph_make guarantees these invariants for a node when it is made; passes that rewrite
 * graphs in place (rewiring operands, replacing nodes, renumbering) can break them afterwards.
 * The verifier re-derives everything from scratch — including re-running each node's shape rule
 * on a copy — so a pass bug is reported at the pass that caused it rather than as a wrong number
 * three stages later. A failure is a bug in gradc, so it is GC_ERR_INTERNAL.
 */
#include <stdlib.h>
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

static int check_name(const gc_node *n, gc_error *err) {
    const gc_op_info *info = &gc_op_table[n->op];
    if (!(info->flags & GC_FLAG_NAMED)) {
        if (n->name) return VFAIL(err, n->loc, "%%%d (%s) carries a name but the op is not named", n->id, info->name);
        return 1;
    }
    if (!n->name || !*n->name) return VFAIL(err, n->loc, "%%%d (%s) has no name", n->id, info->name);
    return 1;
}

/* bf16 (mixed precision) rounds f32 operands: an f64 product has none to round. */
static int check_precision(const gc_node *n, gc_error *err) {
    bool conv = n->op == GC_OP_CONV || n->op == GC_OP_CONV_INPUT_GRAD || n->op == GC_OP_CONV_WEIGHT_GRAD;
    bool bf16 = n->op == GC_OP_MATMUL ? n->attr.matmul.bf16 : conv && n->attr.conv.bf16;
    if (bf16 && n->type.dtype != GC_F32)
        return VFAIL(err, n->loc, "%%%d (%s) is bf16 but not f32: only f32 products take bf16 operands", n->id,
                     gc_op_table[n->op].name);
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

/* Named sources sorted by (op, name, id): duplicates become neighbours and an output's target is
 * a binary search away, so verifying stays O(n log n) on graphs with thousands of params. */
static int compare_named(const void *pa, const void *pb) {
    const gc_node *a = *(const gc_node *const *)pa, *b = *(const gc_node *const *)pb;
    if (a->op != b->op) return a->op < b->op ? -1 : 1;
    int c = strcmp(a->name, b->name);
    if (c) return c;
    return (a->id > b->id) - (a->id < b->id);
}

static const gc_node *find_named(const gc_node **sorted, int count, gc_op op, const char *name) {
    int lo = 0, hi = count;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        const gc_node *m = sorted[mid];
        int c = m->op != op ? (m->op < op ? -1 : 1) : strcmp(m->name, name);
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo < count && sorted[lo]->op == op && strcmp(sorted[lo]->name, name) == 0 ? sorted[lo] : NULL;
}

static int compare_outputs(const void *pa, const void *pb) {
    const gc_graph_output *a = *(const gc_graph_output *const *)pa, *b = *(const gc_graph_output *const *)pb;
    if (a->kind != b->kind) return a->kind < b->kind ? -1 : 1;
    int c = strcmp(a->name, b->name);
    if (c) return c;
    return (a > b) - (a < b);
}

static int check_output(const gc_graph *g, const gc_graph_output *o, const gc_node **named, int num_named,
                        gc_error *err) {
    const char *kw = gc_output_kind_name(o->kind);
    if (!in_graph(g, o->value))
        return VFAIL(err, no_loc, "%s \"%.100s\" does not name a node of this graph", kw, o->name);
    if (o->kind == GC_OUTPUT_VALUE) return 1;
    const gc_node *target = find_named(named, num_named, GC_OP_PARAM, o->name);
    if (!target && o->kind == GC_OUTPUT_UPDATE) target = find_named(named, num_named, GC_OP_STATE, o->name);
    if (!target && o->kind == GC_OUTPUT_UPDATE) target = find_named(named, num_named, GC_OP_BUFFER, o->name);
    if (!target)
        return VFAIL(err, no_loc, "%s \"%.100s\" names no %s", kw, o->name,
                     o->kind == GC_OUTPUT_UPDATE ? "param, state or buffer" : "param");
    if (!gc_type_equal(&target->type, &o->value->type)) {
        char a[96], b[96];
        return VFAIL(err, no_loc, "%s \"%.100s\" is %s but the %s is %s", kw, o->name,
                     gc_type_format(&o->value->type, a, sizeof a), gc_op_table[target->op].name,
                     gc_type_format(&target->type, b, sizeof b));
    }
    return 1;
}

/* Uniqueness of source names and every output: run once the nodes themselves are known good. */
static int check_names_and_outputs(const gc_graph *g, gc_error *err) {
    for (int i = 0; i < g->num_outputs; i++) {
        const gc_graph_output *o = &g->outputs[i];
        if ((unsigned)o->kind > GC_OUTPUT_GRAD) return VFAIL(err, no_loc, "output %d has an unknown kind", i);
        if (!o->name || !*o->name) return VFAIL(err, no_loc, "%s %d has no name", gc_output_kind_name(o->kind), i);
    }
    const gc_node **named = malloc(sizeof *named * (size_t)(g->num_nodes + 1));
    const gc_graph_output **outs = malloc(sizeof *outs * (size_t)(g->num_outputs + 1));
    int num_named = 0, ok = 1;
    if (!named || !outs) {
        ok = gc_failf(err, GC_ERR_MEMORY, "out of memory");
        goto done;
    }
    for (int i = 0; i < g->num_nodes; i++)
        if (gc_op_table[g->nodes[i]->op].flags & GC_FLAG_NAMED) named[num_named++] = g->nodes[i];
    qsort(named, (size_t)num_named, sizeof *named, compare_named);
    for (int i = 1; i < num_named && ok; i++)
        if (named[i]->op == named[i - 1]->op && strcmp(named[i]->name, named[i - 1]->name) == 0)
            ok = VFAIL(err, named[i]->loc, "%s \"%.100s\" is defined twice (%%%d and %%%d)",
                       gc_op_table[named[i]->op].name, named[i]->name, named[i - 1]->id, named[i]->id);
    /* A buffer shares no name with a param or state: an update of that name would write both. */
    for (int i = 0; i < num_named && ok; i++) {
        const gc_node *n = named[i];
        if (n->op != GC_OP_BUFFER) continue;
        const gc_node *other = find_named(named, num_named, GC_OP_PARAM, n->name);
        if (!other) other = find_named(named, num_named, GC_OP_STATE, n->name);
        if (other)
            ok = VFAIL(err, n->loc, "buffer \"%.100s\" (%%%d) has the name of %s %%%d", n->name, n->id,
                       gc_op_table[other->op].name, other->id);
    }
    for (int i = 0; i < g->num_outputs; i++) outs[i] = &g->outputs[i];
    qsort(outs, (size_t)g->num_outputs, sizeof *outs, compare_outputs);
    for (int i = 1; i < g->num_outputs && ok; i++)
        if (outs[i]->kind == outs[i - 1]->kind && strcmp(outs[i]->name, outs[i - 1]->name) == 0)
            ok = VFAIL(err, no_loc, "%s \"%.100s\" is defined twice", gc_output_kind_name(outs[i]->kind),
                       outs[i]->name);
    for (int i = 0; i < g->num_outputs && ok; i++) ok = check_output(g, &g->outputs[i], named, num_named, err);
done:
    free(named);
    free(outs);
    return ok;
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
        if (!check_operands(g, n, err) || !check_type(n, err) || !check_name(n, err) || !check_shape(n, err) ||
            !check_precision(n, err))
            return 0;
    }
    return check_names_and_outputs(g, err);
}
