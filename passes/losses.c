/*
 * losses.c: torch.nn.functional losses lowered to primitive ops; see losses.h.
 *
 * The formulas follow torch 1.13's kernels (aten/src/ATen/native/Loss*.cpp) term by term, so the
 * forward values agree to float32 rounding and autodiff of these formulas gives torch's gradients.
 * Where a term can be 0 * inf (a zero target times log 0, an ignored row), the operands are first
 * replaced through `select`, never multiplied by a 0/1 mask, so neither the value nor the gradient
 * that autodiff derives can become NaN.
 */
#include "passes/losses.h"
#include "passes/losses_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

const char *gc_reduction_name(gc_reduction r) {
    switch (r) {
    case GC_REDUCTION_NONE: return "none";
    case GC_REDUCTION_MEAN: return "mean";
    case GC_REDUCTION_SUM: return "sum";
    case GC_REDUCTION_BATCHMEAN: return "batchmean";
    }
    return "?";
}

bool gc_reduction_from_name(const char *name, gc_reduction *out) {
    static const gc_reduction all[] = {GC_REDUCTION_NONE, GC_REDUCTION_MEAN, GC_REDUCTION_SUM,
                                       GC_REDUCTION_BATCHMEAN};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        const char *s = gc_reduction_name(all[i]);
        size_t k = 0;
        while (s[k] && name[k] == s[k]) k++;
        if (!s[k] && !name[k]) {
            *out = all[i];
            return true;
        }
    }
    return false;
}

/* Fails at the builder's location with "<loss>: <message>" (types enter the message as text from
 * gc_loss_ty()). Returns NULL so builders can `return gc_loss_error(...)`. */
gc_node *gc_loss_error(gc_builder *b, const char *loss, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    gc_fail(b->err, GC_ERR_USER, b->loc, "%s: %s", loss, msg);
    return NULL;
}

gc_loss_type_text gc_loss_ty(const gc_node *n) {
    gc_loss_type_text t;
    gc_type_format(&n->type, t.s, sizeof t.s);
    return t;
}

static uint32_t gc_loss_all_axes(const gc_node *x) { return x->type.rank ? (1u << x->type.rank) - 1u : 0u; }

gc_node *gc_loss_reduce_all(gc_builder *b, gc_op op, gc_node *x) {
    if (!x) return NULL;
    if (x->type.rank == 0) return x;
    return gc_reduce(b, op, x, gc_loss_all_axes(x), false);
}

gc_node *gc_loss_reduce_last(gc_builder *b, gc_op op, gc_node *x) {
    return gc_reduce(b, op, x, 1u << (x->type.rank - 1), false);
}

gc_node *gc_loss_scalar(gc_builder *b, const gc_node *x, double v) {
    return gc_scalar(b, x->type.dtype, v);
}

/* Applies none / mean / sum; batchmean is kl_div's and handled there. */
gc_node *gc_loss_apply_reduction(gc_builder *b, const char *loss, gc_node *per, gc_reduction r) {
    if (!per) return NULL;
    switch (r) {
    case GC_REDUCTION_NONE: return per;
    case GC_REDUCTION_MEAN: return gc_loss_reduce_all(b, GC_OP_MEAN, per);
    case GC_REDUCTION_SUM: return gc_loss_reduce_all(b, GC_OP_SUM, per);
    case GC_REDUCTION_BATCHMEAN: break;
    }
    return gc_loss_error(b, loss, "reduction '%s' is not supported (use none, mean or sum)",
                      gc_reduction_name(r));
}

/* input and target of one float dtype and one shape (mse, l1, bce, kl_div). */
bool gc_loss_check_pair(gc_builder *b, const char *loss, const gc_node *input, const gc_node *target) {
    if (!gc_dtype_is_float(input->type.dtype)) {
        gc_loss_error(b, loss, "input must be a float tensor, got %s", gc_loss_ty(input).s);
        return false;
    }
    if (!gc_type_equal(&input->type, &target->type)) {
        gc_loss_error(b, loss, "target %s must have the type of input %s", gc_loss_ty(target).s, gc_loss_ty(input).s);
        return false;
    }
    return true;
}

/* An optional per-element factor (weight, pos_weight) must broadcast to input's shape. */
bool gc_loss_check_factor(gc_builder *b, const char *loss, const char *what, const gc_node *factor,
                         const gc_node *input) {
    if (!factor) return true;
    if (factor->type.dtype != input->type.dtype || !gc_broadcastable_to(&factor->type, &input->type)) {
        gc_loss_error(b, loss, "%s %s does not broadcast to input %s", what, gc_loss_ty(factor).s, gc_loss_ty(input).s);
        return false;
    }
    return true;
}

gc_node *gc_mse_loss(gc_builder *b, gc_node *input, gc_node *target, gc_reduction reduction) {
    if (!input || !target) return NULL;
    if (!gc_loss_check_pair(b, "mse_loss", input, target)) return NULL;
    gc_node *per = gc_unary(b, GC_OP_SQUARE, gc_binary(b, GC_OP_SUB, input, target));
    return gc_loss_apply_reduction(b, "mse_loss", per, reduction);
}

gc_node *gc_l1_loss(gc_builder *b, gc_node *input, gc_node *target, gc_reduction reduction) {
    if (!input || !target) return NULL;
    if (!gc_loss_check_pair(b, "l1_loss", input, target)) return NULL;
    gc_node *per = gc_unary(b, GC_OP_ABS, gc_binary(b, GC_OP_SUB, input, target));
    return gc_loss_apply_reduction(b, "l1_loss", per, reduction);
}

/* max(log(x), -100): torch clamps the logs so that a probability of exactly 0 or 1 costs 100,
 * not inf. clamp's gradient is 1 inside [lo, hi], which keeps torch's gradient where log x > -100.
 * x == 0 takes the -100 branch of a select over log(1), so its gradient is 0, not 0 * (1 / 0). */
static gc_node *clamped_log(gc_builder *b, gc_node *x) {
    gc_attr a = {0};
    a.clamp.lo = -100.0;
    a.clamp.hi = INFINITY;
    gc_node *nonzero = gc_binary(b, GC_OP_NE, x, gc_loss_scalar(b, x, 0.0));
    gc_node *l = gc_unary(b, GC_OP_LOG, gc_select(b, nonzero, x, gc_loss_scalar(b, x, 1.0)));
    l = gc_build(b, GC_OP_CLAMP, &l, 1, &a, NULL);
    return gc_select(b, nonzero, l, gc_loss_scalar(b, x, -100.0));
}

gc_node *gc_binary_cross_entropy(gc_builder *b, gc_node *input, gc_node *target, gc_node *weight,
                                 gc_reduction reduction) {
    static const char *name = "binary_cross_entropy";
    if (!input || !target) return NULL;
    if (!gc_loss_check_pair(b, name, input, target) || !gc_loss_check_factor(b, name, "weight", weight, input))
        return NULL;
    /* (t - 1) * log(1 - x) - t * log(x), the order of torch's kernel. */
    gc_node *one = gc_loss_scalar(b, input, 1.0);
    gc_node *log_x = clamped_log(b, input);
    gc_node *log_1mx = clamped_log(b, gc_binary(b, GC_OP_SUB, one, input));
    gc_node *per = gc_binary(b, GC_OP_SUB,
                             gc_binary(b, GC_OP_MUL, gc_binary(b, GC_OP_SUB, target, one), log_1mx),
                             gc_binary(b, GC_OP_MUL, target, log_x));
    if (weight) per = gc_binary(b, GC_OP_MUL, per, weight);
    return gc_loss_apply_reduction(b, name, per, reduction);
}

gc_node *gc_binary_cross_entropy_with_logits(gc_builder *b, gc_node *input, gc_node *target,
                                             gc_node *weight, gc_node *pos_weight,
                                             gc_reduction reduction) {
    static const char *name = "binary_cross_entropy_with_logits";
    if (!input || !target) return NULL;
    if (!gc_loss_check_pair(b, name, input, target) || !gc_loss_check_factor(b, name, "weight", weight, input) ||
        !gc_loss_check_factor(b, name, "pos_weight", pos_weight, input))
        return NULL;
    /* torch: (1 - t) x + lw (log(e^-m + e^(-x-m)) + m) with m = max(-x, 0); the bracket is
     * softplus(-x), which the softplus op computes stably. lw = 1 + (pw - 1) t. */
    gc_node *one = gc_loss_scalar(b, input, 1.0);
    gc_node *sp = gc_unary(b, GC_OP_SOFTPLUS, gc_unary(b, GC_OP_NEG, input));
    if (pos_weight) {
        gc_node *lw = gc_binary(b, GC_OP_ADD,
                                gc_binary(b, GC_OP_MUL, gc_binary(b, GC_OP_SUB, pos_weight, one), target),
                                one);
        sp = gc_binary(b, GC_OP_MUL, lw, sp);
    }
    gc_node *per = gc_binary(b, GC_OP_ADD,
                             gc_binary(b, GC_OP_MUL, gc_binary(b, GC_OP_SUB, one, target), input), sp);
    if (weight) per = gc_binary(b, GC_OP_MUL, per, weight);
    return gc_loss_apply_reduction(b, name, per, reduction);
}

/* The class-index path shared by nll_loss and cross_entropy: logp holds log-probabilities with
 * classes last, weight is NULL or one factor per class. Per row:
 * (1 - eps) * -w[t] logp[t] + eps / C * -sum(w logp), 0 where t == ignore_index; the mean divides
 * by the summed w[t] of the rows not ignored (torch's total_weight; their count without weights),
 * NaN when every row is ignored. */
static gc_node *class_index_loss(gc_builder *b, const char *loss, gc_node *logp, gc_node *target, gc_node *weight,
                                 int64_t ignore_index, double smoothing, gc_reduction reduction) {
    int last = logp->type.rank - 1;
    int64_t classes = logp->type.dims[last];
    gc_node *zero = gc_loss_scalar(b, logp, 0.0);
    /* one_hot gives a zero row for indices outside [0, C), ignore_index included, so picking by
     * select reads 0 there instead of an out-of-bounds element. */
    gc_node *hot = gc_one_hot(b, target, classes);
    gc_node *picked = gc_loss_reduce_last(b, GC_OP_SUM, gc_select(b, hot, logp, zero));
    gc_node *per = gc_unary(b, GC_OP_NEG, picked);
    gc_node *row_weight = NULL;
    if (weight) {
        row_weight = gc_loss_reduce_last(b, GC_OP_SUM, gc_select(b, hot, weight, zero));
        per = gc_binary(b, GC_OP_MUL, per, row_weight);
    }
    if (smoothing > 0.0) {
        gc_node *weighted = weight ? gc_binary(b, GC_OP_MUL, logp, weight) : logp;
        gc_node *smooth = gc_unary(b, GC_OP_NEG, gc_loss_reduce_last(b, GC_OP_SUM, weighted));
        per = gc_binary(b, GC_OP_ADD, gc_mul_scalar(b, per, 1.0 - smoothing),
                        gc_mul_scalar(b, smooth, smoothing / (double)classes));
    }
    gc_node *kept;
    if (ignore_index >= INT32_MIN && ignore_index <= INT32_MAX) {
        kept = gc_binary(b, GC_OP_NE, target, gc_scalar(b, GC_I32, (double)ignore_index));
        if (kept && kept->type.dtype != logp->type.dtype) kept = gc_cast(b, kept, logp->type.dtype);
    } else {
        /* torch takes any int64; no i32 target can equal one outside the i32 range. */
        gc_type all = target->type;
        all.dtype = logp->type.dtype;
        kept = gc_fill(b, &all, 1.0);
    }
    per = gc_select(b, kept, per, zero);
    if (reduction == GC_REDUCTION_MEAN) {
        gc_node *total = row_weight ? gc_select(b, kept, row_weight, zero) : kept;
        return gc_binary(b, GC_OP_DIV, gc_loss_reduce_all(b, GC_OP_SUM, per), gc_loss_reduce_all(b, GC_OP_SUM, total));
    }
    return gc_loss_apply_reduction(b, loss, per, reduction);
}

/* weight: NULL, or a float vector of one factor per class (the last axis of input). */
static bool check_class_weight(gc_builder *b, const char *loss, const gc_node *weight, const gc_node *input) {
    if (!weight) return true;
    int64_t classes = input->type.dims[input->type.rank - 1];
    if (weight->type.dtype != input->type.dtype || weight->type.rank != 1 || weight->type.dims[0] != classes) {
        gc_loss_error(b, loss, "weight %s must be %s[%lld], one factor per class of input %s", gc_loss_ty(weight).s,
                      gc_dtype_name(input->type.dtype), (long long)classes, gc_loss_ty(input).s);
        return false;
    }
    return true;
}

/* True when target has the shape of x without its last axis. */
bool gc_loss_is_index_target(const gc_node *x, const gc_node *target) {
    if (target->type.dtype != GC_I32 || target->type.rank != x->type.rank - 1) return false;
    for (int i = 0; i < target->type.rank; i++)
        if (target->type.dims[i] != x->type.dims[i]) return false;
    return true;
}

static bool check_logits(gc_builder *b, const char *loss, const gc_node *x, const char *what) {
    if (!gc_dtype_is_float(x->type.dtype) || x->type.rank < 1) {
        gc_loss_error(b, loss, "input must be float %s with classes on the last axis, got %s", what, gc_loss_ty(x).s);
        return false;
    }
    return true;
}

/* The expected index type of a target for x, for messages. */
gc_loss_type_text gc_loss_index_type(const gc_node *x) {
    gc_type t = x->type;
    t.dtype = GC_I32;
    t.rank--;
    gc_loss_type_text s;
    gc_type_format(&t, s.s, sizeof s.s);
    return s;
}

gc_node *gc_cross_entropy(gc_builder *b, gc_node *input, gc_node *target, int64_t ignore_index,
                          double label_smoothing, gc_reduction reduction) {
    return gc_cross_entropy_weighted(b, input, target, NULL, ignore_index, label_smoothing, reduction);
}

gc_node *gc_cross_entropy_weighted(gc_builder *b, gc_node *input, gc_node *target, gc_node *weight,
                                   int64_t ignore_index, double label_smoothing, gc_reduction reduction) {
    static const char *name = "cross_entropy";
    if (!input || !target) return NULL;
    if (!check_logits(b, name, input, "logits") || !check_class_weight(b, name, weight, input)) return NULL;
    if (!(label_smoothing >= 0.0 && label_smoothing <= 1.0))
        return gc_loss_error(b, name, "label_smoothing must be between 0.0 and 1.0, got %g", label_smoothing);
    bool index = gc_loss_is_index_target(input, target);
    if (!index && !gc_type_equal(&target->type, &input->type))
        return gc_loss_error(b, name,
                          "target %s fits neither class indices %s nor probabilities %s for input %s",
                          gc_loss_ty(target).s, gc_loss_index_type(input).s, gc_loss_ty(input).s, gc_loss_ty(input).s);
    gc_node *logp = gc_axis_op(b, GC_OP_LOG_SOFTMAX, input, input->type.rank - 1);
    if (!logp) return NULL;
    if (index) return class_index_loss(b, name, logp, target, weight, ignore_index, label_smoothing, reduction);

    /* Probabilities: torch smooths the target itself, t (1 - eps) + eps / C, and its mean divides
     * by the number of rows, which is the mean over the per-row losses, weights or not. */
    int64_t classes = input->type.dims[input->type.rank - 1];
    gc_node *t = target;
    if (label_smoothing > 0.0)
        t = gc_add_scalar(b, gc_mul_scalar(b, target, 1.0 - label_smoothing),
                          label_smoothing / (double)classes);
    gc_node *terms = gc_binary(b, GC_OP_MUL, logp, t);
    if (weight) terms = gc_binary(b, GC_OP_MUL, terms, weight);
    gc_node *per = gc_unary(b, GC_OP_NEG, gc_loss_reduce_last(b, GC_OP_SUM, terms));
    return gc_loss_apply_reduction(b, name, per, reduction);
}

gc_node *gc_nll_loss(gc_builder *b, gc_node *input, gc_node *target, int64_t ignore_index,
                     gc_reduction reduction) {
    return gc_nll_loss_weighted(b, input, target, NULL, ignore_index, reduction);
}

gc_node *gc_nll_loss_weighted(gc_builder *b, gc_node *input, gc_node *target, gc_node *weight,
                              int64_t ignore_index, gc_reduction reduction) {
    static const char *name = "nll_loss";
    if (!input || !target) return NULL;
    if (!check_logits(b, name, input, "log-probabilities") || !check_class_weight(b, name, weight, input))
        return NULL;
    if (!gc_loss_is_index_target(input, target))
        return gc_loss_error(b, name, "target %s must be class indices %s for input %s", gc_loss_ty(target).s,
                          gc_loss_index_type(input).s, gc_loss_ty(input).s);
    return class_index_loss(b, name, input, target, weight, ignore_index, 0.0, reduction);
}

gc_node *gc_kl_div(gc_builder *b, gc_node *input, gc_node *target, gc_reduction reduction,
                   bool log_target) {
    static const char *name = "kl_div";
    if (!input || !target) return NULL;
    if (!gc_loss_check_pair(b, name, input, target)) return NULL;
    /* present: the target probability is not 0. Where it is 0 the term is 0, and both operands
     * are swapped for harmless values first so that 0 * log 0 or 0 * -inf never happens, in the
     * value or in the gradient autodiff derives from it. */
    gc_node *zero = gc_loss_scalar(b, input, 0.0), *term;
    if (log_target) {
        gc_node *present = gc_binary(b, GC_OP_GT, target, gc_loss_scalar(b, input, -INFINITY));
        gc_node *t = gc_select(b, present, target, zero);
        gc_node *x = gc_select(b, present, input, zero);
        term = gc_binary(b, GC_OP_MUL, gc_unary(b, GC_OP_EXP, target), gc_binary(b, GC_OP_SUB, t, x));
    } else {
        gc_node *present = gc_binary(b, GC_OP_NE, target, zero);
        gc_node *t = gc_select(b, present, target, gc_loss_scalar(b, input, 1.0));
        gc_node *x = gc_select(b, present, input, zero);
        term = gc_binary(b, GC_OP_MUL, target,
                         gc_binary(b, GC_OP_SUB, gc_unary(b, GC_OP_LOG, t), x));
    }
    if (reduction != GC_REDUCTION_BATCHMEAN) return gc_loss_apply_reduction(b, name, term, reduction);
    gc_node *sum = gc_loss_reduce_all(b, GC_OP_SUM, term);
    if (input->type.rank == 0) return sum;
    return gc_binary(b, GC_OP_DIV, sum, gc_loss_scalar(b, input, (double)input->type.dims[0]));
}

gc_node *gc_accuracy(gc_builder *b, gc_node *logits, gc_node *labels) {
    static const char *name = "accuracy";
    if (!logits || !labels) return NULL;
    if (!check_logits(b, name, logits, "logits")) return NULL;
    if (!gc_loss_is_index_target(logits, labels))
        return gc_loss_error(b, name, "labels %s must be class indices %s for logits %s", gc_loss_ty(labels).s,
                          gc_loss_index_type(logits).s, gc_loss_ty(logits).s);
    gc_node *pred = gc_axis_op(b, GC_OP_ARGMAX, logits, logits->type.rank - 1);
    gc_node *hit = gc_binary(b, GC_OP_EQ, pred, labels);
    return gc_loss_reduce_all(b, GC_OP_MEAN, hit);
}
