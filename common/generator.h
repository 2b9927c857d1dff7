/* Generator backends: where samples come from (the base distribution γ).
 *
 * A backend fills a const struct qz_generator_ops; the registry maps the job's
 * `generator.kind` to a backend. Each backend validates its own part of the job in
 * `open`, so every field is checked before any sample is drawn. All calls are local.
 *
 * The contract that makes runs reproducible at any rank count: sample i's value (and
 * everything else about it) depends only on (seed, i), never on which rank or batch
 * draws it. */
#ifndef QZ_GENERATOR_H
#define QZ_GENERATOR_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "error.h"
#include "jsonv.h"

/* A batch of consecutive samples first .. first+n-1, as drawn and then scored. The
 * arrays have room for `cap` samples and are owned by the batch. */
struct qz_batch {
    uint64_t first;
    size_t n;
    size_t cap;
    double *value;            /* the numeric sample (the action itself); NaN if it failed */
    double *component_cost;   /* the cost its mixture component carries */
    int component_cost_valid; /* component_cost is filled; 0 means all costs are 0 */
    double *utility;          /* filled by the utility scorer */
    double *cost;             /* filled by the cost scorer */
};

enum qz_status qz_batch_init(struct qz_batch *b, size_t cap, struct qz_error *err);
void qz_batch_free(struct qz_batch *b);

struct qz_generator; /* a backend's opaque state */

struct qz_generator_ops {
    const char *name;
    /* Validate `spec` (the job's generator object, named by `at`) and open an
     * instance that draws with `seed`. */
    enum qz_status (*open)(struct qz_generator **g, const cJSON *spec, const struct qz_jv *at,
                           uint64_t seed, struct qz_error *err);
    /* Draw samples first .. first+n-1 into out->value and out->component_cost
     * (n <= out->cap); sets out->first, out->n and out->component_cost_valid. */
    enum qz_status (*draw)(struct qz_generator *g, uint64_t first, size_t n, struct qz_batch *out,
                           struct qz_error *err);
    /* 1 if some samples carry a component cost (a mixture with a nonzero cost). */
    int (*has_component_cost)(const struct qz_generator *g);
    void (*close)(struct qz_generator *g);
};

/* An open generator: the backend and its state. */
struct qz_gen {
    const struct qz_generator_ops *ops;
    struct qz_generator *state;
};

/* Look up spec.kind in the registry and open it. */
enum qz_status qz_gen_open(struct qz_gen *gen, const cJSON *spec, const struct qz_jv *at,
                           uint64_t seed, struct qz_error *err);
void qz_gen_close(struct qz_gen *gen);

/* The built-in synthetic distributions (common/gen_builtin.c), one backend serving
 * the kinds uniform, normal, lognormal, pareto, discrete_uniform, fail, mixture. */
extern const struct qz_generator_ops qz_gen_builtin_ops;

#endif
