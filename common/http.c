#include "http.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "interrupt.h"
#include "servers.h"
#include "utf8.h"

/* A queued request. The client owns it from qz_http_submit until it is accepted, given
 * up or dropped. */
struct req {
    struct req *next;
    char method[8];
    char *url;
    char *body; /* NULL for a GET */
    size_t body_len;
    unsigned attempt;  /* attempts made so far, 0 before the first */
    double not_before; /* monotonic seconds; 0 = at once */
    size_t tag_len;
    max_align_t tag[]; /* the caller's tag, aligned for any type */
};

/* One transfer slot: an easy handle kept across requests (so its settings and the
 * multi handle's connection cache are reused) and the request it runs. */
struct slot {
    struct qz_http_client *owner;
    CURL *easy; /* NULL until first used */
    struct req *req;
    int server;     /* the pool's server running req, -1 without a pool */
    char *url;      /* with a pool: the server's base URL + the request's path (owned) */
    double started; /* monotonic seconds */
    int wired;      /* the attempt reached the wire (on_wire) */
    char *buf;      /* the response body, NUL-terminated */
    size_t len, cap;
    int oom;     /* the body could not grow */
    int too_big; /* the body passed max_response_bytes: the transfer was stopped */
    uint64_t max;
    char errbuf[CURL_ERROR_SIZE];
};

struct qz_http_client {
    struct qz_http_config cfg;
    CURLM *multi;
    struct curl_slist *headers;
    struct slot *slots;
    size_t *free_slots, nfree;
    struct req *ready, *ready_tail; /* FIFO of requests that may start now */
    struct req *delayed;            /* requests waiting for their not_before */
    uint64_t rng;                   /* splitmix64 state for jitter */
    struct qz_http_counts counts;
    char *secret; /* the API key of the Authorization header, or NULL (owned, wiped) */
    enum qz_http_reason last_reason;
    char last_why[QZ_ERROR_MSG_MAX];
    struct qz_pool *pool; /* the servers (cfg.nservers > 0), or NULL */
    double outage_since;  /* monotonic seconds when every server was set aside; 0: none */
};

const char *qz_http_reason_name(enum qz_http_reason r)
{
    static const char *const names[QZ_HTTP_FAIL_REASONS] = {
        "none", "status", "timeout", "connect", "protocol", "too_large", "malformed"};
    return (unsigned)r < QZ_HTTP_FAIL_REASONS ? names[r] : "none";
}

/* The reason of a failed transfer's curl code (not CURLE_WRITE_ERROR from our cap). */
static enum qz_http_reason curl_reason(CURLcode code)
{
    switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
        return QZ_HTTP_FAIL_TIMEOUT;
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_QUIC_CONNECT_ERROR:
        return QZ_HTTP_FAIL_CONNECT;
    default:
        return QZ_HTTP_FAIL_PROTOCOL;
    }
}

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double jitter_u01(struct qz_http_client *c)
{
    uint64_t z = (c->rng += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1p-53;
}

int qz_http_transient_status(long status)
{
    return status == 408 || status == 409 || status == 429 || (status >= 500 && status <= 599);
}

int qz_http_transient_curl(int code)
{
    switch ((CURLcode)code) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
    case CURLE_QUIC_CONNECT_ERROR:
        return 1;
    default:
        return 0;
    }
}

double qz_http_backoff(double backoff, double backoff_max, unsigned attempt, double u)
{
    double d = ldexp(backoff, attempt > 1000 ? 1000 : (int)attempt);
    if (!(d <= backoff_max))
        d = backoff_max;
    return d * (0.5 + u);
}

static const char *skip_space(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* A non-negative finite decimal number filling all of s (spaces around allowed). */
static int parse_nonneg(const char *s, double *out)
{
    char *end;
    double v;

    s = skip_space(s);
    if (!(*s >= '0' && *s <= '9') && *s != '.')
        return 0;
    errno = 0;
    v = strtod(s, &end);
    if (end == s || errno == ERANGE || !isfinite(v) || v < 0)
        return 0;
    if (*skip_space(end) != '\0')
        return 0;
    *out = v;
    return 1;
}

int qz_http_retry_after(const char *retry_after, const char *retry_after_ms, time_t now,
                        double *seconds)
{
    double v;

    if (retry_after_ms && parse_nonneg(retry_after_ms, &v)) {
        *seconds = v / 1000.0;
        return 1;
    }
    if (!retry_after)
        return 0;
    if (parse_nonneg(retry_after, &v)) {
        *seconds = v;
        return 1;
    }
    {
        time_t t = curl_getdate(skip_space(retry_after), &now);
        if (t == (time_t)-1)
            return 0;
        *seconds = t > now ? difftime(t, now) : 0.0;
        return 1;
    }
}

/* The message a JSON error body carries, or NULL. */
static const char *json_message(const cJSON *root)
{
    static const char *const keys[] = {"message", "detail", NULL};
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");

    if (cJSON_IsString(e))
        return e->valuestring;
    if (cJSON_IsObject(e)) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
        if (cJSON_IsString(m))
            return m->valuestring;
    }
    for (int k = 0; keys[k]; k++) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, keys[k]);
        if (cJSON_IsString(m))
            return m->valuestring;
    }
    return NULL;
}

void qz_http_error_summary_scrubbed(const char *body, size_t body_len, const char *secret,
                                    char *out, size_t len)
{
    cJSON *root = body ? cJSON_ParseWithLength(body, body_len) : NULL;
    const char *msg = root ? json_message(root) : NULL;
    /* room for the shown part with every secret hidden: secrets are found in the whole
     * text, then the scrubbed copy is cut */
    char clean[4 * QZ_HTTP_SUMMARY_MAX + 64];
    size_t n;

    if (!len)
        return;
    if (msg) {
        body = msg;
        body_len = strlen(msg);
    } else if (!body) {
        body = "";
        body_len = 0;
    }
    while (body_len &&
           (body[body_len - 1] == '\n' || body[body_len - 1] == '\r' || body[body_len - 1] == ' '))
        body_len--;
    n = qz_scrub_secret(body, body_len, secret, clean, sizeof clean);
    /* a one-line summary: line breaks and tabs become spaces, other controls are escaped */
    for (size_t i = 0; i < n; i++)
        if (clean[i] == '\n' || clean[i] == '\r' || clean[i] == '\t')
            clean[i] = ' ';
    if (!body_len)
        snprintf(out, len, "(empty body)");
    else /* a scrubbed copy that filled up is longer than what is shown */
        qz_utf8_escape(clean, n, QZ_HTTP_SUMMARY_MAX, out, len);
    cJSON_Delete(root);
}

void qz_http_error_summary(const char *body, size_t body_len, char *out, size_t len)
{
    qz_http_error_summary_scrubbed(body, body_len, NULL, out, len);
}

void qz_http_result_summary(const struct qz_http_result *res, char *out, size_t len)
{
    qz_http_error_summary_scrubbed(res->body, res->body_len, res->secret, out, len);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct slot *s = userp;
    size_t n = size * nmemb;

    /* libcurl hands over the decompressed body: a gzip bomb is stopped here too */
    if ((uint64_t)s->len + n > s->max) {
        s->too_big = 1;
        return 0; /* curl fails the transfer with CURLE_WRITE_ERROR */
    }
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 16384;
        char *grown;
        while (cap < s->len + n + 1)
            cap *= 2;
        if (!(grown = realloc(s->buf, cap))) {
            s->oom = 1;
            return 0; /* curl fails the transfer with CURLE_WRITE_ERROR */
        }
        s->buf = grown;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    s->buf[s->len] = '\0';
    return n;
}

static long to_ms(double seconds)
{
    double ms = ceil(seconds * 1000.0);
    return ms < 1 ? 1 : ms > 1e9 ? 1000000000L : (long)ms;
}

/* The longest a run waits in curl_multi_poll: how soon it sees a stop request. */
#define STOP_POLL_MS 100

int qz_http_perform(void *easy)
{
    CURLM *m = curl_multi_init();
    CURLMsg *msg;
    CURLcode r = CURLE_OUT_OF_MEMORY;
    int running = 1, left;

    if (!m)
        return (int)r;
    if (curl_multi_add_handle(m, easy)) {
        curl_multi_cleanup(m);
        return (int)r;
    }
    r = CURLE_ABORTED_BY_CALLBACK;
    while (!qz_interrupt_pending()) {
        if (curl_multi_perform(m, &running)) {
            r = CURLE_FAILED_INIT;
            break;
        }
        if ((msg = curl_multi_info_read(m, &left)) && msg->msg == CURLMSG_DONE) {
            r = msg->data.result;
            break;
        }
        if (curl_multi_poll(m, NULL, 0, STOP_POLL_MS, NULL)) {
            r = CURLE_FAILED_INIT;
            break;
        }
    }
    curl_multi_remove_handle(m, easy);
    curl_multi_cleanup(m);
    return (int)r;
}

/* libcurl is about to send a request on a connection: an attempt reaches the wire
 * (libcurl's own re-sends on a reused connection the server had closed included). */
static int on_wire(void *p, char *remote_ip, char *local_ip, int remote_port, int local_port)
{
    struct slot *s = p;
    (void)remote_ip, (void)local_ip, (void)remote_port, (void)local_port;
    s->wired = 1;
    if (s->owner) {
        s->owner->counts.sent++;
        if (s->server >= 0)
            s->owner->pool->s[s->server].requests++;
    }
    return CURL_PREREQFUNC_OK;
}

/* The options every transfer shares. */
static CURLcode easy_setup(struct qz_http_client *c, CURL *e, struct slot *s)
{
    CURLcode r;
    if ((r = curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L)) ||
        (r = curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L)) ||
        (r = curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers)) ||
        (r = curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, to_ms(c->cfg.timeout_seconds))) ||
        (r = curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                              to_ms(c->cfg.connect_timeout_seconds))) ||
        (r = curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "")) ||
        (r = curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L)) ||
        (r = curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https")) ||
        (r = curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body)) ||
        (r = curl_easy_setopt(e, CURLOPT_WRITEDATA, s)) ||
        (r = curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->errbuf)) ||
        (r = curl_easy_setopt(e, CURLOPT_PRIVATE, s)) ||
        (r = curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_wire)) ||
        (r = curl_easy_setopt(e, CURLOPT_PREREQDATA, s)))
        return r;
    return CURLE_OK;
}

/* Point easy handle e at request q. */
static CURLcode easy_request(CURL *e, const struct req *q, const char *url)
{
    const char *custom = strcmp(q->method, q->body ? "POST" : "GET") ? q->method : NULL;
    CURLcode r;

    if ((r = curl_easy_setopt(e, CURLOPT_URL, url)))
        return r;
    if (!q->body)
        r = curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    else if (!(r = curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len)))
        r = curl_easy_setopt(e, CURLOPT_POSTFIELDS, q->body);
    /* a handle keeps its options: reset the method when this request does not set one */
    return r ? r : curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, custom);
}

enum qz_status qz_http_open(struct qz_http_client **out, const struct qz_http_config *cfg,
                            struct qz_error *err)
{
    static const char *const fixed[] = {"Content-Type: application/json",
                                        "Accept: application/json", "Expect:", NULL};
    struct qz_http_client *c;

    *out = NULL;
    if (cfg->concurrency < 1 || cfg->concurrency > QZ_HTTP_CONCURRENCY_MAX)
        return qz_error_set(err, QZ_EINTERNAL, "http: concurrency %zu out of range",
                            cfg->concurrency);
    if (curl_global_init(CURL_GLOBAL_DEFAULT))
        return qz_error_set(err, QZ_EINTERNAL, "%s: cannot initialize libcurl", cfg->who);
    if (!(c = calloc(1, sizeof *c))) {
        curl_global_cleanup();
        return qz_error_set(err, QZ_ENOMEM, "out of memory");
    }
    c->cfg = *cfg;
    c->cfg.headers = NULL;
    c->cfg.servers = NULL;
    if (cfg->nservers) {
        if (!(c->pool = malloc(sizeof *c->pool)))
            goto oom;
        qz_pool_init(c->pool);
        for (size_t i = 0; i < cfg->nservers; i++)
            if (qz_pool_add(c->pool, cfg->servers[i]) < 0) {
                qz_http_close(c);
                return qz_error_set(err, QZ_EINTERNAL, "%s: server %s: repeated, or more than %d",
                                    cfg->who, cfg->servers[i], QZ_POOL_MAX);
            }
    }
    if (!c->cfg.max_response_bytes)
        c->cfg.max_response_bytes = QZ_HTTP_RESPONSE_MAX_DEFAULT;
    /* ranks share the job seed: mix in the process and the clock so that they do not
     * retry in lockstep (timing never changes results) */
    c->rng = cfg->jitter_seed ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(mono_now() * 1e9);
    c->slots = calloc(cfg->concurrency, sizeof *c->slots);
    for (size_t i = 0; c->slots && i < cfg->concurrency; i++) {
        c->slots[i].owner = c;
        c->slots[i].server = -1;
    }
    c->free_slots = calloc(cfg->concurrency, sizeof *c->free_slots);
    c->multi = curl_multi_init();
    if (!c->slots || !c->free_slots || !c->multi)
        goto oom;
    for (size_t i = 0; i < cfg->concurrency; i++)
        c->free_slots[i] = cfg->concurrency - 1 - i; /* slot 0 on top */
    c->nfree = cfg->concurrency;
    for (int pass = 0; pass < 2; pass++) {
        const char *const *list = pass ? cfg->headers : fixed;
        for (; list && *list; list++) {
            struct curl_slist *grown = curl_slist_append(c->headers, *list);
            if (!grown)
                goto oom;
            c->headers = grown;
            if (pass && strncasecmp(*list, "Authorization: Bearer ", 22) == 0 && !c->secret &&
                !(c->secret = strdup(*list + 22)))
                goto oom;
        }
    }
    if (curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)cfg->concurrency))
        goto oom;
    *out = c;
    return QZ_OK;
oom:
    qz_http_close(c);
    return qz_error_set(err, QZ_ENOMEM, "out of memory");
}

static void free_list(struct req *q)
{
    while (q) {
        struct req *next = q->next;
        free(q->url);
        free(q->body);
        free(q);
        q = next;
    }
}

/* The slot's attempt no longer runs on its server (the pool's counts are the
 * caller's). */
static void release_server(struct qz_http_client *c, struct slot *s)
{
    if (s->server >= 0 && c->pool && c->pool->s[s->server].in_flight)
        c->pool->s[s->server].in_flight--;
    s->server = -1;
    free(s->url);
    s->url = NULL;
}

/* Remove every transfer in flight and drop the queue. */
static void drop_all(struct qz_http_client *c)
{
    for (size_t i = 0; i < c->cfg.concurrency; i++) {
        struct slot *s = &c->slots[i];
        if (s->req) {
            curl_multi_remove_handle(c->multi, s->easy);
            free_list(s->req);
            s->req = NULL;
            c->free_slots[c->nfree++] = i;
        }
        release_server(c, s);
    }
    free_list(c->ready);
    free_list(c->delayed);
    c->ready = c->ready_tail = c->delayed = NULL;
}

void qz_http_close(struct qz_http_client *c)
{
    if (!c)
        return;
    if (c->slots) {
        if (c->free_slots)
            drop_all(c);
        for (size_t i = 0; i < c->cfg.concurrency; i++) {
            if (c->slots[i].easy)
                curl_easy_cleanup(c->slots[i].easy);
            free(c->slots[i].buf);
        }
    }
    if (c->multi)
        curl_multi_cleanup(c->multi);
    curl_slist_free_all(c->headers);
    if (c->secret) {
        volatile char *p = c->secret;
        while (*p)
            *p++ = 0;
        free(c->secret);
    }
    free(c->slots);
    free(c->free_slots);
    free(c->pool);
    free(c);
    curl_global_cleanup();
}

enum qz_status qz_http_submit(struct qz_http_client *c, const char *method, const char *url,
                              const char *body, size_t body_len, const void *tag, size_t tag_len,
                              struct qz_error *err)
{
    struct req *q;
    size_t mlen = strlen(method);

    if (mlen == 0 || mlen >= sizeof q->method)
        return qz_error_set(err, QZ_EINTERNAL, "http: bad method \"%s\"", method);
    if (!(q = calloc(1, sizeof *q + tag_len)))
        return qz_error_set(err, QZ_ENOMEM, "out of memory for a request");
    memcpy(q->method, method, mlen + 1);
    q->url = strdup(url);
    if (body) {
        q->body = malloc(body_len ? body_len : 1);
        if (q->body)
            memcpy(q->body, body, body_len);
        q->body_len = body_len;
    }
    if (!q->url || (body && !q->body)) {
        free_list(q);
        return qz_error_set(err, QZ_ENOMEM, "out of memory for a request");
    }
    if (tag_len)
        memcpy(q->tag, tag, tag_len);
    q->tag_len = tag_len;
    if (c->ready_tail)
        c->ready_tail->next = q;
    else
        c->ready = q;
    c->ready_tail = q;
    return QZ_OK;
}

/* Start the first ready request on a free slot (on the server the pool picks). Sets
 * *none when no server may take it now. */
static enum qz_status start_one(struct qz_http_client *c, int *none, struct qz_error *err)
{
    size_t i;
    struct slot *s;
    struct req *q = c->ready;
    const char *url = q->url;
    int server = -1;
    CURLcode r;
    CURLMcode mr;

    *none = 0;
    if (c->pool && (server = qz_pool_pick(c->pool, mono_now())) < 0) {
        *none = 1;
        return QZ_OK;
    }
    i = c->free_slots[--c->nfree];
    s = &c->slots[i];
    if (server >= 0) {
        const char *base = c->pool->s[server].url;
        size_t lb = strlen(base), lp = strlen(q->url);
        if (!(s->url = malloc(lb + lp + 1))) {
            c->free_slots[c->nfree++] = i;
            return qz_error_set(err, QZ_ENOMEM, "out of memory for a request");
        }
        memcpy(s->url, base, lb);
        memcpy(s->url + lb, q->url, lp + 1);
        url = s->url;
        qz_pool_start(c->pool, server);
        s->server = server;
    }
    s->started = mono_now();
    s->wired = 0;
    c->ready = q->next;
    if (!c->ready)
        c->ready_tail = NULL;
    q->next = NULL;
    s->req = q;
    s->len = 0;
    s->oom = 0;
    s->too_big = 0;
    s->max = c->cfg.max_response_bytes;
    s->errbuf[0] = '\0';
    if (!s->easy) {
        if (!(s->easy = curl_easy_init()))
            return qz_error_set(err, QZ_ENOMEM, "out of memory for a transfer");
        if ((r = easy_setup(c, s->easy, s)))
            return qz_error_set(err, QZ_EINTERNAL, "%s: libcurl: %s", c->cfg.who,
                                curl_easy_strerror(r));
    }
    if ((r = easy_request(s->easy, q, url)))
        return qz_error_set(err, QZ_EINTERNAL, "%s: %s %s: %s", c->cfg.who, q->method, url,
                            curl_easy_strerror(r));
    if ((mr = curl_multi_add_handle(c->multi, s->easy)))
        return qz_error_set(err, QZ_EINTERNAL, "%s: libcurl: %s", c->cfg.who,
                            curl_multi_strerror(mr));
    return QZ_OK;
}

const char *qz_http_result_header(const struct qz_http_result *res, const char *name)
{
    struct curl_header *h;
    if (!res->easy || curl_easy_header(res->easy, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
        return NULL;
    /* the last one when repeated */
    if (h->amount > 1 &&
        curl_easy_header(res->easy, name, h->amount - 1, CURLH_HEADER, -1, &h) != CURLHE_OK)
        return NULL;
    return h->value;
}

/* Schedule q again after a transient failure, or give it up. Takes q. */
static void retry_or_give_up(struct qz_http_client *c, const struct qz_http_handler *h, void *ctx,
                             struct req *q, const struct qz_http_result *res,
                             enum qz_http_reason reason, const char *why)
{
    double wait, asked;

    c->counts.failures[reason]++;
    c->last_reason = reason;
    snprintf(c->last_why, sizeof c->last_why, "%s", why);
    if (q->attempt >= c->cfg.retries || reason == QZ_HTTP_FAIL_TOO_LARGE) {
        c->counts.gave_up++;
        h->on_give_up(ctx, q->tag, why);
        free_list(q);
        return;
    }
    wait = qz_http_backoff(c->cfg.backoff_seconds, c->cfg.backoff_max_seconds, q->attempt,
                           jitter_u01(c));
    if (res &&
        qz_http_retry_after(qz_http_result_header(res, "Retry-After"),
                            qz_http_result_header(res, "retry-after-ms"), time(NULL), &asked)) {
        if (asked > c->cfg.backoff_max_seconds)
            asked = c->cfg.backoff_max_seconds;
        if (asked > wait)
            wait = asked;
    }
    q->attempt++;
    c->counts.retries++;
    q->not_before = mono_now() + wait;
    q->next = c->delayed;
    c->delayed = q;
}

/* A transfer of slot i ended with `code`: decide what follows. */
/* 1 when a failed transfer ended for want of its server: the last connection could
 * not be made (refused, no such host; libcurl may have sent the request on a kept-alive
 * connection the server had closed before), or it timed out before any request went
 * on the wire (a connect timeout, not a slow answer). */
static int unreachable(const struct slot *s, CURLcode code)
{
    enum qz_http_reason reason = curl_reason(code);
    return reason == QZ_HTTP_FAIL_CONNECT || (reason == QZ_HTTP_FAIL_TIMEOUT && !s->wired);
}

/* Queue q again at the front, at once, without using one of its retries. */
static void reroute(struct qz_http_client *c, struct req *q, enum qz_http_reason reason,
                    const char *why)
{
    c->counts.failures[reason]++;
    c->counts.retries++;
    c->counts.rerouted++;
    c->last_reason = reason;
    snprintf(c->last_why, sizeof c->last_why, "%s", why);
    q->next = c->ready;
    c->ready = q;
    if (!c->ready_tail)
        c->ready_tail = q;
}

/* A transfer of slot i ended with `code`: decide what follows. */
static enum qz_status finish_attempt(struct qz_http_client *c, const struct qz_http_handler *h,
                                     void *ctx, size_t i, CURLcode code, int server,
                                     struct qz_error *err)
{
    struct slot *s = &c->slots[i];
    struct req *q = s->req;
    const char *url = s->url ? s->url : q->url;
    struct qz_http_result res = {q->method, url,        0,       s->buf ? s->buf : "",
                                 s->len,    q->attempt, s->easy, c->secret};
    enum qz_status rc = QZ_OK;
    char why[QZ_ERROR_MSG_MAX];
    double now = mono_now();

    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &res.status);
    s->req = NULL;
    c->free_slots[c->nfree++] = i;

    if (code != CURLE_OK) {
        char text[QZ_HTTP_SUMMARY_MAX * 4 + 64];
        enum qz_http_reason reason = curl_reason(code);
        int down = unreachable(s, code);
        /* curl's text may quote what the server sent: scrubbed and escaped like a body */
        qz_http_error_summary_scrubbed(s->errbuf[0] ? s->errbuf : curl_easy_strerror(code),
                                       strlen(s->errbuf[0] ? s->errbuf : curl_easy_strerror(code)),
                                       c->secret, text, sizeof text);
        if (server >= 0) {
            if (down)
                qz_pool_unreachable(c->pool, server, now);
            else
                qz_pool_failed(c->pool, server, now);
        }
        if (server >= 0 && down) {
            /* the server is not there: another one (or this one, when it comes back)
             * takes the request; an outage is the run loop's business */
            snprintf(why, sizeof why, "%s: %s", qz_http_reason_name(reason), text);
            reroute(c, q, reason, why);
        } else if (code == CURLE_WRITE_ERROR && s->too_big) {
            snprintf(why, sizeof why, "answer larger than max_response_bytes (%llu bytes)",
                     (unsigned long long)c->cfg.max_response_bytes);
            retry_or_give_up(c, h, ctx, q, NULL, QZ_HTTP_FAIL_TOO_LARGE, why);
        } else if (code == CURLE_WRITE_ERROR && s->oom)
            rc = qz_error_set(err, QZ_ENOMEM, "%s: %s %s: out of memory for the response",
                              c->cfg.who, q->method, url);
        else if (!qz_http_transient_curl(code))
            rc = qz_error_set(err, QZ_EIO, "%s: %s %s: %s", c->cfg.who, q->method, url, text);
        else {
            snprintf(why, sizeof why, "%s: %s", qz_http_reason_name(reason), text);
            retry_or_give_up(c, h, ctx, q, NULL, reason, why);
        }
        if (rc)
            free_list(q);
        curl_multi_remove_handle(c->multi, s->easy);
        return rc;
    }
    c->counts.answered++;
    if (server >= 0)
        qz_pool_answered(c->pool, server, now - s->started);
    if (res.status >= 200 && res.status <= 299) {
        struct qz_error why_err;
        qz_error_clear(&why_err);
        switch (h->on_answer(ctx, q->tag, &res, &why_err)) {
        case QZ_HTTP_ACCEPT:
            free_list(q);
            break;
        case QZ_HTTP_RETRY:
            if (server >= 0)
                c->pool->s[server].failures++;
            retry_or_give_up(c, h, ctx, q, &res, QZ_HTTP_FAIL_MALFORMED, why_err.msg);
            break;
        case QZ_HTTP_ABORT:
            rc = why_err.code ? why_err.code : QZ_EINTERNAL;
            if (err)
                *err = why_err;
            free_list(q);
            break;
        }
    } else {
        char summary[QZ_HTTP_SUMMARY_MAX * 4 + 16];
        qz_http_result_summary(&res, summary, sizeof summary);
        snprintf(why, sizeof why, "HTTP %ld: %s", res.status, summary);
        if (server >= 0)
            c->pool->s[server].failures++;
        if (qz_http_transient_status(res.status))
            retry_or_give_up(c, h, ctx, q, &res, QZ_HTTP_FAIL_STATUS, why);
        else {
            rc = qz_error_set(err, QZ_EIO, "%s: %s %s: %s", c->cfg.who, q->method, url, why);
            free_list(q);
        }
    }
    /* after the callbacks: they may read headers through the easy handle */
    curl_multi_remove_handle(c->multi, s->easy);
    return rc;
}

static enum qz_status finish_one(struct qz_http_client *c, const struct qz_http_handler *h,
                                 void *ctx, size_t i, CURLcode code, struct qz_error *err)
{
    struct slot *s = &c->slots[i];
    int server = s->server;
    enum qz_status rc;

    s->server = -1; /* the pool's counts are finish_attempt's */
    rc = finish_attempt(c, h, ctx, i, code, server, err);
    release_server(c, s);
    return rc;
}

/* "rank N: " under mpirun (from the launcher's environment; the HTTP layer knows no
 * communicator), else "". */
static const char *rank_prefix(char *buf, size_t len)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v && strlen(v) < 12) {
            snprintf(buf, len, "rank %s: ", v);
            return buf;
        }
    }
    return "";
}

/* The pool's servers, ", "-separated, into out (cut with "..." when long). */
static void server_list(const struct qz_pool *p, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < p->n && used + 1 < len; i++) {
        int n = snprintf(out + used, len - used, "%s%s", i ? ", " : "", p->s[i].url);
        if (n < 0 || (size_t)n >= len - used) {
            if (len > 4)
                memcpy(out + len - 4, "...", 4);
            return;
        }
        used += (size_t)n;
    }
}

/* Every server of the pool is set aside: the error the job's on_server_down asks for
 * (`waited`: the seconds waited, 0 when it does not wait). */
static enum qz_status outage_error(struct qz_http_client *c, enum qz_status code, double waited,
                                   struct qz_error *err)
{
    char list[512], after[64] = "";
    if (waited > 0)
        snprintf(after, sizeof after, " after waiting %.0f s", waited);
    server_list(c->pool, list, sizeof list);
    return qz_error_set(err, code, "%s: every server is down%s (%s); the last failure: %s",
                        c->cfg.who, after, list, c->last_reason ? c->last_why : "none");
}

/* Outages: every server set aside starts one; a server back ends it. */
static enum qz_status outage_check(struct qz_http_client *c, double now, struct qz_error *err)
{
    char rank[32], list[512];

    if (!c->pool)
        return QZ_OK;
    if (qz_pool_all_aside(c->pool)) {
        if (!c->outage_since) {
            c->outage_since = now;
            c->counts.outages++;
            if (c->cfg.outage != QZ_HTTP_OUTAGE_WAIT) {
                c->outage_since = 0;
                return outage_error(
                    c, c->cfg.outage == QZ_HTTP_OUTAGE_CHECKPOINT ? QZ_EOUTAGE : QZ_EIO, 0, err);
            }
            server_list(c->pool, list, sizeof list);
            qz_warn("%s%s: every server is down (%s); waiting up to %.0f s for one to come back "
                    "(the last failure: %s)",
                    rank_prefix(rank, sizeof rank), c->cfg.who, list, c->cfg.outage_wait_seconds,
                    c->last_why);
        } else if (now - c->outage_since > c->cfg.outage_wait_seconds) {
            double waited = now - c->outage_since;
            c->counts.outage_seconds += waited;
            c->outage_since = 0;
            return outage_error(c, QZ_EIO, waited, err);
        }
    } else if (c->outage_since) {
        double waited = now - c->outage_since;
        c->counts.outage_seconds += waited;
        c->outage_since = 0;
        qz_warn("%s%s: a server is back after %.1f s; going on", rank_prefix(rank, sizeof rank),
                c->cfg.who, waited);
    }
    return QZ_OK;
}

enum qz_status qz_http_run(struct qz_http_client *c, const struct qz_http_handler *h, void *ctx,
                           struct qz_error *err)
{
    enum qz_status rc = QZ_OK;

    if (qz_interrupt_pending())
        return qz_error_set(err, QZ_ESTOPPED, "stopped");
    while (c->ready || c->delayed || c->nfree < c->cfg.concurrency) {
        double now = mono_now(), next = now + 1.0;
        struct req **pp = &c->delayed;
        CURLMsg *msg;
        CURLMcode mr;
        int running, left, finished = 0, blocked = 0;

        /* requests whose backoff is over join the ready queue */
        while (*pp) {
            struct req *q = *pp;
            if (q->not_before <= now) {
                *pp = q->next;
                q->next = NULL;
                if (c->ready_tail)
                    c->ready_tail->next = q;
                else
                    c->ready = q;
                c->ready_tail = q;
            } else {
                if (q->not_before < next)
                    next = q->not_before;
                pp = &q->next;
            }
        }
        if ((rc = outage_check(c, now, err)))
            goto fail;
        while (c->nfree && c->ready && !blocked)
            if ((rc = start_one(c, &blocked, err)))
                goto fail;
        if (c->pool && qz_pool_next_probe(c->pool) < next)
            next = qz_pool_next_probe(c->pool);
        if ((mr = curl_multi_perform(c->multi, &running))) {
            rc = qz_error_set(err, QZ_EINTERNAL, "%s: libcurl: %s", c->cfg.who,
                              curl_multi_strerror(mr));
            goto fail;
        }
        while ((msg = curl_multi_info_read(c->multi, &left))) {
            char *priv = NULL;
            struct slot *s;
            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
            s = (struct slot *)(void *)priv;
            finished = 1;
            if ((rc = finish_one(c, h, ctx, (size_t)(s - c->slots), msg->data.result, err)))
                goto fail;
        }
        if (qz_interrupt_pending()) {
            rc = qz_error_set(err, QZ_ESTOPPED, "stopped");
            goto fail;
        }
        if (finished)
            continue; /* start what the freed slots and callbacks allow before waiting */
        {
            double wait = c->ready && c->nfree && !blocked ? 0 : next - now;
            int ms = wait <= 0                       ? 0
                     : wait >= STOP_POLL_MS / 1000.0 ? STOP_POLL_MS
                                                     : (int)ceil(wait * 1000.0);
            if ((mr = curl_multi_poll(c->multi, NULL, 0, ms, NULL))) {
                rc = qz_error_set(err, QZ_EINTERNAL, "%s: libcurl: %s", c->cfg.who,
                                  curl_multi_strerror(mr));
                goto fail;
            }
        }
    }
    return QZ_OK;
fail:
    if (c->outage_since && rc != QZ_EIO && rc != QZ_EOUTAGE) {
        /* stopped while waiting: the wait so far counts */
        c->counts.outage_seconds += mono_now() - c->outage_since;
        c->outage_since = 0;
    }
    drop_all(c);
    return rc;
}

void qz_http_get_counts(const struct qz_http_client *c, struct qz_http_counts *out)
{
    *out = c->counts;
}

const struct qz_pool *qz_http_pool(const struct qz_http_client *c)
{
    return c->pool;
}

const char *qz_http_last_failure(const struct qz_http_client *c, enum qz_http_reason *reason)
{
    if (reason)
        *reason = c->last_reason;
    return c->last_reason == QZ_HTTP_FAIL_NONE ? "" : c->last_why;
}

enum qz_status qz_http_probe(struct qz_http_client *c, const char *url, char *why, size_t why_len)
{
    struct slot s;
    CURL *e = curl_easy_init();
    CURLcode r;

    memset(&s, 0, sizeof s);
    s.max = c->cfg.max_response_bytes;
    if (!e) {
        snprintf(why, why_len, "out of memory");
        return QZ_ENOMEM;
    }
    if (!(r = easy_setup(c, e, &s)) && !(r = curl_easy_setopt(e, CURLOPT_URL, url)))
        r = (CURLcode)qz_http_perform(e);
    if (r == CURLE_ABORTED_BY_CALLBACK && qz_interrupt_pending()) {
        snprintf(why, why_len, "stopped");
        curl_easy_cleanup(e);
        free(s.buf);
        return QZ_ESTOPPED;
    }
    if (r && s.too_big)
        snprintf(why, why_len, "answer larger than max_response_bytes (%llu bytes)",
                 (unsigned long long)c->cfg.max_response_bytes);
    else if (r) {
        const char *text = s.errbuf[0] ? s.errbuf : curl_easy_strerror(r);
        qz_http_error_summary_scrubbed(text, strlen(text), c->secret, why, why_len);
    }
    curl_easy_cleanup(e);
    free(s.buf);
    return r ? QZ_EIO : QZ_OK;
}
