/*
 * text_data.h: byte-level language-model data (`gradc train --text FILE`).
 *
 * A text becomes examples for the inputs `tokens` and `targets` (both i32[B, T]): every byte is a
 * token (0-255), and targets are the tokens shifted by one, as in nanoGPT's character models.
 * By default windows do not overlap: window j covers bytes j*T .. j*T+T-1 as tokens and
 * j*T+1 .. j*T+T as targets (stride = context T); the bytes at the end that do not fill a whole
 * window are dropped, so a text of L bytes gives floor((L - 1) / T) windows. With a stride S
 * (`--text-stride S`) window j starts at byte j*S, giving floor((L - 1 - T) / S) + 1 windows;
 * S = 1 is every offset, the examples nanoGPT samples from.
 */
#ifndef GC_RUNTIME_TEXT_DATA_H
#define GC_RUNTIME_TEXT_DATA_H

#include <stddef.h>

#include <gradc/gradc.h>

/* The windows of text (len bytes) with context T as two i32 [windows, T] tensors, malloc'd (the
 * caller frees both data pointers). `name` names the text in errors; a text shorter than T + 1
 * bytes is an error. */
int gc_text_windows(const char *name, const unsigned char *text, size_t len, int64_t context, gc_tensor *tokens,
                    gc_tensor *targets, gc_error *err);

/* The same with windows starting every `stride` bytes (stride > 0; more than 2^31 tokens is an error). */
int gc_text_windows_strided(const char *name, const unsigned char *text, size_t len, int64_t context, int64_t stride,
                            gc_tensor *tokens, gc_tensor *targets, gc_error *err);

/* The same from a file ("-": standard input). */
int gc_text_read(const char *path, int64_t context, gc_tensor *tokens, gc_tensor *targets, gc_error *err);
int gc_text_read_strided(const char *path, int64_t context, int64_t stride, gc_tensor *tokens, gc_tensor *targets,
                         gc_error *err);

#endif
