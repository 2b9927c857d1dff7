#include "provenance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#ifdef __GLIBC__
#include <gnu/libc-version.h>
#endif

#include "qz_revision.h" /* generated at build time: cmake/revision.cmake */
#include "rng.h"

#if defined(__clang__)
#define QZ_COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define QZ_COMPILER "gcc " __VERSION__
#else
#define QZ_COMPILER "unknown"
#endif

static int is_executable_file(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

char *qz_provenance_which(const char *program)
{
    const char *dirs = getenv("PATH");

    if (strchr(program, '/'))
        return strdup(program);
    if (!dirs)
        dirs = "/bin:/usr/bin";
    for (const char *d = dirs;; d++) {
        size_t len = strcspn(d, ":"), n = len + strlen(program) + 2;
        char *path = malloc(n);
        if (!path)
            return NULL;
        /* An empty PATH entry is the current directory, as for execvp. */
        snprintf(path, n, "%.*s%s%s", (int)len, len ? d : ".", "/", program);
        if (is_executable_file(path))
            return path;
        free(path);
        d += len;
        if (!*d)
            return NULL;
    }
}

/* The digest of `path` into hex, or "" with a warning. */
static void hash_file(const char *path, const char *what, char hex[QZ_SHA256_HEX])
{
    struct qz_error err;

    if (qz_sha256_file(path, hex, &err))
        qz_warn("the record leaves out the SHA-256 of the %s: %s", what, err.msg);
}

/* The file a backend spec runs: a plugin's path or an exec command's program. */
static void hash_backend(const cJSON *spec, const char *role, char hex[QZ_SHA256_HEX])
{
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(spec, "kind");
    const cJSON *path = cJSON_GetObjectItemCaseSensitive(spec, "path");
    const cJSON *argv0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(spec, "command"), 0);
    char what[64], *program;

    hex[0] = '\0';
    if (!cJSON_IsString(kind))
        return;
    if (strcmp(kind->valuestring, "plugin") == 0 && cJSON_IsString(path)) {
        snprintf(what, sizeof what, "%s plugin library", role);
        hash_file(path->valuestring, what, hex);
    } else if (strcmp(kind->valuestring, "exec") == 0 && cJSON_IsString(argv0)) {
        snprintf(what, sizeof what, "%s program", role);
        if ((program = qz_provenance_which(argv0->valuestring)))
            hash_file(program, what, hex);
        else
            qz_warn("the record leaves out the SHA-256 of the %s: \"%s\" is not on PATH", what,
                    argv0->valuestring);
        free(program);
    }
}

/* The tasks file the job names, taken from the job file's directory when relative. */
void qz_provenance_local(struct qz_provenance *p, const struct qz_job *job)
{
    p->revision = QZ_REVISION;
    p->compiler = QZ_COMPILER;
    p->curl = curl_version_info(CURLVERSION_NOW)->version;
    p->cjson = cJSON_Version();
#ifdef __GLIBC__
    p->glibc = gnu_get_libc_version();
#else
    p->glibc = NULL;
#endif
    p->draw_kernel = qz_rng_kernel_name();
    /* The job and tasks files as they were read when the job was loaded. */
    snprintf(p->job_sha256, sizeof p->job_sha256, "%s", job->sha256);
    snprintf(p->tasks_sha256, sizeof p->tasks_sha256, "%s", job->tasks.n ? job->tasks.sha256 : "");
    hash_backend(cJSON_GetObjectItemCaseSensitive(job->json, "generator"), "generator",
                 p->generator_sha256);
    hash_backend(cJSON_GetObjectItemCaseSensitive(job->json, "utility"), "utility",
                 p->utility_sha256);
    hash_backend(cJSON_GetObjectItemCaseSensitive(job->json, "cost"), "cost", p->cost_sha256);
}
