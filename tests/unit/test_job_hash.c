/* qz_job_hash: checkpoints on disk hold it, so its value for a job changes only with
 * the checkpoint format. The constants were computed by format 6's implementation,
 * which hashes a canonical form of the validated job (keys sorted, defaults and
 * resolved values written out) and leaves out how model servers are reached. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "job.h"

#define NORMAL "\"generator\": {\"kind\": \"normal\", \"mean\": 1, \"stddev\": 2}"

static uint64_t hash_of(const char *text, const char *file)
{
    struct qz_job job;
    struct qz_error err = {QZ_OK, ""};
    uint64_t h = 0;

    if (qz_job_parse(text, file, &job, &err) != QZ_OK) {
        CHECK(0, "%s", err.msg);
        return 0;
    }
    CHECK(qz_job_hash(&job, &h, &err) == QZ_OK, "%s", err.msg);
    qz_job_free(&job);
    return h;
}

int main(void)
{
    char dir[] = "/tmp/qz_test_job_hash.XXXXXX", tasks[64], job_file[64];
    FILE *f;
    uint64_t h;

    h = hash_of("{\"name\": \"h\", \"description\": \"d\", \"seed\": 7, \"q\": 0.01, \"samples\": "
                "1000, " NORMAL ", \"output\": {\"path\": \"x.h5\"}}",
                "job.json");
    CHECK(h == 0x48c8f8c49fa278deULL, "hash 0x%016" PRIx64, h);
    /* name, description, output and checkpoint do not change results */
    h = hash_of("{\"name\": \"other\", \"seed\": 7, \"q\": 0.01, \"samples\": 1000, " NORMAL "}",
                "job.json");
    CHECK(h == 0x48c8f8c49fa278deULL, "neutral fields: hash 0x%016" PRIx64, h);
    h = hash_of("{\"name\": \"h\", \"seed\": 8, \"q\": 0.01, \"samples\": 1000, " NORMAL "}",
                "job.json");
    CHECK(h == 0xa3f5f8eb0426a656ULL, "another seed: hash 0x%016" PRIx64, h);
    /* The same job with its keys in another order, at every depth. */
    h = hash_of("{\"samples\": 1000, \"generator\": {\"stddev\": 2, \"kind\": \"normal\", "
                "\"mean\": 1}, \"q\": 0.01, \"seed\": 7, \"name\": \"h\"}",
                "job.json");
    CHECK(h == 0x48c8f8c49fa278deULL, "keys reordered: hash 0x%016" PRIx64, h);
    /* ... and with its defaults written out, or its N given as samples_per_quantile. */
    h = hash_of("{\"name\": \"h\", \"seed\": 7, \"q\": 0.01, \"samples_per_quantile\": 10, "
                "\"chunk_size\": 65536, \"invalid\": \"error\", \"utility\": {\"kind\": "
                "\"value\"}, " NORMAL "}",
                "job.json");
    CHECK(h == 0x48c8f8c49fa278deULL, "defaults written out: hash 0x%016" PRIx64, h);
    h = hash_of("{\"name\": \"d\", \"seed\": 7, \"q\": 0.01, \"samples\": 1000, \"generator\": "
                "{\"kind\": \"mixture\", \"components\": [{\"weight\": 1, \"generator\": "
                "{\"kind\": \"normal\"}}]}}",
                "job.json");
    CHECK(h == hash_of("{\"name\": \"d\", \"seed\": 7, \"q\": 0.01, \"samples\": 1000, "
                       "\"generator\": {\"kind\": \"mixture\", \"components\": [{\"weight\": 1, "
                       "\"cost\": 0, \"generator\": {\"kind\": \"normal\", \"mean\": 0, "
                       "\"stddev\": 1}}]}}",
                       "job.json"),
          "mixture defaults written out: hash 0x%016" PRIx64, h);
    /* A field that changes results still changes the hash. */
    h = hash_of("{\"name\": \"h\", \"seed\": 7, \"q\": 0.01, \"samples\": 1000, "
                "\"invalid\": \"exclude\", " NORMAL "}",
                "job.json");
    CHECK(h != 0x48c8f8c49fa278deULL, "invalid: exclude: hash 0x%016" PRIx64, h);
    h = hash_of("{\"name\": \"h\", \"seed\": 7, \"q\": 0.01, \"samples\": 1000, "
                "\"chunk_size\": 1000, " NORMAL "}",
                "job.json");
    CHECK(h != 0x48c8f8c49fa278deULL, "another chunk_size: hash 0x%016" PRIx64, h);

    /* A job with tasks: every task's id and generator count. */
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return check_done("test_job_hash");
    }
    snprintf(tasks, sizeof tasks, "%s/tasks.jsonl", dir);
    snprintf(job_file, sizeof job_file, "%s/job.json", dir);
    if ((f = fopen(tasks, "w"))) {
        fputs("{\"id\": \"t1\", \"prompt\": \"Hello\"}\n{\"id\": \"t2\", \"prompt\": \"Hi\"}\n", f);
        fclose(f);
    }
    h = hash_of("{\"name\": \"t\", \"seed\": 3, \"q\": 0.1, \"samples\": 100, \"tasks\": "
                "\"tasks.jsonl\", \"generator\": {\"kind\": \"openai\", \"base_url\": "
                "\"http://127.0.0.1:9/v1\", \"model\": \"m\", \"probe\": false, \"prompt\": "
                "\"x\"}, \"utility\": {\"kind\": \"length\"}}",
                job_file);
    CHECK(h == 0x1d2288fe1d917f8cULL, "tasks: hash 0x%016" PRIx64, h);
    /* How the servers are reached is not the job's identity (checkpoint format 5 on):
     * other servers, timeouts, retries; another model is another job. */
    h = hash_of("{\"name\": \"t\", \"seed\": 3, \"q\": 0.1, \"samples\": 100, \"tasks\": "
                "\"tasks.jsonl\", \"generator\": {\"kind\": \"openai\", \"base_url\": "
                "[\"http://127.0.0.1:10/v1\", \"http://{host}:11/v1\"], \"model\": \"m\", "
                "\"probe\": false, \"timeout_seconds\": 5, \"retries\": 9, \"prompt\": \"x\"}, "
                "\"utility\": {\"kind\": \"length\"}}",
                job_file);
    CHECK(h == 0x1d2288fe1d917f8cULL, "tasks, other servers: hash 0x%016" PRIx64, h);
    h = hash_of("{\"name\": \"t\", \"seed\": 3, \"q\": 0.1, \"samples\": 100, \"tasks\": "
                "\"tasks.jsonl\", \"generator\": {\"kind\": \"openai\", \"base_url\": "
                "\"http://127.0.0.1:9/v1\", \"model\": \"m2\", \"probe\": false, \"prompt\": "
                "\"x\"}, \"utility\": {\"kind\": \"length\"}}",
                job_file);
    CHECK(h != 0x1d2288fe1d917f8cULL, "tasks, another model: hash 0x%016" PRIx64, h);
    /* A task's reference answer is part of the job: another reference, another job. */
    for (int r = 0; r < 3; r++) {
        static const char *const refs[] = {"\"4\"", "\"5\"", "[\"4\"]"};
        static uint64_t seen[3];
        if ((f = fopen(tasks, "w"))) {
            fprintf(f, "{\"id\": \"t1\", \"prompt\": \"Hello\", \"reference\": %s}\n", refs[r]);
            fputs("{\"id\": \"t2\", \"prompt\": \"Hi\"}\n", f);
            fclose(f);
        }
        seen[r] = hash_of("{\"name\": \"t\", \"seed\": 3, \"q\": 0.1, \"samples\": 100, "
                          "\"tasks\": \"tasks.jsonl\", \"generator\": {\"kind\": \"openai\", "
                          "\"base_url\": \"http://127.0.0.1:9/v1\", \"model\": \"m\", \"probe\": "
                          "false, \"prompt\": \"x\"}, \"utility\": {\"kind\": \"exact_match\", "
                          "\"reference\": \"x\"}}",
                          job_file);
        CHECK(seen[r] != 0 && seen[r] != 0x1d2288fe1d917f8cULL, "reference %s: hash 0x%016" PRIx64,
              refs[r], seen[r]);
        for (int q = 0; q < r; q++)
            CHECK(seen[q] != seen[r], "references %s and %s: the same hash", refs[q], refs[r]);
    }
    unlink(tasks);
    rmdir(dir);
    return check_done("test_job_hash");
}
