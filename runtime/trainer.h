/*
 * trainer.h: what the `gradc` command needs from a trainer beyond the public API — memory figures
 * and the whole-model gradient check. Not installed; the public API is include/gradc/gradc.h.
 */
#ifndef GC_RUNTIME_TRAINER_H
#define GC_RUNTIME_TRAINER_H

#include <gradc/gradc.h>

#include "codegen/codegen.h"
#include "passes/recompute.h"
#include "runtime/gradcheck.h"

typedef struct gc_memory_report {
    int64_t parameters;       /* bytes of params */
    int64_t gradients;        /* bytes of grad values */
    int64_t optimizer_state;  /* bytes of optimizer state */
    int64_t buffers;          /* bytes of buffers (batch norm's running statistics) */
    int64_t inputs;           /* bytes of one batch */
    int64_t activations;      /* bytes of every other value of the training step: planned, what the
                                 JIT's memory plan holds of them (passes/plan.h); else all of them */
    int64_t workspace;        /* planned only: gradc's GEMM packing buffers on every pool thread, the
                                 ones it keeps for the whole process (a split product's shared packing,
                                 partial products along k) and the update staging buffer (OpenBLAS's
                                 own buffers are not counted) */
    int64_t parameter_count;  /* elements of params */
    int64_t precision_saved;  /* planned only, bf16 precision: what the step takes less than the same
                                 step at f32 (negative: more). Values stay f32 in memory, so only the
                                 GEMM packing buffers (bf16 panels) differ */
    bool planned;
    /* Planned only: */
    int64_t peak;             /* the arena plus the workspace: every part above, as allocated */
    bool updates_in_backward; /* the optimizer runs in backward (passes/update_order.h): gradients
                                 are not kept (gradients is 0), each lives in the activations'
                                 bytes until its update; gradients_transient: their total */
    int64_t gradients_transient;
    int64_t peak_classic;     /* the peak with every gradient kept until the updates (the order
                                 before update_in_backward); 0 when not known (no plan_only) */
    /* Under a memory budget the plan did not meet by itself: what is recomputed in backward
     * (passes/recompute.h) and the peak without it; peak_unbudgeted is 0 otherwise. */
    gc_recompute_report recompute;
    int64_t peak_unbudgeted;
} gc_memory_report;

/* gc_trainer_plan with the training graph a trainer on several processes runs
 * (gc_trainer_new_distributed with N > 1): no updates in backward, and with gradient accumulation
 * grad outputs that are the accumulated sums. `gradc compile` compiles it for its trainers' runs
 * under mpirun (and, alike without accumulation, for --skip-nonfinite). */
gc_trainer *gc_trainer_plan_distributed(gc_model *m, const gc_options *opts, gc_error *err);

/* The memory of t's training step. planned: as the JIT runs it, in one planned arena (what
 * `gradc train` uses), whatever t's backend; else every value of the step at once, as the
 * interpreter holds them. All of it is allocated before the first step, so the sum is the peak. */
void gc_trainer_memory(const gc_trainer *t, bool planned, gc_memory_report *report);

/* Wall time of each phase of gc_trainer_new, in milliseconds (`gradc train --verbose`). The
 * frontend runs twice (training and eval graphs) and so does the backend. */
typedef struct gc_compile_times {
    double frontend_ms;  /* parse, check, lower */
    double autodiff_ms;  /* autodiff and the optimizer update */
    double simplify_ms;  /* the pass pipeline after them */
    double backend_ms;   /* executor creation: code generation, O3 and JIT for the JIT backend */
    double init_ms;      /* parameter initialisation */
    double total_ms;
    gc_codegen_times codegen; /* the training graph's backend_ms, phase by phase (JIT only) */
} gc_compile_times;

void gc_trainer_compile_times(const gc_trainer *t, gc_compile_times *times);

/* Finite-difference check of every gradient of the training step, on the f64 interpreter, at the
 * current parameters and inputs. */
int gc_trainer_gradcheck(gc_trainer *t, const gc_gradcheck_options *opts, gc_gradcheck_report *report,
                         gc_error *err);

/* Checks data for input `name` against what the model indexes with it and for NaN
 * (runtime/validate.h): a whole data file (origin: its path) of `examples` examples. */
int gc_trainer_check_data(const gc_trainer *t, const char *name, const char *origin, const void *data, gc_dtype dtype,
                          int64_t examples, int64_t numel, gc_error *err);
/* gc_trainer_set_input without the checks: `gradc check --gradcheck` feeds made-up inputs. */
int gc_trainer_set_input_unchecked(gc_trainer *t, const char *name, const void *data, size_t bytes, gc_error *err);
/* gc_trainer_save with a choice: without `optimizer` only the parameters and buffers (metadata
 * format "pt": a file torch's strict load_state_dict reads); with key (and value) one more
 * metadata entry (the eval loss of a --keep-best checkpoint). */
int gc_trainer_save_as(gc_trainer *t, const char *path, bool optimizer, const char *key, const char *value,
                       gc_error *err);
/* 1 (and clears it) when gc_trainer_request_stop was called since the last time, else 0. */
int gc_trainer_take_stop_request(gc_trainer *t);
/* Updates this trainer skipped for a non-finite loss or gradient norm (gc_options.skip_nonfinite). */
int64_t gc_trainer_skipped(const gc_trainer *t);
/* Data parallel: the gradient bytes this rank put into all-reduces in its last step, the
 * buckets they made and how many of those started while backward ran; 0 when t trains alone. */
int gc_trainer_reduced(const gc_trainer *t, int64_t *bytes, int *buckets, int *overlapped);
/* Data parallel: the training steps run so far (micro-batches, with gradient accumulation) and in
 * *synced those that all-reduced gradients (with accumulation, an update's last micro-batch
 * only); 0 when t trains alone. */
int64_t gc_trainer_reduced_runs(const gc_trainer *t, int64_t *synced);

#endif
