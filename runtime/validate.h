/*
 * validate.h: checking data before training on it (issue 17). PyTorch refuses class labels
 * outside [0, C) and token ids outside an embedding's rows; gradc's kernels would read them as a
 * zero row and train on silently. The integer inputs that index something are found in the eval
 * graph once (gc_index_rules_collect), and every whole data file (gradc train/eval) and every batch
 * set through the C API is checked against them in one pass: no cost per element in the kernels.
 * Float data is checked for NaN (infinities stay allowed: additive masks hold -inf).
 */
#ifndef GC_RUNTIME_VALIDATE_H
#define GC_RUNTIME_VALIDATE_H

#include <stdbool.h>
#include <stdint.h>

#include <gradc/gradc.h>

#include "ir/graph.h"

/* An i32 input whose values index something: valid values are 0 .. limit - 1, and ignore when
 * has_ignore (cross_entropy's and nll_loss's ignore_index). */
typedef struct gc_index_rule {
    char input[64];
    int64_t limit;
    bool has_ignore;
    int64_t ignore;
    bool is_take;      /* rows of a table (embedding, take), else classes (losses, one_hot) */
    char call[32];     /* the call at loc as the model file spells it (cross_entropy, Embedding, ...) */
    char file[256];
    int line, col;
} gc_index_rule;

/* The rules of graph g: every take whose indices and every one_hot whose operand is an input,
 * directly or through reshapes. source (may be NULL) is the model text, for the call's name.
 * *rules is malloc'd (NULL when there are none). */
int gc_index_rules_collect(const gc_graph *g, const char *source, gc_index_rule **rules, int *count, gc_error *err);

/* Checks numel values of input `input` (dtype i32 or f32), examples of numel / examples values
 * each, against the rules and for NaN. origin names the data in messages: a file (`y.npy: example
 * 417 has class 5, ...`), or NULL for a batch set through the C API (`input 'y': example 3 ...`). */
int gc_validate_data(const gc_index_rule *rules, int count, const char *input, const char *origin, const void *data,
                     gc_dtype dtype, int64_t examples, int64_t numel, gc_error *err);

#endif
