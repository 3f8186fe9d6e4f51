/*
 * test_optimizer.c: passes/optimizer.h against torch.optim, step by step.
 *
 * tests/oracle/gen_optim.py writes, per configuration, initial params, 32 fixed gradients and
 * torch's params after every step (plus the lr, the pre-clip gradient norm and the final optimizer
 * state). Here each param's gradient is an `input` fed as its `grad` output, gc_optimizer_build
 * appends the update, and the f32 interpreter runs 32 steps, applying updates after each and
 * comparing every step with torch. Tests per family (SGD, Adam, AdamW, schedules, clipping,
 * no_decay) demand a minimum number of configurations so a shrunken oracle cannot pass. The rest
 * covers the glob matcher, the host-side schedule, validation messages, state names and one
 * real training loop through autodiff.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ir/build.h"
#include "ir/text.h"
#include "passes/autodiff.h"
#include "passes/losses.h"
#include "passes/optimizer.h"
#include "runtime/interp.h"
#include "runtime/npy.h"

/* float32 agreement after up to 32 steps: each step rounds a little differently from torch's
 * kernels (fused multiply-adds, Python-double scalars), and the differences accumulate. */
#define REL_TOL 2e-5
#define ABS_TOL 2e-6

#define MAX_PARAMS 4
#define MAX_PATTERNS 4

typedef struct optim_case {
    char name[96];
    gc_optimizer_config cfg;
    char patterns[MAX_PATTERNS][64];
    const char *pattern_ptrs[MAX_PATTERNS];
    char freeze[MAX_PATTERNS][64];
    const char *freeze_ptrs[MAX_PATTERNS];
    char scale[MAX_PATTERNS][64];
    const char *scale_ptrs[MAX_PATTERNS];
    double factors[MAX_PATTERNS];
    char params[MAX_PARAMS][64];
    int num_params;
    int steps;
} optim_case;

static const char *expected_dir(void) {
    const char *dir = getenv("GC_EXPECTED_DIR");
    if (!dir) fail_msg("GC_EXPECTED_DIR is not set (run through ctest)");
    return dir;
}

static int split_list(const char *s, char out[][64], int max) {
    int n = 0;
    while (*s && n < max) {
        size_t len = strcspn(s, ",");
        snprintf(out[n++], 64, "%.*s", (int)len, s);
        s += len;
        if (*s == ',') s++;
    }
    return n;
}

/* Parses one manifest line into c; false when a key is unknown or a value malformed. */
static bool parse_case(char *line, optim_case *c) {
    memset(c, 0, sizeof *c);
    char *save = NULL;
    char *tok = strtok_r(line, " \n", &save);
    if (!tok) return false;
    snprintf(c->name, sizeof c->name, "%s", tok);
    gc_optimizer_config *cfg = &c->cfg;
    gc_optimizer_defaults(cfg, GC_OPTIMIZER_SGD);
    while ((tok = strtok_r(NULL, " \n", &save))) {
        char *eq = strchr(tok, '=');
        if (!eq) return false;
        *eq = '\0';
        const char *v = eq + 1;
        double d = atof(v);
        if (!strcmp(tok, "optimizer")) {
            if (!gc_optimizer_kind_from_name(v, &cfg->kind)) return false;
        } else if (!strcmp(tok, "lr")) cfg->lr = d;
        else if (!strcmp(tok, "momentum")) cfg->momentum = d;
        else if (!strcmp(tok, "dampening")) cfg->dampening = d;
        else if (!strcmp(tok, "nesterov")) cfg->nesterov = d != 0.0;
        else if (!strcmp(tok, "beta1")) cfg->beta1 = d;
        else if (!strcmp(tok, "beta2")) cfg->beta2 = d;
        else if (!strcmp(tok, "eps")) cfg->eps = d;
        else if (!strcmp(tok, "weight_decay")) cfg->weight_decay = d;
        else if (!strcmp(tok, "schedule")) {
            if (!gc_schedule_kind_from_name(v, &cfg->schedule.kind)) return false;
        } else if (!strcmp(tok, "every")) cfg->schedule.every = atoll(v);
        else if (!strcmp(tok, "gamma")) cfg->schedule.gamma = d;
        else if (!strcmp(tok, "warmup")) cfg->schedule.warmup = atoll(v);
        else if (!strcmp(tok, "total")) cfg->schedule.total = atoll(v);
        else if (!strcmp(tok, "min_lr")) cfg->schedule.min_lr = d;
        else if (!strcmp(tok, "clip")) cfg->clip_grad_norm = d;
        else if (!strcmp(tok, "no_decay")) {
            if (strcmp(v, "-") != 0) cfg->num_no_decay = split_list(v, c->patterns, MAX_PATTERNS);
        } else if (!strcmp(tok, "amsgrad")) cfg->amsgrad = d != 0.0;
        else if (!strcmp(tok, "alpha")) cfg->alpha = d;
        else if (!strcmp(tok, "centered")) cfg->centered = d != 0.0;
        else if (!strcmp(tok, "lr_decay")) cfg->lr_decay = d;
        else if (!strcmp(tok, "init_acc")) cfg->initial_accumulator_value = d;
        else if (!strcmp(tok, "momentum_decay")) cfg->momentum_decay = d;
        else if (!strcmp(tok, "rho")) cfg->rho = d;
        else if (!strcmp(tok, "warmup_offset")) cfg->schedule.warmup_offset = atoll(v);
        else if (!strcmp(tok, "milestones")) {
            char ms[GC_SCHEDULE_MAX_MILESTONES][64];
            int n = strcmp(v, "-") ? split_list(v, ms, GC_SCHEDULE_MAX_MILESTONES) : 0;
            for (int i = 0; i < n; i++) cfg->schedule.milestones[i] = atoll(ms[i]);
            cfg->schedule.num_milestones = n;
        } else if (!strcmp(tok, "power")) cfg->schedule.power = d;
        else if (!strcmp(tok, "t_0")) cfg->schedule.t_0 = atoll(v);
        else if (!strcmp(tok, "t_mult")) cfg->schedule.t_mult = atoll(v);
        else if (!strcmp(tok, "max_lr")) cfg->schedule.max_lr = d;
        else if (!strcmp(tok, "pct_start")) cfg->schedule.pct_start = d;
        else if (!strcmp(tok, "anneal")) cfg->schedule.anneal_linear = !strcmp(v, "linear");
        else if (!strcmp(tok, "div_factor")) cfg->schedule.div_factor = d;
        else if (!strcmp(tok, "final_div_factor")) cfg->schedule.final_div_factor = d;
        else if (!strcmp(tok, "three_phase")) cfg->schedule.three_phase = d != 0.0;
        else if (!strcmp(tok, "cycle_momentum")) cfg->schedule.cycle_momentum = d != 0.0;
        else if (!strcmp(tok, "base_momentum")) cfg->schedule.base_momentum = d;
        else if (!strcmp(tok, "max_momentum")) cfg->schedule.max_momentum = d;
        else if (!strcmp(tok, "freeze")) {
            if (strcmp(v, "-") != 0) cfg->num_freeze = split_list(v, c->freeze, MAX_PATTERNS);
        } else if (!strcmp(tok, "lr_scale")) {
            if (strcmp(v, "-") != 0) cfg->num_lr_scale = split_list(v, c->scale, MAX_PATTERNS);
            for (int i = 0; i < cfg->num_lr_scale; i++) {
                char *colon = strrchr(c->scale[i], ':');
                if (!colon) return false;
                *colon = '\0';
                c->factors[i] = atof(colon + 1);
            }
        } else if (!strcmp(tok, "accumulate")) cfg->accumulate = atoll(v);
        else if (!strcmp(tok, "params")) c->num_params = split_list(v, c->params, MAX_PARAMS);
        else if (!strcmp(tok, "steps")) c->steps = atoi(v);
        else return false;
    }
    for (int i = 0; i < cfg->num_no_decay; i++) c->pattern_ptrs[i] = c->patterns[i];
    cfg->no_decay = c->pattern_ptrs;
    for (int i = 0; i < cfg->num_freeze; i++) c->freeze_ptrs[i] = c->freeze[i];
    cfg->freeze = c->freeze_ptrs;
    for (int i = 0; i < cfg->num_lr_scale; i++) c->scale_ptrs[i] = c->scale[i];
    cfg->lr_scale_patterns = c->scale_ptrs;
    cfg->lr_scale_factors = c->factors;
    cfg->loc = (gc_loc){"train.gm", 3, 5};
    return c->num_params > 0 && c->steps > 0;
}

/* Reads NAME.<key>.npy as float data (f32 or f64 as stored); false when the file is missing. */
static bool read_npy(const char *case_name, const char *key, gc_tensor *t, bool must_exist) {
    char path[1024];
    snprintf(path, sizeof path, "%s/optim/%s.%s.npy", expected_dir(), case_name, key);
    gc_error err = {0};
    gc_npy_info info;
    if (!gc_npy_read_info(path, &info, &err)) {
        if (must_exist) fail_msg("%s", err.message);
        return false;
    }
    if (!gc_npy_read(path, GC_F64, t, &err)) fail_msg("%s", err.message);
    return true;
}

static int64_t numel(const gc_tensor *t, int from) {
    int64_t n = 1;
    for (int i = from; i < t->rank; i++) n *= t->shape[i];
    return n;
}

static bool close_enough(double got, double want, double rel, double abs_tol) {
    return fabs(got - want) <= abs_tol + rel * fabs(want);
}

static bool compare(const char *case_name, const char *what, int step, const double *got, const double *want,
                    int64_t n, double rel, double abs_tol) {
    for (int64_t i = 0; i < n; i++) {
        if (!got || !close_enough(got[i], want[i], rel, abs_tol)) {
            print_error("%s: step %d: %s[%lld] = %.9g, torch says %.9g\n", case_name, step, what,
                        (long long)i, got ? got[i] : NAN, want[i]);
            return false;
        }
    }
    return true;
}

typedef struct param_data {
    gc_tensor init, grads, after;
    char grad_input[80];
} param_data;

/* Sets every state node of g to zeros, as a fresh run starts. */
static void zero_states(gc_interp *it, const gc_graph *g) {
    gc_error err = {0};
    for (int i = 0; i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        if (n->op != GC_OP_STATE) continue;
        int64_t count = gc_type_numel(&n->type);
        double *zeros = calloc((size_t)count, sizeof *zeros);
        assert_non_null(zeros);
        assert_true(gc_interp_set_f64(it, n->name, zeros, count, &err));
        free(zeros);
    }
}

/* Every optimizer state slot torch has, gradc has under the checkpoint name, and vice versa;
 * after the last step their values agree. */
static bool compare_state(const optim_case *c, const gc_graph *g, gc_interp *it) {
    static const char *slots[] = {"momentum_buffer", "exp_avg",    "exp_avg_sq", "max_exp_avg_sq", "exp_inf",
                                  "square_avg",      "grad_avg",   "sum",        "acc_delta",      "mu_product"};
    enum { NUM_SLOTS = sizeof slots / sizeof *slots };
    bool ok = true;
    for (int p = 0; p < c->num_params; p++) {
        for (int s = 0; s < NUM_SLOTS; s++) {
            char key[160], state[200];
            snprintf(key, sizeof key, "%s.%s", c->params[p], slots[s]);
            snprintf(state, sizeof state, "optimizer.%s", key);
            gc_tensor want;
            bool torch_has = read_npy(c->name, key, &want, false);
            bool we_have = gc_graph_find_named(g, GC_OP_STATE, state) != NULL;
            if (torch_has != we_have) {
                print_error("%s: torch %s state %s, gradc %s\n", c->name, torch_has ? "has" : "has no", key,
                            we_have ? "does" : "does not");
                ok = false;
            }
            if (torch_has && we_have)
                ok = compare(c->name, state, c->steps - 1, gc_interp_source(it, state), want.data,
                             numel(&want, 0), REL_TOL, ABS_TOL) && ok;
            if (torch_has) free(want.data);
        }
    }
    const double *step = gc_interp_source(it, "optimizer.step");
    if (!step || step[0] != (double)c->steps) {
        print_error("%s: optimizer.step is %g after %d steps\n", c->name, step ? step[0] : NAN, c->steps);
        ok = false;
    }
    return ok;
}

static bool run_case(const optim_case *c) {
    gc_error err = {0};
    gc_graph *g = gc_graph_new(c->name);
    param_data pd[MAX_PARAMS];
    memset(pd, 0, sizeof pd);
    gc_tensor lr, norm;
    read_npy(c->name, "lr", &lr, true);
    read_npy(c->name, "grad_norm", &norm, true);
    bool ok = true;
    for (int p = 0; p < c->num_params && ok; p++) {
        char key[128];
        snprintf(key, sizeof key, "%s.init", c->params[p]);
        read_npy(c->name, key, &pd[p].init, true);
        snprintf(key, sizeof key, "%s.grads", c->params[p]);
        read_npy(c->name, key, &pd[p].grads, true);
        snprintf(key, sizeof key, "%s.after", c->params[p]);
        read_npy(c->name, key, &pd[p].after, true);
        gc_type ty = gc_type_make(GC_F32, pd[p].init.rank, pd[p].init.shape);
        snprintf(pd[p].grad_input, sizeof pd[p].grad_input, "grad_in.%s", c->params[p]);
        gc_loc loc = {NULL, 0, 0};
        ok = gc_graph_make(g, GC_OP_PARAM, NULL, 0, NULL, &ty, c->params[p], loc, &err) != NULL;
        gc_node *gin = gc_graph_make(g, GC_OP_INPUT, NULL, 0, NULL, &ty, pd[p].grad_input, loc, &err);
        ok = ok && gin && gc_graph_add_output(g, GC_OUTPUT_GRAD, c->params[p], gin, &err);
    }
    if (ok && !gc_optimizer_build(g, &c->cfg, &err)) {
        print_error("%s: gc_optimizer_build: %s\n", c->name, err.message);
        ok = false;
    }
    gc_interp *it = ok ? gc_interp_new(g, GC_INTERP_F32, &err) : NULL;
    if (it) {
        zero_states(it, g);
        for (int p = 0; p < c->num_params; p++)
            assert_true(gc_interp_set_f64(it, c->params[p], pd[p].init.data, numel(&pd[p].init, 0), &err));
    }
    int64_t runs = c->cfg.accumulate > 1 ? c->cfg.accumulate : 1;
    double *before[MAX_PARAMS] = {0};
    for (int p = 0; p < c->num_params; p++) {
        before[p] = calloc((size_t)numel(&pd[p].init, 0), sizeof(double));
        assert_non_null(before[p]);
    }
    for (int s = 0; it && ok && s < c->steps; s++) {
        for (int p = 0; p < c->num_params; p++)
            memcpy(before[p], gc_interp_source(it, c->params[p]), sizeof(double) * (size_t)numel(&pd[p].init, 0));
        /* With gradient accumulation a step is `runs` runs of the graph, one micro-batch each; the
         * params move only on the last, and before it stay bit for bit where they were. */
        for (int64_t r = 0; ok && r < runs; r++) {
            for (int p = 0; p < c->num_params; p++) {
                int64_t n = numel(&pd[p].grads, 1);
                const double *grad = (double *)pd[p].grads.data + (s * runs + r) * n;
                assert_true(gc_interp_set_f64(it, pd[p].grad_input, grad, n, &err));
            }
            if (!gc_interp_run(it, &err) || !gc_interp_apply_updates(it, &err)) {
                print_error("%s: step %d: %s\n", c->name, s, err.message);
                ok = false;
                break;
            }
            for (int p = 0; ok && r + 1 < runs && p < c->num_params; p++) {
                ok = compare(c->name, "a param between micro-batches", s, gc_interp_source(it, c->params[p]),
                             before[p], numel(&pd[p].after, 1), 0.0, 0.0);
            }
        }
        if (!ok) break;
        /* The rate is a handful of f32 ops on the step count: a few ulps from Python's double. */
        const double *want_lr = (double *)lr.data + s;
        /* The host's double-precision rate (logs, docs) is torch's to double rounding. */
        double host = gc_schedule_lr(&c->cfg.schedule, c->cfg.lr, s);
        ok = isnan(*want_lr) || compare(c->name, "host lr", s, &host, want_lr, 1, 1e-12, 1e-15);
        ok = ok && (isnan(*want_lr) || compare(c->name, "lr", s, gc_interp_output(it, GC_OUTPUT_VALUE, "lr"), want_lr, 1,
                                         1e-6, 1e-12)) &&
             compare(c->name, "grad_norm", s, gc_interp_output(it, GC_OUTPUT_VALUE, "grad_norm"),
                     (double *)norm.data + s, 1, REL_TOL, ABS_TOL);
        for (int p = 0; ok && p < c->num_params; p++) {
            int64_t n = numel(&pd[p].after, 1);
            ok = compare(c->name, c->params[p], s, gc_interp_source(it, c->params[p]),
                         (double *)pd[p].after.data + s * n, n, REL_TOL, ABS_TOL);
        }
    }
    if (it && ok) ok = compare_state(c, g, it);
    for (int p = 0; p < c->num_params; p++) free(before[p]);
    gc_interp_free(it);
    for (int p = 0; p < MAX_PARAMS; p++) {
        free(pd[p].init.data);
        free(pd[p].grads.data);
        free(pd[p].after.data);
    }
    free(lr.data);
    free(norm.data);
    gc_graph_free(g);
    return ok;
}

typedef bool (*case_filter)(const optim_case *c);

/* Runs the manifest's configurations that pass `want`; fails unless all match torch and there
 * are at least min_cases of them. */
static void run_family(const char *family, case_filter want, int min_cases) {
    char path[1024];
    snprintf(path, sizeof path, "%s/optim/manifest.txt", expected_dir());
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s (the oracle gen_optim.py writes it)", path);
    char line[2048];
    int run = 0, failed = 0;
    while (fgets(line, sizeof line, f)) {
        optim_case c;
        if (!parse_case(line, &c)) {
            fclose(f);
            fail_msg("malformed manifest line: %s", line);
        }
        if (!want(&c)) continue;
        if (c.steps < 30) fail_msg("%s: only %d steps", c.name, c.steps);
        run++;
        if (!run_case(&c)) failed++;
    }
    fclose(f);
    if (failed) fail_msg("%s: %d of %d configurations differ from torch", family, failed, run);
    if (run < min_cases) fail_msg("%s: only %d configurations, expected at least %d", family, run, min_cases);
}

/* The first wave's families: their own optimizer, schedule and options only, so each test below
 * covers one thing (the wave 2 configurations have theirs). */
static bool first_wave(const optim_case *c) {
    const gc_optimizer_config *k = &c->cfg;
    return k->kind <= GC_OPTIMIZER_ADAMW && k->schedule.kind <= GC_SCHEDULE_COSINE && !k->amsgrad &&
           !k->num_freeze && !k->num_lr_scale && k->accumulate <= 1 && k->schedule.warmup_offset == 1;
}
static bool is_sgd(const optim_case *c) { return first_wave(c) && c->cfg.kind == GC_OPTIMIZER_SGD; }
static bool is_adam(const optim_case *c) { return first_wave(c) && c->cfg.kind == GC_OPTIMIZER_ADAM; }
static bool is_adamw(const optim_case *c) { return first_wave(c) && c->cfg.kind == GC_OPTIMIZER_ADAMW; }
static bool has_schedule(const optim_case *c) {
    return first_wave(c) && c->cfg.schedule.kind != GC_SCHEDULE_CONSTANT;
}
static bool has_clip(const optim_case *c) { return c->cfg.clip_grad_norm > 0.0; }
static bool has_no_decay(const optim_case *c) { return c->cfg.num_no_decay > 0; }

static void test_sgd(void **state) { (void)state; run_family("sgd", is_sgd, 9); }
static void test_adam(void **state) { (void)state; run_family("adam", is_adam, 6); }
static void test_adamw(void **state) { (void)state; run_family("adamw", is_adamw, 5); }
static void test_schedules(void **state) { (void)state; run_family("schedules", has_schedule, 5); }
static void test_clip_grad_norm(void **state) { (void)state; run_family("clip_grad_norm", has_clip, 5); }
static void test_no_decay(void **state) { (void)state; run_family("no_decay", has_no_decay, 6); }

/* Wave 2 (issue 16). */
static bool only_kind(const optim_case *c, gc_optimizer_kind kind) {
    return c->cfg.kind == kind && c->cfg.schedule.kind == GC_SCHEDULE_CONSTANT && !c->cfg.num_freeze &&
           !c->cfg.num_lr_scale && c->cfg.accumulate <= 1;
}
static bool is_amsgrad(const optim_case *c) { return c->cfg.amsgrad; }
static bool is_rmsprop(const optim_case *c) { return only_kind(c, GC_OPTIMIZER_RMSPROP); }
static bool is_adagrad(const optim_case *c) { return only_kind(c, GC_OPTIMIZER_ADAGRAD); }
static bool is_adamax(const optim_case *c) { return only_kind(c, GC_OPTIMIZER_ADAMAX); }
static bool is_nadam(const optim_case *c) { return only_kind(c, GC_OPTIMIZER_NADAM); }
static bool is_radam(const optim_case *c) { return only_kind(c, GC_OPTIMIZER_RADAM); }
static bool is_adadelta(const optim_case *c) { return only_kind(c, GC_OPTIMIZER_ADADELTA); }
static bool has_torch_scheduler(const optim_case *c) {
    return (c->cfg.schedule.kind > GC_SCHEDULE_COSINE && c->cfg.schedule.kind != GC_SCHEDULE_ONE_CYCLE) ||
           c->cfg.schedule.warmup_offset != 1;
}
static bool has_one_cycle(const optim_case *c) { return c->cfg.schedule.kind == GC_SCHEDULE_ONE_CYCLE; }
static bool has_freeze(const optim_case *c) { return c->cfg.num_freeze > 0; }
static bool has_lr_scale(const optim_case *c) { return c->cfg.num_lr_scale > 0; }
static bool has_accumulation(const optim_case *c) { return c->cfg.accumulate > 1; }

static void test_amsgrad(void **state) { (void)state; run_family("amsgrad", is_amsgrad, 2); }
static void test_rmsprop(void **state) { (void)state; run_family("rmsprop", is_rmsprop, 4); }
static void test_adagrad(void **state) { (void)state; run_family("adagrad", is_adagrad, 2); }
static void test_adamax(void **state) { (void)state; run_family("adamax", is_adamax, 2); }
static void test_nadam(void **state) { (void)state; run_family("nadam", is_nadam, 2); }
static void test_radam(void **state) { (void)state; run_family("radam", is_radam, 2); }
static void test_adadelta(void **state) { (void)state; run_family("adadelta", is_adadelta, 2); }
static void test_torch_schedulers(void **state) { (void)state; run_family("torch schedulers", has_torch_scheduler, 8); }
static void test_one_cycle(void **state) { (void)state; run_family("one_cycle", has_one_cycle, 12); }
static void test_freeze(void **state) { (void)state; run_family("freeze", has_freeze, 3); }
static void test_lr_scale(void **state) { (void)state; run_family("lr_scale", has_lr_scale, 3); }
static void test_accumulation(void **state) { (void)state; run_family("gradient accumulation", has_accumulation, 3); }

/* --- what the oracle cannot check --- */

static void test_glob(void **state) {
    (void)state;
    assert_true(gc_glob_match("*bias", "h.0.attn.in_proj_bias"));
    assert_true(gc_glob_match("*bias", "bias"));
    assert_false(gc_glob_match("*bias", "h.0.bias_scale"));
    assert_true(gc_glob_match("*norm*", "h.3.layernorm.weight"));
    assert_true(gc_glob_match("wte.*", "wte.weight"));
    assert_false(gc_glob_match("wte.*", "h.0.wte.weight"));
    assert_true(gc_glob_match("h.?.ln_1.*", "h.7.ln_1.bias"));
    assert_false(gc_glob_match("h.?.ln_1.*", "h.10.ln_1.bias"));
    assert_true(gc_glob_match("*", ""));
    assert_true(gc_glob_match("**a*b", "xxaxxbxb"));
    assert_false(gc_glob_match("a*b*c", "abXcY"));
    assert_false(gc_glob_match("", "a"));
    assert_true(gc_glob_match("exact.name", "exact.name"));
}

/* A schedule of the first wave's fields (warmup_offset 1, the default). */
static gc_schedule sched(gc_schedule_kind kind, int64_t every, double gamma, int64_t warmup, int64_t total,
                         double min_lr) {
    gc_schedule s;
    memset(&s, 0, sizeof s);
    s.kind = kind;
    s.every = every;
    s.gamma = gamma;
    s.warmup = warmup;
    s.total = total;
    s.min_lr = min_lr;
    s.warmup_offset = 1;
    return s;
}

static void test_schedule_host(void **state) {
    (void)state;
    gc_schedule s = sched(GC_SCHEDULE_STEP, 5, 0.5, 0, 1, 0.0);
    assert_float_equal(gc_schedule_lr(&s, 0.1, 4), 0.1, 1e-15);
    assert_float_equal(gc_schedule_lr(&s, 0.1, 5), 0.05, 1e-15);
    assert_float_equal(gc_schedule_lr(&s, 0.1, 14), 0.025, 1e-15);
    s = sched(GC_SCHEDULE_LINEAR, 1, 0.1, 4, 14, 0.0);
    assert_float_equal(gc_schedule_lr(&s, 1.0, 0), 0.25, 1e-15);
    assert_float_equal(gc_schedule_lr(&s, 1.0, 3), 1.0, 1e-15);
    assert_float_equal(gc_schedule_lr(&s, 1.0, 4), 1.0, 1e-15);
    assert_float_equal(gc_schedule_lr(&s, 1.0, 9), 0.5, 1e-15);
    assert_float_equal(gc_schedule_lr(&s, 1.0, 20), 0.0, 0.0);
    s = sched(GC_SCHEDULE_COSINE, 1, 0.1, 2, 12, 0.1);
    assert_float_equal(gc_schedule_lr(&s, 1.0, 1), 1.0, 1e-15);
    assert_float_equal(gc_schedule_lr(&s, 1.0, 2), 1.0, 1e-15);
    assert_float_equal(gc_schedule_lr(&s, 1.0, 7), 0.55, 1e-12);
    assert_float_equal(gc_schedule_lr(&s, 1.0, 12), 0.1, 1e-12);
    assert_float_equal(gc_schedule_lr(&s, 1.0, 100), 0.1, 1e-12);
    s = sched(GC_SCHEDULE_CONSTANT, 1, 0.1, 0, 1, 0.0);
    assert_float_equal(gc_schedule_lr(&s, 0.3, 1000), 0.3, 0.0);
}

/* A graph with one param w: f32[2] and its gradient fed as an input. */
static gc_graph *one_param_graph(void) {
    gc_error err = {0};
    gc_graph *g = gc_graph_new("one");
    int64_t dims[] = {2};
    gc_type t = gc_type_make(GC_F32, 1, dims);
    gc_loc loc = {NULL, 0, 0};
    gc_node *w = gc_graph_make(g, GC_OP_PARAM, NULL, 0, NULL, &t, "w", loc, &err);
    gc_node *gw = gc_graph_make(g, GC_OP_INPUT, NULL, 0, NULL, &t, "gw", loc, &err);
    assert_non_null(w);
    assert_non_null(gw);
    assert_true(gc_graph_add_output(g, GC_OUTPUT_GRAD, "w", gw, &err));
    return g;
}

static void expect_invalid(gc_optimizer_config *cfg, const char *needle) {
    gc_error err = {0};
    gc_graph *g = one_param_graph();
    int nodes = g->num_nodes;
    cfg->loc = (gc_loc){"model.gm", 12, 4};
    assert_false(gc_optimizer_build(g, cfg, &err));
    assert_int_equal(err.code, GC_ERR_USER);
    assert_int_equal(err.line, 12);
    assert_int_equal(err.col, 4);
    if (!strstr(err.message, needle)) fail_msg("message '%s' lacks '%s'", err.message, needle);
    assert_int_equal(g->num_nodes, nodes); /* validation happens before anything is built */
    gc_graph_free(g);
}

static void test_validation(void **state) {
    (void)state;
    gc_optimizer_config cfg;
    gc_optimizer_defaults(&cfg, GC_OPTIMIZER_SGD);
    cfg.lr = -1.0;
    expect_invalid(&cfg, "learning rate");
    gc_optimizer_defaults(&cfg, GC_OPTIMIZER_SGD);
    cfg.nesterov = true;
    expect_invalid(&cfg, "Nesterov");
    gc_optimizer_defaults(&cfg, GC_OPTIMIZER_SGD);
    cfg.momentum = -0.5;
    expect_invalid(&cfg, "momentum");
    gc_optimizer_defaults(&cfg, GC_OPTIMIZER_ADAM);
    cfg.beta2 = 1.0;
    expect_invalid(&cfg, "beta parameter at index 1");
    gc_optimizer_defaults(&cfg, GC_OPTIMIZER_ADAMW);
    cfg.eps = -1e-8;
    expect_invalid(&cfg, "epsilon");
    gc_optimizer_defaults(&cfg, GC_OPTIMIZER_ADAMW);
    cfg.weight_decay = NAN;
    expect_invalid(&cfg, "weight_decay");
    gc_optimizer_defaults(&cfg, GC_OPTIMIZER_ADAM);
    cfg.clip_grad_norm = -1.0;
    expect_invalid(&cfg, "clip_grad_norm");
    gc_optimizer_defaults(&cfg, GC_OPTIMIZER_SGD);
    cfg.schedule = sched(GC_SCHEDULE_STEP, 0, 0.5, 0, 1, 0.0);
    expect_invalid(&cfg, "every");
    cfg.schedule = sched(GC_SCHEDULE_STEP, 3, 0.0, 0, 1, 0.0);
    expect_invalid(&cfg, "gamma");
    cfg.schedule = sched(GC_SCHEDULE_COSINE, 1, 0.1, 10, 5, 0.0);
    expect_invalid(&cfg, "total");
    cfg.schedule = sched(GC_SCHEDULE_LINEAR, 1, 0.1, -1, 5, 0.0);
    expect_invalid(&cfg, "warmup");
    /* Wave 2: options of other optimizers, one_cycle's momentum, the new schedules. */
    gc_optimizer_defaults(&cfg, GC_OPTIMIZER_SGD);
    cfg.amsgrad = true;
    expect_invalid(&cfg, "amsgrad is an option of adam and adamw");
    gc_optimizer_defaults(&cfg, GC_OPTIMIZER_ADAM);
    cfg.centered = true;
    expect_invalid(&cfg, "centered is an option of rmsprop");
    gc_optimizer_defaults(&cfg, GC_OPTIMIZER_ADADELTA);
    cfg.rho = 1.5;
    expect_invalid(&cfg, "rho");
    gc_optimizer_defaults(&cfg, GC_OPTIMIZER_ADAGRAD);
    cfg.lr_decay = -1;
    expect_invalid(&cfg, "lr_decay");
    gc_optimizer_defaults(&cfg, GC_OPTIMIZER_ADAGRAD);
    cfg.schedule = sched(GC_SCHEDULE_ONE_CYCLE, 1, 0.1, 0, 30, 0.0);
    cfg.schedule.max_lr = 0.1;
    cfg.schedule.pct_start = 0.3;
    cfg.schedule.div_factor = 25;
    cfg.schedule.final_div_factor = 1e4;
    cfg.schedule.cycle_momentum = true;
    cfg.schedule.base_momentum = 0.85;
    cfg.schedule.max_momentum = 0.95;
    expect_invalid(&cfg, "no momentum to cycle");
    gc_optimizer_defaults(&cfg, GC_OPTIMIZER_ADAM);
    cfg.schedule = sched(GC_SCHEDULE_ONE_CYCLE, 1, 0.1, 0, 30, 0.0);
    cfg.schedule.max_lr = 0.1;
    cfg.schedule.pct_start = 1.0 / 30.0;
    cfg.schedule.div_factor = 25;
    cfg.schedule.final_div_factor = 1e4;
    expect_invalid(&cfg, "phase 1 empty");
    cfg.schedule.pct_start = 0.3;
    cfg.schedule.cycle_momentum = true;
    cfg.schedule.max_momentum = 1.0;
    expect_invalid(&cfg, "must be below 1");
    gc_optimizer_defaults(&cfg, GC_OPTIMIZER_SGD);
    cfg.schedule = sched(GC_SCHEDULE_COSINE_RESTARTS, 1, 0.1, 0, 1, 0.0);
    expect_invalid(&cfg, "T_0");
    cfg.schedule.t_0 = 3;
    expect_invalid(&cfg, "T_mult");
    cfg.schedule = sched(GC_SCHEDULE_MULTI_STEP, 1, 0.1, 0, 1, 0.0);
    expect_invalid(&cfg, "milestones");
    cfg.schedule = sched(GC_SCHEDULE_POLYNOMIAL, 1, 0.1, 0, 0, 0.0);
    expect_invalid(&cfg, "total");
    cfg.schedule = sched(GC_SCHEDULE_LINEAR, 1, 0.1, 2, 5, 0.0);
    cfg.schedule.warmup_offset = 2;
    expect_invalid(&cfg, "warmup_offset");
    gc_optimizer_defaults(&cfg, GC_OPTIMIZER_SGD);
    cfg.accumulate = -1;
    expect_invalid(&cfg, "gradient_accumulation_steps");
    gc_optimizer_defaults(&cfg, GC_OPTIMIZER_SGD);
    const char *pattern[] = {"w"};
    const double negative[] = {-1.0};
    cfg.lr_scale_patterns = pattern;
    cfg.lr_scale_factors = negative;
    cfg.num_lr_scale = 1;
    expect_invalid(&cfg, "lr_scale");
    /* Patterns that match no parameter, and freezing every parameter. */
    const char *nothing[] = {"nothing.*"};
    gc_optimizer_defaults(&cfg, GC_OPTIMIZER_SGD);
    cfg.freeze = nothing;
    cfg.num_freeze = 1;
    expect_invalid(&cfg, "freeze: pattern 'nothing.*' matches no parameter");
    gc_optimizer_defaults(&cfg, GC_OPTIMIZER_SGD);
    const double ten[] = {10.0};
    cfg.lr_scale_patterns = nothing;
    cfg.lr_scale_factors = ten;
    cfg.num_lr_scale = 1;
    expect_invalid(&cfg, "lr_scale: pattern 'nothing.*' matches no parameter");
    gc_optimizer_defaults(&cfg, GC_OPTIMIZER_SGD);
    cfg.freeze = pattern;
    cfg.num_freeze = 1;
    expect_invalid(&cfg, "every trained parameter is frozen");
    gc_optimizer_defaults(&cfg, GC_OPTIMIZER_SGD);
    const char *empty[] = {""};
    cfg.no_decay = empty;
    cfg.num_no_decay = 1;
    expect_invalid(&cfg, "no_decay");
}

static void test_graph_errors(void **state) {
    (void)state;
    gc_error err = {0};
    gc_optimizer_config cfg;
    gc_optimizer_defaults(&cfg, GC_OPTIMIZER_ADAM);
    cfg.loc = (gc_loc){"model.gm", 9, 1};
    /* No grad outputs: autodiff has not run. */
    gc_graph *g = gc_graph_new("nograd");
    assert_false(gc_optimizer_build(g, &cfg, &err));
    assert_int_equal(err.code, GC_ERR_USER);
    assert_non_null(strstr(err.message, "no grad outputs"));
    assert_int_equal(err.line, 9);
    gc_graph_free(g);
    /* Built twice. */
    g = one_param_graph();
    assert_true(gc_optimizer_build(g, &cfg, &err));
    assert_false(gc_optimizer_build(g, &cfg, &err));
    assert_non_null(strstr(err.message, "already has optimizer state"));
    gc_graph_free(g);
}

static bool has_output(const gc_graph *g, gc_output_kind kind, const char *name) {
    return gc_graph_find_output(g, kind, name) != NULL;
}

static void test_state_names_and_outputs(void **state) {
    (void)state;
    gc_error err = {0};
    gc_optimizer_config cfg;
    gc_optimizer_defaults(&cfg, GC_OPTIMIZER_ADAMW);
    cfg.loc = (gc_loc){"model.gm", 20, 2};
    gc_graph *g = one_param_graph();
    assert_true(gc_optimizer_build(g, &cfg, &err));
    const char *states[] = {"optimizer.w.exp_avg", "optimizer.w.exp_avg_sq", "optimizer.step"};
    for (int i = 0; i < 3; i++) {
        gc_node *s = gc_graph_find_named(g, GC_OP_STATE, states[i]);
        assert_non_null(s);
        assert_int_equal(s->loc.line, 20);
        assert_true(has_output(g, GC_OUTPUT_UPDATE, states[i]));
    }
    assert_int_equal(gc_graph_find_named(g, GC_OP_STATE, "optimizer.step")->type.rank, 0);
    assert_null(gc_graph_find_named(g, GC_OP_STATE, "optimizer.w.momentum_buffer"));
    assert_true(has_output(g, GC_OUTPUT_UPDATE, "w"));
    assert_true(has_output(g, GC_OUTPUT_VALUE, "lr"));
    assert_true(has_output(g, GC_OUTPUT_VALUE, "grad_norm"));
    /* Every node the optimizer made carries the train block's line. */
    for (int i = 2; i < g->num_nodes; i++) assert_int_equal(g->nodes[i]->loc.line, 20);
    gc_graph_free(g);

    /* Plain SGD keeps only the step count; momentum adds the buffer. */
    gc_optimizer_defaults(&cfg, GC_OPTIMIZER_SGD);
    g = one_param_graph();
    assert_true(gc_optimizer_build(g, &cfg, &err));
    assert_null(gc_graph_find_named(g, GC_OP_STATE, "optimizer.w.momentum_buffer"));
    assert_non_null(gc_graph_find_named(g, GC_OP_STATE, "optimizer.step"));
    gc_graph_free(g);
    cfg.momentum = 0.9;
    g = one_param_graph();
    assert_true(gc_optimizer_build(g, &cfg, &err));
    assert_non_null(gc_graph_find_named(g, GC_OP_STATE, "optimizer.w.momentum_buffer"));
    assert_true(has_output(g, GC_OUTPUT_UPDATE, "optimizer.w.momentum_buffer"));
    gc_graph_free(g);
}

/* The training graph prints, parses back and prints identically (inf clamp bounds included). */
static void expect_round_trip(const gc_graph *g) {
    gc_error err = {0};
    char *text = gc_graph_print(g);
    assert_non_null(text);
    gc_graph *back = gc_graph_parse(text, strlen(text), "round_trip.ir", &err);
    if (!back) fail_msg("parse: %s:%d:%d: %s", err.file, err.line, err.col, err.message);
    char *again = gc_graph_print(back);
    assert_non_null(again);
    assert_string_equal(text, again);
    free(again);
    free(text);
    gc_graph_free(back);
}

/* Every wave 2 optimizer and schedule builds a graph that verifies and round-trips through text,
 * with the state names of optimizer.h. */
static void test_wave2_graphs(void **state) {
    (void)state;
    static const struct {
        gc_optimizer_kind kind;
        gc_schedule_kind schedule;
        const char *slots;
    } cases[] = {
        {GC_OPTIMIZER_ADAM, GC_SCHEDULE_ONE_CYCLE, "exp_avg exp_avg_sq max_exp_avg_sq"},
        {GC_OPTIMIZER_SGD, GC_SCHEDULE_ONE_CYCLE, "momentum_buffer"},
        {GC_OPTIMIZER_RMSPROP, GC_SCHEDULE_COSINE_RESTARTS, "square_avg grad_avg momentum_buffer"},
        {GC_OPTIMIZER_ADAGRAD, GC_SCHEDULE_MULTI_STEP, "sum"},
        {GC_OPTIMIZER_ADAMAX, GC_SCHEDULE_POLYNOMIAL, "exp_avg exp_inf"},
        {GC_OPTIMIZER_NADAM, GC_SCHEDULE_EXPONENTIAL, "exp_avg exp_avg_sq mu_product"},
        {GC_OPTIMIZER_RADAM, GC_SCHEDULE_LINEAR, "exp_avg exp_avg_sq"},
        {GC_OPTIMIZER_ADADELTA, GC_SCHEDULE_COSINE, "square_avg acc_delta"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        gc_error err = {0};
        gc_optimizer_config cfg;
        gc_optimizer_defaults(&cfg, cases[i].kind);
        cfg.amsgrad = cases[i].kind == GC_OPTIMIZER_ADAM;
        cfg.centered = cases[i].kind == GC_OPTIMIZER_RMSPROP;
        cfg.momentum = cases[i].kind == GC_OPTIMIZER_RMSPROP ? 0.5 : 0.0;
        cfg.accumulate = i % 2 ? 3 : 1;
        gc_schedule *s = &cfg.schedule;
        *s = sched(cases[i].schedule, 1, 0.5, 2, 20, 0.0);
        s->max_lr = 0.1;
        s->pct_start = 0.3;
        s->div_factor = 25;
        s->final_div_factor = 1e4;
        s->three_phase = i == 0;
        s->cycle_momentum = true;
        s->base_momentum = 0.85;
        s->max_momentum = 0.95;
        s->t_0 = 3;
        s->t_mult = 2;
        s->num_milestones = 2;
        s->milestones[0] = 3;
        s->milestones[1] = 7;
        s->power = 2.0;
        cfg.loc = (gc_loc){"model.gm", 4, 1};
        gc_graph *g = one_param_graph();
        if (!gc_optimizer_build(g, &cfg, &err)) fail_msg("%s: %s", gc_optimizer_kind_name(cases[i].kind), err.message);
        assert_true(gc_graph_verify(g, &err));
        expect_round_trip(g);
        char slots[128];
        snprintf(slots, sizeof slots, "%s", cases[i].slots);
        for (char *save = NULL, *slot = strtok_r(slots, " ", &save); slot; slot = strtok_r(NULL, " ", &save)) {
            char name[160];
            snprintf(name, sizeof name, "optimizer.w.%s", slot);
            if (!gc_graph_find_named(g, GC_OP_STATE, name)) fail_msg("%s has no %s", gc_optimizer_kind_name(cases[i].kind), name);
            assert_true(has_output(g, GC_OUTPUT_UPDATE, name));
        }
        assert_true((gc_graph_find_named(g, GC_OP_STATE, "accumulate.w") != NULL) == (cfg.accumulate > 1));
        assert_true((gc_graph_find_named(g, GC_OP_STATE, "accumulate.count") != NULL) == (cfg.accumulate > 1));
        gc_graph_free(g);
    }
}

/* A whole training step: forward, mse loss, autodiff, Adam with clipping, a cosine schedule and
 * no_decay; the graph verifies and round-trips through text. Fitting y = 3x - 1 must bring the
 * loss down by orders of magnitude. */
static void test_training_loop(void **state) {
    (void)state;
    gc_error err = {0};
    gc_graph *g = gc_graph_new("fit");
    gc_builder b = {g, {NULL, 0, 0}, &err};
    int64_t d8[] = {8, 1}, d1[] = {1};
    gc_type t8 = gc_type_make(GC_F32, 2, d8), t1 = gc_type_make(GC_F32, 1, d1);
    gc_node *x = gc_graph_make(g, GC_OP_INPUT, NULL, 0, NULL, &t8, "x", b.loc, &err);
    gc_node *y = gc_graph_make(g, GC_OP_INPUT, NULL, 0, NULL, &t8, "y", b.loc, &err);
    gc_node *w = gc_graph_make(g, GC_OP_PARAM, NULL, 0, NULL, &t1, "w", b.loc, &err);
    gc_node *bias = gc_graph_make(g, GC_OP_PARAM, NULL, 0, NULL, &t1, "bias", b.loc, &err);
    gc_node *pred = gc_binary(&b, GC_OP_ADD, gc_binary(&b, GC_OP_MUL, x, w), bias);
    gc_node *loss = gc_mse_loss(&b, pred, y, GC_REDUCTION_MEAN);
    assert_non_null(loss);
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "loss", loss, &err));
    assert_true(gc_autodiff(g, &err));
    gc_optimizer_config cfg;
    gc_optimizer_defaults(&cfg, GC_OPTIMIZER_ADAM);
    cfg.lr = 0.1;
    cfg.clip_grad_norm = 5.0;
    cfg.schedule = sched(GC_SCHEDULE_COSINE, 1, 0.1, 5, 200, 0.0);
    cfg.weight_decay = 1e-4;
    const char *no_decay[] = {"bias"};
    cfg.no_decay = no_decay;
    cfg.num_no_decay = 1;
    assert_true(gc_optimizer_build(g, &cfg, &err));
    assert_true(gc_graph_verify(g, &err));
    expect_round_trip(g);
    gc_interp *it = gc_interp_new(g, GC_INTERP_F32, &err);
    assert_non_null(it);
    zero_states(it, g);
    double xs[8], ys[8], zero = 0.0;
    for (int i = 0; i < 8; i++) {
        xs[i] = -1.0 + 0.25 * i;
        ys[i] = 3.0 * xs[i] - 1.0;
    }
    assert_true(gc_interp_set_f64(it, "x", xs, 8, &err));
    assert_true(gc_interp_set_f64(it, "y", ys, 8, &err));
    assert_true(gc_interp_set_f64(it, "w", &zero, 1, &err));
    assert_true(gc_interp_set_f64(it, "bias", &zero, 1, &err));
    double first = 0.0, last = 0.0;
    for (int s = 0; s < 200; s++) {
        assert_true(gc_interp_run(it, &err));
        last = gc_interp_output(it, GC_OUTPUT_VALUE, "loss")[0];
        if (s == 0) first = last;
        assert_true(gc_interp_apply_updates(it, &err));
    }
    assert_true(first > 1.0);
    if (!(last < 1e-3 * first)) fail_msg("loss went from %g to %g", first, last);
    assert_float_equal(gc_interp_source(it, "w")[0], 3.0, 0.05);
    assert_float_equal(gc_interp_source(it, "bias")[0], -1.0, 0.05);
    gc_interp_free(it);
    gc_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd),
        cmocka_unit_test(test_adam),
        cmocka_unit_test(test_adamw),
        cmocka_unit_test(test_schedules),
        cmocka_unit_test(test_clip_grad_norm),
        cmocka_unit_test(test_no_decay),
        cmocka_unit_test(test_amsgrad),
        cmocka_unit_test(test_rmsprop),
        cmocka_unit_test(test_adagrad),
        cmocka_unit_test(test_adamax),
        cmocka_unit_test(test_nadam),
        cmocka_unit_test(test_radam),
        cmocka_unit_test(test_adadelta),
        cmocka_unit_test(test_torch_schedulers),
        cmocka_unit_test(test_one_cycle),
        cmocka_unit_test(test_freeze),
        cmocka_unit_test(test_lr_scale),
        cmocka_unit_test(test_accumulation),
        cmocka_unit_test(test_glob),
        cmocka_unit_test(test_schedule_host),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_graph_errors),
        cmocka_unit_test(test_state_names_and_outputs),
        cmocka_unit_test(test_wave2_graphs),
        cmocka_unit_test(test_training_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
