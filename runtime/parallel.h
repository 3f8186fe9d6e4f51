/*
 * parallel.h: the one thread pool a step runs on, so both cores work in generated kernels and in
 * GEMMs without two pools fighting over them.
 *
 * A parallel kernel is split statically: part p of P always covers the same rows, so a step gives
 * the same bits on every run at a fixed thread count. The caller's thread runs part 0 and the
 * pool's workers the others. Workers spin briefly between kernels (a step issues hundreds of
 * them, and waking a sleeping thread costs more than most kernels take), then sleep on a
 * condition variable, so an idle trainer uses no CPU.
 *
 * OpenBLAS is told to use one thread: gradc splits each GEMM across the pool itself
 * (codegen/emit_gemm.c), which is the "one owner of the threads" docs/optimisation.md describes.
 */
#ifndef GC_RUNTIME_PARALLEL_H
#define GC_RUNTIME_PARALLEL_H

#include <stdint.h>

#include "gradc/gradc.h"

typedef struct gc_pool gc_pool;

/* What generated code hands the pool: one part of a kernel over the arena, whose operands are at
 * `offsets` (bytes from the arena's start, one per operand). */
typedef void (*gc_task_fn)(char *arena, const int64_t *offsets, int32_t part, int32_t parts);

/* A pool of `threads` threads in all, the caller's included: 1 has no workers, 0 (or less) one
 * thread per online CPU. */
gc_pool *gc_pool_new(int threads, gc_error *err);
void gc_pool_free(gc_pool *pool);
int gc_pool_threads(const gc_pool *pool);

/* Runs fn(arena, offsets, p, P) for every p in [0, P), P the pool's thread count, and returns
 * when all parts are done. A NULL pool runs fn(arena, offsets, 0, 1). Called from generated code;
 * not reentrant. */
void gc_pool_run(gc_pool *pool, gc_task_fn fn, char *arena, const int64_t *offsets);

#endif
