/* diagnostic.c: gc_error to `file:line:col: error: ...` with the source line and a caret. */
#include "frontend/diagnostic.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { WINDOW = 160 };

typedef struct text {
    char *data;
    size_t len, cap;
    bool failed;
} text;

static void add(text *t, const char *s, size_t n) {
    if (t->failed) return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->len + n + 1) cap *= 2;
        char *d = realloc(t->data, cap);
        if (!d) {
            t->failed = true;
            return;
        }
        t->data = d;
        t->cap = cap;
    }
    memcpy(t->data + t->len, s, n);
    t->len += n;
    t->data[t->len] = '\0';
}

static void adds(text *t, const char *s) { add(t, s, strlen(s)); }

/* Length of a valid UTF-8 sequence at s (at most n bytes), or 0. */
static int utf8_len(const unsigned char *s, size_t n) {
    int len = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 0 || (size_t)len > n) return 0;
    for (int i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    if (len == 2 && s[0] < 0xC2) return 0; /* overlong */
    return len;
}

/* Appends the source line and the caret line. */
static void add_excerpt(text *t, const char *line, size_t len, int col) {
    size_t caret = col > 0 ? (size_t)(col - 1) : 0;
    if (caret > len) caret = len;
    size_t start = 0, end = len;
    if (len > WINDOW) {
        start = caret > WINDOW / 2 ? caret - WINDOW / 2 : 0;
        end = start + WINDOW < len ? start + WINDOW : len;
        /* Do not cut a UTF-8 sequence in half. */
        while (start > 0 && ((unsigned char)line[start] & 0xC0) == 0x80) start--;
        while (end < len && ((unsigned char)line[end] & 0xC0) == 0x80) end++;
    }
    text pad = {0};
    adds(t, "    ");
    adds(&pad, "    ");
    if (start > 0) {
        adds(t, "...");
        adds(&pad, "   ");
    }
    for (size_t i = start; i < end;) {
        unsigned char c = (unsigned char)line[i];
        size_t n = 1;
        if (c == '\t') {
            add(t, "\t", 1);
        } else if (c < 0x20 || c == 0x7F) {
            add(t, "?", 1);
        } else if (c >= 0x80) {
            int u = utf8_len((const unsigned char *)line + i, end - i);
            if (u) add(t, line + i, (size_t)u), n = (size_t)u;
            else add(t, "?", 1);
        } else {
            add(t, (const char *)&line[i], 1);
        }
        /* One padding character per displayed character before the caret. */
        if (i < caret) add(&pad, c == '\t' ? "\t" : " ", 1);
        i += n;
    }
    if (end < len) adds(t, "...");
    adds(t, "\n");
    if (pad.failed) t->failed = true;
    else add(t, pad.data, pad.len);
    free(pad.data);
    adds(t, "^\n");
}

char *gc_format_diagnostic(const gc_error *err, const char *source) {
    text t = {0};
    char head[sizeof err->message + sizeof err->file + 64];
    if (err->line > 0) {
        snprintf(head, sizeof head, "%s:%d:%d: error: %s\n", err->file[0] ? err->file : "<input>", err->line,
                 err->col, err->message);
    } else {
        snprintf(head, sizeof head, "gradc: error: %s\n", err->message);
    }
    adds(&t, head);
    if (err->line > 0 && source) {
        const char *line = source;
        for (int l = 1; l < err->line && line; l++) {
            line = strchr(line, '\n');
            if (line) line++;
        }
        if (line) {
            const char *nl = strchr(line, '\n');
            size_t len = nl ? (size_t)(nl - line) : strlen(line);
            if (len > 0 && line[len - 1] == '\r') len--;
            add_excerpt(&t, line, len, err->col);
        }
    }
    if (t.failed) {
        free(t.data);
        return NULL;
    }
    return t.data;
}
