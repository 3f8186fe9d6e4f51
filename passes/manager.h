/*
 * manager.h: the pass manager. Passes are named graph-to-graph functions listed once in
 * passes/passes.def; a pipeline is a list of names run in order, with the verifier between passes
 * and a dump after any of them (--print-after=NAME, --print-after-all), as LLVM's opt does.
 * Passes never call the frontend, so they run as well on IR parsed from a .ir file.
 */
#ifndef GC_PASSES_MANAGER_H
#define GC_PASSES_MANAGER_H

#include <stdbool.h>

#include "ir/graph.h"

/* A pass may rewrite *graph in place or replace it with a new graph (freeing the old one). */
typedef int (*gc_pass_fn)(gc_graph **graph, gc_error *err);

typedef struct gc_pass {
    const char *name;
    gc_pass_fn run;
    const char *summary;
} gc_pass;

const gc_pass *gc_pass_find(const char *name);
int gc_pass_count(void);
const gc_pass *gc_pass_at(int index);

/* Called after a pass when its graph is to be shown; `pass` is the name of the pass just run. */
typedef void (*gc_pass_dump_fn)(void *context, const char *pass, const gc_graph *graph);

typedef struct gc_pass_options {
    bool verify_each;         /* run gc_graph_verify after every pass */
    bool print_after_all;     /* dump after every pass */
    const char *print_after;  /* dump after the passes of this name */
    gc_pass_dump_fn dump;
    void *dump_context;
} gc_pass_options;

/* Runs the comma-separated pipeline ("dce,cse"); an unknown name fails before anything runs.
 * An empty pipeline runs nothing. opts may be NULL. */
int gc_run_pipeline(gc_graph **graph, const char *pipeline, const gc_pass_options *opts, gc_error *err);

#endif
