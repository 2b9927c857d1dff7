/* Archives: every sample of a run kept in the record (job field output.archive).
 *
 * While the ranks draw, each writes the samples of its chunks into a staging file
 * beside the output (`<out>.<name>.samples.tmp`), an HDF5 file opened by all ranks
 * with the MPI-IO driver that holds /runs/<name>/samples/ and nothing else. Its
 * datasets have N entries, are chunked (2^20 entries per HDF5 chunk, so readers can
 * stream them) and are allocated when created, so the ranks only ever write raw data
 * at the global index of each sample: the file's metadata is final and on disk before
 * the first sample is drawn, and a run killed midway leaves a staging file a resumed
 * run can open and go on writing. When the run is recorded, the staging file becomes
 * the record file (mpi/output.h, qz_output_begin with a staging file): the runs the
 * output file already held are copied into it and it is renamed over the output.
 *
 *   samples/index    uint64[N]   the sample's global index (= its position)
 *   samples/utility  float64[N]  as scored (NaN: failed or not a number)
 *   samples/cost     float64[N]  with a cost scorer (NaN: failed)
 *   samples/value    float64[N]  archive "all" of numeric samples: the sample itself
 *
 * Text payloads ("all" for text samples) are not archived yet: the job is refused. */
#ifndef QZ_ARCHIVE_H
#define QZ_ARCHIVE_H

#include <hdf5.h>
#include <mpi.h>

#include "job.h"

enum { QZ_AR_INDEX, QZ_AR_UTILITY, QZ_AR_COST, QZ_AR_VALUE, QZ_AR_FIELDS };

struct qz_archive {
    hid_t file;
    hid_t dset[QZ_AR_FIELDS]; /* H5I_INVALID_HID for fields not archived */
    size_t cap;               /* samples per buffered chunk */
    uint64_t *index;
    double *col[QZ_AR_FIELDS]; /* buffers of the float64 fields */
    uint64_t first;            /* the buffered chunk's first index */
    size_t n;                  /* samples buffered */
};

/* A closed archive (qz_archive_close does nothing to it). */
void qz_archive_init(struct qz_archive *a);

/* The staging file's name for a run recorded in `out` (caller frees; NULL: no memory). */
char *qz_archive_staging_path(const char *out, const char *name);

/* Collective. Create the staging file at path for the job's archive (or, resuming,
 * open the one a checkpoint's run was writing: QZ_ECKPT when it is missing or does not
 * fit). `run` is the run's name. On failure nothing is left open. */
enum qz_status qz_archive_open(MPI_Comm comm, const char *path, const char *run,
                               const struct qz_job *job, int resume, struct qz_archive *a,
                               struct qz_error *err);

/* Local. Samples first .. first+n-1 (all in one chunk of the job, in order): their
 * utilities, costs (NULL without a cost scorer) and values (NULL unless archived).
 * Buffered; the chunk is written by qz_archive_end_chunk. */
void qz_archive_put(struct qz_archive *a, uint64_t first, size_t n, const double *utility,
                    const double *cost, const double *value);

/* Local. Write the buffered chunk (independent MPI-IO). */
enum qz_status qz_archive_end_chunk(struct qz_archive *a, struct qz_error *err);

/* Collective. Everything written so far is in the file (before a checkpoint). */
enum qz_status qz_archive_flush(MPI_Comm comm, struct qz_archive *a, struct qz_error *err);

/* Collective. Close the staging file (harmless on one never opened or closed). */
enum qz_status qz_archive_close(MPI_Comm comm, struct qz_archive *a, struct qz_error *err);

#endif
