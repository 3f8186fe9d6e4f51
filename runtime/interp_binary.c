/*
 * interp_binary.c: kernels of the binary and ternary elementwise ops with NumPy broadcasting.
 *
 * Each operand is read through strides aligned to the result's dims, 0 along a broadcast dim,
 * so one odometer walk serves every shape combination. i32 arithmetic wraps around and i32
 * division truncates (0 for division by zero), as the op table documents.
 */
#include <math.h>

#include "runtime/interp_kernels.h"

/* Float maximum/minimum propagate NaN, as torch.maximum/minimum (fmax would drop it). */
static double max_nan(double a, double b) { return isnan(a) || isnan(b) ? NAN : (a > b ? a : b); }
static double min_nan(double a, double b) { return isnan(a) || isnan(b) ? NAN : (a < b ? a : b); }

static double div_i32(int64_t a, int64_t b) {
    if (b == 0) return 0.0;
    /* C truncates toward zero; -2^31 / -1 is 2^31, which wraps back to -2^31. */
    return interp_wrap_i32(a / b);
}

/* One kernel per op: fexpr for float operands, iexpr for i32 (ia, ib: the operands as int64). */
#define BINARY(op, fexpr, iexpr)                                                                 \
    int interp_##op(const gc_node *n, const double *const *in, double *out, gc_error *err) {     \
        const gc_type *ta = &n->inputs[0]->type, *tb = &n->inputs[1]->type;                      \
        bool is_int = ta->dtype == GC_I32;                                                       \
        int64_t sa[GC_MAX_RANK], sb[GC_MAX_RANK];                                                \
        interp_broadcast_strides(ta, &n->type, sa);                                              \
        interp_broadcast_strides(tb, &n->type, sb);                                              \
        interp_iter it;                                                                          \
        interp_iter_init(&it, &n->type);                                                         \
        interp_iter_add(&it, sa);                                                                \
        interp_iter_add(&it, sb);                                                                \
        int64_t count = gc_type_numel(&n->type);                                                 \
        for (int64_t i = 0; i < count; i++, interp_iter_next(&it)) {                             \
            double a = in[0][it.off[0]], b = in[1][it.off[1]];                                   \
            if (is_int) {                                                                        \
                int64_t ia = (int64_t)a, ib = (int64_t)b;                                        \
                (void)ia, (void)ib;                                                              \
                out[i] = (iexpr);                                                                \
            } else {                                                                             \
                out[i] = (fexpr);                                                                \
            }                                                                                    \
        }                                                                                        \
        return 1;                                                                                \
    }

BINARY(add, a + b, interp_wrap_i32(ia + ib))
BINARY(sub, a - b, interp_wrap_i32(ia - ib))
BINARY(mul, a * b, interp_wrap_i32(ia * ib))
BINARY(div, a / b, div_i32(ia, ib))
BINARY(maximum, max_nan(a, b), (a > b ? a : b))
BINARY(minimum, min_nan(a, b), (a < b ? a : b))
/* Comparisons of either dtype give f32 1 or 0 (false whenever NaN is involved, except ne). */
BINARY(lt, (double)(a < b), (double)(a < b))
BINARY(le, (double)(a <= b), (double)(a <= b))
BINARY(gt, (double)(a > b), (double)(a > b))
BINARY(ge, (double)(a >= b), (double)(a >= b))
BINARY(eq, (double)(a == b), (double)(a == b))
BINARY(ne, (double)(a != b), (double)(a != b))

/* where(cond != 0, a, b): a NaN condition counts as true, as cond != 0 does in PyTorch. */
int interp_select(const gc_node *n, const double *const *in, double *out, gc_error *err) {
    int64_t s[3][GC_MAX_RANK];
    interp_iter it;
    interp_iter_init(&it, &n->type);
    for (int k = 0; k < 3; k++) {
        interp_broadcast_strides(&n->inputs[k]->type, &n->type, s[k]);
        interp_iter_add(&it, s[k]);
    }
    int64_t count = gc_type_numel(&n->type);
    for (int64_t i = 0; i < count; i++, interp_iter_next(&it))
        out[i] = in[0][it.off[0]] != 0 ? in[1][it.off[1]] : in[2][it.off[2]];
    return 1;
}
