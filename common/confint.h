/* Confidence intervals for the record's means (README "Confidence intervals"). Pure
 * math, no MPI, no state: the callers pass the summary of a (weighted) sample.
 *
 * A sample is summarised by its weighted mean, its variance and its effective size
 * n_eff = (Σw)² / Σw² (struct qz_ci_sample). What is known of the values picks the
 * method (qz_ci_choose):
 *   - "clopper-pearson": every value is 0 or 1 (exact binomial interval; on n_eff
 *     successes-and-failures when the weights are not all equal),
 *   - "empirical-bernstein": every value lies in a known range [a, b] (Maurer and
 *     Pontil 2009, Theorem 4, scaled to [a, b]),
 *   - "normal": otherwise, mean ± z · s.e. (an approximation).
 * A two-sided interval at confidence 1 − δ puts δ/2 on each side; qz_ci_upper is the
 * one-sided upper value at 1 − δ. */
#ifndef QZ_CONFINT_H
#define QZ_CONFINT_H

#include <stdint.h>

enum qz_ci_method {
    QZ_CI_NORMAL,
    QZ_CI_CLOPPER_PEARSON,
    QZ_CI_EMPIRICAL_BERNSTEIN,
};

/* What is known of the values before looking at them. */
struct qz_ci_range {
    int known; /* every value lies in [low, high] */
    double low, high;
    int binary; /* every value is 0 or 1 */
};

/* The summary of a sample of values x_i with weights w_i > 0. */
struct qz_ci_sample {
    double mean;  /* Σ w x / Σ w */
    double var;   /* unbiased (reliability-weight) variance:
                     Σ w (x − mean)² / (Σw − Σw²/Σw) */
    double n_eff; /* (Σw)² / Σw²; n for equal weights */
};

struct qz_ci {
    enum qz_ci_method method;
    double stderr_; /* sqrt(var / n_eff) */
    double low, high;
};

/* "normal", "clopper-pearson", "empirical-bernstein". */
const char *qz_ci_method_name(enum qz_ci_method m);

/* The method for values with what `range` says. */
enum qz_ci_method qz_ci_choose(const struct qz_ci_range *range);

/* The two-sided (1 − δ) interval, δ = 1 − confidence, for the mean of s. NaN bounds
 * when the sample cannot give one (n_eff < 2, or a NaN in s); the bounds are clipped
 * to the known range. */
void qz_ci_interval(const struct qz_ci_sample *s, const struct qz_ci_range *range,
                    double confidence, struct qz_ci *out);

/* The one-sided upper confidence value at 1 − δ (the method of qz_ci_choose). */
double qz_ci_upper(const struct qz_ci_sample *s, const struct qz_ci_range *range,
                   double confidence);

/* The summary of n equally weighted values from their sums S1 = Σx, S2 = Σx²
 * (var = (S2 − S1²/n) / (n − 1), clamped at 0). */
void qz_ci_sample_sums(double s1, double s2, double n, struct qz_ci_sample *s);

/* The summary under the quantilizer's weights (README "Semantics"): weight 1 for each
 * of positions 0 .. k−2 and f = m − (k−1) for position k−1 (weight 1 on the one
 * position when m < 1). s2 is Σx² over positions 0 .. k−2, boundary the value at k−1
 * and mean the weighted mean already computed (qz_sweep_mean, from Σx). Σw = m
 * (1 when m < 1), Σw² = (k−1) + f².
 *
 * at_threshold is E[x | u = t], the value's mean at the threshold utility, or an
 * estimate of it (for the utility itself: the threshold), or NaN. With it the variance
 * adds the threshold's own sampling variation, (1 − q) (mean − at_threshold)² (the
 * asymptotic variance of a tail mean with an estimated quantile); with NaN that term
 * is left out. */
void qz_ci_sample_top(double s2, double boundary, double mean, double m, uint64_t k, double q,
                      double at_threshold, struct qz_ci_sample *s);

/* Building blocks, exposed for the tests. */
double qz_normal_quantile(double p);                   /* Φ⁻¹(p), p in (0, 1) */
double qz_beta_inc(double a, double b, double x);      /* regularized I_x(a, b) */
double qz_beta_quantile(double a, double b, double p); /* x with I_x(a, b) = p */
/* The Clopper–Pearson bounds for x successes in n trials, each side at level alpha:
 * low = B⁻¹(alpha; x, n − x + 1) (0 when x = 0), high = B⁻¹(1 − alpha; x + 1, n − x)
 * (1 when x = n). x and n may be fractional (effective counts). */
void qz_clopper_pearson(double x, double n, double alpha, double *low, double *high);
/* The empirical-Bernstein deviation for n values in a range of width `width` with
 * unbiased sample variance var, at level alpha (one side):
 *     sqrt(2 var ln(2/alpha) / n) + 7 width ln(2/alpha) / (3 (n − 1)). */
double qz_empirical_bernstein(double var, double n, double width, double alpha);

#endif
