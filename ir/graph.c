/* graph.c: the op table expanded from ops.def, graph construction and outputs. */
#include "ir/graph.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GC_OP(E, n, arity, attr, cls, flags, shape, grad, doc) int gc_shape_##shape(const gc_node *, gc_type *, gc_error *);
#include "ir/ops.def"
#undef GC_OP

const gc_op_info gc_op_table[GC_OP_COUNT] = {
#define GC_OP(E, n, ar, attr, cls, fl, shape, grad, doc) \
    [GC_OP_##E] = {#n, ar, GC_ATTR_##attr, GC_CLASS_##cls, fl, gc_shape_##shape, doc},
#include "ir/ops.def"
#undef GC_OP
};

const gc_attr_field gc_attr_fields[] = {
#define F(member, ctype, name, kind) {GC_ATTR_MEMBER_##member, #name, GC_FIELD_##kind, offsetof(gc_attr, member.name)},
#define GC_ATTR(K, member, fields) fields
#include "ir/attrs.def"
#undef GC_ATTR
#undef F
};
const int gc_attr_field_count = (int)(sizeof gc_attr_fields / sizeof gc_attr_fields[0]);

const gc_op_info *gc_op_get(gc_op op) {
    return (unsigned)op < GC_OP_COUNT ? &gc_op_table[op] : NULL;
}

bool gc_op_from_name(const char *name, size_t len, gc_op *out) {
    for (int i = 0; i < GC_OP_COUNT; i++) {
        if (strlen(gc_op_table[i].name) == len && memcmp(gc_op_table[i].name, name, len) == 0) {
            *out = (gc_op)i;
            return true;
        }
    }
    return false;
}

const char *gc_op_class_name(gc_op_class cls) {
    static const char *names[] = {"source", "elementwise", "reduction", "gemm", "movement", "loop"};
    return (unsigned)cls < sizeof names / sizeof names[0] ? names[cls] : "?";
}

const char *gc_attr_kind_name(gc_attr_kind kind) {
    static const char *names[] = {
#define GC_ATTR(K, member, fields) #member,
#include "ir/attrs.def"
#undef GC_ATTR
    };
    return (unsigned)kind < GC_ATTR_COUNT ? names[kind] : "?";
}

gc_graph *gc_graph_new(const char *name) {
    gc_arena *arena = gc_arena_new();
    if (!arena) return NULL;
    gc_graph *g = gc_arena_alloc(arena, sizeof *g);
    if (!g) {
        gc_arena_free(arena);
        return NULL;
    }
    g->arena = arena;
    g->name = gc_arena_strdup(arena, name ? name : "main");
    if (!g->name) {
        gc_arena_free(arena);
        return NULL;
    }
    return g;
}

void gc_graph_free(gc_graph *g) {
    if (g) gc_arena_free(g->arena);
}

static int out_of_memory(gc_error *err) { return gc_failf(err, GC_ERR_MEMORY, "out of memory"); }

/* ---- name indexes ---- */

static uint32_t name_hash(int kind, const char *name) {
    uint32_t h = 2166136261u ^ (uint32_t)kind; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * 16777619u;
    return h;
}

static gc_node *named_at(const gc_graph *g, int slot) { return g->nodes[g->named_slots[slot] - 1]; }

/* The slot holding (op, name), or the empty slot where it would go; -1 when there is no index. */
static int named_slot(const gc_graph *g, gc_op op, const char *name) {
    if (!g->num_named_slots) return -1;
    uint32_t mask = (uint32_t)g->num_named_slots - 1;
    for (uint32_t i = name_hash((int)op, name) & mask;; i = (i + 1) & mask) {
        if (!g->named_slots[i]) return (int)i;
        gc_node *n = named_at(g, (int)i);
        if (n->op == op && strcmp(n->name, name) == 0) return (int)i;
    }
}

/* Indexes named node n unless an earlier node has its op and name (lookups return the first). */
static int index_named(gc_graph *g, gc_node *n) {
    if (2 * (g->num_named + 1) > g->num_named_slots) {
        int cap = g->num_named_slots ? 2 * g->num_named_slots : 64;
        int *slots = gc_arena_alloc(g->arena, sizeof *slots * (size_t)cap);
        if (!slots) return 0;
        memset(slots, 0, sizeof *slots * (size_t)cap);
        int *old = g->named_slots, old_cap = g->num_named_slots;
        g->named_slots = slots;
        g->num_named_slots = cap;
        for (int i = 0; i < old_cap; i++) {
            if (!old[i]) continue;
            gc_node *m = g->nodes[old[i] - 1];
            slots[named_slot(g, m->op, m->name)] = old[i];
        }
    }
    int slot = named_slot(g, n->op, n->name);
    if (!g->named_slots[slot]) {
        g->named_slots[slot] = n->id + 1;
        g->num_named++;
    }
    return 1;
}

static int output_slot(const gc_graph *g, gc_output_kind kind, const char *name) {
    if (!g->num_output_slots) return -1;
    uint32_t mask = (uint32_t)g->num_output_slots - 1;
    for (uint32_t i = name_hash((int)kind, name) & mask;; i = (i + 1) & mask) {
        int k = g->output_slots[i];
        if (!k) return (int)i;
        if (g->outputs[k - 1].kind == kind && strcmp(g->outputs[k - 1].name, name) == 0) return (int)i;
    }
}

/* Indexes output k (already in g->outputs, its name unique for its kind). */
static int index_output(gc_graph *g, int k) {
    if (2 * (k + 1) > g->num_output_slots) {
        int cap = g->num_output_slots ? 2 * g->num_output_slots : 64;
        int *slots = gc_arena_alloc(g->arena, sizeof *slots * (size_t)cap);
        if (!slots) return 0;
        memset(slots, 0, sizeof *slots * (size_t)cap);
        g->output_slots = slots;
        g->num_output_slots = cap;
        for (int i = 0; i < k; i++)
            slots[output_slot(g, g->outputs[i].kind, g->outputs[i].name)] = i + 1;
    }
    g->output_slots[output_slot(g, g->outputs[k].kind, g->outputs[k].name)] = k + 1;
    return 1;
}

gc_node *gc_graph_make(gc_graph *g, gc_op op, gc_node *const *inputs, int num_inputs,
                       const gc_attr *attr, const gc_type *type, const char *name, gc_loc loc,
                       gc_error *err) {
    const gc_op_info *info = gc_op_get(op);
    if (!info) {
        gc_fail(err, GC_ERR_INTERNAL, loc, "internal error: unknown op %d", (int)op);
        return NULL;
    }
    if (info->arity >= 0 ? num_inputs != info->arity : num_inputs < 1) {
        gc_fail(err, GC_ERR_USER, loc, "%s: expects %s%d operand%s, got %d", info->name,
                info->arity < 0 ? "at least " : "", info->arity < 0 ? 1 : info->arity,
                (info->arity == 1 || info->arity < 0) ? "" : "s", num_inputs);
        return NULL;
    }
    for (int i = 0; i < num_inputs; i++) {
        if (!inputs[i]) {
            gc_fail(err, GC_ERR_INTERNAL, loc, "internal error: %s: operand %d is NULL", info->name, i);
            return NULL;
        }
    }
    if ((info->flags & GC_FLAG_GIVEN) && !type) {
        gc_fail(err, GC_ERR_INTERNAL, loc, "internal error: %s needs a stated result type", info->name);
        return NULL;
    }
    if (type && (type->rank < 0 || type->rank > GC_MAX_RANK)) {
        gc_fail(err, GC_ERR_USER, loc, "%s: rank %d is outside 0..%d", info->name, type->rank, GC_MAX_RANK);
        return NULL;
    }
    if ((info->flags & GC_FLAG_NAMED) && (!name || !*name)) {
        gc_fail(err, GC_ERR_USER, loc, "%s: needs a name", info->name);
        return NULL;
    }

    gc_node *n = gc_arena_alloc(g->arena, sizeof *n);
    if (!n) return out_of_memory(err), NULL;
    n->op = op;
    n->recomputed = false;
    n->loc = loc;
    n->loc.file = loc.file ? gc_arena_strdup(g->arena, loc.file) : NULL;
    if (loc.file && !n->loc.file) return out_of_memory(err), NULL;
    if (g->layer && *g->layer) {
        if (!g->layer_copy || strcmp(g->layer_copy, g->layer))
            if (!(g->layer_copy = gc_arena_strdup(g->arena, g->layer))) return out_of_memory(err), NULL;
        n->layer = g->layer_copy;
    }
    if (attr) n->attr = *attr;
    if (type) n->type = *type;
    n->num_inputs = num_inputs;
    if (num_inputs) {
        n->inputs = gc_arena_alloc(g->arena, sizeof *n->inputs * (size_t)num_inputs);
        if (!n->inputs) return out_of_memory(err), NULL;
        memcpy(n->inputs, inputs, sizeof *n->inputs * (size_t)num_inputs);
    }
    if (info->flags & GC_FLAG_NAMED) {
        n->name = gc_arena_strdup(g->arena, name);
        if (!n->name) return out_of_memory(err), NULL;
    }

    gc_type result;
    if (!info->shape(n, &result, err)) {
        if (err && err->line == 0 && loc.line) {
            err->line = loc.line;
            err->col = loc.col;
            if (loc.file) snprintf(err->file, sizeof err->file, "%s", loc.file);
        }
        return NULL;
    }
    for (int i = 0; i < result.rank; i++) {
        if (result.dims[i] < 1) {
            gc_fail(err, GC_ERR_USER, loc, "%s: dimension %d of the result is %lld; every dimension must be at least 1",
                    info->name, i, (long long)result.dims[i]);
            return NULL;
        }
    }
    if (gc_type_numel(&result) > GC_MAX_ELEMENTS) {
        gc_fail(err, GC_ERR_USER, loc, "%s: result has more than 2^40 elements", info->name);
        return NULL;
    }
    n->type = result;

    if (g->max_nodes > 0 && g->num_nodes >= g->max_nodes) {
        gc_fail(err, GC_ERR_USER, loc, "%s is too large: more than %d graph nodes (the limit keeps checking any model "
                "under a second; docs/language.md, \"Limits\")%s",
                g->max_nodes_what ? g->max_nodes_what : "the graph", g->max_nodes,
                loc.line ? "; this line's nodes crossed it" : "");
        return NULL;
    }
    if (g->num_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? g->cap_nodes * 2 : 64;
        gc_node **nodes = gc_arena_grow(g->arena, g->nodes, sizeof *nodes * (size_t)g->num_nodes,
                                        sizeof *nodes * (size_t)cap);
        if (!nodes) return out_of_memory(err), NULL;
        g->nodes = nodes;
        g->cap_nodes = cap;
    }
    n->id = g->num_nodes;
    g->nodes[g->num_nodes++] = n;
    if (n->name && !index_named(g, n)) {
        g->num_nodes--;
        return out_of_memory(err), NULL;
    }
    return n;
}

gc_node *gc_graph_find_named(const gc_graph *g, gc_op op, const char *name) {
    int slot = named_slot(g, op, name);
    return slot >= 0 && g->named_slots[slot] ? named_at(g, slot) : NULL;
}

gc_node *gc_graph_find_update_target(const gc_graph *g, const char *name) {
    gc_node *t = gc_graph_find_named(g, GC_OP_PARAM, name);
    if (!t) t = gc_graph_find_named(g, GC_OP_STATE, name);
    if (!t) t = gc_graph_find_named(g, GC_OP_BUFFER, name);
    return t;
}

gc_node *gc_graph_find_source(const gc_graph *g, const char *name) {
    gc_node *first = NULL;
    for (int op = 0; op < GC_OP_COUNT; op++) {
        if (!(gc_op_table[op].flags & GC_FLAG_NAMED)) continue;
        gc_node *n = gc_graph_find_named(g, (gc_op)op, name);
        if (n && (!first || n->id < first->id)) first = n;
    }
    return first;
}

gc_graph_output *gc_graph_find_output(const gc_graph *g, gc_output_kind kind, const char *name) {
    int slot = output_slot(g, kind, name);
    return slot >= 0 && g->output_slots[slot] ? &g->outputs[g->output_slots[slot] - 1] : NULL;
}

const char *gc_output_kind_name(gc_output_kind kind) {
    switch (kind) {
    case GC_OUTPUT_VALUE: return "output";
    case GC_OUTPUT_UPDATE: return "update";
    case GC_OUTPUT_GRAD: return "grad";
    }
    return "?";
}

int gc_graph_add_output(gc_graph *g, gc_output_kind kind, const char *name, gc_node *value,
                        gc_error *err) {
    if (!name || !*name || !value)
        return gc_failf(err, GC_ERR_INTERNAL, "internal error: output needs a name and a value");
    if (gc_graph_find_output(g, kind, name))
        return gc_fail(err, GC_ERR_USER, value->loc, "%s '%s' is defined twice",
                       gc_output_kind_name(kind), name);
    if (kind != GC_OUTPUT_VALUE) {
        gc_node *target = kind == GC_OUTPUT_UPDATE ? gc_graph_find_update_target(g, name)
                                                   : gc_graph_find_named(g, GC_OP_PARAM, name);
        if (!target)
            return gc_fail(err, GC_ERR_USER, value->loc, "%s '%s' names no %s", gc_output_kind_name(kind),
                           name, kind == GC_OUTPUT_UPDATE ? "param, state or buffer" : "param");
        if (!gc_type_equal(&target->type, &value->type)) {
            char a[96], b[96];
            return gc_fail(err, GC_ERR_USER, value->loc, "%s '%s': value is %s but the %s is %s",
                           gc_output_kind_name(kind), name, gc_type_format(&value->type, a, sizeof a),
                           gc_op_table[target->op].name, gc_type_format(&target->type, b, sizeof b));
        }
    }
    if (g->num_outputs == g->cap_outputs) {
        int cap = g->cap_outputs ? g->cap_outputs * 2 : 16;
        gc_graph_output *outs = gc_arena_grow(g->arena, g->outputs, sizeof *outs * (size_t)g->num_outputs,
                                              sizeof *outs * (size_t)cap);
        if (!outs) return out_of_memory(err);
        g->outputs = outs;
        g->cap_outputs = cap;
    }
    gc_graph_output *o = &g->outputs[g->num_outputs];
    o->kind = kind;
    o->name = gc_arena_strdup(g->arena, name);
    o->value = value;
    if (!o->name || !index_output(g, g->num_outputs)) return out_of_memory(err);
    g->num_outputs++;
    return 1;
}
