/*
 * aot_main.c: the command line of the standalone trainers `gradc compile` writes —
 * `TRAINER train [DATA] [...]` and `TRAINER eval --params CKPT [DATA]` (docs/compile.md).
 *
 * The trainer rebuilds the model's graphs from its embedded text with the frontend and passes,
 * and runs them with the ahead-of-time executor (runtime/aot.h) over the step functions linked
 * into it. This file supplies gc_executor_jit as that executor, so the public API's default,
 * native-code backend is the linked-in code and trainer.c needs no change; it is built into
 * libgradc_runtime.a only (never libgradc, which has the real JIT and must not print).
 * It is an option parser over the training driver `gradc train` uses (runtime/train_driver.h) and
 * the same data loading (runtime/data_files.h) and evaluator (runtime/evaluate.h), so the options,
 * data formats, validation, progress output, log, checkpoints and interruption are gradc train's.
 * Under mpirun `train` trains data-parallel as gradc train does (docs/distributed.md): the trainer
 * holds the step of the graph a data-parallel trainer builds, with step hooks (tools/cmd_compile.c).
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
#include "runtime/data_files.h"
#include "runtime/distributed.h"
#include "runtime/evaluate.h"
#include "runtime/suggest.h"
#include "runtime/train_driver.h"

const gc_executor_ops *const gc_executor_jit = &gc_executor_aot;

enum { EXIT_USER = 1, EXIT_INTERNAL = 2, MAX_DATA = 64 };

static const char *prog = "trainer";

typedef struct options {
    gc_data_binding data[MAX_DATA], eval_data[MAX_DATA];
    int num_data, num_eval;
    const char *allow_unbound[MAX_DATA];
    int num_allow_unbound;
    gc_csv_header csv_header;
    long long steps, epochs, save_every, eval_every, text_stride;
    const char *save, *resume, *init, *log, *params, *save_weights, *batch_const;
    int shuffle, quiet, json, threads, keep_best, skip_nonfinite, explicit_const, random_batches;
    double mpi_timeout; /* seconds; 0: the default (GC_MPI_TIMEOUT, else 300) */
    char *owned[2 * MAX_DATA]; /* binding names */
    int num_owned;
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
            "usage: %s train [--data NAME=FILE]... [--text FILE] [--steps N | --epochs N] [--init CKPT]\n"
            "       %*s       [--save CKPT] [--save-every N] [--keep-best] [--save-weights FILE] [--resume CKPT]\n"
            "       %*s       [--eval-data NAME=FILE]... [--eval-text FILE] [--eval-every N] [--log FILE.csv]\n"
            "       %*s       [--no-shuffle] [--threads N] [--quiet] [--skip-nonfinite] [--text-stride N]\n"
            "       %*s       [--mpi-timeout S]\n"
            "       %s eval --params CKPT [--data NAME=FILE]... [--text FILE] [--json]\n\n"
            "A standalone trainer written by `gradc compile`: the model's training step is compiled in.\n"
            "The options are gradc train's (docs/cli.md):\n"
            "  --data NAME=FILE    bind a .npy array (first axis: examples) to the input NAME, or\n"
            "                      FILE.csv:COLS (columns by index, range 0-63 or header name)\n"
            "  --text FILE         byte-level text for the inputs tokens and targets (context = their 2nd dim)\n"
            "  --text-stride N     bytes between the starts of text windows (default: the context; 1: every offset)\n"
            "  --allow-unbound NAME   let the input NAME go without data (it keeps zeros)\n"
            "  --csv-header, --no-csv-header   whether CSV files start with a header (default: detected)\n"
            "  --steps N           updates to run (default: one epoch)\n"
            "  --epochs N          passes over the data (floor(examples / batch / gradient_accumulation_steps) updates)\n"
            "  --init CKPT         start from the parameters in a safetensors file\n"
            "  --save CKPT         write parameters, optimizer state and the step at the end (and on Ctrl-C/\n"
            "                      SIGTERM, after the step in flight; without --save that checkpoint is\n"
            "                      interrupted.safetensors beside the log)\n"
            "  --save-every N      also write --save every N steps (a rolling checkpoint)\n"
            "  --keep-best         keep the checkpoint of the lowest eval loss in CKPT.best.safetensors\n"
            "  --save-weights FILE also the parameters and buffers alone, for torch's strict load_state_dict\n"
            "  --resume CKPT       continue a run saved with --save, bit for bit\n"
            "  --eval-data NAME=FILE, --eval-text FILE   held-out data, evaluated every example once (a last\n"
            "                      partial batch is padded with copies of its last example: exact for means)\n"
            "  --eval-every N      evaluate every N steps (and after the last); default: after the last\n"
            "  --log FILE.csv      one row per step: step,loss,lr,grad_norm,ms, every scalar output and eval columns\n"
            "  --no-shuffle        step k reads examples k*B .. k*B+B-1 (wrapping per epoch)\n"
            "  --random-batches    each batch draws its examples at random, with replacement (nanoGPT's sampling)\n"
            "  --quiet             print only the summary\n"
            "  --skip-nonfinite    skip the update of a step whose loss or gradient norm is NaN/Inf and go on\n"
            "  --mpi-timeout S     under mpirun (data parallel, as gradc train): how long a rank waits for the\n"
            "                      others before failing (default: $GC_MPI_TIMEOUT, else 300)\n"
            "  --params CKPT       (eval) the parameters to evaluate\n"
            "  --json              (eval) one JSON object instead of `name value` lines\n",
            prog, (int)strlen(prog), "", (int)strlen(prog), "", (int)strlen(prog), "", (int)strlen(prog), "", prog);
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

/* NAME=FILE (or a bare FILE for a text) appended to a binding list. Returns -1, or an exit status. */
static int bind(options *o, gc_data_binding *list, int *count, const char *flag, const char *v, int is_text) {
    if (*count == MAX_DATA || o->num_owned == 2 * MAX_DATA) return usage_error("too many %s options", flag);
    if (is_text) {
        if (!*v) return usage_error("%s needs a file", flag);
        list[(*count)++] = (gc_data_binding){NULL, v};
        return -1;
    }
    const char *eq = strchr(v, '=');
    if (!eq || eq == v || !eq[1]) return usage_error("%s expects NAME=FILE, got '%s'", flag, v);
    char *name = malloc((size_t)(eq - v) + 1);
    if (!name) return usage_error("out of memory");
    memcpy(name, v, (size_t)(eq - v));
    name[eq - v] = '\0';
    o->owned[o->num_owned++] = name;
    list[(*count)++] = (gc_data_binding){name, eq + 1};
    return -1;
}

static void free_options(options *o) {
    for (int i = 0; i < o->num_owned; i++) free(o->owned[i]);
    o->num_owned = 0;
}

enum {
    F_DATA, F_TEXT, F_EVAL_DATA, F_EVAL_TEXT, F_STEPS, F_EPOCHS, F_INIT, F_SAVE_WEIGHTS, F_SAVE_EVERY, F_SAVE,
    F_RESUME, F_LOG, F_PARAMS, F_THREADS, F_EVAL_EVERY, F_TEXT_STRIDE, F_ALLOW_UNBOUND, F_MPI_TIMEOUT, NUM_VALUED
};
static const char *const valued[NUM_VALUED] = {
    "--data", "--text", "--eval-data", "--eval-text", "--steps", "--epochs", "--init", "--save-weights",
    "--save-every", "--save", "--resume", "--log", "--params", "--threads", "--eval-every", "--text-stride",
    "--allow-unbound", "--mpi-timeout"};
static const char *const switches[] = {"--random-batches", "--no-shuffle", "--quiet", "--json", "--keep-best", "--skip-nonfinite",
                                       "--csv-header", "--no-csv-header", "--help"};

static int unknown_option(const char *command, const char *a) {
    const char *names[NUM_VALUED + sizeof switches / sizeof switches[0]];
    int n = 0;
    for (int k = 0; k < NUM_VALUED; k++) names[n++] = valued[k];
    for (size_t k = 0; k < sizeof switches / sizeof switches[0]; k++) names[n++] = switches[k];
    char flag[128];
    snprintf(flag, sizeof flag, "%.*s", (int)strcspn(a, "="), a);
    const char *close = a[0] == '-' ? gc_suggest_name(flag, names, n) : NULL;
    if (close) return usage_error("%s: unknown option '%s'; did you mean '%s'? (see %s --help)", command, a, close, prog);
    return usage_error("%s: unknown option '%s' (see %s --help)", command, a, prog);
}

/* Parses the options of `train` (eval = 0) or `eval` (eval = 1); returns -1 when fine, else an
 * exit status. */
static int parse(int argc, char **argv, int eval, options *o) {
    o->steps = o->epochs = -1;
    o->shuffle = 1;
    o->batch_const = "batch";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        int which = -1, status = -1;
        for (int k = 0; which < 0 && k < NUM_VALUED; k++) {
            int r = flag_value(argc, argv, &i, valued[k], &v);
            if (r < 0) return usage_error("%s needs a value", valued[k]);
            if (r) which = k;
        }
        /* Options that only make sense for training are unknown to eval. */
        int train_only = which == F_STEPS || which == F_EPOCHS || which == F_INIT || which == F_SAVE_WEIGHTS ||
                         which == F_SAVE_EVERY || which == F_SAVE || which == F_RESUME || which == F_LOG ||
                         which == F_EVAL_DATA || which == F_EVAL_TEXT || which == F_EVAL_EVERY ||
                         which == F_MPI_TIMEOUT;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (which >= 0 && ((eval && train_only) || (!eval && which == F_PARAMS))) {
            return unknown_option(eval ? "eval" : "train", a);
        } else if (which == F_DATA) {
            status = bind(o, o->data, &o->num_data, "--data", v, 0);
        } else if (which == F_TEXT) {
            status = bind(o, o->data, &o->num_data, "--text", v, 1);
        } else if (which == F_EVAL_DATA) {
            status = bind(o, o->eval_data, &o->num_eval, "--eval-data", v, 0);
        } else if (which == F_EVAL_TEXT) {
            status = bind(o, o->eval_data, &o->num_eval, "--eval-text", v, 1);
        } else if (which == F_STEPS || which == F_EPOCHS) {
            if (!parse_count(v, which == F_STEPS ? &o->steps : &o->epochs))
                return usage_error("%s needs a whole number >= 0, got '%s'", valued[which], v);
        } else if (which == F_SAVE_EVERY || which == F_EVAL_EVERY || which == F_TEXT_STRIDE) {
            long long *n = which == F_SAVE_EVERY ? &o->save_every : which == F_EVAL_EVERY ? &o->eval_every : &o->text_stride;
            if (!parse_count(v, n) || *n == 0) return usage_error("%s needs a whole number >= 1, got '%s'", valued[which], v);
        } else if (which == F_INIT) {
            o->init = v;
        } else if (which == F_SAVE) {
            o->save = v;
        } else if (which == F_SAVE_WEIGHTS) {
            o->save_weights = v;
        } else if (which == F_RESUME) {
            o->resume = v;
        } else if (which == F_LOG) {
            o->log = v;
        } else if (which == F_PARAMS) {
            o->params = v;
        } else if (which == F_ALLOW_UNBOUND) {
            if (o->num_allow_unbound == MAX_DATA) return usage_error("too many --allow-unbound options");
            o->allow_unbound[o->num_allow_unbound++] = v;
        } else if (which == F_MPI_TIMEOUT) {
            char *end;
            o->mpi_timeout = strtod(v, &end);
            if (*end || !(o->mpi_timeout > 0))
                return usage_error("--mpi-timeout needs a positive number of seconds, got '%s'", v);
        } else if (which == F_THREADS) {
            long long n;
            if (!parse_count(v, &n) || n > 256) return usage_error("--threads needs a number from 0 to 256, got '%s'", v);
            o->threads = (int)n;
        } else if (!eval && !strcmp(a, "--no-shuffle")) {
            o->shuffle = 0;
        } else if (!eval && !strcmp(a, "--random-batches")) {
            o->random_batches = 1;
        } else if (!eval && !strcmp(a, "--keep-best")) {
            o->keep_best = 1;
        } else if (!eval && !strcmp(a, "--skip-nonfinite")) {
            o->skip_nonfinite = 1;
        } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            o->quiet = 1;
        } else if (eval && !strcmp(a, "--json")) {
            o->json = 1;
        } else if (!strcmp(a, "--csv-header") || !strcmp(a, "--no-csv-header")) {
            o->csv_header = a[2] == 'n' ? GC_CSV_HEADER_NO : GC_CSV_HEADER_YES;
        } else {
            return unknown_option(eval ? "eval" : "train", a);
        }
        if (status >= 0) return status;
    }
    if (o->steps >= 0 && o->epochs >= 0) return usage_error("give --steps or --epochs, not both");
    if (o->init && o->resume) return usage_error("give --init or --resume, not both");
    if (o->save_every && !o->save) return usage_error("--save-every needs --save CKPT, the checkpoint it keeps");
    if (o->eval_every && !o->num_eval)
        return usage_error("--eval-every needs held-out data: --eval-data NAME=FILE or --eval-text FILE");
    if (o->random_batches && !o->shuffle) return usage_error("give --random-batches or --no-shuffle, not both");
    if (o->keep_best && (!o->save || !o->num_eval))
        return usage_error("--keep-best needs --save CKPT (the best is kept beside it) and held-out data: "
                           "--eval-data NAME=FILE or --eval-text FILE");
    if (eval && !o->params) return usage_error("eval needs --params CKPT");
    return -1;
}

/* What builds a trainer of the embedded model: the model, the options and the communicator
 * (NULL: one process). */
typedef struct build_context {
    const gc_aot_model *m;
    const options *o;
    gc_communicator *comm;
} build_context;

/* The model rebuilt from the embedded text with the compile-time overrides, and one more const
 * override when `extra` is given (the evaluator's last partial batch). */
static gc_trainer *build_with(void *ctx, const char *extra, double value, gc_error *err) {
    const build_context *b = ctx;
    gc_model *model = gc_model_load_string(b->m->text, b->m->filename, err);
    if (!model) return NULL;
    for (int i = 0; i < b->m->num_sets; i++) {
        if (!gc_model_set_const(model, b->m->set_names[i], b->m->set_values[i], err)) {
            gc_model_free(model);
            return NULL;
        }
    }
    if (extra && !gc_model_set_const(model, extra, value, err)) {
        gc_model_free(model);
        return NULL;
    }
    gc_options opts = {GC_BACKEND_JIT, b->o->threads, b->o->skip_nonfinite, 0};
    gc_trainer *t = gc_trainer_new_distributed(model, &opts, b->comm, err);
    gc_model_free(model);
    return t;
}

static gc_data_config data_config(const options *o) {
    gc_data_config c = {o->csv_header, o->allow_unbound, o->num_allow_unbound, o->text_stride};
    return c;
}

/* argc/argv: the whole command line, for the command that resumes an interrupted run. */
static int train(const gc_aot_model *m, const options *o, int argc, char **argv) {
    gc_error err = {0};
    int status = 0;
    gc_dataset *data = NULL, *held_out = NULL;
    gc_evaluator *ev = NULL;
    int64_t *indices = NULL;
    gc_trainer *t = NULL;
    /* Data parallel under mpirun, as gradc train (tools/cmd_train.c): each rank trains on its slice
     * of every global batch; rank 0 alone prints, logs and saves. */
    gc_communicator *comm = NULL;
    if (gc_distributed_launched() && !(comm = gc_communicator_world(&err))) goto error;
    if (comm && o->mpi_timeout > 0 && !gc_communicator_set_timeout(comm, o->mpi_timeout, &err)) goto error;
    build_context bc = {m, o, comm};
    gc_data_config dc = data_config(o);
    if (!(t = build_with(&bc, NULL, 0, &err))) goto error;
    const char *warning;
    for (int w = 0; gc_distributed_is_root(comm) && gc_trainer_warning(t, w, &warning); w++)
        fprintf(stderr, "warning: %s\n", warning);
    if (o->init && !gc_trainer_load_params(t, o->init, &err)) goto error;
    if (o->resume && !gc_trainer_load(t, o->resume, &err)) goto error;
    if (!(data = gc_data_files_load(t, o->data, o->num_data, &dc, 0, o->shuffle, &err))) goto error;
    if (comm && !gc_dataset_shard(data, gc_communicator_rank(comm), gc_communicator_size(comm), &err)) goto error;
    gc_train_config cfg = {
        .steps = o->steps, .epochs = o->epochs, .eval_every = o->eval_every, .save_every = o->save_every,
        .save = o->save, .keep_best = o->keep_best, .save_weights = o->save_weights, .log = o->log,
        .resumed = o->resume != NULL, .skip_nonfinite = o->skip_nonfinite, .out = stdout, .messages = stderr,
        .progress = o->quiet ? GC_PROGRESS_NONE : isatty(STDOUT_FILENO) ? GC_PROGRESS_BAR : GC_PROGRESS_LINES,
        .catch_signals = true, .argc = argc, .argv = argv, .rank = gc_communicator_rank(comm), .comm = comm};
    gc_train_source src = gc_train_source_dataset(data, t);
    gc_random_sampler sampler = {data, NULL};
    if (o->random_batches) {
        if (!(indices = sampler.indices = malloc(sizeof *indices * (size_t)gc_dataset_batch(data)))) {
            gc_failf(&err, GC_ERR_MEMORY, "out of memory");
            goto error;
        }
        src = gc_train_source_random(&sampler, t);
    }
    if (!gc_train_check_source(&cfg, &src, t, &err)) goto error;
    if (o->num_eval) {
        if (!(held_out = gc_data_files_load(t, o->eval_data, o->num_eval, &dc, 1, 0, &err))) goto error;
        /* The linked code has the compiled batch size only: the last partial batch is padded. */
        ev = gc_evaluator_create(t, held_out, o->batch_const, o->explicit_const, false, NULL, NULL, m->filename, &err);
        if (!ev) goto error;
        gc_evaluator_set_communicator(ev, comm);
    }
    gc_train_result result;
    if (!gc_train_run(t, &src, ev, &cfg, &result, &err)) goto error;
    if (result.stopped) status = gc_train_stop_status(&result);
    goto done;
error:
    /* Under mpirun: name the rank, then end every rank (a peer would otherwise wait for it). */
    if (gc_communicator_size(comm) > 1 && strncmp(err.message, "rank ", 5))
        gc_error_prefix(&err, "rank %d of %d: ", gc_communicator_rank(comm), gc_communicator_size(comm));
    status = report(&err, m);
    if (gc_communicator_size(comm) > 1) {
        fflush(stdout);
        fflush(stderr);
        gc_distributed_abort(comm, status);
    }
done:
    free(indices);
    gc_evaluator_free(ev);
    gc_dataset_free(held_out);
    gc_dataset_free(data);
    gc_trainer_free(t);
    gc_communicator_free(comm);
    return status;
}

/* Every example once, as `gradc eval` does (runtime/evaluate.h): exact means, the last partial
 * batch included. */
static int eval(const gc_aot_model *m, const options *o) {
    gc_error err = {0};
    int status = 0;
    gc_dataset *data = NULL;
    gc_evaluator *ev = NULL;
    build_context bc = {m, o, NULL};
    gc_data_config dc = data_config(o);
    gc_trainer *t = build_with(&bc, NULL, 0, &err);
    if (!t) goto error;
    if (!gc_trainer_load_params(t, o->params, &err)) goto error;
    if (!(data = gc_data_files_load(t, o->data, o->num_data, &dc, 0, 0, &err))) goto error;
    if (!(ev = gc_evaluator_create(t, data, o->batch_const, o->explicit_const, false, NULL, NULL, m->filename, &err)))
        goto error;
    gc_eval_result r;
    if (!gc_evaluator_run(ev, &r, &err)) goto error;
    if (o->json) {
        printf("{\"examples\": %lld, \"loss\": %.9g, \"outputs\": {", (long long)r.examples, r.loss);
        for (int k = 0; k < r.num_outputs; k++) printf("%s\"%s\": %.9g", k ? ", " : "", r.names[k], r.values[k]);
        printf("}}\n");
    } else {
        printf("loss %.9g\n", r.loss);
        for (int k = 0; k < r.num_outputs; k++) printf("%s %.9g\n", r.names[k], r.values[k]);
    }
    goto done;
error:
    status = report(&err, m);
done:
    gc_evaluator_free(ev);
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
    static options o; /* big: binding lists */
    memset(&o, 0, sizeof o);
    int status = parse(argc - 1, argv + 1, is_eval, &o);
    if (status < 0) status = is_eval ? eval(m, &o) : train(m, &o, argc, argv);
    free_options(&o);
    return status;
}
