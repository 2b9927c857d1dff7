/* Unit test of common/rng: Philox4x32-10 known answers, the uniform conversions, the
 * ziggurat normal (determinism, moments, tails, Kolmogorov-Smirnov) and the tie keys.
 * Every statistical check uses a fixed seed, so the test is deterministic; the
 * tolerances are 5 standard errors (two-sided false-alarm rate 5.7e-7 per check for
 * a correct generator) except the KS test, at its 0.001 critical value. */
#include "rng.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            failures++;                                                                            \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

/* Known answers for Philox4x32 with 10 rounds, as (counter words 0-3, key words 0-1,
 * expected output words 0-3) from Random123's kat_vectors file.
 * The first three (zeros, ones, pi digits) are the "philox4x32 10" lines of that
 * file, as cut-and-pasted into DEShawResearch/Random123-Boost,
 * libs/random/test/test_philox.cpp (test_kat_philox4x32). The other three are
 * "philox4x32 10" lines of the extended examples/kat_vectors in
 * girving/random123-manual (a mirror of the Random123 distribution). */
struct kat {
    uint32_t ctr[4];
    uint32_t key[2];
    uint32_t expect[4];
};

static const struct kat philox_kats[] = {
    {{0x00000000, 0x00000000, 0x00000000, 0x00000000},
     {0x00000000, 0x00000000},
     {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
    {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
     {0xffffffff, 0xffffffff},
     {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
    {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
     {0xa4093822, 0x299f31d0},
     {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    {{0x00000001, 0x00000000, 0x00000000, 0x00000000},
     {0x00000001, 0x00000000},
     {0xac08141b, 0xdfc5ccbe, 0x79c07a47, 0xa7f66093}},
    {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
     {0x00000001, 0x00000000},
     {0x38527b8f, 0xfad9a48c, 0x20e675c0, 0xf2fea26a}},
    {{0x00000000, 0x00000000, 0x00000000, 0x80000000},
     {0x00000000, 0x80000000},
     {0xf7a0b371, 0xe51dc93d, 0x56ce135d, 0x1d4b5580}},
};

static void test_philox_kat(void)
{
    size_t n = sizeof philox_kats / sizeof philox_kats[0];
    for (size_t k = 0; k < n; k++) {
        const struct kat *v = &philox_kats[k];
        uint32_t out[4];
        qz_philox4x32_10(v->ctr, v->key, out);
        CHECK(memcmp(out, v->expect, sizeof out) == 0,
              "KAT %zu: got %08" PRIx32 " %08" PRIx32 " %08" PRIx32 " %08" PRIx32
              ", want %08" PRIx32 " %08" PRIx32 " %08" PRIx32 " %08" PRIx32,
              k, out[0], out[1], out[2], out[3], v->expect[0], v->expect[1], v->expect[2],
              v->expect[3]);
    }

    /* qz_rng_block maps (seed, index, stream, attempt) onto (key, counter) and packs
     * the words little-end first: the pi-digits vector seen through it. */
    uint64_t b[2];
    qz_rng_block(0x299f31d0a4093822u, 0x85a308d3243f6a88u, 0x13198a2eu, 0x03707344u, b);
    CHECK(b[0] == 0x94fdccebd16cfe09u && b[1] == 0x24126ea15001e420u,
          "qz_rng_block packing: got %016" PRIx64 " %016" PRIx64, b[0], b[1]);
}

static void test_uniforms(void)
{
    /* 53-bit grid: [0, 1 - 2^-53] for qz_u01, [2^-53, 1] for qz_u01_pos. */
    CHECK(qz_u01(0) == 0.0, "qz_u01(0) = %a", qz_u01(0));
    CHECK(qz_u01(UINT64_MAX) == 1.0 - 0x1p-53, "qz_u01(max) = %a", qz_u01(UINT64_MAX));
    CHECK(qz_u01(UINT64_MAX) < 1.0, "qz_u01(max) = %a reaches 1", qz_u01(UINT64_MAX));
    CHECK(qz_u01_pos(0) == 0x1p-53, "qz_u01_pos(0) = %a", qz_u01_pos(0));
    CHECK(qz_u01_pos(0) > 0.0, "qz_u01_pos(0) is not positive");
    CHECK(qz_u01_pos(UINT64_MAX) == 1.0, "qz_u01_pos(max) = %a", qz_u01_pos(UINT64_MAX));
    CHECK(isfinite(log(qz_u01_pos(0))), "log(qz_u01_pos(0)) is not finite");
    /* The low 11 bits (where qz_normal takes its layer) do not move the uniform. */
    CHECK(qz_u01(0x7FF) == 0.0 && qz_u01_pos(0x7FF) == 0x1p-53, "low bits leak into qz_u01");
}

static uint64_t bits_of(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static void test_normal_determinism(void)
{
    enum { N = 4096 };
    const uint64_t seed = 0x0123456789abcdefu;
    static double fwd[N], rev[N];

    /* No qz_rng_init before this first call: the lazy path builds the tables. */
    for (uint64_t i = 0; i < N; i++)
        fwd[i] = qz_normal(seed, i);
    for (uint64_t i = N; i-- > 0;)
        rev[i] = qz_normal(seed, i);
    qz_rng_init(); /* idempotent: must not change the tables */
    int same = 1, finite = 1, twice = 1;
    for (uint64_t i = 0; i < N; i++) {
        same &= bits_of(fwd[i]) == bits_of(rev[i]);
        twice &= bits_of(fwd[i]) == bits_of(qz_normal(seed, i));
        finite &= isfinite(fwd[i]);
    }
    CHECK(same, "reverse call order changed some values");
    CHECK(twice, "values changed after a second qz_rng_init or on a repeated call");
    CHECK(finite, "non-finite value");

    /* A huge index and the extreme seeds go through the same pure function. */
    double a = qz_normal(UINT64_MAX, UINT64_MAX), b = qz_normal(UINT64_MAX, UINT64_MAX);
    CHECK(bits_of(a) == bits_of(b) && isfinite(a), "extreme (seed, index): %a vs %a", a, b);

    /* Different seeds give different sequences (equal doubles are a 2^-50 event). */
    int differ = 0;
    for (uint64_t i = 0; i < 16; i++)
        differ += qz_normal(seed, i) != qz_normal(seed + 1, i);
    CHECK(differ == 16, "seed and seed + 1 share %d of 16 values", 16 - differ);
}

static double normal_cdf(double x)
{
    return 0.5 * erfc(-x / sqrt(2.0));
}

static int cmp_double(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

/* Checks that an observed fraction is within 5 binomial standard errors,
 * sqrt(p (1 - p) / n), of its probability p. */
static void check_fraction(const char *what, long count, long n, double p)
{
    double frac = (double)count / (double)n;
    double se = sqrt(p * (1.0 - p) / (double)n);
    CHECK(fabs(frac - p) < 5.0 * se, "%s: fraction %.7f (%ld of %ld), want %.7f +- 5 * %.2g", what,
          frac, count, n, p, se);
    printf("  %-14s %.7f (%ld), expected %.7f, z = %+.2f\n", what, frac, count, p, (frac - p) / se);
}

static void test_normal_moments(void)
{
    const long n = 2000000;
    const long n_ks = 200000;
    const uint64_t seed = 20240601u;
    const double r_tail = 3.442619855899; /* the ziggurat's tail start */
    double *ks = malloc((size_t)n_ks * sizeof *ks);
    if (!ks) {
        CHECK(ks != NULL, "out of memory");
        return;
    }

    double sum = 0.0, sumsq = 0.0, maxabs = 0.0;
    long beyond3 = 0, beyond_r = 0;
    for (long i = 0; i < n; i++) {
        double x = qz_normal(seed, (uint64_t)i);
        sum += x;
        sumsq += x * x;
        if (fabs(x) > 3.0)
            beyond3++;
        if (fabs(x) > r_tail)
            beyond_r++;
        if (fabs(x) > maxabs)
            maxabs = fabs(x);
        if (i < n_ks)
            ks[i] = x;
    }
    double mean = sum / (double)n;
    double var = (sumsq - (double)n * mean * mean) / (double)(n - 1);

    /* The sample mean of n N(0,1) values has standard error 1 / sqrt(n). */
    double se_mean = 1.0 / sqrt((double)n);
    CHECK(fabs(mean) < 5.0 * se_mean, "mean %.6f, want 0 +- 5 * %.2g", mean, se_mean);
    /* The sample variance has variance (mu4 - sigma^4) / n = (3 - 1) / n. */
    double se_var = sqrt(2.0 / (double)n);
    CHECK(fabs(var - 1.0) < 5.0 * se_var, "variance %.6f, want 1 +- 5 * %.2g", var, se_var);
    printf("  mean           %+.6f, z = %+.2f\n", mean, mean / se_mean);
    printf("  variance       %.6f, z = %+.2f\n", var, (var - 1.0) / se_var);

    /* P(|X| > 3) = 2 (1 - Phi(3)); P(|X| > R) = erfc(R / sqrt 2) covers exactly the
     * values the tail method produces, so the tail path is exercised (~1150 hits). */
    check_fraction("|x| > 3", beyond3, n, 0.0026997960632601866);
    check_fraction("|x| > R", beyond_r, n, erfc(r_tail / sqrt(2.0)));
    CHECK(maxabs > r_tail, "no value beyond R = %g (max |x| = %g)", r_tail, maxabs);
    printf("  max |x|        %.4f\n", maxabs);

    /* Kolmogorov-Smirnov: sqrt(n) D_n tends to the Kolmogorov distribution, whose
     * 0.999 quantile is 1.949; so D_n < 1.95 / sqrt(n) at the 0.001 level. */
    qsort(ks, (size_t)n_ks, sizeof *ks, cmp_double);
    double d = 0.0;
    for (long i = 0; i < n_ks; i++) {
        double f = normal_cdf(ks[i]);
        double lo = f - (double)i / (double)n_ks;
        double hi = (double)(i + 1) / (double)n_ks - f;
        if (lo > d)
            d = lo;
        if (hi > d)
            d = hi;
    }
    double d_crit = 1.95 / sqrt((double)n_ks);
    CHECK(d < d_crit, "KS D = %.6f over %ld values, want < %.6f", d, n_ks, d_crit);
    printf("  KS D           %.6f (sqrt(n) D = %.3f), critical %.6f\n", d, sqrt((double)n_ks) * d,
           d_crit);
    free(ks);
}

/* The tail method on its own: over n_tail indices, the values beyond R must be as
 * many as expected, split evenly by sign, and distributed like the normal beyond R.
 * About 11500 tail values make the KS test sensitive to a wrong tail shape (e.g. an
 * always-accepting tail, plain R + Exp(R), is off by D = 0.041 against a critical
 * 0.018). */
static void test_normal_tail(void)
{
    const long n_tail = 20000000;
    const uint64_t seed = 0xfeedfacecafebeefu;
    const double r_tail = 3.442619855899;
    const double p_tail = erfc(r_tail / sqrt(2.0)); /* P(|X| > R) */
    const long cap = 20000; /* 78 standard errors above the expected count */
    double *tail = malloc((size_t)cap * sizeof *tail);
    if (!tail) {
        CHECK(tail != NULL, "out of memory");
        return;
    }

    long count = 0, positive = 0;
    for (long i = 0; i < n_tail; i++) {
        double x = qz_normal(seed, (uint64_t)i);
        if (fabs(x) <= r_tail)
            continue;
        positive += x > 0.0;
        if (count < cap)
            tail[count] = fabs(x);
        count++;
    }
    check_fraction("tail |x| > R", count, n_tail, p_tail);
    CHECK(count <= cap, "%ld tail values overflow the buffer of %ld", count, cap);
    if (count > cap)
        count = cap;
    /* Given |X| > R, the sign is +1 or -1 with probability 1/2. */
    check_fraction("tail x > 0", positive, count, 0.5);

    /* KS against the tail's CDF F(t) = 1 - erfc(t / sqrt 2) / erfc(R / sqrt 2). */
    qsort(tail, (size_t)count, sizeof *tail, cmp_double);
    double d = 0.0;
    for (long i = 0; i < count; i++) {
        double f = 1.0 - erfc(tail[i] / sqrt(2.0)) / p_tail;
        double lo = f - (double)i / (double)count;
        double hi = (double)(i + 1) / (double)count - f;
        if (lo > d)
            d = lo;
        if (hi > d)
            d = hi;
    }
    double d_crit = 1.95 / sqrt((double)count);
    CHECK(d < d_crit, "tail KS D = %.6f over %ld values, want < %.6f", d, count, d_crit);
    printf("  tail KS D      %.6f (sqrt(n) D = %.3f), critical %.6f\n", d, sqrt((double)count) * d,
           d_crit);
    free(tail);
}

static int cmp_u64(const void *pa, const void *pb)
{
    uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;
    return (a > b) - (a < b);
}

static void test_tie_key(void)
{
    enum { N = 100000 };
    const uint64_t seed = 42;
    static uint64_t keys[N];

    int neighbours = 1, repeat = 1;
    for (uint64_t i = 0; i < N; i++) {
        keys[i] = qz_tie_key(seed, i);
        repeat &= keys[i] == qz_tie_key(seed, i);
        if (i > 0)
            neighbours &= keys[i] != keys[i - 1];
    }
    CHECK(neighbours, "equal tie keys for neighbouring indices");
    CHECK(repeat, "tie key is not deterministic");
    CHECK(qz_tie_key(seed, 7) != qz_tie_key(seed + 1, 7), "tie key ignores the seed");

    /* The tie stream is apart from the value stream for the same (seed, index). */
    uint64_t b[2];
    qz_rng_block(seed, 7, QZ_STREAM_VALUE, 0, b);
    CHECK(qz_tie_key(seed, 7) != b[0], "tie key equals the value stream's bits");

    /* N random 64-bit keys collide with probability ~N^2 / 2^65 = 3e-10. */
    qsort(keys, N, sizeof keys[0], cmp_u64);
    int distinct = 1;
    for (size_t i = 1; i < N; i++)
        distinct &= keys[i] != keys[i - 1];
    CHECK(distinct, "duplicate tie keys among %d indices", N);
}

int main(void)
{
    test_philox_kat();
    test_uniforms();
    test_normal_determinism();
    test_normal_moments();
    test_normal_tail();
    test_tie_key();
    if (failures) {
        fprintf(stderr, "test_rng: %d check(s) failed\n", failures);
        return 1;
    }
    printf("test_rng: all checks passed\n");
    return 0;
}
