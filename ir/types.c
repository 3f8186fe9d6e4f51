/* types.c: tensor types and broadcasting. */
#include "ir/types.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    size_t size;
} dtype_info[] = {
    [GC_F32] = {"f32", 4},
    [GC_I32] = {"i32", 4},
    [GC_F64] = {"f64", 8},
};

const char *gc_dtype_name(gc_dtype dtype) {
    if ((unsigned)dtype >= sizeof dtype_info / sizeof dtype_info[0]) return "?";
    return dtype_info[dtype].name;
}

bool gc_dtype_from_name(const char *name, size_t len, gc_dtype *out) {
    for (size_t i = 0; i < sizeof dtype_info / sizeof dtype_info[0]; i++) {
        if (strlen(dtype_info[i].name) == len && memcmp(dtype_info[i].name, name, len) == 0) {
            *out = (gc_dtype)i;
            return true;
        }
    }
    return false;
}

size_t gc_dtype_size(gc_dtype dtype) {
    if ((unsigned)dtype >= sizeof dtype_info / sizeof dtype_info[0]) return 0;
    return dtype_info[dtype].size;
}

bool gc_dtype_is_float(gc_dtype dtype) { return dtype == GC_F32 || dtype == GC_F64; }

gc_type gc_type_make(gc_dtype dtype, int rank, const int64_t *dims) {
    gc_type t;
    memset(&t, 0, sizeof t);
    t.dtype = dtype;
    t.rank = rank;
    /* An over-long rank is kept (gc_graph_make reports it) but never written past dims[]. */
    for (int i = 0; i < rank && i < GC_MAX_RANK; i++) t.dims[i] = dims[i];
    return t;
}

gc_type gc_type_scalar(gc_dtype dtype) { return gc_type_make(dtype, 0, NULL); }

int64_t gc_type_numel(const gc_type *t) {
    /* Saturates instead of overflowing: a stated type can hold any dims, and the caller's
     * comparison with GC_MAX_ELEMENTS must still see that it is too big. */
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++) {
        int64_t d = t->dims[i];
        if (d <= 0) return 0;
        if (n > INT64_MAX / d) return INT64_MAX;
        n *= d;
    }
    return n;
}

bool gc_type_same_shape(const gc_type *a, const gc_type *b) {
    if (a->rank != b->rank) return false;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i]) return false;
    return true;
}

bool gc_type_equal(const gc_type *a, const gc_type *b) {
    return a->dtype == b->dtype && gc_type_same_shape(a, b);
}

char *gc_type_format(const gc_type *t, char *buf, size_t size) {
    size_t n = (size_t)snprintf(buf, size, "%s[", gc_dtype_name(t->dtype));
    for (int i = 0; i < t->rank && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, i ? ", %lld" : "%lld", (long long)t->dims[i]);
    if (n < size) snprintf(buf + n, size - n, "]");
    return buf;
}

void gc_type_strides(const gc_type *t, int64_t *strides) {
    int64_t s = 1;
    for (int i = t->rank - 1; i >= 0; i--) {
        strides[i] = s;
        s *= t->dims[i];
    }
}

bool gc_broadcast_shapes(const gc_type *a, const gc_type *b, gc_type *out) {
    int rank = a->rank > b->rank ? a->rank : b->rank;
    gc_type r;
    memset(&r, 0, sizeof r);
    r.dtype = a->dtype;
    r.rank = rank;
    for (int i = 0; i < rank; i++) {
        int ia = a->rank - rank + i, ib = b->rank - rank + i;
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1) return false;
        r.dims[i] = da == 1 ? db : da;
    }
    *out = r;
    return true;
}

bool gc_broadcastable_to(const gc_type *from, const gc_type *to) {
    if (from->rank > to->rank) return false;
    for (int i = 0; i < from->rank; i++) {
        int64_t d = from->dims[from->rank - 1 - i], t = to->dims[to->rank - 1 - i];
        if (d != t && d != 1) return false;
    }
    return true;
}

bool gc_normalize_axis(int axis, int rank, int *out) {
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank) return false;
    *out = axis;
    return true;
}
