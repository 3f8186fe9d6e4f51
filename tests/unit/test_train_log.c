/*
 * test_train_log.c: the training log (runtime/train_log.c): a new run rewrites it; a resumed run
 * keeps the rows up to its step, drops later rows and a row cut short, and appends; a log with
 * other columns is refused and left byte for byte as it was.
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

#include "runtime/train_log.h"

static char dir[256], path[512];

static int make_dir(void **state) {
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/gc_log_XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(dir)) return -1;
    snprintf(path, sizeof path, "%s/log.csv", dir);
    return 0;
}

static int remove_dir(void **state) {
    (void)state;
    unlink(path);
    return rmdir(dir);
}

static void write_file(const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static char *read_back(void) {
    static char text[4096];
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    fclose(f);
    return text;
}

/* A run of `steps` rows from step start+1, as a driver writes them. */
static bool run(bool resumed, int64_t start, int steps, const char *header, gc_error *err) {
    gc_train_log log;
    if (!gc_train_log_open(&log, path, resumed, start, err)) return false;
    if (!gc_train_log_begin(&log, header, err)) {
        gc_train_log_close(&log, NULL);
        return false;
    }
    for (int k = 0; k < steps; k++) fprintf(log.file, "%lld,%d.5\n", (long long)(start + k + 1), k);
    return gc_train_log_close(&log, err);
}

static void test_a_new_run_rewrites(void **state) {
    (void)state;
    gc_error err = {0};
    write_file("old,columns\n1,2\n");
    assert_true(run(false, 0, 2, "step,loss", &err));
    assert_string_equal(read_back(), "step,loss\n1,0.5\n2,1.5\n");
    /* Resumed, but no log yet: a new one. */
    unlink(path);
    assert_true(run(true, 5, 1, "step,loss", &err));
    assert_string_equal(read_back(), "step,loss\n6,0.5\n");
}

static void test_a_resumed_run_continues(void **state) {
    (void)state;
    gc_error err = {0};
    /* Steps 3 and 4 came after the checkpoint of step 2; "5,0" was cut short by a crash. */
    write_file("step,loss\n1,a\n2,b\n3,c\n4,d\n5,0");
    assert_true(run(true, 2, 2, "step,loss", &err));
    assert_string_equal(read_back(), "step,loss\n1,a\n2,b\n3,0.5\n4,1.5\n");
    /* A continued log with CRLF line ends and nothing after the checkpoint. */
    write_file("step,loss\r\n1,a\r\n");
    assert_true(run(true, 1, 1, "step,loss", &err));
    assert_string_equal(read_back(), "step,loss\r\n1,a\r\n2,0.5\n");
    /* Only part of a header: nothing to continue. */
    write_file("ste");
    assert_true(run(true, 4, 1, "step,loss", &err));
    assert_string_equal(read_back(), "step,loss\n5,0.5\n");
}

static void test_other_columns_are_refused_untouched(void **state) {
    (void)state;
    gc_error err = {0};
    const char *before = "step,loss,lr\n1,a,x\n2,b,y\n3,c,z\n";
    write_file(before);
    assert_false(run(true, 1, 1, "step,loss,lr,eval_loss", &err));
    assert_int_equal(err.code, GC_ERR_USER);
    assert_non_null(strstr(err.message, "has the columns step,loss,lr,"));
    assert_non_null(strstr(err.message, "step,loss,lr,eval_loss"));
    assert_string_equal(read_back(), before);
}

static void test_an_unwritable_log_fails(void **state) {
    (void)state;
    gc_error err = {0};
    char missing[600];
    snprintf(missing, sizeof missing, "%s/no/such/dir/log.csv", dir);
    gc_train_log log;
    assert_false(gc_train_log_open(&log, missing, false, 0, &err));
    assert_int_equal(err.code, GC_ERR_IO);
    assert_non_null(strstr(err.message, "no/such/dir/log.csv"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_new_run_rewrites),
        cmocka_unit_test(test_a_resumed_run_continues),
        cmocka_unit_test(test_other_columns_are_refused_untouched),
        cmocka_unit_test(test_an_unwritable_log_fails),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
