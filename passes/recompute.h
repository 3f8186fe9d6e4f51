/*
 * recompute.h: activation recomputation (checkpointing) chosen by the compiler to fit a memory
 * budget.
 *
 * A forward value that backward reads is kept from its kernel in the forward pass to its last
 * reader in backward, so at the turn from forward to backward every such value is in memory at
 * once. Recomputing one means: the forward still computes it (for its forward readers), but its
 * backward readers read a second copy, computed again from the same operands right before the
 * first of them needs it (a node marked `recomputed`, printed `recompute` in textual IR). Its
 * bytes are then free from its last forward reader to that point.
 *
 * The copy is the same op with the same attributes over the same values (operands that are
 * themselves recomputed read their own copies), so the fused kernels that compute it are the
 * kernels of the forward, and results are bit-identical to the graph without recompute. What a
 * recomputed value's kernel computes in registers (a fused member without bytes of its own,
 * a GEMM whose epilogue it is) is recomputed with it: reading the forward's copy would give that
 * member bytes and save nothing.
 *
 * Which values: those with bytes of their own in the step's plan (passes/plan.h) that backward
 * reads, ordered by bytes saved per unit of recompute cost (FLOPs, and bytes read and written
 * for memory-bound kernels): elementwise results first, GEMM results last. gc_recompute_fit
 * recomputes the shortest prefix of that order whose planned arena fits the budget (a binary
 * search over the prefix length, planning each candidate graph), so the extra work is the least
 * the order allows.
 */
#ifndef GC_PASSES_RECOMPUTE_H
#define GC_PASSES_RECOMPUTE_H

#include <stdbool.h>
#include <stdint.h>

#include "ir/graph.h"

typedef struct gc_recompute_report {
    int candidates;            /* forward values with bytes of their own that backward reads */
    int chosen;                /* of them, how many are recomputed */
    int recomputed_nodes;      /* nodes computed again in backward (with fused members and aliases) */
    int64_t recompute_flops;   /* their FLOPs per step (GEMMs 2MNK, other ops one per element) */
    int64_t step_flops;        /* the step's FLOPs without recompute, counted the same way */
    int64_t transient_before;  /* the arena's bytes of values not kept past the step, before... */
    int64_t transient_after;   /* ...and after (the plan's size less its kept region) */
    int64_t transient_min;     /* the smallest found: every candidate recomputed */
    bool fits;                 /* transient_after <= the budget asked for */
} gc_recompute_report;

/* Recomputes in backward the forward values drop[id] marks (with what their kernels compute in
 * registers and the aliases of their bytes, as above); *graph is replaced by the new graph. A
 * value backward does not read, or that is not a computed forward value, is left as it is. */
int gc_recompute_values(gc_graph **graph, const bool *drop, gc_error *err);

/* Recomputes the least (in the order above) that brings the plan's transient bytes
 * (gc_layout_plan_step: size - kept_size) to transient_budget or below. When that cannot be
 * done, *graph is left as it is and report->fits is false (report->transient_min says how close
 * it can get); that is not an error. report may not be NULL. */
int gc_recompute_fit(gc_graph **graph, int64_t transient_budget, gc_recompute_report *report, gc_error *err);

/* FLOPs of one node: 2MNK for a matmul, 2 x output x (kernel volume x input channels / groups)
 * for a convolution and its gradients, one per element read for a reduction, one per element
 * written otherwise; 0 for sources, constants and aliases. */
int64_t gc_node_flops(const gc_node *n);

/* The pass `recompute`: every candidate recomputed (the smallest plan; tests and `gradc opt`). */
int gc_pass_recompute(gc_graph **graph, gc_error *err);

#endif
