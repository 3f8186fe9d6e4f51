/*
 * onnx_graph.c: an ONNX model as a standalone forward graph (`gradc import`, the node tests): one
 * input per graph input, the initializers as params and buffers, one value output per graph output.
 */
#include "frontend/onnx_graph.h"

#include <string.h>

gc_graph *gc_onnx_to_graph(gc_onnx_model *m, const gc_type *types, const gc_onnx_import_options *o, bool training,
                           gc_layer_context *ctx, gc_error *err) {
    gc_graph *g = gc_graph_new(gc_onnx_model_path(m));
    if (!g) return gc_failf(err, GC_ERR_MEMORY, "out of memory"), NULL;
    gc_layer_context_init(ctx, g, err, training, 0);
    ctx->b.loc = (gc_loc){0};
    int n = gc_onnx_num_inputs(m), nout = gc_onnx_num_outputs(m);
    gc_node **args = gc_arena_alloc(g->arena, sizeof *args * (size_t)(n + 1));
    gc_node **outs = gc_arena_alloc(g->arena, sizeof *outs * (size_t)(nout + 1));
    if (!args || !outs) goto oom;
    for (int k = 0; k < n; k++) {
        gc_onnx_input_info info;
        gc_onnx_input(m, k, &info);
        bool bound = false;
        for (int j = 0; o && j < o->num_constants; j++) bound = bound || !strcmp(o->constants[j].name, info.name);
        if (bound) continue;
        gc_type t;
        if (types && types[k].rank >= 0) t = types[k];
        else {
            gc_dtype dt;
            if (info.rank < 0 || info.rank > GC_MAX_RANK || !gc_onnx_dtype(info.elem_type, &dt)) {
                gc_failf(err, GC_ERR_USER, "%s: graph input '%s' has no shape gradc can use: give it with --input %s=f32[DIMS]",
                         gc_onnx_model_path(m), info.name, info.name);
                goto fail;
            }
            for (int d = 0; d < info.rank; d++)
                if (info.dims[d] < 1) {
                    gc_failf(err, GC_ERR_USER, "%s: graph input '%s' has a symbolic or zero dim %d: give its shape with --input %s=f32[DIMS]",
                             gc_onnx_model_path(m), info.name, d, info.name);
                    goto fail;
                }
            t = gc_type_make(dt, info.rank, info.dims);
        }
        if (!(args[k] = gc_graph_make(g, GC_OP_INPUT, NULL, 0, NULL, &t, info.name, ctx->b.loc, err))) goto fail;
    }
    if (!gc_onnx_import(ctx, m, o, args, n, outs, err)) goto fail;
    for (int k = 0; k < nout; k++)
        if (!gc_graph_add_output(g, GC_OUTPUT_VALUE, gc_onnx_output_name(m, k), outs[k], err)) goto fail;
    return g;
oom:
    gc_failf(err, GC_ERR_MEMORY, "out of memory");
fail:
    gc_graph_free(g);
    return NULL;
}
