/*
 * lex_ir.h: the tokenizer of textual IR, shared by the parser (parse.c) only.
 *
 * Kept apart from the parser so the byte-level rules (what a number, string or %value looks like,
 * which bytes are garbage) sit in one place and the parser reads as a grammar.
 */
#ifndef GC_IR_LEX_IR_H
#define GC_IR_LEX_IR_H

#include <stddef.h>

typedef enum gc_ir_tok_kind {
    GC_TOK_EOF,
    GC_TOK_ERROR,   /* the lexer's message is in gc_ir_lexer.message */
    GC_TOK_IDENT,   /* [A-Za-z_][A-Za-z0-9_.]*  op names, dtypes, keywords, field names */
    GC_TOK_NUMBER,  /* -?[0-9]+(.[0-9]*)?([eE][+-]?[0-9]+)? */
    GC_TOK_STRING,  /* "..." with \" \\ \n \t \xNN; start/len cover the quotes */
    GC_TOK_VALUE,   /* %name; start/len cover the name without the % */
    GC_TOK_GLOBAL,  /* @name; start/len cover the name without the @ */
    GC_TOK_AT,      /* @ directly followed by a string: a graph name that is no identifier */
    GC_TOK_EQ,
    GC_TOK_LPAREN,
    GC_TOK_RPAREN,
    GC_TOK_LBRACE,
    GC_TOK_RBRACE,
    GC_TOK_LBRACKET,
    GC_TOK_RBRACKET,
    GC_TOK_COMMA,
    GC_TOK_COLON,
    GC_TOK_MINUS, /* only before a non-digit, as in -inf */
} gc_ir_tok_kind;

typedef struct gc_ir_token {
    gc_ir_tok_kind kind;
    const char *start;
    size_t len;
    int line, col;
} gc_ir_token;

typedef struct gc_ir_lexer {
    const char *p, *end;
    const char *line_start;
    int line;
    char message[200]; /* why the last GC_TOK_ERROR token is an error */
} gc_ir_lexer;

void gc_ir_lex_init(gc_ir_lexer *lx, const char *text, size_t len);
gc_ir_token gc_ir_lex_next(gc_ir_lexer *lx);

/* Decodes a GC_TOK_STRING (already validated by the lexer) into out, which must hold tok->len
 * bytes; returns the decoded length. The result is NUL-terminated. */
size_t gc_ir_unescape(const gc_ir_token *tok, char *out);

/* A short, printable rendering of a token for messages: 'foo', end of input, ... */
void gc_ir_describe(const gc_ir_token *tok, char *buf, size_t size);

#endif
