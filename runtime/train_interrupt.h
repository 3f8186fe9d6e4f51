/*
 * train_interrupt.h: stopping a training run cleanly on SIGINT or SIGTERM.
 *
 * The first signal only sets a flag: the front end's loop reads it between steps, finishes the
 * step in flight, saves the checkpoint, completes the log row and exits with 128 + the signal.
 * A second signal ends the process at once (its default action). A signal the process inherited
 * as ignored (a background job of a script, nohup) stays ignored. The library never prints: the
 * front ends (tools/cmd_train.c, runtime/aot_main.c) report, with the command that resumes.
 */
#ifndef GC_RUNTIME_TRAIN_INTERRUPT_H
#define GC_RUNTIME_TRAIN_INTERRUPT_H

#include <stdint.h>

/* Installs the handlers for SIGINT and SIGTERM (once per process; later calls re-arm the flag). */
void gc_train_interrupt_install(void);

/* 0 while no signal came, else the first signal's number (SIGINT or SIGTERM). */
int gc_train_interrupted(void);

/* Puts back the handlers that were there before gc_train_interrupt_install. */
void gc_train_interrupt_uninstall(void);

/* The command that continues an interrupted run: argv[0 .. argc) with --resume, --init, --steps
 * and --epochs (and their values) left out, then `--resume CHECKPOINT --steps REMAINING` (and
 * `--save CHECKPOINT` when add_save: a run without --save saved its interruption there, and the
 * continued run keeps its checkpoint there), each word quoted for a POSIX shell where needed.
 * The caller frees it; NULL when out of memory. */
char *gc_train_resume_command(int argc, char *const *argv, const char *checkpoint, int add_save, int64_t remaining);

/* Where an interrupted run without --save writes its checkpoint: interrupted.safetensors in the
 * directory of the log (the working directory without a log). The caller frees it. */
char *gc_train_interrupt_path(const char *log_path);

#endif
