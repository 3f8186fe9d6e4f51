/*
 * api_errors.c: what the gradc C API does with a caller's mistakes — each one is a failure value
 * and a filled gc_error, never a crash, a print or an exit.
 *
 * Each check makes one mistake and prints the message the library gave; the program exits 1 if
 * any mistake was accepted, gave the wrong error code or an empty message, so it doubles as a test
 * of the installed library (tests/scripts/test_capi_install.sh runs it).
 *
 * usage: api_errors [SCRATCH_DIR]     (a writable directory for a junk checkpoint; default /tmp)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gradc/gradc.h>

static const char *model_text =
    "input x: f32[4, 2]\n"
    "input y: i32[4]\n"
    "logits = linear(x, 2) as fc\n"
    "loss = cross_entropy(logits, y)\n"
    "output accuracy = accuracy(logits, y)\n";

static int passed, failed;

/* `ok` is the call's return value seen as success; the mistake must fail with `want`. */
static void expect_error(const char *what, int ok, const gc_error *err, gc_error_code want) {
    if (ok) {
        printf("FAIL: %s: accepted\n", what);
        failed++;
    } else if (err->code != want || !err->message[0]) {
        printf("FAIL: %s: code %d (expected %d), message '%s'\n", what, (int)err->code, (int)want, err->message);
        failed++;
    } else {
        printf("ok: %s: %s\n", what, err->message);
        passed++;
    }
}

static void expect_true(const char *what, int cond) {
    printf("%s: %s\n", cond ? "ok" : "FAIL", what);
    if (cond)
        passed++;
    else
        failed++;
}

/* Mistakes before a trainer exists: models that cannot be read or compiled. */
static void model_mistakes(void) {
    gc_error err = {0};
    expect_error("gc_model_load of a missing file", gc_model_load("/nonexistent/model.gm", &err) != NULL, &err,
                 GC_ERR_IO);
    expect_error("gc_model_load of NULL", gc_model_load(NULL, &err) != NULL, &err, GC_ERR_USER);
    expect_error("gc_model_load_string of NULL", gc_model_load_string(NULL, "x.gm", &err) != NULL, &err,
                 GC_ERR_USER);
    expect_error("gc_model_set_const on NULL", gc_model_set_const(NULL, "n", 1, &err), &err, GC_ERR_USER);
    expect_error("gc_trainer_new of NULL", gc_trainer_new(NULL, NULL, &err) != NULL, &err, GC_ERR_USER);

    /* A syntax error is found when compiling, and located in the model text. */
    gc_model *bad = gc_model_load_string("input x: f32[2]\nloss = sum(x +)\n", "bad.gm", &err);
    expect_true("a model with a syntax error loads as text", bad != NULL);
    gc_trainer *t = gc_trainer_new(bad, NULL, &err);
    expect_error("gc_trainer_new of a model with a syntax error", t != NULL, &err, GC_ERR_USER);
    expect_true("the syntax error is located at bad.gm:2", !strcmp(err.file, "bad.gm") && err.line == 2 && err.col > 0);
    expect_error("gc_model_set_const with a NULL name", gc_model_set_const(bad, NULL, 1, &err), &err, GC_ERR_USER);
    gc_trainer_free(t);
    gc_model_free(bad);

    gc_model *m = gc_model_load_string(model_text, "m.gm", &err);
    /* An override is checked against the model's consts when compiling, not when it is set. */
    gc_model *unknown = gc_model_load_string(model_text, "m.gm", &err);
    expect_true("gc_model_set_const of a name the model lacks is stored",
                unknown && gc_model_set_const(unknown, "width", 3, &err));
    t = unknown ? gc_trainer_new(unknown, NULL, &err) : NULL;
    expect_error("gc_trainer_new with an override of a missing const", t != NULL, &err, GC_ERR_USER);
    expect_true("the message names the const", strstr(err.message, "'width'") != NULL);
    gc_trainer_free(t);
    gc_model_free(unknown);

    gc_options wrong = {.backend = (gc_backend)42};
    t = m ? gc_trainer_new(m, &wrong, &err) : NULL;
    expect_error("gc_trainer_new with an unknown backend", t != NULL, &err, GC_ERR_USER);
    gc_trainer_free(t);
    gc_model_free(m);
}

/* Writes a file that is not a checkpoint, for gc_trainer_load to refuse. */
static int write_junk(const char *path) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fputs("this is not a safetensors file", f) >= 0;
    return fclose(f) == 0 && ok;
}

/* Mistakes with a working trainer: wrong names, sizes, files and stages. */
static void trainer_mistakes(const char *scratch) {
    gc_error err = {0};
    gc_model *m = gc_model_load_string(model_text, "m.gm", &err);
    gc_options opts = {.backend = GC_BACKEND_INTERP, .threads = 1};
    gc_trainer *t = m ? gc_trainer_new(m, &opts, &err) : NULL;
    gc_model_free(m);
    if (!t) {
        printf("FAIL: the good model did not compile: %s\n", err.message);
        failed++;
        return;
    }
    float x[8] = {0, 1, 1, 0, 1, 1, 0, 0};
    int32_t y[4] = {1, 1, 0, 0};
    gc_tensor v;
    float loss = 0;
    expect_error("gc_trainer_output before any step", gc_trainer_output(t, "accuracy", &v, &err), &err, GC_ERR_USER);
    expect_error("gc_trainer_set_input with a wrong name", gc_trainer_set_input(t, "z", x, sizeof x, &err), &err,
                 GC_ERR_USER);
    expect_true("the message names the input", strstr(err.message, "'z'") != NULL);
    expect_error("gc_trainer_set_input with too few bytes", gc_trainer_set_input(t, "x", x, sizeof x - 4, &err), &err,
                 GC_ERR_USER);
    expect_true("the message gives the input's type", strstr(err.message, "f32[4, 2]") != NULL);
    expect_error("gc_trainer_set_input with too many bytes", gc_trainer_set_input(t, "y", x, sizeof x, &err), &err,
                 GC_ERR_USER);
    expect_error("gc_trainer_set_input with NULL data", gc_trainer_set_input(t, "x", NULL, sizeof x, &err), &err,
                 GC_ERR_USER);
    expect_error("gc_trainer_set_input with a NULL name", gc_trainer_set_input(t, NULL, x, sizeof x, &err), &err,
                 GC_ERR_USER);
    expect_error("gc_trainer_set_input on NULL", gc_trainer_set_input(NULL, "x", x, sizeof x, &err), &err,
                 GC_ERR_USER);
    expect_error("gc_trainer_step on NULL", gc_trainer_step(NULL, &loss, &err), &err, GC_ERR_USER);
    expect_error("gc_trainer_eval on NULL", gc_trainer_eval(NULL, &loss, &err), &err, GC_ERR_USER);

    int fed = gc_trainer_set_input(t, "x", x, sizeof x, &err) && gc_trainer_set_input(t, "y", y, sizeof y, &err);
    expect_true("the right inputs are accepted after the wrong ones", fed);
    expect_true("a step runs after the mistakes", gc_trainer_step(t, &loss, &err) && loss > 0);
    expect_error("gc_trainer_output of an unknown name", gc_trainer_output(t, "precision", &v, &err), &err,
                 GC_ERR_USER);
    expect_error("gc_trainer_output into NULL", gc_trainer_output(t, "loss", NULL, &err), &err, GC_ERR_USER);
    expect_error("gc_trainer_param of an unknown name", gc_trainer_param(t, "fc.gamma", &v, &err), &err, GC_ERR_USER);
    expect_error("gc_trainer_param into NULL", gc_trainer_param(t, "fc.weight", NULL, &err), &err, GC_ERR_USER);

    const char *name = NULL;
    expect_true("gc_trainer_input_info past the end is 0", !gc_trainer_input_info(t, 2, &name, &v));
    expect_true("gc_trainer_input_info at -1 is 0", !gc_trainer_input_info(t, -1, &name, &v));
    expect_true("gc_trainer_param_name past the end is 0", !gc_trainer_param_name(t, 2, &name));
    expect_true("gc_trainer_output_name past the end is 0", !gc_trainer_output_name(t, 5, &name));
    expect_true("gc_trainer_ir of an unknown stage is NULL", gc_trainer_ir(t, "no-such-stage") == NULL);
    expect_true("gc_trainer_ir of NULL is NULL", gc_trainer_ir(NULL, NULL) == NULL);

    char path[4096];
    expect_error("gc_trainer_save into a missing directory",
                 gc_trainer_save(t, "/nonexistent/dir/ckpt.safetensors", &err), &err, GC_ERR_IO);
    expect_error("gc_trainer_save to NULL", gc_trainer_save(t, NULL, &err), &err, GC_ERR_USER);
    expect_error("gc_trainer_load of a missing file", gc_trainer_load(t, "/nonexistent.safetensors", &err), &err,
                 GC_ERR_IO);
    snprintf(path, sizeof path, "%s/junk.safetensors", scratch);
    if (write_junk(path)) {
        expect_error("gc_trainer_load of a file that is not a checkpoint", gc_trainer_load(t, path, &err), &err,
                     GC_ERR_USER);
        remove(path);
    } else {
        printf("FAIL: cannot write %s\n", path);
        failed++;
    }

    /* The mistakes changed nothing: the trainer still trains. */
    float again = 0;
    expect_true("the trainer still steps after every mistake", gc_trainer_step(t, &again, &err) && again < loss);
    expect_true("two updates were counted", gc_trainer_steps(t) == 2);
    gc_trainer_free(t);
    gc_trainer_free(NULL);
    gc_model_free(NULL);
}

int main(int argc, char **argv) {
    model_mistakes();
    trainer_mistakes(argc > 1 ? argv[1] : "/tmp");
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
