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

#endif
