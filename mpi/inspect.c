#include "inspect.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "format.h"
#include "h5util.h"
#include "output.h"
#include "runlist.h"
#include "taskmeans.h"
#include "utf8.h"

#define KEY_WIDTH 19       /* "selected position:" and a space */
#define QZ_SHOWN_SWEEP 256 /* sweep rows shown (a job lists at most QZ_SWEEP_MAX) */
#define TOP_SHOWN 5        /* entries of the top set shown */
#define PAYLOAD_SHOWN 8    /* payload values shown */
#define TEXT_SHOWN 240     /* bytes of a text payload shown */
#define JOB_SHOWN 60       /* characters of the job's JSON shown */

/* A number as f->show says, with f's units where the form does not imply them. */
static void format_number(char *buf, size_t n, const struct qz_field *f, double d, uint64_t u,
                          long long i)
{
    char num[QZ_FORMAT_MAX];
    int units = 1;

    switch (f->show) {
    case QZ_SHOW_EXACT:
        qz_format_exact(num, sizeof num, d);
        break;
    case QZ_SHOW_RATE:
        qz_format_human(num, sizeof num, d);
        break;
    case QZ_SHOW_SECONDS:
        qz_format_duration(num, sizeof num, d);
        units = 0;
        break;
    case QZ_SHOW_BYTES:
        qz_format_mib(num, sizeof num, u);
        units = 0;
        break;
    case QZ_SHOW_COUNT:
    case QZ_SHOW_TEXT:
    case QZ_SHOW_JOB:
    case QZ_SHOW_HIDDEN:
        if (f->type == QZ_FIELD_I32)
            snprintf(num, sizeof num, "%lld", i);
        else if (f->type == QZ_FIELD_U64)
            snprintf(num, sizeof num, "%llu", (unsigned long long)u);
        else
            qz_format_exact(num, sizeof num, d);
        break;
    }
    units = units && f->units;
    snprintf(buf, n, "%s%s%s", num, units ? " " : "", units ? f->units : "");
}

enum qz_status qz_inspect_field(hid_t loc, const struct qz_field *f, char **text)
{
    char buf[2 * QZ_FORMAT_MAX];
    double d = 0;
    uint64_t u = 0;
    long long i = 0;
    int found = 0;
    enum qz_status rc = QZ_EINTERNAL;

    *text = NULL;
    switch (f->type) {
    case QZ_FIELD_STR:
        return qz_h5_read_string_attr(loc, f->name, text, &found);
    case QZ_FIELD_U64:
        rc = qz_h5_read_num_attr(loc, f->name, H5T_NATIVE_UINT64, &u, &found);
        d = (double)u;
        break;
    case QZ_FIELD_I32:
        rc = qz_h5_read_num_attr(loc, f->name, H5T_NATIVE_LLONG, &i, &found);
        d = (double)i;
        break;
    case QZ_FIELD_F64:
        rc = qz_h5_read_num_attr(loc, f->name, H5T_NATIVE_DOUBLE, &d, &found);
        break;
    }
    if (rc || !found)
        return rc;
    format_number(buf, sizeof buf, f, d, u, i);
    *text = strdup(buf);
    return *text ? QZ_OK : QZ_ENOMEM;
}

/* Read the first n values (as mtype) of the 1-D dataset loc/name; *len gets its
 * length. As the h5util readers: QZ_OK with *found 0 when there is no such
 * dataset (found NULL: QZ_EHDF5), QZ_EHDF5 when it cannot be read. */
static enum qz_status read_head(hid_t loc, const char *name, hid_t mtype, size_t n, void *buf,
                                hsize_t *len, int *found)
{
    hid_t dset = H5I_INVALID_HID, fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID;
    htri_t exists = H5Lexists(loc, name, H5P_DEFAULT);
    hsize_t start = 0, count;
    enum qz_status rc = QZ_EHDF5;

    *len = 0;
    if (found)
        *found = exists > 0;
    if (exists <= 0)
        return exists == 0 && found ? QZ_OK : QZ_EHDF5;
    if ((dset = H5Dopen2(loc, name, H5P_DEFAULT)) < 0 || (fspace = H5Dget_space(dset)) < 0 ||
        H5Sget_simple_extent_ndims(fspace) != 1 || H5Sget_simple_extent_dims(fspace, len, NULL) < 0)
        goto done;
    count = *len < n ? *len : n;
    if (count == 0) {
        rc = QZ_OK;
        goto done;
    }
    if (H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &start, NULL, &count, NULL) >= 0 &&
        (mspace = H5Screate_simple(1, &count, NULL)) >= 0 &&
        H5Dread(dset, mtype, mspace, fspace, H5P_DEFAULT, buf) >= 0)
        rc = QZ_OK;
done:
    if (mspace >= 0)
        H5Sclose(mspace);
    if (fspace >= 0)
        H5Sclose(fspace);
    if (dset >= 0)
        H5Dclose(dset);
    return rc;
}

/* Terminal-safe text of s (control characters escaped, utf8.h), malloc'd, or NULL. */
static char *shown(const char *s, size_t max)
{
    size_t len = strlen(s), cap = 4 * (len < max ? len : max) + 8;
    char *t = malloc(cap);

    if (t)
        qz_utf8_escape(s, len, max, t, cap);
    return t;
}

/* Values may come from a server or a program (texts, messages): always escaped. */
static void put_line(FILE *out, const char *label, const char *value)
{
    char key[64], *safe = shown(value, SIZE_MAX);

    snprintf(key, sizeof key, "%s:", label);
    fprintf(out, "  %-*s%s\n", KEY_WIDTH, key, safe ? safe : "(out of memory)");
    free(safe);
}

/* The job's JSON on one line, cut to JOB_SHOWN characters. */
static void show_job(FILE *out, const char *label, const char *json)
{
    size_t len = strlen(json), n = len < JOB_SHOWN ? len : JOB_SHOWN;
    char text[JOB_SHOWN + 48];

    for (size_t i = 0; i < n; i++)
        text[i] = (json[i] == '\n' || json[i] == '\r' || json[i] == '\t') ? ' ' : json[i];
    if (n < len)
        snprintf(text + n, sizeof text - n, "... (%zu bytes)", len);
    else
        text[n] = '\0';
    put_line(out, label, text);
}

/* One line per field of `section` in loc: "-" for a field every run has but loc
 * lacks, nothing for one that only some runs have. */
static void show_section(FILE *out, hid_t loc, enum qz_field_section section)
{
    for (size_t i = 0; i < qz_record_nfields; i++) {
        const struct qz_field *f = &qz_record_fields[i];
        char *text = NULL;
        enum qz_status rc;

        if (f->section != section || f->show == QZ_SHOW_HIDDEN)
            continue;
        rc = qz_inspect_field(loc, f, &text);
        if (rc)
            put_line(out, f->label, "(unreadable)");
        else if (text && f->show == QZ_SHOW_JOB)
            show_job(out, f->label, text);
        else if (text)
            put_line(out, f->label, text);
        else if (f->when == QZ_WHEN_ALWAYS || f->when == QZ_WHEN_COMMIT)
            put_line(out, f->label, "-");
        free(text);
    }
}

/* A text payload (a scalar UTF-8 string): its first TEXT_SHOWN bytes. 1 if it was
 * text and shown, 0 if it is not a string dataset. */
static int show_text_payload(FILE *out, hid_t selected)
{
    hid_t dset = H5Dopen2(selected, "payload", H5P_DEFAULT), ftype, mtype;
    char *s = NULL, line[4 * TEXT_SHOWN + 64];
    int shown = 0;

    if (dset < 0)
        return 0;
    ftype = H5Dget_type(dset);
    if (ftype >= 0 && H5Tget_class(ftype) == H5T_STRING && H5Tis_variable_str(ftype) > 0) {
        mtype = H5Tcopy(H5T_C_S1);
        H5Tset_size(mtype, H5T_VARIABLE);
        H5Tset_cset(mtype, H5T_CSET_UTF8);
        if (H5Dread(dset, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, &s) >= 0 && s) {
            size_t len = strlen(s);
            char quoted[4 * TEXT_SHOWN + 8];
            /* cut at a character boundary, never inside an escape */
            qz_utf8_escape(s, len, TEXT_SHOWN, quoted, sizeof quoted);
            snprintf(line, sizeof line, "\"%s\" (%zu bytes)", quoted, len);
            put_line(out, "selected text", line);
            free(s); /* HDF5 allocates variable-length strings with malloc by default */
        } else {
            put_line(out, "selected text", "(unreadable)");
        }
        H5Tclose(mtype);
        shown = 1;
    }
    if (ftype >= 0)
        H5Tclose(ftype);
    H5Dclose(dset);
    return shown;
}

static void show_payload(FILE *out, hid_t selected)
{
    double v[PAYLOAD_SHOWN];
    hsize_t len;
    char text[PAYLOAD_SHOWN * 26 + 48], num[32];
    size_t used = 0;
    int found;

    if (show_text_payload(out, selected))
        return;
    if (read_head(selected, "payload", H5T_NATIVE_DOUBLE, PAYLOAD_SHOWN, v, &len, &found) ||
        !found) {
        put_line(out, "selected payload", found ? "(unreadable)" : "-");
        return;
    }
    used += (size_t)snprintf(text, sizeof text, "[");
    for (hsize_t i = 0; i < len && i < PAYLOAD_SHOWN; i++) {
        qz_format_exact(num, sizeof num, v[i]);
        used += (size_t)snprintf(text + used, sizeof text - used, "%s%s", i ? ", " : "", num);
    }
    if (len > PAYLOAD_SHOWN)
        snprintf(text + used, sizeof text - used, ", ...] (%llu values)", (unsigned long long)len);
    else
        snprintf(text + used, sizeof text - used, "]");
    put_line(out, "selected payload", text);
}

static void show_selected(FILE *out, hid_t run)
{
    htri_t exists = H5Lexists(run, "selected", H5P_DEFAULT);
    hid_t selected = exists > 0 ? H5Gopen2(run, "selected", H5P_DEFAULT) : H5I_INVALID_HID;

    if (selected < 0) {
        put_line(out, "selected", exists == 0 ? "(none)" : "(unreadable)");
        return;
    }
    show_section(out, selected, QZ_SECTION_SELECTED);
    show_payload(out, selected);
    H5Gclose(selected);
}

static void show_top(FILE *out, hid_t run)
{
    uint64_t index[TOP_SHOWN];
    double utility[TOP_SHOWN], cost[TOP_SHOWN];
    hsize_t k = 0, nu = 0, nc = 0;
    htri_t exists = H5Lexists(run, "top", H5P_DEFAULT);
    hid_t top = exists > 0 ? H5Gopen2(run, "top", H5P_DEFAULT) : H5I_INVALID_HID;
    char u[32], c[32];
    int has_cost, stored = 1;

    if (exists == 0 &&
        qz_h5_read_num_attr(run, "top_stored", H5T_NATIVE_INT, &stored, NULL) == QZ_OK && !stored) {
        put_line(out, "top set", "(not stored)");
        return;
    }
    if (top < 0 || read_head(top, "index", H5T_NATIVE_UINT64, TOP_SHOWN, index, &k, NULL) ||
        read_head(top, "utility", H5T_NATIVE_DOUBLE, TOP_SHOWN, utility, &nu, NULL) || nu != k) {
        put_line(out, "top set", exists == 0 ? "(none)" : "(unreadable)");
        if (top >= 0)
            H5Gclose(top);
        return;
    }
    has_cost =
        read_head(top, "cost", H5T_NATIVE_DOUBLE, TOP_SHOWN, cost, &nc, NULL) == QZ_OK && nc == k;
    fprintf(out, "  top set (first %llu of %llu):\n",
            (unsigned long long)(k < TOP_SHOWN ? k : TOP_SHOWN), (unsigned long long)k);
    fprintf(out, "    %8s  %-20s  ", "position", "index");
    fprintf(out, has_cost ? "%-24s  cost\n" : "%s\n", "utility");
    for (hsize_t i = 0; i < k && i < TOP_SHOWN; i++) {
        qz_format_exact(u, sizeof u, utility[i]);
        fprintf(out, "    %8llu  %-20llu  ", (unsigned long long)i, (unsigned long long)index[i]);
        if (has_cost) {
            qz_format_exact(c, sizeof c, cost[i]);
            fprintf(out, "%-24s  %s\n", u, c);
        } else {
            fprintf(out, "%s\n", u);
        }
    }
    H5Gclose(top);
}

/* The archive, if the run has one: its mode and size. */
static void show_archive(FILE *out, hid_t run)
{
    char *mode = NULL, line[160];
    uint64_t count = 0;
    hid_t samples;

    if (H5Lexists(run, "samples", H5P_DEFAULT) <= 0)
        return;
    samples = H5Gopen2(run, "samples", H5P_DEFAULT);
    if (samples < 0)
        return;
    qz_h5_read_string_attr(samples, "mode", &mode, NULL);
    qz_h5_read_num_attr(samples, "count", H5T_NATIVE_UINT64, &count, NULL);
    snprintf(line, sizeof line, "%s, %llu samples (samples/)", mode ? mode : "?",
             (unsigned long long)count);
    put_line(out, "archive", line);
    free(mode);
    H5Gclose(samples);
}

/* A number for a table column: the fewest digits that read back exactly; "-" for NaN. */
static void cell(char *buf, size_t n, double x)
{
    if (isnan(x))
        snprintf(buf, n, "-");
    else
        qz_format_exact(buf, n, x);
}

/* The sweep's interval columns (README "Confidence intervals"), shown when present. */
static const char *const sweep_extra[] = {"mean_utility_ci_low", "mean_utility_ci_high",
                                          "mean_cost_ci_low",    "mean_cost_ci_high",
                                          "cost_bound_ucb",      "effective_size"};
static const char *const sweep_extra_head[] = {"E_Q[u] low",  "E_Q[u] high", "E_Q[c] low",
                                               "E_Q[c] high", "bound UCB",   "n_eff"};
enum { SWEEP_EXTRA = sizeof sweep_extra / sizeof sweep_extra[0] };

/* Each metric's E_Q against q (sweep/metrics/NAME/{mean,ci_low,ci_high,stderr}), one
 * small table per metric, in the job's order. */
static void show_sweep_metrics(FILE *out, hid_t run, hid_t sweep, const double *q, size_t rows)
{
    static const char *const cols[] = {"mean", "ci_low", "ci_high", "stderr"};
    struct qz_h5_metrics list;

    if (qz_h5_read_metrics(sweep, "metrics", run, &list)) {
        put_line(out, "sweep metrics", "(unreadable)");
        qz_h5_metrics_free(&list);
        return;
    }
    for (size_t m = 0; m < list.n; m++) {
        double *v[4] = {NULL};
        size_t n[4] = {0};
        char *safe = shown(list.m[m].name, SIZE_MAX), path[256], num[4][QZ_FORMAT_MAX], qs[32];
        int ok = 1;

        for (int c = 0; c < 4; c++) {
            snprintf(path, sizeof path, "metrics/%s/%s", list.m[m].name, cols[c]);
            ok &= qz_h5_read_f64_1d(sweep, path, &v[c], &n[c], NULL) == QZ_OK && n[c] >= rows;
        }
        fprintf(out, "  sweep metric %s:\n", safe ? safe : "?");
        if (!ok) {
            fprintf(out, "    (unreadable)\n");
        } else {
            fprintf(out, "    %-12s  %-24s  %-24s  %-24s  %s\n", "q", "E_Q", "CI low", "CI high",
                    "stderr");
            for (size_t i = 0; i < rows; i++) {
                for (int c = 0; c < 4; c++)
                    cell(num[c], sizeof num[c], v[c][i]);
                snprintf(qs, sizeof qs, "%.6g", q[i]);
                fprintf(out, "    %-12s  %-24s  %-24s  %-24s  %s\n", qs, num[0], num[1], num[2],
                        num[3]);
            }
        }
        for (int c = 0; c < 4; c++)
            free(v[c]);
        free(safe);
    }
    qz_h5_metrics_free(&list);
}

/* The sweep table, if the run lists several q: the figures, the interval columns the
 * record has, then each metric's E_Q against q. */
static void show_sweep(FILE *out, hid_t run)
{
    static const char *const cols[] = {"q", "threshold", "mean_utility", "mean_cost", "cost_bound"};
    double *v[5] = {NULL}, *x[SWEEP_EXTRA] = {NULL};
    size_t n[5] = {0}, nx, rows;
    uint64_t k[QZ_SHOWN_SWEEP], idx[QZ_SHOWN_SWEEP];
    hsize_t nk = 0, ni = 0;
    hid_t sweep;
    int ok = 1;

    if (H5Lexists(run, "sweep", H5P_DEFAULT) <= 0 ||
        (sweep = H5Gopen2(run, "sweep", H5P_DEFAULT)) < 0)
        return;
    for (int c = 0; c < 5; c++)
        ok &= qz_h5_read_f64_1d(sweep, cols[c], &v[c], &n[c], NULL) == QZ_OK && n[c] == n[0];
    ok &= read_head(sweep, "top_count", H5T_NATIVE_UINT64, QZ_SHOWN_SWEEP, k, &nk, NULL) == QZ_OK &&
          read_head(sweep, "selected_index", H5T_NATIVE_UINT64, QZ_SHOWN_SWEEP, idx, &ni, NULL) ==
              QZ_OK;
    for (int c = 0; ok && c < SWEEP_EXTRA; c++)
        if (qz_h5_read_f64_1d(sweep, sweep_extra[c], &x[c], &nx, NULL) != QZ_OK || nx != n[0]) {
            free(x[c]);
            x[c] = NULL;
        }
    if (!ok) {
        put_line(out, "sweep", "(unreadable)");
    } else {
        rows = n[0] < QZ_SHOWN_SWEEP ? n[0] : QZ_SHOWN_SWEEP;
        fprintf(out, "  sweep (%zu q):\n    %-12s  %-10s  %-12s  %-12s  %-12s  %-12s  ", n[0], "q",
                "K", "threshold", "E_Q[u]", "E_Q[c]", "bound");
        for (int c = 0; c < SWEEP_EXTRA; c++)
            if (x[c])
                fprintf(out, "%-12s  ", sweep_extra_head[c]);
        fputs("selected\n", out);
        for (size_t i = 0; i < rows; i++) {
            fprintf(out, "    %-12.6g  %-10llu  %-12.6g  %-12.6g  %-12.6g  %-12.6g  ", v[0][i],
                    (unsigned long long)k[i], v[1][i], v[2][i], v[3][i], v[4][i]);
            for (int c = 0; c < SWEEP_EXTRA; c++)
                if (x[c])
                    fprintf(out, "%-12.6g  ", x[c][i]);
            fprintf(out, "%llu\n", (unsigned long long)idx[i]);
        }
        show_sweep_metrics(out, run, sweep, v[0], rows);
    }
    for (int c = 0; c < 5; c++)
        free(v[c]);
    for (int c = 0; c < SWEEP_EXTRA; c++)
        free(x[c]);
    H5Gclose(sweep);
}

/* The run's metrics (metrics/NAME), one line each in the job's order: scope, kind,
 * samples scored, E_Q with its interval, standard error and method, and E_γ for
 * scope "all". */
static void show_metrics(FILE *out, hid_t run)
{
    struct qz_h5_metrics list;

    if (qz_h5_read_metrics(run, "metrics", H5I_INVALID_HID, &list)) {
        put_line(out, "metrics", "(unreadable)");
        qz_h5_metrics_free(&list);
        return;
    }
    for (size_t i = 0; i < list.n; i++) {
        const struct qz_h5_metric *m = &list.m[i];
        char *safe = shown(m->name, SIZE_MAX), line[1024], e[4][QZ_FORMAT_MAX];
        size_t used;

        cell(e[0], sizeof e[0], m->q_mean);
        cell(e[1], sizeof e[1], m->q_low);
        cell(e[2], sizeof e[2], m->q_high);
        cell(e[3], sizeof e[3], m->q_stderr);
        used =
            (size_t)snprintf(line, sizeof line,
                             "scope %s, kind %s, %llu evaluated (%llu invalid), E_Q %s [%s, %s] "
                             "stderr %s (%s)",
                             m->scope ? m->scope : "?", m->kind ? m->kind : "?", m->evaluated,
                             m->invalid, e[0], e[1], e[2], e[3], m->ci_method ? m->ci_method : "?");
        if (m->has_base && used < sizeof line) {
            cell(e[0], sizeof e[0], m->b_mean);
            cell(e[1], sizeof e[1], m->b_low);
            cell(e[2], sizeof e[2], m->b_high);
            cell(e[3], sizeof e[3], m->b_stderr);
            snprintf(line + used, sizeof line - used, ", E_gamma %s [%s, %s] stderr %s", e[0], e[1],
                     e[2], e[3]);
        }
        {
            char key[320];
            snprintf(key, sizeof key, "metric %s", safe ? safe : "?");
            /* put_line escapes the whole value; the key is escaped already */
            fprintf(out, "  %-*s ", KEY_WIDTH - 1, key);
            free(safe);
            safe = shown(line, SIZE_MAX);
            fprintf(out, "%s\n", safe ? safe : "(out of memory)");
        }
        free(safe);
    }
    qz_h5_metrics_free(&list);
}

/* The run's figures section by section (fields.h), the selected sample with its
 * payload, then the archive, the sweep and the top set. */
static void show_run(FILE *out, hid_t run)
{
    for (int s = 0; s < QZ_SECTIONS; s++) {
        if (s == QZ_SECTION_SELECTED)
            show_selected(out, run);
        else
            show_section(out, run, (enum qz_field_section)s);
    }
    show_metrics(out, run);
    show_archive(out, run);
    show_sweep(out, run);
    show_top(out, run);
}

/* Show the run `name` (a path under /runs; a linked run is opened through its link). */
static void show_named_run(FILE *out, hid_t runs, const char *name)
{
    hid_t run = H5Gopen2(runs, name, H5P_DEFAULT);
    char *safe = shown(name, SIZE_MAX);

    fprintf(out, "\nrun %s\n", safe ? safe : "?");
    free(safe);
    if (run < 0) {
        put_line(out, "status", "(not a run group)");
        return;
    }
    show_run(out, run);
    H5Gclose(run);
}

/* After the last task of job `job` (a path under /runs): the mean over all its tasks
 * of E_Q[u] and of each metric's E_Q at each q (qz_task_means_read), one row per q. */
static void show_task_means(FILE *out, hid_t runs, const char *job)
{
    struct qz_task_means tm = {0};
    char *safe = shown(job, SIZE_MAX), num[QZ_FORMAT_MAX], qs[32];
    hid_t g = H5I_INVALID_HID;
    enum qz_status rc = QZ_EHDF5;

    if (H5Lexists(runs, job, H5P_DEFAULT) > 0 && (g = H5Gopen2(runs, job, H5P_DEFAULT)) >= 0)
        rc = qz_task_means_read(g, &tm);
    fprintf(out, "\ntasks of job %s: mean over %zu task%s\n", safe ? safe : "?", tm.tasks,
            tm.tasks == 1 ? "" : "s");
    if (rc != QZ_OK || tm.nq == 0) {
        fprintf(out, "    (unreadable)\n");
    } else {
        /* columns 24 wide, the last one unpadded */
        fprintf(out, "    %-12s  %-*s", "q", tm.metrics.n ? 24 : 0, "E_Q[u]");
        for (size_t j = 0; j < tm.metrics.n; j++) {
            char *name = shown(tm.metrics.m[j].name, SIZE_MAX);
            fprintf(out, "  %-*s", j + 1 < tm.metrics.n ? 24 : 0, name ? name : "?");
            free(name);
        }
        fputc('\n', out);
        for (size_t i = 0; i < tm.nq; i++) {
            snprintf(qs, sizeof qs, "%.6g", tm.q[i]);
            cell(num, sizeof num, tm.utility[i]);
            fprintf(out, "    %-12s  %-*s", qs, tm.metrics.n ? 24 : 0, num);
            for (size_t j = 0; j < tm.metrics.n; j++) {
                cell(num, sizeof num, tm.metric[j * tm.nq + i]);
                fprintf(out, "  %-*s", j + 1 < tm.metrics.n ? 24 : 0, num);
            }
            fputc('\n', out);
        }
    }
    qz_task_means_free(&tm);
    if (g >= 0)
        H5Gclose(g);
    free(safe);
}

enum qz_status qz_inspect(const char *path, FILE *out, struct qz_error *err)
{
    struct qz_h5_quiet quiet;
    hid_t file, runs = H5I_INVALID_HID;
    H5G_info_t info = {0};
    long long version = 0;
    htri_t has_runs;
    struct qz_runlist list = {0};
    enum qz_status rc = QZ_OK;

    qz_h5_silence(&quiet);
    if ((rc = qz_output_open(path, &file, err))) {
        qz_h5_restore(&quiet);
        return rc;
    }
    qz_h5_read_num_attr(file, "format_version", H5T_NATIVE_LLONG, &version, NULL);
    has_runs = H5Lexists(file, "runs", H5P_DEFAULT);
    if (has_runs < 0 || (has_runs > 0 && ((runs = H5Gopen2(file, "runs", H5P_DEFAULT)) < 0 ||
                                          H5Gget_info(runs, &info) < 0))) {
        rc = qz_error_set(err, QZ_EHDF5, "%s: cannot read /runs", path);
        goto done;
    }
    if (info.nlinks == 0)
        fprintf(out, "%s: quantilize record, format version %lld, no runs\n", path, version);
    else
        fprintf(out, "%s: quantilize record, format version %lld, %llu run%s\n", path, version,
                (unsigned long long)info.nlinks, info.nlinks == 1 ? "" : "s");
    if ((rc = qz_runlist_read(file, path, &list, err)))
        goto done;
    for (size_t i = 0; i < list.n; i++) {
        const char *t = strstr(list.name[i], "/tasks/");
        size_t jl = t ? (size_t)(t - list.name[i]) : 0;
        show_named_run(out, runs, list.name[i]);
        if (t && (i + 1 == list.n || strncmp(list.name[i + 1], list.name[i], jl + 7) != 0)) {
            char *job = strndup(list.name[i], jl);
            if (job)
                show_task_means(out, runs, job);
            free(job);
        }
    }
    if (fflush(out) != 0 || ferror(out))
        rc = qz_error_set(err, QZ_EIO, "%s: cannot write the summary", path);
done:
    qz_runlist_free(&list);
    if (runs >= 0)
        H5Gclose(runs);
    H5Fclose(file);
    qz_h5_restore(&quiet);
    return rc;
}
