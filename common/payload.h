/* The payload store: the text (and token log-probs) of samples a rank may still need,
 * keyed by global sample index.
 *
 * Text samples cannot be drawn again, so a rank keeps the payload of every sample it
 * appends to its top set, and drops the rest whenever its top set compacts
 * (qz_payload_retain). At the end, the payloads of the global top set and of the
 * selected sample are collected from the ranks that hold them. Local. */
#ifndef QZ_PAYLOAD_H
#define QZ_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "topset.h"

struct qz_payload {
    const char *text; /* not NUL-terminated; valid until the next put or retain */
    uint32_t len;
    uint32_t tokens;
    double logprob_sum; /* NaN when unknown */
};

struct qz_payload_slot; /* hash table slot */

struct qz_payloads {
    struct qz_payload_slot *slot; /* open addressing, size a power of two */
    size_t size, count;
    char *arena;
    size_t used, arena_size;
};

void qz_payload_init(struct qz_payloads *p);
void qz_payload_free(struct qz_payloads *p);

/* Keep a copy of sample `index`'s payload (replacing any earlier one). */
enum qz_status qz_payload_put(struct qz_payloads *p, uint64_t index, const char *text, size_t len,
                              uint32_t tokens, double logprob_sum, struct qz_error *err);

/* Sample `index`'s payload: 1 and *out filled if held, else 0. */
int qz_payload_get(const struct qz_payloads *p, uint64_t index, struct qz_payload *out);

/* Keep only the payloads of the samples in e[0..n); frees the rest's memory. */
enum qz_status qz_payload_retain(struct qz_payloads *p, const struct qz_entry *e, size_t n,
                                 struct qz_error *err);

/* Payload texts collected on the root, in a given order. */
struct qz_texts {
    size_t n;
    char *bytes;   /* all texts back to back */
    uint64_t *off; /* text i is bytes + off[i], len[i] bytes */
    uint32_t *len;
    uint32_t *tokens;    /* 0 when unknown */
    double *logprob_sum; /* NaN when unknown */
};

void qz_texts_free(struct qz_texts *t);

#endif
