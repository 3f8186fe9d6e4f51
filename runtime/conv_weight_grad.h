/*
 * conv_weight_grad.h: what the weight-gradient kernels (runtime/conv_weight_grad.c; their entry
 * points are declared with the other convolution kernels in runtime/conv.h) hold per thread.
 */
#ifndef GC_RUNTIME_CONV_WEIGHT_GRAD_H
#define GC_RUNTIME_CONV_WEIGHT_GRAD_H

#include <stdint.h>

/* The buffer bytes a thread holds after running geom's weight gradient (0 for the direct loops),
 * apart from the forward and input-gradient kernels' (gc_conv_workspace_bytes). */
int64_t gc_conv_weight_grad_workspace_bytes(const int64_t *geom);

#endif
