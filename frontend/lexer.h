/*
 * lexer.h: turns .gm model text into tokens, one at a time.
 *
 * The lexer is pulled by the parser (no token array is ever built), so memory stays bounded by the
 * AST however long the file is. It owns the layout rules of the language: `#` comments, newlines
 * as statement ends except inside ( ) and [ ], and the bracket stack that makes an unmatched or
 * mismatched bracket an error at the bracket itself. Every token carries its 1-based line and
 * column; columns count bytes, so they match what editors and `cut -b` show for ASCII sources.
 */
#ifndef GC_FRONTEND_LEXER_H
#define GC_FRONTEND_LEXER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ir/arena.h"
#include "ir/diag.h"

/* Every token kind with the spelling used in diagnostics ("expected ')', found 'x'"). */
#define GC_TOKEN_KINDS(X)                                                                          \
    X(EOF, "end of file")                                                                          \
    X(NEWLINE, "end of line")                                                                      \
    X(IDENT, "name")                                                                               \
    X(INT, "integer")                                                                              \
    X(FLOAT, "number")                                                                             \
    X(STRING, "string")                                                                            \
    X(KW_CONST, "const")                                                                           \
    X(KW_INPUT, "input")                                                                           \
    X(KW_PARAM, "param")                                                                           \
    X(KW_DEF, "def")                                                                               \
    X(KW_RETURN, "return")                                                                         \
    X(KW_FOR, "for")                                                                               \
    X(KW_IN, "in")                                                                                 \
    X(KW_RANGE, "range")                                                                           \
    X(KW_OUTPUT, "output")                                                                         \
    X(KW_TRAIN, "train")                                                                           \
    X(KW_AS, "as")                                                                                 \
    X(KW_TRUE, "true")                                                                             \
    X(KW_FALSE, "false")                                                                           \
    X(KW_NONE, "none")                                                                             \
    X(PLUS, "+")                                                                                   \
    X(MINUS, "-")                                                                                  \
    X(STAR, "*")                                                                                   \
    X(SLASH, "/")                                                                                  \
    X(AT, "@")                                                                                     \
    X(LT, "<")                                                                                     \
    X(LE, "<=")                                                                                    \
    X(GT, ">")                                                                                     \
    X(GE, ">=")                                                                                    \
    X(EQEQ, "==")                                                                                  \
    X(NE, "!=")                                                                                    \
    X(ASSIGN, "=")                                                                                 \
    X(COMMA, ",")                                                                                  \
    X(COLON, ":")                                                                                  \
    X(LPAREN, "(")                                                                                 \
    X(RPAREN, ")")                                                                                 \
    X(LBRACKET, "[")                                                                               \
    X(RBRACKET, "]")                                                                               \
    X(LBRACE, "{")                                                                                 \
    X(RBRACE, "}")                                                                                 \
    X(DOT, ".")

typedef enum gc_token_kind {
#define X(name, spelling) GC_TOK_##name,
    GC_TOKEN_KINDS(X)
#undef X
        GC_TOK_COUNT
} gc_token_kind;

/* Limits that make absurd inputs fail with a message instead of exhausting memory or stack. */
enum {
    GC_LEX_MAX_NESTING = 256,           /* open ( and [ at once */
    GC_LEX_MAX_IDENT = 255,             /* bytes in a name (names become parameter names) */
    GC_LEX_MAX_TOKENS = 4 * 1024 * 1024 /* tokens in one file */
};

/* After `as` the lexer reads a path, not an expression: `layer1.0.conv1` is a name, a dot, a
 * number and so on, never the float `1.0`. A number segment is an INT token whose str is its
 * digits; names are IDENT tokens even when they spell a reserved word (`as h.in` is a path). */
typedef enum gc_lex_path_state {
    GC_LEX_PATH_NONE,    /* not in a path */
    GC_LEX_PATH_SEGMENT, /* after `as` or a path's `.`: a name or a whole number comes next */
    GC_LEX_PATH_AFTER    /* after a segment or an index's `]`: `.` or `[` go on, anything else ends it */
} gc_lex_path_state;

typedef struct gc_token {
    gc_token_kind kind;
    const char *file;  /* the lexer's file name */
    int line, col;     /* 1-based; col counts bytes */
    const char *text;  /* the raw source slice */
    size_t len;
    int64_t ival;      /* GC_TOK_INT */
    double fval;       /* GC_TOK_FLOAT */
    char *str;         /* IDENT: the name; STRING: the decoded contents (NUL-terminated, in the arena) */
    size_t str_len;
} gc_token;

typedef struct gc_lexer {
    const char *src;
    size_t len, pos;
    int line;
    size_t line_start;
    const char *file;
    gc_arena *arena;
    struct {
        char ch;
        int line, col;
        bool in_path; /* a `[` index inside an `as` path: the path goes on after its `]` */
    } open[GC_LEX_MAX_NESTING]; /* the bracket stack */
    int depth;
    size_t ntokens;
    bool at_line_start; /* no NEWLINE yet since the last statement (collapses blank lines) */
    gc_lex_path_state path; /* where the lexer is inside an `as` path */
} gc_lexer;

/* src need not be NUL-terminated; file is used in locations and must outlive the tokens. */
void gc_lexer_init(gc_lexer *lx, const char *src, size_t len, const char *file, gc_arena *arena);

/* The next token. At the end it returns GC_TOK_EOF every time it is called. Returns 0 with err set
 * (located at the offending byte) on a lexical error. Runs of blank lines give one NEWLINE; no
 * NEWLINE is produced before the first token or inside ( ) and [ ]. */
int gc_lexer_next(gc_lexer *lx, gc_token *tok, gc_error *err);

/* The innermost ( or [ still open, for "the '(' at 3:5 is still open" hints; 0 if none. */
int gc_lexer_open_bracket(const gc_lexer *lx, char *ch, int *line, int *col);

/* "end of file", "(", "name" ... */
const char *gc_token_kind_name(gc_token_kind kind);

/* Writes a short quotation of tok for messages ("'foo'", "end of line") into buf. */
void gc_token_describe(const gc_token *tok, char *buf, size_t cap);

#endif
