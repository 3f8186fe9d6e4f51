/*
 * fuzz_onnx.c: the ONNX reader and importer — gc_onnx_read_bytes on any bytes, and a model that
 * decodes is imported as a standalone graph (training mode), which must verify.
 */
#include "fuzz_common.h"

#include "frontend/onnx_graph.h"
#include "ir/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gc_error err = {0};
    gc_onnx_model *m = gc_onnx_read_bytes(data, size, NULL, &err);
    if (!m) return 0;
    gc_layer_context ctx;
    gc_graph *g = gc_onnx_to_graph(m, NULL, NULL, true, &ctx, &err);
    if (g && !gc_graph_verify(g, &err)) {
        fprintf(stderr, "an imported graph does not verify: %s\n", err.message);
        abort();
    }
    gc_graph_free(g);
    gc_onnx_model_free(m);
    return 0;
}
