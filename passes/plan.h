/*
 * plan.h: the arena plan — where each value of a step lives in the one buffer the JIT's kernels
 * work on (an offset per node), with or without reuse of bytes across lifetimes. Pure C over the
 * graph and a fusion partition, so the trainer can report planned memory without LLVM.
 *
 * In place: an `update` output whose kernel may legally overwrite its param or state is planned
 * in the target's own bytes, so the kernel writes the new value there and no copy follows. Such
 * kernels cannot run in the step proper (a step with a non-finite loss is dropped and must
 * change nothing), so the plan splits the kernels at update_from: the step (gc_step) computes
 * every output that is not an update, and the kernels from update_from on (gc_update) run when
 * updates are applied.
 *
 * Updates in backward (passes/update_order.h, a graph marked updates_in_backward): the step
 * proper ends after the last value output that reads no gradient (the loss, metrics), so
 * backward, the updates and what reads gradients (grad_norm) run in gc_update; with in_place,
 * gradients are not kept past their last reader (their updates), so their bytes are reused and
 * a grad output has no value after the step.
 */
#ifndef GC_PASSES_PLAN_H
#define GC_PASSES_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "ir/graph.h"

/* Where each node's value lives in the arena. Nodes whose value is another node's bytes under a
 * new type (reshape, stop_gradient of a computed value) share that node's offset. */
typedef struct gc_layout {
    int num_nodes;
    int64_t *offsets;  /* bytes from the arena start, per node id (64-byte aligned); -1 for a node
                          computed inside another's kernel, which has no storage */
    bool *aliased;     /* per node: shares the offset of its operand, so has no kernel */
    int *root;         /* per node: the root of the kernel computing it (passes/fuse.h), or NULL
                          when every node is its own kernel */
    bool *kept;        /* per node: its value is still there after the step (without reuse,
                          every node with storage) */
    bool *in_place;    /* per node: an update value planned in its param's or state's bytes (the
                          target's offset); its kernel is at or after update_from */
    int64_t kept_size; /* bytes at the arena's start holding the kept values */
    int64_t size;      /* bytes, a multiple of 64 */
    int update_from;   /* kernels whose root id is >= this run in gc_update, after gc_step (they
                          write params and state in place); num_nodes when none do */
    /* With views: per node, whether it is a strided view of another value's bytes (a slice,
     * permute or reshape read only by matmuls, directly or through other views: self-attention's
     * heads); such a node is aliased, its offset is that of its first element, and strides[id]
     * gives, per dim, the elements between neighbours (NULL entries and strides without views). */
    bool *viewed;
    int64_t (*strides)[GC_MAX_RANK];
    /* With views, the other way: per node, whether it is a matmul that writes its result through
     * strides[id] into another node's bytes (the permute that merges attention's heads, or the
     * concat of the q, k and v gradients), which then has no kernel of its own. */
    bool *strided;
} gc_layout;

typedef struct gc_plan_options {
    bool reuse;    /* values the step does not keep share bytes across lifetimes */
    bool in_place; /* updates go into their targets' bytes where that is legal (plan.c) */
    bool views;    /* slices, permutes and reshapes that only matmuls read are strided views of
                      their operand, with no kernel or bytes of their own (plan.c) */
    bool operand_bytes; /* with reuse: an elementwise kernel writes its result into the bytes of an
                           operand of the same type that dies there (plan.c) */
} gc_plan_options;

/* Every node its own kernel and its own storage. */
int gc_layout_plan(const gc_graph *g, gc_layout *out, gc_error *err);
/* Kernels as a fusion partition gives them (root[i] per node id as gc_fusion.root, or NULL):
 * members other than a root get no storage. With reuse, values the step does not keep (all but
 * sources, outputs and constants) share bytes when their lifetimes do not overlap. */
int gc_layout_plan_fused(const gc_graph *g, const int *root, bool reuse, gc_layout *out, gc_error *err);
/* The same with options (NULL: neither reuse nor in place). Without in_place, update_from is
 * num_nodes and no value is in place, as with the two above. */
int gc_layout_plan_opts(const gc_graph *g, const int *root, const gc_plan_options *opts, gc_layout *out,
                        gc_error *err);
/* The layout a training executor runs (the JIT's and the standalone trainer's): fused kernels
 * (passes/fuse.h), reuse, in-place updates, views and operand bytes. */
int gc_layout_plan_step(const gc_graph *g, gc_layout *out, gc_error *err);
void gc_layout_free(gc_layout *layout);

#endif
