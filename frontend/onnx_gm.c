/*
 * onnx_gm.c: an ONNX graph spelled as a readable model file (`gradc import --format gm`,
 * docs/onnx.md). It rides along the import (onnx_import.c calls it after every node), so it sees
 * what the import saw: which values are known at import (folded shape computations, written as
 * literals where a call needs them), the shapes of the others, and the attributes. Every node that
 * computes a tensor becomes one statement: a layer where the node is one (Conv -> conv2d, Gemm ->
 * linear, BatchNormalization -> batchnorm2d, LayerNormalization -> layernorm, torch's erf-GELU
 * chain -> gelu) named `as` the exporter's module path when its initializers are named
 * `<path>.weight`, `<path>.bias`, ..., else a built-in or an operator. Float initializers used
 * directly become params under their own names (a dotted name through a one-line def called `as`
 * its module path, so the checkpoint keeps the exporter's name). Statements nothing reaches are
 * left out; a node the language cannot spell (Erf outside GELU, a strided Slice...) is an error
 * naming it, but only when its value is needed.
 */
#include "frontend/onnx_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/strbuf.h"

typedef struct gm_var {
    const char *name;
    int stmt;         /* defining statement, -1 for graph inputs */
    const char *op;   /* the ONNX op that made it (pattern matching), NULL for inputs and params */
    int args[2];      /* operand vars (0 none) of that op */
    double scalar[2]; /* operand constants (NAN none) */
} gm_var;

typedef struct gm_stmt {
    const char *text; /* NULL: not spellable, see why */
    const char *why;
    const Onnx__NodeProto *node;
    int *deps;
    int ndeps;
    bool used;
} gm_stmt;

struct gc_onnx_gm_writer {
    gc_onnx_gm_result *out;
    gm_var *vars; /* 1-based: vars[0] unused */
    int nvars, cap_vars;
    gm_stmt *stmts;
    int nstmts, cap_stmts;
    const char *defs, *inputs; /* in the arena, so that an import that fails leaks nothing */
    const char **def_names;
    int ndefs, cap_defs;
    int deps[64];
    int ndeps;
    const char *why; /* set when the current node cannot be spelled */
};

static const char *const reserved[] = {"const", "input", "param", "def", "return", "for", "in", "range", "output",
                                       "train", "as", "true", "false", "none", "loss", "f32", "i32"};

static bool is_reserved(const char *s) {
    for (size_t k = 0; k < sizeof reserved / sizeof *reserved; k++)
        if (!strcmp(s, reserved[k])) return true;
    return false;
}

static bool ident_char(char c, bool first) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (!first && c >= '0' && c <= '9');
}

static bool valid_ident(const char *s, size_t n) {
    if (!n || n > 200) return false;
    for (size_t i = 0; i < n; i++)
        if (!ident_char(s[i], i == 0)) return false;
    return true;
}

/* A module path `as` accepts: segments that are names or whole numbers without a leading zero. */
static bool valid_path(const char *s) {
    if (!*s || strlen(s) > 200) return false;
    for (const char *p = s;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        bool digits = n > 0;
        for (size_t i = 0; i < n; i++) digits = digits && p[i] >= '0' && p[i] <= '9';
        if (!(digits ? n == 1 || p[0] != '0' : valid_ident(p, n))) return false;
        if (!dot) return true;
        p = dot + 1;
    }
}

/* *text += piece (both in the arena or NULL); 0 when out of memory. */
static int arena_cat(importer *I, const char **text, char *piece) {
    if (!piece) return 0;
    size_t a = *text ? strlen(*text) : 0, b = strlen(piece);
    char *s = gc_arena_alloc(I->arena, a + b + 1);
    if (s) {
        if (a) memcpy(s, *text, a);
        memcpy(s + a, piece, b + 1);
        *text = s;
    }
    free(piece);
    return s != NULL;
}

static int fail_oom(importer *I) { return gc_failf(I->b->err, GC_ERR_MEMORY, "out of memory while writing the model file"); }

static bool name_taken(const struct gc_onnx_gm_writer *w, const char *s) {
    for (int k = 1; k <= w->nvars; k++)
        if (!strcmp(w->vars[k].name, s)) return true;
    for (int k = 0; k < w->ndefs; k++)
        if (!strcmp(w->def_names[k], s)) return true;
    return is_reserved(s);
}

/* An identifier for an ONNX name, unique among the file's names. */
static const char *unique_ident(importer *I, const char *onnx) {
    struct gc_onnx_gm_writer *w = I->gm;
    char base[210];
    size_t n = 0;
    /* torch's names: "/layer1/0/conv1/Conv_output_0", "onnx::Conv_5", "input.1". */
    while (*onnx == '/') onnx++;
    if (!strncmp(onnx, "onnx::", 6) && onnx[6]) onnx += 6;
    if (!ident_char(onnx[0], true)) base[n++] = 'v';
    for (const char *p = onnx; *p && n < 200; p++) base[n++] = ident_char(*p, false) ? *p : '_';
    base[n] = 0;
    if (!n) base[n++] = 'v', base[n] = 0;
    char name[230];
    snprintf(name, sizeof name, "%s", base);
    for (int k = 1; name_taken(w, name); k++) snprintf(name, sizeof name, "%s_%d", base, k);
    return gc_arena_strdup(I->arena, name);
}

static int new_var(importer *I, const char *name, int stmt) {
    struct gc_onnx_gm_writer *w = I->gm;
    if (w->nvars + 1 >= w->cap_vars) {
        int cap = w->cap_vars ? w->cap_vars * 2 : 256;
        gm_var *v = gc_arena_alloc(I->arena, sizeof *v * (size_t)cap);
        if (!v) return fail_oom(I), 0;
        if (w->nvars) memcpy(v, w->vars, sizeof *v * (size_t)(w->nvars + 1));
        w->vars = v;
        w->cap_vars = cap;
    }
    gm_var *v = &w->vars[++w->nvars];
    memset(v, 0, sizeof *v);
    v->name = name;
    v->stmt = stmt;
    v->scalar[0] = v->scalar[1] = NAN;
    return w->nvars;
}

/* A statement from the current node (text NULL: w->why says why it has no spelling). */
static int new_stmt(importer *I, const char *text) {
    struct gc_onnx_gm_writer *w = I->gm;
    if (w->nstmts == w->cap_stmts) {
        int cap = w->cap_stmts ? w->cap_stmts * 2 : 256;
        gm_stmt *s = gc_arena_alloc(I->arena, sizeof *s * (size_t)cap);
        if (!s) return fail_oom(I), -1;
        if (w->nstmts) memcpy(s, w->stmts, sizeof *s * (size_t)w->nstmts);
        w->stmts = s;
        w->cap_stmts = cap;
    }
    gm_stmt *s = &w->stmts[w->nstmts];
    memset(s, 0, sizeof *s);
    s->text = text ? gc_arena_strdup(I->arena, text) : NULL;
    s->why = text ? NULL : w->why;
    s->node = I->node;
    s->deps = gc_arena_alloc(I->arena, sizeof *s->deps * (size_t)(w->ndeps + 1));
    if (!s->deps || (text && !s->text)) return fail_oom(I), -1;
    memcpy(s->deps, w->deps, sizeof *s->deps * (size_t)w->ndeps);
    s->ndeps = w->ndeps;
    return w->nstmts++;
}

static void use_var(importer *I, int v) {
    struct gc_onnx_gm_writer *w = I->gm;
    if (w->ndeps < (int)(sizeof w->deps / sizeof *w->deps)) w->deps[w->ndeps++] = v;
}

static void cannot(importer *I, const char *why) {
    if (!I->gm->why) I->gm->why = why;
}

static void number(gc_strbuf *sb, double v, bool integer) {
    if (integer) gc_strbuf_printf(sb, v < 0 ? "(%lld)" : "%lld", (long long)v);
    else if (isinf(v)) gc_strbuf_printf(sb, v < 0 ? "(-3.4028235e38)" : "3.4028235e38");
    else {
        char t[40];
        snprintf(t, sizeof t, "%.9g", v);
        if (!strchr(t, '.') && !strchr(t, 'e') && !strchr(t, 'n') && !strchr(t, 'i')) strcat(t, ".0");
        gc_strbuf_printf(sb, v < 0 ? "(%s)" : "%s", t);
    }
}

static void int_list(gc_strbuf *sb, const int64_t *v, int n) {
    gc_strbuf_append(sb, "[");
    for (int k = 0; k < n; k++) gc_strbuf_printf(sb, k ? ", %lld" : "%lld", (long long)v[k]);
    gc_strbuf_append(sb, "]");
}

/* The one value of a known tensor whose elements are all equal; false otherwise. */
static bool uniform_value(const gc_onnx_tensor *t, double *v) {
    if (!t || t->numel < 1) return false;
    *v = gc_onnx_get(t, 0);
    for (int64_t k = 1; k < t->numel; k++)
        if (gc_onnx_get(t, k) != *v) return false;
    return true;
}

/* A param for float initializer t, named as the exporter named it where the language can say so. */
static int param_var(importer *I, const gc_onnx_tensor *t) {
    struct gc_onnx_gm_writer *w = I->gm;
    gc_strbuf sb;
    gc_strbuf_init(&sb);
    const char *dot = strrchr(t->name, '.'), *gm_name;
    char prefix[256];
    size_t plen = dot ? (size_t)(dot - t->name) : 0;
    bool dotted = dot && plen < sizeof prefix && valid_ident(dot + 1, strlen(dot + 1)) && !is_reserved(dot + 1);
    if (dotted) {
        memcpy(prefix, t->name, plen);
        prefix[plen] = 0;
        dotted = valid_path(prefix);
    }
    int var, stmt;
    if (dotted) {
        /* `<leaf> = onnx_param_<leaf>_<rank>(dims) as <path>`: the def declares the param. */
        char def[260];
        snprintf(def, sizeof def, "onnx_param_%s_%d", dot + 1, t->rank);
        bool have = false;
        for (int k = 0; k < w->ndefs; k++) have = have || !strcmp(w->def_names[k], def);
        if (!have) {
            if (w->ndefs == w->cap_defs) {
                int cap = w->cap_defs ? w->cap_defs * 2 : 16;
                const char **d = gc_arena_alloc(I->arena, sizeof *d * (size_t)cap);
                if (!d) return fail_oom(I), 0;
                if (w->ndefs) memcpy(d, w->def_names, sizeof *d * (size_t)w->ndefs);
                w->def_names = d;
                w->cap_defs = cap;
            }
            w->def_names[w->ndefs++] = gc_arena_strdup(I->arena, def);
            gc_strbuf db;
            gc_strbuf_init(&db);
            gc_strbuf_printf(&db, "def %s(", def);
            for (int d = 0; d < t->rank; d++) gc_strbuf_printf(&db, d ? ", d%d" : "d%d", d);
            gc_strbuf_printf(&db, ") {\n    param %s: f32[", dot + 1);
            for (int d = 0; d < t->rank; d++) gc_strbuf_printf(&db, d ? ", d%d" : "d%d", d);
            gc_strbuf_printf(&db, "] = zeros()\n    return %s\n}\n", dot + 1);
            if (!arena_cat(I, &w->defs, gc_strbuf_take(&db))) return gc_strbuf_free(&sb), fail_oom(I), 0;
        }
        const char *name = unique_ident(I, t->name);
        gc_strbuf_printf(&sb, "%s = %s(", name, def);
        for (int d = 0; d < t->rank; d++) gc_strbuf_printf(&sb, d ? ", %lld" : "%lld", (long long)t->dims[d]);
        gc_strbuf_append(&sb, ")");
        gc_strbuf_printf(&sb, " as %s", prefix);
        gm_name = t->name;
        int saved = w->ndeps;
        w->ndeps = 0;
        char *text = gc_strbuf_take(&sb);
        int s = text ? new_stmt(I, text) : -1;
        free(text);
        w->ndeps = saved;
        if (s < 0 || !(var = new_var(I, name, s))) return 0;
        stmt = s;
    } else {
        const char *name = unique_ident(I, t->name);
        gc_strbuf_printf(&sb, "param %s: f32", name);
        int_list(&sb, t->dims, t->rank);
        gc_strbuf_append(&sb, " = zeros()");
        gm_name = name;
        int saved = w->ndeps;
        w->ndeps = 0;
        char *text = gc_strbuf_take(&sb);
        int s = text ? new_stmt(I, text) : -1;
        free(text);
        w->ndeps = saved;
        if (s < 0 || !(var = new_var(I, name, s))) return 0;
        stmt = s;
    }
    gc_onnx_gm_result *out = w->out;
    gc_onnx_gm_param *p = realloc(out->params, sizeof *p * (size_t)(out->num_params + 1));
    if (!p) return fail_oom(I), 0;
    out->params = p;
    p[out->num_params].name = gc_arena_strdup(I->arena, gm_name);
    p[out->num_params].value = t;
    p[out->num_params].stmt = stmt;
    p[out->num_params++].buffer = false;
    return var;
}

/* Input k of the current node as an expression: a var, a number for a known uniform value, a param
 * for an initializer. */
static void operand(importer *I, int k, gc_strbuf *sb) {
    oval *v = k < I->nin ? I->in[k] : NULL;
    double c;
    if (!v) return cannot(I, "an input is missing");
    if (v->gm) {
        use_var(I, v->gm);
        gc_strbuf_append(sb, I->gm->vars[v->gm].name);
    } else if (v->k && uniform_value(v->k, &c)) {
        number(sb, c, !gc_onnx_is_float(v->k->elem_type) && v->k->elem_type != GC_ONNX_BOOL);
    } else if (v->init && !v->node && uniform_value(v->init, &c)) {
        number(sb, c, false);
    } else if (v->init) {
        if (!(v->gm = param_var(I, v->init))) return cannot(I, "out of memory");
        use_var(I, v->gm);
        gc_strbuf_append(sb, I->gm->vars[v->gm].name);
    } else cannot(I, "a constant tensor whose elements differ (the model language has no tensor literals)");
}

static int var_of(importer *I, int k) { return k < I->nin && I->in[k] ? I->in[k]->gm : 0; }

static double scalar_of(importer *I, int k) {
    double c;
    return k < I->nin && I->in[k] && I->in[k]->k && uniform_value(I->in[k]->k, &c) ? c : NAN;
}

/* torch 1.13's GELU: Mul(Mul(x, Add(Erf(Div(x, sqrt 2)), 1)), 0.5), matched at the outer Mul. */
static int gelu_input(importer *I) {
    gm_var *vars = I->gm->vars;
    for (int k = 0; k < 2; k++) {
        if (scalar_of(I, 1 - k) != 0.5) continue;
        int m = var_of(I, k);
        if (!m || !vars[m].op || strcmp(vars[m].op, "Mul")) continue;
        for (int j = 0; j < 2; j++) {
            int x = vars[m].args[j], a = vars[m].args[1 - j];
            if (!x || !a || !vars[a].op || strcmp(vars[a].op, "Add")) continue;
            for (int i = 0; i < 2; i++) {
                int e = vars[a].args[i];
                if (vars[a].scalar[1 - i] != 1 || !e || !vars[e].op || strcmp(vars[e].op, "Erf")) continue;
                int d = vars[e].args[0];
                if (d && vars[d].op && !strcmp(vars[d].op, "Div") && vars[d].args[0] == x &&
                    fabs(vars[d].scalar[1] - sqrt(2.0)) < 1e-6)
                    return x;
            }
        }
    }
    return 0;
}

/* Expression of output 0 of the current node into sb; `as` paths and layer names use the
 * initializers' names. Returns 0 on errors that stop the import (out of memory). */
static bool layer_prefix(importer *I, const int *inputs, const char *const *leaves, int n, char *prefix, size_t cap) {
    const char *first = NULL;
    for (int k = 0; k < n; k++) {
        oval *v = inputs[k] < I->nin ? I->in[inputs[k]] : NULL;
        if (!v) continue;
        if (!v->init) return false;
        size_t len = strlen(v->init->name), leaf = strlen(leaves[k]);
        if (len <= leaf + 1 || strcmp(v->init->name + len - leaf, leaves[k]) || v->init->name[len - leaf - 1] != '.') {
            first = NULL;
            break;
        }
        if (!first) {
            first = v->init->name;
            snprintf(prefix, cap, "%.*s", (int)(len - leaf - 1), first);
        } else if (strncmp(prefix, v->init->name, strlen(prefix)) || v->init->name[strlen(prefix)] != '.') {
            first = NULL;
            break;
        }
    }
    if (first && valid_path(prefix)) return true;
    /* Names the language cannot say: the layer is named after the node's output. */
    const char *base = unique_ident(I, I->node->output[0]);
    snprintf(prefix, cap, "%s", base);
    return true;
}

static void record_layer_params(importer *I, const char *prefix, const int *inputs, const char *const *leaves, int n,
                                int buffers_from) {
    gc_onnx_gm_result *out = I->gm->out;
    for (int k = 0; k < n; k++) {
        oval *v = inputs[k] < I->nin ? I->in[inputs[k]] : NULL;
        if (!v || !v->init) continue;
        gc_onnx_gm_param *p = realloc(out->params, sizeof *p * (size_t)(out->num_params + 1));
        if (!p) return;
        out->params = p;
        char name[520];
        snprintf(name, sizeof name, "%s.%s", prefix, leaves[k]);
        p[out->num_params].name = gc_arena_strdup(I->arena, name);
        p[out->num_params].value = v->init;
        p[out->num_params].stmt = -2; /* the statement being made */
        p[out->num_params++].buffer = k >= buffers_from;
    }
    if (buffers_from < n) {
        /* num_batches_tracked, as torch's state_dict has it. */
        gc_onnx_gm_param *p = realloc(out->params, sizeof *p * (size_t)(out->num_params + 1));
        if (!p) return;
        out->params = p;
        char name[520];
        snprintf(name, sizeof name, "%s.num_batches_tracked", prefix);
        p[out->num_params].name = gc_arena_strdup(I->arena, name);
        p[out->num_params].value = NULL;
        p[out->num_params].stmt = -2;
        p[out->num_params++].buffer = true;
    }
}

static void spatial_list(gc_strbuf *sb, const int64_t *v, int n) { int_list(sb, v, n); }

static void expr_conv(importer *I, gc_strbuf *sb) {
    oval *wv = I->in[1];
    gc_node *x = I->in[0]->node;
    if (!wv || !wv->init || !x || (gc_onnx_has_input(I, 2) && !I->in[2]->init))
        return cannot(I, "a convolution whose weight is computed (the model language has conv layers only)");
    int rank = x->type.rank;
    if (rank != 3 && rank != 4) return cannot(I, "a 3-d convolution");
    const gc_onnx_tensor *wt = wv->init;
    static const char *const leaves[] = {"weight", "bias"};
    int inputs[] = {1, 2};
    char prefix[256];
    layer_prefix(I, inputs, leaves, gc_onnx_has_input(I, 2) ? 2 : 1, prefix, sizeof prefix);
    int sp = rank - 2, n;
    int64_t stride[3], dil[3], before[3], after[3];
    const int64_t *s = gc_onnx_attr_ints(I, "strides", &n), *d = gc_onnx_attr_ints(I, "dilations", &n);
    /* The pads the import used: the conv node's attributes. */
    gc_node *y = I->out[0].node;
    const gc_node *conv = y;
    while (conv && conv->op != GC_OP_CONV) conv = conv->num_inputs ? conv->inputs[0] : NULL;
    if (!conv) return cannot(I, "an unexpected lowering");
    bool symmetric = true;
    for (int i = 0; i < sp; i++) {
        stride[i] = s ? s[i] : 1;
        dil[i] = d ? d[i] : 1;
        before[i] = conv->attr.conv.pad_before[i];
        after[i] = conv->attr.conv.pad_after[i];
        symmetric = symmetric && before[i] == after[i];
    }
    int64_t groups = gc_onnx_attr_int(I, "group", 1);
    gc_strbuf_printf(sb, "conv%dd(", sp);
    if (!symmetric) {
        gc_strbuf_append(sb, "pad(");
        operand(I, 0, sb);
        int64_t pads[6];
        for (int i = 0; i < sp; i++) pads[2 * i] = before[sp - 1 - i], pads[2 * i + 1] = after[sp - 1 - i];
        gc_strbuf_append(sb, ", ");
        int_list(sb, pads, 2 * sp);
        gc_strbuf_append(sb, ")");
    } else operand(I, 0, sb);
    gc_strbuf_printf(sb, ", %lld, ", (long long)wt->dims[0]);
    spatial_list(sb, wt->dims + 2, sp);
    bool ones = true;
    for (int i = 0; i < sp; i++) ones = ones && stride[i] == 1;
    if (!ones) gc_strbuf_append(sb, ", stride="), spatial_list(sb, stride, sp);
    bool zero = true;
    for (int i = 0; i < sp; i++) zero = zero && (!symmetric || before[i] == 0);
    if (!zero) gc_strbuf_append(sb, ", padding="), spatial_list(sb, before, sp);
    ones = true;
    for (int i = 0; i < sp; i++) ones = ones && dil[i] == 1;
    if (!ones) gc_strbuf_append(sb, ", dilation="), spatial_list(sb, dil, sp);
    if (groups != 1) gc_strbuf_printf(sb, ", groups=%lld", (long long)groups);
    if (!gc_onnx_has_input(I, 2)) gc_strbuf_append(sb, ", bias=false");
    gc_strbuf_printf(sb, ") as %s", prefix);
    record_layer_params(I, prefix, inputs, leaves, gc_onnx_has_input(I, 2) ? 2 : 1, 2);
}

static void expr_batchnorm(importer *I, gc_strbuf *sb) {
    gc_node *x = I->in[0]->node;
    if (!x) return cannot(I, "a known input");
    for (int k = 1; k < 5; k++)
        if (!I->in[k] || !I->in[k]->init) return cannot(I, "batch norm statistics or affine values that are computed");
    static const char *const leaves[] = {"weight", "bias", "running_mean", "running_var"};
    int inputs[] = {1, 2, 3, 4};
    char prefix[256];
    layer_prefix(I, inputs, leaves, 4, prefix, sizeof prefix);
    double eps = gc_onnx_attr_float(I, "epsilon", 1e-5), momentum = gc_onnx_attr_float(I, "momentum", 0.9);
    gc_strbuf_printf(sb, "batchnorm%dd(", x->type.rank == 4 ? 2 : 1);
    operand(I, 0, sb);
    if (fabs(eps - 1e-5) > 1e-12) gc_strbuf_append(sb, ", eps="), number(sb, eps, false);
    if (fabs((1 - momentum) - 0.1) > 1e-7) gc_strbuf_append(sb, ", momentum="), number(sb, (float)(1 - momentum), false);
    gc_strbuf_printf(sb, ") as %s", prefix);
    record_layer_params(I, prefix, inputs, leaves, 4, 2);
}

static void expr_gemm(importer *I, gc_strbuf *sb) {
    bool layer = !gc_onnx_attr_int(I, "transA", 0) && gc_onnx_attr_int(I, "transB", 0) &&
                 gc_onnx_attr_float(I, "alpha", 1) == 1 && gc_onnx_attr_float(I, "beta", 1) == 1 && I->in[1]->init &&
                 I->in[1]->init->rank == 2 && (!gc_onnx_has_input(I, 2) || (I->in[2]->init && I->in[2]->init->rank == 1));
    if (layer) {
        static const char *const leaves[] = {"weight", "bias"};
        int inputs[] = {1, 2}, n = gc_onnx_has_input(I, 2) ? 2 : 1;
        char prefix[256];
        layer_prefix(I, inputs, leaves, n, prefix, sizeof prefix);
        gc_strbuf_append(sb, "linear(");
        operand(I, 0, sb);
        gc_strbuf_printf(sb, ", %lld%s) as %s", (long long)I->in[1]->init->dims[0], n == 2 ? "" : ", bias=false", prefix);
        record_layer_params(I, prefix, inputs, leaves, n, 2);
        return;
    }
    double alpha = gc_onnx_attr_float(I, "alpha", 1), beta = gc_onnx_attr_float(I, "beta", 1);
    gc_strbuf_append(sb, "matmul(");
    if (gc_onnx_attr_int(I, "transA", 0)) gc_strbuf_append(sb, "transpose("), operand(I, 0, sb), gc_strbuf_append(sb, ", [1, 0])");
    else operand(I, 0, sb);
    gc_strbuf_append(sb, ", ");
    if (gc_onnx_attr_int(I, "transB", 0)) gc_strbuf_append(sb, "transpose("), operand(I, 1, sb), gc_strbuf_append(sb, ", [1, 0])");
    else operand(I, 1, sb);
    gc_strbuf_append(sb, ")");
    if (alpha != 1) gc_strbuf_append(sb, " * "), number(sb, alpha, false);
    if (gc_onnx_has_input(I, 2) && beta != 0) {
        gc_strbuf_append(sb, " + ");
        operand(I, 2, sb);
        if (beta != 1) gc_strbuf_append(sb, " * "), number(sb, beta, false);
    }
}

static void expr_layernorm(importer *I, gc_strbuf *sb) {
    gc_node *x = I->in[0]->node;
    int axis;
    if (!x || !gc_onnx_axis(I, gc_onnx_attr_int(I, "axis", -1), x->type.rank, &axis)) return cannot(I, "a bad axis");
    double eps = gc_onnx_attr_float(I, "epsilon", 1e-5);
    static const char *const leaves[] = {"weight", "bias"};
    int inputs[] = {1, 2};
    if (axis == x->type.rank - 1 && gc_onnx_has_input(I, 2) && I->in[1]->init && I->in[2]->init) {
        char prefix[256];
        layer_prefix(I, inputs, leaves, 2, prefix, sizeof prefix);
        gc_strbuf_append(sb, "layernorm(");
        operand(I, 0, sb);
        if (fabs(eps - 1e-5) > 1e-12) gc_strbuf_append(sb, ", eps="), number(sb, eps, false);
        gc_strbuf_printf(sb, ") as %s", prefix);
        record_layer_params(I, prefix, inputs, leaves, 2, 2);
        return;
    }
    int64_t axes[GC_MAX_RANK];
    int n = 0;
    for (int d = axis; d < x->type.rank; d++) axes[n++] = d;
    gc_strbuf_append(sb, "(");
    operand(I, 0, sb);
    gc_strbuf_append(sb, " - mean(");
    operand(I, 0, sb);
    gc_strbuf_append(sb, ", axis=");
    int_list(sb, axes, n);
    gc_strbuf_append(sb, ", keepdims=true)) * rsqrt(var(");
    operand(I, 0, sb);
    gc_strbuf_append(sb, ", ");
    int_list(sb, axes, n);
    gc_strbuf_append(sb, ", keepdims=true) + ");
    number(sb, eps, false);
    gc_strbuf_append(sb, ") * ");
    operand(I, 1, sb);
    if (gc_onnx_has_input(I, 2)) gc_strbuf_append(sb, " + "), operand(I, 2, sb);
}

static void expr_pool(importer *I, gc_strbuf *sb) {
    bool avg = !strcmp(I->node->op_type, "AveragePool");
    gc_node *x = I->in[0]->node;
    if (!x || (x->type.rank != 3 && x->type.rank != 4)) return cannot(I, "a 3-d pool");
    int sp = x->type.rank - 2, n;
    const int64_t *k = gc_onnx_attr_ints(I, "kernel_shape", &n), *s = gc_onnx_attr_ints(I, "strides", &n);
    const int64_t *d = gc_onnx_attr_ints(I, "dilations", &n), *p = gc_onnx_attr_ints(I, "pads", &n);
    const char *auto_pad = gc_onnx_attr_str(I, "auto_pad", "NOTSET");
    if (strcmp(auto_pad, "NOTSET") && strcmp(auto_pad, "VALID")) return cannot(I, "auto_pad SAME in a pool");
    int64_t stride[3], dil[3], pad[3];
    bool symmetric = true, ones = true;
    for (int i = 0; i < sp; i++) {
        stride[i] = s ? s[i] : 1;
        dil[i] = d ? d[i] : 1;
        pad[i] = p && strcmp(auto_pad, "VALID") ? p[i] : 0;
        symmetric = symmetric && (!p || !strcmp(auto_pad, "VALID") || (p[i] == p[i + sp] && 2 * p[i] <= k[i]));
        ones = ones && dil[i] == 1;
    }
    if (!symmetric) return cannot(I, "a pool with pads that differ before and after");
    gc_strbuf_printf(sb, "%s_pool%dd(", avg ? "avg" : "max", sp);
    operand(I, 0, sb);
    gc_strbuf_append(sb, ", ");
    spatial_list(sb, k, sp);
    gc_strbuf_append(sb, ", stride=");
    spatial_list(sb, stride, sp);
    gc_strbuf_append(sb, ", padding=");
    spatial_list(sb, pad, sp);
    if (!ones) {
        if (avg) return cannot(I, "a dilated average pool");
        gc_strbuf_append(sb, ", dilation=");
        spatial_list(sb, dil, sp);
    }
    if (gc_onnx_attr_int(I, "ceil_mode", 0)) gc_strbuf_append(sb, ", ceil_mode=true");
    if (avg) gc_strbuf_printf(sb, ", count_include_pad=%s", gc_onnx_attr_int(I, "count_include_pad", 0) ? "true" : "false");
    gc_strbuf_append(sb, ")");
}

/* The type's dims as a list. */
static void dims_list(gc_strbuf *sb, const gc_node *n) { int_list(sb, n->type.dims, n->type.rank); }

static void expr_unary(importer *I, gc_strbuf *sb, const char *fn) {
    gc_strbuf_printf(sb, "%s(", fn);
    operand(I, 0, sb);
    gc_strbuf_append(sb, ")");
}

static void expr_binary(importer *I, gc_strbuf *sb, const char *op) {
    operand(I, 0, sb);
    gc_strbuf_printf(sb, " %s ", op);
    operand(I, 1, sb);
}

/* Spells output 0 of the current node; false when it is an alias of input 0 (Identity...). */
static bool expr(importer *I, gc_strbuf *sb) {
    const char *op = I->node->op_type;
    gc_node *y = I->out[0].node;
    if (!strcmp(op, "Conv")) expr_conv(I, sb);
    else if (!strcmp(op, "BatchNormalization")) expr_batchnorm(I, sb);
    else if (!strcmp(op, "Gemm")) expr_gemm(I, sb);
    else if (!strcmp(op, "LayerNormalization")) expr_layernorm(I, sb);
    else if (!strcmp(op, "MaxPool") || !strcmp(op, "AveragePool")) expr_pool(I, sb);
    else if (!strcmp(op, "GlobalAveragePool")) {
        gc_node *x = I->in[0]->node;
        int64_t axes[GC_MAX_RANK];
        for (int d = 2; x && d < x->type.rank; d++) axes[d - 2] = d;
        gc_strbuf_append(sb, "mean(");
        operand(I, 0, sb);
        gc_strbuf_append(sb, ", axis=");
        int_list(sb, axes, x ? x->type.rank - 2 : 0);
        gc_strbuf_append(sb, ", keepdims=true)");
    } else if (!strcmp(op, "MatMul")) {
        if (!I->in[0]->node || !I->in[1]->node || I->in[0]->node->type.rank < 2 || I->in[1]->node->type.rank < 2)
            cannot(I, "a product with a vector");
        expr_binary(I, sb, "@");
    } else if (!strcmp(op, "Add")) expr_binary(I, sb, "+");
    else if (!strcmp(op, "Sub")) expr_binary(I, sb, "-");
    else if (!strcmp(op, "Div")) {
        if (I->in[0]->node && I->in[0]->node->type.dtype == GC_I32) cannot(I, "integer division");
        expr_binary(I, sb, "/");
    } else if (!strcmp(op, "Equal")) expr_binary(I, sb, "==");
    else if (!strcmp(op, "Mul")) {
        int x = gelu_input(I);
        if (x) {
            use_var(I, x);
            gc_strbuf_printf(sb, "gelu(%s)", I->gm->vars[x].name);
        } else expr_binary(I, sb, "*");
    } else if (!strcmp(op, "Pow")) {
        double e = scalar_of(I, 1);
        if (!isnan(e) && (!I->in[1]->k || I->in[1]->k->rank <= y->type.rank)) {
            gc_strbuf_append(sb, "pow(");
            operand(I, 0, sb);
            gc_strbuf_append(sb, ", ");
            number(sb, e, false);
            gc_strbuf_append(sb, ")");
        } else {
            gc_strbuf_append(sb, "exp(");
            operand(I, 1, sb);
            gc_strbuf_append(sb, " * log(");
            operand(I, 0, sb);
            gc_strbuf_append(sb, "))");
        }
        if (y->type.dtype != GC_F32) cannot(I, "an integer power");
    } else if (!strcmp(op, "Neg")) {
        gc_strbuf_append(sb, "-");
        operand(I, 0, sb);
    } else if (!strcmp(op, "Sqrt") || !strcmp(op, "Exp") || !strcmp(op, "Log") || !strcmp(op, "Tanh") ||
               !strcmp(op, "Sigmoid") || !strcmp(op, "Relu")) {
        char fn[16];
        snprintf(fn, sizeof fn, "%s", op);
        for (char *c = fn; *c; c++) *c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
        expr_unary(I, sb, fn);
    } else if (!strcmp(op, "Erf")) {
        operand(I, 0, sb);
        cannot(I, "erf outside torch's GELU pattern (the model language has gelu, not erf)");
    } else if (!strcmp(op, "Softmax") || !strcmp(op, "LogSoftmax")) {
        int axis;
        gc_node *x = I->in[0]->node;
        if (!x || !gc_onnx_axis(I, gc_onnx_attr_int(I, "axis", I->opset < 13 ? 1 : -1), x->type.rank, &axis)) return true;
        if (I->opset < 13 && axis != x->type.rank - 1) cannot(I, "a softmax over flattened dims");
        gc_strbuf_printf(sb, "%s(", !strcmp(op, "Softmax") ? "softmax" : "log_softmax");
        operand(I, 0, sb);
        gc_strbuf_printf(sb, ", axis=%d)", axis);
    } else if (!strcmp(op, "ReduceMean") || !strcmp(op, "ReduceSum")) {
        gc_node *x = I->in[0]->node;
        if (!x || y == x) return false;
        /* The lowering's reduce node says which axes. */
        const gc_node *r = y;
        if (r->op != GC_OP_SUM && r->op != GC_OP_MEAN) return cannot(I, "an unexpected lowering"), true;
        int64_t axes[GC_MAX_RANK];
        int n = 0;
        for (int d = 0; d < x->type.rank; d++)
            if (r->attr.reduce.axes >> d & 1) axes[n++] = d;
        gc_strbuf_printf(sb, "%s(", r->op == GC_OP_SUM ? "sum" : "mean");
        operand(I, 0, sb);
        gc_strbuf_append(sb, ", axis=");
        int_list(sb, axes, n);
        gc_strbuf_printf(sb, ", keepdims=%s)", r->attr.reduce.keepdims ? "true" : "false");
    } else if (!strcmp(op, "Transpose")) {
        const gc_node *p = y;
        if (p->op != GC_OP_PERMUTE) return false;
        int64_t perm[GC_MAX_RANK];
        for (int d = 0; d < p->type.rank; d++) perm[d] = p->attr.permute.perm[d];
        gc_strbuf_append(sb, "transpose(");
        operand(I, 0, sb);
        gc_strbuf_append(sb, ", ");
        int_list(sb, perm, p->type.rank);
        gc_strbuf_append(sb, ")");
    } else if (!strcmp(op, "Reshape") || !strcmp(op, "Flatten") || !strcmp(op, "Squeeze") || !strcmp(op, "Unsqueeze")) {
        if (y == I->in[0]->node) return false;
        gc_strbuf_append(sb, "reshape(");
        operand(I, 0, sb);
        gc_strbuf_append(sb, ", ");
        dims_list(sb, y);
        gc_strbuf_append(sb, ")");
    } else if (!strcmp(op, "Expand")) {
        if (y == I->in[0]->node) return false;
        cannot(I, "Expand (the model language broadcasts only inside arithmetic)");
    } else if (!strcmp(op, "Concat")) {
        int axis;
        if (!gc_onnx_axis(I, gc_onnx_attr_int(I, "axis", 0), y->type.rank, &axis)) return true;
        gc_strbuf_append(sb, "concat([");
        int n = 0;
        for (int k = 0; k < I->nin; k++) {
            if (!I->in[k] || (I->in[k]->k && I->in[k]->k->numel == 0)) continue;
            if (n++) gc_strbuf_append(sb, ", ");
            operand(I, k, sb);
        }
        if (n == 1) return false;
        gc_strbuf_printf(sb, "], %d)", axis);
    } else if (!strcmp(op, "Where")) {
        gc_strbuf_append(sb, "where(");
        operand(I, 0, sb);
        gc_strbuf_append(sb, ", ");
        operand(I, 1, sb);
        gc_strbuf_append(sb, ", ");
        operand(I, 2, sb);
        gc_strbuf_append(sb, ")");
    } else if (!strcmp(op, "Max") || !strcmp(op, "Min")) {
        int n = 0;
        for (int k = 0; k < I->nin; k++) n += I->in[k] != NULL;
        if (n == 1) return false;
        for (int k = 1; k < n; k++) gc_strbuf_printf(sb, "%s(", !strcmp(op, "Max") ? "maximum" : "minimum");
        operand(I, 0, sb);
        for (int k = 1; k < I->nin; k++)
            if (I->in[k]) gc_strbuf_append(sb, ", "), operand(I, k, sb), gc_strbuf_append(sb, ")");
    } else if (!strcmp(op, "Clip")) {
        const gc_node *c = y;
        if (c->op != GC_OP_CLAMP) return false;
        double lo = c->attr.clamp.lo, hi = c->attr.clamp.hi;
        if (isinf(lo) && isinf(hi)) return false;
        if (isinf(lo) || isinf(hi)) {
            gc_strbuf_printf(sb, "%s(", isinf(lo) ? "minimum" : "maximum");
            operand(I, 0, sb);
            gc_strbuf_append(sb, ", ");
            number(sb, isinf(lo) ? hi : lo, false);
            gc_strbuf_append(sb, ")");
        } else {
            gc_strbuf_append(sb, "clamp(");
            operand(I, 0, sb);
            gc_strbuf_append(sb, ", ");
            number(sb, lo, false);
            gc_strbuf_append(sb, ", ");
            number(sb, hi, false);
            gc_strbuf_append(sb, ")");
        }
    } else if (!strcmp(op, "Cast")) {
        gc_node *x = I->in[0]->node;
        if (y == x) return false;
        if ((int)gc_onnx_attr_int(I, "to", 0) == GC_ONNX_BOOL) {
            operand(I, 0, sb);
            gc_strbuf_append(sb, " != 0");
        } else {
            gc_strbuf_append(sb, "cast(");
            operand(I, 0, sb);
            gc_strbuf_printf(sb, ", %s)", y->type.dtype == GC_F32 ? "f32" : "i32");
        }
    } else if (!strcmp(op, "Identity")) return false;
    else if (!strcmp(op, "Dropout")) {
        if (y == I->in[0]->node) return false;
        /* The lowering: x * (keep / (1 - p)) with keep = random >= p. */
        const gc_node *keep = I->out[1].node;
        double p = keep && keep->num_inputs == 2 && keep->inputs[1]->op == GC_OP_CONSTANT ? keep->inputs[1]->attr.scalar.value : NAN;
        if (isnan(p)) return cannot(I, "an unexpected lowering"), true;
        gc_strbuf_append(sb, "dropout(");
        operand(I, 0, sb);
        gc_strbuf_append(sb, ", ");
        number(sb, p, false);
        gc_strbuf_append(sb, ")");
    } else if (!strcmp(op, "Pad")) {
        gc_node *x = I->in[0]->node;
        if (!x || y == x) return false;
        /* Reconstructed from the type change would lose negative pads: read them again. */
        const int64_t *pads;
        int64_t n;
        int c;
        double value = 0;
        if (I->opset < 11) {
            pads = gc_onnx_attr_ints(I, "pads", &c);
            n = c;
            value = gc_onnx_attr_float(I, "value", 0);
        } else {
            pads = gc_onnx_static_ints(I, 1, "pads", &n);
            if (gc_onnx_has_input(I, 2)) value = scalar_of(I, 2);
        }
        if (!pads || isnan(value)) return cannot(I, "pads not known"), true;
        int rank = x->type.rank;
        int64_t torch_pads[2 * GC_MAX_RANK];
        int m = 0;
        for (int d = rank - 1; d >= 0; d--) torch_pads[m++] = pads[d], torch_pads[m++] = pads[d + rank];
        while (m > 2 && !torch_pads[m - 1] && !torch_pads[m - 2]) m -= 2;
        gc_strbuf_append(sb, "pad(");
        operand(I, 0, sb);
        gc_strbuf_append(sb, ", ");
        int_list(sb, torch_pads, m);
        if (value != 0) gc_strbuf_append(sb, ", value="), number(sb, value, false);
        gc_strbuf_append(sb, ")");
    } else if (!strcmp(op, "Gather")) {
        gc_node *x = I->in[0]->node;
        int axis;
        if (!x || !gc_onnx_axis(I, gc_onnx_attr_int(I, "axis", 0), x->type.rank, &axis)) return cannot(I, "a known table"), true;
        gc_onnx_tensor *idx = gc_onnx_known(I, 1);
        if (idx) {
            int64_t first = idx->numel ? idx->i[0] : 0, len = x->type.dims[axis];
            bool range = idx->rank <= 1;
            for (int64_t k = 0; k < idx->numel; k++) {
                int64_t v = idx->i[k] < 0 ? idx->i[k] + len : idx->i[k];
                if (!k) first = v;
                range = range && v == first + k;
            }
            if (!range) return cannot(I, "a Gather of scattered known indices"), true;
            gc_strbuf_append(sb, "reshape(slice(");
            operand(I, 0, sb);
            gc_strbuf_printf(sb, ", %d, %lld, %lld), ", axis, (long long)first, (long long)(first + idx->numel));
            dims_list(sb, y);
            gc_strbuf_append(sb, ")");
        } else {
            if (axis) return cannot(I, "a Gather along an axis other than 0 of computed indices"), true;
            gc_strbuf_append(sb, "take(");
            operand(I, 0, sb);
            gc_strbuf_append(sb, ", ");
            operand(I, 1, sb);
            gc_strbuf_printf(sb, " + cast(");
            operand(I, 1, sb);
            gc_strbuf_printf(sb, " < 0, i32) * %lld)", (long long)x->type.dims[0]);
        }
    } else cannot(I, "no spelling for this operator");
    return true;
}

/* Slice and Split: each output a chain of slices, read back from the lowering's slice nodes. */
static int slices(importer *I, int k, gc_strbuf *sb) {
    const gc_node *chain[GC_MAX_RANK * 2];
    int n = 0;
    const gc_node *y = I->out[k].node, *x = I->in[0]->node;
    while (y && y != x && n < (int)(sizeof chain / sizeof *chain)) {
        if (y->op != GC_OP_SLICE) return cannot(I, "a slice with steps other than 1"), 0;
        chain[n++] = y;
        y = y->inputs[0];
    }
    if (y != x) return cannot(I, "an unexpected lowering"), 0;
    if (!n) return 0;
    for (int j = 0; j < n; j++) gc_strbuf_append(sb, "slice(");
    operand(I, 0, sb);
    for (int j = n - 1; j >= 0; j--)
        gc_strbuf_printf(sb, ", %d, %lld, %lld)", chain[j]->attr.slice.axis, (long long)chain[j]->attr.slice.start,
                         (long long)chain[j]->attr.slice.end);
    return 1;
}

int gc_onnx_gm_input(importer *I, oval *v) {
    const char *name = unique_ident(I, v->name);
    if (!name || !(v->gm = new_var(I, name, -1))) return fail_oom(I);
    char t[96];
    gc_strbuf line;
    gc_strbuf_init(&line);
    gc_strbuf_printf(&line, "input %s: %s", name, gc_type_format(&v->node->type, t, sizeof t));
    if (strcmp(name, v->name)) gc_strbuf_printf(&line, "    # ONNX input '%s'", v->name);
    gc_strbuf_append(&line, "\n");
    if (!arena_cat(I, &I->gm->inputs, gc_strbuf_take(&line))) return fail_oom(I);
    return 1;
}

int gc_onnx_gm_node(importer *I) {
    struct gc_onnx_gm_writer *w = I->gm;
    for (int k = 0; k < I->nout; k++) {
        oval *o = &I->out[k];
        if (!o->node || o->k || o->gm || !I->node->output[k] || !*I->node->output[k]) continue;
        /* An output that is an input's node unchanged is that input's var. */
        bool alias = false;
        for (int j = 0; j < I->nin && !alias; j++)
            if (I->in[j] && I->in[j]->node == o->node && I->in[j]->gm) o->gm = I->in[j]->gm, alias = true;
        if (alias) continue;
        w->ndeps = 0;
        w->why = NULL;
        gc_strbuf sb;
        gc_strbuf_init(&sb);
        const char *op = I->node->op_type;
        bool spelled = true;
        if (!strcmp(op, "Slice") || !strcmp(op, "Split")) spelled = slices(I, k, &sb) || w->why;
        else if (k == 0) spelled = expr(I, &sb);
        else if (!strcmp(op, "Dropout")) cannot(I, "Dropout's mask output");
        else if (!strcmp(op, "MaxPool")) cannot(I, "MaxPool's Indices output");
        else cannot(I, "a training output of BatchNormalization or LayerNormalization");
        if (!spelled && !w->why) {
            gc_strbuf_free(&sb);
            for (int j = 0; j < I->nin; j++)
                if (I->in[j] && I->in[j]->node == o->node) o->gm = I->in[j]->gm;
            if (!o->gm && I->in[0]) o->gm = I->in[0]->gm;
            if (o->gm) continue;
            gc_strbuf_init(&sb);
            cannot(I, "an alias of a value the file does not compute");
        }
        const char *name = unique_ident(I, I->node->output[k]);
        char *body = gc_strbuf_take(&sb);
        if (!body && !w->why) return fail_oom(I);
        gc_strbuf line;
        gc_strbuf_init(&line);
        gc_strbuf_printf(&line, "%s = %s", name, body ? body : "");
        free(body);
        char *text = gc_strbuf_take(&line);
        if (!text) return fail_oom(I);
        int s = new_stmt(I, w->why ? NULL : text);
        free(text);
        if (s < 0 || !(o->gm = new_var(I, name, s))) return 0;
        for (int j = 0; j < w->out->num_params; j++)
            if (w->out->params[j].stmt == -2) w->out->params[j].stmt = s;
        gm_var *v = &w->vars[o->gm];
        v->op = k == 0 ? I->node->op_type : NULL;
        for (int j = 0; j < 2 && j < I->nin; j++) {
            v->args[j] = var_of(I, j);
            v->scalar[j] = scalar_of(I, j);
        }
    }
    return 1;
}

static void mark(struct gc_onnx_gm_writer *w, int var) {
    if (!var || w->vars[var].stmt < 0 || w->stmts[w->vars[var].stmt].used) return;
    gm_stmt *s = &w->stmts[w->vars[var].stmt];
    s->used = true;
    for (int k = 0; k < s->ndeps; k++) mark(w, s->deps[k]);
}

int gc_onnx_gm_finish(importer *I, const char *model_file) {
    struct gc_onnx_gm_writer *w = I->gm;
    for (size_t k = 0; k < I->g->n_output; k++) {
        oval *v = NULL;
        for (int j = 0; j < I->num_vals && !v; j++)
            if (!strcmp(I->vals[j].name, I->g->output[k]->name)) v = &I->vals[j];
        if (!v || !v->gm) {
            I->node = NULL;
            return gc_onnx_fail(I, "graph output '%s' is not computed by a node the model file can spell",
                                I->g->output[k]->name);
        }
        mark(w, v->gm);
    }
    for (int s = 0; s < w->nstmts; s++) {
        gm_stmt *st = &w->stmts[s];
        if (!st->used || st->text) continue;
        I->node = st->node;
        return gc_onnx_fail(I, "the model language cannot spell %s; use --format ir, or the onnx layer", st->why);
    }
    I->node = NULL;
    gc_strbuf sb;
    gc_strbuf_init(&sb);
    const char *base = strrchr(model_file, '/');
    base = base ? base + 1 : model_file;
    gc_strbuf_printf(&sb,
                     "# Imported from %s by gradc import --format gm: one statement per ONNX node that\n"
                     "# computes a tensor, params under the exporter's names. Start from the file's weights\n"
                     "# with --init (the .safetensors that -o writes beside this file); add a loss and a train\n"
                     "# block.\n",
                     base);
    if (w->defs) gc_strbuf_printf(&sb, "\n%s", w->defs);
    gc_strbuf_printf(&sb, "\n%s", w->inputs ? w->inputs : "");
    for (int s = 0; s < w->nstmts; s++)
        if (w->stmts[s].used) gc_strbuf_printf(&sb, "%s\n", w->stmts[s].text);
    for (size_t k = 0; k < I->g->n_output; k++) {
        oval *v = NULL;
        for (int j = 0; j < I->num_vals && !v; j++)
            if (!strcmp(I->vals[j].name, I->g->output[k]->name)) v = &I->vals[j];
        const char *name = w->vars[v->gm].name;
        bool fixed = !strcmp(name, "step") || !strcmp(name, "lr") || !strcmp(name, "grad_norm") || !strcmp(name, "ms");
        gc_strbuf_printf(&sb, "output %s%s = %s\n", name, fixed ? "_" : "", name);
    }
    w->out->text = gc_strbuf_take(&sb);
    if (!w->out->text) return fail_oom(I);
    /* Only the params of statements that are written, each name once (a layer called twice). */
    gc_onnx_gm_result *out = w->out;
    int n = 0;
    for (int k = 0; k < out->num_params; k++) {
        gc_onnx_gm_param p = out->params[k];
        bool dup = false;
        for (int j = 0; j < n && !dup; j++) dup = !strcmp(out->params[j].name, p.name);
        if (p.stmt >= 0 && w->stmts[p.stmt].used && !dup) out->params[n++] = p;
    }
    out->num_params = n;
    return 1;
}

int gc_onnx_gm_begin(importer *I, gc_onnx_gm_result *out) {
    struct gc_onnx_gm_writer *w = gc_arena_alloc(I->arena, sizeof *w);
    if (!w) return fail_oom(I);
    memset(w, 0, sizeof *w);
    memset(out, 0, sizeof *out);
    w->out = out;
    I->gm = w;
    return 1;
}

void gc_onnx_gm_result_free(gc_onnx_gm_result *r) {
    if (!r) return;
    free(r->text);
    free(r->params);
    memset(r, 0, sizeof *r);
}
