/*
 * test_random.c: Philox4x32-10 against the Random123 known-answer vectors, and the uniform and
 * normal draws built on it (their exact definition, determinism, independence of the counter
 * fields, and their distribution over 1e5 draws).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "ir/random.h"

static void check_kat(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1,
                      uint32_t e0, uint32_t e1, uint32_t e2, uint32_t e3) {
    const uint32_t counter[4] = {c0, c1, c2, c3}, key[2] = {k0, k1};
    uint32_t out[4];
    gc_philox4x32(counter, key, out);
    assert_int_equal(out[0], e0);
    assert_int_equal(out[1], e1);
    assert_int_equal(out[2], e2);
    assert_int_equal(out[3], e3);
}

/* Random123's kat_vectors for philox4x32 with 10 rounds: counter, key, expected output. */
static void test_known_answers(void **state) {
    (void)state;
    check_kat(0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8);
    check_kat(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff,
              0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd);
    check_kat(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0,
              0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1);
}

/* The counter layout is {index low, index high, step, stream}, the key {seed low, seed high}. */
static void test_uniform_definition(void **state) {
    (void)state;
    uint64_t seed = 0x123456789abcdefULL, stream = 7, index = 0x500000003ULL;
    uint32_t step = 11;
    const uint32_t counter[4] = {3, 5, 11, 7}, key[2] = {0x89abcdef, 0x01234567};
    uint32_t w[4];
    gc_philox4x32(counter, key, w);
    double u = gc_random_uniform(seed, stream, step, index);
    assert_true(u == (double)(w[0] >> 8) / 16777216.0);

    double u1 = ((double)(w[0] >> 8) + 0.5) / 16777216.0, u2 = (double)(w[1] >> 8) / 16777216.0;
    double z = gc_random_normal(seed, stream, step, index);
    assert_true(fabs(z - sqrt(-2.0 * log(u1)) * cos(2.0 * 3.14159265358979323846 * u2)) < 1e-12);
}

static void test_deterministic_and_keyed(void **state) {
    (void)state;
    double base = gc_random_uniform(42, 1, 2, 3);
    assert_true(base == gc_random_uniform(42, 1, 2, 3));
    assert_true(gc_random_normal(42, 1, 2, 3) == gc_random_normal(42, 1, 2, 3));
    /* Changing any one field of the counter or key changes the draw. */
    assert_true(base != gc_random_uniform(43, 1, 2, 3));
    assert_true(base != gc_random_uniform(42 + (1ULL << 32), 1, 2, 3));
    assert_true(base != gc_random_uniform(42, 2, 2, 3));
    assert_true(base != gc_random_uniform(42, 1, 3, 3));
    assert_true(base != gc_random_uniform(42, 1, 2, 4));
    assert_true(base != gc_random_uniform(42, 1, 2, 3 + (1ULL << 32)));
}

#define DRAWS 100000

static void test_uniform_distribution(void **state) {
    (void)state;
    double sum = 0, sum2 = 0, lo = 1, hi = 0;
    int below_tenth = 0;
    for (int i = 0; i < DRAWS; i++) {
        double u = gc_random_uniform(2024, 3, 0, (uint64_t)i);
        assert_true(u >= 0.0 && u < 1.0);
        assert_true((double)(float)u == u); /* 24 bits: exact in f32 */
        sum += u;
        sum2 += u * u;
        if (u < lo) lo = u;
        if (u > hi) hi = u;
        below_tenth += u < 0.1;
    }
    double mean = sum / DRAWS, var = sum2 / DRAWS - mean * mean;
    /* Standard error of the mean is 0.29 / sqrt(1e5) = 0.0009: bounds are about 5 of them. */
    assert_true(fabs(mean - 0.5) < 0.005);
    assert_true(fabs(var - 1.0 / 12.0) < 0.002);
    assert_true(lo < 1e-3 && hi > 1.0 - 1e-3);
    assert_true(abs(below_tenth - DRAWS / 10) < 500);
}

static void test_normal_distribution(void **state) {
    (void)state;
    double sum = 0, sum2 = 0, sum4 = 0;
    int outside = 0;
    for (int i = 0; i < DRAWS; i++) {
        double z = gc_random_normal(7, 0, 5, (uint64_t)i);
        assert_true(isfinite(z));
        sum += z;
        sum2 += z * z;
        sum4 += z * z * z * z;
        outside += fabs(z) > 1.959964;
    }
    double mean = sum / DRAWS, var = sum2 / DRAWS - mean * mean;
    assert_true(fabs(mean) < 0.016);
    assert_true(fabs(var - 1.0) < 0.025);
    assert_true(fabs(sum4 / DRAWS - 3.0) < 0.15); /* kurtosis of a normal */
    assert_true(abs(outside - DRAWS / 20) < 450);  /* 5% beyond +-1.96 */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_uniform_definition),
        cmocka_unit_test(test_deterministic_and_keyed),
        cmocka_unit_test(test_uniform_distribution),
        cmocka_unit_test(test_normal_distribution),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
