/*
 * losses.h: the loss functions of the model language, as graph builders.
 *
 * Losses are not ops: each builder here lowers one torch.nn.functional loss to primitive ops of
 * ir/ops.def (log_softmax, one_hot, select, sum, mean, clamp, ...), so autodiff derives their
 * gradients and fusion and codegen see nothing new. Every builder matches its torch twin in
 * argument meaning, defaults and reduction; docs/training.md lists the few places where gradc
 * cannot do what torch does (torch raises on out-of-range class indices at run time, gradc cannot).
 *
 * All builders take the usual gc_builder (graph, location, error slot), return the loss node, and
 * return NULL with b->err set on failure: a NULL operand (an earlier builder failed) passes through,
 * and wrong shapes or dtypes are a GC_ERR_USER error at b->loc naming the loss and the types.
 */
#ifndef GC_PASSES_LOSSES_H
#define GC_PASSES_LOSSES_H

#include <stdbool.h>
#include <stdint.h>

#include "ir/build.h"

/* torch's `reduction` argument. BATCHMEAN is accepted by kl_div only. */
typedef enum gc_reduction {
    GC_REDUCTION_NONE,
    GC_REDUCTION_MEAN,
    GC_REDUCTION_SUM,
    GC_REDUCTION_BATCHMEAN,
} gc_reduction;

/* "none", "mean", "sum", "batchmean". */
const char *gc_reduction_name(gc_reduction r);
bool gc_reduction_from_name(const char *name, gc_reduction *out);

/* torch's default ignore_index for cross_entropy and nll_loss. */
#define GC_IGNORE_INDEX_DEFAULT (-100)

/* (input - target)^2; input and target of one float type and one shape. */
gc_node *gc_mse_loss(gc_builder *b, gc_node *input, gc_node *target, gc_reduction reduction);

/* |input - target|; input and target of one float type and one shape. */
gc_node *gc_l1_loss(gc_builder *b, gc_node *input, gc_node *target, gc_reduction reduction);

/* -w (t log x + (1 - t) log(1 - x)) with each log clamped below at -100 as torch does; input holds
 * probabilities. weight may be NULL; otherwise it broadcasts to input's shape. */
gc_node *gc_binary_cross_entropy(gc_builder *b, gc_node *input, gc_node *target, gc_node *weight,
                                 gc_reduction reduction);

/* w ((1 - t) x + (1 + (pw - 1) t) softplus(-x)), torch's stable form on logits. weight and
 * pos_weight may be NULL; otherwise each broadcasts to input's shape. */
gc_node *gc_binary_cross_entropy_with_logits(gc_builder *b, gc_node *input, gc_node *target,
                                             gc_node *weight, gc_node *pos_weight,
                                             gc_reduction reduction);

/* Logits with classes on the LAST axis. target is either i32 class indices with input's shape less
 * the last axis (targets equal to ignore_index contribute 0 and are left out of the mean), or
 * float probabilities of input's shape (ignore_index unused). label_smoothing in [0, 1]. */
gc_node *gc_cross_entropy(gc_builder *b, gc_node *input, gc_node *target, int64_t ignore_index,
                          double label_smoothing, gc_reduction reduction);

/* cross_entropy with class weights: weight is NULL or [C] (C the last axis of input). With class
 * indices each row counts w[target], and the mean divides by the summed w[target] of the rows not
 * ignored; with probabilities each class term is multiplied by w[c] and the mean is over rows, as
 * torch 1.13. */
gc_node *gc_cross_entropy_weighted(gc_builder *b, gc_node *input, gc_node *target, gc_node *weight,
                                   int64_t ignore_index, double label_smoothing, gc_reduction reduction);

/* -input[..., target] for log-probabilities with classes last; i32 target, ignore_index as above. */
gc_node *gc_nll_loss(gc_builder *b, gc_node *input, gc_node *target, int64_t ignore_index,
                     gc_reduction reduction);

/* nll_loss with class weights (NULL or [C]), the mean dividing by the summed weights as above. */
gc_node *gc_nll_loss_weighted(gc_builder *b, gc_node *input, gc_node *target, gc_node *weight,
                              int64_t ignore_index, gc_reduction reduction);

/* target (log target - input), or exp(target) (target - input) with log_target; input holds
 * log-probabilities. Terms whose target probability is 0 are exactly 0 (no NaN, also in the
 * gradient). BATCHMEAN divides the sum by input's first dim (by 1 for a scalar), as torch does. */
gc_node *gc_kl_div(gc_builder *b, gc_node *input, gc_node *target, gc_reduction reduction,
                   bool log_target);

/* ---- wave 2 (losses_extra.c); each as its torch.nn.functional namesake in torch 1.13 ---------- */

/* 0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta), d = input - target; delta > 0. */
gc_node *gc_huber_loss(gc_builder *b, gc_node *input, gc_node *target, double delta, gc_reduction reduction);
/* 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta; beta >= 0 (0 is l1_loss). */
gc_node *gc_smooth_l1_loss(gc_builder *b, gc_node *input, gc_node *target, double beta, gc_reduction reduction);
/* log(1 + e^(-target input)) elementwise; input and target of one shape. */
gc_node *gc_soft_margin_loss(gc_builder *b, gc_node *input, gc_node *target, gc_reduction reduction);
/* -(t log sigmoid(x) + (1 - t) log sigmoid(-x)) times weight (NULL or broadcasting to input),
 * averaged over the last axis: one value per row before the reduction. */
gc_node *gc_multilabel_soft_margin_loss(gc_builder *b, gc_node *input, gc_node *target, gc_node *weight,
                                        gc_reduction reduction);
/* input [N, C] or [C]; target i32 of the same shape holding class indices up to the first
 * negative entry. Per row: sum over target classes j and non-target classes i of
 * max(0, 1 - (x[j] - x[i])), divided by C. */
gc_node *gc_multilabel_margin_loss(gc_builder *b, gc_node *input, gc_node *target, gc_reduction reduction);
/* input [N, C] or [C]; target i32 [N] or []; p 1 or 2; weight NULL or [C]. Per row: the sum over
 * i != y of w[y] max(0, margin - x[y] + x[i])^p, divided by C. */
gc_node *gc_multi_margin_loss(gc_builder *b, gc_node *input, gc_node *target, int64_t p, double margin,
                              gc_node *weight, gc_reduction reduction);
/* max(0, -target (input1 - input2) + margin); the three of one shape. */
gc_node *gc_margin_ranking_loss(gc_builder *b, gc_node *input1, gc_node *input2, gc_node *target, double margin,
                                gc_reduction reduction);
/* input where target != -1, plus max(0, margin - input) where target != 1. */
gc_node *gc_hinge_embedding_loss(gc_builder *b, gc_node *input, gc_node *target, double margin,
                                 gc_reduction reduction);
/* input1, input2 [N, D] (target [N]) or [D] (target []): 1 - cos where target == 1, max(0, cos -
 * margin) where target == -1, cos with torch's 1e-12 added to each squared norm. */
gc_node *gc_cosine_embedding_loss(gc_builder *b, gc_node *input1, gc_node *input2, gc_node *target,
                                  double margin, gc_reduction reduction);
/* max(0, margin + d(a, p) - d(a, n)), d(x, y) = ||x - y + eps||_p over the last axis (p > 0);
 * swap uses min(d(a, n), d(p, n)) as the negative distance. */
gc_node *gc_triplet_margin_loss(gc_builder *b, gc_node *anchor, gc_node *positive, gc_node *negative,
                                double margin, double p, double eps, bool swap, gc_reduction reduction);
/* e^x - t x (log_input), else x - t log(x + eps); full adds t log t - t + 0.5 log(2 pi t) where t > 1. */
gc_node *gc_poisson_nll_loss(gc_builder *b, gc_node *input, gc_node *target, bool log_input, bool full,
                             double eps, gc_reduction reduction);
/* 0.5 (log v + (x - t)^2 / v) (+ 0.5 log 2 pi when full), v = var clamped below at eps with the
 * gradient of var itself (torch clamps under no_grad). var has input's shape, or input's shape
 * less the last axis, or that with a last axis of 1. */
gc_node *gc_gaussian_nll_loss(gc_builder *b, gc_node *input, gc_node *target, gc_node *var, bool full,
                              double eps, gc_reduction reduction);

/* The fraction (f32[]) of rows whose first maximal logit (classes last) is at index labels; labels
 * are i32 with logits' shape less the last axis. A metric for outputs: it has no gradient. */
gc_node *gc_accuracy(gc_builder *b, gc_node *logits, gc_node *labels);

#endif
