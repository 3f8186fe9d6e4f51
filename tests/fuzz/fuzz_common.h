/*
 * fuzz_common.h: what the fuzz targets share. Each target defines LLVMFuzzerTestOneInput; the
 * same source links either with libFuzzer (scripts/fuzz.sh, clang -fsanitize=fuzzer) or with
 * replay_main.c (the test suite, any compiler), which feeds it every file of the corpus.
 */
#ifndef GC_FUZZ_COMMON_H
#define GC_FUZZ_COMMON_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The bytes as a NUL-terminated malloc'd string (NUL bytes inside stay: readers get len too). */
static inline char *gc_fuzz_text(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return NULL;
    if (size) memcpy(text, data, size);
    text[size] = '\0';
    return text;
}

/* The bytes written to a fresh temporary file, for readers that only take a path; the path is
 * written to `path` (at least 64 bytes). Returns 1, or 0 when the file cannot be made. */
static inline int gc_fuzz_temp_file(const uint8_t *data, size_t size, char *path) {
    const char *dir = getenv("TMPDIR");
    snprintf(path, 64, "%s/gcfuzzXXXXXX", dir && strlen(dir) < 40 ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) return 0;
    size_t done = 0;
    while (done < size) {
        ssize_t n = write(fd, data + done, size - done);
        if (n <= 0) break;
        done += (size_t)n;
    }
    close(fd);
    return done == size;
}
#endif
