/* evaluate.c: the runtime's evaluator for a model given by the command's options; see evaluate.h. */
#include "tools/evaluate.h"

#include <stdio.h>

#include "runtime/distributed.h"

gc_trainer *gc_model_options_factory(void *mo, const char *name, double value, gc_error *err) {
    return gc_model_options_trainer_with(mo, name, value, NULL, err);
}

gc_evaluator *gc_evaluator_new(gc_model_options *mo, gc_trainer *t, gc_dataset *data, const char *batch_const,
                               bool explicit_const, bool batch_losses, gc_error *err) {
    gc_evaluator *e = gc_evaluator_create(t, data, batch_const, explicit_const, batch_losses, gc_model_options_factory,
                                          mo, mo->model_path, err);
    if (e) gc_evaluator_set_communicator(e, mo->communicator);
    if (e && gc_evaluator_note(e) && gc_distributed_is_root(mo->communicator)) fprintf(stderr, "gradc: note: %s\n", gc_evaluator_note(e));
    return e;
}
