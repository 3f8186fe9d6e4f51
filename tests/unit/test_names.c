/*
 * test_names.c: parameter names of the model language (docs/language.md, "Names of parameters"):
 * number segments in `as` paths as nn.Sequential names its children, prefixes composing through
 * defs, and weight tying (a bias-free linear under an embedding's name uses the embedding's table),
 * with the located error for every misuse.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "frontend/check.h"
#include "frontend/lower.h"
#include "frontend/parser.h"
#include "gradc/gradc.h"

static int lower_with_mode(const char *src, bool training, gc_lowered_model *out, gc_error *err) {
    memset(err, 0, sizeof *err);
    memset(out, 0, sizeof *out);
    gc_arena *arena = gc_arena_new();
    assert_non_null(arena);
    gc_ast_module *m = gc_frontend_parse(src, strlen(src), "model.gm", arena, err);
    int ok = m && gc_frontend_check(m, NULL, 0, err) && gc_lower_model(m, training, out, err);
    gc_arena_free(arena);
    return ok;
}

static int lower_with(const char *src, gc_lowered_model *out, gc_error *err) { return lower_with_mode(src, true, out, err); }

static gc_lowered_model lower_ok(const char *src) {
    gc_lowered_model lm;
    gc_error err;
    if (!lower_with(src, &lm, &err)) fail_msg("lowering failed: %d:%d: %s", err.line, err.col, err.message);
    return lm;
}

/* The model must fail at line:col with a message holding every one of the NULL-ended strings. */
static void expect_error(const char *src, int line, int col, ...) {
    gc_lowered_model lm;
    gc_error err;
    if (lower_with(src, &lm, &err)) {
        gc_lowered_model_free(&lm);
        fail_msg("expected an error at %d:%d, but the model lowered", line, col);
    }
    assert_int_equal(err.code, GC_ERR_USER);
    if (err.line != line || err.col != col)
        fail_msg("error at %d:%d, expected %d:%d: %s", err.line, err.col, line, col, err.message);
    va_list ap;
    va_start(ap, col);
    for (const char *want; (want = va_arg(ap, const char *));)
        if (!strstr(err.message, want)) fail_msg("message '%s' lacks '%s'", err.message, want);
    va_end(ap);
}

static const gc_param_entry *param(const gc_lowered_model *lm, const char *name) {
    const gc_param_entry *p = gc_layer_find_param(&lm->layers, name);
    if (!p) {
        char all[4096] = "";
        for (int i = 0; i < lm->layers.num_params; i++) {
            strncat(all, lm->layers.params[i].name, sizeof all - strlen(all) - 3);
            strncat(all, " ", sizeof all - strlen(all) - 1);
        }
        fail_msg("no param '%s'; the params are: %s", name, all);
    }
    return p;
}

static void expect_type(const gc_type *t, const char *want) {
    char buf[96];
    gc_type_format(t, buf, sizeof buf);
    assert_string_equal(buf, want);
}

/* ---- number segments ------------------------------------------------------------------------- */

static void test_number_segments(void **state) {
    (void)state;
    gc_lowered_model lm = lower_ok("input x: f32[2, 3]\n"
                                   "a = linear(x, 16) as 0\n"
                                   "b = linear(a, 8) as features.3\n"
                                   "for i in range(2) {\n"
                                   "    b = linear(b, 8) as features[i + 4]\n"
                                   "}\n"
                                   "c = layernorm(b) as layer1.0.conv1\n"
                                   "d = linear(c, 4) as features.1.conv.0.0\n"
                                   "loss = mean(d)\n");
    expect_type(&param(&lm, "0.weight")->node->type, "f32[16, 3]");
    param(&lm, "0.bias");
    expect_type(&param(&lm, "features.3.weight")->node->type, "f32[8, 16]");
    param(&lm, "features.4.weight");
    param(&lm, "features.5.bias");
    param(&lm, "layer1.0.conv1.weight");
    expect_type(&param(&lm, "features.1.conv.0.0.weight")->node->type, "f32[4, 8]");
    assert_int_equal(lm.layers.num_params, 12);
    gc_lowered_model_free(&lm);
}

/* A def instance's name prefixes the names inside it, numbers included, at any depth. */
static void test_number_segments_compose_through_defs(void **state) {
    (void)state;
    gc_lowered_model lm = lower_ok("input x: f32[2, 4]\n"
                                   "def inner(x) {\n"
                                   "    return linear(x, 4) as 0\n"
                                   "}\n"
                                   "def block(x) {\n"
                                   "    h = linear(x, 4) as conv1\n"
                                   "    return inner(h) as downsample.1\n"
                                   "}\n"
                                   "y = block(x) as layer1.0\n"
                                   "for i in range(2) {\n"
                                   "    y = block(y) as layer2[i]\n"
                                   "}\n"
                                   "loss = mean(y)\n");
    param(&lm, "layer1.0.conv1.weight");
    param(&lm, "layer1.0.downsample.1.0.weight");
    param(&lm, "layer2.0.conv1.bias");
    param(&lm, "layer2.1.downsample.1.0.bias");
    assert_int_equal(lm.layers.num_params, 12);
    gc_lowered_model_free(&lm);
}

/* `as h.3` and `as h[3]` are one name, so the second call reuses the first's parameters. */
static void test_number_segment_equals_index(void **state) {
    (void)state;
    gc_lowered_model lm = lower_ok("input x: f32[2, 4]\n"
                                   "a = linear(x, 4) as h.3\n"
                                   "b = linear(a, 4) as h[3]\n"
                                   "loss = mean(b)\n");
    assert_int_equal(lm.layers.num_params, 2);
    gc_lowered_model_free(&lm);
}

static void test_path_errors(void **state) {
    (void)state;
    expect_error("input x: f32[2, 3]\ny = linear(x, 4) as 1.5e3\nloss = mean(y)\n", 2, 23, "'5e3'",
                 "not a segment", NULL);
    expect_error("input x: f32[2, 3]\ny = linear(x, 4) as -1\nloss = mean(y)\n", 2, 21, "negative", NULL);
    expect_error("input x: f32[2, 3]\ny = linear(x, 4) as h..1\nloss = mean(y)\n", 2, 23, "after '.'", NULL);
    expect_error("input x: f32[2, 3]\ny = linear(x, 4) as h[-1]\nloss = mean(y)\n", 2, 23, "index", "-1", NULL);
    expect_error("input x: f32[2, 3]\ny = linear(x, 4) as h[1.5]\nloss = mean(y)\n", 2, 23, "index", "1.5", NULL);
    expect_error("input x: f32[2, 3]\ny = linear(x, 4) as h.007\nloss = mean(y)\n", 2, 23, "leading zero", NULL);
    expect_error("input x: f32[2, 3]\ny = relu(x) as 0\nloss = mean(y)\n", 2, 16, "'relu' creates no parameters",
                 NULL);
    /* A number segment is a name like any other: kind and shape clashes stay errors. */
    expect_error("input x: f32[2, 3]\na = linear(x, 4) as 0\nb = layernorm(x) as 0\nloss = mean(a) + mean(b)\n", 3,
                 5, "'0.weight'", "layernorm", "linear", "line 2, col 5", NULL);
}

/* ---- weight tying ---------------------------------------------------------------------------- */

static int count_ops(const gc_graph *g, gc_op op) {
    int n = 0;
    for (int i = 0; i < g->num_nodes; i++) n += g->nodes[i]->op == op;
    return n;
}

/* The one table feeds the lookup and, transposed, the head's GEMM. */
static void expect_tied(const gc_lowered_model *lm, const char *name) {
    const gc_node *w = param(lm, name)->node;
    int takes = 0, gemms = 0;
    for (int i = 0; i < lm->graph->num_nodes; i++) {
        const gc_node *n = lm->graph->nodes[i];
        if (n->op == GC_OP_TAKE && n->inputs[0] == w) takes++;
        if (n->op == GC_OP_MATMUL && n->inputs[1] == w) gemms++;
    }
    assert_int_equal(takes, 1);
    assert_int_equal(gemms, 1);
    assert_string_equal(param(lm, name)->layer, "embedding");
    assert_int_equal(param(lm, name)->init.kind, GC_INIT_NORMAL); /* the embedding's N(0, 1), as torch keeps */
    assert_int_equal(count_ops(lm->graph, GC_OP_PARAM), lm->layers.num_params);
}

static void test_tying(void **state) {
    (void)state;
    gc_lowered_model lm = lower_ok("input t: i32[2, 5]\n"
                                   "input y: i32[2, 5]\n"
                                   "h = embedding(t, 11, 8) as wte\n"
                                   "h = layernorm(h) as ln_f\n"
                                   "logits = linear(h, 11, bias=false) as wte\n"
                                   "loss = cross_entropy(logits, y)\n");
    expect_tied(&lm, "wte.weight");
    assert_null(gc_layer_find_param(&lm.layers, "wte.bias"));
    assert_int_equal(lm.layers.num_params, 3);
    gc_lowered_model_free(&lm);

    /* The tie holds whichever call comes first (torch's assignment needs both modules to exist). */
    lm = lower_ok("input t: i32[2, 5]\n"
                  "input x: f32[2, 8]\n"
                  "def head(h) {\n"
                  "    return linear(h, 11, bias=false) as out\n"
                  "}\n"
                  "logits = head(x) as lm\n"
                  "e = embedding(t, 11, 8) as lm.out\n"
                  "loss = mean(logits) + mean(e)\n");
    expect_tied(&lm, "lm.out.weight");
    assert_int_equal(lm.layers.num_params, 1);
    gc_lowered_model_free(&lm);

    /* Inside a def, names compose as usual, numbers included. */
    lm = lower_ok("input t: i32[2, 5]\n"
                  "def model(t) {\n"
                  "    h = embedding(t, 11, 8) as 0\n"
                  "    return linear(h, 11, bias=false) as 0\n"
                  "}\n"
                  "loss = mean(model(t) as net.1)\n");
    expect_tied(&lm, "net.1.0.weight");
    gc_lowered_model_free(&lm);
}

static void test_tying_errors(void **state) {
    (void)state;
    /* A bias has nowhere to live. */
    expect_error("input t: i32[2, 5]\nh = embedding(t, 11, 8) as wte\nlogits = linear(h, 11) as wte\n"
                 "loss = mean(logits)\n",
                 3, 10, "'wte'", "bias=false", "line 2, col 5", NULL);
    /* Shapes: the head's [out, in] must be the table's [num, dim]; the message names both places. */
    expect_error("input t: i32[2, 5]\nh = embedding(t, 11, 8) as wte\nlogits = linear(h, 12, bias=false) as wte\n"
                 "loss = mean(logits)\n",
                 3, 10, "parameter 'wte.weight' is linear f32[12, 8] here but was created as embedding f32[11, 8]",
                 "line 2, col 5", NULL);
    expect_error("input t: i32[2, 5]\nh = embedding(t, 11, 8) as wte\n"
                 "logits = linear(reshape(h, [2, 40]), 11, bias=false) as wte\nloss = mean(logits)\n",
                 3, 10, "f32[11, 40]", "f32[11, 8]", NULL);
    /* A linear that has a bias cannot take an embedding's name later, nor a differently shaped one. */
    expect_error("input t: i32[2, 5]\ninput x: f32[2, 8]\na = linear(x, 11) as wte\nh = embedding(t, 11, 8) as wte\n"
                 "loss = mean(a) + mean(h)\n",
                 4, 5, "'wte.weight' is embedding f32[11, 8]", "with a bias", "line 3, col 5", NULL);
    expect_error("input t: i32[2, 5]\ninput x: f32[2, 8]\na = linear(x, 11, bias=false) as wte\n"
                 "h = embedding(t, 12, 8) as wte\nloss = mean(a) + mean(h)\n",
                 4, 5, "'wte.weight' is embedding f32[12, 8] here but was created as linear f32[11, 8]", NULL);
    /* Other kinds never tie. */
    expect_error("input t: i32[2, 5]\nh = layernorm(embedding(t, 11, 8) as e) as n\ny = embedding(t, 11, 8) as n\n"
                 "loss = mean(h) + mean(y)\n",
                 3, 5, "'n.weight' is embedding", "layernorm", NULL);
    expect_error("input t: i32[2, 5]\nh = embedding(t, 11, 8) as e\ny = layernorm(h) as e\nloss = mean(y)\n", 3, 5,
                 "'e.weight' is layernorm", "embedding", NULL);
}

/* ---- padding_idx ----------------------------------------------------------------------------- */

static void test_padding_idx(void **state) {
    (void)state;
    gc_lowered_model lm = lower_ok("input t: i32[2, 5]\n"
                                   "a = embedding(t, 11, 8, padding_idx=0) as a\n"
                                   "b = embedding(t, 11, 8, padding_idx=-2) as b\n"
                                   "c = embedding(t, 11, 8, padding_idx=none) as c\n"
                                   "d = embedding(t, 11, 8, 3) as a2\n"
                                   "loss = mean(a + b + c + d)\n");
    assert_int_equal(param(&lm, "a.weight")->init.kind, GC_INIT_NORMAL_ZERO_ROW);
    assert_true(param(&lm, "a.weight")->init.b == 1);
    assert_true(param(&lm, "b.weight")->init.b == 10); /* -2 counts from the end: row 9 */
    assert_int_equal(param(&lm, "c.weight")->init.kind, GC_INIT_NORMAL);
    assert_true(param(&lm, "a2.weight")->init.b == 4);
    gc_lowered_model_free(&lm);
    expect_error("input t: i32[2, 5]\ny = embedding(t, 11, 8, padding_idx=11)\nloss = mean(y)\n", 2, 5, "padding_idx",
                 "[-11, 11)", "11", NULL);
    expect_error("input t: i32[2, 5]\ny = embedding(t, 11, 8, padding_idx=-12)\nloss = mean(y)\n", 2, 5,
                 "padding_idx", "-12", NULL);
    expect_error("input t: i32[2, 5]\ny = embedding(t, 11, 8, padding_idx=1.5)\nloss = mean(y)\n", 2, 37,
                 "padding_idx", "an integer or none", NULL);
    /* One table has one padding row: a reuse cannot change it. */
    expect_error("input t: i32[2, 5]\na = embedding(t, 11, 8, padding_idx=1) as e\nb = embedding(t, 11, 8) as e\n"
                 "loss = mean(a + b)\n",
                 3, 5, "'e'", "padding_idx", "line 2, col 5", NULL);
    /* A reuse with the same row (counted either way) is the same table. */
    lm = lower_ok("input t: i32[2, 5]\na = embedding(t, 11, 8, padding_idx=10) as e\n"
                  "b = embedding(t, 11, 8, padding_idx=-1) as e\nloss = mean(a + b)\n");
    assert_int_equal(lm.layers.num_params, 1);
    gc_lowered_model_free(&lm);
}

/* ---- attention and transformer arguments ----------------------------------------------------- */

static void test_attention_arguments(void **state) {
    (void)state;
    gc_lowered_model lm = lower_ok("input q: f32[2, 4, 8]\n"
                                   "input k: f32[2, 6, 5]\n"
                                   "input v: f32[2, 6, 3]\n"
                                   "input pad: f32[2, 6]\n"
                                   "a = multihead_attention(q, k, v, 2, key_padding_mask=pad) as cross\n"
                                   "b = multihead_attention(a, a, a, 2, add_bias_kv=true, add_zero_attn=true,\n"
                                   "                        dropout=0.1) as self\n"
                                   "c = multihead_attention(b, k, k, 4, bias=false, add_bias_kv=true) as kv\n"
                                   "loss = mean(c)\n");
    expect_type(&param(&lm, "cross.q_proj_weight")->node->type, "f32[8, 8]");
    expect_type(&param(&lm, "cross.k_proj_weight")->node->type, "f32[8, 5]");
    expect_type(&param(&lm, "cross.v_proj_weight")->node->type, "f32[8, 3]");
    expect_type(&param(&lm, "cross.in_proj_bias")->node->type, "f32[24]");
    assert_null(gc_layer_find_param(&lm.layers, "cross.in_proj_weight"));
    assert_int_equal(param(&lm, "cross.k_proj_weight")->init.kind, GC_INIT_XAVIER_UNIFORM);
    expect_type(&param(&lm, "self.in_proj_weight")->node->type, "f32[24, 8]");
    expect_type(&param(&lm, "self.bias_k")->node->type, "f32[1, 1, 8]");
    expect_type(&param(&lm, "self.bias_v")->node->type, "f32[1, 1, 8]");
    assert_int_equal(param(&lm, "self.bias_v")->init.kind, GC_INIT_XAVIER_NORMAL);
    param(&lm, "kv.bias_k");
    param(&lm, "kv.q_proj_weight");
    assert_null(gc_layer_find_param(&lm.layers, "kv.in_proj_bias"));
    assert_null(gc_layer_find_param(&lm.layers, "kv.out_proj.bias"));
    /* cross: 3 + 1 + 2; self: 1 + 1 + 2 + 2; kv: 3 + 1 + 2 */
    assert_int_equal(lm.layers.num_params, 18);
    /* Attention dropout draws in training only, as nn.MultiheadAttention's. */
    assert_int_equal(count_ops(lm.graph, GC_OP_RANDOM_UNIFORM), 1);
    gc_lowered_model_free(&lm);
    gc_error err;
    const char *src = "input x: f32[2, 4, 8]\ny = multihead_attention(x, x, x, 2, dropout=0.5)\nloss = mean(y)\n";
    assert_true(lower_with_mode(src, false, &lm, &err));
    assert_int_equal(count_ops(lm.graph, GC_OP_RANDOM_UNIFORM), 0);
    gc_lowered_model_free(&lm);

    lm = lower_ok("input src: f32[2, 5, 8]\n"
                  "input tgt: f32[2, 4, 8]\n"
                  "input src_pad: f32[2, 5]\n"
                  "input tgt_pad: f32[2, 4]\n"
                  "m = transformer_encoder_layer(src, 2, 16, src_key_padding_mask=src_pad) as enc\n"
                  "y = transformer_decoder_layer(tgt, m, 2, 16, tgt_mask=causal_mask(4), tgt_key_padding_mask=tgt_pad,\n"
                  "                              memory_key_padding_mask=src_pad) as dec\n"
                  "loss = mean(y)\n");
    param(&lm, "enc.self_attn.in_proj_weight");
    param(&lm, "dec.multihead_attn.in_proj_weight");
    gc_lowered_model_free(&lm);
}

static void test_attention_argument_errors(void **state) {
    (void)state;
    const char *head = "input q: f32[2, 4, 8]\ninput k: f32[2, 6, 5]\ninput k7: f32[2, 7, 5]\ninput pad: f32[2, 6]\n";
    char src[1024];
    /* A second call under one name must ask for the parameters the first one made. */
    snprintf(src, sizeof src, "%sa = multihead_attention(q, k, k, 2) as m\nb = multihead_attention(q, q, q, 2) as m\n"
             "loss = mean(a + b)\n", head);
    expect_error(src, 6, 5, "'m'", "line 5, col 5", "key and value sizes", NULL);
    snprintf(src, sizeof src, "%sa = multihead_attention(q, q, q, 2) as m\n"
             "b = multihead_attention(q, q, q, 2, add_bias_kv=true) as m\nloss = mean(a + b)\n", head);
    expect_error(src, 6, 5, "'m'", "add_bias_kv=false", NULL);
    snprintf(src, sizeof src, "%sa = multihead_attention(q, k, k, 2) as m\nb = multihead_attention(q, k7, k7, 2) as m\n"
             "loss = mean(a + b)\n", head);
    gc_lowered_model lm;
    gc_error err;
    if (!lower_with(src, &lm, &err)) fail_msg("another key length under one name: %s", err.message);
    gc_lowered_model_free(&lm); /* kdim decides the parameters, the key length does not */
    snprintf(src, sizeof src, "%sa = multihead_attention(q, k, k7, 2)\nloss = mean(a)\n", head);
    expect_error(src, 5, 5, "multihead_attention", "f32[2, 6, 5]", "f32[2, 7, 5]", "one length", NULL);
    snprintf(src, sizeof src, "%sa = multihead_attention(q, k, k, 2, dropout=1.5)\nloss = mean(a)\n", head);
    expect_error(src, 5, 45, "'dropout'", "between 0 and 1", NULL);
    snprintf(src, sizeof src, "%sa = multihead_attention(q, k, k, 2, add_zero_attn=1)\nloss = mean(a)\n", head);
    expect_error(src, 5, 51, "'add_zero_attn'", "true or false", NULL);
    /* The new arguments are keyword-only, as the torch modules' constructor arguments are. */
    snprintf(src, sizeof src, "%sa = multihead_attention(q, k, k, 2, none, pad, true, true)\nloss = mean(a)\n", head);
    expect_error(src, 5, 54, "multihead_attention takes at most 7 positional arguments", NULL);
    /* Key padding masks are f32 [batch, keys], their columns extended for bias_k and the zero key. */
    snprintf(src, sizeof src, "%sa = multihead_attention(q, k, k, 2, key_padding_mask=q)\nloss = mean(a)\n", head);
    expect_error(src, 5, 5, "key_padding_mask must be f32[2, 6]", "f32[2, 4, 8]", NULL);
    expect_error("input x: f32[2, 5, 8]\ninput p: f32[2, 4]\ny = transformer_encoder_layer(x, 2, 16, src_key_padding_mask=p)\n"
                 "loss = mean(y)\n",
                 3, 5, "key_padding_mask must be f32[2, 5]", NULL);
    expect_error("input x: f32[2, 5, 8]\ninput m: f32[2, 3, 8]\ninput p: f32[2, 5]\n"
                 "y = transformer_decoder_layer(x, m, 2, 16, memory_key_padding_mask=p)\nloss = mean(y)\n",
                 4, 5, "key_padding_mask must be f32[2, 3]", NULL);
}

/* ---- the new arguments on the JIT ------------------------------------------------------------ */

/* Every new argument in one model, trained on the JIT and on the interpreter from the same
 * initial weights (a function of seed and name on every backend) with attention dropout drawn
 * alike: the same losses step by step. */
static const char *all_arguments_model =
    "input q: f32[2, 4, 8]\n"
    "input k: f32[2, 6, 5]\n"
    "input v: f32[2, 6, 3]\n"
    "input t: i32[2, 6]\n"
    "input pad: f32[2, 6]\n"
    "input tpad: f32[2, 4]\n"
    "e = embedding(t, 10, 8, padding_idx=-1) as wte\n"
    "a = multihead_attention(q, k, v, 2, key_padding_mask=pad, dropout=0.2) as 0\n"
    "m = transformer_encoder_layer(e, 2, 16, dropout=0.0, src_key_padding_mask=pad) as enc.0\n"
    "y = transformer_decoder_layer(a, m, 2, 16, dropout=0.0, tgt_key_padding_mask=tpad,\n"
    "                              memory_key_padding_mask=pad) as dec\n"
    "y = multihead_attention(y, m, m, 4, add_bias_kv=true, add_zero_attn=true, bias=false) as x.1\n"
    "logits = linear(y, 10, bias=false) as wte\n"
    "loss = mean(logits * logits) + mean(a)\n"
    "train {\n"
    "    optimizer = adam(lr=0.01)\n"
    "    seed = 3\n"
    "}\n";

static gc_trainer *trainer_on(gc_backend backend) {
    gc_error err = {0};
    gc_model *m = gc_model_load_string(all_arguments_model, "names.gm", &err);
    if (!m) fail_msg("load: %s", err.message);
    gc_options o = {backend, 1, 0, 0};
    gc_trainer *t = gc_trainer_new(m, &o, &err);
    gc_model_free(m);
    if (!t) fail_msg("trainer: %s", err.message);
    float q[2 * 4 * 8], k[2 * 6 * 5], v[2 * 6 * 3];
    for (int i = 0; i < 64; i++) q[i] = (float)((i * 37 % 17) - 8) / 8.0f;
    for (int i = 0; i < 60; i++) k[i] = (float)((i * 29 % 13) - 6) / 6.0f;
    for (int i = 0; i < 36; i++) v[i] = (float)((i * 23 % 11) - 5) / 5.0f;
    int32_t tok[12] = {1, 9, 3, 9, 9, 4, 0, 2, 9, 7, 5, 6};
    float pad[12] = {0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1}, tpad[8] = {0, 0, 0, 1, 0, 0, 0, 0};
    if (!gc_trainer_set_input(t, "q", q, sizeof q, &err) || !gc_trainer_set_input(t, "k", k, sizeof k, &err) ||
        !gc_trainer_set_input(t, "v", v, sizeof v, &err) || !gc_trainer_set_input(t, "t", tok, sizeof tok, &err) ||
        !gc_trainer_set_input(t, "pad", pad, sizeof pad, &err) ||
        !gc_trainer_set_input(t, "tpad", tpad, sizeof tpad, &err))
        fail_msg("input: %s", err.message);
    return t;
}

static void test_jit_matches_interpreter(void **state) {
    (void)state;
    if (!gc_backend_available(GC_BACKEND_JIT)) skip();
    gc_error err = {0};
    gc_trainer *t[2] = {trainer_on(GC_BACKEND_INTERP), trainer_on(GC_BACKEND_JIT)};
    float first = 0;
    for (int step = 0; step < 4; step++) {
        float loss[2];
        for (int i = 0; i < 2; i++)
            if (!gc_trainer_step(t[i], &loss[i], &err)) fail_msg("step: %s", err.message);
        if (!(fabsf(loss[0] - loss[1]) <= 1e-4f * (1 + fabsf(loss[0]))))
            fail_msg("step %d: loss %.9g (interpreter) vs %.9g (JIT)", step, loss[0], loss[1]);
        if (step == 0) first = loss[0];
        else assert_true(loss[0] != first);
    }
    gc_trainer_free(t[0]);
    gc_trainer_free(t[1]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_number_segments),
        cmocka_unit_test(test_number_segments_compose_through_defs),
        cmocka_unit_test(test_number_segment_equals_index),
        cmocka_unit_test(test_path_errors),
        cmocka_unit_test(test_tying),
        cmocka_unit_test(test_tying_errors),
        cmocka_unit_test(test_padding_idx),
        cmocka_unit_test(test_attention_arguments),
        cmocka_unit_test(test_attention_argument_errors),
        cmocka_unit_test(test_jit_matches_interpreter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
