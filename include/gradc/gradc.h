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

/* What kind of failure an error describes. The gradc command exits with status 1 for USER, IO and
 * NUMERIC (the user can fix the cause) and 2 for INTERNAL and MEMORY. */
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
 * The C API (docs/c-api.md has the guide). A gc_model is the text of a model file plus const
 * overrides; a gc_trainer is that model compiled for training: parameters initialised from
 * train.seed, optimizer state at zero, step count 0.
 *
 * Errors: every function that can fail takes a caller-owned gc_error and returns NULL or 0 on
 * failure, after filling it (code, message, and file:line:col when the cause has a place in the
 * model text). On success the gc_error is left untouched. err may be NULL when the caller does not
 * want the details. No function prints, exits or aborts on a caller's mistake.
 *
 * Ownership: the caller frees the models, trainers and text the functions return: models with
 * gc_model_free, trainers with gc_trainer_free, gc_trainer_ir's text with free(); the free
 * functions accept NULL. Strings and tensor views the library hands out are borrowed: they belong
 * to the trainer and live as long as stated. Pointers the caller passes in are only read during
 * the call (nothing is retained).
 *
 * Threads: distinct models and trainers may be used from different threads at the same time; one
 * object must not be used by two threads at once (the caller serialises). Nothing is global
 * except LLVM's one-time initialisation, which is itself thread-safe.
 * ------------------------------------------------------------------------------------------- */

typedef struct gc_model gc_model;
typedef struct gc_trainer gc_trainer;

typedef enum gc_backend {
    GC_BACKEND_JIT = 0,    /* LLVM-generated code (the default) */
    GC_BACKEND_INTERP = 1, /* the reference interpreter: slow, obviously correct */
} gc_backend;

/* The processes that train one model together, data-parallel (docs/distributed.md): MPI's world
 * under mpirun, one process otherwise. */
typedef struct gc_communicator gc_communicator;

/* Compile options; zero-initialise, then set what you need (all zero: the JIT, default threads). */
/* What the matmuls and convolutions of a step multiply (docs/training.md, "Precision"). */
typedef enum gc_precision {
    GC_PRECISION_DEFAULT = 0, /* the model's train block (precision = "..."), f32 when it says nothing */
    GC_PRECISION_F32 = 1,     /* f32 operands */
    GC_PRECISION_BF16 = 2,    /* operands rounded to bf16, f32 accumulation, as torch.autocast on CPU */
} gc_precision;

typedef struct gc_options {
    gc_backend backend;
    int threads;           /* threads a step runs on, the caller's included; 0: one per online
                              CPU. The JIT splits its kernels and GEMMs over them (OpenBLAS is
                              set to one thread); the interpreter uses one */
    int skip_nonfinite;    /* a step whose loss or gradient norm is NaN/Inf never updates anything.
                              0: gc_trainer_step fails with GC_ERR_NUMERIC and the step does not
                              count. 1: the update is skipped, the step counts (the data order
                              moves on) and gc_trainer_step succeeds; *loss shows the value */
    int profile;           /* 1: time every kernel of the training step (JIT backend), from the
                              second step on; gc_trainer_profile reports them. Costs about 40 ns
                              a kernel. 0: no timing code in the step */
} gc_options;

/* The communicator of the processes launched together with this one (mpirun -np N ...): MPI is
 * initialised on the first call when the environment names several processes, and never
 * otherwise (the communicator then has one process). Free it with gc_communicator_free after
 * every trainer using it. Errors: GC_ERR_USER (launched by mpirun but this gradc has no MPI),
 * GC_ERR_INTERNAL (MPI failed to start), GC_ERR_MEMORY. */
gc_communicator *gc_communicator_world(gc_error *err);
/* This process's rank (0 .. size-1) and the number of processes; 0 and 1 for NULL. */
int gc_communicator_rank(const gc_communicator *c);
int gc_communicator_size(const gc_communicator *c);
/* How long any collective operation may wait for the other processes before it fails naming this
 * rank (default: GC_MPI_TIMEOUT seconds from the environment, else 300). Errors: GC_ERR_USER (not
 * a positive number of seconds). */
int gc_communicator_set_timeout(gc_communicator *c, double seconds, gc_error *err);
/* Finalises MPI when gc_communicator_world initialised it; NULL is a no-op. */
void gc_communicator_free(gc_communicator *c);

/* 1 when this build of gradc has the backend, 0 otherwise (the interpreter is always there).
 * Never fails; safe to call from any thread at any time. */
int gc_backend_available(gc_backend backend);

/* Reads a model file (at most 64 MiB) and keeps its text; parsing and checking happen in
 * gc_trainer_new, so a model with errors loads fine and fails there with a located message.
 * Returns a model the caller frees with gc_model_free. Errors: GC_ERR_IO (cannot open or read
 * the file), GC_ERR_USER (NULL path, a file too large or holding NUL bytes), GC_ERR_MEMORY. */
gc_model *gc_model_load(const char *path, gc_error *err);
/* The same from text (NUL-terminated, copied). `filename` (copied; NULL means "<model>") names the
 * text in error messages. Errors: GC_ERR_USER (NULL text), GC_ERR_MEMORY. */
gc_model *gc_model_load_string(const char *text, const char *filename, gc_error *err);
/* Overrides `const name = ...` before compiling, like `gradc train --set name=value`; setting a
 * name again replaces the earlier value. The name is checked by gc_trainer_new, which fails with
 * GC_ERR_USER when the model has no such const or the value does not suit it (a fractional
 * dimension, say). Errors here: GC_ERR_USER (NULL model, NULL or empty name), GC_ERR_MEMORY. */
int gc_model_set_const(gc_model *m, const char *name, double value, gc_error *err);
/* Overrides the train block's precision (`precision = "bf16"`), like `gradc train --precision`:
 * GC_PRECISION_DEFAULT goes back to the train block's. Errors: GC_ERR_USER (NULL model, a value
 * that is not a gc_precision). */
int gc_model_set_precision(gc_model *m, gc_precision precision, gc_error *err);
/* A memory budget for the training step (`--memory-budget`, overriding the train block's
 * memory_budget): the planner recomputes activations in backward until the planned peak fits
 * (docs/optimisation.md); gc_trainer_new fails with GC_ERR_USER, stating the smallest peak it
 * can reach, when it cannot. 0 removes a budget set before. Errors: GC_ERR_USER (NULL model,
 * negative bytes). */
int gc_model_set_memory_budget(gc_model *m, int64_t bytes, gc_error *err);
/* Reads "2GiB", "512MiB", "1.5GB", "3e9" (bytes) into *bytes: KiB/MiB/GiB/TiB (and K/M/G/T) are
 * powers of 1024, KB/MB/GB/TB of 1000. Errors: GC_ERR_USER naming the text. */
int gc_parse_memory_size(const char *text, int64_t *bytes, gc_error *err);
/* Frees a model; NULL is a no-op. Trainers made from it are independent of it. */
void gc_model_free(gc_model *m);

/* Parses, checks, lowers, differentiates and compiles the model with the backend of opts (NULL
 * opts: defaults, i.e. the JIT), then initialises the parameters from train.seed. The trainer
 * keeps no reference to m: free the model whenever convenient. Returns a trainer the caller frees
 * with gc_trainer_free. Errors: GC_ERR_USER (the model's own errors, located at file:line:col;
 * an unknown const override; an unknown backend or one this build lacks; NULL model),
 * GC_ERR_INTERNAL (a gradc bug or an LLVM failure), GC_ERR_MEMORY. */
gc_trainer *gc_trainer_new(gc_model *m, const gc_options *opts, gc_error *err);
/* The same, but compiled and planned only: no executor, no parameter storage is allocated, so a
 * model of any size answers (`gradc check`). The memory report, names and shapes work (and
 * gc_trainer_param gives a parameter's shape with data NULL); steps, evals, saves and loads fail.
 * gc_trainer_ir gives the train and eval stages only (the forward and grad texts are not kept:
 * printing them is a fifth of a huge model's check). Errors as gc_trainer_new. */
gc_trainer *gc_trainer_plan(gc_model *m, const gc_options *opts, gc_error *err);
/* The same, training data-parallel with the processes of comm (docs/distributed.md): each process
 * feeds its own slice of the global batch (the model's batch is the per-process one), gradients
 * are averaged across them while backward runs, the loss and the other scalar outputs a step
 * reports are their mean over the processes, and every process applies the same update. Every
 * process must make the same calls in the same order. comm must outlive the trainer; NULL or a
 * one-process communicator trains alone, exactly as gc_trainer_new. */
gc_trainer *gc_trainer_new_distributed(gc_model *m, const gc_options *opts, gc_communicator *comm, gc_error *err);
/* Frees a trainer and everything it handed out (names, output and parameter views); NULL is a
 * no-op. */
void gc_trainer_free(gc_trainer *t);

/* The model's inputs, in declaration order: for index 0, 1, ... sets *name (owned by the trainer,
 * valid until gc_trainer_free) and *type (dtype, rank and shape; data NULL); name or type may be
 * NULL. Returns 1, or 0 for an index out of range (negative included) or a NULL trainer. */
int gc_trainer_input_info(const gc_trainer *t, int index, const char **name, gc_tensor *type);
/* Copies one batch for an input. data is the whole tensor, row-major, in the input's dtype (float
 * for f32, int32_t for i32; nothing is converted) and bytes must be its exact size. The values
 * stay until the input is set again and feed both steps and evals; an input never set reads as
 * zeros. Errors (GC_ERR_USER, the trainer unchanged): NULL trainer, name or data; no input of that
 * name; a size that differs (the message gives the input's type and size). */
int gc_trainer_set_input(gc_trainer *t, const char *name, const void *data, size_t bytes, gc_error *err);

/* One training step on the current inputs: forward, loss, backward, gradient clipping, optimizer
 * update; the step count then goes up by one. *loss (loss may be NULL) receives the loss before
 * the update. When the loss or the gradient norm is NaN or infinite, the parameters and the
 * optimizer state do not change and *loss still receives the loss; without skip_nonfinite the step
 * fails with GC_ERR_NUMERIC naming it and the step count stays, with skip_nonfinite the call
 * succeeds and the step counts as done. The trainer stays usable either way. Exception: when the
 * optimizer runs in backward (no clip_grad_norm, no accumulation, skip_nonfinite 0;
 * docs/optimisation.md), a non-finite gradient norm with a finite loss is known only after the
 * update: the step counts and fails with GC_ERR_NUMERIC saying so. Other errors: GC_ERR_USER (NULL trainer),
 * GC_ERR_INTERNAL.
 *
 * With `gradient_accumulation_steps = N` in the model's train block (gc_trainer_accumulation), one
 * call is one micro-batch: it runs forward and backward on the current inputs and adds the
 * gradient / N to the update being accumulated; every Nth call also clips the summed gradient and
 * updates (the step count, which counts updates, goes up then). Set the inputs to the next batch
 * before each call. *loss receives the mean loss of the update's micro-batches so far, so on the
 * call that updates it is the update's loss; "lr" and "grad_norm" (gc_trainer_output) are the
 * update's on that call. A NaN or infinite loss fails the call as above (nothing changes, the
 * micro-batch may be retried); with skip_nonfinite the whole update is dropped, as
 * torch.cuda.amp.GradScaler drops it: the remaining micro-batches still run, and the Nth call
 * clears the accumulated gradient instead of updating and counts the update as done. */
int gc_trainer_step(gc_trainer *t, float *loss, gc_error *err);
/* Forward only on the current inputs, with the eval graph (no dropout) and the current
 * parameters; nothing changes, so two evals in a row give the same result. *loss (loss may be
 * NULL) receives the loss. Errors: GC_ERR_USER (NULL trainer), GC_ERR_INTERNAL. */
int gc_trainer_eval(gc_trainer *t, float *loss, gc_error *err);
/* Number of updates done so far (restored by gc_trainer_load); 0 for a NULL trainer. */
int64_t gc_trainer_steps(const gc_trainer *t);
/* The model's gradient_accumulation_steps: the gc_trainer_step calls (batches) per update, 1
 * without accumulation and for a NULL trainer. */
int64_t gc_trainer_accumulation(const gc_trainer *t);
/* The precision the trainer's step runs at: GC_PRECISION_F32 or GC_PRECISION_BF16 (the train
 * block's, or gc_options.precision when that is not GC_PRECISION_DEFAULT); f32 for NULL. */
gc_precision gc_trainer_precision(const gc_trainer *t);
/* train.seed of the model: initialisation, dropout and data shuffling derive from it (0 for a
 * NULL trainer). */
uint64_t gc_trainer_seed(const gc_trainer *t);

/* A read-only view of an output of the last step or eval: "loss", every `output` of the model,
 * and after a step also "lr" and "grad_norm". The view's dtype is the output's (GC_F32 or GC_I32);
 * its data belongs to the trainer and is valid until the next step, eval, load or free.
 * Errors (GC_ERR_USER): NULL trainer, name or out; nothing has run yet; no such output. */
int gc_trainer_output(gc_trainer *t, const char *name, gc_tensor *out, gc_error *err);
/* The names of the model's outputs (reported values), in order ("loss" first): sets *name (owned by
 * the trainer, valid until gc_trainer_free; name must not be NULL) and returns 1, or returns 0
 * for an index out of range or a NULL trainer. */
int gc_trainer_output_name(const gc_trainer *t, int index, const char **name);
/* A read/write view of a parameter (f32, row-major) by its model-language name ("fc1.weight"):
 * writes take effect at the next step or eval. The data belongs to the trainer and stays valid
 * until gc_trainer_free. Errors (GC_ERR_USER): NULL trainer, name or out; no such parameter; a
 * parameter that does not reach the loss (the compiler removed it, so it has no storage). */
int gc_trainer_param(gc_trainer *t, const char *name, gc_tensor *out, gc_error *err);
/* Warnings found while compiling, for example a parameter that does not reach the loss and so is
 * never trained: one "file:line:col: ..." message each, for index 0, 1, ... Sets *message (owned
 * by the trainer, valid until gc_trainer_free; message must not be NULL) and returns 1, or
 * returns 0 for an index out of range (negative included) or a NULL trainer. */
int gc_trainer_warning(const gc_trainer *t, int index, const char **message);

/* The parameters in creation order: sets *name (owned by the trainer, valid until
 * gc_trainer_free; name must not be NULL) and returns 1, or returns 0 for an index out of range
 * (negative included) or a NULL trainer. */
int gc_trainer_param_name(const gc_trainer *t, int index, const char **name);

/* Buffers: model state that is saved and loaded with the parameters but never trained, such as
 * batch norm's running_mean, running_var (f32) and num_batches_tracked (i32 here, I64 in
 * checkpoints as torch writes it). The training step updates them; evals read them. A read/write
 * view by name, as gc_trainer_param (its dtype is the buffer's); errors (GC_ERR_USER): NULL
 * trainer, name or out; no such buffer. */
int gc_trainer_buffer(gc_trainer *t, const char *name, gc_tensor *out, gc_error *err);
/* The buffers in creation order, as gc_trainer_param_name. */
int gc_trainer_buffer_name(const gc_trainer *t, int index, const char **name);

/* Writes a checkpoint: a safetensors file with every parameter and buffer under its model-language
 * name (what PyTorch's load_state_dict expects), the optimizer state as `optimizer.<param>.<slot>`
 * and the step count in the metadata, so gc_trainer_load resumes bit-identically. The file is
 * replaced atomically (a crash mid-save leaves the old one). With gradient accumulation a
 * checkpoint is taken between updates: saving after some but not all micro-batches of an update
 * is an error. Errors: GC_ERR_USER (NULL trainer or path, an update half accumulated), GC_ERR_IO
 * (cannot write), GC_ERR_MEMORY. */
int gc_trainer_save(gc_trainer *t, const char *path, gc_error *err);
/* Loads a checkpoint: the parameters and buffers, and the optimizer state and step count when the
 * file has optimizer tensors (a file PyTorch wrote with only the parameters and buffers loads too;
 * f64 tensors are converted to f32, and an i32 buffer also loads from I64, F32 or F64 integers).
 * A gradient being accumulated is dropped: the next gc_trainer_step starts a new update.
 * Errors: GC_ERR_IO (cannot read), GC_ERR_USER (not a safetensors file; tensors
 * the model does not have, listed by name and refused before anything is written; tensors missing,
 * of the wrong shape or dtype, after which the trainer may hold a mix of old and loaded values
 * and should be loaded again or freed), GC_ERR_MEMORY. */
int gc_trainer_load(gc_trainer *t, const char *path, gc_error *err);
/* Loads parameters and buffers only (gradc train --init): the file's optimizer tensors are ignored, and the
 * trainer's optimizer state and step count are left as they are. Errors as gc_trainer_load. */
int gc_trainer_load_params(gc_trainer *t, const char *path, gc_error *err);

/* The program at a stage, as text: "forward" (after lowering), "grad" (after autodiff), "train"
 * (the final training graph; also for a NULL stage) and "eval" in textual IR, and with the JIT the
 * backend's "llvm" (LLVM IR) and "asm" (assembly). Returns a string the caller frees with free(),
 * or NULL for an unknown stage, a NULL trainer or a failure (no gc_error: this is a debugging
 * aid). */
char *gc_trainer_ir(gc_trainer *t, const char *stage);

/* Where the training steps' time went, kernel by kernel, as text (docs/cli.md, `gradc train
 * --profile`): the `top` kernels taking most time (0: all), each with its ms a step, its ops,
 * result type and source line, then the time by kind of kernel. Steps after the first count. The
 * caller frees the text with free(). Errors: GC_ERR_USER (a NULL trainer, or one made without
 * gc_options.profile or not on the JIT), GC_ERR_MEMORY. */
char *gc_trainer_profile(gc_trainer *t, int top, gc_error *err);

/* ---------------------------------------------------------------------------------------------
 * Training runs: the loop of `gradc train` and of the standalone trainers (the same code), for a
 * caller who does not want to write one: data from files, held-out evaluation, the CSV log,
 * checkpoints, keep-best and a clean stop (docs/c-api.md, "Training runs"). Nothing prints.
 * ------------------------------------------------------------------------------------------- */

/* A data file for an input, as `gradc train --data NAME=FILE`: a .npy array whose first axis
 * indexes examples or `FILE.csv[:COLS]`; input NULL: a byte-level text feeding the inputs tokens
 * and targets (`--text FILE`). */
typedef struct gc_data_file {
    const char *input;
    const char *path;
} gc_data_file;

/* Options of a run; zero-initialise, then set what you need. */
typedef struct gc_run_options {
    const gc_data_file *data;      /* the training data (every input needs a file) */
    int num_data;
    const gc_data_file *eval_data; /* held-out data, evaluated over every example once; may be none */
    int num_eval_data;
    int64_t steps;                 /* updates to run; 0: `epochs` passes over the data */
    int64_t epochs;                /* 0 (with steps 0): one epoch */
    int64_t eval_every;            /* evaluate every N updates; 0: after the last only */
    const char *save;              /* checkpoint written at the end and when the run is stopped */
    int64_t save_every;            /* also write `save` every N updates (needs save) */
    int keep_best;                 /* keep the checkpoint of the lowest eval loss beside `save`
                                      (run.safetensors -> run.best.safetensors; needs eval_data) */
    const char *save_weights;      /* parameters and buffers only (torch's strict load), with each save */
    const char *log;               /* CSV log, one row per update (continued when the trainer was
                                      loaded from a checkpoint) */
    int no_shuffle;                /* read the examples in order instead of a seeded shuffle per epoch */
    int64_t text_stride;           /* bytes between text windows; 0: the context (no overlap) */
} gc_run_options;

typedef struct gc_run_result {
    int64_t steps;          /* updates this run did */
    float loss;             /* the last update's loss */
    double eval_loss;       /* the last evaluation's mean loss; NaN when none ran */
    int stopped;            /* 1 when gc_trainer_request_stop ended the run early */
    char saved[1024];       /* where the stopped run saved its checkpoint ("" when not stopped):
                               `save`, else interrupted.safetensors beside the log */
    int64_t best_step;      /* keep_best: the step of the kept checkpoint (0 when none) */
    double best_eval_loss;
} gc_run_result;

/* Trains t from its current step (a trainer loaded with gc_trainer_load continues its run) with
 * the data of o, exactly as `gradc train` does: a resumed run gives the same parameters, log and
 * checkpoints as one never stopped, bit for bit. Data is validated before the first step (class
 * ids and token ids in range, no NaN, every input bound). Returns 1 when the run ended or was
 * stopped (r->stopped), 0 with err set: GC_ERR_USER (bad options or data), GC_ERR_IO,
 * GC_ERR_NUMERIC (a NaN/Inf loss; or, with gc_options.skip_nonfinite, more than half of the
 * updates skipped), GC_ERR_MEMORY, GC_ERR_INTERNAL. r (may be NULL) is filled either way. */
int gc_trainer_run(gc_trainer *t, const gc_run_options *o, gc_run_result *r, gc_error *err);

/* Asks a running gc_trainer_run of t to stop after the update in flight: it finishes that update
 * and its log row, saves the checkpoint and returns 1 with r->stopped set. A request made while no
 * run is going stops the next run before its first update. Safe to call from any thread and from
 * a signal handler (it only sets an atomic flag). Returns 0 for a NULL trainer, else 1. */
int gc_trainer_request_stop(gc_trainer *t);

#ifdef __cplusplus
}
#endif

#endif /* GRADC_GRADC_H */
