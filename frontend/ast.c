/* ast.c: names of AST kinds and the S-expression dump the parser tests compare against. */
#include "frontend/ast.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const binop_spellings[] = {
#define X(name, spelling, op) spelling,
    GC_BINOPS(X)
#undef X
};
static const char *const binop_ops[] = {
#define X(name, spelling, op) op,
    GC_BINOPS(X)
#undef X
};
_Static_assert(sizeof binop_spellings / sizeof binop_spellings[0] == GC_BIN_COUNT, "one row per binop");

const char *gc_binop_spelling(gc_binop op) { return op >= 0 && op < GC_BIN_COUNT ? binop_spellings[op] : "?"; }
const char *gc_binop_op_name(gc_binop op) { return op >= 0 && op < GC_BIN_COUNT ? binop_ops[op] : "?"; }

const char *gc_stmt_kind_name(gc_stmt_kind kind) {
    switch (kind) {
    case GC_STMT_CONST: return "const";
    case GC_STMT_INPUT: return "input";
    case GC_STMT_PARAM: return "param";
    case GC_STMT_ASSIGN: return "assignment";
    case GC_STMT_LOSS: return "loss";
    case GC_STMT_OUTPUT: return "output";
    case GC_STMT_DEF: return "def";
    case GC_STMT_FOR: return "for";
    case GC_STMT_TRAIN: return "train";
    case GC_STMT_RETURN: return "return";
    }
    return "?";
}

gc_ast_stmt *gc_ast_find_def(const gc_ast_module *m, const char *name) {
    for (int i = 0; i < m->ndefs; i++)
        if (!strcmp(m->defs[i]->name, name)) return m->defs[i];
    return NULL;
}

/* A private growable string: the dump is the only printer here and must not depend on others. */
typedef struct out {
    char *data;
    size_t len, cap;
    bool failed;
} out;

static void put(out *o, const char *fmt, ...) GC_PRINTF(2, 3);
static void put(out *o, const char *fmt, ...) {
    if (o->failed) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        o->failed = true;
        return;
    }
    if (o->len + (size_t)n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap < o->len + (size_t)n + 1) cap *= 2;
        char *d = realloc(o->data, cap);
        if (!d) {
            o->failed = true;
            return;
        }
        o->data = d;
        o->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(o->data + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    o->len += (size_t)n;
}

static char *take(out *o) {
    if (o->failed) {
        free(o->data);
        return NULL;
    }
    if (!o->data) return calloc(1, 1);
    return o->data;
}

/* Shortest %g form that reads back to the same double, so dumps show 0.02, not 0.0200000000004. */
static void put_double(out *o, double v) {
    char buf[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    /* 1.0 must not read as the integer 1 in a dump. */
    put(o, "%s%s", buf, strpbrk(buf, ".eEn") ? "" : ".0");
}

static void put_string(out *o, const char *s) {
    put(o, "\"");
    for (; *s; s++) {
        switch (*s) {
        case '"': put(o, "\\\""); break;
        case '\\': put(o, "\\\\"); break;
        case '\n': put(o, "\\n"); break;
        case '\t': put(o, "\\t"); break;
        case '\r': put(o, "\\r"); break;
        default: put(o, "%c", *s);
        }
    }
    put(o, "\"");
}

static void dump_expr(out *o, const gc_ast_expr *e);

static void dump_path(out *o, const gc_ast_path *p) {
    for (int i = 0; i < p->n; i++) {
        if (p->parts[i].name) {
            put(o, "%s%s", i ? "." : "", p->parts[i].name);
        } else {
            put(o, "[");
            dump_expr(o, p->parts[i].index);
            put(o, "]");
        }
    }
}

static void dump_expr(out *o, const gc_ast_expr *e) {
    switch (e->kind) {
    case GC_EXPR_INT: put(o, "%lld", (long long)e->ival); break;
    case GC_EXPR_FLOAT: put_double(o, e->fval); break;
    case GC_EXPR_STRING: put_string(o, e->str.text); break;
    case GC_EXPR_BOOL: put(o, "%s", e->bval ? "true" : "false"); break;
    case GC_EXPR_NONE: put(o, "none"); break;
    case GC_EXPR_NAME: put(o, "%s", e->name.id); break;
    case GC_EXPR_LIST:
        put(o, "[");
        for (int i = 0; i < e->list.n; i++) {
            if (i) put(o, " ");
            dump_expr(o, e->list.items[i]);
        }
        put(o, "]");
        break;
    case GC_EXPR_NEG:
        put(o, "(neg ");
        dump_expr(o, e->operand);
        put(o, ")");
        break;
    case GC_EXPR_BINARY:
        put(o, "(%s ", gc_binop_spelling(e->bin.op));
        dump_expr(o, e->bin.lhs);
        put(o, " ");
        dump_expr(o, e->bin.rhs);
        put(o, ")");
        break;
    case GC_EXPR_CALL:
        put(o, "(%s", e->call.callee);
        for (int i = 0; i < e->call.nargs; i++) {
            put(o, " ");
            if (e->call.args[i].name) put(o, "%s=", e->call.args[i].name);
            dump_expr(o, e->call.args[i].value);
        }
        if (e->call.as) {
            put(o, " as ");
            dump_path(o, e->call.as);
        }
        put(o, ")");
        break;
    }
}

char *gc_ast_expr_dump(const gc_ast_expr *e) {
    out o = {0};
    dump_expr(&o, e);
    return take(&o);
}

static void dump_block(out *o, const gc_ast_block *b, int indent);

static void dump_type(out *o, const gc_ast_stmt *s) {
    put(o, "%s[", s->type.dtype == GC_I32 ? "i32" : "f32");
    for (int i = 0; i < s->type.rank; i++) {
        if (i) put(o, ", ");
        dump_expr(o, s->type.dims[i]);
    }
    put(o, "]");
}

static void dump_stmt(out *o, const gc_ast_stmt *s, int indent) {
    put(o, "%*s", indent, "");
    switch (s->kind) {
    case GC_STMT_CONST: put(o, "const %s = ", s->name); dump_expr(o, s->value); break;
    case GC_STMT_INPUT: put(o, "input %s: ", s->name); dump_type(o, s); break;
    case GC_STMT_PARAM:
        put(o, "param %s: ", s->name);
        dump_type(o, s);
        put(o, " = ");
        dump_expr(o, s->value);
        break;
    case GC_STMT_ASSIGN:
        for (int i = 0; i < s->assign.n; i++) put(o, "%s%s", i ? ", " : "", s->assign.targets[i].name);
        put(o, " = ");
        dump_expr(o, s->value);
        break;
    case GC_STMT_LOSS: put(o, "loss = "); dump_expr(o, s->value); break;
    case GC_STMT_OUTPUT: put(o, "output %s = ", s->name); dump_expr(o, s->value); break;
    case GC_STMT_RETURN: put(o, "return "); dump_expr(o, s->value); break;
    case GC_STMT_DEF:
        put(o, "def %s(", s->name);
        for (int i = 0; i < s->def.nargs; i++) {
            put(o, "%s%s", i ? ", " : "", s->def.args[i].name);
            if (s->def.args[i].default_value) {
                put(o, "=");
                dump_expr(o, s->def.args[i].default_value);
            }
        }
        put(o, ") {\n");
        dump_block(o, &s->def.body, indent + 2);
        put(o, "%*s}", indent, "");
        break;
    case GC_STMT_FOR:
        put(o, "for %s in range(", s->name);
        dump_expr(o, s->value);
        put(o, ") {\n");
        dump_block(o, &s->loop.body, indent + 2);
        put(o, "%*s}", indent, "");
        break;
    case GC_STMT_TRAIN:
        put(o, "train {\n");
        for (int i = 0; i < s->train.n; i++) {
            put(o, "%*s%s = ", indent + 2, "", s->train.items[i].key);
            dump_expr(o, s->train.items[i].value);
            put(o, "\n");
        }
        put(o, "%*s}", indent, "");
        break;
    }
    put(o, "\n");
}

static void dump_block(out *o, const gc_ast_block *b, int indent) {
    for (int i = 0; i < b->n; i++) dump_stmt(o, b->stmts[i], indent);
}

char *gc_ast_module_dump(const gc_ast_module *m) {
    out o = {0};
    dump_block(&o, &m->body, 0);
    return take(&o);
}
