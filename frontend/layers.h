/*
 * layers.h: the model language's layers lowered to IR ops, each the math of its PyTorch twin.
 *
 * Layers are not ops: each function here builds primitive ops (matmul, reductions, elementwise)
 * so autodiff, fusion and codegen see nothing special. A layer creates its parameters through
 * gc_layer_param under the dotted names PyTorch's state_dict would use (`fc1.weight`), and a
 * second call under a name that exists reuses those parameters, as calling one torch module twice
 * does. Activations are [batch, ..., features] (batch_first=True).
 */
#ifndef GC_FRONTEND_LAYERS_H
#define GC_FRONTEND_LAYERS_H

#include <stdbool.h>

#include "ir/build.h"
#include "ir/init.h"

/* A parameter (or buffer, layers_norm.h) the model created: its node, initialiser, and which
 * layer kind made it where. */
typedef struct gc_param_entry {
    const char *name;
    gc_node *node;    /* a param or buffer source */
    gc_node *current; /* buffers: the value the layers of this step have written so far */
    gc_init init;
    const char *layer;
    gc_loc loc;
    const float *data; /* f32 initial values from an imported ONNX initializer (in the graph's arena), or NULL */
} gc_param_entry;

typedef struct gc_layer_context {
    gc_builder b;        /* graph, location of the call being lowered, error slot */
    bool training;       /* dropout active (the train graph) or identity (the eval graph) */
    uint64_t seed;       /* train.seed: dropout draws from (seed, call stream, step) */
    bool sync_batchnorm; /* train.sync_batchnorm: training batch norm sums its statistics over processes */
    int next_stream;     /* one random stream per dropout call site */
    gc_node *step;       /* i32[] input "rng.step", made on first use by dropout */
    gc_param_entry *params;
    int num_params, cap_params;
    /* A model that compiles but cannot take a training step (batch norm with one value per
     * channel, which torch refuses in train() mode only): the trainer reports it at the first
     * step, so evals and sampling with such a batch still work. Code 0 when there is none. */
    gc_error step_error;
} gc_layer_context;

/* The name of the i32[] input that carries the step number to dropout's generator. */
#define GC_STEP_INPUT "rng.step"

void gc_layer_context_init(gc_layer_context *c, gc_graph *g, gc_error *err, bool training, uint64_t seed);

/* The param `name` of layer kind `layer`: created with `init`, or the existing one when a param of
 * that name was created by the same layer kind with the same type; otherwise an error naming both
 * source locations. */
gc_node *gc_layer_param(gc_layer_context *c, const char *name, const char *layer, const gc_type *t, gc_init init);
/* Makes a new named source (a param, or a buffer) and records it in the registry with its layer
 * kind and initialiser; the caller has checked the name is free. */
gc_node *gc_layer_register(gc_layer_context *c, gc_op op, const char *name, const char *layer, const gc_type *t,
                           gc_init init);
const gc_param_entry *gc_layer_find_param(const gc_layer_context *c, const char *name);

/* y = x W^T + b over the last axis of x (any rank >= 1): one GEMM over all leading dims. Under an
 * embedding's name (bias=false) W is that embedding's table: weight tying, as `head.weight =
 * wte.weight` in PyTorch. */
gc_node *gc_layer_linear(gc_layer_context *c, const char *path, gc_node *x, int64_t out, bool bias);
/* The same with given weight [out, in] and optional bias [out] nodes. */
gc_node *gc_apply_linear(gc_layer_context *c, gc_node *x, gc_node *weight, gc_node *bias);
/* nn.Embedding: rows of weight [num, dim] picked by i32 idx. padding_idx (GC_NO_PADDING_IDX for none;
 * negative counts from the end) names a row that is zero at initialisation and gets no gradient
 * from this lookup. Under the name of a bias-free linear the two share one weight (tying). */
#define GC_NO_PADDING_IDX INT64_MIN
gc_node *gc_layer_embedding(gc_layer_context *c, const char *path, gc_node *idx, int64_t num, int64_t dim,
                            int64_t padding_idx);
gc_node *gc_layer_layernorm(gc_layer_context *c, const char *path, gc_node *x, double eps, bool affine);
/* Identity when not training or p == 0; otherwise inverted dropout (keep with prob 1-p, scale 1/(1-p)). */
gc_node *gc_layer_dropout(gc_layer_context *c, gc_node *x, double p);
/* f32[t, t]: 0 on and below the diagonal, -inf above. */
gc_node *gc_causal_mask(gc_layer_context *c, int64_t t);

typedef struct gc_attention_args {
    int64_t heads;
    gc_node *mask;             /* optional additive f32 [T, S] */
    gc_node *key_padding_mask; /* optional f32 [B, S], 1 = padded */
    bool bias;                 /* in_proj_bias and out_proj.bias (default true) */
    double dropout;            /* on the attention weights (nn.MultiheadAttention's dropout) */
    bool add_bias_kv;          /* learned bias_k, bias_v [1, 1, E] appended to the keys and values */
    bool add_zero_attn;        /* a zero key and value appended (after bias_k/bias_v) */
} gc_attention_args;

/* nn.MultiheadAttention(batch_first=True): q [B, T, E], k [B, S, kdim], v [B, S, vdim] -> [B, T, E].
 * kdim = vdim = E packs the projections in in_proj_weight [3E, E]; otherwise they are
 * q_proj_weight [E, E], k_proj_weight [E, kdim] and v_proj_weight [E, vdim], as torch names them. */
gc_node *gc_layer_multihead_attention(gc_layer_context *c, const char *path, gc_node *q, gc_node *k,
                                      gc_node *v, const gc_attention_args *args);

typedef enum gc_activation { GC_ACTIVATION_RELU, GC_ACTIVATION_GELU } gc_activation;

typedef struct gc_transformer_args {
    int64_t heads, ff;
    double dropout;            /* default 0.1 */
    gc_activation activation;  /* default relu */
    double eps;                /* default 1e-5 */
    bool norm_first;
    gc_node *mask;             /* encoder: mask; decoder: tgt_mask */
    gc_node *memory_mask;      /* decoder only */
    gc_node *key_padding_mask;        /* optional f32 [B, S], 1 = padded: encoder src_key_padding_mask, decoder tgt_key_padding_mask */
    gc_node *memory_key_padding_mask; /* decoder only: f32 [B, S_memory] */
} gc_transformer_args;

gc_node *gc_layer_transformer_encoder(gc_layer_context *c, const char *path, gc_node *x,
                                      const gc_transformer_args *args);
gc_node *gc_layer_transformer_decoder(gc_layer_context *c, const char *path, gc_node *x, gc_node *memory,
                                      const gc_transformer_args *args);

/* Recurrent layers (layers_recurrent.c): nn.RNN, nn.LSTM, nn.GRU with batch_first=True. */
typedef struct gc_recurrent_args {
    int cell;          /* gc_cell (ir/recurrence.h) */
    int64_t hidden, num_layers;
    bool bias, bidirectional;
    gc_node *h0, *c0;  /* optional f32 [D*num_layers, N, hidden]; c0 for lstm only */
} gc_recurrent_args;

/* x [N, T, I] -> the output sequence [N, T, D*hidden]; the final states [D*num_layers, N, hidden]
 * go to *h_n and, for lstm, *c_n (either may be NULL). */
gc_node *gc_layer_recurrent(gc_layer_context *c, const char *path, gc_node *x, const gc_recurrent_args *args,
                            gc_node **h_n, gc_node **c_n);
/* Convolution layers (layers_conv.c): nn.Conv1d, nn.Conv2d and nn.ConvTranspose2d. Spatial
 * entries [0, spatial) of each array are the layer's, one per spatial dim. */
typedef struct gc_conv_args {
    int spatial;     /* 1 (conv1d) or 2 */
    bool transposed; /* conv_transpose2d */
    int64_t out, groups;
    int64_t kernel[2], stride[2], padding[2], dilation[2], output_padding[2];
    bool same; /* padding="same": dilation * (k - 1) split as torch does, the odd one on the right */
    bool bias;
} gc_conv_args;

/* x [N, C, *spatial] (or unbatched [C, *spatial], as torch takes it) -> [N, out, *out_spatial]. */
gc_node *gc_layer_conv(gc_layer_context *c, const char *path, gc_node *x, const gc_conv_args *a);

#endif
