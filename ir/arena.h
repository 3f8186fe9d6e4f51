/*
 * arena.h: bump allocation for everything that lives as long as one graph or one compilation.
 *
 * Graphs, their nodes, names and attribute lists are allocated here and freed together by
 * gc_arena_free, so no pass has to track ownership of individual nodes (QBE's pools, ggml's
 * context). Tensor storage does not live here: the memory planner and runtime own that.
 */
#ifndef GC_IR_ARENA_H
#define GC_IR_ARENA_H

#include <stddef.h>

typedef struct gc_arena gc_arena;

gc_arena *gc_arena_new(void);
void gc_arena_free(gc_arena *arena);

/* Zeroed memory aligned for any type, or NULL when the system is out of memory. */
void *gc_arena_alloc(gc_arena *arena, size_t bytes);
/* The same, not zeroed: for blocks the caller fills whole at once (weights copied in), where
 * zeroing first would touch every page twice. */
void *gc_arena_alloc_uninit(gc_arena *arena, size_t bytes);
/* A copy of the NUL-terminated string (NULL in, NULL out). */
char *gc_arena_strdup(gc_arena *arena, const char *s);
char *gc_arena_strndup(gc_arena *arena, const char *s, size_t n);
/* Grows an array allocated in the arena: copies the old contents into a new block. */
void *gc_arena_grow(gc_arena *arena, void *old, size_t old_bytes, size_t new_bytes);

/* Fault injection for tests: the Nth allocation from now (1 = the next) and all after it fail.
 * 0 turns it off. Process-wide, so only single-threaded tests use it. */
void gc_arena_fail_after(long n);

#endif
