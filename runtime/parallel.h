/*
 * parallel.h: the one thread pool a step runs on, so both cores work in generated kernels and in
 * GEMMs without two pools fighting over them.
 *
 * A parallel kernel is split statically into one part per thread: the caller's thread runs part
 * 0 and the pool's workers the others. A part is a share of the kernel's work, the fraction
 * [from, to) of GC_SHARE_ONE, which the kernel turns into a run of rows, columns or matrices
 * (codegen/parallel.c). Nothing a kernel computes depends on where its runs are cut: every output
 * element is computed whole by one part, in the same order whatever the part. So the pool may
 * move the cuts, and does: it times every part of every kernel and shifts work towards the
 * threads that finish first, per kernel, because on a VM one core is often slower than the other
 * (on this project's machine one core ran GEMMs 12% slower whenever both were busy). A kernel
 * whose results could depend on the cut (one that calls OpenBLAS, which may block a narrower
 * matrix differently) keeps equal shares. Results are therefore bit-identical from run to run.
 *
 * Workers spin briefly between kernels (a step issues hundreds of them, and waking a sleeping
 * thread costs more than most kernels take), then sleep on a condition variable, so an idle
 * trainer uses no CPU.
 *
 * OpenBLAS is told to use one thread: gradc splits each GEMM across the pool itself
 * (codegen/emit_gemm.c), which is the "one owner of the threads" docs/optimisation.md describes.
 */
#ifndef GC_RUNTIME_PARALLEL_H
#define GC_RUNTIME_PARALLEL_H

#include <stdint.h>

#include "gradc/gradc.h"

typedef struct gc_pool gc_pool;

/* The whole of a kernel's work, as a share: a kernel run alone is called with [0, GC_SHARE_ONE). */
#define GC_SHARE_ONE 65536

/* What generated code hands the pool: one part of a kernel over the arena, whose operands are at
 * `offsets` (bytes from the arena's start, one per operand), covering the share [from, to). */
typedef void (*gc_task_fn)(char *arena, const int64_t *offsets, int32_t from, int32_t to);

/* What generated code tells gc_pool_run about a kernel: whether it calls gc_sgemm, whose results
 * do not depend on the cut only when it runs gradc's own kernel (runtime/gemm.h), and whether it
 * calls OpenBLAS directly. */
#define GC_TASK_CALLS_GEMM 1
#define GC_TASK_CALLS_BLAS 2

/* A pool of `threads` threads in all, the caller's included: 1 has no workers, 0 (or less) one
 * thread per online CPU. */
gc_pool *gc_pool_new(int threads, gc_error *err);
/* The thread count gc_pool_new(threads) gives a pool. */
int gc_pool_resolve_threads(int threads);
void gc_pool_free(gc_pool *pool);
int gc_pool_threads(const gc_pool *pool);

/* Runs fn(arena, offsets, from_p, to_p) for every part p, one per thread, the shares covering
 * [0, GC_SHARE_ONE) in order, and returns when all parts are done. `flags` are GC_TASK_* bits.
 * A NULL pool runs fn(arena, offsets, 0, GC_SHARE_ONE). Called from generated code; not
 * reentrant. */
void gc_pool_run(gc_pool *pool, gc_task_fn fn, char *arena, const int64_t *offsets, int32_t flags);

/* Fixes every kernel's shares of pools created afterwards: `count` fractions, one per thread
 * from the caller's, which are normalised to sum to one; count 0 restores the measured balance.
 * For tests (the cut must not change any bit) and for measuring. */
void gc_pool_fix_shares(const double *shares, int count);

#endif
