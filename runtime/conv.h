/*
 * conv.h: the convolution kernels generated code calls for conv, conv_input_grad and
 * conv_weight_grad (codegen/emit_conv.c).
 *
 * `geom` is a gc_conv_geom (ir/conv.h) as GC_CONV_GEOM_WORDS int64s, a constant of the generated
 * code. Tensors are dense row-major: x [N, C, *in], w [O, C/groups, *kernel], y [N, O, *out].
 *
 * Each call computes its share [from, to) of GC_SHARE_ONE (runtime/parallel.h): a run of images
 * for the forward and input-gradient kernels, a run of input channels for the weight gradient
 * (whose sum over images and positions is then never cut). Every element is computed the same way
 * whatever the share, so the pool may move the cuts without changing a bit (as long as gc_sgemm
 * runs gradc's own kernel, runtime/gemm.h; generated code flags the kernel as calling it).
 *
 * f32 forwards and stride-1 input gradients whose images have a multiple of 16 output positions
 * run on runtime/conv_forward.c (its own blocking: weights packed once per call, the input
 * unfolded by masked loads or gathers). The rest
 * runs as GEMMs on gradc's kernel over column tiles of about 256 output positions (part of
 * one image, or several whole images when an image has fewer positions): an implicit GEMM, the
 * input unfolded straight into gc_sgemm's packed panels (gc_sgemm_own_packed); where gc_sgemm is
 * OpenBLAS the tile is unfolded into a per-thread column buffer (im2col) instead. A stride-1 input
 * gradient is the forward of the flipped kernel; a strided one is one such forward per stride phase
 * (conv_forward.c), or where a phase's sizes do not suit it folds a column buffer back (col2im).
 * A 1x1, stride-1, unpadded convolution reads x in place. Depthwise and other tiny per-group
 * products, f64, and a thread whose buffer cannot be allocated run direct loops instead. The
 * buffers are per thread, allocated on a thread's first call and grown only when a larger tile
 * comes, so a training step allocates nothing after its first.
 *
 * The weight gradient is runtime/conv_weight_grad.c: on AVX-512 in f32 it is not a GEMM over
 * column tiles but a register tile that reads the unfolded input where it lies (no column buffer),
 * each weight's sum one sequential chain over the batch, so it too gives the same bits whatever
 * the share; there a share above 64 output channels a group is a run of output channels.
 */
#ifndef GC_RUNTIME_CONV_H
#define GC_RUNTIME_CONV_H

#include <stdint.h>

void gc_conv_forward_f32(const int64_t *geom, const float *x, const float *w, float *y, int32_t from, int32_t to);
void gc_conv_input_grad_f32(const int64_t *geom, const float *dy, const float *w, float *dx, int32_t from, int32_t to);
void gc_conv_weight_grad_f32(const int64_t *geom, const float *x, const float *dy, float *dw, int32_t from, int32_t to);

void gc_conv_forward_f64(const int64_t *geom, const double *x, const double *w, double *y, int32_t from, int32_t to);
void gc_conv_input_grad_f64(const int64_t *geom, const double *dy, const double *w, double *dx, int32_t from, int32_t to);
void gc_conv_weight_grad_f64(const int64_t *geom, const double *x, const double *dy, double *dw, int32_t from,
                             int32_t to);

/* The same kernels for images [lo, hi) of the batch: a fused kernel (codegen/fused.c) convolves
 * one image (or one column tile's images), then runs its epilogue (bias, batch-norm apply,
 * activation, residual add) over them while they are still in cache. `again` (not 0) says the
 * previous call on this thread was this kernel with the same weights, so the input gradient may
 * reuse the flipped weights it left in the thread's buffer (it flips them anyway when the buffer
 * was reallocated since). */
void gc_conv_forward_images_f32(const int64_t *geom, const float *x, const float *w, float *y, int64_t lo, int64_t hi,
                                int32_t again);
void gc_conv_input_grad_images_f32(const int64_t *geom, const float *dy, const float *w, float *dx, int64_t lo,
                                   int64_t hi, int32_t again);
void gc_conv_forward_images_f64(const int64_t *geom, const double *x, const double *w, double *y, int64_t lo,
                                int64_t hi, int32_t again);
void gc_conv_input_grad_images_f64(const int64_t *geom, const double *dy, const double *w, double *dx, int64_t lo,
                                   int64_t hi, int32_t again);

/* How many images a call of the _images kernels should take at a time: the images of one column
 * tile (several when an image has fewer than about 256 positions), so that calling them run by
 * run computes the same tiles, with the weights packed as often, as one call for the whole share. */
int64_t gc_conv_images_per_call(const int64_t *geom);

/* The f32 kernels with both operands of every product rounded to bf16 (mixed precision: the ops'
 * bf16 flag), as gc_sgemm_bf16 (runtime/gemm_bf16.h) multiplies them. */
void gc_conv_forward_bf16(const int64_t *geom, const float *x, const float *w, float *y, int32_t from, int32_t to);
void gc_conv_input_grad_bf16(const int64_t *geom, const float *dy, const float *w, float *dx, int32_t from, int32_t to);
void gc_conv_weight_grad_bf16(const int64_t *geom, const float *x, const float *dy, float *dw, int32_t from,
                              int32_t to);

/* The column buffer bytes a thread holds after running geom's kernels (0 for the direct loops). */
int64_t gc_conv_workspace_bytes(const int64_t *geom);

#endif
