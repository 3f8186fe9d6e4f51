/*
 * lower_internal.h: what the files of the lowering (lower*.c) share; not for other modules.
 *
 * The lowering walks the checked AST once per model with an environment of scopes: the top level,
 * and one fresh scope per inlined def call. A name evaluates to a value (lval): a tensor (an IR
 * node), a compile-time constant (loop variables, const arguments of defs, literals), a tuple
 * (what split returns) or a list holding tensors (concat's argument).
 */
#ifndef GC_FRONTEND_LOWER_INTERNAL_H
#define GC_FRONTEND_LOWER_INTERNAL_H

#include "frontend/builtins.h"
#include "frontend/lower.h"

/* Nesting of expressions and inlined defs together; deeper means a pathological file, which gets
 * an error rather than a stack overflow. */
enum { GC_LOWER_MAX_DEPTH = 3000 };

typedef enum lval_kind {
    LV_CONST,  /* cv */
    LV_TENSOR, /* node */
    LV_TUPLE,  /* items: tensors, from split or a def returning one */
    LV_LIST,   /* items: a list literal with at least one tensor in it */
} lval_kind;

typedef struct lval {
    lval_kind kind;
    gc_node *node;
    gc_const_value cv;
    struct lval *items;
    int n;
} lval;

typedef struct lower_binding {
    const char *name;
    lval value;
    bool unbound; /* a loop variable after its loop: kept so that the scope's index stays valid */
} lower_binding;

/* Open-addressing index (slot = entry + 1, 0 empty) over a scope's names, made once the scope
 * holds more than a few: a file of 40,000 distinct names made lowering quadratic (8 s). */
typedef struct lower_name_index {
    int *slots;
    int cap; /* 0: no index yet, the few names are scanned */
} lower_name_index;

typedef struct lower_counter {
    const char *name;
    int64_t n;
} lower_counter;

/* One level of name lookup: the top level or one inlined def call. */
typedef struct lower_scope {
    const char *prefix;          /* the def instance's dotted name; "" at the top level */
    lower_binding *vars;
    int nvars, cap_vars;
    lower_name_index var_index;
    lower_counter *counters;     /* unnamed calls per layer kind or def, for `<layer>_<k>` */
    int ncounters, cap_counters;
    lower_name_index counter_index;
} lower_scope;

typedef struct lowerer {
    const gc_ast_module *m;
    gc_graph *g;
    gc_layer_context ctx; /* ctx.b: the graph, the location of the node being built, err */
    gc_error *err;
    gc_arena *scratch;    /* scopes, paths, evaluated lists; freed when lowering ends */
    lower_scope *scope;
    int depth;
    const gc_ast_expr *states_call; /* the call whose value `A, B (, C) = ` takes apart (rnn/lstm/gru) */
    struct lower_args *free_args;
    const char *file;     /* the model file's name, copied into the graph's arena */
    /* The call of `loss = LOSS(prediction, target, ...)` being lowered, and its first argument once
     * lowered: what a forward-only program returns (gc_lowered_model.prediction). */
    const gc_ast_expr *loss_call;
    gc_node *prediction;
} lowerer;

/* Sets the location stamped on the nodes built next (and on errors of the builders). The file
 * name is the graph's own copy, so the graph outlives the AST's arena. */
static inline void gc_lower_at(lowerer *L, gc_loc loc) {
    loc.file = L->file;
    L->ctx.b.loc = loc;
}

/* lower.c: scopes and naming. */
int gc_lower_bind(lowerer *L, const char *name, const lval *v);
const lval *gc_lower_lookup(const lowerer *L, const char *name);
/* The next `<kind>_<k>` counter value of the current scope. */
int64_t gc_lower_count(lowerer *L, const char *kind);
/* The dotted name of a call: the scope's prefix joined with `as PATH`, or with `<kind>_<k>`.
 * NULL with err set on failure. */
const char *gc_lower_call_name(lowerer *L, const gc_ast_expr *call, const char *kind);
/* prefix.name (or name at the top level), in the scratch arena. */
const char *gc_lower_join(lowerer *L, const char *prefix, const char *name);
/* Inlines a def call; *out is its return value. */
int gc_lower_def_call(lowerer *L, const gc_ast_expr *call, lval *out);

/* lower_expr.c: expressions and values. */
int gc_lower_expr(lowerer *L, const gc_ast_expr *e, lval *out);
/* A compile-time value of e (loop bounds, dims, `as` indices), reading loop variables and const
 * arguments from the scopes. */
int gc_lower_const(lowerer *L, const gc_ast_expr *e, gc_const_value *out);
/* The tensor of v; a number becomes a rank-0 constant of `dtype`. Fails, located at loc, for
 * anything else. `what` names the value in messages. */
gc_node *gc_lower_tensor(lowerer *L, const lval *v, gc_dtype dtype, gc_loc loc, const char *what);
/* "a tensor", "a tuple of 2 tensors", "a number" ... for messages. */
const char *gc_lower_describe(const lval *v, char *buf, size_t cap);

/* lower_call.c: calls of built-ins. Arguments are bound with gc_builtin_bind, lowered, and
 * checked against builtins.def before any op is built. */
typedef struct lower_args {
    struct lower_args *next; /* the lowerer's free list: calls nest, so few are ever live */
    const gc_builtin *fn;
    const gc_ast_expr *call;
    const gc_ast_expr *slots[GC_BUILTIN_MAX_PARAMS];
    lval vals[GC_BUILTIN_MAX_PARAMS];
} lower_args;

int gc_lower_builtin_call(lowerer *L, const gc_ast_expr *call, lval *out);
int gc_lower_bind_args(lowerer *L, const gc_ast_expr *call, lower_args *a);
/* Argument i as a tensor (numbers become scalars of dtype), an integer, a number, ... */
gc_node *gc_lower_arg_tensor(lowerer *L, lower_args *a, int i, gc_dtype dtype);
gc_node *gc_lower_arg_opt_tensor(lowerer *L, lower_args *a, int i);
int64_t gc_lower_arg_int(const lower_args *a, int i);
double gc_lower_arg_num(const lower_args *a, int i);
bool gc_lower_arg_bool(const lower_args *a, int i);
const char *gc_lower_arg_str(const lower_args *a, int i);
gc_loc gc_lower_arg_loc(const lower_args *a, int i);
/* An axis argument normalised against rank; 0 with a located error when out of range. */
int gc_lower_axis(lowerer *L, const lower_args *a, int i, int rank, int *axis);

/* lower_layers.c: layers, losses and initialisers. */
int gc_lower_layer(lowerer *L, lower_args *a, lval *out);
int gc_lower_loss(lowerer *L, lower_args *a, lval *out);
/* lower_conv.c: conv1d, conv2d and conv_transpose2d, named `path`. */
int gc_lower_conv(lowerer *L, lower_args *a, const char *path, lval *out);
/* The initialiser of `param NAME: TYPE = INIT(...)`, checked against the param's type. */
int gc_lower_init(lowerer *L, const gc_ast_expr *call, const gc_type *t, gc_init *out);

/* lower_ops.c: the built-in operations without parameters. */
int gc_lower_op(lowerer *L, lower_args *a, lval *out);
/* lower_pool.c: pooling, flatten and pad; -1 when a->fn is none of them. */
int gc_lower_pool_op(lowerer *L, lower_args *a, lval *out);
/* a @ b with numpy.matmul's treatment of rank-1 operands. */
gc_node *gc_lower_matmul(lowerer *L, gc_node *a, gc_node *b);

/* lower_activations.c: leaky_relu, elu, ..., glu and softplus with beta/threshold. */
bool gc_is_activation(gc_builtin_id id);
int gc_lower_activation(lowerer *L, lower_args *a, lval *out);

/* lower_onnx.c: onnx("file.onnx", x, ...) as NAME (frontend/onnx_import.h). */
int gc_lower_onnx(lowerer *L, lower_args *a, const char *path, lval *out);

/* lower_nn_extra.c: the losses and layers of wave 2 (prelu, bilinear). */
int gc_lower_loss_extra(lowerer *L, lower_args *a, lval *out);
/* A WEIGHTS argument: *w becomes NULL (none), the tensor, or an f32 vector of the listed numbers. */
int gc_lower_arg_weights(lowerer *L, lower_args *a, int i, gc_node **w);
int gc_lower_layer_extra(lowerer *L, lower_args *a, const char *path, lval *out);

/* lower_train.c: the train block into the optimizer's configuration. */
int gc_lower_train(const gc_ast_module *m, gc_graph *g, gc_lowered_train *out, gc_error *err);
/* After the model's params exist: every freeze and lr_scale pattern must match one, and freeze
 * must leave one unfrozen; errors at the key's value. */
int gc_lower_train_patterns(const gc_ast_module *m, const gc_graph *g, gc_error *err);

#endif
