/*
 * onnx_read.c: ONNX files through protobuf-c (see onnx_read.h).
 *
 * protobuf-c checks the wire format; what it cannot know is checked here before anything is
 * trusted: tensor dims are non-negative and their product bounded, raw data holds exactly the
 * bytes the dims say, external data stays inside the model's folder and inside its file.
 */
#include "frontend/onnx_read.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"

/* A model or tensor file larger than this is refused (external data is read separately). */
#define MAX_FILE_BYTES ((size_t)1 << 31)

struct gc_onnx_model {
    gc_arena *arena;
    Onnx__ModelProto *proto;
    const char *path;
    int opset;
    gc_onnx_tensor *inits;
    int num_inits;
};

bool gc_onnx_is_float(int t) { return t == GC_ONNX_FLOAT || t == GC_ONNX_DOUBLE; }

const char *gc_onnx_type_name(int t) {
    static const char *names[] = {"UNDEFINED", "FLOAT",  "UINT8",   "INT8",   "UINT16", "INT16",
                                  "INT32",     "INT64",  "STRING",  "BOOL",   "FLOAT16", "DOUBLE",
                                  "UINT32",    "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16"};
    return t >= 0 && t < (int)(sizeof names / sizeof *names) ? names[t] : "an unknown type";
}

static size_t elem_size(int t) {
    switch (t) {
    case GC_ONNX_FLOAT: case GC_ONNX_INT32: return 4;
    case GC_ONNX_DOUBLE: case GC_ONNX_INT64: return 8;
    case GC_ONNX_UINT8: case GC_ONNX_INT8: case GC_ONNX_BOOL: return 1;
    case GC_ONNX_UINT16: case GC_ONNX_INT16: return 2;
    default: return 0;
    }
}

static char *read_whole(const char *path, size_t *len, gc_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return gc_failf(err, GC_ERR_IO, "%s: cannot open: %s", path, strerror(errno)), NULL;
    /* One allocation of the file's size when it is known (a 45 MB ResNet is read without copies). */
    size_t cap = 1 << 16, n = 0;
    if (fseeko(f, 0, SEEK_END) == 0) {
        off_t size = ftello(f);
        if (size >= 0 && (size_t)size < MAX_FILE_BYTES) cap = (size_t)size + 1;
        rewind(f);
    }
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        if (cap >= MAX_FILE_BYTES) {
            free(buf), fclose(f);
            return gc_failf(err, GC_ERR_USER, "%s: larger than 2 GB (store big tensors as external data)", path), NULL;
        }
        char *grown = realloc(buf, cap * 2);
        if (!grown) free(buf);
        buf = grown, cap *= 2;
    }
    bool bad = buf && ferror(f);
    fclose(f);
    if (!buf) return gc_failf(err, GC_ERR_MEMORY, "%s: out of memory", path), NULL;
    if (bad) return free(buf), gc_failf(err, GC_ERR_IO, "%s: read error", path), NULL;
    *len = n;
    return buf;
}

/* Reads `length` bytes at `offset` of an external data file named relative to the model. */
static int read_external(const Onnx__TensorProto *t, const char *model_path, const char *what, size_t want,
                         uint8_t *out, gc_error *err) {
    const char *location = NULL;
    int64_t offset = 0, length = -1;
    for (size_t k = 0; k < t->n_external_data; k++) {
        const Onnx__StringStringEntryProto *e = t->external_data[k];
        if (!e->key || !e->value) continue;
        char *end;
        if (!strcmp(e->key, "location")) location = e->value;
        else if (!strcmp(e->key, "offset") || !strcmp(e->key, "length")) {
            errno = 0;
            long long v = strtoll(e->value, &end, 10);
            if (errno || *end || v < 0)
                return gc_failf(err, GC_ERR_USER, "%s: tensor '%s': external data %s '%s' is not a byte count",
                                what, t->name, e->key, e->value);
            if (!strcmp(e->key, "offset")) offset = v;
            else length = v;
        }
    }
    if (!model_path)
        return gc_failf(err, GC_ERR_USER, "%s: tensor '%s' keeps its data in an external file, which is not read here",
                        what, t->name);
    if (!location || !*location || location[0] == '/' || strstr(location, ".."))
        return gc_failf(err, GC_ERR_USER, "%s: tensor '%s': external data location '%s' must be a path inside the model's folder",
                        what, t->name, location ? location : "");
    if (length >= 0 && (size_t)length != want)
        return gc_failf(err, GC_ERR_USER, "%s: tensor '%s': external data length %lld, but its dims need %zu bytes",
                        what, t->name, (long long)length, want);
    const char *slash = strrchr(model_path, '/');
    size_t dir = slash ? (size_t)(slash - model_path + 1) : 0;
    char full[4096];
    if (dir + strlen(location) >= sizeof full)
        return gc_failf(err, GC_ERR_USER, "%s: tensor '%s': external data path too long", what, t->name);
    memcpy(full, model_path, dir);
    strcpy(full + dir, location);
    FILE *f = fopen(full, "rb");
    if (!f) return gc_failf(err, GC_ERR_IO, "%s: tensor '%s': cannot open external data %s: %s", what, t->name, full,
                            strerror(errno));
    bool ok = fseeko(f, (off_t)offset, SEEK_SET) == 0 && fread(out, 1, want, f) == want;
    fclose(f);
    if (!ok)
        return gc_failf(err, GC_ERR_USER, "%s: tensor '%s': external data %s ends before offset %lld + %zu bytes",
                        what, t->name, full, (long long)offset, want);
    return 1;
}

static int64_t le_int(const uint8_t *p, int t) {
    switch (t) {
    case GC_ONNX_INT64: { int64_t v; memcpy(&v, p, 8); return v; }
    case GC_ONNX_INT32: { int32_t v; memcpy(&v, p, 4); return v; }
    case GC_ONNX_INT16: { int16_t v; memcpy(&v, p, 2); return v; }
    case GC_ONNX_UINT16: { uint16_t v; memcpy(&v, p, 2); return v; }
    case GC_ONNX_INT8: return (int8_t)p[0];
    case GC_ONNX_BOOL: return p[0] != 0;
    default: return p[0];
    }
}

static int decode_tensor(const Onnx__TensorProto *t, const char *model_path, const char *what, gc_arena *arena,
                         gc_onnx_tensor *out, gc_error *err) {
    memset(out, 0, sizeof *out);
    const char *name = t->name ? t->name : "";
    out->name = gc_arena_strdup(arena, name);
    out->elem_type = t->has_data_type ? t->data_type : 0;
    size_t esize = elem_size(out->elem_type);
    if (!esize)
        return gc_failf(err, GC_ERR_USER, "%s: tensor '%s' has dtype %s, which gradc does not read", what, name,
                        gc_onnx_type_name(out->elem_type));
    if (t->n_dims > GC_ONNX_MAX_RANK)
        return gc_failf(err, GC_ERR_USER, "%s: tensor '%s' has rank %zu (at most %d)", what, name, t->n_dims,
                        GC_ONNX_MAX_RANK);
    out->rank = (int)t->n_dims;
    int64_t numel = 1;
    for (int d = 0; d < out->rank; d++) {
        int64_t v = t->dims[d];
        if (v < 0 || v > GC_MAX_ELEMENTS || (v && numel > GC_MAX_ELEMENTS / v))
            return gc_failf(err, GC_ERR_USER, "%s: tensor '%s' has an invalid dim %lld", what, name, (long long)v);
        out->dims[d] = v;
        numel *= v;
    }
    out->numel = numel;
    bool fl = gc_onnx_is_float(out->elem_type);
    size_t bytes = (size_t)numel * esize;
    const uint8_t *raw = NULL;
    uint8_t *external = NULL;
    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        /* Refuse absurd sizes before allocating: no model gradc trains needs more than 2^34 bytes. */
        if (bytes > ((size_t)1 << 34))
            return gc_failf(err, GC_ERR_USER, "%s: tensor '%s' is too large (%zu bytes)", what, name, bytes);
        external = malloc(bytes ? bytes : 1);
        if (!external) return gc_failf(err, GC_ERR_MEMORY, "%s: out of memory for tensor '%s'", what, name);
        if (!read_external(t, model_path, what, bytes, external, err)) return free(external), 0;
        raw = external;
    } else if (t->has_raw_data) {
        if (t->raw_data.len != bytes)
            return gc_failf(err, GC_ERR_USER, "%s: tensor '%s' has %zu bytes of raw data, its dims need %zu", what,
                            name, t->raw_data.len, bytes);
        raw = t->raw_data.data;
    } else {
        size_t have = out->elem_type == GC_ONNX_FLOAT ? t->n_float_data
                      : out->elem_type == GC_ONNX_DOUBLE ? t->n_double_data
                      : out->elem_type == GC_ONNX_INT64 ? t->n_int64_data
                                                         : t->n_int32_data;
        if (have != (size_t)numel)
            return gc_failf(err, GC_ERR_USER, "%s: tensor '%s' holds %zu values, its dims need %lld", what, name, have,
                            (long long)numel);
    }
    /* Every element is written below (float data in one copy): no zeroing. */
    if (fl) out->f = gc_arena_alloc_uninit(arena, (size_t)(numel ? numel : 1) * sizeof(float));
    else out->i = gc_arena_alloc(arena, (size_t)(numel ? numel : 1) * sizeof(int64_t));
    if (!out->f && !out->i) {
        free(external);
        return gc_failf(err, GC_ERR_MEMORY, "%s: out of memory for tensor '%s'", what, name);
    }
    if (raw && out->elem_type == GC_ONNX_FLOAT) memcpy(out->f, raw, (size_t)numel * sizeof(float));
    else for (int64_t k = 0; k < numel; k++) {
        if (raw && out->elem_type == GC_ONNX_DOUBLE) {
            double v;
            memcpy(&v, raw + 8 * k, 8);
            out->f[k] = (float)v;
        } else if (raw) out->i[k] = le_int(raw + (size_t)k * esize, out->elem_type);
        else if (out->elem_type == GC_ONNX_FLOAT) out->f[k] = t->float_data[k];
        else if (out->elem_type == GC_ONNX_DOUBLE) out->f[k] = (float)t->double_data[k];
        else if (out->elem_type == GC_ONNX_INT64) out->i[k] = t->int64_data[k];
        else out->i[k] = out->elem_type == GC_ONNX_BOOL ? t->int32_data[k] != 0 : t->int32_data[k];
    }
    free(external);
    return 1;
}

gc_onnx_model *gc_onnx_read_bytes(const uint8_t *data, size_t size, const char *path, gc_error *err) {
    const char *what = path ? path : "model.onnx";
    Onnx__ModelProto *proto = onnx__model_proto__unpack(NULL, size, data);
    if (!proto) return gc_failf(err, GC_ERR_USER, "%s: not an ONNX model (truncated or corrupt protobuf)", what), NULL;
    gc_onnx_model *m = calloc(1, sizeof *m);
    gc_arena *arena = gc_arena_new();
    if (!m || !arena) {
        free(m), gc_arena_free(arena), onnx__model_proto__free_unpacked(proto, NULL);
        return gc_failf(err, GC_ERR_MEMORY, "%s: out of memory", what), NULL;
    }
    m->arena = arena;
    m->proto = proto;
    m->path = gc_arena_strdup(arena, what);
    if (!proto->has_ir_version || proto->ir_version < 3) {
        gc_failf(err, GC_ERR_USER, "%s: ONNX IR version %lld is not read (3 and later are)", what,
                 (long long)proto->ir_version);
        goto fail;
    }
    m->opset = -1;
    for (size_t k = 0; k < proto->n_opset_import; k++) {
        const Onnx__OperatorSetIdProto *o = proto->opset_import[k];
        if ((!o->domain || !*o->domain || !strcmp(o->domain, "ai.onnx")) && o->has_version) m->opset = (int)o->version;
    }
    if (m->opset < GC_ONNX_MIN_OPSET || m->opset > GC_ONNX_MAX_OPSET) {
        gc_failf(err, GC_ERR_USER, "%s: opset %d of the default domain is not read (opsets %d to %d are)", what,
                 m->opset, GC_ONNX_MIN_OPSET, GC_ONNX_MAX_OPSET);
        goto fail;
    }
    const Onnx__GraphProto *g = proto->graph;
    if (!g) {
        gc_failf(err, GC_ERR_USER, "%s: the model has no graph", what);
        goto fail;
    }
    for (size_t k = 0; k < g->n_node; k++)
        if (!g->node[k]->op_type) {
            gc_failf(err, GC_ERR_USER, "%s: node %zu has no op_type", what, k);
            goto fail;
        }
    for (size_t k = 0; k < g->n_input; k++)
        if (!g->input[k]->name || !*g->input[k]->name) {
            gc_failf(err, GC_ERR_USER, "%s: graph input %zu has no name", what, k);
            goto fail;
        }
    for (size_t k = 0; k < g->n_output; k++)
        if (!g->output[k]->name || !*g->output[k]->name) {
            gc_failf(err, GC_ERR_USER, "%s: graph output %zu has no name", what, k);
            goto fail;
        }
    m->inits = gc_arena_alloc(arena, (g->n_initializer + 1) * sizeof *m->inits);
    if (!m->inits) {
        gc_failf(err, GC_ERR_MEMORY, "%s: out of memory", what);
        goto fail;
    }
    for (size_t k = 0; k < g->n_initializer; k++) {
        if (!decode_tensor(g->initializer[k], path, what, arena, &m->inits[k], err)) goto fail;
        m->num_inits++;
    }
    return m;
fail:
    gc_onnx_model_free(m);
    return NULL;
}

gc_onnx_model *gc_onnx_read_file(const char *path, gc_error *err) {
    size_t len = 0;
    char *bytes = read_whole(path, &len, err);
    if (!bytes) return NULL;
    gc_onnx_model *m = gc_onnx_read_bytes((const uint8_t *)bytes, len, path, err);
    free(bytes);
    return m;
}

void gc_onnx_model_free(gc_onnx_model *m) {
    if (!m) return;
    if (m->proto) onnx__model_proto__free_unpacked(m->proto, NULL);
    gc_arena_free(m->arena);
    free(m);
}

int gc_onnx_read_tensor_bytes(const uint8_t *data, size_t size, const char *what, gc_arena *arena,
                              gc_onnx_tensor *out, gc_error *err) {
    Onnx__TensorProto *t = onnx__tensor_proto__unpack(NULL, size, data);
    if (!t) return gc_failf(err, GC_ERR_USER, "%s: not an ONNX tensor (truncated or corrupt protobuf)", what);
    int ok = decode_tensor(t, NULL, what, arena, out, err);
    onnx__tensor_proto__free_unpacked(t, NULL);
    return ok;
}

int gc_onnx_read_tensor_file(const char *path, gc_arena *arena, gc_onnx_tensor *out, gc_error *err) {
    size_t len = 0;
    char *bytes = read_whole(path, &len, err);
    if (!bytes) return 0;
    int ok = gc_onnx_read_tensor_bytes((const uint8_t *)bytes, len, path, arena, out, err);
    free(bytes);
    return ok;
}

const char *gc_onnx_model_path(const gc_onnx_model *m) { return m->path; }
int gc_onnx_model_opset(const gc_onnx_model *m) { return m->opset; }
int gc_onnx_model_num_initializers(const gc_onnx_model *m) { return m->num_inits; }
const gc_onnx_tensor *gc_onnx_model_initializer(const gc_onnx_model *m, int i) { return &m->inits[i]; }
gc_arena *gc_onnx_model_arena(gc_onnx_model *m) { return m->arena; }
const void *gc_onnx_model_proto(const gc_onnx_model *m) { return m->proto; }

const gc_onnx_tensor *gc_onnx_model_find_initializer(const gc_onnx_model *m, const char *name) {
    for (int k = 0; k < m->num_inits; k++)
        if (!strcmp(m->inits[k].name, name)) return &m->inits[k];
    return NULL;
}
