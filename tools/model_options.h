/*
 * model_options.h: the options every model-loading command shares (`train`, `eval`, `sample`,
 * `check`, `ir`): the model path, --set NAME=VALUE, the data options (--data NAME=FILE for .npy
 * and CSV files, --text FILE, --text-stride N, --csv-header, --no-csv-header, --allow-unbound),
 * --backend, --threads, --ieee-subnormals; and the small
 * flag-parsing helpers the commands use. GNU style: `--flag value` and `--flag=value`.
 */
#ifndef GC_TOOLS_MODEL_OPTIONS_H
#define GC_TOOLS_MODEL_OPTIONS_H

#include <gradc/gradc.h>

#include "runtime/csv.h"
#include "runtime/data.h"
#include "runtime/data_files.h"

/* NAME=FILE of --data or --set; a --text FILE binding has a NULL name (it feeds tokens and targets). */
typedef gc_data_binding gc_binding;

enum { GC_MAX_BINDINGS = 64 };

typedef struct gc_model_options {
    const char *model_path;
    gc_binding sets[GC_MAX_BINDINGS], data[GC_MAX_BINDINGS];
    int num_sets, num_data;  /* num_data counts --data and --text */
    gc_csv_header csv_header;
    gc_options options;
    gc_precision precision; /* --precision; GC_PRECISION_DEFAULT: the train block's */
    gc_communicator *communicator; /* data parallel (gradc train under mpirun); NULL: alone */
    int backend_given;
    const char *allow_unbound[GC_MAX_BINDINGS]; /* --allow-unbound NAME: inputs that may keep zeros */
    int num_allow_unbound;
    long long text_stride;                      /* --text-stride N; 0: the context */
    char *owned[3 * GC_MAX_BINDINGS]; /* binding names, freed with the options */
    int num_owned;
    /* Memory: */
    int plan_only;               /* compile and plan only (gc_trainer_plan): `gradc check` */
    int64_t memory_budget;       /* --memory-budget SIZE in bytes, 0: none (gc_model_set_memory_budget) */
} gc_model_options;

void gc_model_options_init(gc_model_options *mo);
void gc_model_options_free(gc_model_options *mo);
/* Consumes argv[*i] (and its value) when it is a shared option or the model path: returns 1, or
 * 0 when it is not one of these, or -1 after printing an error. */
int gc_model_options_parse(gc_model_options *mo, int argc, char **argv, int *i);
/* Appends `value` (NAME=FILE, or with name_required 0 and flag --text/--eval-text a bare FILE) to
 * a binding list such as mo->data; `flag` names the option in errors. Returns 1, or -1 after
 * printing an error. */
int gc_model_options_bind(gc_model_options *mo, gc_binding *list, int *count, const char *flag, const char *value,
                          int is_text);

/* Loads the model and applies --set and --precision (caller frees). */
gc_model *gc_model_options_model(const gc_model_options *mo, gc_error *err);
/* Loads the model, applies --set, and compiles a trainer; *source receives the model's text for
 * error carets (caller frees). The JIT is used when available unless --backend says otherwise. */
gc_trainer *gc_model_options_trainer(gc_model_options *mo, char **source, gc_error *err);
/* The same with one more const override (applied after --set): `gradc eval` compiles the model
 * again for its last partial batch this way. *source may be NULL. */
gc_trainer *gc_model_options_trainer_with(gc_model_options *mo, const char *name, double value, char **source,
                                          gc_error *err);

/* Reads every --data file and --text and binds them to the model's inputs. Each file is checked
 * whole against what the model indexes with it and for NaN (runtime/validate.h); an input left
 * without data is an error unless --allow-unbound names it. */
gc_dataset *gc_model_options_dataset(gc_model_options *mo, gc_trainer *t, int shuffle, gc_error *err);
/* The same for another binding list (train's --eval-data). */
gc_dataset *gc_model_options_load(const gc_model_options *mo, const gc_binding *list, int count, gc_trainer *t,
                                  int shuffle, gc_error *err);

/* Prints err like gc_report_error, with the source line and a caret from the model file (source)
 * or from the data file the error points into. Returns the exit status. */
int gc_model_options_report(const gc_model_options *mo, const gc_error *err, const char *source);

/* Matches `--name VALUE` or `--name=VALUE` at argv[*i]; a missing value is a usage error that ends
 * the process with status 1. */
int gc_flag_value(int argc, char **argv, int *i, const char *name, const char **value);
/* A whole number >= 0. */
int gc_parse_count(const char *s, long long *out);
/* The data options as the runtime's data loader takes them (pointers into mo). */
gc_data_config gc_model_options_data_config(const gc_model_options *mo);
/* `gradc CMD: unknown option 'A'`, with `did you mean '--X'?` when one of `known` (NULL-ended,
 * the command's own flags; with model_options also the shared ones) is a likely misspelling.
 * Returns GC_EXIT_USER. */
int gc_unknown_option(const char *command, const char *a, const char *const *known, int model_options);

#endif
