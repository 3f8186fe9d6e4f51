/*
 * simplify.c: algebraic identities that make a node its operand's value — x * 1, x / 1, x + 0,
 * x - 0 (the constant of any shape that broadcasts into x's), a reshape to the operand's own
 * type or back to the type the reshape before it started from, a permute by the identity, and a
 * permute undoing the permute before it. Each such node
 * is replaced by the value it equals and dropped, so later passes and the code generator never
 * see it. The result must have x's exact type (dtype and shape): a node that broadcasts or
 * converts is not an identity. x + 0 gives x bit for bit except that -0 + 0 is +0; the others
 * are exact. An output is never replaced by a named source: updates and outputs would then
 * share bytes the runtime writes after the step.
 *
 * Constant folding: a float elementwise op whose operands are all constants (uniform fills, as
 * `constant` is) becomes a constant itself, its value computed in double and rounded to its
 * dtype once. An optimizer's products of hyperparameters (1 - lr * weight_decay, 1 - beta) then
 * cost nothing per step. The value can differ from step-time f32 arithmetic in the last bit.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

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
        /* A reshape back to what a reshape started from (a linear layer's flatten after the
         * reshape that unflattened its result) is that value. */
        x = a->op == GC_OP_RESHAPE ? a->inputs[0] : a;
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

/* The value of float elementwise op n over constant operands a (and b), or false when n is not
 * one this folds. */
static bool fold(const gc_node *n, double *out) {
    if (!gc_dtype_is_float(n->type.dtype) || gc_op_table[n->op].op_class != GC_CLASS_ELEMENTWISE) return false;
    if (n->num_inputs < 1 || n->num_inputs > 2) return false;
    double v[2] = {0, 0};
    for (int k = 0; k < n->num_inputs; k++) {
        const gc_node *x = n->inputs[k];
        if (x->op != GC_OP_CONSTANT || !gc_dtype_is_float(x->type.dtype)) return false;
        v[k] = x->attr.scalar.value;
    }
    double a = v[0], b = v[1];
    switch (n->op) {
    case GC_OP_ADD: *out = a + b; break;
    case GC_OP_SUB: *out = a - b; break;
    case GC_OP_MUL: *out = a * b; break;
    case GC_OP_DIV: *out = a / b; break;
    case GC_OP_NEG: *out = -a; break;
    case GC_OP_SQRT: *out = sqrt(a); break;
    case GC_OP_RSQRT: *out = 1.0 / sqrt(a); break;
    case GC_OP_RECIPROCAL: *out = 1.0 / a; break;
    case GC_OP_EXP: *out = exp(a); break;
    case GC_OP_LOG: *out = log(a); break;
    case GC_OP_SQUARE: *out = a * a; break;
    default: return false;
    }
    if (n->type.dtype == GC_F32) *out = (double)(float)*out;
    return true;
}

static bool is_output_value(const gc_graph *g, const gc_node *n) {
    for (int i = 0; i < g->num_outputs; i++)
        if (g->outputs[i].value == n) return true;
    return false;
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
        gc_node *n = g->nodes[i];
        double value;
        if (fold(n, &value)) {
            /* The node becomes the constant it equals; DCE drops operands nobody else reads. */
            n->op = GC_OP_CONSTANT;
            n->num_inputs = 0;
            memset(&n->attr, 0, sizeof n->attr);
            n->attr.scalar.value = value;
            continue;
        }
        const gc_node *x = identity_of(n);
        if (!x) continue;
        if ((gc_op_table[g->nodes[map[x->id]]->op].flags & GC_FLAG_NAMED) && is_output_value(g, n)) continue;
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
