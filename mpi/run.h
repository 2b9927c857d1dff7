/* One quantilization across the ranks of a communicator: what it is told, what it
 * finds, and the phases that find it (README: Semantics, How it works).
 *
 * A run goes through four collective phases, each in its own module:
 *
 *   qz_draw_resume     mpi/draw.h       this task's checkpoint, if any, resumed
 *   qz_draw            mpi/draw.h       draw, score and rank all N samples
 *   qz_select_global   mpi/selection.h  the global top set, threshold and selection
 *   qz_gather_payloads mpi/gather.h     the payloads the record needs, on the root
 *
 * then qz_run_totals adds the generator statistics, times and memory. The session
 * (mpi/session.h) calls them in that order and writes the record.
 *
 * What a run holds is split by who may read it: figures every rank holds, data only
 * the root holds, this rank's slice of a distributed top set, and the phases' own
 * working state (mpi/run_work.h), which nothing outside them reads. */
#ifndef QZ_RUN_H
#define QZ_RUN_H

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>

#include "generator.h"
#include "job.h"
#include "metrics.h"
#include "payload.h"
#include "sweep.h"
#include "topset.h"

struct qz_run_options {
    FILE *progress;        /* where the root shows progress; NULL for none */
    double progress_every; /* seconds between plain progress lines */
    /* Checkpoints (mpi/ckpt.h): NULL for none. A checkpoint found at ckpt_path is
     * resumed; one is written every ckpt_every seconds (0: never) and on a stop
     * request (common/interrupt.h), after which qz_draw returns QZ_ESTOPPED. */
    const char *ckpt_path;
    double ckpt_every;
    uint64_t job_hash; /* qz_job_hash of the job */
    uint64_t task;     /* the task being run (0 for a job without tasks) */
    /* The archive's staging file (mpi/archive.h) and the run's name; NULL: the job
     * archives nothing. */
    const char *archive_path;
    const char *run;
};

/* The outcome's figures: the same on every rank. */
struct qz_run_figures {
    uint64_t samples; /* N */
    uint64_t valid;   /* N minus invalid */
    uint64_t invalid; /* excluded under the "exclude" policy */
    double mass;      /* m = q * valid */
    uint64_t top_count;
    uint64_t sweep_k;      /* the largest K of the job's q values */
    double draw_seconds;   /* drawing, scoring, ranking (max over ranks) */
    double select_seconds; /* reduction, selection, payloads (max over ranks) */
    uint64_t boundary_ties;
    uint64_t selected_position;
    struct qz_entry selected;  /* the entry at selected_position */
    struct qz_entry threshold; /* the entry at position K - 1 */
    int gathered;              /* K <= output.top_gather_limit: the root holds the top set */
    uint64_t peak_rss_max;     /* bytes, the largest of all ranks */
    uint64_t peak_rss_root;
    int text;              /* the samples are text */
    int has_cost;          /* a cost scorer is configured */
    double cost_base_mean; /* E_γ[c] over the valid samples (NaN without a cost) */
    double cost_base_stderr;
    double utility_q_mean; /* E_Q[u] under the run's quantilized distribution */
    double cost_q_mean;    /* E_Q[c] (NaN without a cost) */
    /* How sure (README "Confidence intervals"): the job's confidence, the two-sided
     * intervals of E_Q[u], E_Q[c] and E_γ[c], the top set's effective size and
     * UCB(E_γ[c]) / q; NaN where there is no cost or no interval. */
    double confidence;
    struct qz_ci utility_q_ci, cost_q_ci, cost_base_ci;
    double top_effective_size;
    double cost_bound_ucb;
    struct qz_sweep_ci sweep_ci; /* what the sweep's intervals need */
    /* Metrics of scope "all" (in the job's order; zero for the others): valid samples
     * scored, how many gave no score, and E_γ[metric] with its interval. */
    uint64_t metric_count[QZ_METRICS_MAX], metric_invalid[QZ_METRICS_MAX];
    struct qz_metric_fig metric_base[QZ_METRICS_MAX];
    uint64_t checkpoints;        /* written by this run, earlier sessions included */
    double checkpoint_seconds;   /* time spent writing them (max over ranks, summed) */
    uint64_t resumes;            /* times this run was resumed from a checkpoint */
    uint64_t resumed_samples;    /* samples already done when this session resumed */
    uint64_t samples_redone;     /* drawn and discarded (rollbacks, killed sessions' work) */
    uint64_t outage_checkpoints; /* checkpoints written because the servers were down */
    int has_stats;               /* the generator counts requests */
    struct qz_gen_stats stats;   /* summed over ranks and sessions */
    int has_report;              /* the generator reports about its server */
    struct qz_gen_report report; /* agreed over ranks (this session's counts) */
};

/* What only the root holds (empty elsewhere). */
struct qz_run_root {
    /* Gathered runs: the whole top set, best first (top_count entries; points into the
     * working state). NULL when the top set was not gathered. */
    const struct qz_entry *top;
    size_t top_n;
    struct qz_texts top_texts;     /* text jobs with a gathered top set written: its payloads */
    struct qz_texts selected_text; /* other text jobs: the selected sample's payload */
    double selected_value;         /* numeric jobs: the selected sample's value */
    struct qz_sweep_row *sweep;    /* jobs with a list of q: one row per q (owned) */
    /* Jobs with metrics: the top set of the job's largest q, best first (owned), and
     * one result per metric (owned; qz_metric_results_free). */
    struct qz_entry *metric_top;
    size_t metric_top_n;
    struct qz_metric_result *metrics;
};

/* Runs above the gather limit whose job writes top/: this rank's even slice of the
 * top set, best first, global positions offset .. offset + n - 1: the array of the
 * rank's top set (run_work.h), which the slice replaced, freed with it. */
struct qz_top_slice {
    struct qz_entry *e;
    size_t n;
    uint64_t offset;
};

struct qz_run_work; /* the phases' working state (mpi/run_work.h) */

struct qz_run {
    struct qz_run_figures fig;
    struct qz_run_root root;
    struct qz_top_slice slice;
    struct qz_run_work *work;
};

/* Collective: the peak resident memory so far of the largest rank and of rank 0,
 * bytes, on every rank. */
void qz_run_peak_rss(MPI_Comm comm, uint64_t *max, uint64_t *root);

/* Collective: the generator statistics (summed over the ranks and the sessions
 * before), the phases' times (max over the ranks) and the peak memory. */
void qz_run_totals(MPI_Comm comm, const struct qz_job *job, double draw_seconds,
                   double select_seconds, struct qz_run *run);

/* Local: free everything a run holds (harmless on a zeroed one). */
void qz_run_free(struct qz_run *run);

#endif
