/*
 * cmd_tune.c: `gradc tune`, which measures a few blockings of gradc's GEMM on this machine and
 * keeps the fastest for its CPU model (docs/cli.md, "gradc tune").
 *
 * The blocking otherwise comes from the cache sizes (runtime/cpu_caches.h), which are a model of
 * the machine, not a measurement. The candidates are that blocking, and KC at 256 and 512 with MC
 * filling half of L2 or a quarter of it; each runs the same transformer- and MLP-sized products on
 * this thread, alternated round by round, timed in the thread's CPU time (so other processes
 * cost little but cache space), and the lowest median wins. The choice goes to the file
 * gc_gemm_tune_path names, which gc_gemm_blocking_for reads at the first product of every later
 * run; a checkpoint records the blocking its run used, so a resumed run keeps its own.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "runtime/cpu_caches.h"
#include "runtime/gemm.h"
#include "tools/cli.h"

#define MAX_CANDIDATES 8
#define MAX_ROUNDS 101

typedef struct shape {
    int m, n, k;
    bool ta, tb;
} shape;

/* M1- to M3-sized products, every transpose the training step uses. */
static const shape shapes[] = {
    {1024, 1024, 1024, false, false}, {1024, 768, 768, false, true}, {768, 1024, 1024, true, false},
    {256, 3072, 768, false, false},   {128, 1024, 784, false, true},
};
#define NUM_SHAPES (int)(sizeof shapes / sizeof shapes[0])

static double thread_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void add_candidate(gc_gemm_blocking *list, int *count, gc_gemm_blocking b) {
    b = gc_gemm_blocking_round(b, 12, 32);
    for (int i = 0; i < *count; i++)
        if (list[i].mc == b.mc && list[i].kc == b.kc && list[i].nc == b.nc) return;
    if (*count < MAX_CANDIDATES) list[(*count)++] = b;
}

/* mkdir -p of the directory part of path. */
static bool make_parent(const char *path) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) return true;
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(dir, 0755) != 0 && errno != EEXIST) return false;
        *p = '/';
    }
    return mkdir(dir, 0755) == 0 || errno == EEXIST;
}

static void usage(FILE *out) {
    fprintf(out, "usage: gradc tune [--rounds N] [--dry-run] [--reset]\n"
                 "  measures a few blockings of gradc's GEMM on this thread and keeps the fastest for\n"
                 "  this CPU model in gradc's cache directory (GRADC_TUNE_FILE names another file)\n"
                 "  --rounds N   rounds of every candidate, alternated (default 5)\n"
                 "  --dry-run    measure and print, write nothing\n"
                 "  --reset      remove the file: the blocking comes from the cache sizes again\n");
}

int gc_cmd_tune(int argc, char **argv) {
    int rounds = 5;
    bool dry = false, reset = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return GC_EXIT_OK;
        } else if (!strcmp(a, "--dry-run")) {
            dry = true;
        } else if (!strcmp(a, "--reset")) {
            reset = true;
        } else if (!strcmp(a, "--rounds") || !strncmp(a, "--rounds=", 9)) {
            const char *v = a[8] == '=' ? a + 9 : i + 1 < argc ? argv[++i] : NULL;
            char *end = NULL;
            long r = v ? strtol(v, &end, 10) : 0;
            if (!v || *end || r < 1 || r > MAX_ROUNDS) return gc_usage_error("--rounds needs a count from 1 to %d", MAX_ROUNDS);
            rounds = (int)r;
        } else {
            usage(stderr);
            return gc_usage_error("tune: unknown argument '%s'", a);
        }
    }
    char path[1024];
    bool have_path = gc_gemm_tune_path(path, sizeof path);
    if (reset) {
        if (!have_path) return gc_usage_error("tune: no tuning file (GRADC_TUNE_FILE or the cache directory is off)");
        if (remove(path) != 0 && errno != ENOENT) return gc_usage_error("tune: cannot remove %s: %s", path, strerror(errno));
        printf("removed %s: the blocking comes from the cache sizes\n", path);
        return GC_EXIT_OK;
    }
    if (!gc_sgemm_uses_own()) {
        printf("gradc's GEMM does not run here (no AVX-512, or GRADC_GEMM=openblas): products go to OpenBLAS, "
               "nothing to tune\n");
        return GC_EXIT_OK;
    }

    const gc_cpu_caches *caches = gc_cpu_caches_get();
    gc_gemm_blocking base = gc_gemm_blocking_from(caches, 12, 32, (int)sizeof(float)), candidates[MAX_CANDIDATES];
    int count = 0;
    add_candidate(candidates, &count, base);
    const int64_t kcs[2] = {256, 512};
    for (int i = 0; i < 2; i++) {
        int64_t half_l2 = caches->l2 / 2 / (kcs[i] * (int64_t)sizeof(float));
        add_candidate(candidates, &count, (gc_gemm_blocking){half_l2, kcs[i], base.nc});
        add_candidate(candidates, &count, (gc_gemm_blocking){half_l2 / 2, kcs[i], base.nc});
    }
    add_candidate(candidates, &count, (gc_gemm_blocking){base.mc / 2, base.kc, base.nc});

    /* Operands of the largest shape, reused by all (values in [-1, 1)). */
    size_t most = 0;
    for (int s = 0; s < NUM_SHAPES; s++) {
        size_t a = (size_t)shapes[s].m * shapes[s].k, b = (size_t)shapes[s].k * shapes[s].n, c = (size_t)shapes[s].m * shapes[s].n;
        most = a > most ? a : most;
        most = b > most ? b : most;
        most = c > most ? c : most;
    }
    float *a = malloc(most * sizeof *a), *b = malloc(most * sizeof *b), *c = malloc(most * sizeof *c);
    if (!a || !b || !c) {
        free(a), free(b), free(c);
        return gc_usage_error("tune: out of memory");
    }
    for (size_t i = 0; i < most; i++) {
        a[i] = (float)((i * 7919) % 2001) / 1000.0f - 1.0f;
        b[i] = (float)((i * 104729) % 2001) / 1000.0f - 1.0f;
    }
    double flop = 0;
    for (int s = 0; s < NUM_SHAPES; s++) flop += 2.0 * shapes[s].m * shapes[s].n * shapes[s].k;

    gc_gemm_blocking before = gc_sgemm_blocking();
    static double seconds[MAX_CANDIDATES][MAX_ROUNDS];
    bool ok = true;
    for (int r = -1; r < rounds && ok; r++) /* round -1 warms the caches and the buffers up */
        for (int i = 0; i < count && ok; i++) {
            gc_sgemm_set_blocking(candidates[i]);
            double t0 = thread_seconds();
            for (int s = 0; s < NUM_SHAPES && ok; s++) {
                const shape *p = &shapes[s];
                ok = gc_sgemm_own(101, p->ta ? 112 : 111, p->tb ? 112 : 111, p->m, p->n, p->k, 1.0f, a,
                                  p->ta ? p->m : p->k, b, p->tb ? p->k : p->n, 0.0f, c, p->n);
            }
            if (r >= 0) seconds[i][r] = thread_seconds() - t0;
        }
    gc_sgemm_set_blocking(before);
    free(a), free(b), free(c);
    if (!ok) return gc_usage_error("tune: gradc's GEMM could not allocate its packing buffers");

    printf("CPU %s, caches L1d %lld KiB, L2 %lld KiB (%s); %d products, %d rounds, one thread\n\n", gc_cpu_model_key(),
           (long long)(caches->l1d / 1024), (long long)(caches->l2 / 1024), caches->source, NUM_SHAPES, rounds);
    printf("   MC    KC    NC   GFLOP per CPU-second (median)\n");
    int best = 0;
    double rate[MAX_CANDIDATES];
    for (int i = 0; i < count; i++) {
        qsort(seconds[i], (size_t)rounds, sizeof seconds[i][0], compare_doubles);
        rate[i] = flop / seconds[i][rounds / 2] / 1e9;
        if (rate[i] > rate[best]) best = i;
        printf("%5lld %5lld %5lld   %6.1f%s\n", (long long)candidates[i].mc, (long long)candidates[i].kc,
               (long long)candidates[i].nc, rate[i], i == 0 ? "  (from the cache sizes)" : "");
    }
    gc_gemm_blocking pick = candidates[best];
    printf("\nfastest: MC %lld, KC %lld, NC %lld (%.1f GFLOP/s, %+.1f%% over the cache sizes' blocking)\n",
           (long long)pick.mc, (long long)pick.kc, (long long)pick.nc, rate[best], 100.0 * (rate[best] / rate[0] - 1.0));
    if (getenv("GRADC_GEMM_BLOCKING"))
        printf("note: GRADC_GEMM_BLOCKING is set, and overrides the tuned choice while it is\n");
    if (dry) return GC_EXIT_OK;
    if (!have_path) return gc_usage_error("tune: nowhere to keep the choice (GRADC_TUNE_FILE or the cache directory is off)");
    FILE *f = make_parent(path) ? fopen(path, "w") : NULL;
    if (!f) return gc_usage_error("tune: cannot write %s: %s", path, strerror(errno));
    fprintf(f, "%lld,%lld,%lld\n# gradc tune: MC,KC,NC of gradc's f32 GEMM on %s, %.1f GFLOP per CPU-second\n",
            (long long)pick.mc, (long long)pick.kc, (long long)pick.nc, gc_cpu_model_key(), rate[best]);
    if (fclose(f) != 0) return gc_usage_error("tune: cannot write %s: %s", path, strerror(errno));
    printf("kept in %s\n", path);
    return GC_EXIT_OK;
}
