/* parallel.c: the step's thread pool; see parallel.h. */
#include "runtime/parallel.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>

#include "ir/diag.h"
#include "runtime/clock.h"
#include "runtime/gemm.h"

/* How long a worker spins for the next kernel before it sleeps, and the caller for the workers
 * before it yields its core: about 100 microseconds, longer than the gap between two kernels of a
 * step, short enough that on a busy machine a spinning thread soon gives way to the one it waits
 * for. */
#define SPIN_ROUNDS (1 << 12)

/* Balancing: kernels remembered per pool (a step has a few hundred distinct ones), threads a
 * balanced split is kept for (more share equally), and how the shares move. */
#define BALANCE_SLOTS 2048
#define BALANCE_THREADS 16
/* Parts shorter than this are mostly overhead and timer noise: they teach nothing. */
#define BALANCE_MIN_SECONDS 20e-6
/* Each call moves a kernel's shares this far towards the split that would have evened it out,
 * so one disturbed call moves them little. */
#define BALANCE_RATE 0.25f
/* No part's share falls below this fraction of an even one. */
#define BALANCE_FLOOR 0.25f

typedef struct balance {
    gc_task_fn fn; /* NULL: a free slot */
    float share[BALANCE_THREADS];
} balance;

struct gc_pool {
    int threads;
    pthread_t *workers;
    int started;
    bool balancing;       /* at most BALANCE_THREADS threads and shares not fixed */
    bool own_gemm;        /* gc_sgemm runs gradc's kernel: its results do not depend on the cut */
    float fixed[BALANCE_THREADS]; /* the shares when not balancing (even, or gc_pool_fix_shares's) */
    balance *table;       /* BALANCE_SLOTS entries, open addressing on fn */
    /* The current job; published by bumping `generation` (release), read after seeing it (acquire). */
    gc_task_fn fn;
    char *arena;
    const int64_t *offsets;
    int32_t *cuts;        /* threads + 1 cut points of the current job, 0 to GC_SHARE_ONE */
    double *seconds;      /* each part's time on the current job, written before `pending` drops */
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
        double start = gc_clock_seconds();
        p->fn(p->arena, p->offsets, p->cuts[a->part], p->cuts[a->part + 1]);
        p->seconds[a->part] = gc_clock_seconds() - start;
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
    }
    free(a);
    return NULL;
}

/* Shares gc_pool_fix_shares set for pools made afterwards (count 0: none). */
static double fixed_shares[BALANCE_THREADS];
static int fixed_count;

void gc_pool_fix_shares(const double *shares, int count) {
    fixed_count = 0;
    double sum = 0;
    for (int i = 0; i < count && i < BALANCE_THREADS; i++) sum += shares[i] > 0 ? shares[i] : 0;
    if (count <= 0 || sum <= 0) return;
    for (int i = 0; i < count && i < BALANCE_THREADS; i++) fixed_shares[i] = (shares[i] > 0 ? shares[i] : 0) / sum;
    fixed_count = count < BALANCE_THREADS ? count : BALANCE_THREADS;
}

int gc_pool_resolve_threads(int threads) {
    if (threads > 0) return threads;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online < 1 ? 1 : online > 256 ? 256 : (int)online;
}

gc_pool *gc_pool_new(int threads, gc_error *err) {
    threads = gc_pool_resolve_threads(threads);
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
    p->own_gemm = gc_sgemm_uses_own();
    p->balancing = threads > 1 && threads <= BALANCE_THREADS && fixed_count == 0;
    if (threads <= BALANCE_THREADS)
        for (int i = 0; i < threads; i++)
            p->fixed[i] = fixed_count == threads ? (float)fixed_shares[i] : 1.0f / (float)threads;
    p->cuts = calloc((size_t)threads + 1, sizeof *p->cuts);
    p->seconds = calloc((size_t)threads, sizeof *p->seconds);
    if (!p->cuts || !p->seconds || (p->balancing && !(p->table = calloc(BALANCE_SLOTS, sizeof *p->table)))) {
        gc_pool_free(p);
        return gc_failf(err, GC_ERR_MEMORY, "out of memory"), NULL;
    }
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
    free(p->table);
    free(p->cuts);
    free(p->seconds);
    free(p);
}

int gc_pool_threads(const gc_pool *p) { return p ? p->threads : 1; }

/* The remembered shares of kernel fn, made even on its first call; NULL when the table is full. */
static balance *balance_of(gc_pool *p, gc_task_fn fn) {
    uintptr_t h = (uintptr_t)fn;
    h ^= h >> 17;
    h *= 0x9e3779b97f4a7c15ull;
    for (unsigned probe = 0; probe < BALANCE_SLOTS; probe++) {
        balance *b = &p->table[(h + probe) % BALANCE_SLOTS];
        if (b->fn == fn) return b;
        if (b->fn) continue;
        b->fn = fn;
        for (int i = 0; i < p->threads; i++) b->share[i] = 1.0f / (float)p->threads;
        return b;
    }
    return NULL;
}

/* Cut points from shares summing to about one: monotone, from 0 to exactly GC_SHARE_ONE. */
static void set_cuts(gc_pool *p, const float *share) {
    double at = 0;
    p->cuts[0] = 0;
    for (int i = 1; i < p->threads; i++) {
        at += share[i - 1];
        int32_t c = (int32_t)(at * GC_SHARE_ONE + 0.5);
        c = c < p->cuts[i - 1] ? p->cuts[i - 1] : c > GC_SHARE_ONE ? GC_SHARE_ONE : c;
        p->cuts[i] = c;
    }
    p->cuts[p->threads] = GC_SHARE_ONE;
}

/* After a call: move b's shares towards the split under which every part would have taken as
 * long, each part's speed taken as its share over its time. */
static void rebalance(gc_pool *p, balance *b) {
    int n = p->threads;
    float rate[BALANCE_THREADS], total = 0;
    for (int i = 0; i < n; i++) {
        float share = (float)(p->cuts[i + 1] - p->cuts[i]) / GC_SHARE_ONE;
        if (p->seconds[i] < BALANCE_MIN_SECONDS || share <= 0) return;
        rate[i] = share / (float)p->seconds[i];
        total += rate[i];
    }
    float floor = BALANCE_FLOOR / (float)n, sum = 0;
    for (int i = 0; i < n; i++) {
        float s = b->share[i] + BALANCE_RATE * (rate[i] / total - b->share[i]);
        b->share[i] = s < floor ? floor : s;
        sum += b->share[i];
    }
    for (int i = 0; i < n; i++) b->share[i] /= sum;
}

void gc_pool_run(gc_pool *p, gc_task_fn fn, char *arena, const int64_t *offsets, int32_t flags) {
    if (!p || p->threads <= 1) {
        fn(arena, offsets, 0, GC_SHARE_ONE);
        return;
    }
    /* Only a kernel whose every output is the same bits wherever it is cut may be balanced. */
    bool free_cut = !(flags & GC_TASK_CALLS_BLAS) && (!(flags & GC_TASK_CALLS_GEMM) || p->own_gemm);
    balance *b = p->balancing && free_cut ? balance_of(p, fn) : NULL;
    if (b) set_cuts(p, b->share);
    else if (p->threads <= BALANCE_THREADS) set_cuts(p, p->fixed);
    else
        for (int i = 0; i <= p->threads; i++) p->cuts[i] = (int32_t)((int64_t)GC_SHARE_ONE * i / p->threads);
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
    double start = gc_clock_seconds();
    fn(arena, offsets, p->cuts[0], p->cuts[1]);
    p->seconds[0] = gc_clock_seconds() - start;
    for (int i = 0; atomic_load_explicit(&p->pending, memory_order_acquire) > 0; i++) {
        if (i < SPIN_ROUNDS) cpu_relax();
        else sched_yield();
    }
    if (b) rebalance(p, b);
}
