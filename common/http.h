/* A small HTTP client for backends that talk to servers (OpenAI-compatible generators,
 * reward-model scorers): a queue of requests run with libcurl multi, up to
 * `concurrency` at once over kept-alive connections, with retries and backoff.
 *
 * All calls are local and single-threaded; one client per backend instance.
 *
 * The retry policy (the same for every user of this layer):
 * - transient, retried up to `retries` times: HTTP 408, 409, 429 and 5xx; connection
 *   failures, timeouts, truncated or garbled bodies, resets (see qz_http_transient_curl);
 *   and 2xx answers the caller's on_answer rejects as malformed (QZ_HTTP_RETRY);
 * - permanent, failing the whole run at once: any other status (other 4xx, 3xx: redirects
 *   are not followed) and other curl errors (bad URL, TLS verification failure, ...);
 * - the wait before retry a (a = 0, 1, ...) is qz_http_backoff(): backoff * 2^a capped at
 *   backoff_max, times a jitter factor in [0.5, 1.5); when the answer carries
 *   retry-after-ms or Retry-After, the wait is at least that long, but a server's demand
 *   is capped at backoff_max too (a long Retry-After then costs a retry instead of
 *   stalling the run; raise backoff_max_seconds to honour longer ones). Waiting never
 *   blocks the other requests in flight.
 * - a request whose retries are used up is handed to on_give_up; the run goes on.
 * - an answer larger than max_response_bytes (counted after decompression, the transfer
 *   stopped there) is not transient: that request is given up at once, no retry.
 *
 * Server text in messages (error bodies) is cut, scrubbed of the API key and of any
 * "Bearer ..." token, and its control characters escaped (utf8.h) before it reaches
 * a message. Why a request was given up: qz_http_last_failure during on_give_up.
 *
 * Timing never changes what a request returns, so jitter may come from any RNG. */
#ifndef QZ_HTTP_H
#define QZ_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "error.h"

#define QZ_HTTP_CONCURRENCY_MAX 1024
#define QZ_HTTP_SUMMARY_MAX 200 /* bytes of a server's error message kept in our messages */
#define QZ_HTTP_RESPONSE_MAX_DEFAULT ((uint64_t)16 << 20) /* max_response_bytes: 16 MiB */

/* What qz_http_run does when every server of its pool is set aside (an outage). */
enum qz_http_outage {
    QZ_HTTP_OUTAGE_FAIL,       /* return QZ_EIO at once */
    QZ_HTTP_OUTAGE_CHECKPOINT, /* return QZ_EOUTAGE at once */
    QZ_HTTP_OUTAGE_WAIT,       /* probe with backoff; QZ_EIO after outage_wait_seconds */
};

struct qz_http_config {
    const char *who;                /* message prefix, e.g. "generator" (not copied) */
    size_t concurrency;             /* requests in flight at once, 1 .. 1024 */
    double timeout_seconds;         /* total time of one attempt */
    double connect_timeout_seconds; /* time to connect */
    unsigned retries;               /* retries per request after its first attempt */
    double backoff_seconds, backoff_max_seconds;
    const char *const *headers;  /* NULL-terminated "Name: value" lines sent with every request
                                    (copied; may hold a secret: never printed) */
    uint64_t jitter_seed;        /* seeds the jitter RNG (mixed with the pid and the clock) */
    uint64_t max_response_bytes; /* the largest answer body (decompressed); 0: the default */
    /* Optional: the servers (base URLs, copied; at most QZ_POOL_MAX, servers.h). With
     * them, a submitted url is a path that follows the base URL of the server the pool
     * picks for each attempt; without them (nservers 0) it is the whole URL. */
    const char *const *servers;
    size_t nservers;
    enum qz_http_outage outage; /* with servers: what an outage does */
    double outage_wait_seconds; /* QZ_HTTP_OUTAGE_WAIT: the longest wait */
};

/* What one attempt brought back, as handed to the callbacks. Valid only during the
 * callback. */
struct qz_http_result {
    const char *method, *url;
    long status;        /* HTTP status of a complete answer */
    const char *body;   /* the body, NUL-terminated (owned by the client) */
    size_t body_len;    /* its length (the body may contain NULs) */
    unsigned attempt;   /* 0 for the first attempt */
    void *easy;         /* for qz_http_result_header */
    const char *secret; /* the API key, or NULL: for qz_http_result_summary only */
};

/* qz_http_error_summary of the result's body, scrubbed of the key and Bearer tokens:
 * what an on_answer callback may quote in a message. */
void qz_http_result_summary(const struct qz_http_result *res, char *out, size_t len);

/* The value of response header `name` (case-insensitive; the last one if repeated), or
 * NULL. Valid during the callback. */
const char *qz_http_result_header(const struct qz_http_result *res, const char *name);

enum qz_http_verdict {
    QZ_HTTP_ACCEPT, /* the answer is used; the request is done */
    QZ_HTTP_RETRY,  /* malformed: retry it as a transient failure (err's message says why) */
    QZ_HTTP_ABORT,  /* fail the whole run with err */
};

struct qz_http_handler {
    /* A complete 2xx answer to the request whose tag is `tag`. May call qz_http_submit
     * (e.g. a follow-up for what the answer lacked). */
    enum qz_http_verdict (*on_answer)(void *ctx, void *tag, const struct qz_http_result *res,
                                      struct qz_error *err);
    /* The request failed its last retry; `why` says how the last attempt failed. */
    void (*on_give_up)(void *ctx, void *tag, const char *why);
};

/* How an attempt failed (qz_http_last_failure; counted in qz_http_counts). */
enum qz_http_reason {
    QZ_HTTP_FAIL_NONE,      /* no failure yet */
    QZ_HTTP_FAIL_STATUS,    /* an HTTP error status (the message has it and the server's text) */
    QZ_HTTP_FAIL_TIMEOUT,   /* timeout_seconds or connect_timeout_seconds ran out */
    QZ_HTTP_FAIL_CONNECT,   /* no connection: refused, host not found, reset while connecting */
    QZ_HTTP_FAIL_PROTOCOL,  /* a broken answer: truncated, garbled, bad encoding, nothing */
    QZ_HTTP_FAIL_TOO_LARGE, /* the answer was larger than max_response_bytes */
    QZ_HTTP_FAIL_MALFORMED, /* a 2xx answer on_answer rejected (QZ_HTTP_RETRY) */
    QZ_HTTP_FAIL_REASONS
};

/* A short name of a reason ("status", "timeout", "connect", "protocol", "too_large",
 * "malformed"; "none"), for counts in records. */
const char *qz_http_reason_name(enum qz_http_reason r);

struct qz_http_client; /* opaque */

/* Open a client (a multi handle; easy handles are made as needed). *out is owned by the
 * caller, freed with qz_http_close. QZ_ENOMEM or QZ_EINTERNAL on failure. */
enum qz_status qz_http_open(struct qz_http_client **out, const struct qz_http_config *cfg,
                            struct qz_error *err);
void qz_http_close(struct qz_http_client *c);

/* Queue a request. method is "GET" or "POST"; url, body (body_len bytes, NULL for none)
 * and tag (tag_len bytes, handed back to the callbacks, suitably aligned) are copied. */
enum qz_status qz_http_submit(struct qz_http_client *c, const char *method, const char *url,
                              const char *body, size_t body_len, const void *tag, size_t tag_len,
                              struct qz_error *err);

/* Run every queued request, and those the callbacks submit, until all are accepted or
 * given up. Returns QZ_OK, or the first permanent failure (QZ_EIO with
 * `WHO: METHOD URL: HTTP 400: <the server's message>`, or an on_answer abort), in which
 * case the rest of the queue is dropped. Once a stop is requested
 * (qz_interrupt_pending() non-zero, looked at least every 100 ms), returns QZ_ESTOPPED
 * with the message "stopped", dropping what is in flight and queued.
 *
 * With servers (a pool, servers.h): each attempt goes to the server the pool picks;
 * an attempt that cannot connect (refused, no such host, connect timeout) is queued
 * again at once without using one of its retries (another server takes it, or this
 * one when it is back). When every server is set aside (an outage), cfg.outage says
 * what happens: QZ_EIO or QZ_EOUTAGE at once (`WHO: every server is down (URLS); the
 * last failure: WHY`), or a wait (one qz_warn line when it starts and one when a
 * server is back) of at most outage_wait_seconds, then QZ_EIO. The client can run
 * again afterwards. */
enum qz_status qz_http_run(struct qz_http_client *c, const struct qz_http_handler *h, void *ctx,
                           struct qz_error *err);

struct qz_http_counts {
    uint64_t sent;         /* attempts that reached the wire: libcurl was about to send the
                              request on a connection (its own silent re-sends on a reused
                              connection the server had closed included) */
    uint64_t answered;     /* attempts that brought a complete HTTP answer (any status) */
    uint64_t retries;      /* attempts scheduled again after a failed one (rerouted included) */
    uint64_t rerouted;     /* attempts that found their server unreachable, queued again at
                              once for another server without using one of their retries */
    uint64_t outages;      /* times every server was set aside */
    double outage_seconds; /* time spent waiting in outages (QZ_HTTP_OUTAGE_WAIT) */
    uint64_t gave_up;      /* requests that failed their last retry */
    uint64_t failures[QZ_HTTP_FAIL_REASONS]; /* failed attempts by reason */
};

/* The reason and the message (as handed to on_give_up: "HTTP 401: <server text>",
 * "timeout: ...", "answer larger than max_response_bytes (N bytes)", ...) of the last
 * failed attempt; valid until the next qz_http_run step (read it in on_give_up). */
const char *qz_http_last_failure(const struct qz_http_client *c, enum qz_http_reason *reason);
void qz_http_get_counts(const struct qz_http_client *c, struct qz_http_counts *out);

struct qz_pool;
/* The client's servers with their counts (requests, failures), or NULL without. */
const struct qz_pool *qz_http_pool(const struct qz_http_client *c);

/* curl_easy_perform of the curl easy handle `easy`, except that it gives up with
 * CURLE_ABORTED_BY_CALLBACK within 0.1 s once qz_interrupt_pending() is non-zero (and
 * at once when it already is). Returns the CURLcode (as int). */
int qz_http_perform(void *easy);

/* One blocking GET of url with the client's headers and timeouts, to check that a
 * server is there: QZ_OK on any HTTP answer; QZ_ESTOPPED ("stopped" in why) when a
 * stop was requested (qz_interrupt_pending) before or during it; otherwise QZ_EIO
 * with the curl error text in why (why_len bytes). */
enum qz_status qz_http_probe(struct qz_http_client *c, const char *url, char *why, size_t why_len);

/* The pure parts of the policy, exposed for tests. */

/* 1 for the HTTP statuses that are retried: 408, 409, 429, 500..599. */
int qz_http_transient_status(long status);
/* 1 for the curl result codes that are retried (a CURLcode, as int). */
int qz_http_transient_curl(int code);

/* The wait before retry `attempt` (0 = the first retry), u in [0, 1) uniform:
 * min(backoff * 2^attempt, backoff_max) * (0.5 + u). */
double qz_http_backoff(double backoff, double backoff_max, unsigned attempt, double u);

/* The wait a server asked for: retry-after-ms (milliseconds, a decimal number) when
 * present and valid, else Retry-After as delay-seconds (a non-negative number) or an
 * HTTP date (IMF-fixdate, RFC 850 or asctime; a date in the past means 0), compared
 * with `now`. Either argument may be NULL. Returns 1 and *seconds (>= 0), or 0 when
 * neither says anything valid. */
int qz_http_retry_after(const char *retry_after, const char *retry_after_ms, time_t now,
                        double *seconds);

/* A one-line summary of an error body for messages: error.message, error (a string),
 * message or detail of a JSON object, else the text itself; control characters
 * escaped (\n, \x1b, ...); cut to QZ_HTTP_SUMMARY_MAX bytes of text at a UTF-8
 * boundary with "..." appended. Writes at most len bytes (NUL included; 4 *
 * QZ_HTTP_SUMMARY_MAX + 16 holds any summary). */
void qz_http_error_summary(const char *body, size_t body_len, char *out, size_t len);
/* The same, with `secret` (when not NULL) and Bearer tokens replaced by "[hidden]". */
void qz_http_error_summary_scrubbed(const char *body, size_t body_len, const char *secret,
                                    char *out, size_t len);

#endif
