/* parallel.c: the step's thread pool; see parallel.h. */
#define _DEFAULT_SOURCE /* syscall (futex) */
#include "runtime/parallel.h"

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#endif

#include "ir/diag.h"
#include "runtime/clock.h"
#include "runtime/gemm.h"

/* Chunks a kernel is cut into when the cut cannot change a bit. On a quiet machine, one per
 * thread: the caller's at the left end, the workers' at the right, so every thread works on the
 * same part of every kernel's data, step after step (see gc_pool_run). Once a worker has been
 * late (descheduled, or on a slower core) the pool cuts kernels finer for BUSY_HOLD_SECONDS,
 * CHUNKS_PER_THREAD per thread, so a thread that falls behind leaves its chunks to the others.
 * A kernel whose bits depend on the cut always gets FIXED_CHUNKS, whatever the thread count, so
 * 1, 2 or 3 threads compute it the same way. */
#define CHUNKS_PER_THREAD 4
#define FIXED_CHUNKS 4
#define MAX_CHUNKS 1024

/* How long a thread with nothing to do spins before it sleeps. A worker between two kernels:
 * long enough to cover the serial work between the kernels of a step (microseconds), short
 * enough that when the caller is descheduled the worker soon frees its core, onto which the OS
 * can then move the caller. The caller waiting for the chunks workers hold spins for about twice
 * what a chunk of the kernel took last time (the chunk is usually about to finish), at least
 * CALLER_SPIN_SECONDS, then sleeps: a worker still not done was descheduled, and the core the
 * caller frees is where the OS can run it. Each ends its spin with a few sched_yield calls, which
 * cost nothing when no other thread wants the core. */
#define WORKER_SPIN_SECONDS 50e-6
#define CALLER_SPIN_SECONDS 20e-6
#define CALLER_SPIN_MAX_SECONDS 1e-3
#define YIELDS 4

/* A kernel that took less than this on its last call does not wake sleeping workers: the
 * wake-up costs the caller a system call and the worker arrives after the kernel is done. */
#define WAKE_MIN_SECONDS 30e-6
/* A kernel that took less than this on its last call runs on the caller's thread alone: handing
 * out its chunks costs about what a second thread saves, and on a busy machine a worker the OS
 * parks in the middle of one of its chunks would hold up a kernel the caller could have run. */
#define ALONE_MAX_SECONDS 15e-6
#define TIMING_SLOTS 4096

/* A job is late when the caller, done with the chunks it could claim, waited longer than
 * LATE_FRACTION of the job's time (and at least LATE_MIN_SECONDS) for a worker's, or, cut in
 * one chunk per thread, when the workers had finished that long before the caller (the caller
 * was parked; with finer cuts they would have taken its chunks). On a quiet machine the wait is
 * a few microseconds (the halves end together); a thread parked by the OS in the middle of its
 * half holds the job for a time slice (milliseconds). After a late job the
 * pool cuts finely for a while, the hold: BUSY_HOLD_SECONDS after a late job on a quiet machine
 * (a hiccup), twice the last hold, up to BUSY_HOLD_MAX_SECONDS, when a job is late again during
 * a hold or within a hold of its end (a busy machine, where every return to halves costs a
 * parked worker's time slice). */
#define LATE_FRACTION 0.25
/* Halves only for a kernel whose last call took less than this: a longer one pays its chunks'
 * start-ups many times over, and split in halves it would wait for a parked worker's whole half
 * on a machine that turned busy in the middle of it (M3's head products: 70 ms). Kernels slow
 * down under load, so on a busy machine fewer of them are halved. M1's and M2's kernels take at
 * most 2 ms, M3's layer products 5-6 ms. */
#define HALVES_MAX_SECONDS 8e-3
#define LATE_MIN_SECONDS 200e-6
#define BUSY_HOLD_SECONDS 0.1
#define BUSY_HOLD_MAX_SECONDS 10.0

/* The claim word: the job's generation in the top 28 bits, then its chunk count, the chunks
 * claimed from the right end and the chunks claimed from the left end, 12 bits each. The caller
 * claims from the left (chunk 0, 1, ...), the workers from the right (count - 1, count - 2, ...),
 * each claim one fetch-and-add of its end's counter; a claim is valid when the claims before it,
 * from both ends, number fewer than count, whatever generation it read, so every chunk is
 * claimed once, a thread that arrives late never runs a finished job, and the job's description
 * is stable until every claimed chunk is done. (Each thread makes one invalid claim a job at
 * most, so the counters stay below count + threads + 1 < 4096.) */
#define CLAIM_GEN_SHIFT 36
#define CLAIM_COUNT_SHIFT 24
#define CLAIM_RIGHT_SHIFT 12
#define CLAIM_FIELD_MASK 0xfffu

typedef struct timing {
    gc_task_fn fn; /* NULL: a free slot */
    float seconds; /* the kernel's last call, all chunks, on the caller's clock */
    int32_t cut;   /* a quiet two-thread pool's cut of this kernel (share of the caller's half); 0: even */
} timing;

struct gc_pool {
    int threads;
    pthread_t *workers;
    int started;
    timing *timings;
    /* The current job, written before its claim word is published and not changed until all
     * its chunks are done. */
    gc_task_fn fn;
    char *arena;
    const int64_t *offsets;
    int32_t cuts[MAX_CHUNKS + 1];
    double ends[MAX_CHUNKS]; /* when each chunk of the current job finished (gc_clock_seconds) */
    bool by_worker[MAX_CHUNKS];
    int chunks;
    uint32_t mode; /* the caller's MXCSR, which the workers take */
    uint64_t share_job; /* the job's id for gc_sgemm_share_begin, 0: its parts share nothing */
    int share_operand;
    uint32_t generation;
    bool keep_subnormals;
    double busy_until; /* cut finely until then (gc_clock_seconds): a worker was late */
    double busy_hold;  /* the last hold, seconds */
    /* Shared words, each on its own cache line. */
    _Alignas(64) atomic_uint_fast64_t claim;
    _Alignas(64) atomic_int done;     /* chunks of the current job finished; the caller's futex */
    atomic_int caller_sleeping;
    _Alignas(64) atomic_int wake_seq; /* bumped to wake sleeping workers; their futex */
    atomic_int sleepers;
    atomic_bool stop;
};

/* MXCSR's flush-to-zero and denormals-are-zero bits. */
#define MXCSR_FTZ 0x8000u
#define MXCSR_DAZ 0x0040u

static inline uint32_t fp_mode(void) {
#if defined(__x86_64__) || defined(__i386__)
    return __builtin_ia32_stmxcsr();
#else
    return 0;
#endif
}

static inline void set_fp_mode(uint32_t mode) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_ldmxcsr(mode);
#else
    (void)mode;
#endif
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Sleeps while *word == value (or until woken, or a millisecond: a missed wake-up costs that much at
 * worst, never a hang). */
static void futex_sleep(atomic_int *word, int value) {
#if defined(__linux__)
    struct timespec limit = {0, 1000 * 1000};
    syscall(SYS_futex, (int *)word, FUTEX_WAIT_PRIVATE, value, &limit, NULL, 0);
#else
    (void)word, (void)value;
    struct timespec pause = {0, 50 * 1000};
    nanosleep(&pause, NULL);
#endif
}

static void futex_wake(atomic_int *word, int count) {
#if defined(__linux__)
    syscall(SYS_futex, (int *)word, FUTEX_WAKE_PRIVATE, count, NULL, NULL, 0);
#else
    (void)word, (void)count;
#endif
}

/* Claims and runs chunks of whatever job is published, from its left end (the caller) or its
 * right end (the workers), until none is left; returns the generation of the job it found
 * exhausted. */
static uint32_t run_chunks(gc_pool *p, uint32_t *mode, bool from_right) {
    uint64_t step = from_right ? UINT64_C(1) << CLAIM_RIGHT_SHIFT : 1;
    for (;;) {
        uint64_t v = atomic_fetch_add_explicit(&p->claim, step, memory_order_acq_rel);
        uint32_t left = (uint32_t)(v & CLAIM_FIELD_MASK), right = (uint32_t)(v >> CLAIM_RIGHT_SHIFT & CLAIM_FIELD_MASK);
        uint32_t count = (uint32_t)(v >> CLAIM_COUNT_SHIFT & CLAIM_FIELD_MASK);
        if (left + right >= count) return (uint32_t)(v >> CLAIM_GEN_SHIFT);
        uint32_t index = from_right ? count - 1 - right : left;
        if (p->mode != *mode) set_fp_mode(*mode = p->mode);
        if (p->share_job) gc_sgemm_share_begin(p->share_job, p->share_operand);
        p->fn(p->arena, p->offsets, p->cuts[index], p->cuts[index + 1]);
        if (p->share_job) gc_sgemm_share_end();
        p->ends[index] = gc_clock_seconds();
        p->by_worker[index] = from_right;
        if (atomic_fetch_add(&p->done, 1) + 1 == (int)count && atomic_load(&p->caller_sleeping))
            futex_wake(&p->done, 1);
    }
}

static uint32_t claim_generation(gc_pool *p) {
    return (uint32_t)(atomic_load_explicit(&p->claim, memory_order_acquire) >> CLAIM_GEN_SHIFT);
}

/* Waits until a job after generation `seen` is published (or the pool stops): spinning, then
 * yielding, then asleep. */
static void wait_for_job(gc_pool *p, uint32_t seen) {
    double start = gc_clock_seconds(), now = start;
    int yields = 0;
    for (int i = 0;; i++) {
        if (claim_generation(p) != seen || atomic_load_explicit(&p->stop, memory_order_acquire)) return;
        if ((i & 63) == 63) now = gc_clock_seconds();
        if (now - start < WORKER_SPIN_SECONDS) {
            cpu_relax();
            continue;
        }
        if (yields++ < YIELDS) {
            sched_yield();
            continue;
        }
        /* seq_cst here and in gc_pool_run: a worker going to sleep and a job that wants it
         * awake cannot miss each other. */
        atomic_fetch_add(&p->sleepers, 1);
        int ticket = atomic_load(&p->wake_seq);
        if (claim_generation(p) == seen && !atomic_load(&p->stop)) futex_sleep(&p->wake_seq, ticket);
        atomic_fetch_sub(&p->sleepers, 1);
        start = now = gc_clock_seconds();
        i = yields = 0;
    }
}

static void *worker_main(void *raw) {
    gc_pool *p = raw;
    uint32_t seen = 0, mode = fp_mode();
    for (;;) {
        wait_for_job(p, seen);
        if (atomic_load_explicit(&p->stop, memory_order_acquire)) break;
        seen = run_chunks(p, &mode, true);
    }
    return NULL;
}

/* Shares gc_pool_fix_shares set for pools made afterwards (count 0: none). */
static double fixed_shares[MAX_CHUNKS];
static int fixed_count;

void gc_pool_fix_shares(const double *shares, int count) {
    fixed_count = 0;
    double sum = 0;
    for (int i = 0; i < count && i < MAX_CHUNKS; i++) sum += shares[i] > 0 ? shares[i] : 0;
    if (count <= 0 || sum <= 0) return;
    for (int i = 0; i < count && i < MAX_CHUNKS; i++) fixed_shares[i] = (shares[i] > 0 ? shares[i] : 0) / sum;
    fixed_count = count < MAX_CHUNKS ? count : MAX_CHUNKS;
}

int gc_pool_resolve_threads(int threads) {
    if (threads > 0) return threads;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online < 1 ? 1 : online > 256 ? 256 : (int)online;
}

/* The cut points of `count` even chunks. */
static void even_cuts(int32_t *cuts, int count) {
    for (int i = 0; i <= count; i++) cuts[i] = (int32_t)((int64_t)GC_SHARE_ONE * i / count);
}

/* The cut points of CHUNKS_PER_THREAD chunks per thread, largest at the ends and smallest in
 * the middle: the caller, claiming from the left, meets chunks of CHUNKS_PER_THREAD units, then
 * one fewer, down to one; the workers, from the right, the same, round by round. Big chunks
 * while every thread has work, small ones at the end, so the last chunk a thread finishes, which
 * the others wait for, is short. */
static int guided_cuts(int32_t *cuts, int threads) {
    int count = threads * CHUNKS_PER_THREAD;
    if (count > MAX_CHUNKS) {
        even_cuts(cuts, MAX_CHUNKS);
        return MAX_CHUNKS;
    }
    int64_t total = (int64_t)threads * CHUNKS_PER_THREAD * (CHUNKS_PER_THREAD + 1) / 2, at = 0;
    cuts[0] = 0;
    for (int i = 0; i < count; i++) {
        at += i < CHUNKS_PER_THREAD ? CHUNKS_PER_THREAD - i : 1 + (i - CHUNKS_PER_THREAD) / (threads - 1);
        cuts[i + 1] = (int32_t)((int64_t)GC_SHARE_ONE * at / total);
    }
    return count;
}

gc_pool *gc_pool_new(int threads, gc_error *err) {
    threads = gc_pool_resolve_threads(threads);
    gc_pool *p = calloc(1, sizeof *p);
    if (!p) return gc_failf(err, GC_ERR_MEMORY, "out of memory"), NULL;
    p->threads = threads;
    atomic_init(&p->claim, 0);
    atomic_init(&p->done, 0);
    atomic_init(&p->caller_sleeping, 0);
    atomic_init(&p->wake_seq, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->stop, false);
    /* gradc splits GEMMs over this pool itself; OpenBLAS's own threads would only spin against it. */
    openblas_set_num_threads(1);
    if (fixed_count > 0) {
        p->chunks = -fixed_count; /* negative: every kernel takes the fixed cuts */
        double at = 0;
        p->cuts[0] = 0;
        for (int i = 1; i < fixed_count; i++) {
            at += fixed_shares[i - 1];
            int32_t c = (int32_t)(at * GC_SHARE_ONE + 0.5);
            p->cuts[i] = c < p->cuts[i - 1] ? p->cuts[i - 1] : c > GC_SHARE_ONE ? GC_SHARE_ONE : c;
        }
        p->cuts[fixed_count] = GC_SHARE_ONE;
    }
    if (!(p->timings = calloc(TIMING_SLOTS, sizeof *p->timings))) {
        gc_pool_free(p);
        return gc_failf(err, GC_ERR_MEMORY, "out of memory"), NULL;
    }
    if (threads > 1 && !(p->workers = calloc((size_t)threads - 1, sizeof *p->workers))) {
        gc_pool_free(p);
        return gc_failf(err, GC_ERR_MEMORY, "out of memory"), NULL;
    }
    for (int i = 1; i < threads; i++) {
        if (pthread_create(&p->workers[i - 1], NULL, worker_main, p) != 0) {
            gc_pool_free(p);
            return gc_failf(err, GC_ERR_MEMORY, "cannot start worker thread %d of %d", i, threads - 1), NULL;
        }
        p->started++;
    }
    return p;
}

void gc_pool_free(gc_pool *p) {
    if (!p) return;
    atomic_store(&p->stop, true);
    atomic_fetch_add(&p->wake_seq, 1);
    futex_wake(&p->wake_seq, INT_MAX);
    for (int i = 0; i < p->started; i++) pthread_join(p->workers[i], NULL);
    free(p->workers);
    free(p->timings);
    free(p);
}

int gc_pool_threads(const gc_pool *p) { return p ? p->threads : 1; }

/* The timing slot of kernel fn; NULL when the table is full. */
static timing *timing_of(gc_pool *p, gc_task_fn fn) {
    uintptr_t h = (uintptr_t)fn;
    h ^= h >> 17;
    h *= 0x9e3779b97f4a7c15ull;
    h >>= 20;
    for (unsigned probe = 0; probe < 16; probe++) {
        timing *t = &p->timings[(h + probe) % TIMING_SLOTS];
        if (t->fn == fn) return t;
        if (t->fn) continue;
        t->fn = fn;
        t->seconds = -1;
        return t;
    }
    return NULL;
}

/* Moves a quiet two-thread pool's cut of kernel t a quarter of the way towards the cut at which
 * the caller's half and the worker's would have ended together, the speed of each measured as
 * its share over the time from the job's start to its half's end (so a worker that starts late,
 * being woken, counts as slower), and keeps each half at least a quarter of the work. */
#define BALANCE_STEP 0.25
#define BALANCE_MIN_SHARE 0.25

static void balance(timing *t, double start, double caller_end, double worker_end) {
    double c = (double)(t->cut ? t->cut : GC_SHARE_ONE / 2) / GC_SHARE_ONE;
    double tc = caller_end - start, tw = worker_end - start;
    if (tc <= 0 || tw <= 0) return;
    double vc = c / tc, vw = (1 - c) / tw, target = vc / (vc + vw);
    c += BALANCE_STEP * (target - c);
    c = c < BALANCE_MIN_SHARE ? BALANCE_MIN_SHARE : c > 1 - BALANCE_MIN_SHARE ? 1 - BALANCE_MIN_SHARE : c;
    t->cut = (int32_t)(c * GC_SHARE_ONE + 0.5);
}

/* Ids of jobs whose GEMM parts share packing, unique in the process (pools may run at once). */
static atomic_uint_fast64_t share_jobs;

/* Runs chunks [0, count) of fn on this thread, in order, as parts of one job. */
static void run_chunks_here(gc_pool *p, gc_task_fn fn, char *arena, const int64_t *offsets, int count) {
    if (p->share_job) gc_sgemm_share_begin(p->share_job, p->share_operand);
    for (int i = 0; i < count; i++) fn(arena, offsets, p->cuts[i], p->cuts[i + 1]);
    if (p->share_job) gc_sgemm_share_end();
}

/* Waits until all `count` chunks of the current job are done: spinning for `spin` seconds, then
 * yielding, then asleep. */
static void wait_for_chunks(gc_pool *p, int count, double spin) {
    double start = gc_clock_seconds(), now = start;
    int yields = 0;
    for (int i = 0;; i++) {
        int d = atomic_load_explicit(&p->done, memory_order_acquire);
        if (d >= count) return;
        if ((i & 31) == 31) now = gc_clock_seconds();
        if (now - start < spin) {
            cpu_relax();
            continue;
        }
        if (yields++ < YIELDS) {
            sched_yield();
            continue;
        }
        atomic_store(&p->caller_sleeping, 1);
        d = atomic_load(&p->done);
        if (d < count) futex_sleep(&p->done, d);
        atomic_store(&p->caller_sleeping, 0);
    }
}

void gc_pool_run(gc_pool *p, gc_task_fn fn, char *arena, const int64_t *offsets, int32_t flags) {
    if (!p) {
        fn(arena, offsets, 0, GC_SHARE_ONE);
        return;
    }
    /* A kernel whose bits may depend on where it is cut: one that calls OpenBLAS, which may block
     * a narrower matrix differently. */
    bool fixed_cut = (flags & GC_TASK_CALLS_BLAS) || ((flags & GC_TASK_CALLS_GEMM) && !gc_sgemm_uses_own());
    timing *t = p->threads > 1 ? timing_of(p, fn) : NULL;
    bool halves = false, balanced = false;
    int count;
    if (p->chunks < 0) {
        count = -p->chunks;
    } else if (fixed_cut) {
        count = FIXED_CHUNKS;
        even_cuts(p->cuts, count);
    } else if (p->threads <= 1) {
        fn(arena, offsets, 0, GC_SHARE_ONE);
        return;
    } else if (!t || t->seconds < 0 || t->seconds >= HALVES_MAX_SECONDS ||
               (p->busy_until > 0 && gc_clock_seconds() < p->busy_until)) {
        count = guided_cuts(p->cuts, p->threads);
    } else {
        /* Quiet: one chunk per thread. Measured on M1's products (bench/gemm_short.c, GS_POOL=2),
         * every chunk a thread runs beyond its first costs it a cold start (its first B panel
         * packed without the prefetch of the one before, the shared operand's blocks read again):
         * two even halves ran at 345-358 GFLOP/s, any cut with a second, smaller chunk per thread
         * at 315-337, even 7/16 + 1/16 a thread. */
        count = p->threads > MAX_CHUNKS ? MAX_CHUNKS : p->threads;
        even_cuts(p->cuts, count);
        halves = true;
        /* Two threads: the halves balanced kernel by kernel (balance, below). */
        if (count == 2 && t) {
            balanced = true;
            if (t->cut) p->cuts[1] = t->cut;
        }
    }
    int share = flags & GC_TASK_GEMM_ROWS     ? GC_SGEMM_SHARE_B
                : flags & GC_TASK_GEMM_COLS   ? GC_SGEMM_SHARE_A
                : flags & GC_TASK_GEMM_KSPLIT ? GC_SGEMM_SHARE_K
                                              : 0;
    p->share_job = share ? (uint64_t)atomic_fetch_add_explicit(&share_jobs, 1, memory_order_relaxed) + 1 : 0;
    p->share_operand = share;
    if (p->threads <= 1) {
        run_chunks_here(p, fn, arena, offsets, count);
        return;
    }
    double start = gc_clock_seconds();
    if (t && t->seconds >= 0 && t->seconds < ALONE_MAX_SECONDS) {
        if (fixed_cut || p->chunks < 0)
            run_chunks_here(p, fn, arena, offsets, count);
        else
            fn(arena, offsets, 0, GC_SHARE_ONE);
        t->seconds = (float)(gc_clock_seconds() - start);
        return;
    }
    p->fn = fn;
    p->arena = arena;
    p->offsets = offsets;
    p->mode = fp_mode();
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    p->generation++;
    atomic_store(&p->claim, (uint64_t)p->generation << CLAIM_GEN_SHIFT | (uint64_t)count << CLAIM_COUNT_SHIFT);
    /* Sleeping workers are woken only for a kernel long enough to repay the wake-up. */
    if (atomic_load(&p->sleepers) > 0 && (!t || t->seconds < 0 || t->seconds >= WAKE_MIN_SECONDS)) {
        atomic_fetch_add(&p->wake_seq, 1);
        futex_wake(&p->wake_seq, INT_MAX);
    }
    uint32_t mode = p->mode;
    run_chunks(p, &mode, false);
    double spin = t && t->seconds > 0 ? 2.0 * t->seconds / count : 0, ran = gc_clock_seconds();
    wait_for_chunks(p, count, spin < CALLER_SPIN_SECONDS ? CALLER_SPIN_SECONDS
                              : spin > CALLER_SPIN_MAX_SECONDS ? CALLER_SPIN_MAX_SECONDS : spin);
    double end = gc_clock_seconds();
    if (t) t->seconds = (float)(end - start);
    double late_after = LATE_FRACTION * (end - start) > LATE_MIN_SECONDS ? LATE_FRACTION * (end - start) : LATE_MIN_SECONDS;
    bool late = end - ran > late_after;
    if (halves && !late) {
        double workers_end = 0;
        for (int i = 0; i < count; i++)
            if (p->by_worker[i] && p->ends[i] > workers_end) workers_end = p->ends[i];
        late = workers_end > 0 && ran - workers_end > late_after;
    }
    if (balanced && !late && !p->by_worker[0] && p->by_worker[1]) balance(t, start, p->ends[0], p->ends[1]);
    if (late) {
        bool again = p->busy_hold > 0 && end < p->busy_until + p->busy_hold;
        p->busy_hold = !again ? BUSY_HOLD_SECONDS
                       : 2 * p->busy_hold < BUSY_HOLD_MAX_SECONDS ? 2 * p->busy_hold : BUSY_HOLD_MAX_SECONDS;
        p->busy_until = end + p->busy_hold;
    }
}

void gc_pool_keep_subnormals(gc_pool *p, bool keep) {
    if (p) p->keep_subnormals = keep;
}

uint32_t gc_pool_enter(const gc_pool *p) {
    uint32_t saved = fp_mode();
#if defined(__x86_64__) || defined(__i386__)
    uint32_t mode = p && p->keep_subnormals ? saved & ~(MXCSR_FTZ | MXCSR_DAZ) : saved | MXCSR_FTZ | MXCSR_DAZ;
    if (mode != saved) set_fp_mode(mode);
#else
    (void)p;
#endif
    return saved;
}

void gc_pool_leave(uint32_t saved) {
    if (fp_mode() != saved) set_fp_mode(saved);
}

bool gc_pool_env_keeps_subnormals(void) {
    const char *env = getenv("GRADC_IEEE_SUBNORMALS");
    return env && *env && strcmp(env, "0") != 0;
}
