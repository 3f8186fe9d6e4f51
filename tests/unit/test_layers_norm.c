/*
 * test_layers_norm.c: the normalisation layers (frontend/layers_norm.h) and buffers, below the
 * PyTorch twin (tests/scripts/test_twin_batchnorm.sh): f64 finite-difference gradient checks of
 * every layer and argument combination that changes the math, batch norm's buffer updates and
 * eval graph against a direct computation, errors located at the call, and the trainer's buffers
 * (initial values, checkpoints with num_batches_tracked as I64, loading from I32, I64, F32 and
 * F64, evals reading the running statistics).
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

#include <gradc/gradc.h>

#include "frontend/check.h"
#include "frontend/layers_norm.h"
#include "frontend/lower.h"
#include "frontend/parser.h"
#include "ir/text.h"
#include "passes/autodiff.h"
#include "runtime/gradcheck.h"
#include "runtime/interp.h"
#include "runtime/safetensors.h"
#include "runtime/trainer.h"

static uint64_t rng_state;

static double uniform(double lo, double hi) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (double)(rng_state >> 11) / 9007199254740992.0;
}

typedef gc_node *(*build_fn)(gc_layer_context *c, gc_node *x);

static gc_node *bn1d(gc_layer_context *c, gc_node *x) { return gc_layer_batchnorm(c, "batchnorm1d", "bn", x, 1e-5, 0.1, true); }
static gc_node *bn2d(gc_layer_context *c, gc_node *x) { return gc_layer_batchnorm(c, "batchnorm2d", "bn", x, 1e-3, 0.3, true); }
static gc_node *bn2d_plain(gc_layer_context *c, gc_node *x) {
    return gc_layer_batchnorm(c, "batchnorm2d", "bn", x, 1e-5, 0.1, false);
}
static gc_node *gn3(gc_layer_context *c, gc_node *x) { return gc_layer_groupnorm(c, "gn", x, 3, 1e-5, true); }
static gc_node *gn_plain(gc_layer_context *c, gc_node *x) { return gc_layer_groupnorm(c, "gn", x, 2, 1e-5, false); }
static gc_node *gn_per_channel(gc_layer_context *c, gc_node *x) { return gc_layer_groupnorm(c, "gn", x, 4, 1e-5, true); }
static gc_node *rms(gc_layer_context *c, gc_node *x) { return gc_layer_rmsnorm(c, "rms", x, 1e-6, true); }
static gc_node *rms_plain(gc_layer_context *c, gc_node *x) { return gc_layer_rmsnorm(c, "rms", x, 1e-6, false); }

/* A value for a source: x and biases around 0, weights and variances around 1. */
static double draw(const gc_node *n) {
    if (strstr(n->name, "running_var") || strstr(n->name, "weight")) return uniform(0.5, 1.5);
    if (strstr(n->name, "num_batches_tracked")) return 3;
    return uniform(-1.0, 1.0);
}

/* y = build(x) with x a param, loss = sum(y * w), every gradient checked by finite differences on
 * the f64 interpreter; buffers get none. */
static void gradcheck_case(const char *name, build_fn build, bool training, int rank, ...) {
    int64_t dims[GC_MAX_RANK];
    va_list ap;
    va_start(ap, rank);
    for (int i = 0; i < rank; i++) dims[i] = va_arg(ap, int64_t);
    va_end(ap);
    gc_error err = {0};
    gc_graph *g = gc_graph_new(name);
    gc_layer_context c;
    gc_layer_context_init(&c, g, &err, training, 1);
    c.b.loc = (gc_loc){"norm.gm", 1, 1};
    gc_type tx = gc_type_make(GC_F32, rank, dims);
    gc_node *x = gc_graph_make(g, GC_OP_PARAM, NULL, 0, NULL, &tx, "x", c.b.loc, &err);
    gc_node *y = build(&c, x);
    if (!y) fail_msg("%s: %s", name, err.message);
    gc_node *w = gc_graph_make(g, GC_OP_INPUT, NULL, 0, NULL, &y->type, "w", c.b.loc, &err);
    gc_node *loss = gc_reduce(&c.b, GC_OP_SUM, gc_binary(&c.b, GC_OP_MUL, y, w), (1u << y->type.rank) - 1, false);
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "loss", loss, &err));
    if (!gc_autodiff(g, &err)) fail_msg("%s: autodiff: %s", name, err.message);
    if (!gc_graph_verify(g, &err)) fail_msg("%s: verify: %s", name, err.message);

    gc_interp *it = gc_interp_new(g, GC_INTERP_F64, &err);
    assert_non_null(it);
    rng_state = 12345 + strlen(name);
    int params = 0, buffers = 0;
    for (int i = 0; i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        if (!(gc_op_table[n->op].flags & GC_FLAG_NAMED)) continue;
        int64_t count = gc_type_numel(&n->type);
        double *v = malloc(sizeof *v * (size_t)count);
        assert_non_null(v);
        for (int64_t e = 0; e < count; e++) v[e] = draw(n);
        if (!gc_interp_set_f64(it, n->name, v, count, &err)) fail_msg("%s: set %s: %s", name, n->name, err.message);
        free(v);
        params += n->op == GC_OP_PARAM;
        if (n->op == GC_OP_BUFFER) {
            buffers++;
            if (gc_graph_find_output(g, GC_OUTPUT_GRAD, n->name)) fail_msg("%s: buffer %s has a gradient", name, n->name);
        }
    }
    int grads = 0;
    for (int i = 0; i < g->num_outputs; i++) grads += g->outputs[i].kind == GC_OUTPUT_GRAD;
    assert_int_equal(grads, params);
    if (strstr(name, "batchnorm")) assert_int_equal(buffers, 3);
    gc_gradcheck_options opts = {1e-6, 1e-6, 1e-5, 1000};
    gc_gradcheck_report report;
    if (!gc_gradcheck(it, g, &opts, &report, &err)) fail_msg("%s: gradcheck could not run: %s", name, err.message);
    if (report.failed)
        fail_msg("%s: %lld of %lld gradient elements off; worst %s[%lld]: analytic %.10g, numeric %.10g", name,
                 (long long)report.failed, (long long)report.checked, report.worst_param, (long long)report.worst_index,
                 report.worst_analytic, report.worst_numeric);
    assert_true(report.checked >= gc_type_numel(&tx));
    gc_interp_free(it);
    gc_graph_free(g);
}

static void test_gradients(void **state) {
    (void)state;
    gradcheck_case("batchnorm1d [N, C]", bn1d, true, 2, (int64_t)6, (int64_t)4);
    gradcheck_case("batchnorm1d [N, C, L]", bn1d, true, 3, (int64_t)3, (int64_t)4, (int64_t)5);
    gradcheck_case("batchnorm2d", bn2d, true, 4, (int64_t)2, (int64_t)3, (int64_t)2, (int64_t)3);
    gradcheck_case("batchnorm2d affine=false", bn2d_plain, true, 4, (int64_t)3, (int64_t)2, (int64_t)2, (int64_t)2);
    gradcheck_case("batchnorm2d eval", bn2d, false, 4, (int64_t)2, (int64_t)3, (int64_t)2, (int64_t)3);
    gradcheck_case("batchnorm1d eval affine=false", bn2d_plain, false, 4, (int64_t)2, (int64_t)3, (int64_t)2, (int64_t)1);
    gradcheck_case("groupnorm [N, C, L]", gn3, true, 3, (int64_t)2, (int64_t)6, (int64_t)5);
    gradcheck_case("groupnorm [N, C, H, W] affine=false", gn_plain, true, 4, (int64_t)2, (int64_t)4, (int64_t)2,
                   (int64_t)3);
    gradcheck_case("groupnorm one channel per group", gn_per_channel, true, 3, (int64_t)3, (int64_t)4, (int64_t)3);
    gradcheck_case("rmsnorm", rms, true, 2, (int64_t)3, (int64_t)7);
    gradcheck_case("rmsnorm [B, T, D] affine=false", rms_plain, true, 3, (int64_t)2, (int64_t)3, (int64_t)5);
}

/* ---- batch norm's statistics, directly ------------------------------------------------------- */

static const double *out(gc_interp *it, gc_output_kind kind, const char *name) {
    const double *v = gc_interp_output(it, kind, name);
    if (!v) fail_msg("no %s '%s'", gc_output_kind_name(kind), name);
    return v;
}

/* Training: y from the batch's statistics; the updates as torch's (unbiased var into running_var).
 * Called twice under one name, the second call sees the first's running statistics. Eval: y from
 * the running statistics, and no updates at all. */
static void test_batchnorm_statistics(void **state) {
    (void)state;
    enum { N = 4, C = 3, S = 2 }; /* x [N, C, S] */
    double x[N * C * S], x2[N * C * S], rm[C], rv[C], w[C], bias[C], tracked = 7;
    rng_state = 99;
    for (int i = 0; i < N * C * S; i++) x[i] = uniform(-2, 2), x2[i] = uniform(-1, 3);
    for (int c = 0; c < C; c++) rm[c] = uniform(-1, 1), rv[c] = uniform(0.5, 2), w[c] = uniform(0.5, 1.5), bias[c] = uniform(-1, 1);
    for (int training = 1; training >= 0; training--) {
        gc_error err = {0};
        gc_graph *g = gc_graph_new("bn");
        gc_layer_context ctx;
        gc_layer_context_init(&ctx, g, &err, training, 1);
        ctx.b.loc = (gc_loc){"bn.gm", 2, 5};
        int64_t d[3] = {N, C, S};
        gc_type t = gc_type_make(GC_F32, 3, d);
        gc_node *xn = gc_graph_make(g, GC_OP_INPUT, NULL, 0, NULL, &t, "x", ctx.b.loc, &err);
        gc_node *xn2 = gc_graph_make(g, GC_OP_INPUT, NULL, 0, NULL, &t, "x2", ctx.b.loc, &err);
        gc_node *y = gc_layer_batchnorm(&ctx, "batchnorm1d", "net.bn", xn, 1e-5, 0.25, true);
        gc_node *y2 = gc_layer_batchnorm(&ctx, "batchnorm1d", "net.bn", xn2, 1e-5, 0.25, true);
        assert_true(y && y2);
        assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "y", y, &err));
        assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "y2", y2, &err));
        if (!gc_graph_verify(g, &err)) fail_msg("verify: %s", err.message);
        int updates = 0;
        for (int i = 0; i < g->num_outputs; i++) updates += g->outputs[i].kind == GC_OUTPUT_UPDATE;
        assert_int_equal(updates, training ? 3 : 0);
        assert_non_null(gc_graph_find_named(g, GC_OP_BUFFER, "net.bn.num_batches_tracked"));
        assert_int_equal(gc_graph_find_named(g, GC_OP_BUFFER, "net.bn.num_batches_tracked")->type.dtype, GC_I32);

        gc_interp *it = gc_interp_new(g, GC_INTERP_F64, &err);
        assert_true(gc_interp_set_f64(it, "x", x, N * C * S, &err) && gc_interp_set_f64(it, "x2", x2, N * C * S, &err));
        assert_true(gc_interp_set_f64(it, "net.bn.running_mean", rm, C, &err));
        assert_true(gc_interp_set_f64(it, "net.bn.running_var", rv, C, &err));
        assert_true(gc_interp_set_f64(it, "net.bn.num_batches_tracked", &tracked, 1, &err));
        assert_true(gc_interp_set_f64(it, "net.bn.weight", w, C, &err) && gc_interp_set_f64(it, "net.bn.bias", bias, C, &err));
        if (!gc_interp_run(it, &err)) fail_msg("run: %s", err.message);
        double mean_run = 0;
        for (int c = 0; c < C; c++) {
            double run_mean = rm[c], run_var = rv[c];
            for (int pass = 0; pass < 2; pass++) {
                const double *xs = pass ? x2 : x;
                double mean = 0, var = 0;
                for (int n = 0; n < N; n++)
                    for (int s = 0; s < S; s++) mean += xs[(n * C + c) * S + s] / (N * S);
                for (int n = 0; n < N; n++)
                    for (int s = 0; s < S; s++) var += pow(xs[(n * C + c) * S + s] - mean, 2) / (N * S);
                const double *got = out(it, GC_OUTPUT_VALUE, pass ? "y2" : "y");
                for (int n = 0; n < N; n++) {
                    for (int s = 0; s < S; s++) {
                        int i = (n * C + c) * S + s;
                        double want = training ? (xs[i] - mean) / sqrt(var + 1e-5) * w[c] + bias[c]
                                                : (xs[i] - rm[c]) / sqrt(rv[c] + 1e-5) * w[c] + bias[c];
                        if (fabs(got[i] - want) > 1e-12) fail_msg("y%s[%d]: %.15g, want %.15g", pass ? "2" : "", i, got[i], want);
                    }
                }
                run_mean = 0.75 * run_mean + 0.25 * mean;
                run_var = 0.75 * run_var + 0.25 * var * (N * S) / (N * S - 1);
            }
            if (!training) continue;
            double got_mean = out(it, GC_OUTPUT_UPDATE, "net.bn.running_mean")[c];
            double got_var = out(it, GC_OUTPUT_UPDATE, "net.bn.running_var")[c];
            if (fabs(got_mean - run_mean) > 1e-12 || fabs(got_var - run_var) > 1e-12)
                fail_msg("channel %d: running mean %.15g var %.15g, want %.15g %.15g", c, got_mean, got_var, run_mean,
                         run_var);
            mean_run += got_mean;
        }
        if (training) {
            assert_true(out(it, GC_OUTPUT_UPDATE, "net.bn.num_batches_tracked")[0] == tracked + 2);
            assert_true(gc_interp_apply_updates(it, &err));
            assert_true(gc_interp_source(it, "net.bn.num_batches_tracked")[0] == tracked + 2);
            double sum = 0;
            for (int c = 0; c < C; c++) sum += gc_interp_source(it, "net.bn.running_mean")[c];
            assert_true(fabs(sum - mean_run) < 1e-12);
        }
        gc_interp_free(it);
        gc_graph_free(g);
    }
}

/* ---- errors at the call ---------------------------------------------------------------------- */

static void expect_error(const char *src, int line, int col, const char *want) {
    gc_error err = {0};
    gc_lowered_model lm;
    memset(&lm, 0, sizeof lm);
    gc_arena *arena = gc_arena_new();
    gc_ast_module *m = gc_frontend_parse(src, strlen(src), "model.gm", arena, &err);
    int ok = m && gc_frontend_check(m, NULL, 0, &err) && gc_lower_model(m, true, &lm, &err);
    gc_arena_free(arena);
    if (ok) {
        gc_lowered_model_free(&lm);
        fail_msg("expected an error at %d:%d in\n%s", line, col, src);
    }
    assert_int_equal(err.code, GC_ERR_USER);
    if (err.line != line || err.col != col || !strstr(err.message, want))
        fail_msg("got %d:%d: %s\nwant %d:%d: ...%s...", err.line, err.col, err.message, line, col, want);
}

static void test_errors(void **state) {
    (void)state;
    expect_error("input x: f32[4, 8]\ninput y: f32[4, 8]\nh = batchnorm2d(x) as bn\nloss = mse_loss(h, y)\n", 3, 5,
                 "batchnorm2d: expects an f32 input [N, C, H, W], got f32[4, 8]");
    expect_error("input x: f32[4, 2, 2, 2]\ninput y: f32[4, 2, 2, 2]\nh = batchnorm1d(x)\nloss = mse_loss(h, y)\n", 3, 5,
                 "batchnorm1d: expects an f32 input [N, C] or [N, C, L], got f32[4, 2, 2, 2]");
    expect_error("input x: f32[2, 6, 5]\ninput y: f32[2, 6, 5]\nh = groupnorm(x, 4) as gn\nloss = mse_loss(h, y)\n", 3,
                 5, "groupnorm: 6 channels of input f32[2, 6, 5] are not divisible by 4 groups");
    expect_error("input x: f32[2, 6, 5]\ninput y: f32[2, 6, 5]\nh = groupnorm(x, 0) as gn\nloss = mse_loss(h, y)\n", 3,
                 18, "groupnorm: argument 'groups' must be at least 1, got 0");
    expect_error("input x: f32[6]\ninput y: f32[6]\nh = groupnorm(x, 2) as gn\nloss = mse_loss(h, y)\n", 3, 5,
                 "groupnorm: expects an f32 input [N, C, *], got f32[6]");
    expect_error("input x: f32[2, 4]\ninput z: f32[2, 3, 2, 2]\nh = batchnorm1d(x) as bn\ng = batchnorm2d(z) as bn\n"
                 "loss = sum(h) + sum(g)\n",
                 4, 5, "buffer 'bn.running_mean' is batchnorm2d f32[3] here but was created as batchnorm1d f32[4] at line 3");
}

/* ---- the trainer ----------------------------------------------------------------------------- */

static const char *model_text = "input x: f32[4, 3]\n"
                                "input t: f32[4, 3]\n"
                                "h = batchnorm1d(x, momentum=0.5) as bn\n"
                                "output normed = h\n"
                                "loss = mse_loss(h, t)\n"
                                "train {\n    optimizer = sgd(lr=0.1, weight_decay=0.5)\n}\n";

static gc_trainer *trainer(gc_backend backend) {
    gc_error err = {0};
    gc_model *m = gc_model_load_string(model_text, "bn.gm", &err);
    assert_non_null(m);
    gc_options opts = {0};
    opts.backend = backend;
    opts.threads = 1;
    gc_trainer *t = gc_trainer_new(m, &opts, &err);
    gc_model_free(m);
    if (!t) fail_msg("trainer: %s", err.message);
    float x[12], target[12];
    for (int i = 0; i < 12; i++) x[i] = (float)(i % 5) - 1.5f * (float)(i % 3), target[i] = 0.25f * (float)i;
    assert_true(gc_trainer_set_input(t, "x", x, sizeof x, &err) && gc_trainer_set_input(t, "t", target, sizeof target, &err));
    return t;
}

static void *buffer(gc_trainer *t, const char *name, gc_dtype dtype) {
    gc_tensor v;
    gc_error err = {0};
    if (!gc_trainer_buffer(t, name, &v, &err)) fail_msg("%s", err.message);
    assert_int_equal(v.dtype, dtype);
    return v.data;
}

static void *param(gc_trainer *t, const char *name) {
    gc_tensor v;
    gc_error err = {0};
    if (!gc_trainer_param(t, name, &v, &err)) fail_msg("%s", err.message);
    return v.data;
}

/* A checkpoint of t's params and buffers with num_batches_tracked as `dtype` holding `value`. */
static void write_checkpoint(gc_trainer *t, const char *path, gc_st_dtype dtype, double value) {
    gc_error err = {0};
    gc_safetensors *st = gc_safetensors_new(&err);
    const char *names[] = {"bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"};
    for (int i = 0; i < 4; i++) {
        float *data = i < 2 ? param(t, names[i]) : buffer(t, names[i], GC_F32);
        int64_t three = 3;
        assert_true(gc_safetensors_add(st, names[i], GC_ST_F32, 1, &three, data, &err));
    }
    union {
        int32_t i32;
        int64_t i64;
        float f32;
        double f64;
    } v;
    if (dtype == GC_ST_I32) v.i32 = (int32_t)value;
    if (dtype == GC_ST_I64) v.i64 = (int64_t)value;
    if (dtype == GC_ST_F32) v.f32 = (float)value;
    if (dtype == GC_ST_F64) v.f64 = value;
    assert_true(gc_safetensors_add(st, "bn.num_batches_tracked", dtype, 0, NULL, &v, &err));
    assert_true(gc_safetensors_save(st, path, &err));
    gc_safetensors_free(st);
}

static void test_trainer_buffers(void **state) {
    (void)state;
    for (int backend = 0; backend < 2; backend++) {
        gc_backend which = backend ? GC_BACKEND_JIT : GC_BACKEND_INTERP;
        if (!gc_backend_available(which)) continue;
        gc_trainer *t = trainer(which);
        gc_error err = {0};
        const char *name;
        const char *want_names[] = {"bn.running_mean", "bn.running_var", "bn.num_batches_tracked"};
        for (int k = 0; k < 3; k++) {
            assert_true(gc_trainer_buffer_name(t, k, &name));
            assert_string_equal(name, want_names[k]);
        }
        assert_false(gc_trainer_buffer_name(t, 3, &name));
        assert_false(gc_trainer_param(t, "bn.running_mean", &(gc_tensor){0}, &err)); /* a buffer is no param */
        gc_memory_report mem;
        gc_trainer_memory(t, false, &mem);
        assert_int_equal(mem.buffers, 3 * 4 + 3 * 4 + 4);
        assert_int_equal(mem.parameters, 6 * 4);
        /* torch's initial values */
        float *rm = buffer(t, "bn.running_mean", GC_F32), *rv = buffer(t, "bn.running_var", GC_F32);
        int32_t *tracked = buffer(t, "bn.num_batches_tracked", GC_I32);
        for (int c = 0; c < 3; c++) assert_true(rm[c] == 0.0f && rv[c] == 1.0f);
        assert_int_equal(*tracked, 0);

        float loss;
        assert_true(gc_trainer_step(t, &loss, &err) && gc_trainer_step(t, &loss, &err));
        assert_int_equal(*tracked, 2);
        /* x's column means are fixed, so two momentum-0.5 updates leave 3/4 of them. */
        float x[12];
        for (int i = 0; i < 12; i++) x[i] = (float)(i % 5) - 1.5f * (float)(i % 3);
        for (int c = 0; c < 3; c++) {
            double mean = (x[c] + x[3 + c] + x[6 + c] + x[9 + c]) / 4.0;
            if (fabs(rm[c] - 0.75 * mean) > 1e-5) fail_msg("running_mean[%d] %g, want %g", c, rm[c], 0.75 * mean);
        }

        /* Eval normalises with the running statistics. */
        for (int c = 0; c < 3; c++) rm[c] = 0.5f, rv[c] = 4.0f;
        float *w = param(t, "bn.weight"), *b = param(t, "bn.bias");
        assert_true(gc_trainer_eval(t, &loss, &err));
        gc_tensor normed;
        assert_true(gc_trainer_output(t, "normed", &normed, &err));
        for (int i = 0; i < 12; i++) {
            double want = (x[i] - 0.5) / sqrt(4.0 + 1e-5) * w[i % 3] + b[i % 3];
            if (fabs(((float *)normed.data)[i] - want) > 1e-5) fail_msg("eval [%d]: %g, want %g", i, ((float *)normed.data)[i], want);
        }
        assert_int_equal(*tracked, 2); /* evals update nothing */

        /* Saved as torch's dtypes; no optimizer state for buffers. */
        char path[] = "/tmp/gc_norm_XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        close(fd);
        assert_true(gc_trainer_save(t, path, &err));
        gc_safetensors *st = gc_safetensors_load(path, &err);
        assert_non_null(st);
        const gc_st_tensor *nbt = gc_safetensors_find(st, "bn.num_batches_tracked");
        assert_non_null(nbt);
        assert_int_equal(nbt->dtype, GC_ST_I64);
        assert_int_equal(nbt->rank, 0);
        assert_int_equal(*(const int64_t *)nbt->data, 2);
        assert_int_equal(gc_safetensors_find(st, "bn.running_var")->dtype, GC_ST_F32);
        for (int i = 0; i < st->num_tensors; i++)
            if (strstr(st->tensors[i].name, "optimizer.bn.running") || strstr(st->tensors[i].name, "optimizer.bn.num"))
                fail_msg("optimizer state for a buffer: %s", st->tensors[i].name);
        gc_safetensors_free(st);

        /* Loaded back from each dtype torch users write. */
        const gc_st_dtype dtypes[] = {GC_ST_I32, GC_ST_I64, GC_ST_F32, GC_ST_F64};
        for (int k = 0; k < 4; k++) {
            rm[0] = 0.125f;
            write_checkpoint(t, path, dtypes[k], 40 + k);
            rm[0] = 9.0f;
            if (!gc_trainer_load_params(t, path, &err)) fail_msg("%s: %s", gc_st_dtype_name(dtypes[k]), err.message);
            assert_int_equal(*tracked, 40 + k);
            assert_true(rm[0] == 0.125f);
        }
        assert_true(gc_trainer_step(t, &loss, &err));
        assert_int_equal(*tracked, 44);
        /* A count that is no i32 is refused, and nothing changes. */
        write_checkpoint(t, path, GC_ST_F32, 2.5);
        assert_false(gc_trainer_load_params(t, path, &err));
        assert_non_null(strstr(err.message, "bn.num_batches_tracked"));
        assert_non_null(strstr(err.message, "not an i32"));
        write_checkpoint(t, path, GC_ST_I64, 1e12);
        assert_false(gc_trainer_load(t, path, &err));
        assert_int_equal(*tracked, 44);
        /* A checkpoint without the buffers is incomplete, as for load_state_dict(strict=True). */
        gc_safetensors *params_only = gc_safetensors_new(&err);
        int64_t three = 3;
        assert_true(gc_safetensors_add(params_only, "bn.weight", GC_ST_F32, 1, &three, w, &err));
        assert_true(gc_safetensors_add(params_only, "bn.bias", GC_ST_F32, 1, &three, b, &err));
        assert_true(gc_safetensors_save(params_only, path, &err));
        gc_safetensors_free(params_only);
        assert_false(gc_trainer_load_params(t, path, &err));
        assert_non_null(strstr(err.message, "bn.running_mean"));
        unlink(path);
        gc_trainer_free(t);
    }
}

/* One value per channel: torch refuses it in train() mode only, so the model compiles (an eval or
 * a sampler with batch 1 works) and every training step fails, located at the call. */
static void test_one_value_per_channel(void **state) {
    (void)state;
    gc_error err = {0};
    gc_model *m = gc_model_load_string("input x: f32[1, 3]\ninput y: f32[1, 3]\nh = batchnorm1d(x) as bn\n"
                                       "loss = mse_loss(h, y)\n",
                                       "one.gm", &err);
    gc_options opts = {0};
    opts.backend = GC_BACKEND_INTERP;
    gc_trainer *t = gc_trainer_new(m, &opts, &err);
    gc_model_free(m);
    if (!t) fail_msg("%s", err.message);
    float x[3] = {1, 2, 3}, y[3] = {0, 0, 0}, loss;
    assert_true(gc_trainer_set_input(t, "x", x, sizeof x, &err) && gc_trainer_set_input(t, "y", y, sizeof y, &err));
    float *rm = buffer(t, "bn.running_mean", GC_F32);
    for (int c = 0; c < 3; c++) rm[c] = 1.0f;
    assert_true(gc_trainer_eval(t, &loss, &err));
    /* (x - 1) / sqrt(1 + 1e-5): 0, 1, 2 squared, averaged */
    assert_true(fabs(loss - 5.0 / 3.0 / (1.0 + 1e-5)) < 1e-5);
    assert_false(gc_trainer_step(t, &loss, &err));
    assert_int_equal(err.code, GC_ERR_USER);
    assert_int_equal(err.line, 3);
    assert_int_equal(err.col, 5);
    assert_non_null(strstr(err.message, "batchnorm1d: expected more than 1 value per channel when training, got input f32[1, 3]"));
    assert_int_equal(gc_trainer_steps(t), 0);
    gc_trainer_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradients),
        cmocka_unit_test(test_batchnorm_statistics),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_trainer_buffers),
        cmocka_unit_test(test_one_value_per_channel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
