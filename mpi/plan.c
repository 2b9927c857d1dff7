#include "plan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "agree.h"
#include "draw.h"
#include "format.h"
#include "job.h"
#include "run.h"
#include "select.h"
#include "topset.h"

#define PLAN_MIN_SLACK 4096 /* the top-set buffer's least slack (common/topset.c) */

struct plan_args {
    const char *job;
    unsigned long long ranks;
    double calibrate; /* seconds; 0: none */
    int has_price;
    double price_in, price_out; /* per 1k prompt and completion tokens */
    int json;
};

/* What plan finds. */
struct plan {
    uint64_t samples, tasks, chunks, kmax;
    uint64_t k[QZ_SWEEP_MAX];
    uint64_t topset_bytes, root_bytes; /* per rank; the root's merge on top of it */
    int archives, archive_text;
    uint64_t archive_bytes; /* the fixed part; text archives add the texts */
    int server;             /* a model-server (openai) generator */
    uint64_t n_per_request, max_tokens;
    uint64_t requests;          /* estimated (server jobs), all tasks */
    double prompt_tokens;       /* estimated or measured, all tasks */
    int prompt_measured;        /* prompt_tokens from the calibration's usage */
    double completion_max;      /* max_tokens × samples × tasks */
    double completion_expected; /* measured mean × samples × tasks; NaN without */
    /* calibration */
    int calibrated;
    uint64_t cal_samples;
    double cal_seconds, rate; /* samples/s on the calibrating ranks */
    int cal_ranks;
    double seconds;        /* the estimate at `ranks` ranks; NaN when unknown */
    double slurm_seconds;  /* NaN when unknown */
    uint64_t slurm_ranks;  /* 0 when unknown */
    double cost_max, cost; /* NaN without --price (cost: NaN without a measurement) */
};

static int is_root(void)
{
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return rank == 0;
}

static enum qz_status parse(int argc, char **argv, struct plan_args *a, struct qz_error *err)
{
    memset(a, 0, sizeof *a);
    a->ranks = 1;
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        char *end;
        if (strcmp(arg, "--json") == 0) {
            a->json = 1;
        } else if (strcmp(arg, "--ranks") == 0 || strcmp(arg, "--calibrate") == 0 ||
                   strcmp(arg, "--price") == 0) {
            const char *v;
            if (++i == argc)
                return qz_error_set(err, QZ_EARGS, "plan: %s needs a value", arg);
            v = argv[i];
            if (strcmp(arg, "--ranks") == 0) {
                a->ranks = strtoull(v, &end, 10);
                if (*end || v[0] == '-' || !v[0] || a->ranks < 1 || a->ranks > 1000000)
                    return qz_error_set(err, QZ_EARGS,
                                        "plan: --ranks: must be an integer from 1 to 1000000, "
                                        "got \"%s\"",
                                        v);
            } else if (strcmp(arg, "--calibrate") == 0) {
                a->calibrate = strtod(v, &end);
                if (*end || !(a->calibrate > 0 && a->calibrate <= 3600))
                    return qz_error_set(err, QZ_EARGS,
                                        "plan: --calibrate: must be a number of seconds above 0 "
                                        "and at most 3600, got \"%s\"",
                                        v);
            } else {
                a->price_in = strtod(v, &end);
                if (*end == ',')
                    a->price_out = strtod(end + 1, &end);
                else
                    end = (char *)"x";
                if (*end || !(a->price_in >= 0 && a->price_out >= 0) || !isfinite(a->price_in) ||
                    !isfinite(a->price_out))
                    return qz_error_set(err, QZ_EARGS,
                                        "plan: --price: must be IN,OUT (prices per 1000 prompt "
                                        "and completion tokens, at least 0), got \"%s\"",
                                        v);
                a->has_price = 1;
            }
        } else if (arg[0] == '-') {
            return qz_error_set(err, QZ_EARGS, "plan: unknown option \"%s\" (see --help)", arg);
        } else if (!a->job) {
            a->job = arg;
        } else {
            return qz_error_set(err, QZ_EARGS, "plan: more than one job file (\"%s\", \"%s\")",
                                a->job, arg);
        }
    }
    if (!a->job)
        return qz_error_set(err, QZ_EARGS, "plan: missing JOB.json (see --help)");
    return QZ_OK;
}

/* Multiples of d in (0, n). */
static uint64_t inner_multiples(uint64_t n, uint64_t d)
{
    return n == 0 || d == 0 ? 0 : (n - 1) / d;
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* The requests of one quantilization of N samples in chunks of c, n choices a request:
 * gen_openai splits every draw (a chunk, or a run of chunks) at multiples of n, and a
 * draw never crosses a chunk boundary, so the requests are the pieces that the
 * multiples of n and of c (below N) cut [0, N) into. */
static uint64_t openai_requests(uint64_t N, uint64_t c, uint64_t n)
{
    uint64_t g = gcd(c, n), l;
    if (N == 0)
        return 0;
    l = c / g > UINT64_MAX / n ? 0 : c / g * n;
    return 1 + inner_multiples(N, n) + inner_multiples(N, c) - (l ? inner_multiples(N, l) : 0);
}

/* The prompt's bytes: "prompt", or the contents of "messages". */
static size_t prompt_bytes(const cJSON *gen)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(gen, "prompt");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(gen, "messages"), *it;
    size_t n = 0;
    if (cJSON_IsString(p))
        return strlen(p->valuestring);
    cJSON_ArrayForEach(it, m)
    {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(it, "content");
        if (cJSON_IsString(c))
            n += strlen(c->valuestring);
    }
    return n;
}

static uint64_t json_uint(const cJSON *obj, const char *name, uint64_t dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsNumber(v) && v->valuedouble >= 1 ? (uint64_t)v->valuedouble : dflt;
}

/* Task t's prompt tokens a request, estimated at QZ_PLAN_BYTES_PER_TOKEN bytes a token
 * (the job's generator without tasks). */
static double task_prompt_tokens(const struct qz_job *job, uint64_t t)
{
    const cJSON *gen = cJSON_GetObjectItemCaseSensitive(job->json, "generator");
    cJSON *spec = job->tasks.n ? qz_task_generator(&job->tasks, (size_t)t, gen) : NULL;
    double bytes = (double)prompt_bytes(spec ? spec : gen);

    cJSON_Delete(spec);
    return ceil(bytes / QZ_PLAN_BYTES_PER_TOKEN);
}

/* Collective, for a job with tasks: draw task t as a run does, with its own generator
 * (its prompt) and seed in place of the job's; *spec (the task's generator spec) must
 * live while the generator is open, and job->seed is restored by the caller. */
static enum qz_status use_task(struct qz_job *job, size_t t, cJSON **spec, struct qz_error *err)
{
    const cJSON *gspec = cJSON_GetObjectItemCaseSensitive(job->json, "generator");
    struct qz_jv at = {.file = job->file, .path = "generator"};
    enum qz_status rc;

    *spec = qz_task_generator(&job->tasks, t, gspec);
    if (!*spec) {
        rc = qz_error_set(err, QZ_ENOMEM, "out of memory");
    } else {
        job->seed = qz_task_seed(job->seed, t);
        qz_gen_close(&job->gen);
        rc = qz_gen_open(&job->gen, *spec, &at, job->seed, err);
    }
    return qz_agree(MPI_COMM_WORLD, rc, err);
}

/* The figures that need no drawing. */
static void sizes(const struct qz_job *job, uint64_t ranks, struct plan *p)
{
    const cJSON *gen = cJSON_GetObjectItemCaseSensitive(job->json, "generator");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(gen, "kind");
    uint64_t slack, entries, per_rank;

    p->samples = job->samples;
    p->tasks = job->tasks.n ? job->tasks.n : 1;
    p->chunks = (job->samples + job->chunk_size - 1) / job->chunk_size;
    for (size_t i = 0; i < job->nq; i++) {
        p->k[i] = qz_top_count(qz_mass(job->q_list[i], job->samples));
        p->kmax = p->k[i] > p->kmax ? p->k[i] : p->kmax;
    }
    slack = p->kmax / 8 > PLAN_MIN_SLACK ? p->kmax / 8 : PLAN_MIN_SLACK;
    per_rank = (job->samples + ranks - 1) / ranks;
    entries = p->kmax + slack < per_rank ? p->kmax + slack : per_rank;
    p->topset_bytes = entries * sizeof(struct qz_entry);
    p->root_bytes = ranks > 1 && p->kmax <= job->top_gather_limit
                        ? 3 * p->kmax * (uint64_t)sizeof(struct qz_entry)
                        : 0;
    p->archives = job->archive != QZ_ARCHIVE_NONE;
    p->archive_text = job->archive == QZ_ARCHIVE_ALL && qz_job_text_samples(job);
    if (job->archive == QZ_ARCHIVE_UTILITIES)
        p->archive_bytes = (job->cost.ops ? 24 : 16) * job->samples * p->tasks;
    else if (job->archive == QZ_ARCHIVE_ALL)
        p->archive_bytes = 32 * job->samples * p->tasks;
    p->server = cJSON_IsString(kind) && strcmp(kind->valuestring, "openai") == 0;
    p->completion_expected = p->cost = p->cost_max = p->seconds = p->slurm_seconds = NAN;
    if (p->server) {
        uint64_t per_task;
        p->n_per_request = json_uint(gen, "n", 8);
        p->max_tokens = json_uint(gen, "max_tokens", 64);
        per_task = openai_requests(job->samples, job->chunk_size, p->n_per_request);
        p->requests = per_task * p->tasks;
        /* each task's own prompt (the job's, without tasks) */
        p->prompt_tokens = 0;
        for (uint64_t t = 0; t < p->tasks; t++)
            p->prompt_tokens += (double)per_task * task_prompt_tokens(job, t);
        p->completion_max = (double)p->max_tokens * (double)job->samples * (double)p->tasks;
    }
}

/* Collective: draw samples 0 .. m-1 of the job as a run draws them (no checkpoint, no
 * archive, no progress, nothing written); the seconds (the slowest rank's) and the
 * generator's statistics so far. */
static enum qz_status draw_for(struct qz_job *job, uint64_t m, double *seconds,
                               struct qz_gen_stats *stats, struct qz_error *err)
{
    struct qz_run_options opt = {NULL, 10.0, NULL, 0, 0, 0, NULL, job->name};
    struct qz_run run;
    uint64_t saved = job->samples;
    enum qz_status rc;
    double t0;

    memset(&run, 0, sizeof run);
    memset(stats, 0, sizeof *stats);
    job->samples = m;
    MPI_Barrier(MPI_COMM_WORLD);
    t0 = MPI_Wtime();
    rc = qz_draw_resume(MPI_COMM_WORLD, job, &opt, &run, err);
    if (rc == QZ_OK)
        rc = qz_draw(MPI_COMM_WORLD, job, &opt, &run, err);
    *seconds = MPI_Wtime() - t0;
    MPI_Allreduce(MPI_IN_PLACE, seconds, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    if (rc == QZ_OK) {
        qz_run_totals(MPI_COMM_WORLD, job, *seconds, 0, &run);
        if (run.fig.has_stats)
            *stats = run.fig.stats;
    }
    qz_run_free(&run);
    job->samples = saved;
    return rc;
}

/* Collective: a short draw to find the rate, then one of about `seconds`; the rate is
 * the second's (samples per second over all ranks). */
static enum qz_status calibrate(struct qz_job *job, double seconds, struct plan *p,
                                struct qz_error *err)
{
    struct qz_gen_stats s1, s2;
    double t1, t2 = 0, per_sample;
    uint64_t m1, m2 = 0, c = job->chunk_size;
    int ranks;
    enum qz_status rc;

    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    m1 = c * (uint64_t)ranks < job->samples ? c * (uint64_t)ranks : job->samples;
    if ((rc = draw_for(job, m1, &t1, &s1, err)))
        return rc;
    if (m1 < job->samples) {
        double want = (double)m1 / (t1 > 1e-6 ? t1 : 1e-6) * seconds;
        m2 = want >= (double)job->samples ? job->samples : (uint64_t)want;
        m2 = (m2 + c - 1) / c * c;
        if (m2 < m1)
            m2 = m1;
        if (m2 > job->samples)
            m2 = job->samples;
        if ((rc = draw_for(job, m2, &t2, &s2, err)))
            return rc;
        /* the generator's counts are cumulative: the second draw's own */
        s2.requests -= s1.requests;
        s2.prompt_tokens -= s1.prompt_tokens;
        s2.completion_tokens -= s1.completion_tokens;
    } else {
        m2 = m1;
        t2 = t1;
        s2 = s1;
    }
    p->calibrated = 1;
    p->cal_samples = m2;
    p->cal_seconds = t2;
    p->cal_ranks = ranks;
    p->rate = (double)m2 / (t2 > 1e-9 ? t2 : 1e-9);
    if (p->server && s2.requests > 0) {
        per_sample = (double)s2.completion_tokens / (double)m2;
        p->completion_expected = per_sample * (double)p->samples * (double)p->tasks;
        /* measured on the first task; the others' prompts in proportion to their
         * estimates (the same n, so the same requests per task) */
        double first = task_prompt_tokens(job, 0), measured;
        measured = (double)s2.prompt_tokens / (double)s2.requests;
        p->prompt_tokens = job->tasks.n > 1 && first > 0 ? p->prompt_tokens * measured / first
                                                         : measured * (double)p->requests;
        p->prompt_measured = 1;
    }
    return QZ_OK;
}

static void estimate(const struct plan_args *a, struct plan *p)
{
    double total = (double)p->samples * (double)p->tasks, one;
    if (a->has_price && p->server) {
        p->cost_max =
            p->prompt_tokens / 1000 * a->price_in + p->completion_max / 1000 * a->price_out;
        if (!isnan(p->completion_expected))
            p->cost = p->prompt_tokens / 1000 * a->price_in +
                      p->completion_expected / 1000 * a->price_out;
    }
    if (!p->calibrated)
        return;
    /* the measured rate scaled to `ranks` ranks: linear in the ranks */
    p->seconds = total / (p->rate / p->cal_ranks * (double)a->ranks);
    p->slurm_seconds = ceil(p->seconds * QZ_PLAN_SAFETY + QZ_PLAN_LEAD_SECONDS);
    one = total / (p->rate / p->cal_ranks) * QZ_PLAN_SAFETY + QZ_PLAN_LEAD_SECONDS;
    p->slurm_ranks = 1;
    while (p->slurm_ranks < 1000000 &&
           (one - QZ_PLAN_LEAD_SECONDS) / (double)p->slurm_ranks + QZ_PLAN_LEAD_SECONDS >
               QZ_PLAN_DAY_SECONDS)
        p->slurm_ranks++;
}

/* D-HH:MM:SS or HH:MM:SS, as sbatch --time takes it. */
static void slurm_time(char *buf, size_t len, double seconds)
{
    unsigned long long s = (unsigned long long)seconds;
    unsigned long long d = s / 86400, h = s % 86400 / 3600, m = s % 3600 / 60;
    if (d)
        snprintf(buf, len, "%llu-%02llu:%02llu:%02llu", d, h, m, s % 60);
    else
        snprintf(buf, len, "%02llu:%02llu:%02llu", h, m, s % 60);
}

static void mib(char *buf, size_t len, double bytes)
{
    snprintf(buf, len, "%.1f MiB", bytes / 1048576.0);
}

static void print_text(const struct qz_job *job, const struct plan_args *a, const struct plan *p)
{
    char b1[64], b2[64], b3[64];
    printf("plan for \"%s\" (%s) on %llu rank%s\n", job->name, a->job, a->ranks,
           a->ranks == 1 ? "" : "s");
    printf("  N = %llu samples", (unsigned long long)p->samples);
    if (p->tasks > 1)
        printf(" per task, %llu tasks", (unsigned long long)p->tasks);
    printf(", %llu chunks of %llu\n", (unsigned long long)p->chunks,
           (unsigned long long)job->chunk_size);
    for (size_t i = 0; i < job->nq; i++) {
        qz_format_exact(b1, sizeof b1, job->q_list[i]);
        printf("  q = %s: K = %llu\n", b1, (unsigned long long)p->k[i]);
    }
    mib(b1, sizeof b1, (double)p->topset_bytes);
    printf("  memory per rank: top-set buffer %s (%zu B x min(K + max(K/8, 4096), N/P))", b1,
           sizeof(struct qz_entry));
    if (p->root_bytes) {
        mib(b2, sizeof b2, (double)p->root_bytes);
        printf(", rank 0 also merges up to %s (3K entries)", b2);
    }
    printf("; plus the payloads of the top set and the program itself\n");
    if (p->archives) {
        mib(b1, sizeof b1, (double)p->archive_bytes);
        printf("  archive: %s%s\n", b1, p->archive_text ? " plus the texts" : "");
    }
    if (p->server) {
        printf("  requests: %llu (n = %llu choices a request)\n", (unsigned long long)p->requests,
               (unsigned long long)p->n_per_request);
        printf("  tokens: prompt %.0f (%s), completion at most %.0f (max_tokens %llu)",
               p->prompt_tokens, p->prompt_measured ? "measured" : "estimated at 4 bytes a token",
               p->completion_max, (unsigned long long)p->max_tokens);
        if (!isnan(p->completion_expected))
            printf(", about %.0f measured", p->completion_expected);
        printf("\n");
    }
    if (p->calibrated) {
        qz_format_human(b1, sizeof b1, p->rate);
        qz_format_duration(b2, sizeof b2, p->seconds);
        printf("  rate: %s samples/s on %d rank%s (%llu samples in %.2f s)\n", b1, p->cal_ranks,
               p->cal_ranks == 1 ? "" : "s", (unsigned long long)p->cal_samples, p->cal_seconds);
        printf("  time: %s drawing on %llu rank%s\n", b2, a->ranks, a->ranks == 1 ? "" : "s");
        slurm_time(b3, sizeof b3, p->slurm_seconds);
        printf("  slurm: --time=%s (%.1f x the estimate + %d s checkpoint lead), -n %llu "
               "(the fewest ranks within %d s)\n",
               b3, QZ_PLAN_SAFETY, QZ_PLAN_LEAD_SECONDS, (unsigned long long)p->slurm_ranks,
               QZ_PLAN_DAY_SECONDS);
    } else {
        printf("  time: unknown (measure it with --calibrate SECONDS)\n");
    }
    if (a->has_price && p->server) {
        printf("  cost: at most %.6g (prompt %.6g + completion %.6g per 1k tokens)", p->cost_max,
               a->price_in, a->price_out);
        if (!isnan(p->cost))
            printf(", about %.6g measured", p->cost);
        printf("\n");
    } else if (a->has_price) {
        printf("  cost: none (no model server)\n");
    }
}

static void add_num(cJSON *o, const char *name, double v)
{
    if (isnan(v))
        cJSON_AddNullToObject(o, name);
    else
        cJSON_AddNumberToObject(o, name, v);
}

static void print_json(const struct qz_job *job, const struct plan_args *a, const struct plan *p)
{
    cJSON *o = cJSON_CreateObject(), *qs = cJSON_CreateArray(), *ks = cJSON_CreateArray();
    char *text;
    for (size_t i = 0; i < job->nq; i++) {
        cJSON_AddItemToArray(qs, cJSON_CreateNumber(job->q_list[i]));
        cJSON_AddItemToArray(ks, cJSON_CreateNumber((double)p->k[i]));
    }
    cJSON_AddStringToObject(o, "name", job->name);
    add_num(o, "ranks", (double)a->ranks);
    add_num(o, "samples", (double)p->samples);
    add_num(o, "tasks", (double)p->tasks);
    add_num(o, "chunk_size", (double)job->chunk_size);
    add_num(o, "chunks", (double)p->chunks);
    cJSON_AddItemToObject(o, "q", qs);
    cJSON_AddItemToObject(o, "k", ks);
    add_num(o, "k_max", (double)p->kmax);
    add_num(o, "topset_bytes_per_rank", (double)p->topset_bytes);
    add_num(o, "root_merge_bytes", (double)p->root_bytes);
    add_num(o, "archive_bytes", p->archives ? (double)p->archive_bytes : NAN);
    cJSON_AddBoolToObject(o, "archive_plus_texts", p->archive_text);
    add_num(o, "requests", p->server ? (double)p->requests : NAN);
    add_num(o, "prompt_tokens", p->server ? p->prompt_tokens : NAN);
    cJSON_AddBoolToObject(o, "prompt_tokens_measured", p->prompt_measured);
    add_num(o, "completion_tokens_max", p->server ? p->completion_max : NAN);
    add_num(o, "completion_tokens", p->completion_expected);
    add_num(o, "rate", p->calibrated ? p->rate : NAN);
    add_num(o, "calibration_ranks", p->calibrated ? p->cal_ranks : NAN);
    add_num(o, "seconds", p->seconds);
    add_num(o, "slurm_time_seconds", p->slurm_seconds);
    add_num(o, "slurm_ranks", p->slurm_ranks ? (double)p->slurm_ranks : NAN);
    add_num(o, "cost_max", p->cost_max);
    add_num(o, "cost", p->cost);
    if ((text = cJSON_PrintUnformatted(o))) {
        printf("%s\n", text);
        cJSON_free(text);
    }
    cJSON_Delete(o);
}

int qz_plan_main(int argc, char **argv)
{
    struct qz_error err = {QZ_OK, ""};
    struct plan_args a;
    struct plan p;
    struct qz_job job;
    enum qz_status rc;

    memset(&job, 0, sizeof job);
    memset(&p, 0, sizeof p);
    rc = parse(argc, argv, &a, &err);
    if (rc == QZ_OK)
        rc = qz_job_load(a.job, &job, &err);
    rc = qz_agree(MPI_COMM_WORLD, rc, &err);
    if (rc == QZ_OK && !a.has_price) {
        /* the job's own generator.price (validated at load) when --price is not given */
        const cJSON *gen = cJSON_GetObjectItemCaseSensitive(job.json, "generator");
        const cJSON *price = cJSON_GetObjectItemCaseSensitive(gen, "price");
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(price, "prompt");
        const cJSON *out = cJSON_GetObjectItemCaseSensitive(price, "completion");
        if (cJSON_IsNumber(in) && cJSON_IsNumber(out)) {
            a.has_price = 1;
            a.price_in = in->valuedouble;
            a.price_out = out->valuedouble;
        }
    }
    if (rc == QZ_OK) {
        sizes(&job, a.ranks, &p);
        if (a.calibrate > 0) {
            /* A job with tasks is calibrated on its first task: every task draws the
             * same N with the same generator settings, only the prompt differs. */
            uint64_t seed = job.seed;
            cJSON *spec = NULL;
            if (job.tasks.n)
                rc = use_task(&job, 0, &spec, &err);
            if (rc == QZ_OK)
                rc = calibrate(&job, a.calibrate, &p, &err);
            if (spec) /* the generator may point into its spec */
                qz_gen_close(&job.gen);
            cJSON_Delete(spec);
            job.seed = seed;
        }
    }
    if (rc == QZ_OK) {
        estimate(&a, &p);
        if (is_root()) {
            if (a.json)
                print_json(&job, &a, &p);
            else
                print_text(&job, &a, &p);
            fflush(stdout);
        }
    }
    qz_job_free(&job);
    if (rc && is_root())
        fprintf(stderr, "quantilize: %s\n", err.msg[0] ? err.msg : qz_strerror(rc));
    return rc ? qz_exit_status(rc) : 0;
}
