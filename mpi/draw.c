#include "draw.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "agree.h"
#include "ckpt.h"
#include "interrupt.h"
#include "progress.h"
#include "run_work.h"
#include "schedule.h"
#include "select.h"

#define QZ_BATCH_MAX 2048    /* samples per generator call */
#define QZ_SYNC_SECONDS 0.25 /* target time between the ranks' meetings */

/* A rank's ranking state while it draws. */
struct ranker {
    const struct qz_job *job;
    struct qz_topset *ts;
    struct qz_payloads *pl; /* the payloads of the samples in ts (mpi/run_work.h) */
    int text;               /* the samples are text */
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
    enum qz_status rc = QZ_OK;

    for (size_t j = from; j < to; j++) {
        if (u[j] < ts->thr)
            continue;
        if (isnan(u[j])) {
            if (job->invalid == QZ_INVALID_ERROR) {
                /* a sample the generator failed: say why it did */
                const char *why = job->gen.ops->last_failure && isnan(b->value[j])
                                      ? job->gen.ops->last_failure(job->gen.state)
                                      : "";
                return qz_error_set(err, QZ_EINVALID,
                                    "sample %llu (chunk %llu) is invalid: its %s is not a number "
                                    "%s%s%s(set \"invalid\": \"exclude\" in the job to exclude "
                                    "and count such samples)",
                                    (unsigned long long)(first + j),
                                    (unsigned long long)((first + j) / job->chunk_size),
                                    c && isnan(c[j]) ? "cost" : "utility",
                                    why[0] ? "(the generator's last failure: " : "", why,
                                    why[0] ? ") " : "");
            }
            rk->invalid++;
            continue;
        }
        if ((rc = qz_topset_push(ts, u[j], c ? c[j] : NAN, first + j, err)))
            return rc;
        if (rk->text)
            rc = qz_payload_put(rk->pl, first + j, b->text + b->text_off[j], b->text_len[j],
                                b->tokens[j], b->logprob_sum[j], err);
        else if (memcmp(&b->value[j], &u[j], sizeof u[j]) != 0)
            rc = qz_run_put_value(rk->pl, first + j, b->value[j], err);
        if (rc)
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
    if (rk->pl->count > 2 * rk->ts->cap)
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

/* Collective: write a checkpoint holding chunks below `chunks`; done and invalid are
 * this session's sums over the ranks. */
static enum qz_status checkpoint(MPI_Comm comm, const struct qz_job *job,
                                 const struct qz_run_options *opt, uint64_t chunks, uint64_t done,
                                 uint64_t invalid, struct qz_run *run, struct qz_error *err)
{
    struct qz_run_work *w = run->work;
    const struct qz_run_base *base = &w->base;
    struct qz_ckpt_header h;
    struct qz_gen_stats st;
    double t0 = MPI_Wtime(), took;
    enum qz_status rc;

    if (opt->archive_path && (rc = qz_archive_flush(comm, &w->archive, err)))
        return rc;
    qz_gen_stats_total(comm, job, &base->stats, &st);
    qz_ckpt_header_init(&h, job, opt->job_hash, opt->task);
    h.chunks_done = chunks;
    h.samples_done = base->done + done;
    h.invalid = base->invalid + invalid;
    qz_ckpt_set_stats(&h, &st);
    if (job->gen.ops->report) {
        struct qz_gen_report r;
        qz_gen_report_total(comm, job, &base->report, &r);
        qz_ckpt_set_report(&h, &r);
    }
    h.checkpoints = run->fig.checkpoints + 1;
    h.resumes = run->fig.resumes;
    h.checkpoint_seconds = run->fig.checkpoint_seconds;
    h.archive_text_bytes = opt->archive_path ? w->archive.text_total : 0;
    qz_sum_over_ranks(comm, &w->cost_sum, &base->sum1, &h.cost_sum);
    qz_sum_over_ranks(comm, &w->cost_sq, &base->sum2, &h.cost_sq);
    rc = qz_ckpt_write(comm, opt->ckpt_path, &h, &w->set, &w->payloads, err);
    took = MPI_Wtime() - t0;
    MPI_Allreduce(MPI_IN_PLACE, &took, 1, MPI_DOUBLE, MPI_MAX, comm);
    if (rc == QZ_OK) {
        run->fig.checkpoints++;
        run->fig.checkpoint_seconds += took;
    }
    return rc;
}

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
                               const struct qz_run_options *opt, struct qz_run *run,
                               struct qz_error *err)
{
    struct qz_run_work *w = run->work;
    const struct qz_run_base *base = &w->base;
    int rank, size;
    uint64_t nchunks = (job->samples + job->chunk_size - 1) / job->chunk_size;
    uint64_t lo = base->chunks, span, *start = NULL;
    struct ranker rk = {job,
                        &w->set,
                        &w->payloads,
                        run->fig.text,
                        opt->archive_path ? &w->archive : NULL,
                        {0, 0, 0, 0},
                        {0, 0, 0, 0},
                        &w->cost_sum,
                        &w->cost_sq,
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
    memset(&sched, 0, sizeof sched);
    rc = qz_batch_init(&b, job->chunk_size < QZ_BATCH_MAX ? job->chunk_size : QZ_BATCH_MAX, err);
    if (rc == QZ_OK)
        rc = qz_schedule_init(&sched, (size_t)size, err);
    all = malloc((size_t)size * sizeof *all);
    rates = malloc((size_t)size * sizeof *rates);
    start = malloc(((size_t)size + 1) * sizeof *start);
    if (rc == QZ_OK && (!all || !rates || !start))
        rc = qz_error_set(err, QZ_ENOMEM, "rank %d: out of memory for the schedule", rank);
    if ((rc = qz_agree(comm, rc, err)))
        goto done;
    qz_progress_start(&prog, rank == 0 ? opt->progress : NULL, job->samples, opt->progress_every,
                      last_ckpt);
    prog.base = base->done;
    run->fig.invalid = base->invalid;
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
        MPI_Allgather(&mine, (int)sizeof mine, MPI_BYTE, all, (int)sizeof mine, MPI_BYTE, comm);
        t = sum_reports(all, size);
        qz_progress_update(&prog, base->done + (uint64_t)t.done, now);
        run->fig.invalid = base->invalid + (uint64_t)t.invalid;
        if (t.failed)
            break; /* some rank failed; qz_agree below hands its message to all */
        if (rk.ar && (rc = qz_archive_sync(comm, rk.ar, hi, err)))
            break; /* agreed: text archives place the texts of the chunks done */
        if (hi == nchunks) {
            qz_progress_finish(&prog, base->done + (uint64_t)t.done, now);
            break; /* all drawn: a stop request now lets the run finish */
        }
        if (t.stop || t.ckpt) {
            rc = checkpoint(comm, job, opt, hi, (uint64_t)t.done, (uint64_t)t.invalid, run, err);
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
                fprintf(
                    opt->progress,
                    "%scheckpoint %llu: %llu of %llu samples in %s (%.3f s in all)\n",
                    prog.tty && prog.shown ? "\n" : "", (unsigned long long)run->fig.checkpoints,
                    (unsigned long long)(base->done + (uint64_t)t.done),
                    (unsigned long long)job->samples, opt->ckpt_path, run->fig.checkpoint_seconds);
        }
        /* The next interval, dealt by the rates all ranks just reported. */
        for (int r = 0; r < size; r++)
            rates[r] = all[r].rate;
        qz_schedule_observe(&sched, rates);
        lo = hi;
        span = qz_schedule_span(&sched, QZ_SYNC_SECONDS, span, nchunks - lo);
    }
done:
    qz_batch_free(&b);
    qz_schedule_free(&sched);
    free(all);
    free(rates);
    free(start);
    return rc == QZ_ESTOPPED ? rc : qz_agree(comm, rc, err);
}

enum qz_status qz_draw_resume(MPI_Comm comm, const struct qz_job *job,
                              const struct qz_run_options *opt, struct qz_run *run,
                              struct qz_error *err)
{
    struct qz_run_work *w;
    int rank, size, found = 0;
    struct qz_ckpt ck;
    struct qz_entry *e = NULL;
    size_t n = 0;
    uint64_t kmax = 0, ties = 0, ck_text_bytes = 0;
    enum qz_status rc = QZ_OK;

    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    memset(run, 0, sizeof *run);
    if (!(w = run->work = calloc(1, sizeof *run->work)))
        rc = qz_error_set(err, QZ_ENOMEM, "rank %d: out of memory", rank);
    if ((rc = qz_agree(comm, rc, err)))
        return rc;
    qz_archive_init(&w->archive);
    qz_exactsum_init(&w->cost_sum);
    qz_exactsum_init(&w->cost_sq);
    qz_exactsum_init(&w->base.sum1);
    qz_exactsum_init(&w->base.sum2);
    qz_payload_init(&w->payloads);
    run->fig.samples = job->samples;
    run->fig.has_cost = job->cost.ops != NULL;
    run->fig.cost_base_mean = run->fig.cost_base_stderr = NAN;
    run->fig.text = qz_job_text_samples(job);
    /* Room for the largest K any outcome can need (no invalid samples); memory is
     * bounded by the samples this rank draws. */
    for (size_t i = 0; i < job->nq; i++) {
        uint64_t k = qz_top_count(qz_mass(job->q_list[i], job->samples));
        kmax = k > kmax ? k : kmax;
    }

    memset(&ck, 0, sizeof ck);
    if (opt->ckpt_path &&
        (rc = qz_ckpt_find(comm, opt->ckpt_path, opt->job_hash, &ck, &found, err)))
        return rc;
    if (found && (ck.h.task != opt->task || ck.h.samples != job->samples ||
                  ck.h.chunk_size != job->chunk_size || ck.h.text != (uint64_t)run->fig.text ||
                  ck.h.chunks_done * job->chunk_size >= job->samples + job->chunk_size))
        rc = qz_error_set(err, QZ_ECKPT,
                          "checkpoint %s does not fit this run (task %llu, %llu chunks done): "
                          "remove it to start afresh",
                          opt->ckpt_path, (unsigned long long)ck.h.task,
                          (unsigned long long)ck.h.chunks_done);
    if (found && rc == QZ_OK)
        rc = qz_ckpt_load(comm, opt->ckpt_path, &ck, job->seed, kmax, &e, &n, &ties, &w->payloads,
                          err);
    if (found && rc == QZ_OK) {
        w->base.chunks = ck.h.chunks_done;
        w->base.done = ck.h.samples_done;
        w->base.invalid = ck.h.invalid;
        w->base.stats = qz_ckpt_stats(&ck.h);
        qz_ckpt_report(&ck.h, &w->base.report);
        w->base.sum1 = ck.h.cost_sum;
        w->base.sum2 = ck.h.cost_sq;
        ck_text_bytes = ck.h.archive_text_bytes;
        run->fig.checkpoints = ck.h.checkpoints;
        run->fig.checkpoint_seconds = ck.h.checkpoint_seconds;
        run->fig.resumes = ck.h.resumes + 1;
        run->fig.resumed_samples = ck.h.samples_done;
        if (rank == 0 && opt->progress)
            fprintf(opt->progress,
                    "resuming from checkpoint %s: %llu of %llu samples done (written by %u "
                    "rank%s)\n",
                    opt->ckpt_path, (unsigned long long)w->base.done,
                    (unsigned long long)job->samples, ck.h.ranks, ck.h.ranks == 1 ? "" : "s");
    }
    qz_ckpt_free(&ck);
    if (rc == QZ_OK && opt->archive_path)
        rc = qz_archive_open(comm, opt->archive_path, opt->run, job, found && w->base.chunks > 0,
                             w->base.chunks, ck_text_bytes, &w->archive, err);
    if (rc) {
        free(e);
        return rc;
    }
    rc = qz_topset_init(&w->set, kmax, rank_samples(job, w->base.chunks, rank, size) + n, job->seed,
                        err);
    if (rc == QZ_OK && n) {
        memcpy(w->set.e, e, n * sizeof *e);
        w->set.n = n;
        if (n == kmax || ties) {
            w->set.thr = e[n - 1].utility;
            w->set.ties_out = ties;
        }
    }
    free(e);
    if ((rc = qz_agree(comm, rc, err)) && opt->archive_path) {
        struct qz_error ignored;
        qz_archive_close(comm, &w->archive, 0, &ignored); /* collective: all fail here */
    }
    return rc;
}

enum qz_status qz_draw(MPI_Comm comm, const struct qz_job *job, const struct qz_run_options *opt,
                       struct qz_run *run, struct qz_error *err)
{
    enum qz_status rc = draw_all(comm, job, opt, run, err);
    if (opt->archive_path) {
        enum qz_status rc2 = qz_archive_close(comm, &run->work->archive, rc == QZ_OK, err);
        rc = rc ? rc : rc2;
    }
    return rc;
}
