#include <stdlib.h>

#include <mpi.h>

#include "cli.h"

int main(int argc, char **argv)
{
    int status;
    /* Open MPI's "vulcan" collective-write component has known hangs and corruption
     * reports; prefer dynamic_gen2 unless the user chose otherwise. Open MPI reads
     * this when the first file is opened, so it must be set before MPI_Init. */
    setenv("OMPI_MCA_fcoll", "dynamic_gen2", 0);
    MPI_Init(&argc, &argv);
    status = qz_cli_main(argc, argv);
    MPI_Finalize();
    return status;
}
