/*
 * layout.c: where each node's value lives in the arena, the one buffer a step works on.
 *
 * The first, unplanned layout: every node gets its own 64-byte-aligned region (sources included),
 * so no kernel ever overwrites a value another kernel still needs. A reshape or stop_gradient of a
 * computed value is the same bytes under a new type, so it shares its operand's region and costs
 * nothing; of a named source it is copied, because updates rewrite sources after the step and a
 * reported value must keep what the step computed. A liveness-based planner replaces this later.
 */
#include <stdlib.h>

#include "codegen/codegen.h"

#define ALIGN 64

static bool is_named_source(const gc_node *n) { return (gc_op_table[n->op].flags & GC_FLAG_NAMED) != 0; }

static bool may_alias(const gc_node *n) { return n->op == GC_OP_RESHAPE || n->op == GC_OP_STOP_GRADIENT; }

int gc_layout_plan(const gc_graph *g, gc_layout *out, gc_error *err) {
    gc_layout l = {0};
    l.num_nodes = g->num_nodes;
    size_t count = (size_t)(g->num_nodes ? g->num_nodes : 1);
    l.offsets = calloc(count, sizeof *l.offsets);
    l.aliased = calloc(count, sizeof *l.aliased);
    if (!l.offsets || !l.aliased) {
        gc_layout_free(&l);
        return gc_failf(err, GC_ERR_MEMORY, "out of memory: the arena layout of %d nodes", g->num_nodes);
    }
    for (int i = 0; i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        if (n->id != i) {
            gc_layout_free(&l);
            return gc_failf(err, GC_ERR_INTERNAL, "internal error: layout: node %d is numbered %d", i, n->id);
        }
        if (may_alias(n)) {
            const gc_node *root = n->inputs[0];
            while (l.aliased[root->id]) root = root->inputs[0];
            if (!is_named_source(root)) {
                l.offsets[i] = l.offsets[root->id];
                l.aliased[i] = true;
                continue;
            }
        }
        int64_t bytes = gc_type_numel(&n->type) * (int64_t)gc_dtype_size(n->type.dtype);
        bytes = (bytes + ALIGN - 1) / ALIGN * ALIGN;
        if (l.size > ((int64_t)1 << 50) - bytes) {
            gc_layout_free(&l);
            return gc_failf(err, GC_ERR_USER, "graph '%s' needs more than 2^50 bytes of tensors", g->name ? g->name : "?");
        }
        l.offsets[i] = l.size;
        l.size += bytes;
    }
    if (l.size == 0) l.size = ALIGN;
    *out = l;
    return 1;
}

void gc_layout_free(gc_layout *layout) {
    if (!layout) return;
    free(layout->offsets);
    free(layout->aliased);
    layout->offsets = NULL;
    layout->aliased = NULL;
}
