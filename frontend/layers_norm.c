/*
 * layers_norm.c: normalisation layers as IR (see layers_norm.h). The math follows torch 1.13's
 * nn.BatchNorm1d/2d and nn.GroupNorm and LLaMA's RMSNorm; the initialisers each module's
 * reset_parameters (weight ones, bias zeros, running_mean 0, running_var 1, num_batches_tracked 0).
 */
#include "frontend/layers_norm.h"

#include <stdio.h>
#include <string.h>

/* The registry entry of a param or buffer (in c's own array, so writable). */
static gc_param_entry *find_entry(gc_layer_context *c, const char *name) {
    const gc_param_entry *e = gc_layer_find_param(c, name);
    return e ? &c->params[e - c->params] : NULL;
}

gc_node *gc_layer_buffer(gc_layer_context *c, const char *name, const char *layer, const gc_type *t, gc_init init) {
    gc_param_entry *old = find_entry(c, name);
    if (old) {
        if (old->node->op == GC_OP_BUFFER && !strcmp(old->layer, layer) && gc_type_equal(&old->node->type, t))
            return old->current;
        char a[96], b[96];
        gc_fail(c->b.err, GC_ERR_USER, c->b.loc, "buffer '%s' is %s %s here but was created as %s %s at line %d, col %d",
                name, layer, gc_type_format(t, a, sizeof a), old->layer, gc_type_format(&old->node->type, b, sizeof b),
                old->loc.line, old->loc.col);
        return NULL;
    }
    return gc_layer_register(c, GC_OP_BUFFER, name, layer, t, init);
}

int gc_layer_buffer_update(gc_layer_context *c, const char *name, gc_node *value) {
    gc_param_entry *e = find_entry(c, name);
    if (!value) return 0;
    if (!e || e->node->op != GC_OP_BUFFER)
        return gc_fail(c->b.err, GC_ERR_INTERNAL, c->b.loc, "internal error: no buffer '%s' to update", name);
    e->current = value;
    /* A second call of the layer in one step: its value supersedes the first call's. */
    gc_graph_output *o = gc_graph_find_output(c->b.graph, GC_OUTPUT_UPDATE, name);
    if (o) {
        o->value = value;
        return 1;
    }
    return gc_graph_add_output(c->b.graph, GC_OUTPUT_UPDATE, name, value, c->b.err);
}

/* path.suffix, or suffix alone at the top level. */
static bool join(gc_layer_context *c, char *out, size_t size, const char *path, const char *suffix) {
    int n = path && *path ? snprintf(out, size, "%s.%s", path, suffix) : snprintf(out, size, "%s", suffix);
    if (n >= 0 && (size_t)n < size) return true;
    gc_fail(c->b.err, GC_ERR_USER, c->b.loc, "name '%s.%s' is too long", path, suffix);
    return false;
}

static gc_node *param(gc_layer_context *c, const char *path, const char *suffix, const char *layer, gc_type t,
                      gc_init init) {
    char name[512];
    return join(c, name, sizeof name, path, suffix) ? gc_layer_param(c, name, layer, &t, init) : NULL;
}

static gc_node *buffer(gc_layer_context *c, const char *path, const char *suffix, const char *layer, gc_type t,
                       gc_init init) {
    char name[512];
    return join(c, name, sizeof name, path, suffix) ? gc_layer_buffer(c, name, layer, &t, init) : NULL;
}

static int update(gc_layer_context *c, const char *path, const char *suffix, gc_node *value) {
    char name[512];
    return value && join(c, name, sizeof name, path, suffix) && gc_layer_buffer_update(c, name, value);
}

static gc_type vec(int64_t n) { return gc_type_make(GC_F32, 1, &n); }

/* A [C] vector shaped to broadcast along axis 1 of a rank-`rank` tensor: [1, C, 1, ...]. */
static gc_node *per_channel(gc_builder *b, gc_node *v, int rank) {
    if (!v) return NULL;
    int64_t d[GC_MAX_RANK];
    for (int i = 0; i < rank; i++) d[i] = 1;
    d[1] = v->type.dims[0];
    return gc_reshape(b, v, rank, d);
}

static bool rank_error(gc_layer_context *c, const char *layer, const char *want, const gc_node *x) {
    char t[96];
    gc_fail(c->b.err, GC_ERR_USER, c->b.loc, "%s: expects an f32 input %s, got %s", layer, want,
            gc_type_format(&x->type, t, sizeof t));
    return false;
}

/* y * weight + bias, weight ones and bias zeros [C] along axis 1 (batch and group norm). */
static gc_node *channel_affine(gc_layer_context *c, const char *layer, const char *path, gc_node *y) {
    if (!y) return NULL;
    gc_builder *b = &c->b;
    int rank = y->type.rank;
    gc_init ones = {GC_INIT_ONES, 0, 0}, zeros = {GC_INIT_ZEROS, 0, 0};
    gc_node *w = param(c, path, "weight", layer, vec(y->type.dims[1]), ones);
    gc_node *bias = w ? param(c, path, "bias", layer, vec(y->type.dims[1]), zeros) : NULL;
    if (!bias) return NULL;
    return gc_binary(b, GC_OP_ADD, gc_binary(b, GC_OP_MUL, y, per_channel(b, w, rank)), per_channel(b, bias, rank));
}

gc_node *gc_layer_batchnorm(gc_layer_context *c, const char *layer, const char *path, gc_node *x, double eps,
                            double momentum, bool affine) {
    if (!x) return NULL;
    bool two_d = !strcmp(layer, "batchnorm2d");
    int rank = x->type.rank;
    if (x->type.dtype != GC_F32 || (two_d ? rank != 4 : rank != 2 && rank != 3))
        return rank_error(c, layer, two_d ? "[N, C, H, W]" : "[N, C] or [N, C, L]", x), NULL;
    gc_builder *b = &c->b;
    int64_t ch = x->type.dims[1], per_channel_count = gc_type_numel(&x->type) / ch;
    uint32_t axes = ((1u << rank) - 1) & ~2u;
    gc_init zeros = {GC_INIT_ZEROS, 0, 0}, ones = {GC_INIT_ONES, 0, 0};
    gc_type count_type = gc_type_scalar(GC_I32);
    gc_node *running_mean = buffer(c, path, "running_mean", layer, vec(ch), zeros);
    gc_node *running_var = running_mean ? buffer(c, path, "running_var", layer, vec(ch), ones) : NULL;
    gc_node *tracked = running_var ? buffer(c, path, "num_batches_tracked", layer, count_type, zeros) : NULL;
    if (!tracked) return NULL;

    if (c->training) {
        if (per_channel_count < 2 && !c->step_error.code) {
            char t[96];
            gc_fail(&c->step_error, GC_ERR_USER, b->loc,
                    "%s: expected more than 1 value per channel when training, got input %s (as torch)", layer,
                    gc_type_format(&x->type, t, sizeof t));
        }
        gc_node *mean, *var, *y, *processes = NULL;
        if (c->sync_batchnorm) {
            /* sync_batchnorm (torch's SyncBatchNorm): the statistics of the global batch. Every
             * process has the same batch, so the global mean is the mean of the processes' means,
             * and the variance the mean of their mean squared deviations from it; all_reduce_sum
             * is the identity in a single process, where processes is 1. */
            processes = gc_unary(b, GC_OP_ALL_REDUCE_SUM, gc_scalar(b, GC_F32, 1.0));
            mean = gc_binary(b, GC_OP_DIV, gc_unary(b, GC_OP_ALL_REDUCE_SUM, gc_reduce(b, GC_OP_MEAN, x, axes, true)),
                             processes);
            gc_node *centered = gc_binary(b, GC_OP_SUB, x, mean);
            var = gc_reduce(b, GC_OP_MEAN, gc_unary(b, GC_OP_SQUARE, centered), axes, true);
            var = gc_binary(b, GC_OP_DIV, gc_unary(b, GC_OP_ALL_REDUCE_SUM, var), processes);
            y = gc_binary(b, GC_OP_MUL, centered, gc_unary(b, GC_OP_RSQRT, gc_add_scalar(b, var, eps)));
            if (affine) y = channel_affine(c, layer, path, y);
            if (!y) return NULL;
        } else {
            /* One pass for the statistics: the mean and the mean square of x shifted by the running
             * mean, which the fusion pass computes as sibling reductions over one read of x (the
             * sums accumulate in double). The shift keeps E[d^2] - E[d]^2 from cancelling when the
             * channel's mean is large against its spread; it has no gradient, and the variance does
             * not depend on it. */
            gc_node *shift = gc_unary(b, GC_OP_STOP_GRADIENT, per_channel(b, running_mean, rank));
            gc_node *d = gc_binary(b, GC_OP_SUB, x, shift);
            gc_node *d_mean = gc_reduce(b, GC_OP_MEAN, d, axes, true);
            gc_node *d_square = gc_reduce(b, GC_OP_MEAN, gc_unary(b, GC_OP_SQUARE, d), axes, true);
            var = gc_unary(b, GC_OP_RELU, gc_binary(b, GC_OP_SUB, d_square, gc_unary(b, GC_OP_SQUARE, d_mean)));
            mean = gc_binary(b, GC_OP_ADD, shift, d_mean);
            /* y = d * scale + offset with per-channel scale = rstd * weight and offset = bias -
             * E[d] * scale: one multiply-add per element (torch's batch_norm_cpu_transform_input),
             * and the gradient's sums (of dy and dy * d) read the same operands, so they too are one
             * pass, beside the pass for dx. */
            gc_node *scale = gc_unary(b, GC_OP_RSQRT, gc_add_scalar(b, var, eps));
            gc_node *offset = NULL;
            if (affine) {
                gc_node *w = param(c, path, "weight", layer, vec(ch), ones);
                gc_node *bias = w ? param(c, path, "bias", layer, vec(ch), zeros) : NULL;
                if (!bias) return NULL;
                scale = gc_binary(b, GC_OP_MUL, scale, per_channel(b, w, rank));
                offset = gc_binary(b, GC_OP_SUB, per_channel(b, bias, rank), gc_binary(b, GC_OP_MUL, d_mean, scale));
            } else {
                offset = gc_unary(b, GC_OP_NEG, gc_binary(b, GC_OP_MUL, d_mean, scale));
            }
            y = gc_binary(b, GC_OP_ADD, gc_binary(b, GC_OP_MUL, d, scale), offset);
        }
        /* running = (1 - momentum) * running + momentum * batch statistic; running_var takes the
         * unbiased variance, as torch's batch_norm_cpu_update_stats (of the global count n with
         * sync_batchnorm: n / (n - 1) computed in the step, as the count of processes is). */
        gc_node *mean_c = gc_reshape(b, mean, 1, &ch);
        double unbiased = per_channel_count > 1 ? (double)per_channel_count / (double)(per_channel_count - 1) : 1.0;
        gc_node *var_c;
        if (processes) {
            gc_node *n = gc_mul_scalar(b, processes, (double)per_channel_count);
            var_c = gc_binary(b, GC_OP_MUL, gc_reshape(b, var, 1, &ch),
                              gc_binary(b, GC_OP_DIV, n, gc_add_scalar(b, n, -1.0)));
        } else {
            var_c = gc_mul_scalar(b, gc_reshape(b, var, 1, &ch), unbiased);
        }
        gc_node *new_mean = gc_binary(b, GC_OP_ADD, gc_mul_scalar(b, running_mean, 1.0 - momentum),
                                      gc_mul_scalar(b, mean_c, momentum));
        gc_node *new_var = gc_binary(b, GC_OP_ADD, gc_mul_scalar(b, running_var, 1.0 - momentum),
                                     gc_mul_scalar(b, var_c, momentum));
        if (!update(c, path, "running_mean", new_mean) || !update(c, path, "running_var", new_var) ||
            !update(c, path, "num_batches_tracked", gc_add_scalar(b, tracked, 1.0)))
            return NULL;
        return y;
    }
    gc_node *centered = gc_binary(b, GC_OP_SUB, x, per_channel(b, running_mean, rank));
    gc_node *inv_std = gc_unary(b, GC_OP_RSQRT, gc_add_scalar(b, running_var, eps));
    gc_node *y = gc_binary(b, GC_OP_MUL, centered, per_channel(b, inv_std, rank));
    return affine ? channel_affine(c, layer, path, y) : y;
}

gc_node *gc_layer_groupnorm(gc_layer_context *c, const char *path, gc_node *x, int64_t groups, double eps,
                            bool affine) {
    const char *layer = "groupnorm";
    if (!x) return NULL;
    if (x->type.dtype != GC_F32 || x->type.rank < 2) return rank_error(c, layer, "[N, C, *]", x), NULL;
    int64_t n = x->type.dims[0], ch = x->type.dims[1];
    if (groups < 1 || ch % groups) {
        char t[96];
        gc_fail(c->b.err, GC_ERR_USER, c->b.loc, "groupnorm: %lld channels of input %s are not divisible by %lld groups",
                (long long)ch, gc_type_format(&x->type, t, sizeof t), (long long)groups);
        return NULL;
    }
    gc_builder *b = &c->b;
    int64_t grouped[3] = {n, groups, gc_type_numel(&x->type) / (n * groups)};
    gc_node *g = gc_reshape(b, x, 3, grouped);
    gc_node *mean = gc_reduce(b, GC_OP_MEAN, g, 4u, true);
    gc_node *centered = gc_binary(b, GC_OP_SUB, g, mean);
    gc_node *var = gc_reduce(b, GC_OP_MEAN, gc_unary(b, GC_OP_SQUARE, centered), 4u, true);
    gc_node *y = gc_binary(b, GC_OP_MUL, centered, gc_unary(b, GC_OP_RSQRT, gc_add_scalar(b, var, eps)));
    y = gc_reshape(b, y, x->type.rank, x->type.dims);
    return affine ? channel_affine(c, layer, path, y) : y;
}

gc_node *gc_layer_rmsnorm(gc_layer_context *c, const char *path, gc_node *x, double eps, bool affine) {
    const char *layer = "rmsnorm";
    if (!x) return NULL;
    if (x->type.dtype != GC_F32 || x->type.rank < 1) return rank_error(c, layer, "of rank 1 or more", x), NULL;
    gc_builder *b = &c->b;
    uint32_t last = 1u << (x->type.rank - 1);
    gc_node *ms = gc_reduce(b, GC_OP_MEAN, gc_unary(b, GC_OP_SQUARE, x), last, true);
    gc_node *y = gc_binary(b, GC_OP_MUL, x, gc_unary(b, GC_OP_RSQRT, gc_add_scalar(b, ms, eps)));
    if (!affine) return y;
    gc_init ones = {GC_INIT_ONES, 0, 0};
    gc_node *w = param(c, path, "weight", layer, vec(x->type.dims[x->type.rank - 1]), ones);
    return w ? gc_binary(b, GC_OP_MUL, y, w) : NULL;
}
