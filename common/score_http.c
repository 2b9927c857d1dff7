/* Scorer kind "http" (utility or cost): text samples scored by a reward-model server,
 * batched, through the HTTP layer in http.c.
 *
 * A preset says what a request looks like and where the scores are in its answer:
 *
 *   openrlhf       POST {"query": [t, ...]}                    -> {"rewards": [s, ...]}
 *   vllm_score     POST {"model": M, "text_1": QUERY, "text_2": [t, ...]}
 *                                         -> {"data": [{"index": i, "score": s}, ...]}
 *   vllm_classify  POST {"model": M, "input": [t, ...]}
 *                                         -> {"data": [{"index": i, "probs": [p0, ...]}]},
 *                  the score is probs[class]
 *   custom         POST the job's `body` with the string "{{texts}}" (a whole value,
 *                  exactly once) replaced by [t, ...]; the scores are the array at
 *                  `score_path` in the answer, or each of its elements' `score_field`,
 *                  placed by each element's `index_field` when given (else in order).
 *
 * All presets are the same machinery: (the body around the array of texts) and (a path
 * to the array of scores, a path to the score within an element, an optional path to
 * its index). A path is dotted member names with [N] array indices: "data",
 * "output.scores", "probs[1]", "[0].scores"; "" is the node itself.
 *
 * Batching: the valid samples of a batch go in requests of at most `batch` texts, up to
 * `concurrency` in flight; a failed sample is never sent and scores NaN. Texts are sent
 * as JSON strings (invalid UTF-8 bytes become U+FFFD).
 *
 * Failures. The HTTP layer's policy applies (http.h): transient failures are retried,
 * other 4xx fail the run at once with the server's message. An answer with the wrong
 * number of scores, a score that is null or not a finite number, or a missing or
 * duplicate index is malformed: retried like a transient failure. A request still
 * failing after its retries makes its samples' scores NaN (the job's `invalid` policy
 * decides) and prints one warning line (the first few per scorer). But when no attempt
 * of any request of a batch got an HTTP answer at all (connection refused, no such
 * host, timeouts, resets on every retry), the server is taken to be down and the run
 * fails (QZ_EIO) with a message naming the URL: losing every sample to a dead server
 * is never what a run wants. There is no probe at open: reward servers often have no
 * GET route.
 *
 * The API key (api_key_env or api_key_file, apikey.h) goes only into the Authorization
 * header. */
#include "scorer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "http.h"
#include "http_settings.h"
#include "textbuf.h"

#define HTTP_BATCH_DEFAULT 32
#define HTTP_BATCH_MAX 65536
#define HTTP_CONCURRENCY_DEFAULT 4
#define HTTP_CLASS_MAX 65535
#define HTTP_CLASS_DEFAULT 1 /* class (vllm-classify) */
#define HTTP_PATH_SEGMENTS_MAX 32
#define HTTP_PATH_INDEX_MAX 1000000
#define HTTP_WARNINGS_MAX 5 /* give-up warnings printed per scorer */
#define TEXTS_PLACEHOLDER "{{texts}}"
#define TEXTS_MARK "\x01" /* never appears unescaped in printed JSON */

enum preset { OPENRLHF, VLLM_SCORE, VLLM_CLASSIFY, CUSTOM };
static const char *const presets[] = {"openrlhf", "vllm_score", "vllm_classify", "custom", NULL};

/* clang-format off */
static const char *const http_fields[] = {
    "kind", "url", "preset", "batch", "concurrency", "model", "query", "class", "body",
    "score_path", "score_field", "index_field", "api_key_env", "api_key_file",
    "timeout_seconds", "connect_timeout_seconds", "retries", "backoff_seconds",
    "backoff_max_seconds", "max_response_bytes", NULL,
};
/* clang-format on */

/* Which preset each preset-specific field belongs to. */
static const struct {
    const char *field;
    enum preset preset;
} preset_fields[] = {
    {"query", VLLM_SCORE},  {"class", VLLM_CLASSIFY}, {"body", CUSTOM},
    {"score_path", CUSTOM}, {"score_field", CUSTOM},  {"index_field", CUSTOM},
};

/* One step of a path: a member name, or (name NULL) an array index. */
struct seg {
    char *name;
    int index;
};

struct path {
    struct seg *seg;
    size_t n;
};

/* What a request covers: positions first .. first+count-1 of s->idx. */
struct http_tag {
    size_t first, count;
};

struct qz_scorer {
    char *who; /* "utility" or "cost": the prefix of messages */
    char *url;
    size_t batch;
    unsigned retries;
    char *prefix, *suffix; /* the request body before and after the array of texts */
    size_t prefix_len, suffix_len;
    struct path list, score, index; /* the answer's array; in an element: its score, index */
    int has_index;                  /* 0: the elements are in the order of the texts */
    struct qz_http_client *http;
    unsigned warned; /* give-up warnings printed so far */

    /* the score in progress */
    const struct qz_batch *b;
    double *out;
    size_t *idx; /* batch positions of the valid samples */
    size_t idx_cap;
    double *tmp;           /* one answer's scores, committed when all are good (batch) */
    unsigned char *seen;   /* one answer's indices seen (batch) */
    struct qz_textbuf req; /* the request body being built */
    uint64_t gave_up;      /* requests given up in this batch */
    char last_why[QZ_ERROR_MSG_MAX];
    struct {
        uint64_t first; /* sample index of the request's first text */
        size_t count;
        char why[QZ_ERROR_MSG_MAX];
    } pending[HTTP_WARNINGS_MAX]; /* this batch's give-ups to warn about */
    unsigned npending;
};

static void path_free(struct path *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->seg[i].name);
    free(p->seg);
    p->seg = NULL;
    p->n = 0;
}

/* Parse t into *p: QZ_OK, QZ_EJOB for a syntax error (the caller says where),
 * QZ_ENOMEM. */
static enum qz_status path_parse(const char *t, struct path *p)
{
    p->seg = NULL;
    p->n = 0;
    if (!*t)
        return QZ_OK;
    if (!(p->seg = calloc(HTTP_PATH_SEGMENTS_MAX, sizeof *p->seg)))
        return QZ_ENOMEM;
    for (;;) {
        struct seg *sg = &p->seg[p->n];
        if (p->n == HTTP_PATH_SEGMENTS_MAX)
            return QZ_EJOB;
        if (*t == '[') {
            long v = 0;
            const char *d = t + 1;
            if (!(*d >= '0' && *d <= '9'))
                return QZ_EJOB;
            for (; *d >= '0' && *d <= '9'; d++)
                if ((v = v * 10 + (*d - '0')) > HTTP_PATH_INDEX_MAX)
                    return QZ_EJOB;
            if (*d != ']')
                return QZ_EJOB;
            sg->index = (int)v;
            t = d + 1;
        } else {
            size_t n = strcspn(t, ".[]");
            if (!n)
                return QZ_EJOB;
            if (!(sg->name = strndup(t, n)))
                return QZ_ENOMEM;
            t += n;
        }
        p->n++;
        if (!*t)
            return QZ_OK;
        if (*t == '.') {
            t++;
            if (!*t || *t == '.' || *t == '[' || *t == ']')
                return QZ_EJOB;
        } else if (*t != '[') {
            return QZ_EJOB;
        }
    }
}

/* The node at path p from node, or NULL. */
static const cJSON *follow(const cJSON *node, const struct path *p)
{
    for (size_t i = 0; i < p->n && node; i++) {
        const struct seg *sg = &p->seg[i];
        if (sg->name)
            node = cJSON_IsObject(node) ? cJSON_GetObjectItemCaseSensitive(node, sg->name) : NULL;
        else
            node = cJSON_IsArray(node) ? cJSON_GetArrayItem(node, sg->index) : NULL;
    }
    return node;
}

/* Queue the request for the samples at positions first .. first+count-1 of s->idx. */
static enum qz_status submit(struct qz_scorer *s, size_t first, size_t count, struct qz_error *err)
{
    const struct qz_batch *b = s->b;
    struct http_tag tag = {first, count};
    enum qz_status rc;

    s->req.len = 0;
    if (!(rc = qz_textbuf_put(&s->req, s->prefix, s->prefix_len)))
        rc = qz_textbuf_put(&s->req, "[", 1);
    for (size_t k = 0; k < count && rc == QZ_OK; k++) {
        size_t j = s->idx[first + k];
        const char *t = b->text ? b->text + b->text_off[j] : "";
        if (k)
            rc = qz_textbuf_put(&s->req, ",", 1);
        if (!rc)
            rc = qz_textbuf_put_json_string(&s->req, t, b->text_len[j]);
    }
    if (!rc && !(rc = qz_textbuf_put(&s->req, "]", 1)))
        rc = qz_textbuf_put(&s->req, s->suffix, s->suffix_len);
    if (rc)
        return qz_error_set(err, QZ_ENOMEM, "%s: out of memory for a request of %zu texts", s->who,
                            count);
    return qz_http_submit(s->http, "POST", s->url, s->req.data, s->req.len, &tag, sizeof tag, err);
}

static enum qz_http_verdict malformed(const struct qz_http_result *res, const char *why,
                                      struct qz_error *err)
{
    char quote[QZ_HTTP_SUMMARY_MAX * 4 + 16];
    int nan = strstr(res->body, "NaN") || strstr(res->body, "Infinity");

    qz_http_result_summary(res, quote, sizeof quote);
    /* only the give-up warning shows it, after the scorer and URL */
    qz_error_set(err, QZ_EIO, "the answer %s%s: %s", why,
                 nan ? " (JSON has no NaN or Infinity)" : "", quote);
    return QZ_HTTP_RETRY;
}

static enum qz_http_verdict on_answer(void *ctx, void *tagp, const struct qz_http_result *res,
                                      struct qz_error *err)
{
    struct qz_scorer *s = ctx;
    struct http_tag tag;
    cJSON *root = cJSON_ParseWithLength(res->body, res->body_len);
    const cJSON *list, *it;
    size_t k = 0;
    char why[200];

    memcpy(&tag, tagp, sizeof tag);
    if (!root) {
        snprintf(why, sizeof why, "is not JSON");
        goto bad;
    }
    list = follow(root, &s->list);
    if (!cJSON_IsArray(list)) {
        snprintf(why, sizeof why, "has no array of scores where expected");
        goto bad;
    }
    if ((size_t)cJSON_GetArraySize(list) != tag.count) {
        snprintf(why, sizeof why, "has %d scores for %zu texts", cJSON_GetArraySize(list),
                 tag.count);
        goto bad;
    }
    memset(s->seen, 0, tag.count);
    cJSON_ArrayForEach(it, list)
    {
        const cJSON *v = follow(it, &s->score);
        size_t pos = k;
        if (s->has_index) {
            const cJSON *ix = follow(it, &s->index);
            double d = cJSON_IsNumber(ix) ? ix->valuedouble : -1;
            if (!(d >= 0 && d < (double)tag.count && d == floor(d))) {
                snprintf(why, sizeof why, "has no valid index in element %zu", k);
                goto bad;
            }
            pos = (size_t)d;
            if (s->seen[pos]) {
                snprintf(why, sizeof why, "has index %zu twice", pos);
                goto bad;
            }
            s->seen[pos] = 1;
        }
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
            snprintf(why, sizeof why, "has %s for score %zu",
                     !v                ? "nothing"
                     : cJSON_IsNull(v) ? "null"
                                       : "no finite number",
                     k);
            goto bad;
        }
        s->tmp[pos] = v->valuedouble;
        k++;
    }
    for (k = 0; k < tag.count; k++)
        s->out[s->idx[tag.first + k]] = s->tmp[k];
    cJSON_Delete(root);
    return QZ_HTTP_ACCEPT;
bad:
    cJSON_Delete(root);
    return malformed(res, why, err);
}

static void on_give_up(void *ctx, void *tagp, const char *why)
{
    struct qz_scorer *s = ctx;
    struct http_tag tag;

    memcpy(&tag, tagp, sizeof tag);
    /* the samples stay NaN: the job's invalid policy decides */
    s->gave_up++;
    snprintf(s->last_why, sizeof s->last_why, "%s", why);
    if (s->warned + s->npending < HTTP_WARNINGS_MAX) {
        s->pending[s->npending].first = s->b->first + s->idx[tag.first];
        s->pending[s->npending].count = tag.count;
        snprintf(s->pending[s->npending].why, sizeof s->pending[0].why, "%s", why);
        s->npending++;
    }
}

/* One line on stderr per request given up (the first few of the run): the samples'
 * scores are NaN, and the invalid policy alone would not say why. */
static void warn_give_ups(struct qz_scorer *s)
{
    for (unsigned i = 0; i < s->npending; i++) {
        s->warned++;
        qz_warn("%s: POST %s: gave up on %zu samples from %llu after %u retries (%s); they "
                "score NaN%s",
                s->who, s->url, s->pending[i].count, (unsigned long long)s->pending[i].first,
                s->retries, s->pending[i].why,
                s->warned == HTTP_WARNINGS_MAX ? " (further such warnings not shown)" : "");
    }
    s->npending = 0;
}

static enum qz_status http_score(struct qz_scorer *s, const struct qz_batch *b, double *out,
                                 struct qz_error *err)
{
    static const struct qz_http_handler handler = {on_answer, on_give_up};
    struct qz_http_counts before, after;
    size_t m = 0;
    enum qz_status rc = QZ_OK;

    for (size_t j = 0; j < b->n; j++)
        out[j] = NAN;
    if (b->n > s->idx_cap) {
        size_t *grown = realloc(s->idx, b->n * sizeof *grown);
        if (!grown)
            return qz_error_set(err, QZ_ENOMEM, "out of memory");
        s->idx = grown;
        s->idx_cap = b->n;
    }
    for (size_t j = 0; j < b->n; j++)
        if (!isnan(b->value[j]))
            s->idx[m++] = j;
    if (!m)
        return QZ_OK;
    s->b = b;
    s->out = out;
    s->gave_up = 0;
    s->npending = 0;
    qz_http_get_counts(s->http, &before);
    for (size_t first = 0; first < m && !rc; first += s->batch)
        rc = submit(s, first, m - first < s->batch ? m - first : s->batch, err);
    if (!rc)
        rc = qz_http_run(s->http, &handler, s, err);
    qz_http_get_counts(s->http, &after);
    /* every attempt of every request failed without an HTTP answer: the server is down */
    if (!rc && s->gave_up && after.answered == before.answered)
        rc = qz_error_set(
            err, QZ_EIO,
            "%s: POST %s: the server did not answer any of %llu attempts "
            "(is it running?): %s",
            s->who, s->url,
            (unsigned long long)((m + s->batch - 1) / s->batch + after.retries - before.retries),
            s->last_why);
    if (!rc)
        warn_give_ups(s);
    s->npending = 0;
    s->b = NULL;
    s->out = NULL;
    return rc;
}

static void http_close(struct qz_scorer *s)
{
    if (!s)
        return;
    qz_http_close(s->http);
    path_free(&s->list);
    path_free(&s->score);
    path_free(&s->index);
    free(s->who);
    free(s->url);
    free(s->prefix);
    free(s->suffix);
    free(s->idx);
    free(s->tmp);
    free(s->seen);
    qz_textbuf_free(&s->req);
    free(s);
}

/* Replace the string "{{texts}}" in the tree under node by a raw TEXTS_MARK, counting
 * them in *found. Fails on a string that holds the placeholder among other text. */
static enum qz_status mark_texts(const struct qz_jv *at, cJSON *node, int *found,
                                 struct qz_error *err)
{
    cJSON *c = node->child, *next;
    enum qz_status rc;

    for (; c; c = next) {
        next = c->next;
        if (cJSON_IsString(c) && strstr(c->valuestring, TEXTS_PLACEHOLDER)) {
            cJSON *raw;
            if (strcmp(c->valuestring, TEXTS_PLACEHOLDER) != 0)
                return qz_jv_fail(at, "body", c, err,
                                  "\"" TEXTS_PLACEHOLDER "\" must be a whole string value");
            if (!(raw = cJSON_CreateRaw(TEXTS_MARK)))
                return qz_error_set(err, QZ_ENOMEM, "out of memory");
            raw->string = c->string; /* the member name moves to the replacement */
            raw->type |= c->type & cJSON_StringIsConst;
            c->string = NULL;
            cJSON_ReplaceItemViaPointer(node, c, raw);
            ++*found;
        } else if ((cJSON_IsObject(c) || cJSON_IsArray(c)) &&
                   (rc = mark_texts(at, c, found, err))) {
            return rc;
        }
    }
    return QZ_OK;
}

/* Print the body template and split it at TEXTS_MARK into s->prefix and s->suffix.
 * Takes body. */
static enum qz_status split_body(struct qz_scorer *s, cJSON *body, struct qz_error *err)
{
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    char *mark = text ? strstr(text, TEXTS_MARK) : NULL;
    int ok = 0;

    cJSON_Delete(body);
    if (mark) {
        s->prefix_len = (size_t)(mark - text);
        s->suffix_len = strlen(mark + 1);
        s->prefix = strndup(text, s->prefix_len);
        s->suffix = strdup(mark + 1);
        ok = s->prefix && s->suffix;
    }
    cJSON_free(text);
    return ok ? QZ_OK : qz_error_set(err, QZ_ENOMEM, "out of memory");
}

/* A path field (or a fixed path when `fixed` is not NULL) into *p. */
static enum qz_status path_field(const struct qz_jv *at, const cJSON *spec, const char *name,
                                 int required, const char *fixed, struct path *p, int *given,
                                 struct qz_error *err)
{
    const char *text = fixed;
    enum qz_status rc;

    if (!fixed && (rc = qz_jv_string(at, spec, name, required, NULL, &text, err)))
        return rc;
    if (given)
        *given = text != NULL;
    if (!text)
        return QZ_OK;
    if ((rc = path_parse(text, p)) == QZ_ENOMEM)
        return qz_error_set(err, QZ_ENOMEM, "out of memory");
    if (rc)
        return qz_jv_fail(at, name, cJSON_GetObjectItemCaseSensitive(spec, name), err,
                          "must be a path of member names and [N] indices, such as "
                          "\"data\", \"output.scores\" or \"probs[1]\" (\"\" for the "
                          "node itself)");
    return QZ_OK;
}

/* The body template and the answer's paths, from the preset and its fields. */
static enum qz_status parse_preset(struct qz_scorer *s, const struct qz_jv *at, const cJSON *spec,
                                   int preset, struct qz_error *err)
{
    const char *model = NULL, *query = NULL;
    const cJSON *tmpl;
    cJSON *body = NULL;
    uint64_t cls;
    char probs[32];
    int found = 0, ok = 1;
    enum qz_status rc;

    for (size_t i = 0; i < sizeof preset_fields / sizeof *preset_fields; i++) {
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(spec, preset_fields[i].field);
        if (item && (int)preset_fields[i].preset != preset)
            return qz_jv_fail(at, preset_fields[i].field, NULL, err, "only for \"preset\": \"%s\"",
                              presets[preset_fields[i].preset]);
    }
    if (cJSON_GetObjectItemCaseSensitive(spec, "model") && preset != VLLM_SCORE &&
        preset != VLLM_CLASSIFY)
        return qz_jv_fail(at, "model", NULL, err,
                          "only for \"preset\": \"vllm_score\" or \"vllm_classify\"%s",
                          preset == CUSTOM ? " (put it in body)" : "");
    switch ((enum preset)preset) {
    case OPENRLHF:
        body = cJSON_CreateObject();
        ok = body && cJSON_AddRawToObject(body, "query", TEXTS_MARK);
        if ((rc = path_field(at, spec, NULL, 0, "rewards", &s->list, NULL, err)))
            goto fail;
        break;
    case VLLM_SCORE:
        if ((rc = qz_jv_string(at, spec, "model", 1, NULL, &model, err)) ||
            (rc = qz_jv_string(at, spec, "query", 1, NULL, &query, err)))
            return rc;
        body = cJSON_CreateObject();
        ok = body && cJSON_AddStringToObject(body, "model", model) &&
             cJSON_AddStringToObject(body, "text_1", query) &&
             cJSON_AddRawToObject(body, "text_2", TEXTS_MARK);
        if ((rc = path_field(at, spec, NULL, 0, "data", &s->list, NULL, err)) ||
            (rc = path_field(at, spec, NULL, 0, "score", &s->score, NULL, err)) ||
            (rc = path_field(at, spec, NULL, 0, "index", &s->index, &s->has_index, err)))
            goto fail;
        break;
    case VLLM_CLASSIFY:
        if ((rc = qz_jv_string(at, spec, "model", 1, NULL, &model, err)) ||
            (rc = qz_jv_uint(at, spec, "class", 0, HTTP_CLASS_DEFAULT, 0, HTTP_CLASS_MAX, &cls,
                             err)))
            return rc;
        body = cJSON_CreateObject();
        ok = body && cJSON_AddStringToObject(body, "model", model) &&
             cJSON_AddRawToObject(body, "input", TEXTS_MARK);
        snprintf(probs, sizeof probs, "probs[%u]", (unsigned)cls);
        if ((rc = path_field(at, spec, NULL, 0, "data", &s->list, NULL, err)) ||
            (rc = path_field(at, spec, NULL, 0, probs, &s->score, NULL, err)) ||
            (rc = path_field(at, spec, NULL, 0, "index", &s->index, &s->has_index, err)))
            goto fail;
        break;
    case CUSTOM:
        if ((rc = qz_jv_object(at, spec, "body", 1, &tmpl, err)) ||
            (rc = path_field(at, spec, "score_path", 1, NULL, &s->list, NULL, err)) ||
            (rc = path_field(at, spec, "score_field", 0, NULL, &s->score, NULL, err)) ||
            (rc = path_field(at, spec, "index_field", 0, NULL, &s->index, &s->has_index, err)))
            return rc;
        if (!(body = cJSON_Duplicate(tmpl, 1)))
            return qz_error_set(err, QZ_ENOMEM, "out of memory");
        if ((rc = mark_texts(at, body, &found, err)))
            goto fail;
        if (found != 1) {
            rc = qz_jv_fail(at, "body", NULL, err,
                            "must hold the string \"" TEXTS_PLACEHOLDER
                            "\" exactly once (as a whole value, where the array of texts "
                            "goes), found %d",
                            found);
            goto fail;
        }
        break;
    }
    if (!ok) {
        rc = qz_error_set(err, QZ_ENOMEM, "out of memory");
        goto fail;
    }
    return split_body(s, body, err);
fail:
    cJSON_Delete(body);
    return rc;
}

static enum qz_status http_open(struct qz_scorer **out, const cJSON *spec, const struct qz_jv *at,
                                struct qz_error *err)
{
    struct qz_scorer *s = calloc(1, sizeof *s);
    uint64_t batch;
    int preset;
    struct qz_http_settings hs = {0};
    enum qz_status rc;

    *out = NULL;
    if (!s)
        return qz_error_set(err, QZ_ENOMEM, "out of memory");
    if ((rc = qz_jv_fields(at, spec, http_fields, err)) ||
        (rc = qz_http_url_parse(at, spec, "url", 1, "http://127.0.0.1:8000/get_reward", &s->url,
                                err)) ||
        (rc = qz_jv_choice(at, spec, "preset", 1, 0, presets, &preset, err)) ||
        (rc = parse_preset(s, at, spec, preset, err)) ||
        (rc = qz_jv_uint(at, spec, "batch", 0, HTTP_BATCH_DEFAULT, 1, HTTP_BATCH_MAX, &batch,
                         err)) ||
        (rc = qz_http_settings_parse(at, spec, HTTP_CONCURRENCY_DEFAULT, &hs, err)))
        goto fail;
    s->batch = (size_t)batch;
    s->retries = hs.retries;
    s->who = strdup(at->path[0] ? at->path : "scorer");
    s->tmp = calloc(s->batch, sizeof *s->tmp);
    s->seen = calloc(s->batch, 1);
    if (!s->who || !s->tmp || !s->seen) {
        rc = qz_error_set(err, QZ_ENOMEM, "out of memory");
        goto fail;
    }
    /* jitter seed "http"; http.c mixes in the pid and clock */
    if ((rc = qz_http_settings_open(&hs, s->who, 0x68747470u, &s->http, err)))
        goto fail;
    qz_http_settings_free(&hs);
    *out = s;
    return QZ_OK;
fail:
    qz_http_settings_free(&hs);
    http_close(s);
    return rc;
}

/* The job hash's view of an http scorer: the preset, the model and what is asked count
 * (class written out: only vllm-classify takes it, so for the other presets it is the
 * same constant in every job); where the server is and how the texts are batched and
 * sent do not change a sample's score. */
static const struct qz_spec_field http_canonical[] = {
    {"class", QZ_SPEC_NUMBER, HTTP_CLASS_DEFAULT, NULL, NULL},
    {"url", QZ_SPEC_NEUTRAL, 0, NULL, NULL},
    {"batch", QZ_SPEC_NEUTRAL, 0, NULL, NULL},
    {"", QZ_SPEC_INCLUDE, 0, NULL, qz_http_settings_canonical},
    {NULL, QZ_SPEC_NEUTRAL, 0, NULL, NULL},
};

const struct qz_scorer_ops qz_score_http_ops = {
    .name = "http",
    .open = http_open,
    .score = http_score,
    .close = http_close,
    .needs_text = 1,
    .canonical = http_canonical,
};
