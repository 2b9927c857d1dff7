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
#include "runlist.h"
#include "topset.h"

/* Check, before any sample is drawn, that the run can later be written to `path`.
 * path missing: its directory must exist and be writable (else QZ_EARGS).
 * path present: it must be a quantilize record file (else QZ_EARGS), and /runs/<run>
 * must not exist unless `overwrite` (else QZ_EEXISTS). A bad run name is QZ_EARGS.
 * Local. */
enum qz_status qz_output_check(const char *path, const char *run, int overwrite,
                               struct qz_error *err);

/* What linking a run into the record replaces (looked at under the lock). */
struct qz_record_link {
    int overwrite;     /* the run may exist and is replaced */
    char *replace_run; /* with overwrite: the whole job replaced too (a task's first record) */
};

/* A run being added, held by the root between qz_output_begin and qz_output_commit
 * or qz_output_abort. Hand runfile (the run file's name) to the other ranks for
 * qz_output_write_top; leave the rest alone. */
struct qz_output_txn {
    char *path;    /* the record file (a symbolic link followed) */
    char *run;     /* the run's name, owned */
    char *runfile; /* the run file being written (REC.runs/...); NULL once linked */
    char *runlink; /* its name relative to the record's directory, as the link holds it */
    struct qz_record_link how;
    int top_collective; /* top/ is to be written by qz_output_write_top */
    double started;     /* CLOCK_MONOTONIC seconds at qz_output_begin */
};

/* Root only. Write /runs/<rec->run> into a new run file REC.runs/<run>-<host>-<pid>-
 * <seconds>-<n>.h5 beside the record `path` (a symbolic link is followed): every
 * attribute but write_seconds, selected/, and top/ when rec->top_stored and rec->top !=
 * NULL; then close it. The record is not touched. On success *txn must be finished with
 * qz_output_commit or qz_output_abort; on failure nothing is left (no abort needed).
 * Results: QZ_EARGS (bad run name), QZ_EHDF5, QZ_EIO, QZ_ENOMEM, QZ_EINTERNAL (a record
 * field is NULL that must not be). rec and its arrays stay the caller's and are not
 * used after the call.
 *
 * staging (not NULL): the run's archive was written to this file (mpi/archive.h),
 * which then becomes the run file (moved, never copied) and is filled in. */
enum qz_status qz_output_begin(const char *path, const char *staging, const struct qz_record *rec,
                               int overwrite, struct qz_output_txn *txn, struct qz_error *err);

/* Seconds since qz_output_begin started (CLOCK_MONOTONIC), e.g. for write_seconds. */
double qz_output_elapsed(const struct qz_output_txn *txn);

/* Root only. Reopen the run file, check that top/ is there when it was to be written
 * collectively, add the attribute write_seconds, close and fsync it; then, holding the
 * lock on <path>.lock, make a new record of the old one's links plus a link to the run
 * file (the run must not exist unless overwrite: QZ_EEXISTS), fsync it, rename it over
 * the record and fsync its directory; last, delete the files of replaced runs and the
 * run files of dead processes of this host that no run links to. An old-format record
 * (inline runs) is first hard-linked as REC.runs/legacy-....h5, which its runs then
 * link to. txn is released whatever the outcome; on failure the run file is removed
 * and the record is as it was. */
enum qz_status qz_output_commit(struct qz_output_txn *txn, double write_seconds,
                                struct qz_error *err);

/* Root only. Remove the run file and release txn. Harmless on a txn already
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

/* The runs of the record path (*exists 0 and an empty list when there is no file),
 * its linked files not checked (for writers). Local. */
enum qz_status qz_output_list(const char *path, int *exists, struct qz_runlist *list,
                              struct qz_error *err);

/* When keep holds inline runs (an old-format or packed record), hard-link path as
 * REC.runs/legacy-....h5: *legacy its name relative to the record's directory,
 * *legacy_full to open; both NULL when keep has no inline run. Caller frees. Local. */
enum qz_status qz_output_legacy(const char *path, const struct qz_runlist *keep, char **legacy,
                                char **legacy_full, struct qz_error *err);

/* Replace the record path atomically by a new one whose /runs holds an external link
 * for each run of keep (to its file, or for an inline run to legacy:/runs/NAME) and,
 * when add_name is not NULL, one at add_name to add_file:add_obj. A run is copied from
 * the open record src instead (H5Ocopy, external links expanded) when it is inline and
 * legacy is NULL, or linked and copy_linked (pack). Call it holding the
 * lock. Local, HDF5 error printing silenced by the caller. */
enum qz_status qz_output_relink(const char *path, hid_t src, const struct qz_runlist *keep,
                                const char *legacy, int copy_linked, const char *add_name,
                                const char *add_file, const char *add_obj, struct qz_error *err);

/* Take the exclusive lock on <path>.lock (waiting, with a warning, for another writer);
 * close *fd to release it. Local. */
enum qz_status qz_output_lock(const char *path, int *fd, struct qz_error *err);

/* After a commit, holding the lock: delete the run files (REC.runs/NAME only) of
 * `dropped` that no run links to any more, and in REC.runs/ the files and reserves of
 * dead processes of this host that no run links to. The runs are those of keep (its
 * inline ones linked to legacy, when not NULL) and the link `added` (or NULL). Never
 * fails. */
void qz_output_clean(const char *path, const struct qz_runlist *keep, const char *legacy,
                     const char *added, const struct qz_runlist *dropped);

#endif
