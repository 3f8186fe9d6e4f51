/*
 * emit_elementwise.c: kernels of the elementwise ops (unary, binary, compare, select, cast,
 * one_hot, random_uniform) and of the sources computed from nothing (constant, iota).
 *
 * Each is one loop nest over the result shape reading every operand through broadcast strides
 * (0 along a broadcast dim); `element_value` gives an op's value at one element from its operands'
 * values there, which is the piece a fusing code generator composes. Formulas follow the
 * interpreter's (runtime/interp_elementwise.c, interp_binary.c) in f32 arithmetic, choosing the
 * algebraically equal form that stays accurate in float where the textbook one cancels (gelu via
 * erfc, gelu_tanh via a sigmoid). i32 follows the interpreter's integer semantics exactly:
 * wrap-around arithmetic, truncating division with x / 0 = 0, saturating float-to-int casts.
 */
#include <math.h>

#include "codegen/cg.h"

#define SQRT1_2 0.70710678118654752440
#define SQRT_2_OVER_PI 0.79788456080286535588

/* Where one element sits: its flat row-major index and, when the nest was not coalesced, its
 * index along each result dim. */
typedef struct cg_point {
    LLVMValueRef flat;
    const LLVMValueRef *idx;
} cg_point;

static gc_dtype operand_dtype(const gc_node *n, int k) { return n->inputs[k]->type.dtype; }

static LLVMValueRef fconst(cg_ctx *cg, gc_dtype dtype, double v) { return cg_const(cg, dtype, v); }

static LLVMValueRef fcmp(cg_ctx *cg, LLVMRealPredicate p, LLVMValueRef a, LLVMValueRef b) {
    return LLVMBuildFCmp(cg->b, p, a, b, "");
}

static LLVMValueRef sel(cg_ctx *cg, LLVMValueRef c, LLVMValueRef a, LLVMValueRef b) {
    return LLVMBuildSelect(cg->b, c, a, b, "");
}

static LLVMValueRef fdiv(cg_ctx *cg, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFDiv(cg->b, a, b, ""); }

static LLVMValueRef intrinsic1(cg_ctx *cg, const char *name, LLVMValueRef x) { return cg_intrinsic(cg, name, &x, 1); }

/* 1 / (1 + e^-x), exponentiating only -|x| so nothing overflows; x < 0 takes e / (1 + e). */
static LLVMValueRef sigmoid(cg_ctx *cg, gc_dtype t, LLVMValueRef x) {
    LLVMValueRef e = cg_math_exp(cg, t, LLVMBuildFNeg(cg->b, intrinsic1(cg, "llvm.fabs", x), ""));
    LLVMValueRef num = sel(cg, fcmp(cg, LLVMRealOGE, x, fconst(cg, t, 0)), fconst(cg, t, 1), e);
    return fdiv(cg, num, cg_fadd(cg, fconst(cg, t, 1), e));
}

static LLVMValueRef log1p_exp(cg_ctx *cg, gc_dtype t, LLVMValueRef x) {
    return cg_math_log1p(cg, t, cg_math_exp(cg, t, x));
}

/* -1, 0 or 1 (NaN gives 0), in x's own type. */
static LLVMValueRef sign(cg_ctx *cg, gc_dtype t, LLVMValueRef x) {
    LLVMValueRef zero = fconst(cg, t, 0), one = fconst(cg, t, 1), minus = fconst(cg, t, -1);
    LLVMValueRef pos, neg;
    if (t == GC_I32) {
        pos = LLVMBuildICmp(cg->b, LLVMIntSGT, x, zero, "");
        neg = LLVMBuildICmp(cg->b, LLVMIntSLT, x, zero, "");
    } else {
        pos = fcmp(cg, LLVMRealOGT, x, zero);
        neg = fcmp(cg, LLVMRealOLT, x, zero);
    }
    return sel(cg, pos, one, sel(cg, neg, minus, zero));
}

/* min(max(x, lo), hi) as the interpreter's two tests (NaN passes through). For floats the bounds
 * rounded to the dtype give the same result as comparing in double, since rounding is monotone;
 * i32 compares in double and truncates, because the bounds may be fractional. */
static LLVMValueRef clamp(cg_ctx *cg, const gc_node *n, LLVMValueRef x) {
    gc_dtype t = n->type.dtype;
    gc_dtype ct = t == GC_I32 ? GC_F64 : t;
    LLVMValueRef v = t == GC_I32 ? LLVMBuildSIToFP(cg->b, x, cg->t_f64, "") : x;
    LLVMValueRef lo = fconst(cg, ct, n->attr.clamp.lo), hi = fconst(cg, ct, n->attr.clamp.hi);
    v = sel(cg, fcmp(cg, LLVMRealOLT, v, lo), lo, v);
    v = sel(cg, fcmp(cg, LLVMRealOGT, v, hi), hi, v);
    return t == GC_I32 ? cg_intrinsic2(cg, "llvm.fptosi.sat", cg->t_i32, &v, 1) : v;
}

static LLVMValueRef cast(cg_ctx *cg, gc_dtype from, gc_dtype to, LLVMValueRef x) {
    if (from == to) return x;
    if (to == GC_I32) return cg_intrinsic2(cg, "llvm.fptosi.sat", cg->t_i32, &x, 1);
    if (from == GC_I32) return LLVMBuildSIToFP(cg->b, x, cg_type(cg, to), "");
    if (to == GC_F64) return LLVMBuildFPExt(cg->b, x, cg->t_f64, "");
    return LLVMBuildFPTrunc(cg->b, x, cg->t_f32, "");
}

/* i32 a / b truncating; b = 0 gives 0 and INT_MIN / -1 wraps to INT_MIN, with no division that
 * LLVM would treat as undefined. */
static LLVMValueRef div_i32(cg_ctx *cg, LLVMValueRef a, LLVMValueRef b) {
    LLVMValueRef zero = cg_i32(cg, 0), one = cg_i32(cg, 1), minus = cg_i32(cg, -1);
    LLVMValueRef is_zero = LLVMBuildICmp(cg->b, LLVMIntEQ, b, zero, "");
    LLVMValueRef is_minus = LLVMBuildICmp(cg->b, LLVMIntEQ, b, minus, "");
    LLVMValueRef safe = sel(cg, LLVMBuildOr(cg->b, is_zero, is_minus, ""), one, b);
    LLVMValueRef q = LLVMBuildSDiv(cg->b, a, safe, "");
    return sel(cg, is_zero, zero, sel(cg, is_minus, LLVMBuildSub(cg->b, zero, a, ""), q));
}

/* Float maximum/minimum propagating NaN, and returning b on ties as the interpreter's a > b ? a : b. */
static LLVMValueRef fmax_nan(cg_ctx *cg, gc_dtype t, LLVMValueRef a, LLVMValueRef b, bool is_max) {
    LLVMValueRef pick = fcmp(cg, is_max ? LLVMRealOGT : LLVMRealOLT, a, b);
    LLVMValueRef v = sel(cg, pick, a, b);
    return sel(cg, fcmp(cg, LLVMRealUNO, a, b), fconst(cg, t, NAN), v);
}

static LLVMValueRef compare(cg_ctx *cg, gc_op op, gc_dtype t, LLVMValueRef a, LLVMValueRef b) {
    LLVMValueRef c;
    if (t == GC_I32) {
        LLVMIntPredicate p = op == GC_OP_LT ? LLVMIntSLT : op == GC_OP_LE ? LLVMIntSLE : op == GC_OP_GT ? LLVMIntSGT
                           : op == GC_OP_GE ? LLVMIntSGE : op == GC_OP_EQ ? LLVMIntEQ : LLVMIntNE;
        c = LLVMBuildICmp(cg->b, p, a, b, "");
    } else {
        /* Ordered predicates are false on NaN, as C's <; != is the unordered one, true on NaN. */
        LLVMRealPredicate p = op == GC_OP_LT ? LLVMRealOLT : op == GC_OP_LE ? LLVMRealOLE : op == GC_OP_GT ? LLVMRealOGT
                            : op == GC_OP_GE ? LLVMRealOGE : op == GC_OP_EQ ? LLVMRealOEQ : LLVMRealUNE;
        c = fcmp(cg, p, a, b);
    }
    return LLVMBuildUIToFP(cg->b, c, cg->t_f32, "");
}

static LLVMValueRef unary_value(cg_ctx *cg, const gc_node *n, LLVMValueRef x) {
    gc_dtype t = n->type.dtype;
    bool is_int = t == GC_I32;
    switch (n->op) {
    case GC_OP_NEG: return is_int ? LLVMBuildSub(cg->b, cg_i32(cg, 0), x, "") : LLVMBuildFNeg(cg->b, x, "");
    case GC_OP_EXP: return cg_math_exp(cg, t, x);
    case GC_OP_LOG: return cg_math_log(cg, t, x);
    case GC_OP_SQRT: return intrinsic1(cg, "llvm.sqrt", x);
    case GC_OP_RSQRT: return fdiv(cg, fconst(cg, t, 1), intrinsic1(cg, "llvm.sqrt", x));
    case GC_OP_RECIPROCAL: return fdiv(cg, fconst(cg, t, 1), x);
    case GC_OP_TANH: return cg_math_tanh(cg, t, x);
    case GC_OP_SIGMOID: return sigmoid(cg, t, x);
    case GC_OP_RELU: {
        LLVMValueRef zero = fconst(cg, t, 0);
        LLVMValueRef neg = is_int ? LLVMBuildICmp(cg->b, LLVMIntSLT, x, zero, "") : fcmp(cg, LLVMRealOLT, x, zero);
        return sel(cg, neg, zero, x);
    }
    case GC_OP_GELU: {
        /* x Phi(x) = x/2 erfc(-x/sqrt 2): no cancellation in 1 + erf for negative x. */
        LLVMValueRef arg = cg_fmul(cg, LLVMBuildFNeg(cg->b, x, ""), fconst(cg, t, SQRT1_2));
        return cg_fmul(cg, cg_fmul(cg, fconst(cg, t, 0.5), x), cg_math_erfc(cg, t, arg));
    }
    case GC_OP_GELU_TANH: {
        /* (1 + tanh u) / 2 = 1 / (1 + e^-2u), accurate where tanh u is near -1. */
        LLVMValueRef x3 = cg_fmul(cg, cg_fmul(cg, x, x), x);
        LLVMValueRef u = cg_fmul(cg, fconst(cg, t, SQRT_2_OVER_PI), cg_fadd(cg, x, cg_fmul(cg, fconst(cg, t, 0.044715), x3)));
        LLVMValueRef e = cg_math_exp(cg, t, cg_fmul(cg, fconst(cg, t, -2), u));
        return fdiv(cg, x, cg_fadd(cg, fconst(cg, t, 1), e));
    }
    case GC_OP_SILU: return cg_fmul(cg, x, sigmoid(cg, t, x));
    case GC_OP_ABS: {
        if (!is_int) return intrinsic1(cg, "llvm.fabs", x);
        LLVMValueRef args[2] = {x, LLVMConstInt(cg->t_i1, 0, 0)}; /* INT_MIN stays INT_MIN */
        return cg_intrinsic(cg, "llvm.abs", args, 2);
    }
    case GC_OP_SQUARE: return is_int ? LLVMBuildMul(cg->b, x, x, "") : cg_fmul(cg, x, x);
    case GC_OP_SOFTPLUS:
        return sel(cg, fcmp(cg, LLVMRealOGT, x, fconst(cg, t, 20)), x, log1p_exp(cg, t, x));
    case GC_OP_LOG_SIGMOID: {
        LLVMValueRef args[2] = {x, fconst(cg, t, 0)};
        LLVMValueRef neg_abs = LLVMBuildFNeg(cg->b, intrinsic1(cg, "llvm.fabs", x), "");
        return cg_fsub(cg, cg_intrinsic(cg, "llvm.minnum", args, 2), log1p_exp(cg, t, neg_abs));
    }
    case GC_OP_ERF: return cg_math_erf(cg, t, x);
    case GC_OP_SIN: return intrinsic1(cg, "llvm.sin", x);
    case GC_OP_COS: return intrinsic1(cg, "llvm.cos", x);
    case GC_OP_SIGN: return sign(cg, t, x);
    case GC_OP_POW: {
        LLVMValueRef args[2] = {x, fconst(cg, t, n->attr.pow.exponent)};
        return cg_intrinsic(cg, "llvm.pow", args, 2);
    }
    case GC_OP_CLAMP: return clamp(cg, n, x);
    case GC_OP_CAST: return cast(cg, operand_dtype(n, 0), t, x);
    case GC_OP_STOP_GRADIENT: return x;
    default: return NULL;
    }
}

static LLVMValueRef binary_value(cg_ctx *cg, const gc_node *n, LLVMValueRef a, LLVMValueRef b) {
    gc_dtype t = operand_dtype(n, 0);
    bool is_int = t == GC_I32;
    switch (n->op) {
    case GC_OP_ADD: return is_int ? LLVMBuildAdd(cg->b, a, b, "") : cg_fadd(cg, a, b);
    case GC_OP_SUB: return is_int ? LLVMBuildSub(cg->b, a, b, "") : cg_fsub(cg, a, b);
    case GC_OP_MUL: return is_int ? LLVMBuildMul(cg->b, a, b, "") : cg_fmul(cg, a, b);
    case GC_OP_DIV: return is_int ? div_i32(cg, a, b) : fdiv(cg, a, b);
    case GC_OP_MAXIMUM: case GC_OP_MINIMUM: {
        bool is_max = n->op == GC_OP_MAXIMUM;
        if (!is_int) return fmax_nan(cg, t, a, b, is_max);
        LLVMValueRef args[2] = {a, b};
        return cg_intrinsic(cg, is_max ? "llvm.smax" : "llvm.smin", args, 2);
    }
    case GC_OP_LT: case GC_OP_LE: case GC_OP_GT: case GC_OP_GE: case GC_OP_EQ: case GC_OP_NE:
        return compare(cg, n->op, t, a, b);
    default: return NULL;
    }
}

/* The value of n at one element from its operands' values there; NULL for an op that is not
 * elementwise here. */
static LLVMValueRef element_value(cg_ctx *cg, const gc_node *n, const LLVMValueRef *args, const cg_point *at) {
    gc_dtype t = n->type.dtype;
    switch (n->op) {
    case GC_OP_CONSTANT: return cg_const(cg, t, n->attr.scalar.value);
    case GC_OP_IOTA: {
        LLVMValueRef i = at->idx[n->attr.axis.axis];
        return t == GC_I32 ? LLVMBuildTrunc(cg->b, i, cg->t_i32, "") : LLVMBuildSIToFP(cg->b, i, cg_type(cg, t), "");
    }
    case GC_OP_RANDOM_UNIFORM: return cg_random_uniform(cg, n, args[0], at->flat);
    case GC_OP_ONE_HOT: {
        /* A negative or too large index matches no position, leaving a zero row. */
        LLVMValueRef want = LLVMBuildSExt(cg->b, args[0], cg->t_i64, "");
        /* In a fused loop the position is the innermost loop's index when that loop walks the
         * last dim (a division per element costs more than the rest of the loop), else the
         * row-major index's remainder. */
        LLVMValueRef pos = at->idx         ? at->idx[n->type.rank - 1]
                           : cg->last_index ? cg->last_index
                                            : LLVMBuildURem(cg->b, at->flat, cg_i64(cg, n->type.dims[n->type.rank - 1]), "");
        LLVMValueRef hit = LLVMBuildICmp(cg->b, LLVMIntEQ, pos, want, "");
        return sel(cg, hit, fconst(cg, t, 1), fconst(cg, t, 0));
    }
    case GC_OP_SELECT: {
        LLVMValueRef c = args[0];
        LLVMValueRef take = fcmp(cg, LLVMRealUNE, c, LLVMConstReal(LLVMTypeOf(c), 0.0));
        return sel(cg, take, args[1], args[2]);
    }
    default:
        break;
    }
    if (n->num_inputs == 1) return unary_value(cg, n, args[0]);
    if (n->num_inputs == 2) return binary_value(cg, n, args[0], args[1]);
    return NULL;
}

LLVMValueRef cg_element_value(cg_ctx *cg, const gc_node *n, const LLVMValueRef *args, LLVMValueRef flat) {
    if (n->op == GC_OP_IOTA) return NULL;
    cg_point at = {flat, NULL};
    return element_value(cg, n, args, &at);
}

int cg_elementwise_kernel(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in) {
    if (n->num_inputs > CG_MAX_OPERANDS - 1)
        return gc_failf(cg->err, GC_ERR_INTERNAL, "internal error: codegen: %s has too many operands",
                        gc_op_table[n->op].name);
    cg_nest nest;
    cg_nest_init(&nest, n->type.rank, n->type.dims);
    int64_t strides[GC_MAX_RANK];
    gc_type_strides(&n->type, strides);
    cg_nest_add(&nest, strides);
    for (int k = 0; k < n->num_inputs; k++) {
        const gc_type *x = &n->inputs[k]->type;
        if (n->op == GC_OP_ONE_HOT) {
            /* The index operand has the result's dims less the last (the one-hot position). */
            gc_type_strides(x, strides);
            strides[n->type.rank - 1] = 0;
        } else {
            cg_broadcast_strides(x, &n->type, strides);
        }
        cg_nest_add(&nest, strides);
    }
    /* iota and one_hot read the index along one dim, which merging dims would lose. */
    if (n->op != GC_OP_IOTA && n->op != GC_OP_ONE_HOT) cg_nest_coalesce(&nest);

    cg_nest_begin_split(cg, &nest, (double)gc_type_numel(&n->type));
    LLVMValueRef args[CG_MAX_OPERANDS];
    for (int k = 0; k < n->num_inputs; k++) args[k] = cg_load(cg, operand_dtype(n, k), in[k], nest.off[k + 1]);
    cg_point at = {nest.off[0], nest.idx};
    LLVMValueRef v = element_value(cg, n, args, &at);
    if (!v)
        return gc_failf(cg->err, GC_ERR_INTERNAL, "internal error: codegen: %s is not an elementwise op",
                        gc_op_table[n->op].name);
    cg_store(cg, n->type.dtype, v, out, nest.off[0]);
    cg_nest_end(cg, &nest);
    return 1;
}

/* Named sources are written by the runtime (gc_jit_set, updates), so they have no kernel body. */
int cg_emit_input(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in) { return 1; }
int cg_emit_param(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in) { return 1; }
int cg_emit_state(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in) { return 1; }
int cg_emit_buffer(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in) { return 1; }

#define ELEMENTWISE(name)                                                                    \
    int cg_emit_##name(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in) { \
        return cg_elementwise_kernel(cg, n, out, in);                                        \
    }

ELEMENTWISE(constant)
ELEMENTWISE(iota)
ELEMENTWISE(random_uniform)
ELEMENTWISE(neg)
ELEMENTWISE(exp)
ELEMENTWISE(log)
ELEMENTWISE(sqrt)
ELEMENTWISE(rsqrt)
ELEMENTWISE(reciprocal)
ELEMENTWISE(tanh)
ELEMENTWISE(sigmoid)
ELEMENTWISE(relu)
ELEMENTWISE(gelu)
ELEMENTWISE(gelu_tanh)
ELEMENTWISE(silu)
ELEMENTWISE(abs)
ELEMENTWISE(square)
ELEMENTWISE(softplus)
ELEMENTWISE(log_sigmoid)
ELEMENTWISE(erf)
ELEMENTWISE(sin)
ELEMENTWISE(cos)
ELEMENTWISE(sign)
ELEMENTWISE(pow)
ELEMENTWISE(clamp)
ELEMENTWISE(cast)
ELEMENTWISE(stop_gradient)
ELEMENTWISE(add)
ELEMENTWISE(sub)
ELEMENTWISE(mul)
ELEMENTWISE(div)
ELEMENTWISE(maximum)
ELEMENTWISE(minimum)
ELEMENTWISE(lt)
ELEMENTWISE(le)
ELEMENTWISE(gt)
ELEMENTWISE(ge)
ELEMENTWISE(eq)
ELEMENTWISE(ne)
ELEMENTWISE(select)
ELEMENTWISE(one_hot)
