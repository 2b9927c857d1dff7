#include "output_top.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agree.h"
#include "safefile.h"

/* top/: the top set as one array per field, best first; cost only with a cost scorer. */
enum { TOP_INDEX, TOP_UTILITY, TOP_COST, TOP_FIELDS };

static const struct top_field {
    const char *name;
    enum qz_h5_kind kind;
    const char *description;
    const char *units;
} top_fields[TOP_FIELDS] = {
    {"index", QZ_H5_U64, "global sample indices of the top set, best first", NULL},
    {"utility", QZ_H5_F64, "utilities of the top set, best first", "utility"},
    {"cost", QZ_H5_F64, "costs of the top set, best first", "cost"},
};

/* The top set is written from its entries a slice at a time, through one buffer of
 * TOP_SLICE values (8 MiB): no copy of the whole set is made for writing. */
#define TOP_SLICE ((size_t)1 << 20)

/* Entries per write: TOP_SLICE, or fewer when the environment sets QZ_TOP_SLICE (a
 * test hook, so that small top sets take several slices). */
static size_t slice_entries(void)
{
    const char *s = getenv("QZ_TOP_SLICE");
    char *end;
    unsigned long long v;

    if (!s || !*s)
        return TOP_SLICE;
    v = strtoull(s, &end, 10);
    return *end == '\0' && v >= 1 && v <= TOP_SLICE ? (size_t)v : TOP_SLICE;
}

/* Field `field` of entries e[0..n) into buf (room for n 8-byte values). */
static void fill_field(void *buf, int field, const struct qz_entry *e, size_t n)
{
    if (field == TOP_INDEX) {
        uint64_t *b = buf;
        for (size_t i = 0; i < n; i++)
            b[i] = e[i].index;
    } else {
        double *b = buf;
        for (size_t i = 0; i < n; i++)
            b[i] = field == TOP_UTILITY ? e[i].utility : e[i].cost;
    }
}

/* Write n values from buf into dset at offset, with transfer list dxpl; n = 0 selects
 * nothing (a rank with nothing left still takes part in a collective write). */
static herr_t write_part(hid_t dset, int field, const void *buf, hsize_t n, hsize_t offset,
                         hid_t dxpl)
{
    hid_t ftype, mtype, fspace = H5Dget_space(dset), mspace;
    hsize_t one = 1;
    herr_t st = -1;

    qz_h5_kind_types(top_fields[field].kind, &ftype, &mtype);
    mspace = H5Screate_simple(1, n ? &n : &one, NULL);
    if (fspace >= 0 && mspace >= 0 &&
        (n > 0 ? H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &offset, NULL, &n, NULL)
               : (H5Sselect_none(fspace) < 0 ? -1 : H5Sselect_none(mspace))) >= 0)
        st = H5Dwrite(dset, mtype, mspace, fspace, dxpl, buf);
    if (mspace >= 0)
        H5Sclose(mspace);
    if (fspace >= 0)
        H5Sclose(fspace);
    return st;
}

/* Serial: dataset `field` of k entries in group, written slice by slice through buf
 * (room for `slice` values). The dataset is as qz_h5_write_dataset_1d makes it. */
static enum qz_status write_field_serial(hid_t group, int field, const struct qz_entry *e, size_t k,
                                         void *buf, size_t slice)
{
    hsize_t dim = k;
    hid_t ftype, mtype, space = H5Screate_simple(1, &dim, NULL), dset = H5I_INVALID_HID;
    enum qz_status rc = QZ_EHDF5;

    qz_h5_kind_types(top_fields[field].kind, &ftype, &mtype);
    if (space >= 0)
        dset = H5Dcreate2(group, top_fields[field].name, ftype, space, H5P_DEFAULT, H5P_DEFAULT,
                          H5P_DEFAULT);
    if (dset >= 0) {
        rc = QZ_OK;
        for (size_t off = 0; off < k && !rc; off += slice) {
            size_t part = k - off < slice ? k - off : slice;
            fill_field(buf, field, e + off, part);
            if (write_part(dset, field, buf, part, off, H5P_DEFAULT) < 0)
                rc = QZ_EHDF5;
        }
        if (!rc)
            rc = qz_h5_describe(dset, top_fields[field].description, top_fields[field].units);
        if (H5Dclose(dset) < 0)
            rc = QZ_EHDF5;
    }
    if (space >= 0 && H5Sclose(space) < 0)
        rc = QZ_EHDF5;
    return rc;
}

/* top/payload (UTF-8 texts) and, with log-probs, top/logprob_sum and top/tokens. */
static enum qz_status write_top_texts(hid_t group, const struct qz_texts *t, int logprobs,
                                      const struct qz_h5_where *w, struct qz_error *err)
{
    uint64_t *tokens = NULL;
    double *mean = NULL;
    enum qz_status rc = QZ_OK;

    if ((rc = qz_h5_write_texts(group, "payload", t->bytes, t->off, t->len, t->n, 0,
                                "texts of the top set (UTF-8), best first")))
        return qz_h5_fail(err, rc, "%s: cannot write dataset %s/payload", w->path, w->group);
    if (!logprobs)
        return QZ_OK;
    tokens = malloc((t->n ? t->n : 1) * sizeof *tokens);
    mean = malloc((t->n ? t->n : 1) * sizeof *mean);
    if (!tokens || !mean) {
        free(tokens);
        free(mean);
        return qz_error_set(err, QZ_ENOMEM, "%s: out of memory", w->path);
    }
    for (size_t i = 0; i < t->n; i++) {
        tokens[i] = t->tokens[i];
        mean[i] = t->tokens[i] ? t->logprob_sum[i] / (double)t->tokens[i] : NAN;
    }
    if ((rc = qz_h5_write_dataset_1d(group, "logprob_sum", QZ_H5_F64, t->n, t->logprob_sum,
                                     "sums of the top set's token log-probabilities, best first",
                                     "nats")) ||
        (rc = qz_h5_write_dataset_1d(
             group, "logprob_mean", QZ_H5_F64, t->n, mean,
             "mean token log-probability of each top-set sample, best first", "nats")) ||
        (rc = qz_h5_write_dataset_1d(group, "tokens", QZ_H5_U64, t->n, tokens,
                                     "tokens generated per top-set sample, best first", NULL)))
        rc = qz_h5_fail(err, rc, "%s: cannot write the log-probs of %s", w->path, w->group);
    free(tokens);
    free(mean);
    return rc;
}

/* top/ written by the root from rec->top, a slice at a time. */
enum qz_status qz_output_top_serial(hid_t run, const struct qz_record *rec,
                                    const struct qz_h5_where *w, struct qz_error *err)
{
    size_t k = (size_t)rec->top_count, slice = slice_entries();
    void *buf = malloc((k < slice ? (k ? k : 1) : slice) * sizeof(uint64_t));
    hid_t group;
    enum qz_status rc, rc2;

    if (!buf)
        return qz_error_set(err, QZ_ENOMEM, "%s: out of memory writing a top set of %zu", w->path,
                            k);
    if (!(rc = qz_h5_create_group(run, "top", &group, w, err))) {
        for (int f = 0; f < (rec->has_cost ? TOP_FIELDS : TOP_COST) && !rc; f++)
            if ((rc = write_field_serial(group, f, rec->top, k, buf, slice)))
                rc = qz_h5_fail(err, rc, "%s: cannot write dataset %s/%s", w->path, w->group,
                                top_fields[f].name);
        if (!rc && rec->top_texts)
            rc = write_top_texts(group, rec->top_texts, rec->has_logprobs, w, err);
        rc2 = qz_h5_close_group(group, w, err);
        rc = rc ? rc : rc2;
    }
    free(buf);
    return rc;
}

/* Every rank's slice must start where the previous rank's ended, and they must add
 * up to total. Collective; the outcome is the same everywhere. */
static enum qz_status check_slices(MPI_Comm comm, size_t n, uint64_t offset, uint64_t total,
                                   const char *tmp_path, struct qz_error *err)
{
    unsigned long long mine = n, before = 0, sum = 0,
                       totals[2] = {total, ~(unsigned long long)total};
    int rank;

    MPI_Comm_rank(comm, &rank);
    MPI_Exscan(&mine, &before, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, comm);
    MPI_Allreduce(&mine, &sum, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, comm);
    MPI_Allreduce(MPI_IN_PLACE, totals, 2, MPI_UNSIGNED_LONG_LONG, MPI_MAX, comm);
    if (rank == 0)
        before = 0; /* MPI_Exscan leaves rank 0's result undefined */
    if (totals[0] != ~totals[1])
        return qz_error_set(err, QZ_EINTERNAL, "rank %d: %s: ranks disagree on the top set size",
                            rank, tmp_path);
    if (offset != before)
        return qz_error_set(err, QZ_EINTERNAL,
                            "rank %d: %s: the top set slice at position %llu does not start "
                            "where the slices of the lower ranks end (%llu)",
                            rank, tmp_path, (unsigned long long)offset, before);
    if (sum != total)
        return qz_error_set(err, QZ_EINTERNAL,
                            "rank %d: %s: the top set slices add up to %llu entries, not %llu",
                            rank, tmp_path, sum, (unsigned long long)total);
    return QZ_OK;
}

/* Create top/ and its datasets in the run group (collective: every rank the same
 * calls). Contiguous, allocated at creation (as parallel HDF5 requires) and never
 * filled, as every element is written next. */
static enum qz_status create_top_parallel(hid_t run, int nfields, hsize_t total, hid_t *top,
                                          hid_t *dset, const struct qz_h5_where *w,
                                          struct qz_error *err)
{
    hid_t space = H5Screate_simple(1, &total, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    enum qz_status rc = QZ_OK;

    if (space < 0 || dcpl < 0 || H5Pset_layout(dcpl, H5D_CONTIGUOUS) < 0 ||
        H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY) < 0 ||
        H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) < 0)
        rc = qz_h5_fail(err, QZ_EHDF5, "%s: cannot set up the datasets of %s", w->path, w->group);
    else
        rc = qz_h5_create_group(run, "top", top, w, err);
    for (int f = 0; f < nfields && !rc; f++) {
        hid_t ftype, mtype;
        qz_h5_kind_types(top_fields[f].kind, &ftype, &mtype);
        dset[f] =
            H5Dcreate2(*top, top_fields[f].name, ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        if (dset[f] < 0 || qz_h5_describe(dset[f], top_fields[f].description, top_fields[f].units))
            rc = qz_h5_fail(err, QZ_EHDF5, "%s: cannot create dataset %s/%s", w->path, w->group,
                            top_fields[f].name);
    }
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (space >= 0)
        H5Sclose(space);
    return rc;
}

/* Room on disk for the top set, taken by rank 0 before any rank writes it (the
 * agreement that follows orders it before the writes), for two reasons:
 * - Open MPI 4.1's OMPIO collective writers (fcoll dynamic_gen2, vulcan, two_phase)
 *   print "fbtl_pwritev failed" but return MPI_SUCCESS with the full count when the
 *   file system refuses a write (ENOSPC, EDQUOT): the record would be committed with
 *   holes of zeros. ROMIO and fcoll "individual" do report the failure.
 * - A parallel H5Fclose whose flush fails on rank 0 hangs in HDF5 1.10 (the ranks
 *   part ways between a barrier and a broadcast). So the space, and the file size
 *   (RLIMIT_FSIZE, EFBIG), is claimed past the end of the file before HDF5 opens it
 *   and grows its address space: new datasets are placed there, at the end. Once
 *   they exist, their exact blocks are allocated again (a no-op where they already
 *   are), should HDF5 have placed one elsewhere. At close, HDF5 truncates the file
 *   to what it uses. */
#define TOP_SLACK ((off_t)1 << 20) /* the datasets' object headers and attributes */

static enum qz_status claim_top_space(const char *tmp_path, uint64_t total, int nfields,
                                      struct qz_error *err)
{
    if ((uint64_t)nfields * total > (uint64_t)(INT64_MAX - TOP_SLACK) / 8)
        return qz_error_set(err, QZ_EINTERNAL, "%s: top set too large", tmp_path);
    return qz_safefile_allocate(tmp_path, QZ_SAFEFILE_END,
                                (off_t)(8 * (uint64_t)nfields * total) + TOP_SLACK, err);
}

static enum qz_status allocate_top(const char *tmp_path, const hid_t *dset, int nfields,
                                   const struct qz_h5_where *w, struct qz_error *err)
{
    enum qz_status rc = QZ_OK;

    for (int f = 0; f < nfields && !rc; f++) {
        haddr_t at = H5Dget_offset(dset[f]);
        hsize_t bytes = H5Dget_storage_size(dset[f]);
        if (at == HADDR_UNDEF || bytes == 0)
            rc = qz_h5_fail(err, QZ_EHDF5, "%s: no storage allocated for %s/%s", w->path, w->group,
                            top_fields[f].name);
        else
            rc = qz_safefile_allocate(tmp_path, (off_t)at, (off_t)bytes, err);
    }
    return rc;
}

/* Collective: write this rank's n entries e[0..n) at offset into dataset `field`,
 * a slice at a time through buf (room for `slice` values). Collective transfers need
 * the same number of H5Dwrite calls on every rank: all make as many as the rank with
 * the most slices, selecting nothing once their entries are written. Each write is
 * agreed on, so a failure stops every rank at the same call. */
static enum qz_status write_field_parallel(MPI_Comm comm, hid_t dset, int field,
                                           const struct qz_entry *e, size_t n, uint64_t offset,
                                           void *buf, size_t slice, hid_t dxpl,
                                           const struct qz_h5_where *w, struct qz_error *err)
{
    unsigned long long calls = (n + slice - 1) / slice;
    enum qz_status rc = QZ_OK;

    MPI_Allreduce(MPI_IN_PLACE, &calls, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, comm);
    for (unsigned long long c = 0; c < calls && !rc; c++) {
        size_t off = (size_t)c * slice, part = off < n ? (n - off < slice ? n - off : slice) : 0;
        if (part)
            fill_field(buf, field, e + off, part);
        if (write_part(dset, field, buf, part, offset + off, dxpl) < 0)
            rc = qz_h5_fail(err, QZ_EHDF5, "%s: cannot write dataset %s/%s", w->path, w->group,
                            top_fields[field].name);
        rc = qz_agree(comm, rc, err);
    }
    return rc;
}

/* Close what write_top opened, on every rank in the same order (the closes are
 * collective). Returns the first failure, in *err. */
static enum qz_status close_parallel(hid_t file, hid_t run_group, hid_t top, const hid_t *dset,
                                     const char *tmp_path, const struct qz_h5_where *w, int rank,
                                     struct qz_error *err)
{
    enum qz_status rc = QZ_OK;

    for (int f = 0; f < TOP_FIELDS; f++)
        if (dset[f] >= 0 && H5Dclose(dset[f]) < 0 && !rc)
            rc = qz_h5_fail(err, QZ_EHDF5, "rank %d: %s: cannot close %s/%s", rank, tmp_path,
                            w->group, top_fields[f].name);
    if (top >= 0 && H5Gclose(top) < 0 && !rc)
        rc = qz_h5_fail(err, QZ_EHDF5, "rank %d: %s: cannot close group %s", rank, tmp_path,
                        w->group);
    if (run_group >= 0 && H5Gclose(run_group) < 0 && !rc)
        rc = qz_h5_fail(err, QZ_EHDF5, "rank %d: %s: cannot close the run group", rank, tmp_path);
    if (!rc && H5Fget_obj_count(file, H5F_OBJ_ALL) != 1)
        rc = qz_error_set(err, QZ_EINTERNAL, "rank %d: %s: HDF5 objects still open at close", rank,
                          tmp_path);
    if (rank == 0)
        qz_safefile_unreserve(tmp_path); /* room for the close (QZ_RESERVE_BYTES) */
    if (H5Fclose(file) < 0 && !rc)
        rc = qz_h5_fail(err, QZ_EHDF5, "rank %d: %s: closing it after writing %s failed", rank,
                        tmp_path, w->group);
    return rc;
}

enum qz_status qz_output_write_top(MPI_Comm comm, const char *tmp_path, const char *run,
                                   const struct qz_entry *e, size_t n, uint64_t offset,
                                   uint64_t total, int has_cost, struct qz_error *err)
{
    struct qz_h5_quiet quiet;
    struct qz_error close_err = {QZ_OK, ""};
    size_t slice = slice_entries();
    void *buf = NULL;
    hid_t fapl = H5I_INVALID_HID, dxpl = H5I_INVALID_HID, file = H5I_INVALID_HID;
    hid_t run_group = H5I_INVALID_HID, top = H5I_INVALID_HID;
    hid_t dset[TOP_FIELDS] = {H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID};
    int nfields = has_cost ? TOP_FIELDS : TOP_COST, rank;
    char *run_path = qz_h5_join_path("/runs", run ? run : "");
    char *top_path = run_path ? qz_h5_join_path(run_path, "top") : NULL;
    const struct qz_h5_where w = {tmp_path, top_path};
    enum qz_status rc, rc_close;

    MPI_Comm_rank(comm, &rank);
    qz_h5_silence(&quiet);
    rc = check_slices(comm, n, offset, total, tmp_path, err);
    if (!rc && (!top_path || !(buf = malloc((n < slice ? (n ? n : 1) : slice) * sizeof(uint64_t)))))
        rc =
            qz_error_set(err, QZ_ENOMEM, "rank %d: out of memory for %zu top set entries", rank, n);
    if ((rc = qz_agree(comm, rc, err)))
        goto done;
    if (total > 0 &&
        (rc = qz_agree(comm, rank == 0 ? claim_top_space(tmp_path, total, nfields, err) : QZ_OK,
                       err)))
        goto done;

    /* Opening is collective and fails alike on every rank (no such file, not HDF5); a
     * file open on some ranks only would hang the closing ranks. */
    if (qz_h5_fapl_mpio(comm, &fapl) || (dxpl = H5Pcreate(H5P_DATASET_XFER)) < 0 ||
        H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE) < 0)
        rc = qz_h5_fail(err, QZ_EHDF5, "rank %d: cannot set up MPI-IO", rank);
    if ((rc = qz_agree(comm, rc, err)))
        goto done;
    if ((file = H5Fopen(tmp_path, H5F_ACC_RDWR, fapl)) < 0)
        rc = qz_h5_fail(err, QZ_EHDF5, "rank %d: %s: cannot open with MPI-IO", rank, tmp_path);
    if ((rc = qz_agree(comm, rc, err)))
        goto done;

    if ((run_group = H5Gopen2(file, run_path, H5P_DEFAULT)) < 0)
        rc = qz_h5_fail(err, QZ_EHDF5, "%s: no group %s to add the top set to", tmp_path, run_path);
    else
        rc = create_top_parallel(run_group, nfields, total, &top, dset, &w, err);
    rc = qz_agree(comm, rc, err);
    if (!rc && total > 0)
        rc =
            qz_agree(comm, rank == 0 ? allocate_top(tmp_path, dset, nfields, &w, err) : QZ_OK, err);
    for (int f = 0; f < nfields && total > 0 && !rc; f++)
        rc = write_field_parallel(comm, dset[f], f, e, n, offset, buf, slice, dxpl, &w, err);

    /* After a failure, its message stands, not one about the close. */
    rc_close = close_parallel(file, run_group, top, dset, tmp_path, &w, rank, &close_err);
    if (!rc && rc_close)
        *err = close_err;
    rc = qz_agree(comm, rc ? rc : rc_close, err);
done:
    if (dxpl >= 0)
        H5Pclose(dxpl);
    if (fapl >= 0)
        H5Pclose(fapl);
    free(buf);
    free(run_path);
    free(top_path);
    qz_h5_restore(&quiet);
    return rc;
}

enum qz_status qz_output_set_peak_rss(const char *tmp_path, const char *run, uint64_t max,
                                      uint64_t root, struct qz_error *err)
{
    static const char *const names[2] = {"peak_rss_bytes_max", "peak_rss_bytes_root"};
    const uint64_t values[2] = {max, root};
    struct qz_h5_quiet quiet;
    char *run_path = qz_h5_join_path("/runs", run ? run : "");
    hid_t file = H5I_INVALID_HID, group = H5I_INVALID_HID;
    enum qz_status rc = QZ_OK;

    qz_h5_silence(&quiet);
    if (!run_path)
        rc = qz_error_set(err, QZ_ENOMEM, "%s: out of memory", tmp_path);
    else if ((file = H5Fopen(tmp_path, H5F_ACC_RDWR, H5P_DEFAULT)) < 0 ||
             (group = H5Gopen2(file, run_path, H5P_DEFAULT)) < 0)
        rc = qz_h5_fail(err, QZ_EHDF5, "%s: cannot reopen %s", tmp_path, run_path);
    for (int i = 0; i < 2 && !rc; i++) {
        hid_t a = H5Aopen(group, names[i], H5P_DEFAULT);
        if (a < 0 || H5Awrite(a, H5T_NATIVE_UINT64, &values[i]) < 0)
            rc = qz_h5_fail(err, QZ_EHDF5, "%s: cannot set %s of %s", tmp_path, names[i], run_path);
        if (a >= 0 && H5Aclose(a) < 0 && !rc)
            rc = qz_h5_fail(err, QZ_EHDF5, "%s: cannot set %s of %s", tmp_path, names[i], run_path);
    }
    if (group >= 0 && H5Gclose(group) < 0 && !rc)
        rc = qz_h5_fail(err, QZ_EHDF5, "%s: cannot close %s", tmp_path, run_path);
    if (file >= 0 && H5Fclose(file) < 0 && !rc)
        rc = qz_h5_fail(err, QZ_EHDF5, "%s: cannot close it after setting the peak memory",
                        tmp_path);
    free(run_path);
    qz_h5_restore(&quiet);
    return rc;
}
