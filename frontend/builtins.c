/* builtins.c: the builtin table generated from builtins.def, lookup and argument binding. */
#include "frontend/builtins.h"

#include <stdio.h>
#include <string.h>

#define GC_UNPACK(...) __VA_ARGS__
#define D_NONE GC_BDEF_NONE, 0, 0, NULL
#define D_TRUE GC_BDEF_BOOL, 1, 0, NULL
#define D_FALSE GC_BDEF_BOOL, 0, 0, NULL
#define D_INT(v) GC_BDEF_INT, (v), 0, NULL
#define D_NUM(v) GC_BDEF_FLOAT, (v), 0, NULL
#define D_PAIR(a, b) GC_BDEF_PAIR, (a), (b), NULL
#define ARG(n, T) {#n, GC_BARG_##T, GC_BDEF_REQUIRED, 0, 0, NULL, NULL, false},
#define OPT(n, T, D) {#n, GC_BARG_##T, D, NULL, false},
#define KW(n, T, D) {#n, GC_BARG_##T, D, NULL, true},
#define STR(n, d, ch) {#n, GC_BARG_STRING, GC_BDEF_STRING, 0, 0, d, ch, false},
#define KWSTR(n, d, ch) {#n, GC_BARG_STRING, GC_BDEF_STRING, 0, 0, d, ch, true},

/* One parameter array per builtin, each ended by an all-zero sentinel (so empty lists compile). */
#define GC_BUILTIN(E, name, kind, flags, params, doc) \
    static const gc_builtin_param params_##E[] = {GC_UNPACK params{0}};
#include "frontend/builtins.def"
#undef GC_BUILTIN

#define NPARAMS(E) ((int)(sizeof params_##E / sizeof params_##E[0]) - 1)

const gc_builtin gc_builtins[GC_BUILTIN_COUNT] = {
#define GC_BUILTIN(E, name, kind, flags, params, doc) \
    {GC_BUILTIN_##E, #name, GC_BKIND_##kind, flags, params_##E, NPARAMS(E), doc},
#include "frontend/builtins.def"
#undef GC_BUILTIN
};

#define GC_BUILTIN(E, name, kind, flags, params, doc) \
    _Static_assert(NPARAMS(E) <= GC_BUILTIN_MAX_PARAMS, #name " has more than GC_BUILTIN_MAX_PARAMS parameters");
#include "frontend/builtins.def"
#undef GC_BUILTIN

const gc_builtin *gc_builtin_find(const char *name, unsigned mask) {
    for (int i = 0; i < GC_BUILTIN_COUNT; i++)
        if ((mask & GC_BMASK(gc_builtins[i].kind)) && !strcmp(gc_builtins[i].name, name)) return &gc_builtins[i];
    return NULL;
}

int gc_builtin_param_index(const gc_builtin *b, const char *name) {
    for (int i = 0; i < b->nparams; i++)
        if (!strcmp(b->params[i].name, name)) return i;
    return -1;
}

const char *gc_builtin_kind_name(gc_builtin_kind kind) {
    switch (kind) {
    case GC_BKIND_OP: return "operation";
    case GC_BKIND_LAYER: return "layer";
    case GC_BKIND_LOSS: return "loss";
    case GC_BKIND_INIT: return "initialiser";
    case GC_BKIND_OPTIMIZER: return "optimizer";
    case GC_BKIND_SCHEDULE: return "schedule";
    }
    return "?";
}

const char *gc_barg_type_name(gc_barg_type type) {
    switch (type) {
    case GC_BARG_TENSOR: return "a tensor";
    case GC_BARG_OPT_TENSOR: return "a tensor or none";
    case GC_BARG_TENSORS: return "a list of tensors";
    case GC_BARG_INT: return "an integer";
    case GC_BARG_NUMBER: return "a number";
    case GC_BARG_BOOL: return "true or false";
    case GC_BARG_STRING: return "a string";
    case GC_BARG_AXES: return "an integer, a list of integers or none";
    case GC_BARG_INTS: return "a list of integers";
    case GC_BARG_NUMBERS: return "a list of numbers";
    case GC_BARG_DTYPE: return "a dtype (f32 or i32)";
    case GC_BARG_OPT_INT: return "an integer or none";
    case GC_BARG_WEIGHTS: return "a tensor, a list of numbers or none";
    case GC_BARG_SIZES: return "an integer or a list of integers";
    case GC_BARG_PADDING: return "an integer, a list of integers, \"same\" or \"valid\"";
    }
    return "?";
}

int gc_builtin_default(const gc_builtin_param *p, gc_arena *arena, gc_const_value *out) {
    memset(out, 0, sizeof *out);
    switch (p->dkind) {
    case GC_BDEF_REQUIRED: return 0;
    case GC_BDEF_NONE: out->kind = GC_CV_NONE; return 1;
    case GC_BDEF_BOOL: out->kind = GC_CV_BOOL; out->b = p->num != 0; return 1;
    case GC_BDEF_INT: out->kind = GC_CV_INT; out->i = (int64_t)p->num; return 1;
    case GC_BDEF_FLOAT: out->kind = GC_CV_FLOAT; out->f = p->num; return 1;
    case GC_BDEF_STRING: out->kind = GC_CV_STRING; out->s = p->str; return 1;
    case GC_BDEF_PAIR: {
        gc_const_value *items = gc_arena_alloc(arena, 2 * sizeof *items);
        if (!items) return 0;
        items[0].kind = items[1].kind = GC_CV_FLOAT;
        items[0].f = p->num;
        items[1].f = p->num2;
        out->kind = GC_CV_LIST;
        out->list.items = items;
        out->list.n = 2;
        return 1;
    }
    }
    return 0;
}

static bool in_choices(const char *choices, const char *s) {
    size_t n = strlen(s);
    for (const char *c = choices; *c;) {
        const char *bar = strchr(c, '|');
        size_t len = bar ? (size_t)(bar - c) : strlen(c);
        if (len == n && !memcmp(c, s, n)) return true;
        if (!bar) break;
        c = bar + 1;
    }
    return false;
}

static bool all_of(const gc_const_value *v, bool floats_too) {
    for (int i = 0; i < v->list.n; i++) {
        gc_cv_kind k = v->list.items[i].kind;
        if (k != GC_CV_INT && !(floats_too && k == GC_CV_FLOAT)) return false;
    }
    return true;
}

bool gc_barg_accepts(const gc_builtin_param *p, const gc_const_value *v) {
    bool number = v->kind == GC_CV_INT || v->kind == GC_CV_FLOAT;
    switch (p->type) {
    case GC_BARG_TENSOR: return number;
    case GC_BARG_OPT_TENSOR: return v->kind == GC_CV_NONE;
    case GC_BARG_TENSORS: return v->kind == GC_CV_LIST;
    case GC_BARG_INT: return v->kind == GC_CV_INT;
    case GC_BARG_NUMBER: return number;
    case GC_BARG_BOOL: return v->kind == GC_CV_BOOL;
    case GC_BARG_STRING: return v->kind == GC_CV_STRING && (!p->choices || in_choices(p->choices, v->s));
    case GC_BARG_AXES:
        return v->kind == GC_CV_INT || v->kind == GC_CV_NONE || (v->kind == GC_CV_LIST && all_of(v, false));
    case GC_BARG_INTS: return v->kind == GC_CV_LIST && all_of(v, false);
    case GC_BARG_NUMBERS: return v->kind == GC_CV_LIST && all_of(v, true);
    case GC_BARG_DTYPE: return v->kind == GC_CV_DTYPE;
    case GC_BARG_OPT_INT: return v->kind == GC_CV_INT || v->kind == GC_CV_NONE;
    case GC_BARG_WEIGHTS: return v->kind == GC_CV_NONE || (v->kind == GC_CV_LIST && v->list.n > 0 && all_of(v, true));
    case GC_BARG_SIZES:
        if (p->dkind == GC_BDEF_NONE && (v->kind == GC_CV_NONE || (v->kind == GC_CV_LIST && v->list.n == 0))) return true;
        return v->kind == GC_CV_INT || (v->kind == GC_CV_LIST && v->list.n > 0 && all_of(v, false));
    case GC_BARG_PADDING:
        return v->kind == GC_CV_INT || (v->kind == GC_CV_LIST && v->list.n > 0 && all_of(v, false)) ||
               (v->kind == GC_CV_STRING && in_choices("same|valid", v->s));
    }
    return false;
}

void gc_barg_describe(const gc_builtin_param *p, char *buf, size_t cap) {
    if (p->type == GC_BARG_SIZES && p->dkind == GC_BDEF_NONE) {
        snprintf(buf, cap, "an integer, a list of integers or none");
        return;
    }
    if (p->type != GC_BARG_STRING || !p->choices) {
        snprintf(buf, cap, "%s", gc_barg_type_name(p->type));
        return;
    }
    /* "a|b|c" reads as "a", "b" or "c". */
    size_t used = 0;
    buf[0] = '\0';
    for (const char *c = p->choices; *c && used < cap;) {
        const char *bar = strchr(c, '|');
        int len = bar ? (int)(bar - c) : (int)strlen(c);
        const char *sep = c == p->choices ? "" : bar ? ", " : " or ";
        int n = snprintf(buf + used, cap - used, "%s\"%.*s\"", sep, len, c);
        if (n < 0) break;
        used += (size_t)n;
        if (!bar) break;
        c = bar + 1;
    }
}

int gc_bind_call(const char *what, const gc_bind_param *params, int n, const gc_ast_expr *call,
                 const gc_ast_expr **slots, gc_error *err) {
    for (int i = 0; i < n; i++) slots[i] = NULL;
    int positional = 0, next = 0, given = 0;
    for (int i = 0; i < n; i++)
        if (!params[i].kwonly) positional++;
    for (int a = 0; a < call->call.nargs; a++)
        if (!call->call.args[a].name) given++;
    for (int a = 0; a < call->call.nargs; a++) {
        const gc_ast_arg *arg = &call->call.args[a];
        int slot = -1;
        if (!arg->name) {
            while (next < n && params[next].kwonly) next++;
            if (next >= n) {
                if (positional == 0)
                    return gc_fail(err, GC_ERR_USER, arg->loc, "%s takes no positional arguments", what);
                return gc_fail(err, GC_ERR_USER, arg->loc, "%s takes at most %d positional argument%s, got %d", what,
                               positional, positional == 1 ? "" : "s", given);
            }
            slot = next++;
        } else {
            for (int i = 0; i < n; i++)
                if (!strcmp(params[i].name, arg->name)) slot = i;
            if (slot < 0) {
                char list[300] = "";
                size_t used = 0;
                for (int i = 0; i < n && used < sizeof list; i++) {
                    int w = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", params[i].name);
                    if (w < 0) break;
                    used += (size_t)w;
                }
                if (n == 0) return gc_fail(err, GC_ERR_USER, arg->loc, "%s takes no arguments", what);
                return gc_fail(err, GC_ERR_USER, arg->loc, "%s has no argument named '%s' (its arguments: %s)", what,
                               arg->name, list);
            }
        }
        if (slots[slot])
            return gc_fail(err, GC_ERR_USER, arg->loc, "%s: argument '%s' given twice", what, params[slot].name);
        slots[slot] = arg->value;
    }
    for (int i = 0; i < n; i++)
        if (params[i].required && !slots[i])
            return gc_fail(err, GC_ERR_USER, call->loc, "%s: missing argument '%s'", what, params[i].name);
    return 1;
}

int gc_builtin_bind(const gc_builtin *b, const gc_ast_expr *call, const gc_ast_expr **slots, gc_error *err) {
    gc_bind_param params[GC_BUILTIN_MAX_PARAMS];
    for (int i = 0; i < b->nparams; i++) {
        params[i].name = b->params[i].name;
        params[i].required = b->params[i].dkind == GC_BDEF_REQUIRED;
        params[i].kwonly = b->params[i].kwonly;
    }
    return gc_bind_call(b->name, params, b->nparams, call, slots, err);
}
