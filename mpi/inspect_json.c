#include "inspect.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <hdf5.h>

#include "format.h"
#include "h5util.h"
#include "output.h"
#include "runlist.h"
#include "taskmeans.h"
#include "utf8.h"

/* A JSON string of s, repaired (U+FFFD) if it is not valid UTF-8: a record written
 * before texts were repaired, or by another program, must still give valid JSON. */
static cJSON *utf8_string(const char *s)
{
    size_t len = strlen(s), n;
    char *fixed;
    cJSON *v;

    if (qz_utf8_valid(s, len))
        return cJSON_CreateString(s);
    n = qz_utf8_repaired_len(s, len);
    if (!(fixed = malloc(n + 1)))
        return NULL;
    qz_utf8_repair(s, len, fixed);
    fixed[n] = '\0';
    v = cJSON_CreateString(fixed);
    free(fixed);
    return v;
}

/* A number that reads back as exactly x (qz_format_exact: cJSON prints 15 digits
 * and would round it), or null for NaN and infinities (JSON has neither). */
static cJSON *number(double x)
{
    char buf[QZ_FORMAT_MAX];

    if (!isfinite(x))
        return cJSON_CreateNull();
    qz_format_exact(buf, sizeof buf, x == 0 ? 0.0 : x);
    return cJSON_CreateRaw(buf);
}

/* An array of n numbers. */
static cJSON *numbers(const double *v, size_t n)
{
    cJSON *a = cJSON_CreateArray();

    for (size_t i = 0; a && i < n; i++)
        cJSON_AddItemToArray(a, number(v[i]));
    return a;
}

/* The value of attribute `name` of loc: numbers as numbers (arrays for non-scalar
 * ones), strings as strings, a record field shown as a job (fields.h) parsed; null
 * when unreadable. */
static cJSON *attr_value(hid_t loc, enum qz_field_group group, const char *name)
{
    const struct qz_field *f = qz_field_find(group, name);
    hid_t attr = H5Aopen(loc, name, H5P_DEFAULT), type = H5I_INVALID_HID;
    hid_t space = H5I_INVALID_HID;
    hssize_t npoints = 0;
    H5T_class_t cls = H5T_NO_CLASS;
    cJSON *v = NULL;

    if (attr >= 0 && (type = H5Aget_type(attr)) >= 0 && (space = H5Aget_space(attr)) >= 0) {
        cls = H5Tget_class(type);
        npoints = H5Sget_simple_extent_npoints(space);
    }
    if (cls == H5T_STRING && npoints == 1) {
        char *s = NULL;
        if (qz_h5_read_string_attr(loc, name, &s, NULL) == QZ_OK) {
            if (f && f->show == QZ_SHOW_JOB)
                v = cJSON_Parse(s);
            if (!v)
                v = utf8_string(s);
        }
        free(s);
    } else if (cls == H5T_INTEGER && npoints == 1) {
        if (H5Tget_sign(type) == H5T_SGN_NONE) {
            unsigned long long u;
            if (H5Aread(attr, H5T_NATIVE_ULLONG, &u) >= 0)
                v = cJSON_CreateNumber((double)u);
        } else {
            long long i;
            if (H5Aread(attr, H5T_NATIVE_LLONG, &i) >= 0)
                v = cJSON_CreateNumber((double)i);
        }
    } else if ((cls == H5T_INTEGER || cls == H5T_FLOAT) && npoints >= 1) {
        double *d = malloc((size_t)npoints * sizeof *d);
        if (d && H5Aread(attr, H5T_NATIVE_DOUBLE, d) >= 0)
            v = npoints == 1 ? number(d[0]) : numbers(d, (size_t)npoints);
        free(d);
    }
    if (space >= 0)
        H5Sclose(space);
    if (type >= 0)
        H5Tclose(type);
    if (attr >= 0)
        H5Aclose(attr);
    return v ? v : cJSON_CreateNull();
}

struct attrs {
    cJSON *obj;
    enum qz_field_group group;
};

static herr_t attr_cb(hid_t loc, const char *name, const H5A_info_t *info, void *data)
{
    struct attrs *a = data;

    (void)info;
    cJSON_AddItemToObject(a->obj, name, attr_value(loc, a->group, name));
    return 0;
}

/* Every attribute of loc (the run's `group`), in name order, as an object: the
 * record's fields and whatever else a newer or older quantilize wrote. */
static cJSON *attrs(hid_t loc, enum qz_field_group group)
{
    struct attrs a = {cJSON_CreateObject(), group};
    hsize_t at = 0;

    if (a.obj)
        H5Aiterate2(loc, H5_INDEX_NAME, H5_ITER_INC, &at, attr_cb, &a);
    return a.obj;
}

/* The selected sample's payload: a string (text), a number (one value), an array
 * (several) or null. */
static cJSON *payload(hid_t selected)
{
    hid_t dset = H5Dopen2(selected, "payload", H5P_DEFAULT), type = H5I_INVALID_HID;
    cJSON *v = NULL;

    if (dset >= 0 && (type = H5Dget_type(dset)) >= 0 && H5Tget_class(type) == H5T_STRING &&
        H5Tis_variable_str(type) > 0) {
        hid_t mtype = H5Tcopy(type);
        char *s = NULL;
        if (mtype >= 0 && H5Dread(dset, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, &s) >= 0 && s) {
            v = utf8_string(s);
            free(s); /* HDF5 allocates variable-length strings with malloc by default */
        }
        if (mtype >= 0)
            H5Tclose(mtype);
    } else if (dset >= 0) {
        double *d = NULL;
        size_t n = 0;
        if (qz_h5_read_f64_1d(selected, "payload", &d, &n, NULL) == QZ_OK)
            v = n == 1 ? number(d[0]) : numbers(d, n);
        free(d);
    }
    if (type >= 0)
        H5Tclose(type);
    if (dset >= 0)
        H5Dclose(dset);
    return v ? v : cJSON_CreateNull();
}

struct columns {
    cJSON *obj; /* sweep: name -> array; samples: the field names */
    hid_t group;
    int as_names;
};

static cJSON *group_columns(hid_t group);

static herr_t column_cb(hid_t group, const char *name, const H5L_info_t *info, void *data)
{
    struct columns *c = data;
    H5O_info_t oi;
    double *d = NULL;
    size_t n = 0;

    (void)info;
    if (c->as_names) {
        cJSON_AddItemToArray(c->obj, utf8_string(name));
        return 0;
    }
    /* a group of columns (sweep/metrics/NAME/...): an object of its columns */
    if (H5Oget_info_by_name2(group, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT) >= 0 &&
        oi.type == H5O_TYPE_GROUP) {
        hid_t g = H5Gopen2(group, name, H5P_DEFAULT);
        cJSON_AddItemToObject(c->obj, name, g >= 0 ? group_columns(g) : cJSON_CreateNull());
        if (g >= 0)
            H5Gclose(g);
        return 0;
    }
    cJSON_AddItemToObject(
        c->obj, name,
        qz_h5_read_f64_1d(group, name, &d, &n, NULL) == QZ_OK ? numbers(d, n) : cJSON_CreateNull());
    free(d);
    return 0;
}

/* Every dataset of group as a column, every subgroup as an object of its own. */
static cJSON *group_columns(hid_t group)
{
    struct columns c = {cJSON_CreateObject(), group, 0};
    hsize_t at = 0;

    if (c.obj)
        H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, &at, column_cb, &c);
    return c.obj;
}

/* The datasets of group `name` in run: as columns (sweep) or as field names. */
static cJSON *columns(hid_t run, const char *name, int as_names, hid_t *group_out)
{
    struct columns c = {as_names ? cJSON_CreateArray() : cJSON_CreateObject(), H5I_INVALID_HID,
                        as_names};
    hsize_t at = 0;

    c.group = H5Gopen2(run, name, H5P_DEFAULT);
    if (c.group >= 0 && c.obj)
        H5Literate(c.group, H5_INDEX_NAME, H5_ITER_INC, &at, column_cb, &c);
    *group_out = c.group;
    return c.obj;
}

/* The run's metrics (metrics/NAME) in the job's order: NAME -> every attribute. */
static cJSON *metrics_json(hid_t run)
{
    struct qz_h5_metrics list;
    cJSON *o = cJSON_CreateObject();
    hid_t all = H5I_INVALID_HID, g;

    if (qz_h5_read_metrics(run, "metrics", H5I_INVALID_HID, &list) == QZ_OK && list.n)
        all = H5Gopen2(run, "metrics", H5P_DEFAULT);
    for (size_t i = 0; o && all >= 0 && i < list.n; i++) {
        g = H5Gopen2(all, list.m[i].name, H5P_DEFAULT);
        cJSON_AddItemToObject(o, list.m[i].name,
                              g >= 0 ? attrs(g, QZ_GROUP_RUN) : cJSON_CreateNull());
        if (g >= 0)
            H5Gclose(g);
    }
    if (all >= 0)
        H5Gclose(all);
    qz_h5_metrics_free(&list);
    return o;
}

/* The length of the first 1-D dataset among names[] in group (0 if none). */
static double first_length(hid_t group, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        hid_t dset, space;
        hsize_t len = 0;
        int ok;
        if (H5Lexists(group, names[i], H5P_DEFAULT) <= 0 ||
            (dset = H5Dopen2(group, names[i], H5P_DEFAULT)) < 0)
            continue;
        space = H5Dget_space(dset);
        ok = space >= 0 && H5Sget_simple_extent_ndims(space) == 1 &&
             H5Sget_simple_extent_dims(space, &len, NULL) >= 0;
        if (space >= 0)
            H5Sclose(space);
        H5Dclose(dset);
        if (ok)
            return (double)len;
    }
    return 0;
}

static cJSON *run_json(hid_t runs, const char *name)
{
    static const char *const sample_fields[] = {"utility", "index", "cost", "payload"};
    cJSON *o = cJSON_CreateObject();
    hid_t run = H5Gopen2(runs, name, H5P_DEFAULT), group;
    int stored;

    cJSON_AddItemToObject(o, "run", utf8_string(name));
    if (run < 0) {
        cJSON_AddStringToObject(o, "error", "not a readable run group");
        return o;
    }
    cJSON_AddItemToObject(o, "attrs", attrs(run, QZ_GROUP_RUN));
    if (H5Lexists(run, "metrics", H5P_DEFAULT) > 0)
        cJSON_AddItemToObject(o, "metrics", metrics_json(run));
    if (H5Lexists(run, "selected", H5P_DEFAULT) > 0 &&
        (group = H5Gopen2(run, "selected", H5P_DEFAULT)) >= 0) {
        cJSON *sel = attrs(group, QZ_GROUP_SELECTED);
        cJSON_AddItemToObject(sel, "payload", payload(group));
        cJSON_AddItemToObject(o, "selected", sel);
        H5Gclose(group);
    }
    stored = H5Lexists(run, "top", H5P_DEFAULT) > 0;
    {
        cJSON *top = cJSON_CreateObject();
        uint64_t k = 0;
        if (stored && (group = H5Gopen2(run, "top", H5P_DEFAULT)) >= 0) {
            static const char *const top_fields[] = {"index", "utility"};
            cJSON_AddItemToObject(top, "count", number(first_length(group, top_fields, 2)));
            H5Gclose(group);
        } else if (qz_h5_read_num_attr(run, "top_count", H5T_NATIVE_UINT64, &k, NULL) == QZ_OK) {
            cJSON_AddItemToObject(top, "count", number((double)k));
        } else {
            cJSON_AddItemToObject(top, "count", cJSON_CreateNull());
        }
        cJSON_AddBoolToObject(top, "stored", stored);
        cJSON_AddItemToObject(o, "top", top);
    }
    if (H5Lexists(run, "sweep", H5P_DEFAULT) > 0) {
        cJSON_AddItemToObject(o, "sweep", columns(run, "sweep", 0, &group));
        if (group >= 0)
            H5Gclose(group);
    }
    if (H5Lexists(run, "samples", H5P_DEFAULT) > 0) {
        cJSON *samples = cJSON_CreateObject();
        cJSON *fields = columns(run, "samples", 1, &group);
        cJSON_AddItemToObject(samples, "count",
                              number(group >= 0 ? first_length(group, sample_fields, 4) : 0));
        cJSON_AddItemToObject(samples, "fields", fields);
        if (group >= 0)
            H5Gclose(group);
        cJSON_AddItemToObject(o, "samples", samples);
    }
    H5Gclose(run);
    return o;
}

/* A job with tasks: the mean over its tasks of each task's E_Q[u] and E_Q[metric] at
 * each q of the job (qz_task_means_read), with the number of tasks averaged. */
static herr_t task_means_cb(hid_t runs, const char *name, const H5L_info_t *info, void *data)
{
    struct qz_task_means tm;
    cJSON *obj = data, *o, *m;
    hid_t job;

    (void)info;
    if (H5Lexists(runs, name, H5P_DEFAULT) <= 0 || (job = H5Gopen2(runs, name, H5P_DEFAULT)) < 0)
        return 0;
    if (qz_task_means_read(job, &tm) == QZ_OK && tm.tasks > 0 && (o = cJSON_CreateObject())) {
        cJSON_AddItemToObject(o, "q", numbers(tm.q, tm.nq));
        cJSON_AddItemToObject(o, "utility", numbers(tm.utility, tm.nq));
        if (tm.metrics.n && (m = cJSON_AddObjectToObject(o, "metrics")))
            for (size_t j = 0; j < tm.metrics.n; j++)
                cJSON_AddItemToObject(m, tm.metrics.m[j].name,
                                      numbers(tm.metric + j * tm.nq, tm.nq));
        cJSON_AddItemToObject(o, "tasks", number((double)tm.tasks));
        cJSON_AddItemToObject(obj, name, o);
    }
    qz_task_means_free(&tm);
    H5Gclose(job);
    return 0;
}

enum qz_status qz_inspect_json(const char *path, FILE *out, struct qz_error *err)
{
    struct qz_h5_quiet quiet;
    struct qz_runlist list = {0};
    hid_t file, runs = H5I_INVALID_HID;
    long long version = 0;
    cJSON *doc = NULL, *array;
    char *text = NULL;
    enum qz_status rc;

    qz_h5_silence(&quiet);
    if ((rc = qz_output_open(path, &file, err))) {
        qz_h5_restore(&quiet);
        return rc;
    }
    qz_h5_read_num_attr(file, "format_version", H5T_NATIVE_LLONG, &version, NULL);
    if ((rc = qz_runlist_read(file, path, &list, err)))
        goto done;
    if (list.n && (runs = H5Gopen2(file, "runs", H5P_DEFAULT)) < 0) {
        rc = qz_error_set(err, QZ_EHDF5, "%s: cannot read /runs", path);
        goto done;
    }
    doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "file", path);
    cJSON_AddNumberToObject(doc, "format_version", (double)version);
    array = cJSON_AddArrayToObject(doc, "runs");
    for (size_t i = 0; array && i < list.n; i++)
        cJSON_AddItemToArray(array, run_json(runs, list.name[i]));
    if (runs >= 0) {
        cJSON *tm = cJSON_CreateObject();
        hsize_t at = 0;
        H5Literate(runs, H5_INDEX_NAME, H5_ITER_INC, &at, task_means_cb, tm);
        if (cJSON_GetArraySize(tm) > 0)
            cJSON_AddItemToObject(doc, "task_means", tm);
        else
            cJSON_Delete(tm);
    }
    if (!array || !(text = cJSON_Print(doc))) {
        rc = qz_error_set(err, QZ_ENOMEM, "%s: out of memory building the JSON", path);
        goto done;
    }
    if (fputs(text, out) < 0 || fputc('\n', out) < 0 || fflush(out) != 0 || ferror(out))
        rc = qz_error_set(err, QZ_EIO, "%s: cannot write the JSON", path);
done:
    cJSON_free(text);
    cJSON_Delete(doc);
    qz_runlist_free(&list);
    if (runs >= 0)
        H5Gclose(runs);
    H5Fclose(file);
    qz_h5_restore(&quiet);
    return rc;
}
