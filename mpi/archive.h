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
 *   samples/metrics/NAME float64[N]  every metric of scope "all" (NaN: no score)
 *
 * Text ("all" of text samples) goes as bytes plus offsets (parallel HDF5 cannot write
 * variable-length strings):
 *
 *   samples/payload_offset  uint64[N]  where sample i's UTF-8 text starts in payload_bytes
 *   samples/payload_length  uint64[N]  its length in bytes
 *   samples/payload_bytes   uint8[B]   every text, in sample order
 *
 * The ranks keep the texts of the chunks they drew since the last meeting. At each
 * meeting (qz_archive_sync, collective) every chunk up to the meeting's round is done;
 * the chunks' byte counts are summed over the ranks, which gives every chunk its place
 * in sample order, and each rank writes its texts there, in a side file
 * `<staging>.text` (MPI-IO), and their offsets and lengths into the staging file.
 * qz_archive_close copies the side file into payload_bytes (its size is only known at
 * the end); the side file is removed once the record is committed, so a run that
 * dies in between resumes from its last checkpoint with the side file intact. The
 * bytes are the same at any rank count. */
#ifndef QZ_ARCHIVE_H
#define QZ_ARCHIVE_H

#include <hdf5.h>
#include <mpi.h>

#include "generator.h"
#include "job.h"

enum {
    QZ_AR_INDEX,
    QZ_AR_UTILITY,
    QZ_AR_COST,
    QZ_AR_VALUE,
    QZ_AR_OFFSET, /* text: written by qz_archive_sync */
    QZ_AR_LENGTH,
    QZ_AR_FIELDS
};

struct qz_archive {
    hid_t file;
    hid_t dset[QZ_AR_FIELDS]; /* H5I_INVALID_HID for fields not archived */
    size_t cap;               /* samples per buffered chunk */
    uint64_t *index;
    double *col[QZ_AR_FIELDS]; /* buffers of the float64 fields */
    uint64_t first;            /* the buffered chunk's first index */
    size_t n;                  /* samples buffered */
    /* Text archives (else text_file == MPI_FILE_NULL): */
    char *text_path; /* the side file */
    char *staging;   /* the staging file and the run's samples group in it */
    char *group;
    MPI_File text_file;     /* open on all ranks while drawing */
    uint64_t text_total;    /* bytes placed so far: chunks below synced_chunks */
    uint64_t synced_chunks; /* chunks whose texts are placed */
    uint64_t chunk_size;    /* of the job */
    char *pend_text;        /* texts of this rank's chunks since the last meeting */
    size_t pend_bytes, pend_cap;
    uint64_t *pend_len; /* their lengths, sample by sample */
    size_t pend_n, pend_len_cap;
    struct pending_chunk {
        uint64_t chunk, first, n, bytes;
    } * pend_chunk;
    size_t pend_chunks, pend_chunk_cap;
    /* Metrics of scope "all", by their position in the job (H5I_INVALID_HID and NULL
     * for the others): samples/metrics/NAME and its buffered chunk. */
    hid_t mdset[QZ_METRICS_MAX];
    double *mcol[QZ_METRICS_MAX];
};

/* A closed archive (qz_archive_close does nothing to it). */
void qz_archive_init(struct qz_archive *a);

/* The staging file's name for a run recorded in `out` (caller frees; NULL: no memory). */
char *qz_archive_staging_path(const char *out, const char *name);

/* Collective. Create the staging file at path for the job's archive (or, resuming,
 * open the one a checkpoint's run was writing, whose texts filled text_bytes bytes up
 * to chunk `chunks`: QZ_ECKPT when it is missing or does not fit). `run` is the run's
 * name. On failure nothing is left open. */
enum qz_status qz_archive_open(MPI_Comm comm, const char *path, const char *run,
                               const struct qz_job *job, int resume, uint64_t chunks,
                               uint64_t text_bytes, struct qz_archive *a, struct qz_error *err);

/* Local. Samples first .. first+n-1 (all in one chunk of the job, in order): their
 * utilities, costs (NULL without a cost scorer), values (NULL unless archived) and,
 * for a text archive, the batch holding their texts (else NULL). Buffered; the chunk
 * is written by qz_archive_end_chunk. QZ_ENOMEM when the text buffer cannot grow. */
enum qz_status qz_archive_put(struct qz_archive *a, uint64_t first, size_t n, const double *utility,
                              const double *cost, const double *value, const struct qz_batch *texts,
                              struct qz_error *err);

/* Local, after qz_archive_put of the same samples: their scores by metric k (of scope
 * "all"), buffered with them. */
void qz_archive_put_metric(struct qz_archive *a, size_t k, uint64_t first, size_t n,
                           const double *scores);

/* Local. Write the buffered chunk (independent MPI-IO). */
enum qz_status qz_archive_end_chunk(struct qz_archive *a, struct qz_error *err);

/* Collective, at a meeting: every chunk below `chunks` is done; place and write the
 * texts of those not yet placed. Does nothing for an archive without text. */
enum qz_status qz_archive_sync(MPI_Comm comm, struct qz_archive *a, uint64_t chunks,
                               struct qz_error *err);

/* Local. Forget what was drawn since the last meeting: the buffered chunk and the
 * texts not yet placed (a rolled-back interval, mpi/draw.c). The numeric columns its
 * chunks wrote are written again, with the same values, when they are drawn again. */
void qz_archive_discard(struct qz_archive *a);

/* Collective. Everything written so far is in the file (before a checkpoint). */
enum qz_status qz_archive_flush(MPI_Comm comm, struct qz_archive *a, struct qz_error *err);

/* Collective. Close the staging file (harmless on one never opened or closed). With
 * `complete` (every sample drawn), a text archive's bytes go into payload_bytes and
 * its side file is removed; otherwise the side file stays for a resumed run. */
enum qz_status qz_archive_close(MPI_Comm comm, struct qz_archive *a, int complete,
                                struct qz_error *err);

#endif
