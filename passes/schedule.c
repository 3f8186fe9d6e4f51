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
    }
    return "?";
}

static bool same_name(const char *a, const char *b) {
    while (*a && *a == *b) a++, b++;
    return *a == *b;
}

bool gc_schedule_kind_from_name(const char *name, gc_schedule_kind *out) {
    for (int k = GC_SCHEDULE_CONSTANT; k <= GC_SCHEDULE_COSINE; k++) {
        if (same_name(name, gc_schedule_kind_name((gc_schedule_kind)k))) {
            *out = (gc_schedule_kind)k;
            return true;
        }
    }
    return false;
}

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
        return 1;
    }
    return gc_fail(err, GC_ERR_USER, loc, "unknown schedule kind %d", (int)s->kind);
}

/* The decay phase's length; max(1, ...) keeps warmup == total from dividing by zero (the rate is
 * then lr through the warmup and 0, or min_lr, after it). */
static double decay_span(const gc_schedule *s) {
    double span = (double)(s->total - s->warmup);
    return span < 1.0 ? 1.0 : span;
}

double gc_schedule_lr(const gc_schedule *s, double lr, int64_t step) {
    double t = (double)step;
    switch (s->kind) {
    case GC_SCHEDULE_CONSTANT: return lr;
    case GC_SCHEDULE_STEP: return lr * pow(s->gamma, (double)(step / s->every));
    case GC_SCHEDULE_LINEAR:
    case GC_SCHEDULE_COSINE:
        if (step < s->warmup) return lr * (t + 1.0) / (double)s->warmup;
        if (s->kind == GC_SCHEDULE_LINEAR) return lr * fmax(0.0, ((double)s->total - t) / decay_span(s));
        {
            double p = fmin(fmax((t - (double)s->warmup) / decay_span(s), 0.0), 1.0);
            return s->min_lr + (lr - s->min_lr) * (1.0 + cos(pi * p)) / 2.0;
        }
    }
    return lr;
}

static gc_node *clamp_node(gc_builder *b, gc_node *x, double lo, double hi) {
    gc_attr a = {0};
    a.clamp.lo = lo;
    a.clamp.hi = hi;
    return gc_build(b, GC_OP_CLAMP, &x, 1, &a, NULL);
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
    gc_node *warm = gc_mul_scalar(b, gc_add_scalar(b, step, 1.0), lr / (double)s->warmup);
    gc_node *in_warmup = gc_binary(b, GC_OP_LT, step, gc_scalar(b, dt, (double)s->warmup));
    return gc_select(b, in_warmup, warm, main);
}
