#include "scorer.h"

#include <stddef.h>
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

enum qz_status qz_score_open(struct qz_score *sc, const cJSON *spec, const struct qz_jv *at,
                             struct qz_error *err)
{
    const char *kinds[sizeof registry / sizeof *registry];
    int i;
    enum qz_status rc;

    sc->ops = NULL;
    sc->state = NULL;
    for (size_t k = 0; k < sizeof registry / sizeof *registry; k++)
        kinds[k] = registry[k] ? registry[k]->name : NULL;
    if ((rc = qz_jv_kind(at, spec, kinds, sizeof *kinds, &i, err)))
        return rc;
    sc->ops = registry[i];
    memset(&sc->range, 0, sizeof sc->range);
    if (sc->ops->binary)
        sc->range = (struct qz_ci_range){1, 0.0, 1.0, 1};
    return sc->ops->open(&sc->state, spec, at, err);
}

void qz_score_close(struct qz_score *sc)
{
    if (sc->ops && sc->ops->close)
        sc->ops->close(sc->state);
    sc->ops = NULL;
    sc->state = NULL;
}

const struct qz_scorer_ops *qz_score_ops_of(const cJSON *spec)
{
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(spec, "kind");

    for (size_t k = 0; cJSON_IsString(kind) && registry[k]; k++)
        if (strcmp(registry[k]->name, kind->valuestring) == 0)
            return registry[k];
    return NULL;
}
