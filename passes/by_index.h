/*
 * by_index.h: row reductions over a one_hot mask, and sums with a scatter_add, done by index.
 *
 * A cross-entropy (or nll_loss) over class indices picks each row's target with
 * `sum(select(one_hot(t), x, 0))` over the class axis, and autodiff of it gives log_softmax's
 * gradient the row sum `sum(select(one_hot(t), g, 0))` of a value g broadcast along that axis.
 * Both are the same ops over a whole [rows, classes] row for one element of it: on M3's
 * [256, 50257] logits two passes over 49 MiB a step for 256 numbers. This pass, run by the
 * trainer after `simplify,cse,dce`, rewrites such a sum over the last axis alone (zero the
 * constant 0, t with x's shape less the class axis):
 *
 *   - x of the mask's shape: `take(reshape(x, [rows * classes]), index)`, index
 *     `row * classes + t` where t is in [0, classes) and -1 (take reads 0) where it is not;
 *   - x a vector of one value per class (a class weight broadcast over rows): `take(x, t)`;
 *   - x constant along the class axis (its last dim 1, or a scalar): `select(t in range, x, 0)`.
 *
 * The sum adds 0 to the picked element (the others are selected out, NaN or not), so each
 * rewrite gives the same value, except that a picked -0 stays -0 (the sum gave +0). A flat
 * index must fit i32 (rows * classes below 2^31): larger masks are left as they are.
 *
 * An embedding's lookup `take(w, idx)` has the gradient `scatter_add(u, idx)`: zeros of w's
 * type with the rows named added. When that is added to another gradient of w (a head tied to
 * the embedding: its weight gradient, a GEMM), `add(base, scatter_add(u, idx))` becomes
 * `index_add(base, u, idx)`, base with the rows added one by one in index order, which the plan
 * computes in base's bytes (passes/plan.c): no zero-filled [vocab, dim] buffer (M3: 147 MiB
 * written a step) and no pass adding it. A row named k times is now ((base + u_1) + u_2) ... +
 * u_k where it was base + ((u_1 + u_2) + ... + u_k): the same to f32 rounding, and fixed (index
 * order) whatever the threads. A product only the add reads (the head's weight gradient) is
 * moved right before it, where the GEMM that added onto the scatter ran.
 */
#ifndef GC_PASSES_BY_INDEX_H
#define GC_PASSES_BY_INDEX_H

#include "ir/graph.h"

/* Rewrites *graph as above (it is replaced; unchanged when nothing matches) and drops the nodes
 * nothing reads any more. *rewritten, if not NULL, gets the number of sums rewritten. */
int gc_by_index(gc_graph **graph, int *rewritten, gc_error *err);
int gc_pass_by_index(gc_graph **graph, gc_error *err);

#endif
