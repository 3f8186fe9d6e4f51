/*
 * layers_conv.c: the convolution layers, nn.Conv1d, nn.Conv2d and nn.ConvTranspose2d, over the
 * IR's conv ops.
 *
 * conv1d and conv2d are one conv op plus the bias; padding="same" pads dilation * (k - 1) in all,
 * half before and the rest (one more when odd) after, as torch 1.13 does. conv_transpose2d is
 * conv_input_grad: the transposed convolution is the adjoint of the convolution whose weight has
 * its layout ([C_in, out/groups, k...]), and its stated result type carries output_padding.
 * Parameters are initialised as torch's reset_parameters: kaiming_uniform(a=sqrt(5)) on the weight
 * is U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = weight.size(1) * prod(kernel), and the bias
 * has the same bound.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "frontend/layers.h"

static const char *layer_name(const gc_conv_args *a) {
    return a->transposed ? "conv_transpose2d" : a->spatial == 1 ? "conv1d" : "conv2d";
}

static void format_list(char *buf, size_t size, const int64_t *v, int n) {
    size_t at = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < n && at < size; i++) at += (size_t)snprintf(buf + at, size - at, i ? ", %lld" : "%lld", (long long)v[i]);
    if (at < size) snprintf(buf + at, size - at, "]");
}

static gc_node *param(gc_layer_context *c, const char *path, const char *suffix, const char *layer, const gc_type *t,
                      gc_init init) {
    char name[512];
    int n = path && *path ? snprintf(name, sizeof name, "%s.%s", path, suffix) : snprintf(name, sizeof name, "%s", suffix);
    if (n < 0 || (size_t)n >= sizeof name) {
        gc_fail(c->b.err, GC_ERR_USER, c->b.loc, "parameter name '%s.%s' is too long", path, suffix);
        return NULL;
    }
    return gc_layer_param(c, name, layer, t, init);
}

gc_node *gc_layer_conv(gc_layer_context *c, const char *path, gc_node *x, const gc_conv_args *a) {
    if (!x) return NULL;
    gc_builder *b = &c->b;
    const char *layer = layer_name(a);
    int s = a->spatial;
    char t[96];
    static const char *const shapes[] = {"", "[N, C, L]", "[N, C, H, W]"};
    if (x->type.dtype != GC_F32 || (x->type.rank != s + 2 && x->type.rank != s + 1)) {
        gc_fail(b->err, GC_ERR_USER, b->loc, "%s: x must be an f32 tensor %s (or %s without the batch dim), got %s",
                layer, shapes[s], s == 1 ? "[C, L]" : "[C, H, W]", gc_type_format(&x->type, t, sizeof t));
        return NULL;
    }
    /* An unbatched input is a batch of one, as torch treats it. */
    bool unbatched = x->type.rank == s + 1;
    if (unbatched) {
        int64_t dims[GC_MAX_RANK] = {1};
        for (int d = 0; d < x->type.rank; d++) dims[d + 1] = x->type.dims[d];
        if (!(x = gc_reshape(b, x, s + 2, dims))) return NULL;
    }
    int64_t channels = x->type.dims[1];
    if (a->groups < 1) {
        gc_fail(b->err, GC_ERR_USER, b->loc, "%s: groups must be at least 1, got %lld", layer, (long long)a->groups);
        return NULL;
    }
    if (channels % a->groups) {
        gc_fail(b->err, GC_ERR_USER, b->loc, "%s: in_channels (%lld, dim 1 of x %s) must be divisible by groups (%lld)",
                layer, (long long)channels, gc_type_format(&x->type, t, sizeof t), (long long)a->groups);
        return NULL;
    }
    if (a->out % a->groups) {
        gc_fail(b->err, GC_ERR_USER, b->loc, "%s: out_channels (%lld) must be divisible by groups (%lld)", layer,
                (long long)a->out, (long long)a->groups);
        return NULL;
    }
    gc_attr_conv attr;
    memset(&attr, 0, sizeof attr);
    attr.groups = (int)a->groups;
    int64_t out_sizes[2], in_sizes[2];
    for (int d = 0; d < s; d++) {
        int64_t in = x->type.dims[2 + d], k = a->kernel[d], dil = a->dilation[d], st = a->stride[d];
        in_sizes[d] = in;
        attr.stride[d] = st;
        attr.dilation[d] = dil;
        if (a->same) {
            if (st != 1) {
                gc_fail(b->err, GC_ERR_USER, b->loc, "%s: padding=\"same\" needs stride 1 (torch does not take strided "
                        "'same' convolutions), got stride %lld", layer, (long long)st);
                return NULL;
            }
            int64_t total = dil * (k - 1);
            attr.pad_before[d] = total / 2;
            attr.pad_after[d] = total - total / 2;
        } else {
            attr.pad_before[d] = attr.pad_after[d] = a->padding[d];
        }
        if (a->transposed) {
            if (a->output_padding[d] >= st && a->output_padding[d] >= dil) {
                gc_fail(b->err, GC_ERR_USER, b->loc,
                        "%s: output_padding (%lld) must be smaller than either stride (%lld) or dilation (%lld)", layer,
                        (long long)a->output_padding[d], (long long)st, (long long)dil);
                return NULL;
            }
            if (a->output_padding[d] >= st) {
                gc_fail(b->err, GC_ERR_USER, b->loc,
                        "%s: output_padding (%lld) must be smaller than stride (%lld); gradc does not take the larger "
                        "output_padding torch allows below the dilation", layer, (long long)a->output_padding[d],
                        (long long)st);
                return NULL;
            }
            out_sizes[d] = (in - 1) * st - 2 * a->padding[d] + dil * (k - 1) + a->output_padding[d] + 1;
        } else {
            out_sizes[d] = (in + attr.pad_before[d] + attr.pad_after[d] - dil * (k - 1) - 1) / st + 1;
            if (in + attr.pad_before[d] + attr.pad_after[d] < dil * (k - 1) + 1) out_sizes[d] = 0;
        }
    }
    for (int d = 0; d < s; d++) {
        if (out_sizes[d] >= 1) continue;
        char in_s[64], k_s[64], p_s[64], o_s[64];
        format_list(in_s, sizeof in_s, in_sizes, s);
        format_list(k_s, sizeof k_s, a->kernel, s);
        format_list(p_s, sizeof p_s, a->padding, s);
        format_list(o_s, sizeof o_s, out_sizes, s);
        if (a->transposed)
            gc_fail(b->err, GC_ERR_USER, b->loc,
                    "%s: the output size %s would be less than 1 (input %s, kernel %s, padding %s)", layer, o_s, in_s,
                    k_s, p_s);
        else
            gc_fail(b->err, GC_ERR_USER, b->loc,
                    "%s: the output size %s would be less than 1: the input %s with padding %s is smaller than the "
                    "kernel %s (dilated: dilation * (k - 1) + 1)", layer, o_s, in_s, p_s, k_s);
        return NULL;
    }

    /* weight [out, C/groups, *k], or [C, out/groups, *k] transposed; fan_in is dim 1 times the kernel. */
    int64_t wd[4];
    wd[0] = a->transposed ? channels : a->out;
    wd[1] = a->transposed ? a->out / a->groups : channels / a->groups;
    double fan_in = (double)wd[1];
    for (int d = 0; d < s; d++) {
        wd[2 + d] = a->kernel[d];
        fan_in *= (double)a->kernel[d];
    }
    gc_type wt = gc_type_make(GC_F32, s + 2, wd);
    double bound = 1.0 / sqrt(fan_in);
    gc_init u = {GC_INIT_UNIFORM, -bound, bound};
    gc_node *w = param(c, path, "weight", layer, &wt, u);
    if (!w) return NULL;
    gc_node *bias = NULL;
    if (a->bias) {
        gc_type bt = gc_type_make(GC_F32, 1, &a->out);
        if (!(bias = param(c, path, "bias", layer, &bt, u))) return NULL;
    }

    gc_node *y;
    if (a->transposed) {
        gc_type yt = x->type;
        yt.dims[1] = a->out;
        for (int d = 0; d < s; d++) yt.dims[2 + d] = out_sizes[d];
        y = gc_conv_input_grad(b, x, w, &attr, &yt);
    } else {
        y = gc_conv(b, x, w, &attr);
    }
    if (y && bias) {
        int64_t bd[3] = {a->out, 1, 1};
        y = gc_binary(b, GC_OP_ADD, y, gc_reshape(b, bias, s + 1, bd));
    }
    if (y && unbatched) y = gc_reshape(b, y, s + 1, y->type.dims + 1);
    return y;
}
