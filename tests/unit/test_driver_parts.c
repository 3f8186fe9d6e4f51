/*
 * test_driver_parts.c: the small pieces of the training driver's front ends: "did you mean" for
 * a mistyped option (runtime/suggest.h), overlapping text windows (--text-stride,
 * runtime/text_data.h), where --keep-best keeps its checkpoint, and how many updates a run does.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <gradc/gradc.h>

#include "runtime/suggest.h"
#include "runtime/text_data.h"
#include "runtime/train_driver.h"

static const char *const flags[] = {"--steps", "--epochs", "--save", "--save-every", "--save-weights",
                                    "--eval-every", "--eval-data", "--quiet", "--keep-best"};
enum { NUM_FLAGS = sizeof flags / sizeof flags[0] };

static void suggests_the_nearest_option(void **s) {
    (void)s;
    assert_string_equal(gc_suggest_name("--step", flags, NUM_FLAGS), "--steps");        /* a missing letter */
    assert_string_equal(gc_suggest_name("--sav", flags, NUM_FLAGS), "--save");          /* nearest, not first prefix */
    assert_string_equal(gc_suggest_name("--qiuet", flags, NUM_FLAGS), "--quiet");       /* a swap counts one */
    assert_string_equal(gc_suggest_name("--eval-evry", flags, NUM_FLAGS), "--eval-every");
    assert_string_equal(gc_suggest_name("-epochs", flags, NUM_FLAGS), "--epochs");      /* dashes do not count */
    assert_string_equal(gc_suggest_name("--keep", flags, NUM_FLAGS), "--keep-best");    /* a prefix when nothing is near */
    assert_null(gc_suggest_name("--zzzzzzzz", flags, NUM_FLAGS));
    assert_null(gc_suggest_name("--lr", flags, NUM_FLAGS));
    assert_null(gc_suggest_name("", flags, NUM_FLAGS));
    assert_null(gc_suggest_name("--steps", flags, 0));
}

static void text_windows_with_a_stride(void **s) {
    (void)s;
    const char *text = "abcdefghij"; /* 10 bytes, context 4 */
    gc_tensor tok, tgt;
    gc_error err = {0};
    /* Stride 1: every offset, floor((10 - 1 - 4) / 1) + 1 = 6 windows. */
    assert_true(gc_text_windows_strided("t", (const unsigned char *)text, 10, 4, 1, &tok, &tgt, &err));
    assert_int_equal(tok.shape[0], 6);
    assert_int_equal(tok.shape[1], 4);
    const int32_t *a = tok.data, *b = tgt.data;
    for (int w = 0; w < 6; w++)
        for (int i = 0; i < 4; i++) {
            assert_int_equal(a[w * 4 + i], text[w + i]);
            assert_int_equal(b[w * 4 + i], text[w + i + 1]);
        }
    free(tok.data);
    free(tgt.data);
    /* Stride 3: windows at 0, 3 (6 would need byte 10): 2. */
    assert_true(gc_text_windows_strided("t", (const unsigned char *)text, 10, 4, 3, &tok, &tgt, &err));
    assert_int_equal(tok.shape[0], 2);
    assert_int_equal(((int32_t *)tok.data)[4], 'd');
    assert_int_equal(((int32_t *)tgt.data)[7], 'h');
    free(tok.data);
    free(tgt.data);
    /* Stride = context: the non-overlapping windows of gc_text_windows, floor(9 / 4) = 2. */
    gc_tensor tok2, tgt2;
    assert_true(gc_text_windows_strided("t", (const unsigned char *)text, 10, 4, 4, &tok, &tgt, &err));
    assert_true(gc_text_windows("t", (const unsigned char *)text, 10, 4, &tok2, &tgt2, &err));
    assert_int_equal(tok.shape[0], 2);
    assert_int_equal(tok2.shape[0], 2);
    assert_memory_equal(tok.data, tok2.data, 8 * sizeof(int32_t));
    assert_memory_equal(tgt.data, tgt2.data, 8 * sizeof(int32_t));
    free(tok.data);
    free(tgt.data);
    free(tok2.data);
    free(tgt2.data);
    gc_error e2 = {0};
    assert_false(gc_text_windows_strided("t", (const unsigned char *)text, 10, 4, 0, &tok, &tgt, &e2));
    assert_int_equal(e2.code, GC_ERR_USER);
    assert_non_null(strstr(e2.message, "stride must be positive"));
}

static void keep_best_path_is_beside_the_checkpoint(void **s) {
    (void)s;
    char *p = gc_train_best_path("runs/model.safetensors");
    assert_string_equal(p, "runs/model.best.safetensors");
    free(p);
    p = gc_train_best_path("ckpt.st");
    assert_string_equal(p, "ckpt.st.best");
    free(p);
    p = gc_train_best_path(".safetensors");
    assert_string_equal(p, ".safetensors.best");
    free(p);
}

static int no_load(void *ctx, gc_trainer *t, int64_t index, gc_error *err) {
    (void)ctx, (void)t, (void)index, (void)err;
    return 1;
}

static void updates_of_a_run(void **s) {
    (void)s;
    gc_train_source src = {no_load, NULL, 12, 8, 0};
    gc_train_config c = {.steps = -1, .epochs = -1};
    /* A NULL trainer has no accumulation (1): one epoch of 12 batches by default. */
    assert_int_equal(gc_train_total(&c, &src, NULL), 12);
    c.epochs = 3;
    assert_int_equal(gc_train_total(&c, &src, NULL), 36);
    c.epochs = -1;
    c.steps = 5;
    assert_int_equal(gc_train_total(&c, &src, NULL), 5);
    c.steps = 0;
    assert_int_equal(gc_train_total(&c, &src, NULL), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(suggests_the_nearest_option),
        cmocka_unit_test(text_windows_with_a_stride),
        cmocka_unit_test(keep_best_path_is_beside_the_checkpoint),
        cmocka_unit_test(updates_of_a_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
