/*
 * test_aot.c: the ahead-of-time executor (runtime/executor_aot.c) and object symbol renaming
 * (codegen/object_prefix.c), in process: the step functions of a JIT-compiled graph registered
 * as an AOT program must give the interpreter's outputs and updates (a swap of two states
 * included) through the executor interface, a graph the program was not compiled from is
 * refused, and an emitted object's entry points carry the requested prefix.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "codegen/codegen.h"
#include "codegen/object_prefix.h"
#include "ir/text.h"
#include "runtime/aot.h"
#include "runtime/file.h"

static const char *graph_text =
    "graph @aot {\n"
    "  %x = input \"x\" : f32[4, 3]\n"
    "  %w = param \"w\" : f32[2, 3]\n"
    "  %a = state \"a\" : f32[2]\n"
    "  %b = state \"b\" : f32[2]\n"
    "  %y = matmul(%x, %w) {transpose_a=false, transpose_b=true} : f32[4, 2]\n"
    "  %t = tanh(%y) : f32[4, 2]\n"
    "  %total = sum(%t) {axes=[0, 1], keepdims=false} : f32[]\n"
    "  %rate = constant {value=0.5} : f32[]\n"
    "  %step = mul(%w, %rate) : f32[2, 3]\n"
    "  %w2 = sub(%w, %step) : f32[2, 3]\n"
    "  %pos = iota {axis=0} : f32[2]\n"
    "  %a2 = add(%b, %pos) : f32[2]\n"
    "  output \"loss\" = %total\n"
    "  output \"t\" = %t\n"
    "  update \"w\" = %w2\n"
    "  update \"a\" = %a2\n"
    "  update \"b\" = %a\n"
    "}\n";

static gc_graph *parse(void) {
    gc_error err = {0};
    gc_graph *g = gc_graph_parse(graph_text, strlen(graph_text), "aot.ir", &err);
    if (!g) fail_msg("%s", err.message);
    return g;
}

/* Fills the sources of an executor with fixed values. */
static void fill(const gc_executor_ops *ops, void *exec) {
    float *x = ops->source(exec, "x"), *w = ops->source(exec, "w"), *a = ops->source(exec, "a"),
          *b = ops->source(exec, "b");
    assert_non_null(x);
    assert_non_null(w);
    for (int i = 0; i < 12; i++) x[i] = (float)((i * 7) % 5) / 5.0f - 0.3f;
    for (int i = 0; i < 6; i++) w[i] = (float)i / 6.0f - 0.4f;
    a[0] = 1.5f, a[1] = -2.0f;
    b[0] = 0.25f, b[1] = 4.0f;
}

static void assert_close(const float *got, const float *want, int n) {
    for (int i = 0; i < n; i++)
        if (!(fabsf(got[i] - want[i]) <= 1e-6f + 1e-5f * fabsf(want[i])))
            fail_msg("element %d: %.9g, expected %.9g", i, got[i], want[i]);
}

static void aot_matches_the_interpreter(void **state) {
    (void)state;
    gc_error err = {0};
    gc_graph *g = parse();
    gc_layout layout;
    assert_true(gc_layout_plan(g, &layout, &err));
    gc_codegen_jit *code = gc_codegen_jit_compile(g, &layout, NULL, &err);
    assert_non_null(code);
    gc_step_fn entries[3];
    assert_true(gc_codegen_jit_entries(code, entries, &err));
    char *text = gc_graph_print(g);
    gc_aot_program program = {"aot", gc_aot_hash(text), g->num_nodes, layout.offsets, layout.size,
                              entries[0], entries[1], entries[2], NULL};
    free(text);
    gc_aot_register(&program, 1);

    const gc_executor_ops *aot = &gc_executor_aot, *ref = &gc_executor_interp;
    gc_executor_config one = {.threads = 1};
    void *e = aot->create(g, &one, &err), *r = ref->create(g, &one, &err);
    assert_non_null(e);
    assert_non_null(r);
    assert_null(aot->output(e, GC_OUTPUT_VALUE, "loss")); /* nothing before a run */
    assert_false(aot->apply(e, &err));
    fill(aot, e);
    fill(ref, r);
    for (int step = 0; step < 3; step++) {
        assert_true(aot->run(e, &err));
        assert_true(ref->run(r, &err));
        assert_close(aot->output(e, GC_OUTPUT_VALUE, "loss"), ref->output(r, GC_OUTPUT_VALUE, "loss"), 1);
        assert_close(aot->output(e, GC_OUTPUT_VALUE, "t"), ref->output(r, GC_OUTPUT_VALUE, "t"), 8);
        assert_null(aot->output(e, GC_OUTPUT_VALUE, "nope"));
        assert_true(aot->apply(e, &err));
        assert_true(ref->apply(r, &err));
        static const char *const names[] = {"w", "a", "b"};
        for (int k = 0; k < 3; k++) assert_close(aot->source(e, names[k]), ref->source(r, names[k]), k ? 2 : 6);
    }
    /* The swap: after three steps b holds a's previous value, which the interpreter agrees with
     * above; spot-check one absolute value so a wrong shared answer cannot pass. */
    const float *w = aot->source(e, "w");
    assert_float_equal(w[0], -0.4f * 0.125f, 1e-7);
    assert_null(aot->source(e, "missing"));
    aot->destroy(e);
    ref->destroy(r);
    gc_codegen_jit_free(code);
    gc_layout_free(&layout);
    gc_graph_free(g);
}

static void init(char *arena, void *pool) {
    (void)arena;
    (void)pool;
}

static void another_graph_is_refused(void **state) {
    (void)state;
    gc_error err = {0};
    gc_graph *g = parse();
    int64_t offsets[32] = {0};
    gc_aot_program program = {"train", 12345, g->num_nodes, offsets, 64, init, init, init, NULL};
    gc_aot_register(&program, 1);
    assert_null(gc_executor_aot.create(g, &(gc_executor_config){.threads = 1}, &err));
    assert_int_equal(err.code, GC_ERR_INTERNAL);
    assert_non_null(strstr(err.message, "not one this trainer was compiled from"));
    gc_aot_register(NULL, 0);
    gc_graph_free(g);
}

static int contains(const char *buf, size_t len, const char *s) {
    size_t n = strlen(s);
    for (size_t i = 0; i + n <= len; i++)
        if (!memcmp(buf + i, s, n) && (i + n == len || buf[i + n] == '\0')) return 1;
    return 0;
}

static void object_entry_points_are_renamed(void **state) {
    (void)state;
    gc_error err = {0};
    gc_graph *g = parse();
    char path[] = "/tmp/gc_test_aot_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_true(gc_codegen_emit_object_prefixed(g, path, "mine_", &err));
    size_t len = 0;
    char *obj = gc_file_read(path, (size_t)1 << 28, &len, &err);
    assert_non_null(obj);
    assert_true(contains(obj, len, "mine_step"));
    assert_true(contains(obj, len, "mine_init"));
    free(obj);
    /* Renaming again renames nothing (no gc_ symbol is left) and keeps the file an object. */
    assert_true(gc_object_rename_globals(path, "other_", &err));
    obj = gc_file_read(path, (size_t)1 << 28, &len, &err);
    assert_non_null(obj);
    assert_false(contains(obj, len, "other_step"));
    free(obj);
    assert_false(gc_codegen_emit_object_prefixed(g, path, "1bad", &err));
    assert_int_equal(err.code, GC_ERR_USER);
    FILE *f = fopen(path, "w");
    fputs("not an object", f);
    fclose(f);
    assert_false(gc_object_rename_globals(path, "x_", &err));
    assert_non_null(strstr(err.message, "not ELF64"));
    remove(path);
    gc_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(aot_matches_the_interpreter),
        cmocka_unit_test(another_graph_is_refused),
        cmocka_unit_test(object_entry_points_are_renamed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
