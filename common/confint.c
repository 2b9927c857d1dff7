#include "confint.h"

#include <float.h>
#include <math.h>

const char *qz_ci_method_name(enum qz_ci_method m)
{
    switch (m) {
    case QZ_CI_CLOPPER_PEARSON:
        return "clopper-pearson";
    case QZ_CI_EMPIRICAL_BERNSTEIN:
        return "empirical-bernstein";
    case QZ_CI_NORMAL:
        break;
    }
    return "normal";
}

enum qz_ci_method qz_ci_choose(const struct qz_ci_range *range)
{
    if (range && range->binary)
        return QZ_CI_CLOPPER_PEARSON;
    if (range && range->known && range->high >= range->low)
        return QZ_CI_EMPIRICAL_BERNSTEIN;
    return QZ_CI_NORMAL;
}

/* Acklam's rational approximation (relative error 1.15e-9), then one Halley step on
 * Φ(x) − p with Φ from erfc, which brings it to about full double precision. */
double qz_normal_quantile(double p)
{
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                               -2.759285104469687e+02, 1.383577518672690e+02,
                               -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                               -1.556989798598866e+02, 6.680131188771972e+01,
                               -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                               -2.400758277161838e+00, -2.549732539343734e+00,
                               4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    const double plow = 0.02425;
    double x, q, r;

    if (!(p > 0 && p < 1))
        return p == 0 ? -INFINITY : p == 1 ? INFINITY : NAN;
    if (p < plow) {
        q = sqrt(-2 * log(p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    } else if (p <= 1 - plow) {
        q = p - 0.5;
        r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
    } else {
        q = sqrt(-2 * log(1 - p));
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    /* Halley: e = Φ(x) − p, u = e √(2π) e^{x²/2} (√(2π) = 2.5066...), x −= u / (1 + x u / 2). */
    double e = 0.5 * erfc(-x / sqrt(2)) - p;
    double u = e * 2.5066282746310002 * exp(x * x / 2);
    return x - u / (1 + x * u / 2);
}

/* One step of the modified Lentz method with coefficient aa: updates c and d and
 * returns the factor d·c by which the fraction's value changes. */
static double lentz_step(double aa, double *c, double *d)
{
    const double tiny = 1e-300;

    *d = 1 + aa * *d;
    if (fabs(*d) < tiny)
        *d = tiny;
    *c = 1 + aa / *c;
    if (fabs(*c) < tiny)
        *c = tiny;
    *d = 1 / *d;
    return *d * *c;
}

/* The continued fraction of I_x(a, b) (modified Lentz), valid for x < (a+1)/(a+b+2). */
static double beta_cf(double a, double b, double x)
{
    double qab = a + b, qap = a + 1, qam = a - 1;
    double c = 1, d = 1, h;

    lentz_step(-qab * x / qap, &c, &d); /* d = 1 / (1 - qab x / qap) */
    c = 1;
    h = d;
    for (int m = 1; m <= 10000; m++) {
        double m2 = 2.0 * m;
        h *= lentz_step(m * (b - m) * x / ((qam + m2) * (a + m2)), &c, &d);
        double del = lentz_step(-(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)), &c, &d);
        h *= del;
        if (fabs(del - 1) < 1e-16)
            break;
    }
    return h;
}

double qz_beta_inc(double a, double b, double x)
{
    if (!(a > 0 && b > 0) || isnan(x))
        return NAN;
    if (x <= 0)
        return 0;
    if (x >= 1)
        return 1;
    double lfront = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
    if (x < (a + 1) / (a + b + 2))
        return exp(lfront) * beta_cf(a, b, x) / a;
    return 1 - exp(lfront) * beta_cf(b, a, 1 - x) / b;
}

/* Bisection on [0, 1]: I_x is increasing in x. 200 halvings reach adjacent doubles. */
double qz_beta_quantile(double a, double b, double p)
{
    double lo = 0, hi = 1;

    if (!(a > 0 && b > 0) || !(p >= 0 && p <= 1))
        return NAN;
    if (p == 0)
        return 0;
    if (p == 1)
        return 1;
    for (int i = 0; i < 200; i++) {
        double mid = lo + (hi - lo) / 2;
        if (mid <= lo || mid >= hi)
            break;
        if (qz_beta_inc(a, b, mid) < p)
            lo = mid;
        else
            hi = mid;
    }
    return lo + (hi - lo) / 2;
}

void qz_clopper_pearson(double x, double n, double alpha, double *low, double *high)
{
    if (!(n > 0) || !(x >= 0 && x <= n) || !(alpha > 0 && alpha < 1)) {
        *low = *high = NAN;
        return;
    }
    *low = x <= 0 ? 0 : qz_beta_quantile(x, n - x + 1, alpha);
    *high = x >= n ? 1 : qz_beta_quantile(x + 1, n - x, 1 - alpha);
}

double qz_empirical_bernstein(double var, double n, double width, double alpha)
{
    double l = log(2 / alpha);
    return sqrt(2 * (var > 0 ? var : 0) * l / n) + 7 * width * l / (3 * (n - 1));
}

/* One side at level alpha: the lower (upper = 0) or upper bound. */
static double bound(const struct qz_ci_sample *s, const struct qz_ci_range *range,
                    enum qz_ci_method m, double alpha, int upper)
{
    double v;

    if (!(s->n_eff >= 2) || isnan(s->mean) || isnan(s->var))
        return NAN;
    switch (m) {
    case QZ_CI_CLOPPER_PEARSON: {
        double lo, hi, x = s->mean * s->n_eff;
        qz_clopper_pearson(x < 0 ? 0 : x > s->n_eff ? s->n_eff : x, s->n_eff, alpha, &lo, &hi);
        return upper ? hi : lo;
    }
    case QZ_CI_EMPIRICAL_BERNSTEIN:
        v = qz_empirical_bernstein(s->var, s->n_eff, range->high - range->low, alpha);
        v = upper ? s->mean + v : s->mean - v;
        return v < range->low ? range->low : v > range->high ? range->high : v;
    case QZ_CI_NORMAL:
        break;
    }
    v = qz_normal_quantile(1 - alpha) * sqrt(s->var / s->n_eff);
    v = upper ? s->mean + v : s->mean - v;
    if (range && range->known)
        v = v < range->low ? range->low : v > range->high ? range->high : v;
    return v;
}

void qz_ci_interval(const struct qz_ci_sample *s, const struct qz_ci_range *range,
                    double confidence, struct qz_ci *out)
{
    double alpha = (1 - confidence) / 2;

    out->method = qz_ci_choose(range);
    out->stderr_ = s->n_eff >= 2 ? sqrt(s->var / s->n_eff) : NAN;
    out->low = bound(s, range, out->method, alpha, 0);
    out->high = bound(s, range, out->method, alpha, 1);
}

double qz_ci_upper(const struct qz_ci_sample *s, const struct qz_ci_range *range, double confidence)
{
    return bound(s, range, qz_ci_choose(range), 1 - confidence, 1);
}

void qz_ci_sample_sums(double s1, double s2, double n, struct qz_ci_sample *s)
{
    s->n_eff = n;
    s->mean = n > 0 ? s1 / n : NAN;
    if (!(n >= 2)) {
        s->var = NAN;
        return;
    }
    double v = (s2 - s1 * (s1 / n)) / (n - 1);
    s->var = v < 0 ? 0 : v; /* NaN stays NaN */
}

void qz_ci_sample_top(double s2, double boundary, double mean, double m, uint64_t k, double q,
                      double at_threshold, struct qz_ci_sample *s)
{
    s->mean = mean;
    if (m < 1 || k < 2) {
        s->n_eff = 1;
        s->var = NAN;
        return;
    }
    double f = m - (double)(k - 1);
    double sw2 = (double)(k - 1) + f * f;
    double sx2 = s2 + f * boundary * boundary; /* Σ w x² */
    double vb = sx2 / m - mean * mean;         /* Σ w (x − mean)² / Σw */
    s->n_eff = m * m / sw2;
    s->var = (vb < 0 ? 0 : vb) * s->n_eff / (s->n_eff - 1);
    if (!isnan(at_threshold) && q < 1)
        s->var += (1 - q) * (mean - at_threshold) * (mean - at_threshold);
}
