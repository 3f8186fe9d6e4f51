/*
 * emit_math.c: f32 exp, log, tanh, erf, erfc and log1p as straight-line LLVM IR, so a kernel's
 * loop vectorizes instead of making one scalar libm call per element.
 *
 * Every function here is built from float arithmetic, integer operations on the float's bits and
 * selects: no calls and no branches, so the loop vectorizer widens it like any other arithmetic.
 * Each computes its special cases with the general formula and picks the right answer with a
 * select at the end. f64 keeps what the code did before (llvm.exp / llvm.log, libm for the
 * rest), because the finite-difference gradient checks run in f64 and must not move.
 *
 * Method (coefficients are our own least-squares-toward-minimax fits, rounded to f32):
 * - exp: n = round(x log2 e) with the 1.5*2^23 trick (no fptosi, so NaN stays harmless),
 *   r = x - n ln2 in a Cody-Waite split, e^r = 1 + r + r^2 P4(r), and 2^n applied as two
 *   power-of-two factors built from exponent bits so that only the last product rounds: results
 *   in the subnormal range round once, x > ln FLT_MAX overflows to +inf, and x < -104 (and -inf)
 *   gives +0.
 * - log: subnormal inputs are scaled by 2^23 first (handled exactly, not flushed); the bits give
 *   x = 2^k m with m in [sqrt(1/2), sqrt 2), f = m - 1, s = f / (2 + f) and
 *   log(1 + f) = f - f^2/2 + s (f^2/2 + R(s^2)) (fdlibm's arrangement: the division only touches
 *   the correction term), plus k ln2 in two parts. log(+-0) = -inf, log(x < 0) = NaN,
 *   log(inf) = inf, NaN propagates.
 * - log1p: u = 1 + x, log1p(x) = log(u) + (x - (u - 1)) / u, the second term restoring what
 *   rounding 1 + x lost; |x| < 2^-24 returns x itself (keeps -0 and tiny arguments exact).
 * - tanh: |x| < 0.625 uses x + x^3 P4(x^2); beyond, 1 - 2 / (e^(2|x|) + 1) with the sign copied,
 *   which rounds to exactly +-1 from |x| ~ 9 on (|x| is clamped to 10, so inf gives +-1 too).
 * - erf: |x| < 1 uses x + x P6(x^2); beyond, 1 - erfc(|x|) with the sign copied, where erfc
 *   needs absolute accuracy only: e^(-x^2) P9(x - 3/2) on [1, 4] (x clamped to 4, where erf is
 *   1 in f32), a plain exponential and no division (erfc_tail_for_erf; 0.30 ns a value against
 *   0.49 for the relatively accurate erfc tail it replaced, GELU's gradient's erf).
 * - erfc: |x| < 0.46875 uses 1 - erf(x) (the result is >= 1/2 there, so nothing cancels); beyond,
 *   erfc(|x|) = e^(-x^2) t Q9(t), t = 1 / (1 + |x|/2), with -x^2 carried exactly as
 *   -hi^2 - lo (|x| + hi) (hi = |x| with its low 12 significand bits cleared, so hi^2 is exact)
 *   into the exponential's argument reduction: a rounded x^2 would cost ~50 ulp at x = 10. The
 *   two roundings in t are recovered and corrected for (see erfc_tail). The tail is relatively
 *   accurate all the way to where erfc underflows (x ~ 10.05); negative x takes 2 - erfc(|x|).
 *
 * Measured maximum error in ulp (tests/unit/test_math.c, against the double libm result, so a
 * correctly rounded result scores <= 0.5; on the Zen 4 host, where the multiply-adds fuse; over
 * dense sweeps of each domain, magnitudes 1e-40..1e30 of both signs and 1M random bit patterns
 * per function, 3.1M arguments each, plus the special values):
 *   exp 0.99, log 0.81, log1p 1.44, tanh 1.30, erf 0.94 (near x = 1.02), erfc 3.38 (near x = 1.53).
 * Where the multiply-adds do not fuse, erfc loses the correction of t and may reach ~5 ulp.
 */
#include <math.h>

#include "codegen/cg.h"

#define LOG2E 1.44269504088896340736
/* ln 2 for exp's reduction: C1 has 9 significand bits, so n C1 is exact for |n| < 2^15. */
#define EXP_C1 0.693359375
#define EXP_C2 -2.12194440054690583e-4
/* ln 2 for log's reconstruction: 15 significand bits, so k LN2_HI is exact for |k| <= 256. */
#define LN2_HI 0.693145751953125
#define LN2_LO 1.428606765330187e-06
/* Adding 1.5 * 2^23 rounds a float of magnitude < 2^22 to an integer held in the low bits. */
#define ROUND_MAGIC 12582912.0

/* e^r = 1 + r + r^2 P(r) on |r| <= 0.37 (relative error 7e-9). */
static const double exp_p[] = {4.999999106e-01, 1.666647643e-01, 4.166890308e-02, 8.373649791e-03,
                               1.380427624e-03};
/* 2 atanh(s) = 2 s + s z P(z), z = s^2 <= 0.0295 (relative error 1e-9). */
static const double log_p[] = {6.666677594e-01, 3.997743428e-01, 2.987478077e-01};
/* tanh x = x + x^3 P(x^2) on |x| <= 0.625 (relative error 9e-9). */
static const double tanh_p[] = {-3.333328068e-01, 1.333144009e-01, -5.373957008e-02, 2.063866146e-02,
                                -5.704553798e-03};
/* erf x = x + x P(x^2) on |x| <= 1 (relative error 4e-9). */
static const double erf_p[] = {1.283791661e-01, -3.761262596e-01, 1.128358543e-01, -2.685380913e-02,
                               5.188321229e-03, -8.010137826e-04, 7.853678107e-05};
/* e^(x^2) erfc(x) = t Q(t), t = 1 / (1 + x/2), on 0.44 <= x <= 10.1 (relative error 8e-9). */
static const double erfc_q[] = {2.820847929e-01, 2.823619246e-01, 2.437817007e-01, 1.957783699e-01,
                                7.960663177e-03, 1.782481670e-01, -3.132627010e-01, 1.038538069e-01,
                                4.403336719e-02, -2.485976927e-02};

/* e^(x^2) erfc(x) = P(x - 3/2) on 1 <= x <= 4, fitted for the absolute error of erfc(x) (at most
 * 0.02 ulp of erf with these f32 coefficients): erf's tail, where 1 - erfc needs nothing more. */
static const double erf_tail_p[] = {3.215854168e-01, -1.636228859e-01, 7.615143806e-02, -3.293127939e-02,
                                    1.337162126e-02, -5.143200979e-03, 1.910827006e-03, -6.817691610e-04,
                                    1.941699302e-04, -2.799436879e-05};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* The lanes of the f32 function being built: 0 for a scalar argument, else the width of a vector
 * argument (an emitter's explicit vector loop, codegen/emit_reduce.c's softmax), whose constants
 * and bit casts are then vectors of that width. Set by the public entry points for their call. */
static _Thread_local unsigned lanes;

static LLVMValueRef splat(LLVMValueRef s) {
    if (!lanes) return s;
    LLVMValueRef v[64];
    for (unsigned l = 0; l < lanes; l++) v[l] = s;
    return LLVMConstVector(v, lanes);
}
static LLVMTypeRef at_width(LLVMTypeRef t) { return lanes ? LLVMVectorType(t, lanes) : t; }

static LLVMValueRef fc(cg_ctx *cg, double v) { return splat(cg_const(cg, GC_F32, v)); }
static LLVMValueRef ic(cg_ctx *cg, int32_t v) { return splat(cg_i32(cg, v)); }

static LLVMValueRef bits(cg_ctx *cg, LLVMValueRef x) { return LLVMBuildBitCast(cg->b, x, at_width(cg->t_i32), ""); }
static LLVMValueRef from_bits(cg_ctx *cg, LLVMValueRef i) { return LLVMBuildBitCast(cg->b, i, at_width(cg->t_f32), ""); }

/* Sets `lanes` for an argument x, returning the previous value to restore. */
static unsigned width_of(LLVMValueRef x) {
    unsigned before = lanes;
    LLVMTypeRef t = LLVMTypeOf(x);
    lanes = LLVMGetTypeKind(t) == LLVMVectorTypeKind ? LLVMGetVectorSize(t) : 0;
    return before;
}

static LLVMValueRef sel(cg_ctx *cg, LLVMValueRef c, LLVMValueRef a, LLVMValueRef b) {
    return LLVMBuildSelect(cg->b, c, a, b, "");
}

static LLVMValueRef fcmp(cg_ctx *cg, LLVMRealPredicate p, LLVMValueRef a, LLVMValueRef b) {
    return LLVMBuildFCmp(cg->b, p, a, b, "");
}

static LLVMValueRef fneg(cg_ctx *cg, LLVMValueRef x) { return LLVMBuildFNeg(cg->b, x, ""); }
static LLVMValueRef fdiv(cg_ctx *cg, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFDiv(cg->b, a, b, ""); }
static LLVMValueRef fabs_(cg_ctx *cg, LLVMValueRef x) { return cg_intrinsic(cg, "llvm.fabs", &x, 1); }

/* x with the sign bit of `from` (magnitude is non-negative, so an OR suffices). */
static LLVMValueRef with_sign(cg_ctx *cg, LLVMValueRef magnitude, LLVMValueRef from) {
    LLVMValueRef sign = LLVMBuildAnd(cg->b, bits(cg, from), ic(cg, INT32_MIN), "");
    return from_bits(cg, LLVMBuildOr(cg->b, bits(cg, magnitude), sign, ""));
}

/* c[0] + c[1] x + ... by Horner's rule, each step a contractible multiply-add. */
static LLVMValueRef poly(cg_ctx *cg, LLVMValueRef x, const double *c, int n) {
    LLVMValueRef acc = fc(cg, c[n - 1]);
    for (int i = n - 2; i >= 0; i--) acc = cg_fadd(cg, cg_fmul(cg, acc, x), fc(cg, c[i]));
    return acc;
}

/* 2^k as a float, for -126 <= k <= 127. */
static LLVMValueRef pow2(cg_ctx *cg, LLVMValueRef k) {
    return from_bits(cg, LLVMBuildShl(cg->b, LLVMBuildAdd(cg->b, k, ic(cg, 127), ""), ic(cg, 23), ""));
}

/* e^(a + b) = p * s1 * s2, for a + b in [-104, 89] or NaN, with b small beside a (or NULL). a
 * is reduced exactly, so a caller holding an argument as an exact a and a small b keeps all of
 * it. The caller multiplies any factor of its own into p before the scales, so that only the
 * last product can round into the subnormal range. */
typedef struct exp_parts {
    LLVMValueRef p, s1, s2;
} exp_parts;

static exp_parts exp_split(cg_ctx *cg, LLVMValueRef a, LLVMValueRef b) {
    LLVMValueRef sum = b ? cg_fadd(cg, a, b) : a;
    LLVMValueRef magic = fc(cg, ROUND_MAGIC);
    LLVMValueRef t = cg_fadd(cg, cg_fmul(cg, sum, fc(cg, LOG2E)), magic);
    LLVMValueRef nf = LLVMBuildFSub(cg->b, t, magic, "");
    LLVMValueRef n = LLVMBuildSub(cg->b, bits(cg, t), bits(cg, magic), "");
    /* a - n C1 is exact (both are multiples of ulp(a) below 1 in magnitude); the rest is small. */
    LLVMValueRef r = cg_fsub(cg, a, cg_fmul(cg, nf, fc(cg, EXP_C1)));
    LLVMValueRef tail = cg_fmul(cg, nf, fc(cg, EXP_C2));
    if (b) tail = cg_fsub(cg, tail, b);
    r = cg_fsub(cg, r, tail);
    LLVMValueRef r2 = cg_fmul(cg, r, r);
    exp_parts e;
    e.p = cg_fadd(cg, cg_fadd(cg, cg_fmul(cg, r2, poly(cg, r, exp_p, COUNT(exp_p))), r), fc(cg, 1.0));
    /* n in [-150, 129] splits into halves that are each a normal power of two. */
    LLVMValueRef n1 = LLVMBuildAShr(cg->b, n, ic(cg, 1), "");
    e.s1 = pow2(cg, n1);
    e.s2 = pow2(cg, LLVMBuildSub(cg->b, n, n1, ""));
    return e;
}

static LLVMValueRef exp_join(cg_ctx *cg, const exp_parts *e, LLVMValueRef p) {
    return cg_fmul(cg, cg_fmul(cg, p, e->s1), e->s2);
}

/* log x for finite x > 0, subnormals included; garbage (never poison) otherwise. */
static LLVMValueRef log_finite(cg_ctx *cg, LLVMValueRef x) {
    LLVMValueRef tiny = fcmp(cg, LLVMRealOLT, x, fc(cg, 0x1p-126));
    LLVMValueRef xs = sel(cg, tiny, cg_fmul(cg, x, fc(cg, 0x1p23)), x);
    /* Biasing by 1 - sqrt(1/2) in the bits carries m >= sqrt 2 into the exponent. */
    LLVMValueRef ix = LLVMBuildAdd(cg->b, bits(cg, xs), ic(cg, 0x3f800000 - 0x3f3504f3), "");
    LLVMValueRef k = LLVMBuildSub(cg->b, LLVMBuildAShr(cg->b, ix, ic(cg, 23), ""), ic(cg, 127), "");
    k = LLVMBuildAdd(cg->b, k, sel(cg, tiny, ic(cg, -23), ic(cg, 0)), "");
    ix = LLVMBuildAdd(cg->b, LLVMBuildAnd(cg->b, ix, ic(cg, 0x007fffff), ""), ic(cg, 0x3f3504f3), "");
    LLVMValueRef f = cg_fsub(cg, from_bits(cg, ix), fc(cg, 1.0)); /* exact */
    LLVMValueRef s = fdiv(cg, f, cg_fadd(cg, fc(cg, 2.0), f));
    LLVMValueRef z = cg_fmul(cg, s, s);
    LLVMValueRef R = cg_fmul(cg, z, poly(cg, z, log_p, COUNT(log_p)));
    LLVMValueRef hfsq = cg_fmul(cg, cg_fmul(cg, fc(cg, 0.5), f), f);
    LLVMValueRef dk = LLVMBuildSIToFP(cg->b, k, at_width(cg->t_f32), "");
    LLVMValueRef corr = cg_fadd(cg, cg_fmul(cg, s, cg_fadd(cg, hfsq, R)), cg_fmul(cg, dk, fc(cg, LN2_LO)));
    LLVMValueRef low = cg_fsub(cg, cg_fsub(cg, hfsq, corr), f);
    return cg_fsub(cg, cg_fmul(cg, dk, fc(cg, LN2_HI)), low);
}

/* erf x = x + x P(x^2), for |x| <= 1. */
static LLVMValueRef erf_small(cg_ctx *cg, LLVMValueRef x) {
    LLVMValueRef z = cg_fmul(cg, x, x);
    return cg_fadd(cg, x, cg_fmul(cg, x, poly(cg, z, erf_p, COUNT(erf_p))));
}

/* erfc(ax) for ax >= 0.44 or NaN (ax beyond 10.1 gives 0). */
static LLVMValueRef erfc_tail(cg_ctx *cg, LLVMValueRef ax) {
    LLVMValueRef x = sel(cg, fcmp(cg, LLVMRealOGT, ax, fc(cg, 10.1)), fc(cg, 10.1), ax);
    LLVMValueRef hi = from_bits(cg, LLVMBuildAnd(cg->b, bits(cg, x), ic(cg, (int32_t)0xfffff000), ""));
    LLVMValueRef lo = cg_fsub(cg, x, hi); /* exact */
    LLVMValueRef a = fneg(cg, cg_fmul(cg, hi, hi));
    LLVMValueRef b = fneg(cg, cg_fmul(cg, lo, cg_fadd(cg, x, hi)));
    exp_parts e = exp_split(cg, a, b);
    /* t = 1 / (1 + h) carries two roundings that t Q(t) amplifies up to 2.1 times; their
     * relative size err is recovered (exactly where the multiply-adds fuse) and applied through
     * the sensitivity d ln(t Q) / d ln t, which a line in t gives to 0.03. */
    LLVMValueRef one = fc(cg, 1.0);
    LLVMValueRef h = cg_fmul(cg, fc(cg, 0.5), x);
    LLVMValueRef d = cg_fadd(cg, one, h);
    LLVMValueRef d_lo = cg_fsub(cg, h, cg_fsub(cg, d, one)); /* exact: 1 + h - d */
    LLVMValueRef t = fdiv(cg, one, d);
    LLVMValueRef err = cg_fsub(cg, cg_fsub(cg, one, cg_fmul(cg, t, d)), cg_fmul(cg, t, d_lo));
    LLVMValueRef sens = cg_fadd(cg, cg_fmul(cg, fc(cg, 1.45488), t), fc(cg, 0.939458));
    LLVMValueRef tq = cg_fmul(cg, t, poly(cg, t, erfc_q, COUNT(erfc_q)));
    tq = cg_fadd(cg, tq, cg_fmul(cg, tq, cg_fmul(cg, sens, err)));
    return exp_join(cg, &e, cg_fmul(cg, e.p, tq));
}

/* erfc(ax) for erf's tail, ax >= 1 or NaN. 1 - erfc needs absolute accuracy only (an ulp of
 * erf there is 2^-24 and erfc(1) < 0.16), so this drops what erfc_tail does for relative
 * accuracy: -ax^2 is rounded (by at most 2^-20, moving e^(-ax^2) by as much relatively),
 * one power of two scales the exponential (its argument is in [-16, -1]), and e^(x^2) erfc(x)
 * is a polynomial in x - 3/2 fitted for absolute error on [1, 4] (erf_tail_p), with no division.
 * ax is clamped to 4, where erf has rounded to 1 already (erfc(3.92) < 2^-25). */
static LLVMValueRef erfc_tail_for_erf(cg_ctx *cg, LLVMValueRef ax) {
    LLVMValueRef x = sel(cg, fcmp(cg, LLVMRealOGT, ax, fc(cg, 4.0)), fc(cg, 4.0), ax);
    LLVMValueRef a = fneg(cg, cg_fmul(cg, x, x));
    LLVMValueRef magic = fc(cg, ROUND_MAGIC);
    LLVMValueRef tn = cg_fadd(cg, cg_fmul(cg, a, fc(cg, LOG2E)), magic);
    LLVMValueRef nf = LLVMBuildFSub(cg->b, tn, magic, "");
    LLVMValueRef n = LLVMBuildSub(cg->b, bits(cg, tn), bits(cg, magic), "");
    LLVMValueRef r = cg_fsub(cg, a, cg_fmul(cg, nf, fc(cg, EXP_C1))); /* exact, as in exp_split */
    r = cg_fsub(cg, r, cg_fmul(cg, nf, fc(cg, EXP_C2)));
    LLVMValueRef r2 = cg_fmul(cg, r, r);
    LLVMValueRef p = cg_fadd(cg, cg_fadd(cg, cg_fmul(cg, r2, poly(cg, r, exp_p, COUNT(exp_p))), r), fc(cg, 1.0));
    LLVMValueRef scaled = poly(cg, cg_fsub(cg, x, fc(cg, 1.5)), erf_tail_p, COUNT(erf_tail_p));
    return cg_fmul(cg, cg_fmul(cg, p, scaled), pow2(cg, n));
}

static LLVMValueRef math_exp(cg_ctx *cg, gc_dtype t, LLVMValueRef x) {
    if (t != GC_F32) return cg_intrinsic(cg, "llvm.exp", &x, 1);
    /* Beyond these every result is inf or 0 already; clamping keeps n in range (NaN passes). */
    LLVMValueRef xc = sel(cg, fcmp(cg, LLVMRealOGT, x, fc(cg, 89.0)), fc(cg, 89.0), x);
    xc = sel(cg, fcmp(cg, LLVMRealOLT, xc, fc(cg, -104.0)), fc(cg, -104.0), xc);
    exp_parts e = exp_split(cg, xc, NULL);
    return exp_join(cg, &e, e.p);
}

static LLVMValueRef math_log(cg_ctx *cg, gc_dtype t, LLVMValueRef x) {
    if (t != GC_F32) return cg_intrinsic(cg, "llvm.log", &x, 1);
    LLVMValueRef v = log_finite(cg, x);
    v = sel(cg, fcmp(cg, LLVMRealOEQ, x, fc(cg, INFINITY)), x, v);
    v = sel(cg, fcmp(cg, LLVMRealOEQ, x, fc(cg, 0.0)), fc(cg, -INFINITY), v);
    return sel(cg, fcmp(cg, LLVMRealULT, x, fc(cg, 0.0)), fc(cg, NAN), v);
}

static LLVMValueRef math_log1p(cg_ctx *cg, gc_dtype t, LLVMValueRef x) {
    if (t != GC_F32) return cg_libm1(cg, "log1p", t, x);
    LLVMValueRef one = fc(cg, 1.0);
    LLVMValueRef u = cg_fadd(cg, one, x);
    LLVMValueRef lost = fdiv(cg, cg_fsub(cg, x, cg_fsub(cg, u, one)), u);
    LLVMValueRef v = cg_fadd(cg, log_finite(cg, u), lost);
    v = sel(cg, fcmp(cg, LLVMRealOLT, fabs_(cg, x), fc(cg, 0x1p-24)), x, v);
    v = sel(cg, fcmp(cg, LLVMRealOEQ, x, fc(cg, INFINITY)), x, v);
    v = sel(cg, fcmp(cg, LLVMRealOEQ, x, fc(cg, -1.0)), fc(cg, -INFINITY), v);
    return sel(cg, fcmp(cg, LLVMRealULT, x, fc(cg, -1.0)), fc(cg, NAN), v);
}

static LLVMValueRef math_tanh(cg_ctx *cg, gc_dtype t, LLVMValueRef x) {
    if (t != GC_F32) return cg_libm1(cg, "tanh", t, x);
    /* Both formulas on |x| with the sign put back at the end, so tanh(-0) = -0. */
    LLVMValueRef ax = fabs_(cg, x);
    LLVMValueRef z = cg_fmul(cg, ax, ax);
    LLVMValueRef small = cg_fadd(cg, ax, cg_fmul(cg, cg_fmul(cg, ax, z), poly(cg, z, tanh_p, COUNT(tanh_p))));
    LLVMValueRef axc = sel(cg, fcmp(cg, LLVMRealOGT, ax, fc(cg, 10.0)), fc(cg, 10.0), ax);
    exp_parts e = exp_split(cg, cg_fmul(cg, fc(cg, 2.0), axc), NULL);
    LLVMValueRef e2 = exp_join(cg, &e, e.p);
    LLVMValueRef big = cg_fsub(cg, fc(cg, 1.0), fdiv(cg, fc(cg, 2.0), cg_fadd(cg, e2, fc(cg, 1.0))));
    return with_sign(cg, sel(cg, fcmp(cg, LLVMRealOLT, ax, fc(cg, 0.625)), small, big), x);
}

static LLVMValueRef math_erf(cg_ctx *cg, gc_dtype t, LLVMValueRef x) {
    if (t != GC_F32) return cg_libm1(cg, "erf", t, x);
    LLVMValueRef ax = fabs_(cg, x);
    LLVMValueRef big = cg_fsub(cg, fc(cg, 1.0), erfc_tail_for_erf(cg, ax));
    return sel(cg, fcmp(cg, LLVMRealOLT, ax, fc(cg, 1.0)), erf_small(cg, x), with_sign(cg, big, x));
}

static LLVMValueRef math_erfc(cg_ctx *cg, gc_dtype t, LLVMValueRef x) {
    if (t != GC_F32) return cg_libm1(cg, "erfc", t, x);
    LLVMValueRef ax = fabs_(cg, x);
    LLVMValueRef small = cg_fsub(cg, fc(cg, 1.0), erf_small(cg, x));
    LLVMValueRef tail = erfc_tail(cg, ax);
    LLVMValueRef big = sel(cg, fcmp(cg, LLVMRealOLT, x, fc(cg, 0.0)), cg_fsub(cg, fc(cg, 2.0), tail), tail);
    return sel(cg, fcmp(cg, LLVMRealOLT, ax, fc(cg, 0.46875)), small, big);
}

/* The entry points take a scalar or a vector of f32 (or a scalar f64). */
#define MATH_ENTRY(name)                                                  \
    LLVMValueRef cg_math_##name(cg_ctx *cg, gc_dtype t, LLVMValueRef x) { \
        unsigned before = width_of(x);                                   \
        LLVMValueRef r = math_##name(cg, t, x);                          \
        lanes = before;                                                   \
        return r;                                                         \
    }
MATH_ENTRY(exp)
MATH_ENTRY(log)
MATH_ENTRY(log1p)
MATH_ENTRY(tanh)
MATH_ENTRY(erf)
MATH_ENTRY(erfc)
