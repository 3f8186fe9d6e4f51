/*
 * cmd_compile.c: `gradc compile MODEL.gm -o TRAINER` — a standalone native trainer that does not
 * load LLVM — and `gradc compile MODEL.gm --emit obj -o model.o` — one graph's object file and a
 * header for programs of one's own (docs/compile.md).
 *
 * The training and eval graphs are built by the public API's own pipeline (a trainer on the
 * interpreter, which compiles nothing), read back from their printed IR, laid out and emitted as
 * object files whose entry points carry distinct prefixes. A small generated C file embeds the
 * model's text, the --set overrides, each graph's IR hash and arena offsets, and calls the
 * runtime's gc_aot_main; the system C compiler links it with libgradc_runtime.a (no LLVM) and
 * OpenBLAS.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gradc/gradc.h>

#include "codegen/codegen.h"
#include "codegen/object_prefix.h"
#include "ir/diag.h"
#include "ir/strbuf.h"
#include "ir/text.h"
#include "runtime/aot.h"
#include "runtime/clock.h"
#include "runtime/predict_graph.h"
#include "runtime/trainer.h"
#include "tools/cli.h"
#include "tools/predict_header.h"

#ifndef GC_RUNTIME_LIB_BUILD
#define GC_RUNTIME_LIB_BUILD ""
#endif
#ifndef GC_OPENBLAS_LIB
#define GC_OPENBLAS_LIB "-lopenblas"
#endif
#ifndef GC_ONNX_LINK
#define GC_ONNX_LINK ""
#endif

enum { MAX_SETS = 64, MAX_GRAPHS = 3 };

typedef struct compile_options {
    const char *model, *out, *emit, *prefix, *graph;
    const char *set_names[MAX_SETS];
    double set_values[MAX_SETS];
    char set_storage[MAX_SETS][256];
    int num_sets, keep, verbose;
} compile_options;

/* Wall time of gradc compile's phases (--verbose), in ms. */
typedef struct compile_phases {
    gc_compile_times graphs; /* the pipeline that builds both graphs (an interpreter trainer) */
    double build_ms;         /* all of build_graphs: that, reading back, the arena layouts */
    double link_ms;          /* the C compiler writing the trainer */
} compile_phases;

/* One graph of the model, compiled. */
typedef struct compiled_graph {
    const char *stage;  /* "train", "eval", "predict", or "train_dp" (below) */
    char *text;
    gc_graph *graph;
    gc_layout layout;
    gc_codegen_times times; /* its object's compile (gc_codegen_emit_object_planned) */
    bool hooked;            /* the object also has gc_step_hooked (codegen/codegen.h) */
} compiled_graph;

static void usage(FILE *out) {
    fprintf(out,
            "usage: gradc compile MODEL.gm -o TRAINER [--set NAME=VALUE]...\n"
            "       gradc compile MODEL.gm --emit obj -o MODEL.o [--graph train|eval|predict] [--prefix NAME_] [--set ...]\n\n"
            "Compiles the model ahead of time into a standalone trainer (a native executable that does\n"
            "not load LLVM): `TRAINER train [--data NAME=FILE.npy]... [--steps N] ...` and\n"
            "`TRAINER eval --params CKPT [--data ...]`, with the options of gradc train and gradc eval.\n"
            "  -o FILE             the trainer (or the object file with --emit obj)\n"
            "  --set NAME=VALUE    override a `const` of the model, compiled in\n"
            "  --emit exe|obj      a trainer (default), or an object file plus a header FILE.h\n"
            "  --graph train|eval|predict  (obj) which graph: the training step (default), the forward\n"
            "                      pass with the loss, or the forward-only prediction (NAME_predict, with\n"
            "                      NAME_load_weights to read a checkpoint) for deployment\n"
            "  --prefix NAME_      (obj) prefix of the entry points and header names (default model_)\n"
            "  --keep-temps        keep the generated C file and objects (their directory is printed)\n"
            "  --verbose           print the time of each compile phase and the kernels compiled (stderr)\n"
            "The C compiler is $CC or cc; the runtime library is $GC_RUNTIME_LIB, else\n"
            "../lib/libgradc_runtime.a next to this gradc, else the build tree's.\n");
}

static int parse_args(int argc, char **argv, compile_options *o) {
    memset(o, 0, sizeof *o);
    o->emit = "exe";
    o->graph = "train";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return GC_EXIT_OK;
        }
        int valued = !strcmp(a, "-o") || !strncmp(a, "--set", 5) || !strncmp(a, "--emit", 6) ||
                     !strncmp(a, "--prefix", 8) || !strncmp(a, "--graph", 7);
        if (valued) {
            const char *eq = a[1] == '-' ? strchr(a, '=') : NULL;
            size_t flag_len = eq ? (size_t)(eq - a) : strlen(a);
            static const char *const flags[] = {"-o", "--set", "--emit", "--prefix", "--graph"};
            int which = -1;
            for (int k = 0; k < 5; k++)
                if (strlen(flags[k]) == flag_len && !strncmp(a, flags[k], flag_len)) which = k;
            if (which < 0) return gc_usage_error("compile: unknown option '%s' (see gradc compile --help)", a);
            if (eq) v = eq + 1;
            else if (i + 1 < argc) v = argv[++i];
            else return gc_usage_error("%s needs a value", flags[which]);
            if (which == 0) {
                o->out = v;
            } else if (which == 1) {
                const char *e = strchr(v, '=');
                char *end;
                if (!e || e == v || (size_t)(e - v) >= sizeof o->set_storage[0])
                    return gc_usage_error("--set expects NAME=VALUE, got '%s'", v);
                if (o->num_sets == MAX_SETS) return gc_usage_error("too many --set options");
                errno = 0;
                double value = strtod(e + 1, &end);
                if (errno || end == e + 1 || *end) return gc_usage_error("--set %.*s: '%s' is not a number", (int)(e - v), v, e + 1);
                memcpy(o->set_storage[o->num_sets], v, (size_t)(e - v));
                o->set_storage[o->num_sets][e - v] = '\0';
                o->set_names[o->num_sets] = o->set_storage[o->num_sets];
                o->set_values[o->num_sets++] = value;
            } else if (which == 2) {
                if (strcmp(v, "exe") && strcmp(v, "obj")) return gc_usage_error("--emit must be exe or obj, got '%s'", v);
                o->emit = v;
            } else if (which == 3) {
                o->prefix = v;
            } else {
                if (strcmp(v, "train") && strcmp(v, "eval") && strcmp(v, "predict"))
                    return gc_usage_error("--graph must be train, eval or predict, got '%s'", v);
                o->graph = v;
            }
        } else if (!strcmp(a, "--keep-temps")) {
            o->keep = 1;
        } else if (!strcmp(a, "--verbose")) {
            o->verbose = 1;
        } else if (a[0] != '-' && !o->model) {
            o->model = a;
        } else {
            return gc_usage_error("compile: unknown option '%s' (see gradc compile --help)", a);
        }
    }
    if (!o->model) {
        usage(stderr);
        return GC_EXIT_USER;
    }
    if (!o->out) return gc_usage_error("compile: give the output file with -o FILE");
    if (o->prefix && strcmp(o->emit, "obj")) return gc_usage_error("--prefix applies to --emit obj only");
    if (strcmp(o->graph, "train") && strcmp(o->emit, "obj")) return gc_usage_error("--graph applies to --emit obj only");
    return -1;
}

/* A user error now rather than after compiling: the output must be creatable. An existing file is
 * not truncated here, and a file created only to check is removed again. */
static int check_writable(const char *path, gc_error *err) {
    struct stat st;
    int existed = stat(path, &st) == 0;
    if (existed && S_ISDIR(st.st_mode)) return gc_failf(err, GC_ERR_USER, "cannot write %s: it is a directory", path);
    FILE *f = fopen(path, "ab");
    if (!f) return gc_failf(err, GC_ERR_USER, "cannot write %s: %s", path, strerror(errno));
    fclose(f);
    if (!existed) remove(path);
    return 1;
}

/* Reads c's graph back from its text (the text is what the standalone trainer's rebuilt graph is
 * matched against) and lays it out. */
static int read_back(compiled_graph *c, gc_error *err) {
    c->graph = gc_graph_parse(c->text, strlen(c->text), c->stage, err);
    char *again = c->graph ? gc_graph_print(c->graph) : NULL;
    int ok = c->graph != NULL;
    if (c->graph && (!again || strcmp(again, c->text)))
        ok = gc_failf(err, GC_ERR_INTERNAL, "internal error: the %s graph does not read back from its text", c->stage);
    free(again);
    return ok && gc_layout_plan_step(c->graph, &c->layout, err);
}

/* The training graph of a trainer on several processes (runtime/trainer.h): a standalone trainer
 * started by mpirun runs it with step hooks that average the gradients (docs/distributed.md). When
 * it is the single-process graph already (clipping or accumulation keep the updates after
 * backward), that program gets the hooked entry; otherwise it is a third program, which also
 * serves --skip-nonfinite (the same graph without accumulation). */
static int build_data_parallel(gc_model *m, compiled_graph graphs[MAX_GRAPHS], int *count, gc_error *err) {
    gc_options opts = {GC_BACKEND_INTERP, 1, 0, 0};
    gc_trainer *t = gc_trainer_plan_distributed(m, &opts, err);
    if (!t) return 0;
    char *text = gc_trainer_ir(t, "train");
    gc_trainer_free(t);
    if (!text) return gc_failf(err, GC_ERR_MEMORY, "out of memory");
    if (!strcmp(text, graphs[0].text)) {
        free(text);
        graphs[0].hooked = true;
        return 1;
    }
    compiled_graph *c = &graphs[(*count)++];
    c->stage = "train_dp";
    c->text = text;
    c->hooked = true;
    return read_back(c, err);
}

/* Builds the graphs with the trainer's pipeline (training and eval; for a trainer, the data-parallel
 * training graph too), each read back from its text. */
static int build_graphs(const compile_options *o, compiled_graph graphs[MAX_GRAPHS], int *count, gc_compile_times *times,
                        gc_error *err) {
    gc_model *m = gc_model_load(o->model, err);
    if (!m) return 0;
    for (int i = 0; i < o->num_sets; i++) {
        if (!gc_model_set_const(m, o->set_names[i], o->set_values[i], err)) {
            gc_model_free(m);
            return 0;
        }
    }
    if (!strcmp(o->graph, "predict")) {
        /* The forward-only graph alone: it is all --graph predict writes. */
        compiled_graph *c = &graphs[0];
        c->stage = "predict";
        *count = 1;
        c->graph = gc_model_predict_graph(m, err);
        gc_model_free(m);
        return c->graph && (c->text = gc_graph_print(c->graph)) && gc_layout_plan_step(c->graph, &c->layout, err);
    }
    /* Planned only: the graphs without an executor, so neither the interpreter's memory for every
     * value of the step nor parameter initialisation (seconds for a deep model) is paid for. */
    gc_options opts = {GC_BACKEND_INTERP, 1, 0, 0};
    gc_trainer *t = gc_trainer_plan(m, &opts, err);
    if (!t) {
        gc_model_free(m);
        return 0;
    }
    int ok = 1;
    for (int i = 0; ok && i < 2; i++) {
        compiled_graph *c = &graphs[i];
        c->stage = i == 0 ? "train" : "eval";
        *count = i + 1;
        c->text = gc_trainer_ir(t, c->stage);
        ok = c->text ? read_back(c, err) : gc_failf(err, GC_ERR_MEMORY, "out of memory");
    }
    const char *warning;
    for (int k = 0; gc_trainer_warning(t, k, &warning); k++) fprintf(stderr, "warning: %s\n", warning);
    gc_trainer_compile_times(t, times);
    gc_trainer_free(t);
    ok = ok && (strcmp(o->emit, "exe") || build_data_parallel(m, graphs, count, err));
    gc_model_free(m);
    return ok;
}

static void free_graphs(compiled_graph graphs[MAX_GRAPHS]) {
    for (int i = 0; i < MAX_GRAPHS; i++) {
        free(graphs[i].text);
        gc_graph_free(graphs[i].graph);
        gc_layout_free(&graphs[i].layout);
    }
}

/* s as a C string literal, line by line. */
static void c_string(gc_strbuf *sb, const char *s) {
    gc_strbuf_append(sb, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\\' || *p == '"') gc_strbuf_printf(sb, "\\%c", *p);
        else if (*p == '\n') gc_strbuf_append(sb, p[1] ? "\\n\"\n    \"" : "\\n");
        else if (*p < 0x20 || *p >= 0x7f) gc_strbuf_printf(sb, "\\%03o", *p);
        else gc_strbuf_printf(sb, "%c", *p);
    }
    gc_strbuf_append(sb, "\"");
}

static void c_offsets(gc_strbuf *sb, const char *name, const gc_layout *l) {
    gc_strbuf_printf(sb, "static const int64_t %s[] = {", name);
    for (int i = 0; i < l->num_nodes; i++) gc_strbuf_printf(sb, "%s%s%lld", i ? "," : "", i % 12 ? " " : "\n    ", (long long)l->offsets[i]);
    if (!l->num_nodes) gc_strbuf_append(sb, "0");
    gc_strbuf_append(sb, "\n};\n");
}

/* The trainer's main: the model, the overrides, the programs, and a call into the runtime. */
static char *trainer_source(const compile_options *o, const char *text, const compiled_graph *graphs, int count) {
    gc_strbuf sb;
    gc_strbuf_init(&sb);
    gc_strbuf_printf(&sb,
                     "/* Generated by gradc compile from %s: the standalone trainer's main (docs/compile.md). */\n"
                     "#include <stdint.h>\n\n"
                     "typedef struct gc_aot_program {\n"
                     "    const char *name;\n    uint64_t graph_hash;\n    int num_nodes;\n"
                     "    const int64_t *offsets;\n    int64_t arena_size;\n"
                     "    void (*init)(char *arena, void *pool);\n    void (*step)(char *arena, void *pool);\n"
                     "    void (*update)(char *arena, void *pool);\n"
                     "    void (*step_hooked)(char *arena, void *pool, void *hooks);\n"
                     "} gc_aot_program;\n\n"
                     "typedef struct gc_aot_model {\n"
                     "    int abi;\n    int program_size;\n    const char *text;\n    const char *filename;\n"
                     "    int num_sets;\n    const char *const *set_names;\n    const double *set_values;\n"
                     "    const gc_aot_program *programs;\n    int num_programs;\n"
                     "} gc_aot_model;\n\n"
                     "int gc_aot_main(int argc, char **argv, const gc_aot_model *model);\n",
                     o->model);
    for (int i = 0; i < count; i++) {
        gc_strbuf_printf(&sb,
                         "void gc_aot_%s_init(char *arena, void *pool);\nvoid gc_aot_%s_step(char *arena, void *pool);\n"
                         "void gc_aot_%s_update(char *arena, void *pool);\n",
                         graphs[i].stage, graphs[i].stage, graphs[i].stage);
        if (graphs[i].hooked)
            gc_strbuf_printf(&sb, "void gc_aot_%s_step_hooked(char *arena, void *pool, void *hooks);\n", graphs[i].stage);
    }
    gc_strbuf_append(&sb, "\nstatic const char model_text[] =\n    ");
    c_string(&sb, text);
    gc_strbuf_append(&sb, ";\n\nstatic const char model_file[] = ");
    c_string(&sb, o->model);
    gc_strbuf_append(&sb, ";\n\nstatic const char *const set_names[] = {");
    for (int i = 0; i < o->num_sets; i++) {
        c_string(&sb, o->set_names[i]);
        gc_strbuf_append(&sb, ", ");
    }
    gc_strbuf_append(&sb, "0};\nstatic const double set_values[] = {");
    for (int i = 0; i < o->num_sets; i++) gc_strbuf_printf(&sb, "%a, ", o->set_values[i]);
    gc_strbuf_append(&sb, "0};\n\n");
    for (int i = 0; i < count; i++) {
        char name[32];
        snprintf(name, sizeof name, "%s_offsets", graphs[i].stage);
        c_offsets(&sb, name, &graphs[i].layout);
    }
    gc_strbuf_append(&sb, "\nstatic const gc_aot_program programs[] = {\n");
    for (int i = 0; i < count; i++) {
        const compiled_graph *c = &graphs[i];
        char hooked[64] = "0";
        if (c->hooked) snprintf(hooked, sizeof hooked, "gc_aot_%s_step_hooked", c->stage);
        gc_strbuf_printf(&sb,
                         "    {\"%s\", 0x%016llxull, %d, %s_offsets, %lld, gc_aot_%s_init, gc_aot_%s_step, "
                         "gc_aot_%s_update, %s},\n",
                         c->stage, (unsigned long long)gc_aot_hash(c->text), c->graph->num_nodes, c->stage,
                         (long long)c->layout.size, c->stage, c->stage, c->stage, hooked);
    }
    gc_strbuf_printf(&sb,
                     "};\n\n"
                     "static const gc_aot_model model = {%d, (int)sizeof(gc_aot_program), model_text, model_file,\n"
                     "    %d, set_names, set_values, programs, %d};\n\n"
                     "int main(int argc, char **argv) { return gc_aot_main(argc, argv, &model); }\n",
                     GC_AOT_ABI, o->num_sets, count);
    return gc_strbuf_take(&sb);
}

static int write_text(const char *path, const char *text, gc_error *err) {
    FILE *f = fopen(path, "w");
    int ok = f && fputs(text, f) >= 0;
    if (f && fclose(f) != 0) ok = 0;
    return ok ? 1 : gc_failf(err, GC_ERR_IO, "cannot write %s: %s", path, strerror(errno));
}

/* Runs argv (no shell); a command that cannot start or fails is an error naming it. */
static int run_command(char *const argv[], gc_error *err) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return gc_failf(err, GC_ERR_IO, "cannot start %s: %s", argv[0], strerror(errno));
    if (pid == 0) {
        execvp(argv[0], argv);
        _exit(127); /* reported by the parent, as one line */
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return gc_failf(err, GC_ERR_IO, "waiting for %s: %s", argv[0], strerror(errno));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        return gc_failf(err, GC_ERR_USER, "the C compiler '%s' was not found (set CC to one)", argv[0]);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        gc_strbuf sb;
        gc_strbuf_init(&sb);
        for (int i = 0; argv[i]; i++) gc_strbuf_printf(&sb, "%s%s", i ? " " : "", argv[i]);
        char *line = gc_strbuf_take(&sb);
        gc_failf(err, GC_ERR_USER, "linking the trainer failed: %s", line ? line : argv[0]);
        free(line);
        return 0;
    }
    return 1;
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* libgradc_runtime.a: $GC_RUNTIME_LIB, else ../lib next to this gradc (an installed tree), else
 * the build tree this gradc came from. */
static int runtime_library(char *out, size_t size, gc_error *err) {
    const char *env = getenv("GC_RUNTIME_LIB");
    if (env && *env) {
        if (!exists(env)) return gc_failf(err, GC_ERR_USER, "GC_RUNTIME_LIB=%s: no such file", env);
        snprintf(out, size, "%s", env);
        return 1;
    }
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            int w = snprintf(out, size, "%s/../lib/libgradc_runtime.a", self);
            if (w > 0 && (size_t)w < size && exists(out)) return 1;
        }
    }
    snprintf(out, size, "%s", GC_RUNTIME_LIB_BUILD);
    if (*out && exists(out)) return 1;
    return gc_failf(err, GC_ERR_USER,
                    "cannot find libgradc_runtime.a (looked in ../lib next to gradc and in %s); set GC_RUNTIME_LIB",
                    GC_RUNTIME_LIB_BUILD);
}

static int compile_exe(const compile_options *o, compiled_graph *graphs, int count, const char *text, double *link_ms,
                       gc_error *err) {
    char runtime[4096];
    if (!runtime_library(runtime, sizeof runtime, err)) return 0;
    const char *tmp = getenv("TMPDIR");
    char dir[4096], objs[MAX_GRAPHS][4200], main_c[4200];
    snprintf(dir, sizeof dir, "%s/gradc-compile-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) return gc_failf(err, GC_ERR_IO, "cannot create a temporary directory %s: %s", dir, strerror(errno));
    snprintf(main_c, sizeof main_c, "%s/main.c", dir);
    int ok = 1;
    for (int i = 0; ok && i < count; i++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "gc_aot_%s_", graphs[i].stage);
        snprintf(objs[i], sizeof objs[i], "%s/%s.o", dir, graphs[i].stage);
        ok = graphs[i].hooked
                 ? gc_codegen_emit_object_hooked(graphs[i].graph, &graphs[i].layout, objs[i], &graphs[i].times, err) &&
                       gc_object_rename_globals(objs[i], prefix, err)
                 : gc_codegen_emit_object_named(graphs[i].graph, &graphs[i].layout, objs[i], prefix, NULL,
                                                &graphs[i].times, err);
    }
    char *source = ok ? trainer_source(o, text, graphs, count) : NULL;
    if (ok && !source) ok = gc_failf(err, GC_ERR_MEMORY, "out of memory");
    ok = ok && write_text(main_c, source, err);
    free(source);
    if (ok) {
        const char *cc = getenv("CC");
#ifdef GC_RUNTIME_SANITIZE
        char *sanitize = "-fsanitize=address,undefined";
#else
        char *sanitize = "-O1";
#endif
        /* ONNX models are lowered again when the trainer starts: it links protobuf-c (GC_ONNX_LINK).
         * The runtime holds the MPI layer when this gradc links Open MPI (runtime/distributed.c). */
        char *argv[16 + MAX_GRAPHS] = {(char *)(cc && *cc ? cc : "cc"), "-O1", sanitize, "-o", (char *)o->out, main_c};
        int n = 6;
        for (int i = 0; i < count; i++) argv[n++] = objs[i];
        char *libs[] = {runtime, GC_OPENBLAS_LIB,
#ifdef GC_MPI_LIBDIR
                        "-L" GC_MPI_LIBDIR, "-Wl,-rpath," GC_MPI_LIBDIR, "-lmpi",
#endif
                        "-lm", "-lpthread", GC_ONNX_LINK[0] ? GC_ONNX_LINK : NULL};
        for (size_t i = 0; i < sizeof libs / sizeof libs[0] && libs[i]; i++) argv[n++] = libs[i];
        argv[n] = NULL;
        double started = gc_clock_ms();
        ok = run_command(argv, err);
        *link_ms = gc_clock_ms() - started;
    }
    if (o->keep) {
        fprintf(stderr, "gradc: kept %s\n", dir);
    } else {
        remove(main_c);
        for (int i = 0; i < count; i++) remove(objs[i]);
        rmdir(dir);
    }
    return ok;
}

/* A C identifier from a tensor name: [A-Za-z0-9_] kept, the rest '_', upper case. */
static void macro_name(const char *s, char *out, size_t size) {
    size_t n = 0;
    for (; *s && n + 1 < size; s++, n++) {
        char c = *s;
        out[n] = (c >= 'a' && c <= 'z') ? (char)(c - 32) : ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) ? c : '_';
    }
    out[n] = '\0';
}

/* The header of --emit obj: entry points, arena size, and where every source and output lives. */
static char *object_header(const compile_options *o, const compiled_graph *c, const char *prefix, const char *guard) {
    char upper[128];
    macro_name(prefix, upper, sizeof upper);
    gc_strbuf sb;
    gc_strbuf_init(&sb);
    bool predict = !strcmp(c->stage, "predict");
    if (predict)
        gc_strbuf_printf(&sb,
                         "/* Generated by gradc compile from %s: the forward-only graph as an object file\n"
                         " * (docs/compile.md, \"Deploying a model from C\"). Allocate %sARENA_SIZE bytes, 64-byte\n"
                         " * aligned and zeroed; call %sinit once, load the weights (%sload_weights, or write every\n"
                         " * param and buffer at its offset), then for each batch write the inputs at their offsets,\n"
                         " * call %spredict and read the outputs (`prediction`: the loss's first argument). Pass NULL\n"
                         " * as the pool: every kernel then runs on the calling thread. */\n"
                         "#ifndef %s\n#define %s\n\n#include <stdint.h>\n#include <stdio.h>\n#include <stdlib.h>\n"
                         "#include <string.h>\n\n"
                         "void %sinit(char *arena, void *pool);\nvoid %spredict(char *arena, void *pool);\n\n"
                         "#define %sARENA_SIZE ((int64_t)%lld)\n\n",
                         o->model, upper, prefix, prefix, prefix, guard, guard, prefix, prefix, upper,
                         (long long)c->layout.size);
    else
    gc_strbuf_printf(&sb,
                     "/* Generated by gradc compile from %s: the %s graph as an object file (docs/compile.md).\n"
                     " * Allocate %sARENA_SIZE bytes, 64-byte aligned and zeroed; call %sinit once, then write the\n"
                     " * sources at their offsets, call %sstep, read the outputs, call %supdate (it writes the\n"
                     " * updates computed in place into their params, state and buffers), and copy each update whose\n"
                     " * offset differs from its target's into the param, state or buffer of that name before the next\n"
                     " * step. Pass NULL as the pool: every kernel then runs on the calling thread. */\n"
                     "#ifndef %s\n#define %s\n\n#include <stdint.h>\n\n"
                     "void %sinit(char *arena, void *pool);\nvoid %sstep(char *arena, void *pool);\n"
                     "void %supdate(char *arena, void *pool);\n\n"
                     "#define %sARENA_SIZE ((int64_t)%lld)\n\n",
                     o->model, c->stage, upper, prefix, prefix, prefix, guard, guard, prefix, prefix, prefix, upper,
                     (long long)c->layout.size);
    gc_strbuf_printf(&sb,
                     "/* kind: input, param, state, buffer (sources); output, update, grad (results). dtype: f32, i32. */\n"
                     "typedef struct %stensor {\n    const char *kind;\n    const char *name;\n    const char *dtype;\n"
                     "    int rank;\n    int64_t shape[6];\n    int64_t offset;\n} %stensor;\n\n"
                     "static const %stensor %stensors[] = {\n",
                     prefix, prefix, prefix, prefix);
    gc_strbuf macros;
    gc_strbuf_init(&macros);
    int count = 0;
    for (int pass = 0; pass < 2; pass++) {
        int total = pass == 0 ? c->graph->num_nodes : c->graph->num_outputs;
        for (int i = 0; i < total; i++) {
            const gc_node *n;
            const char *kind, *name;
            if (pass == 0) {
                n = c->graph->nodes[i];
                if (!(gc_op_table[n->op].flags & GC_FLAG_NAMED)) continue;
                kind = gc_op_table[n->op].name;
                name = n->name;
            } else {
                const gc_graph_output *out = &c->graph->outputs[i];
                n = out->value;
                kind = gc_output_kind_name(out->kind);
                name = out->name;
            }
            gc_strbuf_printf(&sb, "    {\"%s\", \"%s\", \"%s\", %d, {", kind, name, gc_dtype_name(n->type.dtype),
                             n->type.rank);
            for (int d = 0; d < 6; d++) gc_strbuf_printf(&sb, "%s%lld", d ? ", " : "", (long long)(d < n->type.rank ? n->type.dims[d] : 0));
            gc_strbuf_printf(&sb, "}, %lld},\n", (long long)c->layout.offsets[n->id]);
            char k[32], m[256];
            macro_name(kind, k, sizeof k);
            macro_name(name, m, sizeof m);
            gc_strbuf_printf(&macros, "#ifndef %s%s_%s\n#define %s%s_%s ((int64_t)%lld)\n#endif\n", upper, k, m, upper, k,
                             m, (long long)c->layout.offsets[n->id]);
            count++;
        }
    }
    char *defs = gc_strbuf_take(&macros);
    gc_strbuf_printf(&sb, "};\n\n#define %sNUM_TENSORS %d\n\n/* Offsets by name: %s<KIND>_<NAME>. */\n%s\n",
                     upper, count, upper, defs ? defs : "");
    free(defs);
    if (predict) gc_predict_loader_source(&sb, prefix, upper);
    gc_strbuf_append(&sb, "#endif\n");
    return gc_strbuf_take(&sb);
}

static int compile_obj(const compile_options *o, compiled_graph *graphs, gc_error *err) {
    const compiled_graph *c = &graphs[strcmp(o->graph, "eval") ? 0 : 1];
    const char *prefix = o->prefix ? o->prefix : "model_";
    size_t len = strlen(o->out);
    char *header = malloc(len + 3);
    if (!header) return gc_failf(err, GC_ERR_MEMORY, "out of memory");
    if (len > 2 && !strcmp(o->out + len - 2, ".o")) snprintf(header, len + 3, "%.*s.h", (int)(len - 2), o->out);
    else snprintf(header, len + 3, "%s.h", o->out);
    char guard[160];
    const char *base = strrchr(header, '/');
    macro_name(base ? base + 1 : header, guard, sizeof guard);
    char *text = NULL;
    const char *step = strcmp(c->stage, "predict") ? NULL : "predict";
    int ok = check_writable(header, err) && gc_codegen_emit_object_named(c->graph, &c->layout, o->out, prefix, step,
                                                                      &graphs[strcmp(o->graph, "eval") ? 0 : 1].times, err);
    if (ok && !(text = object_header(o, c, prefix, guard))) ok = gc_failf(err, GC_ERR_MEMORY, "out of memory");
    ok = ok && write_text(header, text, err);
    free(text);
    free(header);
    return ok;
}

/* --verbose: the phases, then each graph's codegen as gradc train prints the JIT's. */
static void print_phases(const compile_options *o, const compiled_graph *graphs, int count, const compile_phases *ph,
                         double total_ms) {
    const gc_compile_times *c = &ph->graphs;
    if (!strcmp(o->emit, "obj")) count = 1; /* --emit obj writes one of the graphs */
    int first = strcmp(o->emit, "obj") || strcmp(o->graph, "eval") ? 0 : 1;
    fprintf(stderr, "compile: frontend %.1f ms, autodiff+optimizer %.1f ms, passes %.1f ms, init %.1f ms, graphs %.1f ms",
            c->frontend_ms, c->autodiff_ms, c->simplify_ms, c->init_ms, ph->build_ms);
    for (int i = first; i < first + count; i++)
        fprintf(stderr, ", codegen %s %.1f ms", graphs[i].stage, graphs[i].times.total_ms);
    if (strcmp(o->emit, "obj")) fprintf(stderr, ", link %.1f ms", ph->link_ms);
    fprintf(stderr, ", total %.1f ms\n", total_ms);
    for (int i = first; i < first + count; i++) {
        const gc_codegen_times *t = &graphs[i].times;
        fprintf(stderr, "%s: plan %.1f ms, prepare %.1f ms, kernels %.1f ms on %d thread%s (emit %.1f, O3 %.1f, machine code %.1f ms "
                "summed over threads), entry points %.1f ms%s, merge %.1f ms\n",
                graphs[i].stage, t->plan_ms, t->prepare_ms, t->kernels_ms, t->threads, t->threads == 1 ? "" : "s", t->emit_ms,
                t->optimize_ms, t->object_ms, t->entries_ms, t->entries_cached ? " (cached)" : "", t->jit_ms);
        fprintf(stderr, "%s kernels: %d calls, %d distinct: %d compiled by LLVM, %d from the kernel cache", graphs[i].stage,
                t->kernels, t->functions, t->compiled, t->cache_hits);
        if (!t->cache_enabled) fprintf(stderr, " (cache off)");
        else if (t->cache_rejected) fprintf(stderr, " (%d corrupt or foreign entries rebuilt)", t->cache_rejected);
        fprintf(stderr, "\n");
    }
}

int gc_cmd_compile(int argc, char **argv) {
    compile_options o;
    int status = parse_args(argc, argv, &o);
    if (status >= 0) return status;
    double start = gc_clock_ms();
    gc_error err = {0};
    compiled_graph graphs[MAX_GRAPHS];
    memset(graphs, 0, sizeof graphs);
    compile_phases ph;
    memset(&ph, 0, sizeof ph);
    int count = 0;
    char *text = gc_read_file(o.model, NULL, &err);
    int ok = text && check_writable(o.out, &err) && build_graphs(&o, graphs, &count, &ph.graphs, &err);
    ph.build_ms = gc_clock_ms() - start;
    if (ok)
        ok = !strcmp(o.emit, "obj") ? compile_obj(&o, graphs, &err) : compile_exe(&o, graphs, count, text, &ph.link_ms, &err);
    if (ok && o.verbose) print_phases(&o, graphs, count, &ph, gc_clock_ms() - start);
    status = ok ? GC_EXIT_OK : gc_report_error(&err, text && !strcmp(err.file, o.model) ? text : NULL);
    free_graphs(graphs);
    free(text);
    return status;
}
