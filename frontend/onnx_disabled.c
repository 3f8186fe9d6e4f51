/*
 * onnx_disabled.c: the ONNX entry points of a gradc built without protobuf-c (CMake found no
 * protoc-c, libprotobuf-c or onnx.proto): each fails with an error saying how to get them.
 */
#include "frontend/onnx_graph.h"

#define NO_ONNX                                                                                            \
    "ONNX import is not available: gradc was built without protobuf-c (install protobuf-compiler-c, "      \
    "libprotobuf-c-dev and libonnx-dev, then rebuild)"

bool gc_onnx_is_float(int t) { return t == GC_ONNX_FLOAT || t == GC_ONNX_DOUBLE; }
const char *gc_onnx_type_name(int t) { return "an unknown type"; }
gc_onnx_model *gc_onnx_read_file(const char *path, gc_error *err) { return gc_failf(err, GC_ERR_USER, "%s: " NO_ONNX, path), NULL; }
gc_onnx_model *gc_onnx_read_bytes(const uint8_t *data, size_t size, const char *path, gc_error *err) {
    return gc_failf(err, GC_ERR_USER, NO_ONNX), NULL;
}
void gc_onnx_model_free(gc_onnx_model *m) {}
int gc_onnx_read_tensor_file(const char *path, gc_arena *arena, gc_onnx_tensor *out, gc_error *err) {
    return gc_failf(err, GC_ERR_USER, "%s: " NO_ONNX, path);
}
int gc_onnx_read_tensor_bytes(const uint8_t *data, size_t size, const char *what, gc_arena *arena,
                              gc_onnx_tensor *out, gc_error *err) {
    return gc_failf(err, GC_ERR_USER, NO_ONNX);
}
const char *gc_onnx_model_path(const gc_onnx_model *m) { return ""; }
int gc_onnx_model_opset(const gc_onnx_model *m) { return 0; }
int gc_onnx_model_num_initializers(const gc_onnx_model *m) { return 0; }
const gc_onnx_tensor *gc_onnx_model_initializer(const gc_onnx_model *m, int i) { return NULL; }
const gc_onnx_tensor *gc_onnx_model_find_initializer(const gc_onnx_model *m, const char *name) { return NULL; }
gc_arena *gc_onnx_model_arena(gc_onnx_model *m) { return NULL; }
const void *gc_onnx_model_proto(const gc_onnx_model *m) { return NULL; }
int gc_onnx_num_inputs(const gc_onnx_model *m) { return 0; }
int gc_onnx_input(const gc_onnx_model *m, int i, gc_onnx_input_info *out) { return 0; }
int gc_onnx_num_outputs(const gc_onnx_model *m) { return 0; }
const char *gc_onnx_output_name(const gc_onnx_model *m, int i) { return ""; }
int gc_onnx_import(gc_layer_context *c, gc_onnx_model *m, const gc_onnx_import_options *o, gc_node *const *args,
                   int nargs, gc_node **outputs, gc_error *err) {
    return gc_failf(err, GC_ERR_USER, NO_ONNX);
}
bool gc_onnx_op_supported(const char *op_type) { return false; }
bool gc_onnx_input_is_static(const char *op_type, int index) { return false; }
gc_graph *gc_onnx_to_graph(gc_onnx_model *m, const gc_type *types, const gc_onnx_import_options *o, bool training,
                           gc_layer_context *ctx, gc_error *err) {
    return gc_failf(err, GC_ERR_USER, NO_ONNX), NULL;
}
bool gc_onnx_dtype(int et, gc_dtype *out) { return false; }
void gc_onnx_gm_result_free(gc_onnx_gm_result *r) {}
void gc_onnx_cache_clear(void) {}
long gc_onnx_cache_reads(void) { return 0; }
