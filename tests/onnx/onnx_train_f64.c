/*
 * onnx_train_f64.c: a model's training step (forward, autodiff, the optimizer's update, exactly as
 * `gradc train` builds it) run in double precision on the reference interpreter, for the ONNX
 * twins (tests/twins/onnx_twin.py, docs/onnx.md "How it is checked"). Deep batch-norm networks on
 * small batches are chaotic in float32 (float32 rounding alone moves torch from its own float64
 * run by more than 2e-4 within a few steps), so the step-for-step comparison with torch over 20
 * steps is made in float64 on both sides, where rounding is 1e-9 times smaller.
 *
 * usage: onnx_train_f64 MODEL.gm X.npy Y.npy STEPS OUT.csv [--grads GRADS.safetensors]
 *                       [--state STATE.safetensors --first N]
 * Batches are taken in order from the start of X and Y (as `gradc train --no-shuffle`); params start
 * from the ONNX file's initializers; writes step,loss per step. GRADS, when given, receives the first
 * step's gradients (F64, under the params' names): where a run departs from torch's, comparing
 * them with torch.autograd's on the same weights finds the first wrong gradient. STATE restarts a
 * run after step N from torch's state there (params, buffers and optimizer.<param>.momentum_buffer,
 * F64, num_batches_tracked I64): the steps after it are N + 1 to N + STEPS, on the batches (and the
 * dropout streams) of those steps. A model whose training is chaotic even in float64 (MobileNetV2:
 * a difference of 1e-15 grows about a hundredfold per step, as torch's run does from its own weights
 * perturbed by 1e-13) is compared over all its steps this way, in segments that each start from
 * torch's state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/check.h"
#include "frontend/layers.h"
#include "frontend/lower.h"
#include "frontend/parser.h"
#include "passes/autodiff.h"
#include "passes/manager.h"
#include "passes/optimizer.h"
#include "runtime/interp.h"
#include "runtime/npy.h"
#include "runtime/safetensors.h"

static int fail(const char *what, const gc_error *err) {
    fprintf(stderr, "onnx_train_f64: %s: %s\n", what, err->message);
    return 1;
}

static char *read_text(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) free(s), s = NULL;
    fclose(f);
    if (s) s[n] = 0, *len = (size_t)n;
    return s;
}

/* The gradient outputs of the step just run, in double, under their params' names. */
static bool save_grads(const gc_graph *g, const gc_interp *it, const char *path, gc_error *err) {
    gc_safetensors *st = gc_safetensors_new(err);
    bool ok = st != NULL;
    for (int k = 0; ok && k < g->num_outputs; k++) {
        const gc_graph_output *o = &g->outputs[k];
        if (o->kind != GC_OUTPUT_GRAD) continue;
        const gc_type *t = &o->value->type;
        ok = gc_safetensors_add(st, o->name, GC_ST_F64, t->rank, t->dims, gc_interp_value(it, o->value), err);
    }
    ok = ok && gc_safetensors_save(st, path, err);
    gc_safetensors_free(st);
    return ok;
}

/* Every tensor of a state file (F64 values, I64 counters) into the source of the same name. */
static bool load_state(gc_interp *it, const char *path, gc_error *err) {
    gc_safetensors *st = gc_safetensors_load(path, err);
    if (!st) return false;
    bool ok = true;
    for (int k = 0; ok && k < st->num_tensors; k++) {
        const gc_st_tensor *t = &st->tensors[k];
        int64_t n = 1;
        for (int d = 0; d < t->rank; d++) n *= t->shape[d];
        if (t->dtype == GC_ST_F64) {
            ok = gc_interp_set_f64(it, t->name, (const double *)t->data, n, err);
        } else if (t->dtype == GC_ST_I64 && n == 1) {
            int64_t v;
            memcpy(&v, t->data, sizeof v);
            int32_t v32 = (int32_t)v;
            gc_tensor one = {GC_I32, 0, {0}, &v32};
            ok = gc_interp_set(it, t->name, &one, err);
        } else {
            ok = gc_failf(err, GC_ERR_USER, "%s: %s must be F64 or a scalar I64", path, t->name);
        }
    }
    gc_safetensors_free(st);
    return ok;
}

int main(int argc, char **argv) {
    const char *grads_path = NULL, *state_path = NULL;
    int first = 0;
    for (int k = 6; k + 1 < argc; k += 2) {
        if (!strcmp(argv[k], "--grads")) grads_path = argv[k + 1];
        else if (!strcmp(argv[k], "--state")) state_path = argv[k + 1];
        else if (!strcmp(argv[k], "--first")) first = atoi(argv[k + 1]);
        else argc = 0;
    }
    if (argc < 6 || argc % 2 || first < 0 || (first > 0) != (state_path != NULL)) {
        fprintf(stderr, "usage: %s MODEL.gm X.npy Y.npy STEPS OUT.csv [--grads GRADS.safetensors] "
                        "[--state STATE.safetensors --first N]\n", argv[0]);
        return 2;
    }
    gc_error err = {0};
    size_t len = 0;
    char *src = read_text(argv[1], &len);
    if (!src) return fprintf(stderr, "onnx_train_f64: cannot read %s\n", argv[1]), 1;
    gc_arena *arena = gc_arena_new();
    gc_ast_module *m = gc_frontend_parse(src, len, argv[1], arena, &err);
    gc_lowered_model lm = {0};
    if (!m || !gc_frontend_check(m, NULL, 0, &err) || !gc_lower_model(m, true, &lm, &err)) return fail("lowering", &err);
    /* Param values live in the lowering's arena, which the passes replace: keep copies. */
    const gc_layer_context *c = &lm.layers;
    int np = c->num_params;
    char **names = calloc((size_t)np + 1, sizeof *names);
    float **values = calloc((size_t)np + 1, sizeof *values);
    gc_type *types = calloc((size_t)np + 1, sizeof *types);
    for (int i = 0; i < np; i++) {
        names[i] = strdup(c->params[i].name);
        types[i] = c->params[i].node->type;
        if (c->params[i].data) {
            size_t bytes = sizeof(float) * (size_t)gc_type_numel(&types[i]);
            values[i] = malloc(bytes);
            memcpy(values[i], c->params[i].data, bytes);
        }
    }
    gc_graph *g = lm.graph;
    if (!gc_autodiff(g, &err) || !gc_optimizer_build(g, &lm.train.optimizer, &err) ||
        !gc_run_pipeline(&g, "simplify,cse,dce", NULL, &err))
        return fail("building the training step", &err);
    lm.graph = g;
    gc_interp *it = gc_interp_new(g, GC_INTERP_F64, &err);
    if (!it) return fail("interpreter", &err);
    /* Every source starts at zero (optimizer state, num_batches_tracked), then params take the
     * initializers' values. */
    for (int i = 0; i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        if (!(gc_op_table[n->op].flags & GC_FLAG_NAMED)) continue;
        double *zeros = calloc((size_t)gc_type_numel(&n->type) + 1, sizeof *zeros);
        int ok = zeros && gc_interp_set_f64(it, n->name, zeros, gc_type_numel(&n->type), &err);
        free(zeros);
        if (!ok) return fail(n->name, &err);
    }
    for (int i = 0; i < np; i++) {
        if (!values[i] || !gc_graph_find_source(g, names[i])) continue;
        gc_tensor t = {GC_F32, types[i].rank, {0}, values[i]};
        memcpy(t.shape, types[i].dims, sizeof t.shape);
        if (!gc_interp_set(it, names[i], &t, &err)) return fail(names[i], &err);
    }
    if (state_path && !load_state(it, state_path, &err)) return fail(state_path, &err);
    gc_tensor x, y;
    if (!gc_npy_read(argv[2], GC_F32, &x, &err) || !gc_npy_read(argv[3], GC_I32, &y, &err)) return fail("data", &err);
    const gc_node *xin = gc_graph_find_named(g, GC_OP_INPUT, "x"), *yin = gc_graph_find_named(g, GC_OP_INPUT, "y");
    if (!xin || !yin) return fprintf(stderr, "onnx_train_f64: the model needs inputs x and y\n"), 1;
    int64_t batch = xin->type.dims[0], batches = x.shape[0] / batch, xsize = gc_type_numel(&xin->type);
    FILE *out = fopen(argv[5], "w");
    if (!out) return fprintf(stderr, "onnx_train_f64: cannot write %s\n", argv[5]), 1;
    fprintf(out, "step,loss\n");
    int steps = atoi(argv[4]);
    for (int s = first; s < first + steps; s++) {
        int64_t at = s % batches;
        gc_tensor xb = {GC_F32, xin->type.rank, {0}, (float *)x.data + at * xsize};
        gc_tensor yb = {GC_I32, yin->type.rank, {0}, (int32_t *)y.data + at * batch};
        memcpy(xb.shape, xin->type.dims, sizeof xb.shape);
        memcpy(yb.shape, yin->type.dims, sizeof yb.shape);
        if (!gc_interp_set(it, "x", &xb, &err) || !gc_interp_set(it, "y", &yb, &err)) return fail("inputs", &err);
        if (gc_graph_find_source(g, GC_STEP_INPUT)) {
            int32_t step = s;
            gc_tensor st = {GC_I32, 0, {0}, &step};
            if (!gc_interp_set(it, GC_STEP_INPUT, &st, &err)) return fail("step", &err);
        }
        if (!gc_interp_run(it, &err)) return fail("step", &err);
        fprintf(out, "%d,%.17g\n", s + 1, gc_interp_output(it, GC_OUTPUT_VALUE, "loss")[0]);
        if (s == first && grads_path && !save_grads(g, it, grads_path, &err)) return fail(grads_path, &err);
        /* Updates (params, optimizer state, buffers) go back to their sources, still in double. */
        for (int k = 0; k < g->num_outputs; k++) {
            const gc_graph_output *o = &g->outputs[k];
            if (o->kind != GC_OUTPUT_UPDATE) continue;
            if (!gc_interp_set_f64(it, o->name, gc_interp_value(it, o->value), gc_type_numel(&o->value->type), &err))
                return fail(o->name, &err);
        }
    }
    fclose(out);
    gc_interp_free(it);
    gc_lowered_model_free(&lm);
    for (int i = 0; i < np; i++) free(names[i]), free(values[i]);
    free(names), free(values), free(types);
    free(x.data), free(y.data);
    gc_arena_free(arena);
    free(src);
    return 0;
}
