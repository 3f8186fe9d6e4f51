/*
 * gradcheck.h: checks gradients against central finite differences on the interpreter.
 *
 * The engine behind `gradc check --gradcheck` and the per-op gradient tests. It takes an
 * interpreter over a graph that already has grad outputs (after autodiff) with every source set,
 * ideally in GC_INTERP_F64 precision so differences of 1e-6 are meaningful, and compares each
 * grad output element (or a deterministic sample of them) with (L(p+h) - L(p-h)) / 2h.
 */
#ifndef GC_RUNTIME_GRADCHECK_H
#define GC_RUNTIME_GRADCHECK_H

#include "runtime/interp.h"

typedef struct gc_gradcheck_options {
    double step;                /* h; default 1e-6 */
    double abs_tolerance;       /* default 1e-6 */
    double rel_tolerance;       /* default 1e-4 */
    int64_t max_per_param;      /* elements checked per param, spread evenly; default 64 */
} gc_gradcheck_options;

typedef struct gc_gradcheck_report {
    int64_t checked;            /* elements compared */
    int64_t failed;             /* elements outside tolerance */
    double worst_error;         /* largest |analytic - numeric| / (abs_tol + rel_tol * scale) */
    char worst_param[128];
    int64_t worst_index;
    double worst_analytic, worst_numeric;
} gc_gradcheck_report;

/* Runs the check; returns 1 when it ran (see report->failed for the verdict), 0 with err set when
 * it could not run. opts may be NULL for defaults. The sources are restored afterwards. */
int gc_gradcheck(gc_interp *it, const gc_graph *g, const gc_gradcheck_options *opts,
                 gc_gradcheck_report *report, gc_error *err);

#endif
