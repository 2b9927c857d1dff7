/* The collective top/ writer (qz_output_write_top) under mpirun at 1, 2 and 3 ranks:
 * the root begins the transaction, every rank writes its slice of the top set, the
 * root commits and reads the file back with serial HDF5.
 *
 *   - a small top set split unevenly, one rank (rank 1) holding no entries, with cost;
 *   - K = 1,000,003 split unevenly, without cost, added to the same file;
 *   - K = 0;
 *   - with QZ_TOP_SLICE = 7 (values per H5Dwrite), top sets of several slices: the
 *     collective writer with ranks holding different numbers of slices (rank 1 none),
 *     and the root's serial writer (qz_output_write with the whole set);
 *   - failures in the collective part (a run group that was never created, slices
 *     that do not tile the top set, a file size limit that the top set would cross):
 *     every rank returns the same error, nobody hangs, and after the root's abort the
 *     file is as it was with no temporary file.
 *
 * Usage: mpirun -n R test_top_parallel [DIR] — with DIR the file is kept there. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>
#include <mpi.h>

#include "agree.h"
#include "error.h"
#include "output.h"
#include "record.h"
#include "topset.h"

#include "mpicheck.h"

#define BIG_K 1000003ULL

static int size;

/* The entry at global position p of a top set: best first, distinct indices. */
static struct qz_entry entry_at(uint64_t p)
{
    struct qz_entry e;

    e.index = p * 7919u + 13u;
    e.utility = 1e6 - (double)p * 0.5;
    e.cost = (double)p * 0.25;
    return e;
}

/* This rank's share of k entries: weights r + 1, rank 1 none when skip_one and
 * there are several ranks, the remainder to the last rank. *offset is its start. */
static size_t share(uint64_t k, int skip_one, uint64_t *offset)
{
    uint64_t weight = 0, before = 0, mine = 0, given = 0;

    for (int r = 0; r < size; r++)
        weight += (skip_one && size > 1 && r == 1) ? 0 : (uint64_t)r + 1;
    for (int r = 0; r < size; r++) {
        uint64_t w = (skip_one && size > 1 && r == 1) ? 0 : (uint64_t)r + 1;
        uint64_t n = r == size - 1 ? k - given : k * w / weight;
        if (r < rank)
            before += n;
        if (r == rank)
            mine = n;
        given += n;
    }
    *offset = before;
    return (size_t)mine;
}

static struct qz_record make_record(const char *run, uint64_t k, int has_cost)
{
    static const double payload = 0.5;
    struct qz_record r;
    struct qz_entry sel = entry_at(0);

    memset(&r, 0, sizeof r);
    r.run = run;
    r.job_json = "{\"name\": \"parallel\"}";
    r.version = "0.1.0-test";
    r.status = "complete";
    r.seed = 7;
    r.q = 0.5;
    r.samples = 2 * k;
    r.valid_samples = 2 * k;
    r.mass = (double)k;
    r.top_count = k;
    r.chunk_size = 1000;
    r.threshold = k ? entry_at(k - 1).utility : 0;
    r.selected_index = sel.index;
    r.selected_utility = sel.utility;
    r.selected_cost = sel.cost;
    r.selected_payload = &payload;
    r.selected_payload_len = 1;
    r.has_cost = has_cost;
    r.top_stored = 1;
    r.top = NULL; /* written collectively */
    r.ranks = size;
    snprintf(r.started, sizeof r.started, "2026-01-02T03:04:05Z");
    snprintf(r.finished, sizeof r.finished, "2026-01-02T03:04:07Z");
    r.draw_seconds = 0.5;
    r.peak_rss_max = 1u << 20;
    r.peak_rss_root = 1u << 20;
    return r;
}

/* The root begins, every rank writes its share under the name top_run, the root
 * commits (or aborts on any failure). Returns the agreed outcome. */
static enum qz_status add_run(const char *path, const struct qz_record *rec, const char *top_run,
                              int skip_one, struct qz_error *err)
{
    struct qz_output_txn txn;
    struct qz_entry *mine = NULL;
    uint64_t offset = 0;
    size_t n = share(rec->top_count, skip_one, &offset);
    char tmp[4096] = "";
    enum qz_status rc = QZ_OK;
    double t0 = MPI_Wtime();

    memset(&txn, 0, sizeof txn);
    if (rank == 0 && (rc = qz_output_begin(path, NULL, rec, 0, &txn, err)) == QZ_OK)
        snprintf(tmp, sizeof tmp, "%s", txn.runfile);
    if ((rc = qz_agree(MPI_COMM_WORLD, rc, err)))
        return rc;
    MPI_Bcast(tmp, sizeof tmp, MPI_CHAR, 0, MPI_COMM_WORLD);
    if (n && !(mine = malloc(n * sizeof *mine)))
        abort();
    for (size_t i = 0; i < n; i++)
        mine[i] = entry_at(offset + i);
    rc = qz_output_write_top(MPI_COMM_WORLD, tmp, top_run, mine, n, offset, rec->top_count,
                             rec->has_cost, err);
    free(mine);
    if (rank == 0) {
        if (rc == QZ_OK)
            rc = qz_output_commit(&txn, qz_output_elapsed(&txn), err);
        else
            qz_output_abort(&txn);
    }
    rc = qz_agree(MPI_COMM_WORLD, rc, err);
    if (rank == 0 && rc == QZ_OK)
        printf("wrote %s with K = %llu on %d rank%s in %.3f s\n", rec->run,
               (unsigned long long)rec->top_count, size, size == 1 ? "" : "s", MPI_Wtime() - t0);
    return rc;
}

/* Every rank got the same status. */
static int same_everywhere(enum qz_status rc)
{
    int lo, hi, mine = (int)rc;

    MPI_Allreduce(&mine, &lo, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&mine, &hi, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return lo == hi;
}

/* Set while checking a top set of the serial writer, which keeps HDF5's fill time. */
static int serial_writer;

/* Read /runs/<run>/top back (root, serial) and compare with entry_at. */
static void check_top(const char *path, const char *run, uint64_t k, int has_cost)
{
    char name[256];
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    size_t n = k ? (size_t)k : 1;
    uint64_t *index = malloc(n * sizeof *index);
    double *utility = malloc(n * sizeof *utility), *cost = malloc(n * sizeof *cost);
    const char *fields[] = {"index", "utility", "cost"};
    uint64_t bad = 0;

    CHECK(file >= 0 && index && utility && cost);
    for (int f = 0; f < 3; f++) {
        hid_t dset, space, dcpl;
        hsize_t dims[1] = {0};
        H5D_fill_time_t fill = H5D_FILL_TIME_ALLOC;

        snprintf(name, sizeof name, "/runs/%s/top/%s", run, fields[f]);
        if (f == 2 && !has_cost) {
            CHECK(H5Lexists(file, name, H5P_DEFAULT) == 0);
            continue;
        }
        dset = H5Dopen2(file, name, H5P_DEFAULT);
        CHECK(dset >= 0);
        space = H5Dget_space(dset);
        CHECK(H5Sget_simple_extent_dims(space, dims, NULL) == 1 && dims[0] == k);
        dcpl = H5Dget_create_plist(dset);
        CHECK(H5Pget_fill_time(dcpl, &fill) >= 0 && (serial_writer || fill == H5D_FILL_TIME_NEVER));
        CHECK(H5Pget_layout(dcpl) == H5D_CONTIGUOUS);
        CHECK(k == 0 || H5Dread(dset, f == 0 ? H5T_NATIVE_UINT64 : H5T_NATIVE_DOUBLE, H5S_ALL,
                                H5S_ALL, H5P_DEFAULT,
                                f == 0   ? (void *)index
                                : f == 1 ? (void *)utility
                                         : (void *)cost) >= 0);
        H5Pclose(dcpl);
        H5Sclose(space);
        H5Dclose(dset);
    }
    for (uint64_t p = 0; p < k; p++) {
        struct qz_entry e = entry_at(p);
        if (index[p] != e.index || utility[p] != e.utility || (has_cost && cost[p] != e.cost)) {
            if (bad++ < 5)
                fprintf(stderr, "%s: position %llu: %llu %.17g %.17g, want %llu %.17g %.17g\n", run,
                        (unsigned long long)p, (unsigned long long)index[p], utility[p],
                        has_cost ? cost[p] : 0.0, (unsigned long long)e.index, e.utility, e.cost);
        }
    }
    CHECK(bad == 0);
    snprintf(name, sizeof name, "/runs/%s", run);
    CHECK(H5Aexists_by_name(file, name, "write_seconds", H5P_DEFAULT) > 0);
    CHECK(H5Fclose(file) >= 0);
    free(index);
    free(utility);
    free(cost);
}

/* A failing collective part (the run group is "ghostless", the top set goes to
 * "ghost", which was never created): every rank the same error, the file as it was. */
static void check_failure(const char *dir, const char *path)
{
    struct qz_error err = {QZ_OK, ""};
    struct qz_record rec = make_record("ghostless", 5, 1);
    size_t len = 0;
    char *before = rank == 0 ? slurp(path, &len) : NULL;
    enum qz_status rc = add_run(path, &rec, "ghost", 1, &err);

    CHECK(rc == QZ_EHDF5);
    CHECK(same_everywhere(rc));
    if (rank == 0) {
        size_t now_len;
        char *now = slurp(path, &now_len);
        printf("ok: collective failure -> %s: %s\n", qz_strerror(rc), err.msg);
        CHECK(before && now && now_len == len && memcmp(before, now, len) == 0);
        CHECK(count_temp_files(dir) == 0);
        free(now);
    }
    free(before);
}

/* A top set that would cross the file size limit (RLIMIT_FSIZE, set on every rank):
 * OMPIO's collective writers would drop the failed writes without a word, so the
 * writer must catch it before (qz_safefile_allocate) and fail on every rank. */
static void check_file_limit(const char *dir, const char *path)
{
    struct qz_error err = {QZ_OK, ""};
    struct qz_record rec = make_record("too_big", BIG_K, 1);
    struct rlimit old, lim;
    struct stat st;
    size_t len = 0;
    char *before = rank == 0 ? slurp(path, &len) : NULL;
    long long bytes = 0;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    enum qz_status rc;

    if (rank == 0 && stat(path, &st) == 0)
        bytes = (long long)st.st_size;
    MPI_Bcast(&bytes, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD);
    CHECK(bytes > 0 && getrlimit(RLIMIT_FSIZE, &old) == 0);
    lim = old;
    /* room for the copy and the 4 MiB reserve, not for 24 MB more of top set */
    lim.rlim_cur = (rlim_t)(bytes > (8 << 20) ? bytes : (8 << 20)) + (2 << 20);
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    rc = add_run(path, &rec, "too_big", 1, &err);
    CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
    signal(SIGXFSZ, old_handler);
    CHECK(rc == QZ_EIO);
    CHECK(same_everywhere(rc));
    if (rank == 0) {
        size_t now_len;
        char *now = slurp(path, &now_len);
        printf("ok: beyond RLIMIT_FSIZE -> %s: %s\n", qz_strerror(rc), err.msg);
        CHECK(before && now && now_len == len && memcmp(before, now, len) == 0);
        CHECK(count_temp_files(dir) == 0);
        free(now);
    }
    free(before);
}

/* Slices that leave a gap: rank 0 claims one entry fewer than it passes on. */
static void check_bad_slices(const char *dir, const char *path)
{
    struct qz_error err = {QZ_OK, ""};
    struct qz_record rec = make_record("slices", 6, 0);
    struct qz_output_txn txn;
    struct qz_entry e[6];
    char tmp[4096] = "";
    uint64_t offset = 0;
    size_t n = share(6, 0, &offset);
    enum qz_status rc = QZ_OK;

    memset(&txn, 0, sizeof txn);
    for (int i = 0; i < 6; i++)
        e[i] = entry_at((uint64_t)i);
    if (rank == 0 && (rc = qz_output_begin(path, NULL, &rec, 0, &txn, &err)) == QZ_OK)
        snprintf(tmp, sizeof tmp, "%s", txn.runfile);
    CHECK(qz_agree(MPI_COMM_WORLD, rc, &err) == QZ_OK);
    MPI_Bcast(tmp, sizeof tmp, MPI_CHAR, 0, MPI_COMM_WORLD);
    rc = qz_output_write_top(MPI_COMM_WORLD, tmp, "slices", e, n, offset + (rank == size - 1), 6, 0,
                             &err);
    CHECK(rc == QZ_EINTERNAL);
    CHECK(same_everywhere(rc));
    if (rank == 0) {
        printf("ok: bad slices -> %s: %s\n", qz_strerror(rc), err.msg);
        qz_output_abort(&txn);
        CHECK(count_temp_files(dir) == 0);
    }
}

/* The root writes run `run` with its whole top set of k entries through the serial
 * writer (qz_output_write). Returns the agreed outcome. */
static enum qz_status add_run_serial(const char *path, const char *run, uint64_t k,
                                     struct qz_error *err)
{
    struct qz_record rec = make_record(run, k, 1);
    struct qz_entry *all = malloc((size_t)(k ? k : 1) * sizeof *all);
    enum qz_status rc = QZ_OK;

    if (!all)
        abort();
    for (uint64_t p = 0; p < k; p++)
        all[p] = entry_at(p);
    rec.top = all;
    if (rank == 0)
        rc = qz_output_write(path, &rec, 0, err);
    free(all);
    return qz_agree(MPI_COMM_WORLD, rc, err);
}

int main(int argc, char **argv)
{
    char tmpl[] = "/tmp/qz_test_top_parallel.XXXXXX", dir[2048] = "", path[2300];
    struct qz_error err = {QZ_OK, ""};
    struct qz_record small, big, none, sliced;
    enum qz_status rc;

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (rank == 0) {
        const char *d = argc > 1 ? argv[1] : mkdtemp(tmpl);
        if (!d || (argc > 1 && mkdir(d, 0777) != 0 && errno != EEXIST)) {
            fprintf(stderr, "cannot create a test directory\n");
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        snprintf(dir, sizeof dir, "%s", d);
    }
    MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
    snprintf(path, sizeof path, "%s/top.h5", dir);

    small = make_record("small", 10 + 3 * (uint64_t)size, 1);
    rc = add_run(path, &small, "small", 1, &err);
    CHECK(rc == QZ_OK);
    if (rc)
        fprintf(stderr, "rank %d: %s\n", rank, err.msg);
    if (rank == 0 && rc == QZ_OK)
        check_top(path, "small", small.top_count, 1);

    big = make_record("big", BIG_K, 0);
    rc = add_run(path, &big, "big", 0, &err);
    CHECK(rc == QZ_OK);
    if (rc)
        fprintf(stderr, "rank %d: %s\n", rank, err.msg);
    if (rank == 0 && rc == QZ_OK) {
        check_top(path, "big", BIG_K, 0);
        check_top(path, "small", small.top_count, 1);
    }

    none = make_record("none", 0, 1);
    rc = add_run(path, &none, "none", 1, &err);
    CHECK(rc == QZ_OK);
    if (rank == 0 && rc == QZ_OK)
        check_top(path, "none", 0, 1);

    /* Several slices per field: 7 values a write, K not a multiple of 7. */
    setenv("QZ_TOP_SLICE", "7", 1);
    sliced = make_record("sliced", 100 + 11 * (uint64_t)size, 1);
    rc = add_run(path, &sliced, "sliced", 1, &err);
    CHECK(rc == QZ_OK);
    if (rc)
        fprintf(stderr, "rank %d: %s\n", rank, err.msg);
    if (rank == 0 && rc == QZ_OK)
        check_top(path, "sliced", sliced.top_count, 1);
    rc = add_run_serial(path, "sliced_serial", 53, &err);
    CHECK(rc == QZ_OK);
    if (rc)
        fprintf(stderr, "rank %d: %s\n", rank, err.msg);
    if (rank == 0 && rc == QZ_OK) {
        serial_writer = 1;
        check_top(path, "sliced_serial", 53, 1);
        serial_writer = 0;
    }
    unsetenv("QZ_TOP_SLICE");

    check_failure(dir, path);
    check_file_limit(dir, path);
    check_bad_slices(dir, path);

    if (rank == 0) {
        if (argc == 1) {
            unlink(path);
            if (rmdir(dir) != 0)
                fprintf(stderr, "cannot remove %s (left behind?)\n", dir);
        }
    }
    MPI_Allreduce(MPI_IN_PLACE, &failures, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("%s: %d failure%s on %d rank%s\n", failures ? "FAILED" : "PASSED", failures,
               failures == 1 ? "" : "s", size, size == 1 ? "" : "s");
    MPI_Finalize();
    return failures ? 1 : 0;
}
