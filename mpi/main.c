#include <stdlib.h>

#include <mpi.h>

#include "cli.h"
#include "interrupt.h"

int main(int argc, char **argv)
{
    int status;
    /* Open MPI's "vulcan" collective-write component has known hangs and corruption
     * reports; prefer dynamic_gen2 unless the user chose otherwise. Open MPI reads
     * this when the first file is opened, so it must be set before MPI_Init. */
    setenv("OMPI_MCA_fcoll", "dynamic_gen2", 0);
    /* A rank waiting in a blocking MPI call (the selection's collectives) yields the
     * core rather than busy-poll: on a node whose cores a model server uses, a poll
     * takes the server's time (2 ranks on the server's core took 0.9 s for the
     * selection of 20 entries, 2 ms with this). No cost measured at K = 10^7 on 2
     * idle cores. The meetings sleep between polls anyway (mpi/agree.c). */
    setenv("OMPI_MCA_mpi_yield_when_idle", "1", 0);
    /* A stop request (SIGUSR1, SIGTERM) that comes while MPI starts or the job loads
     * is noted, never fatal: the run looks at it before drawing (mpi/session.c). A
     * failure here is reported by the session, which installs them again. */
    if (qz_cli_stoppable(argc, argv))
        qz_interrupt_install(NULL);
    MPI_Init(&argc, &argv);
    status = qz_cli_main(argc, argv);
    MPI_Finalize();
    return status;
}
