/* Drawing: every rank draws, scores and ranks its share of the N samples, meeting
 * the others every few hundred milliseconds (README: Semantics).
 *
 * Work units are chunks of chunk_size consecutive indices. The chunks between two
 * meetings of the ranks form one interval, split into a block per rank in proportion
 * to the ranks' drawing rates (common/schedule.h). At a meeting one small allgather
 * carries each rank's progress, invalid count, failure, stop request and rate, so a
 * failing rank stops the others at the next meeting instead of leaving them in a
 * collective, and every rank computes the next interval's split the same way.
 *
 * At a meeting all chunks below the interval's end C are done. The ranks may then
 * write a checkpoint (every checkpoint.every_seconds, and on SIGUSR1/SIGTERM, after
 * which they stop): "chunks below C", the counters, and every rank's top set with
 * its payloads. A resumed run draws chunks C, C+1, ... the same way.
 *
 * Each rank keeps the payload of every sample in its top set (the text, or a numeric
 * sample's value), so the selected sample's payload is gathered afterwards and no
 * sample is ever drawn twice. */
#ifndef QZ_DRAW_H
#define QZ_DRAW_H

#include <mpi.h>

#include "job.h"
#include "run.h"

/* Collective: set up *run for the job and, when opt->ckpt_path holds a checkpoint
 * of this task, resume it (this rank's share of its top set and payloads, the
 * counters); open the archive's staging file when the job archives. On failure
 * nothing is left open; *run is freed by qz_run_free either way. */
enum qz_status qz_draw_resume(MPI_Comm comm, const struct qz_job *job,
                              const struct qz_run_options *opt, struct qz_run *run,
                              struct qz_error *err);

/* Collective: draw every chunk not done yet, with meetings and checkpoints, then
 * close the archive. QZ_ESTOPPED after a checkpoint on a stop request. Every rank
 * returns the same status and message. */
enum qz_status qz_draw(MPI_Comm comm, const struct qz_job *job, const struct qz_run_options *opt,
                       struct qz_run *run, struct qz_error *err);

#endif
