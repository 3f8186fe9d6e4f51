/* model_options.c: options shared by the model-loading commands; see model_options.h. */
#include "tools/model_options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/diag.h"
#include "runtime/npy.h"
#include "tools/cli.h"

void gc_model_options_init(gc_model_options *mo) {
    memset(mo, 0, sizeof *mo);
    mo->options.backend = GC_BACKEND_JIT;
}

void gc_model_options_free(gc_model_options *mo) { (void)mo; }

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

/* NAME=VALUE into a binding; returns 0 when there is no '='. */
static int split_binding(const char *arg, gc_binding *b, char *storage, size_t size) {
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || strlen(arg) >= size) return 0;
    memcpy(storage, arg, strlen(arg) + 1);
    storage[eq - arg] = '\0';
    b->name = storage;
    b->path = storage + (eq - arg) + 1;
    return 1;
}

static char binding_text[128][1024];
static int binding_used;

int gc_model_options_parse(gc_model_options *mo, int argc, char **argv, int *i) {
    const char *a = argv[*i], *v = NULL;
    if (gc_flag_value(argc, argv, i, "--set", &v) || gc_flag_value(argc, argv, i, "--data", &v)) {
        int is_set = !strncmp(a, "--set", 5);
        gc_binding *list = is_set ? mo->sets : mo->data;
        int *count = is_set ? &mo->num_sets : &mo->num_data;
        if (*count == 64 || binding_used == 128) return gc_usage_error("too many %s options", is_set ? "--set" : "--data"), -1;
        if (!split_binding(v, &list[*count], binding_text[binding_used], sizeof binding_text[0]))
            return gc_usage_error("%s expects NAME=%s, got '%s'", is_set ? "--set" : "--data", is_set ? "VALUE" : "FILE", v), -1;
        binding_used++;
        (*count)++;
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

gc_trainer *gc_model_options_trainer(gc_model_options *mo, char **source, gc_error *err) {
    *source = gc_read_file(mo->model_path, NULL, err);
    if (!*source) return NULL;
    gc_model *m = gc_model_load(mo->model_path, err);
    if (!m) return NULL;
    for (int i = 0; i < mo->num_sets; i++) {
        char *end;
        errno = 0;
        double value = strtod(mo->sets[i].path, &end);
        if (errno || end == mo->sets[i].path || *end) {
            gc_model_free(m);
            gc_failf(err, GC_ERR_USER, "--set %s: '%s' is not a number", mo->sets[i].name, mo->sets[i].path);
            return NULL;
        }
        if (!gc_model_set_const(m, mo->sets[i].name, value, err)) {
            gc_model_free(m);
            return NULL;
        }
    }
    gc_options options = mo->options;
    if (options.backend == GC_BACKEND_JIT && !gc_backend_available(GC_BACKEND_JIT) && !mo->backend_given)
        options.backend = GC_BACKEND_INTERP;
    gc_trainer *t = gc_trainer_new(m, &options, err);
    gc_model_free(m);
    return t;
}

gc_dataset *gc_model_options_dataset(gc_model_options *mo, gc_trainer *t, int shuffle, gc_error *err) {
    gc_dataset *d = gc_dataset_new(err);
    if (!d) return NULL;
    for (int i = 0; i < mo->num_data; i++) {
        const char *name = NULL;
        gc_tensor type;
        int found = 0;
        char known[512] = "";
        size_t len = 0;
        for (int k = 0; gc_trainer_input_info(t, k, &name, &type); k++) {
            if (!strcmp(name, mo->data[i].name)) {
                found = 1;
                break;
            }
            if (len < sizeof known - 64) len += (size_t)snprintf(known + len, sizeof known - len, "%s%s", k ? ", " : "", name);
        }
        if (!found) {
            gc_failf(err, GC_ERR_USER, "--data %s: the model has no input '%s' (its inputs: %s)", mo->data[i].name,
                     mo->data[i].name, known[0] ? known : "none");
            goto fail;
        }
        gc_tensor array;
        if (!gc_npy_read(mo->data[i].path, type.dtype, &array, err) ||
            !gc_dataset_bind(d, mo->data[i].name, array, &type, err))
            goto fail;
    }
    if (!gc_dataset_finish(d, shuffle, gc_trainer_seed(t), err)) goto fail;
    return d;
fail:
    gc_dataset_free(d);
    return NULL;
}
