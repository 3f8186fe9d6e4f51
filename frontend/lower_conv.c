/*
 * lower_conv.c: the arguments of conv1d, conv2d and conv_transpose2d (builtins.def), read into a
 * gc_conv_args for layers_conv.c. An int stands for every spatial dim and a list gives one per dim,
 * as torch's _single and _pair; each must be in range, and errors point at the argument.
 */
#include "frontend/lower_internal.h"

#include <string.h>

/* Argument i as `spatial` sizes, each at least `min`. */
static int sizes(lowerer *L, const lower_args *a, int i, int spatial, int64_t min, int64_t *out) {
    const gc_const_value *v = &a->vals[i].cv;
    const char *name = a->fn->params[i].name;
    if (v->kind == GC_CV_LIST) {
        if (v->list.n != spatial)
            return gc_fail(L->err, GC_ERR_USER, gc_lower_arg_loc(a, i),
                           "%s: %s must be an integer or a list of %d integer%s (one per spatial dim), got %d", a->fn->name,
                           name, spatial, spatial == 1 ? "" : "s", v->list.n);
        for (int d = 0; d < spatial; d++) out[d] = v->list.items[d].i;
    } else {
        for (int d = 0; d < spatial; d++) out[d] = v->i;
    }
    for (int d = 0; d < spatial; d++)
        if (out[d] < min || out[d] > ((int64_t)1 << 31))
            return gc_fail(L->err, GC_ERR_USER, gc_lower_arg_loc(a, i), "%s: %s must be at least %lld, got %lld",
                           a->fn->name, name, (long long)min, (long long)out[d]);
    return 1;
}

int gc_lower_conv(lowerer *L, lower_args *a, const char *path, lval *out) {
    gc_conv_args c;
    memset(&c, 0, sizeof c);
    c.transposed = a->fn->id == GC_BUILTIN_CONV_TRANSPOSE2D;
    c.spatial = a->fn->id == GC_BUILTIN_CONV1D ? 1 : 2;
    int s = c.spatial;
    c.out = gc_lower_arg_int(a, 1);
    if (c.out < 1)
        return gc_fail(L->err, GC_ERR_USER, gc_lower_arg_loc(a, 1), "%s: out must be at least 1, got %lld", a->fn->name,
                       (long long)c.out);
    if (!sizes(L, a, 2, s, 1, c.kernel) || !sizes(L, a, 3, s, 1, c.stride)) return 0;
    /* Both signatures put groups at 6 and bias at 7; dilation is last in conv_transpose2d. */
    int groups_arg = 6, bias_arg = 7, dilation_arg = c.transposed ? 8 : 5;
    if (!c.transposed && a->vals[4].cv.kind == GC_CV_STRING) {
        c.same = !strcmp(a->vals[4].cv.s, "same"); /* "valid" is no padding */
    } else if (!sizes(L, a, 4, s, 0, c.padding)) {
        return 0;
    }
    if (c.transposed && !sizes(L, a, 5, s, 0, c.output_padding)) return 0;
    if (!sizes(L, a, dilation_arg, s, 1, c.dilation)) return 0;
    c.groups = gc_lower_arg_int(a, groups_arg);
    if (c.groups < 1)
        return gc_fail(L->err, GC_ERR_USER, gc_lower_arg_loc(a, groups_arg), "%s: groups must be at least 1, got %lld",
                       a->fn->name, (long long)c.groups);
    c.bias = gc_lower_arg_bool(a, bias_arg);
    gc_node *x = gc_lower_arg_tensor(L, a, 0, GC_F32);
    if (!x) return 0;
    out->kind = LV_TENSOR;
    out->node = gc_layer_conv(&L->ctx, path, x, &c);
    return out->node != NULL;
}
