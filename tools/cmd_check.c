/*
 * cmd_check.c: `gradc check MODEL.gm [--gradcheck]` — parse, check and compile the model, list
 * its parameters and the memory a step needs; with --gradcheck, compare every gradient of the
 * training step with finite differences on the f64 interpreter.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/parallel.h"
#include "runtime/trainer.h"
#include "tools/cli.h"
#include "tools/model_options.h"

static void usage(FILE *out) {
    fprintf(out, "usage: gradc check MODEL.gm [--set NAME=VALUE]... [--data NAME=FILE.npy]... [--gradcheck]\n"
                 "                   [--precision f32|bf16]\n\n"
                 "Parses and checks the model, lists its parameters (name, shape, count) and the memory a\n"
                 "training step needs. --gradcheck also checks every gradient of the step by central finite\n"
                 "differences in double precision, on the first batch of --data or on drawn inputs.\n");
}

static void print_bytes(const char *what, int64_t bytes) {
    printf("  %-16s %10.2f MiB\n", what, bytes / (1024.0 * 1024.0));
}

/* Inputs without --data get deterministic values: normal-ish floats, small non-negative integers. */
static int fill_inputs(gc_trainer *t, gc_error *err) {
    const char *name;
    gc_tensor type;
    for (int k = 0; gc_trainer_input_info(t, k, &name, &type); k++) {
        int64_t n = 1;
        for (int d = 0; d < type.rank; d++) n *= type.shape[d];
        void *data = malloc((size_t)n * 4 + 4);
        if (!data) return gc_failf(err, GC_ERR_MEMORY, "out of memory");
        uint32_t state = 12345u + (uint32_t)k;
        for (int64_t i = 0; i < n; i++) {
            state = state * 1664525u + 1013904223u;
            if (type.dtype == GC_I32) ((int32_t *)data)[i] = (int32_t)(state >> 29);
            else ((float *)data)[i] = (float)((state >> 8) / 16777216.0 * 2.0 - 1.0);
        }
        int ok = gc_trainer_set_input_unchecked(t, name, data, (size_t)n * 4, err);
        free(data);
        if (!ok) return 0;
    }
    return 1;
}

int gc_cmd_check(int argc, char **argv) {
    gc_model_options mo;
    gc_model_options_init(&mo);
    mo.options.backend = GC_BACKEND_INTERP; /* checking needs no native code */
    int gradcheck = 0;
    for (int i = 1; i < argc; i++) {
        int used = gc_model_options_parse(&mo, argc, argv, &i);
        if (used < 0) return GC_EXIT_USER;
        if (used) continue;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return GC_EXIT_OK;
        }
        if (!strcmp(argv[i], "--gradcheck")) gradcheck = 1;
        else return gc_usage_error("check: unknown option '%s' (see gradc check --help)", argv[i]);
    }
    if (!mo.model_path) {
        usage(stderr);
        return GC_EXIT_USER;
    }
    /* The report comes from the plan alone: nothing of the step is allocated, so a model too
     * large for this machine still gets its report. --gradcheck runs the step. */
    mo.plan_only = !gradcheck;
    gc_error err = {0};
    char *source = NULL;
    int status = GC_EXIT_OK;
    gc_dataset *data = NULL;
    gc_trainer *t = gc_model_options_trainer(&mo, &source, &err);
    if (!t) goto error;
    const char *warning;
    for (int k = 0; gc_trainer_warning(t, k, &warning); k++) fprintf(stderr, "warning: %s\n", warning);
    printf("%s: ok\n\nparameters:\n", mo.model_path);
    const char *name;
    for (int k = 0; gc_trainer_param_name(t, k, &name); k++) {
        gc_tensor p;
        gc_error perr = {0};
        if (!gc_trainer_param(t, name, &p, &perr)) {
            printf("  %-40s (does not reach the loss)\n", name);
            continue;
        }
        char shape[96];
        int len = snprintf(shape, sizeof shape, "f32[");
        int64_t count = 1;
        for (int d = 0; d < p.rank; d++) {
            len += snprintf(shape + len, sizeof shape - (size_t)len, d ? ", %lld" : "%lld", (long long)p.shape[d]);
            count *= p.shape[d];
        }
        snprintf(shape + len, sizeof shape - (size_t)len, "]");
        printf("  %-40s %-20s %12lld\n", name, shape, (long long)count);
    }
    gc_memory_report mem, unplanned;
    gc_trainer_memory(t, true, &mem);
    gc_trainer_memory(t, false, &unplanned);
    printf("  %-40s %-20s %12lld\n\n", "total", "", (long long)mem.parameter_count);
    if (gc_trainer_buffer_name(t, 0, &name)) {
        /* Saved and loaded with the parameters, never trained (batch norm's running statistics). */
        printf("buffers:\n");
        for (int k = 0; gc_trainer_buffer_name(t, k, &name); k++) {
            gc_tensor p;
            gc_error perr = {0};
            if (!gc_trainer_buffer(t, name, &p, &perr)) continue;
            char shape[96];
            int len = snprintf(shape, sizeof shape, "%s[", p.dtype == GC_I32 ? "i32" : "f32");
            for (int d = 0; d < p.rank; d++)
                len += snprintf(shape + len, sizeof shape - (size_t)len, d ? ", %lld" : "%lld", (long long)p.shape[d]);
            snprintf(shape + len, sizeof shape - (size_t)len, "]");
            printf("  %-40s %s\n", name, shape);
        }
        printf("\n");
    }
    if (mem.planned) {
        printf("memory of one training step, as `gradc train` plans it (threads: %d):\n",
               gc_pool_resolve_threads(mo.options.threads));
    } else {
        mem = unplanned; /* the plan could not be made: say what is known */
        printf("memory of one training step, before planning:\n");
    }
    print_bytes("parameters", mem.parameters);
    if (mem.updates_in_backward)
        printf("  %-16s %10.2f MiB  (the optimizer runs in backward: each of %.2f MiB of gradients lives in\n"
               "  %-16s %10s      the activations' bytes until its update)\n",
               "gradients", 0.0, mem.gradients_transient / (1024.0 * 1024.0), "", "");
    else
        print_bytes("gradients", mem.gradients);
    print_bytes("optimizer state", mem.optimizer_state);
    if (mem.buffers) print_bytes("buffers", mem.buffers);
    print_bytes("inputs", mem.inputs);
    print_bytes("activations", mem.activations);
    print_bytes("workspace", mem.workspace);
    print_bytes("peak", mem.parameters + mem.gradients + mem.optimizer_state + mem.buffers + mem.inputs +
                            mem.activations + mem.workspace);
    /* Under a budget, the optimizer in backward's saving is against the peak before recompute. */
    int64_t own_peak = mem.peak_unbudgeted ? mem.peak_unbudgeted : mem.peak;
    if (mem.planned && mem.peak_classic > own_peak)
        printf("  (every gradient kept until the updates, as with clip_grad_norm: peak %.2f MiB; the optimizer in\n"
               "   backward saves %.2f MiB)\n",
               mem.peak_classic / (1024.0 * 1024.0), (mem.peak_classic - own_peak) / (1024.0 * 1024.0));
    if (mem.planned && mem.peak_unbudgeted) {
        const gc_recompute_report *rc = &mem.recompute;
        printf("  (the memory budget recomputes %d of %d activations backward reads (%d nodes, %.2f MFLOP a step,\n"
               "   %.1f%% of the step's %.2f GFLOP): peak %.2f MiB instead of %.2f MiB)\n",
               rc->chosen, rc->candidates, rc->recomputed_nodes, rc->recompute_flops / 1e6,
               rc->step_flops ? 100.0 * (double)rc->recompute_flops / (double)rc->step_flops : 0.0,
               rc->step_flops / 1e9, mem.peak / (1024.0 * 1024.0), mem.peak_unbudgeted / (1024.0 * 1024.0));
    }
    if (mem.planned)
        printf("  (unplanned, every value of the step at once, activations would take %.2f MiB)\n",
               unplanned.activations / (1024.0 * 1024.0));
    if (gc_trainer_precision(t) == GC_PRECISION_BF16) {
        /* Mixed precision rounds operands while packing them: values, gradients and optimizer state
         * stay f32, so what it saves is the packing buffers' half-width panels. */
        printf("\nprecision bf16: matmuls and convolutions multiply bf16-rounded operands, f32 accumulation\n");
        if (mem.planned)
            printf("  memory saved against f32: %.2f MiB (GEMM packing buffers; activations, gradients, parameters\n"
                   "  and optimizer state stay f32)\n",
                   mem.precision_saved / (1024.0 * 1024.0));
    }
    if (gradcheck && gc_trainer_precision(t) == GC_PRECISION_BF16) {
        /* Finite differences through bf16-rounded operands measure the rounding's steps. */
        fprintf(stderr, "gradc: error: --gradcheck checks the f32 math: run it with --precision f32\n");
        status = GC_EXIT_USER;
        goto done;
    }
    if (gradcheck) {
        if (mo.num_data) {
            data = gc_model_options_dataset(&mo, t, 0, &err);
            if (!data || !gc_dataset_load_step(data, t, 0, &err)) goto error;
        } else if (!fill_inputs(t, &err)) {
            goto error;
        }
        gc_gradcheck_report r;
        if (!gc_trainer_gradcheck(t, NULL, &r, &err)) goto error;
        printf("\ngradcheck: %lld gradient elements checked, %lld outside tolerance\n", (long long)r.checked,
               (long long)r.failed);
        if (r.checked)
            printf("  worst: %s[%lld] analytic %.9g, finite difference %.9g\n", r.worst_param, (long long)r.worst_index,
                   r.worst_analytic, r.worst_numeric);
        if (r.failed) status = GC_EXIT_USER;
    }
    goto done;
error:
    status = gc_report_error(&err, source && !strcmp(err.file, mo.model_path) ? source : NULL);
done:
    gc_dataset_free(data);
    gc_trainer_free(t);
    gc_model_options_free(&mo);
    free(source);
    return status;
}
