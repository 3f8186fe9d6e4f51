/*
 * shape_conv.c: the shape rules of the convolution ops (conv, conv_input_grad, conv_weight_grad)
 * and the geometry they share with the interpreter and the code generator (ir/conv.h).
 *
 * All three check the same thing: that conv(x, w) with these attributes is well formed and gives
 * dy's type. conv derives y from x and w; conv_input_grad states x (its shape cannot be derived from
 * dy: a strided conv maps several input sizes to one output size, which is conv_transpose2d's
 * output_padding) and conv_weight_grad states w.
 */
#include <stdio.h>
#include <string.h>

#include "ir/conv.h"

#define OPNAME(n) (gc_op_table[(n)->op].name)

static int fail_types(const gc_node *n, gc_error *err, const char *what, const gc_type *a, const gc_type *b) {
    char sa[96] = "", sb[96] = "";
    if (a) gc_type_format(a, sa, sizeof sa);
    if (b) gc_type_format(b, sb, sizeof sb);
    return gc_fail(err, GC_ERR_USER, n->loc, "%s: %s (x %s, w %s)", OPNAME(n), what, sa, sb);
}

/* The spatial dim string "[3, 3]" of entries [0, count) of v. */
static void format_dims(char *buf, size_t size, const int64_t *v, int count) {
    size_t at = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < count && at < size; i++) at += (size_t)snprintf(buf + at, size - at, i ? ", %lld" : "%lld", (long long)v[i]);
    if (at < size) snprintf(buf + at, size - at, "]");
}

/* Checks conv(x, w) under n's attributes and computes its result type. */
static int conv_result(const gc_node *n, const gc_type *x, const gc_type *w, gc_type *y, gc_error *err) {
    const gc_attr_conv *a = &n->attr.conv;
    if (x->dtype != w->dtype || !gc_dtype_is_float(x->dtype))
        return fail_types(n, err, "needs x and w of the same float type", x, w);
    if (x->rank < 3 || x->rank > 2 + GC_MAX_SPATIAL)
        return fail_types(n, err, "x must be [N, C, *spatial] with 1 to 3 spatial dims", x, w);
    if (w->rank != x->rank)
        return fail_types(n, err, "w must be [O, C/groups, *kernel] with as many spatial dims as x", x, w);
    int s = x->rank - 2;
    for (int d = s; d < GC_MAX_SPATIAL; d++)
        if (a->stride[d] || a->pad_before[d] || a->pad_after[d] || a->dilation[d])
            return gc_fail(err, GC_ERR_USER, n->loc, "%s: attributes have entries beyond the %d spatial dims of x",
                           OPNAME(n), s);
    for (int d = 0; d < s; d++) {
        if (a->stride[d] < 1 || a->dilation[d] < 1 || a->pad_before[d] < 0 || a->pad_after[d] < 0 ||
            a->stride[d] > GC_MAX_ELEMENTS || a->dilation[d] > GC_MAX_ELEMENTS || a->pad_before[d] > GC_MAX_ELEMENTS ||
            a->pad_after[d] > GC_MAX_ELEMENTS)
            return gc_fail(err, GC_ERR_USER, n->loc,
                           "%s: strides and dilations must be at least 1 and paddings at least 0", OPNAME(n));
    }
    int64_t groups = a->groups, c = x->dims[1], o = w->dims[0];
    if (groups < 1) return gc_fail(err, GC_ERR_USER, n->loc, "%s: groups must be at least 1, got %lld", OPNAME(n), (long long)groups);
    if (c % groups)
        return gc_fail(err, GC_ERR_USER, n->loc, "%s: %lld input channels are not divisible by groups=%lld", OPNAME(n),
                       (long long)c, (long long)groups);
    if (o % groups)
        return gc_fail(err, GC_ERR_USER, n->loc, "%s: %lld output channels are not divisible by groups=%lld", OPNAME(n),
                       (long long)o, (long long)groups);
    if (w->dims[1] * groups != c)
        return fail_types(n, err, "w's dim 1 must be the input channels / groups", x, w);
    gc_type r = *x;
    r.dims[1] = o;
    for (int d = 0; d < s; d++) {
        int64_t padded = x->dims[2 + d] + a->pad_before[d] + a->pad_after[d];
        int64_t span = a->dilation[d] * (w->dims[2 + d] - 1) + 1;
        if (span > padded) {
            char kd[64], pd[64], in[64];
            int64_t ks[GC_MAX_SPATIAL], ps[GC_MAX_SPATIAL], is[GC_MAX_SPATIAL];
            for (int e = 0; e < s; e++) {
                ks[e] = a->dilation[e] * (w->dims[2 + e] - 1) + 1;
                is[e] = x->dims[2 + e];
                ps[e] = x->dims[2 + e] + a->pad_before[e] + a->pad_after[e];
            }
            format_dims(kd, sizeof kd, ks, s);
            format_dims(in, sizeof in, is, s);
            format_dims(pd, sizeof pd, ps, s);
            return gc_fail(err, GC_ERR_USER, n->loc,
                           "%s: the kernel (dilated size %s) is larger than the padded input (%s, padded %s)", OPNAME(n),
                           kd, in, pd);
        }
        r.dims[2 + d] = (padded - span) / a->stride[d] + 1;
    }
    *y = r;
    return 1;
}

int gc_shape_conv(const gc_node *n, gc_type *out, gc_error *err) {
    return conv_result(n, &n->inputs[0]->type, &n->inputs[1]->type, out, err);
}

static int check_dy(const gc_node *n, const gc_type *want, const gc_type *dy, gc_error *err) {
    if (gc_type_equal(want, dy)) return 1;
    char sw[96], sd[96];
    gc_type_format(want, sw, sizeof sw);
    gc_type_format(dy, sd, sizeof sd);
    return gc_fail(err, GC_ERR_USER, n->loc, "%s: dy is %s but the convolution gives %s", OPNAME(n), sd, sw);
}

int gc_shape_conv_input_grad(const gc_node *n, gc_type *out, gc_error *err) {
    gc_type y;
    if (!conv_result(n, &n->type, &n->inputs[1]->type, &y, err) || !check_dy(n, &y, &n->inputs[0]->type, err)) return 0;
    *out = n->type;
    return 1;
}

int gc_shape_conv_weight_grad(const gc_node *n, gc_type *out, gc_error *err) {
    gc_type y;
    if (!conv_result(n, &n->inputs[0]->type, &n->type, &y, err) || !check_dy(n, &y, &n->inputs[1]->type, err)) return 0;
    *out = n->type;
    return 1;
}

void gc_conv_geom_of(const gc_node *n, gc_conv_geom *g) {
    const gc_type *x, *w, *y;
    switch (n->op) {
    case GC_OP_CONV_INPUT_GRAD: x = &n->type, w = &n->inputs[1]->type, y = &n->inputs[0]->type; break;
    case GC_OP_CONV_WEIGHT_GRAD: x = &n->inputs[0]->type, w = &n->type, y = &n->inputs[1]->type; break;
    default: x = &n->inputs[0]->type, w = &n->inputs[1]->type, y = &n->type; break;
    }
    const gc_attr_conv *a = &n->attr.conv;
    memset(g, 0, sizeof *g);
    g->batch = x->dims[0];
    g->in_channels = x->dims[1];
    g->out_channels = w->dims[0];
    g->groups = a->groups;
    int s = x->rank - 2;
    g->spatial = s;
    for (int slot = 0; slot < 3; slot++) {
        int d = slot - (3 - s); /* the spatial dim in this slot, or < 0 */
        bool real = d >= 0;
        g->in[slot] = real ? x->dims[2 + d] : 1;
        g->out[slot] = real ? y->dims[2 + d] : 1;
        g->kernel[slot] = real ? w->dims[2 + d] : 1;
        g->stride[slot] = real ? a->stride[d] : 1;
        g->pad_before[slot] = real ? a->pad_before[d] : 0;
        g->pad_after[slot] = real ? a->pad_after[d] : 0;
        g->dilation[slot] = real ? a->dilation[d] : 1;
    }
}

double gc_conv_macs(const gc_conv_geom *g) {
    double per = (double)g->in_channels / (double)g->groups * (double)g->out_channels;
    for (int d = 0; d < 3; d++) per *= (double)g->out[d] * (double)g->kernel[d];
    return per * (double)g->batch;
}
