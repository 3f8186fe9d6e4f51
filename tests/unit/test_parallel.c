/*
 * test_parallel.c: the step's thread pool (runtime/parallel.c) and kernels split over it
 * (codegen/parallel.c): every part runs once, and a split step gives the same bits on every run
 * and at every thread count — the determinism issue 7 asks for.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <cmocka.h>

#include "gradc/gradc.h"
#include "runtime/gemm.h"
#include "runtime/parallel.h"

/* ---- the pool ---- */

/* Calls seen, the shares they covered in all, and the cuts they started at. */
static int seen;
static long covered;
static int32_t starts[1 << 16];

/* Spins for `seconds`: a kernel longer than the pool's run-alone bound (15 us). */
static void spin_for(double seconds) {
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do clock_gettime(CLOCK_MONOTONIC, &t);
    while ((double)(t.tv_sec - t0.tv_sec) + 1e-9 * (double)(t.tv_nsec - t0.tv_nsec) < seconds);
}

static void record(char *arena, const int64_t *offsets, int32_t from, int32_t to) {
    (void)arena;
    (void)offsets;
    spin_for(20e-6);
    if (from >= 0 && to > from && to <= GC_SHARE_ONE) {
        int at = __atomic_fetch_add(&seen, 1, __ATOMIC_RELAXED);
        if (at < (int)(sizeof starts / sizeof *starts)) starts[at] = from;
    }
    __atomic_add_fetch(&covered, (long)(to - from), __ATOMIC_RELAXED);
}

static int compare_i32(const void *x, const void *y) {
    int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;
    return (a > b) - (a < b);
}

/* One call's chunks, sorted by where they start, after `calls` calls of record. */
static int chunks_of(int calls, int32_t *cuts) {
    int per = seen / calls;
    memcpy(cuts, starts, sizeof *cuts * (size_t)per);
    qsort(cuts, (size_t)per, sizeof *cuts, compare_i32);
    return per;
}

/* Each call runs its chunks once each, and they cover the whole share. A kernel whose bits may
 * depend on the cut (one calling OpenBLAS) is cut the same way at every thread count. */
static void every_chunk_runs_once_per_call(void **state) {
    (void)state;
    int32_t blas_cuts[64], cuts[64];
    int blas_count = 0;
    for (int threads = 1; threads <= 4; threads++) {
        gc_error err = {0};
        gc_pool *pool = gc_pool_new(threads, &err);
        assert_non_null(pool);
        assert_int_equal(gc_pool_threads(pool), threads);
        seen = 0;
        covered = 0;
        for (int call = 0; call < 1000; call++) gc_pool_run(pool, record, NULL, NULL, 0);
        assert_int_equal(covered, 1000L * GC_SHARE_ONE);
        if ((threads == 1 && seen != 1000) || (threads > 1 && seen < 1000 * threads))
            fail_msg("threads %d: %d chunks ran in 1000 calls", threads, seen);
        seen = 0;
        covered = 0;
        for (int call = 0; call < 100; call++) gc_pool_run(pool, record, NULL, NULL, GC_TASK_CALLS_BLAS);
        assert_int_equal(covered, 100L * GC_SHARE_ONE);
        assert_true(seen % 100 == 0 && seen / 100 > 1 && seen / 100 <= 64);
        int count = chunks_of(100, cuts);
        for (int i = 0; i < seen; i++)
            if (bsearch(&starts[i], cuts, (size_t)count, sizeof *cuts, compare_i32) == NULL)
                fail_msg("threads %d: a chunk starts at %d, where no chunk of the first call did", threads, starts[i]);
        if (threads == 1) {
            blas_count = count;
            memcpy(blas_cuts, cuts, sizeof cuts);
        } else if (count != blas_count || memcmp(cuts, blas_cuts, sizeof *cuts * (size_t)count)) {
            fail_msg("threads %d: an OpenBLAS kernel is cut otherwise than on one thread", threads);
        }
        gc_pool_free(pool);
    }
}

static void a_null_pool_runs_one_part(void **state) {
    (void)state;
    seen = 0;
    covered = 0;
    gc_pool_run(NULL, record, NULL, NULL, 0);
    assert_int_equal(seen, 1);
    assert_int_equal(covered, GC_SHARE_ONE);
    gc_pool_free(NULL);
    assert_int_equal(gc_pool_threads(NULL), 1);
}

/* ---- a thread that falls behind ---- */

static pthread_t caller;
static int by_caller, by_workers;
static double caller_chunk_seconds = 20e-6;
static long worker_chunk_ns = 30 * 1000 * 1000;

/* Instant on the caller's thread; 30 ms a chunk on a worker, as if the OS had parked it. */
static void stalled_worker(char *arena, const int64_t *offsets, int32_t from, int32_t to) {
    (void)arena;
    (void)offsets;
    (void)from;
    (void)to;
    if (pthread_equal(pthread_self(), caller)) {
        __atomic_add_fetch(&by_caller, 1, __ATOMIC_RELAXED);
        spin_for(caller_chunk_seconds);
        return;
    }
    __atomic_add_fetch(&by_workers, 1, __ATOMIC_RELAXED);
    struct timespec pause = {0, worker_chunk_ns};
    nanosleep(&pause, NULL);
}

/* Chunks are claimed, not dealt: while a worker is stuck in one chunk, the caller runs all the
 * others (a static split would leave it half of them). A quiet pool cuts a kernel in halves, so
 * the first call may wait for the stalled worker's half; that call is late, and the pool then
 * cuts finely. Fixed shares stay fixed. */
static void a_stalled_worker_leaves_its_chunks_to_the_caller(void **state) {
    (void)state;
    caller = pthread_self();
    gc_error err = {0};
    gc_pool *pool = gc_pool_new(2, &err);
    assert_non_null(pool);
    /* Until the worker has held the caller up once (the caller's chunks long enough for a
     * sleeping worker to wake and claim one, the worker's far longer than the caller's). */
    int call = 0;
    caller_chunk_seconds = 2e-3;
    worker_chunk_ns = 200 * 1000 * 1000;
    for (by_workers = 0; call < 100 && by_workers == 0; call++) {
        by_caller = 0;
        gc_pool_run(pool, stalled_worker, NULL, NULL, 0);
    }
    caller_chunk_seconds = 20e-6;
    worker_chunk_ns = 30 * 1000 * 1000;
    if (by_workers == 0) fail_msg("the worker ran no chunk in %d calls", call);
    for (int again = 0; again < 5; again++, call++) {
        by_caller = by_workers = 0;
        gc_pool_run(pool, stalled_worker, NULL, NULL, 0);
        int total = by_caller + by_workers;
        if (total < 4 || by_workers > 1) fail_msg("call %d: the caller ran %d chunks, a stalled worker %d", call, by_caller, by_workers);
    }
    gc_pool_free(pool);

    gc_pool_fix_shares((double[]){1, 3}, 2);
    pool = gc_pool_new(2, &err);
    gc_pool_fix_shares(NULL, 0);
    assert_non_null(pool);
    seen = 0;
    for (int call = 0; call < 20; call++) gc_pool_run(pool, record, NULL, NULL, 0);
    int32_t cuts[64];
    assert_int_equal(chunks_of(20, cuts), 2);
    assert_int_equal(cuts[1], GC_SHARE_ONE / 4);
    gc_pool_free(pool);
}

/* ---- which end a thread claims from ---- */

static int ran_by_caller[64], ran_by_worker[64];

/* 100 us a chunk, noting which thread ran chunk `from` (of 8 even ones). */
static void note_runner(char *arena, const int64_t *offsets, int32_t from, int32_t to) {
    (void)arena, (void)offsets, (void)to;
    spin_for(100e-6);
    int index = (int)((int64_t)from * 8 / GC_SHARE_ONE);
    __atomic_add_fetch(pthread_equal(pthread_self(), caller) ? &ran_by_caller[index] : &ran_by_worker[index], 1,
                       __ATOMIC_RELAXED);
}

/* The caller claims chunks from the left end and the workers from the right, so on every call
 * the caller's chunks are a run from the first and the workers' a run to the last (each thread
 * works on the same end of every kernel's data). */
static void the_caller_claims_from_the_left_and_workers_from_the_right(void **state) {
    (void)state;
    caller = pthread_self();
    gc_pool_fix_shares((double[]){1, 1, 1, 1, 1, 1, 1, 1}, 8);
    gc_error err = {0};
    gc_pool *pool = gc_pool_new(2, &err);
    gc_pool_fix_shares(NULL, 0);
    assert_non_null(pool);
    int workers_ran = 0;
    for (int call = 0; call < 50; call++) {
        memset(ran_by_caller, 0, sizeof ran_by_caller);
        memset(ran_by_worker, 0, sizeof ran_by_worker);
        gc_pool_run(pool, note_runner, NULL, NULL, 0);
        int i = 0;
        while (i < 8 && ran_by_caller[i] == 1 && ran_by_worker[i] == 0) i++;
        for (int j = i; j < 8; j++)
            if (ran_by_worker[j] != 1 || ran_by_caller[j] != 0)
                fail_msg("call %d: chunk %d ran %d times on the caller and %d on a worker after the caller's run of %d",
                         call, j, ran_by_caller[j], ran_by_worker[j], i);
        workers_ran += 8 - i;
    }
    if (workers_ran == 0) fail_msg("the worker ran no chunk in 50 calls");
    gc_pool_free(pool);
}

/* The pool sleeps between bursts: a job after the workers went to sleep still runs. */
/* 5 ms a chunk, counting who ran it. */
static void slow_chunk(char *arena, const int64_t *offsets, int32_t from, int32_t to) {
    stalled_worker(arena, offsets, from, to);
    if (pthread_equal(pthread_self(), caller)) {
        struct timespec pause = {0, 5 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
}

static void wakes_sleeping_workers(void **state) {
    (void)state;
    gc_error err = {0};
    gc_pool *pool = gc_pool_new(3, &err);
    assert_non_null(pool);
    caller = pthread_self();
    seen = 0;
    covered = 0;
    by_caller = by_workers = 0;
    for (int burst = 0; burst < 5; burst++) {
        struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep(&pause, NULL);
        gc_pool_run(pool, record, NULL, NULL, 0);
        nanosleep(&pause, NULL);
        gc_pool_run(pool, slow_chunk, NULL, NULL, 0);
    }
    assert_int_equal(covered, 5L * GC_SHARE_ONE);
    if (by_workers == 0) fail_msg("the caller ran all %d chunks: the workers never woke", by_caller);
    gc_pool_free(pool);
}

/* ---- subnormals ---- */

static volatile float tiny_in = 1e-40f; /* a subnormal */
static int flushed, kept;

/* 20 ms a chunk on the caller, so the workers run some; counts chunks that saw tiny_in flushed. */
static void sees_subnormals(char *arena, const int64_t *offsets, int32_t from, int32_t to) {
    (void)arena, (void)offsets, (void)from, (void)to;
    volatile float x = tiny_in * 1.0f;
    __atomic_add_fetch(x == 0.0f ? &flushed : &kept, 1, __ATOMIC_RELAXED);
    if (pthread_equal(pthread_self(), caller)) {
        struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
}

/* By default the step's threads flush subnormals, the workers as the caller; kept on request;
 * the caller's own mode is restored after. */
static void subnormals_are_flushed_unless_kept(void **state) {
    (void)state;
#if defined(__x86_64__)
    caller = pthread_self();
    gc_error err = {0};
    gc_pool *pool = gc_pool_new(3, &err);
    assert_non_null(pool);
    for (int keep = 0; keep < 2; keep++) {
        gc_pool_keep_subnormals(pool, keep);
        flushed = kept = 0;
        uint32_t saved = gc_pool_enter(pool);
        for (int call = 0; call < 3; call++) gc_pool_run(pool, sees_subnormals, NULL, NULL, 0);
        gc_pool_leave(saved);
        if (keep ? flushed != 0 : kept != 0) fail_msg("keep %d: %d chunks flushed, %d kept", keep, flushed, kept);
        volatile float x = tiny_in * 1.0f;
        assert_true(x != 0.0f);
    }
    gc_pool_free(pool);
#else
    skip();
#endif
}

/* ---- split kernels ---- */

/* Big enough that every kernel kind that splits does (elementwise, GEMM with epilogue, batched
 * GEMM, row reductions, softmax; column sums always run whole, test_column_sum_split.c), small
 * enough to train in a blink. */
static const char *model =
    "input tokens: i32[4, 64]\n"
    "input targets: i32[4, 64]\n"
    "param wpe: f32[64, 128] = normal(0, 0.02)\n"
    "x = embedding(tokens, 96, 128) as wte + wpe\n"
    "x = x + causal_self_attention(layernorm(x) as ln_1, 4) as attn\n"
    "x = x + linear(gelu(linear(layernorm(x) as ln_2, 512) as fc), 128) as proj\n"
    "logits = linear(layernorm(x) as ln_f, 96, bias=false) as head\n"
    "loss = cross_entropy(logits, targets)\n"
    "train {\n"
    "    optimizer = adamw(lr=1e-3, weight_decay=0.1)\n"
    "    seed = 3\n"
    "}\n";

#define STEPS 4

/* Losses of STEPS steps and a checksum of the bits of one trained weight. */
static void train(int threads, gc_backend backend, float *losses, uint64_t *bits) {
    gc_error err = {0};
    gc_model *m = gc_model_load_string(model, "parallel.gm", &err);
    if (!m) fail_msg("load: %s", err.message);
    gc_options o = {backend, threads, 0, 0};
    gc_trainer *t = gc_trainer_new(m, &o, &err);
    gc_model_free(m);
    if (!t) fail_msg("trainer: %s", err.message);
    int32_t tokens[4 * 64], targets[4 * 64];
    for (int i = 0; i < 4 * 64; i++) {
        tokens[i] = (i * 37 + 11) % 96;
        targets[i] = (i * 53 + 5) % 96;
    }
    assert_true(gc_trainer_set_input(t, "tokens", tokens, sizeof tokens, &err));
    assert_true(gc_trainer_set_input(t, "targets", targets, sizeof targets, &err));
    for (int s = 0; s < STEPS; s++)
        if (!gc_trainer_step(t, &losses[s], &err)) fail_msg("step: %s", err.message);
    gc_tensor w;
    assert_true(gc_trainer_param(t, "fc.weight", &w, &err));
    uint64_t h = 0xcbf29ce484222325ull;
    const unsigned char *p = w.data;
    for (size_t i = 0; i < 512 * 128 * sizeof(float); i++) h = (h ^ p[i]) * 0x100000001b3ull;
    *bits = h;
    gc_trainer_free(t);
}

static atomic_bool spin_stop;

static void *spin(void *arg) {
    volatile unsigned long n = 0;
    while (!atomic_load_explicit(&spin_stop, memory_order_relaxed)) n = n + 1;
    return arg;
}

/* Bit-identical at a fixed thread count, however the pool balances its parts. With gradc's own
 * GEMM (a CPU with AVX-512) nothing depends on where a kernel is cut, so the thread count does
 * not change a bit either; with OpenBLAS, which may block a matrix split into narrower parts
 * differently, counts may differ in the last bits. Everything gradc generates splits along rows,
 * columns or matrices it never sums across. */
static void same_bits_every_run(void **state) {
    (void)state;
    if (!gc_backend_available(GC_BACKEND_JIT)) skip();
    float one[STEPS], two[STEPS], again[STEPS], three[STEPS], cut[3][STEPS];
    uint64_t h1, h2, h2b, h3, hc[3];
    train(1, GC_BACKEND_JIT, one, &h1);
    train(2, GC_BACKEND_JIT, two, &h2);
    /* Again beside a busy thread, which takes a core from the pool now and then. */
    atomic_store(&spin_stop, false);
    pthread_t spinner;
    assert_int_equal(pthread_create(&spinner, NULL, spin, NULL), 0);
    train(2, GC_BACKEND_JIT, again, &h2b);
    atomic_store(&spin_stop, true);
    pthread_join(spinner, NULL);
    train(3, GC_BACKEND_JIT, three, &h3);
    /* Cuts fixed far from even, as a slow core would make the pool move them. */
    const double shares[3][3] = {{0.2, 0.8}, {0.9, 0.1}, {0.5, 0.3, 0.2}};
    for (int c = 0; c < 3; c++) {
        gc_pool_fix_shares(shares[c], c < 2 ? 2 : 3);
        train(c < 2 ? 2 : 3, GC_BACKEND_JIT, cut[c], &hc[c]);
        gc_pool_fix_shares(NULL, 0);
    }
    bool exact = gc_sgemm_uses_own();
    for (int s = 0; s < STEPS; s++) {
        if (memcmp(&two[s], &again[s], sizeof(float)))
            fail_msg("step %d: two runs on 2 threads (one beside a busy thread) differ: %.9g vs %.9g", s + 1, two[s], again[s]);
        if (!(fabsf(one[s] - two[s]) <= 1e-6f * fabsf(one[s])) || !(fabsf(one[s] - three[s]) <= 1e-6f * fabsf(one[s])))
            fail_msg("step %d: 1, 2 and 3 threads give %.9g, %.9g, %.9g", s + 1, one[s], two[s], three[s]);
        if (exact && (memcmp(&one[s], &two[s], sizeof(float)) || memcmp(&one[s], &three[s], sizeof(float))))
            fail_msg("step %d: 1, 2 and 3 threads give %.9g, %.9g, %.9g", s + 1, one[s], two[s], three[s]);
        for (int c = 0; exact && c < 3; c++)
            if (memcmp(&one[s], &cut[c][s], sizeof(float)))
                fail_msg("step %d: cut as %g/%g/%g the loss is %.9g, not %.9g", s + 1, shares[c][0], shares[c][1],
                         shares[c][2], cut[c][s], one[s]);
    }
    if (h2 != h2b) fail_msg("two runs on 2 threads train different fc.weight bits");
    if (exact && (h1 != h2 || h1 != h3 || h1 != hc[0] || h1 != hc[1] || h1 != hc[2]))
        fail_msg("fc.weight's bits depend on the thread count or the cut");
}

/* The split step computes what the reference interpreter computes. */
static void split_step_matches_the_interpreter(void **state) {
    (void)state;
    if (!gc_backend_available(GC_BACKEND_JIT)) skip();
    float jit[STEPS], ref[STEPS];
    uint64_t h;
    train(2, GC_BACKEND_JIT, jit, &h);
    train(1, GC_BACKEND_INTERP, ref, &h);
    for (int s = 0; s < STEPS; s++)
        if (!(fabsf(jit[s] - ref[s]) <= 1e-5f * fabsf(ref[s])))
            fail_msg("step %d: JIT on 2 threads %.9g, interpreter %.9g", s + 1, jit[s], ref[s]);
}

/* Pooling kernels split by planes: the gradients add overlapping windows into their result, so
 * a cut inside a plane could change the order of additions; cut by planes, the bits never move.
 * (The pooled value is a param itself: no GEMM in the step, so this checks the pooling kernels
 * alone.) */
static const char *pool_model =
    "input x: f32[8, 64]\n"
    "param w: f32[8, 16, 12, 12] = normal(0, 1)\n"
    "h = w * sum(x)\n"
    "m = max_pool2d(h, 3, stride=1, padding=1)\n"
    "a = avg_pool2d(m, 3, stride=2, padding=1, ceil_mode=true, count_include_pad=false)\n"
    "p = max_pool2d(a + adaptive_avg_pool2d(h, 7), 2) + avg_pool2d(m, 2, stride=5, padding=1)\n"
    "loss = mean(square(p))\n"
    "train {\n"
    "    optimizer = sgd(lr=0.1)\n"
    "    seed = 5\n"
    "}\n";

static void train_pool(int threads, gc_backend backend, float *losses, uint64_t *bits) {
    gc_error err = {0};
    gc_model *m = gc_model_load_string(pool_model, "pool.gm", &err);
    if (!m) fail_msg("load: %s", err.message);
    gc_options o = {backend, threads, 0, 0};
    gc_trainer *t = gc_trainer_new(m, &o, &err);
    gc_model_free(m);
    if (!t) fail_msg("trainer: %s", err.message);
    float x[8 * 64];
    for (int i = 0; i < 8 * 64; i++) x[i] = (float)((i * 37 + 11) % 17) / 8.0f - 1.0f;
    assert_true(gc_trainer_set_input(t, "x", x, sizeof x, &err));
    for (int s = 0; s < STEPS; s++)
        if (!gc_trainer_step(t, &losses[s], &err)) fail_msg("step: %s", err.message);
    gc_tensor w;
    assert_true(gc_trainer_param(t, "w", &w, &err));
    uint64_t h = 0xcbf29ce484222325ull;
    const unsigned char *p = w.data;
    for (size_t i = 0; i < 8 * 16 * 12 * 12 * sizeof(float); i++) h = (h ^ p[i]) * 0x100000001b3ull;
    *bits = h;
    gc_trainer_free(t);
}

static void pooling_bits_do_not_depend_on_the_cut(void **state) {
    (void)state;
    if (!gc_backend_available(GC_BACKEND_JIT)) skip();
    float one[STEPS], other[STEPS], ref[STEPS];
    uint64_t h1, h;
    train_pool(1, GC_BACKEND_JIT, one, &h1);
    const double shares[3][3] = {{0.2, 0.8}, {0.9, 0.1}, {0.5, 0.3, 0.2}};
    for (int c = 0; c < 5; c++) {
        if (c < 3) gc_pool_fix_shares(shares[c], c < 2 ? 2 : 3);
        train_pool(c < 2 ? 2 : 3, GC_BACKEND_JIT, other, &h);
        gc_pool_fix_shares(NULL, 0);
        if (memcmp(one, other, sizeof one) || h != h1) fail_msg("pooling: run %d gives other bits than 1 thread", c);
    }
    train_pool(1, GC_BACKEND_INTERP, ref, &h);
    for (int s = 0; s < STEPS; s++)
        if (!(fabsf(one[s] - ref[s]) <= 1e-5f * fabsf(ref[s])))
            fail_msg("step %d: JIT %.9g, interpreter %.9g", s + 1, one[s], ref[s]);
}

/* A head over a large vocabulary: its input gradient ([32, 8200] x [8200, 32]) splits along k
 * (runtime/gemm.h, gc_sgemm_ksplit), whose partial products are added in a fixed order, so the
 * bits do not depend on the thread count or the cut either (with gradc's GEMM: OpenBLAS may block
 * the step's other products differently when cut differently). */
static const char *deep_model =
    "input x: f32[32, 48]\n"
    "input y: i32[32]\n"
    "h = linear(linear(x, 32) as fc1, 8200) as head\n"
    "loss = cross_entropy(h, y)\n"
    "train {\n"
    "    optimizer = sgd(lr=0.5)\n"
    "    seed = 7\n"
    "}\n";

static void train_deep(int threads, gc_backend backend, float *losses, uint64_t *bits) {
    gc_error err = {0};
    gc_model *m = gc_model_load_string(deep_model, "deep.gm", &err);
    if (!m) fail_msg("load: %s", err.message);
    gc_options o = {backend, threads, 0, 0};
    gc_trainer *t = gc_trainer_new(m, &o, &err);
    gc_model_free(m);
    if (!t) fail_msg("trainer: %s", err.message);
    float x[32 * 48];
    int32_t y[32];
    for (int i = 0; i < 32 * 48; i++) x[i] = (float)((i * 37 + 11) % 17) / 8.0f - 1.0f;
    for (int i = 0; i < 32; i++) y[i] = (i * 977 + 3) % 8200;
    assert_true(gc_trainer_set_input(t, "x", x, sizeof x, &err));
    assert_true(gc_trainer_set_input(t, "y", y, sizeof y, &err));
    for (int s = 0; s < STEPS; s++)
        if (!gc_trainer_step(t, &losses[s], &err)) fail_msg("step: %s", err.message);
    gc_tensor w;
    assert_true(gc_trainer_param(t, "fc1.weight", &w, &err));
    uint64_t h = 0xcbf29ce484222325ull;
    const unsigned char *p = w.data;
    for (size_t i = 0; i < 32 * 48 * sizeof(float); i++) h = (h ^ p[i]) * 0x100000001b3ull;
    *bits = h;
    gc_trainer_free(t);
}

static void split_along_k_bits_do_not_depend_on_the_cut(void **state) {
    (void)state;
    if (!gc_backend_available(GC_BACKEND_JIT)) skip();
    float one[STEPS], other[STEPS], ref[STEPS];
    uint64_t h1, h;
    train_deep(1, GC_BACKEND_JIT, one, &h1);
    const double shares[3][3] = {{0.2, 0.8}, {0.9, 0.1}, {0.5, 0.3, 0.2}};
    for (int c = 0; c < 5; c++) {
        if (c < 3) gc_pool_fix_shares(shares[c], c < 2 ? 2 : 3);
        train_deep(c < 2 ? 2 : 3, GC_BACKEND_JIT, other, &h);
        gc_pool_fix_shares(NULL, 0);
        if (gc_sgemm_uses_own() && (memcmp(one, other, sizeof one) || h != h1))
            fail_msg("split along k: run %d gives other bits than 1 thread", c);
    }
    train_deep(1, GC_BACKEND_INTERP, ref, &h);
    for (int s = 0; s < STEPS; s++)
        if (!(fabsf(one[s] - ref[s]) <= 1e-5f * fabsf(ref[s])))
            fail_msg("step %d: JIT %.9g, interpreter %.9g", s + 1, one[s], ref[s]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_chunk_runs_once_per_call),
        cmocka_unit_test(a_null_pool_runs_one_part),
        cmocka_unit_test(wakes_sleeping_workers),
        cmocka_unit_test(a_stalled_worker_leaves_its_chunks_to_the_caller),
        cmocka_unit_test(the_caller_claims_from_the_left_and_workers_from_the_right),
        cmocka_unit_test(subnormals_are_flushed_unless_kept),
        cmocka_unit_test(same_bits_every_run),
        cmocka_unit_test(split_step_matches_the_interpreter),
        cmocka_unit_test(pooling_bits_do_not_depend_on_the_cut),
        cmocka_unit_test(split_along_k_bits_do_not_depend_on_the_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
