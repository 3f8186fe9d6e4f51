/*
 * train_log.h: the CSV log of a training run (`gradc train --log`, a standalone trainer's
 * `--log`): a header of columns, then a row per step, which the caller writes to `file`.
 *
 * A run rewrites its log, except a run resumed from a checkpoint at step s: it continues the log
 * it finds, as one run's log. The rows up to step s stay; later rows (a run that went on past its
 * last save) and a last row cut short without its newline are dropped, to be logged again. Until
 * the run's header is known and matches the log's, the file is not touched, so a log with other
 * columns is refused whole (GC_ERR_USER) rather than half rewritten.
 */
#ifndef GC_RUNTIME_TRAIN_LOG_H
#define GC_RUNTIME_TRAIN_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <gradc/gradc.h>

typedef struct gc_train_log {
    FILE *file;      /* rows go here once gc_train_log_begin succeeded */
    const char *path;
    char *previous;  /* the continued log's header, without its newline; NULL for a new log */
    long keep;       /* bytes of the continued log that stay */
    bool continued;  /* opened to continue, cut to `keep` bytes by gc_train_log_begin */
    bool begun;
} gc_train_log;

/* Opens path for the log of a run that starts at step `start`: a new file, or when `resumed` and
 * the file exists, that file to continue. Errors: GC_ERR_IO. */
bool gc_train_log_open(gc_train_log *log, const char *path, bool resumed, int64_t start, gc_error *err);

/* Writes the header (the column names, comma-separated, no newline), or checks it against the
 * continued log's and cuts that log to its kept rows. Once only; later calls succeed at once.
 * Errors: GC_ERR_USER (other columns than the continued log's), GC_ERR_IO. */
bool gc_train_log_begin(gc_train_log *log, const char *header, gc_error *err);

/* Closes the file (when open) and frees what the log holds. Errors: GC_ERR_IO (a write failed). */
bool gc_train_log_close(gc_train_log *log, gc_error *err);

#endif
