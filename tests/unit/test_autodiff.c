/*
 * test_autodiff.c: every gradient rule checked by central finite differences (f64 interpreter),
 * plus the pass's behaviour: accumulation, blocked paths, unreached params, bad objectives.
 * A differentiable op with no case here fails the suite, so a new op cannot skip its gradient check.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "ir/build.h"
#include "ir/recurrence.h"
#include "passes/autodiff.h"
#include "runtime/gradcheck.h"

static uint64_t rng_state;

static double uniform(double lo, double hi) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (double)(rng_state >> 11) / 9007199254740992.0;
}

/* How source values are drawn for a case. */
typedef enum { DOMAIN_ANY, DOMAIN_POSITIVE, DOMAIN_AWAY_FROM_ZERO, DOMAIN_AWAY_FROM_HALF } value_domain;

typedef struct test_case {
    gc_graph *graph;
    gc_node *y;
    value_domain domain;
    /* i32 or 0/1 sources: name and values */
    const char *fixed_name[2];
    const double *fixed[2];
} test_case;

static gc_type shape(gc_dtype dtype, int rank, ...) {
    va_list ap;
    int64_t dims[GC_MAX_RANK];
    va_start(ap, rank);
    for (int i = 0; i < rank; i++) dims[i] = va_arg(ap, int);
    va_end(ap);
    return gc_type_make(dtype, rank, dims);
}

static gc_node *param(gc_builder *b, const char *name, gc_type t) {
    return gc_graph_make(b->graph, GC_OP_PARAM, NULL, 0, NULL, &t, name, b->loc, b->err);
}

static gc_node *input(gc_builder *b, const char *name, gc_type t) {
    return gc_graph_make(b->graph, GC_OP_INPUT, NULL, 0, NULL, &t, name, b->loc, b->err);
}

static const double take_idx[] = {0, 4, 2, 0};
static const double scatter_idx[] = {1, 0, 1, 3};
static const double cond_values[] = {1, 0, 0, 1, 1, 1, 0, 0, 1, 0, 1, 0};

/* Pooling cases: the windows of variant v of a pooling gradcheck, over x of `type`. */
typedef struct pool_case {
    int rank;
    int dims[5];
    int64_t kernel[3], stride[3], padding[3], dilation[3];
    bool ceil_mode, count_include_pad;
} pool_case;

/* Every combination that changes the math: overlapping windows (stride < kernel), padding,
 * dilation, ceil_mode's partial last window, count_include_pad false, 1 to 3 spatial dims. */
static const pool_case max_pool_cases[] = {
    {3, {2, 3, 7}, {3}, {2}, {1}, {1}, false, true},
    {4, {1, 2, 5, 6}, {3, 2}, {1, 2}, {1, 1}, {1, 1}, false, true},
    {4, {1, 2, 7, 6}, {2, 3}, {2, 1}, {1, 1}, {2, 1}, true, true},
    {3, {2, 2, 7}, {2}, {2}, {0}, {1}, true, true},
    {5, {1, 1, 4, 4, 5}, {2, 2, 3}, {1, 2, 2}, {0, 1, 1}, {1, 1, 1}, true, true},
};
static const pool_case avg_pool_cases[] = {
    {3, {2, 3, 7}, {3}, {2}, {1}, {1}, false, true},
    {3, {2, 3, 7}, {3}, {2}, {1}, {1}, true, false},
    {4, {1, 2, 5, 6}, {3, 2}, {1, 2}, {1, 0}, {1, 1}, false, false},
    {4, {1, 2, 5, 7}, {2, 3}, {2, 2}, {1, 1}, {1, 1}, true, true},
    {4, {2, 2, 4, 6}, {2, 2}, {2, 2}, {0, 0}, {1, 1}, false, true},
    {5, {1, 1, 4, 4, 5}, {2, 2, 3}, {1, 2, 2}, {0, 1, 1}, {1, 1, 1}, true, false},
};

static gc_type pool_type(const pool_case *pc) {
    int64_t dims[5];
    for (int i = 0; i < pc->rank; i++) dims[i] = pc->dims[i];
    return gc_type_make(GC_F32, pc->rank, dims);
}

static gc_attr pool_attr(const pool_case *pc) {
    gc_attr a;
    memset(&a, 0, sizeof a);
    for (int d = 0; d < pc->rank - 2; d++) {
        a.pool.kernel[d] = pc->kernel[d];
        a.pool.stride[d] = pc->stride[d];
        a.pool.padding[d] = pc->padding[d];
        a.pool.dilation[d] = pc->dilation[d];
    }
    a.pool.ceil_mode = pc->ceil_mode;
    a.pool.count_include_pad = pc->count_include_pad;
    return a;
}

/* recurrence: variant = cell * 4 + reverse * 2 + (initial states given); N 2, T 3, H 2. Without
 * initial states they are zeros, as a layer called without h0= gets. */
static bool build_recurrence(gc_builder *b, int variant, test_case *c) {
    if (variant >= 16) return false;
    int cell = variant / 4, H = 2, G = gc_cell_gates(cell);
    bool reverse = (variant / 2) % 2, given = variant % 2;
    gc_type state = shape(GC_F32, 2, 2, H);
    gc_node *in[5] = {param(b, "xproj", shape(GC_F32, 3, 2, 3, G * H)), param(b, "w_hh", shape(GC_F32, 2, G * H, H)),
                      param(b, "b_hh", shape(GC_F32, 1, G * H)), given ? param(b, "h0", state) : gc_fill(b, &state, 0.0),
                      NULL};
    if (cell == GC_CELL_LSTM) in[4] = given ? param(b, "c0", state) : gc_fill(b, &state, 0.0);
    gc_attr a;
    memset(&a, 0, sizeof a);
    a.recurrence.cell = cell;
    a.recurrence.reverse = reverse;
    c->y = gc_build(b, GC_OP_RECURRENCE, in, gc_cell_operands(cell), &a, NULL);
    return true;
}

/* Builds variant `variant` of op's case into c->graph; returns false when op has no such variant. */
static bool build_case(gc_builder *b, gc_op op, int variant, test_case *c) {
    const gc_op_info *info = gc_op_get(op);
    gc_type m34 = shape(GC_F32, 2, 3, 4), v4 = shape(GC_F32, 1, 4), t234 = shape(GC_F32, 3, 2, 3, 4);
    gc_attr a;
    memset(&a, 0, sizeof a);
    c->domain = DOMAIN_ANY;
    switch (op) {
    case GC_OP_LOG: case GC_OP_SQRT: case GC_OP_RSQRT: case GC_OP_RECIPROCAL:
        if (variant) return false;
        c->domain = DOMAIN_POSITIVE;
        c->y = gc_unary(b, op, param(b, "x", m34));
        return true;
    case GC_OP_POW:
        if (variant > 1) return false;
        c->domain = DOMAIN_POSITIVE;
        c->y = gc_pow_scalar(b, param(b, "x", m34), variant ? -1.5 : 2.5);
        return true;
    case GC_OP_ALL_REDUCE_SUM: /* one process: the identity, its own adjoint */
        if (variant) return false;
        c->y = gc_unary(b, op, param(b, "x", m34));
        return true;
    case GC_OP_RELU: case GC_OP_ABS:
        if (variant) return false;
        c->domain = DOMAIN_AWAY_FROM_ZERO;
        c->y = gc_unary(b, op, param(b, "x", m34));
        return true;
    case GC_OP_CLAMP:
        if (variant) return false;
        c->domain = DOMAIN_AWAY_FROM_HALF;
        a.clamp.lo = -0.5;
        a.clamp.hi = 0.5;
        {
            gc_node *x = param(b, "x", m34);
            c->y = gc_build(b, op, &x, 1, &a, NULL);
        }
        return true;
    case GC_OP_CAST:
        if (variant) return false;
        {
            gc_node *x = param(b, "x", m34);
            c->y = gc_cast(b, x, GC_F64);
        }
        return true;
    case GC_OP_ADD: case GC_OP_SUB: case GC_OP_MUL: case GC_OP_DIV: case GC_OP_MAXIMUM: case GC_OP_MINIMUM:
        if (variant > 1) return false;
        if (op == GC_OP_DIV) c->domain = DOMAIN_POSITIVE;
        /* variant 0 broadcasts the second operand; variant 1 the first, with a size-1 dim */
        c->y = variant ? gc_binary(b, op, param(b, "a", shape(GC_F32, 2, 3, 1)), param(b, "b", t234))
                       : gc_binary(b, op, param(b, "a", m34), param(b, "b", v4));
        return true;
    case GC_OP_SELECT:
        if (variant) return false;
        c->fixed_name[0] = "cond";
        c->fixed[0] = cond_values;
        c->y = gc_select(b, input(b, "cond", m34), param(b, "a", m34), param(b, "b", v4));
        return true;
    case GC_OP_SUM: case GC_OP_MEAN: case GC_OP_MAX: case GC_OP_MIN:
        if (variant > 2) return false;
        {
            static const uint32_t axes[] = {0x5, 0x2, 0x7};
            c->y = gc_reduce(b, op, param(b, "x", t234), axes[variant], variant == 1);
        }
        return true;
    case GC_OP_SOFTMAX: case GC_OP_LOG_SOFTMAX:
        if (variant > 1) return false;
        c->y = gc_axis_op(b, op, param(b, "x", t234), variant ? 1 : 2);
        return true;
    case GC_OP_MATMUL:
        if (variant > 7) return false;
        {
            bool ta = variant & 1, tb = (variant >> 1) & 1;
            if (variant < 4) {
                gc_type ta_t = ta ? shape(GC_F32, 2, 4, 3) : shape(GC_F32, 2, 3, 4);
                gc_type tb_t = tb ? shape(GC_F32, 2, 5, 4) : shape(GC_F32, 2, 4, 5);
                c->y = gc_matmul(b, param(b, "a", ta_t), param(b, "b", tb_t), ta, tb);
            } else if (variant == 4) { /* a batched, b shared: b's gradient sums over the batch */
                c->y = gc_matmul(b, param(b, "a", shape(GC_F32, 3, 2, 3, 4)), param(b, "b", shape(GC_F32, 2, 4, 5)), false, false);
            } else if (variant == 5) { /* both batched, with a broadcast batch dim and b transposed */
                c->y = gc_matmul(b, param(b, "a", shape(GC_F32, 4, 2, 1, 3, 4)),
                                 param(b, "b", shape(GC_F32, 4, 1, 2, 5, 4)), false, true);
            } else if (variant == 6) { /* a batched, b shared and transposed (a tied head) */
                c->y = gc_matmul(b, param(b, "a", shape(GC_F32, 3, 2, 3, 4)), param(b, "b", shape(GC_F32, 2, 5, 4)), false, true);
            } else { /* b an explicit transpose, which the builder folds into the flag */
                int perm[] = {1, 0};
                gc_node *w = gc_permute(b, param(b, "b", shape(GC_F32, 2, 5, 4)), perm);
                c->y = gc_matmul(b, param(b, "a", shape(GC_F32, 3, 2, 3, 4)), w, false, false);
                if (c->y && (c->y->inputs[1] == w || !c->y->attr.matmul.transpose_b)) c->y = NULL;
            }
        }
        return true;
    case GC_OP_RESHAPE:
        if (variant) return false;
        {
            int64_t dims[] = {4, 6};
            c->y = gc_reshape(b, param(b, "x", t234), 2, dims);
        }
        return true;
    case GC_OP_PERMUTE:
        if (variant) return false;
        {
            int perm[] = {2, 0, 1};
            c->y = gc_permute(b, param(b, "x", t234), perm);
        }
        return true;
    case GC_OP_BROADCAST:
        if (variant) return false;
        c->y = gc_broadcast_to(b, param(b, "x", shape(GC_F32, 2, 3, 1)), &t234);
        return true;
    case GC_OP_SLICE:
        if (variant) return false;
        c->y = gc_slice(b, param(b, "x", t234), 2, 1, 3);
        return true;
    case GC_OP_PAD:
        if (variant) return false;
        c->y = gc_pad(b, param(b, "x", t234), 1, 1, 2);
        return true;
    case GC_OP_CONCAT:
        if (variant) return false;
        {
            gc_node *xs[3] = {param(b, "a", shape(GC_F32, 2, 3, 2)), param(b, "b", shape(GC_F32, 2, 3, 1)),
                              param(b, "c", m34)};
            c->y = gc_concat(b, xs, 3, 1);
        }
        return true;
    case GC_OP_TAKE:
        if (variant) return false;
        c->fixed_name[0] = "idx";
        c->fixed[0] = take_idx;
        {
            gc_node *in[2] = {param(b, "table", shape(GC_F32, 2, 5, 3)), input(b, "idx", shape(GC_I32, 2, 2, 2))};
            c->y = gc_build(b, op, in, 2, NULL, NULL);
        }
        return true;
    case GC_OP_SCATTER_ADD:
        if (variant) return false;
        c->fixed_name[0] = "idx";
        c->fixed[0] = scatter_idx;
        {
            gc_type result = shape(GC_F32, 2, 5, 3);
            gc_node *in[2] = {param(b, "updates", shape(GC_F32, 2, 4, 3)), input(b, "idx", shape(GC_I32, 1, 4))};
            c->y = gc_build(b, op, in, 2, NULL, &result);
        }
        return true;
    case GC_OP_INDEX_ADD:
        /* Both differentiable operands: the base (identity) and the rows added (a take). */
        if (variant) return false;
        c->fixed_name[0] = "idx";
        c->fixed[0] = scatter_idx;
        {
            gc_node *in[3] = {param(b, "base", shape(GC_F32, 2, 5, 3)), param(b, "updates", shape(GC_F32, 2, 4, 3)),
                              input(b, "idx", shape(GC_I32, 1, 4))};
            c->y = gc_build(b, op, in, 3, NULL, NULL);
        }
        return true;
    case GC_OP_MAX_POOL: case GC_OP_AVG_POOL: {
        const pool_case *list = op == GC_OP_MAX_POOL ? max_pool_cases : avg_pool_cases;
        int count = op == GC_OP_MAX_POOL ? (int)(sizeof max_pool_cases / sizeof *max_pool_cases)
                                         : (int)(sizeof avg_pool_cases / sizeof *avg_pool_cases);
        if (variant >= count) return false;
        gc_attr pa = pool_attr(&list[variant]);
        gc_node *x = param(b, "x", pool_type(&list[variant]));
        c->y = gc_build(b, op, &x, 1, &pa, NULL);
        return true;
    }
    case GC_OP_AVG_POOL_GRAD: {
        /* Linear in dy: its gradient is avg_pool with the same windows. */
        if (variant > 2) return false;
        const pool_case *pc = &avg_pool_cases[variant == 0 ? 0 : variant == 1 ? 2 : 3];
        gc_attr pa = pool_attr(pc);
        gc_type xt = pool_type(pc);
        gc_node *probe = input(b, "probe", xt);
        gc_node *pooled = gc_build(b, GC_OP_AVG_POOL, &probe, 1, &pa, NULL);
        if (!pooled) return true;
        gc_node *dy = param(b, "dy", pooled->type);
        c->y = gc_build(b, op, &dy, 1, &pa, &xt);
        return true;
    }
    /* Convolution: every attribute that changes the math (stride, asymmetric padding, dilation,
     * groups, depthwise, 1-d), and for the input gradient two x sizes one stride apart. */
    case GC_OP_CONV: case GC_OP_CONV_INPUT_GRAD: case GC_OP_CONV_WEIGHT_GRAD: {
        typedef struct conv_variant {
            int rank, x[5], w[5], y[5], stride[2], pb[2], pa[2], dil[2], groups;
        } conv_variant;
        static const conv_variant variants[] = {
            {4, {2, 3, 5, 5}, {4, 3, 3, 3}, {2, 4, 5, 5}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 1},
            {4, {2, 4, 6, 5}, {4, 2, 2, 3}, {2, 4, 3, 4}, {2, 1}, {1, 0}, {0, 1}, {2, 1}, 2},
            {3, {2, 3, 9}, {2, 3, 3}, {2, 2, 4}, {2}, {1}, {2}, {2}, 1},
            {4, {2, 4, 5, 5}, {4, 1, 3, 3}, {2, 4, 5, 5}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 4},
            {4, {2, 3, 6, 6}, {4, 3, 3, 3}, {2, 4, 3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, 1}, /* x 6 or 5 gives 3 */
            {4, {2, 3, 5, 5}, {4, 3, 3, 3}, {2, 4, 3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, 1},
        };
        if (variant >= (int)(sizeof variants / sizeof variants[0])) return false;
        const conv_variant *v = &variants[variant];
        gc_attr_conv ca = {.groups = v->groups};
        for (int d = 0; d < v->rank - 2; d++) {
            ca.stride[d] = v->stride[d];
            ca.pad_before[d] = v->pb[d];
            ca.pad_after[d] = v->pa[d];
            ca.dilation[d] = v->dil[d];
        }
        int64_t dx[5], dw[5], dyd[5];
        for (int d = 0; d < v->rank; d++) dx[d] = v->x[d], dw[d] = v->w[d], dyd[d] = v->y[d];
        gc_type tx = gc_type_make(GC_F32, v->rank, dx), tw = gc_type_make(GC_F32, v->rank, dw);
        gc_type ty = gc_type_make(GC_F32, v->rank, dyd);
        if (op == GC_OP_CONV)
            c->y = gc_conv(b, param(b, "cx", tx), param(b, "cw", tw), &ca);
        else if (op == GC_OP_CONV_INPUT_GRAD)
            c->y = gc_conv_input_grad(b, param(b, "cdy", ty), param(b, "cw", tw), &ca, &tx);
        else
            c->y = gc_conv_weight_grad(b, param(b, "cx", tx), param(b, "cdy", ty), &ca, &tw);
        return true;
    }
    case GC_OP_RECURRENCE: return build_recurrence(b, variant, c);
    default:
        if (info->op_class == GC_CLASS_ELEMENTWISE && info->arity == 1 && !(info->flags & GC_FLAG_GIVEN) &&
            info->attr_kind == GC_ATTR_NONE) {
            if (variant) return false;
            c->y = gc_unary(b, op, param(b, "x", m34));
            return true;
        }
        return false;
    }
}

static double draw(value_domain d) {
    double v = uniform(-2.0, 2.0);
    switch (d) {
    case DOMAIN_ANY: return v;
    case DOMAIN_POSITIVE: return uniform(0.5, 2.0);
    case DOMAIN_AWAY_FROM_ZERO: return v + (v < 0 ? -0.1 : 0.1);
    case DOMAIN_AWAY_FROM_HALF: {
        double x = uniform(-1.0, 1.0);
        return fabs(fabs(x) - 0.5) < 0.05 ? x * 0.8 : x;
    }
    }
    return v;
}

/* Builds the case, differentiates sum(y * w) and checks every grad by finite differences. */
static void check_case(gc_op op, int variant, bool *built) {
    gc_error err = {0};
    gc_graph *g = gc_graph_new("case");
    gc_builder b = {g, {"case.ir", 1, 1}, &err};
    test_case c;
    memset(&c, 0, sizeof c);
    c.graph = g;
    *built = build_case(&b, op, variant, &c);
    if (!*built) {
        gc_graph_free(g);
        return;
    }
    if (!c.y) fail_msg("%s variant %d: building failed: %s", gc_op_table[op].name, variant, err.message);
    gc_node *w = input(&b, "w", c.y->type);
    uint32_t all = c.y->type.rank ? (1u << c.y->type.rank) - 1 : 0;
    gc_node *prod = gc_binary(&b, GC_OP_MUL, c.y, w);
    gc_node *loss = all ? gc_reduce(&b, GC_OP_SUM, prod, all, false) : prod;
    assert_non_null(loss);
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "loss", loss, &err));
    if (!gc_autodiff(g, &err)) fail_msg("%s: autodiff failed: %s", gc_op_table[op].name, err.message);

    gc_interp *it = gc_interp_new(g, GC_INTERP_F64, &err);
    assert_non_null(it);
    rng_state = 0x9e3779b97f4a7c15ull + (uint64_t)op * 1000 + (uint64_t)variant;
    for (int i = 0; i < g->num_nodes; i++) {
        gc_node *n = g->nodes[i];
        if (n->op != GC_OP_PARAM && n->op != GC_OP_INPUT) continue;
        int64_t count = gc_type_numel(&n->type);
        double values[512];
        assert_true(count <= 512);
        const double *fixed = NULL;
        for (int k = 0; k < 2; k++)
            if (c.fixed_name[k] && !strcmp(c.fixed_name[k], n->name)) fixed = c.fixed[k];
        for (int64_t e = 0; e < count; e++)
            values[e] = fixed ? fixed[e] : n->op == GC_OP_INPUT ? uniform(-1.0, 1.0) : draw(c.domain);
        if (!gc_interp_set_f64(it, n->name, values, count, &err)) fail_msg("set %s: %s", n->name, err.message);
    }
    gc_gradcheck_report report;
    if (!gc_gradcheck(it, g, NULL, &report, &err)) fail_msg("%s: gradcheck could not run: %s", gc_op_table[op].name, err.message);
    if (report.checked == 0 || report.failed)
        fail_msg("%s variant %d: %lld of %lld gradient elements wrong; worst %s[%lld]: analytic %.9g numeric %.9g",
                 gc_op_table[op].name, variant, (long long)report.failed, (long long)report.checked,
                 report.worst_param, (long long)report.worst_index, report.worst_analytic, report.worst_numeric);
    gc_interp_free(it);
    gc_graph_free(g);
}

static void every_differentiable_op_passes_gradcheck(void **state) {
    (void)state;
    char missing[1024] = "";
    for (int op = 0; op < GC_OP_COUNT; op++) {
        if (!(gc_op_table[op].flags & GC_FLAG_DIFF)) continue;
        int variants = 0;
        bool built = true;
        for (int v = 0; built; v++) {
            check_case((gc_op)op, v, &built);
            variants += built;
        }
        if (!variants) {
            strncat(missing, " ", sizeof missing - strlen(missing) - 1);
            strncat(missing, gc_op_table[op].name, sizeof missing - strlen(missing) - 1);
        }
    }
    if (missing[0]) fail_msg("differentiable ops with no gradcheck case:%s", missing);
}

/* loss = sum(x * x + x): the two uses of x accumulate to 2x + 1, exactly. */
static void uses_accumulate(void **state) {
    (void)state;
    gc_error err = {0};
    gc_graph *g = gc_graph_new("acc");
    gc_builder b = {g, {0}, &err};
    gc_node *x = param(&b, "x", shape(GC_F32, 1, 3));
    gc_node *loss = gc_reduce(&b, GC_OP_SUM, gc_binary(&b, GC_OP_ADD, gc_binary(&b, GC_OP_MUL, x, x), x), 1, false);
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "loss", loss, &err));
    assert_true(gc_autodiff(g, &err));
    gc_interp *it = gc_interp_new(g, GC_INTERP_F32, &err);
    const double xs[] = {1.5, -2, 0.25};
    assert_true(gc_interp_set_f64(it, "x", xs, 3, &err));
    assert_true(gc_interp_run(it, &err));
    const double *dx = gc_interp_output(it, GC_OUTPUT_GRAD, "x");
    assert_non_null(dx);
    for (int i = 0; i < 3; i++) assert_true(dx[i] == 2 * xs[i] + 1);
    gc_interp_free(it);
    gc_graph_free(g);
}

/* stop_gradient and argmax block the flow; a param behind them gets no grad output. */
static void blocked_paths_and_unreached_params(void **state) {
    (void)state;
    gc_error err = {0};
    gc_graph *g = gc_graph_new("blocked");
    gc_builder b = {g, {0}, &err};
    gc_node *p = param(&b, "p", shape(GC_F32, 1, 4));
    gc_node *q = param(&b, "q", shape(GC_F32, 1, 4));
    gc_node *unused = param(&b, "unused", shape(GC_F32, 1, 2));
    gc_node *am = gc_cast(&b, gc_axis_op(&b, GC_OP_ARGMAX, q, 0), GC_F32);
    gc_node *sg = gc_unary(&b, GC_OP_STOP_GRADIENT, q);
    gc_node *loss = gc_binary(&b, GC_OP_ADD, gc_reduce(&b, GC_OP_SUM, gc_binary(&b, GC_OP_MUL, p, sg), 1, false), am);
    assert_non_null(unused);
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "loss", loss, &err));
    assert_true(gc_autodiff(g, &err));
    assert_non_null(gc_graph_find_output(g, GC_OUTPUT_GRAD, "p"));
    assert_null(gc_graph_find_output(g, GC_OUTPUT_GRAD, "q"));
    const gc_node *unreached[4];
    assert_int_equal(gc_autodiff_unreached(g, unreached, 4), 2);
    assert_string_equal(unreached[0]->name, "q");
    assert_string_equal(unreached[1]->name, "unused");
    gc_graph_free(g);
}

static void bad_objectives_are_errors(void **state) {
    (void)state;
    gc_error err = {0};
    gc_graph *g = gc_graph_new("bad");
    gc_builder b = {g, {"m.gm", 7, 3}, &err};
    gc_node *p = param(&b, "p", shape(GC_F32, 1, 4));
    assert_false(gc_autodiff(g, &err));
    assert_non_null(strstr(err.message, "no output \"loss\""));
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "loss", gc_unary(&b, GC_OP_EXP, p), &err));
    assert_false(gc_autodiff(g, &err));
    assert_int_equal(err.code, GC_ERR_USER);
    assert_non_null(strstr(err.message, "must be a scalar"));
    assert_int_equal(err.line, 7);
    gc_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_differentiable_op_passes_gradcheck),
        cmocka_unit_test(uses_accumulate),
        cmocka_unit_test(blocked_paths_and_unreached_params),
        cmocka_unit_test(bad_objectives_are_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
