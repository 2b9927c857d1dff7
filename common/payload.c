#include "payload.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define QZ_EMPTY UINT64_MAX /* no sample has this index (N <= 2^53) */

struct qz_payload_slot {
    uint64_t index;
    uint64_t off;
    uint32_t len;
    uint32_t tokens;
    double logprob_sum;
};

void qz_payload_init(struct qz_payloads *p)
{
    memset(p, 0, sizeof *p);
}

void qz_payload_free(struct qz_payloads *p)
{
    free(p->slot);
    free(p->arena);
    memset(p, 0, sizeof *p);
}

static size_t hash(uint64_t x, size_t size)
{
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    return (size_t)x & (size - 1);
}

static struct qz_payload_slot *find(const struct qz_payloads *p, uint64_t index)
{
    size_t i = hash(index, p->size);
    while (p->slot[i].index != QZ_EMPTY && p->slot[i].index != index)
        i = (i + 1) & (p->size - 1);
    return &p->slot[i];
}

/* A table of `size` slots (a power of two), all empty. */
static struct qz_payload_slot *new_table(size_t size)
{
    struct qz_payload_slot *t = malloc(size * sizeof *t);
    if (t)
        for (size_t i = 0; i < size; i++)
            t[i].index = QZ_EMPTY;
    return t;
}

static enum qz_status grow_table(struct qz_payloads *p, struct qz_error *err)
{
    size_t size = p->size ? 2 * p->size : 1024;
    struct qz_payload_slot *old = p->slot, *t = new_table(size);
    size_t old_size = p->size;

    if (!t)
        return qz_error_set(err, QZ_ENOMEM, "out of memory for %zu payload slots", size);
    p->slot = t;
    p->size = size;
    for (size_t i = 0; i < old_size; i++)
        if (old[i].index != QZ_EMPTY)
            *find(p, old[i].index) = old[i];
    free(old);
    return QZ_OK;
}

enum qz_status qz_payload_put(struct qz_payloads *p, uint64_t index, const char *text, size_t len,
                              uint32_t tokens, double logprob_sum, struct qz_error *err)
{
    struct qz_payload_slot *s;
    enum qz_status rc;

    if (2 * (p->count + 1) > p->size && (rc = grow_table(p, err)))
        return rc;
    if (p->used + len > p->arena_size) {
        size_t size = p->arena_size ? p->arena_size : 65536;
        char *grown;
        while (size < p->used + len)
            size *= 2;
        if (!(grown = realloc(p->arena, size)))
            return qz_error_set(err, QZ_ENOMEM, "out of memory for %zu bytes of payloads", size);
        p->arena = grown;
        p->arena_size = size;
    }
    memcpy(p->arena + p->used, text, len);
    s = find(p, index);
    if (s->index == QZ_EMPTY)
        p->count++;
    *s = (struct qz_payload_slot){index, p->used, (uint32_t)len, tokens, logprob_sum};
    p->used += len;
    return QZ_OK;
}

int qz_payload_get(const struct qz_payloads *p, uint64_t index, struct qz_payload *out)
{
    const struct qz_payload_slot *s;
    if (!p->size)
        return 0;
    s = find(p, index);
    if (s->index == QZ_EMPTY)
        return 0;
    out->text = p->arena + s->off;
    out->len = s->len;
    out->tokens = s->tokens;
    out->logprob_sum = s->logprob_sum;
    return 1;
}

enum qz_status qz_payload_retain(struct qz_payloads *p, const struct qz_entry *e, size_t n,
                                 struct qz_error *err)
{
    struct qz_payloads kept;
    enum qz_status rc = QZ_OK;

    if (p->count == 0)
        return QZ_OK; /* nothing to look up (a numeric job whose values are utilities) */
    qz_payload_init(&kept);
    for (size_t i = 0; i < n && rc == QZ_OK; i++) {
        struct qz_payload pl;
        if (qz_payload_get(p, e[i].index, &pl))
            rc = qz_payload_put(&kept, e[i].index, pl.text, pl.len, pl.tokens, pl.logprob_sum, err);
    }
    if (rc) {
        qz_payload_free(&kept);
        return rc;
    }
    qz_payload_free(p);
    *p = kept;
    return QZ_OK;
}

void qz_texts_free(struct qz_texts *t)
{
    free(t->bytes);
    free(t->off);
    free(t->len);
    free(t->tokens);
    free(t->logprob_sum);
    memset(t, 0, sizeof *t);
}
