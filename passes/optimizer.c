/*
 * optimizer.c: torch.optim's SGD, Adam, AdamW, RMSprop, Adagrad, Adamax, NAdam, RAdam and Adadelta,
 * clip_grad_norm_, freeze, lr_scale groups and gradient accumulation, appended to a graph after
 * autodiff; see optimizer.h for the state names and outputs.
 *
 * Each update mirrors torch 1.13's _single_tensor_* functions operation by operation, with
 * torch's Python-side scalars (1 - beta1, lr * weight_decay, ...) computed in double at build time
 * as Python computes them. Two things torch does with control flow become data flow here:
 * SGD's "first step copies the gradient into the momentum buffer" is a select on step == 0, and
 * Adam's bias corrections, computed in double by Python, are computed from the step counter.
 */
#include "passes/optimizer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {"sgd",   "adam",  "adamw", "rmsprop", "adagrad",
                                          "adamax", "nadam", "radam", "adadelta"};

const char *gc_optimizer_kind_name(gc_optimizer_kind kind) {
    return kind >= GC_OPTIMIZER_SGD && kind <= GC_OPTIMIZER_LAST ? kind_names[kind] : "?";
}

bool gc_optimizer_kind_from_name(const char *name, gc_optimizer_kind *out) {
    for (int k = GC_OPTIMIZER_SGD; k <= GC_OPTIMIZER_LAST; k++) {
        if (strcmp(name, gc_optimizer_kind_name((gc_optimizer_kind)k)) == 0) {
            *out = (gc_optimizer_kind)k;
            return true;
        }
    }
    return false;
}

/* Adam, AdamW, Adamax, NAdam, RAdam: the optimizers with betas (one_cycle cycles their beta1). */
static bool has_betas(gc_optimizer_kind kind) {
    return kind == GC_OPTIMIZER_ADAM || kind == GC_OPTIMIZER_ADAMW || kind == GC_OPTIMIZER_ADAMAX ||
           kind == GC_OPTIMIZER_NADAM || kind == GC_OPTIMIZER_RADAM;
}

void gc_optimizer_defaults(gc_optimizer_config *cfg, gc_optimizer_kind kind) {
    memset(cfg, 0, sizeof *cfg);
    cfg->kind = kind;
    switch (kind) {
    case GC_OPTIMIZER_SGD:
    case GC_OPTIMIZER_RMSPROP:
    case GC_OPTIMIZER_ADAGRAD: cfg->lr = 0.01; break;
    case GC_OPTIMIZER_ADAMAX:
    case GC_OPTIMIZER_NADAM: cfg->lr = 2e-3; break;
    case GC_OPTIMIZER_ADADELTA: cfg->lr = 1.0; break;
    default: cfg->lr = 1e-3; break;
    }
    cfg->beta1 = 0.9;
    cfg->beta2 = 0.999;
    cfg->eps = kind == GC_OPTIMIZER_ADAGRAD ? 1e-10 : kind == GC_OPTIMIZER_ADADELTA ? 1e-6 : 1e-8;
    cfg->weight_decay = kind == GC_OPTIMIZER_ADAMW ? 0.01 : 0.0;
    cfg->alpha = 0.99;
    cfg->momentum_decay = 4e-3;
    cfg->rho = 0.9;
    cfg->accumulate = 1;
    cfg->schedule.kind = GC_SCHEDULE_CONSTANT;
    cfg->schedule.every = 1;
    cfg->schedule.gamma = 0.1;
    cfg->schedule.warmup_offset = 1;
}

static int bad(const gc_optimizer_config *cfg, gc_error *err, const char *key, double value) {
    return gc_fail(err, GC_ERR_USER, cfg->loc, "%s: invalid %s value: %g", gc_optimizer_kind_name(cfg->kind),
                   key, value);
}

static bool nonneg(double v) { return v >= 0.0 && isfinite(v); }

static int check_patterns(const gc_optimizer_config *cfg, gc_error *err, const char *what,
                          const char *const *patterns, int n) {
    if (n < 0 || (n > 0 && !patterns))
        return gc_failf(err, GC_ERR_INTERNAL, "internal error: %s has %d patterns and no list", what, n);
    for (int i = 0; i < n; i++)
        if (!patterns[i] || !*patterns[i])
            return gc_fail(err, GC_ERR_USER, cfg->loc, "%s: pattern %d is empty", what, i);
    return 1;
}

int gc_optimizer_validate(const gc_optimizer_config *cfg, gc_error *err) {
    if (cfg->kind < GC_OPTIMIZER_SGD || cfg->kind > GC_OPTIMIZER_LAST)
        return gc_fail(err, GC_ERR_USER, cfg->loc, "unknown optimizer kind %d", (int)cfg->kind);
    /* The checks torch.optim's constructors make, in the same words where it has them. */
    if (!nonneg(cfg->lr)) return bad(cfg, err, "learning rate", cfg->lr);
    if (!nonneg(cfg->weight_decay)) return bad(cfg, err, "weight_decay", cfg->weight_decay);
    if (cfg->kind != GC_OPTIMIZER_SGD && !nonneg(cfg->eps)) return bad(cfg, err, "epsilon", cfg->eps);
    switch (cfg->kind) {
    case GC_OPTIMIZER_SGD:
        if (!nonneg(cfg->momentum)) return bad(cfg, err, "momentum", cfg->momentum);
        if (!isfinite(cfg->dampening)) return bad(cfg, err, "dampening", cfg->dampening);
        if (cfg->nesterov && (cfg->momentum <= 0.0 || cfg->dampening != 0.0))
            return gc_fail(err, GC_ERR_USER, cfg->loc,
                           "sgd: Nesterov momentum requires a momentum and zero dampening");
        break;
    case GC_OPTIMIZER_RMSPROP:
        if (!nonneg(cfg->momentum)) return bad(cfg, err, "momentum value", cfg->momentum);
        if (!nonneg(cfg->alpha)) return bad(cfg, err, "alpha value", cfg->alpha);
        break;
    case GC_OPTIMIZER_ADAGRAD:
        if (!nonneg(cfg->lr_decay)) return bad(cfg, err, "lr_decay value", cfg->lr_decay);
        if (!nonneg(cfg->initial_accumulator_value))
            return bad(cfg, err, "initial_accumulator_value value", cfg->initial_accumulator_value);
        break;
    case GC_OPTIMIZER_ADADELTA:
        if (!(cfg->rho >= 0.0 && cfg->rho <= 1.0)) return bad(cfg, err, "rho value", cfg->rho);
        break;
    default:
        if (!(cfg->beta1 >= 0.0 && cfg->beta1 < 1.0))
            return bad(cfg, err, "beta parameter at index 0", cfg->beta1);
        if (!(cfg->beta2 >= 0.0 && cfg->beta2 < 1.0))
            return bad(cfg, err, "beta parameter at index 1", cfg->beta2);
        if (cfg->kind == GC_OPTIMIZER_NADAM && !nonneg(cfg->momentum_decay))
            return bad(cfg, err, "momentum_decay value", cfg->momentum_decay);
        break;
    }
    if (cfg->amsgrad && cfg->kind != GC_OPTIMIZER_ADAM && cfg->kind != GC_OPTIMIZER_ADAMW)
        return gc_fail(err, GC_ERR_USER, cfg->loc, "%s: amsgrad is an option of adam and adamw",
                       gc_optimizer_kind_name(cfg->kind));
    if (cfg->centered && cfg->kind != GC_OPTIMIZER_RMSPROP)
        return gc_fail(err, GC_ERR_USER, cfg->loc, "%s: centered is an option of rmsprop",
                       gc_optimizer_kind_name(cfg->kind));
    if (!(cfg->clip_grad_norm >= 0.0) || !isfinite(cfg->clip_grad_norm))
        return gc_fail(err, GC_ERR_USER, cfg->loc,
                       "clip_grad_norm must be a number >= 0 (0 turns it off), got %g", cfg->clip_grad_norm);
    if (!check_patterns(cfg, err, "no_decay", cfg->no_decay, cfg->num_no_decay) ||
        !check_patterns(cfg, err, "freeze", cfg->freeze, cfg->num_freeze) ||
        !check_patterns(cfg, err, "lr_scale", cfg->lr_scale_patterns, cfg->num_lr_scale))
        return 0;
    for (int i = 0; i < cfg->num_lr_scale; i++)
        if (!cfg->lr_scale_factors || !nonneg(cfg->lr_scale_factors[i]))
            return gc_fail(err, GC_ERR_USER, cfg->loc, "lr_scale: the factor of '%s' must be a number >= 0",
                           cfg->lr_scale_patterns[i]);
    if (cfg->accumulate < 0 || cfg->accumulate > (1 << 20))
        return gc_fail(err, GC_ERR_USER, cfg->loc, "gradient_accumulation_steps must be at least 1, got %lld",
                       (long long)cfg->accumulate);
    const gc_schedule *s = &cfg->schedule;
    if (s->kind == GC_SCHEDULE_ONE_CYCLE && s->cycle_momentum) {
        /* torch: "optimizer must support momentum with `cycle_momentum` option enabled". */
        bool momentum = cfg->kind == GC_OPTIMIZER_SGD || cfg->kind == GC_OPTIMIZER_RMSPROP;
        if (!momentum && !has_betas(cfg->kind))
            return gc_fail(err, GC_ERR_USER, cfg->loc,
                           "one_cycle: optimizer %s has no momentum to cycle; use cycle_momentum=false",
                           gc_optimizer_kind_name(cfg->kind));
        if (has_betas(cfg->kind) && !(s->base_momentum < 1.0 && s->max_momentum < 1.0))
            return gc_fail(err, GC_ERR_USER, cfg->loc,
                           "one_cycle: base_momentum and max_momentum become %s's beta1 and must be below 1",
                           gc_optimizer_kind_name(cfg->kind));
    }
    return gc_schedule_validate(s, cfg->loc, err);
}

bool gc_glob_match(const char *pattern, const char *name) {
    /* Iterative matching with one backtrack point: on a mismatch after a `*`, let that `*` eat one
     * more character. Linear in practice, no recursion. */
    const char *star = NULL, *resume = NULL;
    while (*name) {
        if (*pattern == '*') {
            star = pattern++;
            resume = name;
        } else if (*pattern == '?' || *pattern == *name) {
            pattern++;
            name++;
        } else if (star) {
            pattern = star + 1;
            name = ++resume;
        } else {
            return false;
        }
    }
    while (*pattern == '*') pattern++;
    return *pattern == '\0';
}

static bool matches_any(const char *const *patterns, int n, const char *param) {
    for (int i = 0; i < n; i++)
        if (gc_glob_match(patterns[i], param)) return true;
    return false;
}

/* One param's view of the step being built. */
typedef struct opt_ctx {
    gc_graph *g;
    gc_builder *b;
    const gc_optimizer_config *cfg;
    gc_node *step;    /* f32[]: updates done before this one */
    gc_node *t;       /* f32[]: step + 1, torch's state['step'] during the update */
    gc_node *first;   /* step == 0: torch creates its state on this update */
    gc_node *cycled;  /* one_cycle's momentum (SGD, RMSprop) or beta1 (Adam family), or NULL */
    gc_node *is_last; /* gradient accumulation: this run updates; NULL: every run does */
    gc_node *lr;      /* f32[]: this update's rate for the param's group */
} opt_ctx;

/* A state node named optimizer.<param>.<slot> of the param's type, or of `type` when given. */
static gc_node *make_state(opt_ctx *c, const gc_node *param, const char *slot, const gc_type *type) {
    char name[512];
    int n = snprintf(name, sizeof name, "optimizer.%s.%s", param->name, slot);
    if (n < 0 || (size_t)n >= sizeof name) {
        gc_fail(c->b->err, GC_ERR_USER, c->cfg->loc, "parameter name '%s' is too long", param->name);
        return NULL;
    }
    return gc_graph_make(c->g, GC_OP_STATE, NULL, 0, NULL, type ? type : &param->type, name, c->cfg->loc, c->b->err);
}

/* target's next value. With gradient accumulation only the run that ends the N micro-batches
 * changes it: the others write the value back. */
static int add_update(opt_ctx *c, gc_node *target, gc_node *value) {
    if (!value || !target) return 0;
    if (c->is_last) value = gc_select(c->b, c->is_last, value, target);
    return value && gc_graph_add_output(c->g, GC_OUTPUT_UPDATE, target->name, value, c->b->err);
}

static gc_node *mul(gc_builder *b, gc_node *x, gc_node *y) { return gc_binary(b, GC_OP_MUL, x, y); }
static gc_node *add(gc_builder *b, gc_node *x, gc_node *y) { return gc_binary(b, GC_OP_ADD, x, y); }
static gc_node *sub(gc_builder *b, gc_node *x, gc_node *y) { return gc_binary(b, GC_OP_SUB, x, y); }
static gc_node *dv(gc_builder *b, gc_node *x, gc_node *y) { return gc_binary(b, GC_OP_DIV, x, y); }
static gc_node *one_minus(gc_builder *b, gc_node *x) { return sub(b, gc_scalar(b, GC_F32, 1.0), x); }

/* x * k for the build-time k, or x * kn when the coefficient is a graph value (cycled). */
static gc_node *scale(gc_builder *b, gc_node *x, double k, gc_node *kn) {
    return kn ? mul(b, x, kn) : gc_mul_scalar(b, x, k);
}

/* avg * beta + x * (1 - beta): torch's avg.mul_(beta).add_(x, alpha=1 - beta). */
static gc_node *ema(gc_builder *b, gc_node *avg, gc_node *x, double beta, gc_node *beta_node) {
    return add(b, scale(b, avg, beta, beta_node), beta_node ? mul(b, x, one_minus(b, beta_node))
                                                            : gc_mul_scalar(b, x, 1.0 - beta));
}

/* avg * beta + (1 - beta) * x * x: torch's avg.mul_(beta).addcmul_(x, x, value=1 - beta). */
static gc_node *ema_sq(gc_builder *b, gc_node *avg, gc_node *x, double beta) {
    return add(b, gc_mul_scalar(b, avg, beta), mul(b, gc_mul_scalar(b, x, 1.0 - beta), x));
}

/* grad + weight_decay * param (torch's grad.add(param, alpha=weight_decay)) when wd != 0. */
static gc_node *l2(gc_builder *b, gc_node *grad, gc_node *p, double wd) {
    return wd != 0.0 ? add(b, grad, gc_mul_scalar(b, p, wd)) : grad;
}

static int sgd_update(opt_ctx *c, gc_node *p, gc_node *grad, double wd) {
    gc_builder *b = c->b;
    const gc_optimizer_config *cfg = c->cfg;
    gc_node *d = l2(b, grad, p, wd);
    gc_node *m = c->cycled; /* one_cycle sets group['momentum'] every update, even from 0 */
    if (m || cfg->momentum != 0.0) {
        gc_node *buf = make_state(c, p, "momentum_buffer", NULL);
        if (!buf) return 0;
        /* torch clones d_p into the buffer on the first step instead of blending with zeros. */
        gc_node *blended = add(b, scale(b, buf, cfg->momentum, m), gc_mul_scalar(b, d, 1.0 - cfg->dampening));
        gc_node *next = gc_select(b, c->first, d, blended);
        gc_node *dir = cfg->nesterov ? add(b, d, scale(b, next, cfg->momentum, m)) : next;
        if (m) {
            /* A cycled momentum of exactly 0 skips the buffer that update, as `if momentum != 0`. */
            gc_node *on = gc_binary(b, GC_OP_NE, m, gc_scalar(b, GC_F32, 0.0));
            next = gc_select(b, on, next, buf);
            dir = gc_select(b, on, dir, d);
        }
        if (!add_update(c, buf, next)) return 0;
        d = dir;
    }
    return add_update(c, p, sub(b, p, mul(b, d, c->lr)));
}

/* 1 - beta^t for the f32[] count t >= 1. Python computes it in double; in f32, 1 - exp(t ln beta)
 * cancels (for beta = 0.999 and t = 1 about four significant digits survive), so it is written
 * 1 - e^y = -tanh(y / 2) (1 + e^y), whose factors are each accurate to a few ulps. beta = 0 gives
 * y = -inf and the exact 1. beta_node, when given, is beta as a graph value (cycled beta1). */
static gc_node *bias_correction(gc_builder *b, gc_node *t, double beta, gc_node *beta_node) {
    gc_node *y = beta_node ? mul(b, t, gc_unary(b, GC_OP_LOG, beta_node)) : gc_mul_scalar(b, t, log(beta));
    gc_node *th = gc_unary(b, GC_OP_TANH, gc_mul_scalar(b, y, 0.5));
    gc_node *onep = gc_add_scalar(b, gc_unary(b, GC_OP_EXP, y), 1.0);
    return gc_unary(b, GC_OP_NEG, mul(b, th, onep));
}

static int adam_update(opt_ctx *c, gc_node *p, gc_node *grad, double wd) {
    gc_builder *b = c->b;
    const gc_optimizer_config *cfg = c->cfg;
    gc_node *m = make_state(c, p, "exp_avg", NULL);
    gc_node *v = make_state(c, p, "exp_avg_sq", NULL);
    gc_node *vmax = cfg->amsgrad ? make_state(c, p, "max_exp_avg_sq", NULL) : NULL;
    if (!m || !v || (cfg->amsgrad && !vmax)) return 0;
    gc_node *param = p;
    if (cfg->kind == GC_OPTIMIZER_ADAMW) {
        /* Decoupled decay first: param *= 1 - lr * weight_decay. */
        if (wd != 0.0) param = mul(b, p, one_minus(b, gc_mul_scalar(b, c->lr, wd)));
    } else {
        grad = l2(b, grad, p, wd);
    }
    gc_node *m_next = ema(b, m, grad, cfg->beta1, c->cycled);
    gc_node *v_next = ema_sq(b, v, grad, cfg->beta2);
    gc_node *step_size = dv(b, c->lr, bias_correction(b, c->t, cfg->beta1, c->cycled));
    gc_node *bc2_sqrt = gc_unary(b, GC_OP_SQRT, bias_correction(b, c->t, cfg->beta2, NULL));
    gc_node *second = v_next;
    if (vmax) {
        /* AMSGrad normalises by the largest second moment so far. */
        second = gc_binary(b, GC_OP_MAXIMUM, vmax, v_next);
        if (!add_update(c, vmax, second)) return 0;
    }
    gc_node *denom = gc_add_scalar(b, dv(b, gc_unary(b, GC_OP_SQRT, second), bc2_sqrt), cfg->eps);
    gc_node *next = sub(b, param, dv(b, mul(b, m_next, step_size), denom));
    return add_update(c, m, m_next) && add_update(c, v, v_next) && add_update(c, p, next);
}

static int rmsprop_update(opt_ctx *c, gc_node *p, gc_node *grad, double wd) {
    gc_builder *b = c->b;
    const gc_optimizer_config *cfg = c->cfg;
    gc_node *sq = make_state(c, p, "square_avg", NULL);
    if (!sq) return 0;
    grad = l2(b, grad, p, wd);
    gc_node *sq_next = ema_sq(b, sq, grad, cfg->alpha);
    if (!add_update(c, sq, sq_next)) return 0;
    gc_node *avg;
    if (cfg->centered) {
        gc_node *ga = make_state(c, p, "grad_avg", NULL);
        gc_node *ga_next = ema(b, ga, grad, cfg->alpha, NULL);
        if (!add_update(c, ga, ga_next)) return 0;
        avg = gc_unary(b, GC_OP_SQRT, sub(b, sq_next, mul(b, ga_next, ga_next)));
    } else {
        avg = gc_unary(b, GC_OP_SQRT, sq_next);
    }
    avg = gc_add_scalar(b, avg, cfg->eps);
    gc_node *step = dv(b, grad, avg);
    gc_node *m = c->cycled;
    if (m || cfg->momentum > 0.0) {
        gc_node *buf = make_state(c, p, "momentum_buffer", NULL);
        if (!buf) return 0;
        gc_node *next = add(b, scale(b, buf, cfg->momentum, m), step);
        gc_node *dir = next;
        if (m) {
            gc_node *on = gc_binary(b, GC_OP_GT, m, gc_scalar(b, GC_F32, 0.0));
            next = gc_select(b, on, next, buf);
            dir = gc_select(b, on, dir, step);
        }
        if (!add_update(c, buf, next)) return 0;
        step = dir;
    }
    return add_update(c, p, sub(b, p, mul(b, step, c->lr)));
}

static int adagrad_update(opt_ctx *c, gc_node *p, gc_node *grad, double wd) {
    gc_builder *b = c->b;
    const gc_optimizer_config *cfg = c->cfg;
    gc_node *sum = make_state(c, p, "sum", NULL);
    if (!sum) return 0;
    grad = l2(b, grad, p, wd);
    gc_node *prev = sum;
    if (cfg->initial_accumulator_value != 0.0)
        prev = gc_select(b, c->first, gc_scalar(b, GC_F32, cfg->initial_accumulator_value), sum);
    gc_node *sum_next = add(b, prev, mul(b, grad, grad));
    gc_node *std = gc_add_scalar(b, gc_unary(b, GC_OP_SQRT, sum_next), cfg->eps);
    /* clr = lr / (1 + (state_step - 1) * lr_decay); state_step - 1 is the count before. */
    gc_node *clr = c->lr;
    if (cfg->lr_decay != 0.0) clr = dv(b, c->lr, gc_add_scalar(b, gc_mul_scalar(b, c->step, cfg->lr_decay), 1.0));
    return add_update(c, sum, sum_next) && add_update(c, p, sub(b, p, mul(b, dv(b, grad, std), clr)));
}

static int adamax_update(opt_ctx *c, gc_node *p, gc_node *grad, double wd) {
    gc_builder *b = c->b;
    const gc_optimizer_config *cfg = c->cfg;
    gc_node *m = make_state(c, p, "exp_avg", NULL);
    gc_node *u = make_state(c, p, "exp_inf", NULL);
    if (!m || !u) return 0;
    grad = l2(b, grad, p, wd);
    gc_node *m_next = ema(b, m, grad, cfg->beta1, c->cycled);
    gc_node *u_next = gc_binary(b, GC_OP_MAXIMUM, gc_mul_scalar(b, u, cfg->beta2),
                                gc_add_scalar(b, gc_unary(b, GC_OP_ABS, grad), cfg->eps));
    gc_node *clr = dv(b, c->lr, bias_correction(b, c->t, cfg->beta1, c->cycled));
    gc_node *next = sub(b, p, mul(b, dv(b, m_next, u_next), clr));
    return add_update(c, m, m_next) && add_update(c, u, u_next) && add_update(c, p, next);
}

/* NAdam's momentum cache mu at count t: beta1 (1 - 0.5 * 0.96^(t momentum_decay)). */
static gc_node *nadam_mu(opt_ctx *c, gc_node *t) {
    gc_builder *b = c->b;
    gc_node *decay = gc_unary(b, GC_OP_EXP, gc_mul_scalar(b, t, c->cfg->momentum_decay * log(0.96)));
    return scale(b, gc_add_scalar(b, gc_mul_scalar(b, decay, -0.5), 1.0), c->cfg->beta1, c->cycled);
}

static int nadam_update(opt_ctx *c, gc_node *p, gc_node *grad, double wd) {
    gc_builder *b = c->b;
    const gc_optimizer_config *cfg = c->cfg;
    gc_type scalar = gc_type_scalar(GC_F32);
    gc_node *m = make_state(c, p, "exp_avg", NULL);
    gc_node *v = make_state(c, p, "exp_avg_sq", NULL);
    gc_node *mp = make_state(c, p, "mu_product", &scalar);
    if (!m || !v || !mp) return 0;
    gc_node *bc2 = bias_correction(b, c->t, cfg->beta2, NULL);
    grad = l2(b, grad, p, wd);
    gc_node *mu = nadam_mu(c, c->t), *mu_next = nadam_mu(c, gc_add_scalar(b, c->t, 1.0));
    /* torch starts mu_product at 1. */
    gc_node *mp_next = mul(b, gc_select(b, c->first, gc_scalar(b, GC_F32, 1.0), mp), mu);
    gc_node *mp_after = mul(b, mul(b, mp_next, mu), mu_next);
    gc_node *m_next = ema(b, m, grad, cfg->beta1, c->cycled);
    gc_node *v_next = ema_sq(b, v, grad, cfg->beta2);
    gc_node *denom = gc_add_scalar(b, gc_unary(b, GC_OP_SQRT, dv(b, v_next, bc2)), cfg->eps);
    gc_node *k1 = dv(b, mul(b, c->lr, one_minus(b, mu)), one_minus(b, mp_next));
    gc_node *k2 = dv(b, mul(b, c->lr, mu_next), one_minus(b, mp_after));
    gc_node *next = sub(b, p, mul(b, dv(b, grad, denom), k1));
    next = sub(b, next, mul(b, dv(b, m_next, denom), k2));
    return add_update(c, m, m_next) && add_update(c, v, v_next) && add_update(c, mp, mp_next) &&
           add_update(c, p, next);
}

static int radam_update(opt_ctx *c, gc_node *p, gc_node *grad, double wd) {
    gc_builder *b = c->b;
    const gc_optimizer_config *cfg = c->cfg;
    gc_node *m = make_state(c, p, "exp_avg", NULL);
    gc_node *v = make_state(c, p, "exp_avg_sq", NULL);
    if (!m || !v) return 0;
    gc_node *bc1 = bias_correction(b, c->t, cfg->beta1, c->cycled);
    gc_node *bc2 = bias_correction(b, c->t, cfg->beta2, NULL);
    grad = l2(b, grad, p, wd);
    gc_node *m_next = ema(b, m, grad, cfg->beta1, c->cycled);
    gc_node *v_next = ema_sq(b, v, grad, cfg->beta2);
    gc_node *corrected = mul(b, dv(b, m_next, bc1), c->lr);
    /* The length of the approximated SMA, rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t): the
     * rectified step once it exceeds 5, plain momentum SGD before. */
    double rho_inf = 2.0 / (1.0 - cfg->beta2) - 1.0;
    gc_node *b2t = gc_unary(b, GC_OP_EXP, gc_mul_scalar(b, c->t, log(cfg->beta2)));
    gc_node *rho = gc_add_scalar(b, gc_unary(b, GC_OP_NEG, dv(b, gc_mul_scalar(b, mul(b, c->t, b2t), 2.0), bc2)),
                                 rho_inf);
    gc_node *rect = gc_unary(
        b, GC_OP_SQRT,
        dv(b, gc_mul_scalar(b, mul(b, gc_add_scalar(b, rho, -4.0), gc_add_scalar(b, rho, -2.0)), rho_inf),
           gc_mul_scalar(b, rho, (rho_inf - 4.0) * (rho_inf - 2.0))));
    gc_node *adaptive = dv(b, gc_unary(b, GC_OP_SQRT, bc2), gc_add_scalar(b, gc_unary(b, GC_OP_SQRT, v_next), cfg->eps));
    gc_node *rectified = mul(b, mul(b, corrected, adaptive), rect);
    gc_node *use = gc_binary(b, GC_OP_GT, rho, gc_scalar(b, GC_F32, 5.0));
    gc_node *next = sub(b, p, gc_select(b, use, rectified, corrected));
    return add_update(c, m, m_next) && add_update(c, v, v_next) && add_update(c, p, next);
}

static int adadelta_update(opt_ctx *c, gc_node *p, gc_node *grad, double wd) {
    gc_builder *b = c->b;
    const gc_optimizer_config *cfg = c->cfg;
    gc_node *sq = make_state(c, p, "square_avg", NULL);
    gc_node *acc = make_state(c, p, "acc_delta", NULL);
    if (!sq || !acc) return 0;
    grad = l2(b, grad, p, wd);
    gc_node *sq_next = ema_sq(b, sq, grad, cfg->rho);
    gc_node *std = gc_unary(b, GC_OP_SQRT, gc_add_scalar(b, sq_next, cfg->eps));
    gc_node *delta = mul(b, dv(b, gc_unary(b, GC_OP_SQRT, gc_add_scalar(b, acc, cfg->eps)), std), grad);
    gc_node *acc_next = ema_sq(b, acc, delta, cfg->rho);
    return add_update(c, sq, sq_next) && add_update(c, acc, acc_next) &&
           add_update(c, p, sub(b, p, mul(b, delta, c->lr)));
}

/* sqrt(sum of g^2 over every gradient), clip_grad_norm_'s total_norm for norm_type 2. */
static gc_node *global_norm(gc_builder *b, gc_node *const *grads, int n) {
    gc_node *total = NULL;
    for (int i = 0; i < n; i++) {
        gc_node *sq = gc_unary(b, GC_OP_SQUARE, grads[i]);
        /* A matrix sums its rows first (the square computed where the sum loads it): that kernel
         * splits over threads by rows and streams memory in order (a sum to one number cannot
         * split; columns split by threads read every row in halves, 17 GB/s on M3's 154 MB
         * embedding gradient against 48-60 by rows), and the short sum of row totals after it
         * costs nothing. */
        if (sq && sq->type.rank > 1) sq = gc_reduce(b, GC_OP_SUM, sq, 1u << (sq->type.rank - 1), false);
        if (sq && sq->type.rank > 0) sq = gc_reduce(b, GC_OP_SUM, sq, (1u << sq->type.rank) - 1u, false);
        total = total ? add(b, total, sq) : sq;
    }
    return gc_unary(b, GC_OP_SQRT, total);
}

/* clip_coef = min(max_norm / (total_norm + 1e-6), 1), as torch multiplies every gradient by. */
static gc_node *clip_coefficient(gc_builder *b, gc_node *norm, double max_norm) {
    gc_node *coef = gc_binary(b, GC_OP_DIV, gc_scalar(b, GC_F32, max_norm), gc_add_scalar(b, norm, 1e-6));
    gc_attr a = {0};
    a.clamp.lo = -INFINITY;
    a.clamp.hi = 1.0;
    return gc_build(b, GC_OP_CLAMP, &coef, 1, &a, NULL);
}

typedef struct param_grad {
    gc_node *param, *grad;
} param_grad;

/* Each freeze and lr_scale pattern must name a param of the graph: a pattern matching nothing is
 * a typo that would silently train (or freeze) the wrong thing. */
static int patterns_match(gc_graph *g, const gc_optimizer_config *cfg, const char *what,
                          const char *const *patterns, int n, gc_error *err) {
    for (int i = 0; i < n; i++) {
        bool hit = false;
        for (int k = 0; k < g->num_nodes && !hit; k++)
            hit = g->nodes[k]->op == GC_OP_PARAM && gc_glob_match(patterns[i], g->nodes[k]->name);
        if (!hit)
            return gc_fail(err, GC_ERR_USER, cfg->loc, "%s: pattern '%s' matches no parameter", what, patterns[i]);
    }
    return 1;
}

/* Drops the grad outputs of frozen params (dead code elimination then removes what only they
 * needed), as requires_grad_(False) keeps autograd from computing them. */
static int drop_frozen(gc_graph *g, const gc_optimizer_config *cfg, gc_error *err) {
    if (!cfg->num_freeze) return 1;
    if (!patterns_match(g, cfg, "freeze", cfg->freeze, cfg->num_freeze, err)) return 0;
    int kept = 0, grads = 0;
    for (int i = 0; i < g->num_outputs; i++) {
        gc_graph_output o = g->outputs[i];
        if (o.kind == GC_OUTPUT_GRAD) {
            if (matches_any(cfg->freeze, cfg->num_freeze, o.name)) continue;
            grads++;
        }
        g->outputs[kept++] = o;
    }
    g->num_outputs = kept;
    if (!grads)
        return gc_fail(err, GC_ERR_USER, cfg->loc, "freeze: every trained parameter is frozen; nothing would train");
    return 1;
}

/* The params that have grad outputs, in output order. Copied out because adding outputs later
 * moves g->outputs. */
static int collect_grads(gc_graph *g, const gc_optimizer_config *cfg, param_grad **out, int *count,
                         gc_error *err) {
    int n = 0;
    for (int i = 0; i < g->num_outputs; i++) n += g->outputs[i].kind == GC_OUTPUT_GRAD;
    if (n == 0)
        return gc_fail(err, GC_ERR_USER, cfg->loc,
                       "optimizer: the graph has no grad outputs "
                       "(no parameter reaches the loss, or autodiff has not run)");
    param_grad *pg = calloc((size_t)n, sizeof *pg);
    if (!pg) return gc_failf(err, GC_ERR_MEMORY, "out of memory");
    int k = 0;
    for (int i = 0; i < g->num_outputs; i++) {
        const gc_graph_output *o = &g->outputs[i];
        if (o->kind != GC_OUTPUT_GRAD) continue;
        gc_node *param = gc_graph_find_named(g, GC_OP_PARAM, o->name);
        if (!param || param->type.dtype != GC_F32 || !gc_type_equal(&param->type, &o->value->type)) {
            free(pg);
            return gc_fail(err, GC_ERR_INTERNAL, cfg->loc,
                           "internal error: grad '%s' has no f32 param of its type", o->name);
        }
        pg[k].param = param;
        pg[k].grad = o->value;
        k++;
    }
    *out = pg;
    *count = n;
    return 1;
}

/* The rate of lr_scale group `group` (-1: the base group): the schedule over lr * factor, and for
 * one_cycle over max_lr * factor (torch's OneCycleLR with a max_lr per group). Built once. */
static gc_node *group_lr(opt_ctx *c, gc_node **cache, int group) {
    gc_node **slot = &cache[group + 1];
    if (*slot) return *slot;
    double factor = group < 0 ? 1.0 : c->cfg->lr_scale_factors[group];
    gc_schedule s = c->cfg->schedule;
    s.max_lr *= factor;
    *slot = gc_schedule_build(c->b, &s, c->cfg->lr * factor, c->step);
    return *slot;
}

static int lr_group(const gc_optimizer_config *cfg, const char *param) {
    for (int i = 0; i < cfg->num_lr_scale; i++)
        if (gc_glob_match(cfg->lr_scale_patterns[i], param)) return i;
    return -1;
}

static int update_param(opt_ctx *c, gc_node *p, gc_node *grad, double wd) {
    switch (c->cfg->kind) {
    case GC_OPTIMIZER_SGD: return sgd_update(c, p, grad, wd);
    case GC_OPTIMIZER_ADAM:
    case GC_OPTIMIZER_ADAMW: return adam_update(c, p, grad, wd);
    case GC_OPTIMIZER_RMSPROP: return rmsprop_update(c, p, grad, wd);
    case GC_OPTIMIZER_ADAGRAD: return adagrad_update(c, p, grad, wd);
    case GC_OPTIMIZER_ADAMAX: return adamax_update(c, p, grad, wd);
    case GC_OPTIMIZER_NADAM: return nadam_update(c, p, grad, wd);
    case GC_OPTIMIZER_RADAM: return radam_update(c, p, grad, wd);
    case GC_OPTIMIZER_ADADELTA: return adadelta_update(c, p, grad, wd);
    }
    return gc_fail(c->b->err, GC_ERR_INTERNAL, c->cfg->loc, "internal error: optimizer kind %d", (int)c->cfg->kind);
}

/* Gradient accumulation: each run adds grad / N to accumulate.<param>; the run that completes N
 * micro-batches (accumulate.count == N - 1) updates with the sum and clears it. grads[i] becomes
 * the sum so far, what the update reads. */
static gc_node *accumulate(opt_ctx *c, param_grad *pg, gc_node **grads, int n) {
    gc_builder *b = c->b;
    int64_t steps = c->cfg->accumulate;
    gc_type scalar = gc_type_scalar(GC_F32);
    gc_node *count = gc_graph_make(c->g, GC_OP_STATE, NULL, 0, NULL, &scalar, "accumulate.count", c->cfg->loc, b->err);
    if (!count) return NULL;
    gc_node *is_last = gc_binary(b, GC_OP_EQ, count, gc_scalar(b, GC_F32, (double)(steps - 1)));
    gc_node *zero = gc_scalar(b, GC_F32, 0.0);
    /* Data parallel (accumulated_grads): the sums are averaged across processes before anything
     * reads them, so all of them come before their readers and one wait covers every sum,
     * instead of one per parameter. */
    bool sums_first = c->cfg->accumulated_grads;
    for (int i = 0; i < n; i++) {
        char name[512];
        int len = snprintf(name, sizeof name, "accumulate.%s", pg[i].param->name);
        if (len < 0 || (size_t)len >= sizeof name) {
            gc_fail(b->err, GC_ERR_USER, c->cfg->loc, "parameter name '%s' is too long", pg[i].param->name);
            return NULL;
        }
        gc_node *acc = gc_graph_make(c->g, GC_OP_STATE, NULL, 0, NULL, &pg[i].param->type, name, c->cfg->loc, b->err);
        /* torch's (loss / N).backward() per micro-batch adds grad / N into .grad. */
        gc_node *sum = acc ? add(b, acc, gc_binary(b, GC_OP_DIV, grads[i], gc_scalar(b, GC_F32, (double)steps))) : NULL;
        if (!sum) return NULL;
        grads[i] = sum;
        for (int k = 0; sums_first && k < c->g->num_outputs; k++) {
            gc_graph_output *o = &c->g->outputs[k];
            if (o->kind == GC_OUTPUT_GRAD && !strcmp(o->name, pg[i].param->name)) o->value = sum;
        }
        if (!sums_first && !gc_graph_add_output(c->g, GC_OUTPUT_UPDATE, name, gc_select(b, is_last, zero, sum), b->err))
            return NULL;
    }
    for (int i = 0; sums_first && i < n; i++) {
        char name[512]; /* fits: checked above */
        snprintf(name, sizeof name, "accumulate.%s", pg[i].param->name);
        if (!gc_graph_add_output(c->g, GC_OUTPUT_UPDATE, name, gc_select(b, is_last, zero, grads[i]), b->err))
            return NULL;
    }
    gc_node *next = gc_select(b, is_last, zero, gc_add_scalar(b, count, 1.0));
    if (!next || !gc_graph_add_output(c->g, GC_OUTPUT_UPDATE, "accumulate.count", next, b->err)) return NULL;
    return is_last;
}

int gc_optimizer_build(gc_graph *g, const gc_optimizer_config *cfg, gc_error *err) {
    if (!gc_optimizer_validate(cfg, err)) return 0;
    if (gc_graph_find_named(g, GC_OP_STATE, "optimizer.step"))
        return gc_fail(err, GC_ERR_USER, cfg->loc, "optimizer: the graph already has optimizer state");
    param_grad *pg = NULL;
    int n = 0;
    if (!patterns_match(g, cfg, "lr_scale", cfg->lr_scale_patterns, cfg->num_lr_scale, err) ||
        !drop_frozen(g, cfg, err) || !collect_grads(g, cfg, &pg, &n, err)) {
        if (err && err->code != GC_OK) gc_error_prefix(err, "optimizer: ");
        return 0;
    }

    gc_builder b = {g, cfg->loc, err};
    opt_ctx c = {g, &b, cfg, NULL, NULL, NULL, NULL, NULL, NULL};
    gc_type scalar = gc_type_scalar(GC_F32);
    int ok = 0;
    gc_node **grads = calloc((size_t)n, sizeof *grads);
    gc_node **lr_cache = calloc((size_t)cfg->num_lr_scale + 1, sizeof *lr_cache);
    if (!grads || !lr_cache) {
        gc_failf(err, GC_ERR_MEMORY, "out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) grads[i] = pg[i].grad;

    /* Its nodes carry the layer "optimizer" (step count, gradient norm, clipping, schedule), each
     * param's update its param's layer: drawn collapsed, the step is the model's layers and one
     * optimizer box (ir/dot.h). */
    g->layer = "optimizer";
    c.step = gc_graph_make(g, GC_OP_STATE, NULL, 0, NULL, &scalar, "optimizer.step", cfg->loc, err);
    if (!c.step) goto done;
    if (cfg->accumulate > 1 && !(c.is_last = accumulate(&c, pg, grads, n))) goto done;
    gc_node *norm = global_norm(&b, grads, n);
    if (!norm || !gc_graph_add_output(g, GC_OUTPUT_VALUE, "grad_norm", norm, err)) goto done;
    if (cfg->clip_grad_norm > 0.0) {
        gc_node *coef = clip_coefficient(&b, norm, cfg->clip_grad_norm);
        for (int i = 0; i < n; i++) grads[i] = mul(&b, grads[i], coef);
    }
    gc_node *base_lr = group_lr(&c, lr_cache, -1);
    if (!base_lr || !gc_graph_add_output(g, GC_OUTPUT_VALUE, "lr", base_lr, err)) goto done;
    c.cycled = gc_schedule_momentum_build(&b, &cfg->schedule, c.step);
    /* Made after the reported values, so the updates that read them (the step count's is t)
     * come after everything the step reports: the planner updates in place from there. */
    c.t = gc_add_scalar(&b, c.step, 1.0);
    c.first = gc_binary(&b, GC_OP_EQ, c.step, gc_scalar(&b, GC_F32, 0.0));

    for (int i = 0; i < n; i++) {
        double wd = matches_any(cfg->no_decay, cfg->num_no_decay, pg[i].param->name) ? 0.0 : cfg->weight_decay;
        c.lr = group_lr(&c, lr_cache, lr_group(cfg, pg[i].param->name));
        /* The update's nodes carry its param's layer (a `param` statement's: its name). */
        c.g->layer = pg[i].param->layer ? pg[i].param->layer : pg[i].param->name;
        int updated = c.lr && update_param(&c, pg[i].param, grads[i], wd);
        c.g->layer = "optimizer";
        if (!updated) {
            /* The graph's node bound (runtime/trainer.c) is crossed here for models of many
             * params: name the line that made the param whose update crossed it. */
            if (err && err->line == 0 && pg[i].param->loc.line) {
                err->line = pg[i].param->loc.line;
                err->col = pg[i].param->loc.col;
                if (pg[i].param->loc.file) snprintf(err->file, sizeof err->file, "%s", pg[i].param->loc.file);
            }
            goto done;
        }
    }
    ok = add_update(&c, c.step, c.t);
done:
    g->layer = NULL;
    if (!ok && err && err->code != GC_OK) gc_error_prefix(err, "optimizer: ");
    free(lr_cache);
    free(grads);
    free(pg);
    return ok;
}
