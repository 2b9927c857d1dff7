/* The global selection (README: Semantics, How it works): from the ranks' top sets, the run's K,
 * its threshold, boundary ties, selected entry and E_Q means, and a sweep's rows.
 *
 * For K up to the job's output.top_gather_limit a tree reduction gathers the top set
 * on the root (mpi/reduce.h), which selects and sweeps. For larger K nothing is
 * gathered: the threshold and the selected entry are found by distributed selection
 * (mpi/dselect.h) and, when the job writes top/, the top set is redistributed into
 * even slices (run->slice) that the ranks write collectively. A sweep whose largest
 * K is above the limit is swept the same distributed way, with exact sums over the
 * ranks: the same rows as a gathered sweep. */
#ifndef QZ_SELECTION_H
#define QZ_SELECTION_H

#include <mpi.h>

#include "job.h"
#include "run.h"

/* Collective, after qz_draw. Fills the figures; gathered runs: run->root.top on the
 * root; otherwise run->slice when the job writes top/; jobs with a list of q:
 * run->root.sweep on the root. Every rank returns the same status. */
enum qz_status qz_select_global(MPI_Comm comm, const struct qz_job *job, struct qz_run *run,
                                struct qz_error *err);

#endif
