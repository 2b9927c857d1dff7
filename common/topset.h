/* The top set: the best K samples in the SPEC §2 order, kept while streaming.
 *
 * Order: utility descending, then tie-break key t_i = qz_tie_key(seed, index)
 * descending (then index, should two keys ever collide), so the order is total. While
 * streaming, entries form a binary min-heap (worst entry at e[0]); qz_topset_sort
 * turns them into a best-first array. Memory is K entries of 24 bytes, allocated once.
 * Tie keys are computed on demand: only comparisons between equal utilities need them.
 *
 * Besides the entries, a set tracks `ties_out`: how many samples it saw but does not
 * hold whose utility equals its lowest held utility. That is enough to count, exactly
 * and at any rank count, how many samples tie with the final threshold. */
#ifndef QZ_TOPSET_H
#define QZ_TOPSET_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct qz_entry {
    double utility;
    double cost; /* NaN when no cost is scored */
    uint64_t index;
};

struct qz_topset {
    uint64_t seed;      /* for tie keys */
    size_t k;           /* capacity K >= 1 */
    size_t n;           /* entries held, <= k */
    struct qz_entry *e; /* owned; heap while streaming, best-first after qz_topset_sort */
    double thr;         /* lowest held utility once full, else -INFINITY: the reject bound */
    uint64_t ties_out;  /* samples seen, not held, with utility == lowest held utility */
};

/* Allocate room for k entries. Local. */
enum qz_status qz_topset_init(struct qz_topset *ts, size_t k, uint64_t seed, struct qz_error *err);
void qz_topset_free(struct qz_topset *ts);

/* Offer sample `index` with utility u (not NaN) and cost c. */
void qz_topset_offer_slow(struct qz_topset *ts, double u, double c, uint64_t index);

/* The streaming fast path: one comparison for a sample below the current bound.
 * NaN is not allowed here; callers filter it (NaN < thr is false, so a loop that
 * tests `u < thr` first sees NaNs only on its slow path). */
static inline void qz_topset_offer(struct qz_topset *ts, double u, double c, uint64_t index)
{
    if (u < ts->thr)
        return;
    qz_topset_offer_slow(ts, u, c, index);
}

/* 1 if a comes before b in the §2 order (a is better), else 0. */
int qz_entry_better(uint64_t seed, const struct qz_entry *a, const struct qz_entry *b);

/* Turn the heap into a best-first array (in place). After this, only
 * qz_topset_merge may combine sets. */
void qz_topset_sort(struct qz_topset *ts);

/* Merge two best-first sets a (na entries, ties_out ca) and b into out (room for k),
 * keeping the best k; *nout and *cout receive the count and the merged ties_out.
 * out must not alias a or b. */
void qz_topset_merge(uint64_t seed, size_t k, const struct qz_entry *a, size_t na, uint64_t ca,
                     const struct qz_entry *b, size_t nb, uint64_t cb, struct qz_entry *out,
                     size_t *nout, uint64_t *cout);

/* Keep the best k of a best-first set e[0..*n) with ties_out *c, updating both. */
void qz_topset_truncate(struct qz_entry *e, size_t *n, uint64_t *c, size_t k);

/* For a best-first set of n entries with ties_out c: how many samples other than the
 * last held one share its utility (SPEC §6 boundary_ties). */
uint64_t qz_topset_boundary_ties(const struct qz_entry *e, size_t n, uint64_t c);

#endif
