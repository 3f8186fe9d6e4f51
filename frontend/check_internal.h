/*
 * check_internal.h: what the files of the checker (check*.c) share; not for other modules.
 */
#ifndef GC_FRONTEND_CHECK_INTERNAL_H
#define GC_FRONTEND_CHECK_INTERNAL_H

#include "frontend/check.h"

/* Evaluates the train block (names in its values already resolved by check.c) into a new
 * m->config; `train` NULL gives the defaults. */
int gc_check_train(gc_ast_module *m, const gc_ast_stmt *train, gc_error *err);

/* Computes m->unrolled (loops unrolled, defs expanded) and def.cost of every def; fails on def
 * recursion, on defs nested more than GC_CHECK_MAX_DEF_DEPTH deep and on models larger than
 * GC_CHECK_MAX_UNROLLED statements. Needs resolved calls and loop counts (check.c). */
int gc_check_unroll(gc_ast_module *m, gc_error *err);

#endif
