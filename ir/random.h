/*
 * random.h: the one counter-based generator (Philox4x32-10) behind initialisation and dropout.
 *
 * Counter-based means any element can be drawn independently from (seed, stream, step, index),
 * so the interpreter, generated code and the frontend's initialisers draw the same numbers in
 * any order and on any number of threads. Counter words: {index low, index high, step, stream};
 * key: {seed low, seed high}. The uniform draw uses the top 24 bits of the first output word.
 */
#ifndef GC_IR_RANDOM_H
#define GC_IR_RANDOM_H

#include <stdint.h>

void gc_philox4x32(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]);
/* Uniform in [0, 1) with 24 bits, exactly representable in f32. */
double gc_random_uniform(uint64_t seed, uint64_t stream, uint32_t step, uint64_t index);
/* Standard normal by Box-Muller over two uniforms of the same counter (words 0 and 1). */
double gc_random_normal(uint64_t seed, uint64_t stream, uint32_t step, uint64_t index);

#endif
