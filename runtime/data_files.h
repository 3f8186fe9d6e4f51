/*
 * data_files.h: binding data files to a trainer's inputs, for every front end of training
 * (`gradc train`/`eval`/`check`, the standalone trainers of `gradc compile`, gc_trainer_run).
 *
 * A binding is NAME=FILE: a NumPy .npy array whose first axis indexes examples, or
 * `FILE.csv[:COLS]` (columns by index, range or header name), or, with a NULL name, a byte-level
 * text (`--text FILE`) feeding the inputs `tokens` and `targets` (runtime/text_data.h). Each file
 * is read as the input's dtype, checked whole against what the model indexes with it and for NaN
 * (runtime/validate.h), and an input left without data is an error unless it is allowed to keep
 * zeros.
 */
#ifndef GC_RUNTIME_DATA_FILES_H
#define GC_RUNTIME_DATA_FILES_H

#include <gradc/gradc.h>

#include "runtime/csv.h"
#include "runtime/data.h"

typedef struct gc_data_binding {
    const char *name; /* the input; NULL for a text that feeds tokens and targets */
    const char *path;
} gc_data_binding;

typedef struct gc_data_config {
    gc_csv_header csv_header;
    const char *const *allow_unbound; /* inputs that may go without data (they keep zeros) */
    int num_allow_unbound;
    int64_t text_stride;              /* bytes between text windows; 0: the context (no overlap) */
} gc_data_config;

/* Reads the bindings (`eval`: held-out data, named --eval-data/--eval-text in messages) into a
 * dataset bound to t's inputs, shuffled per epoch from t's seed when `shuffle`. cfg may be NULL
 * (defaults). */
gc_dataset *gc_data_files_load(gc_trainer *t, const gc_data_binding *list, int count, const gc_data_config *cfg,
                               int eval, int shuffle, gc_error *err);

/* Tokens a batch of t holds when it reads token ids (an i32 input `tokens` of rank 2: its batch
 * times its context), else 0; for throughput in tokens/s. */
int64_t gc_data_tokens_per_batch(const gc_trainer *t);

#endif
