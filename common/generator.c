#include "generator.h"

#include <stdlib.h>
#include <string.h>

/* The registry: job kind -> backend. Adding a backend is one file and one line
 * in each array. */
static const char *const registry_kinds[] = {
    "uniform", "normal", "lognormal", "pareto", "discrete_uniform", "fail", "mixture", NULL,
};
static const struct qz_generator_ops *const registry_ops[] = {
    &qz_gen_builtin_ops, &qz_gen_builtin_ops, &qz_gen_builtin_ops, &qz_gen_builtin_ops,
    &qz_gen_builtin_ops, &qz_gen_builtin_ops, &qz_gen_builtin_ops,
};

enum qz_status qz_batch_init(struct qz_batch *b, size_t cap, struct qz_error *err)
{
    memset(b, 0, sizeof *b);
    b->cap = cap;
    b->value = malloc(cap * sizeof *b->value);
    b->component_cost = malloc(cap * sizeof *b->component_cost);
    b->utility = malloc(cap * sizeof *b->utility);
    b->cost = malloc(cap * sizeof *b->cost);
    if (!b->value || !b->component_cost || !b->utility || !b->cost) {
        qz_batch_free(b);
        return qz_error_set(err, QZ_ENOMEM, "out of memory for a batch of %zu samples", cap);
    }
    return QZ_OK;
}

void qz_batch_free(struct qz_batch *b)
{
    free(b->value);
    free(b->component_cost);
    free(b->utility);
    free(b->cost);
    memset(b, 0, sizeof *b);
}

enum qz_status qz_gen_open(struct qz_gen *gen, const cJSON *spec, const struct qz_jv *at,
                           uint64_t seed, struct qz_error *err)
{
    int i;
    enum qz_status rc;

    gen->ops = NULL;
    gen->state = NULL;
    if (!cJSON_IsObject(spec))
        return qz_jv_fail(at, NULL, spec, err, "must be a JSON object");
    rc = qz_jv_choice(at, spec, "kind", 1, 0, registry_kinds, &i, err);
    if (rc)
        return rc;
    gen->ops = registry_ops[i];
    return gen->ops->open(&gen->state, spec, at, seed, err);
}

void qz_gen_close(struct qz_gen *gen)
{
    if (gen->ops && gen->state)
        gen->ops->close(gen->state);
    gen->ops = NULL;
    gen->state = NULL;
}
