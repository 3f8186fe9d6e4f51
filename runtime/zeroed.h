/*
 * zeroed.h: the big zeroed buffers a step works in (the JIT's and the standalone trainer's arena).
 *
 * They come straight from mmap: the kernel hands out zero pages on first touch, so a 5 GB arena
 * costs nothing until the step writes it, instead of the seconds memset takes to fault in every
 * page up front, and pages a layout never uses never count toward the process's memory.
 */
#ifndef GC_RUNTIME_ZEROED_H
#define GC_RUNTIME_ZEROED_H

#include <stddef.h>

/* `bytes` of zeroed, page-aligned memory, or NULL. */
void *gc_zeroed_alloc(size_t bytes);
void gc_zeroed_free(void *p, size_t bytes);

#endif
