#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exactsum.h"
#include "sweep.h"

static const char *const scope_choices[] = {"top", "all", NULL};

/* A metric's name: 1 to QZ_METRIC_NAME_MAX characters of [A-Za-z0-9_.-]. */
static const char *name_problem(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > QZ_METRIC_NAME_MAX)
        return "a metric's name must have 1 to 64 characters";
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return "a metric's name may hold only letters, digits, '_', '.' and '-'";
    }
    return NULL;
}

/* Open metric `item` (named item->string) into m. */
static enum qz_status open_one(struct qz_metric *m, const cJSON *item, const struct qz_jv *at,
                               int text, int logprobs, cJSON *(*task)(const cJSON *, void *),
                               void *arg, struct qz_error *err)
{
    struct qz_jv sub;
    const char *problem = name_problem(item->string);
    int scope;
    enum qz_status rc;

    if (problem)
        return qz_jv_fail(at, item->string, NULL, err, "%s", problem);
    qz_jv_child(at, item->string, &sub);
    if (!cJSON_IsObject(item))
        return qz_jv_fail(at, item->string, item, err, "must be a scorer spec (an object)");
    if ((rc = qz_jv_choice(&sub, item, "scope", 0, QZ_METRIC_TOP, scope_choices, &scope, err)))
        return rc;
    snprintf(m->name, sizeof m->name, "%s", item->string);
    m->scope = (enum qz_metric_scope)scope;
    m->spec = task && qz_metric_takes_reference(item) ? task(item, arg) : cJSON_Duplicate(item, 1);
    if (!m->spec)
        return qz_error_set(err, QZ_ENOMEM, "out of memory opening %s", sub.path);
    cJSON_DeleteItemFromObjectCaseSensitive(m->spec, "scope");
    if ((rc = qz_score_open(&m->sc, m->spec, &sub, err)))
        return rc;
    if (m->sc.ops->needs_text && !text)
        return qz_jv_fail(&sub, "kind", NULL, err,
                          "\"%s\" scores text, but the generator draws numbers", m->sc.ops->name);
    if (m->sc.ops->needs_numbers && text)
        return qz_jv_fail(&sub, "kind", NULL, err,
                          "\"%s\" scores numbers, but the generator draws text", m->sc.ops->name);
    if (m->sc.ops->needs_logprobs && !logprobs)
        return qz_jv_fail(&sub, "kind", NULL, err, "\"%s\" needs generator.logprobs: true",
                          m->sc.ops->name);
    return QZ_OK;
}

enum qz_status qz_metrics_open(struct qz_metrics *ms, const cJSON *obj, const struct qz_jv *at,
                               int text, int logprobs, cJSON *(*task)(const cJSON *spec, void *arg),
                               void *arg, struct qz_error *err)
{
    const cJSON *item;
    enum qz_status rc = QZ_OK;

    memset(ms, 0, sizeof *ms);
    if (!obj)
        return QZ_OK;
    if (!cJSON_IsObject(obj))
        return qz_jv_fail(at, NULL, obj, err, "must be an object of NAME: scorer spec");
    if (cJSON_GetArraySize(obj) > QZ_METRICS_MAX)
        return qz_jv_fail(at, NULL, NULL, err, "holds %d metrics, at most %d are allowed",
                          cJSON_GetArraySize(obj), QZ_METRICS_MAX);
    cJSON_ArrayForEach(item, obj)
    {
        for (size_t j = 0; j < ms->n && !rc; j++)
            if (strcmp(ms->m[j].name, item->string) == 0)
                rc = qz_jv_fail(at, item->string, NULL, err, "is given twice");
        if (rc || (rc = open_one(&ms->m[ms->n++], item, at, text, logprobs, task, arg, err)))
            break;
    }
    if (rc)
        qz_metrics_close(ms);
    return rc;
}

int qz_metric_takes_reference(const cJSON *spec)
{
    static const char *const matching[] = {"exact_match", "contains", "regex_match", NULL};
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(spec, "kind");

    if (cJSON_GetObjectItemCaseSensitive(spec, "reference"))
        return 1;
    for (size_t i = 0; cJSON_IsString(kind) && matching[i]; i++)
        if (strcmp(kind->valuestring, matching[i]) == 0)
            return 1;
    return 0;
}

void qz_metrics_close(struct qz_metrics *ms)
{
    for (size_t i = 0; i < ms->n; i++) {
        qz_score_close(&ms->m[i].sc);
        cJSON_Delete(ms->m[i].spec);
    }
    memset(ms, 0, sizeof *ms);
}

enum qz_status qz_metric_score(const struct qz_metric *m, const struct qz_batch *b, double *out,
                               struct qz_error *err)
{
    const double *v = m->sc.ops->view ? m->sc.ops->view(b) : NULL;
    enum qz_status rc;

    if (v)
        memcpy(out, v, b->n * sizeof *out);
    else if ((rc = m->sc.ops->score(m->sc.state, b, out, err)))
        return rc;
    return qz_score_check(&m->sc, b, out, err); /* a declared "range" holds */
}

static void fig_nan(struct qz_metric_fig *out)
{
    out->mean = out->stderr_ = out->low = out->high = NAN;
}

void qz_metric_quantilized(const double *v, uint64_t k, double m, double q,
                           const struct qz_ci_range *range, double confidence,
                           struct qz_metric_fig *out)
{
    struct qz_exactsum s1, s2, window;
    struct qz_ci_sample s;
    struct qz_ci ci;
    uint64_t w = qz_sweep_window(k);

    out->method = qz_ci_choose(range);
    for (uint64_t p = 0; p < k; p++)
        if (isnan(v[p])) {
            fig_nan(out);
            return;
        }
    qz_exactsum_init(&s1);
    qz_exactsum_init(&s2);
    qz_exactsum_init(&window);
    for (uint64_t p = 0; p + 1 < k; p++) {
        qz_exactsum_add(&s1, v[p]);
        qz_exactsum_add(&s2, v[p] * v[p]);
    }
    for (uint64_t p = k - w; p < k; p++)
        qz_exactsum_add(&window, v[p]);
    out->mean = qz_sweep_mean(&s1, v[k - 1], m, k);
    qz_ci_sample_top(qz_exactsum_value(&s2), v[k - 1], out->mean, m, k, q,
                     qz_exactsum_value(&window) / (double)w, &s);
    qz_ci_interval(&s, range, confidence, &ci);
    out->stderr_ = ci.stderr_;
    out->low = ci.low;
    out->high = ci.high;
    out->method = ci.method;
}

void qz_metric_base(double s1, double s2, uint64_t n, const struct qz_ci_range *range,
                    double confidence, struct qz_metric_fig *out)
{
    struct qz_ci_sample s;
    struct qz_ci ci;
    double se;

    out->method = qz_ci_choose(range);
    qz_sweep_base_cost(s1, s2, n, &out->mean, &se);
    if (n == 0) {
        fig_nan(out);
        return;
    }
    qz_ci_sample_sums(s1, s2, (double)n, &s);
    qz_ci_interval(&s, range, confidence, &ci);
    out->stderr_ = se;
    out->low = ci.low;
    out->high = ci.high;
    out->method = ci.method;
}

void qz_metric_results_free(struct qz_metric_result *r, size_t n)
{
    for (size_t i = 0; r && i < n; i++) {
        free(r[i].top);
        free(r[i].sweep);
    }
    free(r);
}
