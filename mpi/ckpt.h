/* Writing and reading checkpoints collectively (format: common/checkpoint.h).
 *
 * Every rank writes its own section (its top-set entries, their payloads) with MPI-IO
 * into a temporary file beside the checkpoint, the root adds the header, and the root
 * renames it over the old checkpoint after an fsync: a crash while writing leaves the
 * previous checkpoint. Reading deals the sections of the P ranks that wrote a
 * checkpoint out to the P' ranks that resume it (section j to rank j mod P'); each
 * rank checks the checksums of what it reads and merges it into one best-first set. */
#ifndef QZ_CKPT_H
#define QZ_CKPT_H

#include <mpi.h>

#include "checkpoint.h"
#include "generator.h"
#include "job.h"
#include "payload.h"
#include "topset.h"

/* Local: the header of a checkpoint of task `task` of job (qz_job_hash job_hash) with
 * nothing done yet: magic, format version and the job's shape. Whoever writes one
 * adds the progress fields. The one place a header is made. */
void qz_ckpt_header_init(struct qz_ckpt_header *h, const struct qz_job *job, uint64_t job_hash,
                         uint64_t task);

/* Local: the generator statistics in a header (its stats[] are in struct
 * qz_gen_stats order), by name. */
void qz_ckpt_set_stats(struct qz_ckpt_header *h, const struct qz_gen_stats *st);
struct qz_gen_stats qz_ckpt_stats(const struct qz_ckpt_header *h);
/* The counts of a generator's report (not its strings) into and out of the header. */
void qz_ckpt_set_report(struct qz_ckpt_header *h, const struct qz_gen_report *r);
void qz_ckpt_report(const struct qz_ckpt_header *h, struct qz_gen_report *r);

/* Collective: write a checkpoint at path. h holds the fields every rank shares (the
 * same on all ranks; ranks and checksum are filled in here); ts and pl are this
 * rank's top set and the payloads of its entries. */
enum qz_status qz_ckpt_write(MPI_Comm comm, const char *path, struct qz_ckpt_header *h,
                             const struct qz_topset *ts, const struct qz_payloads *pl,
                             struct qz_error *err);

/* A checkpoint found on disk: its header and section table, on every rank. */
struct qz_ckpt {
    struct qz_ckpt_header h;
    struct qz_ckpt_section *table; /* h.ranks sections (owned) */
};

/* Collective: look for a checkpoint at path. None there: QZ_OK with *found 0. One
 * there: it must belong to this job (job_hash) and be intact, else QZ_ECKPT with a
 * message naming the file; then ck is filled (free with qz_ckpt_free). */
enum qz_status qz_ckpt_find(MPI_Comm comm, const char *path, uint64_t job_hash, struct qz_ckpt *ck,
                            int *found, struct qz_error *err);

/* Collective: this rank's share of the sections merged into the best k entries, best
 * first: *e (malloc'd), *n and *ties (ties_out of the merged set); the payloads of
 * those entries are put into pl. seed: the run's tie-key seed. */
enum qz_status qz_ckpt_load(MPI_Comm comm, const char *path, const struct qz_ckpt *ck,
                            uint64_t seed, size_t k, struct qz_entry **e, size_t *n, uint64_t *ties,
                            struct qz_payloads *pl, struct qz_error *err);

void qz_ckpt_free(struct qz_ckpt *ck);

/* Root: remove the checkpoint at path and its ledger (a finished run no longer needs
 * them). */
void qz_ckpt_remove(const char *path);

/* The ledger beside a checkpoint (`CKPT.ledger`, common/sidefile.h): what a session
 * did after checkpoint `follows` was written, as the totals a checkpoint written at
 * that moment would have held, so that a session killed without a checkpoint still
 * counts its work. Rank 0 rewrites it (atomically: a temporary file renamed) at most
 * every few seconds at a meeting; a run resuming checkpoint `follows` of the same job
 * and task takes its totals. Plain text, one "name value" per line. */
struct qz_ledger {
    uint64_t job_hash, task;
    uint64_t follows;        /* the checkpoint's number (its header's `checkpoints`) */
    uint64_t drawn_since;    /* samples drawn since that checkpoint (all ranks) */
    uint64_t samples_redone; /* the run's total, drawn_since included */
    uint64_t requests, retries, prompt_tokens, completion_tokens; /* the run's totals */
};

/* Local (rank 0): write the ledger of the checkpoint at ckpt_path; 0 on success. */
int qz_ledger_write(const char *ckpt_path, const struct qz_ledger *l);

/* Local: read it; 1 when there is one that parses, else 0. */
int qz_ledger_read(const char *ckpt_path, struct qz_ledger *l);

#endif
