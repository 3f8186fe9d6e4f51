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

#include <stdbool.h>
#include <stddef.h>
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
 * for measuring). Only KC changes a product's bits (it cuts the sums over k into blocks), so a
 * checkpoint records the blocking its run used (runtime/gemm.h, gc_sgemm_set_blocking). */
typedef struct gc_gemm_blocking {
    int64_t mc, kc, nc;
} gc_gemm_blocking;

/* The blocking: GRADC_GEMM_BLOCKING when set, else what `gradc tune` chose on this CPU model
 * (the file gc_gemm_tune_path names), else the caches'. */
gc_gemm_blocking gc_gemm_blocking_for(int mr, int nr, int elem_bytes);

/* The same from given caches, without the environment (for tests). */
gc_gemm_blocking gc_gemm_blocking_from(const gc_cpu_caches *caches, int mr, int nr, int elem_bytes);

/* b rounded as GRADC_GEMM_BLOCKING is (KC to 16, MC to mr, NC to nr) and bounded. */
gc_gemm_blocking gc_gemm_blocking_round(gc_gemm_blocking b, int mr, int nr);

/* "MC,KC,NC" parsed into *b (not rounded); false when s is not three positive integers. */
bool gc_gemm_blocking_parse(const char *s, gc_gemm_blocking *b);

/* What identifies this CPU model for tuning: "vendor-family-model-stepping" from CPUID (e.g.
 * "AuthenticAMD-26-2-1"), "unknown" elsewhere. */
const char *gc_cpu_model_key(void);

/* The file of `gradc tune`'s choice for this CPU model: $GRADC_TUNE_FILE when set ("" or "off":
 * none), else gemm-<model key>.tune in gradc's cache directory ($GRADC_CACHE_DIR, else
 * $XDG_CACHE_HOME/gradc, else ~/.cache/gradc; the kernel cache's). false: there is none. */
bool gc_gemm_tune_path(char *path, size_t size);

/* The choice recorded in `path` (its first line, "MC,KC,NC"); false when missing or unreadable. */
bool gc_gemm_tune_read(const char *path, gc_gemm_blocking *b);

#endif
