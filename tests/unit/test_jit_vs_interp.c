/*
 * test_jit_vs_interp.c: generated code against the reference interpreter, op by op.
 *
 * Every op of ir/ops.def gets small graphs (broadcasting, odd extents such as 7 and 13 so vector
 * loops have tails, transposed and batched matmul, keepdims, out-of-range indices, NaN and inf
 * where an op's semantics say what happens to them); each graph runs on the interpreter in f32
 * precision and on the JIT with the same inputs, and EVERY node's value is compared: exactly for
 * i32 and for ops whose f32 result is exact, within float tolerance otherwise. An op without a
 * case fails the suite, listing it. Then autodiff's gradients of a small MLP and a few SGD steps
 * through the update path are compared the same way.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ir/build.h"
#include "ir/recurrence.h"
#include "passes/autodiff.h"
#include "passes/losses.h"
#include "runtime/interp.h"
#include "runtime/jit.h"

/* How the values of float and i32 sources are drawn. */
typedef enum domain {
    ANY,      /* uniform in (-3, 3) */
    POSITIVE, /* uniform in (0.1, 3) */
    HUGE_F,   /* uniform in (-5e9, 5e9): beyond i32 on both sides */
    SMALLINT, /* integers in [-3, 3] as floats: ties for comparisons and argmax */
    BF16_EXACT, /* +-q/128 (64 <= q <= 256) nudged just under or exactly half a bf16 step away, so
                   bf16 rounding decides the operand and (at most 8 significant bits) every sum of
                   a few hundred products is exact in f32: bf16 matmuls must then match bit for bit */
} domain;

typedef struct test_case {
    gc_graph *g;
    domain dom;
    bool specials;      /* NaN, +-inf and -0 sprinkled into float sources */
    int int_lo, int_hi; /* i32 sources: uniform integers in [lo, hi] */
    bool int_extremes;  /* i32 sources also hold INT_MIN, INT_MAX, -1 and 0 */
    double rtol, atol;  /* f32 tolerance (0: defaults) */
} test_case;

static uint64_t rng_state;

static double uniform(double lo, double hi) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (double)(rng_state >> 11) / 9007199254740992.0;
}

static gc_type ty(gc_dtype dtype, int rank, ...) {
    va_list ap;
    int64_t dims[GC_MAX_RANK];
    va_start(ap, rank);
    for (int i = 0; i < rank; i++) dims[i] = va_arg(ap, int);
    va_end(ap);
    return gc_type_make(dtype, rank, dims);
}

static gc_node *named(gc_builder *b, gc_op op, const char *name, gc_type t) {
    return gc_graph_make(b->graph, op, NULL, 0, NULL, &t, name, b->loc, b->err);
}

static gc_node *in_(gc_builder *b, const char *name, gc_type t) { return named(b, GC_OP_INPUT, name, t); }

static gc_node *axis_op(gc_builder *b, gc_op op, gc_node *x, int axis) { return gc_axis_op(b, op, x, axis); }

static gc_node *attr_op(gc_builder *b, gc_op op, gc_node *const *xs, int n, const gc_attr *a, const gc_type *t) {
    return gc_build(b, op, xs, n, a, t);
}

static gc_attr no_attr(void) {
    gc_attr a;
    memset(&a, 0, sizeof a);
    return a;
}

static gc_node *clamp(gc_builder *b, gc_node *x, double lo, double hi) {
    gc_attr a = no_attr();
    a.clamp.lo = lo;
    a.clamp.hi = hi;
    return attr_op(b, GC_OP_CLAMP, &x, 1, &a, NULL);
}

static gc_node *iota(gc_builder *b, gc_type t, int axis) {
    gc_attr a = no_attr();
    a.axis.axis = axis;
    return attr_op(b, GC_OP_IOTA, NULL, 0, &a, &t);
}

static gc_node *random_uniform(gc_builder *b, gc_node *step, gc_type t, int64_t seed, int64_t stream) {
    gc_attr a = no_attr();
    a.random.seed = seed;
    a.random.stream = stream;
    return attr_op(b, GC_OP_RANDOM_UNIFORM, &step, 1, &a, &t);
}

static gc_node *scatter_add(gc_builder *b, gc_node *upd, gc_node *idx, gc_type t) {
    gc_node *xs[2] = {upd, idx};
    return attr_op(b, GC_OP_SCATTER_ADD, xs, 2, NULL, &t);
}

static bool is_unary_float(gc_op op) {
    switch (op) {
    case GC_OP_EXP: case GC_OP_TANH: case GC_OP_SIGMOID: case GC_OP_GELU: case GC_OP_GELU_TANH:
    case GC_OP_SILU: case GC_OP_SOFTPLUS: case GC_OP_LOG_SIGMOID: case GC_OP_ERF: case GC_OP_SIN: case GC_OP_COS:
        return true;
    default:
        return false;
    }
}

static bool is_binary(gc_op op) {
    return op == GC_OP_ADD || op == GC_OP_SUB || op == GC_OP_MUL || op == GC_OP_DIV || op == GC_OP_MAXIMUM ||
           op == GC_OP_MINIMUM || op == GC_OP_LT || op == GC_OP_LE || op == GC_OP_GT || op == GC_OP_GE ||
           op == GC_OP_EQ || op == GC_OP_NE;
}

/* Ops that also take i32 operands, element for element. */
static bool takes_int(gc_op op) {
    return op == GC_OP_NEG || op == GC_OP_ABS || op == GC_OP_SQUARE || op == GC_OP_RELU || op == GC_OP_SIGN ||
           op == GC_OP_STOP_GRADIENT || op == GC_OP_ALL_REDUCE_SUM;
}

/* recurrence variants 0-7: each cell forwards and in reverse over 7 steps of a batch of 5 (split
 * by rows over the pool), hidden 20; variant 8 an f64 lstm. recurrence_grad variants 0-3: the
 * backward loop of each cell (1 and 3 in reverse) under a random adjoint. Weights are scaled
 * down so the states neither saturate nor explode. */
static gc_node *recurrence_case(gc_builder *b, gc_op op, int v) {
    bool f64 = op == GC_OP_RECURRENCE && v == 8;
    int cell = f64 ? GC_CELL_LSTM : op == GC_OP_RECURRENCE ? v / 2 : v;
    bool reverse = v % 2;
    gc_dtype t = f64 ? GC_F64 : GC_F32;
    int64_t N = f64 ? 3 : 5, T = f64 ? 4 : 7, H = f64 ? 6 : 20, G = gc_cell_gates(cell);
    gc_node *in[5] = {in_(b, "xproj", ty(t, 3, N, T, G * H)), gc_mul_scalar(b, in_(b, "w_hh", ty(t, 2, G * H, H)), 0.1),
                      in_(b, "b_hh", ty(t, 1, G * H)), in_(b, "h0", ty(t, 2, N, H)), NULL};
    if (cell == GC_CELL_LSTM) in[4] = in_(b, "c0", ty(t, 2, N, H));
    gc_attr a;
    memset(&a, 0, sizeof a);
    a.recurrence.cell = cell;
    a.recurrence.reverse = reverse;
    int count = gc_cell_operands(cell);
    gc_node *y = attr_op(b, GC_OP_RECURRENCE, in, count, &a, NULL);
    if (op == GC_OP_RECURRENCE || !y) return y;
    gc_node *back[5] = {y, in_(b, "dy", y->type), in[1], in[3], in[4]};
    return attr_op(b, GC_OP_RECURRENCE_GRAD, back, count, &a, NULL);
}

/* Builds variant `v` of op's cases; false when op has no such variant. */
/* Pooling windows for the JIT cases: x's type and the pool attribute (one entry per spatial dim). */
typedef struct jit_pool {
    gc_dtype dtype;
    int rank;
    int dims[5];
    int64_t kernel[3], stride[3], padding[3], dilation[3];
    bool ceil_mode, count_include_pad;
    domain dom;
    bool specials;
} jit_pool;

/* Odd extents (tails), overlapping and dilated windows, ceil_mode, padding on both kinds of
 * divisor, a kernel large enough for the pool to split by planes, ties, NaN and inf. */
static const jit_pool jit_pools[] = {
    {GC_F32, 3, {2, 3, 13}, {3}, {2}, {1}, {1}, false, true, ANY, false},
    {GC_F32, 4, {4, 8, 17, 19}, {2, 2}, {2, 2}, {0, 0}, {1, 1}, false, true, ANY, false},
    {GC_F32, 4, {2, 3, 13, 7}, {3, 3}, {2, 1}, {1, 1}, {2, 1}, true, false, ANY, true},
    {GC_F32, 5, {1, 2, 5, 6, 7}, {2, 3, 2}, {2, 1, 3}, {1, 1, 0}, {1, 1, 1}, true, false, ANY, false},
    {GC_F32, 4, {2, 3, 9, 11}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, false, true, SMALLINT, false},
    {GC_F64, 4, {2, 2, 9, 9}, {3, 3}, {2, 2}, {1, 1}, {1, 1}, true, true, ANY, false},
    /* Disjoint windows, whose gradients store rather than add: covering the plane (no zeroing),
     * with ties; with padding and a gap between windows; dilated and specials. */
    {GC_F32, 4, {4, 8, 16, 18}, {2, 2}, {2, 2}, {0, 0}, {1, 1}, false, true, SMALLINT, false},
    {GC_F32, 4, {2, 3, 11, 10}, {2, 2}, {3, 2}, {1, 1}, {1, 1}, true, false, ANY, false},
    {GC_F32, 3, {3, 5, 17}, {2}, {4}, {1}, {3}, false, false, ANY, true},
    /* A window of more than 64 taps: a loop nest rather than unrolled. */
    {GC_F32, 4, {1, 2, 20, 19}, {9, 8}, {3, 2}, {4, 4}, {1, 1}, true, false, ANY, false},
};

static gc_node *jit_pool_case(gc_builder *b, gc_op op, int v, test_case *c) {
    const jit_pool *p = &jit_pools[v];
    bool avg = op == GC_OP_AVG_POOL || op == GC_OP_AVG_POOL_GRAD;
    gc_attr a = no_attr();
    for (int d = 0; d < p->rank - 2; d++) {
        a.pool.kernel[d] = p->kernel[d];
        a.pool.stride[d] = p->stride[d];
        a.pool.padding[d] = p->padding[d];
        a.pool.dilation[d] = avg ? 1 : p->dilation[d];
    }
    a.pool.ceil_mode = p->ceil_mode;
    a.pool.count_include_pad = p->count_include_pad;
    c->dom = p->dom;
    c->specials = p->specials;
    if (p->dtype == GC_F64) c->rtol = c->atol = 1e-12;
    int64_t dims[5];
    for (int i = 0; i < p->rank; i++) dims[i] = p->dims[i];
    gc_type xt = gc_type_make(p->dtype, p->rank, dims);
    gc_node *x = in_(b, "x", xt);
    gc_node *pooled = attr_op(b, avg ? GC_OP_AVG_POOL : GC_OP_MAX_POOL, &x, 1, &a, NULL);
    if (op == GC_OP_MAX_POOL || op == GC_OP_AVG_POOL || !pooled) return pooled;
    gc_node *dy = in_(b, "dy", pooled->type);
    if (op == GC_OP_AVG_POOL_GRAD) return attr_op(b, op, &dy, 1, &a, &xt);
    gc_node *xs[2] = {x, dy};
    return attr_op(b, op, xs, 2, &a, NULL);
}

static bool build_case(gc_builder *b, gc_op op, int v, test_case *c) {
    gc_type m = ty(GC_F32, 2, 7, 13), t3 = ty(GC_F32, 3, 3, 7, 5);
    gc_node *y = NULL;
    if (is_unary_float(op)) {
        if (v > 2) return false;
        c->specials = v == 2;
        if (v == 1) c->rtol = 1e-12;
        y = gc_unary(b, op, in_(b, "x", v == 1 ? ty(GC_F64, 2, 5, 13) : m));
    } else if (is_binary(op)) {
        if (v > 3) return false;
        if (v == 0) y = gc_binary(b, op, in_(b, "a", ty(GC_F32, 3, 7, 1, 13)), in_(b, "b", ty(GC_F32, 2, 5, 13)));
        if (v == 1) y = gc_binary(b, op, in_(b, "a", m), in_(b, "b", ty(GC_F32, 0)));
        if (v == 2) {
            c->dom = SMALLINT;
            c->specials = true;
            y = gc_binary(b, op, in_(b, "a", ty(GC_F32, 1, 37)), in_(b, "b", ty(GC_F32, 1, 37)));
        }
        if (v == 3) {
            c->int_lo = -6, c->int_hi = 6, c->int_extremes = true;
            y = gc_binary(b, op, in_(b, "a", ty(GC_I32, 2, 5, 13)), in_(b, "b", ty(GC_I32, 2, 1, 13)));
        }
    } else if (takes_int(op)) {
        if (v > 3 || (v == 3 && op != GC_OP_STOP_GRADIENT)) return false;
        c->specials = v == 1;
        if (v == 2) c->int_lo = -100, c->int_hi = 100, c->int_extremes = true;
        /* Of a computed value, stop_gradient shares that value's storage instead of copying. */
        gc_node *x = in_(b, "x", v == 2 ? ty(GC_I32, 2, 5, 13) : m);
        y = gc_unary(b, op, v == 3 ? gc_unary(b, GC_OP_EXP, x) : x);
        if (v == 3) y = gc_binary(b, GC_OP_MUL, y, x);
    } else {
        switch (op) {
        case GC_OP_INPUT:
            if (v) return false;
            y = gc_unary(b, GC_OP_NEG, in_(b, "x", m));
            break;
        case GC_OP_PARAM: {
            if (v) return false;
            /* w <- w / 2 + 1 each step; the second run must see the update. */
            gc_node *w = named(b, GC_OP_PARAM, "w", m);
            y = gc_add_scalar(b, gc_mul_scalar(b, w, 0.5), 1.0);
            gc_graph_add_output(b->graph, GC_OUTPUT_UPDATE, "w", y, b->err);
            break;
        }
        case GC_OP_STATE: {
            if (v) return false;
            /* A step counter, and a swap of two states through updates. */
            gc_node *s = named(b, GC_OP_STATE, "step", ty(GC_I32, 0));
            gc_node *p = named(b, GC_OP_STATE, "p", ty(GC_F32, 1, 13)), *q = named(b, GC_OP_STATE, "q", ty(GC_F32, 1, 13));
            y = gc_add_scalar(b, s, 1);
            gc_graph_add_output(b->graph, GC_OUTPUT_UPDATE, "step", y, b->err);
            gc_graph_add_output(b->graph, GC_OUTPUT_UPDATE, "p", q, b->err);
            gc_graph_add_output(b->graph, GC_OUTPUT_UPDATE, "q", p, b->err);
            break;
        }
        case GC_OP_BUFFER: {
            if (v) return false;
            /* Batch norm's running statistics: an f32 running mean of x's columns and an i32 count,
             * read by the output and written by updates; the second run must see both. */
            gc_node *x = in_(b, "x", m);
            gc_node *rm = named(b, GC_OP_BUFFER, "bn.running_mean", ty(GC_F32, 1, 13));
            gc_node *count = named(b, GC_OP_BUFFER, "bn.num_batches_tracked", ty(GC_I32, 0));
            gc_node *mean = gc_reduce(b, GC_OP_MEAN, x, 0x1, false);
            gc_node *next = gc_binary(b, GC_OP_ADD, gc_mul_scalar(b, rm, 0.9), gc_mul_scalar(b, mean, 0.1));
            gc_graph_add_output(b->graph, GC_OUTPUT_UPDATE, "bn.running_mean", next, b->err);
            gc_graph_add_output(b->graph, GC_OUTPUT_UPDATE, "bn.num_batches_tracked", gc_add_scalar(b, count, 1), b->err);
            y = gc_binary(b, GC_OP_MUL, gc_binary(b, GC_OP_SUB, x, rm), gc_cast(b, count, GC_F32));
            break;
        }
        case GC_OP_CONSTANT: {
            if (v > 2) return false;
            gc_type t = v == 0 ? m : v == 1 ? ty(GC_I32, 2, 3, 5) : ty(GC_F64, 1, 7);
            gc_node *k = gc_fill(b, &t, v == 0 ? 0.1 : v == 1 ? -3.7 : 1.0 / 3.0);
            y = gc_binary(b, GC_OP_ADD, k, in_(b, "x", t));
            break;
        }
        case GC_OP_IOTA:
            if (v > 1) return false;
            y = v == 0 ? iota(b, ty(GC_F32, 2, 3, 13), 1) : iota(b, ty(GC_I32, 3, 7, 5, 3), 0);
            y = gc_binary(b, GC_OP_MUL, y, in_(b, "x", y ? y->type : m));
            break;
        case GC_OP_RANDOM_UNIFORM: {
            if (v > 1) return false;
            /* Exact: 24-bit draws; the step state advances so the second run draws anew. */
            gc_node *step = named(b, GC_OP_STATE, "step", ty(GC_I32, 0));
            y = random_uniform(b, step, v == 0 ? ty(GC_F32, 2, 7, 13) : ty(GC_F64, 1, 9), 1234567890123ll, 3);
            gc_graph_add_output(b->graph, GC_OUTPUT_UPDATE, "step", gc_add_scalar(b, step, 1), b->err);
            c->int_lo = 0, c->int_hi = 1 << 30;
            c->rtol = -1; /* exact */
            break;
        }
        case GC_OP_LOG: case GC_OP_SQRT: case GC_OP_RSQRT: case GC_OP_RECIPROCAL:
            if (v > 1) return false;
            c->dom = POSITIVE;
            c->specials = v == 1;
            y = gc_unary(b, op, in_(b, "x", m));
            break;
        case GC_OP_POW: {
            static const double exps[] = {2.5, -1.5, 2.0, 3.0, 0.5};
            if (v > 4) return false;
            c->dom = v < 2 || v == 4 ? POSITIVE : ANY;
            y = gc_pow_scalar(b, in_(b, "x", m), exps[v]);
            break;
        }
        case GC_OP_CLAMP:
            if (v > 3) return false;
            c->specials = v == 1;
            if (v == 2) c->int_lo = -9, c->int_hi = 9;
            if (v == 3) c->dom = SMALLINT;
            y = v == 2 ? clamp(b, in_(b, "x", ty(GC_I32, 2, 5, 13)), -2.5, 3.5)
              : v == 3 ? clamp(b, in_(b, "x", m), 1.0, -1.0) /* lo > hi gives hi */
                       : clamp(b, in_(b, "x", m), -0.5, 0.1);
            break;
        case GC_OP_CAST: {
            static const gc_dtype from[] = {GC_F32, GC_I32, GC_F32, GC_F64, GC_F64};
            static const gc_dtype to[] = {GC_I32, GC_F32, GC_F64, GC_F32, GC_I32};
            if (v > 4) return false;
            c->dom = v == 0 || v == 4 ? HUGE_F : ANY;
            c->specials = v == 0;
            c->int_lo = -2000000000, c->int_hi = 2000000000;
            y = gc_cast(b, in_(b, "x", ty(from[v], 2, 5, 13)), to[v]);
            break;
        }
        case GC_OP_SELECT:
            if (v > 1) return false;
            c->specials = v == 1;
            c->dom = v == 1 ? ANY : SMALLINT;
            y = gc_select(b, in_(b, "c", ty(GC_F32, 2, 7, 1)), in_(b, "a", m), in_(b, "b", ty(GC_F32, 1, 13)));
            break;
        case GC_OP_SUM: case GC_OP_MEAN: case GC_OP_MAX: case GC_OP_MIN: {
            static const uint32_t axes[] = {0x2, 0x1, 0x5, 0x7, 0x2, 0x1, 0x1, 0x0};
            if (v > 10) return false;
            if (v == 9) {
                /* A reduced innermost dim (vector lanes, a tail of 5) under an outer reduced dim. */
                c->specials = true;
                y = gc_reduce(b, op, in_(b, "x", ty(GC_F32, 3, 3, 7, 37)), 0x5, true);
            } else if (v == 10) {
                c->int_lo = -1000000000, c->int_hi = 1000000000;
                c->int_extremes = true;
                c->rtol = c->atol = 1e-12;
                y = gc_reduce(b, op, in_(b, "x", ty(op == GC_OP_MEAN ? GC_F64 : GC_I32, 2, 5, 37)), 0x2, false);
            } else if (v == 8) {
                /* 10^5 elements into one: the sum's order and accumulator decide its accuracy. */
                y = gc_reduce(b, op, in_(b, "x", ty(GC_F32, 1, 100000)), 0x1, false);
            } else if (v == 6) {
                /* A trailing run of 9000: accumulators in chunks of 4096, the last one short. */
                y = gc_reduce(b, op, in_(b, "x", ty(GC_F32, 2, 3, 9000)), axes[v], v % 2);
            } else if (v == 7) {
                /* i32 sums wrap; mean takes floats only, so it gets f64 here. */
                c->int_lo = -1000000000, c->int_hi = 1000000000;
                c->rtol = c->atol = 1e-12;
                y = gc_reduce(b, op, in_(b, "x", ty(op == GC_OP_MEAN ? GC_F64 : GC_I32, 3, 3, 7, 5)), 0x5, false);
            } else {
                c->specials = v == 5;
                y = gc_reduce(b, op, in_(b, "x", v < 2 || v == 5 ? m : t3), axes[v], v % 2);
            }
            break;
        }
        case GC_OP_ARGMAX:
            if (v > 5) return false;
            c->dom = v == 3 ? SMALLINT : ANY;
            c->specials = v == 4;
            c->int_lo = -5, c->int_hi = 5;
            y = v == 0 ? axis_op(b, op, in_(b, "x", m), 1)
              : v == 1 ? axis_op(b, op, in_(b, "x", t3), 1)
              : v == 2 ? axis_op(b, op, in_(b, "x", ty(GC_I32, 2, 7, 13)), 0)
              : v == 5 ? axis_op(b, op, in_(b, "x", ty(GC_F32, 2, 7, 1)), 1)
                       : axis_op(b, op, in_(b, "x", ty(GC_F32, 2, 13, 7)), 1);
            break;
        case GC_OP_SOFTMAX: case GC_OP_LOG_SOFTMAX:
            if (v > 7) return false;
            c->specials = v == 3 || v == 6;
            if (v < 4) {
                y = v == 0 ? axis_op(b, op, in_(b, "x", m), 1)
                  : v == 1 ? axis_op(b, op, in_(b, "x", t3), 1)
                  : v == 2 ? axis_op(b, op, gc_mul_scalar(b, in_(b, "x", m), 40.0), 0)
                           : axis_op(b, op, in_(b, "x", ty(GC_F32, 2, 5, 3)), 1);
            } else if (v == 4 || v == 6) {
                /* f32 rows of vectors with a partial last one (codegen's online maximum and sum),
                 * scaled so the maximum often sits in the partial vector. */
                y = axis_op(b, op, gc_mul_scalar(b, in_(b, "x", ty(GC_F32, 2, 24, 37)), 40.0), 1);
            } else if (v == 5) {
                /* Rows of three chunks (the last short, with a partial vector): the maximum moves
                 * on between chunks and the sum so far is rescaled. */
                y = axis_op(b, op, gc_mul_scalar(b, in_(b, "x", ty(GC_F32, 2, 6, 2100)), 40.0), 1);
            } else {
                /* A first chunk (and more) of -inf before finite values, in rows of 2100; and a
                 * row of -inf only (NaN). */
                gc_type rows = ty(GC_F32, 2, 3, 2100), pos_t = ty(GC_I32, 2, 3, 2100), col = ty(GC_I32, 2, 3, 1);
                gc_attr along = no_attr(), down = no_attr();
                along.axis.axis = 1;
                gc_node *pos = gc_build(b, GC_OP_IOTA, NULL, 0, &along, &pos_t);
                gc_node *row = gc_build(b, GC_OP_IOTA, NULL, 0, &down, &col);
                /* Row r is -inf before 1100 + 1000 r: 1100, 2100 (all of it) and beyond. */
                gc_node *cut = gc_binary(b, GC_OP_ADD, gc_binary(b, GC_OP_MUL, row, gc_scalar(b, GC_I32, 1000.0)),
                                         gc_scalar(b, GC_I32, 1100.0));
                gc_node *masked = gc_binary(b, GC_OP_LT, pos, cut);
                y = axis_op(b, op, gc_select(b, masked, gc_fill(b, &rows, -INFINITY), in_(b, "x", rows)), 1);
            }
            break;
        case GC_OP_MATMUL: {
            if (v >= 8 && v <= 12) {
                /* bf16 (mixed precision): exact where the operands make every sum exact, odd
                 * extents on every side, each transpose, a batch, and a product wider than one
                 * panel and deeper than one KC block within f32 rounding. */
                c->dom = BF16_EXACT;
                c->rtol = -1;
                bool ta = v == 9 || v == 11, tb = v == 10 || v == 11;
                if (v <= 11) {
                    gc_type a = ta ? ty(GC_F32, 2, 61, 13) : ty(GC_F32, 2, 13, 61);
                    gc_type bb = tb ? ty(GC_F32, 2, 37, 61) : ty(GC_F32, 2, 61, 37);
                    y = gc_matmul(b, in_(b, "a", a), in_(b, "b", bb), ta, tb);
                } else {
                    c->dom = ANY;
                    c->rtol = 1e-5;
                    c->atol = 1e-3;
                    y = gc_matmul(b, in_(b, "a", ty(GC_F32, 3, 2, 29, 700)), in_(b, "b", ty(GC_F32, 2, 45, 700)), false,
                                  true);
                }
                if (y) y->attr.matmul.bf16 = true;
                break;
            }
            if (v > 12) return false;
            c->atol = 1e-4;
            bool ta = v == 1 || v == 3, tb = v == 2 || v == 3;
            if (v <= 3) {
                gc_type a = ta ? ty(GC_F32, 2, 13, 7) : ty(GC_F32, 2, 7, 13);
                gc_type bb = tb ? ty(GC_F32, 2, 5, 13) : ty(GC_F32, 2, 13, 5);
                y = gc_matmul(b, in_(b, "a", a), in_(b, "b", bb), ta, tb);
            } else if (v == 4) { /* batched, both operands per batch */
                y = gc_matmul(b, in_(b, "a", ty(GC_F32, 3, 3, 7, 13)), in_(b, "b", ty(GC_F32, 3, 3, 5, 13)), false, true);
            } else if (v == 5) { /* shared weight: the batch folds into M */
                y = gc_matmul(b, in_(b, "a", ty(GC_F32, 4, 2, 3, 7, 13)), in_(b, "b", ty(GC_F32, 2, 13, 5)), false, false);
            } else if (v == 6) { /* broadcast batch dims on both sides, transposed a */
                y = gc_matmul(b, in_(b, "a", ty(GC_F32, 4, 2, 1, 13, 7)), in_(b, "b", ty(GC_F32, 3, 3, 13, 5)), true, false);
            } else {
                c->rtol = 1e-12;
                c->atol = 1e-12;
                y = gc_matmul(b, in_(b, "a", ty(GC_F64, 2, 7, 13)), in_(b, "b", ty(GC_F64, 2, 13, 5)), false, false);
            }
            break;
        }
        case GC_OP_RESHAPE: {
            if (v > 1) return false;
            int64_t dims[3] = {13, 7, 1};
            /* Of a source it is a copy; of a computed value it shares the value's storage. */
            gc_node *x = in_(b, "x", m);
            y = gc_reshape(b, v == 0 ? x : gc_unary(b, GC_OP_NEG, x), 3, dims);
            y = gc_unary(b, GC_OP_EXP, y);
            break;
        }
        case GC_OP_PERMUTE: {
            static const int perms[3][3] = {{2, 0, 1}, {1, 0, 2}, {0, 2, 1}};
            if (v > 3) return false;
            int p2[2] = {1, 0};
            y = v == 3 ? gc_permute(b, in_(b, "x", m), p2) : gc_permute(b, in_(b, "x", t3), perms[v]);
            break;
        }
        case GC_OP_BROADCAST: {
            if (v > 2) return false;
            gc_type to = v == 0 ? ty(GC_F32, 3, 3, 7, 13) : v == 1 ? m : ty(GC_I32, 2, 7, 13);
            gc_type from = v == 0 ? ty(GC_F32, 2, 7, 1) : v == 1 ? ty(GC_F32, 1, 13) : ty(GC_I32, 0);
            c->int_lo = -5, c->int_hi = 5;
            y = gc_broadcast_to(b, in_(b, "x", from), &to);
            break;
        }
        case GC_OP_SLICE:
            if (v > 2) return false;
            y = v == 0 ? gc_slice(b, in_(b, "x", m), 1, 2, 9)
              : v == 1 ? gc_slice(b, in_(b, "x", t3), 1, 1, 6)
                       : gc_slice(b, in_(b, "x", t3), 0, 2, 3);
            break;
        case GC_OP_PAD:
            if (v > 2) return false;
            y = v == 0 ? gc_pad(b, in_(b, "x", m), 1, 2, 3)
              : v == 1 ? gc_pad(b, in_(b, "x", t3), 0, 0, 1)
                       : gc_pad(b, in_(b, "x", t3), 2, 4, 0);
            break;
        case GC_OP_CONCAT: {
            if (v > 1) return false;
            int axis = v == 0 ? 1 : 0;
            gc_node *xs[3] = {in_(b, "a", v == 0 ? ty(GC_F32, 2, 7, 2) : ty(GC_F32, 2, 2, 13)), in_(b, "b", m),
                              in_(b, "c", v == 0 ? ty(GC_F32, 2, 7, 1) : ty(GC_F32, 2, 1, 13))};
            y = gc_concat(b, xs, 3, axis);
            break;
        }
        case GC_OP_TAKE: {
            if (v > 2) return false;
            c->int_lo = -2, c->int_hi = 12; /* the table has 11 rows: some indices miss it */
            gc_type table = v == 0 ? ty(GC_F32, 2, 11, 5) : v == 1 ? ty(GC_F32, 1, 11) : ty(GC_I32, 3, 11, 2, 3);
            gc_node *xs[2] = {in_(b, "table", table), in_(b, "idx", v == 1 ? ty(GC_I32, 2, 3, 4) : ty(GC_I32, 1, 7))};
            y = attr_op(b, GC_OP_TAKE, xs, 2, NULL, NULL);
            break;
        }
        case GC_OP_SCATTER_ADD:
            if (v > 1) return false;
            c->int_lo = -2, c->int_hi = 12;
            y = v == 0 ? scatter_add(b, in_(b, "u", ty(GC_F32, 2, 17, 5)), in_(b, "idx", ty(GC_I32, 1, 17)), ty(GC_F32, 2, 11, 5))
                       : scatter_add(b, in_(b, "u", ty(GC_I32, 3, 3, 4, 2)), in_(b, "idx", ty(GC_I32, 2, 3, 4)), ty(GC_I32, 2, 11, 2));
            break;
        case GC_OP_INDEX_ADD: {
            /* Rows named twice and indices off the base (dropped); the base is copied first
             * here (no plan gives the result its bytes in this test). */
            if (v > 1) return false;
            c->int_lo = -2, c->int_hi = 12;
            gc_node *xs[3] = {v == 0 ? in_(b, "base", ty(GC_F32, 2, 11, 5)) : in_(b, "base", ty(GC_I32, 2, 11, 2)),
                              v == 0 ? in_(b, "u", ty(GC_F32, 2, 17, 5)) : in_(b, "u", ty(GC_I32, 3, 3, 4, 2)),
                              v == 0 ? in_(b, "idx", ty(GC_I32, 1, 17)) : in_(b, "idx", ty(GC_I32, 2, 3, 4))};
            y = attr_op(b, GC_OP_INDEX_ADD, xs, 3, NULL, NULL);
            break;
        }
        case GC_OP_MAX_POOL: case GC_OP_MAX_POOL_GRAD: case GC_OP_AVG_POOL: case GC_OP_AVG_POOL_GRAD:
            if (v >= (int)(sizeof jit_pools / sizeof *jit_pools)) return false;
            y = jit_pool_case(b, op, v, c);
            break;
        case GC_OP_ONE_HOT:
            if (v > 1) return false;
            c->int_lo = -2, c->int_hi = 14;
            y = v == 0 ? gc_one_hot(b, in_(b, "idx", ty(GC_I32, 1, 7)), 5) : gc_one_hot(b, in_(b, "idx", ty(GC_I32, 2, 3, 4)), 13);
            break;
        /* Convolution: each path of runtime/conv.c — tiles of several images (81 positions),
         * tiles cutting rows (340 positions: two per image), 1x1 stride 1 read in place (one
         * image per tile, and several), a strided 1x1, groups on GEMMs, depthwise and a tiny
         * product on direct loops, 1-d, dilation with asymmetric padding, and f64. */
        case GC_OP_CONV: case GC_OP_CONV_INPUT_GRAD: case GC_OP_CONV_WEIGHT_GRAD: {
            typedef struct conv_variant {
                gc_dtype dtype;
                int rank, x[4], w[4], stride, pb, pa, dil, groups;
            } conv_variant;
            static const conv_variant variants[] = {
                {GC_F32, 4, {3, 8, 9, 9}, {16, 8, 3, 3}, 1, 1, 1, 1, 1},
                {GC_F32, 4, {2, 6, 20, 17}, {12, 6, 3, 3}, 1, 1, 1, 1, 1},
                {GC_F32, 4, {2, 32, 16, 16}, {16, 32, 1, 1}, 1, 0, 0, 1, 1},
                {GC_F32, 4, {4, 32, 5, 5}, {16, 32, 1, 1}, 1, 0, 0, 1, 1},
                {GC_F32, 4, {2, 32, 9, 9}, {16, 32, 1, 1}, 2, 0, 0, 1, 1},
                {GC_F32, 4, {3, 16, 9, 9}, {16, 8, 3, 3}, 2, 1, 0, 1, 2},
                {GC_F32, 4, {2, 8, 7, 7}, {8, 1, 3, 3}, 1, 1, 1, 1, 8},
                {GC_F32, 4, {2, 3, 7, 7}, {2, 3, 3, 3}, 1, 1, 1, 1, 1},
                {GC_F32, 3, {2, 8, 300}, {16, 8, 5}, 3, 2, 1, 2, 1},
                {GC_F64, 4, {2, 8, 9, 9}, {16, 8, 3, 3}, 2, 1, 1, 1, 1},
                /* stride 1: the input gradient runs as a flipped forward; grouped, dilated, padded
                 * unevenly */
                {GC_F32, 4, {2, 16, 9, 9}, {16, 8, 3, 3}, 1, 1, 0, 2, 2},
            };
            /* bf16 (mixed precision) on the shapes of variants 0 (implicit GEMM), 2 (pointwise), 5
             * (strided, grouped: col2im), 6 (depthwise: direct loops) and 10 (flipped forward), with
             * operands whose sums are exact: bit for bit. */
            static const int bf16_of[] = {0, 2, 5, 6, 10};
            int plain = (int)(sizeof variants / sizeof variants[0]), bf16 = v - plain;
            if (bf16 >= (int)(sizeof bf16_of / sizeof bf16_of[0])) return false;
            const conv_variant *cv = &variants[bf16 >= 0 ? bf16_of[bf16] : v];
            c->rtol = 1e-5;
            c->atol = 1e-4;
            if (bf16 >= 0) c->dom = BF16_EXACT, c->rtol = -1;
            gc_attr_conv ca = {.groups = cv->groups, .bf16 = bf16 >= 0};
            for (int d = 0; d < cv->rank - 2; d++) {
                ca.stride[d] = cv->stride;
                ca.pad_before[d] = cv->pb;
                ca.pad_after[d] = cv->pa;
                ca.dilation[d] = cv->dil;
            }
            int64_t xd[4], wd[4];
            for (int d = 0; d < cv->rank; d++) xd[d] = cv->x[d], wd[d] = cv->w[d];
            gc_type tx = gc_type_make(cv->dtype, cv->rank, xd), tw = gc_type_make(cv->dtype, cv->rank, wd);
            gc_node *probe_x = in_(b, "x", tx), *w = in_(b, "w", tw);
            y = gc_conv(b, probe_x, w, &ca);
            if (y && op == GC_OP_CONV_INPUT_GRAD)
                y = gc_conv_input_grad(b, in_(b, "dy", y->type), w, &ca, &tx);
            else if (y && op == GC_OP_CONV_WEIGHT_GRAD)
                y = gc_conv_weight_grad(b, probe_x, in_(b, "dy", y->type), &ca, &tw);
            break;
        }
        case GC_OP_RECURRENCE: case GC_OP_RECURRENCE_GRAD:
            if (v > (op == GC_OP_RECURRENCE ? 8 : 3)) return false;
            c->rtol = 1e-4, c->atol = 1e-5; /* f32 GEMMs per step against the interpreter's doubles */
            y = recurrence_case(b, op, v);
            break;
        default:
            return false;
        }
    }
    if (y) gc_graph_add_output(b->graph, GC_OUTPUT_VALUE, "y", y, b->err);
    return true;
}

static bool is_source(const gc_node *n) { return (gc_op_table[n->op].flags & GC_FLAG_NAMED) != 0; }

/* Values for source n as host data of its dtype (malloc'd). */
static void *make_data(const gc_node *n, const test_case *c) {
    int64_t count = gc_type_numel(&n->type);
    void *data = malloc((size_t)count * gc_dtype_size(n->type.dtype));
    assert_non_null(data);
    for (int64_t i = 0; i < count; i++) {
        if (n->type.dtype == GC_I32) {
            int32_t v = (int32_t)(c->int_lo + floor(uniform(0, 1) * ((double)c->int_hi - c->int_lo + 1)));
            if (c->int_extremes) {
                if (i % 9 == 4) v = INT32_MIN;
                if (i % 9 == 6) v = INT32_MAX;
                if (i % 9 == 8) v = -1;
                if (i % 9 == 2) v = 0;
            }
            ((int32_t *)data)[i] = v;
            continue;
        }
        if (c->dom == BF16_EXACT) {
            int q = 64 + (int)floor(uniform(0, 192));
            float base = (float)(uniform(0, 1) < 0.5 ? -q : q) / 128.0f;
            uint32_t u;
            memcpy(&u, &base, sizeof u);
            int nudge = (int)floor(uniform(0, 4));
            u = nudge == 0 ? u : nudge == 1 ? u + 0x7fffu : nudge == 2 ? u + 0x8000u : u - 0x7fffu;
            memcpy(&((float *)data)[i], &u, sizeof u);
            continue;
        }
        double x = c->dom == POSITIVE ? uniform(0.1, 3) : c->dom == HUGE_F ? uniform(-5e9, 5e9)
                 : c->dom == SMALLINT ? floor(uniform(-3, 4)) : uniform(-3, 3);
        if (c->specials) {
            if (i % 11 == 3) x = NAN;
            if (i % 13 == 5) x = INFINITY;
            if (i % 17 == 7) x = -INFINITY;
            if (i % 19 == 2) x = -0.0;
        }
        if (n->type.dtype == GC_F32)
            ((float *)data)[i] = (float)x;
        else
            ((double *)data)[i] = x;
    }
    return data;
}

static double jit_elem(const void *data, gc_dtype t, int64_t i) {
    switch (t) {
    case GC_F32: return ((const float *)data)[i];
    case GC_I32: return ((const int32_t *)data)[i];
    case GC_F64: return ((const double *)data)[i];
    }
    return 0;
}

static bool close_enough(double want, double got, gc_dtype t, const test_case *c) {
    if (isnan(want) || isnan(got)) return isnan(want) && isnan(got);
    if (want == got) return true;
    if (t == GC_I32 || c->rtol < 0 || isinf(want) || isinf(got)) return false;
    double rtol = c->rtol ? c->rtol : (t == GC_F64 ? 1e-12 : 2e-6);
    double atol = c->atol ? c->atol : (t == GC_F64 ? 1e-12 : 1e-6);
    return fabs(got - want) <= atol + rtol * fabs(want);
}

/* Compares `count` elements; prints the first mismatch. Returns the number of bad elements. */
static int compare(const char *what, const double *want, const void *got, gc_dtype t, int64_t count,
                   const test_case *c) {
    int bad = 0;
    for (int64_t i = 0; i < count; i++) {
        double g = jit_elem(got, t, i);
        if (close_enough(want[i], g, t, c)) continue;
        if (!bad) print_message("  %s [%lld]: interpreter %.9g, JIT %.9g\n", what, (long long)i, want[i], g);
        bad++;
    }
    return bad;
}

/* Every node, interpreter against JIT. */
static int compare_all(const gc_graph *g, const gc_interp *it, const gc_jit *j, const test_case *c, const char *label) {
    int bad = 0;
    for (int i = 0; i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        const double *want = gc_interp_value(it, n);
        const void *got = gc_jit_value(j, n);
        if (!want || !got) {
            print_message("  %s: %%%d has no value\n", label, i);
            bad++;
            continue;
        }
        char what[160];
        snprintf(what, sizeof what, "%s: %%%d (%s)", label, i, gc_op_table[n->op].name);
        bad += compare(what, want, got, n->type.dtype, gc_type_numel(&n->type), c) != 0;
    }
    return bad;
}

/* Runs the case on both executors (twice with updates in between when the graph has any).
 * Returns the number of mismatching nodes. */
static int run_case(const char *label, test_case *c) {
    gc_error err = {0};
    gc_interp *it = gc_interp_new(c->g, GC_INTERP_F32, &err);
    assert_non_null(it);
    gc_jit *j = gc_jit_new(c->g, &err);
    if (!j) {
        print_message("%s: JIT compile failed: %s\n", label, err.message);
        gc_interp_free(it);
        return 1;
    }
    bool updates = false;
    for (int i = 0; i < c->g->num_outputs; i++) updates = updates || c->g->outputs[i].kind == GC_OUTPUT_UPDATE;
    for (int i = 0; i < c->g->num_nodes; i++) {
        const gc_node *n = c->g->nodes[i];
        if (!is_source(n)) continue;
        gc_tensor t = {n->type.dtype, n->type.rank, {0}, make_data(n, c)};
        memcpy(t.shape, n->type.dims, sizeof t.shape);
        assert_true(gc_interp_set(it, n->name, &t, &err));
        if (!gc_jit_set(j, n->name, &t, &err)) fail_msg("%s: gc_jit_set(%s): %s", label, n->name, err.message);
        free(t.data);
    }
    int bad = 0;
    for (int round = 0; round < (updates ? 2 : 1); round++) {
        assert_true(gc_interp_run(it, &err));
        if (!gc_jit_run(j, &err)) fail_msg("%s: gc_jit_run: %s", label, err.message);
        bad += compare_all(c->g, it, j, c, label);
        if (!updates) continue;
        assert_true(gc_interp_apply_updates(it, &err));
        assert_true(gc_jit_apply_updates(j, &err));
        for (int i = 0; i < c->g->num_nodes; i++) {
            const gc_node *n = c->g->nodes[i];
            if (!is_source(n)) continue;
            char what[160];
            snprintf(what, sizeof what, "%s: source '%s' after updates", label, n->name);
            bad += compare(what, gc_interp_source(it, n->name), gc_jit_source(j, n->name), n->type.dtype,
                           gc_type_numel(&n->type), c) != 0;
        }
    }
    gc_jit_free(j);
    gc_interp_free(it);
    return bad;
}

static void test_every_op(void **state) {
    (void)state;
    char missing[2048] = "";
    int failures = 0, cases = 0;
    for (int op = 0; op < GC_OP_COUNT; op++) {
        int variants = 0;
        for (int v = 0;; v++) {
            gc_error err = {0};
            test_case c;
            memset(&c, 0, sizeof c);
            c.int_lo = -5, c.int_hi = 5;
            c.g = gc_graph_new("case");
            gc_builder b = {c.g, {"case.ir", 1, 1}, &err};
            bool exists = build_case(&b, (gc_op)op, v, &c);
            char label[96];
            snprintf(label, sizeof label, "%s variant %d", gc_op_table[op].name, v);
            if (exists && err.code != GC_OK) {
                print_message("%s: cannot build the graph: %s\n", label, err.message);
                failures++;
            } else if (exists) {
                rng_state = (uint64_t)op * 1000 + (uint64_t)v + 1;
                int bad = run_case(label, &c);
                if (bad) print_message("%s: %d node(s) differ\n", label, bad);
                failures += bad != 0;
                variants++;
                cases++;
            }
            gc_graph_free(c.g);
            if (!exists) break;
        }
        if (!variants) {
            strncat(missing, " ", sizeof missing - strlen(missing) - 1);
            strncat(missing, gc_op_table[op].name, sizeof missing - strlen(missing) - 1);
        }
    }
    print_message("%d cases over %d ops\n", cases, GC_OP_COUNT);
    if (*missing) fail_msg("ops without a JIT-vs-interpreter case:%s", missing);
    assert_int_equal(failures, 0);
}

/* An MLP with a layer norm and a label-smoothed cross-entropy, differentiated by autodiff, with
 * plain SGD updates: three steps on both executors, every node compared at every step. */
static void test_mlp_gradients_and_updates(void **state) {
    (void)state;
    gc_error err = {0};
    gc_graph *g = gc_graph_new("mlp");
    gc_builder b = {g, {"mlp.gm", 1, 1}, &err};
    gc_node *x = in_(&b, "x", ty(GC_F32, 2, 8, 13)), *t = in_(&b, "t", ty(GC_I32, 1, 8));
    gc_node *w1 = named(&b, GC_OP_PARAM, "w1", ty(GC_F32, 2, 13, 7)), *b1 = named(&b, GC_OP_PARAM, "b1", ty(GC_F32, 1, 7));
    gc_node *w2 = named(&b, GC_OP_PARAM, "w2", ty(GC_F32, 2, 7, 5)), *b2 = named(&b, GC_OP_PARAM, "b2", ty(GC_F32, 1, 5));
    gc_node *h = gc_unary(&b, GC_OP_GELU, gc_binary(&b, GC_OP_ADD, gc_matmul(&b, x, w1, false, false), b1));
    gc_node *d = gc_binary(&b, GC_OP_SUB, h, gc_reduce(&b, GC_OP_MEAN, h, 0x2, true));
    gc_node *var = gc_reduce(&b, GC_OP_MEAN, gc_unary(&b, GC_OP_SQUARE, d), 0x2, true);
    gc_node *hn = gc_binary(&b, GC_OP_MUL, d, gc_unary(&b, GC_OP_RSQRT, gc_add_scalar(&b, var, 1e-5)));
    gc_node *logits = gc_binary(&b, GC_OP_ADD, gc_matmul(&b, hn, w2, false, false), b2);
    gc_node *loss = gc_cross_entropy(&b, logits, t, GC_IGNORE_INDEX_DEFAULT, 0.1, GC_REDUCTION_MEAN);
    assert_non_null(loss);
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "loss", loss, &err));
    if (!gc_autodiff(g, &err)) fail_msg("autodiff: %s", err.message);
    const char *params[] = {"w1", "b1", "w2", "b2"};
    for (int i = 0; i < 4; i++) {
        gc_graph_output *grad = gc_graph_find_output(g, GC_OUTPUT_GRAD, params[i]);
        assert_non_null(grad);
        gc_node *p = gc_graph_find_named(g, GC_OP_PARAM, params[i]);
        gc_node *np = gc_binary(&b, GC_OP_SUB, p, gc_mul_scalar(&b, grad->value, 0.5));
        assert_true(gc_graph_add_output(g, GC_OUTPUT_UPDATE, params[i], np, &err));
    }

    test_case c;
    memset(&c, 0, sizeof c);
    c.g = g;
    c.int_lo = 0, c.int_hi = 4;
    c.rtol = 1e-4, c.atol = 1e-5;
    rng_state = 99;
    gc_interp *it = gc_interp_new(g, GC_INTERP_F32, &err);
    gc_jit *j = gc_jit_new(g, &err);
    if (!j) fail_msg("JIT compile failed: %s", err.message);
    assert_non_null(it);
    for (int i = 0; i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        if (!is_source(n)) continue;
        gc_tensor v = {n->type.dtype, n->type.rank, {0}, make_data(n, &c)};
        memcpy(v.shape, n->type.dims, sizeof v.shape);
        assert_true(gc_interp_set(it, n->name, &v, &err));
        assert_true(gc_jit_set(j, n->name, &v, &err));
        free(v.data);
    }
    float first_loss = 0, last_loss = 0;
    for (int step = 0; step < 3; step++) {
        assert_true(gc_interp_run(it, &err));
        assert_true(gc_jit_run(j, &err));
        char label[32];
        snprintf(label, sizeof label, "mlp step %d", step);
        assert_int_equal(compare_all(g, it, j, &c, label), 0);
        for (int i = 0; i < 4; i++) {
            const double *want = gc_interp_output(it, GC_OUTPUT_GRAD, params[i]);
            const void *got = gc_jit_output(j, GC_OUTPUT_GRAD, params[i]);
            assert_non_null(want);
            assert_non_null(got);
            const gc_node *p = gc_graph_find_named(g, GC_OP_PARAM, params[i]);
            assert_int_equal(compare(params[i], want, got, GC_F32, gc_type_numel(&p->type), &c), 0);
        }
        float l = *(const float *)gc_jit_output(j, GC_OUTPUT_VALUE, "loss");
        if (step == 0) first_loss = l;
        last_loss = l;
        assert_true(gc_interp_apply_updates(it, &err));
        assert_true(gc_jit_apply_updates(j, &err));
    }
    /* The updates did something: SGD on a fixed batch lowers the loss. */
    assert_true(last_loss < first_loss);
    gc_jit_free(j);
    gc_interp_free(it);
    gc_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_op),
        cmocka_unit_test(test_mlp_gradients_and_updates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
