/*
 * consteval.h: evaluating compile-time expressions of the model language.
 *
 * Consts, loop bounds, loop variables, `as h[i]` indices, default arguments and the literal
 * arguments of builtins are all compile-time values (gc_const_value, ast.h). The checker
 * evaluates those that depend only on file consts; the lowering evaluates the rest once loop
 * variables and def arguments have values, through the same function and a lookup callback, so
 * both agree on every rule: integers are int64 and overflow is an error; int / int is an int when
 * it divides exactly and a float otherwise; any float operand makes a float; division by zero,
 * and float results that are infinite or NaN, are errors.
 */
#ifndef GC_FRONTEND_CONSTEVAL_H
#define GC_FRONTEND_CONSTEVAL_H

#include <stdbool.h>
#include <stddef.h>

#include "frontend/ast.h"

/* Gives the value of a name that is not a file const (the evaluator reads those itself from
 * name.decl->cval). Returns 1 with *out filled, or 0 with err set (e.g. "'x' is a tensor"). */
typedef int (*gc_const_lookup)(void *ctx, const gc_ast_expr *name, gc_const_value *out, gc_error *err);

/* Evaluates e. Names must have been resolved by gc_frontend_check: GC_REF_CONST names read their
 * const's value and GC_REF_DTYPE names are dtypes; every other name goes to `lookup` (an error
 * when lookup is NULL). Lists are allocated in `arena`. Returns 0 with a located error for
 * anything that is not a compile-time value (calls, tensor arithmetic, comparisons) and for
 * arithmetic errors. */
int gc_const_eval(const gc_ast_expr *e, gc_const_lookup lookup, void *ctx, gc_arena *arena, gc_const_value *out,
                  gc_error *err);

bool gc_const_is_number(const gc_const_value *v);
/* An int or float as a double (0 for anything else). */
double gc_const_as_double(const gc_const_value *v);
/* Short text for messages: 3, 0.5, "tanh", true, none, a list, f32. */
void gc_const_describe(const gc_const_value *v, char *buf, size_t cap);

#endif
