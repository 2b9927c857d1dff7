/* The streaming top set and its merge against a full sort, on random inputs with
 * many ties (utilities from a small set of values) and NaNs filtered as the driver
 * does. Also checks ties_out / boundary_ties against a brute-force count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "rng.h"
#include "topset.h"

static uint64_t sort_seed;

static int cmp_best_first(const void *pa, const void *pb)
{
    const struct qz_entry *a = pa, *b = pb;
    if (qz_entry_better(sort_seed, a, b))
        return -1;
    if (qz_entry_better(sort_seed, b, a))
        return 1;
    return 0;
}

/* Utility of sample i in trial `trial`: few distinct values (ties), some NaN. */
static double utility(uint64_t trial, uint64_t i, int levels)
{
    uint64_t b[2];
    qz_rng_block(trial, i, 7, 0, b);
    if ((b[1] & 31) == 0)
        return NAN;
    return (double)(b[0] % (uint64_t)levels) - levels / 2;
}

static void one_trial(uint64_t trial, size_t n, size_t k, int parts, int levels)
{
    struct qz_entry *all = malloc(n * sizeof *all);
    struct qz_topset *sets = calloc((size_t)parts, sizeof *sets);
    struct qz_entry *acc = malloc(k * sizeof *acc), *tmp = malloc(k * sizeof *tmp);
    size_t nall = 0, nacc = 0;
    uint64_t cacc = 0, want_ties = 0;

    for (int p = 0; p < parts; p++)
        qz_topset_init(&sets[p], k, n, trial, NULL);
    /* Indices are dealt to parts in chunks of 7, as ranks deal chunks. */
    for (uint64_t i = 0; i < n; i++) {
        double u = utility(trial, i, levels);
        struct qz_topset *ts = &sets[(i / 7) % (uint64_t)parts];
        if (isnan(u))
            continue;
        all[nall++] = (struct qz_entry){u, (double)i, i};
        CHECK(qz_topset_offer(ts, u, (double)i, i, NULL) == QZ_OK, "offer %llu",
              (unsigned long long)i);
    }
    sort_seed = trial;
    qsort(all, nall, sizeof *all, cmp_best_first);
    for (int p = 0; p < parts; p++) {
        size_t nout;
        uint64_t cout;
        /* Odd trials first drop what lies below the K-th best utility of all (as the
         * selection's prefilter may): nothing of the result may change. */
        if (trial % 2 && nall > 0)
            qz_topset_keep_at_least(&sets[p], all[(nall < k ? nall : k) - 1].utility);
        qz_topset_finish(&sets[p]);
        qz_topset_merge(trial, k, acc, nacc, cacc, sets[p].e, sets[p].n, sets[p].ties_out, tmp,
                        &nout, &cout);
        memcpy(acc, tmp, nout * sizeof *acc);
        nacc = nout;
        cacc = cout;
    }
    size_t want_n = nall < k ? nall : k;
    CHECK(nacc == want_n, "trial %llu: %zu entries, want %zu", (unsigned long long)trial, nacc,
          want_n);
    for (size_t i = 0; i < nacc && i < want_n; i++) {
        CHECK(acc[i].index == all[i].index && acc[i].utility == all[i].utility &&
                  acc[i].cost == all[i].cost,
              "trial %llu position %zu: index %llu, want %llu", (unsigned long long)trial, i,
              (unsigned long long)acc[i].index, (unsigned long long)all[i].index);
    }
    if (want_n > 0) {
        for (size_t i = 0; i < nall; i++)
            if (i != want_n - 1 && all[i].utility == all[want_n - 1].utility)
                want_ties++;
        CHECK(qz_topset_boundary_ties(acc, nacc, cacc) == want_ties,
              "trial %llu: boundary ties %llu, want %llu", (unsigned long long)trial,
              (unsigned long long)qz_topset_boundary_ties(acc, nacc, cacc),
              (unsigned long long)want_ties);
    }
    /* Truncating to fewer entries keeps the same prefix and the right tie count. */
    if (nacc > 2) {
        size_t kk = nacc / 2, nn = nacc;
        uint64_t cc = cacc, ties = 0;
        qz_topset_truncate(acc, &nn, &cc, kk);
        for (size_t i = 0; i < nall; i++)
            if (i != kk - 1 && all[i].utility == all[kk - 1].utility)
                ties++;
        CHECK(nn == kk && qz_topset_boundary_ties(acc, nn, cc) == ties,
              "trial %llu: truncated ties %llu, want %llu", (unsigned long long)trial,
              (unsigned long long)qz_topset_boundary_ties(acc, nn, cc), (unsigned long long)ties);
    }
    for (int p = 0; p < parts; p++)
        qz_topset_free(&sets[p]);
    free(sets);
    free(all);
    free(acc);
    free(tmp);
}

/* Under AddressSanitizer a refused allocation returns NULL, as without it (the hook is
 * read by the sanitizer runtime and unused otherwise). */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

/* A full set that cannot grow and holds no more than K entries fails with QZ_ENOMEM
 * and stays as it was (it used to abort). The set claims room for 2^54 entries, so
 * growing it asks for about 2^59 bytes, which no allocator grants; compaction fails
 * before it touches an entry. */
static void test_no_memory(void)
{
    struct qz_topset ts;
    struct qz_error err = {QZ_OK, ""};
    size_t cap, n;

    qz_topset_init(&ts, 1, 1, 5, NULL);
    cap = ts.cap;
    ts.k = (size_t)1 << 56;
    ts.full = ts.k + ts.k / 8;
    ts.cap = ts.n = n = (size_t)1 << 54;
    CHECK(qz_topset_push(&ts, 1.0, NAN, 7, &err) == QZ_ENOMEM, "push into a set that cannot grow");
    CHECK(err.code == QZ_ENOMEM && strstr(err.msg, "out of memory growing a top set to"),
          "message: %s", err.msg);
    CHECK(ts.n == n && ts.cap == n, "the set changed: %zu held, room %zu", ts.n, ts.cap);
    ts.cap = cap;
    ts.n = 0;
    qz_topset_free(&ts);
}

/* qz_entries_sort (a radix sort on the utility's bits, then tie keys) against qsort
 * with the selection order, on utilities that stress the key: both zeros, both
 * infinities, subnormals, both signs across magnitudes, many ties; input random,
 * already sorted, and two sorted runs (a redistributed slice). */
static void test_sort(uint64_t seed)
{
    static const double special[] = {0.0,   -0.0,   INFINITY, -INFINITY, 5e-324, -5e-324,
                                     1e308, -1e308, 1.0,      -1.0,      0.5,    -0.5};
    size_t n = 100000;
    struct qz_entry *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);

    for (int shape = 0; shape < 3; shape++) {
        for (size_t i = 0; i < n; i++) {
            uint64_t w[2];
            double u;
            qz_rng_block(seed, i, 9, (uint64_t)shape, w);
            switch (w[0] % 4) {
            case 0:
                u = special[w[1] % (sizeof special / sizeof *special)];
                break;
            case 1:
                u = (double)(int64_t)(w[1] % 101) - 50; /* ties */
                break;
            case 2:
                u = ldexp((double)(w[1] >> 11), (int)(w[0] >> 40) % 200 - 150) *
                    ((w[0] >> 3) & 1 ? -1 : 1);
                break;
            default:
                u = qz_u01(w[1]) - 0.5;
            }
            a[i] = (struct qz_entry){u, (double)i, i ^ (w[0] >> 20)};
        }
        sort_seed = seed;
        if (shape > 0) { /* sorted, or two sorted halves */
            qsort(a, shape == 1 ? n : n / 2, sizeof *a, cmp_best_first);
            if (shape == 2)
                qsort(a + n / 2, n - n / 2, sizeof *a, cmp_best_first);
        }
        memcpy(b, a, n * sizeof *a);
        qsort(b, n, sizeof *b, cmp_best_first);
        qz_entries_sort(a, n, seed);
        for (size_t i = 0; i < n; i++)
            if (memcmp(&a[i], &b[i], sizeof a[i]) != 0) {
                CHECK(0, "sort shape %d position %zu: index %llu (%g), want %llu (%g)", shape, i,
                      (unsigned long long)a[i].index, a[i].utility, (unsigned long long)b[i].index,
                      b[i].utility);
                break;
            }
    }
    free(a);
    free(b);
}

int main(void)
{
    static const size_t ns[] = {1, 2, 10, 100, 1000, 20000, 60000};
    static const size_t ks[] = {1, 2, 3, 7, 50, 999, 5000};
    static const int levels[] = {1, 3, 50, 1000000};
    uint64_t trial = 1;

    for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
        for (size_t b = 0; b < sizeof ks / sizeof *ks; b++)
            for (size_t c = 0; c < sizeof levels / sizeof *levels; c++)
                for (int parts = 1; parts <= 4; parts++)
                    one_trial(trial++, ns[a], ks[b], parts, levels[c]);
    /* Large K: buffers big enough for the sampled filter compaction. */
    for (size_t c = 0; c < sizeof levels / sizeof *levels; c++)
        for (int parts = 1; parts <= 3; parts += 2)
            one_trial(trial++, 600000, 70000, parts, levels[c]);

    /* The fast-path bound: after a compaction, thr is the lowest kept utility; memory
     * is K + slack entries, or the number of samples when that is smaller. */
    struct qz_topset ts;
    qz_topset_init(&ts, 2, 1000000, 5, NULL);
    CHECK(ts.cap == 2 + 4096, "capacity %zu, want K + 4096", ts.cap);
    CHECK(ts.thr == -INFINITY, "empty set bound %g", ts.thr);
    for (uint64_t i = 0; i < ts.cap + 1; i++)
        CHECK(qz_topset_offer(&ts, (double)(i % 1000), NAN, i, NULL) == QZ_OK, "offer");
    /* 4098 values 0..999 (999 four times): the compaction keeps two 999s. */
    CHECK(ts.thr == 999.0 && ts.n == 3 && ts.ties_out == 2,
          "bound %g (want 999), %zu held (want 3), ties_out %llu (want 2)", ts.thr, ts.n,
          (unsigned long long)ts.ties_out);
    qz_topset_free(&ts);
    qz_topset_init(&ts, 10000000, 1234, 5, NULL);
    CHECK(ts.cap == 1234, "capacity %zu, want the 1234 samples offered", ts.cap);
    qz_topset_free(&ts);
    qz_topset_init(&ts, 100000, 1u << 30, 5, NULL);
    CHECK(ts.cap == 112500, "capacity %zu, want K + K/8", ts.cap);
    qz_topset_free(&ts);
    test_no_memory();
    test_sort(11);
    test_sort(12);
    return check_done("test_topset");
}
