#include "driver.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <sys/resource.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "agree.h"
#include "ckpt.h"
#include "exactsum.h"
#include "dselect.h"
#include "interrupt.h"
#include "payload.h"
#include "progress.h"
#include "schedule.h"
#include "reduce.h"
#include "select.h"
#include "sweep.h"

#define QZ_BATCH_MAX 2048    /* samples per generator call */
#define QZ_SYNC_SECONDS 0.25 /* target time between the ranks' meetings */

/* A rank's ranking state while it draws. */
struct ranker {
    const struct qz_job *job;
    struct qz_topset *ts;
    struct qz_payloads *pl; /* text jobs: payloads of the samples in ts; else NULL */
    struct qz_archive *ar;  /* the job archives every sample: here; else NULL */
    /* With a cost scorer: the chunk's partial sums of c and c² over valid samples, by
     * position in the chunk mod 4 (a fixed order, so the chunk's sums are the same on
     * any rank), added exactly to sum1/sum2 when the chunk ends. */
    double lane1[4], lane2[4];
    struct qz_exactsum *sum1, *sum2;
    uint64_t done;    /* samples drawn by this rank */
    uint64_t invalid; /* invalid samples excluded by this rank */
};

#define QZ_SCAN_BLOCK 32

/* The scores of a batch: a view of a batch field when the scorer is one (no copy),
 * else scored into `into`. */
static enum qz_status scores(const struct qz_score *sc, struct qz_batch *b, double *into,
                             const double **out, struct qz_error *err)
{
    if (sc->ops->view && (*out = sc->ops->view(b)))
        return QZ_OK;
    *out = into;
    return sc->ops->score(sc->state, b, into, err);
}

/* 1 if some u[j] (j < QZ_SCAN_BLOCK) is at or above thr, or NaN: most blocks of
 * most runs hold no candidate at all, and this answers for 32 samples at once. */
static inline int block_has_candidate(const double *u, double thr)
{
#ifdef __SSE2__
    const __m128d t = _mm_set1_pd(thr);
    __m128d any = _mm_setzero_pd();
    for (size_t j = 0; j < QZ_SCAN_BLOCK; j += 2)
        any = _mm_or_pd(any, _mm_cmpnlt_pd(_mm_loadu_pd(u + j), t)); /* !(u < thr) */
    return _mm_movemask_pd(any) != 0;
#else
    int any = 0;
    for (size_t j = 0; j < QZ_SCAN_BLOCK; j++)
        any |= !(u[j] < thr);
    return any;
#endif
}

/* The slow path for samples first+j, j in [from, to): invalid samples and candidates. */
static enum qz_status rank_range(struct ranker *rk, const struct qz_batch *b, const double *u,
                                 const double *c, size_t from, size_t to, struct qz_error *err)
{
    const struct qz_job *job = rk->job;
    struct qz_topset *ts = rk->ts;
    uint64_t first = b->first;
    enum qz_status rc;

    for (size_t j = from; j < to; j++) {
        if (u[j] < ts->thr)
            continue;
        if (isnan(u[j])) {
            if (job->invalid == QZ_INVALID_ERROR)
                return qz_error_set(err, QZ_EINVALID,
                                    "sample %llu (chunk %llu) is invalid: its %s is not a number "
                                    "(set \"invalid\": \"exclude\" in the job to exclude and "
                                    "count such samples)",
                                    (unsigned long long)(first + j),
                                    (unsigned long long)((first + j) / job->chunk_size),
                                    c && isnan(c[j]) ? "cost" : "utility");
            rk->invalid++;
            continue;
        }
        if ((rc = qz_topset_push(ts, u[j], c ? c[j] : NAN, first + j, err)) ||
            (rk->pl && (rc = qz_payload_put(rk->pl, first + j, b->text + b->text_off[j],
                                            b->text_len[j], b->tokens[j], b->logprob_sum[j], err))))
            return rc;
    }
    return QZ_OK;
}

/* Draw, score and rank the samples of one batch. */
static enum qz_status run_batch(struct ranker *rk, struct qz_batch *b, uint64_t first, size_t n,
                                struct qz_error *err)
{
    const struct qz_job *job = rk->job;
    const double *u, *c = NULL;
    size_t j = 0;
    enum qz_status rc;

    if ((rc = job->gen.ops->draw(job->gen.state, first, n, b, err)) ||
        (rc = scores(&job->utility, b, b->utility, &u, err)) ||
        (job->cost.ops && (rc = scores(&job->cost, b, b->cost, &c, err))))
        return rc;
    if (rk->ar &&
        (rc = qz_archive_put(rk->ar, first, n, u, c, b->value, b->has_text ? b : NULL, err)))
        return rc;
    if (job->cost.ops) {
        int bad = 0;
        for (size_t i = 0; i < n; i++)
            bad |= isnan(c[i]);
        if (bad) {
            /* A sample whose cost failed is invalid as a whole: mark it through utility. */
            if (u != b->utility)
                memcpy(b->utility, u, n * sizeof *u);
            for (size_t i = 0; i < n; i++)
                if (isnan(c[i]))
                    b->utility[i] = NAN;
            u = b->utility;
        }
    }
    for (; j + QZ_SCAN_BLOCK <= n; j += QZ_SCAN_BLOCK)
        if (block_has_candidate(u + j, rk->ts->thr) &&
            (rc = rank_range(rk, b, u, c, j, j + QZ_SCAN_BLOCK, err)))
            return rc;
    if ((rc = rank_range(rk, b, u, c, j, n, err)))
        return rc;
    if (c) /* valid samples only: u is NaN where u or c is */
        for (size_t i = 0; i < n; i++) {
            double x = u[i] == u[i] ? c[i] : 0.0;
            rk->lane1[i & 3] += x;
            rk->lane2[i & 3] += x * x;
        }
    rk->done += n;
    /* Payloads of samples the top set has dropped since are garbage: collect it. */
    if (rk->pl && rk->pl->count > 2 * rk->ts->cap)
        return qz_payload_retain(rk->pl, rk->ts->e, rk->ts->n, err);
    return QZ_OK;
}

static enum qz_status run_chunk(struct ranker *rk, struct qz_batch *b, uint64_t chunk,
                                struct qz_error *err)
{
    const struct qz_job *job = rk->job;
    uint64_t first = chunk * job->chunk_size;
    uint64_t end = first + job->chunk_size < job->samples ? first + job->chunk_size : job->samples;

    /* Batches start at multiples of b->cap (a multiple of 4, or the whole chunk) into
     * the chunk, so a sample's lane is its position in the chunk mod 4. */
    for (uint64_t i = first; i < end; i += b->cap) {
        size_t n = end - i < b->cap ? (size_t)(end - i) : b->cap;
        enum qz_status rc = run_batch(rk, b, i, n, err);
        if (rc)
            return rc;
    }
    if (job->cost.ops) {
        qz_exactsum_add(rk->sum1, (rk->lane1[0] + rk->lane1[1]) + (rk->lane1[2] + rk->lane1[3]));
        qz_exactsum_add(rk->sum2, (rk->lane2[0] + rk->lane2[1]) + (rk->lane2[2] + rk->lane2[3]));
        memset(rk->lane1, 0, sizeof rk->lane1);
        memset(rk->lane2, 0, sizeof rk->lane2);
    }
    return rk->ar ? qz_archive_end_chunk(rk->ar, err) : QZ_OK;
}

/* Samples in the chunks rank draws from chunk `from` on: from + rank, from + rank + P, ... */
static uint64_t rank_samples(const struct qz_job *job, uint64_t from, int rank, int size)
{
    uint64_t nchunks = (job->samples + job->chunk_size - 1) / job->chunk_size;
    uint64_t left = nchunks > from ? nchunks - from : 0;
    uint64_t mine =
        left > (uint64_t)rank ? (left - (uint64_t)rank + (uint64_t)size - 1) / (uint64_t)size : 0;
    uint64_t total = mine * job->chunk_size;
    /* the last chunk may be short */
    if (mine && (left - 1) % (uint64_t)size == (uint64_t)rank)
        total -= nchunks * job->chunk_size - job->samples;
    return total;
}

/* Where a run starts: what a resumed checkpoint holds (all zero for a fresh run). */
struct resume {
    uint64_t chunks;               /* chunks below this are done */
    uint64_t done;                 /* their samples */
    uint64_t invalid;              /* invalid samples among them */
    uint64_t stats[5];             /* generator statistics so far */
    struct qz_exactsum sum1, sum2; /* Σc and Σc² over their valid samples */
};

/* Collective: the exact sums of all ranks (and of base, counted once), on every rank. */
static void sum_over_ranks(MPI_Comm comm, const struct qz_exactsum *mine,
                           const struct qz_exactsum *base, struct qz_exactsum *out)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    *out = *mine;
    if (rank == 0 && base)
        qz_exactsum_merge(out, base);
    qz_exactsum_normalize(out);
    MPI_Allreduce(MPI_IN_PLACE, out, QZ_EXACTSUM_WORDS, MPI_INT64_T, MPI_SUM, comm);
}

static void gen_stats(const struct qz_job *job, uint64_t st[5])
{
    struct qz_gen_stats gs = {0, 0, 0, 0, 0};
    if (job->gen.ops->stats)
        job->gen.ops->stats(job->gen.state, &gs);
    st[0] = gs.requests;
    st[1] = gs.retries;
    st[2] = gs.failed_samples;
    st[3] = gs.prompt_tokens;
    st[4] = gs.completion_tokens;
}

/* Collective: write a checkpoint holding chunks below `chunks`; done and invalid are
 * this session's sums over the ranks. */
static enum qz_status checkpoint(MPI_Comm comm, const struct qz_job *job,
                                 const struct qz_run_options *opt, const struct resume *base,
                                 uint64_t chunks, uint64_t done, uint64_t invalid,
                                 struct qz_run_result *res, struct qz_error *err)
{
    struct qz_ckpt_header h;
    uint64_t st[5];
    double t0 = MPI_Wtime(), took;
    enum qz_status rc;

    if (opt->archive_path && (rc = qz_archive_flush(comm, &res->archive, err)))
        return rc;
    gen_stats(job, st);
    MPI_Allreduce(MPI_IN_PLACE, st, 5, MPI_UINT64_T, MPI_SUM, comm);
    memset(&h, 0, sizeof h);
    memcpy(h.magic, QZ_CKPT_MAGIC, sizeof h.magic);
    h.version = QZ_CKPT_VERSION;
    h.job_hash = opt->job_hash;
    h.task = opt->task;
    h.samples = job->samples;
    h.chunk_size = job->chunk_size;
    h.chunks_done = chunks;
    h.samples_done = base->done + done;
    h.invalid = base->invalid + invalid;
    for (int i = 0; i < 5; i++)
        h.stats[i] = base->stats[i] + st[i];
    h.text = (uint64_t)res->text;
    h.checkpoints = res->checkpoints + 1;
    h.resumes = res->resumes;
    h.checkpoint_seconds = res->checkpoint_seconds;
    h.archive_text_bytes = opt->archive_path ? res->archive.text_total : 0;
    sum_over_ranks(comm, &res->cost_sum, &base->sum1, &h.cost_sum);
    sum_over_ranks(comm, &res->cost_sq, &base->sum2, &h.cost_sq);
    rc = qz_ckpt_write(comm, opt->ckpt_path, &h, &res->set, res->text ? &res->payloads : NULL, err);
    took = MPI_Wtime() - t0;
    MPI_Allreduce(MPI_IN_PLACE, &took, 1, MPI_DOUBLE, MPI_MAX, comm);
    if (rc == QZ_OK) {
        res->checkpoints++;
        res->checkpoint_seconds += took;
    }
    return rc;
}

/* The meeting's figures, summed over the ranks. */
/* What each rank brings to a meeting. */
struct report {
    int64_t failed;  /* this rank failed */
    int64_t done;    /* samples it drew in this session */
    int64_t invalid; /* invalid samples it excluded */
    int64_t stop;    /* it received a stop request (SIGUSR1, SIGTERM) */
    int64_t ckpt;    /* rank 0: a periodic checkpoint is due */
    double rate;     /* chunks per second it drew in the interval (0: drew none) */
};

/* The figures of a meeting, the same on every rank: sums over the reports. */
static struct report sum_reports(const struct report *all, int size)
{
    struct report t = {0, 0, 0, 0, all[0].ckpt, 0};
    for (int r = 0; r < size; r++) {
        t.failed += all[r].failed;
        t.done += all[r].done;
        t.invalid += all[r].invalid;
        t.stop += all[r].stop;
    }
    return t;
}

/* The draw loop: intervals of chunks between meetings, from chunk base->chunks on
 * (common/schedule.h deals each interval to the ranks). */
static enum qz_status draw_all(MPI_Comm comm, const struct qz_job *job,
                               const struct qz_run_options *opt, const struct resume *base,
                               struct qz_run_result *res, struct qz_error *err)
{
    int rank, size;
    uint64_t nchunks = (job->samples + job->chunk_size - 1) / job->chunk_size;
    uint64_t lo = base->chunks, span, *start = NULL;
    struct ranker rk = {job,
                        &res->set,
                        res->text ? &res->payloads : NULL,
                        opt->archive_path ? &res->archive : NULL,
                        {0, 0, 0, 0},
                        {0, 0, 0, 0},
                        &res->cost_sum,
                        &res->cost_sq,
                        0,
                        0};
    struct report *all = NULL;
    struct qz_schedule sched;
    struct qz_batch b;
    struct qz_progress prog;
    double last_ckpt = MPI_Wtime(), *rates = NULL;
    enum qz_status rc;

    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    rc = qz_batch_init(&b, job->chunk_size < QZ_BATCH_MAX ? job->chunk_size : QZ_BATCH_MAX, err);
    if (qz_schedule_init(&sched, (size_t)size, err) ||
        !(all = malloc((size_t)size * sizeof *all)) ||
        !(rates = malloc((size_t)size * sizeof *rates)) ||
        !(start = malloc(((size_t)size + 1) * sizeof *start)))
        QZ_ABORT(comm, "out of memory for the schedule");
    qz_progress_start(&prog, rank == 0 ? opt->progress : NULL, job->samples, opt->progress_every,
                      last_ckpt);
    prog.base = base->done;
    res->invalid = base->invalid;
    span = nchunks - lo < (uint64_t)size ? nchunks - lo : (uint64_t)size;
    while (lo < nchunks) {
        struct report mine = {0, 0, 0, 0, 0, 0}, t;
        double t0 = MPI_Wtime(), now;
        uint64_t hi = lo + span, mine_n;

        qz_schedule_split(&sched, span, start);
        mine_n = start[rank + 1] - start[rank];
        for (uint64_t c = lo + start[rank]; rc == QZ_OK && c < lo + start[rank + 1]; c++)
            rc = run_chunk(&rk, &b, c, err);
        now = MPI_Wtime();
        mine.failed = rc != QZ_OK;
        mine.done = (int64_t)rk.done;
        mine.invalid = (int64_t)rk.invalid;
        mine.stop = opt->ckpt_path && qz_interrupt_pending();
        mine.ckpt = rank == 0 && opt->ckpt_path && opt->ckpt_every > 0 &&
                    now - last_ckpt >= opt->ckpt_every;
        mine.rate = mine_n && now > t0 ? (double)mine_n / (now - t0) : 0;
        if (MPI_Allgather(&mine, (int)sizeof mine, MPI_BYTE, all, (int)sizeof mine, MPI_BYTE,
                          comm) != MPI_SUCCESS)
            QZ_ABORT(comm, "MPI_Allgather failed in the draw loop");
        t = sum_reports(all, size);
        qz_progress_update(&prog, base->done + (uint64_t)t.done, now);
        res->invalid = base->invalid + (uint64_t)t.invalid;
        if (t.failed)
            break; /* some rank failed; qz_agree below hands its message to all */
        if (rk.ar && (rc = qz_archive_sync(comm, rk.ar, hi, err)))
            break; /* agreed: text archives place the texts of the chunks done */
        if (hi == nchunks) {
            qz_progress_finish(&prog, base->done + (uint64_t)t.done, now);
            break; /* all drawn: a stop request now lets the run finish */
        }
        if (t.stop || t.ckpt) {
            rc = checkpoint(comm, job, opt, base, hi, (uint64_t)t.done, (uint64_t)t.invalid, res,
                            err);
            last_ckpt = MPI_Wtime();
            if (rc == QZ_OK && t.stop) {
                int sig = qz_interrupt_pending();
                rc = qz_error_set(err, QZ_ESTOPPED,
                                  "stopped by %s after checkpointing %llu of %llu samples to %s: "
                                  "run the same command again to resume",
                                  sig == SIGUSR1   ? "SIGUSR1"
                                  : sig == SIGTERM ? "SIGTERM"
                                                   : "a signal to another rank",
                                  (unsigned long long)(base->done + (uint64_t)t.done),
                                  (unsigned long long)job->samples, opt->ckpt_path);
            }
            if (rc)
                break; /* every rank has the same status */
            if (rank == 0 && opt->progress)
                fprintf(opt->progress,
                        "%scheckpoint %llu: %llu of %llu samples in %s (%.3f s in all)\n",
                        prog.tty && prog.shown ? "\n" : "", (unsigned long long)res->checkpoints,
                        (unsigned long long)(base->done + (uint64_t)t.done),
                        (unsigned long long)job->samples, opt->ckpt_path, res->checkpoint_seconds);
        }
        /* The next interval, dealt by the rates all ranks just reported. */
        for (int r = 0; r < size; r++)
            rates[r] = all[r].rate;
        qz_schedule_observe(&sched, rates);
        lo = hi;
        span = qz_schedule_span(&sched, QZ_SYNC_SECONDS, span, nchunks - lo);
    }
    qz_batch_free(&b);
    qz_schedule_free(&sched);
    free(all);
    free(rates);
    free(start);
    return rc == QZ_ESTOPPED ? rc : qz_agree(comm, rc, err);
}

/* Collective: resume from the checkpoint at opt->ckpt_path if there is one, and set
 * up this rank's top set (with the checkpoint's entries dealt to it). */
static enum qz_status start(MPI_Comm comm, const struct qz_job *job,
                            const struct qz_run_options *opt, uint64_t kmax, struct resume *base,
                            struct qz_run_result *res, struct qz_error *err)
{
    int rank, size, found = 0;
    struct qz_ckpt ck;
    struct qz_entry *e = NULL;
    size_t n = 0;
    uint64_t ties = 0;
    uint64_t ck_text_bytes = 0;
    enum qz_status rc = QZ_OK;

    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    memset(base, 0, sizeof *base);
    qz_exactsum_init(&base->sum1);
    qz_exactsum_init(&base->sum2);
    memset(&ck, 0, sizeof ck);
    if (opt->ckpt_path &&
        (rc = qz_ckpt_find(comm, opt->ckpt_path, opt->job_hash, &ck, &found, err)))
        return rc;
    if (found && (ck.h.task != opt->task || ck.h.samples != job->samples ||
                  ck.h.chunk_size != job->chunk_size || ck.h.text != (uint64_t)res->text ||
                  ck.h.chunks_done * job->chunk_size >= job->samples + job->chunk_size))
        rc = qz_error_set(err, QZ_ECKPT,
                          "checkpoint %s does not fit this run (task %llu, %llu chunks done): "
                          "remove it to start afresh",
                          opt->ckpt_path, (unsigned long long)ck.h.task,
                          (unsigned long long)ck.h.chunks_done);
    if (found && rc == QZ_OK)
        rc = qz_ckpt_load(comm, opt->ckpt_path, &ck, job->seed, kmax, &e, &n, &ties,
                          res->text ? &res->payloads : NULL, err);
    if (found && rc == QZ_OK) {
        base->chunks = ck.h.chunks_done;
        base->done = ck.h.samples_done;
        base->invalid = ck.h.invalid;
        memcpy(base->stats, ck.h.stats, sizeof base->stats);
        base->sum1 = ck.h.cost_sum;
        base->sum2 = ck.h.cost_sq;
        ck_text_bytes = ck.h.archive_text_bytes;
        res->checkpoints = ck.h.checkpoints;
        res->checkpoint_seconds = ck.h.checkpoint_seconds;
        res->resumes = ck.h.resumes + 1;
        res->resumed_samples = ck.h.samples_done;
        if (rank == 0 && opt->progress)
            fprintf(opt->progress,
                    "resuming from checkpoint %s: %llu of %llu samples done (written by %u "
                    "rank%s)\n",
                    opt->ckpt_path, (unsigned long long)base->done,
                    (unsigned long long)job->samples, ck.h.ranks, ck.h.ranks == 1 ? "" : "s");
    }
    qz_ckpt_free(&ck);
    if (rc == QZ_OK && opt->archive_path)
        rc = qz_archive_open(comm, opt->archive_path, opt->run, job, found && base->chunks > 0,
                             base->chunks, ck_text_bytes, &res->archive, err);
    if (rc) {
        free(e);
        return rc;
    }
    rc = qz_topset_init(&res->set, kmax, rank_samples(job, base->chunks, rank, size) + n, job->seed,
                        err);
    if (rc == QZ_OK && n) {
        memcpy(res->set.e, e, n * sizeof *e);
        res->set.n = n;
        if (n == kmax || ties) {
            res->set.thr = e[n - 1].utility;
            res->set.ties_out = ties;
        }
    }
    free(e);
    return qz_agree(comm, rc, err);
}

/* Peak resident memory of this process, bytes. */
static uint64_t peak_rss(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (uint64_t)ru.ru_maxrss * 1024; /* Linux reports KiB */
}

/* Collective. The payloads of samples want[0..n) (on the root; n is the root's) from
 * the ranks that hold them, into *out on the root, in the same order. */
static enum qz_status collect_texts(MPI_Comm comm, const struct qz_payloads *pl,
                                    const struct qz_entry *want, size_t n, struct qz_texts *out,
                                    struct qz_error *err)
{
    struct rec {
        uint64_t pos;
        uint32_t len, tokens;
        double logprob_sum;
    } *mine = NULL, *all = NULL;
    int rank, size, *rcount = NULL, *rdispl = NULL, *bcount = NULL, *bdispl = NULL;
    uint64_t count = n, *idx = NULL, nmine = 0, bytes = 0, off;
    char *text = NULL, *alltext = NULL;
    enum qz_status rc = QZ_OK;

    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    memset(out, 0, sizeof *out);
    MPI_Bcast(&count, 1, MPI_UINT64_T, 0, comm);
    idx = malloc((count ? count : 1) * sizeof *idx);
    if (!idx)
        QZ_ABORT(comm, "out of memory collecting payloads");
    for (uint64_t i = 0; rank == 0 && i < count; i++)
        idx[i] = want[i].index;
    MPI_Bcast(idx, (int)count, MPI_UINT64_T, 0, comm);
    /* What this rank holds: one record per payload, then the texts back to back. */
    mine = malloc((count ? count : 1) * sizeof *mine);
    for (uint64_t i = 0; mine && i < count; i++) {
        struct qz_payload p;
        if (qz_payload_get(pl, idx[i], &p)) {
            mine[nmine++] = (struct rec){i, p.len, p.tokens, p.logprob_sum};
            bytes += p.len;
        }
    }
    text = malloc(bytes ? bytes : 1);
    if (!mine || !text || bytes > INT32_MAX || nmine * sizeof *mine > INT32_MAX)
        rc = qz_error_set(err, QZ_ENOMEM, "rank %d: cannot send %llu bytes of payloads", rank,
                          (unsigned long long)bytes);
    off = 0;
    for (uint64_t k = 0; rc == QZ_OK && k < nmine; k++) {
        struct qz_payload p;
        qz_payload_get(pl, idx[mine[k].pos], &p);
        memcpy(text + off, p.text, p.len);
        off += p.len;
    }
    if ((rc = qz_agree(comm, rc, err)))
        goto done;
    if (rank == 0) {
        rcount = calloc((size_t)size, sizeof *rcount);
        rdispl = calloc((size_t)size, sizeof *rdispl);
        bcount = calloc((size_t)size, sizeof *bcount);
        bdispl = calloc((size_t)size, sizeof *bdispl);
        if (!rcount || !rdispl || !bcount || !bdispl)
            QZ_ABORT(comm, "out of memory collecting payloads");
    }
    {
        int sizes[2] = {(int)(nmine * sizeof *mine), (int)bytes}, *both = NULL;
        if (rank == 0 && !(both = malloc(2 * (size_t)size * sizeof *both)))
            QZ_ABORT(comm, "out of memory collecting payloads");
        MPI_Gather(sizes, 2, MPI_INT, both, 2, MPI_INT, 0, comm);
        if (rank == 0) {
            uint64_t rt = 0, bt = 0;
            for (int r = 0; r < size; r++) {
                rcount[r] = both[2 * r];
                bcount[r] = both[2 * r + 1];
                rdispl[r] = (int)rt;
                bdispl[r] = (int)bt;
                rt += (uint64_t)rcount[r];
                bt += (uint64_t)bcount[r];
            }
            if (rt > INT32_MAX || bt > INT32_MAX)
                QZ_ABORT(comm,
                         "the top set's payloads exceed 2 GiB: lower output.top_gather_limit");
            all = malloc(rt ? rt : 1);
            alltext = malloc(bt ? bt : 1);
            out->bytes = alltext;
            out->n = count;
            out->off = calloc(count ? count : 1, sizeof *out->off);
            out->len = calloc(count ? count : 1, sizeof *out->len);
            out->tokens = calloc(count ? count : 1, sizeof *out->tokens);
            out->logprob_sum = malloc((count ? count : 1) * sizeof *out->logprob_sum);
            if (!all || !alltext || !out->off || !out->len || !out->tokens || !out->logprob_sum)
                QZ_ABORT(comm, "out of memory collecting payloads");
            free(both);
        }
    }
    MPI_Gatherv(mine, (int)(nmine * sizeof *mine), MPI_BYTE, all, rcount, rdispl, MPI_BYTE, 0,
                comm);
    MPI_Gatherv(text, (int)bytes, MPI_BYTE, alltext, bcount, bdispl, MPI_BYTE, 0, comm);
    if (rank == 0) {
        /* Records arrive rank by rank, each rank's texts in its record order. */
        for (uint64_t i = 0; i < count; i++)
            out->logprob_sum[i] = NAN;
        for (int r = 0; r < size; r++) {
            const struct rec *rr = (const struct rec *)((const char *)all + rdispl[r]);
            uint64_t o = (uint64_t)bdispl[r];
            for (size_t k = 0; k < (size_t)rcount[r] / sizeof *rr; k++) {
                out->off[rr[k].pos] = o;
                out->len[rr[k].pos] = rr[k].len;
                out->tokens[rr[k].pos] = rr[k].tokens;
                out->logprob_sum[rr[k].pos] = rr[k].logprob_sum;
                o += rr[k].len;
            }
        }
    }
done:
    free(idx);
    free(mine);
    free(text);
    free(all);
    free(rcount);
    free(rdispl);
    free(bcount);
    free(bdispl);
    return rc;
}

/* Text jobs: the payloads the record needs, on the root — the whole top set when it
 * was gathered and is written, and always the selected sample's. */
static enum qz_status collect_payloads(MPI_Comm comm, const struct qz_job *job,
                                       struct qz_run_result *res, struct qz_error *err)
{
    int rank;

    MPI_Comm_rank(comm, &rank);
    if (res->gathered && job->output_top)
        return collect_texts(comm, &res->payloads, res->part, rank == 0 ? res->part_n : 0,
                             &res->top_texts, err);
    return collect_texts(comm, &res->payloads, &res->selected, 1, &res->selected_text, err);
}

/* K <= the gather limit: a tree reduction to the root, which selects. */
static enum qz_status select_gathered(MPI_Comm comm, const struct qz_job *job,
                                      struct qz_run_result *res, struct qz_error *err)
{
    int rank;
    enum qz_status rc;
    uint64_t ties = 0, want;
    int sweep_here;

    MPI_Comm_rank(comm, &rank);
    sweep_here = job->sweep && !res->sweep;
    want = sweep_here ? res->sweep_k : res->top_count;
    if ((rc = qz_reduce_topset(comm, &res->set, want, err)))
        return rc;
    if (rank == 0) {
        if (res->set.n != want)
            rc = qz_error_set(err, QZ_EINTERNAL, "top set holds %zu entries, expected %llu",
                              res->set.n, (unsigned long long)want);
        else if (sweep_here && !(res->sweep = malloc(job->nq * sizeof *res->sweep)))
            rc = qz_error_set(err, QZ_ENOMEM, "out of memory for the sweep");
        else if (sweep_here &&
                 (rc = qz_sweep(res->set.e, res->set.n, res->valid, job->seed, job->q_list, job->nq,
                                res->cost_base_mean, res->sweep, err)))
            ;
        else {
            /* The sweep needed the best sweep_k; the run's own top set is its K. */
            qz_topset_truncate(res->set.e, &res->set.n, &res->set.ties_out, res->top_count);
            res->part = res->set.e;
            res->part_n = res->set.n;
            ties = qz_topset_boundary_ties(res->set.e, res->set.n, res->set.ties_out);
            res->threshold = res->set.e[res->set.n - 1];
            res->selected = res->set.e[res->selected_position];
        }
    }
    if ((rc = qz_agree(comm, rc, err)))
        return rc;
    /* Every rank learns the figures the record needs. */
    MPI_Bcast(&ties, 1, MPI_UINT64_T, 0, comm);
    MPI_Bcast(&res->threshold, (int)sizeof res->threshold, MPI_BYTE, 0, comm);
    MPI_Bcast(&res->selected, (int)sizeof res->selected, MPI_BYTE, 0, comm);
    res->boundary_ties = ties;
    return QZ_OK;
}

/* Collective: E_Q[u] and E_Q[c] of the run's selection, from the entries better than
 * the threshold (positions 0 .. K-2, wherever they are held) summed exactly over the
 * ranks, and the threshold's share (qz_sweep_mean: the same bits as a sweep's row). */
static void quantilized_means(MPI_Comm comm, const struct qz_job *job, struct qz_run_result *res)
{
    struct qz_exactsum su, sc, tu, tc;

    qz_exactsum_init(&su);
    qz_exactsum_init(&sc);
    for (size_t i = 0; i < res->set.n; i++)
        if (qz_entry_better(job->seed, &res->set.e[i], &res->threshold)) {
            qz_exactsum_add(&su, res->set.e[i].utility);
            qz_exactsum_add(&sc, res->set.e[i].cost);
        }
    sum_over_ranks(comm, &su, NULL, &tu);
    sum_over_ranks(comm, &sc, NULL, &tc);
    res->utility_q_mean = qz_sweep_mean(&tu, res->threshold.utility, res->mass, res->top_count);
    res->cost_q_mean =
        res->has_cost ? qz_sweep_mean(&tc, res->threshold.cost, res->mass, res->top_count) : NAN;
}

/* Collective: the sweep of a job whose largest K is above the gather limit, from the
 * ranks' sets (best first, each truncated to the largest K): the thresholds and
 * selected entries of every q by one distributed selection, and E_Q[u], E_Q[c] from
 * the entries better than each threshold, summed exactly over the ranks. The same
 * rows as qz_sweep on a gathered set. */
static enum qz_status sweep_distributed(MPI_Comm comm, const struct qz_job *job,
                                        struct qz_run_result *res, struct qz_error *err)
{
    const struct qz_topset *ts = &res->set;
    uint64_t *pos = malloc(2 * job->nq * sizeof *pos);
    struct qz_entry *found = malloc(2 * job->nq * sizeof *found);
    enum qz_status rc = QZ_OK;

    res->sweep = malloc(job->nq * sizeof *res->sweep);
    if (!pos || !found || !res->sweep)
        QZ_ABORT(comm, "out of memory for the sweep");
    for (size_t i = 0; i < job->nq; i++) {
        qz_sweep_row(&res->sweep[i], job->q_list[i], res->valid, job->seed, res->cost_base_mean);
        pos[2 * i] = res->sweep[i].top_count - 1;
        pos[2 * i + 1] = res->sweep[i].selected_position;
    }
    rc = qz_dselect(comm, ts->e, ts->n, job->seed, pos, 2 * job->nq, found, err);
    for (size_t i = 0; rc == QZ_OK && i < job->nq; i++) {
        struct qz_sweep_row *r = &res->sweep[i];
        struct qz_exactsum su, sc, tu, tc;
        size_t better = qz_dselect_count_better(ts->e, ts->n, job->seed, &found[2 * i]);
        qz_exactsum_init(&su);
        qz_exactsum_init(&sc);
        for (size_t j = 0; j < better; j++) {
            qz_exactsum_add(&su, ts->e[j].utility);
            qz_exactsum_add(&sc, ts->e[j].cost);
        }
        sum_over_ranks(comm, &su, NULL, &tu);
        sum_over_ranks(comm, &sc, NULL, &tc);
        r->threshold = found[2 * i].utility;
        r->mean_utility = qz_sweep_mean(&tu, found[2 * i].utility, r->mass, r->top_count);
        r->mean_cost = qz_sweep_mean(&tc, found[2 * i].cost, r->mass, r->top_count);
        r->selected_index = found[2 * i + 1].index;
    }
    free(pos);
    free(found);
    return rc;
}

/* K above the gather limit: distributed selection, and a redistribution into even
 * slices when the job writes top/. */
static enum qz_status select_distributed(MPI_Comm comm, const struct qz_job *job,
                                         struct qz_run_result *res, struct qz_error *err)
{
    struct qz_topset *ts = &res->set;
    uint64_t pos[2] = {res->top_count - 1, res->selected_position}, ties = 0;
    struct qz_entry found[2], *smaller;
    size_t kept;
    enum qz_status rc;

    if ((rc = qz_dselect(comm, ts->e, ts->n, job->seed, pos, 2, found, err)))
        return rc;
    res->threshold = found[0];
    res->selected = found[1];
    /* Samples tied with the threshold: held ones, and those a rank dropped when its
     * lowest held utility is the threshold's. */
    for (size_t i = 0; i < ts->n; i++)
        ties += ts->e[i].utility == res->threshold.utility;
    if (ts->n && ts->e[ts->n - 1].utility == res->threshold.utility)
        ties += ts->ties_out;
    MPI_Allreduce(MPI_IN_PLACE, &ties, 1, MPI_UINT64_T, MPI_SUM, comm);
    res->boundary_ties = ties - 1;
    if (!job->output_top)
        return QZ_OK;
    /* Only entries down to the threshold are part of the top set: drop the rest
     * (and their memory) before the slices arrive. */
    kept = qz_dselect_count_better(ts->e, ts->n, job->seed, &res->threshold);
    if (kept < ts->n && ts->e[kept].index == res->threshold.index)
        kept++; /* the threshold entry itself */
    ts->n = kept;
    if ((smaller = realloc(ts->e, (kept ? kept : 1) * sizeof *smaller))) {
        ts->e = smaller;
        ts->cap = kept ? kept : 1;
    }
    rc = qz_dselect_redistribute(comm, ts->e, ts->n, job->seed, res->top_count, &res->slice,
                                 &res->part_n, &res->part_offset, err);
    res->part = res->slice;
    return rc;
}

enum qz_status qz_run_draw(MPI_Comm comm, const struct qz_job *job,
                           const struct qz_run_options *opt, struct qz_run_result *res,
                           struct qz_error *err)
{
    int rank, size;
    uint64_t kmax, rss[2];
    struct resume base;
    double t0, t1, times[2];
    enum qz_status rc;

    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    memset(res, 0, sizeof *res);
    qz_archive_init(&res->archive);
    qz_exactsum_init(&res->cost_sum);
    qz_exactsum_init(&res->cost_sq);
    res->samples = job->samples;
    /* Room for the largest K any outcome can need (no invalid samples); memory is
     * bounded by the samples this rank draws. */
    kmax = 0; /* the largest K of the job's q values */
    for (size_t i = 0; i < job->nq; i++) {
        uint64_t k = qz_top_count(qz_mass(job->q_list[i], job->samples));
        kmax = k > kmax ? k : kmax;
    }
    res->has_cost = job->cost.ops != NULL;
    res->cost_base_mean = res->cost_base_stderr = NAN;
    res->text = qz_job_text_samples(job);
    qz_payload_init(&res->payloads);
    if ((rc = start(comm, job, opt, kmax, &base, res, err)))
        goto fail;

    t0 = MPI_Wtime();
    rc = draw_all(comm, job, opt, &base, res, err);
    if (opt->archive_path) {
        enum qz_status rc2 = qz_archive_close(comm, &res->archive, rc == QZ_OK, err);
        rc = rc ? rc : rc2;
    }
    if (rc)
        goto fail;
    t1 = MPI_Wtime();
    res->valid = res->samples - res->invalid;
    if (res->valid == 0) {
        rc = qz_error_set(err, QZ_EINVALID, "all %llu samples were invalid: nothing to select",
                          (unsigned long long)res->samples);
        goto fail;
    }
    res->mass = qz_mass(job->q, res->valid);
    res->top_count = qz_top_count(res->mass);
    res->selected_position = qz_select_position(job->seed, 0, res->mass);
    res->gathered = res->top_count <= job->top_gather_limit;

    res->sweep_k = res->top_count;
    for (size_t i = 0; i < job->nq; i++) {
        uint64_t k = qz_top_count(qz_mass(job->q_list[i], res->valid));
        res->sweep_k = k > res->sweep_k ? k : res->sweep_k;
    }
    if (res->has_cost) {
        struct qz_exactsum s1, s2;
        sum_over_ranks(comm, &res->cost_sum, &base.sum1, &s1);
        sum_over_ranks(comm, &res->cost_sq, &base.sum2, &s2);
        qz_sweep_base_cost(qz_exactsum_value(&s1), qz_exactsum_value(&s2), res->valid,
                           &res->cost_base_mean, &res->cost_base_stderr);
    }
    qz_topset_finish(&res->set);
    qz_topset_truncate(res->set.e, &res->set.n, &res->set.ties_out, res->sweep_k);
    rc = res->text ? qz_payload_retain(&res->payloads, res->set.e, res->set.n, err) : QZ_OK;
    if ((rc = qz_agree(comm, rc, err)))
        goto fail;
    /* A sweep whose largest K is above the gather limit is swept where the entries are;
     * select_gathered sweeps the others on the root. */
    if (job->sweep && res->sweep_k > job->top_gather_limit) {
        if ((rc = sweep_distributed(comm, job, res, err)))
            goto fail;
        qz_topset_truncate(res->set.e, &res->set.n, &res->set.ties_out, res->top_count);
    }
    rc = res->gathered ? select_gathered(comm, job, res, err)
                       : select_distributed(comm, job, res, err);
    if ((rc = qz_agree(comm, rc, err)))
        goto fail;
    quantilized_means(comm, job, res);
    if (res->text && (rc = collect_payloads(comm, job, res, err)))
        goto fail;
    if (job->gen.ops->stats) {
        uint64_t st[5];
        gen_stats(job, st);
        MPI_Allreduce(MPI_IN_PLACE, st, 5, MPI_UINT64_T, MPI_SUM, comm);
        for (int i = 0; i < 5; i++)
            st[i] += base.stats[i];
        res->stats = (struct qz_gen_stats){st[0], st[1], st[2], st[3], st[4]};
        res->has_stats = 1;
    }
    times[0] = t1 - t0;
    times[1] = MPI_Wtime() - t1;
    MPI_Allreduce(MPI_IN_PLACE, times, 2, MPI_DOUBLE, MPI_MAX, comm);
    res->draw_seconds = times[0];
    res->select_seconds = times[1];
    rss[0] = peak_rss();
    rss[1] = rss[0];
    MPI_Allreduce(MPI_IN_PLACE, &rss[0], 1, MPI_UINT64_T, MPI_MAX, comm);
    MPI_Bcast(&rss[1], 1, MPI_UINT64_T, 0, comm);
    res->peak_rss_max = rss[0];
    res->peak_rss_root = rss[1];
    return QZ_OK;

fail:
    if (opt->archive_path) {
        struct qz_error ignored;
        qz_archive_close(comm, &res->archive, 0, &ignored); /* collective: all fail here */
    }
    qz_run_result_free(res);
    return rc;
}

void qz_run_result_free(struct qz_run_result *res)
{
    qz_topset_free(&res->set);
    qz_payload_free(&res->payloads);
    free(res->sweep);
    res->sweep = NULL;
    qz_texts_free(&res->top_texts);
    qz_texts_free(&res->selected_text);
    free(res->slice);
    res->slice = res->part = NULL;
    res->part_n = 0;
}
