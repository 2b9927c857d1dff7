#include "scorer.h"

#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* The registry: every scorer serves one kind, its ops' name. Adding a backend is one
 * file and one line. */
static const struct qz_scorer_ops *const registry[] = {
    &qz_score_value_ops,
    &qz_score_component_ops,
    &qz_score_length_ops,
    &qz_score_regex_ops,
    &qz_score_logprob_mean_ops,
    &qz_score_logprob_sum_ops,
    &qz_score_exec_ops,
    &qz_score_plugin_ops,
    &qz_score_http_ops,
    &qz_score_exact_match_ops,
    &qz_score_contains_ops,
    &qz_score_regex_match_ops,
    NULL,
};

/* The spec's "range", validated: [a, b] finite with a < b (1), absent (0). */
static enum qz_status parse_range(const struct qz_jv *at, const cJSON *spec, double *lo, double *hi,
                                  int *given, struct qz_error *err)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(spec, "range");

    *given = 0;
    if (!r)
        return QZ_OK;
    if (!cJSON_IsArray(r) || cJSON_GetArraySize(r) != 2 ||
        !cJSON_IsNumber(cJSON_GetArrayItem(r, 0)) || !cJSON_IsNumber(cJSON_GetArrayItem(r, 1)))
        return qz_jv_fail(at, "range", r, err, "must be [low, high], two numbers");
    *lo = cJSON_GetArrayItem(r, 0)->valuedouble;
    *hi = cJSON_GetArrayItem(r, 1)->valuedouble;
    if (!isfinite(*lo) || !isfinite(*hi) || !(*lo < *hi))
        return qz_jv_fail(at, "range", r, err, "must be finite with low < high");
    *given = 1;
    return QZ_OK;
}

enum qz_status qz_score_open(struct qz_score *sc, const cJSON *spec, const struct qz_jv *at,
                             struct qz_error *err)
{
    const char *kinds[sizeof registry / sizeof *registry];
    double lo = 0, hi = 0;
    int i, given;
    enum qz_status rc;

    memset(sc, 0, sizeof *sc);
    for (size_t k = 0; k < sizeof registry / sizeof *registry; k++)
        kinds[k] = registry[k] ? registry[k]->name : NULL;
    if ((rc = qz_jv_kind(at, spec, kinds, sizeof *kinds, &i, err)) ||
        (rc = parse_range(at, spec, &lo, &hi, &given, err)))
        return rc;
    sc->ops = registry[i];
    snprintf(sc->path, sizeof sc->path, "%s", at->path);
    if (sc->ops->binary) {
        if (given)
            return qz_jv_fail(at, "range", cJSON_GetObjectItemCaseSensitive(spec, "range"), err,
                              "is known: \"%s\" scores are 0 or 1", sc->ops->name);
        sc->range = (struct qz_ci_range){1, 0.0, 1.0, 1};
    }
    if (given) {
        /* The backend validates the rest of the spec: it gets a copy without "range"
         * (kept while the scorer is open: a backend may point into its spec). */
        if (!(sc->spec = cJSON_Duplicate(spec, 1)))
            return qz_error_set(err, QZ_ENOMEM, "out of memory");
        cJSON_DeleteItemFromObjectCaseSensitive(sc->spec, "range");
        spec = sc->spec;
        sc->range = (struct qz_ci_range){1, lo, hi, 0};
        sc->declared = 1;
    }
    return sc->ops->open(&sc->state, spec, at, err);
}

void qz_score_range_of(const cJSON *spec, struct qz_ci_range *r)
{
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(spec, "kind");
    const cJSON *range = cJSON_GetObjectItemCaseSensitive(spec, "range");
    const struct qz_scorer_ops *ops =
        qz_score_ops_of(cJSON_IsString(kind) ? kind->valuestring : NULL);

    memset(r, 0, sizeof *r);
    if (cJSON_GetArraySize(range) == 2 && cJSON_IsNumber(cJSON_GetArrayItem(range, 0)) &&
        cJSON_IsNumber(cJSON_GetArrayItem(range, 1)))
        *r = (struct qz_ci_range){1, cJSON_GetArrayItem(range, 0)->valuedouble,
                                  cJSON_GetArrayItem(range, 1)->valuedouble, 0};
    else if (ops && ops->binary)
        *r = (struct qz_ci_range){1, 0.0, 1.0, 1};
}

enum qz_status qz_score_check(const struct qz_score *sc, const struct qz_batch *b,
                              const double *scores, struct qz_error *err)
{
    if (!sc->declared)
        return QZ_OK;
    for (size_t j = 0; j < b->n; j++)
        if (scores[j] < sc->range.low || scores[j] > sc->range.high)
            return qz_error_set(err, QZ_EINVALID,
                                "%s: \"%s\" gave sample %" PRIu64
                                " the score %.17g, outside its declared range [%.17g, %.17g]",
                                sc->path, sc->ops->name, b->first + j, scores[j], sc->range.low,
                                sc->range.high);
    return QZ_OK;
}

const struct qz_scorer_ops *qz_score_ops_of(const char *kind)
{
    for (size_t i = 0; kind && registry[i]; i++)
        if (strcmp(registry[i]->name, kind) == 0)
            return registry[i];
    return NULL;
}

void qz_score_close(struct qz_score *sc)
{
    if (sc->ops && sc->ops->close)
        sc->ops->close(sc->state);
    cJSON_Delete(sc->spec);
    sc->spec = NULL;
    sc->ops = NULL;
    sc->state = NULL;
}
