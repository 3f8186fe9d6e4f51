/*
 * distributed.c: the MPI layer of data-parallel training (runtime/distributed.h).
 *
 * Only the calling thread of a step talks to MPI (MPI_THREAD_FUNNELED): the pool's threads run
 * kernels, and the hooks between kernels run on the thread that called the step.
 *
 * Open MPI makes no progress on a non-blocking collective unless some MPI call is made (it has no
 * progress thread), so the reducer tests its oldest bucket after every kernel of backward: that
 * is what moves a bucket along while the next kernels compute. Waits poll with a deadline rather
 * than block in MPI_Wait, so a dead or stuck peer becomes an error, not a hang; after a hundred
 * polls they sleep between polls, which leaves the CPU to the peer on an oversubscribed machine.
 */
#include "runtime/distributed.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ir/diag.h"
#include "runtime/clock.h"

#ifdef GC_HAVE_MPI
#include <mpi.h>
#endif

struct gc_communicator {
    int rank, size;
    double timeout_s;
    bool initialised_mpi; /* this communicator called MPI_Init_thread, so it finalises */
#ifdef GC_HAVE_MPI
    MPI_Comm comm;
#endif
};

bool gc_distributed_available(void) {
#ifdef GC_HAVE_MPI
    return true;
#else
    return false;
#endif
}

/* The number of processes the launcher says were started together, 0 when none says. */
static int launched_size(void) {
    static const char *const names[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = getenv(names[i]);
        if (v && *v) return atoi(v);
    }
    return 0;
}

bool gc_distributed_launched(void) { return launched_size() > 1; }

static double env_seconds(const char *name, double fallback) {
    const char *v = getenv(name);
    if (!v || !*v) return fallback;
    char *end;
    double s = strtod(v, &end);
    return *end == '\0' && s > 0 ? s : fallback;
}

gc_communicator *gc_communicator_world(gc_error *err) {
    gc_communicator *c = calloc(1, sizeof *c);
    if (!c) return gc_failf(err, GC_ERR_MEMORY, "out of memory"), NULL;
    c->rank = 0;
    c->size = 1;
    c->timeout_s = env_seconds("GC_MPI_TIMEOUT", 300.0);
    if (launched_size() <= 1) return c;
#ifdef GC_HAVE_MPI
    int ready = 0;
    MPI_Initialized(&ready);
    if (!ready) {
        int provided = 0;
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
            free(c);
            return gc_failf(err, GC_ERR_INTERNAL, "MPI_Init_thread failed"), NULL;
        }
        c->initialised_mpi = true;
    }
    /* A duplicate keeps gradc's messages apart from any the program sends itself, and errors on
     * it come back as codes instead of ending the process. */
    if (MPI_Comm_dup(MPI_COMM_WORLD, &c->comm) != MPI_SUCCESS) {
        free(c);
        return gc_failf(err, GC_ERR_INTERNAL, "MPI_Comm_dup failed"), NULL;
    }
    MPI_Comm_set_errhandler(c->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(c->comm, &c->rank);
    MPI_Comm_size(c->comm, &c->size);
    return c;
#else
    free(c);
    return gc_failf(err, GC_ERR_USER,
                    "this process was launched as one of %d (mpirun), but this gradc was built without MPI: "
                    "install Open MPI (libopenmpi-dev) and rebuild, or run it without mpirun",
                    launched_size()),
           NULL;
#endif
}

int gc_communicator_rank(const gc_communicator *c) { return c ? c->rank : 0; }

int gc_communicator_size(const gc_communicator *c) { return c ? c->size : 1; }

bool gc_distributed_is_root(const gc_communicator *c) { return !c || c->rank == 0; }

double gc_distributed_timeout(const gc_communicator *c) { return c ? c->timeout_s : 300.0; }

int gc_communicator_set_timeout(gc_communicator *c, double seconds, gc_error *err) {
    if (!c || !(seconds > 0) || seconds > 1e9)
        return gc_failf(err, GC_ERR_USER, "the collective timeout must be a positive number of seconds, got %g", seconds);
    c->timeout_s = seconds;
    return 1;
}

void gc_communicator_free(gc_communicator *c) {
    if (!c) return;
#ifdef GC_HAVE_MPI
    if (c->size > 1) MPI_Comm_free(&c->comm);
    int done = 0;
    MPI_Finalized(&done);
    if (c->initialised_mpi && !done) MPI_Finalize();
#endif
    free(c);
}

void gc_distributed_abort(gc_communicator *c, int status) {
#ifdef GC_HAVE_MPI
    if (c && c->size > 1) MPI_Abort(MPI_COMM_WORLD, status);
#else
    (void)c;
    (void)status;
#endif
}

#ifdef GC_HAVE_MPI
static int mpi_fail(gc_communicator *c, int code, const char *what, gc_error *err) {
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(code, text, &len);
    return gc_failf(err, GC_ERR_IO, "rank %d of %d: MPI failed during %s: %s", c->rank, c->size, what, text);
}

static void pause_briefly(void) {
    struct timespec ts = {0, 20000};
    nanosleep(&ts, NULL);
}

/* Polls req until it completes or the deadline passes. */
static int wait_request(gc_communicator *c, MPI_Request *req, const char *what, gc_error *err) {
    double deadline = gc_clock_ms() + c->timeout_s * 1e3;
    for (int polls = 0;; polls++) {
        int done = 0;
        int rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) return mpi_fail(c, rc, what, err);
        if (done) return 1;
        if (gc_clock_ms() > deadline)
            return gc_failf(err, GC_ERR_IO,
                            "rank %d of %d: no answer from the other ranks within %g s during %s: one of them failed, "
                            "was killed or is stuck (the limit is --mpi-timeout or GC_MPI_TIMEOUT)",
                            c->rank, c->size, c->timeout_s, what);
        if (polls > 100) pause_briefly();
    }
}
#endif

int gc_distributed_sum(gc_communicator *c, double *values, int count, const char *what, gc_error *err) {
#ifdef GC_HAVE_MPI
    if (c && c->size > 1 && count > 0) {
        MPI_Request req;
        int rc = MPI_Iallreduce(MPI_IN_PLACE, values, count, MPI_DOUBLE, MPI_SUM, c->comm, &req);
        if (rc != MPI_SUCCESS) return mpi_fail(c, rc, what, err);
        return wait_request(c, &req, what, err);
    }
#else
    (void)c, (void)values, (void)count, (void)what, (void)err;
#endif
    return 1;
}

int gc_distributed_broadcast(gc_communicator *c, void *data, size_t bytes, const char *what, gc_error *err) {
#ifdef GC_HAVE_MPI
    if (c && c->size > 1 && bytes > 0) {
        /* MPI counts are ints: a large tensor goes over in pieces of at most 1 GiB. */
        for (size_t at = 0; at < bytes;) {
            size_t piece = bytes - at < ((size_t)1 << 30) ? bytes - at : ((size_t)1 << 30);
            MPI_Request req;
            int rc = MPI_Ibcast((char *)data + at, (int)piece, MPI_BYTE, 0, c->comm, &req);
            if (rc != MPI_SUCCESS) return mpi_fail(c, rc, what, err);
            if (!wait_request(c, &req, what, err)) return 0;
            at += piece;
        }
    }
#else
    (void)c, (void)data, (void)bytes, (void)what, (void)err;
#endif
    return 1;
}

int gc_distributed_barrier(gc_communicator *c, const char *what, gc_error *err) {
#ifdef GC_HAVE_MPI
    if (c && c->size > 1) {
        MPI_Request req;
        int rc = MPI_Ibarrier(c->comm, &req);
        if (rc != MPI_SUCCESS) return mpi_fail(c, rc, what, err);
        return wait_request(c, &req, what, err);
    }
#else
    (void)c, (void)what, (void)err;
#endif
    return 1;
}

/* ---- the gradient reducer ---- */

typedef struct bucket_entry {
    void *data;
    int64_t count;
} bucket_entry;

/* A bucket keeps its entries and packed buffer from step to step: every step makes the same
 * buckets, so after the first nothing is allocated. */
typedef struct bucket {
    gc_dtype dtype;
    bucket_entry *entries;
    int num_entries, cap_entries;
    void *packed;
    size_t packed_cap, bytes;
#ifdef GC_HAVE_MPI
    MPI_Request req;
#endif
    bool started, done;
} bucket;

struct gc_grad_reducer {
    gc_communicator *comm;
    size_t bucket_bytes;
    gc_step_hooks hooks;
    bucket *buckets;
    int num_buckets, cap_buckets; /* this run's buckets so far; capacity kept across runs */
    int first_pending;            /* buckets before it are done */
    int64_t step_bytes;
    int started_in_backward; /* buckets of this run started before anything waited for them */
    bool waiting;            /* inside wait_all: a bucket started now did not overlap backward */
    bool no_sync;            /* this run's gradients stay local (gc_grad_reducer_begin_no_sync) */
    int64_t runs, synced_runs; /* runs begun, and those that all-reduced their gradients */
    double *sums;            /* all_reduce_sum's values in double; kept across steps */
    int64_t sums_cap;
    bool failed;
    gc_error error;
};

static size_t elem_bytes(gc_dtype d) { return d == GC_F64 ? 8 : 4; }

static void fail_once(gc_grad_reducer *r, const gc_error *e) {
    if (r->failed) return;
    r->failed = true;
    r->error = *e;
}

#ifdef GC_HAVE_MPI
/* Packs the bucket and starts its all-reduce. */
static void start_bucket(gc_grad_reducer *r, bucket *b) {
    if (b->started || r->failed) return;
    if (b->bytes > b->packed_cap) {
        void *p = realloc(b->packed, b->bytes);
        if (!p) {
            gc_error e = {0};
            gc_failf(&e, GC_ERR_MEMORY, "out of memory: a %zu-byte gradient bucket", b->bytes);
            fail_once(r, &e);
            return;
        }
        b->packed = p;
        b->packed_cap = b->bytes;
    }
    size_t es = elem_bytes(b->dtype), at = 0;
    for (int i = 0; i < b->num_entries; i++) {
        memcpy((char *)b->packed + at, b->entries[i].data, (size_t)b->entries[i].count * es);
        at += (size_t)b->entries[i].count * es;
    }
    int count = (int)(b->bytes / es);
    int rc = MPI_Iallreduce(MPI_IN_PLACE, b->packed, count, b->dtype == GC_F64 ? MPI_DOUBLE : MPI_FLOAT, MPI_SUM,
                            r->comm->comm, &b->req);
    if (rc != MPI_SUCCESS) {
        gc_error e = {0};
        mpi_fail(r->comm, rc, "the gradient all-reduce", &e);
        fail_once(r, &e);
        return;
    }
    b->started = true;
    r->step_bytes += (int64_t)b->bytes;
    if (!r->waiting) r->started_in_backward++;
}

/* Writes a completed bucket's sum, divided by the ranks, back into the gradients. */
static void finish_bucket(gc_grad_reducer *r, bucket *b) {
    size_t at = 0;
    int n = r->comm->size;
    for (int i = 0; i < b->num_entries; i++) {
        int64_t count = b->entries[i].count;
        if (b->dtype == GC_F64) {
            const double *src = (const double *)((char *)b->packed + at);
            double *dst = b->entries[i].data;
            for (int64_t k = 0; k < count; k++) dst[k] = src[k] / n;
        } else {
            const float *src = (const float *)((char *)b->packed + at);
            float *dst = b->entries[i].data;
            float fn = (float)n;
            for (int64_t k = 0; k < count; k++) dst[k] = src[k] / fn;
        }
        at += (size_t)count * elem_bytes(b->dtype);
    }
    b->done = true;
}

/* Moves pending buckets along without waiting; finishes those that completed, in order. */
static void progress(gc_grad_reducer *r) {
    while (!r->failed && r->first_pending < r->num_buckets) {
        bucket *b = &r->buckets[r->first_pending];
        if (!b->started) return;
        int done = 0;
        int rc = MPI_Test(&b->req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) {
            gc_error e = {0};
            mpi_fail(r->comm, rc, "the gradient all-reduce", &e);
            fail_once(r, &e);
            return;
        }
        if (!done) return;
        finish_bucket(r, b);
        r->first_pending++;
    }
}

/* Starts the open bucket and waits for every bucket of the run. */
static void wait_all(gc_grad_reducer *r) {
    r->waiting = true;
    if (r->num_buckets > 0) start_bucket(r, &r->buckets[r->num_buckets - 1]);
    r->waiting = false;
    while (!r->failed && r->first_pending < r->num_buckets) {
        bucket *b = &r->buckets[r->first_pending];
        gc_error e = {0};
        if (!wait_request(r->comm, &b->req, "the gradient all-reduce", &e)) {
            fail_once(r, &e);
            return;
        }
        finish_bucket(r, b);
        r->first_pending++;
    }
}

/* The bucket a gradient of dtype d goes into: the open one, or a new one. */
static bucket *open_bucket(gc_grad_reducer *r, gc_dtype d) {
    if (r->num_buckets > 0) {
        bucket *b = &r->buckets[r->num_buckets - 1];
        if (!b->started && b->dtype == d) return b;
        start_bucket(r, b);
    }
    if (r->num_buckets == r->cap_buckets) {
        int cap = r->cap_buckets ? r->cap_buckets * 2 : 8;
        bucket *bs = realloc(r->buckets, sizeof *bs * (size_t)cap);
        if (!bs) return NULL;
        memset(bs + r->cap_buckets, 0, sizeof *bs * (size_t)(cap - r->cap_buckets));
        r->buckets = bs;
        r->cap_buckets = cap;
    }
    bucket *b = &r->buckets[r->num_buckets++];
    b->dtype = d;
    b->num_entries = 0;
    b->bytes = 0;
    b->started = b->done = false;
    return b;
}

static void grad_ready(gc_grad_reducer *r, void *data, gc_dtype dtype, int64_t count) {
    if (r->failed || count <= 0) return;
    bucket *b = open_bucket(r, dtype);
    if (b && b->num_entries == b->cap_entries) {
        int cap = b->cap_entries ? b->cap_entries * 2 : 16;
        bucket_entry *e = realloc(b->entries, sizeof *e * (size_t)cap);
        if (e) {
            b->entries = e;
            b->cap_entries = cap;
        } else {
            b = NULL;
        }
    }
    if (!b) {
        gc_error e = {0};
        gc_failf(&e, GC_ERR_MEMORY, "out of memory");
        fail_once(r, &e);
        return;
    }
    b->entries[b->num_entries++] = (bucket_entry){data, count};
    b->bytes += (size_t)count * elem_bytes(dtype);
    if (b->bytes >= r->bucket_bytes) start_bucket(r, b);
}
#endif

#ifdef GC_HAVE_MPI
/* An all_reduce_sum node's value (sync_batchnorm's per-channel statistics, a few KB): summed
 * over the processes in double, so the sum does not depend on how the values round in f32,
 * then written back in place. It blocks: the next kernels read it. Gradient buckets in flight
 * are not waited for; every process makes the same collectives in the same order. */
static void all_reduce(gc_grad_reducer *r, void *data, gc_dtype dtype, int64_t count) {
    if (r->failed || count <= 0) return;
    gc_error e = {0};
    if (count > r->sums_cap) {
        double *s = realloc(r->sums, sizeof *s * (size_t)count);
        if (!s) {
            gc_failf(&e, GC_ERR_MEMORY, "out of memory");
            fail_once(r, &e);
            return;
        }
        r->sums = s;
        r->sums_cap = count;
    }
    if (count > INT32_MAX) {
        gc_failf(&e, GC_ERR_USER, "an all_reduce_sum of %lld elements is over MPI's count limit", (long long)count);
        fail_once(r, &e);
        return;
    }
    for (int64_t i = 0; i < count; i++) r->sums[i] = dtype == GC_F64 ? ((double *)data)[i] : ((float *)data)[i];
    MPI_Request req;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, r->sums, (int)count, MPI_DOUBLE, MPI_SUM, r->comm->comm, &req);
    if (rc != MPI_SUCCESS) {
        mpi_fail(r->comm, rc, "the batch-norm statistics all-reduce", &e);
        fail_once(r, &e);
        return;
    }
    if (!wait_request(r->comm, &req, "the batch-norm statistics all-reduce", &e)) {
        fail_once(r, &e);
        return;
    }
    r->step_bytes += count * (int64_t)sizeof(double);
    for (int64_t i = 0; i < count; i++) {
        if (dtype == GC_F64) ((double *)data)[i] = r->sums[i];
        else ((float *)data)[i] = (float)r->sums[i];
    }
}
#endif

static void on_event(void *user, int event, const gc_node *node, void *data, gc_dtype dtype, int64_t count) {
    gc_grad_reducer *r = user;
    (void)node;
#ifdef GC_HAVE_MPI
    if (r->no_sync && event != GC_HOOK_ALL_REDUCE) return;
    switch (event) {
    case GC_HOOK_GRAD_READY:
        grad_ready(r, data, dtype, count);
        progress(r);
        break;
    case GC_HOOK_KERNEL_DONE: progress(r); break;
    case GC_HOOK_ALL_REDUCE:
        all_reduce(r, data, dtype, count);
        progress(r);
        break;
    case GC_HOOK_GRADS_NEEDED:
    case GC_HOOK_STEP_END: wait_all(r); break;
    }
#else
    (void)r, (void)event, (void)data, (void)dtype, (void)count;
#endif
}

gc_grad_reducer *gc_grad_reducer_new(gc_communicator *c, size_t bucket_bytes, gc_error *err) {
    gc_grad_reducer *r = calloc(1, sizeof *r);
    if (!r) return gc_failf(err, GC_ERR_MEMORY, "out of memory"), NULL;
    r->comm = c;
    r->bucket_bytes = bucket_bytes ? bucket_bytes : (size_t)(env_seconds("GC_MPI_BUCKET_MB", 4.0) * 1048576.0);
    if (r->bucket_bytes < 4) r->bucket_bytes = 4;
    r->hooks.user = r;
    r->hooks.event = on_event;
    return r;
}

void gc_grad_reducer_free(gc_grad_reducer *r) {
    if (!r) return;
    for (int i = 0; i < r->cap_buckets; i++) {
        free(r->buckets[i].entries);
        free(r->buckets[i].packed);
    }
    free(r->buckets);
    free(r->sums);
    free(r);
}

const gc_step_hooks *gc_grad_reducer_hooks(gc_grad_reducer *r) { return &r->hooks; }

void gc_grad_reducer_begin(gc_grad_reducer *r) {
    r->num_buckets = 0;
    r->first_pending = 0;
    r->step_bytes = 0;
    r->started_in_backward = 0;
    r->no_sync = false;
    r->runs++;
    r->synced_runs++;
}

void gc_grad_reducer_begin_no_sync(gc_grad_reducer *r) {
    gc_grad_reducer_begin(r);
    r->no_sync = true;
    r->synced_runs--;
}

int64_t gc_grad_reducer_runs(const gc_grad_reducer *r, int64_t *synced) {
    if (synced) *synced = r ? r->synced_runs : 0;
    return r ? r->runs : 0;
}

int gc_grad_reducer_end(gc_grad_reducer *r, gc_error *err) {
#ifdef GC_HAVE_MPI
    if (!r->failed) wait_all(r); /* a step whose last kernels read no gradient */
#endif
    if (r->failed) {
        if (err) *err = r->error;
        return 0;
    }
    return 1;
}

int64_t gc_grad_reducer_bytes(const gc_grad_reducer *r) { return r ? r->step_bytes : 0; }

int gc_grad_reducer_buckets(const gc_grad_reducer *r) { return r ? r->num_buckets : 0; }

int gc_grad_reducer_overlapped(const gc_grad_reducer *r) { return r ? r->started_in_backward : 0; }
