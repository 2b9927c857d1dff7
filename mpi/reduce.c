#include "reduce.h"

#include <stdint.h>
#include <stdlib.h>

#include "agree.h"

#define QZ_TAG_HEADER 101
#define QZ_TAG_ENTRIES 102
#define QZ_MSG_ENTRIES ((size_t)1 << 25) /* entries per message: 768 MiB, under INT_MAX bytes */

/* Point-to-point messages use the communicator's fatal error handler (see README,
 * "How it works"), so they return only on success. */
static void send_set(MPI_Comm comm, int to, const struct qz_entry *e, size_t n, uint64_t ties)
{
    uint64_t header[2] = {n, ties};
    MPI_Send(header, 2, MPI_UINT64_T, to, QZ_TAG_HEADER, comm);
    for (size_t off = 0; off < n; off += QZ_MSG_ENTRIES) {
        size_t part = n - off < QZ_MSG_ENTRIES ? n - off : QZ_MSG_ENTRIES;
        MPI_Send(e + off, (int)(part * sizeof *e), MPI_BYTE, to, QZ_TAG_ENTRIES, comm);
    }
}

static void recv_set(MPI_Comm comm, int from, struct qz_entry *e, size_t cap, size_t *n,
                     uint64_t *ties)
{
    uint64_t header[2];
    MPI_Recv(header, 2, MPI_UINT64_T, from, QZ_TAG_HEADER, comm, MPI_STATUS_IGNORE);
    if (header[0] > cap) /* every sender truncated its set to k */
        QZ_ABORT(comm, "a received top set is larger than k");
    *n = (size_t)header[0];
    *ties = header[1];
    for (size_t off = 0; off < *n; off += QZ_MSG_ENTRIES) {
        size_t part = *n - off < QZ_MSG_ENTRIES ? *n - off : QZ_MSG_ENTRIES;
        MPI_Recv(e + off, (int)(part * sizeof *e), MPI_BYTE, from, QZ_TAG_ENTRIES, comm,
                 MPI_STATUS_IGNORE);
    }
}

enum qz_status qz_reduce_topset(MPI_Comm comm, struct qz_topset *ts, size_t k, struct qz_error *err)
{
    int rank, size;
    struct qz_entry *in = NULL, *merged = NULL;
    enum qz_status rc = QZ_OK;

    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    /* A rank that will receive needs room for k entries in both buffers it swaps, and
     * one to receive into: all allocated, and agreed on, before the first message. */
    if (rank % 2 == 0 && rank + 1 < size) {
        struct qz_entry *grown = ts->cap < k ? realloc(ts->e, k * sizeof *grown) : ts->e;
        if (grown) {
            ts->e = grown;
            ts->cap = k > ts->cap ? k : ts->cap;
        }
        in = malloc((k ? k : 1) * sizeof *in);
        merged = malloc((k ? k : 1) * sizeof *merged);
        if ((!grown && k) || !in || !merged)
            rc = qz_error_set(err, QZ_ENOMEM, "rank %d: out of memory for a top set of %zu", rank,
                              k);
    }
    if ((rc = qz_agree(comm, rc, err))) {
        free(in);
        free(merged);
        return rc;
    }
    for (int step = 1; step < size; step *= 2) {
        if (rank % (2 * step) == step) {
            send_set(comm, rank - step, ts->e, ts->n, ts->ties_out);
            ts->n = 0;
            ts->ties_out = 0;
            break;
        }
        if (rank % (2 * step) == 0 && rank + step < size) {
            size_t nin, nout;
            uint64_t tin, tout;
            struct qz_entry *old;
            recv_set(comm, rank + step, in, k, &nin, &tin);
            qz_topset_merge(ts->seed, k, ts->e, ts->n, ts->ties_out, in, nin, tin, merged, &nout,
                            &tout);
            /* merged becomes the set; the old array (also room for k) takes the next merge */
            old = ts->e;
            ts->e = merged;
            merged = old;
            ts->n = nout;
            ts->ties_out = tout;
        }
    }
    free(in);
    free(merged);
    return QZ_OK;
}
