/* Job files: parse and validate everything before any sample is drawn.
 *
 * A job is a JSON object (see README "Job files"). qz_job_load reads the file,
 * rejects unknown fields, checks every value, opens the generator and scorers (which
 * validate their own fields) and resolves N. Local: each rank loads the job itself,
 * so all ranks hold identical jobs without a broadcast. */
#ifndef QZ_JOB_H
#define QZ_JOB_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "confint.h"
#include "error.h"
#include "generator.h"
#include "jsonv.h"
#include "metrics.h"
#include "runname.h"
#include "scorer.h"
#include "sha256.h"
#include "tasks.h"

#define QZ_CHUNK_DEFAULT 65536
#define QZ_CHUNK_HINT_MAX 2048 /* the largest default chunk a generator's pace gives */
#define QZ_CHUNK_MAX (1u << 24)
#define QZ_SAMPLES_MAX 9007199254740992.0 /* 2^53: JSON numbers are exact up to here */
#define QZ_TOP_GATHER_DEFAULT 1000000
#define QZ_CKPT_EVERY_DEFAULT 600.0
#define QZ_SWEEP_MAX 256 /* q values in one job */
#define QZ_CONFIDENCE_DEFAULT 0.95

enum qz_invalid_policy { QZ_INVALID_ERROR = 0, QZ_INVALID_EXCLUDE = 1 };

/* output.archive: what of every sample is kept (README "Archives"). */
enum qz_archive_mode { QZ_ARCHIVE_NONE = 0, QZ_ARCHIVE_UTILITIES = 1, QZ_ARCHIVE_ALL = 2 };

struct qz_job {
    char *file;                 /* the path it was loaded from (owned) */
    char sha256[QZ_SHA256_HEX]; /* SHA-256 of the job file's bytes as loaded (hex); "" for
                                   a job built in memory (select) */
    cJSON *json;                /* the parsed job (owned) */
    const char *name;           /* the run name, in json */
    uint64_t seed;
    double q;                    /* the run's q: q_list[0] */
    double q_list[QZ_SWEEP_MAX]; /* a sweep's q values, in the job's order */
    size_t nq;                   /* 1 for a single q */
    int sweep;                   /* q is a list: record sweep/ */
    uint64_t samples;            /* N, resolved from samples or samples_per_quantile */
    uint64_t chunk_size;
    enum qz_invalid_policy invalid;
    const char *output_path;          /* output.path, or NULL (then "<name>.h5") */
    int output_top;                   /* output.top: write the top/ datasets */
    uint64_t top_gather_limit;        /* output.top_gather_limit: largest K gathered to rank 0 */
    enum qz_archive_mode archive;     /* output.archive */
    struct qz_gen gen;                /* open generator */
    struct qz_score utility;          /* open utility scorer */
    struct qz_score cost;             /* open cost scorer; cost.ops == NULL when none */
    struct qz_tasks tasks;            /* tasks.n == 0: one quantilization */
    double ckpt_every;                /* checkpoint.every_seconds (0: on signals only) */
    const char *ckpt_path;            /* checkpoint.path, or NULL (then "<output>.<name>.ckpt") */
    double confidence;                /* 1 - δ of the record's intervals, in (0, 1) */
    struct qz_ci_range cost_range;    /* what the job says of its costs (qz_job_ranges) */
    struct qz_ci_range utility_range; /* ... and of its utilities */
    struct qz_metrics metrics;        /* open metric scorers (README "Metrics"); n == 0: none */
};

/* What a validated job's JSON (a record's job attribute too) says of its utilities and
 * costs, for their intervals: a scorer's declared "range", else [0, 1] for a binary
 * scorer, else (costs) the built-in mixture's component costs (qz_sweep_cost_range),
 * else unknown. */
void qz_job_ranges(const cJSON *json, struct qz_ci_range *utility, struct qz_ci_range *cost);

/* Load and validate `path` into job. On failure job holds nothing to free and err
 * says what and where (QZ_EJOB, or QZ_EIO for an unreadable file). */
enum qz_status qz_job_load(const char *path, struct qz_job *job, struct qz_error *err);

/* Parse and validate JSON text; `file` names it in messages. */
enum qz_status qz_job_parse(const char *text, const char *file, struct qz_job *job,
                            struct qz_error *err);

void qz_job_free(struct qz_job *job);

/* The first \u0000 escape of a JSON text (cJSON would end the string there), or NULL. */
const char *qz_job_nul_escape(const char *text);

/* The string field `field` of obj must be a run or task name (qz_name_problem). */
enum qz_status qz_job_check_name(const struct qz_jv *at, const cJSON *obj, const char *field,
                                 struct qz_error *err);

/* A hash of everything in the job that changes results: the job's JSON without the
 * fields that do not (name, description, output, checkpoint), and every task's
 * generator. Two jobs with the same hash draw the same samples and select the same
 * way; a checkpoint holds it (checkpoint.h), so it must never change for a job. Never 0:
 * *hash is 0 only when it fails (QZ_ENOMEM). */
enum qz_status qz_job_hash(const struct qz_job *job, uint64_t *hash, struct qz_error *err);

/* (Re)open the job's metrics for task t (its reference answers put in with
 * qz_task_scorer), or for the job itself when it has no tasks. */
enum qz_status qz_job_open_metrics(struct qz_job *job, size_t t, struct qz_error *err);

/* 1 if the job's generator draws text samples (else numbers). */
int qz_job_text_samples(const struct qz_job *job);

/* The default chunk size for a generator's chunk_hint: capped to 1 .. QZ_CHUNK_HINT_MAX,
 * a multiple of 4 when above 4. */
uint64_t qz_chunk_from_hint(uint64_t hint);

/* The job as compact JSON text for the record (secrets removed). Caller frees with
 * cJSON_free. NULL when out of memory. */
char *qz_job_text(const struct qz_job *job);

#endif
