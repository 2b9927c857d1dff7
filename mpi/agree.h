/* Every rank agrees on the outcome of a collective step.
 *
 * After a step that may fail on some ranks, qz_agree makes every rank return the
 * same status with the same message (the lowest failing rank's), so no rank goes on
 * into a collective that another has abandoned. Collective over comm. */
#ifndef QZ_AGREE_H
#define QZ_AGREE_H

#include <mpi.h>

#include "error.h"

enum qz_status qz_agree(MPI_Comm comm, enum qz_status rc, struct qz_error *err);

/* Abort the whole job on a broken invariant, naming rank, host and place. */
#define QZ_ABORT(comm, what) qz_abort_at((comm), (what), __FILE__, __LINE__)
_Noreturn void qz_abort_at(MPI_Comm comm, const char *what, const char *file, int line);

#endif
