/* train_run.c: gc_trainer_run, the C API's front end of the training driver (runtime/train_driver.h). */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include <gradc/gradc.h>

#include "ir/diag.h"
#include "runtime/data_files.h"
#include "runtime/evaluate.h"
#include "runtime/train_driver.h"

_Static_assert(sizeof(gc_data_file) == sizeof(gc_data_binding) &&
                   offsetof(gc_data_file, path) == offsetof(gc_data_binding, path),
               "gc_data_file is gc_data_binding");

int gc_trainer_run(gc_trainer *t, const gc_run_options *o, gc_run_result *r, gc_error *err) {
    gc_run_result ignored;
    if (!r) r = &ignored;
    memset(r, 0, sizeof *r);
    r->loss = NAN;
    r->eval_loss = NAN;
    if (!t || !o) return gc_failf(err, GC_ERR_USER, "gc_trainer_run: trainer and options are required");
    if (o->num_data < 0 || o->num_eval_data < 0 || (o->num_data && !o->data) || (o->num_eval_data && !o->eval_data))
        return gc_failf(err, GC_ERR_USER, "gc_trainer_run: data and num_data (eval_data and num_eval_data) disagree");
    if (o->steps < 0 || o->epochs < 0 || o->eval_every < 0 || o->save_every < 0 || o->text_stride < 0)
        return gc_failf(err, GC_ERR_USER, "gc_trainer_run: steps, epochs, eval_every, save_every and text_stride "
                                          "must not be negative");
    if (o->steps && o->epochs) return gc_failf(err, GC_ERR_USER, "gc_trainer_run: give steps or epochs, not both");
    gc_data_config dc = {GC_CSV_HEADER_AUTO, NULL, 0, o->text_stride};
    gc_dataset *data = NULL, *held_out = NULL;
    gc_evaluator *ev = NULL;
    int ok = 0;
    data = gc_data_files_load(t, (const gc_data_binding *)o->data, o->num_data, &dc, 0, !o->no_shuffle, err);
    if (!data) goto done;
    gc_train_config cfg = {.steps = o->steps ? o->steps : -1, .epochs = o->epochs ? o->epochs : -1,
                           .eval_every = o->eval_every, .save_every = o->save_every, .save = o->save,
                           .keep_best = o->keep_best != 0, .save_weights = o->save_weights, .log = o->log,
                           .resumed = gc_trainer_steps(t) > 0, .progress = GC_PROGRESS_NONE};
    gc_train_source src = gc_train_source_dataset(data, t);
    if (!gc_train_check_source(&cfg, &src, t, err)) goto done;
    if (o->eval_every && !o->num_eval_data) {
        gc_failf(err, GC_ERR_USER, "gc_trainer_run: eval_every needs eval_data");
        goto done;
    }
    if (o->num_eval_data) {
        held_out = gc_data_files_load(t, (const gc_data_binding *)o->eval_data, o->num_eval_data, &dc, 1, 0, err);
        /* No model text to compile again: the last partial batch is padded (exact for means). */
        if (!held_out || !(ev = gc_evaluator_create(t, held_out, "batch", false, false, NULL, NULL, NULL, err))) goto done;
    }
    gc_train_result result;
    ok = gc_train_run(t, &src, ev, &cfg, &result, err);
    r->steps = result.done;
    r->loss = result.loss;
    if (result.evaluated) r->eval_loss = result.eval.loss;
    r->stopped = result.stopped != 0;
    memcpy(r->saved, result.saved, sizeof r->saved);
    r->best_step = result.best_step;
    r->best_eval_loss = result.best_step ? result.best_loss : NAN;
done:
    gc_evaluator_free(ev);
    gc_dataset_free(held_out);
    gc_dataset_free(data);
    return ok;
}
