/*
 * lower_layers.c: layer calls (layers.h), loss calls (passes/losses.h) and the initialisers of
 * `param` statements (ir/init.h).
 *
 * A layer call is named before its layer is built: `as PATH` or `<layer>_<k>` under the current
 * def instance's prefix (gc_lower_call_name), so the names of nested calls in its arguments are
 * taken first, in evaluation order. causal_self_attention is multihead_attention with q = k = v
 * and causal_mask(T) as its mask, under its own name.
 */
#include "frontend/lower_internal.h"

#include <string.h>

#include "frontend/layers_norm.h"
#include "ir/recurrence.h"
#include "passes/losses.h"

static int tensor_result(lval *out, gc_node *n) {
    out->kind = LV_TENSOR;
    out->node = n;
    return n != NULL;
}

static int positive(lowerer *L, const lower_args *a, int i) {
    if (gc_lower_arg_int(a, i) >= 1) return 1;
    return gc_fail(L->err, GC_ERR_USER, gc_lower_arg_loc(a, i), "%s: argument '%s' must be at least 1, got %lld",
                   a->fn->name, a->fn->params[i].name, (long long)gc_lower_arg_int(a, i));
}

static gc_activation activation(const char *name) { return strcmp(name, "gelu") ? GC_ACTIVATION_RELU : GC_ACTIVATION_GELU; }

static int lower_attention(lowerer *L, lower_args *a, const char *path, lval *out) {
    gc_attention_args args = {0};
    if (!positive(L, a, 3)) return 0;
    args.heads = gc_lower_arg_int(a, 3);
    args.mask = gc_lower_arg_opt_tensor(L, a, 4);
    args.key_padding_mask = gc_lower_arg_opt_tensor(L, a, 5);
    args.bias = gc_lower_arg_bool(a, 6);
    args.add_bias_kv = gc_lower_arg_bool(a, 7);
    args.add_zero_attn = gc_lower_arg_bool(a, 8);
    args.dropout = gc_lower_arg_num(a, 9);
    if (!(args.dropout >= 0 && args.dropout <= 1))
        return gc_fail(L->err, GC_ERR_USER, gc_lower_arg_loc(a, 9),
                       "multihead_attention: argument 'dropout' must be between 0 and 1, got %g", args.dropout);
    gc_node *q = gc_lower_arg_tensor(L, a, 0, GC_F32), *k = gc_lower_arg_tensor(L, a, 1, GC_F32);
    gc_node *v = gc_lower_arg_tensor(L, a, 2, GC_F32);
    return tensor_result(out, gc_layer_multihead_attention(&L->ctx, path, q, k, v, &args));
}

static int lower_causal_attention(lowerer *L, lower_args *a, const char *path, lval *out) {
    gc_node *x = gc_lower_arg_tensor(L, a, 0, GC_F32);
    if (!x || !positive(L, a, 1)) return 0;
    gc_attention_args args = {0};
    args.heads = gc_lower_arg_int(a, 1);
    args.bias = true;
    /* Only a [B, T, E] input gets a mask; anything else is rejected by the layer itself. */
    if (x->type.rank == 3 && !(args.mask = gc_causal_mask(&L->ctx, x->type.dims[1]))) return 0;
    return tensor_result(out, gc_layer_multihead_attention(&L->ctx, path, x, x, x, &args));
}

/* The arguments transformer_encoder_layer and transformer_decoder_layer share, from slot `first`
 * (heads) on: heads, ff, dropout, activation, eps, norm_first. */
static int transformer_args(lowerer *L, const lower_args *a, int first, gc_transformer_args *t) {
    memset(t, 0, sizeof *t);
    if (!positive(L, a, first) || !positive(L, a, first + 1)) return 0;
    t->heads = gc_lower_arg_int(a, first);
    t->ff = gc_lower_arg_int(a, first + 1);
    t->dropout = gc_lower_arg_num(a, first + 2);
    t->activation = activation(gc_lower_arg_str(a, first + 3));
    t->eps = gc_lower_arg_num(a, first + 4);
    t->norm_first = gc_lower_arg_bool(a, first + 5);
    return 1;
}

static int lower_transformer(lowerer *L, lower_args *a, const char *path, lval *out) {
    gc_transformer_args t;
    if (a->fn->id == GC_BUILTIN_TRANSFORMER_ENCODER_LAYER) {
        if (!transformer_args(L, a, 1, &t)) return 0;
        t.mask = gc_lower_arg_opt_tensor(L, a, 7);
        t.key_padding_mask = gc_lower_arg_opt_tensor(L, a, 8);
        gc_node *x = gc_lower_arg_tensor(L, a, 0, GC_F32);
        return tensor_result(out, x ? gc_layer_transformer_encoder(&L->ctx, path, x, &t) : NULL);
    }
    if (!transformer_args(L, a, 2, &t)) return 0;
    t.mask = gc_lower_arg_opt_tensor(L, a, 8);
    t.memory_mask = gc_lower_arg_opt_tensor(L, a, 9);
    t.key_padding_mask = gc_lower_arg_opt_tensor(L, a, 10);
    t.memory_key_padding_mask = gc_lower_arg_opt_tensor(L, a, 11);
    gc_node *x = gc_lower_arg_tensor(L, a, 0, GC_F32), *memory = gc_lower_arg_tensor(L, a, 1, GC_F32);
    return tensor_result(out, x && memory ? gc_layer_transformer_decoder(&L->ctx, path, x, memory, &t) : NULL);
}

/* rnn, lstm, gru: the output sequence, or with `out, h_n (, c_n) = ` a tuple with the final states. */
static int lower_recurrent(lowerer *L, lower_args *a, const char *path, lval *out) {
    gc_recurrent_args r = {0};
    gc_builtin_id id = a->fn->id;
    int at = 2; /* num_layers, then (rnn) nonlinearity, bias, bidirectional, h0 (, c0) */
    r.cell = id == GC_BUILTIN_LSTM ? GC_CELL_LSTM : id == GC_BUILTIN_GRU ? GC_CELL_GRU : GC_CELL_RNN_TANH;
    if (!positive(L, a, 1) || !positive(L, a, 2)) return 0;
    r.hidden = gc_lower_arg_int(a, 1);
    r.num_layers = gc_lower_arg_int(a, at++);
    if (id == GC_BUILTIN_RNN && !strcmp(gc_lower_arg_str(a, at++), "relu")) r.cell = GC_CELL_RNN_RELU;
    r.bias = gc_lower_arg_bool(a, at++);
    r.bidirectional = gc_lower_arg_bool(a, at++);
    r.h0 = gc_lower_arg_opt_tensor(L, a, at++);
    if (id == GC_BUILTIN_LSTM) r.c0 = gc_lower_arg_opt_tensor(L, a, at++);
    if (L->err->code != GC_OK) return 0;
    gc_node *h_n = NULL, *c_n = NULL;
    gc_node *y = gc_layer_recurrent(&L->ctx, path, gc_lower_arg_tensor(L, a, 0, GC_F32), &r, &h_n, &c_n);
    if (!y || L->states_call != a->call) return tensor_result(out, y);
    int n = id == GC_BUILTIN_LSTM ? 3 : 2;
    lval *items = gc_arena_alloc(L->scratch, sizeof *items * 3);
    if (!items) return gc_failf(L->err, GC_ERR_MEMORY, "out of memory while lowering");
    gc_node *parts[3] = {y, h_n, c_n};
    for (int i = 0; i < n; i++) {
        items[i] = (lval){.kind = LV_TENSOR, .node = parts[i]};
        if (!parts[i]) return 0;
    }
    out->kind = LV_TUPLE;
    out->items = items;
    out->n = n;
    return 1;
}

static int lower_layer_at(lowerer *L, lower_args *a, const char *path, lval *out);

/* The layer's nodes carry its path (`layer(...)` in the IR); its arguments were lowered before,
 * in the caller's. */
int gc_lower_layer(lowerer *L, lower_args *a, lval *out) {
    const char *path = gc_lower_call_name(L, a->call, a->fn->name);
    if (!path) return 0;
    const char *layer = L->g->layer;
    L->g->layer = path;
    int ok = lower_layer_at(L, a, path, out);
    L->g->layer = layer;
    return ok;
}

static int lower_layer_at(lowerer *L, lower_args *a, const char *path, lval *out) {
    gc_lower_at(L, a->call->loc);
    gc_layer_context *c = &L->ctx;
    switch (a->fn->id) {
    case GC_BUILTIN_LINEAR:
        if (!positive(L, a, 1)) return 0;
        return tensor_result(out, gc_layer_linear(c, path, gc_lower_arg_tensor(L, a, 0, GC_F32), gc_lower_arg_int(a, 1),
                                                  gc_lower_arg_bool(a, 2)));
    case GC_BUILTIN_EMBEDDING:
        if (!positive(L, a, 1) || !positive(L, a, 2)) return 0;
        return tensor_result(out, gc_layer_embedding(c, path, gc_lower_arg_tensor(L, a, 0, GC_I32),
                                                     gc_lower_arg_int(a, 1), gc_lower_arg_int(a, 2),
                                                     a->vals[3].cv.kind == GC_CV_INT ? gc_lower_arg_int(a, 3)
                                                                                     : GC_NO_PADDING_IDX));
    case GC_BUILTIN_LAYERNORM:
        return tensor_result(out, gc_layer_layernorm(c, path, gc_lower_arg_tensor(L, a, 0, GC_F32), gc_lower_arg_num(a, 1),
                                                     gc_lower_arg_bool(a, 2)));
    case GC_BUILTIN_MULTIHEAD_ATTENTION: return lower_attention(L, a, path, out);
    case GC_BUILTIN_CAUSAL_SELF_ATTENTION: return lower_causal_attention(L, a, path, out);
    case GC_BUILTIN_TRANSFORMER_ENCODER_LAYER:
    case GC_BUILTIN_TRANSFORMER_DECODER_LAYER: return lower_transformer(L, a, path, out);
    case GC_BUILTIN_CONV1D:
    case GC_BUILTIN_CONV2D:
    case GC_BUILTIN_CONV_TRANSPOSE2D: return gc_lower_conv(L, a, path, out);
    case GC_BUILTIN_RNN:
    case GC_BUILTIN_LSTM:
    case GC_BUILTIN_GRU: return lower_recurrent(L, a, path, out);
    /* Normalisation layers (frontend/layers_norm.c). */
    case GC_BUILTIN_BATCHNORM1D:
    case GC_BUILTIN_BATCHNORM2D:
        return tensor_result(out, gc_layer_batchnorm(c, a->fn->name, path, gc_lower_arg_tensor(L, a, 0, GC_F32),
                                                     gc_lower_arg_num(a, 1), gc_lower_arg_num(a, 2),
                                                     gc_lower_arg_bool(a, 3)));
    case GC_BUILTIN_GROUPNORM:
        if (!positive(L, a, 1)) return 0;
        return tensor_result(out, gc_layer_groupnorm(c, path, gc_lower_arg_tensor(L, a, 0, GC_F32), gc_lower_arg_int(a, 1),
                                                     gc_lower_arg_num(a, 2), gc_lower_arg_bool(a, 3)));
    case GC_BUILTIN_RMSNORM:
        return tensor_result(out, gc_layer_rmsnorm(c, path, gc_lower_arg_tensor(L, a, 0, GC_F32), gc_lower_arg_num(a, 1),
                                                   gc_lower_arg_bool(a, 2)));
    case GC_BUILTIN_ONNX: return gc_lower_onnx(L, a, path, out);
    default: return gc_lower_layer_extra(L, a, path, out);
    }
}

/* ---- losses ---------------------------------------------------------------------------------- */

/* The `reduction` argument, wherever the signature puts it. */
static gc_reduction reduction(const lower_args *a) {
    gc_reduction r = GC_REDUCTION_MEAN;
    int i = gc_builtin_param_index(a->fn, "reduction");
    if (i >= 0) gc_reduction_from_name(gc_lower_arg_str(a, i), &r);
    return r;
}

int gc_lower_loss(lowerer *L, lower_args *a, lval *out) {
    gc_builder *b = &L->ctx.b;
    gc_node *input = gc_lower_arg_tensor(L, a, 0, GC_F32);
    gc_node *target = gc_lower_arg_tensor(L, a, 1, GC_F32);
    gc_reduction r = reduction(a);
    if (!input || !target) return 0;
    switch (a->fn->id) {
    case GC_BUILTIN_MSE_LOSS: return tensor_result(out, gc_mse_loss(b, input, target, r));
    case GC_BUILTIN_L1_LOSS: return tensor_result(out, gc_l1_loss(b, input, target, r));
    case GC_BUILTIN_BINARY_CROSS_ENTROPY:
        return tensor_result(out, gc_binary_cross_entropy(b, input, target, gc_lower_arg_opt_tensor(L, a, 2), r));
    case GC_BUILTIN_BINARY_CROSS_ENTROPY_WITH_LOGITS: {
        gc_node *w = NULL, *pw = NULL;
        if (!gc_lower_arg_weights(L, a, 2, &w) || !gc_lower_arg_weights(L, a, 3, &pw)) return 0;
        return tensor_result(out, gc_binary_cross_entropy_with_logits(b, input, target, w, pw, r));
    }
    case GC_BUILTIN_CROSS_ENTROPY: {
        gc_node *w = NULL;
        if (!gc_lower_arg_weights(L, a, 2, &w)) return 0;
        return tensor_result(out, gc_cross_entropy_weighted(b, input, target, w, gc_lower_arg_int(a, 3),
                                                            gc_lower_arg_num(a, 4), r));
    }
    case GC_BUILTIN_NLL_LOSS: {
        gc_node *w = NULL;
        if (!gc_lower_arg_weights(L, a, 2, &w)) return 0;
        return tensor_result(out, gc_nll_loss_weighted(b, input, target, w, gc_lower_arg_int(a, 3), r));
    }
    case GC_BUILTIN_KL_DIV: return tensor_result(out, gc_kl_div(b, input, target, r, gc_lower_arg_bool(a, 3)));
    default: return gc_lower_loss_extra(L, a, out);
    }
}

/* ---- initialisers ---------------------------------------------------------------------------- */

static int init_error(lowerer *L, const lower_args *a, const char *what) {
    return gc_fail(L->err, GC_ERR_USER, a->call->loc, "%s: %s", a->fn->name, what);
}

static int fill_init(lowerer *L, const lower_args *a, const gc_type *t, gc_init *out) {
    double x = a->fn->nparams > 0 ? gc_lower_arg_num(a, 0) : 0, y = a->fn->nparams > 1 ? gc_lower_arg_num(a, 1) : 0;
    bool fans = false;
    switch (a->fn->id) {
    case GC_BUILTIN_ZEROS: *out = (gc_init){GC_INIT_ZEROS, 0, 0}; break;
    case GC_BUILTIN_ONES: *out = (gc_init){GC_INIT_ONES, 0, 0}; break;
    case GC_BUILTIN_CONSTANT: *out = (gc_init){GC_INIT_CONSTANT, x, 0}; break;
    case GC_BUILTIN_NORMAL:
        if (y < 0) return init_error(L, a, "std must be >= 0");
        *out = (gc_init){GC_INIT_NORMAL, x, y};
        break;
    case GC_BUILTIN_UNIFORM:
        if (x > y) return init_error(L, a, "lo must not be greater than hi");
        *out = (gc_init){GC_INIT_UNIFORM, x, y};
        break;
    case GC_BUILTIN_TRUNC_NORMAL:
        if (x < 0) return init_error(L, a, "std must be >= 0");
        *out = (gc_init){GC_INIT_TRUNC_NORMAL, x, 0};
        break;
    case GC_BUILTIN_XAVIER_UNIFORM: *out = (gc_init){GC_INIT_XAVIER_UNIFORM, 1.0, 0}, fans = true; break;
    case GC_BUILTIN_XAVIER_NORMAL: *out = (gc_init){GC_INIT_XAVIER_NORMAL, 1.0, 0}, fans = true; break;
    case GC_BUILTIN_KAIMING_UNIFORM: *out = (gc_init){GC_INIT_KAIMING_UNIFORM, x, 0}, fans = true; break;
    case GC_BUILTIN_KAIMING_NORMAL: *out = (gc_init){GC_INIT_KAIMING_NORMAL, x, 0}, fans = true; break;
    default: return init_error(L, a, "internal error: unknown initialiser");
    }
    /* torch.nn.init computes fan_in and fan_out from dims 0 and 1, so these need rank 2. */
    if (fans && t->rank < 2) return init_error(L, a, "needs a param of rank 2 or more (it uses fan_in and fan_out)");
    return 1;
}

int gc_lower_init(lowerer *L, const gc_ast_expr *call, const gc_type *t, gc_init *out) {
    if (call->kind != GC_EXPR_CALL || !call->call.builtin || call->call.builtin->kind != GC_BKIND_INIT)
        return gc_fail(L->err, GC_ERR_USER, call->loc,
                       "a param's value must be an initialiser such as normal(0, 0.02) or zeros()");
    lower_args *a = gc_arena_alloc(L->scratch, sizeof *a);
    if (!a) return gc_failf(L->err, GC_ERR_MEMORY, "out of memory while lowering");
    return gc_lower_bind_args(L, call, a) && fill_init(L, a, t, out);
}
