/*
 * test_shape_rules.c: every shape rule of ir/ops.def through gc_graph_make, the way the frontend,
 * the parser and autodiff reach them. Accepted cases check the exact result type; rejected cases
 * check the exact message users will read and that it points at the location passed in. The last
 * test checks that every op was accepted and every rule that can refuse was seen refusing, so a
 * new row in ops.def without cases here fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ir/graph.h"

/* Inline types and attributes: TY(GC_F32, 2, 3) is an lvalue f32[2, 3]; SCALAR(GC_I32) is i32[]. */
#define NARGS(...) ((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
#define TY(dt, ...) ((gc_type){.dtype = (dt), .rank = NARGS(__VA_ARGS__), .dims = {__VA_ARGS__}})
#define SCALAR(dt) ((gc_type){.dtype = (dt)})
#define A_AXIS(a) (&(gc_attr){.axis = {.axis = (a)}})
#define A_REDUCE(mask, keep) (&(gc_attr){.reduce = {.axes = (mask), .keepdims = (keep)}})
#define A_MATMUL(ta, tb) (&(gc_attr){.matmul = {.transpose_a = (ta), .transpose_b = (tb)}})
#define A_PERM(...) (&(gc_attr){.permute = {.perm = {__VA_ARGS__}}})
#define A_SLICE(ax, s, e) (&(gc_attr){.slice = {.axis = (ax), .start = (s), .end = (e)}})
#define A_PAD(ax, b, a) (&(gc_attr){.pad = {.axis = (ax), .before = (b), .after = (a)}})
#define A_ONE_HOT(d) (&(gc_attr){.one_hot = {.depth = (d)}})
#define A_RANDOM(sd, st) (&(gc_attr){.random = {.seed = (sd), .stream = (st)}})
#define A_SCALAR(v) (&(gc_attr){.scalar = {.value = (v)}})
#define A_CLAMP(l, h) (&(gc_attr){.clamp = {.lo = (l), .hi = (h)}})
#define A_POW(e) (&(gc_attr){.pow = {.exponent = (e)}})
/* A_POOL((kernel), (stride), (padding), (dilation), ceil_mode, count_include_pad) */
#define LIST3(...) {__VA_ARGS__}
#define A_POOL(k, s, p, d, ceil, cip) \
    (&(gc_attr){.pool = {.kernel = LIST3 k, .stride = LIST3 s, .padding = LIST3 p, .dilation = LIST3 d, .ceil_mode = (ceil), .count_include_pad = (cip)}})

#define FILE_NAME "shapes.gm"
#define COL 7

static gc_graph *graph;
static int source_count;
static bool accepted[GC_OP_COUNT], rejected[GC_OP_COUNT];

static int setup(void **state) {
    (void)state;
    graph = gc_graph_new("shapes");
    return graph ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    gc_graph_free(graph);
    graph = NULL;
    return 0;
}

static const char *fmt(const gc_type *t) {
    static char buf[4][160];
    static int k;
    k = (k + 1) % 4;
    return gc_type_format(t, buf[k], sizeof buf[k]);
}

/* An input of type t with a fresh name, to feed the op under test. */
static gc_node *in(gc_type t) {
    char name[32];
    snprintf(name, sizeof name, "in%d", source_count++);
    gc_error err = {0};
    gc_node *n = gc_graph_make(graph, GC_OP_INPUT, NULL, 0, NULL, &t, name, (gc_loc){FILE_NAME, 1, 1}, &err);
    if (!n) fail_msg("cannot make input %s: %s", fmt(&t), err.message);
    return n;
}

static gc_node *make(int line, gc_op op, gc_node *const *ins, int n, const gc_attr *attr,
                     const gc_type *type, gc_error *err) {
    memset(err, 0, sizeof *err);
    const char *name = (gc_op_table[op].flags & GC_FLAG_NAMED) ? "named" : NULL;
    if (name) {
        static char unique[32];
        snprintf(unique, sizeof unique, "named%d", source_count++);
        name = unique;
    }
    return gc_graph_make(graph, op, ins, n, attr, type, name, (gc_loc){FILE_NAME, line, COL}, err);
}

static gc_node *accept_(int line, const char *want, gc_op op, gc_node *const *ins, int n,
                        const gc_attr *attr, const gc_type *type) {
    gc_error err;
    gc_node *node = make(line, op, ins, n, attr, type, &err);
    if (!node) fail_msg("line %d: %s rejected: %s (want %s)", line, gc_op_table[op].name, err.message, want);
    if (strcmp(fmt(&node->type), want) != 0)
        fail_msg("line %d: %s gave %s, want %s", line, gc_op_table[op].name, fmt(&node->type), want);
    for (int i = node->type.rank; i < GC_MAX_RANK; i++)
        if (node->type.dims[i] != 0) fail_msg("line %d: dims past the rank are not zero", line);
    assert_int_equal(node->op, op);
    assert_int_equal(node->loc.line, line);
    accepted[op] = true;
    return node;
}

static void reject_(int line, const char *want, gc_op op, gc_node *const *ins, int n,
                    const gc_attr *attr, const gc_type *type) {
    gc_error err;
    int before = graph->num_nodes;
    gc_node *node = make(line, op, ins, n, attr, type, &err);
    if (node) fail_msg("line %d: %s accepted with type %s; want error '%s'", line, gc_op_table[op].name,
                       fmt(&node->type), want);
    if (strcmp(err.message, want) != 0)
        fail_msg("line %d: message\n  got  '%s'\n  want '%s'", line, err.message, want);
    assert_int_equal(err.code, GC_ERR_USER);
    assert_string_equal(err.file, FILE_NAME);
    assert_int_equal(err.line, line);
    assert_int_equal(err.col, COL);
    assert_int_equal(graph->num_nodes, before); /* a refused node is not added */
    rejected[op] = true;
}

#define NODES(...) ((gc_node *const[]){__VA_ARGS__}), ((int)(sizeof((gc_node *[]){__VA_ARGS__}) / sizeof(gc_node *)))
/* ACCEPT("f32[2, 3]", GC_OP_ADD, attr, given_type, operands...) */
#define ACCEPT(want, op, attr, type, ...) accept_(__LINE__, want, op, NODES(__VA_ARGS__), attr, type)
#define REJECT(want, op, attr, type, ...) reject_(__LINE__, want, op, NODES(__VA_ARGS__), attr, type)
#define ACCEPT0(want, op, attr, type) accept_(__LINE__, want, op, NULL, 0, attr, type)
#define REJECT0(want, op, attr, type) reject_(__LINE__, want, op, NULL, 0, attr, type)

static void test_sources(void **state) {
    (void)state;
    ACCEPT0("f32[2, 3]", GC_OP_INPUT, NULL, &TY(GC_F32, 2, 3));
    ACCEPT0("i32[]", GC_OP_STATE, NULL, &SCALAR(GC_I32));
    ACCEPT0("f32[16]", GC_OP_BUFFER, NULL, &TY(GC_F32, 16));
    ACCEPT0("f64[1, 2, 3, 4, 5, 6]", GC_OP_PARAM, NULL, &TY(GC_F64, 1, 2, 3, 4, 5, 6));
    ACCEPT0("f32[1099511627776]", GC_OP_INPUT, NULL, &TY(GC_F32, (int64_t)1 << 40));
    gc_node *c = ACCEPT0("f32[4]", GC_OP_CONSTANT, A_SCALAR(-2.5), &TY(GC_F32, 4));
    assert_true(c->attr.scalar.value == -2.5);
    ACCEPT0("i32[4, 5]", GC_OP_IOTA, A_AXIS(1), &TY(GC_I32, 4, 5));
    ACCEPT0("f32[3]", GC_OP_IOTA, A_AXIS(0), &TY(GC_F32, 3));
    REJECT0("iota: axis 2 is out of range for rank 2", GC_OP_IOTA, A_AXIS(2), &TY(GC_I32, 4, 5));
    REJECT0("iota: axis -1 is out of range for rank 2", GC_OP_IOTA, A_AXIS(-1), &TY(GC_I32, 4, 5));
    REJECT0("iota: axis 0 is out of range for rank 0", GC_OP_IOTA, A_AXIS(0), &SCALAR(GC_I32));

    /* Dims below 1, ranks over 6, and element counts over 2^40 are refused for every source. */
    REJECT0("input: dimension 1 of the result is 0; every dimension must be at least 1", GC_OP_INPUT,
            NULL, &TY(GC_F32, 2, 0));
    REJECT0("param: dimension 0 of the result is -3; every dimension must be at least 1", GC_OP_PARAM,
            NULL, &TY(GC_F32, -3, 2));
    REJECT0("constant: dimension 0 of the result is 0; every dimension must be at least 1",
            GC_OP_CONSTANT, A_SCALAR(1), &TY(GC_F32, 0));
    gc_type rank7 = TY(GC_F32, 1, 1, 1, 1, 1, 1);
    rank7.rank = 7;
    REJECT0("state: rank 7 is outside 0..6", GC_OP_STATE, NULL, &rank7);
    REJECT0("buffer: rank 7 is outside 0..6", GC_OP_BUFFER, NULL, &rank7);
    rank7.rank = -1;
    REJECT0("input: rank -1 is outside 0..6", GC_OP_INPUT, NULL, &rank7);
    REJECT0("input: result has more than 2^40 elements", GC_OP_INPUT, NULL,
            &TY(GC_F32, (int64_t)1 << 20, ((int64_t)1 << 20) + 1));
    /* Products that overflow int64 are still caught, not wrapped around. */
    int64_t h = (int64_t)1 << 40;
    REJECT0("input: result has more than 2^40 elements", GC_OP_INPUT, NULL, &TY(GC_F32, h, h, h, h, h, h));
}

static void test_random(void **state) {
    (void)state;
    gc_node *step = in(SCALAR(GC_I32));
    gc_node *r = ACCEPT("f32[3, 4]", GC_OP_RANDOM_UNIFORM, A_RANDOM(7, 2), &TY(GC_F32, 3, 4), step);
    assert_int_equal(r->attr.random.seed, 7);
    ACCEPT("f64[]", GC_OP_RANDOM_UNIFORM, A_RANDOM(7, 2), &SCALAR(GC_F64), step);
    REJECT("random_uniform: the counter must be i32[], got f32[]", GC_OP_RANDOM_UNIFORM, A_RANDOM(1, 0),
           &TY(GC_F32, 3), in(SCALAR(GC_F32)));
    REJECT("random_uniform: the counter must be i32[], got i32[1]", GC_OP_RANDOM_UNIFORM, A_RANDOM(1, 0),
           &TY(GC_F32, 3), in(TY(GC_I32, 1)));
    REJECT("random_uniform: the result must be a float type, got i32[3]", GC_OP_RANDOM_UNIFORM,
           A_RANDOM(1, 0), &TY(GC_I32, 3), step);
    REJECT("random_uniform: dimension 0 of the result is 0; every dimension must be at least 1",
           GC_OP_RANDOM_UNIFORM, A_RANDOM(1, 0), &TY(GC_F32, 0), step);
}

/* Ops that take any dtype, and those that need a float operand (exp of an i32 is refused rather
 * than silently rounded). */
static const gc_op any_dtype_unary[] = {GC_OP_NEG, GC_OP_RELU, GC_OP_ABS, GC_OP_SQUARE, GC_OP_SIGN,
                                        GC_OP_CLAMP, GC_OP_STOP_GRADIENT, GC_OP_ALL_REDUCE_SUM};
static const gc_op float_unary[] = {GC_OP_EXP, GC_OP_LOG, GC_OP_SQRT, GC_OP_RSQRT, GC_OP_RECIPROCAL,
                                    GC_OP_TANH, GC_OP_SIGMOID, GC_OP_GELU, GC_OP_GELU_TANH, GC_OP_SILU,
                                    GC_OP_SOFTPLUS, GC_OP_LOG_SIGMOID, GC_OP_ERF, GC_OP_SIN, GC_OP_COS,
                                    GC_OP_POW};

static void test_unary(void **state) {
    (void)state;
    gc_node *f = in(TY(GC_F32, 2, 3)), *d = in(TY(GC_F64, 5)), *i = in(TY(GC_I32, 4, 1)), *s = in(SCALAR(GC_F32));
    const gc_attr *clamp = A_CLAMP(-1, 1), *pow = A_POW(3);
    for (size_t k = 0; k < sizeof any_dtype_unary / sizeof any_dtype_unary[0]; k++) {
        gc_op op = any_dtype_unary[k];
        const gc_attr *attr = op == GC_OP_CLAMP ? clamp : NULL;
        ACCEPT("f32[2, 3]", op, attr, NULL, f);
        ACCEPT("i32[4, 1]", op, attr, NULL, i);
        ACCEPT("f32[]", op, attr, NULL, s);
    }
    for (size_t k = 0; k < sizeof float_unary / sizeof float_unary[0]; k++) {
        gc_op op = float_unary[k];
        const gc_attr *attr = op == GC_OP_POW ? pow : NULL;
        ACCEPT("f32[2, 3]", op, attr, NULL, f);
        ACCEPT("f64[5]", op, attr, NULL, d);
        char want[128];
        snprintf(want, sizeof want, "%s: needs a float operand, got i32[4, 1]", gc_op_table[op].name);
        reject_(__LINE__, want, op, &i, 1, attr, NULL);
    }
    REJECT("neg: expects 1 operand, got 2", GC_OP_NEG, NULL, NULL, f, f);
    REJECT0("exp: expects 1 operand, got 0", GC_OP_EXP, NULL, NULL);
}

static void test_cast(void **state) {
    (void)state;
    gc_node *f = in(TY(GC_F32, 2, 3));
    ACCEPT("i32[2, 3]", GC_OP_CAST, NULL, &TY(GC_I32, 2, 3), f);
    ACCEPT("f64[2, 3]", GC_OP_CAST, NULL, &TY(GC_F64, 2, 3), f);
    ACCEPT("f32[]", GC_OP_CAST, NULL, &SCALAR(GC_F32), in(SCALAR(GC_I32)));
    REJECT("cast: cannot change shape: f32[2, 3] to i32[3, 2]", GC_OP_CAST, NULL, &TY(GC_I32, 3, 2), f);
    REJECT("cast: cannot change shape: f32[2, 3] to i32[6]", GC_OP_CAST, NULL, &TY(GC_I32, 6), f);
}

static const gc_op binary_ops[] = {GC_OP_ADD, GC_OP_SUB, GC_OP_MUL, GC_OP_DIV, GC_OP_MAXIMUM, GC_OP_MINIMUM};
static const gc_op compare_ops[] = {GC_OP_LT, GC_OP_LE, GC_OP_GT, GC_OP_GE, GC_OP_EQ, GC_OP_NE};

static void test_binary_and_compare(void **state) {
    (void)state;
    gc_node *a = in(TY(GC_F32, 16, 64, 128)), *b = in(TY(GC_F32, 16, 64, 130));
    gc_node *col = in(TY(GC_F32, 4, 1)), *row = in(TY(GC_F32, 3)), *s = in(SCALAR(GC_F32));
    gc_node *ia = in(TY(GC_I32, 2, 1)), *ib = in(TY(GC_I32, 3)), *fb = in(TY(GC_F32, 3));
    for (int pass = 0; pass < 2; pass++) {
        const gc_op *ops = pass ? compare_ops : binary_ops;
        for (int k = 0; k < 6; k++) {
            gc_op op = ops[k];
            const char *name = gc_op_table[op].name;
            char want[200];
            ACCEPT("f32[4, 3]", op, NULL, NULL, col, row);
            ACCEPT("f32[4, 3]", op, NULL, NULL, row, col);
            ACCEPT("f32[16, 64, 128]", op, NULL, NULL, a, s);
            /* compare ops give f32 masks even for i32 operands */
            ACCEPT(pass ? "f32[2, 3]" : "i32[2, 3]", op, NULL, NULL, ia, ib);
            snprintf(want, sizeof want, "%s: cannot broadcast f32[16, 64, 128] with f32[16, 64, 130]", name);
            reject_(__LINE__, want, op, (gc_node *const[]){a, b}, 2, NULL, NULL);
            snprintf(want, sizeof want, "%s: operand dtypes differ: i32[3] and f32[3]", name);
            reject_(__LINE__, want, op, (gc_node *const[]){ib, fb}, 2, NULL, NULL);
            snprintf(want, sizeof want, "%s: expects 2 operands, got 1", name);
            reject_(__LINE__, want, op, &a, 1, NULL, NULL);
        }
    }
}

static void test_select(void **state) {
    (void)state;
    gc_node *cond = in(TY(GC_F32, 2, 1)), *a = in(TY(GC_F32, 3)), *b = in(SCALAR(GC_F32));
    ACCEPT("f32[2, 3]", GC_OP_SELECT, NULL, NULL, cond, a, b);
    ACCEPT("f32[2, 3]", GC_OP_SELECT, NULL, NULL, cond, b, a);
    /* The condition's float type need not match; the result takes the dtype of a and b. */
    gc_node *c64 = in(TY(GC_F64, 3)), *ia = in(TY(GC_I32, 3)), *ib = in(TY(GC_I32, 1));
    ACCEPT("i32[3]", GC_OP_SELECT, NULL, NULL, c64, ia, ib);
    ACCEPT("f32[5, 2, 3]", GC_OP_SELECT, NULL, NULL, in(TY(GC_F32, 5, 1, 1)), cond, a);
    REJECT("select: the condition must be float (0 or 1), got i32[3]", GC_OP_SELECT, NULL, NULL, ia, a, a);
    REJECT("select: operand dtypes differ: f32[3] and i32[3]", GC_OP_SELECT, NULL, NULL, cond, a, ia);
    REJECT("select: cannot broadcast f32[3] with f32[4]", GC_OP_SELECT, NULL, NULL, cond, a, in(TY(GC_F32, 4)));
    REJECT("select: cannot broadcast the condition f32[4] with f32[2, 3]", GC_OP_SELECT, NULL, NULL,
           in(TY(GC_F32, 4)), in(TY(GC_F32, 2, 3)), a);
    REJECT("select: expects 3 operands, got 2", GC_OP_SELECT, NULL, NULL, cond, a);
}

static void test_reduce(void **state) {
    (void)state;
    gc_node *x = in(TY(GC_F32, 2, 3, 4)), *i = in(TY(GC_I32, 2, 3));
    const gc_op ops[] = {GC_OP_SUM, GC_OP_MEAN, GC_OP_MAX, GC_OP_MIN};
    for (int k = 0; k < 4; k++) {
        gc_op op = ops[k];
        char want[128];
        ACCEPT("f32[3]", op, A_REDUCE(5u, false), NULL, x);
        ACCEPT("f32[1, 3, 1]", op, A_REDUCE(5u, true), NULL, x);
        ACCEPT("f32[]", op, A_REDUCE(7u, false), NULL, x);
        ACCEPT("f32[1, 1, 1]", op, A_REDUCE(7u, true), NULL, x);
        ACCEPT("f32[2, 3, 4]", op, A_REDUCE(0u, false), NULL, x);
        ACCEPT("f32[2, 3]", op, A_REDUCE(4u, false), NULL, x);
        snprintf(want, sizeof want, "%s: axes name a dim beyond rank 3", gc_op_table[op].name);
        reject_(__LINE__, want, op, &x, 1, A_REDUCE(8u, false), NULL);
        reject_(__LINE__, want, op, &x, 1, A_REDUCE(0x80000000u, true), NULL);
        if (op == GC_OP_MEAN) {
            reject_(__LINE__, "mean: needs a float operand, got i32[2, 3]", op, &i, 1, A_REDUCE(1u, false), NULL);
        } else {
            ACCEPT("i32[3]", op, A_REDUCE(1u, false), NULL, i);
        }
    }
    /* A scalar reduces over nothing. */
    ACCEPT("f32[]", GC_OP_SUM, A_REDUCE(0u, false), NULL, in(SCALAR(GC_F32)));
    REJECT("sum: axes name a dim beyond rank 0", GC_OP_SUM, A_REDUCE(1u, false), NULL, in(SCALAR(GC_F32)));
    /* All six dims. */
    ACCEPT("f32[]", GC_OP_SUM, A_REDUCE(63u, false), NULL, in(TY(GC_F32, 1, 2, 3, 4, 5, 6)));
}

static void test_argmax_softmax(void **state) {
    (void)state;
    gc_node *x = in(TY(GC_F32, 2, 3, 4)), *i = in(TY(GC_I32, 2, 3));
    ACCEPT("i32[2, 4]", GC_OP_ARGMAX, A_AXIS(1), NULL, x);
    ACCEPT("i32[2, 3]", GC_OP_ARGMAX, A_AXIS(2), NULL, x);
    ACCEPT("i32[]", GC_OP_ARGMAX, A_AXIS(0), NULL, in(TY(GC_F32, 7)));
    ACCEPT("i32[3]", GC_OP_ARGMAX, A_AXIS(0), NULL, i);
    REJECT("argmax: axis 3 is out of range for rank 3", GC_OP_ARGMAX, A_AXIS(3), NULL, x);
    REJECT("argmax: axis -1 is out of range for rank 3", GC_OP_ARGMAX, A_AXIS(-1), NULL, x);
    REJECT("argmax: axis 0 is out of range for rank 0", GC_OP_ARGMAX, A_AXIS(0), NULL, in(SCALAR(GC_F32)));
    const gc_op ops[] = {GC_OP_SOFTMAX, GC_OP_LOG_SOFTMAX};
    for (int k = 0; k < 2; k++) {
        gc_op op = ops[k];
        const char *name = gc_op_table[op].name;
        char want[128];
        ACCEPT("f32[2, 3, 4]", op, A_AXIS(2), NULL, x);
        ACCEPT("f32[2, 3, 4]", op, A_AXIS(0), NULL, x);
        snprintf(want, sizeof want, "%s: axis 3 is out of range for rank 3", name);
        reject_(__LINE__, want, op, &x, 1, A_AXIS(3), NULL);
        snprintf(want, sizeof want, "%s: axis -2 is out of range for rank 3", name);
        reject_(__LINE__, want, op, &x, 1, A_AXIS(-2), NULL);
        snprintf(want, sizeof want, "%s: needs a float operand, got i32[2, 3]", name);
        reject_(__LINE__, want, op, &i, 1, A_AXIS(1), NULL);
    }
}

static void test_matmul(void **state) {
    (void)state;
    gc_node *a = in(TY(GC_F32, 2, 3)), *b = in(TY(GC_F32, 3, 4));
    gc_node *at = in(TY(GC_F32, 3, 2)), *bt = in(TY(GC_F32, 4, 3));
    ACCEPT("f32[2, 4]", GC_OP_MATMUL, A_MATMUL(false, false), NULL, a, b);
    ACCEPT("f32[2, 4]", GC_OP_MATMUL, A_MATMUL(true, false), NULL, at, b);
    ACCEPT("f32[2, 4]", GC_OP_MATMUL, A_MATMUL(false, true), NULL, a, bt);
    ACCEPT("f32[2, 4]", GC_OP_MATMUL, A_MATMUL(true, true), NULL, at, bt);
    ACCEPT("f32[3, 3]", GC_OP_MATMUL, A_MATMUL(true, false), NULL, a, a);
    ACCEPT("f32[2, 2]", GC_OP_MATMUL, A_MATMUL(false, true), NULL, a, a);
    ACCEPT("f64[1, 1]", GC_OP_MATMUL, A_MATMUL(false, false), NULL, in(TY(GC_F64, 1, 5)), in(TY(GC_F64, 5, 1)));
    /* Leading dims broadcast by NumPy rules; a rank-2 operand is shared by every batch. */
    ACCEPT("f32[5, 7, 2, 4]", GC_OP_MATMUL, A_MATMUL(false, false), NULL, in(TY(GC_F32, 5, 1, 2, 3)),
           in(TY(GC_F32, 7, 3, 4)));
    ACCEPT("f32[6, 2, 4]", GC_OP_MATMUL, A_MATMUL(false, false), NULL, in(TY(GC_F32, 6, 2, 3)), b);
    ACCEPT("f32[6, 2, 4]", GC_OP_MATMUL, A_MATMUL(false, false), NULL, a, in(TY(GC_F32, 6, 3, 4)));
    ACCEPT("f32[6, 4, 2]", GC_OP_MATMUL, A_MATMUL(true, true), NULL, in(TY(GC_F32, 6, 3, 4)), in(TY(GC_F32, 2, 3)));
    ACCEPT("f32[1, 2, 3, 4, 5, 5]", GC_OP_MATMUL, A_MATMUL(false, false), NULL,
           in(TY(GC_F32, 1, 2, 3, 4, 5, 1)), in(TY(GC_F32, 4, 1, 5)));

    REJECT("matmul: inner dimensions differ: f32[2, 3] @ f32[4, 3]", GC_OP_MATMUL, A_MATMUL(false, false), NULL, a, bt);
    REJECT("matmul: inner dimensions differ: f32[2, 3] @ f32[3, 4]", GC_OP_MATMUL, A_MATMUL(true, false), NULL, a, b);
    REJECT("matmul: inner dimensions differ: f32[2, 3] @ f32[3, 4]", GC_OP_MATMUL, A_MATMUL(false, true), NULL, a, b);
    REJECT("matmul: operands need rank 2 or more, got f32[3] and f32[3, 4]", GC_OP_MATMUL,
           A_MATMUL(false, false), NULL, in(TY(GC_F32, 3)), b);
    REJECT("matmul: operands need rank 2 or more, got f32[2, 3] and f32[]", GC_OP_MATMUL,
           A_MATMUL(false, false), NULL, a, in(SCALAR(GC_F32)));
    REJECT("matmul: needs two operands of the same float type, got i32[2, 3] and i32[3, 4]", GC_OP_MATMUL,
           A_MATMUL(false, false), NULL, in(TY(GC_I32, 2, 3)), in(TY(GC_I32, 3, 4)));
    REJECT("matmul: needs two operands of the same float type, got f32[2, 3] and f64[3, 4]", GC_OP_MATMUL,
           A_MATMUL(false, false), NULL, a, in(TY(GC_F64, 3, 4)));
    REJECT("matmul: cannot broadcast the batch dims of f32[2, 2, 3] and f32[3, 3, 4]", GC_OP_MATMUL,
           A_MATMUL(false, false), NULL, in(TY(GC_F32, 2, 2, 3)), in(TY(GC_F32, 3, 3, 4)));
    REJECT("matmul: expects 2 operands, got 1", GC_OP_MATMUL, A_MATMUL(false, false), NULL, a);
    /* m * n over 2^40 elements: refused without overflowing. */
    int64_t big = (int64_t)1 << 30;
    REJECT("matmul: result has more than 2^40 elements", GC_OP_MATMUL, A_MATMUL(false, false), NULL,
           in(TY(GC_F32, big, 1)), in(TY(GC_F32, 1, big)));
}

static void test_reshape_broadcast(void **state) {
    (void)state;
    gc_node *x = in(TY(GC_F32, 2, 3, 4));
    ACCEPT("f32[6, 4]", GC_OP_RESHAPE, NULL, &TY(GC_F32, 6, 4), x);
    ACCEPT("f32[24]", GC_OP_RESHAPE, NULL, &TY(GC_F32, 24), x);
    ACCEPT("f32[1, 24, 1]", GC_OP_RESHAPE, NULL, &TY(GC_F32, 1, 24, 1), x);
    ACCEPT("i32[]", GC_OP_RESHAPE, NULL, &SCALAR(GC_I32), in(TY(GC_I32, 1, 1)));
    REJECT("reshape: element counts differ: f32[2, 3, 4] to f32[5, 5]", GC_OP_RESHAPE, NULL, &TY(GC_F32, 5, 5), x);
    REJECT("reshape: element counts differ: f32[2, 3, 4] to f32[]", GC_OP_RESHAPE, NULL, &SCALAR(GC_F32), x);
    REJECT("reshape: cannot change dtype: f32[2, 3, 4] to i32[24]", GC_OP_RESHAPE, NULL, &TY(GC_I32, 24), x);
    /* Negative dims whose product happens to match are still refused. */
    REJECT("reshape: element counts differ: f32[2, 3, 4] to f32[-4, -6]", GC_OP_RESHAPE, NULL,
           &TY(GC_F32, -4, -6), x);
    int64_t h = (int64_t)1 << 40;
    REJECT("reshape: element counts differ: f32[2, 3, 4] to f32[1099511627776, 1099511627776]", GC_OP_RESHAPE,
           NULL, &TY(GC_F32, h, h), x);
    gc_type r7 = TY(GC_F32, 1, 1, 1, 1, 1, 24);
    r7.rank = 7;
    REJECT("reshape: rank 7 is outside 0..6", GC_OP_RESHAPE, NULL, &r7, x);
    REJECT("reshape: expects 1 operand, got 2", GC_OP_RESHAPE, NULL, &TY(GC_F32, 24), x, x);

    gc_node *v = in(TY(GC_F32, 3)), *col = in(TY(GC_F32, 2, 1));
    ACCEPT("f32[2, 3]", GC_OP_BROADCAST, NULL, &TY(GC_F32, 2, 3), v);
    ACCEPT("f32[2, 3]", GC_OP_BROADCAST, NULL, &TY(GC_F32, 2, 3), col);
    ACCEPT("f32[4, 2, 3]", GC_OP_BROADCAST, NULL, &TY(GC_F32, 4, 2, 3), col);
    ACCEPT("f32[5]", GC_OP_BROADCAST, NULL, &TY(GC_F32, 5), in(SCALAR(GC_F32)));
    REJECT("broadcast: cannot broadcast f32[2, 1] to f32[3, 3]", GC_OP_BROADCAST, NULL, &TY(GC_F32, 3, 3), col);
    REJECT("broadcast: cannot broadcast f32[3] to f32[]", GC_OP_BROADCAST, NULL, &SCALAR(GC_F32), v);
    REJECT("broadcast: cannot change dtype: f32[3] to f64[2, 3]", GC_OP_BROADCAST, NULL, &TY(GC_F64, 2, 3), v);
    REJECT("broadcast: dimension 0 of the result is 0; every dimension must be at least 1", GC_OP_BROADCAST,
           NULL, &TY(GC_F32, 0, 3), v);
}

static void test_permute(void **state) {
    (void)state;
    gc_node *x = in(TY(GC_F32, 2, 3, 4));
    ACCEPT("f32[4, 2, 3]", GC_OP_PERMUTE, A_PERM(2, 0, 1), NULL, x);
    ACCEPT("f32[2, 3, 4]", GC_OP_PERMUTE, A_PERM(0, 1, 2), NULL, x);
    ACCEPT("f32[3, 2, 4]", GC_OP_PERMUTE, A_PERM(1, 0, 2), NULL, x);
    ACCEPT("f32[6, 5, 4, 3, 2, 1]", GC_OP_PERMUTE, A_PERM(5, 4, 3, 2, 1, 0), NULL, in(TY(GC_F32, 1, 2, 3, 4, 5, 6)));
    ACCEPT("i32[]", GC_OP_PERMUTE, A_PERM(0), NULL, in(SCALAR(GC_I32)));
    const char *bad = "permute: perm is not a permutation of the dims of f32[2, 3, 4]";
    REJECT(bad, GC_OP_PERMUTE, A_PERM(0, 0, 1), NULL, x);
    REJECT(bad, GC_OP_PERMUTE, A_PERM(0, 1, 3), NULL, x);
    REJECT(bad, GC_OP_PERMUTE, A_PERM(2, -1, 0), NULL, x);
    REJECT("permute: perm has more entries than the rank of f32[2, 3, 4]", GC_OP_PERMUTE, A_PERM(0, 1, 2, 3), NULL, x);
}

static void test_slice_pad(void **state) {
    (void)state;
    gc_node *x = in(TY(GC_F32, 4, 10));
    ACCEPT("f32[4, 3]", GC_OP_SLICE, A_SLICE(1, 2, 5), NULL, x);
    ACCEPT("f32[4, 10]", GC_OP_SLICE, A_SLICE(1, 0, 10), NULL, x);
    ACCEPT("f32[1, 10]", GC_OP_SLICE, A_SLICE(0, 3, 4), NULL, x);
    REJECT("slice: axis 2 is out of range for rank 2", GC_OP_SLICE, A_SLICE(2, 0, 1), NULL, x);
    REJECT("slice: axis -1 is out of range for rank 2", GC_OP_SLICE, A_SLICE(-1, 0, 1), NULL, x);
    REJECT("slice: range 5..5 is empty or outside dim 1 of size 10", GC_OP_SLICE, A_SLICE(1, 5, 5), NULL, x);
    REJECT("slice: range 6..3 is empty or outside dim 1 of size 10", GC_OP_SLICE, A_SLICE(1, 6, 3), NULL, x);
    REJECT("slice: range 0..11 is empty or outside dim 1 of size 10", GC_OP_SLICE, A_SLICE(1, 0, 11), NULL, x);
    REJECT("slice: range -1..2 is empty or outside dim 0 of size 4", GC_OP_SLICE, A_SLICE(0, -1, 2), NULL, x);
    REJECT("slice: axis 0 is out of range for rank 0", GC_OP_SLICE, A_SLICE(0, 0, 1), NULL, in(SCALAR(GC_F32)));

    ACCEPT("f32[7, 10]", GC_OP_PAD, A_PAD(0, 1, 2), NULL, x);
    ACCEPT("f32[4, 13]", GC_OP_PAD, A_PAD(1, 3, 0), NULL, x);
    ACCEPT("f32[4, 10]", GC_OP_PAD, A_PAD(1, 0, 0), NULL, x);
    REJECT("pad: axis 2 is out of range for rank 2", GC_OP_PAD, A_PAD(2, 1, 1), NULL, x);
    REJECT("pad: axis -1 is out of range for rank 2", GC_OP_PAD, A_PAD(-1, 1, 1), NULL, x);
    REJECT("pad: before and after must be between 0 and 2^40", GC_OP_PAD, A_PAD(0, -1, 0), NULL, x);
    REJECT("pad: before and after must be between 0 and 2^40", GC_OP_PAD, A_PAD(0, 0, -5), NULL, x);
    REJECT("pad: before and after must be between 0 and 2^40", GC_OP_PAD, A_PAD(0, ((int64_t)1 << 40) + 1, 0), NULL, x);
    REJECT("pad: before and after must be between 0 and 2^40", GC_OP_PAD, A_PAD(0, 0, INT64_MAX), NULL, x);
    REJECT("pad: result has more than 2^40 elements", GC_OP_PAD, A_PAD(0, (int64_t)1 << 40, 0), NULL, x);
}

static void test_concat(void **state) {
    (void)state;
    gc_node *a = in(TY(GC_F32, 2, 3)), *b = in(TY(GC_F32, 4, 3)), *c = in(TY(GC_F32, 2, 5));
    ACCEPT("f32[6, 3]", GC_OP_CONCAT, A_AXIS(0), NULL, a, b);
    ACCEPT("f32[8, 3]", GC_OP_CONCAT, A_AXIS(0), NULL, a, b, a);
    ACCEPT("f32[2, 8]", GC_OP_CONCAT, A_AXIS(1), NULL, a, c);
    ACCEPT("f32[2, 3]", GC_OP_CONCAT, A_AXIS(1), NULL, a);
    REJECT("concat: operands f32[2, 3] and f32[4, 3] differ off the concat axis", GC_OP_CONCAT, A_AXIS(1), NULL, a, b);
    REJECT("concat: operands f32[2, 3] and i32[2, 3] differ off the concat axis", GC_OP_CONCAT, A_AXIS(0), NULL, a,
           in(TY(GC_I32, 2, 3)));
    REJECT("concat: operands f32[2, 3] and f32[2, 3, 1] differ off the concat axis", GC_OP_CONCAT, A_AXIS(0), NULL, a,
           in(TY(GC_F32, 2, 3, 1)));
    REJECT("concat: axis 2 is out of range for rank 2", GC_OP_CONCAT, A_AXIS(2), NULL, a, a);
    REJECT("concat: axis -1 is out of range for rank 2", GC_OP_CONCAT, A_AXIS(-1), NULL, a, a);
    REJECT("concat: axis 0 is out of range for rank 0", GC_OP_CONCAT, A_AXIS(0), NULL, in(SCALAR(GC_F32)));
    REJECT0("concat: expects at least 1 operand, got 0", GC_OP_CONCAT, A_AXIS(0), NULL);
}

static void test_take_scatter_one_hot(void **state) {
    (void)state;
    gc_node *table = in(TY(GC_F32, 10, 4)), *idx = in(TY(GC_I32, 2, 3)), *fidx = in(TY(GC_F32, 2, 3));
    ACCEPT("f32[2, 3, 4]", GC_OP_TAKE, NULL, NULL, table, idx);
    ACCEPT("f32[4]", GC_OP_TAKE, NULL, NULL, table, in(SCALAR(GC_I32)));
    ACCEPT("i32[2, 3]", GC_OP_TAKE, NULL, NULL, in(TY(GC_I32, 10)), idx);
    ACCEPT("f32[1, 1, 1, 1, 1, 4]", GC_OP_TAKE, NULL, NULL, table, in(TY(GC_I32, 1, 1, 1, 1, 1)));
    REJECT("take: indices must be i32, got f32[2, 3]", GC_OP_TAKE, NULL, NULL, table, fidx);
    REJECT("take: the table must have rank 1 or more, got f32[]", GC_OP_TAKE, NULL, NULL, in(SCALAR(GC_F32)), idx);
    REJECT("take: result rank exceeds 6 for f32[10, 2, 2, 2] indexed by i32[2, 2, 2, 2]", GC_OP_TAKE, NULL, NULL,
           in(TY(GC_F32, 10, 2, 2, 2)), in(TY(GC_I32, 2, 2, 2, 2)));

    gc_node *upd = in(TY(GC_F32, 2, 3, 4));
    ACCEPT("f32[10, 4]", GC_OP_SCATTER_ADD, NULL, &TY(GC_F32, 10, 4), upd, idx);
    ACCEPT("f32[7]", GC_OP_SCATTER_ADD, NULL, &TY(GC_F32, 7), in(TY(GC_F32, 2, 3)), idx);
    ACCEPT("f32[5, 4]", GC_OP_SCATTER_ADD, NULL, &TY(GC_F32, 5, 4), in(TY(GC_F32, 4)), in(SCALAR(GC_I32)));
    REJECT("scatter_add: indices must be i32, got f32[2, 3]", GC_OP_SCATTER_ADD, NULL, &TY(GC_F32, 10, 4), upd, fidx);
    REJECT("scatter_add: the result must have rank 1 or more, got f32[]", GC_OP_SCATTER_ADD, NULL,
           &SCALAR(GC_F32), upd, idx);
    REJECT("scatter_add: updates f32[2, 3, 4] do not match indices and result f32[10, 5]", GC_OP_SCATTER_ADD, NULL,
           &TY(GC_F32, 10, 5), upd, idx);
    REJECT("scatter_add: updates f32[2, 3, 4] do not match indices and result f32[10]", GC_OP_SCATTER_ADD, NULL,
           &TY(GC_F32, 10), upd, idx);
    REJECT("scatter_add: updates f32[2, 3, 4] do not match indices and result f64[10, 4]", GC_OP_SCATTER_ADD, NULL,
           &TY(GC_F64, 10, 4), upd, idx);
    REJECT("scatter_add: updates f32[3, 2, 4] do not match indices and result f32[10, 4]", GC_OP_SCATTER_ADD, NULL,
           &TY(GC_F32, 10, 4), in(TY(GC_F32, 3, 2, 4)), idx);

    gc_node *base = in(TY(GC_F32, 10, 4));
    ACCEPT("f32[10, 4]", GC_OP_INDEX_ADD, NULL, NULL, base, upd, idx);
    ACCEPT("f32[7]", GC_OP_INDEX_ADD, NULL, NULL, in(TY(GC_F32, 7)), in(TY(GC_F32, 2, 3)), idx);
    ACCEPT("i32[5, 4]", GC_OP_INDEX_ADD, NULL, NULL, in(TY(GC_I32, 5, 4)), in(TY(GC_I32, 4)), in(SCALAR(GC_I32)));
    REJECT("index_add: indices must be i32, got f32[2, 3]", GC_OP_INDEX_ADD, NULL, NULL, base, upd, fidx);
    REJECT("index_add: the base must have rank 1 or more, got f32[]", GC_OP_INDEX_ADD, NULL, NULL, in(SCALAR(GC_F32)),
           upd, idx);
    REJECT("index_add: updates f32[2, 3, 4] do not match indices and base f32[10, 5]", GC_OP_INDEX_ADD, NULL, NULL,
           in(TY(GC_F32, 10, 5)), upd, idx);
    REJECT("index_add: updates f32[2, 3, 4] do not match indices and base f64[10, 4]", GC_OP_INDEX_ADD, NULL, NULL,
           in(TY(GC_F64, 10, 4)), upd, idx);
    REJECT("index_add: updates f32[3, 2, 4] do not match indices and base f32[10, 4]", GC_OP_INDEX_ADD, NULL, NULL,
           base, in(TY(GC_F32, 3, 2, 4)), idx);

    ACCEPT("f32[2, 3, 5]", GC_OP_ONE_HOT, A_ONE_HOT(5), NULL, idx);
    ACCEPT("f32[3]", GC_OP_ONE_HOT, A_ONE_HOT(3), NULL, in(SCALAR(GC_I32)));
    ACCEPT("f32[1, 1, 1, 1, 1, 2]", GC_OP_ONE_HOT, A_ONE_HOT(2), NULL, in(TY(GC_I32, 1, 1, 1, 1, 1)));
    REJECT("one_hot: indices must be i32, got f32[2, 3]", GC_OP_ONE_HOT, A_ONE_HOT(5), NULL, fidx);
    REJECT("one_hot: depth must be at least 1", GC_OP_ONE_HOT, A_ONE_HOT(0), NULL, idx);
    REJECT("one_hot: depth must be at least 1", GC_OP_ONE_HOT, A_ONE_HOT(-4), NULL, idx);
    REJECT("one_hot: result rank exceeds 6 for i32[1, 1, 1, 1, 1, 1]", GC_OP_ONE_HOT, A_ONE_HOT(2), NULL,
           in(TY(GC_I32, 1, 1, 1, 1, 1, 1)));
    REJECT("one_hot: result has more than 2^40 elements", GC_OP_ONE_HOT, A_ONE_HOT((int64_t)1 << 40), NULL, idx);
}

static void test_pool(void **state) {
    (void)state;
    gc_node *x1 = in(TY(GC_F32, 1, 1, 5)), *x2 = in(TY(GC_F32, 1, 2, 7, 6)), *x3 = in(TY(GC_F32, 1, 1, 4, 5, 6));
    ACCEPT("f32[1, 1, 2]", GC_OP_MAX_POOL, A_POOL((2), (2), (0), (1), false, true), NULL, x1);
    /* ceil_mode keeps the partial last window, and drops one that would start in the right padding. */
    ACCEPT("f32[1, 1, 3]", GC_OP_MAX_POOL, A_POOL((2), (2), (0), (1), true, true), NULL, x1);
    ACCEPT("f32[1, 1, 3]", GC_OP_AVG_POOL, A_POOL((2), (2), (1), (1), true, true), NULL, x1);
    ACCEPT("f32[1, 2, 3, 5]", GC_OP_MAX_POOL, A_POOL((3, 2), (2, 1), (1, 1), (2, 3), false, true), NULL, x2);
    gc_node *p3 = ACCEPT("f32[1, 1, 3, 5, 3]", GC_OP_AVG_POOL, A_POOL((2, 3, 2), (2, 1, 2), (1, 1, 0), (1, 1, 1), true, false), NULL, x3);
    ACCEPT("f64[2, 3, 1]", GC_OP_AVG_POOL, A_POOL((4), (4), (0), (1), false, true), NULL, in(TY(GC_F64, 2, 3, 4)));
    REJECT("max_pool: needs [N, C, *spatial] with 1 to 3 spatial dims, got f32[2, 5]", GC_OP_MAX_POOL,
           A_POOL((2), (2), (0), (1), false, true), NULL, in(TY(GC_F32, 2, 5)));
    REJECT("max_pool: needs [N, C, *spatial] with 1 to 3 spatial dims, got f32[1, 1, 2, 2, 2, 2]", GC_OP_MAX_POOL,
           A_POOL((2, 2, 2), (2, 2, 2), (0, 0, 0), (1, 1, 1), false, true), NULL, in(TY(GC_F32, 1, 1, 2, 2, 2, 2)));
    REJECT("avg_pool: needs a float operand, got i32[1, 1, 4]", GC_OP_AVG_POOL, A_POOL((2), (2), (0), (1), false, true),
           NULL, in(TY(GC_I32, 1, 1, 4)));
    REJECT("max_pool: kernel [0] must be positive", GC_OP_MAX_POOL, A_POOL((0), (2), (0), (1), false, true), NULL, x1);
    REJECT("max_pool: stride [3, 0] must be positive", GC_OP_MAX_POOL, A_POOL((2, 2), (3, 0), (0, 0), (1, 1), false, true), NULL, x2);
    REJECT("max_pool: dilation [0] must be positive", GC_OP_MAX_POOL, A_POOL((2), (2), (0), (0), false, true), NULL, x1);
    REJECT("max_pool: padding [-1] must be non-negative", GC_OP_MAX_POOL, A_POOL((2), (2), (-1), (1), false, true), NULL, x1);
    REJECT("max_pool: stride has entries beyond the 1 spatial dims of f32[1, 1, 5]", GC_OP_MAX_POOL,
           A_POOL((2), (2, 1), (0), (1), false, true), NULL, x1);
    REJECT("max_pool: padding [2] must be at most half of kernel [3]", GC_OP_MAX_POOL, A_POOL((3), (1), (2), (1), false, true), NULL, x1);
    REJECT("avg_pool: dilation must be 1", GC_OP_AVG_POOL, A_POOL((2), (2), (0), (2), false, true), NULL, x1);
    REJECT("max_pool: kernel [3, 2] (dilation 4) is larger than the padded input f32[1, 2, 7, 6]", GC_OP_MAX_POOL,
           A_POOL((3, 2), (1, 1), (0, 0), (4, 1), false, true), NULL, x2);
    REJECT("avg_pool: kernel [6] (dilation 1) is larger than the padded input f32[1, 1, 5]", GC_OP_AVG_POOL,
           A_POOL((6), (1), (0), (1), false, true), NULL, x1);

    gc_node *m = ACCEPT("f32[1, 1, 2]", GC_OP_MAX_POOL, A_POOL((2), (2), (0), (1), false, true), NULL, x1);
    ACCEPT("f32[1, 1, 5]", GC_OP_MAX_POOL_GRAD, A_POOL((2), (2), (0), (1), false, true), NULL, x1, m);
    REJECT("max_pool_grad: dy f32[1, 1, 2] is not the pooled type f32[1, 1, 3] of f32[1, 1, 5]", GC_OP_MAX_POOL_GRAD,
           A_POOL((2), (2), (0), (1), true, true), NULL, x1, m);
    REJECT("max_pool_grad: padding [2] must be at most half of kernel [2]", GC_OP_MAX_POOL_GRAD,
           A_POOL((2), (2), (2), (1), false, true), NULL, x1, m);
    const gc_attr *a3 = A_POOL((2, 3, 2), (2, 1, 2), (1, 1, 0), (1, 1, 1), true, false);
    ACCEPT("f32[1, 1, 4, 5, 6]", GC_OP_AVG_POOL_GRAD, a3, &TY(GC_F32, 1, 1, 4, 5, 6), p3);
    REJECT("avg_pool_grad: dy f32[1, 1, 3, 5, 3] is not the pooled type f32[1, 1, 3, 5, 4] of f32[1, 1, 4, 5, 7]",
           GC_OP_AVG_POOL_GRAD, a3, &TY(GC_F32, 1, 1, 4, 5, 7), p3);
    REJECT("avg_pool_grad: dy f32[1, 1, 3, 5, 3] is not the pooled type f64[1, 1, 3, 5, 3] of f64[1, 1, 4, 5, 6]",
           GC_OP_AVG_POOL_GRAD, a3, &TY(GC_F64, 1, 1, 4, 5, 6), p3);
}

/* Convolution: the same stride, paddings and dilation along every spatial dim (1-d and 2-d). */
#define A_CONV1(s, pb, pa, d, g) (&(gc_attr){.conv = {.stride = {s}, .pad_before = {pb}, .pad_after = {pa}, .dilation = {d}, .groups = (g)}})
#define A_CONV2(s, p, d, g) (&(gc_attr){.conv = {.stride = {s, s}, .pad_before = {p, p}, .pad_after = {p, p}, .dilation = {d, d}, .groups = (g)}})

static void test_conv(void **state) {
    (void)state;
    gc_node *x = in(TY(GC_F32, 2, 4, 8, 8)), *w = in(TY(GC_F32, 6, 4, 3, 3));
    ACCEPT("f32[2, 6, 8, 8]", GC_OP_CONV, A_CONV2(1, 1, 1, 1), NULL, x, w);
    ACCEPT("f32[2, 6, 4, 4]", GC_OP_CONV, A_CONV2(2, 1, 1, 1), NULL, x, w);
    ACCEPT("f32[2, 6, 6, 6]", GC_OP_CONV, A_CONV2(1, 0, 1, 2), NULL, x, in(TY(GC_F32, 6, 2, 3, 3)));
    ACCEPT("f32[2, 4, 6]", GC_OP_CONV, A_CONV1(1, 0, 0, 2, 1), NULL, in(TY(GC_F32, 2, 3, 10)), in(TY(GC_F32, 4, 3, 3)));
    ACCEPT("f32[2, 4, 9]", GC_OP_CONV, A_CONV1(1, 0, 1, 1, 1), NULL, in(TY(GC_F32, 2, 3, 10)), in(TY(GC_F32, 4, 3, 3)));
    ACCEPT("f64[1, 3, 3, 3, 3]", GC_OP_CONV,
           (&(gc_attr){.conv = {.stride = {1, 1, 1}, .dilation = {1, 1, 1}, .groups = 1}}), NULL,
           in(TY(GC_F64, 1, 2, 4, 4, 4)), in(TY(GC_F64, 3, 2, 2, 2, 2)));
    REJECT("conv: needs x and w of the same float type (x f32[2, 4, 8, 8], w f64[6, 4, 3, 3])", GC_OP_CONV,
           A_CONV2(1, 1, 1, 1), NULL, x, in(TY(GC_F64, 6, 4, 3, 3)));
    REJECT("conv: x must be [N, C, *spatial] with 1 to 3 spatial dims (x f32[2, 4], w f32[6, 4])", GC_OP_CONV,
           A_CONV2(1, 1, 1, 1), NULL, in(TY(GC_F32, 2, 4)), in(TY(GC_F32, 6, 4)));
    REJECT("conv: w must be [O, C/groups, *kernel] with as many spatial dims as x (x f32[2, 4, 8, 8], w f32[6, 4, 3])",
           GC_OP_CONV, A_CONV2(1, 1, 1, 1), NULL, x, in(TY(GC_F32, 6, 4, 3)));
    REJECT("conv: 4 input channels are not divisible by groups=3", GC_OP_CONV, A_CONV2(1, 1, 1, 3), NULL, x,
           in(TY(GC_F32, 6, 1, 3, 3)));
    REJECT("conv: 5 output channels are not divisible by groups=2", GC_OP_CONV, A_CONV2(1, 1, 1, 2), NULL, x,
           in(TY(GC_F32, 5, 2, 3, 3)));
    REJECT("conv: w's dim 1 must be the input channels / groups (x f32[2, 4, 8, 8], w f32[6, 3, 3, 3])", GC_OP_CONV,
           A_CONV2(1, 1, 1, 1), NULL, x, in(TY(GC_F32, 6, 3, 3, 3)));
    REJECT("conv: the kernel (dilated size [5, 5]) is larger than the padded input ([4, 4], padded [4, 4])", GC_OP_CONV,
           A_CONV2(1, 0, 1, 1), NULL, in(TY(GC_F32, 1, 1, 4, 4)), in(TY(GC_F32, 1, 1, 5, 5)));
    REJECT("conv: the kernel (dilated size [9, 9]) is larger than the padded input ([8, 8], padded [8, 8])", GC_OP_CONV,
           A_CONV2(1, 0, 4, 1), NULL, x, w);
    REJECT("conv: strides and dilations must be at least 1 and paddings at least 0", GC_OP_CONV, A_CONV2(0, 1, 1, 1),
           NULL, x, w);
    REJECT("conv: strides and dilations must be at least 1 and paddings at least 0", GC_OP_CONV, A_CONV2(1, -1, 1, 1),
           NULL, x, w);
    REJECT("conv: groups must be at least 1, got 0", GC_OP_CONV, A_CONV2(1, 1, 1, 0), NULL, x, w);
    REJECT("conv: attributes have entries beyond the 1 spatial dims of x", GC_OP_CONV, A_CONV2(1, 1, 1, 1), NULL,
           in(TY(GC_F32, 2, 3, 10)), in(TY(GC_F32, 4, 3, 3)));

    /* The gradients state x's (output_padding: 7 and 8 both give 4 at stride 2) and w's type. */
    gc_node *dy = in(TY(GC_F32, 2, 6, 4, 4));
    ACCEPT("f32[2, 4, 8, 8]", GC_OP_CONV_INPUT_GRAD, A_CONV2(2, 1, 1, 1), &TY(GC_F32, 2, 4, 8, 8), dy, w);
    ACCEPT("f32[2, 4, 7, 7]", GC_OP_CONV_INPUT_GRAD, A_CONV2(2, 1, 1, 1), &TY(GC_F32, 2, 4, 7, 7), dy, w);
    REJECT("conv_input_grad: dy is f32[2, 6, 4, 4] but the convolution gives f32[2, 6, 3, 3]", GC_OP_CONV_INPUT_GRAD,
           A_CONV2(2, 1, 1, 1), &TY(GC_F32, 2, 4, 6, 6), dy, w);
    REJECT("conv_input_grad: 4 input channels are not divisible by groups=3", GC_OP_CONV_INPUT_GRAD,
           A_CONV2(2, 1, 1, 3), &TY(GC_F32, 2, 4, 8, 8), dy, w);
    ACCEPT("f32[6, 4, 3, 3]", GC_OP_CONV_WEIGHT_GRAD, A_CONV2(2, 1, 1, 1), &TY(GC_F32, 6, 4, 3, 3), x, dy);
    REJECT("conv_weight_grad: dy is f32[2, 6, 4, 4] but the convolution gives f32[2, 6, 8, 8]", GC_OP_CONV_WEIGHT_GRAD,
           A_CONV2(1, 1, 1, 1), &TY(GC_F32, 6, 4, 3, 3), x, dy);
    REJECT("conv_weight_grad: dy is f32[2, 6, 4, 4] but the convolution gives f32[2, 5, 4, 4]", GC_OP_CONV_WEIGHT_GRAD,
           A_CONV2(2, 1, 1, 1), &TY(GC_F32, 5, 4, 3, 3), x, dy);
}

static void test_location_without_file(void **state) {
    (void)state;
    /* Errors from nodes built without a file keep the line and leave the file empty. */
    gc_node *a = in(TY(GC_F32, 2)), *b = in(TY(GC_F32, 3));
    gc_error err = {0};
    gc_node *in2[2] = {a, b};
    assert_null(gc_graph_make(graph, GC_OP_ADD, in2, 2, NULL, NULL, NULL, (gc_loc){NULL, 42, 9}, &err));
    assert_string_equal(err.message, "add: cannot broadcast f32[2] with f32[3]");
    assert_string_equal(err.file, "");
    assert_int_equal(err.line, 42);
    assert_int_equal(err.col, 9);
    /* A NULL error slot is allowed: the failure is still reported by the return value. */
    assert_null(gc_graph_make(graph, GC_OP_ADD, in2, 2, NULL, NULL, NULL, (gc_loc){NULL, 0, 0}, NULL));
}

/* Rules that can only accept: a source's type is whatever was stated (gc_graph_make checks its
 * dims) and a plain unary op keeps its operand's type. */
static const char *const rules_that_cannot_refuse[] = {"source", "unary"};

/* recurrence and recurrence_grad: the cell picks the gate count and the operand count (c0 for lstm). */
#define A_RECUR(c, r) (&(gc_attr){.recurrence = {.cell = (c), .reverse = (r)}})
static void test_recurrence(void **state) {
    (void)state;
    gc_node *x8 = in(TY(GC_F32, 2, 3, 8)), *w8 = in(TY(GC_F32, 8, 2)), *b8 = in(TY(GC_F32, 8)), *h = in(TY(GC_F32, 2, 2));
    gc_node *x6 = in(TY(GC_F32, 2, 3, 6)), *w6 = in(TY(GC_F32, 6, 2)), *b6 = in(TY(GC_F32, 6));
    gc_node *x2 = in(TY(GC_F32, 2, 3, 2)), *w2 = in(TY(GC_F32, 2, 2)), *b2 = in(TY(GC_F32, 2));
    gc_node *lstm = ACCEPT("f32[2, 3, 12]", GC_OP_RECURRENCE, A_RECUR(2, true), NULL, x8, w8, b8, h, h);
    gc_node *gru = ACCEPT("f32[2, 3, 10]", GC_OP_RECURRENCE, A_RECUR(3, false), NULL, x6, w6, b6, h);
    gc_node *rnn = ACCEPT("f32[2, 3, 2]", GC_OP_RECURRENCE, A_RECUR(1, false), NULL, x2, w2, b2, h);
    ACCEPT("f32[2, 4, 8]", GC_OP_RECURRENCE_GRAD, A_RECUR(2, true), NULL, lstm, lstm, w8, h, h);
    ACCEPT("f32[2, 4, 8]", GC_OP_RECURRENCE_GRAD, A_RECUR(3, false), NULL, gru, gru, w6, h);
    ACCEPT("f32[2, 4, 2]", GC_OP_RECURRENCE_GRAD, A_RECUR(0, false), NULL, rnn, rnn, w2, h);
    REJECT("recurrence: cell 2 takes 5 operands, got 4", GC_OP_RECURRENCE, A_RECUR(2, false), NULL, x8, w8, b8, h);
    REJECT("recurrence: cell 7 is not 0 (rnn_tanh), 1 (rnn_relu), 2 (lstm) or 3 (gru)", GC_OP_RECURRENCE,
           A_RECUR(7, false), NULL, x8, w8, b8, h);
    REJECT("recurrence: w_hh must be [gates * hidden, hidden] of the operands' dtype, got f32[8, 2]", GC_OP_RECURRENCE,
           A_RECUR(3, false), NULL, x8, w8, b8, h);
    REJECT("recurrence: xproj's last dim must be w_hh's rows: f32[2, 3, 8] and f32[6, 2]", GC_OP_RECURRENCE,
           A_RECUR(3, false), NULL, x8, w6, b6, h);
    REJECT("recurrence: initial states must be [batch, hidden], got f32[2, 3, 2] and f32[2, 2]", GC_OP_RECURRENCE,
           A_RECUR(0, false), NULL, x2, w2, b2, x2);
    REJECT("recurrence_grad: the packed result and its adjoint must be [batch, time, packed width], got f32[2, 3, 10] and f32[2, 3, 12]",
           GC_OP_RECURRENCE_GRAD, A_RECUR(3, false), NULL, gru, lstm, w6, h);
}

static void test_every_op_and_rule_covered(void **state) {
    (void)state;
    static const struct {
        const char *shape;
    } rows[GC_OP_COUNT] = {
#define GC_OP(E, name, arity, attr, cls, flags, shape, grad, doc) [GC_OP_##E] = {#shape},
#include "ir/ops.def"
#undef GC_OP
    };
    for (int op = 0; op < GC_OP_COUNT; op++)
        if (!accepted[op]) fail_msg("op %s has no accepted case", gc_op_table[op].name);
    for (int op = 0; op < GC_OP_COUNT; op++) {
        bool refuses = true;
        for (size_t k = 0; k < sizeof rules_that_cannot_refuse / sizeof rules_that_cannot_refuse[0]; k++)
            if (strcmp(rows[op].shape, rules_that_cannot_refuse[k]) == 0) refuses = false;
        if (!refuses) continue;
        bool seen = false;
        for (int other = 0; other < GC_OP_COUNT; other++)
            if (strcmp(rows[other].shape, rows[op].shape) == 0 && rejected[other]) seen = true;
        if (!seen) fail_msg("shape rule %s (op %s) has no rejected case", rows[op].shape, gc_op_table[op].name);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sources),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_unary),
        cmocka_unit_test(test_cast),
        cmocka_unit_test(test_binary_and_compare),
        cmocka_unit_test(test_select),
        cmocka_unit_test(test_reduce),
        cmocka_unit_test(test_argmax_softmax),
        cmocka_unit_test(test_matmul),
        cmocka_unit_test(test_reshape_broadcast),
        cmocka_unit_test(test_permute),
        cmocka_unit_test(test_slice_pad),
        cmocka_unit_test(test_concat),
        cmocka_unit_test(test_take_scatter_one_hot),
        cmocka_unit_test(test_pool),
        cmocka_unit_test(test_conv),
        cmocka_unit_test(test_recurrence),
        cmocka_unit_test(test_location_without_file),
        cmocka_unit_test(test_every_op_and_rule_covered), /* last: reads what the others covered */
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
