#include "session.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mpi.h>

#include "agree.h"
#include "archive.h"
#include "checkpoint.h"
#include "ckpt.h"
#include "draw.h"
#include "gather.h"
#include "interrupt.h"
#include "output.h"
#include "progress.h"
#include "provenance_mpi.h"
#include "record.h"
#include "run.h"
#include "run_work.h" /* the archive a resume opened, closed on a stop before drawing */
#include "selection.h"
#include "sidefile.h"
#include "utf8.h"

/* What every quantilization of one session shares. */
struct session {
    const struct qz_session_args *a;
    const char *out;       /* the output file */
    const char *ckpt_path; /* the run's checkpoint */
    const char *staging;   /* the archive's staging file; NULL when the job archives nothing */
    uint64_t job_hash;
};

static int is_root(void)
{
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return rank == 0;
}

static void iso_time(time_t t, char *buf, size_t len)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void print_summary(const struct qz_record *rec, const char *path)
{
    char rate[16];
    if (rec->text) {
        const struct qz_texts *t = rec->selected_text;
        size_t i = rec->selected_text_at;
        char shown[4 * 240 + 8];
        /* cut at a character boundary, control characters (ESC included) escaped */
        qz_utf8_escape(t->bytes + t->off[i], t->len[i], 240, shown, sizeof shown);
        printf("selected text: \"%s\"\n", shown);
    }
    qz_format_count(rec->samples_per_second, rate, sizeof rate);
    printf("run \"%s\": selected sample %llu (utility %.17g", rec->run,
           (unsigned long long)rec->selected_index, rec->selected_utility);
    if (rec->has_cost)
        printf(", cost %.17g", rec->selected_cost);
    printf(") at position %llu of K = %llu (mass m = %.17g)\n",
           (unsigned long long)rec->selected_position, (unsigned long long)rec->top_count,
           rec->mass);
    printf("  q = %.17g, N = %llu samples (%llu invalid), threshold %.17g, boundary ties %llu\n",
           rec->q, (unsigned long long)rec->samples, (unsigned long long)rec->invalid_samples,
           rec->threshold, (unsigned long long)rec->boundary_ties);
    if (rec->has_stats)
        printf("  %llu requests, %llu retries, %llu samples failed, %llu + %llu tokens\n",
               (unsigned long long)rec->stats.requests, (unsigned long long)rec->stats.retries,
               (unsigned long long)rec->stats.failed_samples,
               (unsigned long long)rec->stats.prompt_tokens,
               (unsigned long long)rec->stats.completion_tokens);
    printf("  wrote %s /runs/%s in %.3f s (%s samples/s on %d rank%s)\n", path, rec->run,
           rec->wall_seconds, rate, rec->ranks, rec->ranks == 1 ? "" : "s");
}

/* The record of a finished run, on the root. Strings and arrays stay owned by job,
 * run and the caller's buffers (job_text). */
static void fill_record(struct qz_record *rec, const struct qz_job *job, const struct qz_run *run,
                        const char *job_text, int ranks)
{
    const struct qz_run_figures *res = &run->fig;
    const double *payload = &run->root.selected_value;

    memset(rec, 0, sizeof *rec);
    rec->run = job->name;
    rec->job_json = job_text;
    rec->version = QZ_VERSION;
    rec->status = "complete";
    rec->seed = job->seed;
    rec->q = job->q;
    rec->samples = res->samples;
    rec->valid_samples = res->valid;
    rec->invalid_samples = res->invalid;
    rec->mass = res->mass;
    rec->top_count = res->top_count;
    rec->chunk_size = job->chunk_size;
    rec->threshold = res->threshold.utility;
    rec->boundary_ties = res->boundary_ties;
    rec->selected_position = res->selected_position;
    rec->selected_index = res->selected.index;
    rec->selected_utility = res->selected.utility;
    rec->selected_cost = res->selected.cost;
    rec->selected_chunk = res->selected.index / job->chunk_size;
    rec->selected_payload = payload;
    rec->selected_payload_len = 1;
    rec->has_cost = job->cost.ops != NULL;
    rec->top_stored = job->output_top;
    rec->top = job->output_top && res->gathered ? run->root.top : NULL;
    rec->ranks = ranks;
    rec->draw_seconds = res->draw_seconds;
    rec->select_seconds = res->select_seconds;
    rec->peak_rss_max = res->peak_rss_max;
    rec->peak_rss_root = res->peak_rss_root;
    rec->text = res->text;
    if (res->text) {
        int gathered_texts = run->root.top_texts.n > 0;
        rec->selected_payload = NULL;
        rec->selected_payload_len = 0;
        rec->selected_text = gathered_texts ? &run->root.top_texts : &run->root.selected_text;
        rec->selected_text_at = gathered_texts ? res->selected_position : 0;
        rec->top_texts = gathered_texts ? &run->root.top_texts : NULL;
        rec->has_logprobs = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(job->json, "generator"), "logprobs"));
    }
    rec->has_stats = res->has_stats;
    rec->stats = res->stats;
    rec->has_report = res->has_report;
    rec->report = res->report;
    rec->utility_quantilized_mean = res->utility_q_mean;
    rec->cost_quantilized_mean = res->cost_q_mean;
    rec->cost_base_mean = res->cost_base_mean;
    rec->cost_base_stderr = res->cost_base_stderr;
    rec->cost_bound = res->cost_base_mean / job->q;
    rec->kl_nats = 0.0 - log(job->q);
    rec->confidence = res->confidence;
    rec->utility_quantilized_stderr = res->utility_q_ci.stderr_;
    rec->utility_quantilized_ci_low = res->utility_q_ci.low;
    rec->utility_quantilized_ci_high = res->utility_q_ci.high;
    rec->utility_ci_method = qz_ci_method_name(res->utility_q_ci.method);
    rec->top_effective_size = res->top_effective_size;
    rec->cost_quantilized_stderr = res->cost_q_ci.stderr_;
    rec->cost_quantilized_ci_low = res->cost_q_ci.low;
    rec->cost_quantilized_ci_high = res->cost_q_ci.high;
    rec->cost_base_ci_low = res->cost_base_ci.low;
    rec->cost_base_ci_high = res->cost_base_ci.high;
    rec->cost_ci_method = res->has_cost ? qz_ci_method_name(res->cost_base_ci.method) : NULL;
    rec->cost_bound_ucb = res->cost_bound_ucb;
    rec->sweep = job->sweep ? run->root.sweep : NULL;
    rec->nsweep = job->sweep ? job->nq : 0;
    rec->metrics = job->metrics.n ? &job->metrics : NULL;
    rec->metric_results = run->root.metrics;
    rec->checkpoints = res->checkpoints;
    rec->checkpoint_seconds = res->checkpoint_seconds;
    rec->resumes = res->resumes;
    rec->samples_redone = res->samples_redone;
    rec->outage_checkpoints = res->outage_checkpoints;
}

/* Collective: write the record (filled on the root only) to `out`. The root writes
 * all but a top set too large to gather, which every rank then writes collectively;
 * the peak memory is then taken again and set before the root commits. */
static enum qz_status write_record(const struct qz_job *job, const char *name,
                                   const struct qz_record *rec, const struct qz_run *run,
                                   const char *out, const char *staging, int overwrite,
                                   struct qz_error *err)
{
    struct qz_output_txn txn;
    int root = is_root(), collective = job->output_top && !run->fig.gathered;
    int len = 0;
    char *tmp = NULL;
    uint64_t rss_max, rss_root;
    enum qz_status rc = QZ_OK;

    memset(&txn, 0, sizeof txn);
    if (root) {
        rc = qz_output_begin(out, staging, rec, overwrite, &txn, err);
        len = rc == QZ_OK ? (int)strlen(txn.runfile) + 1 : 0;
    }
    if ((rc = qz_agree(MPI_COMM_WORLD, rc, err)))
        return rc;
    MPI_Bcast(&len, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (!(tmp = malloc((size_t)len)))
        rc = qz_error_set(err, QZ_ENOMEM, "out of memory for a file name");
    if ((rc = qz_agree(MPI_COMM_WORLD, rc, err))) {
        if (root)
            qz_output_abort(&txn);
        return rc;
    }
    if (root)
        memcpy(tmp, txn.runfile, (size_t)len);
    MPI_Bcast(tmp, len, MPI_CHAR, 0, MPI_COMM_WORLD);
    if (collective)
        rc = qz_output_write_top(MPI_COMM_WORLD, tmp, name, run->slice.e, run->slice.n,
                                 run->slice.offset, run->fig.top_count, job->cost.ops != NULL, err);
    /* The recorded peak memory covers the whole run, the write of the top set
     * included: taken now on every rank, before the commit. */
    qz_run_peak_rss(MPI_COMM_WORLD, &rss_max, &rss_root);
    if (rc == QZ_OK && root)
        rc = qz_output_set_peak_rss(tmp, name, rss_max, rss_root, err);
    free(tmp);
    if (root) {
        if (rc == QZ_OK)
            rc = qz_output_commit(&txn, qz_output_elapsed(&txn), err);
        else
            qz_output_abort(&txn);
    }
    return qz_agree(MPI_COMM_WORLD, rc, err);
}

/* Remove an archive's staging file and its side file of texts, if any. */
static void remove_staging(const char *staging)
{
    char *text;
    if (!staging)
        return;
    remove(staging);
    if ((text = qz_side_path(staging, NULL, QZ_SIDE_TEXTS))) {
        remove(text);
        free(text);
    }
}

/* Collective: after task `task` is recorded, the checkpoint says where to go on: at
 * the next task, or nowhere (removed) after the last. */
static enum qz_status advance_checkpoint(const struct qz_job *job, const struct session *cx,
                                         size_t task, struct qz_error *err)
{
    struct qz_ckpt_header h;
    struct qz_topset none;

    if (task + 1 >= job->tasks.n) {
        if (is_root())
            qz_ckpt_remove(cx->ckpt_path);
        return QZ_OK;
    }
    memset(&none, 0, sizeof none);
    qz_ckpt_header_init(&h, job, cx->job_hash, task + 1);
    return qz_ckpt_write(MPI_COMM_WORLD, cx->ckpt_path, &h, &none, NULL, err);
}

enum qz_status qz_session_startup_stop(enum qz_status rc, const char *during, const char *ckpt,
                                       struct qz_error *err)
{
    /* [0] the signal of a stop request (the highest number over the ranks), [1] some
     * rank failed for another reason */
    int mine[2], all[2];

    mine[0] = qz_interrupt_pending();
    if (rc == QZ_ESTOPPED && !mine[0])
        mine[0] = INT_MAX; /* stopped for a signal another rank got: "a signal" */
    mine[1] = rc != QZ_OK && rc != QZ_ESTOPPED;
    MPI_Allreduce(mine, all, 2, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (all[1])
        return qz_agree(MPI_COMM_WORLD, rc == QZ_ESTOPPED ? QZ_OK : rc, err);
    if (!all[0])
        return QZ_OK;
    if (!ckpt)
        return qz_error_set(err, QZ_ESTOPPED,
                            "stopped by %s %s, before drawing a sample: run the same command again",
                            qz_interrupt_name(all[0]), during);
    if (access(ckpt, F_OK) == 0)
        return qz_error_set(err, QZ_ESTOPPED,
                            "stopped by %s %s, before drawing a sample: checkpoint %s is "
                            "unchanged; run the same command again to resume",
                            qz_interrupt_name(all[0]), during, ckpt);
    return qz_error_set(err, QZ_ESTOPPED,
                        "stopped by %s %s, before drawing a sample: nothing to checkpoint; "
                        "run the same command again",
                        qz_interrupt_name(all[0]), during);
}

/* Collective: the root asks the server for its limits (the generator's settle op) and
 * every rank applies the same answer, so requests split alike at any rank count. */
static enum qz_status settle_generator(struct qz_job *job, struct qz_error *err)
{
    uint64_t value = 0;
    enum qz_status rc = QZ_OK;

    if (!job->gen.ops->settle || !job->gen.ops->apply_settled)
        return QZ_OK;
    if (is_root())
        rc = job->gen.ops->settle(job->gen.state, &value, err);
    if ((rc = qz_agree(MPI_COMM_WORLD, rc, err)))
        return rc;
    MPI_Bcast(&value, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    job->gen.ops->apply_settled(job->gen.state, value);
    return QZ_OK;
}

/* Collective: one quantilization of the (current) job, recorded as /runs/<name>:
 * resume, draw, select, gather payloads, record, clean up. */
static enum qz_status run_one(struct qz_job *job, const char *name, const char *replace_run,
                              const struct session *cx, size_t task, struct qz_error *err)
{
    const struct qz_session_args *a = cx->a;
    struct qz_run_options opt = {a->progress ? stderr : NULL,
                                 a->progress_every,
                                 cx->ckpt_path,
                                 job->ckpt_every,
                                 cx->job_hash,
                                 task,
                                 cx->staging,
                                 name};
    struct qz_run run;
    struct qz_record rec;
    struct qz_provenance prov;
    char *job_text = NULL, *generator_request = NULL;
    double t0 = MPI_Wtime(), t_draw = 0, t_select = 0;
    time_t started = time(NULL);
    int ranks, root = is_root(), agreed, resumed = 0;
    enum qz_status rc;

    memset(&rec, 0, sizeof rec);
    memset(&run, 0, sizeof run);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    /* Settle what the generator must use on every rank (the effective n), then resume:
     * this task's checkpoint, if there is one. A stop request so far ends the run
     * before it draws. */
    rc = settle_generator(job, err);
    if (rc == QZ_OK)
        resumed = (rc = qz_draw_resume(MPI_COMM_WORLD, job, &opt, &run, err)) == QZ_OK;
    rc = qz_session_startup_stop(rc, job->tasks.n ? "while starting a task" : "during start-up",
                                 cx->ckpt_path, err);
    if (rc && resumed && opt.archive_path) {
        struct qz_error ignored; /* collective; the staging file stays for the resume */
        qz_archive_close(MPI_COMM_WORLD, &run.work->archive, 0, &ignored);
    }
    /* Draw every sample not drawn yet. */
    if (rc == QZ_OK) {
        t_draw = MPI_Wtime();
        rc = qz_draw(MPI_COMM_WORLD, job, &opt, &run, err);
        t_select = MPI_Wtime();
    }
    /* Select, and bring the selected sample's payload (and the top set's) to the root. */
    if (rc == QZ_OK)
        rc = qz_select_global(MPI_COMM_WORLD, job, &run, err);
    if (rc == QZ_OK)
        rc = qz_gather_payloads(MPI_COMM_WORLD, job, &run, err);
    if (rc == QZ_OK)
        rc = qz_gather_metrics(MPI_COMM_WORLD, job, &run, err);
    agreed = rc == QZ_OK; /* every phase above ends agreed */
    if (rc == QZ_OK)
        qz_run_totals(MPI_COMM_WORLD, job, t_select - t_draw, MPI_Wtime() - t_select, &run);
    /* Where and with what it ran (agreed). */
    if (rc == QZ_OK)
        rc = qz_provenance_collect(MPI_COMM_WORLD, job, &prov, err);
    /* Record. */
    if (rc == QZ_OK && root) {
        job_text = qz_job_text(job);
        generator_request = job->gen.ops->describe ? job->gen.ops->describe(job->gen.state) : NULL;
        if (!job_text)
            rc = qz_error_set(err, QZ_ENOMEM, "out of memory");
        fill_record(&rec, job, &run, job_text, ranks);
        rec.provenance = prov;
        rec.run = name;
        rec.replace_run = replace_run;
        rec.generator_request = generator_request;
        rec.source_file = a->source_file;
        rec.source_run = a->source_run;
        iso_time(started, rec.started, sizeof rec.started);
        iso_time(time(NULL), rec.finished, sizeof rec.finished);
        rec.wall_seconds = MPI_Wtime() - t0;
        /* this session's rate: a resumed run drew only the rest */
        rec.samples_per_second =
            rec.wall_seconds > 0
                ? (double)(rec.samples - run.fig.resumed_samples) / rec.wall_seconds
                : 0;
    }
    if (agreed && (rc = qz_agree(MPI_COMM_WORLD, rc, err)) == QZ_OK)
        rc = write_record(job, name, &rec, &run, cx->out, cx->staging, a->overwrite, err);
    if (rc == QZ_OK && root)
        print_summary(&rec, cx->out);
    /* Clean up: the checkpoint goes on to the next task or goes away, and the staging
     * file is the record now. */
    if (rc == QZ_OK)
        rc = job->tasks.n ? advance_checkpoint(job, cx, task, err) : QZ_OK;
    if (rc == QZ_OK && root && !job->tasks.n)
        qz_ckpt_remove(cx->ckpt_path);
    if (rc == QZ_OK && root && cx->staging)
        remove_staging(cx->staging);
    qz_metric_results_free(run.root.metrics, job->metrics.n);
    free(run.root.metric_top);
    run.root.metrics = NULL;
    run.root.metric_top = NULL;
    qz_run_free(&run);
    cJSON_free(job_text);
    free(generator_request);
    return rc;
}

/* Task t's utility and cost, for kinds that score against the task line's reference. */
static enum qz_status task_scorers(struct qz_job *job, size_t t, struct qz_error *err)
{
    const char *fields[] = {"utility", "cost"};
    struct qz_score *sc[] = {&job->utility, &job->cost};
    enum qz_status rc = QZ_OK;

    for (int f = 0; f < 2 && rc == QZ_OK; f++) {
        const cJSON *spec = cJSON_GetObjectItemCaseSensitive(job->json, fields[f]);
        struct qz_jv top = {.file = job->file, .path = ""}, at;
        if (!sc[f]->ops || !sc[f]->ops->needs_reference || !spec)
            continue;
        qz_jv_child(&top, fields[f], &at);
        qz_score_close(sc[f]);
        rc = qz_task_score_open(sc[f], &job->tasks, t, spec, &at, err);
    }
    return rc;
}

/* Collective: the job's tasks one after another, each on all ranks, each with its own
 * seed and record /runs/<name>/tasks/<id>. The first replaces an old run (--overwrite). */
static enum qz_status run_tasks(struct qz_job *job, const struct session *cx, size_t first,
                                struct qz_error *err)
{
    const cJSON *gspec = cJSON_GetObjectItemCaseSensitive(job->json, "generator");
    uint64_t job_seed = job->seed;
    enum qz_status rc = QZ_OK;

    for (size_t t = first; t < job->tasks.n && rc == QZ_OK; t++) {
        const char *id = qz_task_id(&job->tasks, t);
        size_t len = strlen(job->name) + strlen(id) + 8;
        char *run = malloc(len);
        cJSON *spec = qz_task_generator(&job->tasks, t, gspec);
        struct qz_jv at = {.file = job->file, .path = "generator"};

        if (!run || !spec)
            rc = qz_error_set(err, QZ_ENOMEM, "out of memory");
        else {
            snprintf(run, len, "%s/tasks/%s", job->name, id);
            job->seed = qz_task_seed(job_seed, t);
            qz_gen_close(&job->gen);
            rc = qz_gen_open(&job->gen, spec, &at, job->seed, err);
            /* the task's metrics, with its reference answers */
            if (rc == QZ_OK && job->metrics.n)
                rc = qz_job_open_metrics(job, t, err);
        }
        if (rc == QZ_OK)
            rc = task_scorers(job, t, err);
        if ((rc = qz_agree(MPI_COMM_WORLD, rc, err)) == QZ_OK) {
            if (is_root())
                fprintf(stderr, "task %zu of %zu: \"%s\"\n", t + 1, job->tasks.n, id);
            rc = run_one(job, run, t == 0 ? job->name : NULL, cx, t, err);
        }
        cJSON_Delete(spec);
        free(run);
    }
    job->seed = job_seed;
    return rc;
}

/* Collective: the task a checkpoint of this job resumes at (0 when there is none, or
 * it resumes the first task). */
static enum qz_status resume_task(const struct session *cx, size_t *task, struct qz_error *err)
{
    struct qz_ckpt ck;
    int found;
    enum qz_status rc = qz_ckpt_find(MPI_COMM_WORLD, cx->ckpt_path, cx->job_hash, &ck, &found, err);

    *task = rc == QZ_OK && found ? (size_t)ck.h.task : 0;
    if (rc == QZ_OK)
        qz_ckpt_free(&ck);
    return rc;
}

enum qz_status qz_session_run(struct qz_job *job_in, const struct qz_session_args *a_in,
                              struct qz_error *err)
{
    const struct qz_session_args a = *a_in;
    struct session cx;
    struct qz_job job = *job_in;
    char *default_out = NULL, *default_ckpt = NULL, *staging = NULL;
    size_t first = 0;
    int root = is_root();
    enum qz_status rc;

    memset(&cx, 0, sizeof cx);
    cx.a = &a;
    rc = qz_interrupt_install(err);
    cx.out = a.out ? a.out : job.output_path;
    if (!cx.out) {
        size_t len = strlen(job.name) + 4;
        default_out = malloc(len);
        if (default_out)
            snprintf(default_out, len, "%s.h5", job.name);
        cx.out = default_out;
    }
    cx.ckpt_path = job.ckpt_path;
    if (cx.out && !cx.ckpt_path)
        cx.ckpt_path = default_ckpt = qz_side_path(cx.out, job.name, QZ_SIDE_CKPT);
    if (rc == QZ_OK)
        rc = qz_job_hash(&job, &cx.job_hash, err);
    if (cx.out && job.archive != QZ_ARCHIVE_NONE)
        cx.staging = staging = qz_archive_staging_path(cx.out, job.name);
    if (rc == QZ_OK && !(cx.out && cx.ckpt_path && (staging || job.archive == QZ_ARCHIVE_NONE)))
        rc = qz_error_set(err, QZ_ENOMEM, "out of memory");
    if (rc == QZ_OK && root && a.fresh) {
        qz_ckpt_remove(cx.ckpt_path);
        remove_staging(staging);
    }
    if ((rc = qz_agree(MPI_COMM_WORLD, rc, err)) == QZ_OK)
        rc = resume_task(&cx, &first, err);
    if (rc == QZ_OK && first >= (job.tasks.n ? job.tasks.n : 1))
        rc = qz_error_set(err, QZ_ECKPT,
                          "checkpoint %s resumes task %zu, but the job has %zu: remove it to "
                          "start afresh",
                          cx.ckpt_path, first, job.tasks.n);
    /* Resuming after the first task: the run is in the file already, from this job. */
    if (rc == QZ_OK && root && first == 0)
        rc = qz_output_check(cx.out, job.name, a.overwrite, err);
    if ((rc = qz_agree(MPI_COMM_WORLD, rc, err)) == QZ_OK)
        rc = job.tasks.n ? run_tasks(&job, &cx, first, err)
                         : run_one(&job, job.name, NULL, &cx, 0, err);
    /* A failed run leaves no partial archive, unless a checkpoint goes on with it. */
    if (rc && rc != QZ_ESTOPPED && root && access(cx.ckpt_path, F_OK) != 0)
        remove_staging(staging);
    free(default_out);
    free(default_ckpt);
    free(staging);
    qz_job_free(&job);
    return rc;
}
