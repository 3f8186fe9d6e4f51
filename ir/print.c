/*
 * print.c: the textual IR printer (grammar in text.h and docs/ir.md).
 *
 * The printer is the half of the round trip that decides the canonical form: values renumbered
 * by node id, every attribute field written in attrs.def order, doubles in the shortest form that
 * reads back bit-exactly. The parser accepts more than this (comments, any %name, fields in any
 * order), but whatever it accepts prints back to this one form, so print -> parse -> print is
 * byte-identical and FileCheck tests can match stable text.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/strbuf.h"
#include "ir/text.h"

/* Writes s as a quoted string literal. Control bytes are escaped so one node stays on one line;
 * bytes >= 0x80 pass through so UTF-8 names stay readable. */
static void print_string(gc_strbuf *sb, const char *s) {
    gc_strbuf_append(sb, "\"");
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        switch (*p) {
        case '"': gc_strbuf_append(sb, "\\\""); break;
        case '\\': gc_strbuf_append(sb, "\\\\"); break;
        case '\n': gc_strbuf_append(sb, "\\n"); break;
        case '\t': gc_strbuf_append(sb, "\\t"); break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                gc_strbuf_printf(sb, "\\x%02x", *p);
            else
                gc_strbuf_appendn(sb, (const char *)p, 1);
        }
    }
    gc_strbuf_append(sb, "\"");
}

/* The shortest of %.15g, %.16g and %.17g that strtod reads back to the same bits (%.17g always
 * does), so 0.1 prints as 0.1 rather than 0.10000000000000001. */
static void print_double(gc_strbuf *sb, double v) {
    if (isnan(v)) {
        gc_strbuf_append(sb, "nan");
        return;
    }
    if (isinf(v)) {
        gc_strbuf_append(sb, v < 0 ? "-inf" : "inf");
        return;
    }
    char buf[64];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        double back = strtod(buf, NULL);
        if (memcmp(&back, &v, sizeof v) == 0) break;
    }
    gc_strbuf_append(sb, buf);
}

static void print_type(gc_strbuf *sb, const gc_type *t) {
    gc_strbuf_printf(sb, "%s[", gc_dtype_name(t->dtype));
    for (int i = 0; i < t->rank && i < GC_MAX_RANK; i++)
        gc_strbuf_printf(sb, i ? ", %lld" : "%lld", (long long)t->dims[i]);
    gc_strbuf_append(sb, "]");
}

static void print_field(gc_strbuf *sb, const gc_node *n, const gc_attr_field *f) {
    const char *base = (const char *)&n->attr + f->offset;
    switch (f->field_kind) {
    case GC_FIELD_INT: {
        int v;
        memcpy(&v, base, sizeof v);
        gc_strbuf_printf(sb, "%d", v);
        break;
    }
    case GC_FIELD_INT64: {
        int64_t v;
        memcpy(&v, base, sizeof v);
        gc_strbuf_printf(sb, "%lld", (long long)v);
        break;
    }
    case GC_FIELD_FLAG: /* written only when true (print_attrs) */
    case GC_FIELD_BOOL: {
        bool v;
        memcpy(&v, base, sizeof v);
        gc_strbuf_append(sb, v ? "true" : "false");
        break;
    }
    case GC_FIELD_DOUBLE: {
        double v;
        memcpy(&v, base, sizeof v);
        print_double(sb, v);
        break;
    }
    case GC_FIELD_AXES: {
        uint32_t mask;
        memcpy(&mask, base, sizeof mask);
        gc_strbuf_append(sb, "[");
        bool first = true;
        for (int i = 0; i < 32; i++) {
            if (!(mask & (1u << i))) continue;
            gc_strbuf_printf(sb, first ? "%d" : ", %d", i);
            first = false;
        }
        gc_strbuf_append(sb, "]");
        break;
    }
    case GC_FIELD_PERM: {
        /* One entry per dim of the operand: a perm is meaningless beyond the operand's rank. */
        gc_perm perm;
        memcpy(perm, base, sizeof perm);
        int rank = n->num_inputs > 0 && n->inputs[0] ? n->inputs[0]->type.rank : GC_MAX_RANK;
        if (rank < 0 || rank > GC_MAX_RANK) rank = GC_MAX_RANK;
        gc_strbuf_append(sb, "[");
        for (int i = 0; i < rank; i++) gc_strbuf_printf(sb, i ? ", %d" : "%d", perm[i]);
        gc_strbuf_append(sb, "]");
        break;
    }
    case GC_FIELD_SPATIAL: {
        /* One entry per spatial dim of an [N, C, *spatial] operand. */
        gc_spatial dims;
        memcpy(dims, base, sizeof dims);
        int rank = n->num_inputs > 0 && n->inputs[0] ? n->inputs[0]->type.rank - 2 : GC_MAX_SPATIAL;
        if (rank < 0 || rank > GC_MAX_SPATIAL) rank = GC_MAX_SPATIAL;
        gc_strbuf_append(sb, "[");
        for (int i = 0; i < rank; i++) gc_strbuf_printf(sb, i ? ", %lld" : "%lld", (long long)dims[i]);
        gc_strbuf_append(sb, "]");
        break;
    }
    }
}

static void print_attrs(gc_strbuf *sb, const gc_node *n, gc_attr_kind kind) {
    bool first = true;
    for (int i = 0; i < gc_attr_field_count; i++) {
        const gc_attr_field *f = &gc_attr_fields[i];
        if (f->kind != kind) continue;
        if (f->field_kind == GC_FIELD_FLAG && !*((const bool *)((const char *)&n->attr + f->offset))) continue;
        gc_strbuf_append(sb, first ? " {" : ", ");
        first = false;
        gc_strbuf_printf(sb, "%s=", f->name);
        print_field(sb, n, f);
    }
    if (!first) gc_strbuf_append(sb, "}");
}

static void print_node(gc_strbuf *sb, const gc_node *n) {
    const gc_op_info *info = gc_op_get(n->op);
    gc_strbuf_printf(sb, "  %%%d = %s", n->id, info ? info->name : "?");
    if (info && (info->flags & GC_FLAG_NAMED)) {
        gc_strbuf_append(sb, " ");
        print_string(sb, n->name);
    }
    if (n->num_inputs > 0) {
        gc_strbuf_append(sb, "(");
        for (int i = 0; i < n->num_inputs; i++) {
            if (i) gc_strbuf_append(sb, ", ");
            if (n->inputs && n->inputs[i])
                gc_strbuf_printf(sb, "%%%d", n->inputs[i]->id);
            else
                gc_strbuf_append(sb, "%?");
        }
        gc_strbuf_append(sb, ")");
    }
    if (info) print_attrs(sb, n, info->attr_kind);
    gc_strbuf_append(sb, " : ");
    print_type(sb, &n->type);
    if (n->recomputed) gc_strbuf_append(sb, " recompute");
    if (n->loc.line > 0) {
        /* Relative to the model file's directory: its name alone, not the path it was given by
         * (an absolute path repeated on every node buried the ops). */
        const char *file = n->loc.file ? n->loc.file : "", *slash = strrchr(file, '/');
        gc_strbuf_append(sb, " loc(");
        print_string(sb, slash ? slash + 1 : file);
        gc_strbuf_printf(sb, ":%d:%d)", n->loc.line, n->loc.col);
    }
    if (n->layer) {
        gc_strbuf_append(sb, " layer(");
        print_string(sb, n->layer);
        gc_strbuf_append(sb, ")");
    }
    gc_strbuf_append(sb, "\n");
}

/* Graph names from file names may hold characters an identifier cannot; those print quoted. */
static void print_graph_name(gc_strbuf *sb, const char *name) {
    bool bare = name && *name;
    for (const char *p = name; bare && *p; p++) {
        char c = *p;
        bare = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
               c == '.' || c == '-';
    }
    if (bare)
        gc_strbuf_append(sb, name);
    else
        print_string(sb, name);
}

char *gc_graph_print(const gc_graph *g) {
    gc_strbuf sb;
    gc_strbuf_init(&sb);
    gc_strbuf_append(&sb, "graph @");
    print_graph_name(&sb, g->name);
    if (g->updates_in_backward) gc_strbuf_append(&sb, " updates_in_backward");
    gc_strbuf_append(&sb, " {\n");
    for (int i = 0; i < g->num_nodes; i++)
        if (g->nodes[i]) print_node(&sb, g->nodes[i]);
    for (int i = 0; i < g->num_outputs; i++) {
        const gc_graph_output *o = &g->outputs[i];
        gc_strbuf_printf(&sb, "  %s ", gc_output_kind_name(o->kind));
        print_string(&sb, o->name);
        if (o->value)
            gc_strbuf_printf(&sb, " = %%%d\n", o->value->id);
        else
            gc_strbuf_append(&sb, " = %?\n");
    }
    gc_strbuf_append(&sb, "}\n");
    return gc_strbuf_take(&sb);
}
