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
#include <unistd.h>

#include <curl/curl.h>

#include "apikey.h"
#include "http.h"
#include "http_settings.h"
#include "interrupt.h"
#include "rng.h"
#include "servers.h"
#include "utf8.h"

#define OPENAI_SEED_STREAM QZ_STREAM_REQUEST /* Philox stream of the request seeds */
#define OPENAI_N_MAX 128
#define OPENAI_MAX_TOKENS_MAX 1000000
#define OPENAI_CONCURRENCY_DEFAULT 8
#define OPENAI_DOWN_WAIT_DEFAULT 900.0 /* server_down_wait_seconds */
/* The defaults of the fields that change what is drawn (openai_canonical lists them). */
#define OPENAI_ENDPOINT_DEFAULT "completions"
#define OPENAI_MAX_TOKENS_DEFAULT 64
#define OPENAI_TEMPERATURE_DEFAULT 1.0
#define OPENAI_TOP_P_DEFAULT 1.0
#define OPENAI_TOP_K_DEFAULT (-1)
#define OPENAI_MIN_P_DEFAULT 0.0
#define OPENAI_PENALTY_DEFAULT 0.0 /* presence_penalty, frequency_penalty */
#define OPENAI_N_DEFAULT 8
#define OPENAI_LOGPROBS_DEFAULT 0

/* What a request covers; the tag the HTTP layer hands back. `kind` is why on_answer
 * last refused an answer to it (enum qz_gen_failure). */
struct openai_tag {
    uint64_t start;
    uint32_t size;
    uint32_t kind;
};

/* One choice of an answer, pointing into the parsed JSON. */
struct openai_choice {
    const char *text;
    double logprob_sum; /* NaN when not requested */
    uint32_t tokens;
    int had_nul; /* the text held NUL characters, now U+FFFD (see nul_escapes) */
};

struct qz_generator {
    uint64_t seed;
    int chat, logprobs;
    uint32_t n;           /* the effective n (settled before drawing) */
    uint32_t n_requested; /* the job's n (8 when unset) */
    int n_explicit;       /* the job set n */
    char **servers;       /* the base URLs ({host} replaced, no final '/') */
    size_t nservers;
    const char *path; /* the endpoint after a base URL: "/completions", ... */
    char *url;        /* the endpoint on the first server (describe) */
    cJSON *body;      /* the request body; "n" and "seed" are set per request */
    cJSON *n_item;    /* in body */
    cJSON *seed_item;
    char *describe; /* compact JSON, no secrets */
    struct qz_http_client *http;
    struct qz_gen_stats stats;
    struct qz_gen_report report; /* n is filled by openai_report */
    int model_seen;
    uint64_t props_slots; /* settle: /props total_slots, 0 unknown */
    char *auth;           /* the Authorization header for /props (a secret), or NULL */
    double timeout_seconds, connect_timeout_seconds;
    size_t concurrency; /* requests in flight at once (the chunk hint) */

    /* the draw in progress */
    struct qz_batch *out;
};

static enum qz_status describe_body(struct qz_generator *g);

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

/* The sum and count of a choice's token log-probs, in either shape servers send:
 * logprobs.content[j].logprob (OpenAI chat; vLLM chat; llama.cpp on both endpoints) or
 * logprobs.token_logprobs[j] (the legacy completions shape: OpenAI, vLLM). Returns 0
 * when the choice carries neither (then c is untouched). A token whose log-prob is not
 * a finite number counts as a token that adds nothing. */
static int choice_logprobs(const cJSON *choice, struct openai_choice *c)
{
    const cJSON *lp = cJSON_GetObjectItemCaseSensitive(choice, "logprobs");
    const cJSON *list, *it;
    double sum = 0;
    uint32_t count = 0;
    int content;

    if (!cJSON_IsObject(lp))
        return 0;
    list = cJSON_GetObjectItemCaseSensitive(lp, "content");
    content = cJSON_IsArray(list);
    if (!content)
        list = cJSON_GetObjectItemCaseSensitive(lp, "token_logprobs");
    if (!cJSON_IsArray(list))
        return 0;
    cJSON_ArrayForEach(it, list)
    {
        const cJSON *v = content ? cJSON_GetObjectItemCaseSensitive(it, "logprob") : it;
        if (cJSON_IsNumber(v) && isfinite(v->valuedouble))
            sum += v->valuedouble;
        count++;
    }
    c->logprob_sum = sum;
    c->tokens = count;
    return 1;
}

/* The UTF-8 bytes of U+FFFF, which stands for a NUL escape while an answer is parsed
 * (cJSON's strings end at a NUL, and the record's strings too), and of U+FFFD, which
 * replaces it in the text (the same length). */
#define NUL_STAND_IN "\xEF\xBF\xBF"
#define NUL_REPLACEMENT "\xEF\xBF\xBD"

/* Replace each stand-in in s by U+FFFD; 1 if there was one. */
static int replace_nul_stand_ins(char *s)
{
    int found = 0;
    for (char *p = s; (p = strstr(p, NUL_STAND_IN)); p += 3) {
        memcpy(p, NUL_REPLACEMENT, 3);
        found = 1;
    }
    return found;
}

/* 1 if the JSON text body[0..len) holds the escape \u0000 (a NUL in a string). When it
 * does, and holds no U+FFFF (escaped or not), *copy is a malloc'd copy with each such
 * escape written as \uFFFF; *copy stays NULL when it also holds U+FFFF (ambiguous) or
 * memory ran out. */
static int nul_escapes(const char *body, size_t len, char **copy)
{
    int found = 0, ffff = 0;

    *copy = NULL;
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)body[i] == 0xEF && i + 2 < len && (unsigned char)body[i + 1] == 0xBF &&
            (unsigned char)body[i + 2] == 0xBF)
            ffff = 1;
        if (body[i] != '\\' || i + 1 >= len)
            continue;
        if (body[i + 1] == 'u' && i + 5 < len) {
            if (!memcmp(body + i + 2, "0000", 4))
                found = 1;
            else if (strchr("fF", body[i + 2]) && strchr("fF", body[i + 3]) &&
                     strchr("fF", body[i + 4]) && strchr("fF", body[i + 5]))
                ffff = 1;
        }
        i++; /* the escaped character is not a backslash that starts an escape */
    }
    if (!found || ffff || !(*copy = malloc(len + 1)))
        return found;
    memcpy(*copy, body, len);
    (*copy)[len] = '\0';
    for (size_t i = 0; i + 5 < len; i++) {
        if ((*copy)[i] != '\\')
            continue;
        if (!memcmp(*copy + i + 1, "u0000", 5))
            memcpy(*copy + i + 2, "FFFF", 4);
        i++;
    }
    return found;
}

/* A string member of the answer, escaped (qz_utf8_escape) and cut into out[size];
 * "" when absent. */
static void answer_string(const cJSON *root, const char *name, char *out, size_t size)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);

    out[0] = '\0';
    /* Stored in the record and shown: valid UTF-8, control characters escaped. */
    if (cJSON_IsString(v))
        qz_utf8_escape(v->valuestring, strlen(v->valuestring), (size - 8) / 4, out, size);
}

/* Parse a 2xx answer to a request for `size` (<= OPENAI_N_MAX) samples. On success
 * returns QZ_OK with *root the parsed body (the caller deletes it), ch[0 .. *taken) the
 * leading run of choices (taken >= 1) and *prompt_tokens / *completion_tokens the usage
 * (0 when absent). Otherwise returns QZ_EIO, sets *kind (QZ_GEN_FAIL_PROTOCOL or
 * QZ_GEN_FAIL_NO_LOGPROBS) and says why in `why` (malformed or a protocol error: no
 * choices, a duplicate, negative or non-integer index, a choice without text; log-probs
 * asked for and a choice of the leading run without them). */
static enum qz_status openai_parse(const char *body, size_t len, int chat, int logprobs,
                                   uint32_t size, cJSON **root, struct openai_choice *ch,
                                   uint32_t *taken, uint64_t *prompt_tokens,
                                   uint64_t *completion_tokens, uint32_t *kind, char *why,
                                   size_t why_len)
{
    unsigned char seen[OPENAI_N_MAX] = {0};
    unsigned char no_lp[OPENAI_N_MAX] = {0};
    const cJSON *choices, *usage;
    cJSON *it;
    char *copy;
    int pos = 0, nul;
    uint32_t m = 0;

    *kind = QZ_GEN_FAIL_PROTOCOL;
    *root = NULL;
    *prompt_tokens = *completion_tokens = 0;
    nul = nul_escapes(body, len, &copy);
    if (nul && !copy) {
        snprintf(why, why_len,
                 "the answer holds both NUL and U+FFFF characters (or memory ran out)");
        goto bad;
    }
    *root = cJSON_ParseWithLength(copy ? copy : body, len);
    free(copy);
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
        cJSON *text;
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
            cJSON *msg = cJSON_GetObjectItemCaseSensitive(it, "message");
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
        ch[(size_t)k].had_nul =
            nul && cJSON_IsString(text) && replace_nul_stand_ins(text->valuestring);
        ch[(size_t)k].text = cJSON_IsString(text) ? text->valuestring : "";
        ch[(size_t)k].logprob_sum = NAN;
        ch[(size_t)k].tokens = 0;
        if (logprobs && !choice_logprobs(it, &ch[(size_t)k]))
            no_lp[(size_t)k] = 1;
    }
    while (m < size && seen[m])
        m++;
    if (m == 0) {
        snprintf(why, why_len, "the answer lacks choice 0");
        goto bad;
    }
    for (uint32_t k = 0; k < m; k++)
        if (no_lp[k]) {
            *kind = QZ_GEN_FAIL_NO_LOGPROBS;
            snprintf(why, why_len,
                     "choice %u of the answer has no log-probs (neither logprobs.content nor "
                     "logprobs.token_logprobs)",
                     (unsigned)k);
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
    struct openai_tag tag = {start, size, QZ_GEN_FAIL_PROTOCOL};
    char *body;
    enum qz_status rc;

    cJSON_SetNumberValue(g->n_item, size);
    cJSON_SetNumberValue(g->seed_item, openai_request_seed(g->seed, start, size));
    if (!(body = cJSON_PrintUnformatted(g->body)))
        return qz_error_set(err, QZ_ENOMEM, "out of memory for a request body");
    rc = qz_http_submit(g->http, "POST", g->path, body, strlen(body), &tag, sizeof tag, err);
    cJSON_free(body);
    return rc;
}

/* Keep the model and system_fingerprint of the first answer; note a later change. */
static void note_model(struct qz_generator *g, const cJSON *root)
{
    char model[QZ_GEN_MODEL_MAX], fingerprint[QZ_GEN_MODEL_MAX];

    answer_string(root, "model", model, sizeof model);
    answer_string(root, "system_fingerprint", fingerprint, sizeof fingerprint);
    if (!g->model_seen) {
        memcpy(g->report.model, model, sizeof model);
        memcpy(g->report.fingerprint, fingerprint, sizeof fingerprint);
        g->model_seen = 1;
    } else if (strcmp(model, g->report.model) || strcmp(fingerprint, g->report.fingerprint))
        g->report.model_changed = 1;
}

/* Remember why samples from `start` on failed (the failure with the highest first
 * sample index is the run's last: the same whichever rank saw it). */
static void note_failure(struct qz_generator *g, uint64_t start, const char *why)
{
    if (start + 1 < g->report.last_failure_at)
        return;
    g->report.last_failure_at = start + 1;
    snprintf(g->report.last_failure, sizeof g->report.last_failure, "%s", why);
}

static enum qz_http_verdict on_answer(void *ctx, void *tagp, const struct qz_http_result *res,
                                      struct qz_error *err)
{
    struct qz_generator *g = ctx;
    struct qz_batch *out = g->out;
    struct openai_choice ch[OPENAI_N_MAX];
    struct openai_tag tag;
    uint64_t pt, ct;
    uint32_t taken, kind;
    cJSON *root;
    char why[256];
    enum qz_status rc = QZ_OK;

    memcpy(&tag, tagp, sizeof tag);
    if (openai_parse(res->body, res->body_len, g->chat, g->logprobs, tag.size, &root, ch, &taken,
                     &pt, &ct, &kind, why, sizeof why)) {
        qz_error_set(err, QZ_EIO, "generator: %s %s: %s", res->method, res->url, why);
        tag.kind = kind;
        memcpy(tagp, &tag, sizeof tag);
        return QZ_HTTP_RETRY;
    }
    g->stats.prompt_tokens += pt;
    g->stats.completion_tokens += ct;
    note_model(g, root);
    for (uint32_t k = 0; k < taken && !rc; k++) {
        size_t j = (size_t)(tag.start - out->first) + k;
        g->report.nul_texts += ch[k].had_nul ? 1 : 0;
        rc = qz_batch_put_text(out, j, ch[k].text, strlen(ch[k].text), err);
        out->value[j] = 0;
        out->logprob_sum[j] = ch[k].logprob_sum;
        out->tokens[j] = ch[k].tokens;
        if (g->logprobs)
            g->report.completion_tokens_counted += ch[k].tokens;
    }
    cJSON_Delete(root);
    if (!rc && taken < tag.size)
        rc = submit(g, tag.start + taken, tag.size - taken, err);
    return rc ? QZ_HTTP_ABORT : QZ_HTTP_ACCEPT;
}

/* The reason a request was given up, as the record counts it (from the http layer's
 * reason of the last attempt). */
static enum qz_gen_failure failure_kind(const struct qz_generator *g, const struct openai_tag *tag,
                                        const char *why)
{
    enum qz_http_reason reason = QZ_HTTP_FAIL_NONE;

    qz_http_last_failure(g->http, &reason);
    switch (reason) {
    case QZ_HTTP_FAIL_STATUS: /* the message starts "HTTP <status>" */
        return !strncmp(why, "HTTP 4", 6) ? QZ_GEN_FAIL_HTTP_4XX : QZ_GEN_FAIL_HTTP_5XX;
    case QZ_HTTP_FAIL_TIMEOUT:
        return QZ_GEN_FAIL_TIMEOUT;
    case QZ_HTTP_FAIL_NONE:
    case QZ_HTTP_FAIL_CONNECT:
    case QZ_HTTP_FAIL_PROTOCOL: /* closed early, truncated, an empty reply */
        return QZ_GEN_FAIL_CONNECTION;
    case QZ_HTTP_FAIL_TOO_LARGE:
        return QZ_GEN_FAIL_PROTOCOL;
    case QZ_HTTP_FAIL_MALFORMED: /* on_answer refused the answer, and said why */
        return (enum qz_gen_failure)tag->kind;
    case QZ_HTTP_FAIL_REASONS:
        break;
    }
    return QZ_GEN_FAIL_CONNECTION;
}

static void on_give_up(void *ctx, void *tagp, const char *why)
{
    struct qz_generator *g = ctx;
    struct openai_tag tag;
    enum qz_gen_failure kind;

    memcpy(&tag, tagp, sizeof tag);
    /* the samples stay NaN with empty texts: the job's invalid policy decides */
    g->stats.failed_samples += tag.size;
    kind = failure_kind(g, &tag, why);
    g->report.failures[kind]++;
    note_failure(g, tag.start, why);
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
    g->stats.requests += after.sent - before.sent;
    g->stats.retries += after.retries - before.retries;
    g->stats.utf8_repaired_samples += qz_batch_repaired(out);
    g->out = NULL;
    return rc;
}

/* The body of the /props probe, capped (a slot count needs little). */
struct props_buf {
    char data[1 << 16];
    size_t len;
};

static size_t props_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct props_buf *b = userdata;
    size_t n = size * nmemb;
    if (n > sizeof b->data - 1 - b->len)
        return 0; /* too long for a /props answer: abandon it */
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    return n;
}

/* llama.cpp's slot count from GET url (/props; its own connection, so the generator's
 * connections stay as they were), 0 when the server does not say; *answered: 1 when an
 * HTTP answer came. */
static uint64_t props_slots_at(const struct qz_generator *g, const char *url, int *answered)
{
    struct props_buf *b = calloc(1, sizeof *b);
    struct curl_slist *headers = NULL;
    CURL *easy = curl_easy_init();
    uint64_t slots = 0;
    long status = 0;

    *answered = 0;

    if (b && easy && (!g->auth || (headers = curl_slist_append(NULL, g->auth)))) {
        curl_easy_setopt(easy, CURLOPT_URL, url);
        curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, props_write);
        curl_easy_setopt(easy, CURLOPT_WRITEDATA, b);
        curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)(g->timeout_seconds * 1000));
        curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                         (long)(g->connect_timeout_seconds * 1000));
        *answered = qz_http_perform(easy) == CURLE_OK;
        if (*answered && curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
            status == 200) {
            cJSON *root = cJSON_ParseWithLength(b->data, b->len);
            const cJSON *n = cJSON_GetObjectItemCaseSensitive(root, "total_slots");
            if (cJSON_IsNumber(n) && n->valuedouble >= 1 && n->valuedouble <= OPENAI_N_MAX &&
                n->valuedouble == floor(n->valuedouble))
                slots = (uint64_t)n->valuedouble;
            cJSON_Delete(root);
        }
    }
    curl_slist_free_all(headers); /* holds a copy of the key: freed, as curl's own copy */
    if (easy)
        curl_easy_cleanup(easy);
    free(b);
    return slots;
}

/* llama.cpp's /props: at the server's root, beside /v1 (base without a final /v1). */
static char *props_url(const char *base)
{
    size_t len = strlen(base);
    char *s;

    if (len >= 3 && !strcmp(base + len - 3, "/v1"))
        len -= 3;
    if ((s = malloc(len + sizeof "/props")))
        snprintf(s, len + sizeof "/props", "%.*s/props", (int)len, base);
    return s;
}

/* The slot count of the first server that answers GET /props (0 when it does not
 * say, or none answers); *url: that /props URL (malloc'd, or NULL). */
static uint64_t props_slots(const struct qz_generator *g, char **url)
{
    *url = NULL;
    for (size_t i = 0; i < g->nservers && !qz_interrupt_pending(); i++) {
        int answered;
        uint64_t slots;
        if (!(*url = props_url(g->servers[i])))
            return 0;
        slots = props_slots_at(g, *url, &answered);
        if (answered)
            return slots;
        free(*url);
        *url = NULL;
    }
    return 0;
}

/* On one rank: the n every rank uses. A server that states a limit on n (llama.cpp's
 * /props "total_slots", the number of slots; n above it is answered HTTP 400) lowers
 * it; any other answer to /props (404 from servers without it) leaves the job's n. */
static enum qz_status openai_settle(struct qz_generator *g, uint64_t *value, struct qz_error *err)
{
    char *url = NULL;

    *value = g->n_requested;
    if (g->n_requested <= 1)
        return QZ_OK;
    g->props_slots = props_slots(g, &url);
    if (qz_interrupt_pending()) {
        free(url);
        return qz_error_set(err, QZ_ESTOPPED, "stopped");
    }
    if (g->props_slots && g->props_slots < g->n_requested) {
        *value = g->props_slots;
        if (g->n_explicit)
            qz_warn("warning: generator: the server has %llu slots (%s \"total_slots\"), so n "
                    "= %u is lowered to %llu",
                    (unsigned long long)g->props_slots, url, (unsigned)g->n_requested,
                    (unsigned long long)g->props_slots);
    }
    free(url);
    return QZ_OK;
}

static void openai_apply_settled(struct qz_generator *g, uint64_t value)
{
    if (value < 1 || value > g->n_requested || value == g->n)
        return;
    g->n = (uint32_t)value;
    cJSON_SetNumberValue(g->n_item, g->n);
    describe_body(g);
}

static void openai_report(const struct qz_generator *g, struct qz_gen_report *r)
{
    const struct qz_pool *p = qz_http_pool(g->http);
    struct qz_http_counts counts;

    *r = g->report;
    r->n = g->n;
    qz_http_get_counts(g->http, &counts);
    r->outages = counts.outages;
    r->outage_seconds = counts.outage_seconds;
    r->nservers = 0;
    for (size_t i = 0; p && i < p->n && i < QZ_GEN_SERVERS_MAX; i++) {
        struct qz_gen_server *s = &r->servers[r->nservers++];
        snprintf(s->url, sizeof s->url, "%s", p->s[i].url);
        s->requests = p->s[i].requests;
        s->failures = p->s[i].failures;
    }
}

static const char *openai_last_failure(const struct qz_generator *g)
{
    return g->report.last_failure;
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
    for (size_t i = 0; g->servers && i < g->nservers; i++)
        free(g->servers[i]);
    free(g->servers);
    qz_secret_free(g->auth);
    free(g->describe);
    free(g);
}

/* "price": {"prompt": X, "completion": Y}, per 1000 tokens (both required, finite, at
 * least 0): the record then holds what the run's tokens cost (token_cost). */
static enum qz_status parse_price(const struct qz_jv *at, const cJSON *spec, struct qz_generator *g,
                                  struct qz_error *err)
{
    static const char *const price_fields[] = {"prompt", "completion", NULL};
    const cJSON *price;
    struct qz_jv pat;
    enum qz_status rc;

    if ((rc = qz_jv_object(at, spec, "price", 0, &price, err)) || !price)
        return rc;
    qz_jv_child(at, "price", &pat);
    if ((rc = qz_jv_fields(&pat, price, price_fields, err)))
        return rc;
    if (!cJSON_GetObjectItemCaseSensitive(price, "prompt"))
        return qz_jv_fail(&pat, "prompt", NULL, err, "is required (per 1000 prompt tokens)");
    if (!cJSON_GetObjectItemCaseSensitive(price, "completion"))
        return qz_jv_fail(&pat, "completion", NULL, err,
                          "is required (per 1000 completion tokens)");
    if ((rc = qz_jv_number_in(&pat, price, "prompt", 0, 0, 0, 1e9, &g->report.price_prompt, err)) ||
        (rc = qz_jv_number_in(&pat, price, "completion", 0, 0, 0, 1e9, &g->report.price_completion,
                              err)))
        return rc;
    g->report.has_price = 1;
    return QZ_OK;
}

/* clang-format off */
static const char *const openai_fields[] = {
    "kind", "base_url", "endpoint", "model", "prompt", "messages", "max_tokens", "temperature",
    "top_p", "top_k", "min_p", "presence_penalty", "frequency_penalty", "stop", "n", "concurrency",
    "logprobs", "api_key_env", "api_key_file", "timeout_seconds", "connect_timeout_seconds",
    "retries", "backoff_seconds", "backoff_max_seconds", "probe", "max_response_bytes",
    "on_server_down", "server_down_wait_seconds", "price", NULL,
};
/* clang-format on */
static const char *const endpoints[] = {OPENAI_ENDPOINT_DEFAULT, "chat", NULL};
static const char *const down_modes[] = {"wait", "checkpoint", "fail", NULL};
static const char *const message_fields[] = {"role", "content", NULL};

/* This rank's node name for "{host}": SLURMD_NODENAME when set, else the host name. */
static void node_name(char *out, size_t len)
{
    const char *v = getenv("SLURMD_NODENAME");
    if (v && *v)
        snprintf(out, len, "%s", v);
    else if (gethostname(out, len) != 0 || !out[0])
        snprintf(out, len, "localhost");
    out[len - 1] = '\0';
}

/* text with every "{host}" replaced by host, malloc'd (NULL when out of memory). */
static char *with_host(const char *text, const char *host)
{
    size_t lh = strlen(host), n = 0, len;
    const char *p;
    char *out, *o;

    for (p = text; (p = strstr(p, "{host}")); p += 6)
        n++;
    len = strlen(text) + n * lh - n * 6;
    if (!(o = out = malloc(len + 1)))
        return NULL;
    for (p = text; *p;) {
        if (!strncmp(p, "{host}", 6)) {
            memcpy(o, host, lh);
            o += lh;
            p += 6;
        } else
            *o++ = *p++;
    }
    *o = '\0';
    return out;
}

/* base_url: a URL or a non-empty array of at most QZ_POOL_MAX URLs, http or https with
 * a host, no query, no user name or password; "{host}" in one is this rank's node
 * name. g->servers: the URLs without a final '/', each once. */
static enum qz_status parse_base_urls(const struct qz_jv *at, const cJSON *spec,
                                      struct qz_generator *g, struct qz_error *err)
{
    static const char example[] = "http://127.0.0.1:8000/v1";
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(spec, "base_url"), *it;
    int list = cJSON_IsArray(item), count = list ? cJSON_GetArraySize(item) : 1, i = 0;
    struct qz_jv lat;
    char host[256];

    if (!item)
        return qz_jv_fail(at, "base_url", NULL, err, "is required");
    if (!cJSON_IsString(item) && !list)
        return qz_jv_fail(at, "base_url", item, err,
                          "must be a URL such as \"%s\", or an array of such URLs", example);
    if (count < 1 || count > QZ_POOL_MAX)
        return qz_jv_fail(at, "base_url", NULL, err, "must list 1 to %d URLs, got %d", QZ_POOL_MAX,
                          count);
    node_name(host, sizeof host);
    if (!(g->servers = calloc((size_t)count, sizeof *g->servers)))
        return qz_error_set(err, QZ_ENOMEM, "out of memory");
    qz_jv_child(at, "base_url", &lat);
    for (it = list ? item->child : item; it; it = list ? it->next : NULL) {
        struct qz_jv iat = lat;
        char *url;
        size_t len;
        enum qz_status rc;
        int dup = 0;

        if (list)
            qz_jv_item(&lat, i, &iat);
        i++;
        if (!cJSON_IsString(it))
            return qz_jv_fail(&iat, NULL, it, err, "must be a URL such as \"%s\"", example);
        if (!(url = with_host(it->valuestring, host)))
            return qz_error_set(err, QZ_ENOMEM, "out of memory");
        if ((rc = qz_http_url_check(&iat, NULL, it, url, 0, example, err))) {
            free(url);
            return rc;
        }
        len = strlen(url);
        while (len && url[len - 1] == '/')
            url[--len] = '\0';
        if (len + sizeof "/chat/completions" > QZ_POOL_URL_MAX) {
            free(url);
            return qz_jv_fail(&iat, NULL, NULL, err, "is longer than %d bytes",
                              (int)(QZ_POOL_URL_MAX - sizeof "/chat/completions"));
        }
        for (size_t k = 0; k < g->nservers && !dup; k++)
            dup = !strcmp(g->servers[k], url);
        if (dup)
            free(url); /* the same server twice (e.g. {host} and this node's name) */
        else
            g->servers[g->nservers++] = url;
    }
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

/* (Re)make g->describe from g->body: the endpoint and the body as sent, except the
 * per-request seed (which the body holds only after build_body). */
static enum qz_status describe_body(struct qz_generator *g)
{
    cJSON *d = cJSON_CreateObject(), *copy = NULL, *seed;
    char *text = NULL;
    int ok = d != NULL;

    ok = ok && cJSON_AddStringToObject(d, "url", g->url) && (copy = cJSON_Duplicate(g->body, 1)) &&
         cJSON_AddItemToObject(d, "body", copy);
    if (ok && (seed = cJSON_DetachItemFromObjectCaseSensitive(copy, "seed")))
        cJSON_Delete(seed);
    ok = ok && cJSON_AddStringToObject(d, "seed",
                                       "per request for size samples from index start: "
                                       "(philox_word(job seed, stream 5, start) ^ size) & "
                                       "0x7fffffff");
    ok = ok && (text = cJSON_PrintUnformatted(d));
    cJSON_Delete(d);
    if (!ok)
        return QZ_ENOMEM;
    free(g->describe);
    g->describe = text;
    return QZ_OK;
}

/* Build g->body and g->describe from the validated fields. */
static enum qz_status build_body(struct qz_generator *g, const char *model, const char *prompt,
                                 cJSON *messages, cJSON *stop, const double *num, uint32_t n,
                                 struct qz_error *err)
{
    cJSON *b = cJSON_CreateObject();
    int ok = b != NULL;

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
    /* log-probs asked for in the way every server honours: completions an integer >= 1
     * (llama.cpp answers "logprobs": 0 with none), chat true with top_logprobs >= 1
     * (llama.cpp attaches none with top_logprobs 0, and 20 alternatives without it) */
    if (g->chat) {
        ok = ok && cJSON_AddBoolToObject(b, "logprobs", g->logprobs);
        if (g->logprobs)
            ok = ok && cJSON_AddNumberToObject(b, "top_logprobs", 1);
    } else if (g->logprobs) {
        ok = ok && cJSON_AddNumberToObject(b, "logprobs", 1);
    } else {
        ok = ok && cJSON_AddNullToObject(b, "logprobs");
    }
    ok = ok && describe_body(g) == QZ_OK;
    ok = ok && (g->seed_item = cJSON_AddNumberToObject(b, "seed", 0));
    cJSON_Delete(messages);
    cJSON_Delete(stop);
    return ok ? QZ_OK : qz_error_set(err, QZ_ENOMEM, "out of memory");
}

/* Start-up: GET /models of the servers in turn until one answers (any HTTP answer);
 * QZ_EIO naming each one's failure when none does. */
static enum qz_status probe_servers(struct qz_generator *g, const struct qz_jv *at,
                                    struct qz_error *err)
{
    char failed[QZ_ERROR_MSG_MAX - 128] = "";
    size_t used = 0;

    for (size_t i = 0; i < g->nservers; i++) {
        char why[CURL_ERROR_SIZE + 64], *models = join_url(g->servers[i], "/models");
        enum qz_status rc;
        int n;

        if (!models)
            return qz_error_set(err, QZ_ENOMEM, "out of memory");
        rc = qz_http_probe(g->http, models, why, sizeof why);
        free(models);
        if (rc == QZ_OK)
            return QZ_OK;
        if (rc == QZ_ESTOPPED || rc == QZ_ENOMEM)
            return qz_error_set(err, rc, "%s", why);
        n = snprintf(failed + used, sizeof failed - used, "%s%s/models: %s", i ? "; " : "",
                     g->servers[i], why);
        if (n > 0 && (size_t)n < sizeof failed - used)
            used += (size_t)n;
    }
    return qz_error_set(err, QZ_EIO, "%s: %s%sbase_url: cannot reach %s", at->file, at->path,
                        at->path[0] ? "." : "", failed);
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
    int endpoint, probe, on_down;
    double down_wait;
    struct qz_http_settings hs = {0};
    enum qz_status rc;

    *out = NULL;
    if (!g)
        return qz_error_set(err, QZ_ENOMEM, "out of memory");
    g->seed = seed;
    qz_rng_init();
    messages_item = cJSON_GetObjectItemCaseSensitive(spec, "messages");
    if ((rc = qz_jv_fields(at, spec, openai_fields, err)) ||
        (rc = parse_base_urls(at, spec, g, err)) ||
        (rc = qz_jv_choice(at, spec, "endpoint", 0, 0, endpoints, &endpoint, err)) ||
        (rc = qz_jv_string(at, spec, "model", 1, NULL, &model, err)) ||
        (rc = qz_jv_string(at, spec, "prompt", 0, NULL, &prompt, err)))
        goto fail;
    g->chat = endpoint == 1;
    g->path = g->chat ? "/chat/completions" : "/completions";
    if (!(g->url = join_url(g->servers[0], g->path))) {
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
    if ((rc = qz_jv_uint(at, spec, "max_tokens", 0, OPENAI_MAX_TOKENS_DEFAULT, 1,
                         OPENAI_MAX_TOKENS_MAX, &max_tokens, err)) ||
        (rc = qz_jv_number_in(at, spec, "temperature", OPENAI_TEMPERATURE_DEFAULT, 0, 0, 100,
                              &num[1], err)) ||
        (rc = qz_jv_number_in(at, spec, "top_p", OPENAI_TOP_P_DEFAULT, 0, 1, 1, &num[2], err)) ||
        (rc = qz_jv_number(at, spec, "top_k", 0, OPENAI_TOP_K_DEFAULT, &top_k, err)))
        goto fail;
    if (top_k != floor(top_k) || top_k < -1 || top_k > OPENAI_MAX_TOKENS_MAX) {
        rc = qz_jv_fail(at, "top_k", cJSON_GetObjectItemCaseSensitive(spec, "top_k"), err,
                        "must be an integer from -1 to %d", OPENAI_MAX_TOKENS_MAX);
        goto fail;
    }
    if ((rc = qz_jv_number_in(at, spec, "min_p", OPENAI_MIN_P_DEFAULT, 0, 0, 1, &num[4], err)) ||
        (rc = qz_jv_number_in(at, spec, "presence_penalty", OPENAI_PENALTY_DEFAULT, -2, 0, 2,
                              &num[5], err)) ||
        (rc = qz_jv_number_in(at, spec, "frequency_penalty", OPENAI_PENALTY_DEFAULT, -2, 0, 2,
                              &num[6], err)) ||
        (rc = parse_stop(at, spec, &stop, err)) ||
        (rc = qz_jv_uint(at, spec, "n", 0, OPENAI_N_DEFAULT, 1, OPENAI_N_MAX, &n, err)) ||
        (rc = qz_jv_bool(at, spec, "logprobs", 0, OPENAI_LOGPROBS_DEFAULT, &g->logprobs, err)) ||
        (rc = qz_jv_bool(at, spec, "probe", 0, 1, &probe, err)) ||
        (rc = qz_jv_choice(at, spec, "on_server_down", 0, getenv("SLURM_JOB_ID") ? 1 : 2,
                           down_modes, &on_down, err)) ||
        (rc = qz_jv_number_in(at, spec, "server_down_wait_seconds", OPENAI_DOWN_WAIT_DEFAULT, 0, 1,
                              QZ_HTTP_TIMEOUT_MAX, &down_wait, err)) ||
        (rc = qz_http_settings_parse(at, spec, OPENAI_CONCURRENCY_DEFAULT, &hs, err)))
        goto fail;
    if ((rc = parse_price(at, spec, g, err)))
        goto fail;
    num[0] = (double)max_tokens;
    num[3] = top_k;
    g->n = g->n_requested = (uint32_t)n;
    g->concurrency = (size_t)hs.concurrency;
    g->n_explicit = cJSON_GetObjectItemCaseSensitive(spec, "n") != NULL;
    rc = build_body(g, model, prompt, messages, stop, num, g->n, err);
    messages = stop = NULL; /* taken by build_body */
    if (rc)
        goto fail;

    hs.servers = (const char *const *)g->servers;
    hs.nservers = g->nservers;
    hs.outage = on_down == 0   ? QZ_HTTP_OUTAGE_WAIT
                : on_down == 1 ? QZ_HTTP_OUTAGE_CHECKPOINT
                               : QZ_HTTP_OUTAGE_FAIL;
    hs.outage_wait_seconds = down_wait;
    if ((rc = qz_http_settings_open(&hs, "generator", seed ^ 0x6f70656e6169u, &g->http, err)))
        goto fail;
    g->timeout_seconds = hs.timeout_seconds;
    g->connect_timeout_seconds = hs.connect_timeout_seconds;
    g->auth = hs.auth; /* kept for /props; hs forgets it */
    hs.auth = NULL;
    if (probe && (rc = probe_servers(g, at, err)))
        goto fail;
    qz_http_settings_free(&hs);
    *out = g;
    return QZ_OK;
fail:
    qz_http_settings_free(&hs);
    cJSON_Delete(messages);
    cJSON_Delete(stop);
    openai_close(g);
    return rc;
}

/* The job's n (before /props settles it: the chunk is fixed at load, the same on every
 * rank) times concurrency: one round of requests per chunk. */
static uint64_t openai_chunk_hint(const struct qz_generator *g)
{
    return (uint64_t)g->n_requested * (g->concurrency ? g->concurrency : 1);
}

/* The job hash's view of an openai spec: every sampling default written out (n too:
 * the request seeds depend on how samples are grouped into requests); how the servers
 * are reached, waited for and paid is left out (the request seeds do not depend on
 * it). */
static const struct qz_spec_field openai_canonical[] = {
    {"endpoint", QZ_SPEC_STRING, 0, OPENAI_ENDPOINT_DEFAULT, NULL},
    {"max_tokens", QZ_SPEC_NUMBER, OPENAI_MAX_TOKENS_DEFAULT, NULL, NULL},
    {"temperature", QZ_SPEC_NUMBER, OPENAI_TEMPERATURE_DEFAULT, NULL, NULL},
    {"top_p", QZ_SPEC_NUMBER, OPENAI_TOP_P_DEFAULT, NULL, NULL},
    {"top_k", QZ_SPEC_NUMBER, OPENAI_TOP_K_DEFAULT, NULL, NULL},
    {"min_p", QZ_SPEC_NUMBER, OPENAI_MIN_P_DEFAULT, NULL, NULL},
    {"presence_penalty", QZ_SPEC_NUMBER, OPENAI_PENALTY_DEFAULT, NULL, NULL},
    {"frequency_penalty", QZ_SPEC_NUMBER, OPENAI_PENALTY_DEFAULT, NULL, NULL},
    {"n", QZ_SPEC_NUMBER, OPENAI_N_DEFAULT, NULL, NULL},
    {"logprobs", QZ_SPEC_BOOL, OPENAI_LOGPROBS_DEFAULT, NULL, NULL},
    {"base_url", QZ_SPEC_NEUTRAL, 0, NULL, NULL},
    {"probe", QZ_SPEC_NEUTRAL, 0, NULL, NULL},
    {"on_server_down", QZ_SPEC_NEUTRAL, 0, NULL, NULL},
    {"server_down_wait_seconds", QZ_SPEC_NEUTRAL, 0, NULL, NULL},
    {"price", QZ_SPEC_NEUTRAL, 0, NULL, NULL},
    {"", QZ_SPEC_INCLUDE, 0, NULL, qz_http_settings_canonical},
    {NULL, QZ_SPEC_NEUTRAL, 0, NULL, NULL},
};

const struct qz_generator_ops qz_gen_openai_ops = {
    .name = "openai",
    .open = openai_open,
    .draw = openai_draw,
    .produces_text = openai_produces_text,
    .stats = openai_stats,
    .describe = openai_describe,
    .settle = openai_settle,
    .apply_settled = openai_apply_settled,
    .report = openai_report,
    .last_failure = openai_last_failure,
    .chunk_hint = openai_chunk_hint,
    .close = openai_close,
    .canonical = openai_canonical,
};
