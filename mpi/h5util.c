#include "h5util.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

enum qz_status qz_h5_fail(struct qz_error *err, enum qz_status code, const char *fmt, ...)
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

enum qz_h5_kind qz_h5_field_kind(enum qz_field_type t)
{
    switch (t) {
    case QZ_FIELD_U64:
        return QZ_H5_U64;
    case QZ_FIELD_F64:
        return QZ_H5_F64;
    case QZ_FIELD_I32:
        return QZ_H5_I32;
    case QZ_FIELD_STR:
        break;
    }
    return QZ_H5_STR;
}

void qz_h5_kind_types(enum qz_h5_kind kind, hid_t *ftype, hid_t *mtype)
{
    switch (kind) {
    case QZ_H5_U64:
        *ftype = H5T_STD_U64LE;
        *mtype = H5T_NATIVE_UINT64;
        return;
    case QZ_H5_F64:
        *ftype = H5T_IEEE_F64LE;
        *mtype = H5T_NATIVE_DOUBLE;
        return;
    case QZ_H5_I32:
        *ftype = H5T_STD_I32LE;
        *mtype = H5T_NATIVE_INT;
        return;
    case QZ_H5_STR:
        break;
    }
    *ftype = *mtype = H5I_INVALID_HID;
}

static enum qz_status write_scalar_attr(hid_t loc, const char *name, hid_t ftype, hid_t mtype,
                                        const void *value)
{
    hid_t space = H5Screate(H5S_SCALAR), attr = H5I_INVALID_HID;
    enum qz_status rc = QZ_EHDF5;

    if (space < 0)
        return QZ_EHDF5;
    attr = H5Acreate2(loc, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
    if (attr >= 0 && H5Awrite(attr, mtype, value) >= 0)
        rc = QZ_OK;
    if (attr >= 0 && H5Aclose(attr) < 0)
        rc = QZ_EHDF5;
    if (H5Sclose(space) < 0)
        rc = QZ_EHDF5;
    return rc;
}

/* Variable-length UTF-8, which h5py reads as str. */
static enum qz_status write_string_attr(hid_t loc, const char *name, const char *s)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    enum qz_status rc = QZ_EHDF5;

    if (type < 0)
        return QZ_EHDF5;
    if (H5Tset_size(type, H5T_VARIABLE) >= 0 && H5Tset_cset(type, H5T_CSET_UTF8) >= 0)
        rc = write_scalar_attr(loc, name, type, type, &s);
    if (H5Tclose(type) < 0)
        rc = QZ_EHDF5;
    return rc;
}

enum qz_status qz_h5_write_attr(hid_t loc, const char *name, enum qz_h5_kind kind,
                                const void *value)
{
    hid_t ftype, mtype;

    if (kind == QZ_H5_STR)
        return write_string_attr(loc, name, value);
    qz_h5_kind_types(kind, &ftype, &mtype);
    return write_scalar_attr(loc, name, ftype, mtype, value);
}

enum qz_status qz_h5_describe(hid_t obj, const char *description, const char *units)
{
    enum qz_status rc = write_string_attr(obj, "description", description);

    return rc || !units ? rc : write_string_attr(obj, "units", units);
}

enum qz_status qz_h5_write_dataset_1d(hid_t loc, const char *name, enum qz_h5_kind kind, hsize_t n,
                                      const void *data, const char *description, const char *units)
{
    hid_t ftype, mtype, dset = H5I_INVALID_HID;
    hid_t space = H5Screate_simple(1, &n, NULL);
    enum qz_status rc = QZ_EHDF5;

    if (space < 0)
        return QZ_EHDF5;
    qz_h5_kind_types(kind, &ftype, &mtype);
    dset = H5Dcreate2(loc, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (dset >= 0 && (n == 0 || H5Dwrite(dset, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0))
        rc = qz_h5_describe(dset, description, units);
    if (dset >= 0 && H5Dclose(dset) < 0)
        rc = QZ_EHDF5;
    if (H5Sclose(space) < 0)
        rc = QZ_EHDF5;
    return rc;
}

enum qz_status qz_h5_write_texts(hid_t loc, const char *name, const char *bytes,
                                 const uint64_t *off, const uint32_t *len, size_t n, int scalar,
                                 const char *description)
{
    hsize_t dim = n;
    hid_t type = H5Tcopy(H5T_C_S1), space, dset = H5I_INVALID_HID;
    char **strings = calloc(n ? n : 1, sizeof *strings);
    enum qz_status rc = QZ_EHDF5;

    space = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dim, NULL);
    if (!strings) {
        rc = QZ_ENOMEM;
        goto done;
    }
    if (type < 0 || space < 0 || H5Tset_size(type, H5T_VARIABLE) < 0 ||
        H5Tset_cset(type, H5T_CSET_UTF8) < 0)
        goto done;
    /* HDF5 takes NUL-terminated C strings: copy each text once. */
    for (size_t i = 0; i < n; i++) {
        if (!(strings[i] = malloc((size_t)len[i] + 1))) {
            rc = QZ_ENOMEM;
            goto done;
        }
        memcpy(strings[i], bytes + off[i], len[i]);
        strings[i][len[i]] = '\0';
    }
    dset = H5Dcreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (dset >= 0 && (n == 0 || H5Dwrite(dset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, strings) >= 0))
        rc = qz_h5_describe(dset, description, NULL);
done:
    if (dset >= 0 && H5Dclose(dset) < 0)
        rc = QZ_EHDF5;
    if (space >= 0)
        H5Sclose(space);
    if (type >= 0)
        H5Tclose(type);
    for (size_t i = 0; strings && i < n; i++)
        free(strings[i]);
    free(strings);
    return rc;
}

/* The start of every reader: whether `exists` (an H5Aexists or H5Lexists result) lets
 * the read go on (1), or settles it (0, with *rc): missing, or the lookup failed. */
static int look_up(htri_t exists, int *found, enum qz_status *rc)
{
    if (found)
        *found = 0;
    *rc = exists < 0 || (exists == 0 && !found) ? QZ_EHDF5 : QZ_OK;
    return exists > 0;
}

enum qz_status qz_h5_read_string_attr(hid_t loc, const char *name, char **out, int *found)
{
    hid_t attr = H5I_INVALID_HID, ftype = H5I_INVALID_HID, mtype = H5I_INVALID_HID;
    hid_t space = H5I_INVALID_HID;
    char *vstr = NULL;
    enum qz_status rc;

    *out = NULL;
    if (!look_up(H5Aexists(loc, name), found, &rc))
        return rc;
    rc = QZ_EHDF5;
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
        rc = *out ? QZ_OK : QZ_ENOMEM;
    } else {
        size_t n = H5Tget_size(ftype);
        if (n == 0 || H5Tset_size(mtype, n + 1) < 0 || H5Tset_strpad(mtype, H5T_STR_NULLTERM) < 0)
            goto done;
        if (!(*out = calloc(n + 1, 1))) {
            rc = QZ_ENOMEM;
            goto done;
        }
        if (H5Aread(attr, mtype, *out) < 0) {
            free(*out);
            *out = NULL;
        } else {
            rc = QZ_OK;
        }
    }
done:
    if (mtype >= 0)
        H5Tclose(mtype);
    if (space >= 0)
        H5Sclose(space);
    if (ftype >= 0)
        H5Tclose(ftype);
    if (attr >= 0)
        H5Aclose(attr);
    if (rc == QZ_OK && found)
        *found = 1;
    return rc;
}

enum qz_status qz_h5_read_num_attr(hid_t loc, const char *name, hid_t mtype, void *value,
                                   int *found)
{
    hid_t attr = H5I_INVALID_HID, type = H5I_INVALID_HID, space = H5I_INVALID_HID;
    H5T_class_t cls;
    enum qz_status rc;

    if (!look_up(H5Aexists(loc, name), found, &rc))
        return rc;
    rc = QZ_EHDF5;
    if ((attr = H5Aopen(loc, name, H5P_DEFAULT)) >= 0 && (type = H5Aget_type(attr)) >= 0 &&
        (space = H5Aget_space(attr)) >= 0 && H5Sget_simple_extent_npoints(space) == 1 &&
        ((cls = H5Tget_class(type)) == H5T_INTEGER ||
         (cls == H5T_FLOAT && H5Tget_class(mtype) == H5T_FLOAT)) &&
        H5Aread(attr, mtype, value) >= 0)
        rc = QZ_OK;
    if (space >= 0)
        H5Sclose(space);
    if (type >= 0)
        H5Tclose(type);
    if (attr >= 0)
        H5Aclose(attr);
    if (rc == QZ_OK && found)
        *found = 1;
    return rc;
}

enum qz_status qz_h5_read_f64_1d(hid_t loc, const char *name, double **out, size_t *n, int *found)
{
    hid_t dset = H5I_INVALID_HID, space = H5I_INVALID_HID, type = H5I_INVALID_HID;
    hsize_t len = 0;
    H5T_class_t cls;
    enum qz_status rc;

    *out = NULL;
    *n = 0;
    if (!look_up(H5Lexists(loc, name, H5P_DEFAULT), found, &rc))
        return rc;
    rc = QZ_EHDF5;
    if ((dset = H5Dopen2(loc, name, H5P_DEFAULT)) < 0 || (space = H5Dget_space(dset)) < 0 ||
        (type = H5Dget_type(dset)) < 0 || H5Sget_simple_extent_ndims(space) != 1 ||
        H5Sget_simple_extent_dims(space, &len, NULL) < 0 ||
        ((cls = H5Tget_class(type)) != H5T_INTEGER && cls != H5T_FLOAT))
        goto done;
    if (len == 0) {
        rc = QZ_OK;
        goto done;
    }
    if (len > SIZE_MAX / sizeof **out || !(*out = malloc((size_t)len * sizeof **out))) {
        rc = QZ_ENOMEM;
        goto done;
    }
    if (H5Dread(dset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, *out) < 0) {
        free(*out);
        *out = NULL;
        goto done;
    }
    *n = (size_t)len;
    rc = QZ_OK;
done:
    if (type >= 0)
        H5Tclose(type);
    if (space >= 0)
        H5Sclose(space);
    if (dset >= 0)
        H5Dclose(dset);
    if (rc == QZ_OK && found)
        *found = 1;
    return rc;
}

/* MPI-IO hints, for OMPIO and ROMIO alike: the file is written once, and ROMIO need
 * not data-sieve (and fcntl-lock) the writes, which are contiguous per rank, and
 * whose locks fail on NFS without a lock daemon. No hint chooses Open MPI's OMPIO
 * collective-write component (fcoll; "vulcan" has reported hangs and corruption):
 * only the MCA parameter does, OMPI_MCA_fcoll=dynamic_gen2 in the environment, which
 * Open MPI 4.1 reads when the first MPI-IO file is opened. */
static const char *const mpio_hints[][2] = {
    {"access_style", "write_once"},
    {"romio_ds_write", "disable"},
};

enum qz_status qz_h5_fapl_mpio(MPI_Comm comm, hid_t *out)
{
    MPI_Info info = MPI_INFO_NULL;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    int ok = fapl >= 0;

    /* MPI's fatal error handler covers MPI_Info_* (see README, How it works). */
    MPI_Info_create(&info);
    for (size_t i = 0; i < sizeof mpio_hints / sizeof mpio_hints[0]; i++)
        MPI_Info_set(info, mpio_hints[i][0], mpio_hints[i][1]);
    /* HDF5 duplicates comm and info. */
    ok = ok && H5Pset_fapl_mpio(fapl, comm, info) >= 0;
    if (info != MPI_INFO_NULL)
        MPI_Info_free(&info);
    if (!ok && fapl >= 0) {
        H5Pclose(fapl);
        fapl = H5I_INVALID_HID;
    }
    *out = fapl;
    return ok ? QZ_OK : QZ_EHDF5;
}

/* Select n entries at start of d's file space and read or write them. */
static enum qz_status range_io(hid_t d, hid_t mtype, uint64_t start, size_t n, void *out,
                               const void *data)
{
    hsize_t s = start, count = n;
    hid_t mem, space;
    int ok;

    if (n == 0)
        return QZ_OK;
    mem = H5Screate_simple(1, &count, NULL);
    space = H5Dget_space(d);
    ok = mem >= 0 && space >= 0 &&
         H5Sselect_hyperslab(space, H5S_SELECT_SET, &s, NULL, &count, NULL) >= 0 &&
         (out ? H5Dread(d, mtype, mem, space, H5P_DEFAULT, out)
              : H5Dwrite(d, mtype, mem, space, H5P_DEFAULT, data)) >= 0;
    if (mem >= 0)
        H5Sclose(mem);
    if (space >= 0)
        H5Sclose(space);
    return ok ? QZ_OK : QZ_EHDF5;
}

enum qz_status qz_h5_read_range(hid_t d, hid_t mtype, uint64_t start, size_t n, void *out)
{
    return range_io(d, mtype, start, n, out, NULL);
}

enum qz_status qz_h5_write_range(hid_t d, hid_t mtype, uint64_t start, size_t n, const void *data)
{
    return range_io(d, mtype, start, n, NULL, data);
}

char *qz_h5_join_path(const char *parent, const char *name)
{
    size_t n = strlen(parent) + strlen(name) + 2;
    char *s = malloc(n);

    if (s)
        snprintf(s, n, "%s/%s", parent, name);
    return s;
}

enum qz_status qz_h5_create_group(hid_t loc, const char *name, hid_t *group,
                                  const struct qz_h5_where *w, struct qz_error *err)
{
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);

    *group = lcpl >= 0 && H5Pset_create_intermediate_group(lcpl, 1) >= 0
                 ? H5Gcreate2(loc, name, lcpl, H5P_DEFAULT, H5P_DEFAULT)
                 : H5I_INVALID_HID;
    if (lcpl >= 0)
        H5Pclose(lcpl);
    if (*group < 0)
        return qz_h5_fail(err, QZ_EHDF5, "%s: cannot create group %s", w->path, w->group);
    return QZ_OK;
}

enum qz_status qz_h5_close_group(hid_t group, const struct qz_h5_where *w, struct qz_error *err)
{
    if (H5Gclose(group) < 0)
        return qz_h5_fail(err, QZ_EHDF5, "%s: cannot close group %s", w->path, w->group);
    return QZ_OK;
}

struct metric_walk {
    struct qz_h5_metrics *out;
    hid_t order_from;
    int nomem;
};

static herr_t metric_cb(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    struct metric_walk *w = data;
    struct qz_h5_metric *grown, *m;
    hid_t mg;

    (void)info;
    if (!(grown = realloc(w->out->m, (w->out->n + 1) * sizeof *grown))) {
        w->nomem = 1;
        return -1;
    }
    w->out->m = grown;
    m = &grown[w->out->n];
    memset(m, 0, sizeof *m);
    m->q_mean = m->q_stderr = m->q_low = m->q_high = NAN;
    m->b_mean = m->b_stderr = m->b_low = m->b_high = NAN;
    m->order = INT32_MAX;
    if (!(m->name = strdup(name))) {
        w->nomem = 1;
        return -1;
    }
    w->out->n++;
    if (H5Oexists_by_name(g, name, H5P_DEFAULT) <= 0)
        return 0;
    if ((mg = H5Oopen(g, name, H5P_DEFAULT)) < 0)
        return 0;
    if (H5Iget_type(mg) == H5I_GROUP) {
        const char *nums[] = {"quantilized_mean", "quantilized_stderr", "quantilized_ci_low",
                              "quantilized_ci_high"};
        const char *base[] = {"base_mean", "base_stderr", "base_ci_low", "base_ci_high"};
        double *qv[] = {&m->q_mean, &m->q_stderr, &m->q_low, &m->q_high};
        double *bv[] = {&m->b_mean, &m->b_stderr, &m->b_low, &m->b_high};
        int found = 0;
        qz_h5_read_string_attr(mg, "scope", &m->scope, NULL);
        qz_h5_read_string_attr(mg, "kind", &m->kind, NULL);
        qz_h5_read_string_attr(mg, "ci_method", &m->ci_method, NULL);
        qz_h5_read_num_attr(mg, "order", H5T_NATIVE_INT, &m->order, NULL);
        qz_h5_read_num_attr(mg, "evaluated", H5T_NATIVE_ULLONG, &m->evaluated, NULL);
        qz_h5_read_num_attr(mg, "invalid", H5T_NATIVE_ULLONG, &m->invalid, NULL);
        for (int i = 0; i < 4; i++) {
            qz_h5_read_num_attr(mg, nums[i], H5T_NATIVE_DOUBLE, qv[i], NULL);
            if (qz_h5_read_num_attr(mg, base[i], H5T_NATIVE_DOUBLE, bv[i], &found) == QZ_OK &&
                found)
                m->has_base = 1;
        }
    }
    H5Oclose(mg);
    if (m->order == INT32_MAX && w->order_from >= 0 &&
        H5Lexists(w->order_from, "metrics", H5P_DEFAULT) > 0) {
        hid_t all = H5Gopen2(w->order_from, "metrics", H5P_DEFAULT);
        if (all >= 0 && H5Lexists(all, name, H5P_DEFAULT) > 0 &&
            (mg = H5Gopen2(all, name, H5P_DEFAULT)) >= 0) {
            qz_h5_read_num_attr(mg, "order", H5T_NATIVE_INT, &m->order, NULL);
            H5Gclose(mg);
        }
        if (all >= 0)
            H5Gclose(all);
    }
    return 0;
}

static int metric_cmp(const void *a, const void *b)
{
    const struct qz_h5_metric *x = a, *y = b;
    if (x->order != y->order)
        return x->order < y->order ? -1 : 1;
    return strcmp(x->name, y->name);
}

enum qz_status qz_h5_read_metrics(hid_t loc, const char *path, hid_t order_from,
                                  struct qz_h5_metrics *out)
{
    struct metric_walk w = {out, order_from, 0};
    hsize_t at = 0;
    htri_t there;
    hid_t g;
    herr_t rc;

    out->m = NULL;
    out->n = 0;
    there = H5Lexists(loc, path, H5P_DEFAULT);
    /* "sweep/metrics": its parent first, H5Lexists needs every step to be there */
    if (there < 0 && strchr(path, '/'))
        there = 0;
    if (there <= 0)
        return there == 0 ? QZ_OK : QZ_EHDF5;
    if ((g = H5Gopen2(loc, path, H5P_DEFAULT)) < 0)
        return QZ_EHDF5;
    rc = H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &at, metric_cb, &w);
    H5Gclose(g);
    if (w.nomem)
        return QZ_ENOMEM;
    if (rc < 0)
        return QZ_EHDF5;
    if (out->n > 1)
        qsort(out->m, out->n, sizeof *out->m, metric_cmp);
    return QZ_OK;
}

void qz_h5_metrics_free(struct qz_h5_metrics *list)
{
    for (size_t i = 0; i < list->n; i++) {
        free(list->m[i].name);
        free(list->m[i].scope);
        free(list->m[i].kind);
        free(list->m[i].ci_method);
    }
    free(list->m);
    list->m = NULL;
    list->n = 0;
}
