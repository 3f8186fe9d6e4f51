/*
 * test_cpu_caches.c: the cache sizes gradc finds (runtime/cpu_caches.c) and the GEMM blocking they
 * give: derived from the caches, rounded to whole tiles, bounded when a VM reports nonsense.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "runtime/cpu_caches.h"

#define KIB 1024LL
#define MIB (1024LL * 1024LL)

static void this_machine_has_sane_caches(void **state) {
    (void)state;
    const gc_cpu_caches *c = gc_cpu_caches_get();
    assert_non_null(c->source);
    assert_true(c->l1d >= 8 * KIB && c->l1d <= 1 * MIB);
    assert_true(c->l2 >= 64 * KIB);
    assert_ptr_equal(c, gc_cpu_caches_get());
}

/* A 12 x 32 float tile: KC fills L1 with a 32-column panel of B, MC half of L2 with A. */
static void blocking_follows_the_caches(void **state) {
    (void)state;
    gc_cpu_caches zen5 = {48 * KIB, 1 * MIB, 4 * MIB, "test"};
    gc_gemm_blocking b = gc_gemm_blocking_from(&zen5, 12, 32, 4);
    assert_int_equal(b.kc, 384);
    assert_int_equal(b.mc, 336); /* 512 KiB / (384 x 4 B) = 341, in whole 12-row panels */
    assert_int_equal(b.nc, 1344);
    gc_cpu_caches emerald = {48 * KIB, 2 * MIB, 5 * MIB, "test"};
    b = gc_gemm_blocking_from(&emerald, 12, 32, 4);
    assert_int_equal(b.kc, 384);
    assert_int_equal(b.mc, 672);
    assert_int_equal(b.nc, 1696);
    gc_cpu_caches skylake = {32 * KIB, 256 * KIB, 0, "test"};
    b = gc_gemm_blocking_from(&skylake, 12, 32, 4);
    assert_int_equal(b.kc, 256);
    assert_int_equal(b.mc, 120);
    assert_int_equal(b.nc, 2048); /* no L3 known: 4 MiB assumed */
    /* bf16 elements (2 bytes) take twice the depth. */
    b = gc_gemm_blocking_from(&zen5, 12, 32, 2);
    assert_int_equal(b.kc, 768);
}

/* What a VM may report: a 508 MiB "per core" L3, a 0 B L2. */
static void nonsense_is_bounded(void **state) {
    (void)state;
    gc_cpu_caches odd = {48 * KIB, 0, 508 * MIB, "test"};
    gc_gemm_blocking b = gc_gemm_blocking_from(&odd, 12, 32, 4);
    assert_true(b.kc % 16 == 0 && b.kc >= 128 && b.kc <= 1024);
    assert_true(b.mc % 12 == 0 && b.mc >= 48);
    assert_true(b.nc % 32 == 0 && b.nc >= 1024 && b.nc <= 4096);
}

static void the_environment_overrides(void **state) {
    (void)state;
    setenv("GRADC_GEMM_BLOCKING", "50,70,100", 1);
    gc_gemm_blocking b = gc_gemm_blocking_for(12, 32, 4);
    unsetenv("GRADC_GEMM_BLOCKING");
    assert_int_equal(b.mc, 60);
    assert_int_equal(b.kc, 80);
    assert_int_equal(b.nc, 128);
    b = gc_gemm_blocking_for(12, 32, 4);
    gc_gemm_blocking want = gc_gemm_blocking_from(gc_cpu_caches_get(), 12, 32, 4);
    assert_int_equal(b.kc, want.kc);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(this_machine_has_sane_caches),
        cmocka_unit_test(blocking_follows_the_caches),
        cmocka_unit_test(nonsense_is_bounded),
        cmocka_unit_test(the_environment_overrides),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
