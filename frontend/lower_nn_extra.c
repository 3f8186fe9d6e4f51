/*
 * lower_nn_extra.c: calls of the wave-2 losses (passes/losses.h, losses_extra.c) and layers
 * (layers_extra.h), and class-weight arguments.
 *
 * A WEIGHTS argument is none, a tensor, or a list of numbers; a list becomes a constant f32
 * vector (one constant per element, joined by concat), so `weight=[1.0, 2.0, 0.5]` needs no
 * input or param.
 */
#include "frontend/lower_internal.h"

#include <string.h>

#include "frontend/consteval.h"
#include "frontend/layers_extra.h"
#include "passes/losses.h"

static int tensor_result(lval *out, gc_node *n) {
    out->kind = LV_TENSOR;
    out->node = n;
    return n != NULL;
}

int gc_lower_arg_weights(lowerer *L, lower_args *a, int i, gc_node **w) {
    const lval *v = &a->vals[i];
    *w = NULL;
    if (v->kind == LV_TENSOR) {
        *w = v->node;
        return 1;
    }
    if (v->kind != LV_CONST || v->cv.kind != GC_CV_LIST) return 1; /* none */
    gc_builder *b = &L->ctx.b;
    int n = v->cv.list.n;
    gc_node **parts = gc_arena_alloc(L->scratch, sizeof *parts * (size_t)n);
    if (!parts) return gc_failf(L->err, GC_ERR_MEMORY, "out of memory while lowering");
    int64_t one = 1;
    gc_type t = gc_type_make(GC_F32, 1, &one);
    gc_lower_at(L, gc_lower_arg_loc(a, i));
    for (int k = 0; k < n; k++)
        if (!(parts[k] = gc_fill(b, &t, gc_const_as_double(&v->cv.list.items[k])))) return 0;
    *w = n == 1 ? parts[0] : gc_concat(b, parts, n, 0);
    gc_lower_at(L, a->call->loc);
    return *w != NULL;
}

/* The `reduction` argument (every loss here has one). */
static gc_reduction reduction_of(const lower_args *a) {
    gc_reduction r = GC_REDUCTION_MEAN;
    int i = gc_builtin_param_index(a->fn, "reduction");
    if (i >= 0) gc_reduction_from_name(gc_lower_arg_str(a, i), &r);
    return r;
}

/* The number argument called `name`. */
static double num(const lower_args *a, const char *name) { return gc_lower_arg_num(a, gc_builtin_param_index(a->fn, name)); }
static bool flag(const lower_args *a, const char *name) { return gc_lower_arg_bool(a, gc_builtin_param_index(a->fn, name)); }

int gc_lower_loss_extra(lowerer *L, lower_args *a, lval *out) {
    gc_builder *b = &L->ctx.b;
    gc_reduction r = reduction_of(a);
    gc_node *x = gc_lower_arg_tensor(L, a, 0, GC_F32);
    /* i32 targets stay i32; a number becomes an f32 scalar. */
    gc_node *y = gc_lower_arg_tensor(L, a, 1, GC_F32);
    if (!x || !y) return 0;
    gc_node *z = NULL, *w = NULL;
    switch (a->fn->id) {
    case GC_BUILTIN_MARGIN_RANKING_LOSS:
    case GC_BUILTIN_COSINE_EMBEDDING_LOSS:
    case GC_BUILTIN_TRIPLET_MARGIN_LOSS:
    case GC_BUILTIN_GAUSSIAN_NLL_LOSS:
        if (!(z = gc_lower_arg_tensor(L, a, 2, GC_F32))) return 0;
        break;
    case GC_BUILTIN_MULTILABEL_SOFT_MARGIN_LOSS:
    case GC_BUILTIN_MULTI_MARGIN_LOSS: {
        int i = gc_builtin_param_index(a->fn, "weight");
        if (!gc_lower_arg_weights(L, a, i, &w)) return 0;
        break;
    }
    default: break;
    }
    gc_lower_at(L, a->call->loc);
    switch (a->fn->id) {
    case GC_BUILTIN_HUBER_LOSS: return tensor_result(out, gc_huber_loss(b, x, y, num(a, "delta"), r));
    case GC_BUILTIN_SMOOTH_L1_LOSS: return tensor_result(out, gc_smooth_l1_loss(b, x, y, num(a, "beta"), r));
    case GC_BUILTIN_SOFT_MARGIN_LOSS: return tensor_result(out, gc_soft_margin_loss(b, x, y, r));
    case GC_BUILTIN_MULTILABEL_SOFT_MARGIN_LOSS:
        return tensor_result(out, gc_multilabel_soft_margin_loss(b, x, y, w, r));
    case GC_BUILTIN_MULTILABEL_MARGIN_LOSS: return tensor_result(out, gc_multilabel_margin_loss(b, x, y, r));
    case GC_BUILTIN_MULTI_MARGIN_LOSS:
        return tensor_result(out, gc_multi_margin_loss(b, x, y, gc_lower_arg_int(a, gc_builtin_param_index(a->fn, "p")),
                                                       num(a, "margin"), w, r));
    case GC_BUILTIN_MARGIN_RANKING_LOSS:
        return tensor_result(out, gc_margin_ranking_loss(b, x, y, z, num(a, "margin"), r));
    case GC_BUILTIN_HINGE_EMBEDDING_LOSS:
        return tensor_result(out, gc_hinge_embedding_loss(b, x, y, num(a, "margin"), r));
    case GC_BUILTIN_COSINE_EMBEDDING_LOSS:
        return tensor_result(out, gc_cosine_embedding_loss(b, x, y, z, num(a, "margin"), r));
    case GC_BUILTIN_TRIPLET_MARGIN_LOSS:
        return tensor_result(out, gc_triplet_margin_loss(b, x, y, z, num(a, "margin"), num(a, "p"), num(a, "eps"),
                                                         flag(a, "swap"), r));
    case GC_BUILTIN_POISSON_NLL_LOSS:
        return tensor_result(out, gc_poisson_nll_loss(b, x, y, flag(a, "log_input"), flag(a, "full"), num(a, "eps"), r));
    case GC_BUILTIN_GAUSSIAN_NLL_LOSS:
        return tensor_result(out, gc_gaussian_nll_loss(b, x, y, z, flag(a, "full"), num(a, "eps"), r));
    default:
        return gc_fail(L->err, GC_ERR_INTERNAL, a->call->loc, "internal error: no lowering for loss %s", a->fn->name);
    }
}

int gc_lower_layer_extra(lowerer *L, lower_args *a, const char *path, lval *out) {
    gc_layer_context *c = &L->ctx;
    switch (a->fn->id) {
    case GC_BUILTIN_PRELU: {
        int64_t n = gc_lower_arg_int(a, 1);
        if (n < 1)
            return gc_fail(L->err, GC_ERR_USER, gc_lower_arg_loc(a, 1),
                           "prelu: argument 'num_parameters' must be at least 1, got %lld", (long long)n);
        gc_node *x = gc_lower_arg_tensor(L, a, 0, GC_F32);
        return tensor_result(out, x ? gc_layer_prelu(c, path, x, n, gc_lower_arg_num(a, 2)) : NULL);
    }
    case GC_BUILTIN_BILINEAR: {
        int64_t n = gc_lower_arg_int(a, 2);
        if (n < 1)
            return gc_fail(L->err, GC_ERR_USER, gc_lower_arg_loc(a, 2), "bilinear: argument 'out' must be at least 1, got %lld",
                           (long long)n);
        gc_node *x1 = gc_lower_arg_tensor(L, a, 0, GC_F32), *x2 = gc_lower_arg_tensor(L, a, 1, GC_F32);
        return tensor_result(out, x1 && x2 ? gc_layer_bilinear(c, path, x1, x2, n, gc_lower_arg_bool(a, 3)) : NULL);
    }
    default:
        return gc_fail(L->err, GC_ERR_INTERNAL, a->call->loc, "internal error: no lowering for layer %s", a->fn->name);
    }
}
