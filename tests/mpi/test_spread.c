/* qz_spread (mpi/spread.h) on 2 and 3 ranks, against a full sort of every rank's
 * entries gathered on the root:
 * - spread sets are contiguous runs of the global order, in rank order, that start
 *   with exactly the best `want` entries; no part is far above its share;
 * - the tail carries the samples the ranks had dropped (the largest bound, and the
 *   ties of the ranks at that bound), counted once;
 * - a payload of a kept entry stays on its rank, one of a dropped entry goes;
 * - sets that cannot be spread evenly (one utility throughout) stay where they are,
 *   with nothing dropped that could be among the best `want`. */
#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/check.h"
#include "payload.h"
#include "spread.h"
#include "topset.h"

#define SEED 7

static int rank, size;
static uint64_t state;

static double next_unit(void)
{
    state = state * 6364136223846793005u + 1442695040888963407u;
    return (double)(state >> 11) * 0x1p-53;
}

/* A set of n entries on this rank (room for twice as many), utilities from
 * `utility`, indices unique over the ranks. */
static void make_set(struct qz_topset *ts, size_t n, double (*utility)(void), double thr,
                     uint64_t ties_out)
{
    struct qz_error err;
    if (qz_topset_init(ts, 1000000, 2 * n, SEED, &err))
        abort();
    for (size_t i = 0; i < n; i++) {
        ts->e[i].utility = utility();
        ts->e[i].cost = NAN;
        ts->e[i].index = (uint64_t)rank * 1000000 + i;
    }
    ts->n = n;
    ts->thr = thr;
    ts->ties_out = ties_out;
}

/* All ranks' entries on the root, in rank order (*n their count; NULL elsewhere). */
static struct qz_entry *gather(const struct qz_entry *e, size_t n, size_t *total)
{
    int count = (int)(n * sizeof *e), *counts = malloc((size_t)size * sizeof *counts),
        *displs = malloc((size_t)size * sizeof *displs);
    struct qz_entry *all = NULL;

    MPI_Gather(&count, 1, MPI_INT, counts, 1, MPI_INT, 0, MPI_COMM_WORLD);
    *total = 0;
    if (rank == 0) {
        for (int r = 0; r < size; r++) {
            displs[r] = (int)(*total * sizeof *e);
            *total += (size_t)counts[r] / sizeof *e;
        }
        all = malloc((*total ? *total : 1) * sizeof *all);
    }
    MPI_Gatherv(e, count, MPI_BYTE, all, counts, displs, MPI_BYTE, 0, MPI_COMM_WORLD);
    free(counts);
    free(displs);
    return all;
}

static int same_entries(const struct qz_entry *a, const struct qz_entry *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i].index != b[i].index || a[i].utility != b[i].utility)
            return 0;
    return 1;
}

static double uniform(void)
{
    return next_unit();
}

static double one(void)
{
    return 1.0;
}

static double upper_half(void)
{
    return 0.5 + 0.5 * next_unit();
}

/* Spread sets of uniform utilities: many more than want, so most are dropped. */
static void spread_drops(void)
{
    struct qz_topset ts;
    struct qz_payloads pl;
    struct qz_spread_tail tail;
    struct qz_payload got;
    struct qz_error err;
    struct qz_entry *before, *after;
    size_t nb, na, best = 0, worst = 0, held, most;
    const uint64_t want = 9000;

    state = 11 + (uint64_t)rank;
    make_set(&ts, 20000 + 1000 * (size_t)rank, uniform, -INFINITY, 0);
    /* payloads of this rank's best and worst entries */
    for (size_t i = 1; i < ts.n; i++) {
        best = ts.e[i].utility > ts.e[best].utility ? i : best;
        worst = ts.e[i].utility < ts.e[worst].utility ? i : worst;
    }
    qz_payload_init(&pl);
    uint64_t best_index = ts.e[best].index, worst_index = ts.e[worst].index;
    if (qz_payload_put(&pl, best_index, "best", 4, 0, NAN, &err) ||
        qz_payload_put(&pl, worst_index, "worst", 5, 0, NAN, &err))
        abort();
    before = gather(ts.e, ts.n, &nb);

    CHECK(qz_spread(MPI_COMM_WORLD, &ts, want, &pl, &tail, &err) == QZ_OK, "%s", err.msg);
    CHECK(tail.spread == 1, "uniform utilities on %d ranks are spread", size);
    CHECK(qz_payload_get(&pl, best_index, &got) && got.len == 4, "the best entry's payload kept");
    CHECK(!qz_payload_get(&pl, worst_index, &got), "the worst entry's payload dropped");
    qz_topset_finish(&ts);
    held = ts.n;
    MPI_Allreduce(MPI_IN_PLACE, &held, 1, MPI_UNSIGNED_LONG, MPI_MAX, MPI_COMM_WORLD);
    most = (size_t)((want * 1.02 + 64) / size * 1.25) + 4096;
    CHECK(held <= most, "the largest part holds %zu entries, above %zu", held, most);
    after = gather(ts.e, ts.n, &na);
    if (rank == 0) {
        qz_entries_sort(before, nb, SEED);
        CHECK(na >= want && na < nb, "%zu of %zu entries kept for want = %llu", na, nb,
              (unsigned long long)want);
        for (size_t i = 1; i < na; i++)
            if (!qz_entry_better(SEED, &after[i - 1], &after[i])) {
                CHECK(0, "the ranks' sorted sets are not one run: position %zu", i);
                break;
            }
        CHECK(same_entries(before, after, want), "the best %llu entries are kept",
              (unsigned long long)want);
        /* what no rank holds is below every held entry: the tail's bound */
        CHECK(tail.thr <= after[na - 1].utility && tail.thr >= before[na].utility,
              "tail bound %.17g between the last kept and the first dropped", tail.thr);
    }
    free(before);
    free(after);
    qz_payload_free(&pl);
    qz_topset_free(&ts);
}

/* Nothing to drop, and the ranks had dropped samples before: the tail is the largest
 * bound with the ties of the ranks at it. */
static void spread_tail(void)
{
    struct qz_topset ts;
    struct qz_payloads pl;
    struct qz_spread_tail tail;
    struct qz_error err;
    /* ranks 0 and 1 dropped samples up to 0.5, 5 and 10 of them at 0.5; rank 2 up to
     * 0.25 (its 100 ties there do not tie with 0.5) */
    double thr = rank < 2 ? 0.5 : 0.25;
    uint64_t ties = rank < 2 ? 5 * (uint64_t)(rank + 1) : 100;

    state = 21 + (uint64_t)rank;
    make_set(&ts, 3000, upper_half, thr, ties);
    qz_payload_init(&pl);
    CHECK(qz_spread(MPI_COMM_WORLD, &ts, 3000 * (uint64_t)size, &pl, &tail, &err) == QZ_OK, "%s",
          err.msg);
    CHECK(tail.spread == 1, "spread");
    CHECK(tail.thr == 0.5 && tail.ties == 15, "tail %.17g with %llu ties, want 0.5 with 15",
          tail.thr, (unsigned long long)tail.ties);
    CHECK(ts.ties_out == 0, "a spread set keeps no ties of its own");
    qz_topset_free(&ts);
}

/* One utility throughout: the cuts cannot split it, so the sets stay. */
static void no_spread(void)
{
    struct qz_topset ts;
    struct qz_payloads pl;
    struct qz_spread_tail tail;
    struct qz_error err;
    size_t total;

    state = 31;
    make_set(&ts, 20000, one, -INFINITY, 0);
    qz_payload_init(&pl);
    CHECK(qz_spread(MPI_COMM_WORLD, &ts, 1000, &pl, &tail, &err) == QZ_OK, "%s", err.msg);
    CHECK(tail.spread == 0, "one utility throughout is not spread");
    total = ts.n;
    MPI_Allreduce(MPI_IN_PLACE, &total, 1, MPI_UNSIGNED_LONG, MPI_SUM, MPI_COMM_WORLD);
    CHECK(total == 20000 * (size_t)size, "all %zu entries tie: none dropped (%zu held)",
          20000 * (size_t)size, total);
    for (size_t i = 0; i < ts.n; i++)
        if (ts.e[i].index / 1000000 != (uint64_t)rank) {
            CHECK(0, "an entry moved to another rank");
            break;
        }
    qz_topset_free(&ts);
}

int main(int argc, char **argv)
{
    int failed;

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    spread_drops();
    spread_tail();
    no_spread();
    failed = check_failures;
    MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (rank == 0 || check_failures)
        check_done("test_spread");
    MPI_Finalize();
    return failed ? 1 : 0;
}
