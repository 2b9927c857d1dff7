/* Built-in synthetic base distributions: uniform, normal, lognormal, Pareto,
 * discrete uniform, "fail" (a generation that fails: NaN), and mixtures of these in
 * which each component may carry a cost. Pure functions of (seed, index). */
#include "generator.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

#define QZ_MIXTURE_MAX 64
#define QZ_DISCRETE_MAX 2147483647.0 /* |low|, |high| bound: exact in double arithmetic */

enum dist_kind { D_UNIFORM, D_NORMAL, D_LOGNORMAL, D_PARETO, D_DISCRETE, D_FAIL, D_MIXTURE };

static const char *const kinds[] = {
    "uniform", "normal", "lognormal", "pareto", "discrete_uniform", "fail", "mixture", NULL,
};

/* One distribution; the meaning of a and b depends on the kind:
 * uniform low/high, normal mean/stddev, lognormal mu/sigma (of log x),
 * pareto scale/shape, discrete_uniform low/high. */
struct dist {
    enum dist_kind kind;
    double a, b;
};

struct component {
    struct dist d;
    double upper; /* cumulative weight up to and including this component */
    double cost;
};

struct qz_generator {
    uint64_t seed;
    size_t n;               /* components; 1 when not a mixture */
    struct component *comp; /* owned */
    int has_cost;           /* some component has a nonzero cost */
};

/* Samples per pass of a draw: the stack buffers below stay in L1. */
#define QZ_PASS 512

/* Sample i's value under d, on its own. Same value as dist_values gives. */
static double dist_value(const struct dist *d, uint64_t seed, uint64_t i)
{
    switch (d->kind) {
    case D_NORMAL:
        return d->a + d->b * qz_normal(seed, i);
    case D_LOGNORMAL:
        return exp(d->a + d->b * qz_normal(seed, i));
    case D_UNIFORM:
        return d->a + (d->b - d->a) * qz_u01(qz_rng_word(seed, QZ_STREAM_VALUE, i));
    case D_PARETO:
        return d->a * pow(qz_u01_pos(qz_rng_word(seed, QZ_STREAM_VALUE, i)), -1.0 / d->b);
    case D_DISCRETE:
        return d->a + floor(qz_u01(qz_rng_word(seed, QZ_STREAM_VALUE, i)) * (d->b - d->a + 1.0));
    case D_FAIL:
        return NAN;
    case D_MIXTURE:
        break;
    }
    return NAN; /* unreachable: mixtures are resolved to components first */
}

/* The values of samples first .. first+n-1 under d into out (n <= QZ_PASS); each is
 * the value dist_value gives for that sample alone. */
static void dist_values(const struct dist *d, uint64_t seed, uint64_t first, size_t n, double *out)
{
    uint64_t w[QZ_PASS];
    const double a = d->a, b = d->b;

    switch (d->kind) {
    case D_NORMAL:
        qz_normal_batch_scaled(seed, first, n, a, b, out);
        return;
    case D_LOGNORMAL:
        qz_normal_batch_scaled(seed, first, n, a, b, out);
        for (size_t j = 0; j < n; j++)
            out[j] = exp(out[j]);
        return;
    case D_UNIFORM:
        qz_rng_words(seed, QZ_STREAM_VALUE, first, n, w);
        for (size_t j = 0; j < n; j++)
            out[j] = a + (b - a) * qz_u01(w[j]);
        return;
    case D_PARETO: {
        const double e = -1.0 / b;
        qz_rng_words(seed, QZ_STREAM_VALUE, first, n, w);
        for (size_t j = 0; j < n; j++)
            out[j] = a * pow(qz_u01_pos(w[j]), e);
        return;
    }
    case D_DISCRETE: {
        const double span = b - a + 1.0;
        qz_rng_words(seed, QZ_STREAM_VALUE, first, n, w);
        for (size_t j = 0; j < n; j++)
            out[j] = a + floor(qz_u01(w[j]) * span);
        return;
    }
    case D_FAIL:
    case D_MIXTURE: /* unreachable: mixtures are resolved to components first */
        break;
    }
    for (size_t j = 0; j < n; j++)
        out[j] = NAN;
}

/* Which component each of samples first .. first+n-1 comes from (n <= QZ_PASS), from
 * its word of QZ_STREAM_COMPONENT; returns the set of components seen (bit c). */
static uint64_t pick(const struct qz_generator *g, uint64_t first, size_t n, uint8_t *which,
                     size_t *count)
{
    uint64_t w[QZ_PASS], seen = 0;
    const double total = g->comp[g->n - 1].upper;

    qz_rng_words(g->seed, QZ_STREAM_COMPONENT, first, n, w);
    for (size_t c = 0; c < g->n; c++)
        count[c] = 0;
    for (size_t j = 0; j < n; j++) {
        double u = qz_u01(w[j]) * total;
        size_t c = 0;
        while (c + 1 < g->n && !(u < g->comp[c].upper))
            c++;
        which[j] = (uint8_t)c;
        count[c]++;
        seen |= (uint64_t)1 << c;
    }
    return seen;
}

/* A mixture pass: each component present draws its values for the whole pass (the
 * value of sample i under component c depends only on (seed, i), so the values of
 * samples from other components are simply not used), or, when it covers few
 * samples of the pass, draws them one by one. */
static void mixture_pass(const struct qz_generator *g, uint64_t first, size_t n, double *value,
                         double *component_cost)
{
    uint8_t which[QZ_PASS];
    size_t count[QZ_MIXTURE_MAX];
    double tmp[QZ_PASS];
    uint64_t seen = pick(g, first, n, which, count);

    for (size_t j = 0; j < n; j++)
        component_cost[j] = g->comp[which[j]].cost;
    for (; seen; seen &= seen - 1) {
        size_t c = 0;
        while (!(seen >> c & 1))
            c++;
        const struct dist *d = &g->comp[c].d;
        if (count[c] * 16 < n) {
            for (size_t j = 0; j < n; j++)
                if (which[j] == c)
                    value[j] = dist_value(d, g->seed, first + j);
        } else if (count[c] == n) {
            dist_values(d, g->seed, first, n, value);
        } else {
            dist_values(d, g->seed, first, n, tmp);
            for (size_t j = 0; j < n; j++)
                if (which[j] == c)
                    value[j] = tmp[j];
        }
    }
}

static enum qz_status builtin_draw(struct qz_generator *g, uint64_t first, size_t n,
                                   struct qz_batch *out, struct qz_error *err)
{
    (void)err;
    out->first = first;
    out->n = n;
    /* A one-component mixture keeps its cost: every sample carries it. */
    out->component_cost_valid = g->n > 1 || g->has_cost;
    if (g->n == 1 && g->has_cost)
        for (size_t j = 0; j < n; j++)
            out->component_cost[j] = g->comp[0].cost;
    if (g->n == 1 && g->comp[0].d.kind == D_NORMAL) {
        /* one call: qz_normal_batch_scaled makes its own passes, longer than QZ_PASS */
        qz_normal_batch_scaled(g->seed, first, n, g->comp[0].d.a, g->comp[0].d.b, out->value);
        return QZ_OK;
    }
    if (g->n == 1) {
        for (size_t k = 0; k < n; k += QZ_PASS)
            dist_values(&g->comp[0].d, g->seed, first + k, n - k < QZ_PASS ? n - k : QZ_PASS,
                        out->value + k);
        return QZ_OK;
    }
    for (size_t k = 0; k < n; k += QZ_PASS)
        mixture_pass(g, first + k, n - k < QZ_PASS ? n - k : QZ_PASS, out->value + k,
                     out->component_cost + k);
    return QZ_OK;
}

static const char *const uniform_fields[] = {"kind", "low", "high", NULL};
static const char *const normal_fields[] = {"kind", "mean", "stddev", NULL};
static const char *const lognormal_fields[] = {"kind", "mu", "sigma", NULL};
static const char *const pareto_fields[] = {"kind", "scale", "shape", NULL};
static const char *const fail_fields[] = {"kind", NULL};

/* Normal and lognormal: every draw must be finite. A draw is a + b z, and qz_normal's
 * z is below 13 in size (the ziggurat's tail is R - log(U1) / R with R < 3.5, accepted
 * only when x^2 <= -2 log(U2) <= 2 * 54 log 2, so |z| < 3.5 + 8.7), so a + 13b and
 * a - 13b must be finite, and for a lognormal exp(a + 13b) too. */
static enum qz_status finite_draws(const cJSON *spec, const struct qz_jv *at, const struct dist *d,
                                   const char *scale, struct qz_error *err)
{
    const double z = 13.0, hi = d->a + z * d->b, lo = d->a - z * d->b;
    if (!isfinite(hi) || !isfinite(lo) || (d->kind == D_LOGNORMAL && !isfinite(exp(hi))))
        return qz_jv_fail(at, scale, cJSON_GetObjectItemCaseSensitive(spec, scale), err,
                          "is too large for its %s (%.17g): draws would overflow to infinity",
                          d->kind == D_NORMAL ? "mean" : "mu", d->a);
    return QZ_OK;
}

/* Validate a non-mixture distribution spec into d. */
static enum qz_status parse_dist(const cJSON *spec, const struct qz_jv *at, struct dist *d,
                                 struct qz_error *err)
{
    int kind;
    enum qz_status rc = qz_jv_choice(at, spec, "kind", 1, 0, kinds, &kind, err);
    if (rc)
        return rc;
    d->kind = (enum dist_kind)kind;
    switch (d->kind) {
    case D_UNIFORM:
    case D_DISCRETE:
        if ((rc = qz_jv_fields(at, spec, uniform_fields, err)) ||
            (rc = qz_jv_number(at, spec, "low", 1, 0, &d->a, err)) ||
            (rc = qz_jv_number(at, spec, "high", 1, 0, &d->b, err)))
            return rc;
        if (d->kind == D_UNIFORM && !(d->a < d->b))
            return qz_jv_fail(at, "high", cJSON_GetObjectItemCaseSensitive(spec, "high"), err,
                              "must be greater than low (%.17g)", d->a);
        /* A draw is low + (high - low) u: refused when high - low overflows (it would
         * draw +inf), rather than drawn another way, so that every range keeps one
         * formula and its samples (the width must be below about 1.8e308). */
        if (d->kind == D_UNIFORM && !isfinite(d->b - d->a))
            return qz_jv_fail(at, "high", cJSON_GetObjectItemCaseSensitive(spec, "high"), err,
                              "minus low (%.17g) overflows a double: the range is too wide", d->a);
        if (d->kind == D_DISCRETE) {
            const char *bad = d->a != floor(d->a) || fabs(d->a) > QZ_DISCRETE_MAX   ? "low"
                              : d->b != floor(d->b) || fabs(d->b) > QZ_DISCRETE_MAX ? "high"
                                                                                    : NULL;
            if (bad)
                return qz_jv_fail(at, bad, cJSON_GetObjectItemCaseSensitive(spec, bad), err,
                                  "must be an integer with absolute value below 2^31");
            if (d->b < d->a)
                return qz_jv_fail(at, "high", cJSON_GetObjectItemCaseSensitive(spec, "high"), err,
                                  "must be at least low (%.17g)", d->a);
        }
        return QZ_OK;
    case D_NORMAL:
    case D_LOGNORMAL: {
        const char *loc = d->kind == D_NORMAL ? "mean" : "mu";
        const char *scale = d->kind == D_NORMAL ? "stddev" : "sigma";
        if ((rc = qz_jv_fields(at, spec, d->kind == D_NORMAL ? normal_fields : lognormal_fields,
                               err)) ||
            (rc = qz_jv_number(at, spec, loc, 0, 0.0, &d->a, err)) ||
            (rc = qz_jv_number(at, spec, scale, 0, 1.0, &d->b, err)))
            return rc;
        if (!(d->b > 0))
            return qz_jv_fail(at, scale, cJSON_GetObjectItemCaseSensitive(spec, scale), err,
                              "must be a positive number");
        return finite_draws(spec, at, d, scale, err);
    }
    case D_PARETO:
        if ((rc = qz_jv_fields(at, spec, pareto_fields, err)) ||
            (rc = qz_jv_number(at, spec, "scale", 0, 1.0, &d->a, err)) ||
            (rc = qz_jv_number(at, spec, "shape", 1, 0, &d->b, err)))
            return rc;
        if (!(d->a > 0))
            return qz_jv_fail(at, "scale", cJSON_GetObjectItemCaseSensitive(spec, "scale"), err,
                              "must be a positive number");
        if (!(d->b > 0))
            return qz_jv_fail(at, "shape", cJSON_GetObjectItemCaseSensitive(spec, "shape"), err,
                              "must be a positive number");
        /* The largest draw is scale * 2^(53 / shape) (the smallest uniform is 2^-53). */
        if (!isfinite(d->a * pow(2.0, 53.0 / d->b)))
            return qz_jv_fail(at, "shape", cJSON_GetObjectItemCaseSensitive(spec, "shape"), err,
                              "is too small for its scale (%.17g): draws would overflow to "
                              "infinity",
                              d->a);
        return QZ_OK;
    case D_FAIL:
        return qz_jv_fields(at, spec, fail_fields, err);
    case D_MIXTURE:
        break;
    }
    return qz_jv_fail(at, "kind", cJSON_GetObjectItemCaseSensitive(spec, "kind"), err,
                      "a mixture cannot be a component of a mixture");
}

static const char *const mixture_fields[] = {"kind", "components", NULL};
static const char *const component_fields[] = {"weight", "cost", "generator", NULL};

static enum qz_status parse_mixture(const cJSON *spec, const struct qz_jv *at,
                                    struct qz_generator *g, struct qz_error *err)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(spec, "components");
    const cJSON *item;
    struct qz_jv lat;
    double upper = 0, wmax = 0;
    enum qz_status rc = qz_jv_fields(at, spec, mixture_fields, err);
    int n, i = 0, e;

    if (rc)
        return rc;
    if (!list)
        return qz_jv_fail(at, "components", NULL, err, "is required");
    n = cJSON_GetArraySize(list);
    if (!cJSON_IsArray(list) || n < 1 || n > QZ_MIXTURE_MAX)
        return qz_jv_fail(at, "components", list, err, "must be an array of 1 to %d components",
                          QZ_MIXTURE_MAX);
    g->comp = calloc((size_t)n, sizeof *g->comp);
    if (!g->comp)
        return qz_error_set(err, QZ_ENOMEM, "out of memory");
    g->n = (size_t)n;
    qz_jv_child(at, "components", &lat);
    cJSON_ArrayForEach(item, list)
    {
        struct qz_jv cat, gat;
        struct component *c = &g->comp[i];
        const cJSON *gspec;
        double w;

        qz_jv_item(&lat, i, &cat);
        if ((rc = qz_jv_fields(&cat, item, component_fields, err)) ||
            (rc = qz_jv_number(&cat, item, "weight", 1, 0, &w, err)) ||
            (rc = qz_jv_number(&cat, item, "cost", 0, 0.0, &c->cost, err)) ||
            (rc = qz_jv_object(&cat, item, "generator", 1, &gspec, err)))
            return rc;
        if (!(w > 0))
            return qz_jv_fail(&cat, "weight", cJSON_GetObjectItemCaseSensitive(item, "weight"), err,
                              "must be a positive number");
        qz_jv_child(&cat, "generator", &gat);
        if ((rc = parse_dist(gspec, &gat, &c->d, err)))
            return rc;
        c->upper = w; /* the weight, until all are known */
        wmax = w > wmax ? w : wmax;
        if (c->cost != 0)
            g->has_cost = 1;
        i++;
    }
    /* Cumulative weights of w / 2^e, 2^e the largest weight's power of two: the sum is
     * below 128 and cannot overflow (1e308 + 1e308 would: every sample would come from
     * the last component), and dividing by a power of two is exact, so the picks are
     * those of the plain sums wherever these are finite. A weight that does not move the
     * sum (below about 2^-53 of it) would never be drawn, and is refused. */
    frexp(wmax, &e);
    for (i = 0; i < n; i++) {
        double w = ldexp(g->comp[i].upper, -e);
        if (!(upper + w > upper)) {
            struct qz_jv cat;
            qz_jv_item(&lat, i, &cat);
            return qz_jv_fail(&cat, "weight", NULL, err,
                              "is too small beside the other weights to be ever drawn (below "
                              "2^-53 of their sum)");
        }
        upper += w;
        g->comp[i].upper = upper;
    }
    return QZ_OK;
}

static void builtin_close(struct qz_generator *g)
{
    if (g) {
        free(g->comp);
        free(g);
    }
}

static enum qz_status builtin_open(struct qz_generator **out, const cJSON *spec,
                                   const struct qz_jv *at, uint64_t seed, struct qz_error *err)
{
    struct qz_generator *g = calloc(1, sizeof *g);
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(spec, "kind");
    enum qz_status rc;

    *out = NULL;
    if (!g)
        return qz_error_set(err, QZ_ENOMEM, "out of memory");
    g->seed = seed;
    qz_rng_init();
    if (cJSON_IsString(kind) && strcmp(kind->valuestring, "mixture") == 0) {
        rc = parse_mixture(spec, at, g, err);
    } else {
        g->comp = calloc(1, sizeof *g->comp);
        g->n = 1;
        rc = g->comp ? parse_dist(spec, at, &g->comp[0].d, err)
                     : qz_error_set(err, QZ_ENOMEM, "out of memory");
    }
    if (rc) {
        builtin_close(g);
        return rc;
    }
    *out = g;
    return QZ_OK;
}

static int builtin_has_component_cost(const struct qz_generator *g)
{
    return g->has_cost;
}

const struct qz_generator_ops qz_gen_builtin_ops = {
    .name = "builtin",
    .open = builtin_open,
    .draw = builtin_draw,
    .has_component_cost = builtin_has_component_cost,
    .close = builtin_close,
};
