/*
 * init.h: parameter initialisers — PyTorch's distributions drawn from gradc's one generator.
 *
 * A parameter's initial value is a function of (train.seed, parameter name, element index) only:
 * the stream of the Philox generator is a hash of the name, so adding a parameter never changes
 * another's initial values, and every backend and machine draws the same numbers.
 */
#ifndef GC_RUNTIME_INIT_H
#define GC_RUNTIME_INIT_H

#include <stdint.h>

#include "ir/diag.h"
#include "ir/init.h"
#include "ir/types.h"

/* The stream a parameter name draws from (FNV-1a of the name). */
uint64_t gc_init_stream(const char *name);

/* torch.nn.init._calculate_fan_in_and_fan_out: rank >= 2 needed for xavier and kaiming. */
int gc_init_fans(const gc_type *t, int64_t *fan_in, int64_t *fan_out, gc_error *err);

/* Fills count = numel(t) floats, on up to `threads` threads (the same bytes for any count).
 * Fails (GC_ERR_USER) for fan-based initialisers on rank < 2. */
int gc_init_fill(const gc_init *init, const gc_type *t, uint64_t seed, const char *name, float *out, int threads,
                 gc_error *err);


#endif
