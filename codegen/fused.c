/*
 * fused.c: the body of a fused kernel — elementwise members computed at each element of the
 * root's shape, intermediates in registers, only the root stored; optionally after a GEMM that
 * writes the result buffer first (an epilogue: bias add, activation, residual add; after a
 * convolution, image by image); or, for a
 * reduction root, computed where the reduction loads its operand (a prologue: sum of squares).
 *
 * passes/fuse.c puts a node into a kernel only when it has the root's shape, so every member is
 * evaluated at the same element as the root; values from outside are read through broadcast
 * strides against the root's shape, each once per element however many members use it.
 */
#include <stdlib.h>
#include <string.h>

#include "codegen/cg.h"

/* The operands of member m from the members before it and the outside values. */
static int member_args(cg_ctx *cg, const cg_group *grp, int m, const LLVMValueRef *values, const LLVMValueRef *outside,
                       LLVMValueRef *args) {
    const gc_node *n = grp->members[m];
    if (n->num_inputs > 3)
        return gc_failf(cg->err, GC_ERR_INTERNAL, "internal error: codegen: fused %s has %d operands",
                        gc_op_table[n->op].name, n->num_inputs);
    for (int k = 0; k < n->num_inputs; k++) {
        const gc_node *x = n->inputs[k];
        args[k] = NULL;
        for (int j = 0; j < m && !args[k]; j++)
            if (grp->members[j] == x) args[k] = values[j];
        for (int j = 0; j < grp->num_ext && !args[k]; j++)
            if (grp->ext[j] == x) args[k] = outside[j];
        if (!args[k])
            return gc_failf(cg->err, GC_ERR_INTERNAL, "internal error: codegen: %%%d reads %%%d from nowhere", n->id,
                            x->id);
    }
    return 1;
}

LLVMValueRef cg_prologue_value(cg_ctx *cg, LLVMValueRef flat, LLVMValueRef out) {
    const cg_group *grp = cg->prologue;
    const gc_node *root = grp->members[grp->num_members - 1];
    /* Outside values have the operand's shape, hold one element or are shaped like the result
     * (passes/fuse.c): read at the element, at 0, or at the result's element. */
    const gc_type *space = &root->inputs[0]->type;
    LLVMValueRef outside[CG_MAX_OPERANDS];
    for (int k = 0; k < grp->num_ext; k++) {
        const gc_type *t = &grp->ext[k]->type;
        LLVMValueRef at = gc_type_numel(t) == 1 ? cg_i64(cg, 0) : gc_type_numel(t) == gc_type_numel(space) ? flat : out;
        outside[k] = cg_load(cg, t->dtype, cg->prologue_ext[k], at);
    }
    /* A one_hot member reads its index at the result element, the row (passes/fuse.c admits it
     * only where the last axis alone is reduced); its position is flat less the row's start. */
    LLVMValueRef values[64], result = NULL, before = cg->last_index;
    for (int m = 0; m < grp->num_members - 1 && cg->last_index == before; m++) {
        if (grp->members[m]->op != GC_OP_ONE_HOT) continue;
        int64_t row = space->dims[space->rank - 1];
        cg->last_index = LLVMBuildSub(cg->b, flat, LLVMBuildMul(cg->b, out, cg_i64(cg, row), ""), "");
    }
    for (int m = 0; m < grp->num_members - 1; m++) {
        LLVMValueRef args[3];
        values[m] = member_args(cg, grp, m, values, outside, args) ? cg_element_value(cg, grp->members[m], args, flat) : NULL;
        if (!values[m]) {
            cg->last_index = before;
            if (cg->err->code == GC_OK)
                gc_failf(cg->err, GC_ERR_INTERNAL, "internal error: codegen: %s cannot be fused",
                         gc_op_table[grp->members[m]->op].name);
            return NULL;
        }
        if (grp->members[m] == root->inputs[0]) result = values[m];
    }
    cg->last_index = before;
    if (!result) gc_failf(cg->err, GC_ERR_INTERNAL, "internal error: codegen: no prologue value for %%%d", root->id);
    return result;
}

static bool is_reduction_member(const gc_node *n) { return gc_op_table[n->op].op_class == GC_CLASS_REDUCTION; }

int cg_prologue_operands(cg_ctx *cg, LLVMValueRef flat, LLVMValueRef out, LLVMValueRef *values) {
    const cg_group *grp = cg->prologue;
    const gc_node *root = grp->members[grp->num_members - 1];
    const gc_type *space = &root->inputs[0]->type;
    LLVMValueRef outside[CG_MAX_OPERANDS];
    for (int k = 0; k < grp->num_ext; k++) {
        const gc_type *t = &grp->ext[k]->type;
        LLVMValueRef at = gc_type_numel(t) == 1 ? cg_i64(cg, 0) : gc_type_numel(t) == gc_type_numel(space) ? flat : out;
        outside[k] = cg_load(cg, t->dtype, cg->prologue_ext[k], at);
    }
    LLVMValueRef member[64];
    int count = 0;
    for (int m = 0; m < grp->num_members; m++) {
        const gc_node *n = grp->members[m];
        LLVMValueRef args[3];
        member[m] = NULL;
        if (!member_args(cg, grp, m, member, outside, args)) return 0;
        if (is_reduction_member(n)) {
            values[count++] = args[0];
            continue;
        }
        member[m] = cg_element_value(cg, n, args, flat);
        if (!member[m])
            return gc_failf(cg->err, GC_ERR_INTERNAL, "internal error: codegen: %s cannot be fused",
                            gc_op_table[n->op].name);
        for (int s = 0; s < grp->num_stores; s++)
            if (grp->stores[s] == n) cg_store(cg, n->type.dtype, member[m], cg->stored[s], flat);
    }
    return count;
}

/* A reduction (or a pool) whose operand is computed by its members where it loads it. */
static int reduction_kernel(cg_ctx *cg, const cg_group *grp, LLVMValueRef out, const LLVMValueRef *ext) {
    const gc_node *root = grp->members[grp->num_members - 1];
    if (grp->num_members > 64 || grp->num_ext > CG_MAX_OPERANDS)
        return gc_failf(cg->err, GC_ERR_INTERNAL, "internal error: codegen: prologue of %%%d too large", root->id);
    cg->prologue = grp;
    cg->prologue_ext = ext;
    LLVMValueRef none[1] = {NULL};
    int ok = 0;
    /* Sums and means, with sibling reductions or stored members: one pass computes them all. */
    const gc_node *reductions[64];
    LLVMValueRef outs[64];
    int count = 0;
    for (int m = 0; m < grp->num_members; m++)
        if (is_reduction_member(grp->members[m])) {
            reductions[count] = grp->members[m];
            outs[count] = grp->members[m] == root ? out : NULL;
            for (int s = 0; s < grp->num_stores; s++)
                if (grp->stores[s] == grp->members[m]) outs[count] = cg->stored[s];
            count++;
        }
    if ((root->op == GC_OP_SUM || root->op == GC_OP_MEAN) && (count > 1 || grp->num_stores > 0)) {
        for (int i = 0; i < count; i++)
            if (!outs[i] || (reductions[i]->op != GC_OP_SUM && reductions[i]->op != GC_OP_MEAN))
                return gc_failf(cg->err, GC_ERR_INTERNAL, "internal error: codegen: bad sibling reduction %%%d in %%%d",
                                reductions[i]->id, root->id);
        ok = cg_emit_reductions(cg, reductions, count, outs);
        cg->prologue = NULL;
        cg->prologue_ext = NULL;
        return ok;
    }
    if (count > 1 || grp->num_stores > 0)
        return gc_failf(cg->err, GC_ERR_INTERNAL, "internal error: codegen: %s stores no members", gc_op_table[root->op].name);
    switch (root->op) {
    case GC_OP_SUM: ok = cg_emit_sum(cg, root, out, none); break;
    case GC_OP_MEAN: ok = cg_emit_mean(cg, root, out, none); break;
    case GC_OP_MAX: ok = cg_emit_max(cg, root, out, none); break;
    case GC_OP_MIN: ok = cg_emit_min(cg, root, out, none); break;
    case GC_OP_MAX_POOL: ok = cg_emit_max_pool(cg, root, out, none); break;
    case GC_OP_AVG_POOL: ok = cg_emit_avg_pool(cg, root, out, none); break;
    default: ok = gc_failf(cg->err, GC_ERR_INTERNAL, "internal error: codegen: %s takes no prologue", gc_op_table[root->op].name);
    }
    cg->prologue = NULL;
    cg->prologue_ext = NULL;
    return ok;
}

/* The stride of dims [from, to) of `full` merged into one, in *out: false when they do not
 * merge (a broadcast along some but not all of them). */
static bool merged_stride(const gc_type *full, const int64_t *strides, int from, int to, int64_t *out) {
    int64_t step = -1, inner = 1;
    for (int d = to - 1; d >= from; d--) {
        if (full->dims[d] == 1) continue;
        /* Walking outwards, each dim must step over the ones inside it. */
        if (step < 0) {
            step = strides[d];
            inner = full->dims[d];
            continue;
        }
        if (strides[d] != step * inner) return false;
        inner *= full->dims[d];
    }
    *out = step < 0 ? 0 : step;
    return true;
}

/* How a split epilogue's loop sees the root's dims: as they are (no view), as two (the dims
 * before `at` merged, and those from `at` on: [rows, cols] for at = rank - 1), or with the dims
 * before `at` merged and the others kept (a batch split along its leading dims). */
typedef enum view_kind { VIEW_NONE, VIEW_TWO, VIEW_LEAD } view_kind;
typedef struct loop_view {
    view_kind kind;
    int at;
} loop_view;

/* The strides of a value of `full`'s dims as view v sees them (the view's rank: 2, or
 * 1 + rank - at); false when the merged dims do not step evenly. */
static bool view_strides(const gc_type *full, const int64_t *strides, loop_view v, int64_t *out) {
    if (v.at < 0 || v.at > full->rank || !merged_stride(full, strides, 0, v.at, &out[0])) return false;
    if (v.kind == VIEW_TWO) return merged_stride(full, strides, v.at, full->rank, &out[1]);
    for (int d = v.at; d < full->rank; d++) out[1 + d - v.at] = strides[d];
    return true;
}

/* How the loop reads the outside values: broadcast against the root's shape (`loop`), and, for
 * one_hot members, as an index along the root's leading dims (`hot`); each read its own nest
 * operand (`slot`, 0 when unread). */
typedef struct ext_reads {
    bool loop[CG_MAX_OPERANDS], hot[CG_MAX_OPERANDS];
    int loop_slot[CG_MAX_OPERANDS], hot_slot[CG_MAX_OPERANDS];
    /* The add member whose sum the GEMM computed itself (beta 1 onto the other operand, which
     * lives in the result's bytes): its value is the GEMM's. NULL when there is none. */
    const gc_node *summed;
} ext_reads;

/* Strides of outside value x walking the root's dims: NumPy broadcasting, or one_hot's index
 * (the root's dims less the last, which it does not move along). */
static void read_strides(const gc_type *x, const gc_type *root, bool hot, int64_t *strides) {
    if (hot) {
        gc_type_strides(x, strides);
        strides[root->rank - 1] = 0;
    } else {
        cg_broadcast_strides(x, root, strides);
    }
}

/* The member values at the nest's current element, the root stored there. `matrix` says the nest
 * walks the root as [rows, cols]: nest.off[0] is then still its row-major index. */
static int emit_body(cg_ctx *cg, const cg_group *grp, const gc_node *gemm, LLVMValueRef out, const LLVMValueRef *ext,
                     const cg_nest *nest, const ext_reads *r) {
    const gc_node *root = grp->members[grp->num_members - 1];
    LLVMValueRef outside[CG_MAX_OPERANDS] = {NULL}, hot[CG_MAX_OPERANDS] = {NULL};
    for (int j = 0; j < grp->num_ext; j++) {
        gc_dtype t = grp->ext[j]->type.dtype;
        if (r->loop[j]) outside[j] = cg_load(cg, t, ext[j], nest->off[r->loop_slot[j]]);
        if (r->hot[j]) hot[j] = cg_load(cg, t, ext[j], nest->off[r->hot_slot[j]]);
    }
    LLVMValueRef *values = calloc((size_t)grp->num_members, sizeof *values);
    if (!values) return gc_failf(cg->err, GC_ERR_MEMORY, "out of memory");
    /* The innermost loop walks the root's last dim when it kept that dim's extent (merging dims
     * multiplies extents; dims of 1 drop out and change nothing). */
    int last = root->type.rank - 1;
    cg->last_index = last >= 0 && nest->rank >= 1 && nest->dims[nest->rank - 1] == root->type.dims[last] ?
                     nest->idx[nest->rank - 1] : NULL;
    for (int m = 0; m < grp->num_members; m++) {
        const gc_node *n = grp->members[m];
        if (n == gemm) {
            values[m] = cg_load(cg, n->type.dtype, out, nest->off[0]);
            continue;
        }
        if (n == r->summed) {
            for (int j = 0; j < m; j++)
                if (grp->members[j] == gemm) values[m] = values[j];
            continue;
        }
        LLVMValueRef args[3];
        if (!member_args(cg, grp, m, values, n->op == GC_OP_ONE_HOT ? hot : outside, args)) {
            cg->last_index = NULL;
            free(values);
            return 0;
        }
        values[m] = cg_element_value(cg, n, args, nest->off[0]);
        if (!values[m]) {
            cg->last_index = NULL;
            free(values);
            return gc_failf(cg->err, GC_ERR_INTERNAL, "internal error: codegen: %s cannot be fused",
                            gc_op_table[n->op].name);
        }
    }
    /* Stored members (graph outputs the loop computes) go out at the same element. */
    for (int s = 0; s < grp->num_stores; s++)
        for (int m = 0; m + 1 < grp->num_members; m++)
            if (grp->members[m] == grp->stores[s]) cg_store(cg, grp->stores[s]->type.dtype, values[m], cg->stored[s], nest->off[0]);
    cg_store(cg, root->type.dtype, values[grp->num_members - 1], out, nest->off[0]);
    cg->last_index = NULL;
    free(values);
    return 1;
}

/* Adds the nest operands of the outside values the loop reads, each seen through `view`; false
 * when a view fails or there are too many. */
static bool add_reads(cg_nest *nest, const cg_group *grp, const gc_type *root, ext_reads *r, loop_view view) {
    int64_t strides[GC_MAX_RANK], viewed[GC_MAX_RANK];
    for (int pass = 0; pass < 2; pass++)
        for (int j = 0; j < grp->num_ext; j++) {
            bool hot = pass == 1;
            if (!(hot ? r->hot[j] : r->loop[j])) continue;
            if (nest->count >= CG_MAX_OPERANDS) return false;
            read_strides(&grp->ext[j]->type, root, hot, strides);
            if (view.kind != VIEW_NONE && !view_strides(root, strides, view, viewed)) return false;
            (hot ? r->hot_slot : r->loop_slot)[j] = cg_nest_add(nest, view.kind != VIEW_NONE ? viewed : strides);
        }
    return true;
}

/* Whether the epilogue's loop would store what the GEMM left: its root is the add the GEMM
 * computed itself (beta 1) and it stores no member. */
static bool loop_is_copy(const cg_group *grp, const ext_reads *r) {
    return r->summed && r->summed == grp->members[grp->num_members - 1] && grp->num_stores == 0;
}

/* A GEMM with its epilogue, split over the pool: each part computes its rows (or columns) of the
 * product, then applies the epilogue to exactly those, while they are in its cache. The loop
 * walks the result as a [rows, cols] matrix. Returns -1 when the kernel cannot split this way
 * (a batch of GEMMs, or an operand whose broadcast does not fit the matrix view). */
static int split_batch_epilogue(cg_ctx *cg, const cg_group *grp, const gc_node *gemm, const LLVMValueRef *operands,
                                ext_reads *r, LLVMValueRef out, const LLVMValueRef *ext);

static int split_epilogue(cg_ctx *cg, const cg_group *grp, const gc_node *gemm, const LLVMValueRef *operands,
                          ext_reads *r, LLVMValueRef out, const LLVMValueRef *ext) {
    const gc_node *root = grp->members[grp->num_members - 1];
    int64_t rows, cols;
    if (root->type.rank < 2) return -1;
    if (!cg_gemm_rows(cg, gemm, &rows, &cols)) return split_batch_epilogue(cg, grp, gemm, operands, r, out, ext);
    const gc_type *ta = &gemm->inputs[0]->type;
    double k = (double)ta->dims[ta->rank - (gemm->attr.matmul.transpose_a ? 2 : 1)];
    if (!cg_split_worthwhile(cg, (double)rows * (double)cols * k) || (rows < 2 && cols < 32)) return -1;
    cg_nest nest;
    int64_t dims[2] = {rows, cols}, strides[GC_MAX_RANK], matrix[2];
    cg_nest_init(&nest, 2, dims);
    gc_type_strides(&root->type, strides);
    loop_view view = {VIEW_TWO, root->type.rank - 1};
    if (!view_strides(&root->type, strides, view, matrix)) return -1;
    cg_nest_add(&nest, matrix);
    if (!add_reads(&nest, grp, &root->type, r, view)) return -1;
    int64_t unit;
    bool by_cols = cg_gemm_split_cols(gemm->type.dtype, rows, cols, (int64_t)k, gemm->attr.matmul.transpose_a, &unit);
    LLVMValueRef lo, hi;
    cg_split_range(cg, by_cols ? cols : rows, unit, &lo, &hi);
    cg->gemm_accumulate = r->summed != NULL;
    int ok = cg_emit_matmul_part(cg, gemm, out, operands, by_cols, lo, hi);
    cg->gemm_accumulate = false;
    if (!ok) return 0;
    if (loop_is_copy(grp, r)) return 1;
    cg_nest_begin_part(cg, &nest, by_cols ? 1 : 0, lo, hi);
    if (!emit_body(cg, grp, gemm, out, ext, &nest, r)) return 0;
    cg_nest_end(cg, &nest);
    return 1;
}

/* A batch of GEMMs with its epilogue (attention's scores plus the causal mask): each part
 * computes whole matrices of the batch (a run of its outermost batch dims' indices, when views
 * keep the batch dims from merging), then applies the epilogue to exactly those. */
static int split_batch_epilogue(cg_ctx *cg, const cg_group *grp, const gc_node *gemm, const LLVMValueRef *operands,
                                ext_reads *r, LLVMValueRef out, const LLVMValueRef *ext) {
    const gc_node *root = grp->members[grp->num_members - 1];
    int64_t batches;
    int lead;
    if (!cg_gemm_batches(cg, gemm, &batches, &lead) || batches < 2) return -1;
    const gc_type *ta = &gemm->inputs[0]->type;
    double k = (double)ta->dims[ta->rank - (gemm->attr.matmul.transpose_a ? 2 : 1)];
    int64_t numel = gc_type_numel(&root->type);
    if (!cg_split_worthwhile(cg, (double)numel * k) || numel % batches) return -1;
    /* The loop walks the batch's leading dims as one (split by parts) and the rest as they are:
     * a mask broadcast along the heads but not the batch still reads at stride 0 there. */
    cg_nest nest;
    loop_view view = {VIEW_LEAD, lead};
    int rank = root->type.rank;
    int64_t dims[GC_MAX_RANK], strides[GC_MAX_RANK], seen[GC_MAX_RANK];
    dims[0] = batches;
    for (int d = lead; d < rank; d++) dims[1 + d - lead] = root->type.dims[d];
    cg_nest_init(&nest, 1 + rank - lead, dims);
    gc_type_strides(&root->type, strides);
    if (!view_strides(&root->type, strides, view, seen)) return -1;
    cg_nest_add(&nest, seen);
    if (!add_reads(&nest, grp, &root->type, r, view)) return -1;
    LLVMValueRef lo, hi;
    cg_split_range(cg, batches, 1, &lo, &hi);
    cg->gemm_accumulate = r->summed != NULL;
    int ok = cg_emit_matmul_batch_part(cg, gemm, out, operands, lo, hi);
    cg->gemm_accumulate = false;
    if (!ok) return 0;
    if (loop_is_copy(grp, r)) return 1;
    cg_nest_begin_part(cg, &nest, 0, lo, hi);
    if (!emit_body(cg, grp, gemm, out, ext, &nest, r)) return 0;
    cg_nest_end(cg, &nest);
    return 1;
}

/* A convolution (conv or conv_input_grad) with its epilogue, image by image: one image's
 * convolution into the result buffer (or one column tile's images, when images are small), then
 * the epilogue over exactly those images while they are in cache (an image of 64 channels of
 * 32x32 is 256 KB; the whole batch's result would have left the cache before a separate loop
 * read it back). The pool shares out runs of images as it does for
 * the convolution alone, so the bits do not depend on the cut. */
static int conv_epilogue(cg_ctx *cg, const cg_group *grp, const gc_node *conv, const LLVMValueRef *operands,
                         const ext_reads *r, LLVMValueRef out, const LLVMValueRef *ext) {
    const gc_node *root = grp->members[grp->num_members - 1];
    double macs;
    if (!cg_conv_by_images(conv, &macs) || root->type.rank < 2)
        return gc_failf(cg->err, GC_ERR_INTERNAL, "internal error: codegen: bad convolution epilogue in %%%d", root->id);
    int64_t batch = root->type.dims[0];
    LLVMValueRef lo = cg_i64(cg, 0), hi = cg_i64(cg, batch);
    if (batch >= 2 && cg_split_worthwhile(cg, macs)) cg_split_range(cg, batch, 1, &lo, &hi);
    /* The loop over one image walks the root's dims after the batch; each operand starts at the
     * image's element (its batch stride: 0 for a value broadcast over the batch, as a bias). */
    const gc_type *rt = &root->type;
    int64_t strides[GC_MAX_RANK], image_step[CG_MAX_OPERANDS];
    cg_nest nest;
    cg_nest_init(&nest, rt->rank - 1, rt->dims + 1);
    gc_type_strides(rt, strides);
    image_step[cg_nest_add(&nest, strides + 1)] = strides[0];
    ext_reads reads = *r;
    for (int pass = 0; pass < 2; pass++)
        for (int j = 0; j < grp->num_ext; j++) {
            bool hot = pass == 1;
            if (!(hot ? reads.hot[j] : reads.loop[j])) continue;
            if (nest.count >= CG_MAX_OPERANDS)
                return gc_failf(cg->err, GC_ERR_INTERNAL, "internal error: codegen: fused kernel %%%d reads too many values",
                                root->id);
            read_strides(&grp->ext[j]->type, rt, hot, strides);
            int slot = cg_nest_add(&nest, strides + 1);
            image_step[slot] = strides[0];
            (hot ? reads.hot_slot : reads.loop_slot)[j] = slot;
        }
    cg_nest_coalesce(&nest);
    /* Runs of `per` images, each one column tile of the conv's (small images share a tile): the
     * same tiles as one call for the share, and the epilogue over the run (about 256 positions of
     * every channel) follows its GEMMs. */
    int64_t per = cg_conv_images_per_call(conv);
    LLVMValueRef runs = LLVMBuildSDiv(cg->b, LLVMBuildAdd(cg->b, LLVMBuildSub(cg->b, hi, lo, ""), cg_i64(cg, per - 1), ""),
                                      cg_i64(cg, per), "");
    cg_loop run;
    cg_loop_begin_range(cg, &run, cg_i64(cg, 0), runs);
    LLVMValueRef first = LLVMBuildAdd(cg->b, lo, LLVMBuildMul(cg->b, run.iv, cg_i64(cg, per), ""), "");
    LLVMValueRef end = LLVMBuildAdd(cg->b, first, cg_i64(cg, per), "");
    end = LLVMBuildSelect(cg->b, LLVMBuildICmp(cg->b, LLVMIntSLT, end, hi, ""), end, hi, "");
    /* After a part's first run the thread's buffer holds the weights as the conv reads them. */
    LLVMValueRef again = LLVMBuildZExt(cg->b, LLVMBuildICmp(cg->b, LLVMIntNE, run.iv, cg_i64(cg, 0), ""), cg->t_i32, "");
    if (!cg_emit_conv_images(cg, conv, out, operands, first, end, again)) return 0;
    cg_loop images;
    cg_loop_begin_range(cg, &images, first, end);
    cg_nest_begin(cg, &nest);
    for (int k = 0; k < nest.count; k++) {
        if (!image_step[k]) continue;
        LLVMValueRef base = LLVMBuildMul(cg->b, images.iv, cg_i64(cg, image_step[k]), "");
        nest.off[k] = LLVMBuildAdd(cg->b, nest.off[k], base, "");
    }
    if (!emit_body(cg, grp, conv, out, ext, &nest, &reads)) return 0;
    cg_nest_end(cg, &nest);
    cg_loop_end(cg, &images);
    cg_loop_end(cg, &run);
    return 1;
}

int cg_fused_kernel(cg_ctx *cg, const cg_group *grp, LLVMValueRef out, const LLVMValueRef *ext) {
    const gc_node *root = grp->members[grp->num_members - 1];
    if (gc_op_table[root->op].op_class == GC_CLASS_REDUCTION || root->op == GC_OP_MAX_POOL || root->op == GC_OP_AVG_POOL)
        return reduction_kernel(cg, grp, out, ext);
    if (grp->num_ext > CG_MAX_OPERANDS - 1)
        return gc_failf(cg->err, GC_ERR_INTERNAL, "internal error: codegen: fused kernel %%%d reads %d values",
                        root->id, grp->num_ext);
    /* A GEMM member runs first, into the result buffer; the loop reads its value there. Outside
     * values only the GEMM reads are not walked by the loop (their shapes are not the root's). */
    const gc_node *gemm = NULL;
    LLVMValueRef operands[2] = {NULL, NULL};
    ext_reads r;
    memset(&r, 0, sizeof r);
    for (int m = 0; m < grp->num_members; m++) {
        const gc_node *n = grp->members[m];
        if (gc_op_table[n->op].op_class == GC_CLASS_GEMM) {
            for (int k = 0; k < 2; k++)
                for (int j = 0; j < grp->num_ext; j++)
                    if (grp->ext[j] == n->inputs[k]) operands[k] = ext[j];
            if (gemm || !operands[0] || !operands[1] || n->type.dtype != root->type.dtype)
                return gc_failf(cg->err, GC_ERR_INTERNAL, "internal error: codegen: bad GEMM epilogue in %%%d",
                                root->id);
            gemm = n;
            continue;
        }
        for (int k = 0; k < n->num_inputs; k++)
            for (int j = 0; j < grp->num_ext; j++)
                if (grp->ext[j] == n->inputs[k]) (n->op == GC_OP_ONE_HOT ? r.hot : r.loop)[j] = true;
    }
    /* An outside value in the result's bytes (passes/plan.c, operand bytes) that an add member
     * adds to the GEMM's product: the GEMM adds its product onto it (beta 1), which is that add,
     * and the loop does not read it. */
    for (int j = 0; gemm && j < grp->num_ext && j < 64; j++) {
        const gc_node *y = grp->ext[j];
        if (grp->reads_from[j] != 1 || gc_type_numel(&y->type) == 0) continue;
        for (int m = 0; m < grp->num_members && !r.summed; m++) {
            const gc_node *n = grp->members[m];
            if (n->op == GC_OP_ADD && ((n->inputs[0] == gemm && n->inputs[1] == y) || (n->inputs[1] == gemm && n->inputs[0] == y)))
                r.summed = n;
        }
        if (!r.summed || gemm->op != GC_OP_MATMUL)
            return gc_failf(cg->err, GC_ERR_INTERNAL,
                            "internal error: codegen: %%%d in the bytes of GEMM epilogue %%%d is not added to its product",
                            y->id, root->id);
        r.loop[j] = false;
    }
    if (gemm && (gemm->op == GC_OP_CONV || gemm->op == GC_OP_CONV_INPUT_GRAD))
        return conv_epilogue(cg, grp, gemm, operands, &r, out, ext);
    if (gemm) {
        int split = split_epilogue(cg, grp, gemm, operands, &r, out, ext);
        if (split >= 0) return split;
        /* Not split: the whole GEMM, then the whole epilogue, on one thread. */
        LLVMValueRef part = cg->share_from;
        cg->share_from = NULL;
        cg->gemm_accumulate = r.summed != NULL;
        int ok = cg_emit_matmul(cg, gemm, out, operands);
        cg->gemm_accumulate = false;
        cg->share_from = part;
        if (!ok) return 0;
        if (loop_is_copy(grp, &r)) return 1;
    }

    cg_nest nest;
    cg_nest_init(&nest, root->type.rank, root->type.dims);
    int64_t strides[GC_MAX_RANK];
    gc_type_strides(&root->type, strides);
    cg_nest_add(&nest, strides);
    if (!add_reads(&nest, grp, &root->type, &r, (loop_view){VIEW_NONE, 0}))
        return gc_failf(cg->err, GC_ERR_INTERNAL, "internal error: codegen: fused kernel %%%d reads too many values",
                        root->id);
    cg_nest_coalesce(&nest);
    if (gemm) cg_nest_begin(cg, &nest);
    else cg_nest_begin_split(cg, &nest, (double)gc_type_numel(&root->type));
    if (!emit_body(cg, grp, gemm, out, ext, &nest, &r)) return 0;
    cg_nest_end(cg, &nest);
    return 1;
}
