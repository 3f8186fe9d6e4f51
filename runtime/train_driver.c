/* train_driver.c: the training loop every front end shares; see train_driver.h. */
#include "runtime/train_driver.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "ir/diag.h"
#include "ir/random.h"
#include "runtime/clock.h"
#include "runtime/data_files.h"
#include "runtime/distributed.h"
#include "runtime/safetensors.h"
#include "runtime/train_interrupt.h"
#include "runtime/train_log.h"
#include "runtime/trainer.h"

/* Throughput is the mean over the last WINDOW updates: a cumulative average would drop after
 * every evaluation and recover slowly, and evaluations are not training time anyway. */
enum { WINDOW = 50 };

static int load_dataset(void *ctx, gc_trainer *t, int64_t index, gc_error *err) {
    return gc_dataset_load_step(ctx, t, index, err);
}

gc_train_source gc_train_source_dataset(gc_dataset *d, const gc_trainer *t) {
    gc_train_source s = {load_dataset, d, gc_dataset_steps_per_epoch(d), gc_dataset_batch(d),
                         gc_data_tokens_per_batch(t)};
    return s;
}

static int load_random(void *ctx, gc_trainer *t, int64_t index, gc_error *err) {
    gc_random_sampler *s = ctx;
    /* Training needs a whole batch of data, however it is drawn. */
    if (gc_dataset_steps_per_epoch(s->d) <= 0) return gc_dataset_load_step(s->d, t, 0, err);
    int64_t n = gc_dataset_examples(s->d), batch = gc_dataset_batch(s->d);
    uint64_t seed = gc_dataset_seed(s->d);
    /* Data parallel: rank r draws examples r*B .. r*B+B-1 of the global batch one process
     * with a batch of ranks x B would draw. */
    int ranks = 1;
    int64_t first = (int64_t)gc_dataset_shard_of(s->d, &ranks) * batch;
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    for (int64_t i = 0; i < batch; i++) {
        uint32_t counter[4] = {(uint32_t)index, (uint32_t)((uint64_t)index >> 32), (uint32_t)(first + i),
                               0x72616e64u /* "rand" */};
        uint32_t r[4];
        gc_philox4x32(counter, key, r);
        s->indices[i] = (int64_t)((((uint64_t)r[0] << 32) | r[1]) % (uint64_t)n);
    }
    return gc_dataset_load_indices(s->d, t, s->indices, err);
}

gc_train_source gc_train_source_random(gc_random_sampler *s, const gc_trainer *t) {
    gc_train_source src = gc_train_source_dataset(s->d, t);
    src.load = load_random;
    src.ctx = s;
    return src;
}

int64_t gc_train_total(const gc_train_config *cfg, const gc_train_source *src, const gc_trainer *t) {
    /* With gradient_accumulation_steps = N an update reads N batches, and an epoch is
     * floor(batches / N) updates (at least one). */
    int64_t accumulate = gc_trainer_accumulation(t), per_epoch = src->batches_per_epoch;
    int64_t epoch_updates = per_epoch / accumulate > 0 ? per_epoch / accumulate : (per_epoch > 0);
    return cfg->steps >= 0 ? cfg->steps : (cfg->epochs >= 0 ? cfg->epochs : 1) * epoch_updates;
}

int gc_train_check_source(const gc_train_config *cfg, const gc_train_source *src, gc_trainer *t, gc_error *err) {
    if (src->batches_per_epoch == 0 && cfg->steps != 0 && cfg->epochs != 0)
        return src->load(src->ctx, t, gc_trainer_steps(t) * gc_trainer_accumulation(t), err);
    return 1;
}

char *gc_train_best_path(const char *save) {
    static const char ext[] = ".safetensors";
    size_t n = strlen(save), e = strlen(ext);
    char *path = malloc(n + 16);
    if (!path) return NULL;
    if (n > e && !strcmp(save + n - e, ext)) snprintf(path, n + 16, "%.*s.best%s", (int)(n - e), save, ext);
    else snprintf(path, n + 16, "%s.best", save);
    return path;
}

int gc_train_stop_status(const gc_train_result *r) { return r->stopped > 0 ? 128 + r->stopped : 130; }

/* The state of one run. */
typedef struct driver {
    gc_trainer *t;
    const gc_train_source *src;
    gc_evaluator *ev;
    const gc_train_config *cfg;
    gc_train_result *r;
    gc_train_log log;
    const char *outputs[GC_EVAL_MAX_OUTPUTS]; /* the log's columns of scalar outputs */
    int num_outputs;
    char *best_path;
    double window[WINDOW]; /* ms of the last updates */
    int window_count, window_next;
    double window_sum;
    int bar_drawn;         /* the progress bar is on the terminal's current line */
    float previous;        /* the last finite loss, for the divergence warning */
    int diverged;
} driver;

/* The one predicate of what a data-parallel rank does: only rank 0 writes and prints. */
static bool leads(const driver *d) { return d->cfg->rank == 0; }

static FILE *out_stream(const driver *d) { return leads(d) ? d->cfg->out : NULL; }
static FILE *message_stream(const driver *d) { return leads(d) ? d->cfg->messages : NULL; }

/* Clears the progress bar's line before another line is printed. */
static void clear_bar(driver *d) {
    if (d->bar_drawn && out_stream(d)) {
        fputs("\r\033[K", out_stream(d));
        fflush(out_stream(d));
    }
    d->bar_drawn = 0;
}

static double scalar_output(gc_trainer *t, const char *name) {
    gc_tensor v;
    gc_error ignored = {0};
    if (!gc_trainer_output(t, name, &v, &ignored) || v.rank != 0) return NAN;
    return v.dtype == GC_I32 ? *(int32_t *)v.data : *(float *)v.data;
}

static double result_value(const gc_eval_result *r, const char *name) {
    for (int k = 0; k < r->num_outputs; k++)
        if (!strcmp(r->names[k], name)) return r->values[k];
    return NAN;
}

static void format_duration(double seconds, char *buf, size_t size) {
    if (!(seconds >= 0) || seconds > 1e7) snprintf(buf, size, "?");
    else if (seconds >= 3600) snprintf(buf, size, "%dh%02dm", (int)(seconds / 3600), (int)fmod(seconds / 60, 60));
    else if (seconds >= 60) snprintf(buf, size, "%dm%02ds", (int)(seconds / 60), (int)fmod(seconds, 60));
    else snprintf(buf, size, "%.0fs", seconds);
}

/* The log's header once a step has run (only scalar outputs get a column), or a check of it
 * against the log a resumed run continues. Without a step the outputs are unknown, and a
 * continued log stays as it is. */
static int log_header(driver *d, int stepped, gc_error *err) {
    gc_train_log *log = &d->log;
    if (!log->file || log->begun || (!stepped && log->previous)) return 1;
    const char *name;
    for (int k = 0; stepped && gc_trainer_output_name(d->t, k, &name) && d->num_outputs < GC_EVAL_MAX_OUTPUTS; k++) {
        gc_tensor v;
        gc_error ignored = {0};
        if (strcmp(name, "loss") && gc_trainer_output(d->t, name, &v, &ignored) && v.rank == 0)
            d->outputs[d->num_outputs++] = name;
    }
    char header[8192];
    size_t at = (size_t)snprintf(header, sizeof header, "step,loss,lr,grad_norm,ms");
    for (int k = 0; k < d->num_outputs && at < sizeof header; k++)
        at += (size_t)snprintf(header + at, sizeof header - at, ",%s", d->outputs[k]);
    if (d->ev && at < sizeof header) {
        at += (size_t)snprintf(header + at, sizeof header - at, ",eval_loss");
        for (int k = 0; k < d->num_outputs && at < sizeof header; k++)
            at += (size_t)snprintf(header + at, sizeof header - at, ",eval_%s", d->outputs[k]);
    }
    return gc_train_log_begin(log, header, err);
}

/* Writes the checkpoint (and the weights-only file beside it when asked); data parallel, the
 * other ranks wait until rank 0 has written it. */
static int save_checkpoint(driver *d, const char *path, gc_error *err) {
    if (leads(d)) {
        if (path && !gc_trainer_save(d->t, path, err)) return 0;
        if (d->cfg->save_weights && !gc_trainer_save_as(d->t, d->cfg->save_weights, false, NULL, NULL, err)) return 0;
    }
    return gc_distributed_barrier(d->cfg->comm, "the checkpoint", err);
}

/* keep_best: a resumed run starts from the best eval loss its checkpoint records. */
static void recall_best(driver *d) {
    d->r->best_loss = INFINITY;
    if (!d->best_path || !d->cfg->resumed) return;
    gc_error ignored = {0};
    gc_safetensors *st = gc_safetensors_load(d->best_path, &ignored);
    if (!st) return;
    const char *loss = gc_safetensors_get_meta(st, "eval_loss"), *step = gc_safetensors_get_meta(st, "step");
    if (loss && step) {
        d->r->best_loss = strtod(loss, NULL);
        d->r->best_step = strtoll(step, NULL, 10);
    }
    gc_safetensors_free(st);
}

static int keep_if_best(driver *d, int64_t step, gc_error *err) {
    if (!d->best_path || !(d->r->eval.loss < d->r->best_loss)) return 1;
    char loss[64];
    snprintf(loss, sizeof loss, "%.17g", d->r->eval.loss);
    if (leads(d) && !gc_trainer_save_as(d->t, d->best_path, true, "eval_loss", loss, err)) return 0;
    d->r->best_loss = d->r->eval.loss;
    d->r->best_step = step;
    return 1;
}

/* `eval step S: loss L  accuracy A` on its own line. */
static void print_eval(driver *d, int64_t step) {
    FILE *out = out_stream(d);
    if (!out || d->cfg->progress == GC_PROGRESS_NONE) return;
    clear_bar(d);
    const gc_eval_result *e = &d->r->eval;
    fprintf(out, "eval step %lld: loss %.6f", (long long)step, e->loss);
    for (int k = 0; k < e->num_outputs; k++) fprintf(out, "  %s %.6g", e->names[k], e->values[k]);
    fprintf(out, "  (%lld examples)\n", (long long)e->examples);
    fflush(out);
}

static void add_time(driver *d, double ms) {
    if (d->window_count == WINDOW) d->window_sum -= d->window[d->window_next];
    else d->window_count++;
    d->window[d->window_next] = ms;
    d->window_sum += ms;
    d->window_next = (d->window_next + 1) % WINDOW;
}

/* `step 120/2000  loss 0.4321  85.3 steps/s  5459 ex/s  22s left`: rates over the window. */
static void print_progress(driver *d, int64_t k, int64_t step) {
    FILE *out = out_stream(d);
    const gc_train_config *c = d->cfg;
    int64_t total = d->r->total, every = total >= 10 ? total / 10 : 1;
    if (!out || c->progress == GC_PROGRESS_NONE) return;
    if (c->progress == GC_PROGRESS_LINES && (k + 1) % every != 0 && k + 1 != total) return;
    double per_update = d->window_sum / (d->window_count ? d->window_count : 1) / 1e3; /* s */
    double rate = per_update > 0 ? 1.0 / per_update : 0;
    int64_t batches = gc_trainer_accumulation(d->t);
    char left[32], items[64];
    format_duration((double)(total - k - 1) * per_update, left, sizeof left);
    if (d->src->tokens_per_batch)
        snprintf(items, sizeof items, "  %.0f tok/s", rate * (double)(d->src->tokens_per_batch * batches));
    else snprintf(items, sizeof items, "  %.0f ex/s", rate * (double)(d->src->examples_per_batch * batches));
    int64_t last = d->r->first_step + total;
    if (c->progress == GC_PROGRESS_BAR) {
        int width = 24, filled = (int)((k + 1) * width / (total ? total : 1));
        fprintf(out, "\r[%.*s%*s] step %lld/%lld  loss %.4f  %.1f steps/s%s  %s left \033[K", filled,
                "========================", width - filled, "", (long long)step, (long long)last, d->r->loss, rate,
                items, left);
        d->bar_drawn = 1;
    } else {
        fprintf(out, "step %lld/%lld  loss %.6f  %.1f steps/s%s  %s left\n", (long long)step, (long long)last,
                d->r->loss, rate, items, left);
    }
    fflush(out);
}

/* The step function: one update, its micro-batches read from the source. */
static int driver_step(driver *d, int64_t step, float *loss, gc_error *err) {
    int64_t accumulate = gc_trainer_accumulation(d->t);
    for (int64_t micro = 0; micro < accumulate; micro++)
        if (!d->src->load(d->src->ctx, d->t, step * accumulate + micro, err) || !gc_trainer_step(d->t, loss, err))
            return 0;
    return 1;
}

static int log_row(driver *d, int64_t step, double ms, int evaluated, gc_error *err) {
    FILE *f = d->log.file;
    if (!f) return 1;
    if (!log_header(d, 1, err)) return 0;
    fprintf(f, "%lld,%.9g,%.9g,%.9g,%.3f", (long long)step, d->r->loss, scalar_output(d->t, "lr"),
            scalar_output(d->t, "grad_norm"), ms);
    for (int o = 0; o < d->num_outputs; o++) fprintf(f, ",%.9g", scalar_output(d->t, d->outputs[o]));
    return 1;
}

static void log_eval_columns(driver *d, int evaluated) {
    FILE *f = d->log.file;
    if (!f) return;
    if (d->ev) {
        if (evaluated) {
            fprintf(f, ",%.9g", d->r->eval.loss);
            for (int o = 0; o < d->num_outputs; o++) fprintf(f, ",%.9g", result_value(&d->r->eval, d->outputs[o]));
        } else {
            for (int o = 0; o <= d->num_outputs; o++) fputc(',', f);
        }
    }
    fputc('\n', f);
    fflush(f); /* whole rows only, even when the process is killed */
}

/* A stop between updates: save, and say where and how to go on. */
static int stop(driver *d, int signal, gc_error *err) {
    const gc_train_config *c = d->cfg;
    gc_train_result *r = d->r;
    r->stopped = signal;
    char *fallback = NULL;
    const char *ckpt = c->save;
    if (!ckpt && !(ckpt = fallback = gc_train_interrupt_path(c->log))) return gc_failf(err, GC_ERR_MEMORY, "out of memory");
    snprintf(r->saved, sizeof r->saved, "%s", ckpt);
    int ok = save_checkpoint(d, ckpt, err);
    free(fallback);
    if (!ok) return 0;
    clear_bar(d);
    FILE *msg = message_stream(d);
    if (!msg) return 1;
    if (out_stream(d)) fflush(out_stream(d));
    fprintf(msg, "%s after step %lld of %lld; saved %s\n", signal > 0 ? "interrupted" : "stopped",
            (long long)(r->first_step + r->done), (long long)(r->first_step + r->total), r->saved);
    if (c->argc > 0) {
        char *again = gc_train_resume_command(c->argc, c->argv, r->saved, c->save == NULL, r->total - r->done);
        char launcher[48] = "";
        if (gc_communicator_size(c->comm) > 1)
            snprintf(launcher, sizeof launcher, "mpirun -np %d ", gc_communicator_size(c->comm));
        fprintf(msg, "resume with: %s%s\n", launcher, again ? again : "(out of memory)");
        free(again);
    }
    fflush(msg);
    return 1;
}

static void summary(driver *d) {
    FILE *out = out_stream(d);
    const gc_train_config *c = d->cfg;
    const gc_train_result *r = d->r;
    if (!out) return;
    clear_bar(d);
    fprintf(out, "trained %lld steps in %.2f s; final loss %.6f", (long long)r->total, r->seconds, r->loss);
    if (r->evaluated) fprintf(out, "; eval loss %.6f", r->eval.loss);
    if (c->save) fprintf(out, "; saved %s", c->save);
    if (d->best_path && r->best_step)
        fprintf(out, "; best eval loss %.6f at step %lld in %s", r->best_loss, (long long)r->best_step, d->best_path);
    if (c->skip_nonfinite)
        fprintf(out, "; %lld of %lld updates skipped (non-finite)", (long long)r->skipped, (long long)r->total);
    fprintf(out, "\n");
    fflush(out);
}

int gc_train_run(gc_trainer *t, const gc_train_source *src, gc_evaluator *ev, const gc_train_config *cfg,
                 gc_train_result *r, gc_error *err) {
    memset(r, 0, sizeof *r);
    r->loss = NAN;
    r->first_step = gc_trainer_steps(t);
    r->total = gc_train_total(cfg, src, t);
    driver d = {.t = t, .src = src, .ev = ev, .cfg = cfg, .r = r, .previous = NAN};
    int ok = 0;
    if (cfg->keep_best) {
        if (!cfg->save || !ev) {
            gc_failf(err, GC_ERR_USER, "--keep-best needs --save CKPT and held-out data (--eval-data or --eval-text)");
            goto done;
        }
        if (!(d.best_path = gc_train_best_path(cfg->save))) {
            gc_failf(err, GC_ERR_MEMORY, "out of memory");
            goto done;
        }
    }
    if (cfg->save_every && !cfg->save) {
        gc_failf(err, GC_ERR_USER, "--save-every needs --save CKPT, the checkpoint it keeps");
        goto done;
    }
    recall_best(&d);
    if (cfg->log && leads(&d) && !gc_train_log_open(&d.log, cfg->log, cfg->resumed, r->first_step, err)) goto done;
    if (cfg->catch_signals) gc_train_interrupt_install();
    double began = gc_clock_ms();
    for (int64_t k = 0; k < r->total; k++) {
        /* A stop comes between updates: the one in flight and its log row are done. */
        int signal = cfg->catch_signals ? gc_train_interrupted() : 0;
        if (!signal && gc_trainer_take_stop_request(t)) signal = -1;
        /* Every rank stops after the same update: a stop any of them got stops them all. */
        if (gc_communicator_size(cfg->comm) > 1) {
            double any = signal != 0;
            if (!gc_distributed_sum(cfg->comm, &any, 1, "the interrupt check", err)) goto done;
            if (any > 0 && !signal) signal = SIGTERM;
        }
        if (signal) {
            r->seconds = (gc_clock_ms() - began) / 1e3;
            if (!log_header(&d, 0, err) || !stop(&d, signal, err)) goto done;
            ok = 1;
            goto done;
        }
        int64_t step = r->first_step + k + 1; /* the step count after this update, as logged */
        double t0 = gc_clock_ms();
        if (!driver_step(&d, step - 1, &r->loss, err)) goto done;
        double ms = gc_clock_ms() - t0;
        add_time(&d, ms);
        r->done = k + 1;
        /* The first update whose loss rose more than 100x over the one before is marked, once. */
        if (!d.diverged && d.previous > 0 && isfinite(r->loss) && r->loss > 100.0f * d.previous) {
            d.diverged = 1;
            clear_bar(&d);
            if (message_stream(&d))
                fprintf(message_stream(&d), "warning: step %lld: the loss rose from %.6g to %.6g (more than 100x); "
                        "training may be diverging: try a lower lr or clip_grad_norm\n", (long long)step, d.previous,
                        r->loss);
        }
        if (isfinite(r->loss)) d.previous = r->loss;
        /* The row's step columns are read before an eval replaces the outputs. */
        if (!log_row(&d, step, ms, 0, err)) goto done;
        int eval_now = ev && ((cfg->eval_every && step % cfg->eval_every == 0) || k + 1 == r->total);
        if (eval_now) {
            if (!gc_evaluator_run(ev, &r->eval, err)) goto done;
            r->evaluated = true;
            print_eval(&d, step);
            if (!keep_if_best(&d, step, err)) goto done;
        }
        log_eval_columns(&d, eval_now);
        /* The last update's save is the one after the loop. */
        if (cfg->save_every && step % cfg->save_every == 0 && k + 1 < r->total && !save_checkpoint(&d, cfg->save, err))
            goto done;
        print_progress(&d, k, step);
    }
    r->seconds = (gc_clock_ms() - began) / 1e3;
    r->skipped = gc_trainer_skipped(t);
    if (!log_header(&d, 0, err)) goto done;
    if ((cfg->save || cfg->save_weights) && !save_checkpoint(&d, cfg->save, err)) goto done;
    summary(&d);
    if (r->skipped * 2 > r->total) {
        gc_failf(err, GC_ERR_NUMERIC, "%lld of %lld updates were skipped for a non-finite loss or gradient norm "
                 "(more than half): try a lower lr or clip_grad_norm", (long long)r->skipped, (long long)r->total);
        goto done;
    }
    ok = 1;
done:
    clear_bar(&d);
    if (cfg->catch_signals) gc_train_interrupt_uninstall();
    if (!gc_train_log_close(&d.log, ok ? err : &(gc_error){0}) && ok) ok = 0;
    free(d.best_path);
    return ok;
}
