/*
 * emit_random.c: Philox4x32-10 in LLVM IR, bit for bit the generator of ir/random.c.
 *
 * Emitted inline rather than called so a dropout mask is a vectorisable loop of integer
 * multiplies. The key (the seed) is a compile-time constant, so its Weyl schedule is folded here
 * and each round costs two 32x32->64 multiplies and a few xors.
 */
#include "codegen/cg.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static LLVMValueRef u32(cg_ctx *cg, uint32_t v) { return LLVMConstInt(cg->t_i32, v, 0); }

/* The high and low words of the 64-bit product of a 32-bit value and a constant. */
static void mul_hi_lo(cg_ctx *cg, LLVMValueRef x, uint32_t m, LLVMValueRef *hi, LLVMValueRef *lo) {
    LLVMValueRef wide = LLVMBuildZExt(cg->b, x, cg->t_i64, "");
    LLVMValueRef p = LLVMBuildMul(cg->b, wide, LLVMConstInt(cg->t_i64, m, 0), "");
    *lo = LLVMBuildTrunc(cg->b, p, cg->t_i32, "");
    *hi = LLVMBuildTrunc(cg->b, LLVMBuildLShr(cg->b, p, LLVMConstInt(cg->t_i64, 32, 0), ""), cg->t_i32, "");
}

LLVMValueRef cg_random_uniform(cg_ctx *cg, const gc_node *n, LLVMValueRef step, LLVMValueRef index) {
    uint64_t seed = (uint64_t)n->attr.random.seed, stream = (uint64_t)n->attr.random.stream;
    /* Counter {index low, index high, step, stream}, key {seed low, seed high}, as ir/random.c. */
    LLVMValueRef c0 = LLVMBuildTrunc(cg->b, index, cg->t_i32, "");
    LLVMValueRef c1 = LLVMBuildTrunc(cg->b, LLVMBuildLShr(cg->b, index, cg_i64(cg, 32), ""), cg->t_i32, "");
    LLVMValueRef c2 = step;
    LLVMValueRef c3 = u32(cg, (uint32_t)stream);
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int round = 0; round < 10; round++) {
        LLVMValueRef hi0, lo0, hi1, lo1;
        mul_hi_lo(cg, c0, PHILOX_M0, &hi0, &lo0);
        mul_hi_lo(cg, c2, PHILOX_M1, &hi1, &lo1);
        LLVMValueRef n0 = LLVMBuildXor(cg->b, LLVMBuildXor(cg->b, hi1, c1, ""), u32(cg, k0), "");
        LLVMValueRef n2 = LLVMBuildXor(cg->b, LLVMBuildXor(cg->b, hi0, c3, ""), u32(cg, k1), "");
        c0 = n0;
        c1 = lo1;
        c2 = n2;
        c3 = lo0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    /* The top 24 bits of word 0 over 2^24: exact in f32 and f64 alike. */
    LLVMTypeRef t = cg_type(cg, n->type.dtype);
    LLVMValueRef bits = LLVMBuildLShr(cg->b, c0, u32(cg, 8), "");
    LLVMValueRef v = LLVMBuildUIToFP(cg->b, bits, t, "");
    return LLVMBuildFMul(cg->b, v, LLVMConstReal(t, 1.0 / 16777216.0), "");
}
