#include "archive.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agree.h"
#include "h5util.h"
#include "record.h"
#include "sidefile.h"

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
    {"payload_offset", QZ_H5_U64, "where each sample's UTF-8 text starts in payload_bytes",
     "bytes"},
    {"payload_length", QZ_H5_U64, "the length of each sample's text", "bytes"},
};

#define QZ_COPY_PIECE ((size_t)8 << 20) /* bytes per copy from the side file */

static int text_archive(const struct qz_job *job)
{
    return job->archive == QZ_ARCHIVE_ALL && qz_job_text_samples(job);
}

char *qz_archive_staging_path(const char *out, const char *name)
{
    return qz_side_path(out, name, QZ_SIDE_STAGING);
}

/* Which fields the job archives. */
static void wanted(const struct qz_job *job, int want[QZ_AR_FIELDS])
{
    want[QZ_AR_INDEX] = 1;
    want[QZ_AR_UTILITY] = 1;
    want[QZ_AR_COST] = job->cost.ops != NULL;
    want[QZ_AR_VALUE] = job->archive == QZ_ARCHIVE_ALL && !qz_job_text_samples(job);
    want[QZ_AR_OFFSET] = want[QZ_AR_LENGTH] = text_archive(job);
}

void qz_archive_init(struct qz_archive *a)
{
    memset(a, 0, sizeof *a);
    a->file = H5I_INVALID_HID;
    for (int f = 0; f < QZ_AR_FIELDS; f++)
        a->dset[f] = H5I_INVALID_HID;
    for (int k = 0; k < QZ_METRICS_MAX; k++)
        a->mdset[k] = H5I_INVALID_HID;
    a->text_file = MPI_FILE_NULL;
}

static void free_text(struct qz_archive *a)
{
    if (a->text_file != MPI_FILE_NULL)
        MPI_File_close(&a->text_file);
    free(a->text_path);
    free(a->staging);
    free(a->group);
    free(a->pend_text);
    free(a->pend_len);
    free(a->pend_chunk);
}

static void close_all(struct qz_archive *a)
{
    for (int f = 0; f < QZ_AR_FIELDS; f++) {
        if (a->dset[f] >= 0)
            H5Dclose(a->dset[f]);
        free(a->col[f]);
    }
    for (int k = 0; k < QZ_METRICS_MAX; k++) {
        if (a->mdset[k] >= 0)
            H5Dclose(a->mdset[k]);
        free(a->mcol[k]);
    }
    if (a->file >= 0)
        H5Fclose(a->file);
    free(a->index);
    free_text(a);
    qz_archive_init(a);
}

/* Collective: the staging file's groups and datasets. */
static int create_layout(hid_t file, const char *run, const struct qz_job *job,
                         const int want[QZ_AR_FIELDS], hid_t dset[QZ_AR_FIELDS],
                         hid_t mdset[QZ_METRICS_MAX])
{
    const int version = QZ_FORMAT_VERSION;
    const char *mode = job->archive == QZ_ARCHIVE_ALL ? "all" : "utilities";
    hsize_t n = job->samples, chunk = n < QZ_AR_CHUNK ? n : QZ_AR_CHUNK;
    hid_t runs = -1, group = -1, samples = -1, dcpl = -1, space = -1, lcpl = -1;
    int ok = 0;

    runs = H5Gcreate2(file, "runs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    lcpl = H5Pcreate(H5P_LINK_CREATE); /* a task's run is NAME/tasks/ID */
    group = runs >= 0 && lcpl >= 0 && H5Pset_create_intermediate_group(lcpl, 1) >= 0
                ? H5Gcreate2(runs, run, lcpl, H5P_DEFAULT, H5P_DEFAULT)
                : -1;
    samples = group >= 0 ? H5Gcreate2(group, "samples", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    space = H5Screate_simple(1, &n, NULL);
    if (samples < 0 || dcpl < 0 || space < 0 || H5Pset_chunk(dcpl, 1, &chunk) < 0 ||
        H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY) < 0 ||
        H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) < 0 ||
        qz_h5_write_attr(file, "format", QZ_H5_STR, QZ_FORMAT_NAME) ||
        qz_h5_write_attr(file, "format_version", QZ_H5_I32, &version) ||
        qz_h5_write_attr(samples, "mode", QZ_H5_STR, mode) ||
        qz_h5_write_attr(samples, "count", QZ_H5_U64, &job->samples) ||
        qz_h5_describe(samples, "every sample of the run, entry i being sample i", NULL))
        goto done;
    for (int f = 0; f < QZ_AR_FIELDS; f++) {
        hid_t ftype, mtype;
        if (!want[f])
            continue;
        qz_h5_kind_types(fields[f].kind, &ftype, &mtype);
        dset[f] = H5Dcreate2(samples, fields[f].name, ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        if (dset[f] < 0 || qz_h5_describe(dset[f], fields[f].description, fields[f].units))
            goto done;
    }
    /* samples/metrics/NAME: every metric of scope "all" */
    for (size_t k = 0; k < job->metrics.n; k++) {
        char name[QZ_METRIC_NAME_MAX + 16];
        if (job->metrics.m[k].scope != QZ_METRIC_ALL)
            continue;
        snprintf(name, sizeof name, "metrics/%s", job->metrics.m[k].name);
        mdset[k] = H5Dcreate2(samples, name, H5T_IEEE_F64LE, space, lcpl, dcpl, H5P_DEFAULT);
        if (mdset[k] < 0 ||
            qz_h5_describe(mdset[k], "the metric of every sample (NaN: no score)", NULL))
            goto done;
    }
    ok = 1;
done:
    if (space >= 0)
        H5Sclose(space);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (lcpl >= 0)
        H5Pclose(lcpl);
    if (samples >= 0)
        H5Gclose(samples);
    if (group >= 0)
        H5Gclose(group);
    if (runs >= 0)
        H5Gclose(runs);
    return ok;
}

/* Open the 1-D dataset at path into *dset: 1 when it holds n entries. */
static int open_samples(hid_t file, const char *path, uint64_t n, hid_t *dset)
{
    hid_t space;
    hsize_t got = 0;
    int ok;

    *dset = H5Dopen2(file, path, H5P_DEFAULT);
    space = *dset >= 0 ? H5Dget_space(*dset) : -1;
    ok = space >= 0 && H5Sget_simple_extent_ndims(space) == 1 &&
         H5Sget_simple_extent_dims(space, &got, NULL) == 1 && got == n;
    if (space >= 0)
        H5Sclose(space);
    return ok;
}

/* Collective: open the datasets of a staging file written before; they must fit. */
static int open_layout(hid_t file, const char *run, const struct qz_job *job,
                       const int want[QZ_AR_FIELDS], hid_t dset[QZ_AR_FIELDS],
                       hid_t mdset[QZ_METRICS_MAX])
{
    size_t len = strlen(run) + QZ_METRIC_NAME_MAX + 32;
    char *path = malloc(len);
    int ok = path != NULL;

    for (int f = 0; ok && f < QZ_AR_FIELDS; f++) {
        if (!want[f])
            continue;
        snprintf(path, len, "/runs/%s/samples/%s", run, fields[f].name);
        ok = open_samples(file, path, job->samples, &dset[f]);
    }
    for (size_t k = 0; ok && k < job->metrics.n; k++) {
        if (job->metrics.m[k].scope != QZ_METRIC_ALL)
            continue;
        snprintf(path, len, "/runs/%s/samples/metrics/%s", run, job->metrics.m[k].name);
        ok = open_samples(file, path, job->samples, &mdset[k]);
    }
    free(path);
    return ok;
}

/* Collective: the side file for the texts, and what the texts need to know. */
static int open_text(MPI_Comm comm, const char *path, const char *run, const struct qz_job *job,
                     int resume, uint64_t chunks, uint64_t text_bytes, struct qz_archive *a)
{
    size_t glen = strlen(run) + 16;
    int ok;

    a->chunk_size = job->chunk_size;
    a->synced_chunks = resume ? chunks : 0;
    a->text_total = resume ? text_bytes : 0;
    a->text_path = qz_side_path(path, NULL, QZ_SIDE_TEXTS);
    a->staging = strdup(path);
    a->group = malloc(glen);
    if (!a->text_path || !a->staging || !a->group)
        return 0;
    snprintf(a->group, glen, "/runs/%s/samples", run);
    ok = MPI_File_open(comm, a->text_path, MPI_MODE_CREATE | MPI_MODE_RDWR, MPI_INFO_NULL,
                       &a->text_file) == MPI_SUCCESS;
    if (ok && !resume)
        ok = MPI_File_set_size(a->text_file, 0) == MPI_SUCCESS;
    return ok;
}

enum qz_status qz_archive_open(MPI_Comm comm, const char *path, const char *run,
                               const struct qz_job *job, int resume, uint64_t chunks,
                               uint64_t text_bytes, struct qz_archive *a, struct qz_error *err)
{
    int want[QZ_AR_FIELDS], ok, all;
    struct qz_h5_quiet quiet;
    hid_t fapl;

    qz_archive_init(a);
    wanted(job, want);
    a->cap = (size_t)job->chunk_size;
    a->index = malloc(a->cap * sizeof *a->index);
    ok = a->index != NULL;
    for (int f = QZ_AR_UTILITY; f <= QZ_AR_VALUE; f++) /* the buffered float64 fields */
        if (want[f] && !(a->col[f] = malloc(a->cap * sizeof(double))))
            ok = 0;
    for (size_t k = 0; k < job->metrics.n; k++)
        if (job->metrics.m[k].scope == QZ_METRIC_ALL &&
            !(a->mcol[k] = malloc(a->cap * sizeof(double))))
            ok = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm);
    if (!all) {
        close_all(a);
        return qz_error_set(err, QZ_ENOMEM, "out of memory for the archive's buffers");
    }
    qz_h5_silence(&quiet);
    ok = qz_h5_fapl_mpio(comm, &fapl) == QZ_OK;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm);
    if (!all) {
        if (ok)
            H5Pclose(fapl);
        qz_h5_restore(&quiet);
        close_all(a);
        return qz_error_set(err, QZ_EHDF5, "cannot set up MPI-IO for the archive %s", path);
    }
    a->file = resume ? H5Fopen(path, H5F_ACC_RDWR, fapl)
                     : H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    ok = a->file >= 0 && (resume ? open_layout(a->file, run, job, want, a->dset, a->mdset)
                                 : create_layout(a->file, run, job, want, a->dset, a->mdset));
    /* The metadata is final: put it on disk before any sample is drawn. */
    ok = ok && H5Fflush(a->file, H5F_SCOPE_GLOBAL) >= 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm);
    ok = all;
    if (ok && text_archive(job))
        ok = open_text(comm, path, run, job, resume, chunks, text_bytes, a);
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

/* Keep the texts of samples first .. first+n-1 of b until the next meeting. */
static enum qz_status keep_texts(struct qz_archive *a, uint64_t first, size_t n,
                                 const struct qz_batch *b, struct qz_error *err)
{
    uint64_t chunk = first / a->chunk_size, bytes = 0;
    struct pending_chunk *last = a->pend_chunks ? &a->pend_chunk[a->pend_chunks - 1] : NULL;

    for (size_t j = 0; j < n; j++)
        bytes += b->text_len[j];
    if (a->pend_bytes + bytes > a->pend_cap) {
        size_t cap = a->pend_cap ? a->pend_cap : 65536;
        char *grown;
        while (cap < a->pend_bytes + bytes)
            cap *= 2;
        if (!(grown = realloc(a->pend_text, cap)))
            return qz_error_set(err, QZ_ENOMEM, "out of memory keeping archived texts");
        a->pend_text = grown;
        a->pend_cap = cap;
    }
    if (a->pend_n + n > a->pend_len_cap) {
        size_t cap = a->pend_len_cap ? a->pend_len_cap : 4096;
        uint64_t *grown;
        while (cap < a->pend_n + n)
            cap *= 2;
        if (!(grown = realloc(a->pend_len, cap * sizeof *grown)))
            return qz_error_set(err, QZ_ENOMEM, "out of memory keeping archived texts");
        a->pend_len = grown;
        a->pend_len_cap = cap;
    }
    if (!last || last->chunk != chunk) {
        if (a->pend_chunks == a->pend_chunk_cap) {
            size_t cap = a->pend_chunk_cap ? 2 * a->pend_chunk_cap : 64;
            struct pending_chunk *grown = realloc(a->pend_chunk, cap * sizeof *grown);
            if (!grown)
                return qz_error_set(err, QZ_ENOMEM, "out of memory keeping archived texts");
            a->pend_chunk = grown;
            a->pend_chunk_cap = cap;
        }
        last = &a->pend_chunk[a->pend_chunks++];
        *last = (struct pending_chunk){chunk, first, 0, 0};
    }
    for (size_t j = 0; j < n; j++) {
        memcpy(a->pend_text + a->pend_bytes, b->text + b->text_off[j], b->text_len[j]);
        a->pend_bytes += b->text_len[j];
        a->pend_len[a->pend_n++] = b->text_len[j];
    }
    last->n += n;
    last->bytes += bytes;
    return QZ_OK;
}

enum qz_status qz_archive_put(struct qz_archive *a, uint64_t first, size_t n, const double *utility,
                              const double *cost, const double *value, const struct qz_batch *texts,
                              struct qz_error *err)
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
    return a->text_file != MPI_FILE_NULL && texts ? keep_texts(a, first, n, texts, err) : QZ_OK;
}

void qz_archive_put_metric(struct qz_archive *a, size_t k, uint64_t first, size_t n,
                           const double *scores)
{
    if (a->mcol[k])
        memcpy(a->mcol[k] + (first - a->first), scores, n * sizeof *scores);
}

enum qz_status qz_archive_sync(MPI_Comm comm, struct qz_archive *a, uint64_t chunks,
                               struct qz_error *err)
{
    uint64_t lo = a->synced_chunks, count = chunks > lo ? chunks - lo : 0, *place = NULL;
    uint64_t *offs = NULL, at = 0, sum = 0;
    size_t done_samples = 0;
    struct qz_h5_quiet quiet;
    int ok = 1;
    enum qz_status rc;

    if (a->text_file == MPI_FILE_NULL)
        return QZ_OK;
    place = calloc(count ? count : 1, sizeof *place);
    offs = malloc((a->pend_n ? a->pend_n : 1) * sizeof *offs);
    rc = place && offs ? QZ_OK
                       : qz_error_set(err, QZ_ENOMEM, "out of memory placing archived texts");
    if ((rc = qz_agree(comm, rc, err))) {
        free(place);
        free(offs);
        return rc;
    }
    for (size_t i = 0; i < a->pend_chunks; i++) {
        const struct pending_chunk *p = &a->pend_chunk[i];
        if (p->chunk < lo || p->chunk >= chunks)
            QZ_ABORT(comm, "an archived chunk outside the meeting's range");
        place[p->chunk - lo] = p->bytes;
    }
    MPI_Allreduce(MPI_IN_PLACE, place, (int)count, MPI_UINT64_T, MPI_SUM, comm);
    /* place[c] becomes where chunk lo + c starts: chunks in sample order. */
    for (uint64_t c = 0; c < count; c++) {
        uint64_t bytes = place[c];
        place[c] = a->text_total + sum;
        sum += bytes;
    }
    qz_h5_silence(&quiet);
    for (size_t i = 0; i < a->pend_chunks && ok; i++) {
        const struct pending_chunk *p = &a->pend_chunk[i];
        uint64_t o = place[p->chunk - lo];
        ok = MPI_File_write_at(a->text_file, (MPI_Offset)o, a->pend_text + at, (int)p->bytes,
                               MPI_BYTE, MPI_STATUS_IGNORE) == MPI_SUCCESS;
        for (uint64_t j = 0; j < p->n; j++) {
            offs[done_samples + j] = o;
            o += a->pend_len[done_samples + j];
        }
        ok = ok &&
             !qz_h5_write_range(a->dset[QZ_AR_OFFSET], H5T_NATIVE_UINT64, p->first, p->n,
                                offs + done_samples) &&
             !qz_h5_write_range(a->dset[QZ_AR_LENGTH], H5T_NATIVE_UINT64, p->first, p->n,
                                a->pend_len + done_samples);
        at += p->bytes;
        done_samples += p->n;
    }
    qz_h5_restore(&quiet);
    free(place);
    free(offs);
    a->text_total += sum;
    a->synced_chunks = chunks > lo ? chunks : lo;
    a->pend_chunks = a->pend_n = a->pend_bytes = 0;
    return qz_agree(
        comm, ok ? QZ_OK : qz_error_set(err, QZ_EIO, "writing archived texts failed (disk full?)"),
        err);
}

enum qz_status qz_archive_end_chunk(struct qz_archive *a, struct qz_error *err)
{
    struct qz_h5_quiet quiet;
    enum qz_status rc = QZ_OK;
    int ok = 1;

    if (a->n == 0)
        return QZ_OK;
    qz_h5_silence(&quiet);
    for (int f = 0; ok && f < QZ_AR_FIELDS; f++) {
        hid_t ftype, mtype;
        const void *data = f == QZ_AR_INDEX ? (const void *)a->index : (const void *)a->col[f];
        /* text offsets and lengths are written by qz_archive_sync */
        if (a->dset[f] < 0 || f == QZ_AR_OFFSET || f == QZ_AR_LENGTH)
            continue;
        qz_h5_kind_types(fields[f].kind, &ftype, &mtype);
        ok = qz_h5_write_range(a->dset[f], mtype, a->first, a->n, data) == QZ_OK;
    }
    for (int k = 0; ok && k < QZ_METRICS_MAX; k++)
        if (a->mdset[k] >= 0)
            ok = qz_h5_write_range(a->mdset[k], H5T_NATIVE_DOUBLE, a->first, a->n, a->mcol[k]) ==
                 QZ_OK;
    if (!ok)
        rc = qz_h5_fail(err, QZ_EIO,
                        "writing samples %llu to %llu to the archive failed (disk full?)",
                        (unsigned long long)a->first, (unsigned long long)(a->first + a->n - 1));
    qz_h5_restore(&quiet);
    a->n = 0;
    return rc;
}

void qz_archive_discard(struct qz_archive *a)
{
    a->n = 0;
    a->pend_chunks = a->pend_n = a->pend_bytes = 0;
}

enum qz_status qz_archive_flush(MPI_Comm comm, struct qz_archive *a, struct qz_error *err)
{
    int ok = H5Fflush(a->file, H5F_SCOPE_GLOBAL) >= 0, all;
    if (a->text_file != MPI_FILE_NULL)
        ok &= MPI_File_sync(a->text_file) == MPI_SUCCESS;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm);
    return all ? QZ_OK : qz_error_set(err, QZ_EIO, "flushing the archive failed");
}

/* Root: copy the side file's first a->text_total bytes into samples/payload_bytes of
 * the (closed) staging file. */
static int place_bytes(const struct qz_archive *a)
{
    hsize_t n = a->text_total, chunk = n < QZ_AR_CHUNK ? (n ? n : 1) : QZ_AR_CHUNK;
    hid_t file = H5Fopen(a->staging, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t group = file >= 0 ? H5Gopen2(file, a->group, H5P_DEFAULT) : -1;
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE), space = H5Screate_simple(1, &n, NULL);
    hid_t d = -1;
    char *buf = malloc(QZ_COPY_PIECE);

    /* A run that died after this copy and resumed copies again. */
    if (group >= 0 && H5Lexists(group, "payload_bytes", H5P_DEFAULT) > 0)
        H5Ldelete(group, "payload_bytes", H5P_DEFAULT);
    FILE *in = fopen(a->text_path, "rb");
    int ok =
        group >= 0 && dcpl >= 0 && space >= 0 && buf && in && H5Pset_chunk(dcpl, 1, &chunk) >= 0 &&
        H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) >= 0 &&
        (d = H5Dcreate2(group, "payload_bytes", H5T_STD_U8LE, space, H5P_DEFAULT, dcpl,
                        H5P_DEFAULT)) >= 0 &&
        qz_h5_describe(d, "every sample's UTF-8 text, back to back in sample order", "bytes") ==
            QZ_OK;
    for (uint64_t at = 0; ok && at < a->text_total;) {
        size_t count =
            a->text_total - at < QZ_COPY_PIECE ? (size_t)(a->text_total - at) : QZ_COPY_PIECE;
        ok = fread(buf, 1, count, in) == count &&
             qz_h5_write_range(d, H5T_NATIVE_UCHAR, at, count, buf) == QZ_OK;
        at += count;
    }
    if (in)
        fclose(in);
    free(buf);
    if (d >= 0)
        ok &= H5Dclose(d) >= 0;
    if (space >= 0)
        H5Sclose(space);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (group >= 0)
        H5Gclose(group);
    if (file >= 0)
        ok &= H5Fclose(file) >= 0;
    return ok;
}

enum qz_status qz_archive_close(MPI_Comm comm, struct qz_archive *a, int complete,
                                struct qz_error *err)
{
    int ok = 1, all, rank, text = a->text_file != MPI_FILE_NULL;

    if (a->file < 0 && !a->index)
        return QZ_OK; /* never opened, or closed */
    MPI_Comm_rank(comm, &rank);
    for (int f = 0; f < QZ_AR_FIELDS; f++)
        if (a->dset[f] >= 0) {
            ok &= H5Dclose(a->dset[f]) >= 0;
            a->dset[f] = H5I_INVALID_HID;
        }
    for (int k = 0; k < QZ_METRICS_MAX; k++)
        if (a->mdset[k] >= 0) {
            ok &= H5Dclose(a->mdset[k]) >= 0;
            a->mdset[k] = H5I_INVALID_HID;
        }
    if (a->file >= 0)
        ok &= H5Fclose(a->file) >= 0;
    a->file = H5I_INVALID_HID;
    if (text)
        ok &= MPI_File_close(&a->text_file) == MPI_SUCCESS;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm);
    if (all && text && complete) {
        struct qz_h5_quiet quiet;
        qz_h5_silence(&quiet);
        ok = rank == 0 ? place_bytes(a) : 1;
        qz_h5_restore(&quiet);
        MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm);
    }
    close_all(a);
    return all ? QZ_OK : qz_error_set(err, QZ_EIO, "closing the archive failed (disk full?)");
}
