/*
 * onnx_import.h: an ONNX graph lowered to gradc IR (docs/onnx.md).
 *
 * Every ONNX operator gradc reads becomes ordinary IR ops (conv, matmul, reductions, elementwise,
 * movement), so autodiff, fusion, memory planning and both backends see nothing special. Values
 * that are known at import (initializers of integer type, Constant, Shape and what is computed from
 * them) are folded on the host; float initializers become params named as the exporter named them
 * (prefixed with the layer's `as` name), and the running statistics of BatchNormalization become
 * buffers updated as torch's nn.BatchNorm does.
 */
#ifndef GC_FRONTEND_ONNX_IMPORT_H
#define GC_FRONTEND_ONNX_IMPORT_H

#include "frontend/layers.h"
#include "frontend/onnx_read.h"

/* `gradc import --format gm` (frontend/onnx_gm.c): the model file, and which value each of its
 * params starts from (value NULL: an i32 num_batches_tracked, zero). */
typedef struct gc_onnx_gm_param {
    const char *name;
    const gc_onnx_tensor *value;
    bool buffer;
    int stmt;
} gc_onnx_gm_param;

typedef struct gc_onnx_gm_result {
    char *text; /* malloc'd */
    gc_onnx_gm_param *params; /* malloc'd; names and values live in the model's arena */
    int num_params;
} gc_onnx_gm_result;

void gc_onnx_gm_result_free(gc_onnx_gm_result *r);

typedef struct gc_onnx_import_options {
    const char *prefix; /* `as NAME`: params are NAME.<initializer>; NULL or "" for none */
    /* Graph inputs bound to values known at import (the node tests' shape and axes inputs); each
     * tensor's name is the graph input it binds. */
    const gc_onnx_tensor *constants;
    int num_constants;
    /* When set, the import also spells the graph as a model file (one statement per node). */
    gc_onnx_gm_result *gm;
} gc_onnx_import_options;

/* A graph input that is not an initializer: what the caller passes, in order. dims[d] is -1 for
 * a symbolic or missing dim (dynamic_axes); rank -1 when the file gives no shape. */
typedef struct gc_onnx_input_info {
    const char *name;
    int elem_type;
    int rank;
    int64_t dims[GC_ONNX_MAX_RANK];
} gc_onnx_input_info;

int gc_onnx_num_inputs(const gc_onnx_model *m);
int gc_onnx_input(const gc_onnx_model *m, int i, gc_onnx_input_info *out);
int gc_onnx_num_outputs(const gc_onnx_model *m);
const char *gc_onnx_output_name(const gc_onnx_model *m, int i);

/* Lowers m's graph into c's graph. args are the non-initializer graph inputs in order (NULL for
 * one bound in o->constants); outputs receives one node per graph output (room for
 * gc_onnx_num_outputs(m)). Errors name the file, the node, its op type and the opset. */
int gc_onnx_import(gc_layer_context *c, gc_onnx_model *m, const gc_onnx_import_options *o, gc_node *const *args,
                   int nargs, gc_node **outputs, gc_error *err);

/* The `onnx` layer keeps the last file it read decoded (frontend/lower_onnx.c): the training and
 * the eval graph of one model read it once. gc_onnx_cache_clear frees it (the trainer calls it
 * once both graphs are lowered); gc_onnx_cache_reads counts the files read so far (tests). */
void gc_onnx_cache_clear(void);
long gc_onnx_cache_reads(void);

/* Whether gradc imports op_type (the default domain), and whether input `index` of it must be
 * known at import (a shape, axes, pads, clip bounds...). */
bool gc_onnx_op_supported(const char *op_type);
bool gc_onnx_input_is_static(const char *op_type, int index);
/* The gc dtype of an ONNX elem type: f32 for floats and bools (0/1), i32 for integers (int64
 * read as i32); false for the others. */
bool gc_onnx_dtype(int et, gc_dtype *out);

#endif
