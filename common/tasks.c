#include "tasks.h"

#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "rng.h"
#include "utf8.h"

#define QZ_STREAM_TASK 6u /* Philox stream of the task seeds */

static const char *const line_fields[] = {"id", "prompt", "messages", "reference", NULL};

/* A line's reference answer: a string or a list of 1 to QZ_TASK_REFS_MAX strings, each
 * valid UTF-8 of at most QZ_TASK_REF_BYTES bytes. */
static enum qz_status check_reference(const struct qz_jv *at, const cJSON *ref,
                                      struct qz_error *err)
{
    const cJSON *item;
    int n = 0, list = cJSON_IsArray(ref);

    if (!list && !cJSON_IsString(ref))
        return qz_jv_fail(at, "reference", ref, err, "must be a string or a list of strings");
    if (list && (cJSON_GetArraySize(ref) < 1 || cJSON_GetArraySize(ref) > QZ_TASK_REFS_MAX))
        return qz_jv_fail(at, "reference", NULL, err,
                          "a list of references must hold 1 to %d strings, got %d",
                          QZ_TASK_REFS_MAX, cJSON_GetArraySize(ref));
    for (item = list ? ref->child : ref; item; item = list ? item->next : NULL, n++) {
        struct qz_jv rat;
        size_t len;
        qz_jv_child(at, "reference", &rat);
        if (list)
            qz_jv_item(&rat, n, &rat);
        if (!cJSON_IsString(item))
            return qz_jv_fail(&rat, NULL, item, err, "must be a string");
        len = strlen(item->valuestring);
        if (len > QZ_TASK_REF_BYTES)
            return qz_jv_fail(&rat, NULL, NULL, err, "is longer than %d bytes", QZ_TASK_REF_BYTES);
        if (!qz_utf8_valid(item->valuestring, len))
            return qz_jv_fail(&rat, NULL, NULL, err,
                              "is not valid UTF-8 once its escapes are decoded");
    }
    return QZ_OK;
}

/* path, or the job file's directory joined with it when path is relative. */
static char *resolve(const char *path, const char *job_file)
{
    const char *slash = strrchr(job_file, '/');
    size_t dir = slash ? (size_t)(slash - job_file) + 1 : 0, len = strlen(path);
    char *out;

    if (path[0] == '/')
        dir = 0;
    if (!(out = malloc(dir + len + 1)))
        return NULL;
    memcpy(out, job_file, dir);
    memcpy(out + dir, path, len + 1);
    return out;
}

/* One line, parsed and checked; `where` is "FILE:LINE". */
static enum qz_status check_line(const cJSON *line, const char *where, struct qz_error *err)
{
    struct qz_jv at = {.file = where, .path = ""};
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(line, "prompt");
    const cJSON *messages = cJSON_GetObjectItemCaseSensitive(line, "messages");
    enum qz_status rc;

    if ((rc = qz_jv_fields(&at, line, line_fields, err)) ||
        (rc = qz_jv_string(&at, line, "id", 1, NULL, &(const char *){NULL}, err)) ||
        (rc = qz_job_check_name(&at, line, "id", err)))
        return rc;
    if (!prompt == !messages)
        return qz_jv_fail(&at, "prompt", NULL, err, "give either prompt or messages");
    if (prompt && !cJSON_IsString(prompt))
        return qz_jv_fail(&at, "prompt", prompt, err, "must be a string");
    if (messages && !cJSON_IsArray(messages))
        return qz_jv_fail(&at, "messages", messages, err, "must be an array of messages");
    if (cJSON_GetObjectItemCaseSensitive(line, "reference"))
        return check_reference(&at, cJSON_GetObjectItemCaseSensitive(line, "reference"), err);
    return QZ_OK;
}

enum qz_status qz_tasks_load(struct qz_tasks *t, const char *path, const char *job_file,
                             const struct qz_jv *at, struct qz_error *err)
{
    char *full = resolve(path, job_file), *text = NULL;
    size_t size = 0, lineno = 0;
    FILE *f;
    struct stat st;
    ssize_t got;
    struct qz_sha256 digest;
    unsigned char sum[QZ_SHA256_BYTES];
    enum qz_status rc = QZ_OK;

    memset(t, 0, sizeof *t);
    qz_sha256_init(&digest);
    if (!full)
        return qz_error_set(err, QZ_ENOMEM, "out of memory");
    if (!(f = fopen(full, "r"))) {
        rc = qz_jv_fail(at, NULL, NULL, err, "cannot open %s: %s", full, strerror(errno));
        free(full);
        return rc;
    }
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        rc = qz_jv_fail(at, NULL, NULL, err, "%s is a directory, not a tasks file", full);
        fclose(f);
        free(full);
        return rc;
    }
    while (rc == QZ_OK && (got = getline(&text, &size, f)) >= 0) {
        char where[512];
        const char *end = NULL;
        cJSON *line, **grown;
        size_t *lines;
        lineno++;
        qz_sha256_update(&digest, text, (size_t)got);
        snprintf(where, sizeof where, "%s:%zu", full, lineno);
        if (strspn(text, " \t\r\n") == (size_t)got)
            continue; /* blank lines are allowed */
        if (qz_utf8_invalid_at(text, (size_t)got) < (size_t)got) {
            rc = qz_error_set(err, QZ_EJOB, "%s: not valid UTF-8", where);
            break;
        }
        if (qz_job_nul_escape(text)) {
            rc = qz_error_set(err, QZ_EJOB,
                              "%s: a string holds \\u0000 (column %zu): strings cannot hold NUL "
                              "characters",
                              where, (size_t)(qz_job_nul_escape(text) - text) + 1);
            break;
        }
        if (!(line = cJSON_ParseWithOpts(text, &end, 0))) {
            rc = qz_error_set(err, QZ_EJOB, "%s: not valid JSON", where);
            break;
        }
        end += strspn(end, " \t\r\n");
        if (*end) {
            rc = qz_error_set(err, QZ_EJOB,
                              "%s: text after the JSON object (column %zu): a line holds one "
                              "object",
                              where, (size_t)(end - text) + 1);
            cJSON_Delete(line);
            break;
        }
        if (t->n == QZ_TASKS_MAX)
            rc = qz_error_set(err, QZ_EJOB, "%s: more than %d tasks", full, QZ_TASKS_MAX);
        else if (!(rc = check_line(line, where, err))) {
            for (size_t i = 0; i < t->n && rc == QZ_OK; i++)
                if (strcmp(qz_task_id(t, i),
                           cJSON_GetObjectItemCaseSensitive(line, "id")->valuestring) == 0)
                    rc = qz_error_set(err, QZ_EJOB, "%s: id: \"%s\" is already the id of task %zu",
                                      where, qz_task_id(t, i), i);
        }
        if (rc == QZ_OK) {
            if ((grown = realloc(t->line, (t->n + 1) * sizeof *grown)) != NULL)
                t->line = grown;
            if ((lines = realloc(t->lineno, (t->n + 1) * sizeof *lines)) != NULL)
                t->lineno = lines;
            if (!grown || !lines)
                rc = qz_error_set(err, QZ_ENOMEM, "out of memory reading %s", full);
        }
        if (rc) {
            cJSON_Delete(line);
            break;
        }
        t->lineno[t->n] = lineno;
        t->line[t->n++] = line;
    }
    if (rc == QZ_OK && ferror(f))
        rc = qz_error_set(err, QZ_EJOB, "%s: cannot read: %s", full, strerror(errno));
    if (rc == QZ_OK && t->n == 0)
        rc = qz_error_set(err, QZ_EJOB, "%s: no tasks in the file", full);
    if (rc == QZ_OK) {
        t->path = full;
        full = NULL;
    }
    qz_sha256_final(&digest, sum);
    qz_sha256_hex(sum, t->sha256);
    fclose(f);
    free(text);
    free(full);
    if (rc)
        qz_tasks_free(t);
    return rc;
}

void qz_tasks_free(struct qz_tasks *t)
{
    for (size_t i = 0; i < t->n; i++)
        cJSON_Delete(t->line[i]);
    free(t->line);
    free(t->lineno);
    free(t->path);
    memset(t, 0, sizeof *t);
}

const char *qz_task_id(const struct qz_tasks *t, size_t i)
{
    return cJSON_GetObjectItemCaseSensitive(t->line[i], "id")->valuestring;
}

cJSON *qz_task_generator(const struct qz_tasks *t, size_t i, const cJSON *spec)
{
    cJSON *g = cJSON_Duplicate(spec, 1);
    const char *fields[] = {"prompt", "messages"};

    if (!g)
        return NULL;
    for (int f = 0; f < 2; f++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(t->line[i], fields[f]);
        cJSON_DeleteItemFromObjectCaseSensitive(g, fields[f]);
        if (v && !cJSON_AddItemToObject(g, fields[f], cJSON_Duplicate(v, 1))) {
            cJSON_Delete(g);
            return NULL;
        }
    }
    if (i > 0) {
        cJSON_DeleteItemFromObjectCaseSensitive(g, "probe");
        cJSON_AddFalseToObject(g, "probe");
    }
    return g;
}

cJSON *qz_task_scorer(const struct qz_tasks *t, size_t i, const cJSON *spec)
{
    cJSON *s = cJSON_Duplicate(spec, 1);
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(t->line[i], "reference");
    const struct qz_scorer_ops *ops =
        qz_score_ops_of(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "kind")));

    if (!s || !ref || !ops || !ops->needs_reference) /* only a matching scorer takes it */
        return s;
    cJSON_DeleteItemFromObjectCaseSensitive(s, "reference");
    if (!cJSON_AddItemToObject(s, "reference", cJSON_Duplicate(ref, 1))) {
        cJSON_Delete(s);
        return NULL;
    }
    return s;
}

enum qz_status qz_task_score_open(struct qz_score *sc, const struct qz_tasks *t, size_t i,
                                  const cJSON *spec, const struct qz_jv *at, struct qz_error *err)
{
    cJSON *s = qz_task_scorer(t, i, spec);
    enum qz_status rc;

    if (!s) {
        sc->ops = NULL;
        sc->state = NULL;
        return qz_error_set(err, QZ_ENOMEM, "out of memory");
    }
    rc = qz_score_open(sc, s, at, err);
    cJSON_Delete(s);
    return rc;
}

/* Open the spec s named by at once, to check it, and close it again. */
static enum qz_status try_open(cJSON *s, const struct qz_jv *at, struct qz_error *err)
{
    struct qz_score sc;
    enum qz_status rc;

    if (!s)
        return qz_error_set(err, QZ_ENOMEM, "out of memory");
    if ((rc = qz_score_open(&sc, s, at, err)) == QZ_OK)
        qz_score_close(&sc);
    return rc;
}

enum qz_status qz_tasks_check_scorer(const struct qz_tasks *t, const cJSON *spec,
                                     const struct qz_jv *at, struct qz_error *err)
{
    const struct qz_scorer_ops *ops =
        qz_score_ops_of(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "kind")));
    int own = cJSON_GetObjectItemCaseSensitive(spec, "reference") != NULL;
    enum qz_status rc = QZ_OK;
    cJSON *s;

    if (!ops || !ops->needs_reference)
        return QZ_OK;
    /* the spec's own fields, with a stand-in reference when it has none */
    s = cJSON_Duplicate(spec, 1);
    if (s && !own && !cJSON_AddItemToObject(s, "reference", cJSON_CreateString("x"))) {
        cJSON_Delete(s);
        s = NULL;
    }
    rc = try_open(s, at, err);
    cJSON_Delete(s);
    for (size_t i = 0; i < t->n && rc == QZ_OK; i++) {
        const cJSON *ref = cJSON_GetObjectItemCaseSensitive(t->line[i], "reference");
        char where[512];
        struct qz_jv lat = {.file = where, .path = ""};

        snprintf(where, sizeof where, "%s:%zu", t->path, t->lineno[i]);
        if (!ref && !own)
            rc = qz_jv_fail(&lat, "reference", NULL, err,
                            "is required by %s (kind \"%s\"), which has none of its own", at->path,
                            ops->name);
        else if (ref) { /* only the reference can fail now */
            s = qz_task_scorer(t, i, spec);
            rc = try_open(s, &lat, err);
            cJSON_Delete(s);
        }
    }
    return rc;
}

uint64_t qz_task_seed(uint64_t job_seed, size_t i)
{
    return qz_rng_word(job_seed, QZ_STREAM_TASK, i) >> 11; /* 53 bits, like job seeds */
}
