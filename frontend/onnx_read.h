/*
 * onnx_read.h: ONNX files decoded (docs/onnx.md). The protobuf decoding is protobuf-c's, on C that
 * protoc-c generates at build time from the onnx.proto Debian's libonnx-dev ships; this layer
 * checks what the importer relies on (opset, tensors that fit their dims, external data inside the
 * model's folder) so that a truncated or corrupt file is an error, never a crash.
 *
 * Without protobuf-c (GC_HAVE_ONNX undefined) every function fails with an error saying so
 * (frontend/onnx_disabled.c).
 */
#ifndef GC_FRONTEND_ONNX_READ_H
#define GC_FRONTEND_ONNX_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ir/arena.h"
#include "ir/diag.h"
#include "ir/types.h"

/* ONNX's TensorProto.DataType codes that gradc reads. */
enum {
    GC_ONNX_FLOAT = 1,
    GC_ONNX_UINT8 = 2,
    GC_ONNX_INT8 = 3,
    GC_ONNX_UINT16 = 4,
    GC_ONNX_INT16 = 5,
    GC_ONNX_INT32 = 6,
    GC_ONNX_INT64 = 7,
    GC_ONNX_STRING = 8,
    GC_ONNX_BOOL = 9,
    GC_ONNX_FLOAT16 = 10,
    GC_ONNX_DOUBLE = 11,
};

/* The opsets gradc imports (those torch.onnx.export of PyTorch 1.13 writes). */
enum { GC_ONNX_MIN_OPSET = 9, GC_ONNX_MAX_OPSET = 17 };
/* Dims of one ONNX tensor; ranks above GC_MAX_RANK are refused where they become IR values. */
enum { GC_ONNX_MAX_RANK = 16 };

/* A tensor's values on the host: floats (FLOAT, DOUBLE) in f, integers and booleans in i. */
typedef struct gc_onnx_tensor {
    const char *name;
    int elem_type; /* GC_ONNX_* */
    int rank;
    int64_t dims[GC_ONNX_MAX_RANK];
    int64_t numel;
    float *f;
    int64_t *i;
} gc_onnx_tensor;

bool gc_onnx_is_float(int elem_type);
/* "FLOAT", "INT64", ... ("type 17" for others), for messages. */
const char *gc_onnx_type_name(int elem_type);

typedef struct gc_onnx_model gc_onnx_model;

/* Reads and decodes path. External data files are read relative to path's folder. */
gc_onnx_model *gc_onnx_read_file(const char *path, gc_error *err);
/* The same from bytes; `path` names the file in messages and locates external data (NULL: none
 * allowed). */
gc_onnx_model *gc_onnx_read_bytes(const uint8_t *data, size_t size, const char *path, gc_error *err);
void gc_onnx_model_free(gc_onnx_model *m);

/* A single TensorProto file (the node tests' input_N.pb / output_N.pb), decoded into arena. */
int gc_onnx_read_tensor_file(const char *path, gc_arena *arena, gc_onnx_tensor *out, gc_error *err);
int gc_onnx_read_tensor_bytes(const uint8_t *data, size_t size, const char *what, gc_arena *arena,
                              gc_onnx_tensor *out, gc_error *err);

/* What the importer reads of a model (frontend/onnx_import.c). */
const char *gc_onnx_model_path(const gc_onnx_model *m);
int gc_onnx_model_opset(const gc_onnx_model *m); /* of the default domain */
/* The decoded initializers, in file order. */
int gc_onnx_model_num_initializers(const gc_onnx_model *m);
const gc_onnx_tensor *gc_onnx_model_initializer(const gc_onnx_model *m, int i);
const gc_onnx_tensor *gc_onnx_model_find_initializer(const gc_onnx_model *m, const char *name);
gc_arena *gc_onnx_model_arena(gc_onnx_model *m);
/* The generated Onnx__ModelProto (onnx.pb-c.h), for the importer only. */
const void *gc_onnx_model_proto(const gc_onnx_model *m);

#endif
