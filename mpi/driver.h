/* The run driver: draw, score and rank all N samples across the ranks of a
 * communicator, then reduce to the global top set and select (SPEC §2, §3).
 *
 * Work units are chunks of chunk_size consecutive indices. The chunks between two
 * meetings of the ranks form one interval, split into a block per rank in proportion
 * to the ranks' drawing rates (common/schedule.h). At a meeting, every few hundred
 * milliseconds, one small allgather carries each rank's progress, invalid count,
 * failure, stop request and rate, so a failing rank stops the others at the next
 * meeting instead of leaving them in a collective, and every rank computes the next
 * interval's split the same way.
 *
 * At a meeting all chunks below the interval's end C are done. The ranks may then
 * write a checkpoint (every checkpoint.every_seconds, and on SIGUSR1/SIGTERM, after
 * which they stop): "chunks below C", the counters, and every rank's top set. A
 * resumed run draws chunks C, C+1, ... the same way.
 *
 * Then, for K up to the job's output.top_gather_limit, a tree reduction gathers the
 * top set on the root (mpi/reduce.h). For larger K nothing is gathered: the
 * threshold and the selected entry are found by distributed selection
 * (mpi/dselect.h) and, when the job writes top/, the top set is redistributed into
 * even slices that the ranks write collectively. */
#ifndef QZ_DRIVER_H
#define QZ_DRIVER_H

#include <mpi.h>
#include <stdio.h>

#include "archive.h"
#include "exactsum.h"
#include "sweep.h"
#include "job.h"
#include "payload.h"
#include "topset.h"

struct qz_run_options {
    FILE *progress;        /* where the root shows progress; NULL for none */
    double progress_every; /* seconds between plain progress lines */
    /* Checkpoints (mpi/ckpt.h): NULL for none. A checkpoint found at ckpt_path is
     * resumed; one is written every ckpt_every seconds (0: never) and on a stop
     * request (common/interrupt.h), after which qz_run_draw returns QZ_ESTOPPED. */
    const char *ckpt_path;
    double ckpt_every;
    uint64_t job_hash; /* qz_job_hash of the job */
    uint64_t task;     /* the task being run (0 for a job without tasks) */
    /* The archive's staging file (mpi/archive.h) and the run's name; NULL: the job
     * archives nothing. */
    const char *archive_path;
    const char *run;
};

struct qz_run_result {
    /* the same on every rank */
    uint64_t samples; /* N */
    uint64_t valid;   /* N minus invalid */
    uint64_t invalid; /* excluded under the "exclude" policy */
    double mass;      /* m = q * valid */
    uint64_t top_count;
    double draw_seconds;   /* drawing, scoring, ranking (max over ranks) */
    double select_seconds; /* reduction, selection, redistribution (max over ranks) */
    uint64_t boundary_ties;
    uint64_t selected_position;
    struct qz_entry selected;  /* the entry at selected_position */
    struct qz_entry threshold; /* the entry at position K - 1 */
    int gathered;              /* K <= output.top_gather_limit: the root holds the top set */
    uint64_t peak_rss_max;     /* bytes, the largest of all ranks */
    uint64_t peak_rss_root;
    /* This rank's part of the top set, best first: global positions part_offset ..
     * part_offset + part_n - 1. Gathered: all K on the root, none elsewhere.
     * Otherwise, when the job writes top/, an even slice on every rank; else none. */
    struct qz_entry *part;
    size_t part_n;
    uint64_t part_offset;
    int text;                      /* the samples are text */
    struct qz_texts top_texts;     /* root, text jobs with a gathered top set: its payloads */
    struct qz_texts selected_text; /* root, other text jobs: the selected sample's payload */
    uint64_t sweep_k;              /* the largest K of the job's q values */
    int has_cost;                  /* a cost scorer is configured */
    double cost_base_mean;         /* E_γ[c] over the valid samples (NaN without a cost) */
    double cost_base_stderr;       /* its standard error */
    double utility_q_mean;         /* E_Q[u] under the run's quantilized distribution */
    double cost_q_mean;            /* E_Q[c] (NaN without a cost) */
    uint64_t checkpoints;          /* written by this run, earlier sessions included */
    double checkpoint_seconds;     /* time spent writing them (max over ranks, summed) */
    uint64_t resumes;              /* times this run was resumed from a checkpoint */
    uint64_t resumed_samples;      /* samples already done when this session resumed */
    int has_stats;                 /* the generator counts requests (stats below, all ranks) */
    struct qz_gen_stats stats;     /* summed over ranks */
    /* owned memory */
    struct qz_topset set;
    struct qz_entry *slice;
    struct qz_payloads payloads; /* this rank's payloads (text jobs) */
    struct qz_archive archive;   /* open while drawing, when the job archives */
    struct qz_sweep_row *sweep;  /* root, jobs with a list of q: one row per q (owned) */
    struct qz_exactsum cost_sum; /* this rank's Σc over valid samples (with a cost scorer) */
    struct qz_exactsum cost_sq;  /* and Σc² */
};

/* Collective over comm. On success res describes the outcome (free with
 * qz_run_result_free). Every rank returns the same status and message. */
enum qz_status qz_run_draw(MPI_Comm comm, const struct qz_job *job,
                           const struct qz_run_options *opt, struct qz_run_result *res,
                           struct qz_error *err);

void qz_run_result_free(struct qz_run_result *res);

#endif
