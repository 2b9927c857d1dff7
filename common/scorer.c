#include "scorer.h"

#include <stddef.h>

/* The registry: job kind -> backend. */
static const char *const registry_kinds[] = {
    "value",       "component", "length", "regex", "logprob_mean",
    "logprob_sum", "exec",      "plugin", "http",  NULL,
};
static const struct qz_scorer_ops *const registry_ops[] = {
    &qz_score_value_ops, &qz_score_component_ops,    &qz_score_length_ops,
    &qz_score_regex_ops, &qz_score_logprob_mean_ops, &qz_score_logprob_sum_ops,
    &qz_score_exec_ops,  &qz_score_plugin_ops,       &qz_score_http_ops,
};

enum qz_status qz_score_open(struct qz_score *sc, const cJSON *spec, const struct qz_jv *at,
                             struct qz_error *err)
{
    int i;
    enum qz_status rc;

    sc->ops = NULL;
    sc->state = NULL;
    if (!cJSON_IsObject(spec))
        return qz_jv_fail(at, NULL, spec, err, "must be a JSON object");
    rc = qz_jv_choice(at, spec, "kind", 1, 0, registry_kinds, &i, err);
    if (rc)
        return rc;
    sc->ops = registry_ops[i];
    return sc->ops->open(&sc->state, spec, at, err);
}

void qz_score_close(struct qz_score *sc)
{
    if (sc->ops && sc->ops->close)
        sc->ops->close(sc->state);
    sc->ops = NULL;
    sc->state = NULL;
}
