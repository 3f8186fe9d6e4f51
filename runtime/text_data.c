/* text_data.c: a text as non-overlapping byte windows; see text_data.h. */
#include "runtime/text_data.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ir/diag.h"
#include "runtime/file.h"

/* Two i32 copies of every byte: 8 bytes of memory per byte of text. */
#define TEXT_MAX_BYTES ((size_t)1 << 28)

int gc_text_windows(const char *name, const unsigned char *text, size_t len, int64_t context, gc_tensor *tokens,
                    gc_tensor *targets, gc_error *err) {
    memset(tokens, 0, sizeof *tokens);
    memset(targets, 0, sizeof *targets);
    if (context <= 0) return gc_failf(err, GC_ERR_USER, "%s: the context length must be positive", name);
    if (len < (size_t)context + 1)
        return gc_failf(err, GC_ERR_USER,
                        "%s has %zu byte%s; a window of context %lld needs %lld (its tokens and one more byte for the "
                        "last target)",
                        name, len, len == 1 ? "" : "s", (long long)context, (long long)context + 1);
    int64_t windows = (int64_t)((len - 1) / (size_t)context);
    size_t count = (size_t)windows * (size_t)context;
    int32_t *tok = malloc(count * sizeof *tok), *tgt = malloc(count * sizeof *tgt);
    if (!tok || !tgt) {
        free(tok);
        free(tgt);
        return gc_failf(err, GC_ERR_MEMORY, "out of memory for the windows of %s", name);
    }
    for (size_t i = 0; i < count; i++) {
        tok[i] = text[i];
        tgt[i] = text[i + 1];
    }
    gc_tensor *both[2] = {tokens, targets};
    for (int k = 0; k < 2; k++) {
        both[k]->dtype = GC_I32;
        both[k]->rank = 2;
        both[k]->shape[0] = windows;
        both[k]->shape[1] = context;
    }
    tokens->data = tok;
    targets->data = tgt;
    return 1;
}

int gc_text_read(const char *path, int64_t context, gc_tensor *tokens, gc_tensor *targets, gc_error *err) {
    size_t len = 0;
    char *text = gc_file_read(path, TEXT_MAX_BYTES, &len, err);
    if (!text) return 0;
    int ok = gc_text_windows(path, (const unsigned char *)text, len, context, tokens, targets, err);
    free(text);
    return ok;
}
