/*
 * losses_internal.h: what losses.c and losses_extra.c share: located errors, type text for
 * messages, reductions and the common argument checks. Not for other modules.
 */
#ifndef GC_PASSES_LOSSES_INTERNAL_H
#define GC_PASSES_LOSSES_INTERNAL_H

#include "passes/losses.h"

/* Fails at the builder's location with "<loss>: <message>". Returns NULL so builders can
 * `return gc_loss_error(...)`. */
gc_node *gc_loss_error(gc_builder *b, const char *loss, const char *fmt, ...) GC_PRINTF(3, 4);

typedef struct gc_loss_type_text {
    char s[96];
} gc_loss_type_text;

/* A node's type as text ("f32[4, 3]"), for messages. */
gc_loss_type_text gc_loss_ty(const gc_node *n);
/* The expected i32 class-index type of a target for x (x's shape less the last axis). */
gc_loss_type_text gc_loss_index_type(const gc_node *x);

/* Reduces over every axis (a scalar passes through), or over the last one. */
gc_node *gc_loss_reduce_all(gc_builder *b, gc_op op, gc_node *x);
gc_node *gc_loss_reduce_last(gc_builder *b, gc_op op, gc_node *x);
/* A rank-0 constant of x's dtype. */
gc_node *gc_loss_scalar(gc_builder *b, const gc_node *x, double v);
/* Applies none / mean / sum; batchmean is an error here. */
gc_node *gc_loss_apply_reduction(gc_builder *b, const char *loss, gc_node *per, gc_reduction r);

/* input and target of one float dtype and one shape. */
bool gc_loss_check_pair(gc_builder *b, const char *loss, const gc_node *input, const gc_node *target);
/* An optional per-element factor that must broadcast to input's shape; NULL passes. */
bool gc_loss_check_factor(gc_builder *b, const char *loss, const char *what, const gc_node *factor,
                          const gc_node *input);
/* True when target is i32 with x's shape less its last axis. */
bool gc_loss_is_index_target(const gc_node *x, const gc_node *target);

#endif
