#include "dselect.h"

#include <stdlib.h>
#include <string.h>

#include "agree.h"
#include "rng.h"

/* The selection order as a 3-part unsigned key, larger = better. */
struct key {
    uint64_t part[3]; /* utility (order-preserving bits), tie key, index */
};

/* Doubles as unsigned integers in the same order: flip all bits of negatives, the
 * sign bit of the rest. -0.0 counts as 0.0, as utility comparison treats them. */
static uint64_t utility_bits(double u)
{
    uint64_t b;
    if (u == 0)
        u = 0.0;
    memcpy(&b, &u, sizeof b);
    return b >> 63 ? ~b : b | (UINT64_C(1) << 63);
}

static struct key key_of(const struct qz_entry *x, uint64_t seed)
{
    struct key k = {{utility_bits(x->utility), qz_tie_key(seed, x->index), x->index}};
    return k;
}

static int key_cmp(const struct key *a, const struct key *b)
{
    for (int i = 0; i < 3; i++)
        if (a->part[i] != b->part[i])
            return a->part[i] > b->part[i] ? 1 : -1;
    return 0;
}

/* Entries of e[0..n) (best first) whose key is >= x (>, when strict). */
static size_t count_at_least(const struct qz_entry *e, size_t n, uint64_t seed, const struct key *x,
                             int strict)
{
    size_t lo = 0, hi = n; /* the answer lies in [lo, hi] */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        struct key k = key_of(&e[mid], seed);
        int c = key_cmp(&k, x);
        if (c > 0 || (c == 0 && !strict))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

size_t qz_dselect_count_better(const struct qz_entry *e, size_t n, uint64_t seed,
                               const struct qz_entry *x)
{
    struct key k = key_of(x, seed);
    return count_at_least(e, n, seed, &k, 1);
}

/* Collective, once the utility part of every wanted key lo[j] is fixed: where exactly
 * one entry of all ranks has that utility, it is the wanted entry, so the holder
 * hands over its tie key and index in one allreduce (buf: room for 3m words) and
 * those parts need no bisection. With distinct utilities the ~192 allreduces of a
 * selection become ~68, which matters most on a loaded machine, where every
 * allreduce waits for the slowest rank to be scheduled. */
static void settle_unique(MPI_Comm comm, const struct qz_entry *e, size_t n, uint64_t seed,
                          size_t m, struct key *lo, struct key *hi, uint64_t *buf)
{
    for (size_t j = 0; j < m; j++) {
        struct key a = {{lo[j].part[0], 0, 0}}, b = {{lo[j].part[0], UINT64_MAX, UINT64_MAX}};
        size_t above = count_at_least(e, n, seed, &b, 1), upto = count_at_least(e, n, seed, &a, 0);
        buf[3 * j] = upto - above; /* entries with exactly this utility */
        buf[3 * j + 1] = buf[3 * j + 2] = 0;
        if (upto - above == 1) {
            struct key k = key_of(&e[above], seed);
            buf[3 * j + 1] = k.part[1];
            buf[3 * j + 2] = k.part[2];
        }
    }
    MPI_Allreduce(MPI_IN_PLACE, buf, (int)(3 * m), MPI_UINT64_T, MPI_SUM, comm);
    for (size_t j = 0; j < m; j++)
        if (buf[3 * j] == 1)
            for (int d = 1; d < 3; d++)
                lo[j].part[d] = hi[j].part[d] = buf[3 * j + d];
}

enum qz_status qz_dselect(MPI_Comm comm, const struct qz_entry *e, size_t n, uint64_t seed,
                          const uint64_t *pos, size_t m, struct qz_entry *out, struct qz_error *err)
{
    struct key *lo = calloc(m ? m : 1, sizeof *lo), *hi = calloc(m ? m : 1, sizeof *hi);
    uint64_t *count = malloc((m ? m : 1) * 3 * sizeof *count);
    enum qz_status rc = QZ_OK;

    if (!lo || !hi || !count)
        rc = qz_error_set(err, QZ_ENOMEM, "out of memory in the distributed selection");
    if ((rc = qz_agree(comm, rc, err)))
        goto done;
    /* For each position p, the wanted key is the largest X with at least p + 1
     * entries >= X. Fix the parts one at a time: bisect part d over [lo, hi] with
     * the earlier parts fixed and the later ones 0 (the smallest value). */
    for (size_t j = 0; j < m; j++)
        for (int d = 0; d < 3; d++)
            hi[j].part[d] = UINT64_MAX;
    for (int d = 0; d < 3; d++) {
        for (int step = 0; step < 64; step++) {
            int open = 0;
            for (size_t j = 0; j < m; j++) {
                struct key mid = lo[j];
                mid.part[d] = lo[j].part[d] + (hi[j].part[d] - lo[j].part[d]) / 2 +
                              ((hi[j].part[d] - lo[j].part[d]) & 1);
                count[j] = lo[j].part[d] < hi[j].part[d]
                               ? (uint64_t)count_at_least(e, n, seed, &mid, 0)
                               : 0;
                open |= lo[j].part[d] < hi[j].part[d];
            }
            MPI_Allreduce(MPI_IN_PLACE, count, (int)m, MPI_UINT64_T, MPI_SUM, comm);
            if (!open)
                break; /* the same on every rank: lo and hi evolve identically */
            for (size_t j = 0; j < m; j++) {
                uint64_t a = lo[j].part[d], b = hi[j].part[d];
                uint64_t mid = a + (b - a) / 2 + ((b - a) & 1);
                if (a >= b)
                    continue;
                if (count[j] >= pos[j] + 1)
                    lo[j].part[d] = mid;
                else
                    hi[j].part[d] = mid - 1;
            }
        }
        for (size_t j = 0; j < m; j++)
            hi[j].part[d] = lo[j].part[d];
        if (d == 0)
            settle_unique(comm, e, n, seed, m, lo, hi, count);
    }
    /* Exactly one rank holds each found key; the others contribute zero bits, so a
     * sum of the raw words hands every rank the entry exactly. */
    memset(count, 0, m * 3 * sizeof *count);
    for (size_t j = 0; j < m; j++) {
        size_t at = count_at_least(e, n, seed, &lo[j], 0);
        if (at > 0) {
            struct key k = key_of(&e[at - 1], seed);
            if (key_cmp(&k, &lo[j]) == 0)
                memcpy(&count[3 * j], &e[at - 1], sizeof e[at - 1]);
        }
    }
    MPI_Allreduce(MPI_IN_PLACE, count, (int)(3 * m), MPI_UINT64_T, MPI_SUM, comm);
    for (size_t j = 0; j < m; j++)
        memcpy(&out[j], &count[3 * j], sizeof out[j]);
done:
    free(lo);
    free(hi);
    free(count);
    return rc;
}

/* e[0..a) and e[a..n) trade places, through a copy of the shorter one. Returns 0
 * (nothing changed) when that copy cannot be allocated. */
static int rotate(struct qz_entry *e, size_t a, size_t n)
{
    size_t b = n - a, m = a < b ? a : b;
    struct qz_entry *copy;

    if (m == 0)
        return 1;
    if (!(copy = malloc(m * sizeof *copy)))
        return 0;
    if (a <= b) {
        memcpy(copy, e, a * sizeof *e);
        memmove(e, e + a, b * sizeof *e);
        memcpy(e + b, copy, a * sizeof *e);
    } else {
        memcpy(copy, e + a, b * sizeof *e);
        memmove(e + b, e, a * sizeof *e);
        memcpy(e, copy, b * sizeof *e);
    }
    free(copy);
    return 1;
}

/* e[0..a) and e[a..n) are sorted best first: merge them in place, through a copy of
 * the first run (about K/4 entries on 2 ranks). Runs that do not interleave (sets
 * spread beforehand, mpi/spread.h) are only put in order. Returns 0 (nothing
 * changed) when the copy cannot be allocated; the caller sorts instead. */
static int merge_two(struct qz_entry *e, size_t a, size_t n, uint64_t seed)
{
    struct qz_entry *first;
    size_t i = 0, j = a, out = 0;

    if (a == 0 || a == n || qz_entry_better(seed, &e[a - 1], &e[a]))
        return 1;
    if (qz_entry_better(seed, &e[n - 1], &e[0]))
        return rotate(e, a, n);
    if (!(first = malloc(a * sizeof *first)))
        return 0;
    memcpy(first, e, a * sizeof *first);
    /* out = i + (j - a) <= j: the output never overtakes the second run's reader. The
     * runs interleave at random, so the choice is branch-free (utilities decide,
     * qz_entry_better only breaks their ties). */
    while (i < a && j < n) {
        const struct qz_entry *x = &e[j], *y = &first[i];
        int take = x->utility != y->utility ? x->utility > y->utility : qz_entry_better(seed, x, y);
        struct qz_entry v = take ? *x : *y;
        e[out++] = v;
        j += (size_t)take;
        i += (size_t)!take;
    }
    while (i < a)
        e[out++] = first[i++];
    free(first);
    return 1;
}

enum qz_status qz_dselect_redistribute(MPI_Comm comm, struct qz_entry **e, size_t *n, uint64_t seed,
                                       uint64_t total, uint64_t *offset, struct qz_error *err)
{
    int rank, size;
    uint64_t *pos = NULL;
    struct qz_entry *bound = NULL, *grown;
    int *scount = NULL, *sdispl = NULL, *rcount = NULL, *rdispl = NULL;
    MPI_Datatype entry_type;
    size_t nin = 0, cut = 0, own, at, lower = 0;
    enum qz_status rc = QZ_OK;

    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    *offset = total * (uint64_t)rank / (uint64_t)size;
    if (size == 1) { /* the slice is the set's best `total` entries, a prefix */
        *n = total < *n ? (size_t)total : *n;
        if ((grown = realloc(*e, (*n ? *n : 1) * sizeof **e)))
            *e = grown;
        return QZ_OK;
    }
    pos = malloc((size_t)size * sizeof *pos);
    bound = malloc((size_t)size * sizeof *bound);
    scount = calloc((size_t)size, sizeof *scount);
    sdispl = calloc((size_t)size, sizeof *sdispl);
    rcount = calloc((size_t)size, sizeof *rcount);
    rdispl = calloc((size_t)size, sizeof *rdispl);
    if (!pos || !bound || !scount || !sdispl || !rcount || !rdispl)
        rc = qz_error_set(err, QZ_ENOMEM, "out of memory redistributing the top set");
    if ((rc = qz_agree(comm, rc, err)))
        goto done;

    /* Rank r's slice starts at position total*r/P; the entries before the entry at
     * position `total` (which may not exist) form the top set. */
    for (int r = 1; r < size; r++)
        pos[r - 1] = total * (uint64_t)r / (uint64_t)size;
    pos[size - 1] = total - 1;
    if ((rc = qz_dselect(comm, *e, *n, seed, pos, (size_t)size, bound, err)))
        goto done;
    /* Slice boundaries in this rank's list: entries better than the first entry of
     * slice r + 1 go to ranks <= r; the last slice ends with position total - 1. */
    for (int r = 0; r < size; r++) {
        struct key k = key_of(&bound[r < size - 1 ? r : size - 1], seed);
        size_t end = count_at_least(*e, *n, seed, &k, r < size - 1);
        scount[r] = (int)(end - cut);
        sdispl[r] = (int)cut;
        cut = end;
    }
    /* This rank's own part stays where it is; only the others' parts travel, into
     * the room past the set's n entries: memory is n plus what arrives. */
    own = (size_t)scount[rank];
    scount[rank] = 0;
    MPI_Alltoall(scount, 1, MPI_INT, rcount, 1, MPI_INT, comm);
    for (int r = 0; r < size; r++) {
        rdispl[r] = (int)nin;
        nin += (size_t)rcount[r];
    }
    grown = nin ? realloc(*e, (*n + nin) * sizeof **e) : *e;
    rc = grown ? QZ_OK : qz_error_set(err, QZ_ENOMEM, "out of memory for a top-set slice");
    if (grown)
        *e = grown;
    if ((rc = qz_agree(comm, rc, err)))
        goto done;
    MPI_Type_contiguous((int)sizeof(struct qz_entry), MPI_BYTE, &entry_type);
    MPI_Type_commit(&entry_type);
    MPI_Alltoallv(*e, scount, sdispl, entry_type, *e + *n, rcount, rdispl, entry_type, comm);
    MPI_Type_free(&entry_type);
    at = (size_t)sdispl[rank];
    if (at > 0)
        memmove(*e, *e + at, own * sizeof **e);
    if (nin > 0)
        memmove(*e + own, *e + *n, nin * sizeof **e);
    *n = own + nin;
    if ((grown = realloc(*e, (*n ? *n : 1) * sizeof **e)))
        *e = grown; /* a smaller block: keeping the larger one is harmless */
    /* Received parts come in rank order; those of lower ranks go before this rank's
     * own (when the sets were spread, the array is then in order already). */
    for (int r = 0; r < rank; r++)
        lower += (size_t)rcount[r];
    if (size == 2) {
        if (!merge_two(*e, own, *n, seed))
            qz_entries_sort(*e, *n, seed);
    } else {
        (void)rotate(*e, own, own + lower); /* without memory, the sort does it all */
        qz_entries_sort(*e, *n, seed);      /* one pass when in order */
    }
done:
    free(pos);
    free(bound);
    free(scount);
    free(sdispl);
    free(rcount);
    free(rdispl);
    return rc;
}
