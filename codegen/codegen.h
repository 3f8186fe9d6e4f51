/*
 * codegen.h: a gc_graph to native code through LLVM — the interface the runtime and the tools use.
 *
 * Kernels: a function per distinct kernel — a node, or a group of nodes fused by passes/fuse.c —
 * that computes something (a loop nest, or a GEMM call); equal kernels share one function
 * (codegen/dedup.c), called with pointers at fixed offsets into one buffer, the arena, whose
 * layout (an offset per node) comes from passes/plan.h. The JIT (codegen/program.c) compiles each
 * distinct kernel in a module of its own, on every core, or reads it from the kernel cache
 * (codegen/disk_cache.c), and runs `gc_init` (constants, iota), `gc_step` and `gc_update` (the
 * kernels that write params and state in place) as tables of calls, split ones on a thread pool
 * (runtime/parallel.h). Object files (codegen/object_file.c) hold the same kernels, read from the
 * cache or compiled alike, with the entry points as a loop over a table of those calls. The text
 * outputs build one module with the three entry points as functions calling the kernels directly,
 * optimised with default<O3> for the host CPU.
 * docs/codegen.md describes the kernel ABI and what is (not) fast-math.
 */
#ifndef GC_CODEGEN_CODEGEN_H
#define GC_CODEGEN_CODEGEN_H

#include <stdbool.h>
#include <stdint.h>

#include "ir/graph.h"
#include "passes/plan.h"

/* Wall-clock time of each compile phase, in milliseconds, and what was compiled. The JIT
 * (codegen/program.c) emits, optimises and compiles its distinct kernels on several threads:
 * emit_ms, optimize_ms and object_ms are summed over them, kernels_ms is the wall time of all
 * three. The module paths (IR and assembly) fill emit, verify and optimize. */
typedef struct gc_codegen_times {
    double partition_ms; /* the fusion partition (passes/fuse.h), by the JIT executor */
    double plan_ms;      /* the arena layout (passes/plan.h), by the JIT executor */
    double prepare_ms;   /* kernels and their sharing (codegen/dedup.c), the cache directory */
    double emit_ms;      /* graph to LLVM IR through the IR builder, verification and keying */
    double verify_ms;    /* LLVMVerifyModule (whole-module paths) */
    double optimize_ms;  /* default<O3> */
    double object_ms;    /* machine code of the kernels not in the cache */
    double kernels_ms;   /* emit, optimise and machine code of every kernel, on all threads */
    double jit_ms;       /* linking the kernels' objects inside ORC; for an object file, merging
                            them with the entry points' and writing it */
    double entries_ms;   /* an object file's entry points: their tables and code, compiled */
    bool entries_cached; /* ... or read from the kernel cache */
    double total_ms;
    int kernels;         /* kernel calls in a step and in gc_init (nodes that compute something) */
    int functions;       /* distinct kernels: equal kernels share one (codegen/dedup.c) */
    int compiled;        /* distinct kernels LLVM optimised and compiled in this compile */
    int cache_hits;      /* distinct kernels read from the kernel cache instead */
    int cache_rejected;  /* cache entries found corrupt or foreign (then compiled again) */
    bool cache_enabled;  /* a kernel cache directory was in use */
    int threads;         /* threads the kernels were compiled on */
} gc_codegen_times;

/* The module's entry points: each takes the arena and the thread pool split kernels run on
 * (a gc_pool from runtime/parallel.h; NULL runs every kernel on the calling thread). */
typedef void (*gc_step_fn)(char *arena, void *pool);

/* A compiled graph living in an LLJIT instance. */
typedef struct gc_codegen_jit gc_codegen_jit;

/* Compiles g with `layout` (from gc_layout_plan of the same graph). times may be NULL. */
gc_codegen_jit *gc_codegen_jit_compile(const gc_graph *g, const gc_layout *layout,
                                       gc_codegen_times *times, gc_error *err);
/* The same with every kernel of gc_step and gc_update timed into `profile` (a gc_profile of
 * runtime/profile.h, which must outlive the code). */
gc_codegen_jit *gc_codegen_jit_compile_profiled(const gc_graph *g, const gc_layout *layout, void *profile,
                                                gc_codegen_times *times, gc_error *err);
/* The entry points of a compiled graph. */
typedef enum gc_codegen_entry {
    GC_CODEGEN_INIT,   /* fills constants and iota; run once after the arena is allocated */
    GC_CODEGEN_STEP,   /* computes every node below layout->update_from from the sources */
    GC_CODEGEN_UPDATE, /* the kernels from layout->update_from on, which write params and state in
                          place; empty when the layout puts no update in place */
} gc_codegen_entry;
/* Runs an entry point over `arena` on `pool` (a gc_pool; NULL runs on the calling thread). */
void gc_codegen_jit_run(const gc_codegen_jit *jit, gc_codegen_entry entry, char *arena, void *pool);
/* The entry points as functions (gc_init, gc_step, gc_update, in that order), as an object file
 * would define them: made on first request (a few small functions through LLVM). */
int gc_codegen_jit_entries(gc_codegen_jit *jit, gc_step_fn entries[3], gc_error *err);
/* The same with gc_step calling gc_step_hook(hooks, event, node) around its kernels
 * (runtime/step_hook.h; hooks must outlive the code). */
gc_codegen_jit *gc_codegen_jit_compile_hooked(const gc_graph *g, const gc_layout *layout, void *profile, void *hooks,
                                              gc_codegen_times *times, gc_error *err);
void gc_codegen_jit_free(gc_codegen_jit *jit);

/* The optimised module as LLVM IR text (gradc ir --stage llvm); the caller frees it. */
char *gc_codegen_llvm_ir(const gc_graph *g, gc_error *err);
/* The same module as host assembly (gradc ir --stage asm); the caller frees it. */
char *gc_codegen_asm(const gc_graph *g, gc_error *err);
/* Writes g as a position-independent object file defining gc_init, gc_step and gc_update, for
 * the standalone trainer and --emit obj: the JIT's kernels (each distinct one compiled once, or
 * read from the kernel cache) and the entry points as tables of calls (codegen/object_file.c).
 * times (may be NULL) of the _planned form gets plan, the kernels' phases and counts, entries_ms
 * and jit_ms (merge and write). */
int gc_codegen_emit_object(const gc_graph *g, const char *path, gc_error *err);
/* The same over `layout`, g's from gc_layout_plan_step (NULL: planned here). */
int gc_codegen_emit_object_planned(const gc_graph *g, const gc_layout *layout, const char *path,
                                   gc_codegen_times *times, gc_error *err);
/* The same with one more entry point, gc_step_hooked(char *arena, void *pool, void *ctx): gc_step
 * calling gc_step_hook(ctx, event, node) around its kernels (runtime/step_hook.h; ctx a
 * gc_step_hook_ctx), which a standalone trainer runs under mpirun. gc_step itself has no hooks. */
int gc_codegen_emit_object_hooked(const gc_graph *g, const gc_layout *layout, const char *path,
                                  gc_codegen_times *times, gc_error *err);

/* The host CPU as LLVM names it ("znver4") and its features ("+avx512f,+fma,..."); the caller
 * frees both. */
char *gc_codegen_host_cpu(gc_error *err);
char *gc_codegen_host_features(gc_error *err);

#endif
