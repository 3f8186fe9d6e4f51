/*
 * predict_header.c: the part of a forward-only graph's header (`gradc compile --emit obj --graph
 * predict`, docs/compile.md) that loads a checkpoint's weights into the arena: a static inline
 * safetensors reader over the header's own tensor table, so a deployed program needs neither
 * gradc's runtime nor a JSON library.
 */
#include "tools/predict_header.h"

#include <string.h>

/* @p@ is the prefix of the header's names (model_), @P@ the same in capitals (MODEL_). */
static const char loader_template[] =
    "/* Reads the params and buffers this graph reads from a safetensors checkpoint (gradc's --save,\n"
    " * --save-weights or gradc export, or torch's safetensors.torch.save_file(model.state_dict())) into\n"
    " * the arena at their offsets: f32 tensors from F32, i32 ones from I32 or I64. Other tensors of the\n"
    " * file (optimizer state, what the graph does not read) are skipped. Returns 0, or -1 with a\n"
    " * message in why (why_size bytes; why may be NULL). */\n"
    "static inline int @p@load_weights(char *arena, const char *path, char *why, size_t why_size) {\n"
    "    char dummy[1];\n"
    "    if (!why) why = dummy, why_size = 1;\n"
    "    FILE *f = fopen(path, \"rb\");\n"
    "    if (!f) return snprintf(why, why_size, \"cannot open %s\", path), -1;\n"
    "    unsigned char len8[8];\n"
    "    uint64_t header_len = 0;\n"
    "    if (fread(len8, 1, 8, f) != 8) return fclose(f), snprintf(why, why_size, \"%s: not a safetensors file\", path), -1;\n"
    "    for (int i = 7; i >= 0; i--) header_len = header_len << 8 | len8[i];\n"
    "    char *json = header_len < ((uint64_t)1 << 30) ? (char *)malloc((size_t)header_len + 1) : NULL;\n"
    "    if (!json || fread(json, 1, (size_t)header_len, f) != header_len) {\n"
    "        free(json);\n"
    "        fclose(f);\n"
    "        return snprintf(why, why_size, \"%s: not a safetensors file\", path), -1;\n"
    "    }\n"
    "    json[header_len] = '\\0';\n"
    "    int status = 0;\n"
    "    for (int t = 0; t < @P@NUM_TENSORS && status == 0; t++) {\n"
    "        const @p@tensor *w = &@p@tensors[t];\n"
    "        if (strcmp(w->kind, \"param\") && strcmp(w->kind, \"buffer\")) continue;\n"
    "        /* \"NAME\" followed by ':' and '{': the tensor's entry, not a string value. */\n"
    "        size_t name_len = strlen(w->name);\n"
    "        const char *at = json, *entry = NULL;\n"
    "        while (!entry && (at = strstr(at, w->name)) != NULL) {\n"
    "            const char *after = at + name_len;\n"
    "            if (at > json && at[-1] == '\"' && *after == '\"') {\n"
    "                after += 1 + strspn(after + 1, \" \\t\\r\\n\");\n"
    "                if (*after == ':') {\n"
    "                    after += 1 + strspn(after + 1, \" \\t\\r\\n\");\n"
    "                    if (*after == '{') entry = after;\n"
    "                }\n"
    "            }\n"
    "            at++;\n"
    "        }\n"
    "        if (!entry) {\n"
    "            snprintf(why, why_size, \"%s has no tensor '%s'\", path, w->name);\n"
    "            status = -1;\n"
    "            break;\n"
    "        }\n"
    "        const char *end = strchr(entry, '}');\n"
    "        const char *dtype = strstr(entry, \"\\\"dtype\\\"\"), *shape = strstr(entry, \"\\\"shape\\\"\"),\n"
    "                   *offsets = strstr(entry, \"\\\"data_offsets\\\"\");\n"
    "        if (!end || !dtype || dtype > end || !shape || shape > end || !offsets || offsets > end) {\n"
    "            snprintf(why, why_size, \"%s: the entry of '%s' is not understood\", path, w->name);\n"
    "            status = -1;\n"
    "            break;\n"
    "        }\n"
    "        dtype = strchr(dtype + 7, '\"');\n"
    "        int f32 = !strcmp(w->dtype, \"f32\");\n"
    "        int width = dtype && !strncmp(dtype, \"\\\"F32\\\"\", 5) && f32    ? 4\n"
    "                    : dtype && !strncmp(dtype, \"\\\"I32\\\"\", 5) && !f32 ? 4\n"
    "                    : dtype && !strncmp(dtype, \"\\\"I64\\\"\", 5) && !f32 ? 8\n"
    "                                                                     : 0;\n"
    "        if (!width) {\n"
    "            snprintf(why, why_size, \"%s: '%s' is not %s\", path, w->name, f32 ? \"F32\" : \"I32 or I64\");\n"
    "            status = -1;\n"
    "            break;\n"
    "        }\n"
    "        const char *p = strchr(shape, '[');\n"
    "        int rank = 0, shape_ok = p != NULL;\n"
    "        for (p = p ? p + 1 : p; shape_ok && *p != ']';) {\n"
    "            char *next;\n"
    "            long long d = strtoll(p, &next, 10);\n"
    "            if (next == p) {\n"
    "                shape_ok = 0;\n"
    "                break;\n"
    "            }\n"
    "            shape_ok = rank < w->rank && d == (long long)w->shape[rank];\n"
    "            rank++;\n"
    "            p = next + strspn(next, \" \\t\\r\\n,\");\n"
    "        }\n"
    "        if (!shape_ok || rank != w->rank) {\n"
    "            snprintf(why, why_size, \"%s: '%s' has another shape than the model's\", path, w->name);\n"
    "            status = -1;\n"
    "            break;\n"
    "        }\n"
    "        p = strchr(offsets, '[');\n"
    "        char *next;\n"
    "        long long begin = p ? strtoll(p + 1, &next, 10) : -1, stop = -1;\n"
    "        if (p) stop = strtoll(next + strspn(next, \" \\t\\r\\n,\"), &next, 10);\n"
    "        long long count = 1;\n"
    "        for (int d = 0; d < w->rank; d++) count *= (long long)w->shape[d];\n"
    "        if (begin < 0 || stop - begin != count * width ||\n"
    "            fseek(f, (long)(8 + header_len + (uint64_t)begin), SEEK_SET) != 0) {\n"
    "            snprintf(why, why_size, \"%s: the data of '%s' is not where its entry says\", path, w->name);\n"
    "            status = -1;\n"
    "            break;\n"
    "        }\n"
    "        char *dst = arena + w->offset;\n"
    "        if (width == 8) { /* I64 into i32, element by element (little-endian) */\n"
    "            for (long long i = 0; i < count && status == 0; i++) {\n"
    "                int64_t v;\n"
    "                if (fread(&v, 8, 1, f) != 1) status = -1;\n"
    "                int32_t v32 = (int32_t)v;\n"
    "                memcpy(dst + 4 * i, &v32, 4);\n"
    "            }\n"
    "        } else if (fread(dst, 4, (size_t)count, f) != (size_t)count) {\n"
    "            status = -1;\n"
    "        }\n"
    "        if (status) snprintf(why, why_size, \"%s: '%s' is cut short\", path, w->name);\n"
    "    }\n"
    "    free(json);\n"
    "    fclose(f);\n"
    "    return status;\n"
    "}\n";

void gc_predict_loader_source(gc_strbuf *sb, const char *prefix, const char *upper) {
    for (const char *p = loader_template; *p;) {
        if (!strncmp(p, "@p@", 3)) {
            gc_strbuf_append(sb, prefix);
            p += 3;
        } else if (!strncmp(p, "@P@", 3)) {
            gc_strbuf_append(sb, upper);
            p += 3;
        } else {
            const char *at = strchr(p, '@');
            size_t n = at ? (size_t)(at - p) : strlen(p);
            if (!n) n = 1; /* a lone '@' */
            gc_strbuf_printf(sb, "%.*s", (int)n, p);
            p += n;
        }
    }
}
