/*
 * test_losses.c: every loss of passes/losses.h against PyTorch, values and gradients.
 *
 * tests/oracle/gen_losses.py writes, per case, the tensors, torch.nn.functional's result and
 * loss.backward()'s gradients (for reduction "none", of (loss * cotangent).sum()). Each case is
 * rebuilt here with the builders, differentiated by passes/autodiff, run on the f32 interpreter
 * and compared element by element. A test per loss kind requires a minimum number of cases, so a
 * shrunken oracle fails rather than passes vacuously. The rest checks what the oracle cannot:
 * error messages and NaN-free zero terms.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ir/build.h"
#include "ir/text.h"
#include "passes/autodiff.h"
#include "passes/losses.h"
#include "runtime/interp.h"
#include "runtime/npy.h"

/* float32 agreement: the graph and torch round differently inside sums and fused kernels. */
#define REL_TOL 2e-5
#define ABS_TOL 2e-6

#define MAX_TENSORS 8

typedef struct loss_case {
    char name[96], loss[64], reduction[16];
    long long ignore_index;
    double label_smoothing;
    int log_target;
    char inputs[MAX_TENSORS][32];
    int num_inputs;
    char params[MAX_TENSORS][32];
    int num_params;
} loss_case;

static const char *expected_dir(void) {
    const char *dir = getenv("GC_EXPECTED_DIR");
    if (!dir) fail_msg("GC_EXPECTED_DIR is not set (run through ctest)");
    return dir;
}

static int split_list(const char *s, char out[][32]) {
    int n = 0;
    while (*s && n < MAX_TENSORS) {
        size_t len = strcspn(s, ",");
        snprintf(out[n++], 32, "%.*s", (int)len, s);
        s += len;
        if (*s == ',') s++;
    }
    return n;
}

/* Parses "NAME key=value ..."; returns false on a malformed line. */
static bool parse_case(char *line, loss_case *c) {
    memset(c, 0, sizeof *c);
    c->ignore_index = GC_IGNORE_INDEX_DEFAULT;
    char *save = NULL;
    char *tok = strtok_r(line, " \n", &save);
    if (!tok) return false;
    snprintf(c->name, sizeof c->name, "%s", tok);
    while ((tok = strtok_r(NULL, " \n", &save))) {
        char *eq = strchr(tok, '=');
        if (!eq) return false;
        *eq = '\0';
        const char *v = eq + 1;
        if (!strcmp(tok, "loss")) snprintf(c->loss, sizeof c->loss, "%s", v);
        else if (!strcmp(tok, "reduction")) snprintf(c->reduction, sizeof c->reduction, "%s", v);
        else if (!strcmp(tok, "ignore_index")) c->ignore_index = atoll(v);
        else if (!strcmp(tok, "label_smoothing")) c->label_smoothing = atof(v);
        else if (!strcmp(tok, "log_target")) c->log_target = atoi(v);
        else if (!strcmp(tok, "inputs")) c->num_inputs = split_list(v, c->inputs);
        else if (!strcmp(tok, "params")) c->num_params = split_list(v, c->params);
        else return false;
    }
    return c->loss[0] && c->reduction[0] && c->num_inputs >= 2;
}

static bool read_tensor(const char *case_name, const char *key, gc_tensor *t) {
    char path[1024];
    snprintf(path, sizeof path, "%s/losses/%s.%s.npy", expected_dir(), case_name, key);
    gc_error err = {0};
    gc_npy_info info;
    if (!gc_npy_read_info(path, &info, &err) || !gc_npy_read(path, info.dtype, t, &err)) {
        print_error("%s\n", err.message);
        return false;
    }
    return true;
}

static bool in_list(char list[][32], int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(list[i], name)) return true;
    return false;
}

static bool close_enough(double got, double want) {
    if (isnan(want)) return isnan(got);
    return fabs(got - want) <= ABS_TOL + REL_TOL * fabs(want);
}

/* Compares n values; prints the first mismatch. */
static bool compare(const char *what, const char *case_name, const double *got, const gc_tensor *want) {
    int64_t n = 1;
    for (int i = 0; i < want->rank; i++) n *= want->shape[i];
    for (int64_t i = 0; i < n; i++) {
        double w = ((const float *)want->data)[i];
        if (!close_enough(got[i], w)) {
            print_error("%s: %s[%lld] = %.9g, torch says %.9g\n", case_name, what, (long long)i, got[i], w);
            return false;
        }
    }
    return true;
}

static gc_node *find_input(gc_node **nodes, loss_case *c, const char *name) {
    for (int i = 0; i < c->num_inputs; i++)
        if (!strcmp(c->inputs[i], name)) return nodes[i];
    return NULL;
}

/* Builds the loss of case c over the source nodes. */
static gc_node *build_loss(gc_builder *b, loss_case *c, gc_node **nodes) {
    gc_reduction r;
    assert_true(gc_reduction_from_name(c->reduction, &r));
    gc_node *x = find_input(nodes, c, "input"), *t = find_input(nodes, c, "target");
    gc_node *w = find_input(nodes, c, "weight"), *pw = find_input(nodes, c, "pos_weight");
    if (!strcmp(c->loss, "mse_loss")) return gc_mse_loss(b, x, t, r);
    if (!strcmp(c->loss, "l1_loss")) return gc_l1_loss(b, x, t, r);
    if (!strcmp(c->loss, "binary_cross_entropy")) return gc_binary_cross_entropy(b, x, t, w, r);
    if (!strcmp(c->loss, "binary_cross_entropy_with_logits"))
        return gc_binary_cross_entropy_with_logits(b, x, t, w, pw, r);
    if (!strcmp(c->loss, "cross_entropy"))
        return gc_cross_entropy(b, x, t, c->ignore_index, c->label_smoothing, r);
    if (!strcmp(c->loss, "nll_loss")) return gc_nll_loss(b, x, t, c->ignore_index, r);
    if (!strcmp(c->loss, "kl_div")) return gc_kl_div(b, x, t, r, c->log_target != 0);
    if (!strcmp(c->loss, "accuracy")) return gc_accuracy(b, x, t);
    fail_msg("%s: unknown loss '%s'", c->name, c->loss);
    return NULL;
}

/* Runs one case; returns true when every value and gradient matches torch. */
static bool run_case(loss_case *c) {
    gc_error err = {0};
    gc_graph *g = gc_graph_new(c->name);
    gc_builder b = {g, {"test.gm", 1, 1}, &err};
    gc_tensor data[MAX_TENSORS];
    gc_node *nodes[MAX_TENSORS];
    memset(data, 0, sizeof data);
    bool ok = true;
    for (int i = 0; i < c->num_inputs && ok; i++) {
        ok = read_tensor(c->name, c->inputs[i], &data[i]);
        if (!ok) break;
        gc_type ty = gc_type_make(data[i].dtype, data[i].rank, data[i].shape);
        bool is_param = in_list(c->params, c->num_params, c->inputs[i]);
        nodes[i] = gc_graph_make(g, is_param ? GC_OP_PARAM : GC_OP_INPUT, NULL, 0, NULL, &ty, c->inputs[i],
                                 b.loc, &err);
        ok = nodes[i] != NULL;
    }
    gc_node *loss = ok ? build_loss(&b, c, nodes) : NULL;
    if (ok && !loss) {
        print_error("%s: build failed: %s\n", c->name, err.message);
        ok = false;
    }
    if (ok) ok = gc_graph_add_output(g, GC_OUTPUT_VALUE, "value", loss, &err);
    if (ok && c->num_params > 0) {
        gc_node *objective = loss;
        gc_node *cot = find_input(nodes, c, "cotangent");
        if (cot) {
            objective = gc_binary(&b, GC_OP_MUL, loss, cot);
            if (objective && objective->type.rank > 0)
                objective = gc_reduce(&b, GC_OP_SUM, objective, (1u << objective->type.rank) - 1u, false);
        }
        ok = objective && gc_graph_add_output(g, GC_OUTPUT_VALUE, "loss", objective, &err) &&
             gc_autodiff(g, &err);
        if (!ok) print_error("%s: autodiff: %s\n", c->name, err.message);
    }
    gc_interp *it = ok ? gc_interp_new(g, GC_INTERP_F32, &err) : NULL;
    for (int i = 0; it && ok && i < c->num_inputs; i++) ok = gc_interp_set(it, c->inputs[i], &data[i], &err);
    if (it && ok) ok = gc_interp_run(it, &err);
    if (it && !ok) print_error("%s: interpreter: %s\n", c->name, err.message);
    if (it && ok) {
        gc_tensor want;
        ok = read_tensor(c->name, "expected", &want);
        if (ok) {
            ok = compare("value", c->name, gc_interp_output(it, GC_OUTPUT_VALUE, "value"), &want);
            free(want.data);
        }
        for (int p = 0; ok && p < c->num_params; p++) {
            char key[64];
            snprintf(key, sizeof key, "grad_%s", c->params[p]);
            const double *grad = gc_interp_output(it, GC_OUTPUT_GRAD, c->params[p]);
            if (!grad) {
                print_error("%s: no gradient for %s\n", c->name, c->params[p]);
                ok = false;
            } else if ((ok = read_tensor(c->name, key, &want))) {
                ok = compare(key, c->name, grad, &want);
                free(want.data);
            }
        }
    }
    gc_interp_free(it);
    for (int i = 0; i < MAX_TENSORS; i++) free(data[i].data);
    gc_graph_free(g);
    return ok;
}

/* Runs every manifest case of loss kind `loss`; fails unless all pass and there are at least
 * min_cases of them. */
static void run_kind(const char *loss, int min_cases) {
    char path[1024];
    snprintf(path, sizeof path, "%s/losses/manifest.txt", expected_dir());
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s (the oracle gen_losses.py writes it)", path);
    char line[2048];
    int run = 0, failed = 0;
    while (fgets(line, sizeof line, f)) {
        loss_case c;
        if (!parse_case(line, &c)) {
            fclose(f);
            fail_msg("malformed manifest line: %s", line);
        }
        if (strcmp(c.loss, loss) != 0) continue;
        run++;
        if (!run_case(&c)) failed++;
    }
    fclose(f);
    if (failed) fail_msg("%s: %d of %d cases differ from torch", loss, failed, run);
    if (run < min_cases)
        fail_msg("%s: only %d cases in the oracle, expected at least %d", loss, run, min_cases);
}

static void test_mse_loss(void **state) { (void)state; run_kind("mse_loss", 6); }
static void test_l1_loss(void **state) { (void)state; run_kind("l1_loss", 6); }
static void test_binary_cross_entropy(void **state) { (void)state; run_kind("binary_cross_entropy", 12); }
static void test_bce_with_logits(void **state) {
    (void)state;
    run_kind("binary_cross_entropy_with_logits", 12);
}
static void test_cross_entropy(void **state) { (void)state; run_kind("cross_entropy", 33); }
static void test_nll_loss(void **state) { (void)state; run_kind("nll_loss", 12); }
static void test_kl_div(void **state) { (void)state; run_kind("kl_div", 16); }
static void test_accuracy(void **state) { (void)state; run_kind("accuracy", 2); }

/* --- what the oracle cannot check --- */

static gc_node *source(gc_builder *b, gc_op op, const char *name, gc_dtype dt, int rank, ...) {
    int64_t dims[GC_MAX_RANK];
    va_list ap;
    va_start(ap, rank);
    for (int i = 0; i < rank; i++) dims[i] = va_arg(ap, int);
    va_end(ap);
    gc_type t = gc_type_make(dt, rank, dims);
    return gc_graph_make(b->graph, op, NULL, 0, NULL, &t, name, b->loc, b->err);
}

static void expect_error(gc_error *err, const char *a, const char *b2, const char *c) {
    assert_int_equal(err->code, GC_ERR_USER);
    assert_int_equal(err->line, 7);
    assert_int_equal(err->col, 3);
    assert_string_equal(err->file, "model.gm");
    assert_non_null(strstr(err->message, a));
    if (b2) assert_non_null(strstr(err->message, b2));
    if (c) assert_non_null(strstr(err->message, c));
}

static void test_shape_errors(void **state) {
    (void)state;
    gc_error err = {0};
    gc_graph *g = gc_graph_new("errors");
    gc_builder b = {g, {"model.gm", 7, 3}, &err};
    gc_node *x = source(&b, GC_OP_INPUT, "x", GC_F32, 2, 4, 3);
    gc_node *y = source(&b, GC_OP_INPUT, "y", GC_F32, 2, 4, 5);
    gc_node *idx = source(&b, GC_OP_INPUT, "idx", GC_I32, 1, 4);
    gc_node *bad_idx = source(&b, GC_OP_INPUT, "bad", GC_I32, 1, 5);
    gc_node *w = source(&b, GC_OP_INPUT, "w", GC_F32, 1, 4);

    assert_null(gc_mse_loss(&b, x, y, GC_REDUCTION_MEAN));
    expect_error(&err, "mse_loss:", "f32[4, 3]", "f32[4, 5]");
    assert_null(gc_l1_loss(&b, x, idx, GC_REDUCTION_SUM));
    expect_error(&err, "l1_loss:", "i32[4]", "f32[4, 3]");
    assert_null(gc_cross_entropy(&b, x, bad_idx, -100, 0.0, GC_REDUCTION_MEAN));
    expect_error(&err, "cross_entropy:", "i32[5]", "i32[4]");
    assert_null(gc_cross_entropy(&b, x, idx, -100, 1.5, GC_REDUCTION_MEAN));
    expect_error(&err, "cross_entropy:", "label_smoothing", NULL);
    assert_null(gc_cross_entropy(&b, idx, idx, -100, 0.0, GC_REDUCTION_MEAN));
    expect_error(&err, "cross_entropy:", "i32[4]", NULL);
    assert_null(gc_nll_loss(&b, x, x, -100, GC_REDUCTION_MEAN));
    expect_error(&err, "nll_loss:", "f32[4, 3]", "i32[4]");
    assert_null(gc_binary_cross_entropy(&b, x, x, w, GC_REDUCTION_MEAN));
    expect_error(&err, "binary_cross_entropy:", "weight f32[4]", "f32[4, 3]");
    assert_null(gc_binary_cross_entropy_with_logits(&b, x, x, NULL, w, GC_REDUCTION_MEAN));
    expect_error(&err, "binary_cross_entropy_with_logits:", "pos_weight f32[4]", NULL);
    assert_null(gc_kl_div(&b, x, y, GC_REDUCTION_BATCHMEAN, false));
    expect_error(&err, "kl_div:", "f32[4, 5]", NULL);
    assert_null(gc_mse_loss(&b, x, x, GC_REDUCTION_BATCHMEAN));
    expect_error(&err, "mse_loss:", "batchmean", NULL);
    assert_null(gc_accuracy(&b, x, bad_idx));
    expect_error(&err, "accuracy:", "i32[5]", NULL);
    /* A NULL operand (an earlier failure) passes through without touching the error. */
    gc_error_clear(&err);
    assert_null(gc_cross_entropy(&b, NULL, idx, -100, 0.0, GC_REDUCTION_MEAN));
    assert_int_equal(err.code, GC_OK);
    gc_graph_free(g);
}

static void test_reduction_names(void **state) {
    (void)state;
    const char *names[] = {"none", "mean", "sum", "batchmean"};
    for (int i = 0; i < 4; i++) {
        gc_reduction r;
        assert_true(gc_reduction_from_name(names[i], &r));
        assert_string_equal(gc_reduction_name(r), names[i]);
    }
    gc_reduction r;
    assert_false(gc_reduction_from_name("means", &r));
    assert_false(gc_reduction_from_name("", &r));
}

/* Builds `output "loss" = sum(loss)` over param x, runs autodiff and the interpreter, and returns
 * the interpreter (caller frees it and the graph). */
static gc_interp *run_with_grad(gc_graph *g, gc_node *loss, gc_error *err) {
    assert_non_null(loss);
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "loss", loss, err));
    assert_true(gc_autodiff(g, err));
    gc_interp *it = gc_interp_new(g, GC_INTERP_F32, err);
    assert_non_null(it);
    return it;
}

/* kl_div's zero terms: target 0 against an input of -inf (log 0) is 0, in value and gradient. */
static void test_kl_div_zero_terms(void **state) {
    (void)state;
    gc_error err = {0};
    gc_graph *g = gc_graph_new("kl");
    gc_builder b = {g, {NULL, 0, 0}, &err};
    gc_node *x = source(&b, GC_OP_PARAM, "x", GC_F32, 1, 3);
    gc_node *t = source(&b, GC_OP_PARAM, "t", GC_F32, 1, 3);
    gc_interp *it = run_with_grad(g, gc_kl_div(&b, x, t, GC_REDUCTION_SUM, false), &err);
    const double xv[] = {-INFINITY, log(0.25), log(0.75)}, tv[] = {0.0, 0.5, 0.5};
    assert_true(gc_interp_set_f64(it, "x", xv, 3, &err));
    assert_true(gc_interp_set_f64(it, "t", tv, 3, &err));
    assert_true(gc_interp_run(it, &err));
    double want = 0.5 * (log(0.5) - log(0.25)) + 0.5 * (log(0.5) - log(0.75));
    assert_float_equal(gc_interp_output(it, GC_OUTPUT_VALUE, "loss")[0], want, 1e-6);
    const double *gx = gc_interp_output(it, GC_OUTPUT_GRAD, "x");
    const double *gt = gc_interp_output(it, GC_OUTPUT_GRAD, "t");
    assert_float_equal(gx[0], 0.0, 0.0);
    assert_float_equal(gx[1], -0.5, 1e-6);
    assert_float_equal(gt[0], 0.0, 0.0);
    assert_float_equal(gt[1], log(0.5) + 1.0 - log(0.25), 1e-6);
    gc_interp_free(it);
    gc_graph_free(g);

    /* log_target: a target of -inf (probability 0) likewise counts 0. */
    g = gc_graph_new("kl_log");
    b.graph = g;
    x = source(&b, GC_OP_PARAM, "x", GC_F32, 1, 2);
    t = source(&b, GC_OP_INPUT, "t", GC_F32, 1, 2);
    it = run_with_grad(g, gc_kl_div(&b, x, t, GC_REDUCTION_SUM, true), &err);
    const double xl[] = {-INFINITY, log(0.5)}, tl[] = {-INFINITY, log(0.5)};
    assert_true(gc_interp_set_f64(it, "x", xl, 2, &err));
    assert_true(gc_interp_set_f64(it, "t", tl, 2, &err));
    assert_true(gc_interp_run(it, &err));
    assert_float_equal(gc_interp_output(it, GC_OUTPUT_VALUE, "loss")[0], 0.0, 0.0);
    gx = gc_interp_output(it, GC_OUTPUT_GRAD, "x");
    assert_float_equal(gx[0], 0.0, 0.0);
    assert_float_equal(gx[1], -0.5, 1e-6);
    gc_interp_free(it);
    gc_graph_free(g);
}

/* nll_loss reads only the target's log-probability: -inf elsewhere (or in an ignored row) leaves
 * the loss and its gradient finite, and a batch with every target ignored is NaN, as in torch. */
static void test_nll_ignores_other_classes(void **state) {
    (void)state;
    gc_error err = {0};
    gc_graph *g = gc_graph_new("nll");
    gc_builder b = {g, {NULL, 0, 0}, &err};
    gc_node *x = source(&b, GC_OP_PARAM, "x", GC_F32, 2, 2, 3);
    gc_node *t = source(&b, GC_OP_INPUT, "t", GC_I32, 1, 2);
    gc_interp *it = run_with_grad(g, gc_nll_loss(&b, x, t, 0, GC_REDUCTION_MEAN), &err);
    const double xv[] = {-INFINITY, -0.5, -INFINITY, -INFINITY, -INFINITY, -2.0}, tv[] = {0, 2};
    assert_true(gc_interp_set_f64(it, "x", xv, 6, &err));
    assert_true(gc_interp_set_f64(it, "t", tv, 2, &err));
    assert_true(gc_interp_run(it, &err));
    assert_float_equal(gc_interp_output(it, GC_OUTPUT_VALUE, "loss")[0], 2.0, 1e-6);
    const double *gx = gc_interp_output(it, GC_OUTPUT_GRAD, "x");
    const double want[] = {0, 0, 0, 0, 0, -1};
    for (int i = 0; i < 6; i++) assert_float_equal(gx[i], want[i], 0.0);
    const double all_ignored[] = {0, 0};
    assert_true(gc_interp_set_f64(it, "t", all_ignored, 2, &err));
    assert_true(gc_interp_run(it, &err));
    assert_true(isnan(gc_interp_output(it, GC_OUTPUT_VALUE, "loss")[0]));
    gc_interp_free(it);
    gc_graph_free(g);

    /* An ignore_index no i32 can equal (torch takes any int64) ignores nothing. */
    g = gc_graph_new("nll_wide");
    b.graph = g;
    x = source(&b, GC_OP_PARAM, "x", GC_F32, 2, 2, 3);
    t = source(&b, GC_OP_INPUT, "t", GC_I32, 1, 2);
    it = run_with_grad(g, gc_nll_loss(&b, x, t, (int64_t)1 << 40, GC_REDUCTION_MEAN), &err);
    const double finite[] = {-1, -2, -3, -4, -5, -6};
    assert_true(gc_interp_set_f64(it, "x", finite, 6, &err));
    const double first_class[] = {0, 0};
    assert_true(gc_interp_set_f64(it, "t", first_class, 2, &err));
    assert_true(gc_interp_run(it, &err));
    assert_float_equal(gc_interp_output(it, GC_OUTPUT_VALUE, "loss")[0], 2.5, 1e-6);
    gc_interp_free(it);
    gc_graph_free(g);
}

/* binary_cross_entropy at probabilities of exactly 0 and 1: torch's clamped logs cost 100 each,
 * and the gradient stays finite (0 through the clamped term) instead of 0 * inf. */
static void test_bce_saturated(void **state) {
    (void)state;
    gc_error err = {0};
    gc_graph *g = gc_graph_new("bce");
    gc_builder b = {g, {NULL, 0, 0}, &err};
    gc_node *x = source(&b, GC_OP_PARAM, "x", GC_F32, 1, 3);
    gc_node *t = source(&b, GC_OP_INPUT, "t", GC_F32, 1, 3);
    gc_interp *it = run_with_grad(g, gc_binary_cross_entropy(&b, x, t, NULL, GC_REDUCTION_SUM), &err);
    const double xv[] = {0.0, 1.0, 0.5}, tv[] = {1.0, 0.0, 1.0};
    assert_true(gc_interp_set_f64(it, "x", xv, 3, &err));
    assert_true(gc_interp_set_f64(it, "t", tv, 3, &err));
    assert_true(gc_interp_run(it, &err));
    assert_float_equal(gc_interp_output(it, GC_OUTPUT_VALUE, "loss")[0], 200.0 + log(2.0), 1e-4);
    const double *gx = gc_interp_output(it, GC_OUTPUT_GRAD, "x");
    assert_float_equal(gx[0], 0.0, 0.0);
    assert_float_equal(gx[1], 0.0, 0.0);
    assert_float_equal(gx[2], -2.0, 1e-6);
    gc_interp_free(it);
    gc_graph_free(g);
}

/* Every loss in one graph, differentiated: the result verifies and prints, parses and prints
 * back identically (the -100 and inf clamp bounds, -inf comparisons, i32 constants). */
static void test_losses_round_trip(void **state) {
    (void)state;
    gc_error err = {0};
    gc_graph *g = gc_graph_new("all");
    gc_builder b = {g, {"all.gm", 2, 1}, &err};
    gc_node *x = source(&b, GC_OP_PARAM, "x", GC_F32, 3, 2, 3, 4);
    gc_node *p = gc_unary(&b, GC_OP_SIGMOID, x);
    gc_node *t = source(&b, GC_OP_INPUT, "t", GC_F32, 3, 2, 3, 4);
    gc_node *idx = source(&b, GC_OP_INPUT, "idx", GC_I32, 2, 2, 3);
    gc_node *pw = source(&b, GC_OP_INPUT, "pw", GC_F32, 1, 4);
    gc_node *logp = gc_axis_op(&b, GC_OP_LOG_SOFTMAX, x, 2);
    gc_node *terms[] = {
        gc_mse_loss(&b, x, t, GC_REDUCTION_MEAN),
        gc_l1_loss(&b, x, t, GC_REDUCTION_SUM),
        gc_binary_cross_entropy(&b, p, t, pw, GC_REDUCTION_MEAN),
        gc_binary_cross_entropy_with_logits(&b, x, t, NULL, pw, GC_REDUCTION_MEAN),
        gc_cross_entropy(&b, x, idx, 1, 0.1, GC_REDUCTION_MEAN),
        gc_cross_entropy(&b, x, t, -100, 0.2, GC_REDUCTION_SUM),
        gc_nll_loss(&b, logp, idx, -100, GC_REDUCTION_MEAN),
        gc_kl_div(&b, logp, t, GC_REDUCTION_BATCHMEAN, false),
        gc_kl_div(&b, logp, logp, GC_REDUCTION_MEAN, true),
    };
    gc_node *loss = terms[0];
    for (size_t i = 1; i < sizeof terms / sizeof terms[0]; i++)
        loss = gc_binary(&b, GC_OP_ADD, loss, terms[i]);
    assert_non_null(loss);
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "loss", loss, &err));
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "accuracy", gc_accuracy(&b, x, idx), &err));
    assert_true(gc_autodiff(g, &err));
    assert_non_null(gc_graph_find_output(g, GC_OUTPUT_GRAD, "x"));
    if (!gc_graph_verify(g, &err)) fail_msg("verify: %s", err.message);
    char *text = gc_graph_print(g);
    assert_non_null(text);
    gc_graph *back = gc_graph_parse(text, strlen(text), "all.ir", &err);
    if (!back) fail_msg("parse: %d:%d: %s", err.line, err.col, err.message);
    char *again = gc_graph_print(back);
    assert_string_equal(text, again);
    free(again);
    free(text);
    gc_graph_free(back);
    gc_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mse_loss),
        cmocka_unit_test(test_l1_loss),
        cmocka_unit_test(test_binary_cross_entropy),
        cmocka_unit_test(test_bce_with_logits),
        cmocka_unit_test(test_cross_entropy),
        cmocka_unit_test(test_nll_loss),
        cmocka_unit_test(test_kl_div),
        cmocka_unit_test(test_accuracy),
        cmocka_unit_test(test_shape_errors),
        cmocka_unit_test(test_reduction_names),
        cmocka_unit_test(test_kl_div_zero_terms),
        cmocka_unit_test(test_nll_ignores_other_classes),
        cmocka_unit_test(test_bce_saturated),
        cmocka_unit_test(test_losses_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
