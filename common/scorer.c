#include "scorer.h"

#include <stddef.h>

/* The registry: job kind -> backend. Adding a backend is one file and one line. */
static const struct {
    const char *kind;
    const struct qz_scorer_ops *ops;
} registry[] = {
    {"value", &qz_score_value_ops},
    {"component", &qz_score_component_ops},
    {"length", &qz_score_length_ops},
    {"regex", &qz_score_regex_ops},
    {"logprob_mean", &qz_score_logprob_mean_ops},
    {"logprob_sum", &qz_score_logprob_sum_ops},
    {"exec", &qz_score_exec_ops},
    {"plugin", &qz_score_plugin_ops},
    {"http", &qz_score_http_ops},
    {NULL, NULL},
};

enum qz_status qz_score_open(struct qz_score *sc, const cJSON *spec, const struct qz_jv *at,
                             struct qz_error *err)
{
    int i;
    enum qz_status rc;

    sc->ops = NULL;
    sc->state = NULL;
    if ((rc = qz_jv_kind(at, spec, registry, sizeof *registry, &i, err)))
        return rc;
    sc->ops = registry[i].ops;
    return sc->ops->open(&sc->state, spec, at, err);
}

void qz_score_close(struct qz_score *sc)
{
    if (sc->ops && sc->ops->close)
        sc->ops->close(sc->state);
    sc->ops = NULL;
    sc->state = NULL;
}
