/*
 * test_gemm.c: gradc's AVX-512 GEMM (runtime/gemm.c) against a double-precision product, over
 * the shapes where its blocking has edges (tile, panel and block boundaries on every side), every
 * transpose, both layouts, padded leading dimensions, alpha and beta; and gc_sgemm's dispatch.
 * On a CPU without AVX-512 the own kernel's tests are skipped and gc_sgemm is OpenBLAS's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

#include <cmocka.h>

#include "runtime/gemm.h"

#define ROW 101
#define COL 102
#define NT 111
#define TR 112

typedef struct problem {
    int layout, ta, tb, m, n, k, lda, ldb, ldc;
    float alpha, beta;
} problem;

/* Element (i, j) of a matrix stored in `layout` with leading dimension ld. */
static size_t at(int layout, int i, int j, int ld) { return layout == ROW ? (size_t)i * ld + j : (size_t)j * ld + i; }

/* Deterministic values in [-1, 1) with a few exact zeros. */
static float value(uint32_t seed, size_t i) {
    uint32_t x = seed * 2654435761u + (uint32_t)i * 2246822519u;
    x ^= x >> 15;
    x *= 2246822519u;
    x ^= x >> 13;
    return (float)((int)(x % 2001) - 1000) / 1000.0f;
}

static int stored_rows(int layout, bool trans, int rows, int cols) {
    /* op(X) is rows x cols; X itself is cols x rows when transposed. */
    int r = trans ? cols : rows, c = trans ? rows : cols;
    return layout == ROW ? r : c;
}

static float *matrix(uint32_t seed, int layout, bool trans, int rows, int cols, int ld) {
    size_t count = (size_t)stored_rows(layout, trans, rows, cols) * (size_t)ld;
    float *x = malloc(sizeof *x * (count ? count : 1));
    assert_non_null(x);
    for (size_t i = 0; i < count; i++) x[i] = value(seed, i);
    return x;
}

/* op(X)(i, j) of X stored as the call describes it. */
static double element(const float *x, int layout, bool trans, int i, int j, int ld) {
    return trans ? x[at(layout, j, i, ld)] : x[at(layout, i, j, ld)];
}

/* Runs p through `run` and checks every element of C against the double product, and that the
 * padding between C's rows is untouched. */
static void check(const problem *p, bool (*run)(const problem *, const float *, const float *, float *)) {
    bool ta = p->ta != NT, tb = p->tb != NT;
    float *a = matrix(1, p->layout, ta, p->m, p->k, p->lda);
    float *b = matrix(2, p->layout, tb, p->k, p->n, p->ldb);
    float *c = matrix(3, p->layout, false, p->m, p->n, p->ldc);
    size_t count = (size_t)stored_rows(p->layout, false, p->m, p->n) * (size_t)p->ldc;
    float *before = malloc(sizeof *before * (count ? count : 1));
    assert_non_null(before);
    /* beta = 0 must overwrite C without reading it, NaNs included. */
    if (p->beta == 0)
        for (size_t i = 0; i < count; i += 7) c[i] = NAN;
    memcpy(before, c, sizeof *c * count);
    if (!run(p, a, b, c)) {
        free(a), free(b), free(c), free(before);
        skip();
    }
    for (int i = 0; i < p->m; i++)
        for (int j = 0; j < p->n; j++) {
            double sum = 0, mag = 0;
            for (int q = 0; q < p->k; q++) {
                double t = element(a, p->layout, ta, i, q, p->lda) * element(b, p->layout, tb, q, j, p->ldb);
                sum += t;
                mag += fabs(t);
            }
            double old = p->beta == 0 ? 0 : before[at(p->layout, i, j, p->ldc)];
            double want = p->alpha * sum + p->beta * old;
            double got = c[at(p->layout, i, j, p->ldc)];
            double tol = 1e-6 * (fabs(p->alpha) * mag + fabs(p->beta * old)) + 1e-30;
            if (!(fabs(got - want) <= tol))
                fail_msg("%s ta=%d tb=%d m=%d n=%d k=%d alpha=%g beta=%g: C(%d,%d) = %.9g, want %.9g",
                         p->layout == ROW ? "row" : "col", ta, tb, p->m, p->n, p->k, p->alpha, p->beta, i, j, got,
                         want);
        }
    /* Nothing outside op(C)'s m x n is written. */
    int outer = stored_rows(p->layout, false, p->m, p->n), inner = p->layout == ROW ? p->n : p->m;
    for (int r = 0; r < outer; r++)
        for (int e = inner; e < p->ldc; e++) {
            size_t x = (size_t)r * p->ldc + e;
            if (memcmp(&c[x], &before[x], sizeof *c) != 0) fail_msg("padding C[%zu] written", x);
        }
    free(a), free(b), free(c), free(before);
}

static bool run_own(const problem *p, const float *a, const float *b, float *c) {
    return gc_sgemm_own(p->layout, p->ta, p->tb, p->m, p->n, p->k, p->alpha, a, p->lda, b, p->ldb, p->beta, c, p->ldc);
}

static bool run_dispatch(const problem *p, const float *a, const float *b, float *c) {
    gc_sgemm(p->layout, p->ta, p->tb, p->m, p->n, p->k, p->alpha, a, p->lda, b, p->ldb, p->beta, c, p->ldc);
    return true;
}

/* The tightest leading dimensions, plus `pad`. */
static problem make(int layout, int ta, int tb, int m, int n, int k, int pad, float alpha, float beta) {
    problem p = {layout, ta, tb, m, n, k, 0, 0, 0, alpha, beta};
    bool row = layout == ROW;
    p.lda = (row != (ta != NT) ? k : m) + pad;
    p.ldb = (row != (tb != NT) ? n : k) + pad;
    p.ldc = (row ? n : m) + pad;
    return p;
}

/* Rows and columns around the 12 x 32 tile, the 192-row block and the 2048-column slab; depths
 * around the 16-wide packing transpose and the 384-deep block. */
static void edges_of_every_layout(void **state) {
    (void)state;
    if (!gc_sgemm_own(ROW, NT, NT, 1, 1, 1, 1, (float[]){1}, 1, (float[]){1}, 1, 0, (float[]){0}, 1)) skip();
    const int ms[] = {1, 5, 12, 13, 24, 191, 193};
    const int ns[] = {1, 16, 31, 32, 33, 70};
    const int ks[] = {1, 15, 16, 17, 385};
    const int trans[2] = {NT, TR};
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (size_t mi = 0; mi < sizeof ms / sizeof *ms; mi++)
                for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++)
                    for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++) {
                        problem p = make(ROW, trans[ta], trans[tb], ms[mi], ns[ni], ks[ki], 0, 1, 0);
                        check(&p, run_own);
                    }
}

static void wide_and_deep(void **state) {
    (void)state;
    problem ps[] = {
        make(ROW, NT, TR, 30, 2049, 40, 0, 1, 0),   /* past one column slab */
        make(ROW, NT, NT, 14, 4100, 20, 3, 1, 1),
        make(ROW, TR, NT, 200, 40, 800, 0, 1, 0),   /* three depth blocks, two row blocks */
        make(ROW, NT, TR, 64, 64, 1000, 5, 1, 1),
        /* Short products (one row block) past a depth block and a column slab, whose tiles
         * prefetch the next panel's rows of B: within the block, into the next depth block and
         * into the next slab, to a 24-column edge panel. */
        make(ROW, NT, NT, 20, 1400, 800, 0, 1, 0),
        make(ROW, NT, TR, 20, 1400, 800, 7, 1, 1),
        make(ROW, TR, NT, 13, 1400, 800, 0, -0.5f, 0),
    };
    for (size_t i = 0; i < sizeof ps / sizeof *ps; i++) check(&ps[i], run_own);
}

static void alpha_beta_padding_and_column_major(void **state) {
    (void)state;
    const int trans[2] = {NT, TR};
    const float alphas[] = {1, -0.5f, 2};
    const float betas[] = {0, 1, 0.25f};
    for (int layout = ROW; layout <= COL; layout++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int x = 0; x < 3; x++)
                    for (int y = 0; y < 3; y++) {
                        problem p = make(layout, trans[ta], trans[tb], 37, 45, 50, 3, alphas[x], betas[y]);
                        check(&p, run_own);
                        check(&p, run_dispatch);
                    }
}

/* Nothing to multiply: C = beta C (zeros for beta = 0, even over NaN). */
static void empty_depth_and_zero_alpha(void **state) {
    (void)state;
    float c[6] = {1, 2, NAN, 4, 5, 6}, a[6] = {1, 1, 1, 1, 1, 1}, b[6] = {1, 1, 1, 1, 1, 1};
    gc_sgemm(ROW, NT, NT, 2, 3, 0, 1, a, 1, b, 3, 0, c, 3);
    for (int i = 0; i < 6; i++) assert_true(c[i] == 0);
    float d[6] = {1, 2, 3, 4, 5, 6};
    if (gc_sgemm_own(ROW, NT, NT, 2, 3, 2, 0, a, 2, b, 3, 2, d, 3))
        for (int i = 0; i < 6; i++) assert_true(d[i] == 2 * (i + 1));
    /* An empty result touches nothing. */
    float e[1] = {7};
    gc_sgemm(ROW, NT, NT, 0, 3, 2, 1, a, 2, b, 3, 0, e, 3);
    assert_true(e[0] == 7);
}

/* gc_sgemm gives the product whichever code runs it, narrow or wide. */
static void dispatch_gives_the_product(void **state) {
    (void)state;
    problem narrow = make(ROW, NT, TR, 128, 10, 300, 0, 1, 0), wide = make(ROW, TR, NT, 70, 300, 128, 0, 1, 1);
    check(&narrow, run_dispatch);
    check(&wide, run_dispatch);
}

/* Whether columns [0, at) and [at, n) of p, computed as two products into parts (cleared first),
 * give the bits of the whole product. */
static bool same_bits_as_column_cut(const problem *p, const float *a, const float *b, const float *whole,
                                    float *parts, int at) {
    size_t count = (size_t)p->m * p->ldc;
    memset(parts, 0, count * sizeof *parts);
    const float *b2 = p->tb == NT ? b + at : b + (size_t)at * p->ldb;
    assert_true(gc_sgemm_own(ROW, p->ta, p->tb, p->m, at, p->k, 1, a, p->lda, b, p->ldb, 0, parts, p->ldc));
    assert_true(gc_sgemm_own(ROW, p->ta, p->tb, p->m, p->n - at, p->k, 1, a, p->lda, b2, p->ldb, 0, parts + at,
                             p->ldc));
    return memcmp(whole, parts, count * sizeof *parts) == 0;
}

/* The same product computed whole and as parts cut anywhere, by rows or by columns, is the same
 * bits: what lets the thread pool move its cuts (runtime/parallel.h). */
static void any_cut_gives_the_same_bits(void **state) {
    (void)state;
    if (!gc_sgemm_own(ROW, NT, NT, 1, 1, 1, 1, (float[]){1}, 1, (float[]){1}, 1, 0, (float[]){0}, 1)) skip();
    const int trans[2] = {NT, TR};
    const int cuts[] = {1, 5, 12, 17, 33, 64, 100};
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            problem p = make(ROW, trans[ta], trans[tb], 150, 130, 700, 0, 1, 0);
            float *a = matrix(4, ROW, ta, p.m, p.k, p.lda), *b = matrix(5, ROW, tb, p.k, p.n, p.ldb);
            size_t count = (size_t)p.m * p.ldc;
            float *whole = calloc(count, sizeof *whole), *parts = calloc(count, sizeof *parts);
            assert_non_null(whole);
            assert_non_null(parts);
            assert_true(gc_sgemm_own(ROW, p.ta, p.tb, p.m, p.n, p.k, 1, a, p.lda, b, p.ldb, 0, whole, p.ldc));
            for (size_t c = 0; c < sizeof cuts / sizeof *cuts; c++) {
                int at = cuts[c];
                /* Rows [0, at) and [at, m): A's rows start further in (or its columns, transposed). */
                memset(parts, 0, count * sizeof *parts);
                const float *a2 = p.ta == NT ? a + (size_t)at * p.lda : a + at;
                assert_true(gc_sgemm_own(ROW, p.ta, p.tb, at, p.n, p.k, 1, a, p.lda, b, p.ldb, 0, parts, p.ldc));
                assert_true(gc_sgemm_own(ROW, p.ta, p.tb, p.m - at, p.n, p.k, 1, a2, p.lda, b, p.ldb, 0,
                                         parts + (size_t)at * p.ldc, p.ldc));
                if (memcmp(whole, parts, count * sizeof *parts)) fail_msg("rows cut at %d differ", at);
                if (!same_bits_as_column_cut(&p, a, b, whole, parts, at)) fail_msg("columns cut at %d differ", at);
            }
            free(a), free(b), free(whole), free(parts);
        }
}

/* A short product wider than the column slab is cut into slabs of at most half of L2 (M3's 256
 * tokens: 512 columns on a 1 MiB L2), not NC's: right, tiles prefetching across the narrower
 * slabs' edges, and the same bits as its column halves, which are cut differently (the slabs only
 * group columns). */
static void short_wide_products_cut_into_narrow_slabs(void **state) {
    (void)state;
    if (!gc_sgemm_own(ROW, NT, NT, 1, 1, 1, 1, (float[]){1}, 1, (float[]){1}, 1, 0, (float[]){0}, 1)) skip();
    gc_gemm_blocking bl = gc_sgemm_blocking();
    int n = (int)bl.nc + 100, k = (int)bl.kc + 20;
    const int trans[2] = {NT, TR};
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            problem p = make(ROW, trans[ta], trans[tb], 256, n, k, ta, 1, (float)tb);
            check(&p, run_own);
            float *a = matrix(6, ROW, ta, p.m, p.k, p.lda), *b = matrix(7, ROW, tb, p.k, p.n, p.ldb);
            size_t count = (size_t)p.m * p.ldc;
            float *whole = calloc(count, sizeof *whole), *parts = calloc(count, sizeof *parts);
            assert_non_null(whole);
            assert_non_null(parts);
            assert_true(gc_sgemm_own(ROW, p.ta, p.tb, p.m, p.n, p.k, 1, a, p.lda, b, p.ldb, 0, whole, p.ldc));
            if (!same_bits_as_column_cut(&p, a, b, whole, parts, n / 2 / 32 * 32))
                fail_msg("halves differ (ta %d, tb %d)", ta, tb);
            free(a), free(b), free(whole), free(parts);
        }
}

/* The parts of a split product share the packing of the operand they all read whole
 * (gc_sgemm_share_begin): by rows B, by columns A. Cut anywhere, run in any order, on two
 * threads at once, with an operand changed between jobs or a stranger's product in the middle of
 * a job, the parts give the bits of the whole. Blocks on every side: 3 row blocks, 2 column slabs
 * and 3 depth blocks at the blocking of any cache size gradc meets. */
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
            gc_sgemm(ROW, p->ta, p->tb, p->m, len, p->k, 1, r->a, p->lda, b, p->ldb, 0, r->c + lo, p->ldc);
        } else {
            const float *a = p->ta == NT ? r->a + (size_t)lo * p->lda : r->a + lo;
            gc_sgemm(ROW, p->ta, p->tb, len, p->n, p->k, 1, a, p->lda, r->b, p->ldb, 0, r->c + (size_t)lo * p->ldc,
                     p->ldc);
        }
    }
    gc_sgemm_share_end();
    return NULL;
}

static void parts_share_packing(void **state) {
    (void)state;
    if (!gc_sgemm_uses_own()) skip();
    const int trans[2] = {NT, TR};
    const int row_cuts[] = {0, 37, 250, 251, 400}, col_cuts[] = {0, 64, 96, 1000, 1400};
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            problem p = make(ROW, trans[ta], trans[tb], 400, 1400, 1700, 0, 1, 0);
            float *a = matrix(6, ROW, ta, p.m, p.k, p.lda), *b = matrix(7, ROW, tb, p.k, p.n, p.ldb);
            size_t count = (size_t)p.m * p.ldc;
            float *whole = calloc(count, sizeof *whole), *parts = calloc(count, sizeof *parts);
            assert_non_null(whole);
            assert_non_null(parts);
            assert_true(gc_sgemm_own(ROW, p.ta, p.tb, p.m, p.n, p.k, 1, a, p.lda, b, p.ldb, 0, whole, p.ldc));
            for (int cols = 0; cols < 2; cols++) {
                parts_run r = {p, a, b, parts, cols, cols ? col_cuts : row_cuts, 4, 0, 1, next_job++};
                /* In order, then backwards (the last part packs first). */
                memset(parts, 0, count * sizeof *parts);
                run_parts(&r);
                if (memcmp(whole, parts, count * sizeof *parts)) fail_msg("%s in order differ", cols ? "columns" : "rows");
                memset(parts, 0, count * sizeof *parts);
                r.job = next_job++, r.first = 3, r.step = -1;
                run_parts(&r);
                if (memcmp(whole, parts, count * sizeof *parts)) fail_msg("%s backwards differ", cols ? "columns" : "rows");
                /* Two threads, alternate parts of one job. */
                memset(parts, 0, count * sizeof *parts);
                parts_run r2 = r;
                r.job = r2.job = next_job++;
                r.first = 0, r2.first = 1, r.step = r2.step = 2;
                pthread_t tid;
                assert_int_equal(pthread_create(&tid, NULL, run_parts, &r2), 0);
                run_parts(&r);
                assert_int_equal(pthread_join(tid, NULL), 0);
                if (memcmp(whole, parts, count * sizeof *parts)) fail_msg("%s on two threads differ", cols ? "columns" : "rows");
            }
            /* A stranger's product in the middle of a job packs its own operands. */
            {
                problem q = make(ROW, NT, NT, 50, 70, 90, 0, 1, 0);
                float *qa = matrix(8, ROW, false, q.m, q.k, q.lda), *qb = matrix(9, ROW, false, q.k, q.n, q.ldb);
                float *qc = calloc((size_t)q.m * q.ldc, sizeof *qc), *qw = calloc((size_t)q.m * q.ldc, sizeof *qw);
                assert_non_null(qc);
                assert_non_null(qw);
                assert_true(gc_sgemm_own(ROW, NT, NT, q.m, q.n, q.k, 1, qa, q.lda, qb, q.ldb, 0, qw, q.ldc));
                parts_run r = {p, a, b, parts, false, row_cuts, 2, 0, 1, next_job++};
                memset(parts, 0, count * sizeof *parts);
                run_parts(&r);
                gc_sgemm_share_begin(r.job, GC_SGEMM_SHARE_B);
                gc_sgemm(ROW, NT, NT, q.m, q.n, q.k, 1, qa, q.lda, qb, q.ldb, 0, qc, q.ldc);
                gc_sgemm_share_end();
                r.first = 2;
                r.count = 4;
                run_parts(&r);
                assert_memory_equal(qw, qc, (size_t)q.m * q.ldc * sizeof *qc);
                if (memcmp(whole, parts, count * sizeof *parts)) fail_msg("rows around a stranger differ");
                free(qa), free(qb), free(qc), free(qw);
            }
            /* The next job, B changed in place (an updated weight): no block of the last job is read. */
            for (size_t i = 0; i < (size_t)p.k * p.n; i += 3) b[i] = -b[i];
            for (int cols = 0; cols < 2; cols++) {
                if (cols)
                    for (size_t i = 0; i < (size_t)p.m * p.k; i += 5) a[i] = 0.5f * a[i];
                assert_true(gc_sgemm_own(ROW, p.ta, p.tb, p.m, p.n, p.k, 1, a, p.lda, b, p.ldb, 0, whole, p.ldc));
                parts_run r = {p, a, b, parts, cols, cols ? col_cuts : row_cuts, 4, 0, 1, next_job++};
                memset(parts, 0, count * sizeof *parts);
                run_parts(&r);
                if (memcmp(whole, parts, count * sizeof *parts)) fail_msg("%s after a change differ", cols ? "columns" : "rows");
            }
            free(a), free(b), free(whole), free(parts);
        }
}

/* A product split along k (gc_sgemm_ksplit): its segments computed by any parts in any order,
 * on one or two threads, or by one call outside a job, give the same bits, and the product is
 * right (against doubles). Every transpose, padded leading dimensions. */
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
        gc_sgemm_ksplit(p->ta, p->tb, p->m, p->n, p->k, r->a, p->lda, r->b, p->ldb, r->c, p->ldc, r->cuts[i],
                        r->cuts[i + 1]);
    gc_sgemm_share_end();
    return NULL;
}

static void split_along_k(void **state) {
    (void)state;
    const int trans[2] = {NT, TR};
    const int all[] = {0, GC_SGEMM_K_SEGMENTS}, halves[] = {0, 3, 8}, each[] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            problem p = make(ROW, trans[ta], trans[tb], 37, 70, 9000 + 77 * ta + 5 * tb, 3, 1, 0);
            float *a = matrix(30, ROW, ta, p.m, p.k, p.lda), *b = matrix(31, ROW, tb, p.k, p.n, p.ldb);
            size_t count = (size_t)p.m * p.ldc;
            float *want = calloc(count, sizeof *want), *got = calloc(count, sizeof *got);
            assert_non_null(want);
            assert_non_null(got);
            /* Outside a job: the call holding segment 0 computes the whole; others do nothing. */
            gc_sgemm_ksplit(p.ta, p.tb, p.m, p.n, p.k, a, p.lda, b, p.ldb, want, p.ldc, 2, 5);
            for (size_t i = 0; i < count; i++) assert_true(want[i] == 0);
            gc_sgemm_ksplit(p.ta, p.tb, p.m, p.n, p.k, a, p.lda, b, p.ldb, want, p.ldc, 0, 1);
            for (int i = 0; i < p.m; i++)
                for (int j = 0; j < p.n; j++) {
                    double sum = 0, mag = 0;
                    for (int q = 0; q < p.k; q++) {
                        double t = element(a, ROW, ta, i, q, p.lda) * element(b, ROW, tb, q, j, p.ldb);
                        sum += t;
                        mag += fabs(t);
                    }
                    double g = want[(size_t)i * p.ldc + j];
                    if (!(fabs(g - sum) <= 1e-6 * mag + 1e-30))
                        fail_msg("ta=%d tb=%d C(%d,%d) = %.9g, want %.9g", ta, tb, i, j, g, sum);
                }
            /* The padding between C's rows is not written. */
            for (int i = 0; i < p.m; i++)
                for (int j = p.n; j < p.ldc; j++) assert_true(want[(size_t)i * p.ldc + j] == 0);
            const int *cuts[3] = {all, halves, each};
            const int counts[3] = {1, 2, 8};
            for (int c = 0; c < 3; c++) {
                ksplit_run r = {p, a, b, got, cuts[c], counts[c], 0, 1, next_job++};
                memset(got, 0xff, count * sizeof *got); /* C is written, never read first */
                for (int i = 0; i < p.m; i++)
                    for (int j = p.n; j < p.ldc; j++) got[(size_t)i * p.ldc + j] = 0;
                run_ksplit(&r);
                if (memcmp(want, got, count * sizeof *got)) fail_msg("cut %d in order differs", c);
                r.job = next_job++, r.first = counts[c] - 1, r.step = -1;
                run_ksplit(&r);
                if (memcmp(want, got, count * sizeof *got)) fail_msg("cut %d backwards differs", c);
                if (counts[c] < 2) continue;
                memset(got, 0, count * sizeof *got);
                ksplit_run r2 = r;
                r.job = r2.job = next_job++;
                r.first = 0, r2.first = 1, r.step = r2.step = 2;
                pthread_t tid;
                assert_int_equal(pthread_create(&tid, NULL, run_ksplit, &r2), 0);
                run_ksplit(&r);
                assert_int_equal(pthread_join(tid, NULL), 0);
                if (memcmp(want, got, count * sizeof *got)) fail_msg("cut %d on two threads differs", c);
            }
            free(a), free(b), free(want), free(got);
        }
    /* The rule codegen and `gradc check` share: M3's head input gradient splits along k, its
     * forward and weight gradient do not. */
    assert_true(gc_sgemm_splits_k(256, 768, 50257));
    assert_false(gc_sgemm_splits_k(256, 50257, 768));
    assert_false(gc_sgemm_splits_k(50257, 768, 256));
    assert_int_equal(gc_sgemm_shared_bytes(GC_SGEMM_SHARE_K, 256, 768, 50257),
                     (int64_t)sizeof(float) * (GC_SGEMM_K_SEGMENTS - 1) * 256 * 768);
}

/* Same call, same bits; and threads each get their own packing buffers. */
typedef struct job {
    problem p;
    float *a, *b, *c;
} job;

static void *run_job(void *raw) {
    job *j = raw;
    for (int r = 0; r < 20; r++)
        gc_sgemm(j->p.layout, j->p.ta, j->p.tb, j->p.m, j->p.n, j->p.k, 1, j->a, j->p.lda, j->b, j->p.ldb, 0, j->c,
                 j->p.ldc);
    return NULL;
}

static void threads_and_repeatability(void **state) {
    (void)state;
    enum { THREADS = 3 };
    job jobs[THREADS];
    pthread_t tid[THREADS];
    for (int t = 0; t < THREADS; t++) {
        jobs[t].p = make(ROW, NT, t % 2 ? TR : NT, 100 + t, 200 - t, 500, 0, 1, 0);
        jobs[t].a = matrix(10 + t, ROW, false, jobs[t].p.m, jobs[t].p.k, jobs[t].p.lda);
        jobs[t].b = matrix(20 + t, ROW, t % 2, jobs[t].p.k, jobs[t].p.n, jobs[t].p.ldb);
        jobs[t].c = calloc((size_t)jobs[t].p.m * jobs[t].p.ldc, sizeof(float));
        assert_non_null(jobs[t].c);
    }
    for (int t = 0; t < THREADS; t++) assert_int_equal(pthread_create(&tid[t], NULL, run_job, &jobs[t]), 0);
    for (int t = 0; t < THREADS; t++) assert_int_equal(pthread_join(tid[t], NULL), 0);
    for (int t = 0; t < THREADS; t++) {
        problem *p = &jobs[t].p;
        size_t count = (size_t)p->m * p->ldc;
        float *again = calloc(count, sizeof *again);
        assert_non_null(again);
        gc_sgemm(ROW, p->ta, p->tb, p->m, p->n, p->k, 1, jobs[t].a, p->lda, jobs[t].b, p->ldb, 0, again, p->ldc);
        assert_memory_equal(again, jobs[t].c, count * sizeof *again);
        /* And the product itself is right. */
        for (int i = 0; i < p->m; i += 17)
            for (int j = 0; j < p->n; j += 13) {
                double sum = 0, mag = 0;
                for (int q = 0; q < p->k; q++) {
                    double x = jobs[t].a[(size_t)i * p->lda + q] *
                               (double)(p->tb == TR ? jobs[t].b[(size_t)j * p->ldb + q] : jobs[t].b[(size_t)q * p->ldb + j]);
                    sum += x;
                    mag += fabs(x);
                }
                assert_true(fabs(again[(size_t)i * p->ldc + j] - sum) <= 1e-6 * mag + 1e-30);
            }
        free(again);
        free(jobs[t].a), free(jobs[t].b), free(jobs[t].c);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(edges_of_every_layout),
        cmocka_unit_test(wide_and_deep),
        cmocka_unit_test(alpha_beta_padding_and_column_major),
        cmocka_unit_test(empty_depth_and_zero_alpha),
        cmocka_unit_test(dispatch_gives_the_product),
        cmocka_unit_test(any_cut_gives_the_same_bits),
        cmocka_unit_test(short_wide_products_cut_into_narrow_slabs),
        cmocka_unit_test(parts_share_packing),
        cmocka_unit_test(split_along_k),
        cmocka_unit_test(threads_and_repeatability),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
