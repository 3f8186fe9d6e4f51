/*
 * lower_expr.c: expressions to values (lower_internal.h).
 *
 *   literal            a compile-time constant
 *   NAME               file consts from the AST (check evaluated them); everything else from the
 *                      current scope: inputs, params, bound values, loop variables, def arguments
 *   [a, b, ...]        a constant list, or a list of tensors when an item is a tensor (concat)
 *   -x                 constant negation, or the `neg` op
 *   a OP b             constants fold by consteval's rules (so `dim / heads` means the same
 *                      everywhere); with a tensor operand a number becomes a scalar of the
 *                      tensor's dtype (an i32 tensor meets a float number as f32, as in torch);
 *                      comparisons give f32 0/1; `@` is numpy.matmul (lower_ops.c)
 *   CALL               a built-in (lower_call.c) or an inlined def (lower.c)
 *
 * Each op built here carries the expression's location: the operator of a binary expression, so a
 * shape error points at the `+` that caused it.
 */
#include "frontend/lower_internal.h"

#include <stdio.h>
#include <string.h>

#include "frontend/consteval.h"

const char *gc_lower_describe(const lval *v, char *buf, size_t cap) {
    char t[96];
    switch (v->kind) {
    case LV_TENSOR: snprintf(buf, cap, "a tensor %s", gc_type_format(&v->node->type, t, sizeof t)); break;
    case LV_TUPLE: snprintf(buf, cap, "a tuple of %d values", v->n); break;
    case LV_LIST: snprintf(buf, cap, "a list of tensors"); break;
    case LV_CONST:
        switch (v->cv.kind) {
        case GC_CV_INT:
        case GC_CV_FLOAT:
        case GC_CV_STRING:
        case GC_CV_BOOL:
        case GC_CV_DTYPE: gc_const_describe(&v->cv, t, sizeof t); snprintf(buf, cap, "%s", t); break;
        case GC_CV_NONE: snprintf(buf, cap, "none"); break;
        case GC_CV_LIST: snprintf(buf, cap, "a list of %d constants", v->cv.list.n); break;
        }
        break;
    }
    return buf;
}

static bool is_number(const lval *v) { return v->kind == LV_CONST && gc_const_is_number(&v->cv); }

gc_node *gc_lower_tensor(lowerer *L, const lval *v, gc_dtype dtype, gc_loc loc, const char *what) {
    if (v->kind == LV_TENSOR) return v->node;
    if (is_number(v)) {
        /* A float never silently truncates into an i32 scalar: it stays f32, and a dtype mismatch
         * is then reported by the op naming both types. */
        if (dtype == GC_I32 && v->cv.kind == GC_CV_FLOAT) dtype = GC_F32;
        gc_lower_at(L, loc);
        return gc_scalar(&L->ctx.b, dtype, gc_const_as_double(&v->cv));
    }
    char d[96];
    gc_fail(L->err, GC_ERR_USER, loc, "%s must be a tensor, got %s", what, gc_lower_describe(v, d, sizeof d));
    return NULL;
}

/* ---- compile-time values --------------------------------------------------------------------- */

static int lookup_const(void *ctx, const gc_ast_expr *name, gc_const_value *out, gc_error *err) {
    lowerer *L = ctx;
    const lval *v = gc_lower_lookup(L, name->name.ref == GC_REF_LOSS ? "loss" : name->name.id);
    if (!v) return gc_fail(err, GC_ERR_USER, name->loc, "'%s' has no value here", name->name.id);
    if (v->kind != LV_CONST) {
        char d[96];
        return gc_fail(err, GC_ERR_USER, name->loc, "'%s' is %s, not a compile-time constant", name->name.id,
                       gc_lower_describe(v, d, sizeof d));
    }
    *out = v->cv;
    return 1;
}

int gc_lower_const(lowerer *L, const gc_ast_expr *e, gc_const_value *out) {
    return gc_const_eval(e, lookup_const, L, L->scratch, out, L->err);
}

/* A literal expression holding v, so consteval can apply its own rules to values computed here. */
static void const_leaf(const gc_const_value *v, gc_loc loc, gc_ast_expr *leaf) {
    memset(leaf, 0, sizeof *leaf);
    leaf->loc = loc;
    leaf->height = 1;
    switch (v->kind) {
    case GC_CV_INT: leaf->kind = GC_EXPR_INT; leaf->ival = v->i; break;
    case GC_CV_FLOAT: leaf->kind = GC_EXPR_FLOAT; leaf->fval = v->f; break;
    case GC_CV_BOOL: leaf->kind = GC_EXPR_BOOL; leaf->bval = v->b; break;
    case GC_CV_STRING:
        leaf->kind = GC_EXPR_STRING;
        leaf->str.text = v->s;
        leaf->str.len = strlen(v->s);
        break;
    case GC_CV_NONE: leaf->kind = GC_EXPR_NONE; break;
    case GC_CV_LIST: leaf->kind = GC_EXPR_LIST; break; /* arithmetic rejects lists by kind alone */
    case GC_CV_DTYPE:
        leaf->kind = GC_EXPR_NAME;
        leaf->name.id = "dtype";
        leaf->name.ref = GC_REF_DTYPE;
        leaf->name.dtype = v->dtype;
        break;
    }
}

static int fold_binary(lowerer *L, const gc_ast_expr *e, const gc_const_value *a, const gc_const_value *b,
                       lval *out) {
    gc_ast_expr la, lb, op = *e;
    const_leaf(a, e->bin.lhs->loc, &la);
    const_leaf(b, e->bin.rhs->loc, &lb);
    op.bin.lhs = &la;
    op.bin.rhs = &lb;
    out->kind = LV_CONST;
    return gc_lower_const(L, &op, &out->cv);
}

static int fold_neg(lowerer *L, const gc_ast_expr *e, const gc_const_value *a, lval *out) {
    gc_ast_expr leaf, op = *e;
    const_leaf(a, e->operand->loc, &leaf);
    op.operand = &leaf;
    out->kind = LV_CONST;
    return gc_lower_const(L, &op, &out->cv);
}

/* ---- names and lists ------------------------------------------------------------------------- */

static int lower_name(lowerer *L, const gc_ast_expr *e, lval *out) {
    memset(out, 0, sizeof *out);
    if (e->name.ref == GC_REF_CONST || e->name.ref == GC_REF_DTYPE) {
        out->kind = LV_CONST;
        return gc_lower_const(L, e, &out->cv);
    }
    if (e->name.ref == GC_REF_UNRESOLVED)
        return gc_fail(L->err, GC_ERR_INTERNAL, e->loc, "internal error: '%s' was not resolved (run the checker first)",
                       e->name.id);
    const lval *v = gc_lower_lookup(L, e->name.ref == GC_REF_LOSS ? "loss" : e->name.id);
    if (!v)
        return gc_fail(L->err, GC_ERR_USER, e->loc,
                       "'%s' has no value here (was it bound only in a loop that ran 0 times?)", e->name.id);
    *out = *v;
    return 1;
}

static int lower_list(lowerer *L, const gc_ast_expr *e, lval *out) {
    int n = e->list.n;
    lval *items = gc_arena_alloc(L->scratch, sizeof *items * (size_t)(n ? n : 1));
    if (!items) return gc_failf(L->err, GC_ERR_MEMORY, "out of memory while lowering");
    bool tensors = false;
    for (int i = 0; i < n; i++) {
        if (!gc_lower_expr(L, e->list.items[i], &items[i])) return 0;
        if (items[i].kind != LV_CONST) tensors = true;
    }
    memset(out, 0, sizeof *out);
    if (tensors) {
        out->kind = LV_LIST;
        out->items = items;
        out->n = n;
        return 1;
    }
    gc_const_value *cvs = gc_arena_alloc(L->scratch, sizeof *cvs * (size_t)(n ? n : 1));
    if (!cvs) return gc_failf(L->err, GC_ERR_MEMORY, "out of memory while lowering");
    for (int i = 0; i < n; i++) cvs[i] = items[i].cv;
    out->kind = LV_CONST;
    out->cv.kind = GC_CV_LIST;
    out->cv.list.items = cvs;
    out->cv.list.n = n;
    return 1;
}

/* ---- operators ------------------------------------------------------------------------------- */

static int lower_neg(lowerer *L, const gc_ast_expr *e, lval *out) {
    lval x;
    if (!gc_lower_expr(L, e->operand, &x)) return 0;
    if (x.kind == LV_CONST) return fold_neg(L, e, &x.cv, out);
    if (x.kind != LV_TENSOR) {
        char d[96];
        return gc_fail(L->err, GC_ERR_USER, e->loc, "cannot negate %s", gc_lower_describe(&x, d, sizeof d));
    }
    gc_lower_at(L, e->loc);
    memset(out, 0, sizeof *out);
    out->kind = LV_TENSOR;
    return (out->node = gc_unary(&L->ctx.b, GC_OP_NEG, x.node)) != NULL;
}

static bool is_comparison(gc_binop op) { return op >= GC_BIN_LT && op <= GC_BIN_NE; }

static double compare(gc_binop op, double a, double b) {
    switch (op) {
    case GC_BIN_LT: return a < b;
    case GC_BIN_LE: return a <= b;
    case GC_BIN_GT: return a > b;
    case GC_BIN_GE: return a >= b;
    case GC_BIN_EQ: return a == b;
    default: return a != b;
    }
}

static int operand_error(lowerer *L, const gc_ast_expr *e, const lval *v) {
    char d[96];
    return gc_fail(L->err, GC_ERR_USER, e->loc, "'%s' needs tensors or numbers, got %s", gc_binop_spelling(e->bin.op),
                   gc_lower_describe(v, d, sizeof d));
}

/* Two tensors, or a tensor and a number (made a scalar of the tensor's dtype). */
static int tensor_operands(lowerer *L, const gc_ast_expr *e, lval *a, lval *b, gc_node **x, gc_node **y) {
    gc_builder *bd = &L->ctx.b;
    gc_lower_at(L, e->loc);
    if (a->kind == LV_TENSOR && b->kind == LV_TENSOR) {
        *x = a->node;
        *y = b->node;
        return 1;
    }
    bool a_tensor = a->kind == LV_TENSOR;
    gc_node *t = a_tensor ? a->node : b->node;
    const lval *num = a_tensor ? b : a;
    /* torch promotes an integer tensor meeting a float number to float. */
    if (t->type.dtype == GC_I32 && num->cv.kind == GC_CV_FLOAT) t = gc_cast(bd, t, GC_F32);
    if (!t) return 0;
    gc_node *s = gc_scalar(bd, t->type.dtype, gc_const_as_double(&num->cv));
    *x = a_tensor ? t : s;
    *y = a_tensor ? s : t;
    return *x && *y;
}

static int lower_binary(lowerer *L, const gc_ast_expr *e, lval *out) {
    lval a, b;
    if (!gc_lower_expr(L, e->bin.lhs, &a) || !gc_lower_expr(L, e->bin.rhs, &b)) return 0;
    gc_binop op = e->bin.op;
    if (a.kind == LV_CONST && b.kind == LV_CONST && !(is_comparison(op) && is_number(&a) && is_number(&b)))
        return fold_binary(L, e, &a.cv, &b.cv, out);
    if (!(a.kind == LV_TENSOR || is_number(&a))) return operand_error(L, e, &a);
    if (!(b.kind == LV_TENSOR || is_number(&b))) return operand_error(L, e, &b);
    memset(out, 0, sizeof *out);
    out->kind = LV_TENSOR;
    gc_lower_at(L, e->loc);
    if (a.kind == LV_CONST && b.kind == LV_CONST) {
        /* A comparison of two numbers is still an f32 0/1 value, as with tensors. */
        double r = compare(op, gc_const_as_double(&a.cv), gc_const_as_double(&b.cv));
        return (out->node = gc_scalar(&L->ctx.b, GC_F32, r)) != NULL;
    }
    if (op == GC_BIN_MATMUL) {
        if (a.kind != LV_TENSOR || b.kind != LV_TENSOR)
            return gc_fail(L->err, GC_ERR_USER, e->loc, "'@' needs two tensors (use '*' to scale by a number)");
        return (out->node = gc_lower_matmul(L, a.node, b.node)) != NULL;
    }
    gc_node *x, *y;
    if (!tensor_operands(L, e, &a, &b, &x, &y)) return 0;
    const char *name = gc_binop_op_name(op);
    gc_op irop;
    if (!gc_op_from_name(name, strlen(name), &irop))
        return gc_fail(L->err, GC_ERR_INTERNAL, e->loc, "internal error: no IR op '%s'", name);
    gc_lower_at(L, e->loc);
    return (out->node = gc_binary(&L->ctx.b, irop, x, y)) != NULL;
}

/* ---- dispatch -------------------------------------------------------------------------------- */

static int lower_call(lowerer *L, const gc_ast_expr *e, lval *out) {
    if (e->call.builtin) return gc_lower_builtin_call(L, e, out);
    if (e->call.def) return gc_lower_def_call(L, e, out);
    return gc_fail(L->err, GC_ERR_INTERNAL, e->loc, "internal error: call of '%s' was not resolved (run the checker first)",
                   e->call.callee);
}

static int lower_expr_kind(lowerer *L, const gc_ast_expr *e, lval *out) {
    memset(out, 0, sizeof *out);
    switch (e->kind) {
    case GC_EXPR_INT:
    case GC_EXPR_FLOAT:
    case GC_EXPR_STRING:
    case GC_EXPR_BOOL:
    case GC_EXPR_NONE: out->kind = LV_CONST; return gc_lower_const(L, e, &out->cv);
    case GC_EXPR_NAME: return lower_name(L, e, out);
    case GC_EXPR_LIST: return lower_list(L, e, out);
    case GC_EXPR_NEG: return lower_neg(L, e, out);
    case GC_EXPR_BINARY: return lower_binary(L, e, out);
    case GC_EXPR_CALL: return lower_call(L, e, out);
    }
    return gc_fail(L->err, GC_ERR_INTERNAL, e->loc, "internal error: unknown expression kind %d", (int)e->kind);
}

int gc_lower_expr(lowerer *L, const gc_ast_expr *e, lval *out) {
    if (L->depth >= GC_LOWER_MAX_DEPTH)
        return gc_fail(L->err, GC_ERR_USER, e->loc,
                       "expressions nest more than %d levels deep once defs are inlined", GC_LOWER_MAX_DEPTH);
    L->depth++;
    int ok = lower_expr_kind(L, e, out);
    L->depth--;
    return ok;
}
