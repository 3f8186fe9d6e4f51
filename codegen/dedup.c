/*
 * dedup.c: kernels that would be the same code share one LLVM function.
 *
 * An emitter's output depends only on the node's op, its attributes, its result type and its
 * operands' types (shapes are static and every buffer is dense row-major, so strides follow from
 * the types, but for a view a matmul reads, whose strides are in the key too); it never looks at
 * ids, names or where values live. Two kernels equal in all of
 * these (for a fused kernel: member by member, with the same wiring between members) get one
 * function, called with different arena pointers. A Transformer repeats each layer's
 * shapes, so this removes most kernels of a training graph, and with them most of LLVM's time,
 * which is spent per function.
 */
#include <stdlib.h>
#include <string.h>

#include "codegen/cg.h"

/* The key is a run of int64 words: per member its op, attribute fields, type and where each
 * operand comes from; then the outside values' types. Kernels too large to key get their own
 * function. */
#define KEY_MAX 4096
#define FROM_OUTSIDE 1000000

typedef struct slot {
    int64_t *key; /* NULL: empty */
    int len;
    uint64_t hash;
    LLVMValueRef fn;
    int index; /* cg_kernel_cache_share's */
} slot;

struct cg_kernel_cache {
    slot *slots;
    int cap; /* a power of two */
    int used;
    const gc_layout *layout; /* whose views' strides are part of the code */
};

cg_kernel_cache *cg_kernel_cache_new(int nodes, const gc_layout *layout) {
    cg_kernel_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->layout = layout;
    c->cap = 64;
    while (c->cap < 2 * nodes) c->cap *= 2;
    c->slots = calloc((size_t)c->cap, sizeof *c->slots);
    if (!c->slots) {
        free(c);
        return NULL;
    }
    return c;
}

void cg_kernel_cache_free(cg_kernel_cache *c) {
    if (!c) return;
    for (int i = 0; i < c->cap; i++) free(c->slots[i].key);
    free(c->slots);
    free(c);
}

static int put_type(int64_t *key, int len, const gc_type *t) {
    key[len++] = t->dtype;
    key[len++] = t->rank;
    for (int d = 0; d < t->rank; d++) key[len++] = t->dims[d];
    return len;
}

static int put_member(const cg_group *grp, int m, int64_t *key, int len) {
    const gc_node *n = grp->members[m];
    key[len++] = n->op;
    key[len++] = n->num_inputs;
    gc_attr_kind kind = gc_op_table[n->op].attr_kind;
    for (int i = 0; i < gc_attr_field_count; i++) {
        const gc_attr_field *f = &gc_attr_fields[i];
        if (f->kind != kind) continue;
        const char *p = (const char *)&n->attr + f->offset;
        int64_t w = 0;
        switch (f->field_kind) {
        case GC_FIELD_INT: w = *(const int *)p; break;
        case GC_FIELD_INT64: w = *(const int64_t *)p; break;
        case GC_FIELD_FLAG:
        case GC_FIELD_BOOL: w = *(const bool *)p; break;
        case GC_FIELD_DOUBLE: memcpy(&w, p, sizeof(double)); break;
        case GC_FIELD_AXES: w = *(const uint32_t *)p; break;
        case GC_FIELD_PERM: {
            /* Only the entries the operand's rank uses carry meaning. */
            int rank = n->num_inputs ? n->inputs[0]->type.rank : GC_MAX_RANK;
            for (int d = 0; d < rank - 1; d++) key[len++] = ((const int *)p)[d];
            w = rank ? ((const int *)p)[rank - 1] : 0;
            break;
        }
        case GC_FIELD_SPATIAL: {
            /* Unused entries are zero (the builders and the parser clear them). */
            for (int d = 0; d < GC_MAX_SPATIAL - 1; d++) key[len++] = ((const int64_t *)p)[d];
            w = ((const int64_t *)p)[GC_MAX_SPATIAL - 1];
            break;
        }
        }
        key[len++] = w;
    }
    len = put_type(key, len, &n->type);
    if (grp->num_members == 1) return len; /* operands are the outside values, in order */
    for (int k = 0; k < n->num_inputs; k++) {
        int64_t from = -1;
        for (int j = 0; j < m && from < 0; j++)
            if (grp->members[j] == n->inputs[k]) from = j;
        for (int j = 0; j < grp->num_ext && from < 0; j++)
            if (grp->ext[j] == n->inputs[k]) from = FROM_OUTSIDE + j;
        key[len++] = from;
    }
    return len;
}

/* The words of grp's key, or -1 when it is too large to key. */
static int make_key(const gc_layout *layout, const cg_group *grp, int64_t *key) {
    int words = 4 + GC_MAX_RANK + grp->num_stores + grp->num_ext * (3 + 2 * GC_MAX_RANK);
    for (int m = 0; m < grp->num_members; m++)
        words += 8 + 2 * GC_MAX_RANK + grp->members[m]->num_inputs;
    if (words > KEY_MAX) return -1;
    int len = 0;
    key[len++] = grp->num_members;
    key[len++] = grp->num_ext;
    key[len++] = grp->num_stores;
    for (int s = 0; s < grp->num_stores; s++)
        for (int m = 0; m < grp->num_members; m++)
            if (grp->members[m] == grp->stores[s]) key[len++] = m;
    for (int j = 0; j < grp->num_ext && j < 64; j++) key[len++] = grp->reads_from[j];
    for (int m = 0; m < grp->num_members; m++) len = put_member(grp, m, key, len);
    /* A result written through strides (a matmul into a permute's or a concat's bytes), too. */
    const gc_node *r = grp->members[grp->num_members - 1];
    bool through = layout && layout->strided && layout->strided[r->id];
    key[len++] = through;
    for (int d = 0; through && d < r->type.rank; d++) key[len++] = layout->strides[r->id][d];
    for (int k = 0; k < grp->num_ext; k++) {
        const gc_node *x = grp->ext[k];
        len = put_type(key, len, &x->type);
        /* A view is read through its strides, which the code has as constants. */
        bool view = layout && layout->viewed && layout->viewed[x->id];
        key[len++] = view;
        for (int d = 0; view && d < x->type.rank; d++) key[len++] = layout->strides[x->id][d];
    }
    return len;
}

static uint64_t hash_key(const int64_t *key, int len) {
    uint64_t h = 1469598103934665603ull;
    const unsigned char *p = (const unsigned char *)key;
    for (size_t i = 0; i < (size_t)len * sizeof *key; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

/* The slot holding n's key, or the empty slot where it would go. */
static slot *find(cg_kernel_cache *c, const int64_t *key, int len, uint64_t h) {
    for (int i = (int)(h & (uint64_t)(c->cap - 1));; i = (i + 1) & (c->cap - 1)) {
        slot *s = &c->slots[i];
        if (!s->key) return s;
        if (s->hash == h && s->len == len && !memcmp(s->key, key, (size_t)len * sizeof *key)) return s;
    }
}

LLVMValueRef cg_kernel_cache_get(cg_kernel_cache *c, const cg_group *grp) {
    int64_t key[KEY_MAX];
    int len = make_key(c->layout, grp, key);
    if (len < 0) return NULL;
    slot *s = find(c, key, len, hash_key(key, len));
    return s->key ? s->fn : NULL;
}

int cg_kernel_cache_put(cg_kernel_cache *c, const cg_group *grp, LLVMValueRef fn) {
    int64_t key[KEY_MAX];
    int len = make_key(c->layout, grp, key);
    if (len < 0 || 2 * (c->used + 1) > c->cap) return 1; /* not keyed, or full: no sharing */
    uint64_t h = hash_key(key, len);
    slot *s = find(c, key, len, h);
    if (s->key) return 1;
    if (!(s->key = malloc((size_t)len * sizeof *key))) return 0;
    memcpy(s->key, key, (size_t)len * sizeof *key);
    s->len = len;
    s->hash = h;
    s->fn = fn;
    c->used++;
    return 1;
}

int cg_kernel_cache_share(cg_kernel_cache *c, const cg_group *grp, int index) {
    int64_t key[KEY_MAX];
    int len = make_key(c->layout, grp, key);
    if (len < 0) return index;
    uint64_t h = hash_key(key, len);
    slot *s = find(c, key, len, h);
    if (s->key) return s->index;
    if (2 * (c->used + 1) > c->cap) return index; /* full: no sharing */
    if (!(s->key = malloc((size_t)len * sizeof *key))) return -1;
    memcpy(s->key, key, (size_t)len * sizeof *key);
    s->len = len;
    s->hash = h;
    s->index = index;
    c->used++;
    return index;
}
