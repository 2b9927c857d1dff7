/* An exact, order-independent sum of doubles. Local, pure.
 *
 * Every recorded figure must be bit-identical at any rank count (README "Semantics",
 * rank-count invariance), but floating-point addition is not associative: ranks that
 * sum their chunks and then combine the partial sums would get different last bits on
 * 1 and on 3 ranks. This
 * accumulator holds the sum exactly, as a fixed-point integer in units of 2^-1074 (the
 * smallest subnormal), so the result depends only on the multiset of values added,
 * never on their order or grouping; qz_exactsum_value rounds it once, to nearest with
 * ties to even, as IEEE addition of the exact real sum would.
 *
 * Representation: bin[b] is an int64 multiple of 2^(b - 1074). A double with biased
 * exponent field E and 53-bit integer significand M (M = 2^52 + fraction when E >= 1,
 * M = fraction for subnormals) adds +-M to bin[max(E, 1) - 1]. A normalisation
 * moves the bits of bin[b] at and above 2^32 into bin[b + 32], leaving bin[b] in
 * [0, 2^32); the represented value is unchanged. `load` bounds the bins' magnitude in
 * units of 2^32 (an add counts 2^21, a normalised accumulator 1), and an add or merge
 * that would pass QZ_EXACTSUM_LOAD_MAX normalises first, so no bin overflows: add is
 * O(1) amortised (a normalisation, ~2100 steps, at most every 512 adds).
 *
 * The struct is plain data, QZ_EXACTSUM_WORDS int64 words (16,920 bytes), no
 * pointers and no padding: it may be copied, sent as bytes or stored in a checkpoint
 * (native byte order). Across ranks it may also be summed word by word, e.g.
 * MPI_Allreduce(MPI_IN_PLACE, &acc, QZ_EXACTSUM_WORDS, MPI_INT64_T, MPI_SUM, comm):
 * the sum of R accumulators that were each passed to qz_exactsum_normalize is a valid
 * accumulator of the union, for any R <= QZ_EXACTSUM_LOAD_MAX (2^30) ranks. Without
 * that normalisation a word-wise sum may overflow; qz_exactsum_merge needs none.
 *
 * Callers pass finite doubles. NaN and infinities are not expected, but they are
 * counted rather than lost, and the value is then what IEEE addition would give: NaN
 * if any NaN or both infinities were added, else the infinity. An exact total of zero
 * is +0.0 (also when every term was -0.0). Bins cannot overflow for fewer than 2^62
 * values in all. */
#ifndef QZ_EXACTSUM_H
#define QZ_EXACTSUM_H

#include <stddef.h>
#include <stdint.h>

#define QZ_EXACTSUM_BINS 2110 /* 2046 exponents + two carry levels of 32 */
#define QZ_EXACTSUM_WORDS (5 + QZ_EXACTSUM_BINS)
#define QZ_EXACTSUM_LOAD_MAX (INT64_C(1) << 30)

struct qz_exactsum {
    int64_t load;    /* bound on |bin[b]| / 2^32 for the bins that carry */
    int64_t count;   /* values added, all merged accumulators included */
    int64_t nan;     /* NaN values added */
    int64_t pos_inf; /* +inf values added */
    int64_t neg_inf; /* -inf values added */
    int64_t bin[QZ_EXACTSUM_BINS];
};

/* An empty accumulator (value +0.0). */
void qz_exactsum_init(struct qz_exactsum *s);

/* Add x exactly. */
void qz_exactsum_add(struct qz_exactsum *s, double x);

/* Add x[0..n) exactly: the same accumulator as n calls of qz_exactsum_add, faster for
 * long runs (a normalisation covers only the bins the run touched). */
void qz_exactsum_add_many(struct qz_exactsum *s, const double *x, size_t n);

/* Add the sum held by src to dst (src is unchanged; they must not alias). */
void qz_exactsum_merge(struct qz_exactsum *dst, const struct qz_exactsum *src);

/* Bring every carrying bin into [0, 2^32) and load to 1, without changing the value:
 * required on each rank before a word-wise MPI_SUM (see above). */
void qz_exactsum_normalize(struct qz_exactsum *s);

/* The exact sum rounded to the nearest double, ties to even; +-inf when it rounds
 * beyond DBL_MAX. */
double qz_exactsum_value(const struct qz_exactsum *s);

#endif
