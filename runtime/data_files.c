/* data_files.c: data files bound to a trainer's inputs; see data_files.h. */
#include "runtime/data_files.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ir/diag.h"
#include "runtime/npy.h"
#include "runtime/text_data.h"
#include "runtime/trainer.h"

static int64_t array_numel(const gc_tensor *t) {
    int64_t n = 1;
    for (int d = 0; d < t->rank; d++) n *= t->shape[d];
    return n;
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

/* Reads one binding's file as the input's dtype, shaped [N, the input's dims after the first]. */
static int read_binding(const gc_data_config *cfg, const gc_data_binding *b, const gc_tensor *type, gc_tensor *array,
                        gc_error *err) {
    char path[1024];
    const char *cols = NULL;
    if (!csv_spec(b->path, path, sizeof path, &cols)) return gc_npy_read(b->path, type->dtype, array, err);
    if (!gc_csv_read_columns(path, cols, cfg->csv_header, type->dtype, array, err)) return 0;
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

/* A text: the inputs tokens and targets, i32[B, T] both, get the text's windows of context T. */
static int bind_text(gc_dataset *d, const char *flag, const char *path, int64_t stride, gc_trainer *t, gc_error *err) {
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
    if (!gc_text_read_strided(path, tok_type.shape[1], stride > 0 ? stride : tok_type.shape[1], &tokens, &targets, err))
        return 0;
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

static int is_bound(const gc_data_binding *list, int count, const char *name) {
    for (int i = 0; i < count; i++)
        if (list[i].name ? !strcmp(list[i].name, name) : (!strcmp(name, "tokens") || !strcmp(name, "targets"))) return 1;
    return 0;
}

/* Every input needs data: a forgotten --data would train on zeros. --allow-unbound NAME keeps them. */
static int check_unbound(const gc_data_config *cfg, const gc_data_binding *list, int count, gc_trainer *t,
                         const char *flag, gc_error *err) {
    char missing[512] = "";
    size_t len = 0;
    int num_missing = 0;
    const char *name;
    for (int k = 0; gc_trainer_input_info(t, k, &name, NULL); k++) {
        int allowed = is_bound(list, count, name);
        for (int a = 0; !allowed && a < cfg->num_allow_unbound; a++) allowed = !strcmp(cfg->allow_unbound[a], name);
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

gc_dataset *gc_data_files_load(gc_trainer *t, const gc_data_binding *list, int count, const gc_data_config *cfg,
                               int eval, int shuffle, gc_error *err) {
    static const gc_data_config defaults = {0};
    if (!cfg) cfg = &defaults;
    gc_dataset *d = gc_dataset_new(err);
    if (!d) return NULL;
    for (int i = 0; i < count; i++) {
        const gc_data_binding *b = &list[i];
        if (!b->name) {
            if (!bind_text(d, eval ? "--eval-text" : "--text", b->path, cfg->text_stride, t, err)) goto fail;
            continue;
        }
        gc_tensor type, array;
        if (!find_input(t, eval ? "--eval-data" : "--data", b->name, &type, err) || !read_binding(cfg, b, &type, &array, err))
            goto fail;
        if (!gc_trainer_check_data(t, b->name, b->path, array.data, array.dtype, array.shape[0], array_numel(&array), err)) {
            free(array.data);
            goto fail;
        }
        if (!gc_dataset_bind(d, b->name, array, &type, err)) goto fail;
    }
    if (!check_unbound(cfg, list, count, t, eval ? "--eval-data" : "--data", err)) goto fail;
    if (!gc_dataset_finish(d, shuffle, gc_trainer_seed(t), err)) goto fail;
    return d;
fail:
    gc_dataset_free(d);
    return NULL;
}

int64_t gc_data_tokens_per_batch(const gc_trainer *t) {
    const char *name;
    gc_tensor type;
    for (int k = 0; gc_trainer_input_info(t, k, &name, &type); k++)
        if (!strcmp(name, "tokens") && type.dtype == GC_I32 && type.rank == 2) return type.shape[0] * type.shape[1];
    return 0;
}
