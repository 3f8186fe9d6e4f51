/*
 * lower_train.c: the train block, as check evaluated it (m->config, check.h), in the terms of
 * passes/optimizer.h.
 *
 *   optimizer = sgd(lr, momentum, dampening, weight_decay, nesterov) | adam(lr, betas, eps,
 *               weight_decay, amsgrad) | adamw(...) | rmsprop(...) | adagrad(...) | adamax(...)
 *               | nadam(...) | radam(...) | adadelta(...)   torch.optim's defaults for omitted arguments
 *   schedule  = constant() | step(every, gamma) | linear(warmup, total) | cosine(warmup, total, min_lr)
 *               | exponential(gamma) | multi_step(milestones, gamma) | polynomial(total, power)
 *               | cosine_restarts(T_0, T_mult, min_lr) | one_cycle(max_lr, total, ...)
 *   clip_grad_norm = NUMBER      seed = INT      no_decay = ["glob", ...]      freeze = ["glob", ...]
 *   lr_scale = [["glob", factor], ...]      gradient_accumulation_steps = INT
 *   precision = "f32" | "bf16"   (passes/precision.c)
 *
 * The ranges torch checks (lr >= 0, betas in [0, 1), ...) are checked here by
 * gc_optimizer_validate, at the train block's location.
 */
#include "frontend/lower_internal.h"

#include <string.h>

#include "frontend/check.h"
#include "passes/optimizer.h"

static double number(const gc_train_call *c, const char *param, double fallback) {
    int i = gc_builtin_param_index(c->fn, param);
    if (i < 0) return fallback;
    const gc_const_value *v = &c->args[i];
    return v->kind == GC_CV_INT ? (double)v->i : v->kind == GC_CV_FLOAT ? v->f : fallback;
}

static int64_t integer(const gc_train_call *c, const char *param, int64_t fallback) {
    int i = gc_builtin_param_index(c->fn, param);
    return i >= 0 && c->args[i].kind == GC_CV_INT ? c->args[i].i : fallback;
}

static bool flag(const gc_train_call *c, const char *param, bool fallback) {
    int i = gc_builtin_param_index(c->fn, param);
    return i >= 0 && c->args[i].kind == GC_CV_BOOL ? c->args[i].b : fallback;
}

static gc_optimizer_kind optimizer_kind(gc_builtin_id id) {
    switch (id) {
    case GC_BUILTIN_SGD: return GC_OPTIMIZER_SGD;
    case GC_BUILTIN_ADAMW: return GC_OPTIMIZER_ADAMW;
    case GC_BUILTIN_RMSPROP: return GC_OPTIMIZER_RMSPROP;
    case GC_BUILTIN_ADAGRAD: return GC_OPTIMIZER_ADAGRAD;
    case GC_BUILTIN_ADAMAX: return GC_OPTIMIZER_ADAMAX;
    case GC_BUILTIN_NADAM: return GC_OPTIMIZER_NADAM;
    case GC_BUILTIN_RADAM: return GC_OPTIMIZER_RADAM;
    case GC_BUILTIN_ADADELTA: return GC_OPTIMIZER_ADADELTA;
    default: return GC_OPTIMIZER_ADAM;
    }
}

static void optimizer(const gc_train_call *c, gc_optimizer_config *cfg) {
    gc_optimizer_kind kind = optimizer_kind(c->fn->id);
    gc_optimizer_defaults(cfg, kind);
    cfg->lr = number(c, "lr", cfg->lr);
    cfg->weight_decay = number(c, "weight_decay", cfg->weight_decay);
    cfg->momentum = number(c, "momentum", cfg->momentum);
    if (kind == GC_OPTIMIZER_SGD) {
        cfg->dampening = number(c, "dampening", cfg->dampening);
        cfg->nesterov = flag(c, "nesterov", false);
        return;
    }
    cfg->eps = number(c, "eps", cfg->eps);
    cfg->amsgrad = flag(c, "amsgrad", false);
    cfg->alpha = number(c, "alpha", cfg->alpha);
    cfg->centered = flag(c, "centered", false);
    cfg->lr_decay = number(c, "lr_decay", cfg->lr_decay);
    cfg->initial_accumulator_value = number(c, "initial_accumulator_value", cfg->initial_accumulator_value);
    cfg->momentum_decay = number(c, "momentum_decay", cfg->momentum_decay);
    cfg->rho = number(c, "rho", cfg->rho);
    int i = gc_builtin_param_index(c->fn, "betas");
    if (i >= 0 && c->args[i].kind == GC_CV_LIST && c->args[i].list.n == 2) {
        const gc_const_value *b = c->args[i].list.items;
        cfg->beta1 = b[0].kind == GC_CV_INT ? (double)b[0].i : b[0].f;
        cfg->beta2 = b[1].kind == GC_CV_INT ? (double)b[1].i : b[1].f;
    }
}

static void schedule(const gc_train_call *c, gc_schedule *s) {
    memset(s, 0, sizeof *s);
    s->kind = GC_SCHEDULE_CONSTANT;
    s->warmup_offset = 1;
    if (!c->fn) return;
    switch (c->fn->id) {
    case GC_BUILTIN_SCHED_STEP:
        s->kind = GC_SCHEDULE_STEP;
        s->every = integer(c, "every", 1);
        s->gamma = number(c, "gamma", 1.0);
        break;
    case GC_BUILTIN_SCHED_LINEAR:
    case GC_BUILTIN_SCHED_COSINE:
        s->kind = c->fn->id == GC_BUILTIN_SCHED_LINEAR ? GC_SCHEDULE_LINEAR : GC_SCHEDULE_COSINE;
        s->warmup = integer(c, "warmup", 0);
        s->total = integer(c, "total", 0);
        s->min_lr = number(c, "min_lr", 0.0);
        s->warmup_offset = integer(c, "warmup_offset", 1);
        break;
    case GC_BUILTIN_SCHED_EXPONENTIAL:
        s->kind = GC_SCHEDULE_EXPONENTIAL;
        s->gamma = number(c, "gamma", 1.0);
        break;
    case GC_BUILTIN_SCHED_MULTI_STEP: {
        s->kind = GC_SCHEDULE_MULTI_STEP;
        s->gamma = number(c, "gamma", 0.1);
        int i = gc_builtin_param_index(c->fn, "milestones");
        const gc_const_value *v = &c->args[i];
        for (int k = 0; k < v->list.n && k < GC_SCHEDULE_MAX_MILESTONES; k++) s->milestones[k] = v->list.items[k].i;
        s->num_milestones = v->list.n;
        break;
    }
    case GC_BUILTIN_SCHED_POLYNOMIAL:
        s->kind = GC_SCHEDULE_POLYNOMIAL;
        s->total = integer(c, "total", 1);
        s->power = number(c, "power", 1.0);
        break;
    case GC_BUILTIN_SCHED_COSINE_RESTARTS:
        s->kind = GC_SCHEDULE_COSINE_RESTARTS;
        s->t_0 = integer(c, "T_0", 1);
        s->t_mult = integer(c, "T_mult", 1);
        s->min_lr = number(c, "min_lr", 0.0);
        break;
    case GC_BUILTIN_SCHED_ONE_CYCLE: {
        s->kind = GC_SCHEDULE_ONE_CYCLE;
        s->max_lr = number(c, "max_lr", 0.0);
        s->total = integer(c, "total", 1);
        s->pct_start = number(c, "pct_start", 0.3);
        int i = gc_builtin_param_index(c->fn, "anneal");
        s->anneal_linear = c->args[i].kind == GC_CV_STRING && !strcmp(c->args[i].s, "linear");
        s->div_factor = number(c, "div_factor", 25.0);
        s->final_div_factor = number(c, "final_div_factor", 1e4);
        s->three_phase = flag(c, "three_phase", false);
        s->cycle_momentum = flag(c, "cycle_momentum", true);
        s->base_momentum = number(c, "base_momentum", 0.85);
        s->max_momentum = number(c, "max_momentum", 0.95);
        break;
    }
    default: break;
    }
}

/* The patterns outlive the AST: they are copied into the graph's arena. */
static int copy_patterns(const char *const *from, int n, gc_graph *g, const char *const **to, int *count,
                         gc_error *err) {
    if (n <= 0) return 1;
    const char **p = gc_arena_alloc(g->arena, sizeof *p * (size_t)n);
    if (!p) return gc_failf(err, GC_ERR_MEMORY, "out of memory while lowering the train block");
    for (int i = 0; i < n; i++)
        if (!(p[i] = gc_arena_strdup(g->arena, from[i])))
            return gc_failf(err, GC_ERR_MEMORY, "out of memory while lowering the train block");
    *to = p;
    *count = n;
    return 1;
}

static int copy_lists(const gc_train_config *tc, gc_graph *g, gc_optimizer_config *cfg, gc_error *err) {
    if (!copy_patterns((const char *const *)tc->no_decay, tc->n_no_decay, g, &cfg->no_decay, &cfg->num_no_decay, err) ||
        !copy_patterns((const char *const *)tc->freeze, tc->n_freeze, g, &cfg->freeze, &cfg->num_freeze, err) ||
        !copy_patterns((const char *const *)tc->lr_scale_patterns, tc->n_lr_scale, g, &cfg->lr_scale_patterns,
                       &cfg->num_lr_scale, err))
        return 0;
    if (tc->n_lr_scale > 0) {
        double *f = gc_arena_alloc(g->arena, sizeof *f * (size_t)tc->n_lr_scale);
        if (!f) return gc_failf(err, GC_ERR_MEMORY, "out of memory while lowering the train block");
        memcpy(f, tc->lr_scale_factors, sizeof *f * (size_t)tc->n_lr_scale);
        cfg->lr_scale_factors = f;
    }
    cfg->accumulate = tc->accumulate > 0 ? tc->accumulate : 1;
    return 1;
}

int gc_lower_train(const gc_ast_module *m, gc_graph *g, gc_lowered_train *out, gc_error *err) {
    memset(out, 0, sizeof *out);
    gc_optimizer_config *cfg = &out->optimizer;
    const gc_train_config *tc = m->config;
    if (m->train) out->loc = m->train->loc;
    if (!tc || !tc->optimizer.fn) {
        gc_optimizer_defaults(cfg, GC_OPTIMIZER_ADAM);
    } else {
        optimizer(&tc->optimizer, cfg);
    }
    cfg->loc = out->loc;
    if (tc) {
        schedule(&tc->schedule, &cfg->schedule);
        cfg->clip_grad_norm = tc->clip ? tc->clip_grad_norm : 0.0;
        out->seed = (uint64_t)tc->seed;
        out->precision = (gc_precision)tc->precision;
        out->memory_budget = tc->memory_budget;
        out->sync_batchnorm = tc->sync_batchnorm;
        if (!copy_lists(tc, g, cfg, err)) return 0;
    }
    return gc_optimizer_validate(cfg, err);
}

static bool any_param(const gc_graph *g, const char *pattern) {
    for (int i = 0; i < g->num_nodes; i++)
        if (g->nodes[i]->op == GC_OP_PARAM && gc_glob_match(pattern, g->nodes[i]->name)) return true;
    return false;
}

int gc_lower_train_patterns(const gc_ast_module *m, const gc_graph *g, gc_error *err) {
    const gc_train_config *tc = m->config;
    if (!tc) return 1;
    for (int i = 0; i < tc->n_freeze; i++)
        if (!any_param(g, tc->freeze[i]))
            return gc_fail(err, GC_ERR_USER, tc->freeze_loc, "freeze: pattern '%s' matches no parameter", tc->freeze[i]);
    for (int i = 0; i < tc->n_lr_scale; i++)
        if (!any_param(g, tc->lr_scale_patterns[i]))
            return gc_fail(err, GC_ERR_USER, tc->lr_scale_loc, "lr_scale: pattern '%s' matches no parameter",
                           tc->lr_scale_patterns[i]);
    if (tc->n_freeze) {
        int params = 0, frozen = 0;
        for (int i = 0; i < g->num_nodes; i++) {
            if (g->nodes[i]->op != GC_OP_PARAM) continue;
            params++;
            for (int k = 0; k < tc->n_freeze; k++)
                if (gc_glob_match(tc->freeze[k], g->nodes[i]->name)) {
                    frozen++;
                    break;
                }
        }
        if (params && frozen == params)
            return gc_fail(err, GC_ERR_USER, tc->freeze_loc,
                           "freeze: every parameter is frozen; nothing would train");
    }
    return 1;
}
