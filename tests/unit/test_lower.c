/*
 * test_lower.c: .gm text through the parser, the checker and the lowering (frontend/lower.h).
 *
 * Models are small strings here or files in tests/models/lower/. The graphs are checked by the
 * names and types of their params and outputs, by running them on the interpreter against torch
 * (tests/oracle/gen_lower.py: an MLP's loss and gradients, every built-in operation's value), and
 * by the located errors the language promises. The AST's arena is freed before any graph is
 * inspected, so the graphs are also shown not to point into it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "frontend/check.h"
#include "frontend/lower.h"
#include "frontend/parser.h"
#include "ir/text.h"
#include "passes/autodiff.h"
#include "runtime/init.h"
#include "runtime/interp.h"
#include "runtime/npy.h"

/* ---- harness --------------------------------------------------------------------------------- */

static int lower_with(const char *src, bool training, const gc_const_override *ov, int nov, gc_lowered_model *out,
                      gc_error *err) {
    memset(err, 0, sizeof *err);
    memset(out, 0, sizeof *out);
    gc_arena *arena = gc_arena_new();
    assert_non_null(arena);
    gc_ast_module *m = gc_frontend_parse(src, strlen(src), "model.gm", arena, err);
    int ok = m && gc_frontend_check(m, ov, nov, err) && gc_lower_model(m, training, out, err);
    gc_arena_free(arena);
    return ok;
}

static gc_lowered_model lower_ok(const char *src, bool training) {
    gc_lowered_model lm;
    gc_error err;
    if (!lower_with(src, training, NULL, 0, &lm, &err))
        fail_msg("lowering failed: %d:%d: %s", err.line, err.col, err.message);
    return lm;
}

/* The model must fail at line:col with a message holding every one of the NULL-ended strings. */
static void expect_error(const char *src, int line, int col, ...) {
    gc_lowered_model lm;
    gc_error err;
    if (lower_with(src, true, NULL, 0, &lm, &err)) {
        gc_lowered_model_free(&lm);
        fail_msg("expected an error at %d:%d, but the model lowered", line, col);
    }
    assert_null(lm.graph);
    assert_int_equal(err.code, GC_ERR_USER);
    if (err.line != line || err.col != col)
        fail_msg("error at %d:%d, expected %d:%d: %s", err.line, err.col, line, col, err.message);
    assert_string_equal(err.file, "model.gm");
    va_list ap;
    va_start(ap, col);
    for (const char *want; (want = va_arg(ap, const char *));)
        if (!strstr(err.message, want)) fail_msg("message '%s' lacks '%s'", err.message, want);
    va_end(ap);
}

static char *read_model(const char *name) {
    const char *root = getenv("GC_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/models/lower/%s", root ? root : ".", name);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

static const gc_param_entry *param(const gc_lowered_model *lm, const char *name) {
    const gc_param_entry *p = gc_layer_find_param(&lm->layers, name);
    if (!p) {
        char all[2048] = "";
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

static const gc_node *output(const gc_lowered_model *lm, const char *name) {
    gc_graph_output *o = gc_graph_find_output(lm->graph, GC_OUTPUT_VALUE, name);
    if (!o) fail_msg("no output '%s'", name);
    return o->value;
}

static int count_ops(const gc_graph *g, gc_op op) {
    int n = 0;
    for (int i = 0; i < g->num_nodes; i++) n += g->nodes[i]->op == op;
    return n;
}

/* Every param of lm filled by its initialiser, as the trainer would. */
static void init_params(gc_interp *it, const gc_lowered_model *lm, uint64_t seed) {
    gc_error err = {0};
    for (int i = 0; i < lm->layers.num_params; i++) {
        const gc_param_entry *p = &lm->layers.params[i];
        const gc_type *t = &p->node->type;
        int64_t n = gc_type_numel(t);
        float *data = malloc(sizeof *data * (size_t)n);
        assert_non_null(data);
        if (!gc_init_fill(&p->init, t, seed, p->name, data, 1, &err)) fail_msg("%s: %s", p->name, err.message);
        gc_tensor v = {GC_F32, t->rank, {0}, data};
        memcpy(v.shape, t->dims, sizeof t->dims);
        if (!gc_interp_set(it, p->name, &v, &err)) fail_msg("%s: %s", p->name, err.message);
        free(data);
    }
}

/* ---- parameter names ------------------------------------------------------------------------- */

static void test_names_as_and_auto(void **state) {
    (void)state;
    gc_lowered_model lm = lower_ok("input x: f32[2, 3]\n"
                                   "a = linear(x, 4) as fc1\n"
                                   "b = linear(a, 4)\n"
                                   "c = linear(b, 5, bias=false) as out.proj\n"
                                   "d = linear(c, 2)\n"
                                   "e = layernorm(d)\n"
                                   "loss = mean(e)\n",
                                   true);
    expect_type(&param(&lm, "fc1.weight")->node->type, "f32[4, 3]");
    expect_type(&param(&lm, "fc1.bias")->node->type, "f32[4]");
    expect_type(&param(&lm, "linear_0.weight")->node->type, "f32[4, 4]");
    expect_type(&param(&lm, "out.proj.weight")->node->type, "f32[5, 4]");
    assert_null(gc_layer_find_param(&lm.layers, "out.proj.bias"));
    /* Named calls do not use up a number: the second unnamed linear is linear_1. */
    expect_type(&param(&lm, "linear_1.weight")->node->type, "f32[2, 5]");
    expect_type(&param(&lm, "layernorm_0.weight")->node->type, "f32[2]");
    assert_int_equal(lm.layers.num_params, 9);
    assert_int_equal(count_ops(lm.graph, GC_OP_PARAM), 9);
    assert_string_equal(param(&lm, "fc1.weight")->layer, "linear");
    gc_lowered_model_free(&lm);
}

static void test_names_loop_index(void **state) {
    (void)state;
    gc_lowered_model lm = lower_ok("const n = 3\n"
                                   "input x: f32[2, 4]\n"
                                   "for i in range(n) {\n"
                                   "    x = linear(x, 4) as h[i]\n"
                                   "    x = linear(x, 4) as mix[2 * i + 1].out\n"
                                   "}\n"
                                   "loss = sum(x)\n",
                                   true);
    for (int i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof name, "h.%d.weight", i);
        param(&lm, name);
        snprintf(name, sizeof name, "mix.%d.out.bias", 2 * i + 1);
        param(&lm, name);
    }
    assert_int_equal(lm.layers.num_params, 12);
    gc_lowered_model_free(&lm);
}

static const char *nested_defs =
    "const dim = 8\n"
    "input x: f32[2, 3, dim]\n"
    "def attn(x) {\n"
    "    return x + causal_self_attention(layernorm(x) as ln, 2) as attn\n"
    "}\n"
    "def block(x, hidden=16) {\n"
    "    param scale: f32[dim] = ones()\n"
    "    x = attn(x) as sub\n"
    "    return x * scale + linear(relu(linear(x, hidden) as fc), dim) as proj\n"
    "}\n"
    "for i in range(2) {\n"
    "    x = block(x) as h[i]\n"
    "}\n"
    "x = block(x, 4)\n"
    "x = block(x, hidden=4)\n"
    "loss = mean(x)\n";

static void test_names_nested_defs(void **state) {
    (void)state;
    gc_lowered_model lm = lower_ok(nested_defs, true);
    expect_type(&param(&lm, "h.0.sub.attn.in_proj_weight")->node->type, "f32[24, 8]");
    param(&lm, "h.1.sub.attn.out_proj.bias");
    param(&lm, "h.1.sub.ln.weight");
    expect_type(&param(&lm, "h.0.scale")->node->type, "f32[8]");
    assert_string_equal(param(&lm, "h.0.scale")->layer, "param");
    assert_int_equal(param(&lm, "h.0.scale")->init.kind, GC_INIT_ONES);
    expect_type(&param(&lm, "h.1.fc.weight")->node->type, "f32[16, 8]");
    /* A def called without `as` is named like an unnamed layer: <def>_<k>. */
    expect_type(&param(&lm, "block_0.fc.weight")->node->type, "f32[4, 8]");
    param(&lm, "block_1.sub.attn.in_proj_bias");
    param(&lm, "block_1.scale");
    /* Per block: scale, ln (2), attn (4), fc (2), proj (2) = 11. */
    assert_int_equal(lm.layers.num_params, 4 * 11);
    gc_lowered_model_free(&lm);
}

static void test_names_auto_per_scope(void **state) {
    (void)state;
    /* k counts per scope: each def instance starts again at 0, its caller's count goes on. */
    gc_lowered_model lm = lower_ok("input x: f32[2, 4]\n"
                                   "def mlp(x) {\n"
                                   "    return linear(relu(linear(x, 4)), 4)\n"
                                   "}\n"
                                   "y = linear(x, 4)\n"
                                   "y = mlp(y)\n"
                                   "y = mlp(y) as second\n"
                                   "y = mlp(y)\n"
                                   "y = linear(y, 4)\n"
                                   "loss = sum(y)\n",
                                   true);
    param(&lm, "linear_0.weight");
    param(&lm, "linear_1.weight");
    param(&lm, "mlp_0.linear_0.weight");
    param(&lm, "mlp_0.linear_1.weight");
    param(&lm, "second.linear_1.bias");
    param(&lm, "mlp_1.linear_1.bias");
    assert_int_equal(lm.layers.num_params, 16);
    gc_lowered_model_free(&lm);
}

static void test_names_reuse(void **state) {
    (void)state;
    gc_lowered_model lm = lower_ok("input src: i32[2, 5]\n"
                                   "input tgt: i32[2, 5]\n"
                                   "a = embedding(src, 20, 8) as emb\n"
                                   "b = embedding(tgt, 20, 8) as emb\n"
                                   "def f(x) {\n"
                                   "    return linear(x, 8) as fc\n"
                                   "}\n"
                                   "for i in range(3) {\n"
                                   "    a = f(a) as shared\n"
                                   "}\n"
                                   "loss = mean(a * b)\n",
                                   true);
    assert_int_equal(lm.layers.num_params, 3);
    assert_int_equal(count_ops(lm.graph, GC_OP_PARAM), 3);
    param(&lm, "emb.weight");
    param(&lm, "shared.fc.weight");
    /* Both lookups read the one table. */
    int takes = 0;
    for (int i = 0; i < lm.graph->num_nodes; i++) {
        gc_node *n = lm.graph->nodes[i];
        if (n->op == GC_OP_TAKE) {
            assert_ptr_equal(n->inputs[0], param(&lm, "emb.weight")->node);
            takes++;
        }
    }
    assert_int_equal(takes, 2);
    gc_lowered_model_free(&lm);
}

static void test_names_reuse_conflict(void **state) {
    (void)state;
    expect_error("input x: f32[2, 3]\n"
                 "a = linear(x, 4) as fc\n"
                 "b = linear(x, 5) as fc\n"
                 "loss = mean(a) + mean(b)\n",
                 3, 5, "'fc.", "f32[5", "f32[4", "line 2, col 5", NULL);
    expect_error("input x: f32[2, 4]\n"
                 "a = linear(x, 4) as n\n"
                 "b = layernorm(x) as n\n"
                 "loss = mean(a) + mean(b)\n",
                 3, 5, "'n.", "layernorm", "linear", NULL);
}

static void test_transformer_layer_names(void **state) {
    (void)state;
    gc_lowered_model lm = lower_ok("input src: f32[2, 5, 8]\n"
                                   "input tgt: f32[2, 4, 8]\n"
                                   "input pad: f32[2, 5]\n"
                                   "m = transformer_encoder_layer(src, 2, 16, dropout=0.0) as enc\n"
                                   "y = transformer_decoder_layer(tgt, m, 2, 16, activation=\"gelu\", norm_first=true,\n"
                                   "                              tgt_mask=causal_mask(4)) as dec\n"
                                   "z = multihead_attention(y, m, m, 4, key_padding_mask=pad, bias=false)\n"
                                   "loss = mean(z)\n",
                                   true);
    static const char *const names[] = {
        "enc.self_attn.in_proj_weight", "enc.self_attn.out_proj.weight", "enc.linear1.weight", "enc.linear2.bias",
        "enc.norm1.weight", "enc.norm2.bias", "dec.self_attn.in_proj_bias", "dec.multihead_attn.in_proj_weight",
        "dec.multihead_attn.out_proj.bias", "dec.norm3.weight", "multihead_attention_0.in_proj_weight",
        "multihead_attention_0.out_proj.weight"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) param(&lm, names[i]);
    expect_type(&param(&lm, "enc.linear1.weight")->node->type, "f32[16, 8]");
    assert_null(gc_layer_find_param(&lm.layers, "multihead_attention_0.in_proj_bias"));
    expect_type(&output(&lm, "loss")->type, "f32[]");
    /* Dropout 0.1 by default in the decoder: the train graph draws random numbers. */
    assert_true(count_ops(lm.graph, GC_OP_RANDOM_UNIFORM) > 0);
    gc_lowered_model_free(&lm);
}

/* ---- statements and values ------------------------------------------------------------------- */

static void test_param_initialisers(void **state) {
    (void)state;
    gc_lowered_model lm = lower_ok("param a: f32[3] = zeros()\n"
                                   "param b: f32[3] = ones()\n"
                                   "param c: f32[3] = constant(2.5)\n"
                                   "param d: f32[3] = normal(0, 0.02)\n"
                                   "param e: f32[3] = uniform(-1, 1)\n"
                                   "param f: f32[3, 4] = xavier_uniform()\n"
                                   "param g: f32[3, 4] = xavier_normal()\n"
                                   "param h: f32[3, 4] = kaiming_uniform(a=2)\n"
                                   "param k: f32[3, 4] = kaiming_normal()\n"
                                   "param t: f32[2, 3, 4] = trunc_normal(0.5)\n"
                                   "loss = sum(a + b + c + d + e) + sum(f + g + h + k) + sum(t)\n",
                                   true);
    struct {
        const char *name;
        gc_init_kind kind;
        double a, b;
    } want[] = {
        {"a", GC_INIT_ZEROS, 0, 0},           {"b", GC_INIT_ONES, 0, 0},
        {"c", GC_INIT_CONSTANT, 2.5, 0},      {"d", GC_INIT_NORMAL, 0, 0.02},
        {"e", GC_INIT_UNIFORM, -1, 1},        {"f", GC_INIT_XAVIER_UNIFORM, 1, 0},
        {"g", GC_INIT_XAVIER_NORMAL, 1, 0},   {"h", GC_INIT_KAIMING_UNIFORM, 2, 0},
        {"k", GC_INIT_KAIMING_NORMAL, 0, 0},  {"t", GC_INIT_TRUNC_NORMAL, 0.5, 0},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        const gc_param_entry *p = param(&lm, want[i].name);
        assert_int_equal(p->init.kind, want[i].kind);
        assert_true(p->init.a == want[i].a);
        if (want[i].kind == GC_INIT_NORMAL || want[i].kind == GC_INIT_UNIFORM) assert_true(p->init.b == want[i].b);
    }
    expect_type(&param(&lm, "t")->node->type, "f32[2, 3, 4]");
    gc_lowered_model_free(&lm);
}

/* Filling on several threads gives the same bytes as on one, for every initialiser and cut
 * (each element is a function of its index), on a tensor large enough to be cut. */
static void test_initialisers_fill_alike_on_any_thread_count(void **state) {
    (void)state;
    gc_type t = {GC_F32, 2, {300, 1001}};
    int64_t n = gc_type_numel(&t);
    float *one = malloc(sizeof *one * (size_t)n), *many = malloc(sizeof *many * (size_t)n);
    assert_non_null(one);
    assert_non_null(many);
    gc_init inits[] = {{GC_INIT_CONSTANT, 0.3, 0}, {GC_INIT_NORMAL, 0.5, 0.02}, {GC_INIT_UNIFORM, -1, 2},
                       {GC_INIT_XAVIER_UNIFORM, 1, 0}, {GC_INIT_KAIMING_NORMAL, 0, 0}, {GC_INIT_TRUNC_NORMAL, 1.5, 0}};
    for (size_t k = 0; k < sizeof inits / sizeof *inits; k++) {
        gc_error err = {0};
        assert_true(gc_init_fill(&inits[k], &t, 7, "w", one, 1, &err));
        for (int threads = 2; threads <= 3; threads++) {
            memset(many, 0xff, sizeof *many * (size_t)n);
            assert_true(gc_init_fill(&inits[k], &t, 7, "w", many, threads, &err));
            assert_memory_equal(one, many, sizeof *one * (size_t)n);
        }
        if (inits[k].kind != GC_INIT_CONSTANT) assert_true(one[0] != one[n - 1] && one[n / 2] != one[n / 2 + 1]);
    }
    free(one);
    free(many);
}

static void test_shapes_of_expressions(void **state) {
    (void)state;
    gc_lowered_model lm = lower_ok("input a: f32[2, 3, 4]\n"
                                   "input v: f32[4]\n"
                                   "input i: i32[2, 3]\n"
                                   "x, y = split(a, 2, -1)\n"
                                   "p, q, r = split(a, 3, 1)\n"
                                   "output sx = x\n"
                                   "output sr = r\n"
                                   "output s_all = sum(a)\n"
                                   "output s_keep = mean(a, axis=[-1, 0], keepdims=true)\n"
                                   "output s_none = sum(a, axis=[])\n"
                                   "output mv = a @ v\n"
                                   "output vv = v @ v\n"
                                   "output vm = v @ transpose(a, [0, 2, 1])\n"
                                   "output rs = reshape(a, [-1, 2, 2])\n"
                                   "output cmp = i > 1\n"
                                   "output half = i * 0.5\n"
                                   "output dbl = i * 2\n"
                                   "output sl = slice(a, 2, -3, 100)\n"
                                   "output am = argmax(a, axis=1)\n"
                                   "output c = concat([a, 2 * a, a], 1)\n"
                                   "loss = mean(a)\n",
                                   true);
    const char *want[][2] = {
        {"sx", "f32[2, 3, 2]"}, {"sr", "f32[2, 1, 4]"}, {"s_all", "f32[]"},       {"s_keep", "f32[1, 3, 1]"},
        {"s_none", "f32[2, 3, 4]"}, {"mv", "f32[2, 3]"}, {"vv", "f32[]"},       {"vm", "f32[2, 3]"},
        {"rs", "f32[6, 2, 2]"}, {"cmp", "f32[2, 3]"},   {"half", "f32[2, 3]"},    {"dbl", "i32[2, 3]"},
        {"sl", "f32[2, 3, 3]"}, {"am", "i32[2, 4]"},    {"c", "f32[2, 9, 4]"},
    };
    for (size_t k = 0; k < sizeof want / sizeof *want; k++) expect_type(&output(&lm, want[k][0])->type, want[k][1]);
    gc_lowered_model_free(&lm);
}

static void test_def_consts_and_loops(void **state) {
    (void)state;
    /* Loop variables and const arguments are compile-time values inside defs: dims, ranges,
     * arithmetic and layer arguments may all use them. */
    gc_lowered_model lm = lower_ok("const d = 4\n"
                                   "input x: f32[2, d]\n"
                                   "def grow(x, k, scale=0.5) {\n"
                                   "    param w: f32[d, k * 2] = zeros()\n"
                                   "    y = x @ w\n"
                                   "    for j in range(3) {\n"
                                   "        y = y + j * scale * k\n"
                                   "    }\n"
                                   "    return linear(y, k + 1)\n"
                                   "}\n"
                                   "acc = sum(grow(x, 2))\n"
                                   "for i in range(3) {\n"
                                   "    acc = acc + sum(grow(x, i + 1) as g[i])\n"
                                   "}\n"
                                   "loss = acc\n",
                                   true);
    expect_type(&param(&lm, "g.2.w")->node->type, "f32[4, 6]");
    expect_type(&param(&lm, "g.0.linear_0.weight")->node->type, "f32[2, 2]");
    expect_type(&param(&lm, "grow_0.w")->node->type, "f32[4, 4]");
    gc_lowered_model_free(&lm);
}

static void test_dropout_train_and_eval(void **state) {
    (void)state;
    const char *src = "input x: f32[4, 8]\n"
                      "h = dropout(relu(linear(x, 8)), 0.5)\n"
                      "loss = mean(h)\n"
                      "train {\n"
                      "    seed = 7\n"
                      "}\n";
    gc_lowered_model train = lower_ok(src, true), eval = lower_ok(src, false);
    assert_int_equal(count_ops(train.graph, GC_OP_RANDOM_UNIFORM), 1);
    assert_non_null(gc_graph_find_named(train.graph, GC_OP_INPUT, GC_STEP_INPUT));
    assert_int_equal(count_ops(eval.graph, GC_OP_RANDOM_UNIFORM), 0);
    assert_null(gc_graph_find_named(eval.graph, GC_OP_INPUT, GC_STEP_INPUT));
    for (int i = 0; i < train.graph->num_nodes; i++)
        if (train.graph->nodes[i]->op == GC_OP_RANDOM_UNIFORM) assert_int_equal(train.graph->nodes[i]->attr.random.seed, 7);
    assert_int_equal(train.train.seed, 7);
    /* Both graphs name the same params. */
    assert_int_equal(train.layers.num_params, eval.layers.num_params);
    gc_lowered_model_free(&train);
    gc_lowered_model_free(&eval);
}

static void test_locations_survive_the_ast(void **state) {
    (void)state;
    gc_lowered_model lm = lower_ok("input x: f32[2, 3]\n"
                                   "\n"
                                   "y = linear(x, 4) as fc\n"
                                   "loss = mean(y * y)\n",
                                   true);
    for (int i = 0; i < lm.graph->num_nodes; i++) {
        const gc_node *n = lm.graph->nodes[i];
        assert_true(n->loc.line >= 1 && n->loc.line <= 4);
        assert_non_null(n->loc.file);
        assert_string_equal(n->loc.file, "model.gm");
    }
    assert_int_equal(param(&lm, "fc.weight")->loc.line, 3);
    assert_int_equal(param(&lm, "fc.weight")->loc.col, 5);
    const gc_node *loss = output(&lm, "loss");
    assert_int_equal(loss->loc.line, 4);
    assert_string_equal(lm.graph->name, "model");
    gc_lowered_model_free(&lm);
}

/* ---- the train block ------------------------------------------------------------------------- */

static void test_train_block(void **state) {
    (void)state;
    char *src = read_model("tiny_gpt.gm");
    gc_const_override ov[] = {{"vocab", 11}, {"ctx", 4}, {"dim", 8}, {"heads", 2}, {"layers", 1}, {"batch", 2}};
    gc_lowered_model lm;
    gc_error err;
    if (!lower_with(src, true, ov, 6, &lm, &err)) fail_msg("%d:%d: %s", err.line, err.col, err.message);
    const gc_optimizer_config *o = &lm.train.optimizer;
    assert_int_equal(o->kind, GC_OPTIMIZER_ADAMW);
    assert_true(o->lr == 3e-4);
    assert_true(o->beta1 == 0.9 && o->beta2 == 0.95);
    assert_true(o->eps == 1e-8);
    assert_true(o->weight_decay == 0.1);
    assert_int_equal(o->schedule.kind, GC_SCHEDULE_COSINE);
    assert_int_equal(o->schedule.warmup, 100);
    assert_int_equal(o->schedule.total, 2000);
    assert_true(o->schedule.min_lr == 0.0);
    assert_true(o->clip_grad_norm == 1.0);
    assert_int_equal(lm.train.seed, 1);
    assert_int_equal(lm.train.loc.line, 27);
    assert_string_equal(lm.train.loc.file, "model.gm");
    assert_int_equal(o->num_no_decay, 0);
    gc_lowered_model_free(&lm);
    free(src);
}

static void test_train_sgd_and_defaults(void **state) {
    (void)state;
    gc_lowered_model lm = lower_ok("input x: f32[2, 3]\n"
                                   "loss = mean(linear(x, 1))\n"
                                   "train {\n"
                                   "    optimizer = sgd(0.1, momentum=0.9, nesterov=true)\n"
                                   "    schedule = step(10, 0.5)\n"
                                   "    no_decay = [\"*bias\", \"ln_*\"]\n"
                                   "}\n",
                                   true);
    const gc_optimizer_config *o = &lm.train.optimizer;
    assert_int_equal(o->kind, GC_OPTIMIZER_SGD);
    assert_true(o->lr == 0.1 && o->momentum == 0.9 && o->nesterov && o->dampening == 0 && o->weight_decay == 0);
    assert_int_equal(o->schedule.kind, GC_SCHEDULE_STEP);
    assert_int_equal(o->schedule.every, 10);
    assert_true(o->schedule.gamma == 0.5);
    assert_true(o->clip_grad_norm == 0);
    assert_int_equal(o->num_no_decay, 2);
    assert_string_equal(o->no_decay[0], "*bias");
    assert_string_equal(o->no_decay[1], "ln_*");
    gc_lowered_model_free(&lm);

    lm = lower_ok("input x: f32[2, 3]\nloss = mean(x)\n", true);
    o = &lm.train.optimizer;
    assert_int_equal(o->kind, GC_OPTIMIZER_ADAM);
    assert_true(o->lr == 1e-3 && o->beta1 == 0.9 && o->beta2 == 0.999 && o->weight_decay == 0);
    assert_int_equal(o->schedule.kind, GC_SCHEDULE_CONSTANT);
    assert_int_equal(lm.train.seed, 0);
    assert_int_equal(lm.train.loc.line, 0);
    gc_lowered_model_free(&lm);

    lm = lower_ok("input x: f32[2, 3]\nloss = mean(x)\ntrain {\n    schedule = linear(5, 50)\n}\n", true);
    assert_int_equal(lm.train.optimizer.schedule.kind, GC_SCHEDULE_LINEAR);
    assert_int_equal(lm.train.optimizer.schedule.warmup, 5);
    assert_int_equal(lm.train.optimizer.schedule.total, 50);
    gc_lowered_model_free(&lm);
}

/* ---- against torch --------------------------------------------------------------------------- */

static const char *oracle_dir(const char *model) {
    static char dir[1024];
    const char *root = getenv("GC_EXPECTED_DIR");
    if (!root) fail_msg("GC_EXPECTED_DIR is not set (run through ctest)");
    snprintf(dir, sizeof dir, "%s/lower/%s", root, model);
    return dir;
}

static gc_tensor load(const char *dir, const char *name, gc_dtype dtype) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    gc_tensor t;
    gc_error err = {0};
    if (!gc_npy_read(path, dtype, &t, &err)) fail_msg("%s: %s", path, err.message);
    return t;
}

/* Sets the source `name` of the interpreter from the oracle's file of that name. */
static void feed(gc_interp *it, const char *dir, const char *name, gc_dtype dtype) {
    gc_tensor t = load(dir, name, dtype);
    gc_error err = {0};
    if (!gc_interp_set(it, name, &t, &err)) fail_msg("%s: %s", name, err.message);
    free(t.data);
}

static void compare(const char *what, const double *got, const gc_node *node, const char *dir, const char *name) {
    gc_tensor want = load(dir, name, node->type.dtype);
    int64_t n = gc_type_numel(&node->type), m = 1;
    for (int i = 0; i < want.rank; i++) m *= want.shape[i];
    if (n != m) fail_msg("%s: %lld elements, torch has %lld", what, (long long)n, (long long)m);
    for (int64_t i = 0; i < n; i++) {
        double w = node->type.dtype == GC_I32 ? ((const int32_t *)want.data)[i] : ((const float *)want.data)[i];
        bool same_inf = isinf(w) && got[i] == w;
        if (!same_inf && !(fabs(got[i] - w) <= 1e-5 + 1e-4 * fabs(w)))
            fail_msg("%s[%lld]: gradc %.8g, torch %.8g", what, (long long)i, got[i], w);
    }
    free(want.data);
}

static void test_mlp_matches_torch(void **state) {
    (void)state;
    char *src = read_model("mlp.gm");
    gc_lowered_model lm;
    gc_error err;
    if (!lower_with(src, true, NULL, 0, &lm, &err)) fail_msg("%s", err.message);
    free(src);
    assert_true(gc_autodiff(lm.graph, &err));
    const char *dir = oracle_dir("mlp");
    gc_interp *it = gc_interp_new(lm.graph, GC_INTERP_F32, &err);
    assert_non_null(it);
    feed(it, dir, "x", GC_F32);
    feed(it, dir, "y", GC_I32);
    static const char *const params[] = {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"};
    for (int i = 0; i < 4; i++) feed(it, dir, params[i], GC_F32);
    if (!gc_interp_run(it, &err)) fail_msg("%s", err.message);
    compare("loss", gc_interp_output(it, GC_OUTPUT_VALUE, "loss"), output(&lm, "loss"), dir, "loss");
    compare("accuracy", gc_interp_output(it, GC_OUTPUT_VALUE, "accuracy"), output(&lm, "accuracy"), dir, "accuracy");
    for (int i = 0; i < 4; i++) {
        char name[64];
        snprintf(name, sizeof name, "grad.%s", params[i]);
        const double *g = gc_interp_output(it, GC_OUTPUT_GRAD, params[i]);
        assert_non_null(g);
        compare(name, g, param(&lm, params[i])->node, dir, name);
    }
    gc_interp_free(it);
    gc_lowered_model_free(&lm);
}

static void test_ops_match_torch(void **state) {
    (void)state;
    char *src = read_model("ops.gm");
    gc_lowered_model lm;
    gc_error err;
    if (!lower_with(src, false, NULL, 0, &lm, &err)) fail_msg("%d:%d: %s", err.line, err.col, err.message);
    free(src);
    const char *dir = oracle_dir("ops");
    gc_interp *it = gc_interp_new(lm.graph, GC_INTERP_F32, &err);
    assert_non_null(it);
    feed(it, dir, "a", GC_F32);
    feed(it, dir, "v", GC_F32);
    feed(it, dir, "idx", GC_I32);
    feed(it, dir, "w", GC_F32);
    feed(it, dir, "t", GC_F32);
    if (!gc_interp_run(it, &err)) fail_msg("%s", err.message);
    int checked = 0;
    for (int i = 0; i < lm.graph->num_outputs; i++) {
        const gc_graph_output *o = &lm.graph->outputs[i];
        compare(o->name, gc_interp_output(it, GC_OUTPUT_VALUE, o->name), o->value, dir, o->name);
        checked++;
    }
    assert_int_equal(checked, 48);
    gc_interp_free(it);
    gc_lowered_model_free(&lm);
}

/* Pooling, flatten and pad against torch: every output, and the gradient through all of them. */
static void test_pool_ops_match_torch(void **state) {
    (void)state;
    char *src = read_model("pool.gm");
    gc_lowered_model lm;
    gc_error err;
    if (!lower_with(src, true, NULL, 0, &lm, &err)) fail_msg("%d:%d: %s", err.line, err.col, err.message);
    free(src);
    assert_true(gc_autodiff(lm.graph, &err));
    const char *dir = oracle_dir("pool");
    gc_interp *it = gc_interp_new(lm.graph, GC_INTERP_F32, &err);
    assert_non_null(it);
    feed(it, dir, "a", GC_F32);
    feed(it, dir, "b", GC_F32);
    feed(it, dir, "w", GC_F32);
    if (!gc_interp_run(it, &err)) fail_msg("%s", err.message);
    int checked = 0;
    for (int i = 0; i < lm.graph->num_outputs; i++) {
        const gc_graph_output *o = &lm.graph->outputs[i];
        if (o->kind != GC_OUTPUT_VALUE) continue;
        compare(o->name, gc_interp_output(it, GC_OUTPUT_VALUE, o->name), o->value, dir, o->name);
        checked++;
    }
    assert_int_equal(checked, 14);
    const double *g = gc_interp_output(it, GC_OUTPUT_GRAD, "w");
    assert_non_null(g);
    compare("grad.w", g, param(&lm, "w")->node, dir, "grad.w");
    gc_interp_free(it);
    gc_lowered_model_free(&lm);
}

static void test_tiny_gpt(void **state) {
    (void)state;
    char *src = read_model("tiny_gpt.gm");
    gc_const_override ov[] = {{"vocab", 13}, {"ctx", 6}, {"dim", 16}, {"heads", 2}, {"layers", 2}, {"batch", 2}};
    gc_lowered_model lm;
    gc_error err;
    /* The spec's sizes lower too (and quickly: nothing runs). */
    if (!lower_with(src, false, NULL, 0, &lm, &err)) fail_msg("%d:%d: %s", err.line, err.col, err.message);
    assert_int_equal(lm.layers.num_params, 5 + 4 * 12);
    expect_type(&param(&lm, "h.3.attn.in_proj_weight")->node->type, "f32[384, 128]");
    expect_type(&output(&lm, "loss")->type, "f32[]");
    gc_lowered_model_free(&lm);

    if (!lower_with(src, true, ov, 6, &lm, &err)) fail_msg("%d:%d: %s", err.line, err.col, err.message);
    free(src);
    /* wte, wpe, ln_f (2), head, and 12 per block. */
    assert_int_equal(lm.layers.num_params, 5 + 2 * 12);
    expect_type(&param(&lm, "h.1.attn.in_proj_weight")->node->type, "f32[48, 16]");
    expect_type(&param(&lm, "h.0.fc.weight")->node->type, "f32[64, 16]");
    expect_type(&param(&lm, "wpe")->node->type, "f32[6, 16]");
    expect_type(&param(&lm, "head.weight")->node->type, "f32[13, 16]");
    assert_null(gc_layer_find_param(&lm.layers, "head.bias"));
    param(&lm, "wte.weight");
    param(&lm, "ln_f.bias");
    param(&lm, "h.1.ln_2.weight");
    param(&lm, "h.0.proj.bias");
    expect_type(&output(&lm, "accuracy")->type, "f32[]");

    /* The lowered graph is valid IR and its text reads back unchanged. */
    if (!gc_graph_verify(lm.graph, &err)) fail_msg("verify: %s", err.message);
    char *text = gc_graph_print(lm.graph);
    assert_non_null(text);
    assert_non_null(strstr(text, "model.gm"));
    gc_graph *back = gc_graph_parse(text, strlen(text), "tiny_gpt.ir", &err);
    if (!back) fail_msg("reparse: %d:%d: %s", err.line, err.col, err.message);
    char *again = gc_graph_print(back);
    assert_string_equal(text, again);
    free(again);
    free(text);
    gc_graph_free(back);

    assert_true(gc_autodiff(lm.graph, &err));
    const gc_node *unreached[4];
    assert_int_equal(gc_autodiff_unreached(lm.graph, unreached, 4), 0);
    for (int i = 0; i < lm.layers.num_params; i++)
        assert_non_null(gc_graph_find_output(lm.graph, GC_OUTPUT_GRAD, lm.layers.params[i].name));

    gc_interp *it = gc_interp_new(lm.graph, GC_INTERP_F32, &err);
    assert_non_null(it);
    init_params(it, &lm, lm.train.seed);
    double tokens[12], targets[12];
    for (int i = 0; i < 12; i++) tokens[i] = (i * 5) % 13, targets[i] = (i * 7 + 3) % 13;
    assert_true(gc_interp_set_f64(it, "tokens", tokens, 12, &err));
    assert_true(gc_interp_set_f64(it, "targets", targets, 12, &err));
    if (!gc_interp_run(it, &err)) fail_msg("%s", err.message);
    double loss = *gc_interp_output(it, GC_OUTPUT_VALUE, "loss");
    assert_true(isfinite(loss) && loss > 0.5 && loss < 20);
    for (int i = 0; i < lm.layers.num_params; i++) {
        const gc_param_entry *p = &lm.layers.params[i];
        const double *g = gc_interp_output(it, GC_OUTPUT_GRAD, p->name);
        double norm = 0;
        for (int64_t k = 0; k < gc_type_numel(&p->node->type); k++) norm += g[k] * g[k];
        if (!isfinite(norm)) fail_msg("grad of %s is not finite", p->name);
    }
    gc_interp_free(it);
    gc_lowered_model_free(&lm);
}

/* ---- errors ---------------------------------------------------------------------------------- */

static void test_error_add_shapes(void **state) {
    (void)state;
    expect_error("input x: f32[16, 64, 128]\n"
                 "def block(x) {\n"
                 "    h = x\n"
                 "    return x + linear(h, 128 + 2) as proj\n"
                 "}\n"
                 "loss = mean(block(x))\n",
                 4, 14, "add", "f32[16, 64, 128]", "f32[16, 64, 130]", NULL);
}

static void test_error_loss_not_scalar(void **state) {
    (void)state;
    expect_error("input x: f32[2, 3]\nloss = x * 2\n", 2, 10, "loss", "scalar", "f32[2, 3]", NULL);
    expect_error("input x: i32[2]\nloss = sum(x)\n", 2, 8, "loss", "i32[]", NULL);
}

static void test_error_reserved_outputs(void **state) {
    (void)state;
    expect_error("input x: f32[2]\nloss = sum(x)\noutput lr = x\n", 3, 8, "lr", NULL);
    expect_error("input x: f32[2]\nloss = sum(x)\noutput grad_norm = x\n", 3, 8, "grad_norm", NULL);
    gc_lowered_model lm;
    gc_error err;
    assert_false(lower_with("input x: f32[2]\nloss = sum(x)\noutput loss = x\n", true, NULL, 0, &lm, &err));
    assert_int_equal(err.line, 3);
    assert_non_null(strstr(err.message, "loss"));
}

static void test_error_split(void **state) {
    (void)state;
    expect_error("input x: f32[4, 6]\na, b, c, d = split(x, 4, 1)\nloss = sum(a)\n", 2, 14, "split", "f32[4, 6]",
                 "4 equal parts", NULL);
    expect_error("input x: f32[4, 6]\na, b = split(x, 3, 1)\nloss = sum(a)\n", 2, 1, "2 names", "3",
                 NULL);
    expect_error("input x: f32[4, 6]\ndef f(x, k) {\n    a, b = split(x, 2, k)\n    return a\n}\n"
                 "loss = sum(f(x, 2))\n",
                 3, 24, "split", "axis 2", "rank 2", NULL);
}

static void test_error_reshape(void **state) {
    (void)state;
    expect_error("input x: f32[4, 6]\ny = reshape(x, [5, -1])\nloss = sum(y)\n", 2, 5, "reshape", "f32[4, 6]",
                 "[5, -1]", NULL);
    expect_error("input x: f32[4, 6]\ny = reshape(x, [-1, -1])\nloss = sum(y)\n", 2, 5, "reshape", NULL);
    expect_error("input x: f32[4, 6]\ny = reshape(x, [4, 5])\nloss = sum(y)\n", 2, 5, "reshape",
                 "element counts differ", NULL);
}

static void test_error_layer_argument_types(void **state) {
    (void)state;
    /* Values the checker cannot see (def arguments) are checked as they are lowered. */
    expect_error("input x: f32[2, 3]\ndef f(x, n) {\n    return linear(x, n)\n}\nloss = mean(f(x, 2.5))\n", 3, 22,
                 "linear", "'out'", "an integer", "2.5", NULL);
    expect_error("input x: f32[2, 3]\ndef f(x, n) {\n    return linear(x, n)\n}\nloss = mean(f(x, x))\n", 3, 22,
                 "linear", "'out'", "a tensor f32[2, 3]", NULL);
    expect_error("input x: f32[2, 3]\ndef f(x, b) {\n    return layernorm(x, affine=b)\n}\nloss = mean(f(x, \"no\"))\n",
                 3, 32, "layernorm", "'affine'", NULL);
    expect_error("input x: f32[2, 3]\ndef f(a) {\n    return linear(a, 3)\n}\nloss = mean(f(4))\n", 3, 12,
                 "linear", "f32 tensor of rank 1", NULL);
    expect_error("input t: i32[2, 3]\ny = embedding(t, 0, 4)\nloss = mean(y)\n", 2, 18, "embedding", "'num'",
                 NULL);
}

static void test_error_misc_located(void **state) {
    (void)state;
    expect_error("input x: f32[2, 3]\ny = x @ x\nloss = mean(y)\n", 2, 7, "matmul", "f32[2, 3] @ f32[2, 3]", NULL);
    expect_error("input x: f32[2, 3]\ny = slice(x, 1, 2, 2)\nloss = mean(y)\n", 2, 5, "slice", "selects nothing",
                 NULL);
    expect_error("input x: f32[2, 3]\ny = transpose(x, [0, 0])\nloss = mean(y)\n", 2, 5, "transpose", NULL);
    expect_error("input x: f32[2, 3]\ny = sum(x, axis=[1, -1])\nloss = mean(y)\n", 2, 17, "sum", "twice", NULL);
    expect_error("input x: f32[2, 3]\ny = softmax(x, axis=2)\nloss = mean(y)\n", 2, 21, "softmax", "axis 2", NULL);
    expect_error("input x: f32[2, 3]\ny = var(x, 0, unbiased=true)\nloss = mean(y) + mean(var(x, [0, 1]))\n"
                 "z = var(reshape(x, [1, 6]), 0, unbiased=true)\n",
                 4, 5, "var", "one element", NULL);
    expect_error("input x: f32[2, 3]\nparam w: f32[3] = xavier_uniform()\nloss = mean(x * w)\n", 2, 19,
                 "xavier_uniform", "rank 2", NULL);
}

/* Pooling, flatten and pad: rank, window and pad errors name the builtin and the operand's type,
 * at the call (or at the argument that is malformed). */
static void test_error_pool_and_pad(void **state) {
    (void)state;
    expect_error("input x: f32[4, 8]\n" "y = max_pool2d(x, 2)\n" "loss = sum(y)\n",
                 2, 5, "max_pool2d: needs [N, C, H, W] or [C, H, W], got f32[4, 8]", NULL);
    expect_error("input x: f32[2, 3, 3]\n" "y = avg_pool1d(x, 6, padding=1)\n" "loss = sum(y)\n",
                 2, 5, "avg_pool1d: kernel [6] (dilation 1) is larger than the padded input f32[2, 3, 3]", NULL);
    expect_error("input x: f32[2, 3, 8, 8]\n" "y = max_pool2d(x, 3, padding=[2, 1])\n" "loss = sum(y)\n",
                 2, 5, "max_pool2d: padding [2, 1] must be at most half of kernel [3, 3]", NULL);
    expect_error("input x: f32[2, 3, 8, 8]\n" "y = max_pool2d(x, 2, [1, 1, 1])\n" "loss = sum(y)\n",
                 2, 22, "max_pool2d: stride takes one integer or 2, got a list of 3", NULL);
    expect_error("input x: f32[2, 3]\n" "y = pad(x, [1, 2, 3])\n" "loss = sum(y)\n",
                 2, 12, "pad: pads needs an even number of entries, at most 2 per dim of f32[2, 3], got 3", NULL);
    expect_error("input x: f32[2, 3]\n" "y = pad(x, [-2, -1])\n" "loss = sum(y)\n",
                 2, 12, "pad: dim 1 of f32[2, 3] padded by (-2, -1) would have size 0", NULL);
    expect_error("input x: f32[2, 3, 4]\n" "y = flatten(x, 2, 1)\n" "loss = sum(y)\n",
                 2, 5, "flatten: start_dim 2 comes after end_dim 1", NULL);
    expect_error("input x: f32[2, 3, 4, 4]\n" "y = adaptive_avg_pool2d(x, [2, 0])\n" "loss = sum(y)\n",
                 2, 28, "adaptive_avg_pool2d: output sizes must be positive, got 0", NULL);
}

static void test_error_tensor_in_const_place(void **state) {
    (void)state;
    expect_error("input x: f32[2, 3]\ndef f(x, n) {\n    param w: f32[n] = zeros()\n    return x * w\n}\n"
                 "loss = mean(f(x, x))\n",
                 3, 18, "'n'", "compile-time", NULL);
    expect_error("input x: f32[2, 3]\ndef f(x, k) {\n    return linear(x, 2) as h[k]\n}\nloss = mean(f(x, -1))\n",
                 3, 30, "index", "-1", NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_as_and_auto),
        cmocka_unit_test(test_names_loop_index),
        cmocka_unit_test(test_names_nested_defs),
        cmocka_unit_test(test_names_auto_per_scope),
        cmocka_unit_test(test_names_reuse),
        cmocka_unit_test(test_names_reuse_conflict),
        cmocka_unit_test(test_transformer_layer_names),
        cmocka_unit_test(test_param_initialisers),
        cmocka_unit_test(test_initialisers_fill_alike_on_any_thread_count),
        cmocka_unit_test(test_shapes_of_expressions),
        cmocka_unit_test(test_def_consts_and_loops),
        cmocka_unit_test(test_dropout_train_and_eval),
        cmocka_unit_test(test_locations_survive_the_ast),
        cmocka_unit_test(test_train_block),
        cmocka_unit_test(test_train_sgd_and_defaults),
        cmocka_unit_test(test_mlp_matches_torch),
        cmocka_unit_test(test_ops_match_torch),
        cmocka_unit_test(test_pool_ops_match_torch),
        cmocka_unit_test(test_tiny_gpt),
        cmocka_unit_test(test_error_add_shapes),
        cmocka_unit_test(test_error_loss_not_scalar),
        cmocka_unit_test(test_error_reserved_outputs),
        cmocka_unit_test(test_error_split),
        cmocka_unit_test(test_error_reshape),
        cmocka_unit_test(test_error_layer_argument_types),
        cmocka_unit_test(test_error_misc_located),
        cmocka_unit_test(test_error_tensor_in_const_place),
        cmocka_unit_test(test_error_pool_and_pad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
