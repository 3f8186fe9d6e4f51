/*
 * cmd_train.c: `gradc train MODEL.gm --data NAME=FILE.npy ... [--steps N | --epochs N] ...`.
 *
 * Parses the options, binds data to the model's inputs and hands the run to the training driver
 * (runtime/train_driver.h), which the standalone trainers and the C API share: progress, held-out
 * evaluation, the CSV log, checkpoints, interruption. Shared option parsing for the commands that
 * load a model lives in tools/model_options.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ir/diag.h"
#include "runtime/data.h"
#include "runtime/distributed.h"
#include "runtime/train_driver.h"
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
            "                   [--verbose] [--profile[=N]] [--skip-nonfinite] [--save-every N] [--keep-best]\n"
            "                   [--save-weights FILE] [--text-stride N] [--allow-unbound NAME]... [--precision f32|bf16]\n"
            "                   [--ieee-subnormals] [--mpi-timeout S]\n\n"
            "Trains the model on the bound data; a step reads one batch (the input's first dim) from every array.\n"
            "  --data NAME=FILE    bind a .npy array whose first axis indexes examples to the input NAME,\n"
            "                      or FILE.csv:COLS (columns by index, range 0-63 or header name)\n"
            "  --text FILE         byte-level text for the inputs tokens and targets (context = their 2nd dim)\n"
            "  --text-stride N     bytes between the starts of text windows (default: the context, no overlap;\n"
            "                      1: every offset)\n"
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
            "  --keep-best         keep the checkpoint of the lowest eval loss in CKPT.best.safetensors\n"
            "                      (for --save CKPT.safetensors; needs --eval-data or --eval-text)\n"
            "  --save-weights FILE whenever --save is written (or at the end), also the parameters and\n"
            "                      buffers alone, which torch's load_state_dict(strict=True) reads\n"
            "  --resume CKPT       continue a run saved with --save, bit for bit\n"
            "  --eval-data NAME=FILE, --eval-text FILE   held-out data, evaluated like gradc eval\n"
            "  --eval-every N      evaluate every N steps (and after the last); default: after the last\n"
            "  --batch-const NAME  the const that sets the batch size (default: batch), for exact eval means\n"
            "  --log FILE.csv      one row per step: step,loss,lr,grad_norm,ms, every scalar output, and\n"
            "                      eval_loss,eval_<output> (filled on the rows of steps that evaluated)\n"
            "  --no-shuffle        step k reads examples k*B .. k*B+B-1 (wrapping per epoch)\n"
            "  --random-batches    each batch draws its examples at random, with replacement (nanoGPT's\n"
            "                      sampling; with --text-stride 1, random offsets of the text)\n"
            "  --quiet             print only the summary (no progress, no eval lines)\n"
            "  --verbose           report the compile time of each phase (frontend, autodiff, passes, codegen)\n"
            "  --profile[=N]       time every kernel of the step (jit) and print, at the end, the N kernels\n"
            "                      taking most time (default 30, 0 all) and the time by kind of kernel\n"
            "  --precision P       f32 or bf16: matmuls and convolutions multiply bf16-rounded operands with\n"
            "                      f32 accumulation, as torch.autocast on CPU (default: the train block's)\n"
            "  --memory-budget SIZE  the planned peak memory of the step must fit SIZE (2GiB, 512MiB, 1.5GB):\n"
            "                        activations are recomputed in backward until it does\n"
            "  --skip-nonfinite    skip the update of a step whose loss or gradient norm is NaN/Inf\n"
            "                      and go on (default: stop with an error naming the step)\n"
            "  --ieee-subnormals   keep IEEE subnormal floats (also GRADC_IEEE_SUBNORMALS=1); by default the\n"
            "                      compiled step flushes them to zero (FTZ/DAZ), as torch.set_flush_denormal(True)\n"

            "  --mpi-timeout S     under mpirun (data parallel, docs/distributed.md): how long a rank waits for\n"
            "                      the others in any collective before failing (default: GC_MPI_TIMEOUT or 300)\n");
}

static const char *const train_flags[] = {
    "--steps", "--epochs", "--eval-every", "--save-every", "--eval-data", "--eval-text", "--batch-const", "--save",
    "--resume", "--init", "--log", "--no-shuffle", "--quiet", "--verbose", "--profile", "--skip-nonfinite",
    "--keep-best", "--save-weights", "--random-batches", "--mpi-timeout", NULL};

int gc_cmd_train(int argc, char **argv) {
    gc_model_options mo;
    gc_model_options_init(&mo);
    long long steps = -1, epochs = -1, eval_every = 0, save_every = 0;
    double mpi_timeout = 0;
    const char *save = NULL, *resume = NULL, *init = NULL, *batch_const = "batch", *log_path = NULL;
    const char *save_weights = NULL;
    int shuffle = 1, quiet = 0, verbose = 0, explicit_const = 0, num_eval = 0, profile_top = -1, keep_best = 0;
    int random_batches = 0;
    gc_binding eval_data[GC_MAX_BINDINGS];
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
        } else if (gc_flag_value(argc, argv, &i, "--save-weights", &v)) {
            save_weights = v;
        } else if (gc_flag_value(argc, argv, &i, "--save", &v)) {
            save = v;
        } else if (gc_flag_value(argc, argv, &i, "--resume", &v)) {
            resume = v;
        } else if (gc_flag_value(argc, argv, &i, "--init", &v)) {
            init = v;
        } else if (gc_flag_value(argc, argv, &i, "--log", &v)) {
            log_path = v;
        } else if (!strcmp(a, "--no-shuffle")) {
            shuffle = 0;
        } else if (!strcmp(a, "--keep-best")) {
            keep_best = 1;
        } else if (!strcmp(a, "--random-batches")) {
            random_batches = 1;
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
            gc_unknown_option("train", a, train_flags, 1);
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
    if (random_batches && !shuffle) {
        gc_usage_error("give --random-batches or --no-shuffle, not both");
        goto usage_error;
    }
    if (keep_best && (!save || !num_eval)) {
        gc_usage_error("--keep-best needs --save CKPT (the best is kept beside it) and held-out data: --eval-data "
                       "NAME=FILE or --eval-text FILE");
        goto usage_error;
    }

    gc_error err = {0};
    int status = GC_EXIT_OK;
    gc_trainer *t = NULL;
    gc_dataset *data = NULL, *held_out = NULL;
    gc_evaluator *ev = NULL;
    char *source = NULL;
    int64_t *indices = NULL;
    /* Data parallel under mpirun (runtime/distributed.h): every rank trains on its slice of each
     * global batch; the driver lets rank 0 alone print, log and save. */
    gc_communicator *comm = NULL;
    if (gc_distributed_launched() && !(comm = gc_communicator_world(&err))) goto error;
    if (comm && mpi_timeout > 0 && !gc_communicator_set_timeout(comm, mpi_timeout, &err)) goto error;
    mo.communicator = comm;
    int root = gc_distributed_is_root(comm);
    if (!root) verbose = 0;
    t = gc_model_options_trainer(&mo, &source, &err);
    if (!t) goto error;
    if (verbose) {
        gc_compile_times c;
        gc_trainer_compile_times(t, &c);
        fprintf(stderr,
                "compile: frontend %.1f ms, autodiff+optimizer %.1f ms, passes %.1f ms, codegen %.1f ms, "
                "init %.1f ms, total %.1f ms\n",
                c.frontend_ms, c.autodiff_ms, c.simplify_ms, c.backend_ms, c.init_ms, c.total_ms);
        gc_print_codegen_times(stderr, &c.codegen);
    }
    const char *warning;
    for (int w = 0; root && gc_trainer_warning(t, w, &warning); w++) fprintf(stderr, "warning: %s\n", warning);
    if (init && !gc_trainer_load_params(t, init, &err)) goto error;
    if (resume && !gc_trainer_load(t, resume, &err)) goto error;
    data = gc_model_options_dataset(&mo, t, shuffle, &err);
    if (!data) goto error;
    /* The dataset's source then reads this rank's slice of each global batch. */
    if (comm && !gc_dataset_shard(data, gc_communicator_rank(comm), gc_communicator_size(comm), &err)) goto error;
    gc_train_config cfg = {
        .steps = steps, .epochs = epochs, .eval_every = eval_every, .save_every = save_every, .save = save,
        .keep_best = keep_best, .save_weights = save_weights, .log = log_path, .resumed = resume != NULL,
        .skip_nonfinite = mo.options.skip_nonfinite, .out = stdout, .messages = stderr,
        .progress = quiet ? GC_PROGRESS_NONE : isatty(STDOUT_FILENO) ? GC_PROGRESS_BAR : GC_PROGRESS_LINES,
        /* gc_cmd_train gets gradc's argv from the command word on: argv[-1] is the program. */
        .catch_signals = true, .argc = argc + 1, .argv = argv - 1, .rank = gc_communicator_rank(comm),
        .comm = comm};
    gc_train_source src = gc_train_source_dataset(data, t);
    gc_random_sampler sampler = {data, NULL};
    if (random_batches) {
        if (!(indices = sampler.indices = malloc(sizeof *indices * (size_t)gc_dataset_batch(data)))) {
            gc_failf(&err, GC_ERR_MEMORY, "out of memory");
            goto error;
        }
        src = gc_train_source_random(&sampler, t);
    }
    /* A run without a whole batch fails before the evaluator compiles. */
    if (!gc_train_check_source(&cfg, &src, t, &err)) goto error;
    if (num_eval) {
        held_out = gc_model_options_load(&mo, eval_data, num_eval, t, 0, &err);
        if (!held_out) goto error;
        ev = gc_evaluator_new(&mo, t, held_out, batch_const, explicit_const, false, &err);
        if (!ev) goto error;
    }
    gc_train_result result;
    if (!gc_train_run(t, &src, ev, &cfg, &result, &err)) goto error;
    if (result.stopped) {
        status = gc_train_stop_status(&result);
        goto done;
    }
    if (profile_top >= 0) {
        char *report = gc_trainer_profile(t, profile_top, &err);
        if (!report) goto error;
        fflush(stdout);
        fputs(report, stderr);
        free(report);
    }
    int64_t reduced_bytes;
    int buckets, overlapped;
    if (verbose && gc_trainer_reduced(t, &reduced_bytes, &buckets, &overlapped))
        fprintf(stderr,
                "data parallel: %d ranks; each step all-reduces %lld bytes of gradients in %d bucket%s, %d of them "
                "started while backward ran\n",
                gc_communicator_size(comm), (long long)reduced_bytes, buckets, buckets == 1 ? "" : "s", overlapped);
    int64_t synced_runs, runs = gc_trainer_reduced_runs(t, &synced_runs);
    if (verbose && runs > 0 && gc_trainer_accumulation(t) > 1)
        fprintf(stderr, "data parallel: gradients were all-reduced in %lld of %lld micro-batches (each update's last)\n",
                (long long)synced_runs, (long long)runs);
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
    free(indices);
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
