/* text_data.c: a text as byte windows (non-overlapping by default); see text_data.h. */
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
    return gc_text_windows_strided(name, text, len, context, context, tokens, targets, err);
}

int gc_text_windows_strided(const char *name, const unsigned char *text, size_t len, int64_t context, int64_t stride,
                            gc_tensor *tokens, gc_tensor *targets, gc_error *err) {
    memset(tokens, 0, sizeof *tokens);
    memset(targets, 0, sizeof *targets);
    if (context <= 0) return gc_failf(err, GC_ERR_USER, "%s: the context length must be positive", name);
    if (stride <= 0) return gc_failf(err, GC_ERR_USER, "%s: the window stride must be positive", name);
    if (len < (size_t)context + 1)
        return gc_failf(err, GC_ERR_USER,
                        "%s has %zu byte%s; a window of context %lld needs %lld (its tokens and one more byte for the "
                        "last target)",
                        name, len, len == 1 ? "" : "s", (long long)context, (long long)context + 1);
    int64_t windows = (int64_t)((len - 1 - (size_t)context) / (size_t)stride) + 1;
    /* Overlapping windows copy bytes several times: 8 * T / stride bytes of memory per byte. */
    if ((uint64_t)windows > ((uint64_t)1 << 31) / (uint64_t)context)
        return gc_failf(err, GC_ERR_USER,
                        "%s: %lld windows of context %lld (stride %lld) are more than 2^31 tokens; use a larger "
                        "--text-stride", name, (long long)windows, (long long)context, (long long)stride);
    size_t count = (size_t)windows * (size_t)context;
    int32_t *tok = malloc(count * sizeof *tok), *tgt = malloc(count * sizeof *tgt);
    if (!tok || !tgt) {
        free(tok);
        free(tgt);
        return gc_failf(err, GC_ERR_MEMORY, "out of memory for the windows of %s", name);
    }
    for (int64_t w = 0; w < windows; w++) {
        const unsigned char *from = text + (size_t)w * (size_t)stride;
        int32_t *a = tok + (size_t)w * (size_t)context, *b = tgt + (size_t)w * (size_t)context;
        for (int64_t i = 0; i < context; i++) {
            a[i] = from[i];
            b[i] = from[i + 1];
        }
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
    return gc_text_read_strided(path, context, context, tokens, targets, err);
}

int gc_text_read_strided(const char *path, int64_t context, int64_t stride, gc_tensor *tokens, gc_tensor *targets,
                         gc_error *err) {
    size_t len = 0;
    char *text = gc_file_read(path, TEXT_MAX_BYTES, &len, err);
    if (!text) return 0;
    int ok = gc_text_windows_strided(path, (const unsigned char *)text, len, context, stride, tokens, targets, err);
    free(text);
    return ok;
}
