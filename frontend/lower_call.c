/*
 * lower_call.c: calls of built-ins — binding arguments and checking their values.
 *
 * Arguments bind to parameter slots through gc_builtin_bind, the function the checker uses, so
 * both read a call the same way. The checker can only judge arguments whose values it knows; here
 * every argument has a value (loop variables and def arguments included), so each is checked
 * against its builtins.def type before any op is built, and a wrong one is reported at the
 * argument: "linear: argument 'out' must be an integer, got 2.5".
 */
#include "frontend/lower_internal.h"

#include <stdio.h>
#include <string.h>

#include "frontend/consteval.h"

gc_loc gc_lower_arg_loc(const lower_args *a, int i) { return a->slots[i] ? a->slots[i]->loc : a->call->loc; }

static int arg_error(lowerer *L, const lower_args *a, int i) {
    const gc_builtin_param *p = &a->fn->params[i];
    char want[160], got[96];
    gc_barg_describe(p, want, sizeof want);
    return gc_fail(L->err, GC_ERR_USER, gc_lower_arg_loc(a, i), "%s: argument '%s' must be %s, got %s", a->fn->name,
                   p->name, want, gc_lower_describe(&a->vals[i], got, sizeof got));
}

static bool all_tensors(const lval *v) {
    if (v->kind != LV_LIST && v->kind != LV_TUPLE) return false;
    for (int i = 0; i < v->n; i++)
        if (v->items[i].kind != LV_TENSOR) return false;
    return true;
}

/* Whether the lowered value v suits parameter p. */
static bool accepts(const gc_builtin_param *p, const lval *v) {
    switch (p->type) {
    case GC_BARG_TENSOR:
    case GC_BARG_OPT_TENSOR:
    case GC_BARG_WEIGHTS:
        if (v->kind == LV_TENSOR) return true;
        break;
    case GC_BARG_TENSORS: return all_tensors(v);
    default: break;
    }
    return v->kind == LV_CONST && p->type != GC_BARG_TENSORS && gc_barg_accepts(p, &v->cv);
}

int gc_lower_bind_args(lowerer *L, const gc_ast_expr *call, lower_args *a) {
    const gc_builtin *fn = call->call.builtin;
    memset(a, 0, sizeof *a);
    a->fn = fn;
    a->call = call;
    if (!gc_builtin_bind(fn, call, a->slots, L->err)) return 0;
    for (int i = 0; i < fn->nparams; i++) {
        const gc_builtin_param *p = &fn->params[i];
        if (a->slots[i]) {
            if (!gc_lower_expr(L, a->slots[i], &a->vals[i])) return 0;
        } else {
            a->vals[i].kind = LV_CONST;
            if (!gc_builtin_default(p, L->scratch, &a->vals[i].cv))
                return gc_fail(L->err, GC_ERR_INTERNAL, call->loc, "internal error: %s: no default for '%s'", fn->name,
                               p->name);
        }
        if (!accepts(p, &a->vals[i])) return arg_error(L, a, i);
    }
    gc_lower_at(L, call->loc);
    return 1;
}

gc_node *gc_lower_arg_tensor(lowerer *L, lower_args *a, int i, gc_dtype dtype) {
    char what[96];
    snprintf(what, sizeof what, "%s: argument '%s'", a->fn->name, a->fn->params[i].name);
    gc_node *n = gc_lower_tensor(L, &a->vals[i], dtype, gc_lower_arg_loc(a, i), what);
    gc_lower_at(L, a->call->loc);
    return n;
}

gc_node *gc_lower_arg_opt_tensor(lowerer *L, lower_args *a, int i) {
    (void)L;
    return a->vals[i].kind == LV_TENSOR ? a->vals[i].node : NULL;
}

int64_t gc_lower_arg_int(const lower_args *a, int i) { return a->vals[i].cv.i; }
double gc_lower_arg_num(const lower_args *a, int i) { return gc_const_as_double(&a->vals[i].cv); }
bool gc_lower_arg_bool(const lower_args *a, int i) { return a->vals[i].cv.b; }
const char *gc_lower_arg_str(const lower_args *a, int i) { return a->vals[i].cv.s; }

int gc_lower_axis(lowerer *L, const lower_args *a, int i, int rank, int *axis) {
    int64_t v = a->vals[i].cv.i;
    if (v < -rank || v >= rank || !gc_normalize_axis((int)v, rank, axis)) {
        if (rank == 0)
            return gc_fail(L->err, GC_ERR_USER, gc_lower_arg_loc(a, i), "%s: a rank-0 tensor has no axis %lld",
                           a->fn->name, (long long)v);
        return gc_fail(L->err, GC_ERR_USER, gc_lower_arg_loc(a, i),
                       "%s: axis %lld is out of range for a tensor of rank %d (use %d .. %d)", a->fn->name,
                       (long long)v, rank, -rank, rank - 1);
    }
    return 1;
}

int gc_lower_builtin_call(lowerer *L, const gc_ast_expr *call, lval *out) {
    const gc_builtin *fn = call->call.builtin;
    if (fn->kind != GC_BKIND_OP && fn->kind != GC_BKIND_LAYER && fn->kind != GC_BKIND_LOSS)
        return gc_fail(L->err, GC_ERR_USER, call->loc, "%s is %s, not something an expression can call", fn->name,
                       fn->kind == GC_BKIND_INIT ? "an initialiser (write it after 'param NAME: TYPE =')"
                                                 : "a train block setting");
    if (call->call.as && fn->kind != GC_BKIND_LAYER)
        return gc_fail(L->err, GC_ERR_USER, call->call.as->loc,
                       "'as' names calls that create parameters; %s creates none", fn->name);
    lower_args *a = L->free_args;
    if (a) L->free_args = a->next;
    else if (!(a = gc_arena_alloc(L->scratch, sizeof *a)))
        return gc_failf(L->err, GC_ERR_MEMORY, "out of memory while lowering");
    memset(out, 0, sizeof *out);
    int ok = gc_lower_bind_args(L, call, a);
    if (ok && call == L->loss_call && fn->kind == GC_BKIND_LOSS && a->vals[0].kind == LV_TENSOR)
        L->prediction = a->vals[0].node;
    if (ok) {
        switch (fn->kind) {
        case GC_BKIND_LAYER: ok = gc_lower_layer(L, a, out); break;
        case GC_BKIND_LOSS: ok = gc_lower_loss(L, a, out); break;
        default: ok = gc_lower_op(L, a, out); break;
        }
    }
    a->next = L->free_args;
    L->free_args = a;
    return ok;
}
