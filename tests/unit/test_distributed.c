/*
 * test_distributed.c: the parts of data-parallel training (runtime/distributed.h) that a single
 * process can check: the world communicator of a process mpirun did not start has one rank and
 * never initialises MPI; a trainer made with it trains exactly as gc_trainer_new's; the timeout
 * is validated; and a sharded dataset gives rank r of N at step k the examples one process reads
 * at step N k + r with the same per-process batch, i.e. rank r's slice of the global batch of
 * N x B in the single-process order at batch N x B. The training graph a data-parallel trainer
 * builds (what `gradc compile` compiles for mpirun): the optimizer after backward, and with
 * gradient accumulation grad outputs that are the accumulated sums, all of them before the first
 * update that reads one. The multi-process behaviour is checked under mpirun by
 * tests/scripts/test_mpi_*.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gradc/gradc.h>

#include "ir/text.h"
#include "runtime/data.h"
#include "runtime/distributed.h"
#include "runtime/trainer.h"

enum { B = 2 };

static const char *model =
    "const batch = 2\n"
    "input x: f32[batch, 1]\n"
    "input y: f32[batch, 1]\n"
    "loss = mse_loss(linear(x, 1) as fc, y)\n"
    "output seen = x\n"
    "train {\n"
    "    optimizer = adam(lr=0.1)\n"
    "    seed = 7\n"
    "}\n";

static void alone(void) {
    unsetenv("OMPI_COMM_WORLD_SIZE");
    unsetenv("PMIX_SIZE");
    unsetenv("PMI_SIZE");
}

static gc_trainer *trainer(gc_communicator *comm) {
    gc_error err = {0};
    gc_model *m = gc_model_load_string(model, "seen.gm", &err);
    assert_non_null(m);
    gc_options o = {.backend = GC_BACKEND_INTERP, .threads = 1};
    gc_trainer *t = gc_trainer_new_distributed(m, &o, comm, &err);
    gc_model_free(m);
    if (!t) fail_msg("compile: %s", err.message);
    return t;
}

static void test_world_alone(void **state) {
    (void)state;
    alone();
    assert_false(gc_distributed_launched());
    gc_error err = {0};
    gc_communicator *c = gc_communicator_world(&err);
    assert_non_null(c);
    assert_int_equal(gc_communicator_size(c), 1);
    assert_int_equal(gc_communicator_rank(c), 0);
    assert_true(gc_distributed_is_root(c));
    assert_false(gc_communicator_set_timeout(c, 0, &err));
    assert_int_equal(err.code, GC_ERR_USER);
    assert_true(gc_communicator_set_timeout(c, 2.5, &err));
    assert_true(gc_distributed_timeout(c) == 2.5);
    /* One rank: collectives are no-ops that succeed. */
    double v[2] = {1.5, -2};
    assert_true(gc_distributed_sum(c, v, 2, "test", &err));
    assert_true(v[0] == 1.5 && v[1] == -2);
    assert_true(gc_distributed_barrier(c, "test", &err));
    gc_communicator_free(c);
    assert_int_equal(gc_communicator_size(NULL), 1);
    assert_int_equal(gc_communicator_rank(NULL), 0);
}

static void test_one_rank_trains_as_alone(void **state) {
    (void)state;
    alone();
    gc_error err = {0};
    gc_communicator *c = gc_communicator_world(&err);
    assert_non_null(c);
    gc_trainer *a = trainer(NULL), *b = trainer(c);
    float x[B] = {1, -2}, y[B] = {3, 0.5f};
    for (int s = 0; s < 4; s++) {
        float la, lb;
        assert_true(gc_trainer_set_input(a, "x", x, sizeof x, &err) && gc_trainer_set_input(a, "y", y, sizeof y, &err));
        assert_true(gc_trainer_set_input(b, "x", x, sizeof x, &err) && gc_trainer_set_input(b, "y", y, sizeof y, &err));
        assert_true(gc_trainer_step(a, &la, &err));
        assert_true(gc_trainer_step(b, &lb, &err));
        assert_memory_equal(&la, &lb, sizeof la);
    }
    gc_trainer_free(a);
    gc_trainer_free(b);
    gc_communicator_free(c);
}

/* A dataset of n examples: x[i] = i, y[i] = 10 * i. */
static gc_dataset *dataset(gc_trainer *t, int n) {
    gc_error err = {0};
    gc_dataset *d = gc_dataset_new(&err);
    assert_non_null(d);
    for (int k = 0; k < 2; k++) {
        gc_tensor type = {0};
        const char *name;
        assert_true(gc_trainer_input_info(t, k, &name, &type));
        float *v = malloc(sizeof *v * (size_t)n);
        for (int i = 0; i < n; i++) v[i] = (float)(k ? 10 * i : i);
        gc_tensor array = {GC_F32, 2, {n, 1}, v};
        assert_true(gc_dataset_bind(d, name, array, &type, &err));
    }
    if (!gc_dataset_finish(d, true, 42, &err)) fail_msg("finish: %s", err.message);
    return d;
}

static void load_step(gc_dataset *d, gc_trainer *t, int64_t step, int out[B]) {
    gc_error err = {0};
    if (!gc_dataset_load_step(d, t, step, &err)) fail_msg("step %lld: %s", (long long)step, err.message);
    gc_tensor v;
    assert_true(gc_trainer_eval(t, NULL, &err));
    assert_true(gc_trainer_output(t, "seen", &v, &err));
    for (int i = 0; i < B; i++) out[i] = (int)((float *)v.data)[i];
}

static void test_shard_order(void **state) {
    (void)state;
    enum { RANKS = 3, N = 14 }; /* two examples left over per epoch */
    gc_trainer *t = trainer(NULL);
    gc_dataset *whole = dataset(t, N);
    gc_error err = {0};
    for (int r = 0; r < RANKS; r++) {
        gc_dataset *shard = dataset(t, N);
        assert_true(gc_dataset_shard(shard, r, RANKS, &err));
        assert_int_equal(gc_dataset_steps_per_epoch(shard), N / (B * RANKS));
        /* Steps 0-1 are epoch 0 and 2-3 epoch 1 (a different permutation) in both. The single
         * process at batch B reads 7 steps an epoch, so its epoch e starts at step 7e. */
        for (int k = 0; k < 4; k++) {
            int got[B], want[B];
            load_step(shard, t, k, got);
            load_step(whole, t, (k / 2) * 7 + (k % 2) * RANKS + r, want);
            assert_memory_equal(got, want, sizeof got);
        }
        gc_dataset_free(shard);
    }
    gc_dataset *bad = dataset(t, N);
    assert_false(gc_dataset_shard(bad, RANKS, RANKS, &err));
    assert_int_equal(err.code, GC_ERR_USER);
    /* Fewer examples than one global batch: the error says so. */
    assert_true(gc_dataset_shard(bad, 0, 8, &err));
    int ignored[B];
    assert_false(gc_dataset_load_step(bad, t, 0, &err));
    assert_non_null(strstr(err.message, "fewer than one global batch of 16 (8 ranks x 2)"));
    (void)ignored;
    gc_dataset_free(bad);
    gc_dataset_free(whole);
    gc_trainer_free(t);
}

/* The training graph of a plan of `text`, data parallel or not, as gc_trainer_ir prints it. */
static char *train_ir(const char *text, bool data_parallel, int skip_nonfinite) {
    gc_error err = {0};
    gc_model *m = gc_model_load_string(text, "dp.gm", &err);
    assert_non_null(m);
    gc_options o = {.backend = GC_BACKEND_INTERP, .threads = 1, .skip_nonfinite = skip_nonfinite};
    gc_trainer *t = data_parallel ? gc_trainer_plan_distributed(m, &o, &err) : gc_trainer_plan(m, &o, &err);
    gc_model_free(m);
    if (!t) fail_msg("plan: %s", err.message);
    char *ir = gc_trainer_ir(t, "train");
    gc_trainer_free(t);
    assert_non_null(ir);
    return ir;
}

static gc_graph *parse_ir(const char *ir) {
    gc_error err = {0};
    gc_graph *g = gc_graph_parse(ir, strlen(ir), "train", &err);
    if (!g) fail_msg("parse: %s", err.message);
    return g;
}

static void test_data_parallel_graph(void **state) {
    (void)state;
    /* Without accumulation: the classic order, which --skip-nonfinite also asks for; a single
     * process runs the optimizer in backward instead. */
    char *dp = train_ir(model, true, 0), *skip = train_ir(model, false, 1), *alone_ir = train_ir(model, false, 0);
    assert_string_equal(dp, skip);
    assert_string_not_equal(dp, alone_ir);
    free(dp);
    free(skip);
    free(alone_ir);

    /* With accumulation: each grad output is accumulate.<param> + grad / 2 in the data-parallel
     * graph, and every one of them precedes the updates, which read them. */
    char accumulating[1024];
    const char *at = strstr(model, "    seed = 7\n");
    snprintf(accumulating, sizeof accumulating, "%.*s    gradient_accumulation_steps = 2\n%s", (int)(at - model), model, at);
    char *ir[2] = {train_ir(accumulating, false, 0), train_ir(accumulating, true, 0)};
    for (int k = 0; k < 2; k++) {
        gc_graph *g = parse_ir(ir[k]);
        int grads = 0, last_grad = -1, first_update = g->num_nodes;
        for (int i = 0; i < g->num_outputs; i++) {
            const gc_graph_output *o = &g->outputs[i];
            if (o->kind == GC_OUTPUT_UPDATE && !strncmp(o->name, "accumulate.", 11) && o->value->id < first_update)
                first_update = o->value->id;
            if (o->kind != GC_OUTPUT_GRAD) continue;
            grads++;
            const gc_node *v = o->value;
            bool reads_sum = false;
            for (int j = 0; j < v->num_inputs; j++)
                reads_sum |= v->inputs[j]->op == GC_OP_STATE && !strncmp(v->inputs[j]->name, "accumulate.", 11);
            assert_int_equal(reads_sum, k == 1);
            if (v->id > last_grad) last_grad = v->id;
        }
        assert_int_equal(grads, 2); /* fc.weight, fc.bias */
        if (k == 1) assert_true(last_grad < first_update);
        gc_graph_free(g);
        free(ir[k]);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_world_alone),
        cmocka_unit_test(test_one_rank_trains_as_alone),
        cmocka_unit_test(test_shard_order),
        cmocka_unit_test(test_data_parallel_graph),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
