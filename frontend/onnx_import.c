/*
 * onnx_import.c: the walk over an ONNX graph (onnx_import.h): values by name, attributes, host
 * values known at import and their materialisation as IR, initializers as params and buffers.
 * The operators themselves are lowered in onnx_ops.c and onnx_ops_nn.c.
 */
#include "frontend/onnx_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/layers_norm.h"

/* A host value whose elements run through more distinct stretches than this is too large to
 * embed in the graph as constants (each stretch is one fill node). */
enum { MAX_CONSTANT_RUNS = 4096 };
/* Host values (folded shape computations, ConstantOfShape) are at most this many elements. */
#define MAX_HOST_ELEMENTS ((int64_t)1 << 26)

int gc_onnx_fail(importer *I, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const Onnx__NodeProto *n = I->node;
    if (!n) return gc_fail(I->b->err, GC_ERR_USER, I->b->loc, "%s: %s", I->path, msg);
    return gc_fail(I->b->err, GC_ERR_USER, I->b->loc, "%s: node '%s' (%s, opset %d): %s", I->path,
                   n->name && *n->name ? n->name : "", n->op_type, I->opset, msg);
}

/* ---- values by name ---- */

static uint32_t hash_name(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static oval *lookup(importer *I, const char *name) {
    if (!I->num_slots) return NULL;
    uint32_t mask = (uint32_t)I->num_slots - 1;
    for (uint32_t i = hash_name(name) & mask;; i = (i + 1) & mask) {
        int s = I->slots[i];
        if (!s) return NULL;
        if (!strcmp(I->vals[s - 1].name, name)) return &I->vals[s - 1];
    }
}

/* Defines (or redefines: ONNX names are SSA, but a bound constant may shadow an input) name. */
static oval *define(importer *I, const char *name) {
    oval *old = lookup(I, name);
    if (old) {
        memset(old, 0, sizeof *old);
        old->name = name;
        return old;
    }
    if (I->num_vals == I->cap_vals) {
        int cap = I->cap_vals ? I->cap_vals * 2 : 256;
        oval *v = gc_arena_grow(I->arena, I->vals, sizeof *v * (size_t)I->num_vals, sizeof *v * (size_t)cap);
        int *slots = gc_arena_alloc(I->arena, sizeof *slots * (size_t)cap * 2);
        if (!v || !slots) return gc_failf(I->b->err, GC_ERR_MEMORY, "out of memory while importing"), NULL;
        I->vals = v;
        I->cap_vals = cap;
        I->slots = slots;
        I->num_slots = cap * 2;
        uint32_t mask = (uint32_t)I->num_slots - 1;
        for (int k = 0; k < I->num_vals; k++) {
            uint32_t i = hash_name(I->vals[k].name) & mask;
            while (I->slots[i]) i = (i + 1) & mask;
            I->slots[i] = k + 1;
        }
    }
    oval *v = &I->vals[I->num_vals++];
    memset(v, 0, sizeof *v);
    v->name = name;
    uint32_t mask = (uint32_t)I->num_slots - 1, i = hash_name(name) & mask;
    while (I->slots[i]) i = (i + 1) & mask;
    I->slots[i] = I->num_vals;
    return v;
}

/* ---- attributes ---- */

const Onnx__AttributeProto *gc_onnx_attr(importer *I, const char *name) {
    for (size_t k = 0; k < I->node->n_attribute; k++)
        if (I->node->attribute[k]->name && !strcmp(I->node->attribute[k]->name, name)) return I->node->attribute[k];
    return NULL;
}

int64_t gc_onnx_attr_int(importer *I, const char *name, int64_t def) {
    const Onnx__AttributeProto *a = gc_onnx_attr(I, name);
    return a && a->has_i ? a->i : def;
}

double gc_onnx_float_as_written(float f) {
    char text[32];
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, (double)f);
        double d = strtod(text, NULL);
        if ((float)d == f) return d;
    }
    return f; /* NaN */
}

double gc_onnx_scalar_as_written(double v) {
    return (double)(float)v == v ? gc_onnx_float_as_written((float)v) : v;
}

double gc_onnx_attr_float(importer *I, const char *name, double def) {
    const Onnx__AttributeProto *a = gc_onnx_attr(I, name);
    return a && a->has_f ? gc_onnx_float_as_written(a->f) : def;
}

const char *gc_onnx_attr_str(importer *I, const char *name, const char *def) {
    const Onnx__AttributeProto *a = gc_onnx_attr(I, name);
    if (!a || !a->has_s) return def;
    char *s = gc_arena_strndup(I->arena, (const char *)a->s.data, a->s.len);
    return s ? s : def;
}

const int64_t *gc_onnx_attr_ints(importer *I, const char *name, int *n) {
    const Onnx__AttributeProto *a = gc_onnx_attr(I, name);
    *n = a ? (int)a->n_ints : 0;
    return a && a->n_ints ? a->ints : NULL;
}

/* ---- host values ---- */

bool gc_onnx_dtype(int et, gc_dtype *out) {
    switch (et) {
    case GC_ONNX_FLOAT: case GC_ONNX_DOUBLE: case GC_ONNX_BOOL: *out = GC_F32; return true;
    case GC_ONNX_INT64: case GC_ONNX_INT32: case GC_ONNX_INT16: case GC_ONNX_INT8: case GC_ONNX_UINT8:
    case GC_ONNX_UINT16: *out = GC_I32; return true;
    default: return false;
    }
}

int gc_onnx_type(importer *I, gc_dtype dt, int rank, const int64_t *dims, gc_type *out) {
    if (rank > GC_MAX_RANK) return gc_onnx_fail(I, "rank %d is above gradc's %d", rank, GC_MAX_RANK);
    for (int d = 0; d < rank; d++)
        if (dims[d] < 1) return gc_onnx_fail(I, "zero-sized tensors are not supported (dim %d is %lld)", d, (long long)dims[d]);
    *out = gc_type_make(dt, rank, dims);
    return 1;
}

int gc_onnx_axis(importer *I, int64_t axis, int rank, int *out) {
    if (axis < -rank || axis >= (rank ? rank : 1)) return gc_onnx_fail(I, "axis %lld is out of range for rank %d", (long long)axis, rank);
    *out = (int)(axis < 0 ? axis + rank : axis);
    return 1;
}

gc_onnx_tensor *gc_onnx_tensor_new(importer *I, int et, int rank, const int64_t *dims) {
    gc_onnx_tensor *t = gc_arena_alloc(I->arena, sizeof *t);
    if (!t) return gc_failf(I->b->err, GC_ERR_MEMORY, "out of memory while importing"), NULL;
    if (rank > GC_ONNX_MAX_RANK) return gc_onnx_fail(I, "rank %d is too large", rank), NULL;
    t->elem_type = et;
    t->rank = rank;
    t->numel = 1;
    for (int d = 0; d < rank; d++) {
        if (dims[d] < 0 || (dims[d] && t->numel > MAX_HOST_ELEMENTS / dims[d]))
            return gc_onnx_fail(I, "a value known at import has dims too large or negative"), NULL;
        t->dims[d] = dims[d];
        t->numel *= dims[d];
    }
    size_t count = (size_t)(t->numel ? t->numel : 1);
    if (gc_onnx_is_float(et)) t->f = gc_arena_alloc(I->arena, count * sizeof *t->f);
    else t->i = gc_arena_alloc(I->arena, count * sizeof *t->i);
    if (!t->f && !t->i) return gc_failf(I->b->err, GC_ERR_MEMORY, "out of memory while importing"), NULL;
    return t;
}

double gc_onnx_get(const gc_onnx_tensor *t, int64_t i) { return t->f ? (double)t->f[i] : (double)t->i[i]; }

void gc_onnx_put(gc_onnx_tensor *t, int64_t i, double v) {
    if (t->f) t->f[i] = (float)v;
    else if (t->elem_type == GC_ONNX_BOOL) t->i[i] = v != 0;
    else t->i[i] = v >= 9.2e18 ? INT64_MAX : v <= -9.2e18 ? INT64_MIN : (int64_t)v;
}

gc_node *gc_onnx_materialize(importer *I, const gc_onnx_tensor *t) {
    gc_dtype dt;
    if (!gc_onnx_dtype(t->elem_type, &dt))
        return gc_onnx_fail(I, "dtype %s is outside gradc's (f32, i32)", gc_onnx_type_name(t->elem_type)), NULL;
    gc_type type;
    if (!gc_onnx_type(I, dt, t->rank, t->dims, &type)) return NULL;
    int64_t runs = 1;
    for (int64_t k = 1; k < t->numel; k++)
        if (gc_onnx_get(t, k) != gc_onnx_get(t, k - 1)) runs++;
    /* i32 values beyond 32 bits saturate (Slice's INT64_MAX ends never get here: they fold). */
    double first = gc_onnx_get(t, 0);
    if (runs == 1) return gc_fill(I->b, &type, first);
    if (runs > MAX_CONSTANT_RUNS)
        return gc_onnx_fail(I, "a constant of %lld elements with %lld distinct stretches is too large to embed",
                            (long long)t->numel, (long long)runs), NULL;
    gc_node **parts = gc_arena_alloc(I->arena, sizeof *parts * (size_t)runs);
    if (!parts) return gc_failf(I->b->err, GC_ERR_MEMORY, "out of memory while importing"), NULL;
    int64_t start = 0, n = 0;
    for (int64_t k = 1; k <= t->numel; k++) {
        if (k < t->numel && gc_onnx_get(t, k) == gc_onnx_get(t, start)) continue;
        int64_t len = k - start;
        gc_type piece = gc_type_make(dt, 1, &len);
        if (!(parts[n++] = gc_fill(I->b, &piece, gc_onnx_get(t, start)))) return NULL;
        start = k;
    }
    gc_node *flat = gc_concat(I->b, parts, (int)n, 0);
    return gc_reshape(I->b, flat, type.rank, type.dims);
}

/* ---- inputs and outputs of the current node ---- */

bool gc_onnx_has_input(importer *I, int k) { return k < I->nin && I->in[k]; }

static gc_node *source_of(importer *I, oval *v) {
    const gc_onnx_tensor *t = v->init;
    gc_type type;
    if (!gc_onnx_type(I, GC_F32, t->rank, t->dims, &type)) return NULL;
    char name[512];
    int len = I->prefix && *I->prefix ? snprintf(name, sizeof name, "%s.%s", I->prefix, t->name)
                                       : snprintf(name, sizeof name, "%s", t->name);
    if (len < 0 || (size_t)len >= sizeof name) return gc_onnx_fail(I, "initializer name '%s' is too long", t->name), NULL;
    bool buffer = false;
    for (int k = 0; k < I->num_buffers; k++) buffer = buffer || !strcmp(I->buffers[k], t->name);
    gc_init zeros = {GC_INIT_ZEROS, 0, 0};
    int before = I->c->num_params;
    gc_node *n = buffer ? gc_layer_buffer(I->c, name, "onnx", &type, zeros) : gc_layer_param(I->c, name, "onnx", &type, zeros);
    if (!n) return NULL;
    if (I->c->num_params > before) {
        float *data = gc_arena_alloc_uninit(I->c->b.graph->arena, sizeof(float) * (size_t)t->numel);
        if (!data) return gc_failf(I->b->err, GC_ERR_MEMORY, "out of memory while importing"), NULL;
        memcpy(data, t->f, sizeof(float) * (size_t)t->numel);
        I->c->params[I->c->num_params - 1].data = data;
    }
    return n;
}

gc_node *gc_onnx_node(importer *I, int k) {
    oval *v = k < I->nin ? I->in[k] : NULL;
    if (!v) return gc_onnx_fail(I, "input %d is missing", k), NULL;
    if (v->missing) return gc_onnx_fail(I, "input '%s' is %s", v->name, v->missing), NULL;
    if (!v->node && v->init) v->node = source_of(I, v);
    else if (!v->node && v->k) v->node = gc_onnx_materialize(I, v->k);
    return v->node;
}

gc_onnx_tensor *gc_onnx_known(importer *I, int k) {
    oval *v = k < I->nin ? I->in[k] : NULL;
    return v && !v->missing ? v->k : NULL;
}

bool gc_onnx_all_known(importer *I) {
    for (int k = 0; k < I->nin; k++)
        if (I->in[k] && !gc_onnx_known(I, k)) return false;
    return true;
}

const int64_t *gc_onnx_static_ints(importer *I, int k, const char *what, int64_t *n) {
    gc_onnx_tensor *t = gc_onnx_known(I, k);
    if (!t || t->f)
        return gc_onnx_fail(I, "input %d (%s) must be an integer tensor known at import (a constant or an initializer)", k,
                            what), NULL;
    *n = t->numel;
    return t->i;
}

int gc_onnx_static_doubles(importer *I, int k, const char *what, double **out, int64_t *n) {
    gc_onnx_tensor *t = gc_onnx_known(I, k);
    if (!t && k < I->nin && I->in[k] && I->in[k]->init) {
        /* A float initializer read as a constant (Clip's bounds, Pad's value): not a param. */
        t = (gc_onnx_tensor *)I->in[k]->init;
    }
    if (!t) return gc_onnx_fail(I, "input %d (%s) must be known at import (a constant or an initializer)", k, what);
    double *d = gc_arena_alloc(I->arena, sizeof *d * (size_t)(t->numel ? t->numel : 1));
    if (!d) return gc_failf(I->b->err, GC_ERR_MEMORY, "out of memory while importing");
    for (int64_t i = 0; i < t->numel; i++) d[i] = gc_onnx_get(t, i);
    *out = d;
    *n = t->numel;
    return 1;
}

int gc_onnx_set_node(importer *I, int k, gc_node *n, int et) {
    if (!n) return 0;
    if (k < I->nout) {
        I->out[k].node = n;
        I->out[k].et = et;
    }
    return 1;
}

int gc_onnx_set_known(importer *I, int k, gc_onnx_tensor *t) {
    if (!t) return 0;
    if (k < I->nout) {
        I->out[k].k = t;
        I->out[k].et = t->elem_type;
    }
    return 1;
}

void gc_onnx_set_missing(importer *I, int k, const char *why) {
    if (k < I->nout && !I->out[k].node && !I->out[k].k) I->out[k].missing = why;
}

/* ---- the graph ---- */

static const Onnx__GraphProto *graph_of(const gc_onnx_model *m) {
    const Onnx__ModelProto *p = gc_onnx_model_proto(m);
    return p ? p->graph : NULL;
}

static bool is_initializer(const gc_onnx_model *m, const char *name) {
    return gc_onnx_model_find_initializer(m, name) != NULL;
}

int gc_onnx_num_inputs(const gc_onnx_model *m) {
    const Onnx__GraphProto *g = graph_of(m);
    int n = 0;
    for (size_t k = 0; g && k < g->n_input; k++) n += !is_initializer(m, g->input[k]->name);
    return n;
}

int gc_onnx_input(const gc_onnx_model *m, int i, gc_onnx_input_info *out) {
    const Onnx__GraphProto *g = graph_of(m);
    memset(out, 0, sizeof *out);
    for (size_t k = 0; g && k < g->n_input; k++) {
        const Onnx__ValueInfoProto *v = g->input[k];
        if (is_initializer(m, v->name) || i--) continue;
        out->name = v->name;
        out->rank = -1;
        const Onnx__TypeProto *t = v->type;
        if (!t || t->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !t->tensor_type) return 1;
        out->elem_type = t->tensor_type->has_elem_type ? t->tensor_type->elem_type : 0;
        const Onnx__TensorShapeProto *s = t->tensor_type->shape;
        if (!s || s->n_dim > GC_ONNX_MAX_RANK) return 1;
        out->rank = (int)s->n_dim;
        for (int d = 0; d < out->rank; d++) {
            const Onnx__TensorShapeProto__Dimension *dim = s->dim[d];
            out->dims[d] = dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE ? dim->dim_value : -1;
        }
        return 1;
    }
    return 0;
}

int gc_onnx_num_outputs(const gc_onnx_model *m) {
    const Onnx__GraphProto *g = graph_of(m);
    return g ? (int)g->n_output : 0;
}

const char *gc_onnx_output_name(const gc_onnx_model *m, int i) {
    const Onnx__GraphProto *g = graph_of(m);
    return g && i >= 0 && (size_t)i < g->n_output ? g->output[i]->name : "";
}

/* The initializers BatchNormalization reads as running statistics: buffers, not params. */
static int find_buffers(importer *I) {
    const Onnx__GraphProto *g = I->g;
    I->buffers = gc_arena_alloc(I->arena, sizeof *I->buffers * (2 * g->n_node + 1));
    if (!I->buffers) return gc_failf(I->b->err, GC_ERR_MEMORY, "out of memory while importing");
    for (size_t k = 0; k < g->n_node; k++) {
        const Onnx__NodeProto *n = g->node[k];
        if (strcmp(n->op_type, "BatchNormalization") || n->n_input < 5) continue;
        for (int j = 3; j < 5; j++)
            if (n->input[j] && is_initializer(I->m, n->input[j])) I->buffers[I->num_buffers++] = n->input[j];
    }
    return 1;
}

/* A graph input's type from its argument: fixed dims in the file must agree, symbolic ones take
 * the argument's. */
static int check_argument(importer *I, const gc_onnx_input_info *info, const gc_node *arg) {
    char t[96];
    if (info->rank >= 0 && info->rank != arg->type.rank)
        return gc_onnx_fail(I, "graph input '%s' has rank %d, the argument is %s", info->name, info->rank,
                            gc_type_format(&arg->type, t, sizeof t));
    for (int d = 0; info->rank > 0 && d < info->rank; d++)
        if (info->dims[d] >= 0 && info->dims[d] != arg->type.dims[d])
            return gc_onnx_fail(I, "graph input '%s' has dim %d = %lld, the argument is %s", info->name, d,
                                (long long)info->dims[d], gc_type_format(&arg->type, t, sizeof t));
    gc_dtype want;
    if (info->elem_type && gc_onnx_dtype(info->elem_type, &want) && want != arg->type.dtype)
        return gc_onnx_fail(I, "graph input '%s' is %s, the argument is %s", info->name, gc_onnx_type_name(info->elem_type),
                            gc_type_format(&arg->type, t, sizeof t));
    return 1;
}

int gc_onnx_import(gc_layer_context *c, gc_onnx_model *m, const gc_onnx_import_options *o, gc_node *const *args,
                   int nargs, gc_node **outputs, gc_error *err) {
    importer I_ = {0}, *I = &I_;
    I->c = c;
    I->b = &c->b;
    I->b->err = err;
    I->m = m;
    I->g = graph_of(m);
    I->path = gc_onnx_model_path(m);
    I->opset = gc_onnx_model_opset(m);
    I->prefix = o ? o->prefix : NULL;
    I->arena = gc_onnx_model_arena(m);
    if (!I->g) return gc_onnx_fail(I, "the model has no graph");
    if (!find_buffers(I)) return 0;
    if (o && o->gm && !gc_onnx_gm_begin(I, o->gm)) return 0;
    for (int k = 0; k < gc_onnx_model_num_initializers(m); k++) {
        const gc_onnx_tensor *t = gc_onnx_model_initializer(m, k);
        oval *v = define(I, t->name);
        if (!v) return 0;
        v->et = t->elem_type;
        if (gc_onnx_is_float(t->elem_type)) v->init = t;
        else v->k = (gc_onnx_tensor *)t;
    }
    int want = gc_onnx_num_inputs(m);
    if (nargs != want)
        return gc_onnx_fail(I, "the graph takes %d input%s, %d given", want, want == 1 ? "" : "s", nargs);
    for (int k = 0; k < want; k++) {
        gc_onnx_input_info info;
        gc_onnx_input(m, k, &info);
        const gc_onnx_tensor *bound = NULL;
        for (int j = 0; o && j < o->num_constants; j++)
            if (!strcmp(o->constants[j].name, info.name)) bound = &o->constants[j];
        oval *v = define(I, info.name);
        if (!v) return 0;
        v->et = info.elem_type ? info.elem_type : GC_ONNX_FLOAT;
        if (bound) {
            v->k = (gc_onnx_tensor *)bound;
            v->et = bound->elem_type;
            continue;
        }
        if (!args[k]) return gc_onnx_fail(I, "graph input '%s' is not given", info.name);
        if (!check_argument(I, &info, args[k])) return 0;
        v->node = args[k];
        if (I->gm && !gc_onnx_gm_input(I, v)) return 0;
    }
    for (size_t k = 0; k < I->g->n_node; k++) {
        const Onnx__NodeProto *n = I->g->node[k];
        I->node = n;
        if (n->domain && *n->domain && strcmp(n->domain, "ai.onnx"))
            return gc_onnx_fail(I, "operators of domain '%s' are not supported", n->domain);
        gc_onnx_lower_fn lower = gc_onnx_lowering(n->op_type);
        if (!lower) return gc_onnx_fail(I, "operator %s is not supported", n->op_type);
        if (n->n_input > sizeof I->in / sizeof *I->in || n->n_output > sizeof I->out / sizeof *I->out)
            return gc_onnx_fail(I, "too many inputs or outputs");
        I->nin = (int)n->n_input;
        for (int j = 0; j < I->nin; j++) {
            I->in[j] = NULL;
            if (!n->input[j] || !*n->input[j]) continue;
            if (!(I->in[j] = lookup(I, n->input[j]))) return gc_onnx_fail(I, "input '%s' is not defined before it", n->input[j]);
            if (I->in[j]->missing) return gc_onnx_fail(I, "input '%s' is %s", n->input[j], I->in[j]->missing);
        }
        I->nout = (int)n->n_output;
        memset(I->out, 0, sizeof I->out);
        if (!lower(I)) {
            if (err->code == GC_OK) gc_onnx_fail(I, "cannot be lowered");
            return 0;
        }
        if (I->gm && !gc_onnx_gm_node(I)) return 0;
        for (int j = 0; j < I->nout; j++) {
            if (!n->output[j] || !*n->output[j]) continue;
            if (!I->out[j].node && !I->out[j].k && !I->out[j].missing) I->out[j].missing = "not computed by gradc";
            oval *v = define(I, n->output[j]);
            if (!v) return 0;
            const char *name = v->name;
            *v = I->out[j];
            v->name = name;
        }
    }
    I->node = NULL;
    for (size_t k = 0; k < I->g->n_output; k++) {
        oval *v = lookup(I, I->g->output[k]->name);
        if (!v) return gc_onnx_fail(I, "graph output '%s' is never computed", I->g->output[k]->name);
        if (v->missing) return gc_onnx_fail(I, "graph output '%s' is %s", v->name, v->missing);
        I->in[0] = v;
        I->nin = 1;
        if (!(outputs[k] = gc_onnx_node(I, 0))) return 0;
    }
    return !I->gm || gc_onnx_gm_finish(I, I->path);
}
