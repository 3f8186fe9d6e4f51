/*
 * test_column_sum_split.c: a column sum (a bias or layernorm gradient, a reduction over every dim
 * but the innermost) is never split over the pool (codegen/emit_reduce.c): split into strips of
 * columns it ran 2-5x slower on two threads than whole on one, at M2's sizes ([1024, 256..1024])
 * and at 32 MiB alike (docs/optimisation.md, "Column sums"). Whole, each column adds its rows in
 * order, so 1, 2 and 3 threads give the same bits, the double sum rounded.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "codegen/codegen.h"
#include "ir/build.h"
#include "runtime/jit.h"

/* y = sum of x: f32[rows, cols] over its rows, y: f32[cols]. */
static gc_graph *column_sum(int64_t rows, int64_t cols) {
    gc_error err = {0};
    gc_graph *g = gc_graph_new("colsum");
    gc_builder b = {g, {"colsum.ir", 1, 1}, &err};
    int64_t dims[2] = {rows, cols};
    gc_type t = gc_type_make(GC_F32, 2, dims);
    gc_node *x = gc_graph_make(g, GC_OP_INPUT, NULL, 0, NULL, &t, "x", b.loc, &err);
    gc_node *y = x ? gc_reduce(&b, GC_OP_SUM, x, 1u, false) : NULL;
    if (!y || !gc_graph_add_output(g, GC_OUTPUT_VALUE, "y", y, &err)) fail_msg("graph: %s", err.message);
    return g;
}

static bool is_split(int64_t rows, int64_t cols) {
    gc_error err = {0};
    gc_graph *g = column_sum(rows, cols);
    char *ir = gc_codegen_llvm_ir(g, &err);
    if (!ir) fail_msg("gc_codegen_llvm_ir: %s", err.message);
    bool split = strstr(ir, "gc-parallel") != NULL;
    free(ir);
    gc_graph_free(g);
    return split;
}

static void column_sums_run_whole(void **state) {
    (void)state;
    /* M2's bias and layernorm gradients (1, 3 and 4 MiB), and 32 MiB. */
    if (is_split(1024, 256)) fail_msg("a [1024, 256] column sum is split");
    if (is_split(1024, 768)) fail_msg("a [1024, 768] column sum is split");
    if (is_split(1024, 1024)) fail_msg("a [1024, 1024] column sum is split");
    if (is_split(8192, 1024)) fail_msg("a [8192, 1024] column sum is split");
}

/* A row sum of the same size does split (by rows), so is_split can tell. */
static void row_sums_split(void **state) {
    (void)state;
    gc_error err = {0};
    gc_graph *g = gc_graph_new("rowsum");
    gc_builder b = {g, {"rowsum.ir", 1, 1}, &err};
    int64_t dims[2] = {1024, 256};
    gc_type t = gc_type_make(GC_F32, 2, dims);
    gc_node *x = gc_graph_make(g, GC_OP_INPUT, NULL, 0, NULL, &t, "x", b.loc, &err);
    gc_node *y = x ? gc_reduce(&b, GC_OP_SUM, x, 2u, false) : NULL;
    if (!y || !gc_graph_add_output(g, GC_OUTPUT_VALUE, "y", y, &err)) fail_msg("graph: %s", err.message);
    char *ir = gc_codegen_llvm_ir(g, &err);
    if (!ir) fail_msg("gc_codegen_llvm_ir: %s", err.message);
    if (!strstr(ir, "gc-parallel")) fail_msg("a [1024, 256] row sum is not split");
    free(ir);
    gc_graph_free(g);
}

enum { ROWS = 4096, COLS = 1040 }; /* 16.25 MiB; 1040 columns: a chunk of 1024 accumulators and a short one */

static void run(int threads, const float *xs, float *ys) {
    gc_error err = {0};
    gc_graph *g = column_sum(ROWS, COLS);
    gc_jit_options o = {.threads = threads};
    gc_jit *j = gc_jit_new_opts(g, &o, &err);
    if (!j) fail_msg("gc_jit_new: %s", err.message);
    gc_tensor in = {GC_F32, 2, {ROWS, COLS}, (void *)xs};
    assert_true(gc_jit_set(j, "x", &in, &err));
    if (!gc_jit_run(j, &err)) fail_msg("gc_jit_run: %s", err.message);
    const float *y = gc_jit_output(j, GC_OUTPUT_VALUE, "y");
    assert_non_null(y);
    memcpy(ys, y, COLS * sizeof *ys);
    gc_jit_free(j);
    gc_graph_free(g);
}

/* Every column summed in row order: the same bits on 1, 2 and 3 threads, each the double sum of
 * its column rounded. */
static void bits_do_not_depend_on_threads(void **state) {
    (void)state;
    float *xs = malloc((size_t)ROWS * COLS * sizeof *xs), one[COLS], two[COLS], three[COLS];
    assert_non_null(xs);
    uint64_t r = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < (size_t)ROWS * COLS; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        xs[i] = (float)((double)(r >> 40) / (double)(1u << 24) - 0.5) * (float)(1 + i % 7);
    }
    run(1, xs, one);
    run(2, xs, two);
    run(3, xs, three);
    for (int c = 0; c < COLS; c++) {
        double want = 0;
        for (int i = 0; i < ROWS; i++) want += xs[(size_t)i * COLS + c];
        if (one[c] != (float)want) fail_msg("column %d: %.9g, the double sum is %.9g", c, one[c], want);
        if (memcmp(&one[c], &two[c], sizeof(float)) || memcmp(&one[c], &three[c], sizeof(float)))
            fail_msg("column %d: 1, 2 and 3 threads give %.9g, %.9g, %.9g", c, one[c], two[c], three[c]);
    }
    free(xs);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(column_sums_run_whole),
        cmocka_unit_test(row_sums_split),
        cmocka_unit_test(bits_do_not_depend_on_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
