/*
 * optimizer.h: optimizer updates, learning-rate schedules and gradient clipping as graph builders.
 *
 * Runs after autodiff. gc_optimizer_build reads the graph's `grad "<param>"` outputs and appends
 * one torch.optim step: the global gradient norm and clip_grad_norm_'s scaling, the scheduled
 * learning rate, and SGD / Adam / AdamW exactly as torch 1.13's single-tensor code paths compute
 * them. Optimizer state lives in `state` nodes named as checkpoints name it:
 *
 *   optimizer.<param>.momentum_buffer          SGD with momentum != 0
 *   optimizer.<param>.exp_avg, .exp_avg_sq     Adam and AdamW
 *   optimizer.step                             f32[], updates done so far (all optimizers)
 *
 * Every state starts at zero. The step's results are `update` outputs for every param and state,
 * plus `output "lr"` (the rate this update used) and `output "grad_norm"` (the global L2 norm of
 * the gradients before clipping). One training step = forward + loss + autodiff + these updates;
 * writing the updates back (gc_interp_apply_updates, or the generated code) advances one step.
 */
#ifndef GC_PASSES_OPTIMIZER_H
#define GC_PASSES_OPTIMIZER_H

#include <stdbool.h>
#include <stdint.h>

#include "ir/build.h"

typedef enum gc_optimizer_kind {
    GC_OPTIMIZER_SGD,
    GC_OPTIMIZER_ADAM,
    GC_OPTIMIZER_ADAMW,
} gc_optimizer_kind;

typedef enum gc_schedule_kind {
    GC_SCHEDULE_CONSTANT, /* f = 1 */
    GC_SCHEDULE_STEP,     /* f = gamma ^ floor(s / every) */
    GC_SCHEDULE_LINEAR,   /* warmup, then max(0, (total - s) / (total - warmup)) */
    GC_SCHEDULE_COSINE,   /* warmup, then cosine from lr down to min_lr at s = total */
} gc_schedule_kind;

/* The learning rate of update s (0-based), as docs/language.md's train block defines it. */
typedef struct gc_schedule {
    gc_schedule_kind kind;
    int64_t every;  /* step: updates per decay, >= 1 */
    double gamma;   /* step: the decay factor, > 0 */
    int64_t warmup; /* linear, cosine: updates of linear warmup, (s + 1) / warmup, >= 0 */
    int64_t total;  /* linear, cosine: the update at which the decay ends, >= warmup */
    double min_lr;  /* cosine: the rate at the end (an absolute rate, not a factor) */
} gc_schedule;

typedef struct gc_optimizer_config {
    gc_optimizer_kind kind;
    double lr;
    double momentum, dampening; /* SGD */
    bool nesterov;              /* SGD; needs momentum > 0 and dampening 0, as torch */
    double beta1, beta2, eps;   /* Adam, AdamW */
    double weight_decay;        /* SGD and Adam: added to the gradient; AdamW: decoupled */
    gc_schedule schedule;
    double clip_grad_norm;      /* max_norm of clip_grad_norm_; 0 turns clipping off */
    const char *const *no_decay; /* glob patterns: matching params get weight_decay 0 */
    int num_no_decay;
    gc_loc loc;                 /* the train block's line, stamped on every node built */
} gc_optimizer_config;

/* Fills cfg with torch's defaults for kind (SGD: lr 0.01 since torch has none; Adam: lr 1e-3,
 * betas (0.9, 0.999), eps 1e-8, weight_decay 0; AdamW: the same with weight_decay 0.01), a
 * constant schedule, no clipping and no no_decay patterns. */
void gc_optimizer_defaults(gc_optimizer_config *cfg, gc_optimizer_kind kind);

/* "sgd", "adam", "adamw"; and the schedule kinds "constant", "step", "linear", "cosine". */
const char *gc_optimizer_kind_name(gc_optimizer_kind kind);
bool gc_optimizer_kind_from_name(const char *name, gc_optimizer_kind *out);
const char *gc_schedule_kind_name(gc_schedule_kind kind);
bool gc_schedule_kind_from_name(const char *name, gc_schedule_kind *out);

/* Checks the ranges torch checks (lr >= 0, 0 <= beta < 1, ...) and the schedule's; fills err at
 * cfg->loc naming the offending key. */
int gc_optimizer_validate(const gc_optimizer_config *cfg, gc_error *err);

/* Appends the optimizer step described above. Fails when cfg is invalid, when the graph has no
 * grad outputs (autodiff has not run) or already has optimizer state. */
int gc_optimizer_build(gc_graph *g, const gc_optimizer_config *cfg, gc_error *err);

/* The scheduled learning rate as a graph value: step is the f32[] count of updates done so far. */
gc_node *gc_schedule_build(gc_builder *b, const gc_schedule *schedule, double lr, gc_node *step);

/* The same rate computed on the host in double precision (for logging, tests and docs). */
double gc_schedule_lr(const gc_schedule *schedule, double lr, int64_t step);

/* Checks a schedule's fields; fills err at loc. */
int gc_schedule_validate(const gc_schedule *schedule, gc_loc loc, gc_error *err);

/* Shell-style glob over a parameter name: `*` matches any run of characters (dots included), `?`
 * any one character, everything else itself. */
bool gc_glob_match(const char *pattern, const char *name);

#endif
