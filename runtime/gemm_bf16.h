/*
 * gemm_bf16.h: the bf16 matrix product of mixed precision (train { precision = "bf16" }).
 *
 * gc_sgemm_bf16 takes cblas_sgemm's arguments and f32 operands, rounds every element of op(A) and
 * op(B) to bf16 (round to nearest, ties to even, as torch's c10::BFloat16 and its autocast do)
 * while packing them, and accumulates the products in f32: activations and weights stay f32 in
 * memory, only the packed panels are bf16. The kernel is chosen once from the CPU:
 *
 *   avx512_bf16  AVX512_BF16's vdpbf16ps: two bf16 products per f32 lane and instruction, twice
 *                the f32 FMA rate (Zen 4/5, Cooper Lake, Sapphire Rapids and later);
 *   avx512f      the same panels widened back to f32 in registers and FMAs (AVX-512 without BF16);
 *   scalar       the same panels in plain C (no AVX-512).
 *
 * All three round the operands the same way and differ only in how f32 sums are rounded (vdpbf16ps
 * adds a pair of products at a time; the others add one product at a time), so any of them differs
 * from exact sums of the rounded operands by f32 rounding only, but for one corner: the
 * avx512_bf16 kernel counts subnormal operands (|x| < 2^-126) as zero, as vdpbf16ps and its
 * conversion instruction do (torch's bf16 matmuls on such CPUs, through oneDNN, do the same).
 * Every element of C is computed the same way wherever the call's rows and columns start, so a
 * product split into parts gives the same bits however it is cut (runtime/parallel.h). Packing
 * buffers are per thread, allocated on a thread's first call and freed when it exits; the parts of
 * a split product (between gc_sgemm_share_begin and _end, runtime/gemm.h) share the packing of the
 * operand they all read, as gc_sgemm's do, in buffers of their own kept for the process.
 */
#ifndef GC_RUNTIME_GEMM_BF16_H
#define GC_RUNTIME_GEMM_BF16_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/gemm.h"

/* x rounded to bf16, to nearest with ties to even, as torch's c10::BFloat16(float): subnormals
 * round like any other value (no flush) and every NaN becomes 0x7fc0. */
uint16_t gc_bf16_from_f32(float x);
/* The f32 with bf16 h's bits in its upper half (exact). */
float gc_bf16_to_f32(uint16_t h);
/* x rounded to the nearest bf16 and widened back: gc_bf16_to_f32(gc_bf16_from_f32(x)). */
float gc_bf16_round(float x);

/* C = alpha op(A) op(B) + beta C with op(A), op(B) rounded to bf16 and f32 accumulation; cblas_sgemm's
 * arguments (layout 101 row major, 102 column major; transposes 111 none, 112 and 113 transposed). */
void gc_sgemm_bf16(int32_t layout, int32_t trans_a, int32_t trans_b, int32_t m, int32_t n, int32_t k, float alpha,
                   const float *a, int32_t lda, const float *b, int32_t ldb, float beta, float *c, int32_t ldc);

/* gc_sgemm_own_packed's product (B packed by the caller into f32 GC_SGEMM_PANEL-column panels,
 * runtime/gemm.h) with both operands rounded to bf16: row-major C[m x n] = op(A) B + beta C. false
 * (nothing computed) only when the packing buffers cannot be allocated or m, n or k is 0. */
bool gc_sgemm_bf16_packed(bool trans_a, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                          gc_sgemm_pack_fn pack, const void *ctx, float beta, float *c, int64_t ldc);

/* gc_sgemm_ksplit's product (runtime/gemm.h: C = op(A) op(B), row major, cut along k into
 * GC_SGEMM_K_SEGMENTS fixed segments of whole KC blocks, the parts of one job sharing the partial
 * products, the part finishing the last segment adding them to C in segment order) with both
 * operands rounded to bf16: every element of A and B is read and rounded once a product whatever
 * the thread count, where a split by columns would have every part round all of A. C's bits depend
 * neither on the thread count nor on which thread runs a segment. Called when gc_sgemm_splits_k. */
void gc_sgemm_bf16_ksplit(int32_t trans_a, int32_t trans_b, int32_t m, int32_t n, int32_t k, const float *a,
                          int32_t lda, const float *b, int32_t ldb, float *c, int32_t ldc, int32_t seg_from,
                          int32_t seg_to);

/* Bytes of the buffers gc_sgemm_bf16 holds for the whole process while it runs a split product of
 * shape (m, n, k), as gc_sgemm_shared_bytes counts gc_sgemm's: GC_SGEMM_SHARE_B (split by rows: B's
 * pair-word panels shared by the parts), _A (by columns) or _K (gc_sgemm_bf16_ksplit's partial
 * products); 0 when it holds none (an operand too large to share). */
int64_t gc_sgemm_bf16_shared_bytes(int split, int64_t m, int64_t n, int64_t k);

typedef enum gc_bf16_kernel {
    GC_BF16_KERNEL_AUTO,        /* the best the CPU has (the default) */
    GC_BF16_KERNEL_AVX512_BF16, /* vdpbf16ps */
    GC_BF16_KERNEL_AVX512F,     /* bf16 panels, f32 FMAs */
    GC_BF16_KERNEL_SCALAR,      /* plain C */
} gc_bf16_kernel;

/* The kernel gc_sgemm_bf16 runs. GRADC_BF16_KERNEL=avx512_bf16|avx512f|scalar in the environment
 * (read at the first call) asks for one; a kernel the CPU lacks falls back to the next. */
gc_bf16_kernel gc_sgemm_bf16_kernel(void);
const char *gc_bf16_kernel_name(gc_bf16_kernel kernel);
/* Makes later calls run `kernel` (AUTO: the CPU's best); false, and nothing changed, when the CPU
 * lacks it. For tests and benchmarks: not safe while another thread multiplies. */
bool gc_sgemm_bf16_set_kernel(gc_bf16_kernel kernel);

/* Bytes of the packing buffers gc_sgemm_bf16 holds per thread that has called it (bf16 panels
 * of A and B), and what the same blocks take as f32 panels (gc_sgemm_workspace_bytes's). */
int64_t gc_sgemm_bf16_workspace_bytes(void);

#endif
