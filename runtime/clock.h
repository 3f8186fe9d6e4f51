/*
 * clock.h: the one monotonic clock runtime code and the commands time things with (pool part
 * times, kernel profiles, compile phases, step times).
 */
#ifndef GC_RUNTIME_CLOCK_H
#define GC_RUNTIME_CLOCK_H

#include <time.h>

/* Seconds since an arbitrary start, monotonic. */
static inline double gc_clock_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The same, in milliseconds. */
static inline double gc_clock_ms(void) { return 1e3 * gc_clock_seconds(); }

#endif
