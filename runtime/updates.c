/* updates.c: planned update copies; see updates.h. */
#include "runtime/updates.h"

#include <stdlib.h>
#include <string.h>

int gc_update_plan_make(const gc_graph *g, const int64_t *offsets, gc_update_plan *p, gc_error *err) {
    memset(p, 0, sizeof *p);
    p->copies = calloc((size_t)(g->num_outputs ? g->num_outputs : 1), sizeof *p->copies);
    if (!p->copies) return gc_failf(err, GC_ERR_MEMORY, "out of memory");
    for (int i = 0; i < g->num_outputs; i++) {
        const gc_graph_output *o = &g->outputs[i];
        if (o->kind != GC_OUTPUT_UPDATE) continue;
        const gc_node *target = gc_graph_find_update_target(g, o->name);
        if (!target || !gc_type_equal(&target->type, &o->value->type))
            return gc_failf(err, GC_ERR_INTERNAL, "internal error: update '%s' has no param or state of its type",
                            o->name);
        /* An update computed in its target's bytes (passes/plan.h, in place) needs no copy. */
        if (offsets[o->value->id] == offsets[target->id]) continue;
        gc_update_copy *u = &p->copies[p->count++];
        u->src = offsets[o->value->id];
        u->dst = offsets[target->id];
        u->bytes = gc_type_numel(&target->type) * (int64_t)gc_dtype_size(target->type.dtype);
        u->stage = -1;
        u->target = target;
    }
    int64_t staged = 0;
    for (int i = 0; i < p->count; i++) {
        gc_update_copy *u = &p->copies[i];
        for (int k = 0; k < p->count; k++) {
            if (k != i && p->copies[k].dst == u->src) {
                u->stage = staged;
                staged += u->bytes;
                break;
            }
        }
    }
    if (staged && !(p->staging = malloc((size_t)staged))) return gc_failf(err, GC_ERR_MEMORY, "out of memory");
    p->staging_bytes = staged;
    return 1;
}

void gc_update_plan_apply(const gc_update_plan *p, char *arena) {
    for (int i = 0; i < p->count; i++) {
        const gc_update_copy *u = &p->copies[i];
        if (u->stage >= 0) memcpy(p->staging + u->stage, arena + u->src, (size_t)u->bytes);
    }
    for (int i = 0; i < p->count; i++) {
        const gc_update_copy *u = &p->copies[i];
        const char *from = u->stage >= 0 ? p->staging + u->stage : arena + u->src;
        if (from != arena + u->dst) memcpy(arena + u->dst, from, (size_t)u->bytes);
    }
}

void gc_update_plan_free(gc_update_plan *p) {
    free(p->copies);
    free(p->staging);
    memset(p, 0, sizeof *p);
}
