#include <mpi.h>

#include "cli.h"

int main(int argc, char **argv)
{
    int status;
    MPI_Init(&argc, &argv);
    status = qz_cli_main(argc, argv);
    MPI_Finalize();
    return status;
}
