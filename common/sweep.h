/* Sweeps (README "Sweeps and safety accounting"): the figures of the q-quantilized
 * distribution Q for a list of q, all from one sample set. Local, pure: the caller
 * passes the best-first top set.
 *
 * For each q, with N = `valid` (the samples drawn minus those excluded as invalid):
 * mass m = qz_mass(q, N), K = qz_top_count(m), and Q is the exact distribution of the
 * selection (README: Semantics) over positions 0 .. K-1: weight 1/m for each of the first K-1 and
 * (m - (K-1))/m at the boundary (weight 1 on position 0 when m < 1). The expectations
 * E_Q[u] and E_Q[c] are computed as (exact sum of the first K-1 values + (m - (K-1)) *
 * value at K-1) / m, the sum held exactly by qz_exactsum: deterministic, and rounded
 * only in the boundary product, the sum (once) and the division (when m < 1 it is the
 * argmax's value itself). A sum beyond DBL_MAX gives an infinite mean. The selection
 * uses selection number 0, as a run does: the row for q is what a fresh run at q with
 * the same seed and samples selects.
 *
 * The base-distribution figures E_γ[c] and its standard error come from exact sums
 * over all valid samples (qz_sweep_base_cost), so they too are rank-count invariant. */
#ifndef QZ_SWEEP_H
#define QZ_SWEEP_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "confint.h"
#include "error.h"
#include "exactsum.h"
#include "topset.h"

struct qz_sweep_row {
    double q;
    double mass;                /* m = q * valid, snapped (qz_mass) */
    uint64_t top_count;         /* K */
    double threshold;           /* utility at position K-1 */
    double mean_utility;        /* E_Q[u] */
    double mean_cost;           /* E_Q[c]; NaN when a cost in the top K is NaN (not scored) */
    uint64_t selected_position; /* qz_select_position(seed, 0, m) */
    uint64_t selected_index;    /* global index of the sample at selected_position */
    double cost_bound;          /* E_γ[c] / q; NaN when E_γ[c] is NaN */
    double kl;                  /* ln(1/q) */
    /* How sure (README "Confidence intervals"; qz_sweep_intervals): the standard errors
     * and two-sided intervals of E_Q[u] and E_Q[c], the top set's effective size
     * n_eff = (Σw)² / Σw² and the one-sided upper confidence value UCB(E_γ[c]) / q. */
    double mean_utility_stderr, mean_utility_ci_low, mean_utility_ci_high;
    double mean_cost_stderr, mean_cost_ci_low, mean_cost_ci_high;
    double effective_size;
    double cost_bound_ucb;
};

/* What the intervals need besides the samples: the confidence 1 − δ, what is known of
 * the utility's and the cost's values (confint.h), and UCB(E_γ[c]) (NaN without a
 * cost). */
struct qz_sweep_ci {
    double confidence;
    struct qz_ci_range utility_range, cost_range;
    double base_cost_ucb;
};

/* Fill rows[0 .. nq) for q[0 .. nq), from the first n entries e[0 .. n) of the selection order
 * over `valid` valid samples (best first, as after qz_topset_finish) and the run's
 * seed. base_cost is E_γ[c] (NaN without a cost scorer).
 *
 * cost_bound = E_γ[c] / q bounds E_Q[c] for any cost c >= 0 (for costs in [0, 1] the
 * bound is min(1, E_γ[c] / q)). On the empirical distribution mean_cost <=
 * E_γ[c] / q holds exactly (every weight is at most 1/m = (1/q) (1/N)), up to rounding.
 *
 * kl = ln(1/q) is the KL divergence KL(Q‖γ) of the idealised q-quantilizer (γ
 * continuous, Q = γ conditioned on its top q fraction). The empirical Q relative to
 * the empirical γ has KL = ln(1/q) when m is an integer >= 1, and less otherwise: the
 * boundary sample has weight below 1/m.
 *
 * Errors, checked before any row is written: QZ_EJOB when a q is not in (0, 1] or
 * there are no valid samples; QZ_EINTERNAL when n < K for some q (the caller kept too
 * few entries: it must keep the largest K of the list) or n > valid. */
/* E_Q of one field for mass m over positions 0 .. k-1, given the exact sum of the
 * field over positions 0 .. k-2 (`first`, changed) and its value at k-1 (`boundary`):
 * (first + (m - (k-1)) * boundary) / m, the boundary product rounded, the sum rounded
 * once, then divided; for m < 1 (k = 1) the boundary value itself. qz_sweep uses it,
 * and callers that hold the top set spread over ranks get the same bits from it. */
double qz_sweep_mean(struct qz_exactsum *first, double boundary, double m, uint64_t k);

/* The parts of row r that do not depend on the samples: q, mass, K, the selected
 * position, the bound E_γ[c] / q and ln(1/q). qz_sweep fills the rest from the top
 * set; a caller whose top set is spread over ranks fills them itself. */
void qz_sweep_row(struct qz_sweep_row *r, double q, uint64_t valid, uint64_t seed,
                  double base_cost);

enum qz_status qz_sweep(const struct qz_entry *e, size_t n, uint64_t valid, uint64_t seed,
                        const double *q, size_t nq, double base_cost, struct qz_sweep_row *rows,
                        struct qz_error *err);

/* The intervals of row r (its means, mass, K and q already filled) from the exact
 * sums Σu² and Σc² over positions 0 .. K−2, the entry at K−1 and the cost's mean at
 * the threshold (qz_ci_sample_top: both carry the threshold's own variation; E[u | u
 * = t] is the threshold, E[c | u = t] is estimated by cost_at_threshold, the mean
 * cost of the window of positions K − qz_sweep_window(K) .. K−1). */
void qz_sweep_row_ci(struct qz_sweep_row *r, double sum_u2, double sum_c2,
                     const struct qz_entry *boundary, double cost_at_threshold,
                     const struct qz_sweep_ci *ci);

/* The window of the lowest positions of a top set of K that estimates E[c | u = t]:
 * w = ceil(sqrt(K)) positions, K − w .. K−1 (all of them for K <= 2). */
uint64_t qz_sweep_window(uint64_t k);

/* Fill the intervals of rows[0 .. nq) (as filled by qz_sweep from the same e). */
void qz_sweep_intervals(const struct qz_entry *e, struct qz_sweep_row *rows, size_t nq,
                        const struct qz_sweep_ci *ci);

/* What the job says of its cost's values: a built-in mixture with the "component"
 * cost takes only the components' costs, so they lie in [min, max] of them, and are
 * 0/1 when every component's cost is 0 or 1. Unknown otherwise. */
void qz_sweep_cost_range(const cJSON *job, struct qz_ci_range *r);

/* E_γ[c] and its standard error from S1 = Σ c and S2 = Σ c² over the `valid` valid
 * samples (values of qz_exactsum accumulators):
 *     mean = S1 / valid
 *     se   = sqrt(max(0, S2 / valid - mean²) / (valid - 1))
 * which is s / sqrt(valid) with s² = Σ (c - mean)² / (valid - 1) the unbiased sample
 * variance. *mean is NaN when valid == 0, *se when valid < 2; both are NaN when S1 or
 * S2 is (no cost scored). The difference S2/valid - mean² loses relative precision
 * when the variance is far below mean² (about DBL_EPSILON * mean² absolute); the clamp
 * at 0 keeps rounding from making it negative. */
void qz_sweep_base_cost(double s1, double s2, uint64_t valid, double *mean, double *se);

#endif
