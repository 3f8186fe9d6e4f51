/*
 * test_verify.c: gc_graph_verify catches each invariant broken on purpose.
 *
 * Every case builds the same valid graph, checks it verifies, breaks exactly one thing the way a
 * buggy pass would (rewiring an operand, editing a type, renaming a source...) and expects an
 * internal error whose message names the problem.
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
#include "ir/text.h"

typedef struct fixture {
    gc_graph *g;
    gc_node *x, *w, *state, *mm, *act, *loss, *softmax, *grad_w, *new_state;
    gc_graph *other; /* a second graph, for nodes that do not belong to g */
    gc_node *foreign;
} fixture;

/* %0 x f32[4,3], %1 w f32[3,2], %2 m f32[3,2], %3 matmul, %4 relu, %5 sum, %6 softmax,
 * %7 w*2 (grad), %8 m*0.5 (update) */
static void build(fixture *f) {
    gc_error err;
    gc_error_clear(&err);
    f->g = gc_graph_new("v");
    gc_builder b = {f->g, {"v.gm", 3, 1}, &err};
    const int64_t dx[] = {4, 3}, dw[] = {3, 2};
    gc_type tx = gc_type_make(GC_F32, 2, dx), tw = gc_type_make(GC_F32, 2, dw);
    f->x = gc_graph_make(f->g, GC_OP_INPUT, NULL, 0, NULL, &tx, "x", b.loc, &err);
    f->w = gc_graph_make(f->g, GC_OP_PARAM, NULL, 0, NULL, &tw, "w", b.loc, &err);
    f->state = gc_graph_make(f->g, GC_OP_STATE, NULL, 0, NULL, &tw, "m", b.loc, &err);
    f->mm = gc_matmul(&b, f->x, f->w, false, false);
    f->act = gc_unary(&b, GC_OP_RELU, f->mm);
    f->loss = gc_reduce(&b, GC_OP_SUM, f->act, 0x3, false);
    f->softmax = gc_axis_op(&b, GC_OP_SOFTMAX, f->act, 1);
    f->grad_w = gc_binary(&b, GC_OP_MUL, f->w, f->w);
    f->new_state = gc_binary(&b, GC_OP_ADD, f->state, f->state);
    assert_non_null(f->new_state);
    assert_true(gc_graph_add_output(f->g, GC_OUTPUT_VALUE, "loss", f->loss, &err));
    assert_true(gc_graph_add_output(f->g, GC_OUTPUT_GRAD, "w", f->grad_w, &err));
    assert_true(gc_graph_add_output(f->g, GC_OUTPUT_UPDATE, "m", f->new_state, &err));
    f->other = gc_graph_new("other");
    f->foreign = gc_graph_make(f->other, GC_OP_INPUT, NULL, 0, NULL, &tx, "x", b.loc, &err);
    assert_non_null(f->foreign);
    gc_error verr;
    gc_error_clear(&verr);
    if (!gc_graph_verify(f->g, &verr)) fail_msg("the unbroken graph does not verify: %s", verr.message);
}

static void teardown(fixture *f) {
    gc_graph_free(f->g);
    gc_graph_free(f->other);
}

static void expect_caught(fixture *f, const char *what) {
    gc_error err;
    gc_error_clear(&err);
    if (gc_graph_verify(f->g, &err)) fail_msg("verifier missed: %s", what);
    assert_int_equal(err.code, GC_ERR_INTERNAL);
    if (!strstr(err.message, what)) fail_msg("want '%s' in '%s'", what, err.message);
    teardown(f);
}

static void test_valid_graph_and_parsed_graphs_verify(void **state) {
    (void)state;
    fixture f;
    build(&f);
    char *text = gc_graph_print(f.g);
    gc_error err;
    gc_error_clear(&err);
    gc_graph *back = gc_graph_parse(text, strlen(text), "v.ir", &err);
    assert_non_null(back);
    assert_true(gc_graph_verify(back, &err));
    gc_graph_free(back);
    free(text);
    teardown(&f);
}

static void test_id_must_match_position(void **state) {
    (void)state;
    fixture f;
    build(&f);
    f.act->id = 7;
    expect_caught(&f, "the node at position 4 has id %7");
}

static void test_operand_must_precede_user(void **state) {
    (void)state;
    fixture f;
    build(&f);
    f.act->inputs[0] = f.softmax; /* %6 feeding %4: a cycle-shaped forward reference */
    expect_caught(&f, "operand 0 of %4 (relu) is %6, which does not come before it");
}

static void test_operand_must_not_be_itself(void **state) {
    (void)state;
    fixture f;
    build(&f);
    f.act->inputs[0] = f.act;
    expect_caught(&f, "operand 0 of %4 (relu) is %4, which does not come before it");
}

static void test_operand_must_belong_to_graph(void **state) {
    (void)state;
    fixture f;
    build(&f);
    f.mm->inputs[0] = f.foreign; /* same id and type as x, different graph */
    expect_caught(&f, "operand 0 of %3 (matmul) is not a node of this graph");
}

static void test_operand_must_not_be_null(void **state) {
    (void)state;
    fixture f;
    build(&f);
    f.mm->inputs[1] = NULL;
    expect_caught(&f, "operand 1 of %3 (matmul) is NULL");
}

static void test_arity(void **state) {
    (void)state;
    fixture f;
    build(&f);
    f.grad_w->num_inputs = 1;
    expect_caught(&f, "%7 (mul) has 1 operands; the op takes 2");
}

static void test_stored_type_must_match_shape_rule(void **state) {
    (void)state;
    fixture f;
    build(&f);
    f.act->type.dims[1] = 3;
    /* The grad output still matches w; the first complaint is relu's own type. */
    expect_caught(&f, "%4 (relu) has type f32[4, 3] but its shape rule gives f32[4, 2]");
}

static void test_dtype_must_match_shape_rule(void **state) {
    (void)state;
    fixture f;
    build(&f);
    f.loss->type.dtype = GC_F64;
    expect_caught(&f, "%5 (sum) has type f64[] but its shape rule gives f32[]");
}

static void test_attribute_out_of_range(void **state) {
    (void)state;
    fixture f;
    build(&f);
    f.softmax->attr.axis.axis = 2; /* operand has rank 2 */
    expect_caught(&f, "%6 (softmax) fails its shape rule: softmax: axis 2 is out of range for rank 2");
}

static void test_reduce_axes_beyond_rank(void **state) {
    (void)state;
    fixture f;
    build(&f);
    f.loss->attr.reduce.axes = 0x7;
    expect_caught(&f, "%5 (sum) fails its shape rule: sum: axes name a dim beyond rank 2");
}

static void test_rank_over_six(void **state) {
    (void)state;
    fixture f;
    build(&f);
    f.x->type.rank = 7;
    expect_caught(&f, "%0 (input) has rank 7, outside 0..6");
}

static void test_dims_at_least_one(void **state) {
    (void)state;
    fixture f;
    build(&f);
    f.w->type.dims[0] = 0;
    expect_caught(&f, "%1 (param) has dimension 0 of size 0");
}

static void test_named_sources_unique(void **state) {
    (void)state;
    fixture f;
    build(&f);
    /* Uniqueness is per kind: a state may share its param's name (the update then targets the
     * param, which has the same type here)... */
    f.state->name = "w";
    f.g->outputs[2].name = "w";
    gc_error err;
    gc_error_clear(&err);
    if (!gc_graph_verify(f.g, &err)) fail_msg("a param and a state named alike were rejected: %s", err.message);
    /* ...but two params may not. */
    f.state->op = GC_OP_PARAM;
    expect_caught(&f, "param \"w\" is defined twice (%1 and %2)");
}

static void test_named_sources_non_empty(void **state) {
    (void)state;
    fixture f;
    build(&f);
    f.x->name = "";
    expect_caught(&f, "%0 (input) has no name");
}

static void test_unnamed_op_has_no_name(void **state) {
    (void)state;
    fixture f;
    build(&f);
    f.act->name = "stray";
    expect_caught(&f, "%4 (relu) carries a name but the op is not named");
}

static void test_output_must_reference_graph_node(void **state) {
    (void)state;
    fixture f;
    build(&f);
    f.g->outputs[0].value = f.foreign;
    expect_caught(&f, "output \"loss\" does not name a node of this graph");
}

static void test_output_names_unique(void **state) {
    (void)state;
    fixture f;
    build(&f);
    f.g->outputs[2].kind = GC_OUTPUT_GRAD;
    f.g->outputs[2].name = "w";
    f.g->outputs[2].value = f.grad_w;
    expect_caught(&f, "grad \"w\" is defined twice");
}

static void test_update_must_match_type(void **state) {
    (void)state;
    fixture f;
    build(&f);
    f.g->outputs[2].value = f.mm; /* f32[4, 2] for a state of f32[3, 2] */
    expect_caught(&f, "update \"m\" is f32[4, 2] but the state is f32[3, 2]");
}

static void test_grad_must_name_a_param(void **state) {
    (void)state;
    fixture f;
    build(&f);
    f.g->outputs[1].name = "m"; /* m is a state: no gradient is taken for it */
    f.g->outputs[1].value = f.new_state;
    expect_caught(&f, "grad \"m\" names no param");
}

/* Buffers (batch norm's running statistics): an update writes them, a grad never names them, and
 * they share no name with a param or state, whose update would then be ambiguous. */
static void test_buffers(void **state) {
    (void)state;
    fixture f;
    build(&f);
    f.state->op = GC_OP_BUFFER; /* update "m" now writes a buffer */
    gc_error err;
    gc_error_clear(&err);
    if (!gc_graph_verify(f.g, &err)) fail_msg("a buffer with an update was rejected: %s", err.message);
    f.g->outputs[1].name = "m";
    f.g->outputs[1].value = f.new_state;
    expect_caught(&f, "grad \"m\" names no param");

    build(&f);
    f.state->op = GC_OP_BUFFER;
    f.state->name = "w";
    f.g->outputs[2].name = "w";
    expect_caught(&f, "buffer \"w\" (%2) has the name of param %1");

    build(&f);
    f.state->op = GC_OP_BUFFER;
    f.g->outputs[2].value = f.grad_w; /* f32[3, 2] too, so only the name is wrong */
    f.g->outputs[2].name = "nothing";
    expect_caught(&f, "update \"nothing\" names no param, state or buffer");
}

static void test_output_name_non_empty(void **state) {
    (void)state;
    fixture f;
    build(&f);
    f.g->outputs[0].name = "";
    expect_caught(&f, "output 0 has no name");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_graph_and_parsed_graphs_verify),
        cmocka_unit_test(test_id_must_match_position),
        cmocka_unit_test(test_operand_must_precede_user),
        cmocka_unit_test(test_operand_must_not_be_itself),
        cmocka_unit_test(test_operand_must_belong_to_graph),
        cmocka_unit_test(test_operand_must_not_be_null),
        cmocka_unit_test(test_arity),
        cmocka_unit_test(test_stored_type_must_match_shape_rule),
        cmocka_unit_test(test_dtype_must_match_shape_rule),
        cmocka_unit_test(test_attribute_out_of_range),
        cmocka_unit_test(test_reduce_axes_beyond_rank),
        cmocka_unit_test(test_rank_over_six),
        cmocka_unit_test(test_dims_at_least_one),
        cmocka_unit_test(test_named_sources_unique),
        cmocka_unit_test(test_named_sources_non_empty),
        cmocka_unit_test(test_unnamed_op_has_no_name),
        cmocka_unit_test(test_output_must_reference_graph_node),
        cmocka_unit_test(test_output_names_unique),
        cmocka_unit_test(test_update_must_match_type),
        cmocka_unit_test(test_grad_must_name_a_param),
        cmocka_unit_test(test_output_name_non_empty),
        cmocka_unit_test(test_buffers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
