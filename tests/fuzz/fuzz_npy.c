/*
 * fuzz_npy.c: .npy reading — the header alone, then the data in the dtype the header implies
 * (the reader only takes a path, so the input goes through a temporary file).
 */
#include "fuzz_common.h"

#include "runtime/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    if (!gc_fuzz_temp_file(data, size, path)) return 0;
    gc_error err = {0};
    gc_npy_info info;
    if (gc_npy_read_info(path, &info, &err)) {
        gc_tensor t;
        gc_dtype wants[2] = {info.dtype, info.dtype == GC_I32 ? GC_F32 : GC_F64};
        for (int i = 0; i < 2; i++) {
            if (gc_npy_read(path, wants[i], &t, &err)) free(t.data);
        }
    }
    unlink(path);
    return 0;
}
