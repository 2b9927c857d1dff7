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

/* The file and memory types of a numeric kind (QZ_H5_STR gives H5I_INVALID_HID). */
void qz_h5_kind_types(enum qz_h5_kind kind, hid_t *ftype, hid_t *mtype);

/* Create the scalar attribute name on loc. value points to a uint64_t, double or int
 * (QZ_H5_U64, QZ_H5_F64, QZ_H5_I32) or is the string itself (QZ_H5_STR). Negative on
 * failure. Collective when loc is in a file opened with the MPI-IO driver (every
 * rank passes the same value). */
herr_t qz_h5_write_attr(hid_t loc, const char *name, enum qz_h5_kind kind, const void *value);

/* The string attributes "description" and, unless units is NULL, "units" of obj. */
herr_t qz_h5_describe(hid_t obj, const char *description, const char *units);

/* Create and write the 1-D dataset name[n] of a numeric kind in loc with its
 * description (qz_h5_describe). Serial files only. Negative on failure. */
herr_t qz_h5_write_dataset_1d(hid_t loc, const char *name, enum qz_h5_kind kind, hsize_t n,
                              const void *data, const char *description, const char *units);

/* Create and write the dataset name of variable-length UTF-8 strings in loc: text i
 * is bytes + off[i], len[i] bytes (a NUL inside a text ends it). Scalar when
 * `scalar` (then n must be 1), else 1-D of n. With its description. Serial files
 * only. Negative on failure. */
herr_t qz_h5_write_texts(hid_t loc, const char *name, const char *bytes, const uint64_t *off,
                         const uint32_t *len, size_t n, int scalar, const char *description);

/* Read the scalar string attribute name of loc (variable or fixed length) into a
 * malloc'd, NUL-terminated copy that the caller frees. Returns 1 when read, 0 when
 * there is no such attribute, -1 when it is not a scalar string or cannot be read;
 * *out is NULL unless 1. */
int qz_h5_read_string_attr(hid_t loc, const char *name, char **out);

/* Read the scalar numeric attribute name of loc converted to the native type mtype
 * into *value. An integer attribute converts to any numeric mtype; a floating-point
 * one only to a floating-point mtype (no silent truncation). 1 read, 0 missing, -1
 * not such an attribute or unreadable. */
int qz_h5_read_num_attr(hid_t loc, const char *name, hid_t mtype, void *value);

/* Read the whole 1-D numeric dataset name of loc, converted to double, into a
 * malloc'd array *out of *n values that the caller frees (NULL when *n is 0). 1 read,
 * 0 missing, -1 not a 1-D numeric dataset, unreadable or out of memory. Meant for
 * datasets that fit in memory (top/, sweep/); read an archive in blocks instead. */
int qz_h5_read_f64_1d(hid_t loc, const char *name, double **out, size_t *n);

/* Read (write) n entries at `start` of the 1-D dataset d into out (from data), as the
 * native type mtype; independent I/O in a file opened with the MPI-IO driver. 1 done
 * (n == 0 does nothing), 0 failed. */
int qz_h5_read_range(hid_t d, hid_t mtype, uint64_t start, size_t n, void *out);
int qz_h5_write_range(hid_t d, hid_t mtype, uint64_t start, size_t n, const void *data);

/* A file access property list for the MPI-IO driver over comm, with the hints in
 * h5util.c; the caller closes it (H5Pclose). Negative on failure. Local. Collective
 * metadata reads stay off: they are broken in HDF5 1.10.5 to 1.10.8. */
hid_t qz_h5_fapl_mpio(MPI_Comm comm);

#endif
