/*
 * test_check_limits.c: checking a model takes about linear time in its size, and the limits that
 * keep a small file from asking for a huge model answer fast with a located error (issue 17: a
 * 100-byte loop used to hang `gradc check`). docs/language.md, "Limits", promises any model under
 * 1 MB an answer in under a second; the worst cases below (the heaviest layers looped up to the
 * graph's bound, def calls up to the unroll bound, 40,000 distinct names) take 0.5-0.8 s of CPU
 * in a release build. The bound here is CPU time, not wall time (the suite runs under load), and
 * generous (sanitizer builds are slower): a regression to quadratic time still fails it.
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
#include "runtime/trainer.h"

enum { CPU_BOUND_SECONDS = 6 };

static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* Parses, checks and lowers text as `gradc check` does before compiling; returns 1 when the
 * model is accepted, 0 with err set; fails the test when that took over the bound. */
static int front_end(const char *text, gc_error *err) {
    double start = cpu_now();
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
    double seconds = cpu_now() - start;
    if (seconds > CPU_BOUND_SECONDS) fail_msg("front end took %.1f s of CPU (bound %d s)", seconds, CPU_BOUND_SECONDS);
    return ok;
}

/* The whole of `gradc check`: the trainer, planned only (compiling, planning the memory). */
static int whole_check(const char *text, gc_error *err) {
    double start = cpu_now();
    gc_model *m = gc_model_load_string(text, "limits.gm", err);
    assert_non_null(m);
    gc_options opts = {0};
    opts.backend = GC_BACKEND_INTERP;
    opts.threads = 1;
    gc_trainer *t = gc_trainer_plan(m, &opts, err);
    gc_model_free(m);
    int ok = t != NULL;
    if (t) {
        gc_memory_report mem;
        gc_trainer_memory(t, true, &mem);
    }
    gc_trainer_free(t);
    double seconds = cpu_now() - start;
    if (seconds > CPU_BOUND_SECONDS) fail_msg("check took %.1f s of CPU (bound %d s)", seconds, CPU_BOUND_SECONDS);
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
    expect_error(whole_check(s, &err), &err, "too large (the limit is 300000)");
    free(s);
    /* Nested loops multiply: refused before anything is unrolled. */
    memset(&err, 0, sizeof err);
    expect_error(whole_check("input x: f32[2]\nh = x\nfor i in range(1000) {\n for j in range(100000) {\n"
                             "  h = relu(h)\n }\n}\nloss = mean(h)\n",
                             &err),
                 &err, "unrolls to more than 300000");
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
    /* The model, a loop making a layer N times (2000 took 23 s before), as large as the
     * graph's bound allows (about 100 nodes of training step a layer). */
    char *s = loop_model("linear(h, 8)", 1150);
    if (!whole_check(s, &err)) fail_msg("%s", err.message);
    free(s);
    /* The largest loop the unroll limit lets through, through the front end. */
    s = loop_model("h", 299990);
    if (!front_end(s, &err)) fail_msg("%s", err.message);
    free(s);
    /* A 1 MB file of 40,000 distinct names (lowering looked each up in a list: 8 s). */
    size_t lines = 40000;
    s = malloc(lines * 40 + 128);
    assert_non_null(s);
    char *p = s + sprintf(s, "input x: f32[4, 8]\nh0 = linear(x, 8)\n");
    for (size_t i = 1; i <= lines; i++) p += sprintf(p, "h%zu = relu(h%zu) + x\n", i, i - 1);
    sprintf(p, "loss = mean(h%zu)\n", lines);
    memset(&err, 0, sizeof err);
    expect_error(whole_check(s, &err), &err, "too large: more than 120000 graph nodes");
    free(s);
    /* Def calls up to the unroll bound, 7 statements an iteration (each call is a scope: 300,000 calls took 6 s). */
    memset(&err, 0, sizeof err);
    if (!whole_check("input x: f32[4, 8]\ndef f(a) {\n b = a\n return b\n}\nh = linear(x, 8)\n"
                     "for i in range(42000) {\n h = f(f(h))\n}\nloss = mean(h)\n",
                     &err))
        fail_msg("%s", err.message);
}

/* The heaviest layers and ops looped up to the graph's bound: accepted just under it, refused
 * just over it with the line whose nodes crossed it, both in well under the bound. */
static void test_heavy_loops_stop_at_the_node_limit(void **state) {
    (void)state;
    static const struct {
        const char *input, *body;
        long under, over;
    } cases[] = {
        {"f32[4, 8]", "gelu(h)", 6900, 7300},                               /* 17 nodes of step each */
        {"f32[4, 8]", "dropout(h, 0.1)", 16800, 17600},                     /* CSE was quadratic on these */
        {"f32[2, 4, 8]", "h + causal_self_attention(layernorm(h), 2)", 300, 320},
        {"f32[2, 4, 8]", "transformer_decoder_layer(h, h, 2, 16)", 98, 104},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        for (int over = 0; over < 2; over++) {
            char text[512];
            snprintf(text, sizeof text, "input x: %s\nh = linear(x, 8)\nfor i in range(%ld) {\n    h = %s\n}\nloss = mean(h)\n",
                     cases[k].input, over ? cases[k].over : cases[k].under, cases[k].body);
            gc_error err = {0};
            int ok = whole_check(text, &err);
            if (!over && !ok) fail_msg("%s: %s", cases[k].body, err.message);
            if (over) {
                expect_error(ok, &err, "too large: more than 120000 graph nodes");
                assert_int_equal(err.line, 4);
            }
        }
    }
    /* A plain op chain stops at the forward graph's bound, at the loop's statement. */
    gc_error err = {0};
    char *s = loop_model("relu(h)", 200000);
    expect_error(whole_check(s, &err), &err, "lowers to more than 120000 graph nodes");
    assert_int_equal(err.line, 4);
    free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_huge_ranges_are_refused),
        cmocka_unit_test(test_big_consts_are_refused),
        cmocka_unit_test(test_deep_nesting_and_long_chains_are_refused),
        cmocka_unit_test(test_long_models_check_in_linear_time),
        cmocka_unit_test(test_heavy_loops_stop_at_the_node_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
