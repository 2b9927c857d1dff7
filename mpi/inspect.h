/* `quantilize inspect FILE.h5 [--json]`: a summary of every run in a record file, for
 * people or (--json) for scripts. */
#ifndef QZ_INSPECT_H
#define QZ_INSPECT_H

#include <stdio.h>

#include <hdf5.h>

#include "error.h"
#include "fields.h"

/* Print a summary of each run under /runs (in name order) to out. Local; read-only.
 * QZ_EARGS when path is missing, not HDF5 or not a quantilize record file; QZ_EHDF5
 * when the file cannot be walked; QZ_EIO when out cannot be written. Attributes a
 * run lacks, or holds with an unexpected type, print as "-" or "(unreadable)"
 * rather than failing, so damaged or older records can still be looked at. */
enum qz_status qz_inspect(const char *path, FILE *out, struct qz_error *err);

/* The same information as one JSON document on out (inspect --json; the shape is in
 * the README): every run with all its attributes, the selected sample, the top set's
 * size, sweep/ columns and the samples/ archive's fields. NaN and infinities are
 * null. Local; read-only. Errors as for qz_inspect, and QZ_ENOMEM. */
enum qz_status qz_inspect_json(const char *path, FILE *out, struct qz_error *err);

/* The record field f of a run as people read it (f->show, common/format.h): loc is
 * the run's group, or its selected/ group for QZ_GROUP_SELECTED fields. *text is a
 * malloc'd string the caller frees, NULL when loc lacks the attribute. QZ_EHDF5 when
 * it is there but unreadable or not of f's type, QZ_ENOMEM. Local; call it with HDF5
 * error printing silenced. */
enum qz_status qz_inspect_field(hid_t loc, const struct qz_field *f, char **text);

#endif
