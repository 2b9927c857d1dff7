/* qz_job_hash: checkpoints on disk hold it, so its value for a job changes only with
 * the checkpoint format. The constants were computed by format 7's implementation,
 * which hashes a canonical form of the validated job (keys sorted, every backend's
 * defaults and the resolved values written out) and leaves out the fields that do not
 * change results (how servers and programs are reached, waited for, batched). */
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

/* Two jobs (a JSON object's members after {"seed": 7, "q": 0.1, "samples": 100, ...})
 * have the same hash, or (same == 0) different ones. */
static void compare(const char *a, const char *b, int same, const char *what)
{
    char ja[2048], jb[2048];
    uint64_t ha, hb;

    snprintf(ja, sizeof ja, "{\"name\": \"a\", \"seed\": 7, \"q\": 0.1, \"samples\": 100, %s}", a);
    snprintf(jb, sizeof jb, "{\"samples\": 100, %s, \"q\": 0.1, \"seed\": 7, \"name\": \"b\"}", b);
    ha = hash_of(ja, "job.json");
    hb = hash_of(jb, "job.json");
    CHECK(ha && hb && (ha == hb) == same, "%s: 0x%016" PRIx64 " vs 0x%016" PRIx64 " (want %s)",
          what, ha, hb, same ? "equal" : "different");
}

#define OPENAI "\"kind\": \"openai\", \"model\": \"m\", \"prompt\": \"x\", \"probe\": false"
#define URL "\"base_url\": \"http://127.0.0.1:9/v1\""
#define LEN ", \"utility\": {\"kind\": \"length\"}"
#define EXEC_CMD "\"command\": [\"cat\"]"

/* Every backend: its defaults omitted, written out, its keys reordered, its fields that
 * do not change results changed: the same job; a field that changes results changed:
 * another job. */
static void backends(void)
{
    /* openai */
    compare("\"generator\": {" OPENAI ", " URL "}" LEN,
            "\"generator\": {\"logprobs\": false, \"n\": 8, \"frequency_penalty\": 0, "
            "\"presence_penalty\": 0, \"min_p\": 0, \"top_k\": -1, \"top_p\": 1, "
            "\"temperature\": 1, \"max_tokens\": 64, \"endpoint\": \"completions\", " URL
            ", " OPENAI "}" LEN,
            1, "openai defaults written out");
    /* concurrency sets the default chunk_size (n x concurrency), which counts: with
     * chunk_size given, it does not. */
    compare("\"generator\": {" OPENAI ", " URL "}" LEN ", \"chunk_size\": 16",
            "\"chunk_size\": 16, \"generator\": {" OPENAI
            ", \"base_url\": [\"http://127.0.0.1:10/v1\"], "
            "\"concurrency\": 3, \"timeout_seconds\": 5, \"connect_timeout_seconds\": 2, "
            "\"retries\": 1, \"backoff_seconds\": 0.1, \"backoff_max_seconds\": 1, "
            "\"max_response_bytes\": 1000, \"on_server_down\": \"fail\", "
            "\"server_down_wait_seconds\": 10, \"price\": {\"prompt\": 1, "
            "\"completion\": 2}}" LEN,
            1, "openai transport fields");
    compare("\"generator\": {" OPENAI ", " URL "}" LEN,
            "\"generator\": {" OPENAI ", " URL ", \"concurrency\": 3}" LEN, 0,
            "openai concurrency without chunk_size");
    compare("\"generator\": {" OPENAI ", " URL "}" LEN,
            "\"generator\": {" OPENAI ", " URL ", \"temperature\": 0.7}" LEN, 0,
            "openai temperature");
    compare("\"generator\": {" OPENAI ", " URL "}" LEN,
            "\"generator\": {" OPENAI ", " URL ", \"n\": 4}" LEN, 0, "openai n");
    compare("\"generator\": {" OPENAI ", " URL "}" LEN,
            "\"generator\": {" OPENAI ", " URL ", \"max_tokens\": 65}" LEN, 0, "openai max_tokens");
    /* exec generator */
    compare("\"generator\": {\"kind\": \"exec\", " EXEC_CMD
            "}, \"utility\": {\"kind\": \"length\"}",
            "\"utility\": {\"kind\": \"length\"}, \"generator\": {\"timeout_seconds\": 3, "
            "\"max_response_bytes\": 4096, \"text\": true, " EXEC_CMD ", \"kind\": \"exec\"}",
            1, "exec generator defaults, transport");
    compare("\"generator\": {\"kind\": \"exec\", " EXEC_CMD "}, \"utility\": {\"kind\": "
            "\"exec\", " EXEC_CMD "}",
            "\"generator\": {\"kind\": \"exec\", \"text\": false, " EXEC_CMD "}, "
            "\"utility\": {\"kind\": \"exec\", " EXEC_CMD "}",
            0, "exec generator text");
    /* scorers: regex, exec, http */
    compare("\"generator\": {" OPENAI ", " URL "}, \"utility\": {\"kind\": \"regex\", "
            "\"pattern\": \"a\"}",
            "\"generator\": {" OPENAI ", " URL "}, \"utility\": {\"ignore_case\": false, "
            "\"pattern\": \"a\", \"kind\": \"regex\"}",
            1, "regex defaults");
    compare("\"generator\": {" OPENAI ", " URL "}, \"utility\": {\"kind\": \"regex\", "
            "\"pattern\": \"a\"}",
            "\"generator\": {" OPENAI ", " URL "}, \"utility\": {\"ignore_case\": true, "
            "\"pattern\": \"a\", \"kind\": \"regex\"}",
            0, "regex ignore_case");
    compare("\"generator\": {" OPENAI ", " URL "}, \"utility\": {\"kind\": \"exact_match\", "
            "\"reference\": \"4\"}",
            "\"generator\": {" OPENAI ", " URL "}, \"utility\": {\"whitespace\": \"collapse\", "
            "\"reference\": \"4\", \"case\": \"sensitive\", \"kind\": \"exact_match\"}",
            1, "exact_match defaults");
    compare("\"generator\": {" OPENAI ", " URL "}, \"utility\": {\"kind\": \"contains\", "
            "\"reference\": \"4\"}",
            "\"generator\": {" OPENAI ", " URL "}, \"utility\": {\"kind\": \"contains\", "
            "\"reference\": \"4\", \"case\": \"insensitive\"}",
            0, "contains case");
    compare("\"generator\": {\"kind\": \"normal\"}, \"cost\": {\"kind\": \"exec\", " EXEC_CMD "}",
            "\"generator\": {\"kind\": \"normal\"}, \"cost\": {\"field\": \"scores\", "
            "\"batch\": 7, \"timeout_seconds\": 9, " EXEC_CMD ", \"kind\": \"exec\"}",
            1, "exec scorer defaults, transport");
    compare("\"generator\": {\"kind\": \"normal\"}, \"cost\": {\"kind\": \"exec\", " EXEC_CMD "}",
            "\"generator\": {\"kind\": \"normal\"}, \"cost\": {\"kind\": \"exec\", "
            "\"field\": \"s\", " EXEC_CMD "}",
            0, "exec scorer field");
    compare("\"generator\": {" OPENAI ", " URL "}, \"utility\": {\"kind\": \"http\", "
            "\"preset\": \"vllm_classify\", \"model\": \"r\", \"url\": "
            "\"http://127.0.0.1:9/classify\"}",
            "\"generator\": {" OPENAI ", " URL "}, \"utility\": {\"class\": 1, \"batch\": 3, "
            "\"concurrency\": 2, \"retries\": 0, \"timeout_seconds\": 1, \"url\": "
            "\"http://127.0.0.1:10/classify\", \"model\": \"r\", \"preset\": "
            "\"vllm_classify\", \"kind\": \"http\"}",
            1, "http scorer defaults, transport");
    compare("\"generator\": {" OPENAI ", " URL "}, \"utility\": {\"kind\": \"http\", "
            "\"preset\": \"vllm_classify\", \"model\": \"r\", \"url\": "
            "\"http://127.0.0.1:9/classify\"}",
            "\"generator\": {" OPENAI ", " URL "}, \"utility\": {\"kind\": \"http\", "
            "\"preset\": \"vllm_classify\", \"model\": \"r\", \"class\": 0, \"url\": "
            "\"http://127.0.0.1:9/classify\"}",
            0, "http scorer class");
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

    backends();

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
    CHECK(h == 0x401b0812c5d65e05ULL, "tasks: hash 0x%016" PRIx64, h);
    /* How the servers are reached is not the job's identity (checkpoint format 5 on):
     * other servers, timeouts, retries; another model is another job. */
    h = hash_of("{\"name\": \"t\", \"seed\": 3, \"q\": 0.1, \"samples\": 100, \"tasks\": "
                "\"tasks.jsonl\", \"generator\": {\"kind\": \"openai\", \"base_url\": "
                "[\"http://127.0.0.1:10/v1\", \"http://{host}:11/v1\"], \"model\": \"m\", "
                "\"probe\": false, \"timeout_seconds\": 5, \"retries\": 9, \"prompt\": \"x\"}, "
                "\"utility\": {\"kind\": \"length\"}}",
                job_file);
    CHECK(h == 0x401b0812c5d65e05ULL, "tasks, other servers: hash 0x%016" PRIx64, h);
    h = hash_of("{\"name\": \"t\", \"seed\": 3, \"q\": 0.1, \"samples\": 100, \"tasks\": "
                "\"tasks.jsonl\", \"generator\": {\"kind\": \"openai\", \"base_url\": "
                "\"http://127.0.0.1:9/v1\", \"model\": \"m2\", \"probe\": false, \"prompt\": "
                "\"x\"}, \"utility\": {\"kind\": \"length\"}}",
                job_file);
    CHECK(h != 0x401b0812c5d65e05ULL, "tasks, another model: hash 0x%016" PRIx64, h);
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
        CHECK(seen[r] != 0 && seen[r] != 0x401b0812c5d65e05ULL, "reference %s: hash 0x%016" PRIx64,
              refs[r], seen[r]);
        for (int q = 0; q < r; q++)
            CHECK(seen[q] != seen[r], "references %s and %s: the same hash", refs[q], refs[r]);
    }
    unlink(tasks);
    rmdir(dir);
    return check_done("test_job_hash");
}
