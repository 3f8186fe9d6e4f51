/*
 * lower_onnx.c: onnx("file.onnx", x, ...) as NAME in a model file (docs/onnx.md). The file is read
 * relative to the model file, its graph lowered by frontend/onnx_import.c with the call's
 * arguments as the graph's inputs; params are the float initializers under their names, prefixed
 * by the call's name when it has `as` (or sits inside a def).
 */
#include "frontend/lower_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "frontend/onnx_import.h"

/* The last file read, kept decoded: a model is lowered twice (the training graph, then the eval
 * graph: frontend/lower.h), and reading and decoding the file is most of an import's cost (the
 * weights copied out of the protobuf). Keyed by path and the file's identity and modification
 * time, so an edited file is read again; gc_onnx_cache_clear (the trainer, once both graphs are
 * lowered) frees it. The mutex also keeps two threads from importing from it at once (the
 * importer allocates in the model's arena). */
static struct {
    pthread_mutex_t lock;
    char path[4096];
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    gc_onnx_model *model;
    long reads;
} cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

void gc_onnx_cache_clear(void) {
    pthread_mutex_lock(&cache.lock);
    gc_onnx_model_free(cache.model);
    cache.model = NULL;
    cache.path[0] = 0;
    pthread_mutex_unlock(&cache.lock);
}

long gc_onnx_cache_reads(void) {
    pthread_mutex_lock(&cache.lock);
    long n = cache.reads;
    pthread_mutex_unlock(&cache.lock);
    return n;
}

/* The decoded file at path, from the cache or read now; called with cache.lock held. */
static gc_onnx_model *cached_read(const char *path, gc_error *err) {
    struct stat st;
    bool known = stat(path, &st) == 0;
    if (known && cache.model && !strcmp(cache.path, path) && cache.dev == st.st_dev && cache.ino == st.st_ino &&
        cache.size == st.st_size && cache.mtime.tv_sec == st.st_mtim.tv_sec && cache.mtime.tv_nsec == st.st_mtim.tv_nsec)
        return cache.model;
    gc_onnx_model_free(cache.model);
    cache.model = NULL;
    cache.path[0] = 0;
    gc_onnx_model *m = gc_onnx_read_file(path, err);
    cache.reads++;
    if (!m || !known || strlen(path) >= sizeof cache.path) return m;
    snprintf(cache.path, sizeof cache.path, "%s", path);
    cache.dev = st.st_dev;
    cache.ino = st.st_ino;
    cache.size = st.st_size;
    cache.mtime = st.st_mtim;
    cache.model = m;
    return m;
}

static int import(lowerer *L, lower_args *a, const char *path, gc_onnx_model *m, lval *out);

int gc_lower_onnx(lowerer *L, lower_args *a, const char *path, lval *out) {
    const char *file = gc_lower_arg_str(a, 0);
    char full[4096];
    const char *slash = L->file ? strrchr(L->file, '/') : NULL;
    int dir = file[0] != '/' && slash ? (int)(slash - L->file + 1) : 0;
    if (snprintf(full, sizeof full, "%.*s%s", dir, dir ? L->file : "", file) >= (int)sizeof full)
        return gc_fail(L->err, GC_ERR_USER, gc_lower_arg_loc(a, 0), "onnx: path too long");
    gc_error read_err = {0};
    pthread_mutex_lock(&cache.lock);
    gc_onnx_model *m = cached_read(full, &read_err);
    int ok = m && import(L, a, path, m, out);
    /* A model that is not the cached one (unreadable identity, path too long) is this call's. */
    if (m && m != cache.model) gc_onnx_model_free(m);
    pthread_mutex_unlock(&cache.lock);
    if (!m) return gc_fail(L->err, read_err.code, gc_lower_arg_loc(a, 0), "onnx: %s", read_err.message);
    return ok;
}

static int import(lowerer *L, lower_args *a, const char *path, gc_onnx_model *m, lval *out) {
    gc_node *args[4];
    int nargs = 0;
    for (int i = 1; i <= 4; i++) {
        if (!a->slots[i] || a->vals[i].kind == LV_CONST) continue;
        if (!(args[nargs++] = gc_lower_arg_tensor(L, a, i, GC_F32))) return 0;
    }
    gc_onnx_import_options o = {0};
    const char *scope = L->scope && L->scope->prefix ? L->scope->prefix : "";
    o.prefix = a->call->call.as || *scope ? path : NULL;
    int nout = gc_onnx_num_outputs(m);
    gc_node **outs = gc_arena_alloc(L->scratch, sizeof *outs * (size_t)(nout + 1));
    lval *items = gc_arena_alloc(L->scratch, sizeof *items * (size_t)(nout + 1));
    if (!outs || !items) return gc_failf(L->err, GC_ERR_MEMORY, "out of memory while lowering");
    gc_lower_at(L, a->call->loc);
    if (!gc_onnx_import(&L->ctx, m, &o, args, nargs, outs, L->err)) return 0;
    if (nout == 1) {
        out->kind = LV_TENSOR;
        out->node = outs[0];
        return 1;
    }
    for (int k = 0; k < nout; k++) items[k] = (lval){.kind = LV_TENSOR, .node = outs[k]};
    out->kind = LV_TUPLE;
    out->items = items;
    out->n = nout;
    return 1;
}
