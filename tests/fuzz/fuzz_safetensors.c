/*
 * fuzz_safetensors.c: checkpoint loading — gc_safetensors_parse on any bytes; what it accepts
 * must serialize and parse back.
 */
#include "fuzz_common.h"

#include "runtime/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gc_error err = {0};
    gc_safetensors *st = gc_safetensors_parse(data, size, "fuzz.safetensors", &err);
    if (!st) return 0;
    for (int i = 0; i < st->num_tensors; i++) {
        gc_tensor view;
        gc_st_tensor_view(&st->tensors[i], &view);
        if (gc_safetensors_find(st, st->tensors[i].name) == NULL) abort();
    }
    unsigned char *bytes = NULL;
    size_t len = 0;
    if (gc_safetensors_serialize(st, &bytes, &len, &err)) {
        gc_safetensors *again = gc_safetensors_parse(bytes, len, "reserialized", &err);
        if (!again || again->num_tensors != st->num_tensors) {
            fprintf(stderr, "a serialized checkpoint does not load back: %s\n", again ? "" : err.message);
            abort();
        }
        gc_safetensors_free(again);
        free(bytes);
    }
    gc_safetensors_free(st);
    return 0;
}
