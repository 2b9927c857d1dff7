#include "generator.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

#define QZ_BATCH_ARENA 4096 /* bytes of text a batch holds before its arena grows */

/* The registry: job kind -> backend. Adding a backend is one file and one line. */
static const struct {
    const char *kind;
    const struct qz_generator_ops *ops;
} registry[] = {
    {"uniform", &qz_gen_builtin_ops},
    {"normal", &qz_gen_builtin_ops},
    {"lognormal", &qz_gen_builtin_ops},
    {"pareto", &qz_gen_builtin_ops},
    {"discrete_uniform", &qz_gen_builtin_ops},
    {"fail", &qz_gen_builtin_ops},
    {"mixture", &qz_gen_builtin_ops},
    {"openai", &qz_gen_openai_ops},
    {"exec", &qz_gen_exec_ops},
    {"plugin", &qz_gen_plugin_ops},
    {NULL, NULL},
};

enum qz_status qz_batch_init(struct qz_batch *b, size_t cap, struct qz_error *err)
{
    memset(b, 0, sizeof *b);
    b->cap = cap;
    b->value = malloc(cap * sizeof *b->value);
    b->component_cost = malloc(cap * sizeof *b->component_cost);
    b->utility = malloc(cap * sizeof *b->utility);
    b->cost = malloc(cap * sizeof *b->cost);
    b->text_off = calloc(cap, sizeof *b->text_off);
    b->text_len = calloc(cap, sizeof *b->text_len);
    b->logprob_sum = malloc(cap * sizeof *b->logprob_sum);
    b->tokens = calloc(cap, sizeof *b->tokens);
    b->text_repaired = calloc(cap, sizeof *b->text_repaired);
    /* The text arena always exists, so b->text + off is valid even when every text is
     * empty. */
    b->text = malloc(QZ_BATCH_ARENA);
    b->text_size = b->text ? QZ_BATCH_ARENA : 0;
    if (!b->value || !b->component_cost || !b->utility || !b->cost || !b->text_off ||
        !b->text_len || !b->logprob_sum || !b->tokens || !b->text_repaired || !b->text) {
        qz_batch_free(b);
        return qz_error_set(err, QZ_ENOMEM, "out of memory for a batch of %zu samples", cap);
    }
    return QZ_OK;
}

void qz_batch_free(struct qz_batch *b)
{
    free(b->value);
    free(b->component_cost);
    free(b->utility);
    free(b->cost);
    free(b->text);
    free(b->text_off);
    free(b->text_len);
    free(b->logprob_sum);
    free(b->tokens);
    free(b->text_repaired);
    memset(b, 0, sizeof *b);
}

void qz_batch_begin(struct qz_batch *b, uint64_t first, size_t n, int text)
{
    b->first = first;
    b->n = n;
    b->component_cost_valid = 0;
    if (text)
        qz_batch_clear_text(b);
    for (size_t j = 0; j < n; j++)
        b->value[j] = NAN;
}

void qz_batch_clear_text(struct qz_batch *b)
{
    b->has_text = 1;
    b->text_used = 0;
    memset(b->text_len, 0, b->cap * sizeof *b->text_len);
    memset(b->tokens, 0, b->cap * sizeof *b->tokens);
    memset(b->text_repaired, 0, b->cap * sizeof *b->text_repaired);
    for (size_t j = 0; j < b->cap; j++)
        b->logprob_sum[j] = NAN;
}

enum qz_status qz_batch_put_text(struct qz_batch *b, size_t j, const char *s, size_t len,
                                 struct qz_error *err)
{
    /* the one place every generator's texts pass through: what is stored is valid UTF-8 */
    int valid = qz_utf8_valid(s, len);
    size_t stored = valid ? len : qz_utf8_repaired_len(s, len);

    if (stored > UINT32_MAX)
        return qz_error_set(err, QZ_EINVALID, "sample text of %zu bytes is too long", stored);
    if (b->text_used + stored > b->text_size) {
        size_t size = b->text_size ? b->text_size : QZ_BATCH_ARENA;
        char *grown;
        while (size < b->text_used + stored)
            size *= 2;
        if (!(grown = realloc(b->text, size)))
            return qz_error_set(err, QZ_ENOMEM, "out of memory for %zu bytes of text", size);
        b->text = grown;
        b->text_size = size;
    }
    if (valid)
        memcpy(b->text + b->text_used, s, len);
    else
        qz_utf8_repair(s, len, b->text + b->text_used);
    b->text_repaired[j] = !valid;
    b->text_off[j] = b->text_used;
    b->text_len[j] = (uint32_t)stored;
    b->text_used += stored;
    return QZ_OK;
}

uint64_t qz_batch_repaired(const struct qz_batch *b)
{
    uint64_t count = 0;
    if (b->has_text)
        for (size_t j = 0; j < b->n; j++)
            count += b->text_repaired[j] != 0;
    return count;
}

const struct qz_generator_ops *qz_gen_ops_of(const char *kind)
{
    for (size_t i = 0; kind && registry[i].kind; i++)
        if (strcmp(registry[i].kind, kind) == 0)
            return registry[i].ops;
    return NULL;
}

enum qz_status qz_gen_open(struct qz_gen *gen, const cJSON *spec, const struct qz_jv *at,
                           uint64_t seed, struct qz_error *err)
{
    int i;
    enum qz_status rc;

    gen->ops = NULL;
    gen->state = NULL;
    if ((rc = qz_jv_kind(at, spec, registry, sizeof *registry, &i, err)))
        return rc;
    gen->ops = registry[i].ops;
    return gen->ops->open(&gen->state, spec, at, seed, err);
}

int qz_gen_has_component_cost(const struct qz_gen *gen)
{
    return gen->ops->has_component_cost && gen->ops->has_component_cost(gen->state);
}

void qz_gen_close(struct qz_gen *gen)
{
    if (gen->ops && gen->state)
        gen->ops->close(gen->state);
    gen->ops = NULL;
    gen->state = NULL;
}
