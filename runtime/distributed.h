/*
 * distributed.h: data-parallel training across processes, on MPI (docs/distributed.md).
 *
 * Everything gradc knows about MPI is behind this interface, in runtime/distributed.c; a build
 * without Open MPI keeps the same functions, and every communicator then has one process.
 *
 * The communicator (gc_communicator in gradc.h) is the process group a trainer trains with. The
 * world one is detected from the environment mpirun gives its processes (OMPI_COMM_WORLD_SIZE,
 * PMIX_RANK, PMI_SIZE): MPI is initialised only when that says there is more than one process,
 * so a plain `gradc train` never touches MPI.
 *
 * Every collective waits with a deadline (gc_communicator_set_timeout; GC_MPI_TIMEOUT seconds in
 * the environment, default 300): a rank that died or hangs turns into an error on the others,
 * never into a hang.
 *
 * The gradient reducer averages gradients across the ranks while backward runs: a training step's
 * hooks (runtime/step_hook.h) hand it each gradient as soon as it is final; gradients are packed
 * into buckets in the order they become final (the same order on every rank, since every rank runs
 * the same code), and each full bucket starts a non-blocking MPI_Iallreduce (sum) that later kernels
 * and hook calls move along; before the first kernel that reads a gradient (clipping, the
 * optimizer) every bucket is waited for, and divided by the number of ranks. A fixed N, model and
 * bucket size give the same buckets, the same MPI algorithm and so the same bits on every run.
 */
#ifndef GC_RUNTIME_DISTRIBUTED_H
#define GC_RUNTIME_DISTRIBUTED_H

#include <stdbool.h>
#include <stddef.h>

#include <gradc/gradc.h>

#include "runtime/step_hook.h"

/* 1 when this gradc was built with MPI. */
bool gc_distributed_available(void);
/* 1 when the environment says this process is one of several launched together (mpirun). */
bool gc_distributed_launched(void);

bool gc_distributed_is_root(const gc_communicator *c);
/* The collective deadline in seconds. */
double gc_distributed_timeout(const gc_communicator *c);

/* Sums count doubles across the ranks, in place; every rank gets the same bits. */
int gc_distributed_sum(gc_communicator *c, double *values, int count, const char *what, gc_error *err);
/* Copies bytes from the root (rank 0) to every rank. */
int gc_distributed_broadcast(gc_communicator *c, void *data, size_t bytes, const char *what, gc_error *err);
/* Returns when every rank has called it. */
int gc_distributed_barrier(gc_communicator *c, const char *what, gc_error *err);
/* Ends every process of the job (MPI_Abort) with exit status `status`; for the gradc command, once
 * it has reported its own error. Returns only without MPI. */
void gc_distributed_abort(gc_communicator *c, int status);

/* ---- the gradient reducer ---- */
typedef struct gc_grad_reducer gc_grad_reducer;

/* bucket_bytes: how many gradient bytes one all-reduce carries at least (the last of a step may
 * carry fewer); 0: GC_MPI_BUCKET_MB in the environment, default 4 MiB. */
gc_grad_reducer *gc_grad_reducer_new(gc_communicator *c, size_t bucket_bytes, gc_error *err);
void gc_grad_reducer_free(gc_grad_reducer *r);
/* The hooks to give the training executor (gc_executor_config.hooks). */
const gc_step_hooks *gc_grad_reducer_hooks(gc_grad_reducer *r);
/* Around each run of the step: begin forgets the last run's buckets' contents; end fails with the
 * error a hook met (a timeout naming the rank). */
void gc_grad_reducer_begin(gc_grad_reducer *r);
/* Instead of begin: a run whose gradients stay this rank's own (a micro-batch accumulated before
 * the update's last, DDP's no_sync); all_reduce_sum values are still summed. */
void gc_grad_reducer_begin_no_sync(gc_grad_reducer *r);
int gc_grad_reducer_end(gc_grad_reducer *r, gc_error *err);
/* Gradient bytes this rank sent into all-reduces in its last run, and the buckets they made. */
int64_t gc_grad_reducer_bytes(const gc_grad_reducer *r);
int gc_grad_reducer_buckets(const gc_grad_reducer *r);
/* Of those buckets, how many started while backward was still computing (the rest started when
 * the first reader of gradients, or the end of the step, waited for them). */
int gc_grad_reducer_overlapped(const gc_grad_reducer *r);
/* Runs begun so far, and in *synced how many of them all-reduced their gradients (the others
 * began with gc_grad_reducer_begin_no_sync). */
int64_t gc_grad_reducer_runs(const gc_grad_reducer *r, int64_t *synced);

#endif
