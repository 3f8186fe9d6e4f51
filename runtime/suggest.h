/*
 * suggest.h: "did you mean" for a mistyped name (a command-line option, say): the closest of a
 * list by edit distance, when it is close enough to be a likely typo.
 */
#ifndef GC_RUNTIME_SUGGEST_H
#define GC_RUNTIME_SUGGEST_H

/* The candidate nearest to word by Damerau-Levenshtein distance (an adjacent swap counts one),
 * compared without leading dashes, when one is within max(1, length / 3) edits (ties go to the
 * earlier candidate); else the first candidate word is a prefix of; else NULL. */
const char *gc_suggest_name(const char *word, const char *const *candidates, int count);

#endif
