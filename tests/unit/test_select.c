/* The selection math of README "Semantics": mass, K, boundary weight, and the
 * selection draw's distribution over positions (a chi-square test over many seeds). */
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "select.h"

/* Chi-square critical values at p = 0.001 for 1..4 degrees of freedom. A correct
 * implementation fails one of these deterministic (fixed-seed) checks with
 * probability about 0.001 each; the seeds below were not chosen to pass. */
static const double chi2_crit_001[] = {0, 10.828, 13.816, 16.266, 18.467};

static void chi_square_positions(double mass, uint64_t seeds)
{
    uint64_t k = qz_top_count(mass), counts[8] = {0};
    double chi2 = 0;

    for (uint64_t s = 0; s < seeds; s++) {
        uint64_t pos = qz_select_position(1000003 * s + 17, 0, mass);
        CHECK(pos < k, "mass %g: position %llu >= K %llu", mass, (unsigned long long)pos,
              (unsigned long long)k);
        if (pos < k)
            counts[pos]++;
    }
    for (uint64_t p = 0; p < k; p++) {
        double want = (double)seeds * qz_position_weight(mass, p);
        chi2 += ((double)counts[p] - want) * ((double)counts[p] - want) / want;
    }
    if (k > 1)
        CHECK(chi2 < chi2_crit_001[k - 1], "mass %g: chi-square %.3f with %llu dof", mass, chi2,
              (unsigned long long)(k - 1));
    else
        CHECK(counts[0] == seeds, "mass %g: K = 1 must always select position 0", mass);
}

int main(void)
{
    /* Integer, fractional and sub-one masses. */
    CHECK(qz_mass(0.25, 8) == 2.0 && qz_top_count(2.0) == 2, "q 0.25, N 8");
    CHECK(qz_mass(0.25, 10) == 2.5 && qz_top_count(2.5) == 3, "q 0.25, N 10");
    CHECK(qz_mass(0.01, 10) == 0.1 && qz_top_count(0.1) == 1, "m < 1 gives K = 1");
    CHECK(qz_top_count(1.0) == 1 && qz_top_count(1.0000001) == 2, "K = ceil(m)");
    CHECK(qz_mass(1.0, 12345) == 12345.0, "q = 1 takes all");
    /* Decimal q that are not exact in binary still give the intended integer mass. */
    CHECK(qz_mass(0.07, 100) == 7.0 && qz_top_count(qz_mass(0.07, 100)) == 7, "0.07 * 100 = %.17g",
          qz_mass(0.07, 100));
    CHECK(qz_mass(1e-6, 100000000) == 100.0, "1e-6 * 1e8 = %.17g", qz_mass(1e-6, 100000000));
    CHECK(qz_snap_integer(2.5) == 2.5 && qz_snap_integer(7.0000001) == 7.0000001,
          "snapping leaves real fractions alone");

    /* Weights: 1/m for the first K-1 positions, (m - (K-1))/m at the boundary. */
    CHECK(fabs(qz_position_weight(2.5, 0) - 0.4) < 1e-15 &&
              fabs(qz_position_weight(2.5, 2) - 0.2) < 1e-15 && qz_position_weight(2.5, 3) == 0,
          "weights for m = 2.5");
    CHECK(qz_position_weight(0.1, 0) == 1.0, "m < 1: the argmax has weight 1");
    for (double m = 0.3; m < 5; m += 0.7) {
        double sum = 0;
        for (uint64_t p = 0; p < qz_top_count(m); p++)
            sum += qz_position_weight(m, p);
        CHECK(fabs(sum - 1) < 1e-12, "weights for m = %g sum to %.17g", m, sum);
    }

    /* The selection draw follows the weights, boundary included. */
    chi_square_positions(2.5, 200000);
    chi_square_positions(4.0, 200000);
    chi_square_positions(3.1, 200000);
    chi_square_positions(1.5, 200000);
    chi_square_positions(0.3, 1000);

    /* The draw depends on the seed and the selection number only. */
    CHECK(qz_select_position(42, 0, 1000.0) == qz_select_position(42, 0, 1000.0), "repeatable");
    {
        int differ = 0;
        for (uint64_t s = 0; s < 10; s++)
            differ += qz_select_position(s, 0, 1000.0) != qz_select_position(s, 1, 1000.0);
        CHECK(differ >= 8, "selection numbers give independent draws (%d of 10 differ)", differ);
    }
    return check_done("test_select");
}
