/*
 * init.h: how a parameter gets its initial value (the model's description; runtime/init.c fills
 * the numbers). Kept in ir/ because the frontend attaches one to every param it creates.
 */
#ifndef GC_IR_INIT_H
#define GC_IR_INIT_H

typedef enum gc_init_kind {
    GC_INIT_ZEROS,
    GC_INIT_ONES,
    GC_INIT_CONSTANT,        /* a = value */
    GC_INIT_NORMAL,          /* a = mean, b = std */
    GC_INIT_UNIFORM,         /* a = low, b = high */
    GC_INIT_XAVIER_UNIFORM,  /* a = gain */
    GC_INIT_XAVIER_NORMAL,   /* a = gain */
    GC_INIT_KAIMING_UNIFORM, /* a = negative slope (torch's `a`), fan_in mode, leaky_relu gain */
    GC_INIT_KAIMING_NORMAL,  /* a = negative slope */
    GC_INIT_TRUNC_NORMAL,    /* a = std, mean 0, cut at -2 and 2 (torch.nn.init.trunc_normal_ defaults) */
    GC_INIT_NORMAL_ZERO_ROW, /* a = std, mean 0, then row b - 1 of dim 0 zeroed (nn.Embedding's padding_idx) */
} gc_init_kind;

typedef struct gc_init {
    gc_init_kind kind;
    double a, b;
} gc_init;

const char *gc_init_kind_name(gc_init_kind kind);

#endif
