/*
 * safetensors.c: the safetensors reader and writer; see safetensors.h for the format.
 *
 * The header is parsed by a small strict JSON parser for exactly the shape the format uses (an
 * object of tensor entries and one "__metadata__" object of strings): a checkpoint is user data,
 * so every claim in it is checked before any byte of data is trusted, and a damaged file gives
 * an error naming the file and the tensor instead of a crash or a silently wrong model.
 */
#include "runtime/safetensors.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ir/diag.h"

/* The library refuses headers over 100 MB; so do we, before allocating for one. */
#define MAX_HEADER ((uint64_t)100 * 1000 * 1000)
#define METADATA_KEY "__metadata__"

static const struct {
    const char *name;
    size_t size;
} st_dtypes[] = {
    [GC_ST_I32] = {"I32", 4},
    [GC_ST_F32] = {"F32", 4},
    [GC_ST_F64] = {"F64", 8},
    [GC_ST_I64] = {"I64", 8},
};
enum { NUM_DTYPES = sizeof st_dtypes / sizeof st_dtypes[0] };

const char *gc_st_dtype_name(gc_st_dtype dtype) {
    return (unsigned)dtype < NUM_DTYPES ? st_dtypes[dtype].name : "?";
}

size_t gc_st_dtype_size(gc_st_dtype dtype) { return (unsigned)dtype < NUM_DTYPES ? st_dtypes[dtype].size : 0; }

bool gc_st_dtype_from_name(const char *name, gc_st_dtype *out) {
    for (int i = 0; i < NUM_DTYPES; i++) {
        if (strcmp(st_dtypes[i].name, name) == 0) {
            *out = (gc_st_dtype)i;
            return true;
        }
    }
    return false;
}

bool gc_st_dtype_from_gc(gc_dtype dtype, gc_st_dtype *out) {
    switch (dtype) {
    case GC_F32: *out = GC_ST_F32; return true;
    case GC_I32: *out = GC_ST_I32; return true;
    case GC_F64: *out = GC_ST_F64; return true;
    }
    return false;
}

bool gc_st_dtype_to_gc(gc_st_dtype dtype, gc_dtype *out) {
    switch (dtype) {
    case GC_ST_F32: *out = GC_F32; return true;
    case GC_ST_I32: *out = GC_I32; return true;
    case GC_ST_F64: *out = GC_F64; return true;
    case GC_ST_I64: return false;
    }
    return false;
}

static bool host_is_little_endian(void) {
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}

static int out_of_memory(gc_error *err) { return gc_failf(err, GC_ERR_MEMORY, "out of memory"); }

/* ---- the in-memory set ---- */

gc_safetensors *gc_safetensors_new(gc_error *err) {
    gc_safetensors *st = calloc(1, sizeof *st);
    if (!st) out_of_memory(err);
    return st;
}

void gc_safetensors_free(gc_safetensors *st) {
    if (!st) return;
    for (int i = 0; i < st->num_tensors; i++) {
        free(st->tensors[i].name);
        free(st->tensors[i].data);
    }
    for (int i = 0; i < st->num_meta; i++) {
        free(st->meta[i].key);
        free(st->meta[i].value);
    }
    free(st->tensors);
    free(st->meta);
    free(st);
}

const gc_st_tensor *gc_safetensors_find(const gc_safetensors *st, const char *name) {
    for (int i = 0; i < st->num_tensors; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    return NULL;
}

const char *gc_safetensors_get_meta(const gc_safetensors *st, const char *key) {
    for (int i = 0; i < st->num_meta; i++)
        if (strcmp(st->meta[i].key, key) == 0) return st->meta[i].value;
    return NULL;
}

bool gc_st_tensor_view(const gc_st_tensor *t, gc_tensor *out) {
    gc_dtype dtype;
    if (!gc_st_dtype_to_gc(t->dtype, &dtype) || t->rank < 0 || t->rank > GC_MAX_RANK) return false;
    memset(out, 0, sizeof *out);
    out->dtype = dtype;
    out->rank = t->rank;
    memcpy(out->shape, t->shape, sizeof t->shape[0] * (size_t)t->rank);
    out->data = t->data;
    return true;
}

/* Element count times element size, or false when it does not fit in 64 bits. A zero dim makes
 * the tensor empty whatever the other dims are. */
static bool byte_size(gc_st_dtype dtype, int rank, const uint64_t *dims, uint64_t *out) {
    uint64_t n = 1;
    for (int i = 0; i < rank; i++)
        if (dims[i] == 0) {
            *out = 0;
            return true;
        }
    for (int i = 0; i < rank; i++) {
        if (n > UINT64_MAX / dims[i]) return false;
        n *= dims[i];
    }
    uint64_t size = gc_st_dtype_size(dtype);
    if (n > UINT64_MAX / size) return false;
    *out = n * size;
    return true;
}

/* Strict UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF); returns the length of
 * the sequence at s, or 0 when it is invalid. */
static size_t utf8_sequence(const unsigned char *s, size_t avail) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned min, cp;
    if (c >= 0xC2 && c <= 0xDF) len = 2, min = 0x80, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, min = 0x800, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, min = 0x10000, cp = c & 0x07;
    else return 0;
    if (avail < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

static bool valid_utf8(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t k = utf8_sequence(p + i, n - i);
        if (!k) return false;
        i += k;
    }
    return true;
}

static char *dup_string(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

static int check_name(const char *what, const char *name, gc_error *err) {
    if (!name || !*name) return gc_failf(err, GC_ERR_USER, "safetensors: a %s needs a non-empty name", what);
    if (!valid_utf8(name)) return gc_failf(err, GC_ERR_USER, "safetensors: %s name is not valid UTF-8", what);
    return 1;
}

/* Appends an entry (data still unset) and takes ownership of name. */
static gc_st_tensor *push_tensor(gc_safetensors *st, char *name, gc_error *err) {
    if (st->num_tensors == st->cap_tensors) {
        int cap = st->cap_tensors ? st->cap_tensors * 2 : 16;
        gc_st_tensor *t = realloc(st->tensors, sizeof *t * (size_t)cap);
        if (!t) {
            free(name);
            out_of_memory(err);
            return NULL;
        }
        st->tensors = t;
        st->cap_tensors = cap;
    }
    gc_st_tensor *t = &st->tensors[st->num_tensors++];
    memset(t, 0, sizeof *t);
    t->name = name;
    return t;
}

static int push_meta(gc_safetensors *st, char *key, char *value, gc_error *err) {
    if (st->num_meta == st->cap_meta) {
        int cap = st->cap_meta ? st->cap_meta * 2 : 8;
        gc_st_meta *m = realloc(st->meta, sizeof *m * (size_t)cap);
        if (!m) {
            free(key);
            free(value);
            return out_of_memory(err);
        }
        st->meta = m;
        st->cap_meta = cap;
    }
    st->meta[st->num_meta].key = key;
    st->meta[st->num_meta].value = value;
    st->num_meta++;
    return 1;
}

int gc_safetensors_add(gc_safetensors *st, const char *name, gc_st_dtype dtype, int rank,
                       const int64_t *shape, const void *data, gc_error *err) {
    if (!check_name("tensor", name, err)) return 0;
    if (strcmp(name, METADATA_KEY) == 0)
        return gc_failf(err, GC_ERR_USER, "safetensors: '%s' is reserved for metadata", name);
    if (gc_safetensors_find(st, name))
        return gc_failf(err, GC_ERR_USER, "safetensors: tensor '%s' is added twice", name);
    if ((unsigned)dtype >= NUM_DTYPES)
        return gc_failf(err, GC_ERR_INTERNAL, "internal error: safetensors: tensor '%s' has dtype %d", name, (int)dtype);
    if (rank < 0 || rank > GC_MAX_RANK)
        return gc_failf(err, GC_ERR_USER, "safetensors: tensor '%s' has rank %d, outside 0..%d", name, rank, GC_MAX_RANK);
    uint64_t dims[GC_MAX_RANK], nbytes;
    for (int i = 0; i < rank; i++) {
        if (shape[i] < 0)
            return gc_failf(err, GC_ERR_USER, "safetensors: tensor '%s' has negative dimension %lld", name,
                            (long long)shape[i]);
        dims[i] = (uint64_t)shape[i];
    }
    if (!byte_size(dtype, rank, dims, &nbytes) || nbytes > SIZE_MAX / 2)
        return gc_failf(err, GC_ERR_USER, "safetensors: tensor '%s' is too large", name);
    if (nbytes && !data)
        return gc_failf(err, GC_ERR_INTERNAL, "internal error: safetensors: tensor '%s' has no data", name);
    char *copy = dup_string(name);
    void *buf = malloc(nbytes ? (size_t)nbytes : 1);
    if (!copy || !buf) {
        free(copy);
        free(buf);
        return out_of_memory(err);
    }
    gc_st_tensor *t = push_tensor(st, copy, err);
    if (!t) {
        free(buf);
        return 0;
    }
    if (nbytes) memcpy(buf, data, (size_t)nbytes);
    t->dtype = dtype;
    t->rank = rank;
    for (int i = 0; i < rank; i++) t->shape[i] = shape[i];
    t->data = buf;
    t->nbytes = (size_t)nbytes;
    return 1;
}

int gc_safetensors_add_tensor(gc_safetensors *st, const char *name, const gc_tensor *t, gc_error *err) {
    gc_st_dtype dtype;
    if (!gc_st_dtype_from_gc(t->dtype, &dtype))
        return gc_failf(err, GC_ERR_INTERNAL, "internal error: safetensors: tensor '%s' has dtype %d",
                        name ? name : "", (int)t->dtype);
    return gc_safetensors_add(st, name, dtype, t->rank, t->shape, t->data, err);
}

int gc_safetensors_set_meta(gc_safetensors *st, const char *key, const char *value, gc_error *err) {
    if (!check_name("metadata key", key, err)) return 0;
    if (!value || !valid_utf8(value))
        return gc_failf(err, GC_ERR_USER, "safetensors: metadata value for '%s' is not valid UTF-8", key);
    char *v = dup_string(value);
    if (!v) return out_of_memory(err);
    for (int i = 0; i < st->num_meta; i++) {
        if (strcmp(st->meta[i].key, key) == 0) {
            free(st->meta[i].value);
            st->meta[i].value = v;
            return 1;
        }
    }
    char *k = dup_string(key);
    if (!k) {
        free(v);
        return out_of_memory(err);
    }
    return push_meta(st, k, v, err);
}

/* ---- the header parser ----
 *
 * header   = ws "{" ws [entry (ws "," ws entry)*] ws "}" ws        ws: space, tab, CR, LF
 * entry    = string ws ":" ws (tensor | metadata)                 metadata iff the key is "__metadata__"
 * tensor   = "{" field ("," field)* "}"     each of dtype, shape, data_offsets exactly once
 * field    = "dtype" ":" string | "shape" ":" "[" [uint ("," uint)*] "]"
 *          | "data_offsets" ":" "[" uint "," uint "]"
 * metadata = "{" [string ":" string ("," string ":" string)*] "}"
 * uint     = "0" | [1-9][0-9]*                                    (JSON integers, no sign or fraction)
 */

typedef struct parser {
    const unsigned char *s;
    size_t n, pos;
    const char *what; /* the file, for messages */
    gc_error *err;
} parser;

/* One parsed tensor entry before its data is read. */
typedef struct entry {
    uint64_t begin, end;
} entry;

static int syntax_error(parser *p, const char *expected) {
    if (p->pos >= p->n)
        return gc_failf(p->err, GC_ERR_USER, "%s: invalid safetensors header: unexpected end, expected %s",
                        p->what, expected);
    return gc_failf(p->err, GC_ERR_USER, "%s: invalid safetensors header at byte %zu: expected %s", p->what,
                    p->pos + 8, expected);
}

static void skip_ws(parser *p) {
    while (p->pos < p->n && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' ||
                             p->s[p->pos] == '\r'))
        p->pos++;
}

static int expect(parser *p, char c, const char *expected) {
    skip_ws(p);
    if (p->pos >= p->n || p->s[p->pos] != (unsigned char)c) return syntax_error(p, expected);
    p->pos++;
    return 1;
}

static bool peek(parser *p, char c) {
    skip_ws(p);
    return p->pos < p->n && p->s[p->pos] == (unsigned char)c;
}

/* Four hex digits at p->pos (the caller checked they are there). */
static bool hex4(parser *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p->s[p->pos + (size_t)i];
        if (c >= '0' && c <= '9') v = v * 16 + (c - '0');
        else if (c >= 'a' && c <= 'f') v = v * 16 + (c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v = v * 16 + (c - 'A' + 10);
        else return false;
    }
    p->pos += 4;
    *out = v;
    return true;
}

static size_t put_utf8(unsigned char *o, unsigned cp) {
    if (cp < 0x80) return o[0] = (unsigned char)cp, 1;
    if (cp < 0x800) return o[0] = (unsigned char)(0xC0 | cp >> 6), o[1] = (unsigned char)(0x80 | (cp & 0x3F)), 2;
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | cp >> 12);
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | cp >> 18);
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A JSON string, decoded into a malloc'd NUL-terminated UTF-8 string. A decoded NUL is refused:
 * names and metadata are C strings. */
static int parse_string(parser *p, char **out) {
    *out = NULL;
    skip_ws(p);
    if (p->pos >= p->n || p->s[p->pos] != '"') return syntax_error(p, "a string");
    p->pos++;
    /* Decoding never grows the text: an escape of k bytes yields at most k bytes of UTF-8. */
    size_t start = p->pos;
    while (p->pos < p->n && p->s[p->pos] != '"') p->pos += p->s[p->pos] == '\\' ? 2 : 1;
    if (p->pos >= p->n) {
        p->pos = p->n;
        return syntax_error(p, "the end of a string");
    }
    size_t end = p->pos, k = 0;
    unsigned char *o = malloc(end - start + 1);
    if (!o) return out_of_memory(p->err);
    const char *bad = NULL; /* what was expected, when the text is not a valid string */
    for (p->pos = start; p->pos < end && !bad;) {
        unsigned c = p->s[p->pos], cp, lo;
        if (c < 0x20) {
            bad = "no raw control characters in a string";
        } else if (c != '\\') {
            size_t len = utf8_sequence(p->s + p->pos, end - p->pos);
            if (!len) bad = "valid UTF-8";
            memcpy(o + k, p->s + p->pos, len);
            k += len;
            p->pos += len;
        } else {
            static const char plain[] = "\"\\/bfnrt", decoded[] = "\"\\/\b\f\n\r\t";
            const char *esc = strchr(plain, p->s[p->pos + 1]);
            if (esc && *esc) {
                o[k++] = (unsigned char)decoded[esc - plain];
                p->pos += 2;
                continue;
            }
            p->pos++;
            if (p->s[p->pos] != 'u') {
                bad = "a valid escape";
                break;
            }
            p->pos++;
            if (end - p->pos < 4 || !hex4(p, &cp)) {
                bad = "four hex digits after \\u";
            } else if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (end - p->pos < 6 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') {
                    bad = "a low surrogate after a high surrogate";
                } else {
                    p->pos += 2;
                    if (!hex4(p, &lo)) bad = "four hex digits after \\u";
                    else if (lo < 0xDC00 || lo > 0xDFFF) bad = "a low surrogate after a high surrogate";
                    else k += put_utf8(o + k, 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00));
                }
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                bad = "no unpaired low surrogate";
            } else if (cp == 0) {
                bad = "no NUL character in a string";
            } else {
                k += put_utf8(o + k, cp);
            }
        }
    }
    if (bad) {
        free(o);
        return syntax_error(p, bad);
    }
    p->pos = end + 1;
    o[k] = '\0';
    *out = (char *)o;
    return 1;
}

static int parse_uint(parser *p, const char *name, const char *field, uint64_t *out) {
    skip_ws(p);
    if (p->pos >= p->n || p->s[p->pos] < '0' || p->s[p->pos] > '9')
        return gc_failf(p->err, GC_ERR_USER, "%s: tensor '%s': %s must hold non-negative integers", p->what, name, field);
    uint64_t v = 0;
    size_t start = p->pos;
    while (p->pos < p->n && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
        unsigned d = p->s[p->pos] - '0';
        if (v > (UINT64_MAX - d) / 10)
            return gc_failf(p->err, GC_ERR_USER, "%s: tensor '%s': a number in %s is too large", p->what, name, field);
        v = v * 10 + d;
        p->pos++;
    }
    if (p->s[start] == '0' && p->pos - start > 1) return syntax_error(p, "no leading zeros in a number");
    if (p->pos < p->n && (p->s[p->pos] == '.' || p->s[p->pos] == 'e' || p->s[p->pos] == 'E'))
        return gc_failf(p->err, GC_ERR_USER, "%s: tensor '%s': %s must hold non-negative integers", p->what, name, field);
    *out = v;
    return 1;
}

/* "[" [uint ("," uint)*] "]" into dims (at most max entries); *count gets the number read. */
static int parse_uint_list(parser *p, const char *name, const char *field, uint64_t *dims, int max, int *count) {
    *count = 0;
    if (!expect(p, '[', "'['")) return 0;
    if (peek(p, ']')) {
        p->pos++;
        return 1;
    }
    for (;;) {
        uint64_t v = 0;
        if (!parse_uint(p, name, field, &v)) return 0;
        if (*count == max) {
            if (strcmp(field, "shape") == 0)
                return gc_failf(p->err, GC_ERR_USER, "%s: tensor '%s': rank exceeds the maximum of %d", p->what,
                                name, GC_MAX_RANK);
            return gc_failf(p->err, GC_ERR_USER, "%s: tensor '%s': %s must hold exactly 2 numbers", p->what, name,
                            field);
        }
        dims[(*count)++] = v;
        if (peek(p, ']')) {
            p->pos++;
            return 1;
        }
        if (!expect(p, ',', "',' or ']'")) return 0;
    }
}

static int parse_tensor(parser *p, gc_safetensors *st, char *name, entry *e) {
    gc_st_tensor *t = push_tensor(st, name, p->err);
    if (!t) return 0;
    bool seen_dtype = false, seen_shape = false, seen_offsets = false;
    uint64_t dims[GC_MAX_RANK], offsets[2];
    int rank = 0, num_offsets = 0;
    if (!expect(p, '{', "'{' to start a tensor entry")) return 0;
    if (peek(p, '}')) return gc_failf(p->err, GC_ERR_USER, "%s: tensor '%s': missing field 'dtype'", p->what, name);
    for (;;) {
        char *field;
        if (!parse_string(p, &field)) return 0;
        bool *seen = strcmp(field, "dtype") == 0          ? &seen_dtype
                     : strcmp(field, "shape") == 0        ? &seen_shape
                     : strcmp(field, "data_offsets") == 0 ? &seen_offsets
                                                          : NULL;
        if (!seen || *seen) {
            gc_failf(p->err, GC_ERR_USER, "%s: tensor '%s': %s field '%s'", p->what, name,
                     seen ? "repeated" : "unknown", field);
            free(field);
            return 0;
        }
        *seen = true;
        free(field);
        if (!expect(p, ':', "':'")) return 0;
        if (seen == &seen_dtype) {
            char *dt;
            if (!parse_string(p, &dt)) return 0;
            bool ok = gc_st_dtype_from_name(dt, &t->dtype);
            if (!ok)
                gc_failf(p->err, GC_ERR_USER, "%s: tensor '%s': unsupported dtype '%s' (gradc reads F32, F64, I32 and I64)",
                         p->what, name, dt);
            free(dt);
            if (!ok) return 0;
        } else if (seen == &seen_shape) {
            if (!parse_uint_list(p, name, "shape", dims, GC_MAX_RANK, &rank)) return 0;
        } else {
            if (!parse_uint_list(p, name, "data_offsets", offsets, 2, &num_offsets)) return 0;
            if (num_offsets != 2)
                return gc_failf(p->err, GC_ERR_USER, "%s: tensor '%s': data_offsets must hold exactly 2 numbers",
                                p->what, name);
        }
        if (peek(p, '}')) {
            p->pos++;
            break;
        }
        if (!expect(p, ',', "',' or '}' in a tensor entry")) return 0;
    }
    const char *missing = !seen_dtype ? "dtype" : !seen_shape ? "shape" : !seen_offsets ? "data_offsets" : NULL;
    if (missing) return gc_failf(p->err, GC_ERR_USER, "%s: tensor '%s': missing field '%s'", p->what, name, missing);

    uint64_t nbytes;
    for (int i = 0; i < rank; i++)
        if (dims[i] > (uint64_t)INT64_MAX)
            return gc_failf(p->err, GC_ERR_USER, "%s: tensor '%s': shape is too large", p->what, name);
    if (!byte_size(t->dtype, rank, dims, &nbytes))
        return gc_failf(p->err, GC_ERR_USER, "%s: tensor '%s': shape is too large", p->what, name);
    t->rank = rank;
    for (int i = 0; i < rank; i++) t->shape[i] = (int64_t)dims[i];
    if (offsets[1] < offsets[0])
        return gc_failf(p->err, GC_ERR_USER, "%s: tensor '%s': data_offsets [%llu, %llu] end before they begin",
                        p->what, name, (unsigned long long)offsets[0], (unsigned long long)offsets[1]);
    if (offsets[1] - offsets[0] != nbytes) {
        char shape[160];
        size_t k = (size_t)snprintf(shape, sizeof shape, "%s[", gc_st_dtype_name(t->dtype));
        for (int i = 0; i < rank && k < sizeof shape; i++)
            k += (size_t)snprintf(shape + k, sizeof shape - k, i ? ", %llu" : "%llu", (unsigned long long)dims[i]);
        if (k < sizeof shape) snprintf(shape + k, sizeof shape - k, "]");
        return gc_failf(p->err, GC_ERR_USER, "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes but %s needs %llu",
                        p->what, name, (unsigned long long)offsets[0], (unsigned long long)offsets[1],
                        (unsigned long long)(offsets[1] - offsets[0]), shape, (unsigned long long)nbytes);
    }
    t->nbytes = (size_t)nbytes;
    e->begin = offsets[0];
    e->end = offsets[1];
    return 1;
}

static int parse_metadata(parser *p, gc_safetensors *st) {
    if (!expect(p, '{', "'{' to start __metadata__")) return 0;
    if (peek(p, '}')) {
        p->pos++;
        return 1;
    }
    for (;;) {
        char *key, *value;
        if (!parse_string(p, &key)) return 0;
        if (gc_safetensors_get_meta(st, key)) {
            gc_failf(p->err, GC_ERR_USER, "%s: metadata key '%s' appears twice", p->what, key);
            free(key);
            return 0;
        }
        if (!expect(p, ':', "':'")) {
            free(key);
            return 0;
        }
        skip_ws(p);
        if (p->pos < p->n && p->s[p->pos] != '"') {
            gc_failf(p->err, GC_ERR_USER, "%s: metadata value for '%s' must be a string", p->what, key);
            free(key);
            return 0;
        }
        if (!parse_string(p, &value)) {
            free(key);
            return 0;
        }
        if (!push_meta(st, key, value, p->err)) return 0;
        if (peek(p, '}')) {
            p->pos++;
            return 1;
        }
        if (!expect(p, ',', "',' or '}' in __metadata__")) return 0;
    }
}

/* Heapsort of an index array with a context pointer: qsort has none, and a global would make
 * loading two checkpoints from two threads race. */
typedef int (*index_cmp)(const void *ctx, int a, int b);

static void sift_down(int *a, int root, int n, index_cmp cmp, const void *ctx) {
    for (;;) {
        int child = 2 * root + 1;
        if (child >= n) return;
        if (child + 1 < n && cmp(ctx, a[child], a[child + 1]) < 0) child++;
        if (cmp(ctx, a[root], a[child]) >= 0) return;
        int t = a[root];
        a[root] = a[child];
        a[child] = t;
        root = child;
    }
}

static void sort_indices(int *a, int n, index_cmp cmp, const void *ctx) {
    for (int i = 0; i < n; i++) a[i] = i;
    for (int i = n / 2 - 1; i >= 0; i--) sift_down(a, i, n, cmp, ctx);
    for (int end = n - 1; end > 0; end--) {
        int t = a[0];
        a[0] = a[end];
        a[end] = t;
        sift_down(a, 0, end, cmp, ctx);
    }
}

static int by_name(const void *ctx, int a, int b) {
    const gc_st_tensor *t = ctx;
    return strcmp(t[a].name, t[b].name);
}

static int by_offset(const void *ctx, int a, int b) {
    const entry *x = (const entry *)ctx + a, *y = (const entry *)ctx + b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return a < b ? -1 : a > b; /* header order among empty tensors at one offset */
}

/* Names unique; offsets inside the data and tiling it exactly. On success order[] lists the
 * tensors by offset. */
static int check_layout(parser *p, const gc_safetensors *st, const entry *entries, uint64_t data_size, int *order) {
    int n = st->num_tensors;
    sort_indices(order, n, by_name, st->tensors);
    for (int i = 1; i < n; i++)
        if (strcmp(st->tensors[order[i]].name, st->tensors[order[i - 1]].name) == 0)
            return gc_failf(p->err, GC_ERR_USER, "%s: tensor '%s' is defined twice", p->what, st->tensors[order[i]].name);
    for (int i = 0; i < n; i++)
        if (entries[i].end > data_size)
            return gc_failf(p->err, GC_ERR_USER, "%s: tensor '%s': data_offsets [%llu, %llu] run past the end of the data (%llu bytes)",
                            p->what, st->tensors[i].name, (unsigned long long)entries[i].begin,
                            (unsigned long long)entries[i].end, (unsigned long long)data_size);
    sort_indices(order, n, by_offset, entries);
    uint64_t at = 0;
    for (int i = 0; i < n; i++) {
        const entry *e = &entries[order[i]];
        if (e->begin < at)
            return gc_failf(p->err, GC_ERR_USER, "%s: tensors '%s' and '%s' overlap", p->what,
                            st->tensors[order[i - 1]].name, st->tensors[order[i]].name);
        if (e->begin > at)
            return gc_failf(p->err, GC_ERR_USER, "%s: bytes %llu..%llu of the data belong to no tensor (before '%s')",
                            p->what, (unsigned long long)at, (unsigned long long)e->begin, st->tensors[order[i]].name);
        at = e->end;
    }
    if (at != data_size)
        return gc_failf(p->err, GC_ERR_USER, "%s: bytes %llu..%llu of the data belong to no tensor (after the last)",
                        p->what, (unsigned long long)at, (unsigned long long)data_size);
    return 1;
}

/* Parses the header and checks it against data_size. On success *order_out (malloc'd) lists the
 * tensors by offset and entries_out their offsets; their data is not read yet. */
static gc_safetensors *parse_header(const unsigned char *hdr, size_t n, uint64_t data_size, const char *what,
                                    entry **entries_out, int **order_out, gc_error *err) {
    parser p = {hdr, n, 0, what, err};
    entry *entries = NULL;
    int cap = 0;
    int *order = NULL;
    bool seen_meta = false;
    gc_safetensors *st = gc_safetensors_new(err);
    if (!st) return NULL;
    if (!expect(&p, '{', "'{' to start the header")) goto fail;
    if (peek(&p, '}')) {
        p.pos++;
    } else {
        for (;;) {
            char *key;
            if (!parse_string(&p, &key)) goto fail;
            if (!expect(&p, ':', "':'")) {
                free(key);
                goto fail;
            }
            if (strcmp(key, METADATA_KEY) == 0) {
                free(key);
                if (seen_meta) {
                    gc_failf(err, GC_ERR_USER, "%s: __metadata__ appears twice", what);
                    goto fail;
                }
                seen_meta = true;
                if (!parse_metadata(&p, st)) goto fail;
            } else {
                if (!*key) {
                    free(key);
                    gc_failf(err, GC_ERR_USER, "%s: a tensor has an empty name", what);
                    goto fail;
                }
                if (st->num_tensors == cap) {
                    cap = cap ? cap * 2 : 16;
                    entry *e = realloc(entries, sizeof *e * (size_t)cap);
                    if (!e) {
                        free(key);
                        out_of_memory(err);
                        goto fail;
                    }
                    entries = e;
                }
                if (!parse_tensor(&p, st, key, &entries[st->num_tensors])) goto fail;
            }
            if (peek(&p, '}')) {
                p.pos++;
                break;
            }
            if (!expect(&p, ',', "',' or '}'")) goto fail;
        }
    }
    skip_ws(&p);
    if (p.pos != n) {
        syntax_error(&p, "only spaces after the header's closing '}'");
        goto fail;
    }
    order = malloc(sizeof *order * (size_t)(st->num_tensors ? st->num_tensors : 1));
    if (!order) {
        out_of_memory(err);
        goto fail;
    }
    if (!check_layout(&p, st, entries, data_size, order)) goto fail;
    *entries_out = entries;
    *order_out = order;
    return st;
fail:
    free(entries);
    free(order);
    gc_safetensors_free(st);
    return NULL;
}

/* Tensors are stored in file order, so a resaved file lists them the same way. */
static int reorder_by_offset(gc_safetensors *st, const int *order, gc_error *err) {
    gc_st_tensor *sorted = malloc(sizeof *sorted * (size_t)(st->num_tensors ? st->num_tensors : 1));
    if (!sorted) return out_of_memory(err);
    for (int i = 0; i < st->num_tensors; i++) sorted[i] = st->tensors[order[i]];
    free(st->tensors);
    st->tensors = sorted;
    st->cap_tensors = st->num_tensors ? st->num_tensors : 1;
    return 1;
}

static int allocate_data(gc_safetensors *st, gc_error *err) {
    for (int i = 0; i < st->num_tensors; i++) {
        st->tensors[i].data = malloc(st->tensors[i].nbytes ? st->tensors[i].nbytes : 1);
        if (!st->tensors[i].data) return out_of_memory(err);
    }
    return 1;
}

static uint64_t read_le64(const unsigned char *b) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | b[i];
    return v;
}

static int check_header_length(uint64_t n, uint64_t size, const char *what, gc_error *err) {
    if (size < 8)
        return gc_failf(err, GC_ERR_USER, "%s: %llu bytes is too short for a safetensors file", what,
                        (unsigned long long)size);
    if (n > size - 8)
        return gc_failf(err, GC_ERR_USER, "%s: header length %llu exceeds the file size (%llu bytes)", what,
                        (unsigned long long)n, (unsigned long long)size);
    if (n > MAX_HEADER)
        return gc_failf(err, GC_ERR_USER, "%s: header length %llu exceeds the limit of 100 MB", what,
                        (unsigned long long)n);
    return 1;
}

gc_safetensors *gc_safetensors_parse(const void *bytes, size_t size, const char *what, gc_error *err) {
    const unsigned char *b = bytes;
    if (!host_is_little_endian()) {
        gc_failf(err, GC_ERR_INTERNAL, "%s: safetensors needs a little-endian host", what);
        return NULL;
    }
    if (!check_header_length(size >= 8 ? read_le64(b) : 0, size, what, err)) return NULL;
    size_t n = (size_t)read_le64(b);
    entry *entries;
    int *order;
    gc_safetensors *st = parse_header(b + 8, n, size - 8 - n, what, &entries, &order, err);
    if (!st) return NULL;
    int ok = reorder_by_offset(st, order, err) && allocate_data(st, err);
    if (ok) {
        for (int i = 0; i < st->num_tensors; i++)
            memcpy(st->tensors[i].data, b + 8 + n + entries[order[i]].begin, st->tensors[i].nbytes);
    }
    free(entries);
    free(order);
    if (!ok) {
        gc_safetensors_free(st);
        return NULL;
    }
    return st;
}

static int read_fully(FILE *f, void *buf, size_t n, const char *path, gc_error *err) {
    if (n && fread(buf, 1, n, f) != n) {
        if (ferror(f)) return gc_failf(err, GC_ERR_IO, "%s: read failed: %s", path, strerror(errno));
        return gc_failf(err, GC_ERR_IO, "%s: file ended early (was it changed while being read?)", path);
    }
    return 1;
}

gc_safetensors *gc_safetensors_load(const char *path, gc_error *err) {
    if (!host_is_little_endian()) {
        gc_failf(err, GC_ERR_INTERNAL, "%s: safetensors needs a little-endian host", path);
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        gc_failf(err, GC_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    gc_safetensors *st = NULL;
    unsigned char *hdr = NULL, len[8];
    entry *entries = NULL;
    int *order = NULL;
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) {
        gc_failf(err, GC_ERR_IO, "cannot stat '%s': %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(sb.st_mode)) {
        gc_failf(err, GC_ERR_IO, "'%s' is not a regular file", path);
        goto done;
    }
    uint64_t size = (uint64_t)sb.st_size;
    if (size >= 8 && !read_fully(f, len, 8, path, err)) goto done;
    if (!check_header_length(size >= 8 ? read_le64(len) : 0, size, path, err)) goto done;
    size_t n = (size_t)read_le64(len);
    hdr = malloc(n ? n : 1);
    if (!hdr) {
        out_of_memory(err);
        goto done;
    }
    if (!read_fully(f, hdr, n, path, err)) goto done;
    st = parse_header(hdr, n, size - 8 - n, path, &entries, &order, err);
    if (!st) goto done;
    /* The layout check proved the tensors tile the data in this order, so one pass reads it. */
    if (!reorder_by_offset(st, order, err) || !allocate_data(st, err)) goto fail;
    for (int i = 0; i < st->num_tensors; i++)
        if (!read_fully(f, st->tensors[i].data, st->tensors[i].nbytes, path, err)) goto fail;
    goto done;
fail:
    gc_safetensors_free(st);
    st = NULL;
done:
    free(hdr);
    free(entries);
    free(order);
    fclose(f);
    return st;
}

/* ---- the writer ---- */

typedef struct outbuf {
    char *data;
    size_t len, cap;
    bool failed;
} outbuf;

static void out_bytes(outbuf *o, const char *s, size_t n) {
    if (o->failed) return;
    if (o->cap - o->len < n + 1) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap - o->len < n + 1) {
            if (cap > SIZE_MAX / 2) {
                o->failed = true;
                return;
            }
            cap *= 2;
        }
        char *d = realloc(o->data, cap);
        if (!d) {
            o->failed = true;
            return;
        }
        o->data = d;
        o->cap = cap;
    }
    memcpy(o->data + o->len, s, n);
    o->len += n;
    o->data[o->len] = '\0';
}

static void out_str(outbuf *o, const char *s) { out_bytes(o, s, strlen(s)); }

/* A JSON string as serde_json and Python's json.dumps(ensure_ascii=False) write it. */
static void out_json_string(outbuf *o, const char *s) {
    out_bytes(o, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        switch (*p) {
        case '"': out_str(o, "\\\""); break;
        case '\\': out_str(o, "\\\\"); break;
        case '\b': out_str(o, "\\b"); break;
        case '\f': out_str(o, "\\f"); break;
        case '\n': out_str(o, "\\n"); break;
        case '\r': out_str(o, "\\r"); break;
        case '\t': out_str(o, "\\t"); break;
        default:
            if (*p < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", *p);
                out_str(o, esc);
            } else {
                out_bytes(o, (const char *)p, 1);
            }
        }
    }
    out_bytes(o, "\"", 1);
}

/* The library's order: larger (later in gc_st_dtype) dtypes first, then names bytewise. */
static int by_dtype_then_name(const void *ctx, int a, int b) {
    const gc_st_tensor *x = (const gc_st_tensor *)ctx + a, *y = (const gc_st_tensor *)ctx + b;
    if (x->dtype != y->dtype) return x->dtype > y->dtype ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int meta_by_key(const void *ctx, int a, int b) {
    const gc_st_meta *m = ctx;
    return strcmp(m[a].key, m[b].key);
}

/* The 8 length bytes plus the padded JSON header, and the tensors' order in the data. */
static int build_header(const gc_safetensors *st, outbuf *o, int *order, gc_error *err) {
    if (!host_is_little_endian()) return gc_failf(err, GC_ERR_INTERNAL, "safetensors needs a little-endian host");
    int nm = st->num_meta;
    int *morder = malloc(sizeof *morder * (size_t)(nm ? nm : 1));
    if (!morder) return out_of_memory(err);
    sort_indices(order, st->num_tensors, by_dtype_then_name, st->tensors);
    sort_indices(morder, nm, meta_by_key, st->meta);

    out_bytes(o, "\0\0\0\0\0\0\0\0", 8);
    out_str(o, "{");
    if (nm) {
        out_str(o, "\"" METADATA_KEY "\":{");
        for (int i = 0; i < nm; i++) {
            if (i) out_str(o, ",");
            out_json_string(o, st->meta[morder[i]].key);
            out_str(o, ":");
            out_json_string(o, st->meta[morder[i]].value);
        }
        out_str(o, "}");
    }
    free(morder);
    uint64_t offset = 0;
    for (int i = 0; i < st->num_tensors; i++) {
        const gc_st_tensor *t = &st->tensors[order[i]];
        char num[48];
        if (i || nm) out_str(o, ",");
        out_json_string(o, t->name);
        out_str(o, ":{\"dtype\":\"");
        out_str(o, gc_st_dtype_name(t->dtype));
        out_str(o, "\",\"shape\":[");
        for (int d = 0; d < t->rank; d++) {
            snprintf(num, sizeof num, d ? ",%lld" : "%lld", (long long)t->shape[d]);
            out_str(o, num);
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)offset,
                 (unsigned long long)(offset + t->nbytes));
        out_str(o, num);
        offset += t->nbytes;
    }
    out_str(o, "}");
    /* Spaces up to a multiple of 8, so every tensor's data is 8-byte aligned in a mapped file. */
    while (!o->failed && (o->len - 8) % 8) out_str(o, " ");
    if (o->failed) return out_of_memory(err);
    uint64_t n = o->len - 8;
    for (int i = 0; i < 8; i++) o->data[i] = (char)(n >> (8 * i) & 0xFF);
    return 1;
}

int gc_safetensors_serialize(const gc_safetensors *st, unsigned char **bytes, size_t *size, gc_error *err) {
    outbuf o = {0};
    int *order = malloc(sizeof *order * (size_t)(st->num_tensors ? st->num_tensors : 1));
    if (!order) return out_of_memory(err);
    int ok = build_header(st, &o, order, err);
    for (int i = 0; ok && i < st->num_tensors; i++)
        out_bytes(&o, st->tensors[order[i]].data, st->tensors[order[i]].nbytes);
    free(order);
    if (ok && o.failed) ok = out_of_memory(err);
    if (!ok) {
        free(o.data);
        return 0;
    }
    *bytes = (unsigned char *)o.data;
    *size = o.len;
    return 1;
}

static int write_fully(int fd, const void *buf, size_t n, const char *path, gc_error *err) {
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return gc_failf(err, GC_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
        }
        p += w;
        n -= (size_t)w;
    }
    return 1;
}

/* fsync of the directory makes the rename itself durable. Some filesystems cannot sync a
 * directory (EINVAL); the rename has still happened there, so that is not a failure. */
static int sync_directory(const char *path, gc_error *err) {
    const char *slash = strrchr(path, '/');
    char *dir = slash ? malloc((size_t)(slash - path) + 2) : dup_string(".");
    if (!dir) return out_of_memory(err);
    if (slash) {
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int ok = 1;
    if (fd < 0) {
        ok = gc_failf(err, GC_ERR_IO, "cannot open directory '%s': %s", dir, strerror(errno));
    } else {
        if (fsync(fd) != 0 && errno != EINVAL)
            ok = gc_failf(err, GC_ERR_IO, "cannot sync directory '%s': %s", dir, strerror(errno));
        close(fd);
    }
    free(dir);
    return ok;
}

/* Removes PATH.tmp.PID.N files that a save killed before its rename left behind: those of
 * processes no longer running (a live one may be saving now). Best effort: a file that cannot
 * be removed stays, and the save succeeds anyway. */
static void remove_stale_temps(const char *path) {
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0, base_len = strlen(base);
    char *dir_name = malloc(dir_len + 2);
    if (!dir_name) return;
    memcpy(dir_name, path, dir_len);
    strcpy(dir_name + dir_len, dir_len ? "" : ".");
    DIR *dir = opendir(dir_name);
    free(dir_name);
    if (!dir) return;
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        const char *name = entry->d_name;
        if (strncmp(name, base, base_len) || strncmp(name + base_len, ".tmp.", 5)) continue;
        char *end;
        errno = 0;
        long pid = strtol(name + base_len + 5, &end, 10);
        if (errno || end == name + base_len + 5 || *end != '.' || pid <= 0) continue;
        const char *attempt = end + 1;
        strtoul(attempt, &end, 10);
        if (end == attempt || *end) continue;
        if (pid != (long)getpid() && !(kill((pid_t)pid, 0) != 0 && errno == ESRCH)) continue;
        char *stale = malloc(dir_len + strlen(name) + 1);
        if (!stale) break;
        memcpy(stale, path, dir_len);
        strcpy(stale + dir_len, name);
        unlink(stale);
        free(stale);
    }
    closedir(dir);
}

int gc_safetensors_save(const gc_safetensors *st, const char *path, gc_error *err) {
    outbuf o = {0};
    int *order = malloc(sizeof *order * (size_t)(st->num_tensors ? st->num_tensors : 1));
    if (!order) return out_of_memory(err);
    if (!build_header(st, &o, order, err)) {
        free(order);
        free(o.data);
        return 0;
    }
    /* A fresh name next to the target: rename is atomic only within one filesystem. */
    size_t tmp_len = strlen(path) + 64;
    char *tmp = malloc(tmp_len);
    int fd = -1, ok = 0;
    if (!tmp) {
        out_of_memory(err);
        goto done;
    }
    for (unsigned attempt = 0; fd < 0 && attempt < 100; attempt++) {
        snprintf(tmp, tmp_len, "%s.tmp.%ld.%u", path, (long)getpid(), attempt);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        gc_failf(err, GC_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
        goto done;
    }
    ok = write_fully(fd, o.data, o.len, tmp, err);
    for (int i = 0; ok && i < st->num_tensors; i++)
        ok = write_fully(fd, st->tensors[order[i]].data, st->tensors[order[i]].nbytes, tmp, err);
    if (ok && fsync(fd) != 0) ok = gc_failf(err, GC_ERR_IO, "cannot sync '%s': %s", tmp, strerror(errno));
    if (close(fd) != 0 && ok) ok = gc_failf(err, GC_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    if (ok && rename(tmp, path) != 0)
        ok = gc_failf(err, GC_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
    if (!ok) unlink(tmp);
    if (ok) remove_stale_temps(path);
    if (ok) ok = sync_directory(path, err);
done:
    free(tmp);
    free(order);
    free(o.data);
    return ok;
}
