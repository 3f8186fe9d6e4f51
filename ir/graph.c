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
    n->loc = loc;
    n->loc.file = loc.file ? gc_arena_strdup(g->arena, loc.file) : NULL;
    if (loc.file && !n->loc.file) return out_of_memory(err), NULL;
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
    return n;
}

gc_node *gc_graph_find_named(const gc_graph *g, gc_op op, const char *name) {
    for (int i = 0; i < g->num_nodes; i++) {
        gc_node *n = g->nodes[i];
        if (n->op == op && n->name && strcmp(n->name, name) == 0) return n;
    }
    return NULL;
}

gc_graph_output *gc_graph_find_output(const gc_graph *g, gc_output_kind kind, const char *name) {
    for (int i = 0; i < g->num_outputs; i++)
        if (g->outputs[i].kind == kind && strcmp(g->outputs[i].name, name) == 0) return &g->outputs[i];
    return NULL;
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
        gc_node *target = gc_graph_find_named(g, GC_OP_PARAM, name);
        if (!target && kind == GC_OUTPUT_UPDATE) target = gc_graph_find_named(g, GC_OP_STATE, name);
        if (!target)
            return gc_fail(err, GC_ERR_USER, value->loc, "%s '%s' names no %s", gc_output_kind_name(kind),
                           name, kind == GC_OUTPUT_UPDATE ? "param or state" : "param");
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
    if (!o->name) return out_of_memory(err);
    g->num_outputs++;
    return 1;
}
