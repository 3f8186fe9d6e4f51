/*
 * test_model_errors.c: the model-file error catalogue and the frontend's robustness.
 *
 * Every .gm file in tests/models/bad starts with `# expect: LINE:COL: <substring of the message>`; each
 * must fail parse+check exactly there. Every one in tests/models/good must pass. Then the checker's
 * annotations, const overrides, the builtin table, diagnostics rendering, and inputs meant to
 * crash a careless frontend: empty files, random bytes, deep nesting, huge numbers and names,
 * allocation failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/builtins.h"
#include "frontend/check.h"
#include "frontend/consteval.h"
#include "frontend/diagnostic.h"
#include "frontend/parser.h"

static char *read_path(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (len) *len = (size_t)n;
    return buf;
}

static char *source_path(const char *rel) {
    const char *dir = getenv("GC_SOURCE_DIR");
    assert_non_null(dir);
    char *p = malloc(strlen(dir) + strlen(rel) + 2);
    assert_non_null(p);
    sprintf(p, "%s/%s", dir, rel);
    return p;
}

static int compare_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The *.gm files of a folder of the source tree, sorted; *n is their count. */
static char **list_models(const char *rel, int *n) {
    char *dir = source_path(rel);
    DIR *d = opendir(dir);
    if (!d) fail_msg("cannot open %s", dir);
    char **names = NULL;
    int count = 0, cap = 0;
    struct dirent *ent;
    while ((ent = readdir(d))) {
        size_t len = strlen(ent->d_name);
        if (len < 4 || strcmp(ent->d_name + len - 3, ".gm")) continue;
        if (count == cap) {
            cap = cap ? cap * 2 : 64;
            names = realloc(names, (size_t)cap * sizeof *names);
            assert_non_null(names);
        }
        names[count] = malloc(strlen(dir) + len + 2);
        assert_non_null(names[count]);
        sprintf(names[count], "%s/%s", dir, ent->d_name);
        count++;
    }
    closedir(d);
    free(dir);
    qsort(names, (size_t)count, sizeof *names, compare_names);
    *n = count;
    return names;
}

static void free_list(char **names, int n) {
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

/* Parses and checks; returns 1 on success. The module stays in `arena`. */
static int compile(const char *src, size_t len, const char *file, gc_arena *arena, const gc_const_override *ov,
                   int nov, gc_ast_module **out, gc_error *err) {
    memset(err, 0, sizeof *err);
    gc_ast_module *m = gc_frontend_parse(src, len, file, arena, err);
    if (out) *out = m;
    return m && gc_frontend_check(m, ov, nov, err);
}

static int compile_text(const char *src, gc_error *err) {
    gc_arena *arena = gc_arena_new();
    assert_non_null(arena);
    int ok = compile(src, strlen(src), "t.gm", arena, NULL, 0, NULL, err);
    gc_arena_free(arena);
    return ok;
}

static void assert_fails(const char *src, int line, int col, const char *substring) {
    gc_error err;
    if (compile_text(src, &err)) fail_msg("expected an error in:\n%s", src);
    if (err.line != line || err.col != col || !strstr(err.message, substring))
        fail_msg("%s\n  got %d:%d: %s\n  expected %d:%d: ...%s...", src, err.line, err.col, err.message, line, col,
                 substring);
}

static void test_bad_catalogue(void **state) {
    (void)state;
    int n;
    char **files = list_models("tests/models/bad", &n);
    assert_true(n >= 35);
    int failures = 0;
    for (int i = 0; i < n; i++) {
        size_t len;
        char *src = read_path(files[i], &len);
        assert_non_null(src);
        int line, col, used = 0;
        char substring[256] = "";
        if (sscanf(src, "# expect: %d:%d: %n", &line, &col, &used) != 2 || used == 0) {
            print_error("%s: no '# expect: LINE:COL: message' first line\n", files[i]);
            failures++;
            free(src);
            continue;
        }
        const char *msg = src + used, *eol = strchr(msg, '\n');
        snprintf(substring, sizeof substring, "%.*s", (int)(eol ? eol - msg : (long)strlen(msg)), msg);
        gc_arena *arena = gc_arena_new();
        gc_error err;
        int ok = compile(src, len, files[i], arena, NULL, 0, NULL, &err);
        if (ok) {
            print_error("%s: compiled, expected %d:%d: %s\n", files[i], line, col, substring);
            failures++;
        } else if (err.line != line || err.col != col || !strstr(err.message, substring) ||
                   strcmp(err.file, files[i]) || err.code != GC_ERR_USER) {
            print_error("%s: got %d:%d: %s\n  expected %d:%d: %s\n", files[i], err.line, err.col, err.message, line,
                        col, substring);
            failures++;
        }
        gc_arena_free(arena);
        free(src);
    }
    free_list(files, n);
    assert_int_equal(failures, 0);
}

static void test_good_models(void **state) {
    (void)state;
    int n;
    char **files = list_models("tests/models/good", &n);
    assert_true(n >= 2);
    for (int i = 0; i < n; i++) {
        size_t len;
        char *src = read_path(files[i], &len);
        gc_arena *arena = gc_arena_new();
        gc_error err;
        gc_ast_module *m;
        if (!compile(src, len, files[i], arena, NULL, 0, &m, &err))
            fail_msg("%s:%d:%d: %s", files[i], err.line, err.col, err.message);
        assert_non_null(m->loss);
        assert_non_null(m->config);
        assert_true(m->unrolled > 0);
        gc_arena_free(arena);
        free(src);
    }
    free_list(files, n);
}

static gc_ast_module *load_good(const char *name, gc_arena *arena, const gc_const_override *ov, int nov, char **src,
                                gc_error *err) {
    char rel[256];
    snprintf(rel, sizeof rel, "tests/models/good/%s", name);
    char *path = source_path(rel);
    size_t len;
    *src = read_path(path, &len);
    assert_non_null(*src);
    free(path);
    gc_ast_module *m;
    return compile(*src, len, name, arena, ov, nov, &m, err) ? m : NULL;
}

static const gc_ast_stmt *top_named(const gc_ast_module *m, gc_stmt_kind kind, const char *name) {
    for (int i = 0; i < m->body.n; i++)
        if (m->body.stmts[i]->kind == kind && (!name || !strcmp(m->body.stmts[i]->name, name))) return m->body.stmts[i];
    fail_msg("no %s statement %s", gc_stmt_kind_name(kind), name ? name : "");
    return NULL;
}

/* What check records in the AST for the lowering: resolved names, values, the train config. */
static void test_check_annotations(void **state) {
    (void)state;
    gc_arena *arena = gc_arena_new();
    char *src;
    gc_error err;
    gc_ast_module *m = load_good("tiny_gpt.gm", arena, NULL, 0, &src, &err);
    if (!m) fail_msg("%d:%d: %s", err.line, err.col, err.message);

    const gc_ast_stmt *dim = top_named(m, GC_STMT_CONST, "dim");
    assert_int_equal(dim->cval.kind, GC_CV_INT);
    assert_int_equal(dim->cval.i, 128);
    const gc_ast_stmt *tokens = top_named(m, GC_STMT_INPUT, "tokens");
    assert_true(tokens->type.shape_known);
    assert_int_equal(tokens->type.shape[0], 16);
    assert_int_equal(tokens->type.shape[1], 64);
    const gc_ast_stmt *wpe = top_named(m, GC_STMT_PARAM, "wpe");
    assert_int_equal(wpe->type.shape[1], 128);
    assert_int_equal(wpe->value->call.builtin->id, GC_BUILTIN_NORMAL);

    assert_int_equal(m->ndefs, 1);
    gc_ast_stmt *block = gc_ast_find_def(m, "block");
    assert_non_null(block);
    assert_null(gc_ast_find_def(m, "linear"));
    /* x = x + causal_self_attention(layernorm(x) as ln_1, heads) as attn */
    const gc_ast_expr *add = block->def.body.stmts[0]->value;
    assert_int_equal(add->bin.lhs->name.ref, GC_REF_ARG);
    assert_ptr_equal(add->bin.lhs->name.decl, block);
    const gc_ast_expr *attn = add->bin.rhs;
    assert_int_equal(attn->call.builtin->id, GC_BUILTIN_CAUSAL_SELF_ATTENTION);
    assert_null(attn->call.def);
    const gc_ast_expr *heads = attn->call.args[1].value;
    assert_int_equal(heads->name.ref, GC_REF_CONST);
    assert_int_equal(heads->name.decl->cval.i, 4);
    /* h = ... then `return x + linear(h, dim)`: h is a value bound in the def */
    const gc_ast_expr *ret = block->def.body.stmts[2]->value;
    assert_int_equal(ret->bin.rhs->call.args[0].value->name.ref, GC_REF_VALUE);

    const gc_ast_stmt *loop = top_named(m, GC_STMT_FOR, "i");
    assert_int_equal(loop->loop.count, 4);
    const gc_ast_expr *call = loop->loop.body.stmts[0]->value;
    assert_ptr_equal(call->call.def, block);
    assert_null(call->call.builtin);
    assert_int_equal(call->call.as->parts[1].index->name.ref, GC_REF_LOOP_VAR);
    assert_ptr_equal(call->call.as->parts[1].index->name.decl, loop);
    const gc_ast_stmt *loss = m->loss;
    assert_int_equal(loss->kind, GC_STMT_LOSS);
    assert_int_equal(loss->value->call.args[0].value->name.ref, GC_REF_VALUE);
    assert_int_equal(loss->value->call.args[1].value->name.ref, GC_REF_INPUT);
    assert_int_equal(m->unrolled, 34); /* 30 statements and 4 def calls */

    const gc_train_config *cfg = m->config;
    assert_int_equal(cfg->optimizer.fn->id, GC_BUILTIN_ADAMW);
    assert_true(gc_train_number(&cfg->optimizer, "lr") == 3e-4);
    assert_true(gc_train_number(&cfg->optimizer, "weight_decay") == 0.1);
    assert_true(gc_train_number(&cfg->optimizer, "eps") == 1e-8); /* the table's default */
    const gc_const_value *betas = &cfg->optimizer.args[gc_builtin_param_index(cfg->optimizer.fn, "betas")];
    assert_int_equal(betas->kind, GC_CV_LIST);
    assert_int_equal(betas->list.n, 2);
    assert_true(gc_const_as_double(&betas->list.items[1]) == 0.95);
    assert_int_equal(cfg->schedule.fn->id, GC_BUILTIN_SCHED_COSINE);
    assert_true(gc_train_number(&cfg->schedule, "warmup") == 100);
    assert_true(gc_train_number(&cfg->schedule, "total") == 2000);
    assert_true(gc_train_number(&cfg->schedule, "min_lr") == 0);
    assert_true(cfg->clip);
    assert_true(cfg->clip_grad_norm == 1.0);
    assert_int_equal(cfg->seed, 1);
    assert_int_equal(cfg->n_no_decay, 0);
    gc_arena_free(arena);
    free(src);

    /* mlp.gm: def defaults, sgd with nesterov, step schedule. */
    arena = gc_arena_new();
    m = load_good("mlp.gm", arena, NULL, 0, &src, &err);
    if (!m) fail_msg("%d:%d: %s", err.line, err.col, err.message);
    gc_ast_stmt *mlp = gc_ast_find_def(m, "mlp");
    assert_int_equal(mlp->def.args[1].cval.kind, GC_CV_INT);
    assert_int_equal(mlp->def.args[1].cval.i, 256);
    assert_int_equal(mlp->def.args[3].cval.kind, GC_CV_FLOAT);
    assert_true(mlp->def.args[3].cval.f == 0.1);
    assert_int_equal(m->config->optimizer.fn->id, GC_BUILTIN_SGD);
    assert_true(m->config->optimizer.args[4].b); /* nesterov */
    assert_int_equal(m->config->schedule.fn->id, GC_BUILTIN_SCHED_STEP);
    assert_false(m->config->clip);
    gc_arena_free(arena);
    free(src);
}

static void test_const_evaluation(void **state) {
    (void)state;
    gc_arena *arena = gc_arena_new();
    const char *src = "const a = 7\n"
                      "const b = a / 7\n"         /* exact: int */
                      "const c = a / 2\n"         /* inexact: float */
                      "const d = -a * 2.0\n"
                      "const e = (a - 1) * (a + 1) - a\n"
                      "const f = 1e-3 * 4\n"
                      "const g = -9223372036854775807 - 1\n"
                      "input x: f32[b, e]\n"
                      "loss = mean(x)\n";
    gc_ast_module *m;
    gc_error err;
    if (!compile(src, strlen(src), "c.gm", arena, NULL, 0, &m, &err)) fail_msg("%s", err.message);
    const struct {
        const char *name;
        gc_cv_kind kind;
        double value;
    } want[] = {{"a", GC_CV_INT, 7}, {"b", GC_CV_INT, 1}, {"c", GC_CV_FLOAT, 3.5}, {"d", GC_CV_FLOAT, -14},
                {"e", GC_CV_INT, 41}, {"f", GC_CV_FLOAT, 4e-3}, {"g", GC_CV_INT, -9223372036854775807.0 - 1}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const gc_ast_stmt *s = top_named(m, GC_STMT_CONST, want[i].name);
        assert_int_equal(s->cval.kind, want[i].kind);
        assert_true(gc_const_as_double(&s->cval) == want[i].value);
    }
    assert_int_equal(top_named(m, GC_STMT_INPUT, "x")->type.shape[1], 41);
    gc_arena_free(arena);

    assert_fails("const a = 1.5 / 0\n", 1, 15, "division by zero");
    assert_fails("const a = 1e308 * 10\n", 1, 17, "arithmetic overflow");
    assert_fails("const a = -9223372036854775807 - 2\n", 1, 32, "integer overflow");
    assert_fails("const a = 3037000500 * 3037000500\n", 1, 22, "integer overflow");
    assert_fails("const a = true\n", 1, 11, "must be a number, got true");
    assert_fails("const a = [1, 2]\n", 1, 11, "must be a number, got a list");
    assert_fails("const a = 2 < 3\n", 1, 13, "'<' is not a compile-time operation");
}

static void test_overrides(void **state) {
    (void)state;
    gc_arena *arena = gc_arena_new();
    char *src;
    gc_error err;
    gc_const_override ov[] = {{"dim", 64}, {"layers", 2}, {"layers", 3}};
    gc_ast_module *m = load_good("tiny_gpt.gm", arena, ov, 3, &src, &err);
    if (!m) fail_msg("%d:%d: %s", err.line, err.col, err.message);
    assert_int_equal(top_named(m, GC_STMT_CONST, "dim")->cval.i, 64);
    assert_int_equal(top_named(m, GC_STMT_PARAM, "wpe")->type.shape[1], 64);
    assert_int_equal(top_named(m, GC_STMT_FOR, "i")->loop.count, 3); /* the last override wins */
    assert_int_equal(m->unrolled, 29);

    /* Checking again without overrides restores the file's values. */
    assert_true(gc_frontend_check(m, NULL, 0, &err));
    assert_int_equal(top_named(m, GC_STMT_CONST, "dim")->cval.i, 128);
    assert_int_equal(top_named(m, GC_STMT_FOR, "i")->loop.count, 4);
    assert_int_equal(m->unrolled, 34); /* 30 statements and 4 def calls */

    /* A float where an integer is needed fails where it is used: 4 * dim in block. */
    gc_const_override bad = {"dim", 64.5};
    assert_false(gc_frontend_check(m, &bad, 1, &err));
    assert_int_equal(err.line, 14);
    assert_non_null(strstr(err.message, "linear: argument 'out' must be an integer, got 258.0"));
    gc_const_override unknown = {"width", 3};
    assert_false(gc_frontend_check(m, &unknown, 1, &err));
    assert_int_equal(err.line, 0);
    assert_non_null(strstr(err.message, "cannot set 'width'"));
    gc_const_override inf = {"dim", 1.0 / 0.0};
    assert_false(gc_frontend_check(m, &inf, 1, &err));
    assert_non_null(strstr(err.message, "not finite"));
    gc_const_override lr = {"heads", 0.5};
    assert_false(gc_frontend_check(m, &lr, 1, &err));
    assert_non_null(strstr(err.message, "argument 'heads' must be an integer, got 0.5"));
    gc_arena_free(arena);
    free(src);

    char name[16];
    double v;
    assert_true(gc_parse_override("dim=64", name, sizeof name, &v, &err));
    assert_string_equal(name, "dim");
    assert_true(v == 64);
    assert_true(gc_parse_override("lr=3e-4", name, sizeof name, &v, &err));
    assert_true(v == 3e-4);
    assert_false(gc_parse_override("dim", name, sizeof name, &v, &err));
    assert_false(gc_parse_override("=3", name, sizeof name, &v, &err));
    assert_false(gc_parse_override("a=", name, sizeof name, &v, &err));
    assert_false(gc_parse_override("a=1x", name, sizeof name, &v, &err));
    assert_false(gc_parse_override("1a=1", name, sizeof name, &v, &err));
    assert_false(gc_parse_override("a=inf", name, sizeof name, &v, &err));
    assert_false(gc_parse_override("a_very_long_name=1", name, sizeof name, &v, &err));
    assert_non_null(strstr(err.message, "too long"));
}

static void test_builtin_table(void **state) {
    (void)state;
    int per_kind[6] = {0};
    for (int i = 0; i < GC_BUILTIN_COUNT; i++) {
        const gc_builtin *b = &gc_builtins[i];
        assert_int_equal(b->id, i);
        per_kind[b->kind]++;
        assert_true(b->nparams <= GC_BUILTIN_MAX_PARAMS);
        assert_true(b->doc && b->doc[0]);
        assert_ptr_equal(gc_builtin_find(b->name, GC_BMASK(b->kind)), b);
        for (int j = 0; j < b->nparams; j++) {
            assert_int_equal(gc_builtin_param_index(b, b->params[j].name), j);
            gc_const_value v;
            if (b->params[j].dkind != GC_BDEF_REQUIRED) {
                gc_arena *a = gc_arena_new();
                assert_true(gc_builtin_default(&b->params[j], a, &v));
                /* Every default is a value its own parameter accepts (tensor params take none). */
                if (b->params[j].type != GC_BARG_TENSOR) assert_true(gc_barg_accepts(&b->params[j], &v));
                gc_arena_free(a);
            }
        }
    }
    /* per kind (ops, layers with onnx, losses, inits, optimizers, schedules) */
    const int want[6] = {60, 20, 19, 10, 9, 9};
    for (int k = 0; k < 6; k++) assert_int_equal(per_kind[k], want[k]);
    /* The same name in different places. */
    assert_int_equal(gc_builtin_find("linear", GC_BMASK_EXPR)->id, GC_BUILTIN_LINEAR);
    assert_int_equal(gc_builtin_find("linear", GC_BMASK(GC_BKIND_SCHEDULE))->id, GC_BUILTIN_SCHED_LINEAR);
    assert_null(gc_builtin_find("zeros", GC_BMASK_EXPR));
    char buf[160];
    const gc_builtin *gelu = gc_builtin_find("gelu", GC_BMASK_EXPR);
    gc_barg_describe(&gelu->params[1], buf, sizeof buf);
    assert_string_equal(buf, "\"none\" or \"tanh\"");
    gc_barg_describe(&gc_builtin_find("kl_div", GC_BMASK_EXPR)->params[2], buf, sizeof buf);
    assert_string_equal(buf, "\"mean\", \"sum\", \"none\" or \"batchmean\"");

    /* Binding: positional, keyword and defaults land in table order. */
    gc_arena *arena = gc_arena_new();
    gc_error err;
    const char *text = "y = cosine(5, min_lr=0.1, total=10)\n";
    gc_ast_module *m = gc_frontend_parse(text, strlen(text), "b.gm", arena, &err);
    assert_non_null(m);
    const gc_ast_expr *call = m->body.stmts[0]->value;
    const gc_ast_expr *slots[GC_BUILTIN_MAX_PARAMS];
    const gc_builtin *cosine = gc_builtin_find("cosine", GC_BMASK(GC_BKIND_SCHEDULE));
    assert_true(gc_builtin_bind(cosine, call, slots, &err));
    assert_int_equal(slots[0]->ival, 5);
    assert_int_equal(slots[1]->ival, 10);
    assert_true(slots[2]->fval == 0.1);
    gc_arena_free(arena);
}

/* Every builtin is documented with its signature in docs/language.md. */
static void test_docs_cover_builtins(void **state) {
    (void)state;
    char *path = source_path("docs/language.md");
    char *doc = read_path(path, NULL);
    if (!doc) fail_msg("cannot read %s", path);
    for (int i = 0; i < GC_BUILTIN_COUNT; i++) {
        char needle[80];
        snprintf(needle, sizeof needle, "`%s(", gc_builtins[i].name);
        if (!strstr(doc, needle)) fail_msg("docs/language.md does not document %s", needle);
    }
    free(doc);
    free(path);
}

static void test_diagnostics(void **state) {
    (void)state;
    gc_error err = {0};
    err.code = GC_ERR_USER;
    snprintf(err.file, sizeof err.file, "m.gm");
    snprintf(err.message, sizeof err.message, "boom");
    err.line = 2;
    err.col = 7;
    char *s = gc_format_diagnostic(&err, "a = 1\nb = x $ 2\r\nc = 3\n");
    assert_string_equal(s, "m.gm:2:7: error: boom\n    b = x $ 2\n          ^\n");
    free(s);

    err.line = 1;
    err.col = 6;
    s = gc_format_diagnostic(&err, "\tb = $\n");
    assert_string_equal(s, "m.gm:1:6: error: boom\n    \tb = $\n    \t    ^\n");
    free(s);

    /* A multi-byte character takes one caret column; control bytes show as '?'. */
    s = gc_format_diagnostic(&err, "\xc3\xa9 = $\x01\n");
    assert_string_equal(s, "m.gm:1:6: error: boom\n    \xc3\xa9 = $?\n        ^\n");
    free(s);

    s = gc_format_diagnostic(&err, NULL);
    assert_string_equal(s, "m.gm:1:6: error: boom\n");
    free(s);
    err.line = 40;
    s = gc_format_diagnostic(&err, "one line\n");
    assert_string_equal(s, "m.gm:40:6: error: boom\n");
    free(s);

    err.line = 0;
    s = gc_format_diagnostic(&err, "x");
    assert_string_equal(s, "gradc: error: boom\n");
    free(s);

    /* A long line is cut around the column and the caret still points at the right byte. */
    char line[1001];
    memset(line, 'a', 1000);
    line[1000] = '\0';
    line[899] = 'X';
    err.line = 1;
    err.col = 900;
    s = gc_format_diagnostic(&err, line);
    char *excerpt = strchr(s, '\n') + 1, *caret_line = strchr(excerpt, '\n') + 1;
    size_t caret = (size_t)(strchr(caret_line, '^') - caret_line);
    assert_int_equal(excerpt[caret], 'X');
    assert_memory_equal(excerpt, "    ...", 7);
    assert_non_null(strstr(excerpt, "...\n"));
    assert_true(strchr(excerpt, '\n') - excerpt < 180);
    free(s);

    /* End to end: a bad model's message as `gradc` will print it. */
    const char *src = "input x: f32[4, 8]\nlogits = linear(x, 2.5) as fc\nloss = mean(logits)\n";
    gc_arena *arena = gc_arena_new();
    assert_false(compile(src, strlen(src), "bad.gm", arena, NULL, 0, NULL, &err));
    s = gc_format_diagnostic(&err, src);
    assert_string_equal(s, "bad.gm:2:20: error: linear: argument 'out' must be an integer, got 2.5\n"
                           "    logits = linear(x, 2.5) as fc\n"
                           "                       ^\n");
    free(s);
    gc_arena_free(arena);
}

static char *repeat(const char *prefix, const char *unit, long n, const char *suffix) {
    size_t len = strlen(prefix) + strlen(unit) * (size_t)n + strlen(suffix) + 1;
    char *s = malloc(len), *p;
    assert_non_null(s);
    strcpy(s, prefix);
    p = s + strlen(prefix);
    for (long i = 0; i < n; i++) {
        memcpy(p, unit, strlen(unit));
        p += strlen(unit);
    }
    strcpy(p, suffix);
    return s;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rng(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33);
}

/* Whatever the bytes, the frontend returns: success, or a user error with a location. */
static void assert_survives(const char *src, size_t len) {
    gc_arena *arena = gc_arena_new();
    gc_error err;
    if (!compile(src, len, "r.gm", arena, NULL, 0, NULL, &err)) {
        assert_int_equal(err.code, GC_ERR_USER);
        assert_true(err.message[0] != '\0');
        assert_true(err.line >= 1 || strstr(err.message, "loss"));
        char *d = gc_format_diagnostic(&err, NULL);
        assert_non_null(d);
        free(d);
    }
    gc_arena_free(arena);
}

static void test_hostile_inputs(void **state) {
    (void)state;
    assert_fails("", 1, 1, "the model has no loss");
    assert_fails("# nothing but a comment\n\n", 3, 1, "the model has no loss");

    char buf[4096];
    for (int round = 0; round < 300; round++) {
        size_t len = 1 + rng() % sizeof buf;
        for (size_t i = 0; i < len; i++) buf[i] = (char)rng();
        assert_survives(buf, len);
    }
    /* Random token soup reaches deeper into the parser and checker than random bytes. */
    static const char *const words[] = {"x", "y", " = ", "(", ")", "[", "]", "{", "}", "\n", ", ", "1", "2.5",
                                        " as ", "+", "*", "@", "-", "def ", "for ", " in ", "range", "return ",
                                        "loss", "linear", "split", "const ", "input ", "f32", "[2]", ": ",
                                        "train", "seed", "\"s\"", "none", "param ", "zeros()", "h[i]", "."};
    for (int round = 0; round < 2000; round++) {
        size_t len = 0;
        int count = 1 + (int)(rng() % 60);
        for (int i = 0; i < count; i++) {
            const char *w = words[rng() % (sizeof words / sizeof words[0])];
            size_t n = strlen(w);
            if (len + n >= sizeof buf) break;
            memcpy(buf + len, w, n);
            len += n;
        }
        assert_survives(buf, len);
    }

    char *s = repeat("input x: f32[2]\nloss = mean(", "(", 10000, "x");
    assert_fails(s, 2, 212, "nested too deeply");
    free(s);

    assert_fails("input x: f32[2]\ndef f(a) {\n  return f(a)\n}\nloss = mean(f(x))\n", 3, 10, "recursive def: f -> f");
    assert_fails("const a = 99999999999999999999999999\n", 1, 11, "integer literal too large");
    assert_fails("input x: f32[1000000, 1000000, 1000000]\n", 1, 7, "too many elements");
    assert_fails("input x: f32[1e12]\n", 1, 14, "must be a positive integer, got 1e+12");

    /* A 1 MB name. */
    s = repeat("x = ", "n", 1 << 20, " + 1\n");
    assert_fails(s, 1, 5, "name too long");
    free(s);
    /* A 1 MB string is fine for the lexer; the checker then rejects its use. */
    s = repeat("input x: f32[2]\nloss = mean(gelu(x, approximate=\"", "s", 1 << 20, "\"))\n");
    assert_fails(s, 2, 33, "must be \"none\" or \"tanh\"");
    free(s);
}

/* Limits on size: fail cleanly and quickly, and big-but-sane models stay fast (no quadratic
 * scans of the symbol tables). */
static void test_size_limits(void **state) {
    (void)state;
    /* 100k distinct names chained one after another. */
    enum { N = 100000 };
    char *s = malloc((size_t)N * 32 + 64), *p = s;
    assert_non_null(s);
    p += sprintf(p, "input v0: f32[2]\n");
    for (int i = 1; i < N; i++) p += sprintf(p, "v%d = v%d + 1\n", i, i - 1);
    sprintf(p, "loss = mean(v%d)\n", N - 1);
    gc_error err;
    if (!compile_text(s, &err)) fail_msg("%d:%d: %s", err.line, err.col, err.message);
    free(s);

    /* More syntax nodes than the cap: many long lists. */
    char *list = repeat("y = [", "1,", 60000, "1]\n");
    size_t ll = strlen(list);
    s = malloc(ll * 20 + 1);
    assert_non_null(s);
    for (int i = 0; i < 20; i++) memcpy(s + ll * (size_t)i, list, ll);
    s[ll * 20] = '\0';
    gc_arena *arena = gc_arena_new();
    assert_null(gc_frontend_parse(s, ll * 20, "big.gm", arena, &err));
    assert_non_null(strstr(err.message, "model too large"));
    gc_arena_free(arena);
    free(s);
    free(list);

    /* Defs that multiply: each calls the next ten times, eight deep. */
    char text[4096], callee[32];
    p = text + sprintf(text, "input x: f32[2]\n");
    for (int d = 0; d < 8; d++) {
        snprintf(callee, sizeof callee, d == 7 ? "relu" : "d%d", d + 1);
        p += sprintf(p, "def d%d(a) {\n  for i in range(10) {\n    a = %s(a)\n  }\n  return a\n}\n", d, callee);
    }
    sprintf(p, "loss = mean(d0(x))\n");
    assert_false(compile_text(text, &err));
    assert_non_null(strstr(err.message, "unrolls to more than 300000"));

    /* A chain of 150 defs is deeper than the limit. */
    s = malloc(150 * 64 + 64);
    assert_non_null(s);
    p = s + sprintf(s, "input x: f32[2]\n");
    for (int d = 0; d < 150; d++) {
        snprintf(callee, sizeof callee, d == 149 ? "relu" : "d%d", d + 1);
        p += sprintf(p, "def d%d(a) {\n  return %s(a)\n}\n", d, callee);
    }
    sprintf(p, "loss = mean(d0(x))\n");
    assert_false(compile_text(s, &err));
    assert_non_null(strstr(err.message, "more than 100 levels deep"));
    free(s);
}

/* Every allocation of parse+check may fail: the result is an out-of-memory error, never a crash
 * or a leak. */
static void test_allocation_failures(void **state) {
    (void)state;
    char *path = source_path("tests/models/good/tiny_gpt.gm");
    size_t len;
    char *src = read_path(path, &len);
    free(path);
    int succeeded = 0, failed = 0;
    for (long n = 1; n < 100000 && !succeeded; n++) {
        gc_arena_fail_after(n);
        gc_arena *arena = gc_arena_new();
        if (!arena) {
            gc_arena_fail_after(0);
            failed++;
            continue;
        }
        gc_error err;
        int ok = compile(src, len, "tiny_gpt.gm", arena, NULL, 0, NULL, &err);
        gc_arena_fail_after(0);
        if (ok) succeeded = 1;
        else {
            if (err.code != GC_ERR_MEMORY) fail_msg("allocation %ld: %s", n, err.message);
            failed++;
        }
        gc_arena_free(arena);
    }
    assert_true(succeeded);
    assert_true(failed > 10);
    free(src);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_catalogue),       cmocka_unit_test(test_good_models),
        cmocka_unit_test(test_check_annotations),   cmocka_unit_test(test_const_evaluation),
        cmocka_unit_test(test_overrides),           cmocka_unit_test(test_builtin_table),
        cmocka_unit_test(test_docs_cover_builtins), cmocka_unit_test(test_diagnostics),
        cmocka_unit_test(test_hostile_inputs),      cmocka_unit_test(test_size_limits),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
