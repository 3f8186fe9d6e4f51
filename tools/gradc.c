/*
 * gradc.c: the `gradc` command. Dispatches to one function per subcommand (tools/cmd_*.c) and
 * holds what they share: error reporting and file reading. See docs/cli.md.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/diagnostic.h"
#include "runtime/file.h"
#include "runtime/suggest.h"
#include "tools/cli.h"

static const struct {
    const char *name;
    gc_command_fn run;
    const char *summary;
} commands[] = {
    {"train", gc_cmd_train, "train a model on data (see gradc train --help)"},
    {"eval", gc_cmd_eval, "mean loss and outputs of trained parameters over a dataset"},
    {"sample", gc_cmd_sample, "generate text with a trained byte-level language model"},
    {"plot", gc_cmd_plot, "draw the loss curves of a training log as an SVG file"},
    {"export", gc_cmd_export, "a checkpoint's parameters and buffers for PyTorch (no optimizer state)"},
    {"check", gc_cmd_check, "check a model: parameters, memory, and --gradcheck"},
    {"compile", gc_cmd_compile, "compile a model into a standalone native trainer (or an object file)"},
    {"ir", gc_cmd_ir, "print a model's program at a stage of the pipeline"},
    {"opt", gc_cmd_opt, "parse textual IR, verify it, run passes, print the result"},
    {"run", gc_cmd_run, "evaluate an IR graph on .npy inputs with the reference interpreter"},
    {"import", gc_cmd_import, "an ONNX model as textual IR (with its weights) or as a model file"},
    {"tune", gc_cmd_tune, "measure a few blockings of gradc's GEMM here and keep the fastest for this CPU"},
};

static void usage(FILE *out) {
    fprintf(out, "usage: gradc COMMAND [ARGS...]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\noptions of every command that compiles a model with the JIT:\n"
                 "  --cache-dir DIR   keep compiled kernels in DIR (default: $GRADC_CACHE_DIR, else\n"
                 "                    $XDG_CACHE_HOME/gradc, else ~/.cache/gradc)\n"
                 "  --no-cache        compile every kernel, read and write no cache (GRADC_CACHE_DIR=off)\n"
                 "  --cache-max SIZE  bound the cache (e.g. 512M, 2G; 0: no bound; default $GRADC_CACHE_MAX,\n"
                 "                    else 1G): the least recently used kernels are removed past it\n");
    fprintf(out, "\n`gradc COMMAND --help` describes one command; `gradc --version` prints the version.\n");
}

int gc_usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "gradc: error: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return GC_EXIT_USER;
}

int gc_report_error(const gc_error *err, const char *source) {
    char *text = gc_format_diagnostic(err, source);
    if (text) fputs(text, stderr);
    else fprintf(stderr, "gradc: error: %s\n", err->message);
    free(text);
    /* Out of memory is the model's size against this machine, not a gradc bug. */
    return err->code == GC_ERR_USER || err->code == GC_ERR_IO || err->code == GC_ERR_NUMERIC || err->code == GC_ERR_MEMORY
               ? GC_EXIT_USER
               : GC_EXIT_INTERNAL;
}

char *gc_read_file(const char *path, size_t *len, gc_error *err) {
    return gc_file_read(path, (size_t)1 << 30, len, err);
}

/* "512M", "2GiB", "1048576": the sizes codegen/disk_cache.c reads from GRADC_CACHE_MAX. */
static int is_size(const char *s) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0) return 0;
    if (*end && strchr("kKmMgGtT", *end)) {
        end++;
        if (*end == 'i') end++;
    }
    if (*end == 'B' || *end == 'b') end++;
    return *end == '\0';
}

/* --cache-dir DIR and --no-cache apply to whatever the command compiles: they set the
 * environment the codegen reads (GRADC_CACHE_DIR, codegen/disk_cache.c) and leave argv without
 * them. 0 after reporting a usage error. */
static int take_cache_options(int *argc, char **argv) {
    int kept = 2;
    for (int i = 2; i < *argc; i++) {
        const char *a = argv[i], *dir = NULL, *max = NULL;
        if (!strncmp(a, "--cache-max=", 12)) max = a + 12;
        else if (!strcmp(a, "--cache-max") && i + 1 < *argc) max = argv[++i];
        else if (!strcmp(a, "--cache-max")) return gc_usage_error("--cache-max needs a size"), 0;
        if (max) {
            if (!is_size(max)) return gc_usage_error("--cache-max: '%s' is not a size (512M, 2G, ...)", max), 0;
            setenv("GRADC_CACHE_MAX", max, 1);
            continue;
        }
        if (!strcmp(a, "--no-cache")) {
            dir = "off";
        } else if (!strncmp(a, "--cache-dir=", 12)) {
            dir = a + 12;
        } else if (!strcmp(a, "--cache-dir")) {
            if (i + 1 >= *argc) return gc_usage_error("--cache-dir needs a directory"), 0;
            dir = argv[++i];
        } else {
            argv[kept++] = argv[i];
            continue;
        }
        if (!*dir) return gc_usage_error("--cache-dir needs a directory"), 0;
        setenv("GRADC_CACHE_DIR", dir, 1);
    }
    argv[kept] = NULL;
    *argc = kept;
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? GC_EXIT_USER : GC_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("gradc %s\n", GC_VERSION_STRING);
        return GC_EXIT_OK;
    }
    if (!take_cache_options(&argc, argv)) return GC_EXIT_USER;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    const char *names[sizeof commands / sizeof commands[0]];
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) names[i] = commands[i].name;
    const char *close = gc_suggest_name(argv[1], names, (int)(sizeof names / sizeof names[0]));
    if (close) return gc_usage_error("unknown command '%s'; did you mean '%s'? (see gradc --help)", argv[1], close);
    return gc_usage_error("unknown command '%s' (see gradc --help)", argv[1]);
}
