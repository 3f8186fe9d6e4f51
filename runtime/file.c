/* file.c: whole-file reading; see file.h. */
#include "runtime/file.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/diag.h"

char *gc_file_read(const char *path, size_t max, size_t *len, gc_error *err) {
    bool is_stdin = !strcmp(path, "-");
    const char *name = is_stdin ? "standard input" : path;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) return gc_failf(err, GC_ERR_IO, "cannot open %s: %s", path, strerror(errno)), NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    bool too_big = false;
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        if (cap >= max) {
            too_big = true;
            break;
        }
        char *bigger = realloc(buf, cap * 2 + 1);
        if (!bigger) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    bool failed = ferror(f);
    if (!is_stdin) fclose(f);
    if (!buf || failed || too_big || n > max) {
        free(buf);
        if (!buf) return gc_failf(err, GC_ERR_MEMORY, "out of memory reading %s", name), NULL;
        if (failed) return gc_failf(err, GC_ERR_IO, "cannot read %s", name), NULL;
        return gc_failf(err, GC_ERR_USER, "%s is larger than %zu bytes", name, max), NULL;
    }
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}
