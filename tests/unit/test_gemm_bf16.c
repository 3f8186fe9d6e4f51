/*
 * test_gemm_bf16.c: bf16 rounding (runtime/gemm_bf16.h) against torch's rule, case by case (ties
 * both ways, subnormals, infinities, NaN, overflow to infinity), and gc_sgemm_bf16 with every kernel
 * the CPU has against a double-precision product of the rounded operands: every transpose, both
 * layouts, padded leading dimensions, alpha and beta, odd K and shapes on each side of the tile,
 * panel and KC-block edges; bit-exact where every partial sum is exact; bits independent of how a
 * product is cut into parts, of the packing its parts share and of the thread count; the product
 * split along k (gc_sgemm_bf16_ksplit); the caller-packed variant the convolutions use.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include "runtime/gemm_bf16.h"

#define ROW 101
#define COL 102
#define NT 111
#define TR 112

static float from_bits(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

static uint32_t bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static void test_rounding(void **state) {
    (void)state;
    /* Exactly representable values are unchanged. */
    assert_int_equal(gc_bf16_from_f32(1.0f), 0x3f80);
    assert_int_equal(gc_bf16_from_f32(-2.5f), 0xc020);
    assert_int_equal(gc_bf16_from_f32(0.0f), 0x0000);
    assert_int_equal(gc_bf16_from_f32(-0.0f), 0x8000);
    /* Below half way rounds down, above rounds up. */
    assert_int_equal(gc_bf16_from_f32(from_bits(0x3f807fffu)), 0x3f80);
    assert_int_equal(gc_bf16_from_f32(from_bits(0x3f808001u)), 0x3f81);
    /* Ties go to the even neighbour: 0x3f80|8000 down to 0x3f80, 0x3f81|8000 up to 0x3f82. */
    assert_int_equal(gc_bf16_from_f32(from_bits(0x3f808000u)), 0x3f80);
    assert_int_equal(gc_bf16_from_f32(from_bits(0x3f818000u)), 0x3f82);
    assert_int_equal(gc_bf16_from_f32(from_bits(0xbf818000u)), 0xbf82);
    /* 1 + 2^-8 is a tie between 1 and 1 + 2^-7: even is 1. 1 + 3 * 2^-8 ties up to 1 + 2^-6. */
    assert_true(gc_bf16_round(1.0f + 0x1p-8f) == 1.0f);
    assert_true(gc_bf16_round(1.0f + 3 * 0x1p-8f) == 1.0f + 0x1p-6f);
    /* Subnormals round like any value (torch keeps them; vcvtneps2bf16 would flush them). */
    assert_int_equal(gc_bf16_from_f32(from_bits(0x00000001u)), 0x0000);
    assert_int_equal(gc_bf16_from_f32(from_bits(0x00008000u)), 0x0000); /* tie to even 0 */
    assert_int_equal(gc_bf16_from_f32(from_bits(0x00018000u)), 0x0002); /* tie to even 2 */
    assert_int_equal(gc_bf16_from_f32(from_bits(0x00008001u)), 0x0001);
    assert_int_equal(gc_bf16_from_f32(from_bits(0x007fffffu)), 0x0080); /* up to the smallest normal */
    assert_int_equal(gc_bf16_from_f32(from_bits(0x80010000u)), 0x8001);
    /* The largest finite values overflow to infinity above the last bf16 + half a step. */
    assert_int_equal(gc_bf16_from_f32(from_bits(0x7f7f7fffu)), 0x7f7f);
    assert_int_equal(gc_bf16_from_f32(from_bits(0x7f7f8000u)), 0x7f80);
    assert_int_equal(gc_bf16_from_f32(INFINITY), 0x7f80);
    assert_int_equal(gc_bf16_from_f32(-INFINITY), 0xff80);
    /* Every NaN becomes torch's 0x7fc0, signalling ones and those whose payload would round away. */
    assert_int_equal(gc_bf16_from_f32(NAN), 0x7fc0);
    assert_int_equal(gc_bf16_from_f32(from_bits(0x7f800001u)), 0x7fc0);
    assert_int_equal(gc_bf16_from_f32(from_bits(0xffffffffu)), 0x7fc0);
    assert_true(isnan(gc_bf16_round(NAN)));
    /* Widening is exact. */
    assert_int_equal(bits(gc_bf16_to_f32(0x3f81)), 0x3f810000u);
    /* A sweep against the rule written another way: the nearest of the two neighbours, ties to
     * the one with an even last bit. */
    for (uint32_t u = 0x00000000u; u < 0x7f800000u; u += 0x00012345u) {
        float x = from_bits(u);
        uint32_t lo = u & 0xffff0000u, hi = lo + 0x10000u;
        double dlo = (double)x - from_bits(lo), dhi = (double)from_bits(hi) - x;
        uint32_t want = dlo < dhi ? lo : dhi < dlo ? hi : ((lo >> 16) & 1 ? hi : lo);
        assert_int_equal(gc_bf16_from_f32(x), want >> 16);
        assert_int_equal(gc_bf16_from_f32(-x), (want >> 16) | 0x8000);
    }
}

/* Deterministic values in [-1, 1) with most low bits set, so rounding matters. */
static float value(uint32_t seed, size_t i) {
    uint32_t x = seed * 2654435761u + (uint32_t)i * 2246822519u;
    x ^= x >> 15;
    x *= 2246822519u;
    x ^= x >> 13;
    return (float)((double)(x % 2000001u) / 1000000.0 - 1.0);
}

/* Values whose bf16 roundings are q / 128 with 64 <= |q| <= 256 (8 significant bits: every
 * product is a multiple of 2^-14 below 4, and every partial sum of up to 200 of them is exact in
 * f32), each perturbed below half a bf16 step, or by exactly half (a tie: to even, which is up
 * when q is odd), so the rounding decides what is multiplied. */
static float exact_value(uint32_t seed, size_t i) {
    uint32_t x = seed * 2654435761u + (uint32_t)i * 2246822519u;
    x ^= x >> 16;
    x *= 0x45d9f3bu;
    x ^= x >> 16;
    if (x % 29 == 0) return (x >> 8) & 1 ? 0x1p-140f : 0.0f; /* a subnormal that rounds to 0 */
    int q = 64 + (int)((x >> 5) % 192);
    float base = (float)((x >> 4) & 1 ? -q : q) / 128.0f;
    uint32_t u = bits(base);
    switch ((x >> 12) % 4) {
    case 0: return base;
    case 1: return from_bits(u + 0x7fffu); /* just below half a step (in magnitude): back to base */
    case 2: return from_bits(u + 0x8000u); /* a tie */
    default: return from_bits(u - 0x7fffu);
    }
}

typedef struct problem {
    int layout, ta, tb, m, n, k, lda, ldb, ldc;
    float alpha, beta;
} problem;

static size_t at(int layout, int i, int j, int ld) { return layout == ROW ? (size_t)i * ld + j : (size_t)j * ld + i; }

static int stored_rows(int layout, bool trans, int rows, int cols) {
    int r = trans ? cols : rows, c = trans ? rows : cols;
    return layout == ROW ? r : c;
}

static float *matrix(uint32_t seed, bool exact, int layout, bool trans, int rows, int cols, int ld) {
    size_t count = (size_t)stored_rows(layout, trans, rows, cols) * (size_t)ld;
    float *x = malloc(sizeof *x * (count ? count : 1));
    assert_non_null(x);
    for (size_t i = 0; i < count; i++) x[i] = exact ? exact_value(seed, i) : value(seed, i);
    return x;
}

/* C's old values: exact ones are bf16 already, so beta C + the sum is exact too. */
static float *c_matrix(uint32_t seed, bool exact, int layout, int rows, int cols, int ld) {
    float *x = matrix(seed, exact, layout, false, rows, cols, ld);
    size_t count = (size_t)stored_rows(layout, false, rows, cols) * (size_t)ld;
    for (size_t i = 0; exact && i < count; i++) x[i] = gc_bf16_round(x[i]);
    return x;
}

static double element(const float *x, int layout, bool trans, int i, int j, int ld) {
    return gc_bf16_round(trans ? x[at(layout, j, i, ld)] : x[at(layout, i, j, ld)]);
}

/* Runs the product and compares with the double product of the rounded operands: bit for bit when
 * `exact`, else within f32 rounding of sum |a||b|. */
static void check(const problem *p, bool exact) {
    bool ta = p->ta == TR, tb = p->tb == TR;
    float *a = matrix(1, exact, p->layout, ta, p->m, p->k, p->lda);
    float *b = matrix(2, exact, p->layout, tb, p->k, p->n, p->ldb);
    float *c = c_matrix(3, exact, p->layout, p->m, p->n, p->ldc);
    size_t cn = (size_t)stored_rows(p->layout, false, p->m, p->n) * (size_t)p->ldc;
    float *c0 = malloc(sizeof *c0 * (cn ? cn : 1));
    assert_non_null(c0);
    memcpy(c0, c, sizeof *c * cn);
    gc_sgemm_bf16(p->layout, p->ta, p->tb, p->m, p->n, p->k, p->alpha, a, p->lda, b, p->ldb, p->beta, c, p->ldc);
    for (int i = 0; i < p->m; i++)
        for (int j = 0; j < p->n; j++) {
            double sum = 0, mag = 0;
            for (int q = 0; q < p->k; q++) {
                double x = element(a, p->layout, ta, i, q, p->lda) * element(b, p->layout, tb, q, j, p->ldb);
                sum += x;
                mag += fabs(x);
            }
            double old = c0[at(p->layout, i, j, p->ldc)];
            double want = p->alpha * sum + (p->beta == 0 ? 0.0 : p->beta * old);
            double got = c[at(p->layout, i, j, p->ldc)];
            double tol = exact ? 0 : 1e-6 * (fabs(p->alpha) * mag + fabs(p->beta * old)) + 1e-30;
            if (fabs(got - want) > tol)
                fail_msg("%s m=%d n=%d k=%d ta=%d tb=%d layout=%d: c[%d][%d] = %.9g, want %.9g",
                         gc_bf16_kernel_name(gc_sgemm_bf16_kernel()), p->m, p->n, p->k, ta, tb, p->layout, i, j, got,
                         want);
        }
    free(a);
    free(b);
    free(c);
    free(c0);
}

static void run_shapes(bool exact) {
    /* Edges: MR 12, NR 32, KC 768 (pairs 384), MC 264 (above it, B is packed a block at a time, else
     * a panel at a time), NC 1024; odd K everywhere. */
    static const int shapes[][3] = {{1, 1, 1},    {1, 1, 2},     {3, 5, 7},     {12, 32, 32},  {13, 33, 31},
                                    {11, 31, 33}, {25, 65, 1},   {7, 100, 63},  {24, 64, 64},  {37, 47, 513},
                                    {2, 3, 1025}, {200, 70, 9},  {193, 17, 40}, {5, 2100, 3},  {40, 40, 200},
                                    {9, 35, 767}, {14, 40, 769}, {3, 33, 1537},
                                    {264, 33, 21}, {265, 40, 17}, {541, 9, 5}};
    int count = (int)(sizeof shapes / sizeof shapes[0]);
    for (int s = 0; s < count; s++)
        for (int layout = ROW; layout <= COL; layout++)
            for (int ta = NT; ta <= TR; ta++)
                for (int tb = NT; tb <= TR; tb++) {
                    int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
                    bool a_t = ta == TR, b_t = tb == TR;
                    /* Stored row lengths, padded by 3 to catch leading-dimension mistakes. */
                    int a_cols = layout == ROW ? (a_t ? m : k) : (a_t ? k : m);
                    int b_cols = layout == ROW ? (b_t ? k : n) : (b_t ? n : k);
                    int c_cols = layout == ROW ? n : m;
                    problem p = {layout, ta, tb, m, n, k, a_cols + 3, b_cols + 3, c_cols + 3, 1.0f, 0.0f};
                    if (exact && k > 200) continue; /* the partial sums must stay exact */
                    check(&p, exact);
                    if (s % 3 == 0) {
                        problem q = p;
                        q.beta = 1.0f;
                        check(&q, exact);
                        if (!exact) {
                            q.alpha = 0.5f;
                            q.beta = -0.75f;
                            check(&q, false);
                        }
                    }
                }
}

static const gc_bf16_kernel all_kernels[] = {GC_BF16_KERNEL_AVX512_BF16, GC_BF16_KERNEL_AVX512F, GC_BF16_KERNEL_SCALAR};

static void each_kernel(bool exact) {
    int ran = 0;
    for (size_t i = 0; i < sizeof all_kernels / sizeof all_kernels[0]; i++) {
        if (!gc_sgemm_bf16_set_kernel(all_kernels[i])) continue;
        assert_int_equal(gc_sgemm_bf16_kernel(), all_kernels[i]);
        run_shapes(exact);
        ran++;
    }
    assert_true(gc_sgemm_bf16_set_kernel(GC_BF16_KERNEL_AUTO));
    assert_true(ran >= 1);
}

static void test_products_exact(void **state) {
    (void)state;
    each_kernel(true);
}

static void test_products_rounding(void **state) {
    (void)state;
    each_kernel(false);
}

/* A product cut into row parts and column parts (at whole 32-column tiles, as codegen cuts it)
 * gives the same bits as the whole. */
static void test_parts_same_bits(void **state) {
    (void)state;
    int m = 77, n = 160, k = 1100;
    float *a = matrix(4, false, ROW, false, m, k, k), *b = matrix(5, false, ROW, true, k, n, k);
    float *whole = calloc((size_t)m * n, sizeof(float)), *parts = calloc((size_t)m * n, sizeof(float));
    assert_non_null(whole);
    assert_non_null(parts);
    gc_sgemm_bf16(ROW, NT, TR, m, n, k, 1.0f, a, k, b, k, 0.0f, whole, n);
    gc_sgemm_bf16(ROW, NT, TR, 30, n, k, 1.0f, a, k, b, k, 0.0f, parts, n);
    gc_sgemm_bf16(ROW, NT, TR, m - 30, 64, k, 1.0f, a + 30 * k, k, b, k, 0.0f, parts + 30 * n, n);
    gc_sgemm_bf16(ROW, NT, TR, m - 30, n - 64, k, 1.0f, a + 30 * k, k, b + 64 * k, k, 0.0f, parts + 30 * n + 64, n);
    assert_memory_equal(whole, parts, sizeof(float) * (size_t)m * n);
    free(a);
    free(b);
    free(whole);
    free(parts);
}

/* The caller-packed variant (B written as f32 panels by a callback, as the convolutions do) gives
 * the bits of the ordinary call. */
typedef struct pack_src {
    const float *b;
    int n;
} pack_src;

static void pack_panels(const void *raw, int64_t p0, int64_t kc, int64_t j0, int64_t nc, float *dst) {
    const pack_src *s = raw;
    for (int64_t q = 0; q < nc; q += GC_SGEMM_PANEL)
        for (int64_t r = 0; r < kc; r++)
            for (int64_t c = 0; c < GC_SGEMM_PANEL; c++)
                dst[q * kc + r * GC_SGEMM_PANEL + c] = q + c < nc ? s->b[(p0 + r) * s->n + j0 + q + c] : 0.0f;
}

static void test_packed_callback(void **state) {
    (void)state;
    int m = 29, n = 90, k = 531;
    float *a = matrix(6, false, ROW, true, m, k, m), *b = matrix(7, false, ROW, false, k, n, n);
    float *want = calloc((size_t)m * n, sizeof(float)), *got = calloc((size_t)m * n, sizeof(float));
    assert_non_null(want);
    assert_non_null(got);
    for (int beta = 0; beta <= 1; beta++) {
        for (int i = 0; i < m * n; i++) want[i] = got[i] = (float)i / 100.0f;
        gc_sgemm_bf16(ROW, TR, NT, m, n, k, 1.0f, a, m, b, n, (float)beta, want, n);
        pack_src s = {b, n};
        assert_true(gc_sgemm_bf16_packed(true, m, n, k, a, m, pack_panels, &s, (float)beta, got, n));
        assert_memory_equal(want, got, sizeof(float) * (size_t)m * n);
    }
    free(a);
    free(b);
    free(want);
    free(got);
}

/* The parts of a split product share the packing of the operand they all read whole
 * (gc_sgemm_share_begin, runtime/gemm.h): by rows B, by columns A. Run in order, backwards, on
 * two threads at once, and in the next job with an operand changed in place, the parts give the
 * bits of the whole. Blocks on every side: 2 row blocks, 2 column slabs, 2 depth blocks (odd K). */
static uint64_t next_job = 1;

typedef struct parts_run {
    problem p;
    const float *a, *b;
    float *c;
    bool cols;
    const int *cuts; /* count + 1 boundaries */
    int count, first, step;
    uint64_t job;
} parts_run;

static void *run_parts(void *raw) {
    parts_run *r = raw;
    const problem *p = &r->p;
    gc_sgemm_share_begin(r->job, r->cols ? GC_SGEMM_SHARE_A : GC_SGEMM_SHARE_B);
    for (int i = r->first; i >= 0 && i < r->count; i += r->step) {
        int lo = r->cuts[i], len = r->cuts[i + 1] - lo;
        if (r->cols) {
            const float *b = p->tb == NT ? r->b + lo : r->b + (size_t)lo * p->ldb;
            gc_sgemm_bf16(ROW, p->ta, p->tb, p->m, len, p->k, 1, r->a, p->lda, b, p->ldb, 0, r->c + lo, p->ldc);
        } else {
            const float *a = p->ta == NT ? r->a + (size_t)lo * p->lda : r->a + lo;
            gc_sgemm_bf16(ROW, p->ta, p->tb, len, p->n, p->k, 1, a, p->lda, r->b, p->ldb, 0,
                          r->c + (size_t)lo * p->ldc, p->ldc);
        }
    }
    gc_sgemm_share_end();
    return NULL;
}

static void test_parts_share_packing(void **state) {
    (void)state;
    const int trans[2] = {NT, TR};
    /* m 230: every call packs B a panel at a time; m 300 (above MC): the whole product and the
     * column parts pack B a block at a time, the row parts a panel at a time. */
    const int row_cuts[2][5] = {{0, 37, 150, 151, 230}, {0, 37, 150, 151, 300}}, col_cuts[] = {0, 64, 96, 2060, 2100};
    for (int mi = 0; mi < 2; mi++) {
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                int m = row_cuts[mi][4], n = 2100, k = 801;
                problem p = {ROW, trans[ta], trans[tb], m, n, k, (ta ? m : k) + 1, (tb ? k : n) + 2, n, 1, 0};
                float *a = matrix(40, false, ROW, ta, m, k, p.lda), *b = matrix(41, false, ROW, tb, k, n, p.ldb);
                size_t count = (size_t)m * n;
                float *whole = calloc(count, sizeof *whole), *parts = calloc(count, sizeof *parts);
                assert_non_null(whole);
                assert_non_null(parts);
                for (int round = 0; round < 2; round++) {
                    if (round == 1) {
                        /* The next jobs, both operands changed in place (an updated weight): no block
                         * of the last job is read. */
                        for (size_t i = 0; i < (size_t)k * (size_t)p.ldb; i += 3) b[i] = -b[i];
                        for (size_t i = 0; i < (size_t)m * (size_t)p.lda; i += 5) a[i] = 0.5f * a[i];
                    }
                    gc_sgemm_bf16(ROW, p.ta, p.tb, m, n, k, 1, a, p.lda, b, p.ldb, 0, whole, n);
                    for (int cols = 0; cols < 2; cols++) {
                        parts_run r = {p, a, b, parts, cols, cols ? col_cuts : row_cuts[mi], 4, 0, 1, next_job++};
                        memset(parts, 0, count * sizeof *parts);
                        run_parts(&r);
                        if (memcmp(whole, parts, count * sizeof *parts))
                            fail_msg("ta=%d tb=%d %s in order differ", ta, tb, cols ? "columns" : "rows");
                        if (round == 1) continue;
                        memset(parts, 0, count * sizeof *parts);
                        r.job = next_job++, r.first = 3, r.step = -1;
                        run_parts(&r);
                        if (memcmp(whole, parts, count * sizeof *parts))
                            fail_msg("ta=%d tb=%d %s backwards differ", ta, tb, cols ? "columns" : "rows");
                        memset(parts, 0, count * sizeof *parts);
                        parts_run r2 = r;
                        r.job = r2.job = next_job++;
                        r.first = 0, r2.first = 1, r.step = r2.step = 2;
                        pthread_t tid;
                        assert_int_equal(pthread_create(&tid, NULL, run_parts, &r2), 0);
                        run_parts(&r);
                        assert_int_equal(pthread_join(tid, NULL), 0);
                        if (memcmp(whole, parts, count * sizeof *parts))
                            fail_msg("ta=%d tb=%d %s on two threads differ", ta, tb, cols ? "columns" : "rows");
                    }
                }
                free(a), free(b), free(whole), free(parts);
            }
    }
}

/* A product split along k (gc_sgemm_bf16_ksplit): its segments computed by any parts in any
 * order, on one or two threads, or by one call outside a job, give the same bits, on every
 * kernel, and the product is that of the rounded operands within f32 rounding, as the unsplit
 * gc_sgemm_bf16's is. Every transpose, padded leading dimensions; a depth of all 8 segments
 * (8 KC blocks and more) and one of 2 KC blocks, whose first segments are empty. */
typedef struct ksplit_run {
    problem p;
    const float *a, *b;
    float *c;
    const int *cuts; /* segment boundaries, count + 1 */
    int count, first, step;
    uint64_t job;
} ksplit_run;

static void *run_ksplit(void *raw) {
    ksplit_run *r = raw;
    const problem *p = &r->p;
    gc_sgemm_share_begin(r->job, GC_SGEMM_SHARE_K);
    for (int i = r->first; i >= 0 && i < r->count; i += r->step)
        gc_sgemm_bf16_ksplit(p->ta, p->tb, p->m, p->n, p->k, r->a, p->lda, r->b, p->ldb, r->c, p->ldc, r->cuts[i],
                             r->cuts[i + 1]);
    gc_sgemm_share_end();
    return NULL;
}

static void ksplit_case(int ta, int tb, int k) {
    const int all[] = {0, GC_SGEMM_K_SEGMENTS}, halves[] = {0, 3, 8}, each[] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
    int m = 37, n = 70;
    problem p = {ROW, ta ? TR : NT, tb ? TR : NT, m, n, k, (ta ? m : k) + 1, (tb ? k : n) + 2, n + 3, 1, 0};
    float *a = matrix(50, false, ROW, ta, m, k, p.lda), *b = matrix(51, false, ROW, tb, k, n, p.ldb);
    size_t count = (size_t)m * p.ldc;
    float *want = calloc(count, sizeof *want), *got = calloc(count, sizeof *got);
    assert_non_null(want);
    assert_non_null(got);
    /* Outside a job: the call holding segment 0 computes the whole; others do nothing. */
    gc_sgemm_bf16_ksplit(p.ta, p.tb, m, n, k, a, p.lda, b, p.ldb, want, p.ldc, 2, 5);
    for (size_t i = 0; i < count; i++) assert_true(want[i] == 0);
    gc_sgemm_bf16_ksplit(p.ta, p.tb, m, n, k, a, p.lda, b, p.ldb, want, p.ldc, 0, 1);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double sum = 0, mag = 0;
            for (int q = 0; q < k; q++) {
                double t = element(a, ROW, ta, i, q, p.lda) * element(b, ROW, tb, q, j, p.ldb);
                sum += t;
                mag += fabs(t);
            }
            double g = want[(size_t)i * p.ldc + j];
            if (!(fabs(g - sum) <= 1e-6 * mag + 1e-30))
                fail_msg("%s ta=%d tb=%d k=%d C(%d,%d) = %.9g, want %.9g", gc_bf16_kernel_name(gc_sgemm_bf16_kernel()),
                         ta, tb, k, i, j, g, sum);
        }
    /* The padding between C's rows is not written. */
    for (int i = 0; i < m; i++)
        for (int j = n; j < p.ldc; j++) assert_true(want[(size_t)i * p.ldc + j] == 0);
    const int *cuts[3] = {all, halves, each};
    const int counts[3] = {1, 2, 8};
    for (int c = 0; c < 3; c++) {
        ksplit_run r = {p, a, b, got, cuts[c], counts[c], 0, 1, next_job++};
        memset(got, 0xff, count * sizeof *got); /* C is written, never read first */
        for (int i = 0; i < m; i++)
            for (int j = n; j < p.ldc; j++) got[(size_t)i * p.ldc + j] = 0;
        run_ksplit(&r);
        if (memcmp(want, got, count * sizeof *got)) fail_msg("k=%d cut %d in order differs", k, c);
        r.job = next_job++, r.first = counts[c] - 1, r.step = -1;
        run_ksplit(&r);
        if (memcmp(want, got, count * sizeof *got)) fail_msg("k=%d cut %d backwards differs", k, c);
        if (counts[c] < 2) continue;
        memset(got, 0, count * sizeof *got);
        ksplit_run r2 = r;
        r.job = r2.job = next_job++;
        r.first = 0, r2.first = 1, r.step = r2.step = 2;
        pthread_t tid;
        assert_int_equal(pthread_create(&tid, NULL, run_ksplit, &r2), 0);
        run_ksplit(&r);
        assert_int_equal(pthread_join(tid, NULL), 0);
        if (memcmp(want, got, count * sizeof *got)) fail_msg("k=%d cut %d on two threads differs", k, c);
    }
    free(a), free(b), free(want), free(got);
}

static void test_ksplit(void **state) {
    (void)state;
    int ran = 0;
    for (size_t i = 0; i < sizeof all_kernels / sizeof all_kernels[0]; i++) {
        if (!gc_sgemm_bf16_set_kernel(all_kernels[i])) continue;
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                ksplit_case(ta, tb, 8 * 768 + 77 + 5 * ta + 2 * tb);
                ksplit_case(ta, tb, 1001);
            }
        ran++;
    }
    assert_true(gc_sgemm_bf16_set_kernel(GC_BF16_KERNEL_AUTO));
    assert_true(ran >= 1);
}

/* NaN and infinity in an operand reach the result as IEEE says. */
static void test_specials(void **state) {
    (void)state;
    float a[4] = {1, NAN, 2, 3}, b[4] = {1, 1, INFINITY, 1}, c[4];
    gc_sgemm_bf16(ROW, NT, NT, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
    assert_true(isnan(c[0]) && isnan(c[1]));
    assert_true(isinf(c[2]) && c[2] > 0 && c[3] == 5.0f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rounding),         cmocka_unit_test(test_products_exact),
        cmocka_unit_test(test_products_rounding), cmocka_unit_test(test_parts_same_bits),
        cmocka_unit_test(test_packed_callback),  cmocka_unit_test(test_specials),
        cmocka_unit_test(test_parts_share_packing), cmocka_unit_test(test_ksplit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
