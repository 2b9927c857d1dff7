/* The split of an interval's chunks among ranks (common/schedule.h). */
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "schedule.h"

/* Every chunk of the interval to exactly one rank, in order. */
static int covers(const uint64_t *start, size_t ranks, uint64_t span)
{
    if (start[0] != 0 || start[ranks] != span)
        return 0;
    for (size_t r = 0; r < ranks; r++)
        if (start[r + 1] < start[r])
            return 0;
    return 1;
}

int main(void)
{
    struct qz_error err;
    struct qz_schedule s;
    uint64_t start[9];

    /* No rates yet: an equal split, within one chunk. */
    CHECK(qz_schedule_init(&s, 4, &err) == QZ_OK, "init");
    qz_schedule_split(&s, 4, start);
    CHECK(covers(start, 4, 4) && start[1] == 1 && start[2] == 2 && start[3] == 3,
          "4 chunks, 4 ranks, no rates: one each (%llu %llu %llu)", (unsigned long long)start[1],
          (unsigned long long)start[2], (unsigned long long)start[3]);
    qz_schedule_split(&s, 10, start);
    CHECK(covers(start, 4, 10), "10 chunks covered");
    for (size_t r = 0; r < 4; r++)
        CHECK(start[r + 1] - start[r] >= 2 && start[r + 1] - start[r] <= 3,
              "10 over 4 equal ranks: 2 or 3 each, rank %zu gets %llu", r,
              (unsigned long long)(start[r + 1] - start[r]));

    /* Rates 3:1:0(unknown):4 -> unknown counts as the mean (8/3): shares in proportion. */
    double rate[4] = {300, 100, 0, 400};
    qz_schedule_observe(&s, rate);
    qz_schedule_split(&s, 10000, start);
    double total = 300 + 100 + 800.0 / 3 + 400;
    CHECK(covers(start, 4, 10000), "10000 chunks covered");
    double want[4] = {300 / total, 100 / total, (800.0 / 3) / total, 400 / total};
    for (size_t r = 0; r < 4; r++) {
        double got = (double)(start[r + 1] - start[r]);
        CHECK(fabs(got - 10000 * want[r]) <= 1.0, "rank %zu: %g chunks, share %g", r, got,
              10000 * want[r]);
    }

    /* A rank that drew nothing keeps its earlier rate. */
    double later[4] = {0, 200, -1, NAN};
    qz_schedule_observe(&s, later);
    CHECK(s.rate[0] == 300 && s.rate[1] == 200 && s.rate[2] == 0 && s.rate[3] == 400,
          "rates kept or updated: %g %g %g %g", s.rate[0], s.rate[1], s.rate[2], s.rate[3]);

    /* The span: rates (chunks/s) times seconds, at least one per rank, at most 4x the
     * last span and what is left. Known rates 300, 200, 400 (mean 300): total 1200/s. */
    CHECK(qz_schedule_span(&s, 0.25, 1000, 1u << 30) == 300, "0.25 s at 1200/s: 300, got %llu",
          (unsigned long long)qz_schedule_span(&s, 0.25, 1000, 1u << 30));
    CHECK(qz_schedule_span(&s, 0.25, 10, 1u << 30) == 40, "at most 4x the last span");
    CHECK(qz_schedule_span(&s, 0.25, 1000, 7) == 7, "at most what is left");
    CHECK(qz_schedule_span(&s, 0.0001, 1000, 1000) == 4, "at least one chunk per rank");
    qz_schedule_free(&s);

    /* More ranks than chunks: some ranks get none, every chunk is drawn once. */
    CHECK(qz_schedule_init(&s, 8, &err) == QZ_OK, "init 8");
    qz_schedule_split(&s, 3, start);
    CHECK(covers(start, 8, 3), "3 chunks over 8 ranks covered");
    qz_schedule_free(&s);
    return check_done("test_schedule");
}
