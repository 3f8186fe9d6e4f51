/*
 * emit_gemm.c: the matmul kernel — calls to gc_sgemm (gradc's AVX-512 GEMM, runtime/gemm.h, which
 * takes cblas_sgemm's arguments and falls back to it) or OpenBLAS's cblas_dgemm for f64, one per
 * batch matrix, with transposes passed as CblasTrans flags so no operand is ever copied.
 *
 * Batch dims broadcast by NumPy rules become stride 0 in a loop nest around the call. The common
 * case of a batched activation times a shared weight (x[B..., M, K] @ w[K, N]) is one call with
 * M' = B... * M, since the rows of x and of the result are contiguous across the batch.
 *
 * A bf16 matmul (mixed precision, passes/precision.c) calls gc_sgemm_bf16 (runtime/gemm_bf16.h)
 * with the same arguments, whatever its width: it rounds the f32 operands to bf16 as it packs them.
 * It splits as an f32 product does, along k too (gc_sgemm_bf16_ksplit), and its parts share their
 * packing the same way.
 */
#include <limits.h>
#include <string.h>

#include "codegen/cg.h"
#include "runtime/gemm.h"

/* CBLAS enum values (cblas.h), passed as the int the C ABI uses for enums. */
#define CBLAS_ROW_MAJOR 101
#define CBLAS_NO_TRANS 111
#define CBLAS_TRANS 112

/* The narrowest product gradc's GEMM takes: its tile is 32 floats wide, and a product narrower
 * than half a tile wastes most of it, where OpenBLAS does better. */
#define OWN_GEMM_MIN_WIDTH 16

/* The strides of operand x when it is a view (passes/plan.h), or NULL when it is dense. */
static const int64_t *view_of(const cg_ctx *cg, const gc_node *x) {
    const gc_layout *l = cg->layout;
    return l && l->viewed && l->viewed[x->id] ? l->strides[x->id] : NULL;
}

/* The strides matmul n writes its result through (passes/plan.h), or NULL when it is dense. */
static const int64_t *written_through(const cg_ctx *cg, const gc_node *n) {
    const gc_layout *l = cg->layout;
    return l && l->strided && l->strided[n->id] ? l->strides[n->id] : NULL;
}

/* Strides (in elements) of t's batch dims walking the result's batch dims: one matrix per step,
 * 0 along a broadcast dim; a view's own strides (`view`, NULL when dense) where it has them. */
static void batch_strides(const gc_type *t, const int64_t *view, const gc_type *result, int64_t *strides) {
    int64_t mat = t->dims[t->rank - 2] * t->dims[t->rank - 1];
    gc_type lead = *t, rlead = *result;
    lead.rank -= 2;
    rlead.rank -= 2;
    cg_broadcast_strides(&lead, &rlead, strides);
    int shift = rlead.rank - lead.rank;
    for (int d = 0; d < rlead.rank; d++)
        if (strides[d]) strides[d] = view ? view[d - shift] : strides[d] * mat;
}

typedef struct gemm {
    gc_dtype dtype;
    bool bf16; /* operands rounded to bf16: gc_sgemm_bf16 */
    bool trans_a, trans_b;
    int64_t m, n, k, lda, ldb, ldc;
} gemm;

static void add_nounwind(cg_ctx *cg, LLVMValueRef fn) {
    unsigned kind = LLVMGetEnumAttributeKindForName("nounwind", 8);
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(cg->ctx, kind, 0));
}

/* One call; `len` (an i32 value, or NULL) replaces m, or n when `cols`. */
static void call_gemm_dyn(cg_ctx *cg, const gemm *g, bool cols, LLVMValueRef len, LLVMValueRef a, LLVMValueRef b,
                          LLVMValueRef c) {
    LLVMTypeRef ft = cg_type(cg, g->dtype);
    LLVMValueRef m = len && !cols ? len : cg_i32(cg, (int32_t)g->m), nn = len && cols ? len : cg_i32(cg, (int32_t)g->n);
    LLVMTypeRef params[14] = {cg->t_i32, cg->t_i32, cg->t_i32, cg->t_i32, cg->t_i32, cg->t_i32, ft,
                              cg->t_ptr, cg->t_i32, cg->t_ptr, cg->t_i32, ft, cg->t_ptr, cg->t_i32};
    LLVMValueRef args[14] = {
        cg_i32(cg, CBLAS_ROW_MAJOR),
        cg_i32(cg, g->trans_a ? CBLAS_TRANS : CBLAS_NO_TRANS),
        cg_i32(cg, g->trans_b ? CBLAS_TRANS : CBLAS_NO_TRANS),
        m, nn, cg_i32(cg, (int32_t)g->k),
        LLVMConstReal(ft, 1.0), a, cg_i32(cg, (int32_t)g->lda), b, cg_i32(cg, (int32_t)g->ldb),
        LLVMConstReal(ft, cg->gemm_accumulate ? 1.0 : 0.0), c, cg_i32(cg, (int32_t)g->ldc),
    };
    /* gc_sgemm_bf16 is an ordinary (strong) reference: there is no BLAS routine to fall back to,
     * so an object with bf16 products links gradc's runtime library, as one that convolves does. */
    if (g->bf16) {
        cg_call(cg, "gc_sgemm_bf16", cg->t_void, params, args, 14);
        return;
    }
    /* Decided on the whole product's width, so every part of a split product goes to the same
     * code, and on no host property, so an object file calls the same on any machine. */
    if (g->dtype == GC_F64 || g->n < OWN_GEMM_MIN_WIDTH) {
        cg->calls_blas = true;
        cg_call(cg, g->dtype == GC_F64 ? "cblas_dgemm" : "cblas_sgemm", cg->t_void, params, args, 14);
        return;
    }
    /* gc_sgemm (runtime/gemm.h) takes cblas_sgemm's arguments. It is declared weak, so an object
     * linked without gradc's runtime (--emit obj) calls OpenBLAS instead. */
    cg->calls_gemm = true;
    LLVMTypeRef fty = LLVMFunctionType(cg->t_void, params, 14, 0);
    LLVMValueRef own = LLVMGetNamedFunction(cg->mod, "gc_sgemm");
    if (!own) {
        own = LLVMAddFunction(cg->mod, "gc_sgemm", fty);
        LLVMSetLinkage(own, LLVMExternalWeakLinkage);
        add_nounwind(cg, own);
    }
    LLVMValueRef blas = LLVMGetNamedFunction(cg->mod, "cblas_sgemm");
    if (!blas) {
        blas = LLVMAddFunction(cg->mod, "cblas_sgemm", fty);
        add_nounwind(cg, blas);
    }
    LLVMValueRef callee = LLVMBuildSelect(cg->b, LLVMBuildIsNull(cg->b, own, ""), blas, own, "sgemm");
    LLVMBuildCall2(cg->b, fty, callee, args, 14, "");
}

static void call_gemm(cg_ctx *cg, const gemm *g, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
    call_gemm_dyn(cg, g, false, NULL, a, b, c);
}

/* x[B..., M, K] @ w[K, N] (w shared by every batch, x not transposed and dense): the batch's
 * rows are one GEMM's rows, so the batch folds into M. True also when there is no batch. */
static bool batch_folds(const cg_ctx *cg, const gc_node *n) {
    const gc_type *ta = &n->inputs[0]->type, *tb = &n->inputs[1]->type, *tr = &n->type;
    if (tr->rank <= 2) return true;
    int64_t sb[GC_MAX_RANK];
    batch_strides(tb, view_of(cg, n->inputs[1]), tr, sb);
    bool folds = !n->attr.matmul.transpose_a && ta->rank == tr->rank && !view_of(cg, n->inputs[0]) &&
                 !written_through(cg, n);
    for (int d = 0; d < tr->rank - 2; d++) folds = folds && sb[d] == 0 && ta->dims[d] == tr->dims[d];
    return folds;
}

/* The GEMMs of matmul n: one call's shape and the batch nest around it (rank 0 when the batch
 * folds into M). Fails only when a dimension exceeds what BLAS takes. */
static int plan_gemm(cg_ctx *cg, const gc_node *n, gemm *g, cg_nest *nest) {
    const gc_type *ta = &n->inputs[0]->type, *tb = &n->inputs[1]->type, *tr = &n->type;
    *g = (gemm){tr->dtype, n->attr.matmul.bf16 && tr->dtype == GC_F32, n->attr.matmul.transpose_a,
                n->attr.matmul.transpose_b, 0, 0, 0, 0, 0, 0};
    g->m = tr->dims[tr->rank - 2];
    g->n = tr->dims[tr->rank - 1];
    g->k = ta->dims[ta->rank - (g->trans_a ? 2 : 1)];
    /* Row-major leading dimensions: the stored row length of each operand, or a view's row
     * stride (its last dim is at stride 1: passes/plan.c). */
    const int64_t *va = view_of(cg, n->inputs[0]), *vb = view_of(cg, n->inputs[1]), *vc = written_through(cg, n);
    g->lda = va ? va[ta->rank - 2] : ta->dims[ta->rank - 1];
    g->ldb = vb ? vb[tb->rank - 2] : tb->dims[tb->rank - 1];
    g->ldc = vc ? vc[tr->rank - 2] : g->n;

    gc_type batch = *tr;
    batch.rank -= 2;
    int64_t sa[GC_MAX_RANK], sb[GC_MAX_RANK], sc[GC_MAX_RANK];
    batch_strides(ta, va, tr, sa);
    batch_strides(tb, vb, tr, sb);
    batch_strides(tr, vc, tr, sc);
    int64_t batches = gc_type_numel(&batch);

    if (batches > 1 && batch_folds(cg, n)) {
        g->m *= batches;
        batch.rank = 0;
    }
    int64_t limit = INT_MAX;
    if (g->m > limit || g->n > limit || g->k > limit || g->lda > limit || g->ldb > limit)
        return gc_failf(cg->err, GC_ERR_USER, "matmul %%%d: a matrix dimension exceeds the BLAS limit of %d",
                        n->id, INT_MAX);
    cg_nest_init(nest, batch.rank, batch.dims);
    cg_nest_add(nest, sa);
    cg_nest_add(nest, sb);
    cg_nest_add(nest, sc);
    cg_nest_coalesce(nest);
    return 1;
}

/* Elements from a matrix's start to row (or column) `i`: i times `stride`. */
static LLVMValueRef offset(cg_ctx *cg, LLVMValueRef i, int64_t stride) {
    return stride == 1 ? i : LLVMBuildMul(cg->b, i, cg_i64(cg, stride), "");
}

/* C[lo:hi, :] (rows) or C[:, lo:hi] (columns) of one GEMM: the same call on the operands' rows
 * or columns, whichever the transposes make them. */
static void call_gemm_part(cg_ctx *cg, const gemm *g, bool cols, LLVMValueRef lo, LLVMValueRef hi, LLVMValueRef a,
                           LLVMValueRef b, LLVMValueRef c) {
    gemm part = *g;
    LLVMValueRef len = LLVMBuildSub(cg->b, hi, lo, "");
    if (cols) {
        b = cg_elem_ptr(cg, g->dtype, b, offset(cg, lo, g->trans_b ? g->ldb : 1));
        c = cg_elem_ptr(cg, g->dtype, c, lo);
    } else {
        a = cg_elem_ptr(cg, g->dtype, a, offset(cg, lo, g->trans_a ? 1 : g->lda));
        c = cg_elem_ptr(cg, g->dtype, c, offset(cg, lo, g->ldc));
    }
    /* The parts share the packing of the operand each reads whole (runtime/gemm.h). */
    cg->gemm_split = cols ? 2 : 1;
    /* An empty part (more threads than rows) makes no call. */
    LLVMBasicBlockRef call = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "gemm");
    LLVMBasicBlockRef after = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "gemm.after");
    LLVMBuildCondBr(cg->b, LLVMBuildICmp(cg->b, LLVMIntSGT, len, cg_i64(cg, 0), ""), call, after);
    LLVMPositionBuilderAtEnd(cg->b, call);
    call_gemm_dyn(cg, &part, cols, LLVMBuildTrunc(cg->b, len, cg->t_i32, ""), a, b, c);
    LLVMBuildBr(cg->b, after);
    LLVMPositionBuilderAtEnd(cg->b, after);
}

/* Whether the host runs gradc's own GEMM (runtime/gemm.h): an f32 product 16 or more columns wide
 * on a CPU with AVX-512 (asked of LLVM once). */
static bool own_gemm(gc_dtype dtype, int64_t n) {
    static int host = 0; /* 0 unknown, 1 yes, 2 no */
    int h = __atomic_load_n(&host, __ATOMIC_RELAXED);
    if (!h) {
        char *features = LLVMGetHostCPUFeatures();
        h = features && strstr(features, "+avx512f") ? 1 : 2;
        LLVMDisposeMessage(features);
        __atomic_store_n(&host, h, __ATOMIC_RELAXED);
    }
    return h == 1 && dtype == GC_F32 && n >= OWN_GEMM_MIN_WIDTH;
}

/* Each part packs its rows of A and all of B when split by rows, all of A and its columns of B
 * when split by columns: with gradc's GEMM, columns pack less whenever the result is wider than
 * it is tall (M3's 256-token products against 768- to 50257-wide weights: 300-330 GFLOP/s on two
 * threads by columns, 260-290 by rows). Columns are cut at whole 32-column tiles.
 *
 * For OpenBLAS, measured on this project's machine (2 cores, OpenBLAS 0.3.21 single-threaded per
 * part): a split by rows runs a transformer's GEMMs at 195-218 GFLOP/s, better than OpenBLAS's own
 * two threads (175-200); columns win only for a short, wide result (128 x 1024: 187 vs 181), and
 * for A read transposed with a short K, where a row split halves A's packed panels (1024 x 784 x
 * 128: 146 GFLOP/s by columns, 97 by rows). */
bool cg_gemm_split_cols(gc_dtype dtype, int64_t m, int64_t n, int64_t k, bool trans_a, int64_t *unit) {
    bool own = own_gemm(dtype, n);
    bool cols = own ? n >= 64 && n > m : n >= 32 && (n > 4 * m || (trans_a && k < 256 && n >= m / 2));
    /* gradc's GEMM: whole 32-column tiles, or whole 12-row tiles (runtime/gemm.c's MR x NR): a
     * cut through a tile makes both parts compute a masked edge tile, a whole tile's FMAs for a
     * few rows (M2's 1024-row products in 8 parts: about 4% of their FMAs). */
    *unit = own ? (cols ? 32 : 12) : cols ? 16 : 1;
    return cols;
}

bool cg_gemm_rows(const cg_ctx *cg, const gc_node *n, int64_t *rows, int64_t *cols) {
    const gc_type *tr = &n->type;
    int64_t batches = 1;
    for (int d = 0; d < tr->rank - 2; d++) batches *= tr->dims[d];
    if (batches > 1 && !batch_folds(cg, n)) return false;
    *rows = batches * tr->dims[tr->rank - 2];
    *cols = tr->dims[tr->rank - 1];
    return true;
}

int cg_emit_matmul_part(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in, bool cols,
                        LLVMValueRef lo, LLVMValueRef hi) {
    gemm g;
    cg_nest nest;
    if (!plan_gemm(cg, n, &g, &nest)) return 0;
    if (nest.rank != 0)
        return gc_failf(cg->err, GC_ERR_INTERNAL, "internal error: codegen: matmul %%%d is not one GEMM", n->id);
    call_gemm_part(cg, &g, cols, lo, hi, in[0], in[1], out);
    return 1;
}

bool cg_gemm_splits_k(const cg_ctx *cg, const gc_node *n) {
    const gc_type *ta = &n->inputs[0]->type;
    int64_t rows, cols, k = ta->dims[ta->rank - (n->attr.matmul.transpose_a ? 2 : 1)];
    return n->type.dtype == GC_F32 && cg_gemm_rows(cg, n, &rows, &cols) &&
           gc_sgemm_splits_k(rows, cols, k);
}

/* A product split along k (runtime/gemm.h, gc_sgemm_ksplit): this part's run of the fixed
 * segments. gc_sgemm_ksplit is a weak reference: an object linked without gradc's runtime
 * computes the whole product, unsplit, in the part that holds segment 0. */
static void call_gemm_ksplit(cg_ctx *cg, const gemm *g, bool split, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
    LLVMValueRef lo = cg_i64(cg, 0), hi = cg_i64(cg, GC_SGEMM_K_SEGMENTS);
    if (split) {
        cg_split_range(cg, GC_SGEMM_K_SEGMENTS, 1, &lo, &hi);
        cg->gemm_split = 3;
    }
    LLVMTypeRef i32 = cg->t_i32, ptr = cg->t_ptr;
    LLVMTypeRef params[13] = {i32, i32, i32, i32, i32, ptr, i32, ptr, i32, ptr, i32, i32, i32};
    LLVMValueRef args[13] = {
        cg_i32(cg, g->trans_a ? CBLAS_TRANS : CBLAS_NO_TRANS),
        cg_i32(cg, g->trans_b ? CBLAS_TRANS : CBLAS_NO_TRANS),
        cg_i32(cg, (int32_t)g->m), cg_i32(cg, (int32_t)g->n), cg_i32(cg, (int32_t)g->k),
        a, cg_i32(cg, (int32_t)g->lda), b, cg_i32(cg, (int32_t)g->ldb), c, cg_i32(cg, (int32_t)g->ldc),
        LLVMBuildTrunc(cg->b, lo, i32, ""), LLVMBuildTrunc(cg->b, hi, i32, ""),
    };
    /* bf16 (runtime/gemm_bf16.h): an ordinary reference, as gc_sgemm_bf16 is. */
    if (g->bf16) {
        cg_call(cg, "gc_sgemm_bf16_ksplit", cg->t_void, params, args, 13);
        return;
    }
    LLVMTypeRef fty = LLVMFunctionType(cg->t_void, params, 13, 0);
    LLVMValueRef fn = LLVMGetNamedFunction(cg->mod, "gc_sgemm_ksplit");
    if (!fn) {
        fn = LLVMAddFunction(cg->mod, "gc_sgemm_ksplit", fty);
        LLVMSetLinkage(fn, LLVMExternalWeakLinkage);
        add_nounwind(cg, fn);
    }
    LLVMBasicBlockRef parts = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "ksplit");
    LLVMBasicBlockRef whole = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "ksplit.whole");
    LLVMBasicBlockRef call_whole = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "ksplit.first");
    LLVMBasicBlockRef after = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "ksplit.after");
    LLVMBuildCondBr(cg->b, LLVMBuildIsNull(cg->b, fn, ""), whole, parts);
    LLVMPositionBuilderAtEnd(cg->b, parts);
    LLVMBuildCall2(cg->b, fty, fn, args, 13, "");
    LLVMBuildBr(cg->b, after);
    LLVMPositionBuilderAtEnd(cg->b, whole);
    LLVMBuildCondBr(cg->b, LLVMBuildICmp(cg->b, LLVMIntEQ, lo, cg_i64(cg, 0), ""), call_whole, after);
    LLVMPositionBuilderAtEnd(cg->b, call_whole);
    call_gemm(cg, g, a, b, c);
    LLVMBuildBr(cg->b, after);
    LLVMPositionBuilderAtEnd(cg->b, after);
}

int cg_emit_matmul(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in) {
    gemm g;
    cg_nest nest;
    if (!plan_gemm(cg, n, &g, &nest)) return 0;
    double work = (double)g.m * (double)g.n * (double)g.k;
    for (int d = 0; d < nest.rank; d++) work *= (double)nest.dims[d];
    /* A product far deeper than its result splits along k, whether or not the pool shares it
     * out (gc_sgemm_ksplit's bits are the same either way). */
    if (nest.rank == 0 && g.dtype == GC_F32 && gc_sgemm_splits_k(g.m, g.n, g.k)) {
        call_gemm_ksplit(cg, &g, cg_split_worthwhile(cg, work), in[0], in[1], out);
        return 1;
    }
    /* One GEMM splits along its longer side (columns at whole vectors); a batch splits by matrix. */
    if (nest.rank == 0 && (g.m >= 2 || g.n >= 32) && cg_split_worthwhile(cg, work)) {
        int64_t unit;
        bool cols = cg_gemm_split_cols(g.dtype, g.m, g.n, g.k, g.trans_a, &unit);
        LLVMValueRef lo, hi;
        cg_split_range(cg, cols ? g.n : g.m, unit, &lo, &hi);
        call_gemm_part(cg, &g, cols, lo, hi, in[0], in[1], out);
        return 1;
    }
    /* A batch splits by whole matrices (unit 1: a batch of 32 is 16 matrices a part on two
     * threads, not the 64-element runs a flat loop is cut into). */
    if (nest.rank >= 1 && nest.dims[0] >= 2 && cg_split_worthwhile(cg, work)) {
        LLVMValueRef lo, hi;
        cg_split_range(cg, nest.dims[0], 1, &lo, &hi);
        cg_nest_begin_part(cg, &nest, 0, lo, hi);
    } else {
        cg_nest_begin(cg, &nest);
    }
    call_gemm(cg, &g, cg_elem_ptr(cg, g.dtype, in[0], nest.off[0]), cg_elem_ptr(cg, g.dtype, in[1], nest.off[1]),
              cg_elem_ptr(cg, g.dtype, out, nest.off[2]));
    cg_nest_end(cg, &nest);
    return 1;
}

bool cg_gemm_batches(const cg_ctx *cg, const gc_node *n, int64_t *batches, int *lead) {
    if (batch_folds(cg, n)) return false;
    gemm g;
    cg_nest nest;
    gc_error err = {0};
    cg_ctx probe = {.err = &err, .layout = cg->layout};
    if (!plan_gemm(&probe, n, &g, &nest) || nest.rank < 1) return false;
    /* The batch nest's outermost dim: the result's leading batch dims, merged (all of them
     * unless an operand's view keeps them apart). */
    int64_t count = 1;
    int j = 0;
    while (j < n->type.rank - 2 && count < nest.dims[0]) count *= n->type.dims[j++];
    *batches = nest.dims[0];
    *lead = j;
    return count == nest.dims[0];
}

int cg_emit_matmul_batch_part(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in, LLVMValueRef lo,
                              LLVMValueRef hi) {
    gemm g;
    cg_nest nest;
    if (!plan_gemm(cg, n, &g, &nest)) return 0;
    if (nest.rank < 1)
        return gc_failf(cg->err, GC_ERR_INTERNAL, "internal error: codegen: matmul %%%d is not a batch of matrices",
                        n->id);
    cg_nest_begin_part(cg, &nest, 0, lo, hi);
    call_gemm(cg, &g, cg_elem_ptr(cg, g.dtype, in[0], nest.off[0]), cg_elem_ptr(cg, g.dtype, in[1], nest.off[1]),
              cg_elem_ptr(cg, g.dtype, out, nest.off[2]));
    cg_nest_end(cg, &nest);
    return 1;
}
