/* The connection settings of every backend that talks to a server (the "openai"
 * generator, the "http" scorer), read from the backend's job object with one set of
 * defaults and limits (README "Text from a model server"):
 *
 *   concurrency              requests in flight, 1 .. QZ_HTTP_CONCURRENCY_MAX
 *                            (the default is the backend's)
 *   timeout_seconds          one attempt, above 0 up to QZ_HTTP_TIMEOUT_MAX, default 60
 *   connect_timeout_seconds  above 0 up to QZ_HTTP_TIMEOUT_MAX, default 10
 *   retries                  0 .. QZ_HTTP_RETRIES_MAX, default 5
 *   backoff_seconds          0 .. QZ_HTTP_TIMEOUT_MAX, default 0.5
 *   backoff_max_seconds      0 .. QZ_HTTP_TIMEOUT_MAX, default 30
 *   max_response_bytes       the largest answer body, decompressed, 1 ..
 *                            QZ_HTTP_RESPONSE_MAX, default 16 MiB
 *   api_key_env, api_key_file  the API key (apikey.h), sent only as a header
 *
 * A backend lists these names among its allowed fields itself (the order of its list
 * is the order its "unknown field" message shows). All calls are local. */
#ifndef QZ_HTTP_SETTINGS_H
#define QZ_HTTP_SETTINGS_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "error.h"
#include "generator.h"
#include "http.h"
#include "jsonv.h"

#define QZ_HTTP_TIMEOUT_MAX 86400.0 /* seconds: any timeout or backoff */
#define QZ_HTTP_RETRIES_MAX 100
#define QZ_HTTP_RESPONSE_MAX ((uint64_t)1 << 40) /* max_response_bytes: 1 TiB */

/* These fields (and the backend's base_url or url) say how a server is reached, not
 * what it answers: none counts for the job hash (a backend's canonical table includes
 * this one). */
extern const struct qz_spec_field qz_http_settings_canonical[];

struct qz_http_settings {
    uint64_t concurrency;
    double timeout_seconds, connect_timeout_seconds;
    unsigned retries;
    double backoff_seconds, backoff_max_seconds;
    uint64_t max_response_bytes;
    char *auth; /* "Authorization: Bearer KEY", or NULL without a key: a secret, owned */
    /* Set by the backend before qz_http_settings_open, not read from the job here
     * (qz_http_config): its servers (not owned) and what an outage does. */
    const char *const *servers;
    size_t nservers;
    enum qz_http_outage outage;
    double outage_wait_seconds;
};

/* `text`, the value of field `field` (the JSON item, or NULL) of the object named by
 * `at`: an http:// or https:// URL with a host, no fragment, unless `query` no query,
 * and no user name or password; else QZ_EJOB saying what it must be. */
enum qz_status qz_http_url_check(const struct qz_jv *at, const char *field, const cJSON *item,
                                 const char *text, int query, const char *example,
                                 struct qz_error *err);

/* The required string field `field` of spec: an http:// or https:// URL with a host,
 * no fragment, no user name or password and, unless `query`, no query, else QZ_EJOB saying it must
 * be such a URL "such as" `example`. *url is a malloc'd copy (caller frees). */
enum qz_status qz_http_url_parse(const struct qz_jv *at, const cJSON *spec, const char *field,
                                 int query, const char *example, char **url, struct qz_error *err);

/* Validate and read the settings of `spec` (the backend's object, named by `at`);
 * concurrency defaults to `concurrency_default`. On failure (QZ_EJOB naming the field,
 * QZ_ENOMEM) *s holds nothing to free. Free with qz_http_settings_free. */
enum qz_status qz_http_settings_parse(const struct qz_jv *at, const cJSON *spec,
                                      uint64_t concurrency_default, struct qz_http_settings *s,
                                      struct qz_error *err);

/* Open a client (qz_http_open) with these settings: `who` prefixes its messages (not
 * copied: it must outlive the client), `jitter_seed` seeds its backoff jitter. */
enum qz_status qz_http_settings_open(const struct qz_http_settings *s, const char *who,
                                     uint64_t jitter_seed, struct qz_http_client **out,
                                     struct qz_error *err);

/* Overwrite and free the key header. s may be zero-filled. */
void qz_http_settings_free(struct qz_http_settings *s);

#endif
