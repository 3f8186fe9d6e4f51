/*
 * onnx_ops.c: elementwise, shape and data-movement operators of ONNX lowered to IR, and folded on
 * the host when all their inputs are known at import (the Shape -> Gather -> Concat -> Reshape
 * chains exporters write for dynamic shapes). The table at the end lists every operator gradc
 * imports, including those of onnx_ops_nn.c.
 */
#include "frontend/onnx_internal.h"

#include <math.h>
#include <string.h>

static gc_builder *B(importer *I) { return I->b; }

/* ---- host helpers ---- */

static void strides_of(int rank, const int64_t *dims, int64_t *s) {
    int64_t acc = 1;
    for (int d = rank - 1; d >= 0; d--) s[d] = acc, acc *= dims[d];
}

/* NumPy broadcasting of dims; false when incompatible. */
static bool broadcast_dims(int ra, const int64_t *a, int rb, const int64_t *b, int *r, int64_t *out) {
    *r = ra > rb ? ra : rb;
    for (int d = 0; d < *r; d++) {
        int64_t x = d - (*r - ra) >= 0 ? a[d - (*r - ra)] : 1, y = d - (*r - rb) >= 0 ? b[d - (*r - rb)] : 1;
        if (x != y && x != 1 && y != 1) return false;
        out[d] = x == 1 ? y : x;
    }
    return true;
}

/* The flat index into t (broadcast to rank r) of output element i of dims out. */
static int64_t broadcast_index(const gc_onnx_tensor *t, int r, const int64_t *out, int64_t i) {
    int64_t s[GC_ONNX_MAX_RANK], idx = 0;
    strides_of(t->rank, t->dims, s);
    for (int d = r - 1; d >= 0; d--) {
        int64_t c = i % out[d];
        i /= out[d];
        int td = d - (r - t->rank);
        if (td >= 0 && t->dims[td] != 1) idx += c * s[td];
    }
    return idx;
}

typedef double (*fold_fn)(double a, double b, double c);

/* An elementwise op of up to three known values, broadcast, into a value of elem type et. */
static gc_onnx_tensor *fold(importer *I, int et, fold_fn f, gc_onnx_tensor *a, gc_onnx_tensor *b, gc_onnx_tensor *c) {
    int r = a->rank;
    int64_t dims[GC_ONNX_MAX_RANK];
    memcpy(dims, a->dims, sizeof dims);
    gc_onnx_tensor *xs[3] = {a, b, c};
    for (int k = 1; k < 3; k++) {
        if (!xs[k]) continue;
        int64_t tmp[GC_ONNX_MAX_RANK];
        int rr;
        if (!broadcast_dims(r, dims, xs[k]->rank, xs[k]->dims, &rr, tmp))
            return gc_onnx_fail(I, "operands do not broadcast"), NULL;
        r = rr;
        memcpy(dims, tmp, sizeof dims);
    }
    gc_onnx_tensor *t = gc_onnx_tensor_new(I, et, r, dims);
    if (!t) return NULL;
    for (int64_t i = 0; i < t->numel; i++) {
        double v[3] = {0, 0, 0};
        for (int k = 0; k < 3; k++)
            if (xs[k]) v[k] = gc_onnx_get(xs[k], broadcast_index(xs[k], r, dims, i));
        gc_onnx_put(t, i, f(v[0], v[1], v[2]));
    }
    return t;
}

/* t's values under new dims (the same numel). */
static gc_onnx_tensor *reshaped(importer *I, const gc_onnx_tensor *t, int rank, const int64_t *dims) {
    gc_onnx_tensor *r = gc_onnx_tensor_new(I, t->elem_type, rank, dims);
    if (!r) return NULL;
    if (r->numel != t->numel) return gc_onnx_fail(I, "cannot reshape %lld elements", (long long)t->numel), NULL;
    if (t->f) memcpy(r->f, t->f, sizeof *t->f * (size_t)t->numel);
    else memcpy(r->i, t->i, sizeof *t->i * (size_t)t->numel);
    return r;
}

/* Elements of t at positions idx (n of them, shaped idx_dims) along axis. */
static gc_onnx_tensor *host_take(importer *I, const gc_onnx_tensor *t, int axis, const int64_t *idx, int idx_rank,
                                 const int64_t *idx_dims) {
    int64_t dims[GC_ONNX_MAX_RANK], n = 1;
    int r = 0;
    for (int d = 0; d < idx_rank; d++) n *= idx_dims[d];
    if (t->rank - 1 + idx_rank > GC_ONNX_MAX_RANK) return gc_onnx_fail(I, "result rank is too large"), NULL;
    for (int d = 0; d < axis; d++) dims[r++] = t->dims[d];
    for (int d = 0; d < idx_rank; d++) dims[r++] = idx_dims[d];
    for (int d = axis + 1; d < t->rank; d++) dims[r++] = t->dims[d];
    gc_onnx_tensor *out = gc_onnx_tensor_new(I, t->elem_type, r, dims);
    if (!out) return NULL;
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++) outer *= t->dims[d];
    for (int d = axis + 1; d < t->rank; d++) inner *= t->dims[d];
    int64_t len = t->dims[axis], o = 0;
    for (int64_t a = 0; a < outer; a++)
        for (int64_t j = 0; j < n; j++)
            for (int64_t k = 0; k < inner; k++) gc_onnx_put(out, o++, gc_onnx_get(t, (a * len + idx[j]) * inner + k));
    return out;
}

/* IR: elements of x at the known positions idx (shaped idx_dims) along axis, via take. */
static gc_node *node_take(importer *I, gc_node *x, int axis, gc_node *idx_node) {
    gc_builder *b = B(I);
    if (!x || !idx_node) return NULL;
    int r = x->type.rank, s = idx_node->type.rank;
    if (r - 1 + s > GC_MAX_RANK) return gc_onnx_fail(I, "result rank exceeds %d", GC_MAX_RANK), NULL;
    int perm[GC_MAX_RANK];
    gc_node *xt = x;
    if (axis) {
        perm[0] = axis;
        for (int d = 0, j = 1; d < r; d++)
            if (d != axis) perm[j++] = d;
        xt = gc_permute(b, x, perm);
    }
    gc_node *y = gc_build(b, GC_OP_TAKE, (gc_node *[]){xt, idx_node}, 2, NULL, NULL);
    if (!y || !axis) return y;
    /* y is idx.shape + x.shape[:axis] + x.shape[axis+1:]; put idx's dims at axis. */
    int out_rank = r - 1 + s;
    for (int j = 0; j < out_rank; j++) perm[j] = j < axis ? s + j : j < axis + s ? j - axis : j;
    return gc_permute(b, y, perm);
}

static gc_node *index_node(importer *I, const int64_t *idx, int rank, const int64_t *dims) {
    gc_onnx_tensor *t = gc_onnx_tensor_new(I, GC_ONNX_INT64, rank, dims);
    if (!t) return NULL;
    memcpy(t->i, idx, sizeof *idx * (size_t)t->numel);
    return gc_onnx_materialize(I, t);
}

/* ---- elementwise ---- */

static double f_add(double a, double b, double c) { return a + b; }
static double f_sub(double a, double b, double c) { return a - b; }
static double f_mul(double a, double b, double c) { return a * b; }
static double f_div(double a, double b, double c) { return a / b; }
static double f_idiv(double a, double b, double c) { return b == 0 ? 0 : trunc(a / b); }
static double f_pow(double a, double b, double c) { return pow(a, b); }
static double f_eq(double a, double b, double c) { return a == b; }
static double f_max(double a, double b, double c) { return a >= b || isnan(a) ? a : b; }
static double f_min(double a, double b, double c) { return a <= b || isnan(a) ? a : b; }
static double f_where(double a, double b, double c) { return a != 0 ? b : c; }

/* Both operands in one dtype: an integer value meeting a float one is made float. */
static int binary_nodes(importer *I, gc_node **a, gc_node **b) {
    *a = gc_onnx_node(I, 0);
    *b = gc_onnx_node(I, 1);
    if (!*a || !*b) return 0;
    if ((*a)->type.dtype != (*b)->type.dtype)
        return gc_onnx_fail(I, "operands of different dtypes (%s and %s)", gc_onnx_type_name(I->in[0]->et),
                            gc_onnx_type_name(I->in[1]->et));
    return 1;
}

static int lower_binary(importer *I) {
    const char *op = I->node->op_type;
    if (I->nin != 2 || !I->in[0] || !I->in[1]) return gc_onnx_fail(I, "expects two inputs");
    bool is_int = !gc_onnx_is_float(I->in[0]->et) && I->in[0]->et != GC_ONNX_BOOL;
    int et = !strcmp(op, "Equal") ? GC_ONNX_BOOL : I->in[0]->et;
    gc_onnx_tensor *ka = gc_onnx_known(I, 0), *kb = gc_onnx_known(I, 1);
    fold_fn f = !strcmp(op, "Add") ? f_add : !strcmp(op, "Sub") ? f_sub : !strcmp(op, "Mul") ? f_mul
              : !strcmp(op, "Div") ? (is_int ? f_idiv : f_div) : !strcmp(op, "Pow") ? f_pow : f_eq;
    if (ka && kb) return gc_onnx_set_known(I, 0, fold(I, et, f, ka, kb, NULL));
    if (!strcmp(op, "Pow")) {
        /* Integer bases compute in f32 and round back (ONNX's result has the base's type). */
        gc_node *x = gc_onnx_node(I, 0), *y = NULL;
        if (!x) return 0;
        bool int_base = x->type.dtype != GC_F32;
        if (int_base) x = gc_cast(B(I), x, GC_F32);
        double *e;
        int64_t n;
        if (kb || (I->in[1]->init && I->in[1]->init->numel == 1)) {
            if (!gc_onnx_static_doubles(I, 1, "exponent", &e, &n)) return 0;
            bool uniform = n >= 1;
            for (int64_t k = 1; k < n; k++) uniform = uniform && e[k] == e[0];
            if (uniform) {
                y = gc_pow_scalar(B(I), x, e[0]);
                /* A known exponent of higher rank broadcasts the result. */
                if (y && kb && kb->rank > x->type.rank) {
                    gc_type t;
                    int rr;
                    int64_t dims[GC_ONNX_MAX_RANK];
                    if (!broadcast_dims(x->type.rank, x->type.dims, kb->rank, kb->dims, &rr, dims) ||
                        !gc_onnx_type(I, GC_F32, rr, dims, &t))
                        return gc_onnx_fail(I, "operands do not broadcast");
                    y = gc_broadcast_to(B(I), y, &t);
                }
            }
        }
        if (!y) {
            /* x ^ y = exp(y log x): defined for x > 0, as the general power's gradient in y needs. */
            gc_node *p = gc_onnx_node(I, 1);
            if (!p) return 0;
            if (p->type.dtype != GC_F32) p = gc_cast(B(I), p, GC_F32);
            y = gc_unary(B(I), GC_OP_EXP, gc_binary(B(I), GC_OP_MUL, p, gc_unary(B(I), GC_OP_LOG, x)));
        }
        if (int_base && y) y = gc_cast(B(I), gc_add_scalar(B(I), y, 0.5), GC_I32);
        return gc_onnx_set_node(I, 0, y, et);
    }
    gc_node *a, *b;
    if (!binary_nodes(I, &a, &b)) return 0;
    gc_op o = !strcmp(op, "Add") ? GC_OP_ADD : !strcmp(op, "Sub") ? GC_OP_SUB : !strcmp(op, "Mul") ? GC_OP_MUL
            : !strcmp(op, "Div") ? GC_OP_DIV : GC_OP_EQ;
    return gc_onnx_set_node(I, 0, gc_binary(B(I), o, a, b), et);
}

/* Max and Min of any number of inputs. */
static int lower_extremum(importer *I) {
    bool is_max = !strcmp(I->node->op_type, "Max");
    if (I->nin < 1 || !I->in[0]) return gc_onnx_fail(I, "expects at least one input");
    if (gc_onnx_all_known(I)) {
        gc_onnx_tensor *acc = gc_onnx_known(I, 0);
        for (int k = 1; k < I->nin && acc; k++)
            if (I->in[k]) acc = fold(I, acc->elem_type, is_max ? f_max : f_min, acc, gc_onnx_known(I, k), NULL);
        return gc_onnx_set_known(I, 0, acc);
    }
    gc_node *acc = gc_onnx_node(I, 0);
    for (int k = 1; k < I->nin && acc; k++) {
        gc_node *x = gc_onnx_node(I, k);
        if (x && x->type.dtype != acc->type.dtype) return gc_onnx_fail(I, "operands of different dtypes");
        acc = gc_binary(B(I), is_max ? GC_OP_MAXIMUM : GC_OP_MINIMUM, acc, x);
    }
    return gc_onnx_set_node(I, 0, acc, GC_ONNX_IN_ET(I, 0));
}

static int lower_where(importer *I) {
    if (I->nin != 3) return gc_onnx_fail(I, "expects three inputs");
    if (gc_onnx_all_known(I))
        return gc_onnx_set_known(I, 0, fold(I, I->in[1]->et, f_where, gc_onnx_known(I, 0), gc_onnx_known(I, 1),
                                            gc_onnx_known(I, 2)));
    gc_node *c = gc_onnx_node(I, 0), *a = c ? gc_onnx_node(I, 1) : NULL, *b = a ? gc_onnx_node(I, 2) : NULL;
    if (!b) return 0;
    if (a->type.dtype != b->type.dtype) return gc_onnx_fail(I, "branches of different dtypes");
    if (c->type.dtype != GC_F32) c = gc_cast(B(I), c, GC_F32);
    return gc_onnx_set_node(I, 0, gc_select(B(I), c, a, b), I->in[1]->et);
}

static double u_neg(double a, double b, double c) { return -a; }
static double u_sqrt(double a, double b, double c) { return sqrt(a); }
static double u_exp(double a, double b, double c) { return exp(a); }
static double u_log(double a, double b, double c) { return log(a); }
static double u_tanh(double a, double b, double c) { return tanh(a); }
static double u_sigmoid(double a, double b, double c) { return 1 / (1 + exp(-a)); }
static double u_relu(double a, double b, double c) { return a > 0 ? a : 0; }
static double u_erf(double a, double b, double c) { return erf(a); }
static double u_id(double a, double b, double c) { return a; }

static int lower_unary(importer *I) {
    static const struct { const char *name; gc_op op; fold_fn f; } table[] = {
        {"Neg", GC_OP_NEG, u_neg},       {"Sqrt", GC_OP_SQRT, u_sqrt},          {"Exp", GC_OP_EXP, u_exp},
        {"Log", GC_OP_LOG, u_log},       {"Tanh", GC_OP_TANH, u_tanh},          {"Sigmoid", GC_OP_SIGMOID, u_sigmoid},
        {"Relu", GC_OP_RELU, u_relu},    {"Erf", GC_OP_ERF, u_erf},
    };
    for (size_t k = 0; k < sizeof table / sizeof *table; k++) {
        if (strcmp(table[k].name, I->node->op_type)) continue;
        gc_onnx_tensor *t = gc_onnx_known(I, 0);
        if (t) return gc_onnx_set_known(I, 0, fold(I, t->elem_type, table[k].f, t, NULL, NULL));
        gc_node *x = gc_onnx_node(I, 0);
        if (!x) return 0;
        if (x->type.dtype != GC_F32 && table[k].op != GC_OP_NEG && table[k].op != GC_OP_RELU)
            return gc_onnx_fail(I, "%s of integers is not supported", table[k].name);
        return gc_onnx_set_node(I, 0, gc_unary(B(I), table[k].op, x), GC_ONNX_IN_ET(I, 0));
    }
    return gc_onnx_fail(I, "not an elementwise operator");
}

static int lower_identity(importer *I) {
    if (!I->in[0]) return gc_onnx_fail(I, "expects an input");
    if (I->nout > 0) {
        oval *v = I->in[0];
        if (!v->node && v->init && !gc_onnx_node(I, 0)) return 0;
        I->out[0] = *v;
    }
    return 1;
}

static int lower_cast(importer *I) {
    int to = (int)gc_onnx_attr_int(I, "to", 0);
    gc_dtype want;
    if (!gc_onnx_dtype(to, &want)) return gc_onnx_fail(I, "cast to %s is outside gradc's dtypes (f32, i32)", gc_onnx_type_name(to));
    gc_onnx_tensor *t = gc_onnx_known(I, 0);
    if (t) return gc_onnx_set_known(I, 0, fold(I, to, u_id, t, NULL, NULL));
    gc_node *x = gc_onnx_node(I, 0);
    if (!x) return 0;
    gc_node *y = x;
    if (to == GC_ONNX_BOOL) y = gc_binary(B(I), GC_OP_NE, x, gc_scalar(B(I), x->type.dtype, 0));
    else if (want != x->type.dtype) y = gc_cast(B(I), x, want);
    return gc_onnx_set_node(I, 0, y, to);
}

/* ---- values known at import ---- */

static gc_onnx_tensor *scalar_value(importer *I, int et, double v, int rank, const int64_t *dims) {
    gc_onnx_tensor *t = gc_onnx_tensor_new(I, et, rank, dims);
    if (t)
        for (int64_t k = 0; k < t->numel; k++) gc_onnx_put(t, k, v);
    return t;
}

static int lower_constant(importer *I) {
    const Onnx__AttributeProto *a;
    if ((a = gc_onnx_attr(I, "value")) && a->t) {
        gc_onnx_tensor *t = gc_arena_alloc(I->arena, sizeof *t);
        if (!t) return gc_failf(I->b->err, GC_ERR_MEMORY, "out of memory");
        size_t len = onnx__tensor_proto__get_packed_size(a->t);
        uint8_t *bytes = gc_arena_alloc(I->arena, len + 1);
        if (!bytes) return gc_failf(I->b->err, GC_ERR_MEMORY, "out of memory");
        onnx__tensor_proto__pack(a->t, bytes);
        if (!gc_onnx_read_tensor_bytes(bytes, len, I->path, I->arena, t, I->b->err)) {
            gc_error_prefix(I->b->err, "node '%s' (Constant, opset %d): ", I->node->name ? I->node->name : "", I->opset);
            return 0;
        }
        return gc_onnx_set_known(I, 0, t);
    }
    if ((a = gc_onnx_attr(I, "value_float")) && a->has_f) return gc_onnx_set_known(I, 0, scalar_value(I, GC_ONNX_FLOAT, a->f, 0, NULL));
    if ((a = gc_onnx_attr(I, "value_int")) && a->has_i) return gc_onnx_set_known(I, 0, scalar_value(I, GC_ONNX_INT64, (double)a->i, 0, NULL));
    if ((a = gc_onnx_attr(I, "value_floats"))) {
        int64_t n = (int64_t)a->n_floats;
        gc_onnx_tensor *t = gc_onnx_tensor_new(I, GC_ONNX_FLOAT, 1, &n);
        if (t) memcpy(t->f, a->floats, sizeof(float) * (size_t)n);
        return gc_onnx_set_known(I, 0, t);
    }
    if ((a = gc_onnx_attr(I, "value_ints"))) {
        int64_t n = (int64_t)a->n_ints;
        gc_onnx_tensor *t = gc_onnx_tensor_new(I, GC_ONNX_INT64, 1, &n);
        if (t) memcpy(t->i, a->ints, sizeof(int64_t) * (size_t)n);
        return gc_onnx_set_known(I, 0, t);
    }
    return gc_onnx_fail(I, "only value, value_float(s) and value_int(s) constants are supported");
}

/* The dims of input k, whatever it is. */
static int dims_of(importer *I, int k, int *rank, int64_t *dims) {
    oval *v = I->in[k];
    *rank = 0; /* set on failure too: Release builds (-O3) otherwise see callers read it uninitialised */
    if (!v) return gc_onnx_fail(I, "input %d is missing", k);
    const gc_onnx_tensor *t = v->k ? v->k : v->init;
    if (t) {
        *rank = t->rank;
        memcpy(dims, t->dims, sizeof(int64_t) * (size_t)t->rank);
        return 1;
    }
    gc_node *n = gc_onnx_node(I, k);
    if (!n) return 0;
    *rank = n->type.rank;
    memcpy(dims, n->type.dims, sizeof(int64_t) * (size_t)n->type.rank);
    return 1;
}

static int lower_shape(importer *I) {
    int rank = 0; /* set by the shape query before any use; -O3 cannot see it */
    int64_t dims[GC_ONNX_MAX_RANK];
    if (!dims_of(I, 0, &rank, dims)) return 0;
    int64_t start = gc_onnx_attr_int(I, "start", 0), end = gc_onnx_attr_int(I, "end", rank);
    if (start < 0) start += rank;
    if (end < 0) end += rank;
    start = start < 0 ? 0 : start > rank ? rank : start;
    end = end < start ? start : end > rank ? rank : end;
    int64_t n = end - start;
    gc_onnx_tensor *t = gc_onnx_tensor_new(I, GC_ONNX_INT64, 1, &n);
    if (t) memcpy(t->i, dims + start, sizeof(int64_t) * (size_t)n);
    return gc_onnx_set_known(I, 0, t);
}

static int lower_constant_of_shape(importer *I) {
    int64_t n;
    const int64_t *shape = gc_onnx_static_ints(I, 0, "shape", &n);
    if (!shape) return 0;
    if (n > GC_ONNX_MAX_RANK) return gc_onnx_fail(I, "rank %lld is too large", (long long)n);
    int et = GC_ONNX_FLOAT;
    double v = 0;
    const Onnx__AttributeProto *a = gc_onnx_attr(I, "value");
    if (a && a->t) {
        et = a->t->has_data_type ? a->t->data_type : GC_ONNX_FLOAT;
        gc_onnx_tensor one;
        size_t len = onnx__tensor_proto__get_packed_size(a->t);
        uint8_t *bytes = gc_arena_alloc(I->arena, len + 1);
        if (!bytes) return gc_failf(I->b->err, GC_ERR_MEMORY, "out of memory");
        onnx__tensor_proto__pack(a->t, bytes);
        if (!gc_onnx_read_tensor_bytes(bytes, len, I->path, I->arena, &one, I->b->err)) return 0;
        if (one.numel != 1) return gc_onnx_fail(I, "value must hold one element");
        v = gc_onnx_get(&one, 0);
    }
    return gc_onnx_set_known(I, 0, scalar_value(I, et, v, (int)n, shape));
}

static int lower_range(importer *I) {
    double *s, *l, *d;
    int64_t n;
    if (!gc_onnx_static_doubles(I, 0, "start", &s, &n) || !gc_onnx_static_doubles(I, 1, "limit", &l, &n) ||
        !gc_onnx_static_doubles(I, 2, "delta", &d, &n))
        return 0;
    if (d[0] == 0) return gc_onnx_fail(I, "delta is 0");
    double count = ceil((l[0] - s[0]) / d[0]);
    int64_t len = count > 0 ? (int64_t)count : 0;
    if (len > ((int64_t)1 << 26)) return gc_onnx_fail(I, "a range of %lld elements is too long", (long long)len);
    gc_onnx_tensor *t = gc_onnx_tensor_new(I, I->in[0]->et, 1, &len);
    for (int64_t k = 0; t && k < len; k++) gc_onnx_put(t, k, s[0] + (double)k * d[0]);
    return gc_onnx_set_known(I, 0, t);
}

/* ---- movement ---- */

/* Sets output 0 to input 0 under new dims: a host value or a reshape. */
static int set_reshaped(importer *I, int rank, const int64_t *dims) {
    gc_onnx_tensor *t = gc_onnx_known(I, 0);
    if (t) return gc_onnx_set_known(I, 0, reshaped(I, t, rank, dims));
    gc_node *x = gc_onnx_node(I, 0);
    if (!x) return 0;
    gc_type type;
    if (!gc_onnx_type(I, x->type.dtype, rank, dims, &type)) return 0;
    if (gc_type_numel(&type) != gc_type_numel(&x->type)) return gc_onnx_fail(I, "cannot reshape: element counts differ");
    return gc_onnx_set_node(I, 0, gc_reshape(B(I), x, rank, dims), GC_ONNX_IN_ET(I, 0));
}

static int lower_reshape(importer *I) {
    int rank = 0; /* set by the shape query before any use; -O3 cannot see it */
    int64_t in[GC_ONNX_MAX_RANK], n, out[GC_ONNX_MAX_RANK], total = 1, known = 1;
    if (!dims_of(I, 0, &rank, in)) return 0;
    const int64_t *shape = gc_onnx_static_ints(I, 1, "shape", &n);
    if (!shape) return 0;
    if (n > GC_ONNX_MAX_RANK) return gc_onnx_fail(I, "target rank %lld is too large", (long long)n);
    bool allowzero = gc_onnx_attr_int(I, "allowzero", 0) != 0;
    int infer = -1;
    for (int d = 0; d < rank; d++) total *= in[d];
    for (int d = 0; d < n; d++) {
        out[d] = shape[d] == 0 && !allowzero ? (d < rank ? in[d] : -2) : shape[d];
        if (out[d] == -2) return gc_onnx_fail(I, "shape copies dim %d, which the input lacks", d);
        if (out[d] == -1) {
            if (infer >= 0) return gc_onnx_fail(I, "shape has two -1 dims");
            infer = d;
        } else if (out[d] < 0) return gc_onnx_fail(I, "shape has a negative dim %lld", (long long)out[d]);
        else known *= out[d];
    }
    if (infer >= 0) {
        if (!known || total % known) return gc_onnx_fail(I, "cannot infer the -1 dim of the shape");
        out[infer] = total / known;
    }
    return set_reshaped(I, (int)n, out);
}

static int lower_flatten(importer *I) {
    int rank = 0, axis = 0;
    int64_t in[GC_ONNX_MAX_RANK];
    if (!dims_of(I, 0, &rank, in)) return 0;
    int64_t a = gc_onnx_attr_int(I, "axis", 1);
    if (a < -rank || a > rank) return gc_onnx_fail(I, "axis %lld is out of range for rank %d", (long long)a, rank);
    axis = (int)(a < 0 ? a + rank : a);
    int64_t out[2] = {1, 1};
    for (int d = 0; d < rank; d++) out[d >= axis] *= in[d];
    return set_reshaped(I, 2, out);
}

/* Axes from the attribute (before opset 13) or input 1. */
static const int64_t *axes_arg(importer *I, int since, int *n) {
    if (I->opset < since) return gc_onnx_attr_ints(I, "axes", n);
    *n = 0;
    if (!gc_onnx_has_input(I, 1)) return NULL;
    int64_t count;
    const int64_t *axes = gc_onnx_static_ints(I, 1, "axes", &count);
    *n = (int)count;
    return axes ? axes : (const int64_t *)I; /* non-NULL marks an error already set */
}

static int lower_squeeze(importer *I) {
    int rank = 0, n = 0;
    int64_t in[GC_ONNX_MAX_RANK], out[GC_ONNX_MAX_RANK];
    if (!dims_of(I, 0, &rank, in)) return 0;
    const int64_t *axes = axes_arg(I, 13, &n);
    if (I->b->err->code) return 0;
    bool drop[GC_ONNX_MAX_RANK] = {0};
    for (int k = 0; k < n; k++) {
        int a;
        if (!gc_onnx_axis(I, axes[k], rank, &a)) return 0;
        if (in[a] != 1) return gc_onnx_fail(I, "cannot squeeze dim %d of size %lld", a, (long long)in[a]);
        drop[a] = true;
    }
    int r = 0;
    for (int d = 0; d < rank; d++)
        if (!(n ? drop[d] : in[d] == 1)) out[r++] = in[d];
    return set_reshaped(I, r, out);
}

static int lower_unsqueeze(importer *I) {
    int rank = 0, n = 0;
    int64_t in[GC_ONNX_MAX_RANK], out[GC_ONNX_MAX_RANK];
    if (!dims_of(I, 0, &rank, in)) return 0;
    const int64_t *axes = axes_arg(I, 13, &n);
    if (I->b->err->code) return 0;
    int r = rank + n;
    if (r > GC_ONNX_MAX_RANK) return gc_onnx_fail(I, "result rank %d is too large", r);
    bool ins[GC_ONNX_MAX_RANK] = {0};
    for (int k = 0; k < n; k++) {
        int a;
        if (!gc_onnx_axis(I, axes[k], r, &a)) return 0;
        if (ins[a]) return gc_onnx_fail(I, "axis %d repeats", a);
        ins[a] = true;
    }
    for (int d = 0, j = 0; d < r; d++) out[d] = ins[d] ? 1 : in[j++];
    return set_reshaped(I, r, out);
}

static int lower_transpose(importer *I) {
    int rank = 0, n = 0;
    int64_t in[GC_ONNX_MAX_RANK];
    if (!dims_of(I, 0, &rank, in)) return 0;
    const int64_t *p = gc_onnx_attr_ints(I, "perm", &n);
    int perm[GC_MAX_RANK];
    if (p && n != rank) return gc_onnx_fail(I, "perm has %d entries for rank %d", n, rank);
    if (rank > GC_MAX_RANK) return gc_onnx_fail(I, "rank %d is above gradc's %d", rank, GC_MAX_RANK);
    for (int d = 0; d < rank; d++) perm[d] = p ? (int)p[d] : rank - 1 - d;
    gc_node *x = gc_onnx_node(I, 0);
    return gc_onnx_set_node(I, 0, x ? gc_permute(B(I), x, perm) : NULL, GC_ONNX_IN_ET(I, 0));
}

static int lower_concat(importer *I) {
    int rank = 0, axis = 0;
    int64_t dims[GC_ONNX_MAX_RANK];
    if (!dims_of(I, 0, &rank, dims)) return 0;
    if (!gc_onnx_axis(I, gc_onnx_attr_int(I, "axis", 0), rank, &axis)) return 0;
    if (gc_onnx_all_known(I)) {
        int64_t total = 0;
        for (int k = 0; k < I->nin; k++)
            if (I->in[k]) total += gc_onnx_known(I, k)->dims[axis];
        dims[axis] = total;
        gc_onnx_tensor *t = gc_onnx_tensor_new(I, I->in[0]->et, rank, dims);
        if (!t) return 0;
        int64_t outer = 1, inner = 1, o = 0;
        for (int d = 0; d < axis; d++) outer *= dims[d];
        for (int d = axis + 1; d < rank; d++) inner *= dims[d];
        for (int64_t a = 0; a < outer; a++)
            for (int k = 0; k < I->nin; k++) {
                const gc_onnx_tensor *x = gc_onnx_known(I, k);
                if (!x) continue;
                int64_t len = x->dims[axis] * inner;
                for (int64_t j = 0; j < len; j++) gc_onnx_put(t, o++, gc_onnx_get(x, a * len + j));
            }
        return gc_onnx_set_known(I, 0, t);
    }
    gc_node *parts[16];
    int n = 0;
    for (int k = 0; k < I->nin; k++) {
        if (!I->in[k]) continue;
        /* Zero-length parts (a known value with dim 0) join nothing. */
        gc_onnx_tensor *t = gc_onnx_known(I, k);
        if (t && t->numel == 0) continue;
        if (!(parts[n++] = gc_onnx_node(I, k))) return 0;
    }
    if (n == 1) return gc_onnx_set_node(I, 0, parts[0], GC_ONNX_IN_ET(I, 0));
    return gc_onnx_set_node(I, 0, gc_concat(B(I), parts, n, axis), GC_ONNX_IN_ET(I, 0));
}

/* Output k is input 0's [start, end) along axis. */
static int set_slice(importer *I, int k, int axis, int64_t start, int64_t end) {
    int rank = 0; /* set by the shape query before any use; -O3 cannot see it */
    int64_t dims[GC_ONNX_MAX_RANK];
    if (!dims_of(I, 0, &rank, dims)) return 0;
    if (end <= start) return gc_onnx_fail(I, "zero-sized tensors are not supported (an empty slice)");
    gc_onnx_tensor *t = gc_onnx_known(I, 0);
    if (t) {
        int64_t n = end - start, *idx = gc_arena_alloc(I->arena, sizeof *idx * (size_t)n);
        if (!idx) return gc_failf(I->b->err, GC_ERR_MEMORY, "out of memory");
        for (int64_t j = 0; j < n; j++) idx[j] = start + j;
        return gc_onnx_set_known(I, k, host_take(I, t, axis, idx, 1, &n));
    }
    gc_node *x = gc_onnx_node(I, 0);
    if (!x) return 0;
    if (start == 0 && end == x->type.dims[axis]) return gc_onnx_set_node(I, k, x, GC_ONNX_IN_ET(I, 0));
    return gc_onnx_set_node(I, k, gc_slice(B(I), x, axis, start, end), GC_ONNX_IN_ET(I, 0));
}

static int lower_split(importer *I) {
    int rank = 0, axis = 0;
    int64_t dims[GC_ONNX_MAX_RANK];
    if (!dims_of(I, 0, &rank, dims)) return 0;
    if (!gc_onnx_axis(I, gc_onnx_attr_int(I, "axis", 0), rank, &axis)) return 0;
    int64_t n = 0, sizes[8];
    const int64_t *split = NULL;
    if (I->opset < 13) {
        int count;
        split = gc_onnx_attr_ints(I, "split", &count);
        n = count;
    } else if (gc_onnx_has_input(I, 1) && !(split = gc_onnx_static_ints(I, 1, "split", &n))) return 0;
    if (split && n != I->nout) return gc_onnx_fail(I, "split has %lld sizes for %d outputs", (long long)n, I->nout);
    for (int k = 0; k < I->nout; k++) {
        if (split) sizes[k] = split[k];
        else if (dims[axis] % I->nout) return gc_onnx_fail(I, "dim %lld does not split into %d equal parts", (long long)dims[axis], I->nout);
        else sizes[k] = dims[axis] / I->nout;
    }
    int64_t at = 0;
    for (int k = 0; k < I->nout; k++) {
        if (sizes[k] < 0 || at + sizes[k] > dims[axis]) return gc_onnx_fail(I, "split sizes exceed dim %lld", (long long)dims[axis]);
        if (!set_slice(I, k, axis, at, at + sizes[k])) return 0;
        at += sizes[k];
    }
    return 1;
}

static int lower_slice(importer *I) {
    int rank = 0; /* set by the shape query before any use; -O3 cannot see it */
    int64_t dims[GC_ONNX_MAX_RANK];
    if (!dims_of(I, 0, &rank, dims)) return 0;
    const int64_t *starts, *ends, *axes = NULL, *steps = NULL;
    int64_t n, m;
    if (I->opset < 10) {
        int a, b, c;
        starts = gc_onnx_attr_ints(I, "starts", &a);
        ends = gc_onnx_attr_ints(I, "ends", &b);
        axes = gc_onnx_attr_ints(I, "axes", &c);
        if (a != b || (axes && c != a)) return gc_onnx_fail(I, "starts, ends and axes differ in length");
        n = a;
    } else {
        if (!(starts = gc_onnx_static_ints(I, 1, "starts", &n)) || !(ends = gc_onnx_static_ints(I, 2, "ends", &m))) return 0;
        if (m != n) return gc_onnx_fail(I, "starts and ends differ in length");
        if (gc_onnx_has_input(I, 3) && (!(axes = gc_onnx_static_ints(I, 3, "axes", &m)) || m != n))
            return axes ? gc_onnx_fail(I, "axes differs in length from starts") : 0;
        if (gc_onnx_has_input(I, 4) && (!(steps = gc_onnx_static_ints(I, 4, "steps", &m)) || m != n))
            return steps ? gc_onnx_fail(I, "steps differs in length from starts") : 0;
    }
    /* One axis at a time: the result of each step is the next step's input. */
    oval cur = *I->in[0];
    oval *saved = I->in[0];
    int saved_nin = I->nin;
    for (int64_t k = 0; k < n; k++) {
        int axis;
        if (!gc_onnx_axis(I, axes ? axes[k] : k, rank, &axis)) return 0;
        int64_t step = steps ? steps[k] : 1, len = dims[axis], s = starts[k], e = ends[k];
        if (step == 0) return gc_onnx_fail(I, "a step is 0");
        if (s < 0) s += len;
        if (e < 0 && e > INT64_MIN / 2) e += len;
        if (step > 0) {
            s = s < 0 ? 0 : s > len ? len : s;
            e = e < 0 ? 0 : e > len ? len : e;
        } else {
            s = s < 0 ? -1 : s > len - 1 ? len - 1 : s;
            e = e < -1 ? -1 : e > len - 1 ? len - 1 : e;
        }
        I->in[0] = &cur;
        I->nin = 1;
        memset(I->out, 0, sizeof I->out[0]);
        int ok;
        if (step == 1) ok = set_slice(I, 0, axis, s, e);
        else {
            int64_t count = step > 0 ? (e - s + step - 1) / step : (s - e + (-step) - 1) / (-step);
            if (count <= 0) return gc_onnx_fail(I, "zero-sized tensors are not supported (an empty slice)");
            int64_t *idx = gc_arena_alloc(I->arena, sizeof *idx * (size_t)count);
            if (!idx) return gc_failf(I->b->err, GC_ERR_MEMORY, "out of memory");
            for (int64_t j = 0; j < count; j++) idx[j] = s + j * step;
            gc_onnx_tensor *t = gc_onnx_known(I, 0);
            if (t) ok = gc_onnx_set_known(I, 0, host_take(I, t, axis, idx, 1, &count));
            else ok = gc_onnx_set_node(I, 0, node_take(I, gc_onnx_node(I, 0), axis, index_node(I, idx, 1, &count)), cur.et);
        }
        if (!ok) return 0;
        const char *name = cur.name;
        cur = I->out[0];
        cur.name = name;
        if (!dims_of(I, 0, &rank, dims)) return 0;
    }
    I->in[0] = saved;
    I->nin = saved_nin;
    I->out[0] = cur;
    return 1;
}

static int lower_gather(importer *I) {
    int rank = 0, axis = 0;
    int64_t dims[GC_ONNX_MAX_RANK];
    if (!dims_of(I, 0, &rank, dims)) return 0;
    if (!gc_onnx_axis(I, gc_onnx_attr_int(I, "axis", 0), rank, &axis)) return 0;
    gc_onnx_tensor *idx = gc_onnx_known(I, 1);
    if (idx) {
        if (idx->f) return gc_onnx_fail(I, "indices must be integers");
        int64_t *norm = gc_arena_alloc(I->arena, sizeof *norm * (size_t)(idx->numel ? idx->numel : 1));
        if (!norm) return gc_failf(I->b->err, GC_ERR_MEMORY, "out of memory");
        for (int64_t k = 0; k < idx->numel; k++) {
            int64_t v = idx->i[k] < 0 ? idx->i[k] + dims[axis] : idx->i[k];
            if (v < 0 || v >= dims[axis]) return gc_onnx_fail(I, "index %lld is out of range for dim %lld", (long long)idx->i[k], (long long)dims[axis]);
            norm[k] = v;
        }
        gc_onnx_tensor *t = gc_onnx_known(I, 0);
        if (t) return gc_onnx_set_known(I, 0, host_take(I, t, axis, norm, idx->rank, idx->dims));
        if (idx->numel == 0) return gc_onnx_fail(I, "zero-sized tensors are not supported (no indices)");
        return gc_onnx_set_node(I, 0, node_take(I, gc_onnx_node(I, 0), axis, index_node(I, norm, idx->rank, idx->dims)),
                                GC_ONNX_IN_ET(I, 0));
    }
    /* Indices computed by the graph: negative ones count from the end, as ONNX says (the take
     * op itself reads them as they are). */
    gc_node *ix = gc_onnx_node(I, 1);
    if (!ix) return 0;
    if (ix->type.dtype != GC_I32) return gc_onnx_fail(I, "indices must be integers");
    gc_builder *b = B(I);
    gc_node *negative = gc_cast(b, gc_binary(b, GC_OP_LT, ix, gc_scalar(b, GC_I32, 0)), GC_I32);
    ix = gc_binary(b, GC_OP_ADD, ix, gc_binary(b, GC_OP_MUL, negative, gc_scalar(b, GC_I32, (double)dims[axis])));
    return gc_onnx_set_node(I, 0, node_take(I, gc_onnx_node(I, 0), axis, ix), GC_ONNX_IN_ET(I, 0));
}

static int lower_expand(importer *I) {
    int rank = 0, r = 0;
    int64_t dims[GC_ONNX_MAX_RANK], n, out[GC_ONNX_MAX_RANK];
    if (!dims_of(I, 0, &rank, dims)) return 0;
    const int64_t *shape = gc_onnx_static_ints(I, 1, "shape", &n);
    if (!shape) return 0;
    if (n > GC_ONNX_MAX_RANK || !broadcast_dims(rank, dims, (int)n, shape, &r, out))
        return gc_onnx_fail(I, "the shape does not broadcast with the input");
    gc_onnx_tensor *t = gc_onnx_known(I, 0);
    if (t) {
        gc_onnx_tensor *shape_t = gc_onnx_tensor_new(I, t->elem_type, r, out);
        if (!shape_t) return 0;
        return gc_onnx_set_known(I, 0, fold(I, t->elem_type, f_add, t, shape_t, NULL));
    }
    gc_node *x = gc_onnx_node(I, 0);
    gc_type type;
    if (!x || !gc_onnx_type(I, x->type.dtype, r, out, &type)) return 0;
    if (gc_type_equal(&type, &x->type)) return gc_onnx_set_node(I, 0, x, GC_ONNX_IN_ET(I, 0));
    return gc_onnx_set_node(I, 0, gc_broadcast_to(B(I), x, &type), GC_ONNX_IN_ET(I, 0));
}

/* Constant padding (the only mode gradc has); negative pads slice. */
static int lower_pad(importer *I) {
    const char *mode = gc_onnx_attr_str(I, "mode", "constant");
    if (strcmp(mode, "constant")) return gc_onnx_fail(I, "Pad mode '%s' is not supported (only constant)", mode);
    int rank = 0; /* set by the shape query before any use; -O3 cannot see it */
    int64_t dims[GC_ONNX_MAX_RANK];
    if (!dims_of(I, 0, &rank, dims)) return 0;
    const int64_t *pads;
    int64_t n;
    double value = 0;
    if (I->opset < 11) {
        int c;
        pads = gc_onnx_attr_ints(I, "pads", &c);
        n = c;
        value = gc_onnx_attr_float(I, "value", 0);
    } else {
        if (!(pads = gc_onnx_static_ints(I, 1, "pads", &n))) return 0;
        if (gc_onnx_has_input(I, 2)) {
            double *v;
            int64_t m;
            if (!gc_onnx_static_doubles(I, 2, "constant_value", &v, &m)) return 0;
            if (m) value = v[0];
        }
        if (gc_onnx_has_input(I, 3)) return gc_onnx_fail(I, "the axes input is not supported");
    }
    if (n != 2 * rank) return gc_onnx_fail(I, "pads has %lld entries for rank %d", (long long)n, rank);
    gc_node *x = gc_onnx_node(I, 0), *ones = NULL;
    if (!x) return 0;
    if (value != 0) ones = gc_fill(B(I), &x->type, 1);
    for (int d = 0; d < rank && x; d++) {
        int64_t before = pads[d], after = pads[d + rank], len = x->type.dims[d];
        if (before < 0 || after < 0) {
            int64_t s = before < 0 ? -before : 0, e = len - (after < 0 ? -after : 0);
            if (e <= s) return gc_onnx_fail(I, "zero-sized tensors are not supported (pads remove dim %d)", d);
            x = gc_slice(B(I), x, d, s, e);
            if (ones) ones = gc_slice(B(I), ones, d, s, e);
        }
        if (before > 0 || after > 0) {
            x = gc_pad(B(I), x, d, before > 0 ? before : 0, after > 0 ? after : 0);
            if (ones) ones = gc_pad(B(I), ones, d, before > 0 ? before : 0, after > 0 ? after : 0);
        }
    }
    /* pad(x) + value (1 - pad(ones)): x exactly inside, value exactly outside. */
    if (ones && x) x = gc_binary(B(I), GC_OP_ADD, x, gc_mul_scalar(B(I), gc_add_scalar(B(I), gc_unary(B(I), GC_OP_NEG, ones), 1), value));
    return gc_onnx_set_node(I, 0, x, GC_ONNX_IN_ET(I, 0));
}

/* ---- the table ---- */

int gc_onnx_lower_conv(importer *I);
int gc_onnx_lower_pool(importer *I);
int gc_onnx_lower_global_avg_pool(importer *I);
int gc_onnx_lower_batchnorm(importer *I);
int gc_onnx_lower_layernorm(importer *I);
int gc_onnx_lower_gemm(importer *I);
int gc_onnx_lower_matmul(importer *I);
int gc_onnx_lower_softmax(importer *I);
int gc_onnx_lower_reduce(importer *I);
int gc_onnx_lower_dropout(importer *I);
int gc_onnx_lower_clip(importer *I);

static const struct {
    const char *name;
    gc_onnx_lower_fn fn;
    unsigned static_inputs; /* bit k: input k must be known at import */
} ops[] = {
    {"Conv", gc_onnx_lower_conv, 0},
    {"BatchNormalization", gc_onnx_lower_batchnorm, 0},
    {"Relu", lower_unary, 0},
    {"Clip", gc_onnx_lower_clip, 6},
    {"MaxPool", gc_onnx_lower_pool, 0},
    {"AveragePool", gc_onnx_lower_pool, 0},
    {"GlobalAveragePool", gc_onnx_lower_global_avg_pool, 0},
    {"Flatten", lower_flatten, 0},
    {"Gemm", gc_onnx_lower_gemm, 0},
    {"MatMul", gc_onnx_lower_matmul, 0},
    {"Add", lower_binary, 0},
    {"Sub", lower_binary, 0},
    {"Mul", lower_binary, 0},
    {"Div", lower_binary, 0},
    {"Pow", lower_binary, 0},
    {"Sqrt", lower_unary, 0},
    {"Erf", lower_unary, 0},
    {"Exp", lower_unary, 0},
    {"Log", lower_unary, 0},
    {"Neg", lower_unary, 0},
    {"Tanh", lower_unary, 0},
    {"Sigmoid", lower_unary, 0},
    {"Softmax", gc_onnx_lower_softmax, 0},
    {"LogSoftmax", gc_onnx_lower_softmax, 0},
    {"ReduceMean", gc_onnx_lower_reduce, 2},
    {"ReduceSum", gc_onnx_lower_reduce, 2},
    {"Transpose", lower_transpose, 0},
    {"Reshape", lower_reshape, 2},
    {"Squeeze", lower_squeeze, 2},
    {"Unsqueeze", lower_unsqueeze, 2},
    {"Concat", lower_concat, 0},
    {"Split", lower_split, 2},
    {"Slice", lower_slice, 30},
    {"Gather", lower_gather, 2},
    {"Shape", lower_shape, 0},
    {"Constant", lower_constant, 0},
    {"ConstantOfShape", lower_constant_of_shape, 1},
    {"Expand", lower_expand, 2},
    {"Where", lower_where, 0},
    {"Equal", lower_binary, 0},
    {"Cast", lower_cast, 0},
    {"Identity", lower_identity, 0},
    {"Dropout", gc_onnx_lower_dropout, 6},
    {"LayerNormalization", gc_onnx_lower_layernorm, 0},
    {"Pad", lower_pad, 14},
    {"Range", lower_range, 7},
    {"Max", lower_extremum, 0},
    {"Min", lower_extremum, 0},
};

gc_onnx_lower_fn gc_onnx_lowering(const char *op_type) {
    for (size_t k = 0; k < sizeof ops / sizeof *ops; k++)
        if (!strcmp(ops[k].name, op_type)) return ops[k].fn;
    return NULL;
}

bool gc_onnx_op_supported(const char *op_type) { return gc_onnx_lowering(op_type) != NULL; }

bool gc_onnx_input_is_static(const char *op_type, int index) {
    for (size_t k = 0; k < sizeof ops / sizeof *ops; k++)
        if (!strcmp(ops[k].name, op_type)) return index < 32 && (ops[k].static_inputs >> index & 1u);
    return false;
}
