/* Payload gathering: the payloads the record needs, from the ranks that kept them
 * while drawing (mpi/draw.h) to the root. Text jobs: the whole top set's texts when
 * it was gathered and is written, else the selected sample's text; numeric jobs: the
 * selected sample's value. Nothing is drawn again. */
#ifndef QZ_GATHER_H
#define QZ_GATHER_H

#include <mpi.h>

#include "job.h"
#include "run.h"

/* Collective, after qz_select_global: fills run->root.top_texts, selected_text or
 * selected_value on the root. Every rank returns the same status; a top set whose
 * payloads exceed 2 GiB is an error (lower output.top_gather_limit). */
enum qz_status qz_gather_payloads(MPI_Comm comm, const struct qz_job *job, struct qz_run *run,
                                  struct qz_error *err);

/* Collective, after qz_gather_payloads, for jobs with metrics: every metric scored on
 * the root on the top set of the job's largest q (run->root.metric_top): text
 * samples from their texts gathered here, numeric samples drawn again by index (their
 * values checked against the ones kept while drawing); then each metric's E_Q at the
 * run's q and every sweep row (run->root.metrics). */
enum qz_status qz_gather_metrics(MPI_Comm comm, const struct qz_job *job, struct qz_run *run,
                                 struct qz_error *err);

#endif
