/* gradcheck.c: finite-difference gradient checking; see gradcheck.h. */
#include "runtime/gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int loss_at(gc_interp *it, double *loss, gc_error *err) {
    if (!gc_interp_run(it, err)) return 0;
    const double *l = gc_interp_output(it, GC_OUTPUT_VALUE, "loss");
    if (!l) return gc_failf(err, GC_ERR_USER, "gradcheck: the graph has no output \"loss\"");
    *loss = l[0];
    return 1;
}

int gc_gradcheck(gc_interp *it, const gc_graph *g, const gc_gradcheck_options *opts,
                 gc_gradcheck_report *report, gc_error *err) {
    gc_gradcheck_options o = {1e-6, 1e-6, 1e-4, 64};
    if (opts) {
        if (opts->step > 0) o.step = opts->step;
        if (opts->abs_tolerance > 0) o.abs_tolerance = opts->abs_tolerance;
        if (opts->rel_tolerance > 0) o.rel_tolerance = opts->rel_tolerance;
        if (opts->max_per_param > 0) o.max_per_param = opts->max_per_param;
    }
    memset(report, 0, sizeof *report);
    double base = 0;
    if (!loss_at(it, &base, err)) return 0;

    for (int oi = 0; oi < g->num_outputs; oi++) {
        const gc_graph_output *out = &g->outputs[oi];
        if (out->kind != GC_OUTPUT_GRAD) continue;
        gc_node *param = gc_graph_find_named(g, GC_OP_PARAM, out->name);
        if (!param) return gc_failf(err, GC_ERR_INTERNAL, "gradcheck: grad '%s' has no param", out->name);
        int64_t count = gc_type_numel(&param->type);
        /* The analytic gradient must be copied: every later run overwrites the interpreter's buffers. */
        double *analytic = malloc(sizeof *analytic * (size_t)count);
        double *values = malloc(sizeof *values * (size_t)count);
        const double *grad = gc_interp_output(it, GC_OUTPUT_GRAD, out->name);
        const double *current = gc_interp_source(it, out->name);
        if (!analytic || !values || !grad || !current) {
            free(analytic);
            free(values);
            return gc_failf(err, grad && current ? GC_ERR_MEMORY : GC_ERR_INTERNAL,
                            "gradcheck: cannot read the gradient or value of '%s'", out->name);
        }
        memcpy(analytic, grad, sizeof *analytic * (size_t)count);
        memcpy(values, current, sizeof *values * (size_t)count);
        int64_t stride = count > o.max_per_param ? count / o.max_per_param : 1;
        int ok = 1;
        for (int64_t i = 0; i < count && ok; i += stride) {
            double saved = values[i], plus = 0, minus = 0;
            values[i] = saved + o.step;
            ok = gc_interp_set_f64(it, out->name, values, count, err) && loss_at(it, &plus, err);
            values[i] = saved - o.step;
            ok = ok && gc_interp_set_f64(it, out->name, values, count, err) && loss_at(it, &minus, err);
            values[i] = saved;
            if (!ok) break;
            double numeric = (plus - minus) / (2 * o.step);
            double scale = fmax(fabs(numeric), fabs(analytic[i]));
            double error = fabs(numeric - analytic[i]) / (o.abs_tolerance + o.rel_tolerance * scale);
            report->checked++;
            if (!(error <= 1.0)) report->failed++; /* NaN counts as a failure */
            if (!(error <= report->worst_error)) {
                report->worst_error = isnan(error) ? INFINITY : error;
                snprintf(report->worst_param, sizeof report->worst_param, "%s", out->name);
                report->worst_index = i;
                report->worst_analytic = analytic[i];
                report->worst_numeric = numeric;
            }
        }
        /* Restore and rerun: the next param's analytic gradient is read from this run. */
        if (ok) ok = gc_interp_set_f64(it, out->name, values, count, err) && loss_at(it, &base, err);
        free(analytic);
        free(values);
        if (!ok) return 0;
    }
    /* Leave the interpreter's outputs as they were for the unperturbed sources. */
    return loss_at(it, &base, err);
}
