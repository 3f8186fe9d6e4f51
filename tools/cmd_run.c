/*
 * cmd_run.c: `gradc run`, evaluating a textual-IR graph on .npy inputs with the reference
 * interpreter.
 *
 * It is the shortest path from a hand-written graph to numbers, which makes it the way to check
 * the interpreter (and the IR a pass produced) against NumPy from a shell script. Sources are
 * bound by name with --input NAME=FILE.npy; every source must be bound, since a graph here has no
 * initialisers. Outputs are printed and optionally saved as .npy files.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ir/text.h"
#include "runtime/interp.h"
#include "runtime/npy.h"
#include "tools/cli.h"

/* How many values of each output are printed before "...". */
enum { PRINT_LIMIT = 10 };

static void usage(FILE *out) {
    fprintf(out,
            "usage: gradc run FILE.ir [--input NAME=FILE.npy]... [--output-dir DIR] [--precision f32|f64]\n"
            "\n"
            "Parses and verifies the graph in FILE.ir, binds every input, param and state to a .npy\n"
            "file, evaluates the graph with the reference interpreter and prints each output as\n"
            "  name: f32[2, 3] = [v0, v1, ...]    (at most %d values; a rank-0 value prints bare)\n"
            "Update and grad outputs print as 'update NAME: ...' and 'grad NAME: ...'.\n"
            "\n"
            "options:\n"
            "  --input NAME=FILE    bind the input, param, state or buffer NAME to FILE (a .npy array of its\n"
            "                       shape: f32/f64 for float sources, i32/i64 for i32 ones)\n"
            "  --output-dir DIR     also write NAME.npy for each output (update.NAME.npy and\n"
            "                       grad.NAME.npy for the others); DIR is created if missing\n"
            "  --precision P        f32 (default): every f32 result rounded to float, as compiled code\n"
            "                       computes; f64: all in double (f32 outputs are then saved as f64)\n"
            "  --help               show this help\n"
            "\n"
            "exit status: 0 success, 1 bad IR, bad data or bad arguments, 2 internal error\n",
            PRINT_LIMIT);
}

typedef struct binding {
    char *name; /* malloc'd */
    const char *path;
} binding;

typedef struct run_options {
    const char *input;
    const char *output_dir;
    gc_interp_precision precision;
    binding *bindings;
    int num_bindings;
} run_options;

/* The value of `--name=VALUE` or `--name VALUE` (advancing *i), or NULL when argv[*i] is not it. */
static const char *option_value(int argc, char **argv, int *i, const char *name, bool *missing) {
    size_t n = strlen(name);
    const char *arg = argv[*i];
    if (strncmp(arg, name, n) != 0) return NULL;
    if (arg[n] == '=') return arg + n + 1;
    if (arg[n] != '\0') return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

/* Returns -1 to go on, or the exit status to stop with. */
static int parse_args(int argc, char **argv, run_options *o) {
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *v;
        bool missing = false;
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            usage(stdout);
            return GC_EXIT_OK;
        } else if ((v = option_value(argc, argv, &i, "--input", &missing))) {
            const char *eq = strchr(v, '=');
            if (!eq || eq == v || !eq[1]) return gc_usage_error("run: --input expects NAME=FILE.npy, not '%s'", v);
            for (int k = 0; k < o->num_bindings; k++)
                if (strlen(o->bindings[k].name) == (size_t)(eq - v) && !strncmp(o->bindings[k].name, v, eq - v))
                    return gc_usage_error("run: --input %.*s is given twice", (int)(eq - v), v);
            binding *b = &o->bindings[o->num_bindings];
            b->name = malloc((size_t)(eq - v) + 1);
            if (!b->name) return gc_usage_error("run: out of memory"), GC_EXIT_INTERNAL;
            memcpy(b->name, v, (size_t)(eq - v));
            b->name[eq - v] = '\0';
            b->path = eq + 1;
            o->num_bindings++;
        } else if ((v = option_value(argc, argv, &i, "--output-dir", &missing))) {
            if (!*v) return gc_usage_error("run: --output-dir needs a directory");
            o->output_dir = v;
        } else if ((v = option_value(argc, argv, &i, "--precision", &missing))) {
            if (!strcmp(v, "f32"))
                o->precision = GC_INTERP_F32;
            else if (!strcmp(v, "f64"))
                o->precision = GC_INTERP_F64;
            else
                return gc_usage_error("run: --precision must be f32 or f64, not '%s'", v);
        } else if (missing) {
            return gc_usage_error("run: %s needs a value", arg);
        } else if (arg[0] == '-' && arg[1] != '\0') {
            return gc_usage_error("run: unknown option '%s' (see gradc run --help)", arg);
        } else if (o->input) {
            return gc_usage_error("run: more than one IR file ('%s' and '%s')", o->input, arg);
        } else {
            o->input = arg;
        }
    }
    if (!o->input) return gc_usage_error("run: no IR file (see gradc run --help)");
    return -1;
}

static bool is_source(const gc_node *n) { return (gc_op_table[n->op].flags & GC_FLAG_NAMED) != 0; }

/* "input x f32[4, 8], param w f32[16, 8]" for the error that names an unknown source. */
static void list_sources(const gc_graph *g, char *buf, size_t size) {
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < g->num_nodes; i++) {
        const gc_node *node = g->nodes[i];
        if (!is_source(node)) continue;
        char type[96];
        gc_type_format(&node->type, type, sizeof type);
        int w = snprintf(buf + n, size - n, "%s%s %s %s", n ? ", " : "", gc_op_table[node->op].name, node->name, type);
        if (w < 0 || (size_t)w >= size - n) {
            /* Cut at the last whole entry and say the list goes on. */
            buf[n] = '\0';
            if (n + 5 < size) strcat(buf, ", ...");
            return;
        }
        n += (size_t)w;
    }
    if (!n) snprintf(buf, size, "none");
}

static const gc_node *find_source(const gc_graph *g, const char *name) {
    for (int i = 0; i < g->num_nodes; i++)
        if (is_source(g->nodes[i]) && !strcmp(g->nodes[i]->name, name)) return g->nodes[i];
    return NULL;
}

/* Reads one --input file into the interpreter after checking it fits its source. */
static int bind_input(const gc_graph *g, gc_interp *it, const binding *b, gc_interp_precision precision,
                      gc_error *err) {
    const gc_node *node = find_source(g, b->name);
    if (!node) {
        char sources[400];
        list_sources(g, sources, sizeof sources);
        return gc_failf(err, GC_ERR_USER, "--input %s: the graph has no input, param, state or buffer of that name (it has: %s)",
                        b->name, sources);
    }
    char type[96];
    gc_type_format(&node->type, type, sizeof type);
    const char *kind = gc_op_table[node->op].name;

    gc_npy_info info;
    if (!gc_npy_read_info(b->path, &info, err)) {
        gc_error_prefix(err, "--input %s: ", b->name);
        return 0;
    }
    bool same = info.rank == node->type.rank;
    for (int d = 0; same && d < info.rank; d++) same = info.shape[d] == node->type.dims[d];
    if (!same) {
        char shape[128];
        gc_type file_type = gc_type_make(info.dtype, info.rank, info.shape);
        gc_type_format(&file_type, shape, sizeof shape);
        return gc_failf(err, GC_ERR_USER, "--input %s: %s holds an array of shape %s (%s) but %s '%s' is %s",
                        b->name, b->path, strchr(shape, '['), info.descr, kind, b->name, type);
    }
    /* Float data is read as f64 when the run keeps doubles, so f64 files lose nothing. */
    gc_dtype want = node->type.dtype;
    if (want == GC_F32 && precision == GC_INTERP_F64) want = GC_F64;
    gc_tensor t;
    if (!gc_npy_read(b->path, want, &t, err)) {
        gc_error_prefix(err, "--input %s (%s '%s' is %s): ", b->name, kind, b->name, type);
        return 0;
    }
    int ok = gc_interp_set(it, b->name, &t, err);
    free(t.data);
    return ok;
}

/* The shortest decimal that reads back as the same float (or double, when exact). */
static void format_value(double v, gc_dtype dtype, bool as_double, char *buf, size_t size) {
    if (dtype == GC_I32) {
        snprintf(buf, size, "%lld", (long long)v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        double back = strtod(buf, NULL);
        if (as_double ? back == v : (float)back == (float)v) return;
    }
}

static void print_output(const gc_graph_output *out, const double *values, bool as_double) {
    const gc_type *type = &out->value->type;
    char tbuf[96], vbuf[40];
    gc_type_format(type, tbuf, sizeof tbuf);
    if (out->kind != GC_OUTPUT_VALUE) printf("%s ", gc_output_kind_name(out->kind));
    printf("%s: %s = ", out->name, tbuf);
    if (type->rank == 0) {
        format_value(values[0], type->dtype, as_double, vbuf, sizeof vbuf);
        printf("%s\n", vbuf);
        return;
    }
    int64_t numel = gc_type_numel(type);
    printf("[");
    for (int64_t i = 0; i < numel && i < PRINT_LIMIT; i++) {
        format_value(values[i], type->dtype, as_double, vbuf, sizeof vbuf);
        printf("%s%s", i ? ", " : "", vbuf);
    }
    printf("%s]\n", numel > PRINT_LIMIT ? ", ..." : "");
}

static int save_output(const char *dir, const gc_graph_output *out, const double *values, bool as_double,
                       gc_error *err) {
    if (strchr(out->name, '/'))
        return gc_failf(err, GC_ERR_USER, "output '%s' cannot be saved: its name is not a file name", out->name);
    const gc_type *type = &out->value->type;
    size_t len = strlen(dir) + strlen(out->name) + 32;
    char *path = malloc(len);
    if (!path) return gc_failf(err, GC_ERR_MEMORY, "out of memory");
    if (out->kind == GC_OUTPUT_VALUE)
        snprintf(path, len, "%s/%s.npy", dir, out->name);
    else
        snprintf(path, len, "%s/%s.%s.npy", dir, gc_output_kind_name(out->kind), out->name);

    gc_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = type->dtype == GC_F32 && as_double ? GC_F64 : type->dtype;
    t.rank = type->rank;
    for (int d = 0; d < type->rank; d++) t.shape[d] = type->dims[d];
    int64_t numel = gc_type_numel(type);
    t.data = malloc((size_t)numel * gc_dtype_size(t.dtype));
    if (!t.data) {
        free(path);
        return gc_failf(err, GC_ERR_MEMORY, "out of memory saving output '%s'", out->name);
    }
    for (int64_t i = 0; i < numel; i++) {
        if (t.dtype == GC_F32)
            ((float *)t.data)[i] = (float)values[i];
        else if (t.dtype == GC_F64)
            ((double *)t.data)[i] = values[i];
        else
            ((int32_t *)t.data)[i] = (int32_t)values[i];
    }
    int ok = gc_npy_write(path, &t, err);
    free(t.data);
    free(path);
    return ok;
}

static int make_dir(const char *dir, gc_error *err) {
    if (mkdir(dir, 0777) == 0 || errno == EEXIST) {
        struct stat st;
        if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) return 1;
        return gc_failf(err, GC_ERR_IO, "--output-dir %s: not a directory", dir);
    }
    return gc_failf(err, GC_ERR_IO, "--output-dir %s: cannot create it: %s", dir, strerror(errno));
}

/* Every source needs a value; naming all the missing ones at once saves a round trip per name. */
static int check_all_bound(const gc_graph *g, const run_options *o, gc_error *err) {
    char missing[400];
    size_t n = 0;
    int count = 0;
    missing[0] = '\0';
    for (int i = 0; i < g->num_nodes; i++) {
        const gc_node *node = g->nodes[i];
        if (!is_source(node)) continue;
        bool bound = false;
        for (int k = 0; k < o->num_bindings && !bound; k++) bound = !strcmp(o->bindings[k].name, node->name);
        if (bound) continue;
        char type[96];
        gc_type_format(&node->type, type, sizeof type);
        if (n < sizeof missing)
            n += (size_t)snprintf(missing + n, sizeof missing - n, "%s%s %s %s", count ? ", " : "",
                                  gc_op_table[node->op].name, node->name, type);
        count++;
    }
    if (!count) return 1;
    return gc_failf(err, GC_ERR_USER, "no value for %s (give each one --input NAME=FILE.npy)", missing);
}

static int run_graph(const gc_graph *g, const run_options *o, gc_error *err) {
    gc_interp *it = gc_interp_new(g, o->precision, err);
    if (!it) return 0;
    int ok = 1;
    for (int k = 0; ok && k < o->num_bindings; k++) ok = bind_input(g, it, &o->bindings[k], o->precision, err);
    ok = ok && check_all_bound(g, o, err) && gc_interp_run(it, err);
    if (ok && o->output_dir) ok = make_dir(o->output_dir, err);
    bool as_double = o->precision == GC_INTERP_F64;
    for (int i = 0; ok && i < g->num_outputs; i++) {
        const gc_graph_output *out = &g->outputs[i];
        const double *values = gc_interp_output(it, out->kind, out->name);
        if (!values) {
            ok = gc_failf(err, GC_ERR_INTERNAL, "internal error: no value for output '%s'", out->name);
            break;
        }
        print_output(out, values, as_double);
        if (o->output_dir) ok = save_output(o->output_dir, out, values, as_double, err);
    }
    gc_interp_free(it);
    if (ok && fflush(stdout) != 0) ok = gc_failf(err, GC_ERR_IO, "cannot write standard output");
    return ok;
}

static void free_bindings(run_options *o) {
    for (int k = 0; k < o->num_bindings; k++) free(o->bindings[k].name);
    free(o->bindings);
}

int gc_cmd_run(int argc, char **argv) {
    run_options o;
    memset(&o, 0, sizeof o);
    o.precision = GC_INTERP_F32;
    /* At most one binding per argument, so this bound is never exceeded. */
    o.bindings = calloc((size_t)argc + 1, sizeof *o.bindings);
    if (!o.bindings) return gc_usage_error("run: out of memory"), GC_EXIT_INTERNAL;
    int status = parse_args(argc, argv, &o);
    if (status >= 0) {
        free_bindings(&o);
        return status;
    }

    gc_error err;
    gc_error_clear(&err);
    size_t len = 0;
    char *source = gc_read_file(o.input, &len, &err);
    if (!source) {
        free_bindings(&o);
        return gc_report_error(&err, NULL);
    }
    status = GC_EXIT_OK;
    gc_graph *g = gc_graph_parse(source, len, o.input, &err);
    if (g && !gc_graph_verify(g, &err)) {
        gc_graph_free(g);
        g = NULL;
    }
    if (!g || !run_graph(g, &o, &err))
        status = gc_report_error(&err, strcmp(err.file, o.input) == 0 ? source : NULL);
    gc_graph_free(g);
    free(source);
    free_bindings(&o);
    return status;
}
