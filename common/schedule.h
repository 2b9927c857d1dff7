/* Dealing chunks to ranks between meetings (mpi/draw.c).
 *
 * The ranks meet every ~0.25 s. The chunks between two meetings are one contiguous
 * range (an interval), so at every meeting all chunks below some C are done — what a
 * checkpoint records and where a text archive places its texts. Each interval is
 * split into one contiguous block per rank, in proportion to how fast each rank drew
 * in the interval before, so that a slow core, a loaded node or a slow model server
 * does not hold the others up. The first interval gives every rank one chunk.
 *
 * Which rank draws a chunk never changes a result (all randomness of a chunk comes from
 * (seed, chunk)); the split only balances time. It is computed by every rank from
 * the same inputs (the rates all ranks reported at the meeting) with the same code,
 * so all ranks agree on it without a message. Local, pure. */
#ifndef QZ_SCHEDULE_H
#define QZ_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct qz_schedule {
    size_t ranks;
    double *rate; /* chunks per second each rank drew last; 0 before it ever drew */
};

enum qz_status qz_schedule_init(struct qz_schedule *s, size_t ranks, struct qz_error *err);
void qz_schedule_free(struct qz_schedule *s);

/* Record the rates the ranks reported (rate[r] <= 0 or not finite: rank r drew nothing
 * in the interval, and keeps its earlier rate). */
void qz_schedule_observe(struct qz_schedule *s, const double *rate);

/* The chunks of the next interval: what all ranks draw in `seconds` at their rates,
 * at least one per rank, at most 4 times the last interval's `prev` (rates measured
 * on a short interval are rough) and at most `left`, the chunks not yet drawn. */
uint64_t qz_schedule_span(const struct qz_schedule *s, double seconds, uint64_t prev,
                          uint64_t left);

/* Split `span` chunks: rank r draws offsets start[r] .. start[r+1]-1 of the interval
 * (start has ranks + 1 entries; start[0] = 0, start[ranks] = span). Blocks are in
 * proportion to the rates (each within one chunk of its share); ranks without a rate
 * count as the mean of the others, and as equal when none has one. */
void qz_schedule_split(const struct qz_schedule *s, uint64_t span, uint64_t *start);

#endif
