/*
 * recurrent_body.h: the loop over time of the recurrence ops, written once for every element
 * type. Included by runtime/recurrent.c (float and double, GEMMs through gc_sgemm / OpenBLAS)
 * and runtime/interp_recurrent.c (double, plain loops), each defining before the include:
 *   RC_REAL                the element type
 *   RC_NAME(x)             the name of function x for this instance
 *   RC_GEMM_NT(m, n, k, a, lda, b, ldb, beta, c, ldc)   C = A[m,k] @ B[n,k]^T + beta C
 *   RC_GEMM_NN(m, n, k, a, lda, b, ldb, beta, c, ldc)   C = A[m,k] @ B[k,n] + beta C
 *   RC_EXP, RC_TANH        exp and tanh of RC_REAL
 * The column layouts are ir/recurrence.h's. Both functions do batch rows [r0, r1) only: each
 * row's recurrence is independent of the others', so any cut of the rows computes the same bits.
 */
#include "ir/recurrence.h"

static inline RC_REAL RC_NAME(sigmoid)(RC_REAL v) { return (RC_REAL)1 / ((RC_REAL)1 + RC_EXP(-v)); }

/* Step k of the processing order is time index t: k itself, or T - 1 - k in reverse. */
static inline int64_t RC_NAME(time_of)(int64_t k, int64_t steps, bool reverse) { return reverse ? steps - 1 - k : k; }

static void RC_NAME(forward)(const gc_recurrence_dims *d, RC_REAL *out, const RC_REAL *xproj, const RC_REAL *w_hh,
                             const RC_REAL *b_hh, const RC_REAL *h0, const RC_REAL *c0, int64_t r0, int64_t r1) {
    const int64_t T = d->steps, H = d->hidden, G = gc_cell_gates(d->cell), S = gc_cell_packed(d->cell) * H;
    const int64_t hcol = gc_cell_h_column(d->cell) * H, ccol = GC_CELL_LSTM_C_COLUMN * H;
    const int64_t rows = r1 - r0, row_stride = T * S, xrow = T * G * H;
    if (rows <= 0) return;
    for (int64_t k = 0; k < T; k++) {
        int64_t t = RC_NAME(time_of)(k, T, d->reverse), tp = k ? RC_NAME(time_of)(k - 1, T, d->reverse) : -1;
        /* The hidden side of every gate, straight into the step's gate columns. */
        const RC_REAL *hp = k ? out + r0 * row_stride + tp * S + hcol : h0 + r0 * H;
        RC_GEMM_NT(rows, G * H, H, hp, k ? row_stride : H, w_hh, H, 0, out + r0 * row_stride + t * S, row_stride);
        for (int64_t r = r0; r < r1; r++) {
            RC_REAL *o = out + r * row_stride + t * S;
            const RC_REAL *x = xproj + r * xrow + t * G * H;
            const RC_REAL *prev = k ? out + r * row_stride + tp * S : NULL;
            switch (d->cell) {
            case GC_CELL_RNN_TANH:
                for (int64_t j = 0; j < H; j++) o[j] = RC_TANH(o[j] + x[j] + b_hh[j]);
                break;
            case GC_CELL_RNN_RELU:
                for (int64_t j = 0; j < H; j++) {
                    RC_REAL v = o[j] + x[j] + b_hh[j];
                    o[j] = v > 0 ? v : 0;
                }
                break;
            case GC_CELL_LSTM:
                for (int64_t j = 0; j < H; j++) {
                    RC_REAL i = RC_NAME(sigmoid)(o[j] + x[j] + b_hh[j]);
                    RC_REAL f = RC_NAME(sigmoid)(o[H + j] + x[H + j] + b_hh[H + j]);
                    RC_REAL g = RC_TANH(o[2 * H + j] + x[2 * H + j] + b_hh[2 * H + j]);
                    RC_REAL og = RC_NAME(sigmoid)(o[3 * H + j] + x[3 * H + j] + b_hh[3 * H + j]);
                    RC_REAL cp = prev ? prev[ccol + j] : c0[r * H + j];
                    RC_REAL c = f * cp + i * g;
                    o[j] = i, o[H + j] = f, o[2 * H + j] = g, o[3 * H + j] = og;
                    o[ccol + j] = c;
                    o[hcol + j] = og * RC_TANH(c);
                }
                break;
            case GC_CELL_GRU:
                for (int64_t j = 0; j < H; j++) {
                    RC_REAL rg = RC_NAME(sigmoid)(o[j] + x[j] + b_hh[j]);
                    RC_REAL z = RC_NAME(sigmoid)(o[H + j] + x[H + j] + b_hh[H + j]);
                    RC_REAL hn = o[2 * H + j] + b_hh[2 * H + j];
                    RC_REAL nn = RC_TANH(x[2 * H + j] + rg * hn);
                    RC_REAL hp_j = prev ? prev[hcol + j] : h0[r * H + j];
                    o[j] = rg, o[H + j] = z, o[2 * H + j] = hn, o[3 * H + j] = nn;
                    o[hcol + j] = (1 - z) * nn + z * hp_j;
                }
                break;
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
                for (int64_t j = 0; j < H; j++) o[j] = p[j] > 0 ? dp[j] + acc[j] : 0;
                break;
            case GC_CELL_LSTM:
                for (int64_t j = 0; j < H; j++) {
                    RC_REAL i = p[j], f = p[H + j], g = p[2 * H + j], og = p[3 * H + j], c = p[ccol + j];
                    RC_REAL cp = prev ? prev[ccol + j] : c0[r * H + j];
                    RC_REAL dh = dp[hcol + j] + acc[j], tc = RC_TANH(c);
                    RC_REAL dc = acc[H + j] + dp[ccol + j] + dh * og * (1 - tc * tc);
                    o[j] = (dc * g + dp[j]) * i * (1 - i);
                    o[H + j] = (dc * cp + dp[H + j]) * f * (1 - f);
                    o[2 * H + j] = (dc * i + dp[2 * H + j]) * (1 - g * g);
                    o[3 * H + j] = (dh * tc + dp[3 * H + j]) * og * (1 - og);
                    acc[H + j] = dc * f;
                }
                break;
            case GC_CELL_GRU:
                for (int64_t j = 0; j < H; j++) {
                    RC_REAL rg = p[j], z = p[H + j], hn = p[2 * H + j], nn = p[3 * H + j];
                    RC_REAL hp_j = prev ? prev[hcol + j] : h0[r * H + j];
                    RC_REAL dh = dp[hcol + j] + acc[j];
                    RC_REAL dn = (dh * (1 - z) + dp[3 * H + j]) * (1 - nn * nn);
                    o[j] = (dn * hn + dp[j]) * rg * (1 - rg);
                    o[H + j] = (dh * (hp_j - nn) + dp[H + j]) * z * (1 - z);
                    o[2 * H + j] = dn * rg + dp[2 * H + j];
                    o[3 * H + j] = dn;
                    acc[j] = dh * z; /* the direct path; the GEMM below adds the gates' */
                }
                break;
            }
        }
        /* dh of the previous step: the hidden-side gate gradients through w_hh. */
        RC_GEMM_NN(rows, H, G * H, out + r0 * grow + t * W, grow, w_hh, H, d->cell == GC_CELL_GRU ? 1 : 0,
                   out + r0 * grow + T * W, grow);
    }
}
