/* The run driver: draw, score and rank all N samples across the ranks of a
 * communicator, then reduce to the global top set and select (SPEC §2, §3).
 *
 * Work units are chunks of chunk_size consecutive indices; chunk c is drawn by rank
 * c mod P in round c / P. Every few hundred milliseconds (an interval the root
 * picks and every rank learns in the same reduction) the ranks meet in one small
 * allreduce: it carries progress, invalid counts and failures, so a failing rank
 * stops the others at the next meeting instead of leaving them in a collective. */
#ifndef QZ_DRIVER_H
#define QZ_DRIVER_H

#include <mpi.h>
#include <stdio.h>

#include "job.h"
#include "topset.h"

struct qz_run_options {
    FILE *progress;        /* where the root shows progress; NULL for none */
    double progress_every; /* seconds between plain progress lines */
};

struct qz_run_result {
    /* the same on every rank */
    uint64_t samples; /* N */
    uint64_t valid;   /* N minus invalid */
    uint64_t invalid; /* excluded under the "exclude" policy */
    double mass;      /* m = q * valid */
    uint64_t top_count;
    double draw_seconds;   /* drawing, scoring, ranking (max over ranks) */
    double reduce_seconds; /* reduction to the global top set */
    /* the root only */
    struct qz_topset top; /* the global top set, best first, top_count entries */
    uint64_t boundary_ties;
    uint64_t selected_position;
};

/* Collective over comm. On success the root's res->top holds the global top set
 * (free with qz_run_result_free). Every rank returns the same status and message. */
enum qz_status qz_run_draw(MPI_Comm comm, const struct qz_job *job,
                           const struct qz_run_options *opt, struct qz_run_result *res,
                           struct qz_error *err);

void qz_run_result_free(struct qz_run_result *res);

#endif
