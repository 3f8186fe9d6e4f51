/* init.c: parameter initialisers; see init.h. Formulas follow torch/nn/init.py (1.13). */
#include "runtime/init.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
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

/* What one element's value is drawn from: a constant, a uniform, a normal, or a normal truncated
 * to [-2, 2] by rejection. */
typedef enum { FILL_CONSTANT, FILL_UNIFORM, FILL_NORMAL, FILL_TRUNC_NORMAL } fill_kind;

typedef struct fill_job {
    fill_kind kind;
    uint64_t seed, stream;
    double lo, hi, mean, std; /* lo is the constant */
    float *out;
    int64_t from, to;
} fill_job;

static void *fill_range(void *raw) {
    const fill_job *j = raw;
    float *out = j->out;
    for (int64_t i = j->from; i < j->to; i++) {
        switch (j->kind) {
        case FILL_CONSTANT:
            out[i] = (float)j->lo;
            break;
        case FILL_UNIFORM:
            out[i] = (float)(j->lo + (j->hi - j->lo) * gc_random_uniform(j->seed, j->stream, 0, (uint64_t)i));
            break;
        case FILL_NORMAL:
            out[i] = (float)(j->mean + j->std * normal_draw(j->seed, j->stream, 0, i));
            break;
        case FILL_TRUNC_NORMAL: {
            /* Rejection: redraw until inside [-2, 2]; the chance of 64 misses is below 1e-90. */
            double v = 0;
            for (uint32_t k = 0; k < 64; k++) {
                v = normal_draw(j->seed, j->stream, k, i) * j->std;
                if (v >= -2.0 && v <= 2.0) break;
                v = 0;
            }
            out[i] = (float)v;
            break;
        }
        }
    }
    return NULL;
}

/* Every element is a function of its index alone, so the parts give the same bytes however the
 * range is cut. Drawing is about 35 ns an element (Philox, log, cos): M3's 124M take 4.5 s on one
 * thread. A part whose thread cannot start runs on the caller. */
static void fill_parallel(const fill_job *job, int64_t n, int threads) {
    enum { MAX_PARTS = 64, MIN_PART = 1 << 16 };
    int parts = threads < 1 ? 1 : threads > MAX_PARTS ? MAX_PARTS : threads;
    if (n / parts < MIN_PART) parts = (int)(n / MIN_PART) > 1 ? (int)(n / MIN_PART) : 1;
    fill_job jobs[MAX_PARTS];
    pthread_t thread[MAX_PARTS];
    bool started[MAX_PARTS] = {false};
    for (int p = 0; p < parts; p++) {
        jobs[p] = *job;
        jobs[p].from = n * p / parts;
        jobs[p].to = n * (p + 1) / parts;
        if (p > 0) started[p] = pthread_create(&thread[p], NULL, fill_range, &jobs[p]) == 0;
    }
    fill_range(&jobs[0]);
    for (int p = 1; p < parts; p++) {
        if (started[p]) pthread_join(thread[p], NULL);
        else fill_range(&jobs[p]);
    }
}

int gc_init_fill(const gc_init *init, const gc_type *t, uint64_t seed, const char *name, float *out, int threads,
                 gc_error *err) {
    int64_t n = gc_type_numel(t), fan_in = 0, fan_out = 0;
    fill_job job = {.kind = FILL_NORMAL, .seed = seed, .stream = gc_init_stream(name), .out = out};
    switch (init->kind) {
    case GC_INIT_ZEROS:
    case GC_INIT_ONES:
    case GC_INIT_CONSTANT:
        job.kind = FILL_CONSTANT;
        job.lo = init->kind == GC_INIT_ZEROS ? 0.0 : init->kind == GC_INIT_ONES ? 1.0 : (double)(float)init->a;
        break;
    case GC_INIT_NORMAL:
        job.mean = init->a;
        job.std = init->b;
        break;
    case GC_INIT_UNIFORM:
        job.kind = FILL_UNIFORM;
        job.lo = init->a;
        job.hi = init->b;
        break;
    case GC_INIT_XAVIER_UNIFORM:
    case GC_INIT_XAVIER_NORMAL: {
        if (!gc_init_fans(t, &fan_in, &fan_out, err)) return 0;
        double gain = init->a > 0 ? init->a : 1.0;
        job.std = gain * sqrt(2.0 / (double)(fan_in + fan_out));
        if (init->kind == GC_INIT_XAVIER_UNIFORM) {
            job.kind = FILL_UNIFORM;
            job.hi = sqrt(3.0) * job.std;
            job.lo = -job.hi;
        }
        break;
    }
    case GC_INIT_KAIMING_UNIFORM:
    case GC_INIT_KAIMING_NORMAL: {
        if (!gc_init_fans(t, &fan_in, &fan_out, err)) return 0;
        double gain = sqrt(2.0 / (1.0 + init->a * init->a));
        job.std = gain / sqrt((double)fan_in);
        if (init->kind == GC_INIT_KAIMING_UNIFORM) {
            job.kind = FILL_UNIFORM;
            job.hi = sqrt(3.0) * job.std;
            job.lo = -job.hi;
        }
        break;
    }
    case GC_INIT_TRUNC_NORMAL:
        job.kind = FILL_TRUNC_NORMAL;
        job.std = init->a;
        break;
    case GC_INIT_NORMAL_ZERO_ROW:
        job.std = init->a;
        break;
    default:
        return gc_failf(err, GC_ERR_INTERNAL, "internal error: unknown initialiser %d", (int)init->kind);
    }
    fill_parallel(&job, n, threads);
    /* nn.Embedding zeroes its padding row after drawing the table. */
    if (init->kind == GC_INIT_NORMAL_ZERO_ROW && t->rank >= 1 && init->b >= 1 && init->b <= (double)t->dims[0]) {
        int64_t row = n / t->dims[0];
        memset(out + ((int64_t)init->b - 1) * row, 0, sizeof *out * (size_t)row);
    }
    return 1;
}
