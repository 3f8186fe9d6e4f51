/*
 * interp.c: the reference interpreter's driver — storage, named sources, the op-by-op run and
 * the rounding that makes its values those of a float32 program (see interp.h).
 *
 * Each node owns one array of doubles, allocated once in gc_interp_new. Kernels (interp_*.c)
 * compute exactly in double; after each op this file rounds f32 results to float (in
 * GC_INTERP_F32) and i32 results to integers, so no kernel repeats that logic.
 */
#include "runtime/interp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/interp_kernels.h"

/* Dispatch by expanding the op table: an op without an interp_<name> kernel fails to compile. */
static const interp_kernel kernels[GC_OP_COUNT] = {
#define GC_OP(E, name, ...) [GC_OP_##E] = interp_##name,
#include "ir/ops.def"
#undef GC_OP
};

struct gc_interp {
    const gc_graph *graph;
    gc_interp_precision precision;
    int num_nodes;         /* the graph's node count when the interpreter was made */
    double **values;       /* per node, numel of its type */
    bool *has_value;       /* per source node: set (or updated) since creation */
    const double **args;   /* operand pointers of the node being run */
    bool ran;              /* the last run completed */
    gc_step_hooks hooks;   /* gc_interp_set_hooks; event NULL: none */
    bool *is_grad, *reads_grad; /* per node, with hooks (gc_step_hook_plan) */
};

int gc_interp_set_hooks(gc_interp *it, const gc_step_hooks *hooks, gc_error *err) {
    free(it->is_grad);
    free(it->reads_grad);
    it->is_grad = calloc((size_t)it->num_nodes + 1, sizeof *it->is_grad);
    it->reads_grad = calloc((size_t)it->num_nodes + 1, sizeof *it->reads_grad);
    if (!it->is_grad || !it->reads_grad) return gc_failf(err, GC_ERR_MEMORY, "out of memory");
    gc_step_hook_plan(it->graph, it->is_grad, it->reads_grad);
    it->hooks = *hooks;
    return 1;
}

static bool is_source(const gc_node *n) { return (gc_op_table[n->op].flags & GC_FLAG_NAMED) != 0; }

static const char *op_name(const gc_node *n) { return gc_op_table[n->op].name; }

/* Nodes must be numbered by position and use only earlier nodes of the same graph; anything else
 * would make a kernel read storage that is not there. */
static int check_graph(const gc_graph *g, gc_error *err) {
    for (int i = 0; i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        if (!n || n->id != i || (unsigned)n->op >= GC_OP_COUNT)
            return gc_failf(err, GC_ERR_INTERNAL, "internal error: interpreter: node %d is malformed", i);
        for (int k = 0; k < n->num_inputs; k++) {
            const gc_node *x = n->inputs[k];
            if (!x || x->id < 0 || x->id >= i || g->nodes[x->id] != x)
                return gc_failf(err, GC_ERR_INTERNAL,
                                "internal error: interpreter: operand %d of %%%d is not an earlier node", k, i);
        }
        if (gc_type_numel(&n->type) > GC_MAX_ELEMENTS)
            return gc_failf(err, GC_ERR_INTERNAL, "internal error: interpreter: %%%d is too large", i);
    }
    return 1;
}

gc_interp *gc_interp_new(const gc_graph *g, gc_interp_precision precision, gc_error *err) {
    if (!g) return gc_failf(err, GC_ERR_INTERNAL, "internal error: gc_interp_new: no graph"), NULL;
    if (precision != GC_INTERP_F32 && precision != GC_INTERP_F64)
        return gc_failf(err, GC_ERR_INTERNAL, "internal error: gc_interp_new: bad precision %d", (int)precision), NULL;
    if (!check_graph(g, err)) return NULL;

    gc_interp *it = calloc(1, sizeof *it);
    if (!it) return gc_failf(err, GC_ERR_MEMORY, "out of memory"), NULL;
    it->graph = g;
    it->precision = precision;
    it->num_nodes = g->num_nodes;
    int max_inputs = 1;
    for (int i = 0; i < g->num_nodes; i++)
        if (g->nodes[i]->num_inputs > max_inputs) max_inputs = g->nodes[i]->num_inputs;
    size_t nodes = (size_t)(g->num_nodes ? g->num_nodes : 1);
    it->values = calloc(nodes, sizeof *it->values);
    it->has_value = calloc(nodes, sizeof *it->has_value);
    it->args = calloc((size_t)max_inputs, sizeof *it->args);
    if (!it->values || !it->has_value || !it->args) goto oom;
    for (int i = 0; i < g->num_nodes; i++) {
        it->values[i] = calloc((size_t)gc_type_numel(&g->nodes[i]->type), sizeof(double));
        if (!it->values[i]) goto oom;
    }
    return it;
oom:
    gc_interp_free(it);
    gc_failf(err, GC_ERR_MEMORY, "out of memory: the interpreter's storage for graph '%s'",
             g->name ? g->name : "?");
    return NULL;
}

void gc_interp_free(gc_interp *it) {
    if (!it) return;
    free(it->is_grad);
    free(it->reads_grad);
    if (it->values)
        for (int i = 0; i < it->num_nodes; i++) free(it->values[i]);
    free(it->values);
    free(it->has_value);
    free(it->args);
    free(it);
}

/* Rounds one node's values to its dtype as this precision stores it. */
static void round_values(const gc_interp *it, const gc_node *n, double *v) {
    int64_t count = gc_type_numel(&n->type);
    if (n->type.dtype == GC_I32) {
        for (int64_t i = 0; i < count; i++) v[i] = interp_to_i32(v[i]);
    } else if (n->type.dtype == GC_F32 && it->precision == GC_INTERP_F32) {
        for (int64_t i = 0; i < count; i++) v[i] = interp_round_f32(v[i]);
    }
}

/* The source node called name, after checking the interpreter is usable. */
static const gc_node *find_source(const gc_interp *it, const char *name, gc_error *err) {
    if (!it) return gc_failf(err, GC_ERR_INTERNAL, "internal error: no interpreter"), NULL;
    if (!name) return gc_failf(err, GC_ERR_INTERNAL, "internal error: gc_interp_set: no name"), NULL;
    for (int i = 0; i < it->num_nodes; i++) {
        const gc_node *n = it->graph->nodes[i];
        if (is_source(n) && strcmp(n->name, name) == 0) return n;
    }
    gc_failf(err, GC_ERR_USER, "the graph has no input, param or state named '%s'", name);
    return NULL;
}

/* Copies host data (typed `value`, or doubles when f64 is given) into the source, rounded to its
 * dtype; the caller has checked the element count. */
static void store_source(gc_interp *it, const gc_node *n, const gc_tensor *value, const double *f64) {
    double *dst = it->values[n->id];
    int64_t count = gc_type_numel(&n->type);
    for (int64_t i = 0; i < count; i++) {
        if (f64) {
            dst[i] = f64[i];
        } else if (value->dtype == GC_F32) {
            dst[i] = ((const float *)value->data)[i];
        } else if (value->dtype == GC_I32) {
            dst[i] = ((const int32_t *)value->data)[i];
        } else {
            dst[i] = ((const double *)value->data)[i];
        }
    }
    round_values(it, n, dst);
    it->has_value[n->id] = true;
}

int gc_interp_set(gc_interp *it, const char *name, const gc_tensor *value, gc_error *err) {
    const gc_node *n = find_source(it, name, err);
    if (!n) return 0;
    if (!value || !value->data)
        return gc_failf(err, GC_ERR_INTERNAL, "internal error: gc_interp_set: no data for '%s'", name);
    if (value->dtype != GC_F32 && value->dtype != GC_I32 && value->dtype != GC_F64)
        return gc_failf(err, GC_ERR_USER, "%s '%s': unknown host dtype %d", op_name(n), name, (int)value->dtype);
    bool same = value->rank == n->type.rank;
    for (int d = 0; same && d < value->rank; d++) same = value->shape[d] == n->type.dims[d];
    if (!same) {
        char want[96], got[96];
        gc_type_format(&n->type, want, sizeof want);
        if (value->rank >= 0 && value->rank <= GC_MAX_RANK) {
            gc_type given = gc_type_make(value->dtype, value->rank, value->shape);
            gc_type_format(&given, got, sizeof got);
        } else {
            snprintf(got, sizeof got, "of rank %d", value->rank);
        }
        return gc_failf(err, GC_ERR_USER, "%s '%s' has type %s but the value given is %s",
                        op_name(n), name, want, got);
    }
    store_source(it, n, value, NULL);
    return 1;
}

int gc_interp_set_f64(gc_interp *it, const char *name, const double *data, int64_t count, gc_error *err) {
    const gc_node *n = find_source(it, name, err);
    if (!n) return 0;
    if (!data)
        return gc_failf(err, GC_ERR_INTERNAL, "internal error: gc_interp_set_f64: no data for '%s'", name);
    if (count != gc_type_numel(&n->type)) {
        char want[96];
        return gc_failf(err, GC_ERR_USER, "%s '%s' has type %s (%lld elements) but %lld values were given",
                        op_name(n), name, gc_type_format(&n->type, want, sizeof want),
                        (long long)gc_type_numel(&n->type), (long long)count);
    }
    store_source(it, n, NULL, data);
    return 1;
}

const double *gc_interp_source(const gc_interp *it, const char *name) {
    if (!it || !name) return NULL;
    for (int i = 0; i < it->num_nodes; i++) {
        const gc_node *n = it->graph->nodes[i];
        if (is_source(n) && strcmp(n->name, name) == 0) return it->has_value[i] ? it->values[i] : NULL;
    }
    return NULL;
}

int gc_interp_run(gc_interp *it, gc_error *err) {
    if (!it) return gc_failf(err, GC_ERR_INTERNAL, "internal error: gc_interp_run: no interpreter");
    it->ran = false;
    if (it->graph->num_nodes != it->num_nodes)
        return gc_failf(err, GC_ERR_INTERNAL,
                        "internal error: the graph gained nodes after its interpreter was made");
    for (int i = 0; i < it->num_nodes; i++) {
        const gc_node *n = it->graph->nodes[i];
        if (is_source(n) && !it->has_value[i]) {
            gc_fail(err, GC_ERR_USER, n->loc, "%s '%s' has no value", op_name(n), n->name);
            return 0;
        }
    }
    const gc_step_hooks *h = it->hooks.event ? &it->hooks : NULL;
    for (int i = 0; i < it->num_nodes; i++) {
        const gc_node *n = it->graph->nodes[i];
        if (h && it->reads_grad[i]) h->event(h->user, GC_HOOK_GRADS_NEEDED, NULL, NULL, GC_F64, 0);
        for (int k = 0; k < n->num_inputs; k++) it->args[k] = it->values[n->inputs[k]->id];
        if (!kernels[n->op](n, it->args, it->values[i], err)) {
            gc_error_prefix(err, "interpreting %%%d (%s)", i, op_name(n));
            return 0;
        }
        if (!is_source(n)) round_values(it, n, it->values[i]);
        if (h && n->op == GC_OP_ALL_REDUCE_SUM)
            h->event(h->user, GC_HOOK_ALL_REDUCE, n, it->values[i], GC_F64, gc_type_numel(&n->type));
        if (h && it->is_grad[i])
            h->event(h->user, GC_HOOK_GRAD_READY, n, it->values[i], GC_F64, gc_type_numel(&n->type));
    }
    if (h) h->event(h->user, GC_HOOK_STEP_END, NULL, NULL, GC_F64, 0);
    it->ran = true;
    return 1;
}

const double *gc_interp_value(const gc_interp *it, const gc_node *node) {
    if (!it || !node || !it->ran || node->id < 0 || node->id >= it->num_nodes) return NULL;
    if (it->graph->nodes[node->id] != node) return NULL;
    return it->values[node->id];
}

const double *gc_interp_output(const gc_interp *it, gc_output_kind kind, const char *name) {
    if (!it || !name) return NULL;
    const gc_graph_output *o = gc_graph_find_output(it->graph, kind, name);
    return o ? gc_interp_value(it, o->value) : NULL;
}

int gc_interp_apply_updates(gc_interp *it, gc_error *err) {
    if (!it) return gc_failf(err, GC_ERR_INTERNAL, "internal error: gc_interp_apply_updates: no interpreter");
    if (!it->ran) return gc_failf(err, GC_ERR_USER, "no updates to apply: the graph has not been run");
    const gc_graph *g = it->graph;
    if (g->num_nodes != it->num_nodes)
        return gc_failf(err, GC_ERR_INTERNAL,
                        "internal error: the graph gained nodes after its interpreter was made");
    /* Copy every update out first: an update may be the old value of another param (a swap),
     * and all updates take effect at once, as at the end of one training step. */
    double **staged = calloc((size_t)(g->num_outputs ? g->num_outputs : 1), sizeof *staged);
    if (!staged) return gc_failf(err, GC_ERR_MEMORY, "out of memory");
    int ok = 1;
    for (int i = 0; i < g->num_outputs && ok; i++) {
        const gc_graph_output *o = &g->outputs[i];
        if (o->kind != GC_OUTPUT_UPDATE) continue;
        size_t bytes = sizeof(double) * (size_t)gc_type_numel(&o->value->type);
        staged[i] = malloc(bytes);
        if (!staged[i]) {
            ok = gc_failf(err, GC_ERR_MEMORY, "out of memory");
            break;
        }
        memcpy(staged[i], it->values[o->value->id], bytes);
    }
    for (int i = 0; i < g->num_outputs && ok; i++) {
        const gc_graph_output *o = &g->outputs[i];
        if (o->kind != GC_OUTPUT_UPDATE) continue;
        const gc_node *target = gc_graph_find_update_target(g, o->name);
        if (!target || !gc_type_same_shape(&target->type, &o->value->type)) {
            ok = gc_failf(err, GC_ERR_INTERNAL, "internal error: update '%s' has no param or state of its shape",
                          o->name);
            break;
        }
        memcpy(it->values[target->id], staged[i], sizeof(double) * (size_t)gc_type_numel(&target->type));
        round_values(it, target, it->values[target->id]);
        it->has_value[target->id] = true;
    }
    for (int i = 0; i < g->num_outputs; i++) free(staged[i]);
    free(staged);
    return ok;
}
