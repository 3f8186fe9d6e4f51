/*
 * compile_report.c: the JIT compile's phases and kernel counts, as `--verbose` prints them
 * (docs/compile.md, "Compile phases").
 */
#include "tools/cli.h"

void gc_print_codegen_times(FILE *out, const gc_codegen_times *t) {
    if (!t->kernels && !t->functions) return; /* not compiled by the JIT */
    fprintf(out,
            "codegen: partition %.1f ms, plan %.1f ms, prepare %.1f ms, kernels %.1f ms on %d thread%s "
            "(emit %.1f, O3 %.1f, machine code %.1f ms summed over threads), link %.1f ms\n",
            t->partition_ms, t->plan_ms, t->prepare_ms, t->kernels_ms, t->threads, t->threads == 1 ? "" : "s",
            t->emit_ms, t->optimize_ms, t->object_ms, t->jit_ms);
    fprintf(out, "kernels: %d calls, %d distinct: %d compiled by LLVM, %d from the kernel cache", t->kernels,
            t->functions, t->compiled, t->cache_hits);
    if (!t->cache_enabled) fprintf(out, " (cache off)");
    else if (t->cache_rejected) fprintf(out, " (%d corrupt or foreign entries rebuilt)", t->cache_rejected);
    fprintf(out, "\n");
}
