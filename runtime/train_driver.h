/*
 * train_driver.h: the one training loop of gradc. `gradc train` (tools/cmd_train.c), the
 * standalone trainers of `gradc compile` (runtime/aot_main.c) and the C API's gc_trainer_run are
 * option parsers over it, so a feature of training is written once.
 *
 * A run: `total` updates from the trainer's current step (a resumed trainer continues), each
 * reading its micro-batches from a data source; after each, a CSV log row, an evaluation on
 * held-out data every so often (and after the last update), a rolling checkpoint every
 * save_every updates, the checkpoint of the best eval loss so far (keep_best), progress. A stop
 * (the first SIGINT/SIGTERM when catch_signals, or gc_trainer_request_stop) ends the run between
 * updates: the update in flight and its log row are finished and the checkpoint is saved (to
 * `save`, or interrupted.safetensors beside the log), so running the remaining updates from it
 * gives what the uninterrupted run gives, bit for bit.
 *
 * The structure keeps data-parallel training in mind: the step function (driver_step) reads
 * through the source's load function (a rank reads its slice there), and everything written
 * (log, checkpoints, output) is behind one predicate, the config's `rank` being 0.
 *
 * Output goes only to the streams the config names (NULL: silent), so the library prints nothing
 * on its own; the command-line front ends pass stdout and stderr.
 */
#ifndef GC_RUNTIME_TRAIN_DRIVER_H
#define GC_RUNTIME_TRAIN_DRIVER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <gradc/gradc.h>

#include "runtime/data.h"
#include "runtime/evaluate.h"

/* Where the batches come from. load writes micro-batch `index` (0-based over the whole run of a
 * trainer since step 0: update u reads u*N .. u*N+N-1 with N = gradient_accumulation_steps) into
 * the trainer's inputs. */
typedef struct gc_train_source {
    int (*load)(void *ctx, gc_trainer *t, int64_t index, gc_error *err);
    void *ctx;
    int64_t batches_per_epoch; /* whole batches in one pass over the data */
    int64_t examples_per_batch;
    int64_t tokens_per_batch;  /* 0: the data is not tokens (no tokens/s) */
} gc_train_source;

/* A source over a dataset (runtime/data.h) bound to t's inputs: epochs in order or shuffled, as
 * the dataset was finished. */
gc_train_source gc_train_source_dataset(gc_dataset *d, const gc_trainer *t);

/* A source drawing each batch's B examples at random with replacement, as nanoGPT's get_batch
 * draws its offsets (with --text-stride 1 the examples are every offset of the text): example i
 * of micro-batch m is Philox(seed, "rand", m, i) mod N, so a resumed run draws the same batches.
 * An "epoch" stays floor(N / B) batches. The sampler is caller-owned and outlives the source;
 * indices is scratch of B entries. */
typedef struct gc_random_sampler {
    gc_dataset *d;
    int64_t *indices;
} gc_random_sampler;
gc_train_source gc_train_source_random(gc_random_sampler *s, const gc_trainer *t);

typedef enum gc_progress {
    GC_PROGRESS_NONE = 0, /* only the summary */
    GC_PROGRESS_LINES,    /* a plain line about ten times a run, and the eval lines */
    GC_PROGRESS_BAR,      /* a bar redrawn on one terminal line, and the eval lines */
} gc_progress;

typedef struct gc_train_config {
    int64_t steps;        /* updates to run; -1: `epochs` passes */
    int64_t epochs;       /* -1 (with steps -1): one epoch */
    int64_t eval_every;   /* evaluate every N updates (when there is an evaluator); 0: after the last only */
    int64_t save_every;   /* also save every N updates (needs save); 0: never */
    const char *save;     /* the checkpoint written at the end and on a stop */
    bool keep_best;       /* keep the checkpoint of the lowest eval loss at gc_train_best_path(save) */
    const char *save_weights; /* parameters and buffers only (torch's strict load), whenever save is written */
    const char *log;      /* CSV log path, or NULL */
    bool resumed;         /* the trainer was loaded from a checkpoint: a log there is continued */
    bool skip_nonfinite;  /* the summary counts skipped updates */
    FILE *out;            /* progress, eval lines and the summary; NULL: none */
    FILE *messages;       /* warnings and the stop notice; NULL: none */
    gc_progress progress;
    bool catch_signals;   /* SIGINT/SIGTERM stop the run (handlers installed for its duration) */
    int argc;             /* the command line, for the printed resume command (0: none) */
    char *const *argv;
    int rank;             /* data-parallel rank: only rank 0 logs, saves and prints */
    gc_communicator *comm; /* data parallel (runtime/distributed.h), or NULL: every rank stops after
                              the same update when any of them is stopped, and waits for rank 0's
                              checkpoint; the caller shards the source's data (gc_dataset_shard) */
} gc_train_config;

typedef struct gc_train_result {
    int64_t first_step;   /* the trainer's step when the run began */
    int64_t total;        /* updates the run was to do */
    int64_t done;         /* updates done */
    float loss;           /* the last update's loss (NaN when none ran) */
    int stopped;          /* 0; the signal (SIGINT, SIGTERM) that stopped the run; -1 for gc_trainer_request_stop */
    char saved[1024];     /* the checkpoint written at the stop ("" when none) */
    bool evaluated;
    gc_eval_result eval;  /* the last evaluation */
    int64_t best_step;    /* keep_best: the step of the kept checkpoint (0: none yet) */
    double best_loss;
    int64_t skipped;      /* updates skipped for a non-finite loss (skip_nonfinite) */
    double seconds;
} gc_train_result;

/* Updates a run of cfg does over src from t's current step. */
int64_t gc_train_total(const gc_train_config *cfg, const gc_train_source *src, const gc_trainer *t);

/* Refuses a run that cannot take one step (no whole batch) before anything else is compiled;
 * the same error the first step would give. */
int gc_train_check_source(const gc_train_config *cfg, const gc_train_source *src, gc_trainer *t, gc_error *err);

/* Where keep_best keeps its checkpoint: `run.safetensors` -> `run.best.safetensors` (".best"
 * appended to other names). Caller frees; NULL when out of memory. */
char *gc_train_best_path(const char *save);

/* Runs the training; ev (may be NULL) evaluates held-out data. Returns 1 when the run ended or was
 * stopped (r->stopped), 0 with err set: a failed step, save or log write, or more than half of
 * the updates skipped as non-finite (GC_ERR_NUMERIC). r is filled either way. */
int gc_train_run(gc_trainer *t, const gc_train_source *src, gc_evaluator *ev, const gc_train_config *cfg,
                 gc_train_result *r, gc_error *err);

/* The exit status of a command whose run stopped (128 + the signal; 130 for a stop request). */
int gc_train_stop_status(const gc_train_result *r);

#endif
