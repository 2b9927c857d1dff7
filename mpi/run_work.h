/* The working state of a run's phases (mpi/run.h): private to mpi/draw.c,
 * mpi/selection.c, mpi/gather.c and mpi/run.c. */
#ifndef QZ_RUN_WORK_H
#define QZ_RUN_WORK_H

#include <mpi.h>

#include "archive.h"
#include "checkpoint.h"
#include "exactsum.h"
#include "payload.h"
#include "run.h"
#include "topset.h"

/* Where this session started: what a resumed checkpoint held (all zero when fresh). */
struct qz_run_base {
    uint64_t chunks;               /* chunks below this are done */
    uint64_t done;                 /* their samples */
    uint64_t invalid;              /* invalid samples among them */
    struct qz_gen_stats stats;     /* generator statistics so far */
    struct qz_gen_report report;   /* the counts of the generator's report so far */
    struct qz_exactsum sum1, sum2; /* Σc and Σc² over their valid samples */
    struct qz_ckpt_metric metrics[QZ_CKPT_METRICS]; /* the metrics' sums (scope "all") */
};

struct qz_run_work {
    struct qz_run_base base;
    struct qz_topset set; /* this rank's top set; gathered: the root's is the global one */
    /* The payload of every sample in set, keyed by index: a text sample's text, or the
     * 8 bytes of a numeric sample's value when they differ from its utility's (a job
     * whose utility is the value keeps nothing), so that the selected sample's payload
     * is gathered, never drawn again (mpi/gather.h). */
    struct qz_payloads payloads;
    struct qz_archive archive;   /* open while drawing, when the job archives */
    struct qz_exactsum cost_sum; /* this rank's Σc over valid samples (with a cost scorer) */
    struct qz_exactsum cost_sq;  /* and Σc² */
    /* This rank's sums of each metric of scope "all" over its valid samples. */
    struct qz_ckpt_metric metric_sums[QZ_CKPT_METRICS];
};

/* Local: keep a numeric sample's value as its payload (only one whose bits differ
 * from its utility's: without a payload, the value is the utility). */
enum qz_status qz_run_put_value(struct qz_payloads *pl, uint64_t index, double value,
                                struct qz_error *err);

/* Collective: the exact sums of all ranks (and of base, counted once), on every rank. */
void qz_sum_over_ranks(MPI_Comm comm, const struct qz_exactsum *mine,
                       const struct qz_exactsum *base, struct qz_exactsum *out);

/* Collective: the metrics' sums of all ranks (and of base, counted once), on every
 * rank, for the job's n metrics. */
void qz_metric_sums_over_ranks(MPI_Comm comm, size_t n, const struct qz_ckpt_metric *mine,
                               const struct qz_ckpt_metric *base, struct qz_ckpt_metric *out);

/* Collective: the generator's statistics summed over the ranks, plus base's. */
/* Collective: the generator's reports of all ranks as one, plus the counts in base
 * (sessions before). Needs job->gen.ops->report. */
void qz_gen_report_total(MPI_Comm comm, const struct qz_job *job, const struct qz_gen_report *base,
                         struct qz_gen_report *out);
void qz_gen_stats_total(MPI_Comm comm, const struct qz_job *job, const struct qz_gen_stats *base,
                        struct qz_gen_stats *out);

#endif
