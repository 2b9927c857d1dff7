/* Scorer kind "plugin" (utility or cost): scores from a shared library implementing
 * plugin.h, loaded when the job is read.
 *
 *     "utility": {"kind": "plugin", "path": "/abs/libmine.so", "config": {...}}
 *
 * Each batch's valid samples go to the plugin's score in one call (failed samples are
 * left out and score NaN). Text samples are handed over as NUL-terminated copies; the
 * samples are text when the generator filled texts (as for the exec scorer). */
#include "scorer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "interrupt.h"
#include "plugin_host.h"
#include "utf8.h"

struct qz_scorer {
    struct qz_plugin_lib lib;
    const struct qz_plugin_scorer *ops;
    void *state;
    int opened;

    /* scratch, grown to the largest batch */
    size_t cap;
    size_t *idx;
    const char **texts;
    size_t *lens;
    double *values, *scores;
    char *copy; /* the texts back to back, each NUL-terminated */
    size_t copy_size;
};

static enum qz_status grow(struct qz_scorer *s, size_t n)
{
    size_t *idx, *lens;
    const char **texts;
    double *values, *scores;

    if (n <= s->cap)
        return QZ_OK;
    if (!(idx = realloc(s->idx, n * sizeof *idx)))
        return QZ_ENOMEM;
    s->idx = idx;
    if (!(texts = realloc(s->texts, n * sizeof *texts)))
        return QZ_ENOMEM;
    s->texts = texts;
    if (!(lens = realloc(s->lens, n * sizeof *lens)))
        return QZ_ENOMEM;
    s->lens = lens;
    if (!(values = realloc(s->values, n * sizeof *values)))
        return QZ_ENOMEM;
    s->values = values;
    if (!(scores = realloc(s->scores, n * sizeof *scores)))
        return QZ_ENOMEM;
    s->scores = scores;
    s->cap = n;
    return QZ_OK;
}

/* Copy the texts of the m samples in s->idx, NUL-terminated, and point s->texts at them. */
static enum qz_status copy_texts(struct qz_scorer *s, const struct qz_batch *b, size_t m)
{
    size_t bytes = 0, at = 0;
    for (size_t i = 0; i < m; i++)
        bytes += (size_t)b->text_len[s->idx[i]] + 1;
    if (bytes > s->copy_size) {
        char *grown = realloc(s->copy, bytes);
        if (!grown)
            return QZ_ENOMEM;
        s->copy = grown;
        s->copy_size = bytes;
    }
    for (size_t i = 0; i < m; i++) {
        size_t j = s->idx[i], len = b->text_len[j];
        if (len)
            memcpy(s->copy + at, b->text + b->text_off[j], len);
        s->copy[at + len] = '\0';
        s->lens[i] = len;
        at += len + 1;
    }
    at = 0;
    for (size_t i = 0; i < m; i++) { /* after the copy: realloc may have moved it */
        s->texts[i] = s->copy + at;
        at += s->lens[i] + 1;
    }
    return QZ_OK;
}

static enum qz_status plugin_score(struct qz_scorer *s, const struct qz_batch *b, double *out,
                                   struct qz_error *err)
{
    char errbuf[QZ_PLUGIN_ERR_MAX] = "";
    int text = b->has_text;
    size_t m = 0;

    if (grow(s, b->n))
        return qz_error_set(err, QZ_ENOMEM, "%s: out of memory", s->lib.label);
    for (size_t j = 0; j < b->n; j++) {
        out[j] = NAN;
        if (!isnan(b->value[j])) {
            s->idx[m] = j;
            s->values[m] = b->value[j];
            s->scores[m] = NAN;
            m++;
        }
    }
    if (m == 0)
        return QZ_OK;
    if (text && copy_texts(s, b, m))
        return qz_error_set(err, QZ_ENOMEM, "%s: out of memory for texts", s->lib.label);
    if (s->ops->score(s->state, m, text ? s->texts : NULL, text ? s->lens : NULL, s->values,
                      s->scores, errbuf, sizeof errbuf)) {
        char why[4 * sizeof errbuf + 8];
        if (qz_interrupt_pending()) /* it returned early, as plugin.h allows */
            return qz_error_set(err, QZ_ESTOPPED, "stopped");
        errbuf[sizeof errbuf - 1] = '\0';
        qz_utf8_escape(errbuf, strlen(errbuf), sizeof errbuf, why, sizeof why);
        return qz_error_set(err, QZ_EIO, "%s: scoring samples %llu to %llu: %s", s->lib.label,
                            (unsigned long long)b->first, (unsigned long long)(b->first + b->n - 1),
                            why[0] ? why : "failed (no message)");
    }
    for (size_t i = 0; i < m; i++)
        out[s->idx[i]] = s->scores[i];
    return QZ_OK;
}

static void plugin_close(struct qz_scorer *s)
{
    if (!s)
        return;
    if (s->opened && s->ops->close)
        s->ops->close(s->state);
    qz_plugin_unload(&s->lib);
    free(s->idx);
    free(s->texts);
    free(s->lens);
    free(s->values);
    free(s->scores);
    free(s->copy);
    free(s);
}

static enum qz_status plugin_open(struct qz_scorer **out, const cJSON *spec, const struct qz_jv *at,
                                  struct qz_error *err)
{
    struct qz_scorer *s = calloc(1, sizeof *s);
    char errbuf[QZ_PLUGIN_ERR_MAX] = "";
    enum qz_status rc;

    *out = NULL;
    if (!s)
        return qz_error_set(err, QZ_ENOMEM, "out of memory");
    if ((rc = qz_plugin_load(&s->lib, at, spec, err))) {
        free(s);
        return rc;
    }
    s->ops = s->lib.p->scorer;
    if (!s->ops || !s->ops->open || !s->ops->score) {
        rc = qz_jv_fail(at, "path", NULL, err, "plugin %s (\"%.60s\") has no scorer%s", s->lib.path,
                        s->lib.p->name ? s->lib.p->name : "",
                        s->ops ? " (open or score is missing)" : "");
        plugin_close(s);
        return rc;
    }
    if (s->ops->open(s->lib.config, &s->state, errbuf, sizeof errbuf)) {
        errbuf[sizeof errbuf - 1] = '\0';
        rc = qz_plugin_config_error(&s->lib, at, errbuf, err);
        plugin_close(s);
        return rc;
    }
    s->opened = 1;
    *out = s;
    return QZ_OK;
}

const struct qz_scorer_ops qz_score_plugin_ops = {
    .name = "plugin",
    .open = plugin_open,
    .score = plugin_score,
    .close = plugin_close,
    .needs_text = 0,
    .needs_numbers = 0,
};
