/*
 * lower_activations.c: torch.nn.functional's activations (builtins.def, "Activations") built
 * from existing IR ops.
 *
 * Each composition gives torch 1.13's value and, through autodiff of its ops, torch's gradient,
 * including the side torch takes at a kink:
 *   leaky_relu, elu, selu, celu   select(x > 0, ...): the x <= 0 branch owns x == 0 (slope
 *                                 negative_slope, alpha, scale * alpha, 1), as torch's kernels;
 *                                 the exponential reads clamp(x, -inf, 0), whose gradient is 1 at
 *                                 0, so the branch not taken never computes e^large (no inf * 0)
 *   hardtanh, relu6, hardsigmoid  gradient only strictly inside the bounds (torch's backward
 *                                 tests x <= min_val || x >= max_val), unlike clamp's
 *   hardswish                     x * clamp(x + 3, 0, 6) / 6 below 3, x from 3 on: gradient
 *                                 -0.5 at -3 and 1 at 3, as torch's vectorised kernel (its
 *                                 scalar loop, run on a tensor's last few elements, says 1.5)
 *   softplus(beta, threshold)     the softplus op (threshold 20) on beta x, divided by beta; a
 *                                 threshold other than 20 selects x where beta x > threshold
 *   mish, softsign, tanhshrink, glu   the formulas torch differentiates itself
 * elu's e^x - 1 is computed as exp then subtract (torch uses expm1): near 0 the result carries
 * an absolute error of about one float ulp of 1, well inside float32 agreement.
 */
#include "frontend/lower_internal.h"

#include <math.h>
#include <string.h>

static gc_node *scalar(gc_builder *b, double v) { return gc_scalar(b, GC_F32, v); }

static gc_node *clamp(gc_builder *b, gc_node *x, double lo, double hi) {
    if (!x) return NULL;
    gc_attr a;
    memset(&a, 0, sizeof a);
    a.clamp.lo = lo;
    a.clamp.hi = hi;
    return gc_build(b, GC_OP_CLAMP, &x, 1, &a, NULL);
}

/* x where x > 0, else scale * alpha * (e^(x * input_scale) - 1): torch's elu kernel, which
 * serves elu, selu (scale) and celu (input_scale = 1 / alpha). */
static gc_node *elu(gc_builder *b, gc_node *x, double alpha, double scale, double input_scale) {
    gc_node *neg = clamp(b, x, -INFINITY, 0.0);
    if (input_scale != 1.0) neg = gc_mul_scalar(b, neg, input_scale);
    gc_node *curve = gc_mul_scalar(b, gc_add_scalar(b, gc_unary(b, GC_OP_EXP, neg), -1.0), alpha * scale);
    gc_node *pos = scale == 1.0 ? x : gc_mul_scalar(b, x, scale);
    return gc_select(b, gc_binary(b, GC_OP_GT, x, scalar(b, 0.0)), pos, curve);
}

/* clamp(x, lo, hi) with the gradient only where lo < x < hi (torch's hardtanh_backward). */
static gc_node *hardtanh(gc_builder *b, gc_node *x, double lo, double hi) {
    gc_node *inside = gc_binary(b, GC_OP_MUL, gc_binary(b, GC_OP_GT, x, scalar(b, lo)),
                                gc_binary(b, GC_OP_LT, x, scalar(b, hi)));
    return gc_select(b, inside, x, gc_unary(b, GC_OP_STOP_GRADIENT, clamp(b, x, lo, hi)));
}

static gc_node *softplus(gc_builder *b, gc_node *x, double beta, double threshold) {
    if (beta == 1.0 && threshold == 20.0) return gc_unary(b, GC_OP_SOFTPLUS, x);
    gc_node *bx = beta == 1.0 ? x : gc_mul_scalar(b, x, beta);
    gc_node *y = gc_unary(b, GC_OP_SOFTPLUS, bx);
    if (beta != 1.0) y = gc_mul_scalar(b, y, 1.0 / beta);
    if (threshold == 20.0) return y;
    return gc_select(b, gc_binary(b, GC_OP_GT, bx, scalar(b, threshold)), x, y);
}

static int lower_glu(lowerer *L, lower_args *a, gc_node *x, gc_node **out) {
    gc_builder *b = &L->ctx.b;
    int axis;
    if (!gc_lower_axis(L, a, 1, x->type.rank, &axis)) return 0;
    int64_t dim = x->type.dims[axis];
    if (dim % 2) {
        char t[96];
        gc_type_format(&x->type, t, sizeof t);
        return gc_fail(L->err, GC_ERR_USER, a->call->loc,
                       "glu: halving needs an even size, but dim %d of %s has size %lld", axis, t, (long long)dim);
    }
    gc_node *first = gc_slice(b, x, axis, 0, dim / 2), *second = gc_slice(b, x, axis, dim / 2, dim);
    *out = gc_binary(b, GC_OP_MUL, first, gc_unary(b, GC_OP_SIGMOID, second));
    return 1;
}

bool gc_is_activation(gc_builtin_id id) {
    switch (id) {
    case GC_BUILTIN_SOFTPLUS:
    case GC_BUILTIN_LEAKY_RELU:
    case GC_BUILTIN_ELU:
    case GC_BUILTIN_SELU:
    case GC_BUILTIN_CELU:
    case GC_BUILTIN_MISH:
    case GC_BUILTIN_HARDSWISH:
    case GC_BUILTIN_HARDSIGMOID:
    case GC_BUILTIN_HARDTANH:
    case GC_BUILTIN_RELU6:
    case GC_BUILTIN_SOFTSIGN:
    case GC_BUILTIN_TANHSHRINK:
    case GC_BUILTIN_GLU: return true;
    default: return false;
    }
}

int gc_lower_activation(lowerer *L, lower_args *a, lval *out) {
    gc_builder *b = &L->ctx.b;
    gc_node *x = gc_lower_arg_tensor(L, a, 0, GC_F32), *y = NULL;
    if (!x) return 0;
    if (x->type.dtype != GC_F32) {
        char t[96];
        gc_type_format(&x->type, t, sizeof t);
        return gc_fail(L->err, GC_ERR_USER, gc_lower_arg_loc(a, 0), "%s: needs an f32 tensor, got %s", a->fn->name, t);
    }
    switch (a->fn->id) {
    case GC_BUILTIN_SOFTPLUS: {
        double beta = gc_lower_arg_num(a, 1);
        if (beta == 0.0)
            return gc_fail(L->err, GC_ERR_USER, gc_lower_arg_loc(a, 1), "softplus: beta must not be 0");
        y = softplus(b, x, beta, gc_lower_arg_num(a, 2));
        break;
    }
    case GC_BUILTIN_LEAKY_RELU: {
        gc_node *scaled = gc_mul_scalar(b, x, gc_lower_arg_num(a, 1));
        y = gc_select(b, gc_binary(b, GC_OP_GT, x, scalar(b, 0.0)), x, scaled);
        break;
    }
    case GC_BUILTIN_ELU: y = elu(b, x, gc_lower_arg_num(a, 1), 1.0, 1.0); break;
    case GC_BUILTIN_SELU:
        /* torch's constants (aten/src/ATen/native/Activation.cpp). */
        y = elu(b, x, 1.6732632423543772848170429916717, 1.0507009873554804934193349852946, 1.0);
        break;
    case GC_BUILTIN_CELU: {
        double alpha = gc_lower_arg_num(a, 1);
        if (alpha == 0.0)
            return gc_fail(L->err, GC_ERR_USER, gc_lower_arg_loc(a, 1), "celu: alpha must not be 0 (it divides x)");
        y = elu(b, x, alpha, 1.0, 1.0 / alpha);
        break;
    }
    case GC_BUILTIN_MISH:
        y = gc_binary(b, GC_OP_MUL, x, gc_unary(b, GC_OP_TANH, gc_unary(b, GC_OP_SOFTPLUS, x)));
        break;
    case GC_BUILTIN_HARDSWISH: {
        /* x itself from 3 on, so the gradient at 3 is 1 (torch's vectorised kernel); below,
         * clamp's inclusive bound gives -0.5 at -3 and 0 under it. */
        gc_node *curve = gc_binary(b, GC_OP_MUL, x, gc_mul_scalar(b, clamp(b, gc_add_scalar(b, x, 3.0), 0.0, 6.0), 1.0 / 6.0));
        y = gc_select(b, gc_binary(b, GC_OP_LT, x, scalar(b, 3.0)), curve, x);
        break;
    }
    case GC_BUILTIN_HARDSIGMOID:
        y = gc_mul_scalar(b, hardtanh(b, gc_add_scalar(b, x, 3.0), 0.0, 6.0), 1.0 / 6.0);
        break;
    case GC_BUILTIN_HARDTANH: {
        double lo = gc_lower_arg_num(a, 1), hi = gc_lower_arg_num(a, 2);
        if (lo > hi)
            return gc_fail(L->err, GC_ERR_USER, a->call->loc, "hardtanh: min_val (%g) is greater than max_val (%g)",
                           lo, hi);
        y = hardtanh(b, x, lo, hi);
        break;
    }
    case GC_BUILTIN_RELU6: y = hardtanh(b, x, 0.0, 6.0); break;
    case GC_BUILTIN_SOFTSIGN:
        y = gc_binary(b, GC_OP_DIV, x, gc_add_scalar(b, gc_unary(b, GC_OP_ABS, x), 1.0));
        break;
    case GC_BUILTIN_TANHSHRINK: y = gc_binary(b, GC_OP_SUB, x, gc_unary(b, GC_OP_TANH, x)); break;
    case GC_BUILTIN_GLU:
        if (!lower_glu(L, a, x, &y)) return 0;
        break;
    default:
        return gc_fail(L->err, GC_ERR_INTERNAL, a->call->loc, "internal error: no lowering for %s", a->fn->name);
    }
    out->kind = LV_TENSOR;
    out->node = y;
    return y != NULL;
}
