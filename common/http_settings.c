#include "http_settings.h"

#include <string.h>

#include "apikey.h"

enum qz_status qz_http_settings_parse(const struct qz_jv *at, const cJSON *spec,
                                      uint64_t concurrency_default, struct qz_http_settings *s,
                                      struct qz_error *err)
{
    uint64_t retries;
    char *key = NULL;
    enum qz_status rc;

    memset(s, 0, sizeof *s);
    if ((rc = qz_jv_uint(at, spec, "concurrency", 0, concurrency_default, 1,
                         QZ_HTTP_CONCURRENCY_MAX, &s->concurrency, err)) ||
        (rc = qz_jv_number_in(at, spec, "timeout_seconds", 60, 0, 1, QZ_HTTP_TIMEOUT_MAX,
                              &s->timeout_seconds, err)) ||
        (rc = qz_jv_number_in(at, spec, "connect_timeout_seconds", 10, 0, 1, QZ_HTTP_TIMEOUT_MAX,
                              &s->connect_timeout_seconds, err)) ||
        (rc = qz_jv_uint(at, spec, "retries", 0, 5, 0, QZ_HTTP_RETRIES_MAX, &retries, err)) ||
        (rc = qz_jv_number_in(at, spec, "backoff_seconds", 0.5, 0, 0, QZ_HTTP_TIMEOUT_MAX,
                              &s->backoff_seconds, err)) ||
        (rc = qz_jv_number_in(at, spec, "backoff_max_seconds", 30, 0, 0, QZ_HTTP_TIMEOUT_MAX,
                              &s->backoff_max_seconds, err)) ||
        (rc = qz_apikey_read(at, spec, &key, err)))
        return rc;
    s->retries = (unsigned)retries;
    if (key && !(s->auth = qz_apikey_header(key)))
        rc = qz_error_set(err, QZ_ENOMEM, "out of memory");
    qz_secret_free(key);
    return rc;
}

enum qz_status qz_http_settings_open(const struct qz_http_settings *s, const char *who,
                                     uint64_t jitter_seed, struct qz_http_client **out,
                                     struct qz_error *err)
{
    const char *headers[] = {s->auth, NULL};
    struct qz_http_config cfg = {
        .who = who,
        .concurrency = (size_t)s->concurrency,
        .timeout_seconds = s->timeout_seconds,
        .connect_timeout_seconds = s->connect_timeout_seconds,
        .retries = s->retries,
        .backoff_seconds = s->backoff_seconds,
        .backoff_max_seconds = s->backoff_max_seconds,
        .headers = headers,
        .jitter_seed = jitter_seed,
    };
    return qz_http_open(out, &cfg, err);
}

void qz_http_settings_free(struct qz_http_settings *s)
{
    qz_secret_free(s->auth);
    s->auth = NULL;
}
