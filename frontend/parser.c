/*
 * parser.c: recursive descent from tokens to the AST; the grammar rule each function implements
 * is written above it. Every function returns NULL (or 0) after the first error, which is kept in
 * p->err; nothing is recovered, so the reported error is the first one in the file.
 */
#include "frontend/parser.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "frontend/lexer.h"

/* Where a statement sits decides which statements it may be. */
typedef enum place { PLACE_TOP, PLACE_DEF, PLACE_LOOP } place;

typedef struct parser {
    gc_lexer lx;
    gc_token la[2]; /* lookahead: two tokens tell a keyword argument `k=v` from an expression */
    int nla;
    gc_arena *arena;
    gc_error *err;
    const char *file;
    bool failed;
    int depth;
    long nodes;
    bool in_def;
    int loops; /* for loops enclosing the current statement */
} parser;

static gc_loc tok_loc(const parser *p, const gc_token *t) { return (gc_loc){p->file, t->line, t->col}; }

/* Records the first error; when a bracket opened on an earlier line is still open, says so,
 * because a missing ')' otherwise surfaces as a puzzling error lines later. */
static void *error_at(parser *p, gc_loc loc, const char *fmt, ...) GC_PRINTF(3, 4);
static void *error_at(parser *p, gc_loc loc, const char *fmt, ...) {
    if (p->failed) return NULL;
    p->failed = true;
    char msg[400], hint[80] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char ch;
    int line, col;
    if (gc_lexer_open_bracket(&p->lx, &ch, &line, &col) && line < loc.line)
        snprintf(hint, sizeof hint, " (the '%c' at %d:%d is still open)", ch, line, col);
    gc_fail(p->err, GC_ERR_USER, loc, "%s%s", msg, hint);
    return NULL;
}

static void *out_of_memory(parser *p) {
    if (!p->failed) gc_failf(p->err, GC_ERR_MEMORY, "out of memory while parsing %s", p->file);
    p->failed = true;
    return NULL;
}

/* The k-th token ahead (0 or 1), or NULL after a lexical error. */
static const gc_token *peek_at(parser *p, int k) {
    if (p->failed) return NULL;
    while (p->nla <= k) {
        if (!gc_lexer_next(&p->lx, &p->la[p->nla], p->err)) {
            p->failed = true;
            return NULL;
        }
        p->nla++;
    }
    return &p->la[k];
}

static const gc_token *peek(parser *p) { return peek_at(p, 0); }

static bool at(parser *p, gc_token_kind kind) {
    const gc_token *t = peek(p);
    return t && t->kind == kind;
}

static gc_token advance(parser *p) {
    gc_token t = p->la[0];
    p->la[0] = p->la[1];
    p->nla--;
    return t;
}

static bool is_keyword(gc_token_kind k) { return k >= GC_TOK_KW_CONST && k <= GC_TOK_KW_NONE; }

static void *unexpected(parser *p, const gc_token *t, const char *what) {
    char found[64];
    gc_token_describe(t, found, sizeof found);
    return error_at(p, tok_loc(p, t), "expected %s, found %s%s", what, found,
                    is_keyword(t->kind) ? " (a reserved word)" : "");
}

/* Consumes a token of the given kind or reports "expected <what>". */
static bool expect(parser *p, gc_token_kind kind, const char *what, gc_token *out) {
    const gc_token *t = peek(p);
    if (!t) return false;
    if (t->kind != kind) {
        unexpected(p, t, what);
        return false;
    }
    gc_token got = advance(p);
    if (out) *out = got;
    return true;
}

static void skip_newlines(parser *p) {
    while (at(p, GC_TOK_NEWLINE)) advance(p);
}

/* Appends item to an arena array, doubling its capacity when full. */
static bool push_max(parser *p, void **data, int *n, int *cap, size_t size, const void *item, gc_loc loc, int max) {
    if (*n >= max) {
        error_at(p, loc, "too many items in one list, call or path (the limit is %d)", max);
        return false;
    }
    if (*n == *cap) {
        int ncap = *cap ? *cap * 2 : 4;
        void *grown = gc_arena_grow(p->arena, *data, (size_t)*cap * size, (size_t)ncap * size);
        if (!grown) {
            out_of_memory(p);
            return false;
        }
        *data = grown;
        *cap = ncap;
    }
    memcpy((char *)*data + (size_t)*n * size, item, size);
    (*n)++;
    return true;
}

static bool push(parser *p, void **data, int *n, int *cap, size_t size, const void *item, gc_loc loc) {
    return push_max(p, data, n, cap, size, item, loc, GC_AST_MAX_LIST);
}

static bool count_node(parser *p, gc_loc loc) {
    if (++p->nodes > GC_AST_MAX_NODES) {
        error_at(p, loc, "model too large (more than %d syntax nodes)", GC_AST_MAX_NODES);
        return false;
    }
    return true;
}

static gc_ast_expr *new_expr(parser *p, gc_expr_kind kind, gc_loc loc) {
    if (!count_node(p, loc)) return NULL;
    gc_ast_expr *e = gc_arena_alloc(p->arena, sizeof *e);
    if (!e) return out_of_memory(p);
    e->kind = kind;
    e->loc = loc;
    e->height = 1;
    return e;
}

static gc_ast_stmt *new_stmt(parser *p, gc_stmt_kind kind, gc_loc loc) {
    if (!count_node(p, loc)) return NULL;
    gc_ast_stmt *s = gc_arena_alloc(p->arena, sizeof *s);
    if (!s) return out_of_memory(p);
    s->kind = kind;
    s->loc = loc;
    return s;
}

/* Raises e's height to one above `child` and enforces the height limit. */
static bool grow_height(parser *p, gc_ast_expr *e, const gc_ast_expr *child) {
    if (child->height + 1 > e->height) e->height = child->height + 1;
    if (e->height > GC_AST_MAX_HEIGHT) {
        error_at(p, e->loc, "expression too deeply nested or too long (more than %d levels)", GC_AST_MAX_HEIGHT);
        return false;
    }
    return true;
}

static bool enter(parser *p, gc_loc loc) {
    if (++p->depth > GC_PARSE_MAX_DEPTH) {
        error_at(p, loc, "nested too deeply (the limit is %d levels)", GC_PARSE_MAX_DEPTH);
        return false;
    }
    return true;
}

static void leave(parser *p) { p->depth--; }

static gc_ast_expr *expr(parser *p);

/* name = IDENT, with a message that names what the name was for */
static bool name(parser *p, const char *what, const char **out, gc_loc *loc) {
    gc_token t;
    if (!expect(p, GC_TOK_IDENT, what, &t)) return false;
    *out = t.str;
    *loc = tok_loc(p, &t);
    return true;
}

/* segment = IDENT | INT (the lexer reads the digits of a path as a whole number, never a float) */
static bool path_segment(parser *p, const char *what, const char **out, gc_loc *loc) {
    const gc_token *t = peek(p);
    if (!t) return false;
    if (t->kind != GC_TOK_IDENT && t->kind != GC_TOK_INT) {
        if (t->kind == GC_TOK_MINUS) {
            error_at(p, tok_loc(p, t), "an 'as' path segment cannot be negative (a segment is a name or a whole number >= 0)");
            return false;
        }
        unexpected(p, t, what);
        return false;
    }
    gc_token got = advance(p);
    *out = got.str;
    *loc = tok_loc(p, &got);
    return true;
}

/* path = segment ("[" expr "]" | "." segment)* */
static gc_ast_path *path(parser *p) {
    gc_ast_path *ap = gc_arena_alloc(p->arena, sizeof *ap);
    if (!ap) return out_of_memory(p);
    int cap = 0;
    gc_ast_path_part part = {0};
    if (!path_segment(p, "a name or a whole number after 'as'", &part.name, &part.loc)) return NULL;
    ap->loc = part.loc;
    if (!push(p, (void **)&ap->parts, &ap->n, &cap, sizeof part, &part, part.loc)) return NULL;
    for (;;) {
        const gc_token *t = peek(p);
        if (!t) return NULL;
        memset(&part, 0, sizeof part);
        part.loc = tok_loc(p, t);
        if (t->kind == GC_TOK_DOT) {
            advance(p);
            if (!path_segment(p, "a name or a whole number after '.' in an 'as' path", &part.name, &part.loc))
                return NULL;
        } else if (t->kind == GC_TOK_LBRACKET) {
            advance(p);
            if (!(part.index = expr(p))) return NULL;
            if (!expect(p, GC_TOK_RBRACKET, "']' after the index", NULL)) return NULL;
        } else {
            return ap;
        }
        if (!push(p, (void **)&ap->parts, &ap->n, &cap, sizeof part, &part, part.loc)) return NULL;
    }
}

/* args = (arg ("," arg)* ","?)?      arg = IDENT "=" expr | expr
 * Called after "("; consumes the closing ")". */
static bool call_args(parser *p, gc_ast_expr *call) {
    int cap = 0;
    bool keywords = false;
    while (!at(p, GC_TOK_RPAREN)) {
        if (p->failed) return false;
        const gc_token *t = peek(p), *t2 = peek_at(p, 1);
        if (!t2) return false;
        gc_ast_arg arg = {0};
        arg.loc = tok_loc(p, t);
        /* Reserved words may name keyword arguments: mse_loss(input=a, target=b) as in torch. */
        if ((t->kind == GC_TOK_IDENT || is_keyword(t->kind)) && t2->kind == GC_TOK_ASSIGN) {
            arg.name = t->str;
            advance(p);
            advance(p);
            keywords = true;
        } else if (keywords) {
            error_at(p, arg.loc, "positional argument follows a keyword argument");
            return false;
        }
        if (!(arg.value = expr(p))) return false;
        if (!arg.name) arg.loc = arg.value->loc;
        if (!grow_height(p, call, arg.value)) return false;
        if (!push(p, (void **)&call->call.args, &call->call.nargs, &cap, sizeof arg, &arg, arg.loc)) return false;
        if (!at(p, GC_TOK_COMMA)) break;
        advance(p);
    }
    if (p->failed) return false;
    return expect(p, GC_TOK_RPAREN, "',' or ')' in the argument list", NULL);
}

/* list = "[" (expr ("," expr)* ","?)? "]" */
static gc_ast_expr *list(parser *p) {
    gc_token open = advance(p);
    gc_ast_expr *e = new_expr(p, GC_EXPR_LIST, tok_loc(p, &open));
    if (!e) return NULL;
    int cap = 0;
    while (!at(p, GC_TOK_RBRACKET)) {
        if (p->failed) return NULL;
        gc_ast_expr *item = expr(p);
        if (!item || !grow_height(p, e, item)) return NULL;
        if (!push(p, (void **)&e->list.items, &e->list.n, &cap, sizeof item, &item, item->loc)) return NULL;
        if (!at(p, GC_TOK_COMMA)) break;
        advance(p);
    }
    if (p->failed) return NULL;
    if (!expect(p, GC_TOK_RBRACKET, "',' or ']' in the list", NULL)) return NULL;
    return e;
}

/* primary = INT | FLOAT | STRING | "true" | "false" | "none" | IDENT | "(" expr ")" | list */
static gc_ast_expr *primary(parser *p) {
    const gc_token *t = peek(p);
    if (!t) return NULL;
    gc_loc loc = tok_loc(p, t);
    gc_ast_expr *e;
    switch (t->kind) {
    case GC_TOK_INT:
        if (!(e = new_expr(p, GC_EXPR_INT, loc))) return NULL;
        e->ival = advance(p).ival;
        return e;
    case GC_TOK_FLOAT:
        if (!(e = new_expr(p, GC_EXPR_FLOAT, loc))) return NULL;
        e->fval = advance(p).fval;
        return e;
    case GC_TOK_STRING: {
        if (!(e = new_expr(p, GC_EXPR_STRING, loc))) return NULL;
        gc_token s = advance(p);
        e->str.text = s.str;
        e->str.len = s.str_len;
        return e;
    }
    case GC_TOK_KW_TRUE:
    case GC_TOK_KW_FALSE:
        if (!(e = new_expr(p, GC_EXPR_BOOL, loc))) return NULL;
        e->bval = advance(p).kind == GC_TOK_KW_TRUE;
        return e;
    case GC_TOK_KW_NONE:
        advance(p);
        return new_expr(p, GC_EXPR_NONE, loc);
    case GC_TOK_IDENT:
        if (!(e = new_expr(p, GC_EXPR_NAME, loc))) return NULL;
        e->name.id = advance(p).str;
        return e;
    case GC_TOK_LPAREN: {
        advance(p);
        gc_ast_expr *inner = expr(p);
        if (!inner || !expect(p, GC_TOK_RPAREN, "')'", NULL)) return NULL;
        return inner;
    }
    case GC_TOK_LBRACKET:
        return list(p);
    default:
        return unexpected(p, t, "an expression");
    }
}

/* postfix = primary ("(" args ")")? ("as" path)? */
static gc_ast_expr *postfix(parser *p) {
    bool parenthesized = at(p, GC_TOK_LPAREN);
    gc_ast_expr *e = primary(p);
    if (!e) return NULL;
    if (at(p, GC_TOK_LPAREN)) {
        if (e->kind != GC_EXPR_NAME || parenthesized) return error_at(p, e->loc, "only a name can be called");
        const char *callee = e->name.id;
        e->kind = GC_EXPR_CALL;
        memset(&e->call, 0, sizeof e->call);
        e->call.callee = callee;
        advance(p);
        if (!call_args(p, e)) return NULL;
    }
    while (at(p, GC_TOK_KW_AS)) {
        gc_token as = advance(p);
        if (e->kind != GC_EXPR_CALL)
            return error_at(p, tok_loc(p, &as), "'as' names a call and must follow one directly");
        if (e->call.as) return error_at(p, tok_loc(p, &as), "this call is already named with 'as'");
        if (!(e->call.as = path(p))) return NULL;
        for (int i = 0; i < e->call.as->n; i++)
            if (e->call.as->parts[i].index && !grow_height(p, e, e->call.as->parts[i].index)) return NULL;
    }
    return p->failed ? NULL : e;
}

/* unary = "-" unary | postfix */
static gc_ast_expr *unary(parser *p) {
    const gc_token *t = peek(p);
    if (!t) return NULL;
    if (t->kind != GC_TOK_MINUS) return postfix(p);
    gc_loc loc = tok_loc(p, t);
    if (!enter(p, loc)) return NULL;
    advance(p);
    gc_ast_expr *e = new_expr(p, GC_EXPR_NEG, loc);
    if (!e || !(e->operand = unary(p)) || !grow_height(p, e, e->operand)) return NULL;
    leave(p);
    return e;
}

static gc_ast_expr *binary(parser *p, const gc_token *op, gc_binop bop, gc_ast_expr *lhs, gc_ast_expr *rhs) {
    gc_ast_expr *e = new_expr(p, GC_EXPR_BINARY, tok_loc(p, op));
    if (!e) return NULL;
    e->bin.op = bop;
    e->bin.lhs = lhs;
    e->bin.rhs = rhs;
    if (!grow_height(p, e, lhs) || !grow_height(p, e, rhs)) return NULL;
    return e;
}

/* multiplicative = unary (("*" | "/" | "@") unary)* */
static gc_ast_expr *multiplicative(parser *p) {
    gc_ast_expr *e = unary(p);
    while (e) {
        const gc_token *t = peek(p);
        if (!t) return NULL;
        gc_binop op;
        if (t->kind == GC_TOK_STAR) op = GC_BIN_MUL;
        else if (t->kind == GC_TOK_SLASH) op = GC_BIN_DIV;
        else if (t->kind == GC_TOK_AT) op = GC_BIN_MATMUL;
        else return e;
        gc_token optok = advance(p);
        gc_ast_expr *rhs = unary(p);
        if (!rhs) return NULL;
        e = binary(p, &optok, op, e, rhs);
    }
    return NULL;
}

/* additive = multiplicative (("+" | "-") multiplicative)* */
static gc_ast_expr *additive(parser *p) {
    gc_ast_expr *e = multiplicative(p);
    while (e) {
        const gc_token *t = peek(p);
        if (!t) return NULL;
        gc_binop op;
        if (t->kind == GC_TOK_PLUS) op = GC_BIN_ADD;
        else if (t->kind == GC_TOK_MINUS) op = GC_BIN_SUB;
        else return e;
        gc_token optok = advance(p);
        gc_ast_expr *rhs = multiplicative(p);
        if (!rhs) return NULL;
        e = binary(p, &optok, op, e, rhs);
    }
    return NULL;
}

static bool comparison_op(gc_token_kind k, gc_binop *op) {
    switch (k) {
    case GC_TOK_LT: *op = GC_BIN_LT; return true;
    case GC_TOK_LE: *op = GC_BIN_LE; return true;
    case GC_TOK_GT: *op = GC_BIN_GT; return true;
    case GC_TOK_GE: *op = GC_BIN_GE; return true;
    case GC_TOK_EQEQ: *op = GC_BIN_EQ; return true;
    case GC_TOK_NE: *op = GC_BIN_NE; return true;
    default: return false;
    }
}

/* expr = additive (("<" | "<=" | ">" | ">=" | "==" | "!=") additive)?
 * Comparisons do not chain: Python reads a < b < c one way, C another, so neither is guessed. */
static gc_ast_expr *expr(parser *p) {
    const gc_token *t = peek(p);
    if (!t || !enter(p, tok_loc(p, t))) return NULL;
    gc_ast_expr *e = additive(p);
    gc_binop op;
    if (e && (t = peek(p)) && comparison_op(t->kind, &op)) {
        gc_token optok = advance(p);
        gc_ast_expr *rhs = additive(p);
        if (!rhs || !(e = binary(p, &optok, op, e, rhs))) return NULL;
        if ((t = peek(p)) && comparison_op(t->kind, &op))
            return error_at(p, tok_loc(p, t), "comparisons do not chain; use parentheses");
    }
    if (!e || p->failed) return NULL;
    leave(p);
    return e;
}

/* type = IDENT "[" (expr ("," expr)* ","?)? "]"      IDENT is f32 or i32 */
static bool type(parser *p, gc_ast_stmt *s) {
    gc_token t;
    if (!expect(p, GC_TOK_IDENT, "a dtype (f32 or i32)", &t)) return false;
    s->type.dtype_loc = tok_loc(p, &t);
    if (!strcmp(t.str, "f32")) s->type.dtype = GC_F32;
    else if (!strcmp(t.str, "i32")) s->type.dtype = GC_I32;
    else {
        error_at(p, s->type.dtype_loc, "unknown dtype '%s' (use f32 or i32)", t.str);
        return false;
    }
    if (!expect(p, GC_TOK_LBRACKET, "'[' after the dtype (write f32[] for a scalar)", NULL)) return false;
    int cap = 0;
    while (!at(p, GC_TOK_RBRACKET)) {
        if (p->failed) return false;
        gc_ast_expr *d = expr(p);
        if (!d) return false;
        if (s->type.rank == GC_MAX_RANK) {
            error_at(p, d->loc, "too many dimensions (the maximum rank is %d)", GC_MAX_RANK);
            return false;
        }
        if (!push(p, (void **)&s->type.dims, &s->type.rank, &cap, sizeof d, &d, d->loc)) return false;
        if (!at(p, GC_TOK_COMMA)) break;
        advance(p);
    }
    return !p->failed && expect(p, GC_TOK_RBRACKET, "',' or ']' in the dimensions", NULL);
}

static bool block(parser *p, gc_ast_block *b, place where);

/* Reports a statement that is not allowed where it stands. */
static void *misplaced(parser *p, gc_loc loc, const char *what, place where) {
    if (where == PLACE_LOOP && !p->in_def)
        return error_at(p, loc, "%s is not allowed inside a for loop", what);
    return error_at(p, loc, "%s is only allowed at the top level of the file", what);
}

/* const_stmt = "const" IDENT "=" expr */
static gc_ast_stmt *const_stmt(parser *p, gc_ast_stmt *s) {
    if (!name(p, "a name after 'const'", &s->name, &s->name_loc)) return NULL;
    if (!expect(p, GC_TOK_ASSIGN, "'=' after the const's name", NULL)) return NULL;
    return (s->value = expr(p)) ? s : NULL;
}

/* input_stmt = "input" IDENT ":" type */
static gc_ast_stmt *input_stmt(parser *p, gc_ast_stmt *s) {
    if (!name(p, "a name after 'input'", &s->name, &s->name_loc)) return NULL;
    if (!expect(p, GC_TOK_COLON, "':' and a type after the input's name", NULL)) return NULL;
    return type(p, s) ? s : NULL;
}

/* param_stmt = "param" IDENT ":" type "=" expr       the expr is an initialiser call */
static gc_ast_stmt *param_stmt(parser *p, gc_ast_stmt *s) {
    if (!name(p, "a name after 'param'", &s->name, &s->name_loc)) return NULL;
    if (!expect(p, GC_TOK_COLON, "':' and a type after the param's name", NULL)) return NULL;
    if (!type(p, s)) return NULL;
    if (s->type.dtype != GC_F32) return error_at(p, s->type.dtype_loc, "parameters must be f32");
    if (!expect(p, GC_TOK_ASSIGN, "'=' and an initialiser such as normal(0, 0.02)", NULL)) return NULL;
    if (!(s->value = expr(p))) return NULL;
    if (s->value->kind != GC_EXPR_CALL || s->value->call.as)
        return error_at(p, s->value->loc, "a param's initialiser must be a call such as normal(0, 0.02)");
    return s;
}

/* def_stmt = "def" IDENT "(" (def_arg ("," def_arg)* ","?)? ")" block
 * def_arg  = IDENT ("=" expr)? */
static gc_ast_stmt *def_stmt(parser *p, gc_ast_stmt *s) {
    if (!name(p, "a name after 'def'", &s->name, &s->name_loc)) return NULL;
    if (!expect(p, GC_TOK_LPAREN, "'(' after the def's name", NULL)) return NULL;
    int cap = 0;
    while (!at(p, GC_TOK_RPAREN)) {
        if (p->failed) return NULL;
        gc_ast_def_arg arg = {0};
        if (!name(p, "an argument name", &arg.name, &arg.loc)) return NULL;
        if (at(p, GC_TOK_ASSIGN)) {
            advance(p);
            if (!(arg.default_value = expr(p))) return NULL;
        }
        if (!push(p, (void **)&s->def.args, &s->def.nargs, &cap, sizeof arg, &arg, arg.loc)) return NULL;
        if (!at(p, GC_TOK_COMMA)) break;
        advance(p);
    }
    if (p->failed || !expect(p, GC_TOK_RPAREN, "',' or ')' in the argument list", NULL)) return NULL;
    p->in_def = true;
    bool ok = block(p, &s->def.body, PLACE_DEF);
    p->in_def = false;
    if (!ok) return NULL;
    const gc_ast_block *b = &s->def.body;
    if (b->n == 0 || b->stmts[b->n - 1]->kind != GC_STMT_RETURN)
        return error_at(p, b->end, "def '%s' must end with 'return EXPR'", s->name);
    return s;
}

/* for_stmt = "for" IDENT "in" "range" "(" expr ")" block */
static gc_ast_stmt *for_stmt(parser *p, gc_ast_stmt *s) {
    if (!name(p, "a loop variable after 'for'", &s->name, &s->name_loc)) return NULL;
    if (!expect(p, GC_TOK_KW_IN, "'in' after the loop variable", NULL)) return NULL;
    if (!expect(p, GC_TOK_KW_RANGE, "'range' (loops are written for i in range(N))", NULL)) return NULL;
    if (!expect(p, GC_TOK_LPAREN, "'(' after 'range'", NULL)) return NULL;
    if (!(s->value = expr(p))) return NULL;
    if (at(p, GC_TOK_COMMA))
        return error_at(p, peek(p) ? tok_loc(p, peek(p)) : s->loc, "range takes one argument, the count");
    if (!expect(p, GC_TOK_RPAREN, "')' after the loop count", NULL)) return NULL;
    p->loops++;
    bool ok = block(p, &s->loop.body, PLACE_LOOP);
    p->loops--;
    return ok ? s : NULL;
}

/* Ends a statement: a newline, or (not consumed) a '}' or the end of the file. */
static bool stmt_end(parser *p) {
    const gc_token *t = peek(p);
    if (!t) return false;
    if (t->kind == GC_TOK_NEWLINE) {
        advance(p);
        return true;
    }
    if (t->kind == GC_TOK_RBRACE || t->kind == GC_TOK_EOF) return true;
    unexpected(p, t, "the end of the statement");
    return false;
}

/* train_stmt = "train" "{" (IDENT "=" expr end)* "}" */
static gc_ast_stmt *train_stmt(parser *p, gc_ast_stmt *s) {
    skip_newlines(p);
    gc_token open;
    if (!expect(p, GC_TOK_LBRACE, "'{' after 'train'", &open)) return NULL;
    int cap = 0;
    for (;;) {
        skip_newlines(p);
        const gc_token *t = peek(p);
        if (!t) return NULL;
        if (t->kind == GC_TOK_RBRACE) break;
        if (t->kind == GC_TOK_EOF)
            return error_at(p, tok_loc(p, &open), "the train block's '{' is never closed");
        gc_ast_train_item item = {0};
        if (!name(p, "a setting name (optimizer, schedule, clip_grad_norm, seed, no_decay)", &item.key, &item.loc))
            return NULL;
        if (!expect(p, GC_TOK_ASSIGN, "'=' after the setting's name", NULL)) return NULL;
        if (!(item.value = expr(p)) || !stmt_end(p)) return NULL;
        if (!push(p, (void **)&s->train.items, &s->train.n, &cap, sizeof item, &item, item.loc)) return NULL;
    }
    advance(p);
    return s;
}

/* assign_stmt = IDENT ("," IDENT)* "=" expr           `loss = expr` is the loss statement */
static gc_ast_stmt *assign_stmt(parser *p, gc_ast_stmt *s, place where) {
    int cap = 0;
    for (;;) {
        gc_ast_target t = {0};
        if (!name(p, "a name to assign", &t.name, &t.loc)) return NULL;
        if (!push(p, (void **)&s->assign.targets, &s->assign.n, &cap, sizeof t, &t, t.loc)) return NULL;
        const gc_token *next = peek(p);
        if (!next) return NULL;
        if (next->kind == GC_TOK_ASSIGN) break;
        if (next->kind == GC_TOK_COMMA) {
            advance(p);
            continue;
        }
        if (next->kind == GC_TOK_LPAREN && s->assign.n == 1)
            return error_at(p, s->loc, "a call on its own does nothing; bind its result (NAME = ...)");
        return unexpected(p, next, s->assign.n > 1 ? "',' or '='" : "'=' after the name");
    }
    advance(p);
    if (!(s->value = expr(p))) return NULL;
    if (s->assign.n == 1 && !strcmp(s->assign.targets[0].name, "loss")) {
        if (where != PLACE_TOP) return misplaced(p, s->loc, "the loss", where);
        s->kind = GC_STMT_LOSS;
    }
    return s;
}

/* stmt = const_stmt | input_stmt | param_stmt | def_stmt | for_stmt | train_stmt
 *      | "output" IDENT "=" expr | "return" expr | assign_stmt */
static gc_ast_stmt *stmt(parser *p, place where) {
    const gc_token *t = peek(p);
    if (!t) return NULL;
    gc_loc loc = tok_loc(p, t);
    gc_token_kind k = t->kind;
    gc_ast_stmt *s;
    switch (k) {
    case GC_TOK_KW_CONST:
    case GC_TOK_KW_INPUT:
    case GC_TOK_KW_DEF:
    case GC_TOK_KW_TRAIN:
    case GC_TOK_KW_OUTPUT:
        if (where != PLACE_TOP) return misplaced(p, loc, gc_token_kind_name(k), where);
        break;
    case GC_TOK_KW_PARAM:
        if (p->loops > 0)
            return error_at(p, loc, "param is not allowed inside a for loop (each iteration would declare "
                                    "the same name; call a def with 'as NAME[i]' instead)");
        break;
    case GC_TOK_KW_RETURN:
        if (!p->in_def) return error_at(p, loc, "return outside a def");
        if (where != PLACE_DEF) return error_at(p, loc, "return must be the last statement of a def, not inside a for loop");
        break;
    default:
        break;
    }
    switch (k) {
    case GC_TOK_KW_CONST:
        advance(p);
        return (s = new_stmt(p, GC_STMT_CONST, loc)) ? const_stmt(p, s) : NULL;
    case GC_TOK_KW_INPUT:
        advance(p);
        return (s = new_stmt(p, GC_STMT_INPUT, loc)) ? input_stmt(p, s) : NULL;
    case GC_TOK_KW_PARAM:
        advance(p);
        return (s = new_stmt(p, GC_STMT_PARAM, loc)) ? param_stmt(p, s) : NULL;
    case GC_TOK_KW_DEF:
        advance(p);
        return (s = new_stmt(p, GC_STMT_DEF, loc)) ? def_stmt(p, s) : NULL;
    case GC_TOK_KW_FOR:
        advance(p);
        return (s = new_stmt(p, GC_STMT_FOR, loc)) ? for_stmt(p, s) : NULL;
    case GC_TOK_KW_TRAIN:
        advance(p);
        return (s = new_stmt(p, GC_STMT_TRAIN, loc)) ? train_stmt(p, s) : NULL;
    case GC_TOK_KW_OUTPUT:
        advance(p);
        if (!(s = new_stmt(p, GC_STMT_OUTPUT, loc))) return NULL;
        if (!name(p, "a name after 'output'", &s->name, &s->name_loc)) return NULL;
        if (!expect(p, GC_TOK_ASSIGN, "'=' after the output's name", NULL)) return NULL;
        return (s->value = expr(p)) ? s : NULL;
    case GC_TOK_KW_RETURN:
        advance(p);
        if (!(s = new_stmt(p, GC_STMT_RETURN, loc))) return NULL;
        return (s->value = expr(p)) ? s : NULL;
    case GC_TOK_IDENT:
        return (s = new_stmt(p, GC_STMT_ASSIGN, loc)) ? assign_stmt(p, s, where) : NULL;
    default:
        return unexpected(p, t, "a statement");
    }
}

/* stmts = (NEWLINE | stmt end)*     up to '}' (in a block) or the end of the file (top level) */
static bool stmts(parser *p, gc_ast_block *b, place where, const gc_token *open) {
    int cap = 0;
    for (;;) {
        skip_newlines(p);
        const gc_token *t = peek(p);
        if (!t) return false;
        if (t->kind == GC_TOK_EOF) {
            if (open)
                return error_at(p, tok_loc(p, open), "this '{' is never closed"), false;
            b->end = tok_loc(p, t);
            return true;
        }
        if (t->kind == GC_TOK_RBRACE) {
            if (!open) return error_at(p, tok_loc(p, t), "unmatched '}'"), false;
            b->end = tok_loc(p, t);
            advance(p);
            return true;
        }
        if (b->n > 0 && b->stmts[b->n - 1]->kind == GC_STMT_RETURN)
            return error_at(p, tok_loc(p, t), "statement after return (return must be the last statement of a def)"),
                   false;
        gc_ast_stmt *s = stmt(p, where);
        if (!s || !stmt_end(p)) return false;
        if (!push_max(p, (void **)&b->stmts, &b->n, &cap, sizeof s, &s, s->loc, GC_AST_MAX_NODES)) return false;
    }
}

/* block = NEWLINE* "{" stmts "}" */
static bool block(parser *p, gc_ast_block *b, place where) {
    skip_newlines(p);
    gc_token open;
    if (!expect(p, GC_TOK_LBRACE, "'{' to start the block", &open)) return false;
    if (!enter(p, tok_loc(p, &open))) return false;
    bool ok = stmts(p, b, where, &open);
    leave(p);
    return ok;
}

/* module = stmts EOF */
gc_ast_module *gc_frontend_parse(const char *text, size_t len, const char *filename, gc_arena *arena,
                                 gc_error *err) {
    if (!filename) filename = "<input>";
    if (len > GC_FRONTEND_MAX_SOURCE) {
        gc_fail(err, GC_ERR_USER, (gc_loc){filename, 1, 1}, "model file too large (%zu bytes; the limit is %d)", len,
                GC_FRONTEND_MAX_SOURCE);
        return NULL;
    }
    gc_ast_module *m = gc_arena_alloc(arena, sizeof *m);
    char *file = gc_arena_strdup(arena, filename);
    if (!m || !file) {
        gc_failf(err, GC_ERR_MEMORY, "out of memory while parsing %s", filename);
        return NULL;
    }
    m->file = file;
    m->arena = arena;
    parser p = {0};
    p.arena = arena;
    p.err = err;
    p.file = file;
    gc_lexer_init(&p.lx, text ? text : "", text ? len : 0, file, arena);
    if (!stmts(&p, &m->body, PLACE_TOP, NULL)) return NULL;
    return m;
}
