/* Generator kind "exec": samples from an external program, a co-process speaking JSON
 * lines (coproc.h), started when the job is loaded and kept for the whole run.
 *
 * The protocol. For each draw of samples first .. first+count-1 we write one line
 *
 *     {"first": F, "count": N, "seed": S}
 *
 * (S: the job's seed) and read exactly N lines, one per sample in index order:
 *
 *     {"index": i, "text": "..."}   text samples ("text": true, the default)
 *     {"index": i, "value": 1.5}    numeric samples ("text": false)
 *     {"index": i, "error": "why"}  a failed sample (invalid: NaN)
 *
 * with optional "logprob_sum" (a number) and "tokens" (an integer >= 0) on text
 * samples; other members are ignored. The program must make sample i depend only on
 * (S, i), never on F or N: then the record is the same at any rank count. A line that
 * is not such an object, or has the wrong index, fails the draw with a message naming
 * the command and quoting the line. A program that dies or does not answer within
 * timeout_seconds per line is restarted once (the request is sent again); a second
 * time fails the draw. Texts that are not valid UTF-8 are repaired (generator.h). A
 * line longer than max_response_bytes (default 16 MiB) is read to its end and dropped:
 * that sample failed (invalid), and memory stays bounded. */
#include "generator.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coproc.h"
#include "utf8.h"

#define EXEC_QUOTE_MAX 200 /* bytes of an offending line quoted in a message */
#define QZ_EXEC_LINE_MAX_DEFAULT ((uint64_t)16 << 20) /* max_response_bytes: 16 MiB */
#define QZ_EXEC_TEXT_DEFAULT 1                        /* text */

struct qz_generator {
    struct qz_coproc *cp;
    uint64_t seed;
    int text;
    struct qz_gen_stats stats;

    /* the draw in progress */
    struct qz_batch *out;
    uint64_t first;
    size_t failed;
    char req[160];
};

static enum qz_status bad_line(struct qz_generator *g, size_t k, const char *line,
                               struct qz_error *err, const char *problem)
{
    char quote[4 * EXEC_QUOTE_MAX + 8];
    /* the program's text, cut at a character and with its control characters escaped */
    qz_utf8_escape(line, strlen(line), EXEC_QUOTE_MAX, quote, sizeof quote);
    return qz_error_set(err, QZ_EIO, "%s: answer line %zu to %s: %s: %s",
                        g->cp ? qz_coproc_name(g->cp) : "exec", k + 1, g->req, problem, quote);
}

static enum qz_status on_line(void *ctx, size_t k, const char *line, size_t len,
                              struct qz_error *err)
{
    struct qz_generator *g = ctx;
    struct qz_batch *out = g->out;
    const cJSON *index, *item, *lp, *tokens;
    cJSON *root;
    char problem[128];
    enum qz_status rc = QZ_OK;

    if (k == 0) { /* a new attempt at the request: forget a partial answer */
        if (g->text)
            qz_batch_clear_text(out);
        g->failed = 0;
    }
    if (!line) { /* longer than max_response_bytes: dropped unread, the sample failed */
        out->value[k] = NAN;
        g->failed++;
        return QZ_OK;
    }
    root = cJSON_ParseWithLength(line, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return bad_line(g, k, line, err, "not a JSON object");
    }
    index = cJSON_GetObjectItemCaseSensitive(root, "index");
    if (!cJSON_IsNumber(index) || index->valuedouble != (double)(g->first + k)) {
        snprintf(problem, sizeof problem, "expected \"index\": %llu",
                 (unsigned long long)(g->first + k));
        rc = bad_line(g, k, line, err, problem);
        goto done;
    }
    out->value[k] = NAN;
    item = cJSON_GetObjectItemCaseSensitive(root, "error");
    if (item && !cJSON_IsNull(item)) {
        g->failed++;
        goto done;
    }
    if (!g->text) {
        item = cJSON_GetObjectItemCaseSensitive(root, "value");
        if (!cJSON_IsNumber(item))
            rc = bad_line(g, k, line, err, "expected \"value\" (a number) or \"error\"");
        else if (!isfinite(item->valuedouble)) /* 1e999 reads as +inf */
            rc = bad_line(g, k, line, err, "\"value\" must be a finite number");
        else
            out->value[k] = item->valuedouble;
        goto done;
    }
    item = cJSON_GetObjectItemCaseSensitive(root, "text");
    lp = cJSON_GetObjectItemCaseSensitive(root, "logprob_sum");
    tokens = cJSON_GetObjectItemCaseSensitive(root, "tokens");
    if (!cJSON_IsString(item)) {
        rc = bad_line(g, k, line, err, "expected \"text\" (a string) or \"error\"");
        goto done;
    }
    if (lp && !cJSON_IsNull(lp) && !(cJSON_IsNumber(lp) && isfinite(lp->valuedouble))) {
        rc = bad_line(g, k, line, err, "\"logprob_sum\" must be a finite number");
        goto done;
    }
    if (tokens &&
        !(cJSON_IsNumber(tokens) && tokens->valuedouble >= 0 && tokens->valuedouble <= UINT32_MAX &&
          tokens->valuedouble == floor(tokens->valuedouble))) {
        rc = bad_line(g, k, line, err, "\"tokens\" must be an integer from 0 to 4294967295");
        goto done;
    }
    if ((rc = qz_batch_put_text(out, k, item->valuestring, strlen(item->valuestring), err)))
        goto done;
    out->value[k] = 0;
    out->logprob_sum[k] = cJSON_IsNumber(lp) ? lp->valuedouble : NAN;
    out->tokens[k] = tokens ? (uint32_t)tokens->valuedouble : 0;
done:
    cJSON_Delete(root);
    return rc;
}

static enum qz_status exec_draw(struct qz_generator *g, uint64_t first, size_t n,
                                struct qz_batch *out, struct qz_error *err)
{
    int len;
    enum qz_status rc;

    qz_batch_begin(out, first, n, g->text);
    if (n == 0)
        return QZ_OK;
    len = snprintf(g->req, sizeof g->req, "{\"first\": %llu, \"count\": %zu, \"seed\": %llu}",
                   (unsigned long long)first, n, (unsigned long long)g->seed);
    g->out = out;
    g->first = first;
    g->failed = 0;
    rc = qz_coproc_request(g->cp, g->req, (size_t)len, n, on_line, g, err);
    g->out = NULL;
    g->stats.retries = qz_coproc_restarts(g->cp);
    if (rc)
        return rc;
    g->stats.requests++;
    g->stats.failed_samples += g->failed;
    g->stats.utf8_repaired_samples += qz_batch_repaired(out);
    return QZ_OK;
}

static void exec_close(struct qz_generator *g)
{
    if (g) {
        qz_coproc_close(g->cp);
        free(g);
    }
}

static const char *const exec_fields[] = {
    "kind", "command", "timeout_seconds", "text", "max_response_bytes", NULL};

static enum qz_status exec_open(struct qz_generator **out, const cJSON *spec,
                                const struct qz_jv *at, uint64_t seed, struct qz_error *err)
{
    struct qz_generator *g;
    uint64_t line_max;
    enum qz_status rc;

    *out = NULL;
    if (!(g = calloc(1, sizeof *g)))
        return qz_error_set(err, QZ_ENOMEM, "out of memory");
    g->seed = seed;
    if ((rc = qz_jv_fields(at, spec, exec_fields, err)) ||
        (rc = qz_jv_bool(at, spec, "text", 0, QZ_EXEC_TEXT_DEFAULT, &g->text, err)) ||
        (rc = qz_jv_uint(at, spec, "max_response_bytes", 0, QZ_EXEC_LINE_MAX_DEFAULT, 1,
                         QZ_COPROC_LINE_MAX, &line_max, err)) ||
        (rc = qz_coproc_from_job(&g->cp, at, spec, 1, err))) {
        exec_close(g);
        return rc;
    }
    qz_coproc_set_line_max(g->cp, (size_t)line_max);
    *out = g;
    return QZ_OK;
}

/* The job hash's view of an exec generator: the command and text count; how long to
 * wait and how long a line may be do not change what is drawn. */
static const struct qz_spec_field exec_canonical[] = {
    {"text", QZ_SPEC_BOOL, QZ_EXEC_TEXT_DEFAULT, NULL, NULL},
    {"timeout_seconds", QZ_SPEC_NEUTRAL, 0, NULL, NULL},
    {"max_response_bytes", QZ_SPEC_NEUTRAL, 0, NULL, NULL},
    {NULL, QZ_SPEC_NEUTRAL, 0, NULL, NULL},
};

static int exec_produces_text(const struct qz_generator *g)
{
    return g->text;
}

static void exec_stats(const struct qz_generator *g, struct qz_gen_stats *st)
{
    st->requests += g->stats.requests;
    st->retries += g->stats.retries;
    st->failed_samples += g->stats.failed_samples;
    st->utf8_repaired_samples += g->stats.utf8_repaired_samples;
}

#define QZ_EXEC_CHUNK_DEFAULT 64 /* a program call per few samples: a stop loses little */

static uint64_t exec_chunk_hint(const struct qz_generator *g)
{
    (void)g;
    return QZ_EXEC_CHUNK_DEFAULT;
}

const struct qz_generator_ops qz_gen_exec_ops = {
    .name = "exec",
    .open = exec_open,
    .draw = exec_draw,
    .produces_text = exec_produces_text,
    .stats = exec_stats,
    .chunk_hint = exec_chunk_hint,
    .close = exec_close,
    .canonical = exec_canonical,
};
