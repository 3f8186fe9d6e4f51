/*
 * test_train_cnn_jit.c: a small ResNet-shaped CNN with training batch norm trains on the JIT as
 * on the interpreter, step after step. Conv + batch norm + ReLU blocks, an identity residual
 * block and a strided block with a 1x1 downsample shortcut, SGD with momentum and weight decay,
 * a different batch each step: the losses agree at every step, and the params, the batch norms'
 * running statistics and the momentum buffers agree after the last one.
 *
 * Several steps matter: the fused training batch norm (docs/optimisation.md) reads the running
 * mean it also updates, and the momentum buffers and params are written in place, so a value
 * planned or ordered wrongly across kernels shows only from the second step on (with a zero
 * running mean and a zero momentum the first step cannot tell). The JIT runs on one thread and
 * on two (its reductions split over channels). The model is small and far from a ReLU's kink or
 * a degenerate variance, so float rounding stays at 1e-6 after the last step; a model whose
 * gradient jumps under rounding-sized changes of its params (a deep ResNet on 1x1 maps, batch 8)
 * is compared step by step from one state instead (docs/optimisation.md).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <gradc/gradc.h>

#include "runtime/safetensors.h"

#define BATCH 8
#define SIZE 8
#define STEPS 6

static const char *cnn =
    "const batch = 8\n"
    "input x: f32[batch, 3, 8, 8]\n"
    "input y: i32[batch]\n"
    "def block(x, planes) {\n"
    "    h = relu(batchnorm2d(conv2d(x, planes, 3, padding=1, bias=false) as conv1) as bn1)\n"
    "    h = batchnorm2d(conv2d(h, planes, 3, padding=1, bias=false) as conv2) as bn2\n"
    "    return relu(h + x)\n"
    "}\n"
    "def down_block(x, planes) {\n"
    "    h = relu(batchnorm2d(conv2d(x, planes, 3, stride=2, padding=1, bias=false) as conv1) as bn1)\n"
    "    h = batchnorm2d(conv2d(h, planes, 3, padding=1, bias=false) as conv2) as bn2\n"
    "    s = batchnorm2d(conv2d(x, planes, 1, stride=2, bias=false) as downsample.0) as downsample.1\n"
    "    return relu(h + s)\n"
    "}\n"
    "h = relu(batchnorm2d(conv2d(x, 4, 3, padding=1, bias=false) as conv1) as bn1)\n"
    "h = block(h, 4) as layer1\n"
    "h = down_block(h, 8) as layer2\n"
    "h = block(h, 8) as layer3\n"
    "logits = linear(flatten(adaptive_avg_pool2d(h, 1)), 10) as fc\n"
    "loss = cross_entropy(logits, y)\n"
    "train {\n"
    "    optimizer = sgd(lr=0.1, momentum=0.9, weight_decay=5e-4)\n"
    "    seed = 3\n"
    "}\n";

static gc_trainer *make_on(gc_backend backend, int threads) {
    gc_error err = {0};
    gc_model *m = gc_model_load_string(cnn, "cnn.gm", &err);
    if (!m) fail_msg("load: %s:%d:%d: %s", err.file, err.line, err.col, err.message);
    gc_options o = {backend, threads, 0, 0};
    gc_trainer *t = gc_trainer_new(m, &o, &err);
    gc_model_free(m);
    if (!t) fail_msg("trainer: %s", err.message);
    return t;
}

static gc_safetensors *snapshot(gc_trainer *t) {
    gc_error err = {0};
    char path[] = "/tmp/gc_test_cnnXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    if (!gc_trainer_save(t, path, &err)) fail_msg("save: %s", err.message);
    gc_safetensors *st = gc_safetensors_load(path, &err);
    unlink(path);
    if (!st) fail_msg("load: %s", err.message);
    return st;
}

/* The largest difference of a tensor, relative to its largest magnitude (a parameter's values
 * are of one scale; a near-zero element says nothing on its own). */
static double tensor_difference(const gc_st_tensor *x, const gc_st_tensor *y) {
    double diff = 0, scale = 1e-6;
    for (size_t k = 0; k < x->nbytes / 4; k++) {
        double u = ((const float *)x->data)[k], v = ((const float *)y->data)[k];
        if (fabs(u - v) > diff || isnan(u - v)) diff = isnan(u - v) ? INFINITY : fabs(u - v);
        if (fabs(u) > scale) scale = fabs(u);
    }
    return diff / scale;
}

static uint64_t rng = 12345;
static double draw(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static void cnn_trains_on_jit_as_on_interpreter(void **s) {
    (void)s;
    if (!gc_backend_available(GC_BACKEND_JIT)) skip();
    gc_error err = {0};
    /* The interpreter, the JIT on one thread and the JIT with its kernels split over two. */
    enum { RUNS = 3 };
    gc_trainer *t[RUNS] = {make_on(GC_BACKEND_INTERP, 1), make_on(GC_BACKEND_JIT, 1), make_on(GC_BACKEND_JIT, 2)};
    const char *run_name[RUNS] = {"interpreter", "JIT on 1 thread", "JIT on 2 threads"};
    /* The same initial params on all (they draw the same numbers; copied to be sure). */
    const char *name;
    for (int p = 0; gc_trainer_param_name(t[0], p, &name); p++) {
        gc_tensor a, b;
        assert_true(gc_trainer_param(t[0], name, &a, &err));
        int64_t count = 1;
        for (int d = 0; d < a.rank; d++) count *= a.shape[d];
        for (int r = 1; r < RUNS; r++) {
            assert_true(gc_trainer_param(t[r], name, &b, &err));
            memcpy(b.data, a.data, (size_t)count * sizeof(float));
        }
    }
    static float x[BATCH * 3 * SIZE * SIZE];
    int32_t y[BATCH];
    for (int step = 0; step < STEPS; step++) {
        /* A channel mean well away from 0 (as after a ReLU), so the running mean moves. */
        for (size_t k = 0; k < sizeof x / sizeof *x; k++) x[k] = (float)(2.0 * draw() - 0.5);
        for (int i = 0; i < BATCH; i++) y[i] = (int32_t)(draw() * 10) % 10;
        float loss[RUNS];
        for (int r = 0; r < RUNS; r++) {
            assert_true(gc_trainer_set_input(t[r], "x", x, sizeof x, &err));
            assert_true(gc_trainer_set_input(t[r], "y", y, sizeof y, &err));
            if (!gc_trainer_step(t[r], &loss[r], &err)) fail_msg("%s, step %d: %s", run_name[r], step + 1, err.message);
            if (fabsf(loss[0] - loss[r]) > 1e-5f * (1 + fabsf(loss[0])))
                fail_msg("step %d: loss %.9g (interpreter) vs %.9g (%s)", step + 1, loss[0], loss[r], run_name[r]);
        }
    }
    gc_safetensors *a = snapshot(t[0]);
    for (int r = 1; r < RUNS; r++) {
        gc_safetensors *b = snapshot(t[r]);
        assert_int_equal(a->num_tensors, b->num_tensors);
        int momenta = 0, running = 0;
        for (int i = 0; i < a->num_tensors; i++) {
            const gc_st_tensor *u = &a->tensors[i], *v = gc_safetensors_find(b, u->name);
            if (!v) fail_msg("%s is missing", u->name);
            assert_int_equal(u->dtype, v->dtype);
            assert_int_equal(u->nbytes, v->nbytes);
            if (u->dtype != GC_ST_F32) {
                if (memcmp(u->data, v->data, u->nbytes)) fail_msg("%s differs", u->name);
                continue;
            }
            momenta += !strncmp(u->name, "optimizer.", 10);
            running += strstr(u->name, "running_mean") != NULL;
            double d = tensor_difference(u, v);
            if (d > 2e-5)
                fail_msg("after %d steps, %s: %s differs by %.3g of its scale", STEPS, run_name[r], u->name, d);
        }
        assert_true(momenta >= 10);
        assert_int_equal(running, 8);
        gc_safetensors_free(b);
    }
    gc_safetensors_free(a);
    for (int r = 0; r < RUNS; r++) gc_trainer_free(t[r]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cnn_trains_on_jit_as_on_interpreter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
