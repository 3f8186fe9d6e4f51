/*
 * gemm_short.c: GFLOP/s of gc_sgemm (runtime/gemm.c) on one thread at the training-shaped
 * products of the reference models (M1's 128-row batch, M2's 1024 tokens x 256, M3's 256 tokens
 * x 768), whole and as the pool cuts them (8 parts by rows or columns, as codegen/emit_gemm.c
 * splits them, run one after the other on this thread and sharing the packing of the operand
 * they all read, as the pool's chunks do). Run it pinned (taskset -c 1) on a busy machine.
 *
 * build: cc -O3 -std=c11 -D_GNU_SOURCE -I. -Iinclude bench/gemm_short.c runtime/gemm.c runtime/cpu_caches.c
 *        build/libgradc_runtime.a -lopenblas -lm -lpthread -o /tmp/gemm_short
 *        (the runtime library for the pool, runtime/parallel.c; gemm.c first, so that the
 *        kernel measured is the source's, not the library's)
 * usage: gemm_short [repeats] [filter]   (filter: a substring of the shape names, e.g. M1; the
 *        head's shapes run only when it says "head"; GS_MIN=1 prints the fastest of the repeats
 *        instead of the median; GS_COLD=1 flushes the caches before every timed product)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "runtime/gemm.h"
#include "runtime/parallel.h"

typedef struct shape {
    const char *name;
    int m, n, k;
    bool ta, tb;
} shape;

static const shape shapes[] = {
    {"M1 fc1 fwd 128x1024x784 B^T", 128, 1024, 784, false, true},
    {"M1 fc2 fwd 128x1024x1024 B^T", 128, 1024, 1024, false, true},
    {"M1 fc2 dx 128x1024x1024", 128, 1024, 1024, false, false},
    {"M1 fc2 dW 1024x1024x128 A^T", 1024, 1024, 128, true, false},
    {"M1 fc1 dW 1024x784x128 A^T", 1024, 784, 128, true, false},
    {"M2 fc fwd 1024x1024x256 B^T", 1024, 1024, 256, false, true},
    {"M2 fc2 fwd 1024x256x1024 B^T", 1024, 256, 1024, false, true},
    {"M2 fc2 dx 1024x1024x256", 1024, 1024, 256, false, false},
    {"M2 fc dx 1024x256x1024", 1024, 256, 1024, false, false},
    {"M2 fc dW 1024x256x1024 A^T", 1024, 256, 1024, true, false},
    {"M2 qkv dW 768x256x1024 A^T", 768, 256, 1024, true, false},
    {"M3 fc fwd 256x3072x768 B^T", 256, 3072, 768, false, true},
    {"M3 fc2 fwd 256x768x3072 B^T", 256, 768, 3072, false, true},
    {"M3 fc dx 256x768x3072", 256, 768, 3072, false, false},
    {"M3 fc2 dx 256x3072x768", 256, 3072, 768, false, false},
    {"M3 fc dW 3072x768x256 A^T", 3072, 768, 256, true, false},
    {"M3 fc2 dW 768x3072x256 A^T", 768, 3072, 256, true, false},
    {"M3 qkv fwd 256x2304x768 B^T", 256, 2304, 768, false, true},
    {"M3 attn proj dx 256x768x768", 256, 768, 768, false, false},
    /* The tied head (vocab 50257): logits, and the embedding's gradient (run only when
     * the filter names them: "head"). */
    {"M3 head fwd 256x50257x768 B^T", 256, 50257, 768, false, true},
    {"M3 head dW 50257x768x256 A^T", 50257, 768, 256, true, false},
    /* One of the 8 segments of the head's input gradient, split along k (gc_sgemm_ksplit). */
    {"M3 head dx segment 256x768x6282", 256, 768, 6282, false, false},
};

/* Operands on huge pages, as the trainer's arenas are (runtime/zeroed.c): B's rows are often
 * 4 KiB apart, and on small pages every row of a panel would be a TLB miss. */
static float *huge_floats(size_t count) {
    size_t bytes = (count * sizeof(float) + (2u << 20) - 1) & ~(size_t)((2u << 20) - 1);
    void *p = NULL;
    if (posix_memalign(&p, 2u << 20, bytes) != 0) return NULL;
    madvise(p, bytes, MADV_HUGEPAGE);
    return p;
}

/* Whether the filter picks shape s (the head's products, 20 GFLOP each, only when named). */
static bool selected(const shape *s, const char *filter) {
    return strstr(s->name, filter) && (!strstr(s->name, "head") || strstr(filter, "head"));
}

/* A, B and C of shape s on huge pages, A and B filled with small exact values. */
static void operands(const shape *s, float **a, float **b, float **c) {
    size_t na = (size_t)s->m * s->k, nb = (size_t)s->k * s->n;
    *a = huge_floats(na), *b = huge_floats(nb), *c = huge_floats((size_t)s->m * s->n);
    for (size_t j = 0; j < na; j++) (*a)[j] = (float)((int)(j * 7 % 13) - 6) / 8;
    for (size_t j = 0; j < nb; j++) (*b)[j] = (float)((int)(j * 5 % 11) - 5) / 8;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); /* CPU time: the machine is shared */
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* A fused kernel's epilogue (bias, then ReLU: M1's layers; the cheapest, so the one where where
 * C is when it runs matters most) over rows [r0, r1) and columns [c0, c1) of C, as
 * codegen/fused.c's loop applies it to a chunk. */
static void epilogue(float *c, int ldc, const float *bias, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    for (int64_t i = r0; i < r1; i++) {
        float *restrict row = c + i * ldc;
        for (int64_t j = c0; j < c1; j++) {
            float x = row[j] + bias[j];
            row[j] = x > 0 ? x : 0;
        }
    }
}

/* The product as the pool's 8 parts compute it (codegen/emit_gemm.c's cut, whole tiles). */
static const float *epi_bias; /* not NULL: apply the epilogue after each part (GS_EPILOGUE=1) */
static int epi_whole;          /* GS_EPILOGUE=2: after all the parts, over the whole of C */

static void run_parts(const shape *s, const float *a, const float *b, float *c, uint64_t job) {
    bool cols = gc_sgemm_own_splits_cols(s->m, s->n);
    int64_t len = cols ? s->n : s->m, unit = cols ? 32 : 12;
    while (unit > 1 && len / unit < 8) unit = (unit + 1) / 2;
    int64_t units = len / unit;
    int lda = s->ta ? s->m : s->k, ldb = s->tb ? s->k : s->n;
    gc_sgemm_share_begin(job, cols ? GC_SGEMM_SHARE_A : GC_SGEMM_SHARE_B);
    for (int part = 0; part < 8; part++) {
        int64_t lo = units * part / 8 * unit, hi = part == 7 ? len : units * (part + 1) / 8 * unit;
        if (hi <= lo) continue;
        if (cols)
            gc_sgemm(101, 111, s->tb ? 112 : 111, s->m, (int)(hi - lo), s->k, 1.0f, a, lda,
                     b + (s->tb ? lo * ldb : lo), ldb, 0.0f, c + lo, s->n);
        else
            gc_sgemm(101, s->ta ? 112 : 111, s->tb ? 112 : 111, (int)(hi - lo), s->n, s->k, 1.0f,
                     a + (s->ta ? lo : lo * lda), lda, b, ldb, 0.0f, c + lo * s->n, s->n);
        if (epi_bias && !epi_whole) {
            if (cols) epilogue(c, s->n, epi_bias, 0, s->m, lo, hi);
            else epilogue(c, s->n, epi_bias, lo, hi, 0, s->n);
        }
    }
    if (epi_bias && epi_whole) epilogue(c, s->n, epi_bias, 0, s->m, 0, s->n);
    gc_sgemm_share_end();
}

/* The product of the pool's current run: its chunks cut it as codegen/emit_gemm.c does. */
static const shape *cur;
static const float *cur_a, *cur_b;
static float *cur_c;

static int64_t boundary(int32_t at, int64_t count, int64_t unit) {
    return at >= GC_SHARE_ONE ? count : (count / unit) * at / GC_SHARE_ONE * unit;
}

/* CPU time the pool's chunks took, summed over threads (ns): against the wall time, how much of
 * the two threads' time went to work rather than waiting. */
static _Atomic int64_t chunk_ns;
static double now(void);

static void pool_part_timed(char *arena, const int64_t *offsets, int32_t from, int32_t to);

static void pool_part(char *arena, const int64_t *offsets, int32_t from, int32_t to) {
    double t0 = now();
    pool_part_timed(arena, offsets, from, to);
    chunk_ns += (int64_t)((now() - t0) * 1e9);
}

/* GS_SPLIT=rows or cols forces the pool's split (for measuring the rule). */
static bool split_cols(const shape *s) {
    const char *e = getenv("GS_SPLIT");
    if (e && !strcmp(e, "rows")) return false;
    if (e && !strcmp(e, "cols")) return true;
    return gc_sgemm_own_splits_cols(s->m, s->n);
}

static void pool_part_timed(char *arena, const int64_t *offsets, int32_t from, int32_t to) {
    (void)arena, (void)offsets;
    const shape *s = cur;
    bool cols = split_cols(s);
    int64_t len = cols ? s->n : s->m, unit = cols ? 32 : 12;
    while (unit > 1 && len / unit < 8) unit = (unit + 1) / 2;
    int64_t lo = boundary(from, len, unit), hi = boundary(to, len, unit);
    if (hi <= lo) return;
    int lda = s->ta ? s->m : s->k, ldb = s->tb ? s->k : s->n;
    if (cols)
        gc_sgemm(101, 111, s->tb ? 112 : 111, s->m, (int)(hi - lo), s->k, 1.0f, cur_a, lda,
                 cur_b + (s->tb ? lo * ldb : lo), ldb, 0.0f, cur_c + lo, s->n);
    else
        gc_sgemm(101, s->ta ? 112 : 111, s->tb ? 112 : 111, (int)(hi - lo), s->n, s->k, 1.0f,
                 cur_a + (s->ta ? lo : lo * lda), lda, cur_b, ldb, 0.0f, cur_c + lo * s->n, s->n);
}

/* GS_COLD=1: before every timed product, write and read a buffer larger than the caches, so
 * the operands come from memory, as a step's do after the kernels and the update before them. */
static float *flush_buf;
static size_t flush_floats;

static void flush_caches(void) {
    if (!flush_buf) return;
    float sum = 0;
    for (size_t i = 0; i < flush_floats; i += 16) flush_buf[i] += 1.0f, sum += flush_buf[i];
    __asm__ volatile("" : : "x"(sum));
}

/* GS_BLOCKINGS="MC,KC,NC;MC,KC,NC;...": instead of the usual table, each shape's whole product
 * under every blocking in turn, interleaved repeat by repeat (so a busy machine disturbs them
 * alike); prints each blocking's fastest and median CPU time. */
static void compare_blockings(const char *list, int repeats, const char *filter);

static double wall(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    int repeats = argc > 1 ? atoi(argv[1]) : 20;
    const char *filter = argc > 2 ? argv[2] : "";
    /* GS_MIN=1: the fastest run rather than the median (the least disturbed by other processes). */
    bool use_min = getenv("GS_MIN") && atoi(getenv("GS_MIN"));
    gc_gemm_blocking bl = gc_sgemm_blocking();
    printf("blocking MC %lld KC %lld NC %lld\n", (long long)bl.mc, (long long)bl.kc, (long long)bl.nc);
    uint64_t job = 1;
    if (getenv("GS_BLOCKINGS")) {
        compare_blockings(getenv("GS_BLOCKINGS"), repeats, filter);
        return 0;
    }
    if (getenv("GS_COLD") && atoi(getenv("GS_COLD"))) {
        flush_floats = (size_t)64 << 20; /* 256 MiB */
        flush_buf = huge_floats(flush_floats);
        if (flush_buf) memset(flush_buf, 0, flush_floats * sizeof *flush_buf);
    }
    /* GS_POOL=N: the "8 parts" column is instead the product run by a pool of N threads
     * (runtime/parallel.h, chunked self-scheduling, shared packing), in wall time. */
    int pool_threads = getenv("GS_POOL") ? atoi(getenv("GS_POOL")) : 0;
    gc_error err = {0};
    gc_pool *pool = pool_threads > 0 ? gc_pool_new(pool_threads, &err) : NULL;
    if (pool) {
        /* A fresh pool's first runs leave the workers out (measured: the first shape ran on one
         * thread): run a product for a while first. */
        static const shape warm = {"warm-up", 256, 256, 256, false, false};
        float *a = huge_floats(256 * 256), *b = huge_floats(256 * 256), *c = huge_floats(256 * 256);
        memset(a, 0, 256 * 256 * sizeof *a), memset(b, 0, 256 * 256 * sizeof *b);
        cur = &warm, cur_a = a, cur_b = b, cur_c = c;
        for (double t0 = wall(); wall() - t0 < 0.2;)
            gc_pool_run(pool, pool_part, NULL, NULL, GC_TASK_CALLS_GEMM | GC_TASK_GEMM_ROWS);
        free(a), free(b), free(c);
    }
    double sum_whole = 0, sum_parts = 0, flops_all = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        const shape *s = &shapes[i];
        if (!selected(s, filter)) continue;
        float *a, *b, *c;
        operands(s, &a, &b, &c);
        int lda = s->ta ? s->m : s->k, ldb = s->tb ? s->k : s->n;
        /* GS_EPILOGUE=1 or 2: the parts apply a bias + ReLU epilogue, per part or after all. */
        int epi = getenv("GS_EPILOGUE") ? atoi(getenv("GS_EPILOGUE")) : 0;
        float *bias = malloc(sizeof(float) * (size_t)s->n);
        for (int j = 0; j < s->n; j++) bias[j] = (float)(j % 7) / 16;
        epi_bias = epi ? bias : NULL;
        epi_whole = epi == 2;
        double *tc = malloc(sizeof(double) * (size_t)repeats);
        double *tw = malloc(sizeof(double) * (size_t)repeats), *tp = malloc(sizeof(double) * (size_t)repeats);
        for (int r = 0; r < repeats + 2; r++) {
            flush_caches();
            double t0 = now();
            gc_sgemm(101, s->ta ? 112 : 111, s->tb ? 112 : 111, s->m, s->n, s->k, 1.0f, a, lda, b, ldb, 0.0f, c, s->n);
            double t1 = now(), t2;
            tw[r < 2 ? 0 : r - 2] = t1 - t0;
            if (flush_buf) {
                flush_caches();
                t1 = now();
            }
            if (pool) {
                cur = s, cur_a = a, cur_b = b, cur_c = c;
                bool cols = split_cols(s);
                /* GS_NOSHARE=1: every part packs its own operands. */
                bool share = !(getenv("GS_NOSHARE") && atoi(getenv("GS_NOSHARE")));
                double w0 = wall();
                chunk_ns = 0;
                gc_pool_run(pool, pool_part, NULL, NULL,
                            GC_TASK_CALLS_GEMM | (!share ? 0 : cols ? GC_TASK_GEMM_COLS : GC_TASK_GEMM_ROWS));
                t2 = t1 + wall() - w0;
                if (r >= 2) tc[r - 2] = (double)chunk_ns * 1e-9;
            } else {
                run_parts(s, a, b, c, job++);
                t2 = now();
            }
            if (r >= 2) tp[r - 2] = t2 - t1;
        }
        qsort(tw, (size_t)repeats, sizeof *tw, cmp);
        qsort(tp, (size_t)repeats, sizeof *tp, cmp);
        qsort(tc, (size_t)repeats, sizeof *tc, cmp);
        double flops = 2.0 * s->m * s->n * s->k, w = tw[use_min ? 0 : repeats / 2], p = tp[use_min ? 0 : repeats / 2];
        printf("%-32s whole %7.3f ms %6.1f GF/s   8 parts %7.3f ms %6.1f GF/s\n", s->name, w * 1e3, flops / w * 1e-9,
               p * 1e3, flops / p * 1e-9);
        if (pool) printf("%-32s chunks' CPU time %7.3f ms (median)\n", "", tc[repeats / 2] * 1e3);
        sum_whole += w, sum_parts += p, flops_all += flops;
        free(a), free(b), free(c), free(tw), free(tp), free(tc), free(bias);
    }
    printf("%-32s whole %7.3f ms %6.1f GF/s   8 parts %7.3f ms %6.1f GF/s\n", "all", sum_whole * 1e3,
           flops_all / sum_whole * 1e-9, sum_parts * 1e3, flops_all / sum_parts * 1e-9);
    return 0;
}

static void compare_blockings(const char *list, int repeats, const char *filter) {
    enum { MAX_BL = 8 };
    gc_gemm_blocking bls[MAX_BL];
    int count = 0;
    for (const char *p = list; *p && count < MAX_BL;) {
        long long mc, kc, nc;
        if (sscanf(p, "%lld,%lld,%lld", &mc, &kc, &nc) != 3) break;
        bls[count++] = (gc_gemm_blocking){mc, kc, nc};
        p = strchr(p, ';');
        if (!p) break;
        p++;
    }
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        const shape *s = &shapes[i];
        if (!selected(s, filter)) continue;
        float *a, *b, *c;
        operands(s, &a, &b, &c);
        memset(c, 0, (size_t)s->m * s->n * sizeof *c);
        int lda = s->ta ? s->m : s->k, ldb = s->tb ? s->k : s->n;
        double *t = malloc(sizeof(double) * (size_t)(repeats * count));
        for (int r = -1; r < repeats; r++)
            for (int q = 0; q < count; q++) {
                gc_sgemm_set_blocking(bls[q]);
                flush_caches();
                double t0 = now();
                gc_sgemm(101, s->ta ? 112 : 111, s->tb ? 112 : 111, s->m, s->n, s->k, 1.0f, a, lda, b, ldb, 0.0f, c,
                         s->n);
                if (r >= 0) t[q * repeats + r] = now() - t0;
            }
        double flops = 2.0 * s->m * s->n * s->k;
        printf("%s\n", s->name);
        for (int q = 0; q < count; q++) {
            gc_sgemm_set_blocking(bls[q]);
            gc_gemm_blocking b = gc_sgemm_blocking(); /* as rounded */
            qsort(t + q * repeats, (size_t)repeats, sizeof *t, cmp);
            printf("  %4lld,%4lld,%5lld  best %6.1f GF/s  median %6.1f GF/s\n", (long long)b.mc, (long long)b.kc,
                   (long long)b.nc, flops / t[q * repeats] * 1e-9, flops / t[q * repeats + repeats / 2] * 1e-9);
        }
        free(a), free(b), free(c), free(t);
    }
}
