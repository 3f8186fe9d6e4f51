/*
 * layers.c: PyTorch's layers as IR (see layers.h). The math follows torch 1.13's nn modules and
 * F.multi_head_attention_forward; initialisers follow each module's reset_parameters.
 */
#include "frontend/layers.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void gc_layer_context_init(gc_layer_context *c, gc_graph *g, gc_error *err, bool training, uint64_t seed) {
    memset(c, 0, sizeof *c);
    c->b.graph = g;
    c->b.err = err;
    c->training = training;
    c->seed = seed;
}

const gc_param_entry *gc_layer_find_param(const gc_layer_context *c, const char *name) {
    /* Every registered parameter or buffer is a param or buffer node of the graph, whose names
     * are hashed: a name the graph lacks (the common case, a new layer) costs no scan. */
    if (c->b.graph && !gc_graph_find_named(c->b.graph, GC_OP_PARAM, name) &&
        !gc_graph_find_named(c->b.graph, GC_OP_BUFFER, name))
        return NULL;
    for (int i = 0; i < c->num_params; i++)
        if (!strcmp(c->params[i].name, name)) return &c->params[i];
    return NULL;
}

gc_node *gc_layer_param(gc_layer_context *c, const char *name, const char *layer, const gc_type *t, gc_init init) {
    const gc_param_entry *old = gc_layer_find_param(c, name);
    if (old) {
        if (!strcmp(old->layer, layer) && gc_type_equal(&old->node->type, t)) return old->node;
        char a[96], b[96];
        gc_fail(c->b.err, GC_ERR_USER, c->b.loc,
                "parameter '%s' is %s %s here but was created as %s %s at line %d, col %d", name, layer,
                gc_type_format(t, a, sizeof a), old->layer, gc_type_format(&old->node->type, b, sizeof b),
                old->loc.line, old->loc.col);
        return NULL;
    }
    return gc_layer_register(c, GC_OP_PARAM, name, layer, t, init);
}

gc_node *gc_layer_register(gc_layer_context *c, gc_op op, const char *name, const char *layer, const gc_type *t,
                           gc_init init) {
    gc_graph *g = c->b.graph;
    gc_node *node = gc_graph_make(g, op, NULL, 0, NULL, t, name, c->b.loc, c->b.err);
    if (!node) return NULL;
    if (c->num_params == c->cap_params) {
        int cap = c->cap_params ? c->cap_params * 2 : 32;
        gc_param_entry *p = gc_arena_grow(g->arena, c->params, sizeof *p * (size_t)c->num_params, sizeof *p * (size_t)cap);
        if (!p) {
            gc_failf(c->b.err, GC_ERR_MEMORY, "out of memory");
            return NULL;
        }
        c->params = p;
        c->cap_params = cap;
    }
    gc_param_entry *e = &c->params[c->num_params++];
    e->name = node->name;
    e->node = e->current = node;
    e->init = init;
    e->layer = layer;
    e->loc = c->b.loc;
    e->data = NULL;
    return node;
}

/* path.suffix, or suffix alone at the top level (a bare torch module's state_dict names). */
static bool join_path(char *out, size_t size, const char *path, const char *suffix) {
    int n = path && *path ? snprintf(out, size, "%s.%s", path, suffix) : snprintf(out, size, "%s", suffix);
    return n >= 0 && (size_t)n < size;
}

static gc_node *param2(gc_layer_context *c, const char *path, const char *suffix, const char *layer, gc_type t,
                       gc_init init) {
    char name[512];
    if (!join_path(name, sizeof name, path, suffix)) {
        gc_fail(c->b.err, GC_ERR_USER, c->b.loc, "parameter name '%s.%s' is too long", path, suffix);
        return NULL;
    }
    return gc_layer_param(c, name, layer, &t, init);
}

static gc_type vec(int64_t n) { return gc_type_make(GC_F32, 1, &n); }

static gc_type mat(int64_t rows, int64_t cols) {
    int64_t d[2] = {rows, cols};
    return gc_type_make(GC_F32, 2, d);
}

static bool need_float(gc_layer_context *c, gc_node *x, const char *layer, int min_rank) {
    if (!x) return false;
    if (x->type.dtype != GC_F32 || x->type.rank < min_rank) {
        char t[96];
        gc_fail(c->b.err, GC_ERR_USER, c->b.loc, "%s: needs an f32 tensor of rank %d or more, got %s", layer, min_rank,
                gc_type_format(&x->type, t, sizeof t));
        return false;
    }
    return true;
}

gc_node *gc_apply_linear(gc_layer_context *c, gc_node *x, gc_node *weight, gc_node *bias) {
    if (!x || !weight) return NULL;
    gc_builder *b = &c->b;
    int64_t in = x->type.dims[x->type.rank - 1], out = weight->type.dims[0];
    if (weight->type.dims[1] != in) {
        char a[96], w[96];
        gc_fail(b->err, GC_ERR_USER, b->loc, "linear: input %s does not match weight %s",
                gc_type_format(&x->type, a, sizeof a), gc_type_format(&weight->type, w, sizeof w));
        return NULL;
    }
    /* Flatten leading dims so the forward and both backward products are single GEMMs. */
    int64_t rows = gc_type_numel(&x->type) / in;
    int64_t flat[2] = {rows, in};
    gc_node *y = gc_matmul(b, gc_reshape(b, x, 2, flat), weight, false, true);
    if (bias) y = gc_binary(b, GC_OP_ADD, y, bias);
    gc_type shape = x->type;
    shape.dims[shape.rank - 1] = out;
    if (shape.rank == 1) return gc_reshape(b, y, 1, &out);
    return gc_reshape(b, y, shape.rank, shape.dims);
}

static gc_param_entry *find_entry(gc_layer_context *c, const char *name) {
    for (int i = 0; i < c->num_params; i++)
        if (!strcmp(c->params[i].name, name)) return &c->params[i];
    return NULL;
}

/* Weight tying: a linear under an embedding's name uses the embedding's table [num, dim] as its
 * weight [out, in], as `head.weight = wte.weight` does in PyTorch; one parameter, used twice, so
 * autodiff sums the gradients of both uses. The table keeps the embedding's initialisation (torch
 * keeps the assigned tensor). A bias has nowhere to live: torch's Embedding has none. */
static gc_node *tied_linear(gc_layer_context *c, const char *path, const gc_param_entry *table, gc_node *x,
                            int64_t out, bool bias) {
    int64_t in = x->type.dims[x->type.rank - 1];
    gc_type want = mat(out, in);
    if (!gc_type_equal(&table->node->type, &want)) {
        char a[96], b[96];
        gc_fail(c->b.err, GC_ERR_USER, c->b.loc,
                "parameter '%s' is linear %s here but was created as embedding %s at line %d, col %d "
                "(a linear ties its weight to an embedding of [out, in] = [num, dim])",
                table->name, gc_type_format(&want, a, sizeof a), gc_type_format(&table->node->type, b, sizeof b),
                table->loc.line, table->loc.col);
        return NULL;
    }
    if (bias) {
        gc_fail(c->b.err, GC_ERR_USER, c->b.loc,
                "linear named '%s' ties its weight to the embedding created at line %d, col %d, so it needs "
                "bias=false (an embedding has no bias; add one as a separate param)",
                path, table->loc.line, table->loc.col);
        return NULL;
    }
    return gc_apply_linear(c, x, table->node, NULL);
}

gc_node *gc_layer_linear(gc_layer_context *c, const char *path, gc_node *x, int64_t out, bool bias) {
    if (!need_float(c, x, "linear", 1)) return NULL;
    if (out < 1) {
        gc_fail(c->b.err, GC_ERR_USER, c->b.loc, "linear: out_features must be at least 1, got %lld", (long long)out);
        return NULL;
    }
    char wname[512];
    if (join_path(wname, sizeof wname, path, "weight")) {
        const gc_param_entry *old = gc_layer_find_param(c, wname);
        if (old && !strcmp(old->layer, "embedding")) return tied_linear(c, path, old, x, out, bias);
    }
    int64_t in = x->type.dims[x->type.rank - 1];
    /* nn.Linear.reset_parameters: kaiming_uniform(a=sqrt(5)) is U(-1/sqrt(in), 1/sqrt(in)); the bias the same. */
    double bound = 1.0 / sqrt((double)in);
    gc_init u = {GC_INIT_UNIFORM, -bound, bound};
    gc_node *w = param2(c, path, "weight", "linear", mat(out, in), u);
    if (!w) return NULL; /* the weight's error names the first location; the bias would overwrite it */
    gc_node *bb = bias ? param2(c, path, "bias", "linear", vec(out), u) : NULL;
    if (bias && !bb) return NULL;
    return gc_apply_linear(c, x, w, bb);
}

/* An embedding under the name of a bias-free linear made earlier takes that weight over: the tie
 * holds whichever call comes first, and the table gets the embedding's initialisation. Returns
 * false with the error set when the linear cannot be tied (it has a bias) or shapes clash. */
static bool adopt_linear_weight(gc_layer_context *c, const char *path, gc_param_entry *old, const gc_type *t,
                                gc_init init) {
    char bname[512];
    const gc_param_entry *bias = join_path(bname, sizeof bname, path, "bias") ? gc_layer_find_param(c, bname) : NULL;
    if (!gc_type_equal(&old->node->type, t) || (bias && !strcmp(bias->layer, "linear"))) {
        char a[96], b[96];
        gc_fail(c->b.err, GC_ERR_USER, c->b.loc, "parameter '%s' is embedding %s here but was created as linear %s%s at line %d, col %d",
                old->name, gc_type_format(t, a, sizeof a), gc_type_format(&old->node->type, b, sizeof b),
                bias ? " with a bias (only a bias-free linear ties to an embedding)" : "", old->loc.line, old->loc.col);
        return false;
    }
    old->layer = "embedding";
    old->init = init;
    old->loc = c->b.loc;
    return true;
}

gc_node *gc_layer_embedding(gc_layer_context *c, const char *path, gc_node *idx, int64_t num, int64_t dim,
                            int64_t padding_idx) {
    if (!idx) return NULL;
    if (idx->type.dtype != GC_I32) {
        char t[96];
        gc_fail(c->b.err, GC_ERR_USER, c->b.loc, "embedding: indices must be i32, got %s",
                gc_type_format(&idx->type, t, sizeof t));
        return NULL;
    }
    /* torch: padding_idx in [-num, num), a negative one counting from the end. */
    if (padding_idx != GC_NO_PADDING_IDX && (padding_idx < -num || padding_idx >= num)) {
        gc_fail(c->b.err, GC_ERR_USER, c->b.loc, "embedding: padding_idx must be within [-%lld, %lld), got %lld",
                (long long)num, (long long)num, (long long)padding_idx);
        return NULL;
    }
    int64_t pad = padding_idx == GC_NO_PADDING_IDX ? -1 : padding_idx < 0 ? padding_idx + num : padding_idx;
    /* nn.Embedding.reset_parameters: N(0, 1), the padding row then zeroed. */
    gc_init normal = {GC_INIT_NORMAL, 0.0, 1.0};
    if (pad >= 0) normal = (gc_init){GC_INIT_NORMAL_ZERO_ROW, 1.0, (double)(pad + 1)};
    gc_type t = mat(num, dim);
    char wname[512];
    if (!join_path(wname, sizeof wname, path, "weight")) {
        gc_fail(c->b.err, GC_ERR_USER, c->b.loc, "parameter name '%s.weight' is too long", path);
        return NULL;
    }
    gc_param_entry *old = find_entry(c, wname);
    if (old && !strcmp(old->layer, "linear") && !adopt_linear_weight(c, path, old, &t, normal)) return NULL;
    if (old && !strcmp(old->layer, "embedding") && gc_type_equal(&old->node->type, &t) &&
        (old->init.kind != normal.kind || old->init.b != normal.b)) {
        gc_fail(c->b.err, GC_ERR_USER, c->b.loc,
                "embedding '%s' was created with %s at line %d, col %d; a call reusing it cannot change it", path,
                old->init.kind == GC_INIT_NORMAL_ZERO_ROW ? "another padding_idx" : "no padding_idx", old->loc.line, old->loc.col);
        return NULL;
    }
    gc_node *w = gc_layer_param(c, wname, "embedding", &t, normal);
    if (!w) return NULL;
    gc_builder *b = &c->b;
    gc_node *in[2] = {w, idx};
    gc_node *rows = gc_build(b, GC_OP_TAKE, in, 2, NULL, NULL);
    if (pad < 0 || !rows) return rows;
    /* The padding row gets no gradient from this lookup (torch's embedding_backward skips it); its
     * value still reads through, as in torch: zero unless loaded from a checkpoint or moved by a
     * tied head's gradient. */
    gc_node *is_pad = gc_binary(b, GC_OP_EQ, idx, gc_scalar(b, GC_I32, (double)pad));
    int64_t d[GC_MAX_RANK];
    memcpy(d, idx->type.dims, sizeof(int64_t) * (size_t)idx->type.rank);
    d[idx->type.rank] = 1;
    is_pad = gc_reshape(b, is_pad, idx->type.rank + 1, d);
    return gc_select(b, is_pad, gc_unary(b, GC_OP_STOP_GRADIENT, rows), rows);
}

gc_node *gc_layer_layernorm(gc_layer_context *c, const char *path, gc_node *x, double eps, bool affine) {
    if (!need_float(c, x, "layernorm", 1)) return NULL;
    gc_builder *b = &c->b;
    int last = x->type.rank - 1;
    int64_t d = x->type.dims[last];
    uint32_t axis = 1u << last;
    gc_node *mean = gc_reduce(b, GC_OP_MEAN, x, axis, true);
    gc_node *centered = gc_binary(b, GC_OP_SUB, x, mean);
    gc_node *var = gc_reduce(b, GC_OP_MEAN, gc_unary(b, GC_OP_SQUARE, centered), axis, true);
    gc_node *y = gc_binary(b, GC_OP_MUL, centered, gc_unary(b, GC_OP_RSQRT, gc_add_scalar(b, var, eps)));
    if (!affine) return y;
    gc_init ones = {GC_INIT_ONES, 0, 0}, zeros = {GC_INIT_ZEROS, 0, 0};
    gc_node *w = param2(c, path, "weight", "layernorm", vec(d), ones);
    if (!w) return NULL;
    gc_node *bias = param2(c, path, "bias", "layernorm", vec(d), zeros);
    if (!bias) return NULL;
    return gc_binary(b, GC_OP_ADD, gc_binary(b, GC_OP_MUL, y, w), bias);
}

gc_node *gc_layer_dropout(gc_layer_context *c, gc_node *x, double p) {
    if (!x) return NULL;
    if (p < 0 || p > 1) {
        gc_fail(c->b.err, GC_ERR_USER, c->b.loc, "dropout: p must be between 0 and 1, got %g", p);
        return NULL;
    }
    if (!c->training || p == 0) return x;
    gc_builder *b = &c->b;
    if (p == 1) return gc_mul_scalar(b, x, 0.0);
    if (!c->step) {
        gc_type t = gc_type_scalar(GC_I32);
        c->step = gc_graph_make(b->graph, GC_OP_INPUT, NULL, 0, NULL, &t, GC_STEP_INPUT, b->loc, b->err);
        if (!c->step) return NULL;
    }
    gc_attr a;
    memset(&a, 0, sizeof a);
    a.random.seed = (int64_t)c->seed;
    a.random.stream = c->next_stream++;
    gc_type t = x->type;
    gc_node *r = gc_build(b, GC_OP_RANDOM_UNIFORM, &c->step, 1, &a, &t);
    gc_node *keep = gc_binary(b, GC_OP_GE, r, gc_scalar(b, GC_F32, p));
    return gc_binary(b, GC_OP_MUL, x, gc_mul_scalar(b, keep, 1.0 / (1.0 - p)));
}

gc_node *gc_causal_mask(gc_layer_context *c, int64_t t) {
    gc_builder *b = &c->b;
    gc_type sq = mat(t, t);
    gc_attr rows, cols;
    memset(&rows, 0, sizeof rows);
    memset(&cols, 0, sizeof cols);
    cols.axis.axis = 1;
    gc_node *i = gc_build(b, GC_OP_IOTA, NULL, 0, &rows, &sq);
    gc_node *j = gc_build(b, GC_OP_IOTA, NULL, 0, &cols, &sq);
    return gc_select(b, gc_binary(b, GC_OP_GT, j, i), gc_scalar(b, GC_F32, -INFINITY), gc_scalar(b, GC_F32, 0.0));
}

/* [B, L, E] -> [B, H, L, E/H] */
static gc_node *split_heads(gc_builder *b, gc_node *x, int64_t heads) {
    if (!x) return NULL;
    int64_t d[4] = {x->type.dims[0], x->type.dims[1], heads, x->type.dims[2] / heads};
    int perm[4] = {0, 2, 1, 3};
    return gc_permute(b, gc_reshape(b, x, 4, d), perm);
}

/* Whether a second call under this name asks for the parameters the first one made: the packed
 * in_proj_weight or separate q/k/v weights, bias_k/bias_v or none. Shapes are checked as each
 * parameter is looked up. */
static bool attention_layout_matches(gc_layer_context *c, const char *path, bool packed, bool bias_kv) {
    char name[512];
    const gc_param_entry *out = join_path(name, sizeof name, path, "out_proj.weight") ? gc_layer_find_param(c, name) : NULL;
    if (!out || strcmp(out->layer, "multihead_attention")) return true; /* first call, or another error follows */
    bool had_packed = join_path(name, sizeof name, path, "in_proj_weight") && gc_layer_find_param(c, name);
    bool had_bias_kv = join_path(name, sizeof name, path, "bias_k") && gc_layer_find_param(c, name);
    if (had_packed == packed && had_bias_kv == bias_kv) return true;
    gc_fail(c->b.err, GC_ERR_USER, c->b.loc,
            "multihead_attention '%s' was created at line %d, col %d with %s; a call reusing it needs the same "
            "%s",
            path, out->loc.line, out->loc.col,
            had_packed != packed ? (had_packed ? "keys and values of the query's size (one in_proj_weight)"
                                               : "keys or values of another size (q/k/v_proj_weight)")
                                 : (had_bias_kv ? "add_bias_kv=true" : "add_bias_kv=false"),
            had_packed != packed ? "key and value sizes" : "add_bias_kv");
    return false;
}

/* Appends one position to the keys or values [B, S, E]: a learned [1, 1, E] row (add_bias_kv) or
 * zeros (add_zero_attn), as F.multi_head_attention_forward concatenates after the projections. */
static gc_node *append_position(gc_builder *b, gc_node *x, gc_node *row) {
    if (!x) return NULL;
    gc_type t = x->type;
    t.dims[1] = 1;
    gc_node *parts[2] = {x, row ? gc_broadcast_to(b, row, &t) : gc_fill(b, &t, 0.0)};
    return gc_concat(b, parts, 2, 1);
}

gc_node *gc_layer_multihead_attention(gc_layer_context *c, const char *path, gc_node *q, gc_node *k,
                                      gc_node *v, const gc_attention_args *args) {
    const char *layer = "multihead_attention";
    if (!need_float(c, q, layer, 3) || !need_float(c, k, layer, 3) || !need_float(c, v, layer, 3)) return NULL;
    gc_builder *b = &c->b;
    int64_t batch = q->type.dims[0], t = q->type.dims[1], e = q->type.dims[2], s = k->type.dims[1];
    int64_t heads = args->heads;
    if (q->type.rank != 3 || k->type.rank != 3 || v->type.rank != 3 || k->type.dims[0] != batch ||
        v->type.dims[0] != batch || v->type.dims[1] != s) {
        char a[96], bb[96], cc[96];
        gc_fail(b->err, GC_ERR_USER, b->loc,
                "%s: query %s, key %s and value %s must be [batch, length, features] with one batch and keys "
                "and values of one length",
                layer, gc_type_format(&q->type, a, sizeof a), gc_type_format(&k->type, bb, sizeof bb),
                gc_type_format(&v->type, cc, sizeof cc));
        return NULL;
    }
    if (heads < 1 || e % heads) {
        gc_fail(b->err, GC_ERR_USER, b->loc, "%s: embed dim %lld is not divisible by %lld heads", layer, (long long)e,
                (long long)heads);
        return NULL;
    }
    /* kdim and vdim are the key's and value's feature sizes; torch packs the three projections in
     * one in_proj_weight only when both equal the query's. */
    int64_t kdim = k->type.dims[2], vdim = v->type.dims[2];
    bool packed = kdim == e && vdim == e;
    if (!attention_layout_matches(c, path, packed, args->add_bias_kv)) return NULL;
    /* nn.MultiheadAttention._reset_parameters: xavier_uniform in_proj (or each of q/k/v_proj),
     * zero biases, xavier_normal bias_k and bias_v; out_proj keeps nn.Linear's weight init. */
    gc_init xavier = {GC_INIT_XAVIER_UNIFORM, 1.0, 0}, zeros = {GC_INIT_ZEROS, 0, 0};
    gc_init xavier_normal = {GC_INIT_XAVIER_NORMAL, 1.0, 0};
    double bound = 1.0 / sqrt((double)e);
    gc_init linear_init = {GC_INIT_UNIFORM, -bound, bound};
    gc_node *w_in = NULL, *w_sep[3] = {NULL, NULL, NULL};
    if (packed) {
        if (!(w_in = param2(c, path, "in_proj_weight", layer, mat(3 * e, e), xavier))) return NULL;
    } else {
        static const char *const names[3] = {"q_proj_weight", "k_proj_weight", "v_proj_weight"};
        int64_t in[3] = {e, kdim, vdim};
        for (int i = 0; i < 3; i++)
            if (!(w_sep[i] = param2(c, path, names[i], layer, mat(e, in[i]), xavier))) return NULL;
    }
    gc_node *b_in = args->bias ? param2(c, path, "in_proj_bias", layer, vec(3 * e), zeros) : NULL;
    char out_path[512];
    join_path(out_path, sizeof out_path, path, "out_proj");
    gc_node *w_out = param2(c, out_path, "weight", layer, mat(e, e), linear_init);
    gc_node *b_out = args->bias ? param2(c, out_path, "bias", layer, vec(e), zeros) : NULL;
    if (!w_out || (args->bias && (!b_in || !b_out))) return NULL;
    gc_node *bias_k = NULL, *bias_v = NULL;
    if (args->add_bias_kv) {
        int64_t d[3] = {1, 1, e};
        gc_type row = gc_type_make(GC_F32, 3, d);
        bias_k = param2(c, path, "bias_k", layer, row, xavier_normal);
        bias_v = bias_k ? param2(c, path, "bias_v", layer, row, xavier_normal) : NULL;
        if (!bias_v) return NULL;
    }

    gc_node *qp, *kp, *vp;
    if (packed && q == k && k == v) {
        /* Self-attention: one GEMM for all three projections, then split the features. */
        gc_node *qkv = gc_apply_linear(c, q, w_in, b_in);
        qp = gc_slice(b, qkv, 2, 0, e);
        kp = gc_slice(b, qkv, 2, e, 2 * e);
        vp = gc_slice(b, qkv, 2, 2 * e, 3 * e);
    } else {
        gc_node *proj[3];
        gc_node *srcs[3] = {q, k, v};
        for (int i = 0; i < 3; i++) {
            gc_node *w = packed ? gc_slice(b, w_in, 0, i * e, (i + 1) * e) : w_sep[i];
            gc_node *bias = b_in ? gc_slice(b, b_in, 0, i * e, (i + 1) * e) : NULL;
            proj[i] = gc_apply_linear(c, srcs[i], w, bias);
        }
        qp = proj[0], kp = proj[1], vp = proj[2];
    }
    /* Extra key/value positions come last, each unmasked (a zero column in the masks below). */
    int64_t extra = (args->add_bias_kv ? 1 : 0) + (args->add_zero_attn ? 1 : 0);
    if (args->add_bias_kv) kp = append_position(b, kp, bias_k), vp = append_position(b, vp, bias_v);
    if (args->add_zero_attn) kp = append_position(b, kp, NULL), vp = append_position(b, vp, NULL);
    gc_node *qh = split_heads(b, qp, heads), *kh = split_heads(b, kp, heads), *vh = split_heads(b, vp, heads);
    /* torch scales q by 1/sqrt(head_dim) before the product (_scaled_dot_product_attention).
     * When that is a power of two (head_dim 4, 16, 64, 256) scaling the scores instead gives the
     * same bits, and leaves q a view of the projection that the GEMM reads in place (the scale
     * joins the scores' epilogue). */
    double scale = sqrt((double)(e / heads));
    int exponent;
    bool exact = frexp(scale, &exponent) == 0.5;
    if (!exact) qh = gc_binary(b, GC_OP_DIV, qh, gc_scalar(b, GC_F32, scale));
    gc_node *scores = gc_matmul(b, qh, kh, false, true); /* [B, H, T, S + extra] */
    if (exact) scores = gc_binary(b, GC_OP_DIV, scores, gc_scalar(b, GC_F32, scale));
    if (args->mask) {
        gc_node *m = args->mask;
        if (m->type.rank != 2 || m->type.dims[0] != t || m->type.dims[1] != s || m->type.dtype != GC_F32) {
            char a[96];
            gc_fail(b->err, GC_ERR_USER, b->loc, "%s: mask must be f32[%lld, %lld], got %s", layer, (long long)t,
                    (long long)s, gc_type_format(&m->type, a, sizeof a));
            return NULL;
        }
        if (extra) m = gc_pad(b, m, 1, 0, extra);
        scores = gc_binary(b, GC_OP_ADD, scores, m);
    }
    if (args->key_padding_mask) {
        gc_node *m = args->key_padding_mask;
        if (m->type.rank != 2 || m->type.dims[0] != batch || m->type.dims[1] != s || m->type.dtype != GC_F32) {
            char a[96];
            gc_fail(b->err, GC_ERR_USER, b->loc, "%s: key_padding_mask must be f32[%lld, %lld], got %s", layer,
                    (long long)batch, (long long)s, gc_type_format(&m->type, a, sizeof a));
            return NULL;
        }
        if (extra) m = gc_pad(b, m, 1, 0, extra);
        int64_t d[4] = {batch, 1, 1, s + extra};
        gc_node *additive = gc_select(b, gc_reshape(b, m, 4, d), gc_scalar(b, GC_F32, -INFINITY), gc_scalar(b, GC_F32, 0.0));
        scores = gc_binary(b, GC_OP_ADD, scores, additive);
    }
    gc_node *attn = gc_layer_dropout(c, gc_axis_op(b, GC_OP_SOFTMAX, scores, 3), args->dropout);
    gc_node *o = gc_matmul(b, attn, vh, false, false); /* [B, H, T, Dh] */
    int perm[4] = {0, 2, 1, 3};
    int64_t merged[3] = {batch, t, e};
    o = gc_reshape(b, gc_permute(b, o, perm), 3, merged);
    return gc_apply_linear(c, o, w_out, b_out);
}

static gc_node *activation(gc_builder *b, gc_node *x, gc_activation act) {
    return gc_unary(b, act == GC_ACTIVATION_GELU ? GC_OP_GELU : GC_OP_RELU, x);
}

static void sub_path(char *out, size_t size, const char *path, const char *name) {
    join_path(out, size, path, name);
}

/* _ff_block: dropout2(linear2(dropout(activation(linear1(x))))) */
static gc_node *feed_forward(gc_layer_context *c, const char *path, gc_node *x, const gc_transformer_args *a) {
    char p1[512], p2[512];
    sub_path(p1, sizeof p1, path, "linear1");
    sub_path(p2, sizeof p2, path, "linear2");
    int64_t e = x ? x->type.dims[x->type.rank - 1] : 0;
    gc_node *h = gc_layer_dropout(c, activation(&c->b, gc_layer_linear(c, p1, x, a->ff, true), a->activation), a->dropout);
    return gc_layer_dropout(c, gc_layer_linear(c, p2, h, e, true), a->dropout);
}

static gc_node *attention_block(gc_layer_context *c, const char *path, const char *name, gc_node *x, gc_node *kv,
                                gc_node *mask, gc_node *key_padding_mask, const gc_transformer_args *a) {
    char p[512];
    sub_path(p, sizeof p, path, name);
    gc_attention_args args = {a->heads, mask, key_padding_mask, true, a->dropout, false, false};
    return gc_layer_dropout(c, gc_layer_multihead_attention(c, p, x, kv, kv, &args), a->dropout);
}

static gc_node *norm(gc_layer_context *c, const char *path, const char *name, gc_node *x, double eps) {
    char p[512];
    sub_path(p, sizeof p, path, name);
    return gc_layer_layernorm(c, p, x, eps, true);
}

gc_node *gc_layer_transformer_encoder(gc_layer_context *c, const char *path, gc_node *x,
                                      const gc_transformer_args *a) {
    gc_builder *b = &c->b;
    if (a->norm_first) {
        gc_node *n1 = norm(c, path, "norm1", x, a->eps);
        x = gc_binary(b, GC_OP_ADD, x, attention_block(c, path, "self_attn", n1, n1, a->mask, a->key_padding_mask, a));
        return gc_binary(b, GC_OP_ADD, x, feed_forward(c, path, norm(c, path, "norm2", x, a->eps), a));
    }
    x = norm(c, path, "norm1", gc_binary(b, GC_OP_ADD, x, attention_block(c, path, "self_attn", x, x, a->mask, a->key_padding_mask, a)), a->eps);
    return norm(c, path, "norm2", gc_binary(b, GC_OP_ADD, x, feed_forward(c, path, x, a)), a->eps);
}

gc_node *gc_layer_transformer_decoder(gc_layer_context *c, const char *path, gc_node *x, gc_node *memory,
                                      const gc_transformer_args *a) {
    gc_builder *b = &c->b;
    if (a->norm_first) {
        gc_node *n1 = norm(c, path, "norm1", x, a->eps);
        x = gc_binary(b, GC_OP_ADD, x, attention_block(c, path, "self_attn", n1, n1, a->mask, a->key_padding_mask, a));
        x = gc_binary(b, GC_OP_ADD, x,
                      attention_block(c, path, "multihead_attn", norm(c, path, "norm2", x, a->eps), memory, a->memory_mask, a->memory_key_padding_mask, a));
        return gc_binary(b, GC_OP_ADD, x, feed_forward(c, path, norm(c, path, "norm3", x, a->eps), a));
    }
    x = norm(c, path, "norm1", gc_binary(b, GC_OP_ADD, x, attention_block(c, path, "self_attn", x, x, a->mask, a->key_padding_mask, a)), a->eps);
    x = norm(c, path, "norm2",
             gc_binary(b, GC_OP_ADD, x, attention_block(c, path, "multihead_attn", x, memory, a->memory_mask, a->memory_key_padding_mask, a)), a->eps);
    return norm(c, path, "norm3", gc_binary(b, GC_OP_ADD, x, feed_forward(c, path, x, a)), a->eps);
}
