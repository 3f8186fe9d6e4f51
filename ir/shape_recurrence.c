/*
 * shape_recurrence.c: the shape rules of recurrence and recurrence_grad (ir/recurrence.h).
 */
#include <stdio.h>

#include "ir/graph.h"
#include "ir/recurrence.h"

static int fail_types(const gc_node *n, gc_error *err, const char *what, const gc_type *a, const gc_type *b) {
    char sa[96] = "", sb[96] = "";
    gc_type_format(a, sa, sizeof sa);
    if (b) gc_type_format(b, sb, sizeof sb);
    return gc_fail(err, GC_ERR_USER, n->loc, "%s: %s %s%s%s", gc_op_table[n->op].name, what, sa, b ? " and " : "", sb);
}

static bool is_matrix(const gc_type *t, int64_t rows, int64_t cols, gc_dtype dtype) {
    return t->dtype == dtype && t->rank == 2 && t->dims[0] == rows && t->dims[1] == cols;
}

/* The checks both ops share: the cell, the operand count, w_hh [G*H, H] and the states [N, H]
 * (operands 3 and 4). Sets *hidden. */
static int check_common(const gc_node *n, int64_t batch, gc_dtype dtype, int64_t *hidden, gc_error *err) {
    int cell = n->attr.recurrence.cell;
    if (cell < 0 || cell >= GC_CELL_COUNT)
        return gc_fail(err, GC_ERR_USER, n->loc, "%s: cell %d is not 0 (rnn_tanh), 1 (rnn_relu), 2 (lstm) or 3 (gru)",
                       gc_op_table[n->op].name, cell);
    if (n->num_inputs != gc_cell_operands(cell))
        return gc_fail(err, GC_ERR_USER, n->loc, "%s: cell %d takes %d operands, got %d", gc_op_table[n->op].name, cell,
                       gc_cell_operands(cell), n->num_inputs);
    if (!gc_dtype_is_float(dtype))
        return fail_types(n, err, "needs float operands, got", &n->inputs[0]->type, NULL);
    const gc_type *w = &n->inputs[2 - (n->op == GC_OP_RECURRENCE)]->type;
    if (w->rank != 2 || w->dtype != dtype || w->dims[0] != gc_cell_gates(cell) * w->dims[1])
        return fail_types(n, err, "w_hh must be [gates * hidden, hidden] of the operands' dtype, got", w, NULL);
    int64_t h = w->dims[1];
    for (int k = 3; k < n->num_inputs; k++)
        if (!is_matrix(&n->inputs[k]->type, batch, h, dtype))
            return fail_types(n, err, "initial states must be [batch, hidden], got", &n->inputs[k]->type, w);
    *hidden = h;
    return 1;
}

int gc_shape_recurrence(const gc_node *n, gc_type *out, gc_error *err) {
    if (n->num_inputs < 4) return gc_fail(err, GC_ERR_USER, n->loc, "recurrence: needs at least 4 operands");
    const gc_type *x = &n->inputs[0]->type;
    if (x->rank != 3) return fail_types(n, err, "xproj must be [batch, time, gates * hidden], got", x, NULL);
    int64_t h;
    if (!check_common(n, x->dims[0], x->dtype, &h, err)) return 0;
    int cell = n->attr.recurrence.cell;
    if (x->dims[2] != gc_cell_gates(cell) * h)
        return fail_types(n, err, "xproj's last dim must be w_hh's rows:", x, &n->inputs[1]->type);
    const gc_type *bias = &n->inputs[2]->type;
    if (bias->rank != 1 || bias->dtype != x->dtype || bias->dims[0] != gc_cell_gates(cell) * h)
        return fail_types(n, err, "b_hh must be [gates * hidden], got", bias, NULL);
    *out = *x;
    out->dims[2] = gc_cell_packed(cell) * h;
    return 1;
}

int gc_shape_recurrence_grad(const gc_node *n, gc_type *out, gc_error *err) {
    if (n->num_inputs < 4) return gc_fail(err, GC_ERR_USER, n->loc, "recurrence_grad: needs at least 4 operands");
    const gc_type *p = &n->inputs[0]->type, *dp = &n->inputs[1]->type;
    if (p->rank != 3) return fail_types(n, err, "the packed result must be [batch, time, width], got", p, NULL);
    int64_t h;
    if (!check_common(n, p->dims[0], p->dtype, &h, err)) return 0;
    int cell = n->attr.recurrence.cell;
    if (p->dims[2] != gc_cell_packed(cell) * h || !gc_type_same_shape(p, dp) || dp->dtype != p->dtype)
        return fail_types(n, err, "the packed result and its adjoint must be [batch, time, packed width], got", p, dp);
    *out = *p;
    out->dims[1] = p->dims[1] + 1;
    out->dims[2] = gc_cell_grad_width(cell) * h;
    return 1;
}
