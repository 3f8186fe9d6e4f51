/*
 * conv_kernels.c: GFLOP/s of gradc's convolution kernels (runtime/conv.h) on the pool's threads,
 * at ResNet-18-on-CIFAR shapes; bench/conv_kernels_torch.py measures PyTorch on the same.
 *
 * build: cc -O2 -std=c11 -I. -Iinclude bench/conv_kernels.c build/libgradc.a -lopenblas -lm -lpthread
 *        -o /tmp/conv_kernels   (after cmake --build build)
 * usage: conv_kernels [threads] [repeats]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ir/conv.h"
#include "runtime/conv.h"
#include "runtime/parallel.h"

typedef struct shape {
    const char *name;
    int64_t n, c, h, o, k, stride, pad;
} shape;

static const shape shapes[] = {
    {"64ch 32x32 3x3", 32, 64, 32, 64, 3, 1, 1},     {"128ch 16x16 3x3", 32, 128, 16, 128, 3, 1, 1},
    {"256ch 8x8 3x3", 32, 256, 8, 256, 3, 1, 1},     {"512ch 4x4 3x3", 32, 512, 4, 512, 3, 1, 1},
    {"64->128 32x32 3x3 s2", 32, 64, 32, 128, 3, 2, 1}, {"64->128 1x1 s2", 32, 64, 32, 128, 1, 2, 0},
    {"128->256 1x1 s2", 32, 128, 16, 256, 1, 2, 0},  {"256->512 1x1 s2", 32, 256, 8, 512, 1, 2, 0},
};

static gc_conv_geom geom;
static float *x, *w, *y;
static int which;

static void task(char *arena, const int64_t *offsets, int32_t from, int32_t to) {
    (void)arena, (void)offsets;
    const int64_t *g = (const int64_t *)(const void *)&geom;
    if (which == 0) gc_conv_forward_f32(g, x, w, y, from, to);
    if (which == 1) gc_conv_input_grad_f32(g, y, w, x, from, to);
    if (which == 2) gc_conv_weight_grad_f32(g, x, y, w, from, to);
}

/* Wall time; with GC_BENCH_CPUTIME set, the process's CPU time divided by the threads (on a busy
 * machine this measures the work rather than the waiting, as long as the threads do not spin). */
static int threads = 2;
static double now(void) {
    struct timespec t;
    if (getenv("GC_BENCH_CPUTIME")) {
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
        return ((double)t.tv_sec + 1e-9 * (double)t.tv_nsec) / threads;
    }
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    threads = argc > 1 ? atoi(argv[1]) : 2;
    int repeats = argc > 2 ? atoi(argv[2]) : 10;
    gc_error err = {0};
    gc_pool *pool = gc_pool_new(threads, &err);
    printf("| shape | forward GFLOP/s | input grad GFLOP/s | weight grad GFLOP/s |\n|---|---|---|---|\n");
    const char *only = getenv("GC_BENCH_SHAPE");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        if (only && (size_t)atoi(only) != s) continue;
        const shape *sh = &shapes[s];
        memset(&geom, 0, sizeof geom);
        geom.batch = sh->n, geom.in_channels = sh->c, geom.out_channels = sh->o, geom.groups = 1, geom.spatial = 2;
        int64_t oh = (sh->h + 2 * sh->pad - sh->k) / sh->stride + 1;
        int64_t in[3] = {1, sh->h, sh->h}, out[3] = {1, oh, oh}, k[3] = {1, sh->k, sh->k}, st[3] = {1, sh->stride, sh->stride};
        for (int d = 0; d < 3; d++) {
            geom.in[d] = in[d], geom.out[d] = out[d], geom.kernel[d] = k[d], geom.stride[d] = st[d];
            geom.dilation[d] = 1;
            geom.pad_before[d] = geom.pad_after[d] = d ? sh->pad : 0;
        }
        size_t nx = (size_t)(sh->n * sh->c * sh->h * sh->h), nw = (size_t)(sh->o * sh->c * sh->k * sh->k);
        size_t ny = (size_t)(sh->n * sh->o * oh * oh);
        x = aligned_alloc(64, (nx * 4 + 63) / 64 * 64), w = aligned_alloc(64, (nw * 4 + 63) / 64 * 64);
        y = aligned_alloc(64, (ny * 4 + 63) / 64 * 64);
        for (size_t i = 0; i < nx; i++) x[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
        for (size_t i = 0; i < nw; i++) w[i] = (float)((i * 104729) % 1000) / 1000.0f - 0.5f;
        for (size_t i = 0; i < ny; i++) y[i] = (float)((i * 15485863) % 1000) / 1000.0f - 0.5f;
        double flops = 2.0 * gc_conv_macs(&geom), rate[3];
        const char *op = getenv("GC_BENCH_OP");
        for (which = 0; which < 3; which++) {
            rate[which] = 0;
            if (op && atoi(op) != which) continue;
            /* weight grad and input grad overwrite w and x: harmless for timing */
            gc_pool_run(pool, task, NULL, NULL, GC_TASK_CALLS_GEMM);
            double best = 1e30;
            for (int r = 0; r < repeats; r++) {
                double t0 = now();
                gc_pool_run(pool, task, NULL, NULL, GC_TASK_CALLS_GEMM);
                double t = now() - t0;
                if (t < best) best = t;
            }
            rate[which] = flops / best * 1e-9;
        }
        printf("| %s | %.0f | %.0f | %.0f |\n", sh->name, rate[0], rate[1], rate[2]);
        free(x), free(w), free(y);
    }
    gc_pool_free(pool);
    return 0;
}
