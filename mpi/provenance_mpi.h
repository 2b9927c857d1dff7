/* The provenance of a run (common/provenance.h) with what needs MPI or HDF5: the
 * number of distinct hosts among the ranks, and the MPI and HDF5 libraries loaded. */
#ifndef QZ_PROVENANCE_MPI_H
#define QZ_PROVENANCE_MPI_H

#include <mpi.h>

#include "error.h"
#include "provenance.h"

/* Collective over comm: fill *p on rank 0 (the other ranks' *p is left zeroed). Every
 * rank sends rank 0 its processor name, which counts the distinct ones; rank 0 adds
 * its own host name, the library versions and the rest (qz_provenance_local). MPI
 * failures end the job (MPI's fatal handler); every rank returns the same status:
 * QZ_ENOMEM on rank 0, or QZ_OK. */
enum qz_status qz_provenance_collect(MPI_Comm comm, const struct qz_job *job,
                                     struct qz_provenance *p, struct qz_error *err);

#endif
