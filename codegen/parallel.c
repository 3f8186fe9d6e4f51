/*
 * parallel.c: splitting a kernel over the step's thread pool (runtime/parallel.h).
 *
 * Every kernel takes its part and the part count as its last two parameters. An emitter that can
 * split its work asks cg_split_worthwhile, then walks only this part's run of its outermost index
 * (rows of a result, matrices of a batch, columns of a GEMM); the kernel is then marked parallel
 * and the step calls it through the pool, every part on its own thread. A kernel whose emitter
 * never splits ignores both parameters and the step calls it directly, once.
 *
 * Parts are cut at compile-time constants times the part index, so each part covers the same
 * elements on every run: results are bit-identical from run to run at a fixed thread count, and
 * since no part ever sums across another part's elements, they do not depend on the count either
 * (GEMMs aside: OpenBLAS may block a narrower matrix differently).
 */
#include "codegen/cg.h"

/* Below this many elements (or multiply-adds) a kernel runs on one thread: handing a part to a
 * spinning worker costs about a microsecond, and a kernel this small takes a few. Measured on
 * M1 and M2: 8K beats 32K by 2-4% (less serial work while the worker waits). */
#define SPLIT_MIN_WORK 8192.0

bool cg_split_worthwhile(cg_ctx *cg, double work) {
    return cg->part != NULL && work >= SPLIT_MIN_WORK;
}

/* Where part q starts: q * units / parts whole units in, or `count` for q = parts. */
static LLVMValueRef boundary(cg_ctx *cg, LLVMValueRef q, int64_t count, int64_t unit) {
    LLVMValueRef q64 = LLVMBuildSExt(cg->b, q, cg->t_i64, "");
    LLVMValueRef parts = LLVMBuildSExt(cg->b, cg->parts, cg->t_i64, "");
    LLVMValueRef units = cg_i64(cg, count / unit);
    LLVMValueRef at = LLVMBuildMul(cg->b, LLVMBuildSDiv(cg->b, LLVMBuildMul(cg->b, units, q64, ""), parts, ""),
                                   cg_i64(cg, unit), "");
    LLVMValueRef last = LLVMBuildICmp(cg->b, LLVMIntSGE, q, cg->parts, "");
    return LLVMBuildSelect(cg->b, last, cg_i64(cg, count), at, "");
}

void cg_split_range(cg_ctx *cg, int64_t count, int64_t unit, LLVMValueRef *lo, LLVMValueRef *hi) {
    if (unit < 1) unit = 1;
    if (unit > count) unit = count > 0 ? count : 1;
    *lo = boundary(cg, cg->part, count, unit);
    *hi = boundary(cg, LLVMBuildAdd(cg->b, cg->part, cg_i32(cg, 1), ""), count, unit);
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
