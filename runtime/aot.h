/*
 * aot.h: the ahead-of-time executor — runs graphs whose step functions were compiled by
 * `gradc compile` into an object file and linked into the same program (docs/compile.md).
 *
 * A program is one compiled graph: its `init` and `step` entry points, the arena they work on,
 * and the offset of every node in it, all decided by gradc at compile time. A standalone trainer
 * rebuilds the model's graphs with the (deterministic, LLVM-free) frontend and passes and
 * registers its programs; the executor then matches each graph it is asked to run to the program
 * compiled from it by a hash of the graph's printed IR, so a runtime that would rebuild a
 * different graph is an error, never a silent misreading of the arena.
 */
#ifndef GC_RUNTIME_AOT_H
#define GC_RUNTIME_AOT_H

#include <stdint.h>

#include "ir/graph.h"
#include "runtime/executor.h"
#include "runtime/step_hook.h"

/* Bumped whenever gc_aot_program changes; the generated trainer source passes the version and
 * the struct size it was written for. */
#define GC_AOT_ABI 4

typedef struct gc_aot_program {
    const char *name;           /* "train" or "eval", for messages */
    uint64_t graph_hash;        /* gc_aot_hash of gc_graph_print of the graph it was compiled from */
    int num_nodes;
    const int64_t *offsets;     /* per node id: bytes from the arena start */
    int64_t arena_size;         /* bytes, a multiple of 64 */
    /* Both take the arena and the thread pool split kernels run on (runtime/parallel.h). */
    void (*init)(char *arena, void *pool); /* fills constants; once, on the zeroed arena */
    void (*step)(char *arena, void *pool); /* computes every node up to the updates */
    void (*update)(char *arena, void *pool); /* the updates written in place (apply) */
    /* step calling gc_step_hook(hooks, ...) around its kernels (a gc_step_hook_ctx; runtime/
     * step_hook.h), or NULL: what an executor created with hooks runs (data parallel under mpirun). */
    void (*step_hooked)(char *arena, void *pool, void *hooks);
} gc_aot_program;

/* What the trainer source gradc generates hands to gc_aot_main: the model as text (rebuilt at
 * start-up with the frontend and passes), the --set overrides it was compiled with, and the
 * compiled programs. `abi` and `program_size` guard against a runtime library of another gradc. */
typedef struct gc_aot_model {
    int abi;                     /* GC_AOT_ABI */
    int program_size;            /* sizeof(gc_aot_program) */
    const char *text;            /* the model file's text */
    const char *filename;        /* as given to gradc compile: names the model in messages */
    int num_sets;
    const char *const *set_names;
    const double *set_values;
    const gc_aot_program *programs;
    int num_programs;
} gc_aot_model;

/* The standalone trainer's command line (runtime/aot_main.c): `train` and `eval`. Prints; returns
 * the exit status. */
int gc_aot_main(int argc, char **argv, const gc_aot_model *model);

/* 64-bit FNV-1a of a text. */
uint64_t gc_aot_hash(const char *text);

/* Makes `programs` (static storage, count entries) the ones gc_executor_aot runs. */
void gc_aot_register(const gc_aot_program *programs, int count);

/* The executor over registered programs (runtime/executor.h). */
extern const gc_executor_ops gc_executor_aot;

#endif
