/*
 * dot.h: a graph drawn for Graphviz (`gradc ir --format dot` at the IR stages; the fused stage
 * draws kernels instead, passes/fuse_print.c).
 *
 * Nodes are grouped in clusters by the layer that made them (gc_node.layer), nested by path
 * (`h` holds `h.3`, which holds `h.3.attn`). Collapsed, each layer is one box ("h.3.attn, 23 ops")
 * and the edges join boxes: what a model of many layers needs to be read as a picture.
 */
#ifndef GC_IR_DOT_H
#define GC_IR_DOT_H

#include "ir/graph.h"

/* Above this many nodes gc_graph_dot's GC_DOT_AUTO collapses the layers. */
#define GC_DOT_COLLAPSE_ABOVE 200

typedef enum gc_dot_layers {
    GC_DOT_AUTO,     /* collapsed when the graph has more than GC_DOT_COLLAPSE_ABOVE nodes */
    GC_DOT_EXPAND,   /* every node drawn */
    GC_DOT_COLLAPSE, /* one box per layer */
} gc_dot_layers;

/* The Graphviz text of g (caller frees), or NULL when out of memory. */
char *gc_graph_dot(const gc_graph *g, gc_dot_layers layers);

#endif
