/*
 * diagnostic.h: renders a gc_error as the text users see, without printing it.
 *
 *   tiny_gpt.gm:16:14: error: add: cannot broadcast f32[16, 64, 128] with f32[16, 64, 130]
 *       return x + linear(h, dim + 2) as proj
 *                ^
 *
 * The library never prints (tools do), so this returns the text for a tool, a test or an
 * embedding application to show.
 */
#ifndef GC_FRONTEND_DIAGNOSTIC_H
#define GC_FRONTEND_DIAGNOSTIC_H

#include <gradc/gradc.h>

/* `file:line:col: error: message` followed, when `source` (the text of err->file, NUL-terminated,
 * or NULL) holds that line, by the line indented four spaces and a caret under the column. Tabs
 * in the line are kept in the caret's indentation so the caret lines up; control bytes and
 * invalid UTF-8 are shown as '?'; lines longer than 160 bytes are cut around the column with
 * "...". Without a location: `gradc: error: message`. Ends with a newline. malloc'd (the caller
 * frees); NULL when out of memory. */
char *gc_format_diagnostic(const gc_error *err, const char *source);

#endif
