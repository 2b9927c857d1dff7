#include "report.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>
#include <hdf5.h>

#include "fields.h"
#include "format.h"
#include "h5util.h"
#include "inspect.h"
#include "output.h"
#include "runlist.h"
#include "safefile.h"
#include "taskmeans.h"

#define NBINS 60                 /* histogram bins */
#define BLOCK ((hsize_t)1 << 20) /* archive values read at a time */
#define TEXT_SHOWN 4000          /* bytes of a text payload shown */
#define CURVE_POINTS 200         /* points of the bound's curve */
#define NAMES_IN_ERROR 8         /* runs named when --run names none */
#define PLOT_W 760               /* SVG size and margins, in px */
#define PLOT_H 360
#define MARGIN_L 78
#define MARGIN_R 28
#define MARGIN_T 40
#define MARGIN_B 56
#define METRIC_COLORS 16 /* colour classes metric-0 ... metric-15 */
#define TASKS_DRAWN 200  /* task curves drawn on a tasks plot */

/* Text for HTML content and attribute values. */
static void esc(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

/* The first n bytes of s, escaped, cut back to a UTF-8 character boundary. */
static void esc_n(FILE *f, const char *s, size_t n)
{
    size_t len = strlen(s);
    char *copy;

    if (len <= n) {
        esc(f, s);
        return;
    }
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    if (!(copy = strndup(s, n)))
        return;
    esc(f, copy);
    free(copy);
    fprintf(f, "&hellip; (%zu bytes)", len);
}

static void put_num(FILE *f, double x)
{
    char buf[QZ_FORMAT_MAX];
    qz_format_exact(buf, sizeof buf, x);
    fputs(buf, f);
}

/* A short figure for plot labels: 4 significant digits. */
static void put_short(FILE *f, double x)
{
    fprintf(f, "%.4g", x);
}

/* Plots map a data frame onto the SVG's plot area. */

struct axis {
    double lo, hi; /* in axis units: log10 of the value on a log axis */
    int log;
};

static double map_x(const struct axis *a, double t)
{
    return MARGIN_L + (t - a->lo) / (a->hi - a->lo) * (PLOT_W - MARGIN_L - MARGIN_R);
}

static double map_y(const struct axis *a, double t)
{
    return PLOT_H - MARGIN_B - (t - a->lo) / (a->hi - a->lo) * (PLOT_H - MARGIN_T - MARGIN_B);
}

/* A linear axis over [lo, hi] widened to whole steps of a 1-2-5 step; *step gets it. */
static void nice_axis(struct axis *a, double lo, double hi, double *step)
{
    double raw, mag, r;

    if (!(hi > lo)) {
        double pad = fabs(lo) > 0 ? fabs(lo) * 0.05 : 0.5;
        lo -= pad;
        hi += pad;
    }
    raw = (hi - lo) / 6;
    mag = pow(10, floor(log10(raw)));
    r = raw / mag;
    *step = (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag;
    a->lo = floor(lo / *step) * *step;
    a->hi = ceil(hi / *step) * *step;
    a->log = 0;
}

/* A log axis over [lo, hi] (positive values) widened to whole decades. */
static void log_axis(struct axis *a, double lo, double hi)
{
    a->lo = floor(log10(lo));
    a->hi = ceil(log10(hi));
    if (a->hi <= a->lo)
        a->hi = a->lo + 1;
    a->log = 1;
}

static void put_tick_label(FILE *f, const struct axis *a, double t, double step)
{
    if (a->log) {
        int k = (int)lround(t);
        if (k >= 0 && k <= 5)
            fprintf(f, "%.0f", pow(10, k));
        else
            fprintf(f, "1e%d", k);
    } else {
        double v = round(t / step) * step;
        fprintf(f, "%.6g", fabs(v) < step * 1e-9 ? 0.0 : v);
    }
}

/* The plot's frame, grid, ticks and axis labels. A log axis ticks every decade. */
static void put_axes(FILE *f, const struct axis *x, double xstep, const struct axis *y,
                     double ystep, const char *xlabel, const char *ylabel)
{
    double x0 = MARGIN_L, x1 = PLOT_W - MARGIN_R, y0 = PLOT_H - MARGIN_B, y1 = MARGIN_T;
    double dx = x->log ? 1 : xstep, dy = y->log ? 1 : ystep;

    fprintf(f,
            "<g class=\"axis x\">\n<line class=\"axis-line\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
            "y2=\"%.1f\"/>\n",
            x0, y0, x1, y0);
    for (double t = ceil(x->lo / dx - 1e-9) * dx; t <= x->hi + dx * 1e-9; t += dx) {
        double px = map_x(x, t);
        fprintf(f,
                "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                "<line class=\"tick\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                "<text class=\"tick-label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">",
                px, y0, px, y1, px, y0, px, y0 + 5, px, y0 + 19);
        put_tick_label(f, x, t, dx);
        fputs("</text>\n", f);
    }
    fprintf(f,
            "<text class=\"axis-label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n"
            "</g>\n",
            (x0 + x1) / 2, (double)PLOT_H - 12, xlabel);
    fprintf(f,
            "<g class=\"axis y\">\n<line class=\"axis-line\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
            "y2=\"%.1f\"/>\n",
            x0, y0, x0, y1);
    for (double t = ceil(y->lo / dy - 1e-9) * dy; t <= y->hi + dy * 1e-9; t += dy) {
        double py = map_y(y, t);
        fprintf(f,
                "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                "<line class=\"tick\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                "<text class=\"tick-label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">",
                x0, py, x1, py, x0 - 5, py, x0, py, x0 - 8, py + 4);
        put_tick_label(f, y, t, dy);
        fputs("</text>\n", f);
    }
    fprintf(f,
            "<text class=\"axis-label\" transform=\"translate(16 %.1f) rotate(-90)\" "
            "text-anchor=\"middle\">%s</text>\n</g>\n",
            (y0 + y1) / 2, ylabel);
}

static void svg_open(FILE *f, const char *cls, const char *id_kind, size_t run, const char *title)
{
    fprintf(f,
            "<svg class=\"plot %s\" id=\"%s-%zu\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            "role=\"img\">\n<title>%s</title>\n",
            cls, id_kind, run, PLOT_W, PLOT_H, PLOT_W, PLOT_H, title);
}

struct hist {
    double lo, hi;         /* bin range */
    uint64_t count[NBINS]; /* per bin */
    uint64_t n;            /* finite values */
    uint64_t nonfinite;    /* NaN (invalid samples) and infinities */
    double min, max;       /* of the finite values */
};

static void hist_range(struct hist *h, const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(v[i])) {
            h->nonfinite++;
            continue;
        }
        if (h->n == 0 || v[i] < h->min)
            h->min = v[i];
        if (h->n == 0 || v[i] > h->max)
            h->max = v[i];
        h->n++;
    }
}

static int hist_bin(const struct hist *h, double u)
{
    double b = floor((u - h->lo) / (h->hi - h->lo) * NBINS);
    return b < 0 ? 0 : b >= NBINS ? NBINS - 1 : (int)b;
}

static void hist_count(struct hist *h, const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i]))
            h->count[hist_bin(h, v[i])]++;
}

/* Run fn over every value of the 1-D dataset loc/name, BLOCK values at a time, so
 * that an archive of 10^9 samples needs 8 MiB. QZ_OK (*found 0 when there is no such
 * dataset), QZ_EHDF5 when it is not a 1-D numeric dataset or unreadable, QZ_ENOMEM. */
static enum qz_status scan_dataset(hid_t loc, const char *name, struct hist *h,
                                   void (*fn)(struct hist *, const double *, size_t), int *found)
{
    hid_t dset = H5I_INVALID_HID, fspace = H5I_INVALID_HID;
    htri_t exists = H5Lexists(loc, name, H5P_DEFAULT);
    hsize_t len = 0;
    double *buf = NULL;
    enum qz_status rc = QZ_EHDF5;

    *found = exists > 0;
    if (exists <= 0)
        return exists == 0 ? QZ_OK : QZ_EHDF5;
    if ((dset = H5Dopen2(loc, name, H5P_DEFAULT)) < 0 || (fspace = H5Dget_space(dset)) < 0 ||
        H5Sget_simple_extent_ndims(fspace) != 1 ||
        H5Sget_simple_extent_dims(fspace, &len, NULL) < 0)
        goto done;
    if (!(buf = malloc((size_t)(len < BLOCK ? (len ? len : 1) : BLOCK) * sizeof *buf))) {
        rc = QZ_ENOMEM;
        goto done;
    }
    for (hsize_t start = 0; start < len; start += BLOCK) {
        hsize_t count = len - start < BLOCK ? len - start : BLOCK;
        if (qz_h5_read_range(dset, H5T_NATIVE_DOUBLE, start, (size_t)count, buf))
            goto done;
        fn(h, buf, (size_t)count);
    }
    rc = QZ_OK;
done:
    free(buf);
    if (fspace >= 0)
        H5Sclose(fspace);
    if (dset >= 0)
        H5Dclose(dset);
    return rc;
}

/* The bins over [lo, hi] of the finite values, the marks included. */
static void hist_bins(struct hist *h, double threshold, double selected)
{
    double lo = h->min, hi = h->max;
    if (isfinite(threshold)) {
        lo = fmin(lo, threshold);
        hi = fmax(hi, threshold);
    }
    if (isfinite(selected)) {
        lo = fmin(lo, selected);
        hi = fmax(hi, selected);
    }
    if (!(hi > lo)) {
        double pad = fabs(lo) > 0 ? fabs(lo) * 0.05 : 0.5;
        lo -= pad;
        hi += pad;
    }
    h->lo = lo;
    h->hi = hi;
    memset(h->count, 0, sizeof h->count);
}

/* Fill h from samples/utility (the archive, *archive = 1) or top/utility. 1 filled,
 * 0 neither is there; *note says why the archive was passed over, if it was. */
static int hist_fill(hid_t run, struct hist *h, double threshold, double selected, int *archive,
                     const char **note)
{
    static const char *const sources[] = {"samples/utility", "top/utility"};

    *note = NULL;
    for (int s = 0; s < 2; s++) {
        int found = 0, read;
        memset(h, 0, sizeof *h);
        if (s == 0 && H5Lexists(run, "samples", H5P_DEFAULT) <= 0)
            continue;
        if (s == 1 && H5Lexists(run, "top", H5P_DEFAULT) <= 0)
            break;
        read = scan_dataset(run, sources[s], h, hist_range, &found) == QZ_OK && found;
        if (read && h->n > 0) {
            hist_bins(h, threshold, selected);
            read = scan_dataset(run, sources[s], h, hist_count, &found) == QZ_OK;
        }
        if (read && h->n > 0) {
            *archive = s == 0;
            return 1;
        }
        if (s == 0)
            *note = read ? "the archive samples/utility holds no valid utility"
                         : "the archive samples/utility could not be read";
    }
    return 0;
}

static void put_histogram(FILE *f, hid_t run, size_t id)
{
    struct hist h;
    struct axis x, y;
    double xstep, threshold = NAN, selected = NAN, tx, sx, bottom;
    uint64_t maxc = 0;
    const char *note;
    int archive = 0, has_t, has_s = 0, sel_bin;
    hid_t sel;

    has_t = qz_h5_read_num_attr(run, "threshold", H5T_NATIVE_DOUBLE, &threshold, NULL) == QZ_OK &&
            isfinite(threshold);
    if (H5Lexists(run, "selected", H5P_DEFAULT) > 0 &&
        (sel = H5Gopen2(run, "selected", H5P_DEFAULT)) >= 0) {
        has_s = qz_h5_read_num_attr(sel, "utility", H5T_NATIVE_DOUBLE, &selected, NULL) == QZ_OK &&
                isfinite(selected);
        H5Gclose(sel);
    }
    fputs("<h3>Utility distribution</h3>\n", f);
    if (!hist_fill(run, &h, threshold, selected, &archive, &note)) {
        fprintf(f,
                "<p class=\"caption no-data\">No utilities to plot: the run has neither a "
                "samples/ archive nor a stored top set%s%s.</p>\n",
                note ? "; " : "", note ? note : "");
        return;
    }
    for (int b = 0; b < NBINS; b++)
        maxc = h.count[b] > maxc ? h.count[b] : maxc;
    nice_axis(&x, h.lo, h.hi, &xstep);
    y.log = 1;
    y.lo = log10(0.5); /* a bin of 1 stays visible */
    y.hi = fmax(1, ceil(log10((double)maxc * 1.5)));
    bottom = map_y(&y, y.lo);

    svg_open(f, "histogram", "hist", id,
             archive ? "Utility distribution of all samples" : "Utilities of the top set");
    put_axes(f, &x, xstep, &y, 1, "utility", "samples per bin (log scale)");
    fputs("<g class=\"bars\">\n", f);
    for (int b = 0; b < NBINS; b++) {
        double a0 = h.lo + (h.hi - h.lo) * b / NBINS, a1 = h.lo + (h.hi - h.lo) * (b + 1) / NBINS;
        double x0 = map_x(&x, a0), x1 = map_x(&x, a1), top;
        if (!h.count[b])
            continue;
        top = map_y(&y, log10((double)h.count[b]));
        fprintf(f,
                "<rect class=\"bar\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\">"
                "<title>[%.6g, %.6g): %llu</title></rect>\n",
                x0, top, fmax(x1 - x0 - 0.5, 0.5), bottom - top, a0, a1,
                (unsigned long long)h.count[b]);
    }
    fputs("</g>\n", f);
    if (has_t) {
        tx = map_x(&x, threshold);
        fprintf(f,
                "<line class=\"threshold\" id=\"threshold-%zu\" x1=\"%.2f\" y1=\"%d\" x2=\"%.2f\" "
                "y2=\"%.2f\"/>\n<text class=\"threshold-label\" x=\"%.2f\" y=\"%d\" "
                "text-anchor=\"%s\">threshold ",
                id, tx, MARGIN_T - 6, tx, bottom, tx + (tx > PLOT_W / 2 ? -4 : 4), MARGIN_T - 10,
                tx > PLOT_W / 2 ? "end" : "start");
        put_short(f, threshold);
        fputs("</text>\n", f);
    }
    if (has_s) {
        sel_bin = hist_bin(&h, selected);
        sx = map_x(&x, selected);
        fprintf(f,
                "<line class=\"selected-line\" x1=\"%.2f\" y1=\"%d\" x2=\"%.2f\" y2=\"%.2f\"/>\n"
                "<circle class=\"selected\" id=\"selected-%zu\" cx=\"%.2f\" cy=\"%.2f\" r=\"6\">"
                "<title>selected sample, utility ",
                sx, MARGIN_T + 4, sx, bottom, id, sx,
                h.count[sel_bin] ? map_y(&y, log10((double)h.count[sel_bin])) : bottom);
        put_num(f, selected);
        fprintf(f,
                "</title></circle>\n<text class=\"selected-label\" x=\"%.2f\" y=\"%d\" "
                "text-anchor=\"%s\">selected ",
                sx + (sx > PLOT_W / 2 ? -8 : 8), MARGIN_T + 12, sx > PLOT_W / 2 ? "end" : "start");
        put_short(f, selected);
        fputs("</text>\n", f);
    }
    fputs("</svg>\n<p class=\"caption\">", f);
    if (archive)
        fprintf(f, "All %llu valid samples of the archive (samples/utility)",
                (unsigned long long)h.n);
    else
        fprintf(f,
                "<strong class=\"top-only\">Only the top set is shown</strong> (top/utility, "
                "%llu samples): the run has no samples/ archive, so the rest of the distribution "
                "is not in the record%s%s",
                (unsigned long long)h.n, note ? "; " : "", note ? note : "");
    if (h.nonfinite)
        fprintf(f, "; %llu invalid (NaN) utilities left out", (unsigned long long)h.nonfinite);
    fprintf(f, ". %d bins over [", NBINS);
    put_short(f, h.lo);
    fputs(", ", f);
    put_short(f, h.hi);
    fputs("]; counts on a log scale. Dashed red line: the threshold (utility at position K&minus;1)"
          "; green circle: the selected sample.</p>\n",
          f);
}

struct sweep {
    double *q, *top_count, *threshold, *mean_utility, *mean_cost, *selected_index;
    /* The intervals (README "Confidence intervals"); NULL in records made before them. */
    double *utility_low, *utility_high, *cost_low, *cost_high;
    size_t n;
};

static void sweep_free(struct sweep *s)
{
    free(s->q);
    free(s->top_count);
    free(s->threshold);
    free(s->mean_utility);
    free(s->mean_cost);
    free(s->selected_index);
    free(s->utility_low);
    free(s->utility_high);
    free(s->cost_low);
    free(s->cost_high);
}

/* Read sweep/'s columns; n is the shortest present. A column that is missing stays
 * NULL. 1 read (q at least), 0 not a sweep. */
static int sweep_read(hid_t run, struct sweep *s)
{
    static const char *const names[] = {"q",
                                        "top_count",
                                        "threshold",
                                        "mean_utility",
                                        "mean_cost",
                                        "selected_index",
                                        "mean_utility_ci_low",
                                        "mean_utility_ci_high",
                                        "mean_cost_ci_low",
                                        "mean_cost_ci_high"};
    double **cols[] = {&s->q,         &s->top_count,      &s->threshold,   &s->mean_utility,
                       &s->mean_cost, &s->selected_index, &s->utility_low, &s->utility_high,
                       &s->cost_low,  &s->cost_high};
    hid_t g;
    int got_q = 0;

    memset(s, 0, sizeof *s);
    if (H5Lexists(run, "sweep", H5P_DEFAULT) <= 0 || (g = H5Gopen2(run, "sweep", H5P_DEFAULT)) < 0)
        return 0;
    s->n = SIZE_MAX;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t n;
        if (qz_h5_read_f64_1d(g, names[i], cols[i], &n, NULL) == QZ_OK && n > 0) {
            s->n = n < s->n ? n : s->n;
            got_q |= i == 0;
        } else {
            free(*cols[i]);
            *cols[i] = NULL;
        }
    }
    H5Gclose(g);
    if (!got_q)
        s->n = 0;
    return got_q;
}

/* The range of the finite v[i] whose q[i] is positive and finite: 0 if none. */
static int finite_range(const struct sweep *s, const double *v, double *lo, double *hi)
{
    int any = 0;
    for (size_t i = 0; v && i < s->n; i++) {
        if (!isfinite(v[i]) || !(s->q[i] > 0) || !isfinite(s->q[i]))
            continue;
        *lo = any ? fmin(*lo, v[i]) : v[i];
        *hi = any ? fmax(*hi, v[i]) : v[i];
        any = 1;
    }
    return any;
}

/* The rows' indices in the order of q (a job lists them in any order), or NULL when
 * out of memory. Freed by the caller. */
static size_t *sweep_order(const struct sweep *s)
{
    size_t *by_q = malloc((s->n ? s->n : 1) * sizeof *by_q);

    for (size_t i = 0; by_q && i < s->n; i++) {
        size_t j = i;
        for (; j > 0 && s->q[by_q[j - 1]] > s->q[i]; j--)
            by_q[j] = by_q[j - 1];
        by_q[j] = i;
    }
    return by_q;
}

/* One series: a polyline through the finite points in the order of q, and a dot per
 * point whose title gives the real value (shown[i]; NULL: v[i]) and the metric's name
 * (NULL: none). */
static void put_series_as(FILE *f, const struct sweep *s, const double *v, const double *shown,
                          const struct axis *x, const struct axis *y, const char *cls,
                          const char *name)
{
    size_t *by_q = sweep_order(s);

    fprintf(f, "<polyline class=\"series %s\"", cls);
    if (name) {
        fputs(" data-name=\"", f);
        esc(f, name);
        fputs("\"", f);
    }
    fputs(" points=\"", f);
    for (size_t k = 0; by_q && k < s->n; k++) {
        size_t i = by_q[k];
        if (isfinite(v[i]) && s->q[i] > 0 && isfinite(s->q[i]))
            fprintf(f, "%.2f,%.2f ", map_x(x, log10(s->q[i])), map_y(y, v[i]));
    }
    fputs("\"/>\n", f);
    free(by_q);
    for (size_t i = 0; i < s->n; i++)
        if (isfinite(v[i]) && s->q[i] > 0 && isfinite(s->q[i])) {
            fprintf(f, "<circle class=\"point %s\" cx=\"%.2f\" cy=\"%.2f\" r=\"3.5\"><title>", cls,
                    map_x(x, log10(s->q[i])), map_y(y, v[i]));
            if (name) {
                esc(f, name);
                fputs(", ", f);
            }
            fputs("q = ", f);
            put_num(f, s->q[i]);
            fputs(": ", f);
            put_num(f, shown ? shown[i] : v[i]);
            fputs("</title></circle>\n", f);
        }
}

static void put_series(FILE *f, const struct sweep *s, const double *v, const struct axis *x,
                       const struct axis *y, const char *cls)
{
    put_series_as(f, s, v, NULL, x, y, cls, NULL);
}

/* A confidence band: a polygon along high at the points where both ends are finite,
 * then back along low; nothing when the sweep has no interval columns. */
static void put_band(FILE *f, const struct sweep *s, const double *low, const double *high,
                     const struct axis *x, const struct axis *y, const char *cls, const char *id)
{
    size_t *by_q = low && high ? sweep_order(s) : NULL;

    if (!by_q)
        return;
    fprintf(f, "<polygon class=\"band %s\" id=\"%s\" points=\"", cls, id);
    for (size_t k = 0; k < 2 * s->n; k++) {
        size_t i = by_q[k < s->n ? k : 2 * s->n - 1 - k];
        const double *v = k < s->n ? high : low;
        if (isfinite(low[i]) && isfinite(high[i]) && s->q[i] > 0 && isfinite(s->q[i]))
            fprintf(f, "%.2f,%.2f ", map_x(x, log10(s->q[i])), map_y(y, v[i]));
    }
    fputs("\"/>\n", f);
    free(by_q);
}

/* The curve min(1, value / q) over the x axis (q on a log scale). */
static void put_bound_curve(FILE *f, const struct axis *x, const struct axis *y, double value,
                            const char *cls, const char *id_kind, size_t id)
{
    fprintf(f, "<polyline class=\"%s\" id=\"%s-%zu\" points=\"", cls, id_kind, id);
    for (int i = 0; i <= CURVE_POINTS; i++) {
        double t = x->lo + (x->hi - x->lo) * i / CURVE_POINTS;
        fprintf(f, "%.2f,%.2f ", map_x(x, t), map_y(y, fmin(1, value / pow(10, t))));
    }
    fputs("\"/>\n", f);
}

/* Widen [lo, hi] to the finite values of v (NULL: none). */
static void widen(const struct sweep *s, const double *v, double *lo, double *hi)
{
    double a, b;
    if (finite_range(s, v, &a, &b)) {
        *lo = fmin(*lo, a);
        *hi = fmax(*hi, b);
    }
}

/* Legend entry `row`: rows 0 and 1 in the top margin, 2 and 3 beside them. */
static void put_legend(FILE *f, int row, const char *cls, const char *text)
{
    double y = MARGIN_T - 24 + 14 * (row % 2);
    int x = MARGIN_L + 8 + 300 * (row / 2);
    fprintf(f,
            "<line class=\"legend-key %s\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
            "<text class=\"legend\" x=\"%d\" y=\"%.1f\">%s</text>\n",
            cls, x, y - 4, x + 22, y - 4, x + 28, y, text);
}

/* A metric's E_Q against q (sweep/metrics/NAME/{mean,ci_low,ci_high}), with the range
 * of its finite values and intervals. */
struct mseries {
    const char *name; /* owned by the metric list */
    int color;        /* the metric's position in the job, for its colour class */
    double *mean, *low, *high;
    double lo, hi;
};

static void mseries_free(struct mseries *ms, size_t n)
{
    for (size_t i = 0; ms && i < n; i++) {
        free(ms[i].mean);
        free(ms[i].low);
        free(ms[i].high);
    }
    free(ms);
}

/* The range of the finite values of mean, low and high (NULL: none): 0 if none. */
static int series_range(const struct sweep *s, const double *mean, const double *low,
                        const double *high, double *lo, double *hi)
{
    if (!finite_range(s, mean, lo, hi))
        return 0;
    widen(s, low, lo, hi);
    widen(s, high, lo, hi);
    return 1;
}

/* The metrics of the sweep in the job's order (list keeps their names): each read
 * whole, at least s->n long, or left out. */
static struct mseries *sweep_metrics(hid_t run, const struct sweep *s,
                                     const struct qz_h5_metrics *list, size_t *n)
{
    static const char *const cols[] = {"mean", "ci_low", "ci_high"};
    struct mseries *ms = calloc(list->n ? list->n : 1, sizeof *ms);
    hid_t g;

    *n = 0;
    if (!ms || H5Lexists(run, "sweep", H5P_DEFAULT) <= 0 ||
        (g = H5Gopen2(run, "sweep", H5P_DEFAULT)) < 0)
        return ms;
    for (size_t i = 0; i < list->n; i++) {
        struct mseries *m = &ms[*n];
        double **dst[] = {&m->mean, &m->low, &m->high};
        char path[512];
        int ok = 1;
        for (int c = 0; c < 3; c++) {
            size_t len = 0;
            snprintf(path, sizeof path, "metrics/%s/%s", list->m[i].name, cols[c]);
            if (qz_h5_read_f64_1d(g, path, dst[c], &len, NULL) != QZ_OK || len < s->n) {
                free(*dst[c]);
                *dst[c] = NULL;
                ok &= c > 0; /* the interval may be missing, the mean may not */
            }
        }
        if (!ok || !series_range(s, m->mean, m->low, m->high, &m->lo, &m->hi)) {
            free(m->mean);
            free(m->low);
            free(m->high);
            memset(m, 0, sizeof *m);
            continue;
        }
        m->name = list->m[i].name;
        m->color = (int)(i % METRIC_COLORS);
        (*n)++;
    }
    H5Gclose(g);
    return ms;
}

/* v scaled to [0, 1] over [lo, hi] (the middle when hi == lo); NULL for NULL. */
static double *scaled(const struct sweep *s, const double *v, double lo, double hi)
{
    double *out;

    if (!v || !(out = malloc((s->n ? s->n : 1) * sizeof *out)))
        return NULL;
    for (size_t i = 0; i < s->n; i++)
        out[i] = hi > lo ? (v[i] - lo) / (hi - lo) : 0.5;
    return out;
}

static void put_legend_item(FILE *f, const char *cls, const char *label, const char *name,
                            double lo, double hi)
{
    fprintf(f, "<li><span class=\"swatch %s\"></span>", cls);
    fputs(label, f);
    if (name) {
        fputs("<span class=\"metric-name\">", f);
        esc(f, name);
        fputs("</span>", f);
    }
    fputs(" &mdash; from ", f);
    put_short(f, lo);
    fputs(" (bottom) to ", f);
    put_short(f, hi);
    fputs(" (top)</li>\n", f);
}

/* The Goodhart picture: the proxy utility E_Q[u] and each metric's E_Q against q, each
 * with its confidence band, on one plot; each series scaled to its own range (the
 * legend gives it, the points' titles and the table the real values). */
static void put_goodhart(FILE *f, const struct sweep *s, const struct axis *x,
                         const struct mseries *ms, size_t nms, size_t id)
{
    struct axis y = {-0.05, 1.05, 0};
    double ulo = 0, uhi = 0;
    int has_u = series_range(s, s->mean_utility, s->utility_low, s->utility_high, &ulo, &uhi);
    char id_text[64], cls[64];

    svg_open(f, "sweep-utility goodhart", "sweep-utility", id,
             "Proxy utility and metrics against q, each scaled to its own range");
    put_axes(f, x, 1, &y, 0.25, "q (log scale)",
             "each series scaled to its range (0 = min, 1 = max)");
    if (has_u) {
        double *u = scaled(s, s->mean_utility, ulo, uhi), *lo = scaled(s, s->utility_low, ulo, uhi),
               *hi = scaled(s, s->utility_high, ulo, uhi);
        snprintf(id_text, sizeof id_text, "band-utility-%zu", id);
        put_band(f, s, lo, hi, x, &y, "mean-utility-band", id_text);
        if (u)
            put_series_as(f, s, u, s->mean_utility, x, &y, "mean-utility", NULL);
        free(u);
        free(lo);
        free(hi);
    }
    for (size_t j = 0; j < nms; j++) {
        const struct mseries *m = &ms[j];
        double *v = scaled(s, m->mean, m->lo, m->hi), *lo = scaled(s, m->low, m->lo, m->hi),
               *hi = scaled(s, m->high, m->lo, m->hi);
        snprintf(id_text, sizeof id_text, "band-metric-%zu-%zu", id, j);
        snprintf(cls, sizeof cls, "metric-band metric-%d", m->color);
        put_band(f, s, lo, hi, x, &y, cls, id_text);
        snprintf(cls, sizeof cls, "metric metric-%d", m->color);
        if (v)
            put_series_as(f, s, v, m->mean, x, &y, cls, m->name);
        free(v);
        free(lo);
        free(hi);
    }
    fputs("</svg>\n<ul class=\"legend\">\n", f);
    if (has_u)
        put_legend_item(f, "mean-utility", "proxy utility E_Q[u]", NULL, ulo, uhi);
    for (size_t j = 0; j < nms; j++) {
        snprintf(cls, sizeof cls, "metric-%d", ms[j].color);
        put_legend_item(f, cls, "metric E_Q ", ms[j].name, ms[j].lo, ms[j].hi);
    }
    fputs("</ul>\n<p class=\"caption\">The proxy utility that did the selecting and every "
          "metric, E_Q against q, with their confidence bands (shaded). They are measured on "
          "different scales, so each series is drawn over its own range, bands included: the "
          "legend gives each range, a point's title and the table below its real value. Read "
          "where each curve rises, peaks and falls as q shrinks; heights of different series "
          "are not comparable.</p>\n",
          f);
}

static void put_sweep_table(FILE *f, const struct sweep *s, const struct mseries *ms, size_t nms)
{
    const double *cols[] = {s->q,           s->top_count,     s->threshold, s->mean_utility,
                            s->utility_low, s->utility_high,  s->mean_cost, s->cost_low,
                            s->cost_high,   s->selected_index};
    static const char *const heads[] = {
        "q",       "K",         "threshold", "mean utility", "CI low",
        "CI high", "mean cost", "CI low",    "CI high",      "selected index"};
    enum { NCOLS = sizeof heads / sizeof heads[0] };

    fputs("<table class=\"sweep\">\n<thead><tr>", f);
    for (size_t c = 0; c < NCOLS; c++)
        if (cols[c])
            fprintf(f, "<th>%s</th>", heads[c]);
    for (size_t j = 0; j < nms; j++) {
        fputs("<th class=\"metric\">E_Q ", f);
        esc(f, ms[j].name);
        fputs("</th>", f);
        if (ms[j].low && ms[j].high)
            fputs("<th>CI low</th><th>CI high</th>", f);
    }
    fputs("</tr></thead>\n<tbody>\n", f);
    for (size_t i = 0; i < s->n; i++) {
        fputs("<tr>", f);
        for (size_t c = 0; c < NCOLS; c++) {
            if (!cols[c])
                continue;
            fputs("<td>", f);
            if (isnan(cols[c][i]))
                fputs("&ndash;", f);
            else
                put_num(f, cols[c][i]);
            fputs("</td>", f);
        }
        for (size_t j = 0; j < nms; j++) {
            const double *v[] = {ms[j].mean, ms[j].low, ms[j].high};
            for (int c = 0; c < 3; c++) {
                if (!v[c] || (c && !(ms[j].low && ms[j].high)))
                    continue;
                fputs("<td>", f);
                if (isnan(v[c][i]))
                    fputs("&ndash;", f);
                else
                    put_num(f, v[c][i]);
                fputs("</td>", f);
            }
        }
        fputs("</tr>\n", f);
    }
    fputs("</tbody>\n</table>\n", f);
}

static void put_sweep(FILE *f, hid_t run, size_t id)
{
    struct sweep s;
    struct axis x, y;
    double qlo = 0, qhi = 0, lo = 0, hi = 0, step, base = NAN, ucb = NAN, q = NAN;
    int has_base, has_ucb;
    char id_text[64];
    struct qz_h5_metrics list;
    struct mseries *ms = NULL;
    size_t nms = 0;

    if (!sweep_read(run, &s))
        return;
    if (qz_h5_read_metrics(run, "metrics", H5I_INVALID_HID, &list) == QZ_OK)
        ms = sweep_metrics(run, &s, &list, &nms);
    fputs("<h3>Sweep over q</h3>\n", f);
    {
        int any = 0;
        for (size_t i = 0; i < s.n; i++)
            if (s.q[i] > 0 && isfinite(s.q[i])) {
                qlo = any ? fmin(qlo, s.q[i]) : s.q[i];
                qhi = any ? fmax(qhi, s.q[i]) : s.q[i];
                any = 1;
            }
        if (!any) {
            fputs("<p class=\"caption no-data\">The sweep holds no positive q.</p>\n", f);
            sweep_free(&s);
            mseries_free(ms, nms);
            qz_h5_metrics_free(&list);
            return;
        }
    }
    log_axis(&x, qlo, qhi);
    has_base =
        qz_h5_read_num_attr(run, "cost_base_mean", H5T_NATIVE_DOUBLE, &base, NULL) == QZ_OK &&
        isfinite(base) && base >= 0;
    /* UCB(E_γ[c]) from the run's cost_bound_ucb = UCB / q. */
    has_ucb = qz_h5_read_num_attr(run, "cost_bound_ucb", H5T_NATIVE_DOUBLE, &ucb, NULL) == QZ_OK &&
              qz_h5_read_num_attr(run, "q", H5T_NATIVE_DOUBLE, &q, NULL) == QZ_OK &&
              isfinite(ucb * q) && ucb >= 0;
    ucb *= q;

    if (nms > 0) {
        put_goodhart(f, &s, &x, ms, nms, id);
    } else if (finite_range(&s, s.mean_utility, &lo, &hi)) {
        widen(&s, s.utility_low, &lo, &hi);
        widen(&s, s.utility_high, &lo, &hi);
        nice_axis(&y, lo, hi, &step);
        svg_open(f, "sweep-utility", "sweep-utility", id, "Mean utility against q");
        put_axes(f, &x, 1, &y, step, "q (log scale)", "mean utility of the top set");
        snprintf(id_text, sizeof id_text, "band-utility-%zu", id);
        put_band(f, &s, s.utility_low, s.utility_high, &x, &y, "mean-utility-band", id_text);
        put_series(f, &s, s.mean_utility, &x, &y, "mean-utility");
        put_legend(f, 0, "mean-utility", "mean utility E_Q[U]");
        if (s.utility_low && s.utility_high)
            put_legend(f, 2, "band mean-utility-band", "confidence interval of E_Q[U]");
        fputs("</svg>\n", f);
    } else {
        fputs("<p class=\"caption no-data\">No mean utility recorded in the sweep.</p>\n", f);
    }

    if (finite_range(&s, s.mean_cost, &lo, &hi)) {
        double bhi = has_base ? fmin(1, base / qlo) : 0;
        widen(&s, s.cost_high, &lo, &hi);
        bhi = has_ucb ? fmax(bhi, fmin(1, ucb / qlo)) : bhi;
        nice_axis(&y, 0, fmax(fmax(hi, bhi), 1e-12), &step);
        svg_open(f, "sweep-cost", "sweep-cost", id, "Mean cost against q");
        put_axes(f, &x, 1, &y, step, "q (log scale)", "mean cost of the top set");
        if (has_base)
            put_bound_curve(f, &x, &y, base, "bound", "bound", id);
        if (has_ucb)
            put_bound_curve(f, &x, &y, ucb, "bound-ucb", "ucb", id);
        snprintf(id_text, sizeof id_text, "band-cost-%zu", id);
        put_band(f, &s, s.cost_low, s.cost_high, &x, &y, "mean-cost-band", id_text);
        put_series(f, &s, s.mean_cost, &x, &y, "mean-cost");
        put_legend(f, 0, "mean-cost", "mean cost E_Q[c]");
        if (has_base)
            put_legend(f, 1, "bound", "bound min(1, E_&#947;[c]/q)");
        if (has_ucb)
            put_legend(f, 2, "bound-ucb", "its upper confidence value min(1, UCB(E_&#947;[c])/q)");
        if (s.cost_low && s.cost_high)
            put_legend(f, 3, "band mean-cost-band", "confidence interval of E_Q[c]");
        fputs("</svg>\n<p class=\"caption\">", f);
        if (has_base) {
            fputs("The dashed curve is the bound min(1, E_&#947;[c]/q) with E_&#947;[c] = ", f);
            put_num(f, base);
            fputs(" (cost_base_mean).", f);
            if (has_ucb) {
                fputs(" The dotted curve is min(1, UCB(E_&#947;[c])/q) with UCB(E_&#947;[c]) = ",
                      f);
                put_num(f, ucb);
                fputs(", the one-sided upper confidence value (cost_bound_ucb &times; q).", f);
            }
        } else {
            fputs("No bound drawn: the run has no cost_base_mean.", f);
        }
        fputs("</p>\n", f);
    } else {
        fputs("<p class=\"caption no-data\">No cost recorded in the sweep.</p>\n", f);
    }
    put_sweep_table(f, &s, ms, nms);
    sweep_free(&s);
    mseries_free(ms, nms);
    qz_h5_metrics_free(&list);
}

/* The rows of the figures table for the fields of `section` that loc has (fields.h),
 * as inspect shows them; the job has a section of its own (put_job). */
static void put_rows(FILE *f, hid_t loc, enum qz_field_section section)
{
    for (size_t i = 0; i < qz_record_nfields; i++) {
        const struct qz_field *field = &qz_record_fields[i];
        char *text = NULL;
        enum qz_status rc;

        if (field->section != section || field->show == QZ_SHOW_HIDDEN ||
            field->show == QZ_SHOW_JOB)
            continue;
        rc = qz_inspect_field(loc, field, &text);
        if (rc == QZ_OK && !text)
            continue;
        fprintf(f, "<tr data-attr=\"%s\"><th>", field->name);
        esc(f, field->label);
        fputs("</th><td>", f);
        esc(f, text ? text : "(unreadable)");
        fputs("</td></tr>\n", f);
        free(text);
    }
}

static void put_payload(FILE *f, hid_t selected)
{
    hid_t dset = H5Dopen2(selected, "payload", H5P_DEFAULT), type = H5I_INVALID_HID;

    if (dset < 0)
        return;
    fputs("<tr data-attr=\"payload\"><th>selected payload</th><td>", f);
    if ((type = H5Dget_type(dset)) >= 0 && H5Tget_class(type) == H5T_STRING &&
        H5Tis_variable_str(type) > 0) {
        hid_t mtype = H5Tcopy(type);
        char *s = NULL;
        if (mtype >= 0 && H5Dread(dset, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, &s) >= 0 && s) {
            fputs("<pre class=\"payload\">", f);
            esc_n(f, s, TEXT_SHOWN);
            fputs("</pre>", f);
            free(s); /* HDF5 allocates variable-length strings with malloc by default */
        } else {
            fputs("(unreadable)", f);
        }
        if (mtype >= 0)
            H5Tclose(mtype);
    } else {
        double *d = NULL;
        size_t n = 0;
        if (qz_h5_read_f64_1d(selected, "payload", &d, &n, NULL) == QZ_OK) {
            for (size_t i = 0; i < n && i < 16; i++) {
                fputs(i ? ", " : "", f);
                put_num(f, d[i]);
            }
            if (n > 16)
                fprintf(f, ", &hellip; (%zu values)", n);
        } else {
            fputs("(unreadable)", f);
        }
        free(d);
    }
    fputs("</td></tr>\n", f);
    if (type >= 0)
        H5Tclose(type);
    H5Dclose(dset);
}

/* The figures table: one tbody per section (class = the section's name), the
 * selected sample's from its selected/ group with the payload. */
static void put_figures(FILE *f, hid_t run)
{
    hid_t sel;

    fputs("<table class=\"figures\">\n", f);
    for (int s = 0; s < QZ_SECTIONS; s++) {
        if (s == QZ_SECTION_JOB)
            continue;
        fprintf(f, "<tbody class=\"%s\">\n", qz_field_section_name((enum qz_field_section)s));
        if (s != QZ_SECTION_SELECTED)
            put_rows(f, run, (enum qz_field_section)s);
        else if (H5Lexists(run, "selected", H5P_DEFAULT) > 0 &&
                 (sel = H5Gopen2(run, "selected", H5P_DEFAULT)) >= 0) {
            put_rows(f, sel, QZ_SECTION_SELECTED);
            put_payload(f, sel);
            H5Gclose(sel);
        }
        fputs("</tbody>\n", f);
    }
    fputs("</table>\n", f);
}

/* A figure of the metrics table, to 6 significant digits; its title holds it exactly. */
static void put_cell(FILE *f, double x)
{
    if (isnan(x)) {
        fputs("<td>&ndash;</td>", f);
        return;
    }
    fputs("<td title=\"", f);
    put_num(f, x);
    fprintf(f, "\">%.6g</td>", x);
}

/* An interval [lo, hi] to 6 significant digits, exactly in its title. */
static void put_interval(FILE *f, double lo, double hi)
{
    fputs("<td title=\"", f);
    put_num(f, lo);
    fputs(", ", f);
    put_num(f, hi);
    fputs("\">[", f);
    if (isnan(lo))
        fputs("&ndash;", f);
    else
        fprintf(f, "%.6g", lo);
    fputs(", ", f);
    if (isnan(hi))
        fputs("&ndash;", f);
    else
        fprintf(f, "%.6g", hi);
    fputs("]</td>", f);
}

static void put_text_cell(FILE *f, const char *s)
{
    fputs("<td>", f);
    esc(f, s ? s : "?");
    fputs("</td>", f);
}

/* The run's metrics at its own q: E_Q with its interval, standard error and method,
 * and E_gamma for scope "all", one row per metric in the job's order. */
static void put_metrics(FILE *f, hid_t run)
{
    struct qz_h5_metrics list;

    if (qz_h5_read_metrics(run, "metrics", H5I_INVALID_HID, &list) == QZ_OK && list.n) {
        fputs("<h3>Metrics</h3>\n<table class=\"metrics\">\n<thead><tr><th>metric</th>"
              "<th>scope</th><th>kind</th><th>evaluated</th><th>invalid</th><th>E_Q</th>"
              "<th>interval</th><th>s.e.</th><th>method</th>"
              "<th>E_&#947;</th><th>interval</th><th>s.e.</th></tr></thead>\n"
              "<tbody>\n",
              f);
        for (size_t i = 0; i < list.n; i++) {
            const struct qz_h5_metric *m = &list.m[i];
            fputs("<tr data-metric=\"", f);
            esc(f, m->name);
            fputs("\"><th>", f);
            esc(f, m->name);
            fputs("</th>", f);
            put_text_cell(f, m->scope);
            put_text_cell(f, m->kind);
            fprintf(f, "<td>%llu</td><td>%llu</td>", m->evaluated, m->invalid);
            put_cell(f, m->q_mean);
            put_interval(f, m->q_low, m->q_high);
            put_cell(f, m->q_stderr);
            put_text_cell(f, m->ci_method);
            if (m->has_base) {
                put_cell(f, m->b_mean);
                put_interval(f, m->b_low, m->b_high);
                put_cell(f, m->b_stderr);
            } else {
                fputs("<td colspan=\"3\" class=\"no-base\">(scope top)</td>", f);
            }
            fputs("</tr>\n", f);
        }
        fputs("</tbody>\n</table>\n<p class=\"caption\">E_Q: the metric under the run's "
              "quantilized distribution at its q (exact weights); E_&#947;: over every valid "
              "sample (scope all). Intervals at the run's confidence, by the method named.</p>\n",
              f);
    }
    qz_h5_metrics_free(&list);
}

static void put_job(FILE *f, hid_t run)
{
    char *s = NULL, *pretty = NULL;
    cJSON *job;

    const struct qz_field *field = qz_field_find(QZ_GROUP_RUN, "job");

    if (!field || qz_h5_read_string_attr(run, field->name, &s, NULL))
        return;
    if ((job = cJSON_Parse(s)))
        pretty = cJSON_Print(job);
    fputs("<details class=\"job\"><summary>job</summary>\n<pre>", f);
    esc(f, pretty ? pretty : s);
    fputs("</pre>\n</details>\n", f);
    cJSON_free(pretty);
    cJSON_Delete(job);
    free(s);
}

static void put_run(FILE *f, hid_t runs, const char *name, size_t id)
{
    hid_t run = H5Gopen2(runs, name, H5P_DEFAULT);

    fprintf(f, "<section class=\"run\" id=\"run-%zu\" data-run=\"", id);
    esc(f, name);
    fputs("\">\n<h2>run <span class=\"run-name\">", f);
    esc(f, name);
    fputs("</span></h2>\n", f);
    if (run < 0) {
        fputs("<p class=\"no-data\">(not a readable run group)</p>\n</section>\n", f);
        return;
    }
    put_figures(f, run);
    put_metrics(f, run);
    put_histogram(f, run, id);
    put_sweep(f, run, id);
    put_job(f, run);
    fputs("</section>\n", f);
    H5Gclose(run);
}

/* Widen the q range [*qlo, *qhi] and the value range [*lo, *hi] to c's points. */
static void curve_range(const struct qz_task_curve *c, double *qlo, double *qhi, double *lo,
                        double *hi, int *any)
{
    for (size_t i = 0; i < c->n; i++) {
        if (!(c->q[i] > 0) || !isfinite(c->q[i]) || !isfinite(c->v[i]))
            continue;
        *qlo = *any ? fmin(*qlo, c->q[i]) : c->q[i];
        *qhi = *any ? fmax(*qhi, c->q[i]) : c->q[i];
        *lo = *any ? fmin(*lo, c->v[i]) : c->v[i];
        *hi = *any ? fmax(*hi, c->v[i]) : c->v[i];
        *any = 1;
    }
}

/* One plot of a job with tasks: `what` (NULL: the proxy utility) against q for each
 * task on the page (list[first], ... while under `job`), and the mean over all the
 * job's tasks (mean, computed by qz_task_means_read). */
static void put_tasks_plot(FILE *f, hid_t runs, const struct qz_runlist *list, size_t first,
                           const char *job, const char *what, const struct qz_task_curve *mean,
                           size_t id, size_t k)
{
    struct qz_task_curve *c = calloc(TASKS_DRAWN, sizeof *c);
    size_t which[TASKS_DRAWN], nc = 0, shown = 0, jl = strlen(job);
    double qlo = 0, qhi = 0, lo = 0, hi = 0, step;
    struct axis x, y;
    int any = 0;
    char svg_id[64];

    if (!c)
        return;
    for (size_t i = first; i < list->n && strncmp(list->name[i], job, jl) == 0 &&
                           strncmp(list->name[i] + jl, "/tasks/", 7) == 0;
         i++) {
        hid_t g;
        shown++;
        if (nc == TASKS_DRAWN || (g = H5Gopen2(runs, list->name[i], H5P_DEFAULT)) < 0)
            continue;
        if (qz_task_curve_read(g, what, &c[nc])) {
            curve_range(&c[nc], &qlo, &qhi, &lo, &hi, &any);
            which[nc++] = i;
        }
        H5Gclose(g);
    }
    curve_range(mean, &qlo, &qhi, &lo, &hi, &any);
    fputs("<h3>", f);
    if (what) {
        fputs("Metric <span class=\"metric-name\">", f);
        esc(f, what);
        fputs("</span>", f);
    } else {
        fputs("Proxy utility", f);
    }
    fputs(" against q, per task and over tasks</h3>\n", f);
    if (!any) {
        fputs("<p class=\"caption no-data\">Nothing to plot.</p>\n", f);
        free(c);
        return;
    }
    log_axis(&x, qlo, qhi);
    nice_axis(&y, lo, hi, &step);
    snprintf(svg_id, sizeof svg_id, "tasks-%zu", id);
    svg_open(f, "tasks-plot", svg_id, k, what ? "A metric against q per task" : "E_Q[u] per task");
    put_axes(f, &x, 1, &y, step, "q (log scale)", what ? "E_Q[metric]" : "E_Q[u]");
    for (size_t i = 0; i < nc; i++) {
        struct sweep s = {0};
        const char *name = strstr(list->name[which[i]], "/tasks/");
        s.q = c[i].q;
        s.n = c[i].n;
        put_series_as(f, &s, c[i].v, NULL, &x, &y, "task-line", name ? name + 7 : NULL);
    }
    if (mean->n) {
        struct sweep s = {0};
        s.q = mean->q;
        s.n = mean->n;
        put_series_as(f, &s, mean->v, NULL, &x, &y, "tasks-mean", "mean over tasks");
    }
    fprintf(f,
            "</svg>\n<ul class=\"legend\">\n<li><span class=\"swatch task-line\"></span>each "
            "task (%zu drawn of the %zu on this page)</li>\n",
            nc, shown);
    if (mean->n)
        fputs("<li><span class=\"swatch tasks-mean\"></span>mean over the job's tasks "
              "</li>\n",
              f);
    fputs("</ul>\n", f);
    for (size_t i = 0; i < nc; i++)
        qz_task_curve_free(&c[i]);
    free(c);
}

/* A job with tasks: a section before its first task with the proxy utility and each
 * metric (the accuracy, for a reference-answer metric) against q, per task and
 * averaged over all the job's tasks (qz_task_means_read). */
static void put_tasks(FILE *f, hid_t runs, const struct qz_runlist *list, size_t first, size_t jl,
                      size_t id)
{
    char *job = strndup(list->name[first], jl);
    hid_t g = H5I_INVALID_HID;
    struct qz_task_means tm = {0};

    if (!job || H5Lexists(runs, job, H5P_DEFAULT) <= 0 ||
        (g = H5Gopen2(runs, job, H5P_DEFAULT)) < 0 || qz_task_means_read(g, &tm) != QZ_OK ||
        tm.tasks == 0)
        goto done;
    fprintf(f, "<section class=\"tasks\" id=\"tasks-%zu\" data-job=\"", id);
    esc(f, job);
    fputs("\">\n<h2>tasks of job <span class=\"run-name\">", f);
    esc(f, job);
    fprintf(f,
            "</span></h2>\n<p class=\"caption\">Each task's E_Q against q (thin grey lines, "
            "one per task shown on this page) and the mean over all %zu tasks of the job "
            "(bold red; NaN where a task has no value). For a metric that scores the "
            "reference answer this is the quantilizer's accuracy.</p>\n",
            tm.tasks);
    for (size_t k = 0; k <= tm.metrics.n; k++) {
        struct qz_task_curve mean = {tm.q, k ? tm.metric + (k - 1) * tm.nq : tm.utility, tm.nq};
        put_tasks_plot(f, runs, list, first, job, k ? tm.metrics.m[k - 1].name : NULL, &mean, id,
                       k);
    }
    fputs("</section>\n", f);
done:
    qz_task_means_free(&tm);
    if (g >= 0)
        H5Gclose(g);
    free(job);
}

static const char style[] =
    "body{font-family:sans-serif;margin:2em auto;max-width:60em;color:#222;background:#fff}"
    "h1{font-size:1.6em}h2{border-top:2px solid #ccc;padding-top:.6em}"
    "table{border-collapse:collapse;margin:.5em 0}"
    "th,td{border:1px solid #ddd;padding:.2em .6em;text-align:left;vertical-align:top}"
    "table.figures th{font-weight:normal;color:#555}"
    "tbody.safety tr{background:#fff8e6}"
    "table.sweep td{text-align:right;font-variant-numeric:tabular-nums}"
    "pre{white-space:pre-wrap;word-break:break-word;margin:0}"
    ".caption{color:#444;font-size:.9em;max-width:"
    "760px}"
    "svg.plot{display:block;margin:.6em 0;background:#fcfcfc;border:1px solid #eee}"
    "svg .grid{stroke:#eee}svg .axis-line,svg .tick{stroke:#333}"
    "svg text{font-size:12px;fill:#222}svg .axis-label{font-size:13px}"
    "svg .bar{fill:#4a7fb5}"
    "svg .threshold{stroke:#c0392b;stroke-width:2;stroke-dasharray:6 4}"
    "svg .threshold-label{fill:#c0392b;font-weight:bold}"
    "svg .selected{fill:#27ae60;stroke:#145a32;stroke-width:1.5}"
    "svg .selected-line{stroke:#27ae60;stroke-width:1.5;stroke-dasharray:2 3}"
    "svg .selected-label{fill:#1e8449;font-weight:bold}"
    "svg .series{fill:none;stroke-width:2}"
    "svg .mean-utility{stroke:#4a7fb5}svg circle.mean-utility{fill:#4a7fb5}"
    "svg .mean-cost{stroke:#d35400}svg circle.mean-cost{fill:#d35400}"
    "svg .bound{fill:none;stroke:#7f8c8d;stroke-width:2;stroke-dasharray:6 4}"
    "svg .bound-ucb{fill:none;stroke:#2c3e50;stroke-width:1.5;stroke-dasharray:2 3}"
    "svg .band{stroke:none;opacity:.25}svg .mean-utility-band{fill:#4a7fb5}"
    "svg .mean-cost-band{fill:#d35400}svg .legend-key.band{stroke-width:8;opacity:.35}"
    "svg .legend-key.mean-utility-band{stroke:#4a7fb5}svg "
    ".legend-key.mean-cost-band{stroke:#d35400}"
    "svg .legend-key{stroke-width:2}"
    "ul.legend{list-style:none;padding:0;margin:.2em 0;font-size:.9em}"
    "ul.legend li{margin:.1em 0}.swatch{display:inline-block;width:22px;height:4px;"
    "vertical-align:middle;margin-right:.5em}.swatch.mean-utility{background:#4a7fb5}"
    ".metric-name{font-family:monospace;white-space:pre}"
    "svg .task-line{fill:none;stroke:#95a5a6;stroke-width:1.2;opacity:.7}"
    "svg circle.task-line{fill:#95a5a6;stroke:none}"
    "svg .tasks-mean{fill:none;stroke:#c0392b;stroke-width:3}"
    "svg circle.tasks-mean{fill:#c0392b}.swatch.task-line{background:#95a5a6}"
    ".swatch.tasks-mean{background:#c0392b}";

/* The metrics' colours (class metric-J, J the metric's position in the job mod 16). */
static const char *const metric_colors[METRIC_COLORS] = {
    "#2ca02c", "#9467bd", "#d62728", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#ff7f0e",
    "#1f3a93", "#7f8c8d", "#16a085", "#8e44ad", "#c0392b", "#f39c12", "#2c3e50", "#27ae60"};

static void put_page(FILE *f, const char *path, long long version, hid_t runs,
                     const struct qz_runlist *list, const char *only)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<title>quantilize report: ",
          f);
    esc(f, path);
    fprintf(f, "</title>\n<style>%s", style);
    for (int j = 0; j < METRIC_COLORS; j++)
        fprintf(f,
                "svg .metric-%d{stroke:%s}svg circle.metric-%d,svg .metric-band.metric-%d{fill:%s}"
                ".swatch.metric-%d{background:%s}",
                j, metric_colors[j], j, j, metric_colors[j], j, metric_colors[j]);
    fputs("</style>\n</head>\n<body>\n<h1>quantilize report</h1>\n", f);
    fputs("<p class=\"file\">Record file <code>", f);
    esc(f, path);
    fprintf(f, "</code>, format version %lld", version);
    if (only) {
        fputs(", run <code>", f);
        esc(f, only);
        fputs("</code>", f);
    }
    fprintf(f, ": %zu run%s.</p>\n", list->n, list->n == 1 ? "" : "s");
    if (list->n > 1) {
        fputs("<nav><ul class=\"runs\">\n", f);
        for (size_t i = 0; i < list->n; i++) {
            fprintf(f, "<li><a href=\"#run-%zu\">", i);
            esc(f, list->name[i]);
            fputs("</a></li>\n", f);
        }
        fputs("</ul></nav>\n", f);
    }
    for (size_t i = 0, jobs = 0; i < list->n; i++) {
        const char *t = strstr(list->name[i], "/tasks/");
        size_t jl = t ? (size_t)(t - list->name[i]) : 0;
        if (t && (i == 0 || strncmp(list->name[i - 1], list->name[i], jl + 7) != 0))
            put_tasks(f, runs, list, i, jl, jobs++);
        put_run(f, runs, list->name[i], i);
    }
    fputs("</body>\n</html>\n", f);
}

/* out, or path with its .h5 suffix replaced by .html; malloc'd. */
static char *output_name(const char *path, const char *out)
{
    size_t len = strlen(path);
    char *s;

    if (out)
        return strdup(out);
    if (len > 3 && strcmp(path + len - 3, ".h5") == 0)
        len -= 3;
    if ((s = malloc(len + 6))) {
        memcpy(s, path, len);
        memcpy(s + len, ".html", 6);
    }
    return s;
}

/* The report must not replace the record it reads. */
static enum qz_status check_output(const char *path, const char *out, struct qz_error *err)
{
    struct stat a, b;
    int exists = 0;
    enum qz_status rc;
    size_t n = strlen(out);

    if (n == 0 || out[n - 1] == '/')
        return qz_error_set(err, QZ_EARGS, "\"%s\": not a file name", out);
    if ((rc = qz_safefile_target(out, &exists, err)) || (rc = qz_safefile_check_dir(out, err)))
        return rc;
    if (exists && stat(path, &a) == 0 && stat(out, &b) == 0 && a.st_dev == b.st_dev &&
        a.st_ino == b.st_ino)
        return qz_error_set(err, QZ_EARGS, "%s: is the record file itself, not a report's name",
                            out);
    return QZ_OK;
}

static enum qz_status unknown_run(const char *path, const char *run, const struct qz_runlist *all,
                                  struct qz_error *err)
{
    char names[512] = "";
    size_t used = 0;

    for (size_t i = 0; i < all->n && i < NAMES_IN_ERROR && used < sizeof names; i++)
        used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "",
                                 all->name[i]);
    if (all->n > NAMES_IN_ERROR && used < sizeof names)
        snprintf(names + used, sizeof names - used, ", ...");
    if (all->n == 0)
        return qz_error_set(err, QZ_EARGS, "%s: no run \"%s\" (the file holds no runs)", path, run);
    return qz_error_set(err, QZ_EARGS, "%s: no run \"%s\" (it holds: %s)", path, run, names);
}

enum qz_status qz_report(const char *path, const char *run, const char *out, struct qz_error *err)
{
    struct qz_h5_quiet quiet;
    struct qz_runlist list = {0};
    struct qz_safefile sf;
    hid_t file = H5I_INVALID_HID, runs = H5I_INVALID_HID;
    long long version = 0;
    char *target = NULL;
    FILE *f = NULL;
    int began = 0, found;
    enum qz_status rc;

    memset(&sf, 0, sizeof sf);
    sf.fd = -1;
    qz_h5_silence(&quiet);
    if ((rc = qz_output_open(path, &file, err)))
        goto done;
    qz_h5_read_num_attr(file, "format_version", H5T_NATIVE_LLONG, &version, NULL);
    if ((rc = qz_runlist_read(file, path, &list, err)))
        goto done;
    if (run) {
        found = 0;
        for (size_t i = 0; i < list.n && !found; i++) {
            size_t n = strlen(run);
            found =
                strcmp(list.name[i], run) == 0 || (strncmp(list.name[i], run, n) == 0 &&
                                                   strncmp(list.name[i] + n, "/tasks/", 7) == 0);
        }
        if (!found) {
            rc = unknown_run(path, run, &list, err);
            goto done;
        }
        qz_runlist_filter(&list, run, &found);
    }
    if (!(target = output_name(path, out))) {
        rc = qz_error_set(err, QZ_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = check_output(path, target, err)))
        goto done;
    if (list.n && (runs = H5Gopen2(file, "runs", H5P_DEFAULT)) < 0) {
        rc = qz_error_set(err, QZ_EHDF5, "%s: cannot read /runs", path);
        goto done;
    }
    if ((rc = qz_safefile_begin(target, 0, &sf, err)))
        goto done;
    began = 1;
    if (!(f = fdopen(sf.fd, "w"))) {
        rc = qz_error_set(err, QZ_EIO, "%s: cannot write %s", target, sf.tmp);
        goto done;
    }
    sf.fd = -1; /* f owns it now */
    put_page(f, path, version, runs, &list, run);
    if (ferror(f) | (fclose(f) != 0)) {
        f = NULL;
        rc = qz_error_set(err, QZ_EIO, "%s: cannot write the report to %s", target, sf.tmp);
        goto done;
    }
    f = NULL;
    rc = qz_safefile_commit(&sf, err);
    began = 0;
done:
    if (f)
        fclose(f);
    if (began)
        qz_safefile_abort(&sf);
    free(target);
    qz_runlist_free(&list);
    if (runs >= 0)
        H5Gclose(runs);
    if (file >= 0)
        H5Fclose(file);
    qz_h5_restore(&quiet);
    return rc;
}
