#define _XOPEN_SOURCE 700 /* realpath */
#include "output.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agree.h"
#include "runlist.h"
#include "runname.h"
#include "sidefile.h"

/* Disk space held in `<tmp>.reserve` (qz_safefile_reserve) while HDF5 writes and
 * given back just before each H5Fclose. Why: when the flush inside H5Fclose fails,
 * HDF5 1.10 frees the file's state but leaves its id registered, and library
 * shutdown (in MPI_Finalize) then crashes on it. Giving the reserve back first leaves
 * room for that flush even when the disk or the quota filled up during the writes
 * (the raw data is written by H5Dwrite; what the close flushes is metadata and the
 * small-data buffers, well under QZ_RESERVE_BYTES). It cannot help against EIO or
 * RLIMIT_FSIZE. */
#define QZ_RESERVE_BYTES ((off_t)4 << 20)

static enum qz_status resolve_record(const char *path, char **out, struct qz_error *err);

static enum qz_status check_path_name(const char *path, struct qz_error *err)
{
    size_t n = path ? strlen(path) : 0;

    if (n == 0 || path[n - 1] == '/')
        return qz_error_set(err, QZ_EARGS, "\"%s\": not a file name", path ? path : "");
    return QZ_OK;
}

/* Whether the group path `name` (parts separated by '/') exists below loc: each part
 * is looked up in turn, since H5Lexists needs the parents to exist. */
static htri_t path_exists(hid_t loc, const char *name)
{
    char buf[1024];
    htri_t r = 1;
    size_t len = strlen(name);

    if (len >= sizeof buf)
        return -1;
    memcpy(buf, name, len + 1);
    for (char *p = buf; r > 0;) {
        char *slash = strchr(p, '/');
        if (slash)
            *slash = '\0';
        r = H5Lexists(loc, buf, H5P_DEFAULT);
        if (!slash)
            break;
        *slash = '/';
        p = slash + 1;
    }
    return r;
}

/* Check the root attributes and /runs of an open file; `shown` names it in messages. */
static enum qz_status check_format(hid_t file, const char *shown, struct qz_error *err)
{
    char *format = NULL;
    long long version = 0;
    htri_t has_runs;
    enum qz_status rc = QZ_OK;
    int found = 0;

    if (qz_h5_read_string_attr(file, "format", &format, &found) == QZ_OK && !found)
        rc = qz_error_set(err, QZ_EARGS, "%s: not a quantilize record file (no /format attribute)",
                          shown);
    else if (!format || strcmp(format, QZ_FORMAT_NAME) != 0)
        rc = qz_error_set(err, QZ_EARGS, "%s: not a quantilize record file (/format is not \"%s\")",
                          shown, QZ_FORMAT_NAME);
    else if (qz_h5_read_num_attr(file, "format_version", H5T_NATIVE_LLONG, &version, NULL) ||
             version < 1)
        rc = qz_error_set(err, QZ_EARGS,
                          "%s: not a quantilize record file (no valid /format_version)", shown);
    else if (version > QZ_FORMAT_VERSION)
        rc = qz_error_set(err, QZ_EARGS,
                          "%s: record format version %lld is newer than this quantilize "
                          "reads (%d)",
                          shown, version, QZ_FORMAT_VERSION);
    else if ((has_runs = H5Lexists(file, "runs", H5P_DEFAULT)) < 0)
        rc = qz_h5_fail(err, QZ_EHDF5, "%s: cannot look up /runs", shown);
    else if (has_runs > 0) {
        hid_t runs = H5Gopen2(file, "runs", H5P_DEFAULT);
        if (runs < 0)
            rc = qz_error_set(err, QZ_EARGS,
                              "%s: not a quantilize record file (/runs is not a group)", shown);
        else
            H5Gclose(runs);
    }
    free(format);
    return rc;
}

/* Open path (HDF5 flags) as a record file; `shown` names it in messages. */
static enum qz_status open_record(const char *path, const char *shown, unsigned flags, hid_t *file,
                                  struct qz_error *err)
{
    int exists = 0;
    htri_t is_hdf5;
    enum qz_status rc = qz_safefile_target(path, &exists, err);

    *file = H5I_INVALID_HID;
    if (rc)
        return rc;
    if (!exists)
        return qz_error_set(err, QZ_EARGS, "%s: no such file", shown);
    is_hdf5 = H5Fis_hdf5(path);
    if (is_hdf5 < 0)
        return qz_h5_fail(err, QZ_EIO, "%s: cannot read", shown);
    if (is_hdf5 == 0)
        return qz_error_set(err, QZ_EARGS, "%s: not an HDF5 file", shown);
    *file = H5Fopen(path, flags, H5P_DEFAULT);
    if (*file < 0)
        return qz_h5_fail(err, QZ_EHDF5, "%s: cannot open HDF5 file", shown);
    rc = check_format(*file, shown, err);
    if (rc) {
        H5Fclose(*file);
        *file = H5I_INVALID_HID;
    }
    return rc;
}

enum qz_status qz_output_open(const char *path, hid_t *file, struct qz_error *err)
{
    enum qz_status rc = check_path_name(path, err);
    char *real = NULL;

    *file = H5I_INVALID_HID;
    /* Through a symbolic link, the run files' names are relative to the target's
     * directory: open the target. */
    if (rc || (rc = resolve_record(path, &real, err)))
        return rc;
    if ((rc = open_record(real, path, H5F_ACC_RDONLY, file, err))) {
        free(real);
        return rc;
    }
    rc = qz_runlist_verify(*file, real, err);
    free(real);
    if (rc) {
        H5Fclose(*file);
        *file = H5I_INVALID_HID;
    }
    return rc;
}

/* 1 if /runs/<run> exists, 0 if not, negative on failure. */
static htri_t run_exists(hid_t file, const char *run)
{
    htri_t r = H5Lexists(file, "runs", H5P_DEFAULT);
    hid_t runs;

    if (r <= 0)
        return r;
    if ((runs = H5Gopen2(file, "runs", H5P_DEFAULT)) < 0)
        return -1;
    r = path_exists(runs, run);
    if (H5Gclose(runs) < 0)
        return -1;
    return r;
}

static enum qz_status run_exists_error(const char *path, const char *run, struct qz_error *err)
{
    return qz_error_set(err, QZ_EEXISTS,
                        "%s: run \"%s\" already exists (use --overwrite to replace it)", path, run);
}

enum qz_status qz_output_check(const char *path, const char *run, int overwrite,
                               struct qz_error *err)
{
    struct qz_h5_quiet quiet;
    int exists = 0;
    hid_t file;
    htri_t has_run;
    enum qz_status rc;

    if ((rc = check_path_name(path, err)) || (rc = qz_run_path_check(path, run, 0, err)) ||
        (rc = qz_safefile_target(path, &exists, err)) ||
        (exists && (rc = qz_safefile_check_writable(path, err))))
        return rc;
    if (exists) {
        qz_h5_silence(&quiet);
        rc = open_record(path, path, H5F_ACC_RDONLY, &file, err);
        if (rc == QZ_OK) {
            has_run = run_exists(file, run);
            if (has_run < 0)
                rc = qz_h5_fail(err, QZ_EHDF5, "%s: cannot look up /runs/%s", path, run);
            else if (has_run > 0 && !overwrite)
                rc = run_exists_error(path, run, err);
            if (H5Fclose(file) < 0 && rc == QZ_OK)
                rc = qz_h5_fail(err, QZ_EHDF5, "%s: cannot close", path);
        }
        qz_h5_restore(&quiet);
        if (rc)
            return rc;
    }
    return qz_safefile_check_dir(path, err);
}

/* One attribute to write: value as for qz_h5_write_attr. */
struct attr {
    const char *name;
    enum qz_h5_kind kind;
    const void *value;
};

static enum qz_status put_attrs(hid_t loc, const struct attr *a, size_t n,
                                const struct qz_h5_where *w, struct qz_error *err)
{
    for (size_t i = 0; i < n; i++)
        if (qz_h5_write_attr(loc, a[i].name, a[i].kind, a[i].value))
            return qz_h5_fail(err, QZ_EHDF5, "%s: cannot write attribute %s of %s", w->path,
                              a[i].name, w->group);
    return QZ_OK;
}

/* The attributes of the record's `group` (the table in fields.h), in table order:
 * those rec has, or with `commit` only those written at commit. */
static enum qz_status put_fields(hid_t loc, enum qz_field_group group, const struct qz_record *rec,
                                 int commit, const struct qz_h5_where *w, struct qz_error *err)
{
    for (size_t i = 0; i < qz_record_nfields; i++) {
        const struct qz_field *f = &qz_record_fields[i];
        union {
            uint64_t u;
            double d;
            int i;
        } v;
        const char *s;

        if (f->group != group || !(commit ? f->when == QZ_WHEN_COMMIT : qz_field_present(f, rec)))
            continue;
        s = qz_field_value(f, rec, &v);
        if (f->type == QZ_FIELD_STR && !s)
            return qz_error_set(err, QZ_EINTERNAL, "%s: record field %s is missing", w->path,
                                f->name);
        if (qz_h5_write_attr(loc, f->name, qz_h5_field_kind(f->type),
                             f->type == QZ_FIELD_STR ? (const void *)s : (const void *)&v))
            return qz_h5_fail(err, QZ_EHDF5, "%s: cannot write attribute %s of %s", w->path,
                              f->name, w->group);
    }
    return QZ_OK;
}

/* selected/: its attributes and the payload, the numeric sample or the text. */
static enum qz_status write_selected(hid_t run, const struct qz_record *rec,
                                     const struct qz_h5_where *w, struct qz_error *err)
{
    const struct qz_texts *t = rec->selected_text;
    size_t i = rec->selected_text_at;
    hid_t group;
    enum qz_status rc = qz_h5_create_group(run, "selected", &group, w, err), rc2;

    if (rc)
        return rc;
    if (!(rc = put_fields(group, QZ_GROUP_SELECTED, rec, 0, w, err)) &&
        (rc = rec->text
                  ? qz_h5_write_texts(group, "payload", t->bytes, &t->off[i], &t->len[i], 1, 1,
                                      "the selected sample's text (UTF-8): the action "
                                      "itself")
                  : qz_h5_write_dataset_1d(
                        group, "payload", QZ_H5_F64, rec->selected_payload_len,
                        rec->selected_payload,
                        "numeric payload of the selected sample: the action itself", NULL)))
        rc = qz_h5_fail(err, rc, "%s: cannot write dataset %s/payload", w->path, w->group);
    rc2 = qz_h5_close_group(group, w, err);
    return rc ? rc : rc2;
}

/* sweep/: one entry per q of the job, in the job's order. */
static enum qz_status write_sweep(hid_t run, const struct qz_record *rec,
                                  const struct qz_h5_where *w, struct qz_error *err)
{
    static const struct column {
        const char *name;
        enum qz_h5_kind kind;
        size_t offset;
        const char *description;
    } cols[] = {
        {"q", QZ_H5_F64, offsetof(struct qz_sweep_row, q), "the q of each row"},
        {"mass", QZ_H5_F64, offsetof(struct qz_sweep_row, mass), "m = q * valid_samples"},
        {"top_count", QZ_H5_U64, offsetof(struct qz_sweep_row, top_count), "K = ceil(m)"},
        {"threshold", QZ_H5_F64, offsetof(struct qz_sweep_row, threshold),
         "utility at position K-1"},
        {"mean_utility", QZ_H5_F64, offsetof(struct qz_sweep_row, mean_utility),
         "E_Q[u] under the q-quantilized distribution (boundary weight included)"},
        {"mean_cost", QZ_H5_F64, offsetof(struct qz_sweep_row, mean_cost),
         "E_Q[c] (NaN without a cost scorer)"},
        {"cost_bound", QZ_H5_F64, offsetof(struct qz_sweep_row, cost_bound),
         "E_gamma[c] / q, the bound on E_Q[c] for costs >= 0"},
        {"kl_nats", QZ_H5_F64, offsetof(struct qz_sweep_row, kl), "ln(1/q) = KL(Q||gamma)"},
        {"mean_utility_stderr", QZ_H5_F64, offsetof(struct qz_sweep_row, mean_utility_stderr),
         "the standard error of E_Q[u]"},
        {"mean_utility_ci_low", QZ_H5_F64, offsetof(struct qz_sweep_row, mean_utility_ci_low),
         "the lower end of E_Q[u]'s interval (method: utility_ci_method)"},
        {"mean_utility_ci_high", QZ_H5_F64, offsetof(struct qz_sweep_row, mean_utility_ci_high),
         "the upper end of E_Q[u]'s interval"},
        {"mean_cost_stderr", QZ_H5_F64, offsetof(struct qz_sweep_row, mean_cost_stderr),
         "the standard error of E_Q[c]"},
        {"mean_cost_ci_low", QZ_H5_F64, offsetof(struct qz_sweep_row, mean_cost_ci_low),
         "the lower end of E_Q[c]'s interval (method: cost_ci_method)"},
        {"mean_cost_ci_high", QZ_H5_F64, offsetof(struct qz_sweep_row, mean_cost_ci_high),
         "the upper end of E_Q[c]'s interval"},
        {"effective_size", QZ_H5_F64, offsetof(struct qz_sweep_row, effective_size),
         "n_eff = (sum w)^2 / sum w^2 of the top set's weights"},
        {"cost_bound_ucb", QZ_H5_F64, offsetof(struct qz_sweep_row, cost_bound_ucb),
         "UCB(E_gamma[c]) / q, one-sided at the run's confidence"},
        {"selected_position", QZ_H5_U64, offsetof(struct qz_sweep_row, selected_position),
         "the position a run at this q selects"},
        {"selected_index", QZ_H5_U64, offsetof(struct qz_sweep_row, selected_index),
         "the sample a run at this q selects"},
    };
    char *col = malloc((rec->nsweep ? rec->nsweep : 1) * 8);
    hid_t group = H5I_INVALID_HID;
    enum qz_status rc = QZ_OK;

    if (!col)
        return qz_error_set(err, QZ_ENOMEM, "%s: out of memory", w->path);
    if ((rc = qz_h5_create_group(run, "sweep", &group, w, err))) {
        free(col);
        return rc;
    }
    for (size_t c = 0; c < sizeof cols / sizeof cols[0] && !rc; c++) {
        for (size_t i = 0; i < rec->nsweep; i++)
            memcpy(col + 8 * i, (const char *)&rec->sweep[i] + cols[c].offset, 8);
        if ((rc = qz_h5_write_dataset_1d(group, cols[c].name, cols[c].kind, rec->nsweep, col,
                                         cols[c].description, NULL)))
            rc = qz_h5_fail(err, rc, "%s: cannot write %s/sweep/%s", w->path, w->group,
                            cols[c].name);
    }
    free(col);
    {
        enum qz_status rc2 = qz_h5_close_group(group, w, err);
        rc = rc ? rc : rc2;
    }
    return rc;
}

/* Under `parent` of the run: group NAME with the datasets of one metric's figures
 * (f[0 .. n)) as mean, stderr, ci_low, ci_high. */
static enum qz_status write_metric_sweep(hid_t run, const char *name, const struct qz_metric_fig *f,
                                         size_t n, const struct qz_h5_where *w,
                                         struct qz_error *err)
{
    static const struct {
        const char *name;
        size_t offset;
        const char *description;
    } cols[] = {
        {"mean", offsetof(struct qz_metric_fig, mean), "E_Q[metric] at each q of the sweep"},
        {"stderr", offsetof(struct qz_metric_fig, stderr_), "the standard error of E_Q[metric]"},
        {"ci_low", offsetof(struct qz_metric_fig, low), "the lower end of E_Q[metric]'s interval"},
        {"ci_high", offsetof(struct qz_metric_fig, high),
         "the upper end of E_Q[metric]'s interval"},
    };
    char *path = qz_h5_join_path("sweep/metrics", name);
    double *col = malloc((n ? n : 1) * sizeof *col);
    hid_t group = H5I_INVALID_HID;
    enum qz_status rc, rc2;

    if (!path || !col) {
        free(path);
        free(col);
        return qz_error_set(err, QZ_ENOMEM, "%s: out of memory", w->path);
    }
    rc = qz_h5_create_group(run, path, &group, w, err);
    for (size_t c = 0; c < sizeof cols / sizeof cols[0] && !rc; c++) {
        for (size_t i = 0; i < n; i++)
            memcpy(&col[i], (const char *)&f[i] + cols[c].offset, sizeof col[i]);
        if ((rc = qz_h5_write_dataset_1d(group, cols[c].name, QZ_H5_F64, n, col,
                                         cols[c].description, NULL)))
            rc = qz_h5_fail(err, rc, "%s: cannot write %s/%s/%s", w->path, w->group, path,
                            cols[c].name);
    }
    if (group >= 0) {
        rc2 = qz_h5_close_group(group, w, err);
        rc = rc ? rc : rc2;
    }
    free(path);
    free(col);
    return rc;
}

/* metrics/NAME (attributes), top/metrics/NAME when top/ is written by the root, and
 * sweep/metrics/NAME for a sweep (README "Metrics"). */
static enum qz_status write_metrics(hid_t run, const struct qz_record *rec,
                                    const struct qz_h5_where *w, struct qz_error *err)
{
    enum qz_status rc = QZ_OK, rc2;

    for (size_t j = 0; j < rec->metrics->n && !rc; j++) {
        const struct qz_metric *m = &rec->metrics->m[j];
        const struct qz_metric_result *r = &rec->metric_results[j];
        const struct qz_metric_fig *qf = &r->quantilized, *bf = &r->base;
        char *path = qz_h5_join_path("metrics", m->name);
        hid_t group = H5I_INVALID_HID;
        int order = (int)j;

        if (!path)
            return qz_error_set(err, QZ_ENOMEM, "%s: out of memory", w->path);
        if (!(rc = qz_h5_create_group(run, path, &group, w, err))) {
            if (qz_h5_write_attr(group, "scope", QZ_H5_STR,
                                 m->scope == QZ_METRIC_ALL ? "all" : "top") ||
                qz_h5_write_attr(group, "kind", QZ_H5_STR,
                                 m->kind[0] ? m->kind : m->sc.ops->name) ||
                qz_h5_write_attr(group, "order", QZ_H5_I32, &order) ||
                qz_h5_write_attr(group, "evaluated", QZ_H5_U64, &r->evaluated) ||
                qz_h5_write_attr(group, "invalid", QZ_H5_U64, &r->invalid) ||
                qz_h5_write_attr(group, "quantilized_mean", QZ_H5_F64, &qf->mean) ||
                qz_h5_write_attr(group, "quantilized_stderr", QZ_H5_F64, &qf->stderr_) ||
                qz_h5_write_attr(group, "quantilized_ci_low", QZ_H5_F64, &qf->low) ||
                qz_h5_write_attr(group, "quantilized_ci_high", QZ_H5_F64, &qf->high) ||
                qz_h5_write_attr(group, "ci_method", QZ_H5_STR, qz_ci_method_name(qf->method)) ||
                (r->has_base && (qz_h5_write_attr(group, "base_mean", QZ_H5_F64, &bf->mean) ||
                                 qz_h5_write_attr(group, "base_stderr", QZ_H5_F64, &bf->stderr_) ||
                                 qz_h5_write_attr(group, "base_ci_low", QZ_H5_F64, &bf->low) ||
                                 qz_h5_write_attr(group, "base_ci_high", QZ_H5_F64, &bf->high))))
                rc = qz_h5_fail(err, QZ_EHDF5, "%s: cannot write the attributes of %s/%s", w->path,
                                w->group, path);
            rc2 = qz_h5_close_group(group, w, err);
            rc = rc ? rc : rc2;
        }
        free(path);
        if (!rc && rec->top_stored && rec->top) {
            char *tpath = qz_h5_join_path("top/metrics", m->name);
            hid_t tg = H5I_INVALID_HID;
            if (!tpath)
                return qz_error_set(err, QZ_ENOMEM, "%s: out of memory", w->path);
            /* the dataset top/metrics/NAME: its group is top/metrics */
            tpath[strlen("top/metrics")] = '\0';
            if (j > 0 && (tg = H5Gopen2(run, tpath, H5P_DEFAULT)) < 0)
                rc = qz_h5_fail(err, QZ_EHDF5, "%s: cannot open %s/%s", w->path, w->group, tpath);
            if (!rc && (j > 0 || !(rc = qz_h5_create_group(run, tpath, &tg, w, err)))) {
                if ((rc = qz_h5_write_dataset_1d(tg, m->name, QZ_H5_F64, rec->top_count, r->top,
                                                 "the metric of each top-set entry, best first",
                                                 NULL)))
                    rc = qz_h5_fail(err, rc, "%s: cannot write %s/top/metrics/%s", w->path,
                                    w->group, m->name);
                rc2 = qz_h5_close_group(tg, w, err);
                rc = rc ? rc : rc2;
            }
            free(tpath);
        }
        if (!rc && rec->sweep && r->sweep)
            rc = write_metric_sweep(run, m->name, r->sweep, rec->nsweep, w, err);
    }
    return rc;
}

/* Open /runs, creating it in a new file. */
static enum qz_status open_runs(hid_t file, hid_t *runs, const char *path, struct qz_error *err)
{
    htri_t exists = H5Lexists(file, "runs", H5P_DEFAULT);

    *runs = H5I_INVALID_HID;
    if (exists > 0)
        *runs = H5Gopen2(file, "runs", H5P_DEFAULT);
    else if (exists == 0)
        *runs = H5Gcreate2(file, "runs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (*runs < 0)
        return qz_h5_fail(err, QZ_EHDF5, "%s: cannot open or create group /runs", path);
    return QZ_OK;
}

/* Write /runs/<rec->run> into file: every attribute but write_seconds, selected/,
 * sweep/, and top/ unless it is written collectively. staged: the group exists
 * already (it holds the run's archive, written while drawing) and is filled in. */
static enum qz_status write_run(hid_t file, const char *path, const struct qz_record *rec,
                                int overwrite, int staged, struct qz_error *err)
{
    char *run_path = qz_h5_join_path("/runs", rec->run);
    char *sel_path = run_path ? qz_h5_join_path(run_path, "selected") : NULL;
    char *top_path = run_path ? qz_h5_join_path(run_path, "top") : NULL;
    const struct qz_h5_where w_run = {path, run_path}, w_sel = {path, sel_path},
                             w_top = {path, top_path};
    hid_t runs = H5I_INVALID_HID, run = H5I_INVALID_HID;
    htri_t exists;
    enum qz_status rc;

    if (!run_path || !sel_path || !top_path) {
        rc = qz_error_set(err, QZ_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    if ((rc = open_runs(file, &runs, path, err)))
        goto done;
    if (staged) {
        run = H5Gopen2(runs, rec->run, H5P_DEFAULT);
        if (run < 0)
            rc = qz_h5_fail(err, QZ_EHDF5, "%s: the archive has no group %s", path, run_path);
        goto fill;
    }
    exists = path_exists(runs, rec->run);
    if (exists < 0)
        rc = qz_h5_fail(err, QZ_EHDF5, "%s: cannot look up %s", path, run_path);
    else if (exists > 0 && !overwrite)
        rc = run_exists_error(path, rec->run, err);
    else if (exists > 0 && H5Ldelete(runs, rec->run, H5P_DEFAULT) < 0)
        rc = qz_h5_fail(err, QZ_EHDF5, "%s: cannot remove the old %s", path, run_path);
    if (rc || (rc = qz_h5_create_group(runs, rec->run, &run, &w_run, err)))
        goto done;
fill:
    if (rc)
        goto done;
    if (!(rc = put_fields(run, QZ_GROUP_RUN, rec, 0, &w_run, err)) &&
        !(rc = rec->sweep ? write_sweep(run, rec, &w_run, err) : QZ_OK) &&
        !(rc = write_selected(run, rec, &w_sel, err)) &&
        !(rc = rec->top_stored && rec->top ? qz_output_top_serial(run, rec, &w_top, err) : QZ_OK) &&
        rec->metrics)
        rc = write_metrics(run, rec, &w_run, err);
    enum qz_status rc2 = qz_h5_close_group(run, &w_run, err);
    rc = rc ? rc : rc2;
done:
    if (runs >= 0 && H5Gclose(runs) < 0 && !rc)
        rc = qz_h5_fail(err, QZ_EHDF5, "%s: cannot close group /runs", path);
    free(run_path);
    free(sel_path);
    free(top_path);
    return rc;
}

/* Fields a record cannot do without; a NULL here is the caller's bug. */
static enum qz_status check_record(const char *path, const struct qz_record *rec,
                                   struct qz_error *err)
{
    const char *missing = NULL;

    if (!rec)
        missing = "record";
    else if (!rec->job_json)
        missing = "job_json";
    else if (!rec->version)
        missing = "version";
    else if (!rec->status)
        missing = "status";
    else if (!rec->text && rec->selected_payload_len > 0 && !rec->selected_payload)
        missing = "selected_payload";
    else if (rec->text && (!rec->selected_text || rec->selected_text_at >= rec->selected_text->n))
        missing = "selected_text";
    else if (!memchr(rec->started, '\0', sizeof rec->started))
        missing = "started (not terminated)";
    else if (!memchr(rec->finished, '\0', sizeof rec->finished))
        missing = "finished (not terminated)";
    if (missing)
        return qz_error_set(err, QZ_EINTERNAL, "%s: record field %s is missing", path, missing);
    if (rec->top && rec->top_count > SIZE_MAX / sizeof(double))
        return qz_error_set(err, QZ_EINTERNAL, "%s: top set too large", path);
    return qz_run_path_check(path, rec->run, 1, err);
}

static enum qz_status create_record(const char *tmp, const char *path, hid_t *file,
                                    struct qz_error *err)
{
    const int version = QZ_FORMAT_VERSION;
    const struct attr attrs[] = {
        {"format", QZ_H5_STR, QZ_FORMAT_NAME},
        {"format_version", QZ_H5_I32, &version},
    };
    const struct qz_h5_where w = {path, "/"};

    *file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (*file < 0)
        return qz_h5_fail(err, QZ_EHDF5, "%s: cannot create HDF5 file %s", path, tmp);
    return put_attrs(*file, attrs, 2, &w, err);
}

/* With the default (weak) close degree, H5Fclose leaves a file open while any of its
 * objects is; insist that nothing is, so the close really writes the file out. */
static enum qz_status check_all_closed(hid_t file, const char *path, struct qz_error *err)
{
    ssize_t open_ids = H5Fget_obj_count(file, H5F_OBJ_ALL);

    if (open_ids != 1)
        return qz_error_set(err, QZ_EINTERNAL, "%s: %zd HDF5 objects still open at close", path,
                            open_ids - 1);
    return QZ_OK;
}

/* Give back the reserve of tmp (see QZ_RESERVE_BYTES), then close *file; rc is the
 * outcome so far, returned unless it was QZ_OK and the close failed. */
static enum qz_status close_file(hid_t *file, const char *tmp, const char *path, enum qz_status rc,
                                 struct qz_error *err)
{
    qz_safefile_unreserve(tmp);
    if (*file >= 0 && H5Fclose(*file) < 0 && !rc)
        rc = qz_h5_fail(err, QZ_EHDF5, "%s: cannot finish writing %s (closing it failed)", path,
                        tmp);
    *file = H5I_INVALID_HID;
    return rc;
}

static double monotonic_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double qz_output_elapsed(const struct qz_output_txn *txn)
{
    return monotonic_seconds() - txn->started;
}

enum qz_status qz_output_lock(const char *path, int *fd, struct qz_error *err)
{
    char *name = qz_side_path(path, NULL, QZ_SIDE_LOCK);
    struct flock fl;
    enum qz_status rc = QZ_OK;

    if (!name)
        return qz_error_set(err, QZ_ENOMEM, "%s: out of memory", path);
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    *fd = open(name, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (*fd < 0)
        rc = qz_error_set(err, QZ_EIO, "%s: cannot open the lock file: %s", name, strerror(errno));
    else if (fcntl(*fd, F_SETLK, &fl) != 0) {
        qz_warn("waiting for another run to finish writing %s", path);
        while (fcntl(*fd, F_SETLKW, &fl) != 0)
            if (errno != EINTR) {
                rc = qz_error_set(err, QZ_EIO, "%s: cannot lock: %s", name, strerror(errno));
                break;
            }
    }
    if (rc && *fd >= 0) {
        close(*fd);
        *fd = -1;
    }
    free(name);
    return rc;
}

/* Tests only: QZ_TEST_KILL_AT=<moment> makes the writer kill itself (SIGKILL) there. */
static int test_kill_at(const char *moment)
{
    const char *at = getenv("QZ_TEST_KILL_AT");

    return at && strcmp(at, moment) == 0;
}

/* ---- Run files (README "The record"): REC.runs/<label>-<host>-<pid>-<seconds>-<n>.h5 */

/* The directory part of path with its '/' ("" when none) and its last part. */
static void split_path(const char *path, size_t *dirlen, const char **base)
{
    const char *slash = strrchr(path, '/');

    *dirlen = slash ? (size_t)(slash - path) + 1 : 0;
    *base = slash ? slash + 1 : path;
}

/* A new, unique name for a run file of the record `path`: *full (to open) and *link
 * (as the record's external link holds it, relative to the record's directory). The
 * directory REC.runs/ is made if missing. label: the run (sanitised) or "legacy". */
static enum qz_status new_run_file_name(const char *path, const char *label, char **full,
                                        char **link, struct qz_error *err)
{
    static unsigned counter;
    char host[48], safe[65];
    char *dir = qz_side_path(path, NULL, QZ_SIDE_RUNS);
    size_t dirlen, n = 0, len;
    const char *base;

    *full = *link = NULL;
    if (!dir)
        return qz_error_set(err, QZ_ENOMEM, "%s: out of memory", path);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        enum qz_status rc = qz_error_set(err, QZ_EIO, "%s: cannot make directory %s: %s", path, dir,
                                         strerror(errno));
        free(dir);
        return rc;
    }
    free(dir);
    qz_safefile_host(host, sizeof host);
    for (const char *c = label; *c && n < sizeof safe - 1; c++)
        safe[n++] = ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                     (*c >= '0' && *c <= '9') || *c == '_' || *c == '.')
                        ? *c
                        : '_';
    safe[n] = '\0';
    split_path(path, &dirlen, &base);
    len = strlen(path) + strlen(safe) + strlen(host) + 96;
    *full = malloc(len);
    *link = malloc(len);
    if (!*full || !*link) {
        free(*full);
        free(*link);
        *full = *link = NULL;
        return qz_error_set(err, QZ_ENOMEM, "%s: out of memory", path);
    }
    snprintf(*link, len, "%s.runs/%s-%s-%ld-%lld-%u.h5", base, safe, host, (long)getpid(),
             (long long)time(NULL), counter++);
    snprintf(*full, len, "%.*s%s", (int)dirlen, path, *link);
    return QZ_OK;
}

/* The pid and host a run file's name (no directory) carries; 0 when it has none. */
static int run_file_owner(const char *name, long *pid, char *host, size_t hostsize)
{
    char buf[512], *dash[4];
    size_t n = strlen(name);
    int k = 0;

    if (n < 4 || n >= sizeof buf || strcmp(name + n - 3, ".h5") != 0)
        return 0;
    memcpy(buf, name, n - 3);
    buf[n - 3] = '\0';
    for (char *p = buf + strlen(buf); p > buf && k < 4; p--)
        if (p[-1] == '-')
            dash[k++] = p - 1;
    if (k < 4)
        return 0;
    *dash[2] = *dash[3] = '\0';
    *pid = strtol(dash[2] + 1, NULL, 10);
    snprintf(host, hostsize, "%s", dash[3] + 1);
    return *pid > 0;
}

/* Whether process pid is gone (on this host). */
static int pid_dead(long pid)
{
    return pid != (long)getpid() && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* Whether `file` (a link's file name) is REC.runs/NAME of the record path: a run file
 * quantilize may delete. *name: NAME. */
static int own_run_file(const char *path, const char *file, const char **name)
{
    size_t dirlen, blen;
    const char *base, *slash = strchr(file, '/');

    split_path(path, &dirlen, &base);
    blen = strlen(base);
    if (!slash || strncmp(file, base, blen) != 0 || strncmp(file + blen, ".runs/", 6) != 0 ||
        strchr(slash + 1, '/') || !slash[1] || strcmp(slash + 1, "..") == 0 ||
        strcmp(slash + 1, ".") == 0)
        return 0;
    *name = slash + 1;
    return 1;
}

/* Whether a run of keep (an inline one: through legacy) or the run just added links
 * to `file`. */
static int referenced(const struct qz_runlist *keep, const char *legacy, const char *added,
                      const char *file)
{
    if (added && strcmp(added, file) == 0)
        return 1;
    for (size_t i = 0; i < keep->n; i++) {
        const char *f = keep->file[i] ? keep->file[i] : legacy;
        if (f && strcmp(f, file) == 0)
            return 1;
    }
    return 0;
}

/* After a commit, under the lock: delete the run files of `dropped` that no run of
 * `keep` links to, and in REC.runs/ the files (and reserves) of dead processes of
 * this host that no run links to (a crash before a commit, or a killed run). */
void qz_output_clean(const char *path, const struct qz_runlist *keep, const char *legacy,
                     const char *added, const struct qz_runlist *dropped)
{
    char *dir = qz_side_path(path, NULL, QZ_SIDE_RUNS), host[48], owner[64];
    size_t dirlen;
    const char *base, *name;
    DIR *d;
    struct dirent *e;
    long pid;

    if (!dir)
        return;
    split_path(path, &dirlen, &base);
    qz_safefile_host(host, sizeof host);
    for (size_t i = 0; dropped && i < dropped->n; i++)
        if (dropped->file[i] && own_run_file(path, dropped->file[i], &name) &&
            !referenced(keep, legacy, added, dropped->file[i])) {
            char *full = qz_h5_join_path(dir, name);
            if (full)
                unlink(full);
            free(full);
        }
    if ((d = opendir(dir))) {
        while ((e = readdir(d))) {
            char link[1024], stem[512];
            size_t n = strlen(e->d_name);
            int reserve = n > 8 && strcmp(e->d_name + n - 8, ".reserve") == 0;
            if (n >= sizeof stem)
                continue;
            snprintf(stem, sizeof stem, "%.*s", (int)(reserve ? n - 8 : n), e->d_name);
            snprintf(link, sizeof link, "%s.runs/%s", base, stem);
            if (run_file_owner(stem, &pid, owner, sizeof owner) && strcmp(owner, host) == 0 &&
                pid_dead(pid) && (reserve || !referenced(keep, legacy, added, link))) {
                char *full = qz_h5_join_path(dir, e->d_name);
                if (full)
                    unlink(full);
                free(full);
            }
        }
        closedir(d);
    }
    free(dir);
}

/* fsync the file or directory `name`; directories that cannot be synced pass. */
static enum qz_status sync_path(const char *name, int is_dir, struct qz_error *err)
{
    int fd = open(name, (is_dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
    enum qz_status rc = QZ_OK;

    if (fd < 0 || (fsync(fd) != 0 && !(is_dir && errno == EINVAL)))
        rc = qz_error_set(err, QZ_EIO, "%s: cannot sync: %s", name, strerror(errno));
    if (fd >= 0)
        close(fd);
    return rc;
}

/* Create the run file for rec at txn->runfile (new) or take the staging file as it. */
static enum qz_status open_run_file(struct qz_output_txn *txn, const char *staging, hid_t *file,
                                    struct qz_error *err)
{
    const int version = QZ_FORMAT_VERSION;
    const struct qz_h5_where w = {txn->runfile, "/"};
    const char *path = txn->path;

    if (staging) {
        /* runfile's name is new (pid, time, counter): the rename replaces nothing */
        if (rename(staging, txn->runfile) != 0)
            return qz_error_set(err, QZ_EIO, "%s: cannot move the archive %s to %s: %s", path,
                                staging, txn->runfile, strerror(errno));
        if ((*file = H5Fopen(txn->runfile, H5F_ACC_RDWR, H5P_DEFAULT)) < 0)
            return qz_h5_fail(err, QZ_EHDF5, "%s: cannot open the archive %s", path, txn->runfile);
        if (H5Aexists(*file, "format") > 0 && H5Adelete(*file, "format") < 0)
            return qz_h5_fail(err, QZ_EHDF5, "%s: cannot rewrite /format of %s", path,
                              txn->runfile);
        if (H5Aexists(*file, "format_version") > 0 && H5Adelete(*file, "format_version") < 0)
            return qz_h5_fail(err, QZ_EHDF5, "%s: cannot rewrite /format_version of %s", path,
                              txn->runfile);
    } else if ((*file = H5Fcreate(txn->runfile, H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT)) < 0)
        return qz_h5_fail(err, QZ_EHDF5, "%s: cannot create the run file %s", path, txn->runfile);
    {
        const struct attr attrs[] = {
            {"format", QZ_H5_STR, QZ_RUN_FORMAT_NAME},
            {"format_version", QZ_H5_I32, &version},
            {"run", QZ_H5_STR, txn->run},
        };
        return put_attrs(*file, attrs, 3, &w, err);
    }
}

/* The record `path` (a symlink followed to the file it names). */
static enum qz_status resolve_record(const char *path, char **out, struct qz_error *err)
{
    struct stat st;

    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
        if (!(*out = realpath(path, NULL)))
            return qz_error_set(err, QZ_EARGS, "%s: a symbolic link to a missing file (%s)", path,
                                strerror(errno));
    } else if (!(*out = strdup(path)))
        return qz_error_set(err, QZ_ENOMEM, "%s: out of memory", path);
    return QZ_OK;
}

enum qz_status qz_output_begin(const char *path, const char *staging, const struct qz_record *rec,
                               int overwrite, struct qz_output_txn *txn, struct qz_error *err)
{
    struct qz_h5_quiet quiet;
    hid_t file = H5I_INVALID_HID;
    enum qz_status rc;

    memset(txn, 0, sizeof *txn);
    txn->how.overwrite = overwrite; /* looked at when the run is linked, under the lock */
    txn->started = monotonic_seconds();
    if ((rc = check_path_name(path, err)) || (rc = check_record(path, rec, err)) ||
        (rc = resolve_record(path, &txn->path, err)))
        return rc;
    if ((rc = qz_safefile_check_writable(txn->path, err))) {
        qz_output_abort(txn);
        return rc;
    }
    if (!(txn->run = strdup(rec->run))) {
        qz_output_abort(txn);
        return qz_error_set(err, QZ_ENOMEM, "%s: out of memory", path);
    }
    if (overwrite && rec->replace_run && !(txn->how.replace_run = strdup(rec->replace_run))) {
        qz_output_abort(txn);
        return qz_error_set(err, QZ_ENOMEM, "%s: out of memory", path);
    }
    txn->top_collective = rec->top_stored && !rec->top;
    if ((rc = new_run_file_name(txn->path, rec->run, &txn->runfile, &txn->runlink, err))) {
        qz_output_abort(txn);
        return rc;
    }
    qz_h5_silence(&quiet);
    if (!(rc = qz_safefile_reserve(txn->runfile,
                                   QZ_RESERVE_BYTES + 2 * (off_t)strlen(rec->job_json), err)) &&
        !(rc = open_run_file(txn, staging, &file, err)) &&
        !(rc = write_run(file, path, rec, 0, staging != NULL, err)))
        rc = check_all_closed(file, path, err);
    rc = close_file(&file, txn->runfile, path, rc, err);
    /* Held through qz_output_write_top, whose rank 0 gives it back before closing. */
    if (!rc && txn->top_collective)
        rc = qz_safefile_reserve(txn->runfile, QZ_RESERVE_BYTES, err);
    if (rc)
        qz_output_abort(txn);
    qz_h5_restore(&quiet);
    return rc;
}

/* The last touches to /runs/<run> in the reopened run file. */
static enum qz_status finish_run(hid_t file, const struct qz_output_txn *txn, double write_seconds,
                                 struct qz_error *err)
{
    const char *path = txn->path;
    char *run_path = qz_h5_join_path("/runs", txn->run);
    const struct qz_h5_where w = {path, run_path};
    struct qz_record times;
    hid_t run;
    htri_t has_top;
    enum qz_status rc, rc2;

    if (!run_path)
        return qz_error_set(err, QZ_ENOMEM, "%s: out of memory", path);
    if ((run = H5Gopen2(file, run_path, H5P_DEFAULT)) < 0) {
        rc = qz_h5_fail(err, QZ_EHDF5, "%s: cannot reopen %s", path, run_path);
        free(run_path);
        return rc;
    }
    rc = QZ_OK;
    if (txn->top_collective) {
        has_top = H5Lexists(run, "top", H5P_DEFAULT);
        if (has_top > 0)
            has_top = H5Lexists(run, "top/index", H5P_DEFAULT);
        if (has_top < 0)
            rc = qz_h5_fail(err, QZ_EHDF5, "%s: cannot look up %s/top", path, run_path);
        else if (has_top == 0)
            rc = qz_error_set(err, QZ_EINTERNAL, "%s: %s/top was not written (qz_output_write_top)",
                              path, run_path);
    }
    if (!rc) {
        memset(&times, 0, sizeof times);
        times.write_seconds = write_seconds;
        rc = put_fields(run, QZ_GROUP_RUN, &times, 1, &w, err);
    }
    rc2 = qz_h5_close_group(run, &w, err);
    free(run_path);
    return rc ? rc : rc2;
}

/* An external link at /runs/<name> of dst to file:obj, with the groups on the way. */
static enum qz_status put_link(hid_t dst, const char *path, const char *name, const char *file,
                               const char *obj, struct qz_error *err)
{
    char *at = qz_h5_join_path("/runs", name);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    enum qz_status rc = QZ_OK;

    if (!at || lcpl < 0 || H5Pset_create_intermediate_group(lcpl, 1) < 0 ||
        H5Lcreate_external(file, obj, dst, at, lcpl, H5P_DEFAULT) < 0)
        rc = qz_h5_fail(err, QZ_EHDF5, "%s: cannot link %s to %s in a new record", path,
                        at ? at : name, file);
    if (lcpl >= 0)
        H5Pclose(lcpl);
    free(at);
    return rc;
}

/* Copy run `name` of src (through its link, if any) to /runs/<name> of dst. */
static enum qz_status copy_run(hid_t src, hid_t dst, const char *path, const char *name,
                               struct qz_error *err)
{
    char *at = qz_h5_join_path("/runs", name);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE), ocpl = H5Pcreate(H5P_OBJECT_COPY);
    enum qz_status rc = QZ_OK;

    if (!at || lcpl < 0 || ocpl < 0 || H5Pset_create_intermediate_group(lcpl, 1) < 0 ||
        H5Pset_copy_object(ocpl, H5O_COPY_EXPAND_EXT_LINK_FLAG) < 0 ||
        H5Ocopy(src, at, dst, at, ocpl, lcpl) < 0)
        rc = qz_h5_fail(err, QZ_EHDF5, "%s: cannot copy run %s", path, name);
    if (lcpl >= 0)
        H5Pclose(lcpl);
    if (ocpl >= 0)
        H5Pclose(ocpl);
    free(at);
    return rc;
}

enum qz_status qz_output_relink(const char *path, hid_t src, const struct qz_runlist *keep,
                                const char *legacy, int copy_linked, const char *add_name,
                                const char *add_file, const char *add_obj, struct qz_error *err)
{
    struct qz_safefile sf;
    hid_t dst = H5I_INVALID_HID;
    enum qz_status rc;

    qz_safefile_clean(path, 1); /* every temporary record file is made under the lock */
    if ((rc = qz_safefile_begin(path, 0, &sf, err)))
        return rc;
    if ((rc = qz_safefile_close_fd(&sf, err)) || (rc = create_record(sf.tmp, path, &dst, err)))
        goto done;
    for (size_t i = 0; i < keep->n && !rc; i++) {
        char *obj = keep->file[i] ? NULL : qz_h5_join_path("/runs", keep->name[i]);
        if (!keep->file[i] && !obj)
            rc = qz_error_set(err, QZ_ENOMEM, "%s: out of memory", path);
        else if ((keep->file[i] && copy_linked) || (!keep->file[i] && !legacy))
            rc = src < 0 ? qz_error_set(err, QZ_EINTERNAL, "%s: run %s to copy without a source",
                                        path, keep->name[i])
                         : copy_run(src, dst, path, keep->name[i], err);
        else
            rc = put_link(dst, path, keep->name[i], keep->file[i] ? keep->file[i] : legacy,
                          keep->file[i] ? keep->obj[i] : obj, err);
        free(obj);
    }
    if (!rc && add_name)
        rc = put_link(dst, path, add_name, add_file, add_obj, err);
    if (!rc && H5Lexists(dst, "runs", H5P_DEFAULT) <= 0) {
        hid_t g = H5Gcreate2(dst, "runs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (g < 0 || H5Gclose(g) < 0)
            rc = qz_h5_fail(err, QZ_EHDF5, "%s: cannot create /runs", path);
    }
    if (!rc)
        rc = check_all_closed(dst, path, err);
done:
    if (dst >= 0 && H5Fclose(dst) < 0 && !rc)
        rc = qz_h5_fail(err, QZ_EHDF5, "%s: cannot finish writing %s", path, sf.tmp);
    if (!rc && test_kill_at("before-rename"))
        raise(SIGKILL);
    if (!rc)
        return qz_safefile_commit(&sf, err);
    qz_safefile_abort(&sf);
    return rc;
}

enum qz_status qz_output_list(const char *path, int *exists, struct qz_runlist *list,
                              struct qz_error *err)
{
    hid_t file;
    enum qz_status rc;

    memset(list, 0, sizeof *list);
    if ((rc = qz_safefile_target(path, exists, err)) || !*exists)
        return rc;
    if ((rc = open_record(path, path, H5F_ACC_RDONLY, &file, err)))
        return rc;
    rc = qz_runlist_read(file, path, list, err);
    if (H5Fclose(file) < 0 && !rc)
        rc = qz_h5_fail(err, QZ_EHDF5, "%s: cannot close", path);
    return rc;
}

enum qz_status qz_output_legacy(const char *path, const struct qz_runlist *keep, char **legacy,
                                char **legacy_full, struct qz_error *err)
{
    enum qz_status rc;
    size_t i;

    *legacy = *legacy_full = NULL;
    for (i = 0; i < keep->n && keep->file[i]; i++)
        ;
    if (i == keep->n)
        return QZ_OK;
    if ((rc = new_run_file_name(path, "legacy", legacy_full, legacy, err)))
        return rc;
    if (link(path, *legacy_full) != 0) {
        rc = qz_error_set(err, QZ_EIO, "%s: cannot link it as %s: %s", path, *legacy_full,
                          strerror(errno));
        free(*legacy);
        free(*legacy_full);
        *legacy = *legacy_full = NULL;
    }
    return rc;
}

/* Under the lock: link the finished run file into a new record and rename it over. */
static enum qz_status link_run(struct qz_output_txn *txn, const struct qz_record_link *how,
                               struct qz_error *err)
{
    const char *path = txn->path;
    struct qz_runlist keep, dropped;
    char *legacy = NULL, *legacy_full = NULL, *obj = qz_h5_join_path("/runs", txn->run);
    int exists = 0;
    enum qz_status rc;

    memset(&dropped, 0, sizeof dropped);
    if (!obj)
        return qz_error_set(err, QZ_ENOMEM, "%s: out of memory", path);
    /* Split off what the new run replaces: itself, or with replace_run (a task's first
     * record) the whole job it belongs to. */
    if ((rc = qz_output_list(path, &exists, &keep, err)))
        goto done;
    if (qz_runlist_split(&keep, txn->run, how->replace_run, &dropped) < 0) {
        rc = qz_error_set(err, QZ_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    if (dropped.n > 0 && !how->overwrite) {
        rc = run_exists_error(path, txn->run, err);
        goto done;
    }
    if ((rc = qz_output_legacy(path, &keep, &legacy, &legacy_full, err)))
        goto done;
    if (test_kill_at("before-record"))
        raise(SIGKILL);
    rc =
        qz_output_relink(path, H5I_INVALID_HID, &keep, legacy, 0, txn->run, txn->runlink, obj, err);
    if (rc && legacy_full)
        unlink(legacy_full);
    if (!rc)
        qz_output_clean(path, &keep, legacy, txn->runlink, &dropped);
done:
    qz_runlist_free(&keep);
    qz_runlist_free(&dropped);
    free(legacy);
    free(legacy_full);
    free(obj);
    return rc;
}

enum qz_status qz_output_commit(struct qz_output_txn *txn, double write_seconds,
                                struct qz_error *err)
{
    struct qz_h5_quiet quiet;
    const char *path = txn->path, *runfile = txn->runfile;
    hid_t file = H5I_INVALID_HID;
    enum qz_status rc;
    int lock_fd = -1;

    if (!runfile)
        return qz_error_set(err, QZ_EINTERNAL, "qz_output_commit: no write in progress");
    qz_h5_silence(&quiet);
    if (!(rc = qz_safefile_reserve(runfile, QZ_RESERVE_BYTES, err))) {
        if ((file = H5Fopen(runfile, H5F_ACC_RDWR, H5P_DEFAULT)) < 0)
            rc = qz_h5_fail(err, QZ_EHDF5, "%s: cannot reopen %s", path, runfile);
        else if (!(rc = finish_run(file, txn, write_seconds, err)))
            rc = check_all_closed(file, path, err);
        rc = close_file(&file, runfile, path, rc, err);
    }
    if (!rc && !(rc = sync_path(runfile, 0, err))) {
        char *dir = qz_side_path(path, NULL, QZ_SIDE_RUNS);
        rc = dir ? sync_path(dir, 1, err) : qz_error_set(err, QZ_ENOMEM, "out of memory");
        free(dir);
    }
    if (!rc && test_kill_at("before-lock"))
        raise(SIGKILL);
    if (!rc && !(rc = qz_output_lock(path, &lock_fd, err))) {
        rc = link_run(txn, &txn->how, err);
        close(lock_fd); /* releases the lock */
    }
    if (!rc) { /* the run file is the record's now */
        free(txn->runfile);
        txn->runfile = NULL;
    }
    qz_output_abort(txn);
    qz_h5_restore(&quiet);
    return rc;
}

void qz_output_abort(struct qz_output_txn *txn)
{
    if (txn->runfile) {
        qz_safefile_unreserve(txn->runfile);
        unlink(txn->runfile);
    }
    free(txn->runfile);
    free(txn->runlink);
    free(txn->run);
    free(txn->path);
    free(txn->how.replace_run);
    txn->runfile = txn->runlink = txn->run = txn->path = NULL;
    txn->how.replace_run = NULL;
}

enum qz_status qz_output_write(const char *path, const struct qz_record *rec, int overwrite,
                               struct qz_error *err)
{
    struct qz_output_txn txn;
    enum qz_status rc;

    if (rec && rec->top_stored && !rec->top)
        return qz_error_set(err, QZ_EINTERNAL,
                            "%s: record field top is missing (or use qz_output_write_top)",
                            path ? path : "");
    if ((rc = qz_output_begin(path, NULL, rec, overwrite, &txn, err)))
        return rc;
    return qz_output_commit(&txn, qz_output_elapsed(&txn), err);
}
