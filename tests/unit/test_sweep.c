/* Sweeps: per-q mass, K, threshold, E_Q[u], E_Q[c], the selection, the cost bound and
 * KL, against values worked out by hand from the selection rule (integer and fractional mass, m <
 * 1); the base-distribution mean and standard error; the input errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "select.h"
#include "sweep.h"

#define CLOSE(a, b) (fabs((a) - (b)) <= 1e-13 * fmax(1.0, fabs(b)))

enum { N = 20 };

/* Twenty samples, best first: utility 20 - p at position p, a 0/1 cost that is 1 at
 * positions 1, 4, 5 and 9 .. 19, and scrambled global indices 1000 + (7p + 3) mod 20. */
static void fill(struct qz_entry *e)
{
    for (int p = 0; p < N; p++) {
        e[p].utility = 20 - p;
        e[p].cost = (p == 1 || p == 4 || p == 5 || p >= 9) ? 1.0 : 0.0;
        e[p].index = 1000 + (uint64_t)((7 * p + 3) % N);
    }
}

static void hand_cases(void)
{
    struct qz_entry e[N];
    struct qz_sweep_row r[5];
    struct qz_error err;
    const double q[5] = {0.25, 0.33, 0.01, 1.0, 0.07};
    const double base = 14.0 / 20; /* 14 of the 20 costs are 1 */
    const uint64_t seed = 7;
    fill(e);

    CHECK(qz_sweep(e, N, N, seed, q, 5, base, r, &err) == QZ_OK, "sweep: %s", err.msg);

    /* q = 0.25: m = 5, K = 5, each of positions 0..4 weighs 1/5. */
    CHECK(r[0].mass == 5.0 && r[0].top_count == 5, "q 0.25: m %g K %llu", r[0].mass,
          (unsigned long long)r[0].top_count);
    CHECK(r[0].threshold == 16.0, "q 0.25: threshold %g", r[0].threshold);
    CHECK(r[0].mean_utility == (20 + 19 + 18 + 17 + 16) / 5.0, "q 0.25: E_Q[u] %.17g",
          r[0].mean_utility);
    CHECK(r[0].mean_cost == (0 + 1 + 0 + 0 + 1) / 5.0, "q 0.25: E_Q[c] %.17g", r[0].mean_cost);
    CHECK(r[0].cost_bound == 0.7 / 0.25, "q 0.25: 0.7 / 0.25, got %g", r[0].cost_bound);
    CHECK(CLOSE(r[0].kl, 2 * log(2.0)), "q 0.25: KL ln 4, got %.17g", r[0].kl);

    /* q = 0.33: m = 6.6, K = 7; positions 0..5 weigh 1/6.6, position 6 weighs 0.6/6.6. */
    CHECK(CLOSE(r[1].mass, 6.6) && r[1].top_count == 7, "q 0.33: m %.17g K %llu", r[1].mass,
          (unsigned long long)r[1].top_count);
    CHECK(r[1].threshold == 14.0, "q 0.33: threshold %g", r[1].threshold);
    CHECK(CLOSE(r[1].mean_utility, (20 + 19 + 18 + 17 + 16 + 15 + 0.6 * 14) / 6.6),
          "q 0.33: E_Q[u] %.17g", r[1].mean_utility);
    CHECK(CLOSE(r[1].mean_cost, (0 + 1 + 0 + 0 + 1 + 1 + 0.6 * 0) / 6.6), "q 0.33: E_Q[c] %.17g",
          r[1].mean_cost);
    CHECK(r[1].cost_bound == 0.7 / 0.33, "q 0.33: 0.7 / 0.33, got %.17g", r[1].cost_bound);

    /* q = 0.01: m = 0.2 < 1: the argmax, weight 1. */
    CHECK(CLOSE(r[2].mass, 0.2) && r[2].top_count == 1, "q 0.01: m %.17g K %llu", r[2].mass,
          (unsigned long long)r[2].top_count);
    CHECK(r[2].threshold == 20.0 && r[2].mean_utility == 20.0 && r[2].mean_cost == 0.0,
          "q 0.01: argmax: threshold %g E_Q[u] %.17g E_Q[c] %g", r[2].threshold, r[2].mean_utility,
          r[2].mean_cost);
    CHECK(r[2].selected_position == 0 && r[2].selected_index == e[0].index,
          "q 0.01 selects the argmax");
    CHECK(r[2].cost_bound == 0.7 / 0.01, "q 0.01: bound %g", r[2].cost_bound);

    /* q = 1: every sample, weight 1/20: E_Q = E_γ. */
    CHECK(r[3].mass == 20.0 && r[3].top_count == 20 && r[3].threshold == 1.0, "q 1: m %g K %llu",
          r[3].mass, (unsigned long long)r[3].top_count);
    CHECK(r[3].mean_utility == 21.0 / 2, "q 1: E_Q[u] = mean of 1..20, got %.17g",
          r[3].mean_utility);
    CHECK(r[3].mean_cost == base, "q 1: E_Q[c] = E_γ[c], got %.17g", r[3].mean_cost);
    CHECK(r[3].cost_bound == base, "q 1: bound = 0.7 / 1 = E_γ[c]");
    CHECK(r[3].kl == 0.0 && !signbit(r[3].kl), "q 1: KL +0, got %g", r[3].kl);

    /* q = 0.07: 0.07 * 20 = 1.4000000000000001 (not snapped); K = 2: position 0 weighs
     * 1/1.4, position 1 weighs 0.4/1.4. */
    CHECK(r[4].top_count == 2, "q 0.07: K %llu", (unsigned long long)r[4].top_count);
    CHECK(CLOSE(r[4].mean_utility, (20 + 0.4 * 19) / 1.4), "q 0.07: E_Q[u] %.17g",
          r[4].mean_utility);
    CHECK(CLOSE(r[4].mean_cost, (0 + 0.4 * 1) / 1.4), "q 0.07: E_Q[c] %.17g", r[4].mean_cost);

    for (int i = 0; i < 5; i++) {
        uint64_t pos = qz_select_position(seed, 0, qz_mass(q[i], N));
        CHECK(r[i].selected_position == pos && r[i].selected_index == e[pos].index,
              "q %g: selected position %llu index %llu, a fresh run selects %llu", q[i],
              (unsigned long long)r[i].selected_position, (unsigned long long)r[i].selected_index,
              (unsigned long long)pos);
        CHECK(CLOSE(r[i].kl, log(1 / q[i])), "q %g: KL %.17g", q[i], r[i].kl);
        CHECK(r[i].q == q[i], "row %d keeps its q", i);
    }
}

/* Random sets: E_Q against Σ_p qz_position_weight(m, p) x_p summed directly, a 0/1
 * cost against (ones among the first K-1 + (m - (K-1)) c_{K-1}) / m counted in
 * integers, E_Q[1] == 1 exactly, E_Q[c] <= E_γ[c] / q, and the selection for many
 * seeds. */
static void random_cases(void)
{
    enum { VALID = 1000 };
    static struct qz_entry e[VALID];
    static const double q[] = {1e-4, 0.001, 0.0015, 0.0123, 0.05, 0.3333, 0.5, 0.999, 1.0};
    enum { NQ = sizeof q / sizeof q[0] };
    struct qz_sweep_row r[NQ];
    struct qz_error err;
    unsigned seed_state = 12345;

    for (int round = 0; round < 20; round++) {
        double u = 1e3, ones = 0;
        for (size_t p = 0; p < VALID; p++) {
            seed_state = seed_state * 1103515245u + 12345u;
            u -= (double)(seed_state >> 16 & 0x3ff) / 64.0; /* ties included */
            e[p].utility = u;
            e[p].cost = (seed_state >> 8 & 7) == 0;
            e[p].index = p * 31 % VALID;
            ones += e[p].cost;
        }
        double base = ones / VALID;
        uint64_t seed = 1000 + (uint64_t)round;
        CHECK(qz_sweep(e, VALID, VALID, seed, q, NQ, base, r, &err) == QZ_OK, "%s", err.msg);

        for (size_t i = 0; i < NQ; i++) {
            double m = r[i].mass, wsum = 0, direct_u = 0, direct_c = 0;
            uint64_t k = r[i].top_count, ones_before = 0;
            CHECK(m == qz_mass(q[i], VALID) && k == qz_top_count(m), "q %g: m, K", q[i]);
            for (uint64_t p = 0; p < k; p++) {
                double w = qz_position_weight(m, p);
                wsum += w;
                direct_u += w * e[p].utility;
                direct_c += w * e[p].cost;
                if (p + 1 < k)
                    ones_before += e[p].cost == 1.0;
            }
            double counted =
                m < 1 ? e[0].cost
                      : ((double)ones_before + (m - (double)(k - 1)) * e[k - 1].cost) / m;
            CHECK(fabs(wsum - 1) < 1e-12, "q %g: weights sum to %.17g", q[i], wsum);
            CHECK(CLOSE(r[i].mean_utility, direct_u), "q %g: E_Q[u] %.17g, direct %.17g", q[i],
                  r[i].mean_utility, direct_u);
            CHECK(CLOSE(r[i].mean_cost, direct_c) && CLOSE(r[i].mean_cost, counted),
                  "q %g: E_Q[c] %.17g, direct %.17g, counted %.17g", q[i], r[i].mean_cost, direct_c,
                  counted);
            CHECK(r[i].mean_cost <= base / q[i] * (1 + 1e-12), "q %g: E_Q[c] %g > E_γ[c]/q %g",
                  q[i], r[i].mean_cost, base / q[i]);
            CHECK(r[i].cost_bound == base / q[i], "q %g: bound", q[i]);
            CHECK(r[i].threshold == e[k - 1].utility, "q %g: threshold", q[i]);
            uint64_t pos = qz_select_position(seed, 0, m);
            CHECK(r[i].selected_position == pos && r[i].selected_index == e[pos].index,
                  "q %g seed %llu: selected %llu, a fresh run selects %llu", q[i],
                  (unsigned long long)seed, (unsigned long long)r[i].selected_position,
                  (unsigned long long)pos);
        }
    }

    /* A constant cost of 1: the weights' sum, as the module forms it, is exactly 1. */
    for (size_t p = 0; p < VALID; p++)
        e[p].cost = 1.0;
    CHECK(qz_sweep(e, VALID, VALID, 1, q, NQ, 1.0, r, &err) == QZ_OK, "%s", err.msg);
    for (size_t i = 0; i < NQ; i++)
        CHECK(r[i].mean_cost == 1.0, "q %g: E_Q[1] = %.17g", q[i], r[i].mean_cost);

    /* No cost scored: NaN costs and E_γ[c] give NaN figures, utilities unaffected. */
    for (size_t p = 0; p < VALID; p++)
        e[p].cost = NAN;
    CHECK(qz_sweep(e, VALID, VALID, 1, q, NQ, NAN, r, &err) == QZ_OK, "%s", err.msg);
    for (size_t i = 0; i < NQ; i++)
        CHECK(isnan(r[i].mean_cost) && isnan(r[i].cost_bound) && !isnan(r[i].mean_utility),
              "q %g: NaN cost gives E_Q[c] %g, bound %g", q[i], r[i].mean_cost, r[i].cost_bound);
}

/* Only the top set is needed: n entries suffice when n >= the largest K, with valid
 * counting every valid sample. */
static void partial_top_set(void)
{
    struct qz_entry e[N];
    struct qz_sweep_row r[2];
    struct qz_error err;
    const double ok[2] = {0.02, 0.0004}; /* m = 20 and 0.4 of 1000 valid */
    fill(e);
    CHECK(qz_sweep(e, N, 1000, 3, ok, 2, NAN, r, &err) == QZ_OK, "%s", err.msg);
    CHECK(r[0].top_count == 20 && r[1].top_count == 1, "K %llu %llu",
          (unsigned long long)r[0].top_count, (unsigned long long)r[1].top_count);
    CHECK(r[0].mean_utility == 10.5, "E_Q[u] of the top 20 of 1000 at q 0.02: %.17g",
          r[0].mean_utility);
}

/* m < 1: E_Q is the argmax's value itself, not (m u) / m, which differs for u = 3 and
 * m = 0.2. */
static void argmax_exact(void)
{
    struct qz_entry e[N];
    struct qz_sweep_row r;
    struct qz_error err;
    const double q = 0.01;
    fill(e);
    e[0].utility = 30.0 / 10;
    e[0].cost = 3.0;
    CHECK((0.2 * 3.0) / 0.2 != 3.0, "the case distinguishes");
    CHECK(qz_sweep(e, N, N, 3, &q, 1, 0.5, &r, &err) == QZ_OK, "%s", err.msg);
    CHECK(r.mean_utility == 3.0 && r.mean_cost == 3.0, "m 0.2: E_Q[u] %.17g E_Q[c] %.17g",
          r.mean_utility, r.mean_cost);
}

static void errors(void)
{
    struct qz_entry e[N];
    struct qz_sweep_row r[3];
    struct qz_error err;
    fill(e);

    /* n < K: q = 0.3 of 20 valid needs 6 entries; 5 are held. q = 0.25 needs 5. */
    const double q_ok[1] = {0.25}, q_big[2] = {0.25, 0.3};
    CHECK(qz_sweep(e, 5, N, 1, q_ok, 1, 0.5, r, &err) == QZ_OK, "K = n is enough: %s", err.msg);
    qz_error_clear(&err);
    CHECK(qz_sweep(e, 5, N, 1, q_big, 2, 0.5, r, &err) == QZ_EINTERNAL, "n < K must fail");
    CHECK(strstr(err.msg, "q[1] = 0.3") && strstr(err.msg, "best 6") && strstr(err.msg, "only 5"),
          "message names q, K and n: %s", err.msg);

    const double bad[] = {0.0, -0.1, 1.5, NAN, INFINITY};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const double q[2] = {0.5, bad[i]};
        qz_error_clear(&err);
        CHECK(qz_sweep(e, N, N, 1, q, 2, 0.5, r, &err) == QZ_EJOB, "q = %g must fail", bad[i]);
        CHECK(strstr(err.msg, "q[1]") && strstr(err.msg, "(0, 1]"), "message: %s", err.msg);
    }

    CHECK(qz_sweep(e, 0, 0, 1, q_ok, 1, 0.5, r, &err) == QZ_EJOB, "no valid samples");
    CHECK(qz_sweep(e, N, 10, 1, q_ok, 1, 0.5, r, &err) == QZ_EINTERNAL, "n > valid");
    CHECK(qz_sweep(e, N, N, 1, q_ok, 0, 0.5, r, NULL) == QZ_OK, "an empty list is fine");
}

static void base_cost(void)
{
    double mean, se;

    /* Costs 0, 1, 1, 0, 1: mean 0.6; Σ (c - 0.6)² = 2 * 0.36 + 3 * 0.16 = 1.2, sample
     * variance 1.2 / 4 = 0.3, standard error sqrt(0.3 / 5). */
    qz_sweep_base_cost(3, 3, 5, &mean, &se);
    CHECK(mean == 0.6 && CLOSE(se, sqrt(0.3 / 5)), "mean %.17g se %.17g", mean, se);

    /* Costs 2, 4, 9: mean 5; Σ (c - 5)² = 9 + 1 + 16 = 26, variance 13, se sqrt(13 / 3). */
    qz_sweep_base_cost(15, 4 + 16 + 81, 3, &mean, &se);
    CHECK(mean == 5 && CLOSE(se, sqrt(13.0 / 3)), "mean %.17g se %.17g", mean, se);

    /* A constant cost: zero variance, never negative from rounding. */
    qz_sweep_base_cost(0.1 + 0.1 + 0.1, 0.01 + 0.01 + 0.01, 3, &mean, &se);
    CHECK(se >= 0 && se < 1e-9, "constant cost: se %.17g", se);

    qz_sweep_base_cost(0.7, 0.49, 1, &mean, &se);
    CHECK(mean == 0.7 && isnan(se), "one sample: mean %g, se %g (NaN)", mean, se);
    qz_sweep_base_cost(0, 0, 0, &mean, &se);
    CHECK(isnan(mean) && isnan(se), "no samples: NaN, NaN");
    qz_sweep_base_cost(NAN, NAN, 100, &mean, &se);
    CHECK(isnan(mean) && isnan(se), "no cost scored: NaN, NaN");
}

int main(void)
{
    hand_cases();
    random_cases();
    partial_top_set();
    argmax_exact();
    errors();
    base_cost();
    return check_done("test_sweep");
}
