/* init.c: parameter initialisers; see init.h. Formulas follow torch/nn/init.py (1.13). */
#include "runtime/init.h"

#include <math.h>
#include <string.h>

#include "ir/random.h"

uint64_t gc_init_stream(const char *name) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;
    }
    return h;
}

int gc_init_fans(const gc_type *t, int64_t *fan_in, int64_t *fan_out, gc_error *err) {
    if (t->rank < 2)
        return gc_failf(err, GC_ERR_USER, "fan in and fan out need a tensor of rank 2 or more, got rank %d", t->rank);
    int64_t receptive = 1;
    for (int i = 2; i < t->rank; i++) receptive *= t->dims[i];
    *fan_in = t->dims[1] * receptive;
    *fan_out = t->dims[0] * receptive;
    return 1;
}

/* Draw k of element i: the step word of the counter separates the draws of rejection sampling. */
static double normal_draw(uint64_t seed, uint64_t stream, uint32_t k, int64_t i) {
    return gc_random_normal(seed, stream, k, (uint64_t)i);
}

int gc_init_fill(const gc_init *init, const gc_type *t, uint64_t seed, const char *name, float *out,
                 gc_error *err) {
    int64_t n = gc_type_numel(t), fan_in = 0, fan_out = 0;
    uint64_t stream = gc_init_stream(name);
    double lo = 0, hi = 0, mean = 0, std = 0;
    bool uniform = false;
    switch (init->kind) {
    case GC_INIT_ZEROS:
    case GC_INIT_ONES:
    case GC_INIT_CONSTANT: {
        float v = init->kind == GC_INIT_ZEROS ? 0.0f : init->kind == GC_INIT_ONES ? 1.0f : (float)init->a;
        for (int64_t i = 0; i < n; i++) out[i] = v;
        return 1;
    }
    case GC_INIT_NORMAL:
        mean = init->a;
        std = init->b;
        break;
    case GC_INIT_UNIFORM:
        uniform = true;
        lo = init->a;
        hi = init->b;
        break;
    case GC_INIT_XAVIER_UNIFORM:
    case GC_INIT_XAVIER_NORMAL: {
        if (!gc_init_fans(t, &fan_in, &fan_out, err)) return 0;
        double gain = init->a > 0 ? init->a : 1.0;
        std = gain * sqrt(2.0 / (double)(fan_in + fan_out));
        if (init->kind == GC_INIT_XAVIER_UNIFORM) {
            uniform = true;
            hi = sqrt(3.0) * std;
            lo = -hi;
        }
        break;
    }
    case GC_INIT_KAIMING_UNIFORM:
    case GC_INIT_KAIMING_NORMAL: {
        if (!gc_init_fans(t, &fan_in, &fan_out, err)) return 0;
        double gain = sqrt(2.0 / (1.0 + init->a * init->a));
        std = gain / sqrt((double)fan_in);
        if (init->kind == GC_INIT_KAIMING_UNIFORM) {
            uniform = true;
            hi = sqrt(3.0) * std;
            lo = -hi;
        }
        break;
    }
    case GC_INIT_TRUNC_NORMAL:
        std = init->a;
        for (int64_t i = 0; i < n; i++) {
            /* Rejection: redraw until inside [-2, 2]; the chance of 64 misses is below 1e-90. */
            double v = 0;
            for (uint32_t k = 0; k < 64; k++) {
                v = normal_draw(seed, stream, k, i) * std;
                if (v >= -2.0 && v <= 2.0) break;
                v = 0;
            }
            out[i] = (float)v;
        }
        return 1;
    default:
        return gc_failf(err, GC_ERR_INTERNAL, "internal error: unknown initialiser %d", (int)init->kind);
    }
    for (int64_t i = 0; i < n; i++) {
        out[i] = uniform ? (float)(lo + (hi - lo) * gc_random_uniform(seed, stream, 0, (uint64_t)i))
                         : (float)(mean + std * normal_draw(seed, stream, 0, i));
    }
    return 1;
}
