/*
 * fuzz_csv.c: CSV reading — row by row from memory (every field also as a number), then the
 * whole-file column reader with the header mode and dtype the first byte picks.
 */
#include "fuzz_common.h"

#include "runtime/csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    gc_error err = {0};
    gc_csv_reader r;
    gc_csv_init(&r, "fuzz.csv", (const char *)data + 1, size - 1);
    int status;
    while ((status = gc_csv_next(&r, &err)) > 0) {
        for (int i = 0; i < r.count; i++) {
            double value;
            gc_csv_parse_number(r.fields[i], &value);
        }
    }
    gc_csv_close(&r);

    char path[64];
    if (!gc_fuzz_temp_file(data + 1, size - 1, path)) return 0;
    gc_csv_header header = (gc_csv_header)(data[0] % 3);
    gc_dtype dtype = data[0] & 4 ? GC_I32 : GC_F32;
    const char *cols = data[0] & 8 ? "0,1-2,label" : NULL;
    gc_tensor t;
    if (gc_csv_read_columns(path, cols, header, dtype, &t, &err)) free(t.data);
    unlink(path);
    return 0;
}
