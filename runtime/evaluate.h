/*
 * evaluate.h: the mean loss and outputs of a model over every example of a dataset exactly once,
 * shared by `gradc eval` and the evaluations of the training driver (`--eval-data`).
 *
 * Batches have a fixed size B, so the last N mod B examples need care to give exact means. The
 * model is compiled a second time with the batch const (default `batch`) set to N mod B, and
 * that trainer evaluates the remainder with the current parameters; the means weight each batch
 * by its number of examples, as a PyTorch loop summing loss.item() * len(batch) does. When the
 * batch size does not come from that const, the remainder is read off two padded batches
 * instead: batch P holds the remainder padded with copies of the last example e, batch E holds
 * only copies of e, and the remainder's sum is B * P - (B - r) * E. That is exact when the loss
 * and outputs are means over examples (every loss of the language with reduction="mean",
 * accuracy), and a note (gc_evaluator_note) says the other way was taken.
 */
#ifndef GC_RUNTIME_EVALUATE_H
#define GC_RUNTIME_EVALUATE_H

#include <stdbool.h>

#include <gradc/gradc.h>

#include "runtime/data.h"

enum { GC_EVAL_MAX_OUTPUTS = 64 };

typedef struct gc_eval_result {
    int64_t examples;
    double loss;
    int num_outputs;                          /* the scalar outputs other than loss */
    const char *names[GC_EVAL_MAX_OUTPUTS];   /* owned by the trainer */
    double values[GC_EVAL_MAX_OUTPUTS];
    /* With batch_losses set in the evaluator: the loss of batch i (its real examples only). */
    double *batch_loss;
    int64_t batches;
} gc_eval_result;

typedef struct gc_evaluator gc_evaluator;

/* Compiles the model of the evaluated trainer again with const `name` set to value (for the last
 * partial batch); NULL with err set when it cannot. */
typedef gc_trainer *(*gc_trainer_factory)(void *ctx, const char *name, double value, gc_error *err);

/* An evaluator of t (not owned) over data (not owned, bound to t's inputs, not shuffled).
 * batch_const names the const that sets the batch size; `explicit_const` makes a const that does
 * not work an error instead of a reason to pad. Without a factory the remainder is always padded,
 * without a note (a standalone trainer's code has one batch size).
 * model_name names the model in the note. */
gc_evaluator *gc_evaluator_create(gc_trainer *t, gc_dataset *data, const char *batch_const, bool explicit_const,
                                  bool batch_losses, gc_trainer_factory factory, void *factory_ctx,
                                  const char *model_name, gc_error *err);
/* Why the remainder is evaluated in padded batches, or NULL when it is not (valid until free). */
const char *gc_evaluator_note(const gc_evaluator *e);
/* Data parallel (runtime/distributed.h): batch i is evaluated by rank i mod ranks and the sums are
 * all-reduced, so every rank gets the whole result. Every rank must then run the evaluator. */
void gc_evaluator_set_communicator(gc_evaluator *e, gc_communicator *comm);
/* Evaluates t's current parameters. r->batch_loss stays owned by the evaluator. */
int gc_evaluator_run(gc_evaluator *e, gc_eval_result *r, gc_error *err);
void gc_evaluator_free(gc_evaluator *e);

#endif
