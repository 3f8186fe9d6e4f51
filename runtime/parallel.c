/* parallel.c: the step's thread pool; see parallel.h. */
#include "runtime/parallel.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include <cblas.h>

#include "ir/diag.h"

/* How long a worker spins for the next kernel before it sleeps, and the caller for the workers
 * before it yields its core: about 100 microseconds, longer than the gap between two kernels of a
 * step, short enough that on a busy machine a spinning thread soon gives way to the one it waits
 * for. */
#define SPIN_ROUNDS (1 << 12)

struct gc_pool {
    int threads;
    pthread_t *workers;
    int started;
    /* The current job; published by bumping `generation` (release), read after seeing it (acquire). */
    gc_task_fn fn;
    char *arena;
    const int64_t *offsets;
    atomic_uint_fast64_t generation;
    atomic_int pending; /* workers still running the current job */
    atomic_bool stop;
    atomic_int sleepers;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
};

typedef struct worker_arg {
    gc_pool *pool;
    int part;
} worker_arg;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Waits until the generation moves past `seen`: spinning first, then asleep. */
static uint64_t wait_for_job(gc_pool *p, uint64_t seen) {
    for (int i = 0; i < SPIN_ROUNDS; i++) {
        uint64_t g = atomic_load_explicit(&p->generation, memory_order_acquire);
        if (g != seen || atomic_load_explicit(&p->stop, memory_order_acquire)) return g;
        cpu_relax();
    }
    pthread_mutex_lock(&p->mutex);
    atomic_fetch_add(&p->sleepers, 1);
    uint64_t g;
    /* seq_cst here and in gc_pool_run: a worker going to sleep and a new job cannot miss each other. */
    while ((g = atomic_load(&p->generation)) == seen &&
           !atomic_load_explicit(&p->stop, memory_order_acquire))
        pthread_cond_wait(&p->wake, &p->mutex);
    atomic_fetch_sub(&p->sleepers, 1);
    pthread_mutex_unlock(&p->mutex);
    return g;
}

static void *worker_main(void *raw) {
    worker_arg *a = raw;
    gc_pool *p = a->pool;
    uint64_t seen = 0;
    for (;;) {
        seen = wait_for_job(p, seen);
        if (atomic_load_explicit(&p->stop, memory_order_acquire)) break;
        p->fn(p->arena, p->offsets, a->part, p->threads);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
    }
    free(a);
    return NULL;
}

gc_pool *gc_pool_new(int threads, gc_error *err) {
    if (threads <= 0) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        threads = online < 1 ? 1 : online > 256 ? 256 : (int)online;
    }
    gc_pool *p = calloc(1, sizeof *p);
    if (!p) return gc_failf(err, GC_ERR_MEMORY, "out of memory"), NULL;
    p->threads = threads;
    atomic_init(&p->generation, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->stop, false);
    atomic_init(&p->sleepers, 0);
    pthread_mutex_init(&p->mutex, NULL);
    pthread_cond_init(&p->wake, NULL);
    /* gradc splits GEMMs over this pool itself; OpenBLAS's own threads would only spin against it. */
    openblas_set_num_threads(1);
    if (threads > 1 && !(p->workers = calloc((size_t)threads - 1, sizeof *p->workers))) {
        gc_pool_free(p);
        return gc_failf(err, GC_ERR_MEMORY, "out of memory"), NULL;
    }
    for (int i = 1; i < threads; i++) {
        worker_arg *a = malloc(sizeof *a);
        if (a) *a = (worker_arg){p, i};
        if (!a || pthread_create(&p->workers[i - 1], NULL, worker_main, a) != 0) {
            free(a);
            gc_pool_free(p);
            return gc_failf(err, GC_ERR_MEMORY, "cannot start worker thread %d of %d", i, threads - 1), NULL;
        }
        p->started++;
    }
    return p;
}

void gc_pool_free(gc_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mutex);
    atomic_store_explicit(&p->stop, true, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mutex);
    for (int i = 0; i < p->started; i++) pthread_join(p->workers[i], NULL);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->mutex);
    free(p->workers);
    free(p);
}

int gc_pool_threads(const gc_pool *p) { return p ? p->threads : 1; }

void gc_pool_run(gc_pool *p, gc_task_fn fn, char *arena, const int64_t *offsets) {
    if (!p || p->threads <= 1) {
        fn(arena, offsets, 0, 1);
        return;
    }
    p->fn = fn;
    p->arena = arena;
    p->offsets = offsets;
    atomic_store_explicit(&p->pending, p->threads - 1, memory_order_relaxed);
    atomic_fetch_add(&p->generation, 1);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mutex);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mutex);
    }
    fn(arena, offsets, 0, p->threads);
    for (int i = 0; atomic_load_explicit(&p->pending, memory_order_acquire) > 0; i++) {
        if (i < SPIN_ROUNDS) cpu_relax();
        else sched_yield();
    }
}
