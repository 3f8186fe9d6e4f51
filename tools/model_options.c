/*
 * model_options.c: options shared by the model-loading commands, and turning --data/--text
 * bindings into a dataset (which file format, which input, which shape); see model_options.h.
 */
#include "tools/model_options.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ir/diag.h"
#include "runtime/file.h"
#include "runtime/npy.h"
#include "runtime/text_data.h"
#include "runtime/trainer.h"
#include "tools/cli.h"

static int64_t array_numel(const gc_tensor *t) {
    int64_t n = 1;
    for (int d = 0; d < t->rank; d++) n *= t->shape[d];
    return n;
}

void gc_model_options_init(gc_model_options *mo) {
    memset(mo, 0, sizeof *mo);
    mo->options.backend = GC_BACKEND_JIT;
}

void gc_model_options_free(gc_model_options *mo) {
    for (int i = 0; i < mo->num_owned; i++) free(mo->owned[i]);
    mo->num_owned = 0;
}

int gc_flag_value(int argc, char **argv, int *i, const char *name, const char **value) {
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n)) return 0;
    if (a[n] == '=') {
        *value = a + n + 1;
        return 1;
    }
    if (a[n] != '\0') return 0;
    if (*i + 1 >= argc) {
        gc_usage_error("%s needs a value", name);
        exit(GC_EXIT_USER);
    }
    *value = argv[++*i];
    return 1;
}

int gc_parse_count(const char *s, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < 0) return 0;
    *out = v;
    return 1;
}

int gc_model_options_bind(gc_model_options *mo, gc_binding *list, int *count, const char *flag, const char *value,
                          int is_text) {
    if (*count == GC_MAX_BINDINGS || mo->num_owned == (int)(sizeof mo->owned / sizeof mo->owned[0]))
        return gc_usage_error("too many %s options", flag), -1;
    if (is_text) {
        if (!*value) return gc_usage_error("%s needs a file", flag), -1;
        list[(*count)++] = (gc_binding){NULL, value};
        return 1;
    }
    const char *eq = strchr(value, '=');
    if (!eq || eq == value || !eq[1])
        return gc_usage_error("%s expects NAME=%s, got '%s'", flag, strcmp(flag, "--set") ? "FILE" : "VALUE", value), -1;
    char *name = malloc((size_t)(eq - value) + 1);
    if (!name) return gc_usage_error("out of memory"), -1;
    memcpy(name, value, (size_t)(eq - value));
    name[eq - value] = '\0';
    mo->owned[mo->num_owned++] = name;
    list[(*count)++] = (gc_binding){name, eq + 1};
    return 1;
}

int gc_model_options_parse(gc_model_options *mo, int argc, char **argv, int *i) {
    const char *a = argv[*i], *v = NULL;
    if (gc_flag_value(argc, argv, i, "--set", &v)) return gc_model_options_bind(mo, mo->sets, &mo->num_sets, "--set", v, 0);
    if (gc_flag_value(argc, argv, i, "--data", &v)) return gc_model_options_bind(mo, mo->data, &mo->num_data, "--data", v, 0);
    if (gc_flag_value(argc, argv, i, "--text", &v)) return gc_model_options_bind(mo, mo->data, &mo->num_data, "--text", v, 1);
    if (gc_flag_value(argc, argv, i, "--allow-unbound", &v)) {
        if (mo->num_allow_unbound == GC_MAX_BINDINGS) return gc_usage_error("too many --allow-unbound options"), -1;
        mo->allow_unbound[mo->num_allow_unbound++] = v;
        return 1;
    }
    if (!strcmp(a, "--csv-header") || !strcmp(a, "--no-csv-header")) {
        mo->csv_header = a[2] == 'n' ? GC_CSV_HEADER_NO : GC_CSV_HEADER_YES;
        return 1;
    }
    if (gc_flag_value(argc, argv, i, "--backend", &v)) {
        if (!strcmp(v, "jit")) mo->options.backend = GC_BACKEND_JIT;
        else if (!strcmp(v, "interp")) mo->options.backend = GC_BACKEND_INTERP;
        else return gc_usage_error("--backend must be jit or interp, got '%s'", v), -1;
        mo->backend_given = 1;
        return 1;
    }
    if (gc_flag_value(argc, argv, i, "--threads", &v)) {
        long long n;
        if (!gc_parse_count(v, &n) || n > 256) return gc_usage_error("--threads needs a number from 0 to 256, got '%s'", v), -1;
        mo->options.threads = (int)n;
        return 1;
    }
    if (a[0] != '-' && !mo->model_path) {
        mo->model_path = a;
        return 1;
    }
    return 0;
}

gc_trainer *gc_model_options_trainer_with(gc_model_options *mo, const char *extra, double value, char **source,
                                          gc_error *err) {
    if (source && !(*source = gc_read_file(mo->model_path, NULL, err))) return NULL;
    gc_model *m = gc_model_load(mo->model_path, err);
    if (!m) return NULL;
    for (int i = 0; i < mo->num_sets; i++) {
        char *end;
        errno = 0;
        double v = strtod(mo->sets[i].path, &end);
        if (errno || end == mo->sets[i].path || *end) {
            gc_model_free(m);
            gc_failf(err, GC_ERR_USER, "--set %s: '%s' is not a number", mo->sets[i].name, mo->sets[i].path);
            return NULL;
        }
        if (!gc_model_set_const(m, mo->sets[i].name, v, err)) {
            gc_model_free(m);
            return NULL;
        }
    }
    if (extra && !gc_model_set_const(m, extra, value, err)) {
        gc_model_free(m);
        return NULL;
    }
    gc_options options = mo->options;
    if (options.backend == GC_BACKEND_JIT && !gc_backend_available(GC_BACKEND_JIT) && !mo->backend_given)
        options.backend = GC_BACKEND_INTERP;
    gc_trainer *t = gc_trainer_new_distributed(m, &options, mo->communicator, err);
    gc_model_free(m);
    return t;
}

gc_trainer *gc_model_options_trainer(gc_model_options *mo, char **source, gc_error *err) {
    return gc_model_options_trainer_with(mo, NULL, 0, source, err);
}

/* The input called name: its type, or 0 with an error listing the inputs there are. */
static int find_input(gc_trainer *t, const char *flag, const char *name, gc_tensor *type, gc_error *err) {
    const char *n = NULL;
    char known[512] = "";
    size_t len = 0;
    for (int k = 0; gc_trainer_input_info(t, k, &n, type); k++) {
        if (!strcmp(n, name)) return 1;
        if (len < sizeof known - 64) len += (size_t)snprintf(known + len, sizeof known - len, "%s%s", k ? ", " : "", n);
    }
    return gc_failf(err, GC_ERR_USER, "%s: the model has no input '%s' (its inputs: %s)", flag, name,
                    known[0] ? known : "none");
}

static void format_type(const gc_tensor *t, char *buf, size_t size) {
    size_t n = (size_t)snprintf(buf, size, "%s[", t->dtype == GC_I32 ? "i32" : "f32");
    for (int d = 0; d < t->rank && n < size; d++)
        n += (size_t)snprintf(buf + n, size - n, d ? ", %lld" : "%lld", (long long)t->shape[d]);
    if (n < size) snprintf(buf + n, size - n, "]");
}

/* `FILE.csv` or `FILE.csv:COLS`: 1 with the file and the column list split apart. */
static int csv_spec(const char *spec, char *path, size_t size, const char **cols) {
    size_t n = strlen(spec);
    if (n >= 4 && !strcasecmp(spec + n - 4, ".csv") && n < size) {
        memcpy(path, spec, n + 1);
        *cols = NULL;
        return 1;
    }
    const char *colon = strrchr(spec, ':');
    if (!colon || colon - spec < 4 || strncasecmp(colon - 4, ".csv", 4) || (size_t)(colon - spec) >= size) return 0;
    memcpy(path, spec, (size_t)(colon - spec));
    path[colon - spec] = '\0';
    *cols = colon + 1;
    return 1;
}

/* Reads one --data binding's file as the input's dtype, shaped [N, the input's dims after the first]. */
static int read_binding(const gc_model_options *mo, const gc_binding *b, const gc_tensor *type, gc_tensor *array,
                        gc_error *err) {
    char path[1024];
    const char *cols = NULL;
    if (!csv_spec(b->path, path, sizeof path, &cols)) return gc_npy_read(b->path, type->dtype, array, err);
    if (!gc_csv_read_columns(path, cols, mo->csv_header, type->dtype, array, err)) return 0;
    int64_t per = 1;
    for (int d = 1; d < type->rank; d++) per *= type->shape[d];
    if (array->shape[1] != per) {
        char ts[128];
        format_type(type, ts, sizeof ts);
        free(array->data);
        array->data = NULL;
        return gc_failf(err, GC_ERR_USER, "--data %s=%s: %lld column%s selected, but input '%s' (%s) needs %lld value%s per example",
                        b->name, b->path, (long long)array->shape[1], array->shape[1] == 1 ? " is" : "s are", b->name, ts,
                        (long long)per, per == 1 ? "" : "s");
    }
    array->rank = type->rank;
    for (int d = 1; d < type->rank; d++) array->shape[d] = type->shape[d];
    return 1;
}

/* --text: the inputs tokens and targets, i32[B, T] both, get the text's windows of context T. */
static int bind_text(gc_dataset *d, const char *flag, const char *path, gc_trainer *t, gc_error *err) {
    gc_tensor tok_type, tgt_type;
    if (!find_input(t, flag, "tokens", &tok_type, err) || !find_input(t, flag, "targets", &tgt_type, err)) {
        size_t n = strlen(err->message);
        snprintf(err->message + n, sizeof err->message - n,
                 "; %s feeds byte-level language models with inputs tokens and targets, i32[batch, context]", flag);
        return 0;
    }
    char a[128], b[128];
    format_type(&tok_type, a, sizeof a);
    format_type(&tgt_type, b, sizeof b);
    if (tok_type.dtype != GC_I32 || tok_type.rank != 2 || strcmp(a, b))
        return gc_failf(err, GC_ERR_USER, "%s: the inputs tokens (%s) and targets (%s) must both be i32[batch, context]",
                        flag, a, b);
    gc_tensor tokens, targets;
    if (!gc_text_read(path, tok_type.shape[1], &tokens, &targets, err)) return 0;
    if (!gc_trainer_check_data(t, "tokens", path, tokens.data, GC_I32, tokens.shape[0], array_numel(&tokens), err) ||
        !gc_trainer_check_data(t, "targets", path, targets.data, GC_I32, targets.shape[0], array_numel(&targets), err)) {
        free(tokens.data);
        free(targets.data);
        return 0;
    }
    if (!gc_dataset_bind(d, "tokens", tokens, &tok_type, err)) {
        free(targets.data);
        return 0;
    }
    return gc_dataset_bind(d, "targets", targets, &tgt_type, err);
}

static int is_bound(const gc_binding *list, int count, const char *name) {
    for (int i = 0; i < count; i++)
        if (list[i].name ? !strcmp(list[i].name, name) : (!strcmp(name, "tokens") || !strcmp(name, "targets"))) return 1;
    return 0;
}

/* Every input needs data: a forgotten --data would train on zeros. --allow-unbound NAME keeps them. */
static int check_unbound(const gc_model_options *mo, const gc_binding *list, int count, gc_trainer *t, const char *flag,
                         gc_error *err) {
    char missing[512] = "";
    size_t len = 0;
    int num_missing = 0;
    const char *name;
    for (int k = 0; gc_trainer_input_info(t, k, &name, NULL); k++) {
        int allowed = is_bound(list, count, name);
        for (int a = 0; !allowed && a < mo->num_allow_unbound; a++) allowed = !strcmp(mo->allow_unbound[a], name);
        if (allowed) continue;
        if (len < sizeof missing - 80)
            len += (size_t)snprintf(missing + len, sizeof missing - len, "%s'%s'", num_missing ? ", " : "", name);
        num_missing++;
    }
    if (!num_missing) return 1;
    return gc_failf(err, GC_ERR_USER,
                    "no data for input%s %s: bind %s with %s NAME=FILE, or keep zeros with --allow-unbound NAME",
                    num_missing == 1 ? "" : "s", missing, num_missing == 1 ? "it" : "them", flag);
}

gc_dataset *gc_model_options_load(const gc_model_options *mo, const gc_binding *list, int count, gc_trainer *t,
                                  int shuffle, gc_error *err) {
    gc_dataset *d = gc_dataset_new(err);
    if (!d) return NULL;
    int eval = list != mo->data;
    for (int i = 0; i < count; i++) {
        const gc_binding *b = &list[i];
        if (!b->name) {
            if (!bind_text(d, eval ? "--eval-text" : "--text", b->path, t, err)) goto fail;
            continue;
        }
        gc_tensor type, array;
        if (!find_input(t, eval ? "--eval-data" : "--data", b->name, &type, err) || !read_binding(mo, b, &type, &array, err))
            goto fail;
        if (!gc_trainer_check_data(t, b->name, b->path, array.data, array.dtype, array.shape[0], array_numel(&array), err)) {
            free(array.data);
            goto fail;
        }
        if (!gc_dataset_bind(d, b->name, array, &type, err)) goto fail;
    }
    if (!check_unbound(mo, list, count, t, eval ? "--eval-data" : "--data", err)) goto fail;
    if (!gc_dataset_finish(d, shuffle, gc_trainer_seed(t), err)) goto fail;
    return d;
fail:
    gc_dataset_free(d);
    return NULL;
}

gc_dataset *gc_model_options_dataset(gc_model_options *mo, gc_trainer *t, int shuffle, gc_error *err) {
    return gc_model_options_load(mo, mo->data, mo->num_data, t, shuffle, err);
}

int gc_model_options_report(const gc_model_options *mo, const gc_error *err, const char *source) {
    if (err->line <= 0 || !err->file[0]) return gc_report_error(err, NULL);
    if (mo->model_path && !strcmp(err->file, mo->model_path)) return gc_report_error(err, source);
    /* A data file (a CSV row): show its line too, unless the file is too big to read again. */
    gc_error ignored = {0};
    char *text = gc_file_read(err->file, (size_t)64 << 20, NULL, &ignored);
    int status = gc_report_error(err, text);
    free(text);
    return status;
}
