#include "selection.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agree.h"
#include "dselect.h"
#include "reduce.h"
#include "run_work.h"
#include "select.h"
#include "spread.h"

/* K <= the gather limit: a tree reduction to the root, which selects, and sweeps
 * unless the sweep was done distributed (swept). */
static enum qz_status select_gathered(MPI_Comm comm, const struct qz_job *job, int swept,
                                      struct qz_run *run, struct qz_error *err)
{
    struct qz_run_figures *fig = &run->fig;
    struct qz_topset *ts = &run->work->set;
    int rank;
    enum qz_status rc;
    uint64_t ties = 0, want;
    int sweep_here;

    MPI_Comm_rank(comm, &rank);
    sweep_here = job->sweep && !swept;
    want = sweep_here ? fig->sweep_k : fig->top_count;
    if ((rc = qz_reduce_topset(comm, ts, want, err)))
        return rc;
    if (rank == 0) {
        if (ts->n != want)
            rc = qz_error_set(err, QZ_EINTERNAL, "top set holds %zu entries, expected %llu", ts->n,
                              (unsigned long long)want);
        else if (sweep_here && !(run->root.sweep = malloc(job->nq * sizeof *run->root.sweep)))
            rc = qz_error_set(err, QZ_ENOMEM, "out of memory for the sweep");
        else if (sweep_here && (rc = qz_sweep(ts->e, ts->n, fig->valid, job->seed, job->q_list,
                                              job->nq, fig->cost_base_mean, run->root.sweep, err)))
            ;
        else if (job->metrics.n && !(run->root.metric_top = malloc(ts->n * sizeof *ts->e)))
            rc = qz_error_set(err, QZ_ENOMEM, "out of memory for the metrics' top set");
        else {
            if (sweep_here)
                qz_sweep_intervals(ts->e, run->root.sweep, job->nq, &fig->sweep_ci);
            /* Metrics are scored on the top set of the largest q (mpi/gather.h). */
            if (job->metrics.n) {
                memcpy(run->root.metric_top, ts->e, ts->n * sizeof *ts->e);
                run->root.metric_top_n = ts->n;
            }
            /* The sweep needed the best sweep_k; the run's own top set is its K. */
            qz_topset_truncate(ts->e, &ts->n, &ts->ties_out, fig->top_count);
            run->root.top = ts->e;
            run->root.top_n = ts->n;
            ties = qz_topset_boundary_ties(ts->e, ts->n, ts->ties_out);
            fig->threshold = ts->e[ts->n - 1];
            fig->selected = ts->e[fig->selected_position];
        }
    }
    if ((rc = qz_agree(comm, rc, err)))
        return rc;
    /* Every rank learns the figures the record needs. */
    MPI_Bcast(&ties, 1, MPI_UINT64_T, 0, comm);
    MPI_Bcast(&fig->threshold, (int)sizeof fig->threshold, MPI_BYTE, 0, comm);
    MPI_Bcast(&fig->selected, (int)sizeof fig->selected, MPI_BYTE, 0, comm);
    fig->boundary_ties = ties;
    return QZ_OK;
}

/* The exact sums of u, c, u² and c² over one rank's entries e[0 .. n), summed over
 * the ranks into t[0 .. 4). Without a cost (every c is NaN) those two sums are NaN
 * at once. */
#define QZ_SUM_RUN 1024 /* values summed at a time */

static void top_sums(MPI_Comm comm, const struct qz_entry *e, size_t n, int cost,
                     struct qz_exactsum t[4])
{
    struct qz_exactsum s[4];
    const double nan = NAN;

    for (int j = 0; j < 4; j++)
        qz_exactsum_init(&s[j]);
    if (!cost) { /* every cost is NaN: so are their sums */
        qz_exactsum_add(&s[1], nan);
        qz_exactsum_add(&s[3], nan);
    }
    for (size_t i = 0; i < n; i += QZ_SUM_RUN) {
        double x[4][QZ_SUM_RUN];
        size_t run = n - i < QZ_SUM_RUN ? n - i : QZ_SUM_RUN;
        for (size_t j = 0; j < run; j++) {
            x[0][j] = e[i + j].utility;
            x[2][j] = e[i + j].utility * e[i + j].utility;
        }
        for (size_t j = 0; cost && j < run; j++) {
            x[1][j] = e[i + j].cost;
            x[3][j] = e[i + j].cost * e[i + j].cost;
        }
        for (int j = 0; j < 4; j++)
            if (cost || j % 2 == 0)
                qz_exactsum_add_many(&s[j], x[j], run);
    }
    for (int j = 0; j < 4; j++)
        qz_sum_over_ranks(comm, &s[j], NULL, &t[j]);
}

/* Collective: the mean cost over positions K-w .. K-1 (w = qz_sweep_window(K)), from
 * the entry at K-w (`from`) down to the threshold: each rank's entries in that range
 * (e[0 .. n) is best first: they are e[a .. b), found by binary search) summed
 * exactly over the ranks, then the threshold's (the same bits as qz_sweep_intervals
 * on a gathered set). */
static double window_cost(MPI_Comm comm, const struct qz_entry *e, size_t n, uint64_t seed,
                          const struct qz_entry *from, const struct qz_entry *thr, uint64_t w)
{
    struct qz_exactsum s, t;
    size_t b = qz_dselect_count_better(e, n, seed, thr);
    size_t a = qz_dselect_count_better(e, b, seed, from);

    qz_exactsum_init(&s);
    for (size_t i = a; i < b; i++)
        qz_exactsum_add(&s, e[i].cost);
    qz_sum_over_ranks(comm, &s, NULL, &t);
    qz_exactsum_add(&t, thr->cost);
    return qz_exactsum_value(&t) / (double)w;
}

/* Row r's means and intervals from the sums t over positions 0 .. K-2, the entry at
 * K-1 and the window's mean cost (qz_sweep_mean: the same bits as qz_sweep on a
 * gathered set). */
static void top_figures(struct qz_sweep_row *r, struct qz_exactsum t[4],
                        const struct qz_entry *boundary, double cost_at_threshold,
                        const struct qz_sweep_ci *ci)
{
    r->threshold = boundary->utility;
    r->mean_utility = qz_sweep_mean(&t[0], boundary->utility, r->mass, r->top_count);
    r->mean_cost = qz_sweep_mean(&t[1], boundary->cost, r->mass, r->top_count);
    qz_sweep_row_ci(r, qz_exactsum_value(&t[2]), qz_exactsum_value(&t[3]), boundary,
                    cost_at_threshold, ci);
}

/* Collective: E_Q[u] and E_Q[c] of the run's selection and their intervals, from the
 * entries better than the threshold (positions 0 .. K-2, wherever they are held) summed
 * exactly over the ranks, and the threshold's share; the window's first entry by a
 * distributed selection (the root may hold them all). */
static enum qz_status quantilized_means(MPI_Comm comm, const struct qz_job *job, struct qz_run *run,
                                        struct qz_error *err)
{
    const struct qz_topset *ts = &run->work->set;
    struct qz_run_figures *fig = &run->fig;
    struct qz_exactsum t[4];
    struct qz_sweep_row r;
    struct qz_entry from;
    uint64_t w = qz_sweep_window(fig->top_count), pos = fig->top_count - w;
    enum qz_status rc;

    if ((rc = qz_dselect(comm, ts->e, ts->n, job->seed, &pos, 1, &from, err)))
        return rc;
    /* Every rank's set is best first (a slice, a sorted set, or empty): the entries
     * better than the threshold are a prefix. */
    top_sums(comm, ts->e, qz_dselect_count_better(ts->e, ts->n, job->seed, &fig->threshold),
             fig->has_cost, t);
    qz_sweep_row(&r, job->q, fig->valid, job->seed, fig->cost_base_mean);
    top_figures(&r, t, &fig->threshold,
                window_cost(comm, ts->e, ts->n, job->seed, &from, &fig->threshold, w),
                &fig->sweep_ci);
    fig->utility_q_mean = r.mean_utility;
    fig->utility_q_ci =
        (struct qz_ci){qz_ci_choose(&fig->sweep_ci.utility_range), r.mean_utility_stderr,
                       r.mean_utility_ci_low, r.mean_utility_ci_high};
    fig->top_effective_size = r.effective_size;
    fig->cost_q_mean = fig->has_cost ? r.mean_cost : NAN;
    fig->cost_q_ci = (struct qz_ci){qz_ci_choose(&fig->sweep_ci.cost_range), NAN, NAN, NAN};
    if (fig->has_cost) {
        fig->cost_q_ci.stderr_ = r.mean_cost_stderr;
        fig->cost_q_ci.low = r.mean_cost_ci_low;
        fig->cost_q_ci.high = r.mean_cost_ci_high;
    }
    return QZ_OK;
}

/* Collective: the sweep of a job whose largest K is above the gather limit, from the
 * ranks' sets (best first, each truncated to the largest K): the thresholds and
 * selected entries of every q by one distributed selection, and E_Q[u], E_Q[c] from
 * the entries better than each threshold, summed exactly over the ranks. The same
 * rows as qz_sweep on a gathered set. */
static enum qz_status sweep_distributed(MPI_Comm comm, const struct qz_job *job, struct qz_run *run,
                                        struct qz_error *err)
{
    const struct qz_topset *ts = &run->work->set;
    uint64_t *pos = malloc(3 * job->nq * sizeof *pos);
    struct qz_entry *found = malloc(3 * job->nq * sizeof *found);
    struct qz_sweep_row *rows = malloc(job->nq * sizeof *rows);
    int rank;
    enum qz_status rc = QZ_OK;

    MPI_Comm_rank(comm, &rank);
    /* Every rank computes the rows; the root keeps them. */
    if (!pos || !found || !rows)
        rc = qz_error_set(err, QZ_ENOMEM, "out of memory for the sweep");
    if ((rc = qz_agree(comm, rc, err)))
        goto done;
    for (size_t i = 0; i < job->nq; i++) {
        qz_sweep_row(&rows[i], job->q_list[i], run->fig.valid, job->seed, run->fig.cost_base_mean);
        pos[3 * i] = rows[i].top_count - 1;
        pos[3 * i + 1] = rows[i].selected_position;
        pos[3 * i + 2] = rows[i].top_count - qz_sweep_window(rows[i].top_count);
    }
    rc = qz_dselect(comm, ts->e, ts->n, job->seed, pos, 3 * job->nq, found, err);
    for (size_t i = 0; rc == QZ_OK && i < job->nq; i++) {
        struct qz_sweep_row *r = &rows[i];
        struct qz_exactsum t[4];
        size_t better = qz_dselect_count_better(ts->e, ts->n, job->seed, &found[3 * i]);
        top_sums(comm, ts->e, better, run->fig.has_cost, t);
        top_figures(r, t, &found[3 * i],
                    window_cost(comm, ts->e, better, job->seed, &found[3 * i + 2], &found[3 * i],
                                qz_sweep_window(r->top_count)),
                    &run->fig.sweep_ci);
        r->selected_index = found[3 * i + 1].index;
    }
done:
    if (rank == 0)
        run->root.sweep = rows;
    else
        free(rows);
    free(pos);
    free(found);
    return rc;
}

/* K above the gather limit: distributed selection, and a redistribution into even
 * slices when the job writes top/. */
static enum qz_status select_distributed(MPI_Comm comm, const struct qz_job *job,
                                         struct qz_run *run, const struct qz_spread_tail *tail,
                                         struct qz_error *err)
{
    struct qz_run_figures *fig = &run->fig;
    struct qz_topset *ts = &run->work->set;
    uint64_t pos[2] = {fig->top_count - 1, fig->selected_position}, ties = 0;
    struct qz_entry found[2], *smaller;
    size_t kept;
    int rank;
    enum qz_status rc;

    if ((rc = qz_dselect(comm, ts->e, ts->n, job->seed, pos, 2, found, err)))
        return rc;
    fig->threshold = found[0];
    fig->selected = found[1];
    /* Samples tied with the threshold: held ones, and those a rank dropped when its
     * lowest held utility is the threshold's (after a spread: those no rank holds, when
     * their bound is the threshold's utility; counted once). */
    MPI_Comm_rank(comm, &rank);
    for (size_t i = 0; i < ts->n; i++)
        ties += ts->e[i].utility == fig->threshold.utility;
    if (tail->spread)
        ties += rank == 0 && tail->thr == fig->threshold.utility ? tail->ties : 0;
    else if (ts->n && ts->e[ts->n - 1].utility == fig->threshold.utility)
        ties += ts->ties_out;
    MPI_Allreduce(MPI_IN_PLACE, &ties, 1, MPI_UINT64_T, MPI_SUM, comm);
    fig->boundary_ties = ties - 1;
    if (!job->output_top)
        return QZ_OK;
    /* Only entries down to the threshold are part of the top set: drop the rest
     * (and their memory) before the slices arrive. */
    kept = qz_dselect_count_better(ts->e, ts->n, job->seed, &fig->threshold);
    if (kept < ts->n && ts->e[kept].index == fig->threshold.index)
        kept++; /* the threshold entry itself */
    ts->n = kept;
    if ((smaller = realloc(ts->e, (kept ? kept : 1) * sizeof *smaller))) {
        ts->e = smaller;
        ts->cap = kept ? kept : 1;
    }
    /* The set's array becomes this rank's slice (run->slice views it): no copy of
     * the top set is made, for the sums below or for writing. */
    if ((rc = qz_dselect_redistribute(comm, &ts->e, &ts->n, job->seed, fig->top_count,
                                      &run->slice.offset, err)))
        return rc;
    ts->cap = ts->n ? ts->n : 1;
    ts->ties_out = 0;
    run->slice.e = ts->e;
    run->slice.n = ts->n;
    return QZ_OK;
}

/* The confidence, E_γ[c]'s interval and upper confidence value (from S1 = Σc and
 * S2 = Σc² over the valid samples; NaN without a cost) and what the E_Q intervals
 * need. A job built in memory without a confidence gets the default. */
static void base_intervals(const struct qz_job *job, double s1, double s2,
                           struct qz_run_figures *fig)
{
    struct qz_sweep_ci *ci = &fig->sweep_ci;
    struct qz_ci_sample s;

    fig->confidence =
        job->confidence > 0 && job->confidence < 1 ? job->confidence : QZ_CONFIDENCE_DEFAULT;
    ci->confidence = fig->confidence;
    ci->utility_range = job->utility_range;
    ci->cost_range = job->cost_range;
    qz_ci_sample_sums(s1, s2, (double)fig->valid, &s);
    qz_ci_interval(&s, &ci->cost_range, fig->confidence, &fig->cost_base_ci);
    ci->base_cost_ucb = qz_ci_upper(&s, &ci->cost_range, fig->confidence);
    fig->cost_bound_ucb = ci->base_cost_ucb / job->q;
}

/* Collective: E_γ of every metric of scope "all" from the exact sums of all ranks and
 * of the sessions before (fig->confidence set). */
static enum qz_status metric_base(MPI_Comm comm, const struct qz_job *job, struct qz_run *run,
                                  struct qz_error *err)
{
    const struct qz_metrics *ms = &job->metrics;
    struct qz_ckpt_metric *t;
    int any = 0;
    enum qz_status rc = QZ_OK;

    for (size_t k = 0; k < ms->n; k++)
        any |= ms->m[k].scope == QZ_METRIC_ALL;
    if (!any)
        return QZ_OK;
    if (!(t = malloc(ms->n * sizeof *t)))
        rc = qz_error_set(err, QZ_ENOMEM, "out of memory for the metrics' sums");
    if ((rc = qz_agree(comm, rc, err)))
        return rc;
    qz_metric_sums_over_ranks(comm, ms->n, run->work->metric_sums, run->work->base.metrics, t);
    for (size_t k = 0; k < ms->n; k++) {
        if (ms->m[k].scope != QZ_METRIC_ALL)
            continue;
        run->fig.metric_count[k] = t[k].count;
        run->fig.metric_invalid[k] = t[k].invalid;
        qz_metric_base(qz_exactsum_value(&t[k].sum1), qz_exactsum_value(&t[k].sum2),
                       t[k].count - t[k].invalid, &ms->m[k].sc.range, run->fig.confidence,
                       &run->fig.metric_base[k]);
    }
    free(t);
    return QZ_OK;
}

enum qz_status qz_select_global(MPI_Comm comm, const struct qz_job *job, struct qz_run *run,
                                struct qz_error *err)
{
    struct qz_run_figures *fig = &run->fig;
    struct qz_run_work *w = run->work;
    struct qz_spread_tail tail = {0, 0, 0};
    int swept, size;
    enum qz_status rc = QZ_OK;

    fig->valid = fig->samples - fig->invalid;
    if (fig->valid == 0)
        return qz_error_set(err, QZ_EINVALID, "all %llu samples were invalid: nothing to select",
                            (unsigned long long)fig->samples);
    fig->mass = qz_mass(job->q, fig->valid);
    fig->top_count = qz_top_count(fig->mass);
    fig->selected_position = qz_select_position(job->seed, 0, fig->mass);
    fig->gathered = fig->top_count <= job->top_gather_limit;
    fig->sweep_k = fig->top_count;
    for (size_t i = 0; i < job->nq; i++) {
        uint64_t k = qz_top_count(qz_mass(job->q_list[i], fig->valid));
        fig->sweep_k = k > fig->sweep_k ? k : fig->sweep_k;
    }
    if (fig->has_cost) {
        struct qz_exactsum s1, s2;
        qz_sum_over_ranks(comm, &w->cost_sum, &w->base.sum1, &s1);
        qz_sum_over_ranks(comm, &w->cost_sq, &w->base.sum2, &s2);
        qz_sweep_base_cost(qz_exactsum_value(&s1), qz_exactsum_value(&s2), fig->valid,
                           &fig->cost_base_mean, &fig->cost_base_stderr);
        base_intervals(job, qz_exactsum_value(&s1), qz_exactsum_value(&s2), fig);
    } else
        base_intervals(job, NAN, NAN, fig);
    if ((rc = metric_base(comm, job, run, err)))
        return rc;
    /* A top set that will be redistributed is spread first (mpi/spread.h). */
    MPI_Comm_size(comm, &size);
    if (!fig->gathered && job->output_top && size > 1) {
        if ((rc = qz_spread(comm, &w->set, fig->sweep_k, &w->payloads, &tail, err)))
            return rc;
    } else
        qz_prefilter(comm, &w->set, fig->sweep_k);
    qz_topset_finish(&w->set);
    qz_topset_truncate(w->set.e, &w->set.n, &w->set.ties_out, fig->sweep_k);
    if (!tail.spread) /* a spread retained them before the entries moved */
        rc = qz_payload_retain(&w->payloads, w->set.e, w->set.n, err);
    if ((rc = qz_agree(comm, rc, err)))
        return rc;
    /* A sweep whose largest K is above the gather limit is swept where the entries are;
     * select_gathered sweeps the others on the root. */
    swept = job->sweep && fig->sweep_k > job->top_gather_limit;
    if (swept) {
        if ((rc = sweep_distributed(comm, job, run, err)))
            return rc;
        qz_topset_truncate(w->set.e, &w->set.n, &w->set.ties_out, fig->top_count);
    }
    rc = fig->gathered ? select_gathered(comm, job, swept, run, err)
                       : select_distributed(comm, job, run, &tail, err);
    if ((rc = qz_agree(comm, rc, err)))
        return rc;
    rc = quantilized_means(comm, job, run, err);
    return qz_agree(comm, rc, err);
}
