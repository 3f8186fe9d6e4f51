/*
 * rewrite.h: what graph-to-graph passes share: copying nodes into a new graph under an operand
 * mapping, and carrying the outputs across.
 */
#ifndef GC_PASSES_REWRITE_H
#define GC_PASSES_REWRITE_H

#include "ir/graph.h"

/* A node of dst with n's op, attributes, name, location and (for GIVEN ops) type, over `inputs`
 * (already in dst). */
gc_node *gc_copy_node(gc_graph *dst, const gc_node *n, gc_node *const *inputs, gc_error *err);

/* Copies src into a new graph keeping the nodes with keep[id] set (NULL keeps all), in order,
 * with map[id] replacing a node by an earlier kept node (map may be NULL). Outputs follow their
 * values through the map. Every node an output or kept node uses must be kept or mapped. */
gc_graph *gc_graph_rebuild(const gc_graph *src, const bool *keep, const int *map, gc_error *err);

#endif
