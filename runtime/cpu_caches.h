/*
 * cpu_caches.h: the data cache sizes of the CPU gradc runs on, and the GEMM blocking they give,
 * so that a blocked kernel (runtime/gemm.c, and any other packed product) is sized from the
 * machine rather than from constants measured on one CPU.
 *
 * The sizes come from sysfs (/sys/devices/system/cpu/cpu0/cache), else CPUID (leaf 4 on Intel,
 * 0x8000001D on AMD, else AMD's older 0x80000005/6), else defaults typical of a current x86 core
 * (48 KiB L1d, 1 MiB L2, 2 MiB of L3 per core). A VM often reports a shared L3 of the whole
 * host's socket, or none: L3 only bounds NC, which is clamped.
 */
#ifndef GC_RUNTIME_CPU_CACHES_H
#define GC_RUNTIME_CPU_CACHES_H

#include <stdint.h>

typedef struct gc_cpu_caches {
    int64_t l1d;         /* bytes of level-1 data cache per core */
    int64_t l2;          /* bytes of level-2 cache per core */
    int64_t l3_per_core; /* bytes of level-3 cache over the cores sharing it (0: none known) */
    const char *source;  /* "sysfs", "cpuid" or "default" */
} gc_cpu_caches;

/* This machine's caches, found once (thread-safe). */
const gc_cpu_caches *gc_cpu_caches_get(void);

/* The blocking of a Goto/BLIS-style product with an mr x nr register tile over elements of
 * `elem_bytes` bytes: KC (the depth of a packed panel) so that a kc x nr panel of B fills L1,
 * which the micro-kernel's inner loop sweeps for every mr rows of A; MC (rows of a packed block
 * of A) so that mc x kc of A fills half of L2; NC (columns of a packed block of B) so that
 * kc x nc of B takes half of a core's share of L3, from 1024 to 4096 columns. KC is a multiple
 * of 16, MC of mr, NC of nr.
 *
 * GRADC_GEMM_BLOCKING=MC,KC,NC in the environment overrides the result (rounded the same way;
 * for measuring). */
typedef struct gc_gemm_blocking {
    int64_t mc, kc, nc;
} gc_gemm_blocking;

gc_gemm_blocking gc_gemm_blocking_for(int mr, int nr, int elem_bytes);

/* The same from given caches, without the environment (for tests). */
gc_gemm_blocking gc_gemm_blocking_from(const gc_cpu_caches *caches, int mr, int nr, int elem_bytes);

#endif
