/* The exact sum: correctly rounded results (ties to even, subnormals, overflow,
 * cancellation beyond the double range), bit-identical in every order, merge tree and
 * word-wise (MPI_SUM-style) reduction, checked against two references computed another
 * way: Shewchuk's partials (as in Python's math.fsum) and __int128 arithmetic. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "exactsum.h"

__extension__ typedef __int128 i128;

static uint64_t rng_state = 0x2545f4914f6cdd1dULL;

static uint64_t next64(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static size_t below(size_t n)
{
    return (size_t)(next64() % n);
}

static uint64_t bits_of(double x)
{
    uint64_t b;
    memcpy(&b, &x, sizeof b);
    return b;
}

/* Bitwise equality: tells -0 from +0 and compares NaN with NaN. */
static int same(double a, double b)
{
    return bits_of(a) == bits_of(b);
}

/* Shewchuk's exact partials and the correctly rounded total, as in CPython's
 * math.fsum. Valid while no partial overflows: the tests keep |sum| far below DBL_MAX. */
static double fsum(const double *x, size_t n)
{
    double p[128];
    size_t np = 0;
    for (size_t k = 0; k < n; k++) {
        double v = x[k];
        size_t i = 0;
        for (size_t j = 0; j < np; j++) {
            double y = p[j];
            if (fabs(v) < fabs(y)) {
                double t = v;
                v = y;
                y = t;
            }
            double hi = v + y;
            double lo = y - (hi - v);
            if (lo != 0.0)
                p[i++] = lo;
            v = hi;
        }
        np = i;
        p[np++] = v;
        if (np >= 128)
            abort();
    }
    double hi = 0.0, lo = 0.0;
    if (np > 0) {
        hi = p[--np];
        while (np > 0) {
            double v = hi, y = p[--np];
            hi = v + y;
            lo = y - (hi - v);
            if (lo != 0.0)
                break;
        }
        /* Round half to even across the remaining partials. */
        if (np > 0 && ((lo < 0.0 && p[np - 1] < 0.0) || (lo > 0.0 && p[np - 1] > 0.0))) {
            double y = lo * 2.0, v = hi + y;
            if (y == v - hi)
                hi = v;
        }
    }
    return hi + 0.0; /* an exact zero is +0.0 */
}

static double exact(const double *x, size_t n)
{
    struct qz_exactsum s;
    qz_exactsum_init(&s);
    for (size_t i = 0; i < n; i++)
        qz_exactsum_add(&s, x[i]);
    return qz_exactsum_value(&s);
}

static void shuffle(double *x, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = below(i);
        double t = x[i - 1];
        x[i - 1] = x[j];
        x[j] = t;
    }
}

/* Sum x by splitting it into `parts` random groups and merging the group sums in a
 * random binary tree. */
static double merge_tree(const double *x, size_t n, size_t parts)
{
    struct qz_exactsum *acc = malloc(parts * sizeof *acc);
    if (!acc)
        abort();
    for (size_t p = 0; p < parts; p++)
        qz_exactsum_init(&acc[p]);
    for (size_t i = 0; i < n; i++)
        qz_exactsum_add(&acc[below(parts)], x[i]);
    for (size_t live = parts; live > 1; live--) {
        size_t a = below(live), b = below(live - 1);
        if (b >= a)
            b++;
        qz_exactsum_merge(&acc[a], &acc[b]);
        acc[b] = acc[live - 1];
    }
    double v = qz_exactsum_value(&acc[0]);
    free(acc);
    return v;
}

/* Sum x as an MPI_Allreduce(MPI_INT64_T, MPI_SUM) over `ranks` ranks would: each rank
 * adds a strided share, normalises, and the structs are added word by word. */
static double wordwise(const double *x, size_t n, size_t ranks)
{
    static int64_t sum[QZ_EXACTSUM_WORDS], words[QZ_EXACTSUM_WORDS];
    struct qz_exactsum *acc = malloc(sizeof *acc);
    if (!acc)
        abort();
    memset(sum, 0, sizeof sum);
    for (size_t r = 0; r < ranks; r++) {
        qz_exactsum_init(acc);
        for (size_t i = r; i < n; i += ranks)
            qz_exactsum_add(acc, x[i]);
        qz_exactsum_normalize(acc);
        memcpy(words, acc, sizeof words);
        for (size_t w = 0; w < QZ_EXACTSUM_WORDS; w++)
            sum[w] += words[w];
    }
    memcpy(acc, sum, sizeof sum);
    double v = qz_exactsum_value(acc);
    free(acc);
    return v;
}

/* Sum x in runs of random length through qz_exactsum_add_many, with single adds and
 * a normalisation now and then in between; the count must be n. */
static double batched(const double *x, size_t n)
{
    struct qz_exactsum s;
    size_t i = 0;

    qz_exactsum_init(&s);
    while (i < n) {
        size_t run = 1 + below(next64() & 1 ? 8 : 2000);
        run = run < n - i ? run : n - i;
        switch (below(3)) {
        case 0:
            qz_exactsum_add(&s, x[i++]);
            break;
        case 1:
            qz_exactsum_normalize(&s);
            /* fall through */
        default:
            qz_exactsum_add_many(&s, x + i, run);
            i += run;
        }
    }
    CHECK(s.count == (int64_t)n, "add_many counted %lld of %zu values", (long long)s.count, n);
    return qz_exactsum_value(&s);
}

/* Check that sum(x) == want in every order and grouping tried. */
static void check_all_ways(const char *what, double *x, size_t n, double want)
{
    double got = exact(x, n);
    CHECK(same(got, want), "%s: %.17g, want %.17g", what, got, want);
    for (int t = 0; t < 4; t++) {
        shuffle(x, n);
        got = exact(x, n);
        CHECK(same(got, want), "%s, shuffled: %.17g, want %.17g", what, got, want);
        size_t parts = 1 + below(n < 64 ? n : 64);
        got = batched(x, n);
        CHECK(same(got, want), "%s, in runs: %.17g, want %.17g", what, got, want);
        got = merge_tree(x, n, parts);
        CHECK(same(got, want), "%s, %zu-leaf merge tree: %.17g, want %.17g", what, parts, got,
              want);
    }
    static const size_t ranks[] = {2, 3, 7, 512, 1000};
    for (size_t r = 0; r < sizeof ranks / sizeof ranks[0]; r++) {
        got = wordwise(x, n, ranks[r]);
        CHECK(same(got, want), "%s, word-wise over %zu ranks: %.17g, want %.17g", what, ranks[r],
              got, want);
    }
}

#define SUM_IS(want, ...)                                                                          \
    do {                                                                                           \
        double xs_[] = {__VA_ARGS__};                                                              \
        check_all_ways(#__VA_ARGS__, xs_, sizeof xs_ / sizeof xs_[0], (want));                     \
    } while (0)

/* A double with a random sign, significand and binary exponent in [lo, hi]
 * (subnormal when the exponent is below -1022). */
static double random_double(int lo, int hi)
{
    int e = lo + (int)below((size_t)(hi - lo + 1));
    double m = (double)(next64() >> 11) / 9007199254740992.0; /* [0, 1) */
    double v = ldexp(1.0 + m, e);
    return next64() & 1 ? -v : v;
}

static void random_sets(void)
{
    enum { N = 3000 };
    static double x[N];

    /* Wildly different magnitudes, subnormals included. */
    for (size_t i = 0; i < N; i++)
        x[i] = random_double(-1074, 1000);
    check_all_ways("random magnitudes", x, N, fsum(x, N));

    /* Heavy cancellation: pairs x, -x plus small perturbations, so the total is many
     * orders of magnitude below the terms. */
    for (size_t i = 0; i < N; i += 3) {
        x[i] = random_double(-200, 900);
        x[i + 1] = -x[i];
        x[i + 2] = random_double(-300, -100);
    }
    check_all_ways("cancelling pairs", x, N, fsum(x, N));

    /* Terms within a few binades: the sum keeps many bits of each. */
    for (size_t i = 0; i < N; i++)
        x[i] = random_double(-3, 3);
    check_all_ways("similar magnitudes", x, N, fsum(x, N));

    /* Tiny terms only: subnormal partial sums and a normal total. */
    for (size_t i = 0; i < N; i++)
        x[i] = random_double(-1074, -1020);
    check_all_ways("subnormal scale", x, N, fsum(x, N));

    /* Integers times 2^k for k in [-20, 40]: the exact total in __int128 units of
     * 2^-20, rounded by the compiler's int128 -> double conversion (round to nearest
     * even), scaled exactly. A reference independent of fsum. */
    for (int round = 0; round < 3; round++) {
        i128 total = 0;
        for (size_t i = 0; i < N; i++) {
            int64_t m = (int64_t)(next64() >> 11) * (next64() & 1 ? -1 : 1);
            int k = (int)below(61) - 20;
            x[i] = ldexp((double)m, k);
            total += (i128)m * ((i128)1 << (k + 20));
        }
        check_all_ways("integers times powers of two", x, N, ldexp((double)total, -20));
    }
}

static void many_adds(void)
{
    /* 100000 adds of 0.1 pass many normalisations; 0.1 = M * 2^-56 exactly. */
    static double x[100000];
    for (size_t i = 0; i < 100000; i++)
        x[i] = 0.1;
    double want = ldexp((double)((i128)0x1999999999999aLL * 100000), -56);
    CHECK(same(exact(x, 100000), want), "100000 * 0.1 = %.17g, want %.17g", exact(x, 100000), want);
    CHECK(same(wordwise(x, 100000, 1000), want), "100000 * 0.1 over 1000 ranks");
    CHECK(same(batched(x, 100000), want), "100000 * 0.1 in runs");

    /* Doubling by self-merge 50 times: 2^50 terms, loads far beyond one normalisation. */
    struct qz_exactsum s, copy;
    double terms[] = {0.1, -3.5e-300, 1.7e280, 5e-324};
    for (size_t t = 0; t < sizeof terms / sizeof terms[0]; t++) {
        qz_exactsum_init(&s);
        qz_exactsum_add(&s, terms[t]);
        for (int i = 0; i < 50; i++) {
            copy = s;
            qz_exactsum_merge(&s, &copy);
        }
        CHECK(same(qz_exactsum_value(&s), ldexp(terms[t], 50)), "2^50 * %g = %.17g", terms[t],
              qz_exactsum_value(&s));
        CHECK(s.count == INT64_C(1) << 50, "count %lld", (long long)s.count);
    }

    /* Beyond the double range and back: 3000 * DBL_MAX - 3000 * DBL_MAX + 1. (The
     * checks shuffle the array, so each case rebuilds it.) */
    static double big[6001];
    const double last[] = {1.0, DBL_MAX, -DBL_MAX};
    const double want_big[] = {1.0, DBL_MAX, -DBL_MAX};
    for (size_t c = 0; c < 3; c++) {
        for (size_t i = 0; i < 3000; i++) {
            big[2 * i] = DBL_MAX;
            big[2 * i + 1] = -DBL_MAX;
        }
        big[6000] = last[c];
        check_all_ways("3000 (DBL_MAX - DBL_MAX) + last", big, 6001, want_big[c]);
    }
    for (size_t i = 0; i < 6001; i++)
        big[i] = DBL_MAX;
    check_all_ways("6001 DBL_MAX", big, 6001, INFINITY);
    for (size_t i = 0; i < 6001; i++)
        big[i] = -big[i];
    check_all_ways("6001 -DBL_MAX", big, 6001, -INFINITY);
}

int main(void)
{
    const double ulp1 = ldexp(1, -52), tiny = ldexp(1, -1074), half_max_ulp = ldexp(1, 970);

    /* Catastrophic cancellation. */
    SUM_IS(1.0, 1e308, 1.0, -1e308);
    SUM_IS(-1.0, 1e308, -1.0, -1e308);
    SUM_IS(ldexp(1, -1000), ldexp(1, 1000), ldexp(1, -1000), -ldexp(1, 1000));
    SUM_IS(0.30000000000000004, 0.1, 0.2);              /* as IEEE addition of two terms */
    SUM_IS(0.6, 0.1, 0.2, 0.3, -0.1 - 0.2 + 0.1 + 0.2); /* the last term is exactly 0 */

    /* Ties go to even; anything past the tie, however far below, breaks it. */
    SUM_IS(1.0, 1.0, ulp1 / 2);
    SUM_IS(1.0 + ulp1, 1.0, ulp1 / 2, tiny);
    SUM_IS(1.0 + 2 * ulp1, 1.0 + ulp1, ulp1 / 2);
    SUM_IS(1.0, 1.0 + ulp1, -ulp1 / 2);
    SUM_IS(9007199254740992.0, 9007199254740992.0, 1.0);
    SUM_IS(9007199254740996.0, 9007199254740992.0, 3.0);
    SUM_IS(-9007199254740992.0, -9007199254740992.0, -1.0);
    SUM_IS(-9007199254740996.0, -9007199254740992.0, -3.0);
    SUM_IS(ldexp(1, 100) + ldexp(1, 48), ldexp(1, 100), ldexp(1, 47), ldexp(1, -1000));
    SUM_IS(ldexp(1, 100), ldexp(1, 100), ldexp(1, 47), -ldexp(1, -1000));
    SUM_IS(ldexp(1, 100), ldexp(1, 100), ldexp(1, 47), -tiny);
    SUM_IS(-ldexp(1, 100) - ldexp(1, 48), -ldexp(1, 100), -ldexp(1, 47), -tiny);

    /* Subnormals: exact, and the crossing into the normal range. */
    SUM_IS(2 * tiny, tiny, tiny);
    SUM_IS(2 * tiny, 3 * tiny, -tiny);
    SUM_IS(-tiny, -tiny);
    SUM_IS(nextafter(DBL_MIN, 0), DBL_MIN, -tiny);
    SUM_IS(DBL_MIN, DBL_MIN / 2, DBL_MIN / 4, DBL_MIN / 4);
    SUM_IS(DBL_MIN + tiny, DBL_MIN - tiny, 2 * tiny);
    SUM_IS(0.0, tiny, -tiny);
    SUM_IS(0.0, -0.0, -0.0);
    SUM_IS(0.0, 0.0);
    CHECK(same(exact(NULL, 0), 0.0), "the empty sum is +0.0");

    /* Overflow: at or past DBL_MAX + half an ulp (a tie, and DBL_MAX is odd) is inf. */
    SUM_IS(INFINITY, DBL_MAX, half_max_ulp);
    SUM_IS(DBL_MAX, DBL_MAX, half_max_ulp, -tiny);
    SUM_IS(DBL_MAX, DBL_MAX, half_max_ulp / 2);
    SUM_IS(-INFINITY, -DBL_MAX, -half_max_ulp);
    SUM_IS(INFINITY, DBL_MAX, DBL_MAX, -DBL_MAX / 2);
    SUM_IS(DBL_MAX, DBL_MAX, DBL_MAX, -DBL_MAX);

    /* Non-finite terms (callers should not pass them) still give IEEE's answer. */
    SUM_IS(INFINITY, 1.0, INFINITY);
    SUM_IS(-INFINITY, 1e308, -INFINITY, 1e308);
    SUM_IS(NAN, INFINITY, -INFINITY);
    SUM_IS(NAN, 1.0, NAN);

    random_sets();
    many_adds();

    /* The struct survives a trip through bytes (a checkpoint, an MPI message). */
    {
        struct qz_exactsum a, b;
        unsigned char bytes[sizeof a];
        qz_exactsum_init(&a);
        qz_exactsum_add(&a, 1e308);
        qz_exactsum_add(&a, 1.0);
        memcpy(bytes, &a, sizeof a);
        memcpy(&b, bytes, sizeof b);
        qz_exactsum_add(&b, -1e308);
        CHECK(same(qz_exactsum_value(&b), 1.0), "after a byte copy");
        CHECK(sizeof a == QZ_EXACTSUM_WORDS * 8, "QZ_EXACTSUM_WORDS int64 words");
    }
    return check_done("test_exactsum");
}
