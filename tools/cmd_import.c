/*
 * cmd_import.c: `gradc import MODEL.onnx`, an ONNX file as gradc sees it (docs/onnx.md).
 *
 * --format ir (the default) prints the forward graph as textual IR (`gradc run` evaluates it,
 * `gradc opt` transforms it); with -o OUT the initializers' values go to OUT's name with the
 * extension .safetensors beside it (params and buffers under the exporter's names, so `gradc run
 * --input` binds them and torch's load_state_dict reads them). --format gm writes a readable model
 * file with one statement per node (frontend/onnx_gm.c) and, with -o, its params' starting values
 * beside it for --init.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/onnx_graph.h"
#include "ir/text.h"
#include "runtime/safetensors.h"
#include "tools/cli.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: gradc import MODEL.onnx [--format ir|gm] [--input NAME=f32[DIMS]]... [-o OUT]\n"
            "\n"
            "Reads an ONNX model (opsets 9 to 17) and prints its forward graph.\n"
            "\n"
            "options:\n"
            "  --format ir     gradc's textual IR (default); with -o, the initializers' values are written\n"
            "                  to OUT with the extension .safetensors, under the exporter's names\n"
            "  --format gm     a readable model file, one statement (layer, built-in or operator) per node;\n"
            "                  with -o, its params' starting values (the initializers) go to OUT with the\n"
            "                  extension .safetensors, for --init\n"
            "  --input N=T     the type of graph input N, e.g. input=f32[32, 3, 32, 32]: needed for\n"
            "                  symbolic dims (dynamic_axes)\n"
            "  -o OUT          write to OUT instead of standard output\n"
            "  --eval          the eval-mode graph (running statistics, no dropout); default: training mode\n"
            "  --help          show this help\n"
            "\n"
            "exit status: 0 success, 1 unreadable or unsupported model or bad arguments, 2 internal error\n");
}

/* "f32[2, 3]" -> a type; false when malformed. */
static bool parse_type(const char *s, gc_type *t) {
    gc_dtype dt;
    const char *br = strchr(s, '[');
    if (!br || !gc_dtype_from_name(s, (size_t)(br - s), &dt)) return false;
    int64_t dims[GC_MAX_RANK];
    int rank = 0;
    const char *p = br + 1;
    while (*p == ' ') p++;
    if (*p != ']')
        for (;;) {
            char *end;
            long long v = strtoll(p, &end, 10);
            if (end == p || v < 1 || rank == GC_MAX_RANK) return false;
            dims[rank++] = v;
            p = end;
            while (*p == ' ') p++;
            if (*p == ']') break;
            if (*p++ != ',') return false;
            while (*p == ' ') p++;
        }
    if (p[1]) return false;
    *t = gc_type_make(dt, rank, dims);
    return true;
}

static int write_text(const char *path, const char *text) {
    FILE *f = path ? fopen(path, "w") : stdout;
    if (!f) return gc_usage_error("cannot write %s", path);
    fputs(text, f);
    if (path && fclose(f)) return gc_usage_error("cannot write %s", path);
    return GC_EXIT_OK;
}

static int write_weights(const gc_layer_context *c, const char *out, gc_error *err) {
    char path[4096];
    const char *dot = strrchr(out, '.'), *slash = strrchr(out, '/');
    size_t stem = dot && (!slash || dot > slash) ? (size_t)(dot - out) : strlen(out);
    if (stem + 13 >= sizeof path) return gc_failf(err, GC_ERR_USER, "output name too long");
    snprintf(path, sizeof path, "%.*s.safetensors", (int)stem, out);
    gc_safetensors *st = gc_safetensors_new(err);
    if (!st) return 0;
    for (int i = 0; i < c->num_params; i++) {
        const gc_param_entry *p = &c->params[i];
        const gc_type *t = &p->node->type;
        int ok;
        if (p->data) ok = gc_safetensors_add(st, p->name, GC_ST_F32, t->rank, t->dims, p->data, err);
        else {
            int64_t zero = 0; /* num_batches_tracked: torch's I64 */
            ok = gc_safetensors_add(st, p->name, GC_ST_I64, t->rank, t->dims, &zero, err);
        }
        if (!ok) return gc_safetensors_free(st), 0;
    }
    int ok = gc_safetensors_save(st, path, err);
    gc_safetensors_free(st);
    return ok;
}

/* The .gm's params and buffers under its names, from the initializers (num_batches_tracked: I64 0). */
static int write_gm_weights(const gc_onnx_gm_result *gm, const char *out, gc_error *err) {
    char path[4096];
    const char *dot = strrchr(out, '.'), *slash = strrchr(out, '/');
    size_t stem = dot && (!slash || dot > slash) ? (size_t)(dot - out) : strlen(out);
    if (stem + 13 >= sizeof path) return gc_failf(err, GC_ERR_USER, "output name too long");
    snprintf(path, sizeof path, "%.*s.safetensors", (int)stem, out);
    gc_safetensors *st = gc_safetensors_new(err);
    if (!st) return 0;
    for (int i = 0; i < gm->num_params; i++) {
        const gc_onnx_gm_param *p = &gm->params[i];
        int ok;
        if (p->value) ok = gc_safetensors_add(st, p->name, GC_ST_F32, p->value->rank, p->value->dims, p->value->f, err);
        else {
            int64_t zero = 0;
            ok = gc_safetensors_add(st, p->name, GC_ST_I64, 0, NULL, &zero, err);
        }
        if (!ok) return gc_safetensors_free(st), 0;
    }
    int ok = gc_safetensors_save(st, path, err);
    gc_safetensors_free(st);
    return ok;
}

int gc_cmd_import(int argc, char **argv) {
    const char *model = NULL, *out = NULL, *format = "ir";
    bool training = true;
    struct { const char *name; gc_type type; } given[64];
    int num_given = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout), GC_EXIT_OK;
        if (!strcmp(a, "--eval")) training = false;
        else if ((!strcmp(a, "-o") || !strcmp(a, "--format") || !strcmp(a, "--input")) && i + 1 >= argc)
            return gc_usage_error("%s needs a value", a);
        else if (!strcmp(a, "-o")) out = argv[++i];
        else if (!strcmp(a, "--format")) format = argv[++i];
        else if (!strncmp(a, "--format=", 9)) format = a + 9;
        else if (!strcmp(a, "--input") || !strncmp(a, "--input=", 8)) {
            char *v = !strcmp(a, "--input") ? argv[++i] : (char *)a + 8;
            char *eq = strchr(v, '=');
            if (!eq || num_given == 64 || !parse_type(eq + 1, &given[num_given].type))
                return gc_usage_error("--input wants NAME=f32[DIMS], got '%s'", v);
            *eq = 0;
            given[num_given++].name = v;
        } else if (a[0] == '-') return gc_usage_error("unknown option '%s' (see gradc import --help)", a);
        else if (model) return gc_usage_error("one model file, please");
        else model = a;
    }
    if (!model) return usage(stderr), GC_EXIT_USER;
    if (strcmp(format, "ir") && strcmp(format, "gm")) return gc_usage_error("--format is ir or gm, not '%s'", format);
    gc_error err = {0};
    gc_onnx_model *m = gc_onnx_read_file(model, &err);
    if (!m) return gc_report_error(&err, NULL);
    int n = gc_onnx_num_inputs(m);
    gc_type *types = calloc((size_t)n + 1, sizeof *types);
    if (!types) return gc_onnx_model_free(m), gc_usage_error("out of memory");
    for (int k = 0; k < n; k++) {
        gc_onnx_input_info info;
        gc_onnx_input(m, k, &info);
        types[k].rank = -1;
        for (int j = 0; j < num_given; j++)
            if (!strcmp(given[j].name, info.name)) types[k] = given[j].type;
    }
    for (int j = 0; j < num_given; j++) {
        bool found = false;
        for (int k = 0; k < n; k++) {
            gc_onnx_input_info info;
            gc_onnx_input(m, k, &info);
            found = found || !strcmp(given[j].name, info.name);
        }
        if (!found) {
            free(types), gc_onnx_model_free(m);
            return gc_usage_error("--input %s: the model has no graph input of that name", given[j].name);
        }
    }
    gc_layer_context ctx;
    gc_onnx_gm_result gm = {0};
    gc_onnx_import_options o = {.gm = !strcmp(format, "gm") ? &gm : NULL};
    gc_graph *g = gc_onnx_to_graph(m, types, &o, training, &ctx, &err);
    int status = GC_EXIT_OK;
    if (!g) status = gc_report_error(&err, NULL);
    else if (o.gm) {
        status = write_text(out, gm.text);
        if (status == GC_EXIT_OK && out && !write_gm_weights(&gm, out, &err)) status = gc_report_error(&err, NULL);
    } else {
        char *text = gc_graph_print(g);
        status = text ? write_text(out, text) : gc_usage_error("out of memory");
        free(text);
        if (status == GC_EXIT_OK && out && !write_weights(&ctx, out, &err)) status = gc_report_error(&err, NULL);
    }
    gc_graph_free(g);
    gc_onnx_gm_result_free(&gm);
    free(types);
    gc_onnx_model_free(m);
    return status;
}
