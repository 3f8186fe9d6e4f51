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
} gc_param_entry;

typedef struct gc_layer_context {
    gc_builder b;        /* graph, location of the call being lowered, error slot */
    bool training;       /* dropout active (the train graph) or identity (the eval graph) */
    uint64_t seed;       /* train.seed: dropout draws from (seed, call stream, step) */
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
const gc_param_entry *gc_layer_find_param(const gc_layer_context *c, const char *name);

/* y = x W^T + b over the last axis of x (any rank >= 1): one GEMM over all leading dims. */
gc_node *gc_layer_linear(gc_layer_context *c, const char *path, gc_node *x, int64_t out, bool bias);
/* The same with given weight [out, in] and optional bias [out] nodes. */
gc_node *gc_apply_linear(gc_layer_context *c, gc_node *x, gc_node *weight, gc_node *bias);
gc_node *gc_layer_embedding(gc_layer_context *c, const char *path, gc_node *idx, int64_t num, int64_t dim);
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
} gc_attention_args;

/* nn.MultiheadAttention(batch_first=True): q [B, T, E], k and v [B, S, E] -> [B, T, E]. */
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
} gc_transformer_args;

gc_node *gc_layer_transformer_encoder(gc_layer_context *c, const char *path, gc_node *x,
                                      const gc_transformer_args *args);
gc_node *gc_layer_transformer_decoder(gc_layer_context *c, const char *path, gc_node *x, gc_node *memory,
                                      const gc_transformer_args *args);

#endif
