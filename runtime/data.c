/* data.c: batches from example-indexed arrays; see data.h for the order they are visited in. */
#include "runtime/data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/diag.h"
#include "ir/random.h"

typedef struct bound_array {
    char *name;
    gc_tensor array;
    int64_t batch;         /* B: the input's first dim */
    size_t example_bytes;  /* bytes of one example */
    void *staging;         /* one batch, assembled before it is handed to the trainer */
} bound_array;

struct gc_dataset {
    bound_array *arrays;
    int count, cap;
    int64_t examples, batch;
    bool shuffle;
    uint64_t seed;
    int64_t *order;        /* the permutation of the current epoch */
    int64_t order_epoch;
    int rank, ranks;       /* gc_dataset_shard; 0 of 1 alone */
};

int gc_dataset_shard(gc_dataset *d, int rank, int ranks, gc_error *err) {
    if (ranks < 1 || rank < 0 || rank >= ranks)
        return gc_failf(err, GC_ERR_USER, "rank %d of %d does not exist", rank, ranks);
    d->rank = rank;
    d->ranks = ranks;
    return 1;
}

int gc_dataset_shard_of(const gc_dataset *d, int *ranks) {
    *ranks = d->ranks;
    return d->rank;
}

gc_dataset *gc_dataset_new(gc_error *err) {
    gc_dataset *d = calloc(1, sizeof *d);
    if (!d) gc_failf(err, GC_ERR_MEMORY, "out of memory");
    if (d) {
        d->order_epoch = -1;
        d->ranks = 1;
    }
    return d;
}

void gc_dataset_free(gc_dataset *d) {
    if (!d) return;
    for (int i = 0; i < d->count; i++) {
        free(d->arrays[i].name);
        free(d->arrays[i].array.data);
        free(d->arrays[i].staging);
    }
    free(d->arrays);
    free(d->order);
    free(d);
}

static size_t dtype_bytes(gc_dtype t) { return t == GC_F64 ? 8 : 4; }

int gc_dataset_bind(gc_dataset *d, const char *name, gc_tensor array, const gc_tensor *input, gc_error *err) {
    bool ok = array.dtype == input->dtype && array.rank == input->rank && array.rank >= 1;
    for (int i = 1; ok && i < array.rank; i++) ok = array.shape[i] == input->shape[i];
    if (!ok) {
        char got[128] = "", want[128] = "";
        size_t n = 0, m = 0;
        for (int i = 1; i < array.rank && n < sizeof got - 24; i++) n += (size_t)snprintf(got + n, sizeof got - n, ", %lld", (long long)array.shape[i]);
        for (int i = 1; i < input->rank && m < sizeof want - 24; i++) m += (size_t)snprintf(want + m, sizeof want - m, ", %lld", (long long)input->shape[i]);
        free(array.data);
        return gc_failf(err, GC_ERR_USER,
                        "data for input '%s': examples are %s[N%s] but the input needs %s[B%s] (B = %lld per batch)",
                        name, array.dtype == GC_F32 ? "f32" : array.dtype == GC_I32 ? "i32" : "f64", got,
                        input->dtype == GC_F32 ? "f32" : "i32", want, (long long)(input->rank ? input->shape[0] : 0));
    }
    if (d->count == d->cap) {
        int cap = d->cap ? d->cap * 2 : 4;
        bound_array *a = realloc(d->arrays, sizeof *a * (size_t)cap);
        if (!a) {
            free(array.data);
            return gc_failf(err, GC_ERR_MEMORY, "out of memory");
        }
        d->arrays = a;
        d->cap = cap;
    }
    for (int i = 0; i < d->count; i++) {
        if (!strcmp(d->arrays[i].name, name)) {
            free(array.data);
            return gc_failf(err, GC_ERR_USER, "input '%s' is bound to data twice", name);
        }
    }
    bound_array *b = &d->arrays[d->count];
    memset(b, 0, sizeof *b);
    b->array = array;
    b->batch = input->shape[0];
    b->example_bytes = dtype_bytes(array.dtype);
    for (int i = 1; i < array.rank; i++) b->example_bytes *= (size_t)array.shape[i];
    b->name = malloc(strlen(name) + 1);
    b->staging = malloc(b->example_bytes * (size_t)b->batch + 1);
    if (!b->name || !b->staging) {
        free(b->name);
        free(b->staging);
        free(array.data);
        return gc_failf(err, GC_ERR_MEMORY, "out of memory");
    }
    strcpy(b->name, name);
    d->count++;
    return 1;
}

int gc_dataset_finish(gc_dataset *d, bool shuffle, uint64_t seed, gc_error *err) {
    if (d->count == 0) return gc_failf(err, GC_ERR_USER, "no data bound to any input");
    d->examples = d->arrays[0].array.shape[0];
    d->batch = d->arrays[0].batch;
    for (int i = 1; i < d->count; i++) {
        if (d->arrays[i].array.shape[0] != d->examples)
            return gc_failf(err, GC_ERR_USER, "data for '%s' has %lld examples but '%s' has %lld", d->arrays[i].name,
                            (long long)d->arrays[i].array.shape[0], d->arrays[0].name, (long long)d->examples);
        if (d->arrays[i].batch != d->batch)
            return gc_failf(err, GC_ERR_USER, "inputs '%s' and '%s' have different batch sizes (%lld, %lld)",
                            d->arrays[0].name, d->arrays[i].name, (long long)d->batch, (long long)d->arrays[i].batch);
    }
    if (d->examples < 1) return gc_failf(err, GC_ERR_USER, "the data has no examples");
    d->shuffle = shuffle;
    d->seed = seed;
    if (shuffle && !(d->order = malloc(sizeof *d->order * (size_t)d->examples)))
        return gc_failf(err, GC_ERR_MEMORY, "out of memory");
    return 1;
}

int64_t gc_dataset_examples(const gc_dataset *d) { return d->examples; }

int64_t gc_dataset_batch(const gc_dataset *d) { return d->batch; }

int64_t gc_dataset_steps_per_epoch(const gc_dataset *d) { return d->batch ? d->examples / (d->batch * d->ranks) : 0; }

int64_t gc_dataset_eval_batches(const gc_dataset *d) { return d->batch ? (d->examples + d->batch - 1) / d->batch : 0; }

/* The permutation of an epoch: Fisher-Yates with draws from (seed, stream "data", epoch, i). */
static void shuffle_epoch(gc_dataset *d, int64_t epoch) {
    if (d->order_epoch == epoch) return;
    for (int64_t i = 0; i < d->examples; i++) d->order[i] = i;
    for (int64_t i = d->examples - 1; i > 0; i--) {
        uint32_t counter[4] = {(uint32_t)i, (uint32_t)((uint64_t)i >> 32), (uint32_t)epoch, 0x64617461u /* "data" */};
        uint32_t key[2] = {(uint32_t)d->seed, (uint32_t)(d->seed >> 32)};
        uint32_t r[4];
        gc_philox4x32(counter, key, r);
        uint64_t wide = ((uint64_t)r[0] << 32) | r[1];
        int64_t j = (int64_t)(wide % (uint64_t)(i + 1));
        int64_t tmp = d->order[i];
        d->order[i] = d->order[j];
        d->order[j] = tmp;
    }
    d->order_epoch = epoch;
}

static int hand_over(gc_dataset *d, gc_trainer *t, int64_t batch, gc_error *err) {
    for (int a = 0; a < d->count; a++) {
        bound_array *b = &d->arrays[a];
        if (!gc_trainer_set_input(t, b->name, b->staging, b->example_bytes * (size_t)batch, err)) return 0;
    }
    return 1;
}

int gc_dataset_load_step(gc_dataset *d, gc_trainer *t, int64_t step, gc_error *err) {
    int64_t per_epoch = gc_dataset_steps_per_epoch(d);
    if (per_epoch <= 0 && d->ranks > 1)
        return gc_failf(err, GC_ERR_USER, "the data has %lld example%s, fewer than one global batch of %lld (%d ranks x %lld)",
                        (long long)d->examples, d->examples == 1 ? "" : "s", (long long)(d->batch * d->ranks),
                        d->ranks, (long long)d->batch);
    if (per_epoch <= 0)
        return gc_failf(err, GC_ERR_USER, "the data has %lld example%s, fewer than one batch of %lld",
                        (long long)d->examples, d->examples == 1 ? "" : "s", (long long)d->batch);
    if (step < 0) return gc_failf(err, GC_ERR_USER, "step %lld is negative", (long long)step);
    int64_t epoch = step / per_epoch, first = (step % per_epoch) * d->batch * d->ranks + d->rank * d->batch;
    if (d->shuffle) shuffle_epoch(d, epoch);
    for (int a = 0; a < d->count; a++) {
        bound_array *b = &d->arrays[a];
        for (int64_t i = 0; i < d->batch; i++) {
            int64_t example = d->shuffle ? d->order[first + i] : first + i;
            memcpy((char *)b->staging + (size_t)i * b->example_bytes,
                   (const char *)b->array.data + (size_t)example * b->example_bytes, b->example_bytes);
        }
    }
    return hand_over(d, t, d->batch, err);
}

int gc_dataset_load_examples(gc_dataset *d, gc_trainer *t, int64_t first, int64_t count, int64_t batch, gc_error *err) {
    if (first < 0 || count < 1 || first + count > d->examples || batch < count || batch > d->batch)
        return gc_failf(err, GC_ERR_USER, "examples %lld..%lld (in a batch of %lld) are not within the %lld examples",
                        (long long)first, (long long)(first + count - 1), (long long)batch, (long long)d->examples);
    for (int a = 0; a < d->count; a++) {
        bound_array *b = &d->arrays[a];
        for (int64_t i = 0; i < batch; i++) {
            int64_t example = first + (i < count ? i : count - 1);
            memcpy((char *)b->staging + (size_t)i * b->example_bytes,
                   (const char *)b->array.data + (size_t)example * b->example_bytes, b->example_bytes);
        }
    }
    return hand_over(d, t, batch, err);
}

int gc_dataset_load_eval(gc_dataset *d, gc_trainer *t, int64_t index, int64_t *real, gc_error *err) {
    int64_t first = index * d->batch;
    if (index < 0 || first >= d->examples) return gc_failf(err, GC_ERR_USER, "eval batch %lld is past the data", (long long)index);
    int64_t count = d->examples - first < d->batch ? d->examples - first : d->batch;
    *real = count;
    return gc_dataset_load_examples(d, t, first, count, d->batch, err);
}

int gc_dataset_load_indices(gc_dataset *d, gc_trainer *t, const int64_t *examples, gc_error *err) {
    for (int64_t i = 0; i < d->batch; i++)
        if (examples[i] < 0 || examples[i] >= d->examples)
            return gc_failf(err, GC_ERR_USER, "example %lld is out of range (the data has %lld)", (long long)examples[i],
                            (long long)d->examples);
    for (int a = 0; a < d->count; a++) {
        bound_array *b = &d->arrays[a];
        for (int64_t i = 0; i < d->batch; i++)
            memcpy((char *)b->staging + (size_t)i * b->example_bytes,
                   (const char *)b->array.data + (size_t)examples[i] * b->example_bytes, b->example_bytes);
    }
    return hand_over(d, t, d->batch, err);
}

uint64_t gc_dataset_seed(const gc_dataset *d) { return d->seed; }
