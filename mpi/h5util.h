/* Small HDF5 helpers shared by the record writer and its readers: one error message
 * instead of HDF5's stack dump, scalar attributes and 1-D datasets written with fixed
 * little-endian file types, attributes read back tolerantly, and the MPI-IO file
 * access list for collective writes.
 *
 * Everything here is local unless it says otherwise; the HDF5 library is not
 * thread-safe, and its error settings are process-wide. */
#ifndef QZ_H5UTIL_H
#define QZ_H5UTIL_H

#include <hdf5.h>
#include <mpi.h>

#include "error.h"
#include "fields.h"

/* HDF5's automatic error printing (H5Eget_auto2), saved by qz_h5_silence, which
 * replaces it with a handler that keeps only the innermost message of the last
 * failure (for qz_h5_fail); qz_h5_restore puts the saved setting back. Calls nest
 * when each silence is paired with a restore. */
struct qz_h5_quiet {
    H5E_auto2_t func;
    void *data;
};
void qz_h5_silence(struct qz_h5_quiet *saved);
void qz_h5_restore(const struct qz_h5_quiet *saved);

/* Set err to code and the printf-style message, followed by " (HDF5: why)" when a
 * failed HDF5 call said why since the last qz_h5_fail (only while silenced).
 * Returns code. */
enum qz_status qz_h5_fail(struct qz_error *err, enum qz_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* What a value is; the file types are fixed little-endian so that a record reads
 * the same everywhere: uint64, float64, int32, variable-length UTF-8 string. */
enum qz_h5_kind { QZ_H5_U64, QZ_H5_F64, QZ_H5_I32, QZ_H5_STR };

/* The kind that stores a record field of type t (common/fields.h). */
enum qz_h5_kind qz_h5_field_kind(enum qz_field_type t);

/* The file and memory types of a numeric kind (QZ_H5_STR gives H5I_INVALID_HID). */
void qz_h5_kind_types(enum qz_h5_kind kind, hid_t *ftype, hid_t *mtype);

/* Helpers for writers that fill the message themselves (qz_h5_fail), naming the
 * file as the caller gave it and the group being written. */
struct qz_h5_where {
    const char *path;
    const char *group; /* "/", "/runs/<run>", "/runs/<run>/top", ... */
};

/* "<parent>/<name>", malloc'd (NULL when out of memory). */
char *qz_h5_join_path(const char *parent, const char *name);

/* Create group `name` in loc, with any missing parents (a task's record goes to
 * RUN/tasks/ID); w->group is its full path, for the message. */
enum qz_status qz_h5_create_group(hid_t loc, const char *name, hid_t *group,
                                  const struct qz_h5_where *w, struct qz_error *err);

/* Close a group, QZ_EHDF5 with a message when that fails. */
enum qz_status qz_h5_close_group(hid_t group, const struct qz_h5_where *w, struct qz_error *err);

/* Every function below returns QZ_OK or the kind of failure (QZ_EHDF5 when HDF5
 * failed or an object is not what was asked for, QZ_ENOMEM) and fills no message:
 * the caller knows what was being done and says so, with qz_h5_fail, which adds
 * HDF5's own reason. */

/* Create the scalar attribute name on loc. value points to a uint64_t, double or int
 * (QZ_H5_U64, QZ_H5_F64, QZ_H5_I32) or is the string itself (QZ_H5_STR). Collective
 * when loc is in a file opened with the MPI-IO driver (every rank passes the same
 * value). */
enum qz_status qz_h5_write_attr(hid_t loc, const char *name, enum qz_h5_kind kind,
                                const void *value);

/* The string attributes "description" and, unless units is NULL, "units" of obj. */
enum qz_status qz_h5_describe(hid_t obj, const char *description, const char *units);

/* Create and write the 1-D dataset name[n] of a numeric kind in loc with its
 * description (qz_h5_describe). Serial files only. */
enum qz_status qz_h5_write_dataset_1d(hid_t loc, const char *name, enum qz_h5_kind kind, hsize_t n,
                                      const void *data, const char *description, const char *units);

/* Create and write the dataset name of variable-length UTF-8 strings in loc: text i
 * is bytes + off[i], len[i] bytes (a NUL inside a text ends it). Scalar when
 * `scalar` (then n must be 1), else 1-D of n. With its description. Serial files
 * only. */
enum qz_status qz_h5_write_texts(hid_t loc, const char *name, const char *bytes,
                                 const uint64_t *off, const uint32_t *len, size_t n, int scalar,
                                 const char *description);

/* The readers below tell a missing object from a broken one through *found: QZ_OK
 * with *found 0 when loc has no such attribute or dataset, QZ_OK with *found 1 when
 * it was read, a failure when it is there but not of the kind asked for or cannot be
 * read. found may be NULL when the object must be there: missing is then QZ_EHDF5. */

/* Read the scalar string attribute name of loc (variable or fixed length) into a
 * malloc'd, NUL-terminated copy that the caller frees; *out is NULL unless read. */
enum qz_status qz_h5_read_string_attr(hid_t loc, const char *name, char **out, int *found);

/* Read the scalar numeric attribute name of loc converted to the native type mtype
 * into *value. An integer attribute converts to any numeric mtype; a floating-point
 * one only to a floating-point mtype (no silent truncation). */
enum qz_status qz_h5_read_num_attr(hid_t loc, const char *name, hid_t mtype, void *value,
                                   int *found);

/* Read the whole 1-D numeric dataset name of loc, converted to double, into a
 * malloc'd array *out of *n values that the caller frees (NULL when *n is 0). Meant
 * for datasets that fit in memory (top/, sweep/); read an archive in blocks instead. */
enum qz_status qz_h5_read_f64_1d(hid_t loc, const char *name, double **out, size_t *n, int *found);

/* Read (write) n entries at `start` of the 1-D dataset d into out (from data), as the
 * native type mtype; independent I/O in a file opened with the MPI-IO driver. n == 0
 * does nothing. */
enum qz_status qz_h5_read_range(hid_t d, hid_t mtype, uint64_t start, size_t n, void *out);
enum qz_status qz_h5_write_range(hid_t d, hid_t mtype, uint64_t start, size_t n, const void *data);

/* A file access property list for the MPI-IO driver over comm, with the hints in
 * h5util.c, into *fapl; the caller closes it (H5Pclose). *fapl is H5I_INVALID_HID on
 * failure. Local. Collective metadata reads stay off: they are broken in HDF5 1.10.5
 * to 1.10.8. */
enum qz_status qz_h5_fapl_mpio(MPI_Comm comm, hid_t *fapl);

/* A run's metrics (README "The record": metrics/NAME), as report, inspect and export
 * read them. Attributes a record lacks stay NaN (numbers), 0 (counts), NULL (texts). */
struct qz_h5_metric {
    char *name;      /* the group's name (user text: escape it to show it) */
    char *scope;     /* "all" | "top" */
    char *kind;      /* the scorer kind */
    char *ci_method; /* "clopper-pearson" | "empirical-bernstein" | "normal" */
    int order;       /* position in the job */
    unsigned long long evaluated, invalid;
    double q_mean, q_stderr, q_low, q_high; /* E_Q at the run's q */
    int has_base;                           /* scope "all": E_γ figures */
    double b_mean, b_stderr, b_low, b_high;
};

struct qz_h5_metrics {
    struct qz_h5_metric *m; /* by order (then name) */
    size_t n;
};

/* The metrics of group loc/`path` (a run's "metrics", or a sweep's "metrics"), each subgroup or
 * dataset of it by its name, ordered by their `order` attribute, or when they have none
 * (sweep/metrics/NAME, datasets) by that of order_from/metrics/NAME (a run; H5I_INVALID_HID: by
 * name): *out is empty when loc has none. QZ_EHDF5 when it is there but cannot be listed,
 * QZ_ENOMEM. Free with qz_h5_metrics_free (also after a failure). */
enum qz_status qz_h5_read_metrics(hid_t loc, const char *path, hid_t order_from,
                                  struct qz_h5_metrics *out);
void qz_h5_metrics_free(struct qz_h5_metrics *list);

#endif
