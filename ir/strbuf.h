/*
 * strbuf.h: a growable, NUL-terminated string for printers (IR text, dot, diagnostics).
 * Out of memory is sticky: later appends do nothing and gc_strbuf_take returns NULL.
 */
#ifndef GC_IR_STRBUF_H
#define GC_IR_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

#include "ir/diag.h"

typedef struct gc_strbuf {
    char *data;
    size_t len, cap;
    bool failed;
} gc_strbuf;

void gc_strbuf_init(gc_strbuf *sb);
void gc_strbuf_append(gc_strbuf *sb, const char *s);
void gc_strbuf_appendn(gc_strbuf *sb, const char *s, size_t n);
void gc_strbuf_printf(gc_strbuf *sb, const char *fmt, ...) GC_PRINTF(2, 3);
/* Hands the malloc'd string to the caller (NULL if any append failed) and resets sb. */
char *gc_strbuf_take(gc_strbuf *sb);
void gc_strbuf_free(gc_strbuf *sb);

#endif
