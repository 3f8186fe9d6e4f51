/*
 * aot_main.c: the command line of the standalone trainers `gradc compile` writes —
 * `TRAINER train [DATA] [...]` and `TRAINER eval --params CKPT [DATA]` (docs/compile.md).
 *
 * The trainer rebuilds the model's graphs from its embedded text with the frontend and passes,
 * and runs them with the ahead-of-time executor (runtime/aot.h) over the step functions linked
 * into it. This file supplies gc_executor_jit as that executor, so the public API's default,
 * native-code backend is the linked-in code and trainer.c needs no change; it is built into
 * libgradc_runtime.a only (never libgradc, which has the real JIT and must not print).
 * The options, progress output, log and checkpoints follow `gradc train` (tools/cmd_train.c).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gradc/gradc.h>

#include "frontend/diagnostic.h"
#include "ir/diag.h"
#include "runtime/aot.h"
#include "runtime/clock.h"
#include "runtime/data.h"
#include "runtime/distributed.h"
#include "runtime/npy.h"
#include "runtime/train_interrupt.h"
#include "runtime/train_log.h"

const gc_executor_ops *const gc_executor_jit = &gc_executor_aot;

enum { EXIT_USER = 1, EXIT_INTERNAL = 2, MAX_DATA = 64 };

static const char *prog = "trainer";

typedef struct binding {
    char name[256];
    const char *path;
} binding;

typedef struct options {
    binding data[MAX_DATA];
    int num_data;
    long long steps, epochs, save_every;
    const char *save, *resume, *init, *log, *params;
    int shuffle, quiet, json, threads;
} options;

static int usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: error: ", prog);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return EXIT_USER;
}

static int report(const gc_error *err, const gc_aot_model *m) {
    const char *source = !strcmp(err->file, m->filename) ? m->text : NULL;
    char *text = gc_format_diagnostic(err, source);
    const char *generic = "gradc: error: ";
    if (text && !strncmp(text, generic, strlen(generic))) fprintf(stderr, "%s: error: %s", prog, text + strlen(generic));
    else if (text) fputs(text, stderr);
    else fprintf(stderr, "%s: error: %s\n", prog, err->message);
    free(text);
    return err->code == GC_ERR_USER || err->code == GC_ERR_IO || err->code == GC_ERR_NUMERIC ? EXIT_USER : EXIT_INTERNAL;
}

static void usage(FILE *out) {
    fprintf(out,
            "usage: %s train [--data NAME=FILE.npy]... [--steps N | --epochs N] [--init CKPT] [--save CKPT]\n"
            "       %*s       [--save-every N] [--resume CKPT] [--log FILE.csv] [--no-shuffle] [--threads N] [--quiet]\n"
            "       %s eval --params CKPT [--data NAME=FILE.npy]... [--json]\n\n"
            "A standalone trainer written by `gradc compile`: the model's training step is compiled in.\n"
            "  --data NAME=F   bind a .npy array (first axis: examples) to the input NAME\n"
            "  --steps N       updates to run (default: one epoch)\n"
            "  --epochs N      passes over the data (floor(examples / batch / gradient_accumulation_steps) updates)\n"
            "  --init CKPT     start from the parameters in a safetensors file\n"
            "  --save CKPT     write parameters, optimizer state and the step at the end (and on Ctrl-C/\n"
            "                  SIGTERM, after the step in flight; without --save that checkpoint is\n"
            "                  interrupted.safetensors beside the log)\n"
            "  --save-every N  also write --save every N steps (a rolling checkpoint)\n"
            "  --resume CKPT   continue a run saved with --save, bit for bit\n"
            "  --log FILE.csv  one row per step: step,loss,lr,grad_norm,ms and every output\n"
            "  --no-shuffle    step k reads examples k*B .. k*B+B-1 (wrapping per epoch)\n"
            "  --quiet         no progress bar; a plain line every so often\n"
            "  --params CKPT   (eval) the parameters to evaluate\n"
            "  --json          (eval) one JSON object instead of `name value` lines\n",
            prog, (int)strlen(prog), "", prog);
}

/* `--name VALUE` or `--name=VALUE` at argv[*i]: 1 and *value, 0 when it is another flag, -1 when
 * the value is missing. */
static int flag_value(int argc, char **argv, int *i, const char *name, const char **value) {
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n)) return 0;
    if (a[n] == '=') {
        *value = a + n + 1;
        return 1;
    }
    if (a[n] != '\0') return 0;
    if (*i + 1 >= argc) return -1;
    *value = argv[++*i];
    return 1;
}

static int parse_count(const char *s, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < 0) return 0;
    *out = v;
    return 1;
}

/* Parses the options of `train` (eval = 0) or `eval` (eval = 1); returns -1 when fine, else an
 * exit status. */
static int parse(int argc, char **argv, int eval, options *o) {
    memset(o, 0, sizeof *o);
    o->steps = o->epochs = -1;
    o->shuffle = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        static const char *const valued[] = {"--data", "--steps", "--epochs", "--init", "--save", "--resume",
                                             "--log", "--params", "--threads", "--save-every"};
        int which = -1;
        for (int k = 0; which < 0 && k < (int)(sizeof valued / sizeof valued[0]); k++) {
            int r = flag_value(argc, argv, &i, valued[k], &v);
            if (r < 0) return usage_error("%s needs a value", valued[k]);
            if (r) which = k;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (which == 0) {
            const char *eq = strchr(v, '=');
            if (!eq || eq == v || (size_t)(eq - v) >= sizeof o->data[0].name)
                return usage_error("--data expects NAME=FILE, got '%s'", v);
            if (o->num_data == MAX_DATA) return usage_error("too many --data options");
            binding *b = &o->data[o->num_data++];
            memcpy(b->name, v, (size_t)(eq - v));
            b->name[eq - v] = '\0';
            b->path = eq + 1;
        } else if (which == 1 && !eval) {
            if (!parse_count(v, &o->steps)) return usage_error("--steps needs a whole number >= 0, got '%s'", v);
        } else if (which == 2 && !eval) {
            if (!parse_count(v, &o->epochs)) return usage_error("--epochs needs a whole number >= 0, got '%s'", v);
        } else if (which == 3 && !eval) {
            o->init = v;
        } else if (which == 4 && !eval) {
            o->save = v;
        } else if (which == 5 && !eval) {
            o->resume = v;
        } else if (which == 6 && !eval) {
            o->log = v;
        } else if (which == 7 && eval) {
            o->params = v;
        } else if (which == 8) {
            long long n;
            if (!parse_count(v, &n) || n > 256) return usage_error("--threads needs a number from 0 to 256, got '%s'", v);
            o->threads = (int)n;
        } else if (which == 9 && !eval) {
            if (!parse_count(v, &o->save_every) || o->save_every == 0)
                return usage_error("--save-every needs a whole number >= 1, got '%s'", v);
        } else if (which < 0 && !eval && !strcmp(a, "--no-shuffle")) {
            o->shuffle = 0;
        } else if (which < 0 && (!strcmp(a, "--quiet") || !strcmp(a, "-q"))) {
            o->quiet = 1;
        } else if (which < 0 && eval && !strcmp(a, "--json")) {
            o->json = 1;
        } else {
            return usage_error("%s: unknown option '%s' (see %s --help)", eval ? "eval" : "train", a, prog);
        }
    }
    if (o->steps >= 0 && o->epochs >= 0) return usage_error("give --steps or --epochs, not both");
    if (o->init && o->resume) return usage_error("give --init or --resume, not both");
    if (o->save_every && !o->save) return usage_error("--save-every needs --save CKPT, the checkpoint it keeps");
    if (eval && !o->params) return usage_error("eval needs --params CKPT");
    return -1;
}

/* The model rebuilt from the embedded text with the compile-time overrides. */
static gc_trainer *build(const gc_aot_model *m, const options *o, gc_error *err) {
    gc_model *model = gc_model_load_string(m->text, m->filename, err);
    if (!model) return NULL;
    for (int i = 0; i < m->num_sets; i++) {
        if (!gc_model_set_const(model, m->set_names[i], m->set_values[i], err)) {
            gc_model_free(model);
            return NULL;
        }
    }
    gc_options opts = {GC_BACKEND_JIT, o->threads, 0, 0};
    gc_trainer *t = gc_trainer_new(model, &opts, err);
    gc_model_free(model);
    return t;
}

static gc_dataset *bind_data(const options *o, gc_trainer *t, int shuffle, gc_error *err) {
    gc_dataset *d = gc_dataset_new(err);
    if (!d) return NULL;
    for (int i = 0; i < o->num_data; i++) {
        const char *name = NULL;
        gc_tensor type;
        int found = 0;
        char known[512] = "";
        size_t len = 0;
        for (int k = 0; gc_trainer_input_info(t, k, &name, &type); k++) {
            if (!strcmp(name, o->data[i].name)) {
                found = 1;
                break;
            }
            if (len < sizeof known - 64) len += (size_t)snprintf(known + len, sizeof known - len, "%s%s", k ? ", " : "", name);
        }
        if (!found) {
            gc_failf(err, GC_ERR_USER, "--data %s: the model has no input '%s' (its inputs: %s)", o->data[i].name,
                     o->data[i].name, known[0] ? known : "none");
            goto fail;
        }
        gc_tensor array;
        if (!gc_npy_read(o->data[i].path, type.dtype, &array, err) || !gc_dataset_bind(d, o->data[i].name, array, &type, err))
            goto fail;
    }
    if (!gc_dataset_finish(d, shuffle, gc_trainer_seed(t), err)) goto fail;
    return d;
fail:
    gc_dataset_free(d);
    return NULL;
}

/* A scalar output as a double; NAN when the output is not a scalar. */
static double scalar_output(gc_trainer *t, const char *name) {
    gc_tensor v;
    gc_error err = {0};
    if (!gc_trainer_output(t, name, &v, &err) || v.rank != 0) return NAN;
    return v.dtype == GC_I32 ? *(int32_t *)v.data : *(float *)v.data;
}

static void format_duration(double seconds, char *buf, size_t size) {
    if (!(seconds >= 0) || seconds > 1e7) snprintf(buf, size, "?");
    else if (seconds >= 3600) snprintf(buf, size, "%dh%02dm", (int)(seconds / 3600), (int)fmod(seconds / 60, 60));
    else if (seconds >= 60) snprintf(buf, size, "%dm%02ds", (int)(seconds / 60), (int)fmod(seconds, 60));
    else snprintf(buf, size, "%.0fs", seconds);
}

/* argc/argv: the whole command line, for the command that resumes an interrupted run. */
static int train(const gc_aot_model *m, const options *o, int argc, char **argv) {
    gc_error err = {0};
    int status = 0, interrupted = 0;
    char *interrupt_path = NULL;
    gc_dataset *data = NULL;
    gc_train_log log = {0};
    gc_trainer *t = build(m, o, &err);
    if (!t) goto error;
    if (o->init && !gc_trainer_load_params(t, o->init, &err)) goto error;
    if (o->resume && !gc_trainer_load(t, o->resume, &err)) goto error;
    if (!(data = bind_data(o, t, o->shuffle, &err))) goto error;

    int64_t per_epoch = gc_dataset_steps_per_epoch(data), start = gc_trainer_steps(t);
    /* With gradient_accumulation_steps = N an update reads N batches: update u reads batches
     * uN .. uN + N - 1 of the order a run without accumulation reads, and an epoch is
     * floor(batches / N) updates (at least one). */
    int64_t accumulate = gc_trainer_accumulation(t);
    int64_t epoch_updates = per_epoch / accumulate > 0 ? per_epoch / accumulate : (per_epoch > 0);
    int64_t total = o->steps >= 0 ? o->steps : (o->epochs >= 0 ? o->epochs : 1) * epoch_updates;
    if (o->log) {
        char header[8192];
        size_t at = (size_t)snprintf(header, sizeof header, "step,loss,lr,grad_norm,ms");
        const char *name;
        for (int k = 0; gc_trainer_output_name(t, k, &name) && at < sizeof header; k++)
            if (strcmp(name, "loss")) at += (size_t)snprintf(header + at, sizeof header - at, ",%s", name);
        if (!gc_train_log_open(&log, o->log, o->resume != NULL, start, &err) || !gc_train_log_begin(&log, header, &err))
            goto error;
    }
    int bar = !o->quiet && isatty(STDOUT_FILENO);
    int64_t every = total >= 10 ? total / 10 : 1;
    double began = gc_clock_ms();
    float loss = NAN;
    int64_t done_steps = total;
    gc_train_interrupt_install();
    for (int64_t k = 0; k < total; k++) {
        /* A signal stops the run between steps: the step in flight and its log row are done. */
        if ((interrupted = gc_train_interrupted())) {
            done_steps = k;
            break;
        }
        int64_t step = start + k;
        double t0 = gc_clock_ms();
        for (int64_t micro = 0; micro < accumulate; micro++)
            if (!gc_dataset_load_step(data, t, step * accumulate + micro, &err) || !gc_trainer_step(t, &loss, &err))
                goto error;
        double ms = gc_clock_ms() - t0;
        if (log.file) {
            fprintf(log.file, "%lld,%.9g,%.9g,%.9g,%.3f", (long long)step + 1, loss, scalar_output(t, "lr"),
                    scalar_output(t, "grad_norm"), ms);
            const char *name;
            for (int q = 0; gc_trainer_output_name(t, q, &name); q++)
                if (strcmp(name, "loss")) fprintf(log.file, ",%.9g", scalar_output(t, name));
            fprintf(log.file, "\n");
            fflush(log.file); /* whole rows only, even when the process is killed */
        }
        /* The last step's save is the one after the loop. */
        if (o->save_every && (step + 1) % o->save_every == 0 && k + 1 < total && !gc_trainer_save(t, o->save, &err))
            goto error;
        double elapsed = (gc_clock_ms() - began) / 1e3, rate = (k + 1) / (elapsed > 0 ? elapsed : 1e-9);
        char left[32];
        format_duration((total - k - 1) / rate, left, sizeof left);
        if (bar) {
            int width = 24, filled = (int)((k + 1) * width / (total ? total : 1));
            printf("\r[%.*s%*s] step %lld/%lld  loss %.4f  %.1f steps/s  %s left ", filled,
                   "========================", width - filled, "", (long long)step + 1, (long long)(start + total),
                   loss, rate, left);
            fflush(stdout);
        } else if ((k + 1) % every == 0 || k + 1 == total) {
            printf("step %lld/%lld  loss %.6f  %.1f steps/s  %s left\n", (long long)step + 1,
                   (long long)(start + total), loss, rate, left);
            fflush(stdout);
        }
    }
    if (bar) printf("\n");
    if (interrupted) {
        const char *ckpt = o->save;
        if (!ckpt && !(ckpt = interrupt_path = gc_train_interrupt_path(o->log))) {
            gc_failf(&err, GC_ERR_MEMORY, "out of memory");
            goto error;
        }
        if (!gc_trainer_save(t, ckpt, &err)) goto error;
        char *again = gc_train_resume_command(argc, argv, ckpt, o->save == NULL, total - done_steps);
        fflush(stdout);
        fprintf(stderr, "interrupted after step %lld of %lld; saved %s\nresume with: %s\n",
                (long long)(start + done_steps), (long long)(start + total), ckpt, again ? again : "(out of memory)");
        free(again);
        status = 128 + interrupted;
        goto done;
    }
    if (o->save && !gc_trainer_save(t, o->save, &err)) goto error;
    if (!o->quiet) {
        printf("trained %lld steps in %.2f s; final loss %.6f", (long long)total, (gc_clock_ms() - began) / 1e3, loss);
        if (o->save) printf("; saved %s", o->save);
        printf("\n");
    }
    goto done;
error:
    status = report(&err, m);
done:
    gc_train_interrupt_uninstall();
    free(interrupt_path);
    if (!gc_train_log_close(&log, &err) && status == 0) status = report(&err, m);
    gc_dataset_free(data);
    gc_trainer_free(t);
    return status;
}

/* Adds the loss and every scalar output of the last eval, times `weight`. */
static void accumulate(gc_trainer *t, float loss, int num_outputs, double weight, double *loss_sum, double *sums) {
    const char *name;
    *loss_sum += (double)loss * weight;
    for (int k = 0; k < num_outputs; k++) {
        gc_trainer_output_name(t, k, &name);
        sums[k] += scalar_output(t, name) * weight;
    }
}

/* Every example once. The graphs are compiled for one batch size B, so the last r = N mod B
 * examples are read off two padded batches (as `gradc eval` does when it cannot recompile for
 * r): P, the remainder padded with copies of the last example, and E, only copies of it; their
 * sum is B * P - (B - r) * E, exact for means over examples (every loss with reduction="mean",
 * accuracy). Each batch is weighted by its number of examples. */
static int eval(const gc_aot_model *m, const options *o) {
    gc_error err = {0};
    int status = 0;
    gc_dataset *data = NULL;
    double *sums = NULL;
    gc_trainer *t = build(m, o, &err);
    if (!t) goto error;
    if (!gc_trainer_load_params(t, o->params, &err)) goto error;
    if (!(data = bind_data(o, t, 0, &err))) goto error;
    int num_outputs = 0;
    const char *name;
    while (gc_trainer_output_name(t, num_outputs, &name)) num_outputs++;
    if (!(sums = calloc((size_t)num_outputs + 1, sizeof *sums))) {
        gc_failf(&err, GC_ERR_MEMORY, "out of memory");
        goto error;
    }
    double loss_sum = 0;
    int64_t examples = 0, batches = gc_dataset_eval_batches(data), batch = gc_dataset_batch(data);
    for (int64_t b = 0; b < batches; b++) {
        int64_t real = 0;
        float loss = NAN;
        if (!gc_dataset_load_eval(data, t, b, &real, &err) || !gc_trainer_eval(t, &loss, &err)) goto error;
        accumulate(t, loss, num_outputs, (double)(real < batch ? batch : real), &loss_sum, sums);
        if (real < batch) {
            int64_t last = gc_dataset_examples(data) - 1;
            if (!gc_dataset_load_examples(data, t, last, 1, batch, &err) || !gc_trainer_eval(t, &loss, &err))
                goto error;
            accumulate(t, loss, num_outputs, -(double)(batch - real), &loss_sum, sums);
        }
        examples += real;
    }
    double n = examples ? (double)examples : 1.0;
    if (o->json) {
        printf("{\"examples\": %lld, \"loss\": %.9g, \"outputs\": {", (long long)examples, loss_sum / n);
        int first = 1;
        for (int k = 0; k < num_outputs; k++) {
            gc_trainer_output_name(t, k, &name);
            if (!strcmp(name, "loss") || isnan(sums[k])) continue;
            printf("%s\"%s\": %.9g", first ? "" : ", ", name, sums[k] / n);
            first = 0;
        }
        printf("}}\n");
    } else {
        printf("loss %.9g\n", loss_sum / n);
        for (int k = 0; k < num_outputs; k++) {
            gc_trainer_output_name(t, k, &name);
            if (strcmp(name, "loss") && !isnan(sums[k])) printf("%s %.9g\n", name, sums[k] / n);
        }
    }
    goto done;
error:
    status = report(&err, m);
done:
    free(sums);
    gc_dataset_free(data);
    gc_trainer_free(t);
    return status;
}

int gc_aot_main(int argc, char **argv, const gc_aot_model *m) {
    if (argc > 0 && argv[0]) {
        const char *slash = strrchr(argv[0], '/');
        prog = slash ? slash + 1 : argv[0];
    }
    if (!m || m->abi != GC_AOT_ABI || m->program_size != (int)sizeof(gc_aot_program)) {
        fprintf(stderr, "%s: error: internal error: this trainer was generated for another gradc runtime\n", prog);
        return EXIT_INTERNAL;
    }
    gc_aot_register(m->programs, m->num_programs);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USER : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("%s (gradc %s trainer for %s)\n", prog, GC_VERSION_STRING, m->filename);
        return 0;
    }
    int is_eval = !strcmp(argv[1], "eval");
    if (!is_eval && strcmp(argv[1], "train")) return usage_error("unknown command '%s' (train or eval)", argv[1]);
    /* N copies training alone would each write the same log and checkpoints (docs/distributed.md). */
    if (!is_eval && gc_distributed_launched())
        return usage_error("this standalone trainer does not train data-parallel yet; under mpirun, use gradc train");
    options o;
    int status = parse(argc - 1, argv + 1, is_eval, &o);
    if (status >= 0) return status;
    return is_eval ? eval(m, &o) : train(m, &o, argc, argv);
}
