#include "sweep.h"

#include <math.h>

#include "exactsum.h"
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
