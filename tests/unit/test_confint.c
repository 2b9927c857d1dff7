/* Confidence intervals (common/confint.h) against values derived independently of the
 * code under test: normal quantiles from printed tables and checked by Φ = erfc;
 * the regularized incomplete beta against its closed forms (I_x(a, 1) = x^a,
 * I_x(1, b) = 1 − (1 − x)^b) and the binomial CDF identity
 * P(Bin(n, p) <= k) = I_{1−p}(n − k, k + 1) summed term by term; Clopper–Pearson
 * against its closed form at x = 0 and x = n and, for other x, against the defining
 * binomial tail equations; the weighted summary against a direct computation. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "confint.h"

#define NEAR(a, b, tol) (fabs((a) - (b)) <= (tol)*fmax(1.0, fabs(b)))

/* P(Bin(n, p) <= k), summed from the probability mass function in log space. */
static double binom_cdf(int n, int k, double p)
{
    double s = 0;
    for (int i = 0; i <= k; i++)
        s += exp(lgamma(n + 1.0) - lgamma(i + 1.0) - lgamma(n - i + 1.0) + i * log(p) +
                 (n - i) * log1p(-p));
    return s;
}

static void normal_quantiles(void)
{
    /* From the standard normal table (Abramowitz and Stegun 26.2). */
    static const struct {
        double p, z;
    } t[] = {{0.5, 0.0},
             {0.975, 1.959963984540054},
             {0.95, 1.644853626951472},
             {0.995, 2.575829303548901},
             {0.841344746068543, 1.0},
             {0.025, -1.959963984540054},
             {1e-10, -6.361340902404056}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        CHECK(NEAR(qz_normal_quantile(t[i].p), t[i].z, 1e-12), "Phi^-1(%g) = %.17g, want %.17g",
              t[i].p, qz_normal_quantile(t[i].p), t[i].z);
    /* Round trip through erfc over a grid, both tails included. */
    for (double lp = -15; lp <= -0.31; lp += 0.37) {
        double p = pow(10, lp);
        double z = qz_normal_quantile(p);
        double back = 0.5 * erfc(-z / sqrt(2));
        CHECK(fabs(back - p) <= 1e-13 * p, "Phi(Phi^-1(%g)) = %.17g", p, back);
        if (p >= 1e-6) /* 1 - p keeps enough digits of p */
            CHECK(NEAR(qz_normal_quantile(1 - p), -z, 1e-8), "symmetry at %g", p);
    }
    CHECK(isnan(qz_normal_quantile(-0.1)) && isnan(qz_normal_quantile(NAN)), "outside (0, 1)");
}

static void incomplete_beta(void)
{
    for (double x = 0.01; x < 1; x += 0.07) {
        CHECK(NEAR(qz_beta_inc(3.5, 1, x), pow(x, 3.5), 1e-13), "I_%g(3.5, 1)", x);
        CHECK(NEAR(qz_beta_inc(1, 7.25, x), 1 - pow(1 - x, 7.25), 1e-13), "I_%g(1, 7.25)", x);
        CHECK(NEAR(qz_beta_inc(1, 1, x), x, 1e-14), "I_%g(1, 1)", x);
    }
    /* The binomial CDF identity for several n, k, p, including large n. */
    static const int nk[][2] = {{10, 3}, {50, 0}, {50, 49}, {200, 37}, {1000, 480}, {3000, 10}};
    static const double ps[] = {0.003, 0.05, 0.2, 0.5, 0.83};
    for (size_t i = 0; i < sizeof nk / sizeof nk[0]; i++)
        for (size_t j = 0; j < sizeof ps / sizeof ps[0]; j++) {
            int n = nk[i][0], k = nk[i][1];
            double want = binom_cdf(n, k, ps[j]);
            double got = qz_beta_inc(n - k, k + 1, 1 - ps[j]);
            CHECK(fabs(got - want) <= 1e-12 + 1e-10 * want, "n %d k %d p %g: %.17g vs %.17g", n, k,
                  ps[j], got, want);
        }
    /* The quantile inverts it. */
    static const double ab[][2] = {{0.5, 0.5}, {2, 5}, {30, 970}, {450.5, 12}};
    for (size_t i = 0; i < sizeof ab / sizeof ab[0]; i++)
        for (double p = 0.001; p < 1; p += 0.0995) {
            double x = qz_beta_quantile(ab[i][0], ab[i][1], p);
            CHECK(fabs(qz_beta_inc(ab[i][0], ab[i][1], x) - p) <= 1e-12, "B^-1(%g; %g, %g)", p,
                  ab[i][0], ab[i][1]);
        }
}

static void clopper_pearson(void)
{
    const double delta = 0.05;
    double lo, hi;
    static const int ns[] = {1, 7, 40, 1000, 20000};

    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        int n = ns[i];
        /* Closed forms: x = 0 gives [0, 1 − (δ/2)^(1/n)], x = n gives [(δ/2)^(1/n), 1]. */
        qz_clopper_pearson(0, n, delta / 2, &lo, &hi);
        CHECK(lo == 0 && NEAR(hi, 1 - pow(delta / 2, 1.0 / n), 1e-12), "x = 0, n = %d: %.17g", n,
              hi);
        qz_clopper_pearson(n, n, delta / 2, &lo, &hi);
        CHECK(hi == 1 && NEAR(lo, pow(delta / 2, 1.0 / n), 1e-12), "x = n = %d: %.17g", n, lo);
    }
    /* Other x: the bounds solve P(X >= x | low) = δ/2 and P(X <= x | high) = δ/2. */
    static const int xn[][2] = {{1, 10}, {5, 10}, {17, 40}, {300, 1000}, {2, 1000}};
    for (size_t i = 0; i < sizeof xn / sizeof xn[0]; i++) {
        int x = xn[i][0], n = xn[i][1];
        qz_clopper_pearson(x, n, delta / 2, &lo, &hi);
        CHECK(fabs(1 - binom_cdf(n, x - 1, lo) - delta / 2) <= 1e-10, "low of %d/%d: %.17g", x, n,
              lo);
        CHECK(fabs(binom_cdf(n, x, hi) - delta / 2) <= 1e-10, "high of %d/%d: %.17g", x, n, hi);
        CHECK(lo < (double)x / n && hi > (double)x / n, "%d/%d inside", x, n);
    }
    /* A textbook value: 0 of 10 at 95 %: upper 0.30850 (1 − 0.025^(1/10)). */
    qz_clopper_pearson(0, 10, 0.025, &lo, &hi);
    CHECK(fabs(hi - 0.30850) < 5e-6, "0/10: %.6f", hi);
}

static void intervals(void)
{
    struct qz_ci_sample s;
    struct qz_ci ci;
    struct qz_ci_range none = {0}, unit = {1, 0, 1, 0}, binary = {1, 0, 1, 1};

    /* Equal weights: the sample variance. Values 1, 2, 3, 4: mean 2.5, var 5/3. */
    qz_ci_sample_sums(10, 30, 4, &s);
    CHECK(s.mean == 2.5 && NEAR(s.var, 5.0 / 3, 1e-15) && s.n_eff == 4, "sums: %g %g", s.mean,
          s.var);
    qz_ci_interval(&s, &none, 0.95, &ci);
    CHECK(ci.method == QZ_CI_NORMAL && strcmp(qz_ci_method_name(ci.method), "normal") == 0,
          "normal without a range");
    CHECK(NEAR(ci.stderr_, sqrt(5.0 / 12), 1e-15), "se %g", ci.stderr_);
    CHECK(NEAR(ci.low, 2.5 - 1.959963984540054 * sqrt(5.0 / 12), 1e-12) &&
              NEAR(ci.high, 2.5 + 1.959963984540054 * sqrt(5.0 / 12), 1e-12),
          "normal interval [%g, %g]", ci.low, ci.high);
    CHECK(NEAR(qz_ci_upper(&s, &none, 0.95), 2.5 + 1.644853626951472 * sqrt(5.0 / 12), 1e-12),
          "one-sided upper");

    /* Binary: 30 of 1000 ones. Clopper–Pearson, the same as the building block. */
    qz_ci_sample_sums(30, 30, 1000, &s);
    qz_ci_interval(&s, &binary, 0.9, &ci);
    double lo, hi;
    qz_clopper_pearson(30, 1000, 0.05, &lo, &hi);
    CHECK(ci.method == QZ_CI_CLOPPER_PEARSON && ci.low == lo && ci.high == hi,
          "clopper-pearson [%g, %g]", ci.low, ci.high);
    qz_clopper_pearson(30, 1000, 0.1, &lo, &hi);
    CHECK(qz_ci_upper(&s, &binary, 0.9) == hi, "one-sided CP at 0.9");

    /* A known range: Maurer–Pontil, each side at δ/2, ln(2/(δ/2)) = ln(4/δ). */
    qz_ci_sample_sums(300, 300 * 0.3 + 0.5, 1000, &s);
    qz_ci_interval(&s, &unit, 0.95, &ci);
    double l = log(4 / 0.05);
    double dev = sqrt(2 * s.var * l / 1000) + 7 * l / (3 * 999.0);
    CHECK(ci.method == QZ_CI_EMPIRICAL_BERNSTEIN && NEAR(ci.low, 0.3 - dev, 1e-14) &&
              NEAR(ci.high, 0.3 + dev, 1e-14),
          "empirical-bernstein [%g, %g], dev %g", ci.low, ci.high, dev);
    struct qz_ci_range wide = {1, -2, 6, 0};
    qz_ci_interval(&s, &wide, 0.95, &ci);
    CHECK(NEAR(ci.high - 0.3, sqrt(2 * s.var * l / 1000) + 7 * 8 * l / (3 * 999.0), 1e-13),
          "scaled to the width of [a, b]");
    /* Clipped to the range. */
    qz_ci_sample_sums(1, 1, 10, &s);
    qz_ci_interval(&s, &unit, 0.95, &ci);
    CHECK(ci.low == 0 && ci.high <= 1, "clipped [%g, %g]", ci.low, ci.high);
    /* Too small a sample: NaN. */
    qz_ci_sample_sums(1, 1, 1, &s);
    qz_ci_interval(&s, &none, 0.95, &ci);
    CHECK(isnan(ci.low) && isnan(ci.high) && isnan(ci.stderr_), "n = 1");
}

/* The quantilizer's weights: 1 for positions 0 .. k−2, f = m − (k−1) at k−1. */
static void top_weights(void)
{
    const double x[] = {5, 3, 4, 1, 2, 7, 0.5};
    struct qz_ci_sample s;

    /* m = 4.25: k = 5, f = 0.25. Direct: Σw = 4.25, Σw² = 4.0625. */
    double m = 4.25, f = 0.25, sw = 0, swx = 0, sw2 = 0, s2 = 0;
    for (int i = 0; i < 5; i++) {
        double w = i < 4 ? 1 : f;
        sw += w;
        swx += w * x[i];
        sw2 += w * w;
    }
    double mean = swx / sw, num = 0;
    for (int i = 0; i < 5; i++)
        num += (i < 4 ? 1 : f) * (x[i] - mean) * (x[i] - mean);
    for (int i = 0; i < 4; i++)
        s2 += x[i] * x[i];
    qz_ci_sample_top(s2, x[4], mean, m, 5, 0.5, NAN, &s);
    CHECK(NEAR(s.n_eff, sw * sw / sw2, 1e-15), "n_eff %.17g", s.n_eff);
    CHECK(NEAR(s.var, num / (sw - sw2 / sw), 1e-13), "weighted variance %.17g vs %.17g", s.var,
          num / (sw - sw2 / sw));
    /* Integer m: the plain sample variance of the first m values. */
    double plain_s2 = 0, plain_mean = 0, plain_var = 0;
    for (int i = 0; i < 7; i++)
        plain_mean += x[i] / 7;
    for (int i = 0; i < 7; i++)
        plain_var += (x[i] - plain_mean) * (x[i] - plain_mean) / 6;
    for (int i = 0; i < 6; i++)
        plain_s2 += x[i] * x[i];
    qz_ci_sample_top(plain_s2, x[6], plain_mean, 7, 7, 0.1, NAN, &s);
    CHECK(s.n_eff == 7 && NEAR(s.var, plain_var, 1e-13), "integer m: %g vs %g", s.var, plain_var);
    /* The threshold term: (1 − q) (mean − at_threshold)² added. */
    struct qz_ci_sample t;
    qz_ci_sample_top(plain_s2, x[6], plain_mean, 7, 7, 0.1, 0.5, &t);
    CHECK(NEAR(t.var - s.var, 0.9 * (plain_mean - 0.5) * (plain_mean - 0.5), 1e-13),
          "threshold term");
    /* m < 1: one position, no interval. */
    qz_ci_sample_top(0, 3, 3, 0.4, 1, 0.01, NAN, &s);
    CHECK(s.n_eff == 1 && isnan(s.var), "m < 1");
}

int main(void)
{
    normal_quantiles();
    incomplete_beta();
    clopper_pearson();
    intervals();
    top_weights();
    return check_done("test_confint");
}
