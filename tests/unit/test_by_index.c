/*
 * test_by_index.c: row reductions over one_hot masks and sums with a scatter_add done by index
 * (passes/by_index.h). Each model's gradient graph (the trainer's `grad` stage, through
 * simplify, cse and dce) is run with and without the pass, on the JIT (fused, planned as the
 * trainer plans: the index_add in its base's bytes) at one and two threads and on the
 * interpreter, with targets that are ignored, out of range and repeated:
 *
 *   - cross_entropy over class indices, plain, with ignore_index, label smoothing and class
 *     weights, and nll_loss: the pass rewrites the pick, the class weight's pick and
 *     log_softmax's gradient's row sum; the loss and every gradient are bit-identical;
 *   - a tied embedding (GPT-2's head): add(product, scatter_add) becomes an index_add; rows
 *     looked up once give the same bits, repeated rows agree to f32 rounding and the interpreter
 *     agrees within 1e-5.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gradc/gradc.h"
#include "ir/text.h"
#include "passes/by_index.h"
#include "passes/manager.h"
#include "runtime/interp.h"
#include "runtime/jit.h"

#define CLASSES 37
#define ROWS 24

static gc_graph *grad_graph(const char *model) {
    gc_error err = {0};
    gc_model *m = gc_model_load_string(model, "by_index.gm", &err);
    if (!m) fail_msg("%s", err.message);
    gc_options opts = {.backend = GC_BACKEND_INTERP};
    gc_trainer *t = gc_trainer_new(m, &opts, &err);
    if (!t) fail_msg("gc_trainer_new: %s", err.message);
    char *text = gc_trainer_ir(t, "grad");
    assert_non_null(text);
    gc_graph *g = gc_graph_parse(text, strlen(text), "grad.ir", &err);
    if (!g) fail_msg("parse: %s", err.message);
    free(text);
    gc_trainer_free(t);
    gc_model_free(m);
    if (!gc_run_pipeline(&g, "simplify,cse,dce", NULL, &err)) fail_msg("%s", err.message);
    return g;
}

static int count_op(const gc_graph *g, gc_op op) {
    int count = 0;
    for (int i = 0; i < g->num_nodes; i++) count += g->nodes[i]->op == op;
    return count;
}

/* A source's values by name (the two graphs number their nodes differently): indices cycle
 * through the classes with repeats, a few rows ignored (-100) and one out of range. */
static double source_value(const gc_node *n, int64_t k) {
    unsigned seed = 0;
    for (const char *c = n->name; *c; c++) seed = seed * 31u + (unsigned char)*c;
    if (n->type.dtype == GC_I32) {
        if (!strcmp(n->name, "targets") && k % 7 == 3) return -100;
        if (!strcmp(n->name, "targets") && k == 5) return CLASSES + 4;
        return (double)((k * 5 + seed % 3) % (CLASSES - 2));
    }
    return (double)((k * 7 + seed % 13) % 17 - 8) / 16.0;
}

typedef struct outputs {
    int count;
    const char *name[16];
    float *value[16];
    int64_t numel[16];
} outputs;

static void outputs_free(outputs *o) {
    for (int i = 0; i < o->count; i++) free(o->value[i]);
}

/* One JIT step (fused and planned as the trainer runs it) of g: every value and grad output. */
static outputs run_jit(const gc_graph *g, int threads) {
    gc_error err = {0};
    gc_jit_options jo = {.fuse = true, .reuse = true, .in_place = true, .views = true, .operand_bytes = true,
                         .threads = threads};
    gc_jit *j = gc_jit_new_opts(g, &jo, &err);
    if (!j) fail_msg("gc_jit_new_opts: %s", err.message);
    for (int i = 0; i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        if (!(gc_op_table[n->op].flags & GC_FLAG_NAMED)) continue;
        void *p = gc_jit_source(j, n->name);
        assert_non_null(p);
        for (int64_t k = 0; k < gc_type_numel(&n->type); k++) {
            if (n->type.dtype == GC_I32) ((int32_t *)p)[k] = (int32_t)source_value(n, k);
            else ((float *)p)[k] = (float)source_value(n, k);
        }
    }
    if (!gc_jit_run(j, &err)) fail_msg("run: %s", err.message);
    outputs o = {0};
    for (int i = 0; i < g->num_outputs && o.count < 16; i++) {
        const gc_graph_output *out = &g->outputs[i];
        if (out->kind == GC_OUTPUT_UPDATE) continue;
        const float *p = gc_jit_output(j, out->kind, out->name);
        assert_non_null(p);
        int64_t numel = gc_type_numel(&out->value->type);
        o.name[o.count] = out->name;
        o.numel[o.count] = numel;
        o.value[o.count] = malloc((size_t)numel * sizeof(float));
        memcpy(o.value[o.count], p, (size_t)numel * sizeof(float));
        o.count++;
    }
    gc_jit_free(j);
    return o;
}

/* The interpreter's loss (in double, rounded per op) of g. */
static double run_interp_loss(const gc_graph *g) {
    gc_error err = {0};
    gc_interp *it = gc_interp_new(g, GC_INTERP_F32, &err);
    if (!it) fail_msg("gc_interp_new: %s", err.message);
    for (int i = 0; i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        if (!(gc_op_table[n->op].flags & GC_FLAG_NAMED)) continue;
        int64_t numel = gc_type_numel(&n->type);
        double *v = malloc((size_t)numel * sizeof *v);
        for (int64_t k = 0; k < numel; k++) v[k] = source_value(n, k);
        if (!gc_interp_set_f64(it, n->name, v, numel, &err)) fail_msg("set %s: %s", n->name, err.message);
        free(v);
    }
    if (!gc_interp_run(it, &err)) fail_msg("interp: %s", err.message);
    double loss = gc_interp_output(it, GC_OUTPUT_VALUE, "loss")[0];
    gc_interp_free(it);
    return loss;
}

/* Runs model's gradient graph with and without the pass; `rewrites` sums expected. Returns the
 * largest difference of any output relative to its largest magnitude (0: the same bits). */
static double compare(const char *model, int rewrites, gc_op expect_op, bool exact) {
    gc_error err = {0};
    gc_graph *plain = grad_graph(model), *fast = grad_graph(model);
    int done = -1;
    assert_true(gc_by_index(&fast, &done, &err));
    assert_int_equal(done, rewrites);
    if (expect_op != GC_OP_COUNT) assert_true(count_op(fast, expect_op) >= 1);
    outputs a = run_jit(plain, 1), b = run_jit(fast, 1), b2 = run_jit(fast, 2);
    assert_int_equal(a.count, b.count);
    double worst = 0.0;
    for (int i = 0; i < a.count; i++) {
        assert_string_equal(a.name[i], b.name[i]);
        assert_int_equal(a.numel[i], b.numel[i]);
        /* One thread and two: the same bits. */
        assert_memory_equal(b.value[i], b2.value[i], (size_t)b.numel[i] * sizeof(float));
        double scale = 0.0, diff = 0.0;
        for (int64_t k = 0; k < a.numel[i]; k++) {
            assert_true(isfinite(b.value[i][k]));
            scale = fmax(scale, fabs(a.value[i][k]));
            diff = fmax(diff, fabs((double)a.value[i][k] - b.value[i][k]));
        }
        if (exact && memcmp(a.value[i], b.value[i], (size_t)a.numel[i] * sizeof(float)))
            fail_msg("%s differs: %g of %g", a.name[i], diff, scale);
        if (scale > 0) worst = fmax(worst, diff / scale);
    }
    /* The interpreter runs the rewritten graph too, and agrees with the one it replaces. */
    double want = run_interp_loss(plain), got = run_interp_loss(fast);
    assert_true(fabs(want - got) <= 1e-9 * fabs(want));
    assert_true(fabs(b.value[0][0] - got) <= 1e-5 * fabs(got));
    outputs_free(&a), outputs_free(&b), outputs_free(&b2);
    gc_graph_free(plain);
    gc_graph_free(fast);
    return worst;
}

#define HEAD                                                                                               \
    "input targets: i32[4, 6]\n"                                                                           \
    "param w: f32[12, 37] = normal(0, 1)\n"                                                                               \
    "param x: f32[4, 6, 12] = normal(0, 1)\n"                                                                             \
    "logits = x @ w\n"
#define TRAIN "train {\n    optimizer = sgd(lr=0.1)\n}\n"

/* The pick and log_softmax's gradient's row sum. */
static void test_cross_entropy(void **state) {
    (void)state;
    compare(HEAD "loss = cross_entropy(logits, targets)\n" TRAIN, 2, GC_OP_TAKE, true);
}

/* Another ignore_index (class 2 ignored, -100 then out of range), summed. */
static void test_cross_entropy_ignore_index(void **state) {
    (void)state;
    compare(HEAD "loss = cross_entropy(logits, targets, ignore_index=2, reduction=\"sum\")\n" TRAIN, 2, GC_OP_TAKE,
            true);
}

/* Label smoothing and class weights: the weight's pick becomes take(weight, t); log_softmax's
 * gradient's row sum then sums the smoothing term too and stays a row sum. */
static void test_cross_entropy_smoothing_weights(void **state) {
    (void)state;
    compare(HEAD "param cw: f32[37] = normal(0, 1)\n"
                 "loss = cross_entropy(logits, targets, weight=cw, label_smoothing=0.2)\n" TRAIN,
            2, GC_OP_TAKE, true);
}

/* Label smoothing alone. */
static void test_cross_entropy_smoothing(void **state) {
    (void)state;
    compare(HEAD "loss = cross_entropy(logits, targets, label_smoothing=0.1)\n" TRAIN, 1, GC_OP_TAKE, true);
}

/* nll_loss over log-probabilities computed by the model, per row (reduction none, summed). */
static void test_nll_loss(void **state) {
    (void)state;
    compare(HEAD "loss = sum(nll_loss(log_softmax(logits, 2), targets, reduction=\"none\"))\n" TRAIN, 2, GC_OP_TAKE,
            true);
}

/* A head tied to the embedding: the lookup's scatter is an index_add onto the head's weight
 * gradient. Tokens repeat, so the sums differ by rounding only. */
static void test_tied_embedding(void **state) {
    (void)state;
    double worst = compare("input tokens: i32[4, 6]\n"
                           "input targets: i32[4, 6]\n"
                           "param wte: f32[37, 12] = normal(0, 1)\n"
                           "h = take(wte, tokens) * 2.0\n"
                           "logits = h @ transpose(wte, [1, 0])\n"
                           "loss = cross_entropy(logits, targets)\n" TRAIN,
                           3, GC_OP_INDEX_ADD, false);
    print_message("tied embedding: largest relative difference %g\n", worst);
    assert_true(worst <= 1e-6);
}

/* Nothing to rewrite: the graph is left as it is. */
static void test_nothing_to_rewrite(void **state) {
    (void)state;
    gc_error err = {0};
    gc_graph *g = grad_graph(HEAD "loss = mean(square(logits))\n" TRAIN);
    gc_graph *before = g;
    int done = -1;
    assert_true(gc_by_index(&g, &done, &err));
    assert_int_equal(done, 0);
    assert_ptr_equal(g, before);
    gc_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cross_entropy),
        cmocka_unit_test(test_cross_entropy_ignore_index),
        cmocka_unit_test(test_cross_entropy_smoothing_weights),
        cmocka_unit_test(test_cross_entropy_smoothing),
        cmocka_unit_test(test_nll_loss),
        cmocka_unit_test(test_tied_embedding),
        cmocka_unit_test(test_nothing_to_rewrite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
