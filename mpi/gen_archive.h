/* An archived run as a generator: the samples of /runs/<run>/samples/ (mpi/archive.h)
 * served again, so that `quantilize select` re-quantilizes a sample set through the
 * same run machinery as a fresh run (mpi/session.h), without drawing anything.
 *
 * Sample i of the generator is archived sample i: its value (samples/value, or the
 * utility when the source job's utility was the value itself, else NaN), its
 * utility (into batch->utility, read by the scorer qz_score_archived_ops) and its cost
 * (into batch->component_cost, read by the built-in "component" scorer). Each rank
 * opens the file read-only with serial HDF5 and reads its chunks in blocks. */
#ifndef QZ_GEN_ARCHIVE_H
#define QZ_GEN_ARCHIVE_H

#include <stdint.h>

#include "generator.h"
#include "job.h"
#include "scorer.h"

/* What select needs to know about the archived run. */
struct qz_archive_source {
    uint64_t samples;    /* N */
    uint64_t seed;       /* the run's seed */
    uint64_t chunk_size; /* the run's chunk size */
    int has_cost;        /* samples/cost exists */
    char *job_json;      /* the run's job attribute (owned) */
};

/* Local. Open run `run` of the record file `path` (which must hold an archive).
 * QZ_EARGS names what is missing; QZ_EHDF5 for a file HDF5 cannot read. */
enum qz_status qz_gen_archive_open(const char *path, const char *run, struct qz_gen *gen,
                                   struct qz_archive_source *src, struct qz_error *err);

void qz_archive_source_free(struct qz_archive_source *src);

/* What `quantilize select` asks for. */
struct qz_archive_select {
    const char *file; /* the record file holding the archive */
    const char *run;  /* the archived run (NAME, or NAME/tasks/ID) */
    double q;
    int has_seed; /* select with seed instead of the run's */
    uint64_t seed;
    const char *name; /* the new run's name; NULL: RUN-qQ, '/' replaced by '-' */
};

/* Local; every rank builds the same. The job a select runs: the archived run's
 * samples at another q (and seed), drawn by this generator, its utility the archived
 * one and its cost (when archived) the archived cost; the record goes into the
 * archive's file. */
enum qz_status qz_gen_archive_job(const struct qz_archive_select *a, struct qz_job *job,
                                  struct qz_error *err);

/* The utility scorer of an archive generator: the archived utilities. */
extern const struct qz_scorer_ops qz_score_archived_ops;

#endif
