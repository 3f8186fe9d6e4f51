/* profile.c: kernel timings of a JIT step; see profile.h. */
#include "runtime/profile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ir/diag.h"
#include "ir/strbuf.h"
#include "passes/recompute.h"
#include "runtime/clock.h"

struct gc_profile {
    int num_nodes;
    double *seconds; /* per kernel root */
    int64_t *calls;
    double last;       /* the time of the previous tick */
    int section;       /* 0 in gc_step, 1 in gc_update */
    double section_seconds[2];
    int64_t entries[2]; /* gc_step and gc_update calls */
};

gc_profile *gc_profile_new(int num_nodes, gc_error *err) {
    gc_profile *p = calloc(1, sizeof *p);
    size_t n = num_nodes > 0 ? (size_t)num_nodes : 1;
    if (p) {
        p->num_nodes = num_nodes;
        p->seconds = calloc(n, sizeof *p->seconds);
        p->calls = calloc(n, sizeof *p->calls);
    }
    if (!p || !p->seconds || !p->calls) {
        gc_profile_free(p);
        return gc_failf(err, GC_ERR_MEMORY, "out of memory"), NULL;
    }
    return p;
}

void gc_profile_free(gc_profile *p) {
    if (!p) return;
    free(p->seconds);
    free(p->calls);
    free(p);
}

void gc_profile_tick(gc_profile *p, int32_t at) {
    double t = gc_clock_seconds();
    if (at >= 0 && at < p->num_nodes) {
        double spent = t - p->last;
        p->seconds[at] += spent;
        p->calls[at]++;
        p->section_seconds[p->section] += spent;
    } else if (at == GC_PROFILE_STEP || at == GC_PROFILE_UPDATE) {
        p->section = at == GC_PROFILE_STEP ? 0 : 1;
        p->entries[p->section]++;
    }
    p->last = t;
}

void gc_profile_reset(gc_profile *p) {
    if (!p) return;
    memset(p->seconds, 0, sizeof *p->seconds * (size_t)(p->num_nodes > 0 ? p->num_nodes : 1));
    memset(p->calls, 0, sizeof *p->calls * (size_t)(p->num_nodes > 0 ? p->num_nodes : 1));
    p->section_seconds[0] = p->section_seconds[1] = 0;
    p->entries[0] = p->entries[1] = 0;
}

/* ---- the report ---- */

/* What kernel r computes: its members' ops in graph order, each named once ("matmul+add+gelu"). */
static void kernel_kind(const gc_graph *g, const int *root, int r, char *out, size_t size) {
    size_t len = 0;
    out[0] = '\0';
    const char *seen[32];
    int num_seen = 0;
    for (int i = 0; i <= r && i < g->num_nodes; i++) {
        if ((root ? root[i] : i) != r) continue;
        const char *name = gc_op_table[g->nodes[i]->op].name;
        bool dup = false;
        for (int k = 0; k < num_seen && !dup; k++) dup = !strcmp(seen[k], name);
        if (dup) continue;
        if (num_seen < 32) seen[num_seen++] = name;
        int n = snprintf(out + len, size - len, "%s%s", len ? "+" : "", name);
        if (n < 0 || (size_t)n >= size - len) break;
        len += (size_t)n;
    }
}

/* The FLOPs of kernel r's products (matmul, the convolutions: 2MNK), 0 when it has none: the
 * rate of a kernel is what its products did over its whole time, epilogue included. */
static int64_t product_flops(const gc_graph *g, const int *root, int r) {
    int64_t flops = 0;
    for (int i = 0; i <= r && i < g->num_nodes; i++) {
        if ((root ? root[i] : i) != r) continue;
        gc_op op = g->nodes[i]->op;
        if (op == GC_OP_MATMUL || op == GC_OP_CONV || op == GC_OP_CONV_INPUT_GRAD || op == GC_OP_CONV_WEIGHT_GRAD)
            flops += gc_node_flops(g->nodes[i]);
    }
    return flops;
}

typedef struct row {
    int id;
    double seconds;
    int64_t calls;
    int64_t flops; /* of its products, per call (by kind: per step) */
    char kind[160];
} row;

/* "  123.4" GFLOP/s, or blanks for a kernel without products. */
static void format_rate(char *out, size_t size, double flops, double seconds) {
    if (flops > 0 && seconds > 0) snprintf(out, size, "%8.1f", flops / seconds * 1e-9);
    else snprintf(out, size, "%8s", "");
}

static int by_time(const void *a, const void *b) {
    const row *x = a, *y = b;
    return x->seconds < y->seconds ? 1 : x->seconds > y->seconds ? -1 : x->id - y->id;
}

char *gc_profile_report(const gc_profile *p, const gc_graph *g, const int *root, int top) {
    gc_strbuf t;
    gc_strbuf_init(&t);
    int count = 0;
    row *rows = calloc((size_t)(g->num_nodes > 0 ? g->num_nodes : 1), sizeof *rows);
    if (!rows) return NULL;
    for (int i = 0; i < g->num_nodes && i < p->num_nodes; i++) {
        if (!p->calls[i]) continue;
        row *r = &rows[count++];
        r->id = i;
        r->seconds = p->seconds[i];
        r->calls = p->calls[i];
        r->flops = product_flops(g, root, i);
        kernel_kind(g, root, i, r->kind, sizeof r->kind);
    }
    int64_t steps = p->entries[0] > 0 ? p->entries[0] : 1;
    double total = p->section_seconds[0] + p->section_seconds[1];
    double per = 1e3 / (double)steps, share = total > 0 ? 100.0 / total : 0;
    gc_strbuf_printf(&t, "profile: %lld steps, %.3f ms a step in kernels (gc_step %.3f ms, gc_update %.3f ms), %d kernels\n",
        (long long)p->entries[0], total * per, p->section_seconds[0] * per, p->section_seconds[1] * per, count);
    gc_strbuf_printf(&t, "each kernel is charged from the end of the one before it to its own end (parts handed out and\n"
            "waited for included); %%N is the kernel's root in `gradc ir --stage fused`; GFLOP/s counts a kernel's\n"
            "products (matmul, convolutions: 2MNK) over its whole time, epilogue included\n");
    double product_total = 0, product_seconds = 0;
    for (int k = 0; k < count; k++)
        if (rows[k].flops) {
            product_total += (double)rows[k].flops * (double)rows[k].calls;
            product_seconds += rows[k].seconds;
        }
    if (product_total > 0 && product_seconds > 0)
        gc_strbuf_printf(&t, "products: %.2f GFLOP a step in %.3f ms of the kernels that hold them (%.1f%% of the step's kernel time), %.1f GFLOP/s\n",
            product_total / (double)steps * 1e-9, product_seconds * per, total > 0 ? product_seconds / total * 100 : 0,
            product_total / product_seconds * 1e-9);

    qsort(rows, (size_t)count, sizeof *rows, by_time);
    int shown = top > 0 && top < count ? top : count;
    gc_strbuf_printf(&t, "\nkernels by time (%d of %d):\n%10s %7s %7s %8s  %-8s %s\n", shown, count, "ms/step", "share", "calls",
        "GFLOP/s", "kernel", "ops, result, source");
    for (int k = 0; k < shown; k++) {
        const row *r = &rows[k];
        const gc_node *n = g->nodes[r->id];
        char type[96];
        gc_type_format(&n->type, type, sizeof type);
        char rate[32];
        format_rate(rate, sizeof rate, (double)r->flops * (double)r->calls, r->seconds);
        gc_strbuf_printf(&t, "%10.3f %6.1f%% %7.2f %s  %%%-7d %s %s", r->seconds * per, r->seconds * share,
            (double)r->calls / (double)steps, rate, r->id, r->kind, type);
        if (n->loc.file) gc_strbuf_printf(&t, "  %s:%d:%d", n->loc.file, n->loc.line, n->loc.col);
        gc_strbuf_printf(&t, "\n");
    }

    /* By kind: kernels computing the same ops summed (every layer's GEMM + bias + GELU together);
     * `id` counts the kernels. */
    row *kinds = calloc((size_t)(count > 0 ? count : 1), sizeof *kinds);
    int num_kinds = 0;
    for (int k = 0; kinds && k < count; k++) {
        int j = 0;
        while (j < num_kinds && strcmp(kinds[j].kind, rows[k].kind)) j++;
        if (j == num_kinds) memcpy(kinds[num_kinds++].kind, rows[k].kind, sizeof rows[k].kind);
        kinds[j].seconds += rows[k].seconds;
        kinds[j].flops += rows[k].flops * rows[k].calls;
        kinds[j].id++;
    }
    if (!kinds) t.failed = true; /* the report then comes out NULL, as on any failed append */
    else qsort(kinds, (size_t)num_kinds, sizeof *kinds, by_time);
    gc_strbuf_printf(&t, "\nby kind (%d):\n%10s %7s %7s %8s  %s\n", num_kinds, "ms/step", "share", "kernels", "GFLOP/s", "ops");
    for (int k = 0; k < num_kinds; k++) {
        char rate[32];
        format_rate(rate, sizeof rate, (double)kinds[k].flops, kinds[k].seconds);
        gc_strbuf_printf(&t, "%10.3f %6.1f%% %7d %s  %s\n", kinds[k].seconds * per, kinds[k].seconds * share, kinds[k].id, rate,
            kinds[k].kind);
    }
    free(kinds);
    free(rows);
    return gc_strbuf_take(&t);
}
