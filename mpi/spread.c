#include "spread.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agree.h"

#define QZ_SPREAD_SAMPLE 8192 /* utilities each rank samples */

static int by_utility_desc(const void *pa, const void *pb)
{
    double a = ((const double *)pa)[0], b = ((const double *)pb)[0];
    return (a < b) - (a > b);
}

/* Collective: cut[j] for each cumulative weight target[j] (increasing, j < m) of the
 * utilities sampled on every rank, best first: the utility at which the weight of the
 * samples at or above it first reaches target[j] (the lowest sampled utility when it
 * never does; -inf without samples). 0 on every rank on a shortage of memory. */
static int sample_cuts(MPI_Comm comm, const struct qz_topset *ts, const double *target, size_t m,
                       double *cut)
{
    int size, ok;
    uint64_t n = ts->n;
    size_t s = ts->n < QZ_SPREAD_SAMPLE ? ts->n : QZ_SPREAD_SAMPLE, k = 0;
    double *mine, *all, *pairs, v = -INFINITY, acc = 0;
    uint64_t *ns;

    MPI_Comm_size(comm, &size);
    mine = malloc(QZ_SPREAD_SAMPLE * sizeof *mine);
    all = malloc((size_t)size * QZ_SPREAD_SAMPLE * sizeof *all);
    ns = malloc((size_t)size * sizeof *ns);
    pairs = malloc(2 * (size_t)size * QZ_SPREAD_SAMPLE * sizeof *pairs);
    ok = mine && all && ns && pairs;
    MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_MIN, comm);
    if (ok) {
        for (size_t j = 0; j < QZ_SPREAD_SAMPLE; j++)
            mine[j] = j < s ? ts->e[j * (ts->n / s)].utility : 0.0;
        MPI_Allgather(mine, QZ_SPREAD_SAMPLE, MPI_DOUBLE, all, QZ_SPREAD_SAMPLE, MPI_DOUBLE, comm);
        MPI_Allgather(&n, 1, MPI_UINT64_T, ns, 1, MPI_UINT64_T, comm);
        for (int r = 0; r < size; r++) {
            size_t sr = ns[r] < QZ_SPREAD_SAMPLE ? (size_t)ns[r] : QZ_SPREAD_SAMPLE;
            for (size_t j = 0; j < sr; j++) {
                pairs[2 * k] = all[(size_t)r * QZ_SPREAD_SAMPLE + j];
                pairs[2 * k++ + 1] = (double)ns[r] / (double)sr;
            }
        }
        qsort(pairs, k, 2 * sizeof *pairs, by_utility_desc);
        for (size_t j = 0, i = 0; j < m; j++) {
            for (; i < k && acc < target[j]; i++) {
                acc += pairs[2 * i + 1];
                v = pairs[2 * i];
            }
            cut[j] = v;
        }
    }
    free(mine);
    free(all);
    free(ns);
    free(pairs);
    return ok;
}

/* The weight that keeps about 2% more than want (with room for sampling error). */
static double keep_weight(uint64_t want)
{
    return (double)want * 1.02 + 64;
}

void qz_prefilter(MPI_Comm comm, struct qz_topset *ts, uint64_t want)
{
    uint64_t n = ts->n, total = 0, count = 0;
    double target = keep_weight(want), v;

    MPI_Allreduce(&n, &total, 1, MPI_UINT64_T, MPI_SUM, comm);
    if (total <= want + want / 16 || !sample_cuts(comm, ts, &target, 1, &v))
        return;
    for (size_t i = 0; i < ts->n; i++)
        count += ts->e[i].utility >= v;
    MPI_Allreduce(MPI_IN_PLACE, &count, 1, MPI_UINT64_T, MPI_SUM, comm);
    if (count >= want)
        qz_topset_keep_at_least(ts, v);
}

/* The part an entry of utility u goes to: the number of cuts c[0 .. parts-1)
 * (non-increasing) above u. Branch-free for a few parts. */
static int part_of(double u, const double *c, int parts)
{
    int lo = 0, hi = parts - 1;
    if (parts <= 16) {
        for (int j = 0; j + 1 < parts; j++)
            lo += u < c[j];
        return lo;
    }
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (u < c[mid])
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Move the entries of e[0..n) at or above v to the front, in no order, without a
 * branch on the (random) outcome; returns how many. */
static size_t to_front(struct qz_entry *e, size_t n, double v)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        struct qz_entry x = e[i];
        e[i] = e[w];
        e[w] = x;
        w += (size_t)(x.utility >= v);
    }
    return w;
}

/* Count e[0..n) by part into count[0 .. parts) and order them by part in place, part
 * g at [start[g], start[g] + count[g]): two parts by one pass of to_front, more by an
 * American flag sort's one level. start and head: room for parts + 1 words. */
static void permute(struct qz_entry *e, size_t n, const double *c, int parts, size_t *count,
                    size_t *start, size_t *head)
{
    if (parts == 2) {
        count[0] = to_front(e, n, c[0]);
        count[1] = n - count[0];
    } else {
        memset(count, 0, (size_t)parts * sizeof *count);
        for (size_t i = 0; i < n; i++)
            count[part_of(e[i].utility, c, parts)]++;
    }
    start[0] = 0;
    for (int g = 0; g < parts; g++) {
        start[g + 1] = start[g] + count[g];
        head[g] = start[g];
    }
    for (int g = 0; parts > 2 && g < parts; g++) {
        size_t end = start[g] + count[g];
        while (head[g] < end) {
            struct qz_entry x = e[head[g]];
            int t = part_of(x.utility, c, parts);
            while (t != g) {
                struct qz_entry y = e[head[t]];
                e[head[t]++] = x;
                x = y;
                t = part_of(x.utility, c, parts);
            }
            e[head[g]++] = x;
        }
    }
}

/* Working memory of a spread over P ranks. */
struct plan {
    double *target, *cut;                   /* P each: P-1 cuts, then the bound v */
    size_t *count, *start, *head;           /* by part (start: P+1) */
    uint64_t *total;                        /* count summed over the ranks */
    int *scount, *sdispl, *rcount, *rdispl; /* P each */
};

static void plan_free(struct plan *p)
{
    free(p->target);
    free(p->cut);
    free(p->count);
    free(p->start);
    free(p->head);
    free(p->total);
    free(p->scount);
    free(p->sdispl);
    free(p->rcount);
    free(p->rdispl);
}

static int plan_alloc(struct plan *p, int parts)
{
    size_t n = (size_t)parts + 1;
    memset(p, 0, sizeof *p);
    p->target = malloc(n * sizeof *p->target);
    p->cut = malloc(n * sizeof *p->cut);
    p->count = calloc(n, sizeof *p->count);
    p->start = malloc(n * sizeof *p->start);
    p->head = malloc(n * sizeof *p->head);
    p->total = malloc(n * sizeof *p->total);
    p->scount = malloc(n * sizeof *p->scount);
    p->sdispl = malloc(n * sizeof *p->sdispl);
    p->rcount = malloc(n * sizeof *p->rcount);
    p->rdispl = malloc(n * sizeof *p->rdispl);
    return p->target && p->cut && p->count && p->start && p->head && p->total && p->scount &&
           p->sdispl && p->rcount && p->rdispl;
}

/* Collective: can every rank take its part, and is no part much above its share?
 * (kept: the entries this rank keeps; limit: the most a part may hold.) */
static int fits(MPI_Comm comm, const struct plan *p, const struct qz_topset *ts, int rank,
                int parts, size_t kept, uint64_t limit)
{
    int ok = 1;
    uint64_t arriving = p->total[rank] - p->count[rank];

    for (int g = 0; g < parts; g++)
        ok &= p->total[g] <= limit && p->count[g] <= INT_MAX;
    ok &= p->total[rank] <= ts->k && arriving <= INT_MAX && kept + arriving <= ts->cap;
    MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_MIN, comm);
    return ok;
}

/* Collective: send every part g to rank g; this rank's set becomes its own part and
 * what arrives (into the room past the kept entries: ts->cap suffices). */
static void exchange(MPI_Comm comm, struct qz_topset *ts, struct plan *p, int rank, int parts,
                     size_t kept)
{
    MPI_Datatype entry_type;
    size_t own = p->count[rank], nin = 0;

    for (int g = 0; g < parts; g++) {
        p->scount[g] = g == rank ? 0 : (int)p->count[g];
        p->sdispl[g] = (int)p->start[g];
    }
    MPI_Alltoall(p->scount, 1, MPI_INT, p->rcount, 1, MPI_INT, comm);
    for (int g = 0; g < parts; g++) {
        p->rdispl[g] = (int)nin;
        nin += (size_t)p->rcount[g];
    }
    MPI_Type_contiguous((int)sizeof(struct qz_entry), MPI_BYTE, &entry_type);
    MPI_Type_commit(&entry_type);
    MPI_Alltoallv(ts->e, p->scount, p->sdispl, entry_type, ts->e + kept, p->rcount, p->rdispl,
                  entry_type, comm);
    MPI_Type_free(&entry_type);
    memmove(ts->e, ts->e + p->start[rank], own * sizeof *ts->e);
    memmove(ts->e + own, ts->e + kept, nin * sizeof *ts->e);
    ts->n = own + nin;
}

enum qz_status qz_spread(MPI_Comm comm, struct qz_topset *ts, uint64_t want, struct qz_payloads *pl,
                         struct qz_spread_tail *tail, struct qz_error *err)
{
    struct plan p;
    int size, rank, parts, ok;
    uint64_t total = ts->n, kept_total;
    double ext, v, thr_max;
    size_t kept;
    enum qz_status rc = QZ_OK;

    memset(tail, 0, sizeof *tail);
    MPI_Comm_size(comm, &size);
    MPI_Comm_rank(comm, &rank);
    parts = size;
    MPI_Allreduce(MPI_IN_PLACE, &total, 1, MPI_UINT64_T, MPI_SUM, comm);
    /* The parts share what is kept evenly: about ext entries in all. */
    ext = total > want + want / 16 ? keep_weight(want) : (double)total;
    ok = plan_alloc(&p, parts);
    for (int g = 0; ok && g < parts; g++)
        p.target[g] = g + 1 < parts ? ext * (g + 1) / parts : ext;
    MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_MIN, comm);
    if (!ok || !sample_cuts(comm, ts, p.target, (size_t)parts, p.cut)) {
        plan_free(&p);
        qz_prefilter(comm, ts, want);
        return QZ_OK;
    }
    /* The entries at or above v to the front; only once the ranks know that at least
     * `want` lie at or above v are the others dropped. */
    v = total > want + want / 16 ? p.cut[parts - 1] : -INFINITY;
    kept_total = kept = to_front(ts->e, ts->n, v);
    MPI_Allreduce(MPI_IN_PLACE, &kept_total, 1, MPI_UINT64_T, MPI_SUM, comm);
    if (kept_total < want)
        kept = ts->n;        /* v was too high: nothing is dropped */
    else if (kept < ts->n) { /* as qz_topset_keep_at_least: all dropped so far is <= v */
        ts->ties_out = ts->thr == v ? ts->ties_out : 0;
        ts->thr = v;
        ts->n = kept;
    }
    permute(ts->e, kept, p.cut, parts, p.count, p.start, p.head);
    for (int g = 0; g < parts; g++)
        p.total[g] = p.count[g];
    MPI_Allreduce(MPI_IN_PLACE, p.total, parts, MPI_UINT64_T, MPI_SUM, comm);
    if (!fits(comm, &p, ts, rank, parts, kept, (uint64_t)(ext / parts * 1.25) + 4096)) {
        plan_free(&p);
        return QZ_OK; /* as after the prefilter */
    }
    rc = qz_payload_retain(pl, ts->e, kept, err);
    if ((rc = qz_agree(comm, rc, err))) {
        plan_free(&p);
        return rc;
    }
    /* What no rank will hold: the samples each rank dropped, <= its thr. */
    MPI_Allreduce(&ts->thr, &thr_max, 1, MPI_DOUBLE, MPI_MAX, comm);
    tail->thr = thr_max;
    tail->ties = ts->thr == thr_max ? ts->ties_out : 0;
    MPI_Allreduce(MPI_IN_PLACE, &tail->ties, 1, MPI_UINT64_T, MPI_SUM, comm);
    tail->spread = 1;
    exchange(comm, ts, &p, rank, parts, kept);
    ts->thr = -INFINITY;
    ts->ties_out = 0;
    plan_free(&p);
    return QZ_OK;
}
