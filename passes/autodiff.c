/*
 * autodiff.c: reverse-mode differentiation (see autodiff.h) and one gradient rule per
 * differentiable op, dispatched through the `grad` column of ir/ops.def.
 *
 * A rule receives the forward node n, the adjoint dy of its result and which operands need a
 * gradient, and builds the operands' adjoints with ordinary ops (so fusion and codegen see nothing
 * special). Rules follow PyTorch 1.13's derivatives.yaml where the math leaves a choice: relu's
 * gradient is 0 at 0, maximum/minimum and max/min reductions split the gradient evenly on ties,
 * clamp passes it where lo <= x <= hi.
 */
#include "passes/autodiff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/build.h"
#include "ir/recurrence.h"

/* C11 has no M_PI family; these are the digits glibc's math.h would give. */
#define SQRT1_2 0.70710678118654752440    /* 1/sqrt(2) */
#define TWO_OVER_SQRTPI 1.12837916709551257390 /* 2/sqrt(pi) */

typedef int (*grad_rule)(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx);

#define X(i) (n->inputs[(i)])
#define Y ((gc_node *)n)
#define SCALAR(v) gc_scalar(b, dy->type.dtype, (v))

/* The adjoint of a broadcasting binary op's operand i: sum dy-shaped v back to operand i. */
static gc_node *back(gc_builder *b, const gc_node *n, int i, gc_node *v) {
    return gc_unbroadcast(b, v, &X(i)->type);
}

static gc_node *zeros_where(gc_builder *b, gc_node *mask, gc_node *dy) {
    return gc_select(b, mask, dy, gc_scalar(b, dy->type.dtype, 0.0));
}

/* Reshapes a reduction's adjoint to keepdims form so it broadcasts against the operand. */
static gc_node *keepdims_form(gc_builder *b, const gc_node *n, gc_node *v, uint32_t axes) {
    gc_type t = X(0)->type;
    for (int i = 0; i < t.rank; i++)
        if (axes & (1u << i)) t.dims[i] = 1;
    return gc_reshape(b, v, t.rank, t.dims);
}

static int grad_neg(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    dx[0] = gc_unary(b, GC_OP_NEG, dy);
    return dx[0] != NULL;
}

/* y = sum over processes of x, on every process; each process's loss is a term of the averaged
 * loss, so x's gradient on one process is the sum of every process's dy (torch's SyncBatchNorm
 * backward all-reduces its sums the same way): the rule is its own adjoint. */
static int grad_all_reduce_sum(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    (void)n, (void)needs;
    dx[0] = gc_unary(b, GC_OP_ALL_REDUCE_SUM, dy);
    return dx[0] != NULL;
}

static int grad_exp(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    dx[0] = gc_binary(b, GC_OP_MUL, dy, Y);
    return dx[0] != NULL;
}

static int grad_log(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    dx[0] = gc_binary(b, GC_OP_DIV, dy, X(0));
    return dx[0] != NULL;
}

static int grad_sqrt(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    dx[0] = gc_binary(b, GC_OP_DIV, gc_mul_scalar(b, dy, 0.5), Y);
    return dx[0] != NULL;
}

static int grad_rsqrt(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    /* d/dx x^-1/2 = -1/2 x^-3/2 = -1/2 y^3 */
    gc_node *y3 = gc_binary(b, GC_OP_MUL, gc_unary(b, GC_OP_SQUARE, Y), Y);
    dx[0] = gc_binary(b, GC_OP_MUL, gc_mul_scalar(b, dy, -0.5), y3);
    return dx[0] != NULL;
}

static int grad_reciprocal(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    dx[0] = gc_binary(b, GC_OP_MUL, gc_unary(b, GC_OP_NEG, dy), gc_unary(b, GC_OP_SQUARE, Y));
    return dx[0] != NULL;
}

static int grad_tanh(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    gc_node *one_minus = gc_binary(b, GC_OP_SUB, SCALAR(1.0), gc_unary(b, GC_OP_SQUARE, Y));
    dx[0] = gc_binary(b, GC_OP_MUL, dy, one_minus);
    return dx[0] != NULL;
}

static int grad_sigmoid(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    gc_node *d = gc_binary(b, GC_OP_MUL, Y, gc_binary(b, GC_OP_SUB, SCALAR(1.0), Y));
    dx[0] = gc_binary(b, GC_OP_MUL, dy, d);
    return dx[0] != NULL;
}

static int grad_relu(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    /* The mask reads the result, not the operand (relu(x) > 0 exactly where x > 0): a fused
     * kernel then need not store the pre-activation for the backward pass as well. */
    dx[0] = zeros_where(b, gc_binary(b, GC_OP_GT, Y, gc_scalar(b, Y->type.dtype, 0.0)), dy);
    return dx[0] != NULL;
}

static int grad_gelu(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    /* d/dx x Phi(x) = Phi(x) + x phi(x) */
    gc_node *x = X(0);
    gc_node *cdf = gc_mul_scalar(b, gc_add_scalar(b, gc_unary(b, GC_OP_ERF, gc_mul_scalar(b, x, SQRT1_2)), 1.0), 0.5);
    gc_node *pdf = gc_mul_scalar(b, gc_unary(b, GC_OP_EXP, gc_mul_scalar(b, gc_unary(b, GC_OP_SQUARE, x), -0.5)),
                                 0.5 * TWO_OVER_SQRTPI * SQRT1_2);
    dx[0] = gc_binary(b, GC_OP_MUL, dy, gc_binary(b, GC_OP_ADD, cdf, gc_binary(b, GC_OP_MUL, x, pdf)));
    return dx[0] != NULL;
}

static int grad_gelu_tanh(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    /* y = x/2 (1 + t), t = tanh(k (x + c x^3)): dy/dx = (1 + t)/2 + x/2 (1 - t^2) k (1 + 3 c x^2) */
    const double k = TWO_OVER_SQRTPI * SQRT1_2, c = 0.044715;
    gc_node *x = X(0), *x2 = gc_unary(b, GC_OP_SQUARE, x);
    gc_node *inner = gc_mul_scalar(b, gc_binary(b, GC_OP_ADD, x, gc_mul_scalar(b, gc_binary(b, GC_OP_MUL, x2, x), c)), k);
    gc_node *t = gc_unary(b, GC_OP_TANH, inner);
    gc_node *left = gc_mul_scalar(b, gc_add_scalar(b, t, 1.0), 0.5);
    gc_node *sech2 = gc_binary(b, GC_OP_SUB, SCALAR(1.0), gc_unary(b, GC_OP_SQUARE, t));
    gc_node *dinner = gc_mul_scalar(b, gc_add_scalar(b, gc_mul_scalar(b, x2, 3.0 * c), 1.0), k);
    gc_node *right = gc_binary(b, GC_OP_MUL, gc_mul_scalar(b, x, 0.5), gc_binary(b, GC_OP_MUL, sech2, dinner));
    dx[0] = gc_binary(b, GC_OP_MUL, dy, gc_binary(b, GC_OP_ADD, left, right));
    return dx[0] != NULL;
}

static int grad_silu(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    /* s (1 + x (1 - s)) */
    gc_node *s = gc_unary(b, GC_OP_SIGMOID, X(0));
    gc_node *d = gc_binary(b, GC_OP_MUL, s,
                           gc_add_scalar(b, gc_binary(b, GC_OP_MUL, X(0), gc_binary(b, GC_OP_SUB, SCALAR(1.0), s)), 1.0));
    dx[0] = gc_binary(b, GC_OP_MUL, dy, d);
    return dx[0] != NULL;
}

static int grad_abs(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    dx[0] = gc_binary(b, GC_OP_MUL, dy, gc_unary(b, GC_OP_SIGN, X(0)));
    return dx[0] != NULL;
}

static int grad_square(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    dx[0] = gc_binary(b, GC_OP_MUL, dy, gc_mul_scalar(b, X(0), 2.0));
    return dx[0] != NULL;
}

static int grad_softplus(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    dx[0] = gc_binary(b, GC_OP_MUL, dy, gc_unary(b, GC_OP_SIGMOID, X(0)));
    return dx[0] != NULL;
}

static int grad_log_sigmoid(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    dx[0] = gc_binary(b, GC_OP_MUL, dy, gc_unary(b, GC_OP_SIGMOID, gc_unary(b, GC_OP_NEG, X(0))));
    return dx[0] != NULL;
}

static int grad_erf(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    gc_node *d = gc_mul_scalar(b, gc_unary(b, GC_OP_EXP, gc_unary(b, GC_OP_NEG, gc_unary(b, GC_OP_SQUARE, X(0)))), TWO_OVER_SQRTPI);
    dx[0] = gc_binary(b, GC_OP_MUL, dy, d);
    return dx[0] != NULL;
}

static int grad_sin(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    dx[0] = gc_binary(b, GC_OP_MUL, dy, gc_unary(b, GC_OP_COS, X(0)));
    return dx[0] != NULL;
}

static int grad_cos(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    dx[0] = gc_binary(b, GC_OP_MUL, gc_unary(b, GC_OP_NEG, dy), gc_unary(b, GC_OP_SIN, X(0)));
    return dx[0] != NULL;
}

static int grad_pow(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    double e = n->attr.pow.exponent;
    if (e == 0.0) return 1; /* constant result: torch gives zeros */
    gc_node *d = e == 1.0 ? SCALAR(1.0) : gc_mul_scalar(b, gc_pow_scalar(b, X(0), e - 1.0), e);
    dx[0] = gc_binary(b, GC_OP_MUL, dy, d);
    return dx[0] != NULL;
}

static int grad_clamp(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    gc_dtype t = X(0)->type.dtype;
    gc_node *inside = gc_binary(b, GC_OP_MUL, gc_binary(b, GC_OP_GE, X(0), gc_scalar(b, t, n->attr.clamp.lo)),
                                gc_binary(b, GC_OP_LE, X(0), gc_scalar(b, t, n->attr.clamp.hi)));
    dx[0] = zeros_where(b, inside, dy);
    return dx[0] != NULL;
}

static int grad_cast(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    if (!gc_dtype_is_float(X(0)->type.dtype) || !gc_dtype_is_float(n->type.dtype)) return 1;
    dx[0] = gc_cast(b, dy, X(0)->type.dtype);
    return dx[0] != NULL;
}

static int grad_add(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    if (needs[0] && !(dx[0] = back(b, n, 0, dy))) return 0;
    if (needs[1] && !(dx[1] = back(b, n, 1, dy))) return 0;
    return 1;
}

static int grad_sub(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    if (needs[0] && !(dx[0] = back(b, n, 0, dy))) return 0;
    if (needs[1] && !(dx[1] = back(b, n, 1, gc_unary(b, GC_OP_NEG, dy)))) return 0;
    return 1;
}

static int grad_mul(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    if (needs[0] && !(dx[0] = back(b, n, 0, gc_binary(b, GC_OP_MUL, dy, X(1))))) return 0;
    if (needs[1] && !(dx[1] = back(b, n, 1, gc_binary(b, GC_OP_MUL, dy, X(0))))) return 0;
    return 1;
}

static int grad_div(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    gc_node *q = gc_binary(b, GC_OP_DIV, dy, X(1));
    if (needs[0] && !(dx[0] = back(b, n, 0, q))) return 0;
    /* d(a/b)/db = -a/b^2 = -(a/b)/b */
    if (needs[1] && !(dx[1] = back(b, n, 1, gc_unary(b, GC_OP_NEG, gc_binary(b, GC_OP_MUL, q, Y))))) return 0;
    return 1;
}

/* Share of the gradient operand 0 of maximum/minimum gets: 1 where it wins, 1/2 on ties. */
static int grad_extremum(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx, gc_op wins) {
    gc_node *w = gc_binary(b, GC_OP_ADD, gc_binary(b, wins, X(0), X(1)),
                           gc_mul_scalar(b, gc_binary(b, GC_OP_EQ, X(0), X(1)), 0.5));
    w = gc_cast(b, w, dy->type.dtype);
    if (needs[0] && !(dx[0] = back(b, n, 0, gc_binary(b, GC_OP_MUL, dy, w)))) return 0;
    if (needs[1] && !(dx[1] = back(b, n, 1, gc_binary(b, GC_OP_MUL, dy, gc_binary(b, GC_OP_SUB, SCALAR(1.0), w))))) return 0;
    return 1;
}

static int grad_maximum(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    return grad_extremum(b, n, dy, needs, dx, GC_OP_GT);
}

static int grad_minimum(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    return grad_extremum(b, n, dy, needs, dx, GC_OP_LT);
}

static int grad_select(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    gc_node *zero = SCALAR(0.0);
    if (needs[1] && !(dx[1] = back(b, n, 1, gc_select(b, X(0), dy, zero)))) return 0;
    if (needs[2] && !(dx[2] = back(b, n, 2, gc_select(b, X(0), zero, dy)))) return 0;
    return 1;
}

static int grad_sum(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    dx[0] = gc_broadcast_to(b, keepdims_form(b, n, dy, n->attr.reduce.axes), &X(0)->type);
    return dx[0] != NULL;
}

static int grad_mean(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    double count = (double)gc_type_numel(&X(0)->type) / (double)gc_type_numel(&n->type);
    dx[0] = gc_broadcast_to(b, keepdims_form(b, n, gc_mul_scalar(b, dy, 1.0 / count), n->attr.reduce.axes), &X(0)->type);
    return dx[0] != NULL;
}

/* max/min over axes: the gradient goes to the elements equal to the result, split evenly. */
static int grad_reduce_extremum(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    uint32_t axes = n->attr.reduce.axes;
    gc_node *y = keepdims_form(b, n, Y, axes);
    gc_node *hit = gc_cast(b, gc_binary(b, GC_OP_EQ, X(0), y), dy->type.dtype);
    gc_node *count = gc_reduce(b, GC_OP_SUM, hit, axes, true);
    gc_node *share = gc_binary(b, GC_OP_DIV, keepdims_form(b, n, dy, axes), count);
    dx[0] = gc_binary(b, GC_OP_MUL, hit, share);
    return dx[0] != NULL;
}

static int grad_max(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    return grad_reduce_extremum(b, n, dy, needs, dx);
}

static int grad_min(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    return grad_reduce_extremum(b, n, dy, needs, dx);
}

static int grad_softmax(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    uint32_t axis = 1u << n->attr.axis.axis;
    gc_node *dot = gc_reduce(b, GC_OP_SUM, gc_binary(b, GC_OP_MUL, dy, Y), axis, true);
    dx[0] = gc_binary(b, GC_OP_MUL, Y, gc_binary(b, GC_OP_SUB, dy, dot));
    return dx[0] != NULL;
}

static int grad_log_softmax(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    uint32_t axis = 1u << n->attr.axis.axis;
    gc_node *total = gc_reduce(b, GC_OP_SUM, dy, axis, true);
    dx[0] = gc_binary(b, GC_OP_SUB, dy, gc_binary(b, GC_OP_MUL, gc_unary(b, GC_OP_EXP, Y), total));
    return dx[0] != NULL;
}

static int grad_matmul(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    /* C = op(A) op(B). The operand adjoints, written with transpose flags instead of copies:
     *   dA = dC op(B)^T, or op(B) dC^T when A is read transposed;
     *   dB = op(A)^T dC, or dC^T op(A) when B is read transposed.
     * Batch dims that were broadcast are summed back by gc_unbroadcast. */
    bool ta = n->attr.matmul.transpose_a, tb = n->attr.matmul.transpose_b;
    gc_node *a = X(0), *bm = X(1);
    if (needs[0]) {
        gc_node *d = ta ? gc_matmul(b, bm, dy, tb, true) : gc_matmul(b, dy, bm, false, !tb);
        if (!(dx[0] = gc_unbroadcast(b, d, &a->type))) return 0;
    }
    if (needs[1] && bm->type.rank == 2 && a->type.rank > 2 && !ta) {
        /* A matrix shared by a batch (x[B..., M, K] @ w): the batch's rows are one GEMM's, so
         * dB is one GEMM over all of them rather than a GEMM per batch summed afterwards. */
        int64_t k = a->type.dims[a->type.rank - 1], n_cols = dy->type.dims[dy->type.rank - 1];
        int64_t a2[2] = {gc_type_numel(&a->type) / k, k}, dy2[2] = {gc_type_numel(&dy->type) / n_cols, n_cols};
        gc_node *af = gc_reshape(b, a, 2, a2), *dyf = gc_reshape(b, dy, 2, dy2);
        dx[1] = tb ? gc_matmul(b, dyf, af, true, false) : gc_matmul(b, af, dyf, true, false);
        if (!dx[1]) return 0;
    } else if (needs[1]) {
        gc_node *d = tb ? gc_matmul(b, dy, a, true, ta) : gc_matmul(b, a, dy, !ta, false);
        if (!(dx[1] = gc_unbroadcast(b, d, &bm->type))) return 0;
    }
    return 1;
}

static int grad_reshape(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    dx[0] = gc_reshape(b, dy, X(0)->type.rank, X(0)->type.dims);
    return dx[0] != NULL;
}

static int grad_permute(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    int inverse[GC_MAX_RANK] = {0};
    for (int i = 0; i < n->type.rank; i++) inverse[n->attr.permute.perm[i]] = i;
    dx[0] = gc_permute(b, dy, inverse);
    return dx[0] != NULL;
}

static int grad_broadcast(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    dx[0] = gc_unbroadcast(b, dy, &X(0)->type);
    return dx[0] != NULL;
}

static int grad_slice(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    const gc_attr_slice *s = &n->attr.slice;
    dx[0] = gc_pad(b, dy, s->axis, s->start, X(0)->type.dims[s->axis] - s->end);
    return dx[0] != NULL;
}

static int grad_pad(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    const gc_attr_pad *p = &n->attr.pad;
    dx[0] = gc_slice(b, dy, p->axis, p->before, p->before + X(0)->type.dims[p->axis]);
    return dx[0] != NULL;
}

/* The parts of a pad's operand along `axis`: a concat along it is its operands, anything else
 * itself. Returns the count (at most max), 0 when there are more. */
static int pad_parts(gc_node *core, int axis, gc_node **parts, int max) {
    if (core->op == GC_OP_CONCAT && core->attr.axis.axis == axis) {
        if (core->num_inputs > max) return 0;
        for (int i = 0; i < core->num_inputs; i++) parts[i] = core->inputs[i];
        return core->num_inputs;
    }
    if (max < 1) return 0;
    parts[0] = core;
    return 1;
}

/* Two gradient contributions summed. Two pads of adjacent runs along one axis (the gradients of
 * slices that take a fused projection apart, as self-attention's q, k and v of one GEMM) are one
 * concat of what they pad, padded once, instead of two zero-filled copies of the whole and an
 * add: the same values (adding zeros is exact but for the sign of a zero), a fraction of the
 * memory traffic, and the third slice's gradient completes the concat with no pad at all. */
static gc_node *accumulate(gc_builder *b, gc_node *acc, gc_node *dx) {
    if (acc->op == GC_OP_PAD && dx->op == GC_OP_PAD && acc->attr.pad.axis == dx->attr.pad.axis &&
        gc_type_equal(&acc->type, &dx->type)) {
        int axis = acc->attr.pad.axis;
        gc_node *first = acc, *second = dx;
        if (dx->attr.pad.before + dx->inputs[0]->type.dims[axis] == acc->attr.pad.before) {
            first = dx;
            second = acc;
        }
        if (first->attr.pad.before + first->inputs[0]->type.dims[axis] == second->attr.pad.before) {
            gc_node *parts[64];
            int n = pad_parts(first->inputs[0], axis, parts, 64);
            int m = n ? pad_parts(second->inputs[0], axis, parts + n, 64 - n) : 0;
            if (n && m) {
                gc_node *core = gc_concat(b, parts, n + m, axis);
                if (!core || (first->attr.pad.before == 0 && second->attr.pad.after == 0)) return core;
                return gc_pad(b, core, axis, first->attr.pad.before, second->attr.pad.after);
            }
        }
    }
    return gc_binary(b, GC_OP_ADD, acc, dx);
}

static int grad_concat(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    int axis = n->attr.axis.axis;
    int64_t offset = 0;
    for (int i = 0; i < n->num_inputs; i++) {
        int64_t size = X(i)->type.dims[axis];
        if (needs[i] && !(dx[i] = gc_slice(b, dy, axis, offset, offset + size))) return 0;
        offset += size;
    }
    return 1;
}

static int grad_take(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    gc_node *in[2] = {dy, X(1)};
    dx[0] = gc_build(b, GC_OP_SCATTER_ADD, in, 2, NULL, &X(0)->type);
    return dx[0] != NULL;
}

static int grad_scatter_add(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    gc_node *in[2] = {dy, X(1)};
    dx[0] = gc_build(b, GC_OP_TAKE, in, 2, NULL, NULL);
    return dx[0] != NULL;
}

/* index_add is linear in base (the identity) and in updates (the rows it adds them to). */
static int grad_index_add(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    if (needs[0]) dx[0] = dy;
    if (needs[1]) {
        gc_node *in[2] = {dy, X(2)};
        if (!(dx[1] = gc_build(b, GC_OP_TAKE, in, 2, NULL, NULL))) return 0;
    }
    return 1;
}

/* Pooling: the gradients are ops of their own (a scatter into overlapping windows), and
 * avg_pool_grad, linear in dy, has avg_pool with the same windows as its adjoint. */
static gc_node *pool_op(gc_builder *b, gc_op op, const gc_node *n, gc_node *const *in, int count, const gc_type *type) {
    return gc_build(b, op, in, count, &n->attr, type);
}

static int grad_max_pool(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    gc_node *in[2] = {X(0), dy};
    dx[0] = pool_op(b, GC_OP_MAX_POOL_GRAD, n, in, 2, NULL);
    return dx[0] != NULL;
}

static int grad_avg_pool(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    dx[0] = pool_op(b, GC_OP_AVG_POOL_GRAD, n, &dy, 1, &X(0)->type);
    return dx[0] != NULL;
}

static int grad_avg_pool_grad(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    dx[0] = pool_op(b, GC_OP_AVG_POOL, n, &dy, 1, NULL);
    return dx[0] != NULL;
}

/* Convolution. conv is linear in each operand, and the three ops are each other's adjoints:
 * with y = conv(x, w), <conv(x, w), dy> = <x, conv_input_grad(dy, w)> = <w, conv_weight_grad(x, dy)>.
 * Differentiating each of those bilinear forms gives every rule below. */
static int grad_conv(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    if (needs[0] && !(dx[0] = gc_conv_input_grad(b, dy, X(1), &n->attr.conv, &X(0)->type))) return 0;
    if (needs[1] && !(dx[1] = gc_conv_weight_grad(b, X(0), dy, &n->attr.conv, &X(1)->type))) return 0;
    return 1;
}

static int grad_conv_input_grad(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    /* z = conv_input_grad(u, w): <g, z> = <conv(g, w), u>. */
    if (needs[0] && !(dx[0] = gc_conv(b, dy, X(1), &n->attr.conv))) return 0;
    if (needs[1] && !(dx[1] = gc_conv_weight_grad(b, dy, X(0), &n->attr.conv, &X(1)->type))) return 0;
    return 1;
}

static int grad_conv_weight_grad(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    /* v = conv_weight_grad(x, u): <g, v> = <conv(x, g), u>. */
    if (needs[0] && !(dx[0] = gc_conv_input_grad(b, X(1), dy, &n->attr.conv, &X(0)->type))) return 0;
    if (needs[1] && !(dx[1] = gc_conv(b, X(0), dy, &n->attr.conv))) return 0;
    return 1;
}

/* ---- recurrent layers (ir/recurrence.h) ---- */

/* The backward loop gives the gates' gradients for every step; the weight and input gradients
 * are then ordinary ops over the whole sequence: d xproj is the input side of the gate gradients,
 * d w_hh one GEMM of the hidden side against the previous hidden states stacked [N*T, H], and
 * d b_hh their sum. */
static int grad_recurrence(gc_builder *b, const gc_node *n, gc_node *dy, const bool *needs, gc_node **dx) {
    int cell = n->attr.recurrence.cell;
    const gc_type *xt = &X(0)->type;
    int64_t N = xt->dims[0], T = xt->dims[1], H = X(1)->type.dims[1], G = gc_cell_gates(cell);
    gc_node *in[5] = {Y, dy, X(1), X(3), n->num_inputs > 4 ? X(4) : NULL};
    gc_node *g = gc_build(b, GC_OP_RECURRENCE_GRAD, in, n->num_inputs, &n->attr, NULL);
    gc_node *gates = gc_slice(b, g, 1, 0, T);
    gc_node *hidden_side = gates, *input_side = gates;
    if (cell == GC_CELL_GRU) {
        hidden_side = gc_slice(b, gates, 2, 0, 3 * H);
        gc_node *parts[2] = {gc_slice(b, gates, 2, 0, 2 * H), gc_slice(b, gates, 2, 3 * H, 4 * H)};
        input_side = gc_concat(b, parts, 2, 2);
    }
    if (needs[0] && !(dx[0] = input_side)) return 0;
    /* Gate gradients as [N*T, G*H] rows: what the input projection's own gradient reshapes them
     * to, so for rnn and lstm (whose two sides are one value) CSE shares the bias sums too. */
    int64_t rows_g[2] = {N * T, G * H};
    gc_node *rows = gc_reshape(b, hidden_side, 2, rows_g);
    if (needs[1]) {
        int64_t hcol = gc_cell_h_column(cell) * H, d3[3] = {N, 1, H}, rows_h[2] = {N * T, H};
        gc_node *h = gc_slice(b, Y, 2, hcol, hcol + H), *first = gc_reshape(b, X(3), 3, d3), *prev = first;
        if (T > 1) {
            bool rev = n->attr.recurrence.reverse;
            gc_node *parts[2] = {rev ? gc_slice(b, h, 1, 1, T) : first, rev ? first : gc_slice(b, h, 1, 0, T - 1)};
            prev = gc_concat(b, parts, 2, 1);
        }
        dx[1] = gc_matmul(b, rows, gc_reshape(b, prev, 2, rows_h), true, false);
        if (!dx[1]) return 0;
    }
    int64_t gh = G * H;
    if (needs[2] && !(dx[2] = gc_reshape(b, gc_reduce(b, GC_OP_SUM, rows, 0x1, true), 1, &gh))) return 0;
    gc_node *last = needs[3] || (n->num_inputs > 4 && needs[4]) ? gc_slice(b, g, 1, T, T + 1) : NULL;
    int64_t state[2] = {N, H};
    if (needs[3] && !(dx[3] = gc_reshape(b, gc_slice(b, last, 2, 0, H), 2, state))) return 0;
    if (n->num_inputs > 4 && needs[4] && !(dx[4] = gc_reshape(b, gc_slice(b, last, 2, H, 2 * H), 2, state))) return 0;
    return 1;
}

#define GRAD_NONE NULL
static const grad_rule rules[GC_OP_COUNT] = {
#define GC_OP(E, name, arity, attr, cls, flags, shape, grad, doc) [GC_OP_##E] = grad,
#include "ir/ops.def"
#undef GC_OP
};

/* Marks nodes that depend on a param through differentiable ops (forward) and that the loss
 * depends on (backward); only nodes with both get adjoints. */
static void mark_paths(const gc_graph *g, const gc_node *loss, bool *from_param, bool *to_loss) {
    for (int i = 0; i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        if (n->op == GC_OP_PARAM) {
            from_param[i] = gc_dtype_is_float(n->type.dtype);
            continue;
        }
        if (!(gc_op_table[n->op].flags & GC_FLAG_DIFF) || !gc_dtype_is_float(n->type.dtype)) continue;
        for (int k = 0; k < n->num_inputs; k++)
            if (from_param[n->inputs[k]->id]) from_param[i] = true;
    }
    to_loss[loss->id] = true;
    for (int i = loss->id; i >= 0; i--) {
        if (!to_loss[i]) continue;
        const gc_node *n = g->nodes[i];
        for (int k = 0; k < n->num_inputs; k++) to_loss[n->inputs[k]->id] = true;
    }
}

int gc_autodiff(gc_graph *g, gc_error *err) {
    gc_graph_output *out = gc_graph_find_output(g, GC_OUTPUT_VALUE, "loss");
    if (!out) return gc_failf(err, GC_ERR_USER, "autodiff: the graph has no output \"loss\"");
    gc_node *loss = out->value;
    if (loss->type.dtype != GC_F32 && loss->type.dtype != GC_F64) {
        char t[96];
        return gc_fail(err, GC_ERR_USER, loss->loc, "autodiff: the loss must be a float scalar, got %s",
                       gc_type_format(&loss->type, t, sizeof t));
    }
    if (loss->type.rank != 0) {
        char t[96];
        return gc_fail(err, GC_ERR_USER, loss->loc,
                       "autodiff: the loss must be a scalar (rank 0), got %s; reduce it with sum or mean",
                       gc_type_format(&loss->type, t, sizeof t));
    }
    for (int i = 0; i < g->num_outputs; i++)
        if (g->outputs[i].kind == GC_OUTPUT_GRAD)
            return gc_failf(err, GC_ERR_USER, "autodiff: the graph already has grad outputs");

    int count = g->num_nodes; /* nodes appended below are never revisited */
    bool *from_param = calloc((size_t)count + 1, sizeof *from_param);
    bool *to_loss = calloc((size_t)count + 1, sizeof *to_loss);
    gc_node **adjoint = calloc((size_t)count + 1, sizeof *adjoint);
    if (!from_param || !to_loss || !adjoint) {
        free(from_param);
        free(to_loss);
        free(adjoint);
        return gc_failf(err, GC_ERR_MEMORY, "out of memory");
    }
    mark_paths(g, loss, from_param, to_loss);

    /* Every op on a path that has no rule is reported at once, before anything is built. */
    int missing = 0;
    char list[400] = "";
    gc_loc first = {0};
    for (int i = 0; i < count; i++) {
        const gc_node *n = g->nodes[i];
        if (!from_param[i] || !to_loss[i] || n->op == GC_OP_PARAM || rules[n->op]) continue;
        if (!missing) first = n->loc;
        size_t len = strlen(list);
        if (len < sizeof list - 64)
            snprintf(list + len, sizeof list - len, "%s%s (line %d)", missing ? ", " : "", gc_op_table[n->op].name, n->loc.line);
        missing++;
    }
    int ok = 1;
    if (missing) {
        ok = gc_fail(err, GC_ERR_USER, first, "autodiff: no gradient rule for %d op%s on the path to the loss: %s",
                     missing, missing == 1 ? "" : "s", list);
        goto done;
    }

    gc_builder b = {g, loss->loc, err};
    adjoint[loss->id] = gc_scalar(&b, loss->type.dtype, 1.0);
    if (!adjoint[loss->id]) {
        ok = 0;
        goto done;
    }
    for (int i = loss->id; i >= 0 && ok; i--) {
        const gc_node *n = g->nodes[i];
        if (!adjoint[i] || n->op == GC_OP_PARAM || !from_param[i]) continue;
        bool needs[64];
        gc_node *dx[64];
        int inputs = n->num_inputs;
        if (inputs > 64) {
            ok = gc_fail(err, GC_ERR_USER, n->loc, "autodiff: %s has more than 64 operands", gc_op_table[n->op].name);
            break;
        }
        bool any = false;
        for (int k = 0; k < inputs; k++) {
            int id = n->inputs[k]->id;
            needs[k] = from_param[id] && to_loss[id];
            any |= needs[k];
            dx[k] = NULL;
        }
        if (!any) continue;
        b.loc = n->loc; /* gradient nodes point at the line of the forward op they differentiate */
        g->layer = n->layer; /* and at its layer */
        if (!rules[n->op](&b, n, adjoint[i], needs, dx)) {
            ok = 0;
            break;
        }
        for (int k = 0; k < inputs; k++) {
            if (!needs[k] || !dx[k]) continue;
            int id = n->inputs[k]->id;
            if (!gc_type_same_shape(&dx[k]->type, &n->inputs[k]->type)) {
                char a[96], t[96];
                ok = gc_fail(err, GC_ERR_INTERNAL, n->loc, "internal error: gradient rule of %s gave %s for operand %d of type %s",
                             gc_op_table[n->op].name, gc_type_format(&dx[k]->type, a, sizeof a), k,
                             gc_type_format(&n->inputs[k]->type, t, sizeof t));
                break;
            }
            adjoint[id] = adjoint[id] ? accumulate(&b, adjoint[id], dx[k]) : dx[k];
            if (!adjoint[id]) {
                ok = 0;
                break;
            }
        }
    }
    for (int i = 0; i < count && ok; i++) {
        const gc_node *n = g->nodes[i];
        if (n->op != GC_OP_PARAM || !adjoint[i]) continue;
        ok = gc_graph_add_output(g, GC_OUTPUT_GRAD, n->name, adjoint[i], err);
    }
done:
    g->layer = NULL;
    free(from_param);
    free(to_loss);
    free(adjoint);
    return ok;
}

int gc_autodiff_unreached(const gc_graph *g, const gc_node **params, int max) {
    int count = 0;
    for (int i = 0; i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        if (n->op != GC_OP_PARAM || gc_graph_find_output(g, GC_OUTPUT_GRAD, n->name)) continue;
        if (count < max) params[count] = n;
        count++;
    }
    return count;
}

int gc_pass_autodiff(gc_graph **graph, gc_error *err) { return gc_autodiff(*graph, err); }
