/*
 * disk_cache.c: compiled kernels kept on disk between runs (docs/compile.md, "The kernel cache").
 *
 * An entry is one kernel's object file under a key that hashes everything its machine code
 * depends on: the kernel's LLVM IR before optimisation, the target CPU and its features, LLVM's
 * version and gradc's. A run that finds every kernel's entry hands the objects to the JIT's linker
 * and never runs LLVM's optimiser or code generator.
 *
 * An entry is never trusted: it carries its own key, its length and a checksum of the object,
 * and one that does not match them (truncated, corrupted, another file under that name) is a
 * miss, compiled again and overwritten. Entries are written to a temporary file in the same
 * directory and renamed over the final name, so a concurrent run reads a whole entry or none,
 * and two runs writing the same entry write the same bytes. A cache that cannot be created or
 * written is skipped silently: it only ever saves time.
 *
 * The cache is bounded ($GRADC_CACHE_MAX, 1 GiB by default): a hit refreshes its entry's mtime,
 * and a run that stored entries then removes the least recently used ones while the entries take
 * more than the bound (cg_cache_evict). Unlinking never breaks a concurrent reader: it holds its
 * own open file, and a run that looks later finds no entry and compiles the kernel again.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gradc/gradc.h>
#include <llvm-c/Core.h>

#include "codegen/cg.h"

#define MAGIC "GRADCKO1"
#define HEADER_BYTES 64 /* magic 8, key 32 hex, pad 8, length 8, checksum 8 */

/* MurmurHash64A (Austin Appleby, public domain): two seeds give the key's 128 bits. */
static uint64_t murmur64(const void *data, size_t len, uint64_t seed) {
    const uint64_t m = 0xc6a4a7935bd1e995ull;
    const int r = 47;
    uint64_t h = seed ^ (len * m);
    const unsigned char *p = data;
    size_t blocks = len / 8;
    for (size_t i = 0; i < blocks; i++) {
        uint64_t k;
        memcpy(&k, p + 8 * i, 8);
        k *= m;
        k ^= k >> r;
        k *= m;
        h ^= k;
        h *= m;
    }
    const unsigned char *tail = p + 8 * blocks;
    switch (len & 7) {
    case 7: h ^= (uint64_t)tail[6] << 48; /* fall through */
    case 6: h ^= (uint64_t)tail[5] << 40; /* fall through */
    case 5: h ^= (uint64_t)tail[4] << 32; /* fall through */
    case 4: h ^= (uint64_t)tail[3] << 24; /* fall through */
    case 3: h ^= (uint64_t)tail[2] << 16; /* fall through */
    case 2: h ^= (uint64_t)tail[1] << 8;  /* fall through */
    case 1: h ^= (uint64_t)tail[0]; h *= m;
    }
    h ^= h >> r;
    h *= m;
    h ^= h >> r;
    return h;
}

void cg_cache_key(const char *target, const char *ir, size_t ir_len, char hex[CG_CACHE_KEY_LEN + 1]) {
    uint64_t seeds[2] = {0x67726164632d6b31ull, 0x9e3779b97f4a7c15ull};
    size_t target_len = strlen(target);
    for (int i = 0; i < 2; i++) {
        uint64_t h = murmur64(target, target_len, seeds[i]);
        h = murmur64(ir, ir_len, h);
        snprintf(hex + 16 * i, 17, "%016llx", (unsigned long long)h);
    }
}

char *cg_cache_target(const char *cpu, const char *features) {
    unsigned major = 0, minor = 0, patch = 0;
    LLVMGetVersion(&major, &minor, &patch);
    size_t len = strlen(cpu) + strlen(features) + 96;
    char *s = malloc(len);
    if (s) snprintf(s, len, "gradc %s; llvm %u.%u.%u; cpu %s; features %s", GC_VERSION_STRING, major, minor, patch, cpu, features);
    return s;
}

/* mkdir -p: 1 when dir exists (or was made) as a directory. */
static int make_dirs(char *dir) {
    struct stat st;
    if (!stat(dir, &st)) return S_ISDIR(st.st_mode);
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        int ok = !mkdir(dir, 0755) || errno == EEXIST;
        *p = '/';
        if (!ok) return 0;
    }
    return (!mkdir(dir, 0755) || errno == EEXIST) && !stat(dir, &st) && S_ISDIR(st.st_mode);
}

int cg_cache_open(cg_disk_cache *c) {
    memset(c, 0, sizeof *c);
    const char *env = getenv("GRADC_CACHE_DIR"), *base = NULL, *tail = "";
    if (env && (!*env || !strcmp(env, "off") || !strcmp(env, "0"))) return 0;
    if (env) {
        base = env;
    } else if ((base = getenv("XDG_CACHE_HOME")) && *base == '/') {
        tail = "/gradc";
    } else if ((base = getenv("HOME")) && *base) {
        tail = "/.cache/gradc";
    } else {
        return 0;
    }
    int n = snprintf(c->dir, sizeof c->dir, "%s%s", base, tail);
    if (n <= 0 || (size_t)n >= sizeof c->dir - 64) return 0;
    while (n > 1 && c->dir[n - 1] == '/') c->dir[--n] = '\0';
    c->enabled = make_dirs(c->dir);
    const char *max = getenv("GRADC_CACHE_MAX");
    int64_t bound = max && *max ? cg_cache_parse_size(max) : -1;
    c->max_bytes = bound >= 0 ? bound : CG_CACHE_DEFAULT_MAX;
    return c->enabled;
}

int64_t cg_cache_parse_size(const char *text) {
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || errno || v < 0) return -1;
    double unit = 1;
    switch (*end) {
    case 'k': case 'K': unit = 1024.0; end++; break;
    case 'm': case 'M': unit = 1024.0 * 1024; end++; break;
    case 'g': case 'G': unit = 1024.0 * 1024 * 1024; end++; break;
    case 't': case 'T': unit = 1024.0 * 1024 * 1024 * 1024; end++; break;
    default: break;
    }
    if (*end == 'i' && unit > 1) end++;
    if (*end == 'B' || *end == 'b') end++;
    if (*end || v * unit > 9e18) return -1;
    return (int64_t)(v * unit);
}

static void entry_path(const cg_disk_cache *c, const char *key, char *path, size_t size) {
    snprintf(path, size, "%s/%s.o", c->dir, key);
}

static void put64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

int cg_cache_load(const cg_disk_cache *c, const char *key, char **object, size_t *len, bool *rejected) {
    *object = NULL;
    *len = 0;
    *rejected = false;
    if (!c->enabled) return 0;
    char path[sizeof c->dir + 64];
    entry_path(c, key, path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    unsigned char header[HEADER_BYTES];
    char *bytes = NULL;
    uint64_t size = 0;
    int ok = fread(header, 1, sizeof header, f) == sizeof header && !memcmp(header, MAGIC, 8) &&
             !memcmp(header + 8, key, CG_CACHE_KEY_LEN);
    if (ok) {
        size = get64(header + 48);
        ok = size > 0 && size < ((uint64_t)1 << 30) && (bytes = malloc((size_t)size));
    }
    ok = ok && fread(bytes, 1, (size_t)size, f) == size && fgetc(f) == EOF;
    ok = ok && murmur64(bytes, (size_t)size, 0x636865636b73756dull) == get64(header + 56);
    fclose(f);
    if (!ok) {
        free(bytes);
        *rejected = true;
        return 0;
    }
    *object = bytes;
    *len = (size_t)size;
    /* Least recently used goes first when the cache is over its bound: a hit is a use. */
    utimensat(AT_FDCWD, path, NULL, 0);
    return 1;
}

typedef struct cache_file {
    char name[CG_CACHE_KEY_LEN + 3];
    int64_t bytes;
    struct timespec mtime;
} cache_file;

static int older_first(const void *a, const void *b) {
    const cache_file *x = a, *y = b;
    if (x->mtime.tv_sec != y->mtime.tv_sec) return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
    if (x->mtime.tv_nsec != y->mtime.tv_nsec) return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
    return strcmp(x->name, y->name);
}

static bool is_entry_name(const char *name) {
    size_t n = strlen(name);
    if (n != CG_CACHE_KEY_LEN + 2 || strcmp(name + CG_CACHE_KEY_LEN, ".o")) return false;
    for (int i = 0; i < CG_CACHE_KEY_LEN; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f'))) return false;
    return true;
}

int cg_cache_evict(const cg_disk_cache *c) {
    if (!c->enabled || c->max_bytes <= 0) return 0;
    char path[sizeof c->dir + 320]; /* dir (at most 64 short of its size) + a file name */
    snprintf(path, sizeof path, "%s/.evict.lock", c->dir);
    int lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock < 0) return 0;
    if (flock(lock, LOCK_EX | LOCK_NB)) { /* another run is evicting */
        close(lock);
        return 0;
    }
    DIR *d = opendir(c->dir);
    cache_file *files = NULL;
    int n = 0, cap = 0, removed = 0;
    int64_t total = 0;
    time_t now = time(NULL);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", c->dir, e->d_name);
        if (strstr(e->d_name, ".o.tmp.")) {
            /* A temporary entry an hour old belongs to a writer that died. */
            if (!stat(path, &st) && S_ISREG(st.st_mode) && now - st.st_mtime > 3600 && !unlink(path)) removed++;
            continue;
        }
        if (!is_entry_name(e->d_name) || stat(path, &st) || !S_ISREG(st.st_mode)) continue;
        if (n == cap) {
            int grown = cap ? 2 * cap : 256;
            cache_file *more = realloc(files, sizeof *files * (size_t)grown);
            if (!more) break;
            files = more;
            cap = grown;
        }
        snprintf(files[n].name, sizeof files[n].name, "%s", e->d_name);
        files[n].bytes = (int64_t)st.st_size;
        files[n].mtime = st.st_mtim;
        total += files[n].bytes;
        n++;
    }
    if (d) closedir(d);
    if (total > c->max_bytes) {
        qsort(files, (size_t)n, sizeof *files, older_first);
        int64_t target = c->max_bytes / 10 * 9;
        for (int i = 0; i < n && total > target; i++) {
            snprintf(path, sizeof path, "%s/%s", c->dir, files[i].name);
            if (!unlink(path) || errno == ENOENT) {
                total -= files[i].bytes;
                removed++;
            }
        }
    }
    free(files);
    flock(lock, LOCK_UN);
    close(lock);
    return removed;
}

int cg_cache_store(const cg_disk_cache *c, const char *key, const char *object, size_t len) {
    if (!c->enabled) return 0;
    char path[sizeof c->dir + 64], tmp[sizeof c->dir + 96];
    entry_path(c, key, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld.XXXXXX", path, (long)getpid());
    int fd = mkstemp(tmp);
    if (fd < 0) return 0;
    unsigned char header[HEADER_BYTES] = {0};
    memcpy(header, MAGIC, 8);
    memcpy(header + 8, key, CG_CACHE_KEY_LEN);
    put64(header + 48, len);
    put64(header + 56, murmur64(object, len, 0x636865636b73756dull));
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        close(fd);
        unlink(tmp);
        return 0;
    }
    int ok = fwrite(header, 1, sizeof header, f) == sizeof header && fwrite(object, 1, len, f) == len;
    ok = !fclose(f) && ok;
    /* mkstemp makes the file 0600; entries are as readable as the directory. */
    ok = ok && !chmod(tmp, 0644) && !rename(tmp, path);
    if (!ok) unlink(tmp);
    return ok;
}
