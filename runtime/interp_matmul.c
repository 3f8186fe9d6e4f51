/*
 * interp_matmul.c: the batched matrix product, op(a) @ op(b) with op an optional transpose of the
 * last two dims and the leading (batch) dims broadcast by NumPy rules, as torch.matmul on rank >= 2.
 *
 * The plain i-k-j loop accumulates each output row in double; generated code calls sgemm, whose
 * float accumulation differs from this only by rounding. A bf16 matmul (mixed precision) reads
 * every operand element rounded to bf16 first (gc_bf16_round, the rounding generated code's
 * gc_sgemm_bf16 packs with); the products of two bf16 values are exact, so the JIT's result then
 * differs from this one only by the order and rounding of its f32 sums.
 */
#include <string.h>

#include "runtime/gemm_bf16.h"
#include "runtime/interp_kernels.h"

static inline double operand(double x, bool bf16) { return bf16 ? (double)gc_bf16_round((float)x) : x; }

/* The batch dims of t (all but the last two) broadcast to the result's, as strides. */
static void batch_strides(const gc_type *t, const gc_type *result, int64_t *strides) {
    int64_t mat = t->dims[t->rank - 2] * t->dims[t->rank - 1];
    gc_type lead = *t, rlead = *result;
    lead.rank -= 2;
    rlead.rank -= 2;
    interp_broadcast_strides(&lead, &rlead, strides);
    /* The lead type's own strides count its batch elements; each is one whole matrix. */
    for (int d = 0; d < rlead.rank; d++) strides[d] *= mat;
}

int interp_matmul(const gc_node *n, const double *const *in, double *out, gc_error *err) {
    const gc_type *ta = &n->inputs[0]->type, *tb = &n->inputs[1]->type, *tr = &n->type;
    bool trans_a = n->attr.matmul.transpose_a, trans_b = n->attr.matmul.transpose_b, bf16 = n->attr.matmul.bf16;
    int64_t m = tr->dims[tr->rank - 2], nn = tr->dims[tr->rank - 1];
    int64_t k = ta->dims[ta->rank - (trans_a ? 2 : 1)];

    /* Element (i, p) of op(a) and (p, j) of op(b) within one matrix. */
    int64_t a_row = trans_a ? 1 : k, a_col = trans_a ? m : 1;
    int64_t b_row = trans_b ? 1 : nn, b_col = trans_b ? k : 1;

    int64_t sa[GC_MAX_RANK], sb[GC_MAX_RANK];
    batch_strides(ta, tr, sa);
    batch_strides(tb, tr, sb);
    gc_type batch = *tr;
    batch.rank -= 2;
    interp_iter it;
    interp_iter_init(&it, &batch);
    interp_iter_add(&it, sa);
    interp_iter_add(&it, sb);

    int64_t batches = gc_type_numel(&batch);
    memset(out, 0, sizeof *out * (size_t)gc_type_numel(tr));
    for (int64_t bi = 0; bi < batches; bi++, interp_iter_next(&it)) {
        const double *a = in[0] + it.off[0], *b = in[1] + it.off[1];
        double *c = out + bi * m * nn;
        for (int64_t i = 0; i < m; i++) {
            for (int64_t p = 0; p < k; p++) {
                double aip = operand(a[i * a_row + p * a_col], bf16);
                for (int64_t j = 0; j < nn; j++) c[i * nn + j] += aip * operand(b[p * b_row + j * b_col], bf16);
            }
        }
    }
    return 1;
}
