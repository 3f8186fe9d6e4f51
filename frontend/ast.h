/*
 * ast.h: the syntax tree of a .gm model file.
 *
 * The parser builds it in a gc_arena (everything is freed with the arena); gc_frontend_check
 * (check.h) then resolves names and fills the fields marked "check:". The lowering to IR walks it
 * directly, so the shape is plain: arrays, not linked lists; one struct per node with a kind and
 * an anonymous union; every node carries the gc_loc of the token that best points at it (the
 * operator of a binary expression, the callee of a call, the first token of a statement).
 */
#ifndef GC_FRONTEND_AST_H
#define GC_FRONTEND_AST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ir/arena.h"
#include "ir/diag.h"

typedef struct gc_ast_expr gc_ast_expr;
typedef struct gc_ast_stmt gc_ast_stmt;
typedef struct gc_builtin gc_builtin; /* builtins.h */

/* Limits on the tree (the parser enforces them) so that walkers can recurse freely. */
enum {
    GC_AST_MAX_NODES = 1 << 20, /* expressions + statements in one file */
    GC_AST_MAX_HEIGHT = 500,    /* expression nesting, including long operator chains */
    GC_AST_MAX_LIST = 1 << 16,  /* items of one list, arguments of one call, steps of one path */
};

/* A compile-time value: what const statements, loop variables, default arguments and literal
 * arguments evaluate to. Lists own their items in an arena. */
typedef enum gc_cv_kind {
    GC_CV_INT,
    GC_CV_FLOAT,
    GC_CV_BOOL,
    GC_CV_STRING,
    GC_CV_NONE,
    GC_CV_LIST,
    GC_CV_DTYPE,
} gc_cv_kind;

typedef struct gc_const_value {
    gc_cv_kind kind;
    union {
        int64_t i;
        double f;
        bool b;
        const char *s;
        gc_dtype dtype;
        struct {
            struct gc_const_value *items;
            int n;
        } list;
    };
} gc_const_value;

typedef enum gc_expr_kind {
    GC_EXPR_INT,    /* ival */
    GC_EXPR_FLOAT,  /* fval */
    GC_EXPR_STRING, /* str */
    GC_EXPR_BOOL,   /* bval */
    GC_EXPR_NONE,
    GC_EXPR_NAME,   /* name */
    GC_EXPR_LIST,   /* list */
    GC_EXPR_NEG,    /* operand: unary minus */
    GC_EXPR_BINARY, /* bin */
    GC_EXPR_CALL,   /* call */
} gc_expr_kind;

/* Binary operators, with their spelling (for dumps and messages) and IR op name. */
#define GC_BINOPS(X)                                                                               \
    X(ADD, "+", "add")                                                                             \
    X(SUB, "-", "sub")                                                                             \
    X(MUL, "*", "mul")                                                                             \
    X(DIV, "/", "div")                                                                             \
    X(MATMUL, "@", "matmul")                                                                       \
    X(LT, "<", "lt")                                                                               \
    X(LE, "<=", "le")                                                                              \
    X(GT, ">", "gt")                                                                               \
    X(GE, ">=", "ge")                                                                              \
    X(EQ, "==", "eq")                                                                              \
    X(NE, "!=", "ne")

typedef enum gc_binop {
#define X(name, spelling, op) GC_BIN_##name,
    GC_BINOPS(X)
#undef X
        GC_BIN_COUNT
} gc_binop;

/* What a name refers to, filled by check. */
typedef enum gc_name_ref {
    GC_REF_UNRESOLVED,
    GC_REF_CONST,    /* decl is the GC_STMT_CONST; its cval holds the value */
    GC_REF_LOOP_VAR, /* decl is the GC_STMT_FOR */
    GC_REF_ARG,      /* an argument of the enclosing def; decl is the GC_STMT_DEF */
    GC_REF_VALUE,    /* a value bound by an assignment; decl is that statement */
    GC_REF_INPUT,    /* decl is the GC_STMT_INPUT */
    GC_REF_PARAM,    /* decl is the GC_STMT_PARAM */
    GC_REF_LOSS,     /* the objective, after `loss = ...` */
    GC_REF_DTYPE,    /* f32 or i32, as in cast(x, f32); dtype holds which */
} gc_name_ref;

typedef struct gc_ast_arg {
    const char *name; /* keyword, or NULL for a positional argument */
    gc_loc loc;       /* the keyword, or the value for positional arguments */
    gc_ast_expr *value;
} gc_ast_arg;

/* One step of an `as` path: `.name` or `[index]` (the first step is always a name). */
typedef struct gc_ast_path_part {
    const char *name;   /* NULL for an index step */
    gc_ast_expr *index; /* NULL for a name step */
    gc_loc loc;
} gc_ast_path_part;

typedef struct gc_ast_path {
    gc_ast_path_part *parts;
    int n;
    gc_loc loc;
} gc_ast_path;

struct gc_ast_expr {
    gc_expr_kind kind;
    gc_loc loc;
    int height; /* 1 for leaves; bounded by GC_AST_MAX_HEIGHT */
    union {
        int64_t ival;
        double fval;
        bool bval;
        struct {
            const char *text; /* decoded contents, NUL-terminated */
            size_t len;
        } str;
        struct {
            const char *id;
            gc_name_ref ref;   /* check: */
            gc_ast_stmt *decl; /* check: */
            gc_dtype dtype;    /* check: for GC_REF_DTYPE */
        } name;
        struct {
            gc_ast_expr **items;
            int n;
        } list;
        gc_ast_expr *operand;
        struct {
            gc_binop op;
            gc_ast_expr *lhs, *rhs;
        } bin;
        struct {
            const char *callee;
            gc_ast_arg *args;
            int nargs;
            gc_ast_path *as;           /* the `as PATH` name, or NULL */
            const gc_builtin *builtin; /* check: the built-in called, or NULL for a def */
            gc_ast_stmt *def;          /* check: the def called, or NULL for a built-in */
        } call;
    };
};

typedef enum gc_stmt_kind {
    GC_STMT_CONST,  /* const name = value */
    GC_STMT_INPUT,  /* input name: type */
    GC_STMT_PARAM,  /* param name: type = value (an initialiser call) */
    GC_STMT_ASSIGN, /* targets = value */
    GC_STMT_LOSS,   /* loss = value */
    GC_STMT_OUTPUT, /* output name = value */
    GC_STMT_DEF,    /* def name(args) { body } */
    GC_STMT_FOR,    /* for name in range(value) { body } */
    GC_STMT_TRAIN,  /* train { items } */
    GC_STMT_RETURN, /* return value */
} gc_stmt_kind;

typedef struct gc_ast_block {
    gc_ast_stmt **stmts;
    int n;
    gc_loc end; /* the closing brace (or the end of the file for the top level) */
} gc_ast_block;

typedef struct gc_ast_target {
    const char *name;
    gc_loc loc;
} gc_ast_target;

typedef struct gc_ast_def_arg {
    const char *name;
    gc_loc loc;
    gc_ast_expr *default_value; /* NULL when the argument is required */
    gc_const_value cval;        /* check: the default's value */
} gc_ast_def_arg;

typedef struct gc_ast_train_item {
    const char *key;
    gc_loc loc;
    gc_ast_expr *value;
} gc_ast_train_item;

struct gc_ast_stmt {
    gc_stmt_kind kind;
    gc_loc loc;         /* the statement's first token */
    const char *name;   /* const, input, param, output, def, for (the loop variable) */
    gc_loc name_loc;
    gc_ast_expr *value; /* const, param (initialiser), assign, loss, output, return; for: the bound */
    union {
        struct {
            gc_dtype dtype;
            gc_loc dtype_loc;
            gc_ast_expr **dims;
            int rank;
            int64_t shape[GC_MAX_RANK]; /* check: evaluated dims (top-level declarations only) */
            bool shape_known;           /* check: false inside a def, where dims may use args */
        } type; /* input, param */
        struct {
            gc_ast_target *targets;
            int n;
        } assign;
        struct {
            gc_ast_def_arg *args;
            int nargs;
            gc_ast_block body;
            int64_t cost;  /* check: statements after unrolling one call */
            int visit;     /* check: scratch for cycle detection */
        } def;
        struct {
            gc_ast_block body;
            int64_t count; /* check: the evaluated bound */
        } loop;
        struct {
            gc_ast_train_item *items;
            int n;
        } train;
    };
    gc_const_value cval; /* check: the value of a const */
};

typedef struct gc_ast_module {
    const char *file;
    gc_arena *arena;
    gc_ast_block body;
    /* check: */
    gc_ast_stmt *loss;   /* the loss statement */
    gc_ast_stmt *train;  /* the train block, or NULL */
    gc_ast_stmt **defs;  /* every def, in file order */
    int ndefs;
    int64_t unrolled;    /* statements of the whole model after unrolling loops and inlining defs */
    struct gc_train_config *config; /* the evaluated train block, defaults filled (check.h) */
} gc_ast_module;

const char *gc_binop_spelling(gc_binop op);
/* The IR op a binary operator lowers to ("add", "matmul", "lt", ...). */
const char *gc_binop_op_name(gc_binop op);
const char *gc_stmt_kind_name(gc_stmt_kind kind);

/* The def named `name`, or NULL (valid after gc_frontend_check). */
gc_ast_stmt *gc_ast_find_def(const gc_ast_module *m, const char *name);

/* S-expression dumps for tests and `gradc ir --stage ast`: `(+ x (attention x as attn))`,
 * `(neg a)`, `[1 2]`, keyword arguments as `name=value`. malloc'd (caller frees); NULL when out
 * of memory. */
char *gc_ast_expr_dump(const gc_ast_expr *e);
/* One line per statement, blocks indented by two spaces. */
char *gc_ast_module_dump(const gc_ast_module *m);

#endif
