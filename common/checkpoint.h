/* Checkpoint files: the format, its checksums, and the job hash that ties a
 * checkpoint to the job that wrote it. Local (no MPI): mpi/ckpt.c writes and reads
 * the files collectively.
 *
 * A checkpoint holds everything a run needs to go on as if it had never stopped:
 * which chunks are done (all chunks below chunks_done), the counters (samples done,
 * invalid samples, generator statistics) and, per rank that wrote it, that rank's
 * top-set entries with its ties_out and the payloads of those entries (texts, or values).
 * A resumed run may have any number of ranks: the sections are dealt out to the new
 * ranks and merged, which gives the same global top set (README "Semantics": rank-count
 * invariance).
 *
 * Layout (native byte order: a checkpoint is resumed on the cluster that wrote it):
 *
 *   struct qz_ckpt_header            fixed size, magic "QZCKPT" + format version
 *   struct qz_ckpt_section[ranks]    where each rank's section is, with its checksum
 *   sections                         entries[entries] (24 bytes each), then
 *                                    struct qz_ckpt_payload[payloads], then the texts
 *
 * header.checksum covers the header (with that field zero) and the section table;
 * each section's checksum covers its bytes. A changed or cut-off file is refused. */
#ifndef QZ_CHECKPOINT_H
#define QZ_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "exactsum.h"

#define QZ_CKPT_MAGIC "QZCKPT\r\n"
#define QZ_CKPT_VERSION 8 /* 8: the model servers' counts and outages */
#define QZ_CKPT_REPORT_WORDS 10
/* Bounds of a checkpoint's counts (qz_ckpt_check): N and chunk_size as a job allows
 * (job.h), and byte counts. */
#define QZ_CKPT_SAMPLES_MAX (1ULL << 53)
#define QZ_CKPT_CHUNK_MAX (1ULL << 24)
#define QZ_CKPT_BYTES_MAX (1ULL << 62)

/* The sums of a metric of scope "all" over the valid samples done (README "Metrics"):
 * Σx and Σx² over those with a score, how many were scored, how many gave none. */
#define QZ_CKPT_METRICS 16
struct qz_ckpt_metric {
    struct qz_exactsum sum1, sum2;
    uint64_t count, invalid;
};

/* A model server's counts so far (the generator's report, common/generator.h). */
#define QZ_CKPT_SERVERS 64
#define QZ_CKPT_URL_MAX 256
struct qz_ckpt_server {
    char url[QZ_CKPT_URL_MAX]; /* NUL-terminated */
    uint64_t requests, failures;
};

struct qz_ckpt_header {
    char magic[8];
    uint32_t version;
    uint32_t ranks;              /* sections that follow: the ranks that wrote it */
    uint64_t job_hash;           /* qz_job_hash of the job (job.h) */
    uint64_t task;               /* the task in progress (0 for a job without tasks) */
    uint64_t samples;            /* N */
    uint64_t chunk_size;         /* of the job */
    uint64_t chunks_done;        /* chunks 0 .. chunks_done-1 are in the sections */
    uint64_t samples_done;       /* the samples of those chunks */
    uint64_t invalid;            /* invalid samples among them */
    uint64_t stats[5];           /* generator statistics so far (struct qz_gen_stats order) */
    uint64_t text;               /* 1: the samples (and payloads) are text */
    uint64_t checkpoints;        /* checkpoints written by this run, this one included */
    uint64_t resumes;            /* times this run was resumed before this checkpoint */
    double checkpoint_seconds;   /* time spent writing checkpoints before this one */
    struct qz_exactsum cost_sum; /* Σc over the valid samples done (with a cost scorer) */
    struct qz_exactsum cost_sq;  /* Σc² */
    uint64_t archive_text_bytes; /* text archives: bytes of text placed (chunks below
                                    chunks_done) */
    uint64_t report[QZ_CKPT_REPORT_WORDS]; /* the generator's report counts so far
                                              (qz_ckpt_set_report) */
    uint64_t samples_redone;     /* samples drawn and discarded (rolled back, or drawn after
                                    the last checkpoint by a killed session) */
    uint64_t outage_checkpoints; /* checkpoints written because the model servers were down */
    uint64_t reserved[4];        /* zero */
    uint64_t utf8_repaired;      /* generator statistics: texts repaired (was reserved: 0) */
    struct qz_ckpt_metric metrics[QZ_CKPT_METRICS]; /* the job's metrics in its order (the
                                                       ones of scope "all"; zero else) */
    uint64_t outages;                               /* model servers: outages so far */
    double outage_seconds;                          /* and the seconds waited in them */
    uint64_t nservers;                              /* servers[0 .. nservers) */
    struct qz_ckpt_server servers[QZ_CKPT_SERVERS]; /* each server's counts so far */
    uint64_t checksum;
};

struct qz_ckpt_section {
    uint64_t offset;     /* from the start of the file */
    uint64_t entries;    /* struct qz_entry records */
    uint64_t ties_out;   /* the writing rank's top-set ties_out */
    uint64_t payloads;   /* struct qz_ckpt_payload records */
    uint64_t text_bytes; /* bytes of text after them */
    uint64_t checksum;   /* of the section's bytes */
};

struct qz_ckpt_payload {
    uint64_t index;
    uint32_t len;
    uint32_t tokens;
    double logprob_sum;
};

/* Bytes of section s's data. */
uint64_t qz_ckpt_section_bytes(const struct qz_ckpt_section *s);

/* A 64-bit checksum of p[0..n), continuing from h (start with QZ_CHECKSUM_SEED), so
 * data in parts can be checked part by part (the reader splits it as the writer did).
 * Not cryptographic: it detects damage, not tampering. */
#define QZ_CHECKSUM_SEED 0x71756e74696c697aULL
uint64_t qz_checksum(const void *p, size_t n, uint64_t h);

/* The checksum of a header (its checksum field taken as zero) and its section table. */
uint64_t qz_ckpt_header_checksum(const struct qz_ckpt_header *h,
                                 const struct qz_ckpt_section *table);

/* Check a header read from `path` (file_size bytes) and its table: magic, version,
 * checksum, every count within bounds ("checkpoint X: field Y out of range": chunks_done
 * at most the job's chunks, samples_done and invalid at most N, a section's entries and
 * ties at most samples_done, its payloads at most its entries, its text within the
 * file), and that the sections lie inside the file and end where it ends.
 * QZ_ECKPT names what is wrong. */
enum qz_status qz_ckpt_check(const char *path, uint64_t file_size, const struct qz_ckpt_header *h,
                             const struct qz_ckpt_section *table, struct qz_error *err);

/* Check section s of a checkpoint whose header h passed qz_ckpt_check, its bytes read
 * into buf (qz_ckpt_section_bytes of them), for a job whose top set keeps k: at most
 * K + max(K/8, 4096) entries (a rank's top set), every entry's and payload's sample
 * index below the samples done, the payloads' texts within text_bytes. */
enum qz_status qz_ckpt_section_check(const char *path, const struct qz_ckpt_header *h,
                                     const struct qz_ckpt_section *s, const char *buf, size_t k,
                                     struct qz_error *err);

#endif
