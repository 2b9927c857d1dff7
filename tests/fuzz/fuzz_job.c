/* Fuzz target: the job parser and validator (qz_job_parse) on any bytes. Jobs that
 * would start a program, load a library, read a tasks file or reach a server (any
 * string "exec", "plugin", "http" or "openai", or a "tasks" member, anywhere) are
 * skipped: the fuzzer must not run what it invents. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "job.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    cJSON *peek;
    struct qz_job job;
    struct qz_error err = {QZ_OK, ""};

    if (!text)
        return 0;
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
