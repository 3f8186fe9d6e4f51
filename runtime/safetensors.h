/*
 * safetensors.h: checkpoints in the safetensors format, the one PyTorch users already have
 * (safetensors.torch.load_file reads what gradc writes, and the other way round).
 *
 * A file is an 8-byte little-endian header length N, N bytes of UTF-8 JSON
 *   {"__metadata__": {"key": "value", ...},
 *    "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
 * padded with spaces to a multiple of 8, then the raw little-endian tensor data, row-major, with
 * offsets relative to the start of the data. Tensors tile the data exactly: no gaps, no overlap.
 *
 * A gc_safetensors is an in-memory set of named tensors (each owning a copy of its data) plus the
 * metadata strings. Loading validates everything the header claims against the file and reports
 * a GC_ERR_USER error naming the file and the tensor; saving is deterministic (the library's
 * order: larger dtypes first, then by name; metadata keys sorted) and atomic (a temporary file in
 * the same directory, fsync, rename, fsync of the directory), so a crash mid-save leaves the old
 * checkpoint intact. Little-endian hosts only: the data is used in place of host numbers.
 */
#ifndef GC_RUNTIME_SAFETENSORS_H
#define GC_RUNTIME_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gradc/gradc.h>

/* The element types gradc reads and writes. I64 exists because PyTorch writes integer tensors
 * (step counts, token ids) as int64; callers convert it to i32 where the model wants that. The
 * order is the library's dtype order, which decides where a tensor goes in the file. */
typedef enum gc_st_dtype {
    GC_ST_I32,
    GC_ST_F32,
    GC_ST_F64,
    GC_ST_I64,
} gc_st_dtype;

typedef struct gc_st_tensor {
    char *name;
    gc_st_dtype dtype;
    int rank;
    int64_t shape[GC_MAX_RANK];
    void *data;    /* nbytes of row-major element data, owned, malloc-aligned */
    size_t nbytes; /* numel * element size; 0 when some dim is 0 */
} gc_st_tensor;

typedef struct gc_st_meta {
    char *key;
    char *value;
} gc_st_meta;

typedef struct gc_safetensors {
    gc_st_tensor *tensors; /* in file order after a load, in insertion order after adds */
    int num_tensors, cap_tensors;
    gc_st_meta *meta;
    int num_meta, cap_meta;
} gc_safetensors;

const char *gc_st_dtype_name(gc_st_dtype dtype); /* "F32", "I32", "F64", "I64" */
size_t gc_st_dtype_size(gc_st_dtype dtype);
bool gc_st_dtype_from_name(const char *name, gc_st_dtype *out);
/* gc_dtype <-> gc_st_dtype; false for I64, which has no gc_dtype. */
bool gc_st_dtype_from_gc(gc_dtype dtype, gc_st_dtype *out);
bool gc_st_dtype_to_gc(gc_st_dtype dtype, gc_dtype *out);

/* An empty set, or NULL with err set (GC_ERR_MEMORY). */
gc_safetensors *gc_safetensors_new(gc_error *err);
void gc_safetensors_free(gc_safetensors *st);

/* Reads and validates a whole file. Format errors are GC_ERR_USER, I/O errors GC_ERR_IO; the
 * message starts with the path. */
gc_safetensors *gc_safetensors_load(const char *path, gc_error *err);
/* The same from bytes in memory; `what` names them in messages. */
gc_safetensors *gc_safetensors_parse(const void *bytes, size_t size, const char *what, gc_error *err);

/* The tensor of that name, or NULL. */
const gc_st_tensor *gc_safetensors_find(const gc_safetensors *st, const char *name);
/* A gc_tensor view of t (data still owned by the set); false for I64 or rank over GC_MAX_RANK. */
bool gc_st_tensor_view(const gc_st_tensor *t, gc_tensor *out);

/* Adds a tensor, copying `data` (numel * element size bytes; may be NULL when that is 0).
 * Names must be non-empty UTF-8, not "__metadata__", and unique. */
int gc_safetensors_add(gc_safetensors *st, const char *name, gc_st_dtype dtype, int rank,
                       const int64_t *shape, const void *data, gc_error *err);
/* Adds a copy of a gc_tensor view under `name`. */
int gc_safetensors_add_tensor(gc_safetensors *st, const char *name, const gc_tensor *t, gc_error *err);

/* Sets (or replaces) a metadata string; both must be UTF-8. */
int gc_safetensors_set_meta(gc_safetensors *st, const char *key, const char *value, gc_error *err);
/* The metadata value for key, or NULL. */
const char *gc_safetensors_get_meta(const gc_safetensors *st, const char *key);

/* The file's bytes in a malloc'd buffer (caller frees). */
int gc_safetensors_serialize(const gc_safetensors *st, unsigned char **bytes, size_t *size, gc_error *err);
/* Writes the file atomically: either the old file or the complete new one survives a crash. */
int gc_safetensors_save(const gc_safetensors *st, const char *path, gc_error *err);

#endif
