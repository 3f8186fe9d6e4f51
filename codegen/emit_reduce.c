/*
 * emit_reduce.c: kernels of the reductions over an axis mask (sum, mean, max, min) and of the
 * ops that reduce along one axis (argmax, softmax, log_softmax).
 *
 * The order of accumulation is fixed at compile time, so a step gives the same bits every run.
 * A reduction walks the operand's dims up to the last reduced one as "kept outer" and "reduced"
 * loops, and keeps the run of kept dims after it (the trailing run, contiguous in both operand
 * and result) as a vector of accumulators in a stack buffer: for every reduced index the loop
 * over that run is contiguous, which vectorises, and each result element still adds its inputs in
 * row-major order, as the interpreter does. When the innermost dim itself is reduced (a row sum),
 * vector lanes take its elements round-robin and merge in lane order at the end (reduce_lanes).
 * f32 sums accumulate in double, so they agree with the interpreter's double sums to within an
 * ulp of the rounded result whatever the order; i32 sums wrap, as i32 arithmetic does.
 */
#include <math.h>

#include "codegen/cg.h"

/* Accumulators per chunk of the trailing run: 32 KiB of doubles on the stack, so the column sums
 * of M3's [256, 3072] and [256, 2304] gradients walk each row whole (12 KiB contiguous) instead of
 * in 4 KiB pieces 12 KiB apart: 25% less CPU time for the [256, 3072] one (docs/optimisation.md). */
#define CHUNK 4096
/* Vector accumulators of a row reduction: one 512-bit register of doubles. */
#define LANES 8

typedef enum reduce_kind { REDUCE_SUM, REDUCE_MEAN, REDUCE_MAX, REDUCE_MIN } reduce_kind;

static LLVMValueRef sel(cg_ctx *cg, LLVMValueRef c, LLVMValueRef a, LLVMValueRef b) {
    return LLVMBuildSelect(cg->b, c, a, b, "");
}

/* The accumulator's type: double for float sums, the element type otherwise. */
static gc_dtype acc_dtype(reduce_kind kind, gc_dtype t) {
    if (t == GC_I32) return GC_I32;
    return (kind == REDUCE_SUM || kind == REDUCE_MEAN) ? GC_F64 : t;
}

/* Two accumulators (or an accumulator and a widened element) merged: a + b, or the larger
 * (smaller) one where b is NaN or larger: NaN, once met, stays, since NaN compares false. Works
 * on scalars and vectors alike. */
static LLVMValueRef merge(cg_ctx *cg, reduce_kind kind, bool is_int, LLVMValueRef a, LLVMValueRef b) {
    switch (kind) {
    case REDUCE_SUM: case REDUCE_MEAN:
        return is_int ? LLVMBuildAdd(cg->b, a, b, "") : LLVMBuildFAdd(cg->b, a, b, "");
    case REDUCE_MAX: case REDUCE_MIN: {
        bool is_max = kind == REDUCE_MAX;
        if (is_int) {
            LLVMValueRef args[2] = {a, b};
            return cg_intrinsic(cg, is_max ? "llvm.smax" : "llvm.smin", args, 2);
        }
        LLVMValueRef better = LLVMBuildFCmp(cg->b, is_max ? LLVMRealOGT : LLVMRealOLT, b, a, "");
        LLVMValueRef nan = LLVMBuildFCmp(cg->b, LLVMRealUNO, b, b, "");
        return sel(cg, LLVMBuildOr(cg->b, better, nan, ""), b, a);
    }
    }
    return a;
}

/* Adds element(s) v of the operand's type into acc, widening f32 to the double accumulator. */
static LLVMValueRef combine(cg_ctx *cg, reduce_kind kind, gc_dtype t, LLVMValueRef acc, LLVMValueRef v) {
    if (LLVMTypeOf(v) != LLVMTypeOf(acc)) v = LLVMBuildFPExt(cg->b, v, LLVMTypeOf(acc), "");
    return merge(cg, kind, t == GC_I32, acc, v);
}

static LLVMValueRef init_value(cg_ctx *cg, reduce_kind kind, gc_dtype t) {
    gc_dtype at = acc_dtype(kind, t);
    switch (kind) {
    case REDUCE_SUM: case REDUCE_MEAN: return cg_const(cg, at, 0);
    case REDUCE_MAX: return t == GC_I32 ? cg_i32(cg, INT32_MIN) : cg_const(cg, at, -INFINITY);
    case REDUCE_MIN: return t == GC_I32 ? cg_i32(cg, INT32_MAX) : cg_const(cg, at, INFINITY);
    }
    return cg_const(cg, at, 0);
}

static LLVMValueRef finish(cg_ctx *cg, reduce_kind kind, gc_dtype t, double group, LLVMValueRef acc) {
    if (kind == REDUCE_MEAN) acc = LLVMBuildFDiv(cg->b, acc, LLVMConstReal(cg->t_f64, group), "");
    if ((kind == REDUCE_SUM || kind == REDUCE_MEAN) && t == GC_F32) acc = LLVMBuildFPTrunc(cg->b, acc, cg->t_f32, "");
    return acc;
}

/* The reductions one kernel computes in one pass over their common operand space: one, or
 * sibling sums and means (passes/fuse.c) whose operands a fused prologue computes together. */
#define MAX_OUTS 8
typedef struct reduce_set {
    int count;
    const gc_node *nodes[MAX_OUTS];
    reduce_kind kind[MAX_OUTS];
    LLVMValueRef out[MAX_OUTS];
    LLVMValueRef x; /* the operand, when no prologue computes it */
} reduce_set;

/* The operand of every reduction of the set at flat index i, going into result element `out`:
 * loaded, or computed by a fused prologue (codegen/fused.c). */
static int operands_at(cg_ctx *cg, const reduce_set *rs, LLVMValueRef i, LLVMValueRef out, LLVMValueRef *v) {
    if (!cg->prologue) {
        v[0] = cg_load(cg, rs->nodes[0]->inputs[0]->type.dtype, rs->x, i);
        return 1;
    }
    if (rs->count == 1 && !cg->prologue->num_stores) return (v[0] = cg_prologue_value(cg, i, out)) != NULL;
    int got = cg_prologue_operands(cg, i, out, v);
    if (got && got != rs->count)
        return gc_failf(cg->err, GC_ERR_INTERNAL, "internal error: codegen: %d operands for %d reductions", got, rs->count);
    return got;
}

/* Elements of a row whose prologue operands are staged at a time: one 512-bit vector of f32.
 * A block that small lets the lanes' chain of dependent adds over one block overlap the next
 * block's loads (an AdamW update of an [8192, 1024] weight with its share of the norm, per step:
 * blocks of 512 elements 11.9 ms, 64 elements 10.5, 16 elements 10.3, against 14.0 for the
 * update and the share as two kernels; 2 threads, medians of 6 alternated runs under load). */
#define STAGE 16

/* Adds the STAGE elements of a row from `start` into the lane accumulators, their operands
 * computed first by a prologue that stores members (an optimizer update in its gradient's share
 * of the norm, passes/fuse.c): a plain loop over the elements writes the operands to `stage`,
 * which the lanes then read. The loop vectorises whole, as the body of an elementwise kernel's
 * loop does, so its float arithmetic contracts to the same multiply-adds as the same members in
 * a kernel of their own; eight scalar chains merged by the SLP vectoriser may swap a commutative
 * add's operands and contract the other product, and a loop's scalar remainder may contract
 * differently from its vector body, either of which would change the stored values' bits. */
static int stage_block(cg_ctx *cg, const reduce_set *rs, LLVMValueRef row, LLVMValueRef start, LLVMValueRef out,
                       LLVMValueRef const *stage, const LLVMValueRef *acc, LLVMTypeRef const *vt) {
    gc_dtype t = rs->nodes[0]->inputs[0]->type.dtype;
    LLVMTypeRef in_vt = LLVMVectorType(cg_type(cg, t), LANES);
    LLVMValueRef at = LLVMBuildAdd(cg->b, row, start, "");
    cg_loop e;
    cg_loop_begin(cg, &e, cg_i64(cg, STAGE));
    LLVMValueRef v[MAX_OUTS];
    if (!operands_at(cg, rs, LLVMBuildAdd(cg->b, at, e.iv, ""), out, v)) return 0;
    for (int o = 0; o < rs->count; o++) cg_store(cg, t, v[o], stage[o], e.iv);
    cg_loop_end(cg, &e);
    for (int64_t g = 0; g < STAGE / LANES; g++)
        for (int o = 0; o < rs->count; o++) {
            LLVMValueRef x = LLVMBuildLoad2(cg->b, in_vt, cg_elem_ptr(cg, t, stage[o], cg_i64(cg, g * LANES)), "");
            LLVMSetAlignment(x, (unsigned)gc_dtype_size(t));
            LLVMBuildStore(cg->b, combine(cg, rs->kind[o], t, LLVMBuildLoad2(cg->b, vt[o], acc[o], ""), x), acc[o]);
        }
    return 1;
}

/* The innermost dims are reduced (a row sum): lane l of a vector accumulator takes the elements
 * at l mod LANES of every reduced row, and the lanes merge in order at the end. The order is
 * still fixed at compile time, and the row loop is one vector operation per LANES elements
 * instead of a chain of scalar adds. `red` walks the reduced dims before the row. */
static int reduce_lanes(cg_ctx *cg, const reduce_set *rs, double group, cg_nest *kept, cg_nest *red, int64_t len) {
    gc_dtype t = rs->nodes[0]->inputs[0]->type.dtype;
    LLVMValueRef acc[MAX_OUTS];
    LLVMTypeRef vt[MAX_OUTS], in_vt = LLVMVectorType(cg_type(cg, t), LANES);
    for (int o = 0; o < rs->count; o++) {
        vt[o] = LLVMVectorType(cg_type(cg, acc_dtype(rs->kind[o], t)), LANES);
        acc[o] = cg_entry_alloca(cg, vt[o], 1);
    }

    cg_nest_begin_split(cg, kept, (double)gc_type_numel(&rs->nodes[0]->inputs[0]->type));
    for (int o = 0; o < rs->count; o++) {
        LLVMValueRef splat[LANES];
        for (int l = 0; l < LANES; l++) splat[l] = init_value(cg, rs->kind[o], t);
        LLVMBuildStore(cg->b, LLVMConstVector(splat, LANES), acc[o]);
    }
    cg_nest_begin(cg, red);
    LLVMValueRef row = LLVMBuildAdd(cg->b, kept->off[0], red->off[0], "");
    if (cg->prologue && cg->prologue->num_stores > 0 && len % STAGE == 0) {
        /* The same lanes in the same order, each STAGE elements' operands staged first. */
        LLVMValueRef stage[MAX_OUTS];
        for (int o = 0; o < rs->count; o++) stage[o] = cg_entry_alloca(cg, cg_type(cg, t), STAGE);
        cg_loop b;
        cg_loop_begin(cg, &b, cg_i64(cg, len / STAGE));
        if (!stage_block(cg, rs, row, LLVMBuildMul(cg->b, b.iv, cg_i64(cg, STAGE), ""), kept->off[1], stage, acc, vt))
            return 0;
        cg_loop_end(cg, &b);
        cg_nest_end(cg, red);
        goto merge_lanes;
    }
    int64_t groups = len / LANES;
    cg_loop g;
    cg_loop_begin(cg, &g, cg_i64(cg, groups));
    LLVMValueRef at_g = LLVMBuildAdd(cg->b, row, LLVMBuildMul(cg->b, g.iv, cg_i64(cg, LANES), ""), "");
    LLVMValueRef v[MAX_OUTS];
    if (cg->prologue) {
        /* A fused prologue is computed lane by lane from the row-major index; the eight chains
         * are alike, and LLVM's SLP vectoriser makes them one vector chain. */
        for (int o = 0; o < rs->count; o++) v[o] = LLVMGetUndef(in_vt);
        for (int l = 0; l < LANES; l++) {
            LLVMValueRef e[MAX_OUTS];
            if (!operands_at(cg, rs, LLVMBuildAdd(cg->b, at_g, cg_i64(cg, l), ""), kept->off[1], e)) return 0;
            for (int o = 0; o < rs->count; o++) v[o] = LLVMBuildInsertElement(cg->b, v[o], e[o], cg_i32(cg, l), "");
        }
    } else {
        v[0] = LLVMBuildLoad2(cg->b, in_vt, cg_elem_ptr(cg, t, rs->x, at_g), "");
        LLVMSetAlignment(v[0], (unsigned)gc_dtype_size(t));
    }
    for (int o = 0; o < rs->count; o++)
        LLVMBuildStore(cg->b, combine(cg, rs->kind[o], t, LLVMBuildLoad2(cg->b, vt[o], acc[o], ""), v[o]), acc[o]);
    cg_loop_end(cg, &g);
    for (int64_t l = 0; l < len % LANES; l++) {
        LLVMValueRef i = LLVMBuildAdd(cg->b, row, cg_i64(cg, groups * LANES + l), "");
        LLVMValueRef e[MAX_OUTS];
        if (!operands_at(cg, rs, i, kept->off[1], e)) return 0;
        for (int o = 0; o < rs->count; o++) {
            LLVMValueRef a = LLVMBuildLoad2(cg->b, vt[o], acc[o], ""), lane = cg_i32(cg, (int32_t)l);
            LLVMValueRef merged = combine(cg, rs->kind[o], t, LLVMBuildExtractElement(cg->b, a, lane, ""), e[o]);
            LLVMBuildStore(cg->b, LLVMBuildInsertElement(cg->b, a, merged, lane, ""), acc[o]);
        }
    }
    cg_nest_end(cg, red);

merge_lanes:
    for (int o = 0; o < rs->count; o++) {
        bool is_int = t == GC_I32;
        LLVMValueRef a = LLVMBuildLoad2(cg->b, vt[o], acc[o], "");
        LLVMValueRef total = LLVMBuildExtractElement(cg->b, a, cg_i32(cg, 0), "");
        for (int l = 1; l < LANES; l++)
            total = merge(cg, rs->kind[o], is_int, total, LLVMBuildExtractElement(cg->b, a, cg_i32(cg, l), ""));
        cg_store(cg, rs->nodes[o]->type.dtype, finish(cg, rs->kind[o], t, group, total), rs->out[o], kept->off[1]);
    }
    cg_nest_end(cg, kept);
    return 1;
}

static int reduce(cg_ctx *cg, const reduce_set *rs) {
    const gc_node *n = rs->nodes[0];
    const gc_type *tx = &n->inputs[0]->type;
    gc_dtype t = tx->dtype;
    uint32_t axes = n->attr.reduce.axes;
    int64_t in_strides[GC_MAX_RANK];
    gc_type_strides(tx, in_strides);

    int last = -1; /* the last reduced dim */
    double group = 1.0;
    for (int d = 0; d < tx->rank; d++) {
        if (axes & (1u << d)) {
            last = d;
            group *= (double)tx->dims[d];
        }
    }
    int64_t trail = 1;
    for (int d = last + 1; d < tx->rank; d++) trail *= tx->dims[d];
    /* The run of reduced dims that ends the operand is one contiguous row (a batch norm's H and
     * W): vector lanes walk it whole. */
    int row_from = last;
    int64_t row_len = last >= 0 ? tx->dims[last] : 1;
    while (trail == 1 && row_from > 0 && (axes & (1u << (row_from - 1)))) row_len *= tx->dims[--row_from];

    /* The kept dims before `last` index the result in blocks of `trail`; the reduced ones only
     * move through the operand. */
    cg_nest kept, red;
    int64_t kdims[GC_MAX_RANK], rdims[GC_MAX_RANK], kin[GC_MAX_RANK], kout[GC_MAX_RANK], rin[GC_MAX_RANK];
    int nk = 0, nr = 0;
    /* A reduced innermost row long enough for vector lanes is walked by reduce_lanes itself. */
    bool lanes = trail == 1 && last >= 0 && row_len >= 2 * LANES;
    for (int d = 0; d <= last; d++) {
        if (lanes && d >= row_from) continue;
        if (axes & (1u << d)) {
            rdims[nr] = tx->dims[d];
            rin[nr++] = in_strides[d];
        } else {
            kdims[nk] = tx->dims[d];
            kin[nk++] = in_strides[d];
        }
    }
    int64_t s = trail;
    for (int k = nk - 1; k >= 0; k--) {
        kout[k] = s;
        s *= kdims[k];
    }
    cg_nest_init(&kept, nk, kdims);
    cg_nest_add(&kept, kin);
    cg_nest_add(&kept, kout);
    cg_nest_coalesce(&kept);
    cg_nest_init(&red, nr, rdims);
    cg_nest_add(&red, rin);
    cg_nest_coalesce(&red);

    if (lanes) return reduce_lanes(cg, rs, group, &kept, &red, row_len);

    int64_t chunk = trail < CHUNK ? trail : CHUNK;
    int64_t chunks = (trail + chunk - 1) / chunk;
    LLVMValueRef acc[MAX_OUTS];
    LLVMTypeRef acc_t[MAX_OUTS];
    for (int o = 0; o < rs->count; o++) {
        acc_t[o] = cg_type(cg, acc_dtype(rs->kind[o], t));
        acc[o] = cg_entry_alloca(cg, acc_t[o], chunk);
    }

    /* Split over the kept outer dims. A column sum (none kept: bias and layernorm gradients) is
     * not split at all: cut into strips of columns, each part read a few cache lines of every
     * row, one page apart, and two threads took 2-5x what one thread took on every size measured,
     * 1 MiB to 32 MiB (docs/optimisation.md, "Column sums"). */
    cg_nest_begin_split(cg, &kept, (double)gc_type_numel(tx));
    cg_loop chunk_loop;
    cg_loop_begin(cg, &chunk_loop, cg_i64(cg, chunks));
    LLVMValueRef start = LLVMBuildMul(cg->b, chunk_loop.iv, cg_i64(cg, chunk), "");
    /* The last chunk may be short. */
    LLVMValueRef left = LLVMBuildSub(cg->b, cg_i64(cg, trail), start, "");
    LLVMValueRef len = trail % chunk == 0 ? cg_i64(cg, chunk)
                     : sel(cg, LLVMBuildICmp(cg->b, LLVMIntSLT, left, cg_i64(cg, chunk), ""), left, cg_i64(cg, chunk));
    LLVMValueRef in_base = LLVMBuildAdd(cg->b, kept.off[0], start, "");
    LLVMValueRef out_base = LLVMBuildAdd(cg->b, kept.off[1], start, "");

    cg_loop j;
    cg_loop_begin(cg, &j, len);
    for (int o = 0; o < rs->count; o++)
        LLVMBuildStore(cg->b, init_value(cg, rs->kind[o], t), LLVMBuildInBoundsGEP2(cg->b, acc_t[o], acc[o], &j.iv, 1, ""));
    cg_loop_end(cg, &j);

    cg_nest_begin(cg, &red);
    LLVMValueRef row = LLVMBuildAdd(cg->b, in_base, red.off[0], "");
    cg_loop_begin(cg, &j, len);
    LLVMValueRef v[MAX_OUTS];
    if (!operands_at(cg, rs, LLVMBuildAdd(cg->b, row, j.iv, ""), LLVMBuildAdd(cg->b, out_base, j.iv, ""), v)) return 0;
    for (int o = 0; o < rs->count; o++) {
        LLVMValueRef slot = LLVMBuildInBoundsGEP2(cg->b, acc_t[o], acc[o], &j.iv, 1, "");
        LLVMBuildStore(cg->b, combine(cg, rs->kind[o], t, LLVMBuildLoad2(cg->b, acc_t[o], slot, ""), v[o]), slot);
    }
    cg_loop_end(cg, &j);
    cg_nest_end(cg, &red);

    cg_loop_begin(cg, &j, len);
    for (int o = 0; o < rs->count; o++) {
        LLVMValueRef slot = LLVMBuildInBoundsGEP2(cg->b, acc_t[o], acc[o], &j.iv, 1, "");
        LLVMValueRef r = finish(cg, rs->kind[o], t, group, LLVMBuildLoad2(cg->b, acc_t[o], slot, ""));
        cg_store(cg, rs->nodes[o]->type.dtype, r, rs->out[o], LLVMBuildAdd(cg->b, out_base, j.iv, ""));
    }
    cg_loop_end(cg, &j);

    cg_loop_end(cg, &chunk_loop);
    cg_nest_end(cg, &kept);
    return 1;
}

static int reduce_one(cg_ctx *cg, const gc_node *n, LLVMValueRef out, LLVMValueRef x, reduce_kind kind) {
    reduce_set rs = {.count = 1, .nodes = {n}, .kind = {kind}, .out = {out}, .x = x};
    return reduce(cg, &rs);
}

int cg_emit_reductions(cg_ctx *cg, const gc_node *const *nodes, int count, const LLVMValueRef *outs) {
    if (count < 1 || count > MAX_OUTS || !cg->prologue)
        return gc_failf(cg->err, GC_ERR_INTERNAL, "internal error: codegen: %d sibling reductions", count);
    reduce_set rs = {.count = count, .x = NULL};
    for (int o = 0; o < count; o++) {
        rs.nodes[o] = nodes[o];
        rs.kind[o] = nodes[o]->op == GC_OP_MEAN ? REDUCE_MEAN : REDUCE_SUM;
        rs.out[o] = outs[o];
    }
    return reduce(cg, &rs);
}

int cg_emit_sum(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in) {
    return reduce_one(cg, n, out, in[0], REDUCE_SUM);
}

int cg_emit_mean(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in) {
    return reduce_one(cg, n, out, in[0], REDUCE_MEAN);
}

int cg_emit_max(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in) {
    return reduce_one(cg, n, out, in[0], REDUCE_MAX);
}

int cg_emit_min(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in) {
    return reduce_one(cg, n, out, in[0], REDUCE_MIN);
}

/* An operand viewed as [outer, len, inner] around one axis; loops over outer and inner, with
 * `base` the offset of element 0 along the axis. */
typedef struct axis_walk {
    int64_t outer, len, inner;
    cg_loop o, i;
    LLVMValueRef base;
} axis_walk;

static void axis_begin(cg_ctx *cg, axis_walk *w, const gc_type *t, int axis) {
    w->outer = w->inner = 1;
    w->len = t->dims[axis];
    for (int d = 0; d < axis; d++) w->outer *= t->dims[d];
    for (int d = axis + 1; d < t->rank; d++) w->inner *= t->dims[d];
    /* Rows are independent: parts take runs of them. */
    if (w->outer >= 2 && cg_split_worthwhile(cg, (double)gc_type_numel(t))) {
        LLVMValueRef lo, hi;
        cg_split_range(cg, w->outer, 1, &lo, &hi);
        cg_loop_begin_range(cg, &w->o, lo, hi);
    } else {
        cg_loop_begin(cg, &w->o, cg_i64(cg, w->outer));
    }
    cg_loop_begin(cg, &w->i, cg_i64(cg, w->inner));
    LLVMValueRef o = LLVMBuildMul(cg->b, w->o.iv, cg_i64(cg, w->len * w->inner), "");
    w->base = LLVMBuildAdd(cg->b, o, w->i.iv, "");
}

static void axis_end(cg_ctx *cg, axis_walk *w) {
    cg_loop_end(cg, &w->i);
    cg_loop_end(cg, &w->o);
}

/* Offset of element k (an i64 value) along the axis. */
static LLVMValueRef axis_at(cg_ctx *cg, const axis_walk *w, LLVMValueRef k) {
    return LLVMBuildAdd(cg->b, w->base, LLVMBuildMul(cg->b, k, cg_i64(cg, w->inner), ""), "");
}

/* The first maximum; NaN counts as larger than anything (the first NaN wins), as torch.argmax. */
int cg_emit_argmax(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in) {
    const gc_type *tx = &n->inputs[0]->type;
    gc_dtype t = tx->dtype;
    axis_walk w;
    LLVMValueRef best = cg_entry_alloca(cg, cg->t_i64, 1), best_v = cg_entry_alloca(cg, cg_type(cg, t), 1);
    axis_begin(cg, &w, tx, n->attr.axis.axis);
    LLVMBuildStore(cg->b, cg_i64(cg, 0), best);
    LLVMBuildStore(cg->b, cg_load(cg, t, in[0], w.base), best_v);
    if (w.len > 1) {
        cg_loop k;
        cg_loop_begin(cg, &k, cg_i64(cg, w.len - 1));
        LLVMValueRef at = LLVMBuildAdd(cg->b, k.iv, cg_i64(cg, 1), "");
        LLVMValueRef c = cg_load(cg, t, in[0], axis_at(cg, &w, at));
        LLVMValueRef b = LLVMBuildLoad2(cg->b, cg_type(cg, t), best_v, "");
        LLVMValueRef take;
        if (t == GC_I32) {
            take = LLVMBuildICmp(cg->b, LLVMIntSGT, c, b, "");
        } else {
            /* b is not NaN, and c is NaN or larger. */
            LLVMValueRef b_ok = LLVMBuildFCmp(cg->b, LLVMRealORD, b, b, "");
            take = LLVMBuildAnd(cg->b, b_ok, LLVMBuildFCmp(cg->b, LLVMRealUGT, c, b, ""), "");
        }
        LLVMBuildStore(cg->b, sel(cg, take, at, LLVMBuildLoad2(cg->b, cg->t_i64, best, "")), best);
        LLVMBuildStore(cg->b, sel(cg, take, c, b), best_v);
        cg_loop_end(cg, &k);
    }
    LLVMValueRef o = LLVMBuildAdd(cg->b, LLVMBuildMul(cg->b, w.o.iv, cg_i64(cg, w.inner), ""), w.i.iv, "");
    LLVMValueRef idx = LLVMBuildTrunc(cg->b, LLVMBuildLoad2(cg->b, cg->t_i64, best, ""), cg->t_i32, "");
    cg_store(cg, GC_I32, idx, out, o);
    axis_end(cg, &w);
    return 1;
}

/* ---- f32 rows along the last axis: one read for the maximum and the sum ----
 * A row of VL-lane vectors is walked in chunks of CHUNK_VECS vectors (4 KiB, in L1 after the
 * first read): the chunk's maximum, then e^(x - m) over the chunk added into VL double lanes,
 * where m is the row's maximum so far; when a chunk raises it, the lanes are first scaled by
 * e^(m_old - m_new) (one double exp). The row is read from memory once for both (its second
 * read is the chunk's, from L1), and the exponentials run VL wide. The maximum ignores NaN
 * (x86's max); a NaN still reaches the sum through its e^(NaN - m), so the row's results are NaN
 * as with the NaN-propagating maximum. Every order is fixed by the row's length alone. */
#define VL 16
#define CHUNK_VECS 64

typedef struct online_row {
    LLVMTypeRef vt, dvt;
    LLVMValueRef x, row; /* the operand and the row's first element (i64) */
    LLVMValueRef m, acc; /* allocas: the maximum so far (f32), the VL double lanes */
    LLVMValueRef e_out;  /* non-NULL: e^(x - m) is stored there (a row of one chunk) */
} online_row;

static LLVMValueRef splat_f(cg_ctx *cg, LLVMTypeRef et, double v, int n) {
    LLVMValueRef e[VL];
    for (int l = 0; l < n; l++) e[l] = LLVMConstReal(et, v);
    return LLVMConstVector(e, (unsigned)n);
}

/* A run-time scalar in every lane. */
static LLVMValueRef vsplat(cg_ctx *cg, LLVMValueRef v) {
    LLVMValueRef one = LLVMBuildInsertElement(cg->b, LLVMGetPoison(LLVMVectorType(LLVMTypeOf(v), VL)), v,
                                              cg_i32(cg, 0), "");
    return LLVMBuildShuffleVector(cg->b, one, one, LLVMConstNull(LLVMVectorType(cg->t_i32, VL)), "");
}

static LLVMValueRef vec_load(cg_ctx *cg, const online_row *r, LLVMValueRef at, int64_t valid) {
    LLVMValueRef ptr = cg_elem_ptr(cg, GC_F32, r->x, at);
    if (valid == VL) {
        LLVMValueRef v = LLVMBuildLoad2(cg->b, r->vt, ptr, "");
        LLVMSetAlignment(v, 4);
        return v;
    }
    /* The row's last, partial vector: lanes past its end read -inf, whose e^(-inf - m) is 0. */
    LLVMValueRef mask[VL];
    for (int l = 0; l < VL; l++) mask[l] = LLVMConstInt(cg->t_i1, l < valid, 0);
    LLVMValueRef args[4] = {ptr, cg_i32(cg, 4), LLVMConstVector(mask, VL), splat_f(cg, cg->t_f32, -INFINITY, VL)};
    return cg_intrinsic2(cg, "llvm.masked.load", r->vt, args, 4);
}

static LLVMValueRef vmax(cg_ctx *cg, LLVMValueRef a, LLVMValueRef b) {
    return sel(cg, LLVMBuildFCmp(cg->b, LLVMRealOGT, b, a, ""), b, a);
}

/* e^(x - shift) of one vector at `at` (with valid < VL, the row's partial last vector), stored
 * to e_out if the row has it, added into the double lanes. */
static void exp_add(cg_ctx *cg, online_row *r, LLVMValueRef at, LLVMValueRef shift, int64_t valid) {
    LLVMValueRef e = cg_math_exp(cg, GC_F32, cg_fsub(cg, vec_load(cg, r, at, valid), shift));
    if (r->e_out) {
        LLVMValueRef ptr = cg_elem_ptr(cg, GC_F32, r->e_out, at);
        if (valid == VL) {
            LLVMSetAlignment(LLVMBuildStore(cg->b, e, ptr), 4);
        } else {
            for (int l = 0; l < valid; l++)
                cg_store(cg, GC_F32, LLVMBuildExtractElement(cg->b, e, cg_i32(cg, l), ""), r->e_out,
                         LLVMBuildAdd(cg->b, at, cg_i64(cg, l), ""));
        }
    }
    LLVMValueRef wide = LLVMBuildFPExt(cg->b, e, r->dvt, "");
    LLVMBuildStore(cg->b, LLVMBuildFAdd(cg->b, LLVMBuildLoad2(cg->b, r->dvt, r->acc, ""), wide, ""), r->acc);
}

/* One chunk: `count` whole vectors (an i64 value, >= 1) from element `start`, then, with
 * tail > 0, the row's partial last vector of `tail` elements after them. */
static void online_chunk(cg_ctx *cg, online_row *r, LLVMValueRef start, LLVMValueRef count, int64_t tail) {
    LLVMTypeRef et = cg->t_f32;
    LLVMValueRef tail_at = NULL;
    if (tail) tail_at = LLVMBuildAdd(cg->b, start, LLVMBuildMul(cg->b, count, cg_i64(cg, VL), ""), "");
    LLVMValueRef vm = cg_entry_alloca(cg, r->vt, 1);
    LLVMBuildStore(cg->b, tail ? vec_load(cg, r, tail_at, tail) : splat_f(cg, et, -INFINITY, VL), vm);
    cg_loop k;
    cg_loop_begin(cg, &k, count);
    LLVMValueRef at = LLVMBuildAdd(cg->b, start, LLVMBuildMul(cg->b, k.iv, cg_i64(cg, VL), ""), "");
    LLVMBuildStore(cg->b, vmax(cg, LLVMBuildLoad2(cg->b, r->vt, vm, ""), vec_load(cg, r, at, VL)), vm);
    cg_loop_end(cg, &k);
    LLVMValueRef cmax = LLVMBuildLoad2(cg->b, r->vt, vm, "");
    LLVMValueRef m_old = LLVMBuildLoad2(cg->b, et, r->m, "");
    LLVMValueRef m_new = m_old;
    for (int l = 0; l < VL; l++) m_new = vmax(cg, m_new, LLVMBuildExtractElement(cg->b, cmax, cg_i32(cg, l), ""));
    LLVMBuildStore(cg->b, m_new, r->m);
    /* e^(m_old - m_new) rescales what the lanes hold (0 when m_old is -inf); 1 when the maximum
     * stayed, which also keeps -inf - -inf out. */
    LLVMValueRef raised = LLVMBuildFCmp(cg->b, LLVMRealOGT, m_new, m_old, "");
    LLVMValueRef d = LLVMBuildFSub(cg->b, LLVMBuildFPExt(cg->b, m_old, cg->t_f64, ""),
                                   LLVMBuildFPExt(cg->b, m_new, cg->t_f64, ""), "");
    d = sel(cg, raised, d, LLVMConstReal(cg->t_f64, 0.0));
    LLVMValueRef scale = cg_intrinsic(cg, "llvm.exp", &d, 1);
    LLVMBuildStore(cg->b, LLVMBuildFMul(cg->b, LLVMBuildLoad2(cg->b, r->dvt, r->acc, ""), vsplat(cg, scale), ""), r->acc);
    /* A maximum of -inf (every element so far -inf or NaN) shifts by 0: e^(-inf) = 0, NaN stays. */
    LLVMValueRef is_ninf = LLVMBuildFCmp(cg->b, LLVMRealOEQ, m_new, LLVMConstReal(et, -INFINITY), "");
    LLVMValueRef shift = vsplat(cg, sel(cg, is_ninf, LLVMConstReal(et, 0.0), m_new));

    cg_loop_begin(cg, &k, count);
    exp_add(cg, r, LLVMBuildAdd(cg->b, start, LLVMBuildMul(cg->b, k.iv, cg_i64(cg, VL), ""), ""), shift, VL);
    cg_loop_end(cg, &k);
    if (tail) exp_add(cg, r, tail_at, shift, tail);
}

/* The row's maximum (NaN ignored) into *m and the sum of e^(x - m) in double into *total, for an
 * f32 row of `len` >= VL contiguous elements from `row`. With e_out (len < VL * (CHUNK_VECS + 1),
 * one chunk) e^(x - m) is stored there as well. */
static void online_max_sum(cg_ctx *cg, LLVMValueRef x, LLVMValueRef row, int64_t len, LLVMValueRef e_out,
                           LLVMValueRef *m, LLVMValueRef *total) {
    online_row r = {.vt = LLVMVectorType(cg->t_f32, VL), .dvt = LLVMVectorType(cg->t_f64, VL), .x = x, .row = row,
                    .e_out = e_out};
    r.m = cg_entry_alloca(cg, cg->t_f32, 1);
    r.acc = cg_entry_alloca(cg, r.dvt, 1);
    LLVMBuildStore(cg->b, LLVMConstReal(cg->t_f32, -INFINITY), r.m);
    LLVMBuildStore(cg->b, splat_f(cg, cg->t_f64, 0.0, VL), r.acc);
    /* Whole chunks, then the last (1 to CHUNK_VECS vectors) with the partial vector, if any. */
    int64_t full = len / VL, before = (full - 1) / CHUNK_VECS;
    if (before) {
        cg_loop c;
        cg_loop_begin(cg, &c, cg_i64(cg, before));
        LLVMValueRef first = LLVMBuildMul(cg->b, c.iv, cg_i64(cg, CHUNK_VECS * VL), "");
        online_chunk(cg, &r, LLVMBuildAdd(cg->b, row, first, ""), cg_i64(cg, CHUNK_VECS), 0);
        cg_loop_end(cg, &c);
    }
    online_chunk(cg, &r, LLVMBuildAdd(cg->b, row, cg_i64(cg, before * CHUNK_VECS * VL), ""),
                 cg_i64(cg, full - before * CHUNK_VECS), len % VL);
    *m = LLVMBuildLoad2(cg->b, cg->t_f32, r.m, "");
    LLVMValueRef a = LLVMBuildLoad2(cg->b, r.dvt, r.acc, "");
    LLVMValueRef sum = LLVMBuildExtractElement(cg->b, a, cg_i32(cg, 0), "");
    for (int l = 1; l < VL; l++) sum = LLVMBuildFAdd(cg->b, sum, LLVMBuildExtractElement(cg->b, a, cg_i32(cg, l), ""), "");
    *total = sum;
}

/* softmax / log_softmax of f32 rows along a last axis of at least VL elements: the maximum and
 * the sum in one read (online_max_sum), then the results. softmax of a row of one chunk stores
 * e^(x - m) with the sum and divides it by the sum; a longer row computes e^(x - m) again in the
 * last pass rather than storing and reading it back. */
static int softmax_rows(cg_ctx *cg, const gc_node *n, LLVMValueRef out, LLVMValueRef x, bool log_form) {
    axis_walk w;
    axis_begin(cg, &w, &n->type, n->attr.axis.axis);
    bool one_chunk = w.len / VL <= CHUNK_VECS;
    LLVMValueRef m, total;
    online_max_sum(cg, x, w.base, w.len, !log_form && one_chunk ? out : NULL, &m, &total);
    LLVMValueRef len = cg_i64(cg, w.len);
    cg_loop k;
    if (log_form) {
        LLVMValueRef log_sum = LLVMBuildFPTrunc(cg->b, cg_libm1(cg, "log", GC_F64, total), cg->t_f32, "");
        cg_loop_begin(cg, &k, len);
        LLVMValueRef at = axis_at(cg, &w, k.iv);
        LLVMValueRef shifted = cg_fsub(cg, cg_load(cg, GC_F32, x, at), m);
        cg_store(cg, GC_F32, cg_fsub(cg, shifted, log_sum), out, at);
        cg_loop_end(cg, &k);
    } else {
        LLVMValueRef denom = LLVMBuildFPTrunc(cg->b, total, cg->t_f32, "");
        cg_loop_begin(cg, &k, len);
        LLVMValueRef at = axis_at(cg, &w, k.iv);
        LLVMValueRef e = one_chunk ? cg_load(cg, GC_F32, out, at)
                                   : cg_math_exp(cg, GC_F32, cg_fsub(cg, cg_load(cg, GC_F32, x, at), m));
        cg_store(cg, GC_F32, LLVMBuildFDiv(cg->b, e, denom, ""), out, at);
        cg_loop_end(cg, &k);
    }
    axis_end(cg, &w);
    return 1;
}

static bool fits_rows(const gc_node *n) {
    const gc_type *t = &n->type;
    int axis = n->attr.axis.axis;
    return t->dtype == GC_F32 && axis == t->rank - 1 && t->dims[axis] >= VL;
}

/* Three passes along the axis: the maximum (NaN wins), the sum of e^(x - max) in double, then
 * the result. softmax stores e^(x - max) in the second pass and scales it in the third. */
static int softmax(cg_ctx *cg, const gc_node *n, LLVMValueRef out, LLVMValueRef x, bool log_form) {
    if (fits_rows(n)) return softmax_rows(cg, n, out, x, log_form);
    gc_dtype t = n->type.dtype;
    LLVMTypeRef et = cg_type(cg, t);
    axis_walk w;
    LLVMValueRef max = cg_entry_alloca(cg, et, 1), sum = cg_entry_alloca(cg, cg->t_f64, 1);
    axis_begin(cg, &w, &n->type, n->attr.axis.axis);
    LLVMValueRef len = cg_i64(cg, w.len);

    /* llvm.maximum propagates NaN and is exactly associative, so the vectoriser may reorder it
     * without changing the result (up to the sign of a zero maximum, which shifts nothing). */
    LLVMBuildStore(cg->b, cg_const(cg, t, -INFINITY), max);
    cg_loop k;
    cg_loop_begin(cg, &k, len);
    LLVMValueRef pair[2] = {LLVMBuildLoad2(cg->b, et, max, ""), cg_load(cg, t, x, axis_at(cg, &w, k.iv))};
    LLVMBuildStore(cg->b, cg_intrinsic(cg, "llvm.maximum", pair, 2), max);
    cg_loop_end(cg, &k);
    LLVMValueRef m;
    m = LLVMBuildLoad2(cg->b, et, max, "");

    LLVMBuildStore(cg->b, LLVMConstReal(cg->t_f64, 0.0), sum);
    cg_loop_begin(cg, &k, len);
    LLVMValueRef at = axis_at(cg, &w, k.iv);
    LLVMValueRef shifted = cg_fsub(cg, cg_load(cg, t, x, at), m);
    LLVMValueRef e = cg_math_exp(cg, t, shifted);
    if (!log_form) cg_store(cg, t, e, out, at);
    LLVMValueRef wide = t == GC_F64 ? e : LLVMBuildFPExt(cg->b, e, cg->t_f64, "");
    /* The sum is in double, so letting the vectoriser reassociate it (lanes, then lanes added)
     * moves the rounded f32 result by far less than an ulp; the code, hence the order, is fixed
     * at compile time, so every run gives the same bits. */
    LLVMValueRef added = LLVMBuildFAdd(cg->b, LLVMBuildLoad2(cg->b, cg->t_f64, sum, ""), wide, "");
    LLVMSetFastMathFlags(added, LLVMFastMathAllowReassoc | LLVMFastMathAllowContract);
    LLVMBuildStore(cg->b, added, sum);
    cg_loop_end(cg, &k);
    LLVMValueRef total = LLVMBuildLoad2(cg->b, cg->t_f64, sum, "");

    if (log_form) {
        /* One log per row, in double. */
        LLVMValueRef log_sum = cg_libm1(cg, "log", GC_F64, total);
        if (t == GC_F32) log_sum = LLVMBuildFPTrunc(cg->b, log_sum, cg->t_f32, "");
        cg_loop_begin(cg, &k, len);
        at = axis_at(cg, &w, k.iv);
        shifted = cg_fsub(cg, cg_load(cg, t, x, at), m);
        cg_store(cg, t, cg_fsub(cg, shifted, log_sum), out, at);
        cg_loop_end(cg, &k);
    } else {
        LLVMValueRef denom = t == GC_F32 ? LLVMBuildFPTrunc(cg->b, total, cg->t_f32, "") : total;
        cg_loop_begin(cg, &k, len);
        at = axis_at(cg, &w, k.iv);
        cg_store(cg, t, LLVMBuildFDiv(cg->b, cg_load(cg, t, out, at), denom, ""), out, at);
        cg_loop_end(cg, &k);
    }
    axis_end(cg, &w);
    return 1;
}

int cg_emit_softmax(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in) {
    return softmax(cg, n, out, in[0], false);
}

int cg_emit_log_softmax(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in) {
    return softmax(cg, n, out, in[0], true);
}
