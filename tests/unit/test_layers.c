/*
 * test_layers.c: gradc's layers against their PyTorch twins (tests/oracle/gen_layers.py). Each
 * case builds the layer, loads torch's weights and input, and compares the output and the
 * gradient of sum(y * w) for every parameter and the input, at float32 tolerance.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "frontend/layers.h"
#include "passes/autodiff.h"
#include "runtime/interp.h"
#include "runtime/npy.h"

typedef gc_node *(*build_fn)(gc_layer_context *c, gc_node *x);

static const char *case_dir(const char *name) {
    static char path[1024];
    const char *root = getenv("GC_EXPECTED_DIR");
    snprintf(path, sizeof path, "%s/layers/%s", root ? root : "tests/expected", name);
    return path;
}

static gc_tensor load(const char *dir, const char *prefix, const char *name, gc_dtype dtype) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.%s.npy", dir, prefix, name);
    gc_tensor t;
    gc_error err = {0};
    if (!gc_npy_read(path, dtype, &t, &err)) fail_msg("%s", err.message);
    return t;
}

static gc_node *source(gc_layer_context *c, gc_op op, const char *name, const char *dir, gc_dtype dtype) {
    char path[1200];
    snprintf(path, sizeof path, "%s/src.%s.npy", dir, name);
    gc_npy_info info;
    gc_error err = {0};
    if (!gc_npy_read_info(path, &info, &err)) fail_msg("%s", err.message);
    gc_type t = gc_type_make(dtype, info.rank, info.shape);
    return gc_graph_make(c->b.graph, op, NULL, 0, NULL, &t, name, c->b.loc, c->b.err);
}

static void compare(const char *what, const double *got, const gc_tensor *want, int64_t n) {
    const float *w = want->data;
    for (int64_t i = 0; i < n; i++) {
        double tol = 2e-5 + 2e-4 * fabs(w[i]);
        if (!(fabs(got[i] - w[i]) <= tol))
            fail_msg("%s[%lld]: gradc %.8g, torch %.8g", what, (long long)i, got[i], (double)w[i]);
    }
}

static gc_node *g_kv, *g_kpm, *g_memory, *g_k, *g_v, *g_tpm;

static void run_case(const char *name, build_fn build, bool float_x, const char **extras) {
    const char *dir = case_dir(name);
    gc_error err = {0};
    gc_graph *g = gc_graph_new(name);
    gc_layer_context c;
    gc_layer_context_init(&c, g, &err, true, 1);
    c.b.loc = (gc_loc){"layers.gm", 1, 1};
    gc_node *x = source(&c, float_x ? GC_OP_PARAM : GC_OP_INPUT, "x", dir, float_x ? GC_F32 : GC_I32);
    g_kv = g_kpm = g_memory = g_k = g_v = g_tpm = NULL;
    for (const char **e = extras; e && *e; e++) {
        gc_node *n = source(&c, GC_OP_INPUT, *e, dir, GC_F32);
        if (!strcmp(*e, "kv")) g_kv = n;
        if (!strcmp(*e, "kpm")) g_kpm = n;
        if (!strcmp(*e, "memory")) g_memory = n;
        if (!strcmp(*e, "k")) g_k = n;
        if (!strcmp(*e, "v")) g_v = n;
        if (!strcmp(*e, "tpm")) g_tpm = n;
    }
    gc_node *y = build(&c, x);
    if (!y) fail_msg("%s: %s", name, err.message);
    gc_node *w = gc_graph_make(g, GC_OP_INPUT, NULL, 0, NULL, &y->type, "w", c.b.loc, &err);
    gc_node *loss = gc_reduce(&c.b, GC_OP_SUM, gc_binary(&c.b, GC_OP_MUL, y, w), (1u << y->type.rank) - 1, false);
    assert_non_null(loss);
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "y", y, &err));
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "loss", loss, &err));
    if (!gc_autodiff(g, &err)) fail_msg("%s: autodiff: %s", name, err.message);

    gc_interp *it = gc_interp_new(g, GC_INTERP_F32, &err);
    assert_non_null(it);
    int params = 0;
    for (int i = 0; i < g->num_nodes; i++) {
        gc_node *n = g->nodes[i];
        if (n->op != GC_OP_PARAM && n->op != GC_OP_INPUT) continue;
        gc_tensor t = load(dir, "src", n->name, n->type.dtype);
        if (!gc_interp_set(it, n->name, &t, &err)) fail_msg("%s: %s", name, err.message);
        free(t.data);
        params += n->op == GC_OP_PARAM;
    }
    if (!gc_interp_run(it, &err)) fail_msg("%s: %s", name, err.message);
    gc_tensor want;
    char path[1200];
    snprintf(path, sizeof path, "%s/y.npy", dir);
    assert_true(gc_npy_read(path, GC_F32, &want, &err));
    compare("y", gc_interp_output(it, GC_OUTPUT_VALUE, "y"), &want, gc_type_numel(&y->type));
    free(want.data);
    int grads = 0;
    for (int i = 0; i < g->num_outputs; i++) {
        if (g->outputs[i].kind != GC_OUTPUT_GRAD) continue;
        gc_tensor gw = load(dir, "grad", g->outputs[i].name, GC_F32);
        char what[256];
        snprintf(what, sizeof what, "%s: grad %s", name, g->outputs[i].name);
        compare(what, gc_interp_output(it, GC_OUTPUT_GRAD, g->outputs[i].name), &gw, gc_type_numel(&g->outputs[i].value->type));
        free(gw.data);
        grads++;
    }
    assert_int_equal(grads, params); /* every parameter (and x) reaches the loss */
    gc_interp_free(it);
    gc_graph_free(g);
}

static gc_node *linear3d(gc_layer_context *c, gc_node *x) { return gc_layer_linear(c, "", x, 4, true); }
static gc_node *linear_nobias(gc_layer_context *c, gc_node *x) { return gc_layer_linear(c, "", x, 3, false); }
static gc_node *embedding(gc_layer_context *c, gc_node *x) { return gc_layer_embedding(c, "", x, 7, 4, GC_NO_PADDING_IDX); }
static gc_node *layernorm(gc_layer_context *c, gc_node *x) { return gc_layer_layernorm(c, "", x, 1e-5, true); }

static gc_node *mha_causal(gc_layer_context *c, gc_node *x) {
    gc_attention_args a = {.heads = 2, .mask = gc_causal_mask(c, 5), .bias = true};
    return gc_layer_multihead_attention(c, "", x, x, x, &a);
}

static gc_node *mha_cross_padding(gc_layer_context *c, gc_node *x) {
    gc_attention_args a = {.heads = 4, .key_padding_mask = g_kpm, .bias = true};
    return gc_layer_multihead_attention(c, "", x, g_kv, g_kv, &a);
}

static gc_node *encoder_post_relu(gc_layer_context *c, gc_node *x) {
    gc_transformer_args a = {.heads = 2, .ff = 16, .activation = GC_ACTIVATION_RELU, .eps = 1e-5};
    return gc_layer_transformer_encoder(c, "", x, &a);
}

static gc_node *encoder_pre_gelu_causal(gc_layer_context *c, gc_node *x) {
    gc_transformer_args a = {.heads = 2, .ff = 16, .activation = GC_ACTIVATION_GELU, .eps = 1e-5, .norm_first = true,
                             .mask = gc_causal_mask(c, 5)};
    return gc_layer_transformer_encoder(c, "", x, &a);
}

static gc_node *decoder_post(gc_layer_context *c, gc_node *x) {
    gc_transformer_args a = {.heads = 2, .ff = 16, .activation = GC_ACTIVATION_RELU, .eps = 1e-5, .mask = gc_causal_mask(c, 4)};
    return gc_layer_transformer_decoder(c, "", x, g_memory, &a);
}

static gc_node *decoder_pre_gelu(gc_layer_context *c, gc_node *x) {
    gc_transformer_args a = {.heads = 4, .ff = 12, .activation = GC_ACTIVATION_GELU, .eps = 1e-5, .norm_first = true};
    return gc_layer_transformer_decoder(c, "", x, g_memory, &a);
}

static void test_linear(void **s) {
    (void)s;
    run_case("linear3d", linear3d, true, NULL);
    run_case("linear_nobias", linear_nobias, true, NULL);
}

static void test_embedding(void **s) {
    (void)s;
    run_case("embedding", embedding, false, NULL);
}

static void test_layernorm(void **s) {
    (void)s;
    run_case("layernorm", layernorm, true, NULL);
}

static void test_attention(void **s) {
    (void)s;
    run_case("mha_causal", mha_causal, true, NULL);
    const char *extras[] = {"kv", "kpm", NULL};
    run_case("mha_cross_padding", mha_cross_padding, true, extras);
}

static void test_encoder(void **s) {
    (void)s;
    run_case("encoder_post_relu", encoder_post_relu, true, NULL);
    run_case("encoder_pre_gelu_causal", encoder_pre_gelu_causal, true, NULL);
}

static void test_decoder(void **s) {
    (void)s;
    const char *extras[] = {"memory", NULL};
    run_case("decoder_post", decoder_post, true, extras);
    run_case("decoder_pre_gelu", decoder_pre_gelu, true, extras);
}

/* ---- layer arguments: padding_idx, tying, kdim/vdim, add_bias_kv, add_zero_attn, key padding masks */

static gc_node *embedding_padding(gc_layer_context *c, gc_node *x) { return gc_layer_embedding(c, "", x, 7, 4, 3); }
static gc_node *embedding_padding_negative(gc_layer_context *c, gc_node *x) {
    return gc_layer_embedding(c, "", x, 7, 4, -2);
}

/* head(tanh(emb(x))) with head.weight = emb.weight. */
static gc_node *tied_embedding_head(gc_layer_context *c, gc_node *x) {
    gc_node *h = gc_unary(&c->b, GC_OP_TANH, gc_layer_embedding(c, "emb", x, 7, 4, GC_NO_PADDING_IDX));
    return gc_layer_linear(c, "emb", h, 7, false);
}

static gc_node *mha_kdim_vdim(gc_layer_context *c, gc_node *x) {
    gc_attention_args a = {.heads = 2, .key_padding_mask = g_kpm, .bias = true};
    return gc_layer_multihead_attention(c, "", x, g_k, g_v, &a);
}

static gc_node *mha_bias_kv_zero_attn(gc_layer_context *c, gc_node *x) {
    gc_attention_args a = {
        .heads = 2, .mask = gc_causal_mask(c, 5), .bias = true, .add_bias_kv = true, .add_zero_attn = true};
    return gc_layer_multihead_attention(c, "", x, x, x, &a);
}

static gc_node *mha_bias_kv_cross_padding(gc_layer_context *c, gc_node *x) {
    gc_attention_args a = {.heads = 4, .key_padding_mask = g_kpm, .bias = false, .add_bias_kv = true};
    return gc_layer_multihead_attention(c, "", x, g_k, g_k, &a);
}

static gc_node *mha_zero_attn_cross_padding(gc_layer_context *c, gc_node *x) {
    gc_attention_args a = {.heads = 2, .key_padding_mask = g_kpm, .bias = true, .add_zero_attn = true};
    return gc_layer_multihead_attention(c, "", x, g_kv, g_kv, &a);
}

static gc_node *encoder_key_padding(gc_layer_context *c, gc_node *x) {
    gc_transformer_args a = {
        .heads = 2, .ff = 16, .activation = GC_ACTIVATION_RELU, .eps = 1e-5, .key_padding_mask = g_kpm};
    return gc_layer_transformer_encoder(c, "", x, &a);
}

static gc_node *decoder_key_padding(gc_layer_context *c, gc_node *x) {
    gc_transformer_args a = {.heads = 2, .ff = 16, .activation = GC_ACTIVATION_RELU, .eps = 1e-5, .norm_first = true,
                             .mask = gc_causal_mask(c, 4), .key_padding_mask = g_tpm, .memory_key_padding_mask = g_kpm};
    return gc_layer_transformer_decoder(c, "", x, g_memory, &a);
}

static void test_embedding_padding_and_tying(void **s) {
    (void)s;
    run_case("embedding_padding", embedding_padding, false, NULL);
    run_case("embedding_padding_negative", embedding_padding_negative, false, NULL);
    run_case("tied_embedding_head", tied_embedding_head, false, NULL);
}

static void test_attention_arguments(void **s) {
    (void)s;
    const char *kv_dims[] = {"k", "v", "kpm", NULL}, *k_only[] = {"k", "kpm", NULL}, *kv[] = {"kv", "kpm", NULL};
    run_case("mha_kdim_vdim", mha_kdim_vdim, true, kv_dims);
    run_case("mha_bias_kv_zero_attn", mha_bias_kv_zero_attn, true, NULL);
    run_case("mha_bias_kv_cross_padding", mha_bias_kv_cross_padding, true, k_only);
    run_case("mha_zero_attn_cross_padding", mha_zero_attn_cross_padding, true, kv);
}

/* Attention dropout acts on the attention weights: at p = 1 in training every weight is dropped,
 * so each output row is out_proj's bias alone (dropping the output instead would give zeros); at
 * p = 0.5 the output moves. */
static void test_attention_dropout(void **s) {
    (void)s;
    for (int variant = 0; variant < 2; variant++) {
        gc_error err = {0};
        gc_graph *g = gc_graph_new("attn_dropout");
        gc_layer_context c;
        gc_layer_context_init(&c, g, &err, true, 9);
        c.b.loc = (gc_loc){"layers.gm", 1, 1};
        int64_t d[3] = {2, 3, 4};
        gc_type t = gc_type_make(GC_F32, 3, d);
        gc_node *x = gc_graph_make(g, GC_OP_INPUT, NULL, 0, NULL, &t, "x", c.b.loc, &err);
        gc_attention_args a = {.heads = 2, .bias = true, .dropout = variant == 0 ? 1.0 : 0.5};
        gc_node *y = gc_layer_multihead_attention(&c, "", x, x, x, &a);
        assert_non_null(y);
        assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "y", y, &err));
        gc_interp *it = gc_interp_new(g, GC_INTERP_F64, &err);
        assert_non_null(it);
        for (int i = 0; i < g->num_nodes; i++) {
            gc_node *n = g->nodes[i];
            if (n->op != GC_OP_PARAM && n->op != GC_OP_INPUT) continue;
            int64_t count = gc_type_numel(&n->type);
            double v[64] = {3}; /* rng.step: step 3 */
            if (!strcmp(n->name, GC_STEP_INPUT)) {
                assert_true(gc_interp_set_f64(it, n->name, v, 1, &err));
                continue;
            }
            for (int64_t k = 0; k < count; k++) v[k] = 0.1 * (double)((k * 7 + i) % 11) - 0.5;
            if (!gc_interp_set_f64(it, n->name, v, count, &err)) fail_msg("%s: %s", n->name, err.message);
        }
        assert_true(gc_interp_run(it, &err));
        const double *out = gc_interp_output(it, GC_OUTPUT_VALUE, "y");
        const gc_param_entry *bias = gc_layer_find_param(&c, "out_proj.bias");
        assert_non_null(bias);
        int same = 0;
        for (int k = 0; k < 24; k++) {
            int i = 0;
            while (g->nodes[i] != bias->node) i++;
            double b = 0.1 * (double)((k % 4 * 7 + i) % 11) - 0.5;
            same += fabs(out[k] - b) < 1e-12;
        }
        assert_int_equal(same, variant == 0 ? 24 : 0);
        gc_interp_free(it);
        gc_graph_free(g);
    }
}

static void test_transformer_key_padding(void **s) {
    (void)s;
    const char *enc[] = {"kpm", NULL}, *dec[] = {"memory", "tpm", "kpm", NULL};
    run_case("encoder_key_padding", encoder_key_padding, true, enc);
    run_case("decoder_key_padding", decoder_key_padding, true, dec);
}

/* Reusing a name shares parameters; the same name for another layer kind or shape is an error
 * that names the first location. */
static void test_param_reuse(void **s) {
    (void)s;
    gc_error err = {0};
    gc_graph *g = gc_graph_new("reuse");
    gc_layer_context c;
    gc_layer_context_init(&c, g, &err, false, 1);
    int64_t d[2] = {2, 3};
    gc_type t = gc_type_make(GC_F32, 2, d);
    c.b.loc = (gc_loc){"m.gm", 4, 9};
    gc_node *x = gc_graph_make(g, GC_OP_INPUT, NULL, 0, NULL, &t, "x", c.b.loc, &err);
    assert_non_null(gc_layer_linear(&c, "fc", x, 5, true));
    int before = c.num_params;
    assert_non_null(gc_layer_linear(&c, "fc", x, 5, true));
    assert_int_equal(c.num_params, before);
    c.b.loc = (gc_loc){"m.gm", 8, 2};
    assert_null(gc_layer_linear(&c, "fc", x, 6, true));
    assert_non_null(strstr(err.message, "line 4"));
    assert_int_equal(err.line, 8);
    gc_graph_free(g);
}

/* Dropout in training keeps about 1-p of the elements, scaled by 1/(1-p); it is the identity in eval. */
static void test_dropout(void **s) {
    (void)s;
    gc_error err = {0};
    gc_graph *g = gc_graph_new("dropout");
    gc_layer_context c;
    gc_layer_context_init(&c, g, &err, true, 7);
    int64_t n = 4000;
    gc_type t = gc_type_make(GC_F32, 1, &n);
    gc_node *x = gc_fill(&c.b, &t, 1.0);
    gc_node *y = gc_layer_dropout(&c, x, 0.25);
    assert_non_null(y);
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "y", y, &err));
    gc_interp *it = gc_interp_new(g, GC_INTERP_F32, &err);
    double step = 3;
    assert_true(gc_interp_set_f64(it, GC_STEP_INPUT, &step, 1, &err));
    assert_true(gc_interp_run(it, &err));
    const double *v = gc_interp_output(it, GC_OUTPUT_VALUE, "y");
    int kept = 0;
    for (int64_t i = 0; i < n; i++) {
        assert_true(v[i] == 0.0 || fabs(v[i] - 1.0 / 0.75) < 1e-6);
        kept += v[i] != 0.0;
    }
    assert_in_range(kept, 2850, 3150);
    gc_interp_free(it);
    gc_graph_free(g);

    gc_layer_context e;
    gc_graph *g2 = gc_graph_new("eval");
    gc_layer_context_init(&e, g2, &err, false, 7);
    gc_node *x2 = gc_fill(&e.b, &t, 1.0);
    assert_ptr_equal(gc_layer_dropout(&e, x2, 0.25), x2);
    gc_graph_free(g2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear),     cmocka_unit_test(test_embedding), cmocka_unit_test(test_layernorm),
        cmocka_unit_test(test_attention),  cmocka_unit_test(test_encoder),   cmocka_unit_test(test_decoder),
        cmocka_unit_test(test_param_reuse), cmocka_unit_test(test_dropout),
        cmocka_unit_test(test_embedding_padding_and_tying), cmocka_unit_test(test_attention_arguments),
        cmocka_unit_test(test_transformer_key_padding), cmocka_unit_test(test_attention_dropout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
