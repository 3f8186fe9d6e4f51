/*
 * check_internal.h: what check.c and check_train.c share; not for other modules.
 */
#ifndef GC_FRONTEND_CHECK_INTERNAL_H
#define GC_FRONTEND_CHECK_INTERNAL_H

#include "frontend/check.h"

/* Evaluates the train block (names in its values already resolved by check.c) into a new
 * m->config; `train` NULL gives the defaults. */
int gc_check_train(gc_ast_module *m, const gc_ast_stmt *train, gc_error *err);

#endif
