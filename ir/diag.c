/* diag.c: building gc_error values. */
#include "ir/diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void gc_error_clear(gc_error *err) {
    if (err) memset(err, 0, sizeof *err);
}

static void set_message(gc_error *err, const char *fmt, va_list ap) {
    vsnprintf(err->message, sizeof err->message, fmt, ap);
}

int gc_fail(gc_error *err, gc_error_code code, gc_loc loc, const char *fmt, ...) {
    if (!err) return 0;
    gc_error_clear(err);
    err->code = code;
    if (loc.file) snprintf(err->file, sizeof err->file, "%s", loc.file);
    err->line = loc.line;
    err->col = loc.col;
    va_list ap;
    va_start(ap, fmt);
    set_message(err, fmt, ap);
    va_end(ap);
    return 0;
}

int gc_failf(gc_error *err, gc_error_code code, const char *fmt, ...) {
    if (!err) return 0;
    gc_error_clear(err);
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    set_message(err, fmt, ap);
    va_end(ap);
    return 0;
}

void gc_error_prefix(gc_error *err, const char *fmt, ...) {
    if (!err) return;
    char prefix[256], old[sizeof err->message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->message, sizeof old);
    size_t n = strlen(prefix), room = sizeof err->message - 1;
    if (n > room) n = room;
    memcpy(err->message, prefix, n);
    size_t m = strnlen(old, sizeof old);
    if (m > room - n) m = room - n;
    memcpy(err->message + n, old, m);
    err->message[n + m] = '\0';
}
