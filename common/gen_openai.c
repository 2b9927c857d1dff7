/* Generator kind "openai": text samples from an OpenAI-compatible server
 * (/v1/completions or /v1/chat/completions, as served by vLLM, llama.cpp, Ollama, TGI,
 * OpenAI), through the HTTP layer in http.c.
 *
 * The determinism contract. draw(first, count) splits the samples into requests at
 * global multiples of n: request r covers [max(first, r n), min(first + count, (r+1) n)).
 * A request for `size` samples starting at sample index `start` sends n = size and
 *
 *     seed = (uint32_t)(qz_rng_word(job seed, 5, start) ^ size) & 0x7fffffff
 *
 * (word `start` of Philox stream 5, a stream no sample value uses), and its choice k
 * (by the choice's "index"; its position when absent) is sample start + k. When the
 * answer's choices 0 .. m-1 are present but m < size (servers that ignore n), those m
 * are taken and a follow-up request for the remaining samples starts at start + m, with
 * its own seed by the same rule; choices past the leading run are ignored and asked
 * again. The driver makes the same draw calls at any rank count, so a server that is
 * deterministic per (seed, prompt) gives the same samples at any rank count.
 *
 * The API key (api_key_env or api_key_file) goes only into the Authorization header:
 * no message, describe() output or record contains it. */
#include "generator.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "http.h"
#include "http_settings.h"
#include "rng.h"

#define OPENAI_SEED_STREAM QZ_STREAM_REQUEST /* Philox stream of the request seeds */
#define OPENAI_N_MAX 128
#define OPENAI_MAX_TOKENS_MAX 1000000
#define OPENAI_CONCURRENCY_DEFAULT 8

/* What a request covers; the tag the HTTP layer hands back. */
struct openai_tag {
    uint64_t start;
    uint32_t size;
};

/* One choice of an answer, pointing into the parsed JSON. */
struct openai_choice {
    const char *text;
    double logprob_sum; /* NaN when not requested or absent */
    uint32_t tokens;
};

struct qz_generator {
    uint64_t seed;
    int chat, logprobs;
    uint32_t n;
    char *url;     /* the endpoint */
    cJSON *body;   /* the request body; "n" and "seed" are set per request */
    cJSON *n_item; /* in body */
    cJSON *seed_item;
    char *describe; /* compact JSON, no secrets */
    struct qz_http_client *http;
    struct qz_gen_stats stats;

    /* the draw in progress */
    struct qz_batch *out;
};

/* The seed of the request for `size` samples starting at sample `start`. */
static uint32_t openai_request_seed(uint64_t seed, uint64_t start, uint32_t size)
{
    return (uint32_t)(qz_rng_word(seed, OPENAI_SEED_STREAM, start) ^ size) & 0x7fffffffu;
}

/* The end of the request that starts at sample `start` of a draw ending at `end`: the
 * next global multiple of n, or `end`. */
static uint64_t request_end(uint64_t start, uint64_t end, uint32_t n)
{
    uint64_t stop = (start / n + 1) * n;
    return stop < end ? stop : end;
}

/* Sum of the token log-probs of a choice, NaN/0 when absent. */
static void choice_logprobs(const cJSON *choice, int chat, struct openai_choice *c)
{
    const cJSON *lp = cJSON_GetObjectItemCaseSensitive(choice, "logprobs");
    const cJSON *list, *it;
    double sum = 0;
    uint32_t count = 0;

    c->logprob_sum = NAN;
    c->tokens = 0;
    if (!cJSON_IsObject(lp))
        return;
    list = cJSON_GetObjectItemCaseSensitive(lp, chat ? "content" : "token_logprobs");
    if (!cJSON_IsArray(list))
        return;
    cJSON_ArrayForEach(it, list)
    {
        const cJSON *v = chat ? cJSON_GetObjectItemCaseSensitive(it, "logprob") : it;
        if (cJSON_IsNumber(v) && isfinite(v->valuedouble))
            sum += v->valuedouble;
        count++;
    }
    c->logprob_sum = sum;
    c->tokens = count;
}

/* Parse a 2xx answer to a request for `size` (<= OPENAI_N_MAX) samples. On success
 * returns QZ_OK with *root the parsed body (the caller deletes it), ch[0 .. *taken) the
 * leading run of choices (taken >= 1) and *prompt_tokens / *completion_tokens the usage
 * (0 when absent). Otherwise returns QZ_EIO and says why in `why` (malformed or a
 * protocol error: no choices, a duplicate, negative or non-integer index, a choice
 * without text). */
static enum qz_status openai_parse(const char *body, size_t len, int chat, int logprobs,
                                   uint32_t size, cJSON **root, struct openai_choice *ch,
                                   uint32_t *taken, uint64_t *prompt_tokens,
                                   uint64_t *completion_tokens, char *why, size_t why_len)
{
    unsigned char seen[OPENAI_N_MAX] = {0};
    const cJSON *choices, *it, *usage;
    int pos = 0;
    uint32_t m = 0;

    *root = cJSON_ParseWithLength(body, len);
    *prompt_tokens = *completion_tokens = 0;
    if (!*root || !cJSON_IsObject(*root)) {
        snprintf(why, why_len, "the answer is not a JSON object");
        goto bad;
    }
    choices = cJSON_GetObjectItemCaseSensitive(*root, "choices");
    if (!cJSON_IsArray(choices) || !choices->child) {
        snprintf(why, why_len, "the answer has no choices");
        goto bad;
    }
    cJSON_ArrayForEach(it, choices)
    {
        const cJSON *index = cJSON_GetObjectItemCaseSensitive(it, "index");
        const cJSON *text;
        double k = pos++;

        if (!cJSON_IsObject(it)) {
            snprintf(why, why_len, "choice %d is not an object", pos - 1);
            goto bad;
        }
        if (index) {
            k = index->valuedouble;
            if (!cJSON_IsNumber(index) || !(k >= 0) || k != floor(k)) {
                snprintf(why, why_len, "choice %d has a bad index", pos - 1);
                goto bad;
            }
        }
        if (k >= size)
            continue; /* more choices than asked for: ignored */
        if (seen[(size_t)k]) {
            snprintf(why, why_len, "choice index %.0f appears twice", k);
            goto bad;
        }
        seen[(size_t)k] = 1;
        if (chat) {
            const cJSON *msg = cJSON_GetObjectItemCaseSensitive(it, "message");
            text = cJSON_GetObjectItemCaseSensitive(msg, "content");
            if (!cJSON_IsObject(msg) || !(cJSON_IsString(text) || cJSON_IsNull(text))) {
                snprintf(why, why_len, "choice %.0f has no message.content", k);
                goto bad;
            }
        } else {
            text = cJSON_GetObjectItemCaseSensitive(it, "text");
            if (!cJSON_IsString(text)) {
                snprintf(why, why_len, "choice %.0f has no text", k);
                goto bad;
            }
        }
        /* null content (a refusal, a tool call) is an empty text */
        ch[(size_t)k].text = cJSON_IsString(text) ? text->valuestring : "";
        if (logprobs)
            choice_logprobs(it, chat, &ch[(size_t)k]);
        else {
            ch[(size_t)k].logprob_sum = NAN;
            ch[(size_t)k].tokens = 0;
        }
    }
    while (m < size && seen[m])
        m++;
    if (m == 0) {
        snprintf(why, why_len, "the answer lacks choice 0");
        goto bad;
    }
    usage = cJSON_GetObjectItemCaseSensitive(*root, "usage");
    if (cJSON_IsObject(usage)) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens");
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(usage, "completion_tokens");
        if (cJSON_IsNumber(p) && p->valuedouble >= 0 && p->valuedouble < 0x1p63)
            *prompt_tokens = (uint64_t)p->valuedouble;
        if (cJSON_IsNumber(c) && c->valuedouble >= 0 && c->valuedouble < 0x1p63)
            *completion_tokens = (uint64_t)c->valuedouble;
    }
    *taken = m;
    return QZ_OK;
bad:
    cJSON_Delete(*root);
    *root = NULL;
    return QZ_EIO;
}

/* Queue the request for samples start .. start+size-1. */
static enum qz_status submit(struct qz_generator *g, uint64_t start, uint32_t size,
                             struct qz_error *err)
{
    struct openai_tag tag = {start, size};
    char *body;
    enum qz_status rc;

    cJSON_SetNumberValue(g->n_item, size);
    cJSON_SetNumberValue(g->seed_item, openai_request_seed(g->seed, start, size));
    if (!(body = cJSON_PrintUnformatted(g->body)))
        return qz_error_set(err, QZ_ENOMEM, "out of memory for a request body");
    rc = qz_http_submit(g->http, "POST", g->url, body, strlen(body), &tag, sizeof tag, err);
    cJSON_free(body);
    return rc;
}

static enum qz_http_verdict on_answer(void *ctx, void *tagp, const struct qz_http_result *res,
                                      struct qz_error *err)
{
    struct qz_generator *g = ctx;
    struct qz_batch *out = g->out;
    struct openai_choice ch[OPENAI_N_MAX];
    struct openai_tag tag;
    uint64_t pt, ct;
    uint32_t taken;
    cJSON *root;
    char why[256];
    enum qz_status rc = QZ_OK;

    memcpy(&tag, tagp, sizeof tag);
    if (openai_parse(res->body, res->body_len, g->chat, g->logprobs, tag.size, &root, ch, &taken,
                     &pt, &ct, why, sizeof why)) {
        qz_error_set(err, QZ_EIO, "generator: %s %s: %s", res->method, res->url, why);
        return QZ_HTTP_RETRY;
    }
    g->stats.prompt_tokens += pt;
    g->stats.completion_tokens += ct;
    for (uint32_t k = 0; k < taken && !rc; k++) {
        size_t j = (size_t)(tag.start - out->first) + k;
        rc = qz_batch_put_text(out, j, ch[k].text, strlen(ch[k].text), err);
        out->value[j] = 0;
        out->logprob_sum[j] = ch[k].logprob_sum;
        out->tokens[j] = ch[k].tokens;
    }
    cJSON_Delete(root);
    if (!rc && taken < tag.size)
        rc = submit(g, tag.start + taken, tag.size - taken, err);
    return rc ? QZ_HTTP_ABORT : QZ_HTTP_ACCEPT;
}

static void on_give_up(void *ctx, void *tagp, const char *why)
{
    struct qz_generator *g = ctx;
    struct openai_tag tag;

    (void)why;
    memcpy(&tag, tagp, sizeof tag);
    /* the samples stay NaN with empty texts: the job's invalid policy decides */
    g->stats.failed_samples += tag.size;
}

static enum qz_status openai_draw(struct qz_generator *g, uint64_t first, size_t count,
                                  struct qz_batch *out, struct qz_error *err)
{
    static const struct qz_http_handler handler = {on_answer, on_give_up};
    struct qz_http_counts before, after;
    uint64_t end = first + count;
    enum qz_status rc = QZ_OK;

    qz_batch_begin(out, first, count, 1);
    g->out = out;
    qz_http_get_counts(g->http, &before);
    for (uint64_t start = first, stop; start < end && !rc; start = stop) {
        stop = request_end(start, end, g->n);
        rc = submit(g, start, (uint32_t)(stop - start), err);
    }
    if (!rc)
        rc = qz_http_run(g->http, &handler, g, err);
    qz_http_get_counts(g->http, &after);
    g->stats.requests += after.answered - before.answered;
    g->stats.retries += after.retries - before.retries;
    g->stats.utf8_repaired_samples += qz_batch_repaired(out);
    g->out = NULL;
    return rc;
}

static int openai_produces_text(const struct qz_generator *g)
{
    (void)g;
    return 1;
}

static void openai_stats(const struct qz_generator *g, struct qz_gen_stats *st)
{
    st->requests += g->stats.requests;
    st->retries += g->stats.retries;
    st->failed_samples += g->stats.failed_samples;
    st->prompt_tokens += g->stats.prompt_tokens;
    st->completion_tokens += g->stats.completion_tokens;
    st->utf8_repaired_samples += g->stats.utf8_repaired_samples;
}

static char *openai_describe(const struct qz_generator *g)
{
    size_t len = strlen(g->describe) + 1;
    char *copy = malloc(len);
    if (copy)
        memcpy(copy, g->describe, len);
    return copy;
}

static void openai_close(struct qz_generator *g)
{
    if (!g)
        return;
    qz_http_close(g->http);
    cJSON_Delete(g->body);
    free(g->url);
    free(g->describe);
    free(g);
}

/* clang-format off */
static const char *const openai_fields[] = {
    "kind", "base_url", "endpoint", "model", "prompt", "messages", "max_tokens", "temperature",
    "top_p", "top_k", "min_p", "presence_penalty", "frequency_penalty", "stop", "n", "concurrency",
    "logprobs", "api_key_env", "api_key_file", "timeout_seconds", "connect_timeout_seconds",
    "retries", "backoff_seconds", "backoff_max_seconds", "probe", "max_response_bytes", NULL,
};
/* clang-format on */
static const char *const endpoints[] = {"completions", "chat", NULL};
static const char *const message_fields[] = {"role", "content", NULL};

/* The base URL: http or https with a host, no query. *url is a malloc'd copy without
 * trailing '/'. */
static enum qz_status parse_base_url(const struct qz_jv *at, const cJSON *spec, char **url,
                                     struct qz_error *err)
{
    size_t len;
    enum qz_status rc =
        qz_http_url_parse(at, spec, "base_url", 0, "http://127.0.0.1:8000/v1", url, err);

    if (rc)
        return rc;
    len = strlen(*url);
    while (len && (*url)[len - 1] == '/')
        (*url)[--len] = '\0';
    return QZ_OK;
}

/* a + b, malloc'd (NULL when out of memory). */
static char *join_url(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    if (s) {
        memcpy(s, a, la);
        memcpy(s + la, b, lb + 1);
    }
    return s;
}

/* An array of strings (stop) into a new cJSON array. */
static enum qz_status parse_stop(const struct qz_jv *at, const cJSON *spec, cJSON **out,
                                 struct qz_error *err)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(spec, "stop"), *it;

    if (list && (!cJSON_IsArray(list)))
        return qz_jv_fail(at, "stop", list, err, "must be an array of strings");
    cJSON_ArrayForEach(it, list)
    {
        if (!cJSON_IsString(it) || !it->valuestring[0])
            return qz_jv_fail(at, "stop", list, err, "must be an array of non-empty strings");
    }
    *out = list ? cJSON_Duplicate(list, 1) : cJSON_CreateArray();
    return *out ? QZ_OK : qz_error_set(err, QZ_ENOMEM, "out of memory");
}

/* messages: a non-empty array of {role, content} strings, into a new cJSON array. */
static enum qz_status parse_messages(const struct qz_jv *at, const cJSON *list, cJSON **out,
                                     struct qz_error *err)
{
    struct qz_jv lat;
    const cJSON *it;
    int i = 0;
    enum qz_status rc;

    if (!cJSON_IsArray(list) || !list->child)
        return qz_jv_fail(at, "messages", list, err,
                          "must be a non-empty array of {\"role\", \"content\"} objects");
    qz_jv_child(at, "messages", &lat);
    cJSON_ArrayForEach(it, list)
    {
        struct qz_jv mat;
        const char *role, *content;
        qz_jv_item(&lat, i++, &mat);
        if ((rc = qz_jv_fields(&mat, it, message_fields, err)) ||
            (rc = qz_jv_string(&mat, it, "role", 1, NULL, &role, err)) ||
            (rc = qz_jv_string(&mat, it, "content", 1, NULL, &content, err)))
            return rc;
    }
    *out = cJSON_Duplicate(list, 1);
    return *out ? QZ_OK : qz_error_set(err, QZ_ENOMEM, "out of memory");
}

/* Build g->body and g->describe from the validated fields. */
static enum qz_status build_body(struct qz_generator *g, const char *model, const char *prompt,
                                 cJSON *messages, cJSON *stop, const double *num, uint32_t n,
                                 struct qz_error *err)
{
    cJSON *b = cJSON_CreateObject(), *d = cJSON_CreateObject(), *copy;
    int ok = b && d;

    g->body = b;
    ok = ok && cJSON_AddStringToObject(b, "model", model);
    if (messages) {
        ok = ok && cJSON_AddItemToObject(b, "messages", messages);
        messages = NULL;
    } else if (g->chat) {
        cJSON *list = cJSON_AddArrayToObject(b, "messages");
        cJSON *m = cJSON_CreateObject();
        ok = ok && list && m && cJSON_AddItemToArray(list, m) &&
             cJSON_AddStringToObject(m, "role", "user") &&
             cJSON_AddStringToObject(m, "content", prompt);
    } else {
        ok = ok && cJSON_AddStringToObject(b, "prompt", prompt);
    }
    ok = ok && cJSON_AddNumberToObject(b, "max_tokens", num[0]) &&
         cJSON_AddNumberToObject(b, "temperature", num[1]) &&
         cJSON_AddNumberToObject(b, "top_p", num[2]) &&
         cJSON_AddNumberToObject(b, "top_k", num[3]) &&
         cJSON_AddNumberToObject(b, "min_p", num[4]) &&
         cJSON_AddNumberToObject(b, "presence_penalty", num[5]) &&
         cJSON_AddNumberToObject(b, "frequency_penalty", num[6]);
    if (ok) {
        ok = cJSON_AddItemToObject(b, "stop", stop);
        stop = NULL;
    }
    ok = ok && (g->n_item = cJSON_AddNumberToObject(b, "n", n));
    if (g->chat) {
        ok = ok && cJSON_AddBoolToObject(b, "logprobs", g->logprobs);
        if (g->logprobs)
            ok = ok && cJSON_AddNumberToObject(b, "top_logprobs", 0);
    } else if (g->logprobs) {
        ok = ok && cJSON_AddNumberToObject(b, "logprobs", 1);
    } else {
        ok = ok && cJSON_AddNullToObject(b, "logprobs");
    }
    /* describe: the endpoint and the body as sent, except the per-request seed */
    ok = ok && cJSON_AddStringToObject(d, "url", g->url) && (copy = cJSON_Duplicate(b, 1)) &&
         cJSON_AddItemToObject(d, "body", copy) &&
         cJSON_AddStringToObject(d, "seed",
                                 "per request for size samples from index start: "
                                 "(philox_word(job seed, stream 5, start) ^ size) & 0x7fffffff");
    ok = ok && (g->describe = cJSON_PrintUnformatted(d));
    ok = ok && (g->seed_item = cJSON_AddNumberToObject(b, "seed", 0));
    cJSON_Delete(d);
    cJSON_Delete(messages);
    cJSON_Delete(stop);
    return ok ? QZ_OK : qz_error_set(err, QZ_ENOMEM, "out of memory");
}

static enum qz_status openai_open(struct qz_generator **out, const cJSON *spec,
                                  const struct qz_jv *at, uint64_t seed, struct qz_error *err)
{
    struct qz_generator *g = calloc(1, sizeof *g);
    const char *model, *prompt;
    const cJSON *messages_item;
    cJSON *messages = NULL, *stop = NULL;
    uint64_t max_tokens, n;
    double num[7], top_k;
    int endpoint, probe;
    struct qz_http_settings hs = {0};
    char *base = NULL, *models = NULL;
    enum qz_status rc;

    *out = NULL;
    if (!g)
        return qz_error_set(err, QZ_ENOMEM, "out of memory");
    g->seed = seed;
    qz_rng_init();
    messages_item = cJSON_GetObjectItemCaseSensitive(spec, "messages");
    if ((rc = qz_jv_fields(at, spec, openai_fields, err)) ||
        (rc = parse_base_url(at, spec, &base, err)) ||
        (rc = qz_jv_choice(at, spec, "endpoint", 0, 0, endpoints, &endpoint, err)) ||
        (rc = qz_jv_string(at, spec, "model", 1, NULL, &model, err)) ||
        (rc = qz_jv_string(at, spec, "prompt", 0, NULL, &prompt, err)))
        goto fail;
    g->chat = endpoint == 1;
    if (!(g->url = join_url(base, g->chat ? "/chat/completions" : "/completions"))) {
        rc = qz_error_set(err, QZ_ENOMEM, "out of memory");
        goto fail;
    }
    if (!g->chat && messages_item) {
        rc = qz_jv_fail(at, "messages", NULL, err,
                        "only for \"endpoint\": \"chat\" (completions take a prompt)");
        goto fail;
    }
    if (prompt && messages_item) {
        rc = qz_jv_fail(at, "messages", NULL, err, "give prompt or messages, not both");
        goto fail;
    }
    if (!prompt && !messages_item) {
        rc = qz_jv_fail(at, "prompt", NULL, err,
                        g->chat ? "is required (or give messages)" : "is required");
        goto fail;
    }
    if (messages_item && (rc = parse_messages(at, messages_item, &messages, err)))
        goto fail;
    if ((rc = qz_jv_uint(at, spec, "max_tokens", 0, 64, 1, OPENAI_MAX_TOKENS_MAX, &max_tokens,
                         err)) ||
        (rc = qz_jv_number_in(at, spec, "temperature", 1.0, 0, 0, 100, &num[1], err)) ||
        (rc = qz_jv_number_in(at, spec, "top_p", 1.0, 0, 1, 1, &num[2], err)) ||
        (rc = qz_jv_number(at, spec, "top_k", 0, -1, &top_k, err)))
        goto fail;
    if (top_k != floor(top_k) || top_k < -1 || top_k > OPENAI_MAX_TOKENS_MAX) {
        rc = qz_jv_fail(at, "top_k", cJSON_GetObjectItemCaseSensitive(spec, "top_k"), err,
                        "must be an integer from -1 to %d", OPENAI_MAX_TOKENS_MAX);
        goto fail;
    }
    if ((rc = qz_jv_number_in(at, spec, "min_p", 0.0, 0, 0, 1, &num[4], err)) ||
        (rc = qz_jv_number_in(at, spec, "presence_penalty", 0.0, -2, 0, 2, &num[5], err)) ||
        (rc = qz_jv_number_in(at, spec, "frequency_penalty", 0.0, -2, 0, 2, &num[6], err)) ||
        (rc = parse_stop(at, spec, &stop, err)) ||
        (rc = qz_jv_uint(at, spec, "n", 0, 8, 1, OPENAI_N_MAX, &n, err)) ||
        (rc = qz_jv_bool(at, spec, "logprobs", 0, 0, &g->logprobs, err)) ||
        (rc = qz_jv_bool(at, spec, "probe", 0, 1, &probe, err)) ||
        (rc = qz_http_settings_parse(at, spec, OPENAI_CONCURRENCY_DEFAULT, &hs, err)))
        goto fail;
    num[0] = (double)max_tokens;
    num[3] = top_k;
    g->n = (uint32_t)n;
    rc = build_body(g, model, prompt, messages, stop, num, g->n, err);
    messages = stop = NULL; /* taken by build_body */
    if (rc)
        goto fail;

    if ((rc = qz_http_settings_open(&hs, "generator", seed ^ 0x6f70656e6169u, &g->http, err)))
        goto fail;
    if (probe) {
        char why[CURL_ERROR_SIZE + 64];
        if (!(models = join_url(base, "/models"))) {
            rc = qz_error_set(err, QZ_ENOMEM, "out of memory");
            goto fail;
        }
        if ((rc = qz_http_probe(g->http, models, why, sizeof why))) {
            rc = qz_error_set(err, rc, "%s: %s%sbase_url: cannot reach %s: %s", at->file, at->path,
                              at->path[0] ? "." : "", models, why);
            goto fail;
        }
    }
    free(base);
    free(models);
    qz_http_settings_free(&hs);
    *out = g;
    return QZ_OK;
fail:
    free(base);
    free(models);
    qz_http_settings_free(&hs);
    cJSON_Delete(messages);
    cJSON_Delete(stop);
    openai_close(g);
    return rc;
}

const struct qz_generator_ops qz_gen_openai_ops = {
    .name = "openai",
    .open = openai_open,
    .draw = openai_draw,
    .produces_text = openai_produces_text,
    .stats = openai_stats,
    .describe = openai_describe,
    .close = openai_close,
};
