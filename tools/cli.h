/*
 * cli.h: what the subcommands of the `gradc` command share. tools/ is the only place that prints
 * or exits: library calls return gc_error values, and report_error turns them into the
 * `file:line:col: error: ...` (or `gradc: error: ...`) line plus exit status 1 (user) or 2.
 */
#ifndef GC_TOOLS_CLI_H
#define GC_TOOLS_CLI_H

#include <stdio.h>

#include <gradc/gradc.h>

#include "codegen/codegen.h"

/* Exit statuses of every subcommand. */
enum { GC_EXIT_OK = 0, GC_EXIT_USER = 1, GC_EXIT_INTERNAL = 2 };

/* Each subcommand: argv[0] is the subcommand's name. Returns an exit status. */
typedef int (*gc_command_fn)(int argc, char **argv);

int gc_cmd_opt(int argc, char **argv);
int gc_cmd_run(int argc, char **argv);
int gc_cmd_train(int argc, char **argv);
int gc_cmd_check(int argc, char **argv);
int gc_cmd_ir(int argc, char **argv);
int gc_cmd_compile(int argc, char **argv);
int gc_cmd_eval(int argc, char **argv);
int gc_cmd_plot(int argc, char **argv);
int gc_cmd_sample(int argc, char **argv);
int gc_cmd_export(int argc, char **argv);
int gc_cmd_import(int argc, char **argv);
int gc_cmd_tune(int argc, char **argv);

/* Prints err to stderr; with `source` (the text of err->file) also the line and a caret.
 * Returns the exit status the error calls for. */
int gc_report_error(const gc_error *err, const char *source);
/* Prints `gradc: error: <message>` and returns GC_EXIT_USER. */
int gc_usage_error(const char *fmt, ...);
/* The JIT compile's phases and kernel counts (--verbose; tools/compile_report.c); nothing for a
 * backend that compiled nothing. */
void gc_print_codegen_times(FILE *out, const gc_codegen_times *times);
/* Reads a whole file ("-": standard input), malloc'd and NUL-terminated; NULL with err set. */
char *gc_read_file(const char *path, size_t *len, gc_error *err);

#endif
