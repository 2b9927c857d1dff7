#include "archive.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agree.h"
#include "h5util.h"
#include "record.h"

#define QZ_AR_CHUNK ((hsize_t)1 << 20) /* entries per HDF5 chunk */

static const struct field {
    const char *name;
    enum qz_h5_kind kind;
    const char *description;
    const char *units;
} fields[QZ_AR_FIELDS] = {
    {"index", QZ_H5_U64, "global index of every sample (entry i is sample i)", NULL},
    {"utility", QZ_H5_F64, "utility of every sample as scored (NaN: invalid)", NULL},
    {"cost", QZ_H5_F64, "cost of every sample as scored (NaN: invalid)", NULL},
    {"value", QZ_H5_F64, "every sample itself (the numeric action)", NULL},
};

char *qz_archive_staging_path(const char *out, const char *name)
{
    size_t len = strlen(out) + strlen(name) + 16;
    char *p = malloc(len);
    if (p)
        snprintf(p, len, "%s.%s.samples.tmp", out, name);
    return p;
}

/* Which fields the job archives. */
static void wanted(const struct qz_job *job, int want[QZ_AR_FIELDS])
{
    want[QZ_AR_INDEX] = 1;
    want[QZ_AR_UTILITY] = 1;
    want[QZ_AR_COST] = job->cost.ops != NULL;
    want[QZ_AR_VALUE] = job->archive == QZ_ARCHIVE_ALL && !qz_job_text_samples(job);
}

void qz_archive_init(struct qz_archive *a)
{
    memset(a, 0, sizeof *a);
    a->file = H5I_INVALID_HID;
    for (int f = 0; f < QZ_AR_FIELDS; f++)
        a->dset[f] = H5I_INVALID_HID;
}

static void close_all(struct qz_archive *a)
{
    for (int f = 0; f < QZ_AR_FIELDS; f++) {
        if (a->dset[f] >= 0)
            H5Dclose(a->dset[f]);
        free(a->col[f]);
    }
    if (a->file >= 0)
        H5Fclose(a->file);
    free(a->index);
    qz_archive_init(a);
}

/* Collective: the staging file's groups and datasets. */
static int create_layout(hid_t file, const char *run, const struct qz_job *job,
                         const int want[QZ_AR_FIELDS], hid_t dset[QZ_AR_FIELDS])
{
    const int version = QZ_FORMAT_VERSION;
    const char *mode = job->archive == QZ_ARCHIVE_ALL ? "all" : "utilities";
    hsize_t n = job->samples, chunk = n < QZ_AR_CHUNK ? n : QZ_AR_CHUNK;
    hid_t runs = -1, group = -1, samples = -1, dcpl = -1, space = -1;
    int ok = 0;

    runs = H5Gcreate2(file, "runs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    group = runs >= 0 ? H5Gcreate2(runs, run, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
    samples = group >= 0 ? H5Gcreate2(group, "samples", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    space = H5Screate_simple(1, &n, NULL);
    if (samples < 0 || dcpl < 0 || space < 0 || H5Pset_chunk(dcpl, 1, &chunk) < 0 ||
        H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY) < 0 ||
        H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) < 0 ||
        qz_h5_write_attr(file, "format", QZ_H5_STR, QZ_FORMAT_NAME) < 0 ||
        qz_h5_write_attr(file, "format_version", QZ_H5_I32, &version) < 0 ||
        qz_h5_write_attr(samples, "mode", QZ_H5_STR, mode) < 0 ||
        qz_h5_write_attr(samples, "count", QZ_H5_U64, &job->samples) < 0 ||
        qz_h5_describe(samples, "every sample of the run, entry i being sample i", NULL) < 0)
        goto done;
    for (int f = 0; f < QZ_AR_FIELDS; f++) {
        hid_t ftype, mtype;
        if (!want[f])
            continue;
        qz_h5_kind_types(fields[f].kind, &ftype, &mtype);
        dset[f] = H5Dcreate2(samples, fields[f].name, ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        if (dset[f] < 0 || qz_h5_describe(dset[f], fields[f].description, fields[f].units) < 0)
            goto done;
    }
    ok = 1;
done:
    if (space >= 0)
        H5Sclose(space);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (samples >= 0)
        H5Gclose(samples);
    if (group >= 0)
        H5Gclose(group);
    if (runs >= 0)
        H5Gclose(runs);
    return ok;
}

/* Collective: open the datasets of a staging file written before; they must fit. */
static int open_layout(hid_t file, const char *run, const struct qz_job *job,
                       const int want[QZ_AR_FIELDS], hid_t dset[QZ_AR_FIELDS])
{
    size_t len = strlen(run) + 32;
    char *path = malloc(len);
    int ok = path != NULL;

    for (int f = 0; ok && f < QZ_AR_FIELDS; f++) {
        hid_t space;
        hsize_t n = 0;
        if (!want[f])
            continue;
        snprintf(path, len, "/runs/%s/samples/%s", run, fields[f].name);
        dset[f] = H5Dopen2(file, path, H5P_DEFAULT);
        space = dset[f] >= 0 ? H5Dget_space(dset[f]) : -1;
        ok = space >= 0 && H5Sget_simple_extent_ndims(space) == 1 &&
             H5Sget_simple_extent_dims(space, &n, NULL) == 1 && n == job->samples;
        if (space >= 0)
            H5Sclose(space);
    }
    free(path);
    return ok;
}

enum qz_status qz_archive_open(MPI_Comm comm, const char *path, const char *run,
                               const struct qz_job *job, int resume, struct qz_archive *a,
                               struct qz_error *err)
{
    int want[QZ_AR_FIELDS], ok, all;
    struct qz_h5_quiet quiet;
    hid_t fapl;

    qz_archive_init(a);
    wanted(job, want);
    a->cap = (size_t)job->chunk_size;
    a->index = malloc(a->cap * sizeof *a->index);
    ok = a->index != NULL;
    for (int f = QZ_AR_UTILITY; f < QZ_AR_FIELDS; f++)
        if (want[f] && !(a->col[f] = malloc(a->cap * sizeof(double))))
            ok = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm);
    if (!all) {
        close_all(a);
        return qz_error_set(err, QZ_ENOMEM, "out of memory for the archive's buffers");
    }
    qz_h5_silence(&quiet);
    fapl = qz_h5_fapl_mpio(comm);
    if (fapl < 0)
        QZ_ABORT(comm, "cannot set up MPI-IO for the archive");
    a->file = resume ? H5Fopen(path, H5F_ACC_RDWR, fapl)
                     : H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    ok = a->file >= 0 && (resume ? open_layout(a->file, run, job, want, a->dset)
                                 : create_layout(a->file, run, job, want, a->dset));
    /* The metadata is final: put it on disk before any sample is drawn. */
    ok = ok && H5Fflush(a->file, H5F_SCOPE_GLOBAL) >= 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm);
    qz_h5_restore(&quiet);
    if (all)
        return QZ_OK;
    close_all(a);
    if (resume)
        return qz_error_set(err, QZ_ECKPT,
                            "the archive the checkpoint's run was writing (%s) is missing or "
                            "damaged: run again with --fresh to start afresh",
                            path);
    return qz_h5_fail(err, QZ_EHDF5, "cannot create the archive's staging file %s", path);
}

void qz_archive_put(struct qz_archive *a, uint64_t first, size_t n, const double *utility,
                    const double *cost, const double *value)
{
    size_t at;

    if (a->n == 0)
        a->first = first;
    at = (size_t)(first - a->first);
    for (size_t j = 0; j < n; j++)
        a->index[at + j] = first + j;
    memcpy(a->col[QZ_AR_UTILITY] + at, utility, n * sizeof *utility);
    if (a->col[QZ_AR_COST])
        memcpy(a->col[QZ_AR_COST] + at, cost, n * sizeof *cost);
    if (a->col[QZ_AR_VALUE])
        memcpy(a->col[QZ_AR_VALUE] + at, value, n * sizeof *value);
    a->n = at + n;
}

enum qz_status qz_archive_end_chunk(struct qz_archive *a, struct qz_error *err)
{
    hsize_t start = a->first, count = a->n;
    hid_t mem = H5I_INVALID_HID, space = H5I_INVALID_HID;
    struct qz_h5_quiet quiet;
    int ok = 1;

    if (a->n == 0)
        return QZ_OK;
    qz_h5_silence(&quiet);
    mem = H5Screate_simple(1, &count, NULL);
    for (int f = 0; ok && f < QZ_AR_FIELDS; f++) {
        hid_t ftype, mtype;
        const void *data = f == QZ_AR_INDEX ? (const void *)a->index : (const void *)a->col[f];
        if (a->dset[f] < 0)
            continue;
        qz_h5_kind_types(fields[f].kind, &ftype, &mtype);
        space = H5Dget_space(a->dset[f]);
        ok = mem >= 0 && space >= 0 &&
             H5Sselect_hyperslab(space, H5S_SELECT_SET, &start, NULL, &count, NULL) >= 0 &&
             H5Dwrite(a->dset[f], mtype, mem, space, H5P_DEFAULT, data) >= 0;
        if (space >= 0)
            H5Sclose(space);
    }
    if (mem >= 0)
        H5Sclose(mem);
    a->n = 0;
    if (!ok) {
        enum qz_status rc = qz_h5_fail(
            err, QZ_EIO, "writing samples %llu to %llu to the archive failed (disk full?)",
            (unsigned long long)start, (unsigned long long)(start + count - 1));
        qz_h5_restore(&quiet);
        return rc;
    }
    qz_h5_restore(&quiet);
    return QZ_OK;
}

enum qz_status qz_archive_flush(MPI_Comm comm, struct qz_archive *a, struct qz_error *err)
{
    int ok = H5Fflush(a->file, H5F_SCOPE_GLOBAL) >= 0, all;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm);
    return all ? QZ_OK : qz_error_set(err, QZ_EIO, "flushing the archive failed");
}

enum qz_status qz_archive_close(MPI_Comm comm, struct qz_archive *a, struct qz_error *err)
{
    int ok = 1, all;

    if (a->file < 0 && !a->index)
        return QZ_OK; /* never opened, or closed */
    for (int f = 0; f < QZ_AR_FIELDS; f++)
        if (a->dset[f] >= 0) {
            ok &= H5Dclose(a->dset[f]) >= 0;
            a->dset[f] = H5I_INVALID_HID;
        }
    if (a->file >= 0)
        ok &= H5Fclose(a->file) >= 0;
    a->file = H5I_INVALID_HID;
    close_all(a);
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm);
    return all ? QZ_OK : qz_error_set(err, QZ_EIO, "closing the archive failed (disk full?)");
}
