/*
 * trainer.c: the public C API (include/gradc/gradc.h) — a model file compiled into a training
 * step and run.
 *
 * gc_trainer_new is the compilation pipeline in one place: parse, check, lower twice (training
 * graph with dropout, eval graph without), autodiff and the optimizer on the training graph,
 * simplification, then an executor per graph (interpreter or JIT). The training executor's source
 * storage is the one home of the parameters, buffers and optimizer state; the eval executor
 * receives a copy of the parameters and buffers before each eval.
 *
 * Buffers (batch norm's running statistics, `buffer` sources) are model state that is not
 * trained: checkpoints hold them beside the parameters under torch's names and dtypes (an i32
 * buffer such as num_batches_tracked is written as I64, torch's dtype), --init loads them with the
 * parameters, and the training step's update outputs advance them.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <string.h>

#include <gradc/gradc.h>

#include "frontend/check.h"
#include "frontend/lower.h"
#include "frontend/onnx_import.h"
#include "frontend/parser.h"
#include "ir/conv.h"
#include "ir/text.h"
#include "passes/autodiff.h"
#include "passes/fuse.h"
#include "passes/manager.h"
#include "passes/plan.h"
#include "passes/recompute.h"
#include "passes/by_index.h"
#include "passes/remat.h"
#include "passes/rewrite.h"
#include "passes/update_order.h"
#include "passes/precision.h"
#include "runtime/clock.h"
#include "runtime/executor.h"
#include "runtime/file.h"
#include "runtime/conv.h"
#include "runtime/conv_weight_grad.h"
#include "runtime/distributed.h"
#include "runtime/gemm.h"
#include "runtime/gemm_bf16.h"
#include "runtime/init.h"
#include "runtime/parallel.h"
#include "runtime/predict_graph.h"
#include "runtime/safetensors.h"
#include "runtime/trainer.h"
#include "runtime/validate.h"
#include "runtime/updates.h"

struct gc_model {
    char *source;
    size_t len;
    char *filename;
    gc_const_override *overrides;
    int num_overrides, cap_overrides;
    gc_precision precision; /* gc_model_set_precision; GC_PRECISION_DEFAULT: the train block's */
    int64_t memory_budget; /* gc_model_set_memory_budget; 0: the train block's, if any */
};

typedef struct trainer_param {
    char *name;
    gc_type type;
    gc_init init;
    float *data; /* initial f32 values given by the model (an imported ONNX initializer), or NULL */
} trainer_param;

struct gc_trainer {
    gc_options opts;
    gc_graph *train_graph, *eval_graph;
    const gc_executor_ops *ops;
    void *train_exec, *eval_exec;
    void *last_exec; /* whose outputs gc_trainer_output reads */
    int64_t step;      /* updates done */
    int64_t steps_run; /* steps this trainer has run itself (a resumed one starts at 0) */
    /* gradient_accumulation_steps: runs per update; `micro` of them done in the current update,
     * whose losses sum to loss_sum; poisoned: one of them was not finite (skip_nonfinite). */
    int64_t accumulate, micro;
    double loss_sum;
    bool poisoned;
    uint64_t seed;
    gc_precision precision; /* f32 or bf16: what the step's products multiply */
    trainer_param *params;
    int num_params;
    trainer_param *buffers;
    int num_buffers;
    char *text_forward, *text_grad;
    char **warnings;
    int num_warnings;
    gc_error step_error; /* the model cannot train (gc_layer_context.step_error): every step fails */
    bool plan_only;          /* gc_trainer_plan: no executors */
    gc_graph *classic_graph; /* plan_only: the training graph before update_in_backward, whose
                                plan the memory report compares with */
    gc_compile_times times;
    gc_recompute_report recompute; /* what the memory budget recomputes (passes/recompute.h) */
    int64_t peak_unbudgeted;       /* the planned peak before recompute; 0 when none was needed */
    gc_index_rule *index_rules; /* what the integer inputs index (runtime/validate.h) */
    int num_index_rules;
    int64_t skipped; /* updates skipped for a non-finite loss or gradient norm (skip_nonfinite) */
    atomic_int stop_requested; /* gc_trainer_request_stop: set from any thread or a signal handler */
    /* Data-parallel training (a communicator of several ranks; runtime/distributed.h). */
    gc_communicator *comm;
    gc_grad_reducer *reducer;
    bool dist_synced; /* the ranks' params, buffers and state have been made the root's */
};

int gc_trainer_request_stop(gc_trainer *t) {
    if (!t) return 0;
    atomic_store(&t->stop_requested, 1);
    return 1;
}

int gc_trainer_take_stop_request(gc_trainer *t) { return t && atomic_exchange(&t->stop_requested, 0); }

int64_t gc_trainer_skipped(const gc_trainer *t) { return t ? t->skipped : 0; }

int gc_trainer_reduced(const gc_trainer *t, int64_t *bytes, int *buckets, int *overlapped) {
    if (!t || !t->reducer) return 0;
    *bytes = gc_grad_reducer_bytes(t->reducer);
    *buckets = gc_grad_reducer_buckets(t->reducer);
    *overlapped = gc_grad_reducer_overlapped(t->reducer);
    return 1;
}

int64_t gc_trainer_reduced_runs(const gc_trainer *t, int64_t *synced) {
    if (synced) *synced = 0;
    return t && t->reducer ? gc_grad_reducer_runs(t->reducer, synced) : 0;
}

void gc_trainer_compile_times(const gc_trainer *t, gc_compile_times *times) {
    if (t) *times = t->times;
}

static int out_of_memory(gc_error *err) { return gc_failf(err, GC_ERR_MEMORY, "out of memory"); }

static char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

gc_model *gc_model_load_string(const char *text, const char *filename, gc_error *err) {
    if (!text) return gc_failf(err, GC_ERR_USER, "gc_model_load_string: text is NULL"), NULL;
    gc_model *m = calloc(1, sizeof *m);
    if (!m) return out_of_memory(err), NULL;
    m->len = strlen(text);
    m->source = xstrdup(text);
    m->filename = xstrdup(filename ? filename : "<model>");
    if (!m->source || !m->filename) {
        gc_model_free(m);
        return out_of_memory(err), NULL;
    }
    return m;
}

gc_model *gc_model_load(const char *path, gc_error *err) {
    if (!path) return gc_failf(err, GC_ERR_USER, "gc_model_load: path is NULL"), NULL;
    size_t len = 0;
    char *text = gc_file_read(path, GC_FRONTEND_MAX_SOURCE, &len, err);
    if (!text) return NULL;
    if (memchr(text, '\0', len)) {
        free(text);
        gc_loc loc = {path, 1, 1};
        return gc_fail(err, GC_ERR_USER, loc, "the file contains NUL bytes; is it a model file?"), NULL;
    }
    gc_model *m = gc_model_load_string(text, path, err);
    free(text);
    return m;
}

int gc_model_set_const(gc_model *m, const char *name, double value, gc_error *err) {
    if (!m || !name || !*name) return gc_failf(err, GC_ERR_USER, "gc_model_set_const: model and name are required");
    for (int i = 0; i < m->num_overrides; i++) {
        if (!strcmp(m->overrides[i].name, name)) {
            m->overrides[i].value = value;
            return 1;
        }
    }
    if (m->num_overrides == m->cap_overrides) {
        int cap = m->cap_overrides ? m->cap_overrides * 2 : 8;
        gc_const_override *o = realloc(m->overrides, sizeof *o * (size_t)cap);
        if (!o) return out_of_memory(err);
        m->overrides = o;
        m->cap_overrides = cap;
    }
    char *copy = xstrdup(name);
    if (!copy) return out_of_memory(err);
    m->overrides[m->num_overrides].name = copy;
    m->overrides[m->num_overrides].value = value;
    m->num_overrides++;
    return 1;
}

int gc_model_set_precision(gc_model *m, gc_precision precision, gc_error *err) {
    if (!m) return gc_failf(err, GC_ERR_USER, "gc_model_set_precision: model is NULL");
    if (precision != GC_PRECISION_DEFAULT && precision != GC_PRECISION_F32 && precision != GC_PRECISION_BF16)
        return gc_failf(err, GC_ERR_USER, "gc_model_set_precision: unknown precision %d", (int)precision);
    m->precision = precision;
    return 1;
}

int gc_model_set_memory_budget(gc_model *m, int64_t bytes, gc_error *err) {
    if (!m || bytes < 0) return gc_failf(err, GC_ERR_USER, "gc_model_set_memory_budget: a model and bytes >= 0 are required");
    m->memory_budget = bytes;
    return 1;
}

void gc_model_free(gc_model *m) {
    if (!m) return;
    for (int i = 0; i < m->num_overrides; i++) free((char *)m->overrides[i].name);
    free(m->overrides);
    free(m->source);
    free(m->filename);
    free(m);
}

void gc_trainer_free(gc_trainer *t) {
    if (!t) return;
    if (t->ops) {
        if (t->train_exec) t->ops->destroy(t->train_exec);
        if (t->eval_exec) t->ops->destroy(t->eval_exec);
    }
    gc_grad_reducer_free(t->reducer);
    gc_graph_free(t->train_graph);
    gc_graph_free(t->classic_graph);
    gc_graph_free(t->eval_graph);
    free(t->index_rules);
    for (int i = 0; i < t->num_params; i++) free(t->params[i].name), free(t->params[i].data);
    free(t->params);
    for (int i = 0; i < t->num_buffers; i++) free(t->buffers[i].name), free(t->buffers[i].data);
    free(t->buffers);
    free(t->text_forward);
    free(t->text_grad);
    for (int i = 0; i < t->num_warnings; i++) free(t->warnings[i]);
    free(t->warnings);
    free(t);
}

/* Params autodiff gave no gradient: torch would leave their .grad None and never update them. */
static int warn_unreached(gc_trainer *t, const gc_graph *g, gc_error *err) {
    int count = gc_autodiff_unreached(g, NULL, 0);
    if (!count) return 1;
    const gc_node **params = calloc((size_t)count, sizeof *params);
    t->warnings = calloc((size_t)count, sizeof *t->warnings);
    if (!params || !t->warnings) {
        free(params);
        return out_of_memory(err);
    }
    gc_autodiff_unreached(g, params, count);
    for (int i = 0; i < count; i++) {
        char message[512];
        const gc_node *p = params[i];
        snprintf(message, sizeof message, "%s:%d:%d: parameter '%s' does not reach the loss; it will not be trained",
                 p->loc.file ? p->loc.file : "<model>", p->loc.line, p->loc.col, p->name);
        if (!(t->warnings[i] = xstrdup(message))) {
            free(params);
            return out_of_memory(err);
        }
        t->num_warnings++;
    }
    free(params);
    return 1;
}

int gc_trainer_warning(const gc_trainer *t, int index, const char **message) {
    if (!t || !message || index < 0 || index >= t->num_warnings) return 0;
    *message = t->warnings[index];
    return 1;
}

/* Parses, checks and lowers the model once; `training` picks dropout on or off. */
static int lower(const gc_model *m, bool training, gc_lowered_model *out, gc_error *err) {
    gc_arena *arena = gc_arena_new();
    if (!arena) return out_of_memory(err);
    gc_ast_module *ast = gc_frontend_parse(m->source, m->len, m->filename, arena, err);
    int ok = ast && gc_frontend_check(ast, m->overrides, m->num_overrides, err) &&
             gc_lower_model(ast, training, out, err);
    gc_arena_free(arena);
    return ok;
}

static void *must_source(gc_trainer *t, void *exec, const char *name) {
    return exec ? t->ops->source(exec, name) : NULL;
}

/* Copies the params' and buffers' names, types and initialisers out of the lowering's registry,
 * which lives in a graph arena the simplification passes free. */
static int record_params(gc_trainer *t, const gc_lowered_model *model, gc_error *err) {
    const gc_layer_context *c = &model->layers;
    t->params = calloc((size_t)c->num_params + 1, sizeof *t->params);
    t->buffers = calloc((size_t)c->num_params + 1, sizeof *t->buffers);
    if (!t->params || !t->buffers) return out_of_memory(err);
    for (int i = 0; i < c->num_params; i++) {
        bool buffer = c->params[i].node->op == GC_OP_BUFFER;
        trainer_param *tp = buffer ? &t->buffers[t->num_buffers] : &t->params[t->num_params];
        if (!(tp->name = xstrdup(c->params[i].name))) return out_of_memory(err);
        tp->type = c->params[i].node->type;
        tp->init = c->params[i].init;
        if (c->params[i].data && tp->type.dtype == GC_F32) {
            size_t bytes = (size_t)gc_type_numel(&tp->type) * sizeof(float);
            if (!(tp->data = malloc(bytes))) return out_of_memory(err);
            memcpy(tp->data, c->params[i].data, bytes);
        }
        if (buffer) t->num_buffers++;
        else t->num_params++;
    }
    return 1;
}

static size_t bytes_of(const gc_type *t) { return (size_t)gc_type_numel(t) * gc_dtype_size(t->dtype); }

static int init_one(gc_trainer *t, const trainer_param *p, gc_error *err) {
    void *data = must_source(t, t->train_exec, p->name);
    /* A param the simplifier found unused is not in the training graph; nothing to fill. */
    if (!data) return 1;
    if (p->type.dtype == GC_I32) {
        /* Integer buffers (num_batches_tracked) start at a constant. */
        int32_t value = p->init.kind == GC_INIT_ONES ? 1 : p->init.kind == GC_INIT_CONSTANT ? (int32_t)p->init.a : 0;
        for (int64_t i = 0; i < gc_type_numel(&p->type); i++) ((int32_t *)data)[i] = value;
        return 1;
    }
    if (p->data) {
        memcpy(data, p->data, (size_t)gc_type_numel(&p->type) * sizeof(float));
        return 1;
    }
    if (!gc_init_fill(&p->init, &p->type, t->seed, p->name, data, gc_pool_resolve_threads(t->opts.threads), err)) {
        gc_error_prefix(err, "initialising %s: ", p->name);
        return 0;
    }
    return 1;
}

static int init_params(gc_trainer *t, gc_error *err) {
    for (int i = 0; i < t->num_params; i++)
        if (!init_one(t, &t->params[i], err)) return 0;
    for (int i = 0; i < t->num_buffers; i++)
        if (!init_one(t, &t->buffers[i], err)) return 0;
    return 1;
}

static void explain_out_of_memory(const gc_trainer *t, gc_error *err);
static int meet_budget(gc_trainer *t, int64_t budget, const char *from, gc_error *err);

/* LLVM's optimiser and code generator free hundreds of MB of small blocks once the kernels are
 * compiled; glibc keeps them in the heap (in the process's RSS) unless asked to give them back.
 * The step's arena is mmap'd apart, so it never reuses them. */
static void release_freed_memory(void) {
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

/* data_parallel: build the training graph a trainer on several processes runs (always so when
 * comm has several). */
static gc_trainer *trainer_new(gc_model *m, const gc_options *opts, bool plan_only, gc_communicator *comm,
                               bool data_parallel, gc_error *err);

gc_trainer *gc_trainer_new(gc_model *m, const gc_options *opts, gc_error *err) {
    return trainer_new(m, opts, false, NULL, false, err);
}

gc_trainer *gc_trainer_plan(gc_model *m, const gc_options *opts, gc_error *err) {
    return trainer_new(m, opts, true, NULL, false, err);
}

gc_trainer *gc_trainer_plan_distributed(gc_model *m, const gc_options *opts, gc_error *err) {
    return trainer_new(m, opts, true, NULL, true, err);
}

gc_trainer *gc_trainer_new_distributed(gc_model *m, const gc_options *opts, gc_communicator *comm, gc_error *err) {
    return trainer_new(m, opts, false, comm, false, err);
}

static gc_trainer *trainer_new(gc_model *m, const gc_options *opts, bool plan_only, gc_communicator *comm,
                               bool data_parallel, gc_error *err) {
    if (!m) return gc_failf(err, GC_ERR_USER, "gc_trainer_new: model is NULL"), NULL;
    gc_trainer *t = calloc(1, sizeof *t);
    if (!t) return out_of_memory(err), NULL;
    t->plan_only = plan_only;
    if (opts) t->opts = *opts;
    t->comm = comm;
    if (t->opts.backend == GC_BACKEND_JIT) {
        t->ops = gc_executor_jit;
        if (!t->ops) {
            gc_failf(err, GC_ERR_USER, "this gradc was built without the JIT backend; use the interpreter");
            goto fail;
        }
    } else if (t->opts.backend == GC_BACKEND_INTERP) {
        t->ops = &gc_executor_interp;
    } else {
        gc_failf(err, GC_ERR_USER, "unknown backend %d", (int)t->opts.backend);
        goto fail;
    }

    gc_lowered_model train = {0}, eval = {0};
    double start = gc_clock_ms(), mark = start;
#define PHASE(field)                      \
    do {                                  \
        double now_ = gc_clock_ms();      \
        t->times.field += now_ - mark;    \
        mark = now_;                      \
    } while (0)
    if (!lower(m, true, &train, err)) goto fail;
    PHASE(frontend_ms);
    /* The stages' texts serve gc_trainer_ir; a plan (gradc check) skips them, a fifth of its time. */
    if (!t->plan_only) t->text_forward = gc_graph_print(train.graph);
    gc_optimizer_config optimizer = train.train.optimizer;
    data_parallel |= gc_communicator_size(comm) > 1;
    optimizer.accumulated_grads = data_parallel && optimizer.accumulate > 1;
    t->seed = train.train.seed;
    t->accumulate = optimizer.accumulate > 1 ? optimizer.accumulate : 1;
    t->step_error = train.layers.step_error;
    /* The training step is bounded as the forward graph is (frontend/lower.h): a gradient can
     * be ten times its op (gelu), and the error then names the line whose gradient crossed. */
    train.graph->max_nodes = GC_LOWER_MAX_NODES;
    train.graph->max_nodes_what = "the training step (the model, its gradients and the optimizer's updates)";
    int ok = record_params(t, &train, err) && gc_autodiff(train.graph, err);
    if (ok && !t->plan_only) t->text_grad = gc_graph_print(train.graph);
    ok = ok && warn_unreached(t, train.graph, err);
    ok = ok && gc_optimizer_build(train.graph, &optimizer, err);
    if (ok) train.graph->max_nodes = 0; /* the passes rebuild it; their graphs are no larger */
    /* --precision overrides the train block; bf16 marks the forward and backward products alike. */
    t->precision = m->precision != GC_PRECISION_DEFAULT ? m->precision
                   : train.train.precision != GC_PRECISION_DEFAULT ? train.train.precision
                                                                   : GC_PRECISION_F32;
    ok = ok && (t->precision != GC_PRECISION_BF16 || gc_precision_bf16(train.graph, err));
    PHASE(autodiff_ms);
    ok = ok && gc_run_pipeline(&train.graph, "simplify,cse,dce", NULL, err);
    /* One-hot masks are computed by each kernel that reads them (passes/remat.h): a
     * cross-entropy then stores no [tokens, classes] mask. */
    /* A cross-entropy's pick and row sums over one_hot masks become gathers (passes/by_index.h). */
    ok = ok && gc_by_index(&train.graph, NULL, err);
    ok = ok && gc_remat_masks(&train.graph, NULL, err);
    /* The optimizer in backward (passes/update_order.h), unless a skipped step must leave the
     * params untouched even when only the gradient norm is non-finite, or the gradients must be
     * averaged across ranks before any update reads them (data parallel). */
    if (ok && t->plan_only && !(t->classic_graph = gc_graph_rebuild(train.graph, NULL, NULL, err))) ok = 0;
    if (ok && !t->opts.skip_nonfinite && !data_parallel) ok = gc_updates_in_backward(&train.graph, NULL, err);
    PHASE(simplify_ms);
    if (ok) {
        t->train_graph = train.graph;
        train.graph = NULL;
    }
    int64_t budget = m->memory_budget ? m->memory_budget : train.train.memory_budget;
    if (ok && budget)
        ok = meet_budget(t, budget, m->memory_budget ? "--memory-budget" : "the train block's memory_budget", err);
    if (ok && !t->plan_only) {
        gc_executor_config config = {.threads = t->opts.threads, .profile = t->opts.profile != 0,
                                     .ieee_subnormals = gc_pool_env_keeps_subnormals()};
        /* Data parallel: the step hands each gradient to the reducer as soon as it is final. */
        if (gc_communicator_size(t->comm) > 1) {
            t->reducer = gc_grad_reducer_new(t->comm, 0, err);
            if (t->reducer) config.hooks = gc_grad_reducer_hooks(t->reducer);
        }
        t->train_exec = gc_communicator_size(t->comm) > 1 && !t->reducer
                            ? NULL
                            : t->ops->create(t->train_graph, &config, err);
        if (!t->train_exec && err && err->code == GC_ERR_MEMORY) explain_out_of_memory(t, err);
        release_freed_memory();
        PHASE(backend_ms);
        if (t->train_exec && t->ops->compile_times) t->times.codegen = *t->ops->compile_times(t->train_exec);
        ok = t->train_exec && init_params(t, err);
        PHASE(init_ms);
    }
    gc_lowered_model_free(&train);
    if (!ok) goto fail;

    if (!lower(m, false, &eval, err)) goto fail;
    PHASE(frontend_ms);
    ok = t->precision != GC_PRECISION_BF16 || gc_precision_bf16(eval.graph, err);
    ok = ok && gc_run_pipeline(&eval.graph, "simplify,cse,dce", NULL, err);
    PHASE(simplify_ms);
    t->eval_graph = eval.graph;
    eval.graph = NULL;
    gc_lowered_model_free(&eval);
    gc_onnx_cache_clear(); /* both graphs are lowered: an ONNX file read for them is not needed again */
    if (!ok) goto fail;
    if (!gc_index_rules_collect(t->eval_graph, m->source, &t->index_rules, &t->num_index_rules, err)) goto fail;
    /* The eval executor is compiled on first use (ensure_eval). */
#undef PHASE
    t->times.total_ms = gc_clock_ms() - start;
    return t;
fail:
    gc_trainer_free(t);
    return NULL;
}

/* Inputs are declared by the model; both graphs have the same ones (the eval graph may lack an
 * input only the loss used, e.g. never; rng.step exists only in training). */
static const gc_node *nth_input(const gc_graph *g, int index) {
    for (int i = 0; i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        if (n->op != GC_OP_INPUT || !strcmp(n->name, GC_STEP_INPUT)) continue;
        if (index-- == 0) return n;
    }
    return NULL;
}

int gc_trainer_input_info(const gc_trainer *t, int index, const char **name, gc_tensor *type) {
    if (!t) return 0;
    const gc_node *n = nth_input(t->eval_graph, index);
    if (!n) return 0;
    if (name) *name = n->name;
    if (type) {
        memset(type, 0, sizeof *type);
        type->dtype = n->type.dtype;
        type->rank = n->type.rank;
        memcpy(type->shape, n->type.dims, sizeof type->shape);
    }
    return 1;
}

/* The eval executor, compiled on first use: a run that never evaluates never pays for a second
 * compile (about half of a Transformer's start-up). It starts with the training executor's
 * inputs, which gc_trainer_set_input has been writing there alone. */
static int ensure_eval(gc_trainer *t, gc_error *err) {
    if (t->eval_exec) return 1;
    if (t->plan_only) return gc_failf(err, GC_ERR_USER, "this trainer is planned only (gc_trainer_plan): it cannot %s", "evaluate");
    double start = gc_clock_ms();
    gc_executor_config config = {.threads = t->opts.threads, .ieee_subnormals = gc_pool_env_keeps_subnormals()};
    t->eval_exec = t->ops->create(t->eval_graph, &config, err);
    t->times.backend_ms += gc_clock_ms() - start;
    if (!t->eval_exec) return 0;
    for (int i = 0; i < t->eval_graph->num_nodes; i++) {
        const gc_node *n = t->eval_graph->nodes[i];
        if (n->op != GC_OP_INPUT || !strcmp(n->name, GC_STEP_INPUT)) continue;
        void *dst = must_source(t, t->eval_exec, n->name);
        const void *src = must_source(t, t->train_exec, n->name);
        if (dst && src) memcpy(dst, src, (size_t)gc_type_numel(&n->type) * gc_dtype_size(n->type.dtype));
    }
    return 1;
}

int gc_trainer_check_data(const gc_trainer *t, const char *name, const char *origin, const void *data, gc_dtype dtype,
                          int64_t examples, int64_t numel, gc_error *err) {
    return gc_validate_data(t->index_rules, t->num_index_rules, name, origin, data, dtype, examples, numel, err);
}

static int set_input(gc_trainer *t, const char *name, const void *data, size_t bytes, bool check, gc_error *err);

int gc_trainer_set_input(gc_trainer *t, const char *name, const void *data, size_t bytes, gc_error *err) {
    return set_input(t, name, data, bytes, true, err);
}

int gc_trainer_set_input_unchecked(gc_trainer *t, const char *name, const void *data, size_t bytes, gc_error *err) {
    return set_input(t, name, data, bytes, false, err);
}

static int set_input(gc_trainer *t, const char *name, const void *data, size_t bytes, bool check, gc_error *err) {
    if (!t || !name || !data) return gc_failf(err, GC_ERR_USER, "gc_trainer_set_input: trainer, name and data are required");
    if (t->plan_only) return gc_failf(err, GC_ERR_USER, "this trainer is planned only (gc_trainer_plan): it cannot %s", "take inputs");
    const gc_node *n = gc_graph_find_named(t->eval_graph, GC_OP_INPUT, name);
    if (!n) n = gc_graph_find_named(t->train_graph, GC_OP_INPUT, name);
    if (!n || !strcmp(name, GC_STEP_INPUT)) return gc_failf(err, GC_ERR_USER, "the model has no input '%s'", name);
    size_t want = (size_t)gc_type_numel(&n->type) * gc_dtype_size(n->type.dtype);
    if (bytes != want) {
        char ts[96];
        return gc_failf(err, GC_ERR_USER, "input '%s' is %s (%zu bytes), got %zu bytes", name,
                        gc_type_format(&n->type, ts, sizeof ts), want, bytes);
    }
    if (check && !gc_trainer_check_data(t, name, NULL, data, n->type.dtype, n->type.rank ? n->type.dims[0] : 1,
                                        gc_type_numel(&n->type), err))
        return 0;
    /* An input only the eval graph reads has nowhere to wait in the training executor. */
    if (!must_source(t, t->train_exec, name) && !ensure_eval(t, err)) return 0;
    void *dst[2] = {must_source(t, t->train_exec, name), must_source(t, t->eval_exec, name)};
    for (int i = 0; i < 2; i++)
        if (dst[i]) memcpy(dst[i], data, bytes);
    return 1;
}

/* What a stop on a non-finite loss says to try. */
#define NONFINITE_HINT \
    "; try a lower lr, clip_grad_norm = 1.0 in the train block, or --skip-nonfinite (gc_options.skip_nonfinite) " \
    "to skip such updates"

/* A non-finite loss or gradient norm: the update is never applied. With skip_nonfinite the step
 * still counts (the data order and dropout move on, as a skipped GradScaler step does in torch)
 * and the call succeeds; otherwise it fails and nothing changes. */
static int nonfinite(gc_trainer *t, const char *what, double value, gc_error *err) {
    if (t->opts.skip_nonfinite) {
        t->step++;
        t->skipped++;
        return 1;
    }
    return gc_failf(err, GC_ERR_NUMERIC, "step %lld: the %s is %s; the update was not applied" NONFINITE_HINT,
                    (long long)t->step + 1, what, isnan(value) ? "NaN" : "infinite");
}

static bool is_accumulator(const char *name) { return !strncmp(name, "accumulate.", 11); }

/* Clears the gradient being accumulated (accumulate.* state): a new update starts. */
static void reset_accumulation(gc_trainer *t) {
    for (int i = 0; i < t->train_graph->num_nodes; i++) {
        const gc_node *n = t->train_graph->nodes[i];
        if (n->op != GC_OP_STATE || !is_accumulator(n->name)) continue;
        void *data = must_source(t, t->train_exec, n->name);
        if (data) memset(data, 0, (size_t)gc_type_numel(&n->type) * gc_dtype_size(n->type.dtype));
    }
    t->micro = 0;
    t->loss_sum = 0.0;
    t->poisoned = false;
}

/* ---- data parallel (runtime/distributed.h): the hooks the step makes around a run ---- */

static int for_each_persistent(gc_trainer *t, bool states, int (*fn)(gc_trainer *, const gc_node *, void *, void *),
                               void *ctx);

static int broadcast_one(gc_trainer *t, const gc_node *n, void *data, void *ctx) {
    return !data || gc_distributed_broadcast(t->comm, data,
                                             (size_t)gc_type_numel(&n->type) * gc_dtype_size(n->type.dtype),
                                             "the broadcast of the root's parameters", ctx);
}

/* Before a run: the first makes every rank start from the root's params, buffers and state (as
 * DDP does), so ranks agree even when a program set them differently. sync: the run averages its
 * gradients; a micro-batch before an accumulated update's last keeps them (DDP's no_sync: its
 * grad outputs are the sums so far, which the last run averages; optimizer.h). */
static int dist_before_run(gc_trainer *t, bool sync, gc_error *err) {
    if (!t->reducer) return 1;
    if (!t->dist_synced) {
        if (!for_each_persistent(t, true, broadcast_one, err)) return 0;
        t->dist_synced = true;
    }
    if (sync) gc_grad_reducer_begin(t->reducer);
    else gc_grad_reducer_begin_no_sync(t->reducer);
    return 1;
}

/* After a run: the gradients are averaged (the reducer's error, if any, is the step's), and the
 * loss and the other scalar f32 value outputs become their mean over the ranks, written over
 * the rank's own, so everything reads global values. Outputs the optimizer computes from the
 * averaged gradients (grad_norm, lr) are equal on every rank already; their mean, summed in
 * double, is then exactly that value. */
static int dist_after_run(gc_trainer *t, gc_error *err) {
    if (!t->reducer) return 1;
    if (!gc_grad_reducer_end(t->reducer, err)) return 0;
    enum { MAX_REDUCED = 64 };
    double sums[MAX_REDUCED];
    float *where[MAX_REDUCED];
    int count = 0;
    const gc_graph *g = t->train_graph;
    for (int i = 0; i < g->num_outputs && count < MAX_REDUCED; i++) {
        const gc_graph_output *o = &g->outputs[i];
        if (o->kind != GC_OUTPUT_VALUE || o->value->type.rank != 0 || o->value->type.dtype != GC_F32) continue;
        float *v = (float *)t->ops->output(t->train_exec, GC_OUTPUT_VALUE, o->name);
        if (!v) continue;
        where[count] = v;
        sums[count++] = *v;
    }
    if (!gc_distributed_sum(t->comm, sums, count, "the loss all-reduce", err)) return 0;
    int ranks = gc_communicator_size(t->comm);
    for (int i = 0; i < count; i++) *where[i] = (float)(sums[i] / ranks);
    return 1;
}

static int broadcast_buffer(gc_trainer *t, const gc_node *n, void *data, void *ctx) {
    return n->op != GC_OP_BUFFER || broadcast_one(t, n, data, ctx);
}

/* After an update: batch norm's running statistics come from each rank's own batch, so the
 * root's are copied to every rank (DDP's broadcast_buffers): checkpoints and evals agree. */
static int dist_after_apply(gc_trainer *t, gc_error *err) {
    if (!t->reducer || !t->num_buffers) return 1;
    return for_each_persistent(t, false, broadcast_buffer, err);
}

/* The dropout stream of run `index`: each rank draws its own masks for its own slice. */
static int32_t rng_index(const gc_trainer *t, int64_t index) {
    if (!t->reducer) return (int32_t)index;
    int ranks = gc_communicator_size(t->comm);
    return (int32_t)(index * ranks + gc_communicator_rank(t->comm));
}

/* One micro-batch of an accumulated update (gradient_accumulation_steps > 1); see gradc.h. The
 * graph counts the micro-batches itself (accumulate.count) and updates on the last; the trainer
 * keeps the same count to know which call that is. */
static int accumulate_step(gc_trainer *t, float *loss, gc_error *err) {
    bool last = t->micro == t->accumulate - 1;
    int32_t *rng = must_source(t, t->train_exec, GC_STEP_INPUT);
    /* Every micro-batch draws its own dropout. */
    if (rng) *rng = rng_index(t, t->step * t->accumulate + t->micro);
    if (!dist_before_run(t, last, err) || !t->ops->run(t->train_exec, err) || !dist_after_run(t, err)) return 0;
    t->last_exec = t->train_exec;
    const float *l = t->ops->output(t->train_exec, GC_OUTPUT_VALUE, "loss");
    const float *norm = t->ops->output(t->train_exec, GC_OUTPUT_VALUE, "grad_norm");
    if (!l) return gc_failf(err, GC_ERR_INTERNAL, "internal error: the training graph has no loss output");
    bool finite = isfinite(*l) && (!last || !norm || isfinite(*norm));
    if (!finite && !t->opts.skip_nonfinite) {
        if (loss) *loss = *l;
        return gc_failf(err, GC_ERR_NUMERIC, "step %lld, micro-batch %lld of %lld: the %s is %s; nothing was applied" NONFINITE_HINT,
                        (long long)t->step + 1, (long long)t->micro + 1, (long long)t->accumulate,
                        isfinite(*l) ? "gradient norm" : "loss", isnan(isfinite(*l) ? *norm : *l) ? "NaN" : "infinite");
    }
    t->poisoned |= !finite;
    t->loss_sum += *l;
    if (loss) *loss = (float)(t->loss_sum / (double)(t->micro + 1));
    if (t->poisoned) {
        /* The update is lost: keep the graph's count in step without adding this gradient, and
         * on the last micro-batch clear everything instead of updating. */
        if (last) {
            reset_accumulation(t); /* accumulate.count included */
            t->step++;
            t->skipped++;
        } else {
            float *count = must_source(t, t->train_exec, "accumulate.count");
            if (count) *count += 1.0f;
            t->micro++;
        }
        return 1;
    }
    if (!t->ops->apply(t->train_exec, err) || !dist_after_apply(t, err)) return 0;
    if (++t->steps_run == 1 && t->ops->profile_reset) t->ops->profile_reset(t->train_exec);
    if (last) {
        t->step++;
        t->micro = 0;
        t->loss_sum = 0.0;
    } else {
        t->micro++;
    }
    return 1;
}

int gc_trainer_step(gc_trainer *t, float *loss, gc_error *err) {
    if (!t) return gc_failf(err, GC_ERR_USER, "gc_trainer_step: trainer is NULL");
    if (t->plan_only) return gc_failf(err, GC_ERR_USER, "this trainer is planned only (gc_trainer_plan): it cannot %s", "train");
    if (t->step_error.code) {
        if (err) *err = t->step_error;
        return 0;
    }
    if (t->accumulate > 1) return accumulate_step(t, loss, err);
    int32_t *step = must_source(t, t->train_exec, GC_STEP_INPUT);
    if (step) *step = rng_index(t, t->step);
    if (!dist_before_run(t, true, err) || !t->ops->run(t->train_exec, err) || !dist_after_run(t, err)) return 0;
    t->last_exec = t->train_exec;
    const float *l = t->ops->output(t->train_exec, GC_OUTPUT_VALUE, "loss");
    const float *norm = t->ops->output(t->train_exec, GC_OUTPUT_VALUE, "grad_norm");
    if (!l) return gc_failf(err, GC_ERR_INTERNAL, "internal error: the training graph has no loss output");
    if (loss) *loss = *l;
    if (!isfinite(*l)) return nonfinite(t, "loss", *l, err);
    if (t->train_graph->updates_in_backward) {
        /* Backward and the updates run at apply (passes/update_order.h): the gradient norm is
         * known only once the update is made. */
        if (!t->ops->apply(t->train_exec, err)) return 0;
        if (++t->steps_run == 1 && t->ops->profile_reset) t->ops->profile_reset(t->train_exec);
        t->step++;
        norm = t->ops->output(t->train_exec, GC_OUTPUT_VALUE, "grad_norm");
        if (norm && !isfinite(*norm))
            return gc_failf(err, GC_ERR_NUMERIC,
                            "step %lld: the gradient norm is %s and the update was applied (updates run during "
                            "backward); try a lower lr, clip_grad_norm = 1.0 in the train block, or "
                            "--skip-nonfinite (gc_options.skip_nonfinite), which checks the norm before updating",
                            (long long)t->step, isnan(*norm) ? "NaN" : "infinite");
        return 1;
    }
    if (norm && !isfinite(*norm)) return nonfinite(t, "gradient norm", *norm, err);
    if (!t->ops->apply(t->train_exec, err) || !dist_after_apply(t, err)) return 0;
    /* The first step faults the arena in and warms every cache: a profile starts after it. */
    if (++t->steps_run == 1 && t->ops->profile_reset) t->ops->profile_reset(t->train_exec);
    t->step++;
    return 1;
}

int64_t gc_trainer_accumulation(const gc_trainer *t) { return t ? t->accumulate : 1; }

gc_precision gc_trainer_precision(const gc_trainer *t) { return t ? t->precision : GC_PRECISION_F32; }

char *gc_trainer_profile(gc_trainer *t, int top, gc_error *err) {
    if (!t) return gc_failf(err, GC_ERR_USER, "gc_trainer_profile: trainer is NULL"), NULL;
    if (!t->opts.profile || !t->ops->profile)
        return gc_failf(err, GC_ERR_USER, "gc_trainer_profile: the trainer does not profile (gc_options.profile, "
                                          "backend jit)"), NULL;
    char *text = t->ops->profile(t->train_exec, top);
    if (!text) gc_failf(err, GC_ERR_MEMORY, "out of memory");
    return text;
}

int gc_trainer_eval(gc_trainer *t, float *loss, gc_error *err) {
    if (!t) return gc_failf(err, GC_ERR_USER, "gc_trainer_eval: trainer is NULL");
    if (!ensure_eval(t, err)) return 0;
    for (int i = 0; i < t->num_params + t->num_buffers; i++) {
        const trainer_param *p = i < t->num_params ? &t->params[i] : &t->buffers[i - t->num_params];
        void *dst = must_source(t, t->eval_exec, p->name);
        const void *src = must_source(t, t->train_exec, p->name);
        if (dst && src) memcpy(dst, src, bytes_of(&p->type));
    }
    if (!t->ops->run(t->eval_exec, err)) return 0;
    t->last_exec = t->eval_exec;
    const float *l = t->ops->output(t->eval_exec, GC_OUTPUT_VALUE, "loss");
    if (loss) *loss = l ? *l : NAN;
    return 1;
}

int64_t gc_trainer_steps(const gc_trainer *t) { return t ? t->step : 0; }

uint64_t gc_trainer_seed(const gc_trainer *t) { return t ? t->seed : 0; }

int gc_backend_available(gc_backend backend) {
    return backend == GC_BACKEND_INTERP || (backend == GC_BACKEND_JIT && gc_executor_jit != NULL);
}

static const gc_graph *graph_of(const gc_trainer *t, const void *exec) {
    return exec == t->eval_exec ? t->eval_graph : t->train_graph;
}

int gc_trainer_output(gc_trainer *t, const char *name, gc_tensor *out, gc_error *err) {
    if (!t || !name || !out) return gc_failf(err, GC_ERR_USER, "gc_trainer_output: trainer, name and out are required");
    if (!t->last_exec) return gc_failf(err, GC_ERR_USER, "no step or eval has run yet");
    const gc_graph_output *o = gc_graph_find_output(graph_of(t, t->last_exec), GC_OUTPUT_VALUE, name);
    const void *data = o ? t->ops->output(t->last_exec, GC_OUTPUT_VALUE, name) : NULL;
    if (!data) return gc_failf(err, GC_ERR_USER, "the model has no output '%s'", name);
    memset(out, 0, sizeof *out);
    out->dtype = o->value->type.dtype;
    out->rank = o->value->type.rank;
    memcpy(out->shape, o->value->type.dims, sizeof out->shape);
    out->data = (void *)data;
    return 1;
}

int gc_trainer_output_name(const gc_trainer *t, int index, const char **name) {
    if (!t || !name) return 0;
    const gc_graph *g = t->eval_graph;
    for (int i = 0; i < g->num_outputs; i++) {
        if (g->outputs[i].kind != GC_OUTPUT_VALUE) continue;
        if (index-- == 0) {
            *name = g->outputs[i].name;
            return 1;
        }
    }
    return 0;
}

int gc_trainer_param(gc_trainer *t, const char *name, gc_tensor *out, gc_error *err) {
    if (!t || !name || !out) return gc_failf(err, GC_ERR_USER, "gc_trainer_param: trainer, name and out are required");
    for (int i = 0; i < t->num_params; i++) {
        if (strcmp(t->params[i].name, name)) continue;
        void *data = must_source(t, t->train_exec, name);
        bool planned = t->plan_only && gc_graph_find_named(t->train_graph, GC_OP_PARAM, name);
        if (!data && !planned)
            return gc_failf(err, GC_ERR_USER, "parameter '%s' does not reach the loss and was removed", name);
        memset(out, 0, sizeof *out);
        out->dtype = GC_F32;
        out->rank = t->params[i].type.rank;
        memcpy(out->shape, t->params[i].type.dims, sizeof out->shape);
        out->data = data;
        return 1;
    }
    return gc_failf(err, GC_ERR_USER, "the model has no parameter '%s'", name);
}

int gc_trainer_param_name(const gc_trainer *t, int index, const char **name) {
    if (!t || !name || index < 0 || index >= t->num_params) return 0;
    *name = t->params[index].name;
    return 1;
}

int gc_trainer_buffer(gc_trainer *t, const char *name, gc_tensor *out, gc_error *err) {
    if (!t || !name || !out) return gc_failf(err, GC_ERR_USER, "gc_trainer_buffer: trainer, name and out are required");
    for (int i = 0; i < t->num_buffers; i++) {
        if (strcmp(t->buffers[i].name, name)) continue;
        void *data = must_source(t, t->train_exec, name);
        if (!data && !t->plan_only)
            return gc_failf(err, GC_ERR_INTERNAL, "internal error: buffer '%s' has no storage", name);
        memset(out, 0, sizeof *out);
        out->dtype = t->buffers[i].type.dtype;
        out->rank = t->buffers[i].type.rank;
        memcpy(out->shape, t->buffers[i].type.dims, sizeof out->shape);
        out->data = data;
        return 1;
    }
    return gc_failf(err, GC_ERR_USER, "the model has no buffer '%s'", name);
}

int gc_trainer_buffer_name(const gc_trainer *t, int index, const char **name) {
    if (!t || !name || index < 0 || index >= t->num_buffers) return 0;
    *name = t->buffers[index].name;
    return 1;
}

/* Every param, buffer and (with `states`) optimizer state of the training graph, by name: what a
 * checkpoint holds. The gradient being accumulated is not: checkpoints are taken between updates,
 * where it is zero. */
static int for_each_persistent(gc_trainer *t, bool states, int (*fn)(gc_trainer *, const gc_node *, void *, void *),
                               void *ctx) {
    for (int i = 0; i < t->train_graph->num_nodes; i++) {
        const gc_node *n = t->train_graph->nodes[i];
        if (n->op != GC_OP_PARAM && n->op != GC_OP_BUFFER && !(states && n->op == GC_OP_STATE)) continue;
        if (n->op == GC_OP_STATE && is_accumulator(n->name)) continue;
        if (!fn(t, n, must_source(t, t->train_exec, n->name), ctx)) return 0;
    }
    return 1;
}

typedef struct save_context {
    gc_safetensors *st;
    gc_error *err;
} save_context;

static int save_one(gc_trainer *t, const gc_node *n, void *data, void *ctx) {
    (void)t;
    save_context *s = ctx;
    if (n->op == GC_OP_BUFFER && n->type.dtype == GC_I32) {
        /* torch's integer buffers (num_batches_tracked) are int64: strict loads want that dtype. */
        int64_t count = gc_type_numel(&n->type);
        int64_t *wide = malloc(sizeof *wide * (size_t)(count + 1));
        if (!wide) return out_of_memory(s->err);
        for (int64_t i = 0; i < count; i++) wide[i] = ((const int32_t *)data)[i];
        int ok = gc_safetensors_add(s->st, n->name, GC_ST_I64, n->type.rank, n->type.dims, wide, s->err);
        free(wide);
        return ok;
    }
    gc_tensor view = {n->type.dtype, n->type.rank, {0}, data};
    memcpy(view.shape, n->type.dims, sizeof view.shape);
    return gc_safetensors_add_tensor(s->st, n->name, &view, s->err);
}

int gc_trainer_save(gc_trainer *t, const char *path, gc_error *err) {
    return gc_trainer_save_as(t, path, true, NULL, NULL, err);
}

int gc_trainer_save_as(gc_trainer *t, const char *path, bool optimizer, const char *key, const char *value,
                       gc_error *err) {
    if (!t || !path) return gc_failf(err, GC_ERR_USER, "gc_trainer_save: trainer and path are required");
    if (t->plan_only) return gc_failf(err, GC_ERR_USER, "this trainer is planned only (gc_trainer_plan): it cannot %s", "save");
    if (t->micro)
        return gc_failf(err, GC_ERR_USER,
                        "gc_trainer_save: the update in progress has %lld of its %lld micro-batches; save between updates",
                        (long long)t->micro, (long long)t->accumulate);
    gc_safetensors *st = gc_safetensors_new(err);
    if (!st) return 0;
    save_context s = {st, err};
    char step[32], blocking[96];
    snprintf(step, sizeof step, "%lld", (long long)t->step);
    /* The GEMM blocking the run used: its KC is part of every product's bits (runtime/gemm.h), and
     * a resumed run takes it back, whatever `gradc tune` chose since. */
    gc_gemm_blocking b = gc_sgemm_blocking();
    snprintf(blocking, sizeof blocking, "%lld,%lld,%lld", (long long)b.mc, (long long)b.kc, (long long)b.nc);
    /* Weights only: what torch's strict load_state_dict reads (format "pt", as `gradc export`). */
    int ok = for_each_persistent(t, optimizer, save_one, &s) &&
             gc_safetensors_set_meta(st, "format", optimizer ? "gradc" : "pt", err) &&
             gc_safetensors_set_meta(st, "step", step, err) && (!key || gc_safetensors_set_meta(st, key, value, err)) &&
             (!optimizer || !gc_sgemm_uses_own() || gc_safetensors_set_meta(st, "gemm_blocking", blocking, err)) &&
             gc_safetensors_save(st, path, err);
    gc_safetensors_free(st);
    return ok;
}

typedef struct load_context {
    const gc_safetensors *st;
    gc_error *err;
    char missing[400];
    int num_missing;
    bool copy; /* false: only validate, so a bad checkpoint changes nothing */
} load_context;

static int load_one(gc_trainer *t, const gc_node *n, void *data, void *ctx) {
    (void)t;
    load_context *l = ctx;
    const gc_st_tensor *src = gc_safetensors_find(l->st, n->name);
    if (!src) {
        size_t len = strlen(l->missing);
        if (len < sizeof l->missing - 80)
            snprintf(l->missing + len, sizeof l->missing - len, "%s%s", l->num_missing ? ", " : "", n->name);
        l->num_missing++;
        return 1;
    }
    bool same = src->rank == n->type.rank;
    for (int i = 0; same && i < src->rank; i++) same = src->shape[i] == n->type.dims[i];
    if (!same) {
        char want[96];
        return gc_failf(l->err, GC_ERR_USER, "checkpoint tensor '%s' has the wrong shape for %s", n->name,
                        gc_type_format(&n->type, want, sizeof want));
    }
    int64_t count = gc_type_numel(&n->type);
    bool f32_ok = n->type.dtype == GC_F32 && (src->dtype == GC_ST_F32 || src->dtype == GC_ST_F64);
    if (!f32_ok && !(n->type.dtype == GC_I32))
        return gc_failf(l->err, GC_ERR_USER, "checkpoint tensor '%s' has dtype %s; the model needs %s", n->name,
                        gc_st_dtype_name(src->dtype), gc_dtype_name(n->type.dtype));
    if (n->type.dtype == GC_I32 && src->dtype != GC_ST_I32) {
        /* torch writes integer buffers as I64, and a state_dict cast to float as a whole holds them
         * as F32 or F64: any of these loads when every value is an integer that fits i32. */
        for (int64_t i = 0; i < count; i++) {
            double v = src->dtype == GC_ST_I64 ? (double)((const int64_t *)src->data)[i]
                     : src->dtype == GC_ST_F32 ? (double)((const float *)src->data)[i]
                                               : ((const double *)src->data)[i];
            if (!(v >= INT32_MIN && v <= INT32_MAX) || v != (double)(int64_t)v)
                return gc_failf(l->err, GC_ERR_USER, "checkpoint tensor '%s' (%s) holds %.17g at %lld, not an i32",
                                n->name, gc_st_dtype_name(src->dtype), v, (long long)i);
            if (data && l->copy) ((int32_t *)data)[i] = (int32_t)v;
        }
        return 1;
    }
    if (!data || !l->copy) return 1;
    if (n->type.dtype == GC_F32 && src->dtype == GC_ST_F32) {
        memcpy(data, src->data, sizeof(float) * (size_t)count);
    } else if (n->type.dtype == GC_F32 && src->dtype == GC_ST_F64) {
        for (int64_t i = 0; i < count; i++) ((float *)data)[i] = (float)((const double *)src->data)[i];
    } else if (n->type.dtype == GC_I32 && src->dtype == GC_ST_I32) {
        memcpy(data, src->data, sizeof(int32_t) * (size_t)count);
    } else {
        return gc_failf(l->err, GC_ERR_USER, "checkpoint tensor '%s' has dtype %s; the model needs %s", n->name,
                        gc_st_dtype_name(src->dtype), gc_dtype_name(n->type.dtype));
    }
    return 1;
}

static int load(gc_trainer *t, const char *path, bool with_state, gc_error *err) {
    if (!t || !path) return gc_failf(err, GC_ERR_USER, "loading a checkpoint needs a trainer and a path");
    if (t->plan_only) return gc_failf(err, GC_ERR_USER, "this trainer is planned only (gc_trainer_plan): it cannot %s", "load");
    gc_safetensors *st = gc_safetensors_load(path, err);
    if (!st) return 0;
    /* Names the model does not have are reported before anything is overwritten. */
    char unknown[400] = "";
    int num_unknown = 0;
    for (int i = 0; i < st->num_tensors; i++) {
        const char *name = st->tensors[i].name;
        bool known = gc_graph_find_named(t->train_graph, GC_OP_PARAM, name) ||
                     gc_graph_find_named(t->train_graph, GC_OP_STATE, name) ||
                     gc_graph_find_named(t->train_graph, GC_OP_BUFFER, name);
        for (int p = 0; !known && p < t->num_params; p++) known = !strcmp(t->params[p].name, name);
        if (!known && !(!with_state && !strncmp(name, "optimizer.", 10))) {
            size_t len = strlen(unknown);
            if (len < sizeof unknown - 80) snprintf(unknown + len, sizeof unknown - len, "%s%s", num_unknown ? ", " : "", name);
            num_unknown++;
        }
    }
    load_context l = {st, err, "", 0, false};
    int ok = 1;
    if (num_unknown) {
        ok = gc_failf(err, GC_ERR_USER, "%s: %d tensor%s the model does not have: %s", path, num_unknown,
                      num_unknown == 1 ? "" : "s", unknown);
    } else {
        bool has_state = false;
        for (int i = 0; i < st->num_tensors; i++) has_state |= !strncmp(st->tensors[i].name, "optimizer.", 10);
        /* Validate every tensor first, then copy: a bad checkpoint leaves the trainer as it was. */
        ok = for_each_persistent(t, with_state && has_state, load_one, &l);
        if (ok && l.num_missing)
            ok = gc_failf(err, GC_ERR_USER, "%s: %d tensor%s missing: %s", path, l.num_missing,
                          l.num_missing == 1 ? " is" : "s are", l.missing);
        l.copy = true;
        ok = ok && for_each_persistent(t, with_state && has_state, load_one, &l);
        const char *step = gc_safetensors_get_meta(st, "step");
        if (ok && with_state && has_state && step) t->step = strtoll(step, NULL, 10);
        gc_gemm_blocking blocking;
        if (ok && with_state && has_state && gc_sgemm_uses_own() &&
            gc_gemm_blocking_parse(gc_safetensors_get_meta(st, "gemm_blocking"), &blocking))
            gc_sgemm_set_blocking(blocking);
        if (ok && t->accumulate > 1) reset_accumulation(t);
    }
    gc_safetensors_free(st);
    return ok;
}

int gc_trainer_load(gc_trainer *t, const char *path, gc_error *err) { return load(t, path, true, err); }

int gc_trainer_load_params(gc_trainer *t, const char *path, gc_error *err) { return load(t, path, false, err); }

char *gc_trainer_ir(gc_trainer *t, const char *stage) {
    if (!t) return NULL;
    if (!stage || !strcmp(stage, "train")) return gc_graph_print(t->train_graph);
    if (!strcmp(stage, "forward")) return t->text_forward ? xstrdup(t->text_forward) : NULL;
    if (!strcmp(stage, "grad")) return t->text_grad ? xstrdup(t->text_grad) : NULL;
    if (!strcmp(stage, "eval")) return gc_graph_print(t->eval_graph);
    if (t->ops->dump) return t->ops->dump(t->train_exec, stage);
    return NULL;
}

/* Which of gc_sgemm's process-wide buffers (runtime/gemm.h; gc_sgemm_bf16's for a bf16 product,
 * which has its own of each kind) f32 matmul n's split needs, as codegen/emit_gemm.c splits it:
 * GC_SGEMM_SHARE_K for a product split along k (unless it has
 * an epilogue, `root` being the fusion's: that one splits by rows or columns), with two or more
 * threads the shared packing of A (split by columns) or B (by rows) of a product whose batch,
 * if any, folds into its rows; 0: none. An upper bound: a product too small to split is counted
 * as if split. */
static int shared_gemm_buffer(const gc_node *n, const int *root, int threads) {
    const gc_type *ta = &n->inputs[0]->type, *tb = &n->inputs[1]->type, *tr = &n->type;
    if (tr->rank < 2 || ta->rank < 2) return 0;
    int64_t cols = tr->dims[tr->rank - 1], rows = gc_type_numel(tr) / (cols ? cols : 1);
    int64_t depth = ta->dims[ta->rank - (n->attr.matmul.transpose_a ? 2 : 1)];
    bool folds = tr->rank == 2 || (!n->attr.matmul.transpose_a && tb->rank == 2 && ta->rank == tr->rank);
    if (!folds) return 0;
    bool epilogue = root && root[n->id] != n->id;
    if (!epilogue && gc_sgemm_splits_k(rows, cols, depth)) return GC_SGEMM_SHARE_K;
    if (threads < 2 || cols < 16) return 0;
    return gc_sgemm_own_splits_cols(rows, cols) ? GC_SGEMM_SHARE_A : GC_SGEMM_SHARE_B;
}

/* The step as the JIT plans it (passes/fuse.h, passes/plan.h): its activations are the bytes its
 * arena plan holds beyond params, state, inputs and gradients (an update in place holds none of
 * its own), its workspace the staging buffer of the update copies, gradc's GEMM packing buffers
 * and the largest convolution column buffer, one set per pool thread. false when the plan cannot be made (out of memory). */
static bool planned_step(const gc_trainer *t, const gc_graph *g, const bool *grad, gc_memory_report *r) {
    gc_error err = {0};
    gc_layout l;
    if (!gc_layout_plan_step(g, &l, &err)) return false; /* as runtime/executor_jit.c plans */
    int64_t bytes = l.size - l.kept_size;
    bool gemm = false, gemm_bf16 = false; /* f32 products; bf16 ones (gc_sgemm_bf16's own buffers) */
    int64_t conv = 0; /* the largest convolution column buffer (runtime/conv.h), one per thread */
    int64_t conv_wgrad = 0; /* the weight gradient's, held beside it (runtime/conv_weight_grad.h) */
    int threads = gc_pool_resolve_threads(t->opts.threads);
    int64_t shared[4] = {0}; /* gc_sgemm's buffers shared by a split product's parts, by kind */
    int64_t shared_bf16[4] = {0}; /* gc_sgemm_bf16's (runtime/gemm_bf16.h), apart from gc_sgemm's */
    int64_t shared_at_f32[4] = {0}; /* gc_sgemm's, were every product f32 (what bf16 saves) */
    for (int i = 0; i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        gemm |= n->op == GC_OP_MATMUL && n->type.dtype == GC_F32 && !n->attr.matmul.bf16;
        if (n->op == GC_OP_MATMUL && n->type.dtype == GC_F32) {
            int kind = shared_gemm_buffer(n, l.root, threads);
            if (kind) {
                const gc_type *ta = &n->inputs[0]->type, *tr = &n->type;
                int64_t rows = gc_type_numel(tr) / tr->dims[tr->rank - 1], cols = tr->dims[tr->rank - 1];
                int64_t depth = ta->dims[ta->rank - (n->attr.matmul.transpose_a ? 2 : 1)];
                bool bf16 = n->attr.matmul.bf16;
                int64_t b = bf16 ? gc_sgemm_bf16_shared_bytes(kind, rows, cols, depth)
                                 : gc_sgemm_shared_bytes(kind, rows, cols, depth);
                int64_t *into = bf16 ? shared_bf16 : shared;
                if (b > into[kind]) into[kind] = b;
                int64_t f = bf16 ? gc_sgemm_shared_bytes(kind, rows, cols, depth) : b;
                if (f > shared_at_f32[kind]) shared_at_f32[kind] = f;
            }
        }
        gemm_bf16 |= n->op == GC_OP_MATMUL && n->type.dtype == GC_F32 && n->attr.matmul.bf16;
        if ((n->op == GC_OP_CONV || n->op == GC_OP_CONV_INPUT_GRAD || n->op == GC_OP_CONV_WEIGHT_GRAD) &&
            n->type.dtype == GC_F32) {
            gc_conv_geom geom;
            gc_conv_geom_of(n, &geom);
            const int64_t *words = (const int64_t *)(const void *)&geom;
            if (n->op == GC_OP_CONV_WEIGHT_GRAD) {
                int64_t bytes = gc_conv_weight_grad_workspace_bytes(words);
                if (bytes > conv_wgrad) conv_wgrad = bytes;
            } else {
                int64_t bytes = gc_conv_workspace_bytes(words);
                if (bytes > conv) conv = bytes;
            }
            if (n->attr.conv.bf16) gemm_bf16 = true;
            else gemm = true;
        }
        if (!l.kept[i] || l.aliased[i] || l.in_place[i] || l.offsets[i] < 0 || (grad[i] && !g->updates_in_backward) ||
            (gc_op_table[n->op].flags & GC_FLAG_NAMED))
            continue;
        bytes += gc_type_numel(&n->type) * (int64_t)gc_dtype_size(n->type.dtype);
    }
    gc_update_plan updates;
    bool ok = gc_update_plan_make(g, l.offsets, &updates, &err);
    int64_t staging = ok ? updates.staging_bytes : 0;
    gc_update_plan_free(&updates);
    gc_layout_free(&l);
    if (!ok) return false;
    r->activations = bytes;
    int64_t packing = (gemm ? gc_sgemm_workspace_bytes() : 0) + (gemm_bf16 ? gc_sgemm_bf16_workspace_bytes() : 0);
    r->workspace = staging + (packing + conv + conv_wgrad) * threads + shared[GC_SGEMM_SHARE_A] +
                   shared[GC_SGEMM_SHARE_B] + shared[GC_SGEMM_SHARE_K] + shared_bf16[GC_SGEMM_SHARE_A] +
                   shared_bf16[GC_SGEMM_SHARE_B] + shared_bf16[GC_SGEMM_SHARE_K];
    /* The same step at f32 packs every product into gc_sgemm's f32 panels, and its split products
     * share gc_sgemm's buffers alone. */
    if (gemm_bf16) {
        r->precision_saved = (gc_sgemm_workspace_bytes() - packing) * threads;
        for (int kind = 1; kind < 4; kind++) r->precision_saved += shared_at_f32[kind] - shared[kind] - shared_bf16[kind];
    }
    return true;
}

static void graph_memory(const gc_trainer *t, const gc_graph *g, bool planned, gc_memory_report *r) {
    memset(r, 0, sizeof *r);
    bool *counted = calloc((size_t)g->num_nodes + 1, sizeof *counted);
    if (!counted) return;
    for (int i = 0; i < g->num_outputs; i++) {
        const gc_node *v = g->outputs[i].value;
        if (g->outputs[i].kind != GC_OUTPUT_GRAD || counted[v->id]) continue;
        counted[v->id] = true;
        r->gradients += gc_type_numel(&v->type) * (int64_t)gc_dtype_size(v->type.dtype);
    }
    for (int i = 0; i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        int64_t bytes = gc_type_numel(&n->type) * (int64_t)gc_dtype_size(n->type.dtype);
        if (n->op == GC_OP_PARAM) {
            r->parameters += bytes;
            r->parameter_count += gc_type_numel(&n->type);
        } else if (n->op == GC_OP_STATE) {
            r->optimizer_state += bytes;
        } else if (n->op == GC_OP_BUFFER) {
            r->buffers += bytes;
        } else if (n->op == GC_OP_INPUT) {
            r->inputs += bytes;
        } else if (!counted[i]) {
            r->activations += bytes;
        }
    }
    if (planned) r->planned = planned_step(t, g, counted, r);
    if (r->planned && g->updates_in_backward) {
        /* No gradient is kept: each is in the activations' bytes until its update. */
        r->updates_in_backward = true;
        r->gradients_transient = r->gradients;
        r->gradients = 0;
    }
    if (r->planned)
        r->peak = r->parameters + r->gradients + r->optimizer_state + r->buffers + r->inputs + r->activations +
                  r->workspace;
    if (r->planned && g == t->train_graph && t->peak_unbudgeted) {
        r->recompute = t->recompute;
        r->peak_unbudgeted = t->peak_unbudgeted;
    }
    free(counted);
}

void gc_trainer_memory(const gc_trainer *t, bool planned, gc_memory_report *r) {
    graph_memory(t, t->train_graph, planned, r);
    if (r->planned && t->classic_graph) {
        gc_memory_report classic;
        graph_memory(t, t->classic_graph, true, &classic);
        if (classic.planned) r->peak_classic = classic.peak;
    }
}

/* Rewrites an executor's out-of-memory error as the user's problem: what the step needs, its
 * largest parts, and what to try. */
static void explain_out_of_memory(const gc_trainer *t, gc_error *err) {
    char what[sizeof err->message];
    memcpy(what, err->message, sizeof what);
    gc_memory_report r;
    graph_memory(t, t->train_graph, true, &r);
    const double gib = 1024.0 * 1024.0 * 1024.0;
    if (!r.planned) {
        gc_failf(err, GC_ERR_MEMORY,
                 "%s; try a smaller batch (--set batch=N) or --memory-budget (see gradc check MODEL for the plan)", what);
        return;
    }
    gc_failf(err, GC_ERR_MEMORY,
             "%s: the training step needs %.2f GiB (parameters %.2f GiB, gradients %.2f GiB, optimizer state "
             "%.2f GiB, activations %.2f GiB, workspace %.2f GiB); try a smaller batch (--set batch=N) or "
             "--memory-budget (train { memory_budget = ... }) to recompute activations in backward",
             what, r.peak / gib, r.parameters / gib, (r.gradients + r.gradients_transient) / gib,
             r.optimizer_state / gib, r.activations / gib, r.workspace / gib);
}

int gc_trainer_gradcheck(gc_trainer *t, const gc_gradcheck_options *opts, gc_gradcheck_report *report,
                         gc_error *err) {
    gc_interp *it = gc_interp_new(t->train_graph, GC_INTERP_F64, err);
    if (!it) return 0;
    int ok = 1;
    for (int i = 0; ok && i < t->train_graph->num_nodes; i++) {
        const gc_node *n = t->train_graph->nodes[i];
        if (!(gc_op_table[n->op].flags & GC_FLAG_NAMED)) continue;
        gc_tensor view = {n->type.dtype, n->type.rank, {0}, must_source(t, t->train_exec, n->name)};
        memcpy(view.shape, n->type.dims, sizeof view.shape);
        ok = view.data && gc_interp_set(it, n->name, &view, err);
    }
    ok = ok && gc_gradcheck(it, t->train_graph, opts, report, err);
    gc_interp_free(it);
    return ok;
}

/* The memory budget (gc_model_set_memory_budget, train { memory_budget }): the planned peak of
 * the step must fit it. When the plan does not, activations are recomputed in backward
 * (passes/recompute.h) until it does; only the arena's transient bytes change, so the budget
 * for them is the budget less everything else the peak counts. */
/* Bytes as GiB from 1 GiB on, else MiB, with two decimals. */
static const char *size_text(char buf[32], int64_t bytes) {
    const double mib = 1024.0 * 1024.0;
    if (bytes >= 1024 * 1024 * 1024) snprintf(buf, 32, "%.2f GiB", bytes / (mib * 1024.0));
    else snprintf(buf, 32, "%.2f MiB", bytes / mib);
    return buf;
}

static int meet_budget(gc_trainer *t, int64_t budget, const char *from, gc_error *err) {
    gc_memory_report r;
    graph_memory(t, t->train_graph, true, &r);
    if (!r.planned) return gc_failf(err, GC_ERR_MEMORY, "out of memory: planning the step for the memory budget");
    if (r.peak <= budget) return 1;
    gc_layout l;
    if (!gc_layout_plan_step(t->train_graph, &l, err)) return 0;
    int64_t transient = l.size - l.kept_size, fixed = r.peak - transient;
    gc_layout_free(&l);
    gc_recompute_report rep;
    if (!gc_recompute_fit(&t->train_graph, budget - fixed, &rep, err)) return 0;
    if (rep.fits) {
        t->recompute = rep;
        t->peak_unbudgeted = r.peak;
        return 1;
    }
    int64_t smallest = fixed + rep.transient_min;
    char want[32], least[32], params[32], state[32], rest[32], work[32];
    return gc_failf(err, GC_ERR_USER,
                   "the memory budget of %s (%s) cannot be met: the smallest planned peak of the training step is %s "
                   "with every activation backward reads recomputed (parameters %s, optimizer state %s, activations "
                   "and gradients %s, workspace %s); try a smaller batch",
                   size_text(want, budget), from, size_text(least, smallest), size_text(params, r.parameters),
                   size_text(state, r.optimizer_state),
                   size_text(rest, rep.transient_min + (r.activations - transient) + r.gradients),
                   size_text(work, r.workspace));
}

/* The forward-only graph (runtime/predict_graph.h): the eval lowering cut to the prediction, at
 * the eval graph's precision and through its passes. */
gc_graph *gc_model_predict_graph(const gc_model *m, gc_error *err) {
    if (!m) return gc_failf(err, GC_ERR_USER, "gc_model_predict_graph: model is NULL"), NULL;
    gc_lowered_model eval = {0};
    if (!lower(m, false, &eval, err)) return NULL;
    gc_graph *g = gc_predict_graph_build(eval.graph, eval.prediction, err);
    gc_precision precision = m->precision != GC_PRECISION_DEFAULT ? m->precision : eval.train.precision;
    gc_lowered_model_free(&eval);
    int ok = g && (precision != GC_PRECISION_BF16 || gc_precision_bf16(g, err));
    ok = ok && gc_run_pipeline(&g, "simplify,cse,dce", NULL, err);
    if (!ok) {
        gc_graph_free(g);
        return NULL;
    }
    return g;
}
