/* validate.c: range and NaN checks of input data; see validate.h. */
#include "runtime/validate.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/diag.h"

/* The input a value is, through reshapes (which keep every element), or NULL. */
static const gc_node *source_input(const gc_node *n) {
    while (n && n->op == GC_OP_RESHAPE) n = n->inputs[0];
    return n && n->op == GC_OP_INPUT && n->type.dtype == GC_I32 ? n : NULL;
}

/* cross_entropy and nll_loss keep the rows whose target != ignore_index: a `ne` of the one_hot's
 * operand and a constant in the same graph. */
static bool find_ignore(const gc_graph *g, const gc_node *target, int64_t *ignore) {
    for (int i = 0; i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        if (n->op != GC_OP_NE || n->num_inputs != 2) continue;
        for (int k = 0; k < 2; k++) {
            const gc_node *c = n->inputs[1 - k];
            if (n->inputs[k] == target && c->op == GC_OP_CONSTANT) {
                *ignore = (int64_t)c->attr.scalar.value;
                return true;
            }
        }
    }
    return false;
}

/* The identifier at line:col of source (`nn.Embedding` -> Embedding), or fallback. */
static void call_name(const char *source, int line, int col, const char *fallback, char *out, size_t size) {
    snprintf(out, size, "%s", fallback);
    if (!source || line < 1 || col < 1) return;
    const char *p = source;
    for (int l = 1; l < line && p; l++) {
        p = strchr(p, '\n');
        if (p) p++;
    }
    if (!p) return;
    for (int c = 1; c < col && *p && *p != '\n'; c++) p++;
    const char *start = p, *word = p;
    while (isalnum((unsigned char)*p) || *p == '_' || *p == '.') {
        if (*p == '.') word = p + 1;
        p++;
    }
    if (p == start || p == word || !(isalpha((unsigned char)*word) || *word == '_')) return;
    size_t n = (size_t)(p - word);
    if (n >= size) n = size - 1;
    memcpy(out, word, n);
    out[n] = '\0';
}

int gc_index_rules_collect(const gc_graph *g, const char *source, gc_index_rule **rules, int *count, gc_error *err) {
    *rules = NULL;
    *count = 0;
    int cap = 0;
    for (int i = 0; i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        const gc_node *operand, *input;
        int64_t limit;
        if (n->op == GC_OP_TAKE && n->num_inputs == 2 && n->inputs[0]->type.rank >= 1) {
            operand = n->inputs[1];
            limit = n->inputs[0]->type.dims[0];
        } else if (n->op == GC_OP_ONE_HOT && n->num_inputs == 1) {
            operand = n->inputs[0];
            limit = n->attr.one_hot.depth;
        } else {
            continue;
        }
        if (!(input = source_input(operand)) || strlen(input->name) >= sizeof (*rules)->input) continue;
        if (*count == cap) {
            cap = cap ? cap * 2 : 4;
            gc_index_rule *grown = realloc(*rules, sizeof *grown * (size_t)cap);
            if (!grown) {
                free(*rules);
                *rules = NULL;
                *count = 0;
                return gc_failf(err, GC_ERR_MEMORY, "out of memory");
            }
            *rules = grown;
        }
        gc_index_rule *r = &(*rules)[(*count)++];
        memset(r, 0, sizeof *r);
        snprintf(r->input, sizeof r->input, "%s", input->name);
        r->limit = limit;
        r->is_take = n->op == GC_OP_TAKE;
        if (!r->is_take) r->has_ignore = find_ignore(g, operand, &r->ignore);
        snprintf(r->file, sizeof r->file, "%s", n->loc.file ? n->loc.file : "<model>");
        r->line = n->loc.line;
        r->col = n->loc.col;
        call_name(source, r->line, r->col, r->is_take ? "take" : "one_hot", r->call, sizeof r->call);
    }
    return 1;
}

static int fail_at(const char *input, const char *origin, int64_t example, gc_error *err, const char *what) {
    if (origin) return gc_failf(err, GC_ERR_USER, "%s: example %lld %s", origin, (long long)example, what);
    return gc_failf(err, GC_ERR_USER, "input '%s': example %lld of the batch %s", input, (long long)example, what);
}

int gc_validate_data(const gc_index_rule *rules, int count, const char *input, const char *origin, const void *data,
                     gc_dtype dtype, int64_t examples, int64_t numel, gc_error *err) {
    int64_t per = examples > 0 ? numel / examples : 1;
    if (per < 1) per = 1;
    char what[512];
    if (dtype == GC_F32 || dtype == GC_F64) {
        for (int64_t i = 0; i < numel; i++) {
            double v = dtype == GC_F32 ? ((const float *)data)[i] : ((const double *)data)[i];
            if (isnan(v)) {
                snprintf(what, sizeof what, "holds NaN (value %lld of the example)", (long long)(i % per));
                return fail_at(input, origin, i / per, err, what);
            }
        }
        return 1;
    }
    if (dtype != GC_I32) return 1;
    const int32_t *x = data;
    for (int r = 0; r < count; r++) {
        const gc_index_rule *rule = &rules[r];
        if (strcmp(rule->input, input)) continue;
        for (int64_t i = 0; i < numel; i++) {
            int64_t v = x[i];
            if ((v >= 0 && v < rule->limit) || (rule->has_ignore && v == rule->ignore)) continue;
            char range[96];
            if (rule->limit > 0) snprintf(range, sizeof range, "0..%lld", (long long)rule->limit - 1);
            else snprintf(range, sizeof range, "none");
            if (rule->has_ignore) {
                size_t n = strlen(range);
                snprintf(range + n, sizeof range - n, ", or ignore_index %lld", (long long)rule->ignore);
            }
            snprintf(what, sizeof what, "has %s %lld, but the model's %s at %s:%d:%d has %lld %s (%s)",
                     rule->is_take ? "id" : "class", (long long)v, rule->call, rule->file, rule->line, rule->col,
                     (long long)rule->limit, rule->is_take ? "rows" : "classes", range);
            return fail_at(input, origin, i / per, err, what);
        }
    }
    return 1;
}
