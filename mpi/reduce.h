/* The reduction of local top sets into the global top set.
 *
 * A binomial tree: in round s, rank r with r % 2^(s+1) == 2^s sends its best-first
 * set to rank r - 2^s, which merges it into its own, keeping the best k. log2(P)
 * rounds; the root ends with the global set and never holds more than about 3k
 * entries (its own, one received, the merged), not P*k. */
#ifndef QZ_REDUCE_H
#define QZ_REDUCE_H

#include <mpi.h>

#include "topset.h"

/* Collective. ts must be finished (qz_topset_finish) with at most k entries. On return
 * the root (rank 0) holds the best min(k, total) entries of all ranks in ts (sorted,
 * ties_out merged); other ranks' sets are emptied. All ranks return the same status. */
enum qz_status qz_reduce_topset(MPI_Comm comm, struct qz_topset *ts, size_t k,
                                struct qz_error *err);

#endif
