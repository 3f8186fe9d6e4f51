/*
 * fuse_print.c: a fusion partition shown as text (the graph's IR with the kernel of each node as
 * a trailing comment, so it still parses back) and as Graphviz (kernels as clusters).
 */
#include <stdlib.h>
#include <string.h>

#include "ir/strbuf.h"
#include "ir/text.h"
#include "passes/fuse.h"
#include "passes/plan.h"

/* Members per root: count[r], and whether r's kernel is more than one node. */
static int *kernel_sizes(const gc_graph *g, const gc_fusion *f) {
    int *size = calloc((size_t)g->num_nodes + 1, sizeof *size);
    if (!size) return NULL;
    for (int i = 0; i < g->num_nodes; i++)
        if (f->root[i] >= 0) size[f->root[i]]++;
    return size;
}

/* Per kernel root (and stored member): the outside value whose bytes it is planned in (an
 * operand that dies there, passes/plan.c's operand bytes, or the param or state an update
 * overwrites), -1 for none; and per GEMM member that adds its product onto such a value, that value. */
static void bytes_shared(const gc_graph *g, const gc_fusion *f, const gc_layout *l, int *into, int *onto) {
    for (int i = 0; i < g->num_nodes; i++) into[i] = onto[i] = -1;
    if (!l) return;
    for (int i = 0; i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        int r = f->root[i];
        if (r < 0 || l->offsets[r] < 0 || l->aliased[r] || gc_type_numel(&g->nodes[r]->type) == 0) continue;
        for (int k = 0; k < n->num_inputs; k++) {
            const gc_node *x = n->inputs[k];
            if (f->root[x->id] == r || l->offsets[x->id] != l->offsets[r] || into[r] >= 0) continue;
            into[r] = x->id;
            /* A GEMM epilogue's add of x: the GEMM adds its product onto x's bytes. */
            for (int j = 0; j < n->num_inputs; j++)
                if (n->op == GC_OP_ADD && j != k && f->root[n->inputs[j]->id] == r &&
                    gc_op_table[n->inputs[j]->op].op_class == GC_CLASS_GEMM)
                    onto[n->inputs[j]->id] = x->id;
        }
    }
    /* A stored member planned in the bytes of what its update overwrites (an update computed in
     * the prologue of its gradient's share of the norm, passes/plan.c). */
    for (int i = 0; l->in_place && i < g->num_outputs; i++) {
        const gc_graph_output *o = &g->outputs[i];
        int v = o->value->id;
        if (o->kind != GC_OUTPUT_UPDATE || !l->in_place[v] || f->root[v] == v || into[v] >= 0) continue;
        const gc_node *t = gc_graph_find_update_target(g, o->name);
        if (t && l->offsets[t->id] == l->offsets[v]) into[v] = t->id;
    }
}

char *gc_fusion_print(const gc_graph *g, const gc_fusion *f) { return gc_fusion_print_plan(g, f, NULL); }

char *gc_fusion_print_plan(const gc_graph *g, const gc_fusion *f, const gc_layout *l) {
    char *text = gc_graph_print(g);
    int *size = kernel_sizes(g, f);
    bool *stored = malloc(((size_t)g->num_nodes + 1) * sizeof *stored);
    int *into = malloc(((size_t)g->num_nodes + 1) * sizeof *into), *onto = malloc(((size_t)g->num_nodes + 1) * sizeof *onto);
    if (!text || !size || !stored || !into || !onto) {
        free(text);
        free(size);
        free(stored);
        free(into);
        free(onto);
        return NULL;
    }
    gc_fusion_stored_all(g, f->root, stored);
    bytes_shared(g, f, l, into, onto);
    gc_strbuf sb;
    gc_strbuf_init(&sb);
    gc_strbuf_printf(&sb,
                     "# fused: %d nodes, %d kernels, %d nodes computed inside another's kernel (kept in registers)\n"
                     "# each computed node ends with `# kernel R`: R is the kernel's root, which stores it and the\n"
                     "# members marked (stored)\n",
                     g->num_nodes, f->num_kernels, f->num_fused);
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        gc_strbuf_appendn(&sb, line, len);
        const char *p = line;
        while (*p == ' ') p++;
        int id = -1;
        if (*p == '%') id = (int)strtol(p + 1, NULL, 10);
        if (id >= 0 && id < g->num_nodes && f->root[id] >= 0) {
            int r = f->root[id];
            gc_strbuf_printf(&sb, "  # kernel %d%s", r,
                             size[r] > 1 ? (r == id ? " (root)" : stored[id] ? " (stored)" : "") : "");
            if ((r == id || stored[id]) && into[id] >= 0) gc_strbuf_printf(&sb, " (in the bytes of %%%d)", into[id]);
            if (onto[id] >= 0) gc_strbuf_printf(&sb, " (adds its product onto %%%d)", onto[id]);
        }
        gc_strbuf_append(&sb, "\n");
        line = end ? end + 1 : line + len;
    }
    free(text);
    free(size);
    free(stored);
    free(into);
    free(onto);
    return gc_strbuf_take(&sb);
}

char *gc_fusion_dot(const gc_graph *g, const gc_fusion *f) {
    int *size = kernel_sizes(g, f);
    if (!size) return NULL;
    gc_strbuf sb;
    gc_strbuf_init(&sb);
    gc_strbuf_printf(&sb, "digraph \"%s\" {\n  node [shape=box, fontsize=10];\n", g->name ? g->name : "graph");
    for (int r = 0; r < g->num_nodes; r++) {
        if (size[r] <= 1) continue;
        gc_strbuf_printf(&sb, "  subgraph cluster_k%d {\n    label=\"kernel %d\"; style=rounded;\n", r, r);
        for (int i = 0; i < g->num_nodes; i++)
            if (f->root[i] == r) gc_strbuf_printf(&sb, "    n%d;\n", i);
        gc_strbuf_append(&sb, "  }\n");
    }
    for (int i = 0; i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        const char *op = gc_op_table[n->op].name;
        if (n->name) gc_strbuf_printf(&sb, "  n%d [label=\"%%%d %s\\n%s\", shape=ellipse];\n", i, i, op, n->name);
        else gc_strbuf_printf(&sb, "  n%d [label=\"%%%d %s\"%s];\n", i, i, op, f->root[i] == i ? "" : ", style=dashed");
        for (int k = 0; k < n->num_inputs; k++) gc_strbuf_printf(&sb, "  n%d -> n%d;\n", n->inputs[k]->id, i);
    }
    gc_strbuf_append(&sb, "}\n");
    free(size);
    return gc_strbuf_take(&sb);
}
