/*
 * shape.c: the shape rules named by the `shape` column of ops.def.
 *
 * Each rule checks operand dtypes, attribute ranges and shapes, and computes the result type. Axes
 * in the IR are already normalised (0 <= axis < rank): the frontend resolves negative axes, so a
 * printed graph says exactly which dim an op touches. Messages name the op and the types involved,
 * as the model language's errors promise.
 */
#include <stdio.h>
#include <string.h>

#include "ir/graph.h"

#define OPNAME(n) (gc_op_table[(n)->op].name)

static int shape_error(const gc_node *n, gc_error *err, const char *fmt, const gc_type *a,
                       const gc_type *b) {
    char sa[96] = "", sb[96] = "", msg[400];
    if (a) gc_type_format(a, sa, sizeof sa);
    if (b) gc_type_format(b, sb, sizeof sb);
    snprintf(msg, sizeof msg, fmt, sa, sb);
    return gc_fail(err, GC_ERR_USER, n->loc, "%s: %s", OPNAME(n), msg);
}

static int attr_error(const gc_node *n, gc_error *err, const char *what, long long value, int rank) {
    return gc_fail(err, GC_ERR_USER, n->loc, "%s: %s %lld is out of range for rank %d", OPNAME(n),
                   what, value, rank);
}

static const gc_type *operand(const gc_node *n, int i) { return &n->inputs[i]->type; }

int gc_shape_source(const gc_node *n, gc_type *out, gc_error *err) {
    (void)err;
    *out = n->type;
    return 1;
}

int gc_shape_iota(const gc_node *n, gc_type *out, gc_error *err) {
    if (n->attr.axis.axis < 0 || n->attr.axis.axis >= n->type.rank)
        return attr_error(n, err, "axis", n->attr.axis.axis, n->type.rank);
    *out = n->type;
    return 1;
}

int gc_shape_random(const gc_node *n, gc_type *out, gc_error *err) {
    const gc_type *c = operand(n, 0);
    if (c->dtype != GC_I32 || c->rank != 0)
        return shape_error(n, err, "the counter must be i32[], got %s", c, NULL);
    if (!gc_dtype_is_float(n->type.dtype))
        return shape_error(n, err, "the result must be a float type, got %s", &n->type, NULL);
    *out = n->type;
    return 1;
}

int gc_shape_unary(const gc_node *n, gc_type *out, gc_error *err) {
    (void)err;
    *out = *operand(n, 0);
    return 1;
}

int gc_shape_unary_float(const gc_node *n, gc_type *out, gc_error *err) {
    if (!gc_dtype_is_float(operand(n, 0)->dtype))
        return shape_error(n, err, "needs a float operand, got %s", operand(n, 0), NULL);
    *out = *operand(n, 0);
    return 1;
}

int gc_shape_cast(const gc_node *n, gc_type *out, gc_error *err) {
    if (!gc_type_same_shape(operand(n, 0), &n->type))
        return shape_error(n, err, "cannot change shape: %s to %s", operand(n, 0), &n->type);
    *out = n->type;
    return 1;
}

static int broadcast_pair(const gc_node *n, const gc_type *a, const gc_type *b, gc_type *out,
                          gc_error *err) {
    if (a->dtype != b->dtype)
        return shape_error(n, err, "operand dtypes differ: %s and %s", a, b);
    if (!gc_broadcast_shapes(a, b, out))
        return shape_error(n, err, "cannot broadcast %s with %s", a, b);
    return 1;
}

int gc_shape_binary(const gc_node *n, gc_type *out, gc_error *err) {
    return broadcast_pair(n, operand(n, 0), operand(n, 1), out, err);
}

int gc_shape_compare(const gc_node *n, gc_type *out, gc_error *err) {
    if (!broadcast_pair(n, operand(n, 0), operand(n, 1), out, err)) return 0;
    out->dtype = GC_F32;
    return 1;
}

int gc_shape_select(const gc_node *n, gc_type *out, gc_error *err) {
    const gc_type *c = operand(n, 0);
    if (!gc_dtype_is_float(c->dtype))
        return shape_error(n, err, "the condition must be float (0 or 1), got %s", c, NULL);
    gc_type ab;
    if (!broadcast_pair(n, operand(n, 1), operand(n, 2), &ab, err)) return 0;
    gc_type cond = *c;
    cond.dtype = ab.dtype;
    if (!gc_broadcast_shapes(&cond, &ab, out))
        return shape_error(n, err, "cannot broadcast the condition %s with %s", c, &ab);
    return 1;
}

static int reduce_common(const gc_node *n, gc_type *out, gc_error *err) {
    const gc_type *x = operand(n, 0);
    uint32_t axes = n->attr.reduce.axes;
    if (x->rank < 32 && (axes >> x->rank) != 0)
        return gc_fail(err, GC_ERR_USER, n->loc, "%s: axes name a dim beyond rank %d", OPNAME(n), x->rank);
    gc_type r;
    memset(&r, 0, sizeof r);
    r.dtype = x->dtype;
    for (int i = 0; i < x->rank; i++) {
        if (axes & (1u << i)) {
            if (n->attr.reduce.keepdims) r.dims[r.rank++] = 1;
        } else {
            r.dims[r.rank++] = x->dims[i];
        }
    }
    *out = r;
    return 1;
}

int gc_shape_reduce(const gc_node *n, gc_type *out, gc_error *err) { return reduce_common(n, out, err); }

int gc_shape_reduce_float(const gc_node *n, gc_type *out, gc_error *err) {
    if (!gc_dtype_is_float(operand(n, 0)->dtype))
        return shape_error(n, err, "needs a float operand, got %s", operand(n, 0), NULL);
    return reduce_common(n, out, err);
}

int gc_shape_argmax(const gc_node *n, gc_type *out, gc_error *err) {
    const gc_type *x = operand(n, 0);
    int axis = n->attr.axis.axis;
    if (axis < 0 || axis >= x->rank) return attr_error(n, err, "axis", axis, x->rank);
    gc_type r;
    memset(&r, 0, sizeof r);
    r.dtype = GC_I32;
    for (int i = 0; i < x->rank; i++)
        if (i != axis) r.dims[r.rank++] = x->dims[i];
    *out = r;
    return 1;
}

int gc_shape_softmax(const gc_node *n, gc_type *out, gc_error *err) {
    const gc_type *x = operand(n, 0);
    if (n->attr.axis.axis < 0 || n->attr.axis.axis >= x->rank)
        return attr_error(n, err, "axis", n->attr.axis.axis, x->rank);
    return gc_shape_unary_float(n, out, err);
}

int gc_shape_matmul(const gc_node *n, gc_type *out, gc_error *err) {
    const gc_type *a = operand(n, 0), *b = operand(n, 1);
    if (a->dtype != b->dtype || !gc_dtype_is_float(a->dtype))
        return shape_error(n, err, "needs two operands of the same float type, got %s and %s", a, b);
    if (a->rank < 2 || b->rank < 2)
        return shape_error(n, err, "operands need rank 2 or more, got %s and %s", a, b);
    int ta = n->attr.matmul.transpose_a, tb = n->attr.matmul.transpose_b;
    int64_t m = a->dims[a->rank - (ta ? 1 : 2)], ka = a->dims[a->rank - (ta ? 2 : 1)];
    int64_t kb = b->dims[b->rank - (tb ? 1 : 2)], nn = b->dims[b->rank - (tb ? 2 : 1)];
    if (ka != kb)
        return shape_error(n, err, "inner dimensions differ: %s @ %s", a, b);
    gc_type la = *a, lb = *b, lead;
    la.rank -= 2;
    lb.rank -= 2;
    if (!gc_broadcast_shapes(&la, &lb, &lead))
        return shape_error(n, err, "cannot broadcast the batch dims of %s and %s", a, b);
    lead.dims[lead.rank++] = m;
    lead.dims[lead.rank++] = nn;
    *out = lead;
    return 1;
}

int gc_shape_reshape(const gc_node *n, gc_type *out, gc_error *err) {
    const gc_type *x = operand(n, 0);
    if (x->dtype != n->type.dtype)
        return shape_error(n, err, "cannot change dtype: %s to %s", x, &n->type);
    if (gc_type_numel(x) != gc_type_numel(&n->type))
        return shape_error(n, err, "element counts differ: %s to %s", x, &n->type);
    *out = n->type;
    return 1;
}

int gc_shape_permute(const gc_node *n, gc_type *out, gc_error *err) {
    const gc_type *x = operand(n, 0);
    unsigned seen = 0;
    gc_type r = *x;
    for (int i = 0; i < x->rank; i++) {
        int p = n->attr.permute.perm[i];
        if (p < 0 || p >= x->rank || (seen & (1u << p)))
            return shape_error(n, err, "perm is not a permutation of the dims of %s", x, NULL);
        seen |= 1u << p;
        r.dims[i] = x->dims[p];
    }
    for (int i = x->rank; i < GC_MAX_RANK; i++)
        if (n->attr.permute.perm[i] != 0)
            return shape_error(n, err, "perm has more entries than the rank of %s", x, NULL);
    *out = r;
    return 1;
}

int gc_shape_broadcast(const gc_node *n, gc_type *out, gc_error *err) {
    const gc_type *x = operand(n, 0);
    if (x->dtype != n->type.dtype)
        return shape_error(n, err, "cannot change dtype: %s to %s", x, &n->type);
    if (!gc_broadcastable_to(x, &n->type))
        return shape_error(n, err, "cannot broadcast %s to %s", x, &n->type);
    *out = n->type;
    return 1;
}

int gc_shape_slice(const gc_node *n, gc_type *out, gc_error *err) {
    const gc_type *x = operand(n, 0);
    const gc_attr_slice *s = &n->attr.slice;
    if (s->axis < 0 || s->axis >= x->rank) return attr_error(n, err, "axis", s->axis, x->rank);
    if (s->start < 0 || s->end > x->dims[s->axis] || s->start >= s->end)
        return gc_fail(err, GC_ERR_USER, n->loc, "%s: range %lld..%lld is empty or outside dim %d of size %lld",
                       OPNAME(n), (long long)s->start, (long long)s->end, s->axis, (long long)x->dims[s->axis]);
    *out = *x;
    out->dims[s->axis] = s->end - s->start;
    return 1;
}

int gc_shape_pad(const gc_node *n, gc_type *out, gc_error *err) {
    const gc_type *x = operand(n, 0);
    const gc_attr_pad *p = &n->attr.pad;
    if (p->axis < 0 || p->axis >= x->rank) return attr_error(n, err, "axis", p->axis, x->rank);
    if (p->before < 0 || p->after < 0 || p->before > GC_MAX_ELEMENTS || p->after > GC_MAX_ELEMENTS)
        return gc_fail(err, GC_ERR_USER, n->loc, "%s: before and after must be between 0 and 2^40", OPNAME(n));
    *out = *x;
    out->dims[p->axis] += p->before + p->after;
    return 1;
}

int gc_shape_concat(const gc_node *n, gc_type *out, gc_error *err) {
    const gc_type *first = operand(n, 0);
    int axis = n->attr.axis.axis;
    if (axis < 0 || axis >= first->rank) return attr_error(n, err, "axis", axis, first->rank);
    gc_type r = *first;
    for (int i = 1; i < n->num_inputs; i++) {
        const gc_type *x = operand(n, i);
        bool ok = x->dtype == first->dtype && x->rank == first->rank;
        for (int d = 0; ok && d < x->rank; d++)
            if (d != axis && x->dims[d] != first->dims[d]) ok = false;
        if (!ok) return shape_error(n, err, "operands %s and %s differ off the concat axis", first, x);
        r.dims[axis] += x->dims[axis];
    }
    *out = r;
    return 1;
}

int gc_shape_take(const gc_node *n, gc_type *out, gc_error *err) {
    const gc_type *table = operand(n, 0), *idx = operand(n, 1);
    if (table->rank < 1) return shape_error(n, err, "the table must have rank 1 or more, got %s", table, NULL);
    if (idx->dtype != GC_I32) return shape_error(n, err, "indices must be i32, got %s", idx, NULL);
    if (idx->rank + table->rank - 1 > GC_MAX_RANK)
        return shape_error(n, err, "result rank exceeds 6 for %s indexed by %s", table, idx);
    gc_type r = *idx;
    r.dtype = table->dtype;
    for (int i = 1; i < table->rank; i++) r.dims[r.rank++] = table->dims[i];
    *out = r;
    return 1;
}

int gc_shape_scatter_add(const gc_node *n, gc_type *out, gc_error *err) {
    const gc_type *upd = operand(n, 0), *idx = operand(n, 1), *t = &n->type;
    if (idx->dtype != GC_I32) return shape_error(n, err, "indices must be i32, got %s", idx, NULL);
    if (t->rank < 1) return shape_error(n, err, "the result must have rank 1 or more, got %s", t, NULL);
    bool ok = upd->dtype == t->dtype && upd->rank == idx->rank + t->rank - 1;
    for (int i = 0; ok && i < idx->rank; i++) ok = upd->dims[i] == idx->dims[i];
    for (int i = 1; ok && i < t->rank; i++) ok = upd->dims[idx->rank + i - 1] == t->dims[i];
    if (!ok) return shape_error(n, err, "updates %s do not match indices and result %s", upd, t);
    *out = *t;
    return 1;
}

/* index_add(base, updates, idx): updates are idx.shape + base.shape[1:], the result base's type. */
int gc_shape_index_add(const gc_node *n, gc_type *out, gc_error *err) {
    const gc_type *base = operand(n, 0), *upd = operand(n, 1), *idx = operand(n, 2);
    if (idx->dtype != GC_I32) return shape_error(n, err, "indices must be i32, got %s", idx, NULL);
    if (base->rank < 1) return shape_error(n, err, "the base must have rank 1 or more, got %s", base, NULL);
    bool ok = upd->dtype == base->dtype && upd->rank == idx->rank + base->rank - 1;
    for (int i = 0; ok && i < idx->rank; i++) ok = upd->dims[i] == idx->dims[i];
    for (int i = 1; ok && i < base->rank; i++) ok = upd->dims[idx->rank + i - 1] == base->dims[i];
    if (!ok) return shape_error(n, err, "updates %s do not match indices and base %s", upd, base);
    *out = *base;
    return 1;
}

int gc_shape_one_hot(const gc_node *n, gc_type *out, gc_error *err) {
    const gc_type *idx = operand(n, 0);
    if (idx->dtype != GC_I32) return shape_error(n, err, "indices must be i32, got %s", idx, NULL);
    if (idx->rank >= GC_MAX_RANK) return shape_error(n, err, "result rank exceeds 6 for %s", idx, NULL);
    if (n->attr.one_hot.depth < 1 || n->attr.one_hot.depth > GC_MAX_ELEMENTS)
        return gc_fail(err, GC_ERR_USER, n->loc, "%s: depth must be at least 1", OPNAME(n));
    gc_type r = *idx;
    r.dtype = GC_F32;
    r.dims[r.rank++] = n->attr.one_hot.depth;
    *out = r;
    return 1;
}
