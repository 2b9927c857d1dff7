#include "select.h"

#include <float.h>
#include <math.h>

#include "rng.h"

double qz_snap_integer(double x)
{
    double r = nearbyint(x);
    if (fabs(x - r) <= 8 * DBL_EPSILON * fabs(x))
        return r;
    return x;
}

double qz_mass(double q, uint64_t n)
{
    return qz_snap_integer(q * (double)n);
}

uint64_t qz_top_count(double mass)
{
    if (mass < 1)
        return 1;
    return (uint64_t)ceil(mass);
}

uint64_t qz_select_position(uint64_t seed, uint64_t selection, double mass)
{
    uint64_t k = qz_top_count(mass);
    uint64_t pos = (uint64_t)floor(qz_u01(qz_rng_word(seed, QZ_STREAM_SELECT, selection)) * mass);
    return pos < k ? pos : k - 1;
}

double qz_position_weight(double mass, uint64_t p)
{
    uint64_t k = qz_top_count(mass);
    if (p + 1 < k)
        return 1.0 / mass;
    if (p + 1 == k)
        return (mass - (double)(k - 1)) / mass;
    return 0.0;
}
