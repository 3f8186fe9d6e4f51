/* evaluate.c: exact means over a dataset, the last partial batch included; see evaluate.h. */
#include "runtime/evaluate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/diag.h"
#include "runtime/distributed.h"

struct gc_evaluator {
    gc_trainer *t, *rest; /* rest: compiled for the last N mod B examples, or NULL */
    gc_dataset *data;
    int64_t batch, examples, full, remainder;
    bool padded;          /* the remainder comes from two padded batches of t */
    bool batch_losses;
    double *batch_loss;
    const char *names[GC_EVAL_MAX_OUTPUTS];
    int num_names;
    bool names_known;
    char note[512];
    gc_communicator *comm; /* data parallel: batch i is evaluated by rank i mod ranks */
};

void gc_evaluator_set_communicator(gc_evaluator *e, gc_communicator *comm) { e->comm = comm; }

/* 1 when `rest` is t with the batch dim of its inputs set to r and the same parameters. */
static int same_but_batch(gc_trainer *t, gc_trainer *rest, int64_t batch, int64_t r) {
    const char *a, *b;
    gc_tensor ta, tb;
    int k = 0;
    for (; gc_trainer_input_info(t, k, &a, &ta); k++) {
        if (!gc_trainer_input_info(rest, k, &b, &tb) || strcmp(a, b) || ta.rank != tb.rank || ta.dtype != tb.dtype)
            return 0;
        if (ta.rank == 0 || tb.shape[0] != (ta.shape[0] == batch ? r : ta.shape[0])) return 0;
        for (int d = 1; d < ta.rank; d++)
            if (ta.shape[d] != tb.shape[d]) return 0;
    }
    if (gc_trainer_input_info(rest, k, &b, &tb)) return 0;
    for (k = 0; gc_trainer_param_name(t, k, &a); k++) {
        gc_error ignored = {0};
        if (!gc_trainer_param(t, a, &ta, &ignored)) continue;
        if (!gc_trainer_param(rest, a, &tb, &ignored) || ta.rank != tb.rank) return 0;
        for (int d = 0; d < ta.rank; d++)
            if (ta.shape[d] != tb.shape[d]) return 0;
    }
    return 1;
}

gc_evaluator *gc_evaluator_create(gc_trainer *t, gc_dataset *data, const char *batch_const, bool explicit_const,
                                  bool batch_losses, gc_trainer_factory factory, void *factory_ctx,
                                  const char *model_name, gc_error *err) {
    gc_evaluator *e = calloc(1, sizeof *e);
    if (!e) return gc_failf(err, GC_ERR_MEMORY, "out of memory"), NULL;
    e->t = t;
    e->data = data;
    e->batch = gc_dataset_batch(data);
    e->examples = gc_dataset_examples(data);
    e->full = e->examples / e->batch;
    e->remainder = e->examples % e->batch;
    e->batch_losses = batch_losses;
    if (batch_losses && !(e->batch_loss = calloc((size_t)gc_dataset_eval_batches(data), sizeof *e->batch_loss))) {
        free(e);
        return gc_failf(err, GC_ERR_MEMORY, "out of memory"), NULL;
    }
    if (e->remainder == 0) return e;

    if (!factory) {
        /* A standalone trainer holds code for one batch size only: padding is the way. */
        e->padded = true;
        return e;
    }
    gc_error why = {0};
    e->rest = factory(factory_ctx, batch_const, (double)e->remainder, &why);
    if (e->rest && !same_but_batch(t, e->rest, e->batch, e->remainder)) {
        gc_trainer_free(e->rest);
        e->rest = NULL;
        gc_failf(&why, GC_ERR_USER, "setting %s = %lld does not make the batch dim of the inputs %lld", batch_const,
                 (long long)e->remainder, (long long)e->remainder);
    }
    if (e->rest) return e;
    if (explicit_const) {
        *err = why;
        gc_error_prefix(err, "--batch-const %s (to evaluate the last %lld examples): ", batch_const,
                        (long long)e->remainder);
        gc_evaluator_free(e);
        return NULL;
    }
    e->padded = true;
    snprintf(e->note, sizeof e->note,
             "const '%s' does not set the batch size of %s (name the const with --batch-const); the last "
             "%lld examples are evaluated in padded batches, which is exact when the loss and outputs are means over "
             "examples",
             batch_const, model_name ? model_name : "the model", (long long)e->remainder);
    return e;
}

const char *gc_evaluator_note(const gc_evaluator *e) { return e && e->note[0] ? e->note : NULL; }

void gc_evaluator_free(gc_evaluator *e) {
    if (!e) return;
    gc_trainer_free(e->rest);
    free(e->batch_loss);
    free(e);
}

static double scalar(gc_trainer *t, const char *name) {
    gc_tensor v;
    gc_error ignored = {0};
    if (!gc_trainer_output(t, name, &v, &ignored) || v.rank != 0) return NAN;
    return v.dtype == GC_I32 ? *(const int32_t *)v.data : v.dtype == GC_F64 ? *(const double *)v.data : *(const float *)v.data;
}

/* The scalar outputs (other than loss) of the trainer that ran last. */
static void learn_names(gc_evaluator *e, gc_trainer *ran) {
    if (e->names_known) return;
    const char *name;
    for (int k = 0; gc_trainer_output_name(e->t, k, &name) && e->num_names < GC_EVAL_MAX_OUTPUTS; k++) {
        gc_tensor v;
        gc_error ignored = {0};
        if (strcmp(name, "loss") && gc_trainer_output(ran, name, &v, &ignored) && v.rank == 0) e->names[e->num_names++] = name;
    }
    e->names_known = true;
}

/* Runs the eval graph of t on what is loaded; adds weight * (loss, outputs) to the sums. */
static int eval_into(gc_evaluator *e, gc_trainer *t, double weight, double *loss, double *sums, gc_error *err) {
    float l;
    if (!gc_trainer_eval(t, &l, err)) return 0;
    learn_names(e, t);
    *loss += weight * l;
    for (int k = 0; k < e->num_names; k++) sums[k] += weight * scalar(t, e->names[k]);
    return 1;
}

/* Copies t's parameters and buffers into the remainder's trainer. */
static int share_params(gc_evaluator *e, gc_error *err) {
    const char *name;
    for (int buffers = 0; buffers < 2; buffers++) {
        for (int k = 0; buffers ? gc_trainer_buffer_name(e->t, k, &name) : gc_trainer_param_name(e->t, k, &name); k++) {
            gc_tensor from, to;
            gc_error ignored = {0};
            if (!(buffers ? gc_trainer_buffer(e->t, name, &from, &ignored) : gc_trainer_param(e->t, name, &from, &ignored)))
                continue;
            if (!(buffers ? gc_trainer_buffer(e->rest, name, &to, err) : gc_trainer_param(e->rest, name, &to, err)))
                return 0;
            size_t n = from.dtype == GC_F64 ? 8 : 4;
            for (int d = 0; d < from.rank; d++) n *= (size_t)from.shape[d];
            memcpy(to.data, from.data, n);
        }
    }
    return 1;
}

int gc_evaluator_run(gc_evaluator *e, gc_eval_result *r, gc_error *err) {
    memset(r, 0, sizeof *r);
    double loss = 0, sums[GC_EVAL_MAX_OUTPUTS] = {0};
    int rank = gc_communicator_rank(e->comm), ranks = gc_communicator_size(e->comm);
    if (e->batch_loss) memset(e->batch_loss, 0, sizeof *e->batch_loss * (size_t)(e->full + (e->remainder > 0)));
    for (int64_t i = 0; i < e->full; i++) {
        if (i % ranks != rank) continue;
        double before = loss;
        if (!gc_dataset_load_examples(e->data, e->t, i * e->batch, e->batch, e->batch, err) ||
            !eval_into(e, e->t, (double)e->batch, &loss, sums, err))
            return 0;
        if (e->batch_loss) e->batch_loss[i] = (loss - before) / (double)e->batch;
    }
    if (e->remainder && e->full % ranks == rank) {
        int64_t first = e->full * e->batch, r_ = e->remainder;
        double before = loss;
        if (e->rest) {
            if (!share_params(e, err) || !gc_dataset_load_examples(e->data, e->rest, first, r_, r_, err) ||
                !eval_into(e, e->rest, (double)r_, &loss, sums, err))
                return 0;
        } else {
            /* B * P - (B - r) * E: the padded batch minus its copies of the last example. */
            if (!gc_dataset_load_examples(e->data, e->t, first, r_, e->batch, err) ||
                !eval_into(e, e->t, (double)e->batch, &loss, sums, err) ||
                !gc_dataset_load_examples(e->data, e->t, e->examples - 1, 1, e->batch, err) ||
                !eval_into(e, e->t, -(double)(e->batch - r_), &loss, sums, err))
                return 0;
        }
        if (e->batch_loss) e->batch_loss[e->full] = (loss - before) / (double)r_;
    }
    if (ranks > 1) {
        /* Every rank learned the same names in the same order, or none (it evaluated nothing
         * and adds zeros); rank 0 always evaluates batch 0. */
        double all[GC_EVAL_MAX_OUTPUTS + 1];
        all[0] = loss;
        memcpy(all + 1, sums, sizeof sums);
        if (!gc_distributed_sum(e->comm, all, GC_EVAL_MAX_OUTPUTS + 1, "the evaluation's all-reduce", err)) return 0;
        loss = all[0];
        memcpy(sums, all + 1, sizeof sums);
        if (e->batch_loss &&
            !gc_distributed_sum(e->comm, e->batch_loss, (int)(e->full + (e->remainder > 0)), "the evaluation's all-reduce",
                                err))
            return 0;
    }
    r->examples = e->examples;
    r->loss = loss / (double)e->examples;
    r->num_outputs = e->num_names;
    for (int k = 0; k < e->num_names; k++) {
        r->names[k] = e->names[k];
        r->values[k] = sums[k] / (double)e->examples;
    }
    r->batch_loss = e->batch_loss;
    r->batches = e->full + (e->remainder > 0);
    return 1;
}
