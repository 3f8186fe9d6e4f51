/*
 * emit_movement.c: kernels of the data-movement ops — reshape, permute, broadcast, slice, pad,
 * concat — and of the row gather/scatter ops take, scatter_add and index_add.
 *
 * Ops that move contiguous runs (slice, pad, concat, reshape) become one memcpy/memset per outer
 * index with constant sizes, which LLVM turns into inline moves when short; permute and broadcast
 * are a strided loop nest. Indices that come from data are range-checked in the generated code,
 * as in the interpreter: an out-of-range row reads zeros (take) or is dropped (scatter_add,
 * index_add).
 */
#include "codegen/cg.h"

static LLVMValueRef sel(cg_ctx *cg, LLVMValueRef c, LLVMValueRef a, LLVMValueRef b) {
    return LLVMBuildSelect(cg->b, c, a, b, "");
}

/* Element `i` (a constant or i64 value) of a dtype array, as a pointer. */
static LLVMValueRef at(cg_ctx *cg, gc_dtype t, LLVMValueRef ptr, LLVMValueRef i) { return cg_elem_ptr(cg, t, ptr, i); }

static LLVMValueRef mul(cg_ctx *cg, LLVMValueRef a, int64_t b) {
    LLVMValueRef r = LLVMBuildMul(cg->b, a, cg_i64(cg, b), "");
    if (LLVMIsAInstruction(r)) LLVMSetNSW(r, 1);
    return r;
}

/* Product of dims [from, to). */
static int64_t span(const gc_type *t, int from, int to) {
    int64_t p = 1;
    for (int d = from; d < to; d++) p *= t->dims[d];
    return p;
}

int cg_emit_reshape(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in) {
    cg_copy(cg, n->type.dtype, out, in[0], gc_type_numel(&n->type));
    return 1;
}

/* One process's share: the step's hooks add the other processes' after the kernel. */
int cg_emit_all_reduce_sum(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in) {
    cg_copy(cg, n->type.dtype, out, in[0], gc_type_numel(&n->type));
    return 1;
}

/* out[i] = x[offset of i under `strides`] over the result's dims. */
static void gather(cg_ctx *cg, const gc_node *n, LLVMValueRef out, LLVMValueRef x, const int64_t *strides) {
    cg_nest nest;
    int64_t own[GC_MAX_RANK];
    gc_type_strides(&n->type, own);
    cg_nest_init(&nest, n->type.rank, n->type.dims);
    cg_nest_add(&nest, own);
    cg_nest_add(&nest, strides);
    cg_nest_coalesce(&nest);
    cg_nest_begin_split(cg, &nest, (double)gc_type_numel(&n->type));
    gc_dtype t = n->type.dtype;
    cg_store(cg, t, cg_load(cg, t, x, nest.off[1]), out, nest.off[0]);
    cg_nest_end(cg, &nest);
}

/* Result dim i walks operand dim perm[i]. */
int cg_emit_permute(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in) {
    int64_t own[GC_MAX_RANK], strides[GC_MAX_RANK];
    gc_type_strides(&n->inputs[0]->type, own);
    for (int d = 0; d < n->type.rank; d++) strides[d] = own[n->attr.permute.perm[d]];
    gather(cg, n, out, in[0], strides);
    return 1;
}

int cg_emit_broadcast(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in) {
    int64_t strides[GC_MAX_RANK];
    cg_broadcast_strides(&n->inputs[0]->type, &n->type, strides);
    gather(cg, n, out, in[0], strides);
    return 1;
}

/* Each outer index (the dims before `axis`) copies one run of `len` elements. */
int cg_emit_slice(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in) {
    const gc_type *tx = &n->inputs[0]->type;
    const gc_attr_slice *s = &n->attr.slice;
    gc_dtype t = n->type.dtype;
    int64_t inner = span(tx, s->axis + 1, tx->rank);
    int64_t len = (s->end - s->start) * inner, row = tx->dims[s->axis] * inner;
    cg_loop o;
    cg_loop_begin(cg, &o, cg_i64(cg, span(tx, 0, s->axis)));
    LLVMValueRef src = at(cg, t, in[0], LLVMBuildAdd(cg->b, mul(cg, o.iv, row), cg_i64(cg, s->start * inner), ""));
    cg_copy(cg, t, at(cg, t, out, mul(cg, o.iv, len)), src, len);
    cg_loop_end(cg, &o);
    return 1;
}

/* Per outer index: `before` rows of zeros, the operand's run, `after` rows of zeros. */
int cg_emit_pad(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in) {
    const gc_type *tx = &n->inputs[0]->type;
    const gc_attr_pad *p = &n->attr.pad;
    gc_dtype t = n->type.dtype;
    int64_t inner = span(tx, p->axis + 1, tx->rank);
    int64_t len = tx->dims[p->axis] * inner, row = n->type.dims[p->axis] * inner;
    cg_loop o;
    cg_loop_begin(cg, &o, cg_i64(cg, span(tx, 0, p->axis)));
    LLVMValueRef base = mul(cg, o.iv, row);
    if (p->before) cg_zero(cg, t, at(cg, t, out, base), p->before * inner);
    LLVMValueRef mid = LLVMBuildAdd(cg->b, base, cg_i64(cg, p->before * inner), "");
    cg_copy(cg, t, at(cg, t, out, mid), at(cg, t, in[0], mul(cg, o.iv, len)), len);
    if (p->after)
        cg_zero(cg, t, at(cg, t, out, LLVMBuildAdd(cg->b, mid, cg_i64(cg, len), "")), p->after * inner);
    cg_loop_end(cg, &o);
    return 1;
}

/* Per outer index, operand k contributes a run of dims[axis] * inner elements in order. */
int cg_emit_concat(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in) {
    int axis = n->attr.axis.axis;
    gc_dtype t = n->type.dtype;
    int64_t inner = span(&n->type, axis + 1, n->type.rank), row = n->type.dims[axis] * inner;
    cg_loop o;
    cg_loop_begin(cg, &o, cg_i64(cg, span(&n->type, 0, axis)));
    LLVMValueRef base = mul(cg, o.iv, row);
    int64_t offset = 0;
    for (int k = 0; k < n->num_inputs; k++) {
        int64_t len = n->inputs[k]->type.dims[axis] * inner;
        LLVMValueRef dst = at(cg, t, out, LLVMBuildAdd(cg->b, base, cg_i64(cg, offset), ""));
        cg_copy(cg, t, dst, at(cg, t, in[k], mul(cg, o.iv, len)), len);
        offset += len;
    }
    cg_loop_end(cg, &o);
    return 1;
}

/* Whether the i32 index (as i64) names a row of a table with `rows` rows: negative indices are
 * huge when compared unsigned. */
static LLVMValueRef in_range(cg_ctx *cg, LLVMValueRef r, int64_t rows) {
    return LLVMBuildICmp(cg->b, LLVMIntULT, r, cg_i64(cg, rows), "");
}

/* Row idx[i] of the table, or zeros: the row read is clamped to 0 when out of range so the load
 * is always valid, and its value then discarded, which keeps the copy loop branch-free. */
int cg_emit_take(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in) {
    const gc_type *table = &n->inputs[0]->type, *idx = &n->inputs[1]->type;
    gc_dtype t = n->type.dtype;
    int64_t rows = table->dims[0], width = gc_type_numel(table) / rows;
    cg_loop i, j;
    cg_loop_begin(cg, &i, cg_i64(cg, gc_type_numel(idx)));
    LLVMValueRef r = LLVMBuildSExt(cg->b, cg_load(cg, GC_I32, in[1], i.iv), cg->t_i64, "");
    LLVMValueRef ok = in_range(cg, r, rows);
    LLVMValueRef src = mul(cg, sel(cg, ok, r, cg_i64(cg, 0)), width), dst = mul(cg, i.iv, width);
    cg_loop_begin(cg, &j, cg_i64(cg, width));
    LLVMValueRef v = cg_load(cg, t, in[0], LLVMBuildAdd(cg->b, src, j.iv, ""));
    cg_store(cg, t, sel(cg, ok, v, cg_const(cg, t, 0)), out, LLVMBuildAdd(cg->b, dst, j.iv, ""));
    cg_loop_end(cg, &j);
    cg_loop_end(cg, &i);
    return 1;
}

/* Row idx[i] of out += updates[i] for every in-range index, in index order (a row named twice
 * takes its updates one after the other, so the order is fixed whatever runs the kernel). */
static void add_rows(cg_ctx *cg, const gc_node *n, LLVMValueRef out, LLVMValueRef updates, LLVMValueRef indices,
                     const gc_type *idx) {
    gc_dtype t = n->type.dtype;
    int64_t rows = n->type.dims[0], width = gc_type_numel(&n->type) / rows;
    cg_loop i, j;
    cg_loop_begin(cg, &i, cg_i64(cg, gc_type_numel(idx)));
    LLVMValueRef r = LLVMBuildSExt(cg->b, cg_load(cg, GC_I32, indices, i.iv), cg->t_i64, "");
    LLVMBasicBlockRef add = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "row");
    LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "next");
    LLVMBuildCondBr(cg->b, in_range(cg, r, rows), add, next);
    LLVMPositionBuilderAtEnd(cg->b, add);
    LLVMValueRef dst = mul(cg, r, width), src = mul(cg, i.iv, width);
    cg_loop_begin(cg, &j, cg_i64(cg, width));
    LLVMValueRef d = LLVMBuildAdd(cg->b, dst, j.iv, "");
    LLVMValueRef a = cg_load(cg, t, out, d), b = cg_load(cg, t, updates, LLVMBuildAdd(cg->b, src, j.iv, ""));
    cg_store(cg, t, t == GC_I32 ? LLVMBuildAdd(cg->b, a, b, "") : cg_fadd(cg, a, b), out, d);
    cg_loop_end(cg, &j);
    LLVMBuildBr(cg->b, next);
    LLVMPositionBuilderAtEnd(cg->b, next);
    cg_loop_end(cg, &i);
}

/* Zeros, then row idx[i] += updates[i] for every in-range index, in index order. */
int cg_emit_scatter_add(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in) {
    cg_zero(cg, n->type.dtype, out, gc_type_numel(&n->type));
    add_rows(cg, n, out, in[0], in[1], &n->inputs[1]->type);
    return 1;
}

/* The base, then row idx[i] += updates[i] as scatter_add adds them. The plan usually gives the
 * result the base's own bytes (passes/plan.c: the base dies here), and then only the rows named
 * are touched: a tied embedding's gradient is the head's product with the lookup's 256 rows
 * added, where a scatter_add zero-filled all of its [50257, 768] first. */
int cg_emit_index_add(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in) {
    LLVMBasicBlockRef copy = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "copy");
    LLVMBasicBlockRef rows = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "rows");
    LLVMValueRef apart = LLVMBuildICmp(cg->b, LLVMIntNE, LLVMBuildPtrToInt(cg->b, out, cg->t_i64, ""),
                                       LLVMBuildPtrToInt(cg->b, in[0], cg->t_i64, ""), "");
    LLVMBuildCondBr(cg->b, apart, copy, rows);
    LLVMPositionBuilderAtEnd(cg->b, copy);
    cg_copy(cg, n->type.dtype, out, in[0], gc_type_numel(&n->type));
    LLVMBuildBr(cg->b, rows);
    LLVMPositionBuilderAtEnd(cg->b, rows);
    add_rows(cg, n, out, in[1], in[2], &n->inputs[2]->type);
    return 1;
}
