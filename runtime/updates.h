/*
 * updates.h: writing a step's `update` outputs back into their params and state inside one arena,
 * shared by the executors that run generated code (JIT and standalone trainers).
 *
 * The copies are planned once: an update whose value lives where another update writes (a swap)
 * goes through a staging buffer allocated up front, so applying updates, like running a step,
 * allocates nothing.
 */
#ifndef GC_RUNTIME_UPDATES_H
#define GC_RUNTIME_UPDATES_H

#include "ir/graph.h"

typedef struct gc_update_copy {
    int64_t src, dst, bytes, stage; /* stage: offset in the staging buffer, or -1 */
    const gc_node *target;          /* the param or state written */
} gc_update_copy;

typedef struct gc_update_plan {
    gc_update_copy *copies;
    int count;
    char *staging;
    int64_t staging_bytes;
} gc_update_plan;

/* Plans the copies of g's updates for an arena where node id i lives at offsets[i]; an update
 * whose value already lives at its target's offset (computed in place) has none. */
int gc_update_plan_make(const gc_graph *g, const int64_t *offsets, gc_update_plan *plan, gc_error *err);
void gc_update_plan_apply(const gc_update_plan *plan, char *arena);
void gc_update_plan_free(gc_update_plan *plan);

#endif
