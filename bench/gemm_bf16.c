/*
 * gemm_bf16.c: GFLOP/s of gradc's f32 and bf16 GEMMs (runtime/gemm.h, runtime/gemm_bf16.h) at M3's
 * shapes (GPT-2 small, 256 tokens), each product split over the pool's threads as generated code
 * splits it (codegen/emit_gemm.c: along k when gc_sgemm_splits_k, else by columns or rows, whole
 * tiles, the parts sharing the packing of the operand they all read).
 *
 * build: cc -O2 -std=c11 -I. -Iinclude bench/gemm_bf16.c build/libgradc.a -lopenblas -lm -lpthread
 *        -o /tmp/gemm_bf16   (after cmake --build build)
 * usage: gemm_bf16 [threads] [repeats] (threads 0: two threads' chunks run in turn on one); GC_BENCH_SHAPE=i runs shape i alone, GC_BENCH_MODE=f32|bf16
 *        one precision; GC_BENCH_CPUTIME=1 times the process's CPU time over the threads (on a
 *        busy machine this measures the work rather than the waiting); GC_BENCH_BF16_COLS=1 splits
 *        a bf16 product deep enough for gc_sgemm_bf16_ksplit by columns instead (as before it);
 *        GC_BENCH_COLD=1 evicts the caches before every repeat (the operands come from DRAM, as in
 *        a training step).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/gemm.h"
#include "runtime/gemm_bf16.h"
#include "runtime/parallel.h"

/* Weak: the bench also links older gemm_bf16.c versions (GC_BENCH_BF16_COLS=1 then). */
#pragma weak gc_sgemm_bf16_ksplit

#define NT 111
#define TR 112

typedef struct shape {
    const char *name;
    int m, n, k;
    int ta, tb;
    float beta;
} shape;

static const shape shapes[] = {
    {"head fwd x@wte^T", 256, 50257, 768, NT, TR, 0},   {"head dx dl@wte", 256, 768, 50257, NT, NT, 0},
    {"head dW dl^T@x (+=)", 50257, 768, 256, TR, NT, 1}, {"qkv fwd", 256, 2304, 768, NT, TR, 0},
    {"fc fwd", 256, 3072, 768, NT, TR, 0},               {"proj fwd", 256, 768, 3072, NT, TR, 0},
    {"attn proj fwd", 256, 768, 768, NT, TR, 0},         {"fc dx", 256, 768, 3072, NT, NT, 0},
    {"proj dx", 256, 3072, 768, NT, NT, 0},              {"fc dW", 3072, 768, 256, TR, NT, 0},
    {"proj dW", 768, 3072, 256, TR, NT, 0},              {"qkv dW", 2304, 768, 256, TR, NT, 0},
};

static const shape *sh;
static const float *A, *B;
static float *C;
static int lda, ldb;
static bool bf16, by_cols, by_k;

/* codegen/parallel.c's boundary(): `at` of GC_SHARE_ONE, in whole units. */
static int64_t boundary(int32_t at, int64_t count, int64_t unit) {
    if (at >= GC_SHARE_ONE) return count;
    return (count / unit) * at / GC_SHARE_ONE * unit;
}

static void task(char *arena, const int64_t *offsets, int32_t from, int32_t to) {
    (void)arena, (void)offsets;
    int m = sh->m, n = sh->n, k = sh->k;
    const char *cols_env = getenv("GC_BENCH_BF16_COLS");
    if (by_k && !(bf16 && cols_env && *cols_env && strcmp(cols_env, "0") != 0)) {
        int32_t lo = (int32_t)boundary(from, GC_SGEMM_K_SEGMENTS, 1), hi = (int32_t)boundary(to, GC_SGEMM_K_SEGMENTS, 1);
        if (bf16)
            gc_sgemm_bf16_ksplit(sh->ta, sh->tb, m, n, k, A, lda, B, ldb, C, n, lo, hi);
        else
            gc_sgemm_ksplit(sh->ta, sh->tb, m, n, k, A, lda, B, ldb, C, n, lo, hi);
        return;
    }
    bool cols = by_cols || by_k;
    int64_t count = cols ? n : m, unit = cols ? 32 : 12;
    while (unit > 1 && count / unit < 8) unit = (unit + 1) / 2;
    int64_t lo = boundary(from, count, unit), hi = boundary(to, count, unit);
    if (hi <= lo) return;
    const float *a = A, *b = B;
    float *c = C;
    int pm = m, pn = n;
    if (cols) {
        b += sh->tb == TR ? lo * ldb : lo;
        c += lo;
        pn = (int)(hi - lo);
    } else {
        a += sh->ta == TR ? lo : lo * lda;
        c += lo * n;
        pm = (int)(hi - lo);
    }
    if (bf16)
        gc_sgemm_bf16(101, sh->ta, sh->tb, pm, pn, k, 1.0f, a, lda, b, ldb, sh->beta, c, n);
    else
        gc_sgemm(101, sh->ta, sh->tb, pm, pn, k, 1.0f, a, lda, b, ldb, sh->beta, c, n);
}

/* threads 0: the pool's chunks for two threads (4, 4, 3, 3, 2, 2, 1, 1 twentieths, as
 * runtime/parallel.c's guided cuts), run in order on this thread as one job: the work of a split
 * product without the waiting, which a busy machine makes noisy. */
static void run_chunks_alone(int32_t flags) {
    static uint64_t job = UINT64_C(1) << 32; /* apart from the pool's; below 2^40 (gemm.c's slot words) */
    int share = flags & GC_TASK_GEMM_ROWS ? GC_SGEMM_SHARE_B : flags & GC_TASK_GEMM_COLS ? GC_SGEMM_SHARE_A : GC_SGEMM_SHARE_K;
    gc_sgemm_share_begin(++job, share);
    const int sizes[8] = {4, 4, 3, 3, 2, 2, 1, 1};
    int at = 0;
    for (int i = 0; i < 8; i++) {
        int from = (int)((int64_t)GC_SHARE_ONE * at / 20);
        at += sizes[i];
        task(NULL, NULL, from, (int)((int64_t)GC_SHARE_ONE * at / 20));
    }
    gc_sgemm_share_end();
}

static int threads = 2;
static double now(void) {
    struct timespec t;
    if (getenv("GC_BENCH_CPUTIME")) {
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
        return ((double)t.tv_sec + 1e-9 * (double)t.tv_nsec) / (threads ? threads : 1);
    }
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* GC_BENCH_COLD=1: every repeat starts with the operands out of the caches, as in a training
 * step, where a layer's weights were last touched by the previous step's optimizer (M3's 124M
 * parameters are far larger than the caches). */
static void evict_caches(void) {
    static char *junk;
    static const size_t bytes = (size_t)256 << 20;
    if (!junk) junk = malloc(bytes);
    if (!junk) return;
    for (size_t i = 0; i < bytes; i += 64) junk[i] = (char)(junk[i] + 1);
}

static float *filled(size_t count, unsigned seed) {
    float *x = aligned_alloc(64, (count * 4 + 63) / 64 * 64);
    for (size_t i = 0; i < count; i++) x[i] = (float)(((i + seed) * 7919) % 1000) / 1000.0f - 0.5f;
    return x;
}

int main(int argc, char **argv) {
    threads = argc > 1 ? atoi(argv[1]) : 2;
    int repeats = argc > 2 ? atoi(argv[2]) : 5;
    gc_error err = {0};
    gc_pool *pool = gc_pool_new(threads ? threads : 1, &err);
    const char *only = getenv("GC_BENCH_SHAPE"), *mode = getenv("GC_BENCH_MODE");
    printf("| shape | m | n | k | split | f32 ms | bf16 ms | f32 GFLOP/s | bf16 GFLOP/s | bf16/f32 |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|\n");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        if (only && (size_t)atoi(only) != s) continue;
        sh = &shapes[s];
        int m = sh->m, n = sh->n, k = sh->k;
        lda = sh->ta == TR ? m : k;
        ldb = sh->tb == TR ? k : n;
        float *a = filled((size_t)m * k, 1), *b = filled((size_t)k * n, 2);
        C = filled((size_t)m * n, 3);
        A = a, B = b;
        by_k = gc_sgemm_splits_k(m, n, k);
        by_cols = gc_sgemm_own_splits_cols(m, n);
        int32_t flags = GC_TASK_CALLS_GEMM | (by_k ? GC_TASK_GEMM_KSPLIT : by_cols ? GC_TASK_GEMM_COLS : GC_TASK_GEMM_ROWS);
        double flops = 2.0 * m * n * k, best[2] = {0, 0};
        for (int p = 0; p < 2; p++) {
            if (mode && strcmp(mode, p ? "bf16" : "f32") != 0) continue;
            bf16 = p == 1;
            threads ? gc_pool_run(pool, task, NULL, NULL, flags) : run_chunks_alone(flags);
            best[p] = 1e30;
            const char *cold = getenv("GC_BENCH_COLD");
            for (int r = 0; r < repeats; r++) {
                if (cold && *cold && strcmp(cold, "0") != 0) evict_caches();
                double t0 = now();
                threads ? gc_pool_run(pool, task, NULL, NULL, flags) : run_chunks_alone(flags);
                double t = now() - t0;
                if (t < best[p]) best[p] = t;
            }
        }
        printf("| %s | %d | %d | %d | %s | %.2f | %.2f | %.0f | %.0f | %.2f |\n", sh->name, m, n, k,
               by_k ? "k" : by_cols ? "cols" : "rows", best[0] * 1e3, best[1] * 1e3, flops / best[0] * 1e-9,
               flops / best[1] * 1e-9, best[1] > 0 ? best[0] / best[1] : 0);
        fflush(stdout);
        free(a), free(b), free(C);
    }
    gc_pool_free(pool);
    return 0;
}
