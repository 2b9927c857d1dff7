/* `quantilize inspect FILE.h5`: a human summary of every run in a record file. */
#ifndef QZ_INSPECT_H
#define QZ_INSPECT_H

#include <stdio.h>

#include "error.h"

/* Print a summary of each run under /runs (in name order) to out. Local; read-only.
 * QZ_EARGS when path is missing, not HDF5 or not a quantilize record file; QZ_EHDF5
 * when the file cannot be walked; QZ_EIO when out cannot be written. Attributes a
 * run lacks, or holds with an unexpected type, print as "-" or "(unreadable)"
 * rather than failing, so damaged or older records can still be looked at. */
enum qz_status qz_inspect(const char *path, FILE *out, struct qz_error *err);

#endif
