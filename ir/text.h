/*
 * text.h: the textual IR — printer, parser and verifier.
 *
 * Grammar (full description and every op in docs/ir.md):
 *
 *   graph   = "graph" "@" IDENT "{" (node | output)* "}"
 *   node    = VALUE "=" OPNAME [STRING] ["(" VALUE ("," VALUE)* ")"] [attrs] ":" type [loc] [layer]
 *   attrs   = "{" FIELD "=" value ("," FIELD "=" value)* "}"    every field of the op's kind, in
 *                                                                attrs.def order
 *   type    = DTYPE "[" [INT ("," INT)*] "]"                   f32[128, 784], i32[], f64[3]
 *   loc     = "loc" "(" STRING ":" INT ":" INT ")"             the model-file line that made it
 *   layer   = "layer" "(" STRING ")"                           the layer or def call that made it
 *   output  = ("output" | "update" | "grad") STRING "=" VALUE
 *   VALUE   = "%" (IDENT | INT)          printed as %<node id>; the parser accepts any name
 *   comment = "#" to the end of the line
 *
 * Example:
 *   graph @mlp {
 *     %0 = input "x" : f32[128, 784] loc("mlp.gm":3:1)
 *     %1 = param "fc1.weight" : f32[1024, 784] loc("mlp.gm":5:5)
 *     %2 = matmul(%0, %1) {transpose_a=false, transpose_b=true} : f32[128, 1024] loc("mlp.gm":5:5) layer("fc1")
 *     %3 = constant {value=0} : f32[]
 *     output "y" = %2
 *   }
 *
 * print -> parse -> print is byte-identical: the printer always writes every attribute field,
 * numbers values by node id, and writes doubles in the shortest form that reads back exactly.
 */
#ifndef GC_IR_TEXT_H
#define GC_IR_TEXT_H

#include <stddef.h>

#include "ir/graph.h"

/* The textual form of g as a malloc'd string (caller frees), or NULL when out of memory. */
char *gc_graph_print(const gc_graph *g);

/* Parses one graph from text (len bytes, need not be NUL-terminated). `filename` is used in
 * error locations. Every node goes through gc_graph_make, so shapes are checked as it reads.
 * On failure returns NULL with err at file:line:col of the offending token. */
gc_graph *gc_graph_parse(const char *text, size_t len, const char *filename, gc_error *err);

/* Checks the invariants every pass relies on: operand ids precede their users, every node's type
 * is what its shape rule says, attribute ranges, named sources unique, outputs valid, no rank
 * over 6. Runs between passes in debug builds and after parsing. */
int gc_graph_verify(const gc_graph *g, gc_error *err);

#endif
