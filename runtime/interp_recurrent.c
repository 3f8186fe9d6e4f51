/*
 * interp_recurrent.c: the interpreter's recurrence and recurrence_grad, in double with plain
 * loops for the per-step products (the loop itself is runtime/recurrent_body.h, shared with the
 * code generated kernels call). In f32 mode the driver rounds the packed result once, after the
 * loop: the states inside it stay double, so the interpreter gives the exact recurrence of the
 * f32 inputs, rounded at the end. What checks this shared loop independently is PyTorch
 * (tests/oracle/gen_ops.py, gen_recurrent.py) and the finite differences of test_autodiff.c.
 */
#include <math.h>
#include <stdbool.h>

#include "ir/recurrence.h"
#include "runtime/interp_kernels.h"
#include "runtime/recurrent.h"

/* C = A[m,k] @ op(B) + beta C with B [n,k] read transposed (nt) or [k,n] (nn). */
static void plain_gemm(bool nt, int64_t m, int64_t n, int64_t k, const double *a, int64_t lda, const double *b,
                       int64_t ldb, double beta, double *c, int64_t ldc) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t p = 0; p < k; p++) s += a[i * lda + p] * (nt ? b[j * ldb + p] : b[p * ldb + j]);
            c[i * ldc + j] = (beta != 0 ? beta * c[i * ldc + j] : 0) + s;
        }
}

#define RC_REAL double
#define RC_NAME(x) interp_recurrence_##x
#define RC_PACK_B(trans, n, k, b, ldb) (void)0
#define RC_EXP exp
#define RC_TANH tanh
#define RC_GEMM_NT(m, n, k, a, lda, b, ldb, beta, c, ldc) plain_gemm(true, m, n, k, a, lda, b, ldb, beta, c, ldc)
#define RC_GEMM_NN(m, n, k, a, lda, b, ldb, beta, c, ldc) plain_gemm(false, m, n, k, a, lda, b, ldb, beta, c, ldc)
#include "runtime/recurrent_body.h"

static gc_recurrence_dims dims_of(const gc_node *n, const gc_type *packed) {
    const gc_type *w = &n->inputs[n->op == GC_OP_RECURRENCE ? 1 : 2]->type;
    return (gc_recurrence_dims){packed->dims[0], packed->dims[1], w->dims[1], n->attr.recurrence.cell,
                                n->attr.recurrence.reverse};
}

int interp_recurrence(const gc_node *n, const double *const *in, double *out, gc_error *err) {
    (void)err;
    gc_recurrence_dims d = dims_of(n, &n->type);
    interp_recurrence_forward(&d, out, in[0], in[1], in[2], in[3], n->num_inputs > 4 ? in[4] : NULL, 0, d.batch);
    return 1;
}

int interp_recurrence_grad(const gc_node *n, const double *const *in, double *out, gc_error *err) {
    (void)err;
    gc_recurrence_dims d = dims_of(n, &n->inputs[0]->type);
    interp_recurrence_backward(&d, out, in[0], in[1], in[2], in[3], n->num_inputs > 4 ? in[4] : NULL, 0, d.batch);
    return 1;
}
