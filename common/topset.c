#include "topset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

#define QZ_TOPSET_MIN_SLACK 4096
#define QZ_FILTER_SAMPLE 8192                /* utilities sampled to estimate a filter bound */
#define QZ_FILTER_MIN (8 * QZ_FILTER_SAMPLE) /* smaller buffers compact exactly */
#define QZ_INSERTION_MAX 16
#define QZ_RADIX_MIN 32 /* smaller buckets are sorted by insertion */

/* a before b in the selection order; utilities first, tie keys only for equal utilities. */
static inline int better(uint64_t seed, const struct qz_entry *a, const struct qz_entry *b)
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

int qz_entry_better(uint64_t seed, const struct qz_entry *a, const struct qz_entry *b)
{
    return better(seed, a, b);
}

enum qz_status qz_topset_init(struct qz_topset *ts, size_t k, uint64_t room, uint64_t seed,
                              struct qz_error *err)
{
    size_t slack = k / 8 > QZ_TOPSET_MIN_SLACK ? k / 8 : QZ_TOPSET_MIN_SLACK;
    ts->seed = seed;
    ts->k = k;
    ts->full = k + slack;
    ts->cap = room < (uint64_t)(k + slack) ? (size_t)room : k + slack;
    if (ts->cap == 0)
        ts->cap = 1;
    ts->n = 0;
    ts->thr = -INFINITY;
    ts->ties_out = 0;
    ts->e = malloc(ts->cap * sizeof *ts->e);
    if (!ts->e)
        return qz_error_set(err, QZ_ENOMEM, "out of memory for a top set of %zu entries", ts->cap);
    return QZ_OK;
}

void qz_topset_free(struct qz_topset *ts)
{
    free(ts->e);
    ts->e = NULL;
    ts->n = ts->k = ts->cap = 0;
}

static inline void swap(struct qz_entry *a, struct qz_entry *b)
{
    struct qz_entry t = *a;
    *a = *b;
    *b = t;
}

static void insertion_sort(struct qz_entry *e, size_t n, uint64_t seed)
{
    for (size_t i = 1; i < n; i++) {
        struct qz_entry x = e[i];
        size_t j = i;
        for (; j > 0 && better(seed, &x, &e[j - 1]); j--)
            e[j] = e[j - 1];
        e[j] = x;
    }
}

/* Partition e[0..n) (n >= 4) around a median-of-three pivot: afterwards e[p] is the
 * pivot, everything before it is better and everything after it worse. The three
 * candidates sit at n/4, n/2 and 3n/4, so that input made of a few sorted runs (the
 * merged slices of a redistribution) still splits evenly. */
static size_t partition(struct qz_entry *e, size_t n, uint64_t seed)
{
    size_t a = n / 4, m = n / 2, b = n - n / 4 - 1, last = n - 1, store = 0;
    /* Order e[a], e[m], e[b] so the median lands at e[b], then move it last. */
    if (better(seed, &e[m], &e[a]))
        swap(&e[m], &e[a]);
    if (better(seed, &e[b], &e[a]))
        swap(&e[b], &e[a]);
    if (better(seed, &e[m], &e[b]))
        swap(&e[m], &e[b]);
    swap(&e[b], &e[last]);
    for (size_t i = 0; i < last; i++)
        if (better(seed, &e[i], &e[last]))
            swap(&e[i], &e[store++]);
    swap(&e[store], &e[last]);
    return store;
}

/* Rearrange e[0..n) so that e[0..k) are its k best entries (in no order). */
static void select_best(struct qz_entry *e, size_t n, size_t k, uint64_t seed)
{
    while (n > QZ_INSERTION_MAX && k > 0 && k < n) {
        size_t p = partition(e, n, seed);
        if (p == k || p + 1 == k)
            return;
        if (k < p) {
            n = p;
        } else {
            e += p + 1;
            n -= p + 1;
            k -= p + 1;
        }
    }
    if (k > 0 && k < n)
        insertion_sort(e, n, seed);
}

/* Quicksort in the selection order, recursing into the smaller side so the stack
 * stays O(log n). Used on runs of equal utilities, where only tie keys decide. */
static void quick_sort(struct qz_entry *e, size_t n, uint64_t seed)
{
    while (n > QZ_INSERTION_MAX) {
        size_t p = partition(e, n, seed);
        if (p < n - p - 1) {
            quick_sort(e, p, seed);
            e += p + 1;
            n -= p + 1;
        } else {
            quick_sort(e + p + 1, n - p - 1, seed);
            n = p;
        }
    }
    insertion_sort(e, n, seed);
}

/* The utility as an unsigned key, smaller = better: the bits of a double ordered as
 * integers (all bits of negatives flipped, the sign bit of the rest), then inverted.
 * -0.0 counts as 0.0, as utility comparison treats them. */
static inline uint64_t radix_key(double u)
{
    uint64_t b;
    if (u == 0)
        u = 0.0;
    memcpy(&b, &u, sizeof b);
    return b >> 63 ? b : ~(b | (UINT64_C(1) << 63));
}

/* An in-place most-significant-digit radix sort ("American flag sort") on
 * radix_key, QZ_RADIX_BITS bits a level, then the tie rule: exactly the order of
 * qz_entry_better. Each level's counts live in `scratch` (4 x 2^QZ_RADIX_BITS words a
 * level, for at most QZ_RADIX_LEVELS levels: 384 KiB), the only memory it needs. */
#define QZ_RADIX_BITS 11
#define QZ_RADIX_LEVELS ((64 + QZ_RADIX_BITS - 1) / QZ_RADIX_BITS)

static void radix_rest(struct qz_entry *e, size_t n, int shift, uint64_t base, size_t *scratch,
                       uint64_t seed);

/* One level: the digit is `bits` bits from bit `shift` up of radix_key - base. */
static void radix_level(struct qz_entry *e, size_t n, int shift, int bits, uint64_t base,
                        size_t *scratch, uint64_t seed)
{
    size_t buckets = (size_t)1 << bits, mask = buckets - 1;
    size_t *count = scratch, *head = count + buckets, *end = head + buckets, *open = end + buckets;
    size_t nopen = 0;

    memset(count, 0, buckets * sizeof *count);
    for (size_t i = 0; i < n; i++)
        count[((radix_key(e[i].utility) - base) >> shift) & mask]++;
    for (size_t b = 0, at = 0; b < buckets; b++) {
        head[b] = at;
        at += count[b];
        end[b] = at;
    }
    /* Move the entries to their buckets in sweeps (as ska_sort does): each entry of a
     * bucket's unfinished part is swapped to where its own bucket goes on. The swaps
     * of one sweep do not wait on each other, so their cache misses overlap, unlike
     * following one cycle. Buckets still unfinished stay in `open`. */
    for (size_t b = 0; b < buckets; b++)
        if (head[b] < end[b])
            open[nopen++] = b;
    while (nopen > 0) {
        size_t still = 0;
        for (size_t j = 0; j < nopen; j++) {
            size_t b = open[j], to = end[b];
            for (size_t i = head[b]; i < to; i++) {
                size_t o = head[((radix_key(e[i].utility) - base) >> shift) & mask]++;
                struct qz_entry x = e[i];
                e[i] = e[o];
                e[o] = x;
            }
            if (head[b] < end[b])
                open[still++] = b;
        }
        nopen = still;
    }
    for (size_t b = 0, at = 0; b < buckets; at += count[b], b++)
        if (count[b] > 1)
            radix_rest(e + at, count[b], shift, base, scratch + 4 * ((size_t)1 << QZ_RADIX_BITS),
                       seed);
}

/* Sort entries whose keys agree from bit `shift` up: small sets by insertion, runs
 * of one utility (shift 0) by quicksort on the tie rule, others a level further. */
static void radix_rest(struct qz_entry *e, size_t n, int shift, uint64_t base, size_t *scratch,
                       uint64_t seed)
{
    int bits = shift < QZ_RADIX_BITS ? shift : QZ_RADIX_BITS;

    if (n <= QZ_RADIX_MIN)
        insertion_sort(e, n, seed);
    else if (shift == 0)
        quick_sort(e, n, seed); /* equal utilities */
    else
        radix_level(e, n, shift - bits, bits, base, scratch, seed);
}

/* The digits are those of radix_key - lo (the same order: every key lies in
 * [lo, hi]), from the highest bit of hi - lo down, so that the first level spreads
 * the set over nearly all its buckets even when the keys straddle a power of two
 * (bit-aligned digits of the keys themselves would start at the exponent, and a
 * normal's upper tail fills 3 of its buckets: one more pass over the whole set).
 * Without room for the counts, quicksort. */
static void radix_sort(struct qz_entry *e, size_t n, uint64_t seed)
{
    uint64_t lo = UINT64_MAX, hi = 0, k;
    size_t *scratch;

    if (n <= QZ_RADIX_MIN) {
        insertion_sort(e, n, seed);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        k = radix_key(e[i].utility);
        lo = k < lo ? k : lo;
        hi = k > hi ? k : hi;
    }
    scratch =
        lo == hi
            ? NULL
            : malloc((size_t)QZ_RADIX_LEVELS * 4 * ((size_t)1 << QZ_RADIX_BITS) * sizeof *scratch);
    if (!scratch) {
        quick_sort(e, n, seed); /* all of one utility, or no memory */
        return;
    }
    radix_rest(e, n, 64 - __builtin_clzll(hi - lo), lo, scratch, seed);
    free(scratch);
}

void qz_entries_sort(struct qz_entry *e, size_t n, uint64_t seed)
{
    size_t i = 1;
    /* Sorted input (one rank's redistribution, a resumed set) costs one pass. */
    while (i < n && better(seed, &e[i - 1], &e[i]))
        i++;
    if (i < n)
        radix_sort(e, n, seed);
}

/* Keep exactly the best k entries; thr becomes the lowest kept utility. */
static void compact_exact(struct qz_topset *ts)
{
    double low;
    uint64_t dropped_ties = 0;

    select_best(ts->e, ts->n, ts->k, ts->seed);
    low = ts->e[0].utility;
    for (size_t i = 1; i < ts->k; i++)
        low = ts->e[i].utility < low ? ts->e[i].utility : low;
    for (size_t i = ts->k; i < ts->n; i++)
        dropped_ties += ts->e[i].utility == low;
    ts->ties_out = (ts->thr == low ? ts->ties_out : 0) + dropped_ties;
    ts->thr = low;
    ts->n = ts->k;
}

static int cmp_desc(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a < b) - (a > b);
}

/* Keep every entry with utility >= v, for a bound v estimated from a sample so that
 * a little more than k survive: one counting pass and one filtering pass, much
 * cheaper than an exact selection. Returns 0 (nothing changed) when the estimate
 * keeps fewer than k or frees too little room; the caller then compacts exactly. */
static int compact_filter(struct qz_topset *ts)
{
    double sample[QZ_FILTER_SAMPLE]; /* 64 KiB of stack */
    size_t n = ts->n, slack = ts->cap - ts->k, keep = 0, target, at;
    double v;

    if (n < QZ_FILTER_MIN)
        return 0;
    for (size_t j = 0; j < QZ_FILTER_SAMPLE; j++)
        sample[j] = ts->e[j * (n / QZ_FILTER_SAMPLE)].utility;
    qsort(sample, QZ_FILTER_SAMPLE, sizeof *sample, cmp_desc);
    /* Aim at k + slack/8 survivors: the sample's rank error is a few tenths of a
     * percent of n, well inside the margin. */
    target = ts->k + slack / 8;
    at = (size_t)((double)QZ_FILTER_SAMPLE * (double)target / (double)n);
    v = sample[at < QZ_FILTER_SAMPLE ? at : QZ_FILTER_SAMPLE - 1];
    for (size_t i = 0; i < n; i++)
        keep += ts->e[i].utility >= v;
    if (keep < ts->k || keep > ts->k + slack / 2)
        return 0;
    keep = 0;
    for (size_t i = 0; i < n; i++)
        if (ts->e[i].utility >= v)
            ts->e[keep++] = ts->e[i];
    /* Everything dropped now is below v; what was dropped before is <= the old
     * bound <= v, so only an unmoved bound keeps its tie count. */
    ts->ties_out = ts->thr == v ? ts->ties_out : 0;
    ts->thr = v;
    ts->n = keep;
    return 1;
}

/* The invariant behind thr and ties_out: every sample seen but not held has utility
 * <= thr, and ties_out of them have utility == thr. */
enum qz_status qz_topset_compact(struct qz_topset *ts, struct qz_error *err)
{
    if (ts->n == ts->cap && ts->cap < ts->full) {
        size_t cap = ts->cap + ts->cap / 2 + 4096;
        struct qz_entry *grown;
        cap = cap < ts->full ? cap : ts->full;
        grown = realloc(ts->e, cap * sizeof *grown);
        if (grown) {
            ts->e = grown;
            ts->cap = cap;
            return QZ_OK;
        }
        if (ts->n <= ts->k) /* cannot grow, and nothing can be dropped */
            return qz_error_set(err, QZ_ENOMEM, "out of memory growing a top set to %zu entries",
                                cap);
    }
    if (ts->n <= ts->k)
        return QZ_OK;
    if (!compact_filter(ts))
        compact_exact(ts);
    return QZ_OK;
}

size_t qz_topset_keep_at_least(struct qz_topset *ts, double v)
{
    size_t keep = 0;

    /* Branch-free: kept and dropped entries interleave at random. Every entry is
     * stored at `keep`, which advances only past the kept ones (keep <= i). */
    for (size_t i = 0; i < ts->n; i++) {
        struct qz_entry x = ts->e[i];
        ts->e[keep] = x;
        keep += x.utility >= v;
    }
    if (keep < ts->n) { /* what was dropped before is <= thr < v, what now < v */
        ts->ties_out = ts->thr == v ? ts->ties_out : 0;
        ts->thr = v;
    }
    ts->n = keep;
    return keep;
}

void qz_topset_finish(struct qz_topset *ts)
{
    if (ts->n > ts->k) {
        /* Sorting everything is cheaper than a selection and then a sort; what the
         * bound drops is what compact_exact would drop. */
        double low;
        uint64_t dropped = 0;
        qz_entries_sort(ts->e, ts->n, ts->seed);
        low = ts->e[ts->k - 1].utility;
        for (size_t i = ts->k; i < ts->n && ts->e[i].utility == low; i++)
            dropped++;
        ts->ties_out = (ts->thr == low ? ts->ties_out : 0) + dropped;
        ts->thr = low;
        ts->n = ts->k;
        return;
    }
    if (ts->n > 0) {
        /* Tie counts refer to the lowest held utility from here on (qz_topset_merge). */
        double low = ts->e[0].utility;
        for (size_t i = 1; i < ts->n; i++)
            low = ts->e[i].utility < low ? ts->e[i].utility : low;
        if (low != ts->thr)
            ts->ties_out = 0;
        ts->thr = low;
    }
    qz_entries_sort(ts->e, ts->n, ts->seed);
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
