/*
 * optimizer.h: optimizer updates, learning-rate schedules and gradient clipping as graph builders.
 *
 * Runs after autodiff. gc_optimizer_build reads the graph's `grad "<param>"` outputs and appends
 * one torch.optim step: the global gradient norm and clip_grad_norm_'s scaling, the scheduled
 * learning rate, and SGD / Adam / AdamW exactly as torch 1.13's single-tensor code paths compute
 * them. Optimizer state lives in `state` nodes named as checkpoints name it:
 *
 *   optimizer.<param>.momentum_buffer          SGD with momentum != 0 (or one_cycle's cycled
 *                                              momentum), RMSprop with momentum > 0
 *   optimizer.<param>.exp_avg, .exp_avg_sq     Adam, AdamW, NAdam, RAdam; Adamax: exp_avg
 *   optimizer.<param>.max_exp_avg_sq           Adam and AdamW with amsgrad
 *   optimizer.<param>.exp_inf                  Adamax
 *   optimizer.<param>.square_avg               RMSprop, Adadelta
 *   optimizer.<param>.grad_avg                 RMSprop with centered
 *   optimizer.<param>.sum                      Adagrad
 *   optimizer.<param>.acc_delta                Adadelta
 *   optimizer.<param>.mu_product               NAdam (f32[], one per param as torch keeps it)
 *   optimizer.step                             f32[], updates done so far (all optimizers)
 *   accumulate.<param>, accumulate.count       gradient_accumulation_steps > 1: the gradient
 *                                              summed so far and the micro-batches in it (not
 *                                              checkpointed: saves happen between updates)
 *
 * The slot names are torch's state_dict keys. Every state starts at zero; where torch starts one
 * elsewhere (Adagrad's sum at initial_accumulator_value, NAdam's mu_product at 1), the update
 * reads that value instead while optimizer.step is 0. The step's results are `update` outputs for every param and state,
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
    GC_OPTIMIZER_RMSPROP,
    GC_OPTIMIZER_ADAGRAD,
    GC_OPTIMIZER_ADAMAX,
    GC_OPTIMIZER_NADAM,
    GC_OPTIMIZER_RADAM,
    GC_OPTIMIZER_ADADELTA,
} gc_optimizer_kind;
#define GC_OPTIMIZER_LAST GC_OPTIMIZER_ADADELTA

typedef enum gc_schedule_kind {
    GC_SCHEDULE_CONSTANT, /* f = 1 */
    GC_SCHEDULE_STEP,     /* f = gamma ^ floor(s / every) */
    GC_SCHEDULE_LINEAR,   /* warmup, then max(0, (total - s) / (total - warmup)) */
    GC_SCHEDULE_COSINE,   /* warmup, then cosine from lr down to min_lr at s = total */
    GC_SCHEDULE_EXPONENTIAL,     /* ExponentialLR: f = gamma ^ s */
    GC_SCHEDULE_MULTI_STEP,      /* MultiStepLR: f = gamma ^ (milestones <= s) */
    GC_SCHEDULE_POLYNOMIAL,      /* PolynomialLR: f = (1 - min(s, total) / total) ^ power */
    GC_SCHEDULE_COSINE_RESTARTS, /* CosineAnnealingWarmRestarts(T_0, T_mult, eta_min) */
    GC_SCHEDULE_ONE_CYCLE,       /* OneCycleLR: the rate (and momentum) from max_lr */
} gc_schedule_kind;
#define GC_SCHEDULE_LAST GC_SCHEDULE_ONE_CYCLE
enum { GC_SCHEDULE_MAX_MILESTONES = 64 };

/* The learning rate of update s (0-based), as docs/language.md's train block defines it. */
typedef struct gc_schedule {
    gc_schedule_kind kind;
    int64_t every;  /* step: updates per decay, >= 1 */
    double gamma;   /* step: the decay factor, > 0 */
    int64_t warmup; /* linear, cosine: updates of linear warmup, (s + offset) / warmup, >= 0 */
    int64_t total;  /* linear, cosine, polynomial, one_cycle: the update at which the decay ends */
    double min_lr;  /* cosine, cosine_restarts: the rate at the end (absolute, not a factor) */
    int64_t warmup_offset; /* linear, cosine: 1 (torch-style default) or 0 (transformers' rate 0
                              at s = 0); gc_optimizer_defaults sets 1 */
    /* exponential and multi_step use gamma; multi_step: */
    int64_t milestones[GC_SCHEDULE_MAX_MILESTONES]; /* increasing update counts */
    int num_milestones;
    double power;                 /* polynomial */
    int64_t t_0, t_mult;          /* cosine_restarts: first period (>= 1), period factor (>= 1) */
    /* one_cycle (OneCycleLR): the rate starts at max_lr / div_factor, reaches max_lr after
     * pct_start of total, and ends at max_lr / div_factor / final_div_factor. */
    double max_lr, pct_start, div_factor, final_div_factor;
    bool anneal_linear, three_phase, cycle_momentum;
    double base_momentum, max_momentum;
} gc_schedule;

typedef struct gc_optimizer_config {
    gc_optimizer_kind kind;
    double lr;
    double momentum, dampening; /* SGD; RMSprop: momentum */
    bool nesterov;              /* SGD; needs momentum > 0 and dampening 0, as torch */
    double beta1, beta2, eps;   /* Adam family (Adam, AdamW, Adamax, NAdam, RAdam); eps: all but SGD */
    double weight_decay;        /* added to the gradient; AdamW: decoupled */
    bool amsgrad;               /* Adam, AdamW */
    double alpha;               /* RMSprop's smoothing constant */
    bool centered;              /* RMSprop */
    double lr_decay, initial_accumulator_value; /* Adagrad */
    double momentum_decay;      /* NAdam */
    double rho;                 /* Adadelta */
    gc_schedule schedule;
    double clip_grad_norm;      /* max_norm of clip_grad_norm_; 0 turns clipping off */
    const char *const *no_decay; /* glob patterns: matching params get weight_decay 0 */
    int num_no_decay;
    /* freeze: glob patterns; matching params get no gradient, no update and no state, as
     * requires_grad_(False). Each pattern must match a param. */
    const char *const *freeze;
    int num_freeze;
    /* lr_scale: matching params train at lr * factor (the first matching pattern decides), a
     * torch param group with its own lr; each pattern must match a param. */
    const char *const *lr_scale_patterns;
    const double *lr_scale_factors;
    int num_lr_scale;
    int64_t accumulate; /* gradient_accumulation_steps: one update every N runs (0 or 1: every run) */
    /* Data parallel with accumulation: each grad output becomes its accumulated sum (what the
     * update reads), so the processes average that sum once, on the update's run, and keep their
     * micro-batches' gradients to themselves before it (DDP's no_sync; runtime/distributed.h). */
    bool accumulated_grads;
    gc_loc loc;                 /* the train block's line, stamped on every node built */
} gc_optimizer_config;

/* Fills cfg with torch's defaults for kind (SGD: lr 0.01 since torch has none; Adam: lr 1e-3,
 * betas (0.9, 0.999), eps 1e-8, weight_decay 0; AdamW: the same with weight_decay 0.01; RMSprop
 * lr 1e-2, alpha 0.99, eps 1e-8; Adagrad lr 1e-2, eps 1e-10; Adamax lr 2e-3; NAdam lr 2e-3,
 * momentum_decay 4e-3; RAdam lr 1e-3; Adadelta lr 1, rho 0.9, eps 1e-6), a constant schedule,
 * no clipping, no no_decay, freeze or lr_scale patterns, no accumulation. */
void gc_optimizer_defaults(gc_optimizer_config *cfg, gc_optimizer_kind kind);

/* "sgd", "adam", "adamw", "rmsprop", ...; and the schedule kinds "constant", "step", "linear",
 * "cosine", "exponential", "multi_step", "polynomial", "cosine_restarts", "one_cycle". */
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

/* one_cycle with cycle_momentum: the momentum (SGD, RMSprop) or beta1 (Adam family) of update
 * `step`, as a graph value; NULL when the schedule does not cycle momentum. */
gc_node *gc_schedule_momentum_build(gc_builder *b, const gc_schedule *schedule, gc_node *step);

/* The same rate computed on the host in double precision (for logging, tests and docs). */
double gc_schedule_lr(const gc_schedule *schedule, double lr, int64_t step);
/* The cycled momentum of update `step` on the host (one_cycle with cycle_momentum), else NAN. */
double gc_schedule_momentum(const gc_schedule *schedule, int64_t step);

/* Checks a schedule's fields; fills err at loc. */
int gc_schedule_validate(const gc_schedule *schedule, gc_loc loc, gc_error *err);

/* Shell-style glob over a parameter name: `*` matches any run of characters (dots included), `?`
 * any one character, everything else itself. */
bool gc_glob_match(const char *pattern, const char *name);

#endif
