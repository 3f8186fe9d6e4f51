/*
 * test_conv_forward.c: the f32 forward convolution and stride-1 input gradient of
 * runtime/conv_forward.c (prepacked weights, unfolding by masked loads or gathers, halves of a
 * panel stored into different images) against loops in double, over the geometries it takes:
 * 32- and 16-wide rows (one masked load per 16 positions), rows narrower than 16 and not a power
 * of two (gathers), stride 2, 1x1 in place and strided, dilation, groups, output channels that are
 * not a multiple of the 12-row panel (read where they lie in w, or packed), an odd number of
 * 16-column blocks, 1-d and 3-d; the strided input gradient, one convolution per stride phase
 * (strides 2 and 3, 1x1 and 3x3, with dilation, groups, 3-d, and a stride-1 padding past the
 * kernel's span); and that a
 * call's images split into runs (as a fused kernel's loop makes them, reusing its packed weights)
 * or into thread shares give the same bits as one call. The process runs everything twice: with
 * the default blocking, then (re-executing itself) with tiny blocks, so that K blocks, tiles and
 * row blocks all end inside the products.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "ir/conv.h"
#include "runtime/conv.h"
#include "runtime/conv_forward.h"
#include "runtime/gemm.h"
#include "runtime/parallel.h"

typedef struct shape {
    int spatial;
    int64_t n, c, o, groups, in[3], k[3], stride, pad, dil;
    bool phases; /* the input gradient must run as one convolution per stride phase */
} shape;

static const shape shapes[] = {
    /* 8x8, 20 output channels (a 12-row panel and an 8-row one), 3 images */
    {2, 3, 16, 20, 1, {1, 8, 8}, {1, 3, 3}, 1, 1, 1, false},
    /* 32-wide rows */
    {2, 2, 8, 12, 1, {1, 32, 32}, {1, 3, 3}, 1, 1, 1, false},
    /* 16-wide rows, K = 576 (two K blocks by default), 4 output channels short of a panel */
    {2, 2, 64, 28, 1, {1, 16, 16}, {1, 3, 3}, 1, 1, 1, false},
    /* stride 2 (gathers), 16x16 -> 8x8 */
    {2, 3, 6, 16, 1, {1, 16, 16}, {1, 3, 3}, 2, 1, 1, false},
    /* rows of 6: blocks of 16 positions cross rows (gathers) */
    {2, 2, 12, 8, 1, {1, 8, 6}, {1, 3, 3}, 1, 1, 1, false},
    /* 1x1 in place, 4x4 images: 5 images, an odd number of 16-column blocks */
    {2, 5, 32, 24, 1, {1, 4, 4}, {1, 1, 1}, 1, 0, 1, false},
    /* 1x1 stride 2 (a ResNet shortcut): one phase, three of zeros */
    {2, 3, 16, 32, 1, {1, 8, 8}, {1, 1, 1}, 2, 0, 1, true},
    /* 3x3 stride 2 (a ResNet down block): phases of 1, 2 and 4 kernel positions */
    {2, 3, 16, 32, 1, {1, 16, 16}, {1, 3, 3}, 2, 1, 1, true},
    /* rows of 40 and 32: two phases of a row interleaved 16 at a time, then by masks (20 = 16 + 4),
     * or exactly */
    {2, 2, 16, 32, 1, {1, 8, 40}, {1, 3, 3}, 2, 1, 1, true},
    {2, 2, 16, 32, 1, {1, 32, 32}, {1, 1, 1}, 2, 0, 1, true},
    /* stride 2 and dilation 2: the odd positions get nothing */
    {2, 2, 16, 32, 1, {1, 16, 16}, {1, 3, 3}, 2, 2, 2, true},
    /* stride 3, groups */
    {2, 2, 32, 64, 2, {1, 12, 12}, {1, 3, 3}, 3, 1, 1, true},
    /* stride 1, padding past the kernel's span (not a forward of the flipped kernel): one phase */
    {2, 2, 16, 32, 1, {1, 8, 8}, {1, 3, 3}, 1, 3, 1, true},
    /* 3-d, stride 2 */
    {3, 2, 16, 32, 1, {4, 8, 8}, {3, 3, 3}, 2, 1, 1, true},
    /* dilation 2 */
    {2, 2, 8, 16, 1, {1, 8, 8}, {1, 3, 3}, 1, 2, 2, false},
    /* groups */
    {2, 2, 16, 24, 2, {1, 8, 8}, {1, 3, 3}, 1, 1, 1, false},
    /* deep and small: 512 positions of K, 4x4 images, 3 of them */
    {2, 3, 64, 40, 1, {1, 4, 4}, {1, 3, 3}, 1, 1, 1, false},
    /* 18 output and 10 input channels: the last panel of the forward (6 rows) and of the input
     * gradient (10 rows) is neither 4, 8 nor 12 rows, so a call that reads the weights where they
     * lie packs it */
    {2, 3, 10, 18, 1, {1, 8, 8}, {1, 3, 3}, 1, 1, 1, false},
    /* 1-d */
    {1, 3, 8, 16, 1, {1, 1, 48}, {1, 1, 5}, 1, 2, 1, false},
    /* 3-d */
    {3, 2, 4, 16, 1, {4, 4, 4}, {3, 3, 3}, 1, 1, 1, false},
};

static gc_conv_geom geometry(const shape *s) {
    gc_conv_geom g;
    memset(&g, 0, sizeof g);
    g.batch = s->n, g.in_channels = s->c, g.out_channels = s->o, g.groups = s->groups, g.spatial = s->spatial;
    for (int d = 0; d < 3; d++) {
        bool used = d >= 3 - s->spatial;
        int64_t pad = used ? s->pad : 0, dil = used ? s->dil : 1, stride = used ? s->stride : 1;
        g.in[d] = s->in[d], g.kernel[d] = s->k[d], g.stride[d] = stride, g.dilation[d] = dil;
        g.pad_before[d] = g.pad_after[d] = pad;
        g.out[d] = (s->in[d] + 2 * pad - dil * (s->k[d] - 1) - 1) / stride + 1;
    }
    return g;
}

static uint64_t rng = 1;
static float draw(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)(-1.0 + 2.0 * (double)(rng >> 11) / 9007199254740992.0);
}

static float *random_floats(int64_t count) {
    float *p = malloc(sizeof(float) * (size_t)count);
    assert_non_null(p);
    for (int64_t i = 0; i < count; i++) p[i] = draw();
    return p;
}

/* The input position of output position (p0, p1, p2) at kernel position (k0, k1, k2), or -1. */
static int64_t input_at(const gc_conv_geom *g, const int64_t *p, const int64_t *k) {
    int64_t i[3];
    for (int d = 0; d < 3; d++) {
        i[d] = p[d] * g->stride[d] - g->pad_before[d] + k[d] * g->dilation[d];
        if (i[d] < 0 || i[d] >= g->in[d]) return -1;
    }
    return (i[0] * g->in[1] + i[1]) * g->in[2] + i[2];
}

/* The forward (and with dy, the input gradient) in double: value and the sum of |terms|. */
static void reference(const gc_conv_geom *g, const float *x, const float *w, const float *dy, double *y, double *ya,
                      double *dx, double *dxa) {
    int64_t cg = g->in_channels / g->groups, og = g->out_channels / g->groups;
    int64_t in_size = g->in[0] * g->in[1] * g->in[2], out_size = g->out[0] * g->out[1] * g->out[2];
    int64_t kk = g->kernel[0] * g->kernel[1] * g->kernel[2];
    memset(y, 0, sizeof(double) * (size_t)(g->batch * g->out_channels * out_size));
    memset(ya, 0, sizeof(double) * (size_t)(g->batch * g->out_channels * out_size));
    memset(dx, 0, sizeof(double) * (size_t)(g->batch * g->in_channels * in_size));
    memset(dxa, 0, sizeof(double) * (size_t)(g->batch * g->in_channels * in_size));
    for (int64_t n = 0; n < g->batch; n++)
        for (int64_t o = 0; o < g->out_channels; o++)
            for (int64_t q = 0; q < out_size; q++) {
                int64_t p[3] = {q / (g->out[1] * g->out[2]), q / g->out[2] % g->out[1], q % g->out[2]};
                int64_t yi = (n * g->out_channels + o) * out_size + q;
                for (int64_t cl = 0; cl < cg; cl++)
                    for (int64_t ki = 0; ki < kk; ki++) {
                        int64_t k[3] = {ki / (g->kernel[1] * g->kernel[2]), ki / g->kernel[2] % g->kernel[1],
                                        ki % g->kernel[2]};
                        int64_t at = input_at(g, p, k);
                        if (at < 0) continue;
                        int64_t c = o / og * cg + cl, xi = (n * g->in_channels + c) * in_size + at;
                        double wv = w[(o * cg + cl) * kk + ki];
                        y[yi] += wv * x[xi];
                        ya[yi] += fabs(wv * x[xi]);
                        dx[xi] += wv * dy[yi];
                        dxa[xi] += fabs(wv * dy[yi]);
                    }
            }
}

static void expect_close(const char *what, int s, const float *got, const double *want, const double *abs_sum,
                         int64_t count) {
    for (int64_t i = 0; i < count; i++)
        if (!(fabs(got[i] - want[i]) <= 1e-6 * abs_sum[i] + 1e-6))
            fail_msg("shape %d: %s[%lld] = %.9g, want %.9g", s, what, (long long)i, got[i], want[i]);
}

static void expect_same_bits(const char *what, int s, const float *a, const float *b, int64_t count) {
    if (memcmp(a, b, sizeof(float) * (size_t)count) != 0) fail_msg("shape %d: %s: the bits differ", s, what);
}

static void check_shape(int s) {
    gc_conv_geom g = geometry(&shapes[s]);
    const int64_t *geom = (const int64_t *)(const void *)&g;
    int64_t in_size = g.in[0] * g.in[1] * g.in[2], out_size = g.out[0] * g.out[1] * g.out[2];
    int64_t nx = g.batch * g.in_channels * in_size, ny = g.batch * g.out_channels * out_size;
    int64_t nw = g.out_channels * (g.in_channels / g.groups) * g.kernel[0] * g.kernel[1] * g.kernel[2];
    /* The forward path must take every shape here (on a CPU where gradc's GEMM kernel runs). */
    if (gc_sgemm_uses_own() && !gc_conv_fast_forward_takes(&g)) fail_msg("shape %d: the forward path declines it", s);
    float *x = random_floats(nx), *w = random_floats(nw), *dy = random_floats(ny);
    double *y_want = malloc(sizeof(double) * (size_t)ny), *y_abs = malloc(sizeof(double) * (size_t)ny);
    double *dx_want = malloc(sizeof(double) * (size_t)nx), *dx_abs = malloc(sizeof(double) * (size_t)nx);
    float *y = malloc(sizeof(float) * (size_t)ny), *y2 = malloc(sizeof(float) * (size_t)ny);
    float *dx = malloc(sizeof(float) * (size_t)nx), *dx2 = malloc(sizeof(float) * (size_t)nx);
    assert_true(y_want && y_abs && dx_want && dx_abs && y && y2 && dx && dx2);
    reference(&g, x, w, dy, y_want, y_abs, dx_want, dx_abs);
    if (gc_sgemm_uses_own() && shapes[s].phases) {
        /* The phases write every element of dx. */
        memset(dx, 0xff, sizeof(float) * (size_t)nx);
        if (!gc_conv_fast_input_grad(&g, dy, w, dx, 0, g.batch, 0)) fail_msg("shape %d: the phases decline it", s);
        expect_close("dx by phases", s, dx, dx_want, dx_abs, nx);
    }

    gc_conv_forward_f32(geom, x, w, y, 0, GC_SHARE_ONE);
    expect_close("y", s, y, y_want, y_abs, ny);
    gc_conv_input_grad_f32(geom, dy, w, dx, 0, GC_SHARE_ONE);
    expect_close("dx", s, dx, dx_want, dx_abs, nx);

    /* Runs of images as a fused kernel's loop makes them (the weights packed by the first run
     * reused by the rest), a forward of other weights between two such loops, and thread shares:
     * the same bits. */
    for (int per = 1; per <= 2; per++) {
        memset(y2, 0xff, sizeof(float) * (size_t)ny);
        memset(dx2, 0xff, sizeof(float) * (size_t)nx);
        for (int64_t lo = 0; lo < g.batch; lo += per) {
            int64_t hi = lo + per < g.batch ? lo + per : g.batch;
            gc_conv_forward_images_f32(geom, x, w, y2, lo, hi, lo > 0);
        }
        for (int64_t lo = 0; lo < g.batch; lo += per) {
            int64_t hi = lo + per < g.batch ? lo + per : g.batch;
            gc_conv_input_grad_images_f32(geom, dy, w, dx2, lo, hi, lo > 0);
        }
        expect_same_bits("y in runs of images", s, y, y2, ny);
        expect_same_bits("dx in runs of images", s, dx, dx2, nx);
    }
    memset(y2, 0xff, sizeof(float) * (size_t)ny);
    memset(dx2, 0xff, sizeof(float) * (size_t)nx);
    int32_t cut = GC_SHARE_ONE / 3;
    gc_conv_forward_f32(geom, x, w, y2, cut, GC_SHARE_ONE);
    gc_conv_forward_f32(geom, x, w, y2, 0, cut);
    gc_conv_input_grad_f32(geom, dy, w, dx2, cut, GC_SHARE_ONE);
    gc_conv_input_grad_f32(geom, dy, w, dx2, 0, cut);
    expect_same_bits("y in two shares", s, y, y2, ny);
    expect_same_bits("dx in two shares", s, dx, dx2, nx);

    free(x), free(w), free(dy), free(y_want), free(y_abs), free(dx_want), free(dx_abs);
    free(y), free(y2), free(dx), free(dx2);
}

static void test_against_double(void **state) {
    (void)state;
    for (int s = 0; s < (int)(sizeof shapes / sizeof shapes[0]); s++) check_shape(s);
}

/* A stale packing must not survive a change of weights: the same geometry with other weights
 * (again = 0) after a call that packed the first ones. */
static void test_new_weights_repacked(void **state) {
    (void)state;
    gc_conv_geom g = geometry(&shapes[0]);
    const int64_t *geom = (const int64_t *)(const void *)&g;
    int64_t nx = g.batch * g.in_channels * 64, ny = g.batch * g.out_channels * 64, nw = g.out_channels * g.in_channels * 9;
    float *x = random_floats(nx), *w1 = random_floats(nw), *w2 = random_floats(nw);
    float *y1 = malloc(sizeof(float) * (size_t)ny), *y2 = malloc(sizeof(float) * (size_t)ny);
    float *ya = malloc(sizeof(float) * (size_t)ny);
    assert_true(y1 && y2 && ya);
    gc_conv_forward_f32(geom, x, w2, y2, 0, GC_SHARE_ONE);
    gc_conv_forward_f32(geom, x, w1, y1, 0, GC_SHARE_ONE);
    memcpy(w1, w2, sizeof(float) * (size_t)nw); /* same pointer, new values */
    gc_conv_forward_images_f32(geom, x, w1, ya, 0, g.batch, 0);
    expect_same_bits("y after the weights changed", 0, y2, ya, ny);
    free(x), free(w1), free(w2), free(y1), free(y2), free(ya);
}

/* The same for the weights a strided input gradient gathers per phase (3x3, stride 2). */
static void test_new_weights_regathered(void **state) {
    (void)state;
    shape sh = {2, 2, 16, 32, 1, {1, 16, 16}, {1, 3, 3}, 2, 1, 1, true};
    gc_conv_geom g = geometry(&sh);
    const int64_t *geom = (const int64_t *)(const void *)&g;
    int64_t nx = g.batch * g.in_channels * 256, ny = g.batch * g.out_channels * 64, nw = g.out_channels * g.in_channels * 9;
    float *dy = random_floats(ny), *w1 = random_floats(nw), *w2 = random_floats(nw);
    float *dx1 = malloc(sizeof(float) * (size_t)nx), *dx2 = malloc(sizeof(float) * (size_t)nx);
    float *dxa = malloc(sizeof(float) * (size_t)nx);
    assert_true(dx1 && dx2 && dxa);
    gc_conv_input_grad_f32(geom, dy, w2, dx2, 0, GC_SHARE_ONE);
    gc_conv_input_grad_images_f32(geom, dy, w1, dx1, 0, 1, 0);
    gc_conv_input_grad_images_f32(geom, dy, w1, dx1, 1, g.batch, 1);
    memcpy(w1, w2, sizeof(float) * (size_t)nw); /* same pointer, new values */
    gc_conv_input_grad_images_f32(geom, dy, w1, dxa, 0, g.batch, 0);
    expect_same_bits("dx after the weights changed", 0, dx2, dxa, nx);
    free(dy), free(w1), free(w2), free(dx1), free(dx2), free(dxa);
}

int main(int argc, char **argv) {
    (void)argc;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_double),
        cmocka_unit_test(test_new_weights_repacked),
        cmocka_unit_test(test_new_weights_regathered),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (failed || getenv("GRADC_CONV_BLOCKING")) return failed;
    /* Again with blocks small enough to end inside every product: K blocks of 40 rows, tiles of
     * 64 columns, row blocks of 24. */
    setenv("GRADC_CONV_BLOCKING", "40,64,24", 1);
    execv("/proc/self/exe", argv);
    fail_msg("re-executing with small blocks failed");
    return 1;
}
