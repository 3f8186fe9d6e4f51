/*
 * test_train_optimizers.c: the wave 2 optimizers, schedules, freeze, lr_scale and gradient
 * accumulation through the public C API, on both backends. tests/unit/test_optimizer.c checks
 * each update rule against torch.optim on the interpreter; here, for every optimizer and the
 * options that add state, the JIT (updates in place) trains as the interpreter does, and on each
 * backend k steps, a checkpoint, a fresh trainer loading it and N - k more steps end bit for bit
 * where N steps in one go end. Freeze, lr_scale and accumulation are checked for what the C API
 * shows: frozen params keep their bits and have no state, an lr_scale of 0 stops a param, and an
 * update accumulated over two half batches is the update of the whole batch.
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

/* Four batches of four examples, fed in turn (a micro-batch each with accumulation). */
static const float xs[4][12] = {
    {0.5f, -1, 2, 1, 0.25f, -0.5f, -2, 1, 0, 0.75f, 0.5f, -1},
    {1, 0.5f, -0.25f, -1, 2, 0.5f, 0.25f, -0.75f, 1.5f, -2, 0, 1},
    {-0.5f, 1, 1, 0.25f, -1, 2, 1.5f, 0.5f, -0.5f, 0, -1, 0.5f},
    {2, -1, 0.5f, 0, 1, -1.5f, -0.25f, 0.5f, 1, 1, -2, 0.25f},
};
static const int32_t ys[4][4] = {{1, 0, 1, 0}, {0, 0, 1, 1}, {1, 1, 0, 0}, {0, 1, 0, 1}};

/* The model of every case, with the train block's body put in. */
static char *model(const char *train) {
    static const char *head = "const batch = 4\n"
                              "input x: f32[batch, 3]\n"
                              "input y: i32[batch]\n"
                              "logits = linear(relu(linear(x, 8) as fc1), 2) as fc2\n"
                              "loss = cross_entropy(logits, y)\n"
                              "train {\n"
                              "    seed = 3\n";
    size_t n = strlen(head) + strlen(train) + 8;
    char *text = malloc(n);
    assert_non_null(text);
    snprintf(text, n, "%s%s\n}\n", head, train);
    return text;
}

static gc_trainer *make_on(const char *train, gc_backend backend) {
    gc_error err = {0};
    char *text = model(train);
    gc_model *m = gc_model_load_string(text, "opt.gm", &err);
    free(text);
    if (!m) fail_msg("load: %s", err.message);
    gc_options o = {backend, 1, 0, 0};
    gc_trainer *t = gc_trainer_new(m, &o, &err);
    gc_model_free(m);
    if (!t) fail_msg("trainer for `%s`: %s:%d:%d: %s", train, err.file, err.line, err.col, err.message);
    return t;
}

/* One update: gc_trainer_accumulation batches, batch b = update * N + i (wrapping), as gradc train
 * reads them. */
static float update(gc_trainer *t) {
    gc_error err = {0};
    int64_t n = gc_trainer_accumulation(t);
    float loss = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t b = (gc_trainer_steps(t) * n + i) % 4;
        assert_true(gc_trainer_set_input(t, "x", xs[b], sizeof xs[b], &err));
        assert_true(gc_trainer_set_input(t, "y", ys[b], sizeof ys[b], &err));
        if (!gc_trainer_step(t, &loss, &err)) fail_msg("step: %s", err.message);
    }
    return loss;
}

static gc_safetensors *snapshot(gc_trainer *t) {
    gc_error err = {0};
    char path[] = "/tmp/gc_test_optXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    if (!gc_trainer_save(t, path, &err)) fail_msg("save: %s", err.message);
    gc_safetensors *st = gc_safetensors_load(path, &err);
    unlink(path);
    if (!st) fail_msg("load: %s", err.message);
    return st;
}

/* Every tensor of a in b; values within tol (0: the same bits). Returns the optimizer tensors. */
static int compare_snapshots(const char *what, const gc_safetensors *a, const gc_safetensors *b, double tol) {
    int state = 0;
    if (a->num_tensors != b->num_tensors) fail_msg("%s: %d tensors vs %d", what, a->num_tensors, b->num_tensors);
    for (int i = 0; i < a->num_tensors; i++) {
        const gc_st_tensor *x = &a->tensors[i], *y = gc_safetensors_find(b, x->name);
        if (!y) fail_msg("%s: %s is missing", what, x->name);
        assert_int_equal(x->nbytes, y->nbytes);
        state += !strncmp(x->name, "optimizer.", 10);
        if (tol == 0) {
            if (memcmp(x->data, y->data, x->nbytes)) fail_msg("%s: %s differs", what, x->name);
            continue;
        }
        for (size_t k = 0; k < x->nbytes / 4; k++) {
            double u = ((const float *)x->data)[k], v = ((const float *)y->data)[k];
            if (fabs(u - v) > tol * (1 + fabs(u))) fail_msg("%s: %s[%zu]: %.9g vs %.9g", what, x->name, k, u, v);
        }
    }
    return state;
}

static const char *const cases[] = {
    "optimizer = adam(lr=0.02, amsgrad=true)",
    "optimizer = adamw(lr=0.02, amsgrad=true, weight_decay=0.1)",
    "optimizer = rmsprop(lr=0.01, momentum=0.9, centered=true, weight_decay=0.01)",
    "optimizer = rmsprop()",
    "optimizer = adagrad(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)",
    "optimizer = adamax(weight_decay=0.01)",
    "optimizer = nadam(lr=0.01, weight_decay=0.01)",
    "optimizer = radam(lr=0.01, betas=[0.9, 0.9])",
    "optimizer = adadelta(weight_decay=0.001)",
    "optimizer = sgd(lr=0.1)\n    schedule = one_cycle(max_lr=0.2, total=8)",
    "optimizer = adam()\n    schedule = one_cycle(0.02, 8, three_phase=true, anneal=\"linear\")",
    "optimizer = sgd(lr=0.1, momentum=0.9)\n    schedule = cosine_restarts(3, T_mult=2, min_lr=0.001)",
    "optimizer = adamw(lr=0.02)\n    schedule = multi_step([2, 4], gamma=0.5)",
    "optimizer = sgd(lr=0.1)\n    schedule = polynomial(6, power=2.0)",
    "optimizer = nadam()\n    schedule = exponential(0.9)",
    "optimizer = adamw(lr=0.01)\n    schedule = linear(warmup=2, total=8, warmup_offset=0)",
    "optimizer = sgd(lr=0.1, momentum=0.9)\n    freeze = [\"fc1.*\"]\n    lr_scale = [[\"fc2.bias\", 3]]",
    "optimizer = adam(lr=0.01)\n    gradient_accumulation_steps = 2\n    clip_grad_norm = 0.5",
    "optimizer = rmsprop(lr=0.01, momentum=0.5)\n    gradient_accumulation_steps = 3",
};
enum { NUM_CASES = sizeof cases / sizeof *cases, STEPS = 6, HALF = 3 };

/* Makes b's params a's (the backends may draw differently). */
static void copy_params(gc_trainer *from, gc_trainer *to) {
    gc_error err = {0};
    const char *name;
    for (int p = 0; gc_trainer_param_name(from, p, &name); p++) {
        gc_tensor a, b;
        assert_true(gc_trainer_param(from, name, &a, &err));
        assert_true(gc_trainer_param(to, name, &b, &err));
        int64_t count = 1;
        for (int d = 0; d < a.rank; d++) count *= a.shape[d];
        memcpy(b.data, a.data, (size_t)count * sizeof(float));
    }
}

/* STEPS updates straight == HALF, save, load into a fresh trainer, STEPS - HALF more. */
static void expect_resume(const char *train, gc_backend backend) {
    gc_error err = {0};
    char path[] = "/tmp/gc_test_resumeXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    gc_trainer *a = make_on(train, backend), *b = make_on(train, backend);
    for (int i = 0; i < HALF; i++) update(a);
    assert_true(gc_trainer_save(a, path, &err));
    for (int i = HALF; i < STEPS; i++) update(a);
    if (!gc_trainer_load(b, path, &err)) fail_msg("load: %s", err.message);
    assert_int_equal(gc_trainer_steps(b), HALF);
    for (int i = HALF; i < STEPS; i++) update(b);
    gc_safetensors *sa = snapshot(a), *sb = snapshot(b);
    char what[300];
    snprintf(what, sizeof what, "resume (%s) of `%s`", backend == GC_BACKEND_JIT ? "jit" : "interp", train);
    assert_true(compare_snapshots(what, sa, sb, 0) > 0);
    gc_safetensors_free(sa);
    gc_safetensors_free(sb);
    gc_trainer_free(a);
    gc_trainer_free(b);
    unlink(path);
}

static void resume_is_bit_identical(void **s) {
    (void)s;
    for (int c = 0; c < NUM_CASES; c++) {
        expect_resume(cases[c], GC_BACKEND_INTERP);
        if (gc_backend_available(GC_BACKEND_JIT)) expect_resume(cases[c], GC_BACKEND_JIT);
    }
}

static void jit_matches_interpreter(void **s) {
    (void)s;
    if (!gc_backend_available(GC_BACKEND_JIT)) skip();
    for (int c = 0; c < NUM_CASES; c++) {
        gc_trainer *t[2] = {make_on(cases[c], GC_BACKEND_INTERP), make_on(cases[c], GC_BACKEND_JIT)};
        copy_params(t[0], t[1]);
        float first = 0;
        for (int step = 0; step < STEPS; step++) {
            float loss[2] = {update(t[0]), update(t[1])};
            if (fabsf(loss[0] - loss[1]) > 1e-4f * (1 + fabsf(loss[0])))
                fail_msg("`%s` step %d: loss %.9g (interpreter) vs %.9g (JIT)", cases[c], step, loss[0], loss[1]);
            if (step == 0) first = loss[0];
            else if (step == STEPS - 1 && loss[0] == first) fail_msg("`%s`: the loss never moved", cases[c]);
        }
        gc_safetensors *a = snapshot(t[0]), *b = snapshot(t[1]);
        compare_snapshots(cases[c], a, b, 1e-4);
        gc_safetensors_free(a);
        gc_safetensors_free(b);
        gc_trainer_free(t[0]);
        gc_trainer_free(t[1]);
    }
}

/* Frozen params keep their bits, have no optimizer state, and are still saved; an lr_scale of 0
 * stops a param the same way while it keeps its state. */
static void freeze_and_lr_scale(void **s) {
    (void)s;
    gc_backend backend = gc_backend_available(GC_BACKEND_JIT) ? GC_BACKEND_JIT : GC_BACKEND_INTERP;
    gc_trainer *t = make_on("optimizer = adam(lr=0.05)\n    freeze = [\"fc1.*\"]\n    lr_scale = [[\"fc2.bias\", 0]]",
                            backend);
    gc_safetensors *before = snapshot(t);
    for (int i = 0; i < STEPS; i++) update(t);
    gc_safetensors *after = snapshot(t);
    const char *kept[] = {"fc1.weight", "fc1.bias", "fc2.bias"};
    for (int i = 0; i < 3; i++) {
        const gc_st_tensor *x = gc_safetensors_find(before, kept[i]), *y = gc_safetensors_find(after, kept[i]);
        assert_non_null(x);
        assert_non_null(y);
        if (memcmp(x->data, y->data, x->nbytes)) fail_msg("%s changed", kept[i]);
    }
    const gc_st_tensor *x = gc_safetensors_find(before, "fc2.weight"), *y = gc_safetensors_find(after, "fc2.weight");
    assert_true(memcmp(x->data, y->data, x->nbytes) != 0);
    assert_null(gc_safetensors_find(after, "optimizer.fc1.weight.exp_avg"));
    assert_null(gc_safetensors_find(after, "optimizer.fc1.bias.exp_avg_sq"));
    assert_non_null(gc_safetensors_find(after, "optimizer.fc2.bias.exp_avg"));
    assert_non_null(gc_safetensors_find(after, "optimizer.fc2.weight.exp_avg_sq"));
    gc_safetensors_free(before);
    gc_safetensors_free(after);
    gc_trainer_free(t);
}

/* Mean cross-entropy over 8 examples is the mean of the two 4-example means: two accumulated
 * half batches update as one whole batch does (SGD, so the update is the gradient itself). */
static void accumulation_is_the_whole_batch(void **s) {
    (void)s;
    gc_error err = {0};
    gc_backend backends[2] = {GC_BACKEND_INTERP, GC_BACKEND_JIT};
    for (int k = 0; k < 2; k++) {
        if (!gc_backend_available(backends[k])) continue;
        gc_trainer *acc = make_on("optimizer = sgd(lr=0.5, momentum=0.9)\n    gradient_accumulation_steps = 2\n"
                                  "    clip_grad_norm = 0.3",
                                  backends[k]);
        assert_int_equal(gc_trainer_accumulation(acc), 2);
        char *text = model("optimizer = sgd(lr=0.5, momentum=0.9)\n    clip_grad_norm = 0.3");
        char *big = malloc(strlen(text) + 8);
        assert_non_null(big);
        /* the same model at batch 8 */
        const char *rest = strchr(text, '\n');
        sprintf(big, "const batch = 8%s", rest);
        gc_model *m = gc_model_load_string(big, "big.gm", &err);
        free(text);
        free(big);
        assert_non_null(m);
        gc_options o = {backends[k], 1, 0, 0};
        gc_trainer *whole = gc_trainer_new(m, &o, &err);
        gc_model_free(m);
        if (!whole) fail_msg("trainer: %s", err.message);
        assert_int_equal(gc_trainer_accumulation(whole), 1);
        copy_params(acc, whole);
        for (int u = 0; u < 4; u++) {
            float x8[24], y_loss_acc, y_loss_whole;
            int32_t y8[8];
            int b0 = (2 * u) % 4, b1 = (2 * u + 1) % 4;
            memcpy(x8, xs[b0], sizeof xs[b0]);
            memcpy(x8 + 12, xs[b1], sizeof xs[b1]);
            memcpy(y8, ys[b0], sizeof ys[b0]);
            memcpy(y8 + 4, ys[b1], sizeof ys[b1]);
            assert_true(gc_trainer_set_input(whole, "x", x8, sizeof x8, &err));
            assert_true(gc_trainer_set_input(whole, "y", y8, sizeof y8, &err));
            assert_true(gc_trainer_step(whole, &y_loss_whole, &err));
            /* Half-way through an update: no save, and the step count has not moved. */
            assert_true(gc_trainer_set_input(acc, "x", xs[b0], sizeof xs[b0], &err));
            assert_true(gc_trainer_set_input(acc, "y", ys[b0], sizeof ys[b0], &err));
            float half;
            assert_true(gc_trainer_step(acc, &half, &err));
            assert_int_equal(gc_trainer_steps(acc), u);
            char path[] = "/tmp/gc_test_halfXXXXXX";
            int fd = mkstemp(path);
            assert_true(fd >= 0);
            close(fd);
            assert_false(gc_trainer_save(acc, path, &err));
            assert_int_equal(err.code, GC_ERR_USER);
            assert_non_null(strstr(err.message, "1 of its 2 micro-batches"));
            unlink(path);
            assert_true(gc_trainer_set_input(acc, "x", xs[b1], sizeof xs[b1], &err));
            assert_true(gc_trainer_set_input(acc, "y", ys[b1], sizeof ys[b1], &err));
            assert_true(gc_trainer_step(acc, &y_loss_acc, &err));
            assert_int_equal(gc_trainer_steps(acc), u + 1);
            if (fabsf(y_loss_acc - y_loss_whole) > 1e-5f * (1 + fabsf(y_loss_whole)))
                fail_msg("update %d: mean micro-batch loss %.9g, whole batch %.9g", u, y_loss_acc, y_loss_whole);
            gc_tensor na, nw;
            assert_true(gc_trainer_output(acc, "grad_norm", &na, &err));
            assert_true(gc_trainer_output(whole, "grad_norm", &nw, &err));
            float ga = *(float *)na.data, gw = *(float *)nw.data;
            if (fabsf(ga - gw) > 1e-5f * (1 + gw)) fail_msg("update %d: grad_norm %.9g vs %.9g", u, ga, gw);
            assert_true(gw > 0.3f || u > 0); /* clipping is active at least on the first update */
        }
        gc_safetensors *a = snapshot(acc), *b = snapshot(whole);
        compare_snapshots("accumulated vs whole batch", a, b, 2e-5);
        gc_safetensors_free(a);
        gc_safetensors_free(b);
        gc_trainer_free(acc);
        gc_trainer_free(whole);
    }
}

/* A NaN micro-batch with skip_nonfinite drops the whole update (GradScaler): nothing changes, the
 * update counts, and the next update trains from a cleared accumulator. */
static void accumulation_drops_a_nonfinite_update(void **s) {
    (void)s;
    gc_error err = {0};
    const char *text = "input x: f32[2, 3]\n"
                       "loss = mean(log(linear(x, 1) as fc))\n"
                       "train {\n"
                       "    optimizer = adam(lr=0.01)\n"
                       "    gradient_accumulation_steps = 2\n"
                       "}\n";
    gc_backend backend = gc_backend_available(GC_BACKEND_JIT) ? GC_BACKEND_JIT : GC_BACKEND_INTERP;
    gc_model *m = gc_model_load_string(text, "nan.gm", &err);
    assert_non_null(m);
    gc_options o = {backend, 1, 1, 0};
    gc_trainer *t = gc_trainer_new(m, &o, &err);
    gc_model_free(m);
    assert_non_null(t);
    gc_tensor w;
    assert_true(gc_trainer_param(t, "fc.weight", &w, &err));
    for (int i = 0; i < 3; i++) ((float *)w.data)[i] = 1.0f;
    float good[6] = {1, 2, 1, 2, 1, 2}, bad[6] = {-100, -100, -100, -100, -100, -100}, loss = 0;
    assert_true(gc_trainer_set_input(t, "x", good, sizeof good, &err));
    for (int i = 0; i < 2; i++) assert_true(gc_trainer_step(t, &loss, &err));
    gc_safetensors *before = snapshot(t);
    assert_true(gc_trainer_set_input(t, "x", bad, sizeof bad, &err));
    assert_true(gc_trainer_step(t, &loss, &err));
    assert_true(isnan(loss));
    assert_true(gc_trainer_set_input(t, "x", good, sizeof good, &err));
    assert_true(gc_trainer_step(t, &loss, &err));
    assert_int_equal(gc_trainer_steps(t), 2);
    gc_safetensors *after = snapshot(t);
    compare_snapshots("dropped update", before, after, 0);
    /* The next update sees only its own two micro-batches: as a fresh trainer at the same state. */
    char path[] = "/tmp/gc_test_nanXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_true(gc_trainer_save(t, path, &err));
    m = gc_model_load_string(text, "nan.gm", &err);
    gc_trainer *u = gc_trainer_new(m, &o, &err);
    gc_model_free(m);
    assert_non_null(u);
    assert_true(gc_trainer_load(u, path, &err));
    unlink(path);
    assert_true(gc_trainer_set_input(u, "x", good, sizeof good, &err));
    for (int i = 0; i < 2; i++) {
        assert_true(gc_trainer_step(t, &loss, &err));
        assert_true(gc_trainer_step(u, &loss, &err));
    }
    gc_safetensors *x = snapshot(t), *y = snapshot(u);
    compare_snapshots("after a dropped update", x, y, 0);
    gc_safetensors_free(x);
    gc_safetensors_free(y);
    gc_safetensors_free(before);
    gc_safetensors_free(after);
    gc_trainer_free(t);
    gc_trainer_free(u);
}

/* Misuse in the train block is located there. */
static void train_block_errors(void **s) {
    (void)s;
    struct {
        const char *train, *message;
    } bad[] = {
        {"optimizer = adagrad()\n    schedule = one_cycle(0.1, 10)", "no momentum to cycle"},
        {"optimizer = sgd(lr=0.1, amsgrad=true)", "amsgrad"},
        {"freeze = [\"fc9.*\"]", "freeze: pattern 'fc9.*' matches no parameter"},
        {"freeze = [\"*\"]", "every parameter is frozen"},
        {"lr_scale = [[\"nothing\", 2]]", "lr_scale: pattern 'nothing' matches no parameter"},
        {"lr_scale = [\"fc1.*\"]", "lr_scale must be a list of [pattern, factor] pairs"},
        {"lr_scale = [[\"fc1.*\", -1]]", "must be a number >= 0"},
        {"gradient_accumulation_steps = 0", "gradient_accumulation_steps must be an integer >= 1"},
        {"gradient_accumulation_steps = 1.5", "gradient_accumulation_steps must be an integer >= 1"},
        {"schedule = multi_step([5, 2])", "milestones must be increasing"},
        {"schedule = one_cycle(0.1, 10, anneal=\"square\")", "anneal"},
        {"schedule = cosine_restarts(0)", "T_0"},
        {"schedule = linear(total=10, warmup_offset=2)", "warmup_offset must be 0 or 1"},
        {"optimizer = rmsprop(lr=0.01, betas=[0.9, 0.99])", "betas"},
        {"freeze = \"fc1.*\"", "freeze must be a list of strings"},
        {"optimiser = adam()", "unknown train setting 'optimiser'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        gc_error err = {0};
        char *text = model(bad[i].train);
        gc_model *m = gc_model_load_string(text, "bad.gm", &err);
        free(text);
        assert_non_null(m);
        gc_options o = {GC_BACKEND_INTERP, 1, 0, 0};
        gc_trainer *t = gc_trainer_new(m, &o, &err);
        gc_model_free(m);
        if (t) fail_msg("`%s` was accepted", bad[i].train);
        assert_int_equal(err.code, GC_ERR_USER);
        if (!strstr(err.message, bad[i].message))
            fail_msg("`%s`: message '%s' lacks '%s'", bad[i].train, err.message, bad[i].message);
        /* Located in the train block (line 6 on), never nowhere; the pattern and list errors at
         * the key's value on line 8. */
        if (err.line < 6) fail_msg("`%s`: located at line %d", bad[i].train, err.line);
        if ((strstr(bad[i].message, "pattern") || strstr(bad[i].message, "frozen")) && (err.line != 8 || err.col < 10))
            fail_msg("`%s`: located at %d:%d, not at the value", bad[i].train, err.line, err.col);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(resume_is_bit_identical),
        cmocka_unit_test(jit_matches_interpreter),
        cmocka_unit_test(freeze_and_lr_scale),
        cmocka_unit_test(accumulation_is_the_whole_batch),
        cmocka_unit_test(accumulation_drops_a_nonfinite_update),
        cmocka_unit_test(train_block_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
