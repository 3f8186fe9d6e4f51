/*
 * layers_norm.h: normalisation layers — nn.BatchNorm1d/2d, nn.GroupNorm and LLaMA's RMSNorm —
 * lowered to primitive IR ops (mean, sub, mul, rsqrt, ...), so autodiff and fusion see nothing
 * special.
 *
 * Batch norm keeps buffers (running_mean, running_var, num_batches_tracked): persistent values
 * that are no parameters. Each is a `buffer` source of the graph; the training graph normalises
 * with the batch's statistics and writes each buffer's new value as an `update` output (no
 * gradient, no optimizer state), the eval graph normalises with the running statistics and
 * writes nothing, as a torch module in train() and eval() mode.
 */
#ifndef GC_FRONTEND_LAYERS_NORM_H
#define GC_FRONTEND_LAYERS_NORM_H

#include "frontend/layers.h"

/* The buffer `name` of layer kind `layer`: created with `init` (registered beside the params,
 * so the trainer initialises, saves and loads it), or the existing one of the same kind and
 * type. Returns its current value: the source, or the value an earlier call of the layer wrote
 * in this step (torch updates running statistics in place, so a second call reads the first's). */
gc_node *gc_layer_buffer(gc_layer_context *c, const char *name, const char *layer, const gc_type *t, gc_init init);
/* The buffer's new value after this call: the training step's `update` output of that name. */
int gc_layer_buffer_update(gc_layer_context *c, const char *name, gc_node *value);

/* nn.BatchNorm1d (`layer` "batchnorm1d": x [N, C] or [N, C, L]) and nn.BatchNorm2d
 * ("batchnorm2d": x [N, C, H, W]): statistics over every axis but 1. Training uses the batch mean
 * and biased variance and updates the running statistics with `momentum` (the unbiased variance
 * into running_var) and num_batches_tracked by one; eval uses the running statistics. Training
 * with one value per channel is c->step_error, as torch refuses it in train() mode only. */
gc_node *gc_layer_batchnorm(gc_layer_context *c, const char *layer, const char *path, gc_node *x, double eps,
                            double momentum, bool affine);
/* nn.GroupNorm(groups, C): x [N, C, *], statistics per example over each group of C / groups
 * channels and every further axis; weight and bias [C]. */
gc_node *gc_layer_groupnorm(gc_layer_context *c, const char *path, gc_node *x, int64_t groups, double eps,
                            bool affine);
/* LLaMA's RMSNorm: x * rsqrt(mean(x^2, last axis) + eps) * weight, weight [d] (ones). */
gc_node *gc_layer_rmsnorm(gc_layer_context *c, const char *path, gc_node *x, double eps, bool affine);

#endif
