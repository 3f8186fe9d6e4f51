/*
 * check.h: the semantic checks of a parsed model that need no IR.
 *
 * gc_frontend_check resolves every name, evaluates every const (after applying overrides),
 * checks every call against builtins.def or the def it calls, checks the train block, rejects
 * recursion between defs and models that unroll absurdly, and records what it learnt in the AST
 * (the "check:" fields of ast.h) and in m->config. Shapes and dtypes of tensors are not checked
 * here: they need the IR, and the lowering checks them as it builds it.
 *
 * The scoping rules it enforces (docs/language.md explains them for users):
 *   - top-level statements see names bound above them; a name may be rebound by assignment,
 *     except consts and loop variables;
 *   - a def sees its arguments, the names it binds, and every const of the file; defs may be
 *     called from anywhere (before or after their definition) but not recursively;
 *   - a loop variable is a const int visible only inside its loop; names first bound in a loop
 *     body stay visible after the loop unless the loop runs 0 times;
 *   - `loss`, `f32` and `i32` are reserved names.
 */
#ifndef GC_FRONTEND_CHECK_H
#define GC_FRONTEND_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "frontend/ast.h"
#include "frontend/builtins.h"

enum {
    /* Statements after unrolling loops and inlining defs (each def call counts one more, for its
     * scope): lowering costs up to a few microseconds each, so this keeps it well under a second
     * (docs/language.md, "Limits"); the graph's own bound is GC_LOWER_MAX_NODES. */
    GC_CHECK_MAX_UNROLLED = 300000,
    GC_CHECK_MAX_DEF_DEPTH = 100,    /* defs calling defs */
    GC_CHECK_MAX_DEF_ARGS = 64,
};

/* `--set NAME=VALUE` or gc_model_set_const: replaces the const's expression before any const
 * is evaluated. An integral value (|v| <= 2^53) becomes an int, anything else a float. */
typedef struct gc_const_override {
    const char *name;
    double value;
} gc_const_override;

/* A call in the train block with every parameter's value: given, or the table's default.
 * args[i] belongs to fn->params[i]. */
typedef struct gc_train_call {
    const gc_builtin *fn;
    gc_loc loc;
    gc_const_value args[GC_BUILTIN_MAX_PARAMS];
} gc_train_call;

/* The train block, evaluated. Without a train block (or a key) the defaults apply: adam() with
 * its defaults, schedule constant(), no clipping, seed 0, no no_decay patterns. */
typedef struct gc_train_config {
    gc_train_call optimizer;
    gc_train_call schedule;
    bool clip;
    double clip_grad_norm;
    int64_t seed;
    const char **no_decay;
    int n_no_decay;
    const char **freeze;           /* freeze = ["glob", ...] */
    int n_freeze;
    const char **lr_scale_patterns; /* lr_scale = [["glob", factor], ...] */
    double *lr_scale_factors;
    int n_lr_scale;
    int64_t accumulate;            /* gradient_accumulation_steps; 0 when not given */
    int precision;                 /* precision = "f32" | "bf16": a gc_precision, 0 when not given */
    int64_t memory_budget;         /* memory_budget in bytes; 0 when not given */
    bool sync_batchnorm;           /* sync_batchnorm = true: batch statistics over every process */
    gc_loc freeze_loc, lr_scale_loc; /* their values, for errors found once params exist */
} gc_train_config;

/* Checks m (from gc_frontend_parse) with `n` const overrides applied. Returns 1, or 0 with err
 * located at the first problem found. Safe to call again on the same module (with other
 * overrides): every "check:" field is recomputed. After success m->config points at the
 * evaluated train block, in m's arena. */
int gc_frontend_check(gc_ast_module *m, const gc_const_override *overrides, int n, gc_error *err);

/* Reads "NAME=VALUE" (the --set form) into name (a buffer of `cap` bytes) and *value. */
int gc_parse_override(const char *text, char *name, size_t cap, double *value, gc_error *err);

/* The numeric value of a train call's parameter `param` (0 if it has none or is not a number). */
double gc_train_number(const gc_train_call *call, const char *param);

#endif
