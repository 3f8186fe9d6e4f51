/*
 * builtins.h: the signatures of the language's built-in functions, and argument binding.
 *
 * builtins.def is the one place the frontend learns a builtin's name, kind, parameters and
 * defaults; this header generates the enum from it and gives lookup, binding (positional and
 * keyword arguments to parameter slots, with located errors) and the typed default values. The
 * checker uses it to reject bad calls; the lowering to IR uses the same binding to read
 * arguments, so the two can never disagree about a signature.
 */
#ifndef GC_FRONTEND_BUILTINS_H
#define GC_FRONTEND_BUILTINS_H

#include <stdbool.h>

#include "frontend/ast.h"

typedef enum gc_builtin_id {
#define GC_BUILTIN(E, name, kind, flags, params, doc) GC_BUILTIN_##E,
#include "frontend/builtins.def"
#undef GC_BUILTIN
    GC_BUILTIN_COUNT
} gc_builtin_id;

typedef enum gc_builtin_kind {
    GC_BKIND_OP,
    GC_BKIND_LAYER,
    GC_BKIND_LOSS,
    GC_BKIND_INIT,
    GC_BKIND_OPTIMIZER,
    GC_BKIND_SCHEDULE,
} gc_builtin_kind;

/* Masks of kinds for lookups: the kinds an expression may call, and the others by place. */
#define GC_BMASK(kind) (1u << (kind))
#define GC_BMASK_EXPR (GC_BMASK(GC_BKIND_OP) | GC_BMASK(GC_BKIND_LAYER) | GC_BMASK(GC_BKIND_LOSS))
#define GC_BMASK_ALL 0x3Fu

/* GC_BFLAG_TUPLE: returns a tuple (only `A, B = ...` takes it apart). GC_BFLAG_STATES: returns a
 * tensor, or assigned to several names a tuple of it and its final states (recurrent layers). */
enum { GC_BFLAG_TUPLE = 1, GC_BFLAG_STATES = 2 };

/* What a parameter accepts; see builtins.def. */
typedef enum gc_barg_type {
    GC_BARG_TENSOR,
    GC_BARG_OPT_TENSOR,
    GC_BARG_TENSORS,
    GC_BARG_INT,
    GC_BARG_NUMBER,
    GC_BARG_BOOL,
    GC_BARG_STRING,
    GC_BARG_AXES,
    GC_BARG_INTS,
    GC_BARG_NUMBERS,
    GC_BARG_DTYPE,
    GC_BARG_OPT_INT, /* an integer or none (embedding's padding_idx) */
    GC_BARG_WEIGHTS, /* a tensor, a list of numbers (a constant f32 vector) or none: class weights */
    GC_BARG_SIZES,   /* an int or a list of ints: one for every spatial dim, or one each; also none
                        (or an empty list) where the default is none (a pool's stride: the kernel) */
    GC_BARG_PADDING, /* SIZES, or the string "same" or "valid" (torch's conv padding) */
} gc_barg_type;

typedef enum gc_bdefault_kind {
    GC_BDEF_REQUIRED,
    GC_BDEF_NONE,
    GC_BDEF_BOOL,
    GC_BDEF_INT,
    GC_BDEF_FLOAT,
    GC_BDEF_STRING,
    GC_BDEF_PAIR, /* a list of two numbers (betas) */
} gc_bdefault_kind;

typedef struct gc_builtin_param {
    const char *name;
    gc_barg_type type;
    gc_bdefault_kind dkind;
    double num, num2;    /* BOOL, INT, FLOAT and PAIR defaults */
    const char *str;     /* STRING default */
    const char *choices; /* allowed strings separated by '|', or NULL for any */
    bool kwonly;
} gc_builtin_param;

/* The most parameters any builtin has (a _Static_assert in builtins.c keeps it true). */
enum { GC_BUILTIN_MAX_PARAMS = 12 };

struct gc_builtin {
    gc_builtin_id id;
    const char *name;
    gc_builtin_kind kind;
    unsigned flags;
    const gc_builtin_param *params;
    int nparams;
    const char *doc;
};

/* Every builtin in builtins.def order, indexed by gc_builtin_id. */
extern const gc_builtin gc_builtins[GC_BUILTIN_COUNT];

/* The builtin called `name` among the kinds in `mask`, or NULL. */
const gc_builtin *gc_builtin_find(const char *name, unsigned mask);
/* The index of the parameter called `name`, or -1. */
int gc_builtin_param_index(const gc_builtin *b, const char *name);
const char *gc_builtin_kind_name(gc_builtin_kind kind);
/* "a tensor", "an integer", "a list of integers" ... for messages. */
const char *gc_barg_type_name(gc_barg_type type);

/* The value of an omitted optional parameter (lists are allocated in arena). 0 when the
 * parameter is required (nothing to fill) or memory runs out. */
int gc_builtin_default(const gc_builtin_param *p, gc_arena *arena, gc_const_value *out);

/* Whether a compile-time value suits a parameter. Tensors are not compile-time values and are
 * not judged here: a TENSOR parameter accepts a number (it becomes a scalar) and rejects strings,
 * booleans, none, lists and dtypes. */
bool gc_barg_accepts(const gc_builtin_param *p, const gc_const_value *v);
/* What p accepts, for messages: "an integer", "\"none\" or \"tanh\"" ... */
void gc_barg_describe(const gc_builtin_param *p, char *buf, size_t cap);

/* A signature in the form binding needs, shared by builtins and defs. */
typedef struct gc_bind_param {
    const char *name;
    bool required;
    bool kwonly;
} gc_bind_param;

/* Binds the arguments of `call` (a GC_EXPR_CALL) to n parameters: slots[i] becomes the argument
 * expression given for parameter i, or NULL when it was omitted (the default applies). Errors,
 * located at the offending argument or the callee: too many positional arguments, an unknown
 * keyword (the message lists the valid ones), a parameter given twice, a required one missing.
 * `what` names the callee in messages ("linear", "def 'block'"). */
int gc_bind_call(const char *what, const gc_bind_param *params, int n, const gc_ast_expr *call,
                 const gc_ast_expr **slots, gc_error *err);

/* gc_bind_call with b's signature; slots has room for GC_BUILTIN_MAX_PARAMS. */
int gc_builtin_bind(const gc_builtin *b, const gc_ast_expr *call, const gc_ast_expr **slots, gc_error *err);

#endif
