/* Generator backends: where samples come from (the base distribution γ).
 *
 * A backend fills a const struct qz_generator_ops; the registry maps the job's
 * `generator.kind` to a backend. Each backend validates its own part of the job in
 * `open`, so every field is checked before any sample is drawn. All calls are local.
 *
 * The contract that makes runs reproducible at any rank count: sample i's value (and
 * everything else about it) depends only on (seed, i), never on which rank or batch
 * draws it. */
#ifndef QZ_GENERATOR_H
#define QZ_GENERATOR_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "error.h"
#include "jsonv.h"

/* A batch of consecutive samples first .. first+n-1, as drawn and then scored. The
 * arrays have room for `cap` samples and are owned by the batch. */
struct qz_batch {
    uint64_t first;
    size_t n;
    size_t cap;
    double *value;            /* the numeric sample (the action itself); NaN if it failed.
                                 Text generators: NaN if it failed, else 0 */
    double *component_cost;   /* the cost its mixture component carries */
    int component_cost_valid; /* component_cost is filled; 0 means all costs are 0 */
    double *utility;          /* filled by the utility scorer */
    double *cost;             /* filled by the cost scorer */

    /* Text samples (generators that produce text): sample j's UTF-8 text is
     * text + text_off[j], text_len[j] bytes, not NUL-terminated (empty when it
     * failed). Filled with qz_batch_put_text after qz_batch_clear_text. */
    int has_text; /* the samples are text (set by qz_batch_clear_text) */
    char *text;   /* owned, grows as needed */
    size_t text_used, text_size;
    uint64_t *text_off;
    uint32_t *text_len;
    double *logprob_sum;          /* sum of the sample's token log-probs; NaN when not returned */
    uint32_t *tokens;             /* tokens generated; 0 when unknown */
    unsigned char *text_repaired; /* 1: the text had invalid UTF-8, stored with U+FFFD */
};

enum qz_status qz_batch_init(struct qz_batch *b, size_t cap, struct qz_error *err);
void qz_batch_free(struct qz_batch *b);

/* Begin filling samples first .. first+n-1 into b: no component costs, every value
 * NaN (failed until the backend says otherwise) and, for text, every text empty. */
void qz_batch_begin(struct qz_batch *b, uint64_t first, size_t n, int text);

/* Forget all texts of the batch (keeps the memory). Sets every sample's text empty. */
void qz_batch_clear_text(struct qz_batch *b);

/* Set sample j's text to a copy of s[0..len), made valid UTF-8: each invalid sequence
 * becomes U+FFFD (utf8.h) and the sample is marked repaired. QZ_ENOMEM if the arena
 * cannot grow. */
enum qz_status qz_batch_put_text(struct qz_batch *b, size_t j, const char *s, size_t len,
                                 struct qz_error *err);

/* Samples of the batch whose text was repaired (a generator adds this to its
 * utf8_repaired_samples after each draw). */
uint64_t qz_batch_repaired(const struct qz_batch *b);

/* Figures a generator counts while drawing (summed over ranks for the record). */
struct qz_gen_stats {
    uint64_t requests;       /* HTTP attempts that reached the wire (or program calls) */
    uint64_t retries;        /* attempts made again after a failed one */
    uint64_t failed_samples; /* samples that failed after all retries */
    uint64_t prompt_tokens;  /* usage totals reported by the server */
    uint64_t completion_tokens;
    uint64_t utf8_repaired_samples; /* texts whose invalid UTF-8 became U+FFFD */
};

/* Why a request to a model server was given up (its last attempt); the record counts
 * each (README "The record"). */
enum qz_gen_failure {
    QZ_GEN_FAIL_HTTP_4XX,    /* a retried 4xx (408, 409, 429) */
    QZ_GEN_FAIL_HTTP_5XX,    /* 5xx */
    QZ_GEN_FAIL_TIMEOUT,     /* the attempt timed out */
    QZ_GEN_FAIL_CONNECTION,  /* refused, reset, closed early, empty reply */
    QZ_GEN_FAIL_PROTOCOL,    /* a 2xx answer that is not a valid completion */
    QZ_GEN_FAIL_NO_LOGPROBS, /* log-probs were asked for and a choice lacks them */
    QZ_GEN_FAIL_KINDS
};

#define QZ_GEN_MODEL_MAX 128
#define QZ_GEN_FAILURE_MAX 320
#define QZ_GEN_SERVERS_MAX 64 /* servers in a report (the record lists at most these) */
#define QZ_GEN_URL_MAX 256
/* The record's JSON lists of the servers: ["URL", ...] (URLs escaped) and [N, ...]. */
#define QZ_GEN_SERVERS_TEXT (QZ_GEN_SERVERS_MAX * (2 * QZ_GEN_URL_MAX + 4) + 64)
#define QZ_GEN_COUNTS_TEXT (QZ_GEN_SERVERS_MAX * 22 + 8)

/* One server's counts: attempts that reached it, and failed attempts (any reason). */
struct qz_gen_server {
    char url[QZ_GEN_URL_MAX]; /* the base URL ({host} replaced) */
    uint64_t requests, failures;
};

/* What a server-backed generator reports about the server for the record: plain data
 * (reduced over ranks in mpi/run.c). Strings are NUL-terminated, empty when
 * unknown. */
struct qz_gen_report {
    uint64_t n;                            /* the effective n (settled before drawing) */
    uint64_t completion_tokens_counted;    /* tokens counted from per-token log-probs */
    uint64_t failures[QZ_GEN_FAIL_KINDS];  /* requests given up, by reason */
    uint64_t nul_texts;                    /* texts whose NUL characters became U+FFFD */
    uint64_t last_failure_at;              /* 1 + the first sample index of the last failure,
                                              0: none */
    uint64_t model_changed;                /* 1: the model or fingerprint changed */
    int has_price;                         /* the job's generator gives "price" */
    double price_prompt, price_completion; /* its prices per 1000 prompt, completion tokens */
    char model[QZ_GEN_MODEL_MAX];          /* the first the server named */
    char fingerprint[QZ_GEN_MODEL_MAX];    /* its system_fingerprint */
    char last_failure[QZ_GEN_FAILURE_MAX];
    uint64_t outages;      /* times every server was set aside at once */
    double outage_seconds; /* seconds waited for a server to come back (on_server_down "wait") */
    uint64_t nservers;     /* servers[0 .. nservers): this rank's; after the reduction over
                              ranks, their union (merged by URL, first seen first) */
    struct qz_gen_server servers[QZ_GEN_SERVERS_MAX];
    /* Filled by the reduction over ranks (mpi/run.c) for the record, "" before: */
    char servers_text[QZ_GEN_SERVERS_TEXT];        /* ["URL", ...] */
    char server_requests_text[QZ_GEN_COUNTS_TEXT]; /* [requests, ...] in that order */
    char server_failures_text[QZ_GEN_COUNTS_TEXT]; /* [failures, ...] */
};

struct qz_generator; /* a backend's opaque state */

/* How a field of a backend's spec counts for the job's identity (the job hash that
 * ties a checkpoint to its job, common/job.c): a default that is written out when the
 * field is absent (so that writing it out is the same job), or a field left out
 * because it does not change results (how servers and programs are reached, how long
 * to wait, how the work is divided). The backend's open reads the same defaults (its
 * macros), so each default is written in one place. */
enum qz_spec_role {
    QZ_SPEC_NUMBER,  /* default: number */
    QZ_SPEC_BOOL,    /* default: number != 0 */
    QZ_SPEC_STRING,  /* default: string */
    QZ_SPEC_NEUTRAL, /* left out */
    QZ_SPEC_INCLUDE  /* the fields of the table `include` (field unused) */
};
struct qz_spec_field {
    const char *field; /* NULL ends a table */
    enum qz_spec_role role;
    double number;
    const char *string;
    const struct qz_spec_field *include;
};

struct qz_generator_ops {
    const char *name;
    /* Validate `spec` (the job's generator object, named by `at`) and open an
     * instance that draws with `seed`. */
    enum qz_status (*open)(struct qz_generator **g, const cJSON *spec, const struct qz_jv *at,
                           uint64_t seed, struct qz_error *err);
    /* Draw samples first .. first+n-1 into out->value and out->component_cost
     * (n <= out->cap); sets out->first, out->n and out->component_cost_valid. */
    enum qz_status (*draw)(struct qz_generator *g, uint64_t first, size_t n, struct qz_batch *out,
                           struct qz_error *err);
    /* Optional (NULL: never). 1 if some samples carry a component cost (a mixture
     * with a nonzero cost). */
    int (*has_component_cost)(const struct qz_generator *g);
    /* Optional (NULL: numeric samples). 1 if the samples are text. */
    int (*produces_text)(const struct qz_generator *g);
    /* Optional. Add this instance's counts to *st. */
    void (*stats)(const struct qz_generator *g, struct qz_gen_stats *st);
    /* Optional. What the generator sends, as compact JSON without secrets (for text
     * generators: the request body template with every sampling parameter), malloc'd;
     * recorded as the run's `generator_request` attribute. */
    char *(*describe)(const struct qz_generator *g);
    /* Optional (NULL: nothing to settle). Called on ONE rank before the first sample:
     * ask the server for its limits and return the value every rank must use
     * (openai: the effective n). */
    enum qz_status (*settle)(struct qz_generator *g, uint64_t *value, struct qz_error *err);
    /* With settle: use the settled value (called on every rank with the same value). */
    void (*apply_settled)(struct qz_generator *g, uint64_t value);
    /* Optional. This instance's report about the server (the caller zero-fills *r). */
    void (*report)(const struct qz_generator *g, struct qz_gen_report *r);
    /* Optional. Why this instance's last sample failed, "" when none known (valid
     * until the next draw). */
    const char *(*last_failure)(const struct qz_generator *g);
    /* Optional (NULL: the job's default chunk is QZ_CHUNK_DEFAULT). The chunk size a
     * job without `chunk_size` uses: samples this generator draws in a short time, so
     * every rank has work from the start and a stop loses little (openai: the job's n
     * x concurrency, fixed when the job is opened, the same on every rank). The job
     * caps it to 1 .. 2048. Also marks draws that can take long and be abandoned on a
     * stop (QZ_ESTOPPED): the draw loop keeps a snapshot to roll back to. */
    uint64_t (*chunk_hint)(const struct qz_generator *g);
    void (*close)(struct qz_generator *g);
    /* Optional (NULL: every field counts, none has a default). The spec's fields as
     * the job hash sees them (struct qz_spec_field). */
    const struct qz_spec_field *canonical;
};

/* An open generator: the backend and its state. */
struct qz_gen {
    const struct qz_generator_ops *ops;
    struct qz_generator *state;
};

/* Look up spec.kind in the registry and open it. */
enum qz_status qz_gen_open(struct qz_gen *gen, const cJSON *spec, const struct qz_jv *at,
                           uint64_t seed, struct qz_error *err);
void qz_gen_close(struct qz_gen *gen);
/* The backend serving `kind`, NULL if none. */
const struct qz_generator_ops *qz_gen_ops_of(const char *kind);

/* 1 if the open generator's samples may carry a component cost. */
int qz_gen_has_component_cost(const struct qz_gen *gen);

/* The built-in synthetic distributions (common/gen_builtin.c), one backend serving
 * the kinds uniform, normal, lognormal, pareto, discrete_uniform, fail, mixture. */
extern const struct qz_generator_ops qz_gen_builtin_ops;
/* OpenAI-compatible HTTP servers (common/gen_openai.c), kind "openai". */
extern const struct qz_generator_ops qz_gen_openai_ops;
/* An external program speaking JSON lines (common/gen_exec.c), kind "exec". */
extern const struct qz_generator_ops qz_gen_exec_ops;
/* A shared-library plugin, common/plugin.h (common/gen_plugin.c), kind "plugin". */
extern const struct qz_generator_ops qz_gen_plugin_ops;

#endif
