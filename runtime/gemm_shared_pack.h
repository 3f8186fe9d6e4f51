/*
 * gemm_shared_pack.h: packing shared between the parts of a split product, for gradc's f32 GEMM
 * (gemm.c) and its bf16 GEMM (gemm_bf16.c), which pack into different element types but share
 * the scheme. Included by those two files only.
 *
 * A product the pool splits by rows is as many calls as chunks, each reading all of B; split by
 * columns, each reads all of A. Each call packed that whole operand afresh: 5-25% of a split
 * product's time (M2's and M3's shapes, CPU time), and in bf16 each part rounded it again. Now
 * the first part of a job to need a block of the whole operand packs it into a buffer shared by
 * the job's parts, and the others read it there. Nobody waits: a block another thread is still
 * packing is packed privately (as before), and a slot still used by another job's thread (two
 * pools at once) is not shared. The packed values are the same whoever packs them, so no bit of
 * C changes.
 *
 * A slot's word is job << SLOT_JOB_SHIFT | users << 2 | state; each block of the packed operand
 * has a word tag << 2 | block state, the tag counting the slot's claims, so a new claim needs no
 * reset of the blocks (and a job that gets the slot back after another had it packs afresh).
 */
#ifndef GC_RUNTIME_GEMM_SHARED_PACK_H
#define GC_RUNTIME_GEMM_SHARED_PACK_H

#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "runtime/gemm.h"

#define SLOT_JOB_SHIFT 24
#define SLOT_USER 4u
#define SLOT_USERS_MASK ((UINT64_C(1) << SLOT_JOB_SHIFT) - SLOT_USER)
enum { SLOT_CLAIMING = 1, SLOT_READY = 2 };
enum { BLOCK_PACKING = 1, BLOCK_DONE = 2 };

typedef struct shared_pack {
    _Atomic uint64_t word;
    /* The operand, written by the thread that claims the slot for a job. */
    const float *src;
    int64_t ld, outer, depth; /* outer: B's columns or A's rows; depth: k */
    bool trans;
    uint64_t tag; /* one more at every claim: what the block words are tagged with */
    void *buf;    /* the packed operand, in the including GEMM's element type */
    int64_t buf_bytes;
    _Atomic uint64_t *blocks;
    int64_t blocks_cap;
} shared_pack;

/* Joins the slot for `job` and operand (src, ld, trans, outer x depth), whose packing takes
 * `bytes` in `blocks` blocks, claiming it when it holds an earlier job nobody uses; false: pack
 * privately. Every true is followed by slot_leave. */
static inline bool slot_join(shared_pack *s, uint64_t job, const float *src, int64_t ld, bool trans, int64_t outer,
                             int64_t depth, int64_t bytes, int64_t blocks) {
    for (;;) {
        uint64_t w = atomic_load_explicit(&s->word, memory_order_acquire);
        if (w >> SLOT_JOB_SHIFT == job) {
            if ((w & 3u) != SLOT_READY) return false;
            if (!atomic_compare_exchange_weak(&s->word, &w, w + SLOT_USER)) continue;
            if (s->src == src && s->ld == ld && s->trans == trans && s->outer == outer && s->depth == depth)
                return true;
            atomic_fetch_sub(&s->word, SLOT_USER);
            return false;
        }
        if (w & SLOT_USERS_MASK) return false;
        uint64_t mine = job << SLOT_JOB_SHIFT | SLOT_USER | SLOT_CLAIMING;
        if (!atomic_compare_exchange_weak(&s->word, &w, mine)) continue;
        /* Ours alone until it is READY: grow the buffers (rarely: the first steps). */
        bool ok = true;
        if (s->buf_bytes < bytes) {
            void *buf = NULL;
            free(s->buf);
            s->buf = posix_memalign(&buf, 64, (size_t)bytes) == 0 ? buf : NULL;
            s->buf_bytes = s->buf ? bytes : 0;
            ok = s->buf != NULL;
        }
        if (ok && s->blocks_cap < blocks) {
            _Atomic uint64_t *b = calloc((size_t)blocks, sizeof *b);
            if (b) {
                free((void *)s->blocks);
                s->blocks = b;
                s->blocks_cap = blocks;
            }
            ok = b != NULL;
        }
        s->src = src;
        s->ld = ld;
        s->trans = trans;
        s->outer = ok ? outer : -1;
        s->depth = depth;
        s->tag++;
        atomic_store_explicit(&s->word, job << SLOT_JOB_SHIFT | SLOT_USER | SLOT_READY, memory_order_release);
        if (ok) return true;
        atomic_fetch_sub(&s->word, SLOT_USER);
        return false;
    }
}

static inline void slot_leave(shared_pack *s) { atomic_fetch_sub_explicit(&s->word, SLOT_USER, memory_order_release); }

/* What a part does with block `index` of a joined slot: read it (BLOCK_DONE), pack it there and
 * publish it (BLOCK_PACKING, then block_done), or pack it privately (0: another thread is on it). */
static inline int block_take(shared_pack *s, int64_t index) {
    _Atomic uint64_t *b = &s->blocks[index];
    uint64_t v = atomic_load_explicit(b, memory_order_acquire);
    if (v == (s->tag << 2 | BLOCK_DONE)) return BLOCK_DONE;
    if (v >> 2 == s->tag) return 0;
    return atomic_compare_exchange_strong(b, &v, s->tag << 2 | BLOCK_PACKING) ? BLOCK_PACKING : 0;
}

static inline void block_done(shared_pack *s, int64_t index) {
    atomic_store_explicit(&s->blocks[index], s->tag << 2 | BLOCK_DONE, memory_order_release);
}

/* ---- the partial products of a product split along k (gc_sgemm_ksplit, gc_sgemm_bf16_ksplit) ----
 *
 * One slot (per GEMM) holds the partial products of the job running now: its word is
 * job << 2 | state (0: free), `done` counts the job's finished segments, and the part that
 * finishes the last one adds the partials to C and frees the slot. A part of another job waits
 * for the slot (two pools running such products at once; each job finishes without help from the
 * other, so the wait ends). */
enum { KSLOT_CLAIMING = 1, KSLOT_READY = 2 };

typedef struct ksplit_slot {
    _Atomic uint64_t word;
    atomic_int done;
    bool ok;    /* the buffer holds the job's partials; false: out of memory */
    float *buf; /* segments 1.. as dense m x n matrices */
    int64_t buf_floats;
} ksplit_slot;

/* Joins (or claims and sizes for `floats` partials) slot s for `job`. */
static inline void ksplit_join(ksplit_slot *s, uint64_t job, int64_t floats) {
    for (;;) {
        uint64_t w = atomic_load_explicit(&s->word, memory_order_acquire);
        if (w >> 2 == job) {
            if ((w & 3u) == KSLOT_READY) return;
            continue; /* the claiming part is sizing the buffer */
        }
        if (w != 0) {
            sched_yield();
            continue;
        }
        if (!atomic_compare_exchange_weak(&s->word, &w, job << 2 | KSLOT_CLAIMING)) continue;
        if (s->buf_floats < floats) {
            void *p = NULL;
            free(s->buf);
            s->buf = posix_memalign(&p, 64, sizeof(float) * (size_t)floats) == 0 ? p : NULL;
            s->buf_floats = s->buf ? floats : 0;
        }
        s->ok = s->buf != NULL;
        atomic_store_explicit(&s->done, 0, memory_order_relaxed);
        atomic_store_explicit(&s->word, job << 2 | KSLOT_READY, memory_order_release);
        return;
    }
}

/* First element of k's segment s of GC_SGEMM_K_SEGMENTS: whole blocks of `unit`. */
static inline int64_t ksplit_segment_start(int64_t k, int64_t unit, int s) {
    int64_t blocks = (k + unit - 1) / unit;
    int64_t at = blocks * s / GC_SGEMM_K_SEGMENTS * unit;
    return at < k ? at : k;
}

/* The job a call of segments [*from, *to) belongs to, with the range clamped: `job` inside a
 * pool's job (0: none), else a private one from `private_jobs` tagged `tag` (the call holding
 * segment 0 then computes them all and the others do nothing). 0: nothing for this call to do. */
static inline uint64_t ksplit_begin(uint64_t job, uint64_t tag, _Atomic uint64_t *private_jobs, int32_t *from,
                                    int32_t *to) {
    if (!job) {
        if (*from > 0) return 0;
        job = tag | (atomic_fetch_add(private_jobs, 1) + 1);
        *from = 0;
        *to = GC_SGEMM_K_SEGMENTS;
    }
    if (*from < 0) *from = 0;
    if (*to > GC_SGEMM_K_SEGMENTS) *to = GC_SGEMM_K_SEGMENTS;
    return *from < *to ? job : 0;
}

/* Counts `count` more finished segments of slot s's job; the part that finishes the last one
 * adds the partials to C in segment order (an empty segment adds nothing) and frees the slot. */
static inline void ksplit_finish(ksplit_slot *s, int64_t k, int64_t unit, int64_t m, int64_t n, float *c, int64_t ldc,
                                 int count) {
    if (atomic_fetch_add_explicit(&s->done, count, memory_order_acq_rel) + count < GC_SGEMM_K_SEGMENTS) return;
    if (s->ok)
        for (int seg = 1; seg < GC_SGEMM_K_SEGMENTS; seg++) {
            if (ksplit_segment_start(k, unit, seg) == ksplit_segment_start(k, unit, seg + 1)) continue;
            const float *p = s->buf + (int64_t)(seg - 1) * m * n;
            for (int64_t i = 0; i < m; i++) {
                float *restrict cr = c + i * ldc;
                const float *restrict pr = p + i * n;
                for (int64_t j = 0; j < n; j++) cr[j] += pr[j];
            }
        }
    atomic_store_explicit(&s->word, 0, memory_order_release);
}

#endif
