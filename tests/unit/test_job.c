/* Job validation: a table of bad jobs, each with the message it must give, and
 * good jobs with their resolved values. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "job.h"

#define GOOD_GEN "\"generator\": {\"kind\": \"normal\"}"

static const struct {
    const char *text;
    const char *message; /* the whole message qz_job_parse must give */
} bad[] = {
    {"{", "job.json: line 1: not valid JSON near \"\""},
    {"[1]", "job.json: (top level): must be a JSON object, got [1]"},
    /* issue 14: nothing after the job, no NUL in a string, one-line messages */
    {"{\"name\": \"a\", \"seed\": 1, \"q\": 0.1, \"samples\": 10, " GOOD_GEN "}\n {}",
     "job.json: line 2: text after the job (offset 84): only white space may follow it"},
    {"{\"name\": \"a\\u0000b\", \"seed\": 1, \"q\": 0.1, \"samples\": 10, " GOOD_GEN "}",
     "job.json: line 1: a string holds \\u0000 (offset 11): strings cannot hold NUL characters"},
    {"{\"name\": \"a\\u0085b\", \"seed\": 1, \"q\": 0.1, \"samples\": 10, " GOOD_GEN "}",
     "job.json: name: must not contain '/' or control characters, got \"a\\u0085b\""},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": 0.1,\n\n \"samples\": 10, " GOOD_GEN ", x\n}",
     "job.json: line 3: not valid JSON near \"\\n}\""},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": 0.1, \"samples\": 10, " GOOD_GEN ", \"a\\tb\": 1}",
     "job.json: a\\tb: unknown field (expected one of: name, description, seed, q, samples, "
     "samples_per_quantile, chunk_size, invalid, generator, utility, cost, output, tasks, "
     "checkpoint, confidence, metrics)"},
    {"{\"name\": \"a\", \"seed\": 9007199254740992, \"q\": 0.1, \"samples\": 10, " GOOD_GEN "}",
     "job.json: seed: must be below 2^53 = 9007199254740992 (larger JSON integers are not read "
     "exactly), got 9.00719925474099e+15"},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": 0.1, \"samples\": 10, \"sampels\": 3, " GOOD_GEN "}",
     "job.json: sampels: unknown field (expected one of: name, description, seed, q, samples, "
     "samples_per_quantile, chunk_size, invalid, generator, utility, cost, output, tasks, "
     "checkpoint, confidence, metrics)"},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": 0.1, \"samples\": 10, \"confidence\": 1, " GOOD_GEN "}",
     "job.json: confidence: must be in (0, 1), got 1"},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": 0.1, \"samples\": 10, \"confidence\": 0, " GOOD_GEN "}",
     "job.json: confidence: must be a number above 0, got 0"},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": 0.1, \"samples\": 10, " GOOD_GEN
     ", \"checkpoint\": {\"every_seconds\": -1}}",
     "job.json: checkpoint.every_seconds: must be a number of at least 0, got -1"},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": 0.1, \"samples\": 10, " GOOD_GEN
     ", \"checkpoint\": {\"path\": \"\"}}",
     "job.json: checkpoint.path: must not be empty, got \"\""},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": 0.1, \"samples\": 10, " GOOD_GEN
     ", \"checkpoint\": {\"every\": 5}}",
     "job.json: checkpoint.every: unknown field (expected one of: every_seconds, path)"},
    {"{\"seed\": 1, \"q\": 0.1, \"samples\": 10, " GOOD_GEN "}", "job.json: name: is required"},
    {"{\"name\": \"a/b\", \"seed\": 1, \"q\": 0.1, \"samples\": 10, " GOOD_GEN "}",
     "job.json: name: must not contain '/' or control characters, got \"a/b\""},
    {"{\"name\": \"\", \"seed\": 1, \"q\": 0.1, \"samples\": 10, " GOOD_GEN "}",
     "job.json: name: must be 1 to 200 characters, got \"\""},
    {"{\"name\": \"a\", \"seed\": -1, \"q\": 0.1, \"samples\": 10, " GOOD_GEN "}",
     "job.json: seed: must be an integer from 0 to 9007199254740991, got -1"},
    {"{\"name\": \"a\", \"seed\": \"7\", \"q\": 0.1, \"samples\": 10, " GOOD_GEN "}",
     "job.json: seed: must be an integer from 0 to 9007199254740991, got \"7\""},
    {"{\"name\": \"a\", \"seed\": 1, \"samples\": 10, " GOOD_GEN "}", "job.json: q: is required"},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": 0, \"samples\": 10, " GOOD_GEN "}",
     "job.json: q: must be in (0, 1], got 0"},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": 1.5, \"samples\": 10, " GOOD_GEN "}",
     "job.json: q: must be in (0, 1], got 1.5"},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": \"small\", \"samples\": 10, " GOOD_GEN "}",
     "job.json: q: must be a number in (0, 1] or a list of them, got \"small\""},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": [], \"samples\": 10, " GOOD_GEN "}",
     "job.json: q: a list of q must hold 1 to 256 numbers, got []"},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": [0.1, 0.01, 0.1], \"samples\": 10, " GOOD_GEN "}",
     "job.json: q: lists q = 0.1 twice, got 0.1"},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": [0.1, 0], \"samples\": 10, " GOOD_GEN "}",
     "job.json: q: every q must be a number in (0, 1], got 0"},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": 0.1, " GOOD_GEN "}",
     "job.json: samples: is required (or give samples_per_quantile)"},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": 0.1, \"samples\": 10, \"samples_per_quantile\": "
     "5, " GOOD_GEN "}",
     "job.json: samples_per_quantile: give either samples or samples_per_quantile, not both, "
     "got 5"},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": 0.1, \"samples\": 2.5, " GOOD_GEN "}",
     "job.json: samples: must be an integer from 1 to 9007199254740991, got 2.5"},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": 0.1, \"samples\": 0, " GOOD_GEN "}",
     "job.json: samples: must be an integer from 1 to 9007199254740991, got 0"},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": 1e-20, \"samples_per_quantile\": 1000, " GOOD_GEN "}",
     "job.json: samples_per_quantile: gives N = 1000 / q = 1e+23 samples, more than 2^53, got "
     "1000"},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": 0.1, \"samples\": 10, \"invalid\": \"drop\", " GOOD_GEN
     "}",
     "job.json: invalid: must be one of \"error\", \"exclude\", got \"drop\""},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": 0.1, \"samples\": 10, \"chunk_size\": 0, " GOOD_GEN "}",
     "job.json: chunk_size: must be an integer from 1 to 16777216, got 0"},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": 0.1, \"samples\": 10}",
     "job.json: generator: is required"},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": 0.1, \"samples\": 10, \"generator\": \"normal\"}",
     "job.json: generator: must be a JSON object, got \"normal\""},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": 0.1, \"samples\": 10, \"generator\": {}}",
     "job.json: generator.kind: is required"},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": 0.1, \"samples\": 10, \"generator\": {\"kind\": "
     "\"gauss\"}}",
     "job.json: generator.kind: must be one of \"uniform\", \"normal\", \"lognormal\", "
     "\"pareto\", \"discrete_uniform\", \"fail\", \"mixture\", \"openai\", \"exec\", \"plugin\", "
     "got \"gauss\""},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": 0.1, \"samples\": 10, \"generator\": {\"kind\": "
     "\"normal\", \"stdev\": 2}}",
     "job.json: generator.stdev: unknown field (expected one of: kind, mean, stddev)"},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": 0.1, \"samples\": 10, \"generator\": {\"kind\": "
     "\"normal\", \"stddev\": -1}}",
     "job.json: generator.stddev: must be a positive number, got -1"},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": 0.1, \"samples\": 10, \"generator\": {\"kind\": "
     "\"uniform\", \"low\": 2, \"high\": 1}}",
     "job.json: generator.high: must be greater than low (2), got 1"},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": 0.1, \"samples\": 10, \"generator\": {\"kind\": "
     "\"pareto\"}}",
     "job.json: generator.shape: is required"},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": 0.1, \"samples\": 10, \"generator\": {\"kind\": "
     "\"discrete_uniform\", \"low\": 0.5, \"high\": 3}}",
     "job.json: generator.low: must be an integer with absolute value below 2^31, got 0.5"},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": 0.1, \"samples\": 10, \"generator\": {\"kind\": "
     "\"mixture\", \"components\": []}}",
     "job.json: generator.components: must be an array of 1 to 64 components, got []"},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": 0.1, \"samples\": 10, \"generator\": {\"kind\": "
     "\"mixture\", \"components\": [{\"weight\": 1, \"generator\": {\"kind\": \"normal\"}}, "
     "{\"weight\": 0, \"generator\": {\"kind\": \"normal\"}}]}}",
     "job.json: generator.components[1].weight: must be a positive number, got 0"},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": 0.1, \"samples\": 10, \"generator\": {\"kind\": "
     "\"mixture\", \"components\": [{\"weight\": 1, \"generator\": {\"kind\": \"normal\", "
     "\"stddev\": \"ten\"}}]}}",
     "job.json: generator.components[0].generator.stddev: must be a finite number, got \"ten\""},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": 0.1, \"samples\": 10, \"generator\": {\"kind\": "
     "\"mixture\", \"components\": [{\"weight\": 1, \"generator\": {\"kind\": \"mixture\"}}]}}",
     "job.json: generator.components[0].generator.kind: a mixture cannot be a component of a "
     "mixture, got \"mixture\""},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": 0.1, \"samples\": 10, " GOOD_GEN
     ", \"utility\": {\"kind\": \"length\"}}",
     "job.json: utility.kind: \"length\" scores text, but generator \"normal\" draws numbers"},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": 0.1, \"samples\": 10, " GOOD_GEN
     ", \"utility\": {\"kind\": \"score\"}}",
     "job.json: utility.kind: must be one of \"value\", \"component\", \"length\", \"regex\", "
     "\"logprob_mean\", \"logprob_sum\", \"exec\", \"plugin\", \"http\", \"exact_match\", "
     "\"contains\", \"regex_match\", got \"score\""},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": 0.1, \"samples\": 10, " GOOD_GEN
     ", \"utility\": {\"kind\": \"regex\", \"pattern\": \"(\"}}",
     "job.json: utility.pattern: is not a valid POSIX extended regular expression (Unmatched ( or "
     "\\(), "
     "got \"(\""},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": 0.1, \"samples\": 10, " GOOD_GEN
     ", \"cost\": {\"kind\": \"component\", \"scale\": 2}}",
     "job.json: cost.scale: unknown field (expected one of: kind)"},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": 0.1, \"samples\": 10, " GOOD_GEN
     ", \"output\": {\"path\": \"\"}}",
     "job.json: output.path: must not be empty, got \"\""},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": 0.1, \"samples\": 10, " GOOD_GEN
     ", \"output\": {\"top\": \"yes\"}}",
     "job.json: output.top: must be true or false, got \"yes\""},
    {"{\"name\": \"a\", \"seed\": 1, \"q\": 0.1, \"samples\": 10, " GOOD_GEN
     ", \"output\": {\"top_gather_limit\": 0}}",
     "job.json: output.top_gather_limit: must be an integer from 1 to 9007199254740991, got 0"},
    {"{\"name\": \"a\", \"name\": \"b\", \"seed\": 1, \"q\": 0.1, \"samples\": 10, " GOOD_GEN "}",
     "job.json: name: field given more than once"},
};

int main(void)
{
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct qz_job job;
        struct qz_error err = {QZ_OK, ""};
        enum qz_status rc = qz_job_parse(bad[i].text, "job.json", &job, &err);
        CHECK(rc == QZ_EJOB, "bad job %zu: status %d", i, (int)rc);
        CHECK(strcmp(err.msg, bad[i].message) == 0, "bad job %zu:\n  got  %s\n  want %s", i,
              err.msg, bad[i].message);
        if (rc == QZ_OK)
            qz_job_free(&job);
    }

    /* An escaped backslash before "u0000" is no NUL: the name is a\u0000b, 8 characters. */
    {
        struct qz_job job;
        struct qz_error err = {QZ_OK, ""};
        enum qz_status rc = qz_job_parse("{\"name\": \"a\\\\u0000b\", \"seed\": 1, \"q\": 0.1, "
                                         "\"samples\": 10, " GOOD_GEN "}",
                                         "job.json", &job, &err);
        CHECK(rc == QZ_OK && strcmp(job.name, "a\\u0000b") == 0, "escaped backslash: %s", err.msg);
        if (rc == QZ_OK)
            qz_job_free(&job);
    }

    /* Good jobs: defaults and the resolution of samples_per_quantile. */
    {
        struct qz_job job;
        struct qz_error err = {QZ_OK, ""};
        enum qz_status rc = qz_job_parse(
            "{\"name\": \"demo\", \"seed\": 42, \"q\": 1e-6, \"samples_per_quantile\": 100, "
            "\"generator\": {\"kind\": \"mixture\", \"components\": ["
            "{\"weight\": 0.9999, \"generator\": {\"kind\": \"normal\"}},"
            "{\"weight\": 0.0001, \"cost\": 1, \"generator\": {\"kind\": \"normal\", \"mean\": "
            "3}}]}, \"cost\": {\"kind\": \"component\"}, \"output\": {\"path\": \"x.h5\"}}",
            "good.json", &job, &err);
        CHECK(rc == QZ_OK, "good job: %s", err.msg);
        if (rc == QZ_OK) {
            CHECK(job.samples == 100000000, "N = 100 / 1e-6 = %llu",
                  (unsigned long long)job.samples);
            CHECK(job.seed == 42 && job.chunk_size == QZ_CHUNK_DEFAULT &&
                      job.invalid == QZ_INVALID_ERROR && strcmp(job.name, "demo") == 0,
                  "defaults");
            CHECK(job.cost.ops != NULL && job.utility.ops != NULL, "scorers open");
            CHECK(job.output_path && strcmp(job.output_path, "x.h5") == 0, "output.path");
            CHECK(job.output_top == 1 && job.top_gather_limit == 1000000, "output defaults");
            CHECK(qz_gen_has_component_cost(&job.gen), "mixture with a cost");
            qz_job_free(&job);
        }
    }
    {
        struct qz_job job;
        struct qz_error err = {QZ_OK, ""};
        CHECK(qz_job_load("/nonexistent/job.json", &job, &err) == QZ_EJOB &&
                  strstr(err.msg, "/nonexistent/job.json: cannot open job file") == err.msg,
              "missing file: %s", err.msg);
    }
    {
        /* A job file that is not UTF-8 is refused with its line (a name in Latin-1). */
        char path[] = "/tmp/qz_test_job_XXXXXX";
        const char text[] =
            "{\"name\": \"demo\",\n \"description\": \"caf\xe9\",\n"
            " \"q\": 0.1, \"samples\": 10, \"generator\": {\"kind\": \"normal\"}}\n";
        int fd = mkstemp(path);
        struct qz_job job;
        struct qz_error err = {QZ_OK, ""};
        char want[128];

        CHECK(fd >= 0 && write(fd, text, sizeof text - 1) == (ssize_t)(sizeof text - 1), "write %s",
              path);
        if (fd >= 0)
            close(fd);
        snprintf(want, sizeof want, "%s:2: not valid UTF-8 (byte 0xe9 at offset 37)", path);
        CHECK(qz_job_load(path, &job, &err) == QZ_EJOB && strcmp(err.msg, want) == 0,
              "invalid UTF-8: %s", err.msg);
        remove(path);
    }
    return check_done("test_job");
}
