/* Built-in scorers for numeric samples. They keep no state. */
#include <string.h>

#include "scorer.h"

static const char *const kind_only[] = {"kind", NULL};

static enum qz_status open_stateless(struct qz_scorer **s, const cJSON *spec,
                                     const struct qz_jv *at, struct qz_error *err)
{
    *s = NULL;
    return qz_jv_fields(at, spec, kind_only, err);
}

static enum qz_status score_value(struct qz_scorer *s, const struct qz_batch *b, double *out,
                                  struct qz_error *err)
{
    (void)s;
    (void)err;
    memcpy(out, b->value, b->n * sizeof *out);
    return QZ_OK;
}

static const double *view_value(const struct qz_batch *b)
{
    return b->value;
}

static const double *view_component(const struct qz_batch *b)
{
    return b->component_cost_valid ? b->component_cost : NULL;
}

static enum qz_status score_component(struct qz_scorer *s, const struct qz_batch *b, double *out,
                                      struct qz_error *err)
{
    (void)s;
    (void)err;
    if (b->component_cost_valid)
        memcpy(out, b->component_cost, b->n * sizeof *out);
    else
        memset(out, 0, b->n * sizeof *out); /* all 0.0: no mixture, no component cost */
    return QZ_OK;
}

const struct qz_scorer_ops qz_score_value_ops = {
    .name = "value",
    .open = open_stateless,
    .score = score_value,
    .view = view_value,
    .close = NULL,
    .needs_numbers = 1,
};

const struct qz_scorer_ops qz_score_component_ops = {
    .name = "component",
    .open = open_stateless,
    .score = score_component,
    .view = view_component,
    .close = NULL,
    .needs_numbers = 1,
};
