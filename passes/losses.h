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

/* -input[..., target] for log-probabilities with classes last; i32 target, ignore_index as above. */
gc_node *gc_nll_loss(gc_builder *b, gc_node *input, gc_node *target, int64_t ignore_index,
                     gc_reduction reduction);

/* target (log target - input), or exp(target) (target - input) with log_target; input holds
 * log-probabilities. Terms whose target probability is 0 are exactly 0 (no NaN, also in the
 * gradient). BATCHMEAN divides the sum by input's first dim (by 1 for a scalar), as torch does. */
gc_node *gc_kl_div(gc_builder *b, gc_node *input, gc_node *target, gc_reduction reduction,
                   bool log_target);

/* The fraction (f32[]) of rows whose first maximal logit (classes last) is at index labels; labels
 * are i32 with logits' shape less the last axis. A metric for outputs: it has no gradient. */
gc_node *gc_accuracy(gc_builder *b, gc_node *logits, gc_node *labels);

#endif
