/*
 * test_remat.c: the cross-entropy's masks and logits in one buffer (passes/remat.h, and the
 * softmax and one_hot-prologue rules of passes/plan.c and passes/fuse.c). A tied GPT-like model's
 * training graph, as the trainer builds it, against the same graph with the masks' copies merged
 * back by CSE (what the step was before): the fused step stores no one_hot, log_softmax writes
 * the logits' bytes, the planned arena is smaller by most of a [tokens, vocab] buffer, and the
 * JIT's loss, gradient norm and updated params and optimizer state are bit-identical.
 */
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
#include "passes/fuse.h"
#include "passes/plan.h"
#include "passes/remat.h"
#include "runtime/jit.h"

int gc_pass_cse(gc_graph **graph, gc_error *err);
int gc_pass_dce(gc_graph **graph, gc_error *err);

#define VOCAB 500
#define TOKENS 192 /* batch 3 x ctx 64 */

static const char *model_text =
    "input tokens: i32[3, 64]\n"
    "input targets: i32[3, 64]\n"
    "param wte: f32[500, 16] = normal(0, 0.02)\n"
    "x = take(wte, tokens)\n"
    "h = gelu(linear(layernorm(x) as ln, 32) as fc)\n"
    "h = linear(h, 16) as proj + x\n"
    "logits = layernorm(h) as ln_f @ transpose(wte, [1, 0])\n"
    "loss = cross_entropy(logits, targets, label_smoothing=0.1)\n"
    "train {\n"
    "    optimizer = adamw(lr=1e-2, weight_decay=0.1)\n"
    "    seed = 1\n"
    "}\n";

/* The trainer's training graph, parsed back from its text. */
static gc_graph *train_graph(void) {
    gc_error err = {0};
    gc_model *m = gc_model_load_string(model_text, "remat.gm", &err);
    if (!m) fail_msg("%s", err.message);
    gc_options opts = {.backend = GC_BACKEND_INTERP};
    gc_trainer *t = gc_trainer_new(m, &opts, &err);
    if (!t) fail_msg("gc_trainer_new: %s", err.message);
    char *text = gc_trainer_ir(t, "train");
    assert_non_null(text);
    gc_graph *g = gc_graph_parse(text, strlen(text), "train.ir", &err);
    if (!g) fail_msg("parse: %s", err.message);
    free(text);
    gc_trainer_free(t);
    gc_model_free(m);
    return g;
}

static gc_graph *reparse(const gc_graph *g) {
    gc_error err = {0};
    char *text = gc_graph_print(g);
    assert_non_null(text);
    gc_graph *copy = gc_graph_parse(text, strlen(text), "copy.ir", &err);
    if (!copy) fail_msg("parse: %s", err.message);
    free(text);
    return copy;
}

static int count_op(const gc_graph *g, gc_op op) {
    int count = 0;
    for (int i = 0; i < g->num_nodes; i++) count += g->nodes[i]->op == op;
    return count;
}

/* Sources set to fixed values (indices below VOCAB), one step run and applied; the loss and
 * grad_norm outputs and every source after apply into *out (malloc'd), their byte count back. */
static size_t run_step(const gc_graph *g, unsigned char **out) {
    gc_error err = {0};
    gc_jit_options jo = {.fuse = true, .reuse = true, .in_place = true, .views = true, .operand_bytes = true};
    gc_jit *j = gc_jit_new_opts(g, &jo, &err);
    if (!j) fail_msg("gc_jit_new_opts: %s", err.message);
    for (int i = 0; i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        if (!(gc_op_table[n->op].flags & GC_FLAG_NAMED)) continue;
        void *p = gc_jit_source(j, n->name);
        assert_non_null(p);
        unsigned seed = 0; /* by name: the two graphs number their sources differently */
        for (const char *c = n->name; *c; c++) seed = seed * 31u + (unsigned char)*c;
        for (int64_t k = 0; k < gc_type_numel(&n->type); k++) {
            if (n->type.dtype == GC_I32) ((int32_t *)p)[k] = (int32_t)((k * 37 + seed % 11) % VOCAB);
            else ((float *)p)[k] = (float)((k * 7 + seed % 13) % 17 - 8) / 64.0f;
        }
    }
    if (!gc_jit_run(j, &err)) fail_msg("run: %s", err.message);
    size_t size = 0, at = 0;
    const char *values[2] = {"loss", "grad_norm"};
    for (int i = 0; i < g->num_nodes; i++)
        if (gc_op_table[g->nodes[i]->op].flags & GC_FLAG_NAMED)
            size += (size_t)gc_type_numel(&g->nodes[i]->type) * gc_dtype_size(g->nodes[i]->type.dtype);
    *out = malloc(size + 2 * sizeof(float));
    assert_non_null(*out);
    for (int v = 0; v < 2; v++) {
        const void *p = gc_jit_output(j, GC_OUTPUT_VALUE, values[v]);
        assert_non_null(p);
        memcpy(*out + at, p, sizeof(float));
        at += sizeof(float);
    }
    if (!gc_jit_apply_updates(j, &err)) fail_msg("apply: %s", err.message);
    for (int i = 0; i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        if (!(gc_op_table[n->op].flags & GC_FLAG_NAMED)) continue;
        size_t bytes = (size_t)gc_type_numel(&n->type) * gc_dtype_size(n->type.dtype);
        memcpy(*out + at, gc_jit_source(j, n->name), bytes);
        at += bytes;
    }
    gc_jit_free(j);
    return at;
}

static void test_masks_are_computed_where_read(void **state) {
    (void)state;
    gc_error err = {0};
    gc_graph *g = train_graph();
    assert_true(g->updates_in_backward);
    /* The trainer's graph has a copy of the mask for each reader after the first: merging them
     * (CSE) gives the graph as it was, and remat_masks makes them again. */
    gc_graph *merged = reparse(g);
    assert_true(gc_pass_cse(&merged, &err) && gc_pass_dce(&merged, &err));
    int hot = count_op(g, GC_OP_ONE_HOT), hot_merged = count_op(merged, GC_OP_ONE_HOT);
    print_message("one_hot nodes: %d with copies, %d merged\n", hot, hot_merged);
    assert_int_equal(hot_merged, 1);
    /* The loss's pick and log_softmax's gradient's row sum read no mask (passes/by_index.h);
     * the gradient's loop and at least one other reader do. */
    assert_true(hot >= 2);
    int copies = 0;
    gc_graph *again = reparse(merged);
    assert_true(gc_remat_masks(&again, &copies, &err));
    assert_int_equal(count_op(again, GC_OP_ONE_HOT), hot);
    assert_true(copies >= hot - 1);

    /* No kernel stores a [tokens, vocab] mask: each one_hot is computed inside its reader's
     * kernel (a loop, or the prologue of the loss's row sum). */
    gc_fusion f;
    assert_true(gc_fuse_partition(g, true, &f, &err));
    for (int i = 0; i < g->num_nodes; i++)
        if (g->nodes[i]->op == GC_OP_ONE_HOT) assert_int_not_equal(f.root[i], i);
    gc_fusion_free(&f);

    /* log_softmax writes the logits' bytes; the arena is smaller by at least one
     * [tokens, vocab] buffer. */
    gc_layout with, without;
    assert_true(gc_layout_plan_step(g, &with, &err));
    assert_true(gc_layout_plan_step(merged, &without, &err));
    for (int i = 0; i < g->num_nodes; i++)
        if (g->nodes[i]->op == GC_OP_LOG_SOFTMAX)
            assert_true(with.offsets[i] == with.offsets[g->nodes[i]->inputs[0]->id]);
    print_message("arena: %lld bytes with the copies, %lld merged\n", (long long)with.size, (long long)without.size);
    assert_true(with.size + (int64_t)TOKENS * VOCAB * 3 <= without.size); /* 3/4 of a mask at least */
    gc_layout_free(&with);
    gc_layout_free(&without);

    /* The same bits. */
    unsigned char *a = NULL, *b = NULL;
    size_t na = run_step(g, &a), nb = run_step(merged, &b);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na);
    free(a);
    free(b);
    gc_graph_free(again);
    gc_graph_free(merged);
    gc_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_masks_are_computed_where_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
