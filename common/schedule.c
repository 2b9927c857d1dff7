#include "schedule.h"

#include <math.h>
#include <stdlib.h>

enum qz_status qz_schedule_init(struct qz_schedule *s, size_t ranks, struct qz_error *err)
{
    s->ranks = ranks;
    s->rate = calloc(ranks ? ranks : 1, sizeof *s->rate);
    if (!s->rate)
        return qz_error_set(err, QZ_ENOMEM, "out of memory for the schedule of %zu ranks", ranks);
    return QZ_OK;
}

void qz_schedule_free(struct qz_schedule *s)
{
    free(s->rate);
    s->rate = NULL;
}

void qz_schedule_observe(struct qz_schedule *s, const double *rate)
{
    for (size_t r = 0; r < s->ranks; r++)
        if (rate[r] > 0 && isfinite(rate[r]))
            s->rate[r] = rate[r];
}

/* The rate a rank counts with: its own, or the mean of the known ones, or 1. */
static double mean_known(const struct qz_schedule *s)
{
    double sum = 0;
    size_t known = 0;
    for (size_t r = 0; r < s->ranks; r++)
        if (s->rate[r] > 0) {
            sum += s->rate[r];
            known++;
        }
    return known ? sum / (double)known : 1.0;
}

uint64_t qz_schedule_span(const struct qz_schedule *s, double seconds, uint64_t prev, uint64_t left)
{
    double mean = mean_known(s), total = 0, want;
    uint64_t span, most = prev > UINT64_MAX / 4 ? UINT64_MAX : 4 * prev;

    for (size_t r = 0; r < s->ranks; r++)
        total += s->rate[r] > 0 ? s->rate[r] : mean;
    want = total * seconds;
    span = want >= (double)UINT64_MAX / 2 ? UINT64_MAX / 2 : (uint64_t)want;
    if (span < s->ranks)
        span = s->ranks;
    if (span > most)
        span = most;
    return span < left ? span : left;
}

void qz_schedule_split(const struct qz_schedule *s, uint64_t span, uint64_t *start)
{
    double mean = mean_known(s), total = 0, cum = 0;

    for (size_t r = 0; r < s->ranks; r++)
        total += s->rate[r] > 0 ? s->rate[r] : mean;
    start[0] = 0;
    for (size_t r = 1; r < s->ranks; r++) {
        uint64_t at;
        cum += s->rate[r - 1] > 0 ? s->rate[r - 1] : mean;
        at = (uint64_t)floor((double)span * (cum / total));
        at = at > span ? span : at;
        start[r] = at < start[r - 1] ? start[r - 1] : at; /* never backwards */
    }
    start[s->ranks] = span;
}
