/* csv.c: the CSV reader and numeric column extraction; see csv.h for the dialect. */
#include "runtime/csv.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/diag.h"
#include "runtime/file.h"

/* Data files are read whole; this keeps a mistaken path (a disk image, /dev/zero) from eating
 * all memory before the first error. */
#define CSV_MAX_BYTES ((size_t)1 << 32)

void gc_csv_init(gc_csv_reader *r, const char *path, const char *text, size_t len) {
    memset(r, 0, sizeof *r);
    r->path = path;
    /* Fields are unquoted in place, in a private copy (unquoting only ever shrinks a field). */
    r->owned = malloc(len + 1);
    if (r->owned) {
        memcpy(r->owned, text, len);
        r->owned[len] = '\0';
    }
    r->text = r->pos = r->owned;
    r->end = r->owned ? r->owned + len : NULL;
    r->line = 1;
}

int gc_csv_open(gc_csv_reader *r, const char *path, gc_error *err) {
    size_t len = 0;
    char *text = gc_file_read(path, CSV_MAX_BYTES, &len, err);
    if (!text) {
        memset(r, 0, sizeof *r);
        return 0;
    }
    memset(r, 0, sizeof *r);
    r->path = path;
    r->owned = text;
    r->text = r->pos = text;
    r->end = text + len;
    r->line = 1;
    return 1;
}

void gc_csv_close(gc_csv_reader *r) {
    free(r->fields);
    free(r->field_line);
    free(r->field_col);
    free(r->owned);
    memset(r, 0, sizeof *r);
}

static int push_field(gc_csv_reader *r, char *field, int line, int col, gc_error *err) {
    if (r->count == r->cap) {
        int cap = r->cap ? r->cap * 2 : 16;
        char **f = realloc(r->fields, sizeof *f * (size_t)cap);
        if (f) r->fields = f;
        int *l = realloc(r->field_line, sizeof *l * (size_t)cap);
        if (l) r->field_line = l;
        int *c = realloc(r->field_col, sizeof *c * (size_t)cap);
        if (c) r->field_col = c;
        if (!f || !l || !c) return gc_failf(err, GC_ERR_MEMORY, "out of memory reading %s", r->path);
        r->cap = cap;
    }
    r->fields[r->count] = field;
    r->field_line[r->count] = line;
    r->field_col[r->count] = col;
    r->count++;
    return 1;
}

/* A line holding nothing but spaces, tabs and a CR counts as blank. */
static const char *blank_line_end(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) p++;
    return p == end || *p == '\n' ? p : NULL;
}

int gc_csv_next(gc_csv_reader *r, gc_error *err) {
    r->count = 0;
    if (!r->owned) return gc_failf(err, GC_ERR_MEMORY, "out of memory reading %s", r->path), -1;
    char *p = (char *)r->pos, *end = (char *)r->end;
    for (const char *b; p < end && (b = blank_line_end(p, end));) {
        p = (char *)b + (b < end);
        r->line++;
    }
    if (p >= end) {
        r->pos = p;
        return 0;
    }
    r->row_line = r->line;
    char *line_start = p;
    for (;;) {
        int col = (int)(p - line_start) + 1, line = r->line;
        char *out = p, *field = p;
        if (*p == '"') {
            p++;
            for (;;) {
                if (p >= end) {
                    gc_loc loc = {r->path, line, col};
                    return gc_fail(err, GC_ERR_USER, loc, "this quoted field has no closing quote"), -1;
                }
                if (*p == '"' && p + 1 < end && p[1] == '"') {
                    *out++ = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    if (*p == '\n') {
                        r->line++;
                        line_start = p + 1;
                    }
                    *out++ = *p++;
                }
            }
            while (p < end && (*p == ' ' || *p == '\t')) p++;
            if (p < end && *p == '\r' && (p + 1 == end || p[1] == '\n')) p++;
            if (p < end && *p != ',' && *p != '\n') {
                gc_loc loc = {r->path, r->line, (int)(p - line_start) + 1};
                return gc_fail(err, GC_ERR_USER, loc, "text after the closing quote of a field"), -1;
            }
        } else {
            while (p < end && *p != ',' && *p != '\n') p++;
            out = p;
            if (out > field && out[-1] == '\r' && (p == end || *p == '\n')) out--;
        }
        char sep = p < end ? *p : '\n';
        *out = '\0'; /* over the separator, a closing quote, a CR, or the buffer's final NUL */
        if (!push_field(r, field, line, col, err)) return -1;
        if (p < end) p++;
        if (sep == '\n') {
            r->line++;
            break;
        }
        if (p >= end) { /* a trailing comma at the end of the file: one more empty field */
            if (!push_field(r, p, r->line, (int)(p - line_start) + 1, err)) return -1;
            break;
        }
    }
    r->pos = p;
    return 1;
}

int gc_csv_parse_number(const char *s, double *out) {
    const char *p = s;
    while (*p == ' ' || *p == '\t') p++;
    const char *start = p;
    if (*p == '+' || *p == '-') p++;
    int digits = 0;
    while (isdigit((unsigned char)*p)) p++, digits++;
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p)) p++, digits++;
    }
    if (!digits) return 0;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!isdigit((unsigned char)*p)) return 0;
        while (isdigit((unsigned char)*p)) p++;
    }
    const char *stop = p;
    while (*p == ' ' || *p == '\t') p++;
    if (*p) return 0;
    char buf[128];
    size_t n = (size_t)(stop - start);
    if (n >= sizeof buf) {
        /* Long digit strings are legal; strtod reads them from the original text. */
        *out = strtod(start, NULL);
        return 1;
    }
    memcpy(buf, start, n);
    buf[n] = '\0';
    *out = strtod(buf, NULL);
    return 1;
}

/* Appends the column indices an item of the column list names; names need the header. */
static int add_columns(const char *path, const char *item, char **header, int ncols, int **list, int *count, int *cap,
                       gc_error *err) {
    long lo = -1, hi = -1;
    char *end = NULL;
    bool numeric = isdigit((unsigned char)item[0]);
    if (numeric) {
        lo = hi = strtol(item, &end, 10);
        if (*end == '-' && isdigit((unsigned char)end[1])) hi = strtol(end + 1, &end, 10);
        numeric = *end == '\0'; /* "2b" or "3-" are names */
    }
    if (numeric) {
        if (hi < lo) return gc_failf(err, GC_ERR_USER, "%s: column range '%s' runs backwards", path, item);
        if (hi >= ncols)
            return gc_failf(err, GC_ERR_USER, "%s: column %ld is out of range: the file has %d column%s (0-%d)", path, hi,
                            ncols, ncols == 1 ? "" : "s", ncols - 1);
    } else {
        lo = -1;
        for (int c = 0; header && c < ncols && lo < 0; c++)
            if (!strcmp(header[c], item)) lo = c;
        if (lo < 0) {
            if (!header)
                return gc_failf(err, GC_ERR_USER,
                                "%s: no column named '%s': the file has no header row (name columns by index, "
                                "or give --csv-header)",
                                path, item);
            char known[256] = "";
            size_t len = 0;
            for (int c = 0; c < ncols && len < sizeof known - 40; c++)
                len += (size_t)snprintf(known + len, sizeof known - len, "%s%s", c ? ", " : "", header[c]);
            return gc_failf(err, GC_ERR_USER, "%s: no column named '%s' (its columns: %s%s)", path, item, known,
                            len >= sizeof known - 40 ? ", ..." : "");
        }
        hi = lo;
    }
    for (long c = lo; c <= hi; c++) {
        if (*count == *cap) {
            int grown = *cap ? *cap * 2 : 64;
            int *l = realloc(*list, sizeof *l * (size_t)grown);
            if (!l) return gc_failf(err, GC_ERR_MEMORY, "out of memory");
            *list = l;
            *cap = grown;
        }
        (*list)[(*count)++] = (int)c;
    }
    return 1;
}

/* The column list `cols` as indices into rows of ncols fields. */
static int resolve_columns(const char *path, const char *cols, char **header, int ncols, int **list, int *count,
                           gc_error *err) {
    int cap = 0;
    *list = NULL;
    *count = 0;
    if (!cols || !*cols) {
        for (int c = 0; c < ncols; c++) {
            char item[16];
            snprintf(item, sizeof item, "%d", c);
            if (!add_columns(path, item, NULL, ncols, list, count, &cap, err)) return 0;
        }
        return 1;
    }
    const char *p = cols;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        while (n && (*p == ' ')) p++, n--;
        while (n && p[n - 1] == ' ') n--;
        char item[256];
        if (n == 0 || n >= sizeof item)
            return gc_failf(err, GC_ERR_USER, "%s: bad column list '%s' (indices like 3, ranges like 0-63 and header "
                                              "names, separated by commas)", path, cols);
        memcpy(item, p, n);
        item[n] = '\0';
        if (!add_columns(path, item, header, ncols, list, count, &cap, err)) return 0;
        if (!comma) break;
        p = comma + 1;
        if (!*p) return gc_failf(err, GC_ERR_USER, "%s: bad column list '%s' (it ends with a comma)", path, cols);
    }
    return 1;
}

/* A cell converted to dtype, or an error at the cell. */
static int convert_cell(gc_csv_reader *r, int column, char **header, gc_dtype dtype, void *dst,
                        gc_error *err) {
    const char *s = r->fields[column];
    gc_loc loc = {r->path, r->field_line[column], r->field_col[column]};
    char where[160];
    if (header) snprintf(where, sizeof where, "column %d ('%.100s')", column, header[column]);
    else snprintf(where, sizeof where, "column %d", column);
    double v;
    if (!gc_csv_parse_number(s, &v)) {
        const char *p = s;
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) return gc_fail(err, GC_ERR_USER, loc, "%s is empty; every cell of a data column needs a number", where);
        return gc_fail(err, GC_ERR_USER, loc, "%s: '%.60s' is not a number", where, s);
    }
    if (dtype == GC_I32) {
        if (v != floor(v) || v < INT32_MIN || v > INT32_MAX)
            return gc_fail(err, GC_ERR_USER, loc, "%s: '%.60s' is not a whole number in the i32 range (the input is i32)",
                           where, s);
        *(int32_t *)dst = (int32_t)v;
    } else {
        float f = (float)v;
        if (!isfinite(f)) return gc_fail(err, GC_ERR_USER, loc, "%s: '%.60s' is outside the f32 range", where, s);
        *(float *)dst = f;
    }
    return 1;
}

int gc_csv_read_columns(const char *path, const char *cols, gc_csv_header header, gc_dtype dtype, gc_tensor *out,
                        gc_error *err) {
    memset(out, 0, sizeof *out);
    if (dtype != GC_F32 && dtype != GC_I32) return gc_failf(err, GC_ERR_USER, "%s: CSV data feeds f32 or i32 inputs", path);
    gc_csv_reader r;
    if (!gc_csv_open(&r, path, err)) return 0;
    int *list = NULL, count = 0, ok = 0;
    char **names = NULL;
    char *data = NULL;
    int got = gc_csv_next(&r, err);
    if (got < 0) goto done;
    if (got == 0) {
        gc_failf(err, GC_ERR_USER, "%s: the file is empty", path);
        goto done;
    }
    int ncols = r.count, first_line = r.row_line;
    bool has_header = header == GC_CSV_HEADER_YES;
    if (header == GC_CSV_HEADER_AUTO) {
        double v;
        for (int c = 0; c < ncols && !has_header; c++) has_header = !gc_csv_parse_number(r.fields[c], &v);
    }
    if (has_header) {
        /* Field pointers stay valid: the reader unquotes in place in its copy of the file. */
        names = malloc(sizeof *names * (size_t)ncols);
        if (!names) {
            gc_failf(err, GC_ERR_MEMORY, "out of memory");
            goto done;
        }
        for (int c = 0; c < ncols; c++) {
            char *f = r.fields[c];
            while (*f == ' ' || *f == '\t') f++;
            char *e = f + strlen(f);
            while (e > f && (e[-1] == ' ' || e[-1] == '\t')) *--e = '\0';
            names[c] = f;
        }
    }
    if (!resolve_columns(path, cols, names, ncols, &list, &count, err)) goto done;
    size_t elem = 4, cap_rows = 1024, rows = 0;
    data = malloc(cap_rows * (size_t)count * elem + 1);
    if (!data) {
        gc_failf(err, GC_ERR_MEMORY, "out of memory");
        goto done;
    }
    if (has_header) got = gc_csv_next(&r, err);
    for (; got > 0; got = gc_csv_next(&r, err)) {
        if (r.count != ncols) {
            gc_loc loc = {path, r.row_line, 1};
            gc_fail(err, GC_ERR_USER, loc, "this row has %d field%s, but the %s on line %d has %d", r.count,
                    r.count == 1 ? "" : "s", has_header ? "header" : "first row", first_line, ncols);
            goto done;
        }
        if (rows == cap_rows) {
            char *grown = realloc(data, cap_rows * 2 * (size_t)count * elem + 1);
            if (!grown) {
                gc_failf(err, GC_ERR_MEMORY, "out of memory reading %s", path);
                goto done;
            }
            data = grown;
            cap_rows *= 2;
        }
        for (int k = 0; k < count; k++)
            if (!convert_cell(&r, list[k], names, dtype, data + (rows * (size_t)count + (size_t)k) * elem, err))
                goto done;
        rows++;
    }
    if (got < 0) goto done;
    if (rows == 0) {
        gc_failf(err, GC_ERR_USER, "%s: the file has a header but no rows of data", path);
        goto done;
    }
    out->dtype = dtype;
    out->rank = 2;
    out->shape[0] = (int64_t)rows;
    out->shape[1] = count;
    out->data = data;
    data = NULL;
    ok = 1;
done:
    free(data);
    free(list);
    free(names);
    gc_csv_close(&r);
    return ok;
}
