#include "jsonv.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

#define QZ_JV_GOT_MAX 80

/* dst = a + b + c, cut to fit (a message then shows the cut path). */
static void join3(char *dst, size_t cap, const char *a, const char *b, const char *c)
{
    size_t used = 0;
    const char *parts[3] = {a, b, c};
    for (int p = 0; p < 3; p++)
        for (const char *s = parts[p]; *s && used + 1 < cap; s++)
            dst[used++] = *s;
    dst[used] = '\0';
}

void qz_jv_child(const struct qz_jv *at, const char *name, struct qz_jv *child)
{
    child->file = at->file;
    join3(child->path, sizeof child->path, at->path, at->path[0] ? "." : "", name);
}

void qz_jv_item(const struct qz_jv *at, int i, struct qz_jv *child)
{
    char index[16];
    snprintf(index, sizeof index, "[%d]", i);
    child->file = at->file;
    join3(child->path, sizeof child->path, at->path, index, "");
}

/* The JSON text of item, shortened for a message. */
static void got_text(const cJSON *item, char *buf, size_t len)
{
    char *text = cJSON_PrintUnformatted(item);
    if (!text) {
        snprintf(buf, len, "(unprintable)");
        return;
    }
    if (strlen(text) > QZ_JV_GOT_MAX)
        snprintf(buf, len, "%.*s...", QZ_JV_GOT_MAX, text);
    else
        snprintf(buf, len, "%s", text);
    cJSON_free(text);
}

enum qz_status qz_jv_fail(const struct qz_jv *at, const char *name, const cJSON *item,
                          struct qz_error *err, const char *fmt, ...)
{
    struct qz_jv where;
    char problem[900], got[QZ_JV_GOT_MAX + 8], raw[2048];
    char shown[4 * QZ_ERROR_MSG_MAX + 8];
    va_list ap;

    if (name)
        qz_jv_child(at, name, &where);
    else
        where = *at;
    va_start(ap, fmt);
    vsnprintf(problem, sizeof problem, fmt, ap);
    va_end(ap);
    if (item)
        got_text(item, got, sizeof got);
    snprintf(raw, sizeof raw, "%s: %s: %s%s%s", at->file,
             where.path[0] ? where.path : "(top level)", problem, item ? ", got " : "",
             item ? got : "");
    /* Keys and values come from the job: a message stays one line of valid UTF-8
     * whatever they hold ("a\nb" as a key, say). */
    qz_utf8_escape(raw, strlen(raw), QZ_ERROR_MSG_MAX, shown, sizeof shown);
    return qz_error_set(err, QZ_EJOB, "%s", shown);
}

/* The name of element i of a table whose elements are `stride` bytes apart and begin
 * with a `const char *` (a list of names has stride sizeof(char *)). */
static const char *name_at(const void *table, size_t stride, int i)
{
    const char *const *name = (const void *)((const char *)table + (size_t)i * stride);
    return *name;
}

/* The names of a table (see name_at) up to its NULL name, joined with ", ", each in
 * quotes if `quote`, truncated to fit buf. */
static void join_names(const void *table, size_t stride, int quote, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; name_at(table, stride, i); i++) {
        int w = snprintf(buf + used, len - used, quote ? "%s\"%s\"" : "%s%s", i ? ", " : "",
                         name_at(table, stride, i));
        if (w < 0 || (size_t)w >= len - used)
            return;
        used += (size_t)w;
    }
}

static void join_list(const char *const *items, int quote, char *buf, size_t len)
{
    join_names(items, sizeof *items, quote, buf, len);
}

static int is_allowed(const char *key, const char *const *allowed)
{
    for (; *allowed; allowed++)
        if (strcmp(key, *allowed) == 0)
            return 1;
    return 0;
}

enum qz_status qz_jv_fields(const struct qz_jv *at, const cJSON *obj, const char *const *allowed,
                            struct qz_error *err)
{
    const cJSON *it, *prev;

    if (!cJSON_IsObject(obj))
        return qz_jv_fail(at, NULL, obj, err, "must be a JSON object");
    for (it = obj->child; it; it = it->next) {
        if (!is_allowed(it->string, allowed)) {
            char list[768];
            join_list(allowed, 0, list, sizeof list);
            return qz_jv_fail(at, it->string, NULL, err, "unknown field (expected one of: %s)",
                              list);
        }
        for (prev = obj->child; prev != it; prev = prev->next)
            if (strcmp(prev->string, it->string) == 0)
                return qz_jv_fail(at, it->string, NULL, err, "field given more than once");
    }
    return QZ_OK;
}

/* The field, or NULL; fails when it is required and absent. */
static enum qz_status field(const struct qz_jv *at, const cJSON *obj, const char *name,
                            int required, const cJSON **item, struct qz_error *err)
{
    *item = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!*item && required)
        return qz_jv_fail(at, name, NULL, err, "is required");
    return QZ_OK;
}

enum qz_status qz_jv_number(const struct qz_jv *at, const cJSON *obj, const char *name,
                            int required, double def, double *out, struct qz_error *err)
{
    const cJSON *item;
    enum qz_status rc = field(at, obj, name, required, &item, err);
    if (rc)
        return rc;
    if (!item) {
        *out = def;
        return QZ_OK;
    }
    if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble))
        return qz_jv_fail(at, name, item, err, "must be a finite number");
    *out = item->valuedouble;
    return QZ_OK;
}

enum qz_status qz_jv_number_in(const struct qz_jv *at, const cJSON *obj, const char *name,
                               double def, double lo, int lo_open, double hi, double *out,
                               struct qz_error *err)
{
    enum qz_status rc = qz_jv_number(at, obj, name, 0, def, out, err);
    if (rc)
        return rc;
    if (lo_open ? !(*out > lo) : !(*out >= lo))
        return qz_jv_fail(at, name, cJSON_GetObjectItemCaseSensitive(obj, name), err,
                          "must be a number %s %g", lo_open ? "above" : "of at least", lo);
    if (!(*out <= hi))
        return qz_jv_fail(at, name, cJSON_GetObjectItemCaseSensitive(obj, name), err,
                          "must be a number of at most %g", hi);
    return QZ_OK;
}

enum qz_status qz_jv_uint(const struct qz_jv *at, const cJSON *obj, const char *name, int required,
                          uint64_t def, uint64_t lo, uint64_t hi, uint64_t *out,
                          struct qz_error *err)
{
    const cJSON *item;
    double v;
    enum qz_status rc = field(at, obj, name, required, &item, err);
    if (rc)
        return rc;
    if (!item) {
        *out = def;
        return QZ_OK;
    }
    v = item->valuedouble;
    /* cJSON reads numbers as doubles: from 2^53 on, neighbouring integers share a
     * double (9007199254740993 reads as ...992), so no such value is known to be exact. */
    if (cJSON_IsNumber(item) && v >= 9007199254740992.0)
        return qz_jv_fail(at, name, item, err,
                          "must be below 2^53 = 9007199254740992 (larger JSON integers are not "
                          "read exactly)");
    if (!cJSON_IsNumber(item) || !isfinite(v) || v != floor(v) || v < (double)lo || v > (double)hi)
        return qz_jv_fail(at, name, item, err, "must be an integer from %llu to %llu",
                          (unsigned long long)lo, (unsigned long long)hi);
    *out = (uint64_t)v;
    return QZ_OK;
}

enum qz_status qz_jv_string(const struct qz_jv *at, const cJSON *obj, const char *name,
                            int required, const char *def, const char **out, struct qz_error *err)
{
    const cJSON *item;
    enum qz_status rc = field(at, obj, name, required, &item, err);
    if (rc)
        return rc;
    if (!item) {
        *out = def;
        return QZ_OK;
    }
    if (!cJSON_IsString(item))
        return qz_jv_fail(at, name, item, err, "must be a string");
    *out = item->valuestring;
    return QZ_OK;
}

enum qz_status qz_jv_bool(const struct qz_jv *at, const cJSON *obj, const char *name, int required,
                          int def, int *out, struct qz_error *err)
{
    const cJSON *item;
    enum qz_status rc = field(at, obj, name, required, &item, err);
    if (rc)
        return rc;
    if (!item) {
        *out = def;
        return QZ_OK;
    }
    if (!cJSON_IsBool(item))
        return qz_jv_fail(at, name, item, err, "must be true or false");
    *out = cJSON_IsTrue(item);
    return QZ_OK;
}

/* qz_jv_choice over a table of names (see name_at). */
static enum qz_status choose(const struct qz_jv *at, const cJSON *obj, const char *name,
                             int required, int def, const void *table, size_t stride, int *out,
                             struct qz_error *err)
{
    const cJSON *item;
    char list[768];
    enum qz_status rc = field(at, obj, name, required, &item, err);
    if (rc)
        return rc;
    if (!item) {
        *out = def;
        return QZ_OK;
    }
    for (int i = 0; name_at(table, stride, i); i++) {
        if (cJSON_IsString(item) && strcmp(item->valuestring, name_at(table, stride, i)) == 0) {
            *out = i;
            return QZ_OK;
        }
    }
    join_names(table, stride, 1, list, sizeof list);
    return qz_jv_fail(at, name, item, err, "must be one of %s", list);
}

enum qz_status qz_jv_choice(const struct qz_jv *at, const cJSON *obj, const char *name,
                            int required, int def, const char *const *choices, int *out,
                            struct qz_error *err)
{
    return choose(at, obj, name, required, def, choices, sizeof *choices, out, err);
}

enum qz_status qz_jv_kind(const struct qz_jv *at, const cJSON *spec, const void *table,
                          size_t stride, int *out, struct qz_error *err)
{
    if (!cJSON_IsObject(spec))
        return qz_jv_fail(at, NULL, spec, err, "must be a JSON object");
    return choose(at, spec, "kind", 1, 0, table, stride, out, err);
}

enum qz_status qz_jv_object(const struct qz_jv *at, const cJSON *obj, const char *name,
                            int required, const cJSON **out, struct qz_error *err)
{
    const cJSON *item;
    enum qz_status rc = field(at, obj, name, required, &item, err);
    if (rc)
        return rc;
    if (item && !cJSON_IsObject(item))
        return qz_jv_fail(at, name, item, err, "must be a JSON object");
    *out = item;
    return QZ_OK;
}
