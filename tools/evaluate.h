/*
 * evaluate.h: the evaluator of runtime/evaluate.h for a model loaded from the command's options:
 * the last partial batch is evaluated by the model compiled again with the batch const set to
 * the remainder, and the note about padded batches goes to stderr.
 */
#ifndef GC_TOOLS_EVALUATE_H
#define GC_TOOLS_EVALUATE_H

#include <stdbool.h>

#include <gradc/gradc.h>

#include "runtime/data.h"
#include "runtime/evaluate.h"
#include "tools/model_options.h"

/* An evaluator of t (not owned) over data (not owned, bound to t's inputs, not shuffled), see
 * gc_evaluator_create; mo compiles the remainder's trainer. */
gc_evaluator *gc_evaluator_new(gc_model_options *mo, gc_trainer *t, gc_dataset *data, const char *batch_const,
                               bool explicit_const, bool batch_losses, gc_error *err);
/* The factory gc_evaluator_create takes, over gc_model_options_trainer_with (ctx: the options). */
gc_trainer *gc_model_options_factory(void *mo, const char *name, double value, gc_error *err);

#endif
