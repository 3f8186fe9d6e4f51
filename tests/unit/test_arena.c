/*
 * test_arena.c: the bump allocator every graph lives in, and what graph building does when it
 * runs out of memory. The fault-injection test fails the Nth allocation for every N until the
 * build succeeds, so each allocation site in the builder is exercised once as a failure; run it
 * under the GC_SANITIZE build to see that none of them crashes or leaks.
 */
#include <setjmp.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ir/arena.h"
#include "ir/build.h"

static int is_zero(const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i]) return 0;
    return 1;
}

static void test_alloc_alignment_and_zeroing(void **state) {
    (void)state;
    gc_arena *a = gc_arena_new();
    assert_non_null(a);
    /* Odd sizes in a row: every block must still start on a max_align_t boundary. */
    static const size_t sizes[] = {1, 3, 7, 8, 13, 16, 31, 33, 100, 1000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *p = gc_arena_alloc(a, sizes[i]);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % alignof(max_align_t), 0);
        assert_true(is_zero(p, sizes[i]));
        memset(p, 0xAB, sizes[i]); /* dirty it so a reused block would show */
    }
    /* A zero-byte request still yields a distinct usable pointer. */
    void *z1 = gc_arena_alloc(a, 0), *z2 = gc_arena_alloc(a, 0);
    assert_non_null(z1);
    assert_non_null(z2);
    assert_ptr_not_equal(z1, z2);
    gc_arena_free(a);
}

static void test_blocks_do_not_overlap(void **state) {
    (void)state;
    gc_arena *a = gc_arena_new();
    enum { N = 2000 };
    static unsigned char *blocks[N];
    for (int i = 0; i < N; i++) {
        blocks[i] = gc_arena_alloc(a, 40);
        assert_non_null(blocks[i]);
        memset(blocks[i], i & 0xFF, 40);
    }
    /* 2000 * 48 bytes spans several 64 KiB chunks; every block must still hold its own pattern. */
    for (int i = 0; i < N; i++)
        for (int j = 0; j < 40; j++) assert_int_equal(blocks[i][j], i & 0xFF);
    gc_arena_free(a);
}

static void test_large_allocations(void **state) {
    (void)state;
    gc_arena *a = gc_arena_new();
    unsigned char *small = gc_arena_alloc(a, 24);
    memset(small, 0x5A, 24);
    /* Bigger than a chunk: gets a chunk of its own, zeroed, and the small block survives. */
    size_t big = 3u * 64u * 1024u + 5;
    unsigned char *p = gc_arena_alloc(a, big);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % alignof(max_align_t), 0);
    assert_true(is_zero(p, big));
    memset(p, 0xFF, big);
    unsigned char *after = gc_arena_alloc(a, 64);
    assert_non_null(after);
    assert_true(is_zero(after, 64));
    for (int i = 0; i < 24; i++) assert_int_equal(small[i], 0x5A);
    /* Exactly a chunk, and a chunk plus one. */
    assert_non_null(gc_arena_alloc(a, 64 * 1024));
    assert_non_null(gc_arena_alloc(a, 64 * 1024 + 1));
    gc_arena_free(a);
}

static void test_impossible_sizes_fail(void **state) {
    (void)state;
    gc_arena *a = gc_arena_new();
    /* Sizes whose rounding to the alignment would wrap around must fail, not return a tiny block. */
    assert_null(gc_arena_alloc(a, SIZE_MAX));
    assert_null(gc_arena_alloc(a, SIZE_MAX - 3));
    assert_null(gc_arena_alloc(a, SIZE_MAX - alignof(max_align_t)));
    assert_null(gc_arena_grow(a, NULL, 0, SIZE_MAX));
    /* The arena is still usable afterwards. */
    assert_non_null(gc_arena_alloc(a, 8));
    assert_null(gc_arena_alloc(NULL, 8));
    gc_arena_free(a);
    gc_arena_free(NULL);
}

static void test_strdup_strndup(void **state) {
    (void)state;
    gc_arena *a = gc_arena_new();
    const char *src = "fc1.weight";
    char *d = gc_arena_strdup(a, src);
    assert_non_null(d);
    assert_ptr_not_equal(d, src);
    assert_string_equal(d, "fc1.weight");
    assert_string_equal(gc_arena_strdup(a, ""), "");
    assert_null(gc_arena_strdup(a, NULL));
    assert_null(gc_arena_strndup(a, NULL, 3));

    /* strndup takes a prefix of a longer buffer (token text that is not NUL-terminated). */
    char *p = gc_arena_strndup(a, "fc1.weight", 3);
    assert_string_equal(p, "fc1");
    assert_string_equal(gc_arena_strndup(a, "abc", 0), "");
    /* Like POSIX strndup, it stops at a NUL before n: only the 4 bytes of "abc" may be read. */
    char *heap = gc_arena_alloc(a, 4);
    memcpy(heap, "abc", 4);
    assert_string_equal(gc_arena_strndup(a, heap, 100), "abc");
    assert_string_equal(gc_arena_strndup(a, heap, SIZE_MAX), "abc");
    /* Embedded NUL within n: the copy ends there too. */
    assert_string_equal(gc_arena_strndup(a, "ab\0cd", 5), "ab");
    gc_arena_free(a);
}

static void test_grow(void **state) {
    (void)state;
    gc_arena *a = gc_arena_new();
    int *v = gc_arena_alloc(a, 4 * sizeof(int));
    for (int i = 0; i < 4; i++) v[i] = i + 1;
    int *w = gc_arena_grow(a, v, 4 * sizeof(int), 16 * sizeof(int));
    assert_non_null(w);
    for (int i = 0; i < 4; i++) assert_int_equal(w[i], i + 1);
    for (int i = 4; i < 16; i++) assert_int_equal(w[i], 0); /* the new tail is zeroed */
    /* Shrinking copies only what fits. */
    int *s = gc_arena_grow(a, w, 16 * sizeof(int), 2 * sizeof(int));
    assert_int_equal(s[0], 1);
    assert_int_equal(s[1], 2);
    /* From nothing. */
    int *n = gc_arena_grow(a, NULL, 0, 8 * sizeof(int));
    assert_non_null(n);
    assert_true(is_zero((unsigned char *)n, 8 * sizeof(int)));
    gc_arena_free(a);
}

static void test_fail_after_counts(void **state) {
    (void)state;
    gc_arena *a = gc_arena_new();
    gc_arena_fail_after(3);
    assert_non_null(gc_arena_alloc(a, 8));
    assert_non_null(gc_arena_strdup(a, "x"));
    assert_null(gc_arena_alloc(a, 8));         /* the third fails */
    assert_null(gc_arena_alloc(a, 8));         /* and every one after it */
    assert_null(gc_arena_strdup(a, "y"));
    assert_null(gc_arena_grow(a, NULL, 0, 8));
    assert_null(gc_arena_new());
    gc_arena_fail_after(0);
    assert_non_null(gc_arena_alloc(a, 8));
    gc_arena_fail_after(1);
    assert_null(gc_arena_new());
    gc_arena_fail_after(0);
    gc_arena_free(a);
}

/* An MLP step with enough nodes (over 64) and outputs (over 16) that the builder's arrays grow,
 * every kind of output, named sources, a source location on every node, and a constant last, so
 * that the last allocation of the build is a node's own. Returns GC_OK or the error code. */
enum { CHAIN = 70, EXTRA_OUTPUTS = 20 };

static gc_error_code build_mlp(gc_graph **out, gc_error *err) {
    *out = NULL;
    gc_graph *g = gc_graph_new("mlp");
    if (!g) {
        gc_failf(err, GC_ERR_MEMORY, "out of memory");
        return err->code;
    }
    gc_builder b = {g, {"model.gm", 3, 5}, err};
    gc_type tx = gc_type_make(GC_F32, 2, (int64_t[]){8, 4});
    gc_type tw = gc_type_make(GC_F32, 2, (int64_t[]){3, 4});
    gc_type ts = gc_type_scalar(GC_I32);
    gc_node *x = gc_graph_make(g, GC_OP_INPUT, NULL, 0, NULL, &tx, "x", b.loc, err);
    gc_node *w = gc_graph_make(g, GC_OP_PARAM, NULL, 0, NULL, &tw, "fc.weight", b.loc, err);
    gc_node *step = gc_graph_make(g, GC_OP_STATE, NULL, 0, NULL, &ts, "step", b.loc, err);
    gc_node *h = gc_matmul(&b, x, w, false, true);
    for (int i = 0; i < CHAIN; i++) h = gc_binary(&b, i % 2 ? GC_OP_MUL : GC_OP_ADD, h, h);
    gc_node *loss = gc_reduce(&b, GC_OP_MEAN, h, 3u, false);
    gc_node *new_w = gc_unary(&b, GC_OP_NEG, w);
    gc_node *one = gc_scalar(&b, GC_I32, 1);
    gc_node *new_step = gc_binary(&b, GC_OP_ADD, step, one);
    if (!loss || !new_w || !new_step) goto fail;
    if (!gc_graph_add_output(g, GC_OUTPUT_VALUE, "loss", loss, err)) goto fail;
    if (!gc_graph_add_output(g, GC_OUTPUT_UPDATE, "fc.weight", new_w, err)) goto fail;
    if (!gc_graph_add_output(g, GC_OUTPUT_GRAD, "fc.weight", new_w, err)) goto fail;
    if (!gc_graph_add_output(g, GC_OUTPUT_UPDATE, "step", new_step, err)) goto fail;
    for (int i = 0; i < EXTRA_OUTPUTS; i++) {
        char name[32];
        snprintf(name, sizeof name, "metric%d", i);
        if (!gc_graph_add_output(g, GC_OUTPUT_VALUE, name, loss, err)) goto fail;
    }
    if (!gc_scalar(&b, GC_F32, 2.5)) goto fail;
    *out = g;
    return GC_OK;
fail:
    gc_graph_free(g);
    return err->code;
}

static void check_mlp(const gc_graph *g) {
    /* 3 sources + matmul + chain + mean + neg + constant + add + final constant */
    assert_int_equal(g->num_nodes, 3 + 1 + CHAIN + 1 + 1 + 1 + 1 + 1);
    assert_int_equal(g->num_outputs, 4 + EXTRA_OUTPUTS);
    assert_string_equal(g->name, "mlp");
    for (int i = 0; i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        assert_int_equal(n->id, i);
        assert_non_null(n->loc.file);
        assert_string_equal(n->loc.file, "model.gm");
        assert_int_equal(n->loc.line, 3);
        assert_int_equal(n->loc.col, 5);
        for (int j = 0; j < n->num_inputs; j++) assert_true(n->inputs[j]->id < i);
    }
    assert_string_equal(gc_graph_find_named(g, GC_OP_PARAM, "fc.weight")->name, "fc.weight");
    assert_non_null(gc_graph_find_named(g, GC_OP_STATE, "step"));
    assert_non_null(gc_graph_find_output(g, GC_OUTPUT_VALUE, "metric19"));
    assert_non_null(gc_graph_find_output(g, GC_OUTPUT_GRAD, "fc.weight"));
    const gc_node *last = g->nodes[g->num_nodes - 1];
    assert_int_equal(last->op, GC_OP_CONSTANT);
    assert_true(last->attr.scalar.value == 2.5);
}

static void test_graph_building_under_allocation_failure(void **state) {
    (void)state;
    gc_error err;
    gc_graph *g = NULL;
    /* Reference run: count nothing, just make sure the build itself is valid. */
    memset(&err, 0, sizeof err);
    assert_int_equal(build_mlp(&g, &err), GC_OK);
    check_mlp(g);
    gc_graph_free(g);

    long n;
    int failures = 0;
    for (n = 1; n < 100000; n++) {
        memset(&err, 0, sizeof err);
        gc_arena_fail_after(n);
        gc_error_code code = build_mlp(&g, &err);
        gc_arena_fail_after(0);
        if (code == GC_OK) {
            check_mlp(g); /* success after all allocations got through must be complete */
            gc_graph_free(g);
            break;
        }
        assert_int_equal(code, GC_ERR_MEMORY);
        assert_string_equal(err.message, "out of memory");
        assert_null(g);
        failures++;
    }
    /* Every node (at least one allocation each) and every output was a failure point. */
    assert_true(failures >= 3 + 1 + CHAIN + 5 + 4 + EXTRA_OUTPUTS);
    assert_int_equal(failures, n - 1);
}

static void test_graph_new_under_allocation_failure(void **state) {
    (void)state;
    /* gc_graph_new has three allocations (arena, graph, name); each failure gives NULL. */
    for (long n = 1; n <= 3; n++) {
        gc_arena_fail_after(n);
        gc_graph *g = gc_graph_new("g");
        gc_arena_fail_after(0);
        assert_null(g);
    }
    gc_arena_fail_after(4);
    gc_graph *g = gc_graph_new("g");
    gc_arena_fail_after(0);
    assert_non_null(g);
    assert_string_equal(g->name, "g");
    gc_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_alignment_and_zeroing),
        cmocka_unit_test(test_blocks_do_not_overlap),
        cmocka_unit_test(test_large_allocations),
        cmocka_unit_test(test_impossible_sizes_fail),
        cmocka_unit_test(test_strdup_strndup),
        cmocka_unit_test(test_grow),
        cmocka_unit_test(test_fail_after_counts),
        cmocka_unit_test(test_graph_building_under_allocation_failure),
        cmocka_unit_test(test_graph_new_under_allocation_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
