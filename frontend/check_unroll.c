/*
 * check_unroll.c: how big the model is once loops are unrolled and defs expanded, and whether
 * defs recurse.
 *
 * Defs are expanded at every call, so a def's size is computed once (memoised in def.cost) and
 * multiplied by its calls; sizes saturate just above GC_CHECK_MAX_UNROLLED so that a model of
 * 10^20 statements is an error found in microseconds rather than an overflow. A def reached again
 * while its own size is being computed is recursion, reported with the chain of calls.
 */
#include <stdarg.h>
#include <stdio.h>

#include "frontend/check_internal.h"

typedef struct walk {
    gc_error *err;
    gc_ast_stmt *stack[GC_CHECK_MAX_DEF_DEPTH + 1]; /* defs being sized, for cycle messages */
    int depth;
} walk;

static int fail(gc_error *err, gc_loc loc, const char *fmt, ...) GC_PRINTF(3, 4);
static int fail(gc_error *err, gc_loc loc, const char *fmt, ...) {
    char msg[sizeof err->message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return gc_fail(err, GC_ERR_USER, loc, "%s", msg);
}

#define COST_LIMIT ((int64_t)GC_CHECK_MAX_UNROLLED)

/* Costs saturate just above the limit, so they never overflow however deep the nesting. */
static int64_t sat(int64_t v) { return v > COST_LIMIT ? COST_LIMIT + 1 : v; }

static int64_t cost_block(walk *c, const gc_ast_block *b);

static int recursion(walk *c, const gc_ast_stmt *callee, const gc_ast_expr *call) {
    char chain[400] = "";
    size_t used = 0;
    int from = 0;
    while (from < c->depth && c->stack[from] != callee) from++;
    for (int i = from; i < c->depth && used < sizeof chain; i++) {
        int n = snprintf(chain + used, sizeof chain - used, "%s -> ", c->stack[i]->name);
        if (n < 0) break;
        used += (size_t)n;
    }
    return fail(c->err, call->loc, "recursive def: %s%s (defs are expanded at compile time, so they cannot recurse)", chain,
                callee->name);
}

static int64_t def_cost(walk *c, gc_ast_stmt *def, const gc_ast_expr *call) {
    if (def->def.visit == 2) return def->def.cost;
    if (def->def.visit == 1) return recursion(c, def, call), -1;
    if (c->depth >= GC_CHECK_MAX_DEF_DEPTH)
        return fail(c->err, call->loc, "defs call each other more than %d levels deep", GC_CHECK_MAX_DEF_DEPTH), -1;
    def->def.visit = 1;
    c->stack[c->depth++] = def;
    int64_t cost = cost_block(c, &def->def.body);
    c->depth--;
    if (cost < 0) return -1;
    def->def.visit = 2;
    def->def.cost = cost;
    return cost;
}

static int64_t cost_expr(walk *c, const gc_ast_expr *e) {
    int64_t total = 0, part;
    switch (e->kind) {
    case GC_EXPR_LIST:
        for (int i = 0; i < e->list.n; i++) {
            if ((part = cost_expr(c, e->list.items[i])) < 0) return -1;
            total = sat(total + part);
        }
        return total;
    case GC_EXPR_NEG: return cost_expr(c, e->operand);
    case GC_EXPR_BINARY:
        if ((total = cost_expr(c, e->bin.lhs)) < 0 || (part = cost_expr(c, e->bin.rhs)) < 0) return -1;
        return sat(total + part);
    case GC_EXPR_CALL:
        for (int i = 0; i < e->call.nargs; i++) {
            if ((part = cost_expr(c, e->call.args[i].value)) < 0) return -1;
            total = sat(total + part);
        }
        for (int i = 0; e->call.as && i < e->call.as->n; i++) {
            if (!e->call.as->parts[i].index) continue;
            if ((part = cost_expr(c, e->call.as->parts[i].index)) < 0) return -1;
            total = sat(total + part);
        }
        if (e->call.def) {
            /* The call itself counts one: inlining it makes a scope, however small its body. */
            if ((part = def_cost(c, e->call.def, e)) < 0) return -1;
            total = sat(total + part + 1);
        }
        return total;
    default: return 0;
    }
}

static int64_t cost_block(walk *c, const gc_ast_block *b) {
    int64_t total = 0, part;
    for (int i = 0; i < b->n; i++) {
        const gc_ast_stmt *st = b->stmts[i];
        if (st->kind == GC_STMT_DEF || st->kind == GC_STMT_TRAIN) continue;
        int64_t sc = 1;
        if (st->value) {
            if ((part = cost_expr(c, st->value)) < 0) return -1;
            sc = sat(sc + part);
        }
        if (st->kind == GC_STMT_INPUT || st->kind == GC_STMT_PARAM)
            for (int d = 0; d < st->type.rank; d++) {
                if ((part = cost_expr(c, st->type.dims[d])) < 0) return -1;
                sc = sat(sc + part);
            }
        if (st->kind == GC_STMT_FOR) {
            if ((part = cost_block(c, &st->loop.body)) < 0) return -1;
            sc = sat(sc + sat(part * st->loop.count)); /* both <= limit + 1: no overflow */
            if (sc > COST_LIMIT)
                return fail(c->err, st->loc, "this loop unrolls to more than %d statements", GC_CHECK_MAX_UNROLLED), -1;
        }
        total = sat(total + sc);
        if (total > COST_LIMIT)
            return fail(c->err, st->loc, "the model unrolls to more than %d statements (loops and def calls expanded)",
                        GC_CHECK_MAX_UNROLLED),
                   -1;
    }
    return total;
}

int gc_check_unroll(gc_ast_module *m, gc_error *err) {
    walk c = {0};
    c.err = err;
    for (int i = 0; i < m->ndefs; i++) m->defs[i]->def.visit = 0;
    /* Every def, called or not, so that recursion in an unused def is still reported. */
    for (int i = 0; i < m->ndefs; i++)
        if (m->defs[i]->def.visit == 0 && def_cost(&c, m->defs[i], NULL) < 0) return 0;
    return (m->unrolled = cost_block(&c, &m->body)) >= 0;
}
