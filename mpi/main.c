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
