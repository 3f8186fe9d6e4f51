/*
 * test_compile_scaling.c: compiling a model costs about linear time in its size (issue 20), so a
 * deep model's `gradc check` (front end, autodiff, passes, the memory plan) answers fast. The
 * memory plan's best fit is quadratic in the values alive together, which a long chain makes
 * all of them: past a size the planner packs with an allocator run over time (passes/plan.c).
 * Bounds are generous (10 s of CPU time, which other jobs on a loaded machine do not inflate as
 * they do wall time) against well under a second of work, so a return to quadratic time (about
 * a minute here) fails while noise does not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <gradc/gradc.h>

#include "runtime/trainer.h"

enum { TIME_BOUND_SECONDS = 10 };

/* The process's CPU time: the trainer on the interpreter runs on this thread alone. */
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* `gradc check`'s work: a trainer on the interpreter (compiling and planning); its planned
 * activations into *planned. */
static void check_in_time(const char *what, const char *text, int64_t *planned) {
    double start = now();
    gc_error err = {0};
    gc_model *m = gc_model_load_string(text, "scaling.gm", &err);
    assert_non_null(m);
    gc_options opts = {.backend = GC_BACKEND_INTERP, .threads = 1};
    gc_trainer *t = gc_trainer_new(m, &opts, &err);
    gc_model_free(m);
    if (!t) fail_msg("%s: %s", what, err.message);
    gc_memory_report r;
    gc_trainer_memory(t, true, &r);
    gc_memory_report all;
    gc_trainer_memory(t, false, &all);
    *planned = r.activations;
    gc_trainer_free(t);
    double seconds = now() - start;
    print_message("%s: %.2f s CPU, activations %lld planned of %lld\n", what, seconds, (long long)r.activations,
                  (long long)all.activations);
    if (seconds > TIME_BOUND_SECONDS) fail_msg("%s took %.1f s of CPU (bound %d s)", what, seconds, TIME_BOUND_SECONDS);
    assert_true(r.activations <= all.activations);
}

static void test_a_long_relu_loop_plans_fast(void **state) {
    (void)state;
    char text[512];
    snprintf(text, sizeof text,
             "input x: f32[4, 8]\ninput y: f32[4, 8]\nparam w: f32[8, 8] = normal(0, 0.1)\nh = x @ w\n"
             "for i in range(%d) {\n    h = relu(h)\n}\nloss = mse_loss(h, y)\ntrain {\n    optimizer = sgd(lr=0.1)\n}\n",
             20000); /* about 100,000 nodes of training step: under the bound (frontend/lower.h) */
    int64_t planned;
    check_in_time("20000 relus", text, &planned);
}

static void test_thousands_of_linear_layers_plan_fast(void **state) {
    (void)state;
    int layers = 3000;
    size_t cap = (size_t)layers * 40 + 256;
    char *text = malloc(cap);
    assert_non_null(text);
    char *p = text + sprintf(text, "input x: f32[4, 16]\ninput y: f32[4, 16]\nh = x\n");
    for (int i = 0; i < layers; i++) p += sprintf(p, "h = linear(h, 16) as l%d\n", i);
    sprintf(p, "loss = mse_loss(h, y)\ntrain {\n    optimizer = sgd(lr=0.1)\n}\n");
    int64_t planned;
    check_in_time("3000 linear layers", text, &planned);
    free(text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_long_relu_loop_plans_fast),
        cmocka_unit_test(test_thousands_of_linear_layers_plan_fast),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
