/* memory_size.c: sizes such as "2GiB", "512MiB", "1.5GB" or a byte count (gradc.h). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gradc/gradc.h>

#include "ir/diag.h"

int gc_parse_memory_size(const char *text, int64_t *bytes, gc_error *err) {
    static const struct {
        const char *unit;
        double factor;
    } units[] = {{"", 1},          {"B", 1},          {"KiB", 1024.0},          {"MiB", 1048576.0},
                 {"GiB", 1073741824.0}, {"TiB", 1099511627776.0}, {"KB", 1e3}, {"MB", 1e6},
                 {"GB", 1e9},       {"TB", 1e12},      {"K", 1024.0},            {"M", 1048576.0},
                 {"G", 1073741824.0}, {"T", 1099511627776.0}};
    if (!text || !bytes) return gc_failf(err, GC_ERR_USER, "a memory size is required");
    errno = 0;
    char *end = NULL;
    double v = strtod(text, &end);
    if (end == text || errno || !isfinite(v) || v <= 0 || isspace((unsigned char)*text))
        return gc_failf(err, GC_ERR_USER, "expected a size such as 2GiB, 512MiB or 1.5GB, got '%s'", text);
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].unit)) continue;
        double b = v * units[i].factor;
        if (b < 1 || b > 9.0e18) return gc_failf(err, GC_ERR_USER, "memory size '%s' is out of range", text);
        *bytes = (int64_t)b;
        return 1;
    }
    return gc_failf(err, GC_ERR_USER, "unknown unit in '%s' (B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)", text);
}
