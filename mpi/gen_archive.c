#include "gen_archive.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "format.h"
#include "h5util.h"
#include "job.h"
#include "output.h"
#include "runname.h"
#include "select.h"
#include "sweep.h"

#define QZ_READ_BLOCK ((size_t)1 << 20) /* samples read per H5Dread */

enum { F_UTILITY, F_COST, F_VALUE, F_COUNT };
static const char *const field_names[F_COUNT] = {"utility", "cost", "value"};

struct qz_generator {
    hid_t file;
    hid_t dset[F_COUNT];  /* negative when absent */
    int value_is_utility; /* no samples/value, but the source's utility was the value */
    uint64_t samples;
    double *buf[F_COUNT];  /* samples buf_first .. buf_first + buf_n - 1 */
    hid_t off, len, bytes; /* text archives: payload_offset, _length, _bytes; else < 0 */
    uint64_t *toff, *tlen; /* one batch's offsets and lengths */
    char *tbuf;            /* one batch's texts */
    size_t tbuf_size;
    uint64_t buf_first;
    size_t buf_n;
};

static void archive_close(struct qz_generator *g)
{
    if (!g)
        return;
    for (int f = 0; f < F_COUNT; f++) {
        if (g->dset[f] >= 0)
            H5Dclose(g->dset[f]);
        free(g->buf[f]);
    }
    if (g->off >= 0)
        H5Dclose(g->off);
    if (g->len >= 0)
        H5Dclose(g->len);
    if (g->bytes >= 0)
        H5Dclose(g->bytes);
    if (g->file >= 0)
        H5Fclose(g->file);
    free(g->toff);
    free(g->tlen);
    free(g->tbuf);
    free(g);
}

/* The texts of samples first .. first+n-1 into out (their bytes are contiguous: the
 * archive keeps texts in sample order). */
static int read_texts(struct qz_generator *g, uint64_t first, size_t n, struct qz_batch *out,
                      struct qz_error *err)
{
    uint64_t from, to;

    if (!g->toff && (!(g->toff = malloc(out->cap * sizeof *g->toff)) ||
                     !(g->tlen = malloc(out->cap * sizeof *g->tlen))))
        return 0;
    if (qz_h5_read_range(g->off, H5T_NATIVE_UINT64, first, n, g->toff) ||
        qz_h5_read_range(g->len, H5T_NATIVE_UINT64, first, n, g->tlen))
        return 0;
    from = g->toff[0];
    to = g->toff[n - 1] + g->tlen[n - 1];
    if (to < from || to - from > SIZE_MAX / 2)
        return 0;
    if (to - from > g->tbuf_size) {
        char *grown = realloc(g->tbuf, to - from);
        if (!grown)
            return 0;
        g->tbuf = grown;
        g->tbuf_size = to - from;
    }
    if (qz_h5_read_range(g->bytes, H5T_NATIVE_UCHAR, from, to - from, g->tbuf))
        return 0;
    qz_batch_clear_text(out);
    for (size_t j = 0; j < n; j++) {
        if (g->toff[j] < from || g->toff[j] + g->tlen[j] > to ||
            qz_batch_put_text(out, j, g->tbuf + (g->toff[j] - from), g->tlen[j], err))
            return 0;
        out->value[j] = out->utility[j] == out->utility[j] ? 0 : NAN;
    }
    return 1;
}

/* Read the block of samples from `first` of every present field into the buffers. */
static int refill(struct qz_generator *g, uint64_t first)
{
    size_t count =
        g->samples - first < QZ_READ_BLOCK ? (size_t)(g->samples - first) : QZ_READ_BLOCK;
    int ok = 1;

    for (int f = 0; ok && f < F_COUNT; f++)
        if (g->dset[f] >= 0)
            ok = qz_h5_read_range(g->dset[f], H5T_NATIVE_DOUBLE, first, count, g->buf[f]) == QZ_OK;
    g->buf_first = first;
    g->buf_n = ok ? count : 0;
    return ok;
}

static enum qz_status archive_draw(struct qz_generator *g, uint64_t first, size_t n,
                                   struct qz_batch *out, struct qz_error *err)
{
    struct qz_h5_quiet quiet;

    for (size_t j = 0; j < n;) {
        uint64_t i = first + j;
        size_t at, take;
        if (i < g->buf_first || i >= g->buf_first + g->buf_n) {
            int ok;
            qz_h5_silence(&quiet);
            ok = refill(g, i);
            if (!ok) {
                enum qz_status rc =
                    qz_h5_fail(err, QZ_EHDF5, "cannot read archived samples from %llu on",
                               (unsigned long long)i);
                qz_h5_restore(&quiet);
                return rc;
            }
            qz_h5_restore(&quiet);
        }
        at = (size_t)(i - g->buf_first);
        take = g->buf_n - at < n - j ? g->buf_n - at : n - j;
        memcpy(out->utility + j, g->buf[F_UTILITY] + at, take * sizeof(double));
        if (g->dset[F_COST] >= 0)
            memcpy(out->component_cost + j, g->buf[F_COST] + at, take * sizeof(double));
        if (g->dset[F_VALUE] >= 0)
            memcpy(out->value + j, g->buf[F_VALUE] + at, take * sizeof(double));
        else if (g->value_is_utility)
            memcpy(out->value + j, g->buf[F_UTILITY] + at, take * sizeof(double));
        else
            for (size_t k = 0; k < take; k++)
                out->value[j + k] = NAN;
        j += take;
    }
    if (g->bytes >= 0) {
        int ok;
        qz_h5_silence(&quiet);
        ok = read_texts(g, first, n, out, err);
        if (!ok) {
            enum qz_status rc =
                qz_h5_fail(err, QZ_EHDF5, "cannot read the archived texts of samples %llu to %llu",
                           (unsigned long long)first, (unsigned long long)(first + n - 1));
            qz_h5_restore(&quiet);
            return rc;
        }
        qz_h5_restore(&quiet);
    }
    out->first = first;
    out->n = n;
    out->component_cost_valid = g->dset[F_COST] >= 0;
    return QZ_OK;
}

static int archive_text(const struct qz_generator *g)
{
    return g->bytes >= 0;
}

static int archive_has_cost(const struct qz_generator *g)
{
    return g->dset[F_COST] >= 0;
}

static const struct qz_generator_ops archive_ops = {
    .name = "archive",
    .open = NULL, /* opened by qz_gen_archive_open only */
    .draw = archive_draw,
    .has_component_cost = archive_has_cost,
    .produces_text = archive_text,
    .close = archive_close,
};

/* 1 if the job JSON's utility is the sample's value (kind "value", or no utility). */
static int utility_is_value(const char *job_json)
{
    cJSON *job = cJSON_Parse(job_json);
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(job, "utility");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(u, "kind");
    int yes = job && (!u || (cJSON_IsString(kind) && strcmp(kind->valuestring, "value") == 0));
    cJSON_Delete(job);
    return yes;
}

enum qz_status qz_gen_archive_open(const char *path, const char *run, struct qz_gen *gen,
                                   struct qz_archive_source *src, struct qz_error *err)
{
    struct qz_h5_quiet quiet;
    struct qz_generator *g = calloc(1, sizeof *g);
    size_t len = strlen(run) + 64;
    char *where = malloc(len);
    hid_t group = H5I_INVALID_HID;
    enum qz_status rc = QZ_OK;

    memset(src, 0, sizeof *src);
    gen->ops = NULL;
    gen->state = NULL;
    if (!g || !where) {
        free(g);
        free(where);
        return qz_error_set(err, QZ_ENOMEM, "out of memory");
    }
    g->file = g->off = g->len = g->bytes = H5I_INVALID_HID;
    for (int f = 0; f < F_COUNT; f++)
        g->dset[f] = H5I_INVALID_HID;
    qz_h5_silence(&quiet);
    if ((rc = qz_output_open(path, &g->file, err)))
        goto done;
    snprintf(where, len, "/runs/%s", run);
    if (H5Lexists(g->file, "runs", H5P_DEFAULT) <= 0 ||
        H5Lexists(g->file, where, H5P_DEFAULT) <= 0) {
        rc = qz_error_set(err, QZ_EARGS, "%s: no run \"%s\"", path, run);
        goto done;
    }
    group = H5Gopen2(g->file, where, H5P_DEFAULT);
    snprintf(where, len, "/runs/%s/samples/utility", run);
    if (group < 0 || H5Lexists(group, "samples", H5P_DEFAULT) <= 0 ||
        H5Lexists(g->file, where, H5P_DEFAULT) <= 0) {
        rc = qz_error_set(err, QZ_EARGS,
                          "%s: run \"%s\" has no archive (samples/): only a run written with "
                          "output.archive can be selected from again",
                          path, run);
        goto done;
    }
    if (qz_h5_read_num_attr(group, "samples", H5T_NATIVE_UINT64, &src->samples, NULL) ||
        qz_h5_read_num_attr(group, "seed", H5T_NATIVE_UINT64, &src->seed, NULL) ||
        qz_h5_read_num_attr(group, "chunk_size", H5T_NATIVE_UINT64, &src->chunk_size, NULL) ||
        qz_h5_read_string_attr(group, "job", &src->job_json, NULL) || src->samples == 0 ||
        src->chunk_size == 0) {
        rc = qz_error_set(err, QZ_EARGS,
                          "%s: run \"%s\" lacks samples, seed, chunk_size or job: not a complete "
                          "record",
                          path, run);
        goto done;
    }
    g->samples = src->samples;
    for (int f = 0; f < F_COUNT && !rc; f++) {
        hid_t space;
        hsize_t n = 0;
        snprintf(where, len, "/runs/%s/samples/%s", run, field_names[f]);
        if (H5Lexists(g->file, where, H5P_DEFAULT) <= 0)
            continue;
        g->dset[f] = H5Dopen2(g->file, where, H5P_DEFAULT);
        space = g->dset[f] >= 0 ? H5Dget_space(g->dset[f]) : -1;
        if (space < 0 || H5Sget_simple_extent_ndims(space) != 1 ||
            H5Sget_simple_extent_dims(space, &n, NULL) != 1 || n != src->samples)
            rc = qz_error_set(err, QZ_EARGS, "%s: %s does not hold %llu samples", path, where,
                              (unsigned long long)src->samples);
        else if (!(g->buf[f] = malloc(QZ_READ_BLOCK * sizeof(double))))
            rc = qz_error_set(err, QZ_ENOMEM, "out of memory");
        if (space >= 0)
            H5Sclose(space);
    }
    snprintf(where, len, "/runs/%s/samples/payload_bytes", run);
    if (!rc && H5Lexists(g->file, where, H5P_DEFAULT) > 0) {
        g->bytes = H5Dopen2(g->file, where, H5P_DEFAULT);
        snprintf(where, len, "/runs/%s/samples/payload_offset", run);
        g->off = H5Dopen2(g->file, where, H5P_DEFAULT);
        snprintf(where, len, "/runs/%s/samples/payload_length", run);
        g->len = H5Dopen2(g->file, where, H5P_DEFAULT);
        if (g->bytes < 0 || g->off < 0 || g->len < 0)
            rc = qz_error_set(err, QZ_EARGS, "%s: run \"%s\" has an incomplete text archive", path,
                              run);
    }
    src->has_cost = g->dset[F_COST] >= 0;
    g->value_is_utility = g->dset[F_VALUE] < 0 && utility_is_value(src->job_json);
done:
    if (group >= 0)
        H5Gclose(group);
    qz_h5_restore(&quiet);
    free(where);
    if (rc) {
        archive_close(g);
        qz_archive_source_free(src);
        return rc;
    }
    gen->ops = &archive_ops;
    gen->state = g;
    return QZ_OK;
}

void qz_archive_source_free(struct qz_archive_source *src)
{
    free(src->job_json);
    src->job_json = NULL;
}

static const double *view_utility(const struct qz_batch *b)
{
    return b->utility;
}

static enum qz_status archived_score(struct qz_scorer *s, const struct qz_batch *b, double *out,
                                     struct qz_error *err)
{
    (void)s;
    (void)err;
    memcpy(out, b->utility, b->n * sizeof *out);
    return QZ_OK;
}

const struct qz_scorer_ops qz_score_archived_ops = {
    .name = "archived",
    .open = NULL,
    .score = archived_score,
    .view = view_utility,
    .close = NULL,
    .needs_numbers = 1,
};

/* Metrics carried from an archive: the scores of samples/metrics/NAME, read by index
 * (no scorer is called). */
struct qz_scorer {
    hid_t dset;
};

static enum qz_status archived_metric_score(struct qz_scorer *s, const struct qz_batch *b,
                                            double *out, struct qz_error *err)
{
    struct qz_h5_quiet quiet;
    enum qz_status rc;

    qz_h5_silence(&quiet);
    rc = qz_h5_read_range(s->dset, H5T_NATIVE_DOUBLE, b->first, b->n, out);
    if (rc)
        rc = qz_h5_fail(err, rc, "cannot read the archived metric of samples %llu to %llu",
                        (unsigned long long)b->first, (unsigned long long)(b->first + b->n - 1));
    qz_h5_restore(&quiet);
    return rc;
}

static void archived_metric_close(struct qz_scorer *s)
{
    if (s && s->dset >= 0)
        H5Dclose(s->dset);
    free(s);
}

static const struct qz_scorer_ops archived_metric_ops = {
    .name = "archived",
    .open = NULL,
    .score = archived_metric_score,
    .close = archived_metric_close,
};

/* One source metric, as found in the source run. */
struct found_metric {
    char name[QZ_METRIC_NAME_MAX + 1];
    int order;
};

static herr_t list_metric(hid_t g, const char *name, const H5L_info_t *info, void *arg)
{
    struct found_metric *f = arg;
    size_t n = 0;
    (void)g;
    (void)info;
    while (n < QZ_METRICS_MAX && f[n].name[0])
        n++;
    if (n < QZ_METRICS_MAX && strlen(name) <= QZ_METRIC_NAME_MAX)
        snprintf(f[n].name, sizeof f[n].name, "%s", name);
    return 0;
}

static int by_order(const void *a, const void *b)
{
    const struct found_metric *x = a, *y = b;
    return (x->order > y->order) - (x->order < y->order);
}

/* The source run's metrics of scope "all" (its samples/metrics/NAME), carried into the
 * re-selected job in their order: the same figures from the archived scores. */
static enum qz_status carry_metrics(const struct qz_archive_select *a, struct qz_job *job,
                                    struct qz_error *err)
{
    struct qz_generator *g = job->gen.state;
    struct found_metric f[QZ_METRICS_MAX];
    cJSON *mobj = NULL;
    size_t len = strlen(a->run) + QZ_METRIC_NAME_MAX + 64, n = 0;
    char *where = malloc(len);
    struct qz_h5_quiet quiet;
    enum qz_status rc = QZ_OK;

    if (!where)
        return qz_error_set(err, QZ_ENOMEM, "out of memory");
    memset(f, 0, sizeof f);
    qz_h5_silence(&quiet);
    snprintf(where, len, "/runs/%s/samples/metrics", a->run);
    if (H5Lexists(g->file, where, H5P_DEFAULT) > 0) {
        hid_t grp = H5Gopen2(g->file, where, H5P_DEFAULT);
        if (grp < 0 || H5Literate(grp, H5_INDEX_NAME, H5_ITER_INC, NULL, list_metric, f) < 0)
            rc = qz_h5_fail(err, QZ_EHDF5, "%s: cannot list %s", a->file, where);
        if (grp >= 0)
            H5Gclose(grp);
    }
    while (n < QZ_METRICS_MAX && f[n].name[0]) {
        hid_t mg;
        snprintf(where, len, "/runs/%s/metrics/%s", a->run, f[n].name);
        mg = H5Gopen2(g->file, where, H5P_DEFAULT);
        if (mg < 0 || qz_h5_read_num_attr(mg, "order", H5T_NATIVE_INT, &f[n].order, NULL))
            rc = qz_error_set(err, QZ_EARGS, "%s: run \"%s\" has samples/metrics/%s but no %s",
                              a->file, a->run, f[n].name, where);
        if (mg >= 0)
            H5Gclose(mg);
        n++;
    }
    qsort(f, n, sizeof f[0], by_order);
    if (!rc && n && qz_top_count(qz_mass(a->q, job->samples)) > job->top_gather_limit)
        rc = qz_error_set(err, QZ_EARGS,
                          "%s: run \"%s\" has metrics, scored on the top set gathered on rank "
                          "0, but K at q = %g is above its top_gather_limit = %llu",
                          a->file, a->run, a->q, (unsigned long long)job->top_gather_limit);
    if (!rc && n && !(mobj = cJSON_AddObjectToObject(job->json, "metrics")))
        rc = qz_error_set(err, QZ_ENOMEM, "out of memory");
    for (size_t k = 0; k < n && !rc; k++) {
        struct qz_metric *m = &job->metrics.m[k];
        struct qz_scorer *s = malloc(sizeof *s);
        char *kind = NULL, *method = NULL;
        hid_t mg;
        cJSON *spec = cJSON_AddObjectToObject(mobj, f[k].name);
        if (!s || !spec) {
            free(s);
            rc = qz_error_set(err, QZ_ENOMEM, "out of memory");
            break;
        }
        job->metrics.n = k + 1;
        snprintf(m->name, sizeof m->name, "%s", f[k].name);
        m->scope = QZ_METRIC_ALL;
        m->sc.ops = &archived_metric_ops;
        m->sc.state = s;
        snprintf(where, len, "/runs/%s/samples/metrics/%s", a->run, f[k].name);
        s->dset = H5Dopen2(g->file, where, H5P_DEFAULT);
        snprintf(where, len, "/runs/%s/metrics/%s", a->run, f[k].name);
        mg = H5Gopen2(g->file, where, H5P_DEFAULT);
        if (s->dset < 0 || mg < 0 || qz_h5_read_string_attr(mg, "kind", &kind, NULL) ||
            qz_h5_read_string_attr(mg, "ci_method", &method, NULL))
            rc = qz_error_set(err, QZ_EARGS, "%s: run \"%s\": metric %s is incomplete", a->file,
                              a->run, f[k].name);
        else {
            /* what the source knew of the values: 0/1 when its interval was exact */
            snprintf(m->kind, sizeof m->kind, "%s", kind);
            if (strcmp(method, "clopper-pearson") == 0)
                m->sc.range = (struct qz_ci_range){1, 0.0, 1.0, 1};
            cJSON_AddStringToObject(spec, "kind", "archived");
            cJSON_AddStringToObject(spec, "scope", "all");
        }
        if (mg >= 0)
            H5Gclose(mg);
        free(kind);
        free(method);
    }
    qz_h5_restore(&quiet);
    free(where);
    return rc;
}

enum qz_status qz_gen_archive_job(const struct qz_archive_select *a, struct qz_job *job,
                                  struct qz_error *err)
{
    struct qz_archive_source src;
    cJSON *j = NULL, *gen = NULL, *util, *sjob = NULL, *confidence;
    const cJSON *invalid, *output, *gather;
    struct qz_jv at = {.file = a->file, .path = "cost"};
    char name[QZ_NAME_MAX + 1], qtext[32];
    enum qz_status rc;

    memset(job, 0, sizeof *job);
    if ((rc = qz_gen_archive_open(a->file, a->run, &job->gen, &src, err)))
        return rc;
    sjob = cJSON_Parse(src.job_json);
    if (!cJSON_IsObject(sjob)) {
        const char *bad = cJSON_GetErrorPtr();
        size_t at_byte = sjob || !bad || bad < src.job_json ? 0 : (size_t)(bad - src.job_json);
        if (sjob)
            rc = qz_error_set(err, QZ_EARGS,
                              "%s: run \"%s\": attribute job is not valid JSON (not a JSON "
                              "object)",
                              a->file, a->run);
        else
            rc =
                qz_error_set(err, QZ_EARGS,
                             "%s: run \"%s\": attribute job is not valid JSON (a syntax error near "
                             "byte %zu of %zu)",
                             a->file, a->run, at_byte, strlen(src.job_json));
        goto done;
    }
    invalid = cJSON_GetObjectItemCaseSensitive(sjob, "invalid");
    output = cJSON_GetObjectItemCaseSensitive(sjob, "output");
    gather = cJSON_GetObjectItemCaseSensitive(output, "top_gather_limit");
    if (a->name)
        snprintf(name, sizeof name, "%s", a->name);
    else {
        /* a task's run NAME/tasks/ID gives NAME-tasks-ID-qQ */
        qz_format_exact(qtext, sizeof qtext, a->q);
        qz_name_derive(name, sizeof name, a->run, "-q%s", qtext);
    }
    j = cJSON_CreateObject();
    gen = cJSON_CreateObject();
    util = cJSON_CreateObject();
    if (!j || !gen || !util || !sjob) {
        cJSON_Delete(util);
        rc = qz_error_set(err, QZ_ENOMEM, "out of memory");
        goto done;
    }
    cJSON_AddStringToObject(j, "name", name);
    cJSON_AddNumberToObject(j, "seed", (double)(a->has_seed ? a->seed : src.seed));
    cJSON_AddNumberToObject(j, "q", a->q);
    cJSON_AddNumberToObject(j, "samples", (double)src.samples);
    cJSON_AddNumberToObject(j, "chunk_size", (double)src.chunk_size);
    cJSON_AddStringToObject(j, "invalid", cJSON_IsString(invalid) ? invalid->valuestring : "error");
    cJSON_AddStringToObject(gen, "kind", "archive");
    cJSON_AddStringToObject(gen, "file", a->file);
    cJSON_AddStringToObject(gen, "run", a->run);
    cJSON_AddItemToObject(j, "generator", gen);
    gen = NULL;
    cJSON_AddStringToObject(util, "kind", "archived");
    cJSON_AddItemToObject(j, "utility", util);
    if (!(job->json = j) || !(job->file = strdup(a->file))) {
        rc = qz_error_set(err, QZ_ENOMEM, "out of memory");
        goto done;
    }
    j = NULL;
    {
        struct qz_jv nat = {.file = a->file, .path = ""};
        if ((rc = qz_job_check_name(&nat, job->json, "name", err)))
            goto done;
    }
    job->name = cJSON_GetObjectItemCaseSensitive(job->json, "name")->valuestring;
    job->seed = a->has_seed ? a->seed : src.seed;
    job->q = a->q;
    job->q_list[0] = a->q;
    job->nq = 1;
    job->samples = src.samples;
    job->chunk_size = src.chunk_size;
    job->invalid = cJSON_IsString(invalid) && strcmp(invalid->valuestring, "exclude") == 0
                       ? QZ_INVALID_EXCLUDE
                       : QZ_INVALID_ERROR;
    job->output_path = a->file;
    job->output_top = 1;
    job->top_gather_limit = cJSON_IsNumber(gather) && gather->valuedouble >= 1
                                ? (uint64_t)gather->valuedouble
                                : QZ_TOP_GATHER_DEFAULT;
    job->ckpt_every = QZ_CKPT_EVERY_DEFAULT;
    /* The intervals as the source run made them: its confidence, what its job says of
     * its costs. */
    confidence = cJSON_GetObjectItemCaseSensitive(sjob, "confidence");
    job->confidence = cJSON_IsNumber(confidence) ? confidence->valuedouble : QZ_CONFIDENCE_DEFAULT;
    qz_job_ranges(sjob, &job->utility_range, &job->cost_range);
    job->utility.ops = &qz_score_archived_ops;
    if (src.has_cost) {
        cJSON *spec = cJSON_CreateObject();
        cJSON_AddStringToObject(spec, "kind", "component");
        rc = spec ? qz_score_open(&job->cost, spec, &at, err)
                  : qz_error_set(err, QZ_ENOMEM, "out of memory");
        if (spec)
            cJSON_AddItemToObject(job->json, "cost", spec);
    }
    if (!rc)
        rc = carry_metrics(a, job, err);
done:
    cJSON_Delete(j);
    cJSON_Delete(gen);
    cJSON_Delete(sjob);
    qz_archive_source_free(&src);
    if (rc)
        qz_job_free(job);
    return rc;
}
