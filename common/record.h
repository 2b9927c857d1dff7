/* The record of one run (README "The record"), as the root holds it before it is
 * written to HDF5 (mpi/output.c). Which member becomes which attribute, with its
 * type, units and label, is the table in fields.h. Plain data; the strings and
 * arrays are owned by whoever filled the struct. */
#ifndef QZ_RECORD_H
#define QZ_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "generator.h"
#include "metrics.h"
#include "payload.h"
#include "provenance.h"
#include "sweep.h"
#include "topset.h"

#define QZ_FORMAT_NAME "quantilize"
#define QZ_FORMAT_VERSION 2
#define QZ_RUN_FORMAT_NAME "quantilize-run" /* a run file's /format (README "The record") */
#define QZ_TIME_MAX 32                      /* "2026-11-26T03:46:15Z" fits with room */

struct qz_record {
    const char *run;         /* group path under /runs: the job's name, or NAME/tasks/ID */
    const char *replace_run; /* with --overwrite, remove /runs/<replace_run> first (the
                                first task of a job replaces the whole run), or NULL */
    const char *job_json;    /* the job as JSON text, secrets removed */
    const char *version;     /* quantilize version string */
    const char *status;      /* "complete" or "partial" */

    uint64_t seed;
    double q;
    uint64_t samples;         /* N: samples drawn */
    uint64_t valid_samples;   /* N minus invalid samples */
    uint64_t invalid_samples; /* excluded under the "exclude" policy */
    double mass;              /* m = q * valid_samples */
    uint64_t top_count;       /* K */
    uint64_t chunk_size;      /* consecutive indices per work unit */
    double threshold;         /* utility at position K-1 */
    uint64_t boundary_ties;   /* other samples whose utility equals the threshold */

    uint64_t selected_position; /* in the best-first top set */
    uint64_t selected_index;    /* global sample index */
    double selected_utility;
    double selected_cost;           /* NaN when no cost is scored */
    uint64_t selected_chunk;        /* selected_index / chunk_size */
    const double *selected_payload; /* numeric payload (the action itself) */
    size_t selected_payload_len;

    int has_cost;               /* a cost scorer was configured: write top/cost */
    int top_stored;             /* top/ datasets are written (non-zero) or skipped (0) */
    const struct qz_entry *top; /* top_count entries, best first; NULL when the top set is
                                   written collectively (qz_output_write_top) or skipped */

    int ranks;
    char started[QZ_TIME_MAX];  /* ISO 8601 UTC */
    char finished[QZ_TIME_MAX]; /* ISO 8601 UTC */
    double wall_seconds;
    double samples_per_second;

    /* Text samples. The selected payload is then selected_text->...[selected_text_at]
     * (selected_payload is NULL), and top_texts (when not NULL) holds the top set's
     * texts in the order of top. */
    int text;
    const struct qz_texts *selected_text;
    size_t selected_text_at;
    const struct qz_texts *top_texts;
    int has_logprobs; /* token log-probs were asked for: record them */

    /* What the generator counted (HTTP requests, ...), summed over ranks, and what it
     * sends (JSON, no secrets); has_stats 0 and generator_request NULL when none. */
    int has_stats;
    struct qz_gen_stats stats;
    const char *generator_request;
    /* What a server-backed generator reported about the server (agreed over ranks);
     * has_report 0 when none. */
    int has_report;
    struct qz_gen_report report;

    /* A run re-selected from an archive (quantilize select): where the samples came
     * from; NULL for a run that drew its own. */
    const char *source_file;
    const char *source_run;

    /* The quantilized distribution Q of the run's selection (README "Semantics": the weights of the
     * selection): E_Q[u], and with a cost scorer E_Q[c], E_γ[c] over all valid samples with its
     * standard error, and the bound E_γ[c] / q; KL(Q‖γ) = ln(1/q). */
    double utility_quantilized_mean;
    double cost_quantilized_mean;
    double cost_base_mean;
    double cost_base_stderr;
    double cost_bound;
    double kl_nats;
    /* How sure (README "Confidence intervals"): the confidence 1 − δ; E_Q[u]'s standard
     * error and two-sided interval, with its method; the top set's effective size;
     * with a cost, E_Q[c]'s and E_γ[c]'s, their method, and UCB(E_γ[c]) / q. */
    double confidence;
    double utility_quantilized_stderr, utility_quantilized_ci_low, utility_quantilized_ci_high;
    const char *utility_ci_method;
    double top_effective_size;
    double cost_quantilized_stderr, cost_quantilized_ci_low, cost_quantilized_ci_high;
    double cost_base_ci_low, cost_base_ci_high;
    const char *cost_ci_method;
    double cost_bound_ucb;

    /* Jobs with metrics (README "Metrics"): the job's metrics and one result each
     * (metrics/NAME, top/metrics/NAME, sweep/metrics/NAME); NULL when none. */
    const struct qz_metrics *metrics;
    const struct qz_metric_result *metric_results;

    /* Jobs with a list of q: one row per q (sweep/), else NULL. */
    const struct qz_sweep_row *sweep;
    size_t nsweep;

    /* Time per phase (seconds, max over ranks) and peak resident memory (bytes). */
    double draw_seconds;   /* drawing, scoring and ranking the samples */
    double select_seconds; /* reduction to the global top set and selection */
    double write_seconds;  /* writing the record; set by qz_output_commit */
    uint64_t peak_rss_max; /* the largest peak resident set of any rank */
    uint64_t peak_rss_root;

    /* Checkpoints written over the whole run (all sessions), the time they took
     * (seconds), and how many times the run was resumed from one. */
    uint64_t checkpoints;
    double checkpoint_seconds;
    uint64_t resumes;
    uint64_t samples_redone;     /* drawn and discarded: rollbacks, killed sessions' work */
    uint64_t outage_checkpoints; /* checkpoints written because the servers were down */

    /* Where and with what the run was made; empty members are left out. */
    struct qz_provenance provenance;
};

#endif
