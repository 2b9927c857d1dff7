/* API keys for backends that talk to servers (OpenAI-compatible generators, reward-model
 * scorers): read from the job's `api_key_env` (an environment variable's name) or
 * `api_key_file` (a file whose first line is the key), sent only as an Authorization
 * header, and overwritten before they are freed. No message ever contains a key.
 *
 * All calls are local. */
#ifndef QZ_APIKEY_H
#define QZ_APIKEY_H

#include <cjson/cJSON.h>

#include "error.h"
#include "jsonv.h"

/* Validate spec's api_key_env / api_key_file (at most one of them; both optional) and
 * read the key. *key is NULL when neither is given, else a malloc'd NUL-terminated key
 * with surrounding white space trimmed, owned by the caller and freed with
 * qz_secret_free. A variable that is unset or empty, a file that cannot be read or is
 * empty, or a key with control characters is a job error (QZ_EJOB) naming the field. */
enum qz_status qz_apikey_read(const struct qz_jv *at, const cJSON *spec, char **key,
                              struct qz_error *err);

/* "Authorization: Bearer KEY", malloc'd (free with qz_secret_free), or NULL when out of
 * memory. */
char *qz_apikey_header(const char *key);

/* Overwrite the NUL-terminated secret s, then free it. s may be NULL. */
void qz_secret_free(char *s);

#endif
