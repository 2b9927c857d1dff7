/* The selection math of README "Semantics": mass, top count and the selection draw.
 * Local, pure. */
#ifndef QZ_SELECT_H
#define QZ_SELECT_H

#include <stdint.h>

/* x rounded to the nearest integer when it lies within 8 ulps of it, else x.
 * Decimal inputs like q = 0.07 are not exact in binary; without this,
 * 0.07 * 100 = 7.000000000000001 would give K = 8 instead of 7. */
double qz_snap_integer(double x);

/* The mass m = q * n (snapped, see above). */
double qz_mass(double q, uint64_t n);

/* K = ceil(m), and 1 when m < 1. */
uint64_t qz_top_count(double mass);

/* The position in the best-first top set chosen by selection number `selection`
 * (0 for the run's selection): r = U * m with U uniform in [0, 1) drawn from
 * QZ_STREAM_SELECT, position = floor(r), clamped to K - 1 against rounding. */
uint64_t qz_select_position(uint64_t seed, uint64_t selection, double mass);

/* The probability the selection gives position p (0 <= p < K) for mass m. */
double qz_position_weight(double mass, uint64_t p);

#endif
