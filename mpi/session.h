/* A run session: one `run` or `select` command from a loaded job to its record.
 *
 * The session works out the output file, the checkpoint and the archive's staging
 * file, finds which task a checkpoint resumes, and runs each task (or the job) on
 * every rank: resume, draw (mpi/draw.h), select (mpi/selection.h), gather payloads
 * (mpi/gather.h), write the record (mpi/output.h), then remove the checkpoint and
 * the staging file. Collective over MPI_COMM_WORLD; only rank 0 prints. */
#ifndef QZ_SESSION_H
#define QZ_SESSION_H

#include "job.h"

struct qz_session_args {
    const char *out;       /* -o: the output file; NULL: output.path, else NAME.h5 */
    int overwrite;         /* --overwrite: replace a run of the same name */
    int fresh;             /* --fresh: delete the run's checkpoint instead of resuming */
    int progress;          /* show progress on stderr */
    double progress_every; /* seconds between plain progress lines */
    /* select: the archive's file and run the job re-quantilizes; NULL for run */
    const char *source_file;
    const char *source_run;
};

/* Collective: run a loaded job (every rank loaded the same) and record it; frees the
 * job. Every rank returns the same status and message; QZ_ESTOPPED after a
 * checkpoint on a stop request. */
enum qz_status qz_session_run(struct qz_job *job, const struct qz_session_args *a,
                              struct qz_error *err);

/* Collective: the end of a start-up step (`during`: what it did, "while loading the
 * job"). When no rank failed otherwise (rc, agreed first) and any rank has a stop
 * request pending (SIGUSR1, SIGTERM), or stopped its step for one (QZ_ESTOPPED),
 * every rank returns QZ_ESTOPPED with one message naming the signal and the step;
 * nothing has been drawn, and the checkpoint `ckpt` (NULL: not known yet), if there
 * is one, is left as it is. Else rc, agreed. */
enum qz_status qz_session_startup_stop(enum qz_status rc, const char *during, const char *ckpt,
                                       struct qz_error *err);

#endif
