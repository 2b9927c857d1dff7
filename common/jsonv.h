/* Validation helpers for JSON job files.
 *
 * Every message has the form `FILE: PATH: PROBLEM, got VALUE`, where PATH is the
 * dotted field path (`generator.components[1].stddev`). A struct qz_jv names the
 * object being validated; children are derived with qz_jv_child / qz_jv_item. All
 * functions are local and return QZ_OK or QZ_EJOB. */
#ifndef QZ_JSONV_H
#define QZ_JSONV_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "error.h"

#define QZ_JV_PATH_MAX 256

struct qz_jv {
    const char *file;          /* the job file name, for messages */
    char path[QZ_JV_PATH_MAX]; /* path of this object; "" for the top level */
};

/* child = at + "." + name (or name at the top level). */
void qz_jv_child(const struct qz_jv *at, const char *name, struct qz_jv *child);
/* child = at + "[i]". */
void qz_jv_item(const struct qz_jv *at, int i, struct qz_jv *child);

/* Fail with `FILE: PATH.name: MESSAGE[, got VALUE]` (name may be NULL for the object
 * itself; item may be NULL to omit "got"). Returns QZ_EJOB. */
enum qz_status qz_jv_fail(const struct qz_jv *at, const char *name, const cJSON *item,
                          struct qz_error *err, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* obj must be a JSON object whose keys are all in the NULL-terminated `allowed`
 * list, each at most once. A typo must not fall back to a default silently. */
enum qz_status qz_jv_fields(const struct qz_jv *at, const cJSON *obj, const char *const *allowed,
                            struct qz_error *err);

/* Field getters. When the field is absent: if `required`, fail ("is required");
 * otherwise store the default and return QZ_OK. */
enum qz_status qz_jv_number(const struct qz_jv *at, const cJSON *obj, const char *name,
                            int required, double def, double *out, struct qz_error *err);
/* An optional number in [lo, hi] (lo_open: above lo, not equal), default def. */
enum qz_status qz_jv_number_in(const struct qz_jv *at, const cJSON *obj, const char *name,
                               double def, double lo, int lo_open, double hi, double *out,
                               struct qz_error *err);
/* An integer in [lo, hi]; any value of 2^53 or more is refused (cJSON reads numbers as
 * doubles, which from there on cannot tell neighbouring integers apart). */
enum qz_status qz_jv_uint(const struct qz_jv *at, const cJSON *obj, const char *name, int required,
                          uint64_t def, uint64_t lo, uint64_t hi, uint64_t *out,
                          struct qz_error *err);
/* A string; *out points into obj (owned by the cJSON tree). */
enum qz_status qz_jv_string(const struct qz_jv *at, const cJSON *obj, const char *name,
                            int required, const char *def, const char **out, struct qz_error *err);
/* true or false. */
enum qz_status qz_jv_bool(const struct qz_jv *at, const cJSON *obj, const char *name, int required,
                          int def, int *out, struct qz_error *err);
/* One of the NULL-terminated `choices`; *out receives its position. */
enum qz_status qz_jv_choice(const struct qz_jv *at, const cJSON *obj, const char *name,
                            int required, int def, const char *const *choices, int *out,
                            struct qz_error *err);
/* A backend's spec: a JSON object whose required "kind" names an element of `table`,
 * a registry whose elements are `stride` bytes apart, each beginning with its
 * `const char *` kind, and which ends with a NULL kind. *out receives the position. */
enum qz_status qz_jv_kind(const struct qz_jv *at, const cJSON *spec, const void *table,
                          size_t stride, int *out, struct qz_error *err);
/* A JSON object (or absent and optional: *out = NULL). */
enum qz_status qz_jv_object(const struct qz_jv *at, const cJSON *obj, const char *name,
                            int required, const cJSON **out, struct qz_error *err);

#endif
