/*
 * test_gemm_blocking.c: where gradc's GEMM blocking comes from (GRADC_GEMM_BLOCKING, else the file
 * `gradc tune` writes, else the cache sizes), changing it in a running process, and a checkpoint
 * that records it so a resumed run is bit-identical to the run it continues even when the
 * blocking changed in between (runtime/gemm.h, runtime/cpu_caches.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <gradc/gradc.h>

#include "runtime/cpu_caches.h"
#include "runtime/gemm.h"
#include "runtime/safetensors.h"

static void parse_and_round(void **state) {
    (void)state;
    gc_gemm_blocking b;
    assert_true(gc_gemm_blocking_parse("264,512,1344", &b));
    assert_int_equal(b.mc, 264);
    assert_int_equal(b.kc, 512);
    assert_int_equal(b.nc, 1344);
    assert_true(gc_gemm_blocking_parse("100,300,1000\n# comment", &b));
    assert_false(gc_gemm_blocking_parse("100,300", &b));
    assert_false(gc_gemm_blocking_parse("100,0,1000", &b));
    assert_false(gc_gemm_blocking_parse("100,300,1000x", &b));
    assert_false(gc_gemm_blocking_parse(NULL, &b));
    b = gc_gemm_blocking_round((gc_gemm_blocking){100, 300, 1000}, 12, 32);
    assert_int_equal(b.mc, 108);
    assert_int_equal(b.kc, 304);
    assert_int_equal(b.nc, 1024);
    assert_true(strlen(gc_cpu_model_key()) > 0);
}

/* GRADC_GEMM_BLOCKING over the tuned file over the caches. */
static void tuned_file_and_environment(void **state) {
    (void)state;
    char path[] = "/tmp/gc_test_tuneXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char text[] = "264,512,1344\n# gradc tune\n";
    assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    unsetenv("GRADC_GEMM_BLOCKING");
    setenv("GRADC_TUNE_FILE", "off", 1);
    gc_gemm_blocking caches = gc_gemm_blocking_from(gc_cpu_caches_get(), 12, 32, 4);
    gc_gemm_blocking b = gc_gemm_blocking_for(12, 32, 4);
    assert_true(b.mc == caches.mc && b.kc == caches.kc && b.nc == caches.nc);
    char where[1024];
    assert_false(gc_gemm_tune_path(where, sizeof where));
    setenv("GRADC_TUNE_FILE", path, 1);
    assert_true(gc_gemm_tune_path(where, sizeof where));
    assert_string_equal(where, path);
    b = gc_gemm_blocking_for(12, 32, 4);
    assert_true(b.mc == 264 && b.kc == 512 && b.nc == 1344);
    setenv("GRADC_GEMM_BLOCKING", "120,256,2048", 1);
    b = gc_gemm_blocking_for(12, 32, 4);
    assert_true(b.mc == 120 && b.kc == 256 && b.nc == 2048);
    unsetenv("GRADC_GEMM_BLOCKING");
    /* The default file is per CPU model, in gradc's cache directory. */
    unsetenv("GRADC_TUNE_FILE");
    setenv("GRADC_CACHE_DIR", "/tmp/gc_test_tune_dir", 1);
    assert_true(gc_gemm_tune_path(where, sizeof where));
    char want[1024];
    snprintf(want, sizeof want, "/tmp/gc_test_tune_dir/gemm-%s.tune", gc_cpu_model_key());
    assert_string_equal(where, want);
    setenv("GRADC_TUNE_FILE", "off", 1);
    unsetenv("GRADC_CACHE_DIR");
    unlink(path);
}

/* A deep product under KC 128 and KC 512: each right, their bits apart (the sums over k are cut
 * differently), and the first blocking back gives the first bits back. Larger blockings grow the
 * packing buffers of a thread that already has them. */
static void set_blocking_takes_effect(void **state) {
    (void)state;
    if (!gc_sgemm_uses_own()) skip();
    enum { M = 40, N = 64, K = 1500 };
    float *a = malloc(sizeof(float) * M * K), *b = malloc(sizeof(float) * K * N);
    float *c1 = malloc(sizeof(float) * M * N), *c2 = malloc(sizeof(float) * M * N), *c3 = malloc(sizeof(float) * M * N);
    assert_true(a && b && c1 && c2 && c3);
    for (int i = 0; i < M * K; i++) a[i] = (float)(((unsigned)i * 7919u) % 2001u) / 1000.0f - 1.0f;
    for (int i = 0; i < K * N; i++) b[i] = (float)(((unsigned)i * 104729u) % 2001u) / 1000.0f - 1.0f;
    gc_gemm_blocking before = gc_sgemm_blocking();
    gc_sgemm_set_blocking((gc_gemm_blocking){96, 128, 256});
    gc_gemm_blocking now = gc_sgemm_blocking();
    assert_true(now.mc == 96 && now.kc == 128 && now.nc == 256);
    gc_sgemm(101, 111, 111, M, N, K, 1, a, K, b, N, 0, c1, N);
    gc_sgemm_set_blocking((gc_gemm_blocking){2400, 512, 4096});
    gc_sgemm(101, 111, 111, M, N, K, 1, a, K, b, N, 0, c2, N);
    gc_sgemm_set_blocking((gc_gemm_blocking){96, 128, 256});
    gc_sgemm(101, 111, 111, M, N, K, 1, a, K, b, N, 0, c3, N);
    gc_sgemm_set_blocking(before);
    assert_memory_equal(c1, c3, sizeof(float) * M * N);
    assert_memory_not_equal(c1, c2, sizeof(float) * M * N);
    for (int i = 0; i < M; i += 7)
        for (int j = 0; j < N; j += 5) {
            double sum = 0, mag = 0;
            for (int q = 0; q < K; q++) sum += (double)a[i * K + q] * b[q * N + j], mag += fabs((double)a[i * K + q] * b[q * N + j]);
            assert_true(fabs(c1[i * N + j] - sum) <= 1e-5 * mag && fabs(c2[i * N + j] - sum) <= 1e-5 * mag);
        }
    free(a), free(b), free(c1), free(c2), free(c3);
}

/* A model whose products are deep enough (K 300) for KC to matter. */
static const char *model_text = "const batch = 8\n"
                                "input x: f32[batch, 300]\n"
                                "input y: i32[batch]\n"
                                "logits = linear(relu(linear(x, 320) as fc1), 16) as fc2\n"
                                "loss = cross_entropy(logits, y)\n"
                                "train {\n    optimizer = adam(lr=1e-3)\n    seed = 5\n}\n";

static gc_trainer *trainer(void) {
    gc_error err = {0};
    gc_model *m = gc_model_load_string(model_text, "blocking.gm", &err);
    if (!m) fail_msg("load: %s", err.message);
    gc_options o = {GC_BACKEND_JIT, 1, 0, 0};
    gc_trainer *t = gc_trainer_new(m, &o, &err);
    gc_model_free(m);
    if (!t) fail_msg("trainer: %s", err.message);
    return t;
}

static float train_step(gc_trainer *t) {
    static float x[8 * 300];
    static int32_t y[8];
    int64_t s = gc_trainer_steps(t);
    for (int i = 0; i < 8 * 300; i++) x[i] = (float)(((i + 37 * s) * 7919) % 2001) / 1000.0f - 1.0f;
    for (int i = 0; i < 8; i++) y[i] = (int32_t)((i + s) % 16);
    gc_error err = {0};
    float loss = 0;
    assert_true(gc_trainer_set_input(t, "x", x, sizeof x, &err));
    assert_true(gc_trainer_set_input(t, "y", y, sizeof y, &err));
    if (!gc_trainer_step(t, &loss, &err)) fail_msg("step: %s", err.message);
    return loss;
}

/* Every parameter's and state's bits of t (a checkpoint's tensors, in order). */
static gc_safetensors *snapshot(gc_trainer *t) {
    char path[] = "/tmp/gc_test_blocking_snapXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    gc_error err = {0};
    if (!gc_trainer_save(t, path, &err)) fail_msg("save: %s", err.message);
    gc_safetensors *st = gc_safetensors_load(path, &err);
    unlink(path);
    if (!st) fail_msg("load: %s", err.message);
    return st;
}

static bool same_bits(const gc_safetensors *x, const gc_safetensors *y) {
    if (x->num_tensors != y->num_tensors) return false;
    for (int i = 0; i < x->num_tensors; i++) {
        const gc_st_tensor *a = &x->tensors[i], *b = gc_safetensors_find(y, a->name);
        if (!b || a->nbytes != b->nbytes || memcmp(a->data, b->data, a->nbytes)) return false;
    }
    return true;
}

static void checkpoint_keeps_the_blocking(void **state) {
    (void)state;
    if (!gc_backend_available(GC_BACKEND_JIT) || !gc_sgemm_uses_own()) skip();
    gc_gemm_blocking before = gc_sgemm_blocking();
    const gc_gemm_blocking run = {48, 128, 512}, tuned = {96, 256, 1024};
    char path[] = "/tmp/gc_test_blockingXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    gc_error err = {0};
    /* The straight run, under `run`, saved halfway. */
    gc_sgemm_set_blocking(run);
    gc_trainer *a = trainer();
    for (int i = 0; i < 3; i++) train_step(a);
    assert_true(gc_trainer_save(a, path, &err));
    for (int i = 3; i < 6; i++) train_step(a);
    gc_safetensors *st = gc_safetensors_load(path, &err);
    assert_non_null(st);
    assert_string_equal(gc_safetensors_get_meta(st, "gemm_blocking"), "48,128,512");
    gc_safetensors_free(st);
    gc_safetensors *straight = snapshot(a);
    /* Tuned since: a different KC. Resuming takes the run's blocking back, and ends where the
     * straight run ended, bit for bit. */
    gc_sgemm_set_blocking(tuned);
    gc_trainer *b = trainer();
    if (!gc_trainer_load(b, path, &err)) fail_msg("resume: %s", err.message);
    gc_gemm_blocking now = gc_sgemm_blocking();
    assert_true(now.mc == run.mc && now.kc == run.kc && now.nc == run.nc);
    for (int i = 3; i < 6; i++) train_step(b);
    gc_safetensors *resumed = snapshot(b);
    assert_true(same_bits(straight, resumed));
    /* Under the tuned blocking the same steps give other bits: the test can tell. */
    gc_trainer *c = trainer();
    if (!gc_trainer_load(c, path, &err)) fail_msg("resume: %s", err.message);
    gc_sgemm_set_blocking(tuned);
    for (int i = 3; i < 6; i++) train_step(c);
    gc_safetensors *other = snapshot(c);
    assert_false(same_bits(straight, other));
    gc_safetensors_free(straight);
    gc_safetensors_free(resumed);
    gc_safetensors_free(other);
    gc_sgemm_set_blocking(before);
    gc_trainer_free(a);
    gc_trainer_free(b);
    gc_trainer_free(c);
    unlink(path);
}

int main(void) {
    /* No tuned file of the machine's user may change what these tests see. */
    setenv("GRADC_TUNE_FILE", "off", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_and_round),
        cmocka_unit_test(tuned_file_and_environment),
        cmocka_unit_test(set_blocking_takes_effect),
        cmocka_unit_test(checkpoint_keeps_the_blocking),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
