/*
 * test_math.c: the f32 transcendental functions of codegen/emit_math.c, measured in ulp.
 *
 * Each cg_math_* is emitted into a loop `void f(ptr out, ptr in, i64 n)`, optimised as the
 * code generator optimises (default<O3> for the host) and run through ORC LLJIT over dense
 * sweeps of its domain, random bit patterns covering the whole float range and the special
 * values; every result is compared with the double-precision libm result, so a correctly
 * rounded answer scores at most 0.5 ulp. The same loops' assembly must be vectorized and call
 * nothing, and a graph's exp / gelu kernels built by the real code generator must use them too.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/Core.h>
#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include "codegen/cg.h"
#include "ir/build.h"
#include "runtime/jit.h"

typedef LLVMValueRef (*math_fn)(cg_ctx *cg, gc_dtype t, LLVMValueRef x);
typedef double (*ref_fn)(double);
typedef void (*loop_fn)(float *out, const float *in, int64_t n);

typedef struct math_case {
    const char *name;
    math_fn emit;
    ref_fn ref;
    double max_ulp; /* the bound the test holds it to */
} math_case;

static const math_case cases[] = {
    {"exp", cg_math_exp, exp, 1.5},    {"log", cg_math_log, log, 1.5},   {"log1p", cg_math_log1p, log1p, 2.0},
    {"tanh", cg_math_tanh, tanh, 2.0}, {"erf", cg_math_erf, erf, 1.0},   {"erfc", cg_math_erfc, erfc, 4.0},
};
#define NUM_CASES ((int)(sizeof cases / sizeof cases[0]))

/* ---- the JIT-compiled loops ---- */

typedef struct compiled {
    LLVMOrcLLJITRef jit;
    loop_fn fn[NUM_CASES];
    char *assembly; /* of the optimised module */
} compiled;

static void check_llvm(LLVMErrorRef e, const char *what) {
    if (!e) return;
    char *msg = LLVMGetErrorMessage(e);
    fail_msg("%s: %s", what, msg);
}

/* void <name>(ptr noalias out, ptr noalias in, i64 n): out[i] = f(in[i]) for i < n (n >= 1). */
static void emit_loop(cg_ctx *cg, const math_case *c) {
    LLVMTypeRef params[3] = {cg->t_ptr, cg->t_ptr, cg->t_i64};
    LLVMValueRef fn = LLVMAddFunction(cg->mod, c->name, LLVMFunctionType(cg->t_void, params, 3, 0));
    unsigned noalias = LLVMGetEnumAttributeKindForName("noalias", 7);
    for (unsigned i = 1; i <= 2; i++) LLVMAddAttributeAtIndex(fn, i, LLVMCreateEnumAttribute(cg->ctx, noalias, 0));
    cg->fn = fn;
    LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry");
    LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(cg->ctx, fn, "body");
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(cg->ctx, fn, "done");
    LLVMPositionBuilderAtEnd(cg->b, entry);
    LLVMBuildBr(cg->b, body);
    LLVMPositionBuilderAtEnd(cg->b, body);
    LLVMValueRef i = LLVMBuildPhi(cg->b, cg->t_i64, "i");
    LLVMValueRef zero = cg_i64(cg, 0);
    LLVMAddIncoming(i, &zero, &entry, 1);
    LLVMValueRef x = cg_load(cg, GC_F32, LLVMGetParam(fn, 1), i);
    cg_store(cg, GC_F32, c->emit(cg, GC_F32, x), LLVMGetParam(fn, 0), i);
    LLVMValueRef next = LLVMBuildAdd(cg->b, i, cg_i64(cg, 1), "");
    LLVMAddIncoming(i, &next, &body, 1);
    LLVMBuildCondBr(cg->b, LLVMBuildICmp(cg->b, LLVMIntSLT, next, LLVMGetParam(fn, 2), ""), body, done);
    LLVMPositionBuilderAtEnd(cg->b, done);
    LLVMBuildRetVoid(cg->b);
}

static void optimise(LLVMModuleRef mod, LLVMTargetMachineRef tm) {
    char *triple = LLVMGetTargetMachineTriple(tm);
    LLVMSetTarget(mod, triple);
    LLVMDisposeMessage(triple);
    LLVMTargetDataRef layout = LLVMCreateTargetDataLayout(tm);
    LLVMSetModuleDataLayout(mod, layout);
    LLVMDisposeTargetData(layout);
    char *msg = NULL;
    if (LLVMVerifyModule(mod, LLVMReturnStatusAction, &msg)) fail_msg("the math module does not verify: %s", msg);
    LLVMDisposeMessage(msg);
    LLVMPassBuilderOptionsRef opts = LLVMCreatePassBuilderOptions();
    LLVMPassBuilderOptionsSetLoopVectorization(opts, 1);
    LLVMPassBuilderOptionsSetSLPVectorization(opts, 1);
    LLVMErrorRef e = LLVMRunPasses(mod, "default<O3>", tm, opts);
    LLVMDisposePassBuilderOptions(opts);
    check_llvm(e, "optimising the math module");
}

static char *assembly_of(LLVMModuleRef mod, LLVMTargetMachineRef tm) {
    char *msg = NULL;
    LLVMMemoryBufferRef buf = NULL;
    if (LLVMTargetMachineEmitToMemoryBuffer(tm, mod, LLVMAssemblyFile, &msg, &buf)) fail_msg("assembly: %s", msg);
    size_t size = LLVMGetBufferSize(buf);
    char *text = malloc(size + 1);
    assert_non_null(text);
    memcpy(text, LLVMGetBufferStart(buf), size);
    text[size] = '\0';
    LLVMDisposeMemoryBuffer(buf);
    return text;
}

static int setup(void **state) {
    gc_error err = {0};
    compiled *c = calloc(1, sizeof *c);
    LLVMTargetMachineRef tm = cg_host_machine(&err);
    if (!c || !tm) return -1;
    LLVMOrcThreadSafeContextRef tsc = LLVMOrcCreateNewThreadSafeContext();
    LLVMContextRef ctx = LLVMOrcThreadSafeContextGetContext(tsc);
    LLVMModuleRef mod = LLVMModuleCreateWithNameInContext("math", ctx);
    cg_ctx cg;
    cg_ctx_init(&cg, ctx, mod, &err);
    for (int k = 0; k < NUM_CASES; k++) emit_loop(&cg, &cases[k]);
    cg_ctx_dispose(&cg);
    optimise(mod, tm);
    c->assembly = assembly_of(mod, tm);

    /* The JIT builder takes tm. */
    LLVMOrcLLJITBuilderRef builder = LLVMOrcCreateLLJITBuilder();
    LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(builder, LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(tm));
    check_llvm(LLVMOrcCreateLLJIT(&c->jit, builder), "starting the JIT");
    LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(mod, tsc);
    LLVMOrcDisposeThreadSafeContext(tsc);
    check_llvm(LLVMOrcLLJITAddLLVMIRModule(c->jit, LLVMOrcLLJITGetMainJITDylib(c->jit), tsm), "adding the module");
    for (int k = 0; k < NUM_CASES; k++) {
        LLVMOrcExecutorAddress addr = 0;
        check_llvm(LLVMOrcLLJITLookup(c->jit, &addr, cases[k].name), cases[k].name);
        c->fn[k] = (loop_fn)(uintptr_t)addr;
    }
    *state = c;
    return 0;
}

static int teardown(void **state) {
    compiled *c = *state;
    if (!c) return 0;
    if (c->jit) {
        LLVMErrorRef e = LLVMOrcDisposeLLJIT(c->jit);
        if (e) LLVMConsumeError(e);
    }
    free(c->assembly);
    free(c);
    return 0;
}

/* ---- measuring ---- */

/* |got - exact| in units of the spacing of floats at the exact result (2^-149 at the bottom). */
static double ulp_error(float got, double exact) {
    float r = (float)exact;
    if (isnan(r)) return isnan(got) ? 0.0 : INFINITY;
    if (isinf(r) || isinf(got)) return got == r ? 0.0 : INFINITY;
    if (isnan(got)) return INFINITY;
    int e = 0;
    double ulp = 0x1p-149;
    if (r != 0.0f) {
        frexpf(r, &e);
        ulp = ldexp(1.0, e - 24);
        if (ulp < 0x1p-149) ulp = 0x1p-149;
    }
    return fabs((double)got - exact) / ulp;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t next_bits(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng >> 32);
}

static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Runs case k over xs and returns the largest ulp error, naming the worst argument. */
static double measure(const compiled *c, int k, const float *xs, int64_t n, float *worst_x) {
    float *out = malloc((size_t)n * sizeof *out);
    assert_non_null(out);
    c->fn[k](out, xs, n);
    double worst = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double e = ulp_error(out[i], cases[k].ref((double)xs[i]));
        if (e > worst || isnan(e)) {
            worst = e;
            *worst_x = xs[i];
        }
    }
    free(out);
    return worst;
}

enum { SWEEP = 1 << 20 };

/* Dense over [lo, hi] linearly, and a dense geometric sweep of magnitudes in [tiny, huge] with
 * both signs as the domain allows, plus random bit patterns (the whole float range: subnormals,
 * huge values, inf and NaN). */
static int64_t fill(float *xs, double lo, double hi, double tiny, double huge, bool negatives, bool bits_positive) {
    int64_t n = 0;
    for (int64_t i = 0; i < SWEEP; i++) xs[n++] = (float)(lo + (hi - lo) * (double)i / (SWEEP - 1));
    for (int64_t i = 0; i < SWEEP; i++) {
        float m = (float)(tiny * pow(huge / tiny, (double)i / (SWEEP - 1)));
        xs[n++] = negatives && (i & 1) ? -m : m;
    }
    for (int64_t i = 0; i < SWEEP; i++) {
        uint32_t u = next_bits();
        if (bits_positive) u &= 0x7fffffffu;
        xs[n++] = from_bits(u);
    }
    return n;
}

/* The cost per value over 64K values in [-4, 4] (where GELU's arguments live; no subnormal
 * results, whose assists would swamp the figure), warm in cache: the best of 8 rounds of this
 * thread's CPU time, so that a busy machine's other processes count as little as they can.
 * Printed, not checked: docs/optimisation.md quotes it for the GELU kernels' math. */
static void print_cost(const compiled *c, int k) {
    enum { N = 65536, CALLS = 16 };
    float *xs = malloc(2 * N * sizeof *xs);
    assert_non_null(xs);
    for (int i = 0; i < N; i++) xs[i] = -4.0f + 8.0f * (float)i / (float)N;
    double best = INFINITY;
    for (int round = 0; round < 8; round++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
        for (int r = 0; r < CALLS; r++) c->fn[k](xs + N, xs, N);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
        double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
        if (ns < best) best = ns;
    }
    free(xs);
    print_message("%s: %.3f ns a value on [-4, 4]\n", cases[k].name, best / (CALLS * (double)N));
}

static void sweep(void **state, int k, double lo, double hi, double tiny, double huge, bool negatives, bool bits_positive) {
    const compiled *c = *state;
    float *xs = malloc(3 * (size_t)SWEEP * sizeof *xs);
    assert_non_null(xs);
    int64_t n = fill(xs, lo, hi, tiny, huge, negatives, bits_positive);
    float at = 0.0f;
    print_cost(c, k);
    double worst = measure(c, k, xs, n, &at);
    free(xs);
    print_message("%s: max error %.3f ulp (at %a = %.9g) over %lld values\n", cases[k].name, worst, at, at, (long long)n);
    if (!(worst <= cases[k].max_ulp))
        fail_msg("%s: %.3f ulp at %a, more than %.1f", cases[k].name, worst, at, cases[k].max_ulp);
}

/* f(x) must be exactly want (NaN matches NaN; zeros must match in sign). */
static void exact(const compiled *c, int k, float x, float want) {
    float got = 0.0f;
    c->fn[k](&got, &x, 1);
    bool ok = isnan(want) ? isnan(got) : got == want && signbit(got) == signbit(want);
    if (!ok) fail_msg("%s(%a) = %a, want %a", cases[k].name, x, got, want);
}

static void near(const compiled *c, int k, float x, double max_ulp) {
    float got = 0.0f;
    c->fn[k](&got, &x, 1);
    double e = ulp_error(got, cases[k].ref(x));
    if (!(e <= max_ulp)) fail_msg("%s(%a) = %a: %.2f ulp", cases[k].name, x, got, e);
}

enum { EXP, LOG, LOG1P, TANH, ERF, ERFC };

static void test_exp(void **state) {
    sweep(state, EXP, -110.0, 100.0, 1e-30, 1e30, true, false);
    const compiled *c = *state;
    exact(c, EXP, 0.0f, 1.0f);
    exact(c, EXP, -0.0f, 1.0f);
    exact(c, EXP, INFINITY, INFINITY);
    exact(c, EXP, -INFINITY, 0.0f);
    exact(c, EXP, NAN, NAN);
    exact(c, EXP, 88.73f, INFINITY);      /* just past ln FLT_MAX = 88.7228 */
    exact(c, EXP, 1e30f, INFINITY);
    exact(c, EXP, -104.0f, 0.0f);         /* below half the smallest subnormal */
    exact(c, EXP, -1e30f, 0.0f);
    exact(c, EXP, 0x1p-149f, 1.0f);
    near(c, EXP, 88.72283f, 2.0);         /* the largest finite results */
    near(c, EXP, -87.33654f, 2.0);        /* FLT_MIN */
    near(c, EXP, -100.0f, 1.0);           /* subnormal results */
    near(c, EXP, -103.27893f, 1.0);       /* the smallest subnormal */
}

static void test_log(void **state) {
    sweep(state, LOG, 0.0, 4.0, 1e-45, 1e30, false, true);
    const compiled *c = *state;
    exact(c, LOG, 1.0f, 0.0f);
    exact(c, LOG, 0.0f, -INFINITY);
    exact(c, LOG, -0.0f, -INFINITY);
    exact(c, LOG, -1.0f, NAN);
    exact(c, LOG, -INFINITY, NAN);
    exact(c, LOG, INFINITY, INFINITY);
    exact(c, LOG, NAN, NAN);
    near(c, LOG, 0x1p-149f, 1.0);         /* subnormals are computed, not flushed */
    near(c, LOG, 0x1.fffffcp-127f, 1.0);
    near(c, LOG, FLT_MAX, 1.0);
    near(c, LOG, 0x1.000002p0f, 1.0);
    near(c, LOG, 0x1.fffffep-1f, 1.0);
}

static void test_log1p(void **state) {
    sweep(state, LOG1P, -1.0, 3.0, 1e-40, 1e30, false, false);
    const compiled *c = *state;
    exact(c, LOG1P, 0.0f, 0.0f);
    exact(c, LOG1P, -0.0f, -0.0f);
    exact(c, LOG1P, 1e-30f, 1e-30f);
    exact(c, LOG1P, -1.0f, -INFINITY);
    exact(c, LOG1P, -1.5f, NAN);
    exact(c, LOG1P, -INFINITY, NAN);
    exact(c, LOG1P, INFINITY, INFINITY);
    exact(c, LOG1P, NAN, NAN);
    near(c, LOG1P, 1e-5f, 1.0);
    near(c, LOG1P, -0.99999994f, 1.0);
    near(c, LOG1P, FLT_MAX, 1.0);
}

static void test_tanh(void **state) {
    sweep(state, TANH, -12.0, 12.0, 1e-40, 1e30, true, false);
    const compiled *c = *state;
    exact(c, TANH, 0.0f, 0.0f);
    exact(c, TANH, -0.0f, -0.0f);
    exact(c, TANH, 10.0f, 1.0f);
    exact(c, TANH, -20.0f, -1.0f);
    exact(c, TANH, INFINITY, 1.0f);
    exact(c, TANH, -INFINITY, -1.0f);
    exact(c, TANH, NAN, NAN);
    exact(c, TANH, 1e-30f, 1e-30f);
    near(c, TANH, 0.625f, 2.0);           /* either side of the switch of formula */
    near(c, TANH, 0.62499994f, 2.0);
}

static void test_erf(void **state) {
    sweep(state, ERF, -6.0, 6.0, 1e-40, 1e30, true, false);
    const compiled *c = *state;
    exact(c, ERF, 0.0f, 0.0f);
    exact(c, ERF, -0.0f, -0.0f);
    exact(c, ERF, 5.0f, 1.0f);
    exact(c, ERF, INFINITY, 1.0f);
    exact(c, ERF, -INFINITY, -1.0f);
    exact(c, ERF, NAN, NAN);
    near(c, ERF, 1e-30f, 1.0);
    near(c, ERF, 1.0f, 2.0);
    near(c, ERF, 0.99999994f, 2.0);
    /* The tail's polynomial ends at 4, where erf has rounded to 1 (erf(3.92) does not yet). */
    near(c, ERF, 3.9f, 1.0);
    exact(c, ERF, 3.95f, 1.0f);
    exact(c, ERF, 4.0f, 1.0f);
    exact(c, ERF, 4.0000005f, 1.0f);
    exact(c, ERF, -4.5f, -1.0f);
}

static void test_erfc(void **state) {
    sweep(state, ERFC, -12.0, 12.0, 1e-40, 1e30, true, false);
    const compiled *c = *state;
    exact(c, ERFC, 0.0f, 1.0f);
    exact(c, ERFC, INFINITY, 0.0f);
    exact(c, ERFC, 10.1f, 0.0f);          /* past where erfc underflows (10.0546) */
    exact(c, ERFC, -INFINITY, 2.0f);
    exact(c, ERFC, -10.0f, 2.0f);
    exact(c, ERFC, NAN, NAN);
    /* The tail is relatively accurate down to the subnormals: GELU's reason for erfc. */
    near(c, ERFC, 3.0f, 2.0);
    near(c, ERFC, 6.0f, 2.0);
    near(c, ERFC, 9.0f, 3.0);
    near(c, ERFC, 9.9f, 1.0);
    near(c, ERFC, 0.46875f, 2.0);
    near(c, ERFC, 0.46874997f, 2.0);
}

/* The loops vectorize (the x86 vector registers appear) and call no libm function. */
static void expect_vector_code(const char *what, const char *text) {
    if (!strstr(text, "zmm") && !strstr(text, "ymm") && !strstr(text, "xmm"))
        fail_msg("%s: no vector registers in the assembly", what);
    const char *calls[] = {"expf", "logf", "log1pf", "tanhf", "erff", "erfcf", "call"};
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++)
        if (strstr(text, calls[i])) fail_msg("%s: the assembly mentions %s", what, calls[i]);
}

/* Packed single-precision arithmetic on whole vectors: "vfmadd...ps %zmm" or the ymm form. */
static int count_packed(const char *text, const char *insn) {
    int count = 0;
    for (const char *p = text; (p = strstr(p, insn)) != NULL; p++) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char line[128];
        if (len >= sizeof line) len = sizeof line - 1;
        memcpy(line, p, len);
        line[len] = '\0';
        if (strstr(line, "ps") && (strstr(line, "%zmm") || strstr(line, "%ymm"))) count++;
    }
    return count;
}

static void test_loops_are_vectorized(void **state) {
    const compiled *c = *state;
    expect_vector_code("math loops", c->assembly);
    assert_true(count_packed(c->assembly, "vfmadd") > 20);
}

/* A graph of f32[n] -> op through the real code generator: asm without libm calls, and the JIT's
 * values within the bound. */
static gc_graph *unary_graph(gc_op op, int64_t n) {
    gc_error err = {0};
    gc_graph *g = gc_graph_new("math");
    gc_builder b = {g, {"math.ir", 1, 1}, &err};
    gc_type t = gc_type_make(GC_F32, 1, &n);
    gc_node *x = gc_graph_make(g, GC_OP_INPUT, NULL, 0, NULL, &t, "x", b.loc, &err);
    gc_node *y = op == GC_OP_SOFTMAX ? gc_axis_op(&b, op, x, 0) : gc_unary(&b, op, x);
    if (!y || !gc_graph_add_output(g, GC_OUTPUT_VALUE, "y", y, &err)) fail_msg("graph: %s", err.message);
    return g;
}

static void test_graph_kernels_use_them(void **state) {
    (void)state;
    const gc_op ops[] = {GC_OP_EXP, GC_OP_GELU, GC_OP_TANH, GC_OP_ERF, GC_OP_LOG, GC_OP_SOFTPLUS,
                         GC_OP_SIGMOID, GC_OP_GELU_TANH, GC_OP_SOFTMAX};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        gc_error err = {0};
        gc_graph *g = unary_graph(ops[i], 65536);
        char *text = gc_codegen_asm(g, &err);
        if (!text) fail_msg("gc_codegen_asm: %s", err.message);
        const char *name = gc_op_table[ops[i]].name;
        if (strstr(text, "expf") || strstr(text, "erfcf") || strstr(text, "erff") || strstr(text, "tanhf") ||
            strstr(text, "logf") || strstr(text, "log1pf"))
            fail_msg("%s: the kernel still calls libm", name);
        /* softmax sums e^(x - max) in double in order, which keeps that loop scalar. */
        if (ops[i] != GC_OP_SOFTMAX && count_packed(text, "vfmadd") < 3)
            fail_msg("%s: the kernel is not vectorized", name);
        print_message("%s: %d packed vfmadd\n", name, count_packed(text, "vfmadd"));
        free(text);
        gc_graph_free(g);
    }

    /* exp through the JIT executor, an odd length so the vector loop has a tail. */
    enum { N = 100003 };
    gc_error err = {0};
    gc_graph *g = unary_graph(GC_OP_EXP, N);
    /* IEEE subnormals kept: the results are compared with libm's down to the smallest ones. */
    gc_jit_options opts = {.ieee_subnormals = true};
    gc_jit *j = gc_jit_new_opts(g, &opts, &err);
    if (!j) fail_msg("gc_jit_new: %s", err.message);
    float *xs = malloc(N * sizeof *xs);
    assert_non_null(xs);
    for (int i = 0; i < N; i++) xs[i] = -105.0f + 195.0f * (float)i / (N - 1);
    gc_tensor in = {GC_F32, 1, {N}, xs};
    assert_true(gc_jit_set(j, "x", &in, &err));
    if (!gc_jit_run(j, &err)) fail_msg("gc_jit_run: %s", err.message);
    const float *y = gc_jit_output(j, GC_OUTPUT_VALUE, "y");
    assert_non_null(y);
    for (int i = 0; i < N; i++) {
        double e = ulp_error(y[i], exp((double)xs[i]));
        if (!(e <= 2.0)) fail_msg("JIT exp(%a) = %a: %.2f ulp", xs[i], y[i], e);
    }
    free(xs);
    gc_jit_free(j);
    gc_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exp),
        cmocka_unit_test(test_log),
        cmocka_unit_test(test_log1p),
        cmocka_unit_test(test_tanh),
        cmocka_unit_test(test_erf),
        cmocka_unit_test(test_erfc),
        cmocka_unit_test(test_loops_are_vectorized),
        cmocka_unit_test(test_graph_kernels_use_them),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
