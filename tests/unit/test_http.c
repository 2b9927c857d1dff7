/* The pure parts of the HTTP layer and the "openai" generator, without a network:
 * Retry-After parsing, the backoff schedule, which failures are transient, error-body
 * summaries, the request split and seeds, answer parsing, and open()'s validation.
 *
 * gen_openai.c is included so its file-local helpers can be tested; its one exported
 * symbol (qz_gen_openai_ops) then comes from this object, not from the library. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "check.h"
#include "gen_openai.c"
#include "http.h"

#define T0 ((time_t)1445412480) /* Wed, 21 Oct 2015 07:28:00 GMT */

static void test_retry_after(void)
{
    static const struct {
        const char *ra, *ms;
        int found;
        double seconds;
    } cases[] = {
        {"120", NULL, 1, 120},
        {" 3 ", NULL, 1, 3},
        {"0", NULL, 1, 0},
        {"1.5", NULL, 1, 1.5},
        {"Wed, 21 Oct 2015 07:28:30 GMT", NULL, 1, 30},
        {"Wednesday, 21-Oct-15 07:29:00 GMT", NULL, 1, 60},
        {"Wed Oct 21 07:28:10 2015", NULL, 1, 10},
        {"Tue, 20 Oct 2015 07:28:00 GMT", NULL, 1, 0}, /* in the past */
        {NULL, "1500", 1, 1.5},
        {"10", "250", 1, 0.25}, /* retry-after-ms first */
        {"10", "soon", 1, 10},  /* a bad retry-after-ms falls back */
        {NULL, " 20.5 ", 1, 0.0205},
        {"-1", NULL, 0, 0},
        {"soon", NULL, 0, 0},
        {"", NULL, 0, 0},
        {"12abc", NULL, 0, 0},
        {NULL, "-5", 0, 0},
        {NULL, "nan", 0, 0},
        {NULL, NULL, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double s = -1;
        int found = qz_http_retry_after(cases[i].ra, cases[i].ms, T0, &s);
        CHECK(found == cases[i].found, "retry-after \"%s\" / ms \"%s\": found %d",
              cases[i].ra ? cases[i].ra : "(none)", cases[i].ms ? cases[i].ms : "(none)", found);
        if (found && cases[i].found)
            CHECK(fabs(s - cases[i].seconds) < 1e-9, "retry-after \"%s\" / ms \"%s\": %g s",
                  cases[i].ra ? cases[i].ra : "(none)", cases[i].ms ? cases[i].ms : "(none)", s);
    }
}

static void test_backoff(void)
{
    const double us[] = {0.0, 0.25, 0.5, 0.999999};
    for (size_t k = 0; k < sizeof us / sizeof us[0]; k++) {
        double prev = 0;
        for (unsigned a = 0; a < 40; a++) {
            double base = fmin(0.5 * pow(2, a), 30);
            double d = qz_http_backoff(0.5, 30, a, us[k]);
            CHECK(d >= 0.5 * base && d < 1.5 * base, "attempt %u, u %g: %g not in [%g, %g)", a,
                  us[k], d, 0.5 * base, 1.5 * base);
            CHECK(d >= prev, "attempt %u, u %g: %g shorter than the attempt before (%g)", a, us[k],
                  d, prev);
            CHECK(d < 45, "attempt %u: %g above 1.5 x backoff_max", a, d);
            prev = d;
        }
    }
    CHECK(qz_http_backoff(0.5, 30, 0, 0.5) == 0.5, "first retry at u = 0.5");
    CHECK(qz_http_backoff(0.5, 30, 3, 0.5) == 4.0, "fourth retry at u = 0.5");
    CHECK(qz_http_backoff(0.5, 30, 1000000, 0.5) == 30.0, "huge attempt: capped");
    CHECK(qz_http_backoff(0, 30, 7, 0.9) == 0.0, "backoff 0: no wait");
    CHECK(qz_http_backoff(2, 1, 0, 0) == 0.5, "backoff above max: capped");
}

static void test_transient(void)
{
    const long yes[] = {408, 409, 429, 500, 502, 503, 504, 599};
    const long no[] = {200, 201, 301, 307, 400, 401, 403, 404, 413, 422, 600};
    const int cyes[] = {CURLE_COULDNT_CONNECT, CURLE_OPERATION_TIMEDOUT,  CURLE_PARTIAL_FILE,
                        CURLE_GOT_NOTHING,     CURLE_RECV_ERROR,          CURLE_SEND_ERROR,
                        CURLE_HTTP2_STREAM,    CURLE_COULDNT_RESOLVE_HOST};
    const int cno[] = {CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL,
                       CURLE_PEER_FAILED_VERIFICATION, CURLE_OUT_OF_MEMORY, CURLE_WRITE_ERROR};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        CHECK(qz_http_transient_status(yes[i]), "HTTP %ld should be retried", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        CHECK(!qz_http_transient_status(no[i]), "HTTP %ld should not be retried", no[i]);
    for (size_t i = 0; i < sizeof cyes / sizeof cyes[0]; i++)
        CHECK(qz_http_transient_curl(cyes[i]), "curl %d should be retried", cyes[i]);
    for (size_t i = 0; i < sizeof cno / sizeof cno[0]; i++)
        CHECK(!qz_http_transient_curl(cno[i]), "curl %d should not be retried", cno[i]);
}

static void check_summary(const char *body, const char *want)
{
    char out[QZ_HTTP_SUMMARY_MAX + 16];
    qz_http_error_summary(body, strlen(body), out, sizeof out);
    CHECK(strcmp(out, want) == 0, "summary of %.40s: got \"%s\", want \"%s\"", body, out, want);
}

static void test_summary(void)
{
    char body[400], want[400];

    check_summary("{\"error\": {\"message\": \"n must be at most 16\", \"code\": 400}}",
                  "n must be at most 16");
    check_summary("{\"error\": \"model not loaded\"}", "model not loaded");
    check_summary("{\"detail\": \"Not Found\"}", "Not Found");
    check_summary("{\"object\": \"error\", \"message\": \"bad\"}", "bad");
    check_summary("Internal\nServer Error\n", "Internal Server Error");
    check_summary("", "(empty body)");
    check_summary("{\"error\": \"bad \\u001b[2Jthing\"}", "bad \\x1b[2Jthing");
    check_summary("no auth: Bearer sk-abc123", "no auth: Bearer [hidden]");
    {
        char out[4 * QZ_HTTP_SUMMARY_MAX + 16];
        static const char echo[] = "{\"error\": \"key sk-SECRET-42 refused\"}";
        qz_http_error_summary_scrubbed(echo, sizeof echo - 1, "sk-SECRET-42", out, sizeof out);
        CHECK(strcmp(out, "key [hidden] refused") == 0, "scrubbed: %s", out);
    }
    memset(body, 'a', 300);
    body[300] = '\0';
    memset(want, 'a', 200);
    memcpy(want + 200, "...", 4);
    check_summary(body, want);
    /* a 2-byte character across the 200-byte mark is left out whole */
    memset(body, 'b', 199);
    memcpy(body + 199, "\xc3\xa9tail", 7);
    memset(want, 'b', 199);
    memcpy(want + 199, "...", 4);
    for (int i = 0; i < 100; i++)
        body[206 + i] = 'x';
    body[306] = '\0';
    check_summary(body, want);
}

static void test_split_and_seed(void)
{
    /* draw(5, 20) with n = 8: [5, 8), [8, 16), [16, 24), [24, 25) */
    const uint64_t want[] = {8, 16, 24, 25};
    uint64_t start = 5, end = 25;
    size_t r = 0;
    for (uint64_t stop; start < end; start = stop, r++) {
        stop = request_end(start, end, 8);
        CHECK(r < 4 && stop == want[r], "request %zu ends at %llu", r, (unsigned long long)stop);
    }
    CHECK(r == 4, "%zu requests", r);
    CHECK(request_end(0, 2048, 128) == 128 && request_end(2047, 2048, 128) == 2048 &&
              request_end(100, 1000, 1) == 101,
          "request_end edge cases");

    for (uint64_t s = 0; s < 3; s++) {
        for (uint64_t i = 0; i < 1000; i += 37) {
            for (uint32_t size = 1; size <= 128; size *= 2) {
                uint32_t v = openai_request_seed(s, i, size);
                uint32_t ref =
                    (uint32_t)(qz_rng_word(s, OPENAI_SEED_STREAM, i) ^ size) & 0x7fffffffu;
                CHECK(v == ref && v <= 0x7fffffffu, "seed(%llu, %llu, %u) = %u",
                      (unsigned long long)s, (unsigned long long)i, size, v);
            }
        }
    }
    CHECK(openai_request_seed(1, 0, 8) != openai_request_seed(1, 8, 8), "seeds differ by start");
    CHECK(openai_request_seed(1, 0, 8) != openai_request_seed(1, 0, 7), "seeds differ by size");
    CHECK(openai_request_seed(1, 0, 8) != openai_request_seed(2, 0, 8), "seeds differ by seed");
    /* pinned (tests/tools/reference.py's Philox agrees): a change of the rule changes
     * every sample drawn through a server */
    CHECK(openai_request_seed(20261126, 0, 8) == 90011274u, "seed(20261126, 0, 8) = %u",
          openai_request_seed(20261126, 0, 8));
}

struct parsed {
    enum qz_status rc;
    uint32_t taken;
    uint64_t pt, ct;
    uint32_t kind;
    struct openai_choice ch[OPENAI_N_MAX];
    cJSON *root;
};

static void parse(const char *body, int chat, int logprobs, uint32_t size, struct parsed *p)
{
    char why[200];
    memset(p, 0, sizeof *p);
    p->rc = openai_parse(body, strlen(body), chat, logprobs, size, &p->root, p->ch, &p->taken,
                         &p->pt, &p->ct, &p->kind, why, sizeof why);
}

static void test_parse_completions(void)
{
    struct parsed p;

    parse("{\"choices\": [{\"index\": 1, \"text\": \"b\", \"logprobs\": {\"token_logprobs\": "
          "[-0.5, null, -0.25]}}, {\"index\": 0, \"text\": \"a\", \"logprobs\": "
          "{\"token_logprobs\": [-1]}}, {\"index\": 2, \"text\": \"\", \"logprobs\": "
          "{\"content\": []}}], \"usage\": "
          "{\"prompt_tokens\": 12, \"completion_tokens\": 7}}",
          0, 1, 3, &p);
    CHECK(p.rc == QZ_OK && p.taken == 3, "three choices out of order: rc %d, taken %u", p.rc,
          p.taken);
    if (p.rc == QZ_OK) {
        CHECK(strcmp(p.ch[0].text, "a") == 0 && strcmp(p.ch[1].text, "b") == 0 &&
                  strcmp(p.ch[2].text, "") == 0,
              "texts by index");
        CHECK(p.ch[0].logprob_sum == -1 && p.ch[0].tokens == 1, "choice 0 logprobs %g / %u",
              p.ch[0].logprob_sum, p.ch[0].tokens);
        CHECK(p.ch[1].logprob_sum == -0.75 && p.ch[1].tokens == 3,
              "choice 1 logprobs skip null: %g / %u", p.ch[1].logprob_sum, p.ch[1].tokens);
        CHECK(p.ch[2].logprob_sum == 0 && p.ch[2].tokens == 0, "choice 2 has no tokens");
        CHECK(p.pt == 12 && p.ct == 7, "usage %llu / %llu", (unsigned long long)p.pt,
              (unsigned long long)p.ct);
    }
    cJSON_Delete(p.root);

    /* llama.cpp's shape on completions: content[].logprob */
    parse("{\"choices\": [{\"index\": 0, \"text\": \"ab\", \"logprobs\": {\"content\": "
          "[{\"token\": \"a\", \"logprob\": -0.5}, {\"token\": \"b\", \"logprob\": -1.5}]}}]}",
          0, 1, 1, &p);
    CHECK(p.rc == QZ_OK && p.ch[0].logprob_sum == -2 && p.ch[0].tokens == 2,
          "content[] log-probs on completions: rc %d, %g / %u", p.rc, p.ch[0].logprob_sum,
          p.ch[0].tokens);
    cJSON_Delete(p.root);
    /* log-probs asked for and missing (null, absent, no list): the request failed */
    static const char *const no_lp[] = {
        "{\"choices\": [{\"index\": 0, \"text\": \"a\", \"logprobs\": null}]}",
        "{\"choices\": [{\"index\": 0, \"text\": \"a\"}]}",
        "{\"choices\": [{\"index\": 0, \"text\": \"a\", \"logprobs\": {\"tokens\": []}}]}",
        "{\"choices\": [{\"index\": 0, \"text\": \"a\", \"logprobs\": {\"token_logprobs\": "
        "[-1]}}, {\"index\": 1, \"text\": \"b\"}]}",
    };
    for (size_t i = 0; i < sizeof no_lp / sizeof no_lp[0]; i++) {
        parse(no_lp[i], 0, 1, 2, &p);
        CHECK(p.rc == QZ_EIO && p.kind == QZ_GEN_FAIL_NO_LOGPROBS && !p.root,
              "missing log-probs %zu: rc %d kind %u", i, p.rc, p.kind);
    }
    /* a NUL in a text: replaced by U+FFFD, not cut; an escaped backslash before u0000 is
     * not one */
    parse("{\"choices\": [{\"index\": 0, \"text\": \"a\\u0000b\"}, {\"index\": 1, \"text\": "
          "\"c\\\\u0000\"}]}",
          0, 0, 2, &p);
    CHECK(p.rc == QZ_OK && p.ch[0].had_nul && !p.ch[1].had_nul &&
              strcmp(p.ch[0].text, "a\xEF\xBF\xBD"
                                   "b") == 0 &&
              strcmp(p.ch[1].text, "c\\u0000") == 0,
          "NUL: rc %d, had_nul %d %d", p.rc, p.ch[0].had_nul, p.ch[1].had_nul);
    cJSON_Delete(p.root);
    parse("{\"choices\": [{\"index\": 0, \"text\": \"a\\u0000b\\uffff\"}]}", 0, 0, 1, &p);
    CHECK(p.rc == QZ_EIO && p.kind == QZ_GEN_FAIL_PROTOCOL, "NUL and U+FFFF: rc %d", p.rc);

    /* logprobs not requested: NaN even when the server sends them */
    parse("{\"choices\": [{\"index\": 0, \"text\": \"a\", \"logprobs\": {\"token_logprobs\": "
          "[-1]}}]}",
          0, 0, 1, &p);
    CHECK(p.rc == QZ_OK && isnan(p.ch[0].logprob_sum) && p.ch[0].tokens == 0 && p.pt == 0,
          "logprobs off");
    cJSON_Delete(p.root);

    /* fewer choices than asked: the leading run */
    parse("{\"choices\": [{\"index\": 0, \"text\": \"a\"}]}", 0, 0, 8, &p);
    CHECK(p.rc == QZ_OK && p.taken == 1, "one of eight: taken %u", p.taken);
    cJSON_Delete(p.root);
    parse("{\"choices\": [{\"index\": 0, \"text\": \"a\"}, {\"index\": 2, \"text\": \"c\"}]}", 0, 0,
          4, &p);
    CHECK(p.rc == QZ_OK && p.taken == 1, "a gap: only the leading run is taken, got %u", p.taken);
    cJSON_Delete(p.root);
    /* more than asked: the extra ignored */
    parse("{\"choices\": [{\"index\": 0, \"text\": \"a\"}, {\"index\": 1, \"text\": \"b\"}, "
          "{\"index\": 2, \"text\": \"c\"}]}",
          0, 0, 2, &p);
    CHECK(p.rc == QZ_OK && p.taken == 2, "three for two: taken %u", p.taken);
    cJSON_Delete(p.root);
    /* no index: position in the array */
    parse("{\"choices\": [{\"text\": \"a\"}, {\"text\": \"b\"}]}", 0, 0, 2, &p);
    CHECK(p.rc == QZ_OK && p.taken == 2 && strcmp(p.ch[1].text, "b") == 0, "positions as indices");
    cJSON_Delete(p.root);

    /* protocol errors and malformed answers: retried */
    static const char *const bad[] = {
        "",
        "not json",
        "{\"choices\": [{\"index\": 0, \"text\": \"a\"}",
        "[]",
        "{\"object\": \"text_completion\"}",
        "{\"choices\": []}",
        "{\"choices\": [{\"index\": 0, \"text\": \"a\"}, {\"index\": 0, \"text\": \"b\"}]}",
        "{\"choices\": [{\"index\": -1, \"text\": \"a\"}]}",
        "{\"choices\": [{\"index\": 0.5, \"text\": \"a\"}]}",
        "{\"choices\": [{\"index\": \"0\", \"text\": \"a\"}]}",
        "{\"choices\": [{\"index\": 0}]}",
        "{\"choices\": [{\"index\": 0, \"text\": null}]}",
        "{\"choices\": [{\"index\": 1, \"text\": \"b\"}]}",
        "{\"choices\": [{\"index\": 5, \"text\": \"b\"}]}",
        "{\"choices\": [\"a\"]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        parse(bad[i], 0, 0, 2, &p);
        CHECK(p.rc == QZ_EIO && !p.root, "bad answer %zu (%s) accepted", i, bad[i]);
    }
}

static void test_parse_chat(void)
{
    struct parsed p;

    parse("{\"choices\": [{\"index\": 0, \"message\": {\"role\": \"assistant\", \"content\": "
          "\"hi\"}, \"logprobs\": {\"content\": [{\"token\": \"h\", \"logprob\": -0.5, "
          "\"top_logprobs\": []}, {\"token\": \"i\", \"logprob\": -1.5}]}}, {\"index\": 1, "
          "\"message\": {\"role\": \"assistant\", \"content\": null}, \"logprobs\": "
          "{\"content\": []}}], \"usage\": "
          "{\"prompt_tokens\": 5, \"completion_tokens\": 2, \"total_tokens\": 7}}",
          1, 1, 2, &p);
    CHECK(p.rc == QZ_OK && p.taken == 2, "chat: rc %d, taken %u", p.rc, p.taken);
    if (p.rc == QZ_OK) {
        CHECK(strcmp(p.ch[0].text, "hi") == 0 && p.ch[0].logprob_sum == -2.0 && p.ch[0].tokens == 2,
              "chat choice 0: %s %g %u", p.ch[0].text, p.ch[0].logprob_sum, p.ch[0].tokens);
        CHECK(strcmp(p.ch[1].text, "") == 0 && p.ch[1].logprob_sum == 0 && p.ch[1].tokens == 0,
              "null content is an empty text");
        CHECK(p.pt == 5 && p.ct == 2, "chat usage");
    }
    cJSON_Delete(p.root);
    parse("{\"choices\": [{\"index\": 0, \"text\": \"a completion, not chat\"}]}", 1, 0, 1, &p);
    CHECK(p.rc == QZ_EIO, "chat answer without message");
    parse("{\"choices\": [{\"index\": 0, \"message\": {\"content\": 3}}]}", 1, 0, 1, &p);
    CHECK(p.rc == QZ_EIO, "chat content not a string");
}

/* open() with probe off: validation messages and the request body. */
static enum qz_status try_open(const char *json, struct qz_gen *gen, struct qz_error *err)
{
    struct qz_jv at = {"job.json", "generator"};
    cJSON *spec = cJSON_Parse(json);
    enum qz_status rc;
    if (!spec) {
        fprintf(stderr, "test JSON does not parse: %s\n", json);
        return QZ_EINTERNAL;
    }
    qz_error_clear(err);
    rc = qz_gen_open(gen, spec, &at, 42, err);
    cJSON_Delete(spec);
    return rc;
}

#define BASE "\"kind\": \"openai\", \"base_url\": \"http://127.0.0.1:9/v1\", \"model\": \"m\", "

static void test_open(void)
{
    static const struct {
        const char *json, *message;
    } bad[] = {
        {"{" BASE "\"prompt\": \"p\", \"probe\": false, \"max_tokens\": \"ten\"}",
         "job.json: generator.max_tokens: must be an integer from 1 to 1000000, got \"ten\""},
        {"{\"kind\": \"openai\", \"model\": \"m\", \"prompt\": \"p\"}",
         "job.json: generator.base_url: is required"},
        {"{\"kind\": \"openai\", \"base_url\": \"ftp://h/v1\", \"model\": \"m\", \"prompt\": "
         "\"p\"}",
         "job.json: generator.base_url: must be an http:// or https:// URL with a host, such as "
         "\"http://127.0.0.1:8000/v1\", got \"ftp://h/v1\""},
        {"{" BASE "\"probe\": false}", "job.json: generator.prompt: is required"},
        {"{" BASE "\"endpoint\": \"chat\", \"probe\": false}",
         "job.json: generator.prompt: is required (or give messages)"},
        {"{" BASE "\"prompt\": \"p\", \"messages\": [], \"probe\": false}",
         "job.json: generator.messages: only for \"endpoint\": \"chat\" (completions take a "
         "prompt)"},
        {"{" BASE "\"endpoint\": \"chat\", \"prompt\": \"p\", \"messages\": [{\"role\": \"user\", "
         "\"content\": \"x\"}], \"probe\": false}",
         "job.json: generator.messages: give prompt or messages, not both"},
        {"{" BASE "\"endpoint\": \"chat\", \"messages\": [{\"role\": \"user\"}], \"probe\": false}",
         "job.json: generator.messages[0].content: is required"},
        {"{" BASE "\"endpoint\": \"edit\", \"prompt\": \"p\"}",
         "job.json: generator.endpoint: must be one of \"completions\", \"chat\", got \"edit\""},
        {"{" BASE "\"prompt\": \"p\", \"top_k\": 0.5}",
         "job.json: generator.top_k: must be an integer from -1 to 1000000, got 0.5"},
        {"{" BASE "\"prompt\": \"p\", \"top_p\": 0}",
         "job.json: generator.top_p: must be a number above 0, got 0"},
        {"{" BASE "\"prompt\": \"p\", \"n\": 129}",
         "job.json: generator.n: must be an integer from 1 to 128, got 129"},
        {"{" BASE "\"prompt\": \"p\", \"concurrency\": 0}",
         "job.json: generator.concurrency: must be an integer from 1 to 1024, got 0"},
        {"{" BASE "\"prompt\": \"p\", \"stop\": \"\\n\"}",
         "job.json: generator.stop: must be an array of strings, got \"\\n\""},
        {"{" BASE "\"prompt\": \"p\", \"logprobs\": 1}",
         "job.json: generator.logprobs: must be true or false, got 1"},
        {"{" BASE "\"prompt\": \"p\", \"api_key_env\": \"QZ_TEST_SURELY_UNSET_VAR\"}",
         "job.json: generator.api_key_env: the environment variable is not set, got "
         "\"QZ_TEST_SURELY_UNSET_VAR\""},
        {"{" BASE "\"prompt\": \"p\", \"api_key_file\": \"/nonexistent/key\"}",
         "job.json: generator.api_key_file: cannot open the key file: No such file or directory, "
         "got \"/nonexistent/key\""},
        {"{" BASE "\"prompt\": \"p\", \"api_key_env\": \"HOME\", \"api_key_file\": \"/k\"}",
         "job.json: generator.api_key_file: give api_key_env or api_key_file, not both, got "
         "\"/k\""},
    };
    struct qz_gen gen;
    struct qz_error err;

    /* (jsonv cuts the list of expected fields at 256 bytes: compare the start) */
    {
        const char *want = "job.json: generator.temprature: unknown field (expected one of: "
                           "kind, base_url, endpoint, model, prompt, messages, max_tokens, ";
        enum qz_status rc = try_open("{" BASE "\"prompt\": \"p\", \"temprature\": 1}", &gen, &err);
        CHECK(rc == QZ_EJOB && strncmp(err.msg, want, strlen(want)) == 0, "unknown field: %s",
              err.msg);
        qz_gen_close(&gen);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        enum qz_status rc = try_open(bad[i].json, &gen, &err);
        CHECK(rc == QZ_EJOB && strcmp(err.msg, bad[i].message) == 0,
              "bad job %zu: rc %d, message\n  got:  %s\n  want: %s", i, rc, err.msg,
              bad[i].message);
        qz_gen_close(&gen);
    }
}

static void test_open_body(void)
{
    const char *secret = "sk-test-SECRET-0123456789";
    char path[] = "/tmp/qz_test_key_XXXXXX";
    char json[512];
    int fd = mkstemp(path);
    struct qz_gen gen;
    struct qz_error err;
    enum qz_status rc;
    char *d;

    CHECK(fd >= 0, "mkstemp");
    if (fd < 0)
        return;
    CHECK(write(fd, secret, strlen(secret)) == (ssize_t)strlen(secret) && write(fd, "\r\n", 2) == 2,
          "write key");
    close(fd);

    snprintf(json, sizeof json,
             "{" BASE "\"prompt\": \"Once\", \"probe\": false, \"api_key_file\": \"%s\"}", path);
    rc = try_open(json, &gen, &err);
    CHECK(rc == QZ_OK, "open with a key file: %s", err.msg);
    if (rc == QZ_OK) {
        CHECK(gen.ops->produces_text(gen.state) == 1, "produces text");
        CHECK(qz_gen_has_component_cost(&gen) == 0, "no component cost");
        d = gen.ops->describe(gen.state);
        CHECK(d && !strstr(d, "SECRET"), "describe leaks the key: %s", d ? d : "(null)");
        CHECK(d && strstr(d, "\"url\":\"http://127.0.0.1:9/v1/completions\"") &&
                  strstr(d, "\"model\":\"m\",\"prompt\":\"Once\",\"max_tokens\":64,"
                            "\"temperature\":1,\"top_p\":1,\"top_k\":-1,\"min_p\":0,"
                            "\"presence_penalty\":0,\"frequency_penalty\":0,\"stop\":[],\"n\":8,"
                            "\"logprobs\":null}"),
              "describe: %s", d ? d : "(null)");
        free(d);
        qz_gen_close(&gen);
    }
    unlink(path);

    rc = try_open("{" BASE "\"endpoint\": \"chat\", \"prompt\": \"Hi\", \"probe\": false, "
                  "\"logprobs\": true, \"n\": 3, \"stop\": [\"\\n\"], \"temperature\": 0.7}",
                  &gen, &err);
    CHECK(rc == QZ_OK, "open chat: %s", err.msg);
    if (rc == QZ_OK) {
        d = gen.ops->describe(gen.state);
        CHECK(d && strstr(d, "/v1/chat/completions\"") &&
                  strstr(d, "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
                            "\"max_tokens\":64,\"temperature\":0.7,") &&
                  strstr(d, "\"stop\":[\"\\n\"],\"n\":3,\"logprobs\":true,\"top_logprobs\":1}"),
              "describe chat: %s", d ? d : "(null)");
        free(d);
        qz_gen_close(&gen);
    }

    /* the probe: nothing listens on port 9 of the loopback */
    rc = try_open("{" BASE "\"prompt\": \"p\", \"connect_timeout_seconds\": 2}", &gen, &err);
    CHECK(rc == QZ_EIO && strncmp(err.msg,
                                  "job.json: generator.base_url: cannot reach "
                                  "http://127.0.0.1:9/v1/models: ",
                                  70) == 0,
          "probe of a closed port: rc %d, %s", rc, err.msg);
    qz_gen_close(&gen);
}

int main(void)
{
    test_retry_after();
    test_backoff();
    test_transient();
    test_summary();
    test_split_and_seed();
    test_parse_completions();
    test_parse_chat();
    test_open();
    test_open_body();
    return check_done("test_http");
}
