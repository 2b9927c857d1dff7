/* Metrics (common/metrics.h): parsing and validation of the job's `metrics` object
 * (names, scope, the scorer's own fields, the limit of 16), E_Q of a metric by the
 * quantilizer's weights (against hand values and against the sweep's E_Q[c] of the
 * same values as costs, bit for bit), NaN handling, and E_γ from sums. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "metrics.h"
#include "select.h"
#include "sweep.h"

static enum qz_status open_text(const char *json, int text, struct qz_metrics *ms,
                                struct qz_error *err)
{
    cJSON *obj = cJSON_Parse(json);
    struct qz_jv at = {.file = "job.json", .path = "metrics"};
    enum qz_status rc;
    if (!obj)
        return qz_error_set(err, QZ_ENOMEM, "bad test JSON");
    rc = qz_metrics_open(ms, obj, &at, text, 0, NULL, NULL, err);
    cJSON_Delete(obj);
    return rc;
}

static void parsing(void)
{
    struct qz_metrics ms;
    struct qz_error err;
    static const struct {
        const char *json;
        int text;
        const char *message;
    } bad[] = {
        {"{\"a b\": {\"kind\": \"value\"}}", 0,
         "job.json: metrics.a b: a metric's name may hold only letters, digits, '_', '.' and "
         "'-'"},
        {"{\"\": {\"kind\": \"value\"}}", 0,
         "job.json: metrics.: a metric's name must have 1 to 64 characters"},
        {"{\"g\": {\"kind\": \"value\", \"scope\": \"some\"}}", 0,
         "job.json: metrics.g.scope: must be one of \"top\", \"all\", got \"some\""},
        {"{\"g\": 3}", 0, "job.json: metrics.g: must be a scorer spec (an object), got 3"},
        {"{\"len\": {\"kind\": \"length\"}}", 0,
         "job.json: metrics.len.kind: \"length\" scores text, but the generator draws numbers"},
        {"{\"v\": {\"kind\": \"value\"}}", 1,
         "job.json: metrics.v.kind: \"value\" scores numbers, but the generator draws text"},
        {"{\"lp\": {\"kind\": \"logprob_mean\"}}", 1,
         "job.json: metrics.lp.kind: \"logprob_mean\" needs generator.logprobs: true"},
        {"{\"a\": {\"kind\": \"value\"}, \"a\": {\"kind\": \"value\"}}", 0,
         "job.json: metrics.a: is given twice"},
        {"[]", 0, "job.json: metrics: must be an object of NAME: scorer spec, got []"},
    };
    char many[2048];
    size_t at = 0;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        enum qz_status rc = open_text(bad[i].json, bad[i].text, &ms, &err);
        CHECK(rc == QZ_EJOB && strcmp(err.msg, bad[i].message) == 0, "case %zu: got %s", i,
              err.msg);
        CHECK(ms.n == 0, "case %zu: nothing stays open", i);
    }
    at += (size_t)snprintf(many + at, sizeof many - at, "{");
    for (int i = 0; i < 17; i++)
        at += (size_t)snprintf(many + at, sizeof many - at, "%s\"m%d\": {\"kind\": \"value\"}",
                               i ? ", " : "", i);
    snprintf(many + at, sizeof many - at, "}");
    CHECK(open_text(many, 0, &ms, &err) == QZ_EJOB &&
              strcmp(err.msg, "job.json: metrics: holds 17 metrics, at most 16 are allowed") == 0,
          "17 metrics: %s", err.msg);

    CHECK(open_text("{\"v\": {\"kind\": \"value\"}, \"c.1-x_\": {\"kind\": \"component\", "
                    "\"scope\": \"all\"}}",
                    0, &ms, &err) == QZ_OK,
          "good: %s", err.msg);
    CHECK(ms.n == 2 && strcmp(ms.m[0].name, "v") == 0 && strcmp(ms.m[1].name, "c.1-x_") == 0,
          "names in the job's order");
    CHECK(ms.m[0].scope == QZ_METRIC_TOP && ms.m[1].scope == QZ_METRIC_ALL, "scopes");
    CHECK(!cJSON_GetObjectItemCaseSensitive(ms.m[1].spec, "scope"), "scope is not the scorer's");
    qz_metrics_close(&ms);
    CHECK(ms.n == 0, "closed");

    {
        cJSON *a = cJSON_Parse("{\"kind\": \"exact_match\"}");
        cJSON *b = cJSON_Parse("{\"kind\": \"length\"}");
        cJSON *c = cJSON_Parse("{\"kind\": \"exec\", \"reference\": \"x\"}");
        CHECK(qz_metric_takes_reference(a) && !qz_metric_takes_reference(b) &&
                  qz_metric_takes_reference(c),
              "which specs take a task's reference");
        cJSON_Delete(a);
        cJSON_Delete(b);
        cJSON_Delete(c);
    }
}

static int same_bits(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

static void quantilized(void)
{
    const double v[6] = {4, 3, 2, 1, 0, 5};
    struct qz_ci_range none = {0, 0, 0, 0};
    struct qz_metric_fig f;

    /* m = 2.5: positions 0, 1 weigh 1/2.5, position 2 weighs 0.5/2.5 */
    qz_metric_quantilized(v, 3, 2.5, 0.25, &none, 0.95, &f);
    CHECK(f.mean == 3.2 && f.method == QZ_CI_NORMAL, "m 2.5: %.17g", f.mean);
    CHECK(f.low < 3.2 && f.high > 3.2 && f.stderr_ > 0, "interval [%g, %g]", f.low, f.high);
    /* m < 1: the argmax itself, no interval */
    qz_metric_quantilized(v, 1, 0.4, 0.001, &none, 0.95, &f);
    CHECK(f.mean == 4 && isnan(f.stderr_) && isnan(f.low), "m < 1: %g", f.mean);
    /* a NaN inside the top set makes every figure NaN; one beyond it does not matter */
    {
        double w[4] = {1, NAN, 2, NAN};
        qz_metric_quantilized(w, 3, 3, 0.5, &none, 0.95, &f);
        CHECK(isnan(f.mean) && isnan(f.stderr_) && isnan(f.low) && isnan(f.high), "NaN inside");
        qz_metric_quantilized(w, 1, 1, 0.5, &none, 0.95, &f);
        CHECK(f.mean == 1, "NaN beyond K: %g", f.mean);
    }

    /* The same values as costs of a top set: the sweep's E_Q[c] and its interval, bit for
     * bit, for a known 0/1 range and for none. */
    enum { N = 40 };
    struct qz_entry e[N];
    double c[N];
    for (int p = 0; p < N; p++) {
        e[p].utility = N - p;
        e[p].cost = c[p] = (p % 3 == 0 || p > 30) ? 1.0 : 0.0;
        e[p].index = (uint64_t)p;
    }
    for (int bin = 0; bin < 2; bin++) {
        struct qz_ci_range r = {bin, 0, 1, bin};
        struct qz_sweep_ci ci = {0.9, {0, 0, 0, 0}, r, NAN};
        const double q[3] = {0.5, 0.3, 0.07};
        struct qz_sweep_row rows[3];
        struct qz_error err;
        CHECK(qz_sweep(e, N, N, 1, q, 3, NAN, rows, &err) == QZ_OK, "sweep: %s", err.msg);
        qz_sweep_intervals(e, rows, 3, &ci);
        for (int i = 0; i < 3; i++) {
            qz_metric_quantilized(c, rows[i].top_count, rows[i].mass, q[i], &r, 0.9, &f);
            CHECK(same_bits(f.mean, rows[i].mean_cost) &&
                      same_bits(f.stderr_, rows[i].mean_cost_stderr) &&
                      same_bits(f.low, rows[i].mean_cost_ci_low) &&
                      same_bits(f.high, rows[i].mean_cost_ci_high),
                  "as E_Q[c] (binary %d, q %g): %.17g vs %.17g", bin, q[i], f.mean,
                  rows[i].mean_cost);
            CHECK(f.method == (bin ? QZ_CI_CLOPPER_PEARSON : QZ_CI_NORMAL), "method");
        }
    }
}

static void base(void)
{
    struct qz_ci_range none = {0, 0, 0, 0};
    struct qz_metric_fig f;

    /* 1, 2, 3, 4: mean 2.5, sample variance 5/3, s.e. sqrt(5/12) */
    qz_metric_base(10, 30, 4, &none, 0.95, &f);
    CHECK(f.mean == 2.5 && fabs(f.stderr_ - sqrt(5.0 / 12)) < 1e-15, "base: %g %g", f.mean,
          f.stderr_);
    CHECK(f.low < 2.5 && f.high > 2.5 && f.method == QZ_CI_NORMAL, "base interval");
    qz_metric_base(0, 0, 0, &none, 0.95, &f);
    CHECK(isnan(f.mean) && isnan(f.low), "no samples: NaN");
}

int main(void)
{
    parsing();
    quantilized();
    base();
    return check_done("test_metrics");
}
