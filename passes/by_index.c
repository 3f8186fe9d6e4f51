/* by_index.c: row reductions over a one_hot mask done by index; see by_index.h. */
#include "passes/by_index.h"

#include <stdint.h>
#include <stdlib.h>

#include "ir/build.h"
#include "passes/manager.h"
#include "passes/rewrite.h"

typedef enum pick_kind {
    PICK_NONE,
    PICK_FLAT,  /* x has the mask's shape: one element of each row */
    PICK_CLASS, /* x is one value per class, broadcast over the rows */
    PICK_ROW,   /* x is constant along the class axis: the row's value where t is in range */
} pick_kind;

static bool is_zero_constant(const gc_node *n) {
    return n->op == GC_OP_CONSTANT && gc_type_numel(&n->type) == 1 && n->attr.scalar.value == 0.0;
}

/* Whether n is sum(select(one_hot(t), x, 0)) over the mask's last axis alone, and which of the
 * rewrites fits x; *t and *x get the one_hot's index and the selected value. */
static pick_kind match_pick(const gc_node *n, const gc_node **t, const gc_node **x) {
    if (n->op != GC_OP_SUM || n->num_inputs != 1) return PICK_NONE;
    const gc_node *s = n->inputs[0];
    if (s->op != GC_OP_SELECT || !gc_dtype_is_float(s->type.dtype)) return PICK_NONE;
    const gc_node *hot = s->inputs[0];
    int rank = s->type.rank;
    if (hot->op != GC_OP_ONE_HOT || rank < 1 || n->attr.reduce.axes != 1u << (rank - 1) ||
        !gc_type_same_shape(&hot->type, &s->type) || !is_zero_constant(s->inputs[2]))
        return PICK_NONE;
    *t = hot->inputs[0];
    *x = s->inputs[1];
    const gc_type *xt = &(*x)->type;
    int64_t classes = s->type.dims[rank - 1];
    if (gc_type_same_shape(xt, &s->type)) {
        int64_t flat = gc_type_numel(&s->type);
        return flat <= INT32_MAX ? PICK_FLAT : PICK_NONE;
    }
    if (xt->rank == 1 && xt->dims[0] == classes && rank > 1) return PICK_CLASS;
    if (xt->rank == 0 || xt->dims[xt->rank - 1] == 1) return PICK_ROW;
    return PICK_NONE;
}

/* 1 (f32) where the i32 index t names one of `classes`, 0 where it does not. */
static gc_node *in_range(gc_builder *b, gc_node *t, int64_t classes) {
    gc_node *ge = gc_binary(b, GC_OP_GE, t, gc_scalar(b, GC_I32, 0.0));
    return gc_binary(b, GC_OP_MUL, ge, gc_binary(b, GC_OP_LT, t, gc_scalar(b, GC_I32, (double)classes)));
}

/* The value of sum n (matched as `kind`) built in b's graph from t and x there. */
static gc_node *pick(gc_builder *b, const gc_node *n, pick_kind kind, gc_node *t, gc_node *x) {
    const gc_type *mask = &n->inputs[0]->type;
    int64_t classes = mask->dims[mask->rank - 1], rows = gc_type_numel(&t->type);
    gc_node *r = NULL;
    if (kind == PICK_FLAT) {
        /* Element row * classes + t of x read as one long vector; -1 (a zero) outside. */
        gc_node *tf = gc_reshape(b, t, 1, &rows);
        gc_attr along = {0};
        along.axis.axis = 0;
        gc_type row_type = {.dtype = GC_I32, .rank = 1, .dims = {rows}};
        gc_node *row = gc_build(b, GC_OP_IOTA, NULL, 0, &along, &row_type);
        gc_node *flat = gc_binary(b, GC_OP_ADD, gc_binary(b, GC_OP_MUL, row, gc_scalar(b, GC_I32, (double)classes)), tf);
        gc_node *index = gc_select(b, in_range(b, tf, classes), flat, gc_scalar(b, GC_I32, -1.0));
        int64_t total = gc_type_numel(mask);
        gc_node *in[2] = {gc_reshape(b, x, 1, &total), index};
        r = gc_build(b, GC_OP_TAKE, in, 2, NULL, NULL);
    } else if (kind == PICK_CLASS) {
        gc_node *in[2] = {x, t};
        r = gc_build(b, GC_OP_TAKE, in, 2, NULL, NULL); /* out-of-range rows read 0 */
    } else {
        gc_type row_shape = *mask;
        row_shape.dims[row_shape.rank - 1] = 1;
        gc_node *xr = gc_reshape(b, gc_broadcast_to(b, x, &row_shape), t->type.rank, t->type.dims);
        r = gc_select(b, in_range(b, t, classes), xr, gc_scalar(b, x->type.dtype, 0.0));
    }
    return gc_reshape(b, r, n->type.rank, n->type.dims);
}

/* For add node n: the operand that is a scatter_add read by n alone, with the add's type, the
 * other operand of that type too (no broadcast); -1 when n is no such add. */
static int scatter_operand(const gc_node *n, const int *readers) {
    if (n->op != GC_OP_ADD || n->num_inputs != 2 || n->inputs[0] == n->inputs[1]) return -1;
    for (int k = 0; k < 2; k++) {
        const gc_node *s = n->inputs[k], *base = n->inputs[1 - k];
        if (s->op == GC_OP_SCATTER_ADD && readers[s->id] == 1 && gc_type_equal(&s->type, &n->type) &&
            gc_type_equal(&base->type, &n->type))
            return k;
    }
    return -1;
}

static gc_node *copy_of(gc_graph *dst, const gc_node *node, gc_node **copied, gc_node **operands, gc_error *err) {
    for (int k = 0; k < node->num_inputs; k++) operands[k] = copied[node->inputs[k]->id];
    return copied[node->id] = gc_copy_node(dst, node, operands, err);
}

int gc_by_index(gc_graph **graph, int *rewritten, gc_error *err) {
    const gc_graph *g = *graph;
    int n = g->num_nodes, max_inputs = 3, count = 0;
    if (rewritten) *rewritten = 0;
    int *readers = calloc((size_t)n + 1, sizeof *readers), *side = malloc(((size_t)n + 1) * sizeof *side);
    bool *defer = calloc((size_t)n + 1, sizeof *defer);
    if (!readers || !side || !defer) {
        free(readers), free(side), free(defer);
        return gc_failf(err, GC_ERR_MEMORY, "out of memory");
    }
    for (int i = 0; i < g->num_outputs; i++) readers[g->outputs[i].value->id]++;
    for (int i = 0; i < n; i++) {
        const gc_node *x = g->nodes[i];
        if (x->num_inputs > max_inputs) max_inputs = x->num_inputs;
        for (int k = 0; k < x->num_inputs; k++) readers[x->inputs[k]->id]++;
    }
    for (int i = 0; i < n; i++) {
        const gc_node *node = g->nodes[i], *t, *x;
        if (match_pick(node, &t, &x) != PICK_NONE) count++;
        if ((side[i] = scatter_operand(node, readers)) >= 0) {
            count++;
            /* A product only this sum reads is computed right before it, as the GEMM that added
             * onto the scatter's bytes was: its operands (M3: the logits' gradient) live that
             * long anyway, and the gradient's bytes are not held through the rest of backward. */
            const gc_node *base = node->inputs[1 - side[i]];
            defer[base->id] = base->op == GC_OP_MATMUL && readers[base->id] == 1;
        }
    }
    if (!count) {
        free(readers), free(side), free(defer);
        return 1;
    }
    gc_graph *dst = gc_graph_new(g->name);
    gc_node **copied = calloc((size_t)n + 1, sizeof *copied);
    gc_node **operands = malloc((size_t)max_inputs * sizeof *operands);
    bool ok = dst && copied && operands;
    if (!ok) gc_failf(err, GC_ERR_MEMORY, "out of memory");
    for (int i = 0; ok && i < n; i++) {
        const gc_node *node = g->nodes[i], *t, *x;
        if (defer[i]) continue;
        pick_kind kind = match_pick(node, &t, &x);
        if (kind == PICK_NONE && side[i] < 0) {
            ok = copy_of(dst, node, copied, operands, err) != NULL;
            continue;
        }
        const char *layer = dst->layer;
        dst->layer = node->layer;
        gc_builder b = {dst, node->loc, err};
        if (kind != PICK_NONE) {
            ok = (copied[i] = pick(&b, node, kind, copied[t->id], copied[x->id])) != NULL;
        } else {
            /* add(base, scatter_add(u, idx)) = index_add(base, u, idx): the scatter's rows are
             * added onto base in index order, with no zero-filled buffer of the base's size. */
            const gc_node *s = node->inputs[side[i]], *base = node->inputs[1 - side[i]];
            if (defer[base->id]) ok = copy_of(dst, base, copied, operands, err) != NULL;
            gc_node *in[3] = {copied[base->id], copied[s->inputs[0]->id], copied[s->inputs[1]->id]};
            ok = ok && (copied[i] = gc_build(&b, GC_OP_INDEX_ADD, in, 3, NULL, NULL)) != NULL;
        }
        dst->layer = layer;
    }
    for (int i = 0; ok && i < g->num_outputs; i++) {
        const gc_graph_output *o = &g->outputs[i];
        ok = gc_graph_add_output(dst, o->kind, o->name, copied[o->value->id], err) != 0;
    }
    free(copied), free(operands), free(readers), free(side), free(defer);
    if (!ok) {
        gc_graph_free(dst);
        return 0;
    }
    dst->updates_in_backward = g->updates_in_backward;
    /* The masks, selects and scatters only the rewritten nodes read are dead now. */
    if (!gc_run_pipeline(&dst, "dce", NULL, err)) {
        gc_graph_free(dst);
        return 0;
    }
    gc_graph_free(*graph);
    *graph = dst;
    if (rewritten) *rewritten = count;
    return 1;
}

int gc_pass_by_index(gc_graph **graph, gc_error *err) { return gc_by_index(graph, NULL, err); }
