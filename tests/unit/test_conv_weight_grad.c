/*
 * test_conv_weight_grad.c: the weight-gradient kernel (runtime/conv_weight_grad.c) called
 * directly, against a sum in doubles, over geometries that take each of its paths: the input
 * read in place (1x1, stride 1 or 2, no padding) or copied with its padding, chunks of several
 * images (4 x 4 outputs) or of rows of one image (300 x 301), channel counts that fill neither a
 * 6-row block nor a 64-channel panel, groups, depthwise (direct loops), dilation, 1-d and 3-d,
 * batch 1, and a part with so many channels that it runs as several. Each runs whole and cut
 * into two and three parts (as the pool's threads cut it: by input channels up to 64 output
 * channels a group, by 64-channel panels of output channels above), which must agree bit for
 * bit: a training run resumed on another thread count repeats its steps exactly.
 * (test_conv_fuse and test_jit_vs_interp check the same kernel through generated code against
 * the interpreter.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ir/conv.h"
#include "runtime/conv.h"
#include "runtime/conv_weight_grad.h"
#include "runtime/parallel.h"

typedef struct geometry {
    int batch, in_channels, out_channels, groups, spatial;
    int in[3], kernel[3], stride[3], pad_before[3], pad_after[3], dilation[3];
} geometry;

#define G2(n, c, o, groups, h, w, k, s, p, d)                                                                  \
    {n, c, o, groups, 2, {1, h, w}, {1, k, k}, {1, s, s}, {0, p, p}, {0, p, p}, {1, d, d}}

static const geometry geometries[] = {
    G2(3, 8, 16, 1, 9, 9, 3, 1, 1, 1),        /* padded, several images per chunk */
    G2(2, 6, 12, 1, 20, 17, 3, 1, 1, 1),      /* odd sizes */
    G2(2, 32, 16, 1, 16, 16, 1, 1, 0, 1),     /* 1x1 read in place */
    G2(2, 32, 16, 1, 9, 9, 1, 2, 0, 1),       /* strided 1x1 (a ResNet shortcut) */
    G2(3, 16, 16, 2, 9, 9, 3, 2, 1, 1),       /* groups, stride 2 */
    G2(2, 16, 16, 2, 9, 9, 3, 1, 1, 2),       /* groups, dilated */
    G2(2, 8, 8, 8, 7, 7, 3, 1, 1, 1),         /* depthwise */
    G2(1, 64, 70, 1, 7, 5, 3, 1, 1, 1),       /* batch 1; 70 channels: a part-filled panel */
    G2(4, 512, 512, 1, 4, 4, 3, 1, 1, 1),     /* ResNet-18's last stage, 4 x 4 */
    G2(2, 3, 64, 1, 32, 32, 3, 1, 1, 1),      /* a stem: 27 rows over 3 channels */
    G2(1, 2, 130, 1, 300, 301, 3, 1, 1, 1),   /* chunks of rows of one image */
    G2(1, 300, 1024, 1, 4, 4, 3, 1, 1, 1),    /* more sums than a part keeps: several parts */
    /* 1-d: stride 3, padding 2 and 1, dilation 2 */
    {2, 8, 16, 1, 1, {1, 1, 300}, {1, 1, 5}, {1, 1, 3}, {0, 0, 2}, {0, 0, 1}, {1, 1, 2}},
    /* 3-d, uneven padding and strides */
    {2, 5, 9, 1, 3, {4, 5, 6}, {2, 3, 3}, {1, 2, 1}, {1, 1, 0}, {0, 1, 2}, {1, 1, 2}},
};

static void make_geom(const geometry *t, gc_conv_geom *g) {
    memset(g, 0, sizeof *g);
    g->batch = t->batch, g->in_channels = t->in_channels, g->out_channels = t->out_channels;
    g->groups = t->groups, g->spatial = t->spatial;
    for (int d = 0; d < 3; d++) {
        g->in[d] = t->in[d], g->kernel[d] = t->kernel[d], g->stride[d] = t->stride[d];
        g->pad_before[d] = t->pad_before[d], g->pad_after[d] = t->pad_after[d], g->dilation[d] = t->dilation[d];
        g->out[d] = (t->in[d] + t->pad_before[d] + t->pad_after[d] - t->dilation[d] * (t->kernel[d] - 1) - 1) /
                        t->stride[d] + 1;
    }
}

/* dw in doubles, and the sum of the products' magnitudes (the scale of each sum's rounding). */
static void reference(const gc_conv_geom *g, const float *x, const float *dy, double *dw, double *mag) {
    int64_t in_size = g->in[0] * g->in[1] * g->in[2], out_size = g->out[0] * g->out[1] * g->out[2];
    int64_t cg = g->in_channels / g->groups, og = g->out_channels / g->groups;
    int64_t kk = g->kernel[0] * g->kernel[1] * g->kernel[2];
    for (int64_t o = 0; o < g->out_channels; o++)
        for (int64_t cl = 0; cl < cg; cl++)
            for (int64_t kidx = 0; kidx < kk; kidx++) {
                int64_t k0 = kidx / (g->kernel[1] * g->kernel[2]), k1 = kidx / g->kernel[2] % g->kernel[1];
                int64_t k2 = kidx % g->kernel[2];
                double s = 0, m = 0;
                for (int64_t n = 0; n < g->batch; n++) {
                    const float *xc = x + (n * g->in_channels + o / og * cg + cl) * in_size;
                    const float *d = dy + (n * g->out_channels + o) * out_size;
                    for (int64_t q = 0; q < out_size; q++) {
                        int64_t p0 = q / (g->out[1] * g->out[2]), p1 = q / g->out[2] % g->out[1], p2 = q % g->out[2];
                        int64_t i0 = p0 * g->stride[0] - g->pad_before[0] + k0 * g->dilation[0];
                        int64_t i1 = p1 * g->stride[1] - g->pad_before[1] + k1 * g->dilation[1];
                        int64_t i2 = p2 * g->stride[2] - g->pad_before[2] + k2 * g->dilation[2];
                        if (i0 < 0 || i1 < 0 || i2 < 0 || i0 >= g->in[0] || i1 >= g->in[1] || i2 >= g->in[2]) continue;
                        double v = (double)xc[(i0 * g->in[1] + i1) * g->in[2] + i2] * d[q];
                        s += v, m += fabs(v);
                    }
                }
                dw[(o * cg + cl) * kk + kidx] = s, mag[(o * cg + cl) * kk + kidx] = m;
            }
}

/* The kernel over `parts` equal shares of GC_SHARE_ONE, one after another. */
static void run_parts(const int64_t *geom, const float *x, const float *dy, float *dw, int parts) {
    for (int i = 0; i < parts; i++) {
        int32_t from = (int32_t)((int64_t)GC_SHARE_ONE * i / parts), to = (int32_t)((int64_t)GC_SHARE_ONE * (i + 1) / parts);
        gc_conv_weight_grad_f32(geom, x, dy, dw, from, to);
    }
}

static void check_geometry(int v) {
    gc_conv_geom g;
    make_geom(&geometries[v], &g);
    const int64_t *geom = (const int64_t *)(const void *)&g;
    int64_t in_size = g.in[0] * g.in[1] * g.in[2], out_size = g.out[0] * g.out[1] * g.out[2];
    size_t nx = (size_t)(g.batch * g.in_channels * in_size), ny = (size_t)(g.batch * g.out_channels * out_size);
    size_t nw = (size_t)(g.out_channels * (g.in_channels / g.groups) * g.kernel[0] * g.kernel[1] * g.kernel[2]);
    float *x = malloc(nx * sizeof *x), *dy = malloc(ny * sizeof *dy);
    float *dw[3] = {malloc(nw * sizeof(float)), malloc(nw * sizeof(float)), malloc(nw * sizeof(float))};
    double *want = malloc(nw * sizeof *want), *mag = malloc(nw * sizeof *mag);
    assert_true(x && dy && dw[0] && dw[1] && dw[2] && want && mag);
    for (size_t i = 0; i < nx; i++) x[i] = (float)((i * 7919) % 1000) / 500.0f - 1.0f;
    for (size_t i = 0; i < ny; i++) dy[i] = (float)((i * 15485863) % 1000) / 500.0f - 1.0f;
    reference(&g, x, dy, want, mag);
    for (int parts = 1; parts <= 3; parts++) {
        memset(dw[parts - 1], 0xff, nw * sizeof(float)); /* NaNs: every weight must be written */
        run_parts(geom, x, dy, dw[parts - 1], parts);
    }
    for (size_t i = 0; i < nw; i++) {
        /* float sums of up to 90000 products in order: a few ulps of their magnitude per step */
        if (!(fabs(dw[0][i] - want[i]) <= 1e-5 * mag[i] + 1e-30)) {
            print_error("geometry %d: dw[%zu] = %.9g, want %.9g\n", v, i, (double)dw[0][i], want[i]);
            fail();
        }
    }
    assert_memory_equal(dw[0], dw[1], nw * sizeof(float));
    assert_memory_equal(dw[0], dw[2], nw * sizeof(float));
    assert_true(gc_conv_weight_grad_workspace_bytes(geom) >= 0);
    free(x), free(dy), free(dw[0]), free(dw[1]), free(dw[2]), free(want), free(mag);
}

#define GEOMETRY_TEST(i)                                                                                       \
    static void test_geometry_##i(void **state) {                                                            \
        (void)state;                                                                                           \
        check_geometry(i);                                                                                     \
    }
GEOMETRY_TEST(0)
GEOMETRY_TEST(1)
GEOMETRY_TEST(2)
GEOMETRY_TEST(3)
GEOMETRY_TEST(4)
GEOMETRY_TEST(5)
GEOMETRY_TEST(6)
GEOMETRY_TEST(7)
GEOMETRY_TEST(8)
GEOMETRY_TEST(9)
GEOMETRY_TEST(10)
GEOMETRY_TEST(11)
GEOMETRY_TEST(12)
GEOMETRY_TEST(13)

_Static_assert(sizeof geometries / sizeof geometries[0] == 14, "a test per geometry");

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_geometry_0),  cmocka_unit_test(test_geometry_1),  cmocka_unit_test(test_geometry_2),
        cmocka_unit_test(test_geometry_3),  cmocka_unit_test(test_geometry_4),  cmocka_unit_test(test_geometry_5),
        cmocka_unit_test(test_geometry_6),  cmocka_unit_test(test_geometry_7),  cmocka_unit_test(test_geometry_8),
        cmocka_unit_test(test_geometry_9),  cmocka_unit_test(test_geometry_10), cmocka_unit_test(test_geometry_11),
        cmocka_unit_test(test_geometry_12), cmocka_unit_test(test_geometry_13),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
