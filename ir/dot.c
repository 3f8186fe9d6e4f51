/*
 * dot.c: a graph drawn for Graphviz, clustered by layer (dot.h).
 */
#include "ir/dot.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ir/strbuf.h"
#include "ir/text.h"

/* Paths compare component by component ('.' below every other character), so a sorted list puts
 * each layer right after its parent and before the parent's next sibling: "h" < "h.3" < "h.3.attn"
 * < "h.4" < "h_out". */
static int path_cmp(const void *a, const void *b) {
    const unsigned char *x = *(const unsigned char *const *)a, *y = *(const unsigned char *const *)b;
    for (;; x++, y++) {
        int cx = *x == '.' ? 1 : *x, cy = *y == '.' ? 1 : *y;
        if (cx != cy || !cx) return cx - cy;
    }
}

/* Whether `parent` is a proper ancestor of `path`. */
static bool ancestor(const char *parent, const char *path) {
    size_t n = strlen(parent);
    return !strncmp(parent, path, n) && path[n] == '.';
}

static int find_path(char **paths, int count, const char *path) {
    int lo = 0, hi = count - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = path_cmp(&path, &paths[mid]);
        if (!c) return mid;
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return -1;
}

static void quoted(gc_strbuf *sb, const char *s) {
    gc_strbuf_append(sb, "\"");
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') gc_strbuf_printf(sb, "\\%c", *s);
        else gc_strbuf_printf(sb, "%c", *s);
    }
    gc_strbuf_append(sb, "\"");
}

/* Collapsed, a node no layer made (a pass rewrote it, or the model computes it between layers)
 * joins the layer all its computed operands are in, else the one all its users are in; scalar
 * constants are left out of the picture (HIDDEN). What stays outside every layer is the model's
 * own code between them: residual adds, reshapes. */
enum { HIDDEN = -2 };

static bool attach_free_nodes(const gc_graph *g, int *layer_of) {
    int nn = g->num_nodes;
    int *user_layer = malloc(sizeof *user_layer * ((size_t)nn + 1));
    if (!user_layer) return false;
    for (int i = 0; i < nn; i++)
        if (g->nodes[i]->op == GC_OP_CONSTANT && g->nodes[i]->type.rank == 0) layer_of[i] = HIDDEN;
    for (int o = 0; o < g->num_outputs; o++) /* a constant the graph reports (lr) stays */
        if (layer_of[g->outputs[o].value->id] == HIDDEN) layer_of[g->outputs[o].value->id] = -1;
    for (int round = 0; round < 4; round++) {
        bool changed = false;
        for (int i = 0; i < nn; i++) { /* forward: from operands */
            const gc_node *n = g->nodes[i];
            if (layer_of[i] != -1 || !n->num_inputs) continue;
            int common = -1;
            bool one = true;
            for (int k = 0; k < n->num_inputs && one; k++) {
                int l = layer_of[n->inputs[k]->id];
                if (l == HIDDEN) continue;
                if (l < 0 || (common >= 0 && l != common)) one = false;
                else common = l;
            }
            if (one && common >= 0) layer_of[i] = common, changed = true;
        }
        for (int i = 0; i < nn; i++) user_layer[i] = -1; /* -1: no user yet, -3: users disagree */
        for (int i = 0; i < nn; i++) {
            const gc_node *n = g->nodes[i];
            for (int k = 0; k < n->num_inputs; k++) {
                int from = n->inputs[k]->id, l = layer_of[i] < 0 ? -3 : layer_of[i];
                user_layer[from] = user_layer[from] == -1 || user_layer[from] == l ? l : -3;
            }
        }
        for (int i = 0; i < nn; i++) { /* backward: from users */
            if (layer_of[i] == -1 && user_layer[i] >= 0 && !(gc_op_table[g->nodes[i]->op].flags & GC_FLAG_NAMED))
                layer_of[i] = user_layer[i], changed = true;
        }
        if (!changed) break;
    }
    free(user_layer);
    return true;
}

static int edge_cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void node_box(gc_strbuf *sb, const gc_node *n) {
    char type[96];
    gc_type_format(&n->type, type, sizeof type);
    const char *op = gc_op_table[n->op].name;
    gc_strbuf_printf(sb, "n%d [label=\"%%%d %s", n->id, n->id, op);
    if (n->name) {
        gc_strbuf_append(sb, " ");
        for (const char *p = n->name; *p; p++) gc_strbuf_printf(sb, *p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
    }
    gc_strbuf_printf(sb, "\\n%s\"%s];\n", type, n->name ? ", shape=ellipse" : "");
}

char *gc_graph_dot(const gc_graph *g, gc_dot_layers mode) {
    int nn = g->num_nodes;
    bool collapse = mode == GC_DOT_COLLAPSE || (mode == GC_DOT_AUTO && nn > GC_DOT_COLLAPSE_ABOVE);
    /* Every layer path and all its ancestors, sorted and unique. */
    int cap = 16, count = 0;
    char **paths = malloc(sizeof *paths * (size_t)cap);
    int *layer_of = malloc(sizeof *layer_of * ((size_t)nn + 1)), *members = calloc((size_t)nn + 1, sizeof *members);
    gc_strbuf sb;
    gc_strbuf_init(&sb);
    char *result = NULL;
    uint64_t *edges = NULL;
    if (!paths || !layer_of || !members) goto done;
    const char *last = NULL;
    for (int i = 0; i < nn; i++) {
        const char *layer = g->nodes[i]->layer;
        if (!layer || layer == last) continue;
        last = layer;
        for (const char *p = layer;; p++) {
            if (*p != '.' && *p) continue;
            if (count == cap) {
                char **grown = realloc(paths, sizeof *paths * (size_t)(cap *= 2));
                if (!grown) goto done;
                paths = grown;
            }
            if (!(paths[count] = malloc((size_t)(p - layer) + 1))) goto done;
            memcpy(paths[count], layer, (size_t)(p - layer));
            paths[count++][p - layer] = '\0';
            if (!*p) break;
        }
        /* Keep the list short while it grows: sort and drop repeats now and then. */
        if (count > 64 && count == cap) {
            qsort(paths, (size_t)count, sizeof *paths, path_cmp);
            int kept = 0;
            for (int k = 0; k < count; k++) {
                if (kept && !strcmp(paths[kept - 1], paths[k])) free(paths[k]);
                else paths[kept++] = paths[k];
            }
            count = kept;
        }
    }
    qsort(paths, (size_t)count, sizeof *paths, path_cmp);
    int kept = 0;
    for (int k = 0; k < count; k++) {
        if (kept && !strcmp(paths[kept - 1], paths[k])) free(paths[k]);
        else paths[kept++] = paths[k];
    }
    count = kept;
    for (int i = 0; i < nn; i++) {
        const char *layer = g->nodes[i]->layer;
        layer_of[i] = layer ? find_path(paths, count, layer) : -1;
    }
    if (collapse && !attach_free_nodes(g, layer_of)) goto done;
    for (int i = 0; i < nn; i++)
        if (layer_of[i] >= 0) members[layer_of[i]]++;

    gc_strbuf_append(&sb, "digraph ");
    quoted(&sb, g->name ? g->name : "graph");
    gc_strbuf_append(&sb, " {\n  rankdir=TB;\n  node [shape=box, fontsize=10];\n");
    /* Clusters, nested by path; a node outside every layer is drawn at the top level. */
    int *stack = malloc(sizeof *stack * ((size_t)count + 1)), depth = 0;
    if (!stack) goto done;
    for (int k = 0; k < count; k++) {
        while (depth && !ancestor(paths[stack[depth - 1]], paths[k])) {
            depth--;
            gc_strbuf_printf(&sb, "%*s}\n", 2 * depth + 2, "");
        }
        const char *leaf = strrchr(paths[k], '.');
        if (collapse && !(k + 1 < count && ancestor(paths[k], paths[k + 1]))) {
            /* A layer without sublayers, collapsed: its box alone, no cluster around it. */
            if (members[k])
                gc_strbuf_printf(&sb, "%*sL%d [label=\"%s\\n%d op%s\", style=filled, fillcolor=gray95];\n", 2 * depth + 2,
                                 "", k, leaf && depth ? leaf + 1 : paths[k], members[k], members[k] == 1 ? "" : "s");
            continue;
        }
        gc_strbuf_printf(&sb, "%*ssubgraph cluster_%d {\n%*slabel=", 2 * depth + 2, "", k, 2 * depth + 4, "");
        quoted(&sb, leaf && depth ? leaf + 1 : paths[k]);
        gc_strbuf_append(&sb, "; style=rounded; color=gray50;\n");
        stack[depth++] = k;
        if (collapse && members[k]) {
            /* The layer's own ops, beside its sublayers' boxes. */
            gc_strbuf_printf(&sb, "%*sL%d [label=\"%s\\n%d op%s\", style=filled, fillcolor=gray95, tooltip=",
                             2 * depth + 2, "", k, paths[k], members[k], members[k] == 1 ? "" : "s");
            quoted(&sb, paths[k]);
            gc_strbuf_append(&sb, "];\n");
        } else if (!collapse) {
            for (int i = 0; i < nn; i++) {
                if (layer_of[i] != k) continue;
                gc_strbuf_printf(&sb, "%*s", 2 * depth + 2, "");
                node_box(&sb, g->nodes[i]);
            }
        }
    }
    while (depth) {
        depth--;
        gc_strbuf_printf(&sb, "%*s}\n", 2 * depth + 2, "");
    }
    free(stack);
    for (int i = 0; i < nn; i++) {
        if (layer_of[i] >= 0 || layer_of[i] == HIDDEN) continue;
        gc_strbuf_append(&sb, "  ");
        node_box(&sb, g->nodes[i]);
    }
    /* Edges, between boxes when collapsed (each pair once, none inside a box). */
    int64_t num_edges = 0, cap_edges = 0;
    for (int i = 0; i < nn; i++) cap_edges += g->nodes[i]->num_inputs;
    cap_edges += g->num_outputs;
    edges = malloc(sizeof *edges * (size_t)(cap_edges + 1));
    if (!edges) goto done;
    /* An endpoint is 2*id for a node, 2*layer+1 for a collapsed layer. */
    for (int i = 0; i < nn; i++) {
        const gc_node *n = g->nodes[i];
        for (int k = 0; k < n->num_inputs; k++) {
            int from = n->inputs[k]->id, to = i;
            if (layer_of[from] == HIDDEN || layer_of[to] == HIDDEN) continue;
            uint64_t a = collapse && layer_of[from] >= 0 ? 2 * (uint64_t)layer_of[from] + 1 : 2 * (uint64_t)from;
            uint64_t b = collapse && layer_of[to] >= 0 ? 2 * (uint64_t)layer_of[to] + 1 : 2 * (uint64_t)to;
            if (a != b) edges[num_edges++] = a << 32 | b;
        }
    }
    qsort(edges, (size_t)num_edges, sizeof *edges, edge_cmp);
    for (int64_t e = 0; e < num_edges; e++) {
        if (e && edges[e] == edges[e - 1]) continue;
        uint64_t a = edges[e] >> 32, b = edges[e] & 0xffffffffu;
        gc_strbuf_printf(&sb, "  %c%llu -> %c%llu;\n", a & 1 ? 'L' : 'n', (unsigned long long)(a >> 1), b & 1 ? 'L' : 'n',
                         (unsigned long long)(b >> 1));
    }
    for (int o = 0; o < g->num_outputs; o++) {
        const gc_graph_output *out = &g->outputs[o];
        if (out->kind != GC_OUTPUT_VALUE) continue; /* updates and grads: one per param, too many arrows */
        int id = out->value->id;
        gc_strbuf_printf(&sb, "  out%d [label=", o);
        quoted(&sb, out->name);
        gc_strbuf_printf(&sb, ", shape=note];\n  %c%d -> out%d;\n", collapse && layer_of[id] >= 0 ? 'L' : 'n',
                         collapse && layer_of[id] >= 0 ? layer_of[id] : id, o);
    }
    gc_strbuf_append(&sb, "}\n");
    result = gc_strbuf_take(&sb);
done:
    if (paths)
        for (int k = 0; k < count; k++) free(paths[k]);
    free(paths);
    free(layer_of);
    free(members);
    free(edges);
    gc_strbuf_free(&sb);
    return result;
}
