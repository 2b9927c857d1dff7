/* The top set: the best K samples in the order of README "Semantics", kept while
 * streaming.
 *
 * Order: utility descending, then tie-break key t_i = qz_tie_key(seed, index)
 * descending (then index, should two keys ever collide), so the order is total. Tie
 * keys are computed on demand: only comparisons between equal utilities need them.
 *
 * While streaming, a set is a buffer of K entries plus some slack: every sample at or
 * above the bound `thr` is appended, and when the buffer is full a quickselect keeps
 * the best K and raises `thr` to the lowest kept utility. Appending is one store per
 * candidate, and rejecting a sample one comparison, for any K. Memory is
 * min(K + slack, samples offered) entries of 24 bytes, slack = max(K/8, 4096).
 * A full buffer is usually compacted by a filter (keep everything at or above a
 * bound estimated from a sample, a little more than K entries): two linear passes.
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
    size_t k;           /* K >= 1: entries kept by a compaction */
    size_t cap;         /* room in e */
    size_t full;        /* the most room it grows to: K plus slack */
    size_t n;           /* entries held, <= cap */
    struct qz_entry *e; /* owned; unordered while streaming, best first after finish */
    double thr;         /* the reject bound: every sample seen but not held has utility
                           <= thr (-INFINITY before the first compaction) */
    uint64_t ties_out;  /* samples seen, not held, with utility == thr; after finish,
                           thr is the lowest held utility */
};

/* Allocate a set keeping k entries, with room for `room` samples to begin with (the
 * samples it is expected to see): a set that fills before it reaches K plus slack
 * grows by half instead of compacting, so memory stays about 24 bytes x min(K, samples
 * seen). Local. */
enum qz_status qz_topset_init(struct qz_topset *ts, size_t k, uint64_t room, uint64_t seed,
                              struct qz_error *err);
void qz_topset_free(struct qz_topset *ts);

/* The buffer is full: grow it (while below K plus slack), or keep the best k of the
 * held entries and raise thr. QZ_ENOMEM when it cannot grow and holds no more than k
 * entries (nothing can be dropped); the set is unchanged then. */
enum qz_status qz_topset_compact(struct qz_topset *ts, struct qz_error *err);

/* Append sample `index` with utility u (not NaN, u >= thr) and cost c. QZ_ENOMEM as
 * qz_topset_compact (the sample is not added). */
static inline enum qz_status qz_topset_push(struct qz_topset *ts, double u, double c,
                                            uint64_t index, struct qz_error *err)
{
    enum qz_status rc;
    if (ts->n == ts->cap && (rc = qz_topset_compact(ts, err)))
        return rc;
    ts->e[ts->n].utility = u;
    ts->e[ts->n].cost = c;
    ts->e[ts->n].index = index;
    ts->n++;
    return QZ_OK;
}

/* Offer a sample: one comparison when it is below the bound. NaN is not allowed
 * (callers test `u < thr` first and see NaN only on their slow path). */
static inline enum qz_status qz_topset_offer(struct qz_topset *ts, double u, double c,
                                             uint64_t index, struct qz_error *err)
{
    if (u < ts->thr)
        return QZ_OK;
    return qz_topset_push(ts, u, c, index, err);
}

/* Keep the held entries with utility >= v, in their order; every sample the set
 * drops has utility < v, so thr rises to v (ties_out kept only when thr was v).
 * Returns the number kept. Local. */
size_t qz_topset_keep_at_least(struct qz_topset *ts, double v);

/* End of stream: keep the best k and sort them best first. */
void qz_topset_finish(struct qz_topset *ts);

/* Sort n entries best first. Local. */
void qz_entries_sort(struct qz_entry *e, size_t n, uint64_t seed);

/* 1 if a comes before b in the selection order (a is better), else 0. */
int qz_entry_better(uint64_t seed, const struct qz_entry *a, const struct qz_entry *b);

/* Merge two best-first sets a (na entries, ties_out ca) and b into out (room for k),
 * keeping the best k; *nout and *cout receive the count and the merged ties_out.
 * out must not alias a or b. */
void qz_topset_merge(uint64_t seed, size_t k, const struct qz_entry *a, size_t na, uint64_t ca,
                     const struct qz_entry *b, size_t nb, uint64_t cb, struct qz_entry *out,
                     size_t *nout, uint64_t *cout);

/* Keep the best k of a best-first set e[0..*n) with ties_out *c, updating both. */
void qz_topset_truncate(struct qz_entry *e, size_t *n, uint64_t *c, size_t k);

/* For a best-first set of n entries with ties_out c: how many samples other than the
 * last held one share its utility (the record's boundary_ties). */
uint64_t qz_topset_boundary_ties(const struct qz_entry *e, size_t n, uint64_t c);

#endif
