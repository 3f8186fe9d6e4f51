/*
 * test_safetensors.c: the checkpoint reader and writer against files PyTorch's side wrote
 * (tests/oracle/gen_safetensors.py), byte for byte against the library's layout, through round
 * trips, against every kind of malformed header, and under fuzzing (every truncation, byte flips,
 * random edits): a damaged checkpoint must give an error naming the file, never a crash.
 */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "runtime/safetensors.h"

static char tmpdir[64];

static int make_tmpdir(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/gc_safetensors_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state) {
    (void)state;
    DIR *d = opendir(tmpdir);
    if (!d) return 0;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
        if (rmdir(path) != 0) unlink(path);
    }
    closedir(d);
    rmdir(tmpdir);
    return 0;
}

static char *tmp_path(const char *name) {
    static char path[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/%s", tmpdir, name);
    return path[k];
}

static unsigned char *read_all(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return b;
}

static void write_all(const char *path, const void *bytes, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static const char *expected_path(const char *name) {
    static char path[512];
    const char *dir = getenv("GC_EXPECTED_DIR");
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/expected", name);
    return path;
}

/* ---- the oracle's description (see gen_safetensors.py) ---- */

typedef struct expected_tensor {
    char name[128];
    gc_st_dtype dtype;
    int rank;
    int64_t shape[GC_MAX_RANK];
    unsigned char data[256];
    size_t nbytes;
} expected_tensor;

typedef struct expected {
    char writer[16];
    int num_tensors, num_meta;
    expected_tensor tensors[16];
    char meta_keys[4][64], meta_values[4][64];
} expected;

static void unhex(const char *hex, char *out, size_t cap) {
    size_t n = strlen(hex) / 2;
    assert_true(n < cap);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (char)v;
    }
    out[n] = '\0';
}

/* Each value as the dtype's little-endian bytes (the test runs on little-endian hosts only). */
static void parse_values(expected_tensor *t, char *line) {
    size_t size = gc_st_dtype_size(t->dtype);
    t->nbytes = 0;
    for (char *tok = strtok(line, " \n"); tok; tok = strtok(NULL, " \n")) {
        assert_true(t->nbytes + size <= sizeof t->data);
        unsigned char *p = t->data + t->nbytes;
        if (t->dtype == GC_ST_F32) {
            float v = (float)strtod(tok, NULL);
            if (strcmp(tok, "nan") == 0) v = NAN;
            memcpy(p, &v, 4);
        } else if (t->dtype == GC_ST_F64) {
            double v = strtod(tok, NULL);
            memcpy(p, &v, 8);
        } else if (t->dtype == GC_ST_I32) {
            int32_t v = (int32_t)strtol(tok, NULL, 10);
            memcpy(p, &v, 4);
        } else {
            int64_t v = (int64_t)strtoll(tok, NULL, 10);
            memcpy(p, &v, 8);
        }
        t->nbytes += size;
    }
}

static void load_expected(expected *e) {
    memset(e, 0, sizeof *e);
    FILE *f = fopen(expected_path("st_reference.txt"), "r");
    if (!f) fail_msg("cannot read %s (run the oracle fixture first)", expected_path("st_reference.txt"));
    char line[8192], a[512], b[512];
    expected_tensor *cur = NULL;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "writer ", 7) == 0) {
            assert_int_equal(sscanf(line + 7, "%15s", e->writer), 1);
        } else if (strncmp(line, "meta ", 5) == 0) {
            assert_int_equal(sscanf(line + 5, "%511s %511s", a, b), 2);
            unhex(a, e->meta_keys[e->num_meta], sizeof e->meta_keys[0]);
            unhex(b, e->meta_values[e->num_meta], sizeof e->meta_values[0]);
            e->num_meta++;
        } else if (strncmp(line, "tensor ", 7) == 0) {
            cur = &e->tensors[e->num_tensors++];
            int used = 0;
            assert_int_equal(sscanf(line + 7, "%511s %511s %d%n", a, b, &cur->rank, &used), 3);
            unhex(a, cur->name, sizeof cur->name);
            assert_true(gc_st_dtype_from_name(b, &cur->dtype));
            char *rest = line + 7 + used;
            for (int i = 0; i < cur->rank; i++) cur->shape[i] = strtoll(rest, &rest, 10);
        } else if (strncmp(line, "values", 6) == 0) {
            assert_non_null(cur);
            parse_values(cur, line + 6);
        }
    }
    fclose(f);
    assert_true(e->num_tensors >= 8);
}

static void expect_tensor(const gc_safetensors *st, const expected_tensor *want) {
    const gc_st_tensor *t = gc_safetensors_find(st, want->name);
    if (!t) fail_msg("tensor '%s' is missing", want->name);
    assert_int_equal(t->dtype, want->dtype);
    assert_int_equal(t->rank, want->rank);
    for (int i = 0; i < want->rank; i++) assert_int_equal(t->shape[i], want->shape[i]);
    assert_int_equal(t->nbytes, want->nbytes);
    /* Bitwise, so NaN, -0.0 and subnormals count. */
    if (want->nbytes && memcmp(t->data, want->data, want->nbytes) != 0)
        fail_msg("tensor '%s': data differs", want->name);
}

static gc_safetensors *set_from_expected(const expected *e, bool reversed) {
    gc_error err = {0};
    gc_safetensors *st = gc_safetensors_new(&err);
    assert_non_null(st);
    for (int k = 0; k < e->num_tensors; k++) {
        const expected_tensor *t = &e->tensors[reversed ? e->num_tensors - 1 - k : k];
        if (!gc_safetensors_add(st, t->name, t->dtype, t->rank, t->shape, t->data, &err))
            fail_msg("add '%s': %s", t->name, err.message);
    }
    return st;
}

static void test_reads_the_oracle_file(void **state) {
    (void)state;
    expected e;
    load_expected(&e);
    gc_error err = {0};
    gc_safetensors *st = gc_safetensors_load(expected_path("st_reference.safetensors"), &err);
    if (!st) fail_msg("%s", err.message);
    assert_int_equal(st->num_tensors, e.num_tensors);
    for (int i = 0; i < e.num_tensors; i++) expect_tensor(st, &e.tensors[i]);
    assert_int_equal(st->num_meta, e.num_meta);
    for (int i = 0; i < e.num_meta; i++)
        assert_string_equal(gc_safetensors_get_meta(st, e.meta_keys[i]), e.meta_values[i]);
    /* The typed view of an f32 tensor; I64 has none. */
    gc_tensor view;
    const gc_st_tensor *w = gc_safetensors_find(st, "fc1.weight");
    assert_true(gc_st_tensor_view(w, &view));
    assert_int_equal(view.dtype, GC_F32);
    assert_int_equal(view.rank, 2);
    assert_int_equal(view.shape[1], 4);
    assert_ptr_equal(view.data, w->data);
    assert_false(gc_st_tensor_view(gc_safetensors_find(st, "step"), &view));
    assert_null(gc_safetensors_find(st, "fc1"));
    assert_null(gc_safetensors_get_meta(st, "missing"));
    gc_safetensors_free(st);
}

static void test_writes_the_library_layout(void **state) {
    (void)state;
    expected e;
    load_expected(&e);
    size_t ref_size;
    unsigned char *ref = read_all(expected_path("st_reference.safetensors"), &ref_size);
    assert_non_null(ref);
    /* Whatever order tensors are added in, the bytes are the library's. */
    for (int reversed = 0; reversed < 2; reversed++) {
        gc_safetensors *st = set_from_expected(&e, reversed);
        gc_error err = {0};
        for (int i = 0; i < e.num_meta; i++)
            assert_true(gc_safetensors_set_meta(st, e.meta_keys[i], e.meta_values[i], &err));
        unsigned char *bytes;
        size_t size;
        assert_true(gc_safetensors_serialize(st, &bytes, &size, &err));
        assert_int_equal(size, ref_size);
        if (memcmp(bytes, ref, size) != 0) {
            size_t at = 0;
            while (bytes[at] == ref[at]) at++;
            fail_msg("bytes differ from the %s-written reference at offset %zu", e.writer, at);
        }
        free(bytes);
        gc_safetensors_free(st);
    }
    /* And a loaded file reserializes to itself. */
    gc_error err = {0};
    gc_safetensors *st = gc_safetensors_parse(ref, ref_size, "ref", &err);
    assert_non_null(st);
    unsigned char *bytes;
    size_t size;
    assert_true(gc_safetensors_serialize(st, &bytes, &size, &err));
    assert_int_equal(size, ref_size);
    assert_memory_equal(bytes, ref, size);
    free(bytes);
    gc_safetensors_free(st);
    free(ref);
}

static void test_layout_alignment(void **state) {
    (void)state;
    /* Odd element counts of every dtype: the order (8-byte dtypes first) keeps each aligned. */
    gc_error err = {0};
    gc_safetensors *st = gc_safetensors_new(&err);
    unsigned char zeros[64] = {0};
    struct {
        const char *name;
        gc_st_dtype dtype;
        int64_t n;
    } ts[] = {{"a", GC_ST_I32, 3}, {"b", GC_ST_F64, 1}, {"c", GC_ST_F32, 5}, {"d", GC_ST_I64, 1}, {"e", GC_ST_F32, 1}};
    for (int i = 0; i < 5; i++) assert_true(gc_safetensors_add(st, ts[i].name, ts[i].dtype, 1, &ts[i].n, zeros, &err));
    assert_true(gc_safetensors_set_meta(st, "k", "v", &err));
    unsigned char *bytes;
    size_t size;
    assert_true(gc_safetensors_serialize(st, &bytes, &size, &err));
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | bytes[i];
    assert_int_equal(n % 8, 0);
    assert_int_equal(size, 8 + n + 12 + 8 + 20 + 8 + 4);
    /* The padding is spaces after the closing brace. */
    size_t end = 8 + (size_t)n;
    while (bytes[end - 1] == ' ') end--;
    assert_int_equal(bytes[end - 1], '}');
    assert_true(8 + n - end < 8);
    char *header = strndup((const char *)bytes + 8, (size_t)n);
    assert_non_null(header);
    const char *want_prefix = "{\"__metadata__\":{\"k\":\"v\"},\"d\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]},"
                              "\"b\":{\"dtype\":\"F64\"";
    assert_memory_equal(header, want_prefix, strlen(want_prefix));
    for (int i = 0; i < 5; i++) {
        char key[16];
        snprintf(key, sizeof key, "\"%s\":{", ts[i].name);
        const char *at = strstr(header, key);
        assert_non_null(at);
        unsigned long long begin, stop;
        assert_int_equal(sscanf(strstr(at, "data_offsets"), "data_offsets\":[%llu,%llu]", &begin, &stop), 2);
        assert_int_equal(stop - begin, (unsigned long long)ts[i].n * gc_st_dtype_size(ts[i].dtype));
        assert_int_equal((8 + n + begin) % gc_st_dtype_size(ts[i].dtype), 0);
    }
    free(header);
    free(bytes);
    gc_safetensors_free(st);
}

static void test_save_load_round_trip(void **state) {
    (void)state;
    expected e;
    load_expected(&e);
    gc_safetensors *st = set_from_expected(&e, true);
    gc_error err = {0};
    assert_true(gc_safetensors_set_meta(st, "note", "line\nbreak \"quoted\" \\ tab\t ctl\x01 ünï", &err));
    assert_true(gc_safetensors_set_meta(st, "gradc.step", "6", &err));
    assert_true(gc_safetensors_set_meta(st, "gradc.step", "7", &err)); /* replaces */
    assert_int_equal(st->num_meta, 2);
    const char *path = tmp_path("ckpt.safetensors");
    assert_true(gc_safetensors_save(st, path, &err));
    gc_safetensors *back = gc_safetensors_load(path, &err);
    if (!back) fail_msg("%s", err.message);
    for (int i = 0; i < e.num_tensors; i++) expect_tensor(back, &e.tensors[i]);
    assert_string_equal(gc_safetensors_get_meta(back, "gradc.step"), "7");
    assert_string_equal(gc_safetensors_get_meta(back, "note"), "line\nbreak \"quoted\" \\ tab\t ctl\x01 ünï");

    /* Saving again over the file gives identical bytes and leaves no temporary file behind. */
    size_t n1, n2;
    unsigned char *b1 = read_all(path, &n1);
    gc_safetensors_free(back);
    back = gc_safetensors_load(path, &err);
    assert_true(gc_safetensors_save(back, path, &err));
    unsigned char *b2 = read_all(path, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(b1, b2, n1);
    int entries = 0;
    DIR *d = opendir(tmpdir);
    for (struct dirent *de; (de = readdir(d));)
        if (de->d_name[0] != '.') {
            entries++;
            assert_string_equal(de->d_name, "ckpt.safetensors");
        }
    closedir(d);
    assert_int_equal(entries, 1);
    free(b1);
    free(b2);
    gc_safetensors_free(back);

    /* An empty set is the library's 16-byte file. */
    gc_safetensors *empty = gc_safetensors_new(&err);
    unsigned char *bytes;
    size_t size;
    assert_true(gc_safetensors_serialize(empty, &bytes, &size, &err));
    assert_int_equal(size, 16);
    assert_memory_equal(bytes, "\x08\0\0\0\0\0\0\0{}      ", 16);
    free(bytes);
    assert_true(gc_safetensors_save(empty, tmp_path("empty.safetensors"), &err));
    gc_safetensors *e2 = gc_safetensors_load(tmp_path("empty.safetensors"), &err);
    assert_non_null(e2);
    assert_int_equal(e2->num_tensors, 0);
    gc_safetensors_free(e2);
    gc_safetensors_free(empty);
    gc_safetensors_free(st);
    unlink(tmp_path("empty.safetensors"));
}

static void touch(const char *name) {
    FILE *f = fopen(tmp_path(name), "w");
    assert_non_null(f);
    fputs("partial", f);
    fclose(f);
}

static int exists(const char *name) { return access(tmp_path(name), F_OK) == 0; }

/* A save killed before its rename leaves CKPT.tmp.PID.N behind: the next save of CKPT removes
 * those of processes no longer running and of this process, and nothing else. */
static void test_save_removes_stale_temps(void **state) {
    (void)state;
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) _exit(0);
    assert_int_equal(waitpid(child, NULL, 0), child);
    char dead[96], mine[96], live[96], other[96];
    snprintf(dead, sizeof dead, "stale.safetensors.tmp.%ld.0", (long)child);
    snprintf(mine, sizeof mine, "stale.safetensors.tmp.%ld.7", (long)getpid());
    snprintf(live, sizeof live, "stale.safetensors.tmp.%ld.0", (long)getppid());
    snprintf(other, sizeof other, "other.safetensors.tmp.%ld.0", (long)child);
    const char *kept[] = {live, other, "stale.safetensors.tmp.x.0", "stale.safetensors.tmp.12.0.old"};
    touch(dead);
    touch(mine);
    for (int k = 0; k < 4; k++) touch(kept[k]);
    gc_error err = {0};
    gc_safetensors *st = gc_safetensors_new(&err);
    assert_non_null(st);
    assert_true(gc_safetensors_save(st, tmp_path("stale.safetensors"), &err));
    assert_false(exists(dead));
    assert_false(exists(mine));
    for (int k = 0; k < 4; k++) {
        if (!exists(kept[k])) fail_msg("%s was removed", kept[k]);
        unlink(tmp_path(kept[k]));
    }
    assert_true(exists("stale.safetensors"));
    unlink(tmp_path("stale.safetensors"));
    gc_safetensors_free(st);
}

static void test_python_reads_what_c_writes(void **state) {
    (void)state;
    const char *src = getenv("GC_SOURCE_DIR");
    if (!src || access("/usr/bin/python3", X_OK) != 0) skip();
    expected e;
    load_expected(&e);
    gc_safetensors *st = set_from_expected(&e, false);
    gc_error err = {0};
    /* CHECK_METADATA of gen_safetensors.py. */
    assert_true(gc_safetensors_set_meta(st, "note", "ünïcode \"quoted\"\n\t\\ \x01", &err));
    assert_true(gc_safetensors_set_meta(st, "gradc.step", "7", &err));
    assert_true(gc_safetensors_set_meta(st, "format", "pt", &err));
    const char *path = tmp_path("from_c.safetensors");
    assert_true(gc_safetensors_save(st, path, &err));
    gc_safetensors_free(st);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/oracle/gen_safetensors.py --check %s", src, path);
    assert_int_equal(system(cmd), 0);
    unlink(path);
}

static void test_building_errors(void **state) {
    (void)state;
    gc_error err = {0};
    gc_safetensors *st = gc_safetensors_new(&err);
    float v[6] = {1, 2, 3, 4, 5, 6};
    int64_t shape[7] = {2, 3, 1, 1, 1, 1, 1};
    assert_true(gc_safetensors_add(st, "w", GC_ST_F32, 2, shape, v, &err));
    struct {
        const char *name;
        gc_st_dtype dtype;
        int rank;
        int64_t dim0;
        gc_error_code code;
        const char *message;
    } bad[] = {
        {"w", GC_ST_F32, 2, 2, GC_ERR_USER, "safetensors: tensor 'w' is added twice"},
        {"", GC_ST_F32, 2, 2, GC_ERR_USER, "safetensors: a tensor needs a non-empty name"},
        {NULL, GC_ST_F32, 2, 2, GC_ERR_USER, "safetensors: a tensor needs a non-empty name"},
        {"__metadata__", GC_ST_F32, 2, 2, GC_ERR_USER, "safetensors: '__metadata__' is reserved for metadata"},
        {"bad\xff", GC_ST_F32, 2, 2, GC_ERR_USER, "safetensors: tensor name is not valid UTF-8"},
        {"r7", GC_ST_F32, 7, 2, GC_ERR_USER, "safetensors: tensor 'r7' has rank 7, outside 0..6"},
        {"neg", GC_ST_F32, 2, -2, GC_ERR_USER, "safetensors: tensor 'neg' has negative dimension -2"},
        {"big", GC_ST_F32, 2, INT64_MAX, GC_ERR_USER, "safetensors: tensor 'big' is too large"},
        {"dt", (gc_st_dtype)9, 2, 2, GC_ERR_INTERNAL, "internal error: safetensors: tensor 'dt' has dtype 9"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t s[7] = {bad[i].dim0, 3, 1, 1, 1, 1, 1};
        memset(&err, 0, sizeof err);
        assert_false(gc_safetensors_add(st, bad[i].name, bad[i].dtype, bad[i].rank, s, v, &err));
        assert_int_equal(err.code, bad[i].code);
        assert_string_equal(err.message, bad[i].message);
    }
    assert_int_equal(st->num_tensors, 1);
    /* Empty tensors need no data; scalars need one element. */
    int64_t zero[2] = {0, 3};
    assert_true(gc_safetensors_add(st, "none", GC_ST_F32, 2, zero, NULL, &err));
    assert_int_equal(gc_safetensors_find(st, "none")->nbytes, 0);
    double d = 2.5;
    assert_true(gc_safetensors_add(st, "scalar", GC_ST_F64, 0, NULL, &d, &err));
    assert_int_equal(gc_safetensors_find(st, "scalar")->nbytes, 8);
    /* The data is copied. */
    v[0] = 100;
    assert_true(((float *)gc_safetensors_find(st, "w")->data)[0] == 1.0f);
    /* gc_tensor views in. */
    int32_t ids[3] = {4, 5, 6};
    gc_tensor t = {GC_I32, 1, {3}, ids};
    assert_true(gc_safetensors_add_tensor(st, "ids", &t, &err));
    assert_int_equal(gc_safetensors_find(st, "ids")->dtype, GC_ST_I32);
    assert_int_equal(((int32_t *)gc_safetensors_find(st, "ids")->data)[2], 6);
    /* Metadata. */
    assert_false(gc_safetensors_set_meta(st, "", "v", &err));
    assert_string_equal(err.message, "safetensors: a metadata key needs a non-empty name");
    assert_false(gc_safetensors_set_meta(st, "k", "\xc0\x80", &err));
    assert_string_equal(err.message, "safetensors: metadata value for 'k' is not valid UTF-8");
    assert_false(gc_safetensors_set_meta(st, "k", NULL, &err));
    assert_true(gc_safetensors_set_meta(st, "k", "", &err));
    assert_string_equal(gc_safetensors_get_meta(st, "k"), "");
    gc_safetensors_free(st);

    /* The dtype helpers. */
    gc_st_dtype sd;
    gc_dtype gd;
    assert_string_equal(gc_st_dtype_name(GC_ST_I64), "I64");
    assert_string_equal(gc_st_dtype_name((gc_st_dtype)8), "?");
    assert_int_equal(gc_st_dtype_size(GC_ST_F64), 8);
    assert_int_equal(gc_st_dtype_size(GC_ST_I32), 4);
    assert_int_equal(gc_st_dtype_size((gc_st_dtype)8), 0);
    assert_false(gc_st_dtype_from_name("BF16", &sd));
    assert_false(gc_st_dtype_from_name("f32", &sd));
    assert_true(gc_st_dtype_from_gc(GC_F64, &sd));
    assert_int_equal(sd, GC_ST_F64);
    assert_true(gc_st_dtype_to_gc(GC_ST_I32, &gd));
    assert_int_equal(gd, GC_I32);
    assert_false(gc_st_dtype_to_gc(GC_ST_I64, &gd));
}

static void test_io_errors(void **state) {
    (void)state;
    gc_error err = {0};
    assert_null(gc_safetensors_load(tmp_path("missing.safetensors"), &err));
    assert_int_equal(err.code, GC_ERR_IO);
    assert_non_null(strstr(err.message, "missing.safetensors"));
    assert_non_null(strstr(err.message, "No such file"));
    memset(&err, 0, sizeof err);
    assert_null(gc_safetensors_load(tmpdir, &err));
    assert_int_equal(err.code, GC_ERR_IO);
    assert_non_null(strstr(err.message, "is not a regular file"));

    gc_safetensors *st = gc_safetensors_new(&err);
    float v = 1;
    assert_true(gc_safetensors_add(st, "x", GC_ST_F32, 0, NULL, &v, &err));
    memset(&err, 0, sizeof err);
    assert_false(gc_safetensors_save(st, tmp_path("no/such/dir/x.safetensors"), &err));
    assert_int_equal(err.code, GC_ERR_IO);
    assert_non_null(strstr(err.message, "cannot create"));
    /* A directory in the way: the rename fails and the temporary file is removed. */
    const char *blocked = tmp_path("blocked");
    assert_int_equal(mkdir(blocked, 0700), 0);
    char inner[300];
    snprintf(inner, sizeof inner, "%s/keep", blocked);
    write_all(inner, "x", 1);
    memset(&err, 0, sizeof err);
    assert_false(gc_safetensors_save(st, blocked, &err));
    assert_int_equal(err.code, GC_ERR_IO);
    assert_non_null(strstr(err.message, "cannot rename"));
    unlink(inner);
    assert_int_equal(rmdir(blocked), 0);
    DIR *d = opendir(tmpdir);
    for (struct dirent *de; (de = readdir(d));)
        if (strstr(de->d_name, ".tmp.")) fail_msg("temporary file %s left behind", de->d_name);
    closedir(d);
    /* A relative path saves next to it (the directory sync uses "."). */
    char cwd[512];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(tmpdir), 0);
    assert_true(gc_safetensors_save(st, "rel.safetensors", &err));
    assert_int_equal(chdir(cwd), 0);
    gc_safetensors *back = gc_safetensors_load(tmp_path("rel.safetensors"), &err);
    assert_non_null(back);
    gc_safetensors_free(back);
    unlink(tmp_path("rel.safetensors"));
    gc_safetensors_free(st);
}

/* ---- headers written by hand ---- */

/* A file from a header text and data_len bytes of data (a pattern, so tensors differ). Each file
 * gets its own exact-size allocation, so the sanitizer sees any read past the end. */
static unsigned char *blob(const char *json, size_t json_len, size_t data_len, size_t *size) {
    if (!json_len) json_len = strlen(json);
    *size = 8 + json_len + data_len;
    unsigned char *b = malloc(*size);
    assert_non_null(b);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)json_len >> (8 * i));
    memcpy(b + 8, json, json_len);
    for (size_t i = 0; i < data_len; i++) b[8 + json_len + i] = (unsigned char)(i * 7 + 1);
    return b;
}

static gc_safetensors *parse_blob(const char *json, size_t json_len, size_t data_len, gc_error *err) {
    size_t size;
    unsigned char *b = blob(json, json_len, data_len, &size);
    memset(err, 0, sizeof *err);
    gc_safetensors *st = gc_safetensors_parse(b, size, "case.st", err);
    free(b);
    return st;
}

static void test_valid_headers(void **state) {
    (void)state;
    gc_error err;
    gc_safetensors *st = parse_blob("{}", 0, 0, &err);
    assert_non_null(st);
    assert_int_equal(st->num_tensors + st->num_meta, 0);
    gc_safetensors_free(st);

    /* Whitespace anywhere JSON allows it, fields in any order, padding of any length. */
    st = parse_blob(" \t\r\n{ \"a\" : { \"data_offsets\" : [ 0 , 8 ] , \"shape\" : [ 2 ] , \"dtype\" : \"F32\" } }"
                    "   \n\t  ",
                    0, 8, &err);
    if (!st) fail_msg("%s", err.message);
    const gc_st_tensor *a = gc_safetensors_find(st, "a");
    assert_non_null(a);
    assert_int_equal(a->rank, 1);
    assert_int_equal(a->shape[0], 2);
    assert_memory_equal(a->data, "\x01\x08\x0f\x16\x1d\x24\x2b\x32", 8);
    gc_safetensors_free(st);

    /* Escapes decode to UTF-8; surrogate pairs join; "\/" is "/". */
    st = parse_blob("{\"a\\u00e9\\ud83d\\ude00\\/\\n\\\"\\\\\\b\\f\\r\\t\\u0041\":"
                    "{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[0,4]},"
                    "\"__metadata__\":{\"\\u00fc\":\"caf\xc3\xa9 \\ud834\\udd1e\"}}",
                    0, 4, &err);
    if (!st) fail_msg("%s", err.message);
    assert_string_equal(st->tensors[0].name, "a\xc3\xa9\xf0\x9f\x98\x80/\n\"\\\b\f\r\tA");
    assert_int_equal(st->tensors[0].rank, 0);
    assert_int_equal(st->tensors[0].nbytes, 4);
    assert_string_equal(gc_safetensors_get_meta(st, "\xc3\xbc"), "caf\xc3\xa9 \xf0\x9d\x84\x9e");
    gc_safetensors_free(st);

    /* Header order is free; tensors come back in data order. Empty tensors sit anywhere. */
    st = parse_blob("{\"c\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[12,20]},"
                    "\"z\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[12,12]},"
                    "\"b\":{\"dtype\":\"F64\",\"shape\":[1,1],\"data_offsets\":[4,12]},"
                    "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                    "\"y\":{\"dtype\":\"I32\",\"shape\":[3,0],\"data_offsets\":[20,20]},"
                    "\"__metadata__\":{}}",
                    0, 20, &err);
    if (!st) fail_msg("%s", err.message);
    const char *order[] = {"a", "b", "z", "c", "y"};
    assert_int_equal(st->num_tensors, 5);
    for (int i = 0; i < 5; i++) assert_string_equal(st->tensors[i].name, order[i]);
    assert_int_equal(gc_safetensors_find(st, "c")->dtype, GC_ST_I64);
    assert_memory_equal(gc_safetensors_find(st, "c")->data, "\x55\x5c\x63\x6a\x71\x78\x7f\x86", 8);
    assert_int_equal(gc_safetensors_find(st, "y")->nbytes, 0);
    assert_int_equal(st->num_meta, 0);
    gc_safetensors_free(st);

    /* Rank 6 is the most gradc holds. */
    st = parse_blob("{\"r\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,2],\"data_offsets\":[0,8]}}", 0, 8, &err);
    assert_non_null(st);
    assert_int_equal(st->tensors[0].rank, 6);
    gc_safetensors_free(st);
}

typedef struct bad_case {
    const char *json;
    size_t json_len; /* 0: strlen(json) */
    size_t data_len;
    const char *want; /* a part of the message */
} bad_case;

#define T_A "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}"
#define ENTRY(name, fields) "{\"" name "\":{" fields "}}"

static const bad_case bad_cases[] = {
    /* JSON syntax */
    {"", 0, 0, "unexpected end, expected '{' to start the header"},
    {"[]", 0, 0, "at byte 8: expected '{' to start the header"},
    {"{" T_A ",}", 0, 8, "expected a string"},
    {"{a:1}", 0, 0, "at byte 9: expected a string"},
    {"{'a':1}", 0, 0, "expected a string"},
    {"{" T_A "} x", 0, 8, "expected only spaces after the header's closing '}'"},
    {"{" T_A "}\0\0\0", 57, 8, "expected only spaces after the header's closing '}'"},
    {"{" T_A, 0, 8, "unexpected end, expected ',' or '}'"},
    {"{" T_A "}}", 0, 8, "expected only spaces"},
    {"{\"a\" " T_A "}", 0, 8, "expected ':'"},
    {"{\"a", 0, 0, "unexpected end, expected the end of a string"},
    {"{\"a\\", 0, 0, "unexpected end, expected the end of a string"},
    {"{\"a\x01\":1}", 0, 0, "expected no raw control characters in a string"},
    {"{\"a\\q\":1}", 0, 0, "expected a valid escape"},
    {"{\"\\ud800\":1}", 0, 0, "expected a low surrogate after a high surrogate"},
    {"{\"\\ud800\\u0041\":1}", 0, 0, "expected a low surrogate after a high surrogate"},
    {"{\"\\udc00\":1}", 0, 0, "expected no unpaired low surrogate"},
    {"{\"\\u0000\":1}", 0, 0, "expected no NUL character in a string"},
    {"{\"\\u12\":1}", 0, 0, "expected four hex digits after \\u"},
    {"{\"\\u12g4\":1}", 0, 0, "expected four hex digits after \\u"},
    {"{\"\xff\":1}", 0, 0, "expected valid UTF-8"},
    {"{\"\xc0\x80\":1}", 0, 0, "expected valid UTF-8"},
    {"{\"\xed\xa0\x80\":1}", 0, 0, "expected valid UTF-8"},
    {"{\"\xe2\x82\":1}", 0, 0, "expected valid UTF-8"},
    {"{\"\xf4\x90\x80\x80\":1}", 0, 0, "expected valid UTF-8"},
    /* tensor entries */
    {ENTRY("a", "\"dtype\":\"F32\",\"shape\":[02],\"data_offsets\":[0,8]"), 0, 8, "expected no leading zeros in a number"},
    {ENTRY("a", "\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]"), 0, 8, "tensor 'a': shape must hold non-negative integers"},
    {ENTRY("a", "\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]"), 0, 8, "tensor 'a': shape must hold non-negative integers"},
    {ENTRY("a", "\"dtype\":\"F32\",\"shape\":[2e0],\"data_offsets\":[0,8]"), 0, 8, "tensor 'a': shape must hold non-negative integers"},
    {ENTRY("a", "\"dtype\":\"F32\",\"shape\":[[2]],\"data_offsets\":[0,8]"), 0, 8, "tensor 'a': shape must hold non-negative integers"},
    {ENTRY("a", "\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]"), 0, 8, "expected '['"},
    {ENTRY("a", "\"dtype\":\"F32\",\"shape\":[2,],\"data_offsets\":[0,8]"), 0, 8, "tensor 'a': shape must hold non-negative integers"},
    {ENTRY("a", "\"dtype\":\"F32\",\"shape\":[2 2],\"data_offsets\":[0,8]"), 0, 8, "expected ',' or ']'"},
    {ENTRY("a", "\"dtype\":\"F32\",\"shape\":[18446744073709551616],\"data_offsets\":[0,8]"), 0, 8,
     "tensor 'a': a number in shape is too large"},
    {ENTRY("a", "\"dtype\":\"F32\",\"shape\":[9223372036854775808],\"data_offsets\":[0,8]"), 0, 8,
     "tensor 'a': shape is too large"},
    {ENTRY("a", "\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,8]"), 0, 8,
     "tensor 'a': shape is too large"},
    {ENTRY("a", "\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,8]"), 0, 8,
     "tensor 'a': shape is too large"},
    {ENTRY("a", "\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,2],\"data_offsets\":[0,8]"), 0, 8,
     "tensor 'a': rank exceeds the maximum of 6"},
    {ENTRY("a", "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,8]"), 0, 8, "tensor 'a': data_offsets must hold exactly 2 numbers"},
    {ENTRY("a", "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8]"), 0, 8, "tensor 'a': data_offsets must hold exactly 2 numbers"},
    {ENTRY("a", "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[]"), 0, 8, "tensor 'a': data_offsets must hold exactly 2 numbers"},
    {ENTRY("a", "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"foo\":1"), 0, 8, "tensor 'a': unknown field 'foo'"},
    {ENTRY("a", "\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]"), 0, 8, "tensor 'a': repeated field 'dtype'"},
    {ENTRY("a", "\"dtype\":\"F32\",\"data_offsets\":[0,8]"), 0, 8, "tensor 'a': missing field 'shape'"},
    {ENTRY("a", "\"dtype\":\"F32\",\"shape\":[2]"), 0, 8, "tensor 'a': missing field 'data_offsets'"},
    {ENTRY("a", ""), 0, 8, "tensor 'a': missing field 'dtype'"},
    {"{\"a\":[]}", 0, 0, "expected '{' to start a tensor entry"},
    {"{\"a\":null}", 0, 0, "expected '{' to start a tensor entry"},
    {ENTRY("a", "\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]"), 0, 4,
     "tensor 'a': unsupported dtype 'BF16' (gradc reads F32, F64, I32 and I64)"},
    {ENTRY("a", "\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]"), 0, 8, "tensor 'a': unsupported dtype 'f32'"},
    {ENTRY("a", "\"dtype\":5,\"shape\":[2],\"data_offsets\":[0,8]"), 0, 8, "expected a string"},
    {ENTRY("a", "\"dtype\":\"F32\" \"shape\":[2],\"data_offsets\":[0,8]"), 0, 8, "expected ',' or '}' in a tensor entry"},
    {"{\"\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 0, 8, "a tensor has an empty name"},
    /* metadata */
    {"{\"__metadata__\":{\"k\":1}}", 0, 0, "metadata value for 'k' must be a string"},
    {"{\"__metadata__\":{\"k\":\"v\",\"k\":\"w\"}}", 0, 0, "metadata key 'k' appears twice"},
    {"{\"__metadata__\":{},\"__metadata__\":{}}", 0, 0, "__metadata__ appears twice"},
    {"{\"__metadata__\":\"x\"}", 0, 0, "expected '{' to start __metadata__"},
    {"{\"__metadata__\":{\"k\":\"v\" \"j\":\"w\"}}", 0, 0, "expected ',' or '}' in __metadata__"},
    {"{\"__metadata__\":{\"k\"}}", 0, 0, "expected ':'"},
    /* names and layout */
    {"{" T_A "," T_A "}", 0, 16, "tensor 'a' is defined twice"},
    {ENTRY("a", "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]"), 0, 4,
     "tensor 'a': data_offsets [0, 4] hold 4 bytes but F32[2] needs 8"},
    {ENTRY("a", "\"dtype\":\"F64\",\"shape\":[2,3],\"data_offsets\":[0,24]"), 0, 24,
     "tensor 'a': data_offsets [0, 24] hold 24 bytes but F64[2, 3] needs 48"},
    {ENTRY("a", "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]"), 0, 8, "tensor 'a': data_offsets [8, 0] end before they begin"},
    {ENTRY("a", "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,18446744073709551615]"), 0, 8,
     "tensor 'a': data_offsets [0, 18446744073709551615] hold 18446744073709551615 bytes but F32[2] needs 8"},
    {"{" T_A "}", 0, 4, "tensor 'a': data_offsets [0, 8] run past the end of the data (4 bytes)"},
    {ENTRY("a", "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[18446744073709551607,18446744073709551615]"), 0, 8,
     "tensor 'a': data_offsets [18446744073709551607, 18446744073709551615] run past the end of the data (8 bytes)"},
    {"{" T_A ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 0, 12, "tensors 'a' and 'b' overlap"},
    {"{" T_A ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 0, 8, "tensors 'a' and 'b' overlap"},
    {"{" T_A ",\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}", 0, 8, "tensors 'a' and 'z' overlap"},
    {"{" T_A ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}", 0, 20,
     "bytes 8..12 of the data belong to no tensor (before 'b')"},
    {ENTRY("a", "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]"), 0, 12,
     "bytes 0..4 of the data belong to no tensor (before 'a')"},
    {"{" T_A "}", 0, 12, "bytes 8..12 of the data belong to no tensor (after the last)"},
    {"{}", 0, 3, "bytes 0..3 of the data belong to no tensor (after the last)"},
};

static void test_malformed_headers(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case *c = &bad_cases[i];
        gc_error err;
        gc_safetensors *st = parse_blob(c->json, c->json_len, c->data_len, &err);
        if (st) {
            gc_safetensors_free(st);
            fail_msg("case %zu (%s) was accepted", i, c->json);
        }
        if (err.code != GC_ERR_USER || strncmp(err.message, "case.st: ", 9) != 0 || !strstr(err.message, c->want))
            fail_msg("case %zu (%s):\n  got  %d '%s'\n  want a user error with '%s'", i, c->json, err.code,
                     err.message, c->want);
    }
    /* The same checks through a file, with the path in the message. */
    const char *path = tmp_path("bad.safetensors");
    size_t size;
    unsigned char *b = blob(ENTRY("w", "\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]"), 0, 8, &size);
    write_all(path, b, size);
    free(b);
    gc_error err = {0};
    assert_null(gc_safetensors_load(path, &err));
    assert_int_equal(err.code, GC_ERR_USER);
    char want[512];
    snprintf(want, sizeof want, "%s: tensor 'w': data_offsets [0, 8] hold 8 bytes but F32[3] needs 12", path);
    assert_string_equal(err.message, want);
    unlink(path);
}

static void test_header_length(void **state) {
    (void)state;
    gc_error err = {0};
    assert_null(gc_safetensors_parse("", 0, "x", &err));
    assert_string_equal(err.message, "x: 0 bytes is too short for a safetensors file");
    assert_null(gc_safetensors_parse("\x02\0\0\0\0", 5, "x", &err));
    assert_string_equal(err.message, "x: 5 bytes is too short for a safetensors file");
    unsigned char b[20] = {100};
    memcpy(b + 8, "{}", 2);
    assert_null(gc_safetensors_parse(b, sizeof b, "x", &err));
    assert_string_equal(err.message, "x: header length 100 exceeds the file size (20 bytes)");
    memset(b, 0xFF, 8);
    assert_null(gc_safetensors_parse(b, sizeof b, "x", &err));
    assert_string_equal(err.message, "x: header length 18446744073709551615 exceeds the file size (20 bytes)");
    assert_int_equal(err.code, GC_ERR_USER);
    /* A header of exactly the remaining bytes (no data at all) is fine when it lists nothing. */
    unsigned char c[10] = {2, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    gc_safetensors *st = gc_safetensors_parse(c, sizeof c, "x", &err);
    assert_non_null(st);
    gc_safetensors_free(st);
    /* The same through files. */
    const char *path = tmp_path("short.safetensors");
    write_all(path, "\x01\x02\x03", 3);
    assert_null(gc_safetensors_load(path, &err));
    assert_int_equal(err.code, GC_ERR_USER);
    assert_non_null(strstr(err.message, "3 bytes is too short"));
    write_all(path, b, sizeof b);
    assert_null(gc_safetensors_load(path, &err));
    assert_non_null(strstr(err.message, "exceeds the file size (20 bytes)"));
    unlink(path);
}

/* ---- fuzzing ---- */

/* What every successfully parsed set must satisfy, whatever the input was. */
static void check_invariants(const gc_safetensors *st) {
    for (int i = 0; i < st->num_tensors; i++) {
        const gc_st_tensor *t = &st->tensors[i];
        assert_true(t->name[0] != '\0');
        assert_true(t->rank >= 0 && t->rank <= GC_MAX_RANK);
        uint64_t n = gc_st_dtype_size(t->dtype);
        assert_true(n > 0);
        for (int d = 0; d < t->rank; d++) n *= (uint64_t)t->shape[d];
        assert_int_equal(t->nbytes, n);
        assert_non_null(t->data);
    }
}

static void expect_refused(gc_safetensors *st, const gc_error *err, const char *what) {
    if (st) {
        check_invariants(st);
        gc_safetensors_free(st);
        return;
    }
    if (err->code != GC_ERR_USER) fail_msg("%s: error code %d: %s", what, err->code, err->message);
    assert_true(strncmp(err->message, what, strlen(what)) == 0);
}

static unsigned char *reference_bytes(size_t *size, uint64_t *header) {
    unsigned char *ref = read_all(expected_path("st_reference.safetensors"), size);
    if (!ref) fail_msg("cannot read %s", expected_path("st_reference.safetensors"));
    *header = 0;
    for (int i = 7; i >= 0; i--) *header = *header << 8 | ref[i];
    return ref;
}

static void test_fuzz_truncations(void **state) {
    (void)state;
    size_t size;
    uint64_t n;
    unsigned char *ref = reference_bytes(&size, &n);
    const char *path = tmp_path("trunc.safetensors");
    for (size_t len = 0; len < size; len++) {
        unsigned char *cut = malloc(len ? len : 1);
        memcpy(cut, ref, len);
        gc_error err = {0};
        gc_safetensors *st = gc_safetensors_parse(cut, len, "trunc", &err);
        if (st) fail_msg("a file truncated to %zu of %zu bytes was accepted", len, size);
        expect_refused(st, &err, "trunc: ");
        free(cut);
        /* Through a file as well: the reader must not trust the header to stay inside it. */
        write_all(path, ref, len);
        memset(&err, 0, sizeof err);
        st = gc_safetensors_load(path, &err);
        if (st) fail_msg("a file truncated to %zu bytes was loaded", len);
        assert_int_equal(err.code, GC_ERR_USER);
        assert_non_null(strstr(err.message, path));
    }
    unlink(path);
    free(ref);
}

static void test_fuzz_byte_flips(void **state) {
    (void)state;
    size_t size;
    uint64_t n;
    unsigned char *ref = reference_bytes(&size, &n);
    static const unsigned char masks[] = {0x01, 0x02, 0x20, 0x40, 0x80, 0xFF};
    int accepted = 0, refused = 0;
    for (size_t pos = 0; pos < size; pos++) {
        for (size_t m = 0; m < sizeof masks; m++) {
            unsigned char *b = malloc(size);
            memcpy(b, ref, size);
            b[pos] ^= masks[m];
            gc_error err = {0};
            gc_safetensors *st = gc_safetensors_parse(b, size, "flip", &err);
            if (pos < 8 && st) fail_msg("a flip of 0x%02x in the length byte %zu was accepted", masks[m], pos);
            if (pos >= 8 + n) {
                /* Data bytes are opaque: the file still loads, with that one byte changed. */
                if (!st) fail_msg("a flip in the data at %zu was refused: %s", pos, err.message);
                size_t differing = 0;
                for (int i = 0; i < st->num_tensors; i++) {
                    gc_safetensors *orig = gc_safetensors_parse(ref, size, "ref", &err);
                    const gc_st_tensor *o = gc_safetensors_find(orig, st->tensors[i].name);
                    for (size_t k = 0; k < o->nbytes; k++)
                        differing += ((unsigned char *)o->data)[k] != ((unsigned char *)st->tensors[i].data)[k];
                    gc_safetensors_free(orig);
                }
                assert_int_equal(differing, 1);
            }
            st ? accepted++ : refused++;
            expect_refused(st, &err, "flip: ");
            free(b);
        }
    }
    assert_true(accepted > 0 && refused > 0);
    free(ref);
}

static void test_fuzz_random_edits(void **state) {
    (void)state;
    size_t size;
    uint64_t n;
    unsigned char *ref = reference_bytes(&size, &n);
    static const char alphabet[] = "{}[]:,\"\\/u0123456789-.eE \t\nabcdfnrtF3I6";
    uint64_t rng = 0x9E3779B97F4A7C15ull;
#define NEXT() (rng = rng * 6364136223846793005ull + 1442695040888963407ull, (unsigned)(rng >> 33))
    for (int iter = 0; iter < 4000; iter++) {
        /* Room for insertions. */
        unsigned char *b = malloc(size + 8);
        memcpy(b, ref, size);
        size_t len = size, hlen = (size_t)n;
        int edits = 1 + (int)(NEXT() % 4);
        for (int e = 0; e < edits && hlen > 1; e++) {
            size_t pos = 8 + NEXT() % hlen;
            unsigned kind = NEXT() % 4;
            unsigned char c = NEXT() % 3 ? (unsigned char)alphabet[NEXT() % (sizeof alphabet - 1)] : (unsigned char)NEXT();
            if (kind == 0 && len < size + 8) { /* insert */
                memmove(b + pos + 1, b + pos, len - pos);
                b[pos] = c;
                len++, hlen++;
            } else if (kind == 1) { /* delete */
                memmove(b + pos, b + pos + 1, len - pos - 1);
                len--, hlen--;
            } else {
                b[pos] = c;
            }
        }
        /* Usually keep the length field consistent, so the parser gets past the first check. */
        if (NEXT() % 4)
            for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
        unsigned char *exact = malloc(len);
        memcpy(exact, b, len);
        free(b);
        gc_error err = {0};
        gc_safetensors *st = gc_safetensors_parse(exact, len, "edit", &err);
        expect_refused(st, &err, "edit: ");
        free(exact);
    }
#undef NEXT
    free(ref);
}


int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_the_oracle_file),
        cmocka_unit_test(test_writes_the_library_layout),
        cmocka_unit_test(test_layout_alignment),
        cmocka_unit_test(test_save_load_round_trip),
        cmocka_unit_test(test_save_removes_stale_temps),
        cmocka_unit_test(test_python_reads_what_c_writes),
        cmocka_unit_test(test_building_errors),
        cmocka_unit_test(test_io_errors),
        cmocka_unit_test(test_valid_headers),
        cmocka_unit_test(test_malformed_headers),
        cmocka_unit_test(test_header_length),
        cmocka_unit_test(test_fuzz_truncations),
        cmocka_unit_test(test_fuzz_byte_flips),
        cmocka_unit_test(test_fuzz_random_edits),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
