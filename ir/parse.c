/*
 * parse.c: the textual IR parser, recursive descent over the tokens of lex_ir.c.
 *
 * Input is untrusted (hand-written tests, files from older versions, fuzzers), so every rule
 * checks what it reads and fails with a GC_ERR_USER located at the offending token; nothing
 * recurses on the input's nesting, so no input can exhaust the stack. Nodes are made only through
 * gc_graph_make, so the shape rules check the text as it is read and their errors point into the
 * IR file; the `loc(...)` a node carries is attached afterwards.
 */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/lex_ir.h"
#include "ir/text.h"

/* One name -> node binding. For %values the name points into the source text (tag 0); for named
 * sources it is the decoded name in the graph's arena, tagged with the op. */
typedef struct binding {
    const char *name;
    size_t len;
    int tag;
    gc_node *node;
    int line;
} binding;

/* Open addressing with linear probing; capacity a power of two, at most half full. */
typedef struct table {
    binding *slots;
    size_t cap, count;
} table;

typedef struct parser {
    gc_ir_lexer lex;
    gc_ir_token tok; /* the current, not yet consumed token */
    const char *file;
    gc_graph *g;
    gc_error *err;
    table values;  /* %name -> node */
    table sources; /* (op, name) -> node, for input/param/state names */
    gc_node **operands; /* scratch for the operand list of the node being read */
    int operands_cap;
} parser;

static gc_loc loc_of(const parser *p, const gc_ir_token *t) {
    gc_loc loc = {p->file, t->line, t->col};
    return loc;
}

static int error_at(parser *p, const gc_ir_token *t, const char *fmt, ...) GC_PRINTF(3, 4);
static int error_at(parser *p, const gc_ir_token *t, const char *fmt, ...) {
    char msg[sizeof p->err->message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return gc_fail(p->err, GC_ERR_USER, loc_of(p, t), "%s", msg);
}

static int out_of_memory(parser *p) { return gc_failf(p->err, GC_ERR_MEMORY, "out of memory"); }

static void advance(parser *p) { p->tok = gc_ir_lex_next(&p->lex); }

static bool at(const parser *p, gc_ir_tok_kind kind) { return p->tok.kind == kind; }

static bool at_word(const parser *p, const char *word) {
    return p->tok.kind == GC_TOK_IDENT && p->tok.len == strlen(word) && memcmp(p->tok.start, word, p->tok.len) == 0;
}

/* Fails at the current token: the lexer's own message for a bad token, else "expected X, got Y". */
static int expected(parser *p, const char *what) {
    if (p->tok.kind == GC_TOK_ERROR) return error_at(p, &p->tok, "%s", p->lex.message);
    char got[64];
    gc_ir_describe(&p->tok, got, sizeof got);
    return error_at(p, &p->tok, "expected %s, got %s", what, got);
}

static int expect(parser *p, gc_ir_tok_kind kind, const char *what) {
    if (!at(p, kind)) return expected(p, what);
    advance(p);
    return 1;
}

/* ---- name tables: %values, and the names of named sources ---- */

/* 64-bit FNV-1a, with the high bits folded down: the table indexes by the low bits, and names
 * like %s1 ... %s99999 differ only in their last bytes. */
static size_t hash_name(int tag, const char *s, size_t len) {
    uint64_t h = 14695981039346656037ull ^ (uint64_t)(unsigned)tag;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return (size_t)(h ^ (h >> 29) ^ (h >> 47));
}

static binding *find_slot(const table *t, int tag, const char *name, size_t len) {
    size_t i = hash_name(tag, name, len) & (t->cap - 1);
    while (t->slots[i].name &&
           !(t->slots[i].tag == tag && t->slots[i].len == len && memcmp(t->slots[i].name, name, len) == 0))
        i = (i + 1) & (t->cap - 1);
    return &t->slots[i];
}

static binding *lookup(const table *t, int tag, const char *name, size_t len) {
    if (!t->cap) return NULL;
    binding *b = find_slot(t, tag, name, len);
    return b->name ? b : NULL;
}

/* Adds a binding the caller has checked is new; `name` must outlive the parse. */
static int insert(parser *p, table *t, int tag, const char *name, size_t len, gc_node *node, int line) {
    if (2 * (t->count + 1) > t->cap) {
        table bigger = {NULL, t->cap ? t->cap * 2 : 64, t->count};
        bigger.slots = calloc(bigger.cap, sizeof *bigger.slots);
        if (!bigger.slots) return out_of_memory(p);
        for (size_t i = 0; i < t->cap; i++)
            if (t->slots[i].name) *find_slot(&bigger, t->slots[i].tag, t->slots[i].name, t->slots[i].len) = t->slots[i];
        free(t->slots);
        *t = bigger;
    }
    binding *b = find_slot(t, tag, name, len);
    b->name = name;
    b->len = len;
    b->tag = tag;
    b->node = node;
    b->line = line;
    t->count++;
    return 1;
}

/* VALUE, which must already be defined. */
static gc_node *parse_use(parser *p) {
    if (!at(p, GC_TOK_VALUE)) return expected(p, "a %value"), NULL;
    binding *b = lookup(&p->values, 0, p->tok.start, p->tok.len);
    if (!b) {
        error_at(p, &p->tok, "use of undefined value %%%.*s", (int)(p->tok.len > 64 ? 64 : p->tok.len), p->tok.start);
        return NULL;
    }
    advance(p);
    return b->node;
}

/* ---- literals ---- */

/* STRING, decoded into the graph's arena. */
static char *parse_string(parser *p, const char *what) {
    if (!at(p, GC_TOK_STRING)) return expected(p, what), NULL;
    char *s = gc_arena_alloc(p->g->arena, p->tok.len);
    if (!s) return out_of_memory(p), NULL;
    gc_ir_unescape(&p->tok, s);
    advance(p);
    return s;
}

/* INT = "-"? [0-9]+, within [lo, hi]. */
static int parse_integer(parser *p, int64_t lo, int64_t hi, const char *what, int64_t *out) {
    if (!at(p, GC_TOK_NUMBER)) return expected(p, what);
    const char *s = p->tok.start, *end = s + p->tok.len;
    bool neg = *s == '-';
    if (neg) s++;
    uint64_t mag = 0;
    bool overflow = false;
    for (; s < end; s++) {
        if (*s < '0' || *s > '9') {
            char got[64];
            gc_ir_describe(&p->tok, got, sizeof got);
            return error_at(p, &p->tok, "expected %s, got %s", what, got);
        }
        unsigned d = (unsigned)(*s - '0');
        if (mag > (UINT64_MAX - d) / 10) overflow = true;
        else mag = mag * 10 + d;
    }
    /* Magnitudes up to 2^63 fit once the sign is applied (INT64_MIN); beyond is out of range. */
    int64_t v = 0;
    if (!overflow && mag <= (uint64_t)INT64_MAX) v = neg ? -(int64_t)mag : (int64_t)mag;
    else if (!overflow && neg && mag == (uint64_t)INT64_MAX + 1) v = INT64_MIN;
    else overflow = true;
    if (overflow || v < lo || v > hi) {
        return error_at(p, &p->tok, "%.*s is out of range for %s (%lld to %lld)", (int)(p->tok.len > 40 ? 40 : p->tok.len),
                        p->tok.start, what, (long long)lo, (long long)hi);
    }
    *out = v;
    advance(p);
    return 1;
}

static int parse_int(parser *p, int lo, int hi, const char *what, int *out) {
    int64_t v;
    if (!parse_integer(p, lo, hi, what, &v)) return 0;
    *out = (int)v;
    return 1;
}

/* double = NUMBER | "inf" | "-" "inf" | "nan" */
static int parse_double(parser *p, double *out) {
    if (at(p, GC_TOK_MINUS)) {
        advance(p);
        if (!at_word(p, "inf")) return expected(p, "'inf' after '-'");
        advance(p);
        *out = -INFINITY;
        return 1;
    }
    if (at_word(p, "inf") || at_word(p, "nan")) {
        *out = at_word(p, "inf") ? INFINITY : NAN;
        advance(p);
        return 1;
    }
    if (!at(p, GC_TOK_NUMBER)) return expected(p, "a number");
    char buf[80];
    if (p->tok.len >= sizeof buf) return error_at(p, &p->tok, "number has too many digits");
    memcpy(buf, p->tok.start, p->tok.len);
    buf[p->tok.len] = '\0';
    double v = strtod(buf, NULL);
    if (isinf(v)) return error_at(p, &p->tok, "number %s is too large for a double (write inf)", buf);
    *out = v;
    advance(p);
    return 1;
}

/* bool = "true" | "false" */
static int parse_bool(parser *p, bool *out) {
    if (at_word(p, "true") || at_word(p, "false")) {
        *out = at_word(p, "true");
        advance(p);
        return 1;
    }
    return expected(p, "true or false");
}

/* list = "[" [INT ("," INT)*] "]"   entries are axis/dim numbers 0..GC_MAX_RANK-1 */
static int parse_dim_list(parser *p, int *items, int *count, gc_ir_token *open) {
    *open = p->tok;
    if (!expect(p, GC_TOK_LBRACKET, "'['")) return 0;
    *count = 0;
    if (at(p, GC_TOK_RBRACKET)) return advance(p), 1;
    for (;;) {
        if (*count == GC_MAX_RANK) return error_at(p, &p->tok, "more than %d entries in a list of dims", GC_MAX_RANK);
        if (!parse_int(p, 0, GC_MAX_RANK - 1, "an axis number", &items[(*count)++])) return 0;
        if (at(p, GC_TOK_RBRACKET)) return advance(p), 1;
        if (!expect(p, GC_TOK_COMMA, "',' or ']'")) return 0;
    }
}

/* ---- types, attributes, locations ---- */

/* type = DTYPE "[" [INT ("," INT)*] "]" */
static int parse_type(parser *p, gc_type *out) {
    if (!at(p, GC_TOK_IDENT)) return expected(p, "a type such as f32[2, 3]");
    gc_dtype dtype;
    if (!gc_dtype_from_name(p->tok.start, p->tok.len, &dtype)) {
        char got[64];
        gc_ir_describe(&p->tok, got, sizeof got);
        return error_at(p, &p->tok, "unknown dtype %s (expected f32, i32 or f64)", got);
    }
    advance(p);
    memset(out, 0, sizeof *out);
    out->dtype = dtype;
    if (!expect(p, GC_TOK_LBRACKET, "'[' after the dtype")) return 0;
    if (at(p, GC_TOK_RBRACKET)) return advance(p), 1;
    int64_t numel = 1;
    for (;;) {
        if (out->rank == GC_MAX_RANK)
            return error_at(p, &p->tok, "rank exceeds the maximum of %d", GC_MAX_RANK);
        gc_ir_token dim_tok = p->tok;
        int64_t d;
        if (!parse_integer(p, 1, GC_MAX_ELEMENTS, "a dimension", &d)) return 0;
        /* Both factors are <= 2^40, so their product can overflow: compare by division first. */
        if (d > 0 && numel > GC_MAX_ELEMENTS / d)
            return error_at(p, &dim_tok, "type has more than 2^40 elements");
        numel *= d;
        out->dims[out->rank++] = d;
        if (at(p, GC_TOK_RBRACKET)) return advance(p), 1;
        if (!expect(p, GC_TOK_COMMA, "',' or ']' in the type")) return 0;
    }
}

static void list_fields(gc_attr_kind kind, char *buf, size_t size) {
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < gc_attr_field_count && n < size; i++)
        if (gc_attr_fields[i].kind == kind)
            n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? ", " : "", gc_attr_fields[i].name);
}

/* value = INT | BOOL | DOUBLE | list   whichever the field's kind calls for; stored at the field's
 * offset inside attr. operand0 (NULL when there are no operands) sizes a perm. */
static int parse_field_value(parser *p, const gc_attr_field *f, gc_attr *attr, const gc_node *operand0) {
    char *base = (char *)attr + f->offset;
    char what[64];
    snprintf(what, sizeof what, "an integer for '%s'", f->name);
    switch (f->field_kind) {
    case GC_FIELD_INT: {
        int v;
        if (!parse_int(p, INT_MIN, INT_MAX, what, &v)) return 0;
        memcpy(base, &v, sizeof v);
        return 1;
    }
    case GC_FIELD_INT64: {
        int64_t v = 0;
        if (!parse_integer(p, INT64_MIN, INT64_MAX, what, &v)) return 0;
        memcpy(base, &v, sizeof v);
        return 1;
    }
    case GC_FIELD_FLAG:
    case GC_FIELD_BOOL: {
        bool v = false;
        if (!parse_bool(p, &v)) return 0;
        memcpy(base, &v, sizeof v);
        return 1;
    }
    case GC_FIELD_DOUBLE: {
        double v = 0;
        if (!parse_double(p, &v)) return 0;
        memcpy(base, &v, sizeof v);
        return 1;
    }
    case GC_FIELD_AXES: {
        int items[GC_MAX_RANK], count;
        gc_ir_token open;
        if (!parse_dim_list(p, items, &count, &open)) return 0;
        uint32_t mask = 0;
        for (int i = 0; i < count; i++) {
            if (mask & (1u << items[i])) return error_at(p, &open, "axis %d is listed twice", items[i]);
            mask |= 1u << items[i];
        }
        memcpy(base, &mask, sizeof mask);
        return 1;
    }
    case GC_FIELD_PERM: {
        gc_perm perm = {0};
        int count;
        gc_ir_token open;
        if (!parse_dim_list(p, perm, &count, &open)) return 0;
        if (operand0 && count != operand0->type.rank)
            return error_at(p, &open, "%s has %d entries but the operand has rank %d", f->name, count,
                            operand0->type.rank);
        memcpy(base, perm, sizeof perm);
        return 1;
    }
    case GC_FIELD_SPATIAL: {
        gc_spatial dims = {0};
        int count = 0;
        gc_ir_token open = p->tok;
        if (!expect(p, GC_TOK_LBRACKET, "'['")) return 0;
        while (!at(p, GC_TOK_RBRACKET)) {
            if (count == GC_MAX_SPATIAL)
                return error_at(p, &p->tok, "more than %d entries in a list of spatial dims", GC_MAX_SPATIAL);
            if (!parse_integer(p, 0, INT32_MAX, "a non-negative integer", &dims[count++])) return 0;
            if (at(p, GC_TOK_RBRACKET)) break;
            if (!expect(p, GC_TOK_COMMA, "',' or ']'")) return 0;
        }
        advance(p);
        if (operand0 && count != operand0->type.rank - 2)
            return error_at(p, &open, "%s has %d entries but the operand has %d spatial dims", f->name, count,
                            operand0->type.rank - 2);
        memcpy(base, dims, sizeof dims);
        return 1;
    }
    }
    return error_at(p, &p->tok, "internal error: unknown field kind");
}

/* The most fields one attribute kind has; attrs.def kinds have at most three. */
enum { MAX_KIND_FIELDS = 16 };

/* attrs = "{" FIELD "=" value ("," FIELD "=" value)* "}"   every field of the kind exactly once */
static int parse_attrs(parser *p, const gc_op_info *info, gc_attr *attr, const gc_node *operand0) {
    const gc_attr_field *fields[MAX_KIND_FIELDS];
    int nfields = 0;
    for (int i = 0; i < gc_attr_field_count; i++) {
        if (gc_attr_fields[i].kind != info->attr_kind) continue;
        if (nfields == MAX_KIND_FIELDS)
            return gc_failf(p->err, GC_ERR_INTERNAL, "internal error: attribute kind %s has too many fields",
                            gc_attr_kind_name(info->attr_kind));
        fields[nfields++] = &gc_attr_fields[i];
    }
    if (!nfields) {
        if (at(p, GC_TOK_LBRACE)) return error_at(p, &p->tok, "%s takes no attributes", info->name);
        return 1;
    }
    char names[200];
    list_fields(info->attr_kind, names, sizeof names);
    if (!at(p, GC_TOK_LBRACE)) {
        char what[260];
        snprintf(what, sizeof what, "'{' with the attributes of %s (%s)", info->name, names);
        return expected(p, what);
    }
    advance(p);
    bool seen[MAX_KIND_FIELDS] = {false};
    while (!at(p, GC_TOK_RBRACE)) {
        if (!at(p, GC_TOK_IDENT)) return expected(p, "an attribute field name");
        int index = -1;
        for (int i = 0; i < nfields; i++)
            if (strlen(fields[i]->name) == p->tok.len && memcmp(fields[i]->name, p->tok.start, p->tok.len) == 0)
                index = i;
        if (index < 0) {
            char got[64];
            gc_ir_describe(&p->tok, got, sizeof got);
            return error_at(p, &p->tok, "%s has no attribute field %s (fields: %s)", info->name, got, names);
        }
        if (seen[index]) return error_at(p, &p->tok, "attribute field '%s' is given twice", fields[index]->name);
        seen[index] = true;
        advance(p);
        if (!expect(p, GC_TOK_EQ, "'=' after the field name")) return 0;
        if (!parse_field_value(p, fields[index], attr, operand0)) return 0;
        if (at(p, GC_TOK_RBRACE)) break;
        if (!expect(p, GC_TOK_COMMA, "',' or '}' in the attributes")) return 0;
        if (!at(p, GC_TOK_IDENT)) return expected(p, "an attribute field name");
    }
    for (int i = 0; i < nfields; i++)
        if (!seen[i] && fields[i]->field_kind != GC_FIELD_FLAG) return error_at(p, &p->tok, "%s is missing attribute field '%s'", info->name, fields[i]->name);
    advance(p);
    return 1;
}

/* loc = "loc" "(" STRING ":" INT ":" INT ")" */
static int parse_loc(parser *p, gc_loc *loc) {
    advance(p); /* "loc" */
    if (!expect(p, GC_TOK_LPAREN, "'(' after loc")) return 0;
    char *file = parse_string(p, "a file name string");
    if (!file) return 0;
    loc->file = *file ? file : NULL;
    if (!expect(p, GC_TOK_COLON, "':' after the file name")) return 0;
    if (!parse_int(p, 1, INT_MAX, "a line number", &loc->line)) return 0;
    if (!expect(p, GC_TOK_COLON, "':' after the line number")) return 0;
    if (!parse_int(p, 0, INT_MAX, "a column number", &loc->col)) return 0;
    return expect(p, GC_TOK_RPAREN, "')' to close loc");
}

/* ---- statements ---- */

static int push_operand(parser *p, gc_node *n, int count) {
    if (count == p->operands_cap) {
        int cap = p->operands_cap ? p->operands_cap * 2 : 8;
        gc_node **ops = realloc(p->operands, sizeof *ops * (size_t)cap);
        if (!ops) return out_of_memory(p);
        p->operands = ops;
        p->operands_cap = cap;
    }
    p->operands[count] = n;
    return 1;
}

/* node = VALUE "=" OPNAME [STRING] ["(" VALUE ("," VALUE)* ")"] [attrs] ":" type ["recompute"] [loc] */
static int parse_node(parser *p) {
    gc_ir_token def = p->tok;
    binding *prior = lookup(&p->values, 0, def.start, def.len);
    if (prior)
        return error_at(p, &def, "%%%.*s is defined twice (first at line %d)", (int)(def.len > 64 ? 64 : def.len),
                        def.start, prior->line);
    advance(p);
    if (!expect(p, GC_TOK_EQ, "'=' after the value name")) return 0;

    gc_ir_token op_tok = p->tok;
    if (!at(p, GC_TOK_IDENT)) return expected(p, "an op name");
    gc_op op;
    if (!gc_op_from_name(op_tok.start, op_tok.len, &op)) {
        char got[64];
        gc_ir_describe(&op_tok, got, sizeof got);
        return error_at(p, &op_tok, "unknown op %s", got);
    }
    const gc_op_info *info = gc_op_get(op);
    advance(p);

    const char *name = NULL;
    if (info->flags & GC_FLAG_NAMED) {
        gc_ir_token name_tok = p->tok;
        if (!(name = parse_string(p, "the name string of a named op"))) return 0;
        if (!*name) return error_at(p, &name_tok, "%s needs a non-empty name", info->name);
        binding *same = lookup(&p->sources, (int)op + 1, name, strlen(name));
        if (same)
            return error_at(p, &name_tok, "%s \"%.100s\" is defined twice (first at line %d)", info->name, name,
                            same->line);
    } else if (at(p, GC_TOK_STRING)) {
        return error_at(p, &p->tok, "%s takes no name", info->name);
    }

    int count = 0;
    if (at(p, GC_TOK_LPAREN)) {
        advance(p);
        for (;;) {
            gc_node *operand = parse_use(p);
            if (!operand || !push_operand(p, operand, count)) return 0;
            count++;
            if (at(p, GC_TOK_RPAREN)) break;
            if (!expect(p, GC_TOK_COMMA, "',' or ')' in the operands")) return 0;
        }
        advance(p);
    }

    gc_attr attr;
    memset(&attr, 0, sizeof attr);
    if (!parse_attrs(p, info, &attr, count ? p->operands[0] : NULL)) return 0;
    if (!expect(p, GC_TOK_COLON, "':' before the result type")) return 0;
    gc_ir_token type_tok = p->tok;
    gc_type type;
    if (!parse_type(p, &type)) return 0;
    bool recomputed = at_word(p, "recompute"); /* passes/recompute.h */
    if (recomputed) advance(p);
    gc_loc src = {NULL, 0, 0};
    if (at_word(p, "loc") && !parse_loc(p, &src)) return 0;
    /* layer = "layer" "(" STRING ")": the layer path the node came from. */
    char *layer = NULL;
    if (at_word(p, "layer")) {
        advance(p);
        if (!expect(p, GC_TOK_LPAREN, "'(' after layer")) return 0;
        if (!(layer = parse_string(p, "a layer path string"))) return 0;
        if (!expect(p, GC_TOK_RPAREN, "')' to close layer")) return 0;
    }
    p->g->layer = layer;
    gc_node *n = gc_graph_make(p->g, op, p->operands, count, &attr, (info->flags & GC_FLAG_GIVEN) ? &type : NULL,
                               name, loc_of(p, &op_tok), p->err);
    p->g->layer = NULL;
    if (!n) return 0;
    if (!gc_type_equal(&n->type, &type)) {
        char stated[96], actual[96];
        gc_type_format(&type, stated, sizeof stated);
        gc_type_format(&n->type, actual, sizeof actual);
        return error_at(p, &type_tok, "type %s is stated but %s computes %s", stated, info->name, actual);
    }
    n->loc = src;
    n->recomputed = recomputed;
    if (name && !insert(p, &p->sources, (int)op + 1, n->name, strlen(n->name), n, def.line)) return 0;
    return insert(p, &p->values, 0, def.start, def.len, n, def.line);
}

/* output = ("output" | "update" | "grad") STRING "=" VALUE */
static int parse_output(parser *p) {
    gc_ir_token kw = p->tok;
    gc_output_kind kind = at_word(p, "output") ? GC_OUTPUT_VALUE : at_word(p, "update") ? GC_OUTPUT_UPDATE : GC_OUTPUT_GRAD;
    advance(p);
    gc_ir_token name_tok = p->tok;
    char *name = parse_string(p, "the output's name string");
    if (!name) return 0;
    if (!*name) return error_at(p, &name_tok, "%s needs a non-empty name", gc_output_kind_name(kind));
    if (gc_graph_find_output(p->g, kind, name))
        return error_at(p, &name_tok, "%s \"%.100s\" is defined twice", gc_output_kind_name(kind), name);
    if (!expect(p, GC_TOK_EQ, "'=' after the output's name")) return 0;
    gc_node *value = parse_use(p);
    if (!value) return 0;
    if (!gc_graph_add_output(p->g, kind, name, value, p->err)) {
        /* The message is right, but its location would be the node's model-file line. */
        if (p->err && p->err->code == GC_ERR_USER) {
            snprintf(p->err->file, sizeof p->err->file, "%s", p->file);
            p->err->line = kw.line;
            p->err->col = kw.col;
        }
        return 0;
    }
    return 1;
}

/* graph = "graph" "@" (IDENT | STRING) ["updates_in_backward"] "{" (node | output)* "}" */
static int parse_graph(parser *p) {
    if (!at_word(p, "graph")) return expected(p, "'graph'");
    advance(p);
    char *name = NULL;
    if (at(p, GC_TOK_GLOBAL)) {
        name = malloc(p->tok.len + 1);
        if (!name) return out_of_memory(p);
        memcpy(name, p->tok.start, p->tok.len);
        name[p->tok.len] = '\0';
        advance(p);
    } else if (at(p, GC_TOK_AT)) {
        advance(p);
        if (!at(p, GC_TOK_STRING)) return expected(p, "the graph's name");
        name = malloc(p->tok.len);
        if (!name) return out_of_memory(p);
        gc_ir_unescape(&p->tok, name);
        advance(p);
    } else {
        return expected(p, "'@' and the graph's name");
    }
    p->g = gc_graph_new(name);
    free(name);
    if (!p->g) return out_of_memory(p);
    if (at_word(p, "updates_in_backward")) {
        p->g->updates_in_backward = true; /* ir/graph.h */
        advance(p);
    }
    if (!expect(p, GC_TOK_LBRACE, "'{' to open the graph")) return 0;
    for (;;) {
        if (at(p, GC_TOK_VALUE)) {
            if (!parse_node(p)) return 0;
        } else if (at_word(p, "output") || at_word(p, "update") || at_word(p, "grad")) {
            if (!parse_output(p)) return 0;
        } else if (at(p, GC_TOK_RBRACE)) {
            advance(p);
            break;
        } else {
            return expected(p, "a node (%N = op ...), an output or '}'");
        }
    }
    if (!at(p, GC_TOK_EOF)) {
        if (at(p, GC_TOK_ERROR)) return error_at(p, &p->tok, "%s", p->lex.message);
        char got[64];
        gc_ir_describe(&p->tok, got, sizeof got);
        return error_at(p, &p->tok, "unexpected %s after the end of the graph", got);
    }
    return 1;
}

gc_graph *gc_graph_parse(const char *text, size_t len, const char *filename, gc_error *err) {
    parser p;
    memset(&p, 0, sizeof p);
    gc_error local;
    p.err = err ? err : &local;
    gc_error_clear(p.err);
    p.file = filename && *filename ? filename : "<input>";
    gc_ir_lex_init(&p.lex, text ? text : "", text ? len : 0);
    advance(&p);
    int ok = parse_graph(&p);
    free(p.values.slots);
    free(p.sources.slots);
    free(p.operands);
    if (!ok) {
        gc_graph_free(p.g);
        return NULL;
    }
    return p.g;
}
