/* suggest.c: the closest name to a typo; see suggest.h. */
#include "runtime/suggest.h"

#include <string.h>

enum { MAX_LEN = 64 };

static const char *undashed(const char *s) {
    while (*s == '-') s++;
    return s;
}

/* Optimal string alignment distance (Damerau-Levenshtein without repeated edits of a substring). */
static int distance(const char *a, const char *b) {
    size_t n = strlen(a), m = strlen(b);
    if (n > MAX_LEN || m > MAX_LEN) return MAX_LEN;
    int d[MAX_LEN + 1][MAX_LEN + 1];
    for (size_t i = 0; i <= n; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= m; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= n; i++) {
        for (size_t j = 1; j <= m; j++) {
            int cost = a[i - 1] != b[j - 1];
            int best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < best) best = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[n][m];
}

const char *gc_suggest_name(const char *word, const char *const *candidates, int count) {
    const char *w = undashed(word);
    size_t len = strlen(w);
    if (!len) return NULL;
    int limit = len / 3 > 1 ? (int)(len / 3) : 1, best = limit + 1;
    const char *found = NULL;
    for (int k = 0; k < count; k++) {
        int dist = distance(w, undashed(candidates[k]));
        if (dist < best) {
            best = dist;
            found = candidates[k];
        }
    }
    if (found) return found;
    for (int k = 0; k < count; k++)
        if (!strncmp(undashed(candidates[k]), w, len)) return candidates[k];
    return NULL;
}
