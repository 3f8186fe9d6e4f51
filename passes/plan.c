/*
 * plan.c: where each node's value lives in the arena, the one buffer a step works on.
 *
 * The first, unplanned layout: every node gets its own 64-byte-aligned region (sources included),
 * so no kernel ever overwrites a value another kernel still needs. A reshape or stop_gradient of a
 * computed value is the same bytes under a new type, so it shares its operand's region and costs
 * nothing; of a named source it is copied, because updates rewrite sources after the step and a
 * reported value must keep what the step computed. With a fusion partition, a node computed
 * inside another's kernel (kept in registers) has no region.
 *
 * With reuse, only what must outlive the step (named sources, outputs, constants) has a region
 * of its own, at the start of the arena; every other value lives from the kernel that writes it
 * to the last kernel that reads it, and values whose lifetimes do not overlap share bytes
 * (greedy best fit, largest first). A kernel's result never shares with its operands: they are
 * all alive at that kernel.
 *
 * In place (plan.h): update value v of param, state or buffer t is planned in t's bytes when
 *   - v is stored by a kernel of its own (a root: not an alias, a source or a constant) and is
 *     reported only as that update (a value or gradient output must survive apply as computed);
 *   - t is no output's value (an update copying t, as in a swap, must read the old t at apply);
 *   - v's kernel is at or after update_from, which is one past the last kernel storing a value
 *     or gradient output: the step then computes everything reported and writes no source, and
 *     a dropped step (non-finite loss) changes nothing;
 *   - every reader of t (a fused member counting at its root) runs at or before v's kernel, so
 *     nothing reads t's old value after v overwrites it; later readers of v read t's bytes, which
 *     hold v;
 *   - if v's kernel reads t, it reads it element by element where it writes: every member is
 *     elementwise with v's shape (no broadcast, reduction or movement; no GEMM, whose epilogue
 *     writes the result buffer before its loop reads the operands), or v is a stored member of
 *     a sum's prologue over v's shape whose other members are all elementwise with that shape
 *     (or sibling sums of it), which computes each operand element once, reading before it
 *     stores (an update computed with its gradient's share of the norm);
 *   - no other update is planned in t already.
 * update_from stays num_nodes when no update qualifies, so such graphs keep one step function.
 */
#include <stdlib.h>
#include <string.h>

#include "passes/plan.h"

#include "passes/fuse.h"

#define ALIGN 64

static bool is_named_source(const gc_node *n) { return (gc_op_table[n->op].flags & GC_FLAG_NAMED) != 0; }

static bool may_alias(const gc_node *n) { return n->op == GC_OP_RESHAPE || n->op == GC_OP_STOP_GRADIENT; }

/* Computed once by gc_init, not by any kernel of the step. */
static bool is_init(const gc_node *n) { return n->op == GC_OP_CONSTANT || n->op == GC_OP_IOTA; }

int gc_layout_plan(const gc_graph *g, gc_layout *out, gc_error *err) {
    return gc_layout_plan_opts(g, NULL, NULL, out, err);
}

int gc_layout_plan_fused(const gc_graph *g, const int *root, bool reuse, gc_layout *out, gc_error *err) {
    gc_plan_options o = {.reuse = reuse};
    return gc_layout_plan_opts(g, root, &o, out, err);
}

static int64_t region_bytes(const gc_node *n) {
    int64_t bytes = gc_type_numel(&n->type) * (int64_t)gc_dtype_size(n->type.dtype);
    return (bytes + ALIGN - 1) / ALIGN * ALIGN;
}

/* A region to place: bytes, and the kernel positions from its writing to its last reading. */
typedef struct block {
    int node;
    int64_t bytes, offset;
    int first, last;
} block;

static int by_size(const void *a, const void *b) {
    const block *x = a, *y = b;
    if (x->bytes != y->bytes) return x->bytes < y->bytes ? 1 : -1;
    return x->first - y->first;
}

static int by_offset(const void *a, const void *b) {
    const block *x = *(const block *const *)a, *y = *(const block *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* ---- packing a graph too large for best fit: an allocator run over time ----
 * Blocks are placed in order of their first position (largest first among equals), each into
 * the smallest free gap that holds it, and freed after their last position, neighbouring gaps
 * merging. O(n log n) plus the gaps scanned per block, which stay few (freed neighbours merge). */
typedef struct gap {
    int64_t offset, bytes;
} gap;

static int by_first(const void *a, const void *b) {
    const block *x = *(const block *const *)a, *y = *(const block *const *)b;
    if (x->first != y->first) return x->first - y->first;
    if (x->bytes != y->bytes) return x->bytes < y->bytes ? 1 : -1;
    return x->node - y->node;
}

static int by_last(const void *a, const void *b) {
    const block *x = *(const block *const *)a, *y = *(const block *const *)b;
    if (x->last != y->last) return x->last - y->last;
    return x->node - y->node;
}

static void free_block(gap *gaps, int *num_gaps, int64_t offset, int64_t bytes) {
    int lo = 0, hi = *num_gaps;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (gaps[mid].offset < offset) lo = mid + 1;
        else hi = mid;
    }
    bool with_prev = lo > 0 && gaps[lo - 1].offset + gaps[lo - 1].bytes == offset;
    bool with_next = lo < *num_gaps && offset + bytes == gaps[lo].offset;
    if (with_prev && with_next) {
        gaps[lo - 1].bytes += bytes + gaps[lo].bytes;
        memmove(&gaps[lo], &gaps[lo + 1], (size_t)(*num_gaps - lo - 1) * sizeof *gaps);
        --*num_gaps;
    } else if (with_prev) {
        gaps[lo - 1].bytes += bytes;
    } else if (with_next) {
        gaps[lo].offset = offset;
        gaps[lo].bytes += bytes;
    } else {
        memmove(&gaps[lo + 1], &gaps[lo], (size_t)(*num_gaps - lo) * sizeof *gaps);
        gaps[lo] = (gap){offset, bytes};
        ++*num_gaps;
    }
}

/* Returns the region's size, or -1 when out of memory. */
static int64_t pack_over_time(block *blocks, int count) {
    const block **starts = malloc((size_t)count * sizeof *starts), **ends = malloc((size_t)count * sizeof *ends);
    gap *gaps = malloc(((size_t)count + 1) * sizeof *gaps);
    if (!starts || !ends || !gaps) {
        free(starts);
        free(ends);
        free(gaps);
        return -1;
    }
    for (int i = 0; i < count; i++) starts[i] = ends[i] = &blocks[i];
    qsort(starts, (size_t)count, sizeof *starts, by_first);
    qsort(ends, (size_t)count, sizeof *ends, by_last);
    int64_t top = 0;
    int num_gaps = 0, freed = 0;
    for (int i = 0; i < count; i++) {
        block *b = (block *)starts[i];
        for (; freed < count && ends[freed]->last < b->first; freed++)
            free_block(gaps, &num_gaps, ends[freed]->offset, ends[freed]->bytes);
        int best = -1;
        for (int k = 0; k < num_gaps; k++)
            if (gaps[k].bytes >= b->bytes && (best < 0 || gaps[k].bytes < gaps[best].bytes)) best = k;
        if (best < 0 && num_gaps && gaps[num_gaps - 1].offset + gaps[num_gaps - 1].bytes == top) {
            /* The last gap runs up to the end: the block starts there and grows the region. */
            best = num_gaps - 1;
            top = gaps[best].offset + b->bytes;
            gaps[best].bytes = b->bytes;
        }
        if (best < 0) {
            b->offset = top;
            top += b->bytes;
        } else {
            b->offset = gaps[best].offset;
            gaps[best].offset += b->bytes;
            gaps[best].bytes -= b->bytes;
            if (!gaps[best].bytes) {
                memmove(&gaps[best], &gaps[best + 1], (size_t)(num_gaps - best - 1) * sizeof *gaps);
                num_gaps--;
            }
        }
    }
    free(starts);
    free(ends);
    free(gaps);
    return top;
}

/* Above this many blocks, best fit (quadratic: every block looks at every block placed before
 * it that it overlaps in time) gives way to pack_over_time: a 1 MB model file can unroll into
 * hundreds of thousands of values. Below it, the layout is best fit's, as always. */
#define BEST_FIT_MAX_BLOCKS 8192

/* Greedy best fit, largest first: each block goes into the smallest gap between blocks already
 * placed whose lifetimes overlap its own (or after the last of them). Returns the region's size
 * (-1: out of memory). */
static int64_t pack(block *blocks, int count, const block **scratch) {
    if (count > BEST_FIT_MAX_BLOCKS) return pack_over_time(blocks, count);
    qsort(blocks, (size_t)count, sizeof *blocks, by_size);
    int64_t size = 0;
    for (int i = 0; i < count; i++) {
        block *b = &blocks[i];
        int live = 0;
        for (int k = 0; k < i; k++)
            if (blocks[k].first <= b->last && b->first <= blocks[k].last) scratch[live++] = &blocks[k];
        qsort(scratch, (size_t)live, sizeof *scratch, by_offset);
        int64_t at = 0, best = -1, best_gap = 0;
        for (int k = 0; k < live; k++) {
            int64_t gap = scratch[k]->offset - at;
            if (gap >= b->bytes && (best < 0 || gap < best_gap)) best = at, best_gap = gap;
            if (scratch[k]->offset + scratch[k]->bytes > at) at = scratch[k]->offset + scratch[k]->bytes;
        }
        b->offset = best >= 0 ? best : at;
        if (b->offset + b->bytes > size) size = b->offset + b->bytes;
    }
    return size;
}

/* Lifetimes over kernel positions (a kernel runs at its root's id): a value is written at its
 * own kernel and read at the kernel of each node that uses it, a fused member's reads counting
 * at its root's position and an alias's reads at its owner's. */
static void lifetimes(const gc_graph *g, const int *root, const int *owner, int *first, int *last) {
    for (int i = 0; i < g->num_nodes; i++) first[i] = last[i] = i;
    for (int i = 0; i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        int at = root && root[i] >= 0 ? root[i] : i;
        for (int k = 0; k < n->num_inputs; k++) {
            int x = owner[n->inputs[k]->id];
            if (x >= 0 && at > last[x]) last[x] = at; /* x < 0: a member of the same kernel */
        }
    }
}

/* The kernel position of node i: its root's id. */
static int position(const int *root, int i) { return root && root[i] >= 0 ? root[i] : i; }

static bool same_dims(const gc_type *a, const gc_type *b) {
    if (a->rank != b->rank) return false;
    for (int d = 0; d < a->rank; d++)
        if (a->dims[d] != b->dims[d]) return false;
    return true;
}

/* Per kernel position v: whether every member of v's kernel is elementwise with v's shape (a
 * kernel reading t may then write t's bytes: each element is read before it is written, at the
 * same index). One pass over the graph; elementwise[v] for each node id. */
static void elementwise_kernels(const gc_graph *g, const int *root, bool *elementwise) {
    for (int v = 0; v < g->num_nodes; v++) elementwise[v] = true;
    for (int m = 0; m < g->num_nodes; m++) {
        int v = position(root, m);
        const gc_node *n = g->nodes[m];
        if (gc_op_table[n->op].op_class != GC_CLASS_ELEMENTWISE || !same_dims(&n->type, &g->nodes[v]->type))
            elementwise[v] = false;
    }
}

/* Per kernel position v: whether v is a sum or mean (passes/fuse.c's takes_siblings) whose every
 * other member is elementwise with the operand's shape, or a sibling sum or mean over the same
 * operand space: its prologue then reads every value of that shape at the element it computes
 * and stores there (codegen/emit_reduce.c computes each element once), so a stored member
 * with that shape may write the bytes of a value the prologue reads (an update's chain in the
 * prologue of its gradient's share of the norm, passes/update_order.c). One pass over the
 * graph; prologue[v] for each node id. */
static void prologue_kernels(const gc_graph *g, const int *root, bool *prologue) {
    for (int v = 0; v < g->num_nodes; v++) {
        const gc_node *n = g->nodes[v];
        prologue[v] = (n->op == GC_OP_SUM || n->op == GC_OP_MEAN) && n->type.dtype == GC_F32;
    }
    for (int m = 0; m < g->num_nodes; m++) {
        int v = position(root, m);
        const gc_node *n = g->nodes[m], *r = g->nodes[v];
        if (!prologue[v] || m == v) continue;
        const gc_type *space = &r->inputs[0]->type;
        bool sibling = (n->op == GC_OP_SUM || n->op == GC_OP_MEAN) && same_dims(&n->inputs[0]->type, space);
        if (!sibling && (gc_op_table[n->op].op_class != GC_CLASS_ELEMENTWISE || !same_dims(&n->type, space)))
            prologue[v] = false;
    }
}

/* Per kernel position v: the id of the one GEMM member of v's kernel when that is a matmul
 * (not written through strides) and every other member is elementwise with v's shape (a GEMM
 * epilogue); -1 otherwise. One pass over the graph; gemm[v] for each node id. */
static void gemm_kernels(const gc_graph *g, const int *root, int *gemm) {
    for (int v = 0; v < g->num_nodes; v++) gemm[v] = -1;
    if (!root) return;
    bool *bad = calloc((size_t)g->num_nodes + 1, sizeof *bad);
    if (!bad) return;
    for (int m = 0; m < g->num_nodes; m++) {
        int v = position(root, m);
        const gc_node *n = g->nodes[m];
        if (v == m && root[m] < 0) continue;
        if (gc_op_table[n->op].op_class == GC_CLASS_GEMM && m != v) {
            if (n->op != GC_OP_MATMUL || gemm[v] >= 0) bad[v] = true;
            gemm[v] = m;
        } else if (gc_op_table[n->op].op_class != GC_CLASS_ELEMENTWISE || !same_dims(&n->type, &g->nodes[v]->type)) {
            bad[v] = true;
        }
    }
    for (int v = 0; v < g->num_nodes; v++)
        if (bad[v]) gemm[v] = -1;
    free(bad);
}

/* With updates in backward (ir/graph.h), the step proper reports only what the forward
 * computes: marks the nodes that read a gradient output, directly or not, whose values (and
 * the gradients themselves) are then computed at apply. */
static bool *after_backward(const gc_graph *g) {
    bool *late = calloc((size_t)(g->num_nodes ? g->num_nodes : 1), sizeof *late);
    if (!late) return NULL;
    for (int i = 0; i < g->num_outputs; i++)
        if (g->outputs[i].kind == GC_OUTPUT_GRAD) late[g->outputs[i].value->id] = true;
    for (int i = 0; i < g->num_nodes; i++)
        for (int k = 0; k < g->nodes[i]->num_inputs && !late[i]; k++) late[i] = late[g->nodes[i]->inputs[k]->id];
    return late;
}

/* The first kernel position after every kernel storing a value or gradient output (0 when
 * there is none); sources and what gc_init computes have no kernel in the step. With updates
 * in backward, only the outputs that read no gradient count (late marks the others). */
static int split_point(const gc_graph *g, const int *root, const int *owner, const bool *late) {
    int from = 0;
    for (int i = 0; i < g->num_outputs; i++) {
        if (g->outputs[i].kind == GC_OUTPUT_UPDATE) continue;
        if (late && late[g->outputs[i].value->id]) continue;
        int id = g->outputs[i].value->id, o = owner[id];
        int at = position(root, o >= 0 ? o : id); /* a stored member: its kernel's root */
        if (is_named_source(g->nodes[at]) || is_init(g->nodes[at])) continue;
        if (at + 1 > from) from = at + 1;
    }
    return from;
}

/* Marks the updates that can be computed in their targets' bytes (the rules at the top of this
 * file): in_place[v] and target[v] = t. Returns update_from, num_nodes when none qualifies;
 * -1 when out of memory. */
static int plan_in_place(const gc_graph *g, const int *root, const int *owner, bool *in_place, int *target) {
    int n = g->num_nodes;
    size_t count = (size_t)(n ? n : 1);
    int *last_read = malloc(count * sizeof *last_read);
    bool *reported = calloc(count, sizeof *reported), *output = calloc(count, sizeof *output);
    bool *claimed = calloc(count, sizeof *claimed), *elementwise = malloc(count * sizeof *elementwise);
    bool *prologue = malloc(count * sizeof *prologue);
    if (!last_read || !reported || !output || !claimed || !elementwise || !prologue) {
        free(last_read);
        free(reported);
        free(output);
        free(claimed);
        free(elementwise);
        free(prologue);
        return -1;
    }
    elementwise_kernels(g, root, elementwise);
    prologue_kernels(g, root, prologue);
    for (int i = 0; i < n; i++) last_read[i] = -1;
    for (int i = 0; i < n; i++) {
        const gc_node *x = g->nodes[i];
        int at = position(root, i);
        for (int k = 0; k < x->num_inputs; k++) {
            int in = x->inputs[k]->id;
            if (at > last_read[in]) last_read[in] = at;
        }
    }
    for (int i = 0; i < g->num_outputs; i++) {
        int id = g->outputs[i].value->id;
        output[id] = true;
        if (g->outputs[i].kind != GC_OUTPUT_UPDATE && owner[id] >= 0) reported[owner[id]] = true;
    }
    bool *late = g->updates_in_backward ? after_backward(g) : NULL;
    if (g->updates_in_backward && !late) {
        free(last_read), free(reported), free(output), free(claimed), free(elementwise), free(prologue);
        return -1;
    }
    int from = split_point(g, root, owner, late), found = 0;
    free(late);
    for (int i = 0; i < g->num_outputs; i++) {
        const gc_graph_output *o = &g->outputs[i];
        int v = o->value->id;
        int at = position(root, v); /* v's kernel: its own, or the one storing it as a member */
        if (o->kind != GC_OUTPUT_UPDATE || at < from || owner[v] != v || in_place[v] || reported[v]) continue;
        if (is_named_source(o->value) || is_init(o->value)) continue;
        const gc_node *t = gc_graph_find_update_target(g, o->name);
        if (!t || !gc_type_equal(&t->type, &o->value->type) || claimed[t->id] || output[t->id]) continue;
        bool same_index = elementwise[at] || (prologue[at] && same_dims(&o->value->type, &g->nodes[at]->inputs[0]->type));
        if (last_read[t->id] > at || (last_read[t->id] == at && !same_index)) continue;
        in_place[v] = true;
        target[v] = t->id;
        claimed[t->id] = true;
        found++;
    }
    free(last_read);
    free(reported);
    free(output);
    free(claimed);
    free(elementwise);
    free(prologue);
    return found ? from : n;
}

/* ---- views ----
 * A slice, permute or reshape whose only readers are matmuls, directly or through other such
 * nodes, is a strided view of the value it comes from: no kernel copies it, and the matmul's
 * code generator reads it through its strides (a GEMM's leading dimension and a batch nest's
 * strides: codegen/emit_gemm.c). Self-attention's heads are such: q, k and v are slices of one
 * projection, split into heads and permuted, [B, T, 3E] read as [B, H, T, E/H] matrices with a
 * leading dimension of 3E. A view's strides are composed through the chain; a chain ends at a
 * computed value's bytes (not a named source's, which updates rewrite after the step), and a
 * view a matmul reads must have its last dim at stride 1. */

static bool is_view_op(const gc_node *n) {
    return n->op == GC_OP_SLICE || n->op == GC_OP_PERMUTE || n->op == GC_OP_RESHAPE;
}

/* NumPy's no-copy reshape: the strides of `out`'s dims over the elements `in` walks at `sin`, or
 * false when some dim of `out` would not step evenly. */
static bool reshape_strides(const gc_type *in, const int64_t *sin, const gc_type *out, int64_t *sout) {
    int64_t od[GC_MAX_RANK], os[GC_MAX_RANK];
    int orank = 0;
    for (int d = 0; d < in->rank; d++)
        if (in->dims[d] != 1) od[orank] = in->dims[d], os[orank++] = sin[d];
    for (int d = 0; d < out->rank; d++) sout[d] = 0;
    int oi = 0, oj = 1, ni = 0, nj = 1;
    while (ni < out->rank && oi < orank) {
        int64_t np = out->dims[ni], op = od[oi];
        while (np != op) {
            if (np < op) {
                if (nj >= out->rank) return false;
                np *= out->dims[nj++];
            } else {
                if (oj >= orank) return false;
                op *= od[oj++];
            }
        }
        for (int k = oi; k < oj - 1; k++)
            if (os[k] != od[k + 1] * os[k + 1]) return false;
        sout[nj - 1] = os[oj - 1];
        for (int k = nj - 1; k > ni; k--) sout[k - 1] = sout[k] * out->dims[k];
        ni = nj++;
        oi = oj++;
    }
    return true;
}

/* Whether a matmul can read a value of type t at strides s as its operand: the last dim at
 * stride 1 (or of extent 1), the rows apart by at least a row. */
static bool gemm_readable(const gc_type *t, const int64_t *s) {
    if (t->rank < 2) return false;
    int64_t cols = t->dims[t->rank - 1];
    return (cols == 1 || s[t->rank - 1] == 1) && s[t->rank - 2] >= cols;
}

/* Marks the views of the rules above: viewed[i], strides[i] and, in elements, offset[i] from the
 * first element of the storage it reads, whose owner becomes owner[i] (a view shares its base's
 * bytes and lifetime). Returns false when out of memory. */
static bool plan_views(const gc_graph *g, int *owner, const bool *output, bool *viewed, int64_t (*strides)[GC_MAX_RANK],
                       int64_t *offset) {
    int n = g->num_nodes;
    size_t count = (size_t)(n ? n : 1);
    bool *cand = calloc(count, sizeof *cand);
    int *readers = calloc(count, sizeof *readers), *base = malloc(count * sizeof *base);
    if (!cand || !readers || !base) {
        free(cand);
        free(readers);
        free(base);
        return false;
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < g->nodes[i]->num_inputs; k++) readers[g->nodes[i]->inputs[k]->id]++;
    /* Who reads each node, as (reader, operand) pairs: read[first[i] .. first[i + 1]), so each
     * round below costs the graph's edges, not nodes squared. */
    int *first = malloc((count + 1) * sizeof *first), edges = 0;
    for (int i = 0; i < n; i++) edges += g->nodes[i]->num_inputs;
    struct reading { int reader, operand; } *read = malloc((size_t)(edges ? edges : 1) * sizeof *read);
    if (!first || !read) {
        free(first);
        free(read);
        free(cand);
        free(readers);
        free(base);
        return false;
    }
    first[0] = 0;
    for (int i = 0; i < n; i++) first[i + 1] = first[i] + readers[i];
    for (int i = 0; i < n; i++) base[i] = first[i]; /* base is the fill cursor until the rounds */
    for (int u = 0; u < n; u++)
        for (int k = 0; k < g->nodes[u]->num_inputs; k++) {
            int at = base[g->nodes[u]->inputs[k]->id]++;
            read[at].reader = u;
            read[at].operand = k;
        }
    for (int i = 0; i < n; i++) {
        const gc_node *x = g->nodes[i];
        cand[i] = is_view_op(x) && !output[i] && owner[i] >= 0 && readers[i] > 0 && gc_type_numel(&x->type) > 0;
    }
    /* Until nothing changes: a candidate is read only by matmuls and candidates, and has strides
     * a matmul can read; a node dropped in one round may drop others in the next. */
    for (bool changed = true; changed;) {
        changed = false;
        for (int i = n - 1; i >= 0; i--) {
            if (!cand[i]) continue;
            bool ok = true;
            for (int e = first[i]; e < first[i + 1] && ok; e++) {
                int u = read[e].reader;
                ok = (g->nodes[u]->op == GC_OP_MATMUL && read[e].operand < 2) || cand[u];
            }
            if (!ok) cand[i] = false, changed = true;
        }
        for (int i = 0; i < n; i++) {
            if (!cand[i]) continue;
            const gc_node *v = g->nodes[i], *x = v->inputs[0];
            int64_t in[GC_MAX_RANK], at = 0;
            if (cand[x->id]) {
                memcpy(in, strides[x->id], sizeof in);
                at = offset[x->id];
                base[i] = base[x->id];
            } else {
                /* x's own bytes, or those it aliases (a reshape shares them unchanged). */
                base[i] = owner[x->id];
                gc_type_strides(&x->type, in);
            }
            bool ok = base[i] >= 0 && !is_named_source(g->nodes[base[i]]);
            int64_t *st = strides[i];
            if (!ok) {
            } else if (v->op == GC_OP_SLICE) {
                memcpy(st, in, sizeof in);
                at += v->attr.slice.start * in[v->attr.slice.axis];
            } else if (v->op == GC_OP_PERMUTE) {
                for (int d = 0; d < v->type.rank; d++) st[d] = in[v->attr.permute.perm[d]];
            } else {
                ok = reshape_strides(&x->type, in, &v->type, st);
            }
            for (int e = first[i]; e < first[i + 1] && ok; e++)
                if (g->nodes[read[e].reader]->op == GC_OP_MATMUL) ok = gemm_readable(&v->type, st);
            if (!ok) {
                cand[i] = false, changed = true;
                continue;
            }
            offset[i] = at;
        }
    }
    for (int i = 0; i < n; i++) {
        viewed[i] = cand[i];
        if (cand[i]) owner[i] = base[i];
    }
    free(first);
    free(read);
    free(cand);
    free(readers);
    free(base);
    return true;
}

/* ---- strided writes ----
 * The other way round: a matmul whose only reader is a chain of permutes and reshapes (each the
 * only reader of the one before) writes its result through strides where the chain's end keeps
 * its bytes, so no kernel copies it: the end's storage is written by the GEMM, and the chain has
 * no kernels. Self-attention merges its heads so: [B, H, T, D] values times weights, permuted to
 * [B, T, H, D] for the output projection. A chain may also end in a concat every operand of
 * which is such a chain (the q, k and v gradients, permuted back and concatenated into the
 * projection's gradient): the concat's bytes are then written by all of them, each at its
 * offset, and the concat has no kernel either. The strides must suit a GEMM's result (last dim
 * at stride 1, rows a row apart at least). */

/* The strides of x's dims for the elements r walks at `sr`, r a permute or reshape of x (the
 * inverse of a view's step); false when a dim of x would not step evenly. */
static bool strides_before(const gc_node *r, const int64_t *sr, int64_t *sx) {
    const gc_type *x = &r->inputs[0]->type;
    if (r->op == GC_OP_PERMUTE) {
        for (int d = 0; d < r->type.rank; d++) sx[r->attr.permute.perm[d]] = sr[d];
        return true;
    }
    return reshape_strides(&r->type, sr, x, sx);
}

static bool is_chain_op(const gc_node *n) { return n->op == GC_OP_PERMUTE || n->op == GC_OP_RESHAPE; }

/* Plans the strided writes above: strided[m] and strides[m] for each matmul m that writes
 * through strides, owner[] of m and of its chain set to the node whose bytes they write (m at
 * out_offset[m] elements into them), aliased[] for the chain, and writer_first[o] the first
 * kernel position writing o's bytes. Returns false when out of memory. */
static bool plan_strided(const gc_graph *g, const int *root, int *owner, const bool *output, const bool *viewed,
                         bool *strided, int64_t (*strides)[GC_MAX_RANK], int64_t *out_offset, bool *aliased,
                         int *writer_first) {
    int n = g->num_nodes;
    size_t count = (size_t)(n ? n : 1);
    int *readers = calloc(count, sizeof *readers), *reader = malloc(count * sizeof *reader);
    int *end = malloc(count * sizeof *end), *members = calloc(count, sizeof *members);
    if (!readers || !reader || !end || !members) {
        free(readers), free(reader), free(end), free(members);
        return false;
    }
    for (int i = 0; i < n; i++) {
        const gc_node *x = g->nodes[i];
        for (int k = 0; k < x->num_inputs; k++) readers[x->inputs[k]->id]++, reader[x->inputs[k]->id] = i;
        if (root && root[i] >= 0) members[root[i]]++;
    }
    /* end[m]: where m's chain ends, -1 when m cannot write through one. */
    for (int m = 0; m < n; m++) {
        const gc_node *x = g->nodes[m];
        end[m] = -1;
        if (x->op != GC_OP_MATMUL || x->type.dtype != GC_F32 || owner[m] != m || output[m] || members[m] > 1 ||
            (root && root[m] != m))
            continue;
        int at = m;
        bool permuted = false;
        while (readers[at] == 1 && is_chain_op(g->nodes[reader[at]]) && !output[reader[at]] &&
               !viewed[reader[at]] && !(root && root[reader[at]] != reader[at])) {
            at = reader[at];
            permuted |= g->nodes[at]->op == GC_OP_PERMUTE;
        }
        /* A chain of reshapes only is already the matmul's own bytes. */
        if (permuted || (readers[at] == 1 && g->nodes[reader[at]]->op == GC_OP_CONCAT)) end[m] = at;
    }
    /* Each chain's strides two ways: into the concat it ends in (when it does), and into its end's
     * own bytes (when a permute is on the way, else there is nothing to gain). */
    int64_t (*cs)[GC_MAX_RANK] = calloc(count, sizeof *cs), (*os)[GC_MAX_RANK] = calloc(count, sizeof *os);
    int64_t *coff = calloc(count, sizeof *coff);
    bool *cok = calloc(count, sizeof *cok), *ook = calloc(count, sizeof *ook);
    int *ender = malloc(count * sizeof *ender); /* ender[t]: the matmul whose chain ends at t */
    int *home = malloc(count * sizeof *home);    /* home[m]: the chain node whose bytes m writes */
    bool fine = cs && os && coff && cok && ook && ender && home;
    for (int i = 0; fine && i < n; i++) ender[i] = -1;
    for (int m = 0; fine && m < n; m++) {
        if (end[m] < 0) continue;
        int t = end[m];
        ender[t] = m;
        const gc_node *c = readers[t] == 1 ? g->nodes[reader[t]] : NULL;
        for (int way = 0; way < 2; way++) {
            int64_t st[GC_MAX_RANK], at = 0;
            if (way == 0) {
                if (!c || c->op != GC_OP_CONCAT || output[c->id] || owner[c->id] != c->id || (root && root[c->id] != c->id))
                    continue;
                gc_type_strides(&c->type, st);
                for (int k = 0; k < c->num_inputs && c->inputs[k]->id != t; k++)
                    at += c->inputs[k]->type.dims[c->attr.axis.axis] * st[c->attr.axis.axis];
            } else {
                /* The chain's last node with bytes of its own (reshapes after it are its aliases),
                 * which a permute must lead to. */
                int own = t;
                while (own != m && owner[own] != own) own = g->nodes[own]->inputs[0]->id;
                bool permuted = false;
                for (int x = own; x != m; x = g->nodes[x]->inputs[0]->id) permuted |= g->nodes[x]->op == GC_OP_PERMUTE;
                if (!permuted) continue;
                gc_type_strides(&g->nodes[own]->type, st);
                home[m] = own;
            }
            int top = way == 0 ? t : home[m];
            bool ok = true;
            for (int x = top; ok && x != m; x = g->nodes[x]->inputs[0]->id) {
                int64_t before[GC_MAX_RANK];
                ok = strides_before(g->nodes[x], st, before);
                memcpy(st, before, sizeof st);
            }
            if (!ok || !gemm_readable(&g->nodes[m]->type, st)) continue;
            if (way == 0) memcpy(cs[m], st, sizeof st), coff[m] = at, cok[m] = true;
            else memcpy(os[m], st, sizeof st), ook[m] = true;
        }
    }
    /* A concat is written in place only when every operand's chain can write into it. */
    for (int i = 0; fine && i < n; i++) {
        const gc_node *c = g->nodes[i];
        if (c->op != GC_OP_CONCAT) continue;
        bool all = c->num_inputs > 0;
        for (int k = 0; all && k < c->num_inputs; k++) {
            int w = ender[c->inputs[k]->id];
            all = w >= 0 && cok[w] && readers[c->inputs[k]->id] == 1;
        }
        for (int k = 0; k < c->num_inputs; k++) {
            int w = ender[c->inputs[k]->id];
            if (w < 0) continue;
            if (!all) {
                cok[w] = false;
                continue;
            }
            ook[w] = false; /* written into the concat instead */
        }
    }
    for (int m = 0; fine && m < n; m++) {
        if (end[m] < 0 || (!cok[m] && !ook[m])) continue;
        int t = cok[m] ? end[m] : home[m], base = cok[m] ? reader[end[m]] : home[m];
        strided[m] = true;
        memcpy(strides[m], cok[m] ? cs[m] : os[m], sizeof strides[m]);
        out_offset[m] = cok[m] ? coff[m] : 0;
        owner[m] = base;
        if (writer_first[base] < 0 || m < writer_first[base]) writer_first[base] = m;
        for (int x = t; x != m; x = g->nodes[x]->inputs[0]->id) {
            aliased[x] = true; /* no kernel: the GEMM wrote its bytes */
            owner[x] = base;
        }
        aliased[base] = true;
    }
    free(cs), free(os), free(coff), free(cok), free(ook), free(ender), free(home);
    free(readers), free(reader), free(end), free(members);
    return fine;
}

/* Operand bytes (gc_plan_options.operand_bytes): an elementwise kernel (every member elementwise
 * with its root's shape, as elementwise_kernels finds) whose operand o dies there, with the
 * root's dtype and dims, writes its result into o's bytes: each element of o is read before the
 * same element of the result is written, and codegen reads an operand at the result's offset
 * through the result's pointer (codegen/module.c). A GEMM epilogue kernel qualifies too when o
 * is what an add member adds to the GEMM's product: the GEMM then adds its product onto o's
 * bytes (beta 1; codegen/fused.c). That is a tied embedding's gradient, the head's weight
 * gradient plus the lookup's scatter, one buffer instead of two (M3: 147 MiB each). join[v] is
 * the value whose block v's bytes are (the first of a chain of such kernels), -1 for none.
 * Returns false when out of memory. */
static bool plan_operand_bytes(const gc_graph *g, const int *root, const int *owner, const gc_layout *l,
                               const int *writer_first, int *last, int *join) {
    int n = g->num_nodes;
    size_t count = (size_t)(n ? n : 1);
    bool *elementwise = malloc(count * sizeof *elementwise), *taken = calloc(count, sizeof *taken);
    int *pick = malloc(count * sizeof *pick);
    if (!elementwise || !taken || !pick) {
        free(elementwise), free(taken), free(pick);
        return false;
    }
    elementwise_kernels(g, root, elementwise);
    for (int i = 0; i < n; i++) join[i] = pick[i] = -1;
    /* A value with bytes of its own that lives only between kernels (no view, strided write,
     * in-place update or kept value involved). */
#define TRANSIENT_OWN(x) (owner[x] == (x) && !l->kept[x] && !l->in_place[x] && !l->aliased[x] && \
                          !(l->viewed && (l->viewed[x] || l->strided[x])) && !(writer_first && writer_first[x] >= 0))
    for (int m = 0; m < n; m++) {
        int v = position(root, m);
        /* A softmax or log_softmax (always a kernel of its own, passes/fuse.c) reads each row
         * along its axis whole before it writes the row's first result, and writes only that
         * row (codegen/emit_reduce.c), so it may write its operand's bytes too: the logits of
         * a cross-entropy (M3: 49 MiB). */
        bool row_op = m == v && (g->nodes[m]->op == GC_OP_SOFTMAX || g->nodes[m]->op == GC_OP_LOG_SOFTMAX);
        /* An index_add (a kernel of its own) adds its rows onto its base, operand 0, and reads
         * nothing else of it: in the base's bytes it touches only the rows it names (a tied
         * embedding's gradient, passes/by_index.c: 147 MiB on M3, 256 rows). */
        bool onto_base = m == v && g->nodes[m]->op == GC_OP_INDEX_ADD;
        if (pick[v] >= 0 || !(elementwise[v] || row_op || onto_base) || !TRANSIENT_OWN(v)) continue;
        const gc_node *x = g->nodes[m], *r = g->nodes[v];
        for (int k = 0; k < (onto_base ? 1 : x->num_inputs) && pick[v] < 0; k++) {
            int o = owner[x->inputs[k]->id];
            if (o < 0 || o >= v || taken[o] || !TRANSIENT_OWN(o) || last[o] != v) continue;
            const gc_node *on = g->nodes[o];
            if (on->type.dtype != r->type.dtype || !same_dims(&on->type, &r->type)) continue;
            pick[v] = o;
        }
    }
    /* A GEMM epilogue kernel whose member add(G, y) adds an outside y to the GEMM's product G
     * (read by nothing else), y dying there: the GEMM adds its product onto y's bytes (beta 1),
     * so the kernel's result is y's block; codegen finds the kernel so (an outside value at the
     * result's offset) and takes the add as done. */
    int *gemm = malloc(count * sizeof *gemm), *readers = calloc(count, sizeof *readers);
    int *head = malloc(count * sizeof *head), *next = malloc(count * sizeof *next); /* members */
    if (!gemm || !readers || !head || !next) {
        free(elementwise), free(taken), free(pick), free(gemm), free(readers), free(head), free(next);
        return false;
    }
    gemm_kernels(g, root, gemm);
    for (int i = 0; i < n; i++) head[i] = -1;
    for (int i = n - 1; i >= 0; i--) {
        int v = position(root, i);
        next[i] = head[v];
        head[v] = i;
        for (int k = 0; k < g->nodes[i]->num_inputs; k++) readers[g->nodes[i]->inputs[k]->id]++;
    }
    for (int m = 0; m < n; m++) {
        int v = position(root, m), gm = gemm[v];
        const gc_node *x = g->nodes[m];
        if (gm < 0 || pick[v] >= 0 || x->op != GC_OP_ADD || !TRANSIENT_OWN(v) || readers[gm] != 1 ||
            (l->strided && l->strided[gm]))
            continue;
        int side = x->inputs[0]->id == gm ? 1 : x->inputs[1]->id == gm ? 0 : -1;
        if (side < 0 || x->inputs[0] == x->inputs[1]) continue;
        int y = x->inputs[side]->id, o = owner[y];
        if (position(root, y) == v || o < 0 || o >= v || !TRANSIENT_OWN(o) || last[o] != v) continue;
        const gc_node *on = g->nodes[o], *r = g->nodes[v];
        if (on->type.dtype != r->type.dtype || !same_dims(&on->type, &r->type)) continue;
        /* Only the add reads o's bytes in this kernel (the GEMM overwrites them before the
         * loop), and the GEMM does not read them. */
        bool alone = owner[g->nodes[gm]->inputs[0]->id] != o && owner[g->nodes[gm]->inputs[1]->id] != o;
        for (int u = head[v]; u >= 0 && alone; u = next[u]) {
            if (u == m) continue;
            for (int k = 0; k < g->nodes[u]->num_inputs && alone; k++) alone = owner[g->nodes[u]->inputs[k]->id] != o;
        }
        if (alone) pick[v] = o;
    }
    free(gemm), free(readers), free(head), free(next);
#undef TRANSIENT_OWN
    for (int v = 0; v < n; v++) {
        int o = pick[v];
        if (o < 0 || taken[o]) continue;
        taken[o] = true;
        int rep = join[o] >= 0 ? join[o] : o;
        join[v] = rep;
        if (last[v] > last[rep]) last[rep] = last[v];
    }
    free(elementwise), free(taken), free(pick);
    return true;
}

int gc_layout_plan_opts(const gc_graph *g, const int *root, const gc_plan_options *opts, gc_layout *out,
                        gc_error *err) {
    bool reuse = opts && opts->reuse;
    gc_layout l = {0};
    l.num_nodes = g->num_nodes;
    l.update_from = g->num_nodes;
    size_t count = (size_t)(g->num_nodes ? g->num_nodes : 1);
    l.offsets = calloc(count, sizeof *l.offsets);
    l.aliased = calloc(count, sizeof *l.aliased);
    l.kept = calloc(count, sizeof *l.kept);
    l.in_place = calloc(count, sizeof *l.in_place);
    int *target = malloc(count * sizeof *target);
    int *owner = malloc(count * sizeof *owner), *first = malloc(count * sizeof *first);
    int *last = malloc(count * sizeof *last);
    block *blocks = malloc(count * sizeof *blocks);
    const block **scratch = malloc(count * sizeof *scratch);
    bool *stored = malloc(count * sizeof *stored);
    if (root && (l.root = malloc(count * sizeof *l.root))) memcpy(l.root, root, (size_t)g->num_nodes * sizeof *root);
    int ok = 1;
    if (!l.offsets || !l.aliased || !l.kept || !l.in_place || !target || !owner || !first || !last || !blocks ||
        !scratch || !stored || (root && !l.root))
        ok = gc_failf(err, GC_ERR_MEMORY, "out of memory: the arena layout of %d nodes", g->num_nodes);
    /* Who owns storage: not fused members (no storage) other than stored ones, not aliases
     * (their operand's). */
    if (ok) gc_fusion_stored_all(g, root, stored);
    for (int i = 0; ok && i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        owner[i] = i;
        if (n->id != i) {
            ok = gc_failf(err, GC_ERR_INTERNAL, "internal error: layout: node %d is numbered %d", i, n->id);
        } else if (root && root[i] >= 0 && root[i] != i && !stored[i]) {
            owner[i] = -1;
        } else if (may_alias(n)) {
            int o = owner[n->inputs[0]->id];
            if (o >= 0 && !is_named_source(g->nodes[o])) {
                owner[i] = o;
                l.aliased[i] = true;
            }
        }
    }
    int64_t *view_offset = NULL;
    int *writer_first = NULL;
    if (ok && opts && opts->views) {
        bool *output = calloc(count, sizeof *output);
        l.viewed = calloc(count, sizeof *l.viewed);
        l.strides = calloc(count, sizeof *l.strides);
        view_offset = calloc(count, sizeof *view_offset);
        for (int i = 0; output && i < g->num_outputs; i++) output[g->outputs[i].value->id] = true;
        l.strided = calloc(count, sizeof *l.strided);
        writer_first = malloc(count * sizeof *writer_first);
        for (int i = 0; writer_first && i < g->num_nodes; i++) writer_first[i] = -1;
        if (!output || !l.viewed || !l.strides || !view_offset || !l.strided || !writer_first ||
            !plan_views(g, owner, output, l.viewed, l.strides, view_offset))
            ok = gc_failf(err, GC_ERR_MEMORY, "out of memory: planning the views of %d nodes", g->num_nodes);
        for (int i = 0; ok && i < g->num_nodes; i++)
            if (l.viewed[i]) l.aliased[i] = true;
        if (ok && !plan_strided(g, root, owner, output, l.viewed, l.strided, l.strides, view_offset, l.aliased,
                                writer_first))
            ok = gc_failf(err, GC_ERR_MEMORY, "out of memory: planning the strided writes of %d nodes", g->num_nodes);
        free(output);
    }
    /* What must keep its value past the step: sources, outputs, what gc_init computes. */
    for (int i = 0; ok && i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        if (!reuse || is_named_source(n) || n->op == GC_OP_CONSTANT || n->op == GC_OP_IOTA) l.kept[i] = true;
    }
    for (int i = 0; ok && i < g->num_outputs; i++) {
        int o = owner[g->outputs[i].value->id];
        /* With updates in backward, a gradient is read by its update and then free: the
         * caller reads no gradient (plan.h). */
        bool transient_grad = g->updates_in_backward && opts && opts->in_place && g->outputs[i].kind == GC_OUTPUT_GRAD;
        if (o >= 0 && !transient_grad) l.kept[o] = true;
    }
    if (ok) lifetimes(g, root, owner, first, last);
    /* Bytes a GEMM writes through strides are alive from that GEMM on. */
    for (int i = 0; ok && writer_first && i < g->num_nodes; i++)
        if (writer_first[i] >= 0 && position(root, writer_first[i]) < first[i]) first[i] = position(root, writer_first[i]);
    if (ok && opts && opts->in_place && (l.update_from = plan_in_place(g, root, owner, l.in_place, target)) < 0)
        ok = gc_failf(err, GC_ERR_MEMORY, "out of memory: planning in-place updates of %d nodes", g->num_nodes);
    int *join = NULL; /* plan_operand_bytes */
    if (ok && opts && opts->operand_bytes &&
        (!(join = malloc(count * sizeof *join)) || !plan_operand_bytes(g, root, owner, &l, writer_first, last, join)))
        ok = gc_failf(err, GC_ERR_MEMORY, "out of memory: planning the operand bytes of %d nodes", g->num_nodes);
    /* The kept region first, in graph order; then the rest, packed by lifetime. A value in place
     * has its target's bytes. */
    int transient = 0;
    for (int i = 0; ok && i < g->num_nodes; i++) {
        if (owner[i] != i || l.in_place[i] || (join && join[i] >= 0)) continue;
        int64_t bytes = region_bytes(g->nodes[i]);
        if (l.size > ((int64_t)1 << 50) - bytes) {
            ok = gc_failf(err, GC_ERR_USER, "graph '%s' needs more than 2^50 bytes of tensors", g->name ? g->name : "?");
        } else if (l.kept[i]) {
            l.offsets[i] = l.size;
            l.size += bytes;
        } else {
            blocks[transient++] = (block){i, bytes, 0, first[i], last[i]};
        }
    }
    l.kept_size = l.size;
    if (ok && transient) {
        int64_t size = pack(blocks, transient, scratch);
        if (size < 0) ok = gc_failf(err, GC_ERR_MEMORY, "out of memory: the arena layout of %d nodes", g->num_nodes);
        for (int k = 0; ok && k < transient; k++) l.offsets[blocks[k].node] = l.kept_size + blocks[k].offset;
        if (ok) l.size += size;
    }
    for (int i = 0; ok && join && i < g->num_nodes; i++)
        if (join[i] >= 0) l.offsets[i] = l.offsets[join[i]];
    free(join);
    for (int i = 0; ok && i < g->num_nodes; i++)
        if (l.in_place[i]) l.offsets[i] = l.offsets[target[i]];
    for (int i = 0; ok && i < g->num_nodes; i++) {
        if (owner[i] < 0) l.offsets[i] = -1;
        else if (owner[i] != i) l.offsets[i] = l.offsets[owner[i]], l.kept[i] = l.kept[owner[i]];
        /* A view starts where its first element is, and so does a strided write. */
        if (l.viewed && (l.viewed[i] || l.strided[i]))
            l.offsets[i] += view_offset[i] * (int64_t)gc_dtype_size(g->nodes[i]->type.dtype);
    }
    free(view_offset);
    free(writer_first);
    free(target);
    free(stored);
    free(owner);
    free(first);
    free(last);
    free(blocks);
    free(scratch);
    if (!ok) {
        gc_layout_free(&l);
        return 0;
    }
    if (l.size == 0) l.size = ALIGN;
    *out = l;
    return 1;
}

int gc_layout_plan_step(const gc_graph *g, gc_layout *out, gc_error *err) {
    gc_fusion fusion = {0};
    if (!gc_fuse_partition(g, true, &fusion, err)) return 0;
    gc_plan_options opts = {.reuse = true, .in_place = true, .views = true, .operand_bytes = true};
    int ok = gc_layout_plan_opts(g, fusion.root, &opts, out, err);
    gc_fusion_free(&fusion);
    return ok;
}

void gc_layout_free(gc_layout *layout) {
    if (!layout) return;
    free(layout->offsets);
    free(layout->aliased);
    free(layout->root);
    free(layout->kept);
    free(layout->in_place);
    free(layout->viewed);
    free(layout->strides);
    free(layout->strided);
    layout->strided = NULL;
    layout->viewed = NULL;
    layout->strides = NULL;
    layout->kept = NULL;
    layout->in_place = NULL;
    layout->offsets = NULL;
    layout->aliased = NULL;
    layout->root = NULL;
}
