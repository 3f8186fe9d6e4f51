/*
 * interp_elementwise.c: kernels of the unary elementwise ops, written as the textbook formula
 * (in the numerically stable form PyTorch uses where the naive one overflows), evaluated in double.
 * Ops that also take i32 operands (neg, abs, square, relu, sign, clamp, stop_gradient, cast) follow
 * i32 semantics there: wrap-around arithmetic, as generated code and PyTorch's int32 do.
 */
#include <math.h>
#include <string.h>

#include "runtime/interp_kernels.h"

#define SQRT_2 1.41421356237309504880
#define SQRT_2_OVER_PI 0.79788456080286535588

/* One kernel per op: `expr` maps the double x to the result. */
#define UNARY(op, expr)                                                                          \
    int interp_##op(const gc_node *n, const double *const *in, double *out, gc_error *err) {     \
        int64_t count = gc_type_numel(&n->type);                                                 \
        const double *a = in[0];                                                                 \
        for (int64_t i = 0; i < count; i++) {                                                    \
            double x = a[i];                                                                     \
            out[i] = (expr);                                                                     \
        }                                                                                        \
        return 1;                                                                                \
    }

/* The same where i32 operands need their own expression (ix is x as an exact int64). */
#define UNARY_INT(op, fexpr, iexpr)                                                              \
    int interp_##op(const gc_node *n, const double *const *in, double *out, gc_error *err) {     \
        int64_t count = gc_type_numel(&n->type);                                                 \
        const double *a = in[0];                                                                 \
        bool is_int = n->type.dtype == GC_I32;                                                   \
        for (int64_t i = 0; i < count; i++) {                                                    \
            double x = a[i];                                                                     \
            if (is_int) {                                                                        \
                int64_t ix = (int64_t)x;                                                         \
                out[i] = (iexpr);                                                                \
            } else {                                                                             \
                out[i] = (fexpr);                                                                \
            }                                                                                    \
        }                                                                                        \
        return 1;                                                                                \
    }

static double sigmoid(double x) {
    /* Only ever exponentiates a non-positive number, so neither branch overflows. */
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

/* PyTorch's softplus with beta 1 and threshold 20: above the threshold log(1 + e^x) is x in
 * float precision, and returning x keeps e^x from overflowing. */
static double softplus(double x) { return x > 20.0 ? x : log1p(exp(x)); }

/* log(sigmoid(x)) = min(x, 0) - log1p(e^-|x|): exact for large |x| of either sign. */
static double log_sigmoid(double x) { return fmin(x, 0.0) - log1p(exp(-fabs(x))); }

static double gelu_tanh(double x) {
    return 0.5 * x * (1.0 + tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
}

/* NaN gives 0, as torch.sign. */
static double sign(double x) { return (double)((x > 0) - (x < 0)); }

UNARY_INT(neg, -x, interp_wrap_i32(-ix))
UNARY(exp, exp(x))
UNARY(log, log(x))
UNARY(sqrt, sqrt(x))
UNARY(rsqrt, 1.0 / sqrt(x))
UNARY(reciprocal, 1.0 / x)
UNARY(tanh, tanh(x))
UNARY(sigmoid, sigmoid(x))
/* x < 0 rather than max(x, 0) so NaN passes through, as in PyTorch. */
UNARY(relu, x < 0 ? 0.0 : x)
UNARY(gelu, 0.5 * x * (1.0 + erf(x / SQRT_2)))
UNARY(gelu_tanh, gelu_tanh(x))
UNARY(silu, x * sigmoid(x))
UNARY_INT(abs, fabs(x), interp_wrap_i32(ix < 0 ? -ix : ix))
UNARY_INT(square, x * x, interp_wrap_i32(ix * ix))
UNARY(softplus, softplus(x))
UNARY(log_sigmoid, log_sigmoid(x))
UNARY(erf, erf(x))
UNARY(sin, sin(x))
UNARY(cos, cos(x))
UNARY(sign, sign(x))
UNARY(pow, pow(x, n->attr.pow.exponent))
UNARY(stop_gradient, x)

/* min(max(x, lo), hi) with NaN passing through; lo > hi gives hi, as torch.clamp. An i32 result
 * of fractional bounds is truncated by the driver. */
int interp_clamp(const gc_node *n, const double *const *in, double *out, gc_error *err) {
    double lo = n->attr.clamp.lo, hi = n->attr.clamp.hi;
    int64_t count = gc_type_numel(&n->type);
    for (int64_t i = 0; i < count; i++) {
        double x = in[0][i];
        if (x < lo) x = lo;
        if (x > hi) x = hi;
        out[i] = x;
    }
    return 1;
}

/* The driver rounds to the result dtype: float to i32 truncates toward zero (saturating, NaN to
 * 0), anything to f32 rounds to nearest, so the kernel only copies. */
int interp_cast(const gc_node *n, const double *const *in, double *out, gc_error *err) {
    memcpy(out, in[0], sizeof *out * (size_t)gc_type_numel(&n->type));
    return 1;
}
