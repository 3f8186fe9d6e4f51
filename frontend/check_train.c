/*
 * check_train.c: the train block evaluated into a gc_train_config, and the `--set` parser.
 *
 * Every value in the train block is a compile-time constant (names were resolved by check.c), so
 * it is evaluated here once. The range checks are the ones torch.optim makes when an optimizer
 * is built (negative learning rate, betas outside [0, 1), nesterov without momentum), so a model
 * torch would refuse is refused here too, with a location.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/check_internal.h"
#include "frontend/consteval.h"

#include <gradc/gradc.h>

static const char *const settings =
    "optimizer, schedule, clip_grad_norm, seed, no_decay, freeze, lr_scale, gradient_accumulation_steps, precision, "
    "memory_budget, sync_batchnorm";

static int defaults(gc_arena *arena, gc_builtin_id id, gc_train_call *call, gc_error *err) {
    memset(call, 0, sizeof *call);
    call->fn = &gc_builtins[id];
    for (int i = 0; i < call->fn->nparams; i++)
        if (!gc_builtin_default(&call->fn->params[i], arena, &call->args[i])) {
            if (call->fn->params[i].dkind != GC_BDEF_REQUIRED) return gc_failf(err, GC_ERR_MEMORY, "out of memory");
            return gc_failf(err, GC_ERR_INTERNAL, "internal error: %s has no default for '%s'", call->fn->name,
                            call->fn->params[i].name);
        }
    return 1;
}

/* The location of the argument given for `param`, or of the call when it was left out. */
static gc_loc arg_loc(const gc_ast_expr *call, const gc_ast_expr *const *slots, const gc_builtin *b,
                      const char *param) {
    int i = gc_builtin_param_index(b, param);
    return i >= 0 && slots[i] ? slots[i]->loc : call->loc;
}

static double num(const gc_train_call *c, const char *param) { return gc_train_number(c, param); }

/* torch.optim's and our schedules' own argument checks. */
static int check_ranges(const gc_ast_expr *e, const gc_ast_expr *const *slots, const gc_train_call *c,
                        gc_error *err) {
    const gc_builtin *b = c->fn;
#define REQUIRE(param, cond, ...)                                                            \
    do {                                                                                     \
        if (gc_builtin_param_index(b, param) >= 0 && !(cond))                                \
            return gc_fail(err, GC_ERR_USER, arg_loc(e, slots, b, param), __VA_ARGS__);      \
    } while (0)
    REQUIRE("lr", num(c, "lr") >= 0, "%s: the learning rate must be >= 0", b->name);
    REQUIRE("eps", num(c, "eps") >= 0, "%s: eps must be >= 0", b->name);
    REQUIRE("weight_decay", num(c, "weight_decay") >= 0, "%s: weight_decay must be >= 0", b->name);
    REQUIRE("momentum", num(c, "momentum") >= 0, "%s: momentum must be >= 0", b->name);
    int nesterov = gc_builtin_param_index(b, "nesterov");
    REQUIRE("nesterov", !c->args[nesterov].b || (num(c, "momentum") > 0 && num(c, "dampening") == 0),
            "%s: nesterov needs a momentum and zero dampening", b->name);
    int betas = gc_builtin_param_index(b, "betas");
    if (betas >= 0) {
        const gc_const_value *v = &c->args[betas];
        REQUIRE("betas", v->list.n == 2, "%s: betas must be a list of two numbers", b->name);
        for (int i = 0; i < 2; i++) {
            double beta = gc_const_as_double(&v->list.items[i]);
            REQUIRE("betas", beta >= 0 && beta < 1, "%s: betas must be in [0, 1)", b->name);
        }
    }
    REQUIRE("every", num(c, "every") >= 1, "%s: every must be at least 1", b->name);
    REQUIRE("total", num(c, "total") >= 1, "%s: total must be at least 1", b->name);
    REQUIRE("warmup", num(c, "warmup") >= 0, "%s: warmup must be >= 0", b->name);
    /* linear's decay divides by total - warmup; cosine guards it with max(1, ...). */
    REQUIRE("warmup", b->id != GC_BUILTIN_SCHED_LINEAR || num(c, "warmup") < num(c, "total"),
            "%s: warmup must be less than total", b->name);
    REQUIRE("min_lr", num(c, "min_lr") >= 0, "%s: min_lr must be >= 0", b->name);
    /* Wave 2 optimizers and schedules (issue 16). */
    REQUIRE("alpha", num(c, "alpha") >= 0, "%s: alpha must be >= 0", b->name);
    REQUIRE("rho", num(c, "rho") >= 0 && num(c, "rho") <= 1, "%s: rho must be in [0, 1]", b->name);
    REQUIRE("lr_decay", num(c, "lr_decay") >= 0, "%s: lr_decay must be >= 0", b->name);
    REQUIRE("initial_accumulator_value", num(c, "initial_accumulator_value") >= 0,
            "%s: initial_accumulator_value must be >= 0", b->name);
    REQUIRE("momentum_decay", num(c, "momentum_decay") >= 0, "%s: momentum_decay must be >= 0", b->name);
    REQUIRE("gamma", b->id == GC_BUILTIN_SCHED_STEP || num(c, "gamma") > 0, "%s: gamma must be > 0", b->name);
    REQUIRE("warmup_offset", num(c, "warmup_offset") == 0 || num(c, "warmup_offset") == 1,
            "%s: warmup_offset must be 0 or 1", b->name);
    REQUIRE("power", num(c, "power") >= 0, "%s: power must be >= 0", b->name);
    REQUIRE("T_0", num(c, "T_0") >= 1, "%s: T_0 must be a positive integer", b->name);
    REQUIRE("T_mult", num(c, "T_mult") >= 1, "%s: T_mult must be an integer >= 1", b->name);
    REQUIRE("max_lr", num(c, "max_lr") > 0, "%s: max_lr must be > 0", b->name);
    REQUIRE("pct_start", num(c, "pct_start") >= 0 && num(c, "pct_start") <= 1, "%s: pct_start must be in [0, 1]",
            b->name);
    REQUIRE("div_factor", num(c, "div_factor") > 0, "%s: div_factor must be > 0", b->name);
    REQUIRE("final_div_factor", num(c, "final_div_factor") > 0, "%s: final_div_factor must be > 0", b->name);
    REQUIRE("base_momentum", num(c, "base_momentum") >= 0, "%s: base_momentum must be >= 0", b->name);
    REQUIRE("max_momentum", num(c, "max_momentum") >= 0, "%s: max_momentum must be >= 0", b->name);
    int milestones = gc_builtin_param_index(b, "milestones");
    if (milestones >= 0) {
        const gc_const_value *v = &c->args[milestones];
        REQUIRE("milestones", v->list.n >= 1 && v->list.n <= 64, "%s: milestones must list 1 to 64 update counts",
                b->name);
        for (int i = 0; i < v->list.n; i++)
            REQUIRE("milestones", v->list.items[i].i >= 0 && (i == 0 || v->list.items[i].i >= v->list.items[i - 1].i),
                    "%s: milestones must be increasing update counts >= 0", b->name);
    }
#undef REQUIRE
    return 1;
}

static int eval_call(gc_ast_module *m, gc_ast_train_item *item, gc_builtin_kind kind, gc_train_call *out,
                     gc_error *err) {
    gc_ast_expr *e = item->value;
    const char *what = kind == GC_BKIND_OPTIMIZER ? "optimizer" : "schedule";
    char list[200] = "";
    size_t used = 0;
    for (int i = 0; i < GC_BUILTIN_COUNT; i++)
        if (gc_builtins[i].kind == kind) {
            int n = snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "", gc_builtins[i].name);
            if (n > 0 && (size_t)n < sizeof list - used) used += (size_t)n;
        }
    if (e->kind != GC_EXPR_CALL || e->call.as)
        return gc_fail(err, GC_ERR_USER, e->loc, "%s must be a call to one of: %s", what, list);
    const gc_builtin *b = gc_builtin_find(e->call.callee, GC_BMASK(kind));
    if (!b) return gc_fail(err, GC_ERR_USER, e->loc, "unknown %s '%s' (%ss: %s)", what, e->call.callee, what, list);
    const gc_ast_expr *slots[GC_BUILTIN_MAX_PARAMS];
    if (!gc_builtin_bind(b, e, slots, err)) return 0;
    e->call.builtin = b;
    e->call.def = NULL;
    memset(out, 0, sizeof *out);
    out->fn = b;
    out->loc = e->loc;
    for (int i = 0; i < b->nparams; i++) {
        const gc_builtin_param *p = &b->params[i];
        if (!slots[i]) {
            if (!gc_builtin_default(p, m->arena, &out->args[i])) return gc_failf(err, GC_ERR_MEMORY, "out of memory");
            continue;
        }
        if (!gc_const_eval(slots[i], NULL, NULL, m->arena, &out->args[i], err)) return 0;
        if (!gc_barg_accepts(p, &out->args[i])) {
            char want[160], got[64];
            gc_barg_describe(p, want, sizeof want);
            gc_const_describe(&out->args[i], got, sizeof got);
            return gc_fail(err, GC_ERR_USER, slots[i]->loc, "%s: argument '%s' must be %s, got %s", b->name, p->name,
                           want, got);
        }
    }
    return check_ranges(e, slots, out, err);
}

/* lr_scale = [["glob", factor], ...]. */
static int eval_lr_scale(gc_ast_module *m, const gc_const_value *v, gc_loc at, const char *got, gc_train_config *cfg,
                         gc_error *err) {
    bool ok = v->kind == GC_CV_LIST;
    for (int i = 0; ok && i < v->list.n; i++) {
        const gc_const_value *e = &v->list.items[i];
        ok = e->kind == GC_CV_LIST && e->list.n == 2 && e->list.items[0].kind == GC_CV_STRING &&
             gc_const_is_number(&e->list.items[1]);
    }
    if (!ok)
        return gc_fail(err, GC_ERR_USER, at,
                       "lr_scale must be a list of [pattern, factor] pairs such as [[\"head.*\", 10.0]], got %s", got);
    int n = v->list.n;
    cfg->lr_scale_patterns = gc_arena_alloc(m->arena, (size_t)(n ? n : 1) * sizeof *cfg->lr_scale_patterns);
    cfg->lr_scale_factors = gc_arena_alloc(m->arena, (size_t)(n ? n : 1) * sizeof *cfg->lr_scale_factors);
    if (!cfg->lr_scale_patterns || !cfg->lr_scale_factors) return gc_failf(err, GC_ERR_MEMORY, "out of memory");
    for (int i = 0; i < n; i++) {
        const gc_const_value *e = &v->list.items[i];
        cfg->lr_scale_patterns[i] = e->list.items[0].s;
        cfg->lr_scale_factors[i] = gc_const_as_double(&e->list.items[1]);
        if (!*cfg->lr_scale_patterns[i]) return gc_fail(err, GC_ERR_USER, at, "lr_scale: pattern %d is empty", i);
        if (!(cfg->lr_scale_factors[i] >= 0) || !isfinite(cfg->lr_scale_factors[i]))
            return gc_fail(err, GC_ERR_USER, at, "lr_scale: the factor of '%s' must be a number >= 0",
                           cfg->lr_scale_patterns[i]);
    }
    cfg->n_lr_scale = n;
    cfg->lr_scale_loc = at;
    return 1;
}

static int eval_setting(gc_ast_module *m, gc_ast_train_item *item, gc_train_config *cfg, gc_error *err) {
    const char *key = item->key;
    if (!strcmp(key, "optimizer")) return eval_call(m, item, GC_BKIND_OPTIMIZER, &cfg->optimizer, err);
    if (!strcmp(key, "schedule")) return eval_call(m, item, GC_BKIND_SCHEDULE, &cfg->schedule, err);
    bool known = !strcmp(key, "clip_grad_norm") || !strcmp(key, "seed") || !strcmp(key, "no_decay") ||
                 !strcmp(key, "freeze") || !strcmp(key, "lr_scale") || !strcmp(key, "gradient_accumulation_steps") ||
                 !strcmp(key, "precision") || !strcmp(key, "memory_budget") ||
                 !strcmp(key, "sync_batchnorm");
    if (!known) return gc_fail(err, GC_ERR_USER, item->loc, "unknown train setting '%s' (settings: %s)", key, settings);
    gc_const_value v;
    if (!gc_const_eval(item->value, NULL, NULL, m->arena, &v, err)) return 0;
    char got[64];
    gc_const_describe(&v, got, sizeof got);
    gc_loc at = item->value->loc;
    if (!strcmp(key, "clip_grad_norm")) {
        if (!gc_const_is_number(&v) || !(gc_const_as_double(&v) > 0))
            return gc_fail(err, GC_ERR_USER, at, "clip_grad_norm must be a number > 0, got %s", got);
        cfg->clip = true;
        cfg->clip_grad_norm = gc_const_as_double(&v);
        return 1;
    }
    if (!strcmp(key, "seed")) {
        if (v.kind != GC_CV_INT || v.i < 0)
            return gc_fail(err, GC_ERR_USER, at, "seed must be a non-negative integer, got %s", got);
        cfg->seed = v.i;
        return 1;
    }
    if (!strcmp(key, "gradient_accumulation_steps")) {
        if (v.kind != GC_CV_INT || v.i < 1 || v.i > (1 << 20))
            return gc_fail(err, GC_ERR_USER, at, "gradient_accumulation_steps must be an integer >= 1, got %s", got);
        cfg->accumulate = v.i;
        return 1;
    }
    if (!strcmp(key, "memory_budget")) {
        /* A size as text ("2GiB", "512MiB", "1.5GB") or a number of bytes (gradc.h). */
        gc_error size_err = {0};
        int64_t bytes = 0;
        bool ok = v.kind == GC_CV_STRING ? gc_parse_memory_size(v.s, &bytes, &size_err) != 0
                  : gc_const_is_number(&v) && gc_const_as_double(&v) >= 1 && gc_const_as_double(&v) < 9e18;
        if (ok && v.kind != GC_CV_STRING) bytes = (int64_t)gc_const_as_double(&v);
        if (!ok)
            return gc_fail(err, GC_ERR_USER, at, "memory_budget must be a size such as \"2GiB\" or a number of bytes, got %s%s%s",
                           got, size_err.code ? ": " : "", size_err.code ? size_err.message : "");
        cfg->memory_budget = bytes;
        return 1;
    }
    if (!strcmp(key, "sync_batchnorm")) {
        if (v.kind != GC_CV_BOOL) return gc_fail(err, GC_ERR_USER, at, "sync_batchnorm must be true or false, got %s", got);
        cfg->sync_batchnorm = v.b;
        return 1;
    }
    if (!strcmp(key, "lr_scale")) return eval_lr_scale(m, &v, at, got, cfg, err);
    if (!strcmp(key, "precision")) {
        bool f32 = v.kind == GC_CV_STRING && !strcmp(v.s, "f32"), bf16 = v.kind == GC_CV_STRING && !strcmp(v.s, "bf16");
        if (!f32 && !bf16) return gc_fail(err, GC_ERR_USER, at, "precision must be \"f32\" or \"bf16\", got %s", got);
        cfg->precision = bf16 ? GC_PRECISION_BF16 : GC_PRECISION_F32;
        return 1;
    }
    bool strings = v.kind == GC_CV_LIST;
    for (int i = 0; strings && i < v.list.n; i++) strings = v.list.items[i].kind == GC_CV_STRING;
    if (!strings)
        return gc_fail(err, GC_ERR_USER, at, "%s must be a list of strings such as [\"*bias\", \"*norm*\"], got %s",
                       key, got);
    const char **list = gc_arena_alloc(m->arena, (size_t)(v.list.n ? v.list.n : 1) * sizeof *list);
    if (!list) return gc_failf(err, GC_ERR_MEMORY, "out of memory");
    for (int i = 0; i < v.list.n; i++) {
        list[i] = v.list.items[i].s;
        if (!*list[i]) return gc_fail(err, GC_ERR_USER, at, "%s: pattern %d is empty", key, i);
    }
    if (!strcmp(key, "freeze")) {
        cfg->freeze = list;
        cfg->n_freeze = v.list.n;
        cfg->freeze_loc = at;
    } else {
        cfg->no_decay = list;
        cfg->n_no_decay = v.list.n;
    }
    return 1;
}

int gc_check_train(gc_ast_module *m, const gc_ast_stmt *train, gc_error *err) {
    gc_train_config *cfg = gc_arena_alloc(m->arena, sizeof *cfg);
    if (!cfg) return gc_failf(err, GC_ERR_MEMORY, "out of memory");
    if (!defaults(m->arena, GC_BUILTIN_ADAM, &cfg->optimizer, err) ||
        !defaults(m->arena, GC_BUILTIN_SCHED_CONSTANT, &cfg->schedule, err))
        return 0;
    for (int i = 0; train && i < train->train.n; i++) {
        gc_ast_train_item *item = &train->train.items[i];
        for (int j = 0; j < i; j++)
            if (!strcmp(train->train.items[j].key, item->key))
                return gc_fail(err, GC_ERR_USER, item->loc, "'%s' is set twice in the train block (first at %d:%d)",
                               item->key, train->train.items[j].loc.line, train->train.items[j].loc.col);
        if (!eval_setting(m, item, cfg, err)) return 0;
    }
    m->config = cfg;
    return 1;
}

double gc_train_number(const gc_train_call *call, const char *param) {
    if (!call->fn) return 0;
    int i = gc_builtin_param_index(call->fn, param);
    return i < 0 ? 0 : gc_const_as_double(&call->args[i]);
}

int gc_parse_override(const char *text, char *name, size_t cap, double *value, gc_error *err) {
    const char *eq = strchr(text, '=');
    if (!eq || eq == text) return gc_failf(err, GC_ERR_USER, "--set expects NAME=VALUE, got '%s'", text);
    size_t n = (size_t)(eq - text);
    if (n >= cap) return gc_failf(err, GC_ERR_USER, "--set: the name in '%s' is too long", text);
    for (size_t i = 0; i < n; i++) {
        char ch = text[i];
        bool ok = ch == '_' || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (i > 0 && ch >= '0' && ch <= '9');
        if (!ok) return gc_failf(err, GC_ERR_USER, "--set: '%.*s' is not a valid name", (int)n, text);
    }
    char *end;
    double v = strtod(eq + 1, &end);
    if (end == eq + 1 || *end || !isfinite(v))
        return gc_failf(err, GC_ERR_USER, "--set %.*s: '%s' is not a number", (int)n, text, eq + 1);
    memcpy(name, text, n);
    name[n] = '\0';
    *value = v;
    return 1;
}
