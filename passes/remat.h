/*
 * remat.h: masks computed again by each reader instead of stored for all of them.
 *
 * A one_hot, and an elementwise value computed from one_hot masks and values much smaller than
 * itself (a row's scalar broadcast along the mask: `select(one_hot(t), g, 0)`), costs a compare
 * or two per element from an index and a few numbers. Stored, it is as large as the logits: a
 * cross-entropy over M3's vocabulary keeps a [tokens, 50257] mask (49 MiB) from the loss to its
 * gradient, and the gradient's `select(one_hot(t), g, 0)` another, beside the log-probabilities.
 * Each reader after a mask's first gets its own copy (and copies of the masks it is made of),
 * placed right before it, so the fusion partition computes each copy inside its reader's kernel
 * (an elementwise loop, or a reduction's prologue) and no mask is stored. The copies are the
 * same ops over the same values: results are bit-identical. They are ordinary nodes (not marked
 * `recompute`): the trainer runs no CSE after this pass, and CSE merging them back (`gradc opt
 * --passes=cse` on printed IR) would only store the mask again.
 */
#ifndef GC_PASSES_REMAT_H
#define GC_PASSES_REMAT_H

#include "ir/graph.h"

/* Rewrites *graph as above (it is replaced; unchanged when there is nothing to copy). *copies, if
 * not NULL, gets the number of nodes copied. */
int gc_remat_masks(gc_graph **graph, int *copies, gc_error *err);
int gc_pass_remat_masks(gc_graph **graph, gc_error *err);

#endif
