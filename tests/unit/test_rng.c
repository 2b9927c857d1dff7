/* Unit test of common/rng: Philox4x32-10 known answers, the word mapping, the batch
 * words and batch normals against their scalar definitions and against each other (for
 * every kernel the CPU has: AVX-512, AVX2, portable; many batch splits), an independent
 * reimplementation of the documented normal mapping, the uniform conversions, the ziggurat normal
 * (determinism, moments, tails, Kolmogorov-Smirnov) and the tie keys.
 * Every statistical check uses a fixed seed, so the test is deterministic; the
 * tolerances are 5 standard errors (two-sided false-alarm rate 5.7e-7 per check for
 * a correct generator) except the KS test, at its 0.001 critical value. */
#include "rng.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "generator.h"

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

static uint64_t bits_of(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

/* Philox at counter (c0, c1, c2, c3) under seed, straight from the KAT-checked
 * primitive: word k of the output. */
static uint64_t philox_word(uint64_t seed, uint64_t j, uint32_t c2, uint32_t c3, int k)
{
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    const uint32_t ctr[4] = {(uint32_t)j, (uint32_t)(j >> 32), c2, c3};
    uint32_t w[4];
    qz_philox4x32_10(ctr, key, w);
    return (uint64_t)w[2 * k] | (uint64_t)w[2 * k + 1] << 32;
}

/* The documented mapping: word w of stream s is out[w & 1] of the block at counter
 * (lo32(w >> 1), hi32(w >> 1), s, 0). */
static void test_word_mapping(void)
{
    static const uint64_t ws[] = {0,
                                  1,
                                  2,
                                  3,
                                  12345,
                                  12346,
                                  ((uint64_t)1 << 33) - 1,
                                  (uint64_t)1 << 33,
                                  ((uint64_t)1 << 53) + 7,
                                  UINT64_MAX};
    int ok = 1;
    for (size_t k = 0; k < sizeof ws / sizeof ws[0]; k++)
        for (uint32_t s = 0; s < QZ_STREAM_EXTRA; s++) {
            uint64_t want = philox_word(0x9e3779b97f4a7c15u, ws[k] >> 1, s, 0, (int)(ws[k] & 1));
            ok &= qz_rng_word(0x9e3779b97f4a7c15u, s, ws[k]) == want;
        }
    CHECK(ok, "qz_rng_word does not follow the documented mapping");
}

/* qz_rng_words(first, n) against qz_rng_word one by one, for even and odd first,
 * many n, block indices whose high 32 bits change inside the batch, and a guard
 * after the n words that must stay untouched. */
static void check_words(const char *kernel)
{
    static const uint64_t firsts[] = {0,
                                      1,
                                      2,
                                      3,
                                      31,
                                      32,
                                      33,
                                      1000001,
                                      ((uint64_t)1 << 33) - 37,
                                      ((uint64_t)1 << 33) - 36,
                                      ((uint64_t)1 << 53) - 501,
                                      ((uint64_t)1 << 63) + 5};
    static const size_t ns[] = {0,   1,   2,   3,   4,   5,   7,    8,    15,  16,
                                17,  31,  32,  33,  34,  63,  64,   65,   100, 127,
                                128, 129, 191, 511, 512, 513, 1000, 1023, 4099};
    enum { CAP = 4099 + 4 };
    static uint64_t buf[CAP];
    const uint64_t guard = 0x5a5a5a5a5a5a5a5au;
    long bad = 0, guard_bad = 0, cases = 0;

    for (size_t a = 0; a < sizeof firsts / sizeof firsts[0]; a++)
        for (size_t b = 0; b < sizeof ns / sizeof ns[0]; b++)
            for (uint32_t s = 0; s < QZ_STREAM_EXTRA; s += 3) {
                size_t n = ns[b];
                for (size_t k = 0; k < n + 4; k++)
                    buf[k] = guard;
                qz_rng_words(77 + s, s, firsts[a], n, buf);
                for (size_t k = 0; k < n; k++)
                    bad += buf[k] != qz_rng_word(77 + s, s, firsts[a] + k);
                for (size_t k = n; k < n + 4; k++)
                    guard_bad += buf[k] != guard;
                cases++;
            }
    CHECK(bad == 0, "%s: %ld words differ from qz_rng_word", kernel, bad);
    CHECK(guard_bad == 0, "%s: qz_rng_words wrote past n (%ld)", kernel, guard_bad);
    printf("  words %-9s %ld (first, n, stream) cases\n", kernel, cases);
}

/* An independent reading of rng.h's normal mapping, from the Philox primitive and
 * tables built here the same documented way; compared with qz_normal below. */
struct ref_zig {
    double x[129], r[128], fx[129];
};

static double ref_f(double t)
{
    return exp(-0.5 * (t * t));
}

static void ref_tables(struct ref_zig *z)
{
    const double R = 3.442619855899, V = 9.91256303526217e-3;
    z->x[0] = V / ref_f(R);
    z->x[1] = R;
    for (int i = 2; i < 128; i++)
        z->x[i] = sqrt(-2.0 * log(V / z->x[i - 1] + ref_f(z->x[i - 1])));
    z->x[128] = 0.0;
    for (int i = 0; i <= 128; i++)
        z->fx[i] = ref_f(z->x[i]);
    for (int i = 0; i < 128; i++)
        z->r[i] = z->x[i + 1] / z->x[i];
}

/* Sets *path to 0 (rectangle at try 0), 1 (settled in the wedges or later tries) or
 * 2 (the tail). */
static double ref_normal(const struct ref_zig *z, uint64_t seed, uint64_t i, int *path)
{
    const double R = 3.442619855899;
    uint64_t w = philox_word(seed, i >> 1, 0, 0, (int)(i & 1)), m = 0;
    *path = 0;
    for (;;) {
        double u = 2.0 * qz_u01(w) - 1.0;
        unsigned l = (unsigned)(w & 0x7F);
        if (fabs(u) < z->r[l])
            return u * z->x[l];
        if (l == 0) {
            *path = 2;
            for (;;) {
                double x = log(qz_u01_pos(philox_word(seed, i, 4, (uint32_t)(m >> 1), m & 1))) / R;
                m++;
                double y = log(qz_u01_pos(philox_word(seed, i, 4, (uint32_t)(m >> 1), m & 1)));
                m++;
                if (-2.0 * y >= x * x)
                    return u < 0.0 ? x - R : R - x;
            }
        }
        *path = 1;
        double x = u * z->x[l];
        uint64_t v = philox_word(seed, i, 4, (uint32_t)(m >> 1), m & 1);
        m++;
        if (qz_u01(v) * (z->fx[l] - z->fx[l + 1]) < ref_f(x) - z->fx[l + 1])
            return x;
        w = philox_word(seed, i, 4, (uint32_t)(m >> 1), m & 1);
        m++;
    }
}

static void test_normal_reference(void)
{
    const long n = 3000000;
    const uint64_t seed = 0x0fedcba987654321u;
    struct ref_zig z;
    long bad = 0, paths[3] = {0, 0, 0};

    ref_tables(&z);
    for (long i = 0; i < n; i++) {
        int path;
        double want = ref_normal(&z, seed, (uint64_t)i, &path);
        paths[path]++;
        bad += bits_of(qz_normal(seed, (uint64_t)i)) != bits_of(want);
    }
    CHECK(bad == 0, "qz_normal differs from the reference mapping for %ld of %ld samples", bad, n);
    CHECK(paths[1] > 50000 && paths[2] > 1000, "wedge/tail paths barely covered: %ld, %ld",
          paths[1], paths[2]);
    printf("  reference      %ld samples: %ld rectangle, %ld wedge/retry, %ld tail\n", n, paths[0],
           paths[1], paths[2]);
}

/* qz_normal_batch over consecutive batches of sizes taken in turn from `sizes`,
 * against qz_normal one by one (want[k] = qz_normal(seed, first + k)). */
static long normal_splits(uint64_t seed, uint64_t first, size_t n, const double *want, double *got,
                          const size_t *sizes, size_t nsizes)
{
    long bad = 0;
    for (size_t k = 0, s = 0; k < n; s = (s + 1) % nsizes) {
        size_t m = sizes[s] < n - k ? sizes[s] : n - k;
        got[k + m] = 12345.0; /* guard */
        qz_normal_batch(seed, first + k, m, got + k);
        bad += got[k + m] != 12345.0;
        k += m;
    }
    for (size_t k = 0; k < n; k++)
        bad += bits_of(got[k]) != bits_of(want[k]);
    return bad;
}

/* qz_normal_batch equals qz_normal element by element, over 2.1M samples (about 58000
 * of them settle in the wedges and 1200 in the tail) in several different splits,
 * with odd and even starts, and where the block index's high 32 bits change; the
 * scaled batch equals mean + stddev * qz_normal. */
static void check_normal_batch(const char *kernel, const double *want, double *got, size_t n,
                               uint64_t seed, uint64_t first)
{
    static const size_t split_a[] = {16384};
    static const size_t split_b[] = {1,  2,   3,   5,   31,  32,  33,   64,  63,
                                     65, 127, 129, 511, 512, 513, 1000, 4097};
    static const size_t split_c[] = {7, 100003, 29, 65, 1, 777};
    long bad = normal_splits(seed, first, n, want, got, split_a, 1);
    bad += normal_splits(seed, first, n, want, got, split_b, sizeof split_b / sizeof split_b[0]);
    bad += normal_splits(seed, first + 1, n - 1, want + 1, got, split_c,
                         sizeof split_c / sizeof split_c[0]);
    CHECK(bad == 0, "%s: %ld batch normals differ from qz_normal", kernel, bad);

    /* Around block index 2^32 (sample 2^33), where the high counter word changes. */
    enum { M = 3000 };
    static double w2[M], g2[M + 1];
    const uint64_t f2 = ((uint64_t)1 << 33) - 1001;
    long bad2 = 0;
    for (size_t k = 0; k < M; k++)
        w2[k] = qz_normal(seed, f2 + k);
    static const size_t split_d[] = {M, 1, 40, 511, 1024, 63, 65, 130};
    bad2 += normal_splits(seed, f2, M, w2, g2, split_d, sizeof split_d / sizeof split_d[0]);
    CHECK(bad2 == 0, "%s: %ld batch normals differ near sample 2^33", kernel, bad2);

    /* mean + stddev * Z in one pass. */
    long bad3 = 0;
    const double mean = -3.25, sd = 0.1;
    qz_normal_batch_scaled(seed, first + 3, 100000, mean, sd, got);
    for (size_t k = 0; k < 100000; k++)
        bad3 += bits_of(got[k]) != bits_of(mean + sd * want[k + 3]);
    CHECK(bad3 == 0, "%s: %ld scaled batch normals differ from mean + stddev * qz_normal", kernel,
          bad3);
    printf("  normal batch %-9s %zu samples x 3 splits: %ld differences\n", kernel, n,
           bad + bad2 + bad3);
}

static const char *const kernel_names[] = {"portable", "avx2", "avx512"};

/* The kernels against each other, sample by sample: words and (scaled) normals of
 * 2000 batches with pseudo-random starts (odd and even, some just below the block
 * index 2^32) and lengths (0 .. 4200, so tails of every length modulo 8 and 64),
 * drawn by `kernel` and by the portable kernels. */
static void check_cross(int kernel)
{
    enum { CAP = 4200 + 64 };
    static uint64_t wa[CAP], wb[CAP];
    static double na[CAP], nb[CAP];
    uint64_t x = 0x243f6a8885a308d3u;
    long bad = 0, cases = 0;

    for (int c = 0; c < 2000; c++) {
        x = x * 6364136223846793005u + 1442695040888963407u;
        uint64_t first = x >> 20;
        if (c % 4 == 1)
            first = ((uint64_t)1 << 33) - (x >> 56) * 8 - (c & 7);
        size_t n = (size_t)((x >> 8) % 4201);
        uint64_t seed = x ^ 0x9e3779b97f4a7c15u;
        uint32_t stream = (uint32_t)(c % QZ_STREAM_EXTRA);
        for (int pass = 0; pass < 2; pass++) {
            qz_rng_set_kernel(pass ? QZ_KERNEL_PORTABLE : kernel);
            uint64_t *w = pass ? wb : wa;
            double *v = pass ? nb : na;
            qz_rng_words(seed, stream, first, n, w);
            if (c % 2)
                qz_normal_batch_scaled(seed, first, n, 1.5, -0.25, v);
            else
                qz_normal_batch(seed, first, n, v);
        }
        for (size_t k = 0; k < n; k++)
            bad += (wa[k] != wb[k]) + (bits_of(na[k]) != bits_of(nb[k]));
        cases++;
    }
    qz_rng_set_kernel(kernel);
    CHECK(bad == 0, "%s: %ld words or normals differ from the portable kernels'",
          kernel_names[kernel], bad);
    printf("  cross %-9s %ld batches against the portable kernels: %ld differences\n",
           kernel_names[kernel], cases, bad);
}

/* Every kernel the CPU has gives the same bits as the scalar definitions and as the
 * portable kernels. Returns the number of kernels not available (not checked). */
static int test_batches(int only)
{
    const size_t n = (1u << 21) + 4321;
    const uint64_t seed = 0xabcdef0123456789u, first = 123456;
    double *want = malloc(n * sizeof *want), *got = malloc((n + 1) * sizeof *got);
    int missing = 0;
    if (!want || !got) {
        CHECK(want && got, "out of memory");
        free(want);
        free(got);
        return 0;
    }
    for (size_t k = 0; k < n; k++)
        want[k] = qz_normal(seed, first + k);

    for (int kernel = QZ_KERNEL_AVX512; kernel >= QZ_KERNEL_PORTABLE; kernel--) {
        if (only >= 0 && kernel != only)
            continue;
        if (qz_rng_set_kernel(kernel) != kernel) {
            printf("  (%s kernels not available on this CPU: not checked)\n", kernel_names[kernel]);
            missing++;
            continue;
        }
        CHECK(strcmp(qz_rng_kernel_name(), kernel_names[kernel]) == 0, "kernel name %s for %s",
              qz_rng_kernel_name(), kernel_names[kernel]);
        check_words(kernel_names[kernel]);
        check_normal_batch(kernel_names[kernel], want, got, n, seed, first);
        if (kernel != QZ_KERNEL_PORTABLE)
            check_cross(kernel);
    }
    qz_rng_set_kernel(-1);
    free(want);
    free(got);
    return missing;
}

/* The documented value of sample i under a non-mixture spec (README, generators). */
static double spec_value(const cJSON *g, uint64_t seed, uint64_t i)
{
    const char *kind = cJSON_GetObjectItem(g, "kind")->valuestring;
    const cJSON *a = cJSON_GetArrayItem(g, 1), *b = cJSON_GetArrayItem(g, 2);
    uint64_t w = qz_rng_word(seed, QZ_STREAM_VALUE, i);
    if (strcmp(kind, "fail") == 0)
        return NAN;
    if (strcmp(kind, "normal") == 0)
        return a->valuedouble + b->valuedouble * qz_normal(seed, i);
    if (strcmp(kind, "lognormal") == 0)
        return exp(a->valuedouble + b->valuedouble * qz_normal(seed, i));
    if (strcmp(kind, "uniform") == 0)
        return a->valuedouble + (b->valuedouble - a->valuedouble) * qz_u01(w);
    if (strcmp(kind, "pareto") == 0)
        return a->valuedouble * pow(qz_u01_pos(w), -1.0 / b->valuedouble);
    return a->valuedouble + floor(qz_u01(w) * (b->valuedouble - a->valuedouble + 1.0));
}

/* The built-in generators (gen_builtin.c) on the batch functions: the values and
 * component costs of samples first .. first+n-1 are the documented functions of
 * (seed, i) (mixture component from word i of the component stream), whatever the
 * batch split. The specs list their parameters in order after "kind". */
static void test_builtin_batches(void)
{
    static const char *const specs[] = {
        "{\"kind\": \"normal\", \"mean\": 2, \"stddev\": 3}",
        "{\"kind\": \"lognormal\", \"mu\": 0.5, \"sigma\": 0.75}",
        "{\"kind\": \"uniform\", \"low\": -1, \"high\": 3}",
        "{\"kind\": \"pareto\", \"scale\": 3, \"shape\": 2.5}",
        "{\"kind\": \"discrete_uniform\", \"low\": -5, \"high\": 9}",
        "{\"kind\": \"mixture\", \"components\": ["
        "{\"weight\": 0.5, \"cost\": 1, \"generator\": {\"kind\": \"normal\", \"mean\": 0, "
        "\"stddev\": 1}},"
        "{\"weight\": 0.3, \"cost\": 2, \"generator\": {\"kind\": \"uniform\", \"low\": 0, "
        "\"high\": 1}},"
        "{\"weight\": 0.17, \"cost\": 3, \"generator\": {\"kind\": \"fail\"}},"
        "{\"weight\": 0.02, \"cost\": 4, \"generator\": {\"kind\": \"pareto\", \"scale\": 1, "
        "\"shape\": 1.5}},"
        "{\"weight\": 0.01, \"cost\": 5, \"generator\": {\"kind\": \"normal\", \"mean\": 3, "
        "\"stddev\": 1}}]}",
    };
    static const size_t splits[] = {20000, 1, 2, 31, 512, 513, 7, 1000, 4097};
    enum { N = 20000 };
    const uint64_t seed = 31337, first = 1001;
    struct qz_error err = {QZ_OK, ""};
    struct qz_jv at = {"test", ""};
    struct qz_batch b;
    static double want_v[N], want_c[N];

    if (qz_batch_init(&b, N, &err)) {
        CHECK(0, "%s", err.msg);
        return;
    }
    for (size_t t = 0; t < sizeof specs / sizeof specs[0]; t++) {
        cJSON *spec = cJSON_Parse(specs[t]);
        struct qz_gen gen;
        long bad = 0;
        if (!spec || qz_gen_open(&gen, spec, &at, seed, &err)) {
            CHECK(0, "spec %zu: %s", t, spec ? err.msg : "bad JSON");
            cJSON_Delete(spec);
            continue;
        }
        const cJSON *comps = cJSON_GetObjectItem(spec, "components");
        double total = 0;
        for (int c = 0; comps && c < cJSON_GetArraySize(comps); c++)
            total += cJSON_GetObjectItem(cJSON_GetArrayItem(comps, c), "weight")->valuedouble;
        for (size_t k = 0; k < N; k++) {
            const cJSON *g = spec;
            want_c[k] = 0.0;
            if (comps) {
                double u = qz_u01(qz_rng_word(seed, QZ_STREAM_COMPONENT, first + k)) * total;
                double upper = 0;
                int c = 0, nc = cJSON_GetArraySize(comps);
                for (;; c++) {
                    upper +=
                        cJSON_GetObjectItem(cJSON_GetArrayItem(comps, c), "weight")->valuedouble;
                    if (c + 1 == nc || u < upper)
                        break;
                }
                g = cJSON_GetObjectItem(cJSON_GetArrayItem(comps, c), "generator");
                want_c[k] = cJSON_GetObjectItem(cJSON_GetArrayItem(comps, c), "cost")->valuedouble;
            }
            want_v[k] = spec_value(g, seed, first + k);
        }
        for (size_t s = 0; s < sizeof splits / sizeof splits[0]; s++)
            for (size_t k = 0; k < N;) {
                size_t m = splits[s] < N - k ? splits[s] : N - k;
                if (gen.ops->draw(gen.state, first + k, m, &b, &err)) {
                    CHECK(0, "spec %zu: %s", t, err.msg);
                    break;
                }
                for (size_t q = 0; q < m; q++)
                    bad += bits_of(b.value[q]) != bits_of(want_v[k + q]) ||
                           (b.component_cost_valid ? b.component_cost[q] : 0.0) != want_c[k + q];
                k += m;
            }
        CHECK(bad == 0, "spec %zu: %ld samples differ from their documented values", t, bad);
        qz_gen_close(&gen);
        cJSON_Delete(spec);
    }
    qz_batch_free(&b);
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
    enum { B = 16384 };
    static double batch[B];
    for (long i = 0; i < n_tail; i += B) {
        long m = n_tail - i < B ? n_tail - i : B;
        qz_normal_batch(seed, (uint64_t)i, (size_t)m, batch);
        for (long k = 0; k < m; k++) {
            double x = batch[k];
            if (fabs(x) <= r_tail)
                continue;
            positive += x > 0.0;
            if (count < cap)
                tail[count] = fabs(x);
            count++;
        }
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

    /* The tie key is word i of the tie stream, apart from the value stream. */
    CHECK(qz_tie_key(seed, 7) == qz_rng_word(seed, QZ_STREAM_TIE, 7), "tie key is not word 7");
    CHECK(qz_tie_key(seed, 7) != qz_rng_word(seed, QZ_STREAM_VALUE, 7),
          "tie key equals the value stream's word");

    /* N random 64-bit keys collide with probability ~N^2 / 2^65 = 3e-10. */
    qsort(keys, N, sizeof keys[0], cmp_u64);
    int distinct = 1;
    for (size_t i = 1; i < N; i++)
        distinct &= keys[i] != keys[i - 1];
    CHECK(distinct, "duplicate tie keys among %d indices", N);
}

/* test_rng: every check, with the kernels the CPU has. test_rng avx512: only the
 * AVX-512 kernels' comparisons; exit 77 (a skip) when the CPU lacks AVX-512. */
int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "avx512") == 0) {
        if (test_batches(QZ_KERNEL_AVX512)) {
            printf("test_rng: this CPU has no AVX-512 (F, DQ, VL): the AVX-512 kernels were "
                   "not checked\n");
            return 77;
        }
    } else {
        test_philox_kat();
        test_word_mapping();
        test_uniforms();
        test_normal_determinism();
        test_normal_reference();
        test_batches(-1);
        test_builtin_batches();
        test_normal_moments();
        test_normal_tail();
        test_tie_key();
    }
    if (failures) {
        fprintf(stderr, "test_rng: %d check(s) failed\n", failures);
        return 1;
    }
    printf("test_rng: all checks passed\n");
    return 0;
}
