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
 */
#include <stdlib.h>
#include <string.h>

#include "passes/plan.h"

#define ALIGN 64

static bool is_named_source(const gc_node *n) { return (gc_op_table[n->op].flags & GC_FLAG_NAMED) != 0; }

static bool may_alias(const gc_node *n) { return n->op == GC_OP_RESHAPE || n->op == GC_OP_STOP_GRADIENT; }

int gc_layout_plan(const gc_graph *g, gc_layout *out, gc_error *err) {
    return gc_layout_plan_fused(g, NULL, false, out, err);
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

/* Greedy best fit, largest first: each block goes into the smallest gap between blocks already
 * placed whose lifetimes overlap its own (or after the last of them). Returns the region's size. */
static int64_t pack(block *blocks, int count, const block **scratch) {
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

int gc_layout_plan_fused(const gc_graph *g, const int *root, bool reuse, gc_layout *out, gc_error *err) {
    gc_layout l = {0};
    l.num_nodes = g->num_nodes;
    size_t count = (size_t)(g->num_nodes ? g->num_nodes : 1);
    l.offsets = calloc(count, sizeof *l.offsets);
    l.aliased = calloc(count, sizeof *l.aliased);
    l.kept = calloc(count, sizeof *l.kept);
    int *owner = malloc(count * sizeof *owner), *first = malloc(count * sizeof *first);
    int *last = malloc(count * sizeof *last);
    block *blocks = malloc(count * sizeof *blocks);
    const block **scratch = malloc(count * sizeof *scratch);
    if (root && (l.root = malloc(count * sizeof *l.root))) memcpy(l.root, root, (size_t)g->num_nodes * sizeof *root);
    int ok = 1;
    if (!l.offsets || !l.aliased || !l.kept || !owner || !first || !last || !blocks || !scratch || (root && !l.root))
        ok = gc_failf(err, GC_ERR_MEMORY, "out of memory: the arena layout of %d nodes", g->num_nodes);
    /* Who owns storage: not fused members (no storage), not aliases (their operand's). */
    for (int i = 0; ok && i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        owner[i] = i;
        if (n->id != i) {
            ok = gc_failf(err, GC_ERR_INTERNAL, "internal error: layout: node %d is numbered %d", i, n->id);
        } else if (root && root[i] >= 0 && root[i] != i) {
            owner[i] = -1;
        } else if (may_alias(n)) {
            int o = owner[n->inputs[0]->id];
            if (o >= 0 && !is_named_source(g->nodes[o])) {
                owner[i] = o;
                l.aliased[i] = true;
            }
        }
    }
    /* What must keep its value past the step: sources, outputs, what gc_init computes. */
    for (int i = 0; ok && i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        if (!reuse || is_named_source(n) || n->op == GC_OP_CONSTANT || n->op == GC_OP_IOTA) l.kept[i] = true;
    }
    for (int i = 0; ok && i < g->num_outputs; i++) {
        int o = owner[g->outputs[i].value->id];
        if (o >= 0) l.kept[o] = true;
    }
    if (ok) lifetimes(g, root, owner, first, last);
    /* The kept region first, in graph order; then the rest, packed by lifetime. */
    int transient = 0;
    for (int i = 0; ok && i < g->num_nodes; i++) {
        if (owner[i] != i) continue;
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
        for (int k = 0; k < transient; k++) l.offsets[blocks[k].node] = l.kept_size + blocks[k].offset;
        l.size += size;
    }
    for (int i = 0; ok && i < g->num_nodes; i++) {
        if (owner[i] < 0) l.offsets[i] = -1;
        else if (owner[i] != i) l.offsets[i] = l.offsets[owner[i]], l.kept[i] = l.kept[owner[i]];
    }
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

void gc_layout_free(gc_layout *layout) {
    if (!layout) return;
    free(layout->offsets);
    free(layout->aliased);
    free(layout->root);
    free(layout->kept);
    layout->kept = NULL;
    layout->offsets = NULL;
    layout->aliased = NULL;
    layout->root = NULL;
}
