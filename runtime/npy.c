/*
 * npy.c: the NumPy .npy format (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html).
 *
 * A file is the magic "\x93NUMPY", a version (1.0, 2.0 or 3.0), a little-endian header length
 * (2 bytes in 1.0, 4 after), a Python dict literal such as
 * {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded with spaces to a multiple of
 * 64 bytes and ended by a newline, then the raw elements. Files come from users, so every field is
 * checked before it is trusted: the header length and the shape are bounded before anything is
 * allocated, and the data size is compared with the file size before it is read. Elements are
 * decoded byte by byte as little-endian, so the code does not depend on the host's byte order.
 */
#include "runtime/npy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ir/diag.h"
#include "ir/types.h"

/* Real headers are under 200 bytes (NumPy itself refuses more than 10000 by default); a larger
 * announced length means a corrupt file, and must not turn into a huge allocation. */
#define NPY_MAX_HEADER ((uint32_t)1 << 20)
/* Elements are converted through a buffer of this many bytes at a time. */
#define NPY_CHUNK ((size_t)1 << 16)

static const unsigned char npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

/* The element encodings gradc reads, all little-endian. */
typedef enum npy_kind { NPY_F4, NPY_F8, NPY_I4, NPY_I8 } npy_kind;

static const struct {
    const char *descr;
    npy_kind kind;
    size_t size;
    gc_dtype dtype; /* what it reads as when nothing else is asked */
} npy_kinds[] = {
    {"<f4", NPY_F4, 4, GC_F32},
    {"<f8", NPY_F8, 8, GC_F64},
    {"<i4", NPY_I4, 4, GC_I32},
    {"<i8", NPY_I8, 8, GC_I32},
};

typedef struct npy_reader {
    FILE *f;
    const char *path;
    gc_npy_info info;
    npy_kind kind;
    size_t elem_size;
    int64_t file_size; /* -1 when the file is not a regular file (a pipe) */
    int64_t offset;    /* bytes consumed so far */
} npy_reader;

/* ---- little-endian decoding and encoding ---- */

static uint32_t get_le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const unsigned char *p) {
    return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static void put_le32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void put_le64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* ---- the header dict ---- */

typedef struct header_parser {
    const char *s, *end;
    const char *path;
    gc_error *err;
} header_parser;

static void skip_space(header_parser *p) {
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r')) p->s++;
}

static int header_error(header_parser *p, const char *what) {
    return gc_failf(p->err, GC_ERR_USER, "%s: malformed .npy header: %s", p->path, what);
}

static bool accept(header_parser *p, char c) {
    skip_space(p);
    if (p->s < p->end && *p->s == c) {
        p->s++;
        return true;
    }
    return false;
}

/* string = "'" chars "'" | '"' chars '"'   (no escapes: dtype strings and keys need none) */
static int parse_string(header_parser *p, char *out, size_t size, bool *too_long) {
    skip_space(p);
    if (p->s >= p->end || (*p->s != '\'' && *p->s != '"')) return header_error(p, "expected a string");
    char quote = *p->s++;
    const char *start = p->s;
    while (p->s < p->end && *p->s != quote) {
        if (*p->s == '\\' || *p->s == '\n') return header_error(p, "unsupported string literal");
        p->s++;
    }
    if (p->s >= p->end) return header_error(p, "unterminated string");
    size_t n = (size_t)(p->s - start);
    p->s++;
    *too_long = n >= size;
    if (*too_long) n = size - 1;
    memcpy(out, start, n);
    out[n] = '\0';
    return 1;
}

/* bool = "True" | "False" */
static int parse_bool(header_parser *p, bool *out) {
    skip_space(p);
    size_t left = (size_t)(p->end - p->s);
    if (left >= 4 && !memcmp(p->s, "True", 4)) {
        p->s += 4;
        *out = true;
        return 1;
    }
    if (left >= 5 && !memcmp(p->s, "False", 5)) {
        p->s += 5;
        *out = false;
        return 1;
    }
    return header_error(p, "fortran_order is neither True nor False");
}

/* shape = "(" [dim ("," dim)* [","]] ")"    dim = digits ["L"] (Python 2 wrote longs with an L) */
static int parse_shape(header_parser *p, gc_npy_info *info) {
    if (!accept(p, '(')) return header_error(p, "shape is not a tuple");
    int rank = 0;
    skip_space(p);
    while (!accept(p, ')')) {
        skip_space(p);
        if (p->s >= p->end || *p->s < '0' || *p->s > '9')
            return header_error(p, "shape holds something other than non-negative integers");
        int64_t dim = 0;
        while (p->s < p->end && *p->s >= '0' && *p->s <= '9') {
            dim = dim * 10 + (*p->s++ - '0');
            if (dim > GC_MAX_ELEMENTS)
                return gc_failf(p->err, GC_ERR_USER, "%s: dimension %d of the shape is too large (over %lld)",
                                p->path, rank, (long long)GC_MAX_ELEMENTS);
        }
        if (p->s < p->end && *p->s == 'L') p->s++;
        if (rank < GC_MAX_RANK) info->shape[rank] = dim;
        rank++;
        if (!accept(p, ',')) {
            if (!accept(p, ')')) return header_error(p, "expected ',' or ')' in the shape");
            break;
        }
    }
    if (rank > GC_MAX_RANK)
        return gc_failf(p->err, GC_ERR_USER, "%s: array of rank %d; gradc supports ranks 0 to %d", p->path,
                        rank, GC_MAX_RANK);
    info->rank = rank;
    int64_t numel = 1;
    for (int i = 0; i < rank; i++) {
        if (info->shape[i] != 0 && numel > GC_MAX_ELEMENTS / info->shape[i])
            return gc_failf(p->err, GC_ERR_USER, "%s: the shape has more than %lld elements", p->path,
                            (long long)GC_MAX_ELEMENTS);
        numel *= info->shape[i];
    }
    info->numel = numel;
    return 1;
}

/* header = "{" (key ":" value ",")* [key ":" value] "}" with exactly the keys descr, fortran_order
 * and shape, in any order. */
static int parse_header(npy_reader *r, const char *text, size_t len, gc_error *err) {
    header_parser p = {text, text + len, r->path, err};
    bool have_descr = false, have_order = false, have_shape = false, fortran = false, long_descr = false;
    if (!accept(&p, '{')) return header_error(&p, "not a dict");
    while (!accept(&p, '}')) {
        char key[32];
        bool long_key;
        if (!parse_string(&p, key, sizeof key, &long_key)) return 0;
        if (!accept(&p, ':')) return header_error(&p, "expected ':' after a key");
        if (!strcmp(key, "descr") && !have_descr) {
            skip_space(&p);
            if (p.s < p.end && (*p.s == '[' || *p.s == '('))
                return gc_failf(err, GC_ERR_USER,
                                "%s: structured dtypes are not supported (gradc reads <f4, <f8, <i4, <i8)",
                                r->path);
            if (!parse_string(&p, r->info.descr, sizeof r->info.descr, &long_descr)) return 0;
            have_descr = true;
        } else if (!strcmp(key, "fortran_order") && !have_order) {
            if (!parse_bool(&p, &fortran)) return 0;
            have_order = true;
        } else if (!strcmp(key, "shape") && !have_shape) {
            if (!parse_shape(&p, &r->info)) return 0;
            have_shape = true;
        } else {
            return gc_failf(err, GC_ERR_USER, "%s: malformed .npy header: unexpected or repeated key '%s'",
                            r->path, key);
        }
        if (!accept(&p, ',')) {
            if (!accept(&p, '}')) return header_error(&p, "expected ',' or '}'");
            break;
        }
    }
    skip_space(&p);
    if (p.s != p.end) return header_error(&p, "text after the dict");
    if (!have_descr || !have_order || !have_shape)
        return gc_failf(err, GC_ERR_USER, "%s: malformed .npy header: missing key '%s'", r->path,
                        !have_descr ? "descr" : !have_order ? "fortran_order" : "shape");

    const char *d = r->info.descr;
    for (size_t i = 0; i < sizeof npy_kinds / sizeof npy_kinds[0]; i++) {
        if (!long_descr && !strcmp(d, npy_kinds[i].descr)) {
            r->kind = npy_kinds[i].kind;
            r->elem_size = npy_kinds[i].size;
            r->info.dtype = npy_kinds[i].dtype;
            if (fortran && r->info.rank > 1)
                return gc_failf(err, GC_ERR_USER,
                                "%s: Fortran-order arrays are not supported; save np.ascontiguousarray(a)",
                                r->path);
            return 1;
        }
    }
    if (d[0] == '>' && !long_descr)
        return gc_failf(err, GC_ERR_USER,
                        "%s: big-endian data (%s) is not supported; save a.astype('<%s')", r->path, d, d + 1);
    return gc_failf(err, GC_ERR_USER, "%s: unsupported dtype '%s%s' (gradc reads <f4, <f8, <i4 and <i8)",
                    r->path, d, long_descr ? "..." : "");
}

/* ---- reading ---- */

/* Reads exactly n bytes; a short read is a truncation (GC_ERR_USER) or a read error (GC_ERR_IO). */
static int read_exact(npy_reader *r, void *buf, size_t n, const char *what, gc_error *err) {
    size_t got = fread(buf, 1, n, r->f);
    r->offset += (int64_t)got;
    if (got == n) return 1;
    if (ferror(r->f))
        return gc_failf(err, GC_ERR_IO, "%s: read error: %s", r->path, strerror(errno));
    return gc_failf(err, GC_ERR_USER, "%s: truncated %s (%zu of %zu bytes present)", r->path, what, got, n);
}

static void reader_close(npy_reader *r) {
    if (r->f) fclose(r->f);
    r->f = NULL;
}

/* Opens path and reads everything up to the first element. */
static int reader_open(npy_reader *r, const char *path, gc_error *err) {
    memset(r, 0, sizeof *r);
    r->path = path;
    r->f = fopen(path, "rb");
    if (!r->f) return gc_failf(err, GC_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    bool have_stat = fstat(fileno(r->f), &st) == 0;
    if (have_stat && S_ISDIR(st.st_mode)) return gc_failf(err, GC_ERR_IO, "cannot read %s: it is a directory", path);
    r->file_size = have_stat && S_ISREG(st.st_mode) ? (int64_t)st.st_size : -1;

    unsigned char pre[8];
    size_t got = fread(pre, 1, sizeof pre, r->f);
    r->offset = (int64_t)got;
    if (ferror(r->f)) return gc_failf(err, GC_ERR_IO, "%s: read error: %s", path, strerror(errno));
    size_t cmp = got < sizeof npy_magic ? got : sizeof npy_magic;
    if (memcmp(pre, npy_magic, cmp) != 0 || got == 0)
        return gc_failf(err, GC_ERR_USER, "%s: not a .npy file (it does not start with \\x93NUMPY)", path);
    if (got < sizeof pre)
        return gc_failf(err, GC_ERR_USER, "%s: truncated header (the file has only %zu bytes)", path, got);
    int major = pre[6], minor = pre[7];
    if (major < 1 || major > 3 || minor != 0)
        return gc_failf(err, GC_ERR_USER, "%s: unsupported .npy format version %d.%d (gradc reads 1.0, 2.0, 3.0)",
                        path, major, minor);

    unsigned char lenbuf[4] = {0};
    size_t lenbytes = major == 1 ? 2 : 4;
    if (!read_exact(r, lenbuf, lenbytes, "header", err)) return 0;
    uint32_t hlen = major == 1 ? (uint32_t)lenbuf[0] | (uint32_t)lenbuf[1] << 8 : get_le32(lenbuf);
    if (hlen > NPY_MAX_HEADER)
        return gc_failf(err, GC_ERR_USER, "%s: implausible header length %lu (corrupt file?)", path,
                        (unsigned long)hlen);
    if (r->file_size >= 0 && r->offset + (int64_t)hlen > r->file_size)
        return gc_failf(err, GC_ERR_USER, "%s: truncated header (%lu bytes announced, %lld present)", path,
                        (unsigned long)hlen, (long long)(r->file_size - r->offset));
    char *text = malloc(hlen + 1);
    if (!text) return gc_failf(err, GC_ERR_MEMORY, "%s: out of memory reading the header", path);
    int ok = read_exact(r, text, hlen, "header", err);
    if (ok) {
        text[hlen] = '\0';
        /* Version 1.0 and 2.0 headers are latin-1, 3.0 UTF-8; the fields gradc reads are ASCII
         * either way, and a NUL byte can only be corruption. */
        if (memchr(text, '\0', hlen)) ok = gc_failf(err, GC_ERR_USER, "%s: malformed .npy header: NUL byte", path);
    }
    if (ok) ok = parse_header(r, text, hlen, err);
    free(text);
    return ok;
}

static bool kind_is_float(npy_kind k) { return k == NPY_F4 || k == NPY_F8; }

/* Decodes n elements of r->kind from src into dst (of dtype want), starting at flat index base. */
static int convert(npy_reader *r, const unsigned char *src, size_t n, gc_dtype want, void *dst, int64_t base,
                   gc_error *err) {
    for (size_t i = 0; i < n; i++) {
        const unsigned char *p = src + i * r->elem_size;
        double v = 0;
        int64_t iv = 0;
        switch (r->kind) {
        case NPY_F4: {
            uint32_t bits = get_le32(p);
            float f;
            memcpy(&f, &bits, sizeof f);
            if (want == GC_F32) {
                ((float *)dst)[i] = f;
                continue;
            }
            v = f;
            break;
        }
        case NPY_F8: {
            uint64_t bits = get_le64(p);
            memcpy(&v, &bits, sizeof v);
            break;
        }
        case NPY_I4:
            iv = (int32_t)get_le32(p);
            break;
        case NPY_I8:
            iv = (int64_t)get_le64(p);
            if (iv < INT32_MIN || iv > INT32_MAX)
                return gc_failf(err, GC_ERR_USER, "%s: element %lld is %lld, outside the i32 range", r->path,
                                (long long)(base + (int64_t)i), (long long)iv);
            break;
        }
        if (want == GC_F32)
            ((float *)dst)[i] = (float)v;
        else if (want == GC_F64)
            ((double *)dst)[i] = v;
        else
            ((int32_t *)dst)[i] = (int32_t)iv;
    }
    return 1;
}

int gc_npy_read_info(const char *path, gc_npy_info *info, gc_error *err) {
    npy_reader r;
    int ok = reader_open(&r, path, err);
    if (ok) *info = r.info;
    reader_close(&r);
    return ok;
}

static int read_data(npy_reader *r, gc_dtype want, gc_tensor *out, gc_error *err) {
    if (want != GC_F32 && want != GC_F64 && want != GC_I32)
        return gc_failf(err, GC_ERR_INTERNAL, "gc_npy_read: invalid dtype %d asked for", (int)want);
    if (kind_is_float(r->kind) != gc_dtype_is_float(want))
        return gc_failf(err, GC_ERR_USER, "%s holds %s data (%s), which does not convert to %s", r->path,
                        kind_is_float(r->kind) ? "floating-point" : "integer", r->info.descr, gc_dtype_name(want));
    int64_t numel = r->info.numel;
    int64_t bytes = numel * (int64_t)r->elem_size;
    if (r->file_size >= 0) {
        int64_t present = r->file_size - r->offset;
        if (present < bytes)
            return gc_failf(err, GC_ERR_USER, "%s: truncated data (%lld bytes expected for %lld elements, %lld present)",
                            r->path, (long long)bytes, (long long)numel, (long long)present);
        if (present > bytes)
            return gc_failf(err, GC_ERR_USER, "%s: %lld bytes of unexpected data after the array", r->path,
                            (long long)(present - bytes));
    }
    size_t out_size = gc_dtype_size(want);
    if ((uint64_t)numel > SIZE_MAX / out_size)
        return gc_failf(err, GC_ERR_MEMORY, "%s: %lld elements do not fit in memory", r->path, (long long)numel);
    void *data = malloc(numel ? (size_t)numel * out_size : 1);
    unsigned char *chunk = malloc(NPY_CHUNK);
    if (!data || !chunk) {
        free(data);
        free(chunk);
        return gc_failf(err, GC_ERR_MEMORY, "%s: out of memory for %lld elements", r->path, (long long)numel);
    }
    size_t per_chunk = NPY_CHUNK / r->elem_size;
    int ok = 1;
    for (int64_t done = 0; ok && done < numel;) {
        size_t n = numel - done < (int64_t)per_chunk ? (size_t)(numel - done) : per_chunk;
        ok = read_exact(r, chunk, n * r->elem_size, "data", err) &&
             convert(r, chunk, n, want, (char *)data + (size_t)done * out_size, done, err);
        done += (int64_t)n;
    }
    /* A pipe's size is unknown up front, so trailing bytes are only seen now. */
    if (ok && r->file_size < 0 && fgetc(r->f) != EOF)
        ok = gc_failf(err, GC_ERR_USER, "%s: unexpected data after the array", r->path);
    free(chunk);
    if (!ok) {
        free(data);
        return 0;
    }
    memset(out, 0, sizeof *out);
    out->dtype = want;
    out->rank = r->info.rank;
    for (int i = 0; i < r->info.rank; i++) out->shape[i] = r->info.shape[i];
    out->data = data;
    return 1;
}

int gc_npy_read(const char *path, gc_dtype want, gc_tensor *out, gc_error *err) {
    npy_reader r;
    int ok = reader_open(&r, path, err) && read_data(&r, want, out, err);
    reader_close(&r);
    return ok;
}

/* ---- writing ---- */

static int write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return 0;
        }
        p += w;
        n -= (size_t)w;
    }
    return 1;
}

/* Fills buf (at least 128 bytes) with the magic, version 1.0, length and padded header dict;
 * returns its length, a multiple of 64 as NumPy writes it (so the data is aligned). */
static size_t format_header(const gc_tensor *t, const char *descr, char *buf, size_t size) {
    char dict[256];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int i = 0; i < t->rank; i++)
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    n += snprintf(dict + n, sizeof dict - (size_t)n, "%s), }", t->rank == 1 ? "," : "");
    size_t total = 10 + (size_t)n + 1;
    total = (total + 63) / 64 * 64;
    if (total > size) return 0;
    size_t hlen = total - 10;
    memcpy(buf, npy_magic, sizeof npy_magic);
    buf[6] = 1;
    buf[7] = 0;
    buf[8] = (char)(hlen & 0xff);
    buf[9] = (char)(hlen >> 8);
    memcpy(buf + 10, dict, (size_t)n);
    memset(buf + 10 + n, ' ', hlen - (size_t)n - 1);
    buf[total - 1] = '\n';
    return total;
}

/* Writes the elements of t little-endian through a bounded buffer. */
static int write_data(int fd, const gc_tensor *t, int64_t numel) {
    size_t esize = gc_dtype_size(t->dtype);
    unsigned char buf[8192];
    size_t per = sizeof buf / esize, fill = 0;
    for (int64_t i = 0; i < numel; i++) {
        unsigned char *p = buf + fill * esize;
        if (t->dtype == GC_F64) {
            uint64_t bits;
            memcpy(&bits, (const double *)t->data + i, sizeof bits);
            put_le64(p, bits);
        } else {
            uint32_t bits;
            memcpy(&bits, (const uint32_t *)t->data + i, sizeof bits);
            put_le32(p, bits);
        }
        if (++fill == per) {
            if (!write_all(fd, buf, fill * esize)) return 0;
            fill = 0;
        }
    }
    return fill == 0 || write_all(fd, buf, fill * esize);
}

/* Flushes the directory entry of a finished rename; best effort, as some file systems refuse. */
static void sync_parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - path) < sizeof dir)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

int gc_npy_write(const char *path, const gc_tensor *t, gc_error *err) {
    const char *descr = t->dtype == GC_F32 ? "<f4" : t->dtype == GC_I32 ? "<i4" : t->dtype == GC_F64 ? "<f8" : NULL;
    if (!descr) return gc_failf(err, GC_ERR_INTERNAL, "gc_npy_write %s: invalid dtype %d", path, (int)t->dtype);
    if (t->rank < 0 || t->rank > GC_MAX_RANK)
        return gc_failf(err, GC_ERR_INTERNAL, "gc_npy_write %s: invalid rank %d", path, t->rank);
    int64_t numel = 1;
    for (int i = 0; i < t->rank; i++) {
        if (t->shape[i] < 0 || (t->shape[i] > 0 && numel > GC_MAX_ELEMENTS / t->shape[i]))
            return gc_failf(err, GC_ERR_INTERNAL, "gc_npy_write %s: invalid shape", path);
        numel *= t->shape[i];
    }
    if (numel > 0 && !t->data) return gc_failf(err, GC_ERR_INTERNAL, "gc_npy_write %s: no data", path);

    char header[256];
    size_t hsize = format_header(t, descr, header, sizeof header);
    if (!hsize) return gc_failf(err, GC_ERR_INTERNAL, "gc_npy_write %s: header too long", path);

    /* The temporary name is unique per process and call; O_EXCL settles any remaining race. */
    static atomic_uint counter;
    size_t tmp_size = strlen(path) + 64;
    char *tmp = malloc(tmp_size);
    if (!tmp) return gc_failf(err, GC_ERR_MEMORY, "out of memory writing %s", path);
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        snprintf(tmp, tmp_size, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&counter, 1));
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return gc_failf(err, GC_ERR_IO, "cannot write %s: %s", path, strerror(e));
    }
    int ok = write_all(fd, header, hsize) && write_data(fd, t, numel) && fsync(fd) == 0;
    int e = errno;
    if (close(fd) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = 0;
        e = errno;
    }
    if (!ok) {
        unlink(tmp);
        free(tmp);
        return gc_failf(err, GC_ERR_IO, "cannot write %s: %s", path, strerror(e));
    }
    free(tmp);
    sync_parent_dir(path);
    return 1;
}
