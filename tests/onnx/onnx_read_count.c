/*
 * onnx_read_count.c: how many times planning a trainer reads the ONNX files of a model
 * (tests/scripts/test_onnx_import.sh). A model is lowered twice, for the training and the eval
 * graph; the `onnx` layer's file must be read once (frontend/lower_onnx.c keeps it decoded).
 *
 * usage: onnx_read_count MODEL.gm   prints the number of ONNX files read; exit 1 on errors
 */
#include <stdio.h>

#include <gradc/gradc.h>

#include "frontend/onnx_import.h"

int main(int argc, char **argv) {
    if (argc != 2) return fprintf(stderr, "usage: %s MODEL.gm\n", argv[0]), 2;
    gc_error err = {0};
    gc_model *m = gc_model_load(argv[1], &err);
    long before = gc_onnx_cache_reads();
    gc_options opts = {0};
    opts.backend = GC_BACKEND_INTERP;
    gc_trainer *t = m ? gc_trainer_plan(m, &opts, &err) : NULL;
    if (!t) return fprintf(stderr, "onnx_read_count: %s\n", err.message), 1;
    printf("%ld\n", gc_onnx_cache_reads() - before);
    gc_trainer_free(t);
    gc_model_free(m);
    return 0;
}
