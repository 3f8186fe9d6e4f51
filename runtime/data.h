/*
 * data.h: feeding batches to a trainer from arrays whose first axis indexes examples.
 *
 * Every bound array must hold the same number of examples N; a batch of B examples (B = the
 * input's first dim) is copied into each input per step. Epochs are floor(N / B) steps: like a
 * PyTorch DataLoader with drop_last=True, the examples left over at the end of an epoch are not
 * used, and the next epoch starts again from the first. In order (no shuffle), step k of an epoch
 * reads examples k*B .. k*B+B-1. Shuffled, each epoch visits a permutation drawn from
 * (seed, epoch) by Fisher-Yates over the Philox generator, so resuming at a step reproduces the
 * same batches: the order depends only on (seed, epoch), never on how the run was split.
 * Eval mode instead visits every example once, the last batch partial (padded by repeating its
 * last example, with a count of how many are real).
 */
#ifndef GC_RUNTIME_DATA_H
#define GC_RUNTIME_DATA_H

#include <stdbool.h>

#include <gradc/gradc.h>

typedef struct gc_dataset gc_dataset;

gc_dataset *gc_dataset_new(gc_error *err);
void gc_dataset_free(gc_dataset *d);

/* Binds an array (taken over: data is freed with the dataset) to the input `name` whose type is
 * `input` (dtype and per-example shape must match: the array's dims after the first must equal the
 * input's dims after the first). */
int gc_dataset_bind(gc_dataset *d, const char *name, gc_tensor array, const gc_tensor *input, gc_error *err);

/* Checks that every array has the same number of examples (at least one) and the same batch
 * size. Training needs at least one whole batch (gc_dataset_load_step says so); eval does not. */
int gc_dataset_finish(gc_dataset *d, bool shuffle, uint64_t seed, gc_error *err);
int64_t gc_dataset_examples(const gc_dataset *d);
/* B, the inputs' first dim. */
int64_t gc_dataset_batch(const gc_dataset *d);
/* floor(N / B); 0 when there is not one whole batch. */
int64_t gc_dataset_steps_per_epoch(const gc_dataset *d);

/* Data parallel (runtime/distributed.h): this dataset feeds rank `rank` of `ranks`. A step's
 * global batch is then ranks x B examples, taken in the order one process with a batch of ranks x B
 * reads them, and this rank's B are those at rank x B within it; epochs are floor(N / (ranks x B))
 * steps. Call before the first step. */
int gc_dataset_shard(gc_dataset *d, int rank, int ranks, gc_error *err);
/* The rank this dataset feeds, and in *ranks how many there are (0 of 1 unsharded). */
int gc_dataset_shard_of(const gc_dataset *d, int *ranks);

/* Writes the batch of global step `step` (0-based) into each bound input of the trainer. */
int gc_dataset_load_step(gc_dataset *d, gc_trainer *t, int64_t step, gc_error *err);
/* Eval: writes batch `index` (0-based, examples index*B ..) and returns in *real how many of its B
 * examples are real (the rest repeat the last one). Batches: ceil(N / B). */
int gc_dataset_load_eval(gc_dataset *d, gc_trainer *t, int64_t index, int64_t *real, gc_error *err);
int64_t gc_dataset_eval_batches(const gc_dataset *d);
/* Writes examples first .. first+count-1 in order, then repeats the last of them until `batch`
 * examples are written (count <= batch <= B), into inputs that hold `batch` examples: the inputs
 * of a trainer compiled for a smaller batch, or a padded batch. */
int gc_dataset_load_examples(gc_dataset *d, gc_trainer *t, int64_t first, int64_t count, int64_t batch, gc_error *err);

/* Writes the B examples whose indices are given (in that order) into the inputs: a sampler's
 * batch (random offsets, a data-parallel rank's slice). */
int gc_dataset_load_indices(gc_dataset *d, gc_trainer *t, const int64_t *examples, gc_error *err);
/* The seed given to gc_dataset_finish. */
uint64_t gc_dataset_seed(const gc_dataset *d);

#endif
