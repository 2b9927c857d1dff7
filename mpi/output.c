#include "output.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define COPY_BUFFER_SIZE (1u << 20)
#define H5_DETAIL_MAX 256

/* The innermost message of the last failed HDF5 call, kept by the handler that
 * qz_h5_silence installs: by the time a message is built, cleanup calls (H5Xclose)
 * have already cleared the failed call's stack. Process-wide, like HDF5's own error
 * state (the library is not thread-safe). */
static char h5_last_error[H5_DETAIL_MAX];

/* Keep the innermost (most specific) entry, shortened where HDF5 packs a system
 * error into it ("file write failed: time = ..., error message = 'No space left on
 * device', ...") to "file write failed: No space left on device". */
static herr_t innermost_error(unsigned n, const H5E_error2_t *e, void *data)
{
    static const char key[] = "error message = '";
    const char *sys;

    if (n != 0 || !e->desc)
        return 0;
    sys = strstr(e->desc, key);
    if (sys) {
        sys += sizeof key - 1;
        snprintf(data, H5_DETAIL_MAX, "%.*s: %.*s", (int)strcspn(e->desc, ":"), e->desc,
                 (int)strcspn(sys, "'"), sys);
    } else {
        snprintf(data, H5_DETAIL_MAX, "%s", e->desc);
    }
    for (char *c = data; *c; c++)
        if (*c == '\n')
            *c = ' ';
    return 0;
}

static herr_t record_error(hid_t stack, void *data)
{
    (void)data;
    h5_last_error[0] = '\0';
    H5Ewalk2(stack, H5E_WALK_UPWARD, innermost_error, h5_last_error);
    return 0;
}

void qz_h5_silence(struct qz_h5_quiet *saved)
{
    if (H5Eget_auto2(H5E_DEFAULT, &saved->func, &saved->data) < 0) {
        saved->func = NULL;
        saved->data = NULL;
    }
    h5_last_error[0] = '\0';
    H5Eset_auto2(H5E_DEFAULT, record_error, NULL);
}

void qz_h5_restore(const struct qz_h5_quiet *saved)
{
    H5Eset_auto2(H5E_DEFAULT, saved->func, saved->data);
}

/* err = code and the message, followed by why HDF5 failed when it said so. */
__attribute__((format(printf, 3, 4))) static enum qz_status
h5_fail(struct qz_error *err, enum qz_status code, const char *fmt, ...)
{
    char msg[QZ_ERROR_MSG_MAX];
    va_list ap;
    enum qz_status rc;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (h5_last_error[0])
        rc = qz_error_set(err, code, "%s (HDF5: %s)", msg, h5_last_error);
    else
        rc = qz_error_set(err, code, "%s", msg);
    h5_last_error[0] = '\0';
    return rc;
}

static enum qz_status check_path_name(const char *path, struct qz_error *err)
{
    size_t n = path ? strlen(path) : 0;

    if (n == 0 || path[n - 1] == '/')
        return qz_error_set(err, QZ_EARGS, "\"%s\": not a file name", path ? path : "");
    return QZ_OK;
}

/* A run becomes one link name under /runs, so it cannot hold a path separator. */
static enum qz_status check_run_name(const char *path, const char *run, struct qz_error *err)
{
    if (!run || !*run || strchr(run, '/') || !strcmp(run, ".") || !strcmp(run, ".."))
        return qz_error_set(err, QZ_EARGS,
                            "%s: run name \"%s\" cannot be an HDF5 group name (it is empty, "
                            "\".\", \"..\" or contains '/')",
                            path, run ? run : "");
    return QZ_OK;
}

/* *exists = whether path exists; it must then be a regular file (st filled). A
 * missing directory on the way counts as "does not exist": check_dir names it. */
static enum qz_status stat_target(const char *path, int *exists, struct stat *st,
                                  struct qz_error *err)
{
    if (stat(path, st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            *exists = 0;
            return QZ_OK;
        }
        return qz_error_set(err, QZ_EIO, "%s: %s", path, strerror(errno));
    }
    if (!S_ISREG(st->st_mode))
        return qz_error_set(err, QZ_EARGS, "%s: not a regular file", path);
    *exists = 1;
    return QZ_OK;
}

/* The directory part of path, "." when it has none; malloc'd. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    char *dir;

    if (!slash)
        return strdup(".");
    if (n == 0)
        n = 1; /* "/x" lives in "/" */
    dir = malloc(n + 1);
    if (dir) {
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    return dir;
}

/* The temporary file and the rename both need a writable directory. */
static enum qz_status check_dir(const char *path, struct qz_error *err)
{
    struct stat st;
    char *dir = dir_of(path);
    enum qz_status rc = QZ_OK;

    if (!dir)
        return qz_error_set(err, QZ_ENOMEM, "%s: out of memory", path);
    if (stat(dir, &st) != 0)
        rc = qz_error_set(err, QZ_EARGS, "%s: directory %s: %s", path, dir, strerror(errno));
    else if (!S_ISDIR(st.st_mode))
        rc = qz_error_set(err, QZ_EARGS, "%s: %s is not a directory", path, dir);
    else if (access(dir, W_OK | X_OK) != 0)
        rc = qz_error_set(err, QZ_EARGS, "%s: directory %s is not writable: %s", path, dir,
                          strerror(errno));
    free(dir);
    return rc;
}

int qz_output_read_string_attr(hid_t loc, const char *name, char **out)
{
    hid_t attr = H5I_INVALID_HID, ftype = H5I_INVALID_HID, mtype = H5I_INVALID_HID;
    hid_t space = H5I_INVALID_HID;
    htri_t exists = H5Aexists(loc, name);
    char *vstr = NULL;
    int rc = -1;

    *out = NULL;
    if (exists <= 0)
        return exists == 0 ? 0 : -1;
    if ((attr = H5Aopen(loc, name, H5P_DEFAULT)) < 0 || (ftype = H5Aget_type(attr)) < 0 ||
        (space = H5Aget_space(attr)) < 0 || H5Tget_class(ftype) != H5T_STRING ||
        H5Sget_simple_extent_npoints(space) != 1 || (mtype = H5Tcopy(ftype)) < 0)
        goto done;
    /* Same character set as the file type: HDF5 does not convert between sets. */
    if (H5Tis_variable_str(ftype) > 0) {
        if (H5Aread(attr, mtype, &vstr) < 0)
            goto done;
        *out = strdup(vstr ? vstr : "");
        H5free_memory(vstr);
    } else {
        size_t n = H5Tget_size(ftype);
        if (n == 0 || H5Tset_size(mtype, n + 1) < 0 || H5Tset_strpad(mtype, H5T_STR_NULLTERM) < 0)
            goto done;
        if (!(*out = calloc(n + 1, 1)))
            goto done;
        if (H5Aread(attr, mtype, *out) < 0) {
            free(*out);
            *out = NULL;
        }
    }
    rc = *out ? 1 : -1;
done:
    if (mtype >= 0)
        H5Tclose(mtype);
    if (space >= 0)
        H5Sclose(space);
    if (ftype >= 0)
        H5Tclose(ftype);
    if (attr >= 0)
        H5Aclose(attr);
    return rc;
}

/* Read an integer-valued scalar attribute; 1 read, 0 missing, -1 not an integer. */
static int read_int_attr(hid_t loc, const char *name, long long *value)
{
    hid_t attr = H5I_INVALID_HID, type = H5I_INVALID_HID, space = H5I_INVALID_HID;
    htri_t exists = H5Aexists(loc, name);
    int rc = -1;

    if (exists <= 0)
        return exists == 0 ? 0 : -1;
    if ((attr = H5Aopen(loc, name, H5P_DEFAULT)) >= 0 && (type = H5Aget_type(attr)) >= 0 &&
        (space = H5Aget_space(attr)) >= 0 && H5Tget_class(type) == H5T_INTEGER &&
        H5Sget_simple_extent_npoints(space) == 1 && H5Aread(attr, H5T_NATIVE_LLONG, value) >= 0)
        rc = 1;
    if (space >= 0)
        H5Sclose(space);
    if (type >= 0)
        H5Tclose(type);
    if (attr >= 0)
        H5Aclose(attr);
    return rc;
}

/* Check the root attributes and /runs of an open file; `shown` names it in messages. */
static enum qz_status check_format(hid_t file, const char *shown, struct qz_error *err)
{
    char *format = NULL;
    long long version = 0;
    htri_t has_runs;
    enum qz_status rc = QZ_OK;
    int r = qz_output_read_string_attr(file, "format", &format);

    if (r == 0)
        rc = qz_error_set(err, QZ_EARGS, "%s: not a quantilize record file (no /format attribute)",
                          shown);
    else if (r < 0 || strcmp(format, QZ_FORMAT_NAME) != 0)
        rc = qz_error_set(err, QZ_EARGS, "%s: not a quantilize record file (/format is not \"%s\")",
                          shown, QZ_FORMAT_NAME);
    else if ((r = read_int_attr(file, "format_version", &version)) <= 0 || version < 1)
        rc = qz_error_set(err, QZ_EARGS,
                          "%s: not a quantilize record file (no valid /format_version)", shown);
    else if (version > QZ_FORMAT_VERSION)
        rc = qz_error_set(err, QZ_EARGS,
                          "%s: record format version %lld is newer than this quantilize "
                          "reads (%d)",
                          shown, version, QZ_FORMAT_VERSION);
    else if ((has_runs = H5Lexists(file, "runs", H5P_DEFAULT)) < 0)
        rc = h5_fail(err, QZ_EHDF5, "%s: cannot look up /runs", shown);
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
    struct stat st;
    int exists = 0;
    htri_t is_hdf5;
    enum qz_status rc = stat_target(path, &exists, &st, err);

    *file = H5I_INVALID_HID;
    if (rc)
        return rc;
    if (!exists)
        return qz_error_set(err, QZ_EARGS, "%s: no such file", shown);
    is_hdf5 = H5Fis_hdf5(path);
    if (is_hdf5 < 0)
        return h5_fail(err, QZ_EIO, "%s: cannot read", shown);
    if (is_hdf5 == 0)
        return qz_error_set(err, QZ_EARGS, "%s: not an HDF5 file", shown);
    *file = H5Fopen(path, flags, H5P_DEFAULT);
    if (*file < 0)
        return h5_fail(err, QZ_EHDF5, "%s: cannot open HDF5 file", shown);
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
    r = H5Lexists(runs, run, H5P_DEFAULT);
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
    struct stat st;
    int exists = 0;
    hid_t file;
    htri_t has_run;
    enum qz_status rc;

    if ((rc = check_path_name(path, err)) || (rc = check_run_name(path, run, err)) ||
        (rc = stat_target(path, &exists, &st, err)))
        return rc;
    if (exists) {
        qz_h5_silence(&quiet);
        rc = open_record(path, path, H5F_ACC_RDONLY, &file, err);
        if (rc == QZ_OK) {
            has_run = run_exists(file, run);
            if (has_run < 0)
                rc = h5_fail(err, QZ_EHDF5, "%s: cannot look up /runs/%s", path, run);
            else if (has_run > 0 && !overwrite)
                rc = run_exists_error(path, run, err);
            if (H5Fclose(file) < 0 && rc == QZ_OK)
                rc = h5_fail(err, QZ_EHDF5, "%s: cannot close", path);
        }
        qz_h5_restore(&quiet);
        if (rc)
            return rc;
    }
    return check_dir(path, err);
}

enum kind { KIND_U64, KIND_F64, KIND_INT, KIND_STR };

/* One attribute or 1-D dataset to write: value points to uint64_t, double or int
 * (KIND_U64, KIND_F64, KIND_INT) or is the string itself (KIND_STR). */
struct attr {
    const char *name;
    enum kind kind;
    const void *value;
};

struct dataset {
    const char *name;
    enum kind kind; /* KIND_U64 or KIND_F64 */
    hsize_t n;
    const void *data;
    const char *description;
    const char *units; /* NULL: none */
};

/* File types are fixed little-endian so a record reads the same everywhere. */
static void kind_types(enum kind kind, hid_t *ftype, hid_t *mtype)
{
    switch (kind) {
    case KIND_U64:
        *ftype = H5T_STD_U64LE;
        *mtype = H5T_NATIVE_UINT64;
        return;
    case KIND_F64:
        *ftype = H5T_IEEE_F64LE;
        *mtype = H5T_NATIVE_DOUBLE;
        return;
    case KIND_INT:
        *ftype = H5T_STD_I32LE;
        *mtype = H5T_NATIVE_INT;
        return;
    case KIND_STR:
        break;
    }
    *ftype = *mtype = H5I_INVALID_HID;
}

static herr_t write_scalar_attr(hid_t loc, const char *name, hid_t ftype, hid_t mtype,
                                const void *value)
{
    hid_t space = H5Screate(H5S_SCALAR), attr = H5I_INVALID_HID;
    herr_t rc = -1;

    if (space < 0)
        return -1;
    attr = H5Acreate2(loc, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
    if (attr >= 0 && H5Awrite(attr, mtype, value) >= 0)
        rc = 0;
    if (attr >= 0 && H5Aclose(attr) < 0)
        rc = -1;
    if (H5Sclose(space) < 0)
        rc = -1;
    return rc;
}

/* Variable-length UTF-8, which h5py reads as str. */
static herr_t write_string_attr(hid_t loc, const char *name, const char *s)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    herr_t rc = -1;

    if (type < 0)
        return -1;
    if (H5Tset_size(type, H5T_VARIABLE) >= 0 && H5Tset_cset(type, H5T_CSET_UTF8) >= 0)
        rc = write_scalar_attr(loc, name, type, type, &s);
    if (H5Tclose(type) < 0)
        rc = -1;
    return rc;
}

static herr_t write_dataset_1d(hid_t loc, const struct dataset *d)
{
    hid_t ftype, mtype, dset = H5I_INVALID_HID;
    hid_t space = H5Screate_simple(1, &d->n, NULL);
    herr_t rc = -1;

    if (space < 0)
        return -1;
    kind_types(d->kind, &ftype, &mtype);
    dset = H5Dcreate2(loc, d->name, ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (dset >= 0 &&
        (d->n == 0 || H5Dwrite(dset, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, d->data) >= 0) &&
        write_string_attr(dset, "description", d->description) >= 0 &&
        (!d->units || write_string_attr(dset, "units", d->units) >= 0))
        rc = 0;
    if (dset >= 0 && H5Dclose(dset) < 0)
        rc = -1;
    if (H5Sclose(space) < 0)
        rc = -1;
    return rc;
}

/* What messages name: the file as the caller gave it and the group being written. */
struct where {
    const char *path;
    const char *group; /* "/", "/runs/<run>", "/runs/<run>/top", ... */
};

static enum qz_status put_attrs(hid_t loc, const struct attr *a, size_t n, const struct where *w,
                                struct qz_error *err)
{
    for (size_t i = 0; i < n; i++) {
        hid_t ftype, mtype;
        herr_t r;

        if (a[i].kind == KIND_STR) {
            r = write_string_attr(loc, a[i].name, a[i].value);
        } else {
            kind_types(a[i].kind, &ftype, &mtype);
            r = write_scalar_attr(loc, a[i].name, ftype, mtype, a[i].value);
        }
        if (r < 0)
            return h5_fail(err, QZ_EHDF5, "%s: cannot write attribute %s of %s", w->path, a[i].name,
                           w->group);
    }
    return QZ_OK;
}

static enum qz_status put_datasets(hid_t loc, const struct dataset *d, size_t n,
                                   const struct where *w, struct qz_error *err)
{
    for (size_t i = 0; i < n; i++)
        if (write_dataset_1d(loc, &d[i]) < 0)
            return h5_fail(err, QZ_EHDF5, "%s: cannot write dataset %s/%s", w->path, w->group,
                           d[i].name);
    return QZ_OK;
}

/* "<parent>/<name>", malloc'd. */
static char *join_path(const char *parent, const char *name)
{
    size_t n = strlen(parent) + strlen(name) + 2;
    char *s = malloc(n);

    if (s)
        snprintf(s, n, "%s/%s", parent, name);
    return s;
}

/* Create group `name` in loc; w->group is its full path, for the message. */
static enum qz_status create_group(hid_t loc, const char *name, hid_t *group, const struct where *w,
                                   struct qz_error *err)
{
    *group = H5Gcreate2(loc, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (*group < 0)
        return h5_fail(err, QZ_EHDF5, "%s: cannot create group %s", w->path, w->group);
    return QZ_OK;
}

static enum qz_status close_group(hid_t group, const struct where *w, struct qz_error *err)
{
    if (H5Gclose(group) < 0)
        return h5_fail(err, QZ_EHDF5, "%s: cannot close group %s", w->path, w->group);
    return QZ_OK;
}

/* selected/: its attributes and the payload. */
static enum qz_status write_selected(hid_t run, const struct qz_record *rec, const struct where *w,
                                     struct qz_error *err)
{
    const struct attr attrs[] = {
        {"index", KIND_U64, &rec->selected_index},
        {"position", KIND_U64, &rec->selected_position},
        {"utility", KIND_F64, &rec->selected_utility},
        {"chunk", KIND_U64, &rec->selected_chunk},
        {"cost", KIND_F64, &rec->selected_cost}, /* last: only with a cost scorer */
    };
    const struct dataset payload = {
        "payload",
        KIND_F64,
        rec->selected_payload_len,
        rec->selected_payload,
        "numeric payload of the selected sample: the action itself",
        NULL,
    };
    hid_t group;
    enum qz_status rc = create_group(run, "selected", &group, w, err), rc2;

    if (rc)
        return rc;
    if (!(rc = put_attrs(group, attrs, rec->has_cost ? 5 : 4, w, err)))
        rc = put_datasets(group, &payload, 1, w, err);
    rc2 = close_group(group, w, err);
    return rc ? rc : rc2;
}

/* top/: the top set as one array per field, best first. */
static enum qz_status write_top(hid_t run, const struct qz_record *rec, const struct where *w,
                                struct qz_error *err)
{
    size_t k = (size_t)rec->top_count;
    uint64_t *index = malloc(k ? k * sizeof *index : 1);
    double *utility = malloc(k ? k * sizeof *utility : 1);
    double *cost = malloc(k ? k * sizeof *cost : 1);
    const struct dataset sets[] = {
        {"index", KIND_U64, k, index, "global sample indices of the top set, best first", NULL},
        {"utility", KIND_F64, k, utility, "utilities of the top set, best first", "utility"},
        {"cost", KIND_F64, k, cost, "costs of the top set, best first", "cost"},
    };
    hid_t group;
    enum qz_status rc;

    if (!index || !utility || !cost) {
        rc = qz_error_set(err, QZ_ENOMEM, "%s: out of memory for a top set of %zu", w->path, k);
    } else {
        for (size_t i = 0; i < k; i++) {
            index[i] = rec->top[i].index;
            utility[i] = rec->top[i].utility;
            cost[i] = rec->top[i].cost;
        }
        if (!(rc = create_group(run, "top", &group, w, err))) {
            rc = put_datasets(group, sets, rec->has_cost ? 3 : 2, w, err);
            enum qz_status rc2 = close_group(group, w, err);
            rc = rc ? rc : rc2;
        }
    }
    free(index);
    free(utility);
    free(cost);
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
        return h5_fail(err, QZ_EHDF5, "%s: cannot open or create group /runs", path);
    return QZ_OK;
}

/* Write /runs/<run> into an open record file. */
static enum qz_status write_run(hid_t file, const char *path, const struct qz_record *rec,
                                int overwrite, struct qz_error *err)
{
    const struct attr attrs[] = {
        {"q", KIND_F64, &rec->q},
        {"samples", KIND_U64, &rec->samples},
        {"valid_samples", KIND_U64, &rec->valid_samples},
        {"invalid_samples", KIND_U64, &rec->invalid_samples},
        {"mass", KIND_F64, &rec->mass},
        {"top_count", KIND_U64, &rec->top_count},
        {"seed", KIND_U64, &rec->seed},
        {"chunk_size", KIND_U64, &rec->chunk_size},
        {"threshold", KIND_F64, &rec->threshold},
        {"boundary_ties", KIND_U64, &rec->boundary_ties},
        {"selected_position", KIND_U64, &rec->selected_position},
        {"selected_index", KIND_U64, &rec->selected_index},
        {"status", KIND_STR, rec->status},
        {"job", KIND_STR, rec->job_json},
        {"version", KIND_STR, rec->version},
        {"ranks", KIND_INT, &rec->ranks},
        {"started", KIND_STR, rec->started},
        {"finished", KIND_STR, rec->finished},
        {"wall_seconds", KIND_F64, &rec->wall_seconds},
        {"samples_per_second", KIND_F64, &rec->samples_per_second},
    };
    char *run_path = join_path("/runs", rec->run);
    char *sel_path = run_path ? join_path(run_path, "selected") : NULL;
    char *top_path = run_path ? join_path(run_path, "top") : NULL;
    const struct where w_run = {path, run_path}, w_sel = {path, sel_path}, w_top = {path, top_path};
    hid_t runs = H5I_INVALID_HID, run = H5I_INVALID_HID;
    htri_t exists;
    enum qz_status rc;

    if (!run_path || !sel_path || !top_path) {
        rc = qz_error_set(err, QZ_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    if ((rc = open_runs(file, &runs, path, err)))
        goto done;
    exists = H5Lexists(runs, rec->run, H5P_DEFAULT);
    if (exists < 0)
        rc = h5_fail(err, QZ_EHDF5, "%s: cannot look up %s", path, run_path);
    else if (exists > 0 && !overwrite)
        rc = run_exists_error(path, rec->run, err);
    else if (exists > 0 && H5Ldelete(runs, rec->run, H5P_DEFAULT) < 0)
        rc = h5_fail(err, QZ_EHDF5, "%s: cannot remove the old %s", path, run_path);
    if (rc || (rc = create_group(runs, rec->run, &run, &w_run, err)))
        goto done;
    if (!(rc = put_attrs(run, attrs, sizeof attrs / sizeof attrs[0], &w_run, err)) &&
        !(rc = write_selected(run, rec, &w_sel, err)))
        rc = write_top(run, rec, &w_top, err);
    enum qz_status rc2 = close_group(run, &w_run, err);
    rc = rc ? rc : rc2;
done:
    if (runs >= 0 && H5Gclose(runs) < 0 && !rc)
        rc = h5_fail(err, QZ_EHDF5, "%s: cannot close group /runs", path);
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
    else if (rec->top_count > 0 && !rec->top)
        missing = "top";
    else if (rec->selected_payload_len > 0 && !rec->selected_payload)
        missing = "selected_payload";
    else if (!memchr(rec->started, '\0', sizeof rec->started))
        missing = "started (not terminated)";
    else if (!memchr(rec->finished, '\0', sizeof rec->finished))
        missing = "finished (not terminated)";
    if (missing)
        return qz_error_set(err, QZ_EINTERNAL, "%s: record field %s is missing", path, missing);
    if (rec->top_count > SIZE_MAX / sizeof(double))
        return qz_error_set(err, QZ_EINTERNAL, "%s: top set too large", path);
    return check_run_name(path, rec->run, err);
}

/* Create `<path>.tmp.<pid>` (or .1, .2, ... after it should a stale one exist). The
 * name is in the same directory as path, so the final rename is atomic. */
static enum qz_status make_temp(const char *path, char **tmp, int *fd, struct qz_error *err)
{
    size_t n = strlen(path) + 48;
    char *name = malloc(n);
    int e = 0;

    if (!name)
        return qz_error_set(err, QZ_ENOMEM, "%s: out of memory", path);
    for (unsigned attempt = 0; attempt < 100; attempt++) {
        if (attempt == 0)
            snprintf(name, n, "%s.tmp.%ld", path, (long)getpid());
        else
            snprintf(name, n, "%s.tmp.%ld.%u", path, (long)getpid(), attempt);
        *fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (*fd >= 0) {
            *tmp = name;
            return QZ_OK;
        }
        e = errno;
        if (e != EEXIST)
            break;
    }
    enum qz_status rc = qz_error_set(err, QZ_EIO, "%s: cannot create temporary file %s: %s", path,
                                     name, strerror(e));
    free(name);
    return rc;
}

static int write_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Copy path byte for byte onto fd (the temporary file tmp). */
static enum qz_status copy_file(const char *path, int fd, const char *tmp, struct qz_error *err)
{
    char *buf = malloc(COPY_BUFFER_SIZE);
    int in = open(path, O_RDONLY | O_CLOEXEC);
    enum qz_status rc = QZ_OK;

    if (!buf)
        rc = qz_error_set(err, QZ_ENOMEM, "%s: out of memory", path);
    else if (in < 0)
        rc = qz_error_set(err, QZ_EIO, "%s: cannot open: %s", path, strerror(errno));
    while (rc == QZ_OK) {
        ssize_t r = read(in, buf, COPY_BUFFER_SIZE);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            rc = qz_error_set(err, QZ_EIO, "%s: cannot read: %s", path, strerror(errno));
        else if (r == 0)
            break;
        else if (write_all(fd, buf, (size_t)r) != 0)
            rc = qz_error_set(err, QZ_EIO, "%s: cannot write temporary file %s: %s", path, tmp,
                              strerror(errno));
    }
    if (in >= 0 && close(in) != 0 && rc == QZ_OK)
        rc = qz_error_set(err, QZ_EIO, "%s: cannot close: %s", path, strerror(errno));
    free(buf);
    return rc;
}

static enum qz_status create_record(const char *tmp, const char *path, hid_t *file,
                                    struct qz_error *err)
{
    const int version = QZ_FORMAT_VERSION;
    const struct attr attrs[] = {
        {"format", KIND_STR, QZ_FORMAT_NAME},
        {"format_version", KIND_INT, &version},
    };
    const struct where w = {path, "/"};

    *file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (*file < 0)
        return h5_fail(err, QZ_EHDF5, "%s: cannot create HDF5 file %s", path, tmp);
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

/* Disk space held in `<tmp>.reserve` while HDF5 writes and given back just before
 * H5Fclose. Why: when the flush inside H5Fclose fails, HDF5 1.10 frees the file's
 * state but leaves its id registered, and library shutdown (in MPI_Finalize) then
 * crashes on it. Giving the reserve back first leaves room for that flush even when
 * the disk or the quota filled up during the writes (the raw data is written by
 * H5Dwrite; what the close flushes is metadata and the small-data buffers, well under
 * QZ_RESERVE_BYTES). It cannot help against EIO or RLIMIT_FSIZE. */
#define QZ_RESERVE_BYTES ((off_t)4 << 20)

struct reserve {
    char *name;
    int fd;
};

static enum qz_status reserve_space(struct reserve *r, const char *tmp, const struct qz_record *rec,
                                    const char *path, struct qz_error *err)
{
    size_t n = strlen(tmp) + sizeof ".reserve";
    off_t len = QZ_RESERVE_BYTES + 2 * (off_t)strlen(rec->job_json);
    int e;

    if (!(r->name = malloc(n)))
        return qz_error_set(err, QZ_ENOMEM, "%s: out of memory", path);
    snprintf(r->name, n, "%s.reserve", tmp);
    r->fd = open(r->name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (r->fd < 0)
        return qz_error_set(err, QZ_EIO, "%s: cannot create %s: %s", path, r->name,
                            strerror(errno));
    e = posix_fallocate(r->fd, 0, len);
    if (e == EINVAL || e == EOPNOTSUPP || e == ENOSYS)
        e = 0; /* this file system cannot reserve: go on without */
    if (e)
        return qz_error_set(err, QZ_EIO, "%s: no room to write the run: %s", path, strerror(e));
    return QZ_OK;
}

static void release_space(struct reserve *r)
{
    if (r->fd >= 0)
        close(r->fd);
    if (r->name)
        unlink(r->name);
    free(r->name);
    r->name = NULL;
    r->fd = -1;
}

/* Flush tmp to disk, giving it `mode` when set_mode (the replaced file's mode). */
static enum qz_status sync_file(const char *tmp, int set_mode, mode_t mode, const char *path,
                                struct qz_error *err)
{
    int fd = open(tmp, O_RDONLY | O_CLOEXEC);
    enum qz_status rc = QZ_OK;

    if (fd < 0)
        return qz_error_set(err, QZ_EIO, "%s: cannot reopen %s: %s", path, tmp, strerror(errno));
    if (set_mode && fchmod(fd, mode) != 0)
        rc = qz_error_set(err, QZ_EIO, "%s: cannot set the mode of %s: %s", path, tmp,
                          strerror(errno));
    else if (fsync(fd) != 0)
        rc = qz_error_set(err, QZ_EIO, "%s: cannot sync %s: %s", path, tmp, strerror(errno));
    if (close(fd) != 0 && rc == QZ_OK)
        rc = qz_error_set(err, QZ_EIO, "%s: cannot close %s: %s", path, tmp, strerror(errno));
    return rc;
}

/* Make the rename durable. Some file systems cannot sync a directory (EINVAL). */
static enum qz_status sync_dir(const char *path, struct qz_error *err)
{
    char *dir = dir_of(path);
    int fd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    enum qz_status rc = QZ_OK;

    if (fd < 0 || (fsync(fd) != 0 && errno != EINVAL))
        rc = qz_error_set(err, QZ_EIO, "%s: written, but syncing directory %s failed: %s", path,
                          dir ? dir : "?", dir ? strerror(errno) : "out of memory");
    if (fd >= 0)
        close(fd);
    free(dir);
    return rc;
}

enum qz_status qz_output_write(const char *path, const struct qz_record *rec, int overwrite,
                               struct qz_error *err)
{
    struct qz_h5_quiet quiet;
    struct stat st;
    struct reserve reserve = {NULL, -1};
    int exists = 0, fd = -1;
    char *tmp = NULL;
    hid_t file = H5I_INVALID_HID;
    enum qz_status rc;

    memset(&st, 0, sizeof st);
    if ((rc = check_path_name(path, err)) || (rc = check_record(path, rec, err)) ||
        (rc = stat_target(path, &exists, &st, err)))
        return rc;
    qz_h5_silence(&quiet);
    if ((rc = make_temp(path, &tmp, &fd, err)))
        goto done;
    if (exists)
        rc = copy_file(path, fd, tmp, err);
    if (close(fd) != 0 && rc == QZ_OK)
        rc = qz_error_set(err, QZ_EIO, "%s: cannot close %s: %s", path, tmp, strerror(errno));
    if (rc || (rc = reserve_space(&reserve, tmp, rec, path, err)))
        goto done;
    if (exists)
        rc = open_record(tmp, path, H5F_ACC_RDWR, &file, err);
    else
        rc = create_record(tmp, path, &file, err);
    if (!rc && !(rc = write_run(file, path, rec, overwrite, err)))
        rc = check_all_closed(file, path, err);
    release_space(&reserve); /* before H5Fclose: see struct reserve */
    if (file >= 0 && H5Fclose(file) < 0 && !rc)
        rc = h5_fail(err, QZ_EHDF5, "%s: cannot finish writing %s (closing it failed)", path, tmp);
    file = H5I_INVALID_HID;
    if (rc || (rc = sync_file(tmp, exists, st.st_mode & 07777, path, err)))
        goto done;
    if (rename(tmp, path) != 0) {
        rc = qz_error_set(err, QZ_EIO, "%s: cannot rename %s over it: %s", path, tmp,
                          strerror(errno));
        goto done;
    }
    free(tmp);
    tmp = NULL;
    rc = sync_dir(path, err);
done:
    release_space(&reserve);
    if (tmp)
        unlink(tmp);
    free(tmp);
    qz_h5_restore(&quiet);
    return rc;
}
