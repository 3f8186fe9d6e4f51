/*
 * recompute.c: activation recomputation under a memory budget; see recompute.h.
 *
 * Forward and backward: the forward is every node a value output (the loss, metrics) depends
 * on; backward is every other node a gradient output depends on. Only backward readers of a
 * recomputed value are redirected to its copy: the optimizer's math, metrics and forward-side
 * state updates (batch norm's running statistics) read the forward's value, as before.
 *
 * Copies are placed as late as they can be, each right before the first backward node that
 * reads it (its own recomputed operands before it), so a layer's values come back just as that
 * layer's backward starts and live only through it: the checkpointing of torch.utils.checkpoint,
 * with segments chosen by the compiler.
 */
#include "passes/recompute.h"

#include <stdlib.h>
#include <string.h>

#include "passes/plan.h"
#include "passes/rewrite.h"

static bool is_named_source(const gc_node *n) { return (gc_op_table[n->op].flags & GC_FLAG_NAMED) != 0; }

static bool is_init(const gc_node *n) { return n->op == GC_OP_CONSTANT || n->op == GC_OP_IOTA; }

static bool is_computed(const gc_node *n) { return !is_named_source(n) && !is_init(n); }

int64_t gc_node_flops(const gc_node *n) {
    if (!is_computed(n) || n->op == GC_OP_RESHAPE || n->op == GC_OP_STOP_GRADIENT) return 0;
    int64_t out = gc_type_numel(&n->type);
    switch (n->op) {
    case GC_OP_MATMUL: {
        const gc_type *a = &n->inputs[0]->type;
        int64_t k = a->rank >= 2 ? a->dims[n->attr.matmul.transpose_a ? a->rank - 2 : a->rank - 1] : 1;
        return 2 * out * k;
    }
    case GC_OP_CONV:
    case GC_OP_CONV_INPUT_GRAD: {
        /* w[O, C/groups, *k]: each element of y takes C/groups x k products. */
        const gc_type *w = &n->inputs[1]->type, *y = n->op == GC_OP_CONV ? &n->type : &n->inputs[0]->type;
        return w->dims[0] ? 2 * gc_type_numel(y) * (gc_type_numel(w) / w->dims[0]) : 0;
    }
    case GC_OP_CONV_WEIGHT_GRAD: {
        const gc_type *dy = &n->inputs[1]->type;
        return n->type.dims[0] ? 2 * gc_type_numel(dy) * (out / n->type.dims[0]) : 0;
    }
    default:
        if (gc_op_table[n->op].op_class == GC_CLASS_REDUCTION && n->num_inputs)
            return gc_type_numel(&n->inputs[0]->type);
        return out;
    }
}

static int64_t value_bytes(const gc_node *n) { return gc_type_numel(&n->type) * (int64_t)gc_dtype_size(n->type.dtype); }

/* forward[i] and backward[i] as at the top of this file. A value output that reads a gradient
 * (grad_norm) is not forward: only the outputs the forward pass reports (the loss, metrics)
 * define it. */
static void split_graph(const gc_graph *g, bool *forward, bool *backward) {
    int n = g->num_nodes;
    memset(forward, 0, (size_t)n * sizeof *forward);
    memset(backward, 0, (size_t)n * sizeof *backward);
    for (int i = 0; i < g->num_outputs; i++)
        if (g->outputs[i].kind == GC_OUTPUT_GRAD) backward[g->outputs[i].value->id] = true;
    /* forward[] first holds "reads a gradient output", directly or not */
    for (int i = 0; i < n; i++) {
        const gc_node *x = g->nodes[i];
        for (int k = 0; k < x->num_inputs && !forward[i]; k++) forward[i] = forward[x->inputs[k]->id] || backward[x->inputs[k]->id];
    }
    bool *late = forward;
    bool *reported = calloc((size_t)(n ? n : 1), sizeof *reported);
    for (int i = 0; reported && i < g->num_outputs; i++) {
        int v = g->outputs[i].value->id;
        if (g->outputs[i].kind == GC_OUTPUT_VALUE && !late[v] && !backward[v]) reported[v] = true;
    }
    if (!reported) { /* out of memory: nothing is forward, so nothing is recomputed */
        memset(forward, 0, (size_t)n * sizeof *forward);
        memset(backward, 0, (size_t)n * sizeof *backward);
        return;
    }
    memcpy(forward, reported, (size_t)n * sizeof *forward);
    free(reported);
    for (int i = n - 1; i >= 0; i--)
        for (int k = 0; k < g->nodes[i]->num_inputs; k++) {
            int x = g->nodes[i]->inputs[k]->id;
            forward[x] |= forward[i];
            backward[x] |= backward[i];
        }
    for (int i = 0; i < n; i++) {
        backward[i] = backward[i] && !forward[i] && is_computed(g->nodes[i]);
        forward[i] = forward[i] && is_computed(g->nodes[i]);
    }
}

/* The copies, emitted before their first backward reader (operands first). */
typedef struct rebuild {
    const gc_graph *g;
    gc_graph *dst;
    const bool *drop;
    gc_node **copied, **clone, **operands;
    int *stack;
    int made;
    int64_t flops;
} rebuild;

static bool make_clone(rebuild *r, int x, gc_error *err) {
    int depth = 0;
    r->stack[depth++] = x;
    while (depth) {
        int t = r->stack[depth - 1];
        const gc_node *n = r->g->nodes[t];
        int pending = -1;
        for (int k = 0; k < n->num_inputs && pending < 0; k++) {
            int y = n->inputs[k]->id;
            if (r->drop[y] && !r->clone[y]) pending = y;
        }
        if (pending >= 0) {
            r->stack[depth++] = pending; /* each node is on the stack at most once: the graph has no cycle */
            continue;
        }
        for (int k = 0; k < n->num_inputs; k++) {
            int y = n->inputs[k]->id;
            r->operands[k] = r->drop[y] ? r->clone[y] : r->copied[y];
        }
        if (!(r->clone[t] = gc_copy_node(r->dst, n, r->operands, err))) return false;
        r->clone[t]->recomputed = true;
        r->made++;
        r->flops += gc_node_flops(n);
        depth--;
    }
    return true;
}

/* drop: closed as rebuild needs it (only forward values). */
static gc_graph *with_copies(const gc_graph *g, const bool *drop, const bool *backward, int *made, int64_t *flops,
                             gc_error *err) {
    int n = g->num_nodes, max_inputs = 1;
    for (int i = 0; i < n; i++)
        if (g->nodes[i]->num_inputs > max_inputs) max_inputs = g->nodes[i]->num_inputs;
    rebuild r = {.g = g, .drop = drop};
    r.dst = gc_graph_new(g->name);
    r.copied = calloc((size_t)n + 1, sizeof *r.copied);
    r.clone = calloc((size_t)n + 1, sizeof *r.clone);
    r.operands = malloc((size_t)max_inputs * sizeof *r.operands);
    r.stack = malloc(((size_t)n + 1) * sizeof *r.stack);
    bool ok = r.dst && r.copied && r.clone && r.operands && r.stack;
    if (!ok) gc_failf(err, GC_ERR_MEMORY, "out of memory");
    for (int i = 0; ok && i < n; i++) {
        const gc_node *x = g->nodes[i];
        for (int k = 0; ok && backward[i] && k < x->num_inputs; k++) {
            int y = x->inputs[k]->id;
            if (drop[y] && !r.clone[y]) ok = make_clone(&r, y, err);
        }
        for (int k = 0; ok && k < x->num_inputs; k++) {
            int y = x->inputs[k]->id;
            r.operands[k] = backward[i] && drop[y] ? r.clone[y] : r.copied[y];
        }
        ok = ok && (r.copied[i] = gc_copy_node(r.dst, x, r.operands, err)) != NULL;
    }
    for (int i = 0; ok && i < g->num_outputs; i++) {
        const gc_graph_output *o = &g->outputs[i];
        ok = gc_graph_add_output(r.dst, o->kind, o->name, r.copied[o->value->id], err) != 0;
    }
    if (ok) r.dst->updates_in_backward = g->updates_in_backward;
    free(r.copied);
    free(r.clone);
    free(r.operands);
    free(r.stack);
    if (!ok) {
        gc_graph_free(r.dst);
        return NULL;
    }
    if (made) *made = r.made;
    if (flops) *flops = r.flops;
    return r.dst;
}

/* What recomputing candidate c takes with it: the forward nodes its kernel computes without
 * bytes of their own (stored[] false), transitively through its operands. Marks them in drop. */
static void close_over_members(const gc_graph *g, int c, const bool *forward, const bool *stored, bool *drop,
                               int *stack) {
    int depth = 0;
    drop[c] = true;
    stack[depth++] = c;
    while (depth) {
        const gc_node *n = g->nodes[stack[--depth]];
        for (int k = 0; k < n->num_inputs; k++) {
            int y = n->inputs[k]->id;
            if (drop[y] || !forward[y] || stored[y]) continue;
            drop[y] = true;
            stack[depth++] = y;
        }
    }
}

/* Aliases of recomputed bytes (a reshape, a view) are recomputed too, or they would keep them. */
static void close_over_aliases(const gc_graph *g, const bool *forward, const bool *aliased, bool *drop) {
    for (int i = 0; i < g->num_nodes; i++)
        if (forward[i] && aliased[i] && g->nodes[i]->num_inputs && drop[g->nodes[i]->inputs[0]->id]) drop[i] = true;
}

typedef struct candidate {
    int node;
    double score; /* bytes saved per unit of cost */
} candidate;

static int by_score(const void *a, const void *b) {
    const candidate *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->node - y->node;
}

/* The analysis behind a choice: which values may be recomputed, in which order. */
typedef struct analysis {
    int n;
    bool *forward, *backward, *stored, *aliased, *drop;
    int *stack;
    candidate *order;
    int count;
    int64_t transient, step_flops;
} analysis;

static void analysis_free(analysis *a) {
    free(a->forward), free(a->backward), free(a->stored), free(a->aliased), free(a->drop);
    free(a->stack), free(a->order);
}

/* Cost of recomputing a node, in units of one FLOP: a memory-bound kernel streams its bytes at
 * about a twentieth of the FLOP rate (benchmarks: ~100 GFLOP/s, ~25 GB/s a core). */
static double recompute_cost(const gc_node *n) {
    int64_t bytes = value_bytes(n);
    for (int k = 0; k < n->num_inputs; k++) bytes += value_bytes(n->inputs[k]);
    return (double)gc_node_flops(n) + 4.0 * (double)bytes;
}

static int analyse(const gc_graph *g, analysis *a, gc_error *err) {
    int n = g->num_nodes;
    size_t count = (size_t)(n ? n : 1);
    memset(a, 0, sizeof *a);
    a->n = n;
    a->forward = malloc(count * sizeof *a->forward);
    a->backward = malloc(count * sizeof *a->backward);
    a->stored = calloc(count, sizeof *a->stored);
    a->aliased = calloc(count, sizeof *a->aliased);
    a->drop = calloc(count, sizeof *a->drop);
    a->stack = malloc(count * sizeof *a->stack);
    a->order = malloc(count * sizeof *a->order);
    bool *read_back = calloc(count, sizeof *read_back);
    if (!a->forward || !a->backward || !a->stored || !a->aliased || !a->drop || !a->stack || !a->order || !read_back) {
        free(read_back);
        analysis_free(a);
        return gc_failf(err, GC_ERR_MEMORY, "out of memory");
    }
    gc_layout l;
    if (!gc_layout_plan_step(g, &l, err)) {
        free(read_back);
        analysis_free(a);
        return 0;
    }
    a->transient = l.size - l.kept_size;
    split_graph(g, a->forward, a->backward);
    for (int i = 0; i < n; i++) {
        a->aliased[i] = l.aliased[i];
        a->stored[i] = l.offsets[i] >= 0 && !l.aliased[i];
        a->step_flops += gc_node_flops(g->nodes[i]);
    }
    /* Read by backward, directly or through aliases in the forward. */
    for (int i = 0; i < n; i++) {
        if (!a->backward[i]) continue;
        for (int k = 0; k < g->nodes[i]->num_inputs; k++) read_back[g->nodes[i]->inputs[k]->id] = true;
    }
    for (int i = n - 1; i >= 0; i--)
        if (read_back[i] && a->forward[i] && a->aliased[i] && g->nodes[i]->num_inputs)
            read_back[g->nodes[i]->inputs[0]->id] = true;
    bool *output = calloc(count, sizeof *output);
    if (!output) {
        gc_layout_free(&l);
        free(read_back);
        analysis_free(a);
        return gc_failf(err, GC_ERR_MEMORY, "out of memory");
    }
    for (int i = 0; i < g->num_outputs; i++) output[g->outputs[i].value->id] = true;
    for (int i = 0; i < n; i++) {
        const gc_node *x = g->nodes[i];
        /* A value kept past the step (an output) or written through strides by a GEMM (the
         * layout's own business) stays; so does a loop over time (recurrence), whose one kernel
         * is the whole sequence. */
        if (!a->forward[i] || !a->stored[i] || !read_back[i] || output[i] || l.kept[i] ||
            (l.strided && l.strided[i]) || gc_op_table[x->op].op_class == GC_CLASS_LOOP)
            continue;
        /* The cost counts the kernel members recomputed with it. */
        memset(a->drop, 0, count * sizeof *a->drop);
        close_over_members(g, i, a->forward, a->stored, a->drop, a->stack);
        double cost = 1.0;
        for (int m = 0; m <= i; m++)
            if (a->drop[m]) cost += recompute_cost(g->nodes[m]);
        a->order[a->count++] = (candidate){i, (double)value_bytes(x) / cost};
    }
    memset(a->drop, 0, count * sizeof *a->drop);
    qsort(a->order, (size_t)a->count, sizeof *a->order, by_score);
    free(output);
    free(read_back);
    gc_layout_free(&l);
    return 1;
}

/* The graph with the first k candidates recomputed, its transient bytes and what it costs. */
static gc_graph *choose(const gc_graph *g, analysis *a, int k, int64_t *transient, int *made, int64_t *flops,
                        gc_error *err) {
    memset(a->drop, 0, (size_t)a->n * sizeof *a->drop);
    for (int c = 0; c < k; c++) close_over_members(g, a->order[c].node, a->forward, a->stored, a->drop, a->stack);
    close_over_aliases(g, a->forward, a->aliased, a->drop);
    gc_graph *out = with_copies(g, a->drop, a->backward, made, flops, err);
    if (!out || !transient) return out;
    gc_layout l;
    if (!gc_layout_plan_step(out, &l, err)) {
        gc_graph_free(out);
        return NULL;
    }
    *transient = l.size - l.kept_size;
    gc_layout_free(&l);
    return out;
}

int gc_recompute_values(gc_graph **graph, const bool *drop, gc_error *err) {
    gc_graph *g = *graph;
    analysis a;
    if (!analyse(g, &a, err)) return 0;
    for (int i = 0; i < g->num_nodes; i++)
        if (drop[i] && a.forward[i]) close_over_members(g, i, a.forward, a.stored, a.drop, a.stack);
    close_over_aliases(g, a.forward, a.aliased, a.drop);
    gc_graph *out = with_copies(g, a.drop, a.backward, NULL, NULL, err);
    analysis_free(&a);
    if (!out) return 0;
    gc_graph_free(g);
    *graph = out;
    return 1;
}

int gc_recompute_fit(gc_graph **graph, int64_t transient_budget, gc_recompute_report *report, gc_error *err) {
    gc_graph *g = *graph;
    memset(report, 0, sizeof *report);
    analysis a;
    if (!analyse(g, &a, err)) return 0;
    report->candidates = a.count;
    report->step_flops = a.step_flops;
    report->transient_before = report->transient_after = report->transient_min = a.transient;
    if (a.transient <= transient_budget) {
        report->fits = true;
        analysis_free(&a);
        return 1;
    }
    /* Everything first: if that does not fit, nothing will (it is the smallest plan in practice). */
    int64_t transient = 0;
    int made = 0;
    int64_t flops = 0;
    gc_graph *best = a.count ? choose(g, &a, a.count, &transient, &made, &flops, err) : NULL;
    if (a.count && !best) {
        analysis_free(&a);
        return 0;
    }
    if (!best || transient > transient_budget) {
        if (best && transient < report->transient_min) report->transient_min = transient;
        gc_graph_free(best);
        analysis_free(&a);
        return 1;
    }
    int best_k = a.count, lo = 1, hi = a.count; /* the smallest k that fits is in [lo, hi] */
    int64_t best_transient = transient;
    report->transient_min = transient;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2, mid_made = 0;
        int64_t mid_flops = 0;
        gc_graph *trial = choose(g, &a, mid, &transient, &mid_made, &mid_flops, err);
        if (!trial) {
            gc_graph_free(best);
            analysis_free(&a);
            return 0;
        }
        if (transient < report->transient_min) report->transient_min = transient;
        if (transient <= transient_budget) {
            gc_graph_free(best);
            best = trial, best_k = mid, best_transient = transient, made = mid_made, flops = mid_flops;
            hi = mid;
        } else {
            gc_graph_free(trial);
            lo = mid + 1;
        }
    }
    report->chosen = best_k;
    report->recomputed_nodes = made;
    report->recompute_flops = flops;
    report->transient_after = best_transient;
    report->fits = true;
    analysis_free(&a);
    gc_graph_free(g);
    *graph = best;
    return 1;
}

int gc_pass_recompute(gc_graph **graph, gc_error *err) {
    gc_graph *g = *graph;
    analysis a;
    if (!analyse(g, &a, err)) return 0;
    gc_graph *out = choose(g, &a, a.count, NULL, NULL, NULL, err);
    analysis_free(&a);
    if (!out) return 0;
    gc_graph_free(g);
    *graph = out;
    return 1;
}
