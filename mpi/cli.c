#include "cli.h"

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
#include "driver.h"
#include "gen_archive.h"
#include "interrupt.h"
#include "inspect.h"
#include "job.h"
#include "output.h"
#include "provenance_mpi.h"
#include "progress.h"
#include "record.h"
#include "report.h"
#include "sidefile.h"

#define QZ_PROGRESS_EVERY 10.0 /* seconds between progress lines in batch logs */

static const char usage[] =
    "usage: quantilize run JOB.json [-o OUT.h5] [--overwrite] [--fresh] [--no-progress]\n"
    "                              [--progress-every SECONDS]\n"
    "       quantilize select FILE.h5 --run RUN --q Q [--seed S] [--name NAME] [-o OUT.h5]\n"
    "                              [--overwrite] [--fresh] [--no-progress]\n"
    "       quantilize inspect OUT.h5 [--json]\n"
    "       quantilize report OUT.h5 [--run RUN] [-o REPORT.html]\n"
    "       quantilize --help | --version\n"
    "\n"
    "  run      draw the job's N samples on all MPI ranks (under mpirun or srun, or\n"
    "           alone as one rank), select per the q-quantilizer and add the record\n"
    "           to OUT.h5 (default: the job's output.path, else NAME.h5)\n"
    "           -o OUT.h5          write here instead\n"
    "           --overwrite        replace a run of the same name in OUT.h5\n"
    "           --fresh            delete the run's checkpoint instead of resuming it\n"
    "           --no-progress      show no progress on stderr\n"
    "           --progress-every S seconds between progress lines when stderr is\n"
    "                              not a terminal (default 10)\n"
    "  select   quantilize the archived samples of run RUN (output.archive) again\n"
    "           at q = Q, without drawing: a new run NAME (default RUN-qQ) in\n"
    "           FILE.h5 (or OUT.h5); --seed S selects with seed S instead of RUN's\n"
    "  inspect  print a summary of every run in OUT.h5\n"
    "           --json             as one JSON document, for scripts\n"
    "  report   write a self-contained HTML page (inline SVG plots) of the runs in\n"
    "           OUT.h5: figures, the utility distribution, sweeps over q\n"
    "           --run RUN          only this run (NAME, or NAME/tasks/ID)\n"
    "           -o REPORT.html     write here (default: OUT.html beside OUT.h5)\n"
    "\n"
    "  A run resumes from its checkpoint (OUT.h5.NAME.ckpt unless the job's\n"
    "  checkpoint.path says otherwise) by itself. On SIGUSR1 or SIGTERM it writes a\n"
    "  checkpoint and stops with exit status 75.\n"
    "\n"
    "exit status: 0 success, 1 run-time failure, 2 bad job, bad arguments or a\n"
    "             checkpoint of another job, 75 checkpointed on a signal: run again\n";

struct run_args {
    const char *job; /* select: the archive's file */
    const char *run; /* select: --run, --q, --seed, --name */
    double q;
    int has_q;
    uint64_t seed;
    int has_seed;
    const char *name;
    const char *out;
    int overwrite;
    int fresh;
    int progress;
    double progress_every;
};

static int is_root(void)
{
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return rank == 0;
}

/* Print err on rank 0 and return the exit status for code. */
static int fail(enum qz_status code, const struct qz_error *err)
{
    if (is_root())
        fprintf(stderr, "quantilize: %s\n", err->msg[0] ? err->msg : qz_strerror(code));
    return qz_exit_status(code);
}

/* select's own options; 0 when arg is not one of them. */
static int parse_select_option(int argc, char **argv, int *i, struct run_args *a,
                               enum qz_status *rc, struct qz_error *err)
{
    const char *arg = argv[*i];
    char *end;

    if (strcmp(arg, "--run") != 0 && strcmp(arg, "--q") != 0 && strcmp(arg, "--seed") != 0 &&
        strcmp(arg, "--name") != 0)
        return 0;
    if (++*i == argc) {
        *rc = qz_error_set(err, QZ_EARGS, "select: %s needs a value", arg);
        return 1;
    }
    if (strcmp(arg, "--run") == 0)
        a->run = argv[*i];
    else if (strcmp(arg, "--name") == 0)
        a->name = argv[*i];
    else if (strcmp(arg, "--q") == 0) {
        a->q = strtod(argv[*i], &end);
        a->has_q = 1;
        if (*end || !(a->q > 0 && a->q <= 1))
            *rc =
                qz_error_set(err, QZ_EARGS, "select: --q: must be in (0, 1], got \"%s\"", argv[*i]);
    } else {
        unsigned long long v = strtoull(argv[*i], &end, 10);
        a->seed = v;
        a->has_seed = 1;
        if (*end || argv[*i][0] == '-' || !argv[*i][0] || (double)v > QZ_SAMPLES_MAX)
            *rc = qz_error_set(err, QZ_EARGS,
                               "select: --seed: must be an integer from 0 to 2^53, got \"%s\"",
                               argv[*i]);
    }
    return 1;
}

static enum qz_status parse_run_args(int argc, char **argv, struct run_args *a,
                                     struct qz_error *err)
{
    const char *cmd = argv[1];
    int select = strcmp(cmd, "select") == 0;
    enum qz_status rc = QZ_OK;

    memset(a, 0, sizeof *a);
    a->progress = 1;
    a->progress_every = QZ_PROGRESS_EVERY;
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        if (select && parse_select_option(argc, argv, &i, a, &rc, err)) {
            if (rc)
                return rc;
        } else if (strcmp(arg, "-o") == 0 || strcmp(arg, "--output") == 0) {
            if (++i == argc)
                return qz_error_set(err, QZ_EARGS, "%s needs a file name", arg);
            a->out = argv[i];
        } else if (strcmp(arg, "--overwrite") == 0) {
            a->overwrite = 1;
        } else if (strcmp(arg, "--fresh") == 0) {
            a->fresh = 1;
        } else if (strcmp(arg, "--no-progress") == 0) {
            a->progress = 0;
        } else if (strcmp(arg, "--progress-every") == 0) {
            char *end;
            if (++i == argc)
                return qz_error_set(err, QZ_EARGS, "%s needs a number of seconds", arg);
            a->progress_every = strtod(argv[i], &end);
            if (*end || !(a->progress_every > 0) || !isfinite(a->progress_every))
                return qz_error_set(err, QZ_EARGS,
                                    "--progress-every: must be a positive number, got \"%s\"",
                                    argv[i]);
        } else if (arg[0] == '-') {
            return qz_error_set(err, QZ_EARGS, "%s: unknown option \"%s\" (see --help)", cmd, arg);
        } else if (!a->job) {
            a->job = arg;
        } else {
            return qz_error_set(err, QZ_EARGS, "%s: more than one %s (\"%s\", \"%s\")", cmd,
                                select ? "file" : "job file", a->job, arg);
        }
    }
    if (!a->job)
        return qz_error_set(err, QZ_EARGS, "%s: missing %s (see --help)", cmd,
                            select ? "FILE.h5" : "JOB.json");
    if (select && !a->run)
        return qz_error_set(err, QZ_EARGS, "select: missing --run RUN (see --help)");
    if (select && !a->has_q)
        return qz_error_set(err, QZ_EARGS, "select: missing --q Q (see --help)");
    return QZ_OK;
}

static void iso_time(time_t t, char *buf, size_t len)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The selected sample's payload, drawn again from (seed, index): it is never kept
 * while streaming. Root only. */
static enum qz_status selected_payload(const struct qz_job *job, uint64_t index, double *value,
                                       struct qz_error *err)
{
    struct qz_batch b;
    enum qz_status rc = qz_batch_init(&b, 1, err);
    if (rc)
        return rc;
    rc = job->gen.ops->draw(job->gen.state, index, 1, &b, err);
    *value = b.value[0];
    qz_batch_free(&b);
    return rc;
}

static void print_summary(const struct qz_record *rec, const char *path)
{
    char rate[16];
    if (rec->text) {
        const struct qz_texts *t = rec->selected_text;
        size_t i = rec->selected_text_at, len = t->len[i];
        printf("selected text: \"%.*s\"%s\n", len > 240 ? 240 : (int)len, t->bytes + t->off[i],
               len > 240 ? "..." : "");
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
 * res and the caller's buffers (job_text, payload). */
static void fill_record(struct qz_record *rec, const struct qz_job *job,
                        const struct qz_run_result *res, const char *job_text,
                        const double *payload, int ranks)
{
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
    rec->top = job->output_top && res->gathered ? res->part : NULL;
    rec->ranks = ranks;
    rec->draw_seconds = res->draw_seconds;
    rec->select_seconds = res->select_seconds;
    rec->peak_rss_max = res->peak_rss_max;
    rec->peak_rss_root = res->peak_rss_root;
    rec->text = res->text;
    if (res->text) {
        int gathered_texts = res->top_texts.n > 0;
        rec->selected_payload = NULL;
        rec->selected_payload_len = 0;
        rec->selected_text = gathered_texts ? &res->top_texts : &res->selected_text;
        rec->selected_text_at = gathered_texts ? res->selected_position : 0;
        rec->top_texts = gathered_texts ? &res->top_texts : NULL;
        rec->has_logprobs = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(job->json, "generator"), "logprobs"));
    }
    rec->has_stats = res->has_stats;
    rec->stats = res->stats;
    rec->utility_quantilized_mean = res->utility_q_mean;
    rec->cost_quantilized_mean = res->cost_q_mean;
    rec->cost_base_mean = res->cost_base_mean;
    rec->cost_base_stderr = res->cost_base_stderr;
    rec->cost_bound = res->cost_base_mean / job->q;
    rec->kl_nats = 0.0 - log(job->q);
    rec->sweep = job->sweep ? res->sweep : NULL;
    rec->nsweep = job->sweep ? job->nq : 0;
    rec->checkpoints = res->checkpoints;
    rec->checkpoint_seconds = res->checkpoint_seconds;
    rec->resumes = res->resumes;
}

/* Collective: write the record (filled on the root only) to `out`. The root writes
 * all but a top set too large to gather, which every rank then writes collectively
 * before the root commits. */
static enum qz_status write_record(const struct qz_job *job, const char *run,
                                   const struct qz_record *rec, const struct qz_run_result *res,
                                   const char *out, const char *staging, int overwrite,
                                   struct qz_error *err)
{
    struct qz_output_txn txn;
    int root = is_root(), collective = job->output_top && !res->gathered;
    int len = 0;
    char *tmp = NULL;
    enum qz_status rc = QZ_OK;

    if (!collective && !staging)
        return qz_agree(MPI_COMM_WORLD, root ? qz_output_write(out, rec, overwrite, err) : QZ_OK,
                        err);
    memset(&txn, 0, sizeof txn);
    if (root) {
        rc = qz_output_begin(out, staging, rec, overwrite, &txn, err);
        len = rc == QZ_OK ? (int)strlen(txn.file.tmp) + 1 : 0;
    }
    if ((rc = qz_agree(MPI_COMM_WORLD, rc, err)))
        return rc;
    MPI_Bcast(&len, 1, MPI_INT, 0, MPI_COMM_WORLD);
    tmp = malloc((size_t)len);
    if (!tmp)
        QZ_ABORT(MPI_COMM_WORLD, "out of memory for a file name");
    if (root)
        memcpy(tmp, txn.file.tmp, (size_t)len);
    MPI_Bcast(tmp, len, MPI_CHAR, 0, MPI_COMM_WORLD);
    if (collective)
        rc = qz_output_write_top(MPI_COMM_WORLD, tmp, run, res->part, res->part_n, res->part_offset,
                                 res->top_count, job->cost.ops != NULL, err);
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

/* What every quantilization of one `run` command shares. */
struct run_ctx {
    const struct run_args *a;
    const char *out;       /* the output file */
    const char *ckpt_path; /* the run's checkpoint */
    const char *staging;   /* the archive's staging file; NULL when the job archives nothing */
    uint64_t job_hash;
    const char *source_file; /* select: the archive's file and run, else NULL */
    const char *source_run;
};

/* Collective: after task `task` is recorded, the checkpoint says where to go on: at
 * the next task, or nowhere (removed) after the last. */
static enum qz_status advance_checkpoint(const struct qz_job *job, const struct run_ctx *cx,
                                         size_t task, struct qz_error *err)
{
    struct qz_ckpt_header h;
    struct qz_topset none;

    if (task + 1 >= job->tasks.n) {
        if (is_root())
            qz_ckpt_remove(cx->ckpt_path);
        return QZ_OK;
    }
    memset(&h, 0, sizeof h);
    memset(&none, 0, sizeof none);
    memcpy(h.magic, QZ_CKPT_MAGIC, sizeof h.magic);
    h.version = QZ_CKPT_VERSION;
    h.job_hash = cx->job_hash;
    h.task = task + 1;
    h.samples = job->samples;
    h.chunk_size = job->chunk_size;
    h.text = (uint64_t)qz_job_text_samples(job);
    return qz_ckpt_write(MPI_COMM_WORLD, cx->ckpt_path, &h, &none, NULL, err);
}

/* Collective: one quantilization of the (current) job, recorded as /runs/<run>. */
static enum qz_status run_one(struct qz_job *job, const char *run, const char *replace_run,
                              const struct run_ctx *cx, size_t task, struct qz_error *err)
{
    const struct run_args *a = cx->a;
    const char *out = cx->out;
    struct qz_run_options opt = {a->progress ? stderr : NULL,
                                 a->progress_every,
                                 cx->ckpt_path,
                                 job->ckpt_every,
                                 cx->job_hash,
                                 task,
                                 cx->staging,
                                 run};
    struct qz_run_result res;
    struct qz_record rec;
    struct qz_provenance prov;
    char *job_text = NULL, *generator_request = NULL;
    double payload = NAN, t0 = MPI_Wtime();
    time_t started = time(NULL);
    int ranks, root = is_root();
    enum qz_status rc;

    memset(&rec, 0, sizeof rec);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    if ((rc = qz_run_draw(MPI_COMM_WORLD, job, &opt, &res, err)))
        return rc;
    rc = qz_provenance_collect(MPI_COMM_WORLD, cx->source_file ? NULL : job->file, job->json, &prov,
                               err);
    if (root && !rc) {
        job_text = qz_job_text(job);
        generator_request = job->gen.ops->describe ? job->gen.ops->describe(job->gen.state) : NULL;
        if (!job_text)
            rc = qz_error_set(err, QZ_ENOMEM, "out of memory");
        else if (!res.text)
            rc = selected_payload(job, res.selected.index, &payload, err);
        fill_record(&rec, job, &res, job_text, &payload, ranks);
        rec.provenance = prov;
        rec.run = run;
        rec.replace_run = replace_run;
        rec.generator_request = generator_request;
        rec.source_file = cx->source_file;
        rec.source_run = cx->source_run;
        iso_time(started, rec.started, sizeof rec.started);
        iso_time(time(NULL), rec.finished, sizeof rec.finished);
        rec.wall_seconds = MPI_Wtime() - t0;
        /* this session's rate: a resumed run drew only the rest */
        rec.samples_per_second =
            rec.wall_seconds > 0 ? (double)(rec.samples - res.resumed_samples) / rec.wall_seconds
                                 : 0;
    }
    if ((rc = qz_agree(MPI_COMM_WORLD, rc, err)) == QZ_OK)
        rc = write_record(job, run, &rec, &res, out, cx->staging, a->overwrite, err);
    if (rc == QZ_OK && root)
        print_summary(&rec, out);
    if (rc == QZ_OK)
        rc = job->tasks.n ? advance_checkpoint(job, cx, task, err) : QZ_OK;
    if (rc == QZ_OK && root && !job->tasks.n)
        qz_ckpt_remove(cx->ckpt_path);
    if (rc == QZ_OK && root && cx->staging) /* the staging file is the record now */
        remove_staging(cx->staging);
    qz_run_result_free(&res);
    cJSON_free(job_text);
    free(generator_request);
    return rc;
}

/* Collective: the job's tasks one after another, each on all ranks, each with its own
 * seed and record /runs/<name>/tasks/<id>. The first replaces an old run (--overwrite). */
static enum qz_status run_tasks(struct qz_job *job, const struct run_ctx *cx, size_t first,
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
        }
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
static enum qz_status resume_task(const struct run_ctx *cx, size_t *task, struct qz_error *err)
{
    struct qz_ckpt ck;
    int found;
    enum qz_status rc = qz_ckpt_find(MPI_COMM_WORLD, cx->ckpt_path, cx->job_hash, &ck, &found, err);

    *task = rc == QZ_OK && found ? (size_t)ck.h.task : 0;
    if (rc == QZ_OK)
        qz_ckpt_free(&ck);
    return rc;
}

/* Collective: run a loaded job (run or select) and record it; frees the job. The
 * process exit status. */
static int run_job(struct qz_job *job_in, const struct run_args *a_in, const char *source_file,
                   const char *source_run)
{
    struct qz_error err = {QZ_OK, ""};
    const struct run_args a = *a_in;
    struct run_ctx cx;
    struct qz_job job = *job_in;
    char *default_out = NULL, *default_ckpt = NULL, *staging = NULL;
    size_t first = 0;
    int root = is_root();
    enum qz_status rc;

    if (qz_interrupt_install(NULL) != QZ_OK)
        QZ_ABORT(MPI_COMM_WORLD, "cannot install the signal handlers");

    memset(&cx, 0, sizeof cx);
    cx.a = &a;
    cx.source_file = source_file;
    cx.source_run = source_run;
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
    qz_job_hash(&job, &cx.job_hash, NULL); /* 0 when out of memory */
    if (cx.out && job.archive != QZ_ARCHIVE_NONE)
        cx.staging = staging = qz_archive_staging_path(cx.out, job.name);
    rc = cx.out && cx.ckpt_path && cx.job_hash && (staging || job.archive == QZ_ARCHIVE_NONE)
             ? QZ_OK
             : qz_error_set(&err, QZ_ENOMEM, "out of memory");
    if (rc == QZ_OK && root && a.fresh) {
        qz_ckpt_remove(cx.ckpt_path);
        remove_staging(staging);
    }
    if ((rc = qz_agree(MPI_COMM_WORLD, rc, &err)) == QZ_OK)
        rc = resume_task(&cx, &first, &err);
    if (rc == QZ_OK && first >= (job.tasks.n ? job.tasks.n : 1))
        rc = qz_error_set(&err, QZ_ECKPT,
                          "checkpoint %s resumes task %zu, but the job has %zu: remove it to "
                          "start afresh",
                          cx.ckpt_path, first, job.tasks.n);
    /* Resuming after the first task: the run is in the file already, from this job. */
    if (rc == QZ_OK && root && first == 0)
        rc = qz_output_check(cx.out, job.name, a.overwrite, &err);
    if ((rc = qz_agree(MPI_COMM_WORLD, rc, &err)) == QZ_OK)
        rc = job.tasks.n ? run_tasks(&job, &cx, first, &err)
                         : run_one(&job, job.name, NULL, &cx, 0, &err);
    /* A failed run leaves no partial archive, unless a checkpoint goes on with it. */
    if (rc && rc != QZ_ESTOPPED && root && access(cx.ckpt_path, F_OK) != 0)
        remove_staging(staging);
    free(default_out);
    free(default_ckpt);
    free(staging);
    qz_job_free(&job);
    return rc ? fail(rc, &err) : 0;
}

/* x with the fewest digits that read back as x (0.01234567, not 0.0123457). */
static const char *shortest(double x, char *buf, size_t len)
{
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(buf, len, "%.*g", digits, x);
        if (strtod(buf, NULL) == x)
            break;
    }
    return buf;
}

/* The job a select runs: the archived run's samples at another q (and seed). Local;
 * every rank builds the same. */
static enum qz_status select_job(const struct run_args *a, struct qz_job *job, struct qz_error *err)
{
    struct qz_archive_source src;
    cJSON *j = NULL, *gen, *util, *sjob = NULL;
    const cJSON *invalid, *output, *gather;
    struct qz_jv at = {.file = a->job, .path = "cost"};
    char name[QZ_NAME_MAX + 1], qtext[32];
    enum qz_status rc;

    memset(job, 0, sizeof *job);
    if ((rc = qz_gen_archive_open(a->job, a->run, &job->gen, &src, err)))
        return rc;
    sjob = cJSON_Parse(src.job_json);
    invalid = cJSON_GetObjectItemCaseSensitive(sjob, "invalid");
    output = cJSON_GetObjectItemCaseSensitive(sjob, "output");
    gather = cJSON_GetObjectItemCaseSensitive(output, "top_gather_limit");
    if (a->name)
        snprintf(name, sizeof name, "%s", a->name);
    else {
        /* a task's run NAME/tasks/ID gives NAME-tasks-ID-qQ */
        snprintf(name, sizeof name, "%.150s-q%s", a->run, shortest(a->q, qtext, sizeof qtext));
        for (char *p = name; *p; p++)
            *p = *p == '/' ? '-' : *p;
    }
    j = cJSON_CreateObject();
    gen = cJSON_CreateObject();
    util = cJSON_CreateObject();
    if (!j || !gen || !util || !sjob) {
        cJSON_Delete(util);
        rc = qz_error_set(err, QZ_ENOMEM, "out of memory");
        goto done;
    }
    cJSON_AddStringToObject(j, "name", name);
    cJSON_AddNumberToObject(j, "seed", (double)(a->has_seed ? a->seed : src.seed));
    cJSON_AddNumberToObject(j, "q", a->q);
    cJSON_AddNumberToObject(j, "samples", (double)src.samples);
    cJSON_AddNumberToObject(j, "chunk_size", (double)src.chunk_size);
    cJSON_AddStringToObject(j, "invalid", cJSON_IsString(invalid) ? invalid->valuestring : "error");
    cJSON_AddStringToObject(gen, "kind", "archive");
    cJSON_AddStringToObject(gen, "file", a->job);
    cJSON_AddStringToObject(gen, "run", a->run);
    cJSON_AddItemToObject(j, "generator", gen);
    gen = NULL;
    cJSON_AddStringToObject(util, "kind", "archived");
    cJSON_AddItemToObject(j, "utility", util);
    if (!(job->json = j) || !(job->file = strdup(a->job))) {
        rc = qz_error_set(err, QZ_ENOMEM, "out of memory");
        goto done;
    }
    j = NULL;
    {
        struct qz_jv nat = {.file = a->job, .path = ""};
        if ((rc = qz_job_check_name(&nat, job->json, "name", err)))
            goto done;
    }
    job->name = cJSON_GetObjectItemCaseSensitive(job->json, "name")->valuestring;
    job->seed = a->has_seed ? a->seed : src.seed;
    job->q = a->q;
    job->q_list[0] = a->q;
    job->nq = 1;
    job->samples = src.samples;
    job->chunk_size = src.chunk_size;
    job->invalid = cJSON_IsString(invalid) && strcmp(invalid->valuestring, "exclude") == 0
                       ? QZ_INVALID_EXCLUDE
                       : QZ_INVALID_ERROR;
    job->output_path = a->job;
    job->output_top = 1;
    job->top_gather_limit = cJSON_IsNumber(gather) && gather->valuedouble >= 1
                                ? (uint64_t)gather->valuedouble
                                : QZ_TOP_GATHER_DEFAULT;
    job->ckpt_every = QZ_CKPT_EVERY_DEFAULT;
    job->utility.ops = &qz_score_archived_ops;
    if (src.has_cost) {
        cJSON *spec = cJSON_CreateObject();
        cJSON_AddStringToObject(spec, "kind", "component");
        rc = spec ? qz_score_open(&job->cost, spec, &at, err)
                  : qz_error_set(err, QZ_ENOMEM, "out of memory");
        if (spec)
            cJSON_AddItemToObject(job->json, "cost", spec);
    }
done:
    cJSON_Delete(j);
    cJSON_Delete(gen);
    cJSON_Delete(sjob);
    qz_archive_source_free(&src);
    if (rc)
        qz_job_free(job);
    return rc;
}

/* run and select: load the job (from JOB.json, or the archive's run), then run it. */
static int cmd_run(int argc, char **argv)
{
    struct qz_error err = {QZ_OK, ""};
    struct run_args a;
    struct qz_job job;
    int select = strcmp(argv[1], "select") == 0;
    enum qz_status rc;

    memset(&job, 0, sizeof job);
    if ((rc = parse_run_args(argc, argv, &a, &err)))
        return fail(rc, &err);
    rc = select ? select_job(&a, &job, &err) : qz_job_load(a.job, &job, &err);
    if ((rc = qz_agree(MPI_COMM_WORLD, rc, &err)))
        return fail(rc, &err);
    return run_job(&job, &a, select ? a.job : NULL, select ? a.run : NULL);
}

static int cmd_inspect(int argc, char **argv)
{
    struct qz_error err = {QZ_OK, ""};
    enum qz_status rc = QZ_OK;
    const char *file = NULL;
    int json = 0;

    for (int i = 2; i < argc && rc == QZ_OK; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (argv[i][0] == '-')
            rc = qz_error_set(&err, QZ_EARGS, "inspect: unknown option \"%s\" (see --help)",
                              argv[i]);
        else if (!file)
            file = argv[i];
        else
            rc = qz_error_set(&err, QZ_EARGS, "inspect: expected one file (see --help)");
    }
    if (rc == QZ_OK && !file)
        rc = qz_error_set(&err, QZ_EARGS, "inspect: expected one file (see --help)");
    if (rc == QZ_OK && is_root())
        rc = json ? qz_inspect_json(file, stdout, &err) : qz_inspect(file, stdout, &err);
    rc = qz_agree(MPI_COMM_WORLD, rc, &err);
    return rc ? fail(rc, &err) : 0;
}

static int cmd_report(int argc, char **argv)
{
    struct qz_error err = {QZ_OK, ""};
    enum qz_status rc = QZ_OK;
    const char *file = NULL, *run = NULL, *out = NULL;

    for (int i = 2; i < argc && rc == QZ_OK; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-o") == 0 || strcmp(arg, "--output") == 0 || strcmp(arg, "--run") == 0) {
            if (++i == argc)
                rc = qz_error_set(&err, QZ_EARGS, "report: %s needs %s", arg,
                                  strcmp(arg, "--run") ? "a file name" : "a run name");
            else if (strcmp(arg, "--run") == 0)
                run = argv[i];
            else
                out = argv[i];
        } else if (arg[0] == '-') {
            rc = qz_error_set(&err, QZ_EARGS, "report: unknown option \"%s\" (see --help)", arg);
        } else if (!file) {
            file = arg;
        } else {
            rc = qz_error_set(&err, QZ_EARGS, "report: more than one record file (\"%s\", \"%s\")",
                              file, arg);
        }
    }
    if (rc == QZ_OK && !file)
        rc = qz_error_set(&err, QZ_EARGS, "report: missing OUT.h5 (see --help)");
    if (rc == QZ_OK && is_root())
        rc = qz_report(file, run, out, &err);
    rc = qz_agree(MPI_COMM_WORLD, rc, &err);
    return rc ? fail(rc, &err) : 0;
}

int qz_cli_main(int argc, char **argv)
{
    struct qz_error err = {QZ_OK, ""};
    const char *cmd = argc > 1 ? argv[1] : NULL;

    if (cmd && (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0)) {
        if (is_root())
            fputs(usage, stdout);
        return 0;
    }
    if (cmd && strcmp(cmd, "--version") == 0) {
        if (is_root())
            printf("quantilize %s\n", QZ_VERSION);
        return 0;
    }
    if (cmd && strcmp(cmd, "run") == 0)
        return cmd_run(argc, argv);
    if (cmd && strcmp(cmd, "inspect") == 0)
        return cmd_inspect(argc, argv);
    if (cmd && strcmp(cmd, "select") == 0)
        return cmd_run(argc, argv);
    if (cmd && strcmp(cmd, "report") == 0)
        return cmd_report(argc, argv);
    if (!cmd && is_root())
        fputs(usage, stderr);
    if (cmd)
        qz_error_set(&err, QZ_EARGS, "unknown command \"%s\" (see --help)", cmd);
    else
        qz_error_set(&err, QZ_EARGS, "missing command");
    return fail(QZ_EARGS, &err);
}
