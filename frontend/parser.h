/*
 * parser.h: .gm text to AST (ast.h), by recursive descent over the pulled token stream.
 *
 * The parser owns the syntax and the placement rules that need no names resolved: which
 * statements may appear at the top level, in a def or in a for loop; `return` last in a def;
 * `as` only after a call; comparisons not chained. Everything that needs names or values (what a
 * name refers to, argument counts, const evaluation) is gc_frontend_check's job (check.h).
 *
 * Absurd inputs fail with a located message rather than exhausting the stack or memory: nesting
 * is limited to GC_PARSE_MAX_DEPTH, the tree to GC_AST_MAX_NODES nodes and GC_AST_MAX_HEIGHT
 * levels, the file to GC_FRONTEND_MAX_SOURCE bytes.
 */
#ifndef GC_FRONTEND_PARSER_H
#define GC_FRONTEND_PARSER_H

#include <stddef.h>

#include "frontend/ast.h"

enum {
    GC_PARSE_MAX_DEPTH = 200,                  /* nested expressions and blocks */
    GC_FRONTEND_MAX_SOURCE = 64 * 1024 * 1024, /* bytes of one model file */
};

/* Parses a whole model file. text is len bytes and need not be NUL-terminated; filename names
 * the file in every location (a copy is kept in the arena; NULL means "<input>"). The module and
 * every node live in `arena`, which the caller owns and frees.
 *
 * On failure returns NULL with err describing the first error, at file:line:col. Syntax errors
 * are not recovered from: the first one in the file is the one reported. */
gc_ast_module *gc_frontend_parse(const char *text, size_t len, const char *filename, gc_arena *arena,
                                 gc_error *err);

#endif
