/*
 * interp_source.c: kernels of the source ops — values that come from outside the graph
 * (input, param, state, buffer), from an attribute (constant, iota) or from the counter-based generator.
 */
#include "ir/random.h"
#include "runtime/interp_kernels.h"

/* A named source's storage is filled by gc_interp_set (or apply_updates) before the run, and the
 * driver refuses to run while one is unset, so there is nothing left to compute. */
int interp_input(const gc_node *n, const double *const *in, double *out, gc_error *err) { return 1; }
int interp_param(const gc_node *n, const double *const *in, double *out, gc_error *err) { return 1; }
int interp_state(const gc_node *n, const double *const *in, double *out, gc_error *err) { return 1; }
int interp_buffer(const gc_node *n, const double *const *in, double *out, gc_error *err) { return 1; }

int interp_constant(const gc_node *n, const double *const *in, double *out, gc_error *err) {
    int64_t count = gc_type_numel(&n->type);
    for (int64_t i = 0; i < count; i++) out[i] = n->attr.scalar.value;
    return 1;
}

int interp_iota(const gc_node *n, const double *const *in, double *out, gc_error *err) {
    interp_iter it;
    interp_iter_init(&it, &n->type);
    int64_t count = gc_type_numel(&n->type);
    for (int64_t i = 0; i < count; i++, interp_iter_next(&it)) out[i] = (double)it.idx[n->attr.axis.axis];
    return 1;
}

/* The element index is the flat row-major index; the step is the i32 operand's bit pattern. */
int interp_random_uniform(const gc_node *n, const double *const *in, double *out, gc_error *err) {
    uint64_t seed = (uint64_t)n->attr.random.seed, stream = (uint64_t)n->attr.random.stream;
    uint32_t step = (uint32_t)(int32_t)in[0][0];
    int64_t count = gc_type_numel(&n->type);
    for (int64_t i = 0; i < count; i++) out[i] = gc_random_uniform(seed, stream, step, (uint64_t)i);
    return 1;
}
