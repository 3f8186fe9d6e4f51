/*
 * test_names.c: parameter names of the model language (docs/language.md, "Names of parameters"):
 * number segments in `as` paths as nn.Sequential names its children, prefixes composing through
 * defs, and weight tying (a bias-free linear under an embedding's name uses the embedding's table),
 * with the located error for every misuse.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "frontend/check.h"
#include "frontend/lower.h"
#include "frontend/parser.h"

static int lower_with(const char *src, gc_lowered_model *out, gc_error *err) {
    memset(err, 0, sizeof *err);
    memset(out, 0, sizeof *out);
    gc_arena *arena = gc_arena_new();
    assert_non_null(arena);
    gc_ast_module *m = gc_frontend_parse(src, strlen(src), "model.gm", arena, err);
    int ok = m && gc_frontend_check(m, NULL, 0, err) && gc_lower_model(m, true, out, err);
    gc_arena_free(arena);
    return ok;
}

static gc_lowered_model lower_ok(const char *src) {
    gc_lowered_model lm;
    gc_error err;
    if (!lower_with(src, &lm, &err)) fail_msg("lowering failed: %d:%d: %s", err.line, err.col, err.message);
    return lm;
}

/* The model must fail at line:col with a message holding every one of the NULL-ended strings. */
static void expect_error(const char *src, int line, int col, ...) {
    gc_lowered_model lm;
    gc_error err;
    if (lower_with(src, &lm, &err)) {
        gc_lowered_model_free(&lm);
        fail_msg("expected an error at %d:%d, but the model lowered", line, col);
    }
    assert_int_equal(err.code, GC_ERR_USER);
    if (err.line != line || err.col != col)
        fail_msg("error at %d:%d, expected %d:%d: %s", err.line, err.col, line, col, err.message);
    va_list ap;
    va_start(ap, col);
    for (const char *want; (want = va_arg(ap, const char *));)
        if (!strstr(err.message, want)) fail_msg("message '%s' lacks '%s'", err.message, want);
    va_end(ap);
}

static const gc_param_entry *param(const gc_lowered_model *lm, const char *name) {
    const gc_param_entry *p = gc_layer_find_param(&lm->layers, name);
    if (!p) {
        char all[4096] = "";
        for (int i = 0; i < lm->layers.num_params; i++) {
            strncat(all, lm->layers.params[i].name, sizeof all - strlen(all) - 3);
            strncat(all, " ", sizeof all - strlen(all) - 1);
        }
        fail_msg("no param '%s'; the params are: %s", name, all);
    }
    return p;
}

static void expect_type(const gc_type *t, const char *want) {
    char buf[96];
    gc_type_format(t, buf, sizeof buf);
    assert_string_equal(buf, want);
}

/* ---- number segments ------------------------------------------------------------------------- */

static void test_number_segments(void **state) {
    (void)state;
    gc_lowered_model lm = lower_ok("input x: f32[2, 3]\n"
                                   "a = linear(x, 16) as 0\n"
                                   "b = linear(a, 8) as features.3\n"
                                   "for i in range(2) {\n"
                                   "    b = linear(b, 8) as features[i + 4]\n"
                                   "}\n"
                                   "c = layernorm(b) as layer1.0.conv1\n"
                                   "d = linear(c, 4) as features.1.conv.0.0\n"
                                   "loss = mean(d)\n");
    expect_type(&param(&lm, "0.weight")->node->type, "f32[16, 3]");
    param(&lm, "0.bias");
    expect_type(&param(&lm, "features.3.weight")->node->type, "f32[8, 16]");
    param(&lm, "features.4.weight");
    param(&lm, "features.5.bias");
    param(&lm, "layer1.0.conv1.weight");
    expect_type(&param(&lm, "features.1.conv.0.0.weight")->node->type, "f32[4, 8]");
    assert_int_equal(lm.layers.num_params, 12);
    gc_lowered_model_free(&lm);
}

/* A def instance's name prefixes the names inside it, numbers included, at any depth. */
static void test_number_segments_compose_through_defs(void **state) {
    (void)state;
    gc_lowered_model lm = lower_ok("input x: f32[2, 4]\n"
                                   "def inner(x) {\n"
                                   "    return linear(x, 4) as 0\n"
                                   "}\n"
                                   "def block(x) {\n"
                                   "    h = linear(x, 4) as conv1\n"
                                   "    return inner(h) as downsample.1\n"
                                   "}\n"
                                   "y = block(x) as layer1.0\n"
                                   "for i in range(2) {\n"
                                   "    y = block(y) as layer2[i]\n"
                                   "}\n"
                                   "loss = mean(y)\n");
    param(&lm, "layer1.0.conv1.weight");
    param(&lm, "layer1.0.downsample.1.0.weight");
    param(&lm, "layer2.0.conv1.bias");
    param(&lm, "layer2.1.downsample.1.0.bias");
    assert_int_equal(lm.layers.num_params, 12);
    gc_lowered_model_free(&lm);
}

/* `as h.3` and `as h[3]` are one name, so the second call reuses the first's parameters. */
static void test_number_segment_equals_index(void **state) {
    (void)state;
    gc_lowered_model lm = lower_ok("input x: f32[2, 4]\n"
                                   "a = linear(x, 4) as h.3\n"
                                   "b = linear(a, 4) as h[3]\n"
                                   "loss = mean(b)\n");
    assert_int_equal(lm.layers.num_params, 2);
    gc_lowered_model_free(&lm);
}

static void test_path_errors(void **state) {
    (void)state;
    expect_error("input x: f32[2, 3]\ny = linear(x, 4) as 1.5e3\nloss = mean(y)\n", 2, 23, "'5e3'",
                 "not a segment", NULL);
    expect_error("input x: f32[2, 3]\ny = linear(x, 4) as -1\nloss = mean(y)\n", 2, 21, "negative", NULL);
    expect_error("input x: f32[2, 3]\ny = linear(x, 4) as h..1\nloss = mean(y)\n", 2, 23, "after '.'", NULL);
    expect_error("input x: f32[2, 3]\ny = linear(x, 4) as h[-1]\nloss = mean(y)\n", 2, 23, "index", "-1", NULL);
    expect_error("input x: f32[2, 3]\ny = linear(x, 4) as h[1.5]\nloss = mean(y)\n", 2, 23, "index", "1.5", NULL);
    expect_error("input x: f32[2, 3]\ny = linear(x, 4) as h.007\nloss = mean(y)\n", 2, 23, "leading zero", NULL);
    expect_error("input x: f32[2, 3]\ny = relu(x) as 0\nloss = mean(y)\n", 2, 16, "'relu' creates no parameters",
                 NULL);
    /* A number segment is a name like any other: kind and shape clashes stay errors. */
    expect_error("input x: f32[2, 3]\na = linear(x, 4) as 0\nb = layernorm(x) as 0\nloss = mean(a) + mean(b)\n", 3,
                 5, "'0.weight'", "layernorm", "linear", "line 2, col 5", NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_number_segments),
        cmocka_unit_test(test_number_segments_compose_through_defs),
        cmocka_unit_test(test_number_segment_equals_index),
        cmocka_unit_test(test_path_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
