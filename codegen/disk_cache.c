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
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
    return c->enabled;
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
    return 1;
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
