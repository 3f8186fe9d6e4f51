/*
 * lower_ops.c: the built-in operations (builtins.def kind OP) to IR ops.
 *
 *   exp log ... log_sigmoid     the unary op of the same name; gelu(approximate="tanh") -> gelu_tanh
 *   leaky_relu ... glu, softplus   compositions in lower_activations.c
 *   maximum minimum             binary ops; clamp, pow: ops with constant attributes
 *   where(c, a, b)              select
 *   sum mean max min            reduce over an axis bit mask (axis: int, list, or none = all);
 *                               an empty axis list reduces nothing, as NumPy
 *   argmax softmax log_softmax  axis ops
 *   var(x, axis, unbiased)      mean((x - mean(x))^2), times n / (n - 1) when unbiased
 *   reshape transpose swapaxes  reshape (one -1 inferred), permute
 *   concat split slice          concat; split -> a tuple of n slices; slice with Python's
 *                               negative indices and clamping (an empty result is an error)
 *   matmul / `@`                numpy.matmul: a rank-1 operand gains and then loses a unit dim
 *   one_hot take cast stop_gradient causal_mask dropout accuracy
 * Negative axes are normalised here: the IR only holds 0 <= axis < rank.
 */
#include "frontend/lower_internal.h"

#include <stdio.h>
#include <string.h>

#include "frontend/consteval.h"
#include "passes/losses.h"

static int fail_at_call(lowerer *L, const lower_args *a, const char *fmt, const gc_type *x, const char *extra) {
    char t[96];
    gc_type_format(x, t, sizeof t);
    char msg[400];
    snprintf(msg, sizeof msg, fmt, t, extra);
    return gc_fail(L->err, GC_ERR_USER, a->call->loc, "%s: %s", a->fn->name, msg);
}

static int tensor_result(lval *out, gc_node *n) {
    out->kind = LV_TENSOR;
    out->node = n;
    return n != NULL;
}

/* The dtype numbers take in an op whose tensors share one: that of the first tensor argument. */
static gc_dtype shared_dtype(const lower_args *a, int n) {
    for (int i = 0; i < n; i++)
        if (a->vals[i].kind == LV_TENSOR) return a->vals[i].node->type.dtype;
    return GC_F32;
}

/* ---- elementwise ----------------------------------------------------------------------------- */

static bool unary_op(gc_builtin_id id, gc_op *op) {
    static const struct {
        gc_builtin_id id;
        gc_op op;
    } table[] = {
        {GC_BUILTIN_EXP, GC_OP_EXP},         {GC_BUILTIN_LOG, GC_OP_LOG},
        {GC_BUILTIN_SQRT, GC_OP_SQRT},       {GC_BUILTIN_RSQRT, GC_OP_RSQRT},
        {GC_BUILTIN_TANH, GC_OP_TANH},       {GC_BUILTIN_SIGMOID, GC_OP_SIGMOID},
        {GC_BUILTIN_RELU, GC_OP_RELU},       {GC_BUILTIN_SILU, GC_OP_SILU},
        {GC_BUILTIN_ABS, GC_OP_ABS},         {GC_BUILTIN_SQUARE, GC_OP_SQUARE},
        {GC_BUILTIN_LOG_SIGMOID, GC_OP_LOG_SIGMOID},
        {GC_BUILTIN_STOP_GRADIENT, GC_OP_STOP_GRADIENT},
    };
    for (size_t i = 0; i < sizeof table / sizeof *table; i++)
        if (table[i].id == id) {
            *op = table[i].op;
            return true;
        }
    return false;
}

static int lower_clamp(lowerer *L, lower_args *a, lval *out) {
    gc_node *x = gc_lower_arg_tensor(L, a, 0, GC_F32);
    double lo = gc_lower_arg_num(a, 1), hi = gc_lower_arg_num(a, 2);
    if (lo > hi)
        return gc_fail(L->err, GC_ERR_USER, a->call->loc, "clamp: lo (%g) is greater than hi (%g)", lo, hi);
    gc_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.clamp.lo = lo;
    attr.clamp.hi = hi;
    return tensor_result(out, gc_build(&L->ctx.b, GC_OP_CLAMP, &x, 1, &attr, NULL));
}

static int lower_elementwise(lowerer *L, lower_args *a, lval *out) {
    gc_builder *b = &L->ctx.b;
    gc_dtype dt = shared_dtype(a, a->fn->nparams);
    switch (a->fn->id) {
    case GC_BUILTIN_GELU: {
        gc_op op = strcmp(gc_lower_arg_str(a, 1), "tanh") ? GC_OP_GELU : GC_OP_GELU_TANH;
        return tensor_result(out, gc_unary(b, op, gc_lower_arg_tensor(L, a, 0, GC_F32)));
    }
    case GC_BUILTIN_MAXIMUM:
    case GC_BUILTIN_MINIMUM: {
        gc_node *x = gc_lower_arg_tensor(L, a, 0, dt), *y = gc_lower_arg_tensor(L, a, 1, dt);
        return tensor_result(out, gc_binary(b, a->fn->id == GC_BUILTIN_MAXIMUM ? GC_OP_MAXIMUM : GC_OP_MINIMUM, x, y));
    }
    case GC_BUILTIN_CLAMP: return lower_clamp(L, a, out);
    case GC_BUILTIN_POW: return tensor_result(out, gc_pow_scalar(b, gc_lower_arg_tensor(L, a, 0, GC_F32), gc_lower_arg_num(a, 1)));
    case GC_BUILTIN_WHERE: {
        gc_dtype ab = a->vals[1].kind == LV_TENSOR ? a->vals[1].node->type.dtype
                      : a->vals[2].kind == LV_TENSOR ? a->vals[2].node->type.dtype : GC_F32;
        gc_node *c = gc_lower_arg_tensor(L, a, 0, GC_F32);
        gc_node *x = gc_lower_arg_tensor(L, a, 1, ab), *y = gc_lower_arg_tensor(L, a, 2, ab);
        return tensor_result(out, gc_select(b, c, x, y));
    }
    default: {
        gc_op op;
        if (!unary_op(a->fn->id, &op))
            return gc_fail(L->err, GC_ERR_INTERNAL, a->call->loc, "internal error: no lowering for %s", a->fn->name);
        return tensor_result(out, gc_unary(b, op, gc_lower_arg_tensor(L, a, 0, GC_F32)));
    }
    }
}

/* ---- reductions ------------------------------------------------------------------------------ */

/* The axis argument i (an int, a list of ints, or none for all) as a bit mask over rank dims. */
static int axes_mask(lowerer *L, const lower_args *a, int i, int rank, uint32_t *mask) {
    const gc_const_value *v = &a->vals[i].cv;
    *mask = 0;
    if (v->kind == GC_CV_NONE) {
        *mask = rank ? (uint32_t)((1u << rank) - 1) : 0;
        return 1;
    }
    int n = v->kind == GC_CV_LIST ? v->list.n : 1;
    for (int k = 0; k < n; k++) {
        int64_t ax = v->kind == GC_CV_LIST ? v->list.items[k].i : v->i;
        int norm;
        if (ax < -rank || ax >= rank || !gc_normalize_axis((int)ax, rank, &norm))
            return gc_fail(L->err, GC_ERR_USER, gc_lower_arg_loc(a, i),
                           "%s: axis %lld is out of range for a tensor of rank %d", a->fn->name, (long long)ax, rank);
        if (*mask & (1u << norm))
            return gc_fail(L->err, GC_ERR_USER, gc_lower_arg_loc(a, i), "%s: axis %lld is listed twice", a->fn->name,
                           (long long)ax);
        *mask |= 1u << norm;
    }
    return 1;
}

static int64_t reduced_count(const gc_type *t, uint32_t mask) {
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++)
        if (mask & (1u << i)) n *= t->dims[i];
    return n;
}

static int lower_reduce(lowerer *L, lower_args *a, lval *out, gc_op op) {
    gc_node *x = gc_lower_arg_tensor(L, a, 0, GC_F32);
    uint32_t mask;
    if (!x || !axes_mask(L, a, 1, x->type.rank, &mask)) return 0;
    if (!mask) return tensor_result(out, x);
    return tensor_result(out, gc_reduce(&L->ctx.b, op, x, mask, gc_lower_arg_bool(a, 2)));
}

static int lower_var(lowerer *L, lower_args *a, lval *out) {
    gc_builder *b = &L->ctx.b;
    gc_node *x = gc_lower_arg_tensor(L, a, 0, GC_F32);
    uint32_t mask;
    if (!x || !axes_mask(L, a, 1, x->type.rank, &mask)) return 0;
    bool unbiased = gc_lower_arg_bool(a, 2), keepdims = gc_lower_arg_bool(a, 3);
    int64_t n = reduced_count(&x->type, mask);
    if (unbiased && n < 2)
        return fail_at_call(L, a, "the unbiased variance of %s over one element is undefined%s", &x->type, "");
    gc_node *mean = mask ? gc_reduce(b, GC_OP_MEAN, x, mask, true) : x;
    gc_node *sq = gc_unary(b, GC_OP_SQUARE, gc_binary(b, GC_OP_SUB, x, mean));
    gc_node *v = mask ? gc_reduce(b, GC_OP_MEAN, sq, mask, keepdims) : sq;
    if (unbiased) v = gc_mul_scalar(b, v, (double)n / (double)(n - 1));
    return tensor_result(out, v);
}

static int lower_axis_op(lowerer *L, lower_args *a, lval *out, gc_op op) {
    gc_node *x = gc_lower_arg_tensor(L, a, 0, GC_F32);
    int axis;
    if (!x || !gc_lower_axis(L, a, 1, x->type.rank, &axis)) return 0;
    return tensor_result(out, gc_axis_op(&L->ctx.b, op, x, axis));
}

/* ---- shapes ---------------------------------------------------------------------------------- */

static void format_ints(const gc_const_value *list, char *buf, size_t cap) {
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < list->list.n && used < cap; i++) {
        int w = snprintf(buf + used, cap - used, "%s%lld", i ? ", " : "[", (long long)list->list.items[i].i);
        if (w < 0) return;
        used += (size_t)w;
    }
    if (used < cap) snprintf(buf + used, cap - used, "%s", list->list.n ? "]" : "[]");
}

static int lower_reshape(lowerer *L, lower_args *a, lval *out) {
    gc_node *x = gc_lower_arg_tensor(L, a, 0, GC_F32);
    if (!x) return 0;
    const gc_const_value *shape = &a->vals[1].cv;
    char want[200];
    format_ints(shape, want, sizeof want);
    if (shape->list.n > GC_MAX_RANK) return fail_at_call(L, a, "cannot reshape %s to %s: more than 6 dims", &x->type, want);
    int64_t dims[GC_MAX_RANK], known = 1;
    int infer = -1;
    for (int i = 0; i < shape->list.n; i++) {
        dims[i] = shape->list.items[i].i;
        if (dims[i] == -1 && infer < 0) {
            infer = i;
        } else if (dims[i] < 1) {
            return fail_at_call(L, a, "cannot reshape %s to %s: dims must be >= 1, with at most one -1", &x->type, want);
        } else if (dims[i] > GC_MAX_ELEMENTS || known > GC_MAX_ELEMENTS / dims[i]) {
            return fail_at_call(L, a, "cannot reshape %s to %s: too many elements", &x->type, want);
        } else {
            known *= dims[i];
        }
    }
    int64_t numel = gc_type_numel(&x->type);
    if (infer >= 0) {
        if (numel % known) return fail_at_call(L, a, "cannot reshape %s to %s", &x->type, want);
        dims[infer] = numel / known;
    } else if (known != numel) {
        return fail_at_call(L, a, "cannot reshape %s to %s: the element counts differ", &x->type, want);
    }
    return tensor_result(out, gc_reshape(&L->ctx.b, x, shape->list.n, dims));
}

static int lower_transpose(lowerer *L, lower_args *a, lval *out) {
    gc_node *x = gc_lower_arg_tensor(L, a, 0, GC_F32);
    if (!x) return 0;
    const gc_const_value *perm = &a->vals[1].cv;
    int rank = x->type.rank, p[GC_MAX_RANK] = {0};
    unsigned seen = 0;
    char given[200];
    format_ints(perm, given, sizeof given);
    bool ok = perm->list.n == rank;
    for (int i = 0; ok && i < rank; i++) {
        int64_t v = perm->list.items[i].i;
        ok = v >= -rank && v < rank && gc_normalize_axis((int)v, rank, &p[i]) && !(seen & (1u << p[i]));
        if (ok) seen |= 1u << p[i];
    }
    if (!ok) return fail_at_call(L, a, "cannot transpose %s by %s: not a permutation of its axes", &x->type, given);
    return tensor_result(out, gc_permute(&L->ctx.b, x, p));
}

static int lower_swapaxes(lowerer *L, lower_args *a, lval *out) {
    gc_node *x = gc_lower_arg_tensor(L, a, 0, GC_F32);
    int i, j;
    if (!x || !gc_lower_axis(L, a, 1, x->type.rank, &i) || !gc_lower_axis(L, a, 2, x->type.rank, &j)) return 0;
    int p[GC_MAX_RANK];
    for (int k = 0; k < x->type.rank; k++) p[k] = k;
    p[i] = j;
    p[j] = i;
    return tensor_result(out, i == j ? x : gc_permute(&L->ctx.b, x, p));
}

static int lower_concat(lowerer *L, lower_args *a, lval *out) {
    const lval *xs = &a->vals[0];
    if (xs->n < 1) return gc_fail(L->err, GC_ERR_USER, gc_lower_arg_loc(a, 0), "concat: the list is empty");
    gc_node **nodes = gc_arena_alloc(L->scratch, sizeof *nodes * (size_t)xs->n);
    if (!nodes) return gc_failf(L->err, GC_ERR_MEMORY, "out of memory while lowering");
    for (int i = 0; i < xs->n; i++) nodes[i] = xs->items[i].node;
    int axis;
    if (!gc_lower_axis(L, a, 1, nodes[0]->type.rank, &axis)) return 0;
    if (xs->n == 1) return tensor_result(out, nodes[0]);
    return tensor_result(out, gc_concat(&L->ctx.b, nodes, xs->n, axis));
}

static int lower_split(lowerer *L, lower_args *a, lval *out) {
    gc_node *x = gc_lower_arg_tensor(L, a, 0, GC_F32);
    int axis;
    if (!x || !gc_lower_axis(L, a, 2, x->type.rank, &axis)) return 0;
    int64_t n = gc_lower_arg_int(a, 1), dim = x->type.dims[axis];
    if (n < 1 || n > GC_AST_MAX_LIST || dim % n) {
        char extra[120];
        snprintf(extra, sizeof extra, " %d (size %lld) into %lld equal parts", axis, (long long)dim, (long long)n);
        return fail_at_call(L, a, "cannot split %s along axis%s", &x->type, extra);
    }
    lval *items = gc_arena_alloc(L->scratch, sizeof *items * (size_t)n);
    if (!items) return gc_failf(L->err, GC_ERR_MEMORY, "out of memory while lowering");
    int64_t part = dim / n;
    for (int64_t i = 0; i < n; i++) {
        items[i].kind = LV_TENSOR;
        if (!(items[i].node = gc_slice(&L->ctx.b, x, axis, i * part, (i + 1) * part))) return 0;
    }
    out->kind = LV_TUPLE;
    out->items = items;
    out->n = (int)n;
    return 1;
}

/* Python's slice bounds: negative counts from the end, out-of-range clamps. */
static int64_t py_index(int64_t i, int64_t dim) {
    if (i < 0) i += dim;
    return i < 0 ? 0 : i > dim ? dim : i;
}

static int lower_slice(lowerer *L, lower_args *a, lval *out) {
    gc_node *x = gc_lower_arg_tensor(L, a, 0, GC_F32);
    int axis;
    if (!x || !gc_lower_axis(L, a, 1, x->type.rank, &axis)) return 0;
    int64_t dim = x->type.dims[axis];
    int64_t start = py_index(gc_lower_arg_int(a, 2), dim), end = py_index(gc_lower_arg_int(a, 3), dim);
    if (start >= end) {
        char extra[160];
        snprintf(extra, sizeof extra, "%lld:%lld selects nothing from axis %d (size %lld)",
                 (long long)gc_lower_arg_int(a, 2), (long long)gc_lower_arg_int(a, 3), axis, (long long)dim);
        return fail_at_call(L, a, "slice of %s: %s", &x->type, extra);
    }
    return tensor_result(out, gc_slice(&L->ctx.b, x, axis, start, end));
}

gc_node *gc_lower_matmul(lowerer *L, gc_node *a, gc_node *b) {
    gc_builder *bd = &L->ctx.b;
    if (!a || !b) return NULL;
    char sa[96], sb[96];
    gc_type_format(&a->type, sa, sizeof sa);
    gc_type_format(&b->type, sb, sizeof sb);
    int ra = a->type.rank, rb = b->type.rank;
    if (ra < 1 || rb < 1) {
        gc_fail(L->err, GC_ERR_USER, bd->loc, "matmul: operands need rank 1 or more, got %s and %s", sa, sb);
        return NULL;
    }
    int64_t ka = a->type.dims[ra - 1], kb = rb == 1 ? b->type.dims[0] : b->type.dims[rb - 2];
    if (ka != kb) {
        gc_fail(L->err, GC_ERR_USER, bd->loc, "matmul: inner dimensions differ: %s @ %s", sa, sb);
        return NULL;
    }
    /* numpy.matmul: a vector operand becomes a [1, k] row or a [k, 1] column, whose unit dim is
     * then dropped from the result. */
    int64_t row[2] = {1, ka}, col[2] = {kb, 1};
    gc_node *x = ra == 1 ? gc_reshape(bd, a, 2, row) : a;
    gc_node *y = rb == 1 ? gc_reshape(bd, b, 2, col) : b;
    gc_node *r = gc_matmul(bd, x, y, false, false);
    if (!r || (ra > 1 && rb > 1)) return r;
    gc_type t = r->type;
    int drop = rb == 1 ? t.rank - 1 : t.rank - 2;
    if (ra == 1 && rb == 1) t.rank = 0;
    else {
        for (int i = drop; i + 1 < t.rank; i++) t.dims[i] = t.dims[i + 1];
        t.rank--;
    }
    return gc_reshape(bd, r, t.rank, t.dims);
}

/* ---- the rest -------------------------------------------------------------------------------- */

static int lower_misc(lowerer *L, lower_args *a, lval *out) {
    gc_builder *b = &L->ctx.b;
    switch (a->fn->id) {
    case GC_BUILTIN_MATMUL: {
        gc_node *x = gc_lower_arg_tensor(L, a, 0, GC_F32), *y = gc_lower_arg_tensor(L, a, 1, GC_F32);
        return tensor_result(out, gc_lower_matmul(L, x, y));
    }
    case GC_BUILTIN_ONE_HOT: {
        int64_t n = gc_lower_arg_int(a, 1);
        if (n < 1) return gc_fail(L->err, GC_ERR_USER, gc_lower_arg_loc(a, 1), "one_hot: n must be at least 1, got %lld", (long long)n);
        return tensor_result(out, gc_one_hot(b, gc_lower_arg_tensor(L, a, 0, GC_I32), n));
    }
    case GC_BUILTIN_TAKE: {
        gc_node *table = gc_lower_arg_tensor(L, a, 0, GC_F32), *idx = gc_lower_arg_tensor(L, a, 1, GC_I32);
        gc_node *in[2] = {table, idx};
        return tensor_result(out, gc_build(b, GC_OP_TAKE, in, 2, NULL, NULL));
    }
    case GC_BUILTIN_CAST:
        return tensor_result(out, gc_cast(b, gc_lower_arg_tensor(L, a, 0, GC_F32), a->vals[1].cv.dtype));
    case GC_BUILTIN_CAUSAL_MASK: {
        int64_t t = gc_lower_arg_int(a, 0);
        if (t < 1 || t > (int64_t)1 << 20)
            return gc_fail(L->err, GC_ERR_USER, gc_lower_arg_loc(a, 0), "causal_mask: t must be between 1 and 2^20, got %lld", (long long)t);
        return tensor_result(out, gc_causal_mask(&L->ctx, t));
    }
    case GC_BUILTIN_DROPOUT:
        return tensor_result(out, gc_layer_dropout(&L->ctx, gc_lower_arg_tensor(L, a, 0, GC_F32), gc_lower_arg_num(a, 1)));
    case GC_BUILTIN_ACCURACY:
        return tensor_result(out, gc_accuracy(b, gc_lower_arg_tensor(L, a, 0, GC_F32), gc_lower_arg_tensor(L, a, 1, GC_I32)));
    default: return lower_elementwise(L, a, out);
    }
}

int gc_lower_op(lowerer *L, lower_args *a, lval *out) {
    if (gc_is_activation(a->fn->id)) return gc_lower_activation(L, a, out);
    int pooled = gc_lower_pool_op(L, a, out);
    if (pooled >= 0) return pooled;
    switch (a->fn->id) {
    case GC_BUILTIN_SUM: return lower_reduce(L, a, out, GC_OP_SUM);
    case GC_BUILTIN_MEAN: return lower_reduce(L, a, out, GC_OP_MEAN);
    case GC_BUILTIN_MAX: return lower_reduce(L, a, out, GC_OP_MAX);
    case GC_BUILTIN_MIN: return lower_reduce(L, a, out, GC_OP_MIN);
    case GC_BUILTIN_VAR: return lower_var(L, a, out);
    case GC_BUILTIN_ARGMAX: return lower_axis_op(L, a, out, GC_OP_ARGMAX);
    case GC_BUILTIN_SOFTMAX: return lower_axis_op(L, a, out, GC_OP_SOFTMAX);
    case GC_BUILTIN_LOG_SOFTMAX: return lower_axis_op(L, a, out, GC_OP_LOG_SOFTMAX);
    case GC_BUILTIN_RESHAPE: return lower_reshape(L, a, out);
    case GC_BUILTIN_TRANSPOSE: return lower_transpose(L, a, out);
    case GC_BUILTIN_SWAPAXES: return lower_swapaxes(L, a, out);
    case GC_BUILTIN_CONCAT: return lower_concat(L, a, out);
    case GC_BUILTIN_SPLIT: return lower_split(L, a, out);
    case GC_BUILTIN_SLICE: return lower_slice(L, a, out);
    default: return lower_misc(L, a, out);
    }
}
