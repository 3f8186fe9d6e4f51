/*
 * object_prefix.h: object files whose entry points carry a chosen prefix, so several compiled
 * graphs (a trainer's training and eval graphs, or a user's models) link into one program.
 */
#ifndef GC_CODEGEN_OBJECT_PREFIX_H
#define GC_CODEGEN_OBJECT_PREFIX_H

#include "codegen/codegen.h"
#include "ir/graph.h"

/* gc_codegen_emit_object, then every global symbol the object defines whose name starts with
 * "gc_" is renamed to `prefix` followed by the rest of the name (gc_step -> <prefix>step).
 * A NULL or empty prefix leaves the names as they are. The prefix must be a C identifier. */
int gc_codegen_emit_object_prefixed(const gc_graph *g, const char *path, const char *prefix, gc_error *err);

/* The same with the step entry point named <prefix><step> instead of <prefix>step (a forward-only
 * graph's gc_step becomes <prefix>predict); a NULL step keeps the rule above. `layout` is g's
 * from gc_layout_plan_step, or NULL to plan it; times (may be NULL) gets the compile's phases
 * (gc_codegen_emit_object_planned). */
int gc_codegen_emit_object_named(const gc_graph *g, const gc_layout *layout, const char *path, const char *prefix,
                                 const char *step, gc_codegen_times *times, gc_error *err);

/* The renaming alone, on an existing ELF64 relocatable object; gc_object_rename_entry_points
 * also takes the step's name (NULL: "step"). */
int gc_object_rename_globals(const char *path, const char *prefix, gc_error *err);
int gc_object_rename_entry_points(const char *path, const char *prefix, const char *step, gc_error *err);

#endif
