#include "gather.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agree.h"
#include "run_work.h"

/* One payload as it travels: where it goes in the root's order, and its figures. */
struct rec {
    uint64_t pos;
    uint32_t len, tokens;
    double logprob_sum;
};

/* Root: room for count payloads of bt bytes in out, and for the records (rt bytes). */
static enum qz_status make_room(struct qz_texts *out, uint64_t count, uint64_t rt, uint64_t bt,
                                char **all, struct qz_error *err)
{
    size_t c = count ? (size_t)count : 1;
    if (rt > INT32_MAX || bt > INT32_MAX)
        return qz_error_set(err, QZ_ENOMEM,
                            "the top set's payloads exceed 2 GiB: lower output.top_gather_limit");
    *all = malloc(rt ? rt : 1);
    out->bytes = malloc(bt ? bt : 1);
    out->n = count;
    out->off = calloc(c, sizeof *out->off);
    out->len = calloc(c, sizeof *out->len);
    out->tokens = calloc(c, sizeof *out->tokens);
    out->logprob_sum = malloc(c * sizeof *out->logprob_sum);
    if (!*all || !out->bytes || !out->off || !out->len || !out->tokens || !out->logprob_sum)
        return qz_error_set(err, QZ_ENOMEM, "out of memory collecting payloads");
    return QZ_OK;
}

/* Collective. The payloads of samples want[0..n) (on the root; n is the root's) from
 * the ranks that hold them, into *out on the root, in the same order. Every step
 * that can fail is agreed on before the next collective. */
static enum qz_status collect(MPI_Comm comm, const struct qz_payloads *pl,
                              const struct qz_entry *want, size_t n, struct qz_texts *out,
                              struct qz_error *err)
{
    struct rec *mine = NULL;
    int rank, size, *rcount = NULL, *rdispl = NULL, *bcount = NULL, *bdispl = NULL, *both = NULL;
    uint64_t count = n, *idx = NULL, nmine = 0, bytes = 0, off;
    char *text = NULL, *all = NULL;
    enum qz_status rc = QZ_OK;

    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    memset(out, 0, sizeof *out);
    MPI_Bcast(&count, 1, MPI_UINT64_T, 0, comm);
    if (!(idx = malloc((count ? count : 1) * sizeof *idx)))
        rc = qz_error_set(err, QZ_ENOMEM, "rank %d: out of memory collecting payloads", rank);
    if ((rc = qz_agree(comm, rc, err)))
        goto done;
    for (uint64_t i = 0; rank == 0 && i < count; i++)
        idx[i] = want[i].index;
    MPI_Bcast(idx, (int)count, MPI_UINT64_T, 0, comm);
    /* What this rank holds: one record per payload, then the payloads back to back. */
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
    if (rank == 0) {
        rcount = calloc((size_t)size, sizeof *rcount);
        rdispl = calloc((size_t)size, sizeof *rdispl);
        bcount = calloc((size_t)size, sizeof *bcount);
        bdispl = calloc((size_t)size, sizeof *bdispl);
        both = malloc(2 * (size_t)size * sizeof *both);
        if (rc == QZ_OK && (!rcount || !rdispl || !bcount || !bdispl || !both))
            rc = qz_error_set(err, QZ_ENOMEM, "out of memory collecting payloads");
    }
    if ((rc = qz_agree(comm, rc, err)))
        goto done;
    {
        int sizes[2] = {(int)(nmine * sizeof *mine), (int)bytes};
        MPI_Gather(sizes, 2, MPI_INT, both, 2, MPI_INT, 0, comm);
    }
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
        rc = make_room(out, count, rt, bt, &all, err);
    }
    if ((rc = qz_agree(comm, rc, err)))
        goto done;
    MPI_Gatherv(mine, (int)(nmine * sizeof *mine), MPI_BYTE, all, rcount, rdispl, MPI_BYTE, 0,
                comm);
    MPI_Gatherv(text, (int)bytes, MPI_BYTE, out->bytes, bcount, bdispl, MPI_BYTE, 0, comm);
    if (rank == 0) {
        /* Records arrive rank by rank, each rank's payloads in its record order. */
        for (uint64_t i = 0; i < count; i++)
            out->logprob_sum[i] = NAN;
        for (int r = 0; r < size; r++) {
            const struct rec *rr = (const struct rec *)(all + rdispl[r]);
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
    if (rc)
        qz_texts_free(out);
    free(idx);
    free(mine);
    free(text);
    free(all);
    free(rcount);
    free(rdispl);
    free(bcount);
    free(bdispl);
    free(both);
    return rc;
}

enum qz_status qz_gather_payloads(MPI_Comm comm, const struct qz_job *job, struct qz_run *run,
                                  struct qz_error *err)
{
    const struct qz_payloads *pl = &run->work->payloads;
    struct qz_texts value;
    int rank;
    enum qz_status rc;

    MPI_Comm_rank(comm, &rank);
    if (run->fig.text && run->fig.gathered && job->output_top)
        return collect(comm, pl, run->root.top, rank == 0 ? run->root.top_n : 0,
                       &run->root.top_texts, err);
    if (run->fig.text)
        return collect(comm, pl, &run->fig.selected, 1, &run->root.selected_text, err);
    /* Numeric: the selected sample's value, kept as its 8 bytes while drawing unless
     * they are its utility's (mpi/run_work.h). */
    if ((rc = collect(comm, pl, &run->fig.selected, 1, &value, err)))
        return rc;
    run->root.selected_value = run->fig.selected.utility;
    if (rank == 0 && value.len[0] == sizeof run->root.selected_value)
        memcpy(&run->root.selected_value, value.bytes + value.off[0],
               sizeof run->root.selected_value);
    else if (rank == 0 && value.len[0] != 0)
        rc = qz_error_set(err, QZ_EINTERNAL, "the value of selected sample %llu has %u bytes",
                          (unsigned long long)run->fig.selected.index, (unsigned)value.len[0]);
    qz_texts_free(&value);
    return qz_agree(comm, rc, err);
}

/* Root: sample i of the metrics' top set (entry e, payload i of pay) as a batch of one:
 * a text sample from its gathered text; a numeric one drawn again by index (the
 * generator contract: a sample depends only on (seed, index)), its value checked
 * against the one kept while drawing. */
static enum qz_status top_sample(const struct qz_job *job, const struct qz_entry *e,
                                 const struct qz_texts *pay, size_t i, int text, struct qz_batch *b,
                                 struct qz_error *err)
{
    enum qz_status rc;
    double kept = e->utility;

    qz_batch_begin(b, e->index, 1, text);
    if (text) {
        if ((rc = qz_batch_put_text(b, 0, pay->bytes + pay->off[i], pay->len[i], err)))
            return rc;
        b->value[0] = 0;
        b->logprob_sum[0] = pay->logprob_sum[i];
        b->tokens[0] = pay->tokens[i];
    } else {
        if ((rc = job->gen.ops->draw(job->gen.state, e->index, 1, b, err)))
            return rc;
        if (pay->len[i] == sizeof kept)
            memcpy(&kept, pay->bytes + pay->off[i], sizeof kept);
        if (memcmp(&kept, &b->value[0], sizeof kept) != 0)
            return qz_error_set(err, QZ_EINTERNAL,
                                "metrics: sample %llu drawn again is %.17g, not %.17g: the "
                                "generator does not reproduce a sample by its index",
                                (unsigned long long)e->index, b->value[0], kept);
    }
    b->utility[0] = e->utility;
    b->cost[0] = e->cost;
    return QZ_OK;
}

/* Root: score every metric on the n entries of the top set and compute the figures. */
static enum qz_status score_metrics(const struct qz_job *job, struct qz_run *run,
                                    const struct qz_texts *pay, struct qz_error *err)
{
    const struct qz_entry *top = run->root.metric_top;
    size_t n = run->root.metric_top_n, nm = job->metrics.n;
    struct qz_metric_result *res = calloc(nm, sizeof *res);
    struct qz_batch b;
    enum qz_status rc = QZ_OK;

    memset(&b, 0, sizeof b);
    if (!res)
        return qz_error_set(err, QZ_ENOMEM, "out of memory for the metrics");
    run->root.metrics = res;
    for (size_t j = 0; j < nm; j++) {
        res[j].top = malloc((n ? n : 1) * sizeof *res[j].top);
        res[j].sweep = job->sweep ? malloc(job->nq * sizeof *res[j].sweep) : NULL;
        if (!res[j].top || (job->sweep && !res[j].sweep))
            return qz_error_set(err, QZ_ENOMEM, "out of memory for the metrics");
    }
    if ((rc = qz_batch_init(&b, 1, err)))
        return rc;
    for (size_t i = 0; i < n && !rc; i++) {
        rc = top_sample(job, &top[i], pay, i, run->fig.text, &b, err);
        for (size_t j = 0; j < nm && !rc; j++)
            if ((rc = qz_metric_score(&job->metrics.m[j], &b, &res[j].top[i], err))) {
                char msg[sizeof err->msg], at[96];
                snprintf(msg, sizeof msg, "%s", err->msg);
                snprintf(at, sizeof at, "metrics.%s: ", job->metrics.m[j].name);
                if (strncmp(msg, at, strlen(at)) != 0) /* else it names the metric and sample */
                    qz_error_set(err, rc, "%ssample %llu: %s", at, (unsigned long long)top[i].index,
                                 msg);
            }
    }
    qz_batch_free(&b);
    for (size_t j = 0; j < nm && !rc; j++) {
        const struct qz_ci_range *range = &job->metrics.m[j].sc.range;
        res[j].evaluated = n;
        for (size_t i = 0; i < n; i++)
            res[j].invalid += isnan(res[j].top[i]) != 0;
        if (job->metrics.m[j].scope == QZ_METRIC_ALL) {
            res[j].evaluated = run->fig.metric_count[j];
            res[j].invalid = run->fig.metric_invalid[j];
            res[j].has_base = 1;
            res[j].base = run->fig.metric_base[j];
        }
        qz_metric_quantilized(res[j].top, run->fig.top_count, run->fig.mass, job->q, range,
                              run->fig.confidence, &res[j].quantilized);
        for (size_t r = 0; job->sweep && r < job->nq; r++) {
            const struct qz_sweep_row *row = &run->root.sweep[r];
            qz_metric_quantilized(res[j].top, row->top_count, row->mass, row->q, range,
                                  run->fig.confidence, &res[j].sweep[r]);
        }
    }
    return rc;
}

enum qz_status qz_gather_metrics(MPI_Comm comm, const struct qz_job *job, struct qz_run *run,
                                 struct qz_error *err)
{
    struct qz_texts pay;
    int rank;
    enum qz_status rc;

    if (job->metrics.n == 0)
        return QZ_OK;
    MPI_Comm_rank(comm, &rank);
    if ((rc = collect(comm, &run->work->payloads, run->root.metric_top,
                      rank == 0 ? run->root.metric_top_n : 0, &pay, err)))
        return rc;
    if (rank == 0)
        rc = score_metrics(job, run, &pay, err);
    qz_texts_free(&pay);
    return qz_agree(comm, rc, err);
}
