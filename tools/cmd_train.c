/*
 * cmd_train.c: `gradc train MODEL.gm --data NAME=FILE.npy ... [--steps N | --epochs N] ...`.
 *
 * Binds data to the model's inputs, runs training steps through the public API, reports progress
 * (a bar on a terminal, a plain line every so often otherwise), evaluates on held-out data every so
 * many steps, writes the CSV log and checkpoints. Shared option parsing for the commands that load
 * a model lives in tools/model_options.c, the exact evaluation in tools/evaluate.c.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ir/diag.h"
#include "runtime/clock.h"
#include "runtime/data.h"
#include "runtime/distributed.h"
#include "runtime/train_interrupt.h"
#include "runtime/train_log.h"
#include "runtime/trainer.h"
#include "tools/cli.h"
#include "tools/evaluate.h"
#include "tools/model_options.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: gradc train MODEL.gm [--data NAME=FILE]... [--text FILE] [--steps N | --epochs N]\n"
            "                   [--set NAME=VALUE]... [--init CKPT] [--save CKPT] [--resume CKPT]\n"
            "                   [--eval-data NAME=FILE]... [--eval-text FILE] [--eval-every N]\n"
            "                   [--log FILE.csv] [--no-shuffle] [--threads N] [--backend jit|interp] [--quiet]\n"
            "                   [--verbose] [--profile[=N]] [--skip-nonfinite] [--mpi-timeout S]\n\n"
            "Trains the model on the bound data; a step reads one batch (the input's first dim) from every array.\n"
            "  --data NAME=FILE    bind a .npy array whose first axis indexes examples to the input NAME,\n"
            "                      or FILE.csv:COLS (columns by index, range 0-63 or header name)\n"
            "  --text FILE         byte-level text for the inputs tokens and targets (context = their 2nd dim)\n"
            "  --allow-unbound NAME   let the input NAME go without data (it keeps zeros)\n"
            "  --csv-header, --no-csv-header   whether CSV files start with a header (default: detected)\n"
            "  --steps N           updates to run (default: one epoch)\n"
            "  --epochs N          passes over the data (floor(examples / batch / gradient_accumulation_steps)\n"
            "                      updates each)\n"
            "  --init CKPT         start from the parameters in a safetensors file (e.g. written by PyTorch)\n"
            "  --save CKPT         write parameters, optimizer state and the step at the end (and on\n"
            "                      Ctrl-C/SIGTERM, after the step in flight; without --save that checkpoint\n"
            "                      is interrupted.safetensors beside the log)\n"
            "  --save-every N      also write --save every N steps (a rolling checkpoint)\n"
            "  --resume CKPT       continue a run saved with --save, bit for bit\n"
            "  --eval-data NAME=FILE, --eval-text FILE   held-out data, evaluated like gradc eval\n"
            "  --eval-every N      evaluate every N steps (and after the last); default: after the last\n"
            "  --batch-const NAME  the const that sets the batch size (default: batch), for exact eval means\n"
            "  --log FILE.csv      one row per step: step,loss,lr,grad_norm,ms, every scalar output, and\n"
            "                      eval_loss,eval_<output> (filled on the rows of steps that evaluated)\n"
            "  --no-shuffle        step k reads examples k*B .. k*B+B-1 (wrapping per epoch)\n"
            "  --quiet             no progress bar; a plain line every so often\n"
            "  --verbose           report the compile time of each phase (frontend, autodiff, passes, codegen)\n"
            "  --profile[=N]       time every kernel of the step (jit) and print, at the end, the N kernels\n"
            "                      taking most time (default 30, 0 all) and the time by kind of kernel\n"
            "  --skip-nonfinite    skip the update of a step whose loss or gradient norm is NaN/Inf\n"
            "                      and go on (default: stop with an error naming the step)\n"
            "  --mpi-timeout S     under mpirun (data parallel, docs/distributed.md): how long a rank waits for\n"
            "                      the others in any collective before failing (default: GC_MPI_TIMEOUT or 300)\n");
}

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

/* The log's columns, known after the first step (only scalar outputs get one). */
typedef struct train_log {
    gc_train_log file;
    const char *path;
    const char *outputs[GC_EVAL_MAX_OUTPUTS];
    int num_outputs;
    int with_eval;
} train_log;

/* Writes the header, or checks it against the log a resumed run continues. Without a step the
 * columns of outputs are unknown, and a continued log stays as it is. */
static int log_header(train_log *log, gc_trainer *t, int stepped, gc_error *err) {
    if (!log->file.file || log->file.begun || (!stepped && log->file.previous)) return 1;
    const char *name;
    for (int k = 0; stepped && gc_trainer_output_name(t, k, &name) && log->num_outputs < GC_EVAL_MAX_OUTPUTS; k++) {
        gc_tensor v;
        gc_error ignored = {0};
        if (strcmp(name, "loss") && gc_trainer_output(t, name, &v, &ignored) && v.rank == 0)
            log->outputs[log->num_outputs++] = name;
    }
    char header[8192];
    size_t at = (size_t)snprintf(header, sizeof header, "step,loss,lr,grad_norm,ms");
    for (int k = 0; k < log->num_outputs && at < sizeof header; k++)
        at += (size_t)snprintf(header + at, sizeof header - at, ",%s", log->outputs[k]);
    if (log->with_eval && at < sizeof header) {
        at += (size_t)snprintf(header + at, sizeof header - at, ",eval_loss");
        for (int k = 0; k < log->num_outputs && at < sizeof header; k++)
            at += (size_t)snprintf(header + at, sizeof header - at, ",eval_%s", log->outputs[k]);
    }
    return gc_train_log_begin(&log->file, header, err);
}

static double result_value(const gc_eval_result *r, const char *name) {
    for (int k = 0; k < r->num_outputs; k++)
        if (!strcmp(r->names[k], name)) return r->values[k];
    return NAN;
}

/* `eval step S: loss L  accuracy A` on its own line (over the progress bar when there is one). */
static void print_eval(const gc_eval_result *r, int64_t step, int bar) {
    printf("%seval step %lld: loss %.6f", bar ? "\r\033[K" : "", (long long)step, r->loss);
    for (int k = 0; k < r->num_outputs; k++) printf("  %s %.6g", r->names[k], r->values[k]);
    printf("  (%lld examples)\n", (long long)r->examples);
    fflush(stdout);
}

int gc_cmd_train(int argc, char **argv) {
    gc_model_options mo;
    gc_model_options_init(&mo);
    long long steps = -1, epochs = -1, eval_every = 0, save_every = 0;
    double mpi_timeout = 0;
    const char *save = NULL, *resume = NULL, *init = NULL, *batch_const = "batch";
    int shuffle = 1, quiet = 0, verbose = 0, explicit_const = 0, num_eval = 0, profile_top = -1;
    gc_binding eval_data[GC_MAX_BINDINGS];
    train_log log = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int used = gc_model_options_parse(&mo, argc, argv, &i);
        if (used < 0) goto usage_error;
        if (used) continue;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            gc_model_options_free(&mo);
            return GC_EXIT_OK;
        }
        const char *v = NULL;
        if (gc_flag_value(argc, argv, &i, "--steps", &v)) {
            if (!gc_parse_count(v, &steps)) goto bad_count;
        } else if (gc_flag_value(argc, argv, &i, "--epochs", &v)) {
            if (!gc_parse_count(v, &epochs)) goto bad_count;
        } else if (gc_flag_value(argc, argv, &i, "--eval-every", &v)) {
            if (!gc_parse_count(v, &eval_every) || eval_every == 0) goto bad_count;
        } else if (gc_flag_value(argc, argv, &i, "--save-every", &v)) {
            if (!gc_parse_count(v, &save_every) || save_every == 0) goto bad_count;
        } else if (gc_flag_value(argc, argv, &i, "--eval-data", &v)) {
            if (gc_model_options_bind(&mo, eval_data, &num_eval, "--eval-data", v, 0) < 0) goto usage_error;
        } else if (gc_flag_value(argc, argv, &i, "--eval-text", &v)) {
            if (gc_model_options_bind(&mo, eval_data, &num_eval, "--eval-text", v, 1) < 0) goto usage_error;
        } else if (gc_flag_value(argc, argv, &i, "--batch-const", &v)) {
            batch_const = v;
            explicit_const = 1;
        } else if (gc_flag_value(argc, argv, &i, "--mpi-timeout", &v)) {
            char *end;
            mpi_timeout = strtod(v, &end);
            if (*end || !(mpi_timeout > 0)) {
                gc_usage_error("--mpi-timeout needs a positive number of seconds, got '%s'", v);
                goto usage_error;
            }
        } else if (gc_flag_value(argc, argv, &i, "--save", &v)) {
            save = v;
        } else if (gc_flag_value(argc, argv, &i, "--resume", &v)) {
            resume = v;
        } else if (gc_flag_value(argc, argv, &i, "--init", &v)) {
            init = v;
        } else if (gc_flag_value(argc, argv, &i, "--log", &v)) {
            log.path = v;
        } else if (!strcmp(a, "--no-shuffle")) {
            shuffle = 0;
        } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            quiet = 1;
        } else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
            verbose = 1;
        } else if (!strcmp(a, "--profile") || !strncmp(a, "--profile=", 10)) {
            long long n = 30;
            if (a[9] == '=' && !gc_parse_count(a + 10, &n)) {
                v = a + 10;
                goto bad_count;
            }
            profile_top = (int)(n > 100000 ? 100000 : n);
            mo.options.profile = 1;
        } else if (!strcmp(a, "--skip-nonfinite")) {
            mo.options.skip_nonfinite = 1;
        } else {
            gc_usage_error("train: unknown option '%s' (see gradc train --help)", a);
            goto usage_error;
        }
        continue;
    bad_count:
        gc_usage_error("%.*s needs a whole number >= %d, got '%s'", (int)strcspn(a, "="), a,
                       !strncmp(a, "--eval-every", 12) || !strncmp(a, "--save-every", 12), v);
        goto usage_error;
    }
    if (!mo.model_path) {
        usage(stderr);
        goto usage_error;
    }
    if (steps >= 0 && epochs >= 0) {
        gc_usage_error("give --steps or --epochs, not both");
        goto usage_error;
    }
    if (init && resume) {
        gc_usage_error("give --init or --resume, not both");
        goto usage_error;
    }
    if (profile_top >= 0 && mo.options.backend != GC_BACKEND_JIT) {
        gc_usage_error("--profile times the JIT's kernels: it needs --backend jit");
        goto usage_error;
    }
    if (save_every && !save) {
        gc_usage_error("--save-every needs --save CKPT, the checkpoint it keeps");
        goto usage_error;
    }
    if (eval_every && !num_eval) {
        gc_usage_error("--eval-every needs held-out data: --eval-data NAME=FILE or --eval-text FILE");
        goto usage_error;
    }

    gc_error err = {0};
    int status = GC_EXIT_OK;
    gc_trainer *t = NULL;
    gc_dataset *data = NULL, *held_out = NULL;
    gc_evaluator *ev = NULL;
    char *source = NULL, *interrupt_path = NULL;
    /* Data parallel under mpirun (runtime/distributed.h): every rank trains on its slice of each
     * global batch; rank 0 alone prints, logs and saves. */
    gc_communicator *comm = NULL;
    if (gc_distributed_launched() && !(comm = gc_communicator_world(&err))) goto error;
    if (comm && mpi_timeout > 0 && !gc_communicator_set_timeout(comm, mpi_timeout, &err)) goto error;
    mo.communicator = comm;
    int root = gc_distributed_is_root(comm);
    if (!root) {
        quiet = 1;
        verbose = 0;
        log.path = NULL;
    }
    t = gc_model_options_trainer(&mo, &source, &err);
    if (!t) goto error;
    if (verbose) {
        gc_compile_times c;
        gc_trainer_compile_times(t, &c);
        fprintf(stderr,
                "compile: frontend %.1f ms, autodiff+optimizer %.1f ms, passes %.1f ms, codegen %.1f ms, "
                "init %.1f ms, total %.1f ms\n",
                c.frontend_ms, c.autodiff_ms, c.simplify_ms, c.backend_ms, c.init_ms, c.total_ms);
    }
    const char *warning;
    for (int w = 0; root && gc_trainer_warning(t, w, &warning); w++) fprintf(stderr, "warning: %s\n", warning);
    if (init && !gc_trainer_load_params(t, init, &err)) goto error;
    if (resume && !gc_trainer_load(t, resume, &err)) goto error;
    data = gc_model_options_dataset(&mo, t, shuffle, &err);
    if (!data) goto error;
    if (comm && !gc_dataset_shard(data, gc_communicator_rank(comm), gc_communicator_size(comm), &err)) goto error;
    int64_t per_epoch = gc_dataset_steps_per_epoch(data);
    if (per_epoch == 0 && steps != 0 && epochs != 0) {
        /* The same message a step would give, before any compile of the evaluator. */
        if (!gc_dataset_load_step(data, t, 0, &err)) goto error;
    }
    if (num_eval) {
        held_out = gc_model_options_load(&mo, eval_data, num_eval, t, 0, &err);
        if (!held_out) goto error;
        ev = gc_evaluator_new(&mo, t, held_out, batch_const, explicit_const, false, &err);
        if (!ev) goto error;
    }

    int64_t start = gc_trainer_steps(t);
    /* With gradient_accumulation_steps = N an update reads N batches: update u reads batches
     * uN .. uN + N - 1 of the order a run without accumulation reads, and an epoch is
     * floor(batches / N) updates (at least one). */
    int64_t accumulate = gc_trainer_accumulation(t);
    int64_t epoch_updates = per_epoch / accumulate > 0 ? per_epoch / accumulate : (per_epoch > 0);
    int64_t total = steps >= 0 ? steps : (epochs >= 0 ? epochs : 1) * epoch_updates;
    if (log.path) {
        if (!gc_train_log_open(&log.file, log.path, resume != NULL, start, &err)) goto error;
        log.with_eval = num_eval > 0;
    }
    FILE *log_file = log.file.file;
    int bar = !quiet && isatty(STDOUT_FILENO);
    int64_t every = total >= 10 ? total / 10 : 1; /* about ten plain lines per run */
    double began = gc_clock_ms();
    float loss = NAN;
    gc_eval_result last_eval = {0};
    int evaluated = 0, diverged = 0, interrupted = 0;
    float previous = NAN;
    int64_t done_steps = total;
    gc_train_interrupt_install();
    for (int64_t k = 0; k < total; k++) {
        /* A signal stops the run between steps: the step in flight and its log row are done. */
        interrupted = gc_train_interrupted();
        /* Every rank stops after the same step: a signal any of them got stops them all. */
        if (gc_communicator_size(comm) > 1) {
            double any = interrupted != 0;
            if (!gc_distributed_sum(comm, &any, 1, "the interrupt check", &err)) goto error;
            if (any > 0 && !interrupted) interrupted = SIGTERM;
        }
        if (interrupted) {
            done_steps = k;
            break;
        }
        int64_t step = start + k;
        double t0 = gc_clock_ms();
        for (int64_t micro = 0; micro < accumulate; micro++)
            if (!gc_dataset_load_step(data, t, step * accumulate + micro, &err) || !gc_trainer_step(t, &loss, &err))
                goto error;
        double ms = gc_clock_ms() - t0;
        /* The first step whose loss rose more than 100x over the step before is marked, once. */
        if (root && !diverged && previous > 0 && isfinite(loss) && loss > 100.0f * previous) {
            diverged = 1;
            fprintf(stderr, "%swarning: step %lld: the loss rose from %.6g to %.6g (more than 100x); training may be "
                    "diverging: try a lower lr or clip_grad_norm\n", bar ? "\r\033[K" : "", (long long)step + 1,
                    previous, loss);
        }
        if (isfinite(loss)) previous = loss;
        if (log_file) {
            if (!log_header(&log, t, 1, &err)) goto error;
            fprintf(log_file, "%lld,%.9g,%.9g,%.9g,%.3f", (long long)step + 1, loss, scalar_output(t, "lr"),
                    scalar_output(t, "grad_norm"), ms);
            for (int o = 0; o < log.num_outputs; o++) fprintf(log_file, ",%.9g", scalar_output(t, log.outputs[o]));
        }
        /* After the step's outputs are read: an eval replaces them. */
        int eval_now = ev && ((eval_every && (step + 1) % eval_every == 0) || k + 1 == total);
        if (eval_now) {
            if (!gc_evaluator_run(ev, &last_eval, &err)) goto error;
            evaluated = 1;
            if (root) print_eval(&last_eval, step + 1, bar);
        }
        if (log_file && log.with_eval) {
            if (eval_now) {
                fprintf(log_file, ",%.9g", last_eval.loss);
                for (int o = 0; o < log.num_outputs; o++) fprintf(log_file, ",%.9g", result_value(&last_eval, log.outputs[o]));
            } else {
                for (int o = 0; o <= log.num_outputs; o++) fputc(',', log_file);
            }
        }
        if (log_file) {
            fprintf(log_file, "\n");
            fflush(log_file); /* whole rows only, even when the process is killed */
        }
        /* The last step's save is the one after the loop. */
        if (root && save_every && (step + 1) % save_every == 0 && k + 1 < total && !gc_trainer_save(t, save, &err))
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
        } else if (root && ((k + 1) % every == 0 || k + 1 == total)) {
            printf("step %lld/%lld  loss %.6f  %.1f steps/s  %s left\n", (long long)step + 1,
                   (long long)(start + total), loss, rate, left);
            fflush(stdout);
        }
    }
    if (bar) printf("\n");
    int64_t skipped = gc_trainer_skipped(t);
    if (!log_header(&log, t, 0, &err)) goto error;
    if (interrupted) {
        const char *ckpt = save;
        if (!ckpt && !(ckpt = interrupt_path = gc_train_interrupt_path(log.path))) {
            gc_failf(&err, GC_ERR_MEMORY, "out of memory");
            goto error;
        }
        if (root && !gc_trainer_save(t, ckpt, &err)) goto error;
        if (!gc_distributed_barrier(comm, "the checkpoint", &err)) goto error;
        if (!root) {
            status = 128 + interrupted;
            goto done;
        }
        /* gc_cmd_train gets gradc's argv from the command word on: argv[-1] is the program. */
        char *again = gc_train_resume_command(argc + 1, argv - 1, ckpt, save == NULL, total - done_steps);
        fflush(stdout);
        char launcher[48] = "";
        if (gc_communicator_size(comm) > 1) snprintf(launcher, sizeof launcher, "mpirun -np %d ", gc_communicator_size(comm));
        fprintf(stderr, "interrupted after step %lld of %lld; saved %s\nresume with: %s%s\n",
                (long long)(start + done_steps), (long long)(start + total), ckpt, launcher, again ? again : "(out of memory)");
        free(again);
        status = 128 + interrupted;
        goto done;
    }
    if (root && save && !gc_trainer_save(t, save, &err)) goto error;
    if (!gc_distributed_barrier(comm, "the checkpoint", &err)) goto error;
    if (!quiet) {
        printf("trained %lld steps in %.2f s; final loss %.6f", (long long)total, (gc_clock_ms() - began) / 1e3, loss);
        if (evaluated) printf("; eval loss %.6f", last_eval.loss);
        if (save) printf("; saved %s", save);
        if (mo.options.skip_nonfinite) printf("; %lld of %lld updates skipped (non-finite)", (long long)skipped, (long long)total);
        printf("\n");
    }
    int64_t reduced_bytes;
    int buckets, overlapped;
    if (verbose && gc_trainer_reduced(t, &reduced_bytes, &buckets, &overlapped))
        fprintf(stderr,
                "data parallel: %d ranks; each step all-reduces %lld bytes of gradients in %d bucket%s, %d of them "
                "started while backward ran\n",
                gc_communicator_size(comm), (long long)reduced_bytes, buckets, buckets == 1 ? "" : "s", overlapped);
    if (skipped * 2 > total) {
        gc_failf(&err, GC_ERR_NUMERIC, "%lld of %lld updates were skipped for a non-finite loss or gradient norm "
                 "(more than half): try a lower lr or clip_grad_norm", (long long)skipped, (long long)total);
        goto error;
    }
    if (profile_top >= 0) {
        char *report = gc_trainer_profile(t, profile_top, &err);
        if (!report) goto error;
        fflush(stdout);
        fputs(report, stderr);
        free(report);
    }
    goto done;
error:
    /* Under mpirun: name the rank, then end every rank (a peer would otherwise wait for it). */
    if (gc_communicator_size(comm) > 1 && strncmp(err.message, "rank ", 5))
        gc_error_prefix(&err, "rank %d of %d: ", gc_communicator_rank(comm), gc_communicator_size(comm));
    status = gc_model_options_report(&mo, &err, source);
    if (gc_communicator_size(comm) > 1) {
        fflush(stdout);
        fflush(stderr);
        gc_distributed_abort(comm, status);
    }
done:
    gc_train_interrupt_uninstall();
    free(interrupt_path);
    if (!gc_train_log_close(&log.file, &err) && status == GC_EXIT_OK) status = gc_report_error(&err, NULL);
    gc_evaluator_free(ev);
    gc_dataset_free(held_out);
    gc_dataset_free(data);
    gc_trainer_free(t);
    gc_model_options_free(&mo);
    gc_communicator_free(comm);
    free(source);
    return status;
usage_error:
    gc_model_options_free(&mo);
    return GC_EXIT_USER;
}
