/*
 * test_data.c: batches from example-indexed arrays (runtime/data.c) and byte-level text windows
 * (runtime/text_data.c).
 *
 * A tiny model reports its input as an output (`output seen = x`), so each test reads back the
 * exact examples a batch delivered: the order without shuffling, epochs wrapping, each shuffled
 * epoch a permutation that depends only on (seed, epoch) — so loading step k cold (as a resumed
 * run does) gives the batch an uninterrupted run gives — the eval batches with their padding,
 * and the errors of mismatched data.
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

#include "runtime/data.h"
#include "runtime/text_data.h"

enum { B = 2 };

static const char *model =
    "const batch = 2\n"
    "input x: f32[batch, 1]\n"
    "input y: f32[batch, 1]\n"
    "loss = mse_loss(linear(x, 1) as fc, y)\n"
    "output seen = x\n"
    "train {\n"
    "    optimizer = sgd(lr=0.1)\n"
    "    seed = 7\n"
    "}\n";

static gc_trainer *trainer(void) {
    gc_error err = {0};
    gc_model *m = gc_model_load_string(model, "seen.gm", &err);
    assert_non_null(m);
    gc_options o = {GC_BACKEND_INTERP, 1, 0, 0};
    gc_trainer *t = gc_trainer_new(m, &o, &err);
    gc_model_free(m);
    if (!t) fail_msg("compile: %s", err.message);
    return t;
}

/* A dataset of n examples: x[i] = i, y[i] = 10 * i. */
static gc_dataset *dataset(gc_trainer *t, int n, bool shuffle, uint64_t seed) {
    gc_error err = {0};
    gc_dataset *d = gc_dataset_new(&err);
    assert_non_null(d);
    const char *names[2] = {"x", "y"};
    for (int k = 0; k < 2; k++) {
        gc_tensor type = {0};
        const char *name;
        assert_true(gc_trainer_input_info(t, k, &name, &type));
        assert_string_equal(name, names[k]);
        float *v = malloc(sizeof *v * (size_t)n);
        for (int i = 0; i < n; i++) v[i] = (float)(k ? 10 * i : i);
        gc_tensor array = {GC_F32, 2, {n, 1}, v};
        assert_true(gc_dataset_bind(d, name, array, &type, &err));
    }
    if (!gc_dataset_finish(d, shuffle, seed, &err)) fail_msg("finish: %s", err.message);
    return d;
}

/* The examples the trainer's inputs hold now (x of each row). */
static void seen(gc_trainer *t, int out[B]) {
    gc_error err = {0};
    gc_tensor v;
    assert_true(gc_trainer_eval(t, NULL, &err));
    assert_true(gc_trainer_output(t, "seen", &v, &err));
    assert_int_equal(v.shape[0], B);
    for (int i = 0; i < B; i++) out[i] = (int)((float *)v.data)[i];
}

static void load_step(gc_dataset *d, gc_trainer *t, int64_t step, int out[B]) {
    gc_error err = {0};
    if (!gc_dataset_load_step(d, t, step, &err)) fail_msg("step %lld: %s", (long long)step, err.message);
    seen(t, out);
}

static void test_in_order_with_epochs(void **state) {
    (void)state;
    gc_trainer *t = trainer();
    gc_dataset *d = dataset(t, 5, false, 0);
    assert_int_equal(gc_dataset_examples(d), 5);
    assert_int_equal(gc_dataset_batch(d), 2);
    assert_int_equal(gc_dataset_steps_per_epoch(d), 2); /* example 4 is left over, as drop_last */
    const int want[6][B] = {{0, 1}, {2, 3}, {0, 1}, {2, 3}, {0, 1}, {2, 3}};
    for (int s = 0; s < 6; s++) {
        int got[B];
        load_step(d, t, s, got);
        assert_memory_equal(got, want[s], sizeof got);
    }
    gc_dataset_free(d);
    gc_trainer_free(t);
}

/* Steps [epoch * 3, epoch * 3 + 3) of 6 examples, as the order of examples they visit. */
static void epoch_order(gc_dataset *d, gc_trainer *t, int epoch, int order[6]) {
    for (int s = 0; s < 3; s++) load_step(d, t, epoch * 3 + s, order + 2 * s);
}

static void test_shuffled_epochs(void **state) {
    (void)state;
    gc_trainer *t = trainer();
    gc_dataset *d = dataset(t, 6, true, 42);
    int e0[6], e1[6], e2[6];
    epoch_order(d, t, 0, e0);
    epoch_order(d, t, 1, e1);
    epoch_order(d, t, 2, e2);
    const int identity[6] = {0, 1, 2, 3, 4, 5};
    int *epochs[3] = {e0, e1, e2};
    for (int e = 0; e < 3; e++) {
        int count[6] = {0};
        for (int i = 0; i < 6; i++) count[epochs[e][i]]++;
        for (int i = 0; i < 6; i++) assert_int_equal(count[i], 1); /* a permutation */
    }
    /* Shuffling does shuffle, and differently each epoch (for this seed). */
    assert_true(memcmp(e0, identity, sizeof e0));
    assert_true(memcmp(e0, e1, sizeof e0));
    assert_true(memcmp(e1, e2, sizeof e1));

    /* Deterministic: a fresh dataset with the same seed repeats it, even entered mid-run (resume). */
    gc_dataset *again = dataset(t, 6, true, 42);
    int got[B];
    load_step(again, t, 7, got); /* epoch 2, step 1 */
    assert_memory_equal(got, e2 + 2, sizeof got);
    load_step(again, t, 1, got); /* back to epoch 0 */
    assert_memory_equal(got, e0 + 2, sizeof got);
    gc_dataset_free(again);

    /* Another seed, another order. */
    gc_dataset *other = dataset(t, 6, true, 43);
    int o0[6], o1[6];
    epoch_order(other, t, 0, o0);
    epoch_order(other, t, 1, o1);
    assert_true(memcmp(o0, e0, sizeof o0));
    assert_true(memcmp(o1, e1, sizeof o1));
    gc_dataset_free(other);
    gc_dataset_free(d);
    gc_trainer_free(t);
}

static void test_eval_batches(void **state) {
    (void)state;
    gc_trainer *t = trainer();
    gc_dataset *d = dataset(t, 5, true, 1); /* eval ignores the shuffle */
    gc_error err = {0};
    assert_int_equal(gc_dataset_eval_batches(d), 3);
    int got[B];
    int64_t real = 0;
    assert_true(gc_dataset_load_eval(d, t, 1, &real, &err));
    seen(t, got);
    assert_int_equal(real, 2);
    assert_int_equal(got[0], 2);
    assert_int_equal(got[1], 3);
    assert_true(gc_dataset_load_eval(d, t, 2, &real, &err));
    seen(t, got);
    assert_int_equal(real, 1);
    assert_int_equal(got[0], 4);
    assert_int_equal(got[1], 4); /* padded with the last example */
    assert_false(gc_dataset_load_eval(d, t, 3, &real, &err));
    assert_non_null(strstr(err.message, "past the data"));

    /* Any example range, padded up to the inputs' batch. */
    assert_true(gc_dataset_load_examples(d, t, 3, 1, 2, &err));
    seen(t, got);
    assert_int_equal(got[0], 3);
    assert_int_equal(got[1], 3);
    gc_error e2 = {0};
    assert_false(gc_dataset_load_examples(d, t, 4, 2, 2, &e2)); /* past the end */
    assert_non_null(strstr(e2.message, "not within the 5 examples"));
    gc_error e3 = {0};
    assert_false(gc_dataset_load_examples(d, t, 0, 1, 1, &e3)); /* 1 example is not the input's size */
    assert_non_null(strstr(e3.message, "input 'x'"));
    gc_dataset_free(d);
    gc_trainer_free(t);
}

static void test_fewer_than_a_batch(void **state) {
    (void)state;
    gc_trainer *t = trainer();
    gc_dataset *d = dataset(t, 1, false, 0);
    gc_error err = {0};
    assert_int_equal(gc_dataset_steps_per_epoch(d), 0);
    assert_int_equal(gc_dataset_eval_batches(d), 1); /* eval still sees the one example */
    assert_false(gc_dataset_load_step(d, t, 0, &err));
    assert_non_null(strstr(err.message, "the data has 1 example, fewer than one batch of 2"));
    gc_dataset_free(d);
    gc_trainer_free(t);
}

static void test_binding_errors(void **state) {
    (void)state;
    gc_trainer *t = trainer();
    gc_tensor x = {0}, y = {0};
    const char *name;
    assert_true(gc_trainer_input_info(t, 0, &name, &x));
    assert_true(gc_trainer_input_info(t, 1, &name, &y));
    gc_error err = {0};
    gc_dataset *d = gc_dataset_new(&err);

    gc_tensor wide = {GC_F32, 2, {4, 3}, calloc(12, sizeof(float))};
    assert_false(gc_dataset_bind(d, "x", wide, &x, &err));
    assert_non_null(strstr(err.message, "examples are f32[N, 3] but the input needs f32[B, 1]"));

    gc_tensor ints = {GC_I32, 2, {4, 1}, calloc(4, sizeof(int32_t))};
    gc_error e2 = {0};
    assert_false(gc_dataset_bind(d, "x", ints, &x, &e2));
    assert_non_null(strstr(e2.message, "i32[N, 1]"));

    gc_tensor four = {GC_F32, 2, {4, 1}, calloc(4, sizeof(float))};
    gc_tensor three = {GC_F32, 2, {3, 1}, calloc(3, sizeof(float))};
    gc_tensor again = {GC_F32, 2, {4, 1}, calloc(4, sizeof(float))};
    gc_error e3 = {0};
    assert_true(gc_dataset_bind(d, "x", four, &x, &e3));
    assert_false(gc_dataset_bind(d, "x", again, &x, &e3));
    assert_non_null(strstr(e3.message, "bound to data twice"));
    gc_error e4 = {0};
    assert_true(gc_dataset_bind(d, "y", three, &y, &e4));
    assert_false(gc_dataset_finish(d, false, 0, &e4));
    assert_non_null(strstr(e4.message, "data for 'y' has 3 examples but 'x' has 4"));
    gc_dataset_free(d);

    gc_error e5 = {0};
    gc_dataset *empty = gc_dataset_new(&e5);
    assert_false(gc_dataset_finish(empty, false, 0, &e5));
    assert_non_null(strstr(e5.message, "no data bound"));
    gc_dataset_free(empty);
    gc_trainer_free(t);
}

static void test_text_windows(void **state) {
    (void)state;
    const char *text = "hello world"; /* 11 bytes: (11 - 1) / 3 = 3 windows, "d" is dropped */
    gc_tensor tokens, targets;
    gc_error err = {0};
    assert_true(gc_text_windows("t.txt", (const unsigned char *)text, strlen(text), 3, &tokens, &targets, &err));
    assert_int_equal(tokens.dtype, GC_I32);
    assert_int_equal(tokens.rank, 2);
    assert_int_equal(tokens.shape[0], 3);
    assert_int_equal(tokens.shape[1], 3);
    assert_int_equal(targets.shape[0], 3);
    const char *want_tokens = "hello wor", *want_targets = "ello worl";
    for (int i = 0; i < 9; i++) {
        assert_int_equal(((int32_t *)tokens.data)[i], (unsigned char)want_tokens[i]);
        assert_int_equal(((int32_t *)targets.data)[i], (unsigned char)want_targets[i]);
    }
    free(tokens.data);
    free(targets.data);

    /* Bytes above 127 are tokens 128..255, not negative numbers. */
    const unsigned char high[3] = {0xC3, 0xA9, 0xFF};
    assert_true(gc_text_windows("h.txt", high, 3, 2, &tokens, &targets, &err));
    assert_int_equal(((int32_t *)tokens.data)[0], 0xC3);
    assert_int_equal(((int32_t *)targets.data)[1], 0xFF);
    free(tokens.data);
    free(targets.data);

    /* Exactly T + 1 bytes is one window; T bytes is too short. */
    assert_true(gc_text_windows("t.txt", (const unsigned char *)"abcd", 4, 3, &tokens, &targets, &err));
    assert_int_equal(tokens.shape[0], 1);
    free(tokens.data);
    free(targets.data);
    gc_error e2 = {0};
    assert_false(gc_text_windows("short.txt", (const unsigned char *)"abc", 3, 3, &tokens, &targets, &e2));
    assert_non_null(strstr(e2.message, "short.txt has 3 bytes; a window of context 3 needs 4"));
    assert_null(tokens.data);
    gc_error e3 = {0};
    assert_false(gc_text_read("/nonexistent/corpus.txt", 3, &tokens, &targets, &e3));
    assert_int_equal(e3.code, GC_ERR_IO);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order_with_epochs),
        cmocka_unit_test(test_shuffled_epochs),
        cmocka_unit_test(test_eval_batches),
        cmocka_unit_test(test_fewer_than_a_batch),
        cmocka_unit_test(test_binding_errors),
        cmocka_unit_test(test_text_windows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
