/*
 * manager.c: the pass registry (expanded from passes.def) and the pipeline runner.
 *
 * passes/ owns graph-to-graph transformations: autodiff, losses and optimizer construction,
 * simplification and fusion. Each pass is one file named for what it does; this file only lists
 * and sequences them, so the pipeline reads as a list of names (QBE's main.c).
 */
#include "passes/manager.h"

#include <string.h>

#include "ir/text.h"

#define GC_PASS(name, fn, summary) int fn(gc_graph **graph, gc_error *err);
#include "passes/passes.def"
#undef GC_PASS

static const gc_pass passes[] = {
#define GC_PASS(name, fn, summary) {#name, fn, summary},
#include "passes/passes.def"
#undef GC_PASS
};

enum { PASS_COUNT = (int)(sizeof passes / sizeof passes[0]) };

int gc_pass_count(void) { return PASS_COUNT; }

const gc_pass *gc_pass_at(int index) { return index >= 0 && index < PASS_COUNT ? &passes[index] : NULL; }

static const gc_pass *find_n(const char *name, size_t len) {
    for (int i = 0; i < PASS_COUNT; i++)
        if (strlen(passes[i].name) == len && memcmp(passes[i].name, name, len) == 0) return &passes[i];
    return NULL;
}

const gc_pass *gc_pass_find(const char *name) { return name ? find_n(name, strlen(name)) : NULL; }

enum { MAX_PIPELINE = 64 };

int gc_run_pipeline(gc_graph **graph, const char *pipeline, const gc_pass_options *opts, gc_error *err) {
    const gc_pass *list[MAX_PIPELINE];
    int count = 0;
    /* Resolve every name before running anything, so a typo costs nothing. */
    for (const char *p = pipeline ? pipeline : ""; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len) {
            const gc_pass *pass = find_n(p, len);
            if (!pass) return gc_failf(err, GC_ERR_USER, "unknown pass '%.*s'", (int)len, p);
            if (count == MAX_PIPELINE) return gc_failf(err, GC_ERR_USER, "more than %d passes in one pipeline", MAX_PIPELINE);
            list[count++] = pass;
        }
        p += len + (end ? 1 : 0);
    }
    for (int i = 0; i < count; i++) {
        if (!list[i]->run(graph, err)) {
            gc_error_prefix(err, "%s: ", list[i]->name);
            return 0;
        }
        if (opts && opts->verify_each && !gc_graph_verify(*graph, err)) {
            gc_error_prefix(err, "after pass %s: ", list[i]->name);
            if (err) err->code = GC_ERR_INTERNAL;
            return 0;
        }
        if (opts && opts->dump &&
            (opts->print_after_all || (opts->print_after && !strcmp(opts->print_after, list[i]->name))))
            opts->dump(opts->dump_context, list[i]->name, *graph);
    }
    return 1;
}
