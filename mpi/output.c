#include "output.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agree.h"
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

    *file = H5I_INVALID_HID;
    return rc ? rc : open_record(path, path, H5F_ACC_RDONLY, file, err);
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
        (rc = qz_safefile_target(path, &exists, err)))
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
    /* A task's first record replaces the whole run it belongs to (--overwrite). */
    if (overwrite && rec->replace_run && path_exists(runs, rec->replace_run) > 0 &&
        H5Ldelete(runs, rec->replace_run, H5P_DEFAULT) < 0) {
        rc =
            qz_h5_fail(err, QZ_EHDF5, "%s: cannot remove the old /runs/%s", path, rec->replace_run);
        goto done;
    }
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
        !(rc = write_selected(run, rec, &w_sel, err)) && rec->top_stored && rec->top)
        rc = qz_output_top_serial(run, rec, &w_top, err);
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

/* Take the exclusive lock on <path>.lock, waiting for another writer to finish. */
static enum qz_status lock_output(const char *path, int *fd, struct qz_error *err)
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

/* What copy_run_cb needs while it walks a group of the old file. */
struct copy_ctx {
    hid_t dst;          /* the group of dst that matches the group iterated */
    const char *prefix; /* the iterated group's path below /runs ("" at /runs) */
    const struct qz_record *rec;
    int overwrite;
    int exists; /* rec->run was found */
    int failed;
};

static herr_t copy_run_cb(hid_t src, const char *name, const H5L_info_t *info, void *data)
{
    struct copy_ctx *c = data, inner;
    size_t len = strlen(c->prefix) + strlen(name) + 2;
    char *rel = malloc(len);
    hid_t s = H5I_INVALID_HID, d = H5I_INVALID_HID;
    herr_t ret = 0;

    (void)info;
    if (!rel) {
        c->failed = 1;
        return -1;
    }
    snprintf(rel, len, "%s%s%s", c->prefix, c->prefix[0] ? "/" : "", name);
    if (strcmp(rel, c->rec->run) == 0) {
        c->exists = 1;
        ret = c->overwrite ? 0 : 1;
    } else if (c->overwrite && c->rec->replace_run && strcmp(rel, c->rec->replace_run) == 0) {
        ret = 0;
    } else if (H5Lexists(c->dst, name, H5P_DEFAULT) <= 0) {
        ret = H5Ocopy(src, name, c->dst, name, H5P_DEFAULT, H5P_DEFAULT) < 0 ? -1 : 0;
    } else { /* both hold it: a group on the way to rec->run */
        s = H5Gopen2(src, name, H5P_DEFAULT);
        d = H5Gopen2(c->dst, name, H5P_DEFAULT);
        inner = *c;
        inner.dst = d;
        inner.prefix = rel;
        ret = s < 0 || d < 0 ? -1
                             : H5Literate(s, H5_INDEX_NAME, H5_ITER_INC, NULL, copy_run_cb, &inner);
        c->exists |= inner.exists;
        c->failed |= inner.failed;
    }
    if (ret < 0)
        c->failed = 1;
    if (s >= 0)
        H5Gclose(s);
    if (d >= 0)
        H5Gclose(d);
    free(rel);
    return ret;
}

/* Copy into dst's /runs every run of the record file `path` but rec->run (which must
 * not be there unless overwrite) and, with overwrite, rec->replace_run. Groups on the
 * way to rec->run that both files hold (a job's tasks/) are merged member by member. */
static enum qz_status copy_runs(const char *path, hid_t dst, const struct qz_record *rec,
                                int overwrite, struct qz_error *err)
{
    hid_t src = H5I_INVALID_HID, src_runs = H5I_INVALID_HID;
    struct copy_ctx c = {H5I_INVALID_HID, "", rec, overwrite, 0, 0};
    enum qz_status rc;

    if ((rc = open_record(path, path, H5F_ACC_RDONLY, &src, err)))
        return rc;
    if (path_exists(src, "runs") > 0) {
        src_runs = H5Gopen2(src, "runs", H5P_DEFAULT);
        c.dst = H5Gopen2(dst, "runs", H5P_DEFAULT);
        if (src_runs < 0 || c.dst < 0 ||
            H5Literate(src_runs, H5_INDEX_NAME, H5_ITER_INC, NULL, copy_run_cb, &c) < 0 || c.failed)
            rc = qz_h5_fail(err, QZ_EHDF5, "%s: cannot copy its runs into the new file", path);
        else if (c.exists && !overwrite)
            rc = run_exists_error(path, rec->run, err);
    }
    if (c.dst >= 0)
        H5Gclose(c.dst);
    if (src_runs >= 0)
        H5Gclose(src_runs);
    H5Fclose(src);
    return rc;
}

enum qz_status qz_output_begin(const char *path, const char *staging, const struct qz_record *rec,
                               int overwrite, struct qz_output_txn *txn, struct qz_error *err)
{
    struct qz_h5_quiet quiet;
    hid_t file = H5I_INVALID_HID;
    const char *tmp;
    enum qz_status rc;

    memset(txn, 0, sizeof *txn);
    txn->file.fd = -1;
    txn->started = monotonic_seconds();
    if ((rc = check_path_name(path, err)) || (rc = check_record(path, rec, err)) ||
        (rc = lock_output(path, &txn->lock_fd, err)))
        return rc;
    txn->locked = 1;
    if (!(txn->run = strdup(rec->run))) {
        qz_output_abort(txn);
        return qz_error_set(err, QZ_ENOMEM, "%s: out of memory", path);
    }
    txn->top_collective = rec->top_stored && !rec->top;
    qz_h5_silence(&quiet);
    if ((rc = staging ? qz_safefile_adopt(path, staging, &txn->file, err)
                      : qz_safefile_begin(path, 1, &txn->file, err)))
        goto done;
    tmp = txn->file.tmp;
    if ((rc = qz_safefile_close_fd(&txn->file, err)) ||
        (rc = qz_safefile_reserve(tmp, QZ_RESERVE_BYTES + 2 * (off_t)strlen(rec->job_json), err)))
        goto done;
    if (staging) {
        rc = open_record(tmp, path, H5F_ACC_RDWR, &file, err);
        if (!rc && txn->file.existed)
            rc = copy_runs(path, file, rec, overwrite, err);
    } else if (txn->file.existed)
        rc = open_record(tmp, path, H5F_ACC_RDWR, &file, err);
    else
        rc = create_record(tmp, path, &file, err);
    if (!rc && !(rc = write_run(file, path, rec, overwrite, staging != NULL, err)))
        rc = check_all_closed(file, path, err);
    rc = close_file(&file, tmp, path, rc, err);
    /* Held through qz_output_write_top, whose rank 0 gives it back before closing. */
    if (!rc && txn->top_collective)
        rc = qz_safefile_reserve(tmp, QZ_RESERVE_BYTES, err);
done:
    if (rc)
        qz_output_abort(txn);
    qz_h5_restore(&quiet);
    return rc;
}

/* The last touches to /runs/<run> in the reopened temporary file. */
static enum qz_status finish_run(hid_t file, const struct qz_output_txn *txn, double write_seconds,
                                 struct qz_error *err)
{
    const char *path = txn->file.path;
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

enum qz_status qz_output_commit(struct qz_output_txn *txn, double write_seconds,
                                struct qz_error *err)
{
    struct qz_h5_quiet quiet;
    const char *path = txn->file.path, *tmp = txn->file.tmp;
    hid_t file = H5I_INVALID_HID;
    enum qz_status rc;

    if (!tmp)
        return qz_error_set(err, QZ_EINTERNAL, "qz_output_commit: no write in progress");
    qz_h5_silence(&quiet);
    if (!(rc = qz_safefile_reserve(tmp, QZ_RESERVE_BYTES, err))) {
        if ((file = H5Fopen(tmp, H5F_ACC_RDWR, H5P_DEFAULT)) < 0)
            rc = qz_h5_fail(err, QZ_EHDF5, "%s: cannot reopen %s", path, tmp);
        else if (!(rc = finish_run(file, txn, write_seconds, err)))
            rc = check_all_closed(file, path, err);
        rc = close_file(&file, tmp, path, rc, err);
    }
    if (!rc)
        rc = qz_safefile_commit(&txn->file, err);
    qz_output_abort(txn);
    qz_h5_restore(&quiet);
    return rc;
}

void qz_output_abort(struct qz_output_txn *txn)
{
    qz_safefile_abort(&txn->file);
    free(txn->run);
    txn->run = NULL;
    if (txn->locked)
        close(txn->lock_fd); /* releases the lock */
    txn->locked = 0;
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
