/*
 * graph.h: the tensor-op graph, the IR every stage of gradc reads and writes.
 *
 * ir/ owns the op table (ops.def), typed attributes (attrs.def), static types, the graph and its
 * builder, shape rules, the textual printer and parser, the verifier and the pass manager. It
 * depends on nothing else in the project.
 *
 * A graph is a list of nodes in SSA order: every node produces one value and names its operands,
 * which come earlier in the list (the builder only appends, so the order is topological by
 * construction). Graph outputs name values the caller wants back: reported values (the loss,
 * metrics) and updates (the new value of a param, state or buffer, written back after a step).
 * Everything lives in the graph's arena and is freed by gc_graph_free.
 */
#ifndef GC_IR_GRAPH_H
#define GC_IR_GRAPH_H

#include <stdbool.h>
#include <stdint.h>

#include "ir/arena.h"
#include "ir/diag.h"
#include "ir/types.h"

typedef int gc_perm[GC_MAX_RANK];
/* Per spatial dim of an [N, C, *spatial] operand (convolution and pooling windows): entry d is
 * spatial dim d; only the operand's rank - 2 entries carry meaning. */
#define GC_MAX_SPATIAL 3
typedef int64_t gc_spatial[GC_MAX_SPATIAL];

typedef enum gc_op {
#define GC_OP(E, name, arity, attr, cls, flags, shape, grad, doc) GC_OP_##E,
#include "ir/ops.def"
#undef GC_OP
    GC_OP_COUNT
} gc_op;

typedef enum gc_attr_kind {
/* GC_ATTR_MEMBER_<member> aliases each kind so F(member, ...) rows can name their kind. */
#define GC_ATTR(K, member, fields) GC_ATTR_##K, GC_ATTR_MEMBER_##member = GC_ATTR_##K,
#include "ir/attrs.def"
#undef GC_ATTR
    GC_ATTR_COUNT
} gc_attr_kind;

/* One struct per attribute kind, generated from attrs.def. */
#define F(member, ctype, name, kind) ctype name;
#define GC_ATTR(K, member, fields) typedef struct gc_attr_##member { char unused_; fields } gc_attr_##member;
#include "ir/attrs.def"
#undef GC_ATTR
#undef F

typedef union gc_attr {
#define GC_ATTR(K, member, fields) gc_attr_##member member;
#include "ir/attrs.def"
#undef GC_ATTR
} gc_attr;

/* How a field is written in text; see attrs.def. */
typedef enum gc_field_kind {
    GC_FIELD_INT,
    GC_FIELD_INT64,
    GC_FIELD_BOOL,
    GC_FIELD_DOUBLE,
    GC_FIELD_AXES,
    GC_FIELD_PERM,
    GC_FIELD_SPATIAL,
    GC_FIELD_FLAG, /* a bool written only when true; absent means false */
} gc_field_kind;

typedef struct gc_attr_field {
    gc_attr_kind kind;
    const char *name;
    gc_field_kind field_kind;
    size_t offset; /* within gc_attr */
} gc_attr_field;

/* Every field of every attribute kind, in attrs.def order; count in gc_attr_field_count. */
extern const gc_attr_field gc_attr_fields[];
extern const int gc_attr_field_count;
const char *gc_attr_kind_name(gc_attr_kind kind);

/* The fusion class decides which kernel kind an op can join. */
typedef enum gc_op_class {
    GC_CLASS_SOURCE,
    GC_CLASS_ELEMENTWISE,
    GC_CLASS_REDUCTION,
    GC_CLASS_GEMM,
    GC_CLASS_MOVEMENT,
    GC_CLASS_LOOP, /* a loop over time inside one kernel (recurrence); never fused */
} gc_op_class;

enum {
    GC_FLAG_DIFF = 1u << 0,
    GC_FLAG_GIVEN = 1u << 1,
    GC_FLAG_NAMED = 1u << 2,
    GC_FLAG_COMMUTES = 1u << 3,
};

typedef struct gc_node gc_node;

/* A shape rule: computes the result type of `node` from its operands and attributes (for GIVEN
 * ops, node->type already holds the stated type and the rule checks it). Fills err on failure. */
typedef int (*gc_shape_rule)(const gc_node *node, gc_type *out, gc_error *err);

typedef struct gc_op_info {
    const char *name;
    int arity;
    gc_attr_kind attr_kind;
    gc_op_class op_class;
    unsigned flags;
    gc_shape_rule shape;
    const char *doc;
} gc_op_info;

extern const gc_op_info gc_op_table[GC_OP_COUNT];
const gc_op_info *gc_op_get(gc_op op);
/* Looks an op up by its textual name; false when there is none. */
bool gc_op_from_name(const char *name, size_t len, gc_op *out);
const char *gc_op_class_name(gc_op_class cls);

struct gc_node {
    int id;           /* position in graph->nodes; the %N of textual IR */
    gc_op op;
    int num_inputs;
    gc_node **inputs;
    gc_type type;
    gc_attr attr;
    const char *name; /* input, param, state and buffer names; NULL otherwise */
    gc_loc loc;       /* the model-file (or IR-file) line that made this node */
    const char *layer; /* the layer or def call that made it ("h.3.attn"), or NULL: `layer("...")` in
                          textual IR; gradients and updates carry their forward node's or param's */
    bool recomputed;  /* a forward value computed again in backward (passes/recompute.h): CSE
                         keeps it apart from the original; printed as `recompute` */
};

typedef enum gc_output_kind {
    GC_OUTPUT_VALUE,  /* reported to the caller: "loss", metrics, predictions */
    GC_OUTPUT_UPDATE, /* the new value of the param, state or buffer of the same name */
    GC_OUTPUT_GRAD,   /* the gradient of the loss with respect to the param of the same name */
} gc_output_kind;

/* "output", "update", "grad": the keyword of each kind in textual IR. */
const char *gc_output_kind_name(gc_output_kind kind);

typedef struct gc_graph_output {
    gc_output_kind kind;
    const char *name;
    gc_node *value;
} gc_graph_output;

typedef struct gc_graph {
    gc_arena *arena;
    const char *name;
    gc_node **nodes;
    int num_nodes, cap_nodes;
    gc_graph_output *outputs;
    int num_outputs, cap_outputs;
    /* Hash indexes (open addressing, sizes powers of two, 0 = empty) over the named nodes, by
     * (op, name), and over the outputs, by (kind, name): each slot holds an index + 1. Lookups
     * by name come from autodiff, the optimizer, every pass's rebuild and the parser, once per
     * parameter, so a scan per lookup made compiling quadratic in depth. */
    int *named_slots, num_named_slots, num_named;
    int *output_slots, num_output_slots;
    /* Set by passes/update_order.c: the optimizer's updates are placed right after their
     * gradients in the node order, and the plan (passes/plan.h) keeps no gradient past its
     * update; the step proper then ends with the forward's reported values (the loss), and
     * backward, updates and the values that read gradients (grad_norm) run at apply. */
    bool updates_in_backward;
    /* Stamped as `layer` on every node gc_graph_make makes while set (the lowering sets it around a
     * layer or def call, autodiff to each forward node's); layer_copy is the arena copy of the last
     * stamped path, shared by the nodes that follow while it stays the same. */
    const char *layer;
    const char *layer_copy;
    /* When > 0, gc_graph_make refuses to grow the graph past this many nodes, with an error at
     * the location of the node that would cross it; max_nodes_what says what is too large. The
     * trainer bounds the training step this way (frontend/lower.h, GC_LOWER_MAX_NODES). Not
     * copied by gc_graph_rebuild. */
    int max_nodes;
    const char *max_nodes_what;
} gc_graph;

gc_graph *gc_graph_new(const char *name);
void gc_graph_free(gc_graph *g);

/* The one way to make a node. Checks arity, attribute ranges, operand dtypes and shapes through
 * the op's shape rule. For GIVEN ops `type` is the result type; for others pass NULL. `name` is
 * for NAMED ops (copied into the arena). On failure returns NULL with err located at `loc`. */
gc_node *gc_graph_make(gc_graph *g, gc_op op, gc_node *const *inputs, int num_inputs,
                       const gc_attr *attr, const gc_type *type, const char *name, gc_loc loc,
                       gc_error *err);

/* Adds an output. Names are unique per kind; an update must name an existing param, state or
 * buffer of the same type, a grad an existing param of the same type. */
int gc_graph_add_output(gc_graph *g, gc_output_kind kind, const char *name, gc_node *value,
                        gc_error *err);

/* The input, param, state or buffer node of that name, or NULL. */
gc_node *gc_graph_find_named(const gc_graph *g, gc_op op, const char *name);
/* The first node in graph order, of any named op (input, param, state, buffer), with that name,
 * or NULL: what the executors look sources up by, in constant time. */
gc_node *gc_graph_find_source(const gc_graph *g, const char *name);
/* What an update output of that name writes: the param, state or buffer of the name, or NULL. */
gc_node *gc_graph_find_update_target(const gc_graph *g, const char *name);
/* The output of that kind and name, or NULL. */
gc_graph_output *gc_graph_find_output(const gc_graph *g, gc_output_kind kind, const char *name);

#endif
