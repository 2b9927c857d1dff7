#include "agree.h"

#include <stdio.h>
#include <string.h>

enum qz_status qz_agree(MPI_Comm comm, enum qz_status rc, struct qz_error *err)
{
    int rank, size, mine, first;
    struct {
        int code;
        char msg[QZ_ERROR_MSG_MAX];
    } payload;

    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    mine = rc != QZ_OK ? rank : size;
    MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm);
    if (first == size)
        return QZ_OK;
    memset(&payload, 0, sizeof payload);
    if (rank == first) {
        payload.code = (int)rc;
        if (err && err->msg[0])
            snprintf(payload.msg, sizeof payload.msg, "%s", err->msg);
        else
            snprintf(payload.msg, sizeof payload.msg, "rank %d: %s", rank, qz_strerror(rc));
    }
    MPI_Bcast(&payload, (int)sizeof payload, MPI_BYTE, first, comm);
    return qz_error_set(err, (enum qz_status)payload.code, "%s", payload.msg);
}

void qz_abort_at(MPI_Comm comm, const char *what, const char *file, int line)
{
    int rank = -1, len = 0;
    char host[MPI_MAX_PROCESSOR_NAME] = "?";
    MPI_Comm_rank(comm, &rank);
    MPI_Get_processor_name(host, &len);
    fprintf(stderr, "quantilize: rank %d on %s: %s (%s:%d); aborting\n", rank, host, what, file,
            line);
    fflush(stderr);
    MPI_Abort(comm, 1);
    for (;;) {
    }
}
