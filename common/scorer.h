/* Scorer backends: the utility U that ranks samples, and the optional cost c.
 *
 * Same shape as generators: a const ops table per backend, a registry by kind, each
 * backend validating its own job fields in `open`. All calls are local. */
#ifndef QZ_SCORER_H
#define QZ_SCORER_H

#include <cjson/cJSON.h>

#include "confint.h"
#include "error.h"
#include "generator.h"
#include "jsonv.h"

struct qz_scorer;

struct qz_scorer_ops {
    const char *name;
    enum qz_status (*open)(struct qz_scorer **s, const cJSON *spec, const struct qz_jv *at,
                           struct qz_error *err);
    /* Score the batch's b->n samples into out[0 .. n-1]; NaN marks an invalid score. */
    enum qz_status (*score)(struct qz_scorer *s, const struct qz_batch *b, double *out,
                            struct qz_error *err);
    /* Optional: when the scores are exactly a field of the batch, that field (or NULL
     * to fall back to score), so callers read it without a copy. */
    const double *(*view)(const struct qz_batch *b);
    void (*close)(struct qz_scorer *s);
    int needs_text;      /* scores text samples (the generator must produce text) */
    int needs_numbers;   /* scores numeric samples */
    int needs_logprobs;  /* reads token log-probs (the generator must be asked for them) */
    int binary;          /* every score it gives is 0 or 1 (NaN aside) */
    int needs_reference; /* scores against a "reference" answer (a tasks line may give it) */
    /* Optional: the spec's fields as the job hash sees them (generator.h). */
    const struct qz_spec_field *canonical;
};

struct qz_score {
    const struct qz_scorer_ops *ops;
    struct qz_scorer *state;
    struct qz_ci_range range;  /* what is known of its scores: from ops->binary, or the
                                  spec's "range" */
    int declared;              /* range is the spec's "range": qz_score_check checks it */
    char path[QZ_JV_PATH_MAX]; /* its job field ("utility", "cost", ...), for messages */
    cJSON *spec;               /* owned: the spec without "range", when it had one */
};

/* The "range" of a scorer spec ([a, b], finite, a < b), which any scorer may declare:
 * its scores lie in [a, b], so its means get empirical-Bernstein intervals. On a
 * validated job's spec (a record's job attribute too): *r is the declared range, else
 * [0, 1] binary for a binary scorer's kind, else unknown (all 0). */
void qz_score_range_of(const cJSON *spec, struct qz_ci_range *r);

/* With a declared range: QZ_EINVALID, naming the scorer, the value and the sample, if
 * one of the n scores of the batch b (NaN aside) lies outside it. */
enum qz_status qz_score_check(const struct qz_score *sc, const struct qz_batch *b,
                              const double *scores, struct qz_error *err);

/* Look up spec.kind in the registry and open it. */
enum qz_status qz_score_open(struct qz_score *sc, const cJSON *spec, const struct qz_jv *at,
                             struct qz_error *err);
void qz_score_close(struct qz_score *sc);
/* The backend serving `kind`, NULL if none. */
const struct qz_scorer_ops *qz_score_ops_of(const char *kind);

/* Built-ins for numeric samples (common/score_builtin.c):
 * "value" (the sample itself) and "component" (the cost its mixture component carries). */
extern const struct qz_scorer_ops qz_score_value_ops;
extern const struct qz_scorer_ops qz_score_component_ops;

/* Built-ins for text samples (common/score_text.c): "length" (code points), "regex"
 * (matches of a POSIX extended regex), "logprob_mean", "logprob_sum". */
extern const struct qz_scorer_ops qz_score_length_ops;
extern const struct qz_scorer_ops qz_score_regex_ops;
extern const struct qz_scorer_ops qz_score_logprob_mean_ops;
extern const struct qz_scorer_ops qz_score_logprob_sum_ops;

/* External programs and plugins, for numbers or text (common/score_exec.c: "exec", a
 * co-process speaking JSON lines; common/score_plugin.c: "plugin", common/plugin.h). */
extern const struct qz_scorer_ops qz_score_exec_ops;
extern const struct qz_scorer_ops qz_score_plugin_ops;

/* Reward-model servers over HTTP, for text (common/score_http.c): "http", with presets
 * for OpenRLHF's /get_reward, vLLM's /score and /classify, and a custom body template. */
extern const struct qz_scorer_ops qz_score_http_ops;

/* Reference answers, for text (common/score_match.c): "exact_match", "contains" and
 * "regex_match", each 1 or 0 against the spec's "reference" (binary). */
extern const struct qz_scorer_ops qz_score_exact_match_ops;
extern const struct qz_scorer_ops qz_score_contains_ops;
extern const struct qz_scorer_ops qz_score_regex_match_ops;

#endif
