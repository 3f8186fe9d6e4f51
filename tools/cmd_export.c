/*
 * cmd_export.c: `gradc export CKPT -o WEIGHTS.safetensors`: the model's own tensors of a
 * checkpoint, for PyTorch. A checkpoint also holds the optimizer's state (`optimizer.*`) so that
 * --resume continues bit for bit; torch's load_state_dict(strict=True) refuses those names. The
 * export keeps every parameter and buffer under its name and dtype (num_batches_tracked stays
 * I64, as torch writes it) and the checkpoint's metadata, and is written atomically.
 */
#include <stdio.h>
#include <string.h>

#include "runtime/safetensors.h"
#include "tools/cli.h"
#include "tools/model_options.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: gradc export CHECKPOINT.safetensors -o WEIGHTS.safetensors\n\n"
            "Writes the parameters and buffers of a checkpoint written by gradc train --save (or any\n"
            "safetensors file), without the optimizer state, so that PyTorch's\n"
            "model.load_state_dict(..., strict=True) reads it. The step count and other metadata are kept.\n");
}

/* What the trainer adds to a checkpoint beyond the model's state_dict (runtime/trainer.c). */
static int is_training_state(const char *name) { return strncmp(name, "optimizer.", 10) == 0; }

int gc_cmd_export(int argc, char **argv) {
    const char *in_path = NULL, *out_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return GC_EXIT_OK;
        }
        if (gc_flag_value(argc, argv, &i, "-o", &v) || gc_flag_value(argc, argv, &i, "--output", &v)) out_path = v;
        else if (a[0] != '-' && !in_path) in_path = a;
        else {
            static const char *const flags[] = {"-o", "--output", NULL};
            return gc_unknown_option("export", a, flags, 0);
        }
    }
    if (!in_path) {
        usage(stderr);
        return GC_EXIT_USER;
    }
    if (!out_path) return gc_usage_error("export: give the file to write with -o WEIGHTS.safetensors");
    gc_error err = {0};
    gc_safetensors *in = gc_safetensors_load(in_path, &err), *out = NULL;
    int status = GC_EXIT_OK, kept = 0, dropped = 0;
    if (!in || !(out = gc_safetensors_new(&err))) goto fail;
    for (int i = 0; i < in->num_tensors; i++) {
        const gc_st_tensor *t = &in->tensors[i];
        if (is_training_state(t->name)) {
            dropped++;
            continue;
        }
        if (!gc_safetensors_add(out, t->name, t->dtype, t->rank, t->shape, t->data, &err)) goto fail;
        kept++;
    }
    for (int i = 0; i < in->num_meta; i++)
        if (!gc_safetensors_set_meta(out, in->meta[i].key, in->meta[i].value, &err)) goto fail;
    if (!gc_safetensors_get_meta(out, "format") && !gc_safetensors_set_meta(out, "format", "pt", &err)) goto fail;
    if (!gc_safetensors_save(out, out_path, &err)) goto fail;
    printf("exported %d tensor%s to %s (%d optimizer tensor%s left out)\n", kept, kept == 1 ? "" : "s", out_path,
           dropped, dropped == 1 ? "" : "s");
    goto done;
fail:
    status = gc_report_error(&err, NULL);
done:
    gc_safetensors_free(out);
    gc_safetensors_free(in);
    return status;
}
