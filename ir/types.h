/*
 * types.h: static tensor types (dtype + shape) and NumPy broadcasting.
 *
 * Every IR value has one of these, known at compile time. Shapes are row-major, rank 0 to
 * GC_MAX_RANK, dims >= 1 (a model language shape of 0 is rejected by the builder).
 */
#ifndef GC_IR_TYPES_H
#define GC_IR_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gradc/gradc.h>

/* Largest element count of one tensor; keeps byte sizes far from overflow. */
#define GC_MAX_ELEMENTS ((int64_t)1 << 40)

typedef struct gc_type {
    gc_dtype dtype;
    int rank;
    int64_t dims[GC_MAX_RANK];
} gc_type;

const char *gc_dtype_name(gc_dtype dtype);          /* "f32", "i32", "f64" */
bool gc_dtype_from_name(const char *name, size_t len, gc_dtype *out);
size_t gc_dtype_size(gc_dtype dtype);
bool gc_dtype_is_float(gc_dtype dtype);

gc_type gc_type_make(gc_dtype dtype, int rank, const int64_t *dims);
gc_type gc_type_scalar(gc_dtype dtype);
int64_t gc_type_numel(const gc_type *t);
bool gc_type_equal(const gc_type *a, const gc_type *b);
bool gc_type_same_shape(const gc_type *a, const gc_type *b);
/* Writes "f32[128, 784]" (rank 0: "f32[]") into buf; returns buf. */
char *gc_type_format(const gc_type *t, char *buf, size_t size);
/* Row-major strides in elements. */
void gc_type_strides(const gc_type *t, int64_t *strides);

/* NumPy broadcasting of two shapes; false when incompatible. */
bool gc_broadcast_shapes(const gc_type *a, const gc_type *b, gc_type *out);
/* True when `from` broadcasts to `to` (right-aligned, dims equal or 1). */
bool gc_broadcastable_to(const gc_type *from, const gc_type *to);

/* Normalises a possibly negative axis against rank; false when out of range. */
bool gc_normalize_axis(int axis, int rank, int *out);

#endif
