#include "inspect.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "h5util.h"
#include "output.h"

#define KEY_WIDTH 19       /* "selected position:" and a space */
#define QZ_SHOWN_SWEEP 256 /* sweep rows shown (a job lists at most QZ_SWEEP_MAX) */
#define TOP_SHOWN 5        /* entries of the top set shown */
#define PAYLOAD_SHOWN 8    /* payload values shown */
#define TEXT_SHOWN 240     /* bytes of a text payload shown */
#define JOB_SHOWN 60       /* characters of the job's JSON shown */
#define VALUE_MAX 64

enum { FOUND = 1, MISSING = 0, UNREADABLE = -1 };

void qz_format_exact(char *buf, size_t n, double x)
{
    if (isfinite(x) && x == floor(x) && fabs(x) < 1e15) {
        snprintf(buf, n, "%.0f", x); /* 1000, not 1e+03 */
        return;
    }
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(buf, n, "%.*g", digits, x);
        if (!isfinite(x) || strtod(buf, NULL) == x)
            return;
    }
}

/* A figure for people (rates): 3 significant digits, no exponent below 1e15. */
static void fmt_human(char *buf, size_t n, double x)
{
    if (isfinite(x) && fabs(x) >= 100 && fabs(x) < 1e15)
        snprintf(buf, n, "%.0f", x);
    else
        snprintf(buf, n, "%.3g", x);
}

/* A duration for people: "0.0123 s", "42.5 s", "3 min 7.2 s", "2 h 05 min 09 s". */
static void fmt_duration(char *buf, size_t n, double s)
{
    if (!isfinite(s) || s < 60) {
        char num[VALUE_MAX];
        fmt_human(num, sizeof num, s);
        snprintf(buf, n, "%s s", num);
    } else if (s < 3600) {
        double t = round(s * 10) / 10, min = floor(t / 60);
        snprintf(buf, n, "%.0f min %.1f s", min, t - 60 * min);
    } else {
        double t = round(s), h = floor(t / 3600), min = floor((t - 3600 * h) / 60);
        snprintf(buf, n, "%.0f h %02.0f min %02.0f s", h, min, t - 3600 * h - 60 * min);
    }
}

/* Bytes in MiB for people: "123.4 MiB". */
static void fmt_mib(char *buf, size_t n, uint64_t bytes)
{
    snprintf(buf, n, "%.1f MiB", (double)bytes / (1024.0 * 1024.0));
}

/* Read the first n values (as mtype) of the 1-D dataset loc/name; *len gets its
 * length. FOUND, MISSING or UNREADABLE. */
static int read_head(hid_t loc, const char *name, hid_t mtype, size_t n, void *buf, hsize_t *len)
{
    hid_t dset = H5I_INVALID_HID, fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID;
    htri_t exists = H5Lexists(loc, name, H5P_DEFAULT);
    hsize_t start = 0, count;
    int rc = UNREADABLE;

    *len = 0;
    if (exists <= 0)
        return exists == 0 ? MISSING : UNREADABLE;
    if ((dset = H5Dopen2(loc, name, H5P_DEFAULT)) < 0 || (fspace = H5Dget_space(dset)) < 0 ||
        H5Sget_simple_extent_ndims(fspace) != 1 || H5Sget_simple_extent_dims(fspace, len, NULL) < 0)
        goto done;
    count = *len < n ? *len : n;
    if (count == 0) {
        rc = FOUND;
        goto done;
    }
    if (H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &start, NULL, &count, NULL) >= 0 &&
        (mspace = H5Screate_simple(1, &count, NULL)) >= 0 &&
        H5Dread(dset, mtype, mspace, fspace, H5P_DEFAULT, buf) >= 0)
        rc = FOUND;
done:
    if (mspace >= 0)
        H5Sclose(mspace);
    if (fspace >= 0)
        H5Sclose(fspace);
    if (dset >= 0)
        H5Dclose(dset);
    return rc;
}

static void put_line(FILE *out, const char *label, const char *value)
{
    char key[64];

    snprintf(key, sizeof key, "%s:", label);
    fprintf(out, "  %-*s%s\n", KEY_WIDTH, key, value);
}

/* How an attribute is shown. */
enum show {
    SHOW_U64,
    SHOW_I64,
    SHOW_EXACT,
    SHOW_HUMAN,
    SHOW_SECONDS,
    SHOW_MIB,
    SHOW_STR,
    SHOW_JOB
};

struct line {
    const char *label;
    const char *attr;
    enum show show;
    const char *suffix; /* units after the value, or NULL */
    int optional;       /* skip the line when the attribute is missing */
};

/* The job's JSON on one line, cut to JOB_SHOWN characters. */
static void show_job(FILE *out, const char *label, const char *json)
{
    size_t len = strlen(json), n = len < JOB_SHOWN ? len : JOB_SHOWN;
    char text[JOB_SHOWN + 48];

    for (size_t i = 0; i < n; i++)
        text[i] = (json[i] == '\n' || json[i] == '\r' || json[i] == '\t') ? ' ' : json[i];
    if (n < len)
        snprintf(text + n, sizeof text - n, "... (%zu bytes)", len);
    else
        text[n] = '\0';
    put_line(out, label, text);
}

static void show_string(FILE *out, hid_t loc, const struct line *l)
{
    char *s = NULL;
    int r = qz_h5_read_string_attr(loc, l->attr, &s);

    if (r == MISSING && l->optional)
        return;
    if (r == FOUND && l->show == SHOW_JOB)
        show_job(out, l->label, s);
    else
        put_line(out, l->label, r == FOUND ? s : r == MISSING ? "-" : "(unreadable)");
    free(s);
}

static void show_attr(FILE *out, hid_t loc, const struct line *l)
{
    char value[VALUE_MAX], text[VALUE_MAX + 32];
    union {
        uint64_t u;
        long long i;
        double d;
    } v;
    int r = UNREADABLE;

    switch (l->show) {
    case SHOW_STR:
    case SHOW_JOB:
        show_string(out, loc, l);
        return;
    case SHOW_U64:
        if ((r = qz_h5_read_num_attr(loc, l->attr, H5T_NATIVE_UINT64, &v.u)) == FOUND)
            snprintf(value, sizeof value, "%llu", (unsigned long long)v.u);
        break;
    case SHOW_MIB:
        if ((r = qz_h5_read_num_attr(loc, l->attr, H5T_NATIVE_UINT64, &v.u)) == FOUND)
            fmt_mib(value, sizeof value, v.u);
        break;
    case SHOW_I64:
        if ((r = qz_h5_read_num_attr(loc, l->attr, H5T_NATIVE_LLONG, &v.i)) == FOUND)
            snprintf(value, sizeof value, "%lld", v.i);
        break;
    case SHOW_EXACT:
    case SHOW_HUMAN:
    case SHOW_SECONDS:
        if ((r = qz_h5_read_num_attr(loc, l->attr, H5T_NATIVE_DOUBLE, &v.d)) == FOUND)
            (l->show == SHOW_EXACT   ? qz_format_exact
             : l->show == SHOW_HUMAN ? fmt_human
                                     : fmt_duration)(value, sizeof value, v.d);
        break;
    }
    if (r == MISSING && l->optional)
        return;
    if (r == FOUND)
        snprintf(text, sizeof text, "%s%s%s", value, l->suffix ? " " : "",
                 l->suffix ? l->suffix : "");
    put_line(out, l->label, r == FOUND ? text : r == MISSING ? "-" : "(unreadable)");
}

static void show_lines(FILE *out, hid_t loc, const struct line *lines, size_t n)
{
    for (size_t i = 0; i < n; i++)
        show_attr(out, loc, &lines[i]);
}

/* A text payload (a scalar UTF-8 string): its first TEXT_SHOWN bytes. 1 if it was
 * text and shown, 0 if it is not a string dataset. */
static int show_text_payload(FILE *out, hid_t selected)
{
    hid_t dset = H5Dopen2(selected, "payload", H5P_DEFAULT), ftype, mtype;
    char *s = NULL, line[TEXT_SHOWN + 64];
    int shown = 0;

    if (dset < 0)
        return 0;
    ftype = H5Dget_type(dset);
    if (ftype >= 0 && H5Tget_class(ftype) == H5T_STRING && H5Tis_variable_str(ftype) > 0) {
        mtype = H5Tcopy(H5T_C_S1);
        H5Tset_size(mtype, H5T_VARIABLE);
        H5Tset_cset(mtype, H5T_CSET_UTF8);
        if (H5Dread(dset, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, &s) >= 0 && s) {
            size_t len = strlen(s);
            snprintf(line, sizeof line, "\"%.*s\"%s (%zu bytes)", TEXT_SHOWN, s,
                     len > TEXT_SHOWN ? "..." : "", len);
            put_line(out, "selected text", line);
            free(s); /* HDF5 allocates variable-length strings with malloc by default */
        } else {
            put_line(out, "selected text", "(unreadable)");
        }
        H5Tclose(mtype);
        shown = 1;
    }
    if (ftype >= 0)
        H5Tclose(ftype);
    H5Dclose(dset);
    return shown;
}

static void show_payload(FILE *out, hid_t selected)
{
    double v[PAYLOAD_SHOWN];
    hsize_t len;
    char text[PAYLOAD_SHOWN * 26 + 48], num[32];
    size_t used = 0;
    int r;

    if (show_text_payload(out, selected))
        return;
    r = read_head(selected, "payload", H5T_NATIVE_DOUBLE, PAYLOAD_SHOWN, v, &len);
    if (r != FOUND) {
        put_line(out, "selected payload", r == MISSING ? "-" : "(unreadable)");
        return;
    }
    used += (size_t)snprintf(text, sizeof text, "[");
    for (hsize_t i = 0; i < len && i < PAYLOAD_SHOWN; i++) {
        qz_format_exact(num, sizeof num, v[i]);
        used += (size_t)snprintf(text + used, sizeof text - used, "%s%s", i ? ", " : "", num);
    }
    if (len > PAYLOAD_SHOWN)
        snprintf(text + used, sizeof text - used, ", ...] (%llu values)", (unsigned long long)len);
    else
        snprintf(text + used, sizeof text - used, "]");
    put_line(out, "selected payload", text);
}

static void show_selected(FILE *out, hid_t run)
{
    static const struct line lines[] = {
        {"selected position", "position", SHOW_U64, NULL, 0},
        {"selected index", "index", SHOW_U64, NULL, 0},
        {"selected utility", "utility", SHOW_EXACT, NULL, 0},
        {"selected cost", "cost", SHOW_EXACT, NULL, 1},
        {"selected chunk", "chunk", SHOW_U64, NULL, 0},
    };
    htri_t exists = H5Lexists(run, "selected", H5P_DEFAULT);
    hid_t selected = exists > 0 ? H5Gopen2(run, "selected", H5P_DEFAULT) : H5I_INVALID_HID;

    if (selected < 0) {
        put_line(out, "selected", exists == 0 ? "(none)" : "(unreadable)");
        return;
    }
    show_lines(out, selected, lines, sizeof lines / sizeof lines[0]);
    show_payload(out, selected);
    H5Gclose(selected);
}

static void show_top(FILE *out, hid_t run)
{
    uint64_t index[TOP_SHOWN];
    double utility[TOP_SHOWN], cost[TOP_SHOWN];
    hsize_t k = 0, nu = 0, nc = 0;
    htri_t exists = H5Lexists(run, "top", H5P_DEFAULT);
    hid_t top = exists > 0 ? H5Gopen2(run, "top", H5P_DEFAULT) : H5I_INVALID_HID;
    char u[32], c[32];
    int has_cost, stored = 1;

    if (exists == 0 && qz_h5_read_num_attr(run, "top_stored", H5T_NATIVE_INT, &stored) == FOUND &&
        !stored) {
        put_line(out, "top set", "(not stored)");
        return;
    }
    if (top < 0 || read_head(top, "index", H5T_NATIVE_UINT64, TOP_SHOWN, index, &k) != FOUND ||
        read_head(top, "utility", H5T_NATIVE_DOUBLE, TOP_SHOWN, utility, &nu) != FOUND || nu != k) {
        put_line(out, "top set", exists == 0 ? "(none)" : "(unreadable)");
        if (top >= 0)
            H5Gclose(top);
        return;
    }
    has_cost = read_head(top, "cost", H5T_NATIVE_DOUBLE, TOP_SHOWN, cost, &nc) == FOUND && nc == k;
    fprintf(out, "  top set (first %llu of %llu):\n",
            (unsigned long long)(k < TOP_SHOWN ? k : TOP_SHOWN), (unsigned long long)k);
    fprintf(out, "    %8s  %-20s  ", "position", "index");
    fprintf(out, has_cost ? "%-24s  cost\n" : "%s\n", "utility");
    for (hsize_t i = 0; i < k && i < TOP_SHOWN; i++) {
        qz_format_exact(u, sizeof u, utility[i]);
        fprintf(out, "    %8llu  %-20llu  ", (unsigned long long)i, (unsigned long long)index[i]);
        if (has_cost) {
            qz_format_exact(c, sizeof c, cost[i]);
            fprintf(out, "%-24s  %s\n", u, c);
        } else {
            fprintf(out, "%s\n", u);
        }
    }
    H5Gclose(top);
}

/* The archive, if the run has one: its mode and size. */
static void show_archive(FILE *out, hid_t run)
{
    char *mode = NULL, line[160];
    uint64_t count = 0;
    hid_t samples;

    if (H5Lexists(run, "samples", H5P_DEFAULT) <= 0)
        return;
    samples = H5Gopen2(run, "samples", H5P_DEFAULT);
    if (samples < 0)
        return;
    qz_h5_read_string_attr(samples, "mode", &mode);
    qz_h5_read_num_attr(samples, "count", H5T_NATIVE_UINT64, &count);
    snprintf(line, sizeof line, "%s, %llu samples (samples/)", mode ? mode : "?",
             (unsigned long long)count);
    put_line(out, "archive", line);
    free(mode);
    H5Gclose(samples);
}

/* The sweep table, if the run lists several q. */
static void show_sweep(FILE *out, hid_t run)
{
    static const char *const cols[] = {"q", "threshold", "mean_utility", "mean_cost", "cost_bound"};
    double *v[5] = {NULL};
    size_t n[5] = {0}, rows;
    uint64_t k[QZ_SHOWN_SWEEP], idx[QZ_SHOWN_SWEEP];
    hsize_t nk = 0, ni = 0;
    hid_t sweep;
    int ok = 1;

    if (H5Lexists(run, "sweep", H5P_DEFAULT) <= 0 ||
        (sweep = H5Gopen2(run, "sweep", H5P_DEFAULT)) < 0)
        return;
    for (int c = 0; c < 5; c++)
        ok &= qz_h5_read_f64_1d(sweep, cols[c], &v[c], &n[c]) == FOUND && n[c] == n[0];
    ok &= read_head(sweep, "top_count", H5T_NATIVE_UINT64, QZ_SHOWN_SWEEP, k, &nk) == FOUND &&
          read_head(sweep, "selected_index", H5T_NATIVE_UINT64, QZ_SHOWN_SWEEP, idx, &ni) == FOUND;
    if (!ok) {
        put_line(out, "sweep", "(unreadable)");
    } else {
        rows = n[0] < QZ_SHOWN_SWEEP ? n[0] : QZ_SHOWN_SWEEP;
        fprintf(out, "  sweep (%zu q):\n    %-12s  %-10s  %-12s  %-12s  %-12s  %-12s  %s\n", n[0],
                "q", "K", "threshold", "E_Q[u]", "E_Q[c]", "bound", "selected");
        for (size_t i = 0; i < rows; i++)
            fprintf(out, "    %-12.6g  %-10llu  %-12.6g  %-12.6g  %-12.6g  %-12.6g  %llu\n",
                    v[0][i], (unsigned long long)k[i], v[1][i], v[2][i], v[3][i], v[4][i],
                    (unsigned long long)idx[i]);
    }
    for (int c = 0; c < 5; c++)
        free(v[c]);
    H5Gclose(sweep);
}

static void show_run(FILE *out, hid_t run)
{
    static const struct line head[] = {
        {"status", "status", SHOW_STR, NULL, 0},
        {"version", "version", SHOW_STR, NULL, 0},
        {"q", "q", SHOW_EXACT, NULL, 0},
        {"samples (N)", "samples", SHOW_U64, NULL, 0},
        {"valid samples", "valid_samples", SHOW_U64, NULL, 1},
        {"invalid samples", "invalid_samples", SHOW_U64, NULL, 0},
        {"mass (m)", "mass", SHOW_EXACT, NULL, 0},
        {"top count (K)", "top_count", SHOW_U64, NULL, 0},
        {"threshold", "threshold", SHOW_EXACT, NULL, 0},
        {"boundary ties", "boundary_ties", SHOW_U64, NULL, 0},
        {"seed", "seed", SHOW_U64, NULL, 0},
        {"chunk size", "chunk_size", SHOW_U64, NULL, 1},
    };
    static const struct line tail[] = {
        {"ranks", "ranks", SHOW_I64, NULL, 0},
        {"started", "started", SHOW_STR, NULL, 0},
        {"finished", "finished", SHOW_STR, NULL, 0},
        {"wall time", "wall_seconds", SHOW_SECONDS, NULL, 0},
        {"rate", "samples_per_second", SHOW_HUMAN, "samples/s", 0},
        {"draw time", "draw_seconds", SHOW_SECONDS, NULL, 1},
        {"select time", "select_seconds", SHOW_SECONDS, NULL, 1},
        {"write time", "write_seconds", SHOW_SECONDS, NULL, 1},
        {"peak RSS (max)", "peak_rss_bytes_max", SHOW_MIB, NULL, 1},
        {"peak RSS (root)", "peak_rss_bytes_root", SHOW_MIB, NULL, 1},
        {"checkpoints", "checkpoints", SHOW_U64, NULL, 1},
        {"checkpoint time", "checkpoint_seconds", SHOW_SECONDS, NULL, 1},
        {"resumed", "resumes", SHOW_U64, "times", 1},
        {"source file", "source_file", SHOW_STR, NULL, 1},
        {"source run", "source_run", SHOW_STR, NULL, 1},
        {"job", "job", SHOW_JOB, NULL, 0},
    };
    static const struct line safety[] = {
        {"E_Q[u]", "utility_quantilized_mean", SHOW_EXACT, NULL, 1},
        {"E_Q[c]", "cost_quantilized_mean", SHOW_EXACT, NULL, 1},
        {"E_gamma[c]", "cost_base_mean", SHOW_EXACT, NULL, 1},
        {"E_gamma[c] s.e.", "cost_base_stderr", SHOW_EXACT, NULL, 1},
        {"E_gamma[c] / q", "cost_bound", SHOW_EXACT, NULL, 1},
        {"KL(Q||gamma)", "kl_nats", SHOW_EXACT, "nats = ln(1/q)", 1},
    };

    show_lines(out, run, head, sizeof head / sizeof head[0]);
    show_lines(out, run, safety, sizeof safety / sizeof safety[0]);
    show_selected(out, run);
    show_lines(out, run, tail, sizeof tail / sizeof tail[0]);
    show_archive(out, run);
    show_sweep(out, run);
    show_top(out, run);
}

/* What show_run_cb needs: where to print, and the path of the group iterated. */
struct runs_walk {
    FILE *out;
    const char *prefix; /* "" for /runs, "NAME/tasks/" for a job's tasks */
};

static herr_t show_run_cb(hid_t runs, const char *name, const H5L_info_t *info, void *data)
{
    const struct runs_walk *w = data;
    hid_t run = H5I_INVALID_HID;
    herr_t rc;

    if (info->type == H5L_TYPE_HARD)
        run = H5Gopen2(runs, name, H5P_DEFAULT);
    if (run >= 0 && H5Lexists(run, "tasks", H5P_DEFAULT) > 0 && H5Aexists(run, "samples") <= 0) {
        /* A job with tasks: each task is a run of its own under NAME/tasks/. */
        char prefix[512];
        struct runs_walk inner = {w->out, prefix};
        hid_t tasks = H5Gopen2(run, "tasks", H5P_DEFAULT);
        snprintf(prefix, sizeof prefix, "%s%s/tasks/", w->prefix, name);
        rc = tasks >= 0 ? H5Literate(tasks, H5_INDEX_NAME, H5_ITER_INC, NULL, show_run_cb, &inner)
                        : -1;
        if (tasks >= 0)
            H5Gclose(tasks);
        H5Gclose(run);
        return rc < 0 ? rc : 0;
    }
    fprintf(w->out, "\nrun %s%s\n", w->prefix, name);
    if (run < 0) {
        put_line(w->out, "status", "(not a run group)");
        return 0;
    }
    show_run(w->out, run);
    return H5Gclose(run);
}

enum qz_status qz_inspect(const char *path, FILE *out, struct qz_error *err)
{
    struct qz_h5_quiet quiet;
    hid_t file, runs = H5I_INVALID_HID;
    H5G_info_t info = {0};
    long long version = 0;
    htri_t has_runs;
    enum qz_status rc = QZ_OK;

    qz_h5_silence(&quiet);
    if ((rc = qz_output_open(path, &file, err))) {
        qz_h5_restore(&quiet);
        return rc;
    }
    qz_h5_read_num_attr(file, "format_version", H5T_NATIVE_LLONG, &version);
    has_runs = H5Lexists(file, "runs", H5P_DEFAULT);
    if (has_runs < 0 || (has_runs > 0 && ((runs = H5Gopen2(file, "runs", H5P_DEFAULT)) < 0 ||
                                          H5Gget_info(runs, &info) < 0))) {
        rc = qz_error_set(err, QZ_EHDF5, "%s: cannot read /runs", path);
        goto done;
    }
    if (info.nlinks == 0)
        fprintf(out, "%s: quantilize record, format version %lld, no runs\n", path, version);
    else
        fprintf(out, "%s: quantilize record, format version %lld, %llu run%s\n", path, version,
                (unsigned long long)info.nlinks, info.nlinks == 1 ? "" : "s");
    struct runs_walk walk = {out, ""};
    if (runs >= 0 && H5Literate(runs, H5_INDEX_NAME, H5_ITER_INC, NULL, show_run_cb, &walk) < 0) {
        rc = qz_error_set(err, QZ_EHDF5, "%s: cannot list the runs under /runs", path);
        goto done;
    }
    if (fflush(out) != 0 || ferror(out))
        rc = qz_error_set(err, QZ_EIO, "%s: cannot write the summary", path);
done:
    if (runs >= 0)
        H5Gclose(runs);
    H5Fclose(file);
    qz_h5_restore(&quiet);
    return rc;
}
