/*
 * lower.c: a checked .gm module to the forward graph (lower.h): statements, scopes, def inlining,
 * loop unrolling and parameter names. Expressions are in lower_expr.c, built-in calls in
 * lower_call.c / lower_ops.c / lower_layers.c, the train block in lower_train.c.
 *
 * What is lowered, statement by statement:
 *   const NAME = EXPR             nothing: check evaluated it (names read decl->cval)
 *   input NAME: DTYPE[DIMS]       an `input` node named NAME
 *   param NAME: f32[DIMS] = INIT  gc_layer_param(prefix.NAME, layer kind "param", the INIT)
 *   NAME = EXPR                   binds NAME in the current scope (rebinding replaces it)
 *   A, B, ... = EXPR              EXPR must be a tuple of as many values (split, a def's return)
 *   loss = EXPR                   `output "loss"`: an f32[] value
 *   output NAME = EXPR            `output NAME`; not "loss", "lr" or "grad_norm" (the training
 *                                 step reports those itself)
 *   for I in range(N) { ... }     the body N times with I bound to the const 0 .. N-1; names it
 *                                 binds stay bound after the loop, as in Python
 *   def NAME(...) { ... }         nothing until called; each call is inlined in a fresh scope
 *                                 holding only its arguments (file consts are read from the AST)
 *   return EXPR                   the value of the def call
 *   train { ... }                 lower_train.c, from check's evaluated m->config
 *
 * Parameter names (docs/language.md): `as PATH` names a layer or def call (`h[i]` -> `h.0`);
 * without `as`, a layer call is `<layer>_<k>` and a def call `<def>_<k>`, k counting the unnamed
 * calls of that layer kind or def in the current scope from 0; inside a def every name (layer
 * paths and `param` statements) is prefixed by the instance's name.
 */
#include "frontend/lower_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "frontend/consteval.h"

/* ---- scopes ---------------------------------------------------------------------------------- */

static int out_of_memory(lowerer *L) { return gc_failf(L->err, GC_ERR_MEMORY, "out of memory while lowering"); }

/* Name lookup in a scope: entries are structs whose first member is the name (lower_binding,
 * lower_counter), `stride` bytes apart. */
enum { SCAN_NAMES = 8 }; /* scopes up to this many names are scanned, not indexed */

static const char *name_at(const void *base, size_t stride, int i) {
    return *(const char *const *)((const char *)base + stride * (size_t)i);
}

static uint32_t str_hash(const char *s) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) h = (h ^ *p) * 16777619u;
    return h;
}

static int index_find(const lower_name_index *ix, const void *base, size_t stride, int n, const char *name) {
    if (!ix->cap) {
        for (int i = 0; i < n; i++)
            if (!strcmp(name_at(base, stride, i), name)) return i;
        return -1;
    }
    uint32_t mask = (uint32_t)ix->cap - 1;
    for (uint32_t at = str_hash(name) & mask; ix->slots[at]; at = (at + 1) & mask)
        if (!strcmp(name_at(base, stride, ix->slots[at] - 1), name)) return ix->slots[at] - 1;
    return -1;
}

static void index_put(lower_name_index *ix, const void *base, size_t stride, int i) {
    uint32_t mask = (uint32_t)ix->cap - 1, at = str_hash(name_at(base, stride, i)) & mask;
    while (ix->slots[at]) at = (at + 1) & mask;
    ix->slots[at] = i + 1;
}

/* Indexes entry n - 1, just appended (n entries now). */
static int index_added(lowerer *L, lower_name_index *ix, const void *base, size_t stride, int n) {
    if (n <= SCAN_NAMES) return 1;
    if (2 * n <= ix->cap) {
        index_put(ix, base, stride, n - 1);
        return 1;
    }
    int cap = 64;
    while (cap < 4 * n) cap *= 2;
    int *slots = gc_arena_alloc(L->scratch, sizeof *slots * (size_t)cap);
    if (!slots) return out_of_memory(L);
    ix->slots = slots;
    ix->cap = cap;
    for (int i = 0; i < n; i++) index_put(ix, base, stride, i);
    return 1;
}

const lval *gc_lower_lookup(const lowerer *L, const char *name) {
    const lower_scope *s = L->scope;
    int i = index_find(&s->var_index, s->vars, sizeof *s->vars, s->nvars, name);
    return i >= 0 && !s->vars[i].unbound ? &s->vars[i].value : NULL;
}

int gc_lower_bind(lowerer *L, const char *name, const lval *v) {
    lower_scope *s = L->scope;
    int i = index_find(&s->var_index, s->vars, sizeof *s->vars, s->nvars, name);
    if (i >= 0) {
        s->vars[i].value = *v;
        s->vars[i].unbound = false;
        return 1;
    }
    if (s->nvars == s->cap_vars) {
        int cap = s->cap_vars ? s->cap_vars * 2 : 4;
        lower_binding *vars = gc_arena_grow(L->scratch, s->vars, sizeof *vars * (size_t)s->nvars, sizeof *vars * (size_t)cap);
        if (!vars) return out_of_memory(L);
        s->vars = vars;
        s->cap_vars = cap;
    }
    s->vars[s->nvars].name = name;
    s->vars[s->nvars].value = *v;
    s->vars[s->nvars].unbound = false;
    s->nvars++;
    return index_added(L, &s->var_index, s->vars, sizeof *s->vars, s->nvars);
}

/* Removes a binding (a loop variable when its loop ends). */
static void unbind(lowerer *L, const char *name) {
    lower_scope *s = L->scope;
    int i = index_find(&s->var_index, s->vars, sizeof *s->vars, s->nvars, name);
    if (i >= 0) s->vars[i].unbound = true;
}

int64_t gc_lower_count(lowerer *L, const char *kind) {
    lower_scope *s = L->scope;
    int i = index_find(&s->counter_index, s->counters, sizeof *s->counters, s->ncounters, kind);
    if (i >= 0) return s->counters[i].n++;
    if (s->ncounters == s->cap_counters) {
        int cap = s->cap_counters ? s->cap_counters * 2 : 4;
        lower_counter *c =
            gc_arena_grow(L->scratch, s->counters, sizeof *c * (size_t)s->ncounters, sizeof *c * (size_t)cap);
        if (!c) {
            out_of_memory(L);
            return -1;
        }
        s->counters = c;
        s->cap_counters = cap;
    }
    s->counters[s->ncounters].name = kind;
    s->counters[s->ncounters].n = 1;
    s->ncounters++;
    if (!index_added(L, &s->counter_index, s->counters, sizeof *s->counters, s->ncounters)) return -1;
    return 0;
}

/* ---- names ----------------------------------------------------------------------------------- */

const char *gc_lower_join(lowerer *L, const char *prefix, const char *name) {
    size_t np = prefix ? strlen(prefix) : 0, nn = strlen(name);
    char *s = gc_arena_alloc(L->scratch, np + nn + 2);
    if (!s) {
        out_of_memory(L);
        return NULL;
    }
    if (np) {
        memcpy(s, prefix, np);
        s[np++] = '.';
    }
    memcpy(s + np, name, nn + 1);
    return s;
}

/* PATH of `as PATH` as a dotted name: `h[i].attn` -> "h.3.attn". */
static const char *path_name(lowerer *L, const gc_ast_path *path) {
    const char *name = NULL;
    for (int i = 0; i < path->n; i++) {
        const gc_ast_path_part *part = &path->parts[i];
        char index[32];
        const char *step = part->name;
        if (!step) {
            gc_const_value v;
            if (!gc_lower_const(L, part->index, &v)) return NULL;
            if (v.kind != GC_CV_INT || v.i < 0) {
                char d[64];
                gc_const_describe(&v, d, sizeof d);
                gc_fail(L->err, GC_ERR_USER, part->index->loc, "an 'as' index must be an integer >= 0, got %s", d);
                return NULL;
            }
            snprintf(index, sizeof index, "%" PRId64, v.i);
            step = index;
        }
        if (!(name = gc_lower_join(L, name, step))) return NULL;
    }
    return name;
}

const char *gc_lower_call_name(lowerer *L, const gc_ast_expr *call, const char *kind) {
    const char *local;
    if (call->call.as) {
        local = path_name(L, call->call.as);
    } else {
        int64_t k = gc_lower_count(L, kind);
        if (k < 0) return NULL;
        char buf[160];
        snprintf(buf, sizeof buf, "%s_%" PRId64, kind, k);
        local = gc_arena_strdup(L->scratch, buf);
        if (!local) out_of_memory(L);
    }
    if (!local) return NULL;
    return gc_lower_join(L, L->scope->prefix, local);
}

/* ---- statements ------------------------------------------------------------------------------ */

static int lower_block(lowerer *L, const gc_ast_block *b, lval *ret);

/* DIMS of an input or param: evaluated here, since inside a def they may use its arguments. */
static int lower_type(lowerer *L, const gc_ast_stmt *s, gc_type *t) {
    memset(t, 0, sizeof *t);
    t->dtype = s->type.dtype;
    t->rank = s->type.rank;
    int64_t numel = 1;
    for (int i = 0; i < s->type.rank; i++) {
        gc_const_value v;
        if (!gc_lower_const(L, s->type.dims[i], &v)) return 0;
        if (v.kind != GC_CV_INT || v.i < 1) {
            char d[64];
            gc_const_describe(&v, d, sizeof d);
            return gc_fail(L->err, GC_ERR_USER, s->type.dims[i]->loc, "a dimension must be an integer >= 1, got %s", d);
        }
        if (v.i > GC_MAX_ELEMENTS || numel > GC_MAX_ELEMENTS / v.i)
            return gc_fail(L->err, GC_ERR_USER, s->type.dims[i]->loc, "'%s' has more than 2^40 elements", s->name);
        numel *= v.i;
        t->dims[i] = v.i;
    }
    return 1;
}

static int lower_input(lowerer *L, const gc_ast_stmt *s) {
    gc_type t;
    if (!lower_type(L, s, &t)) return 0;
    gc_lower_at(L, s->loc);
    gc_node *n = gc_graph_make(L->g, GC_OP_INPUT, NULL, 0, NULL, &t, s->name, L->ctx.b.loc, L->err);
    if (!n) return 0;
    lval v = {.kind = LV_TENSOR, .node = n};
    return gc_lower_bind(L, s->name, &v);
}

static int lower_param(lowerer *L, const gc_ast_stmt *s) {
    gc_type t;
    if (!lower_type(L, s, &t)) return 0;
    if (t.dtype != GC_F32)
        return gc_fail(L->err, GC_ERR_USER, s->type.dtype_loc, "param '%s' must be f32 (parameters are trained)", s->name);
    gc_init init;
    if (!gc_lower_init(L, s->value, &t, &init)) return 0;
    const char *name = gc_lower_join(L, L->scope->prefix, s->name);
    if (!name) return 0;
    gc_lower_at(L, s->loc);
    gc_node *n = gc_layer_param(&L->ctx, name, "param", &t, init);
    if (!n) return 0;
    lval v = {.kind = LV_TENSOR, .node = n};
    return gc_lower_bind(L, s->name, &v);
}

static int lower_assign(lowerer *L, const gc_ast_stmt *s) {
    lval v;
    /* A recurrent layer assigned to several names also gives its final states. */
    L->states_call = s->assign.n > 1 ? s->value : NULL;
    int ok = gc_lower_expr(L, s->value, &v);
    L->states_call = NULL;
    if (!ok) return 0;
    if (s->assign.n == 1) {
        if (v.kind == LV_TUPLE)
            return gc_fail(L->err, GC_ERR_USER, s->loc,
                           "this is a tuple of %d values: take it apart with %d names (a, b = ...)", v.n, v.n);
        return gc_lower_bind(L, s->assign.targets[0].name, &v);
    }
    if (v.kind != LV_TUPLE || v.n != s->assign.n) {
        char d[64];
        return gc_fail(L->err, GC_ERR_USER, s->loc, "%d names on the left, but the value is %s", s->assign.n,
                       gc_lower_describe(&v, d, sizeof d));
    }
    for (int i = 0; i < v.n; i++)
        if (!gc_lower_bind(L, s->assign.targets[i].name, &v.items[i])) return 0;
    return 1;
}

/* The value of a loss or output statement as a tensor (a number becomes an f32 scalar). */
static gc_node *result_tensor(lowerer *L, const gc_ast_stmt *s, const char *what) {
    lval v;
    if (!gc_lower_expr(L, s->value, &v)) return NULL;
    gc_lower_at(L, s->value->loc);
    return gc_lower_tensor(L, &v, GC_F32, s->value->loc, what);
}

static int lower_loss(lowerer *L, const gc_ast_stmt *s) {
    L->loss_call = s->value;
    L->prediction = NULL;
    /* The loss's own nodes carry the layer "loss" (layers called inside it, their own path). */
    const char *layer = L->g->layer;
    L->g->layer = layer ? layer : "loss";
    gc_node *n = result_tensor(L, s, "the loss");
    L->g->layer = layer;
    L->loss_call = NULL;
    if (!n) return 0;
    if (n->type.rank != 0 || n->type.dtype != GC_F32) {
        char t[96];
        return gc_fail(L->err, GC_ERR_USER, s->value->loc,
                       "the loss must be a scalar f32[] (reduce it with mean or sum), got %s",
                       gc_type_format(&n->type, t, sizeof t));
    }
    lval v = {.kind = LV_TENSOR, .node = n};
    if (!gc_lower_bind(L, "loss", &v)) return 0;
    return gc_graph_add_output(L->g, GC_OUTPUT_VALUE, "loss", n, L->err);
}

static int lower_output(lowerer *L, const gc_ast_stmt *s) {
    static const char *const reserved[] = {"loss", "lr", "grad_norm"};
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
        if (!strcmp(s->name, reserved[i]))
            return gc_fail(L->err, GC_ERR_USER, s->name_loc,
                           "an output cannot be named '%s': the training step reports '%s' itself", s->name, s->name);
    gc_node *n = result_tensor(L, s, "an output");
    if (!n) return 0;
    if (gc_graph_find_output(L->g, GC_OUTPUT_VALUE, s->name))
        return gc_fail(L->err, GC_ERR_USER, s->name_loc, "output '%s' is declared twice", s->name);
    return gc_graph_add_output(L->g, GC_OUTPUT_VALUE, s->name, n, L->err);
}

static int lower_for(lowerer *L, const gc_ast_stmt *s, lval *ret) {
    gc_const_value bound;
    if (!gc_lower_const(L, s->value, &bound)) return 0;
    if (bound.kind != GC_CV_INT || bound.i < 0) {
        char d[64];
        gc_const_describe(&bound, d, sizeof d);
        return gc_fail(L->err, GC_ERR_USER, s->value->loc, "range() needs an integer >= 0, got %s", d);
    }
    for (int64_t i = 0; i < bound.i; i++) {
        lval v = {.kind = LV_CONST, .cv = {.kind = GC_CV_INT, .i = i}};
        if (!gc_lower_bind(L, s->name, &v)) return 0;
        if (!lower_block(L, &s->loop.body, ret)) return 0;
    }
    unbind(L, s->name);
    return 1;
}

static int lower_stmt_kind(lowerer *L, const gc_ast_stmt *s, lval *ret) {
    switch (s->kind) {
    case GC_STMT_CONST:
    case GC_STMT_DEF:
    case GC_STMT_TRAIN: return 1;
    case GC_STMT_INPUT: return lower_input(L, s);
    case GC_STMT_PARAM: return lower_param(L, s);
    case GC_STMT_ASSIGN: return lower_assign(L, s);
    case GC_STMT_LOSS: return lower_loss(L, s);
    case GC_STMT_OUTPUT: return lower_output(L, s);
    case GC_STMT_FOR: return lower_for(L, s, ret);
    case GC_STMT_RETURN:
        if (!ret) return gc_fail(L->err, GC_ERR_USER, s->loc, "return outside a def");
        return gc_lower_expr(L, s->value, ret);
    }
    return gc_fail(L->err, GC_ERR_INTERNAL, s->loc, "internal error: unknown statement kind %d", (int)s->kind);
}

/* Errors from code that knows no source location (graph outputs, memory) get the statement's. */
static int lower_stmt(lowerer *L, const gc_ast_stmt *s, lval *ret) {
    if (lower_stmt_kind(L, s, ret)) {
        /* Checked per statement, so the error names the line (inside a loop or def: the one
         * whose unrolled copy crossed the bound) and lowering stops right there. */
        if (L->g->num_nodes <= GC_LOWER_MAX_NODES || s->kind == GC_STMT_FOR) return 1;
        return gc_fail(L->err, GC_ERR_USER, s->loc,
                       "the model is too large: it lowers to more than %d graph nodes (loops unrolled and defs "
                       "expanded; docs/language.md, \"Limits\"); this statement crossed the limit",
                       GC_LOWER_MAX_NODES);
    }
    if (L->err && L->err->line == 0) {
        if (s->loc.file) snprintf(L->err->file, sizeof L->err->file, "%s", s->loc.file);
        L->err->line = s->loc.line;
        L->err->col = s->loc.col;
    }
    return 0;
}

static int lower_block(lowerer *L, const gc_ast_block *b, lval *ret) {
    for (int i = 0; i < b->n; i++)
        if (!lower_stmt(L, b->stmts[i], ret)) return 0;
    return 1;
}

/* ---- def calls ------------------------------------------------------------------------------- */

/* Binds the call's arguments to the def's parameters, lowered in the caller's scope. */
static int bind_def_args(lowerer *L, const gc_ast_stmt *def, const gc_ast_expr *call, lval *vals) {
    int n = def->def.nargs;
    gc_bind_param *params = gc_arena_alloc(L->scratch, sizeof *params * (size_t)(n ? n : 1));
    const gc_ast_expr **slots = gc_arena_alloc(L->scratch, sizeof *slots * (size_t)(n ? n : 1));
    if (!params || !slots) return out_of_memory(L);
    for (int i = 0; i < n; i++) {
        params[i].name = def->def.args[i].name;
        params[i].required = def->def.args[i].default_value == NULL;
        params[i].kwonly = false;
    }
    char what[160];
    snprintf(what, sizeof what, "def '%s'", def->name);
    if (!gc_bind_call(what, params, n, call, slots, L->err)) return 0;
    for (int i = 0; i < n; i++) {
        if (!slots[i]) {
            vals[i] = (lval){.kind = LV_CONST, .cv = def->def.args[i].cval};
        } else if (!gc_lower_expr(L, slots[i], &vals[i])) {
            return 0;
        }
    }
    return 1;
}

int gc_lower_def_call(lowerer *L, const gc_ast_expr *call, lval *out) {
    const gc_ast_stmt *def = call->call.def;
    int n = def->def.nargs;
    lval *vals = gc_arena_alloc(L->scratch, sizeof *vals * (size_t)(n ? n : 1));
    if (!vals) return out_of_memory(L);
    if (!bind_def_args(L, def, call, vals)) return 0;
    const char *prefix = gc_lower_call_name(L, call, def->name);
    lower_scope *scope = gc_arena_alloc(L->scratch, sizeof *scope);
    if (!prefix || !scope) return prefix ? out_of_memory(L) : 0;
    scope->prefix = prefix;
    lower_scope *caller = L->scope;
    L->scope = scope;
    int ok = 1;
    for (int i = 0; ok && i < n; i++) ok = gc_lower_bind(L, def->def.args[i].name, &vals[i]);
    *out = (lval){.kind = LV_CONST, .cv = {.kind = GC_CV_NONE}};
    /* The body's nodes carry the instance's path (`layer(...)` in the IR). */
    const char *layer = L->g->layer;
    L->g->layer = prefix;
    ok = ok && lower_block(L, &def->def.body, out);
    L->g->layer = layer;
    L->scope = caller;
    return ok;
}

/* ---- the module ------------------------------------------------------------------------------ */

/* "dir/tiny_gpt.gm" -> "tiny_gpt": the graph's name in printed IR. */
static const char *graph_name(const char *file, char *buf, size_t cap) {
    const char *base = file ? strrchr(file, '/') : NULL;
    base = base ? base + 1 : file ? file : "model";
    size_t n = strlen(base);
    if (n > 3 && !strcmp(base + n - 3, ".gm")) n -= 3;
    snprintf(buf, cap, "%.*s", (int)(n < cap ? n : cap - 1), base);
    return buf;
}

static int lower_module(lowerer *L) {
    lower_scope *top = gc_arena_alloc(L->scratch, sizeof *top);
    if (!top) return out_of_memory(L);
    top->prefix = "";
    L->scope = top;
    if (!lower_block(L, &L->m->body, NULL)) return 0;
    if (!gc_graph_find_output(L->g, GC_OUTPUT_VALUE, "loss")) {
        gc_loc end = L->m->body.end;
        return gc_fail(L->err, GC_ERR_USER, end, "the model has no 'loss = ...' statement");
    }
    return 1;
}

int gc_lower_model(const gc_ast_module *m, bool training, gc_lowered_model *out, gc_error *err) {
    memset(out, 0, sizeof *out);
    char name[128];
    lowerer L;
    memset(&L, 0, sizeof L);
    L.m = m;
    L.err = err;
    L.g = gc_graph_new(graph_name(m->file, name, sizeof name));
    L.scratch = gc_arena_new();
    L.file = L.g && m->file ? gc_arena_strdup(L.g->arena, m->file) : NULL;
    if (!L.g || !L.scratch || (m->file && !L.file)) {
        gc_graph_free(L.g);
        gc_arena_free(L.scratch);
        return gc_failf(err, GC_ERR_MEMORY, "out of memory while lowering");
    }
    int ok = gc_lower_train(m, L.g, &out->train, err);
    if (ok) {
        if (out->train.loc.line) out->train.loc.file = out->train.optimizer.loc.file = L.file;
        gc_layer_context_init(&L.ctx, L.g, err, training, out->train.seed);
        L.ctx.sync_batchnorm = out->train.sync_batchnorm;
        ok = lower_module(&L) && gc_lower_train_patterns(m, L.g, err);
    }
    gc_arena_free(L.scratch);
    if (!ok) {
        gc_graph_free(L.g);
        memset(out, 0, sizeof *out);
        return 0;
    }
    out->graph = L.g;
    out->prediction = L.prediction;
    out->layers = L.ctx;
    out->layers.b.err = NULL; /* the caller's error slot does not outlive this call */
    return 1;
}

void gc_lowered_model_free(gc_lowered_model *model) {
    if (!model) return;
    gc_graph_free(model->graph);
    memset(model, 0, sizeof *model);
}
