/*
 * emit_pool.c: kernels of the pooling ops (max_pool, avg_pool and their gradients).
 *
 * Each is a loop over the planes (N * C) of the operand, then over the output positions of a
 * three-dim geometry (ir/pool.h), then over the taps of the window, every extent a constant, so
 * LLVM unrolls the window. A dim where some window reaches into the padding or past the input
 * checks its taps (branch-free for the forward ops: a tap outside reads element 0 and its value
 * is discarded); a dim where every window lies inside the input checks nothing.
 *
 * The thread pool cuts the planes and never a plane: the gradients add each window into
 * overlapping parts of their result, so an element's additions all happen on one thread, in the
 * order of the interpreter, whatever the cut; the bytes do not depend on the thread count.
 * Fusion does not reach into these kernels (they are of the movement class): an elementwise
 * producer such as a ReLU before a pool is its own kernel.
 */
#include <math.h>

#include "codegen/cg.h"
#include "ir/pool.h"

typedef struct pool_emit {
    gc_pool_geom g;
    gc_dtype t;
    bool guard[GC_MAX_SPATIAL]; /* some tap of some window along the dim lies outside the input */
} pool_emit;

/* One window's position: its first tap per dim (i64 values) and the index of its output. */
typedef struct pool_pos {
    cg_loop loops[GC_MAX_SPATIAL];
    LLVMValueRef start[GC_MAX_SPATIAL];
    LLVMValueRef out_index; /* in the plane */
} pool_pos;

/* One tap of a window: its index in the plane (0 when outside, so a load stays valid) and
 * whether it is inside the input (NULL: always). */
typedef struct pool_tap {
    cg_loop loops[GC_MAX_SPATIAL];
    LLVMValueRef index;
    LLVMValueRef valid;
} pool_tap;

static void pool_setup(pool_emit *pe, const gc_node *n, const gc_type *pooled) {
    gc_pool_geom_make(&n->attr.pool, pooled, &pe->g);
    pe->t = pooled->dtype;
    for (int d = 0; d < GC_MAX_SPATIAL; d++) {
        const gc_pool_geom *g = &pe->g;
        pe->guard[d] = g->pad[d] > 0 || (g->out[d] - 1) * g->stride[d] + (g->kernel[d] - 1) * g->dilation[d] >= g->in[d];
    }
}

static LLVMValueRef add(cg_ctx *cg, LLVMValueRef a, LLVMValueRef b) {
    LLVMValueRef r = LLVMBuildAdd(cg->b, a, b, "");
    if (LLVMIsAInstruction(r)) LLVMSetNSW(r, 1);
    return r;
}

static LLVMValueRef mul(cg_ctx *cg, LLVMValueRef a, int64_t b) {
    if (b == 1) return a;
    LLVMValueRef r = LLVMBuildMul(cg->b, a, cg_i64(cg, b), "");
    if (LLVMIsAInstruction(r)) LLVMSetNSW(r, 1);
    return r;
}

static LLVMValueRef both(cg_ctx *cg, LLVMValueRef a, LLVMValueRef b) {
    return !a ? b : !b ? a : LLVMBuildAnd(cg->b, a, b, "");
}

static LLVMValueRef smin(cg_ctx *cg, LLVMValueRef a, LLVMValueRef b) {
    return LLVMBuildSelect(cg->b, LLVMBuildICmp(cg->b, LLVMIntSLT, a, b, ""), a, b, "");
}

static LLVMValueRef smax(cg_ctx *cg, LLVMValueRef a, LLVMValueRef b) {
    return LLVMBuildSelect(cg->b, LLVMBuildICmp(cg->b, LLVMIntSGT, a, b, ""), a, b, "");
}

/* The loop over planes: this part's share of them when the kernel is worth splitting. */
static void begin_planes(cg_ctx *cg, const pool_emit *pe, double work, cg_loop *loop) {
    LLVMValueRef lo = cg_i64(cg, 0), hi = cg_i64(cg, pe->g.planes);
    if (pe->g.planes >= 2 && cg_split_worthwhile(cg, work)) cg_split_range(cg, pe->g.planes, 1, &lo, &hi);
    cg_loop_begin_range(cg, loop, lo, hi);
}

static void begin_outputs(cg_ctx *cg, const pool_emit *pe, pool_pos *pos) {
    const gc_pool_geom *g = &pe->g;
    LLVMValueRef flat = cg_i64(cg, 0);
    for (int d = 0; d < GC_MAX_SPATIAL; d++) {
        cg_loop_begin(cg, &pos->loops[d], cg_i64(cg, g->out[d]));
        LLVMValueRef o = pos->loops[d].iv;
        pos->start[d] = LLVMBuildSub(cg->b, mul(cg, o, g->stride[d]), cg_i64(cg, g->pad[d]), "");
        flat = add(cg, mul(cg, flat, g->out[d]), o);
    }
    pos->out_index = flat;
}

static void end_loops(cg_ctx *cg, cg_loop *loops) {
    for (int d = GC_MAX_SPATIAL - 1; d >= 0; d--) cg_loop_end(cg, &loops[d]);
}

static void begin_taps(cg_ctx *cg, const pool_emit *pe, const pool_pos *pos, pool_tap *tap) {
    const gc_pool_geom *g = &pe->g;
    LLVMValueRef index = cg_i64(cg, 0), valid = NULL;
    for (int d = 0; d < GC_MAX_SPATIAL; d++) {
        cg_loop_begin(cg, &tap->loops[d], cg_i64(cg, g->kernel[d]));
        LLVMValueRef i = add(cg, pos->start[d], mul(cg, tap->loops[d].iv, g->dilation[d]));
        if (pe->guard[d]) {
            /* Unsigned: a negative index is huge, so one compare checks both ends. */
            valid = both(cg, valid, LLVMBuildICmp(cg->b, LLVMIntULT, i, cg_i64(cg, g->in[d]), ""));
        }
        index = add(cg, mul(cg, index, g->in[d]), i);
    }
    tap->valid = valid;
    tap->index = valid ? LLVMBuildSelect(cg->b, valid, index, cg_i64(cg, 0), "") : index;
}

/* A scalar slot promoted to a register by mem2reg once the loops are unrolled or rotated. */
static LLVMValueRef slot(cg_ctx *cg, LLVMTypeRef type, LLVMValueRef init) {
    LLVMValueRef s = cg_entry_alloca(cg, type, 1);
    LLVMBuildStore(cg->b, init, s);
    return s;
}

/* torch's `val > maxval || isnan(val)`. */
static LLVMValueRef takes(cg_ctx *cg, LLVMValueRef v, LLVMValueRef best) {
    return LLVMBuildOr(cg->b, LLVMBuildFCmp(cg->b, LLVMRealOGT, v, best, ""), LLVMBuildFCmp(cg->b, LLVMRealUNO, v, v, ""), "");
}

int cg_emit_max_pool(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in) {
    pool_emit pe;
    pool_setup(&pe, n, &n->inputs[0]->type);
    LLVMTypeRef ft = cg_type(cg, pe.t);
    int64_t in_plane = gc_pool_in_plane(&pe.g), out_plane = gc_pool_out_plane(&pe.g);
    cg_loop planes;
    pool_pos pos;
    pool_tap tap;
    begin_planes(cg, &pe, (double)gc_type_numel(&n->inputs[0]->type), &planes);
    LLVMValueRef x = cg_elem_ptr(cg, pe.t, in[0], mul(cg, planes.iv, in_plane));
    LLVMValueRef y = cg_elem_ptr(cg, pe.t, out, mul(cg, planes.iv, out_plane));
    begin_outputs(cg, &pe, &pos);
    /* Padding never wins, so the value needs no first-tap rule: -inf loses to every tap. */
    LLVMValueRef best = slot(cg, ft, cg_const(cg, pe.t, -INFINITY));
    begin_taps(cg, &pe, &pos, &tap);
    LLVMValueRef v = cg_load(cg, pe.t, x, tap.index), m = LLVMBuildLoad2(cg->b, ft, best, "");
    LLVMValueRef take = both(cg, tap.valid, takes(cg, v, m));
    LLVMBuildStore(cg->b, LLVMBuildSelect(cg->b, take, v, m, ""), best);
    end_loops(cg, tap.loops);
    cg_store(cg, pe.t, LLVMBuildLoad2(cg->b, ft, best, ""), y, pos.out_index);
    end_loops(cg, pos.loops);
    cg_loop_end(cg, &planes);
    return 1;
}

int cg_emit_max_pool_grad(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in) {
    pool_emit pe;
    pool_setup(&pe, n, &n->inputs[0]->type);
    LLVMTypeRef ft = cg_type(cg, pe.t);
    int64_t in_plane = gc_pool_in_plane(&pe.g), out_plane = gc_pool_out_plane(&pe.g);
    cg_loop planes;
    pool_pos pos;
    pool_tap tap;
    begin_planes(cg, &pe, (double)gc_type_numel(&n->type) * 2, &planes);
    LLVMValueRef x = cg_elem_ptr(cg, pe.t, in[0], mul(cg, planes.iv, in_plane));
    LLVMValueRef dy = cg_elem_ptr(cg, pe.t, in[1], mul(cg, planes.iv, out_plane));
    LLVMValueRef dx = cg_elem_ptr(cg, pe.t, out, mul(cg, planes.iv, in_plane));
    cg_zero(cg, pe.t, dx, in_plane);
    begin_outputs(cg, &pe, &pos);
    /* The tap taken: the first inside the input, then any greater one or a NaN (index -1: none yet). */
    LLVMValueRef best = slot(cg, ft, cg_const(cg, pe.t, -INFINITY));
    LLVMValueRef at = slot(cg, cg->t_i64, cg_i64(cg, -1));
    begin_taps(cg, &pe, &pos, &tap);
    LLVMValueRef v = cg_load(cg, pe.t, x, tap.index), m = LLVMBuildLoad2(cg->b, ft, best, "");
    LLVMValueRef a = LLVMBuildLoad2(cg->b, cg->t_i64, at, "");
    LLVMValueRef none = LLVMBuildICmp(cg->b, LLVMIntSLT, a, cg_i64(cg, 0), "");
    LLVMValueRef take = both(cg, tap.valid, LLVMBuildOr(cg->b, none, takes(cg, v, m), ""));
    LLVMBuildStore(cg->b, LLVMBuildSelect(cg->b, take, v, m, ""), best);
    LLVMBuildStore(cg->b, LLVMBuildSelect(cg->b, take, tap.index, a, ""), at);
    end_loops(cg, tap.loops);
    /* Every window has a tap inside the input (the shape rule's output sizes see to it). */
    LLVMValueRef where = LLVMBuildLoad2(cg->b, cg->t_i64, at, "");
    LLVMValueRef sum = cg_fadd(cg, cg_load(cg, pe.t, dx, where), cg_load(cg, pe.t, dy, pos.out_index));
    cg_store(cg, pe.t, sum, dx, where);
    end_loops(cg, pos.loops);
    cg_loop_end(cg, &planes);
    return 1;
}

/* avg_pool's divisor for the window at pos, as a float of the pooled dtype (gc_pool_divisor). */
static LLVMValueRef divisor(cg_ctx *cg, const pool_emit *pe, const pool_pos *pos) {
    const gc_pool_geom *g = &pe->g;
    LLVMValueRef count = cg_i64(cg, 1);
    for (int d = 0; d < GC_MAX_SPATIAL; d++) {
        LLVMValueRef size;
        if (!pe->guard[d]) {
            size = cg_i64(cg, g->kernel[d]);
        } else {
            LLVMValueRef start = pos->start[d], end = add(cg, start, cg_i64(cg, g->kernel[d]));
            if (g->count_include_pad) {
                end = smin(cg, end, cg_i64(cg, g->in[d] + g->pad[d]));
            } else {
                end = smin(cg, end, cg_i64(cg, g->in[d]));
                start = smax(cg, start, cg_i64(cg, 0));
            }
            size = LLVMBuildSub(cg->b, end, start, "");
        }
        count = LLVMBuildMul(cg->b, count, size, "");
    }
    return LLVMBuildSIToFP(cg->b, count, cg_type(cg, pe->t), "");
}

int cg_emit_avg_pool(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in) {
    pool_emit pe;
    pool_setup(&pe, n, &n->inputs[0]->type);
    LLVMTypeRef ft = cg_type(cg, pe.t);
    int64_t in_plane = gc_pool_in_plane(&pe.g), out_plane = gc_pool_out_plane(&pe.g);
    cg_loop planes;
    pool_pos pos;
    pool_tap tap;
    begin_planes(cg, &pe, (double)gc_type_numel(&n->inputs[0]->type), &planes);
    LLVMValueRef x = cg_elem_ptr(cg, pe.t, in[0], mul(cg, planes.iv, in_plane));
    LLVMValueRef y = cg_elem_ptr(cg, pe.t, out, mul(cg, planes.iv, out_plane));
    begin_outputs(cg, &pe, &pos);
    LLVMValueRef acc = slot(cg, ft, cg_const(cg, pe.t, 0.0));
    begin_taps(cg, &pe, &pos, &tap);
    LLVMValueRef v = cg_load(cg, pe.t, x, tap.index);
    if (tap.valid) v = LLVMBuildSelect(cg->b, tap.valid, v, cg_const(cg, pe.t, 0.0), "");
    LLVMBuildStore(cg->b, cg_fadd(cg, LLVMBuildLoad2(cg->b, ft, acc, ""), v), acc);
    end_loops(cg, tap.loops);
    LLVMValueRef mean = LLVMBuildFDiv(cg->b, LLVMBuildLoad2(cg->b, ft, acc, ""), divisor(cg, &pe, &pos), "");
    cg_store(cg, pe.t, mean, y, pos.out_index);
    end_loops(cg, pos.loops);
    cg_loop_end(cg, &planes);
    return 1;
}

int cg_emit_avg_pool_grad(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in) {
    pool_emit pe;
    pool_setup(&pe, n, &n->type);
    int64_t in_plane = gc_pool_in_plane(&pe.g), out_plane = gc_pool_out_plane(&pe.g);
    cg_loop planes;
    pool_pos pos;
    pool_tap tap;
    begin_planes(cg, &pe, (double)gc_type_numel(&n->type) * 2, &planes);
    LLVMValueRef dy = cg_elem_ptr(cg, pe.t, in[0], mul(cg, planes.iv, out_plane));
    LLVMValueRef dx = cg_elem_ptr(cg, pe.t, out, mul(cg, planes.iv, in_plane));
    cg_zero(cg, pe.t, dx, in_plane);
    begin_outputs(cg, &pe, &pos);
    LLVMValueRef share = LLVMBuildFDiv(cg->b, cg_load(cg, pe.t, dy, pos.out_index), divisor(cg, &pe, &pos), "");
    begin_taps(cg, &pe, &pos, &tap);
    LLVMBasicBlockRef after = NULL;
    if (tap.valid) {
        /* A tap in the padding adds nothing (not even +0, which would turn a -0 into +0). */
        LLVMBasicBlockRef inside = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "tap");
        after = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "next");
        LLVMBuildCondBr(cg->b, tap.valid, inside, after);
        LLVMPositionBuilderAtEnd(cg->b, inside);
    }
    cg_store(cg, pe.t, cg_fadd(cg, cg_load(cg, pe.t, dx, tap.index), share), dx, tap.index);
    if (after) {
        LLVMBuildBr(cg->b, after);
        LLVMPositionBuilderAtEnd(cg->b, after);
    }
    end_loops(cg, tap.loops);
    end_loops(cg, pos.loops);
    cg_loop_end(cg, &planes);
    return 1;
}
