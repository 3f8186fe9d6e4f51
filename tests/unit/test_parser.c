/* test_parser.c: the .gm grammar — the spec's examples, precedence, `as` binding, statement forms,
 * syntax errors and the limits that keep absurd files from crashing the parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/parser.h"

static gc_arena *arena;
static gc_error err;

static int setup(void **state) {
    (void)state;
    arena = gc_arena_new();
    memset(&err, 0, sizeof err);
    return arena ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    gc_arena_free(arena);
    arena = NULL;
    return 0;
}

static gc_ast_module *parse(const char *src) { return gc_frontend_parse(src, strlen(src), "t.gm", arena, &err); }

static gc_ast_module *parse_ok(const char *src) {
    gc_ast_module *m = parse(src);
    if (!m) fail_msg("parse failed: %d:%d: %s\n%s", err.line, err.col, err.message, src);
    return m;
}

/* The dump of the expression of `y = <src>`. */
static char *dump_of(const char *src) {
    char text[512];
    snprintf(text, sizeof text, "y = %s\n", src);
    gc_ast_module *m = parse_ok(text);
    assert_int_equal(m->body.n, 1);
    return gc_ast_expr_dump(m->body.stmts[0]->value);
}

static void assert_dump(const char *src, const char *want) {
    char *got = dump_of(src);
    assert_non_null(got);
    if (strcmp(got, want)) fail_msg("%s\n  parsed as %s\n  expected  %s", src, got, want);
    free(got);
}

static void assert_syntax_error(const char *src, int line, int col, const char *substring) {
    memset(&err, 0, sizeof err);
    gc_ast_module *m = parse(src);
    if (m) fail_msg("expected a syntax error in:\n%s", src);
    assert_int_equal(err.code, GC_ERR_USER);
    assert_string_equal(err.file, "t.gm");
    if (err.line != line || err.col != col || !strstr(err.message, substring))
        fail_msg("%s\n  got %d:%d: %s\n  expected %d:%d: ...%s...", src, err.line, err.col, err.message, line, col,
                 substring);
}

static char *read_source_file(const char *rel, size_t *len) {
    const char *dir = getenv("GC_SOURCE_DIR");
    assert_non_null(dir);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static const char tiny_gpt_dump[] =
    "const vocab = 256\n"
    "const ctx = 64\n"
    "const dim = 128\n"
    "const heads = 4\n"
    "const layers = 4\n"
    "const batch = 16\n"
    "input tokens: i32[batch, ctx]\n"
    "input targets: i32[batch, ctx]\n"
    "def block(x) {\n"
    "  x = (+ x (causal_self_attention (layernorm x as ln_1) heads as attn))\n"
    "  h = (gelu (linear (layernorm x as ln_2) (* 4 dim) as fc))\n"
    "  return (+ x (linear h dim as proj))\n"
    "}\n"
    "param wpe: f32[ctx, dim] = (normal 0 0.02)\n"
    "x = (+ (embedding tokens vocab dim as wte) wpe)\n"
    "for i in range(layers) {\n"
    "  x = (block x as h[i])\n"
    "}\n"
    "logits = (linear (layernorm x as ln_f) vocab bias=false as head)\n"
    "loss = (cross_entropy logits targets)\n"
    "output accuracy = (accuracy logits targets)\n"
    "train {\n"
    "  optimizer = (adamw lr=0.0003 betas=[0.9 0.95] weight_decay=0.1)\n"
    "  schedule = (cosine warmup=100 total=2000)\n"
    "  clip_grad_norm = 1.0\n"
    "  seed = 1\n"
    "}\n";

static void test_tiny_gpt(void **state) {
    (void)state;
    size_t len;
    char *src = read_source_file("tests/models/good/tiny_gpt.gm", &len);
    gc_ast_module *m = gc_frontend_parse(src, len, "tiny_gpt.gm", arena, &err);
    if (!m) fail_msg("%d:%d: %s", err.line, err.col, err.message);
    char *dump = gc_ast_module_dump(m);
    assert_string_equal(dump, tiny_gpt_dump);
    free(dump);

    const gc_stmt_kind kinds[] = {GC_STMT_CONST, GC_STMT_CONST, GC_STMT_CONST,  GC_STMT_CONST,  GC_STMT_CONST,
                                  GC_STMT_CONST, GC_STMT_INPUT, GC_STMT_INPUT,  GC_STMT_DEF,    GC_STMT_PARAM,
                                  GC_STMT_ASSIGN, GC_STMT_FOR,  GC_STMT_ASSIGN, GC_STMT_LOSS,   GC_STMT_OUTPUT,
                                  GC_STMT_TRAIN};
    assert_int_equal(m->body.n, 16);
    for (int i = 0; i < 16; i++) assert_int_equal(m->body.stmts[i]->kind, kinds[i]);
    assert_string_equal(m->file, "tiny_gpt.gm");

    /* input tokens: i32[batch, ctx] */
    const gc_ast_stmt *in = m->body.stmts[6];
    assert_int_equal(in->type.dtype, GC_I32);
    assert_int_equal(in->type.rank, 2);
    assert_string_equal(in->type.dims[1]->name.id, "ctx");
    assert_int_equal(in->loc.line, 9);

    /* def block(x): three statements, the last a return; `as attn` names the attention call. */
    const gc_ast_stmt *def = m->body.stmts[8];
    assert_string_equal(def->name, "block");
    assert_int_equal(def->def.nargs, 1);
    assert_null(def->def.args[0].default_value);
    assert_int_equal(def->def.body.n, 3);
    assert_int_equal(def->def.body.stmts[2]->kind, GC_STMT_RETURN);
    const gc_ast_expr *add = def->def.body.stmts[0]->value;
    assert_int_equal(add->kind, GC_EXPR_BINARY);
    assert_int_equal(add->bin.op, GC_BIN_ADD);
    assert_int_equal(add->loc.line, 13);
    assert_int_equal(add->loc.col, 11);
    assert_int_equal(add->bin.rhs->kind, GC_EXPR_CALL);
    assert_string_equal(add->bin.rhs->call.as->parts[0].name, "attn");

    /* for i in range(layers) { x = block(x) as h[i] } */
    const gc_ast_stmt *loop = m->body.stmts[11];
    assert_string_equal(loop->name, "i");
    assert_string_equal(loop->value->name.id, "layers");
    const gc_ast_expr *call = loop->loop.body.stmts[0]->value;
    assert_string_equal(call->call.callee, "block");
    const gc_ast_path *path = call->call.as;
    assert_int_equal(path->n, 2);
    assert_string_equal(path->parts[0].name, "h");
    assert_null(path->parts[1].name);
    assert_string_equal(path->parts[1].index->name.id, "i");

    /* train block keys in order */
    const gc_ast_stmt *train = m->body.stmts[15];
    assert_int_equal(train->train.n, 4);
    assert_string_equal(train->train.items[0].key, "optimizer");
    assert_string_equal(train->train.items[3].key, "seed");
    free(src);
}

static void test_precedence(void **state) {
    (void)state;
    assert_dump("a + b * c", "(+ a (* b c))");
    assert_dump("a * b + c", "(+ (* a b) c)");
    assert_dump("a - b - c", "(- (- a b) c)");
    assert_dump("a / b / c", "(/ (/ a b) c)");
    assert_dump("a @ b * c", "(* (@ a b) c)");
    assert_dump("a + b @ c", "(+ a (@ b c))");
    assert_dump("-a * b", "(* (neg a) b)");
    assert_dump("-a @ b", "(@ (neg a) b)");
    assert_dump("- -a", "(neg (neg a))");
    assert_dump("a - -b", "(- a (neg b))");
    assert_dump("a < b + c", "(< a (+ b c))");
    assert_dump("a + b == c * d", "(== (+ a b) (* c d))");
    assert_dump("a != b", "(!= a b)");
    assert_dump("a >= -b", "(>= a (neg b))");
    assert_dump("(a + b) * c", "(* (+ a b) c)");
    assert_dump("((a))", "a");
    assert_dump("f(a + b, c)", "(f (+ a b) c)");
}

static void test_as_binding(void **state) {
    (void)state;
    /* `as` binds to the call directly before it, tighter than any operator. */
    assert_dump("x + attention(x) as attn", "(+ x (attention x as attn))");
    assert_dump("embedding(t, v, d) as wte + wpe", "(+ (embedding t v d as wte) wpe)");
    assert_dump("-f(x) as g", "(neg (f x as g))");
    assert_dump("f(x) as h[i] * 2", "(* (f x as h[i]) 2)");
    assert_dump("g(f(x) as a, y) as b", "(g (f x as a) y as b)");
    assert_dump("gelu(linear(layernorm(x) as ln_2, 4 * dim) as fc)",
                "(gelu (linear (layernorm x as ln_2) (* 4 dim) as fc))");
    assert_dump("f(x) as encoder.layers[i + 1].attn", "(f x as encoder.layers[(+ i 1)].attn)");
    assert_dump("f(x) as h[i][j]", "(f x as h[i][j])");
    /* Number segments, as nn.Sequential names its children; `1.0` in a path is not a float. */
    assert_dump("f(x) as 0", "(f x as 0)");
    assert_dump("f(x) as features.3", "(f x as features.3)");
    assert_dump("f(x) as layer1.0.conv1", "(f x as layer1.0.conv1)");
    assert_dump("f(x) as features.1.conv.0.0", "(f x as features.1.conv.0.0)");
    assert_dump("f(x) as 1.5", "(f x as 1.5)");
    assert_dump("f(x) as features[i].0 * 1.5", "(* (f x as features[i].0) 1.5)");
    assert_dump("f(x) as h[i + 1.5].0.a", "(f x as h[(+ i 1.5)].0.a)");
    assert_dump("g(f(x) as a.0, 2.5) as b.1", "(g (f x as a.0) 2.5 as b.1)");
    assert_dump("f(x) as h.in.def", "(f x as h.in.def)"); /* segments may spell reserved words */
    assert_dump("f(x) as h . 0", "(f x as h.0)");

    gc_ast_module *m = parse_ok("y = x + attention(x) as attn\n");
    const gc_ast_expr *e = m->body.stmts[0]->value;
    assert_int_equal(e->kind, GC_EXPR_BINARY);
    assert_int_equal(e->bin.lhs->kind, GC_EXPR_NAME);
    const gc_ast_expr *call = e->bin.rhs;
    assert_int_equal(call->kind, GC_EXPR_CALL);
    assert_string_equal(call->call.callee, "attention");
    assert_int_equal(call->call.as->n, 1);
    assert_int_equal(call->call.as->loc.col, 25);
}

static void test_literals_and_arguments(void **state) {
    (void)state;
    assert_dump("3e-4", "0.0003");
    assert_dump("1.0", "1.0");
    assert_dump("128", "128");
    assert_dump("\"tanh\"", "\"tanh\"");
    assert_dump("\"a\\\"b\"", "\"a\\\"b\"");
    assert_dump("true", "true");
    assert_dump("false", "false");
    assert_dump("none", "none");
    assert_dump("[a, [b, c],]", "[a [b c]]");
    assert_dump("[]", "[]");
    assert_dump("f()", "(f)");
    assert_dump("f(a, b=1, c=[1, 2])", "(f a b=1 c=[1 2])");
    assert_dump("f(a,\n  b)", "(f a b)");
    assert_dump("f(x, axis=none, keepdims=true,)", "(f x axis=none keepdims=true)");
    /* Reserved words may name keyword arguments, as torch's `input=`. */
    assert_dump("mse_loss(input=a, target=b)", "(mse_loss input=a target=b)");
    assert_dump("cast(x, f32)", "(cast x f32)");
}

static void test_locations(void **state) {
    (void)state;
    gc_ast_module *m = parse_ok("\n  y = a + b * f(c, k=[1, 2])\n");
    const gc_ast_stmt *s = m->body.stmts[0];
    assert_int_equal(s->loc.line, 2);
    assert_int_equal(s->loc.col, 3);
    const gc_ast_expr *add = s->value;
    assert_int_equal(add->loc.col, 9);
    const gc_ast_expr *mul = add->bin.rhs;
    assert_int_equal(mul->loc.col, 13);
    const gc_ast_expr *call = mul->bin.rhs;
    assert_int_equal(call->loc.col, 15);
    assert_int_equal(call->call.args[0].loc.col, 17);
    assert_int_equal(call->call.args[1].loc.col, 20);
    assert_string_equal(call->call.args[1].name, "k");
    assert_int_equal(call->call.args[1].value->loc.col, 22);
    assert_int_equal(call->height, 3);
    assert_int_equal(add->height, 5);
}

static void test_statement_forms(void **state) {
    (void)state;
    gc_ast_module *m = parse_ok("const hidden = 2 * 128\n"
                                "input x: f32[4, hidden]\n"
                                "param scale: f32[] = constant(1.0)\n"
                                "def mlp(x, hidden=256, act=\"relu\") {\n"
                                "    a, b, c = split(x, 3, -1)\n"
                                "    return a\n"
                                "}\n"
                                "def one_line(x) { return x }\n"
                                "def brace_below(x)\n"
                                "{\n"
                                "    return x\n"
                                "}\n"
                                "for i in range(3) {\n"
                                "    for j in range(i) { x = x }\n"
                                "}\n"
                                "loss = mean(x)\n"
                                "output o = x\n"
                                "train {}\n");
    assert_int_equal(m->body.n, 10);
    const gc_ast_stmt *const_s = m->body.stmts[0];
    assert_int_equal(const_s->kind, GC_STMT_CONST);
    assert_string_equal(const_s->name, "hidden");
    assert_int_equal(const_s->name_loc.col, 7);
    const gc_ast_stmt *param = m->body.stmts[2];
    assert_int_equal(param->type.rank, 0);
    assert_int_equal(param->type.dtype, GC_F32);
    assert_string_equal(param->value->call.callee, "constant");
    const gc_ast_stmt *def = m->body.stmts[3];
    assert_int_equal(def->def.nargs, 3);
    assert_null(def->def.args[0].default_value);
    assert_int_equal(def->def.args[1].default_value->ival, 256);
    assert_string_equal(def->def.args[2].default_value->str.text, "relu");
    const gc_ast_stmt *tuple = def->def.body.stmts[0];
    assert_int_equal(tuple->kind, GC_STMT_ASSIGN);
    assert_int_equal(tuple->assign.n, 3);
    assert_string_equal(tuple->assign.targets[2].name, "c");
    assert_int_equal(tuple->assign.targets[2].loc.col, 11);
    assert_int_equal(m->body.stmts[4]->def.body.n, 1);
    assert_int_equal(m->body.stmts[5]->def.body.n, 1);
    const gc_ast_stmt *loop = m->body.stmts[6];
    assert_int_equal(loop->loop.body.n, 1);
    assert_int_equal(loop->loop.body.stmts[0]->kind, GC_STMT_FOR);
    assert_int_equal(m->body.stmts[7]->kind, GC_STMT_LOSS);
    assert_string_equal(m->body.stmts[8]->name, "o");
    assert_int_equal(m->body.stmts[9]->train.n, 0);
}

/* Lines quoted from the spec, each in a statement context. */
static void test_spec_examples(void **state) {
    (void)state;
    static const char *const lines[] = {
        "def mlp(x, hidden=256) {\n  return linear(x, hidden)\n}\n",
        "A, B, C = split(x, 3, -1)\n",
        "y = linear(x, 10) as fc1\n",
        "y = block(x) as h[3]\n",
        "y = embedding(src, 20, 32) as emb\n",
        "y = gelu(x, approximate=\"tanh\")\n",
        "y = sum(x, axis=[0, 1], keepdims=false)\n",
        "y = reshape(x, [2, -1])\n",
        "y = concat([a, b], 0)\n",
        "y = slice(x, 1, 0, 4)\n",
        "y = kl_div(a, b, reduction=\"batchmean\", log_target=true)\n",
        "input targets: i32[batch, ctx]\n",
        "param wpe: f32[ctx, dim] = normal(0, 0.02)\n",
        "output accuracy = accuracy(logits, targets)\n",
        "train {\n  no_decay = [\"*bias\", \"*norm*\", \"wte.*\"]\n  optimizer = sgd(0.1)\n}\n",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        gc_ast_module *m = parse_ok(lines[i]);
        assert_int_equal(m->body.n, 1);
    }
}

static void test_syntax_errors(void **state) {
    (void)state;
    assert_syntax_error("y = a < b < c\n", 1, 11, "comparisons do not chain");
    assert_syntax_error("y = x as z\n", 1, 7, "'as' names a call");
    assert_syntax_error("y = (f)(x)\n", 1, 6, "only a name can be called");
    assert_syntax_error("y = 3(x)\n", 1, 5, "only a name can be called");
    assert_syntax_error("y = f(x) as a as b\n", 1, 15, "already named");
    assert_syntax_error("y = f(a=1, 2)\n", 1, 12, "positional argument follows a keyword argument");
    assert_syntax_error("def f(x) {\n}\n", 2, 1, "def 'f' must end with 'return EXPR'");
    assert_syntax_error("def f(x) {\n  return x\n  y = x\n}\n", 3, 3, "statement after return");
    assert_syntax_error("return 1\n", 1, 1, "return outside a def");
    assert_syntax_error("def f(x) {\n  for i in range(2) {\n    return x\n  }\n  return x\n}\n", 3, 5,
                        "not inside a for loop");
    assert_syntax_error("y = f(a\nz = 2\n", 2, 1, "(the '(' at 1:6 is still open)");
    assert_syntax_error("y = 1 z = 2\n", 1, 7, "expected the end of the statement, found 'z'");
    assert_syntax_error("input x f32[1]\n", 1, 9, "':' and a type");
    assert_syntax_error("input x: f32\n", 1, 13, "'[' after the dtype");
    assert_syntax_error("input x: bf16[2]\n", 1, 10, "unknown dtype 'bf16'");
    assert_syntax_error("param w: f32[2]\n", 1, 16, "'=' and an initialiser");
    assert_syntax_error("param w: f32[2] = 3\n", 1, 19, "initialiser must be a call");
    assert_syntax_error("param w: f32[2] = zeros() as z\n", 1, 19, "initialiser must be a call");
    assert_syntax_error("for i in 3 {\n}\n", 1, 10, "'range'");
    assert_syntax_error("for i in range(2)\n  x = 1\n", 2, 3, "'{' to start the block");
    assert_syntax_error("train {\n  3\n}\n", 2, 3, "a setting name");
    assert_syntax_error("train {\n  seed = 1\n", 1, 7, "never closed");
    assert_syntax_error("def f(x) {\n  return x\n", 1, 10, "this '{' is never closed");
    assert_syntax_error("}\n", 1, 1, "unmatched '}'");
    assert_syntax_error("y = \n", 1, 5, "expected an expression, found end of line");
    assert_syntax_error("y = f(x,, z)\n", 1, 9, "expected an expression, found ','");
    assert_syntax_error("a, = f(x)\n", 1, 4, "a name to assign");
    assert_syntax_error("a b = 1\n", 1, 3, "'=' after the name");
    assert_syntax_error("3 = y\n", 1, 1, "expected a statement, found '3'");
    assert_syntax_error("def f(x) {\n  def g(y) {\n    return y\n  }\n  return x\n}\n", 2, 3,
                        "def is only allowed at the top level");
    assert_syntax_error("def f(x) {\n  input z: f32[1]\n  return x\n}\n", 2, 3, "input is only allowed at the top level");
    assert_syntax_error("for i in range(2) {\n  output o = x\n}\n", 2, 3, "output is not allowed inside a for loop");
    assert_syntax_error("def f(x) {\n  loss = x\n  return x\n}\n", 2, 3, "loss is only allowed at the top level");
    /* `as` paths: numbers are segments, never signed, never empty, never floats. */
    assert_syntax_error("y = f(x) as -1\n", 1, 13, "cannot be negative");
    assert_syntax_error("y = f(x) as h.-1\n", 1, 15, "cannot be negative");
    assert_syntax_error("y = f(x) as a..b\n", 1, 15, "a name or a whole number after '.'");
    assert_syntax_error("y = f(x) as a.\n", 1, 15, "a name or a whole number after '.'");
    assert_syntax_error("y = f(x) as .a\n", 1, 13, "a name or a whole number after 'as'");
    assert_syntax_error("y = f(x) as\n", 1, 12, "a name or a whole number after 'as'");
    assert_syntax_error("y = f(x) as \"a\"\n", 1, 13, "a name or a whole number after 'as'");
    assert_syntax_error("y = f(x) as 1.5e3\n", 1, 15, "'5e3' is not a segment of an 'as' path");
    assert_syntax_error("y = f(x) as 1e3\n", 1, 13, "'1e3' is not a segment");
    assert_syntax_error("y = f(x) as h.2e-1\n", 1, 15, "'2e-1' is not a segment");
    assert_syntax_error("y = f(x) as 0x10\n", 1, 13, "'0x10' is not a segment");
    assert_syntax_error("y = f(x) as h.07\n", 1, 15, "leading zero");
    assert_syntax_error("y = f(x) as h[1].\n", 1, 18, "after '.'");
    assert_syntax_error("const input = 1\n", 1, 7, "found 'input' (a reserved word)");
    assert_syntax_error("input x: f32[1, 2, 3, 4, 5, 6, 7]\n", 1, 32, "too many dimensions");
}

static void test_empty_and_blank(void **state) {
    (void)state;
    gc_ast_module *m = parse_ok("");
    assert_int_equal(m->body.n, 0);
    assert_int_equal(m->body.end.line, 1);
    m = parse_ok("\n\n# only a comment\n\n");
    assert_int_equal(m->body.n, 0);
    assert_int_equal(m->body.end.line, 5);
    m = gc_frontend_parse(NULL, 0, NULL, arena, &err);
    assert_non_null(m);
    assert_string_equal(m->file, "<input>");
}

static char *repeat(const char *prefix, const char *unit, int n, const char *suffix) {
    size_t len = strlen(prefix) + strlen(unit) * (size_t)n + strlen(suffix) + 1;
    char *s = malloc(len);
    assert_non_null(s);
    strcpy(s, prefix);
    char *p = s + strlen(prefix);
    for (int i = 0; i < n; i++) {
        memcpy(p, unit, strlen(unit));
        p += strlen(unit);
    }
    strcpy(p, suffix);
    return s;
}

/* Absurd nesting fails with a message, never a stack overflow. */
static void test_limits(void **state) {
    (void)state;
    char *s = repeat("y = ", "(", 10000, "x");
    assert_null(parse(s));
    assert_non_null(strstr(err.message, "nested too deeply (the limit is 200"));
    assert_int_equal(err.line, 1);
    free(s);

    s = repeat("y = ", "-", 10000, "x\n");
    assert_null(parse(s));
    assert_non_null(strstr(err.message, "nested too deeply"));
    free(s);

    s = repeat("y = ", "[", 150, "");
    char *t = repeat(s, "]", 150, "\n");
    assert_non_null(parse(t));
    free(s);
    free(t);

    s = repeat("y = a", " + a", GC_AST_MAX_HEIGHT + 10, "\n");
    assert_null(parse(s));
    assert_non_null(strstr(err.message, "too deeply nested or too long"));
    free(s);

    s = repeat("y = a", " + a", GC_AST_MAX_HEIGHT - 10, "\n");
    assert_non_null(parse(s));
    free(s);

    s = repeat("", "for i in range(1) {\n", 300, "");
    assert_null(parse(s));
    assert_non_null(strstr(err.message, "nested too deeply"));
    free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tiny_gpt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_precedence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_as_binding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_literals_and_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_locations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statement_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spec_examples, setup, teardown),
        cmocka_unit_test_setup_teardown(test_syntax_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_and_blank, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
