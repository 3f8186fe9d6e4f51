/*
 * lower_train.c: the train block, as check evaluated it (m->config, check.h), in the terms of
 * passes/optimizer.h.
 *
 *   optimizer = sgd(lr, momentum, dampening, weight_decay, nesterov) | adam(lr, betas, eps,
 *               weight_decay) | adamw(...)       torch.optim's defaults for omitted arguments
 *   schedule  = constant() | step(every, gamma) | linear(warmup, total) | cosine(warmup, total, min_lr)
 *   clip_grad_norm = NUMBER      seed = INT      no_decay = ["glob", ...]
 *
 * The ranges torch checks (lr >= 0, betas in [0, 1), ...) are checked here by
 * gc_optimizer_validate, at the train block's location.
 */
#include "frontend/lower_internal.h"

#include <string.h>

#include "frontend/check.h"

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

static void optimizer(const gc_train_call *c, gc_optimizer_config *cfg) {
    gc_optimizer_kind kind = c->fn->id == GC_BUILTIN_SGD ? GC_OPTIMIZER_SGD
                             : c->fn->id == GC_BUILTIN_ADAMW ? GC_OPTIMIZER_ADAMW
                                                             : GC_OPTIMIZER_ADAM;
    gc_optimizer_defaults(cfg, kind);
    cfg->lr = number(c, "lr", cfg->lr);
    cfg->weight_decay = number(c, "weight_decay", cfg->weight_decay);
    if (kind == GC_OPTIMIZER_SGD) {
        cfg->momentum = number(c, "momentum", cfg->momentum);
        cfg->dampening = number(c, "dampening", cfg->dampening);
        int i = gc_builtin_param_index(c->fn, "nesterov");
        cfg->nesterov = i >= 0 && c->args[i].kind == GC_CV_BOOL && c->args[i].b;
        return;
    }
    cfg->eps = number(c, "eps", cfg->eps);
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
        break;
    default: break;
    }
}

/* The patterns outlive the AST: they are copied into the graph's arena. */
static int copy_no_decay(const gc_train_config *tc, gc_graph *g, gc_optimizer_config *cfg, gc_error *err) {
    if (tc->n_no_decay <= 0) return 1;
    const char **p = gc_arena_alloc(g->arena, sizeof *p * (size_t)tc->n_no_decay);
    if (!p) return gc_failf(err, GC_ERR_MEMORY, "out of memory while lowering the train block");
    for (int i = 0; i < tc->n_no_decay; i++)
        if (!(p[i] = gc_arena_strdup(g->arena, tc->no_decay[i])))
            return gc_failf(err, GC_ERR_MEMORY, "out of memory while lowering the train block");
    cfg->no_decay = p;
    cfg->num_no_decay = tc->n_no_decay;
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
        if (!copy_no_decay(tc, g, cfg, err)) return 0;
    }
    return gc_optimizer_validate(cfg, err);
}
