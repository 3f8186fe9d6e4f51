/*
 * fuzz_ir.c: the textual IR — parse, verify, and print -> parse -> print must be byte-identical
 * for any graph the parser accepts (ir/text.h promises it).
 */
#include "fuzz_common.h"

#include "ir/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gc_error err = {0};
    gc_graph *g = gc_graph_parse((const char *)data, size, "fuzz.ir", &err);
    if (!g) return 0;
    if (gc_graph_verify(g, &err)) {
        char *once = gc_graph_print(g);
        if (once) {
            gc_graph *again = gc_graph_parse(once, strlen(once), "printed.ir", &err);
            if (!again) {
                fprintf(stderr, "printed graph does not parse back: %s\n%s\n", err.message, once);
                abort();
            }
            char *twice = gc_graph_print(again);
            if (twice && strcmp(once, twice)) {
                fprintf(stderr, "print -> parse -> print differs:\n%s\n---\n%s\n", once, twice);
                abort();
            }
            free(twice);
            gc_graph_free(again);
            free(once);
        }
    }
    gc_graph_free(g);
    return 0;
}
