#include "agree.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* The longest sleep is short: while the ranks meet, a model server has no request. */
#define QZ_WAIT_FIRST_NS 50000L     /* the first sleep: 50 us */
#define QZ_WAIT_LONGEST_NS 2000000L /* the longest: 2 ms */
#define QZ_WAIT_TESTS 16            /* MPI_Test calls per wake-up */

/* Test req up to QZ_WAIT_TESTS times: Open MPI progresses non-blocking collectives
 * (libnbc) only on every 8th progress call, so one MPI_Test per wake-up would make each
 * round of a collective cost 8 sleeps. */
static int test_some(MPI_Request *req)
{
    int done = 0;
    for (int i = 0; i < QZ_WAIT_TESTS && !done; i++)
        MPI_Test(req, &done, MPI_STATUS_IGNORE);
    return done;
}

void qz_wait(MPI_Request *req, double spin_seconds)
{
    long ns = QZ_WAIT_FIRST_NS;
    double spin_until = MPI_Wtime() + spin_seconds;

    /* others usually arrive within moments: poll briefly, then sleep */
    while (MPI_Wtime() < spin_until)
        if (test_some(req))
            return;
    while (!test_some(req)) {
        struct timespec ts = {0, ns};
        nanosleep(&ts, NULL); /* a signal cuts it short: harmless, we test again */
        ns = ns * 2 > QZ_WAIT_LONGEST_NS ? QZ_WAIT_LONGEST_NS : ns * 2;
    }
}

void qz_allgather(const void *send, void *recv, int bytes, double spin_seconds, MPI_Comm comm)
{
    MPI_Request req;
    MPI_Iallgather(send, bytes, MPI_BYTE, recv, bytes, MPI_BYTE, comm, &req);
    qz_wait(&req, spin_seconds);
}

void qz_bcast(void *buf, int count, MPI_Datatype type, int root, MPI_Comm comm)
{
    MPI_Request req;
    MPI_Ibcast(buf, count, type, root, comm, &req);
    qz_wait(&req, QZ_WAIT_SPIN);
}

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
    {
        MPI_Request req; /* a rank may wait long here (for one that asks a server) */
        MPI_Iallreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm, &req);
        qz_wait(&req, QZ_WAIT_SPIN);
    }
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
    qz_bcast(&payload, (int)sizeof payload, MPI_BYTE, first, comm);
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
