/*
 * parallel.c: splitting a kernel over the step's thread pool (runtime/parallel.h).
 *
 * Every kernel takes its part's share of the work as its last two parameters: the fraction
 * [from, to) of GC_SHARE_ONE (runtime/parallel.h). An emitter that can split its work asks
 * cg_split_worthwhile, then walks only that share of its outermost index (rows of a result,
 * matrices of a batch, columns of a GEMM), cut at whole units; the kernel is then marked parallel
 * and the step calls it through the pool, every part on its own thread. A kernel whose emitter
 * never splits ignores both parameters and the step calls it directly, once.
 *
 * No part ever sums across another part's elements, and gradc's GEMM computes an element the
 * same way wherever its tile starts, so results do not depend on where the cuts fall: the pool
 * may move them (balancing) and the thread count may change without changing a bit. A kernel
 * that calls OpenBLAS, which may block a narrower matrix differently, is flagged, and the pool
 * cuts it evenly.
 */
#include "codegen/cg.h"
#include "passes/fuse.h"

bool cg_split_worthwhile(cg_ctx *cg, double work) {
    return cg->share_from != NULL && work >= GC_SPLIT_MIN_WORK;
}

/* Where a share boundary `at` (a fraction of GC_SHARE_ONE, an i32 value) falls: that fraction
 * of the whole units, in elements, or `count` for the whole. */
static LLVMValueRef boundary(cg_ctx *cg, LLVMValueRef at, int64_t count, int64_t unit) {
    LLVMValueRef at64 = LLVMBuildSExt(cg->b, at, cg->t_i64, "");
    LLVMValueRef units = cg_i64(cg, count / unit);
    LLVMValueRef whole = LLVMBuildAShr(cg->b, LLVMBuildMul(cg->b, units, at64, ""), cg_i64(cg, GC_SHARE_BITS), "");
    LLVMValueRef start = LLVMBuildMul(cg->b, whole, cg_i64(cg, unit), "");
    LLVMValueRef end = LLVMBuildICmp(cg->b, LLVMIntSGE, at, cg_i32(cg, 1 << GC_SHARE_BITS), "");
    return LLVMBuildSelect(cg->b, end, cg_i64(cg, count), start, "");
}

void cg_split_range(cg_ctx *cg, int64_t count, int64_t unit, LLVMValueRef *lo, LLVMValueRef *hi) {
    if (unit < 1) unit = 1;
    /* Whole units are what the parts share out: a run too short for eight of them takes smaller
     * ones, or a 32-row loop cut at 64 would give one part everything and the others nothing. */
    while (unit > 1 && count / unit < 8) unit = (unit + 1) / 2;
    *lo = boundary(cg, cg->share_from, count, unit);
    *hi = boundary(cg, cg->share_to, count, unit);
    cg->parallel = true;
}

bool cg_nest_begin_split(cg_ctx *cg, cg_nest *nest, double work) {
    if (nest->rank < 1 || nest->dims[0] < 2 || !cg_split_worthwhile(cg, work)) {
        cg_nest_begin(cg, nest);
        return false;
    }
    /* A single flat loop is cut at whole vectors, so each part's loop vectorises cleanly. */
    int64_t unit = nest->rank == 1 ? 64 : 1;
    LLVMValueRef lo, hi;
    cg_split_range(cg, nest->dims[0], unit, &lo, &hi);
    cg_nest_begin_part(cg, nest, 0, lo, hi);
    return true;
}
