/*
 * suggest.h: "did you mean" for a mistyped name (a command-line option, say): the closest of a
 * list by edit distance, when it is close enough to be a likely typo.
 */
#ifndef GC_RUNTIME_SUGGEST_H
#define GC_RUNTIME_SUGGEST_H

/* The candidate nearest to word by Damerau-Levenshtein distance (an adjacent swap counts one),
 * compared without leading dashes, or NULL when none is within max(1, length / 3) edits, or when
 * word is a prefix of a candidate (then that candidate). Ties go to the earlier candidate. */
const char *gc_suggest_name(const char *word, const char *const *candidates, int count);

#endif
