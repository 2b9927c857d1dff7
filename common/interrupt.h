/* Stop requests by signal: SIGUSR1 (Slurm's warning before a time limit, or a user's
 * `scancel --signal=USR1`) and SIGTERM (preemption, the time limit itself, mpirun
 * passing on a SIGTERM or SIGINT it got) ask the run to checkpoint and stop. The
 * handlers only note the signal; the draw loop looks at qz_interrupt_pending at the
 * ranks' next meeting, where all ranks agree to stop, and start-up looks at it before
 * the first sample is drawn. Local. */
#ifndef QZ_INTERRUPT_H
#define QZ_INTERRUPT_H

#include "error.h"

/* Install the handlers, or put them back if something (an MPI library) replaced
 * them since; safe to call again, and before MPI_Init (main does, so that a stop
 * request during start-up never kills a rank). QZ_OK, or QZ_EINTERNAL when
 * sigaction fails. */
enum qz_status qz_interrupt_install(struct qz_error *err);

/* The signal number of the first stop request received, or 0 for none. */
int qz_interrupt_pending(void);

/* "SIGUSR1" or "SIGTERM" for a stop request's signal number, else "a signal". */
const char *qz_interrupt_name(int sig);

#endif
