/*
 * model_options.h: the options every model-loading command shares (`train`, `eval`, `check`,
 * `ir`): the model path, --set NAME=VALUE, --data NAME=FILE.npy, --backend, --threads; and the
 * small flag-parsing helpers the commands use. GNU style: `--flag value` and `--flag=value`.
 */
#ifndef GC_TOOLS_MODEL_OPTIONS_H
#define GC_TOOLS_MODEL_OPTIONS_H

#include <gradc/gradc.h>

#include "runtime/data.h"

typedef struct gc_binding {
    const char *name;
    const char *path;
} gc_binding;

typedef struct gc_model_options {
    const char *model_path;
    gc_binding sets[64], data[64];
    int num_sets, num_data;
    gc_options options;
    int backend_given;
} gc_model_options;

void gc_model_options_init(gc_model_options *mo);
void gc_model_options_free(gc_model_options *mo);
/* Consumes argv[*i] (and its value) when it is a shared option or the model path: returns 1, or
 * 0 when it is not one of these, or -1 after printing an error. */
int gc_model_options_parse(gc_model_options *mo, int argc, char **argv, int *i);

/* Loads the model, applies --set, and compiles a trainer; *source receives the model's text for
 * error carets (caller frees). The JIT is used when available unless --backend says otherwise. */
gc_trainer *gc_model_options_trainer(gc_model_options *mo, char **source, gc_error *err);
/* Reads every --data file and binds it to its input. */
gc_dataset *gc_model_options_dataset(gc_model_options *mo, gc_trainer *t, int shuffle, gc_error *err);

/* Matches `--name VALUE` or `--name=VALUE` at argv[*i]; a missing value is a usage error that ends
 * the process with status 1. */
int gc_flag_value(int argc, char **argv, int *i, const char *name, const char **value);
/* A whole number >= 0. */
int gc_parse_count(const char *s, long long *out);

#endif
