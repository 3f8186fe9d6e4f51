/*
 * strbuf.c: the growable string behind every printer (see strbuf.h).
 *
 * Out of memory is sticky so a printer can append hundreds of pieces and check once, at
 * gc_strbuf_take, instead of after every call.
 */
#include "ir/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gc_strbuf_init(gc_strbuf *sb) {
    sb->data = NULL;
    sb->len = 0;
    sb->cap = 0;
    sb->failed = false;
}

/* Makes room for `extra` more bytes plus the terminating NUL. */
static bool reserve(gc_strbuf *sb, size_t extra) {
    if (sb->failed) return false;
    if (extra > (size_t)-1 / 2 - sb->len) {
        sb->failed = true;
        return false;
    }
    size_t need = sb->len + extra + 1;
    if (need <= sb->cap) return true;
    size_t cap = sb->cap ? sb->cap : 256;
    while (cap < need) cap *= 2;
    char *data = realloc(sb->data, cap);
    if (!data) {
        sb->failed = true;
        return false;
    }
    sb->data = data;
    sb->cap = cap;
    return true;
}

void gc_strbuf_appendn(gc_strbuf *sb, const char *s, size_t n) {
    if (!reserve(sb, n)) return;
    if (n) memcpy(sb->data + sb->len, s, n);
    sb->len += n;
    sb->data[sb->len] = '\0';
}

void gc_strbuf_append(gc_strbuf *sb, const char *s) { gc_strbuf_appendn(sb, s, strlen(s)); }

void gc_strbuf_printf(gc_strbuf *sb, const char *fmt, ...) {
    if (sb->failed) return;
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        sb->failed = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        gc_strbuf_appendn(sb, small, (size_t)n);
        return;
    }
    /* Too long for the stack buffer: format again straight into the grown buffer. */
    if (!reserve(sb, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb->len += (size_t)n;
}

char *gc_strbuf_take(gc_strbuf *sb) {
    char *out = NULL;
    if (!sb->failed) {
        /* An empty buffer still hands back a valid empty string. */
        if (reserve(sb, 0)) {
            sb->data[sb->len] = '\0';
            out = sb->data;
            sb->data = NULL;
        }
    }
    gc_strbuf_free(sb);
    return out;
}

void gc_strbuf_free(gc_strbuf *sb) {
    free(sb->data);
    gc_strbuf_init(sb);
}
