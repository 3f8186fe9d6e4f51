/*
 * optimizer.c: torch.optim's SGD, Adam and AdamW, and clip_grad_norm_, appended to a graph after
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

const char *gc_optimizer_kind_name(gc_optimizer_kind kind) {
    switch (kind) {
    case GC_OPTIMIZER_SGD: return "sgd";
    case GC_OPTIMIZER_ADAM: return "adam";
    case GC_OPTIMIZER_ADAMW: return "adamw";
    }
    return "?";
}

bool gc_optimizer_kind_from_name(const char *name, gc_optimizer_kind *out) {
    for (int k = GC_OPTIMIZER_SGD; k <= GC_OPTIMIZER_ADAMW; k++) {
        if (strcmp(name, gc_optimizer_kind_name((gc_optimizer_kind)k)) == 0) {
            *out = (gc_optimizer_kind)k;
            return true;
        }
    }
    return false;
}

void gc_optimizer_defaults(gc_optimizer_config *cfg, gc_optimizer_kind kind) {
    memset(cfg, 0, sizeof *cfg);
    cfg->kind = kind;
    cfg->lr = kind == GC_OPTIMIZER_SGD ? 0.01 : 1e-3;
    cfg->beta1 = 0.9;
    cfg->beta2 = 0.999;
    cfg->eps = 1e-8;
    cfg->weight_decay = kind == GC_OPTIMIZER_ADAMW ? 0.01 : 0.0;
    cfg->schedule.kind = GC_SCHEDULE_CONSTANT;
    cfg->schedule.every = 1;
    cfg->schedule.gamma = 0.1;
}

static int bad(const gc_optimizer_config *cfg, gc_error *err, const char *key, double value) {
    return gc_fail(err, GC_ERR_USER, cfg->loc, "%s: invalid %s value: %g", gc_optimizer_kind_name(cfg->kind),
                   key, value);
}

int gc_optimizer_validate(const gc_optimizer_config *cfg, gc_error *err) {
    if (cfg->kind < GC_OPTIMIZER_SGD || cfg->kind > GC_OPTIMIZER_ADAMW)
        return gc_fail(err, GC_ERR_USER, cfg->loc, "unknown optimizer kind %d", (int)cfg->kind);
    /* The checks torch.optim's constructors make, in the same words where it has them. */
    if (!(cfg->lr >= 0.0) || !isfinite(cfg->lr)) return bad(cfg, err, "learning rate", cfg->lr);
    if (!(cfg->weight_decay >= 0.0) || !isfinite(cfg->weight_decay))
        return bad(cfg, err, "weight_decay", cfg->weight_decay);
    if (cfg->kind == GC_OPTIMIZER_SGD) {
        if (!(cfg->momentum >= 0.0) || !isfinite(cfg->momentum))
            return bad(cfg, err, "momentum", cfg->momentum);
        if (!isfinite(cfg->dampening)) return bad(cfg, err, "dampening", cfg->dampening);
        if (cfg->nesterov && (cfg->momentum <= 0.0 || cfg->dampening != 0.0))
            return gc_fail(err, GC_ERR_USER, cfg->loc,
                           "sgd: Nesterov momentum requires a momentum and zero dampening");
    } else {
        if (!(cfg->eps >= 0.0) || !isfinite(cfg->eps)) return bad(cfg, err, "epsilon", cfg->eps);
        if (!(cfg->beta1 >= 0.0 && cfg->beta1 < 1.0))
            return bad(cfg, err, "beta parameter at index 0", cfg->beta1);
        if (!(cfg->beta2 >= 0.0 && cfg->beta2 < 1.0))
            return bad(cfg, err, "beta parameter at index 1", cfg->beta2);
    }
    if (!(cfg->clip_grad_norm >= 0.0) || !isfinite(cfg->clip_grad_norm))
        return gc_fail(err, GC_ERR_USER, cfg->loc,
                       "clip_grad_norm must be a number >= 0 (0 turns it off), got %g", cfg->clip_grad_norm);
    if (cfg->num_no_decay < 0 || (cfg->num_no_decay > 0 && !cfg->no_decay))
        return gc_failf(err, GC_ERR_INTERNAL, "internal error: no_decay has %d patterns and no list",
                        cfg->num_no_decay);
    for (int i = 0; i < cfg->num_no_decay; i++)
        if (!cfg->no_decay[i] || !*cfg->no_decay[i])
            return gc_fail(err, GC_ERR_USER, cfg->loc, "no_decay: pattern %d is empty", i);
    return gc_schedule_validate(&cfg->schedule, cfg->loc, err);
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

static bool no_decay(const gc_optimizer_config *cfg, const char *param) {
    for (int i = 0; i < cfg->num_no_decay; i++)
        if (gc_glob_match(cfg->no_decay[i], param)) return true;
    return false;
}

/* One param's view of the step being built. */
typedef struct opt_ctx {
    gc_graph *g;
    gc_builder *b;
    const gc_optimizer_config *cfg;
    gc_node *step; /* f32[]: updates done before this one */
    gc_node *lr;   /* f32[]: this update's rate */
} opt_ctx;

/* A state node of param's type named optimizer.<param>.<slot>. */
static gc_node *make_state(opt_ctx *c, const gc_node *param, const char *slot) {
    char name[512];
    int n = snprintf(name, sizeof name, "optimizer.%s.%s", param->name, slot);
    if (n < 0 || (size_t)n >= sizeof name) {
        gc_fail(c->b->err, GC_ERR_USER, c->cfg->loc, "parameter name '%s' is too long", param->name);
        return NULL;
    }
    return gc_graph_make(c->g, GC_OP_STATE, NULL, 0, NULL, &param->type, name, c->cfg->loc, c->b->err);
}

static int add_update(opt_ctx *c, const char *name, gc_node *value) {
    if (!value) return 0;
    return gc_graph_add_output(c->g, GC_OUTPUT_UPDATE, name, value, c->b->err);
}

static gc_node *mul(gc_builder *b, gc_node *x, gc_node *y) { return gc_binary(b, GC_OP_MUL, x, y); }
static gc_node *add(gc_builder *b, gc_node *x, gc_node *y) { return gc_binary(b, GC_OP_ADD, x, y); }
static gc_node *sub(gc_builder *b, gc_node *x, gc_node *y) { return gc_binary(b, GC_OP_SUB, x, y); }

static int sgd_update(opt_ctx *c, gc_node *p, gc_node *grad, double wd) {
    gc_builder *b = c->b;
    const gc_optimizer_config *cfg = c->cfg;
    gc_node *d = grad;
    if (wd != 0.0) d = add(b, d, gc_mul_scalar(b, p, wd));
    if (cfg->momentum != 0.0) {
        gc_node *buf = make_state(c, p, "momentum_buffer");
        if (!buf) return 0;
        /* torch clones d_p into the buffer on the first step instead of blending with zeros. */
        gc_node *blended =
            add(b, gc_mul_scalar(b, buf, cfg->momentum), gc_mul_scalar(b, d, 1.0 - cfg->dampening));
        gc_node *first = gc_binary(b, GC_OP_EQ, c->step, gc_scalar(b, GC_F32, 0.0));
        gc_node *next = gc_select(b, first, d, blended);
        if (!add_update(c, buf->name, next)) return 0;
        d = cfg->nesterov ? add(b, d, gc_mul_scalar(b, next, cfg->momentum)) : next;
    }
    return add_update(c, p->name, sub(b, p, mul(b, d, c->lr)));
}

/* 1 - beta^t for the f32[] count t >= 1. Python computes it in double; in f32, 1 - exp(t ln beta)
 * cancels (for beta = 0.999 and t = 1 about four significant digits survive), so it is written
 * 1 - e^y = -tanh(y / 2) (1 + e^y), whose factors are each accurate to a few ulps. beta = 0 gives
 * y = -inf and the exact 1. */
static gc_node *bias_correction(gc_builder *b, gc_node *t, double beta) {
    gc_node *y = gc_mul_scalar(b, t, log(beta));
    gc_node *th = gc_unary(b, GC_OP_TANH, gc_mul_scalar(b, y, 0.5));
    gc_node *onep = gc_add_scalar(b, gc_unary(b, GC_OP_EXP, y), 1.0);
    return gc_unary(b, GC_OP_NEG, mul(b, th, onep));
}

static int adam_update(opt_ctx *c, gc_node *p, gc_node *grad, double wd) {
    gc_builder *b = c->b;
    const gc_optimizer_config *cfg = c->cfg;
    gc_node *m = make_state(c, p, "exp_avg");
    gc_node *v = make_state(c, p, "exp_avg_sq");
    if (!m || !v) return 0;
    gc_node *param = p;
    if (cfg->kind == GC_OPTIMIZER_ADAMW) {
        /* Decoupled decay first: param *= 1 - lr * weight_decay. */
        if (wd != 0.0) param = mul(b, p, sub(b, gc_scalar(b, GC_F32, 1.0), gc_mul_scalar(b, c->lr, wd)));
    } else if (wd != 0.0) {
        grad = add(b, grad, gc_mul_scalar(b, p, wd));
    }
    gc_node *m_next = add(b, gc_mul_scalar(b, m, cfg->beta1), gc_mul_scalar(b, grad, 1.0 - cfg->beta1));
    gc_node *v_next =
        add(b, gc_mul_scalar(b, v, cfg->beta2), mul(b, gc_mul_scalar(b, grad, 1.0 - cfg->beta2), grad));
    gc_node *t = gc_add_scalar(b, c->step, 1.0);
    gc_node *step_size = gc_binary(b, GC_OP_DIV, c->lr, bias_correction(b, t, cfg->beta1));
    gc_node *bc2_sqrt = gc_unary(b, GC_OP_SQRT, bias_correction(b, t, cfg->beta2));
    gc_node *denom =
        gc_add_scalar(b, gc_binary(b, GC_OP_DIV, gc_unary(b, GC_OP_SQRT, v_next), bc2_sqrt), cfg->eps);
    gc_node *next = sub(b, param, gc_binary(b, GC_OP_DIV, mul(b, m_next, step_size), denom));
    return add_update(c, m->name, m_next) && add_update(c, v->name, v_next) && add_update(c, p->name, next);
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

int gc_optimizer_build(gc_graph *g, const gc_optimizer_config *cfg, gc_error *err) {
    if (!gc_optimizer_validate(cfg, err)) return 0;
    if (gc_graph_find_named(g, GC_OP_STATE, "optimizer.step"))
        return gc_fail(err, GC_ERR_USER, cfg->loc, "optimizer: the graph already has optimizer state");
    param_grad *pg = NULL;
    int n = 0;
    if (!collect_grads(g, cfg, &pg, &n, err)) return 0;

    gc_builder b = {g, cfg->loc, err};
    opt_ctx c = {g, &b, cfg, NULL, NULL};
    gc_type scalar = gc_type_scalar(GC_F32);
    int ok = 0;
    gc_node **grads = calloc((size_t)n, sizeof *grads);
    if (!grads) {
        gc_failf(err, GC_ERR_MEMORY, "out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) grads[i] = pg[i].grad;

    c.step = gc_graph_make(g, GC_OP_STATE, NULL, 0, NULL, &scalar, "optimizer.step", cfg->loc, err);
    gc_node *norm = global_norm(&b, grads, n);
    if (!norm || !gc_graph_add_output(g, GC_OUTPUT_VALUE, "grad_norm", norm, err)) goto done;
    if (cfg->clip_grad_norm > 0.0) {
        gc_node *coef = clip_coefficient(&b, norm, cfg->clip_grad_norm);
        for (int i = 0; i < n; i++) grads[i] = mul(&b, grads[i], coef);
    }
    c.lr = gc_schedule_build(&b, &cfg->schedule, cfg->lr, c.step);
    if (!c.lr || !gc_graph_add_output(g, GC_OUTPUT_VALUE, "lr", c.lr, err)) goto done;

    for (int i = 0; i < n; i++) {
        double wd = no_decay(cfg, pg[i].param->name) ? 0.0 : cfg->weight_decay;
        int r = cfg->kind == GC_OPTIMIZER_SGD ? sgd_update(&c, pg[i].param, grads[i], wd)
                                              : adam_update(&c, pg[i].param, grads[i], wd);
        if (!r) goto done;
    }
    ok = add_update(&c, "optimizer.step", gc_add_scalar(&b, c.step, 1.0));
done:
    if (!ok && err && err->code != GC_OK) gc_error_prefix(err, "optimizer: ");
    free(grads);
    free(pg);
    return ok;
}
