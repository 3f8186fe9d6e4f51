/*
 * onnx_graph.h: an ONNX model as a standalone forward graph (`gradc import`, the node tests).
 */
#ifndef GC_FRONTEND_ONNX_GRAPH_H
#define GC_FRONTEND_ONNX_GRAPH_H

#include "frontend/onnx_import.h"

/* A graph with an `input` per non-initializer graph input (named as in the file, typed by
 * types[k] when given with rank >= 0, else by the file, whose dims must then all be fixed; none
 * for inputs bound in o->constants), the initializers as params and buffers (their values in
 * ctx->params[i].data), and one `output` per graph output, named as in the file. training: the
 * training-mode graph (batch statistics, dropout, buffer updates). */
gc_graph *gc_onnx_to_graph(gc_onnx_model *m, const gc_type *types, const gc_onnx_import_options *o, bool training,
                           gc_layer_context *ctx, gc_error *err);

#endif
