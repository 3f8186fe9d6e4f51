/*
 * test_types.c: dtypes, static tensor types, their text form, strides and NumPy broadcasting.
 * The broadcasting cases follow NumPy's documented rules (right-aligned dims, equal or 1).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ir/types.h"

/* A type from a dims list written inline: T(GC_F32, 2, 3) is f32[2, 3]. */
#define T(dt, ...) make_type(dt, (int64_t[]){__VA_ARGS__}, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
static gc_type make_type(gc_dtype dt, const int64_t *dims, int rank) { return gc_type_make(dt, rank, dims); }

static const char *fmt(const gc_type *t) {
    static char buf[4][128];
    static int k;
    k = (k + 1) % 4;
    return gc_type_format(t, buf[k], sizeof buf[k]);
}

static void test_dtype_names_and_sizes(void **state) {
    (void)state;
    assert_string_equal(gc_dtype_name(GC_F32), "f32");
    assert_string_equal(gc_dtype_name(GC_I32), "i32");
    assert_string_equal(gc_dtype_name(GC_F64), "f64");
    assert_string_equal(gc_dtype_name((gc_dtype)17), "?");
    assert_string_equal(gc_dtype_name((gc_dtype)-1), "?");
    assert_int_equal(gc_dtype_size(GC_F32), 4);
    assert_int_equal(gc_dtype_size(GC_I32), 4);
    assert_int_equal(gc_dtype_size(GC_F64), 8);
    /* Out-of-range values answer 0 instead of reading past the table. */
    assert_int_equal(gc_dtype_size((gc_dtype)17), 0);
    assert_true(gc_dtype_is_float(GC_F32));
    assert_true(gc_dtype_is_float(GC_F64));
    assert_false(gc_dtype_is_float(GC_I32));
}

static void test_dtype_parsing(void **state) {
    (void)state;
    gc_dtype d = (gc_dtype)99;
    assert_true(gc_dtype_from_name("f32", 3, &d));
    assert_int_equal(d, GC_F32);
    assert_true(gc_dtype_from_name("i32", 3, &d));
    assert_int_equal(d, GC_I32);
    assert_true(gc_dtype_from_name("f64", 3, &d));
    assert_int_equal(d, GC_F64);
    /* Length-delimited: a prefix of a longer token. */
    assert_true(gc_dtype_from_name("f64[2, 3]", 3, &d));
    assert_int_equal(d, GC_F64);
    d = GC_I32;
    assert_false(gc_dtype_from_name("f32", 2, &d));
    assert_false(gc_dtype_from_name("f32x", 4, &d));
    assert_false(gc_dtype_from_name("F32", 3, &d));
    assert_false(gc_dtype_from_name("i64", 3, &d));
    assert_false(gc_dtype_from_name("", 0, &d));
    assert_int_equal(d, GC_I32); /* untouched on failure */
}

static void test_make_numel_equal(void **state) {
    (void)state;
    gc_type s = gc_type_scalar(GC_F64);
    assert_int_equal(s.rank, 0);
    assert_int_equal(s.dtype, GC_F64);
    assert_int_equal(gc_type_numel(&s), 1);
    gc_type a = T(GC_F32, 2, 3, 4);
    assert_int_equal(a.rank, 3);
    assert_int_equal(a.dims[2], 4);
    assert_int_equal(a.dims[3], 0); /* unused dims are zero, so whole-struct compares work */
    assert_int_equal(gc_type_numel(&a), 24);
    gc_type big = T(GC_F32, 1 << 20, 1 << 20);
    assert_int_equal(gc_type_numel(&big), (int64_t)1 << 40);
    gc_type b = T(GC_I32, 2, 3, 4), c = T(GC_F32, 2, 4, 3), d = T(GC_F32, 2, 3, 4, 1);
    assert_true(gc_type_equal(&a, &a));
    assert_false(gc_type_equal(&a, &b));
    assert_true(gc_type_same_shape(&a, &b));
    assert_false(gc_type_same_shape(&a, &c));
    assert_false(gc_type_same_shape(&a, &d));
    gc_type s32 = gc_type_scalar(GC_F32), one = T(GC_F32, 1);
    assert_false(gc_type_same_shape(&s32, &one));
}

static void test_numel_saturates(void **state) {
    (void)state;
    /* Products beyond int64 must not overflow (undefined behaviour) but stay above the limit, so
     * callers comparing against GC_MAX_ELEMENTS reject them. */
    int64_t huge = (int64_t)1 << 40;
    gc_type t = T(GC_F32, huge, huge, huge, huge, huge, huge);
    assert_true(gc_type_numel(&t) > GC_MAX_ELEMENTS);
    gc_type u = T(GC_F32, INT64_MAX, 2);
    assert_true(gc_type_numel(&u) > GC_MAX_ELEMENTS);
    gc_type v = T(GC_F32, (int64_t)1 << 41, 1);
    assert_true(gc_type_numel(&v) > GC_MAX_ELEMENTS);
}

static void test_format(void **state) {
    (void)state;
    gc_type s = gc_type_scalar(GC_F32);
    assert_string_equal(fmt(&s), "f32[]");
    gc_type a = T(GC_F32, 2, 3);
    assert_string_equal(fmt(&a), "f32[2, 3]");
    gc_type b = T(GC_I32, 128);
    assert_string_equal(fmt(&b), "i32[128]");
    gc_type c = T(GC_F64, 1, 2, 3, 4, 5, 6);
    assert_string_equal(fmt(&c), "f64[1, 2, 3, 4, 5, 6]");
    gc_type d = T(GC_F32, (int64_t)1 << 40);
    assert_string_equal(fmt(&d), "f32[1099511627776]");
    /* A short buffer truncates but stays NUL-terminated. */
    char small[7];
    memset(small, 'x', sizeof small);
    gc_type_format(&a, small, sizeof small);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_memory_equal(small, "f32[2,", 6);
    char tiny[3];
    gc_type_format(&c, tiny, sizeof tiny);
    assert_string_equal(tiny, "f6");
}

static void test_strides(void **state) {
    (void)state;
    int64_t st[GC_MAX_RANK];
    gc_type a = T(GC_F32, 2, 3, 4);
    gc_type_strides(&a, st);
    assert_int_equal(st[0], 12);
    assert_int_equal(st[1], 4);
    assert_int_equal(st[2], 1);
    gc_type b = T(GC_F32, 5);
    gc_type_strides(&b, st);
    assert_int_equal(st[0], 1);
    gc_type c = T(GC_F32, 2, 1, 3, 1, 2, 7);
    gc_type_strides(&c, st);
    const int64_t want[] = {42, 42, 14, 14, 7, 1};
    assert_memory_equal(st, want, sizeof want);
    /* Rank 0 writes nothing. */
    st[0] = -5;
    gc_type s = gc_type_scalar(GC_F32);
    gc_type_strides(&s, st);
    assert_int_equal(st[0], -5);
}

static void expect_broadcast(gc_type a, gc_type b, const char *want) {
    gc_type out;
    memset(&out, 0x55, sizeof out);
    assert_true(gc_broadcast_shapes(&a, &b, &out));
    assert_string_equal(fmt(&out), want);
    for (int i = out.rank; i < GC_MAX_RANK; i++) assert_int_equal(out.dims[i], 0);
    /* Broadcasting is symmetric in shape. */
    gc_type rev;
    assert_true(gc_broadcast_shapes(&b, &a, &rev));
    assert_true(gc_type_same_shape(&out, &rev));
}

static void expect_no_broadcast(gc_type a, gc_type b) {
    gc_type out = T(GC_I32, 9);
    assert_false(gc_broadcast_shapes(&a, &b, &out));
    assert_false(gc_broadcast_shapes(&b, &a, &out));
    assert_string_equal(fmt(&out), "i32[9]"); /* untouched on failure */
}

static void test_broadcast_shapes(void **state) {
    (void)state;
    /* The examples of NumPy's broadcasting documentation. */
    expect_broadcast(T(GC_F32, 256, 256, 3), T(GC_F32, 3), "f32[256, 256, 3]");
    expect_broadcast(T(GC_F32, 8, 1, 6, 1), T(GC_F32, 7, 1, 5), "f32[8, 7, 6, 5]");
    expect_broadcast(T(GC_F32, 5, 4), T(GC_F32, 1), "f32[5, 4]");
    expect_broadcast(T(GC_F32, 5, 4), T(GC_F32, 4), "f32[5, 4]");
    expect_broadcast(T(GC_F32, 15, 3, 5), T(GC_F32, 15, 1, 5), "f32[15, 3, 5]");
    expect_broadcast(T(GC_F32, 15, 3, 5), T(GC_F32, 3, 5), "f32[15, 3, 5]");
    expect_broadcast(T(GC_F32, 15, 3, 5), T(GC_F32, 3, 1), "f32[15, 3, 5]");
    expect_broadcast(gc_type_scalar(GC_F32), T(GC_F32, 2, 3), "f32[2, 3]");
    expect_broadcast(gc_type_scalar(GC_F32), gc_type_scalar(GC_F32), "f32[]");
    expect_broadcast(T(GC_F32, 1), gc_type_scalar(GC_F32), "f32[1]");
    expect_broadcast(T(GC_F32, 1, 1, 1, 1, 1, 1), T(GC_F32, 4), "f32[1, 1, 1, 1, 1, 4]");
    expect_broadcast(T(GC_F32, 4, 1), T(GC_F32, 1, 3), "f32[4, 3]");
    /* The dtype of the result is the first operand's (shape rules check dtypes themselves). */
    gc_type a = T(GC_I32, 2), b = T(GC_F32, 2), out;
    assert_true(gc_broadcast_shapes(&a, &b, &out));
    assert_int_equal(out.dtype, GC_I32);

    expect_no_broadcast(T(GC_F32, 3), T(GC_F32, 4));
    expect_no_broadcast(T(GC_F32, 2, 1), T(GC_F32, 8, 4, 3));
    expect_no_broadcast(T(GC_F32, 16, 64, 128), T(GC_F32, 16, 64, 130));
    expect_no_broadcast(T(GC_F32, 2, 3), T(GC_F32, 3, 2));
}

static void test_broadcastable_to(void **state) {
    (void)state;
    struct {
        gc_type from, to;
        bool ok;
    } cases[] = {
        {T(GC_F32, 3), T(GC_F32, 2, 3), true},
        {T(GC_F32, 1, 3), T(GC_F32, 2, 3), true},
        {T(GC_F32, 2, 1), T(GC_F32, 2, 3), true},
        {gc_type_scalar(GC_F32), T(GC_F32, 4, 5), true},
        {gc_type_scalar(GC_F32), gc_type_scalar(GC_F32), true},
        {T(GC_F32, 2, 3), T(GC_F32, 2, 3), true},
        {T(GC_F32, 1), gc_type_scalar(GC_F32), false},   /* more dims than the target */
        {T(GC_F32, 2, 3), T(GC_F32, 3), false},
        {T(GC_F32, 2), T(GC_F32, 2, 3), false},
        {T(GC_F32, 3, 1), T(GC_F32, 1, 3), false},        /* broadcastable together, not to */
        {T(GC_F32, 4, 3), T(GC_F32, 2, 4, 1), false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (gc_broadcastable_to(&cases[i].from, &cases[i].to) != cases[i].ok)
            fail_msg("case %zu: %s to %s should be %s", i, fmt(&cases[i].from), fmt(&cases[i].to),
                     cases[i].ok ? "accepted" : "rejected");
    }
}

static void test_normalize_axis(void **state) {
    (void)state;
    int out = 77;
    assert_true(gc_normalize_axis(0, 3, &out));
    assert_int_equal(out, 0);
    assert_true(gc_normalize_axis(2, 3, &out));
    assert_int_equal(out, 2);
    assert_true(gc_normalize_axis(-1, 3, &out));
    assert_int_equal(out, 2);
    assert_true(gc_normalize_axis(-3, 3, &out));
    assert_int_equal(out, 0);
    out = 77;
    assert_false(gc_normalize_axis(3, 3, &out));
    assert_false(gc_normalize_axis(-4, 3, &out));
    assert_false(gc_normalize_axis(0, 0, &out));
    assert_false(gc_normalize_axis(-1, 0, &out));
    assert_int_equal(out, 77);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtype_names_and_sizes),
        cmocka_unit_test(test_dtype_parsing),
        cmocka_unit_test(test_make_numel_equal),
        cmocka_unit_test(test_numel_saturates),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_strides),
        cmocka_unit_test(test_broadcast_shapes),
        cmocka_unit_test(test_broadcastable_to),
        cmocka_unit_test(test_normalize_axis),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
