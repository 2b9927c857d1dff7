/* The HDF5 record writer and inspect: round trip, archives of several runs,
 * overwrite rules, refusal of files that are not ours, atomicity on failure (the
 * target file untouched, no temporary file left behind), and the transaction API
 * (begin + commit, begin + abort, a top set written by qz_output_write_top on
 * MPI_COMM_SELF; tests/mpi/test_top_parallel.c covers several ranks).
 *
 * Usage: test_output [DIR]  — with DIR, the files are written there and kept (for
 * tests/tools/h5compare.py); without, a fresh temporary directory is removed. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
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

#include "error.h"
#include "inspect.h"
#include "output.h"
#include "record.h"

#include "mpicheck.h"

#define CHECK_RC(call, want) check_rc((call), (want), &err, #call, __LINE__)

/* Print every error message that comes back, so the log shows what users see. */
static void check_rc(enum qz_status got, enum qz_status want, const struct qz_error *err,
                     const char *what, int line)
{
    if (got != want) {
        fprintf(stderr, "FAIL line %d: %s -> %s (%s), want %s\n", line, what, qz_strerror(got),
                got ? err->msg : "", qz_strerror(want));
        failures++;
    } else if (got != QZ_OK) {
        printf("ok: %s -> %s: %s\n", what, qz_strerror(got), err->msg);
    }
}

static const struct qz_entry top_alpha[3] = {
    {2.5, 0.25, 17},
    {1.75, 0.0, 4},
    {1.75, 1.0, 123456789012345ULL},
};
static const double payload_alpha[2] = {1.75, -0.125};

static struct qz_record make_record(const char *run, double q, int has_cost)
{
    struct qz_record r;

    memset(&r, 0, sizeof r);
    r.run = run;
    r.job_json = "{\"name\": \"test\", \"q\": 0.01, \"samples\": 300}";
    r.version = "0.1.0-test";
    r.status = "complete";
    r.seed = 42;
    r.q = q;
    r.samples = 300;
    r.valid_samples = 299;
    r.invalid_samples = 1;
    r.mass = q * 299;
    r.top_count = 3;
    r.chunk_size = 64;
    r.threshold = 1.75;
    r.boundary_ties = 1;
    r.selected_position = 1;
    r.selected_index = 4;
    r.selected_utility = 1.75;
    r.selected_cost = has_cost ? 0.0 : NAN;
    r.selected_chunk = 0;
    r.selected_payload = payload_alpha;
    r.selected_payload_len = 2;
    r.has_cost = has_cost;
    r.top_stored = 1;
    r.top = top_alpha;
    r.ranks = 3;
    snprintf(r.started, sizeof r.started, "2026-01-02T03:04:05Z");
    snprintf(r.finished, sizeof r.finished, "2026-01-02T03:04:07Z");
    r.wall_seconds = 1.5;
    r.samples_per_second = 200.0;
    r.draw_seconds = 1.25;
    r.select_seconds = 0.125;
    r.write_seconds = -1; /* ignored: qz_output_commit records the time */
    r.peak_rss_max = 3u << 20;
    r.peak_rss_root = (5u << 19) + 1;
    return r;
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *s = malloc(n);

    if (!s)
        abort();
    snprintf(s, n, "%s/%s", dir, name);
    return s;
}

static int same_content(const char *path, const char *buf, size_t len)
{
    size_t n;
    char *now = slurp(path, &n);
    int same = now && buf && n == len && memcmp(now, buf, n) == 0;

    free(now);
    return same;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        CHECK(fclose(f) == 0);
    }
}

/* An HDF5 file with (format_ok) or without the quantilize root attributes. */
static void write_h5(const char *path, int format_ok)
{
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t space = H5Screate(H5S_SCALAR), str = H5Tcopy(H5T_C_S1), attr;
    const char *format = QZ_FORMAT_NAME;
    int version = QZ_FORMAT_VERSION;

    CHECK(file >= 0 && space >= 0 && str >= 0);
    H5Tset_size(str, H5T_VARIABLE);
    if (format_ok) {
        attr = H5Acreate2(file, "format", str, space, H5P_DEFAULT, H5P_DEFAULT);
        CHECK(attr >= 0 && H5Awrite(attr, str, &format) >= 0 && H5Aclose(attr) >= 0);
        attr = H5Acreate2(file, "format_version", H5T_STD_I32LE, space, H5P_DEFAULT, H5P_DEFAULT);
        CHECK(attr >= 0 && H5Awrite(attr, H5T_NATIVE_INT, &version) >= 0 && H5Aclose(attr) >= 0);
    }
    H5Tclose(str);
    H5Sclose(space);
    CHECK(H5Fclose(file) >= 0);
}

static double read_f64_attr(hid_t file, const char *obj, const char *name)
{
    double v = -1;
    hid_t a = H5Aopen_by_name(file, obj, name, H5P_DEFAULT, H5P_DEFAULT);

    CHECK(a >= 0 && H5Aread(a, H5T_NATIVE_DOUBLE, &v) >= 0);
    if (a >= 0)
        H5Aclose(a);
    return v;
}

static uint64_t read_u64_attr(hid_t file, const char *obj, const char *name)
{
    uint64_t v = 0;
    hid_t a = H5Aopen_by_name(file, obj, name, H5P_DEFAULT, H5P_DEFAULT);

    CHECK(a >= 0 && H5Aread(a, H5T_NATIVE_UINT64, &v) >= 0);
    if (a >= 0)
        H5Aclose(a);
    return v;
}

static int read_int_attr(hid_t file, const char *obj, const char *name)
{
    int v = -1;
    hid_t a = H5Aopen_by_name(file, obj, name, H5P_DEFAULT, H5P_DEFAULT);

    CHECK(a >= 0 && H5Aread(a, H5T_NATIVE_INT, &v) >= 0);
    if (a >= 0)
        H5Aclose(a);
    return v;
}

static void read_dataset(hid_t file, const char *name, hid_t mtype, void *buf)
{
    hid_t d = H5Dopen2(file, name, H5P_DEFAULT);

    CHECK(d >= 0 && H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    if (d >= 0)
        H5Dclose(d);
}

/* Read the written record back with plain HDF5 calls. */
static void check_contents(const char *path, double alpha_q)
{
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t run;
    uint64_t index[3] = {0};
    double cost[3] = {0}, payload[2] = {0};
    char *s = NULL;
    int ranks = 0, found = 1;

    CHECK(file >= 0);
    CHECK(read_f64_attr(file, "/runs/alpha", "q") == alpha_q);
    CHECK(read_f64_attr(file, "/runs/alpha", "threshold") == 1.75);
    CHECK(read_f64_attr(file, "/runs/alpha/selected", "cost") == 0.0);
    CHECK(read_int_attr(file, "/runs/alpha", "top_stored") == 1);
    CHECK(read_f64_attr(file, "/runs/alpha", "draw_seconds") == 1.25);
    CHECK(read_f64_attr(file, "/runs/alpha", "select_seconds") == 0.125);
    CHECK(read_f64_attr(file, "/runs/alpha", "write_seconds") >= 0);
    CHECK(read_u64_attr(file, "/runs/alpha", "peak_rss_bytes_max") == 3u << 20);
    CHECK(read_u64_attr(file, "/runs/alpha", "peak_rss_bytes_root") == (5u << 19) + 1);
    read_dataset(file, "/runs/alpha/top/index", H5T_NATIVE_UINT64, index);
    CHECK(index[0] == 17 && index[1] == 4 && index[2] == 123456789012345ULL);
    read_dataset(file, "/runs/alpha/top/cost", H5T_NATIVE_DOUBLE, cost);
    CHECK(cost[0] == 0.25 && cost[1] == 0.0 && cost[2] == 1.0);
    read_dataset(file, "/runs/alpha/selected/payload", H5T_NATIVE_DOUBLE, payload);
    CHECK(payload[0] == 1.75 && payload[1] == -0.125);
    run = H5Gopen2(file, "/runs/alpha", H5P_DEFAULT);
    CHECK(run >= 0);
    CHECK(qz_h5_read_string_attr(run, "status", &s, NULL) == QZ_OK && s && !strcmp(s, "complete"));
    free(s);
    CHECK(qz_h5_read_string_attr(run, "started", &s, NULL) == QZ_OK && s &&
          !strcmp(s, "2026-01-02T03:04:05Z"));
    free(s);
    CHECK(qz_h5_read_string_attr(run, "no_such", &s, &found) == QZ_OK && !found && !s);
    CHECK(qz_h5_read_string_attr(run, "no_such", &s, NULL) == QZ_EHDF5 && !s);
    CHECK(qz_h5_read_string_attr(run, "ranks", &s, &found) == QZ_EHDF5 && !s);
    hid_t a = H5Aopen(run, "ranks", H5P_DEFAULT);
    CHECK(a >= 0 && H5Aread(a, H5T_NATIVE_INT, &ranks) >= 0 && ranks == 3);
    H5Aclose(a);
    H5Gclose(run);
    CHECK(qz_h5_read_string_attr(file, "format", &s, NULL) == QZ_OK && s &&
          !strcmp(s, "quantilize"));
    free(s);
    /* beta has no cost scorer: neither top/cost nor selected.cost */
    CHECK(H5Lexists(file, "/runs/beta/top/index", H5P_DEFAULT) > 0);
    CHECK(H5Lexists(file, "/runs/beta/top/cost", H5P_DEFAULT) == 0);
    CHECK(H5Aexists_by_name(file, "/runs/beta/selected", "cost", H5P_DEFAULT) == 0);
    CHECK(H5Fclose(file) >= 0);
}

/* A write that fails after the temporary copy exists (here the file size limit:
 * the copy fits, the space reserved for the new run does not) must leave the file
 * as it was and no temporary file. Failures inside HDF5's own writes (disk full)
 * take the same cleanup path; they were checked by hand on a small tmpfs. */
static void check_failing_write(const char *dir, const char *path)
{
    struct qz_error err;
    struct qz_record rec = make_record("gamma", 0.01, 1);
    struct rlimit old, lim;
    struct stat st;
    size_t len;
    char *before = slurp(path, &len);
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);

    CHECK(before != NULL && stat(path, &st) == 0);
    CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
    lim = old;
    lim.rlim_cur = (rlim_t)st.st_size + 64; /* the copy fits, the new run does not */
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    enum qz_status rc = qz_output_write(path, &rec, 0, &err);
    CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
    signal(SIGXFSZ, old_handler);
    CHECK(rc == QZ_EHDF5 || rc == QZ_EIO);
    if (rc != QZ_OK)
        printf("ok: write beyond RLIMIT_FSIZE -> %s: %s\n", qz_strerror(rc), err.msg);
    CHECK(same_content(path, before, len));
    CHECK(count_temp_files(dir) == 0);
    free(before);
}

/* Files whose names hold ".tmp." in dir, less `expected`; 0 when as expected. */
static int extra_temp_files(const char *dir, int expected)
{
    return count_temp_files(dir) - expected;
}

/* Whether the run file has its reserve beside it. */
static int has_reserve(const char *runfile)
{
    char name[4096];

    snprintf(name, sizeof name, "%s.reserve", runfile);
    return access(name, F_OK) == 0;
}

/* begin + commit, begin + abort, the checks on a top set written collectively, a
 * run without a top set. path holds alpha and beta. */
static void check_transactions(const char *dir, const char *path)
{
    struct qz_error err;
    struct qz_output_txn txn;
    struct qz_record delta = make_record("delta", 0.25, 1);
    struct qz_record eps = make_record("epsilon", 0.25, 0);
    struct qz_record bare = make_record("bare", 0.25, 0);
    size_t len;
    char *before = slurp(path, &len);
    hid_t file;

    /* begin + abort: the file as it was, no temporary file. */
    CHECK_RC(qz_output_begin(path, NULL, &delta, 0, &txn, &err), QZ_OK);
    CHECK(txn.runfile != NULL && strstr(txn.runfile, ".runs/delta-") != NULL);
    CHECK(access(txn.runfile, F_OK) == 0);
    CHECK(same_content(path, before, len));
    qz_output_abort(&txn);
    qz_output_abort(&txn); /* harmless twice */
    CHECK(txn.runfile == NULL);
    CHECK(same_content(path, before, len));
    CHECK(extra_temp_files(dir, 0) == 0);

    /* begin + commit: write_seconds is the commit's argument. */
    CHECK_RC(qz_output_begin(path, NULL, &delta, 0, &txn, &err), QZ_OK);
    CHECK(same_content(path, before, len));
    CHECK_RC(qz_output_commit(&txn, 2.5, &err), QZ_OK);
    CHECK(extra_temp_files(dir, 0) == 0);
    CHECK_RC(qz_output_commit(&txn, 2.5, &err), QZ_EINTERNAL);
    file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(file >= 0);
    CHECK(read_f64_attr(file, "/runs/delta", "write_seconds") == 2.5);
    CHECK(read_f64_attr(file, "/runs/alpha", "q") == 0.01);
    CHECK(H5Lexists(file, "/runs/delta/top/cost", H5P_DEFAULT) > 0);
    CHECK(H5Fclose(file) >= 0);
    free(before);
    before = slurp(path, &len);

    /* A top set left to qz_output_write_top: qz_output_write refuses, and a commit
     * without it fails and leaves the file alone. */
    eps.top = NULL;
    CHECK_RC(qz_output_write(path, &eps, 0, &err), QZ_EINTERNAL);
    CHECK_RC(qz_output_begin(path, NULL, &eps, 0, &txn, &err), QZ_OK);
    CHECK(extra_temp_files(dir, 0) == 0); /* the run file and its reserve are in .runs/ */
    CHECK(access(txn.runfile, F_OK) == 0 && has_reserve(txn.runfile));
    CHECK_RC(qz_output_commit(&txn, 1.0, &err), QZ_EINTERNAL);
    CHECK(strstr(err.msg, "was not written") != NULL);
    CHECK(same_content(path, before, len));
    CHECK(extra_temp_files(dir, 0) == 0);

    /* Another writer links the same run between this one's begin and commit: the
     * commit (under the lock) says the run exists, and its run file goes. */
    {
        struct qz_record late = make_record("late", 0.25, 1);
        char *runfile;
        CHECK_RC(qz_output_begin(path, NULL, &late, 0, &txn, &err), QZ_OK);
        runfile = strdup(txn.runfile);
        CHECK_RC(qz_output_write(path, &late, 0, &err), QZ_OK);
        CHECK_RC(qz_output_commit(&txn, 1.0, &err), QZ_EEXISTS);
        CHECK(runfile && access(runfile, F_OK) != 0);
        free(runfile);
        free(before);
        before = slurp(path, &len);
    }

    /* ... and with it, on one rank. */
    CHECK_RC(qz_output_begin(path, NULL, &eps, 0, &txn, &err), QZ_OK);
    CHECK_RC(
        qz_output_write_top(MPI_COMM_SELF, txn.runfile, "epsilon", top_alpha, 3, 0, 3, 0, &err),
        QZ_OK);
    CHECK(!has_reserve(txn.runfile)); /* rank 0 gave the reserve back */
    CHECK_RC(qz_output_commit(&txn, 1.0, &err), QZ_OK);
    CHECK(extra_temp_files(dir, 0) == 0);
    file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(file >= 0);
    {
        uint64_t index[3] = {0};
        double utility[3] = {0};
        read_dataset(file, "/runs/epsilon/top/index", H5T_NATIVE_UINT64, index);
        read_dataset(file, "/runs/epsilon/top/utility", H5T_NATIVE_DOUBLE, utility);
        CHECK(index[0] == 17 && index[1] == 4 && index[2] == 123456789012345ULL);
        CHECK(utility[0] == 2.5 && utility[1] == 1.75 && utility[2] == 1.75);
        CHECK(H5Lexists(file, "/runs/epsilon/top/cost", H5P_DEFAULT) == 0);
        hid_t d = H5Dopen2(file, "/runs/epsilon/top/utility", H5P_DEFAULT);
        char *s = NULL;
        CHECK(d >= 0 && qz_h5_read_string_attr(d, "units", &s, NULL) == QZ_OK && s &&
              !strcmp(s, "utility"));
        free(s);
        H5Dclose(d);
    }
    CHECK(H5Fclose(file) >= 0);
    free(before);
    before = slurp(path, &len);

    /* Slices that do not tile the top set, and a run that is not there. */
    CHECK_RC(qz_output_begin(path, NULL, &bare, 0, &txn, &err), QZ_OK);
    CHECK_RC(qz_output_write_top(MPI_COMM_SELF, txn.runfile, "bare", top_alpha, 3, 1, 4, 0, &err),
             QZ_EINTERNAL);
    CHECK_RC(
        qz_output_write_top(MPI_COMM_SELF, txn.runfile, "no_such_run", top_alpha, 3, 0, 3, 0, &err),
        QZ_EHDF5);
    qz_output_abort(&txn);
    CHECK(same_content(path, before, len));
    CHECK(extra_temp_files(dir, 0) == 0);

    /* A run whose top set the job did not keep. */
    bare.top_stored = 0;
    CHECK_RC(qz_output_write(path, &bare, 0, &err), QZ_OK);
    file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(file >= 0);
    CHECK(read_int_attr(file, "/runs/bare", "top_stored") == 0);
    CHECK(H5Lexists(file, "/runs/bare/top", H5P_DEFAULT) == 0);
    CHECK(H5Lexists(file, "/runs/bare/selected", H5P_DEFAULT) > 0);
    CHECK(H5Fclose(file) >= 0);
    free(before);
}

static int run_tests(const char *dir)
{
    struct qz_error err;
    char *out = join(dir, "out.h5"), *hello = join(dir, "hello.txt");
    char *alien = join(dir, "alien.h5"), *empty = join(dir, "empty.h5");
    char *nodir = join(dir, "no/such/dir/out.h5"), *missing = join(dir, "missing.h5");
    struct qz_record alpha = make_record("alpha", 0.01, 1);
    struct qz_record beta = make_record("beta", 0.5, 0);
    size_t len;
    char *before;

    /* A new file, then a second run in it. */
    CHECK_RC(qz_output_check(out, "alpha", 0, &err), QZ_OK);
    CHECK_RC(qz_output_write(out, &alpha, 0, &err), QZ_OK);
    CHECK_RC(qz_output_write(out, &beta, 0, &err), QZ_OK);
    check_contents(out, 0.01);

    /* Existing runs: refused without overwrite, replaced with it. */
    CHECK_RC(qz_output_check(out, "alpha", 0, &err), QZ_EEXISTS);
    CHECK(strstr(err.msg, "\"alpha\" already exists") != NULL);
    CHECK_RC(qz_output_check(out, "alpha", 1, &err), QZ_OK);
    CHECK_RC(qz_output_check(out, "gamma", 0, &err), QZ_OK);
    before = slurp(out, &len);
    CHECK_RC(qz_output_write(out, &alpha, 0, &err), QZ_EEXISTS);
    CHECK(same_content(out, before, len));
    free(before);
    alpha.q = 0.0125;
    alpha.mass = alpha.q * 299;
    CHECK_RC(qz_output_write(out, &alpha, 1, &err), QZ_OK);
    check_contents(out, 0.0125);
    alpha.q = 0.01;
    alpha.mass = alpha.q * 299;
    CHECK_RC(qz_output_write(out, &alpha, 1, &err), QZ_OK);
    check_contents(out, 0.01);

    /* Bad run names. */
    CHECK_RC(qz_output_check(out, "a/b", 0, &err), QZ_EARGS);
    CHECK_RC(qz_output_check(out, "", 0, &err), QZ_EARGS);

    /* Files that are not ours are refused and left alone. */
    write_text(hello, "hello");
    CHECK_RC(qz_output_check(hello, "alpha", 0, &err), QZ_EARGS);
    CHECK(strstr(err.msg, "not an HDF5 file") != NULL);
    CHECK_RC(qz_output_write(hello, &alpha, 1, &err), QZ_EARGS);
    CHECK(same_content(hello, "hello", 5));
    write_h5(alien, 0);
    CHECK_RC(qz_output_check(alien, "alpha", 0, &err), QZ_EARGS);
    CHECK(strstr(err.msg, "not a quantilize record file (no /format attribute)") != NULL);
    before = slurp(alien, &len);
    CHECK_RC(qz_output_write(alien, &alpha, 1, &err), QZ_EARGS);
    CHECK(same_content(alien, before, len));
    free(before);

    /* A directory that does not exist. */
    CHECK_RC(qz_output_check(nodir, "alpha", 0, &err), QZ_EARGS);
    CHECK(strstr(err.msg, "no/such/dir") != NULL);
    CHECK_RC(qz_output_write(nodir, &alpha, 0, &err), QZ_EIO);

    check_failing_write(dir, out);
    CHECK(count_temp_files(dir) == 0);
    check_transactions(dir, out);

    /* inspect */
    FILE *f = tmpfile();
    char text[65536];
    size_t n;
    CHECK(f != NULL);
    CHECK_RC(qz_inspect(out, f, &err), QZ_OK);
    rewind(f);
    n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    fputs(text, stdout);
    CHECK(strstr(text, "run alpha\n") != NULL);
    CHECK(strstr(text, "run beta\n") != NULL);
    CHECK(strstr(text, "run late\n") != NULL);
    CHECK(strstr(text, "6 runs") != NULL);
    CHECK(strstr(text, "123456789012345") != NULL);
    CHECK(strstr(text, "selected cost:") != NULL);
    CHECK(strstr(text, "run delta\n") != NULL);
    CHECK(strstr(text, "  draw time:         1.25 s\n") != NULL);
    CHECK(strstr(text, "  write time:        2.5 s\n") != NULL);
    CHECK(strstr(text, "  peak RSS (max):    3.0 MiB\n") != NULL);
    CHECK(strstr(text, "  peak RSS (root):   2.5 MiB\n") != NULL);
    CHECK(strstr(text, "  top set:           (not stored)\n") != NULL);
    write_h5(empty, 1);
    CHECK_RC(qz_inspect(empty, stdout, &err), QZ_OK);
    CHECK_RC(qz_inspect(missing, stdout, &err), QZ_EARGS);
    CHECK(strstr(err.msg, "no such file") != NULL);
    CHECK_RC(qz_inspect(hello, stdout, &err), QZ_EARGS);
    CHECK_RC(qz_inspect(alien, stdout, &err), QZ_EARGS);

    free(out);
    free(hello);
    free(alien);
    free(empty);
    free(nodir);
    free(missing);
    return failures;
}

static void remove_dir(const char *dir)
{
    const char *names[] = {"out.h5", "hello.txt", "alien.h5", "empty.h5"};

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *p = join(dir, names[i]);
        if (unlink(p) != 0 && errno != ENOENT)
            fprintf(stderr, "cannot remove %s\n", p);
        free(p);
    }
    if (rmdir(dir) != 0)
        fprintf(stderr, "cannot remove %s (left behind?)\n", dir);
}

int main(int argc, char **argv)
{
    char tmpl[] = "/tmp/qz_test_output.XXXXXX";
    const char *dir = argc > 1 ? argv[1] : mkdtemp(tmpl);

    MPI_Init(&argc, &argv);
    if (!dir || (argc > 1 && mkdir(dir, 0777) != 0 && errno != EEXIST)) {
        fprintf(stderr, "cannot create a test directory\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    run_tests(dir);
    if (argc == 1)
        remove_dir(dir);
    printf("%s: %d failure%s\n", failures ? "FAILED" : "PASSED", failures,
           failures == 1 ? "" : "s");
    MPI_Finalize();
    return failures ? 1 : 0;
}
