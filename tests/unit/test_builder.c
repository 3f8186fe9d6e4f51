/*
 * test_builder.c: gc_graph_make's own checks (arity, NULL operands, names, stated types), graph
 * outputs and lookups, and the short-hand builders of ir/build.h, gc_unbroadcast above all: autodiff
 * relies on it to sum a broadcast gradient back to its operand's shape.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ir/build.h"

#define NARGS(...) ((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
#define TY(dt, ...) ((gc_type){.dtype = (dt), .rank = NARGS(__VA_ARGS__), .dims = {__VA_ARGS__}})
#define SCALAR(dt) ((gc_type){.dtype = (dt)})

static const gc_loc LOC = {"b.gm", 12, 3};

typedef struct fixture {
    gc_graph *g;
    gc_error err;
    gc_builder b;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    f->g = gc_graph_new("builder");
    if (!f->g) {
        free(f);
        return -1;
    }
    f->b = (gc_builder){f->g, LOC, &f->err};
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    gc_graph_free(f->g);
    free(f);
    return 0;
}

static const char *fmt(const gc_type *t) {
    static char buf[4][128];
    static int k;
    k = (k + 1) % 4;
    return gc_type_format(t, buf[k], sizeof buf[k]);
}

static gc_node *source(fixture *f, gc_op op, const char *name, gc_type t) {
    gc_node *n = gc_graph_make(f->g, op, NULL, 0, NULL, &t, name, LOC, &f->err);
    if (!n) fail_msg("cannot make %s %s: %s", gc_op_table[op].name, name, f->err.message);
    return n;
}

static void expect_err(fixture *f, gc_error_code code, const char *message) {
    if (f->err.code != code || strcmp(f->err.message, message) != 0)
        fail_msg("error %d '%s', want %d '%s'", f->err.code, f->err.message, code, message);
    memset(&f->err, 0, sizeof f->err);
}

static void test_make_checks(void **state) {
    fixture *f = *state;
    gc_node *x = source(f, GC_OP_INPUT, "x", TY(GC_F32, 2, 3));
    gc_type t = TY(GC_F32, 2, 3);

    /* Arity, in both directions, and for variadic ops. */
    gc_node *three[3] = {x, x, x};
    assert_null(gc_graph_make(f->g, GC_OP_ADD, three, 3, NULL, NULL, NULL, LOC, &f->err));
    expect_err(f, GC_ERR_USER, "add: expects 2 operands, got 3");
    assert_null(gc_graph_make(f->g, GC_OP_INPUT, three, 1, NULL, &t, "y", LOC, &f->err));
    expect_err(f, GC_ERR_USER, "input: expects 0 operands, got 1");
    assert_null(gc_graph_make(f->g, GC_OP_CONCAT, NULL, 0, NULL, NULL, NULL, LOC, &f->err));
    expect_err(f, GC_ERR_USER, "concat: expects at least 1 operand, got 0");
    assert_null(gc_graph_make(f->g, GC_OP_SELECT, three, -1, NULL, NULL, NULL, LOC, &f->err));
    expect_err(f, GC_ERR_USER, "select: expects 3 operands, got -1");

    /* A NULL operand is a bug in the caller, not the user's mistake. */
    gc_node *holes[2] = {x, NULL};
    assert_null(gc_graph_make(f->g, GC_OP_MUL, holes, 2, NULL, NULL, NULL, LOC, &f->err));
    expect_err(f, GC_ERR_INTERNAL, "internal error: mul: operand 1 is NULL");

    /* GIVEN ops need their type; unknown ops are refused. */
    assert_null(gc_graph_make(f->g, GC_OP_RESHAPE, &x, 1, NULL, NULL, NULL, LOC, &f->err));
    expect_err(f, GC_ERR_INTERNAL, "internal error: reshape needs a stated result type");
    assert_null(gc_graph_make(f->g, GC_OP_PARAM, NULL, 0, NULL, NULL, "w", LOC, &f->err));
    expect_err(f, GC_ERR_INTERNAL, "internal error: param needs a stated result type");
    assert_null(gc_graph_make(f->g, GC_OP_COUNT, NULL, 0, NULL, NULL, NULL, LOC, &f->err));
    char unknown[64];
    snprintf(unknown, sizeof unknown, "internal error: unknown op %d", (int)GC_OP_COUNT);
    expect_err(f, GC_ERR_INTERNAL, unknown);

    /* Named ops need a non-empty name; other ops drop one they are given. */
    assert_null(gc_graph_make(f->g, GC_OP_PARAM, NULL, 0, NULL, &t, NULL, LOC, &f->err));
    expect_err(f, GC_ERR_USER, "param: needs a name");
    assert_null(gc_graph_make(f->g, GC_OP_STATE, NULL, 0, NULL, &t, "", LOC, &f->err));
    expect_err(f, GC_ERR_USER, "state: needs a name");
    assert_null(gc_graph_make(f->g, GC_OP_INPUT, NULL, 0, NULL, &t, NULL, LOC, &f->err));
    expect_err(f, GC_ERR_USER, "input: needs a name");
    gc_node *n = gc_graph_make(f->g, GC_OP_NEG, &x, 1, NULL, NULL, "ignored", LOC, &f->err);
    assert_non_null(n);
    assert_null(n->name);

    /* The name, attributes and location are copied, not referenced. */
    char name[16] = "fc.bias", file[16] = "model.gm";
    gc_loc loc = {file, 7, 2};
    gc_node *p = gc_graph_make(f->g, GC_OP_PARAM, NULL, 0, NULL, &t, name, loc, &f->err);
    assert_non_null(p);
    memset(name, 'z', sizeof name - 1);
    memset(file, 'z', sizeof file - 1);
    assert_string_equal(p->name, "fc.bias");
    assert_string_equal(p->loc.file, "model.gm");
    assert_int_equal(p->loc.line, 7);
    assert_int_equal(p->loc.col, 2);
    assert_int_equal(p->id, f->g->num_nodes - 1);
    assert_ptr_equal(f->g->nodes[p->id], p);
    /* A failed make adds nothing. */
    int count = f->g->num_nodes;
    assert_null(gc_graph_make(f->g, GC_OP_ADD, three, 1, NULL, NULL, NULL, LOC, &f->err));
    assert_int_equal(f->g->num_nodes, count);
}

static void test_outputs(void **state) {
    fixture *f = *state;
    gc_node *w = source(f, GC_OP_PARAM, "w", TY(GC_F32, 2, 3));
    gc_node *step = source(f, GC_OP_STATE, "step", SCALAR(GC_I32));
    gc_node *x = source(f, GC_OP_INPUT, "x", TY(GC_F32, 2, 3));
    gc_node *loss = gc_reduce(&f->b, GC_OP_SUM, gc_binary(&f->b, GC_OP_MUL, w, x), 3u, false);
    assert_non_null(loss);
    gc_node *neww = gc_unary(&f->b, GC_OP_NEG, w);
    gc_node *next = gc_add_scalar(&f->b, step, 1);
    gc_node *row = gc_reduce(&f->b, GC_OP_SUM, w, 1u, false);

    assert_true(gc_graph_add_output(f->g, GC_OUTPUT_VALUE, "loss", loss, &f->err));
    assert_false(gc_graph_add_output(f->g, GC_OUTPUT_VALUE, "loss", neww, &f->err));
    expect_err(f, GC_ERR_USER, "output 'loss' is defined twice");
    assert_int_equal(f->err.line, 0);

    assert_true(gc_graph_add_output(f->g, GC_OUTPUT_UPDATE, "w", neww, &f->err));
    assert_false(gc_graph_add_output(f->g, GC_OUTPUT_UPDATE, "w", neww, &f->err));
    expect_err(f, GC_ERR_USER, "update 'w' is defined twice");
    /* The same name may appear once per kind. */
    assert_true(gc_graph_add_output(f->g, GC_OUTPUT_GRAD, "w", neww, &f->err));
    assert_true(gc_graph_add_output(f->g, GC_OUTPUT_VALUE, "w", neww, &f->err));
    assert_true(gc_graph_add_output(f->g, GC_OUTPUT_UPDATE, "step", next, &f->err));

    /* Updates name a param or state; grads a param only; either must keep the exact type. */
    assert_false(gc_graph_add_output(f->g, GC_OUTPUT_UPDATE, "x", neww, &f->err));
    expect_err(f, GC_ERR_USER, "update 'x' names no param, state or buffer");
    assert_false(gc_graph_add_output(f->g, GC_OUTPUT_UPDATE, "nothing", neww, &f->err));
    expect_err(f, GC_ERR_USER, "update 'nothing' names no param, state or buffer");
    assert_false(gc_graph_add_output(f->g, GC_OUTPUT_GRAD, "step", next, &f->err));
    expect_err(f, GC_ERR_USER, "grad 'step' names no param");
    gc_node *w2 = source(f, GC_OP_PARAM, "w2", TY(GC_F32, 2, 3));
    assert_false(gc_graph_add_output(f->g, GC_OUTPUT_GRAD, "w2", row, &f->err));
    expect_err(f, GC_ERR_USER, "grad 'w2': value is f32[3] but the param is f32[2, 3]");
    assert_false(gc_graph_add_output(f->g, GC_OUTPUT_UPDATE, "w2", gc_cast(&f->b, w2, GC_F64), &f->err));
    expect_err(f, GC_ERR_USER, "update 'w2': value is f64[2, 3] but the param is f32[2, 3]");
    gc_node *fstep = gc_cast(&f->b, step, GC_F32);
    assert_false(gc_graph_add_output(f->g, GC_OUTPUT_UPDATE, "step", fstep, &f->err));
    expect_err(f, GC_ERR_USER, "update 'step' is defined twice");
    gc_node *s2 = source(f, GC_OP_STATE, "s2", SCALAR(GC_I32));
    assert_false(gc_graph_add_output(f->g, GC_OUTPUT_UPDATE, "s2", fstep, &f->err));
    expect_err(f, GC_ERR_USER, "update 's2': value is f32[] but the state is i32[]");
    (void)s2;

    /* Caller bugs. */
    assert_false(gc_graph_add_output(f->g, GC_OUTPUT_VALUE, "v", NULL, &f->err));
    expect_err(f, GC_ERR_INTERNAL, "internal error: output needs a name and a value");
    assert_false(gc_graph_add_output(f->g, GC_OUTPUT_VALUE, "", loss, &f->err));
    expect_err(f, GC_ERR_INTERNAL, "internal error: output needs a name and a value");
    assert_false(gc_graph_add_output(f->g, GC_OUTPUT_VALUE, NULL, loss, &f->err));
    expect_err(f, GC_ERR_INTERNAL, "internal error: output needs a name and a value");

    /* Errors about an output point at the value's line. */
    gc_builder at = {f->g, {"m.gm", 30, 4}, &f->err};
    gc_node *located = gc_unary(&at, GC_OP_NEG, x);
    assert_false(gc_graph_add_output(f->g, GC_OUTPUT_UPDATE, "x", located, &f->err));
    assert_string_equal(f->err.file, "m.gm");
    assert_int_equal(f->err.line, 30);
    assert_int_equal(f->err.col, 4);
    memset(&f->err, 0, sizeof f->err);

    assert_int_equal(f->g->num_outputs, 5);
    gc_graph_output *o = gc_graph_find_output(f->g, GC_OUTPUT_GRAD, "w");
    assert_non_null(o);
    assert_ptr_equal(o->value, neww);
    assert_int_equal(o->kind, GC_OUTPUT_GRAD);
    assert_ptr_equal(gc_graph_find_output(f->g, GC_OUTPUT_VALUE, "loss")->value, loss);
    assert_ptr_equal(gc_graph_find_output(f->g, GC_OUTPUT_UPDATE, "step")->value, next);
    assert_null(gc_graph_find_output(f->g, GC_OUTPUT_GRAD, "step"));
    assert_null(gc_graph_find_output(f->g, GC_OUTPUT_VALUE, "lo"));
    assert_string_equal(gc_output_kind_name(GC_OUTPUT_VALUE), "output");
    assert_string_equal(gc_output_kind_name(GC_OUTPUT_UPDATE), "update");
    assert_string_equal(gc_output_kind_name(GC_OUTPUT_GRAD), "grad");
    assert_string_equal(gc_output_kind_name((gc_output_kind)9), "?");

    /* Named lookups are by op and exact name. */
    assert_ptr_equal(gc_graph_find_named(f->g, GC_OP_PARAM, "w"), w);
    assert_ptr_equal(gc_graph_find_named(f->g, GC_OP_STATE, "step"), step);
    assert_ptr_equal(gc_graph_find_named(f->g, GC_OP_INPUT, "x"), x);
    assert_null(gc_graph_find_named(f->g, GC_OP_PARAM, "x"));
    assert_null(gc_graph_find_named(f->g, GC_OP_INPUT, "w"));
    assert_null(gc_graph_find_named(f->g, GC_OP_PARAM, "W"));
    assert_null(gc_graph_find_named(f->g, GC_OP_PARAM, "w "));
}

static void test_many_outputs_grow(void **state) {
    fixture *f = *state;
    gc_node *x = source(f, GC_OP_INPUT, "x", TY(GC_F32, 2));
    for (int i = 0; i < 100; i++) {
        char name[16];
        snprintf(name, sizeof name, "o%d", i);
        assert_true(gc_graph_add_output(f->g, GC_OUTPUT_VALUE, name, x, &f->err));
    }
    for (int i = 0; i < 100; i++) {
        char name[16];
        snprintf(name, sizeof name, "o%d", i);
        gc_graph_output *o = gc_graph_find_output(f->g, GC_OUTPUT_VALUE, name);
        assert_non_null(o);
        assert_string_equal(o->name, name);
        assert_ptr_equal(o, &f->g->outputs[i]);
    }
}

/* The name indexes survive growth: every named node and output is found after thousands were
 * added, the first of two nodes with one op and name wins, and kinds and ops stay apart. */
static void test_many_named_lookups(void **state) {
    fixture *f = *state;
    enum { COUNT = 3000 };
    static gc_node *params[COUNT];
    char name[32];
    for (int i = 0; i < COUNT; i++) {
        snprintf(name, sizeof name, "h.%d.weight", i);
        params[i] = source(f, GC_OP_PARAM, name, TY(GC_F32, 2));
        assert_non_null(params[i]);
        assert_true(gc_graph_add_output(f->g, GC_OUTPUT_GRAD, name, params[i], &f->err));
        if (i % 7 == 0) assert_non_null(source(f, GC_OP_STATE, name, TY(GC_F32, 2)));
    }
    /* A second param of an existing name (the verifier refuses it; lookups keep the first). */
    gc_node *again = source(f, GC_OP_PARAM, "h.5.weight", TY(GC_F32, 2));
    assert_non_null(again);
    for (int i = 0; i < COUNT; i++) {
        snprintf(name, sizeof name, "h.%d.weight", i);
        assert_ptr_equal(gc_graph_find_named(f->g, GC_OP_PARAM, name), params[i]);
        gc_node *state_node = gc_graph_find_named(f->g, GC_OP_STATE, name);
        if (i % 7 == 0) {
            assert_non_null(state_node);
            assert_int_equal(state_node->op, GC_OP_STATE);
        } else {
            assert_null(state_node);
        }
        gc_graph_output *o = gc_graph_find_output(f->g, GC_OUTPUT_GRAD, name);
        assert_non_null(o);
        assert_ptr_equal(o->value, params[i]);
        assert_null(gc_graph_find_output(f->g, GC_OUTPUT_VALUE, name));
    }
    assert_null(gc_graph_find_named(f->g, GC_OP_PARAM, "h.3000.weight"));
    assert_null(gc_graph_find_named(f->g, GC_OP_INPUT, "h.0.weight"));
}

static void test_elementwise_helpers(void **state) {
    fixture *f = *state;
    gc_builder *b = &f->b;
    gc_node *x = source(f, GC_OP_INPUT, "x", TY(GC_F32, 4, 3));
    gc_node *i = source(f, GC_OP_INPUT, "i", TY(GC_I32, 4));

    gc_node *e = gc_unary(b, GC_OP_EXP, x);
    assert_int_equal(e->op, GC_OP_EXP);
    assert_ptr_equal(e->inputs[0], x);
    assert_string_equal(e->loc.file, "b.gm");
    assert_int_equal(e->loc.line, 12);

    gc_node *s = gc_scalar(b, GC_I32, 3);
    assert_int_equal(s->op, GC_OP_CONSTANT);
    assert_string_equal(fmt(&s->type), "i32[]");
    assert_true(s->attr.scalar.value == 3.0);
    gc_node *fill = gc_fill(b, &TY(GC_F64, 2, 2), -0.5);
    assert_string_equal(fmt(&fill->type), "f64[2, 2]");
    assert_true(fill->attr.scalar.value == -0.5);

    gc_node *a = gc_add_scalar(b, i, 2);
    assert_int_equal(a->op, GC_OP_ADD);
    assert_string_equal(fmt(&a->type), "i32[4]");
    assert_int_equal(a->inputs[1]->op, GC_OP_CONSTANT);
    assert_int_equal(a->inputs[1]->type.dtype, GC_I32); /* the constant takes x's dtype */
    assert_true(a->inputs[1]->attr.scalar.value == 2.0);
    gc_node *m = gc_mul_scalar(b, x, 0.25);
    assert_int_equal(m->op, GC_OP_MUL);
    assert_true(m->inputs[1]->attr.scalar.value == 0.25);
    assert_string_equal(fmt(&m->type), "f32[4, 3]");
    gc_node *p = gc_pow_scalar(b, x, 1.5);
    assert_int_equal(p->op, GC_OP_POW);
    assert_true(p->attr.pow.exponent == 1.5);

    gc_node *mask = gc_binary(b, GC_OP_GT, x, gc_scalar(b, GC_F32, 0));
    assert_string_equal(fmt(&mask->type), "f32[4, 3]");
    gc_node *sel = gc_select(b, mask, x, gc_scalar(b, GC_F32, 0));
    assert_int_equal(sel->op, GC_OP_SELECT);
    assert_int_equal(sel->num_inputs, 3);
    assert_ptr_equal(sel->inputs[0], mask);

    /* Casting to the same dtype is the identity; otherwise a cast node. */
    assert_ptr_equal(gc_cast(b, x, GC_F32), x);
    gc_node *c = gc_cast(b, x, GC_I32);
    assert_int_equal(c->op, GC_OP_CAST);
    assert_string_equal(fmt(&c->type), "i32[4, 3]");

    gc_node *oh = gc_one_hot(b, i, 10);
    assert_string_equal(fmt(&oh->type), "f32[4, 10]");
    assert_int_equal(oh->attr.one_hot.depth, 10);
    assert_int_equal(f->err.code, GC_OK);
}

static void test_structural_helpers(void **state) {
    fixture *f = *state;
    gc_builder *b = &f->b;
    gc_node *x = source(f, GC_OP_INPUT, "x", TY(GC_F32, 2, 3, 4));

    gc_node *r = gc_reduce(b, GC_OP_MAX, x, 2u, true);
    assert_int_equal(r->attr.reduce.axes, 2u);
    assert_true(r->attr.reduce.keepdims);
    assert_string_equal(fmt(&r->type), "f32[2, 1, 4]");
    gc_node *am = gc_axis_op(b, GC_OP_ARGMAX, x, 2);
    assert_string_equal(fmt(&am->type), "i32[2, 3]");
    assert_int_equal(am->attr.axis.axis, 2);

    gc_node *w = source(f, GC_OP_PARAM, "w", TY(GC_F32, 5, 4));
    gc_node *mm = gc_matmul(b, x, w, false, true);
    assert_true(mm->attr.matmul.transpose_b);
    assert_false(mm->attr.matmul.transpose_a);
    assert_string_equal(fmt(&mm->type), "f32[2, 3, 5]");

    /* Reshape and broadcast to the same shape return the operand itself. */
    assert_ptr_equal(gc_reshape(b, x, 3, (int64_t[]){2, 3, 4}), x);
    gc_node *flat = gc_reshape(b, x, 2, (int64_t[]){6, 4});
    assert_int_equal(flat->op, GC_OP_RESHAPE);
    assert_string_equal(fmt(&flat->type), "f32[6, 4]");
    assert_ptr_equal(gc_broadcast_to(b, x, &TY(GC_I32, 2, 3, 4)), x); /* dtype comes from x */
    gc_node *bc = gc_broadcast_to(b, x, &TY(GC_I32, 5, 2, 3, 4));
    assert_int_equal(bc->op, GC_OP_BROADCAST);
    assert_string_equal(fmt(&bc->type), "f32[5, 2, 3, 4]");

    gc_node *pm = gc_permute(b, x, (int[]){2, 0, 1});
    assert_string_equal(fmt(&pm->type), "f32[4, 2, 3]");
    assert_int_equal(pm->attr.permute.perm[0], 2);
    for (int k = 3; k < GC_MAX_RANK; k++) assert_int_equal(pm->attr.permute.perm[k], 0);

    gc_node *sl = gc_slice(b, x, 2, 1, 3);
    assert_string_equal(fmt(&sl->type), "f32[2, 3, 2]");
    assert_int_equal(sl->attr.slice.start, 1);
    gc_node *pd = gc_pad(b, sl, 2, 1, 1);
    assert_string_equal(fmt(&pd->type), "f32[2, 3, 4]");
    assert_int_equal(pd->attr.pad.after, 1);
    gc_node *cat = gc_concat(b, (gc_node *[]){x, pd, x}, 3, 1);
    assert_string_equal(fmt(&cat->type), "f32[2, 9, 4]");
    assert_int_equal(cat->num_inputs, 3);
    assert_int_equal(f->err.code, GC_OK);
}

static void test_error_chains(void **state) {
    fixture *f = *state;
    gc_builder *b = &f->b;
    gc_node *x = source(f, GC_OP_INPUT, "x", TY(GC_F32, 2, 3));
    gc_node *i = source(f, GC_OP_INPUT, "i", TY(GC_I32, 2));
    /* The first failure sets the error; the calls that consume its NULL leave it alone. */
    gc_node *bad = gc_binary(b, GC_OP_ADD, x, gc_scalar(b, GC_I32, 1));
    assert_null(bad);
    assert_string_equal(f->err.message, "add: operand dtypes differ: f32[2, 3] and i32[]");
    assert_int_equal(f->err.line, 12);
    assert_null(gc_unary(b, GC_OP_EXP, bad));
    assert_null(gc_binary(b, GC_OP_MUL, x, bad));
    assert_null(gc_select(b, bad, x, x));
    assert_null(gc_add_scalar(b, bad, 1));
    assert_null(gc_mul_scalar(b, bad, 1));
    assert_null(gc_pow_scalar(b, bad, 2));
    assert_null(gc_reduce(b, GC_OP_SUM, bad, 1u, false));
    assert_null(gc_axis_op(b, GC_OP_SOFTMAX, bad, 0));
    assert_null(gc_matmul(b, bad, x, false, false));
    assert_null(gc_reshape(b, bad, 1, (int64_t[]){6}));
    assert_null(gc_broadcast_to(b, bad, &x->type));
    assert_null(gc_permute(b, bad, (int[]){1, 0}));
    assert_null(gc_slice(b, bad, 0, 0, 1));
    assert_null(gc_pad(b, bad, 0, 0, 1));
    assert_null(gc_concat(b, (gc_node *[]){x, bad}, 2, 0));
    assert_null(gc_cast(b, bad, GC_F64));
    assert_null(gc_one_hot(b, bad, 3));
    assert_null(gc_unbroadcast(b, bad, &x->type));
    assert_string_equal(f->err.message, "add: operand dtypes differ: f32[2, 3] and i32[]");

    memset(&f->err, 0, sizeof f->err);
    assert_null(gc_pow_scalar(b, i, 2));
    assert_string_equal(f->err.message, "pow: needs a float operand, got i32[2]");
    /* A rank over 6 asked of gc_reshape is refused, without writing past the type's dims. */
    memset(&f->err, 0, sizeof f->err);
    assert_null(gc_reshape(b, x, 7, (int64_t[]){1, 1, 1, 1, 1, 2, 3}));
    assert_string_equal(f->err.message, "reshape: rank 7 is outside 0..6");
    memset(&f->err, 0, sizeof f->err);
    assert_null(gc_reshape(b, x, 2, (int64_t[]){3, 3}));
    assert_string_equal(f->err.message, "reshape: element counts differ: f32[2, 3] to f32[3, 3]");
}

/* gc_unbroadcast(x, shape) must produce shape by summing exactly the broadcast dims. Returns the
 * sum node (or NULL when no sum was needed) after checking the structure. */
static const gc_node *unbroadcast(fixture *f, gc_type xt, gc_type shape, uint32_t want_axes) {
    static int k;
    char name[16];
    snprintf(name, sizeof name, "u%d", k++);
    gc_node *x = source(f, GC_OP_INPUT, name, xt);
    gc_node *r = gc_unbroadcast(&f->b, x, &shape);
    if (!r) fail_msg("unbroadcast %s to %s: %s", fmt(&xt), fmt(&shape), f->err.message);
    if (!gc_type_equal(&r->type, &shape))
        fail_msg("unbroadcast %s to %s gave %s", fmt(&xt), fmt(&shape), fmt(&r->type));
    if (want_axes == 0) {
        assert_ptr_equal(r, x);
        return NULL;
    }
    const gc_node *sum = r->op == GC_OP_RESHAPE ? r->inputs[0] : r;
    assert_int_equal(sum->op, GC_OP_SUM);
    assert_ptr_equal(sum->inputs[0], x);
    if (sum->attr.reduce.axes != want_axes)
        fail_msg("unbroadcast %s to %s summed axes 0x%x, want 0x%x", fmt(&xt), fmt(&shape),
                 sum->attr.reduce.axes, want_axes);
    /* A reshape only when the kept dims differ from the target (leading dims removed). */
    assert_int_equal(r->op == GC_OP_RESHAPE, xt.rank != shape.rank);
    return sum;
}

static void test_unbroadcast(void **state) {
    fixture *f = *state;
    /* Leading dims. */
    unbroadcast(f, TY(GC_F32, 4, 2, 3), TY(GC_F32, 2, 3), 1u);
    unbroadcast(f, TY(GC_F32, 5, 4, 2, 3), TY(GC_F32, 3), 7u);
    unbroadcast(f, TY(GC_F32, 5, 2, 3), SCALAR(GC_F32), 7u);
    /* Size-1 dims. */
    unbroadcast(f, TY(GC_F32, 2, 3), TY(GC_F32, 2, 1), 2u);
    unbroadcast(f, TY(GC_F32, 2, 3), TY(GC_F32, 1, 3), 1u);
    unbroadcast(f, TY(GC_F32, 2, 3), TY(GC_F32, 1, 1), 3u);
    /* Both at once; dims that are 1 in both are left alone. */
    unbroadcast(f, TY(GC_F32, 4, 2, 3), TY(GC_F32, 1, 3), 3u);
    unbroadcast(f, TY(GC_F32, 3, 1, 4), TY(GC_F32, 1, 4), 1u);
    unbroadcast(f, TY(GC_F32, 2, 3), TY(GC_F32, 1), 3u);
    unbroadcast(f, TY(GC_I32, 6, 2, 1, 5), TY(GC_I32, 2, 1, 1), 9u);
    /* Nothing to do. */
    unbroadcast(f, TY(GC_F32, 2, 3), TY(GC_F32, 2, 3), 0u);
    unbroadcast(f, SCALAR(GC_F32), SCALAR(GC_F32), 0u);
    const gc_node *kept = unbroadcast(f, TY(GC_F32, 2, 3), TY(GC_F32, 2, 1), 2u);
    assert_true(kept->attr.reduce.keepdims);
    /* A target x does not broadcast to is an error, not a wrong graph. */
    gc_node *x = source(f, GC_OP_INPUT, "bad", TY(GC_F32, 2, 3));
    assert_null(gc_unbroadcast(&f->b, x, &TY(GC_F32, 4)));
    assert_int_equal(f->err.code, GC_ERR_USER);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_make_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outputs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_outputs_grow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_named_lookups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_elementwise_helpers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_structural_helpers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_chains, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unbroadcast, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
