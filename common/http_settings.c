#include "http_settings.h"

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "apikey.h"

enum qz_status qz_http_url_check(const struct qz_jv *at, const char *field, const cJSON *item,
                                 const char *text, int query, const char *example,
                                 struct qz_error *err)
{
    char *scheme = NULL, *host = NULL, *user = NULL, *password = NULL;
    CURLU *u;
    int ok, userinfo;

    if (!(u = curl_url()))
        return qz_error_set(err, QZ_ENOMEM, "out of memory");
    ok = curl_url_set(u, CURLUPART_URL, text, 0) == CURLUE_OK &&
         curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
         curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host[0] &&
         (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0) &&
         (query || !strchr(text, '?')) && !strchr(text, '#');
    userinfo = ok && (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
                      curl_url_get(u, CURLUPART_PASSWORD, &password, 0) == CURLUE_OK);
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_free(password);
    curl_url_cleanup(u);
    if (!ok)
        return qz_jv_fail(at, field, item, err,
                          "must be an http:// or https:// URL with a host, such as \"%s\"",
                          example);
    /* the URL is recorded and shown: a secret in it would leak (so it is not quoted) */
    if (userinfo)
        return qz_jv_fail(at, field, NULL, err,
                          "must not hold a user name or password (\"user:pass@\"); give an "
                          "API key with api_key_env or api_key_file");
    return QZ_OK;
}

enum qz_status qz_http_url_parse(const struct qz_jv *at, const cJSON *spec, const char *field,
                                 int query, const char *example, char **url, struct qz_error *err)
{
    const char *text;
    enum qz_status rc = qz_jv_string(at, spec, field, 1, NULL, &text, err);

    if (rc || (rc = qz_http_url_check(at, field, cJSON_GetObjectItemCaseSensitive(spec, field),
                                      text, query, example, err)))
        return rc;
    if (!(*url = strdup(text)))
        return qz_error_set(err, QZ_ENOMEM, "out of memory");
    return QZ_OK;
}

const struct qz_spec_field qz_http_settings_canonical[] = {
    {"concurrency", QZ_SPEC_NEUTRAL, 0, NULL, NULL},
    {"timeout_seconds", QZ_SPEC_NEUTRAL, 0, NULL, NULL},
    {"connect_timeout_seconds", QZ_SPEC_NEUTRAL, 0, NULL, NULL},
    {"retries", QZ_SPEC_NEUTRAL, 0, NULL, NULL},
    {"backoff_seconds", QZ_SPEC_NEUTRAL, 0, NULL, NULL},
    {"backoff_max_seconds", QZ_SPEC_NEUTRAL, 0, NULL, NULL},
    {"max_response_bytes", QZ_SPEC_NEUTRAL, 0, NULL, NULL},
    {"api_key_env", QZ_SPEC_NEUTRAL, 0, NULL, NULL},
    {"api_key_file", QZ_SPEC_NEUTRAL, 0, NULL, NULL},
    {NULL, QZ_SPEC_NEUTRAL, 0, NULL, NULL},
};

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
        (rc = qz_jv_uint(at, spec, "max_response_bytes", 0, QZ_HTTP_RESPONSE_MAX_DEFAULT, 1,
                         QZ_HTTP_RESPONSE_MAX, &s->max_response_bytes, err)) ||
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
        .max_response_bytes = s->max_response_bytes,
        .servers = s->servers,
        .nservers = s->nservers,
        .outage = s->outage,
        .outage_wait_seconds = s->outage_wait_seconds,
    };
    return qz_http_open(out, &cfg, err);
}

void qz_http_settings_free(struct qz_http_settings *s)
{
    qz_secret_free(s->auth);
    s->auth = NULL;
}
