/*
 * lex_ir.c: the tokenizer of textual IR (token kinds in lex_ir.h).
 *
 * The input may be anything (a truncated file, binary garbage), so every byte not allowed by the
 * grammar becomes a GC_TOK_ERROR with a message and the position of that byte, and the lexer
 * never reads past `end` (the text need not be NUL-terminated).
 */
#include "ir/lex_ir.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

void gc_ir_lex_init(gc_ir_lexer *lx, const char *text, size_t len) {
    lx->p = text;
    lx->end = text + len;
    lx->line_start = text;
    lx->line = 1;
    lx->message[0] = '\0';
}

static bool is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_digit(int c) { return c >= '0' && c <= '9'; }
static bool is_ident(int c) { return is_alpha(c) || is_digit(c) || c == '.'; }
static bool is_hex(int c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

static int peek(const gc_ir_lexer *lx, size_t ahead) {
    return (size_t)(lx->end - lx->p) > ahead ? (unsigned char)lx->p[ahead] : -1;
}

static int column(const gc_ir_lexer *lx, const char *at) {
    ptrdiff_t c = at - lx->line_start + 1;
    return c > INT_MAX ? INT_MAX : (int)c;
}

static void newline(gc_ir_lexer *lx, const char *after) {
    if (lx->line < INT_MAX) lx->line++;
    lx->line_start = after;
}

static void skip_space_and_comments(gc_ir_lexer *lx) {
    while (lx->p < lx->end) {
        char c = *lx->p;
        if (c == '\n') {
            lx->p++;
            newline(lx, lx->p);
        } else if (c == ' ' || c == '\t' || c == '\r') {
            lx->p++;
        } else if (c == '#') {
            const char *nl = memchr(lx->p, '\n', (size_t)(lx->end - lx->p));
            lx->p = nl ? nl : lx->end;
        } else {
            break;
        }
    }
}

static gc_ir_token make(gc_ir_lexer *lx, gc_ir_tok_kind kind, const char *start, size_t len) {
    gc_ir_token t;
    t.kind = kind;
    t.start = start;
    t.len = len;
    t.line = lx->line;
    t.col = column(lx, start);
    return t;
}

/* An error token located at `at` (which lies on the current line). */
static gc_ir_token error_at(gc_ir_lexer *lx, const char *at, const char *msg) {
    snprintf(lx->message, sizeof lx->message, "%s", msg);
    gc_ir_token t = make(lx, GC_TOK_ERROR, at, 0);
    lx->p = lx->end; /* nothing after an error is read */
    return t;
}

static gc_ir_token lex_string(gc_ir_lexer *lx) {
    const char *start = lx->p;
    lx->p++;
    for (;;) {
        int c = peek(lx, 0);
        if (c < 0 || c == '\n') return error_at(lx, start, "unterminated string");
        if (c == '"') break;
        if (c == '\\') {
            int e = peek(lx, 1);
            if (e == '"' || e == '\\' || e == 'n' || e == 't') {
                lx->p += 2;
            } else if (e == 'x') {
                int h1 = peek(lx, 2), h2 = peek(lx, 3);
                if (!is_hex(h1) || !is_hex(h2))
                    return error_at(lx, lx->p, "\\x in a string needs two hex digits");
                if (h1 == '0' && h2 == '0') return error_at(lx, lx->p, "a string cannot hold a NUL byte");
                lx->p += 4;
            } else {
                return error_at(lx, lx->p, "unknown escape in string (use \\\" \\\\ \\n \\t or \\xNN)");
            }
            continue;
        }
        if (c < 0x20 || c == 0x7f)
            return error_at(lx, lx->p, "control byte in a string (write it as \\xNN)");
        lx->p++;
    }
    lx->p++;
    return make(lx, GC_TOK_STRING, start, (size_t)(lx->p - start));
}

/* -?[0-9]+(.[0-9]*)?([eE][+-]?[0-9]+)? and nothing identifier-like glued to its end. */
static gc_ir_token lex_number(gc_ir_lexer *lx) {
    const char *start = lx->p;
    if (*lx->p == '-') lx->p++;
    while (is_digit(peek(lx, 0))) lx->p++;
    if (peek(lx, 0) == '.') {
        lx->p++;
        while (is_digit(peek(lx, 0))) lx->p++;
    }
    int e = peek(lx, 0);
    if (e == 'e' || e == 'E') {
        size_t k = 1;
        if (peek(lx, k) == '+' || peek(lx, k) == '-') k++;
        if (!is_digit(peek(lx, k))) return error_at(lx, start, "malformed number: exponent has no digits");
        lx->p += k;
        while (is_digit(peek(lx, 0))) lx->p++;
    }
    if (is_ident(peek(lx, 0))) return error_at(lx, start, "malformed number");
    return make(lx, GC_TOK_NUMBER, start, (size_t)(lx->p - start));
}

gc_ir_token gc_ir_lex_next(gc_ir_lexer *lx) {
    skip_space_and_comments(lx);
    if (lx->p >= lx->end) return make(lx, GC_TOK_EOF, lx->end, 0);
    const char *start = lx->p;
    int c = (unsigned char)*lx->p;
    if (is_alpha(c)) {
        while (is_ident(peek(lx, 0))) lx->p++;
        return make(lx, GC_TOK_IDENT, start, (size_t)(lx->p - start));
    }
    if (is_digit(c) || (c == '-' && is_digit(peek(lx, 1)))) return lex_number(lx);
    if (c == '"') return lex_string(lx);
    if (c == '%') {
        lx->p++;
        while (is_ident(peek(lx, 0))) lx->p++;
        if (lx->p == start + 1) return error_at(lx, start, "expected a value name after '%'");
        gc_ir_token t = make(lx, GC_TOK_VALUE, start + 1, (size_t)(lx->p - start - 1));
        t.col = column(lx, start);
        return t;
    }
    if (c == '@') {
        lx->p++;
        if (peek(lx, 0) == '"') return make(lx, GC_TOK_AT, start, 1);
        while (is_ident(peek(lx, 0)) || peek(lx, 0) == '-') lx->p++;
        if (lx->p == start + 1) return error_at(lx, start, "expected a graph name after '@'");
        gc_ir_token t = make(lx, GC_TOK_GLOBAL, start + 1, (size_t)(lx->p - start - 1));
        t.col = column(lx, start);
        return t;
    }
    static const struct {
        char c;
        gc_ir_tok_kind kind;
    } punct[] = {
        {'=', GC_TOK_EQ},       {'(', GC_TOK_LPAREN},   {')', GC_TOK_RPAREN}, {'{', GC_TOK_LBRACE},
        {'}', GC_TOK_RBRACE},   {'[', GC_TOK_LBRACKET}, {']', GC_TOK_RBRACKET}, {',', GC_TOK_COMMA},
        {':', GC_TOK_COLON},    {'-', GC_TOK_MINUS},
    };
    for (size_t i = 0; i < sizeof punct / sizeof punct[0]; i++) {
        if (punct[i].c == c) {
            lx->p++;
            return make(lx, punct[i].kind, start, 1);
        }
    }
    char msg[64];
    if (c >= 0x21 && c < 0x7f)
        snprintf(msg, sizeof msg, "unexpected character '%c'", c);
    else
        snprintf(msg, sizeof msg, "unexpected byte 0x%02x", (unsigned)c);
    return error_at(lx, start, msg);
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return c - 'A' + 10;
}

size_t gc_ir_unescape(const gc_ir_token *tok, char *out) {
    size_t n = 0;
    const char *p = tok->start + 1, *end = tok->start + tok->len - 1;
    while (p < end) {
        if (*p != '\\') {
            out[n++] = *p++;
            continue;
        }
        char e = p[1];
        if (e == 'n') out[n++] = '\n';
        else if (e == 't') out[n++] = '\t';
        else if (e == 'x') {
            out[n++] = (char)(hex_value(p[2]) * 16 + hex_value(p[3]));
            p += 2;
        } else out[n++] = e;
        p += 2;
    }
    out[n] = '\0';
    return n;
}

void gc_ir_describe(const gc_ir_token *tok, char *buf, size_t size) {
    switch (tok->kind) {
    case GC_TOK_EOF: snprintf(buf, size, "end of input"); return;
    case GC_TOK_ERROR: snprintf(buf, size, "an invalid token"); return;
    default: break;
    }
    const char *start = tok->start;
    size_t len = tok->len;
    if (tok->kind == GC_TOK_VALUE || tok->kind == GC_TOK_GLOBAL) {
        start--; /* show the sigil too */
        len++;
    }
    char text[48];
    size_t shown = len < 32 ? len : 32, k = 0;
    for (size_t i = 0; i < shown && k + 5 < sizeof text; i++) {
        unsigned char c = (unsigned char)start[i];
        if (c >= 0x20 && c < 0x7f)
            text[k++] = (char)c;
        else
            k += (size_t)snprintf(text + k, sizeof text - k, "\\x%02x", c);
    }
    text[k] = '\0';
    snprintf(buf, size, "'%s%s'", text, shown < len ? "..." : "");
}
