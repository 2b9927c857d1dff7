/* Error codes and messages shared by every module.
 *
 * A function that can fail returns an enum qz_status and, when it fails, fills a
 * struct qz_error with one message that names what and where (file, field path,
 * sample index, rank). The caller decides whether to print it; nothing here prints. */
#ifndef QZ_ERROR_H
#define QZ_ERROR_H

#include <stddef.h>

enum qz_status {
    QZ_OK = 0,
    QZ_EARGS,     /* bad command line */
    QZ_EJOB,      /* bad job file: malformed, missing or invalid field */
    QZ_EEXISTS,   /* the run already exists in the output file */
    QZ_EIO,       /* a file could not be read, written or renamed */
    QZ_EHDF5,     /* the HDF5 library failed, or a file is not a quantilize record */
    QZ_ENOMEM,    /* an allocation failed */
    QZ_EINVALID,  /* a sample was invalid (NaN utility) and the policy is "error" */
    QZ_EMPI,      /* an MPI call failed, or another rank failed */
    QZ_EINTERNAL, /* a broken invariant */
    QZ_ECKPT,     /* a checkpoint that does not belong to the job, or is damaged */
    QZ_ESTOPPED,  /* stopped by a signal after writing a checkpoint: run again */
    QZ_EOUTAGE,   /* a generator's servers are all down (job field on_server_down
                     "checkpoint"): the draw loop checkpoints and exits 75 */
};

#define QZ_ERROR_MSG_MAX 1024

struct qz_error {
    enum qz_status code;
    char msg[QZ_ERROR_MSG_MAX];
};

/* The name of a status ("bad job", ...). Never NULL. */
const char *qz_strerror(enum qz_status code);

/* The process exit status for a status: 0 ok, 2 bad job, arguments or checkpoint,
 * QZ_EXIT_REQUEUE after a checkpoint on a signal or an outage, 1 otherwise. */
#define QZ_EXIT_REQUEUE 75 /* EX_TEMPFAIL: checkpointed, please requeue */
int qz_exit_status(enum qz_status code);

/* Set err (which may be NULL) to code and a printf-style message; returns code so
 * callers can write `return qz_error_set(err, QZ_EJOB, ...)`. */
enum qz_status qz_error_set(struct qz_error *err, enum qz_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Print one warning line, "quantilize: " and the printf-style message, to stderr in a
 * single write: under mpirun the lines of several ranks (and of their child
 * processes) then never interleave within a line. */
void qz_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Clear err to QZ_OK with an empty message. */
void qz_error_clear(struct qz_error *err);

#endif
