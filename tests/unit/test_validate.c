/*
 * test_validate.c: the data checks of issue 17 (runtime/validate.c). The rules found in a model's
 * graph (class targets of cross_entropy and nll_loss with their ignore_index, embedding ids through
 * a reshape, one_hot), gc_validate_data's messages for out-of-range values and NaN (with the example
 * counted from 0), and gc_trainer_set_input refusing such a batch with a gc_error while leaving the
 * trainer usable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gradc/gradc.h>

#include "runtime/trainer.h"
#include "runtime/validate.h"

static const char *model =
    "const batch = 4\n"
    "input x: f32[batch, 3]\n"
    "input y: i32[batch]\n"
    "input tokens: i32[batch, 2]\n"
    "h = reshape(embedding(tokens, 5, 3) as emb, [batch, 6])\n"
    "logits = linear(concat([x, h], axis=1), 3) as fc\n"
    "loss = cross_entropy(logits, y, ignore_index=7)\n";

static gc_trainer *trainer(void) {
    gc_error err = {0};
    gc_model *m = gc_model_load_string(model, "v.gm", &err);
    assert_non_null(m);
    gc_options opts = {.backend = GC_BACKEND_INTERP};
    gc_trainer *t = gc_trainer_new(m, &opts, &err);
    if (!t) fail_msg("%s", err.message);
    gc_model_free(m);
    return t;
}

static void test_class_targets(void **state) {
    (void)state;
    gc_trainer *t = trainer();
    gc_error err = {0};
    int32_t ok[8] = {0, 1, 2, 7, 2, 1, 0, 0};
    assert_int_equal(gc_trainer_check_data(t, "y", "y.npy", ok, GC_I32, 8, 8, &err), 1);
    int32_t big[8] = {0, 1, 2, 0, 1, 3, 0, 0};
    assert_int_equal(gc_trainer_check_data(t, "y", "y.npy", big, GC_I32, 8, 8, &err), 0);
    assert_string_equal(err.message, "y.npy: example 5 has class 3, but the model's cross_entropy at v.gm:7:8 has 3 "
                                     "classes (0..2, or ignore_index 7)");
    int32_t neg[8] = {0, 1, -1, 0, 1, 2, 0, 0};
    assert_int_equal(gc_trainer_check_data(t, "y", "y.npy", neg, GC_I32, 8, 8, &err), 0);
    assert_non_null(strstr(err.message, "example 2 has class -1"));
    gc_trainer_free(t);
}

static void test_embedding_ids(void **state) {
    (void)state;
    gc_trainer *t = trainer();
    gc_error err = {0};
    /* Two ids per example: the seventh value is example 3's second. */
    int32_t ids[8] = {0, 4, 1, 2, 3, 3, 4, 5};
    assert_int_equal(gc_trainer_check_data(t, "tokens", "t.npy", ids, GC_I32, 4, 8, &err), 0);
    assert_string_equal(err.message, "t.npy: example 3 has id 5, but the model's embedding at v.gm:5:13 has 5 rows (0..4)");
    ids[7] = 4;
    assert_int_equal(gc_trainer_check_data(t, "tokens", "t.npy", ids, GC_I32, 4, 8, &err), 1);
    gc_trainer_free(t);
}

static void test_nan(void **state) {
    (void)state;
    gc_trainer *t = trainer();
    gc_error err = {0};
    float x[12] = {0};
    x[10] = -INFINITY; /* additive masks hold -inf */
    assert_int_equal(gc_trainer_check_data(t, "x", "x.npy", x, GC_F32, 4, 12, &err), 1);
    x[7] = NAN;
    assert_int_equal(gc_trainer_check_data(t, "x", "x.npy", x, GC_F32, 4, 12, &err), 0);
    assert_string_equal(err.message, "x.npy: example 2 holds NaN (value 1 of the example)");
    gc_trainer_free(t);
}

static void test_set_input_refuses(void **state) {
    (void)state;
    gc_trainer *t = trainer();
    gc_error err = {0};
    int32_t y[4] = {0, 1, 9, 2};
    assert_int_equal(gc_trainer_set_input(t, "y", y, sizeof y, &err), 0);
    assert_int_equal(err.code, GC_ERR_USER);
    assert_string_equal(err.message, "input 'y': example 2 of the batch has class 9, but the model's cross_entropy at "
                                     "v.gm:7:8 has 3 classes (0..2, or ignore_index 7)");
    y[2] = 7;
    assert_int_equal(gc_trainer_set_input(t, "y", y, sizeof y, &err), 1);
    int32_t tokens[8] = {0, 1, 2, 3, 4, 0, 1, 2};
    assert_int_equal(gc_trainer_set_input(t, "tokens", tokens, sizeof tokens, &err), 1);
    float x[12] = {0};
    x[0] = NAN;
    assert_int_equal(gc_trainer_set_input(t, "x", x, sizeof x, &err), 0);
    assert_string_equal(err.message, "input 'x': example 0 of the batch holds NaN (value 0 of the example)");
    x[0] = 1;
    assert_int_equal(gc_trainer_set_input(t, "x", x, sizeof x, &err), 1);
    float loss;
    assert_int_equal(gc_trainer_step(t, &loss, &err), 1);
    assert_true(isfinite(loss));
    gc_trainer_free(t);
}

static void test_rules_of_one_hot(void **state) {
    (void)state;
    gc_error err = {0};
    gc_model *m = gc_model_load_string("const batch = 2\ninput x: f32[batch, 4]\ninput k: i32[batch, 2]\n"
                                       "loss = mse_loss(linear(x, 4) as fc, reshape(one_hot(k, 2), [batch, 4]))\n",
                                       "h.gm", &err);
    assert_non_null(m);
    gc_options opts = {.backend = GC_BACKEND_INTERP};
    gc_trainer *t = gc_trainer_new(m, &opts, &err);
    if (!t) fail_msg("%s", err.message);
    gc_model_free(m);
    int32_t k[4] = {0, 1, 1, 2};
    assert_int_equal(gc_trainer_check_data(t, "k", "k.npy", k, GC_I32, 2, 4, &err), 0);
    assert_non_null(strstr(err.message, "k.npy: example 1 has class 2, but the model's one_hot at h.gm:4:"));
    assert_non_null(strstr(err.message, "has 2 classes (0..1)"));
    gc_trainer_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_class_targets),     cmocka_unit_test(test_embedding_ids), cmocka_unit_test(test_nan),
        cmocka_unit_test(test_set_input_refuses), cmocka_unit_test(test_rules_of_one_hot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
