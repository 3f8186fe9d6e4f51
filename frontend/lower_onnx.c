/*
 * lower_onnx.c: onnx("file.onnx", x, ...) as NAME in a model file (docs/onnx.md). The file is read
 * relative to the model file, its graph lowered by frontend/onnx_import.c with the call's
 * arguments as the graph's inputs; params are the float initializers under their names, prefixed
 * by the call's name when it has `as` (or sits inside a def).
 */
#include "frontend/lower_internal.h"

#include <stdio.h>
#include <string.h>

#include "frontend/onnx_import.h"

int gc_lower_onnx(lowerer *L, lower_args *a, const char *path, lval *out) {
    const char *file = gc_lower_arg_str(a, 0);
    char full[4096];
    const char *slash = L->file ? strrchr(L->file, '/') : NULL;
    int dir = file[0] != '/' && slash ? (int)(slash - L->file + 1) : 0;
    if (snprintf(full, sizeof full, "%.*s%s", dir, dir ? L->file : "", file) >= (int)sizeof full)
        return gc_fail(L->err, GC_ERR_USER, gc_lower_arg_loc(a, 0), "onnx: path too long");
    gc_error read_err = {0};
    gc_onnx_model *m = gc_onnx_read_file(full, &read_err);
    if (!m) return gc_fail(L->err, read_err.code, gc_lower_arg_loc(a, 0), "onnx: %s", read_err.message);
    gc_node *args[4];
    int nargs = 0;
    for (int i = 1; i <= 4; i++) {
        if (!a->slots[i] || a->vals[i].kind == LV_CONST) continue;
        if (!(args[nargs++] = gc_lower_arg_tensor(L, a, i, GC_F32))) return gc_onnx_model_free(m), 0;
    }
    gc_onnx_import_options o = {0};
    const char *scope = L->scope && L->scope->prefix ? L->scope->prefix : "";
    o.prefix = a->call->call.as || *scope ? path : NULL;
    int nout = gc_onnx_num_outputs(m);
    gc_node **outs = gc_arena_alloc(L->scratch, sizeof *outs * (size_t)(nout + 1));
    lval *items = gc_arena_alloc(L->scratch, sizeof *items * (size_t)(nout + 1));
    if (!outs || !items) return gc_onnx_model_free(m), gc_failf(L->err, GC_ERR_MEMORY, "out of memory while lowering");
    gc_lower_at(L, a->call->loc);
    int ok = gc_onnx_import(&L->ctx, m, &o, args, nargs, outs, L->err);
    gc_onnx_model_free(m);
    if (!ok) return 0;
    if (nout == 1) {
        out->kind = LV_TENSOR;
        out->node = outs[0];
        return 1;
    }
    for (int k = 0; k < nout; k++) items[k] = (lval){.kind = LV_TENSOR, .node = outs[k]};
    out->kind = LV_TUPLE;
    out->items = items;
    out->n = nout;
    return 1;
}
