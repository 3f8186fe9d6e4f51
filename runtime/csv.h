/*
 * csv.h: comma-separated files, for data (`gradc train --data x=FILE.csv:0-63`) and for reading
 * training logs back (`gradc plot`).
 *
 * The dialect is RFC 4180 as spreadsheets and pandas write it: fields separated by commas, rows
 * by LF or CRLF, a field may be quoted ("a, b" with "" for a quote, and line breaks inside),
 * blank lines are skipped. Errors carry the file, the line and the column of the cause, so the
 * command prints `data.csv:7:12: error: ...`.
 */
#ifndef GC_RUNTIME_CSV_H
#define GC_RUNTIME_CSV_H

#include <stdbool.h>

#include <gradc/gradc.h>

/* A row-at-a-time reader over a file held in memory. */
typedef struct gc_csv_reader {
    const char *path;
    const char *text, *pos, *end;
    int line;          /* line of the next row */
    /* The current row: fields unquoted, NUL-terminated; their line and 1-based byte column. */
    char **fields;
    int *field_line, *field_col;
    int count, cap;
    int row_line;      /* line the current row starts on */
    char *buffer;      /* storage for the current row's fields */
    size_t buffer_cap;
    char *owned;       /* the file's text when the reader read it */
} gc_csv_reader;

/* Reads path into memory ("-": standard input) and starts before its first row. */
int gc_csv_open(gc_csv_reader *r, const char *path, gc_error *err);
/* Starts before the first row of text (len bytes, copied); path names it in errors. */
void gc_csv_init(gc_csv_reader *r, const char *path, const char *text, size_t len);
/* Reads the next row into r->fields. Returns 1, 0 at the end, -1 with err set (an unterminated
 * quote, text after a closing quote, out of memory). */
int gc_csv_next(gc_csv_reader *r, gc_error *err);
void gc_csv_close(gc_csv_reader *r);

/* A field as a number, strictly: optional spaces, then [+-] digits [. digits] [e[+-]digits] (or
 * .digits), then optional spaces and nothing else; no hex, no inf or nan. Returns 1 or 0. */
int gc_csv_parse_number(const char *field, double *out);

typedef enum gc_csv_header {
    GC_CSV_HEADER_AUTO = 0, /* the first row is a header when any of its fields is not a number */
    GC_CSV_HEADER_YES,
    GC_CSV_HEADER_NO,
} gc_csv_header;

/* Reads the columns named by `cols` of a numeric CSV file into *out, a [rows, columns] tensor of
 * `dtype` (GC_F32, or GC_I32 whose cells must be whole numbers in range); out->data is malloc'd.
 * `cols` is a comma list of 0-based indices (`3`), inclusive ranges (`0-63`) and header names
 * (`label`); NULL or "" selects every column. Every row must have as many fields as the first,
 * every selected cell must be a number; a violation is an error at its line and column. */
int gc_csv_read_columns(const char *path, const char *cols, gc_csv_header header, gc_dtype dtype, gc_tensor *out,
                        gc_error *err);

#endif
