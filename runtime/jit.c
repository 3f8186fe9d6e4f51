/*
 * jit.c: the JIT executor's driver — the arena, named sources, the step call, outputs and the
 * copy of updates back into params and state.
 *
 * Update copies are planned once in gc_jit_new: an update whose value is itself a source that
 * another update overwrites (a swap) is staged through a buffer allocated up front, so applying
 * updates, like running a step, allocates nothing.
 *
 * With in_place the plan computes some updates in their targets' bytes; their kernels (and all
 * after them) form the module's gc_update, which apply runs before the remaining copies, so a
 * run alone never writes a param or state and a dropped step changes nothing.
 */
#include "runtime/jit.h"

#include "passes/fuse.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/clock.h"
#include "runtime/parallel.h"
#include "runtime/profile.h"
#include "runtime/step_hook.h"
#include "runtime/updates.h"
#include "runtime/zeroed.h"

struct gc_jit {
    const gc_graph *graph;
    int num_nodes;
    gc_layout layout;
    gc_codegen_jit *code;
    gc_codegen_times times;
    char *arena;
    bool *has_value; /* per node: a named source that was set */
    gc_update_plan updates;
    gc_pool *pool;
    bool ran;
    bool pending; /* run, and its update kernels (gc_update) not yet run */
    gc_profile *profile; /* with gc_jit_options.profile */
    gc_step_hook_ctx *hooks; /* with gc_jit_options.hooks: what generated code passes gc_step_hook */
};

static bool is_source(const gc_node *n) { return (gc_op_table[n->op].flags & GC_FLAG_NAMED) != 0; }

static int64_t node_bytes(const gc_node *n) {
    return gc_type_numel(&n->type) * (int64_t)gc_dtype_size(n->type.dtype);
}

gc_jit *gc_jit_new(const gc_graph *g, gc_error *err) { return gc_jit_new_opts(g, NULL, err); }

gc_jit *gc_jit_new_opts(const gc_graph *g, const gc_jit_options *opts, gc_error *err) {
    if (!g) return gc_failf(err, GC_ERR_INTERNAL, "internal error: gc_jit_new: no graph"), NULL;
    gc_jit *j = calloc(1, sizeof *j);
    if (!j) return gc_failf(err, GC_ERR_MEMORY, "out of memory"), NULL;
    j->graph = g;
    j->num_nodes = g->num_nodes;
    gc_fusion fusion = {0};
    double start = gc_clock_ms();
    if (!gc_fuse_partition(g, opts && opts->fuse, &fusion, err)) goto fail;
    double partitioned = gc_clock_ms();
    gc_plan_options plan = {.reuse = opts && opts->reuse, .in_place = opts && opts->in_place,
                            .views = opts && opts->views, .operand_bytes = opts && opts->operand_bytes};
    int planned = gc_layout_plan_opts(g, fusion.root, &plan, &j->layout, err);
    gc_fusion_free(&fusion);
    if (!planned) goto fail;
    double planned_at = gc_clock_ms();
    j->has_value = calloc((size_t)(g->num_nodes ? g->num_nodes : 1), sizeof *j->has_value);
    j->arena = gc_zeroed_alloc((size_t)j->layout.size);
    if (!j->has_value || !j->arena) {
        gc_failf(err, GC_ERR_MEMORY, "out of memory: could not allocate the %.2f GiB arena of graph '%s'",
                 (double)j->layout.size / (1024.0 * 1024.0 * 1024.0), g->name ? g->name : "?");
        goto fail;
    }
    if (!gc_update_plan_make(g, j->layout.offsets, &j->updates, err)) goto fail;
    if (opts && opts->profile && !(j->profile = gc_profile_new(g->num_nodes, err))) goto fail;
    if (opts && opts->hooks) {
        if (!(j->hooks = calloc(1, sizeof *j->hooks))) {
            gc_failf(err, GC_ERR_MEMORY, "out of memory");
            goto fail;
        }
        *j->hooks = (gc_step_hook_ctx){g, j->layout.offsets, j->arena, *opts->hooks};
    }
    j->code = gc_codegen_jit_compile_hooked(g, &j->layout, j->profile, j->hooks, &j->times, err);
    if (!j->code) goto fail;
    j->times.partition_ms = partitioned - start;
    j->times.plan_ms = planned_at - partitioned;
    if (!(j->pool = gc_pool_new(opts ? opts->threads : 0, err))) goto fail;
    gc_pool_keep_subnormals(j->pool, opts && opts->ieee_subnormals);
    uint32_t mode = gc_pool_enter(j->pool);
    gc_codegen_jit_run(j->code, GC_CODEGEN_INIT, j->arena, j->pool);
    gc_pool_leave(mode);
    return j;
fail:
    gc_jit_free(j);
    return NULL;
}

void gc_jit_free(gc_jit *j) {
    if (!j) return;
    gc_codegen_jit_free(j->code);
    gc_pool_free(j->pool);
    gc_layout_free(&j->layout);
    gc_zeroed_free(j->arena, (size_t)j->layout.size);
    free(j->has_value);
    gc_update_plan_free(&j->updates);
    gc_profile_free(j->profile);
    free(j->hooks);
    free(j);
}

char *gc_jit_profile_report(const gc_jit *j, int top) {
    return j && j->profile ? gc_profile_report(j->profile, j->graph, j->layout.root, top) : NULL;
}

void gc_jit_profile_reset(gc_jit *j) {
    if (j) gc_profile_reset(j->profile);
}

static const gc_node *find_source(const gc_jit *j, const char *name) {
    if (!j || !name) return NULL;
    const gc_node *n = gc_graph_find_source(j->graph, name);
    return n && n->id < j->num_nodes && is_source(n) ? n : NULL;
}

static double to_i32(double v) {
    if (isnan(v)) return 0.0;
    if (v >= 2147483647.0) return 2147483647.0;
    if (v <= -2147483648.0) return -2147483648.0;
    return trunc(v);
}

/* IEEE rounding to float, which C leaves undefined beyond the float range: inf once past
 * FLT_MAX plus half an ulp. */
static float to_f32(double v) {
    if (isfinite(v) && fabs(v) > FLT_MAX)
        return (float)(fabs(v) >= 0x1.ffffffp127 ? copysign(INFINITY, v) : copysign(FLT_MAX, v));
    return (float)v;
}

/* Element i of host data as a double. */
static double host_value(const gc_tensor *t, int64_t i) {
    switch (t->dtype) {
    case GC_F32: return ((const float *)t->data)[i];
    case GC_I32: return ((const int32_t *)t->data)[i];
    case GC_F64: return ((const double *)t->data)[i];
    }
    return 0.0;
}

/* Converts host data to the node's dtype; same dtypes copy bytes. */
static void store(const gc_node *n, const gc_tensor *value, char *dst) {
    int64_t count = gc_type_numel(&n->type);
    if (value->dtype == n->type.dtype) {
        memcpy(dst, value->data, (size_t)node_bytes(n));
        return;
    }
    for (int64_t i = 0; i < count; i++) {
        double v = host_value(value, i);
        switch (n->type.dtype) {
        case GC_F32: ((float *)dst)[i] = to_f32(v); break;
        case GC_I32: ((int32_t *)dst)[i] = (int32_t)to_i32(v); break;
        case GC_F64: ((double *)dst)[i] = v; break;
        }
    }
}

int gc_jit_set(gc_jit *j, const char *name, const gc_tensor *value, gc_error *err) {
    if (!j || !name) return gc_failf(err, GC_ERR_INTERNAL, "internal error: gc_jit_set: no executor or name");
    const gc_node *n = find_source(j, name);
    if (!n) return gc_failf(err, GC_ERR_USER, "the graph has no input, param or state named '%s'", name);
    if (!value || !value->data)
        return gc_failf(err, GC_ERR_INTERNAL, "internal error: gc_jit_set: no data for '%s'", name);
    if (value->dtype != GC_F32 && value->dtype != GC_I32 && value->dtype != GC_F64)
        return gc_failf(err, GC_ERR_USER, "%s '%s': unknown host dtype %d", gc_op_table[n->op].name, name,
                        (int)value->dtype);
    bool same = value->rank == n->type.rank;
    for (int d = 0; same && d < value->rank; d++) same = value->shape[d] == n->type.dims[d];
    if (!same) {
        char want[96];
        return gc_failf(err, GC_ERR_USER, "%s '%s' has type %s but the value given has another shape (rank %d)",
                        gc_op_table[n->op].name, name, gc_type_format(&n->type, want, sizeof want), value->rank);
    }
    store(n, value, j->arena + j->layout.offsets[n->id]);
    j->has_value[n->id] = true;
    return 1;
}

void *gc_jit_source(gc_jit *j, const char *name) {
    const gc_node *n = find_source(j, name);
    if (!n) return NULL;
    j->has_value[n->id] = true;
    return j->arena + j->layout.offsets[n->id];
}

int gc_jit_run(gc_jit *j, gc_error *err) {
    if (!j) return gc_failf(err, GC_ERR_INTERNAL, "internal error: gc_jit_run: no executor");
    j->ran = j->pending = false;
    if (j->graph->num_nodes != j->num_nodes)
        return gc_failf(err, GC_ERR_INTERNAL, "internal error: the graph gained nodes after it was compiled");
    for (int i = 0; i < j->num_nodes; i++) {
        const gc_node *n = j->graph->nodes[i];
        if (is_source(n) && !j->has_value[i])
            return gc_fail(err, GC_ERR_USER, n->loc, "%s '%s' has no value", gc_op_table[n->op].name, n->name);
    }
    uint32_t mode = gc_pool_enter(j->pool);
    gc_codegen_jit_run(j->code, GC_CODEGEN_STEP, j->arena, j->pool);
    gc_pool_leave(mode);
    j->ran = j->pending = true;
    return 1;
}

const void *gc_jit_value(const gc_jit *j, const gc_node *node) {
    if (!j || !node || !j->ran || node->id < 0 || node->id >= j->num_nodes) return NULL;
    if (j->graph->nodes[node->id] != node || j->layout.offsets[node->id] < 0 || !j->layout.kept[node->id])
        return NULL;
    /* A view or a value written through strides is not a dense value of its own. */
    if ((j->layout.viewed && j->layout.viewed[node->id]) || (j->layout.strided && j->layout.strided[node->id]))
        return NULL;
    return j->arena + j->layout.offsets[node->id];
}

const void *gc_jit_output(const gc_jit *j, gc_output_kind kind, const char *name) {
    if (!j || !name) return NULL;
    const gc_graph_output *o = gc_graph_find_output(j->graph, kind, name);
    return o ? gc_jit_value(j, o->value) : NULL;
}

int gc_jit_apply_updates(gc_jit *j, gc_error *err) {
    if (!j) return gc_failf(err, GC_ERR_INTERNAL, "internal error: gc_jit_apply_updates: no executor");
    if (!j->ran) return gc_failf(err, GC_ERR_USER, "no updates to apply: the graph has not been run");
    /* Update kernels run once per run: they read the params they overwrite. */
    if (j->pending) {
        uint32_t mode = gc_pool_enter(j->pool);
        gc_codegen_jit_run(j->code, GC_CODEGEN_UPDATE, j->arena, j->pool);
        gc_pool_leave(mode);
    }
    j->pending = false;
    gc_update_plan_apply(&j->updates, j->arena);
    for (int i = 0; i < j->updates.count; i++) j->has_value[j->updates.copies[i].target->id] = true;
    /* Computed values keep what the step made (no value or gradient output shares a source's
     * storage; an update in place is its target's bytes, now its new value), so the loss and
     * metrics stay readable after the update, as in the interpreter. */
    return 1;
}

const gc_graph *gc_jit_graph(const gc_jit *j) { return j ? j->graph : NULL; }

const gc_codegen_times *gc_jit_times(const gc_jit *j) { return j ? &j->times : NULL; }
