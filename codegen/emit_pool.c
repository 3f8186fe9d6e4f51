/*
 * emit_pool.c: kernels of the pooling ops (max_pool, avg_pool and their gradients).
 *
 * Each is a loop over the planes (N * C) of the operand, then over the output positions of a
 * three-dim geometry (ir/pool.h), then over the taps of the window, every extent a constant; a
 * window of up to 64 taps is unrolled here, so the loop over output positions vectorises. A dim
 * where some window reaches into the padding or past the input checks its taps (branch-free for
 * the forward ops: a tap outside reads element 0 and its value is discarded); a dim where every
 * window lies inside the input checks nothing. When no two windows share a tap (kernel 2, stride
 * 2), the gradients write each tap once instead of adding into a zeroed plane.
 *
 * The thread pool cuts the planes and never a plane: the gradients add each window into
 * overlapping parts of their result, so an element's additions all happen on one thread, in the
 * order of the interpreter, whatever the cut; the bytes do not depend on the thread count.
 * An elementwise producer of max_pool's or avg_pool's operand (a ReLU) may be fused into the
 * kernel as a prologue (passes/fuse.c): each tap then computes it instead of loading it. In
 * training, max_pool_grad also reads that operand, so it is stored and not fused there.
 */
#include <math.h>

#include "codegen/cg.h"
#include "ir/pool.h"

typedef struct pool_emit {
    gc_pool_geom g;
    gc_dtype t;
    bool guard[GC_MAX_SPATIAL]; /* some tap of some window along the dim lies outside the input */
    bool disjoint;              /* no two windows share a tap: a gradient stores instead of adding */
    bool covers;                /* and together the windows hold every element of a plane */
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
    pe->disjoint = pe->covers = true;
    for (int d = 0; d < GC_MAX_SPATIAL; d++) {
        const gc_pool_geom *g = &pe->g;
        int64_t extent = (g->kernel[d] - 1) * g->dilation[d] + 1;
        pe->disjoint = pe->disjoint && g->stride[d] >= extent;
        pe->covers = pe->covers && g->pad[d] == 0 && extent == g->kernel[d] && g->stride[d] == g->kernel[d] &&
                     g->out[d] * g->stride[d] == g->in[d];
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

/* The tap at window offsets k (one i64 value per dim) of the window at pos. */
static void tap_at(cg_ctx *cg, const pool_emit *pe, const pool_pos *pos, const LLVMValueRef *k, pool_tap *tap) {
    const gc_pool_geom *g = &pe->g;
    LLVMValueRef index = cg_i64(cg, 0), valid = NULL;
    for (int d = 0; d < GC_MAX_SPATIAL; d++) {
        LLVMValueRef i = add(cg, pos->start[d], mul(cg, k[d], g->dilation[d]));
        if (pe->guard[d]) {
            /* Unsigned: a negative index is huge, so one compare checks both ends. */
            valid = both(cg, valid, LLVMBuildICmp(cg->b, LLVMIntULT, i, cg_i64(cg, g->in[d]), ""));
        }
        index = add(cg, mul(cg, index, g->in[d]), i);
    }
    tap->valid = valid;
    tap->index = valid ? LLVMBuildSelect(cg->b, valid, index, cg_i64(cg, 0), "") : index;
}

/* Emits body for every tap of the window at pos, in scan order. A small window is unrolled here
 * (constant offsets: the loop over output positions around it is then straight-line code LLVM
 * vectorises); a large one is a loop nest. */
#define MAX_UNROLLED_TAPS 64
typedef void (*tap_body)(cg_ctx *cg, const pool_emit *pe, const pool_tap *tap, void *ctx);

static void each_tap(cg_ctx *cg, const pool_emit *pe, const pool_pos *pos, tap_body body, void *ctx) {
    const gc_pool_geom *g = &pe->g;
    pool_tap tap;
    LLVMValueRef k[GC_MAX_SPATIAL];
    if (g->kernel[0] * g->kernel[1] * g->kernel[2] <= MAX_UNROLLED_TAPS) {
        for (int64_t k0 = 0; k0 < g->kernel[0]; k0++)
            for (int64_t k1 = 0; k1 < g->kernel[1]; k1++)
                for (int64_t k2 = 0; k2 < g->kernel[2]; k2++) {
                    k[0] = cg_i64(cg, k0), k[1] = cg_i64(cg, k1), k[2] = cg_i64(cg, k2);
                    tap_at(cg, pe, pos, k, &tap);
                    body(cg, pe, &tap, ctx);
                }
        return;
    }
    for (int d = 0; d < GC_MAX_SPATIAL; d++) {
        cg_loop_begin(cg, &tap.loops[d], cg_i64(cg, g->kernel[d]));
        k[d] = tap.loops[d].iv;
    }
    tap_at(cg, pe, pos, k, &tap);
    body(cg, pe, &tap, ctx);
    end_loops(cg, tap.loops);
}

/* Opens a block that runs only when the tap is inside the input (none for an unguarded tap);
 * end_if_valid closes it. */
static LLVMBasicBlockRef begin_if_valid(cg_ctx *cg, const pool_tap *tap) {
    if (!tap->valid) return NULL;
    /* A tap in the padding has no element of its own: its clamped index 0 belongs to another. */
    LLVMBasicBlockRef inside = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "tap");
    LLVMBasicBlockRef after = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "next");
    LLVMBuildCondBr(cg->b, tap->valid, inside, after);
    LLVMPositionBuilderAtEnd(cg->b, inside);
    return after;
}

static void end_if_valid(cg_ctx *cg, LLVMBasicBlockRef after) {
    if (!after) return;
    LLVMBuildBr(cg->b, after);
    LLVMPositionBuilderAtEnd(cg->b, after);
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

/* The max_pool tap rule (forward: the value; gradient: also the index taken). */
typedef struct max_state {
    LLVMValueRef best; /* slot of the value so far */
    LLVMValueRef at;   /* slot of its index (-1: none yet), NULL when only the value is wanted */
    LLVMValueRef x;
    LLVMValueRef base; /* the plane's first element in x */
    bool failed;       /* a prologue could not be computed (cg->err says why) */
} max_state;

/* The operand at a tap: loaded, or computed by a fused elementwise prologue (codegen/fused.c) at
 * its row-major index. */
static LLVMValueRef tap_value(cg_ctx *cg, const pool_emit *pe, LLVMValueRef x, LLVMValueRef base, const pool_tap *tap) {
    if (cg->prologue) return cg_prologue_value(cg, add(cg, base, tap->index), cg_i64(cg, 0));
    return cg_load(cg, pe->t, x, tap->index);
}

static void max_tap(cg_ctx *cg, const pool_emit *pe, const pool_tap *tap, void *ctx) {
    max_state *st = ctx;
    LLVMTypeRef ft = cg_type(cg, pe->t);
    LLVMValueRef v = tap_value(cg, pe, st->x, st->base, tap), m = LLVMBuildLoad2(cg->b, ft, st->best, "");
    if (!v) {
        st->failed = true;
        return;
    }
    LLVMValueRef take = takes(cg, v, m);
    if (st->at) {
        /* The first tap inside the input is taken whatever its value (an all -inf window). */
        LLVMValueRef a = LLVMBuildLoad2(cg->b, cg->t_i64, st->at, "");
        take = LLVMBuildOr(cg->b, LLVMBuildICmp(cg->b, LLVMIntSLT, a, cg_i64(cg, 0), ""), take, "");
        take = both(cg, tap->valid, take);
        LLVMBuildStore(cg->b, LLVMBuildSelect(cg->b, take, tap->index, a, ""), st->at);
    } else {
        take = both(cg, tap->valid, take);
    }
    LLVMBuildStore(cg->b, LLVMBuildSelect(cg->b, take, v, m, ""), st->best);
}

int cg_emit_max_pool(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in) {
    pool_emit pe;
    pool_setup(&pe, n, &n->inputs[0]->type);
    LLVMTypeRef ft = cg_type(cg, pe.t);
    int64_t in_plane = gc_pool_in_plane(&pe.g), out_plane = gc_pool_out_plane(&pe.g);
    cg_loop planes;
    pool_pos pos;
    begin_planes(cg, &pe, (double)gc_type_numel(&n->inputs[0]->type), &planes);
    LLVMValueRef base = mul(cg, planes.iv, in_plane);
    max_state st = {NULL, NULL, cg->prologue ? NULL : cg_elem_ptr(cg, pe.t, in[0], base), base, false};
    LLVMValueRef y = cg_elem_ptr(cg, pe.t, out, mul(cg, planes.iv, out_plane));
    begin_outputs(cg, &pe, &pos);
    /* Padding never wins, so the value needs no first-tap rule: -inf loses to every tap. */
    st.best = slot(cg, ft, cg_const(cg, pe.t, -INFINITY));
    each_tap(cg, &pe, &pos, max_tap, &st);
    if (st.failed) return 0;
    cg_store(cg, pe.t, LLVMBuildLoad2(cg->b, ft, st.best, ""), y, pos.out_index);
    end_loops(cg, pos.loops);
    cg_loop_end(cg, &planes);
    return 1;
}

/* Disjoint windows: each tap of a window is written once, dy where max_pool took its value and 0
 * elsewhere, with no read of the result; 0 + dy is what the interpreter's zeros-then-add gives
 * (a -0 becomes +0). */
typedef struct route_state {
    LLVMValueRef at, g;
    LLVMValueRef dx;
} route_state;

static void route_tap(cg_ctx *cg, const pool_emit *pe, const pool_tap *tap, void *ctx) {
    route_state *st = ctx;
    LLVMBasicBlockRef after = begin_if_valid(cg, tap);
    LLVMValueRef hit = LLVMBuildICmp(cg->b, LLVMIntEQ, tap->index, st->at, "");
    cg_store(cg, pe->t, LLVMBuildSelect(cg->b, hit, st->g, cg_const(cg, pe->t, 0.0), ""), st->dx, tap->index);
    end_if_valid(cg, after);
}

int cg_emit_max_pool_grad(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in) {
    pool_emit pe;
    pool_setup(&pe, n, &n->inputs[0]->type);
    LLVMTypeRef ft = cg_type(cg, pe.t);
    int64_t in_plane = gc_pool_in_plane(&pe.g), out_plane = gc_pool_out_plane(&pe.g);
    cg_loop planes;
    pool_pos pos;
    begin_planes(cg, &pe, (double)gc_type_numel(&n->type) * 2, &planes);
    max_state st = {NULL, NULL, cg_elem_ptr(cg, pe.t, in[0], mul(cg, planes.iv, in_plane)), NULL, false};
    LLVMValueRef dy = cg_elem_ptr(cg, pe.t, in[1], mul(cg, planes.iv, out_plane));
    LLVMValueRef dx = cg_elem_ptr(cg, pe.t, out, mul(cg, planes.iv, in_plane));
    if (!pe.disjoint || !pe.covers) cg_zero(cg, pe.t, dx, in_plane);
    begin_outputs(cg, &pe, &pos);
    st.best = slot(cg, ft, cg_const(cg, pe.t, -INFINITY));
    st.at = slot(cg, cg->t_i64, cg_i64(cg, -1));
    each_tap(cg, &pe, &pos, max_tap, &st);
    /* Every window has a tap inside the input (the shape rule's output sizes see to it). */
    LLVMValueRef where = LLVMBuildLoad2(cg->b, cg->t_i64, st.at, "");
    if (pe.disjoint) {
        route_state rs = {where, cg_fadd(cg, cg_const(cg, pe.t, 0.0), cg_load(cg, pe.t, dy, pos.out_index)), dx};
        each_tap(cg, &pe, &pos, route_tap, &rs);
    } else {
        LLVMValueRef sum = cg_fadd(cg, cg_load(cg, pe.t, dx, where), cg_load(cg, pe.t, dy, pos.out_index));
        cg_store(cg, pe.t, sum, dx, where);
    }
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

typedef struct avg_state {
    LLVMValueRef acc, x, base; /* forward: the sum's slot, the operand and the plane's start */
    bool failed;
    LLVMValueRef share, dx; /* gradient: dy / divisor and the result */
} avg_state;

static void sum_tap(cg_ctx *cg, const pool_emit *pe, const pool_tap *tap, void *ctx) {
    avg_state *st = ctx;
    LLVMValueRef v = tap_value(cg, pe, st->x, st->base, tap);
    if (!v) {
        st->failed = true;
        return;
    }
    if (tap->valid) v = LLVMBuildSelect(cg->b, tap->valid, v, cg_const(cg, pe->t, 0.0), "");
    LLVMBuildStore(cg->b, cg_fadd(cg, LLVMBuildLoad2(cg->b, cg_type(cg, pe->t), st->acc, ""), v), st->acc);
}

static void spread_tap(cg_ctx *cg, const pool_emit *pe, const pool_tap *tap, void *ctx) {
    avg_state *st = ctx;
    LLVMBasicBlockRef after = begin_if_valid(cg, tap);
    /* Disjoint windows write each tap once: 0 + share, as the interpreter's zeros-then-add. */
    LLVMValueRef base = pe->disjoint ? cg_const(cg, pe->t, 0.0) : cg_load(cg, pe->t, st->dx, tap->index);
    cg_store(cg, pe->t, cg_fadd(cg, base, st->share), st->dx, tap->index);
    end_if_valid(cg, after);
}

int cg_emit_avg_pool(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in) {
    pool_emit pe;
    pool_setup(&pe, n, &n->inputs[0]->type);
    LLVMTypeRef ft = cg_type(cg, pe.t);
    int64_t in_plane = gc_pool_in_plane(&pe.g), out_plane = gc_pool_out_plane(&pe.g);
    cg_loop planes;
    pool_pos pos;
    begin_planes(cg, &pe, (double)gc_type_numel(&n->inputs[0]->type), &planes);
    LLVMValueRef base = mul(cg, planes.iv, in_plane);
    avg_state st = {NULL, cg->prologue ? NULL : cg_elem_ptr(cg, pe.t, in[0], base), base, false, NULL, NULL};
    LLVMValueRef y = cg_elem_ptr(cg, pe.t, out, mul(cg, planes.iv, out_plane));
    begin_outputs(cg, &pe, &pos);
    st.acc = slot(cg, ft, cg_const(cg, pe.t, 0.0));
    each_tap(cg, &pe, &pos, sum_tap, &st);
    if (st.failed) return 0;
    LLVMValueRef mean = LLVMBuildFDiv(cg->b, LLVMBuildLoad2(cg->b, ft, st.acc, ""), divisor(cg, &pe, &pos), "");
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
    begin_planes(cg, &pe, (double)gc_type_numel(&n->type) * 2, &planes);
    LLVMValueRef dy = cg_elem_ptr(cg, pe.t, in[0], mul(cg, planes.iv, out_plane));
    avg_state st = {NULL, NULL, NULL, false, NULL, cg_elem_ptr(cg, pe.t, out, mul(cg, planes.iv, in_plane))};
    if (!pe.disjoint || !pe.covers) cg_zero(cg, pe.t, st.dx, in_plane);
    begin_outputs(cg, &pe, &pos);
    st.share = LLVMBuildFDiv(cg->b, cg_load(cg, pe.t, dy, pos.out_index), divisor(cg, &pe, &pos), "");
    each_tap(cg, &pe, &pos, spread_tap, &st);
    end_loops(cg, pos.loops);
    cg_loop_end(cg, &planes);
    return 1;
}
