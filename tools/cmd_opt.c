/*
 * cmd_opt.c: `gradc opt`, the textual-IR driver (LLVM's opt for gradc graphs).
 *
 * Reads a .ir file, parses and verifies it, runs a pass pipeline and prints the result, so a pass
 * can be tested on a hand-written graph without the frontend (the FileCheck tests in
 * tests/filecheck/ are built on this). With no passes it reprints its input in canonical form.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/text.h"
#include "passes/manager.h"
#include "tools/cli.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: gradc opt FILE.ir [--passes=P1,P2,...] [--print-after-all] [--print-after=NAME] [-o OUT]\n"
            "\n"
            "Parses textual IR (FILE '-' reads stdin), verifies it, runs the passes in order (verifying\n"
            "after each) and prints the resulting graph to stdout or OUT.\n"
            "\n"
            "options:\n"
            "  --passes=LIST        comma-separated pass names, run in order (default: none)\n"
            "  --print-after-all    print the graph to stderr after every pass\n"
            "  --print-after=NAME   print the graph to stderr after each run of pass NAME\n"
            "  -o OUT               write the result to OUT instead of stdout\n"
            "  --help               show this help\n"
            "\n"
            "passes:\n");
    for (int i = 0; i < gc_pass_count(); i++) {
        const gc_pass *pass = gc_pass_at(i);
        fprintf(out, "  %-20s %s\n", pass->name, pass->summary ? pass->summary : "");
    }
}

/* Dumps go to stderr, as LLVM's -print-after does, so stdout stays the final graph. */
static void dump_after(void *context, const char *pass, const gc_graph *graph) {
    (void)context;
    char *text = gc_graph_print(graph);
    fprintf(stderr, "# *** IR Dump After %s ***\n%s", pass, text ? text : "(out of memory)\n");
    free(text);
}

static int write_output(const char *path, const char *text, gc_error *err) {
    FILE *f = path ? fopen(path, "wb") : stdout;
    if (!f) {
        gc_failf(err, GC_ERR_IO, "cannot open %s for writing", path);
        return 0;
    }
    size_t len = strlen(text);
    bool ok = fwrite(text, 1, len, f) == len;
    ok = (path ? fclose(f) == 0 : fflush(f) == 0) && ok;
    if (!ok) return gc_failf(err, GC_ERR_IO, "cannot write %s", path ? path : "standard output");
    return 1;
}

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

int gc_cmd_opt(int argc, char **argv) {
    const char *input = NULL, *output = NULL, *passes = "";
    gc_pass_options opts;
    memset(&opts, 0, sizeof opts);
    opts.verify_each = true;
    opts.dump = dump_after;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *v;
        bool missing = false;
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            usage(stdout);
            return GC_EXIT_OK;
        } else if (!strcmp(arg, "--print-after-all")) {
            opts.print_after_all = true;
        } else if ((v = option_value(argc, argv, &i, "--passes", &missing))) {
            passes = v;
        } else if ((v = option_value(argc, argv, &i, "--print-after", &missing))) {
            if (!gc_pass_find(v)) return gc_usage_error("--print-after: unknown pass '%s' (see gradc opt --help)", v);
            opts.print_after = v;
        } else if ((v = option_value(argc, argv, &i, "-o", &missing))) {
            output = v;
        } else if (missing) {
            return gc_usage_error("%s needs a value", arg);
        } else if (!strncmp(arg, "-o", 2) && arg[2]) {
            output = arg + 2;
        } else if (arg[0] == '-' && arg[1] != '\0') {
            return gc_usage_error("opt: unknown option '%s' (see gradc opt --help)", arg);
        } else if (input) {
            return gc_usage_error("opt: more than one input file ('%s' and '%s')", input, arg);
        } else {
            input = arg;
        }
    }
    if (!input) return gc_usage_error("opt: no input file (see gradc opt --help)");

    gc_error err;
    gc_error_clear(&err);
    bool from_stdin = !strcmp(input, "-");
    const char *filename = from_stdin ? "<stdin>" : input;
    size_t len = 0;
    char *source = gc_read_file(from_stdin ? "-" : input, &len, &err);
    if (!source) return gc_report_error(&err, NULL);

    int status = GC_EXIT_OK;
    gc_graph *g = gc_graph_parse(source, len, filename, &err);
    if (g && !gc_graph_verify(g, &err)) {
        gc_graph_free(g);
        g = NULL;
    }
    if (g && !gc_run_pipeline(&g, passes, &opts, &err)) {
        gc_graph_free(g);
        g = NULL;
    }
    if (!g) {
        /* Only show a source line when the error points into the file we read. */
        status = gc_report_error(&err, strcmp(err.file, filename) == 0 ? source : NULL);
    } else {
        char *text = gc_graph_print(g);
        if (!text) {
            gc_failf(&err, GC_ERR_MEMORY, "out of memory printing the graph");
            status = gc_report_error(&err, NULL);
        } else if (!write_output(output, text, &err)) {
            status = gc_report_error(&err, NULL);
        }
        free(text);
        gc_graph_free(g);
    }
    free(source);
    return status;
}
