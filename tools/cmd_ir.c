/*
 * cmd_ir.c: `gradc ir MODEL.gm [--stage STAGE] [-o FILE]` — prints the program at a stage of the
 * pipeline: forward (lowered), grad (after autodiff), train (the whole optimised step), eval, and
 * the backend's own stages (fused, llvm, asm) when it has them. Every IR stage parses back with
 * `gradc opt`; fused is the train stage with each node's kernel as a trailing comment, and
 * `--format dot` draws it for Graphviz with kernels as clusters.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/cli.h"
#include "tools/model_options.h"

static void usage(FILE *out) {
    fprintf(out, "usage: gradc ir MODEL.gm [--stage forward|grad|train|eval|fused|llvm|asm] [--format text|dot]\n"
                 "                [--set NAME=VALUE]... [-o FILE]\n\n"
                 "Prints the model at a stage of the pipeline (default: train, the whole training step).\n"
                 "fused shows the JIT's kernels (`# kernel R` after each node); --format dot draws them.\n");
}

int gc_cmd_ir(int argc, char **argv) {
    gc_model_options mo;
    gc_model_options_init(&mo);
    const char *stage = "train", *out_path = NULL, *format = "text";
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
    if (!strcmp(format, "dot") && strcmp(stage, "fused"))
        return gc_usage_error("ir: --format dot draws the fused stage (--stage fused)");
    if (!strcmp(format, "dot")) stage = "fused.dot";
    int llvm_stage = !strcmp(stage, "llvm") || !strcmp(stage, "asm") || !strncmp(stage, "fused", 5);
    if (!mo.backend_given) mo.options.backend = llvm_stage ? GC_BACKEND_JIT : GC_BACKEND_INTERP;
    gc_error err = {0};
    char *source = NULL;
    int status = GC_EXIT_OK;
    gc_trainer *t = gc_model_options_trainer(&mo, &source, &err);
    if (!t) {
        status = gc_report_error(&err, source && !strcmp(err.file, mo.model_path) ? source : NULL);
    } else {
        char *text = gc_trainer_ir(t, stage);
        if (!text) {
            status = gc_usage_error("unknown stage '%s' (forward, grad, train, eval%s)", stage,
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
