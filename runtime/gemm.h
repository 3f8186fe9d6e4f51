/*
 * gemm.h: the single-precision matrix product generated code calls for every f32 matmul.
 *
 * gc_sgemm takes cblas_sgemm's arguments, so a kernel calls one or the other with the same
 * operands. On a CPU with AVX-512 it runs gradc's own packed, blocked kernel (gemm.c): OpenBLAS
 * 0.3.21, Debian 12's, does not know AMD Zen 5 and runs its AVX2 (Haswell) kernel there, at half
 * the core's FMA rate. Elsewhere it calls cblas_sgemm; so does generated code itself for a
 * product narrower than 16 columns (codegen/emit_gemm.c). Setting GRADC_GEMM=openblas in the
 * environment makes every call go to OpenBLAS (read once, at the first call), for comparison.
 *
 * The own kernel computes every element of C the same way wherever the call's rows and columns
 * start (the same sums over k, in the same order), so a product split into parts gives the same
 * bits however it is cut (runtime/parallel.h relies on it).
 *
 * Each call runs on the calling thread: codegen splits a large product into parts across the
 * step's pool (codegen/emit_gemm.c). The packing buffers are per thread, allocated on a thread's
 * first call and freed when it exits, so a training step allocates nothing after its first.
 */
#ifndef GC_RUNTIME_GEMM_H
#define GC_RUNTIME_GEMM_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/cpu_caches.h"

/* C = alpha op(A) op(B) + beta C, with cblas_sgemm's meaning of every argument (layout 101 row
 * major, 102 column major; transposes 111 none, 112 and 113 transposed). */
void gc_sgemm(int32_t layout, int32_t trans_a, int32_t trans_b, int32_t m, int32_t n, int32_t k, float alpha,
              const float *a, int32_t lda, const float *b, int32_t ldb, float beta, float *c, int32_t ldc);

/* The same product by gradc's AVX-512 kernel whatever the environment says; false (and nothing
 * computed) when the CPU lacks AVX-512 or the packing buffers cannot be allocated. For tests. */
bool gc_sgemm_own(int32_t layout, int32_t trans_a, int32_t trans_b, int32_t m, int32_t n, int32_t k, float alpha,
                  const float *a, int32_t lda, const float *b, int32_t ldb, float beta, float *c, int32_t ldc);

/* The same product with B packed by the caller (an implicit GEMM: convolution unfolds its input
 * straight into the packed panels, runtime/conv.c). pack(ctx, p0, kc, j0, nc, dst) writes rows
 * [p0, p0 + kc) and columns [j0, j0 + nc) of op(B) as GC_SGEMM_PANEL-column panels: panel q (columns
 * j0 + q .. + GC_SGEMM_PANEL) at dst + q * kc, each of its kc rows GC_SGEMM_PANEL floats side by
 * side, zeros past column n. Every element of C is computed as gc_sgemm_own computes it. false
 * (nothing computed) when gc_sgemm does not use gradc's kernel, or m, n or k is 0. */
#define GC_SGEMM_PANEL 32
typedef void (*gc_sgemm_pack_fn)(const void *ctx, int64_t p0, int64_t kc, int64_t j0, int64_t nc, float *dst);
bool gc_sgemm_own_packed(bool trans_a, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                         gc_sgemm_pack_fn pack, const void *ctx, float beta, float *c, int64_t ldc);

/* Whether gc_sgemm uses gradc's kernel for products it can take (the CPU has AVX-512 and
 * GRADC_GEMM does not say openblas). */
bool gc_sgemm_uses_own(void);

/* Many products against one B (a recurrence's W_hh at every step, runtime/recurrent.c): B packed
 * once into `packed` (gc_sgemm_packed_b_floats(n, k) floats, 64-byte aligned; 0 when gc_sgemm
 * does not run gradc's kernel), then C[m x n] = A[m x k] B + beta C (row major, A not transposed,
 * beta 0 or 1) by gc_sgemm_packed_b, with the same bits as gc_sgemm. false: not done (call
 * gc_sgemm instead). */
int64_t gc_sgemm_packed_b_floats(int32_t n, int32_t k);
bool gc_sgemm_pack_b(int32_t trans_b, int32_t n, int32_t k, const float *b, int32_t ldb, float *packed);
bool gc_sgemm_packed_b(int32_t m, int32_t n, int32_t k, const float *a, int32_t lda, const float *packed, float beta,
                       float *c, int32_t ldc);

/* The parts of a split product (the chunks of one job of the pool, runtime/parallel.h) all read
 * one operand whole: B when the product is split by rows, A by columns. Between
 * gc_sgemm_share_begin(job, operand) and gc_sgemm_share_end, this thread's gc_sgemm calls are parts
 * of job `job` (unique in the process, never 0) and share the packing of that operand
 * (GC_SGEMM_SHARE_A or _B) with the job's other parts: each block is packed once, by whichever
 * part needs it first, and read by the others, on any thread (gemm.c). Nothing waits for another
 * thread, and C's bits are the same as without sharing. The operand must not change during the
 * job; a call whose operand differs from the first part's packs its own. */
#define GC_SGEMM_SHARE_A 1
#define GC_SGEMM_SHARE_B 2
/* The parts of a job are segments of one gc_sgemm_ksplit product. */
#define GC_SGEMM_SHARE_K 3
void gc_sgemm_share_begin(uint64_t job, int operand);
void gc_sgemm_share_end(void);
/* This thread's current job (0 outside one) and, in *operand, what its parts share: how the bf16
 * GEMM's parts (runtime/gemm_bf16.c) join the same jobs. */
uint64_t gc_sgemm_share_current(int *operand);

/* A product whose depth dwarfs its result (M3's tied head's input gradient: 256 x 768 over
 * k = 50257), split along k. Split by rows or columns instead, every part would stream all of
 * one operand (by columns, all 51 MB of the logits' gradient, 8 times a step on two threads);
 * split along k, every part reads its share of A and B once. k is cut into
 * GC_SGEMM_K_SEGMENTS fixed segments (whole KC blocks; where the cuts fall depends only on m, n, k and the
 * blocking); a call computes segments [seg_from, seg_to): segment 0 into C, the others into a
 * buffer of partial products shared by the job's parts (gc_sgemm_share_begin with
 * GC_SGEMM_SHARE_K), and the part that finishes the last segment adds them to C in segment order.
 * So C's bits depend neither on which part or thread computes a segment nor on the thread count;
 * they differ from gc_sgemm's (whose sum over k is one chain of KC blocks) in the last places. A
 * call outside a job (no gc_sgemm_share_begin) computes every segment whatever its range when
 * seg_from is 0, and nothing otherwise. Row major, C = op(A) op(B) (alpha 1, beta 0). */
#define GC_SGEMM_K_SEGMENTS 8
void gc_sgemm_ksplit(int32_t trans_a, int32_t trans_b, int32_t m, int32_t n, int32_t k, const float *a, int32_t lda,
                     const float *b, int32_t ldb, float *c, int32_t ldc, int32_t seg_from, int32_t seg_to);

/* How generated code splits an f32 product C[m x n] over k over the pool (codegen/emit_gemm.c),
 * here so that `gradc check` counts the buffers the split needs (runtime/trainer.c) by the same
 * rule: along k (gc_sgemm_ksplit) when k is at least 8 times the longer side of C and 16 KC
 * blocks deep at the least (a shape rule, independent of the host, so an object file splits the
 * same anywhere). */
static inline bool gc_sgemm_splits_k(int64_t m, int64_t n, int64_t k) {
    int64_t side = m > n ? m : n;
    return n >= 16 && k >= 8192 && k >= 8 * side;
}
/* With gradc's kernel, a product not split along k splits by columns when C is wider than tall
 * (each part then packs all of A), else by rows (all of B). */
static inline bool gc_sgemm_own_splits_cols(int64_t m, int64_t n) { return n >= 64 && n > m; }

/* Bytes of the buffers gc_sgemm holds for the whole process (not per thread) while it runs a
 * split product of shape (m, n, k): `split` GC_SGEMM_SHARE_B (split by rows: B packed once for
 * all parts), _A (by columns) or _K (gc_sgemm_ksplit's partial products). 0 when it holds none
 * (an operand too large to share, or OpenBLAS runs the parts). The buffers are kept and grow to
 * the largest product run. */
int64_t gc_sgemm_shared_bytes(int split, int64_t m, int64_t n, int64_t k);

/* The blocking (MC, KC, NC) gradc's kernel uses (runtime/cpu_caches.h; zeros where it does not
 * run), and a change of it for the whole process: rounded as GRADC_GEMM_BLOCKING is, taken by the
 * next product on every thread (packing buffers grow on their thread's next call). Only between
 * products, never while one runs, nor between gc_sgemm_pack_b and its gc_sgemm_packed_b calls.
 * KC changes bits (the sums over k are cut into KC blocks): a checkpoint records the blocking and
 * a resumed run sets it (runtime/trainer.c), so it stays bit-identical to the run it continues
 * whatever `gradc tune` chose since. */
gc_gemm_blocking gc_sgemm_blocking(void);
void gc_sgemm_set_blocking(gc_gemm_blocking b);

/* Bytes of the packing buffers gc_sgemm holds per thread that has called it: 0 when it calls
 * OpenBLAS, which allocates buffers of its own. */
int64_t gc_sgemm_workspace_bytes(void);

#endif
