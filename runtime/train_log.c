/* train_log.c: a training run's CSV log, continued on resume; see train_log.h. */
#include "runtime/train_log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "ir/diag.h"

bool gc_train_log_open(gc_train_log *log, const char *path, bool resumed, int64_t start, gc_error *err) {
    *log = (gc_train_log){.path = path};
    log->file = resumed ? fopen(path, "r+") : NULL;
    if (!log->file) {
        if (!(log->file = fopen(path, "w")))
            return gc_failf(err, GC_ERR_IO, "cannot write the log %s: %s", path, strerror(errno)), false;
        return true;
    }
    log->continued = true;
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    long keep = 0;
    bool fine = true;
    while ((got = getline(&line, &cap, log->file)) > 0 && line[got - 1] == '\n') {
        if (!log->previous) {
            if (!(log->previous = strdup(line))) {
                fine = false;
                break;
            }
            log->previous[strcspn(log->previous, "\r\n")] = 0;
        } else {
            char *end;
            long long step = strtoll(line, &end, 10);
            if (end == line || *end != ',' || step > start) break;
        }
        keep += (long)got;
    }
    free(line);
    if (!fine || ferror(log->file)) {
        int error = errno;
        fclose(log->file);
        free(log->previous);
        *log = (gc_train_log){0};
        return fine ? gc_failf(err, GC_ERR_IO, "cannot read the log %s: %s", path, strerror(error)), false
                    : gc_failf(err, GC_ERR_MEMORY, "out of memory reading the log %s", path), false;
    }
    log->keep = log->previous ? keep : 0; /* empty, or not even a whole header: a new log */
    return true;
}

bool gc_train_log_begin(gc_train_log *log, const char *header, gc_error *err) {
    if (!log->file || log->begun) return true;
    if (log->previous && strcmp(log->previous, header))
        return gc_failf(err, GC_ERR_USER,
                        "the log %s has the columns %s, and this run's are %s: give another --log to "
                        "continue from this checkpoint",
                        log->path, log->previous, header),
               false;
    if (log->continued && (fflush(log->file) != 0 || ftruncate(fileno(log->file), log->keep) != 0 ||
                           fseek(log->file, 0, SEEK_END) != 0))
        return gc_failf(err, GC_ERR_IO, "cannot write the log %s: %s", log->path, strerror(errno)), false;
    if (!log->previous) fprintf(log->file, "%s\n", header);
    log->begun = true;
    return true;
}

bool gc_train_log_close(gc_train_log *log, gc_error *err) {
    bool fine = true;
    if (log->file) {
        bool failed = ferror(log->file);
        if (fclose(log->file) != 0 || failed) {
            gc_failf(err, GC_ERR_IO, "cannot write the log %s", log->path);
            fine = false;
        }
    }
    free(log->previous);
    *log = (gc_train_log){0};
    return fine;
}
