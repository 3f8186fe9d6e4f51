/*
 * test_op_table.c: invariants of ir/ops.def and ir/attrs.def. The table is expanded here a second
 * time, with every column stringized, and compared against the library's gc_op_table, so a row
 * that breaks a convention (a DIFF flag without a gradient rule, a named op that is not a source,
 * an attribute kind nobody uses) fails here rather than in a pass far away.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ir/graph.h"

/* The shape rules the table names, declared from the table itself. */
#define GC_OP(E, name, arity, attr, cls, flags, shape, grad, doc) \
    int gc_shape_##shape(const gc_node *, gc_type *, gc_error *);
#include "ir/ops.def"
#undef GC_OP

typedef struct row {
    const char *enum_name, *name;
    int arity;
    gc_attr_kind attr;
    const char *attr_name;
    gc_op_class cls;
    unsigned flags;
    const char *shape_name;
    gc_shape_rule shape;
    const char *grad;
    const char *doc;
} row;

static const row rows[] = {
#define GC_OP(E, n, ar, at, cl, fl, sh, gr, dc) \
    {#E, #n, ar, GC_ATTR_##at, #at, GC_CLASS_##cl, fl, #sh, gc_shape_##sh, #gr, dc},
#include "ir/ops.def"
#undef GC_OP
};
enum { ROWS = sizeof rows / sizeof rows[0] };
_Static_assert((int)ROWS == (int)GC_OP_COUNT, "one row per op");

static void test_library_table_matches_ops_def(void **state) {
    (void)state;
    for (int i = 0; i < ROWS; i++) {
        const gc_op_info *info = gc_op_get((gc_op)i);
        assert_non_null(info);
        assert_ptr_equal(info, &gc_op_table[i]);
        assert_string_equal(info->name, rows[i].name);
        assert_int_equal(info->arity, rows[i].arity);
        assert_int_equal(info->attr_kind, rows[i].attr);
        assert_int_equal(info->op_class, rows[i].cls);
        assert_int_equal(info->flags, rows[i].flags);
        assert_ptr_equal(info->shape, rows[i].shape);
        assert_string_equal(info->doc, rows[i].doc);
    }
    assert_null(gc_op_get(GC_OP_COUNT));
    assert_null(gc_op_get((gc_op)-1));
}

static void test_names_unique_and_round_trip(void **state) {
    (void)state;
    for (int i = 0; i < ROWS; i++) {
        const char *n = rows[i].name;
        assert_true(strlen(n) > 0);
        /* Names are lower-case identifiers, as the IR lexer reads them. */
        for (const char *p = n; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
                fail_msg("op name '%s' has character '%c'", n, *p);
        /* The enum suffix is the upper-case name. */
        char upper[64];
        size_t len = strlen(n);
        assert_true(len < sizeof upper);
        for (size_t k = 0; k <= len; k++) upper[k] = (char)(n[k] >= 'a' && n[k] <= 'z' ? n[k] - 32 : n[k]);
        assert_string_equal(upper, rows[i].enum_name);
        for (int j = 0; j < i; j++)
            if (strcmp(rows[j].name, n) == 0) fail_msg("op name '%s' appears twice", n);
        gc_op op = GC_OP_COUNT;
        assert_true(gc_op_from_name(n, len, &op));
        assert_int_equal(op, i);
    }
    gc_op op = GC_OP_ADD;
    assert_false(gc_op_from_name("ad", 2, &op));
    assert_false(gc_op_from_name("addd", 4, &op));
    assert_false(gc_op_from_name("ADD", 3, &op));
    assert_false(gc_op_from_name("", 0, &op));
    assert_int_equal(op, GC_OP_ADD); /* untouched on failure */
    /* Length-delimited: "sum(" names sum. */
    assert_true(gc_op_from_name("sum(%1)", 3, &op));
    assert_int_equal(op, GC_OP_SUM);
}

static void test_diff_flag_iff_grad_rule(void **state) {
    (void)state;
    for (int i = 0; i < ROWS; i++) {
        bool has_rule = strcmp(rows[i].grad, "GRAD_NONE") != 0;
        bool diff = (rows[i].flags & GC_FLAG_DIFF) != 0;
        if (diff != has_rule)
            fail_msg("op %s: DIFF flag %s but grad column is %s", rows[i].name, diff ? "set" : "clear", rows[i].grad);
        if (has_rule) {
            /* The rule is grad_<name>, as ops.def promises autodiff. */
            char want[80];
            snprintf(want, sizeof want, "grad_%s", rows[i].name);
            assert_string_equal(rows[i].grad, want);
        }
    }
}

static void test_arity_class_and_flags(void **state) {
    (void)state;
    const unsigned known = GC_FLAG_DIFF | GC_FLAG_GIVEN | GC_FLAG_NAMED | GC_FLAG_COMMUTES;
    for (int i = 0; i < ROWS; i++) {
        const row *r = &rows[i];
        assert_true(r->arity >= -1 && r->arity <= 3);
        assert_true((r->flags & ~known) == 0);
        assert_true((unsigned)r->attr < GC_ATTR_COUNT);
        assert_true(r->cls >= GC_CLASS_SOURCE && r->cls <= GC_CLASS_LOOP);
        /* Nothing to derive a type from: the builder must state it, or the op is a source. */
        if (r->arity == 0 && r->cls != GC_CLASS_SOURCE && !(r->flags & GC_FLAG_GIVEN))
            fail_msg("op %s has no operands but is neither SOURCE nor GIVEN", r->name);
        /* Sources have no operands and no gradient. */
        if (r->cls == GC_CLASS_SOURCE) {
            assert_int_equal(r->arity, 0);
            assert_false(r->flags & GC_FLAG_DIFF);
        }
        /* Commuting only makes sense for two operands. */
        if (r->flags & GC_FLAG_COMMUTES) assert_int_equal(r->arity, 2);
        /* A stated type needs a rule that checks it; the plain unary rule would ignore it. */
        if (r->flags & GC_FLAG_GIVEN) assert_string_not_equal(r->shape_name, "unary");
    }
}

static void test_named_ops_are_the_sources(void **state) {
    (void)state;
    const gc_op named[] = {GC_OP_INPUT, GC_OP_PARAM, GC_OP_STATE, GC_OP_BUFFER};
    int count = 0;
    for (int i = 0; i < ROWS; i++) {
        bool is_named = (rows[i].flags & GC_FLAG_NAMED) != 0;
        bool listed = false;
        for (size_t k = 0; k < sizeof named / sizeof named[0]; k++) listed |= i == (int)named[k];
        if (is_named != listed) fail_msg("op %s: NAMED flag does not match input/param/state/buffer", rows[i].name);
        if (is_named) {
            count++;
            assert_int_equal(rows[i].attr, GC_ATTR_NAME);
            assert_true(rows[i].flags & GC_FLAG_GIVEN);
        } else {
            assert_int_not_equal(rows[i].attr, GC_ATTR_NAME);
        }
    }
    assert_int_equal(count, 4);
    assert_string_equal(gc_op_table[GC_OP_INPUT].name, "input");
    assert_string_equal(gc_op_table[GC_OP_PARAM].name, "param");
    assert_string_equal(gc_op_table[GC_OP_STATE].name, "state");
    assert_string_equal(gc_op_table[GC_OP_BUFFER].name, "buffer");
}

static void test_every_attr_kind_used(void **state) {
    (void)state;
    for (int k = 0; k < GC_ATTR_COUNT; k++) {
        int users = 0;
        for (int i = 0; i < ROWS; i++) users += rows[i].attr == (gc_attr_kind)k;
        if (!users) fail_msg("attribute kind %s is used by no op", gc_attr_kind_name((gc_attr_kind)k));
    }
    /* The kind's name in attrs.def is the stringized ATTR column, lower-cased into its member. */
    for (int i = 0; i < ROWS; i++) assert_string_not_equal(gc_attr_kind_name(rows[i].attr), "?");
    assert_string_equal(gc_attr_kind_name(GC_ATTR_REDUCE), "reduce");
    assert_string_equal(gc_attr_kind_name(GC_ATTR_COUNT), "?");
}

static void test_attr_fields(void **state) {
    (void)state;
    assert_true(gc_attr_field_count > 0);
    int last_kind = -1;
    for (int i = 0; i < gc_attr_field_count; i++) {
        const gc_attr_field *fd = &gc_attr_fields[i];
        assert_true((unsigned)fd->kind < GC_ATTR_COUNT);
        assert_true(fd->field_kind >= GC_FIELD_INT && fd->field_kind <= GC_FIELD_FLAG);
        assert_true(fd->name && *fd->name);
        assert_true(fd->offset < sizeof(gc_attr));
        /* In attrs.def order: kinds never go back, so the printer emits each kind's fields together. */
        assert_true((int)fd->kind >= last_kind);
        last_kind = (int)fd->kind;
        for (int j = 0; j < i; j++) {
            if (gc_attr_fields[j].kind == fd->kind) {
                assert_string_not_equal(gc_attr_fields[j].name, fd->name);
                assert_true(gc_attr_fields[j].offset < fd->offset);
            }
        }
    }
    /* Spot checks against the struct layout. */
    int found = 0;
    for (int i = 0; i < gc_attr_field_count; i++) {
        const gc_attr_field *fd = &gc_attr_fields[i];
        if (fd->kind == GC_ATTR_SLICE && strcmp(fd->name, "end") == 0) {
            assert_int_equal(fd->offset, offsetof(gc_attr, slice.end));
            assert_int_equal(fd->field_kind, GC_FIELD_INT64);
            found++;
        }
        if (fd->kind == GC_ATTR_REDUCE && strcmp(fd->name, "axes") == 0) {
            assert_int_equal(fd->field_kind, GC_FIELD_AXES);
            found++;
        }
        if (fd->kind == GC_ATTR_PERMUTE) {
            assert_int_equal(fd->field_kind, GC_FIELD_PERM);
            found++;
        }
    }
    assert_int_equal(found, 3);
}

static void test_docs_and_class_names(void **state) {
    (void)state;
    for (int i = 0; i < ROWS; i++) {
        const char *d = rows[i].doc;
        if (!d || !*d) fail_msg("op %s has no doc", rows[i].name);
        /* One line for docs/ir.md. */
        assert_null(strchr(d, '\n'));
        assert_true(d[0] != ' ' && d[strlen(d) - 1] != ' ');
    }
    const char *names[] = {"source", "elementwise", "reduction", "gemm", "movement", "loop"};
    for (int c = GC_CLASS_SOURCE; c <= GC_CLASS_LOOP; c++)
        assert_string_equal(gc_op_class_name((gc_op_class)c), names[c]);
    assert_string_equal(gc_op_class_name((gc_op_class)99), "?");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_library_table_matches_ops_def),
        cmocka_unit_test(test_names_unique_and_round_trip),
        cmocka_unit_test(test_diff_flag_iff_grad_rule),
        cmocka_unit_test(test_arity_class_and_flags),
        cmocka_unit_test(test_named_ops_are_the_sources),
        cmocka_unit_test(test_every_attr_kind_used),
        cmocka_unit_test(test_attr_fields),
        cmocka_unit_test(test_docs_and_class_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
