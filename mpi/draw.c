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
#include "scorer.h"
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
    /* Metrics of scope "all": this rank's sums (run_work.h), and room for a batch's
     * scores (NULL when the job has none). */
    struct qz_ckpt_metric *msum;
    double *mbuf;
    uint64_t done;    /* samples drawn by this rank */
    uint64_t invalid; /* invalid samples excluded by this rank */
    /* Generators whose draws take long and can be abandoned (chunk_hint): the payload
     * store is collected only at meetings (a rollback needs the payloads of the top
     * set it restores), and with a checkpoint path a stop request is looked at
     * between batches and chunks. */
    int interruptible;
    int stop_checks;
};

/* The state of a rank at the start of an interval, for generators whose draws can be
 * abandoned (README "Checkpoints and resuming"): a stopped or failed-over interval is
 * rolled back to it on every rank. */
struct snapshot {
    struct qz_entry *e; /* a copy of the top set's entries */
    size_t n, room;
    double thr;
    uint64_t ties_out;
    uint64_t done, invalid;
    struct qz_exactsum sum1, sum2; /* with a cost scorer */
    struct qz_ckpt_metric *msum;   /* the metrics' sums (jobs with metrics of scope "all") */
    /* the generator's counts that describe samples (not work): failed, repaired */
    uint64_t gen_samples[3];
};

/* The generator's counts about samples rather than work: failed samples, texts
 * repaired to UTF-8, texts with NUL. A rollback takes back the rolled-back samples'
 * share (their requests and tokens were spent: they stay counted). */
static void gen_sample_counts(const struct qz_job *job, uint64_t out[3])
{
    struct qz_gen_stats st;
    memset(&st, 0, sizeof st);
    out[0] = out[1] = out[2] = 0;
    if (job->gen.ops->stats) {
        job->gen.ops->stats(job->gen.state, &st);
        out[0] = st.failed_samples;
        out[1] = st.utf8_repaired_samples;
    }
    if (job->gen.ops->report) {
        struct qz_gen_report r;
        memset(&r, 0, sizeof r);
        job->gen.ops->report(job->gen.state, &r);
        out[2] = r.nul_texts;
    }
}

#define QZ_SCAN_BLOCK 32

/* The scores of a batch: a view of a batch field when the scorer is one (no copy),
 * else scored into `into`. */
static enum qz_status scores(const struct qz_score *sc, struct qz_batch *b, double *into,
                             const double **out, struct qz_error *err)
{
    enum qz_status rc;

    if (sc->ops->view && (*out = sc->ops->view(b)))
        return qz_score_check(sc, b, *out, err);
    *out = into;
    if ((rc = sc->ops->score(sc->state, b, into, err)))
        return rc;
    return qz_score_check(sc, b, into, err);
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

/* Metrics of scope "all": score the batch and add each valid sample's score (u not
 * NaN) to the exact sums, which depend only on the set of samples, never on the rank
 * or the order. */
static enum qz_status score_metrics_all(struct ranker *rk, const struct qz_batch *b,
                                        const double *u, struct qz_error *err)
{
    const struct qz_metrics *ms = &rk->job->metrics;
    enum qz_status rc;

    for (size_t k = 0; k < ms->n; k++) {
        struct qz_ckpt_metric *s = &rk->msum[k];
        if (ms->m[k].scope != QZ_METRIC_ALL)
            continue;
        if ((rc = qz_metric_score(&ms->m[k], b, rk->mbuf, err))) {
            char msg[sizeof err->msg], at[96];
            snprintf(msg, sizeof msg, "%s", err->msg);
            snprintf(at, sizeof at, "metrics.%s: ", ms->m[k].name);
            if (strncmp(msg, at, strlen(at)) == 0) /* the message names the metric already */
                return rc;
            return qz_error_set(err, rc, "%s%s", at, msg);
        }
        for (size_t i = 0; i < b->n; i++) {
            double x = rk->mbuf[i];
            if (isnan(u[i]))
                continue;
            s->count++;
            if (isnan(x)) {
                s->invalid++;
                continue;
            }
            qz_exactsum_add(&s->sum1, x);
            qz_exactsum_add(&s->sum2, x * x);
        }
        if (rk->ar)
            qz_archive_put_metric(rk->ar, k, b->first, b->n, rk->mbuf);
    }
    return QZ_OK;
}

void qz_metric_sums_over_ranks(MPI_Comm comm, size_t n, const struct qz_ckpt_metric *mine,
                               const struct qz_ckpt_metric *base, struct qz_ckpt_metric *out)
{
    for (size_t k = 0; k < n; k++) {
        uint64_t c[2] = {mine[k].count, mine[k].invalid};
        qz_sum_over_ranks(comm, &mine[k].sum1, base ? &base[k].sum1 : NULL, &out[k].sum1);
        qz_sum_over_ranks(comm, &mine[k].sum2, base ? &base[k].sum2 : NULL, &out[k].sum2);
        MPI_Allreduce(MPI_IN_PLACE, c, 2, MPI_UINT64_T, MPI_SUM, comm);
        out[k].count = c[0] + (base ? base[k].count : 0);
        out[k].invalid = c[1] + (base ? base[k].invalid : 0);
    }
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
    if (rk->mbuf && (rc = score_metrics_all(rk, b, u, err)))
        return rc;
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
    /* Payloads of samples the top set has dropped since are garbage: collect it (at
     * the meeting when the interval may be rolled back). */
    if (!rk->interruptible && rk->pl->count > 2 * rk->ts->cap)
        return qz_payload_retain(rk->pl, rk->ts->e, rk->ts->n, err);
    return QZ_OK;
}

static enum qz_status stop_request(struct qz_error *err)
{
    return qz_error_set(err, QZ_ESTOPPED, "stopped");
}

static enum qz_status run_chunk(struct ranker *rk, struct qz_batch *b, uint64_t chunk,
                                struct qz_error *err)
{
    const struct qz_job *job = rk->job;
    uint64_t first = chunk * job->chunk_size;
    uint64_t end = first + job->chunk_size < job->samples ? first + job->chunk_size : job->samples;

    /* Batches start at multiples of b->cap (a multiple of 4, or the whole chunk) into
     * the chunk, so a sample's lane is its position in the chunk mod 4. Batch
     * boundaries depend only on the chunk size: so do the generator's request counts,
     * the same at any rank count. */
    for (uint64_t i = first; i < end; i += b->cap) {
        size_t n = end - i < b->cap ? (size_t)(end - i) : b->cap;
        enum qz_status rc;
        if (rk->stop_checks && qz_interrupt_pending())
            return stop_request(err);
        if ((rc = run_batch(rk, b, i, n, err)))
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

/* Keep the state at the start of an interval. */
static enum qz_status take_snapshot(struct snapshot *s, const struct ranker *rk,
                                    struct qz_error *err)
{
    const struct qz_topset *ts = rk->ts;
    if (ts->n > s->room) {
        size_t room = ts->n > 2 * s->room ? ts->n : 2 * s->room;
        struct qz_entry *e = realloc(s->e, room * sizeof *e);
        if (!e)
            return qz_error_set(err, QZ_ENOMEM, "out of memory keeping the top set's snapshot");
        s->e = e;
        s->room = room;
    }
    if (ts->n)
        memcpy(s->e, ts->e, ts->n * sizeof *s->e);
    s->n = ts->n;
    s->thr = ts->thr;
    s->ties_out = ts->ties_out;
    s->done = rk->done;
    s->invalid = rk->invalid;
    if (rk->job->cost.ops) {
        s->sum1 = *rk->sum1;
        s->sum2 = *rk->sum2;
    }
    if (rk->mbuf) {
        size_t bytes = rk->job->metrics.n * sizeof *s->msum;
        if (!s->msum && !(s->msum = malloc(bytes)))
            return qz_error_set(err, QZ_ENOMEM, "out of memory keeping the metrics' snapshot");
        memcpy(s->msum, rk->msum, bytes);
    }
    gen_sample_counts(rk->job, s->gen_samples);
    return QZ_OK;
}

/* Go back to the snapshot: the top set, the counters, the exact cost sums, the chunk
 * in progress, the archive's texts not yet placed, and the payloads of every sample
 * drawn since (so a sample drawn again after resuming never has two). */
static enum qz_status roll_back(struct ranker *rk, const struct snapshot *s, struct qz_error *err)
{
    struct qz_topset *ts = rk->ts;
    if (s->n)
        memcpy(ts->e, s->e, s->n * sizeof *s->e); /* the set's room only grows */
    ts->n = s->n;
    ts->thr = s->thr;
    ts->ties_out = s->ties_out;
    rk->done = s->done;
    rk->invalid = s->invalid;
    if (rk->job->cost.ops) {
        *rk->sum1 = s->sum1;
        *rk->sum2 = s->sum2;
    }
    if (rk->mbuf && s->msum)
        memcpy(rk->msum, s->msum, rk->job->metrics.n * sizeof *s->msum);
    memset(rk->lane1, 0, sizeof rk->lane1);
    memset(rk->lane2, 0, sizeof rk->lane2);
    if (rk->ar)
        qz_archive_discard(rk->ar);
    return qz_payload_retain(rk->pl, ts->e, ts->n, err);
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
 * this session's sums over the ranks; run->fig.samples_redone counts all sessions'
 * discarded samples; `outage`: it is written because the model servers are down. */
static enum qz_status checkpoint(MPI_Comm comm, const struct qz_job *job,
                                 const struct qz_run_options *opt, uint64_t chunks, uint64_t done,
                                 uint64_t invalid, int outage, struct qz_run *run,
                                 struct qz_error *err)
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
    h.samples_redone = run->fig.samples_redone;
    h.outage_checkpoints = run->fig.outage_checkpoints + (outage != 0);
    h.resumes = run->fig.resumes;
    h.checkpoint_seconds = run->fig.checkpoint_seconds;
    h.archive_text_bytes = opt->archive_path ? w->archive.text_total : 0;
    qz_sum_over_ranks(comm, &w->cost_sum, &base->sum1, &h.cost_sum);
    qz_sum_over_ranks(comm, &w->cost_sq, &base->sum2, &h.cost_sq);
    qz_metric_sums_over_ranks(comm, job->metrics.n, w->metric_sums, base->metrics, h.metrics);
    rc = qz_ckpt_write(comm, opt->ckpt_path, &h, &w->set, &w->payloads, err);
    took = MPI_Wtime() - t0;
    MPI_Allreduce(MPI_IN_PLACE, &took, 1, MPI_DOUBLE, MPI_MAX, comm);
    if (rc == QZ_OK) {
        run->fig.checkpoints++;
        run->fig.outage_checkpoints += outage != 0;
        run->fig.checkpoint_seconds += took;
    }
    return rc;
}

/* What each rank brings to a meeting. */
struct report {
    int64_t failed;      /* this rank failed */
    int64_t done;        /* samples it drew in this session */
    int64_t invalid;     /* invalid samples it excluded */
    int64_t stop;        /* it received a stop request (SIGUSR1, SIGTERM) */
    int64_t ckpt;        /* rank 0: a periodic checkpoint is due */
    int64_t interrupted; /* its block is incomplete: a stop, or the servers are down */
    int64_t outage;      /* the generator's servers are down (QZ_EOUTAGE) */
    int64_t redone;      /* samples it drew in the interval (discarded on a rollback) */
    int64_t retain;      /* its payload store holds many dropped payloads: compact it */
    int64_t requests, retries, prompt_tokens, completion_tokens; /* its generator's, this
                                                                    session (the ledger) */
    double rate; /* chunks per second it drew in the interval (0: drew none) */
};

/* The figures of a meeting, the same on every rank: sums over the reports. */
static struct report sum_reports(const struct report *all, int size)
{
    struct report t;
    memset(&t, 0, sizeof t);
    t.ckpt = all[0].ckpt;
    for (int r = 0; r < size; r++) {
        t.requests += all[r].requests;
        t.retries += all[r].retries;
        t.prompt_tokens += all[r].prompt_tokens;
        t.completion_tokens += all[r].completion_tokens;
        t.failed += all[r].failed;
        t.done += all[r].done;
        t.invalid += all[r].invalid;
        t.stop += all[r].stop;
        t.interrupted += all[r].interrupted;
        t.outage += all[r].outage;
        t.redone += all[r].redone;
        t.retain += all[r].retain;
    }
    return t;
}

static const char *signal_name(int sig)
{
    return sig == SIGUSR1 ? "SIGUSR1" : sig == SIGTERM ? "SIGTERM" : "a signal to another rank";
}

/* Collective, after a rank's block of the interval was abandoned (a stop request, or
 * the generator's servers down): every rank rolls back to the interval's start `s`,
 * checkpoints chunks below lo and returns QZ_ESTOPPED or QZ_EOUTAGE, all with the same
 * message. rc and err: this rank's outcome of the interval. */
static enum qz_status abandon_interval(MPI_Comm comm, const struct qz_job *job,
                                       const struct qz_run_options *opt, struct qz_run *run,
                                       struct ranker *rk, const struct snapshot *s,
                                       const struct report *t, uint64_t lo, enum qz_status rc,
                                       struct qz_error *err)
{
    const struct qz_run_base *base = &run->work->base;
    struct qz_error why = *err;
    uint64_t done = (uint64_t)(t->done - t->redone), invalid;
    enum qz_status out;
    int64_t inv = (int64_t)rk->invalid - (int64_t)s->invalid;
    uint64_t counts[3], drop[3];
    struct qz_run_base *b = &run->work->base;

    /* the invalid samples of the interval, summed over the ranks, are dropped too */
    MPI_Allreduce(MPI_IN_PLACE, &inv, 1, MPI_INT64_T, MPI_SUM, comm);
    invalid = (uint64_t)(t->invalid - inv);
    /* and the generator's counts of their failures and repairs: taken off the base
     * (sessions' totals are base + the ranks' counts; uint64 wraps back exactly) */
    gen_sample_counts(job, counts);
    for (int i = 0; i < 3; i++)
        drop[i] = counts[i] - s->gen_samples[i];
    MPI_Allreduce(MPI_IN_PLACE, drop, 3, MPI_UINT64_T, MPI_SUM, comm);
    b->stats.failed_samples -= drop[0];
    b->stats.utf8_repaired_samples -= drop[1];
    b->report.nul_texts -= drop[2];
    run->fig.samples_redone += (uint64_t)t->redone;
    out = qz_agree(comm, roll_back(rk, s, err), err);
    if (out == QZ_OK)
        out = checkpoint(comm, job, opt, lo, done, invalid, t->outage != 0, run, err);
    if (out)
        return out;
    run->fig.invalid = base->invalid + invalid;
    if (t->outage) {
        /* the generator's message from the lowest rank that saw the outage */
        *err = why;
        qz_agree(comm, rc == QZ_EOUTAGE ? QZ_EOUTAGE : QZ_OK, err);
        snprintf(why.msg, sizeof why.msg, "%s", err->msg);
        return qz_error_set(err, QZ_EOUTAGE,
                            "the generator's model servers are down (%s): checkpointed %llu of "
                            "%llu samples to %s (%llu samples drawn since were discarded): run "
                            "the same command again to resume",
                            why.msg, (unsigned long long)(base->done + done),
                            (unsigned long long)job->samples, opt->ckpt_path,
                            (unsigned long long)t->redone);
    }
    return qz_error_set(err, QZ_ESTOPPED,
                        "stopped by %s after checkpointing %llu of %llu samples to %s: run the "
                        "same command again to resume",
                        signal_name(qz_interrupt_pending()),
                        (unsigned long long)(base->done + done), (unsigned long long)job->samples,
                        opt->ckpt_path);
}

#define QZ_LEDGER_SECONDS 5.0 /* the ledger is rewritten at most this often */

/* Rank 0, at a meeting: write the ledger of the work done since the last checkpoint
 * (mpi/ckpt.h), when there is a checkpoint it follows. done_at_ckpt: this session's
 * samples (all ranks) when it was written. */
static void write_ledger(const struct qz_job *job, const struct qz_run_options *opt,
                         const struct qz_run *run, const struct report *t, uint64_t done_at_ckpt)
{
    const struct qz_gen_stats *b = &run->work->base.stats;
    struct qz_ledger l;
    l.job_hash = opt->job_hash;
    l.task = opt->task;
    l.follows = run->fig.checkpoints;
    l.drawn_since = (uint64_t)t->done - done_at_ckpt;
    l.samples_redone = run->fig.samples_redone + l.drawn_since;
    l.requests = b->requests + (uint64_t)t->requests;
    l.retries = b->retries + (uint64_t)t->retries;
    l.prompt_tokens = b->prompt_tokens + (uint64_t)t->prompt_tokens;
    l.completion_tokens = b->completion_tokens + (uint64_t)t->completion_tokens;
    (void)job;
    if (qz_ledger_write(opt->ckpt_path, &l) != 0)
        qz_warn("cannot write the ledger beside %s (the work of a killed session will not "
                "be counted)",
                opt->ckpt_path);
}

/* 1 for a scorer whose calls may take long and are abandoned on a stop. */
static int slow_scorer(const struct qz_score *sc)
{
    return sc->ops == &qz_score_exec_ops || sc->ops == &qz_score_http_ops ||
           sc->ops == &qz_score_plugin_ops;
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
    struct ranker rk;
    struct snapshot snap;
    struct report *all = NULL;
    struct qz_schedule sched;
    struct qz_batch b;
    struct qz_progress prog;
    double last_ckpt = MPI_Wtime(), last_ledger = last_ckpt, *rates = NULL;
    uint64_t done_at_ckpt = 0; /* this session's samples at its last checkpoint */
    int agreed = 0;            /* rc is the same on every rank already */
    int need_mbuf = 0;         /* the job has metrics of scope "all" */
    enum qz_status rc;

    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    memset(&rk, 0, sizeof rk);
    rk.job = job;
    rk.ts = &w->set;
    rk.pl = &w->payloads;
    rk.text = run->fig.text;
    rk.ar = opt->archive_path ? &w->archive : NULL;
    rk.sum1 = &w->cost_sum;
    rk.sum2 = &w->cost_sq;
    rk.msum = w->metric_sums;
    rk.interruptible = job->gen.ops->chunk_hint != NULL || slow_scorer(&job->utility) ||
                       (job->cost.ops && slow_scorer(&job->cost));
    for (size_t k = 0; k < job->metrics.n; k++)
        if (job->metrics.m[k].scope == QZ_METRIC_ALL) {
            rk.interruptible |= slow_scorer(&job->metrics.m[k].sc);
            need_mbuf = 1;
        }
    rk.stop_checks = rk.interruptible && opt->ckpt_path;
    memset(&snap, 0, sizeof snap);
    memset(&sched, 0, sizeof sched);
    rc = qz_batch_init(&b, job->chunk_size < QZ_BATCH_MAX ? job->chunk_size : QZ_BATCH_MAX, err);
    if (rc == QZ_OK && need_mbuf && !(rk.mbuf = malloc(QZ_BATCH_MAX * sizeof *rk.mbuf)))
        rc = qz_error_set(err, QZ_ENOMEM, "rank %d: out of memory for the metrics", rank);
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
        struct report mine, t;
        double t0 = MPI_Wtime(), now;
        uint64_t hi = lo + span, mine_n;
        int abandoned;

        memset(&mine, 0, sizeof mine);
        qz_schedule_split(&sched, span, start);
        mine_n = start[rank + 1] - start[rank];
        if (rk.interruptible)
            rc = take_snapshot(&snap, &rk, err);
        for (uint64_t c = lo + start[rank]; rc == QZ_OK && c < lo + start[rank + 1]; c++)
            rc = rk.stop_checks && qz_interrupt_pending() ? stop_request(err)
                                                          : run_chunk(&rk, &b, c, err);
        now = MPI_Wtime();
        /* A stop or an outage abandons the block: rolled back with a checkpoint to
         * write it to; without one it is an error like any other. */
        abandoned = rk.interruptible && opt->ckpt_path && (rc == QZ_ESTOPPED || rc == QZ_EOUTAGE);
        if (!abandoned && (rc == QZ_ESTOPPED || rc == QZ_EOUTAGE))
            rc = qz_error_set(err, QZ_EIO,
                              "%s, and the run has no checkpoint path to save its work to: the "
                              "samples drawn are lost",
                              err->msg);
        mine.failed = rc != QZ_OK && !abandoned;
        mine.interrupted = abandoned;
        mine.outage = abandoned && rc == QZ_EOUTAGE;
        mine.redone = rk.interruptible ? (int64_t)(rk.done - snap.done) : 0;
        mine.retain = rk.interruptible && rk.pl->count > 2 * rk.ts->cap;
        mine.done = (int64_t)rk.done;
        mine.invalid = (int64_t)rk.invalid;
        mine.stop = opt->ckpt_path && qz_interrupt_pending();
        mine.ckpt = rank == 0 && opt->ckpt_path && opt->ckpt_every > 0 &&
                    now - last_ckpt >= opt->ckpt_every;
        mine.rate = mine_n && now > t0 && !abandoned ? (double)mine_n / (now - t0) : 0;
        if (job->gen.ops->stats) {
            struct qz_gen_stats st;
            memset(&st, 0, sizeof st);
            job->gen.ops->stats(job->gen.state, &st);
            mine.requests = (int64_t)st.requests;
            mine.retries = (int64_t)st.retries;
            mine.prompt_tokens = (int64_t)st.prompt_tokens;
            mine.completion_tokens = (int64_t)st.completion_tokens;
        }
        /* A slow generator's ranks arrive far apart, and polling would take the core of
         * a model server on the node: they sleep at once. */
        qz_allgather(&mine, all, (int)sizeof mine, rk.interruptible ? 0 : QZ_WAIT_SPIN, comm);
        t = sum_reports(all, size);
        if (t.failed) {
            if (abandoned)
                rc = QZ_OK; /* qz_agree below hands the failing rank's message to all */
            break;
        }
        if (t.interrupted) {
            rc = abandon_interval(comm, job, opt, run, &rk, &snap, &t, lo, rc, err);
            agreed = 1;
            break;
        }
        rc = QZ_OK;
        qz_progress_update(&prog, base->done + (uint64_t)t.done, now);
        run->fig.invalid = base->invalid + (uint64_t)t.invalid;
        /* The payloads dropped in the interval are collected only now that it will not
         * be rolled back, and with a meeting of their own only when some rank's store
         * has grown: one meeting an interval keeps a shared model server busy (the
         * last rank to arrive goes on drawing without waiting for one still asleep). */
        if (t.retain) {
            if (mine.retain)
                rc = qz_payload_retain(rk.pl, rk.ts->e, rk.ts->n, err);
            if ((rc = qz_agree(comm, rc, err))) {
                agreed = 1;
                break;
            }
        }
        if (rk.ar && (rc = qz_archive_sync(comm, rk.ar, hi, err)))
            break; /* agreed: text archives place the texts of the chunks done */
        if (hi == nchunks) {
            qz_progress_finish(&prog, base->done + (uint64_t)t.done, now);
            break; /* all drawn: a stop request now lets the run finish */
        }
        if (rank == 0 && opt->ckpt_path && run->fig.checkpoints > 0 && !t.stop && !t.ckpt &&
            now - last_ledger >= QZ_LEDGER_SECONDS) {
            write_ledger(job, opt, run, &t, done_at_ckpt);
            last_ledger = now;
        }
        if (t.stop || t.ckpt) {
            rc = checkpoint(comm, job, opt, hi, (uint64_t)t.done, (uint64_t)t.invalid, 0, run, err);
            last_ckpt = MPI_Wtime();
            done_at_ckpt = (uint64_t)t.done;
            if (rc == QZ_OK && t.stop)
                rc = qz_error_set(err, QZ_ESTOPPED,
                                  "stopped by %s after checkpointing %llu of %llu samples to %s: "
                                  "run the same command again to resume",
                                  signal_name(qz_interrupt_pending()),
                                  (unsigned long long)(base->done + (uint64_t)t.done),
                                  (unsigned long long)job->samples, opt->ckpt_path);
            if (rc) {
                agreed = 1;
                break; /* every rank has the same status */
            }
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
    free(snap.e);
    free(snap.msum);
    free(rk.mbuf);
    free(all);
    free(rates);
    free(start);
    return agreed ? rc : qz_agree(comm, rc, err);
}

/* Collective, resuming checkpoint h: a ledger that follows it (a session killed after
 * writing it) adds that session's work to the totals. */
static void apply_ledger(MPI_Comm comm, const struct qz_run_options *opt,
                         const struct qz_ckpt_header *h, struct qz_run *run)
{
    struct qz_gen_stats *b = &run->work->base.stats;
    struct qz_ledger l;
    int rank, found = 0;

    MPI_Comm_rank(comm, &rank);
    memset(&l, 0, sizeof l);
    if (rank == 0)
        found = qz_ledger_read(opt->ckpt_path, &l) && l.job_hash == opt->job_hash &&
                l.task == opt->task && l.follows == h->checkpoints &&
                l.samples_redone >= h->samples_redone && l.requests >= b->requests;
    MPI_Bcast(&found, 1, MPI_INT, 0, comm);
    if (!found)
        return;
    MPI_Bcast(&l, (int)sizeof l, MPI_BYTE, 0, comm);
    run->fig.samples_redone = l.samples_redone;
    b->requests = l.requests;
    b->retries = l.retries;
    b->prompt_tokens = l.prompt_tokens;
    b->completion_tokens = l.completion_tokens;
    if (rank == 0 && opt->progress)
        fprintf(opt->progress,
                "the session after that checkpoint drew %llu samples before it ended: counted "
                "as redone\n",
                (unsigned long long)l.drawn_since);
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
    for (size_t k = 0; k < QZ_CKPT_METRICS; k++) {
        qz_exactsum_init(&w->metric_sums[k].sum1);
        qz_exactsum_init(&w->metric_sums[k].sum2);
        qz_exactsum_init(&w->base.metrics[k].sum1);
        qz_exactsum_init(&w->base.metrics[k].sum2);
    }
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
        memcpy(w->base.metrics, ck.h.metrics, sizeof w->base.metrics);
        ck_text_bytes = ck.h.archive_text_bytes;
        run->fig.checkpoints = ck.h.checkpoints;
        run->fig.checkpoint_seconds = ck.h.checkpoint_seconds;
        run->fig.resumes = ck.h.resumes + 1;
        run->fig.resumed_samples = ck.h.samples_done;
        run->fig.samples_redone = ck.h.samples_redone;
        run->fig.outage_checkpoints = ck.h.outage_checkpoints;
        apply_ledger(comm, opt, &ck.h, run);
        if (rank == 0) {
            /* said with --no-progress too: resuming is not progress. One write. */
            char line[QZ_ERROR_MSG_MAX];
            int len =
                snprintf(line, sizeof line,
                         "resuming from checkpoint %s: %llu of %llu samples done (written "
                         "by %u rank%s)\n",
                         opt->ckpt_path, (unsigned long long)w->base.done,
                         (unsigned long long)job->samples, ck.h.ranks, ck.h.ranks == 1 ? "" : "s");
            FILE *to = opt->progress ? opt->progress : stderr;
            fwrite(line, 1,
                   len < 0                     ? 0
                   : (size_t)len < sizeof line ? (size_t)len
                                               : sizeof line - 1,
                   to);
            fflush(to);
        }
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
