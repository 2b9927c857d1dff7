/* The HDF5 record file (README "The record"): checking it before a run, adding a run to it
 * atomically after one, and opening it for readers (inspect, select).
 *
 * Adding a run is a transaction on a temporary copy of the file (common/safefile.h):
 *   root:      qz_output_begin   copy the file, write /runs/<run> except a collective top/
 *   all ranks: qz_output_write_top (only when rec->top_stored and rec->top == NULL)
 *   root:      qz_output_commit  record write_seconds, fsync, rename over the file
 *              or qz_output_abort after any failure, on any rank.
 * Nothing replaces the file before every part succeeded; after a failure the file is
 * as it was and no temporary file is left. qz_output_write is begin + commit.
 *
 * Several jobs may add runs to one file at once (a Slurm job array): a transaction
 * holds an exclusive lock (fcntl, which works on NFS and the usual cluster file
 * systems) on `<path>.lock` from begin to commit or abort, so no run is lost to
 * another's rename. The lock file stays beside the record.
 *
 * The root-only calls are local and use serial HDF5 (default file access list, never
 * the MPI-IO driver). Functions that report errors silence HDF5's automatic error
 * printing while they run (and restore it before returning) and give one message of
 * their own instead. */
#ifndef QZ_OUTPUT_H
#define QZ_OUTPUT_H

#include <stddef.h>
#include <stdint.h>

#include <hdf5.h>
#include <mpi.h>

#include "error.h"
#include "h5util.h"
#include "record.h"
#include "safefile.h"
#include "output_top.h"
#include "topset.h"

/* Check, before any sample is drawn, that the run can later be written to `path`.
 * path missing: its directory must exist and be writable (else QZ_EARGS).
 * path present: it must be a quantilize record file (else QZ_EARGS), and /runs/<run>
 * must not exist unless `overwrite` (else QZ_EEXISTS). A bad run name is QZ_EARGS.
 * Local. */
enum qz_status qz_output_check(const char *path, const char *run, int overwrite,
                               struct qz_error *err);

/* A run being added, held by the root between qz_output_begin and qz_output_commit
 * or qz_output_abort. Read file.tmp (the temporary file's name) to hand it to the
 * other ranks for qz_output_write_top; leave the rest alone. */
struct qz_output_txn {
    struct qz_safefile file; /* the temporary copy of the record file */
    char *run;               /* the run's name, owned */
    int top_collective;      /* top/ is to be written by qz_output_write_top */
    double started;          /* CLOCK_MONOTONIC seconds at qz_output_begin */
    int locked;              /* lock_fd holds the lock on <path>.lock */
    int lock_fd;
};

/* Root only. Copy `path` (if it exists) to `<path>.tmp.<pid>` and write /runs/<rec->run>
 * there: every attribute but write_seconds, selected/, and top/ when rec->top_stored
 * and rec->top != NULL; then close the HDF5 file. On success *txn must be finished
 * with qz_output_commit or qz_output_abort; on failure nothing is left (no abort
 * needed). Results: QZ_EARGS (not our file, bad run name), QZ_EEXISTS (the run exists
 * and !overwrite), QZ_EHDF5, QZ_EIO, QZ_ENOMEM, QZ_EINTERNAL (a record field is NULL
 * that must not be). With overwrite, an existing run of that name is unlinked first
 * (HDF5 does not reclaim its space; h5repack does). rec and its arrays stay the
 * caller's and are not used after the call.
 *
 * staging (not NULL): the run's archive was written to this file (mpi/archive.h),
 * which then becomes the new file instead of a copy: the runs `path` holds are copied
 * into it (the run itself must not be among them unless overwrite), the run's group
 * there is filled in, and commit renames it over path (abort removes it). */
enum qz_status qz_output_begin(const char *path, const char *staging, const struct qz_record *rec,
                               int overwrite, struct qz_output_txn *txn, struct qz_error *err);

/* Seconds since qz_output_begin started (CLOCK_MONOTONIC), e.g. for write_seconds. */
double qz_output_elapsed(const struct qz_output_txn *txn);

/* Root only. Reopen the temporary file serially, check that top/ is there when it
 * was to be written collectively, add the attribute write_seconds to the run, close,
 * fsync, rename over the record file and fsync its directory. txn is released
 * whatever the outcome; on failure the temporary file is removed and the record file
 * is as it was (except that a failing directory fsync after the rename is QZ_EIO). */
enum qz_status qz_output_commit(struct qz_output_txn *txn, double write_seconds,
                                struct qz_error *err);

/* Root only. Remove the temporary file and release txn. Harmless on a txn already
 * committed or aborted, and on a zero-filled one. */
void qz_output_abort(struct qz_output_txn *txn);

/* Root only: qz_output_begin then qz_output_commit with the time taken, for a
 * record whose top set (if stored) is in rec->top. Results as for those two. */
enum qz_status qz_output_write(const char *path, const struct qz_record *rec, int overwrite,
                               struct qz_error *err);

/* Open an existing record file read-only and check that it is ours: root attribute
 * format == "quantilize", format_version not newer than QZ_FORMAT_VERSION, /runs a
 * group if present. On success *file is an id the caller closes with H5Fclose; on
 * failure *file is negative and the result is QZ_EARGS ("no such file", "not an HDF5
 * file", "not a quantilize record file (...)"), QZ_EIO or QZ_EHDF5. Local; call it
 * with HDF5 error printing silenced (qz_h5_silence). */
enum qz_status qz_output_open(const char *path, hid_t *file, struct qz_error *err);

#endif
