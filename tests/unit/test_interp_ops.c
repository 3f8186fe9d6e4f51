/*
 * test_interp_ops.c: every op's interpreter kernel against PyTorch/NumPy.
 *
 * Reads the cases tests/oracle/gen_ops.py wrote to $GC_EXPECTED_DIR/interp_ops.txt (format
 * described there), builds each one-op graph with gc_graph_make, runs it in GC_INTERP_F32 and
 * compares with the expected tensor: float32 tolerance for f32 results, near-exact for f64 ones
 * (which F32 precision must leave unrounded), exact for i32. A separate test fails naming every
 * op of ir/ops.def without a case, so a new op cannot join the table without an oracle.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ir/graph.h"
#include "runtime/interp.h"

#define MAX_OPERANDS 8
#define MAX_ATTRS 8
#define F32_RTOL 1e-5
#define F32_ATOL 1e-8
#define F64_RTOL 1e-12
#define F64_ATOL 1e-14

typedef struct tensor {
    gc_type type;
    double *data;
} tensor;

typedef struct attr_text {
    char *field;
    char *values; /* the rest of the line */
} attr_text;

typedef struct test_case {
    char *name;
    char *op_name;
    attr_text attrs[MAX_ATTRS];
    int num_attrs;
    tensor operands[MAX_OPERANDS];
    int num_operands;
    tensor expect;
    bool has_expect;
} test_case;

/* The oracle file, read whole; cases point into it. */
static char *file_text;
static test_case *cases;
static int num_cases;

static char *next_token(char **cursor) {
    char *s = *cursor;
    while (*s == ' ' || *s == '\t' || *s == '\r') s++;
    if (!*s) {
        *cursor = s;
        return NULL;
    }
    char *start = s;
    while (*s && *s != ' ' && *s != '\t' && *s != '\r') s++;
    if (*s) *s++ = '\0';
    *cursor = s;
    return start;
}

static bool parse_long(const char *tok, long long *out) {
    if (!tok) return false;
    char *end;
    *out = strtoll(tok, &end, 10);
    return *end == '\0';
}

/* DTYPE RANK DIMS... VALUES... */
static bool parse_tensor(char **cursor, tensor *t) {
    long long rank, dim;
    const char *dt = next_token(cursor);
    if (!dt || !gc_dtype_from_name(dt, strlen(dt), &t->type.dtype)) return false;
    if (!parse_long(next_token(cursor), &rank) || rank < 0 || rank > GC_MAX_RANK) return false;
    t->type.rank = (int)rank;
    for (int d = 0; d < rank; d++) {
        if (!parse_long(next_token(cursor), &dim) || dim < 1) return false;
        t->type.dims[d] = dim;
    }
    int64_t count = gc_type_numel(&t->type);
    t->data = calloc((size_t)count, sizeof(double));
    if (!t->data) return false;
    for (int64_t i = 0; i < count; i++) {
        const char *tok = next_token(cursor);
        char *end;
        if (!tok) return false;
        t->data[i] = strtod(tok, &end);
        if (*end) return false;
    }
    return next_token(cursor) == NULL;
}

static void free_cases(void) {
    for (int i = 0; i < num_cases; i++) {
        for (int k = 0; k < cases[i].num_operands; k++) free(cases[i].operands[k].data);
        free(cases[i].expect.data);
    }
    free(cases);
    free(file_text);
    cases = NULL;
    file_text = NULL;
    num_cases = 0;
}

static int load_cases(void **state) {
    (void)state;
    const char *dir = getenv("GC_EXPECTED_DIR");
    assert_non_null(dir);
    char path[1024];
    snprintf(path, sizeof path, "%s/interp_ops.txt", dir);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s (run tests/oracle/gen_ops.py)\n", path);
        return -1;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    file_text = malloc((size_t)size + 1);
    assert_non_null(file_text);
    assert_int_equal(fread(file_text, 1, (size_t)size, f), (size_t)size);
    file_text[size] = '\0';
    fclose(f);

    int cap = 0, lineno = 0;
    test_case *cur = NULL;
    for (char *line = file_text; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        lineno++;
        char *cursor = line;
        const char *kw = next_token(&cursor);
        bool ok = true;
        if (!kw || kw[0] == '#') {
            /* blank or comment */
        } else if (strcmp(kw, "case") == 0) {
            if (num_cases == cap) {
                cap = cap ? cap * 2 : 256;
                cases = realloc(cases, sizeof *cases * (size_t)cap);
                assert_non_null(cases);
            }
            cur = &cases[num_cases++];
            memset(cur, 0, sizeof *cur);
            cur->name = next_token(&cursor);
            cur->op_name = next_token(&cursor);
            ok = cur->name && cur->op_name;
        } else if (!cur) {
            ok = false;
        } else if (strcmp(kw, "attr") == 0) {
            ok = cur->num_attrs < MAX_ATTRS;
            if (ok) {
                attr_text *a = &cur->attrs[cur->num_attrs++];
                a->field = next_token(&cursor);
                a->values = cursor;
                ok = a->field != NULL;
            }
        } else if (strcmp(kw, "operand") == 0) {
            ok = cur->num_operands < MAX_OPERANDS &&
                 parse_tensor(&cursor, &cur->operands[cur->num_operands++]);
        } else if (strcmp(kw, "expect") == 0) {
            ok = !cur->has_expect && parse_tensor(&cursor, &cur->expect);
            cur->has_expect = true;
        } else if (strcmp(kw, "end") == 0) {
            ok = cur->has_expect;
            cur = NULL;
        } else {
            ok = false;
        }
        if (!ok) {
            fprintf(stderr, "%s:%d: malformed oracle line\n", path, lineno);
            free_cases();
            return -1;
        }
        line = nl ? nl + 1 : NULL;
    }
    return 0;
}

static int unload_cases(void **state) {
    (void)state;
    free_cases();
    return 0;
}

/* Sets one attribute field from its text, as attrs.def describes the field kinds. */
static bool set_attr(gc_attr *attr, gc_attr_kind kind, const attr_text *a) {
    for (int i = 0; i < gc_attr_field_count; i++) {
        const gc_attr_field *fd = &gc_attr_fields[i];
        if (fd->kind != kind || strcmp(fd->name, a->field) != 0) continue;
        char *slot = (char *)attr + fd->offset;
        char copy[512], *cursor = copy;
        snprintf(copy, sizeof copy, "%s", a->values);
        const char *tok;
        long long v;
        switch (fd->field_kind) {
        case GC_FIELD_INT:
            if (!parse_long(next_token(&cursor), &v)) return false;
            *(int *)(void *)slot = (int)v;
            return true;
        case GC_FIELD_INT64:
            if (!parse_long(next_token(&cursor), &v)) return false;
            *(int64_t *)(void *)slot = v;
            return true;
        case GC_FIELD_FLAG:
        case GC_FIELD_BOOL:
            tok = next_token(&cursor);
            if (!tok) return false;
            *(bool *)(void *)slot = strcmp(tok, "true") == 0;
            return true;
        case GC_FIELD_DOUBLE:
            tok = next_token(&cursor);
            if (!tok) return false;
            *(double *)(void *)slot = strtod(tok, NULL);
            return true;
        case GC_FIELD_AXES: {
            uint32_t mask = 0;
            while ((tok = next_token(&cursor)) != NULL) {
                if (!parse_long(tok, &v) || v < 0 || v > 31) return false;
                mask |= 1u << v;
            }
            *(uint32_t *)(void *)slot = mask;
            return true;
        }
        case GC_FIELD_PERM: {
            int *perm = (int *)(void *)slot, k = 0;
            while ((tok = next_token(&cursor)) != NULL) {
                if (!parse_long(tok, &v) || k >= GC_MAX_RANK) return false;
                perm[k++] = (int)v;
            }
            return true;
        }
        case GC_FIELD_SPATIAL: {
            int64_t *dims = (int64_t *)(void *)slot;
            int k = 0;
            while ((tok = next_token(&cursor)) != NULL) {
                if (!parse_long(tok, &v) || k >= GC_MAX_SPATIAL) return false;
                dims[k++] = v;
            }
            return true;
        }
        }
    }
    return false;
}

static bool close_enough(double got, double want, gc_dtype dtype) {
    if (isnan(want)) return isnan(got);
    if (dtype == GC_I32 || isinf(want)) return got == want;
    double rtol = dtype == GC_F64 ? F64_RTOL : F32_RTOL, atol = dtype == GC_F64 ? F64_ATOL : F32_ATOL;
    return fabs(got - want) <= rtol * fabs(want) + atol;
}

/* Sets a source from an oracle tensor through the typed host interface. */
static bool set_source(gc_interp *it, const char *name, const tensor *t, gc_error *err) {
    int64_t count = gc_type_numel(&t->type);
    gc_tensor host;
    memset(&host, 0, sizeof host);
    host.dtype = t->type.dtype;
    host.rank = t->type.rank;
    for (int d = 0; d < t->type.rank; d++) host.shape[d] = t->type.dims[d];
    void *buf = malloc((size_t)count * 8);
    if (!buf) return false;
    for (int64_t i = 0; i < count; i++) {
        if (t->type.dtype == GC_F32) ((float *)buf)[i] = (float)t->data[i];
        else if (t->type.dtype == GC_I32) ((int32_t *)buf)[i] = (int32_t)t->data[i];
        else ((double *)buf)[i] = t->data[i];
    }
    host.data = buf;
    int ok = gc_interp_set(it, name, &host, err);
    free(buf);
    return ok;
}

/* Runs one case; on a mismatch prints why and returns false. */
static bool run_case(const test_case *c) {
    gc_error err;
    memset(&err, 0, sizeof err);
    gc_op op;
    if (!gc_op_from_name(c->op_name, strlen(c->op_name), &op)) {
        fprintf(stderr, "%s: unknown op '%s'\n", c->name, c->op_name);
        return false;
    }
    const gc_op_info *info = gc_op_get(op);
    gc_attr attr;
    memset(&attr, 0, sizeof attr);
    for (int i = 0; i < c->num_attrs; i++) {
        if (!set_attr(&attr, info->attr_kind, &c->attrs[i])) {
            fprintf(stderr, "%s: bad attribute '%s'\n", c->name, c->attrs[i].field);
            return false;
        }
    }

    gc_graph *g = gc_graph_new(c->name);
    assert_non_null(g);
    gc_loc loc = {NULL, 0, 0};
    bool named = (info->flags & GC_FLAG_NAMED) != 0, ok = true;
    gc_node *inputs[MAX_OPERANDS], *node = NULL;
    char names[MAX_OPERANDS][16];
    gc_interp *it = NULL;
    for (int k = 0; !named && k < c->num_operands && ok; k++) {
        snprintf(names[k], sizeof names[k], "x%d", k);
        inputs[k] = gc_graph_make(g, GC_OP_INPUT, NULL, 0, NULL, &c->operands[k].type, names[k], loc, &err);
        ok = inputs[k] != NULL;
    }
    if (ok) {
        const gc_type *given = (info->flags & GC_FLAG_GIVEN) ? &c->expect.type : NULL;
        node = gc_graph_make(g, op, inputs, named ? 0 : c->num_operands, &attr, given,
                             named ? "src" : NULL, loc, &err);
        ok = node != NULL;
    }
    if (ok && !gc_type_equal(&node->type, &c->expect.type)) {
        char a[96], b[96];
        fprintf(stderr, "%s: result type %s, expected %s\n", c->name, gc_type_format(&node->type, a, sizeof a),
                gc_type_format(&c->expect.type, b, sizeof b));
        gc_graph_free(g);
        return false;
    }
    if (ok) ok = (it = gc_interp_new(g, GC_INTERP_F32, &err)) != NULL;
    for (int k = 0; ok && k < c->num_operands; k++)
        ok = set_source(it, named ? "src" : names[k], &c->operands[k], &err);
    if (ok) ok = gc_interp_run(it, &err);
    if (!ok) {
        fprintf(stderr, "%s: %s\n", c->name, err.message);
        gc_interp_free(it);
        gc_graph_free(g);
        return false;
    }

    const double *got = gc_interp_value(it, node);
    assert_non_null(got);
    int64_t count = gc_type_numel(&c->expect.type), bad = 0;
    for (int64_t i = 0; i < count; i++) {
        if (!close_enough(got[i], c->expect.data[i], c->expect.type.dtype)) {
            if (bad++ < 4)
                fprintf(stderr, "%s: element %lld is %.9g, expected %.9g\n", c->name, (long long)i, got[i],
                        c->expect.data[i]);
        }
    }
    gc_interp_free(it);
    gc_graph_free(g);
    return bad == 0;
}

static void test_every_case_matches(void **state) {
    (void)state;
    assert_true(num_cases > 0);
    int failed = 0;
    for (int i = 0; i < num_cases; i++) failed += !run_case(&cases[i]);
    if (failed) fail_msg("%d of %d oracle cases failed (listed above)", failed, num_cases);
    printf("%d oracle cases passed\n", num_cases);
}

static void test_every_op_has_a_case(void **state) {
    (void)state;
    bool covered[GC_OP_COUNT] = {false};
    for (int i = 0; i < num_cases; i++) {
        gc_op op;
        if (gc_op_from_name(cases[i].op_name, strlen(cases[i].op_name), &op)) covered[op] = true;
    }
    int missing = 0;
    for (int op = 0; op < GC_OP_COUNT; op++) {
        if (!covered[op]) {
            fprintf(stderr, "op '%s' has no case in tests/oracle/gen_ops.py\n", gc_op_table[op].name);
            missing++;
        }
    }
    if (missing) fail_msg("%d op(s) of ir/ops.def have no oracle case (listed above)", missing);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_op_has_a_case),
        cmocka_unit_test(test_every_case_matches),
    };
    return cmocka_run_group_tests(tests, load_cases, unload_cases);
}
