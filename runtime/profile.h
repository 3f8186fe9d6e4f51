/*
 * profile.h: where a JIT step's time goes, kernel by kernel (gradc train --profile,
 * gc_options.profile).
 *
 * A profiled step and update call gc_profile_tick on entry and after every kernel
 * (codegen/program.c for the JIT, codegen/module.c in a whole module), so each kernel is charged the wall time from the end of the one before it
 * to its own end: its run, including the pool handing out its parts and waiting for the last one.
 * Ticks cost about 40 ns each, a few hundred per step; an unprofiled module has none.
 */
#ifndef GC_RUNTIME_PROFILE_H
#define GC_RUNTIME_PROFILE_H

#include <stdint.h>

#include "ir/graph.h"

typedef struct gc_profile gc_profile;

/* Ticks the generated code passes besides a kernel's root id: entering gc_step and gc_update. */
#define GC_PROFILE_STEP (-1)
#define GC_PROFILE_UPDATE (-2)

/* A profile for the kernels of a graph of `num_nodes` nodes. */
gc_profile *gc_profile_new(int num_nodes, gc_error *err);
void gc_profile_free(gc_profile *p);
/* Called by generated code: `at` is the root id of the kernel that just ended, or
 * GC_PROFILE_STEP / GC_PROFILE_UPDATE on entry. */
void gc_profile_tick(gc_profile *p, int32_t at);
/* Forgets what was measured (the trainer does after the first step, which faults the arena's
 * pages in and warms the caches). */
void gc_profile_reset(gc_profile *p);

/* The profile as text: the whole, then the `top` kernels taking most time (0: all), then the
 * time by kind of kernel (the ops it computes). root[i] is node i's kernel (passes/fuse.h; NULL:
 * every node its own). The caller frees it. */
char *gc_profile_report(const gc_profile *p, const gc_graph *g, const int *root, int top);

#endif
