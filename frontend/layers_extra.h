/*
 * layers_extra.h: layers of wave 2 without a family of their own (nn.PReLU, nn.Bilinear), built
 * from primitive ops like those of layers.h, with torch's parameter names and initialisation.
 */
#ifndef GC_FRONTEND_LAYERS_EXTRA_H
#define GC_FRONTEND_LAYERS_EXTRA_H

#include "frontend/layers.h"

/* nn.PReLU(num_parameters, init): x where x > 0, else weight * x, with `weight [num_parameters]`
 * (constant init) along axis 1 of x when num_parameters > 1 (x then needs rank 2 or more and
 * num_parameters channels there). */
gc_node *gc_layer_prelu(gc_layer_context *c, const char *path, gc_node *x, int64_t num_parameters, double init);

/* nn.Bilinear(in1, in2, out, bias): y[.., o] = x1 W[o] x2 + b[o] with `weight [out, in1, in2]` and
 * `bias [out]`, both U(-1/sqrt(in1), 1/sqrt(in1)); x1 [.., in1] and x2 [.., in2] share their
 * leading dims. */
gc_node *gc_layer_bilinear(gc_layer_context *c, const char *path, gc_node *x1, gc_node *x2, int64_t out, bool bias);

#endif
