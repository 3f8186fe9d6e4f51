/* zeroed.c: zeroed buffers from mmap; see zeroed.h. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, MADV_HUGEPAGE */
#include "runtime/zeroed.h"

#include <stdint.h>
#include <sys/mman.h>

/* The huge page size on x86-64 Linux. A buffer this big or bigger is placed on a 2 MiB boundary
 * and offered to the kernel as transparent huge pages (MADV_HUGEPAGE): many systems, Debian's
 * included, only make huge pages where asked ("madvise" mode), and a step that streams a few
 * hundred MB through the GEMM's packing and the optimizer otherwise misses the TLB on every
 * 4 KiB page. Where the kernel has no huge pages the advice is ignored. */
#define HUGE_PAGE ((size_t)2 << 20)

void *gc_zeroed_alloc(size_t bytes) {
    if (!bytes) bytes = 1;
    if (bytes < HUGE_PAGE) {
        void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return p == MAP_FAILED ? NULL : p;
    }
    /* Map a huge page more than asked, then unmap the ends around the aligned run, so
     * gc_zeroed_free(p, bytes) unmaps exactly what is left. */
    size_t span = bytes + HUGE_PAGE;
    char *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return NULL;
    char *p = (char *)(((uintptr_t)raw + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    size_t page = 4096, end = ((size_t)(p - raw) + bytes + page - 1) / page * page;
    if (p > raw) munmap(raw, (size_t)(p - raw));
    if (end < span) munmap(raw + end, span - end);
#ifdef MADV_HUGEPAGE
    (void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
}

void gc_zeroed_free(void *p, size_t bytes) {
    if (p) munmap(p, bytes ? bytes : 1);
}
