/*
 * cse.c: common-subexpression elimination by hash-consing. Two nodes are the same value when op,
 * operands (after earlier merges), attributes and type agree; commutative ops also match with
 * their two operands swapped. Named sources are never merged (each name is its own value);
 * random_uniform nodes with equal seed, stream and counter do merge, since they draw the same
 * numbers by construction.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "passes/rewrite.h"

static uint64_t mix(uint64_t h, uint64_t v) {
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h;
}

static uint64_t hash_bytes(uint64_t h, const char *p, size_t len) {
    for (size_t i = 0; i < len; i++) h = mix(h, (unsigned char)p[i]);
    return h;
}

/* Hashes what attrs_equal compares (bools by value, the rest bitwise). Nodes that differ only in
 * attributes (dropout's random_uniform: one stream per call site, same operand and type) would
 * otherwise share one bucket chain, and CSE of N dropouts would take N^2 comparisons. */
static uint64_t hash_attrs(uint64_t h, const gc_node *n) {
    gc_attr_kind kind = gc_op_table[n->op].attr_kind;
    for (int f = 0; f < gc_attr_field_count; f++) {
        const gc_attr_field *field = &gc_attr_fields[f];
        if (field->kind != kind) continue;
        const char *p = (const char *)&n->attr + field->offset;
        switch (field->field_kind) {
        case GC_FIELD_INT: h = hash_bytes(h, p, sizeof(int)); break;
        case GC_FIELD_INT64: h = hash_bytes(h, p, sizeof(int64_t)); break;
        case GC_FIELD_FLAG:
        case GC_FIELD_BOOL: h = mix(h, *(const bool *)p ? 1 : 0); break;
        case GC_FIELD_DOUBLE: h = hash_bytes(h, p, sizeof(double)); break;
        case GC_FIELD_AXES: h = hash_bytes(h, p, sizeof(uint32_t)); break;
        case GC_FIELD_PERM: h = hash_bytes(h, p, sizeof(gc_perm)); break;
        case GC_FIELD_SPATIAL: h = hash_bytes(h, p, sizeof(gc_spatial)); break;
        }
    }
    return h;
}

static uint64_t hash_node(const gc_node *n, const int *map) {
    uint64_t h = mix(0, (uint64_t)n->op);
    uint64_t in_hash = 0;
    for (int k = 0; k < n->num_inputs; k++) {
        uint64_t v = (uint64_t)map[n->inputs[k]->id] + 1;
        /* Order-free for commutative ops so a+b and b+a land in the same bucket. */
        in_hash = (gc_op_table[n->op].flags & GC_FLAG_COMMUTES) ? in_hash + v * 0x100000001b3ull
                                                                 : mix(in_hash, v);
    }
    h = mix(h, in_hash);
    h = mix(h, (uint64_t)n->type.dtype);
    for (int i = 0; i < n->type.rank; i++) h = mix(h, (uint64_t)n->type.dims[i]);
    return hash_attrs(h, n);
}

static bool attrs_equal(const gc_node *a, const gc_node *b) {
    gc_attr_kind kind = gc_op_table[a->op].attr_kind;
    for (int f = 0; f < gc_attr_field_count; f++) {
        const gc_attr_field *field = &gc_attr_fields[f];
        if (field->kind != kind) continue;
        const char *pa = (const char *)&a->attr + field->offset, *pb = (const char *)&b->attr + field->offset;
        switch (field->field_kind) {
        case GC_FIELD_INT: if (memcmp(pa, pb, sizeof(int))) return false; break;
        case GC_FIELD_INT64: if (memcmp(pa, pb, sizeof(int64_t))) return false; break;
        case GC_FIELD_FLAG:
        case GC_FIELD_BOOL: if (*(const bool *)pa != *(const bool *)pb) return false; break;
        case GC_FIELD_DOUBLE: if (memcmp(pa, pb, sizeof(double))) return false; break; /* bitwise: -0 != 0, NaN == NaN */
        case GC_FIELD_AXES: if (memcmp(pa, pb, sizeof(uint32_t))) return false; break;
        case GC_FIELD_PERM: if (memcmp(pa, pb, sizeof(gc_perm))) return false; break;
        case GC_FIELD_SPATIAL: if (memcmp(pa, pb, sizeof(gc_spatial))) return false; break;
        }
    }
    return true;
}

static bool same_value(const gc_node *a, const gc_node *b, const int *map) {
    if (a->op != b->op || a->num_inputs != b->num_inputs || !gc_type_equal(&a->type, &b->type)) return false;
    if (a->recomputed != b->recomputed) return false; /* recompute's point is a second copy */
    if (!attrs_equal(a, b)) return false;
    bool straight = true;
    for (int k = 0; k < a->num_inputs && straight; k++)
        straight = map[a->inputs[k]->id] == map[b->inputs[k]->id];
    if (straight) return true;
    if ((gc_op_table[a->op].flags & GC_FLAG_COMMUTES) && a->num_inputs == 2)
        return map[a->inputs[0]->id] == map[b->inputs[1]->id] && map[a->inputs[1]->id] == map[b->inputs[0]->id];
    return false;
}

int gc_pass_cse(gc_graph **graph, gc_error *err) {
    gc_graph *g = *graph;
    size_t buckets = 1;
    while (buckets < (size_t)g->num_nodes * 2) buckets <<= 1;
    int *map = malloc(sizeof *map * ((size_t)g->num_nodes + 1));
    int *table = malloc(sizeof *table * buckets);
    if (!map || !table) {
        free(map);
        free(table);
        return gc_failf(err, GC_ERR_MEMORY, "out of memory");
    }
    for (size_t i = 0; i < buckets; i++) table[i] = -1;
    int merged = 0;
    for (int i = 0; i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        map[i] = i;
        if (gc_op_table[n->op].flags & GC_FLAG_NAMED) continue;
        size_t slot = (size_t)hash_node(n, map) & (buckets - 1);
        while (table[slot] >= 0) {
            if (same_value(g->nodes[table[slot]], n, map)) {
                map[i] = table[slot];
                merged++;
                break;
            }
            slot = (slot + 1) & (buckets - 1);
        }
        if (map[i] == i) table[slot] = i;
    }
    free(table);
    if (!merged) {
        free(map);
        return 1;
    }
    gc_graph *out = gc_graph_rebuild(g, NULL, map, err);
    free(map);
    if (!out) return 0;
    gc_graph_free(g);
    *graph = out;
    return 1;
}
