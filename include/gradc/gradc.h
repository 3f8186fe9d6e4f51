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


/* ---------------------------------------------------------------------------------------------
 * The C API. A gc_model is a model file (with const overrides); a gc_trainer is that model
 * compiled for training: parameters initialised from train.seed, optimizer state at zero.
 * Every function that can fail takes a caller-owned gc_error and returns NULL or 0 on failure;
 * none prints, exits or aborts on a caller's mistake. Functions are not thread-safe per object.
 * ------------------------------------------------------------------------------------------- */

typedef struct gc_model gc_model;
typedef struct gc_trainer gc_trainer;

typedef enum gc_backend {
    GC_BACKEND_JIT = 0,    /* LLVM-generated code (the default) */
    GC_BACKEND_INTERP = 1, /* the reference interpreter: slow, obviously correct */
} gc_backend;

typedef struct gc_options {
    gc_backend backend;
    int threads;           /* 0: all cores */
    int skip_nonfinite;    /* 1: a step whose loss or gradients are NaN/Inf skips its update
                              (and reports GC_ERR_NUMERIC) instead of failing the trainer */
} gc_options;

/* 1 when this build of gradc has the backend. */
int gc_backend_available(gc_backend backend);

/* Reads and keeps a model file; parsing and checking happen in gc_trainer_new. */
gc_model *gc_model_load(const char *path, gc_error *err);
/* The same from text; `filename` names it in error messages. */
gc_model *gc_model_load_string(const char *text, const char *filename, gc_error *err);
/* Overrides `const name = ...` before compiling (like `gradc train --set name=value`). */
int gc_model_set_const(gc_model *m, const char *name, double value, gc_error *err);
void gc_model_free(gc_model *m);

/* Parses, checks, lowers, differentiates and compiles the model. NULL opts: defaults. */
gc_trainer *gc_trainer_new(gc_model *m, const gc_options *opts, gc_error *err);
void gc_trainer_free(gc_trainer *t);

/* The model's inputs, in declaration order: name and type (data NULL). Returns 0 past the end. */
int gc_trainer_input_info(const gc_trainer *t, int index, const char **name, gc_tensor *type);
/* Copies one batch for an input: bytes must be the input's exact size (f32 or i32 data). */
int gc_trainer_set_input(gc_trainer *t, const char *name, const void *data, size_t bytes, gc_error *err);

/* One training step: forward, loss, backward, clipping, optimizer update. */
int gc_trainer_step(gc_trainer *t, float *loss, gc_error *err);
/* Forward only on the current inputs, with the eval graph (no dropout). */
int gc_trainer_eval(gc_trainer *t, float *loss, gc_error *err);
/* Number of updates done so far. */
int64_t gc_trainer_steps(const gc_trainer *t);
/* train.seed of the model: initialisation, dropout and data shuffling derive from it. */
uint64_t gc_trainer_seed(const gc_trainer *t);

/* A view of an output after the last step or eval: "loss", every `output` of the model, and after a
 * step "lr" and "grad_norm". Valid until the next step, eval or free. */
int gc_trainer_output(gc_trainer *t, const char *name, gc_tensor *out, gc_error *err);
/* The names of the model's outputs (reported values), in order; 0 past the end. */
int gc_trainer_output_name(const gc_trainer *t, int index, const char **name);
/* A read/write view of a parameter (f32); writes take effect at the next step. */
int gc_trainer_param(gc_trainer *t, const char *name, gc_tensor *out, gc_error *err);
/* Warnings found while compiling (for example a parameter that does not reach the loss and so is
 * never trained), one message each; 0 past the end. */
int gc_trainer_warning(const gc_trainer *t, int index, const char **message);

/* The parameters in creation order; 0 past the end. */
int gc_trainer_param_name(const gc_trainer *t, int index, const char **name);

/* Checkpoints (safetensors with PyTorch's parameter names, optimizer state and the step). */
int gc_trainer_save(gc_trainer *t, const char *path, gc_error *err);
/* Loads parameters, and optimizer state and step when the file has them. */
int gc_trainer_load(gc_trainer *t, const char *path, gc_error *err);
/* Loads parameters only (gradc train --init); optimizer state and step are left as they are. */
int gc_trainer_load_params(gc_trainer *t, const char *path, gc_error *err);

/* The program at a stage, as text: "forward", "grad", "train", "eval" (textual IR), or the
 * backend's own stages. NULL stage: the final training graph. NULL for an unknown stage.
 * The caller frees the string. */
char *gc_trainer_ir(gc_trainer *t, const char *stage);

#ifdef __cplusplus
}
#endif

#endif /* GRADC_GRADC_H */
