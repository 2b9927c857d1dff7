/* Metrics (README "Metrics"): extra scorers of a job that measure but do not select.
 *
 * A job's `metrics` object maps NAME to a scorer spec (any kind, the registry of
 * `utility` and `cost`) with an optional "scope": "top" (the default: the metric is
 * evaluated on the top set of the job's largest q only, K calls instead of N) or
 * "all" (every sample). This module opens and validates the set, scores samples and
 * computes the figures: local and pure but for the scorers' own calls. */
#ifndef QZ_METRICS_H
#define QZ_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "confint.h"
#include "error.h"
#include "generator.h"
#include "jsonv.h"
#include "scorer.h"

#define QZ_METRICS_MAX 16
#define QZ_METRIC_NAME_MAX 64

enum qz_metric_scope { QZ_METRIC_TOP = 0, QZ_METRIC_ALL = 1 };

struct qz_metric {
    char name[QZ_METRIC_NAME_MAX + 1];
    enum qz_metric_scope scope;
    struct qz_score sc; /* the open scorer */
    cJSON *spec;        /* the spec it was opened with, without scope (owned; NULL for a
                           metric carried from an archive by select) */
    char kind[32];      /* the recorded kind when it is not sc.ops->name ("" else) */
};

struct qz_metrics {
    size_t n; /* in the job's key order */
    struct qz_metric m[QZ_METRICS_MAX];
};

/* Validate and open the job's `metrics` object `obj` (NULL: none) named by `at`
 * ("metrics"), for samples that are text (text) or numbers, with log-probs asked for
 * (logprobs). `task`: NULL, or a function giving the spec a metric uses (a task's
 * reference answer put in, qz_task_scorer); it returns a new spec the caller deletes.
 * On failure nothing stays open. */
enum qz_status qz_metrics_open(struct qz_metrics *ms, const cJSON *obj, const struct qz_jv *at,
                               int text, int logprobs, cJSON *(*task)(const cJSON *spec, void *arg),
                               void *arg, struct qz_error *err);
void qz_metrics_close(struct qz_metrics *ms);

/* 1 if metric spec `spec` takes a task's reference answer (qz_task_scorer): its kind is
 * a matching one (exact_match, contains, regex_match) or the job's spec names a
 * "reference" itself. Other scorers are opened with the job's spec as it is. */
int qz_metric_takes_reference(const cJSON *spec);

/* Score the batch's b->n samples with metric m into out[0 .. n) (NaN: no score). */
enum qz_status qz_metric_score(const struct qz_metric *m, const struct qz_batch *b, double *out,
                               struct qz_error *err);

/* A figure with its interval (confint.h). */
struct qz_metric_fig {
    double mean, stderr_, low, high;
    enum qz_ci_method method;
};

/* E_Q[metric] for mass m at q, from the metric's values v[0 .. k) at positions 0 .. k-1
 * of the best-first top set, k = qz_top_count(m): the quantilizer's weights exactly as
 * E_Q[c] (qz_sweep_mean), the interval by qz_ci_sample_top with E[x | u = t] estimated
 * by the mean of the window of qz_sweep_window(k) lowest positions (as for the cost).
 * Every member is NaN (method aside) when a value in v[0 .. k) is NaN. */
void qz_metric_quantilized(const double *v, uint64_t k, double m, double q,
                           const struct qz_ci_range *range, double confidence,
                           struct qz_metric_fig *out);

/* E_γ[metric] from the exact sums s1 = Σx, s2 = Σx² over n valid values. */
void qz_metric_base(double s1, double s2, uint64_t n, const struct qz_ci_range *range,
                    double confidence, struct qz_metric_fig *out);

/* A metric's figures for a run, as the root holds them for the record. */
struct qz_metric_result {
    uint64_t evaluated; /* values scored: the top set of the largest q (scope top) or N valid */
    uint64_t invalid;   /* of those, NaN */
    struct qz_metric_fig quantilized; /* at the run's q */
    int has_base;                     /* scope all: base is E_γ[metric] */
    struct qz_metric_fig base;
    double *top;                 /* the values of the top set's positions 0 .. ntop (owned) */
    struct qz_metric_fig *sweep; /* one per q of a sweep (owned), else NULL */
};

void qz_metric_results_free(struct qz_metric_result *r, size_t n);

#endif
