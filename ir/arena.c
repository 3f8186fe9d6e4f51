/* arena.c: chunked bump allocator; see arena.h for why graphs use one. */
#include "ir/arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct gc_arena_chunk {
    struct gc_arena_chunk *next;
    size_t size;
    size_t used;
    alignas(max_align_t) unsigned char data[];
} gc_arena_chunk;

struct gc_arena {
    gc_arena_chunk *head;
};

enum { GC_ARENA_CHUNK = 64 * 1024 };

static long fail_countdown = 0;

void gc_arena_fail_after(long n) { fail_countdown = n; }

static int injected_failure(void) {
    if (fail_countdown <= 0) return 0;
    if (fail_countdown == 1) return 1; /* stays at 1: every later allocation fails too */
    fail_countdown--;
    return 0;
}

gc_arena *gc_arena_new(void) {
    if (injected_failure()) return NULL;
    return calloc(1, sizeof(gc_arena));
}

void gc_arena_free(gc_arena *arena) {
    if (!arena) return;
    /* Oldest chunk first: the newest usually sits at the top of malloc's heap, and freeing it
     * first made every later free trim the heap again (a brk call and a TLB flush per chunk,
     * half the time of lowering a large model). */
    gc_arena_chunk *c = NULL;
    for (gc_arena_chunk *next, *at = arena->head; at; at = next) {
        next = at->next;
        at->next = c;
        c = at;
    }
    while (c) {
        gc_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    free(arena);
}

void *gc_arena_alloc_uninit(gc_arena *arena, size_t bytes) {
    if (!arena || injected_failure()) return NULL;
    const size_t align = alignof(max_align_t);
    if (bytes > SIZE_MAX - align) return NULL; /* rounding up would wrap to a tiny block */
    bytes = (bytes + align - 1) & ~(align - 1);
    if (bytes == 0) bytes = align;
    gc_arena_chunk *c = arena->head;
    if (!c || c->size - c->used < bytes) {
        size_t size = bytes > GC_ARENA_CHUNK ? bytes : GC_ARENA_CHUNK;
        if (size > SIZE_MAX - sizeof(gc_arena_chunk)) return NULL;
        c = malloc(sizeof(gc_arena_chunk) + size);
        if (!c) return NULL;
        c->size = size;
        c->used = 0;
        c->next = arena->head;
        arena->head = c;
    }
    void *p = c->data + c->used;
    c->used += bytes;
    return p;
}

void *gc_arena_alloc(gc_arena *arena, size_t bytes) {
    void *p = gc_arena_alloc_uninit(arena, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

char *gc_arena_strndup(gc_arena *arena, const char *s, size_t n) {
    if (!s) return NULL;
    n = strnlen(s, n); /* as POSIX strndup: never read past the string's NUL */
    char *p = gc_arena_alloc(arena, n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *gc_arena_strdup(gc_arena *arena, const char *s) {
    return s ? gc_arena_strndup(arena, s, strlen(s)) : NULL;
}

void *gc_arena_grow(gc_arena *arena, void *old, size_t old_bytes, size_t new_bytes) {
    void *p = gc_arena_alloc(arena, new_bytes);
    if (p && old && old_bytes) memcpy(p, old, old_bytes < new_bytes ? old_bytes : new_bytes);
    return p;
}
