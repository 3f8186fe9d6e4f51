/*
 * cmd_plot.c: `gradc plot LOG.csv -o loss.svg [--title T] [--log-y]`: the loss curves of a training
 * log (gradc train --log) as an SVG file a browser or image viewer opens: axes with ticks and
 * labels, the train loss, the eval loss when the log has it, and a legend.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/diag.h"
#include "runtime/csv.h"
#include "tools/cli.h"
#include "tools/model_options.h"

enum { WIDTH = 800, HEIGHT = 480, LEFT = 80, RIGHT = 30, TOP = 50, BOTTOM = 60 };

static void usage(FILE *out) {
    fprintf(out,
            "usage: gradc plot LOG.csv -o FILE.svg [--title TITLE] [--log-y]\n\n"
            "Draws the loss curves of a training log written by gradc train --log: the train loss per step\n"
            "and, when the log has it, the eval loss (gradc train --eval-data). -o - writes to stdout.\n"
            "  --title TITLE  the title above the plot (default: the log's file name)\n"
            "  --log-y        a logarithmic loss axis\n");
}

typedef struct series {
    double *x, *y;
    int64_t n, cap;
} series;

static int push(series *s, double x, double y) {
    if (s->n == s->cap) {
        int64_t cap = s->cap ? s->cap * 2 : 256;
        double *nx = realloc(s->x, sizeof *nx * (size_t)cap);
        if (nx) s->x = nx;
        double *ny = realloc(s->y, sizeof *ny * (size_t)cap);
        if (ny) s->y = ny;
        if (!nx || !ny) return 0;
        s->cap = cap;
    }
    s->x[s->n] = x;
    s->y[s->n] = y;
    s->n++;
    return 1;
}

/* Reads the step, loss and eval_loss columns; empty cells (eval_loss on rows without an eval) and
 * non-finite losses are skipped. */
static int read_log(const char *path, series *train, series *eval, gc_error *err) {
    gc_csv_reader r;
    if (!gc_csv_open(&r, path, err)) return 0;
    int ok = 0, step_col = -1, loss_col = -1, eval_col = -1, ncols = 0;
    int got = gc_csv_next(&r, err);
    if (got <= 0) {
        if (got == 0) gc_failf(err, GC_ERR_USER, "%s is empty; expected a log written by gradc train --log", path);
        goto done;
    }
    ncols = r.count;
    for (int c = 0; c < r.count; c++) {
        if (!strcmp(r.fields[c], "step")) step_col = c;
        else if (!strcmp(r.fields[c], "loss")) loss_col = c;
        else if (!strcmp(r.fields[c], "eval_loss")) eval_col = c;
    }
    if (step_col < 0 || loss_col < 0) {
        gc_loc loc = {path, r.row_line, 1};
        gc_fail(err, GC_ERR_USER, loc, "the header has no %s column; expected a log written by gradc train --log",
                step_col < 0 ? "step" : "loss");
        goto done;
    }
    while ((got = gc_csv_next(&r, err)) > 0) {
        if (r.count != ncols) {
            gc_loc loc = {path, r.row_line, 1};
            gc_fail(err, GC_ERR_USER, loc, "this row has %d fields, but the header has %d", r.count, ncols);
            goto done;
        }
        double x, y;
        if (!gc_csv_parse_number(r.fields[step_col], &x)) {
            gc_loc loc = {path, r.field_line[step_col], r.field_col[step_col]};
            gc_fail(err, GC_ERR_USER, loc, "the step '%.40s' is not a number", r.fields[step_col]);
            goto done;
        }
        if (gc_csv_parse_number(r.fields[loss_col], &y) && isfinite(y) && !push(train, x, y)) goto oom;
        if (eval_col >= 0 && gc_csv_parse_number(r.fields[eval_col], &y) && isfinite(y) && !push(eval, x, y)) goto oom;
    }
    if (got < 0) goto done;
    if (train->n == 0 && eval->n == 0) {
        gc_failf(err, GC_ERR_USER, "%s has no finite losses to plot", path);
        goto done;
    }
    ok = 1;
    goto done;
oom:
    gc_failf(err, GC_ERR_MEMORY, "out of memory reading %s", path);
done:
    gc_csv_close(&r);
    return ok;
}

/* Round tick spacing (1, 2 or 5 times a power of ten) giving about `target` ticks over [lo, hi],
 * and the range widened to whole ticks. */
static double nice_step(double lo, double hi, int target) {
    double raw = (hi - lo) / target, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

/* A tick value with as many decimals as its spacing needs, so 0.1 + 0.2 prints as 0.3. */
static void format_tick(double v, double step, char *buf, size_t size) {
    int decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (fabs(v) < step * 1e-6) v = 0;
    if (fabs(v) >= 1e6 || (v != 0 && fabs(v) < 1e-4)) snprintf(buf, size, "%.3g", v);
    else snprintf(buf, size, "%.*f", decimals, v);
}

/* The ticks of a log axis over [10^lo, 10^hi] (lo, hi in decades): 1, 2 and 5 times each power of
 * ten when the range spans at most three decades, the powers alone beyond. */
static int log_ticks(double lo, double hi, double *ticks, int max) {
    static const double steps[3] = {1, 2, 5};
    int per = hi - lo <= 3 + 1e-9 ? 3 : 1, count = 0;
    for (int d = (int)floor(lo) - 1; d <= (int)ceil(hi) && count < max; d++) {
        for (int m = 0; m < per && count < max; m++) {
            double v = steps[m] * pow(10, d), l = log10(v);
            if (l >= lo - 1e-9 && l <= hi + 1e-9) ticks[count++] = v;
        }
    }
    return count;
}

/* Widens [lo, hi] (decades) to the nearest log ticks outside it. */
static void log_range(double *lo, double *hi) {
    static const double fine[4] = {1, 2, 5, 10}, coarse[2] = {1, 10};
    const double *steps = *hi - *lo <= 3 ? fine : coarse;
    int n = steps == fine ? 4 : 2;
    double d = floor(*lo), new_lo = d;
    for (int m = 0; m < n; m++) /* the largest tick at or below lo */
        if (d + log10(steps[m]) <= *lo + 1e-9) new_lo = d + log10(steps[m]);
    d = floor(*hi);
    double new_hi = d + 1;
    for (int m = n - 1; m >= 0; m--) /* the smallest tick at or above hi */
        if (d + log10(steps[m]) >= *hi - 1e-9) new_hi = d + log10(steps[m]);
    *lo = new_lo;
    *hi = new_hi;
}

static void xml_text(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '&') fputs("&amp;", f);
        else if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '"') fputs("&quot;", f);
        else if ((unsigned char)*s >= 0x20 || *s == '\t') fputc(*s, f);
    }
}

typedef struct frame {
    double x0, x1, y0, y1;
    int log_y;
} frame;

static double px(const frame *fr, double x) { return LEFT + (x - fr->x0) / (fr->x1 - fr->x0) * (WIDTH - LEFT - RIGHT); }
static double py(const frame *fr, double y) {
    double v = fr->log_y ? log10(y) : y;
    return HEIGHT - BOTTOM - (v - fr->y0) / (fr->y1 - fr->y0) * (HEIGHT - TOP - BOTTOM);
}

static void polyline(FILE *f, const frame *fr, const series *s, const char *color) {
    if (s->n == 0) return;
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" stroke-linejoin=\"round\" points=\"", color);
    for (int64_t i = 0; i < s->n; i++) fprintf(f, "%s%.1f,%.1f", i ? " " : "", px(fr, s->x[i]), py(fr, s->y[i]));
    fprintf(f, "\"/>\n");
}

static void axes(FILE *f, const frame *fr) {
    int pw = WIDTH - LEFT - RIGHT, ph = HEIGHT - TOP - BOTTOM;
    double xs = nice_step(fr->x0, fr->x1, 8);
    char label[64];
    for (double v = ceil(fr->x0 / xs - 1e-9) * xs; v <= fr->x1 + xs * 1e-9; v += xs) {
        double x = px(fr, v);
        format_tick(v, xs, label, sizeof label);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#e5e5e5\"/>\n", x, TOP, x, TOP + ph);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#333\"/>\n", x, TOP + ph, x, TOP + ph + 5);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", x, TOP + ph + 19, label);
    }
    double ys = fr->log_y ? 1 : nice_step(fr->y0, fr->y1, 6);
    int count = 0;
    double ticks[64];
    if (fr->log_y) {
        count = log_ticks(fr->y0, fr->y1, ticks, 64);
    } else {
        for (double v = ceil(fr->y0 / ys - 1e-9) * ys; v <= fr->y1 + ys * 1e-9 && count < 64; v += ys) ticks[count++] = v;
    }
    for (int i = 0; i < count; i++) {
        double v = ticks[i], y = py(fr, v);
        if (fr->log_y) snprintf(label, sizeof label, "%g", v);
        else format_tick(v, ys, label, sizeof label);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>\n", LEFT, y, LEFT + pw, y);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#333\"/>\n", LEFT - 5, y, LEFT, y);
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", LEFT - 8, y + 4, label);
    }
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#333\"/>\n", LEFT, TOP, pw, ph);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">step</text>\n", LEFT + pw / 2, HEIGHT - 15);
    fprintf(f, "<text x=\"20\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 20 %d)\">loss%s</text>\n",
            TOP + ph / 2, TOP + ph / 2, fr->log_y ? " (log scale)" : "");
}

static void legend(FILE *f, int with_eval, int with_train) {
    int rows = with_train + with_eval, w = 110, h = 10 + 20 * rows, x = WIDTH - RIGHT - w - 10, y = TOP + 10;
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"white\" fill-opacity=\"0.9\" stroke=\"#999\"/>\n",
            x, y, w, h);
    int row = 0;
    if (with_train) {
        int ly = y + 15 + 20 * row++;
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#1f77b4\" stroke-width=\"2\"/>\n", x + 10, ly,
                x + 35, ly);
        fprintf(f, "<text x=\"%d\" y=\"%d\">train loss</text>\n", x + 42, ly + 4);
    }
    if (with_eval) {
        int ly = y + 15 + 20 * row++;
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#ff7f0e\" stroke-width=\"2\"/>\n", x + 10, ly,
                x + 35, ly);
        fprintf(f, "<circle cx=\"%d\" cy=\"%d\" r=\"3\" fill=\"#ff7f0e\"/>\n", x + 22, ly);
        fprintf(f, "<text x=\"%d\" y=\"%d\">eval loss</text>\n", x + 42, ly + 4);
    }
}

/* The frame around both series: whole ticks on the loss axis, the steps' range on the other. */
static int make_frame(const series *train, const series *eval, int log_y, frame *fr, const char *path, gc_error *err) {
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    const series *all[2] = {train, eval};
    for (int s = 0; s < 2; s++) {
        for (int64_t i = 0; i < all[s]->n; i++) {
            double y = all[s]->y[i];
            if (log_y && y <= 0)
                return gc_failf(err, GC_ERR_USER, "%s: a loss of %g at step %g cannot go on a log scale; drop --log-y", path,
                                y, all[s]->x[i]);
            y = log_y ? log10(y) : y;
            xmin = fmin(xmin, all[s]->x[i]);
            xmax = fmax(xmax, all[s]->x[i]);
            ymin = fmin(ymin, y);
            ymax = fmax(ymax, y);
        }
    }
    if (xmax - xmin < 1) xmax = xmin + 1;
    if (ymax - ymin < 1e-12 * fmax(1, fabs(ymax))) {
        ymin -= log_y ? 0.5 : fmax(fabs(ymin) * 0.05, 1e-3);
        ymax += log_y ? 0.5 : fmax(fabs(ymax) * 0.05, 1e-3);
    }
    fr->x0 = xmin;
    fr->x1 = xmax;
    if (log_y) {
        log_range(&ymin, &ymax);
        fr->y0 = ymin;
        fr->y1 = ymax;
    } else {
        double ys = nice_step(ymin, ymax, 6);
        fr->y0 = floor(ymin / ys + 1e-9) * ys;
        fr->y1 = ceil(ymax / ys - 1e-9) * ys;
    }
    fr->log_y = log_y;
    return 1;
}

int gc_cmd_plot(int argc, char **argv) {
    const char *log_path = NULL, *out_path = NULL, *title = NULL;
    int log_y = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return GC_EXIT_OK;
        }
        if (gc_flag_value(argc, argv, &i, "-o", &v) || gc_flag_value(argc, argv, &i, "--output", &v)) out_path = v;
        else if (gc_flag_value(argc, argv, &i, "--title", &v)) title = v;
        else if (!strcmp(a, "--log-y")) log_y = 1;
        else if (a[0] != '-' && !log_path) log_path = a;
        else return gc_usage_error("plot: unknown option '%s' (see gradc plot --help)", a);
    }
    if (!log_path) {
        usage(stderr);
        return GC_EXIT_USER;
    }
    if (!out_path) return gc_usage_error("plot: give the SVG file to write with -o FILE.svg (-o - for stdout)");
    if (!title) {
        const char *slash = strrchr(log_path, '/');
        title = slash ? slash + 1 : log_path;
    }
    gc_error err = {0};
    series train = {0}, eval = {0};
    frame fr;
    int status = GC_EXIT_OK;
    if (!read_log(log_path, &train, &eval, &err) || !make_frame(&train, &eval, log_y, &fr, log_path, &err)) {
        gc_error ignored = {0};
        char *text = err.line > 0 ? gc_read_file(log_path, NULL, &ignored) : NULL;
        status = gc_report_error(&err, text);
        free(text);
        goto done;
    }
    int to_stdout = !strcmp(out_path, "-");
    FILE *f = to_stdout ? stdout : fopen(out_path, "w");
    if (!f) {
        status = gc_usage_error("cannot write %s", out_path);
        goto done;
    }
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"12\">\n",
            WIDTH, HEIGHT, WIDTH, HEIGHT);
    fprintf(f, "<title>");
    xml_text(f, title);
    fprintf(f, "</title>\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%d\" y=\"30\" text-anchor=\"middle\" font-size=\"16\">", LEFT + (WIDTH - LEFT - RIGHT) / 2);
    xml_text(f, title);
    fprintf(f, "</text>\n");
    axes(f, &fr);
    fprintf(f, "<defs><clipPath id=\"plot-area\"><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/></clipPath></defs>\n",
            LEFT - 4, TOP - 4, WIDTH - LEFT - RIGHT + 8, HEIGHT - TOP - BOTTOM + 8);
    fprintf(f, "<g clip-path=\"url(#plot-area)\">\n");
    polyline(f, &fr, &train, "#1f77b4");
    polyline(f, &fr, &eval, "#ff7f0e");
    for (int64_t i = 0; i < eval.n; i++)
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#ff7f0e\"/>\n", px(&fr, eval.x[i]), py(&fr, eval.y[i]));
    fprintf(f, "</g>\n");
    legend(f, eval.n > 0, train.n > 0);
    fprintf(f, "</svg>\n");
    if ((to_stdout ? fflush(f) : fclose(f)) != 0) status = gc_usage_error("cannot write %s", out_path);
done:
    free(train.x);
    free(train.y);
    free(eval.x);
    free(eval.y);
    return status;
}
