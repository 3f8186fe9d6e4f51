/* cpu_caches.c: cache sizes from sysfs or CPUID, and the GEMM blocking they give; see cpu_caches.h. */
#include "runtime/cpu_caches.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define GC_HAVE_CPUID 1
#else
#define GC_HAVE_CPUID 0
#endif

#define KIB 1024LL
#define MIB (1024LL * 1024LL)

/* How many CPUs a sysfs CPU list ("0-3,8") names. */
static int64_t cpu_list_count(const char *s) {
    int64_t count = 0;
    while (*s) {
        char *end;
        long a = strtol(s, &end, 10);
        if (end == s) break;
        long b = a;
        if (*end == '-') b = strtol(end + 1, &end, 10);
        count += b >= a ? b - a + 1 : 1;
        s = *end == ',' ? end + 1 : end;
        if (*s == '\n') break;
    }
    return count;
}

static bool read_line(const char *path, char *buf, size_t size) {
    FILE *f = fopen(path, "r");
    if (!f) return false;
    bool ok = fgets(buf, (int)size, f) != NULL;
    fclose(f);
    return ok;
}

static bool from_sysfs(gc_cpu_caches *c) {
    bool any = false;
    for (int i = 0; i < 16; i++) {
        char path[128], level[16], type[32], size[32], shared[256];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
        if (!read_line(path, level, sizeof level)) break;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/type", i);
        if (!read_line(path, type, sizeof type) || !strncmp(type, "Instruction", 11)) continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        if (!read_line(path, size, sizeof size)) continue;
        char *unit;
        int64_t bytes = strtoll(size, &unit, 10);
        if (*unit == 'K') bytes *= KIB;
        else if (*unit == 'M') bytes *= MIB;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/shared_cpu_list", i);
        int64_t sharing = read_line(path, shared, sizeof shared) ? cpu_list_count(shared) : 1;
        if (sharing < 1) sharing = 1;
        if (bytes <= 0) continue;
        switch (atoi(level)) {
        case 1: c->l1d = bytes; break;
        case 2: c->l2 = bytes; break;
        case 3: c->l3_per_core = bytes / sharing; break;
        default: break;
        }
        any = true;
    }
    return any && c->l1d > 0 && c->l2 > 0;
}

#if GC_HAVE_CPUID
/* The deterministic cache parameters leaves: Intel's 4, AMD's 0x8000001D (same layout). */
static bool from_cpuid_leaf(gc_cpu_caches *c, unsigned leaf) {
    unsigned a, b, cx, d;
    unsigned max = leaf >= 0x80000000u ? __get_cpuid_max(0x80000000u, NULL) : __get_cpuid_max(0, NULL);
    if (max < leaf) return false;
    bool any = false;
    for (unsigned i = 0; i < 16; i++) {
        __cpuid_count(leaf, i, a, b, cx, d);
        unsigned type = a & 31, level = (a >> 5) & 7;
        if (type == 0) break;
        if (type == 2) continue; /* instructions */
        int64_t bytes = (int64_t)(((b >> 22) & 0x3ff) + 1) * (((b >> 12) & 0x3ff) + 1) * ((b & 0xfff) + 1) * ((int64_t)cx + 1);
        int64_t sharing = ((a >> 14) & 0xfff) + 1;
        if (level == 1) c->l1d = bytes;
        else if (level == 2) c->l2 = bytes;
        else if (level == 3) c->l3_per_core = bytes / sharing;
        any = true;
    }
    return any && c->l1d > 0 && c->l2 > 0;
}

/* AMD's older leaves: L1d in 0x80000005 ECX[31:24] KiB, L2 in 0x80000006 ECX[31:16] KiB, L3 in
 * EDX[31:18] x 512 KiB (for the whole processor: not per core). */
static bool from_cpuid_amd_legacy(gc_cpu_caches *c) {
    unsigned a, b, cx, d;
    if (__get_cpuid_max(0x80000000u, NULL) < 0x80000006u) return false;
    __cpuid(0x80000005u, a, b, cx, d);
    int64_t l1 = (int64_t)(cx >> 24) * KIB;
    __cpuid(0x80000006u, a, b, cx, d);
    int64_t l2 = (int64_t)(cx >> 16) * KIB, l3 = (int64_t)(d >> 18) * 512 * KIB;
    if (l1 <= 0 || l2 <= 0) return false;
    c->l1d = l1;
    c->l2 = l2;
    c->l3_per_core = 0; /* shared by an unknown number of cores */
    (void)l3;
    return true;
}
#endif

static gc_cpu_caches found;
static pthread_once_t found_once = PTHREAD_ONCE_INIT;

static void find(void) {
    gc_cpu_caches c = {0};
    if (from_sysfs(&c)) {
        c.source = "sysfs";
    } else {
        c = (gc_cpu_caches){0};
#if GC_HAVE_CPUID
        if (from_cpuid_leaf(&c, 4) || ((c = (gc_cpu_caches){0}), from_cpuid_leaf(&c, 0x8000001Du)) ||
            ((c = (gc_cpu_caches){0}), from_cpuid_amd_legacy(&c)))
            c.source = "cpuid";
#endif
    }
    if (!c.source) c = (gc_cpu_caches){48 * KIB, 1 * MIB, 2 * MIB, "default"};
    found = c;
}

const gc_cpu_caches *gc_cpu_caches_get(void) {
    pthread_once(&found_once, find);
    return &found;
}

static int64_t clamp(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

gc_gemm_blocking gc_gemm_blocking_from(const gc_cpu_caches *caches, int mr, int nr, int elem_bytes) {
    gc_gemm_blocking g;
    /* Sanity bounds: a VM may report nonsense (a 508 MiB L3, a 0 B L2). */
    int64_t l1 = clamp(caches->l1d, 16 * KIB, 256 * KIB), l2 = clamp(caches->l2, 256 * KIB, 8 * MIB);
    g.kc = clamp(l1 / ((int64_t)nr * elem_bytes) / 16 * 16, 128, 1024);
    g.mc = clamp(l2 / 2 / (g.kc * elem_bytes) / mr * mr, 4 * (int64_t)mr, 2048 / mr * mr);
    int64_t l3 = caches->l3_per_core > 0 ? caches->l3_per_core : 4 * MIB;
    g.nc = clamp(l3 / 2 / (g.kc * elem_bytes) / nr * nr, 1024 / nr * nr, 4096 / nr * nr);
    return g;
}

gc_gemm_blocking gc_gemm_blocking_round(gc_gemm_blocking b, int mr, int nr) {
    b.kc = clamp((b.kc + 15) / 16 * 16, 16, 4096);
    b.mc = clamp((b.mc + mr - 1) / mr * mr, mr, 8192);
    b.nc = clamp((b.nc + nr - 1) / nr * nr, nr, 16384);
    return b;
}

bool gc_gemm_blocking_parse(const char *s, gc_gemm_blocking *b) {
    long long mc, kc, nc;
    char tail;
    int n = s ? sscanf(s, "%lld,%lld,%lld%c", &mc, &kc, &nc, &tail) : 0;
    if (!(n == 3 || (n == 4 && (tail == '\n' || tail == ' '))) || mc <= 0 || kc <= 0 || nc <= 0) return false;
    *b = (gc_gemm_blocking){mc, kc, nc};
    return true;
}

static char model_key[64] = "unknown";
static pthread_once_t model_once = PTHREAD_ONCE_INIT;

static void find_model(void) {
#if GC_HAVE_CPUID
    unsigned a, b, c, d;
    if (__get_cpuid_max(0, NULL) < 1) return;
    __cpuid(0, a, b, c, d);
    char vendor[13];
    memcpy(vendor, &b, 4);
    memcpy(vendor + 4, &d, 4);
    memcpy(vendor + 8, &c, 4);
    vendor[12] = '\0';
    for (int i = 0; i < 12; i++)
        if (!((vendor[i] >= 'A' && vendor[i] <= 'Z') || (vendor[i] >= 'a' && vendor[i] <= 'z'))) vendor[i] = '_';
    __cpuid(1, a, b, c, d);
    unsigned family = (a >> 8) & 15, model = (a >> 4) & 15;
    if (family == 15) family += (a >> 20) & 255;
    if (family == 6 || family >= 15) model |= ((a >> 16) & 15) << 4;
    snprintf(model_key, sizeof model_key, "%s-%u-%u-%u", vendor, family, model, a & 15);
#endif
}

const char *gc_cpu_model_key(void) {
    pthread_once(&model_once, find_model);
    return model_key;
}

bool gc_gemm_tune_path(char *path, size_t size) {
    const char *env = getenv("GRADC_TUNE_FILE");
    if (env) {
        if (!*env || !strcmp(env, "off")) return false;
        int n = snprintf(path, size, "%s", env);
        return n > 0 && (size_t)n < size;
    }
    const char *dir = getenv("GRADC_CACHE_DIR"), *base = NULL, *tail = "";
    if (dir && (!*dir || !strcmp(dir, "off") || !strcmp(dir, "0"))) return false;
    if (dir) base = dir;
    else if ((base = getenv("XDG_CACHE_HOME")) && *base == '/') tail = "/gradc";
    else if ((base = getenv("HOME")) && *base) tail = "/.cache/gradc";
    else return false;
    int n = snprintf(path, size, "%s%s/gemm-%s.tune", base, tail, gc_cpu_model_key());
    return n > 0 && (size_t)n < size;
}

bool gc_gemm_tune_read(const char *path, gc_gemm_blocking *b) {
    char line[128];
    return read_line(path, line, sizeof line) && gc_gemm_blocking_parse(line, b);
}

gc_gemm_blocking gc_gemm_blocking_for(int mr, int nr, int elem_bytes) {
    gc_gemm_blocking g = gc_gemm_blocking_from(gc_cpu_caches_get(), mr, nr, elem_bytes), chosen;
    char path[1024];
    if (gc_gemm_tune_path(path, sizeof path) && gc_gemm_tune_read(path, &chosen))
        g = gc_gemm_blocking_round(chosen, mr, nr);
    if (gc_gemm_blocking_parse(getenv("GRADC_GEMM_BLOCKING"), &chosen)) g = gc_gemm_blocking_round(chosen, mr, nr);
    return g;
}
