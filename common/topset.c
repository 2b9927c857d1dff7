#include "topset.h"

#include <stdlib.h>

#include "rng.h"

int qz_entry_better(uint64_t seed, const struct qz_entry *a, const struct qz_entry *b)
{
    uint64_t ta, tb;

    if (a->utility != b->utility)
        return a->utility > b->utility;
    ta = qz_tie_key(seed, a->index);
    tb = qz_tie_key(seed, b->index);
    if (ta != tb)
        return ta > tb;
    return a->index > b->index; /* keys collide with probability 2^-64; stay total */
}

enum qz_status qz_topset_init(struct qz_topset *ts, size_t k, uint64_t seed, struct qz_error *err)
{
    ts->seed = seed;
    ts->k = k;
    ts->n = 0;
    ts->thr = -INFINITY;
    ts->ties_out = 0;
    ts->e = k ? malloc(k * sizeof *ts->e) : NULL;
    if (!ts->e)
        return qz_error_set(err, QZ_ENOMEM, "out of memory for a top set of %zu entries", k);
    return QZ_OK;
}

void qz_topset_free(struct qz_topset *ts)
{
    free(ts->e);
    ts->e = NULL;
    ts->n = ts->k = 0;
}

/* Restore the min-heap property below position i (worst entry at the root). */
static void sift_down(struct qz_entry *e, size_t n, size_t i, uint64_t seed)
{
    struct qz_entry x = e[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && qz_entry_better(seed, &e[c], &e[c + 1]))
            c++;
        if (!qz_entry_better(seed, &x, &e[c]))
            break;
        e[i] = e[c];
        i = c;
    }
    e[i] = x;
}

static void sift_up(struct qz_entry *e, size_t i, uint64_t seed)
{
    struct qz_entry x = e[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!qz_entry_better(seed, &e[p], &x))
            break;
        e[i] = e[p];
        i = p;
    }
    e[i] = x;
}

void qz_topset_offer_slow(struct qz_topset *ts, double u, double c, uint64_t index)
{
    struct qz_entry x = {u, c, index};
    double old;

    if (ts->n < ts->k) {
        ts->e[ts->n] = x;
        sift_up(ts->e, ts->n, ts->seed);
        ts->n++;
        if (ts->n == ts->k)
            ts->thr = ts->e[0].utility;
        return;
    }
    if (!qz_entry_better(ts->seed, &x, &ts->e[0])) {
        if (u == ts->thr)
            ts->ties_out++;
        return;
    }
    /* x replaces the worst entry, which leaves the set. */
    old = ts->e[0].utility;
    ts->e[0] = x;
    sift_down(ts->e, ts->n, 0, ts->seed);
    ts->thr = ts->e[0].utility;
    /* Samples outside all have utility <= old <= thr: they tie with the new lowest
     * utility only when it did not change, and then the evicted entry ties too. */
    ts->ties_out = ts->thr == old ? ts->ties_out + 1 : 0;
}

void qz_topset_sort(struct qz_topset *ts)
{
    /* Heapsort on the min-heap: popping the worst to the back leaves best first. */
    for (size_t n = ts->n; n > 1; n--) {
        struct qz_entry worst = ts->e[0];
        ts->e[0] = ts->e[n - 1];
        ts->e[n - 1] = worst;
        sift_down(ts->e, n - 1, 0, ts->seed);
    }
}

/* How many samples a best-first set s[0..n) with ties_out c loses, from position
 * `kept` on, that tie with utility `low` (the lowest utility a merged set keeps): the
 * dropped entries equal to it, plus c when the set's own lowest utility equals it
 * (everything the set had already dropped has utility <= its lowest). */
static uint64_t dropped_ties(const struct qz_entry *s, size_t kept, size_t n, uint64_t c,
                             double low)
{
    uint64_t ties = 0;
    for (size_t i = kept; i < n && s[i].utility == low; i++)
        ties++;
    if (n && s[n - 1].utility == low)
        ties += c;
    return ties;
}

void qz_topset_merge(uint64_t seed, size_t k, const struct qz_entry *a, size_t na, uint64_t ca,
                     const struct qz_entry *b, size_t nb, uint64_t cb, struct qz_entry *out,
                     size_t *nout, uint64_t *cout)
{
    size_t i = 0, j = 0, n = 0;

    while (n < k && (i < na || j < nb)) {
        if (j >= nb || (i < na && qz_entry_better(seed, &a[i], &b[j])))
            out[n++] = a[i++];
        else
            out[n++] = b[j++];
    }
    *nout = n;
    *cout = n ? dropped_ties(a, i, na, ca, out[n - 1].utility) +
                    dropped_ties(b, j, nb, cb, out[n - 1].utility)
              : 0;
}

void qz_topset_truncate(struct qz_entry *e, size_t *n, uint64_t *c, size_t k)
{
    if (*n <= k)
        return;
    *c = k ? dropped_ties(e, k, *n, *c, e[k - 1].utility) : 0;
    *n = k;
}

uint64_t qz_topset_boundary_ties(const struct qz_entry *e, size_t n, uint64_t c)
{
    uint64_t ties = c;
    if (n == 0)
        return 0;
    for (size_t i = n - 1; i > 0 && e[i - 1].utility == e[n - 1].utility; i--)
        ties++;
    return ties;
}
