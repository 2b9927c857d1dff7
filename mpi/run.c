#include "run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/resource.h>

#include "job.h"
#include "run_work.h"

enum qz_status qz_run_put_value(struct qz_payloads *pl, uint64_t index, double value,
                                struct qz_error *err)
{
    char bytes[sizeof value];
    memcpy(bytes, &value, sizeof value);
    return qz_payload_put(pl, index, bytes, sizeof bytes, 0, 0.0, err);
}

void qz_sum_over_ranks(MPI_Comm comm, const struct qz_exactsum *mine,
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

/* All fields are uint64_t, so the struct reduces as an array of them. */
_Static_assert(sizeof(struct qz_gen_stats) == 6 * sizeof(uint64_t),
               "struct qz_gen_stats holds six uint64_t");

void qz_gen_stats_total(MPI_Comm comm, const struct qz_job *job, const struct qz_gen_stats *base,
                        struct qz_gen_stats *out)
{
    struct qz_gen_stats mine = {0, 0, 0, 0, 0, 0};
    if (job->gen.ops->stats)
        job->gen.ops->stats(job->gen.state, &mine);
    MPI_Allreduce(&mine, out, (int)(sizeof mine / sizeof(uint64_t)), MPI_UINT64_T, MPI_SUM, comm);
    out->requests += base->requests;
    out->retries += base->retries;
    out->failed_samples += base->failed_samples;
    out->prompt_tokens += base->prompt_tokens;
    out->completion_tokens += base->completion_tokens;
    out->utf8_repaired_samples += base->utf8_repaired_samples;
}

/* Peak resident memory of this process, bytes. */
static uint64_t peak_rss(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (uint64_t)ru.ru_maxrss * 1024; /* Linux reports KiB */
}

/* Collective: the lowest rank where `mine` holds, or `ranks` when none does. */
static int lowest_rank(MPI_Comm comm, int mine)
{
    int rank, ranks, low;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &ranks);
    low = mine ? rank : ranks;
    MPI_Allreduce(MPI_IN_PLACE, &low, 1, MPI_INT, MPI_MIN, comm);
    return low;
}

/* The servers of a report, as reduced over ranks. */
struct server_table {
    uint64_t n;
    struct qz_gen_server s[QZ_GEN_SERVERS_MAX];
};

/* MPI_Op (not commutative, so applied in rank order): io = in, then the servers of io
 * that in lacks; the counts of a server in both summed. Servers past
 * QZ_GEN_SERVERS_MAX are left out. */
static void merge_servers(void *in, void *io, int *len, MPI_Datatype *type)
{
    (void)type;
    for (int k = 0; k < *len; k++) {
        const struct server_table *a = (const struct server_table *)in + k;
        struct server_table *b = (struct server_table *)io + k;
        struct server_table m = *a;
        for (uint64_t j = 0; j < b->n; j++) {
            uint64_t i = 0;
            while (i < m.n && strcmp(m.s[i].url, b->s[j].url))
                i++;
            if (i < m.n) {
                m.s[i].requests += b->s[j].requests;
                m.s[i].failures += b->s[j].failures;
            } else if (m.n < QZ_GEN_SERVERS_MAX)
                m.s[m.n++] = b->s[j];
        }
        *b = m;
    }
}

/* s as a JSON string into out (len bytes, room for 2 * strlen + 3): '"' and '\'
 * escaped, control characters left out (URLs hold none). */
static size_t json_string(const char *s, char *out)
{
    size_t n = 0;
    out[n++] = '"';
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20)
            continue;
        if (*s == '"' || *s == '\\')
            out[n++] = '\\';
        out[n++] = *s;
    }
    out[n++] = '"';
    out[n] = '\0';
    return n;
}

/* The record's JSON lists of the table: URLs, requests, failures. */
static void servers_text(const struct server_table *t, struct qz_gen_report *r)
{
    size_t a = 0, b = 0, c = 0;
    r->servers_text[a++] = '[';
    r->server_requests_text[b++] = '[';
    r->server_failures_text[c++] = '[';
    for (uint64_t i = 0; i < t->n; i++) {
        if (i) {
            r->servers_text[a++] = ',';
            r->server_requests_text[b++] = ',';
            r->server_failures_text[c++] = ',';
        }
        a += json_string(t->s[i].url, r->servers_text + a);
        b += (size_t)snprintf(r->server_requests_text + b, 22, "%llu",
                              (unsigned long long)t->s[i].requests);
        c += (size_t)snprintf(r->server_failures_text + c, 22, "%llu",
                              (unsigned long long)t->s[i].failures);
    }
    memcpy(r->servers_text + a, "]", 2);
    memcpy(r->server_requests_text + b, "]", 2);
    memcpy(r->server_failures_text + c, "]", 2);
}

/* Collective: the servers of the sessions before (base) and of every rank's report,
 * merged by URL (base first, then rank order), into out->servers and the record's
 * texts. */
static void servers_total(MPI_Comm comm, const struct qz_gen_report *base,
                          const struct qz_gen_report *mine, struct qz_gen_report *out)
{
    static struct server_table t, before; /* large: not on the stack */
    MPI_Datatype type;
    MPI_Op op;
    int one = 1;

    memset(&t, 0, sizeof t);
    t.n = mine->nservers <= QZ_GEN_SERVERS_MAX ? mine->nservers : QZ_GEN_SERVERS_MAX;
    memcpy(t.s, mine->servers, (size_t)t.n * sizeof t.s[0]);
    MPI_Type_contiguous((int)sizeof t, MPI_BYTE, &type);
    MPI_Type_commit(&type);
    MPI_Op_create(merge_servers, 0, &op);
    MPI_Allreduce(MPI_IN_PLACE, &t, 1, type, op, comm);
    MPI_Op_free(&op);
    MPI_Type_free(&type);
    memset(&before, 0, sizeof before);
    before.n = base->nservers <= QZ_GEN_SERVERS_MAX ? base->nservers : QZ_GEN_SERVERS_MAX;
    memcpy(before.s, base->servers, (size_t)before.n * sizeof before.s[0]);
    merge_servers(&before, &t, &one, NULL);
    out->nservers = t.n;
    memcpy(out->servers, t.s, sizeof t.s);
    servers_text(&t, out);
}

/* Collective: the generator's reports of all ranks as one: counts summed; the model
 * and fingerprint of the lowest rank that saw an answer, changed when any rank saw a
 * change or another one; the failure with the highest sample index (the lowest rank
 * on a tie); the counts of sessions before (base) added, the servers' and outages'
 * too (the servers merged by URL). No allocation: it cannot fail. */
void qz_gen_report_total(MPI_Comm comm, const struct qz_job *job, const struct qz_gen_report *base,
                         struct qz_gen_report *out)
{
    struct qz_gen_report mine;
    uint64_t counts[QZ_GEN_FAIL_KINDS + 3];
    int ranks, from, seen, differs;

    MPI_Comm_size(comm, &ranks);
    memset(&mine, 0, sizeof mine);
    job->gen.ops->report(job->gen.state, &mine);
    *out = mine; /* n: settled, the same on every rank */
    memcpy(counts, mine.failures, sizeof mine.failures);
    counts[QZ_GEN_FAIL_KINDS] = mine.completion_tokens_counted;
    counts[QZ_GEN_FAIL_KINDS + 1] = mine.model_changed;
    counts[QZ_GEN_FAIL_KINDS + 2] = mine.nul_texts;
    MPI_Allreduce(MPI_IN_PLACE, counts, QZ_GEN_FAIL_KINDS + 3, MPI_UINT64_T, MPI_SUM, comm);
    for (int k = 0; k < QZ_GEN_FAIL_KINDS; k++)
        out->failures[k] = counts[k] + base->failures[k];
    out->completion_tokens_counted = counts[QZ_GEN_FAIL_KINDS] + base->completion_tokens_counted;
    out->nul_texts = counts[QZ_GEN_FAIL_KINDS + 2] + base->nul_texts;

    seen = mine.model[0] || mine.fingerprint[0];
    if ((from = lowest_rank(comm, seen)) < ranks) {
        MPI_Bcast(out->model, (int)sizeof out->model, MPI_CHAR, from, comm);
        MPI_Bcast(out->fingerprint, (int)sizeof out->fingerprint, MPI_CHAR, from, comm);
    } else
        out->model[0] = out->fingerprint[0] = '\0';
    differs =
        seen && (strcmp(mine.model, out->model) || strcmp(mine.fingerprint, out->fingerprint));
    MPI_Allreduce(MPI_IN_PLACE, &differs, 1, MPI_INT, MPI_MAX, comm);
    out->model_changed = counts[QZ_GEN_FAIL_KINDS + 1] || differs || base->model_changed ? 1 : 0;

    MPI_Allreduce(&mine.outages, &out->outages, 1, MPI_UINT64_T, MPI_SUM, comm);
    MPI_Allreduce(&mine.outage_seconds, &out->outage_seconds, 1, MPI_DOUBLE, MPI_SUM, comm);
    out->outages += base->outages;
    out->outage_seconds += base->outage_seconds;
    servers_total(comm, base, &mine, out);

    MPI_Allreduce(&mine.last_failure_at, &out->last_failure_at, 1, MPI_UINT64_T, MPI_MAX, comm);
    from = lowest_rank(comm, out->last_failure_at && mine.last_failure_at == out->last_failure_at);
    if (from < ranks)
        MPI_Bcast(out->last_failure, (int)sizeof out->last_failure, MPI_CHAR, from, comm);
    else
        out->last_failure[0] = '\0';
    if (base->last_failure_at > out->last_failure_at) {
        /* the last failure came before the checkpoint this session resumed from; the
         * checkpoint keeps the counts, not the text */
        out->last_failure_at = base->last_failure_at;
        snprintf(out->last_failure, sizeof out->last_failure,
                 "(before the resume from a checkpoint)");
    }
}

void qz_run_totals(MPI_Comm comm, const struct qz_job *job, double draw_seconds,
                   double select_seconds, struct qz_run *run)
{
    double times[2] = {draw_seconds, select_seconds};

    if (job->gen.ops->stats) {
        qz_gen_stats_total(comm, job, &run->work->base.stats, &run->fig.stats);
        run->fig.has_stats = 1;
    }
    if (job->gen.ops->report) {
        qz_gen_report_total(comm, job, &run->work->base.report, &run->fig.report);
        run->fig.has_report = 1;
    }
    MPI_Allreduce(MPI_IN_PLACE, times, 2, MPI_DOUBLE, MPI_MAX, comm);
    run->fig.draw_seconds = times[0];
    run->fig.select_seconds = times[1];
    qz_run_peak_rss(comm, &run->fig.peak_rss_max, &run->fig.peak_rss_root);
}

void qz_run_peak_rss(MPI_Comm comm, uint64_t *max, uint64_t *root)
{
    uint64_t rss[2];

    rss[0] = peak_rss();
    rss[1] = rss[0];
    MPI_Allreduce(MPI_IN_PLACE, &rss[0], 1, MPI_UINT64_T, MPI_MAX, comm);
    MPI_Bcast(&rss[1], 1, MPI_UINT64_T, 0, comm);
    *max = rss[0];
    *root = rss[1];
}

void qz_run_free(struct qz_run *run)
{
    if (run->work) {
        qz_topset_free(&run->work->set);
        qz_payload_free(&run->work->payloads);
        free(run->work);
        run->work = NULL;
    }
    free(run->root.sweep);
    qz_texts_free(&run->root.top_texts);
    qz_texts_free(&run->root.selected_text);
    memset(&run->root, 0, sizeof run->root);
    memset(&run->slice, 0, sizeof run->slice);
}
