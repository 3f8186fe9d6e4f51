/*
 * cmd_train.c: `gradc train MODEL.gm --data NAME=FILE.npy ... [--steps N | --epochs N] ...`.
 *
 * Binds data to the model's inputs, runs training steps through the public API, reports progress
 * (a bar on a terminal, a plain line every so often otherwise), writes the CSV log and checkpoints.
 * Shared option parsing for the commands that load a model lives in tools/model_options.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/data.h"
#include "tools/cli.h"
#include "tools/model_options.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: gradc train MODEL.gm [--data NAME=FILE.npy]... [--steps N | --epochs N]\n"
            "                   [--set NAME=VALUE]... [--init CKPT] [--save CKPT] [--resume CKPT]\n"
            "                   [--log FILE.csv] [--no-shuffle] [--threads N] [--backend jit|interp] [--quiet]\n\n"
            "Trains the model on the bound data. Each --data binds a .npy array whose first axis indexes\n"
            "examples to the input NAME; a step reads one batch (the input's first dim) from every array.\n"
            "  --steps N       updates to run (default: one epoch)\n"
            "  --epochs N      passes over the data (floor(examples / batch) steps each)\n"
            "  --init CKPT     start from the parameters in a safetensors file (e.g. written by PyTorch)\n"
            "  --save CKPT     write parameters, optimizer state and the step at the end\n"
            "  --resume CKPT   continue a run saved with --save, bit for bit\n"
            "  --log FILE.csv  one row per step: step,loss,lr,grad_norm,ms and every output\n"
            "  --no-shuffle    step k reads examples k*B .. k*B+B-1 (wrapping per epoch)\n"
            "  --quiet         no progress bar; a plain line every so often\n");
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
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

int gc_cmd_train(int argc, char **argv) {
    gc_model_options mo;
    gc_model_options_init(&mo);
    long long steps = -1, epochs = -1;
    const char *save = NULL, *resume = NULL, *init = NULL, *log_path = NULL;
    int shuffle = 1, quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int used = gc_model_options_parse(&mo, argc, argv, &i);
        if (used < 0) return GC_EXIT_USER;
        if (used) continue;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return GC_EXIT_OK;
        }
        const char *v = NULL;
        if (gc_flag_value(argc, argv, &i, "--steps", &v)) {
            if (!gc_parse_count(v, &steps)) return gc_usage_error("--steps needs a whole number >= 0, got '%s'", v);
        } else if (gc_flag_value(argc, argv, &i, "--epochs", &v)) {
            if (!gc_parse_count(v, &epochs)) return gc_usage_error("--epochs needs a whole number >= 0, got '%s'", v);
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
        } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            quiet = 1;
        } else {
            return gc_usage_error("train: unknown option '%s' (see gradc train --help)", a);
        }
    }
    if (!mo.model_path) {
        usage(stderr);
        return GC_EXIT_USER;
    }
    if (steps >= 0 && epochs >= 0) return gc_usage_error("give --steps or --epochs, not both");
    if (init && resume) return gc_usage_error("give --init or --resume, not both");

    gc_error err = {0};
    int status = GC_EXIT_OK;
    gc_trainer *t = NULL;
    gc_dataset *data = NULL;
    FILE *log = NULL;
    char *source = NULL;
    t = gc_model_options_trainer(&mo, &source, &err);
    if (!t) goto error;
    if (init && !gc_trainer_load_params(t, init, &err)) goto error;
    if (resume && !gc_trainer_load(t, resume, &err)) goto error;
    data = gc_model_options_dataset(&mo, t, shuffle, &err);
    if (!data) goto error;

    int64_t per_epoch = gc_dataset_steps_per_epoch(data);
    int64_t start = gc_trainer_steps(t);
    int64_t total = steps >= 0 ? steps : (epochs >= 0 ? epochs : 1) * per_epoch;
    if (log_path) {
        log = fopen(log_path, "w");
        if (!log) {
            status = gc_usage_error("cannot write the log %s", log_path);
            goto done;
        }
        fprintf(log, "step,loss,lr,grad_norm,ms");
        const char *name;
        for (int k = 0; gc_trainer_output_name(t, k, &name); k++)
            if (strcmp(name, "loss")) fprintf(log, ",%s", name);
        fprintf(log, "\n");
    }
    int bar = !quiet && isatty(STDOUT_FILENO);
    int64_t every = total >= 10 ? total / 10 : 1; /* about ten plain lines per run */
    double began = now_ms();
    float loss = NAN;
    for (int64_t k = 0; k < total; k++) {
        int64_t step = start + k;
        double t0 = now_ms();
        if (!gc_dataset_load_step(data, t, step, &err) || !gc_trainer_step(t, &loss, &err)) goto error;
        double ms = now_ms() - t0;
        if (log) {
            fprintf(log, "%lld,%.9g,%.9g,%.9g,%.3f", (long long)step + 1, loss, scalar_output(t, "lr"),
                    scalar_output(t, "grad_norm"), ms);
            const char *name;
            for (int o = 0; gc_trainer_output_name(t, o, &name); o++)
                if (strcmp(name, "loss")) fprintf(log, ",%.9g", scalar_output(t, name));
            fprintf(log, "\n");
        }
        double elapsed = (now_ms() - began) / 1e3, rate = (k + 1) / (elapsed > 0 ? elapsed : 1e-9);
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
    if (save && !gc_trainer_save(t, save, &err)) goto error;
    if (!quiet) {
        printf("trained %lld steps in %.2f s; final loss %.6f", (long long)total, (now_ms() - began) / 1e3, loss);
        if (save) printf("; saved %s", save);
        printf("\n");
    }
    goto done;
error:
    status = gc_report_error(&err, source && !strcmp(err.file, mo.model_path) ? source : NULL);
done:
    if (log && fclose(log) != 0 && status == GC_EXIT_OK) status = gc_usage_error("cannot write the log %s", log_path);
    gc_dataset_free(data);
    gc_trainer_free(t);
    gc_model_options_free(&mo);
    free(source);
    return status;
}
