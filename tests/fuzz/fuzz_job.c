/* Fuzz target: the job parser and validator (qz_job_parse) on any bytes. Jobs that
 * would start a program, load a library, read a tasks file or reach a server (any
 * string "exec", "plugin", "http" or "openai", or a "tasks" member, anywhere) are
 * skipped: the fuzzer must not run what it invents. The same bytes are also read as a
 * tasks file (qz_tasks_load, its lines' references checked by a reference-answer
 * scorer) and scored as a text by the reference-answer scorers. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "job.h"
#include "scorer.h"
#include "tasks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int reaches_out(const cJSON *item)
{
    static const char *const kinds[] = {"exec", "plugin", "http", "openai"};
    for (; item; item = item->next) {
        if (item->string && strcmp(item->string, "tasks") == 0)
            return 1;
        if (cJSON_IsString(item))
            for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
                if (strcmp(item->valuestring, kinds[i]) == 0)
                    return 1;
        if (reaches_out(item->child))
            return 1;
    }
    return 0;
}

/* The bytes as a tasks file, in one temporary file rewritten for each input. */
static void tasks_file(const uint8_t *data, size_t size)
{
    static char path[] = "/tmp/qz-fuzz-tasks.XXXXXX";
    static int fd = -1;
    struct qz_jv at = {.file = "fuzz.json", .path = "tasks"}, uat = {.file = "fuzz.json"};
    struct qz_tasks t;
    struct qz_error err = {QZ_OK, ""};
    cJSON *spec = cJSON_Parse("{\"kind\": \"regex_match\", \"case\": \"insensitive\"}");

    if (fd < 0 && (fd = mkstemp(path)) >= 0)
        unlink(path); /* read through /proc/self/fd: nothing left behind */
    if (fd < 0 || !spec || ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size) {
        cJSON_Delete(spec);
        return;
    }
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    strcpy(uat.path, "utility");
    if (qz_tasks_load(&t, path, "fuzz.json", &at, &err) == QZ_OK) {
        qz_tasks_check_scorer(&t, spec, &uat, &err);
        qz_tasks_free(&t);
    }
    if (strchr(err.msg, '\n'))
        abort();
    cJSON_Delete(spec);
}

/* The bytes as a text, scored by each reference-answer scorer. */
static void match_text(const uint8_t *data, size_t size)
{
    static const char *const specs[] = {
        ("{\"kind\": \"exact_match\", \"reference\": [\"42\", \"a b\"], \"extract\": "
         "\"answer:? *([^.]*)\", \"case\": \"insensitive\"}"),
        "{\"kind\": \"contains\", \"reference\": \"aab\", \"whitespace\": \"exact\"}",
        "{\"kind\": \"regex_match\", \"reference\": [\"^(a|b)*$\", \"x.?y\"]}",
    };
    struct qz_jv at = {.file = "fuzz.json", .path = "utility"};
    struct qz_error err = {QZ_OK, ""};
    struct qz_batch b;

    if (qz_batch_init(&b, 1, &err) != QZ_OK)
        return;
    qz_batch_begin(&b, 0, 1, 1);
    qz_batch_clear_text(&b);
    b.value[0] = 0;
    if (qz_batch_put_text(&b, 0, (const char *)data, size, &err) == QZ_OK)
        for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
            cJSON *spec = cJSON_Parse(specs[i]);
            struct qz_score sc;
            double out = -1;
            if (spec && qz_score_open(&sc, spec, &at, &err) == QZ_OK) {
                if (sc.ops->score(sc.state, &b, &out, &err) == QZ_OK && out != 0 && out != 1)
                    abort(); /* a reference-answer score is 0 or 1 */
                qz_score_close(&sc);
            }
            cJSON_Delete(spec);
        }
    qz_batch_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    cJSON *peek;
    struct qz_job job;
    struct qz_error err = {QZ_OK, ""};

    if (!text)
        return 0;
    tasks_file(data, size);
    match_text(data, size);
    memcpy(text, data, size);
    text[size] = '\0';
    peek = cJSON_Parse(text);
    if (!peek || !reaches_out(peek)) {
        if (qz_job_parse(text, "fuzz.json", &job, &err) == QZ_OK) {
            uint64_t h;
            char *back = qz_job_text(&job);
            qz_job_hash(&job, &h, &err);
            free(back);
            qz_job_free(&job);
        } else if (strchr(err.msg, '\n')) {
            abort(); /* every message is one line */
        }
    }
    cJSON_Delete(peek);
    free(text);
    return 0;
}
