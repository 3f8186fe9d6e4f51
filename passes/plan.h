/*
 * plan.h: the arena plan — where each value of a step lives in the one buffer the JIT's kernels
 * work on (an offset per node), with or without reuse of bytes across lifetimes. Pure C over the
 * graph and a fusion partition, so the trainer can report planned memory without LLVM.
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
    int64_t kept_size; /* bytes at the arena's start holding the kept values */
    int64_t size;      /* bytes, a multiple of 64 */
} gc_layout;

/* Every node its own kernel and its own storage. */
int gc_layout_plan(const gc_graph *g, gc_layout *out, gc_error *err);
/* Kernels as a fusion partition gives them (root[i] per node id as gc_fusion.root, or NULL):
 * members other than a root get no storage. With reuse, values the step does not keep (all but
 * sources, outputs and constants) share bytes when their lifetimes do not overlap. */
int gc_layout_plan_fused(const gc_graph *g, const int *root, bool reuse, gc_layout *out, gc_error *err);
void gc_layout_free(gc_layout *layout);

#endif
