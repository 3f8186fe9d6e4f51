/*
 * recurrent_body.h: the loop over time of the recurrence ops, written once for every element
 * type. Included by runtime/recurrent.c (float and double, GEMMs through gc_sgemm / OpenBLAS)
 * and runtime/interp_recurrent.c (double, plain loops), each defining before the include:
 *   RC_REAL                the element type
 *   RC_NAME(x)             the name of function x for this instance
 *   RC_GEMM_NT(m, n, k, a, lda, b, ldb, beta, c, ldc)   C = A[m,k] @ B[n,k]^T + beta C
 *   RC_GEMM_NN(m, n, k, a, lda, b, ldb, beta, c, ldc)   C = A[m,k] @ B[k,n] + beta C
 *   RC_EXP, RC_TANH        exp and tanh of RC_REAL
 *   RC_PACK_B(trans, n, k, b, ldb)  before a loop whose GEMMs all take that B (w_hh): may pack it
 *                          once (runtime/recurrent.c), or expand to nothing
 * The column layouts are ir/recurrence.h's. Both functions do batch rows [r0, r1) only: each
 * row's recurrence is independent of the others', so any cut of the rows computes the same bits.
 */
#include "ir/recurrence.h"

static inline RC_REAL RC_NAME(sigmoid)(RC_REAL v) { return (RC_REAL)1 / ((RC_REAL)1 + RC_EXP(-v)); }

static void RC_NAME(sigmoid_all)(RC_REAL *v, int64_t n) {
    for (int64_t j = 0; j < n; j++) v[j] = RC_NAME(sigmoid)(v[j]);
}

static void RC_NAME(tanh_all)(RC_REAL *v, int64_t n) {
    for (int64_t j = 0; j < n; j++) v[j] = RC_TANH(v[j]);
}

/* Step k of the processing order is time index t: k itself, or T - 1 - k in reverse. */
static inline int64_t RC_NAME(time_of)(int64_t k, int64_t steps, bool reverse) { return reverse ? steps - 1 - k : k; }

static void RC_NAME(forward)(const gc_recurrence_dims *d, RC_REAL *out, const RC_REAL *xproj, const RC_REAL *w_hh,
                             const RC_REAL *b_hh, const RC_REAL *h0, const RC_REAL *c0, int64_t r0, int64_t r1) {
    const int64_t T = d->steps, H = d->hidden, G = gc_cell_gates(d->cell), S = gc_cell_packed(d->cell) * H;
    const int64_t hcol = gc_cell_h_column(d->cell) * H, ccol = GC_CELL_LSTM_C_COLUMN * H;
    const int64_t rows = r1 - r0, row_stride = T * S, xrow = T * G * H;
    if (rows <= 0) return;
    RC_PACK_B(true, G * H, H, w_hh, H);
    for (int64_t k = 0; k < T; k++) {
        int64_t t = RC_NAME(time_of)(k, T, d->reverse), tp = k ? RC_NAME(time_of)(k - 1, T, d->reverse) : -1;
        /* The hidden side of every gate, straight into the step's gate columns. */
        const RC_REAL *hp = k ? out + r0 * row_stride + tp * S + hcol : h0 + r0 * H;
        RC_GEMM_NT(rows, G * H, H, hp, k ? row_stride : H, w_hh, H, 0, out + r0 * row_stride + t * S, row_stride);
        for (int64_t r = r0; r < r1; r++) {
            RC_REAL *o = out + r * row_stride + t * S;
            const RC_REAL *x = xproj + r * xrow + t * G * H;
            const RC_REAL *prev = k ? out + r * row_stride + tp * S : NULL;
            /* Simple loops, one activation each, so the compiler vectorises every one. */
            if (d->cell == GC_CELL_GRU) {
                for (int64_t j = 0; j < 2 * H; j++) o[j] = RC_NAME(sigmoid)(o[j] + x[j] + b_hh[j]);
                for (int64_t j = 2 * H; j < 3 * H; j++) o[j] += b_hh[j];
            } else {
                for (int64_t j = 0; j < G * H; j++) o[j] += x[j] + b_hh[j];
            }
            switch (d->cell) {
            case GC_CELL_RNN_TANH: RC_NAME(tanh_all)(o, H); break;
            case GC_CELL_RNN_RELU:
                for (int64_t j = 0; j < H; j++) o[j] = o[j] > 0 ? o[j] : 0;
                break;
            case GC_CELL_LSTM: {
                const RC_REAL *cprev = prev ? prev + ccol : c0 + r * H;
                RC_NAME(sigmoid_all)(o, 2 * H);
                RC_NAME(tanh_all)(o + 2 * H, H);
                RC_NAME(sigmoid_all)(o + 3 * H, H);
                RC_REAL *c = o + ccol, *h = o + hcol;
                for (int64_t j = 0; j < H; j++) c[j] = o[H + j] * cprev[j] + o[j] * o[2 * H + j];
                for (int64_t j = 0; j < H; j++) h[j] = c[j];
                RC_NAME(tanh_all)(h, H);
                for (int64_t j = 0; j < H; j++) h[j] *= o[3 * H + j];
                break;
            }
            case GC_CELL_GRU: {
                const RC_REAL *hprev = prev ? prev + hcol : h0 + r * H;
                RC_REAL *nn = o + 3 * H, *h = o + hcol;
                for (int64_t j = 0; j < H; j++) nn[j] = x[2 * H + j] + o[j] * o[2 * H + j];
                RC_NAME(tanh_all)(nn, H);
                for (int64_t j = 0; j < H; j++) h[j] = (1 - o[H + j]) * nn[j] + o[H + j] * hprev[j];
                break;
            }
            }
        }
    }
}

static void RC_NAME(backward)(const gc_recurrence_dims *d, RC_REAL *out, const RC_REAL *packed, const RC_REAL *dpacked,
                              const RC_REAL *w_hh, const RC_REAL *h0, const RC_REAL *c0, int64_t r0, int64_t r1) {
    const int64_t T = d->steps, H = d->hidden, G = gc_cell_gates(d->cell), S = gc_cell_packed(d->cell) * H;
    const int64_t W = gc_cell_grad_width(d->cell) * H, hcol = gc_cell_h_column(d->cell) * H;
    const int64_t ccol = GC_CELL_LSTM_C_COLUMN * H;
    const int64_t rows = r1 - r0, row_stride = T * S, grow = (T + 1) * W;
    if (rows <= 0) return;
    /* Row T of each batch row carries dh (columns [0, H)) and dc ([H, 2H)) from step to step and
     * ends as dh0 and dc0. */
    for (int64_t r = r0; r < r1; r++)
        for (int64_t j = 0; j < W; j++) out[r * grow + T * W + j] = 0;
    RC_PACK_B(false, H, G * H, w_hh, H);
    for (int64_t k = T - 1; k >= 0; k--) {
        int64_t t = RC_NAME(time_of)(k, T, d->reverse), tp = k ? RC_NAME(time_of)(k - 1, T, d->reverse) : -1;
        for (int64_t r = r0; r < r1; r++) {
            const RC_REAL *p = packed + r * row_stride + t * S, *dp = dpacked + r * row_stride + t * S;
            const RC_REAL *prev = k ? packed + r * row_stride + tp * S : NULL;
            RC_REAL *o = out + r * grow + t * W, *acc = out + r * grow + T * W;
            switch (d->cell) {
            case GC_CELL_RNN_TANH:
                for (int64_t j = 0; j < H; j++) o[j] = (dp[j] + acc[j]) * (1 - p[j] * p[j]);
                break;
            case GC_CELL_RNN_RELU:
                for (int64_t j = 0; j < H; j++) o[j] = (p[j] > 0) * (dp[j] + acc[j]);
                break;
            case GC_CELL_LSTM: {
                /* Simple loops of a few streams each, so every one vectorises: tanh(c) goes
                 * into do's slot first, dh and dc into the carry, dc * f last. */
                const RC_REAL *cp = prev ? prev + ccol : c0 + r * H, *c = p + ccol, *dph = dp + hcol, *dpc = dp + ccol;
                const RC_REAL *ig = p, *fg = p + H, *gg = p + 2 * H, *og = p + 3 * H;
                RC_REAL *di = o, *df = o + H, *dg = o + 2 * H, *dout = o + 3 * H, *dh = acc, *dc = acc + H;
                for (int64_t j = 0; j < H; j++) dout[j] = c[j];
                RC_NAME(tanh_all)(dout, H);
                for (int64_t j = 0; j < H; j++) dh[j] += dph[j];
                for (int64_t j = 0; j < H; j++) dc[j] += dpc[j] + dh[j] * og[j] * (1 - dout[j] * dout[j]);
                for (int64_t j = 0; j < H; j++) di[j] = (dc[j] * gg[j] + dp[j]) * ig[j] * (1 - ig[j]);
                for (int64_t j = 0; j < H; j++) df[j] = (dc[j] * cp[j] + dp[H + j]) * fg[j] * (1 - fg[j]);
                for (int64_t j = 0; j < H; j++) dg[j] = (dc[j] * ig[j] + dp[2 * H + j]) * (1 - gg[j] * gg[j]);
                for (int64_t j = 0; j < H; j++) dout[j] = (dh[j] * dout[j] + dp[3 * H + j]) * og[j] * (1 - og[j]);
                for (int64_t j = 0; j < H; j++) dc[j] *= fg[j];
                break;
            }
            case GC_CELL_GRU: {
                const RC_REAL *hp = prev ? prev + hcol : h0 + r * H, *dph = dp + hcol;
                const RC_REAL *rg = p, *z = p + H, *hn = p + 2 * H, *nn = p + 3 * H;
                RC_REAL *dr = o, *dz = o + H, *dhn = o + 2 * H, *dn = o + 3 * H, *dh = acc;
                for (int64_t j = 0; j < H; j++) dh[j] += dph[j];
                for (int64_t j = 0; j < H; j++) dn[j] = (dh[j] * (1 - z[j]) + dp[3 * H + j]) * (1 - nn[j] * nn[j]);
                for (int64_t j = 0; j < H; j++) dr[j] = (dn[j] * hn[j] + dp[j]) * rg[j] * (1 - rg[j]);
                for (int64_t j = 0; j < H; j++) dz[j] = (dh[j] * (hp[j] - nn[j]) + dp[H + j]) * z[j] * (1 - z[j]);
                for (int64_t j = 0; j < H; j++) dhn[j] = dn[j] * rg[j] + dp[2 * H + j];
                /* the direct path; the GEMM below adds the gates' */
                for (int64_t j = 0; j < H; j++) dh[j] *= z[j];
                break;
            }
            }
        }
        /* dh of the previous step: the hidden-side gate gradients through w_hh. */
        RC_GEMM_NN(rows, H, G * H, out + r0 * grow + t * W, grow, w_hh, H, d->cell == GC_CELL_GRU ? 1 : 0,
                   out + r0 * grow + T * W, grow);
    }
}
