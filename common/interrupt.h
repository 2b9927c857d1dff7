/* Stop requests by signal: SIGUSR1 (Slurm's warning before a time limit, or a user's
 * `scancel --signal=USR1`) and SIGTERM (preemption, the time limit itself) ask the run
 * to checkpoint and stop. The handlers only note the signal; the draw loop looks at
 * qz_interrupt_pending at the ranks' next meeting, where all ranks agree to stop.
 * Local. */
#ifndef QZ_INTERRUPT_H
#define QZ_INTERRUPT_H

#include "error.h"

/* Install the handlers (once; later calls do nothing). QZ_OK, or QZ_EINTERNAL when
 * sigaction fails. */
enum qz_status qz_interrupt_install(struct qz_error *err);

/* The signal number of the first stop request received, or 0 for none. */
int qz_interrupt_pending(void);

#endif
