/* Distributed selection: find the entries at given global positions of the union
 * of the ranks' sorted sets, without gathering them.
 *
 * Each entry maps to a key (utility, tie key, index) that preserves the selection order.
 * A position's key is found by bisection on each 64-bit part in turn, every step
 * one allreduce of counts (each rank counts its entries at or above a candidate by
 * binary search), so the cost is about 64-192 small allreduces for any number of
 * positions, and only the selected entries travel. */
#ifndef QZ_DSELECT_H
#define QZ_DSELECT_H

#include <mpi.h>
#include <stdint.h>

#include "topset.h"

/* Collective. e[0..n) is this rank's set, best first; positions pos[0..m) (0 = best)
 * must be below the total number of entries over all ranks. On return out[j] is the
 * entry at global position pos[j], on every rank. */
enum qz_status qz_dselect(MPI_Comm comm, const struct qz_entry *e, size_t n, uint64_t seed,
                          const uint64_t *pos, size_t m, struct qz_entry *out,
                          struct qz_error *err);

/* How many of e[0..n) (best first) come before entry x in the selection order. Local. */
size_t qz_dselect_count_better(const struct qz_entry *e, size_t n, uint64_t seed,
                               const struct qz_entry *x);

/* Collective: redistribute the best `total` entries of the ranks' sets so that rank
 * r ends up with global positions [total*r/P, total*(r+1)/P), best first, in place:
 * on entry (*e)[0..*n) is this rank's set, best first, in a malloc'd array; on
 * return the array (reallocated) holds the slice, *n its length and *offset its first
 * position. The rank's own part does not move between arrays, so memory peaks at the
 * set plus the entries that arrive from other ranks. On failure the set is
 * unchanged. */
enum qz_status qz_dselect_redistribute(MPI_Comm comm, struct qz_entry **e, size_t *n, uint64_t seed,
                                       uint64_t total, uint64_t *offset, struct qz_error *err);

#endif
