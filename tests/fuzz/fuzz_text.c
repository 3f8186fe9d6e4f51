/*
 * fuzz_text.c: byte-level text data — windows of the context the first byte picks (1..256).
 */
#include "fuzz_common.h"

#include "runtime/text_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    gc_error err = {0};
    gc_tensor tokens, targets;
    int64_t context = (int64_t)data[0] + 1;
    if (gc_text_windows("fuzz.txt", data + 1, size - 1, context, &tokens, &targets, &err)) {
        int64_t windows = tokens.shape[0];
        if (windows != (int64_t)(size - 2) / context) abort();
        for (int64_t i = 0; i < windows * context; i++) {
            if (((int32_t *)targets.data)[i] != data[1 + i + 1]) abort();
        }
        free(tokens.data);
        free(targets.data);
    }
    return 0;
}
