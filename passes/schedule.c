/*
 * schedule.c: learning-rate schedules, in the graph and on the host; see optimizer.h.
 *
 * The rate of update s (0-based) is lr * f(s) as the model language's train block defines it. The
 * graph version reads the f32[] step counter the optimizer keeps in state, so a resumed run picks
 * the schedule up where it stopped; the host version, in double, is what logs and tests compare
 * against (and what the PyTorch oracle computes).
 */
#include <math.h>

#include "passes/optimizer.h"

/* M_PI is not in strict C11. */
static const double pi = 3.14159265358979323846;

const char *gc_schedule_kind_name(gc_schedule_kind kind) {
    switch (kind) {
    case GC_SCHEDULE_CONSTANT: return "constant";
    case GC_SCHEDULE_STEP: return "step";
    case GC_SCHEDULE_LINEAR: return "linear";
    case GC_SCHEDULE_COSINE: return "cosine";
    case GC_SCHEDULE_EXPONENTIAL: return "exponential";
    case GC_SCHEDULE_MULTI_STEP: return "multi_step";
    case GC_SCHEDULE_POLYNOMIAL: return "polynomial";
    case GC_SCHEDULE_COSINE_RESTARTS: return "cosine_restarts";
    case GC_SCHEDULE_ONE_CYCLE: return "one_cycle";
    }
    return "?";
}

static bool same_name(const char *a, const char *b) {
    while (*a && *a == *b) a++, b++;
    return *a == *b;
}

bool gc_schedule_kind_from_name(const char *name, gc_schedule_kind *out) {
    for (int k = GC_SCHEDULE_CONSTANT; k <= GC_SCHEDULE_LAST; k++) {
        if (same_name(name, gc_schedule_kind_name((gc_schedule_kind)k))) {
            *out = (gc_schedule_kind)k;
            return true;
        }
    }
    return false;
}

static int one_cycle_ends(const gc_schedule *s, double ends[3]);

int gc_schedule_validate(const gc_schedule *s, gc_loc loc, gc_error *err) {
    const char *name = gc_schedule_kind_name(s->kind);
    switch (s->kind) {
    case GC_SCHEDULE_CONSTANT: return 1;
    case GC_SCHEDULE_STEP:
        if (s->every < 1)
            return gc_fail(err, GC_ERR_USER, loc, "schedule step: every must be at least 1, got %lld",
                           (long long)s->every);
        if (!(s->gamma > 0.0) || !isfinite(s->gamma))
            return gc_fail(err, GC_ERR_USER, loc, "schedule step: gamma must be positive, got %g", s->gamma);
        return 1;
    case GC_SCHEDULE_LINEAR:
    case GC_SCHEDULE_COSINE:
        if (s->warmup < 0)
            return gc_fail(err, GC_ERR_USER, loc, "schedule %s: warmup must be at least 0, got %lld", name,
                           (long long)s->warmup);
        if (s->total < 1 || s->total < s->warmup)
            return gc_fail(err, GC_ERR_USER, loc,
                           "schedule %s: total must be at least 1 and at least warmup (%lld), got %lld", name,
                           (long long)s->warmup, (long long)s->total);
        if (!isfinite(s->min_lr) || s->min_lr < 0.0)
            return gc_fail(err, GC_ERR_USER, loc, "schedule %s: min_lr must be at least 0, got %g", name,
                           s->min_lr);
        if (s->warmup_offset < 0 || s->warmup_offset > 1)
            return gc_fail(err, GC_ERR_USER, loc, "schedule %s: warmup_offset must be 0 or 1, got %lld", name,
                           (long long)s->warmup_offset);
        return 1;
    case GC_SCHEDULE_EXPONENTIAL:
    case GC_SCHEDULE_MULTI_STEP:
        if (!(s->gamma > 0.0) || !isfinite(s->gamma))
            return gc_fail(err, GC_ERR_USER, loc, "schedule %s: gamma must be positive, got %g", name, s->gamma);
        if (s->kind == GC_SCHEDULE_EXPONENTIAL) return 1;
        if (s->num_milestones < 1 || s->num_milestones > GC_SCHEDULE_MAX_MILESTONES)
            return gc_fail(err, GC_ERR_USER, loc, "schedule multi_step: milestones must list 1 to %d update counts",
                           GC_SCHEDULE_MAX_MILESTONES);
        for (int i = 0; i < s->num_milestones; i++)
            if (s->milestones[i] < 0 || s->milestones[i] > (1 << 24))
                return gc_fail(err, GC_ERR_USER, loc, "schedule multi_step: milestone %lld is out of range",
                               (long long)s->milestones[i]);
        return 1;
    case GC_SCHEDULE_POLYNOMIAL:
        if (s->total < 1)
            return gc_fail(err, GC_ERR_USER, loc, "schedule polynomial: total must be at least 1, got %lld",
                           (long long)s->total);
        if (!(s->power >= 0.0) || !isfinite(s->power))
            return gc_fail(err, GC_ERR_USER, loc, "schedule polynomial: power must be at least 0, got %g", s->power);
        return 1;
    case GC_SCHEDULE_COSINE_RESTARTS:
        /* torch's words: "Expected positive integer T_0", "Expected integer T_mult >= 1". */
        if (s->t_0 < 1 || s->t_0 > (1 << 24))
            return gc_fail(err, GC_ERR_USER, loc, "schedule cosine_restarts: expected positive integer T_0, got %lld",
                           (long long)s->t_0);
        if (s->t_mult < 1 || s->t_mult > (1 << 24))
            return gc_fail(err, GC_ERR_USER, loc, "schedule cosine_restarts: expected integer T_mult >= 1, got %lld",
                           (long long)s->t_mult);
        if (!isfinite(s->min_lr) || s->min_lr < 0.0)
            return gc_fail(err, GC_ERR_USER, loc, "schedule cosine_restarts: min_lr must be at least 0, got %g",
                           s->min_lr);
        return 1;
    case GC_SCHEDULE_ONE_CYCLE: {
        if (!(s->max_lr > 0.0) || !isfinite(s->max_lr))
            return gc_fail(err, GC_ERR_USER, loc, "schedule one_cycle: max_lr must be positive, got %g", s->max_lr);
        if (s->total < 1 || s->total > (1 << 24))
            return gc_fail(err, GC_ERR_USER, loc, "schedule one_cycle: total must be a positive integer, got %lld",
                           (long long)s->total);
        if (!(s->pct_start >= 0.0 && s->pct_start <= 1.0))
            return gc_fail(err, GC_ERR_USER, loc,
                           "schedule one_cycle: expected float between 0 and 1 pct_start, but got %g", s->pct_start);
        if (!(s->div_factor > 0.0) || !isfinite(s->div_factor) || !(s->final_div_factor > 0.0) ||
            !isfinite(s->final_div_factor))
            return gc_fail(err, GC_ERR_USER, loc, "schedule one_cycle: div_factor and final_div_factor must be positive");
        double ends[3];
        int n = one_cycle_ends(s, ends);
        double start = 0.0;
        for (int i = 0; i < n; i++) {
            if (!(ends[i] - start != 0.0))
                return gc_fail(err, GC_ERR_USER, loc,
                               "schedule one_cycle: pct_start %g of total %lld leaves phase %d empty (torch divides "
                               "by zero there)", s->pct_start, (long long)s->total, i + 1);
            start = ends[i];
        }
        if (s->cycle_momentum && (!(s->base_momentum >= 0.0) || !(s->max_momentum > 0.0) ||
                                  !isfinite(s->base_momentum) || !isfinite(s->max_momentum)))
            return gc_fail(err, GC_ERR_USER, loc,
                           "schedule one_cycle: cycle_momentum needs base_momentum >= 0 and max_momentum > 0 (or "
                           "cycle_momentum=false)");
        return 1;
    }
    }
    return gc_fail(err, GC_ERR_USER, loc, "unknown schedule kind %d", (int)s->kind);
}

/* OneCycleLR's phase end steps (floats, as torch computes them); returns the number of phases. */
static int one_cycle_ends(const gc_schedule *s, double ends[3]) {
    double total = (double)s->total;
    if (s->three_phase) {
        ends[0] = s->pct_start * total - 1.0;
        ends[1] = 2.0 * s->pct_start * total - 2.0;
        ends[2] = total - 1.0;
        return 3;
    }
    ends[0] = s->pct_start * total - 1.0;
    ends[1] = total - 1.0;
    return 2;
}

/* The decay phase's length; max(1, ...) keeps warmup == total from dividing by zero (the rate is
 * then lr through the warmup and 0, or min_lr, after it). */
static double decay_span(const gc_schedule *s) {
    double span = (double)(s->total - s->warmup);
    return span < 1.0 ? 1.0 : span;
}

/* OneCycleLR's phases: each runs from the previous end (0 for the first) to `end`, annealing the
 * rate from lr0 to lr1 and the momentum from m0 to m1, as torch's _schedule_phases. */
typedef struct cycle_phase {
    double end, lr0, lr1, m0, m1;
} cycle_phase;

static int one_cycle_phases(const gc_schedule *s, cycle_phase ph[3]) {
    double ends[3];
    int n = one_cycle_ends(s, ends);
    double initial = s->max_lr / s->div_factor, final = initial / s->final_div_factor;
    double hi = s->max_momentum, lo = s->base_momentum;
    ph[0] = (cycle_phase){ends[0], initial, s->max_lr, hi, lo};
    if (n == 3) {
        ph[1] = (cycle_phase){ends[1], s->max_lr, initial, lo, hi};
        ph[2] = (cycle_phase){ends[2], initial, final, hi, hi};
    } else {
        ph[1] = (cycle_phase){ends[1], s->max_lr, final, lo, hi};
    }
    return n;
}

/* torch raises past total_steps; gradc keeps the value of update `total` from then on. */
static double one_cycle_host(const gc_schedule *s, int64_t step, bool momentum) {
    cycle_phase ph[3];
    int n = one_cycle_phases(s, ph);
    double t = (double)(step < s->total ? step : s->total), start = 0.0;
    for (int i = 0; i < n; i++) {
        if (t <= ph[i].end || i == n - 1) {
            double pct = (t - start) / (ph[i].end - start);
            double a = momentum ? ph[i].m0 : ph[i].lr0, b = momentum ? ph[i].m1 : ph[i].lr1;
            if (s->anneal_linear) return (b - a) * pct + a;
            return b + (a - b) / 2.0 * (cos(pi * pct) + 1.0);
        }
        start = ph[i].end;
    }
    return NAN;
}

double gc_schedule_momentum(const gc_schedule *s, int64_t step) {
    if (s->kind != GC_SCHEDULE_ONE_CYCLE || !s->cycle_momentum) return NAN;
    return one_cycle_host(s, step, true);
}

double gc_schedule_lr(const gc_schedule *s, double lr, int64_t step) {
    double t = (double)step;
    switch (s->kind) {
    case GC_SCHEDULE_CONSTANT: return lr;
    case GC_SCHEDULE_STEP: return lr * pow(s->gamma, (double)(step / s->every));
    case GC_SCHEDULE_LINEAR:
    case GC_SCHEDULE_COSINE:
        if (step < s->warmup) return lr * (t + (double)s->warmup_offset) / (double)s->warmup;
        if (s->kind == GC_SCHEDULE_LINEAR) return lr * fmax(0.0, ((double)s->total - t) / decay_span(s));
        {
            double p = fmin(fmax((t - (double)s->warmup) / decay_span(s), 0.0), 1.0);
            return s->min_lr + (lr - s->min_lr) * (1.0 + cos(pi * p)) / 2.0;
        }
    case GC_SCHEDULE_EXPONENTIAL: return lr * pow(s->gamma, t);
    case GC_SCHEDULE_MULTI_STEP: {
        int count = 0;
        for (int i = 0; i < s->num_milestones; i++) count += s->milestones[i] <= step;
        return lr * pow(s->gamma, (double)count);
    }
    case GC_SCHEDULE_POLYNOMIAL:
        return lr * pow(1.0 - (double)(step < s->total ? step : s->total) / (double)s->total, s->power);
    case GC_SCHEDULE_COSINE_RESTARTS: {
        int64_t start = 0, period = s->t_0;
        if (s->t_mult == 1) {
            start = step - step % s->t_0;
        } else {
            while (step >= start + period) {
                start += period;
                period *= s->t_mult;
            }
        }
        return s->min_lr + (lr - s->min_lr) * (1.0 + cos(pi * (double)(step - start) / (double)period)) / 2.0;
    }
    case GC_SCHEDULE_ONE_CYCLE: return one_cycle_host(s, step, false);
    }
    return lr;
}

static gc_node *clamp_node(gc_builder *b, gc_node *x, double lo, double hi) {
    gc_attr a = {0};
    a.clamp.lo = lo;
    a.clamp.hi = hi;
    return gc_build(b, GC_OP_CLAMP, &x, 1, &a, NULL);
}

/* (1 + cos(pi p)) / 2 written sin^2(pi q / 2) with q = 1 - p = left / span: accurate in f32 as
 * the factor goes to 0, where 1 + cos(pi p) cancels. */
static gc_node *half_cosine(gc_builder *b, gc_node *left, double span) {
    gc_node *q = gc_mul_scalar(b, left, 1.0 / span);
    return gc_unary(b, GC_OP_SQUARE, gc_unary(b, GC_OP_SIN, gc_mul_scalar(b, q, pi / 2.0)));
}

/* CosineAnnealingWarmRestarts: the period that update s is in starts at `start` and lasts
 * `period`; T_cur = s - start. With T_mult 1 that is s mod T_0; otherwise the periods grow
 * geometrically, so every restart below 2^24 (where the f32 counter stops counting) is one
 * comparison, and the last restart reached picks start and period. */
static gc_node *restarts_build(gc_builder *b, const gc_schedule *s, double lr, gc_node *step) {
    gc_dtype dt = step->type.dtype;
    gc_node *start, *period;
    if (s->t_mult == 1) {
        gc_node *t0 = gc_scalar(b, GC_I32, (double)s->t_0);
        gc_node *k = gc_binary(b, GC_OP_DIV, gc_cast(b, step, GC_I32), t0);
        start = gc_cast(b, gc_binary(b, GC_OP_MUL, k, t0), dt);
        period = gc_scalar(b, dt, (double)s->t_0);
    } else {
        start = gc_scalar(b, dt, 0.0);
        period = gc_scalar(b, dt, (double)s->t_0);
        int64_t at = s->t_0, len = s->t_0 * s->t_mult;
        while (at <= (1 << 24)) {
            gc_node *reached = gc_binary(b, GC_OP_GE, step, gc_scalar(b, dt, (double)at));
            start = gc_select(b, reached, gc_scalar(b, dt, (double)at), start);
            period = gc_select(b, reached, gc_scalar(b, dt, (double)len), period);
            at += len;
            len *= s->t_mult;
        }
    }
    /* 1 - T_cur / T_i = (start + period - s) / period. */
    gc_node *left = gc_binary(b, GC_OP_SUB, gc_binary(b, GC_OP_ADD, start, period), step);
    gc_node *q = gc_binary(b, GC_OP_DIV, left, period);
    gc_node *f = gc_unary(b, GC_OP_SQUARE, gc_unary(b, GC_OP_SIN, gc_mul_scalar(b, q, pi / 2.0)));
    return gc_add_scalar(b, gc_mul_scalar(b, f, lr - s->min_lr), s->min_lr);
}

/* OneCycleLR's rate (or momentum): one anneal per phase, the first phase whose end the step has
 * not passed picks (the last takes the rest, as torch). Past `total` the step is held at total.
 * An anneal from a to e is written a w_a + e w_e with weights that sum to 1 (cos: sin^2(pi q / 2)
 * and sin^2(pi p / 2); linear: q and p), p = (t - start) / span and q = (end - t) / span each
 * computed from the step: torch's e + (a - e) / 2 (cos(pi p) + 1) and (e - a) p + a, in f32,
 * would cancel to a few digits where the rate ends 10^4 below max_lr. */
static gc_node *one_cycle_build(gc_builder *b, const gc_schedule *s, gc_node *step, bool momentum) {
    gc_dtype dt = step->type.dtype;
    cycle_phase ph[3];
    int n = one_cycle_phases(s, ph);
    gc_node *t = gc_binary(b, GC_OP_MINIMUM, step, gc_scalar(b, dt, (double)s->total));
    gc_node *out = NULL;
    for (int i = n - 1; i >= 0; i--) {
        double start = i ? ph[i - 1].end : 0.0, span = ph[i].end - start;
        double a = momentum ? ph[i].m0 : ph[i].lr0, e = momentum ? ph[i].m1 : ph[i].lr1;
        gc_node *done = gc_add_scalar(b, t, -start);
        gc_node *left = gc_binary(b, GC_OP_SUB, gc_scalar(b, dt, ph[i].end), t);
        gc_node *wa, *we;
        if (s->anneal_linear) {
            wa = gc_mul_scalar(b, left, 1.0 / span);
            we = gc_mul_scalar(b, done, 1.0 / span);
        } else {
            wa = half_cosine(b, left, span);
            we = half_cosine(b, done, span);
        }
        gc_node *v = gc_binary(b, GC_OP_ADD, gc_mul_scalar(b, wa, a), gc_mul_scalar(b, we, e));
        out = out ? gc_select(b, gc_binary(b, GC_OP_LE, t, gc_scalar(b, dt, ph[i].end)), v, out) : v;
    }
    return out;
}

gc_node *gc_schedule_momentum_build(gc_builder *b, const gc_schedule *s, gc_node *step) {
    if (!step || s->kind != GC_SCHEDULE_ONE_CYCLE || !s->cycle_momentum) return NULL;
    return one_cycle_build(b, s, step, true);
}

gc_node *gc_schedule_build(gc_builder *b, const gc_schedule *s, double lr, gc_node *step) {
    if (!step) return NULL;
    gc_dtype dt = step->type.dtype;
    switch (s->kind) {
    case GC_SCHEDULE_CONSTANT: return gc_scalar(b, dt, lr);
    case GC_SCHEDULE_STEP: {
        /* floor(s / every) in integers (the counter is a whole number), then gamma^k as
         * exp(k ln gamma): pow's exponent is a compile-time attribute, k is not. */
        gc_node *every = gc_scalar(b, GC_I32, (double)s->every);
        gc_node *k = gc_binary(b, GC_OP_DIV, gc_cast(b, step, GC_I32), every);
        gc_node *f = gc_unary(b, GC_OP_EXP, gc_mul_scalar(b, gc_cast(b, k, dt), log(s->gamma)));
        return gc_mul_scalar(b, f, lr);
    }
    case GC_SCHEDULE_LINEAR:
    case GC_SCHEDULE_COSINE: break;
    case GC_SCHEDULE_EXPONENTIAL:
        return gc_mul_scalar(b, gc_unary(b, GC_OP_EXP, gc_mul_scalar(b, step, log(s->gamma))), lr);
    case GC_SCHEDULE_MULTI_STEP: {
        /* The count of milestones reached, a sum of comparisons (repeats count twice, as torch's
         * Counter does), then gamma^count. */
        gc_node *count = NULL;
        for (int i = 0; i < s->num_milestones; i++) {
            gc_node *hit = gc_cast(b, gc_binary(b, GC_OP_GE, step, gc_scalar(b, dt, (double)s->milestones[i])), dt);
            count = count ? gc_binary(b, GC_OP_ADD, count, hit) : hit;
        }
        return gc_mul_scalar(b, gc_unary(b, GC_OP_EXP, gc_mul_scalar(b, count, log(s->gamma))), lr);
    }
    case GC_SCHEDULE_POLYNOMIAL: {
        gc_node *left = gc_binary(b, GC_OP_SUB, gc_scalar(b, dt, (double)s->total), step);
        gc_node *q = clamp_node(b, gc_mul_scalar(b, left, 1.0 / (double)s->total), 0.0, 1.0);
        return gc_mul_scalar(b, gc_pow_scalar(b, q, s->power), lr);
    }
    case GC_SCHEDULE_COSINE_RESTARTS: return restarts_build(b, s, lr, step);
    case GC_SCHEDULE_ONE_CYCLE: return one_cycle_build(b, s, step, false);
    }
    gc_node *main;
    if (s->kind == GC_SCHEDULE_LINEAR) {
        gc_node *left = gc_binary(b, GC_OP_SUB, gc_scalar(b, dt, (double)s->total), step);
        gc_node *f = gc_binary(b, GC_OP_DIV, left, gc_scalar(b, dt, decay_span(s)));
        f = clamp_node(b, f, 0.0, INFINITY);
        main = gc_mul_scalar(b, f, lr);
    } else {
        /* (1 + cos(pi p)) / 2 = sin^2(pi q / 2) with q = 1 - p. Written with q, counted down from
         * the end in whole steps, the factor stays accurate to a few ulps in f32 all the way to 0,
         * where 1 + cos(pi p) would cancel to a handful of correct digits. */
        double end = (double)s->warmup + decay_span(s);
        gc_node *left = gc_binary(b, GC_OP_SUB, gc_scalar(b, dt, end), step);
        gc_node *q = clamp_node(b, gc_binary(b, GC_OP_DIV, left, gc_scalar(b, dt, decay_span(s))), 0.0, 1.0);
        gc_node *f = gc_unary(b, GC_OP_SQUARE, gc_unary(b, GC_OP_SIN, gc_mul_scalar(b, q, pi / 2.0)));
        main = gc_add_scalar(b, gc_mul_scalar(b, f, lr - s->min_lr), s->min_lr);
    }
    if (s->warmup <= 0) return main;
    gc_node *warm = gc_mul_scalar(b, gc_add_scalar(b, step, (double)s->warmup_offset), lr / (double)s->warmup);
    gc_node *in_warmup = gc_binary(b, GC_OP_LT, step, gc_scalar(b, dt, (double)s->warmup));
    return gc_select(b, in_warmup, warm, main);
}
