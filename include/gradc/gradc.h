/*
 * gradc.h: the one public header of gradc, a compiler for training neural networks.
 *
 * A model file (.gm) goes in; native code that trains it comes out. This header holds the types
 * every layer of the project shares with its users (errors, dtypes, tensor views) and the C API.
 * Nothing in it prints, exits or aborts: every function that can fail fills a caller-owned
 * gc_error and returns a failure value.
 */
#ifndef GRADC_GRADC_H
#define GRADC_GRADC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GC_VERSION_STRING "0.1.0"

/* The highest tensor rank the IR supports (the model language allows 0 to 6). */
#define GC_MAX_RANK 6

/* Element types. f64 exists for gradient checks on the interpreter; models use f32 and i32. */
typedef enum gc_dtype {
    GC_F32 = 0,
    GC_I32 = 1,
    GC_F64 = 2,
} gc_dtype;

/* What kind of failure an error describes; the command maps USER to exit status 1, others to 2. */
typedef enum gc_error_code {
    GC_OK = 0,
    GC_ERR_USER = 1,     /* bad model, bad IR text, bad data, bad argument */
    GC_ERR_IO = 2,       /* a file could not be read or written */
    GC_ERR_NUMERIC = 3,  /* NaN or Inf in a loss or gradient */
    GC_ERR_INTERNAL = 4, /* a bug in gradc or a failure of LLVM */
    GC_ERR_MEMORY = 5,   /* an allocation failed */
} gc_error_code;

/* A diagnostic as a value. Caller-owned; zero-initialise it, pass it down, read it on failure.
 * file/line/col locate the cause in the model or IR file when there is one (line 0 otherwise). */
typedef struct gc_error {
    gc_error_code code;
    char message[512];
    char file[256];
    int line;
    int col;
} gc_error;

/* A view of a dense row-major tensor owned by someone else. */
typedef struct gc_tensor {
    gc_dtype dtype;
    int rank;
    int64_t shape[GC_MAX_RANK];
    void *data;
} gc_tensor;

#ifdef __cplusplus
}
#endif

#endif /* GRADC_GRADC_H */
