/*
 * shape_pool.c: the pooling geometry (pool.h) and the shape rules of max_pool, avg_pool and
 * their gradients, with torch 1.13's checks: positive kernel, stride and dilation, padding at
 * most half the kernel, and a result of at least one element per spatial dim.
 */
#include <stdio.h>
#include <string.h>

#include "ir/pool.h"

/* Division rounding toward minus infinity (torch's div_rtn), for a numerator that may be negative. */
static int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b, r = a % b;
    return (r != 0 && ((r < 0) != (b < 0))) ? q - 1 : q;
}

int64_t gc_pool_out_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation, bool ceil_mode) {
    int64_t span = in + 2 * pad - dilation * (kernel - 1) - 1 + (ceil_mode ? stride - 1 : 0);
    int64_t out = floor_div(span, stride) + 1;
    /* The last window must start inside the input or the left padding. */
    if (ceil_mode && out > 0 && (out - 1) * stride >= in + pad) out--;
    return out < 0 ? 0 : out;
}

static void format_list(const int64_t *v, int n, char *buf, size_t cap) {
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used < cap; i++) {
        int w = snprintf(buf + used, cap - used, "%s%lld", i ? ", " : "[", (long long)v[i]);
        if (w < 0) return;
        used += (size_t)w;
    }
    if (used < cap) snprintf(buf + used, cap - used, n ? "]" : "[]");
}

int gc_pool_check(const char *op, const gc_attr_pool *a, const gc_type *x, bool avg, gc_type *out, gc_loc loc,
                  gc_error *err) {
    char tx[96];
    gc_type_format(x, tx, sizeof tx);
    int spatial = x->rank - 2;
    if (spatial < 1 || spatial > GC_MAX_SPATIAL)
        return gc_fail(err, GC_ERR_USER, loc, "%s: needs [N, C, *spatial] with 1 to %d spatial dims, got %s", op,
                       GC_MAX_SPATIAL, tx);
    if (!gc_dtype_is_float(x->dtype)) return gc_fail(err, GC_ERR_USER, loc, "%s: needs a float operand, got %s", op, tx);
    const struct {
        const char *name;
        const int64_t *v;
        int64_t min;
    } fields[] = {{"kernel", a->kernel, 1}, {"stride", a->stride, 1}, {"padding", a->padding, 0}, {"dilation", a->dilation, 1}};
    for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
        char list[96];
        format_list(fields[f].v, spatial, list, sizeof list);
        for (int d = 0; d < GC_MAX_SPATIAL; d++) {
            if (d >= spatial && fields[f].v[d] != 0)
                return gc_fail(err, GC_ERR_USER, loc, "%s: %s has entries beyond the %d spatial dims of %s", op,
                               fields[f].name, spatial, tx);
            if (d < spatial && (fields[f].v[d] < fields[f].min || fields[f].v[d] > INT32_MAX))
                return gc_fail(err, GC_ERR_USER, loc, "%s: %s %s must be %s", op, fields[f].name, list,
                               fields[f].min ? "positive" : "non-negative");
        }
    }
    char kl[96], pl[96];
    format_list(a->kernel, spatial, kl, sizeof kl);
    format_list(a->padding, spatial, pl, sizeof pl);
    for (int d = 0; d < spatial; d++) {
        if (avg && a->dilation[d] != 1) return gc_fail(err, GC_ERR_USER, loc, "%s: dilation must be 1", op);
        if (a->padding[d] > a->kernel[d] / 2)
            return gc_fail(err, GC_ERR_USER, loc, "%s: padding %s must be at most half of kernel %s", op, pl, kl);
    }
    gc_type r = *x;
    for (int d = 0; d < spatial; d++) {
        int64_t o = gc_pool_out_size(x->dims[d + 2], a->kernel[d], a->stride[d], a->padding[d], a->dilation[d], a->ceil_mode);
        if (o < 1)
            return gc_fail(err, GC_ERR_USER, loc, "%s: kernel %s (dilation %lld) is larger than the padded input %s", op,
                           kl, (long long)a->dilation[d], tx);
        r.dims[d + 2] = o;
    }
    *out = r;
    return 1;
}

void gc_pool_geom_make(const gc_attr_pool *a, const gc_type *x, gc_pool_geom *g) {
    memset(g, 0, sizeof *g);
    int spatial = x->rank - 2, lead = GC_MAX_SPATIAL - spatial;
    g->planes = x->dims[0] * x->dims[1];
    for (int d = 0; d < GC_MAX_SPATIAL; d++) {
        if (d < lead) {
            g->in[d] = g->out[d] = g->kernel[d] = g->stride[d] = g->dilation[d] = 1;
            continue;
        }
        int s = d - lead;
        g->in[d] = x->dims[s + 2];
        g->kernel[d] = a->kernel[s];
        g->stride[d] = a->stride[s];
        g->pad[d] = a->padding[s];
        g->dilation[d] = a->dilation[s];
        g->out[d] = gc_pool_out_size(g->in[d], g->kernel[d], g->stride[d], g->pad[d], g->dilation[d], a->ceil_mode);
    }
    g->ceil_mode = a->ceil_mode;
    g->count_include_pad = a->count_include_pad;
}

int64_t gc_pool_in_plane(const gc_pool_geom *g) { return g->in[0] * g->in[1] * g->in[2]; }
int64_t gc_pool_out_plane(const gc_pool_geom *g) { return g->out[0] * g->out[1] * g->out[2]; }

int64_t gc_pool_divisor(const gc_pool_geom *g, const int64_t *o) {
    int64_t count = 1;
    for (int d = 0; d < GC_MAX_SPATIAL; d++) {
        int64_t start = o[d] * g->stride[d] - g->pad[d];
        int64_t end = start + g->kernel[d];
        if (g->count_include_pad) {
            if (end > g->in[d] + g->pad[d]) end = g->in[d] + g->pad[d];
        } else {
            if (end > g->in[d]) end = g->in[d];
            if (start < 0) start = 0;
        }
        count *= end - start;
    }
    return count;
}

/* ---- shape rules ---------------------------------------------------------------------------- */

#define OPNAME(n) (gc_op_table[(n)->op].name)

int gc_shape_pool(const gc_node *n, gc_type *out, gc_error *err) {
    return gc_pool_check(OPNAME(n), &n->attr.pool, &n->inputs[0]->type, n->op == GC_OP_AVG_POOL, out, n->loc, err);
}

/* dy must be what pooling x gives. */
static int check_dy(const gc_node *n, const gc_type *x, const gc_type *dy, bool avg, gc_error *err) {
    gc_type pooled;
    if (!gc_pool_check(OPNAME(n), &n->attr.pool, x, avg, &pooled, n->loc, err)) return 0;
    if (!gc_type_equal(&pooled, dy)) {
        char a[96], b[96], c[96];
        return gc_fail(err, GC_ERR_USER, n->loc, "%s: dy %s is not the pooled type %s of %s", OPNAME(n),
                       gc_type_format(dy, a, sizeof a), gc_type_format(&pooled, b, sizeof b), gc_type_format(x, c, sizeof c));
    }
    return 1;
}

int gc_shape_max_pool_grad(const gc_node *n, gc_type *out, gc_error *err) {
    if (!check_dy(n, &n->inputs[0]->type, &n->inputs[1]->type, false, err)) return 0;
    *out = n->inputs[0]->type;
    return 1;
}

int gc_shape_avg_pool_grad(const gc_node *n, gc_type *out, gc_error *err) {
    if (!check_dy(n, &n->type, &n->inputs[0]->type, true, err)) return 0;
    *out = n->type;
    return 1;
}
