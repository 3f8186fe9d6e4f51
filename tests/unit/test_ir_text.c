/*
 * test_ir_text.c: the textual IR printer and parser.
 *
 * The round-trip test builds one graph per op (a switch over every gc_op, so a new op row in
 * ops.def without a case here fails to compile under -Wswitch and fails the run otherwise) and
 * checks print -> parse -> print is byte-identical. Error tests pin exact line:col and message.
 * The fuzz test mutates valid text deterministically and holds the parser to its contract: a graph
 * that verifies and reprints stably, or a located user error, never a crash (run it in the
 * GC_SANITIZE build to catch over-reads and leaks too).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ir/build.h"
#include "ir/recurrence.h"
#include "ir/text.h"

/* ---- helpers ---- */

static gc_node *source(gc_graph *g, gc_op op, const char *name, gc_dtype dtype, int rank, const int64_t *dims,
                       gc_error *err) {
    gc_type t = gc_type_make(dtype, rank, dims);
    gc_loc loc = {"model.gm", 1, 1};
    return gc_graph_make(g, op, NULL, 0, NULL, &t, name, loc, err);
}

/* Parses text, failing the test with the parser's message if it does not parse. */
static gc_graph *parse_ok(const char *text) {
    gc_error err;
    gc_error_clear(&err);
    gc_graph *g = gc_graph_parse(text, strlen(text), "t.ir", &err);
    if (!g) fail_msg("parse failed: %s:%d:%d: %s\n%s", err.file, err.line, err.col, err.message, text);
    return g;
}

/* print -> parse -> print must give the same bytes; returns the text (caller frees). */
static char *assert_round_trip(const gc_graph *g) {
    char *first = gc_graph_print(g);
    assert_non_null(first);
    gc_graph *back = parse_ok(first);
    gc_error err;
    gc_error_clear(&err);
    if (!gc_graph_verify(back, &err)) fail_msg("parsed graph does not verify: %s", err.message);
    char *second = gc_graph_print(back);
    assert_non_null(second);
    assert_string_equal(first, second);
    free(second);
    gc_graph_free(back);
    return first;
}

/* ---- every op ---- */

typedef struct sources {
    gc_node *x;     /* input "x" f32[2, 3, 4] */
    gc_node *w;     /* param "w" f32[3, 4] */
    gc_node *step;  /* state "step" i32[] */
    gc_node *idx;   /* input "idx" i32[2, 3] */
    gc_node *table; /* param "table" f32[10, 4] */
    gc_node *mean;  /* buffer "bn.running_mean" f32[4] */
} sources;

/* Makes the node for `op` from the shared sources with non-default attributes, so the printer
 * has something to show in every field. NULL with err set when the builder refuses. */
static gc_node *build_op(gc_builder *b, gc_op op, const sources *s) {
    gc_attr a;
    memset(&a, 0, sizeof a);
    const int64_t d234[] = {2, 3, 4}, d34[] = {3, 4}, d10_4[] = {10, 4}, d24_1[] = {24, 1};
    gc_type f234 = gc_type_make(GC_F32, 3, d234);
    switch (op) {
    case GC_OP_INPUT:
    case GC_OP_PARAM:
    case GC_OP_STATE:
    case GC_OP_BUFFER: {
        gc_type t = gc_type_make(GC_F64, 2, d34);
        return gc_graph_make(b->graph, op, NULL, 0, NULL, &t, "extra \"named\" source", b->loc, b->err);
    }
    case GC_OP_CONSTANT: return gc_fill(b, &f234, 0.1);
    case GC_OP_IOTA: {
        gc_type t = gc_type_make(GC_I32, 3, d234);
        a.axis.axis = 2;
        return gc_build(b, op, NULL, 0, &a, &t);
    }
    case GC_OP_RANDOM_UNIFORM: {
        a.random.seed = -1234567890123LL;
        a.random.stream = 7;
        gc_node *in = s->step;
        return gc_build(b, op, &in, 1, &a, &f234);
    }
    case GC_OP_NEG: case GC_OP_EXP: case GC_OP_LOG: case GC_OP_SQRT: case GC_OP_RSQRT:
    case GC_OP_RECIPROCAL: case GC_OP_TANH: case GC_OP_SIGMOID: case GC_OP_RELU: case GC_OP_GELU:
    case GC_OP_GELU_TANH: case GC_OP_SILU: case GC_OP_ABS: case GC_OP_SQUARE: case GC_OP_SOFTPLUS:
    case GC_OP_LOG_SIGMOID: case GC_OP_ERF: case GC_OP_SIN: case GC_OP_COS: case GC_OP_SIGN:
    case GC_OP_STOP_GRADIENT: case GC_OP_ALL_REDUCE_SUM:
        return gc_unary(b, op, s->x);
    case GC_OP_POW: return gc_pow_scalar(b, s->x, 1.0 / 3.0);
    case GC_OP_CLAMP: {
        a.clamp.lo = -INFINITY;
        a.clamp.hi = 6.5e-310; /* subnormal: the printer must still find an exact form */
        gc_node *in = s->x;
        return gc_build(b, op, &in, 1, &a, NULL);
    }
    case GC_OP_CAST: return gc_cast(b, s->x, GC_I32);
    case GC_OP_ADD: case GC_OP_SUB: case GC_OP_MUL: case GC_OP_DIV: case GC_OP_MAXIMUM:
    case GC_OP_MINIMUM: case GC_OP_LT: case GC_OP_LE: case GC_OP_GT: case GC_OP_GE: case GC_OP_EQ:
    case GC_OP_NE:
        return gc_binary(b, op, s->x, s->w);
    case GC_OP_SELECT: return gc_select(b, gc_binary(b, GC_OP_GT, s->x, s->w), s->w, s->x);
    case GC_OP_SUM: case GC_OP_MEAN: case GC_OP_MAX: case GC_OP_MIN:
        return gc_reduce(b, op, s->x, 0x5, op == GC_OP_SUM || op == GC_OP_MAX);
    case GC_OP_ARGMAX: case GC_OP_SOFTMAX: case GC_OP_LOG_SOFTMAX: return gc_axis_op(b, op, s->x, 1);
    case GC_OP_MATMUL: return gc_matmul(b, s->x, s->w, false, true);
    case GC_OP_RESHAPE: return gc_reshape(b, s->x, 2, d24_1);
    case GC_OP_PERMUTE: {
        const int perm[] = {2, 0, 1};
        return gc_permute(b, s->x, perm);
    }
    case GC_OP_BROADCAST: return gc_broadcast_to(b, s->w, &f234);
    case GC_OP_SLICE: return gc_slice(b, s->x, 2, 1, 3);
    case GC_OP_PAD: return gc_pad(b, s->x, 0, 2, 1);
    case GC_OP_CONCAT: {
        gc_node *xs[3] = {s->x, s->x, s->x};
        return gc_concat(b, xs, 3, 1);
    }
    case GC_OP_TAKE: return gc_binary(b, op, s->table, s->idx);
    case GC_OP_SCATTER_ADD: {
        gc_type t = gc_type_make(GC_F32, 2, d10_4);
        gc_node *in[2] = {gc_binary(b, GC_OP_TAKE, s->table, s->idx), s->idx};
        return gc_build(b, op, in, 2, NULL, &t);
    }
    case GC_OP_INDEX_ADD: {
        gc_type t = gc_type_make(GC_F32, 2, d10_4);
        gc_node *in[3] = {gc_fill(b, &t, 0.5), gc_binary(b, GC_OP_TAKE, s->table, s->idx), s->idx};
        return gc_build(b, op, in, 3, NULL, NULL);
    }
    case GC_OP_ONE_HOT: return gc_one_hot(b, s->idx, 5);
    case GC_OP_MAX_POOL: case GC_OP_MAX_POOL_GRAD: case GC_OP_AVG_POOL: case GC_OP_AVG_POOL_GRAD: {
        /* Pooling along x's last dim, every field away from its default. */
        bool avg = op == GC_OP_AVG_POOL || op == GC_OP_AVG_POOL_GRAD;
        a.pool.kernel[0] = 3;
        a.pool.stride[0] = 2;
        a.pool.padding[0] = 1;
        a.pool.dilation[0] = avg ? 1 : 2;
        a.pool.ceil_mode = true;
        a.pool.count_include_pad = !avg;
        gc_node *pooled = gc_build(b, avg ? GC_OP_AVG_POOL : GC_OP_MAX_POOL, &s->x, 1, &a, NULL);
        if (op == GC_OP_MAX_POOL || op == GC_OP_AVG_POOL) return pooled;
        if (op == GC_OP_AVG_POOL_GRAD) return gc_build(b, op, &pooled, 1, &a, &f234);
        gc_node *in[2] = {s->x, pooled};
        return gc_build(b, op, in, 2, &a, NULL);
    }
    /* Convolution: a 1-d conv of x with every attribute off its default. */
    case GC_OP_CONV: case GC_OP_CONV_INPUT_GRAD: case GC_OP_CONV_WEIGHT_GRAD: {
        const int64_t d532[] = {5, 3, 2};
        gc_type wt = gc_type_make(GC_F32, 3, d532);
        gc_node *cw = gc_graph_make(b->graph, GC_OP_PARAM, NULL, 0, NULL, &wt, "conv.weight", b->loc, b->err);
        gc_attr_conv c = {.stride = {2}, .pad_before = {2}, .pad_after = {1}, .dilation = {2}, .groups = 1};
        gc_node *y = gc_conv(b, s->x, cw, &c); /* f32[2, 5, 3] */
        if (op == GC_OP_CONV) return y;
        if (op == GC_OP_CONV_INPUT_GRAD) return gc_conv_input_grad(b, y, cw, &c, &f234);
        return gc_conv_weight_grad(b, s->x, y, &c, &wt);
    }

    case GC_OP_RECURRENCE: case GC_OP_RECURRENCE_GRAD: {
        /* An lstm of hidden size 1 over x as the input projection, run in reverse. */
        const int64_t d41[] = {4, 1}, d4[] = {4}, d21[] = {2, 1};
        gc_type tw = gc_type_make(GC_F32, 2, d41), tb = gc_type_make(GC_F32, 1, d4), ts = gc_type_make(GC_F32, 2, d21);
        a.recurrence.cell = GC_CELL_LSTM;
        a.recurrence.reverse = true;
        gc_node *w = gc_fill(b, &tw, 0.5), *h0 = gc_fill(b, &ts, 0.25);
        gc_node *in[5] = {s->x, w, gc_fill(b, &tb, 0.1), h0, h0};
        gc_node *y = gc_build(b, GC_OP_RECURRENCE, in, 5, &a, NULL);
        if (op == GC_OP_RECURRENCE) return y;
        gc_node *back[5] = {y, y, w, h0, h0};
        return gc_build(b, op, back, 5, &a, NULL);
    }
    case GC_OP_COUNT: break;
    }
    fail_msg("test_ir_text.c has no case for op %s", gc_op_table[op].name);
    return NULL;
}

/* A graph holding every kind of source, op `op`, and outputs of all three kinds. */
static gc_graph *graph_for_op(gc_op op, gc_error *err) {
    gc_graph *g = gc_graph_new("every_op");
    assert_non_null(g);
    const int64_t d234[] = {2, 3, 4}, d34[] = {3, 4}, d23[] = {2, 3}, d10_4[] = {10, 4};
    sources s;
    s.x = source(g, GC_OP_INPUT, "x", GC_F32, 3, d234, err);
    s.w = source(g, GC_OP_PARAM, "w", GC_F32, 2, d34, err);
    s.step = source(g, GC_OP_STATE, "step", GC_I32, 0, NULL, err);
    s.idx = source(g, GC_OP_INPUT, "idx", GC_I32, 2, d23, err);
    s.table = source(g, GC_OP_PARAM, "table", GC_F32, 2, d10_4, err);
    s.mean = source(g, GC_OP_BUFFER, "bn.running_mean", GC_F32, 1, d34 + 1, err);
    assert_true(s.x && s.w && s.step && s.idx && s.table && s.mean);
    gc_builder b = {g, {"model \"quoted\".gm", 40 + (int)op, 9}, err};
    gc_node *n = build_op(&b, op, &s);
    if (!n) fail_msg("building %s: %s", gc_op_table[op].name, err->message);
    assert_int_equal(n->op, op);
    gc_node *w2 = gc_mul_scalar(&b, s.w, 0.5);
    gc_node *one = gc_scalar(&b, GC_I32, 1);
    assert_non_null(w2);
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "result", n, err));
    assert_true(gc_graph_add_output(g, GC_OUTPUT_GRAD, "w", w2, err));
    assert_true(gc_graph_add_output(g, GC_OUTPUT_UPDATE, "w", w2, err));
    assert_true(gc_graph_add_output(g, GC_OUTPUT_UPDATE, "step", gc_binary(&b, GC_OP_ADD, s.step, one), err));
    /* A buffer's update is computed from the batch, as batch norm's running mean is. */
    gc_node *batch_mean = gc_reduce(&b, GC_OP_MEAN, s.x, 0x3, false);
    assert_true(gc_graph_add_output(g, GC_OUTPUT_UPDATE, "bn.running_mean",
                                    gc_binary(&b, GC_OP_ADD, gc_mul_scalar(&b, s.mean, 0.9),
                                              gc_mul_scalar(&b, batch_mean, 0.1)), err));
    return g;
}

static void test_every_op_round_trips(void **state) {
    (void)state;
    for (int op = 0; op < GC_OP_COUNT; op++) {
        gc_error err;
        gc_error_clear(&err);
        gc_graph *g = graph_for_op((gc_op)op, &err);
        char *text = assert_round_trip(g);
        /* The op shows up under its table name, followed by its name string or operands. */
        char want[64];
        size_t n = (size_t)snprintf(want, sizeof want, " = %s", gc_op_table[op].name);
        const char *hit = text;
        while ((hit = strstr(hit, want)) && hit[n] != '(' && hit[n] != ' ') hit += n;
        if (!hit) fail_msg("no '%s' in\n%s", want, text);
        assert_non_null(strstr(text, "  grad \"w\" = %"));
        assert_non_null(strstr(text, "  update \"step\" = %"));
        assert_non_null(strstr(text, " = buffer \"bn.running_mean\" : f32[4]"));
        assert_non_null(strstr(text, "  update \"bn.running_mean\" = %"));
        free(text);
        gc_graph_free(g);
    }
}

static void test_printer_format(void **state) {
    (void)state;
    gc_error err;
    gc_error_clear(&err);
    gc_graph *g = gc_graph_new("mlp");
    const int64_t dx[] = {128, 784}, dw[] = {1024, 784};
    gc_type tx = gc_type_make(GC_F32, 2, dx), tw = gc_type_make(GC_F32, 2, dw);
    gc_node *x = gc_graph_make(g, GC_OP_INPUT, NULL, 0, NULL, &tx, "x", (gc_loc){"mlp.gm", 3, 1}, &err);
    gc_node *w = gc_graph_make(g, GC_OP_PARAM, NULL, 0, NULL, &tw, "fc1.weight", (gc_loc){"mlp.gm", 5, 5}, &err);
    gc_builder b = {g, {"mlp.gm", 5, 5}, &err};
    gc_node *y = gc_matmul(&b, x, w, false, true);
    b.loc.line = 0;
    gc_node *zero = gc_scalar(&b, GC_F32, 0);
    gc_node *r = gc_reduce(&b, GC_OP_SUM, gc_binary(&b, GC_OP_MAXIMUM, y, zero), 0x3, false);
    assert_non_null(r);
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "loss", r, &err));
    char *text = gc_graph_print(g);
    assert_string_equal(text,
                        "graph @mlp {\n"
                        "  %0 = input \"x\" : f32[128, 784] loc(\"mlp.gm\":3:1)\n"
                        "  %1 = param \"fc1.weight\" : f32[1024, 784] loc(\"mlp.gm\":5:5)\n"
                        "  %2 = matmul(%0, %1) {transpose_a=false, transpose_b=true} : f32[128, 1024] loc(\"mlp.gm\":5:5)\n"
                        "  %3 = constant {value=0} : f32[]\n"
                        "  %4 = maximum(%2, %3) : f32[128, 1024]\n"
                        "  %5 = sum(%4) {axes=[0, 1], keepdims=false} : f32[]\n"
                        "  output \"loss\" = %5\n"
                        "}\n");
    free(text);
    gc_graph_free(g);
}

static void test_doubles_read_back_exactly(void **state) {
    (void)state;
    const double values[] = {0.0, -0.0, 0.1, 1.0 / 3.0, -2.5, 1e-320, 4.9406564584124654e-324, 1.7976931348623157e308,
                             -2.2250738585072014e-308, 123456789012345678.0, 1e21, 0.3, INFINITY, -INFINITY};
    const char *shortest[] = {"0", "-0", "0.1", "0.3333333333333333", "-2.5", NULL, NULL, "1.7976931348623157e+308",
                              NULL, "1.2345678901234568e+17", "1e+21", "0.3", "inf", "-inf"};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        gc_error err;
        gc_error_clear(&err);
        gc_graph *g = gc_graph_new("d");
        gc_builder b = {g, {NULL, 0, 0}, &err};
        assert_non_null(gc_scalar(&b, GC_F64, values[i]));
        char *text = assert_round_trip(g);
        if (shortest[i]) {
            char want[80];
            snprintf(want, sizeof want, "{value=%s}", shortest[i]);
            if (!strstr(text, want)) fail_msg("want %s in %s", want, text);
        }
        gc_graph *back = parse_ok(text);
        double got = back->nodes[0]->attr.scalar.value;
        assert_memory_equal(&got, &values[i], sizeof got);
        free(text);
        gc_graph_free(back);
        gc_graph_free(g);
    }
    gc_graph *g = parse_ok("graph @n { %0 = constant {value=nan} : f32[] }");
    assert_true(isnan(g->nodes[0]->attr.scalar.value));
    char *text = assert_round_trip(g);
    assert_non_null(strstr(text, "{value=nan}"));
    free(text);
    gc_graph_free(g);
}

static void test_strings_escape_and_round_trip(void **state) {
    (void)state;
    const char *names[] = {"plain", "with \"quotes\"", "back\\slash", "new\nline", "tab\there", "ctl\x01\x1f\x7f",
                           "utf8 \xc3\xa9\xe2\x82\xac"};
    const char *printed[] = {"\"plain\"", "\"with \\\"quotes\\\"\"", "\"back\\\\slash\"", "\"new\\nline\"",
                             "\"tab\\there\"", "\"ctl\\x01\\x1f\\x7f\"", "\"utf8 \xc3\xa9\xe2\x82\xac\""};
    gc_error err;
    gc_error_clear(&err);
    gc_graph *g = gc_graph_new("odd name/with spaces");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        assert_non_null(source(g, GC_OP_PARAM, names[i], GC_F32, 0, NULL, &err));
    char *text = assert_round_trip(g);
    assert_non_null(strstr(text, "graph @\"odd name/with spaces\" {"));
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strstr(text, printed[i])) fail_msg("want %s in %s", printed[i], text);
    gc_graph *back = parse_ok(text);
    assert_string_equal(back->name, "odd name/with spaces");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) assert_string_equal(back->nodes[i]->name, names[i]);
    free(text);
    gc_graph_free(back);
    gc_graph_free(g);
}

static void test_parser_accepts_free_form(void **state) {
    (void)state;
    /* Any %names, fields in any order, comments, odd spacing: all print back canonically. */
    gc_graph *g = parse_ok("# leading comment\n"
                           "graph @free-form.v2 {   # trailing comment\n"
                           "  %input.x = input \"x\":f32[2,3]\n"
                           "  %weights = param \"w\" : f32[ 3 , 3 ] loc(\"m.gm\" : 7 : 2)\n"
                           "\t%mm=matmul(%input.x,%weights){transpose_b=false,transpose_a=false}:f32[2,3]\n"
                           "  %s = sum(%mm) {keepdims=true, axes=[1, 0]} : f32[1, 1]\n"
                           "  output \"s\" = %s\n"
                           "}\n# done\n");
    char *text = gc_graph_print(g);
    assert_string_equal(text, "graph @free-form.v2 {\n"
                              "  %0 = input \"x\" : f32[2, 3]\n"
                              "  %1 = param \"w\" : f32[3, 3] loc(\"m.gm\":7:2)\n"
                              "  %2 = matmul(%0, %1) {transpose_a=false, transpose_b=false} : f32[2, 3]\n"
                              "  %3 = sum(%2) {axes=[0, 1], keepdims=true} : f32[1, 1]\n"
                              "  output \"s\" = %3\n"
                              "}\n");
    assert_string_equal(g->nodes[1]->loc.file, "m.gm");
    assert_int_equal(g->nodes[1]->loc.line, 7);
    assert_int_equal(g->nodes[1]->loc.col, 2);
    free(text);
    gc_graph_free(g);

    /* The text need not be NUL-terminated: only len bytes are read. */
    const char *full = "graph @g { %0 = input \"x\" : f32[] }XXXX";
    size_t len = strlen(full) - 4;
    char *exact = malloc(len);
    memcpy(exact, full, len);
    gc_error err;
    gc_error_clear(&err);
    g = gc_graph_parse(exact, len, "t.ir", &err);
    assert_non_null(g);
    assert_int_equal(g->num_nodes, 1);
    gc_graph_free(g);
    free(exact);
}

/* ---- errors ---- */

typedef struct error_case {
    const char *text;
    int line, col;
    const char *message; /* a substring of the expected message */
} error_case;

static const error_case error_cases[] = {
    {"", 1, 1, "expected 'graph', got end of input"},
    {"graph @g {\n  %0 = input \"x\" : f32[2]\n", 3, 1, "expected a node (%N = op ...), an output or '}', got end of input"},
    {"graph @g {\n  %0 = input \"x\" : f32[2", 2, 25, "expected ',' or ']' in the type, got end of input"},
    {"graph @g {\n  %0 = frobnicate(%1) : f32[]\n}", 2, 8, "unknown op 'frobnicate'"},
    {"graph @g {\n  %0 = input \"x\" : f32[2]\n  %1 = add(%0) : f32[2]\n}", 3, 8, "add: expects 2 operands, got 1"},
    {"graph @g {\n  %0 = input \"x\" : f32[2]\n  %1 = exp(%0, %0) : f32[2]\n}", 3, 8, "exp: expects 1 operand, got 2"},
    {"graph @g {\n  %0 = input \"x\" : f32[2]\n  %1 = exp(%y) : f32[2]\n}", 3, 12, "use of undefined value %y"},
    {"graph @g {\n  %a = input \"x\" : f32[2]\n  %a = input \"y\" : f32[2]\n}", 3, 3, "%a is defined twice (first at line 2)"},
    {"graph @g {\n  %0 = input \"x\" : f32[2]\n  %1 = sum(%0) {axes=[0], keepdims=false, bogus=1} : f32[]\n}", 3, 43,
     "sum has no attribute field 'bogus' (fields: axes, keepdims)"},
    {"graph @g {\n  %0 = input \"x\" : f32[2]\n  %1 = sum(%0) {axes=[0]} : f32[]\n}", 3, 25,
     "sum is missing attribute field 'keepdims'"},
    {"graph @g {\n  %0 = input \"x\" : f32[2]\n  %1 = sum(%0) {axes=[0], axes=[0]} : f32[]\n}", 3, 27,
     "attribute field 'axes' is given twice"},
    {"graph @g {\n  %0 = input \"x\" : f32[2]\n  %1 = sum(%0) : f32[]\n}", 3, 16,
     "expected '{' with the attributes of sum (axes, keepdims), got ':'"},
    {"graph @g {\n  %0 = input \"x\" : f32[2]\n  %1 = exp(%0) {value=1} : f32[2]\n}", 3, 16, "exp takes no attributes"},
    {"graph @g {\n  %0 = input \"x\" : f16[2]\n}", 2, 20, "unknown dtype 'f16' (expected f32, i32 or f64)"},
    {"graph @g {\n  %0 = input \"x\" : f32[2, 0]\n}", 2, 27, "0 is out of range for a dimension (1 to 1099511627776)"},
    {"graph @g {\n  %0 = input \"x\" : f32[1, 2, 3, 4, 5, 6, 7]\n}", 2, 42, "rank exceeds the maximum of 6"},
    {"graph @g {\n  %0 = input \"x\" : f32[1048576, 1048576, 2]\n}", 2, 42, "type has more than 2^40 elements"},
    {"graph @g {\n  %0 = input \"x\" : f32[99999999999999999999999]\n}", 2, 24, "is out of range for a dimension"},
    {"graph @g {\n  %0 = iota {axis=2147483648} : i32[2]\n}", 2, 19, "2147483648 is out of range for an integer for 'axis'"},
    {"graph @g {\n  %0 = constant {value=1e999} : f32[]\n}", 2, 24, "too large for a double"},
    {"graph @g {\n  %0 = input \"x\" : f32[2]\n  %1 = exp(%0) : f32[3]\n}", 3, 18,
     "type f32[3] is stated but exp computes f32[2]"},
    {"graph @g {\n  %0 = input \"x\" : f32[2, 3]\n  %1 = input \"y\" : f32[4, 3]\n  %2 = add(%0, %1) : f32[2, 3]\n}", 4, 8,
     "add: cannot broadcast f32[2, 3] with f32[4, 3]"},
    {"graph @g {\n  %0 = input \"x\" : i32[2]\n  %1 = exp(%0) : i32[2]\n}", 3, 8, "exp: needs a float operand, got i32[2]"},
    {"graph @g {\n  %0 = input \"x\" : f32[1099511627776, 1]\n  %1 = input \"y\" : f32[1, 1099511627776]\n"
     "  %2 = add(%0, %1) : f32[2]\n}", 4, 8, "add: result has more than 2^40 elements"},
    {"graph @g {\n  %0 = input \"x\" : f32[2, 3]\n  %1 = permute(%0) {perm=[0]} : f32[2, 3]\n}", 3, 26,
     "perm has 1 entries but the operand has rank 2"},
    {"graph @g {\n  %0 = input \"x\" : f32[2, 3]\n  %1 = sum(%0) {axes=[1, 1], keepdims=false} : f32[2]\n}", 3, 22,
     "axis 1 is listed twice"},
    {"graph @g {\n  %0 = input \"x\" : f32[2]\n  %1 = input \"x\" : f32[2]\n}", 3, 14, "input \"x\" is defined twice"},
    {"graph @g {\n  %0 = param : f32[2]\n}", 2, 14, "expected the name string of a named op, got ':'"},
    {"graph @g {\n  %0 = param \"\" : f32[2]\n}", 2, 14, "param needs a non-empty name"},
    {"graph @g {\n  %0 = input \"x\" : f32[2]\n  %1 = exp \"n\"(%0) : f32[2]\n}", 3, 12, "exp takes no name"},
    {"graph @g {\n  %0 = input \"x : f32[2]\n}", 2, 14, "unterminated string"},
    {"graph @g {\n  %0 = input \"x\\q\" : f32[2]\n}", 2, 16, "unknown escape in string"},
    {"graph @g {\n  %0 = input \"x\" : f32[2] \x01\n}", 2, 27, "unexpected byte 0x01"},
    {"\x7f" "ELF\x02\x01\x01", 1, 1, "unexpected byte 0x7f"},
    {"graph @g {\n  %0 = input \"x\" : f32[2]\n}\ngraph @h {\n}", 4, 1, "unexpected 'graph' after the end of the graph"},
    {"graph @g {\n  %0 = input \"x\" : f32[2]\n  output \"y\" = %0\n  output \"y\" = %0\n}", 4, 10,
     "output \"y\" is defined twice"},
    {"graph @g {\n  %0 = input \"x\" : f32[2]\n  update \"x\" = %0\n}", 3, 3, "update 'x' names no param, state or buffer"},
    {"graph @g {\n  %0 = param \"w\" : f32[2]\n  %1 = cast(%0) : f64[2]\n  grad \"w\" = %1\n}", 4, 3,
     "grad 'w': value is f64[2] but the param is f32[2]"},
    {"graph @g {\n  %0 = input \"x\" : f32[2] loc(\"m.gm\":0:1)\n}", 2, 38, "0 is out of range for a line number"},
    {"graph @g {\n  %0 = constant {value=-nan} : f32[]\n}", 2, 25, "expected 'inf' after '-', got 'nan'"},
    {"graph @g {\n  %0 = constant {value=12abc} : f32[]\n}", 2, 24, "malformed number"},
    {"graph @g {\n  %0 = input \"x\" : f32[2]\n  %1 = concat() {axis=0} : f32[2]\n}", 3, 15, "expected a %value, got ')'"},
    {"graph g {\n}", 1, 7, "expected '@' and the graph's name, got 'g'"},
};

static void test_errors_are_located(void **state) {
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof error_cases / sizeof error_cases[0]; i++) {
        const error_case *c = &error_cases[i];
        gc_error err;
        gc_error_clear(&err);
        gc_graph *g = gc_graph_parse(c->text, strlen(c->text), "t.ir", &err);
        if (g) {
            print_error("case %zu parsed but should not:\n%s\n", i, c->text);
            gc_graph_free(g);
            failures++;
        } else if (err.code != GC_ERR_USER || strcmp(err.file, "t.ir") != 0 || err.line != c->line ||
                   err.col != c->col || !strstr(err.message, c->message)) {
            print_error("case %zu: got code %d %s:%d:%d: %s\n        want t.ir:%d:%d: %s\n", i, err.code, err.file,
                        err.line, err.col, err.message, c->line, c->col, c->message);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

/* ---- robustness ---- */

static uint64_t rng_state;
static uint32_t rng(void) {
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng_state >> 33);
}

/* Pieces of IR syntax to splice in, so mutations reach deep into the grammar instead of failing
 * at the first byte every time. */
static const char *const splices[] = {
    "%",  "%0", "%99", "{",     "}",   "[",      "]",     "(",     ")",       ",",    "=",   ":",
    "\"", "-",  "inf", "nan",   "1e999", "-9223372036854775808", "99999999999999999999999",
    "f32[", "i32[]", "f64[7, 7, 7, 7, 7, 7, 7]", "loc(\"f\":1:1)", "\\x00", "\\", "#", "\n", "\x00", "\xff",
    "axes=[0, 1]", "keepdims=true", "add(%0, %0)", "output \"loss\" = %1", "update \"w\" = %2", "param \"w\""};

/* Returns whether text parsed. */
static bool check_parse_contract(const char *text, size_t len) {
    /* An exact-size copy, so ASan sees any read past len. */
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len) memcpy(copy, text, len);
    gc_error err;
    gc_error_clear(&err);
    gc_graph *g = gc_graph_parse(copy, len, "fuzz.ir", &err);
    if (g) {
        gc_error verr;
        gc_error_clear(&verr);
        if (!gc_graph_verify(g, &verr)) fail_msg("parsed but does not verify: %s\n%.*s", verr.message, (int)len, text);
        char *once = gc_graph_print(g);
        assert_non_null(once);
        gc_graph *again = parse_ok(once);
        char *twice = gc_graph_print(again);
        assert_string_equal(once, twice);
        free(once);
        free(twice);
        gc_graph_free(again);
        gc_graph_free(g);
        free(copy);
        return true;
    }
    if (err.code != GC_ERR_USER || !err.message[0] || err.line < 1 || err.col < 1)
        fail_msg("bad error (code %d, %d:%d, '%s') for\n%.*s", err.code, err.line, err.col, err.message, (int)len, text);
    free(copy);
    return false;
}

static void test_fuzz_mutations(void **state) {
    (void)state;
    const char *seed_text = "graph @fuzz {\n"
                            "  %0 = input \"x\" : f32[4, 3] loc(\"m.gm\":1:1)\n"
                            "  %1 = param \"w\" : f32[3, 2]\n"
                            "  %2 = state \"step\" : i32[]\n"
                            "  %3 = matmul(%0, %1) {transpose_a=false, transpose_b=false} : f32[4, 2]\n"
                            "  %4 = constant {value=0.5} : f32[]\n"
                            "  %5 = mul(%3, %4) : f32[4, 2]\n"
                            "  %6 = sum(%5) {axes=[0, 1], keepdims=false} : f32[]\n"
                            "  %7 = permute(%1) {perm=[1, 0]} : f32[2, 3]\n"
                            "  %8 = clamp(%5) {lo=-inf, hi=6} : f32[4, 2]\n"
                            "  %9 = random_uniform(%2) {seed=1, stream=2} : f32[4, 2]\n"
                            "  %10 = concat(%8, %9, %5) {axis=0} : f32[12, 2]\n"
                            "  output \"loss\" = %6\n"
                            "  update \"w\" = %1\n"
                            "  grad \"w\" = %1\n"
                            "}\n";
    size_t seed_len = strlen(seed_text);
    assert_true(check_parse_contract(seed_text, seed_len));
    char buf[4096];
    rng_state = 0x5eed;
    int parsed = 0;
    for (int iter = 0; iter < 4000; iter++) {
        size_t len = seed_len;
        memcpy(buf, seed_text, len);
        int edits = 1 + (int)(rng() % 4);
        for (int e = 0; e < edits; e++) {
            size_t pos = len ? rng() % (len + 1) : 0;
            switch (rng() % 5) {
            case 0: /* flip a byte */
                if (pos < len) buf[pos] = (char)(buf[pos] ^ (1u << (rng() % 8)));
                break;
            case 1: /* truncate */
                len = pos;
                break;
            case 2: /* delete a run */ {
                size_t n = 1 + rng() % 12;
                if (pos + n > len) n = len - pos;
                memmove(buf + pos, buf + pos + n, len - pos - n);
                len -= n;
                break;
            }
            case 3: /* random byte */
                if (len + 1 < sizeof buf) {
                    memmove(buf + pos + 1, buf + pos, len - pos);
                    buf[pos] = (char)rng();
                    len++;
                }
                break;
            default: /* splice a piece of syntax */ {
                const char *s = splices[rng() % (sizeof splices / sizeof splices[0])];
                size_t n = strlen(s) ? strlen(s) : 1; /* "\x00" splices one NUL byte */
                if (len + n < sizeof buf) {
                    memmove(buf + pos + n, buf + pos, len - pos);
                    memcpy(buf + pos, s, n);
                    len += n;
                }
            }
            }
        }
        if (check_parse_contract(buf, len)) parsed++;
    }
    /* Some mutations (a flipped digit, a deleted comment byte) keep the text valid; if none do,
     * the mutator is broken and the test proves nothing. */
    assert_true(parsed > 20);
    assert_true(parsed < 3000);
}

static void test_parse_survives_allocation_failures(void **state) {
    (void)state;
    const char *text = "graph @g {\n"
                       "  %0 = input \"x\" : f32[2, 3] loc(\"m.gm\":1:1)\n"
                       "  %1 = param \"w\" : f32[3, 3]\n"
                       "  %2 = matmul(%0, %1) {transpose_a=false, transpose_b=false} : f32[2, 3]\n"
                       "  %3 = concat(%2, %2, %0) {axis=0} : f32[6, 3]\n"
                       "  output \"y\" = %3\n"
                       "  grad \"w\" = %1\n"
                       "}\n";
    for (long n = 1; n < 1000; n++) {
        gc_error err;
        gc_error_clear(&err);
        gc_arena_fail_after(n);
        gc_graph *g = gc_graph_parse(text, strlen(text), "t.ir", &err);
        gc_arena_fail_after(0);
        if (g) {
            gc_graph_free(g);
            return; /* every allocation site before this one has failed once, cleanly */
        }
        assert_int_equal(err.code, GC_ERR_MEMORY);
    }
    fail_msg("parse still failing after 1000 allocations");
}

/* ---- the golden FileCheck tests cover every op ---- */

static char *read_source_file(const char *relative) {
    const char *dir = getenv("GC_SOURCE_DIR");
    if (!dir) fail_msg("GC_SOURCE_DIR is not set");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, relative);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)size, f), (size_t)size);
    text[size] = '\0';
    fclose(f);
    return text;
}

static void test_filecheck_class_files_cover_every_op(void **state) {
    (void)state;
    /* One golden file per fusion class, each holding every op of its class. */
    static const char *const files[] = {
        [GC_CLASS_SOURCE] = "tests/filecheck/class_source.ir",
        [GC_CLASS_ELEMENTWISE] = "tests/filecheck/class_elementwise.ir",
        [GC_CLASS_REDUCTION] = "tests/filecheck/class_reduction.ir",
        [GC_CLASS_GEMM] = "tests/filecheck/class_gemm.ir",
        [GC_CLASS_MOVEMENT] = "tests/filecheck/class_movement.ir",
        [GC_CLASS_LOOP] = "tests/filecheck/class_loop.ir",
    };
    bool covered[GC_OP_COUNT] = {false};
    for (size_t c = 0; c < sizeof files / sizeof files[0]; c++) {
        char *text = read_source_file(files[c]);
        gc_graph *g = parse_ok(text);
        for (int i = 0; i < g->num_nodes; i++)
            if (gc_op_table[g->nodes[i]->op].op_class == (gc_op_class)c) covered[g->nodes[i]->op] = true;
        gc_graph_free(g);
        free(text);
    }
    char missing[2048] = "";
    for (int op = 0; op < GC_OP_COUNT; op++)
        if (!covered[op])
            snprintf(missing + strlen(missing), sizeof missing - strlen(missing), " %s (in %s)", gc_op_table[op].name,
                     files[gc_op_table[op].op_class]);
    if (missing[0]) fail_msg("ops missing from the golden class files:%s", missing);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_op_round_trips),
        cmocka_unit_test(test_printer_format),
        cmocka_unit_test(test_doubles_read_back_exactly),
        cmocka_unit_test(test_strings_escape_and_round_trip),
        cmocka_unit_test(test_parser_accepts_free_form),
        cmocka_unit_test(test_errors_are_located),
        cmocka_unit_test(test_fuzz_mutations),
        cmocka_unit_test(test_parse_survives_allocation_failures),
        cmocka_unit_test(test_filecheck_class_files_cover_every_op),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
