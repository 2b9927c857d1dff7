#include "provenance_mpi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

#include "agree.h"

static int compare_names(const void *a, const void *b)
{
    return strncmp(a, b, MPI_MAX_PROCESSOR_NAME);
}

/* Rank 0: how many distinct names among the n in names (MPI_MAX_PROCESSOR_NAME bytes
 * each, NUL-terminated); sorts them. */
static int count_distinct(char *names, int n)
{
    int distinct = n > 0;

    qsort(names, (size_t)n, MPI_MAX_PROCESSOR_NAME, compare_names);
    for (int i = 1; i < n; i++)
        distinct += compare_names(names + (size_t)(i - 1) * MPI_MAX_PROCESSOR_NAME,
                                  names + (size_t)i * MPI_MAX_PROCESSOR_NAME) != 0;
    return distinct;
}

/* The MPI library's version, its first line only (Open MPI adds a URL and a date). */
static void mpi_version(char *buf, size_t n)
{
    char version[MPI_MAX_LIBRARY_VERSION_STRING] = "";
    int len = 0;

    MPI_Get_library_version(version, &len);
    version[strcspn(version, "\r\n")] = '\0';
    snprintf(buf, n, "%s", version); /* "" leaves it out of the record */
}

enum qz_status qz_provenance_collect(MPI_Comm comm, const struct qz_job *job,
                                     struct qz_provenance *p, struct qz_error *err)
{
    char mine[MPI_MAX_PROCESSOR_NAME], *all = NULL;
    unsigned major = 0, minor = 0, release = 0;
    int rank, size, len = 0;
    enum qz_status rc = QZ_OK;

    memset(p, 0, sizeof *p);
    memset(mine, 0, sizeof mine);
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    MPI_Get_processor_name(mine, &len);
    mine[sizeof mine - 1] = '\0';
    if (rank == 0 && !(all = calloc((size_t)size, MPI_MAX_PROCESSOR_NAME)))
        rc = qz_error_set(err, QZ_ENOMEM, "out of memory for the host names of %d ranks", size);
    if ((rc = qz_agree(comm, rc, err)))
        return rc;
    MPI_Gather(mine, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, 0,
               comm);
    if (rank == 0) {
        p->hosts = count_distinct(all, size);
        if (gethostname(p->host, sizeof p->host) != 0)
            p->host[0] = '\0';
        p->host[sizeof p->host - 1] = '\0';
        mpi_version(p->mpi, sizeof p->mpi);
        if (H5get_libversion(&major, &minor, &release) >= 0)
            snprintf(p->hdf5, sizeof p->hdf5, "%u.%u.%u", major, minor, release);
        qz_provenance_local(p, job);
    }
    free(all);
    return qz_agree(comm, rc, err);
}
