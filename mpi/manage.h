/* Managing a record file (README "Copying, moving and managing a record"):
 * `quantilize rm FILE.h5 --run NAME` and `quantilize pack FILE.h5 -o ONE.h5`.
 * Root only, local, serial HDF5. */
#ifndef QZ_MANAGE_H
#define QZ_MANAGE_H

#include "error.h"

/* Remove run `run` (NAME, a job with all its tasks, or NAME/tasks/ID) from the record
 * path, atomically, under the record's lock, then delete its run file. Runs stored
 * inline in an old-format or packed record are copied once into the new record (so
 * that the space is given back); linked runs are only relinked. A run whose linked
 * file is missing can be removed; another run's missing file is warned about.
 * QZ_EARGS (no such file, not a record, no such run), QZ_EHDF5, QZ_EIO, QZ_ENOMEM. */
enum qz_status qz_manage_rm(const char *path, const char *run, struct qz_error *err);

/* Write one self-contained record `out` (every run copied in, external links resolved)
 * from the record path, atomically. QZ_EARGS (path missing, foreign, a linked file
 * missing or foreign; out the same file as path or not writable), QZ_EHDF5, QZ_EIO,
 * QZ_ENOMEM. */
enum qz_status qz_manage_pack(const char *path, const char *out, struct qz_error *err);

#endif
