#include "export.h"

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <hdf5.h>

#include "format.h"
#include "h5util.h"
#include "output.h"
#include "runlist.h"
#include "safefile.h"
#include "topset.h"

#define BLOCK ((size_t)1 << 16)       /* entries read per H5Dread */
#define SPAN_MAX ((uint64_t)64 << 20) /* text bytes read at once from an archive */
#define SOURCE_DEPTH 4                /* select runs followed back to their source */
#define OUT_BUFFER ((size_t)1 << 20)  /* stdio buffer of the output */

/* One run being exported and what it holds. */
struct xrun {
    const char *name; /* path under /runs (owned by the run list) */
    const char *task; /* the task id inside name, or NULL */
    hid_t g;          /* the run's group */
    uint64_t seed, k; /* seed (for tie keys) and K = top_count */
    double q, mass;
    int text;                 /* text payloads */
    int chat;                 /* text from a chat endpoint: lines of messages */
    int has_cost;             /* a cost scorer: costs exported */
    int value_is_utility;     /* numeric with utility "value": a top entry's value is its utility */
    int top;                  /* top/ with index and utility */
    int top_texts;            /* top/payload */
    int archive;              /* samples/ with utility */
    int archive_values;       /* samples/value (numbers) or payload_* (texts) */
    char *head;               /* text: `{"prompt":"..."` or `{"messages":[...,` (malloc'd) */
    struct qz_h5_metrics met; /* metrics/NAME in the job's order (none: no "metrics") */
};

/* Up to this many metrics per line (a job names at most 16). */
#define METRICS_MAX 64

enum qz_status qz_export_parse_what(const char *s, enum qz_export_what *what, struct qz_error *err)
{
    if (strcmp(s, "selected") == 0)
        *what = QZ_EXPORT_SELECTED;
    else if (strcmp(s, "top") == 0)
        *what = QZ_EXPORT_TOP;
    else if (strcmp(s, "all") == 0)
        *what = QZ_EXPORT_ALL;
    else
        return qz_error_set(err, QZ_EARGS,
                            "export: --what: must be \"selected\", \"top\" or \"all\", got \"%s\"",
                            s);
    return QZ_OK;
}

/* The JSON string of bytes s[0..n): quotes, backslashes and control characters
 * escaped, every byte that is not part of valid UTF-8 replaced by U+FFFD, so that the
 * line is valid JSON whatever the record holds. */
static void put_str(FILE *f, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;

    putc('"', f);
    while (p < end) {
        unsigned c = *p;
        size_t len = 0;
        if (c < 0x80) {
            if (c == '"' || c == '\\')
                fprintf(f, "\\%c", (int)c);
            else if (c == '\n')
                fputs("\\n", f);
            else if (c == '\t')
                fputs("\\t", f);
            else if (c < 0x20 || c == 0x7f)
                fprintf(f, "\\u%04x", c);
            else
                putc((int)c, f);
            p++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            len = 2;
        else if (c >= 0xe0 && c <= 0xef)
            len = 3;
        else if (c >= 0xf0 && c <= 0xf4)
            len = 4;
        if (len && (size_t)(end - p) >= len) {
            unsigned lo = 0x80, hi = 0xbf;
            if (c == 0xe0)
                lo = 0xa0;
            else if (c == 0xed)
                hi = 0x9f;
            else if (c == 0xf0)
                lo = 0x90;
            else if (c == 0xf4)
                hi = 0x8f;
            int ok = p[1] >= lo && p[1] <= hi;
            for (size_t j = 2; ok && j < len; j++)
                ok = p[j] >= 0x80 && p[j] <= 0xbf;
            if (ok) {
                fwrite(p, 1, len, f);
                p += len;
                continue;
            }
        }
        fputs("\xef\xbf\xbd", f); /* U+FFFD for one stray byte */
        p++;
    }
    putc('"', f);
}

/* A JSON number that reads back as exactly x (qz_format_exact: the fewest digits,
 * whole numbers without an exponent, 0 for -0); null for NaN and infinities. */
static void put_num(FILE *f, double x)
{
    char buf[QZ_FORMAT_MAX];

    if (!isfinite(x)) {
        fputs("null", f);
        return;
    }
    qz_format_exact(buf, sizeof buf, x == 0 ? 0.0 : x);
    fputs(buf, f);
}

/* Any JSON value (from a record's job or request), strings through put_str. */
static void put_json(FILE *f, const cJSON *v)
{
    if (cJSON_IsString(v)) {
        put_str(f, v->valuestring, strlen(v->valuestring));
    } else if (cJSON_IsNumber(v)) {
        put_num(f, v->valuedouble);
    } else if (cJSON_IsBool(v)) {
        fputs(cJSON_IsTrue(v) ? "true" : "false", f);
    } else if (cJSON_IsArray(v) || cJSON_IsObject(v)) {
        int obj = cJSON_IsObject(v);
        putc(obj ? '{' : '[', f);
        for (const cJSON *c = v->child; c; c = c->next) {
            if (c != v->child)
                putc(',', f);
            if (obj) {
                put_str(f, c->string, strlen(c->string));
                putc(':', f);
            }
            put_json(f, c);
        }
        putc(obj ? '}' : ']', f);
    } else {
        fputs("null", f);
    }
}

/* The weight under Q of the sample at position pos of the top set (README: Semantics): 1/m for the
 * first K−1, (m − (K−1))/m for the boundary, 0 outside. */
static double weight_at(const struct xrun *x, uint64_t pos)
{
    if (pos + 1 < x->k)
        return 1.0 / x->mass;
    if (pos + 1 == x->k)
        return (x->mass - (double)(x->k - 1)) / x->mass;
    return 0;
}

/* One line. text (n bytes) for text runs; value[nv] for numeric ones (nv 0: null). */
static void put_line(FILE *f, const struct xrun *x, const char *text, size_t n, uint64_t index,
                     const double *value, size_t nv, double utility, double cost, double weight,
                     const double *metric)
{
    if (x->text) {
        fputs(x->head, f);
        if (x->chat) {
            fputs("{\"role\":\"assistant\",\"content\":", f);
            put_str(f, text, n);
            fputs("}],\"index\":", f);
        } else {
            fputs(",\"completion\":", f);
            put_str(f, text, n);
            fputs(",\"index\":", f);
        }
        fprintf(f, "%" PRIu64, index);
    } else {
        fprintf(f, "{\"index\":%" PRIu64 ",\"value\":", index);
        if (nv == 1) {
            put_num(f, value[0]);
        } else if (nv == 0) {
            fputs("null", f);
        } else {
            putc('[', f);
            for (size_t i = 0; i < nv; i++) {
                if (i)
                    putc(',', f);
                put_num(f, value[i]);
            }
            putc(']', f);
        }
    }
    fputs(",\"utility\":", f);
    put_num(f, utility);
    if (x->has_cost) {
        fputs(",\"cost\":", f);
        put_num(f, cost);
    }
    if (x->met.n) {
        fputs(",\"metrics\":{", f);
        for (size_t i = 0; i < x->met.n && i < METRICS_MAX; i++) {
            if (i)
                putc(',', f);
            put_str(f, x->met.m[i].name, strlen(x->met.m[i].name));
            putc(':', f);
            put_num(f, metric ? metric[i] : NAN);
        }
        putc('}', f);
    }
    if (x->task) {
        fputs(",\"task\":", f);
        put_str(f, x->task, strlen(x->task));
    }
    fputs(",\"q\":", f);
    put_num(f, x->q);
    fputs(",\"weight\":", f);
    put_num(f, weight);
    fputs("}\n", f);
}

static int exists(hid_t loc, const char *path)
{
    return H5Lexists(loc, path, H5P_DEFAULT) > 0;
}

/* The prompt of a text run as a line's head, from its generator_request (what was
 * sent: a task's own prompt too), else its job's generator; a select run's from the
 * run it re-selected (when that is in the same file). No prompt gives "". */
static enum qz_status find_head(hid_t file, hid_t g, struct xrun *x, int depth, cJSON **prompt)
{
    char *s = NULL;
    cJSON *doc = NULL, *body, *gen;
    enum qz_status rc = QZ_OK;
    int found = 0;

    *prompt = NULL;
    if ((rc = qz_h5_read_string_attr(g, "generator_request", &s, &found)))
        return rc;
    if (found && (doc = cJSON_Parse(s)) && (body = cJSON_GetObjectItemCaseSensitive(doc, "body"))) {
        cJSON *msgs = cJSON_GetObjectItemCaseSensitive(body, "messages");
        cJSON *url = cJSON_GetObjectItemCaseSensitive(doc, "url");
        x->chat = cJSON_IsArray(msgs) ||
                  (cJSON_IsString(url) && strstr(url->valuestring, "/chat/completions"));
        *prompt = cJSON_DetachItemFromObjectCaseSensitive(body, x->chat ? "messages" : "prompt");
        goto done;
    }
    free(s);
    s = NULL;
    cJSON_Delete(doc);
    doc = NULL;
    if ((rc = qz_h5_read_string_attr(g, "job", &s, &found)) || !found || !(doc = cJSON_Parse(s)))
        goto done;
    gen = cJSON_GetObjectItemCaseSensitive(doc, "generator");
    if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(gen, "kind")) &&
        strcmp(cJSON_GetObjectItemCaseSensitive(gen, "kind")->valuestring, "archive") == 0) {
        cJSON *run = cJSON_GetObjectItemCaseSensitive(gen, "run");
        char path[4200];
        hid_t src;
        if (depth < SOURCE_DEPTH && cJSON_IsString(run) &&
            snprintf(path, sizeof path, "runs/%s", run->valuestring) < (int)sizeof path &&
            H5Lexists(file, "runs", H5P_DEFAULT) > 0 &&
            (src = H5Oopen(file, path, H5P_DEFAULT)) >= 0) {
            rc = find_head(file, src, x, depth + 1, prompt);
            H5Oclose(src);
        }
        goto done;
    }
    {
        cJSON *endpoint = cJSON_GetObjectItemCaseSensitive(gen, "endpoint");
        x->chat = cJSON_IsString(endpoint) && strcmp(endpoint->valuestring, "chat") == 0;
        *prompt = cJSON_DetachItemFromObjectCaseSensitive(gen, x->chat ? "messages" : "prompt");
        if (x->chat && !*prompt &&
            cJSON_IsString(cJSON_GetObjectItemCaseSensitive(gen, "prompt"))) {
            cJSON *m = cJSON_CreateObject();
            cJSON_AddStringToObject(m, "role", "user");
            cJSON_AddItemToObject(m, "content",
                                  cJSON_DetachItemFromObjectCaseSensitive(gen, "prompt"));
            *prompt = cJSON_CreateArray();
            cJSON_AddItemToArray(*prompt, m);
        }
    }
done:
    free(s);
    cJSON_Delete(doc);
    return rc;
}

/* x->head from the run's prompt (see find_head). */
static enum qz_status make_head(hid_t file, struct xrun *x)
{
    cJSON *prompt = NULL;
    char *buf = NULL;
    size_t size = 0;
    FILE *m;
    enum qz_status rc = find_head(file, x->g, x, 0, &prompt);

    if (rc)
        return rc;
    if (!(m = open_memstream(&buf, &size))) {
        cJSON_Delete(prompt);
        return QZ_ENOMEM;
    }
    if (x->chat) {
        fputs("{\"messages\":[", m);
        if (cJSON_IsArray(prompt)) {
            for (const cJSON *c = prompt->child; c; c = c->next) {
                put_json(m, c);
                putc(',', m);
            }
        }
    } else {
        fputs("{\"prompt\":", m);
        if (cJSON_IsString(prompt))
            put_str(m, prompt->valuestring, strlen(prompt->valuestring));
        else if (prompt && !cJSON_IsNull(prompt))
            put_json(m, prompt);
        else
            fputs("\"\"", m);
    }
    cJSON_Delete(prompt);
    if (fclose(m) != 0) {
        free(buf);
        return QZ_ENOMEM;
    }
    x->head = buf;
    return QZ_OK;
}

/* The job's utility scorer is "value" (the default): a numeric sample's value is its
 * utility. */
static int utility_is_value(hid_t g)
{
    char *s = NULL;
    cJSON *doc, *u, *kind;
    int yes = 0;

    if (qz_h5_read_string_attr(g, "job", &s, NULL) != QZ_OK)
        return 0;
    if ((doc = cJSON_Parse(s))) {
        cJSON *gen = cJSON_GetObjectItemCaseSensitive(doc, "generator");
        cJSON *gkind = cJSON_GetObjectItemCaseSensitive(gen, "kind");
        u = cJSON_GetObjectItemCaseSensitive(doc, "utility");
        kind = cJSON_GetObjectItemCaseSensitive(u, "kind");
        yes = !(cJSON_IsString(gkind) && strcmp(gkind->valuestring, "archive") == 0) &&
              (!u || (cJSON_IsString(kind) && strcmp(kind->valuestring, "value") == 0));
        cJSON_Delete(doc);
    }
    free(s);
    return yes;
}

/* Whether the dataset at path is a string (text payloads). */
static int is_text(hid_t loc, const char *path)
{
    hid_t d = H5Dopen2(loc, path, H5P_DEFAULT), t;
    int yes = 0;

    if (d < 0)
        return 0;
    if ((t = H5Dget_type(d)) >= 0) {
        yes = H5Tget_class(t) == H5T_STRING;
        H5Tclose(t);
    }
    H5Dclose(d);
    return yes;
}

/* Open run x->name and check that it holds what `what` needs: QZ_EARGS naming the
 * gap otherwise. */
static enum qz_status open_run(hid_t file, hid_t runs, const char *path, struct xrun *x,
                               enum qz_export_what what, struct qz_error *err)
{
    const char *t = strstr(x->name, "/tasks/");
    enum qz_status rc;

    x->task = t ? t + 7 : NULL;
    if ((x->g = H5Gopen2(runs, x->name, H5P_DEFAULT)) < 0)
        return qz_h5_fail(err, QZ_EARGS, "%s: run \"%s\" is not a readable run group", path,
                          x->name);
    if (qz_h5_read_num_attr(x->g, "seed", H5T_NATIVE_UINT64, &x->seed, NULL) ||
        qz_h5_read_num_attr(x->g, "top_count", H5T_NATIVE_UINT64, &x->k, NULL) ||
        qz_h5_read_num_attr(x->g, "q", H5T_NATIVE_DOUBLE, &x->q, NULL) ||
        qz_h5_read_num_attr(x->g, "mass", H5T_NATIVE_DOUBLE, &x->mass, NULL) || x->k == 0 ||
        !(x->mass > 0) || !exists(x->g, "selected"))
        return qz_h5_fail(err, QZ_EARGS,
                          "%s: run \"%s\" is not a complete run (no seed, q, mass, top_count "
                          "or selected/)",
                          path, x->name);
    x->text = is_text(x->g, "selected/payload");
    x->top = exists(x->g, "top") && exists(x->g, "top/index") && exists(x->g, "top/utility");
    x->top_texts = x->top && exists(x->g, "top/payload");
    x->archive = exists(x->g, "samples") && exists(x->g, "samples/utility");
    x->archive_values = x->archive && (x->text ? exists(x->g, "samples/payload_offset") &&
                                                     exists(x->g, "samples/payload_length") &&
                                                     exists(x->g, "samples/payload_bytes")
                                               : exists(x->g, "samples/value"));
    x->has_cost = exists(x->g, "top/cost") || exists(x->g, "samples/cost") ||
                  H5Aexists_by_name(x->g, "selected", "cost", H5P_DEFAULT) > 0;
    x->value_is_utility = !x->text && utility_is_value(x->g);
    if ((rc = qz_h5_read_metrics(x->g, "metrics", H5I_INVALID_HID, &x->met)))
        return qz_h5_fail(err, rc, "%s: run \"%s\": cannot read its metrics", path, x->name);
    if (what == QZ_EXPORT_TOP && !x->top)
        return qz_error_set(err, QZ_EARGS,
                            "%s: run \"%s\" has no top/ (its job said \"top\": false): export "
                            "--what selected, or --what all from an archive",
                            path, x->name);
    if (what == QZ_EXPORT_TOP && x->text && !x->top_texts && !x->archive_values)
        return qz_error_set(err, QZ_EARGS,
                            "%s: run \"%s\" has no top/payload (K = %" PRIu64
                            " is above its top_gather_limit) and no \"all\" archive to take "
                            "the texts from",
                            path, x->name, x->k);
    if (what == QZ_EXPORT_ALL && !x->archive_values)
        return qz_error_set(err, QZ_EARGS,
                            "%s: run \"%s\" has no archive of its samples (--what all needs "
                            "output.archive \"all\")",
                            path, x->name);
    if (what == QZ_EXPORT_ALL && !x->top)
        return qz_error_set(err, QZ_EARGS,
                            "%s: run \"%s\" has no top/ (its job said \"top\": false), which "
                            "--what all needs to place the boundary",
                            path, x->name);
    if (x->text && (rc = make_head(file, x)))
        return qz_h5_fail(err, rc, "%s: run \"%s\": cannot read its prompt", path, x->name);
    return QZ_OK;
}

static void close_run(struct xrun *x)
{
    if (x->g >= 0)
        H5Gclose(x->g);
    free(x->head);
    qz_h5_metrics_free(&x->met);
}

/* The datasets of a run read in blocks. */
struct dsets {
    hid_t index, utility, cost, value, off, len, bytes, payload;
};

static void dsets_close(struct dsets *d)
{
    hid_t *all[] = {&d->index, &d->utility, &d->cost,  &d->value,
                    &d->off,   &d->len,     &d->bytes, &d->payload};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        if (*all[i] >= 0)
            H5Dclose(*all[i]);
        *all[i] = H5I_INVALID_HID;
    }
}

static hid_t open_if(hid_t loc, const char *path)
{
    return exists(loc, path) ? H5Dopen2(loc, path, H5P_DEFAULT) : H5I_INVALID_HID;
}

/* The length of 1-D dataset d (0 when it cannot be read). */
static uint64_t length(hid_t d)
{
    hid_t s = H5Dget_space(d);
    hsize_t n = 0;

    if (s >= 0) {
        if (H5Sget_simple_extent_ndims(s) != 1 || H5Sget_simple_extent_dims(s, &n, NULL) < 0)
            n = 0;
        H5Sclose(s);
    }
    return n;
}

/* Sample i's text from the archive into *buf (grown as needed), *n bytes. */
static enum qz_status archive_text(const struct dsets *a, uint64_t i, char **buf, size_t *cap,
                                   size_t *n)
{
    uint64_t off, len;

    if (qz_h5_read_range(a->off, H5T_NATIVE_UINT64, i, 1, &off) ||
        qz_h5_read_range(a->len, H5T_NATIVE_UINT64, i, 1, &len) || len > SIZE_MAX / 2)
        return QZ_EHDF5;
    if (len + 1 > *cap) {
        char *grown = realloc(*buf, (size_t)len + 1);
        if (!grown)
            return QZ_ENOMEM;
        *buf = grown;
        *cap = (size_t)len + 1;
    }
    *n = (size_t)len;
    return qz_h5_read_range(a->bytes, H5T_NATIVE_UCHAR, off, (size_t)len, *buf);
}

/* The datasets `dir`/metrics/NAME of x's metrics into d[] (H5I_INVALID_HID where there is
 * none: those values are null), and their closing. */
static void metrics_open(const struct xrun *x, const char *dir, hid_t *d)
{
    for (size_t i = 0; i < x->met.n && i < METRICS_MAX; i++) {
        size_t len = strlen(dir) + strlen(x->met.m[i].name) + 10;
        char *path = malloc(len);
        d[i] = H5I_INVALID_HID;
        if (path) {
            snprintf(path, len, "%s/metrics/%s", dir, x->met.m[i].name);
            d[i] = open_if(x->g, path); /* H5Lexists fails (no) on a missing step */
        }
        free(path);
    }
}

static void metrics_close(const struct xrun *x, hid_t *d)
{
    for (size_t i = 0; i < x->met.n && i < METRICS_MAX; i++)
        if (d[i] >= 0)
            H5Dclose(d[i]);
}

/* Entries [start, start + n) of each metric dataset into buf[i * stride ...]: NaN where a
 * metric has no dataset or it is too short. */
static enum qz_status metrics_read(const struct xrun *x, const hid_t *d, uint64_t start, size_t n,
                                   double *buf, size_t stride)
{
    for (size_t i = 0; i < x->met.n && i < METRICS_MAX; i++) {
        double *v = buf + i * stride;
        enum qz_status rc;
        for (size_t j = 0; j < n; j++)
            v[j] = NAN;
        if (d[i] < 0 || length(d[i]) < start + n)
            continue;
        if ((rc = qz_h5_read_range(d[i], H5T_NATIVE_DOUBLE, start, n, v)))
            return rc;
    }
    return QZ_OK;
}

static enum qz_status export_selected(FILE *f, const struct xrun *x)
{
    hid_t sel = H5Gopen2(x->g, "selected", H5P_DEFAULT);
    uint64_t index = 0, pos = 0;
    double utility = NAN, cost = NAN, *value = NULL;
    size_t nv = 0;
    char *text = NULL;
    enum qz_status rc;

    if (sel < 0)
        return QZ_EHDF5;
    rc = qz_h5_read_num_attr(sel, "index", H5T_NATIVE_UINT64, &index, NULL);
    if (rc == QZ_OK)
        rc = qz_h5_read_num_attr(sel, "position", H5T_NATIVE_UINT64, &pos, NULL);
    if (rc == QZ_OK)
        rc = qz_h5_read_num_attr(sel, "utility", H5T_NATIVE_DOUBLE, &utility, NULL);
    if (rc == QZ_OK && x->has_cost)
        rc = qz_h5_read_num_attr(sel, "cost", H5T_NATIVE_DOUBLE, &cost, NULL);
    if (rc == QZ_OK && x->text) {
        hid_t d = H5Dopen2(sel, "payload", H5P_DEFAULT), mt = H5Tcopy(H5T_C_S1);
        if (d < 0 || mt < 0 || H5Tset_size(mt, H5T_VARIABLE) < 0 ||
            H5Tset_cset(mt, H5T_CSET_UTF8) < 0 ||
            H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, &text) < 0)
            rc = QZ_EHDF5;
        if (mt >= 0)
            H5Tclose(mt);
        if (d >= 0)
            H5Dclose(d);
    } else if (rc == QZ_OK) {
        rc = qz_h5_read_f64_1d(sel, "payload", &value, &nv, NULL);
    }
    double metric[METRICS_MAX];
    hid_t md[METRICS_MAX];
    metrics_open(x, "top", md);
    if (rc == QZ_OK)
        rc = metrics_read(x, md, pos, 1, metric, 1);
    metrics_close(x, md);
    if (rc == QZ_OK)
        put_line(f, x, text ? text : "", text ? strlen(text) : 0, index, value, nv, utility, cost,
                 weight_at(x, pos), metric);
    if (text)
        H5free_memory(text);
    free(value);
    H5Gclose(sel);
    return rc;
}

/* The top set, best first, BLOCK entries at a time; texts from top/payload, else
 * from the archive; numeric values are the utilities (utility "value") or from the
 * archive, else null. */
static enum qz_status export_top(FILE *f, const struct xrun *x)
{
    struct dsets d = {H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID,
                      H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID};
    uint64_t *index = malloc(BLOCK * sizeof *index);
    double *utility = malloc(BLOCK * sizeof *utility), *cost = malloc(BLOCK * sizeof *cost);
    char **texts = calloc(BLOCK, sizeof *texts), *buf = NULL;
    size_t cap = 0, nm = x->met.n < METRICS_MAX ? x->met.n : METRICS_MAX;
    double *mbuf = malloc((nm ? nm : 1) * BLOCK * sizeof *mbuf), metric[METRICS_MAX];
    hid_t mt = H5Tcopy(H5T_C_S1), md[METRICS_MAX];
    enum qz_status rc = QZ_OK;

    metrics_open(x, "top", md);
    if (!index || !utility || !cost || !texts || !mbuf || mt < 0)
        rc = QZ_ENOMEM;
    if (rc == QZ_OK && (H5Tset_size(mt, H5T_VARIABLE) < 0 || H5Tset_cset(mt, H5T_CSET_UTF8) < 0))
        rc = QZ_EHDF5;
    d.index = open_if(x->g, "top/index");
    d.utility = open_if(x->g, "top/utility");
    d.cost = open_if(x->g, "top/cost");
    d.payload = x->top_texts ? open_if(x->g, "top/payload") : H5I_INVALID_HID;
    if (x->archive_values) {
        d.value = x->text ? H5I_INVALID_HID : open_if(x->g, "samples/value");
        d.off = x->text ? open_if(x->g, "samples/payload_offset") : H5I_INVALID_HID;
        d.len = x->text ? open_if(x->g, "samples/payload_length") : H5I_INVALID_HID;
        d.bytes = x->text ? open_if(x->g, "samples/payload_bytes") : H5I_INVALID_HID;
    }
    if (rc == QZ_OK &&
        (d.index < 0 || d.utility < 0 || length(d.index) < x->k || length(d.utility) < x->k ||
         (x->has_cost && d.cost >= 0 && length(d.cost) < x->k)))
        rc = QZ_EHDF5;
    for (uint64_t start = 0; rc == QZ_OK && start < x->k; start += BLOCK) {
        size_t n = x->k - start < BLOCK ? (size_t)(x->k - start) : BLOCK;
        rc = qz_h5_read_range(d.index, H5T_NATIVE_UINT64, start, n, index);
        if (rc == QZ_OK)
            rc = qz_h5_read_range(d.utility, H5T_NATIVE_DOUBLE, start, n, utility);
        for (size_t j = 0; j < n; j++)
            cost[j] = NAN;
        if (rc == QZ_OK && d.cost >= 0)
            rc = qz_h5_read_range(d.cost, H5T_NATIVE_DOUBLE, start, n, cost);
        if (rc == QZ_OK && d.payload >= 0)
            rc = qz_h5_read_range(d.payload, mt, start, n, texts);
        if (rc == QZ_OK)
            rc = metrics_read(x, md, start, n, mbuf, BLOCK);
        for (size_t j = 0; rc == QZ_OK && j < n; j++) {
            double value = utility[j];
            size_t nv = 1, len = 0;
            const char *text = "";
            if (x->text && texts[j]) {
                text = texts[j];
                len = strlen(text);
            } else if (x->text) {
                rc = archive_text(&d, index[j], &buf, &cap, &len);
                text = buf;
            } else if (!x->value_is_utility && d.value >= 0) {
                rc = qz_h5_read_range(d.value, H5T_NATIVE_DOUBLE, index[j], 1, &value);
            } else if (!x->value_is_utility) {
                nv = 0;
            }
            for (size_t i = 0; i < nm; i++)
                metric[i] = mbuf[i * BLOCK + j];
            if (rc == QZ_OK)
                put_line(f, x, text, len, index[j], &value, nv, utility[j], cost[j],
                         weight_at(x, start + j), metric);
        }
        for (size_t j = 0; j < n; j++) {
            if (texts[j])
                H5free_memory(texts[j]);
            texts[j] = NULL;
        }
    }
    dsets_close(&d);
    metrics_close(x, md);
    free(mbuf);
    if (mt >= 0)
        H5Tclose(mt);
    free(index);
    free(utility);
    free(cost);
    free(texts);
    free(buf);
    return rc;
}

/* Every archived sample in index order, BLOCK at a time. A sample is in the top set
 * when it comes before the boundary sample (top/index[K-1]) in the selection order, or is it. */
static enum qz_status export_all(FILE *f, const struct xrun *x)
{
    struct dsets d = {H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID,
                      H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID};
    double *utility = malloc(BLOCK * sizeof *utility), *cost = malloc(BLOCK * sizeof *cost);
    double *value = malloc(BLOCK * sizeof *value), metric[METRICS_MAX];
    size_t nm = x->met.n < METRICS_MAX ? x->met.n : METRICS_MAX;
    double *mbuf = malloc((nm ? nm : 1) * BLOCK * sizeof *mbuf);
    hid_t md[METRICS_MAX];
    uint64_t *off = malloc(BLOCK * sizeof *off), *len = malloc(BLOCK * sizeof *len), count;
    char *buf = NULL;
    size_t cap = 0;
    struct qz_entry boundary = {NAN, NAN, 0};
    double inner = 1.0 / x->mass, edge = weight_at(x, x->k - 1);
    hid_t top_index = open_if(x->g, "top/index"), top_utility = open_if(x->g, "top/utility");
    enum qz_status rc = QZ_OK;

    /* scope "top" metrics have no archive column: null in these lines */
    metrics_open(x, "samples", md);
    if (!utility || !cost || !value || !off || !len || !mbuf)
        rc = QZ_ENOMEM;
    if (rc == QZ_OK &&
        (top_index < 0 || top_utility < 0 || length(top_index) < x->k ||
         qz_h5_read_range(top_index, H5T_NATIVE_UINT64, x->k - 1, 1, &boundary.index) ||
         qz_h5_read_range(top_utility, H5T_NATIVE_DOUBLE, x->k - 1, 1, &boundary.utility)))
        rc = QZ_EHDF5;
    d.utility = open_if(x->g, "samples/utility");
    d.cost = open_if(x->g, "samples/cost");
    d.value = x->text ? H5I_INVALID_HID : open_if(x->g, "samples/value");
    d.off = x->text ? open_if(x->g, "samples/payload_offset") : H5I_INVALID_HID;
    d.len = x->text ? open_if(x->g, "samples/payload_length") : H5I_INVALID_HID;
    d.bytes = x->text ? open_if(x->g, "samples/payload_bytes") : H5I_INVALID_HID;
    count = d.utility >= 0 ? length(d.utility) : 0;
    if (rc == QZ_OK && (d.utility < 0 || (x->text ? d.off < 0 || d.len < 0 || d.bytes < 0
                                                  : d.value < 0 || length(d.value) < count)))
        rc = QZ_EHDF5;
    for (uint64_t start = 0; rc == QZ_OK && start < count; start += BLOCK) {
        size_t n = count - start < BLOCK ? (size_t)(count - start) : BLOCK;
        uint64_t lo = UINT64_MAX, hi = 0;
        int whole = 0;
        rc = qz_h5_read_range(d.utility, H5T_NATIVE_DOUBLE, start, n, utility);
        for (size_t j = 0; j < n; j++)
            cost[j] = NAN;
        if (rc == QZ_OK && d.cost >= 0)
            rc = qz_h5_read_range(d.cost, H5T_NATIVE_DOUBLE, start, n, cost);
        if (rc == QZ_OK && !x->text)
            rc = qz_h5_read_range(d.value, H5T_NATIVE_DOUBLE, start, n, value);
        if (rc == QZ_OK)
            rc = metrics_read(x, md, start, n, mbuf, BLOCK);
        if (rc == QZ_OK && x->text) {
            rc = qz_h5_read_range(d.off, H5T_NATIVE_UINT64, start, n, off);
            if (rc == QZ_OK)
                rc = qz_h5_read_range(d.len, H5T_NATIVE_UINT64, start, n, len);
            for (size_t j = 0; rc == QZ_OK && j < n; j++) {
                lo = off[j] < lo ? off[j] : lo;
                hi = off[j] + len[j] > hi ? off[j] + len[j] : hi;
            }
            /* A block's texts lie back to back: one read unless they are huge. */
            if (rc == QZ_OK && hi - lo <= SPAN_MAX) {
                whole = 1;
                if (hi - lo + 1 > cap) {
                    char *grown = realloc(buf, (size_t)(hi - lo) + 1);
                    if (!grown)
                        rc = QZ_ENOMEM;
                    else
                        buf = grown, cap = (size_t)(hi - lo) + 1;
                }
                if (rc == QZ_OK)
                    rc = qz_h5_read_range(d.bytes, H5T_NATIVE_UCHAR, lo, (size_t)(hi - lo), buf);
            }
        }
        for (size_t j = 0; rc == QZ_OK && j < n; j++) {
            struct qz_entry e = {utility[j], NAN, start + j};
            double w = 0;
            const char *text = "";
            size_t tlen = 0;
            for (size_t i = 0; i < nm; i++)
                metric[i] = mbuf[i * BLOCK + j];
            if (e.index == boundary.index)
                w = edge;
            else if (!isnan(e.utility) && qz_entry_better(x->seed, &e, &boundary))
                w = inner;
            if (x->text && whole) {
                text = buf + (off[j] - lo);
                tlen = (size_t)len[j];
            } else if (x->text) {
                char *one = NULL;
                size_t one_cap = 0;
                rc = archive_text(&d, e.index, &one, &one_cap, &tlen);
                if (rc == QZ_OK)
                    put_line(f, x, one, tlen, e.index, NULL, 0, e.utility, cost[j], w, metric);
                free(one);
                continue;
            }
            put_line(f, x, text, tlen, e.index, &value[j], 1, e.utility, cost[j], w, metric);
        }
    }
    dsets_close(&d);
    metrics_close(x, md);
    free(mbuf);
    if (top_index >= 0)
        H5Dclose(top_index);
    if (top_utility >= 0)
        H5Dclose(top_utility);
    free(utility);
    free(cost);
    free(value);
    free(off);
    free(len);
    free(buf);
    return rc;
}

/* The output must not be the record itself. */
static enum qz_status check_output(const char *path, const char *out, struct qz_error *err)
{
    struct stat a, b;
    int there = 0;
    enum qz_status rc;

    if ((rc = qz_safefile_target(out, &there, err)) || (rc = qz_safefile_check_dir(out, err)))
        return rc;
    if (there && stat(path, &a) == 0 && stat(out, &b) == 0 && a.st_dev == b.st_dev &&
        a.st_ino == b.st_ino)
        return qz_error_set(err, QZ_EARGS, "export: -o %s is the record file itself", out);
    return QZ_OK;
}

static enum qz_status stream(FILE *f, struct xrun *x, size_t n, enum qz_export_what what,
                             const char *path, struct qz_error *err)
{
    for (size_t i = 0; i < n; i++) {
        enum qz_status rc = what == QZ_EXPORT_SELECTED ? export_selected(f, &x[i])
                            : what == QZ_EXPORT_TOP    ? export_top(f, &x[i])
                                                       : export_all(f, &x[i]);
        if (rc)
            return qz_h5_fail(err, rc, "%s: run \"%s\": cannot read its samples", path, x[i].name);
        if (ferror(f))
            return qz_error_set(err, QZ_EIO, "export: cannot write the lines of run \"%s\"",
                                x[i].name);
    }
    return QZ_OK;
}

enum qz_status qz_export(const char *path, const char *run, enum qz_export_what what,
                         const char *out, FILE *stdout_stream, struct qz_error *err)
{
    struct qz_h5_quiet quiet;
    struct qz_runlist list = {0};
    struct qz_safefile sf;
    struct xrun *x = NULL;
    hid_t file = H5I_INVALID_HID, runs = H5I_INVALID_HID;
    FILE *f = NULL;
    char *obuf = NULL;
    int began = 0, found = 0;
    enum qz_status rc;

    memset(&sf, 0, sizeof sf);
    sf.fd = -1;
    qz_h5_silence(&quiet);
    if ((rc = qz_output_open(path, &file, err)) || (rc = qz_runlist_read(file, path, &list, err)))
        goto done;
    qz_runlist_filter(&list, run, &found);
    if (!found) {
        rc = qz_error_set(err, QZ_EARGS, "export: %s has no run \"%s\" (see quantilize inspect)",
                          path, run);
        goto done;
    }
    if ((runs = H5Gopen2(file, "runs", H5P_DEFAULT)) < 0 || !(x = calloc(list.n, sizeof *x))) {
        rc = runs < 0 ? qz_h5_fail(err, QZ_EHDF5, "%s: cannot read /runs", path)
                      : qz_error_set(err, QZ_ENOMEM, "export: out of memory");
        goto done;
    }
    for (size_t i = 0; i < list.n; i++)
        x[i].g = H5I_INVALID_HID;
    for (size_t i = 0; i < list.n && rc == QZ_OK; i++) {
        x[i].name = list.name[i];
        rc = open_run(file, runs, path, &x[i], what, err);
    }
    if (rc || (out && (rc = check_output(path, out, err))))
        goto done;
    if (out) {
        if ((rc = qz_safefile_begin(out, 0, &sf, err)))
            goto done;
        began = 1;
        if (!(f = fdopen(sf.fd, "w"))) {
            rc = qz_error_set(err, QZ_EIO, "export: cannot write %s", sf.tmp);
            goto done;
        }
        sf.fd = -1; /* f owns it now */
    } else {
        f = stdout_stream;
    }
    /* A large buffer for a file; stdout keeps its own (it may have been written to). */
    if (out && (obuf = malloc(OUT_BUFFER)))
        setvbuf(f, obuf, _IOFBF, OUT_BUFFER);
    rc = stream(f, x, list.n, what, path, err);
    if (rc == QZ_OK && (fflush(f) != 0 || ferror(f)))
        rc = qz_error_set(err, QZ_EIO, "export: cannot write %s", out ? sf.tmp : "stdout");
    if (out) {
        if (fclose(f) != 0 && rc == QZ_OK)
            rc = qz_error_set(err, QZ_EIO, "export: cannot write %s", sf.tmp);
        f = NULL;
        if (rc == QZ_OK) {
            rc = qz_safefile_commit(&sf, err);
            began = 0;
        }
    }
done:
    if (out && f)
        fclose(f);
    if (began)
        qz_safefile_abort(&sf);
    free(obuf);
    for (size_t i = 0; x && i < list.n; i++)
        close_run(&x[i]);
    free(x);
    qz_runlist_free(&list);
    if (runs >= 0)
        H5Gclose(runs);
    if (file >= 0)
        H5Fclose(file);
    qz_h5_restore(&quiet);
    return rc;
}
