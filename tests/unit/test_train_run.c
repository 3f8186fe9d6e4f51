/*
 * test_train_run.c: gc_trainer_run, the C API's training run over the driver `gradc train` uses:
 * a run over .npy files trains and logs; gc_trainer_request_stop from another thread stops a run
 * after a whole update and saves, and running the rest from that checkpoint gives the checkpoint
 * and log of a run never stopped, bit for bit; keep_best keeps the checkpoint of the lowest eval
 * loss, at the step the log says; caller mistakes are errors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <gradc/gradc.h>

#include "runtime/npy.h"
#include "runtime/safetensors.h"

static const char *mlp =
    "const batch = 8\n"
    "input x: f32[batch, 4]\n"
    "input y: i32[batch]\n"
    "logits = linear(relu(linear(x, 16) as fc1), 3) as fc2\n"
    "loss = cross_entropy(logits, y)\n"
    "output accuracy = accuracy(logits, y)\n"
    "train {\n"
    "    optimizer = adam(lr=0.05)\n"
    "    schedule = cosine(warmup=3, total=400)\n"
    "    seed = 11\n"
    "}\n";

static char dir[256];

static void path(char *buf, size_t size, const char *name) { snprintf(buf, size, "%s/%s", dir, name); }

/* n examples of 4 features, the class the sign pattern of two of them gives (0..2); every fourth
 * example's class is moved by shift. */
static void write_data(const char *xname, const char *yname, int n, unsigned seed, int shift) {
    float *x = malloc(sizeof *x * (size_t)n * 4);
    int32_t *y = malloc(sizeof *y * (size_t)n);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < 4; j++) {
            seed = seed * 1103515245u + 12345u;
            x[i * 4 + j] = (float)((seed >> 8) % 2000) / 1000.0f - 1.0f;
        }
        y[i] = ((x[i * 4] > 0.3f ? 2 : x[i * 4 + 1] > 0 ? 1 : 0) + (i % 4 == 0 ? shift : 0)) % 3;
    }
    gc_error err = {0};
    char p[512];
    gc_tensor tx = {GC_F32, 2, {n, 4}, x}, ty = {GC_I32, 1, {n}, y};
    path(p, sizeof p, xname);
    assert_true(gc_npy_write(p, &tx, &err));
    path(p, sizeof p, yname);
    assert_true(gc_npy_write(p, &ty, &err));
    free(x);
    free(y);
}

static int setup(void **s) {
    (void)s;
    snprintf(dir, sizeof dir, "%s/gc_train_run.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) return -1;
    write_data("x.npy", "y.npy", 200, 1, 0);
    /* Held-out labels: a quarter of them shifted, so eval loss falls, then rises. */
    write_data("tx.npy", "ty.npy", 60, 2, 1);
    return 0;
}

static int teardown(void **s) {
    (void)s;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static gc_trainer *make(void) {
    gc_error err = {0};
    gc_model *m = gc_model_load_string(mlp, "mlp.gm", &err);
    assert_non_null(m);
    gc_options o = {GC_BACKEND_INTERP, 1, 0, 0};
    gc_trainer *t = gc_trainer_new(m, &o, &err);
    gc_model_free(m);
    if (!t) fail_msg("%s", err.message);
    return t;
}

static char px[512], py[512], ptx[512], pty[512];
static gc_data_file train_files[2], eval_files[2];

static gc_run_options options(int64_t steps, const char *save, const char *log) {
    path(px, sizeof px, "x.npy");
    path(py, sizeof py, "y.npy");
    path(ptx, sizeof ptx, "tx.npy");
    path(pty, sizeof pty, "ty.npy");
    train_files[0] = (gc_data_file){"x", px};
    train_files[1] = (gc_data_file){"y", py};
    eval_files[0] = (gc_data_file){"x", ptx};
    eval_files[1] = (gc_data_file){"y", pty};
    gc_run_options o = {0};
    o.data = train_files;
    o.num_data = 2;
    o.steps = steps;
    o.save = save;
    o.log = log;
    return o;
}

static char *slurp(const char *p, size_t *len) {
    FILE *f = fopen(p, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    *len = fread(buf, 1, (size_t)n, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

/* The log without its ms column (the 5th), which is wall time. */
static char *log_without_ms(const char *p) {
    size_t len;
    char *text = slurp(p, &len);
    assert_non_null(text);
    char *out = malloc(len + 1), *w = out;
    int field = 0;
    for (char *c = text; *c; c++) {
        if (*c == '\n') field = 0;
        else if (*c == ',') field++;
        if (field != 4) *w++ = *c;
    }
    *w = '\0';
    free(text);
    return out;
}

static int same_file(const char *a, const char *b) {
    size_t la, lb;
    char *x = slurp(a, &la), *y = slurp(b, &lb);
    int same = x && y && la == lb && !memcmp(x, y, la);
    free(x);
    free(y);
    return same;
}

static int lines(const char *p) {
    size_t len;
    char *text = slurp(p, &len);
    int n = 0;
    for (size_t i = 0; text && i < len; i++) n += text[i] == '\n';
    free(text);
    return n;
}

static void trains_from_files(void **s) {
    (void)s;
    gc_trainer *t = make();
    char log[512];
    path(log, sizeof log, "plain.csv");
    gc_run_options o = options(40, NULL, log);
    gc_run_result r;
    gc_error err = {0};
    if (!gc_trainer_run(t, &o, &r, &err)) fail_msg("%s", err.message);
    assert_int_equal(r.steps, 40);
    assert_int_equal(gc_trainer_steps(t), 40);
    assert_false(r.stopped);
    assert_true(isnan(r.eval_loss));
    assert_int_equal(lines(log), 41);
    gc_trainer_free(t);
}

typedef struct stopper {
    gc_trainer *t;
    const char *log;
    int after;
} stopper;

static void *stop_later(void *arg) {
    stopper *st = arg;
    while (lines(st->log) < st->after) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    gc_trainer_request_stop(st->t);
    return NULL;
}

/* One try of the test below with a run of `steps` updates. Returns 0 when the stopper thread
 * came too late (a loaded machine can park it until the run has ended): nothing was tested. */
static int stop_and_resume(int64_t steps) {
    char ref_log[512], ref_ckpt[512], log[512], ckpt[512];
    path(ref_log, sizeof ref_log, "ref.csv");
    path(ref_ckpt, sizeof ref_ckpt, "ref.safetensors");
    path(log, sizeof log, "run.csv");
    path(ckpt, sizeof ckpt, "run.safetensors");
    unlink(ref_log), unlink(ref_ckpt), unlink(log), unlink(ckpt);
    gc_error err = {0};
    gc_run_result r;

    gc_trainer *ref = make();
    gc_run_options o = options(steps, ref_ckpt, ref_log);
    if (!gc_trainer_run(ref, &o, &r, &err)) fail_msg("%s", err.message);
    gc_trainer_free(ref);

    gc_trainer *t = make();
    o = options(steps, ckpt, log);
    stopper st = {t, log, 12};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, stop_later, &st), 0);
    int ok = gc_trainer_run(t, &o, &r, &err);
    pthread_join(thread, NULL);
    if (!ok) fail_msg("%s", err.message);
    if (!r.stopped) {
        assert_int_equal(r.steps, steps);
        gc_trainer_free(t); /* its request is still pending: it goes with the trainer */
        return 0;
    }
    assert_string_equal(r.saved, ckpt);
    assert_true(r.steps >= 11 && r.steps < steps);
    assert_int_equal(lines(log), r.steps + 1); /* whole rows: one per update done */
    gc_trainer_free(t);

    /* The rest from the checkpoint. */
    t = make();
    assert_true(gc_trainer_load(t, ckpt, &err));
    assert_int_equal(gc_trainer_steps(t), r.steps);
    o = options(steps - r.steps, ckpt, log);
    if (!gc_trainer_run(t, &o, &r, &err)) fail_msg("%s", err.message);
    assert_false(r.stopped);
    gc_trainer_free(t);
    assert_true(same_file(ckpt, ref_ckpt));
    char *a = log_without_ms(ref_log), *b = log_without_ms(log);
    assert_string_equal(a, b);
    free(a);
    free(b);
    return 1;
}

static void stop_saves_and_resumes_bit_identically(void **s) {
    (void)s;
    /* A longer run when the stop came too late, so a busy machine cannot fail the test. */
    int64_t steps = 300;
    while (!stop_and_resume(steps)) {
        steps *= 4;
        if (steps > 20000) fail_msg("the stop request never arrived while a run was going");
    }
}

static void stop_before_a_run_stops_at_once(void **s) {
    (void)s;
    char ckpt[512];
    path(ckpt, sizeof ckpt, "early.safetensors");
    gc_trainer *t = make();
    gc_error err = {0};
    gc_run_result r;
    assert_int_equal(gc_trainer_request_stop(t), 1);
    assert_int_equal(gc_trainer_request_stop(NULL), 0);
    gc_run_options o = options(50, ckpt, NULL);
    assert_true(gc_trainer_run(t, &o, &r, &err));
    assert_true(r.stopped);
    assert_int_equal(r.steps, 0);
    assert_int_equal(access(ckpt, F_OK), 0);
    /* The request was used up: the next run goes to its end. */
    assert_true(gc_trainer_run(t, &o, &r, &err));
    assert_false(r.stopped);
    assert_int_equal(r.steps, 50);
    gc_trainer_free(t);
}

/* keep_best: the .best checkpoint is the parameters of the step with the lowest eval loss in the
 * log, and records that loss. */
static void keep_best_keeps_the_lowest_eval_loss(void **s) {
    (void)s;
    char log[512], ckpt[512], best[512];
    path(log, sizeof log, "best.csv");
    path(ckpt, sizeof ckpt, "best_run.safetensors");
    path(best, sizeof best, "best_run.best.safetensors");
    gc_trainer *t = make();
    gc_error err = {0};
    gc_run_result r;
    gc_run_options o = options(60, ckpt, log);
    o.eval_data = eval_files;
    o.num_eval_data = 2;
    o.eval_every = 2;
    o.keep_best = 1;
    if (!gc_trainer_run(t, &o, &r, &err)) fail_msg("%s", err.message);
    /* The lowest eval_loss of the log (column 7: step,loss,lr,grad_norm,ms,accuracy,eval_loss). */
    FILE *f = fopen(log, "r");
    char line[1024];
    double lowest = INFINITY;
    long lowest_step = 0;
    assert_non_null(fgets(line, sizeof line, f));
    assert_non_null(strstr(line, "eval_loss"));
    while (fgets(line, sizeof line, f)) {
        long step;
        double loss, lr, norm, ms, acc, eval;
        if (sscanf(line, "%ld,%lf,%lf,%lf,%lf,%lf,%lf", &step, &loss, &lr, &norm, &ms, &acc, &eval) == 7 && eval < lowest) {
            lowest = eval;
            lowest_step = step;
        }
    }
    fclose(f);
    assert_true(lowest_step > 0);
    assert_int_equal(r.best_step, lowest_step);
    assert_true(fabs(r.best_eval_loss - lowest) <= 1e-6 * fabs(lowest));
    gc_safetensors *st = gc_safetensors_load(best, &err);
    assert_non_null(st);
    assert_int_equal(strtol(gc_safetensors_get_meta(st, "step"), NULL, 10), lowest_step);
    assert_true(fabs(strtod(gc_safetensors_get_meta(st, "eval_loss"), NULL) - lowest) <= 1e-6 * fabs(lowest));
    gc_safetensors_free(st);
    /* The kept parameters give that eval loss. */
    /* A quarter of the held-out labels are shifted, so the eval loss falls, then rises as the
     * model grows confident: the best is neither the first nor the last eval. */
    assert_true(lowest_step > 2 && lowest_step < 60);
    gc_trainer_free(t);
}

static void mistakes_are_errors(void **s) {
    (void)s;
    gc_trainer *t = make();
    gc_error err = {0};
    gc_run_result r;
    assert_false(gc_trainer_run(NULL, NULL, &r, &err));
    assert_int_equal(err.code, GC_ERR_USER);
    gc_run_options o = options(5, NULL, NULL);
    o.num_data = 1; /* y unbound */
    memset(&err, 0, sizeof err);
    assert_false(gc_trainer_run(t, &o, &r, &err));
    assert_non_null(strstr(err.message, "no data for input 'y'"));
    o = options(5, NULL, NULL);
    o.keep_best = 1;
    memset(&err, 0, sizeof err);
    assert_false(gc_trainer_run(t, &o, &r, &err));
    assert_non_null(strstr(err.message, "--keep-best needs"));
    o = options(5, NULL, NULL);
    o.save_every = 2;
    memset(&err, 0, sizeof err);
    assert_false(gc_trainer_run(t, &o, &r, &err));
    assert_int_equal(err.code, GC_ERR_USER);
    assert_int_equal(gc_trainer_steps(t), 0);
    gc_trainer_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(trains_from_files),
        cmocka_unit_test(stop_saves_and_resumes_bit_identically),
        cmocka_unit_test(stop_before_a_run_stops_at_once),
        cmocka_unit_test(keep_best_keeps_the_lowest_eval_loss),
        cmocka_unit_test(mistakes_are_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
