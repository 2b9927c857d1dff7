/* Built-in scorers for text samples: length (Unicode code points), regex (count of
 * non-overlapping matches of a POSIX extended regular expression), logprob_mean and
 * logprob_sum (the sample's token log-probabilities, which the generator must be asked
 * to return). A failed sample scores NaN, so the job's `invalid` policy sees it. */
#include <math.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "scorer.h"

static const char *const kind_only[] = {"kind", NULL};
static const char *const regex_fields[] = {"kind", "pattern", "ignore_case", NULL};
#define REGEX_IGNORE_CASE_DEFAULT 0

/* The job hash's view of a regex scorer. */
static const struct qz_spec_field regex_canonical[] = {
    {"ignore_case", QZ_SPEC_BOOL, REGEX_IGNORE_CASE_DEFAULT, NULL, NULL},
    {NULL, QZ_SPEC_NEUTRAL, 0, NULL, NULL},
};

struct qz_scorer {
    regex_t re;
    char *buf; /* NUL-terminated copy of one text for regexec */
    size_t buf_size;
};

static int failed(const struct qz_batch *b, size_t j)
{
    return isnan(b->value[j]);
}

static enum qz_status open_kind_only(struct qz_scorer **s, const cJSON *spec,
                                     const struct qz_jv *at, struct qz_error *err)
{
    *s = NULL;
    return qz_jv_fields(at, spec, kind_only, err);
}

static enum qz_status score_length(struct qz_scorer *s, const struct qz_batch *b, double *out,
                                   struct qz_error *err)
{
    (void)s;
    (void)err;
    for (size_t j = 0; j < b->n; j++) {
        const unsigned char *t = (const unsigned char *)b->text + b->text_off[j];
        uint64_t points = 0;
        for (uint32_t i = 0; i < b->text_len[j]; i++)
            points += (t[i] & 0xC0) != 0x80; /* count lead bytes, not continuations */
        out[j] = failed(b, j) ? NAN : (double)points;
    }
    return QZ_OK;
}

static enum qz_status score_logprob(const struct qz_batch *b, double *out, int mean)
{
    for (size_t j = 0; j < b->n; j++) {
        double sum = b->logprob_sum[j];
        if (failed(b, j) || isnan(sum) || (mean && b->tokens[j] == 0))
            out[j] = NAN;
        else
            out[j] = mean ? sum / (double)b->tokens[j] : sum;
    }
    return QZ_OK;
}

static enum qz_status score_logprob_mean(struct qz_scorer *s, const struct qz_batch *b, double *out,
                                         struct qz_error *err)
{
    (void)s;
    (void)err;
    return score_logprob(b, out, 1);
}

static enum qz_status score_logprob_sum(struct qz_scorer *s, const struct qz_batch *b, double *out,
                                        struct qz_error *err)
{
    (void)s;
    (void)err;
    return score_logprob(b, out, 0);
}

static void regex_close(struct qz_scorer *s)
{
    if (s) {
        regfree(&s->re);
        free(s->buf);
        free(s);
    }
}

static enum qz_status regex_open(struct qz_scorer **out, const cJSON *spec, const struct qz_jv *at,
                                 struct qz_error *err)
{
    const char *pattern;
    int icase, code;
    struct qz_scorer *s;
    enum qz_status rc;

    *out = NULL;
    if ((rc = qz_jv_fields(at, spec, regex_fields, err)) ||
        (rc = qz_jv_string(at, spec, "pattern", 1, NULL, &pattern, err)) ||
        (rc = qz_jv_bool(at, spec, "ignore_case", 0, REGEX_IGNORE_CASE_DEFAULT, &icase, err)))
        return rc;
    if (!(s = calloc(1, sizeof *s)))
        return qz_error_set(err, QZ_ENOMEM, "out of memory");
    code = regcomp(&s->re, pattern, REG_EXTENDED | (icase ? REG_ICASE : 0));
    if (code) {
        char why[200];
        regerror(code, &s->re, why, sizeof why);
        free(s);
        return qz_jv_fail(at, "pattern", cJSON_GetObjectItemCaseSensitive(spec, "pattern"), err,
                          "is not a valid POSIX extended regular expression (%s)", why);
    }
    *out = s;
    return QZ_OK;
}

/* Non-overlapping matches of s->re in t[0..len); an empty match advances one byte. */
static double count_matches(struct qz_scorer *s, const char *t, size_t len, struct qz_error *err,
                            int *rc)
{
    double count = 0;
    size_t at = 0;
    regmatch_t m;

    if (len + 1 > s->buf_size) {
        char *grown = realloc(s->buf, len + 1);
        if (!grown) {
            *rc = qz_error_set(err, QZ_ENOMEM, "out of memory scoring a text of %zu bytes", len);
            return NAN;
        }
        s->buf = grown;
        s->buf_size = len + 1;
    }
    memcpy(s->buf, t, len);
    s->buf[len] = '\0';
    while (at <= len && regexec(&s->re, s->buf + at, 1, &m, at > 0 ? REG_NOTBOL : 0) == 0) {
        count++;
        at += m.rm_eo > m.rm_so ? (size_t)m.rm_eo : (size_t)m.rm_so + 1;
    }
    return count;
}

static enum qz_status score_regex(struct qz_scorer *s, const struct qz_batch *b, double *out,
                                  struct qz_error *err)
{
    int rc = QZ_OK;
    for (size_t j = 0; j < b->n && rc == QZ_OK; j++)
        out[j] = failed(b, j)
                     ? NAN
                     : count_matches(s, b->text + b->text_off[j], b->text_len[j], err, &rc);
    return (enum qz_status)rc;
}

const struct qz_scorer_ops qz_score_length_ops = {
    .name = "length",
    .open = open_kind_only,
    .score = score_length,
    .close = NULL,
    .needs_text = 1,
};

const struct qz_scorer_ops qz_score_regex_ops = {
    .name = "regex",
    .open = regex_open,
    .score = score_regex,
    .close = regex_close,
    .needs_text = 1,
    .canonical = regex_canonical,
};

const struct qz_scorer_ops qz_score_logprob_mean_ops = {
    .name = "logprob_mean",
    .open = open_kind_only,
    .score = score_logprob_mean,
    .close = NULL,
    .needs_text = 1,
    .needs_logprobs = 1,
};

const struct qz_scorer_ops qz_score_logprob_sum_ops = {
    .name = "logprob_sum",
    .open = open_kind_only,
    .score = score_logprob_sum,
    .close = NULL,
    .needs_text = 1,
    .needs_logprobs = 1,
};
