/*
 * fuzz_gm.c: the .gm front end — parse, check, lower for training, verify the graph. Any input
 * must end in success or a gc_error, never a crash, a leak or a hang (the checker's limits keep
 * every model under 1 MB to well under a second; docs/language.md "Limits").
 */
#include "fuzz_common.h"

#include "frontend/check.h"
#include "frontend/lower.h"
#include "frontend/parser.h"
#include "ir/arena.h"
#include "ir/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gc_arena *arena = gc_arena_new();
    if (!arena) return 0;
    gc_error err = {0};
    gc_ast_module *m = gc_frontend_parse((const char *)data, size, "fuzz.gm", arena, &err);
    if (m && gc_frontend_check(m, NULL, 0, &err)) {
        gc_lowered_model lowered;
        if (gc_lower_model(m, true, &lowered, &err)) {
            gc_graph_verify(lowered.graph, &err);
            gc_lowered_model_free(&lowered);
        }
    }
    gc_arena_free(arena);
    return 0;
}
