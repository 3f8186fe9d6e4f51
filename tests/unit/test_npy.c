/*
 * test_npy.c: the .npy reader and writer (runtime/npy.c).
 *
 * Round trips for every dtype and rank, conversions (f64 to f32, i64 to i32 with its range check),
 * the byte layout NumPy itself writes, headers of versions 2.0 and 3.0 and of older writers, and
 * every malformed file a user could hand us, each generated here byte by byte in a temporary
 * directory: each must give a clear error naming the file, never a crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/npy.h"

static char tmpdir[256];

static int setup_dir(void **state) {
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/gc_npy_XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state) {
    DIR *d = opendir(tmpdir);
    if (!d) return -1;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
        unlink(path);
    }
    closedir(d);
    return rmdir(tmpdir);
}

static const char *tmp_path(const char *name) {
    static char path[8][512];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, sizeof path[0], "%s/%s", tmpdir, name);
    return p;
}

static void write_bytes(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* Builds a .npy image: magic, version major.0, the header dict padded to 64 bytes with a newline
 * (as NumPy does), then len data bytes. Returns the total size; buf must hold 4096 bytes. */
static size_t build_npy(unsigned char *buf, int major, const char *dict, const void *data, size_t len) {
    size_t prefix = major == 1 ? 10 : 12, n = strlen(dict);
    size_t total = (prefix + n + 1 + 63) / 64 * 64, hlen = total - prefix;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    for (size_t i = 0; i < prefix - 8; i++) buf[8 + i] = (unsigned char)(hlen >> (8 * i));
    memcpy(buf + prefix, dict, n);
    memset(buf + prefix + n, ' ', hlen - n - 1);
    buf[total - 1] = '\n';
    memcpy(buf + total, data, len);
    return total + len;
}

static void make_npy(const char *path, int major, const char *dict, const void *data, size_t len) {
    unsigned char buf[4096];
    write_bytes(path, buf, build_npy(buf, major, dict, data, len));
}

static size_t file_size(const char *path) {
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (size_t)st.st_size;
}

static int count_files(void) {
    DIR *d = opendir(tmpdir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

/* Expects reading path as `want` to fail with code and a message naming the file and holding `what`. */
static void expect_read_error(const char *path, gc_dtype want, gc_error_code code, const char *what) {
    gc_error err = {0};
    gc_tensor t = {0};
    t.data = NULL;
    int ok = gc_npy_read(path, want, &t, &err);
    if (ok || !strstr(err.message, what) || !strstr(err.message, path) || err.code != code)
        fail_msg("reading %s: ok=%d code=%d message '%s'; expected code %d and '%s'", path, ok, err.code,
                 err.message, code, what);
    assert_null(t.data);
}

/* ---- round trips ---- */

static void roundtrip_f32_every_rank(void **state) {
    for (int rank = 0; rank <= GC_MAX_RANK; rank++) {
        gc_tensor t = {.dtype = GC_F32, .rank = rank};
        int64_t numel = 1;
        for (int i = 0; i < rank; i++) numel *= t.shape[i] = 1 + (i % 3);
        float *v = malloc((size_t)numel * sizeof *v);
        for (int64_t i = 0; i < numel; i++) v[i] = (float)(i * 0.37 - 1.5);
        t.data = v;
        const char *path = tmp_path("f32.npy");
        gc_error err = {0};
        assert_true(gc_npy_write(path, &t, &err));
        /* The header is padded to 64 bytes so the data is aligned, as NumPy writes it. */
        size_t size = file_size(path);
        assert_int_equal((size - (size_t)numel * 4) % 64, 0);

        gc_tensor back = {0};
        assert_true(gc_npy_read(path, GC_F32, &back, &err));
        assert_int_equal(back.dtype, GC_F32);
        assert_int_equal(back.rank, rank);
        for (int i = 0; i < rank; i++) assert_int_equal(back.shape[i], t.shape[i]);
        assert_memory_equal(back.data, v, (size_t)numel * sizeof *v);
        free(back.data);
        free(v);
    }
    assert_int_equal(count_files(), 1); /* no temporary files left behind */
}

static void roundtrip_i32_and_f64(void **state) {
    int32_t iv[5] = {0, -1, 2147483647, -2147483647 - 1, 42};
    gc_tensor ti = {.dtype = GC_I32, .rank = 1, .shape = {5}, .data = iv};
    double dv[6] = {0.1, -2.5e300, 1e-310, 3.141592653589793, -0.0, 7};
    gc_tensor td = {.dtype = GC_F64, .rank = 2, .shape = {2, 3}, .data = dv};
    gc_error err = {0};
    assert_true(gc_npy_write(tmp_path("i.npy"), &ti, &err));
    assert_true(gc_npy_write(tmp_path("d.npy"), &td, &err));

    gc_tensor back = {0};
    assert_true(gc_npy_read(tmp_path("i.npy"), GC_I32, &back, &err));
    assert_int_equal(back.rank, 1);
    assert_int_equal(back.shape[0], 5);
    assert_memory_equal(back.data, iv, sizeof iv);
    free(back.data);

    assert_true(gc_npy_read(tmp_path("d.npy"), GC_F64, &back, &err));
    assert_int_equal(back.dtype, GC_F64);
    assert_int_equal(back.shape[1], 3);
    assert_memory_equal(back.data, dv, sizeof dv);
    free(back.data);

    /* f64 converted to f32 on request, as float(x) would. */
    assert_true(gc_npy_read(tmp_path("d.npy"), GC_F32, &back, &err));
    assert_int_equal(back.dtype, GC_F32);
    const float *f = back.data;
    for (int i = 0; i < 6; i++) assert_memory_equal(&f[i], &(float){(float)dv[i]}, sizeof(float));
    assert_true(isinf(f[1]) && f[1] < 0);
    free(back.data);
}

static void f32_widens_to_f64(void **state) {
    float v[3] = {0.1f, -3.0f, 1e-40f};
    gc_tensor t = {.dtype = GC_F32, .rank = 1, .shape = {3}, .data = v};
    gc_error err = {0};
    assert_true(gc_npy_write(tmp_path("w.npy"), &t, &err));
    gc_tensor back = {0};
    assert_true(gc_npy_read(tmp_path("w.npy"), GC_F64, &back, &err));
    const double *d = back.data;
    for (int i = 0; i < 3; i++) assert_true(d[i] == (double)v[i]);
    free(back.data);
}

static void empty_array(void **state) {
    gc_tensor t = {.dtype = GC_F32, .rank = 2, .shape = {0, 4}, .data = NULL};
    gc_error err = {0};
    assert_true(gc_npy_write(tmp_path("e.npy"), &t, &err));
    gc_tensor back = {0};
    assert_true(gc_npy_read(tmp_path("e.npy"), GC_F32, &back, &err));
    assert_int_equal(back.rank, 2);
    assert_int_equal(back.shape[0], 0);
    assert_int_equal(back.shape[1], 4);
    assert_non_null(back.data);
    free(back.data);
}

static bool contains(const unsigned char *buf, size_t n, const char *s) {
    size_t m = strlen(s);
    for (size_t i = 0; i + m <= n; i++)
        if (!memcmp(buf + i, s, m)) return true;
    return false;
}

/* The exact bytes np.save(np.zeros((2, 3), np.float32)) writes before the data (NumPy 1.24), so
 * files we write are files NumPy writes. */
static void header_bytes_match_numpy(void **state) {
    float v[6] = {0};
    gc_tensor t = {.dtype = GC_F32, .rank = 2, .shape = {2, 3}, .data = v};
    gc_error err = {0};
    const char *path = tmp_path("layout.npy");
    assert_true(gc_npy_write(path, &t, &err));
    unsigned char buf[256];
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_int_equal(n, 128 + 24);
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    assert_memory_equal(buf, "\x93NUMPY\x01\x00\x76\x00", 10);
    assert_memory_equal(buf + 10, dict, strlen(dict));
    for (size_t i = 10 + strlen(dict); i < 127; i++) assert_int_equal(buf[i], ' ');
    assert_int_equal(buf[127], '\n');

    /* A rank-1 shape is the one-element tuple "(5,)", a scalar's the empty tuple "()". */
    gc_tensor r1 = {.dtype = GC_I32, .rank = 1, .shape = {5}, .data = (int32_t[5]){0}};
    assert_true(gc_npy_write(path, &r1, &err));
    f = fopen(path, "rb");
    n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_true(contains(buf, n, "'descr': '<i4'"));
    assert_true(contains(buf, n, "'shape': (5,), }"));
    gc_tensor r0 = {.dtype = GC_F64, .rank = 0, .data = &(double){2.5}};
    assert_true(gc_npy_write(path, &r0, &err));
    f = fopen(path, "rb");
    n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_int_equal(n, 128 + 8);
    assert_true(contains(buf, n, "'shape': (), }"));
}

/* ---- hand-made headers of other writers ---- */

static void reads_versions_and_header_variants(void **state) {
    float v[2] = {1.5f, -2.0f};
    gc_error err = {0};
    gc_tensor back = {0};
    const char *dicts[] = {
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
        "{\"shape\": (2,), \"fortran_order\": False, \"descr\": \"<f4\"}", /* any key order, " quotes */
        "{'descr':'<f4','fortran_order':False,'shape':(2L,)}",           /* Python 2 long suffix */
        "{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }",      /* 1-D: both orders agree */
    };
    for (int major = 1; major <= 3; major++) {
        for (size_t i = 0; i < sizeof dicts / sizeof dicts[0]; i++) {
            make_npy(tmp_path("v.npy"), major, dicts[i], v, sizeof v);
            if (!gc_npy_read(tmp_path("v.npy"), GC_F32, &back, &err))
                fail_msg("version %d header '%s': %s", major, dicts[i], err.message);
            assert_int_equal(back.rank, 1);
            assert_int_equal(back.shape[0], 2);
            assert_memory_equal(back.data, v, sizeof v);
            free(back.data);
        }
    }
    gc_npy_info info;
    make_npy(tmp_path("info.npy"), 2, "{'descr': '<i8', 'fortran_order': False, 'shape': (3, 1, 2), }",
             (int64_t[6]){0}, 48);
    assert_true(gc_npy_read_info(tmp_path("info.npy"), &info, &err));
    assert_string_equal(info.descr, "<i8");
    assert_int_equal(info.dtype, GC_I32);
    assert_int_equal(info.rank, 3);
    assert_int_equal(info.numel, 6);
    assert_int_equal(info.shape[2], 2);
}

static void i64_narrows_with_range_check(void **state) {
    int64_t ok[4] = {0, -7, INT32_MAX, INT32_MIN};
    make_npy(tmp_path("i8.npy"), 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 2), }", ok, sizeof ok);
    gc_error err = {0};
    gc_tensor back = {0};
    assert_true(gc_npy_read(tmp_path("i8.npy"), GC_I32, &back, &err));
    const int32_t *iv = back.data;
    for (int i = 0; i < 4; i++) assert_int_equal(iv[i], ok[i]);
    free(back.data);

    int64_t big[3] = {1, 2, (int64_t)INT32_MAX + 1};
    make_npy(tmp_path("big.npy"), 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", big, sizeof big);
    expect_read_error(tmp_path("big.npy"), GC_I32, GC_ERR_USER, "element 2 is 2147483648, outside the i32 range");
    int64_t small[1] = {(int64_t)INT32_MIN - 1};
    make_npy(tmp_path("small.npy"), 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (), }", small, 8);
    expect_read_error(tmp_path("small.npy"), GC_I32, GC_ERR_USER, "outside the i32 range");
}

static void int_and_float_do_not_mix(void **state) {
    make_npy(tmp_path("f.npy"), 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", (float[1]){1}, 4);
    expect_read_error(tmp_path("f.npy"), GC_I32, GC_ERR_USER, "floating-point data (<f4), which does not convert to i32");
    make_npy(tmp_path("i.npy"), 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }", (int32_t[1]){1}, 4);
    expect_read_error(tmp_path("i.npy"), GC_F32, GC_ERR_USER, "integer data (<i4), which does not convert to f32");
}

/* ---- malformed files ---- */

typedef struct bad_header {
    const char *dict;
    size_t data_len;
    const char *what;
} bad_header;

static void malformed_headers(void **state) {
    static const bad_header cases[] = {
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 16, "Fortran-order arrays are not supported"},
        {"{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8, "big-endian data (>f4) is not supported"},
        {"{'descr': '>i8', 'fortran_order': False, 'shape': (2,), }", 16, "big-endian"},
        {"{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }", 4, "unsupported dtype '<f2'"},
        {"{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }", 2, "unsupported dtype '|u1'"},
        {"{'descr': '<U0123456789abcdef', 'fortran_order': False, 'shape': (), }", 0, "unsupported dtype '<U0123456789abc...'"},
        {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 8, "structured dtypes are not supported"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }", 0, "more than"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }", 0, "dimension 0 of the shape is too large"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", 0, "non-negative integers"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1), }", 4, "rank 7"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': 3, }", 4, "shape is not a tuple"},
        {"{'descr': '<f4', 'fortran_order': False, }", 4, "missing key 'shape'"},
        {"{'fortran_order': False, 'shape': (1,), }", 4, "missing key 'descr'"},
        {"{'descr': '<f4', 'shape': (1,), }", 4, "missing key 'fortran_order'"},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 4, "repeated key 'descr'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}", 4, "key 'extra'"},
        {"{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }", 4, "neither True nor False"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,) 'x'}", 4, "expected ',' or '}'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } junk", 4, "text after the dict"},
        {"{'descr': '<f4, 'fortran_order': False, 'shape': (1,), }", 4, "malformed .npy header"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1 2), }", 4, "expected ',' or ')' in the shape"},
        {"['descr', '<f4']", 4, "not a dict"},
        {"", 0, "not a dict"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", 8, "truncated data (16 bytes expected for 4 elements, 8 present)"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 7, "3 bytes of unexpected data after the array"},
    };
    unsigned char zeros[64] = {0};
    char name[32];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(name, sizeof name, "bad%zu.npy", i);
        make_npy(tmp_path(name), 1, cases[i].dict, zeros, cases[i].data_len);
        expect_read_error(tmp_path(name), GC_F32, GC_ERR_USER, cases[i].what);
    }
}

static void malformed_prefixes(void **state) {
    unsigned char buf[4096];
    gc_npy_info info;
    gc_error err = {0};

    write_bytes(tmp_path("empty.npy"), "", 0);
    expect_read_error(tmp_path("empty.npy"), GC_F32, GC_ERR_USER, "not a .npy file");
    write_bytes(tmp_path("text.npy"), "x,y\n1,2\n", 8);
    expect_read_error(tmp_path("text.npy"), GC_F32, GC_ERR_USER, "not a .npy file");
    write_bytes(tmp_path("magic4.npy"), "\x93NUM", 4);
    expect_read_error(tmp_path("magic4.npy"), GC_F32, GC_ERR_USER, "truncated header");
    write_bytes(tmp_path("nolen.npy"), "\x93NUMPY\x01\x00\x40", 9);
    expect_read_error(tmp_path("nolen.npy"), GC_F32, GC_ERR_USER, "truncated header");

    size_t n = build_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", "\0\0\0\0", 4);
    buf[6] = 4;
    write_bytes(tmp_path("v4.npy"), buf, n);
    expect_read_error(tmp_path("v4.npy"), GC_F32, GC_ERR_USER, "unsupported .npy format version 4.0");
    buf[6] = 1;
    buf[7] = 1;
    write_bytes(tmp_path("v11.npy"), buf, n);
    expect_read_error(tmp_path("v11.npy"), GC_F32, GC_ERR_USER, "version 1.1");

    /* A header cut short: the dict announces 118 bytes but the file stops after 30. */
    buf[7] = 0;
    write_bytes(tmp_path("cut.npy"), buf, 40);
    expect_read_error(tmp_path("cut.npy"), GC_F32, GC_ERR_USER, "truncated header (118 bytes announced, 30 present)");

    /* A version 2.0 header length of 4 GB must be refused before anything is allocated. */
    memcpy(buf, "\x93NUMPY\x02\x00\xf0\xff\xff\xff{}", 14);
    write_bytes(tmp_path("huge.npy"), buf, 14);
    expect_read_error(tmp_path("huge.npy"), GC_F32, GC_ERR_USER, "implausible header length 4294967280");
    assert_false(gc_npy_read_info(tmp_path("huge.npy"), &info, &err));

    n = build_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", "\0\0\0\0", 4);
    buf[20] = '\0';
    write_bytes(tmp_path("nul.npy"), buf, n);
    expect_read_error(tmp_path("nul.npy"), GC_F32, GC_ERR_USER, "NUL byte");
}

static void file_system_errors(void **state) {
    expect_read_error(tmp_path("missing.npy"), GC_F32, GC_ERR_IO, "cannot open");
    expect_read_error(tmpdir, GC_F32, GC_ERR_IO, "is a directory");

    float v = 1;
    gc_tensor t = {.dtype = GC_F32, .rank = 0, .data = &v};
    gc_error err = {0};
    int before = count_files();
    assert_false(gc_npy_write(tmp_path("no/such/dir/x.npy"), &t, &err));
    assert_int_equal(err.code, GC_ERR_IO);
    assert_non_null(strstr(err.message, "no/such/dir/x.npy"));
    /* Renaming over a directory fails after the data is written: the temporary must be removed. */
    const char *sub = tmp_path("sub");
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_false(gc_npy_write(sub, &t, &err));
    assert_int_equal(err.code, GC_ERR_IO);
    assert_int_equal(count_files(), before + 1);
    assert_int_equal(rmdir(sub), 0);
}

static void overwrite_replaces_whole_file(void **state) {
    const char *path = tmp_path("over.npy");
    float big[100] = {0};
    gc_tensor t = {.dtype = GC_F32, .rank = 1, .shape = {100}, .data = big};
    gc_error err = {0};
    assert_true(gc_npy_write(path, &t, &err));
    int32_t small[2] = {3, 4};
    gc_tensor u = {.dtype = GC_I32, .rank = 1, .shape = {2}, .data = small};
    assert_true(gc_npy_write(path, &u, &err));
    assert_int_equal(file_size(path), 128 + 8);
    gc_tensor back = {0};
    assert_true(gc_npy_read(path, GC_I32, &back, &err));
    assert_memory_equal(back.data, small, sizeof small);
    free(back.data);
}

/* A FIFO has no size to check up front: truncation and trailing bytes are found while reading. */
static int read_through_fifo(const unsigned char *bytes, size_t len, gc_tensor *out, gc_error *err) {
    const char *path = tmp_path("fifo.npy");
    unlink(path);
    assert_int_equal(mkfifo(path, 0600), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        FILE *f = fopen(path, "wb");
        if (f) {
            fwrite(bytes, 1, len, f);
            fclose(f);
        }
        _exit(0);
    }
    int ok = gc_npy_read(path, GC_F32, out, err);
    int status;
    waitpid(pid, &status, 0);
    unlink(path);
    return ok;
}

static void reads_from_a_pipe(void **state) {
    unsigned char buf[4096] = {0};
    float v[3] = {1, 2, 3};
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }";
    gc_error err = {0};
    gc_tensor back = {0};
    size_t n = build_npy(buf, 1, dict, v, sizeof v);
    assert_true(read_through_fifo(buf, n, &back, &err));
    assert_memory_equal(back.data, v, sizeof v);
    free(back.data);
    back.data = NULL;

    assert_false(read_through_fifo(buf, n - 2, &back, &err));
    assert_non_null(strstr(err.message, "truncated data"));
    assert_null(back.data);
    assert_false(read_through_fifo(buf, n + 1, &back, &err));
    assert_non_null(strstr(err.message, "unexpected data after the array"));
    assert_null(back.data);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(roundtrip_f32_every_rank),
        cmocka_unit_test(roundtrip_i32_and_f64),
        cmocka_unit_test(f32_widens_to_f64),
        cmocka_unit_test(empty_array),
        cmocka_unit_test(header_bytes_match_numpy),
        cmocka_unit_test(reads_versions_and_header_variants),
        cmocka_unit_test(i64_narrows_with_range_check),
        cmocka_unit_test(int_and_float_do_not_mix),
        cmocka_unit_test(malformed_headers),
        cmocka_unit_test(malformed_prefixes),
        cmocka_unit_test(file_system_errors),
        cmocka_unit_test(overwrite_replaces_whole_file),
        cmocka_unit_test(reads_from_a_pipe),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
