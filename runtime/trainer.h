/*
 * trainer.h: what the `gradc` command needs from a trainer beyond the public API — memory figures
 * and the whole-model gradient check. Not installed; the public API is include/gradc/gradc.h.
 */
#ifndef GC_RUNTIME_TRAINER_H
#define GC_RUNTIME_TRAINER_H

#include <gradc/gradc.h>

#include "runtime/gradcheck.h"

typedef struct gc_memory_report {
    int64_t parameters;       /* bytes of params */
    int64_t gradients;        /* bytes of grad values */
    int64_t optimizer_state;  /* bytes of optimizer state */
    int64_t inputs;           /* bytes of one batch */
    int64_t activations;      /* bytes of every other value of the training step, unplanned */
    int64_t parameter_count;  /* elements of params */
} gc_memory_report;

void gc_trainer_memory(const gc_trainer *t, gc_memory_report *report);

/* Finite-difference check of every gradient of the training step, on the f64 interpreter, at the
 * current parameters and inputs. */
int gc_trainer_gradcheck(gc_trainer *t, const gc_gradcheck_options *opts, gc_gradcheck_report *report,
                         gc_error *err);

#endif
