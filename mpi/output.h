/* The HDF5 record file (SPEC §6): checking it before a run, adding a run to it
 * atomically after one, and opening it for readers (inspect, select).
 *
 * Everything here is local and meant for the root rank only: it uses serial HDF5
 * calls with the default file access property list, never the MPI-IO driver.
 * Functions that report errors silence HDF5's automatic error printing while they
 * run (and restore it before returning) and give one message of their own instead. */
#ifndef QZ_OUTPUT_H
#define QZ_OUTPUT_H

#include <hdf5.h>

#include "error.h"
#include "record.h"

/* Check, before any sample is drawn, that the run can later be written to `path`.
 * path missing: its directory must exist and be writable (else QZ_EARGS).
 * path present: it must be a quantilize record file (else QZ_EARGS), and /runs/<run>
 * must not exist unless `overwrite` (else QZ_EEXISTS). A bad run name is QZ_EARGS. */
enum qz_status qz_output_check(const char *path, const char *run, int overwrite,
                               struct qz_error *err);

/* Add rec as /runs/<rec->run> to `path`, creating the file if needed. Atomic: the
 * current file (if any) is copied to `<path>.tmp.<pid>`, the run is written there,
 * the copy is closed, fsynced and renamed over path, and the directory is fsynced.
 * On failure the temporary file is removed and path is left as it was; the result
 * is QZ_EARGS (not our file, bad run name), QZ_EEXISTS (run exists, !overwrite),
 * QZ_EHDF5, QZ_EIO or QZ_EINTERNAL (a record field is NULL that must not be).
 * With overwrite, an existing run of that name is unlinked first (HDF5 does not
 * reclaim its space; h5repack does). rec and its arrays stay the caller's. */
enum qz_status qz_output_write(const char *path, const struct qz_record *rec, int overwrite,
                               struct qz_error *err);

/* Open an existing record file read-only and check that it is ours: root attribute
 * format == "quantilize", format_version not newer than QZ_FORMAT_VERSION, /runs a
 * group if present. On success *file is an id the caller closes with H5Fclose; on
 * failure *file is negative and the result is QZ_EARGS ("no such file", "not an HDF5
 * file", "not a quantilize record file (...)"), QZ_EIO or QZ_EHDF5. Local; call it
 * with HDF5 error printing silenced (qz_h5_silence). */
enum qz_status qz_output_open(const char *path, hid_t *file, struct qz_error *err);

/* Read the scalar string attribute `name` of loc (variable or fixed length) into a
 * malloc'd, NUL-terminated copy that the caller frees. Returns 1 when read, 0 when
 * there is no such attribute (*out = NULL), -1 when it is not a scalar string or
 * cannot be read (*out = NULL). */
int qz_output_read_string_attr(hid_t loc, const char *name, char **out);

/* HDF5's automatic error printing (H5Eget_auto2), saved by qz_h5_silence, which then
 * turns it off; qz_h5_restore puts it back. Local; the setting is process-wide. */
struct qz_h5_quiet {
    H5E_auto2_t func;
    void *data;
};
void qz_h5_silence(struct qz_h5_quiet *saved);
void qz_h5_restore(const struct qz_h5_quiet *saved);

#endif
