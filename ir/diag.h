/*
 * diag.h: filling gc_error values, and source locations.
 *
 * Every stage reports failures by filling the caller's gc_error (defined in the public header) and
 * returning a failure value up the stack. GC_ASSERT is for internal invariants only: it reports
 * an internal error naming __FILE__:__LINE__ instead of aborting.
 */
#ifndef GC_IR_DIAG_H
#define GC_IR_DIAG_H

#include <gradc/gradc.h>

/* Where an op came from: the model-file (or IR-file) line that made it. file may be NULL. */
typedef struct gc_loc {
    const char *file;
    int line;
    int col;
} gc_loc;

#if defined(__GNUC__)
#define GC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define GC_PRINTF(a, b)
#endif

/* Sets err (if not NULL) and returns 0 so callers can write `return gc_fail(...)`. */
int gc_fail(gc_error *err, gc_error_code code, gc_loc loc, const char *fmt, ...) GC_PRINTF(4, 5);
/* Same without a location. */
int gc_failf(gc_error *err, gc_error_code code, const char *fmt, ...) GC_PRINTF(3, 4);
/* Prefixes an existing message with more context ("while loading x: ..."). */
void gc_error_prefix(gc_error *err, const char *fmt, ...) GC_PRINTF(2, 3);
void gc_error_clear(gc_error *err);

#define GC_ASSERT(cond, err)                                                                    \
    do {                                                                                        \
        if (!(cond))                                                                            \
            return gc_failf((err), GC_ERR_INTERNAL, "internal error: %s:%d: assertion '%s' failed", \
                            __FILE__, __LINE__, #cond);                                         \
    } while (0)

#endif
