/*
 * file.h: reading a whole file into memory — model files, IR files, text corpora. One reader, so
 * every command and the C API fail alike (GC_ERR_IO naming the file) and share the size cap.
 */
#ifndef GC_RUNTIME_FILE_H
#define GC_RUNTIME_FILE_H

#include <stddef.h>

#include <gradc/gradc.h>

/* The contents of path ("-" reads standard input) as a malloc'd, NUL-terminated buffer; *len (if
 * not NULL) gets the byte count. A file larger than max bytes is an error (GC_ERR_USER). */
char *gc_file_read(const char *path, size_t max, size_t *len, gc_error *err);

#endif
