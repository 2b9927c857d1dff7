/* An archived run as a generator: the samples of /runs/<run>/samples/ (mpi/archive.h)
 * served again, so that `quantilize select` re-quantilizes a sample set through the
 * same driver as a fresh run, without drawing anything.
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

/* The utility scorer of an archive generator: the archived utilities. */
extern const struct qz_scorer_ops qz_score_archived_ops;

#endif
