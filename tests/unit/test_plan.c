/*
 * test_plan.c: the arena planner (passes/plan.c with reuse) — values alive at the same time
 * never share bytes, a kernel's result never shares with its operands, kept values sit in the
 * kept region, reuse shrinks the arena, planned code agrees with the interpreter step after
 * step, a JIT training step calls no allocator, and the trainer reports the planned figures.
 */
#define _GNU_SOURCE
#include <link.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "codegen/codegen.h"
#include "gradc/gradc.h"
#include "ir/build.h"
#include "passes/fuse.h"
#include "runtime/interp.h"
#include "runtime/jit.h"
#include "runtime/trainer.h"

/* Counting allocations: glibc's own entry points behind ours. AddressSanitizer brings its own
 * allocator, so under it the count is not taken. OpenBLAS is not ours: it allocates its own
 * buffers inside sgemm, so calls from its code are not counted. */
#if defined(__SANITIZE_ADDRESS__)
#define COUNTING 0
#else
#define COUNTING 1
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *p, size_t size);
static volatile int counting;
static volatile long allocations;
static uintptr_t blas_lo, blas_hi;

static void count(void *caller) {
    uintptr_t at = (uintptr_t)caller;
    if (counting && !(at >= blas_lo && at < blas_hi)) allocations++;
}
void *malloc(size_t size) {
    count(__builtin_return_address(0));
    return __libc_malloc(size);
}
void *calloc(size_t n, size_t size) {
    count(__builtin_return_address(0));
    return __libc_calloc(n, size);
}
void *realloc(void *p, size_t size) {
    count(__builtin_return_address(0));
    return __libc_realloc(p, size);
}

/* The address range of OpenBLAS's loaded segments. */
static int find_blas(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    (void)data;
    if (!info->dlpi_name || !strstr(info->dlpi_name, "openblas")) return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD) continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (!blas_lo || lo < blas_lo) blas_lo = lo;
        if (hi > blas_hi) blas_hi = hi;
    }
    return 0;
}
#endif

static gc_type ty(gc_dtype dtype, int rank, int64_t d0, int64_t d1) {
    int64_t dims[2] = {d0, d1};
    return gc_type_make(dtype, rank, dims);
}

static gc_node *named(gc_builder *b, gc_op op, const char *name, gc_type t) {
    return gc_graph_make(b->graph, op, NULL, 0, NULL, &t, name, b->loc, b->err);
}

/* Layers with residuals, layer-norm-like statistics and a reshape (an alias) in each. */
static gc_graph *make_layers(int layers) {
    static gc_error err;
    gc_graph *g = gc_graph_new("layers");
    gc_builder b = {g, {"layers.ir", 1, 1}, &err};
    gc_node *h = named(&b, GC_OP_INPUT, "x", ty(GC_F32, 2, 16, 32));
    for (int l = 0; l < layers; l++) {
        char name[16];
        snprintf(name, sizeof name, "w%d", l);
        gc_node *w = named(&b, GC_OP_PARAM, name, ty(GC_F32, 2, 32, 32));
        gc_node *z = gc_unary(&b, GC_OP_TANH, gc_matmul(&b, h, w, false, false));
        int64_t flat[1] = {16 * 32}, back[2] = {16, 32};
        gc_node *r = gc_reshape(&b, gc_reshape(&b, z, 1, flat), 2, back);
        gc_node *mean = gc_reduce(&b, GC_OP_MEAN, r, 0x2, true);
        gc_node *c = gc_binary(&b, GC_OP_SUB, r, mean);
        gc_node *var = gc_reduce(&b, GC_OP_MEAN, gc_unary(&b, GC_OP_SQUARE, c), 0x2, true);
        h = gc_binary(&b, GC_OP_ADD, gc_binary(&b, GC_OP_MUL, c, gc_unary(&b, GC_OP_RSQRT, gc_add_scalar(&b, var, 1e-5))), h);
    }
    assert_non_null(h);
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "y", h, &err));
    return g;
}

static int64_t bytes_of(const gc_node *n) { return gc_type_numel(&n->type) * (int64_t)gc_dtype_size(n->type.dtype); }

static bool overlap(const gc_layout *l, const gc_node *a, const gc_node *b) {
    int64_t a0 = l->offsets[a->id], b0 = l->offsets[b->id];
    return a0 < b0 + bytes_of(b) && b0 < a0 + bytes_of(a);
}

/* The invariants, checked against lifetimes computed here from scratch. */
static void check_plan(const gc_graph *g, const int *root, const gc_layout *l) {
    int n = g->num_nodes;
    int *owner = malloc(sizeof *owner * (size_t)n), *first = malloc(sizeof *first * (size_t)n);
    int *last = malloc(sizeof *last * (size_t)n);
    assert_true(owner && first && last);
    for (int i = 0; i < n; i++) {
        owner[i] = l->offsets[i] < 0 ? -1 : l->aliased[i] ? owner[g->nodes[i]->inputs[0]->id] : i;
        first[i] = last[i] = i;
    }
    for (int i = 0; i < n; i++) {
        int at = root && root[i] >= 0 ? root[i] : i;
        for (int k = 0; k < g->nodes[i]->num_inputs; k++) {
            int x = owner[g->nodes[i]->inputs[k]->id];
            if (x >= 0 && at > last[x]) last[x] = at;
        }
    }
    for (int i = 0; i < n; i++) {
        if (owner[i] != i) continue;
        int64_t end = l->offsets[i] + bytes_of(g->nodes[i]);
        assert_true(end <= l->size);
        if (l->kept[i]) assert_true(end <= l->kept_size);
        for (int j = 0; j < i; j++) {
            if (owner[j] != j) continue;
            bool both_kept = l->kept[i] && l->kept[j];
            bool together = both_kept || l->kept[i] || l->kept[j] || (first[i] <= last[j] && first[j] <= last[i]);
            if (together && overlap(l, g->nodes[i], g->nodes[j]))
                fail_msg("%%%d [%d, %d] and %%%d [%d, %d] share bytes", i, first[i], last[i], j, first[j], last[j]);
        }
    }
    free(owner);
    free(first);
    free(last);
}

static void test_reuse_respects_lifetimes(void **state) {
    (void)state;
    gc_error err = {0};
    gc_graph *g = make_layers(6);
    gc_layout plain, planned;
    assert_true(gc_layout_plan(g, &plain, &err));
    assert_true(gc_layout_plan_fused(g, NULL, true, &planned, &err));
    check_plan(g, NULL, &planned);
    print_message("arena: %lld bytes unplanned, %lld planned (%lld kept)\n", (long long)plain.size,
                  (long long)planned.size, (long long)planned.kept_size);
    assert_true(planned.size * 2 < plain.size);
    /* Sources and the output are kept; a mid-graph value is not. */
    const gc_node *y = gc_graph_find_output(g, GC_OUTPUT_VALUE, "y")->value;
    assert_true(planned.kept[y->id]);
    assert_true(planned.kept[gc_graph_find_named(g, GC_OP_PARAM, "w3")->id]);
    assert_false(planned.kept[g->nodes[5]->id]);
    for (int i = 0; i < g->num_nodes; i++) assert_true(plain.kept[i]);
    gc_layout_free(&plain);
    gc_layout_free(&planned);

    /* Fused and planned together. */
    gc_fusion f;
    assert_true(gc_fuse_partition(g, true, &f, &err));
    assert_true(gc_layout_plan_fused(g, f.root, true, &planned, &err));
    check_plan(g, f.root, &planned);
    gc_layout_free(&planned);
    gc_fusion_free(&f);
    gc_graph_free(g);
}

/* Three runs with the inputs changing in between: planned (and fused) code gives the
 * interpreter's outputs every time, so no value is overwritten while still needed. */
static void test_planned_code_matches_interpreter(void **state) {
    (void)state;
    gc_error err = {0};
    gc_graph *g = make_layers(4);
    gc_jit_options opts = {.fuse = true, .reuse = true};
    gc_jit *j = gc_jit_new_opts(g, &opts, &err);
    if (!j) fail_msg("gc_jit_new_opts: %s", err.message);
    gc_interp *it = gc_interp_new(g, GC_INTERP_F32, &err);
    assert_non_null(it);
    for (int run = 0; run < 3; run++) {
        for (int i = 0; i < g->num_nodes; i++) {
            const gc_node *n = g->nodes[i];
            if (!(gc_op_table[n->op].flags & GC_FLAG_NAMED)) continue;
            int64_t count = gc_type_numel(&n->type);
            float *data = malloc(sizeof *data * (size_t)count);
            assert_non_null(data);
            for (int64_t k = 0; k < count; k++) data[k] = (float)((k * 7 + i * 3 + run * 5) % 17 - 8) / 16.0f;
            gc_tensor v = {GC_F32, 2, {n->type.dims[0], n->type.dims[1]}, data};
            assert_true(gc_interp_set(it, n->name, &v, &err));
            assert_true(gc_jit_set(j, n->name, &v, &err));
            free(data);
        }
        assert_true(gc_interp_run(it, &err));
        assert_true(gc_jit_run(j, &err));
        const double *want = gc_interp_output(it, GC_OUTPUT_VALUE, "y");
        const float *got = gc_jit_output(j, GC_OUTPUT_VALUE, "y");
        assert_non_null(got);
        for (int64_t k = 0; k < 16 * 32; k++)
            if (fabs(want[k] - got[k]) > 1e-5 + 1e-4 * fabs(want[k]))
                fail_msg("run %d, y[%lld]: interpreter %.9g, JIT %.9g", run, (long long)k, want[k], got[k]);
    }
    /* A value the step does not keep is not readable. */
    assert_null(gc_jit_value(j, g->nodes[5]));
    gc_interp_free(it);
    gc_jit_free(j);
    gc_graph_free(g);
}

/* A JIT training step (forward, backward, AdamW, applying updates) allocates nothing. */
static void test_training_step_allocates_nothing(void **state) {
    (void)state;
    if (!COUNTING || !gc_backend_available(GC_BACKEND_JIT)) skip();
    gc_error err = {0};
    const char *src = getenv("GC_SOURCE_DIR");
    assert_non_null(src);
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/models/good/tiny_gpt.gm", src);
    gc_model *m = gc_model_load(path, &err);
    if (!m) fail_msg("%s", err.message);
    gc_options opts = {.backend = GC_BACKEND_JIT, .threads = 1};
    gc_trainer *t = gc_trainer_new(m, &opts, &err);
    if (!t) fail_msg("gc_trainer_new: %s", err.message);
    float loss = 0;
    assert_true(gc_trainer_step(t, &loss, &err)); /* the first may warm up OpenBLAS's buffers */
#if COUNTING
    dl_iterate_phdr(find_blas, NULL);
    allocations = 0;
    counting = 1;
    int ok = gc_trainer_step(t, &loss, &err) && gc_trainer_step(t, &loss, &err);
    counting = 0;
    assert_true(ok);
    assert_int_equal(allocations, 0);
#endif
    assert_true(isfinite(loss));
    gc_trainer_free(t);
    gc_model_free(m);
}

/* gc_trainer_memory reports the JIT's planned activations: far fewer bytes than every value of
 * the step, with the same parameters, gradients and optimizer state. */
static void test_trainer_reports_planned_memory(void **state) {
    (void)state;
    if (!gc_backend_available(GC_BACKEND_JIT)) skip();
    gc_error err = {0};
    const char *src = getenv("GC_SOURCE_DIR");
    assert_non_null(src);
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/models/good/tiny_gpt.gm", src);
    gc_model *m = gc_model_load(path, &err);
    if (!m) fail_msg("%s", err.message);
    gc_memory_report r[2];
    for (int b = 0; b < 2; b++) {
        gc_options opts = {.backend = b ? GC_BACKEND_JIT : GC_BACKEND_INTERP, .threads = 1};
        gc_trainer *t = gc_trainer_new(m, &opts, &err);
        if (!t) fail_msg("gc_trainer_new: %s", err.message);
        gc_trainer_memory(t, &r[b]);
        gc_trainer_free(t);
    }
    print_message("activations: %lld bytes unplanned, %lld planned\n", (long long)r[0].activations,
                  (long long)r[1].activations);
    assert_int_equal(r[0].parameters, r[1].parameters);
    assert_int_equal(r[0].gradients, r[1].gradients);
    assert_int_equal(r[0].optimizer_state, r[1].optimizer_state);
    assert_true(r[1].activations > 0);
    assert_true(r[1].activations * 2 < r[0].activations);
    gc_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reuse_respects_lifetimes),
        cmocka_unit_test(test_planned_code_matches_interpreter),
        cmocka_unit_test(test_training_step_allocates_nothing),
        cmocka_unit_test(test_trainer_reports_planned_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
