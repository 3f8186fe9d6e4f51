/*
 * test_csv.c: the CSV reader and numeric column extraction (runtime/csv.c).
 *
 * The dialect (quotes, doubled quotes, CRLF, line breaks inside quotes, blank lines), strict
 * numbers, header detection and its overrides, column lists (indices, ranges, names), and the
 * located error of every malformed file: file, line and column of the cause.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/csv.h"

static char dir[256];

static int make_dir(void **state) {
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/gc_csv_XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state) {
    (void)state;
    char path[512];
    for (int i = 0; i < 64; i++) {
        snprintf(path, sizeof path, "%s/t%d.csv", dir, i);
        unlink(path);
    }
    return rmdir(dir);
}

/* Writes text to a fresh file in the test directory and returns its path (valid for the next 63
 * calls). */
static const char *file_with(const char *text) {
    static char paths[64][512];
    static int next;
    char *path = paths[next % 64];
    snprintf(path, sizeof paths[0], "%s/t%d.csv", dir, next % 64);
    next++;
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
    return path;
}

static void test_reader_dialect(void **state) {
    (void)state;
    const char *text = "a,\"b, c\",\"say \"\"hi\"\"\"\r\n"
                       "\n"
                       "   \r\n"
                       "1,\"two\nlines\",3\n"
                       "x,,\n"
                       "last,row";
    gc_csv_reader r;
    gc_error err = {0};
    gc_csv_init(&r, "mem.csv", text, strlen(text));
    assert_int_equal(gc_csv_next(&r, &err), 1);
    assert_int_equal(r.count, 3);
    assert_string_equal(r.fields[0], "a");
    assert_string_equal(r.fields[1], "b, c");
    assert_string_equal(r.fields[2], "say \"hi\"");
    assert_int_equal(r.row_line, 1);
    assert_int_equal(r.field_col[1], 3);

    assert_int_equal(gc_csv_next(&r, &err), 1); /* two blank lines skipped */
    assert_int_equal(r.row_line, 4);
    assert_int_equal(r.count, 3);
    assert_string_equal(r.fields[1], "two\nlines");
    assert_string_equal(r.fields[2], "3");
    assert_int_equal(r.field_line[2], 5);

    assert_int_equal(gc_csv_next(&r, &err), 1);
    assert_int_equal(r.row_line, 6);
    assert_int_equal(r.count, 3);
    assert_string_equal(r.fields[1], "");
    assert_string_equal(r.fields[2], "");

    assert_int_equal(gc_csv_next(&r, &err), 1); /* no newline at the end */
    assert_int_equal(r.count, 2);
    assert_string_equal(r.fields[1], "row");
    assert_int_equal(gc_csv_next(&r, &err), 0);
    assert_int_equal(gc_csv_next(&r, &err), 0);
    gc_csv_close(&r);
}

static void test_reader_errors(void **state) {
    (void)state;
    gc_csv_reader r;
    gc_error err = {0};
    const char *open_quote = "1,2\n3,\"four\n5,6\n";
    gc_csv_init(&r, "q.csv", open_quote, strlen(open_quote));
    assert_int_equal(gc_csv_next(&r, &err), 1);
    assert_int_equal(gc_csv_next(&r, &err), -1);
    assert_string_equal(err.file, "q.csv");
    assert_int_equal(err.line, 2);
    assert_int_equal(err.col, 3);
    assert_non_null(strstr(err.message, "no closing quote"));
    gc_csv_close(&r);

    const char *after = "\"a\"b,c\n";
    gc_error err2 = {0};
    gc_csv_init(&r, "a.csv", after, strlen(after));
    assert_int_equal(gc_csv_next(&r, &err2), -1);
    assert_int_equal(err2.line, 1);
    assert_int_equal(err2.col, 4);
    assert_non_null(strstr(err2.message, "after the closing quote"));
    gc_csv_close(&r);
}

static void test_numbers(void **state) {
    (void)state;
    const struct {
        const char *text;
        double value;
    } good[] = {{"1", 1}, {"-2.5", -2.5}, {" 3e-2 ", 0.03}, {".5", 0.5}, {"5.", 5}, {"+7E+1", 70}, {"0", 0}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        double v = -1;
        assert_true(gc_csv_parse_number(good[i].text, &v));
        assert_true(v == good[i].value);
    }
    const char *bad[] = {"", " ", "abc", "1x", "0x10", "inf", "nan", "NaN", "1e", "--1", "1 2", ".", "-", "1,5", "e5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double v;
        if (gc_csv_parse_number(bad[i], &v)) fail_msg("'%s' parsed as a number", bad[i]);
    }
}

static void test_columns_by_name_and_range(void **state) {
    (void)state;
    const char *path = file_with("id,f0,f1,f2,label\n"
                                 "0,0.5,1.5,2.5,1\n"
                                 "1,-1,-2,-3,0\n"
                                 "2,10,20,30,2\n");
    gc_tensor t;
    gc_error err = {0};
    assert_true(gc_csv_read_columns(path, "1-3", GC_CSV_HEADER_AUTO, GC_F32, &t, &err));
    assert_int_equal(t.rank, 2);
    assert_int_equal(t.shape[0], 3);
    assert_int_equal(t.shape[1], 3);
    const float want[9] = {0.5f, 1.5f, 2.5f, -1, -2, -3, 10, 20, 30};
    assert_memory_equal(t.data, want, sizeof want);
    free(t.data);

    assert_true(gc_csv_read_columns(path, "label", GC_CSV_HEADER_AUTO, GC_I32, &t, &err));
    assert_int_equal(t.shape[1], 1);
    const int32_t labels[3] = {1, 0, 2};
    assert_memory_equal(t.data, labels, sizeof labels);
    free(t.data);

    /* Names, indices and ranges mix, in the order given. */
    assert_true(gc_csv_read_columns(path, "f2, 0,f0-f0", GC_CSV_HEADER_AUTO, GC_F32, &t, &err) == 0);
    assert_non_null(strstr(err.message, "no column named 'f0-f0'"));
    assert_true(gc_csv_read_columns(path, "f2,0,1-1", GC_CSV_HEADER_AUTO, GC_F32, &t, &err));
    const float mixed[9] = {2.5f, 0, 0.5f, -3, 1, -1, 30, 2, 10};
    assert_memory_equal(t.data, mixed, sizeof mixed);
    free(t.data);

    /* Every column. */
    assert_true(gc_csv_read_columns(path, NULL, GC_CSV_HEADER_AUTO, GC_F32, &t, &err));
    assert_int_equal(t.shape[1], 5);
    assert_true(((float *)t.data)[9] == 0.0f); /* row 1, column 4 */
    free(t.data);
}

static void test_header_modes(void **state) {
    (void)state;
    const char *numeric = file_with("1,2\n3,4\n");
    gc_tensor t;
    gc_error err = {0};
    assert_true(gc_csv_read_columns(numeric, NULL, GC_CSV_HEADER_AUTO, GC_F32, &t, &err));
    assert_int_equal(t.shape[0], 2); /* no header detected */
    free(t.data);
    assert_true(gc_csv_read_columns(numeric, NULL, GC_CSV_HEADER_YES, GC_F32, &t, &err));
    assert_int_equal(t.shape[0], 1); /* forced: the first row names columns "1" and "2" */
    assert_true(((float *)t.data)[1] == 4.0f);
    free(t.data);

    const char *named = file_with("a,b\n3,4\n");
    assert_false(gc_csv_read_columns(named, NULL, GC_CSV_HEADER_NO, GC_F32, &t, &err));
    assert_int_equal(err.line, 1);
    assert_int_equal(err.col, 1);
    assert_non_null(strstr(err.message, "column 0: 'a' is not a number"));

    gc_error err2 = {0};
    assert_false(gc_csv_read_columns(numeric, "a", GC_CSV_HEADER_AUTO, GC_F32, &t, &err2));
    assert_non_null(strstr(err2.message, "has no header row"));
}

static void test_located_errors(void **state) {
    (void)state;
    gc_tensor t;
    gc_error err = {0};
    const char *ragged = file_with("x,y\n1,2\n3\n");
    assert_false(gc_csv_read_columns(ragged, NULL, GC_CSV_HEADER_AUTO, GC_F32, &t, &err));
    assert_string_equal(err.file, ragged);
    assert_int_equal(err.line, 3);
    assert_non_null(strstr(err.message, "this row has 1 field, but the header on line 1 has 2"));

    gc_error e2 = {0};
    const char *word = file_with("x,y\n1,2\n\n3,four\n");
    assert_false(gc_csv_read_columns(word, NULL, GC_CSV_HEADER_AUTO, GC_F32, &t, &e2));
    assert_int_equal(e2.line, 4);
    assert_int_equal(e2.col, 3);
    assert_non_null(strstr(e2.message, "column 1 ('y'): 'four' is not a number"));

    gc_error e3 = {0};
    const char *empty_cell = file_with("1,2\n3, \n");
    assert_false(gc_csv_read_columns(empty_cell, NULL, GC_CSV_HEADER_AUTO, GC_F32, &t, &e3));
    assert_int_equal(e3.line, 2);
    assert_non_null(strstr(e3.message, "column 1 is empty"));

    gc_error e4 = {0};
    const char *fraction = file_with("label\n1\n2.5\n");
    assert_false(gc_csv_read_columns(fraction, "label", GC_CSV_HEADER_AUTO, GC_I32, &t, &e4));
    assert_int_equal(e4.line, 3);
    assert_non_null(strstr(e4.message, "not a whole number"));
    gc_error e4b = {0};
    assert_true(gc_csv_read_columns(file_with("label\n1\n2.0\n"), NULL, GC_CSV_HEADER_AUTO, GC_I32, &t, &e4b));
    assert_int_equal(((int32_t *)t.data)[1], 2);
    free(t.data);

    gc_error e5 = {0};
    const char *big = file_with("1e39\n");
    assert_false(gc_csv_read_columns(big, NULL, GC_CSV_HEADER_AUTO, GC_F32, &t, &e5));
    assert_non_null(strstr(e5.message, "outside the f32 range"));
}

static void test_column_list_errors(void **state) {
    (void)state;
    const char *path = file_with("a,b,c\n1,2,3\n");
    gc_tensor t;
    const struct {
        const char *cols, *message;
    } cases[] = {
        {"3", "column 3 is out of range: the file has 3 columns (0-2)"},
        {"0-5", "column 5 is out of range"},
        {"2-1", "column range '2-1' runs backwards"},
        {"d", "no column named 'd' (its columns: a, b, c)"},
        {"a,,b", "bad column list"},
        {"a,", "ends with a comma"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gc_error err = {0};
        assert_false(gc_csv_read_columns(path, cases[i].cols, GC_CSV_HEADER_AUTO, GC_F32, &t, &err));
        if (!strstr(err.message, cases[i].message) || !strstr(err.message, path))
            fail_msg("cols '%s': got '%s'", cases[i].cols, err.message);
    }
    gc_error err = {0};
    assert_false(gc_csv_read_columns(file_with(""), NULL, GC_CSV_HEADER_AUTO, GC_F32, &t, &err));
    assert_non_null(strstr(err.message, "empty"));
    gc_error err2 = {0};
    assert_false(gc_csv_read_columns(file_with("a,b\n"), NULL, GC_CSV_HEADER_AUTO, GC_F32, &t, &err2));
    assert_non_null(strstr(err2.message, "no rows of data"));
    gc_error err3 = {0};
    assert_false(gc_csv_read_columns("/nonexistent/x.csv", NULL, GC_CSV_HEADER_AUTO, GC_F32, &t, &err3));
    assert_int_equal(err3.code, GC_ERR_IO);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reader_dialect),
        cmocka_unit_test(test_reader_errors),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_columns_by_name_and_range),
        cmocka_unit_test(test_header_modes),
        cmocka_unit_test(test_located_errors),
        cmocka_unit_test(test_column_list_errors),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
