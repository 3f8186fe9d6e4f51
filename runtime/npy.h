/*
 * npy.h: reading and writing NumPy .npy files, the array format data and results travel in.
 *
 * Reading accepts format versions 1.0, 2.0 and 3.0, C order, little-endian f32 (<f4), f64 (<f8),
 * i32 (<i4) and i64 (<i8), rank 0 to 6. Floats convert to the float dtype asked for, integers to
 * i32 (i64 values outside the i32 range are an error, never silently wrapped). Everything else
 * (Fortran order, other dtypes, big-endian data, malformed or truncated files) is a gc_error whose
 * message starts with the file's path. Writing produces version 1.0 atomically: a temporary file
 * in the same directory, fsync'd, then renamed over the destination, so a reader never sees half
 * an array.
 */
#ifndef GC_RUNTIME_NPY_H
#define GC_RUNTIME_NPY_H

#include <gradc/gradc.h>

/* What a .npy header says, before any data is read. */
typedef struct gc_npy_info {
    char descr[16];     /* the dtype as written, e.g. "<f4" (truncated if longer) */
    gc_dtype dtype;     /* the gradc dtype it reads as by default: <f4 f32, <f8 f64, <i4 and <i8 i32 */
    int rank;
    int64_t shape[GC_MAX_RANK];
    int64_t numel;
} gc_npy_info;

/* Reads only the header of path; fails as gc_npy_read would on a bad header. */
int gc_npy_read_info(const char *path, gc_npy_info *info, gc_error *err);

/* Reads path into out, converted to `want`: float data to GC_F32 or GC_F64, integer data to
 * GC_I32; asking for an integer dtype from float data (or the reverse) is an error naming both.
 * out->data is malloc'd (at least one byte even for an empty array) and the caller frees it.
 * Returns 1, or 0 with err set: GC_ERR_IO when the file cannot be opened or read, GC_ERR_USER when
 * its contents are not an array gradc can read, GC_ERR_MEMORY when the data does not fit. */
int gc_npy_read(const char *path, gc_dtype want, gc_tensor *out, gc_error *err);

/* Writes t (f32 as <f4, i32 as <i4, f64 as <f8) to path in format 1.0, replacing it atomically.
 * Returns 1, or 0 with err set (GC_ERR_IO for file system failures). */
int gc_npy_write(const char *path, const gc_tensor *t, gc_error *err);

#endif
