/* layers_extra.c: nn.PReLU and nn.Bilinear as IR (see layers_extra.h), torch 1.13's math. */
#include "frontend/layers_extra.h"

#include <math.h>
#include <stdio.h>

static const char *type_text(const gc_node *x, char *buf, size_t cap) { return gc_type_format(&x->type, buf, cap); }

static gc_node *param(gc_layer_context *c, const char *path, const char *suffix, const char *layer, gc_type t,
                      gc_init init) {
    char name[512];
    int n = path && *path ? snprintf(name, sizeof name, "%s.%s", path, suffix) : snprintf(name, sizeof name, "%s", suffix);
    if (n < 0 || (size_t)n >= sizeof name) {
        gc_fail(c->b.err, GC_ERR_USER, c->b.loc, "parameter name '%s.%s' is too long", path, suffix);
        return NULL;
    }
    return gc_layer_param(c, name, layer, &t, init);
}

static bool need_f32(gc_layer_context *c, const gc_node *x, const char *layer, const char *what, int min_rank) {
    if (!x) return false;
    if (x->type.dtype == GC_F32 && x->type.rank >= min_rank) return true;
    char t[96];
    gc_fail(c->b.err, GC_ERR_USER, c->b.loc, "%s: %s needs to be an f32 tensor of rank %d or more, got %s", layer, what,
            min_rank, type_text(x, t, sizeof t));
    return false;
}

gc_node *gc_layer_prelu(gc_layer_context *c, const char *path, gc_node *x, int64_t num_parameters, double init) {
    gc_builder *b = &c->b;
    if (!need_f32(c, x, "prelu", "x", num_parameters > 1 ? 2 : 0)) return NULL;
    if (num_parameters > 1 && x->type.dims[1] != num_parameters) {
        char t[96];
        gc_fail(b->err, GC_ERR_USER, b->loc, "prelu: num_parameters %lld must equal the channels (dim 1) of x %s",
                (long long)num_parameters, type_text(x, t, sizeof t));
        return NULL;
    }
    gc_type wt = gc_type_make(GC_F32, 1, &num_parameters);
    gc_node *w = param(c, path, "weight", "prelu", wt, (gc_init){GC_INIT_CONSTANT, init, 0});
    if (!w) return NULL;
    /* One weight is a scalar for any x; several lie along axis 1: [C, 1, ..., 1]. */
    int64_t dims[GC_MAX_RANK];
    int rank = 0;
    if (num_parameters > 1) {
        dims[rank++] = num_parameters;
        while (rank < x->type.rank - 1) dims[rank++] = 1;
    }
    gc_node *wb = gc_reshape(b, w, rank, dims);
    gc_node *pos = gc_binary(b, GC_OP_GT, x, gc_scalar(b, GC_F32, 0.0));
    return gc_select(b, pos, x, gc_binary(b, GC_OP_MUL, wb, x));
}

gc_node *gc_layer_bilinear(gc_layer_context *c, const char *path, gc_node *x1, gc_node *x2, int64_t out, bool bias) {
    gc_builder *b = &c->b;
    if (!need_f32(c, x1, "bilinear", "x1", 1) || !need_f32(c, x2, "bilinear", "x2", 1)) return NULL;
    bool lead_ok = x1->type.rank == x2->type.rank;
    for (int i = 0; lead_ok && i + 1 < x1->type.rank; i++) lead_ok = x1->type.dims[i] == x2->type.dims[i];
    if (!lead_ok) {
        char t1[96], t2[96];
        gc_fail(b->err, GC_ERR_USER, b->loc, "bilinear: x1 %s and x2 %s must share all dims but the last",
                type_text(x1, t1, sizeof t1), type_text(x2, t2, sizeof t2));
        return NULL;
    }
    if (out < 1) {
        gc_fail(b->err, GC_ERR_USER, b->loc, "bilinear: out_features must be at least 1, got %lld", (long long)out);
        return NULL;
    }
    int r = x1->type.rank;
    int64_t in1 = x1->type.dims[r - 1], in2 = x2->type.dims[r - 1];
    /* nn.Bilinear.reset_parameters: bound 1/sqrt(weight.size(1)) for the weight and the bias. */
    double bound = 1.0 / sqrt((double)in1);
    gc_init u = {GC_INIT_UNIFORM, -bound, bound};
    int64_t wd[3] = {out, in1, in2};
    gc_node *w = param(c, path, "weight", "bilinear", gc_type_make(GC_F32, 3, wd), u);
    gc_node *bvec = bias ? param(c, path, "bias", "bilinear", gc_type_make(GC_F32, 1, &out), u) : NULL;
    if (!w || (bias && !bvec)) return NULL;
    /* x1 @ W as one GEMM: W [out, in1, in2] -> [in1, out * in2]; then multiply by x2 and sum in2. */
    int64_t rows = gc_type_numel(&x1->type) / in1;
    int64_t f1[2] = {rows, in1}, wflat[2] = {in1, out * in2}, t3[3] = {rows, out, in2}, f2[3] = {rows, 1, in2};
    int perm[3] = {1, 0, 2};
    gc_node *wp = gc_reshape(b, gc_permute(b, w, perm), 2, wflat);
    gc_node *t = gc_reshape(b, gc_matmul(b, gc_reshape(b, x1, 2, f1), wp, false, false), 3, t3);
    gc_node *y = gc_reduce(b, GC_OP_SUM, gc_binary(b, GC_OP_MUL, t, gc_reshape(b, x2, 3, f2)), 4u, false);
    if (bvec) y = gc_binary(b, GC_OP_ADD, y, bvec);
    gc_type shape = x1->type;
    shape.dims[r - 1] = out;
    return gc_reshape(b, y, shape.rank, shape.dims);
}
