/*
 * test_check_limits.c: checking a model takes about linear time in its size, and the limits that
 * keep a small file from asking for a huge model answer fast with a located error (issue 17: a
 * 100-byte loop used to hang `gradc check`). Bounds are generous (10 s on a loaded machine)
 * against a few seconds of work, so a regression to quadratic time fails while noise does not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <gradc/gradc.h>

#include "frontend/check.h"
#include "frontend/lower.h"
#include "frontend/parser.h"
#include "ir/arena.h"

enum { TIME_BOUND_SECONDS = 10 };

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* Parses, checks and lowers text as `gradc check` does before compiling; returns 1 when the
 * model is accepted, 0 with err set; fails the test when that took over the bound. */
static int front_end(const char *text, gc_error *err) {
    double start = now();
    gc_arena *arena = gc_arena_new();
    assert_non_null(arena);
    int ok = 0;
    gc_ast_module *m = gc_frontend_parse(text, strlen(text), "limits.gm", arena, err);
    if (m && gc_frontend_check(m, NULL, 0, err)) {
        gc_lowered_model lowered;
        if (gc_lower_model(m, true, &lowered, err)) {
            ok = 1;
            gc_lowered_model_free(&lowered);
        }
    }
    gc_arena_free(arena);
    double seconds = now() - start;
    if (seconds > TIME_BOUND_SECONDS) fail_msg("front end took %.1f s (bound %d s)", seconds, TIME_BOUND_SECONDS);
    return ok;
}

/* The whole of `gradc check`: the trainer on the interpreter (compiling, planning, initialising). */
static int whole_check(const char *text, gc_error *err) {
    double start = now();
    gc_model *m = gc_model_load_string(text, "limits.gm", err);
    assert_non_null(m);
    gc_options opts = {0};
    opts.backend = GC_BACKEND_INTERP;
    opts.threads = 1;
    gc_trainer *t = gc_trainer_new(m, &opts, err);
    gc_model_free(m);
    int ok = t != NULL;
    gc_trainer_free(t);
    double seconds = now() - start;
    if (seconds > TIME_BOUND_SECONDS) fail_msg("check took %.1f s (bound %d s)", seconds, TIME_BOUND_SECONDS);
    return ok;
}

static char *loop_model(const char *body, long count) {
    char *s = malloc(512);
    assert_non_null(s);
    snprintf(s, 512, "input x: f32[4, 8]\nh = x\nfor i in range(%ld) {\n    h = %s\n}\nloss = mean(h)\n", count, body);
    return s;
}

static void expect_error(int ok, const gc_error *err, const char *needle) {
    assert_false(ok);
    if (!strstr(err->message, needle)) fail_msg("expected '%s' in: %s", needle, err->message);
}

static void test_huge_ranges_are_refused(void **state) {
    (void)state;
    gc_error err = {0};
    char *s = loop_model("linear(h, 8)", 1000000000L);
    expect_error(whole_check(s, &err), &err, "too large (the limit is 1000000)");
    free(s);
    /* Nested loops multiply: refused before anything is unrolled. */
    memset(&err, 0, sizeof err);
    expect_error(whole_check("input x: f32[2]\nh = x\nfor i in range(1000) {\n for j in range(100000) {\n"
                             "  h = relu(h)\n }\n}\nloss = mean(h)\n",
                             &err),
                 &err, "unrolls to more than 1000000");
}

static void test_big_consts_are_refused(void **state) {
    (void)state;
    gc_error err = {0};
    expect_error(whole_check("const n = 1e300\ninput x: f32[4, n]\nloss = mean(x)\n", &err), &err,
                 "positive integer");
    memset(&err, 0, sizeof err);
    expect_error(whole_check("const n = 1e300\ninput x: f32[2]\nh = x\nfor i in range(n) {\n h = relu(h)\n}\n"
                             "loss = mean(h)\n",
                             &err),
                 &err, "loop count");
    memset(&err, 0, sizeof err);
    expect_error(whole_check("input x: f32[100000, 100000, 100000]\nloss = mean(x)\n", &err), &err, "too many elements");
}

static void test_deep_nesting_and_long_chains_are_refused(void **state) {
    (void)state;
    gc_error err = {0};
    size_t n = 100000;
    char *s = malloc(3 * n + 128);
    assert_non_null(s);
    char *p = s + sprintf(s, "input x: f32[4, 8]\nh = ");
    for (size_t i = 0; i < n; i++) *p++ = '(';
    *p++ = 'x';
    for (size_t i = 0; i < n; i++) *p++ = ')';
    strcpy(p, "\nloss = mean(h)\n");
    expect_error(whole_check(s, &err), &err, "nest");
    free(s);
    /* A 400 kB operator chain. */
    s = malloc(4 * n + 128);
    assert_non_null(s);
    p = s + sprintf(s, "input x: f32[4, 8]\nh = x");
    for (size_t i = 0; i < n; i++) p += sprintf(p, " + x");
    strcpy(p, "\nloss = mean(h)\n");
    memset(&err, 0, sizeof err);
    expect_error(whole_check(s, &err), &err, "too deeply nested or too long");
    free(s);
}

static void test_long_models_check_in_linear_time(void **state) {
    (void)state;
    gc_error err = {0};
    /* The model: a loop making a layer N times (2000 took 23 s before). */
    char *s = loop_model("linear(h, 8)", 2000);
    if (!whole_check(s, &err)) fail_msg("%s", err.message);
    free(s);
    /* The largest loop the unroll limit lets through, through the front end. */
    s = loop_model("relu(h)", 30000);
    if (!front_end(s, &err)) fail_msg("%s", err.message);
    free(s);
    /* A long file of distinct statements (about 600 kB). */
    size_t lines = 20000;
    s = malloc(lines * 40 + 128);
    assert_non_null(s);
    char *p = s + sprintf(s, "input x: f32[4, 8]\nh0 = x\n");
    for (size_t i = 1; i <= lines; i++) p += sprintf(p, "h%zu = relu(h%zu) + x\n", i, i - 1);
    sprintf(p, "loss = mean(h%zu)\n", lines);
    if (!front_end(s, &err)) fail_msg("%s", err.message);
    free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_huge_ranges_are_refused),
        cmocka_unit_test(test_big_consts_are_refused),
        cmocka_unit_test(test_deep_nesting_and_long_chains_are_refused),
        cmocka_unit_test(test_long_models_check_in_linear_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
