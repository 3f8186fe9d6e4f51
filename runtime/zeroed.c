/* zeroed.c: zeroed buffers from mmap; see zeroed.h. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include "runtime/zeroed.h"

#include <sys/mman.h>

void *gc_zeroed_alloc(size_t bytes) {
    if (!bytes) bytes = 1;
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void gc_zeroed_free(void *p, size_t bytes) {
    if (p) munmap(p, bytes ? bytes : 1);
}
