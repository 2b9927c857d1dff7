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

/* Complete a non-blocking request without busy waiting: MPI_Test for spin_seconds,
 * then sleep, the sleep growing from 50 us to 2 ms, so a rank that waits long for the
 * others (a meeting while another rank draws from a slow model server) uses well under
 * 5% of a core, and one that waits briefly loses at most about as long as it waited.
 * QZ_WAIT_SPIN suits steps where the others usually arrive within moments (ranks
 * drawing a built-in distribution, the steps of a selection); 0 suits ranks that wait
 * for a model server, whose core a polling rank would take. */
#define QZ_WAIT_SPIN 1e-3
void qz_wait(MPI_Request *req, double spin_seconds);

/* MPI_Allgather and MPI_Bcast completed with qz_wait (MPI_Iallgather, MPI_Ibcast). */
void qz_allgather(const void *send, void *recv, int bytes, double spin_seconds, MPI_Comm comm);
void qz_bcast(void *buf, int count, MPI_Datatype type, int root, MPI_Comm comm);

/* Abort the whole job on a broken invariant, naming rank, host and place. */
#define QZ_ABORT(comm, what) qz_abort_at((comm), (what), __FILE__, __LINE__)
_Noreturn void qz_abort_at(MPI_Comm comm, const char *what, const char *file, int line);

#endif
