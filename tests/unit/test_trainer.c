/*
 * test_trainer.c: the public C API (include/gradc/gradc.h) on the interpreter backend: a model
 * trains, evaluates, saves and resumes bit-identically; every caller mistake is an error value.
 * The JIT backend, whose updates run in place (passes/plan.h), trains AdamW as the interpreter
 * does, and a dropped step leaves its params and optimizer state bit for bit as they were.
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

#include "runtime/safetensors.h"

static const char *mlp =
    "const batch = 4\n"
    "input x: f32[batch, 3]\n"
    "input y: i32[batch]\n"
    "logits = linear(relu(linear(x, 8) as fc1), 2) as fc2\n"
    "loss = cross_entropy(logits, y)\n"
    "output accuracy = accuracy(logits, y)\n"
    "train {\n"
    "    optimizer = adam(lr=0.01)\n"
    "    seed = 5\n"
    "}\n";

static const float xs[12] = {0.5f, -1, 2, 1, 0.25f, -0.5f, -2, 1, 0, 0.75f, 0.5f, -1};
static const int32_t ys[4] = {1, 0, 1, 0};

static gc_trainer *make(const char *text) {
    gc_error err = {0};
    gc_model *m = gc_model_load_string(text, "test.gm", &err);
    if (!m) fail_msg("load: %s", err.message);
    gc_options o = {GC_BACKEND_INTERP, 1, 0, 0};
    gc_trainer *t = gc_trainer_new(m, &o, &err);
    gc_model_free(m);
    if (!t) fail_msg("trainer: %s:%d:%d: %s", err.file, err.line, err.col, err.message);
    assert_true(gc_trainer_set_input(t, "x", xs, sizeof xs, &err));
    assert_true(gc_trainer_set_input(t, "y", ys, sizeof ys, &err));
    return t;
}

static void trains_and_evaluates(void **s) {
    (void)s;
    gc_error err = {0};
    gc_trainer *t = make(mlp);
    float first = 0, loss = 0, eval = 0;
    assert_true(gc_trainer_step(t, &first, &err));
    for (int i = 0; i < 30; i++) assert_true(gc_trainer_step(t, &loss, &err));
    assert_true(loss < first * 0.5f);
    assert_int_equal(gc_trainer_steps(t), 31);
    gc_tensor acc;
    assert_true(gc_trainer_output(t, "accuracy", &acc, &err));
    assert_int_equal(acc.rank, 0);
    assert_true(gc_trainer_eval(t, &eval, &err));
    assert_true(isfinite(eval));
    /* eval is forward only: running it twice changes nothing */
    float again = 0;
    assert_true(gc_trainer_eval(t, &again, &err));
    assert_true(again == eval);
    const char *name;
    assert_true(gc_trainer_param_name(t, 0, &name));
    assert_string_equal(name, "fc1.weight");
    assert_true(gc_trainer_input_info(t, 1, &name, &acc));
    assert_string_equal(name, "y");
    assert_int_equal(acc.dtype, GC_I32);
    assert_false(gc_trainer_input_info(t, 2, &name, &acc));
    gc_trainer_free(t);
}

/* Three steps, save, three more == the same state loaded into a fresh trainer, three more. */
static void resume_is_bit_identical(void **s) {
    (void)s;
    gc_error err = {0};
    char path[] = "/tmp/gc_test_trainerXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    gc_trainer *a = make(mlp);
    float la = 0, lb = 0;
    for (int i = 0; i < 3; i++) assert_true(gc_trainer_step(a, &la, &err));
    assert_true(gc_trainer_save(a, path, &err));
    for (int i = 0; i < 3; i++) assert_true(gc_trainer_step(a, &la, &err));
    gc_trainer *b = make(mlp);
    assert_true(gc_trainer_load(b, path, &err));
    assert_int_equal(gc_trainer_steps(b), 3);
    for (int i = 0; i < 3; i++) assert_true(gc_trainer_step(b, &lb, &err));
    assert_memory_equal(&la, &lb, sizeof la);
    gc_tensor pa, pb;
    assert_true(gc_trainer_param(a, "fc2.weight", &pa, &err));
    assert_true(gc_trainer_param(b, "fc2.weight", &pb, &err));
    assert_memory_equal(pa.data, pb.data, 16 * sizeof(float));
    /* --init style: parameters only, the step stays 0 */
    gc_trainer *c = make(mlp);
    assert_true(gc_trainer_load_params(c, path, &err));
    assert_int_equal(gc_trainer_steps(c), 0);
    gc_trainer_free(a);
    gc_trainer_free(b);
    gc_trainer_free(c);
    unlink(path);
}

/* A view written by the caller is what the next step trains from. */
static void param_views_write_through(void **s) {
    (void)s;
    gc_error err = {0};
    gc_trainer *t = make(mlp);
    gc_tensor w;
    assert_true(gc_trainer_param(t, "fc1.bias", &w, &err));
    assert_int_equal(w.shape[0], 8);
    for (int i = 0; i < 8; i++) ((float *)w.data)[i] = 1000.0f;
    float before = 0;
    assert_true(gc_trainer_eval(t, &before, &err));
    gc_trainer *u = make(mlp);
    float fresh = 0;
    assert_true(gc_trainer_eval(u, &fresh, &err));
    assert_true(before != fresh);
    gc_trainer_free(t);
    gc_trainer_free(u);
}

static void caller_mistakes_are_errors(void **s) {
    (void)s;
    gc_error err = {0};
    assert_null(gc_model_load("/nonexistent/model.gm", &err));
    assert_int_equal(err.code, GC_ERR_IO);
    assert_null(gc_model_load_string(NULL, "x.gm", &err));
    assert_null(gc_trainer_new(NULL, NULL, &err));
    assert_false(gc_trainer_step(NULL, NULL, &err));
    assert_false(gc_model_set_const(NULL, "a", 1, &err));

    gc_model *bad = gc_model_load_string("input x: f32[2]\nloss = sum(x +)\n", "bad.gm", &err);
    assert_non_null(bad);
    assert_null(gc_trainer_new(bad, NULL, &err));
    assert_int_equal(err.code, GC_ERR_USER);
    assert_string_equal(err.file, "bad.gm");
    assert_int_equal(err.line, 2);
    gc_model_free(bad);

    gc_trainer *t = make(mlp);
    gc_tensor v;
    assert_false(gc_trainer_output(t, "accuracy", &v, &err)); /* nothing has run yet */
    assert_false(gc_trainer_set_input(t, "nope", xs, sizeof xs, &err));
    assert_non_null(strstr(err.message, "no input 'nope'"));
    assert_false(gc_trainer_set_input(t, "x", xs, sizeof xs - 4, &err));
    assert_non_null(strstr(err.message, "f32[4, 3]"));
    assert_false(gc_trainer_set_input(t, "x", NULL, 4, &err));
    assert_false(gc_trainer_param(t, "fc9.weight", &v, &err));
    assert_null(gc_trainer_ir(t, "no-such-stage"));
    char *text = gc_trainer_ir(t, "grad");
    assert_non_null(text);
    assert_non_null(strstr(text, "grad \"fc1.weight\""));
    free(text);
    assert_false(gc_trainer_load(t, "/nonexistent.safetensors", &err));
    gc_trainer_free(t);
}

/* A checkpoint whose names or shapes do not match is refused with the names listed, and the
 * trainer keeps its parameters. */
static void mismatched_checkpoints_are_listed(void **s) {
    (void)s;
    gc_error err = {0};
    char path[] = "/tmp/gc_test_ckptXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    gc_safetensors *st = gc_safetensors_new(&err);
    float w[24] = {0};
    gc_tensor t1 = {GC_F32, 2, {8, 3}, w};
    gc_tensor t2 = {GC_F32, 1, {3}, w};
    assert_true(gc_safetensors_add_tensor(st, "fc1.weight", &t1, &err));
    assert_true(gc_safetensors_add_tensor(st, "head.bias", &t2, &err));
    assert_true(gc_safetensors_save(st, path, &err));
    gc_safetensors_free(st);
    gc_trainer *t = make(mlp);
    gc_tensor before;
    assert_true(gc_trainer_param(t, "fc1.weight", &before, &err));
    float kept = ((float *)before.data)[0];
    assert_false(gc_trainer_load_params(t, path, &err));
    assert_non_null(strstr(err.message, "head.bias"));
    assert_true(((float *)before.data)[0] == kept);

    st = gc_safetensors_new(&err);
    assert_true(gc_safetensors_add_tensor(st, "fc1.weight", &t1, &err));
    assert_true(gc_safetensors_save(st, path, &err));
    gc_safetensors_free(st);
    assert_false(gc_trainer_load_params(t, path, &err));
    assert_non_null(strstr(err.message, "fc2.weight"));
    assert_true(((float *)before.data)[0] == kept); /* fc1.weight was valid but the load is all or nothing */
    gc_trainer_free(t);
    unlink(path);
}

/* A NaN loss stops the step with GC_ERR_NUMERIC naming it and the parameters stay as they were;
 * with skip_nonfinite the update is skipped, the step counts, and the call succeeds. */
static void nonfinite_loss_is_reported_and_not_applied(void **s) {
    (void)s;
    const char *model =
        "input x: f32[2, 3]\n"
        "loss = mean(log(linear(x, 1) as fc))\n";
    for (int skip = 0; skip < 2; skip++) {
        gc_error err = {0};
        gc_model *m = gc_model_load_string(model, "nan.gm", &err);
        gc_options o = {GC_BACKEND_INTERP, 1, skip, 0};
        gc_trainer *t = gc_trainer_new(m, &o, &err);
        gc_model_free(m);
        assert_non_null(t);
        float x[6] = {-100, -100, -100, -100, -100, -100};
        gc_tensor w;
        assert_true(gc_trainer_param(t, "fc.weight", &w, &err));
        for (int i = 0; i < 3; i++) ((float *)w.data)[i] = 1.0f;
        assert_true(gc_trainer_set_input(t, "x", x, sizeof x, &err));
        float loss = 0;
        assert_int_equal(gc_trainer_step(t, &loss, &err), skip);
        if (!skip) {
            assert_int_equal(err.code, GC_ERR_NUMERIC);
            assert_non_null(strstr(err.message, "step 1"));
        }
        assert_true(isnan(loss));
        assert_int_equal(gc_trainer_steps(t), skip);
        assert_true(((float *)w.data)[0] == 1.0f);
        gc_trainer_free(t);
    }
}

/* A parameter the loss does not depend on is reported (located), and training still works. */
static void unreached_parameters_are_warned(void **s) {
    (void)s;
    const char *model =
        "input x: f32[2, 3]\n"
        "unused = linear(x, 4) as side\n"
        "loss = mean(linear(x, 1) as fc)\n"
        "output side_mean = mean(unused)\n";
    gc_error err = {0};
    gc_model *m = gc_model_load_string(model, "warn.gm", &err);
    gc_options o = {GC_BACKEND_INTERP, 1, 0, 0};
    gc_trainer *t = gc_trainer_new(m, &o, &err);
    gc_model_free(m);
    assert_non_null(t);
    const char *w = NULL;
    assert_true(gc_trainer_warning(t, 0, &w));
    assert_non_null(strstr(w, "warn.gm:2:"));
    assert_non_null(strstr(w, "'side.weight' does not reach the loss"));
    assert_true(gc_trainer_warning(t, 1, &w));
    assert_non_null(strstr(w, "'side.bias'"));
    assert_false(gc_trainer_warning(t, 2, &w));
    float loss;
    assert_true(gc_trainer_step(t, &loss, &err));
    gc_trainer_free(t);
}


static const char *adamw_mlp =
    "const batch = 4\n"
    "input x: f32[batch, 3]\n"
    "input y: i32[batch]\n"
    "logits = linear(relu(linear(x, 8) as fc1), 2) as fc2\n"
    "loss = cross_entropy(logits, y)\n"
    "train {\n"
    "    optimizer = adamw(lr=0.01, weight_decay=0.1)\n"
    "    seed = 5\n"
    "}\n";

static gc_trainer *make_on(const char *text, gc_backend backend, int skip) {
    gc_error err = {0};
    gc_model *m = gc_model_load_string(text, "test.gm", &err);
    if (!m) fail_msg("load: %s", err.message);
    gc_options o = {backend, 1, skip, 0};
    gc_trainer *t = gc_trainer_new(m, &o, &err);
    gc_model_free(m);
    if (!t) fail_msg("trainer: %s", err.message);
    return t;
}

/* The trainer's params and optimizer state, through a checkpoint. */
static gc_safetensors *snapshot(gc_trainer *t) {
    gc_error err = {0};
    char path[] = "/tmp/gc_test_snapXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    if (!gc_trainer_save(t, path, &err)) fail_msg("save: %s", err.message);
    gc_safetensors *st = gc_safetensors_load(path, &err);
    unlink(path);
    if (!st) fail_msg("load: %s", err.message);
    return st;
}

/* Every tensor of a in b with the same shape; values within tol (0: the same bits). Returns
 * how many optimizer tensors there were. */
static int compare_snapshots(const gc_safetensors *a, const gc_safetensors *b, double tol) {
    int state = 0;
    assert_int_equal(a->num_tensors, b->num_tensors);
    for (int i = 0; i < a->num_tensors; i++) {
        const gc_st_tensor *x = &a->tensors[i], *y = gc_safetensors_find(b, x->name);
        if (!y) fail_msg("%s is missing", x->name);
        assert_int_equal(x->dtype, y->dtype);
        assert_int_equal(x->nbytes, y->nbytes);
        state += !strncmp(x->name, "optimizer.", 10);
        if (tol == 0) {
            if (memcmp(x->data, y->data, x->nbytes)) fail_msg("%s changed", x->name);
            continue;
        }
        assert_int_equal(x->dtype, GC_ST_F32);
        for (size_t k = 0; k < x->nbytes / 4; k++) {
            double u = ((const float *)x->data)[k], v = ((const float *)y->data)[k];
            if (fabs(u - v) > tol * (1 + fabs(u))) fail_msg("%s[%zu]: %.9g vs %.9g", x->name, k, u, v);
        }
    }
    return state;
}

/* AdamW on the JIT (updates in place) and on the interpreter, from the same parameters: the
 * same losses step by step, and the same params, moments and step count after. */
static void jit_adamw_matches_interpreter(void **s) {
    (void)s;
    if (!gc_backend_available(GC_BACKEND_JIT)) skip();
    gc_error err = {0};
    gc_trainer *t[2] = {make_on(adamw_mlp, GC_BACKEND_INTERP, 0), make_on(adamw_mlp, GC_BACKEND_JIT, 0)};
    const char *name;
    for (int p = 0; gc_trainer_param_name(t[0], p, &name); p++) {
        gc_tensor a, b;
        assert_true(gc_trainer_param(t[0], name, &a, &err));
        assert_true(gc_trainer_param(t[1], name, &b, &err));
        int64_t count = 1;
        for (int d = 0; d < a.rank; d++) count *= a.shape[d];
        memcpy(b.data, a.data, (size_t)count * sizeof(float));
    }
    for (int i = 0; i < 2; i++) {
        assert_true(gc_trainer_set_input(t[i], "x", xs, sizeof xs, &err));
        assert_true(gc_trainer_set_input(t[i], "y", ys, sizeof ys, &err));
    }
    float first = 0;
    for (int step = 0; step < 6; step++) {
        float loss[2];
        for (int i = 0; i < 2; i++) assert_true(gc_trainer_step(t[i], &loss[i], &err));
        if (fabsf(loss[0] - loss[1]) > 1e-4f * (1 + fabsf(loss[0])))
            fail_msg("step %d: loss %.9g (interpreter) vs %.9g (JIT)", step, loss[0], loss[1]);
        if (step == 0) first = loss[1];
        else assert_true(loss[1] != first); /* the updates reached the params */
    }
    gc_safetensors *a = snapshot(t[0]), *b = snapshot(t[1]);
    assert_int_equal(compare_snapshots(a, b, 1e-4), 4 * 2 + 1);
    gc_safetensors_free(a);
    gc_safetensors_free(b);
    gc_trainer_free(t[0]);
    gc_trainer_free(t[1]);
}

/* On the JIT, where AdamW writes params and moments in place: a step with a NaN loss and
 * skip_nonfinite leaves every param and every optimizer tensor bit for bit as it was, and the
 * next good step trains on. */
static void jit_dropped_step_changes_nothing(void **s) {
    (void)s;
    if (!gc_backend_available(GC_BACKEND_JIT)) skip();
    const char *model =
        "input x: f32[2, 3]\n"
        "loss = mean(log(linear(x, 1) as fc))\n"
        "train {\n"
        "    optimizer = adamw(lr=0.01, weight_decay=0.1)\n"
        "}\n";
    gc_error err = {0};
    gc_trainer *t = make_on(model, GC_BACKEND_JIT, 1);
    gc_tensor w;
    assert_true(gc_trainer_param(t, "fc.weight", &w, &err));
    for (int i = 0; i < 3; i++) ((float *)w.data)[i] = 1.0f;
    float good[6] = {1, 2, 1, 2, 1, 2}, bad[6] = {-100, -100, -100, -100, -100, -100}, loss = 0;
    assert_true(gc_trainer_set_input(t, "x", good, sizeof good, &err));
    for (int i = 0; i < 2; i++) assert_true(gc_trainer_step(t, &loss, &err));
    assert_true(isfinite(loss));
    gc_safetensors *before = snapshot(t);
    assert_true(gc_trainer_set_input(t, "x", bad, sizeof bad, &err));
    assert_true(gc_trainer_step(t, &loss, &err));
    assert_true(isnan(loss));
    assert_int_equal(gc_trainer_steps(t), 3);
    gc_safetensors *after = snapshot(t);
    assert_int_equal(compare_snapshots(before, after, 0), 2 * 2 + 1); /* weight, bias: 2 moments; step */
    gc_safetensors_free(after);
    /* Training goes on from there: the next good step changes the params. */
    assert_true(gc_trainer_set_input(t, "x", good, sizeof good, &err));
    assert_true(gc_trainer_step(t, &loss, &err));
    assert_true(isfinite(loss));
    after = snapshot(t);
    const gc_st_tensor *a = gc_safetensors_find(before, "fc.weight"), *b = gc_safetensors_find(after, "fc.weight");
    assert_non_null(a);
    assert_non_null(b);
    assert_true(memcmp(a->data, b->data, a->nbytes) != 0);
    gc_safetensors_free(before);
    gc_safetensors_free(after);
    gc_trainer_free(t);
}

/* gc_options.profile: the JIT times its kernels from the second step on; without it, on the
 * interpreter, or for NULL there is no profile to report. */
static void profiles_jit_kernels(void **s) {
    (void)s;
    gc_error err = {0};
    assert_null(gc_trainer_profile(NULL, 0, &err));
    assert_int_equal(err.code, GC_ERR_USER);
    gc_trainer *plain = make(mlp);
    assert_null(gc_trainer_profile(plain, 0, &err));
    assert_int_equal(err.code, GC_ERR_USER);
    gc_trainer_free(plain);
    if (!gc_backend_available(GC_BACKEND_JIT)) skip();
    gc_model *m = gc_model_load_string(mlp, "test.gm", &err);
    assert_non_null(m);
    gc_options o = {GC_BACKEND_JIT, 2, 0, 1};
    gc_trainer *t = gc_trainer_new(m, &o, &err);
    gc_model_free(m);
    if (!t) fail_msg("trainer: %s", err.message);
    assert_true(gc_trainer_set_input(t, "x", xs, sizeof xs, &err));
    assert_true(gc_trainer_set_input(t, "y", ys, sizeof ys, &err));
    float loss;
    for (int i = 0; i < 4; i++) assert_true(gc_trainer_step(t, &loss, &err));
    char *text = gc_trainer_profile(t, 2, &err);
    if (!text) fail_msg("gc_trainer_profile: %s", err.message);
    if (!strstr(text, "profile: 3 steps, ") || !strstr(text, "kernels by time (2 of ") || !strstr(text, "by kind ("))
        fail_msg("profile:\n%s", text);
    /* A kernel line: ms a step, share, calls a step, %root, ops, result type, source. */
    if (!strstr(text, "%") || !strstr(text, " f32[") || !strstr(text, "test.gm:")) fail_msg("profile:\n%s", text);
    free(text);
    gc_trainer_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(trains_and_evaluates),
        cmocka_unit_test(resume_is_bit_identical),
        cmocka_unit_test(param_views_write_through),
        cmocka_unit_test(caller_mistakes_are_errors),
        cmocka_unit_test(mismatched_checkpoints_are_listed),
        cmocka_unit_test(nonfinite_loss_is_reported_and_not_applied),
        cmocka_unit_test(unreached_parameters_are_warned),
        cmocka_unit_test(jit_adamw_matches_interpreter),
        cmocka_unit_test(jit_dropped_step_changes_nothing),
        cmocka_unit_test(profiles_jit_kernels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
