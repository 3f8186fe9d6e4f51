/*
 * onnx_internal.h: what the importer's files share (onnx_import.c: values, attributes, constants,
 * the walk over the graph; onnx_ops*.c: one lowering per operator). Not for other modules.
 */
#ifndef GC_FRONTEND_ONNX_INTERNAL_H
#define GC_FRONTEND_ONNX_INTERNAL_H

#include "frontend/onnx_import.h"
#include "onnx.pb-c.h"

/* One ONNX value: an IR node, a host value known at import, or a float initializer that becomes a
 * param (or a buffer) when first used. */
typedef struct oval {
    const char *name;
    int et;                       /* ONNX elem type: BOOL values are f32 0/1 nodes, integers i32 */
    gc_node *node;
    gc_onnx_tensor *k;            /* known at import */
    const gc_onnx_tensor *init;   /* a float initializer not yet made a source */
    const char *missing;          /* an output gradc does not compute: why, for an error on use */
    int gm;                       /* its name in the model file being written (onnx_gm.c), 0 none */
} oval;

typedef struct importer {
    gc_layer_context *c;
    gc_builder *b;
    gc_onnx_model *m;
    const Onnx__GraphProto *g;
    const char *path;
    int opset;
    const char *prefix;
    gc_arena *arena; /* host values and scratch: the model's arena */
    oval *vals;
    int num_vals, cap_vals;
    int *slots; /* open addressing over vals by name: index + 1, 0 empty */
    int num_slots;
    const char **buffers; /* initializers BatchNormalization reads as running statistics */
    int num_buffers;
    /* The node being lowered: its inputs (NULL where omitted) and outputs. */
    const Onnx__NodeProto *node;
    oval *in[16];
    int nin;
    oval out[8];
    int nout;
    struct gc_onnx_gm_writer *gm; /* --format gm: the model file being written, else NULL */
} importer;

/* Fails naming the node: "file: node 'Conv_12' (Conv, opset 13): ...". */
int gc_onnx_fail(importer *I, const char *fmt, ...) GC_PRINTF(2, 3);

/* Attributes of the current node. */
const Onnx__AttributeProto *gc_onnx_attr(importer *I, const char *name);
int64_t gc_onnx_attr_int(importer *I, const char *name, int64_t def);
/* A float attribute as the exporter wrote it: ONNX stores float32, so torch's eps=1e-5 arrives as
 * 9.99999974738e-06. The value is the shortest decimal that rounds to the stored float (1e-5), the
 * number the user's module holds: float32 code computes with the same float, and the float64
 * interpreter with torch's double (a batch norm channel whose variance is below eps is as
 * sensitive to eps as to its input, so float32's eps alone moved MobileNetV2's float64 run from
 * torch's by 1e-4 within 4 steps). */
double gc_onnx_float_as_written(float f);
/* The same for a scalar input read at import (Clip's bounds, Dropout's ratio) when its value is a
 * float32 one; a double or an integer beyond float's precision stays as it is. */
double gc_onnx_scalar_as_written(double v);
double gc_onnx_attr_float(importer *I, const char *name, double def);
const char *gc_onnx_attr_str(importer *I, const char *name, const char *def);
/* The ints of a list attribute (NULL and *n = 0 when absent). */
const int64_t *gc_onnx_attr_ints(importer *I, const char *name, int *n);

/* Input k as an IR node (host values and initializers are made into nodes), NULL with an error
 * when it is missing or not available. */
gc_node *gc_onnx_node(importer *I, int k);
/* Input k's host value when known at import, else NULL (no error). */
gc_onnx_tensor *gc_onnx_known(importer *I, int k);
/* Input k's integer values, which must be known at import; NULL with an error otherwise. */
const int64_t *gc_onnx_static_ints(importer *I, int k, const char *what, int64_t *n);
/* Input k's values as doubles, which must be known at import. */
int gc_onnx_static_doubles(importer *I, int k, const char *what, double **out, int64_t *n);
bool gc_onnx_has_input(importer *I, int k);

/* Results of the current node. */
int gc_onnx_set_node(importer *I, int k, gc_node *n, int et);
/* Input k's element type, or 0 when the input is missing: an argument of gc_onnx_set_node is
 * evaluated even when the node it sets is NULL (a missing input's failure). */
#define GC_ONNX_IN_ET(I, k) ((I)->in[k] ? (I)->in[k]->et : 0)
int gc_onnx_set_known(importer *I, int k, gc_onnx_tensor *t);
void gc_onnx_set_missing(importer *I, int k, const char *why);

/* Host values. */
gc_onnx_tensor *gc_onnx_tensor_new(importer *I, int et, int rank, const int64_t *dims);
double gc_onnx_get(const gc_onnx_tensor *t, int64_t i);
void gc_onnx_put(gc_onnx_tensor *t, int64_t i, double v);
/* An IR node holding t's values. */
gc_node *gc_onnx_materialize(importer *I, const gc_onnx_tensor *t);
/* A gc_type for dims (rank <= GC_MAX_RANK, dims >= 1), with an error otherwise. */
int gc_onnx_type(importer *I, gc_dtype dt, int rank, const int64_t *dims, gc_type *out);
/* Normalises an axis of rank dims; error when out of range. */
int gc_onnx_axis(importer *I, int64_t axis, int rank, int *out);

/* onnx_ops*.c: the lowering of each operator; 0 with an error on failure. */
typedef int (*gc_onnx_lower_fn)(importer *I);
gc_onnx_lower_fn gc_onnx_lowering(const char *op_type);
/* Whether all of the node's present inputs are known at import. */
bool gc_onnx_all_known(importer *I);

/* onnx_gm.c: the model file of `gradc import --format gm`, written along the import. */
int gc_onnx_gm_begin(importer *I, gc_onnx_gm_result *out);
int gc_onnx_gm_input(importer *I, oval *v);
int gc_onnx_gm_node(importer *I);
int gc_onnx_gm_finish(importer *I, const char *model_file);

#endif
