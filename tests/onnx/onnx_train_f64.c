/*
 * onnx_train_f64.c: a model's training step (forward, autodiff, the optimizer's update, exactly as
 * `gradc train` builds it) run in double precision on the reference interpreter, for the ONNX
 * twins (tests/twins/onnx_twin.py, docs/onnx.md "How it is checked"). Deep batch-norm networks on
 * small batches are chaotic in float32 (float32 rounding alone moves torch from its own float64
 * run by more than 2e-4 within a few steps), so the step-for-step comparison with torch over 20
 * steps is made in float64 on both sides, where rounding is 1e-9 times smaller.
 *
 * usage: onnx_train_f64 MODEL.gm X.npy Y.npy STEPS OUT.csv
 * Batches are taken in order from the start of X and Y (as `gradc train --no-shuffle`); params start
 * from the ONNX file's initializers; writes step,loss per step.
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

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s MODEL.gm X.npy Y.npy STEPS OUT.csv\n", argv[0]);
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
    gc_tensor x, y;
    if (!gc_npy_read(argv[2], GC_F32, &x, &err) || !gc_npy_read(argv[3], GC_I32, &y, &err)) return fail("data", &err);
    const gc_node *xin = gc_graph_find_named(g, GC_OP_INPUT, "x"), *yin = gc_graph_find_named(g, GC_OP_INPUT, "y");
    if (!xin || !yin) return fprintf(stderr, "onnx_train_f64: the model needs inputs x and y\n"), 1;
    int64_t batch = xin->type.dims[0], batches = x.shape[0] / batch, xsize = gc_type_numel(&xin->type);
    FILE *out = fopen(argv[5], "w");
    if (!out) return fprintf(stderr, "onnx_train_f64: cannot write %s\n", argv[5]), 1;
    fprintf(out, "step,loss\n");
    int steps = atoi(argv[4]);
    for (int s = 0; s < steps; s++) {
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
