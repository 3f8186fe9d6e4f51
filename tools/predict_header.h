/*
 * predict_header.h: the weight loader of a forward-only graph's generated header
 * (tools/predict_header.c).
 */
#ifndef GC_TOOLS_PREDICT_HEADER_H
#define GC_TOOLS_PREDICT_HEADER_H

#include "ir/strbuf.h"

/* Appends `static inline int <prefix>load_weights(char *arena, const char *path, char *why,
 * size_t why_size)`, which reads <upper>NUM_TENSORS entries of <prefix>tensors. The header must
 * include <stdint.h>, <stdio.h>, <stdlib.h> and <string.h> before it. */
void gc_predict_loader_source(gc_strbuf *sb, const char *prefix, const char *upper);

#endif
