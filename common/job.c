#include "job.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "select.h"
#include "sweep.h"
#include "utf8.h"

#define QZ_JOB_FILE_MAX (16u << 20)

static const char *const top_fields[] = {
    "name",       "description", "seed",       "q",       "samples", "samples_per_quantile",
    "chunk_size", "invalid",     "generator",  "utility", "cost",    "output",
    "tasks",      "checkpoint",  "confidence", "metrics", NULL,
};
static const char *const output_fields[] = {"path", "top", "top_gather_limit", "archive", NULL};
static const char *const archive_choices[] = {"none", "utilities", "all", NULL};
static const char *const checkpoint_fields[] = {"every_seconds", "path", NULL};
static const char *const invalid_choices[] = {"error", "exclude", NULL};

/* A decoded string must still be valid UTF-8 (escapes can spell what the raw text could
 * not hold). */
static enum qz_status check_utf8(const struct qz_jv *at, const cJSON *obj, const char *field,
                                 struct qz_error *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, field);
    if (cJSON_IsString(item) && !qz_utf8_valid(item->valuestring, strlen(item->valuestring)))
        return qz_jv_fail(at, field, NULL, err, "is not valid UTF-8 once its escapes are decoded");
    return QZ_OK;
}

enum qz_status qz_job_check_name(const struct qz_jv *at, const cJSON *obj, const char *field,
                                 struct qz_error *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, field);
    const char *problem = qz_name_problem(cJSON_IsString(item) ? item->valuestring : "");

    return problem ? qz_jv_fail(at, field, item, err, "%s", problem) : QZ_OK;
}

/* The smallest q of the job. */
uint64_t qz_chunk_from_hint(uint64_t hint)
{
    if (hint > QZ_CHUNK_HINT_MAX)
        hint = QZ_CHUNK_HINT_MAX;
    if (hint > 4)
        hint -= hint % 4; /* whole cost lanes (mpi/draw.c) */
    return hint ? hint : 1;
}

static double smallest_q(const struct qz_job *job)
{
    double q = job->q_list[0];
    for (size_t i = 1; i < job->nq; i++)
        q = job->q_list[i] < q ? job->q_list[i] : q;
    return q;
}

static enum qz_status resolve_samples(const struct qz_jv *at, struct qz_job *job,
                                      struct qz_error *err)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(job->json, "samples");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(job->json, "samples_per_quantile");
    double per, total;
    enum qz_status rc;

    if (n && m)
        return qz_jv_fail(at, "samples_per_quantile", m, err,
                          "give either samples or samples_per_quantile, not both");
    if (!n && !m)
        return qz_jv_fail(at, "samples", NULL, err, "is required (or give samples_per_quantile)");
    if (n)
        return qz_jv_uint(at, job->json, "samples", 1, 0, 1, (uint64_t)QZ_SAMPLES_MAX - 1,
                          &job->samples, err);
    if ((rc = qz_jv_number(at, job->json, "samples_per_quantile", 1, 0, &per, err)))
        return rc;
    if (!(per > 0))
        return qz_jv_fail(at, "samples_per_quantile", m, err, "must be a positive number");
    total = ceil(qz_snap_integer(per / smallest_q(job)));
    if (!(total <= QZ_SAMPLES_MAX))
        return qz_jv_fail(at, "samples_per_quantile", m, err,
                          "gives N = %.17g / q = %.6g samples, more than 2^53", per, total);
    job->samples = (uint64_t)total;
    return QZ_OK;
}

/* A scorer must fit what the generator draws: text or numbers, with log-probs. */
static enum qz_status check_scorer(const struct qz_jv *at, const char *field,
                                   const struct qz_score *sc, const struct qz_job *job,
                                   const cJSON *gspec, struct qz_error *err)
{
    struct qz_jv sub;
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(gspec, "kind");
    const char *gkind = cJSON_IsString(kind) ? kind->valuestring : "?";
    int text = qz_job_text_samples(job);

    qz_jv_child(at, field, &sub);
    if (sc->ops->needs_text && !text)
        return qz_jv_fail(&sub, "kind", NULL, err,
                          "\"%s\" scores text, but generator \"%s\" draws numbers", sc->ops->name,
                          gkind);
    if (sc->ops->needs_numbers && text)
        return qz_jv_fail(&sub, "kind", NULL, err,
                          "\"%s\" scores numbers, but generator \"%s\" draws text", sc->ops->name,
                          gkind);
    if (sc->ops->needs_logprobs &&
        !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(gspec, "logprobs")))
        return qz_jv_fail(&sub, "kind", NULL, err, "\"%s\" needs generator.logprobs: true",
                          sc->ops->name);
    return QZ_OK;
}

int qz_job_text_samples(const struct qz_job *job)
{
    return job->gen.ops && job->gen.ops->produces_text &&
           job->gen.ops->produces_text(job->gen.state);
}

static enum qz_status open_backends(const struct qz_jv *at, struct qz_job *job,
                                    struct qz_error *err)
{
    const cJSON *gspec, *uspec, *cspec;
    struct qz_jv sub;
    enum qz_status rc;

    if ((rc = qz_jv_object(at, job->json, "generator", 1, &gspec, err)) ||
        (rc = qz_jv_object(at, job->json, "utility", 0, &uspec, err)) ||
        (rc = qz_jv_object(at, job->json, "cost", 0, &cspec, err)))
        return rc;
    qz_jv_child(at, "generator", &sub);
    if ((rc = qz_gen_open(&job->gen, gspec, &sub, job->seed, err)))
        return rc;
    qz_jv_child(at, "utility", &sub);
    if (uspec && job->tasks.n) { /* a tasks line may give the reference answer */
        if ((rc = qz_tasks_check_scorer(&job->tasks, uspec, &sub, err)) == QZ_OK)
            rc = qz_task_score_open(&job->utility, &job->tasks, 0, uspec, &sub, err);
    } else if (uspec) {
        rc = qz_score_open(&job->utility, uspec, &sub, err);
    } else {
        cJSON *def = cJSON_Parse("{\"kind\":\"value\"}");
        rc = def ? qz_score_open(&job->utility, def, &sub, err)
                 : qz_error_set(err, QZ_ENOMEM, "out of memory");
        cJSON_Delete(def);
    }
    if (rc)
        return rc;
    if ((rc = check_scorer(at, "utility", &job->utility, job, gspec, err)))
        return rc;
    qz_jv_child(at, "cost", &sub);
    if (cspec && job->tasks.n &&
        ((rc = qz_tasks_check_scorer(&job->tasks, cspec, &sub, err)) ||
         (rc = qz_task_score_open(&job->cost, &job->tasks, 0, cspec, &sub, err)) ||
         (rc = check_scorer(at, "cost", &job->cost, job, gspec, err))))
        return rc;
    if (cspec && !job->tasks.n &&
        ((rc = qz_score_open(&job->cost, cspec, &sub, err)) ||
         (rc = check_scorer(at, "cost", &job->cost, job, gspec, err))))
        return rc;
    return QZ_OK;
}

struct task_ref {
    const struct qz_tasks *tasks;
    size_t t;
};

static cJSON *task_spec(const cJSON *spec, void *arg)
{
    const struct task_ref *r = arg;
    return qz_task_scorer(r->tasks, r->t, spec);
}

enum qz_status qz_job_open_metrics(struct qz_job *job, size_t t, struct qz_error *err)
{
    const cJSON *mobj = cJSON_GetObjectItemCaseSensitive(job->json, "metrics");
    const cJSON *gspec = cJSON_GetObjectItemCaseSensitive(job->json, "generator");
    struct qz_jv at = {.file = job->file ? job->file : "job", .path = "metrics"};
    struct task_ref ref = {&job->tasks, t};
    enum qz_status rc = QZ_OK;

    qz_metrics_close(&job->metrics);
    if ((rc = qz_metrics_open(&job->metrics, mobj, &at, qz_job_text_samples(job),
                              cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(gspec, "logprobs")),
                              job->tasks.n ? task_spec : NULL, &ref, err)))
        return rc;
    /* A "component" metric of a mixture takes only the components' costs: the range
     * the cost would have (qz_sweep_cost_range). */
    for (size_t j = 0; j < job->metrics.n; j++) {
        struct qz_metric *m = &job->metrics.m[j];
        cJSON *tmp = cJSON_CreateObject();
        if (m->sc.range.known || m->sc.ops != &qz_score_component_ops)
            ;
        else if (!tmp || !cJSON_AddItemReferenceToObject(tmp, "cost", m->spec) ||
                 !cJSON_AddItemReferenceToObject(tmp, "generator", (cJSON *)gspec))
            rc = qz_error_set(err, QZ_ENOMEM, "out of memory");
        else
            qz_sweep_cost_range(tmp, &m->sc.range);
        cJSON_Delete(tmp);
        if (rc)
            return rc;
    }
    return QZ_OK;
}

/* The job's metrics (common/metrics.h); a tasks job's are checked with the first
 * task's reference answers (each task opens its own, mpi/session.c). Metrics are
 * scored on the root's gathered top set: a job whose K at N samples exceeds
 * output.top_gather_limit is refused (K only shrinks when samples are invalid). */
static enum qz_status open_metrics(const struct qz_jv *at, struct qz_job *job, struct qz_error *err)
{
    double qmax = 0;
    uint64_t k;
    enum qz_status rc;

    if ((rc = qz_job_open_metrics(job, 0, err)) || job->metrics.n == 0)
        return rc;
    for (size_t j = 0; j < job->metrics.n && job->tasks.n; j++) { /* every task's reference */
        const cJSON *mobj = cJSON_GetObjectItemCaseSensitive(job->json, "metrics");
        cJSON *spec =
            cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(mobj, job->metrics.m[j].name), 1);
        struct qz_jv mat, nat;
        qz_jv_child(at, "metrics", &mat);
        qz_jv_child(&mat, job->metrics.m[j].name, &nat);
        cJSON_DeleteItemFromObjectCaseSensitive(spec, "scope");
        rc = spec ? qz_tasks_check_scorer(&job->tasks, spec, &nat, err)
                  : qz_error_set(err, QZ_ENOMEM, "out of memory");
        cJSON_Delete(spec);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < job->nq; i++)
        qmax = job->q_list[i] > qmax ? job->q_list[i] : qmax;
    k = qz_top_count(qz_mass(qmax, job->samples));
    if (k > job->top_gather_limit)
        return qz_jv_fail(at, "metrics", NULL, err,
                          "metrics are scored on the top set gathered on rank 0, but its K = "
                          "%llu (q = %g of %llu samples) is above output.top_gather_limit = %llu: "
                          "raise the limit or lower q or samples",
                          (unsigned long long)k, qmax, (unsigned long long)job->samples,
                          (unsigned long long)job->top_gather_limit);
    return QZ_OK;
}

/* The job's `tasks` file: each task's generator spec is opened once (without
 * contacting the server) so that every task is checked before anything is drawn. */
static enum qz_status load_tasks(const struct qz_jv *at, struct qz_job *job, struct qz_error *err)
{
    const cJSON *gspec = cJSON_GetObjectItemCaseSensitive(job->json, "generator");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(gspec, "kind");
    const char *path;
    struct qz_jv tat;
    enum qz_status rc;

    if ((rc = qz_jv_string(at, job->json, "tasks", 0, NULL, &path, err)) || !path)
        return rc;
    qz_jv_child(at, "tasks", &tat);
    if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "openai") != 0)
        return qz_jv_fail(at, "tasks", NULL, err,
                          "needs a generator that takes a prompt (kind \"openai\")");
    if ((rc = qz_tasks_load(&job->tasks, path, job->file, &tat, err)))
        return rc;
    for (size_t i = 0; i < job->tasks.n && rc == QZ_OK; i++) {
        char where[QZ_JV_PATH_MAX];
        struct qz_jv gat = {.file = where, .path = "generator"};
        struct qz_gen gen;
        cJSON *spec = qz_task_generator(&job->tasks, i, gspec);
        if (!spec)
            return qz_error_set(err, QZ_ENOMEM, "out of memory");
        cJSON_DeleteItemFromObjectCaseSensitive(spec, "probe");
        cJSON_AddFalseToObject(spec, "probe");
        snprintf(where, sizeof where, "%s (task \"%.100s\")", job->file,
                 qz_task_id(&job->tasks, i));
        if ((rc = qz_gen_open(&gen, spec, &gat, job->seed, err)) == QZ_OK)
            qz_gen_close(&gen);
        cJSON_Delete(spec);
    }
    return rc;
}

/* q: a number in (0, 1], or a list of them (a sweep: the first is the run's own q). */
static enum qz_status parse_q(const struct qz_jv *at, struct qz_job *job, struct qz_error *err)
{
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(job->json, "q"), *item;
    size_t n = 0;

    if (!q)
        return qz_jv_fail(at, "q", NULL, err, "is required");
    if (cJSON_IsArray(q)) {
        job->sweep = 1;
        if (cJSON_GetArraySize(q) < 1 || cJSON_GetArraySize(q) > QZ_SWEEP_MAX)
            return qz_jv_fail(at, "q", q, err, "a list of q must hold 1 to %d numbers",
                              QZ_SWEEP_MAX);
    } else if (!cJSON_IsNumber(q))
        return qz_jv_fail(at, "q", q, err, "must be a number in (0, 1] or a list of them");
    for (item = job->sweep ? q->child : NULL; item; item = item->next) {
        if (!cJSON_IsNumber(item) || !(item->valuedouble > 0 && item->valuedouble <= 1))
            return qz_jv_fail(at, "q", item, err, "every q must be a number in (0, 1]");
        for (size_t i = 0; i < n; i++)
            if (job->q_list[i] == item->valuedouble)
                return qz_jv_fail(at, "q", item, err, "lists q = %g twice", item->valuedouble);
        job->q_list[n++] = item->valuedouble;
    }
    if (!job->sweep) {
        if (!(q->valuedouble > 0 && q->valuedouble <= 1))
            return qz_jv_fail(at, "q", q, err, "must be in (0, 1]");
        job->q_list[n++] = q->valuedouble;
    }
    job->nq = n;
    job->q = job->q_list[0];
    return QZ_OK;
}

/* The checkpoint object: how often, and where (README "Checkpoints"). */
static enum qz_status parse_checkpoint(const struct qz_jv *at, struct qz_job *job,
                                       struct qz_error *err)
{
    const cJSON *ck;
    struct qz_jv cat;
    enum qz_status rc;

    job->ckpt_every = QZ_CKPT_EVERY_DEFAULT;
    job->ckpt_path = NULL;
    if ((rc = qz_jv_object(at, job->json, "checkpoint", 0, &ck, err)) || !ck)
        return rc;
    qz_jv_child(at, "checkpoint", &cat);
    if ((rc = qz_jv_fields(&cat, ck, checkpoint_fields, err)) ||
        (rc = qz_jv_number_in(&cat, ck, "every_seconds", QZ_CKPT_EVERY_DEFAULT, 0, 0, 1e9,
                              &job->ckpt_every, err)) ||
        (rc = qz_jv_string(&cat, ck, "path", 0, NULL, &job->ckpt_path, err)))
        return rc;
    if (job->ckpt_path && !job->ckpt_path[0])
        return qz_jv_fail(&cat, "path", cJSON_GetObjectItemCaseSensitive(ck, "path"), err,
                          "must not be empty");
    return QZ_OK;
}

/* The line (from 1) that holds byte `at` of text. */
static size_t line_of(const char *text, size_t at)
{
    size_t line = 1;
    for (size_t i = 0; i < at; i++)
        line += text[i] == '\n';
    return line;
}

/* The first \u0000 escape of a JSON text (cJSON ends the string there, so "ab\u0000cd"
 * would be read as "ab"), or NULL. Only an escape counts: a backslash preceded by an
 * even number of backslashes. */
const char *qz_job_nul_escape(const char *text)
{
    for (const char *p = text; (p = strstr(p, "\\u")) != NULL; p += 2) {
        size_t slashes = 0;
        while (p - slashes > text && p[-(ptrdiff_t)slashes - 1] == '\\')
            slashes++;
        if (slashes % 2 == 0 && strncmp(p + 2, "0000", 4) == 0)
            return p;
    }
    return NULL;
}

enum qz_status qz_job_parse(const char *text, const char *file, struct qz_job *job,
                            struct qz_error *err)
{
    struct qz_jv at = {.file = file, .path = ""};
    const cJSON *output;
    const char *name, *description, *end = NULL, *nul;
    uint64_t seed;
    int invalid, archive = QZ_ARCHIVE_NONE;
    enum qz_status rc;

    memset(job, 0, sizeof *job);
    job->file = strdup(file);
    if (!job->file)
        return qz_error_set(err, QZ_ENOMEM, "out of memory");
    job->json = cJSON_ParseWithOpts(text, &end, 0);
    if (!job->json) {
        const char *where = cJSON_GetErrorPtr();
        char excerpt[4 * 20 + 8];
        /* The excerpt escaped: a message is one line, whatever the text holds. */
        if (!where)
            where = "";
        qz_utf8_escape(where, strlen(where), 20, excerpt, sizeof excerpt);
        rc = qz_error_set(err, QZ_EJOB, "%s: line %zu: not valid JSON near \"%s\"", file,
                          line_of(text, (size_t)(where[0] ? where - text : 0)), excerpt);
        goto fail;
    }
    end += strspn(end, " \t\r\n");
    if (*end) {
        rc = qz_error_set(err, QZ_EJOB,
                          "%s: line %zu: text after the job (offset %zu): only white space may "
                          "follow it",
                          file, line_of(text, (size_t)(end - text)), (size_t)(end - text));
        goto fail;
    }
    if ((nul = qz_job_nul_escape(text)) != NULL) {
        rc = qz_error_set(err, QZ_EJOB,
                          "%s: line %zu: a string holds \\u0000 (offset %zu): strings cannot "
                          "hold NUL characters",
                          file, line_of(text, (size_t)(nul - text)), (size_t)(nul - text));
        goto fail;
    }
    if ((rc = qz_jv_fields(&at, job->json, top_fields, err)) ||
        (rc = qz_jv_string(&at, job->json, "name", 1, NULL, &name, err)) ||
        (rc = qz_job_check_name(&at, job->json, "name", err)) ||
        (rc = qz_jv_uint(&at, job->json, "seed", 1, 0, 0, (uint64_t)QZ_SAMPLES_MAX - 1, &seed,
                         err)) ||
        (rc = parse_q(&at, job, err)))
        goto fail;
    job->name = name;
    job->seed = seed;
    if ((rc = resolve_samples(&at, job, err)) ||
        (rc = qz_jv_uint(&at, job->json, "chunk_size", 0, QZ_CHUNK_DEFAULT, 1, QZ_CHUNK_MAX,
                         &job->chunk_size, err)) ||
        (rc = qz_jv_choice(&at, job->json, "invalid", 0, QZ_INVALID_ERROR, invalid_choices,
                           &invalid, err)) ||
        (rc = qz_jv_object(&at, job->json, "output", 0, &output, err)) ||
        (rc = qz_jv_number_in(&at, job->json, "confidence", QZ_CONFIDENCE_DEFAULT, 0, 1, 1,
                              &job->confidence, err)))
        goto fail;
    if (job->confidence == 1) {
        rc =
            qz_jv_fail(&at, "confidence", cJSON_GetObjectItemCaseSensitive(job->json, "confidence"),
                       err, "must be in (0, 1)");
        goto fail;
    }
    qz_job_ranges(job->json, &job->utility_range, &job->cost_range);
    job->invalid = (enum qz_invalid_policy)invalid;
    job->output_top = 1;
    job->top_gather_limit = QZ_TOP_GATHER_DEFAULT;
    if (output) {
        struct qz_jv oat;
        qz_jv_child(&at, "output", &oat);
        if ((rc = qz_jv_fields(&oat, output, output_fields, err)) ||
            (rc = qz_jv_string(&oat, output, "path", 0, NULL, &job->output_path, err)) ||
            (rc = qz_jv_bool(&oat, output, "top", 0, 1, &job->output_top, err)) ||
            (rc = qz_jv_uint(&oat, output, "top_gather_limit", 0, QZ_TOP_GATHER_DEFAULT, 1,
                             (uint64_t)QZ_SAMPLES_MAX - 1, &job->top_gather_limit, err)) ||
            (rc = qz_jv_choice(&oat, output, "archive", 0, QZ_ARCHIVE_NONE, archive_choices,
                               &archive, err)))
            goto fail;
        job->archive = (enum qz_archive_mode)archive;
        if (job->output_path && !job->output_path[0]) {
            rc = qz_jv_fail(&oat, "path", cJSON_GetObjectItemCaseSensitive(output, "path"), err,
                            "must not be empty");
            goto fail;
        }
    }
    if ((rc = parse_checkpoint(&at, job, err)) ||
        (rc = qz_jv_string(&at, job->json, "description", 0, NULL, &description, err)) ||
        (rc = check_utf8(&at, job->json, "description", err)) || (rc = load_tasks(&at, job, err)) ||
        (rc = open_backends(&at, job, err)) || (rc = open_metrics(&at, job, err)))
        goto fail;
    if (!cJSON_GetObjectItemCaseSensitive(job->json, "chunk_size") && job->gen.ops->chunk_hint)
        job->chunk_size = qz_chunk_from_hint(job->gen.ops->chunk_hint(job->gen.state));
    return QZ_OK;

fail:
    qz_job_free(job);
    return rc;
}

/* checkpoint.path's directory must exist and be writable: found out only at the first
 * checkpoint, the work drawn until then would be lost. */
static enum qz_status check_ckpt_dir(const char *file, const struct qz_job *job,
                                     struct qz_error *err)
{
    const char *path = job->ckpt_path, *slash;
    char dir[4096];
    struct stat st;

    if (!path)
        return QZ_OK;
    slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    if (stat(dir, &st) != 0)
        return qz_error_set(err, QZ_EJOB, "%s: checkpoint.path: directory %s: %s", file, dir,
                            strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return qz_error_set(err, QZ_EJOB, "%s: checkpoint.path: %s is not a directory", file, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return qz_error_set(err, QZ_EJOB, "%s: checkpoint.path: directory %s is not writable: %s",
                            file, dir, strerror(errno));
    return QZ_OK;
}

enum qz_status qz_job_load(const char *path, struct qz_job *job, struct qz_error *err)
{
    FILE *f = fopen(path, "rb");
    char *text;
    size_t len, bad;
    long size;
    struct stat st;
    enum qz_status rc;

    memset(job, 0, sizeof *job);
    if (!f)
        return qz_error_set(err, QZ_EJOB, "%s: cannot open job file: %s", path, strerror(errno));
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        return qz_error_set(err, QZ_EJOB, "%s: is a directory", path);
    }
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return qz_error_set(err, QZ_EJOB, "%s: cannot read job file", path);
    }
    if ((unsigned long)size > QZ_JOB_FILE_MAX) {
        fclose(f);
        return qz_error_set(err, QZ_EJOB, "%s: job file is larger than %u bytes", path,
                            QZ_JOB_FILE_MAX);
    }
    text = malloc((size_t)size + 1);
    if (!text) {
        fclose(f);
        return qz_error_set(err, QZ_ENOMEM, "out of memory reading %s", path);
    }
    len = fread(text, 1, (size_t)size, f);
    fclose(f);
    if (len != (size_t)size) {
        free(text);
        return qz_error_set(err, QZ_EJOB, "%s: cannot read job file", path);
    }
    text[len] = '\0';
    if (strlen(text) != len) {
        free(text);
        return qz_error_set(err, QZ_EJOB, "%s: job file contains a NUL byte", path);
    }
    if ((bad = qz_utf8_invalid_at(text, len)) < len) {
        rc = qz_error_set(err, QZ_EJOB, "%s:%zu: not valid UTF-8 (byte 0x%02x at offset %zu)", path,
                          line_of(text, bad), (unsigned char)text[bad], bad);
        free(text);
        return rc;
    }
    rc = qz_job_parse(text, path, job, err);
    if (rc == QZ_OK && (rc = check_ckpt_dir(path, job, err)) != QZ_OK)
        qz_job_free(job);
    if (rc == QZ_OK) {
        /* The digest of what was parsed: an edit during a long run does not show. */
        struct qz_sha256 digest;
        unsigned char sum[QZ_SHA256_BYTES];
        qz_sha256_init(&digest);
        qz_sha256_update(&digest, text, len);
        qz_sha256_final(&digest, sum);
        qz_sha256_hex(sum, job->sha256);
    }
    free(text);
    return rc;
}

void qz_job_free(struct qz_job *job)
{
    qz_tasks_free(&job->tasks);
    qz_metrics_close(&job->metrics);
    qz_score_close(&job->cost);
    qz_score_close(&job->utility);
    qz_gen_close(&job->gen);
    cJSON_Delete(job->json);
    free(job->file);
    memset(job, 0, sizeof *job);
}

char *qz_job_text(const struct qz_job *job)
{
    return cJSON_PrintUnformatted(job->json);
}

/* A backend's spec as the job hash sees it (struct qz_spec_field, generator.h): each
 * absent field with a default written out, each field that does not change results
 * removed. The backend's table is the one place that knows both. */
static void spec_canonical(cJSON *spec, const struct qz_spec_field *t)
{
    for (; t && t->field; t++) {
        if (t->role == QZ_SPEC_INCLUDE) {
            spec_canonical(spec, t->include);
            continue;
        }
        if (t->role == QZ_SPEC_NEUTRAL) {
            cJSON_DeleteItemFromObjectCaseSensitive(spec, t->field);
            continue;
        }
        if (cJSON_GetObjectItemCaseSensitive(spec, t->field))
            continue;
        if (t->role == QZ_SPEC_NUMBER)
            cJSON_AddNumberToObject(spec, t->field, t->number);
        else if (t->role == QZ_SPEC_BOOL)
            cJSON_AddBoolToObject(spec, t->field, t->number != 0);
        else
            cJSON_AddStringToObject(spec, t->field, t->string);
    }
}

static const char *spec_kind(const cJSON *spec)
{
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(spec, "kind");
    return cJSON_IsString(kind) ? kind->valuestring : NULL;
}

static void dist_defaults(cJSON *spec);

/* A generator spec in canonical form: the built-in distributions' defaults, or the
 * backend's table. */
static void gen_canonical(cJSON *spec)
{
    const struct qz_generator_ops *ops = qz_gen_ops_of(spec_kind(spec));

    if (!cJSON_IsObject(spec))
        return;
    dist_defaults(spec);
    if (ops)
        spec_canonical(spec, ops->canonical);
}

/* A scorer spec in canonical form (utility, cost, each metric). */
static void scorer_canonical(cJSON *spec)
{
    const struct qz_scorer_ops *ops = qz_score_ops_of(spec_kind(spec));

    if (cJSON_IsObject(spec) && ops)
        spec_canonical(spec, ops->canonical);
}

/* Sort every object's members by key, at every depth (an insertion sort of the linked
 * list: jobs are small), so that the order a job lists its fields in does not count. */
static void sort_keys(cJSON *item)
{
    cJSON *sorted = NULL, *next;

    for (cJSON *c = item ? item->child : NULL; c; c = c->next)
        sort_keys(c);
    if (!cJSON_IsObject(item))
        return;
    for (cJSON *c = item->child; c; c = next) {
        cJSON **at = &sorted;
        next = c->next;
        while (*at && strcmp((*at)->string, c->string) <= 0)
            at = &(*at)->next;
        c->next = *at;
        *at = c;
    }
    /* cJSON's lists are doubly linked, the head's prev pointing at the tail. */
    item->child = sorted;
    for (cJSON *c = sorted, *prev = NULL; c; prev = c, c = c->next) {
        c->prev = prev;
        if (!c->next)
            sorted->prev = c;
    }
}

/* Set obj.name to the number v when absent: a default written out is the same job. */
static void number_default(cJSON *obj, const char *name, double v)
{
    if (cJSON_IsObject(obj) && !cJSON_GetObjectItemCaseSensitive(obj, name))
        cJSON_AddNumberToObject(obj, name, v);
}

/* A built-in distribution with its defaults written out (gen_builtin.c). */
static void dist_defaults(cJSON *spec)
{
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(spec, "kind");
    const char *k = cJSON_IsString(kind) ? kind->valuestring : "";
    if (strcmp(k, "normal") == 0) {
        number_default(spec, "mean", 0);
        number_default(spec, "stddev", 1);
    } else if (strcmp(k, "lognormal") == 0) {
        number_default(spec, "mu", 0);
        number_default(spec, "sigma", 1);
    } else if (strcmp(k, "pareto") == 0) {
        number_default(spec, "scale", 1);
    } else if (strcmp(k, "mixture") == 0) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(spec, "components");
        cJSON *c;
        cJSON_ArrayForEach(c, list)
        {
            number_default(c, "cost", 0);
            gen_canonical(cJSON_GetObjectItemCaseSensitive(c, "generator"));
        }
    }
}

/* The canonical form of a validated job, as the hash sees it: the fields that do not
 * change results dropped, resolved values written out (samples, chunk_size, invalid,
 * utility, every backend's defaults: gen_canonical, scorer_canonical), keys sorted. */
static cJSON *canonical_job(const struct qz_job *job)
{
    static const char *const neutral[] = {
        "name",    "description", "output", "checkpoint", "samples_per_quantile",
        "samples", "chunk_size",  "invalid"};
    cJSON *copy = cJSON_Duplicate(job->json, 1), *metric;

    if (!copy)
        return NULL;
    for (size_t i = 0; i < sizeof neutral / sizeof *neutral; i++)
        cJSON_DeleteItemFromObjectCaseSensitive(copy, neutral[i]);
    gen_canonical(cJSON_GetObjectItemCaseSensitive(copy, "generator"));
    scorer_canonical(cJSON_GetObjectItemCaseSensitive(copy, "utility"));
    scorer_canonical(cJSON_GetObjectItemCaseSensitive(copy, "cost"));
    cJSON_ArrayForEach(metric, cJSON_GetObjectItemCaseSensitive(copy, "metrics"))
    {
        scorer_canonical(metric);
    }
    if (!cJSON_AddNumberToObject(copy, "samples", (double)job->samples) ||
        !cJSON_AddNumberToObject(copy, "chunk_size", (double)job->chunk_size) ||
        !cJSON_AddStringToObject(copy, "invalid",
                                 job->invalid == QZ_INVALID_ERROR ? "error" : "exclude") ||
        (!cJSON_GetObjectItemCaseSensitive(copy, "utility") &&
         !cJSON_AddItemToObject(copy, "utility", cJSON_Parse("{\"kind\":\"value\"}")))) {
        cJSON_Delete(copy);
        return NULL;
    }
    sort_keys(copy);
    return copy;
}

void qz_job_ranges(const cJSON *json, struct qz_ci_range *utility, struct qz_ci_range *cost)
{
    const cJSON *cspec = cJSON_GetObjectItemCaseSensitive(json, "cost");

    qz_score_range_of(cJSON_GetObjectItemCaseSensitive(json, "utility"), utility);
    qz_score_range_of(cspec, cost);
    if (!cost->known)
        qz_sweep_cost_range(json, cost);
}

enum qz_status qz_job_hash(const struct qz_job *job, uint64_t *hash, struct qz_error *err)
{
    cJSON *copy = canonical_job(job);
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(job->json, "generator"), *ref;
    uint64_t h = QZ_CHECKSUM_SEED;
    char *text;

    *hash = 0;
    if (!copy)
        return qz_error_set(err, QZ_ENOMEM, "out of memory for the job's hash");
    text = cJSON_PrintUnformatted(copy);
    cJSON_Delete(copy);
    if (!text)
        return qz_error_set(err, QZ_ENOMEM, "out of memory for the job's hash");
    h = qz_checksum(text, strlen(text) + 1, h);
    cJSON_free(text);
    for (size_t t = 0; t < job->tasks.n; t++) {
        cJSON *g = qz_task_generator(&job->tasks, t, spec);
        const char *id = qz_task_id(&job->tasks, t);
        if (g) {
            gen_canonical(g);
            sort_keys(g);
        }
        text = g ? cJSON_PrintUnformatted(g) : NULL;
        cJSON_Delete(g);
        if (!text)
            return qz_error_set(err, QZ_ENOMEM, "out of memory for the job's hash");
        h = qz_checksum(id, strlen(id) + 1, h);
        h = qz_checksum(text, strlen(text) + 1, h);
        cJSON_free(text);
        /* a task's reference answer scores its samples (the hash of a line without one
         * is unchanged) */
        if (!(ref = cJSON_GetObjectItemCaseSensitive(job->tasks.line[t], "reference")))
            continue;
        if (!(text = cJSON_PrintUnformatted(ref)))
            return qz_error_set(err, QZ_ENOMEM, "out of memory for the job's hash");
        h = qz_checksum(text, strlen(text) + 1, h);
        cJSON_free(text);
    }
    *hash = h ? h : 1; /* 0 is never a job's hash */
    return QZ_OK;
}
