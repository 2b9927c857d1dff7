/* The HTTP settings parser shared by the openai generator and the http scorer: the
 * defaults, the limits with their messages (the field path of the backend), and the
 * key header; and that both backends give the same messages. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "generator.h"
#include "http_settings.h"
#include "scorer.h"

static enum qz_status parse(const char *json, const char *path, uint64_t conc,
                            struct qz_http_settings *s, struct qz_error *err)
{
    struct qz_jv at = {.file = "job.json"};
    cJSON *spec = cJSON_Parse(json);
    enum qz_status rc;

    snprintf(at.path, sizeof at.path, "%s", path);
    rc = qz_http_settings_parse(&at, spec, conc, s, err);
    cJSON_Delete(spec);
    return rc;
}

static void test_defaults(void)
{
    struct qz_http_settings s;
    struct qz_error err = {QZ_OK, ""};
    struct qz_http_client *c = NULL;

    CHECK(parse("{}", "generator", 8, &s, &err) == QZ_OK, "{}: %s", err.msg);
    CHECK(s.concurrency == 8 && s.timeout_seconds == 60 && s.connect_timeout_seconds == 10 &&
              s.retries == 5 && s.backoff_seconds == 0.5 && s.backoff_max_seconds == 30 &&
              s.auth == NULL,
          "defaults: %llu %g %g %u %g %g %p", (unsigned long long)s.concurrency, s.timeout_seconds,
          s.connect_timeout_seconds, s.retries, s.backoff_seconds, s.backoff_max_seconds,
          (void *)s.auth);
    CHECK(qz_http_settings_open(&s, "generator", 1, &c, &err) == QZ_OK && c, "open: %s", err.msg);
    qz_http_close(c);
    qz_http_settings_free(&s);

    CHECK(parse("{\"concurrency\": 3, \"timeout_seconds\": 2.5, \"connect_timeout_seconds\": 1, "
                "\"retries\": 0, \"backoff_seconds\": 0, \"backoff_max_seconds\": 86400}",
                "utility", 4, &s, &err) == QZ_OK,
          "given: %s", err.msg);
    CHECK(s.concurrency == 3 && s.timeout_seconds == 2.5 && s.connect_timeout_seconds == 1 &&
              s.retries == 0 && s.backoff_seconds == 0 && s.backoff_max_seconds == 86400,
          "given values not kept");
    qz_http_settings_free(&s);
    CHECK(parse("{\"max_response_bytes\": 1000}", "utility", 4, &s, &err) == QZ_OK &&
              s.max_response_bytes == 1000,
          "max_response_bytes: %s", err.msg);
    qz_http_settings_free(&s);
    CHECK(parse("{}", "utility", 4, &s, &err) == QZ_OK && s.concurrency == 4 &&
              s.max_response_bytes == (uint64_t)16 << 20,
          "the backend's default concurrency, 16 MiB answers");
    qz_http_settings_free(&s);

    setenv("QZ_TEST_HTTP_SETTINGS_KEY", "  sk-test  ", 1);
    CHECK(parse("{\"api_key_env\": \"QZ_TEST_HTTP_SETTINGS_KEY\"}", "cost", 4, &s, &err) == QZ_OK,
          "key: %s", err.msg);
    CHECK(s.auth && strcmp(s.auth, "Authorization: Bearer sk-test") == 0, "key header %s",
          s.auth ? "differs" : "missing");
    qz_http_settings_free(&s);
    CHECK(s.auth == NULL, "freed header still set");
}

/* Each bad setting, with the message the generator gives; the scorer's is the same
 * with its own path. */
static const struct {
    const char *fields;
    const char *problem;
} bad[] = {
    {"\"concurrency\": 1025", "concurrency: must be an integer from 1 to 1024, got 1025"},
    {"\"timeout_seconds\": 0", "timeout_seconds: must be a number above 0, got 0"},
    {"\"connect_timeout_seconds\": 86401",
     "connect_timeout_seconds: must be a number of at most 86400, got 86401"},
    {"\"retries\": 101", "retries: must be an integer from 0 to 100, got 101"},
    {"\"backoff_seconds\": -1", "backoff_seconds: must be a number of at least 0, got -1"},
    {"\"backoff_max_seconds\": \"x\"", "backoff_max_seconds: must be a finite number, got \"x\""},
    {"\"api_key_env\": \"QZ_TEST_SURELY_UNSET_VAR\"",
     "api_key_env: the environment variable is not set, got \"QZ_TEST_SURELY_UNSET_VAR\""},
    /* a key pasted in place of a variable name is never quoted back */
    {"\"api_key_env\": \"sk-proj-PASTEDKEY123\"",
     "api_key_env: must be the name of an environment variable ([A-Za-z_][A-Za-z0-9_]*), got a "
     "value that is not (not shown: it may be a key)"},
    {"\"api_key_env\": \"PASTEDKEYabcdefghijklmnopqrstuvwxyz0123456789\"",
     "api_key_env: the environment variable is not set (its 45-character name is not shown: it "
     "may be a key)"},
    {"\"max_response_bytes\": 0", "max_response_bytes: must be an integer from 1 to "
                                  "1099511627776, got 0"},
};

static void test_bad(void)
{
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *kinds[] = {
            "\"kind\": \"openai\", \"base_url\": \"http://127.0.0.1:9/v1\", \"model\": \"m\", "
            "\"prompt\": \"p\", \"probe\": false",
            "\"kind\": \"http\", \"url\": \"http://127.0.0.1:9/score\", \"preset\": \"openrlhf\""};
        const char *paths[] = {"generator", "utility"};
        for (int k = 0; k < 2; k++) {
            struct qz_jv at = {.file = "job.json"};
            struct qz_error err = {QZ_OK, ""}, direct = {QZ_OK, ""};
            struct qz_http_settings s;
            char json[512], want[512];
            cJSON *spec;
            enum qz_status rc;

            snprintf(at.path, sizeof at.path, "%s", paths[k]);
            snprintf(json, sizeof json, "{%s, %s}", kinds[k], bad[i].fields);
            snprintf(want, sizeof want, "job.json: %s.%s", paths[k], bad[i].problem);
            spec = cJSON_Parse(json);
            if (k == 0) {
                struct qz_gen gen;
                rc = qz_gen_open(&gen, spec, &at, 1, &err);
                if (rc == QZ_OK)
                    qz_gen_close(&gen);
            } else {
                struct qz_score sc;
                rc = qz_score_open(&sc, spec, &at, &err);
                if (rc == QZ_OK)
                    qz_score_close(&sc);
            }
            CHECK(rc == QZ_EJOB && strcmp(err.msg, want) == 0, "%s: got %d \"%s\", want \"%s\"",
                  json, rc, err.msg, want);
            rc = qz_http_settings_parse(&at, spec, 4, &s, &direct);
            CHECK(rc == QZ_EJOB && strcmp(direct.msg, want) == 0, "parse %s: got \"%s\"", json,
                  direct.msg);
            cJSON_Delete(spec);
        }
    }
}

/* URLs: http or https with a host and no fragment; a query only where allowed. */
static void test_url(void)
{
    static const struct {
        const char *json;
        int query;
        const char *want; /* the copy, or NULL: refused */
    } cases[] = {
        {"{\"url\": \"http://127.0.0.1:8000/v1/\"}", 0, "http://127.0.0.1:8000/v1/"},
        {"{\"url\": \"https://example.org/score?x=1\"}", 1, "https://example.org/score?x=1"},
        {"{\"url\": \"https://example.org/score?x=1\"}", 0, NULL},
        {"{\"url\": \"http://example.org/a#b\"}", 1, NULL},
        {"{\"url\": \"ftp://example.org/\"}", 1, NULL},
        {"{\"url\": \"http://\"}", 1, NULL},
        {"{\"url\": 5}", 1, NULL},
    };

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct qz_jv at = {.file = "job.json", .path = "utility"};
        struct qz_error err = {QZ_OK, ""};
        cJSON *spec = cJSON_Parse(cases[i].json);
        char *url = NULL;
        enum qz_status rc =
            qz_http_url_parse(&at, spec, "url", cases[i].query, "http://h/x", &url, &err);
        if (cases[i].want)
            CHECK(rc == QZ_OK && url && strcmp(url, cases[i].want) == 0, "%s: %s", cases[i].json,
                  rc ? err.msg : url);
        else
            CHECK(rc == QZ_EJOB && strncmp(err.msg, "job.json: utility.url: must be", 30) == 0,
                  "%s: %d %s", cases[i].json, rc, err.msg);
        free(url);
        cJSON_Delete(spec);
    }
    {
        struct qz_jv at = {.file = "job.json", .path = "utility"};
        struct qz_error err = {QZ_OK, ""};
        cJSON *spec = cJSON_Parse("{\"url\": \"gopher://x\"}");
        char *url = NULL;
        const char *want = "job.json: utility.url: must be an http:// or https:// URL with a host, "
                           "such as \"http://h/x\", got \"gopher://x\"";
        CHECK(qz_http_url_parse(&at, spec, "url", 1, "http://h/x", &url, &err) == QZ_EJOB &&
                  strcmp(err.msg, want) == 0,
              "message %s", err.msg);
        cJSON_Delete(spec);
    }
}

int main(void)
{
    test_defaults();
    test_url();
    test_bad();
    return check_done("test_http_settings");
}
