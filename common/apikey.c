#include "apikey.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define QZ_APIKEY_ENV_SHOWN 40 /* the longest api_key_env a message quotes back */

/* [A-Za-z_][A-Za-z0-9_]*: what a shell accepts as a variable name */
static int env_name_valid(const char *s)
{
    if (!s[0] || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return 0;
    return 1;
}

/* Rank 0 of a launcher (Open MPI, PMIx, PMI) or no launcher at all: the rank that
 * warns (every rank reads the job; this module knows no communicator). */
static int first_rank(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v)
            return strcmp(v, "0") == 0;
    }
    return 1;
}

/* A key file that others can read is a key others have: say so, once per file (the
 * generator and a scorer may share one), naming the file and its mode, never the key. */
static void warn_if_shared(const struct qz_jv *at, const char *path, int fd)
{
    static char warned[4][512];
    struct stat st;
    size_t i;

    if (fstat(fd, &st) != 0 || !(st.st_mode & (S_IRGRP | S_IROTH)) || !first_rank())
        return;
    for (i = 0; i < sizeof warned / sizeof *warned && warned[i][0]; i++)
        if (strcmp(warned[i], path) == 0)
            return;
    if (i < sizeof warned / sizeof *warned)
        snprintf(warned[i], sizeof warned[i], "%s", path);
    qz_warn("warning: %s%sapi_key_file: the key file %s has mode %04o: group or others can "
            "read it (chmod 600 it)",
            at->path, at->path[0] ? "." : "", path, (unsigned)(st.st_mode & 07777));
}

enum qz_status qz_apikey_read(const struct qz_jv *at, const cJSON *spec, char **key,
                              struct qz_error *err)
{
    const char *env_name, *path;
    const cJSON *env_item = cJSON_GetObjectItemCaseSensitive(spec, "api_key_env");
    const cJSON *file_item = cJSON_GetObjectItemCaseSensitive(spec, "api_key_file");
    const char *field = env_item ? "api_key_env" : "api_key_file";
    const cJSON *item = env_item ? env_item : file_item;
    enum qz_status rc;
    char *line = NULL;
    size_t cap = 0, len;

    *key = NULL;
    if ((rc = qz_jv_string(at, spec, "api_key_env", 0, NULL, &env_name, err)) ||
        (rc = qz_jv_string(at, spec, "api_key_file", 0, NULL, &path, err)))
        return rc;
    if (env_name && path)
        return qz_jv_fail(at, "api_key_file", file_item, err,
                          "give api_key_env or api_key_file, not both");
    if (!env_name && !path)
        return QZ_OK;
    if (env_name && !env_name_valid(env_name))
        /* item NULL: the value is not quoted back, it may be the key pasted in */
        return qz_jv_fail(at, field, NULL, err,
                          "must be the name of an environment variable "
                          "([A-Za-z_][A-Za-z0-9_]*), got a value that is not (not shown: it "
                          "may be a key)");
    if (env_name) {
        const char *v = getenv(env_name);
        if (!v || !v[0])
            /* a long name may be a key that happens to look like one: not shown */
            return strlen(env_name) <= QZ_APIKEY_ENV_SHOWN
                       ? qz_jv_fail(at, field, item, err, "the environment variable is not set")
                       : qz_jv_fail(at, field, NULL, err,
                                    "the environment variable is not set (its %zu-character "
                                    "name is not shown: it may be a key)",
                                    strlen(env_name));
        len = strlen(v);
        if (!(line = malloc(len + 1)))
            return qz_error_set(err, QZ_ENOMEM, "out of memory");
        memcpy(line, v, len + 1);
    } else {
        FILE *f = fopen(path, "r");
        ssize_t got;
        if (!f)
            return qz_jv_fail(at, field, item, err, "cannot open the key file: %s",
                              strerror(errno));
        warn_if_shared(at, path, fileno(f));
        errno = 0;
        got = getline(&line, &cap, f);
        if (got < 0 && errno) {
            int e = errno;
            fclose(f);
            qz_secret_free(line);
            return qz_jv_fail(at, field, item, err, "cannot read the key file: %s", strerror(e));
        }
        fclose(f);
        if (got < 0) {
            free(line);
            line = NULL;
        }
    }
    /* trim surrounding white space (a trailing newline, CRLF files) */
    len = line ? strlen(line) : 0;
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ' ||
                   line[len - 1] == '\t'))
        len--;
    if (line)
        line[len] = '\0';
    if (line && (line[0] == ' ' || line[0] == '\t')) {
        size_t skip = strspn(line, " \t");
        memmove(line, line + skip, len - skip + 1);
        len -= skip;
    }
    if (!len) {
        free(line);
        return qz_jv_fail(at, field, item, err,
                          env_name ? "the environment variable is empty" : "the key file is empty");
    }
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)line[i] < 0x20 || line[i] == 0x7F) {
            qz_secret_free(line);
            return qz_jv_fail(at, field, item, err, "the key contains control characters");
        }
    }
    *key = line;
    return QZ_OK;
}

char *qz_apikey_header(const char *key)
{
    static const char prefix[] = "Authorization: Bearer ";
    size_t len = sizeof prefix + strlen(key);
    char *h = malloc(len);

    if (h)
        snprintf(h, len, "%s%s", prefix, key);
    return h;
}

void qz_secret_free(char *s)
{
    if (s) {
        volatile char *p = s;
        while (*p)
            *p++ = 0;
        free(s);
    }
}
