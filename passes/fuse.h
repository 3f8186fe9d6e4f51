/*
 * fuse.h: kernel fusion as a partition of a graph's nodes into kernels.
 *
 * The partition does not rewrite the graph: it tells the code generator which nodes one kernel
 * computes. Each kernel has a root, the node whose value it stores; the other members are
 * computed inside the root's loop and kept in registers, so they have no storage at all. Which
 * producer may join which consumer's kernel is a table keyed by the two ops' fusion classes
 * (ir/ops.def), see fuse.c. A node that an aliasing reshape or a value or grad output needs is
 * always a root. Otherwise a node whose value a later kernel or an update output also needs may
 * be a member of the first elementwise loop that uses it: that kernel then also stores it (a
 * multi-output kernel, gc_fusion_stored). That is how an optimizer step becomes one pass over its
 * parameter, gradient and moments, and a GEMM's bias add is stored for the backward pass by the
 * kernel that also applies the activation.
 */
#ifndef GC_PASSES_FUSE_H
#define GC_PASSES_FUSE_H

#include "ir/graph.h"

typedef struct gc_fusion {
    int num_nodes;
    int *root;       /* per node id: the root of the kernel computing it (its own id for a root),
                        -1 for named sources, which no kernel computes */
    int num_kernels; /* roots */
    int num_fused;   /* members kept in registers (not roots, not sources) */
} gc_fusion;

/* The most operands from outside a kernel one fused kernel reads, and the most members it also
 * stores. */
#define GC_FUSE_MAX_EXTERNAL 12
#define GC_FUSE_MAX_STORES 3

/* Below this many elements (or multiply-adds) a kernel runs on one thread (codegen/parallel.c):
 * handing a part to a spinning worker costs about a microsecond, and a kernel this small takes a
 * few. Measured on M1 and M2: 8K beats 32K by 2-4% (less serial work while the worker waits).
 * The partition reads it too: an update joins its gradient's one-thread norm sum only when its
 * own kernel would have run on one thread as well (fuse.c, share_kernel). */
#define GC_SPLIT_MIN_WORK 8192

/* Whether node i is a member of another node's kernel that also stores it (a graph output
 * computed inside the loop of the kernel that uses it). root: a partition's root array. */
bool gc_fusion_stored(const gc_graph *g, const int *root, int i);
/* The same for every node at once, in one pass over the graph: stored[i] for each node id
 * (an array of g->num_nodes; all false when root is NULL). */
void gc_fusion_stored_all(const gc_graph *g, const int *root, bool *stored);

/* Partitions g. With `enable` false every node is its own kernel (the unfused partition). */
int gc_fuse_partition(const gc_graph *g, bool enable, gc_fusion *out, gc_error *err);
void gc_fusion_free(gc_fusion *f);

/* g's textual IR with `# kernel R` after each computed node (R: the root of its kernel); the
 * comments keep it parseable. NULL when out of memory; the caller frees. */
char *gc_fusion_print(const gc_graph *g, const gc_fusion *f);
/* The same with what the arena plan `l` (passes/plan.h, planned over the same partition; NULL:
 * none) shares: a root planned in the bytes of a value it reads (an operand that dies there, a
 * param an update overwrites) ends `(in the bytes of %X)`, and a GEMM that adds its product onto
 * such a value `(adds its product onto %X)`. */
struct gc_layout;
char *gc_fusion_print_plan(const gc_graph *g, const gc_fusion *f, const struct gc_layout *l);
/* Graphviz: nodes and edges, each kernel of several nodes a cluster, nodes kept in registers
 * dashed. NULL when out of memory; the caller frees. */
char *gc_fusion_dot(const gc_graph *g, const gc_fusion *f);

#endif
