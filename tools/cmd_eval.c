/*
 * cmd_eval.c: `gradc eval MODEL.gm --params CKPT [DATA] [--json] [--batch-loss]`.
 *
 * Loads the parameters, runs the eval graph (no dropout) over every example of the bound data
 * exactly once and prints the mean loss and the mean of every scalar output. The exact handling
 * of the last partial batch is in tools/evaluate.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/cli.h"
#include "tools/evaluate.h"
#include "tools/model_options.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: gradc eval MODEL.gm --params CKPT [--data NAME=FILE]... [--text FILE] [--json] [--batch-loss]\n"
            "                  [--batch-const NAME] [--set NAME=VALUE]... [--csv-header | --no-csv-header]\n"
            "                  [--threads N] [--backend jit|interp]\n\n"
            "Evaluates the model with the parameters in CKPT (a safetensors file, from gradc train --save or\n"
            "PyTorch) over every example of the data exactly once, the last partial batch included, and\n"
            "prints the mean loss and the mean of every scalar output, one `name value` line each.\n"
            "  --data NAME=FILE       bind a .npy array, or FILE.csv:COLS (columns by index, range or name)\n"
            "  --text FILE            byte-level text for the inputs tokens and targets\n"
            "  --allow-unbound NAME   let the input NAME go without data (it keeps zeros)\n"
            "  --json                 print {\"examples\": N, \"loss\": L, \"outputs\": {...}} instead\n"
            "  --batch-loss           also print each batch's mean loss: `batch INDEX EXAMPLES LOSS`\n"
            "  --batch-const NAME     the const that sets the batch size (default: batch); the last\n"
            "                         partial batch is evaluated by a copy of the model compiled with it\n");
}

static void print_number(double v, int json) {
    if (isfinite(v)) printf("%.9g", v);
    else printf("%s", json ? "null" : isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
}

int gc_cmd_eval(int argc, char **argv) {
    gc_model_options mo;
    gc_model_options_init(&mo);
    const char *params = NULL, *batch_const = "batch";
    int json = 0, batch_loss = 0, explicit_const = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        int used = gc_model_options_parse(&mo, argc, argv, &i);
        if (used < 0) goto usage_error;
        if (used) continue;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            gc_model_options_free(&mo);
            return GC_EXIT_OK;
        }
        if (gc_flag_value(argc, argv, &i, "--params", &v)) {
            params = v;
        } else if (gc_flag_value(argc, argv, &i, "--batch-const", &v)) {
            batch_const = v;
            explicit_const = 1;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--batch-loss")) {
            batch_loss = 1;
        } else {
            static const char *const flags[] = {"--params", "--batch-const", "--json", "--batch-loss", NULL};
            gc_unknown_option("eval", a, flags, 1);
            goto usage_error;
        }
    }
    if (!mo.model_path) {
        usage(stderr);
        goto usage_error;
    }
    if (!params) {
        gc_usage_error("eval: give the parameters to evaluate with --params CKPT");
        goto usage_error;
    }
    if (!mo.num_data) {
        gc_usage_error("eval: no data (bind the model's inputs with --data NAME=FILE or --text FILE)");
        goto usage_error;
    }

    gc_error err = {0};
    int status = GC_EXIT_OK;
    char *source = NULL;
    gc_dataset *data = NULL;
    gc_evaluator *ev = NULL;
    gc_trainer *t = gc_model_options_trainer(&mo, &source, &err);
    if (!t || !gc_trainer_load_params(t, params, &err)) goto error;
    data = gc_model_options_dataset(&mo, t, 0, &err);
    if (!data) goto error;
    ev = gc_evaluator_new(&mo, t, data, batch_const, explicit_const, batch_loss, &err);
    gc_eval_result r;
    if (!ev || !gc_evaluator_run(ev, &r, &err)) goto error;
    if (json) {
        printf("{\"examples\": %lld, \"loss\": ", (long long)r.examples);
        print_number(r.loss, 1);
        printf(", \"outputs\": {");
        for (int k = 0; k < r.num_outputs; k++) {
            printf("%s\"%s\": ", k ? ", " : "", r.names[k]); /* output names are identifiers: nothing to escape */
            print_number(r.values[k], 1);
        }
        printf("}");
        if (batch_loss) {
            printf(", \"batch_loss\": [");
            for (int64_t b = 0; b < r.batches; b++) {
                if (b) printf(", ");
                print_number(r.batch_loss[b], 1);
            }
            printf("]");
        }
        printf("}\n");
    } else {
        int64_t batch = gc_dataset_batch(data);
        for (int64_t b = 0; batch_loss && b < r.batches; b++) {
            int64_t n = r.examples - b * batch < batch ? r.examples - b * batch : batch;
            printf("batch %lld %lld ", (long long)b, (long long)n);
            print_number(r.batch_loss[b], 0);
            printf("\n");
        }
        printf("loss ");
        print_number(r.loss, 0);
        printf("\n");
        for (int k = 0; k < r.num_outputs; k++) {
            printf("%s ", r.names[k]);
            print_number(r.values[k], 0);
            printf("\n");
        }
    }
    goto done;
error:
    status = gc_model_options_report(&mo, &err, source);
done:
    gc_evaluator_free(ev);
    gc_dataset_free(data);
    gc_trainer_free(t);
    gc_model_options_free(&mo);
    free(source);
    return status;
usage_error:
    gc_model_options_free(&mo);
    return GC_EXIT_USER;
}
