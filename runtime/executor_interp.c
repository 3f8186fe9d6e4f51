/*
 * executor_interp.c: the executor interface over the reference interpreter. The interpreter keeps
 * doubles; this wrapper keeps the typed host storage the interface promises and converts on the
 * way in (before each run) and out (outputs after run, updates on apply).
 */
#include <stdlib.h>
#include <string.h>

#include "runtime/executor.h"
#include "runtime/interp.h"

typedef struct typed_buffer {
    const char *name;
    gc_output_kind kind; /* for outputs */
    const gc_node *node;
    void *data;
} typed_buffer;

typedef struct interp_executor {
    const gc_graph *graph;
    gc_interp *interp;
    typed_buffer *sources, *outputs;
    int num_sources, num_outputs;
    int *source_of; /* per node id: its index in sources, -1 for unnamed nodes */
} interp_executor;

static void *alloc_typed(const gc_type *t) {
    size_t n = (size_t)gc_type_numel(t);
    return calloc(n ? n : 1, gc_dtype_size(t->dtype));
}

static void to_typed(const double *in, const gc_type *t, void *out) {
    int64_t n = gc_type_numel(t);
    if (t->dtype == GC_F32)
        for (int64_t i = 0; i < n; i++) ((float *)out)[i] = (float)in[i];
    else if (t->dtype == GC_I32)
        for (int64_t i = 0; i < n; i++) ((int32_t *)out)[i] = (int32_t)in[i];
    else
        memcpy(out, in, sizeof(double) * (size_t)n);
}

static void destroy(void *impl) {
    interp_executor *x = impl;
    if (!x) return;
    for (int i = 0; i < x->num_sources; i++) free(x->sources[i].data);
    for (int i = 0; i < x->num_outputs; i++) free(x->outputs[i].data);
    free(x->sources);
    free(x->outputs);
    free(x->source_of);
    gc_interp_free(x->interp);
    free(x);
}

static void *create(const gc_graph *g, const gc_executor_config *config, gc_error *err) {
    interp_executor *x = calloc(1, sizeof *x);
    if (!x) return gc_failf(err, GC_ERR_MEMORY, "out of memory"), NULL;
    x->graph = g;
    x->interp = gc_interp_new(g, GC_INTERP_F32, err);
    if (x->interp && config->hooks && !gc_interp_set_hooks(x->interp, config->hooks, err)) {
        destroy(x);
        return NULL;
    }
    x->sources = calloc((size_t)g->num_nodes + 1, sizeof *x->sources);
    x->outputs = calloc((size_t)g->num_outputs + 1, sizeof *x->outputs);
    x->source_of = malloc(((size_t)g->num_nodes + 1) * sizeof *x->source_of);
    if (!x->interp || !x->sources || !x->outputs || !x->source_of) goto fail;
    for (int i = 0; i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        x->source_of[i] = -1;
        if (!(gc_op_table[n->op].flags & GC_FLAG_NAMED)) continue;
        x->source_of[i] = x->num_sources;
        typed_buffer *b = &x->sources[x->num_sources++];
        b->name = n->name;
        b->node = n;
        if (!(b->data = alloc_typed(&n->type))) goto fail;
    }
    for (int i = 0; i < g->num_outputs; i++) {
        typed_buffer *b = &x->outputs[x->num_outputs++];
        b->name = g->outputs[i].name;
        b->kind = g->outputs[i].kind;
        b->node = g->outputs[i].value;
        if (!(b->data = alloc_typed(&b->node->type))) goto fail;
    }
    return x;
fail:
    if (err && err->code == GC_OK) gc_failf(err, GC_ERR_MEMORY, "out of memory");
    destroy(x);
    return NULL;
}

static void *source(void *impl, const char *name) {
    interp_executor *x = impl;
    const gc_node *n = gc_graph_find_source(x->graph, name);
    return n && x->source_of[n->id] >= 0 ? x->sources[x->source_of[n->id]].data : NULL;
}

static int run(void *impl, gc_error *err) {
    interp_executor *x = impl;
    for (int i = 0; i < x->num_sources; i++) {
        const gc_node *n = x->sources[i].node;
        gc_tensor t = {n->type.dtype, n->type.rank, {0}, x->sources[i].data};
        memcpy(t.shape, n->type.dims, sizeof t.shape);
        if (!gc_interp_set(x->interp, n->name, &t, err)) return 0;
    }
    if (!gc_interp_run(x->interp, err)) return 0;
    for (int i = 0; i < x->num_outputs; i++)
        to_typed(gc_interp_value(x->interp, x->outputs[i].node), &x->outputs[i].node->type, x->outputs[i].data);
    return 1;
}

static const void *output(void *impl, gc_output_kind kind, const char *name) {
    interp_executor *x = impl;
    for (int i = 0; i < x->num_outputs; i++)
        if (x->outputs[i].kind == kind && !strcmp(x->outputs[i].name, name)) return x->outputs[i].data;
    return NULL;
}

static int apply(void *impl, gc_error *err) {
    interp_executor *x = impl;
    for (int i = 0; i < x->num_outputs; i++) {
        if (x->outputs[i].kind != GC_OUTPUT_UPDATE) continue;
        void *dst = source(x, x->outputs[i].name);
        if (!dst) return gc_failf(err, GC_ERR_INTERNAL, "internal error: update '%s' has no source", x->outputs[i].name);
        const gc_type *t = &x->outputs[i].node->type;
        memcpy(dst, x->outputs[i].data, (size_t)gc_type_numel(t) * gc_dtype_size(t->dtype));
    }
    return 1;
}

const gc_executor_ops gc_executor_interp = {"interp", create, destroy, source, run, output, apply, NULL, NULL, NULL, NULL};
