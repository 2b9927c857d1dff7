#include "sweep.h"

#include <math.h>
#include <string.h>

#include "exactsum.h"
#include "scorer.h"
#include "select.h"

double qz_sweep_mean(struct qz_exactsum *first, double boundary, double m, uint64_t k)
{
    if (m < 1)
        return boundary;
    /* m - (k-1) is exact: k-1 < m <= k <= 2 (k-1) for k >= 2, and m = 1 for k = 1. */
    qz_exactsum_add(first, (m - (double)(k - 1)) * boundary);
    return qz_exactsum_value(first) / m;
}

/* E_Q of the field `cost` (or utility) over positions 0 .. k-1 for mass m. */
static double weighted_mean(const struct qz_entry *e, uint64_t k, double m, int cost)
{
    struct qz_exactsum s;
    qz_exactsum_init(&s);
    for (uint64_t p = 0; p + 1 < k; p++)
        qz_exactsum_add(&s, cost ? e[p].cost : e[p].utility);
    return qz_sweep_mean(&s, cost ? e[k - 1].cost : e[k - 1].utility, m, k);
}

enum qz_status qz_sweep(const struct qz_entry *e, size_t n, uint64_t valid, uint64_t seed,
                        const double *q, size_t nq, double base_cost, struct qz_sweep_row *rows,
                        struct qz_error *err)
{
    if (valid == 0)
        return qz_error_set(err, QZ_EJOB, "sweep: no valid samples to quantilize");
    if (n > valid)
        return qz_error_set(err, QZ_EINTERNAL,
                            "sweep: %zu top-set entries but only %llu valid samples", n,
                            (unsigned long long)valid);
    for (size_t i = 0; i < nq; i++) {
        if (!(q[i] > 0 && q[i] <= 1))
            return qz_error_set(err, QZ_EJOB, "sweep: q[%zu] = %g: must be in (0, 1]", i, q[i]);
        double m = qz_mass(q[i], valid);
        uint64_t k = qz_top_count(m);
        if (k > n)
            return qz_error_set(err, QZ_EINTERNAL,
                                "sweep: q[%zu] = %g needs the best %llu of %llu valid samples "
                                "(mass %.17g), but only %zu are held",
                                i, q[i], (unsigned long long)k, (unsigned long long)valid, m, n);
    }

    for (size_t i = 0; i < nq; i++) {
        struct qz_sweep_row *r = &rows[i];
        qz_sweep_row(r, q[i], valid, seed, base_cost);
        r->threshold = e[r->top_count - 1].utility;
        r->mean_utility = weighted_mean(e, r->top_count, r->mass, 0);
        r->mean_cost = weighted_mean(e, r->top_count, r->mass, 1);
        r->selected_index = e[r->selected_position].index;
    }
    return QZ_OK;
}

void qz_sweep_row(struct qz_sweep_row *r, double q, uint64_t valid, uint64_t seed, double base_cost)
{
    r->q = q;
    r->mass = qz_mass(q, valid);
    r->top_count = qz_top_count(r->mass);
    r->selected_position = qz_select_position(seed, 0, r->mass);
    r->cost_bound = base_cost / q;
    r->kl = 0.0 - log(q); /* +0, not -0, at q = 1 */
}

void qz_sweep_base_cost(double s1, double s2, uint64_t valid, double *mean, double *se)
{
    double n = (double)valid;
    *mean = valid > 0 ? s1 / n : NAN;
    if (valid < 2 || isnan(s1) || isnan(s2)) {
        *se = NAN;
        return;
    }
    double var = s2 / n - *mean * *mean;
    *se = sqrt((var < 0 ? 0 : var) / (n - 1)); /* NaN stays NaN */
}

uint64_t qz_sweep_window(uint64_t k)
{
    uint64_t w = (uint64_t)ceil(sqrt((double)k));
    return w < 1 ? 1 : w > k ? k : w;
}

void qz_sweep_row_ci(struct qz_sweep_row *r, double sum_u2, double sum_c2,
                     const struct qz_entry *boundary, double cost_at_threshold,
                     const struct qz_sweep_ci *ci)
{
    struct qz_ci_sample s;
    struct qz_ci out;

    qz_ci_sample_top(sum_u2, boundary->utility, r->mean_utility, r->mass, r->top_count, r->q,
                     boundary->utility, &s);
    qz_ci_interval(&s, &ci->utility_range, ci->confidence, &out);
    r->mean_utility_stderr = out.stderr_;
    r->mean_utility_ci_low = out.low;
    r->mean_utility_ci_high = out.high;
    r->effective_size = s.n_eff;
    qz_ci_sample_top(sum_c2, boundary->cost, r->mean_cost, r->mass, r->top_count, r->q,
                     cost_at_threshold, &s);
    qz_ci_interval(&s, &ci->cost_range, ci->confidence, &out);
    r->mean_cost_stderr = out.stderr_;
    r->mean_cost_ci_low = out.low;
    r->mean_cost_ci_high = out.high;
    r->cost_bound_ucb = ci->base_cost_ucb / r->q;
}

void qz_sweep_intervals(const struct qz_entry *e, struct qz_sweep_row *rows, size_t nq,
                        const struct qz_sweep_ci *ci)
{
    for (size_t i = 0; i < nq; i++) {
        struct qz_sweep_row *r = &rows[i];
        struct qz_exactsum u2, c2, window;
        uint64_t k = r->top_count, w = qz_sweep_window(k);
        qz_exactsum_init(&u2);
        qz_exactsum_init(&c2);
        qz_exactsum_init(&window);
        for (uint64_t p = 0; p + 1 < k; p++) {
            qz_exactsum_add(&u2, e[p].utility * e[p].utility);
            qz_exactsum_add(&c2, e[p].cost * e[p].cost);
        }
        for (uint64_t p = k - w; p < k; p++)
            qz_exactsum_add(&window, e[p].cost);
        qz_sweep_row_ci(r, qz_exactsum_value(&u2), qz_exactsum_value(&c2), &e[k - 1],
                        qz_exactsum_value(&window) / (double)w, ci);
    }
}

void qz_sweep_cost_range(const cJSON *job, struct qz_ci_range *r)
{
    const cJSON *cost = cJSON_GetObjectItemCaseSensitive(job, "cost");
    const cJSON *gen = cJSON_GetObjectItemCaseSensitive(job, "generator");
    const cJSON *ckind = cJSON_GetObjectItemCaseSensitive(cost, "kind");
    const cJSON *gkind = cJSON_GetObjectItemCaseSensitive(gen, "kind");
    const cJSON *comp;

    memset(r, 0, sizeof *r);
    if (qz_score_ops_of(cJSON_GetStringValue(ckind)) &&
        qz_score_ops_of(cJSON_GetStringValue(ckind))->binary) { /* every cost is 0 or 1 */
        *r = (struct qz_ci_range){1, 0.0, 1.0, 1};
        return;
    }
    if (!cJSON_IsString(ckind) || strcmp(ckind->valuestring, "component") != 0 ||
        !cJSON_IsString(gkind) || strcmp(gkind->valuestring, "mixture") != 0)
        return;
    r->known = 1;
    r->binary = 1;
    r->low = INFINITY;
    r->high = -INFINITY;
    cJSON_ArrayForEach(comp, cJSON_GetObjectItemCaseSensitive(gen, "components"))
    {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(comp, "cost");
        double v = cJSON_IsNumber(c) ? c->valuedouble : 0.0; /* the default cost */
        r->low = v < r->low ? v : r->low;
        r->high = v > r->high ? v : r->high;
        r->binary &= v == 0 || v == 1;
    }
    if (!(r->low <= r->high))
        memset(r, 0, sizeof *r);
}
