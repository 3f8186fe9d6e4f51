/*
 * cmd_plot.c: `gradc plot LOG.csv -o loss.svg [--y COL,...] [--title T] [--log-y]`: curves of a
 * training log (gradc train --log) as an SVG file a browser or image viewer opens: axes with ticks
 * and labels, the train loss and the eval loss when the log has it (or the columns --y names, each
 * with its eval_ column when there is one), and a legend to the right of the plot, outside the data.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/diag.h"
#include "runtime/csv.h"
#include "tools/cli.h"
#include "tools/model_options.h"

enum { WIDTH = 900, HEIGHT = 480, LEFT = 80, RIGHT = 160, TOP = 50, BOTTOM = 60, MAX_SERIES = 16 };

static const char *const colors[MAX_SERIES] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                                               "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939",
                                               "#8c6d31", "#843c39", "#7b4173", "#3182bd"};

static void usage(FILE *out) {
    fprintf(out,
            "usage: gradc plot LOG.csv -o FILE.svg [--y COL,COL,...] [--title TITLE] [--log-y]\n\n"
            "Draws the curves of a training log written by gradc train --log: the train loss per step\n"
            "and, when the log has it, the eval loss (gradc train --eval-data). -o - writes to stdout.\n"
            "  --y COLS       the columns to draw instead (e.g. loss,accuracy,lr); a column's eval_ twin\n"
            "                 is drawn with it when the log has one\n"
            "  --title TITLE  the title above the plot (default: the log's file name)\n"
            "  --log-y        a logarithmic y axis\n");
}

typedef struct series {
    double *x, *y;
    int64_t n, cap;
    char name[96];  /* the legend's label */
    int column;     /* in the log */
    int dots;       /* eval columns: points are marked */
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

/* The series to draw: `wanted` (a comma list, NULL: loss) and each one's eval_ twin, found in
 * the header's fields. */
static int pick_columns(const char *path, const gc_csv_reader *r, const char *wanted, series *out, int *count,
                        gc_error *err) {
    const char *list = wanted ? wanted : "loss";
    *count = 0;
    while (*list) {
        size_t len = strcspn(list, ",");
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(len < 63 ? len : 63), list);
        list += len + (list[len] == ',');
        if (!name[0]) continue;
        for (int twin = 0; twin < 2; twin++) {
            char col[80];
            snprintf(col, sizeof col, "%s%s", twin ? "eval_" : "", name);
            int found = -1;
            for (int c = 0; c < r->count && found < 0; c++)
                if (!strcmp(r->fields[c], col)) found = c;
            if (found < 0) {
                if (twin) continue;
                gc_loc loc = {path, r->row_line, 1};
                return gc_fail(err, GC_ERR_USER, loc, "the header has no %s column%s", col,
                               wanted ? "" : "; expected a log written by gradc train --log");
            }
            if (*count == MAX_SERIES) return gc_failf(err, GC_ERR_USER, "--y: at most %d curves", MAX_SERIES);
            series *s = &out[(*count)++];
            s->column = found;
            s->dots = twin;
            /* The default plot's labels say which loss. */
            if (!wanted) snprintf(s->name, sizeof s->name, "%s loss", twin ? "eval" : "train");
            else snprintf(s->name, sizeof s->name, "%s", col);
        }
    }
    if (!*count) return gc_failf(err, GC_ERR_USER, "--y needs column names, e.g. --y loss,accuracy");
    return 1;
}

/* Reads the step column and the series' columns; empty cells (eval columns on rows without an
 * eval) and non-finite values are skipped. */
static int read_log(const char *path, const char *wanted, series *all, int *count, gc_error *err) {
    gc_csv_reader r;
    if (!gc_csv_open(&r, path, err)) return 0;
    int ok = 0, step_col = -1, ncols = 0;
    int got = gc_csv_next(&r, err);
    if (got <= 0) {
        if (got == 0) gc_failf(err, GC_ERR_USER, "%s is empty; expected a log written by gradc train --log", path);
        goto done;
    }
    ncols = r.count;
    for (int c = 0; c < r.count; c++)
        if (!strcmp(r.fields[c], "step")) step_col = c;
    if (step_col < 0) {
        gc_loc loc = {path, r.row_line, 1};
        gc_fail(err, GC_ERR_USER, loc, "the header has no step column; expected a log written by gradc train --log");
        goto done;
    }
    if (!pick_columns(path, &r, wanted, all, count, err)) goto done;
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
        for (int k = 0; k < *count; k++)
            if (gc_csv_parse_number(r.fields[all[k].column], &y) && isfinite(y) && !push(&all[k], x, y)) goto oom;
    }
    if (got < 0) goto done;
    int64_t points = 0;
    for (int k = 0; k < *count; k++) points += all[k].n;
    if (points == 0) {
        gc_failf(err, GC_ERR_USER, "%s has no finite %s to plot", path, wanted ? "values" : "losses");
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

static void axes(FILE *f, const frame *fr, const char *ylabel) {
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
    fprintf(f, "<text x=\"20\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 20 %d)\">", TOP + ph / 2,
            TOP + ph / 2);
    xml_text(f, ylabel);
    fprintf(f, "%s</text>\n", fr->log_y ? " (log scale)" : "");
}

/* The legend right of the plot area, outside the data. */
static void legend(FILE *f, const series *all, int count) {
    int rows = 0;
    for (int k = 0; k < count; k++) rows += all[k].n > 0;
    int w = RIGHT - 20, h = 10 + 20 * rows, x = WIDTH - RIGHT + 10, y = TOP;
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"white\" stroke=\"#999\"/>\n", x, y, w, h);
    int row = 0;
    for (int k = 0; k < count; k++) {
        if (!all[k].n) continue;
        int ly = y + 15 + 20 * row++;
        const char *color = colors[k % MAX_SERIES];
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"/>\n", x + 8, ly,
                x + 30, ly, color);
        if (all[k].dots) fprintf(f, "<circle cx=\"%d\" cy=\"%d\" r=\"3\" fill=\"%s\"/>\n", x + 19, ly, color);
        fprintf(f, "<text x=\"%d\" y=\"%d\">", x + 36, ly + 4);
        xml_text(f, all[k].name);
        fprintf(f, "</text>\n");
    }
}

/* The frame around every series: whole ticks on the y axis, the steps' range on the other. */
static int make_frame(const series *all, int count, int log_y, frame *fr, const char *path, gc_error *err) {
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (int s = 0; s < count; s++) {
        for (int64_t i = 0; i < all[s].n; i++) {
            double y = all[s].y[i];
            if (log_y && y <= 0)
                return gc_failf(err, GC_ERR_USER, "%s: a value of %g (%s) at step %g cannot go on a log scale; drop --log-y",
                                path, y, all[s].name, all[s].x[i]);
            y = log_y ? log10(y) : y;
            xmin = fmin(xmin, all[s].x[i]);
            xmax = fmax(xmax, all[s].x[i]);
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
    const char *log_path = NULL, *out_path = NULL, *title = NULL, *wanted = NULL;
    int log_y = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return GC_EXIT_OK;
        }
        if (gc_flag_value(argc, argv, &i, "-o", &v) || gc_flag_value(argc, argv, &i, "--output", &v)) out_path = v;
        else if (gc_flag_value(argc, argv, &i, "--title", &v)) title = v;
        else if (gc_flag_value(argc, argv, &i, "--y", &v)) wanted = v;
        else if (!strcmp(a, "--log-y")) log_y = 1;
        else if (a[0] != '-' && !log_path) log_path = a;
        else {
            static const char *const flags[] = {"-o", "--output", "--title", "--y", "--log-y", NULL};
            return gc_unknown_option("plot", a, flags, 0);
        }
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
    series all[MAX_SERIES];
    memset(all, 0, sizeof all);
    int count = 0;
    frame fr = {0};
    int status = GC_EXIT_OK;
    if (!read_log(log_path, wanted, all, &count, &err) || !make_frame(all, count, log_y, &fr, log_path, &err)) {
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
    /* One column names the axis; several share "value". */
    axes(f, &fr, !wanted ? "loss" : count - (count > 1 && all[1].dots) == 1 ? all[0].name : "value");
    fprintf(f, "<defs><clipPath id=\"plot-area\"><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/></clipPath></defs>\n",
            LEFT - 4, TOP - 4, WIDTH - LEFT - RIGHT + 8, HEIGHT - TOP - BOTTOM + 8);
    fprintf(f, "<g clip-path=\"url(#plot-area)\">\n");
    for (int k = 0; k < count; k++) {
        polyline(f, &fr, &all[k], colors[k % MAX_SERIES]);
        for (int64_t i = 0; all[k].dots && i < all[k].n; i++)
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", px(&fr, all[k].x[i]),
                    py(&fr, all[k].y[i]), colors[k % MAX_SERIES]);
    }
    fprintf(f, "</g>\n");
    legend(f, all, count);
    fprintf(f, "</svg>\n");
    if ((to_stdout ? fflush(f) : fclose(f)) != 0) status = gc_usage_error("cannot write %s", out_path);
done:
    for (int k = 0; k < MAX_SERIES; k++) {
        free(all[k].x);
        free(all[k].y);
    }
    return status;
}
