/* Scorer kind "exec" (utility or cost): scores from an external program, a co-process
 * speaking JSON lines (coproc.h), started when the job is loaded.
 *
 * The protocol. The valid samples of a batch go in requests of up to `batch` samples,
 * one line each:
 *
 *     {"texts": ["...", ...]}     text samples (UTF-8; invalid bytes become U+FFFD)
 *     {"values": [1.5, ...]}      numeric samples (17 significant digits, so they read
 *                                 back exactly; infinities as 1e999 and -1e999)
 *
 * and the program answers each with one line {"scores": [s0, s1, ...]} (the member
 * name is the job's `field`), exactly one number or null per sample, in order. null
 * (or a failed sample, which is never sent) gives NaN: an invalid sample, which the
 * job's `invalid` policy handles. A program that dies or does not answer within
 * timeout_seconds is restarted once and the batch sent again; a second time fails the
 * run with a message naming the command.
 *
 * Which of texts and values: the batch's samples are text when the generator filled
 * texts (b->text is set or some text is non-empty). */
#include "scorer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coproc.h"
#include "textbuf.h"
#include "utf8.h"

#define EXEC_BATCH_DEFAULT 64
#define EXEC_FIELD_DEFAULT "scores"
#define EXEC_BATCH_MAX 65536
#define EXEC_QUOTE_MAX 200

struct qz_scorer {
    struct qz_coproc *cp;
    size_t batch;
    char *field;           /* the answer's member holding the scores (owned) */
    struct qz_textbuf req; /* the request line being built */
    size_t *idx;           /* batch positions of the samples in the request (room for `batch`) */
    size_t m;              /* samples in the request */
    double *out;           /* where the scores go, by batch position */
};

static enum qz_status put_number(struct qz_scorer *s, double v)
{
    char num[40];
    int n;
    if (isinf(v))
        n = snprintf(num, sizeof num, "%s", v > 0 ? "1e999" : "-1e999");
    else
        n = snprintf(num, sizeof num, "%.17g", v);
    return qz_textbuf_put(&s->req, num, (size_t)n);
}

static enum qz_status bad_answer(struct qz_scorer *s, const char *line, struct qz_error *err,
                                 const char *problem)
{
    char quote[4 * EXEC_QUOTE_MAX + 8];
    int nan = strstr(line, "NaN") || strstr(line, "Infinity");
    /* the program's text, cut at a character and with its control characters escaped */
    qz_utf8_escape(line, strlen(line), EXEC_QUOTE_MAX, quote, sizeof quote);
    return qz_error_set(err, QZ_EIO, "%s: the answer to a batch of %zu %s%s: %s",
                        qz_coproc_name(s->cp), s->m, problem,
                        nan ? " (JSON has no NaN or Infinity: send null for an invalid score)" : "",
                        quote);
}

static enum qz_status on_answer(void *ctx, size_t k, const char *line, size_t len,
                                struct qz_error *err)
{
    struct qz_scorer *s = ctx;
    const cJSON *list, *it;
    cJSON *root;
    size_t i = 0;
    char problem[160];
    enum qz_status rc = QZ_OK;

    (void)k;
    if (!line) /* dropped unread (coproc.h) */
        return qz_error_set(err, QZ_EIO, "%s: the answer to a batch of %zu is longer than %zu MiB",
                            qz_coproc_name(s->cp), s->m, QZ_COPROC_LINE_MAX >> 20);
    root = cJSON_ParseWithLength(line, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return bad_answer(s, line, err, "is not a JSON object");
    }
    list = cJSON_GetObjectItemCaseSensitive(root, s->field);
    if (!cJSON_IsArray(list) || (size_t)cJSON_GetArraySize(list) != s->m) {
        snprintf(problem, sizeof problem, "lacks \"%.80s\": an array of %zu scores", s->field,
                 s->m);
        rc = bad_answer(s, line, err, problem);
        goto done;
    }
    cJSON_ArrayForEach(it, list)
    {
        if (cJSON_IsNumber(it))
            s->out[s->idx[i]] = it->valuedouble;
        else if (cJSON_IsNull(it))
            s->out[s->idx[i]] = NAN;
        else {
            snprintf(problem, sizeof problem, "has a score %zu that is neither a number nor null",
                     i);
            rc = bad_answer(s, line, err, problem);
            goto done;
        }
        i++;
    }
done:
    cJSON_Delete(root);
    return rc;
}

/* Send the samples s->idx[0 .. s->m) and store their scores. */
static enum qz_status send_batch(struct qz_scorer *s, const struct qz_batch *b, int text,
                                 struct qz_error *err)
{
    enum qz_status rc;

    s->req.len = 0;
    rc = qz_textbuf_put(&s->req, text ? "{\"texts\": [" : "{\"values\": [", text ? 11 : 12);
    for (size_t i = 0; i < s->m && rc == QZ_OK; i++) {
        size_t j = s->idx[i];
        if (i && (rc = qz_textbuf_put(&s->req, ", ", 2)))
            break;
        rc = text ? qz_textbuf_put_json_string(&s->req, b->text ? b->text + b->text_off[j] : "",
                                               b->text_len[j])
                  : put_number(s, b->value[j]);
    }
    if (rc || (rc = qz_textbuf_put(&s->req, "]}", 2)))
        return qz_error_set(err, QZ_ENOMEM, "%s: out of memory for a request",
                            qz_coproc_name(s->cp));
    return qz_coproc_request(s->cp, s->req.data, s->req.len, 1, on_answer, s, err);
}

static enum qz_status exec_score(struct qz_scorer *s, const struct qz_batch *b, double *out,
                                 struct qz_error *err)
{
    int text = b->has_text;
    enum qz_status rc;

    s->out = out;
    s->m = 0;
    for (size_t j = 0; j < b->n; j++) {
        out[j] = NAN;
        if (isnan(b->value[j]))
            continue; /* a failed sample: not sent, stays invalid */
        s->idx[s->m++] = j;
        if (s->m == s->batch) {
            if ((rc = send_batch(s, b, text, err)))
                return rc;
            s->m = 0;
        }
    }
    return s->m ? send_batch(s, b, text, err) : QZ_OK;
}

static void exec_close(struct qz_scorer *s)
{
    if (s) {
        qz_coproc_close(s->cp);
        free(s->field);
        qz_textbuf_free(&s->req);
        free(s->idx);
        free(s);
    }
}

static const char *const exec_fields[] = {"kind",  "command", "batch", "timeout_seconds",
                                          "field", NULL};

/* The job hash's view of an exec scorer: the command and the answer's field count; a
 * sample's score does not depend on the batch it is sent in or on how long to wait. */
static const struct qz_spec_field exec_canonical[] = {
    {"field", QZ_SPEC_STRING, 0, EXEC_FIELD_DEFAULT, NULL},
    {"batch", QZ_SPEC_NEUTRAL, 0, NULL, NULL},
    {"timeout_seconds", QZ_SPEC_NEUTRAL, 0, NULL, NULL},
    {NULL, QZ_SPEC_NEUTRAL, 0, NULL, NULL},
};

static enum qz_status exec_open(struct qz_scorer **out, const cJSON *spec, const struct qz_jv *at,
                                struct qz_error *err)
{
    struct qz_scorer *s;
    const char *field;
    uint64_t batch;
    enum qz_status rc;

    *out = NULL;
    if ((rc = qz_jv_fields(at, spec, exec_fields, err)) ||
        (rc = qz_jv_uint(at, spec, "batch", 0, EXEC_BATCH_DEFAULT, 1, EXEC_BATCH_MAX, &batch,
                         err)) ||
        (rc = qz_jv_string(at, spec, "field", 0, EXEC_FIELD_DEFAULT, &field, err)))
        return rc;
    if (!field[0])
        return qz_jv_fail(at, "field", cJSON_GetObjectItemCaseSensitive(spec, "field"), err,
                          "must be a non-empty string");
    if (!(s = calloc(1, sizeof *s)))
        return qz_error_set(err, QZ_ENOMEM, "out of memory");
    s->batch = (size_t)batch;
    s->field = strdup(field);
    s->idx = malloc(s->batch * sizeof *s->idx);
    if (!s->field || !s->idx) {
        exec_close(s);
        return qz_error_set(err, QZ_ENOMEM, "out of memory");
    }
    if ((rc = qz_coproc_from_job(&s->cp, at, spec, 1, err))) {
        exec_close(s);
        return rc;
    }
    *out = s;
    return QZ_OK;
}

const struct qz_scorer_ops qz_score_exec_ops = {
    .name = "exec",
    .open = exec_open,
    .score = exec_score,
    .close = exec_close,
    .needs_text = 0,
    .needs_numbers = 0,
    .canonical = exec_canonical,
};
