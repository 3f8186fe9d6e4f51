/*
 * test_docs_ir.c: docs/ir.md stays in step with the op table.
 *
 * For every op in ops.def the reference table in docs/ir.md must hold the op's row exactly as
 * the table defines it (name, arity, attribute fields, class, flags, and the doc string verbatim,
 * with `|` escaped as `\|` as Markdown tables require). Adding an op, a field or a flag without
 * updating the doc fails here, naming each op that is out of step and what is wrong with it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ir/graph.h"

static char *read_doc(void) {
    const char *dir = getenv("GC_SOURCE_DIR");
    if (!dir) fail_msg("GC_SOURCE_DIR is not set");
    char path[1024];
    snprintf(path, sizeof path, "%s/docs/ir.md", dir);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    size_t cap = 1 << 16, n = 0;
    char *text = malloc(cap + 1);
    assert_non_null(text);
    size_t got;
    while ((got = fread(text + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            text = realloc(text, cap + 1);
            assert_non_null(text);
        }
    }
    fclose(f);
    text[n] = '\0';
    return text;
}

/* Markdown-table form of a doc string: a bare | would end the cell. */
static void escape_cell(const char *s, char *out, size_t size) {
    size_t k = 0;
    for (; *s && k + 3 < size; s++) {
        if (*s == '|') out[k++] = '\\';
        out[k++] = *s;
    }
    out[k] = '\0';
}

static const char *field_kind_text(gc_field_kind kind) {
    switch (kind) {
    case GC_FIELD_INT: return "int";
    case GC_FIELD_INT64: return "int64";
    case GC_FIELD_BOOL: return "bool";
    case GC_FIELD_DOUBLE: return "double";
    case GC_FIELD_AXES: return "axis list";
    case GC_FIELD_PERM: return "perm";
    case GC_FIELD_SPATIAL: return "spatial list";
    case GC_FIELD_FLAG: return "flag";
    }
    return "?";
}

/* The row docs/ir.md must contain for op:
 * | `name` | arity | `field` (kind), ... | class | flag, ... | doc | */
static void expected_row(gc_op op, char *row, size_t size) {
    const gc_op_info *info = &gc_op_table[op];
    char arity[16], fields[256] = "", flags[64] = "", doc[512];
    if (info->arity < 0)
        snprintf(arity, sizeof arity, "1+");
    else
        snprintf(arity, sizeof arity, "%d", info->arity);
    for (int i = 0; i < gc_attr_field_count; i++) {
        const gc_attr_field *f = &gc_attr_fields[i];
        if (f->kind != info->attr_kind) continue;
        size_t n = strlen(fields);
        snprintf(fields + n, sizeof fields - n, "%s`%s` (%s)", n ? ", " : "", f->name, field_kind_text(f->field_kind));
    }
    static const struct {
        unsigned flag;
        const char *name;
    } flag_names[] = {{GC_FLAG_DIFF, "diff"}, {GC_FLAG_GIVEN, "given"}, {GC_FLAG_NAMED, "named"},
                      {GC_FLAG_COMMUTES, "commutes"}};
    for (size_t i = 0; i < sizeof flag_names / sizeof flag_names[0]; i++) {
        if (!(info->flags & flag_names[i].flag)) continue;
        size_t n = strlen(flags);
        snprintf(flags + n, sizeof flags - n, "%s%s", n ? ", " : "", flag_names[i].name);
    }
    escape_cell(info->doc, doc, sizeof doc);
    snprintf(row, size, "| `%s` | %s | %s | %s | %s | %s |", info->name, arity, fields[0] ? fields : "-",
             gc_op_class_name(info->op_class), flags[0] ? flags : "-", doc);
}

static void test_every_op_is_documented(void **state) {
    (void)state;
    char *doc = read_doc();
    char problems[8192] = "";
    int count = 0;
    for (int op = 0; op < GC_OP_COUNT; op++) {
        char name_cell[96], meaning[512], row[1024];
        snprintf(name_cell, sizeof name_cell, "| `%s` |", gc_op_table[op].name);
        escape_cell(gc_op_table[op].doc, meaning, sizeof meaning);
        expected_row((gc_op)op, row, sizeof row);
        const char *what = NULL;
        if (!strstr(doc, name_cell))
            what = "no row for the op";
        else if (!strstr(doc, meaning))
            what = "its doc line from ops.def is missing";
        else if (!strstr(doc, row))
            what = "its row differs from the op table";
        if (what) {
            size_t n = strlen(problems);
            snprintf(problems + n, sizeof problems - n, "\n  %s: %s; expected\n    %s", gc_op_table[op].name, what, row);
            count++;
        }
    }
    free(doc);
    if (count) fail_msg("docs/ir.md is out of step with ir/ops.def for %d op(s):%s", count, problems);
}

/* The attribute-kind table must list every kind with its fields, as attrs.def defines them. */
static void test_every_attribute_kind_is_documented(void **state) {
    (void)state;
    char *doc = read_doc();
    int missing = 0;
    for (int kind = 0; kind < GC_ATTR_COUNT; kind++) {
        char cell[64];
        snprintf(cell, sizeof cell, "| `%s` |", gc_attr_kind_name((gc_attr_kind)kind));
        if (!strstr(doc, cell)) {
            print_error("docs/ir.md: no row for attribute kind %s\n", gc_attr_kind_name((gc_attr_kind)kind));
            missing++;
        }
    }
    for (int i = 0; i < gc_attr_field_count; i++) {
        char cell[96];
        snprintf(cell, sizeof cell, "`%s` (%s)", gc_attr_fields[i].name, field_kind_text(gc_attr_fields[i].field_kind));
        if (!strstr(doc, cell)) {
            print_error("docs/ir.md: attribute field %s of kind %s is not described as %s\n", gc_attr_fields[i].name,
                        gc_attr_kind_name(gc_attr_fields[i].kind), cell);
            missing++;
        }
    }
    free(doc);
    assert_int_equal(missing, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_op_is_documented),
        cmocka_unit_test(test_every_attribute_kind_is_documented),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
