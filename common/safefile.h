/* Atomic replacement of one file: write a temporary file beside it, then rename it over.
 *
 * The temporary file is `<path>.tmp.<pid>@<host>` (with `.1`, `.2`, ... appended should a
 * stale one exist), in path's own directory so that the final rename is atomic. Until
 * qz_safefile_commit renames it, path is not touched; after a failure the temporary
 * file (and its reserve, below) is removed, so nothing is left behind.
 *
 * Local: no MPI, no HDF5. The temporary file's name may be handed to other processes
 * (MPI ranks) that write into it; only the process that began it commits or aborts. */
#ifndef QZ_SAFEFILE_H
#define QZ_SAFEFILE_H

#include <stddef.h>
#include <sys/types.h>

#include "error.h"

/* One replacement in progress. Filled by qz_safefile_begin; the strings are owned by
 * it and freed by qz_safefile_commit or qz_safefile_abort, exactly one of which must
 * follow a successful begin. */
struct qz_safefile {
    char *path;  /* the file being replaced */
    char *tmp;   /* the temporary file; NULL once committed or aborted */
    int fd;      /* open for writing on tmp, positioned after any copied bytes; -1 once
                    closed (qz_safefile_close_fd, commit, abort) */
    int existed; /* path existed at begin: tmp gets its permission bits at commit */
    mode_t mode; /* those permission bits */
};

/* Whether path exists (*exists 1 or 0); if it does, it must be a regular file
 * (QZ_EARGS otherwise). A missing directory on the way counts as "does not exist".
 * QZ_EIO when path cannot be looked at. */
enum qz_status qz_safefile_target(const char *path, int *exists, struct qz_error *err);

/* The directory of path ("." when path has none) exists and is writable, so a
 * temporary file can be made there and renamed: QZ_EARGS names what is wrong. */
enum qz_status qz_safefile_check_dir(const char *path, struct qz_error *err);

/* This host's name, every character but [A-Za-z0-9_] made '_', at most 40 long. */
void qz_safefile_host(char *buf, size_t size);

/* path, if it exists, may be replaced by this user: QZ_EARGS when it is read-only to
 * its owner who runs this, or when access(W_OK) says no (another user's file in a
 * directory this user can write: the rename alone would need only the directory). */
enum qz_status qz_safefile_check_writable(const char *path, struct qz_error *err);

/* Remove temporary files of path left by killed processes: `<path>.tmp.<pid>@<host>`
 * (and their .N and .reserve forms) of this host whose process is gone; with locked
 * (the caller holds the lock under which all of path's temporary files are made),
 * every `<path>.tmp.*`. Never fails. */
void qz_safefile_clean(const char *path, int locked);

/* Create the temporary file for path (a symbolic link: for the file it names, which
 * is what commit replaces); with copy_existing, copy path's current bytes
 * into it (when path exists). On success sf is filled and sf->fd is open; on failure
 * nothing is left on disk and sf needs no abort. Stale temporary files of path are
 * removed first (qz_safefile_clean, unlocked). QZ_EARGS (path is not a regular file,
 * or one this user may not replace: qz_safefile_check_writable), QZ_EIO, QZ_ENOMEM. */
enum qz_status qz_safefile_begin(const char *path, int copy_existing, struct qz_safefile *sf,
                                 struct qz_error *err);

/* Take the existing file tmp (beside path, made by the caller) as the replacement of
 * path, as if qz_safefile_begin had made it; sf->fd is -1. Commit renames it over
 * path, abort removes it. QZ_EARGS (path is not a regular file), QZ_EIO, QZ_ENOMEM. */
enum qz_status qz_safefile_adopt(const char *path, const char *tmp, struct qz_safefile *sf,
                                 struct qz_error *err);

/* Close sf->fd, checking for write-back errors, for callers that reopen the
 * temporary file by name (HDF5). Harmless when it is already closed. */
enum qz_status qz_safefile_close_fd(struct qz_safefile *sf, struct qz_error *err);

/* Set aside `bytes` of disk space in `<tmp>.reserve` (tmp: a temporary file's name),
 * to be given back with qz_safefile_unreserve when room is needed for sure: a library
 * that must flush at close (HDF5) can then finish even when the disk filled up while
 * it wrote. The space is held by the file itself, not by an open descriptor, so any
 * process that knows tmp can give it back. A file system that cannot preallocate
 * reserves nothing and succeeds; no room is QZ_EIO. */
enum qz_status qz_safefile_reserve(const char *tmp, off_t bytes, struct qz_error *err);

/* Remove `<tmp>.reserve` if there is one. Never fails. */
void qz_safefile_unreserve(const char *tmp);

/* Allocate disk blocks for bytes offset .. offset+len-1 of the existing file `file`
 * (offset QZ_SAFEFILE_END: from its current end), then fsync it, so that later writes
 * there cannot fail for want of space: for writers that do not report such failures.
 * The file grows to cover the range if it is shorter. A file system that cannot
 * allocate is left as it is (QZ_OK); no room, or a file size limit, is QZ_EIO. */
#define QZ_SAFEFILE_END ((off_t)-1)
enum qz_status qz_safefile_allocate(const char *file, off_t offset, off_t len,
                                    struct qz_error *err);

/* Finish: close sf->fd if open, give tmp the replaced file's mode, fsync it, rename
 * it over path, fsync the directory. sf is released whatever the outcome. A failure
 * before the rename removes tmp and leaves path as it was (QZ_EIO); a failure to sync
 * the directory afterwards is QZ_EIO too, but path has then been replaced. */
enum qz_status qz_safefile_commit(struct qz_safefile *sf, struct qz_error *err);

/* Give up: close sf->fd, remove tmp and its reserve, release sf. Harmless on an sf
 * already committed or aborted, or zero-filled. */
void qz_safefile_abort(struct qz_safefile *sf);

#endif
