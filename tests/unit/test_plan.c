/*
 * test_plan.c: the arena planner (passes/plan.c with reuse) — values alive at the same time
 * never share bytes, a kernel's result never shares with its operands, kept values sit in the
 * kept region, reuse shrinks the arena, planned code agrees with the interpreter step after
 * step, a JIT training step calls no allocator, and the trainer reports the planned figures.
 * In place: AdamW's params and moments are updated in their own bytes after the step's outputs,
 * and an update is not put in place when its target is read later or not element by element.
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
#include "runtime/gemm.h"
#include "runtime/interp.h"
#include "runtime/jit.h"
#include "runtime/trainer.h"
#include "runtime/updates.h"
#include "ir/text.h"

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
            bool in_place = (l->in_place[i] || l->in_place[j]) && l->offsets[i] == l->offsets[j];
            if (together && !in_place && overlap(l, g->nodes[i], g->nodes[j]))
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

/* A graph with more values than best fit packs (BEST_FIT_MAX_BLOCKS in passes/plan.c) is packed
 * by the allocator run over time: still no two values alive together share bytes, and values
 * that never are do. */
static void test_large_graph_packs_over_time(void **state) {
    (void)state;
    gc_error err = {0};
    gc_graph *g = make_layers(900);
    print_message("%d nodes\n", g->num_nodes);
    assert_true(g->num_nodes > 9000);
    gc_layout plain, planned;
    assert_true(gc_layout_plan(g, &plain, &err));
    assert_true(gc_layout_plan_fused(g, NULL, true, &planned, &err));
    check_plan(g, NULL, &planned);
    print_message("arena: %lld bytes unplanned, %lld planned\n", (long long)plain.size, (long long)planned.size);
    assert_true(planned.size * 3 < plain.size);
    gc_layout_free(&plain);
    gc_layout_free(&planned);
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
 * the step, with the same parameters, gradients and optimizer state; and the same plan from a
 * trainer on either backend (`gradc check` runs the interpreter). The workspace holds a GEMM
 * packing buffer per pool thread when gradc's GEMM runs. */
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
    gc_memory_report r[2], interp_planned, two_threads;
    for (int b = 0; b < 2; b++) {
        gc_options opts = {.backend = b ? GC_BACKEND_JIT : GC_BACKEND_INTERP, .threads = 1};
        gc_trainer *t = gc_trainer_new(m, &opts, &err);
        if (!t) fail_msg("gc_trainer_new: %s", err.message);
        gc_trainer_memory(t, b == 1, &r[b]);
        if (b == 0) gc_trainer_memory(t, true, &interp_planned);
        gc_trainer_free(t);
    }
    gc_options opts = {.backend = GC_BACKEND_INTERP, .threads = 2};
    gc_trainer *t = gc_trainer_new(m, &opts, &err);
    if (!t) fail_msg("gc_trainer_new: %s", err.message);
    gc_trainer_memory(t, true, &two_threads);
    gc_trainer_free(t);
    assert_false(r[0].planned);
    assert_true(r[1].planned && interp_planned.planned);
    assert_int_equal(r[0].workspace, 0);
    assert_int_equal(interp_planned.activations, r[1].activations);
    assert_int_equal(interp_planned.workspace, r[1].workspace);
    /* A second thread adds its packing buffers, and with gradc's GEMM the packed operand the
     * parts of a split product share (one for the process). */
    if (gc_sgemm_uses_own()) {
        assert_true(gc_sgemm_workspace_bytes() > 0);
        assert_true(two_threads.workspace - r[1].workspace > gc_sgemm_workspace_bytes());
    } else {
        assert_int_equal(two_threads.workspace - r[1].workspace, gc_sgemm_workspace_bytes());
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


/* A product far deeper than its result (a head's input gradient over a large vocabulary) splits
 * along k, and `gradc check` counts its partial products, on one thread as on two. */
static void test_workspace_counts_partial_products(void **state) {
    (void)state;
    gc_error err = {0};
    const char *deep = "input x: f32[16, 9000]\n"
                       "input y: i32[16]\n"
                       "h = linear(linear(x, 32) as fc1, 9000) as fc2\n"
                       "loss = cross_entropy(h, y)\n"
                       "train {\n    optimizer = sgd(lr=0.1)\n}\n";
    const char *shallow = "input x: f32[16, 9000]\n"
                          "input y: i32[16]\n"
                          "h = linear(linear(x, 32) as fc1, 900) as fc2\n"
                          "loss = cross_entropy(h, y)\n"
                          "train {\n    optimizer = sgd(lr=0.1)\n}\n";
    gc_memory_report r[2];
    for (int i = 0; i < 2; i++) {
        gc_model *m = gc_model_load_string(i ? shallow : deep, "deep.gm", &err);
        if (!m) fail_msg("load: %s", err.message);
        gc_options opts = {.backend = GC_BACKEND_INTERP, .threads = 1};
        gc_trainer *t = gc_trainer_new(m, &opts, &err);
        gc_model_free(m);
        if (!t) fail_msg("gc_trainer_new: %s", err.message);
        gc_trainer_memory(t, true, &r[i]);
        gc_trainer_free(t);
    }
    /* fc2's input gradient: [16, 9000] x [9000, 32]. The shallow model has none that deep. */
    int64_t partials = gc_sgemm_shared_bytes(GC_SGEMM_SHARE_K, 16, 32, 9000);
    assert_true(partials > 0);
    assert_true(r[0].workspace - r[1].workspace >= partials);
}

/* The training graph of a model given as text, through the trainer (interpreter backend). */
static gc_graph *train_graph(const char *model) {
    gc_error err = {0};
    gc_model *m = gc_model_load_string(model, "inplace.gm", &err);
    if (!m) fail_msg("load: %s", err.message);
    gc_options opts = {.backend = GC_BACKEND_INTERP, .threads = 1};
    gc_trainer *t = gc_trainer_new(m, &opts, &err);
    gc_model_free(m);
    if (!t) fail_msg("gc_trainer_new: %s", err.message);
    char *text = gc_trainer_ir(t, "train");
    gc_trainer_free(t);
    assert_non_null(text);
    gc_graph *g = gc_graph_parse(text, strlen(text), "train.ir", &err);
    free(text);
    if (!g) fail_msg("parse: %s", err.message);
    return g;
}

static const gc_node *target_of(const gc_graph *g, const char *name) {
    const gc_node *t = gc_graph_find_named(g, GC_OP_PARAM, name);
    return t ? t : gc_graph_find_named(g, GC_OP_STATE, name);
}

static const char *adamw_mlp =
    "input x: f32[8, 5]\n"
    "input y: i32[8]\n"
    "h = linear(relu(linear(x, 16) as fc1), 3) as fc2\n"
    "loss = cross_entropy(h, y)\n"
    "train {\n"
    "    optimizer = adamw(lr=1e-3, weight_decay=0.1)\n"
    "}\n";

/* AdamW, fused and planned with reuse: every update (each param, both moments, the step count)
 * is computed in its target's bytes, after every kernel the step's outputs and gradients need;
 * no copy is left to apply, the plan still keeps live values apart, and the arena shrinks. */
static void test_adamw_updates_in_place(void **state) {
    (void)state;
    gc_error err = {0};
    gc_graph *g = train_graph(adamw_mlp);
    gc_fusion f;
    assert_true(gc_fuse_partition(g, true, &f, &err));
    gc_plan_options with = {.reuse = true, .in_place = true}, without = {.reuse = true};
    gc_layout in, out;
    assert_true(gc_layout_plan_opts(g, f.root, &with, &in, &err));
    assert_true(gc_layout_plan_opts(g, f.root, &without, &out, &err));
    check_plan(g, f.root, &in);
    assert_int_equal(out.update_from, g->num_nodes);
    for (int i = 0; i < g->num_nodes; i++) assert_false(out.in_place[i]);
    assert_true(in.update_from < g->num_nodes);
    int updates = 0, moments = 0;
    for (int i = 0; i < g->num_outputs; i++) {
        const gc_graph_output *o = &g->outputs[i];
        int v = o->value->id;
        if (o->kind != GC_OUTPUT_UPDATE) {
            /* Reported values are all stored by the step proper; with updates in backward
             * (passes/update_order.h), those that read no gradient: gradients and their norm
             * are computed at apply, with the updates. */
            int at = in.root && in.root[v] >= 0 ? in.root[v] : v;
            bool late = g->updates_in_backward && (o->kind == GC_OUTPUT_GRAD || !strcmp(o->name, "grad_norm"));
            if (g->nodes[at]->op != GC_OP_CONSTANT && !late) assert_true(at < in.update_from);
            if (late) assert_true(at >= in.update_from);
            continue;
        }
        updates++;
        moments += strstr(o->name, ".exp_avg") != NULL;
        const gc_node *t = target_of(g, o->name);
        assert_non_null(t);
        if (!in.in_place[v]) fail_msg("update '%s' (%%%d) is not in place", o->name, v);
        /* Its kernel (which may store it as a member) runs after the step proper. */
        int at = in.root && in.root[v] >= 0 ? in.root[v] : v;
        assert_true(at >= in.update_from);
        assert_true(in.offsets[v] == in.offsets[t->id]);
        assert_true(in.kept[v]);
    }
    assert_int_equal(updates, 4 * 3 + 1); /* 4 params with 2 moments each, and the step count */
    assert_int_equal(moments, 8);
    gc_update_plan copies;
    assert_true(gc_update_plan_make(g, in.offsets, &copies, &err));
    assert_int_equal(copies.count, 0);
    gc_update_plan_free(&copies);
    assert_true(gc_update_plan_make(g, out.offsets, &copies, &err));
    assert_int_equal(copies.count, updates);
    gc_update_plan_free(&copies);
    print_message("AdamW arena: %lld bytes with copies, %lld in place\n", (long long)out.size, (long long)in.size);
    assert_true(in.size < out.size);
    assert_true(in.kept_size < out.kept_size);
    gc_layout_free(&in);
    gc_layout_free(&out);
    gc_fusion_free(&f);
    gc_graph_free(g);
}

/* loss = sum(x * w); update w = w - x; update s = s + (w or the new w). */
static gc_graph *make_reader(bool reads_new) {
    static gc_error err;
    gc_graph *g = gc_graph_new("reader");
    gc_builder b = {g, {"reader.ir", 1, 1}, &err};
    gc_type v4 = ty(GC_F32, 1, 4, 0);
    gc_node *x = named(&b, GC_OP_INPUT, "x", v4);
    gc_node *w = named(&b, GC_OP_PARAM, "w", v4);
    gc_node *s = named(&b, GC_OP_STATE, "s", v4);
    gc_node *loss = gc_reduce(&b, GC_OP_SUM, gc_binary(&b, GC_OP_MUL, x, w), 0x1, false);
    gc_node *w_new = gc_binary(&b, GC_OP_SUB, w, x);
    gc_node *s_new = gc_binary(&b, GC_OP_ADD, s, reads_new ? w_new : w);
    assert_non_null(s_new);
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "loss", loss, &err));
    assert_true(gc_graph_add_output(g, GC_OUTPUT_UPDATE, "w", w_new, &err));
    assert_true(gc_graph_add_output(g, GC_OUTPUT_UPDATE, "s", s_new, &err));
    return g;
}

/* An update whose target a later kernel still reads (for its old value) is not put in place;
 * one read later only through the new value is. Fused or not. */
static void test_target_read_later_is_not_in_place(void **state) {
    (void)state;
    gc_error err = {0};
    gc_plan_options opts = {.reuse = true, .in_place = true};
    for (int fuse = 0; fuse < 2; fuse++) {
        for (int reads_new = 0; reads_new < 2; reads_new++) {
            gc_graph *g = make_reader(reads_new);
            gc_fusion f;
            assert_true(gc_fuse_partition(g, fuse, &f, &err));
            gc_layout l;
            assert_true(gc_layout_plan_opts(g, f.root, &opts, &l, &err));
            check_plan(g, f.root, &l);
            const gc_node *w_new = gc_graph_find_output(g, GC_OUTPUT_UPDATE, "w")->value;
            const gc_node *s_new = gc_graph_find_output(g, GC_OUTPUT_UPDATE, "s")->value;
            const gc_node *loss = gc_graph_find_output(g, GC_OUTPUT_VALUE, "loss")->value;
            assert_int_equal(l.in_place[w_new->id], reads_new);
            assert_true(l.in_place[s_new->id]);
            assert_int_equal(l.update_from, loss->id + 1);
            if (!reads_new) assert_true(l.offsets[w_new->id] != l.offsets[gc_graph_find_named(g, GC_OP_PARAM, "w")->id]);
            gc_update_plan copies;
            assert_true(gc_update_plan_make(g, l.offsets, &copies, &err));
            assert_int_equal(copies.count, reads_new ? 0 : 1);
            gc_update_plan_free(&copies);
            gc_layout_free(&l);
            gc_fusion_free(&f);
            gc_graph_free(g);
        }
    }
}

/* A kernel that reads its target other than element by element at the index it writes: a
 * scalar state broadcast into a fused reduction (s = sum(x * s)), a GEMM epilogue (w = x @ y + w,
 * whose GEMM writes the result buffer before the loop reads w), an unfused GEMM of the target
 * itself (w = w @ w). None is in place; an update reported also as a value is not either (its
 * value must be there after the run, before apply). */
static void test_non_elementwise_reads_are_not_in_place(void **state) {
    (void)state;
    static gc_error err;
    for (int c = 0; c < 4; c++) {
        gc_graph *g = gc_graph_new("reads");
        gc_builder b = {g, {"reads.ir", 1, 1}, &err};
        gc_node *x = named(&b, GC_OP_INPUT, "x", ty(GC_F32, c == 0 ? 1 : 2, 4, 4));
        /* The loss first, so the update's kernel is past update_from and only its reads decide. */
        gc_node *loss = gc_reduce(&b, GC_OP_SUM, x, c == 0 ? 0x1 : 0x3, false);
        gc_node *v = NULL, *t = NULL;
        if (c == 0) {
            t = named(&b, GC_OP_STATE, "t", ty(GC_F32, 0, 0, 0));
            v = gc_reduce(&b, GC_OP_SUM, gc_binary(&b, GC_OP_MUL, x, t), 0x1, false);
        } else if (c == 1) {
            t = named(&b, GC_OP_PARAM, "t", ty(GC_F32, 2, 4, 4));
            gc_node *y = named(&b, GC_OP_INPUT, "y", ty(GC_F32, 2, 4, 4));
            v = gc_binary(&b, GC_OP_ADD, gc_matmul(&b, x, y, false, false), t);
        } else if (c == 2) {
            t = named(&b, GC_OP_PARAM, "t", ty(GC_F32, 2, 4, 4));
            v = gc_matmul(&b, t, t, false, false);
        } else {
            t = named(&b, GC_OP_PARAM, "t", ty(GC_F32, 2, 4, 4));
            v = gc_binary(&b, GC_OP_SUB, t, x);
            assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "t_new", v, &err));
        }
        assert_non_null(v);
        assert_true(v->id > loss->id);
        assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "loss", loss, &err));
        assert_true(gc_graph_add_output(g, GC_OUTPUT_UPDATE, "t", v, &err));
        gc_fusion f;
        assert_true(gc_fuse_partition(g, c != 2, &f, &err));
        if (c < 2 && f.root[v->inputs[0]->id] != v->id) fail_msg("case %d: the operand is not fused into the update", c);
        gc_plan_options opts = {.reuse = true, .in_place = true};
        gc_layout l;
        assert_true(gc_layout_plan_opts(g, f.root, &opts, &l, &err));
        if (l.in_place[v->id]) fail_msg("case %d: the update is in place", c);
        assert_int_equal(l.update_from, g->num_nodes);
        assert_true(l.offsets[v->id] != l.offsets[t->id]);
        gc_layout_free(&l);
        gc_fusion_free(&f);
        gc_graph_free(g);
    }
}

/* A JIT with in-place updates runs AdamW as the interpreter does, step after step: the loss
 * of each step, and params and state after each apply. Update outputs are read after apply. */
static void test_in_place_jit_matches_interpreter(void **state) {
    (void)state;
    if (!gc_backend_available(GC_BACKEND_JIT)) skip();
    gc_error err = {0};
    gc_graph *g = train_graph(adamw_mlp);
    gc_jit_options opts = {.fuse = true, .reuse = true, .threads = 1, .in_place = true};
    gc_jit *j = gc_jit_new_opts(g, &opts, &err);
    if (!j) fail_msg("gc_jit_new_opts: %s", err.message);
    gc_interp *it = gc_interp_new(g, GC_INTERP_F32, &err);
    assert_non_null(it);
    for (int i = 0; i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        if (!(gc_op_table[n->op].flags & GC_FLAG_NAMED)) continue;
        int64_t count = gc_type_numel(&n->type);
        float *data = malloc(sizeof *data * (size_t)(count ? count : 1));
        assert_non_null(data);
        for (int64_t k = 0; k < count; k++)
            data[k] = n->op == GC_OP_STATE ? 0.0f
                      : n->type.dtype == GC_I32 ? (float)((k * 5 + 1) % 3)
                                                : (float)((k * 7 + i * 3) % 17 - 8) / 16.0f;
        gc_tensor v = {GC_F32, n->type.rank, {0}, data};
        memcpy(v.shape, n->type.dims, sizeof v.shape);
        assert_true(gc_interp_set(it, n->name, &v, &err));
        assert_true(gc_jit_set(j, n->name, &v, &err));
        free(data);
    }
    for (int step = 0; step < 4; step++) {
        assert_true(gc_interp_run(it, &err));
        assert_true(gc_jit_run(j, &err));
        const double *want = gc_interp_output(it, GC_OUTPUT_VALUE, "loss");
        const float *got = gc_jit_output(j, GC_OUTPUT_VALUE, "loss");
        assert_true(fabs(*want - *got) <= 1e-5 + 1e-4 * fabs(*want));
        /* The step itself wrote no param. */
        const gc_node *w = gc_graph_find_named(g, GC_OP_PARAM, "fc1.weight");
        const void *before = gc_jit_value(j, w);
        float w0 = *(const float *)before;
        assert_true(gc_interp_apply_updates(it, &err));
        assert_true(gc_jit_apply_updates(j, &err));
        assert_true(*(const float *)gc_jit_value(j, w) != w0);
        assert_true(gc_jit_apply_updates(j, &err)); /* a second apply changes nothing */
        for (int i = 0; i < g->num_outputs; i++) {
            const gc_graph_output *o = &g->outputs[i];
            if (o->kind != GC_OUTPUT_UPDATE) continue;
            const double *a = gc_interp_output(it, GC_OUTPUT_UPDATE, o->name);
            const float *b = gc_jit_output(j, GC_OUTPUT_UPDATE, o->name);
            const float *src = gc_jit_value(j, target_of(g, o->name));
            assert_non_null(a);
            assert_true(b == src); /* in place: the update output is its target's bytes */
            for (int64_t k = 0; k < gc_type_numel(&o->value->type); k++)
                if (fabs(a[k] - b[k]) > 1e-6 + 1e-4 * fabs(a[k]))
                    fail_msg("step %d, %s[%lld]: interpreter %.9g, JIT %.9g", step, o->name, (long long)k, a[k], b[k]);
        }
    }
    gc_interp_free(it);
    gc_jit_free(j);
    gc_graph_free(g);
}

/* With views, the JIT (fused, reused, 2 threads) computes each named value output as the
 * interpreter does, from the same named inputs. */
typedef struct named_input {
    const char *name;
    gc_tensor value;
} named_input;

static void expect_views_match_interpreter(gc_graph *g, const named_input *in, int num_inputs, const char *const *outs,
                                           int num_outs, const char *what) {
    if (!gc_backend_available(GC_BACKEND_JIT)) return;
    gc_error err = {0};
    gc_jit_options jo = {.fuse = true, .reuse = true, .threads = 2, .views = true};
    gc_jit *j = gc_jit_new_opts(g, &jo, &err);
    if (!j) fail_msg("gc_jit_new_opts: %s", err.message);
    gc_interp *it = gc_interp_new(g, GC_INTERP_F32, &err);
    assert_non_null(it);
    for (int i = 0; i < num_inputs; i++)
        assert_true(gc_interp_set(it, in[i].name, &in[i].value, &err) && gc_jit_set(j, in[i].name, &in[i].value, &err));
    assert_true(gc_interp_run(it, &err) && gc_jit_run(j, &err));
    for (int o = 0; o < num_outs; o++) {
        const gc_node *n = NULL;
        for (int k = 0; k < g->num_outputs; k++)
            if (g->outputs[k].kind == GC_OUTPUT_VALUE && !strcmp(g->outputs[k].name, outs[o])) n = g->outputs[k].value;
        assert_non_null(n);
        const double *want = gc_interp_output(it, GC_OUTPUT_VALUE, outs[o]);
        const float *got = gc_jit_output(j, GC_OUTPUT_VALUE, outs[o]);
        assert_non_null(got);
        for (int64_t k = 0; k < gc_type_numel(&n->type); k++)
            if (fabs(want[k] - got[k]) > 1e-5 + 1e-4 * fabs(want[k]))
                fail_msg("%s, %s[%lld]: interpreter %.9g, JIT %.9g", what, outs[o], (long long)k, want[k], got[k]);
    }
    gc_interp_free(it);
    gc_jit_free(j);
}

/* Attention's heads as views: x[2, 8, 3*4*5] is one projection; q, k, v are slices of it split
 * into 4 heads of 5 and permuted to [2, 4, 8, 5]; only matmuls read them, so they are views of
 * x with no kernel or bytes (offsets at their first element, x's strides), and the scores
 * q @ k^T read them in place. The output permute feeds an add: the product before it writes
 * into its bytes through strides. A view of a param stays a copy. The JIT then computes what the
 * interpreter computes. */
static void test_views_of_heads(void **state) {
    (void)state;
    gc_error err = {0};
    gc_graph *g = gc_graph_new("heads");
    gc_builder b = {g, {"heads.ir", 1, 1}, &err};
    int64_t xd[3] = {2, 8, 60};
    gc_type xt = gc_type_make(GC_F32, 3, xd);
    gc_node *in = named(&b, GC_OP_INPUT, "in", xt);
    gc_node *x = gc_unary(&b, GC_OP_TANH, in); /* computed: views may read its bytes */
    gc_node *w = named(&b, GC_OP_PARAM, "w", ty(GC_F32, 2, 60, 5));
    gc_node *heads[3], *sl[3], *rs[3];
    int perm[4] = {0, 2, 1, 3};
    for (int i = 0; i < 3; i++) {
        int64_t split[4] = {2, 8, 4, 5};
        sl[i] = gc_slice(&b, x, 2, 20 * i, 20 * (i + 1));
        rs[i] = gc_reshape(&b, sl[i], 4, split);
        heads[i] = gc_permute(&b, rs[i], perm);
    }
    gc_node *scores = gc_matmul(&b, heads[0], heads[1], false, true); /* [2, 4, 8, 8] */
    gc_node *o = gc_matmul(&b, gc_axis_op(&b, GC_OP_SOFTMAX, scores, 3), heads[2], false, false);
    gc_node *merged = gc_permute(&b, o, perm); /* [2, 8, 4, 5], read by an add: a copy */
    gc_node *y = gc_binary(&b, GC_OP_ADD, merged, merged);
    gc_node *ws = gc_slice(&b, w, 0, 0, 30); /* a param's slice: a copy */
    int64_t flat[2] = {16, 60};
    gc_node *z = gc_matmul(&b, gc_slice(&b, gc_reshape(&b, x, 2, flat), 1, 0, 30), ws, false, false);
    assert_non_null(z);
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "y", y, &err));
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "z", z, &err));

    gc_fusion f;
    assert_true(gc_fuse_partition(g, true, &f, &err));
    gc_plan_options opts = {.reuse = true, .views = true};
    gc_layout l;
    assert_true(gc_layout_plan_opts(g, f.root, &opts, &l, &err));
    for (int i = 0; i < 3; i++) {
        assert_true(l.viewed[sl[i]->id] && l.viewed[rs[i]->id] && l.viewed[heads[i]->id]);
        assert_true(l.aliased[heads[i]->id]);
        /* [2, 4, 8, 5] over x's [2, 8, 60]: batch 480, head 5, row 60, element 1 */
        const int64_t want[4] = {480, 5, 60, 1};
        assert_memory_equal(l.strides[heads[i]->id], want, sizeof want);
        assert_true(l.offsets[heads[i]->id] == l.offsets[x->id] + 20 * i * (int64_t)sizeof(float));
    }
    /* The values' product writes its result through strides into the merge permute's bytes:
     * [2, 4, 8, 5] into [2, 8, 4, 5], so the permute has no kernel. */
    assert_false(l.viewed[merged->id]);
    assert_true(l.strided[o->id] && l.aliased[merged->id]);
    const int64_t merge[4] = {160, 5, 20, 1};
    assert_memory_equal(l.strides[o->id], merge, sizeof merge);
    assert_true(l.offsets[o->id] == l.offsets[merged->id]);
    assert_false(l.viewed[ws->id]);
    assert_true(l.viewed[z->inputs[0]->id]); /* x's rows, the first 30 columns of each */
    gc_layout_free(&l);
    gc_fusion_free(&f);

    float data[2 * 8 * 60], wd[60 * 5];
    for (int k = 0; k < 2 * 8 * 60; k++) data[k] = (float)((k * 7) % 23 - 11) / 8.0f;
    for (int k = 0; k < 60 * 5; k++) wd[k] = (float)((k * 5) % 13 - 6) / 8.0f;
    const named_input inputs[2] = {{"in", {GC_F32, 3, {2, 8, 60}, data}}, {"w", {GC_F32, 2, {60, 5}, wd}}};
    const char *const outs[2] = {"y", "z"};
    expect_views_match_interpreter(g, inputs, 2, outs, 2, "heads");
    gc_graph_free(g);
}

/* Three batched products permuted back and concatenated along the last axis (the q, k and v
 * gradients of attention) write straight into the concat's bytes, each at its offset: no
 * permute or concat kernel. When one operand of the concat is not such a product, none of them
 * writes into it, and each writes into its own permute instead. */
static void test_strided_writes_into_a_concat(void **state) {
    (void)state;
    for (int mixed = 0; mixed < 2; mixed++) {
        gc_error err = {0};
        gc_graph *g = gc_graph_new("concat");
        gc_builder b = {g, {"concat.ir", 1, 1}, &err};
        int64_t ad[4] = {2, 3, 6, 4}, bd[4] = {2, 3, 4, 5}, flat[3] = {2, 6, 15};
        gc_node *a = gc_unary(&b, GC_OP_TANH, named(&b, GC_OP_INPUT, "a", gc_type_make(GC_F32, 4, ad)));
        gc_node *w = gc_unary(&b, GC_OP_TANH, named(&b, GC_OP_INPUT, "w", gc_type_make(GC_F32, 4, bd)));
        int perm[4] = {0, 2, 1, 3};
        gc_node *parts[3], *mm[3];
        for (int i = 0; i < 3; i++) {
            mm[i] = gc_matmul(&b, a, w, false, false); /* [2, 3, 6, 5] */
            if (mixed && i == 1) mm[i] = gc_unary(&b, GC_OP_EXP, mm[i]);
            parts[i] = gc_reshape(&b, gc_permute(&b, mm[i], perm), 3, flat); /* [2, 6, 15] */
        }
        gc_node *c = gc_concat(&b, parts, 3, 2); /* [2, 6, 45] */
        gc_node *y = gc_unary(&b, GC_OP_NEG, c);
        assert_non_null(y);
        assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "y", y, &err));
        gc_layout l;
        if (!gc_layout_plan_step(g, &l, &err)) fail_msg("%s", err.message);
        for (int i = 0; i < 3; i++) {
            if (mixed && i == 1) continue;
            assert_true(l.strided[mm[i]->id]);
            if (!mixed) {
                /* (b, h, t, d) at b*270 + t*45 + h*5 + d, 15 more per operand */
                const int64_t want[4] = {270, 5, 45, 1};
                assert_memory_equal(l.strides[mm[i]->id], want, sizeof want);
                assert_true(l.offsets[mm[i]->id] == l.offsets[c->id] + 15 * i * (int64_t)sizeof(float));
            } else {
                assert_true(l.offsets[mm[i]->id] == l.offsets[parts[i]->inputs[0]->id]);
            }
        }
        assert_true(l.aliased[c->id] != mixed);
        gc_layout_free(&l);
        float av[2 * 3 * 6 * 4], wv[2 * 3 * 4 * 5];
        for (int k = 0; k < 144; k++) av[k] = (float)((k * 7) % 19 - 9) / 8.0f;
        for (int k = 0; k < 120; k++) wv[k] = (float)((k * 5) % 13 - 6) / 8.0f;
        const named_input inputs[2] = {{"a", {GC_F32, 4, {2, 3, 6, 4}, av}}, {"w", {GC_F32, 4, {2, 3, 4, 5}, wv}}};
        const char *const outs[1] = {"y"};
        expect_views_match_interpreter(g, inputs, 2, outs, 1, mixed ? "mixed" : "all strided");
        gc_graph_free(g);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reuse_respects_lifetimes),
        cmocka_unit_test(test_planned_code_matches_interpreter),
        cmocka_unit_test(test_training_step_allocates_nothing),
        cmocka_unit_test(test_trainer_reports_planned_memory),
        cmocka_unit_test(test_adamw_updates_in_place),
        cmocka_unit_test(test_workspace_counts_partial_products),
        cmocka_unit_test(test_target_read_later_is_not_in_place),
        cmocka_unit_test(test_non_elementwise_reads_are_not_in_place),
        cmocka_unit_test(test_in_place_jit_matches_interpreter),
        cmocka_unit_test(test_views_of_heads),
        cmocka_unit_test(test_strided_writes_into_a_concat),
        cmocka_unit_test(test_large_graph_packs_over_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
