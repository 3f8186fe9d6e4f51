/*
 * update_order.c: the optimizer in backward; see update_order.h.
 *
 * The nodes the gradients depend on (the forward and the backward: "main" nodes) keep their
 * order. Every other node (the optimizer's math, the gradient norm, the schedule, metrics) is
 * released right after the last main node it depends on, directly or through other such nodes,
 * and after the last main node reading the param or state it updates, if it is an update's
 * value. Released nodes follow their main node in their old relative order, so the graph stays
 * topologically ordered and nodes that read the same gradient (its share of the gradient norm,
 * then its update) meet in the order the optimizer built them, as fusion saw them before.
 */
#include "passes/update_order.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "passes/fuse.h"
#include "passes/rewrite.h"

static const gc_node *find_state(const gc_graph *g, const char *name) {
    return gc_graph_find_named(g, GC_OP_STATE, name);
}

/* Whether an update's value depends on output "grad_norm" (clip_grad_norm's coefficient):
 * then every update waits for every gradient and nothing can move. */
static bool updates_read_norm(const gc_graph *g, bool *scratch) {
    const gc_graph_output *norm = gc_graph_find_output(g, GC_OUTPUT_VALUE, "grad_norm");
    if (!norm) return false;
    memset(scratch, 0, (size_t)g->num_nodes * sizeof *scratch);
    scratch[norm->value->id] = true;
    for (int i = norm->value->id + 1; i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        for (int k = 0; k < n->num_inputs && !scratch[i]; k++) scratch[i] = scratch[n->inputs[k]->id];
    }
    for (int i = 0; i < g->num_outputs; i++)
        if (g->outputs[i].kind == GC_OUTPUT_UPDATE && scratch[g->outputs[i].value->id]) return true;
    return false;
}

/* A copy of g with its nodes in order[] (a topological order of all of them). */
static gc_graph *rebuild_in_order(const gc_graph *g, const int *order, gc_error *err) {
    gc_graph *dst = gc_graph_new(g->name);
    gc_node **copied = calloc((size_t)g->num_nodes + 1, sizeof *copied);
    gc_node **operands = NULL;
    int max_inputs = 1;
    for (int i = 0; i < g->num_nodes; i++)
        if (g->nodes[i]->num_inputs > max_inputs) max_inputs = g->nodes[i]->num_inputs;
    operands = malloc(sizeof *operands * (size_t)max_inputs);
    if (!dst || !copied || !operands) {
        gc_failf(err, GC_ERR_MEMORY, "out of memory");
        goto fail;
    }
    for (int k = 0; k < g->num_nodes; k++) {
        const gc_node *n = g->nodes[order[k]];
        for (int j = 0; j < n->num_inputs; j++) {
            operands[j] = copied[n->inputs[j]->id];
            if (!operands[j]) {
                gc_failf(err, GC_ERR_INTERNAL, "internal error: update order: %%%d comes before its operand %%%d",
                         n->id, n->inputs[j]->id);
                goto fail;
            }
        }
        if (!(copied[n->id] = gc_copy_node(dst, n, operands, err))) goto fail;
    }
    for (int i = 0; i < g->num_outputs; i++) {
        const gc_graph_output *o = &g->outputs[i];
        if (!gc_graph_add_output(dst, o->kind, o->name, copied[o->value->id], err)) goto fail;
    }
    free(copied);
    free(operands);
    return dst;
fail:
    free(copied);
    free(operands);
    gc_graph_free(dst);
    return NULL;
}

/* Marks in tail[] the nodes outside the main ones that the gradient norm (output "grad_norm")
 * is computed from and that read a computed value (not the terms of sources only, which other
 * nodes may share), and what reads them; delays each of them past the release of every other
 * node outside the main ones that reads the same gradient, and of what reads those (its
 * update's chain, up to the update's value), and past its own operands. The bucket sort then
 * puts the tail after the other nodes of its bucket. Returns 0 when out of memory. */
static int delay_norm_shares(const gc_graph *g, const bool *main, const bool *computed, int *release, bool *tail) {
    int n = g->num_nodes;
    memset(tail, 0, (size_t)(n ? n : 1) * sizeof *tail);
    const gc_graph_output *norm = gc_graph_find_output(g, GC_OUTPUT_VALUE, "grad_norm");
    if (!norm || main[norm->value->id]) return 1;
    int *later = malloc((size_t)(n ? n : 1) * sizeof *later), *reach = malloc((size_t)(n ? n : 1) * sizeof *reach);
    if (!later || !reach) {
        free(later);
        free(reach);
        return 0;
    }
    tail[norm->value->id] = true;
    for (int i = n - 1; i >= 0; i--)
        if (tail[i])
            for (int k = 0; k < g->nodes[i]->num_inputs; k++) {
                int x = g->nodes[i]->inputs[k]->id;
                if (!main[x] && computed[x]) tail[x] = true;
            }
    for (int i = 0; i < n; i++) {
        later[i] = -1;
        if (main[i] || tail[i]) continue;
        for (int k = 0; k < g->nodes[i]->num_inputs && !tail[i]; k++) tail[i] = tail[g->nodes[i]->inputs[k]->id];
    }
    /* reach[i]: the latest release of i or of what reads it outside the main nodes and the
     * tail (a gradient's first product in its update, reaching the update's value). */
    for (int i = 0; i < n; i++) reach[i] = release[i];
    for (int i = n - 1; i >= 0; i--) {
        if (main[i] || tail[i]) continue;
        for (int k = 0; k < g->nodes[i]->num_inputs; k++) {
            int x = g->nodes[i]->inputs[k]->id;
            if (main[x]) {
                if (reach[i] > later[x]) later[x] = reach[i];
            } else if (!tail[x] && reach[i] > reach[x]) {
                reach[x] = reach[i];
            }
        }
    }
    for (int i = 0; i < n; i++) {
        if (!tail[i]) continue;
        for (int k = 0; k < g->nodes[i]->num_inputs; k++) {
            int x = g->nodes[i]->inputs[k]->id;
            int at = main[x] ? later[x] : release[x];
            if (at > release[i]) release[i] = at;
        }
    }
    free(later);
    free(reach);
    return 1;
}

int gc_updates_in_backward(gc_graph **graph, bool *moved, gc_error *err) {
    gc_graph *g = *graph;
    if (moved) *moved = false;
    int n = g->num_nodes, grads = 0;
    for (int i = 0; i < g->num_outputs; i++) grads += g->outputs[i].kind == GC_OUTPUT_GRAD;
    if (!grads || !find_state(g, "optimizer.step") || find_state(g, "accumulate.count")) return 1;
    size_t count = (size_t)(n ? n : 1);
    bool *main = calloc(count, sizeof *main), *computed = calloc(count, sizeof *computed);
    bool *tail = calloc(count, sizeof *tail);
    int *main_at = malloc(count * sizeof *main_at), *release = malloc(count * sizeof *release);
    int *last_reader = malloc(count * sizeof *last_reader), *order = malloc(count * sizeof *order);
    int *start = NULL;
    int ok = 0;
    if (!main || !computed || !tail || !main_at || !release || !last_reader || !order) {
        gc_failf(err, GC_ERR_MEMORY, "out of memory");
        goto done;
    }
    if (updates_read_norm(g, main)) {
        ok = 1;
        goto done;
    }
    memset(main, 0, count * sizeof *main);
    for (int i = 0; i < g->num_outputs; i++)
        if (g->outputs[i].kind == GC_OUTPUT_GRAD) main[g->outputs[i].value->id] = true;
    for (int i = n - 1; i >= 0; i--)
        if (main[i])
            for (int k = 0; k < g->nodes[i]->num_inputs; k++) main[g->nodes[i]->inputs[k]->id] = true;
    int mains = 0;
    for (int i = 0; i < n; i++) {
        main_at[i] = main[i] ? mains++ : -1;
        last_reader[i] = -1;
    }
    /* A reader counts where its kernel runs: a GEMM reading a param runs with the epilogue
     * fused after it (the backward's dX = dY @ W with the activation's gradient), so an update
     * of W waits for that kernel to read W. */
    gc_fusion fusion = {0};
    if (!gc_fuse_partition(g, true, &fusion, err)) goto done;
    for (int i = 0; i < n; i++) {
        if (!main[i]) continue;
        int r = fusion.root[i], at = r >= 0 && main[r] && main_at[r] > main_at[i] ? main_at[r] : main_at[i];
        for (int k = 0; k < g->nodes[i]->num_inputs; k++) {
            int x = g->nodes[i]->inputs[k]->id;
            if (at > last_reader[x]) last_reader[x] = at;
        }
    }
    /* release[i]: the main position after which node i may run (-1: before every main node). A
     * main node computed in a later kernel (a sum fused as the sibling of a later one, a member
     * stored by a later loop) exists once that kernel has run: what reads it waits for that, so
     * that the reader does not split the kernel off again. */
    for (int i = 0; i < n; i++) {
        const gc_node *x = g->nodes[i];
        if (main[i]) {
            int r = fusion.root[i];
            release[i] = r >= 0 && main[r] && main_at[r] > main_at[i] ? main_at[r] : main_at[i];
            continue;
        }
        release[i] = -1;
        for (int k = 0; k < x->num_inputs; k++)
            if (release[x->inputs[k]->id] > release[i]) release[i] = release[x->inputs[k]->id];
    }
    gc_fusion_free(&fusion);
    /* An update's value waits for the main readers of its target, and so does what reads it. */
    for (int i = 0; i < g->num_outputs; i++) {
        const gc_graph_output *o = &g->outputs[i];
        if (o->kind != GC_OUTPUT_UPDATE || main[o->value->id]) continue;
        const gc_node *t = gc_graph_find_update_target(g, o->name);
        if (t && last_reader[t->id] > release[o->value->id]) release[o->value->id] = last_reader[t->id];
    }
    for (int i = 0; i < n; i++) {
        const gc_node *x = g->nodes[i];
        if (main[i]) continue;
        for (int k = 0; k < x->num_inputs; k++)
            if (release[x->inputs[k]->id] > release[i]) release[i] = release[x->inputs[k]->id];
    }
    /* That is as early as each node can run, and nodes that read computed values (a gradient,
     * the loss) stay there: their inputs are then free the sooner (a gradient's share of the
     * norm, its update). So do reported values (the step proper ends with the last that reads
     * no gradient). Nodes of sources only (a decayed param, a decayed moment, the schedule's
     * terms) run as late as their first reader allows, so that they do not wait through the
     * step. */
    for (int i = 0; i < n; i++) {
        const gc_node *x = g->nodes[i];
        last_reader[i] = INT_MAX; /* now: the earliest release of a reader */
        computed[i] = main[i] && !(gc_op_table[x->op].flags & GC_FLAG_NAMED) && x->op != GC_OP_CONSTANT &&
                      x->op != GC_OP_IOTA;
        if (main[i]) continue;
        for (int k = 0; k < x->num_inputs && !computed[i]; k++) computed[i] = computed[x->inputs[k]->id];
        if (computed[i]) last_reader[i] = INT_MIN;
    }
    for (int i = 0; i < g->num_outputs; i++) last_reader[g->outputs[i].value->id] = INT_MIN;
    for (int i = n - 1; i >= 0; i--) {
        if (main[i]) continue;
        if (last_reader[i] != INT_MIN && last_reader[i] != INT_MAX) release[i] = last_reader[i];
        const gc_node *x = g->nodes[i];
        for (int k = 0; k < x->num_inputs; k++) {
            int in = x->inputs[k]->id;
            if (last_reader[in] != INT_MIN && release[i] < last_reader[in]) last_reader[in] = release[i];
        }
    }
    /* The gradient norm's shares wait for the updates of their gradients: each share then
     * follows its update's chain, and the fusion partition can compute that chain in the
     * prologue of the share's row sum (passes/fuse.c), one pass over the gradient instead of two.
     * The gradient is alive until its update anyway. */
    if (!delay_norm_shares(g, main, computed, release, tail)) {
        gc_failf(err, GC_ERR_MEMORY, "out of memory");
        goto done;
    }
    /* Main nodes keep their order: each sits in its own bucket. */
    for (int i = 0; i < n; i++)
        if (main[i]) release[i] = main_at[i];
    /* A stable bucket sort by release; in each bucket, the main node first. */
    start = calloc((size_t)mains + 2, sizeof *start);
    if (!start) {
        gc_failf(err, GC_ERR_MEMORY, "out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) start[release[i] + 2]++;
    for (int r = 1; r < mains + 2; r++) start[r] += start[r - 1];
    for (int i = 0; i < n; i++)
        if (main[i]) order[start[release[i] + 1]++] = i;
    for (int i = 0; i < n; i++)
        if (!main[i] && !tail[i]) order[start[release[i] + 1]++] = i;
    for (int i = 0; i < n; i++)
        if (!main[i] && tail[i]) order[start[release[i] + 1]++] = i;
    bool changed = false;
    for (int k = 0; k < n && !changed; k++) changed = order[k] != k;
    if (!changed) {
        g->updates_in_backward = true;
        ok = 1;
        goto done;
    }
    gc_graph *out = rebuild_in_order(g, order, err);
    if (!out) goto done;
    out->updates_in_backward = true;
    gc_graph_free(g);
    *graph = out;
    if (moved) *moved = true;
    ok = 1;
done:
    free(main);
    free(computed);
    free(tail);
    free(main_at);
    free(release);
    free(last_reader);
    free(order);
    free(start);
    return ok;
}

int gc_pass_update_in_backward(gc_graph **graph, gc_error *err) { return gc_updates_in_backward(graph, NULL, err); }

typedef struct grad_at {
    int position, output;
} grad_at;

static int by_position(const void *a, const void *b) {
    const grad_at *x = a, *y = b;
    if (x->position != y->position) return x->position < y->position ? -1 : 1;
    return x->output - y->output;
}

int gc_grad_final_order(const gc_graph *g, int *order) {
    grad_at *at = malloc((size_t)(g->num_outputs ? g->num_outputs : 1) * sizeof *at);
    if (!at) return -1;
    int k = 0;
    /* Node ids are positions: a gradient is final at its own node, the last that adds to it. */
    for (int i = 0; i < g->num_outputs; i++)
        if (g->outputs[i].kind == GC_OUTPUT_GRAD) at[k++] = (grad_at){g->outputs[i].value->id, i};
    qsort(at, (size_t)k, sizeof *at, by_position);
    for (int i = 0; i < k; i++) order[i] = at[i].output;
    free(at);
    return k;
}
