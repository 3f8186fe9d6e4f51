/*
 * losses_extra.c: the rest of torch.nn.functional's losses (wave 2), lowered to primitive ops like
 * those of losses.c and following torch 1.13's kernels (aten/src/ATen/native/Loss*.cpp and
 * torch/nn/functional.py) term by term, including where torch's gradient takes a side at a kink:
 * clamp_min keeps the gradient at the bound (clamp op), a strict `z > 0` test drops it (relu).
 */
#include <math.h>

#include "passes/losses.h"
#include "passes/losses_internal.h"

static const double pi = 3.14159265358979323846;

static gc_node *sub(gc_builder *b, gc_node *x, gc_node *y) { return gc_binary(b, GC_OP_SUB, x, y); }
static gc_node *mul(gc_builder *b, gc_node *x, gc_node *y) { return gc_binary(b, GC_OP_MUL, x, y); }
static gc_node *add(gc_builder *b, gc_node *x, gc_node *y) { return gc_binary(b, GC_OP_ADD, x, y); }

/* clamp(x, lo, inf): torch's clamp_min, whose gradient passes where x >= lo. */
static gc_node *clamp_min(gc_builder *b, gc_node *x, double lo) {
    if (!x) return NULL;
    gc_attr a = {0};
    a.clamp.lo = lo;
    a.clamp.hi = INFINITY;
    return gc_build(b, GC_OP_CLAMP, &x, 1, &a, NULL);
}

static bool float_input(gc_builder *b, const char *loss, const char *what, const gc_node *x) {
    if (gc_dtype_is_float(x->type.dtype)) return true;
    gc_loss_error(b, loss, "%s must be a float tensor, got %s", what, gc_loss_ty(x).s);
    return false;
}

/* a and b of one float type and shape, with their names for messages. */
static bool same_type(gc_builder *b, const char *loss, const char *an, const gc_node *a, const char *bn,
                      const gc_node *bb) {
    if (!float_input(b, loss, an, a)) return false;
    if (gc_type_equal(&a->type, &bb->type)) return true;
    gc_loss_error(b, loss, "%s %s must have the type of %s %s", bn, gc_loss_ty(bb).s, an, gc_loss_ty(a).s);
    return false;
}

gc_node *gc_huber_loss(gc_builder *b, gc_node *input, gc_node *target, double delta, gc_reduction reduction) {
    static const char *name = "huber_loss";
    if (!input || !target) return NULL;
    if (!gc_loss_check_pair(b, name, input, target)) return NULL;
    if (!(delta > 0.0)) return gc_loss_error(b, name, "delta must be greater than 0, got %g", delta);
    /* torch: |d| < delta ? 0.5 d^2 : delta (|d| - 0.5 delta); at |d| == delta the gradient is
     * delta sign(d) from the second branch, and 0 at d == 0 from the first. */
    gc_node *d = sub(b, input, target);
    gc_node *abs_d = gc_unary(b, GC_OP_ABS, d);
    gc_node *inner = gc_binary(b, GC_OP_LT, abs_d, gc_loss_scalar(b, input, delta));
    gc_node *quad = gc_mul_scalar(b, gc_unary(b, GC_OP_SQUARE, d), 0.5);
    gc_node *lin = gc_mul_scalar(b, gc_add_scalar(b, abs_d, -0.5 * delta), delta);
    return gc_loss_apply_reduction(b, name, gc_select(b, inner, quad, lin), reduction);
}

gc_node *gc_smooth_l1_loss(gc_builder *b, gc_node *input, gc_node *target, double beta, gc_reduction reduction) {
    static const char *name = "smooth_l1_loss";
    if (!input || !target) return NULL;
    if (!gc_loss_check_pair(b, name, input, target)) return NULL;
    if (!(beta >= 0.0)) return gc_loss_error(b, name, "beta must not be negative, got %g", beta);
    if (beta == 0.0) return gc_l1_loss(b, input, target, reduction); /* torch does the same */
    gc_node *d = sub(b, input, target);
    gc_node *abs_d = gc_unary(b, GC_OP_ABS, d);
    gc_node *inner = gc_binary(b, GC_OP_LT, abs_d, gc_loss_scalar(b, input, beta));
    gc_node *quad = gc_mul_scalar(b, gc_unary(b, GC_OP_SQUARE, d), 0.5 / beta);
    gc_node *lin = gc_add_scalar(b, abs_d, -0.5 * beta);
    return gc_loss_apply_reduction(b, name, gc_select(b, inner, quad, lin), reduction);
}

gc_node *gc_soft_margin_loss(gc_builder *b, gc_node *input, gc_node *target, gc_reduction reduction) {
    static const char *name = "soft_margin_loss";
    if (!input || !target) return NULL;
    if (!gc_loss_check_pair(b, name, input, target)) return NULL;
    /* torch computes log1p(exp(-t x)); softplus is the same value without overflow, and its
     * gradient sigmoid(-t x) is torch's z / (1 + z). */
    gc_node *per = gc_unary(b, GC_OP_SOFTPLUS, gc_unary(b, GC_OP_NEG, mul(b, input, target)));
    return gc_loss_apply_reduction(b, name, per, reduction);
}

gc_node *gc_multilabel_soft_margin_loss(gc_builder *b, gc_node *input, gc_node *target, gc_node *weight,
                                        gc_reduction reduction) {
    static const char *name = "multilabel_soft_margin_loss";
    if (!input || !target) return NULL;
    if (!gc_loss_check_pair(b, name, input, target) || !gc_loss_check_factor(b, name, "weight", weight, input))
        return NULL;
    if (input->type.rank < 1) return gc_loss_error(b, name, "input must have a class axis, got %s", gc_loss_ty(input).s);
    gc_node *one = gc_loss_scalar(b, input, 1.0);
    gc_node *pos = mul(b, target, gc_unary(b, GC_OP_LOG_SIGMOID, input));
    gc_node *neg = mul(b, sub(b, one, target), gc_unary(b, GC_OP_LOG_SIGMOID, gc_unary(b, GC_OP_NEG, input)));
    gc_node *per = gc_unary(b, GC_OP_NEG, add(b, pos, neg));
    if (weight) per = mul(b, per, weight);
    per = gc_loss_reduce_last(b, GC_OP_MEAN, per);
    return gc_loss_apply_reduction(b, name, per, reduction);
}

/* input [N, C] or [C] with a class target of the matching shape, for the margin losses. */
static bool check_margin_input(gc_builder *b, const char *loss, const gc_node *input) {
    if (gc_dtype_is_float(input->type.dtype) && (input->type.rank == 1 || input->type.rank == 2)) return true;
    gc_loss_error(b, loss, "input must be float [N, C] or [C], got %s", gc_loss_ty(input).s);
    return false;
}

/* x as [N, C]: a [C] input is one row. */
static gc_node *as_rows(gc_builder *b, gc_node *x) {
    if (!x || x->type.rank == 2) return x;
    int64_t d[2] = {1, x->type.dims[0]};
    return gc_reshape(b, x, 2, d);
}

/* per [N] back to the caller's shape: a scalar when the input was one [C] row. */
static gc_node *per_row_result(gc_builder *b, gc_node *per, int input_rank) {
    if (!per || input_rank == 2) return per;
    return gc_reshape(b, per, 0, NULL);
}

gc_node *gc_multilabel_margin_loss(gc_builder *b, gc_node *input, gc_node *target, gc_reduction reduction) {
    static const char *name = "multilabel_margin_loss";
    if (!input || !target) return NULL;
    if (!check_margin_input(b, name, input)) return NULL;
    gc_type want = input->type;
    want.dtype = GC_I32;
    if (!gc_type_equal(&target->type, &want))
        return gc_loss_error(b, name, "target %s must be i32 class indices of input's shape %s", gc_loss_ty(target).s,
                             gc_loss_ty(input).s);
    int rank = input->type.rank;
    gc_node *x = as_rows(b, input), *t = as_rows(b, target);
    if (!x || !t) return NULL;
    int64_t n = x->type.dims[0], classes = x->type.dims[1];
    gc_node *zero = gc_loss_scalar(b, input, 0.0);
    /* A row's targets are its entries before the first negative one (torch stops there).
     * negatives_upto[k] counts the negative entries at positions <= k: a product with the
     * constant triangle U[m, k] = (m <= k), made from two iotas. */
    int64_t cc[2] = {classes, classes};
    gc_type square = gc_type_make(input->type.dtype, 2, cc);
    gc_attr ax0 = {0}, ax1 = {0};
    ax0.axis.axis = 0;
    ax1.axis.axis = 1;
    gc_node *upper = gc_binary(b, GC_OP_LE, gc_build(b, GC_OP_IOTA, NULL, 0, &ax0, &square),
                               gc_build(b, GC_OP_IOTA, NULL, 0, &ax1, &square));
    gc_node *negative = gc_binary(b, GC_OP_LT, t, gc_scalar(b, GC_I32, 0.0));
    gc_node *upto = gc_matmul(b, negative, upper, false, false);
    int64_t nk1[3] = {n, classes, 1}, n1c[3] = {n, 1, classes};
    gc_node *valid = gc_reshape(b, gc_binary(b, GC_OP_EQ, upto, zero), 3, nk1); /* [N, K, 1] */
    gc_node *hot = gc_one_hot(b, t, classes);                                     /* [N, K, C] */
    /* is_target[n, c]: c is among row n's targets. */
    gc_node *is_target = gc_binary(b, GC_OP_GT, gc_reduce(b, GC_OP_SUM, gc_select(b, valid, hot, zero), 2u, false), zero);
    gc_node *x3 = gc_reshape(b, x, 3, n1c);
    gc_node *x_target = gc_reduce(b, GC_OP_SUM, gc_select(b, hot, x3, zero), 4u, true); /* [N, K, 1] */
    /* z = 1 - x[target k] + x[i], counted only where z > 0 (relu: torch's strict test), for the
     * valid positions k and the classes i that are no target. */
    gc_node *z = gc_unary(b, GC_OP_RELU, add(b, gc_add_scalar(b, gc_unary(b, GC_OP_NEG, x_target), 1.0), x3));
    gc_node *others = gc_reshape(b, gc_add_scalar(b, gc_unary(b, GC_OP_NEG, is_target), 1.0), 3, n1c);
    gc_node *terms = gc_select(b, mul(b, valid, others), z, zero);
    gc_node *per = gc_mul_scalar(b, gc_reduce(b, GC_OP_SUM, terms, 6u, false), 1.0 / (double)classes);
    return gc_loss_apply_reduction(b, name, per_row_result(b, per, rank), reduction);
}

gc_node *gc_multi_margin_loss(gc_builder *b, gc_node *input, gc_node *target, int64_t p, double margin,
                              gc_node *weight, gc_reduction reduction) {
    static const char *name = "multi_margin_loss";
    if (!input || !target) return NULL;
    if (!check_margin_input(b, name, input)) return NULL;
    if (!gc_loss_is_index_target(input, target))
        return gc_loss_error(b, name, "target %s must be class indices %s for input %s", gc_loss_ty(target).s,
                             gc_loss_index_type(input).s, gc_loss_ty(input).s);
    if (p != 1 && p != 2) return gc_loss_error(b, name, "p must be 1 or 2, got %lld", (long long)p);
    int64_t classes = input->type.dims[input->type.rank - 1];
    if (weight && (weight->type.dtype != input->type.dtype || weight->type.rank != 1 || weight->type.dims[0] != classes))
        return gc_loss_error(b, name, "weight %s must be %s[%lld], one factor per class of input %s",
                             gc_loss_ty(weight).s, gc_dtype_name(input->type.dtype), (long long)classes,
                             gc_loss_ty(input).s);
    gc_node *zero = gc_loss_scalar(b, input, 0.0);
    gc_node *hot = gc_one_hot(b, target, classes);
    gc_node *x_target = gc_reduce(b, GC_OP_SUM, gc_select(b, hot, input, zero), 1u << (input->type.rank - 1), true);
    /* torch adds the term only where z > 0 (relu's gradient), and never for i == y. */
    gc_node *z = gc_unary(b, GC_OP_RELU, add(b, gc_add_scalar(b, gc_unary(b, GC_OP_NEG, x_target), margin), input));
    if (p == 2) z = gc_unary(b, GC_OP_SQUARE, z);
    gc_node *per = gc_loss_reduce_last(b, GC_OP_SUM, gc_select(b, hot, zero, z));
    if (weight) per = mul(b, per, gc_loss_reduce_last(b, GC_OP_SUM, gc_select(b, hot, weight, zero)));
    per = gc_mul_scalar(b, per, 1.0 / (double)classes);
    return gc_loss_apply_reduction(b, name, per, reduction);
}

gc_node *gc_margin_ranking_loss(gc_builder *b, gc_node *input1, gc_node *input2, gc_node *target, double margin,
                                gc_reduction reduction) {
    static const char *name = "margin_ranking_loss";
    if (!input1 || !input2 || !target) return NULL;
    if (!same_type(b, name, "input1", input1, "input2", input2) ||
        !same_type(b, name, "input1", input1, "target", target))
        return NULL;
    gc_node *per = gc_add_scalar(b, gc_unary(b, GC_OP_NEG, mul(b, target, sub(b, input1, input2))), margin);
    return gc_loss_apply_reduction(b, name, clamp_min(b, per, 0.0), reduction);
}

gc_node *gc_hinge_embedding_loss(gc_builder *b, gc_node *input, gc_node *target, double margin,
                                 gc_reduction reduction) {
    static const char *name = "hinge_embedding_loss";
    if (!input || !target) return NULL;
    if (!gc_loss_check_pair(b, name, input, target)) return NULL;
    gc_node *zero = gc_loss_scalar(b, input, 0.0);
    gc_node *hinge = clamp_min(b, gc_add_scalar(b, gc_unary(b, GC_OP_NEG, input), margin), 0.0);
    gc_node *from_margin = gc_select(b, gc_binary(b, GC_OP_NE, target, gc_loss_scalar(b, input, 1.0)), hinge, zero);
    gc_node *from_self = gc_select(b, gc_binary(b, GC_OP_NE, target, gc_loss_scalar(b, input, -1.0)), input, zero);
    return gc_loss_apply_reduction(b, name, add(b, from_margin, from_self), reduction);
}

/* input1/input2 [N, D] with target [N], or [D] with target []. */
static bool check_embedding_pair(gc_builder *b, const char *loss, const gc_node *x1, const gc_node *x2,
                                 const gc_node *target) {
    if (!same_type(b, loss, "input1", x1, "input2", x2)) return false;
    if (x1->type.rank != 1 && x1->type.rank != 2) {
        gc_loss_error(b, loss, "inputs must be [N, D] or [D], got %s", gc_loss_ty(x1).s);
        return false;
    }
    gc_type want = x1->type;
    want.rank--;
    if (!gc_type_equal(&target->type, &want)) {
        gc_loss_type_text w;
        gc_type_format(&want, w.s, sizeof w.s);
        gc_loss_error(b, loss, "target %s must be %s for inputs %s", gc_loss_ty(target).s, w.s, gc_loss_ty(x1).s);
        return false;
    }
    return true;
}

gc_node *gc_cosine_embedding_loss(gc_builder *b, gc_node *input1, gc_node *input2, gc_node *target,
                                  double margin, gc_reduction reduction) {
    static const char *name = "cosine_embedding_loss";
    if (!input1 || !input2 || !target) return NULL;
    if (!check_embedding_pair(b, name, input1, input2, target)) return NULL;
    const double epsilon = 1e-12; /* torch's EPSILON in cosine_embedding_loss */
    gc_node *prod = gc_loss_reduce_last(b, GC_OP_SUM, mul(b, input1, input2));
    gc_node *mag1 = gc_add_scalar(b, gc_loss_reduce_last(b, GC_OP_SUM, gc_unary(b, GC_OP_SQUARE, input1)), epsilon);
    gc_node *mag2 = gc_add_scalar(b, gc_loss_reduce_last(b, GC_OP_SUM, gc_unary(b, GC_OP_SQUARE, input2)), epsilon);
    gc_node *cos = gc_binary(b, GC_OP_DIV, prod, gc_unary(b, GC_OP_SQRT, mul(b, mag1, mag2)));
    gc_node *zero = gc_loss_scalar(b, input1, 0.0);
    gc_node *pos = gc_add_scalar(b, gc_unary(b, GC_OP_NEG, cos), 1.0);
    gc_node *neg = clamp_min(b, gc_add_scalar(b, cos, -margin), 0.0);
    gc_node *per = add(b, gc_select(b, gc_binary(b, GC_OP_EQ, target, gc_loss_scalar(b, target, 1.0)), pos, zero),
                       gc_select(b, gc_binary(b, GC_OP_EQ, target, gc_loss_scalar(b, target, -1.0)), neg, zero));
    return gc_loss_apply_reduction(b, name, per, reduction);
}

/* torch.pairwise_distance: ||x - y + eps||_p over the last axis. */
static gc_node *pairwise_distance(gc_builder *b, gc_node *x, gc_node *y, double p, double eps) {
    gc_node *d = gc_add_scalar(b, sub(b, x, y), eps);
    if (p == 2.0) return gc_unary(b, GC_OP_SQRT, gc_loss_reduce_last(b, GC_OP_SUM, gc_unary(b, GC_OP_SQUARE, d)));
    gc_node *a = gc_unary(b, GC_OP_ABS, d);
    if (p == 1.0) return gc_loss_reduce_last(b, GC_OP_SUM, a);
    return gc_pow_scalar(b, gc_loss_reduce_last(b, GC_OP_SUM, gc_pow_scalar(b, a, p)), 1.0 / p);
}

gc_node *gc_triplet_margin_loss(gc_builder *b, gc_node *anchor, gc_node *positive, gc_node *negative,
                                double margin, double p, double eps, bool swap, gc_reduction reduction) {
    static const char *name = "triplet_margin_loss";
    if (!anchor || !positive || !negative) return NULL;
    if (!same_type(b, name, "anchor", anchor, "positive", positive) ||
        !same_type(b, name, "anchor", anchor, "negative", negative))
        return NULL;
    if (anchor->type.rank != 1 && anchor->type.rank != 2)
        return gc_loss_error(b, name, "inputs must be [N, D] or [D], got %s", gc_loss_ty(anchor).s);
    if (!(p > 0.0) || isinf(p)) return gc_loss_error(b, name, "p must be a positive finite number, got %g", p);
    gc_node *d_pos = pairwise_distance(b, anchor, positive, p, eps);
    gc_node *d_neg = pairwise_distance(b, anchor, negative, p, eps);
    if (swap) d_neg = gc_binary(b, GC_OP_MINIMUM, d_neg, pairwise_distance(b, positive, negative, p, eps));
    gc_node *per = clamp_min(b, gc_add_scalar(b, sub(b, d_pos, d_neg), margin), 0.0);
    return gc_loss_apply_reduction(b, name, per, reduction);
}

gc_node *gc_poisson_nll_loss(gc_builder *b, gc_node *input, gc_node *target, bool log_input, bool full,
                             double eps, gc_reduction reduction) {
    static const char *name = "poisson_nll_loss";
    if (!input || !target) return NULL;
    if (!gc_loss_check_pair(b, name, input, target)) return NULL;
    gc_node *per;
    if (log_input) per = sub(b, gc_unary(b, GC_OP_EXP, input), mul(b, target, input));
    else per = sub(b, input, mul(b, target, gc_unary(b, GC_OP_LOG, gc_add_scalar(b, input, eps))));
    if (full) {
        /* Stirling: t log t - t + 0.5 log(2 pi t) where t > 1, else 0. t is swapped for 2 where the
         * term is dropped, so no log of 0 or a negative number reaches the value or gradient. */
        gc_node *big = gc_binary(b, GC_OP_GT, target, gc_loss_scalar(b, target, 1.0));
        gc_node *t = gc_select(b, big, target, gc_loss_scalar(b, target, 2.0));
        gc_node *log_t = gc_unary(b, GC_OP_LOG, t);
        gc_node *stirling = add(b, sub(b, mul(b, t, log_t), t),
                                gc_mul_scalar(b, gc_unary(b, GC_OP_LOG, gc_mul_scalar(b, t, 2.0 * pi)), 0.5));
        per = add(b, per, gc_select(b, big, stirling, gc_loss_scalar(b, target, 0.0)));
    }
    return gc_loss_apply_reduction(b, name, per, reduction);
}

gc_node *gc_gaussian_nll_loss(gc_builder *b, gc_node *input, gc_node *target, gc_node *var, bool full,
                              double eps, gc_reduction reduction) {
    static const char *name = "gaussian_nll_loss";
    if (!input || !target || !var) return NULL;
    if (!gc_loss_check_pair(b, name, input, target)) return NULL;
    /* torch: var of input's shape, or of input's shape less the last axis (unsqueezed), or that
     * with a last axis of 1 (one variance per row, broadcast). */
    bool ok = var->type.dtype == input->type.dtype;
    if (ok && !gc_type_equal(&var->type, &input->type)) {
        gc_type less = input->type;
        less.rank--;
        if (input->type.rank >= 1 && gc_type_equal(&var->type, &less)) {
            int64_t dims[GC_MAX_RANK];
            for (int i = 0; i < less.rank; i++) dims[i] = less.dims[i];
            dims[less.rank] = 1;
            var = gc_reshape(b, var, less.rank + 1, dims);
        } else {
            gc_type col = input->type;
            ok = col.rank >= 1;
            if (ok) col.dims[col.rank - 1] = 1;
            ok = ok && gc_type_equal(&var->type, &col);
        }
    }
    if (!ok)
        return gc_loss_error(b, name, "var %s must have input's shape %s, or that shape less or with 1 as its last dim",
                             gc_loss_ty(var).s, gc_loss_ty(input).s);
    if (!(eps >= 0.0)) return gc_loss_error(b, name, "eps must not be negative, got %g", eps);
    /* clamp(var, eps) under torch.no_grad: the value is clamped, the gradient is var's own. */
    gc_node *clamped = clamp_min(b, var, eps);
    gc_node *v = add(b, var, gc_unary(b, GC_OP_STOP_GRADIENT, sub(b, clamped, var)));
    gc_node *sq = gc_binary(b, GC_OP_DIV, gc_unary(b, GC_OP_SQUARE, sub(b, input, target)), v);
    gc_node *per = gc_mul_scalar(b, add(b, gc_unary(b, GC_OP_LOG, v), sq), 0.5);
    if (full) per = gc_add_scalar(b, per, 0.5 * log(2.0 * pi));
    return gc_loss_apply_reduction(b, name, per, reduction);
}
