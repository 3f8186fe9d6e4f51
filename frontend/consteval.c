/* consteval.c: compile-time arithmetic; the rules are in consteval.h. */
#include "frontend/consteval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool gc_const_is_number(const gc_const_value *v) { return v->kind == GC_CV_INT || v->kind == GC_CV_FLOAT; }

double gc_const_as_double(const gc_const_value *v) {
    return v->kind == GC_CV_INT ? (double)v->i : v->kind == GC_CV_FLOAT ? v->f : 0.0;
}

void gc_const_describe(const gc_const_value *v, char *buf, size_t cap) {
    switch (v->kind) {
    case GC_CV_INT: snprintf(buf, cap, "%lld", (long long)v->i); return;
    case GC_CV_FLOAT: {
        char num[40];
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(num, sizeof num, "%.*g", prec, v->f);
            if (strtod(num, NULL) == v->f) break;
        }
        /* 258.0 must not read as the integer 258 in "must be an integer, got ...". */
        snprintf(buf, cap, "%s%s", num, strpbrk(num, ".eEn") ? "" : ".0");
        return;
    }
    case GC_CV_BOOL: snprintf(buf, cap, "%s", v->b ? "true" : "false"); return;
    case GC_CV_STRING: snprintf(buf, cap, "\"%.40s%s\"", v->s, strlen(v->s) > 40 ? "..." : ""); return;
    case GC_CV_NONE: snprintf(buf, cap, "none"); return;
    case GC_CV_LIST: snprintf(buf, cap, "a list"); return;
    case GC_CV_DTYPE: snprintf(buf, cap, "%s", v->dtype == GC_I32 ? "i32" : "f32"); return;
    }
    snprintf(buf, cap, "?");
}

static const char *kind_noun(gc_cv_kind k) {
    switch (k) {
    case GC_CV_INT:
    case GC_CV_FLOAT: return "a number";
    case GC_CV_BOOL: return "a boolean";
    case GC_CV_STRING: return "a string";
    case GC_CV_NONE: return "none";
    case GC_CV_LIST: return "a list";
    case GC_CV_DTYPE: return "a dtype";
    }
    return "?";
}

static int float_result(double r, gc_loc loc, gc_const_value *out, gc_error *err) {
    if (!isfinite(r)) return gc_fail(err, GC_ERR_USER, loc, "arithmetic overflow in a compile-time expression");
    out->kind = GC_CV_FLOAT;
    out->f = r;
    return 1;
}

static int int_overflow(gc_loc loc, gc_error *err) {
    return gc_fail(err, GC_ERR_USER, loc, "integer overflow in a compile-time expression");
}

static int arith(const gc_ast_expr *e, const gc_const_value *a, const gc_const_value *b, gc_const_value *out,
                 gc_error *err) {
    gc_binop op = e->bin.op;
    if (op != GC_BIN_ADD && op != GC_BIN_SUB && op != GC_BIN_MUL && op != GC_BIN_DIV)
        return gc_fail(err, GC_ERR_USER, e->loc, "'%s' is not allowed in a compile-time expression",
                       gc_binop_spelling(op));
    if (!gc_const_is_number(a) || !gc_const_is_number(b))
        return gc_fail(err, GC_ERR_USER, e->loc, "'%s' needs numbers, not %s", gc_binop_spelling(op),
                       kind_noun(gc_const_is_number(a) ? b->kind : a->kind));
    memset(out, 0, sizeof *out);
    if (op == GC_BIN_DIV && gc_const_as_double(b) == 0.0)
        return gc_fail(err, GC_ERR_USER, e->loc, "division by zero in a compile-time expression");
    if (a->kind == GC_CV_FLOAT || b->kind == GC_CV_FLOAT) {
        double x = gc_const_as_double(a), y = gc_const_as_double(b);
        double r = op == GC_BIN_ADD ? x + y : op == GC_BIN_SUB ? x - y : op == GC_BIN_MUL ? x * y : x / y;
        return float_result(r, e->loc, out, err);
    }
    int64_t x = a->i, y = b->i, r;
    out->kind = GC_CV_INT;
    switch (op) {
    case GC_BIN_ADD:
        if (__builtin_add_overflow(x, y, &r)) return int_overflow(e->loc, err);
        break;
    case GC_BIN_SUB:
        if (__builtin_sub_overflow(x, y, &r)) return int_overflow(e->loc, err);
        break;
    case GC_BIN_MUL:
        if (__builtin_mul_overflow(x, y, &r)) return int_overflow(e->loc, err);
        break;
    default:
        /* Exact integer division stays an int (dim / heads); anything else is true division. */
        if (x == INT64_MIN && y == -1) return int_overflow(e->loc, err);
        if (x % y != 0) return float_result((double)x / (double)y, e->loc, out, err);
        r = x / y;
        break;
    }
    out->i = r;
    return 1;
}

int gc_const_eval(const gc_ast_expr *e, gc_const_lookup lookup, void *ctx, gc_arena *arena, gc_const_value *out,
                  gc_error *err) {
    memset(out, 0, sizeof *out);
    switch (e->kind) {
    case GC_EXPR_INT: out->kind = GC_CV_INT; out->i = e->ival; return 1;
    case GC_EXPR_FLOAT: out->kind = GC_CV_FLOAT; out->f = e->fval; return 1;
    case GC_EXPR_STRING: out->kind = GC_CV_STRING; out->s = e->str.text; return 1;
    case GC_EXPR_BOOL: out->kind = GC_CV_BOOL; out->b = e->bval; return 1;
    case GC_EXPR_NONE: out->kind = GC_CV_NONE; return 1;
    case GC_EXPR_NAME:
        if (e->name.ref == GC_REF_CONST && e->name.decl) {
            *out = e->name.decl->cval;
            return 1;
        }
        if (e->name.ref == GC_REF_DTYPE) {
            out->kind = GC_CV_DTYPE;
            out->dtype = e->name.dtype;
            return 1;
        }
        if (lookup) return lookup(ctx, e, out, err);
        return gc_fail(err, GC_ERR_USER, e->loc, "'%s' is not a compile-time constant", e->name.id);
    case GC_EXPR_LIST: {
        gc_const_value *items = gc_arena_alloc(arena, (size_t)(e->list.n ? e->list.n : 1) * sizeof *items);
        if (!items) return gc_failf(err, GC_ERR_MEMORY, "out of memory evaluating a list");
        for (int i = 0; i < e->list.n; i++)
            if (!gc_const_eval(e->list.items[i], lookup, ctx, arena, &items[i], err)) return 0;
        out->kind = GC_CV_LIST;
        out->list.items = items;
        out->list.n = e->list.n;
        return 1;
    }
    case GC_EXPR_NEG: {
        gc_const_value v;
        if (!gc_const_eval(e->operand, lookup, ctx, arena, &v, err)) return 0;
        if (v.kind == GC_CV_INT) {
            if (v.i == INT64_MIN) return int_overflow(e->loc, err);
            out->kind = GC_CV_INT;
            out->i = -v.i;
            return 1;
        }
        if (v.kind == GC_CV_FLOAT) return float_result(-v.f, e->loc, out, err);
        return gc_fail(err, GC_ERR_USER, e->loc, "cannot negate %s", kind_noun(v.kind));
    }
    case GC_EXPR_BINARY: {
        gc_const_value a, b;
        if (!gc_const_eval(e->bin.lhs, lookup, ctx, arena, &a, err)) return 0;
        if (!gc_const_eval(e->bin.rhs, lookup, ctx, arena, &b, err)) return 0;
        return arith(e, &a, &b, out, err);
    }
    case GC_EXPR_CALL:
        return gc_fail(err, GC_ERR_USER, e->loc, "a call to '%s' is not a compile-time constant", e->call.callee);
    }
    return gc_fail(err, GC_ERR_INTERNAL, e->loc, "internal error: unknown expression kind %d", (int)e->kind);
}
