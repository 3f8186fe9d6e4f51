/*
 * replay_main.c: the test suite's driver for a fuzz target, without libFuzzer: runs
 * LLVMFuzzerTestOneInput on every file named on the command line (directories: every file in
 * them), so every corpus input and past finding is replayed by a normal build. A crash, a
 * sanitizer report or a hang fails the test; each input is printed first so the culprit shows.
 */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>

#include "fuzz_common.h"

static int replay_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return 0;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            uint8_t *grown = realloc(buf, cap *= 2);
            if (!grown) free(buf);
            buf = grown;
        }
    }
    fclose(f);
    if (!buf) return 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    LLVMFuzzerTestOneInput(buf, len);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double seconds = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%-60s %8zu bytes %7.3f s\n", path, len, seconds);
    fflush(stdout);
    free(buf);
    return 1;
}

static int compare_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int replay_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return replay_file(dir);
    char **names = NULL;
    int count = 0, cap = 0, ok = 1;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (count == cap) {
            cap = cap ? cap * 2 : 64;
            char **grown = realloc(names, (size_t)cap * sizeof *names);
            if (!grown) break;
            names = grown;
        }
        size_t size = strlen(dir) + strlen(e->d_name) + 2;
        names[count] = malloc(size);
        if (!names[count]) break;
        snprintf(names[count++], size, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    if (count) qsort(names, (size_t)count, sizeof *names, compare_names);
    for (int i = 0; i < count; i++) {
        struct stat st;
        if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) ok &= replay_file(names[i]);
        free(names[i]);
    }
    free(names);
    return ok;
}

int main(int argc, char **argv) {
    int ok = 1;
    for (int i = 1; i < argc; i++) ok &= replay_dir(argv[i]);
    return ok ? 0 : 1;
}
