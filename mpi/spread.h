/* Thinning and spreading the ranks' top sets before they are sorted.
 *
 * At the end of the draw every rank holds up to K plus slack entries, unsorted, and
 * together they hold far more than the best `want` of all ranks. A bound v and cut
 * points are estimated from utilities sampled on every rank (each sample standing for
 * n_r / s_r entries of rank r):
 *
 * - the prefilter drops every entry below v, where v keeps about 2% more than `want`,
 *   but only after the ranks have counted that at least `want` entries lie at or
 *   above v: the best `want` are always kept, so results do not change;
 * - the spread also sends every entry to the rank whose range of utilities it falls
 *   in, cut so that rank r gets about the best-first positions [want r/P,
 *   want (r+1)/P). Once each rank has sorted what it holds, the sets are contiguous
 *   runs of the global order, so the redistribution into exact slices
 *   (qz_dselect_redistribute) moves only the entries near the cuts and merges nothing.
 *
 * Both are optimizations: on a shortage of memory, or when the cuts would load one
 * rank with much more than its share (many equal utilities), they do less. */
#ifndef QZ_SPREAD_H
#define QZ_SPREAD_H

#include <mpi.h>
#include <stdint.h>

#include "payload.h"
#include "topset.h"

/* Collective, on unsorted sets: drop the entries that cannot be among the best `want`
 * of all ranks. */
void qz_prefilter(MPI_Comm comm, struct qz_topset *ts, uint64_t want);

/* The samples no rank holds any more that may tie with the threshold: after a
 * spread, each rank's thr and ties_out describe nothing (ties_out is 0), and the
 * not-held samples have utilities <= thr, `ties` of them equal to it. */
struct qz_spread_tail {
    int spread; /* 1 when the entries were spread */
    double thr;
    uint64_t ties;
};

/* Collective, on unsorted sets, instead of qz_prefilter when the top set will be
 * redistributed: the prefilter, then the spread. The payloads of the entries kept
 * are retained before the entries move (a payload is found on whichever rank keeps
 * it). tail->spread is 0 when the entries stayed where they were (the sets are then
 * as after qz_prefilter and the payloads untouched). QZ_ENOMEM (agreed) when the
 * payloads could not be retained. */
enum qz_status qz_spread(MPI_Comm comm, struct qz_topset *ts, uint64_t want, struct qz_payloads *pl,
                         struct qz_spread_tail *tail, struct qz_error *err);

#endif
