/*
 * test_nn_oracle.c: the wave-2 activations, losses and layers against PyTorch, through the whole
 * frontend (model text -> parse, check, lower -> autodiff).
 *
 * tests/oracle/gen_nn.py writes, per case, a model-language expression, its tensors, torch's
 * result and torch's gradients of sum(result * cot). Each case becomes the model
 *
 *     param/input declarations;  h = EXPR;  output value = h;  loss = sum(h * cot)
 *
 * which runs on the f32 interpreter and on the JIT, both compared with torch (value and every
 * gradient), and, unless the case sits on a kink on purpose, is checked by central finite
 * differences on the f64 interpreter. A test per family requires a minimum number of cases, so a
 * shrunken oracle fails rather than passes vacuously. The rest checks located errors and the
 * layers' parameters and initialisers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "frontend/check.h"
#include "frontend/lower.h"
#include "frontend/parser.h"
#include "ir/text.h"
#include "passes/autodiff.h"
#include "runtime/gradcheck.h"
#include "runtime/interp.h"
#include "runtime/jit.h"
#include "runtime/npy.h"

/* float32 agreement: the graph and torch round differently inside sums and fused kernels. */
#define REL_TOL 5e-5
#define ABS_TOL 2e-6
#define MAX_TENSORS 8

typedef struct nn_case {
    char name[96];
    bool fd;
    char tensors[MAX_TENSORS][32];
    char kinds[MAX_TENSORS];
    int num_tensors;
    char expr[512];
} nn_case;

static const char *expected_dir(void) {
    const char *dir = getenv("GC_EXPECTED_DIR");
    if (!dir) fail_msg("GC_EXPECTED_DIR is not set (run through ctest)");
    return dir;
}

/* "NAME\tFD\tname:kind,...\tEXPR" */
static bool parse_case(char *line, nn_case *c) {
    memset(c, 0, sizeof *c);
    line[strcspn(line, "\n")] = '\0';
    char *fields[4];
    for (int i = 0; i < 4; i++) {
        fields[i] = line;
        char *tab = strchr(line, '\t');
        if (i < 3) {
            if (!tab) return false;
            *tab = '\0';
            line = tab + 1;
        }
    }
    snprintf(c->name, sizeof c->name, "%s", fields[0]);
    c->fd = fields[1][0] == '1';
    snprintf(c->expr, sizeof c->expr, "%s", fields[3]);
    for (char *s = fields[2]; *s && c->num_tensors < MAX_TENSORS;) {
        size_t len = strcspn(s, ",");
        char *colon = memchr(s, ':', len);
        if (!colon) return false;
        snprintf(c->tensors[c->num_tensors], 32, "%.*s", (int)(colon - s), s);
        c->kinds[c->num_tensors++] = colon[1];
        s += len;
        if (*s == ',') s++;
    }
    return c->num_tensors > 0 && c->expr[0];
}

static bool read_tensor(const char *case_name, const char *key, gc_tensor *t) {
    char path[1024];
    snprintf(path, sizeof path, "%s/nn/%s.%s.npy", expected_dir(), case_name, key);
    gc_error err = {0};
    gc_npy_info info;
    if (!gc_npy_read_info(path, &info, &err) || !gc_npy_read(path, info.dtype, t, &err)) {
        print_error("%s\n", err.message);
        return false;
    }
    return true;
}

static bool close_enough(double got, double want) {
    if (isnan(want)) return isnan(got);
    if (isinf(want)) return got == want;
    return fabs(got - want) <= ABS_TOL + REL_TOL * fabs(want);
}

/* Compares the numel(want) values of got (doubles, or floats when `floats`) with torch's. */
static bool compare(const char *who, const char *what, const char *case_name, const void *got, bool floats,
                    const gc_tensor *want) {
    if (!got) {
        print_error("%s: %s: no %s\n", case_name, who, what);
        return false;
    }
    int64_t n = 1;
    for (int i = 0; i < want->rank; i++) n *= want->shape[i];
    for (int64_t i = 0; i < n; i++) {
        double w = ((const float *)want->data)[i];
        double g = floats ? ((const float *)got)[i] : ((const double *)got)[i];
        if (!close_enough(g, w)) {
            print_error("%s: %s: %s[%lld] = %.9g, torch says %.9g\n", case_name, who, what, (long long)i, g, w);
            return false;
        }
    }
    return true;
}

static void append(char *buf, size_t cap, const char *fmt, ...) {
    size_t used = strlen(buf);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, cap - used, fmt, ap);
    va_end(ap);
}

static void append_type(char *buf, size_t cap, const gc_tensor *t) {
    append(buf, cap, "%s[", t->dtype == GC_I32 ? "i32" : "f32");
    for (int i = 0; i < t->rank; i++) append(buf, cap, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    append(buf, cap, "]");
}

static int lower_source(const char *src, gc_lowered_model *out, gc_error *err) {
    memset(err, 0, sizeof *err);
    memset(out, 0, sizeof *out);
    gc_arena *arena = gc_arena_new();
    assert_non_null(arena);
    gc_ast_module *m = gc_frontend_parse(src, strlen(src), "model.gm", arena, err);
    int ok = m && gc_frontend_check(m, NULL, 0, err) && gc_lower_model(m, true, out, err);
    gc_arena_free(arena);
    return ok;
}

typedef struct case_data {
    gc_tensor t[MAX_TENSORS], cot;
} case_data;

static bool set_all(const nn_case *c, const case_data *d, gc_interp *it, gc_jit *j, gc_error *err) {
    for (int i = 0; i < c->num_tensors; i++) {
        if (it && !gc_interp_set(it, c->tensors[i], &d->t[i], err)) return false;
        if (j && !gc_jit_set(j, c->tensors[i], &d->t[i], err)) return false;
    }
    if (it && !gc_interp_set(it, "cot", &d->cot, err)) return false;
    if (j && !gc_jit_set(j, "cot", &d->cot, err)) return false;
    return true;
}

/* Value and gradients of one executor (interp: doubles; JIT: floats) against torch. */
static bool compare_outputs(const nn_case *c, const char *who, gc_interp *it, gc_jit *j) {
    gc_tensor want;
    if (!read_tensor(c->name, "expected", &want)) return false;
    const void *v = it ? (const void *)gc_interp_output(it, GC_OUTPUT_VALUE, "value")
                       : gc_jit_output(j, GC_OUTPUT_VALUE, "value");
    bool ok = compare(who, "value", c->name, v, j != NULL, &want);
    free(want.data);
    for (int i = 0; ok && i < c->num_tensors; i++) {
        if (c->kinds[i] == 'i') continue;
        char key[64];
        snprintf(key, sizeof key, "grad_%s", c->tensors[i]);
        const void *g = it ? (const void *)gc_interp_output(it, GC_OUTPUT_GRAD, c->tensors[i])
                           : gc_jit_output(j, GC_OUTPUT_GRAD, c->tensors[i]);
        if (!(ok = read_tensor(c->name, key, &want))) break;
        ok = compare(who, key, c->name, g, j != NULL, &want);
        free(want.data);
    }
    return ok;
}

/* Runs one case; returns true when everything matches. */
static bool run_case(const nn_case *c, bool jit) {
    case_data d;
    memset(&d, 0, sizeof d);
    bool ok = read_tensor(c->name, "cot", &d.cot);
    char src[4096] = "";
    for (int i = 0; ok && i < c->num_tensors; i++) {
        if (!(ok = read_tensor(c->name, c->tensors[i], &d.t[i]))) break;
        if (c->kinds[i] == 'l') continue;
        append(src, sizeof src, c->kinds[i] == 'p' ? "param %s: " : "input %s: ", c->tensors[i]);
        append_type(src, sizeof src, &d.t[i]);
        append(src, sizeof src, c->kinds[i] == 'p' ? " = zeros()\n" : "\n");
    }
    append(src, sizeof src, "input cot: ");
    append_type(src, sizeof src, &d.cot);
    append(src, sizeof src, "\nh = %s\noutput value = h\nloss = sum(h * cot)\n", c->expr);
    gc_lowered_model lm = {0};
    gc_error err = {0};
    if (ok && !(ok = lower_source(src, &lm, &err) && gc_autodiff(lm.graph, &err)))
        print_error("%s: %d:%d: %s\n%s", c->name, err.line, err.col, err.message, src);

    gc_interp *it = ok ? gc_interp_new(lm.graph, GC_INTERP_F32, &err) : NULL;
    if (ok && !(ok = it && set_all(c, &d, it, NULL, &err) && gc_interp_run(it, &err)))
        print_error("%s: interpreter: %s\n", c->name, err.message);
    if (ok) ok = compare_outputs(c, "interpreter", it, NULL);
    gc_interp_free(it);

    if (ok && jit) {
        gc_jit *j = gc_jit_new(lm.graph, &err);
        if (!(ok = j && set_all(c, &d, NULL, j, &err) && gc_jit_run(j, &err)))
            print_error("%s: JIT: %s\n", c->name, err.message);
        if (ok) ok = compare_outputs(c, "JIT", NULL, j);
        gc_jit_free(j);
    }

    if (ok && c->fd) {
        gc_interp *f64 = gc_interp_new(lm.graph, GC_INTERP_F64, &err);
        gc_gradcheck_report report;
        if (!(ok = f64 && set_all(c, &d, f64, NULL, &err) && gc_gradcheck(f64, lm.graph, NULL, &report, &err)))
            print_error("%s: gradcheck: %s\n", c->name, err.message);
        if (ok && report.failed) {
            print_error("%s: gradcheck: %lld of %lld elements differ; worst %s[%lld]: analytic %.9g, numeric %.9g\n",
                        c->name, (long long)report.failed, (long long)report.checked, report.worst_param,
                        (long long)report.worst_index, report.worst_analytic, report.worst_numeric);
            ok = false;
        }
        gc_interp_free(f64);
    }
    if (lm.graph) gc_lowered_model_free(&lm);
    for (int i = 0; i < MAX_TENSORS; i++) free(d.t[i].data);
    free(d.cot.data);
    return ok;
}

static bool has_prefix(const char *s, const char *const *prefixes) {
    for (; *prefixes; prefixes++)
        if (!strncmp(s, *prefixes, strlen(*prefixes))) return true;
    return false;
}

/* Runs every manifest case whose name starts with one of `prefixes` (NULL-ended). */
static void run_family(const char *family, const char *const *prefixes, int min_cases) {
    char path[1024];
    snprintf(path, sizeof path, "%s/nn/manifest.txt", expected_dir());
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s (the oracle gen_nn.py writes it)", path);
    char line[2048];
    int run = 0, failed = 0;
    while (fgets(line, sizeof line, f)) {
        nn_case c;
        if (!parse_case(line, &c)) {
            fclose(f);
            fail_msg("malformed manifest line: %s", line);
        }
        if (!has_prefix(c.name, prefixes)) continue;
        /* The JIT compiles every other case (and every kink case): LLVM's time, not coverage,
         * is what the rest would cost. */
        bool jit = (run % 2 == 0) || !c.fd;
        run++;
        if (!run_case(&c, jit)) failed++;
    }
    fclose(f);
    if (failed) fail_msg("%s: %d of %d cases differ from torch", family, failed, run);
    if (run < min_cases) fail_msg("%s: only %d cases in the oracle, expected at least %d", family, run, min_cases);
}

static void test_activations(void **state) {
    (void)state;
    static const char *const p[] = {"act_", NULL};
    run_family("activations", p, 43);
}

static void test_regression_losses(void **state) {
    (void)state;
    static const char *const p[] = {"huber_loss", "smooth_l1_loss", "pn_", "gn_", NULL};
    run_family("huber/smooth_l1/poisson/gaussian", p, 15 + 2 + 12 + 18 + 1);
}

static void test_margin_losses(void **state) {
    (void)state;
    static const char *const p[] = {"soft_margin", "mlsm_", "mlm_", "mm_", "mr_", "he_", "ce_emb_", "tm_", NULL};
    run_family("margin losses", p, 4 + 9 + 4 + 13 + 7 + 6 + 7 + 13);
}

static void test_class_weights(void **state) {
    (void)state;
    static const char *const p[] = {"cew_", "nllw_", "bcelw_", NULL};
    run_family("class weights", p, 18 + 6 + 9 + 7);
}

static void test_layers(void **state) {
    (void)state;
    static const char *const p[] = {"prelu_", "bilinear_", NULL};
    run_family("prelu/bilinear", p, 7);
}

/* ---- what the oracle cannot check ----------------------------------------------------------- */

/* The statement `h = CALL` on line 7 (after six declarations) must fail at line 7, column col,
 * with a message holding every one of the NULL-ended strings. */
static void expect_error(const char *call, int col, ...) {
    char src[2048];
    snprintf(src, sizeof src,
             "input x: f32[4, 5]\ninput y: f32[4, 3]\ninput t: i32[4]\ninput w: f32[4]\n"
             "input x3: f32[2, 3, 5]\ninput v: f32[4, 5]\nh = %s\nloss = sum(h)\n",
             call);
    gc_lowered_model lm;
    gc_error err;
    if (lower_source(src, &lm, &err)) {
        gc_lowered_model_free(&lm);
        fail_msg("expected an error from %s, but the model lowered", call);
    }
    assert_int_equal(err.code, GC_ERR_USER);
    if (err.line != 7 || err.col != col)
        fail_msg("%s: error at %d:%d, expected 7:%d: %s", call, err.line, err.col, col, err.message);
    va_list ap;
    va_start(ap, col);
    for (const char *want; (want = va_arg(ap, const char *));)
        if (!strstr(err.message, want)) fail_msg("%s: message '%s' lacks '%s'", call, err.message, want);
    va_end(ap);
}

static void test_errors_at_the_call(void **state) {
    (void)state;
    /* Shapes and dtypes: located at the call (column 5), naming the loss and both types. */
    expect_error("cross_entropy(x, t, weight=[1, 2])", 5, "cross_entropy: weight f32[2]", "f32[5]", "f32[4, 5]", NULL);
    expect_error("nll_loss(x, t, weight=w)", 5, "nll_loss: weight f32[4]", "f32[5]", NULL);
    expect_error("multi_margin_loss(x, t, weight=[1, 2, 3])", 5, "multi_margin_loss: weight f32[3]", NULL);
    expect_error("multilabel_soft_margin_loss(x, v, weight=w)", 5, "weight f32[4] does not broadcast", NULL);
    expect_error("huber_loss(x, y)", 5, "huber_loss: target f32[4, 3]", "f32[4, 5]", NULL);
    expect_error("smooth_l1_loss(x, v, beta=-1)", 5, "beta must not be negative", NULL);
    expect_error("huber_loss(x, v, delta=0)", 5, "delta must be greater than 0", NULL);
    expect_error("multi_margin_loss(x, t, p=3)", 5, "p must be 1 or 2", NULL);
    expect_error("multi_margin_loss(x, w)", 5, "target f32[4] must be class indices i32[4]", NULL);
    expect_error("multilabel_margin_loss(x, t)", 5, "target i32[4] must be i32 class indices", "f32[4, 5]", NULL);
    expect_error("multilabel_margin_loss(x3, t)", 5, "input must be float [N, C] or [C]", NULL);
    expect_error("margin_ranking_loss(w, w, t)", 5, "target i32[4] must have the type of input1 f32[4]", NULL);
    expect_error("cosine_embedding_loss(x, v, y)", 5, "target f32[4, 3] must be f32[4]", NULL);
    expect_error("triplet_margin_loss(x, v, y)", 5, "negative f32[4, 3]", NULL);
    expect_error("triplet_margin_loss(x, v, v, p=0)", 5, "p must be a positive finite number", NULL);
    expect_error("gaussian_nll_loss(x, v, y)", 5, "var f32[4, 3]", "f32[4, 5]", NULL);
    expect_error("poisson_nll_loss(x, y)", 5, "poisson_nll_loss", "f32[4, 3]", NULL);
    expect_error("hinge_embedding_loss(x, t)", 5, "hinge_embedding_loss", "i32[4]", NULL);
    expect_error("soft_margin_loss(x, y)", 5, "soft_margin_loss", NULL);
    expect_error("glu(x)", 5, "glu: halving needs an even size", "f32[4, 5]", NULL);
    expect_error("hardtanh(x, 1.0, -1.0)", 5, "min_val (1) is greater than max_val (-1)", NULL);
    expect_error("leaky_relu(t)", 16, "leaky_relu: needs an f32 tensor, got i32[4]", NULL);
    expect_error("prelu(x, num_parameters=3)", 5, "prelu: num_parameters 3 must equal the channels", "f32[4, 5]", NULL);
    expect_error("bilinear(x, x3, 2)", 5, "bilinear: x1 f32[4, 5] and x2 f32[2, 3, 5]", NULL);
    /* Arguments: located at the argument. */
    expect_error("cross_entropy(x, t, weight=\"a\")", 32, "argument 'weight' must be a tensor, a list of numbers or none",
                 NULL);
    expect_error("softplus(x, beta=0)", 22, "softplus: beta must not be 0", NULL);
    expect_error("celu(x, 0.0)", 13, "celu: alpha must not be 0", NULL);
    expect_error("glu(x, dim=2)", 16, "glu: axis 2 is out of range", NULL);
    expect_error("prelu(x, num_parameters=0)", 29, "must be at least 1", NULL);
    /* Optional loss arguments are keyword-only, as the other losses'. */
    expect_error("huber_loss(x, v, 0.5)", 22, "huber_loss takes at most 2 positional arguments", NULL);
}

static void expect_param(const gc_lowered_model *lm, const char *name, const char *type, gc_init_kind kind, double a,
                         double b) {
    const gc_param_entry *p = gc_layer_find_param(&lm->layers, name);
    if (!p) fail_msg("no param '%s'", name);
    char buf[96];
    gc_type_format(&p->node->type, buf, sizeof buf);
    assert_string_equal(buf, type);
    assert_int_equal(p->init.kind, kind);
    assert_float_equal(p->init.a, a, 1e-12);
    assert_float_equal(p->init.b, b, 1e-12);
}

/* torch's parameter names, shapes and reset_parameters. */
static void test_layer_params(void **state) {
    (void)state;
    const char *src = "input x: f32[2, 5, 3]\ninput z: f32[2, 6]\n"
                      "a = prelu(x, num_parameters=5, init=0.1) as act\n"
                      "b = prelu(x)\n"
                      "c = bilinear(z, sum(x, 2), 4)\n"
                      "d = bilinear(z, z, 2, bias=false) as blk\n"
                      "loss = sum(a) + sum(b) + sum(c) + sum(d)\n";
    gc_lowered_model lm;
    gc_error err;
    if (!lower_source(src, &lm, &err)) fail_msg("%d:%d: %s", err.line, err.col, err.message);
    expect_param(&lm, "act.weight", "f32[5]", GC_INIT_CONSTANT, 0.1, 0);
    expect_param(&lm, "prelu_0.weight", "f32[1]", GC_INIT_CONSTANT, 0.25, 0);
    double bound = 1.0 / sqrt(6.0);
    expect_param(&lm, "bilinear_0.weight", "f32[4, 6, 5]", GC_INIT_UNIFORM, -bound, bound);
    expect_param(&lm, "bilinear_0.bias", "f32[4]", GC_INIT_UNIFORM, -bound, bound);
    expect_param(&lm, "blk.weight", "f32[2, 6, 6]", GC_INIT_UNIFORM, -bound, bound);
    assert_null(gc_layer_find_param(&lm.layers, "blk.bias"));
    assert_int_equal(lm.layers.num_params, 5);
    gc_lowered_model_free(&lm);
}

/* Every wave-2 construct in one differentiated graph: it verifies, prints, parses and prints back
 * identically (clamp's -inf bound, iota, constant vectors of class weights, stop_gradient). */
static void test_round_trip(void **state) {
    (void)state;
    const char *src =
        "input x: f32[4, 6]\ninput y: f32[4, 6]\ninput t: i32[4]\ninput m: i32[4, 6]\ninput s: f32[4]\n"
        "param p: f32[4, 6] = normal(0, 1)\n"
        "a = leaky_relu(p, 0.2) + elu(p) + selu(p) + celu(p, 2.0) + mish(p) + hardswish(p) + hardsigmoid(p)\n"
        "b = hardtanh(p, -0.5, 0.5) + relu6(p) + softsign(p) + tanhshrink(p) + softplus(p, 2.0, 5.0)\n"
        "c = glu(a + b, dim=1) + bilinear(a, b, 3) + slice(prelu(a, num_parameters=1), 1, 0, 3)\n"
        "l1 = cross_entropy(a, t, weight=[1, 2, 3, 1, 1, 0.5], label_smoothing=0.1) + nll_loss(log_softmax(b), t, weight=[1, 1, 1, 1, 1, 2])\n"
        "l2 = huber_loss(a, y, delta=0.5) + smooth_l1_loss(b, y) + soft_margin_loss(a, y) + multilabel_soft_margin_loss(a, y)\n"
        "l3 = multilabel_margin_loss(a, m) + multi_margin_loss(b, t, p=2, margin=0.5) + margin_ranking_loss(a, b, y)\n"
        "l4 = hinge_embedding_loss(a, y) + cosine_embedding_loss(a, b, s) + triplet_margin_loss(a, b, y, p=1.5, swap=true)\n"
        "l5 = poisson_nll_loss(a, abs(y), full=true) + gaussian_nll_loss(a, y, abs(s) + 0.1, full=true)\n"
        "l6 = binary_cross_entropy_with_logits(a, sigmoid(y), weight=reshape(s, [4, 1]), pos_weight=abs(y))\n"
        "loss = mean(c) + l1 + l2 + l3 + l4 + l5 + l6\n";
    gc_lowered_model lm;
    gc_error err;
    if (!lower_source(src, &lm, &err)) fail_msg("%d:%d: %s", err.line, err.col, err.message);
    assert_true(gc_autodiff(lm.graph, &err));
    if (!gc_graph_verify(lm.graph, &err)) fail_msg("verify: %s", err.message);
    char *text = gc_graph_print(lm.graph);
    assert_non_null(text);
    gc_graph *back = gc_graph_parse(text, strlen(text), "all.ir", &err);
    if (!back) fail_msg("parse: %d:%d: %s", err.line, err.col, err.message);
    char *again = gc_graph_print(back);
    assert_string_equal(text, again);
    free(again);
    free(text);
    gc_graph_free(back);
    gc_lowered_model_free(&lm);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_activations),
        cmocka_unit_test(test_regression_losses),
        cmocka_unit_test(test_margin_losses),
        cmocka_unit_test(test_class_weights),
        cmocka_unit_test(test_layers),
        cmocka_unit_test(test_errors_at_the_call),
        cmocka_unit_test(test_layer_params),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
