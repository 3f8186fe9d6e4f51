/*
 * random.c: Philox4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as
 * 1, 2, 3", SC 2011) and the two draws built on it.
 *
 * The generator is a keyed bijection of a 128-bit counter, so a draw depends only on
 * (seed, stream, step, index) and never on the order draws are made in; the interpreter,
 * generated code and initialisers must agree bit for bit, which is why the uniform draw keeps
 * 24 bits (exact in f32) and the normal draw fixes how its two words become uniforms.
 */
#include "ir/random.h"

#include <math.h>

/* Multipliers and Weyl key increments from the paper (as in Random123's philox.h). */
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void gc_philox4x32(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        /* The key schedule: a Weyl sequence (the bump after the last round is never used). */
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

static void draw(uint64_t seed, uint64_t stream, uint32_t step, uint64_t index, uint32_t out[4]) {
    const uint32_t counter[4] = {(uint32_t)index, (uint32_t)(index >> 32), step, (uint32_t)stream};
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    gc_philox4x32(counter, key, out);
}

#define TWO_POW_MINUS_24 (1.0 / 16777216.0)
#define TWO_PI 6.283185307179586476925286766559

double gc_random_uniform(uint64_t seed, uint64_t stream, uint32_t step, uint64_t index) {
    uint32_t w[4];
    draw(seed, stream, step, index, w);
    return (double)(w[0] >> 8) * TWO_POW_MINUS_24;
}

double gc_random_normal(uint64_t seed, uint64_t stream, uint32_t step, uint64_t index) {
    uint32_t w[4];
    draw(seed, stream, step, index, w);
    /* u1 lies in (0, 1) so the logarithm is finite; u2 in [0, 1). */
    double u1 = ((double)(w[0] >> 8) + 0.5) * TWO_POW_MINUS_24;
    double u2 = (double)(w[1] >> 8) * TWO_POW_MINUS_24;
    return sqrt(-2.0 * log(u1)) * cos(TWO_PI * u2);
}
