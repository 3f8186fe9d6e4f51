/*
 * cmd_ir.c: `gradc ir MODEL.gm [--stage STAGE] [-o FILE]` — prints the program at a stage of the
 * pipeline: forward (lowered), grad (after autodiff), train (the whole optimised step), eval, and
 * the backend's own stages (fused, llvm, asm) when it has them. Every IR stage parses back with
 * `gradc opt`; fused is the train stage with each node's kernel as a trailing comment.
 * `--format dot` draws any IR stage for Graphviz with its layers as nested clusters (collapsed to
 * one box per layer for big graphs, ir/dot.h), and the fused stage with kernels as clusters.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/dot.h"
#include "ir/text.h"
#include "runtime/predict_graph.h"
#include "tools/cli.h"
#include "tools/model_options.h"

/* The forward-only graph's text (runtime/predict_graph.h), from the model the options name. */
static char *predict_text(const gc_model_options *mo, gc_error *err) {
    gc_model *m = gc_model_options_model(mo, err);
    if (!m) return NULL;
    gc_graph *g = gc_model_predict_graph(m, err);
    gc_model_free(m);
    char *text = g ? gc_graph_print(g) : NULL;
    gc_graph_free(g);
    return text;
}

static void usage(FILE *out) {
    fprintf(out, "usage: gradc ir MODEL.gm [--stage forward|grad|train|eval|predict|fused|llvm|asm] [--format text|dot]\n"
                 "                [--layers auto|expand|collapse] [--set NAME=VALUE]... [-o FILE]\n\n"
                 "Prints the model at a stage of the pipeline (default: train, the whole training step).\n"
                 "Each node says the model line (loc) and the layer (layer) it came from. predict is the\n"
                 "forward-only graph gradc compile --graph predict builds; fused shows the JIT's kernels\n"
                 "(`# kernel R` after each node).\n"
                 "  --format dot        Graphviz: layers as nested clusters (fused: kernels as clusters);\n"
                 "                      render with `dot -Tpng FILE.dot -o FILE.png`\n"
                 "  --layers MODE       (dot) collapse each layer into one box: auto (above %d nodes),\n"
                 "                      expand (every node) or collapse\n",
            GC_DOT_COLLAPSE_ABOVE);
}

int gc_cmd_ir(int argc, char **argv) {
    gc_model_options mo;
    gc_model_options_init(&mo);
    const char *stage = "train", *out_path = NULL, *format = "text", *layers = "auto";
    for (int i = 1; i < argc; i++) {
        int used = gc_model_options_parse(&mo, argc, argv, &i);
        if (used < 0) return GC_EXIT_USER;
        if (used) continue;
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return GC_EXIT_OK;
        } else if (gc_flag_value(argc, argv, &i, "--stage", &v)) {
            stage = v;
        } else if (gc_flag_value(argc, argv, &i, "--format", &v)) {
            format = v;
        } else if (gc_flag_value(argc, argv, &i, "--layers", &v)) {
            layers = v;
        } else if (gc_flag_value(argc, argv, &i, "-o", &v) || gc_flag_value(argc, argv, &i, "--output", &v)) {
            out_path = v;
        } else {
            return gc_usage_error("ir: unknown option '%s' (see gradc ir --help)", argv[i]);
        }
    }
    if (!mo.model_path) {
        usage(stderr);
        return GC_EXIT_USER;
    }
    if (strcmp(format, "text") && strcmp(format, "dot")) return gc_usage_error("ir: unknown format '%s' (text, dot)", format);
    gc_dot_layers dot_layers = !strcmp(layers, "expand")     ? GC_DOT_EXPAND
                               : !strcmp(layers, "collapse") ? GC_DOT_COLLAPSE
                                                             : GC_DOT_AUTO;
    if (strcmp(layers, "auto") && dot_layers == GC_DOT_AUTO)
        return gc_usage_error("ir: --layers must be auto, expand or collapse, got '%s'", layers);
    bool dot = !strcmp(format, "dot");
    if (dot && (!strcmp(stage, "llvm") || !strcmp(stage, "asm")))
        return gc_usage_error("ir: --format dot draws the IR stages (forward, grad, train, eval, predict, fused), not %s", stage);
    if (dot && !strcmp(stage, "fused")) stage = "fused.dot";
    int llvm_stage = !strcmp(stage, "llvm") || !strcmp(stage, "asm") || !strncmp(stage, "fused", 5);
    if (!mo.backend_given) mo.options.backend = llvm_stage ? GC_BACKEND_JIT : GC_BACKEND_INTERP;
    gc_error err = {0};
    char *source = NULL;
    int status = GC_EXIT_OK;
    gc_trainer *t = gc_model_options_trainer(&mo, &source, &err);
    if (!t) {
        status = gc_report_error(&err, source && !strcmp(err.file, mo.model_path) ? source : NULL);
    } else {
        bool predict = !strcmp(stage, "predict"), failed = false;
        char *text = predict ? predict_text(&mo, &err) : gc_trainer_ir(t, stage);
        if (!text && predict) {
            status = gc_report_error(&err, source && !strcmp(err.file, mo.model_path) ? source : NULL);
            failed = true;
        }
        if (text && dot && strcmp(stage, "fused.dot")) {
            /* An IR stage drawn: its text read back (the layers ride along), then drawn. */
            gc_graph *g = gc_graph_parse(text, strlen(text), stage, &err);
            free(text);
            text = g ? gc_graph_dot(g, dot_layers) : NULL;
            if (g && !text) gc_failf(&err, GC_ERR_MEMORY, "out of memory");
            gc_graph_free(g);
            if (!text) status = gc_report_error(&err, NULL), failed = true;
        }
        if (failed) {
        } else if (!text) {
            status = gc_usage_error("unknown stage '%s' (forward, grad, train, eval, predict%s)", stage,
                                    gc_backend_available(GC_BACKEND_JIT) ? ", fused, llvm, asm" : "");
        } else {
            FILE *out = out_path ? fopen(out_path, "w") : stdout;
            if (!out) status = gc_usage_error("cannot write %s", out_path);
            else {
                fputs(text, out);
                if (out != stdout && fclose(out) != 0) status = gc_usage_error("cannot write %s", out_path);
            }
            free(text);
        }
    }
    gc_trainer_free(t);
    gc_model_options_free(&mo);
    free(source);
    return status;
}
