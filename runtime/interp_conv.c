/*
 * interp_conv.c: the convolution ops in plain loops, the oracle generated code is checked against.
 *
 * One walk over every (image, output channel, output position, input channel of its group, kernel
 * position) whose input position falls inside the unpadded input serves all three ops: conv
 * accumulates x * w into y, conv_input_grad dy * w into x's adjoint, conv_weight_grad x * dy into
 * w's. Everything is in double, as every interpreter kernel. A bf16 convolution (mixed precision)
 * reads both operands rounded to bf16 (gc_bf16_round), as generated code packs them.
 */
#include <string.h>

#include "ir/conv.h"
#include "runtime/gemm_bf16.h"
#include "runtime/interp_kernels.h"

static inline double operand(double x, bool bf16) { return bf16 ? (double)gc_bf16_round((float)x) : x; }

typedef enum { FORWARD, INPUT_GRAD, WEIGHT_GRAD } walk_mode;

/* a: x (FORWARD, WEIGHT_GRAD) or dy (INPUT_GRAD); b: w (FORWARD, INPUT_GRAD) or dy (WEIGHT_GRAD). */
static void walk(const gc_conv_geom *g, walk_mode mode, bool bf16, const double *a, const double *b, double *out) {
    int64_t cg = g->in_channels / g->groups, og = g->out_channels / g->groups;
    int64_t in_size = g->in[0] * g->in[1] * g->in[2], out_size = g->out[0] * g->out[1] * g->out[2];
    int64_t k_size = g->kernel[0] * g->kernel[1] * g->kernel[2];
    for (int64_t n = 0; n < g->batch; n++)
        for (int64_t o = 0; o < g->out_channels; o++) {
            int64_t group = o / og;
            for (int64_t p0 = 0; p0 < g->out[0]; p0++)
                for (int64_t p1 = 0; p1 < g->out[1]; p1++)
                    for (int64_t p2 = 0; p2 < g->out[2]; p2++) {
                        int64_t yi = (n * g->out_channels + o) * out_size + (p0 * g->out[1] + p1) * g->out[2] + p2;
                        for (int64_t cl = 0; cl < cg; cl++) {
                            int64_t c = group * cg + cl;
                            for (int64_t k0 = 0; k0 < g->kernel[0]; k0++) {
                                int64_t i0 = p0 * g->stride[0] - g->pad_before[0] + k0 * g->dilation[0];
                                if (i0 < 0 || i0 >= g->in[0]) continue;
                                for (int64_t k1 = 0; k1 < g->kernel[1]; k1++) {
                                    int64_t i1 = p1 * g->stride[1] - g->pad_before[1] + k1 * g->dilation[1];
                                    if (i1 < 0 || i1 >= g->in[1]) continue;
                                    for (int64_t k2 = 0; k2 < g->kernel[2]; k2++) {
                                        int64_t i2 = p2 * g->stride[2] - g->pad_before[2] + k2 * g->dilation[2];
                                        if (i2 < 0 || i2 >= g->in[2]) continue;
                                        int64_t xi = (n * g->in_channels + c) * in_size + (i0 * g->in[1] + i1) * g->in[2] + i2;
                                        int64_t wi = (o * cg + cl) * k_size + (k0 * g->kernel[1] + k1) * g->kernel[2] + k2;
                                        switch (mode) {
                                        case FORWARD: out[yi] += operand(a[xi], bf16) * operand(b[wi], bf16); break;
                                        case INPUT_GRAD: out[xi] += operand(a[yi], bf16) * operand(b[wi], bf16); break;
                                        case WEIGHT_GRAD: out[wi] += operand(a[xi], bf16) * operand(b[yi], bf16); break;
                                        }
                                    }
                                }
                            }
                        }
                    }
        }
}

static int run(const gc_node *n, walk_mode mode, const double *const *in, double *out) {
    gc_conv_geom g;
    gc_conv_geom_of(n, &g);
    memset(out, 0, sizeof *out * (size_t)gc_type_numel(&n->type));
    walk(&g, mode, n->attr.conv.bf16, in[0], in[1], out);
    return 1;
}

int interp_conv(const gc_node *n, const double *const *in, double *out, gc_error *err) {
    (void)err;
    return run(n, FORWARD, in, out);
}

int interp_conv_input_grad(const gc_node *n, const double *const *in, double *out, gc_error *err) {
    (void)err;
    return run(n, INPUT_GRAD, in, out);
}

int interp_conv_weight_grad(const gc_node *n, const double *const *in, double *out, gc_error *err) {
    (void)err;
    return run(n, WEIGHT_GRAD, in, out);
}
