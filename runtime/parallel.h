/*
 * parallel.h: the one thread pool a step runs on, so both cores work in generated kernels and in
 * GEMMs without two pools fighting over them.
 *
 * A parallel kernel is cut into chunks, each a share of its work, the fraction [from, to) of
 * GC_SHARE_ONE, which the kernel turns into a run of rows, columns or matrices
 * (codegen/parallel.c). The chunks are not dealt out in advance: the caller's thread claims them
 * one at a time from the left end, the workers from the right end (chunked self-scheduling from
 * both ends), so a thread the OS has descheduled, or one on a slower core, leaves its share to
 * the others instead of holding up the step, and a worker that is asleep or late costs nothing
 * but its absence. On a quiet machine a kernel is one chunk per thread, so each thread runs the
 * same part of every kernel step after step (its data stays in its core's caches) and pays one
 * chunk's start-up a kernel; once a worker has been late the pool cuts kernels finely for a
 * while (parallel.c). Which chunks a thread runs never changes a result: every output element is
 * computed whole by one chunk, in the same order whatever the chunk and wherever the cuts fall.
 * A kernel whose results could depend on the cut (one that calls OpenBLAS, which may block a
 * narrower matrix differently) is cut into the same fixed chunks at every thread count, one
 * thread included, quiet or not. Results are therefore bit-identical from run to run,
 * whatever the schedule, and across thread counts.
 *
 * A thread with nothing to do spins briefly, then yields its core, then sleeps on a futex: a
 * worker between two kernels (a step issues hundreds of them, and most are shorter than a
 * wake-up), the caller waiting for the last chunk a worker holds (asleep, it frees its core for
 * that worker should the OS have parked it behind another process). An idle trainer uses no
 * CPU. A kernel that took less than a wake-up on its last call does not wake sleeping workers,
 * and one that took under 15 microseconds runs on the caller's thread alone.
 *
 * OpenBLAS is told to use one thread: gradc splits each GEMM across the pool itself
 * (codegen/emit_gemm.c), which is the "one owner of the threads" docs/optimisation.md describes.
 */
#ifndef GC_RUNTIME_PARALLEL_H
#define GC_RUNTIME_PARALLEL_H

#include <stdbool.h>
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
/* The kernel's chunks are parts of one gc_sgemm product split by rows (each reads all of B) or
 * by columns (all of A): the chunks of one run share that operand's packing
 * (gc_sgemm_share_begin, runtime/gemm.h). */
#define GC_TASK_GEMM_ROWS 4
#define GC_TASK_GEMM_COLS 8
/* The kernel's chunks are segments of one product split along k (gc_sgemm_ksplit): the chunks
 * of one run are one job, whose last segment adds the partial products up. */
#define GC_TASK_GEMM_KSPLIT 16

/* A pool of `threads` threads in all, the caller's included: 1 has no workers, 0 (or less) one
 * thread per online CPU. */
gc_pool *gc_pool_new(int threads, gc_error *err);
/* The thread count gc_pool_new(threads) gives a pool. */
int gc_pool_resolve_threads(int threads);
void gc_pool_free(gc_pool *pool);
int gc_pool_threads(const gc_pool *pool);

/* Runs fn(arena, offsets, from_c, to_c) for every chunk c, the chunks covering [0, GC_SHARE_ONE)
 * in order, each once, on whichever thread claims it, and returns when all are done. `flags` are
 * GC_TASK_* bits. A NULL pool runs fn(arena, offsets, 0, GC_SHARE_ONE). Called from generated
 * code; not reentrant. */
void gc_pool_run(gc_pool *pool, gc_task_fn fn, char *arena, const int64_t *offsets, int32_t flags);

/* Subnormal floats in compiled code. By default the threads running a step flush them to zero
 * (x86's FTZ and DAZ bits of MXCSR, what torch.set_flush_denormal(True) sets): on some CPUs an
 * operation on a subnormal costs a hundred normal ones, and after a few AdamW steps a model's
 * second moments and gradients hold many. keep = true keeps IEEE behaviour (gc_options). */
void gc_pool_keep_subnormals(gc_pool *pool, bool keep);
/* Whether the environment asks to keep them: GRADC_IEEE_SUBNORMALS set and not "0" (the trainer
 * reads it when it compiles a step; `gradc train --ieee-subnormals` sets it). */
bool gc_pool_env_keeps_subnormals(void);
/* Puts the calling thread in the floating-point mode of `pool`'s compiled code, around a call of
 * it, and returns the mode to restore with gc_pool_leave. The workers take the mode of the
 * thread that calls gc_pool_run, job by job. A NULL pool flushes. */
uint32_t gc_pool_enter(const gc_pool *pool);
void gc_pool_leave(uint32_t saved);

/* Fixes every kernel's chunks in pools created afterwards: `count` fractions (at most 1024), which
 * are normalised to sum to one; count 0 restores the pool's own chunks. For tests (the cut must not
 * change any bit). */
void gc_pool_fix_shares(const double *shares, int count);

#endif
