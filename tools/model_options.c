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
#include "runtime/suggest.h"
#include "runtime/trainer.h"
#include "tools/cli.h"

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
    if (gc_flag_value(argc, argv, i, "--text-stride", &v)) {
        if (!gc_parse_count(v, &mo->text_stride) || mo->text_stride == 0)
            return gc_usage_error("--text-stride needs a whole number >= 1, got '%s'", v), -1;
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
    if (gc_flag_value(argc, argv, i, "--precision", &v)) {
        if (!strcmp(v, "f32")) mo->precision = GC_PRECISION_F32;
        else if (!strcmp(v, "bf16")) mo->precision = GC_PRECISION_BF16;
        else return gc_usage_error("--precision must be f32 or bf16, got '%s'", v), -1;
        return 1;
    }

    if (gc_flag_value(argc, argv, i, "--memory-budget", &v)) {
        gc_error err = {0};
        if (!gc_parse_memory_size(v, &mo->memory_budget, &err)) return gc_usage_error("--memory-budget: %s", err.message), -1;
        return 1;
    }

    if (!strcmp(a, "--ieee-subnormals")) {
        /* Read by the trainer when it compiles (runtime/parallel.h), so every command's trainers
         * and any it starts agree. */
        setenv("GRADC_IEEE_SUBNORMALS", "1", 1);
        return 1;
    }
    if (a[0] != '-' && !mo->model_path) {
        mo->model_path = a;
        return 1;
    }
    return 0;
}

gc_model *gc_model_options_model(const gc_model_options *mo, gc_error *err) {
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
    if (!gc_model_set_precision(m, mo->precision, err)) {
        gc_model_free(m);
        return NULL;
    }
    return m;
}

gc_trainer *gc_model_options_trainer_with(gc_model_options *mo, const char *extra, double value, char **source,
                                          gc_error *err) {
    if (source && !(*source = gc_read_file(mo->model_path, NULL, err))) return NULL;
    gc_model *m = gc_model_options_model(mo, err);
    if (!m) return NULL;
    if (extra && !gc_model_set_const(m, extra, value, err)) {
        gc_model_free(m);
        return NULL;
    }
    gc_options options = mo->options;
    if (options.backend == GC_BACKEND_JIT && !gc_backend_available(GC_BACKEND_JIT) && !mo->backend_given)
        options.backend = GC_BACKEND_INTERP;
    if (mo->memory_budget && !gc_model_set_memory_budget(m, mo->memory_budget, err)) {
        gc_model_free(m);
        return NULL;
    }
    gc_trainer *t = mo->plan_only ? gc_trainer_plan(m, &options, err) : gc_trainer_new_distributed(m, &options, mo->communicator, err);
    gc_model_free(m);
    return t;
}

gc_trainer *gc_model_options_trainer(gc_model_options *mo, char **source, gc_error *err) {
    return gc_model_options_trainer_with(mo, NULL, 0, source, err);
}

gc_data_config gc_model_options_data_config(const gc_model_options *mo) {
    gc_data_config cfg = {mo->csv_header, mo->allow_unbound, mo->num_allow_unbound, mo->text_stride};
    return cfg;
}

gc_dataset *gc_model_options_load(const gc_model_options *mo, const gc_binding *list, int count, gc_trainer *t,
                                  int shuffle, gc_error *err) {
    gc_data_config cfg = gc_model_options_data_config(mo);
    return gc_data_files_load(t, list, count, &cfg, list != mo->data, shuffle, err);
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

int gc_unknown_option(const char *command, const char *a, const char *const *known, int model_options) {
    static const char *const shared[] = {"--set", "--data", "--text", "--text-stride", "--allow-unbound", "--csv-header",
                                         "--no-csv-header", "--backend", "--threads", "--help", NULL};
    const char *names[256];
    int n = 0;
    for (int k = 0; model_options && shared[k] && n < 255; k++) names[n++] = shared[k];
    for (int k = 0; known && known[k] && n < 255; k++) names[n++] = known[k];
    char flag[128];
    snprintf(flag, sizeof flag, "%.*s", (int)strcspn(a, "="), a);
    const char *close = a[0] == '-' ? gc_suggest_name(flag, names, n) : NULL;
    if (close)
        return gc_usage_error("%s: unknown option '%s'; did you mean '%s'? (see gradc %s --help)", command, a, close,
                              command);
    return gc_usage_error("%s: unknown option '%s' (see gradc %s --help)", command, a, command);
}
