/*
 * check.c: name resolution, const evaluation, call checking, defs and loops (rules in check.h).
 *
 * One walk over the file in order, with a scope chain whose symbol tables are hashed (a model of
 * 100k names must not take quadratic time). Every compile-time subexpression is evaluated once,
 * where it stops being compile-time, so `x + 1 / 0` fails here rather than in the lowering.
 * The train block is evaluated by check_train.c; the unroll count and def recursion are found by
 * check_unroll.c at the end.
 */
#include "frontend/check.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "frontend/check_internal.h"
#include "frontend/consteval.h"

/* What check knows of an expression's value before lowering: a compile-time value (evaluable
 * now), surely a tensor, or not known (def arguments, loop variables, def results). */
typedef enum skind { SK_UNKNOWN, SK_STATIC, SK_TENSOR } skind;

typedef struct sym {
    const char *name;
    gc_name_ref ref;
    gc_ast_stmt *decl;
    gc_loc loc;
    gc_dtype dtype;
    skind kind;
} sym;

typedef struct symtab {
    sym **slots;
    size_t cap, count;
} symtab;

typedef struct scope {
    struct scope *parent;
    bool function;    /* the top level or a def body: lookups stop here */
    bool keeps_names; /* names first bound inside stay here (functions, loops that run 0 times) */
    symtab names;
} scope;

typedef struct checker {
    gc_ast_module *m;
    gc_arena *scratch;
    gc_error *err;
    symtab defs;       /* def name -> sym whose decl is the def */
    symtab consts;     /* every const of the file, which def bodies see */
    symtab outputs;
    gc_ast_stmt *def;  /* the def being checked, or NULL at the top level */
    bool in_const;     /* evaluating const declarations */
} checker;

enum { CTX_VALUE = 0, CTX_TUPLE = 1 };

static int fail(checker *c, gc_loc loc, const char *fmt, ...) GC_PRINTF(3, 4);
static int fail(checker *c, gc_loc loc, const char *fmt, ...) {
    char msg[sizeof c->err->message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return gc_fail(c->err, GC_ERR_USER, loc, "%s", msg);
}

static int oom(checker *c) { return gc_failf(c->err, GC_ERR_MEMORY, "out of memory while checking %s", c->m->file); }

/* ---- symbol tables ---- */

static size_t hash(const char *s) {
    size_t h = (size_t)1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * (size_t)1099511628211ull;
    return h;
}

static sym *symtab_find(const symtab *t, const char *name) {
    if (!t->cap) return NULL;
    for (size_t i = hash(name) & (t->cap - 1); t->slots[i]; i = (i + 1) & (t->cap - 1))
        if (!strcmp(t->slots[i]->name, name)) return t->slots[i];
    return NULL;
}

static void symtab_insert(symtab *t, sym *s) {
    size_t i = hash(s->name) & (t->cap - 1);
    while (t->slots[i] && strcmp(t->slots[i]->name, s->name)) i = (i + 1) & (t->cap - 1);
    if (!t->slots[i]) t->count++;
    t->slots[i] = s;
}

/* Adds s, replacing an entry of the same name. */
static int symtab_put(checker *c, symtab *t, sym *s) {
    if ((t->count + 1) * 2 > t->cap) {
        symtab bigger = {gc_arena_alloc(c->scratch, (t->cap ? t->cap * 2 : 16) * sizeof(sym *)),
                         t->cap ? t->cap * 2 : 16, 0};
        if (!bigger.slots) return oom(c);
        for (size_t i = 0; i < t->cap; i++)
            if (t->slots[i]) symtab_insert(&bigger, t->slots[i]);
        *t = bigger;
    }
    symtab_insert(t, s);
    return 1;
}

static sym *new_sym(checker *c, const char *name, gc_name_ref ref, gc_ast_stmt *decl, gc_loc loc, skind kind) {
    sym *s = gc_arena_alloc(c->scratch, sizeof *s);
    if (!s) return NULL;
    s->name = name;
    s->ref = ref;
    s->decl = decl;
    s->loc = loc;
    s->kind = kind;
    return s;
}

static const char *ref_noun(gc_name_ref ref) {
    switch (ref) {
    case GC_REF_CONST: return "a const";
    case GC_REF_LOOP_VAR: return "a loop variable";
    case GC_REF_ARG: return "an argument";
    case GC_REF_VALUE: return "a value";
    case GC_REF_INPUT: return "an input";
    case GC_REF_PARAM: return "a param";
    case GC_REF_LOSS: return "the loss";
    case GC_REF_DTYPE: return "a dtype";
    case GC_REF_UNRESOLVED: break;
    }
    return "a name";
}

/* ---- scopes ---- */

static scope *new_scope(checker *c, scope *parent, bool function, bool keeps_names) {
    scope *s = gc_arena_alloc(c->scratch, sizeof *s);
    if (!s) return NULL;
    s->parent = parent;
    s->function = function;
    s->keeps_names = keeps_names;
    return s;
}

static sym *lookup(checker *c, scope *s, const char *name) {
    for (; s; s = s->function ? NULL : s->parent) {
        sym *y = symtab_find(&s->names, name);
        if (y) return y;
    }
    return c->def ? symtab_find(&c->consts, name) : NULL;
}

static scope *function_scope(scope *s) {
    while (!s->function) s = s->parent;
    return s;
}

static scope *binding_scope(scope *s) {
    while (!s->keeps_names) s = s->parent;
    return s;
}

static sym *bind(checker *c, scope *s, const char *name, gc_name_ref ref, gc_ast_stmt *decl, gc_loc loc, skind k) {
    sym *y = new_sym(c, name, ref, decl, loc, k);
    if (!y || !symtab_put(c, &s->names, y)) return oom(c), NULL;
    return y;
}

static int check_declarable(checker *c, const char *name, gc_loc loc) {
    if (!strcmp(name, "loss"))
        return fail(c, loc, "'loss' is reserved for the objective (write loss = EXPR at the top level)");
    if (!strcmp(name, "f32") || !strcmp(name, "i32")) return fail(c, loc, "'%s' is a reserved name (a dtype)", name);
    return 1;
}

/* A declaration (const, input, param, argument) may not reuse a name of its function scope. */
static int check_fresh(checker *c, scope *s, const char *name, gc_loc loc) {
    if (!check_declarable(c, name, loc)) return 0;
    sym *y = symtab_find(&function_scope(s)->names, name);
    if (y) return fail(c, loc, "'%s' is already defined at %d:%d", name, y->loc.line, y->loc.col);
    return 1;
}

/* ---- undefined names: say why, since "undefined" alone rarely helps ---- */

/* The first statement of b (loops included, defs not) that declares `name`. */
static const gc_ast_stmt *find_decl(const gc_ast_block *b, const char *name, gc_loc *loc) {
    for (int i = 0; i < b->n; i++) {
        const gc_ast_stmt *s = b->stmts[i];
        switch (s->kind) {
        case GC_STMT_CONST:
        case GC_STMT_INPUT:
        case GC_STMT_PARAM:
            if (!strcmp(s->name, name)) return *loc = s->name_loc, s;
            break;
        case GC_STMT_ASSIGN:
            for (int t = 0; t < s->assign.n; t++)
                if (!strcmp(s->assign.targets[t].name, name)) return *loc = s->assign.targets[t].loc, s;
            break;
        case GC_STMT_LOSS:
            if (!strcmp(name, "loss")) return *loc = s->loc, s;
            break;
        case GC_STMT_FOR: {
            if (!strcmp(s->name, name)) return *loc = s->name_loc, s;
            const gc_ast_stmt *in = find_decl(&s->loop.body, name, loc);
            if (in) return in;
            break;
        }
        default:
            break;
        }
    }
    return NULL;
}

static bool loc_before(gc_loc a, gc_loc b) { return a.line < b.line || (a.line == b.line && a.col < b.col); }

static int undefined(checker *c, const gc_ast_expr *e) {
    const char *name = e->name.id;
    gc_loc at;
    const gc_ast_stmt *d = find_decl(c->def ? &c->def->def.body : &c->m->body, name, &at);
    if (d && c->in_const && d->kind != GC_STMT_CONST)
        return fail(c, e->loc, "a const may only use other consts; '%s' is %s (%d:%d)", name,
                    d->kind == GC_STMT_INPUT   ? "an input"
                    : d->kind == GC_STMT_PARAM ? "a param"
                    : d->kind == GC_STMT_FOR   ? "a loop variable"
                    : d->kind == GC_STMT_LOSS  ? "the loss"
                                               : "a value",
                    at.line, at.col);
    if (d && d->kind == GC_STMT_FOR && !strcmp(d->name, name))
        return fail(c, e->loc, "'%s' is a loop variable, visible only inside its loop (%d:%d)", name, at.line, at.col);
    if (d && loc_before(e->loc, at))
        return fail(c, e->loc, "'%s' is used before its definition at %d:%d", name, at.line, at.col);
    if (d)
        return fail(c, e->loc, "'%s' is not defined here: it is bound at %d:%d inside a loop that runs 0 times", name,
                    at.line, at.col);
    if (c->def && find_decl(&c->m->body, name, &at))
        return fail(c, e->loc,
                    "'%s' is defined at the top level (%d:%d); a def sees only its arguments, its own names and "
                    "consts, so pass it as an argument",
                    name, at.line, at.col);
    if (symtab_find(&c->defs, name)) return fail(c, e->loc, "'%s' is a def; call it as %s(...)", name, name);
    if (gc_builtin_find(name, GC_BMASK_EXPR))
        return fail(c, e->loc, "'%s' is a built-in function; call it as %s(...)", name, name);
    return fail(c, e->loc, "undefined name '%s'", name);
}

static int resolve_name(checker *c, scope *s, gc_ast_expr *e, skind *k) {
    sym *y = lookup(c, s, e->name.id);
    if (y) {
        e->name.ref = y->ref;
        e->name.decl = y->decl;
        *k = y->kind;
        return 1;
    }
    if (!strcmp(e->name.id, "f32") || !strcmp(e->name.id, "i32")) {
        e->name.ref = GC_REF_DTYPE;
        e->name.decl = NULL;
        e->name.dtype = e->name.id[0] == 'f' ? GC_F32 : GC_I32;
        *k = SK_STATIC;
        return 1;
    }
    return undefined(c, e);
}

/* The operators a compile-time expression may use; @ and comparisons always lower to IR ops. */
static bool const_op(gc_binop op) {
    return op == GC_BIN_ADD || op == GC_BIN_SUB || op == GC_BIN_MUL || op == GC_BIN_DIV;
}

/* Why e is not a compile-time value, for messages: the first name or call that makes it so. */
static void why_not_static(const gc_ast_expr *e, char *buf, size_t cap) {
    switch (e->kind) {
    case GC_EXPR_NAME:
        if (e->name.ref != GC_REF_CONST && e->name.ref != GC_REF_DTYPE) {
            snprintf(buf, cap, "'%s' is %s, not a const", e->name.id, ref_noun(e->name.ref));
            return;
        }
        break;
    case GC_EXPR_CALL: snprintf(buf, cap, "it calls '%s'", e->call.callee); return;
    case GC_EXPR_LIST:
        for (int i = 0; i < e->list.n && !buf[0]; i++) why_not_static(e->list.items[i], buf, cap);
        return;
    case GC_EXPR_NEG: why_not_static(e->operand, buf, cap); return;
    case GC_EXPR_BINARY:
        if (!const_op(e->bin.op)) {
            snprintf(buf, cap, "'%s' is not a compile-time operation", gc_binop_spelling(e->bin.op));
            return;
        }
        why_not_static(e->bin.lhs, buf, cap);
        if (!buf[0]) why_not_static(e->bin.rhs, buf, cap);
        return;
    default:
        break;
    }
}

/* ---- expressions ---- */

static int check_expr(checker *c, scope *s, gc_ast_expr *e, int ctx, skind *k);

static int eval_static(checker *c, const gc_ast_expr *e, gc_const_value *v) {
    return gc_const_eval(e, NULL, NULL, c->scratch, v, c->err);
}

/* check_expr, then evaluation if the whole expression is compile-time (v may be NULL). */
static int check_value(checker *c, scope *s, gc_ast_expr *e, int ctx, skind *k, gc_const_value *v) {
    if (!check_expr(c, s, e, ctx, k)) return 0;
    if (*k != SK_STATIC) return 1;
    gc_const_value tmp;
    return eval_static(c, e, v ? v : &tmp);
}

/* A compile-time operand of tensor arithmetic must be a number. */
static int check_operand(checker *c, const gc_ast_expr *op_expr, gc_ast_expr *operand, skind k) {
    if (k != SK_STATIC) return 1;
    gc_const_value v;
    if (!eval_static(c, operand, &v)) return 0;
    if (gc_const_is_number(&v)) return 1;
    char got[64];
    gc_const_describe(&v, got, sizeof got);
    return fail(c, op_expr->loc, "'%s' needs numbers or tensors, not %s",
                op_expr->kind == GC_EXPR_NEG ? "-" : gc_binop_spelling(op_expr->bin.op), got);
}

static bool returns_tuple(checker *c, const gc_ast_stmt *def, int depth) {
    if (depth > GC_CHECK_MAX_DEF_DEPTH || def->def.body.n == 0) return false;
    const gc_ast_expr *r = def->def.body.stmts[def->def.body.n - 1]->value;
    if (!r || r->kind != GC_EXPR_CALL) return false;
    sym *d = symtab_find(&c->defs, r->call.callee);
    if (d) return returns_tuple(c, d->decl, depth + 1);
    const gc_builtin *b = gc_builtin_find(r->call.callee, GC_BMASK_EXPR);
    return b && (b->flags & GC_BFLAG_TUPLE);
}

/* Levenshtein distance, capped: only small distances matter for "did you mean". */
static int edit_distance(const char *a, const char *b) {
    size_t n = strlen(a), m = strlen(b);
    if (n > 64 || m > 64) return 99;
    int row[65], prev[65];
    for (size_t j = 0; j <= m; j++) prev[j] = (int)j;
    for (size_t i = 1; i <= n; i++) {
        row[0] = (int)i;
        for (size_t j = 1; j <= m; j++) {
            int best = prev[j - 1] + (a[i - 1] != b[j - 1]);
            if (prev[j] + 1 < best) best = prev[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
        }
        memcpy(prev, row, (m + 1) * sizeof row[0]);
    }
    return prev[m];
}

/* The def or expression builtin whose name is closest to `name` (at most 2 edits), or NULL. */
static const char *closest_function(checker *c, const char *name) {
    const char *best = NULL;
    int best_d = 3;
    for (int i = 0; i < GC_BUILTIN_COUNT; i++) {
        if (!(GC_BMASK_EXPR & GC_BMASK(gc_builtins[i].kind))) continue;
        int d = edit_distance(name, gc_builtins[i].name);
        if (d < best_d) best = gc_builtins[i].name, best_d = d;
    }
    for (int i = 0; i < c->m->ndefs; i++) {
        int d = edit_distance(name, c->m->defs[i]->name);
        if (d < best_d) best = c->m->defs[i]->name, best_d = d;
    }
    return best;
}

static int unknown_function(checker *c, scope *s, const gc_ast_expr *e) {
    const char *name = e->call.callee;
    const gc_builtin *other = gc_builtin_find(name, GC_BMASK_ALL);
    if (other && other->kind == GC_BKIND_INIT)
        return fail(c, e->loc, "'%s' is an initialiser; it can only follow 'param NAME: TYPE ='", name);
    if (other && other->kind == GC_BKIND_OPTIMIZER)
        return fail(c, e->loc, "'%s' is an optimizer; set it in the train block: optimizer = %s(...)", name, name);
    if (other && other->kind == GC_BKIND_SCHEDULE)
        return fail(c, e->loc, "'%s' is a learning-rate schedule; set it in the train block: schedule = %s(...)", name,
                    name);
    sym *y = lookup(c, s, name);
    if (y) return fail(c, e->loc, "'%s' is %s, not a function", name, ref_noun(y->ref));
    const char *near = closest_function(c, name);
    if (near) return fail(c, e->loc, "unknown function '%s' (did you mean '%s'?)", name, near);
    return fail(c, e->loc, "unknown function '%s'", name);
}

static bool has_call(const gc_ast_expr *e) {
    switch (e->kind) {
    case GC_EXPR_CALL: return true;
    case GC_EXPR_NEG: return has_call(e->operand);
    case GC_EXPR_BINARY: return has_call(e->bin.lhs) || has_call(e->bin.rhs);
    case GC_EXPR_LIST:
        for (int i = 0; i < e->list.n; i++)
            if (has_call(e->list.items[i])) return true;
        return false;
    default: return false;
    }
}

/* An index of `as h[i]` becomes a name component, so it must be a compile-time integer: a
 * loop variable, a const, a def argument holding a number (checked when the def is expanded). */
static int check_path(checker *c, scope *s, gc_ast_path *p) {
    for (int i = 0; i < p->n; i++) {
        gc_ast_expr *ix = p->parts[i].index;
        if (!ix) continue;
        skind k;
        gc_const_value v;
        if (!check_value(c, s, ix, CTX_VALUE, &k, &v)) return 0;
        if (k == SK_STATIC && (v.kind != GC_CV_INT || v.i < 0)) {
            char got[64];
            gc_const_describe(&v, got, sizeof got);
            return fail(c, ix->loc, "an 'as' index must be a non-negative integer, got %s", got);
        }
        if (k == SK_TENSOR || has_call(ix))
            return fail(c, ix->loc, "an 'as' index must be a compile-time integer, not the result of a call");
    }
    return 1;
}

/* Checks a builtin call's bound arguments against the parameter types of builtins.def. */
static int check_builtin_args(checker *c, const gc_builtin *b, const gc_ast_expr *call, const gc_ast_expr **slots,
                              const skind *kinds, const gc_const_value *vals) {
    for (int i = 0; i < b->nparams; i++) {
        if (!slots[i]) continue;
        int a = 0;
        while (call->call.args[a].value != slots[i]) a++;
        const gc_builtin_param *p = &b->params[i];
        char want[160], got[64];
        gc_barg_describe(p, want, sizeof want);
        if (kinds[a] == SK_STATIC && !gc_barg_accepts(p, &vals[a])) {
            gc_const_describe(&vals[a], got, sizeof got);
            return fail(c, slots[i]->loc, "%s: argument '%s' must be %s, got %s", b->name, p->name, want, got);
        }
        if (kinds[a] == SK_TENSOR && p->type != GC_BARG_TENSOR && p->type != GC_BARG_OPT_TENSOR &&
            p->type != GC_BARG_WEIGHTS)
            return fail(c, slots[i]->loc, "%s: argument '%s' must be %s, got a tensor", b->name, p->name, want);
    }
    return 1;
}

static int check_call(checker *c, scope *s, gc_ast_expr *e, int ctx, skind *k) {
    const char *name = e->call.callee;
    e->call.def = NULL;
    e->call.builtin = NULL;
    sym *d = symtab_find(&c->defs, name);
    const gc_builtin *b = d ? NULL : gc_builtin_find(name, GC_BMASK_EXPR);
    if (!d && !b) return unknown_function(c, s, e);
    int n = e->call.nargs;
    skind *kinds = gc_arena_alloc(c->scratch, (size_t)(n ? n : 1) * sizeof *kinds);
    gc_const_value *vals = gc_arena_alloc(c->scratch, (size_t)(n ? n : 1) * sizeof *vals);
    if (!kinds || !vals) return oom(c);
    for (int i = 0; i < n; i++)
        if (!check_value(c, s, e->call.args[i].value, CTX_VALUE, &kinds[i], &vals[i])) return 0;
    if (d) {
        gc_ast_stmt *def = d->decl;
        gc_bind_param params[GC_CHECK_MAX_DEF_ARGS];
        const gc_ast_expr *slots[GC_CHECK_MAX_DEF_ARGS];
        for (int i = 0; i < def->def.nargs; i++)
            params[i] = (gc_bind_param){def->def.args[i].name, def->def.args[i].default_value == NULL, false};
        if (!gc_bind_call(name, params, def->def.nargs, e, slots, c->err)) return 0;
        e->call.def = def;
        if (!(ctx & CTX_TUPLE) && returns_tuple(c, def, 0))
            return fail(c, e->loc, "'%s' returns a tuple; take it apart with A, B = %s(...)", name, name);
        *k = SK_UNKNOWN;
    } else {
        const gc_ast_expr *slots[GC_BUILTIN_MAX_PARAMS];
        if (!gc_builtin_bind(b, e, slots, c->err)) return 0;
        if (!check_builtin_args(c, b, e, slots, kinds, vals)) return 0;
        e->call.builtin = b;
        if (e->call.as && b->kind != GC_BKIND_LAYER)
            return fail(c, e->call.as->loc, "'%s' creates no parameters, so it cannot be named with 'as'", name);
        if ((b->flags & GC_BFLAG_TUPLE) && !(ctx & CTX_TUPLE))
            return fail(c, e->loc, "%s returns a tuple; take it apart with A, B = %s(...)", name, name);
        *k = SK_TENSOR;
    }
    return e->call.as ? check_path(c, s, e->call.as) : 1;
}

static int check_expr(checker *c, scope *s, gc_ast_expr *e, int ctx, skind *k) {
    switch (e->kind) {
    case GC_EXPR_INT:
    case GC_EXPR_FLOAT:
    case GC_EXPR_STRING:
    case GC_EXPR_BOOL:
    case GC_EXPR_NONE:
        *k = SK_STATIC;
        return 1;
    case GC_EXPR_NAME:
        return resolve_name(c, s, e, k);
    case GC_EXPR_LIST: {
        skind *kinds = gc_arena_alloc(c->scratch, (size_t)(e->list.n ? e->list.n : 1) * sizeof *kinds);
        if (!kinds) return oom(c);
        bool all = true;
        for (int i = 0; i < e->list.n; i++) {
            if (!check_expr(c, s, e->list.items[i], CTX_VALUE, &kinds[i])) return 0;
            all = all && kinds[i] == SK_STATIC;
        }
        if (!all)
            for (int i = 0; i < e->list.n; i++) {
                gc_const_value v;
                if (kinds[i] == SK_STATIC && !eval_static(c, e->list.items[i], &v)) return 0;
            }
        *k = all ? SK_STATIC : SK_UNKNOWN;
        return 1;
    }
    case GC_EXPR_NEG:
        return check_expr(c, s, e->operand, CTX_VALUE, k);
    case GC_EXPR_BINARY: {
        skind a, b;
        if (!check_expr(c, s, e->bin.lhs, CTX_VALUE, &a) || !check_expr(c, s, e->bin.rhs, CTX_VALUE, &b)) return 0;
        if (const_op(e->bin.op) && a == SK_STATIC && b == SK_STATIC) {
            *k = SK_STATIC;
            return 1;
        }
        if (!check_operand(c, e, e->bin.lhs, a) || !check_operand(c, e, e->bin.rhs, b)) return 0;
        *k = a == SK_TENSOR || b == SK_TENSOR ? SK_TENSOR : SK_UNKNOWN;
        return 1;
    }
    case GC_EXPR_CALL:
        return check_call(c, s, e, ctx, k);
    }
    return gc_fail(c->err, GC_ERR_INTERNAL, e->loc, "internal error: unknown expression kind %d", (int)e->kind);
}

/* Resolves the names of a train-block value without checking its calls as expressions: there
 * `adamw(...)` and `linear(...)` name an optimizer and a schedule, which check_train.c handles. */
static int resolve_names(checker *c, scope *s, gc_ast_expr *e) {
    skind k;
    switch (e->kind) {
    case GC_EXPR_NAME: return resolve_name(c, s, e, &k);
    case GC_EXPR_LIST:
        for (int i = 0; i < e->list.n; i++)
            if (!resolve_names(c, s, e->list.items[i])) return 0;
        return 1;
    case GC_EXPR_NEG: return resolve_names(c, s, e->operand);
    case GC_EXPR_BINARY: return resolve_names(c, s, e->bin.lhs) && resolve_names(c, s, e->bin.rhs);
    case GC_EXPR_CALL:
        for (int i = 0; i < e->call.nargs; i++)
            if (!resolve_names(c, s, e->call.args[i].value)) return 0;
        return 1;
    default: return 1;
    }
}

/* ---- statements ---- */

static bool is_static(const gc_ast_expr *e) {
    char why[160] = "";
    why_not_static(e, why, sizeof why);
    return !why[0];
}

static int not_static(checker *c, const gc_ast_expr *e, const char *what) {
    char why[160] = "";
    why_not_static(e, why, sizeof why);
    return fail(c, e->loc, "%s must be a compile-time constant: %s", what, why[0] ? why : "it is a tensor");
}

static int check_block(checker *c, scope *s, gc_ast_block *b);

/* Dimensions are positive integers, known here at the top level; in a def they may use the
 * def's arguments and are evaluated per call by the lowering. */
static int check_dims(checker *c, scope *s, gc_ast_stmt *st) {
    bool known = true;
    double elements = 1;
    for (int i = 0; i < st->type.rank; i++) {
        gc_ast_expr *d = st->type.dims[i];
        skind k;
        gc_const_value v;
        if (!check_value(c, s, d, CTX_VALUE, &k, &v)) return 0;
        if (k != SK_STATIC) {
            if (k == SK_TENSOR || !c->def) return not_static(c, d, "a dimension");
            known = false;
            continue;
        }
        if (v.kind != GC_CV_INT || v.i < 1) {
            char got[64];
            gc_const_describe(&v, got, sizeof got);
            return fail(c, d->loc, "a dimension must be a positive integer, got %s", got);
        }
        if (v.i > INT32_MAX)
            return fail(c, d->loc, "dimension %lld is too large (the limit is %d)", (long long)v.i, INT32_MAX);
        st->type.shape[i] = v.i;
        elements *= (double)v.i;
    }
    if (known && elements > (double)(1LL << 40))
        return fail(c, st->name_loc, "'%s' has too many elements (%.0f; the limit is 2^40)", st->name, elements);
    st->type.shape_known = known;
    return 1;
}

static void kind_names(unsigned mask, char *buf, size_t cap) {
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < GC_BUILTIN_COUNT && used < cap; i++) {
        if (!(mask & GC_BMASK(gc_builtins[i].kind))) continue;
        int n = snprintf(buf + used, cap - used, "%s%s", used ? ", " : "", gc_builtins[i].name);
        if (n < 0) break;
        used += (size_t)n;
    }
}

static int check_init(checker *c, scope *s, gc_ast_stmt *st) {
    gc_ast_expr *init = st->value;
    init->call.builtin = NULL;
    init->call.def = NULL;
    const gc_builtin *b = gc_builtin_find(init->call.callee, GC_BMASK(GC_BKIND_INIT));
    if (!b) {
        char list[400];
        kind_names(GC_BMASK(GC_BKIND_INIT), list, sizeof list);
        return fail(c, init->loc, "unknown initialiser '%s' (initialisers: %s)", init->call.callee, list);
    }
    int n = init->call.nargs;
    skind kinds[GC_BUILTIN_MAX_PARAMS + 1];
    gc_const_value vals[GC_BUILTIN_MAX_PARAMS + 1];
    const gc_ast_expr *slots[GC_BUILTIN_MAX_PARAMS];
    if (!gc_builtin_bind(b, init, slots, c->err)) return 0;
    for (int i = 0; i < n; i++)
        if (!check_value(c, s, init->call.args[i].value, CTX_VALUE, &kinds[i], &vals[i])) return 0;
    if (!check_builtin_args(c, b, init, slots, kinds, vals)) return 0;
    init->call.builtin = b;
    return 1;
}

static int check_tuple_source(checker *c, const gc_ast_stmt *st) {
    const gc_ast_expr *e = st->value;
    int n = st->assign.n;
    if (e->kind == GC_EXPR_CALL && e->call.builtin && (e->call.builtin->flags & GC_BFLAG_TUPLE)) {
        const gc_ast_expr *slots[GC_BUILTIN_MAX_PARAMS];
        if (!gc_builtin_bind(e->call.builtin, e, slots, c->err)) return 0;
        const gc_ast_expr *parts = slots[gc_builtin_param_index(e->call.builtin, "n")];
        gc_const_value v;
        if (parts && is_static(parts)) {
            if (!eval_static(c, parts, &v)) return 0;
            if (v.kind == GC_CV_INT && v.i != n)
                return fail(c, st->loc, "%s makes %lld parts but %d names are assigned", e->call.callee,
                            (long long)v.i, n);
        }
        return 1;
    }
    if (e->kind == GC_EXPR_CALL && e->call.builtin && (e->call.builtin->flags & GC_BFLAG_STATES)) {
        int want = e->call.builtin->id == GC_BUILTIN_LSTM ? 3 : 2;
        if (n != want)
            return fail(c, st->loc, "%s gives %s, %d values, but %d names are assigned", e->call.callee,
                        want == 3 ? "out, h_n, c_n" : "out, h_n", want, n);
        return 1;
    }
    /* An ONNX graph's outputs are counted when it is read, at lowering. */
    if (e->kind == GC_EXPR_CALL && e->call.builtin && e->call.builtin->id == GC_BUILTIN_ONNX) return 1;
    if (e->kind == GC_EXPR_CALL && e->call.def) {
        if (returns_tuple(c, e->call.def, 0)) return 1;
        return fail(c, st->loc, "'%s' returns one value, but %d names are assigned", e->call.callee, n);
    }
    return fail(c, e->loc, "only split(...), or a def that returns it, gives several values to assign (and rnn, lstm or gru their final states)");
}

static int check_assign(checker *c, scope *s, gc_ast_stmt *st) {
    int n = st->assign.n;
    skind k;
    if (!check_value(c, s, st->value, n > 1 ? CTX_TUPLE : CTX_VALUE, &k, NULL)) return 0;
    if (n > 1 && !check_tuple_source(c, st)) return 0;
    /* A value bound to a name is not a const, even when computed from consts: only `const`
     * declares compile-time names, so `for`, dims and overrides see one kind of constant. */
    skind bound = n > 1 ? SK_TENSOR : k == SK_STATIC ? SK_UNKNOWN : k;
    scope *target = binding_scope(s);
    for (int i = 0; i < n; i++) {
        gc_ast_target *t = &st->assign.targets[i];
        if (!check_declarable(c, t->name, t->loc)) return 0;
        for (int j = 0; j < i; j++)
            if (!strcmp(st->assign.targets[j].name, t->name))
                return fail(c, t->loc, "'%s' is assigned twice in one statement", t->name);
        sym *old = lookup(c, s, t->name);
        if (old && old->ref == GC_REF_CONST)
            return fail(c, t->loc, "cannot assign to const '%s' (declared at %d:%d)", t->name, old->loc.line,
                        old->loc.col);
        if (old && old->ref == GC_REF_LOOP_VAR)
            return fail(c, t->loc, "cannot assign to loop variable '%s'", t->name);
        if (!bind(c, target, t->name, GC_REF_VALUE, st, t->loc, bound)) return 0;
    }
    return 1;
}

static int check_for(checker *c, scope *s, gc_ast_stmt *st) {
    skind k;
    gc_const_value v;
    if (!check_value(c, s, st->value, CTX_VALUE, &k, &v)) return 0;
    if (k != SK_STATIC) return not_static(c, st->value, "the loop count");
    if (v.kind != GC_CV_INT || v.i < 0) {
        char got[64];
        gc_const_describe(&v, got, sizeof got);
        return fail(c, st->value->loc, "the loop count must be a non-negative integer, got %s", got);
    }
    if (v.i > GC_CHECK_MAX_UNROLLED)
        return fail(c, st->value->loc, "the loop count %lld is too large (the limit is %d)", (long long)v.i,
                    GC_CHECK_MAX_UNROLLED);
    st->loop.count = v.i;
    if (!check_declarable(c, st->name, st->name_loc)) return 0;
    sym *old = lookup(c, s, st->name);
    if (old)
        return fail(c, st->name_loc, "loop variable '%s' would hide %s defined at %d:%d", st->name, ref_noun(old->ref),
                    old->loc.line, old->loc.col);
    scope *inner = new_scope(c, s, false, v.i == 0);
    if (!inner) return oom(c);
    if (!bind(c, inner, st->name, GC_REF_LOOP_VAR, st, st->name_loc, SK_UNKNOWN)) return 0;
    return check_block(c, inner, &st->loop.body);
}

/* The loss and outputs are numbers or tensors; a string or list there is a mistake worth
 * naming before the lowering meets it. */
static int check_reported(checker *c, scope *s, gc_ast_stmt *st, const char *what) {
    skind k;
    gc_const_value v;
    if (!check_value(c, s, st->value, CTX_VALUE, &k, &v)) return 0;
    if (k == SK_STATIC && !gc_const_is_number(&v)) {
        char got[64];
        gc_const_describe(&v, got, sizeof got);
        return fail(c, st->value->loc, "%s must be a tensor, got %s", what, got);
    }
    return 1;
}

static int check_output(checker *c, scope *s, gc_ast_stmt *st) {
    static const char *const log_columns[] = {"step", "loss", "lr", "grad_norm", "ms"};
    if (!check_reported(c, s, st, "an output")) return 0;
    for (size_t i = 0; i < sizeof log_columns / sizeof log_columns[0]; i++)
        if (!strcmp(st->name, log_columns[i]))
            return fail(c, st->name_loc,
                        "output name '%s' clashes with a column of the training log (step, loss, lr, grad_norm, ms)",
                        st->name);
    sym *old = symtab_find(&c->outputs, st->name);
    if (old) return fail(c, st->name_loc, "output '%s' is already defined at %d:%d", st->name, old->loc.line, old->loc.col);
    sym *y = new_sym(c, st->name, GC_REF_UNRESOLVED, st, st->name_loc, SK_TENSOR);
    return y && symtab_put(c, &c->outputs, y) ? 1 : oom(c);
}

static int check_stmt(checker *c, scope *s, gc_ast_stmt *st) {
    skind k;
    switch (st->kind) {
    case GC_STMT_CONST: /* evaluated by eval_consts; here it only becomes visible */
        if (!check_fresh(c, s, st->name, st->name_loc)) return 0;
        return bind(c, s, st->name, GC_REF_CONST, st, st->name_loc, SK_STATIC) != NULL;
    case GC_STMT_INPUT:
        if (!check_fresh(c, s, st->name, st->name_loc) || !check_dims(c, s, st)) return 0;
        if (st->type.rank == 0)
            return fail(c, st->type.dtype_loc, "an input needs at least one dimension (the first is the batch)");
        return bind(c, s, st->name, GC_REF_INPUT, st, st->name_loc, SK_TENSOR) != NULL;
    case GC_STMT_PARAM:
        if (!check_fresh(c, s, st->name, st->name_loc) || !check_dims(c, s, st) || !check_init(c, s, st)) return 0;
        return bind(c, s, st->name, GC_REF_PARAM, st, st->name_loc, SK_TENSOR) != NULL;
    case GC_STMT_ASSIGN:
        return check_assign(c, s, st);
    case GC_STMT_LOSS:
        if (!check_reported(c, s, st, "the loss")) return 0;
        if (c->m->loss)
            return fail(c, st->loc, "loss is assigned twice (first at %d:%d)", c->m->loss->loc.line,
                        c->m->loss->loc.col);
        c->m->loss = st;
        return bind(c, s, "loss", GC_REF_LOSS, st, st->loc, SK_TENSOR) != NULL;
    case GC_STMT_OUTPUT:
        return check_output(c, s, st);
    case GC_STMT_DEF: /* checked by check_def, before the top level */
        return 1;
    case GC_STMT_FOR:
        return check_for(c, s, st);
    case GC_STMT_TRAIN:
        if (c->m->train)
            return fail(c, st->loc, "only one train block is allowed (the first is at %d:%d)", c->m->train->loc.line,
                        c->m->train->loc.col);
        c->m->train = st;
        for (int i = 0; i < st->train.n; i++)
            if (!resolve_names(c, s, st->train.items[i].value)) return 0;
        return 1;
    case GC_STMT_RETURN:
        return check_value(c, s, st->value, CTX_TUPLE, &k, NULL);
    }
    return gc_fail(c->err, GC_ERR_INTERNAL, st->loc, "internal error: unknown statement kind %d", (int)st->kind);
}

static int check_block(checker *c, scope *s, gc_ast_block *b) {
    for (int i = 0; i < b->n; i++)
        if (!check_stmt(c, s, b->stmts[i])) return 0;
    return 1;
}

/* ---- defs and consts ---- */

static int register_defs(checker *c) {
    gc_ast_module *m = c->m;
    int cap = 0;
    for (int i = 0; i < m->body.n; i++) {
        gc_ast_stmt *d = m->body.stmts[i];
        if (d->kind != GC_STMT_DEF) continue;
        if (!check_declarable(c, d->name, d->name_loc)) return 0;
        const gc_builtin *b = gc_builtin_find(d->name, GC_BMASK_EXPR);
        if (b)
            return fail(c, d->name_loc, "def '%s' would hide the built-in %s '%s'", d->name,
                        gc_builtin_kind_name(b->kind), d->name);
        sym *old = symtab_find(&c->defs, d->name);
        if (old) return fail(c, d->name_loc, "def '%s' is already defined at %d:%d", d->name, old->loc.line, old->loc.col);
        if (d->def.nargs > GC_CHECK_MAX_DEF_ARGS)
            return fail(c, d->def.args[GC_CHECK_MAX_DEF_ARGS].loc, "a def takes at most %d arguments",
                        GC_CHECK_MAX_DEF_ARGS);
        bool defaults = false;
        for (int a = 0; a < d->def.nargs; a++) {
            gc_ast_def_arg *arg = &d->def.args[a];
            if (!check_declarable(c, arg->name, arg->loc)) return 0;
            for (int b2 = 0; b2 < a; b2++)
                if (!strcmp(d->def.args[b2].name, arg->name))
                    return fail(c, arg->loc, "argument '%s' appears twice", arg->name);
            if (defaults && !arg->default_value)
                return fail(c, arg->loc, "argument '%s' needs a default because an earlier argument has one", arg->name);
            defaults = defaults || arg->default_value;
        }
        d->def.visit = 0;
        d->def.cost = 0;
        sym *y = new_sym(c, d->name, GC_REF_UNRESOLVED, d, d->name_loc, SK_UNKNOWN);
        if (!y || !symtab_put(c, &c->defs, y)) return oom(c);
        if (m->ndefs == cap) {
            int ncap = cap ? cap * 2 : 8;
            gc_ast_stmt **grown = gc_arena_grow(m->arena, m->defs, (size_t)cap * sizeof *grown, (size_t)ncap * sizeof *grown);
            if (!grown) return oom(c);
            m->defs = grown;
            cap = ncap;
        }
        m->defs[m->ndefs++] = d;
    }
    return 1;
}

static int check_def(checker *c, gc_ast_stmt *def) {
    c->def = def;
    scope *s = new_scope(c, NULL, true, true);
    if (!s) return oom(c);
    /* Defaults first, while no argument is bound: a default sees consts only. */
    for (int a = 0; a < def->def.nargs; a++) {
        gc_ast_def_arg *arg = &def->def.args[a];
        if (!arg->default_value) continue;
        skind k;
        if (!check_expr(c, s, arg->default_value, CTX_VALUE, &k)) return 0;
        if (k != SK_STATIC) return not_static(c, arg->default_value, "a default");
        if (!gc_const_eval(arg->default_value, NULL, NULL, c->m->arena, &arg->cval, c->err)) return 0;
    }
    for (int a = 0; a < def->def.nargs; a++)
        if (!bind(c, s, def->def.args[a].name, GC_REF_ARG, def, def->def.args[a].loc, SK_UNKNOWN)) return 0;
    if (!check_block(c, s, &def->def.body)) return 0;
    c->def = NULL;
    return 1;
}

static const gc_const_override *find_override(const gc_const_override *ov, int n, const char *name) {
    const gc_const_override *found = NULL;
    for (int i = 0; i < n; i++)
        if (ov[i].name && !strcmp(ov[i].name, name)) found = &ov[i]; /* the last one wins, as on a command line */
    return found;
}

static int eval_consts(checker *c, const gc_const_override *ov, int n) {
    gc_ast_block *top = &c->m->body;
    for (int i = 0; i < n; i++) {
        bool exists = false;
        for (int j = 0; j < top->n && !exists; j++)
            exists = top->stmts[j]->kind == GC_STMT_CONST && ov[i].name && !strcmp(top->stmts[j]->name, ov[i].name);
        if (!exists)
            return gc_failf(c->err, GC_ERR_USER, "cannot set '%s': %s has no const of that name",
                            ov[i].name ? ov[i].name : "(null)", c->m->file);
        if (!isfinite(ov[i].value))
            return gc_failf(c->err, GC_ERR_USER, "cannot set '%s' to a value that is not finite", ov[i].name);
    }
    scope *s = new_scope(c, NULL, true, true);
    if (!s) return oom(c);
    c->in_const = true;
    for (int i = 0; i < top->n; i++) {
        gc_ast_stmt *st = top->stmts[i];
        if (st->kind != GC_STMT_CONST) continue;
        if (!check_declarable(c, st->name, st->name_loc)) return 0;
        sym *old = symtab_find(&s->names, st->name);
        if (old) return fail(c, st->name_loc, "const '%s' is already defined at %d:%d", st->name, old->loc.line, old->loc.col);
        skind k;
        if (!check_expr(c, s, st->value, CTX_VALUE, &k)) return 0;
        gc_const_value v = {0};
        const gc_const_override *o = find_override(ov, n, st->name);
        if (o) {
            bool integral = o->value >= -9007199254740992.0 && o->value <= 9007199254740992.0 &&
                            o->value == (double)(int64_t)o->value;
            v.kind = integral ? GC_CV_INT : GC_CV_FLOAT;
            if (integral) v.i = (int64_t)o->value;
            else v.f = o->value;
        } else {
            if (k != SK_STATIC) return not_static(c, st->value, "a const");
            if (!gc_const_eval(st->value, NULL, NULL, c->m->arena, &v, c->err)) return 0;
            if (!gc_const_is_number(&v)) {
                char got[64];
                gc_const_describe(&v, got, sizeof got);
                return fail(c, st->value->loc, "const '%s' must be a number, got %s", st->name, got);
            }
        }
        st->cval = v;
        sym *y = bind(c, s, st->name, GC_REF_CONST, st, st->name_loc, SK_STATIC);
        if (!y) return 0;
        if (!symtab_put(c, &c->consts, y)) return oom(c);
    }
    c->in_const = false;
    return 1;
}

static int check_module(checker *c, const gc_const_override *ov, int n) {
    gc_ast_module *m = c->m;
    if (!register_defs(c) || !eval_consts(c, ov, n)) return 0;
    for (int i = 0; i < m->ndefs; i++)
        if (!check_def(c, m->defs[i])) return 0;
    scope *top = new_scope(c, NULL, true, true);
    if (!top) return oom(c);
    if (!check_block(c, top, &m->body)) return 0;
    if (!gc_check_unroll(m, c->err)) return 0;
    if (!m->loss) return fail(c, m->body.end, "the model has no loss; add a statement loss = EXPR");
    return gc_check_train(m, m->train, c->err);
}

int gc_frontend_check(gc_ast_module *m, const gc_const_override *overrides, int n, gc_error *err) {
    checker c = {0};
    c.m = m;
    c.err = err;
    c.scratch = gc_arena_new();
    if (!c.scratch) return gc_failf(err, GC_ERR_MEMORY, "out of memory while checking %s", m->file);
    m->loss = m->train = NULL;
    m->defs = NULL;
    m->ndefs = 0;
    m->unrolled = 0;
    m->config = NULL;
    int ok = check_module(&c, overrides, overrides ? n : 0);
    gc_arena_free(c.scratch);
    return ok;
}
