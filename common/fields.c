#include "fields.h"

#include <math.h>
#include <string.h>

/* Values the writer computes from the record rather than reads from one member. */

static void top_stored(const struct qz_record *rec, void *out)
{
    *(int *)out = rec->top_stored ? 1 : 0;
}

static void logprob_sum(const struct qz_record *rec, void *out)
{
    *(double *)out = rec->selected_text->logprob_sum[rec->selected_text_at];
}

static void logprob_mean(const struct qz_record *rec, void *out)
{
    const struct qz_texts *t = rec->selected_text;
    size_t i = rec->selected_text_at;

    *(double *)out = t->tokens[i] ? t->logprob_sum[i] / (double)t->tokens[i] : NAN;
}

static void tokens(const struct qz_record *rec, void *out)
{
    *(uint64_t *)out = rec->selected_text->tokens[rec->selected_text_at];
}

/* What the run's tokens cost at the job's price: prompt and completion tokens the
 * server reported (all sessions), per 1000 tokens. */
static void token_cost(const struct qz_record *rec, void *out)
{
    *(double *)out = (double)rec->stats.prompt_tokens / 1000.0 * rec->report.price_prompt +
                     (double)rec->stats.completion_tokens / 1000.0 * rec->report.price_completion;
}

#ifdef QZ_FIELD_TEST
/* The extra row of quantilize_fieldtest (tests/record/): twice the samples. */
static void test_extra_field(const struct qz_record *rec, void *out)
{
    *(uint64_t *)out = 2 * rec->samples;
}
#endif

#define AT(member) offsetof(struct qz_record, member), 0, NULL
#define CHARS(member) offsetof(struct qz_record, member), 1, NULL
#define GET(fn) 0, 0, fn

#define RUN(section, when) QZ_SECTION_##section, QZ_GROUP_RUN, QZ_WHEN_##when
#define SEL(when) QZ_SECTION_SELECTED, QZ_GROUP_SELECTED, QZ_WHEN_##when
#define U64 QZ_FIELD_U64
#define F64 QZ_FIELD_F64
#define I32 QZ_FIELD_I32
#define STR QZ_FIELD_STR

const struct qz_field qz_record_fields[] = {
    {"status", STR, NULL, "\"complete\"", "status", RUN(RUN, ALWAYS), QZ_SHOW_TEXT, AT(status)},
    {"version", STR, NULL, "quantilize version", "version", RUN(RUN, ALWAYS), QZ_SHOW_TEXT,
     AT(version)},
    {"q", F64, NULL, "the job's q", "q", RUN(RUN, ALWAYS), QZ_SHOW_EXACT, AT(q)},
    {"samples", U64, NULL, "N, samples drawn", "samples (N)", RUN(RUN, ALWAYS), QZ_SHOW_COUNT,
     AT(samples)},
    {"valid_samples", U64, NULL, "N minus the invalid samples", "valid samples", RUN(RUN, ALWAYS),
     QZ_SHOW_COUNT, AT(valid_samples)},
    {"invalid_samples", U64, NULL, "samples excluded as invalid (policy \"exclude\")",
     "invalid samples", RUN(RUN, ALWAYS), QZ_SHOW_COUNT, AT(invalid_samples)},
    {"mass", F64, NULL, "m = q * valid_samples", "mass (m)", RUN(RUN, ALWAYS), QZ_SHOW_EXACT,
     AT(mass)},
    {"top_count", U64, NULL, "K = ceil(m)", "top count (K)", RUN(RUN, ALWAYS), QZ_SHOW_COUNT,
     AT(top_count)},
    {"threshold", F64, NULL, "the utility at position K-1", "threshold", RUN(RUN, ALWAYS),
     QZ_SHOW_EXACT, AT(threshold)},
    {"boundary_ties", U64, NULL, "other samples whose utility equals the threshold",
     "boundary ties", RUN(RUN, ALWAYS), QZ_SHOW_COUNT, AT(boundary_ties)},
    {"seed", U64, NULL, "the job's seed", "seed", RUN(RUN, ALWAYS), QZ_SHOW_COUNT, AT(seed)},
    {"chunk_size", U64, NULL, "consecutive sample indices per work unit", "chunk size",
     RUN(RUN, ALWAYS), QZ_SHOW_COUNT, AT(chunk_size)},
#ifdef QZ_FIELD_TEST
    {"test_extra_field", U64, NULL, "twice the samples (quantilize_fieldtest only)",
     "test extra field", RUN(RUN, ALWAYS), QZ_SHOW_COUNT, GET(test_extra_field)},
#endif
    {"top_stored", I32, NULL, "1 when top/ was written, 0 when the job said \"top\": false",
     "top set stored", RUN(RUN, ALWAYS), QZ_SHOW_HIDDEN, GET(top_stored)},
    {"selected_position", U64, NULL, "the selected sample's position in the top set",
     "selected position", RUN(RUN, ALWAYS), QZ_SHOW_HIDDEN, AT(selected_position)},
    {"selected_index", U64, NULL, "the selected sample's global index", "selected index",
     RUN(RUN, ALWAYS), QZ_SHOW_HIDDEN, AT(selected_index)},

    {"utility_quantilized_mean", F64, NULL, "E_Q[u] under the run's quantilized distribution",
     "E_Q[u]", RUN(SAFETY, ALWAYS), QZ_SHOW_EXACT, AT(utility_quantilized_mean)},
    {"cost_quantilized_mean", F64, NULL, "E_Q[c]", "E_Q[c]", RUN(SAFETY, COST), QZ_SHOW_EXACT,
     AT(cost_quantilized_mean)},
    {"cost_base_mean", F64, NULL, "E_gamma[c] over all valid samples", "E_gamma[c]",
     RUN(SAFETY, COST), QZ_SHOW_EXACT, AT(cost_base_mean)},
    {"cost_base_stderr", F64, NULL, "the standard error of E_gamma[c]", "E_gamma[c] s.e.",
     RUN(SAFETY, COST), QZ_SHOW_EXACT, AT(cost_base_stderr)},
    {"cost_bound", F64, NULL, "E_gamma[c] / q, the bound on E_Q[c] for costs >= 0",
     "E_gamma[c] / q", RUN(SAFETY, COST), QZ_SHOW_EXACT, AT(cost_bound)},
    {"kl_nats", F64, "nats", "ln(1/q) = KL(Q||gamma)", "KL(Q||gamma)", RUN(SAFETY, ALWAYS),
     QZ_SHOW_EXACT, AT(kl_nats)},
    {"confidence", F64, NULL, "1 - delta of the intervals (the job's \"confidence\")", "confidence",
     RUN(SAFETY, ALWAYS), QZ_SHOW_EXACT, AT(confidence)},
    {"utility_quantilized_stderr", F64, NULL, "the standard error of E_Q[u]", "E_Q[u] s.e.",
     RUN(SAFETY, ALWAYS), QZ_SHOW_EXACT, AT(utility_quantilized_stderr)},
    {"utility_quantilized_ci_low", F64, NULL, "the lower end of E_Q[u]'s interval", "E_Q[u] CI low",
     RUN(SAFETY, ALWAYS), QZ_SHOW_EXACT, AT(utility_quantilized_ci_low)},
    {"utility_quantilized_ci_high", F64, NULL, "the upper end of E_Q[u]'s interval",
     "E_Q[u] CI high", RUN(SAFETY, ALWAYS), QZ_SHOW_EXACT, AT(utility_quantilized_ci_high)},
    {"utility_ci_method", STR, NULL, "how E_Q[u]'s interval was made", "E_Q[u] CI method",
     RUN(SAFETY, SET), QZ_SHOW_TEXT, AT(utility_ci_method)},
    {"top_effective_size", F64, NULL, "n_eff = (sum w)^2 / sum w^2 of the top set's weights",
     "top n_eff", RUN(SAFETY, ALWAYS), QZ_SHOW_EXACT, AT(top_effective_size)},
    {"cost_quantilized_stderr", F64, NULL, "the standard error of E_Q[c]", "E_Q[c] s.e.",
     RUN(SAFETY, COST), QZ_SHOW_EXACT, AT(cost_quantilized_stderr)},
    {"cost_quantilized_ci_low", F64, NULL, "the lower end of E_Q[c]'s interval", "E_Q[c] CI low",
     RUN(SAFETY, COST), QZ_SHOW_EXACT, AT(cost_quantilized_ci_low)},
    {"cost_quantilized_ci_high", F64, NULL, "the upper end of E_Q[c]'s interval", "E_Q[c] CI high",
     RUN(SAFETY, COST), QZ_SHOW_EXACT, AT(cost_quantilized_ci_high)},
    {"cost_base_ci_low", F64, NULL, "the lower end of E_gamma[c]'s interval", "E_gamma[c] low",
     RUN(SAFETY, COST), QZ_SHOW_EXACT, AT(cost_base_ci_low)},
    {"cost_base_ci_high", F64, NULL, "the upper end of E_gamma[c]'s interval", "E_gamma[c] high",
     RUN(SAFETY, COST), QZ_SHOW_EXACT, AT(cost_base_ci_high)},
    {"cost_ci_method", STR, NULL, "how the cost intervals were made", "cost CI method",
     RUN(SAFETY, SET), QZ_SHOW_TEXT, AT(cost_ci_method)},
    {"cost_bound_ucb", F64, NULL, "UCB(E_gamma[c]) / q, one-sided at the confidence",
     "cost bound UCB", RUN(SAFETY, COST), QZ_SHOW_EXACT, AT(cost_bound_ucb)},

    {"position", U64, NULL, "position in the top set", "selected position", SEL(ALWAYS),
     QZ_SHOW_COUNT, AT(selected_position)},
    {"index", U64, NULL, "global sample index", "selected index", SEL(ALWAYS), QZ_SHOW_COUNT,
     AT(selected_index)},
    {"utility", F64, NULL, "its utility", "selected utility", SEL(ALWAYS), QZ_SHOW_EXACT,
     AT(selected_utility)},
    {"cost", F64, NULL, "its cost", "selected cost", SEL(COST), QZ_SHOW_EXACT, AT(selected_cost)},
    {"chunk", U64, NULL, "index / chunk_size", "selected chunk", SEL(ALWAYS), QZ_SHOW_COUNT,
     AT(selected_chunk)},
    {"logprob_sum", F64, "nats", "the sum of its token log-probabilities", "selected log-prob sum",
     SEL(LOGPROBS), QZ_SHOW_EXACT, GET(logprob_sum)},
    {"logprob_mean", F64, "nats", "its mean token log-probability", "selected log-prob mean",
     SEL(LOGPROBS), QZ_SHOW_EXACT, GET(logprob_mean)},
    {"tokens", U64, NULL, "tokens generated", "selected tokens", SEL(LOGPROBS), QZ_SHOW_COUNT,
     GET(tokens)},

    {"ranks", I32, NULL, "MPI ranks of the run", "ranks", RUN(TIMING, ALWAYS), QZ_SHOW_COUNT,
     AT(ranks)},
    {"started", STR, NULL, "ISO 8601 UTC", "started", RUN(TIMING, ALWAYS), QZ_SHOW_TEXT,
     CHARS(started)},
    {"finished", STR, NULL, "ISO 8601 UTC", "finished", RUN(TIMING, ALWAYS), QZ_SHOW_TEXT,
     CHARS(finished)},
    {"wall_seconds", F64, "s", "time from start-up to the record", "wall time", RUN(TIMING, ALWAYS),
     QZ_SHOW_SECONDS, AT(wall_seconds)},
    {"samples_per_second", F64, "samples/s", "samples drawn per second of wall time", "rate",
     RUN(TIMING, ALWAYS), QZ_SHOW_RATE, AT(samples_per_second)},
    {"draw_seconds", F64, "s", "drawing, scoring and ranking (max over ranks)", "draw time",
     RUN(TIMING, ALWAYS), QZ_SHOW_SECONDS, AT(draw_seconds)},
    {"select_seconds", F64, "s", "reduction and selection (max over ranks)", "select time",
     RUN(TIMING, ALWAYS), QZ_SHOW_SECONDS, AT(select_seconds)},
    {"write_seconds", F64, "s", "writing the record", "write time", RUN(TIMING, COMMIT),
     QZ_SHOW_SECONDS, AT(write_seconds)},
    {"peak_rss_bytes_max", U64, "bytes", "peak resident memory of the largest rank",
     "peak RSS (max)", RUN(TIMING, ALWAYS), QZ_SHOW_BYTES, AT(peak_rss_max)},
    {"peak_rss_bytes_root", U64, "bytes", "peak resident memory of rank 0", "peak RSS (root)",
     RUN(TIMING, ALWAYS), QZ_SHOW_BYTES, AT(peak_rss_root)},

    {"checkpoints", U64, NULL, "checkpoints written over the whole run", "checkpoints",
     RUN(CHECKPOINT, ALWAYS), QZ_SHOW_COUNT, AT(checkpoints)},
    {"checkpoint_seconds", F64, "s", "the time they took", "checkpoint time",
     RUN(CHECKPOINT, ALWAYS), QZ_SHOW_SECONDS, AT(checkpoint_seconds)},
    {"resumes", U64, NULL, "times the run was resumed from a checkpoint", "resumes",
     RUN(CHECKPOINT, ALWAYS), QZ_SHOW_COUNT, AT(resumes)},
    {"samples_redone", U64, NULL,
     "samples drawn and then discarded: rolled back on a stop or an outage, or drawn after "
     "the last checkpoint by a session that was killed",
     "samples redone", RUN(CHECKPOINT, ALWAYS), QZ_SHOW_COUNT, AT(samples_redone)},
    {"outage_checkpoints", U64, NULL,
     "checkpoints written because the generator's model servers were down", "outage checkpoints",
     RUN(CHECKPOINT, ALWAYS), QZ_SHOW_COUNT, AT(outage_checkpoints)},

    {"requests", U64, NULL, "attempts that reached the wire (summed over ranks)", "requests",
     RUN(GENERATOR, STATS), QZ_SHOW_COUNT, AT(stats.requests)},
    {"retries", U64, NULL, "attempts made again after a failed one", "retries",
     RUN(GENERATOR, STATS), QZ_SHOW_COUNT, AT(stats.retries)},
    {"failed_samples", U64, NULL, "samples lost after all retries", "failed samples",
     RUN(GENERATOR, STATS), QZ_SHOW_COUNT, AT(stats.failed_samples)},
    {"prompt_tokens", U64, NULL, "prompt tokens the server reported", "prompt tokens",
     RUN(GENERATOR, STATS), QZ_SHOW_COUNT, AT(stats.prompt_tokens)},
    {"completion_tokens", U64, NULL, "completion tokens the server reported", "completion tokens",
     RUN(GENERATOR, STATS), QZ_SHOW_COUNT, AT(stats.completion_tokens)},
    {"utf8_repaired_samples", U64, NULL,
     "texts that held invalid UTF-8, stored with U+FFFD in its place", "texts repaired (UTF-8)",
     RUN(GENERATOR, STATS), QZ_SHOW_COUNT, AT(stats.utf8_repaired_samples)},
    {"generator_request", STR, NULL, "the request as sent, without secrets", "generator request",
     RUN(GENERATOR, SET), QZ_SHOW_TEXT, AT(generator_request)},
    {"generator_n", U64, NULL, "the effective n (choices per request), settled before drawing",
     "generator n", RUN(GENERATOR, REPORT), QZ_SHOW_COUNT, AT(report.n)},
    {"generator_model", STR, NULL, "the model the server named in its first answer", "server model",
     RUN(GENERATOR, SET), QZ_SHOW_TEXT, CHARS(report.model)},
    {"generator_system_fingerprint", STR, NULL, "the system_fingerprint of that answer",
     "server fingerprint", RUN(GENERATOR, SET), QZ_SHOW_TEXT, CHARS(report.fingerprint)},
    {"generator_model_changed", U64, NULL, "1 if a later answer named another model or fingerprint",
     "model changed", RUN(GENERATOR, REPORT), QZ_SHOW_COUNT, AT(report.model_changed)},
    {"completion_tokens_counted", U64, NULL, "tokens counted from the answers' per-token log-probs",
     "tokens counted", RUN(GENERATOR, REPORT), QZ_SHOW_COUNT, AT(report.completion_tokens_counted)},
    {"price_prompt", F64, "per 1000 tokens", "the job's generator.price.prompt", "price: prompt",
     RUN(GENERATOR, PRICE), QZ_SHOW_EXACT, AT(report.price_prompt)},
    {"price_completion", F64, "per 1000 tokens", "the job's generator.price.completion",
     "price: completion", RUN(GENERATOR, PRICE), QZ_SHOW_EXACT, AT(report.price_completion)},
    {"token_cost", F64, NULL,
     "prompt_tokens / 1000 x price_prompt + completion_tokens / 1000 x price_completion",
     "token cost", RUN(GENERATOR, PRICE), QZ_SHOW_EXACT, GET(token_cost)},
    {"failures_http_4xx", U64, NULL, "requests given up after a retried 4xx (408, 409, 429)",
     "failures: HTTP 4xx", RUN(GENERATOR, REPORT), QZ_SHOW_COUNT,
     AT(report.failures[QZ_GEN_FAIL_HTTP_4XX])},
    {"failures_http_5xx", U64, NULL, "requests given up after HTTP 5xx", "failures: HTTP 5xx",
     RUN(GENERATOR, REPORT), QZ_SHOW_COUNT, AT(report.failures[QZ_GEN_FAIL_HTTP_5XX])},
    {"failures_timeout", U64, NULL, "requests given up after a timeout", "failures: timeout",
     RUN(GENERATOR, REPORT), QZ_SHOW_COUNT, AT(report.failures[QZ_GEN_FAIL_TIMEOUT])},
    {"failures_connection", U64, NULL, "requests given up: connection refused, reset or closed",
     "failures: connection", RUN(GENERATOR, REPORT), QZ_SHOW_COUNT,
     AT(report.failures[QZ_GEN_FAIL_CONNECTION])},
    {"failures_protocol", U64, NULL, "requests given up: the answer was not a valid completion",
     "failures: protocol", RUN(GENERATOR, REPORT), QZ_SHOW_COUNT,
     AT(report.failures[QZ_GEN_FAIL_PROTOCOL])},
    {"failures_no_logprobs", U64, NULL,
     "requests given up: log-probs asked for, a choice lacked them", "failures: no log-probs",
     RUN(GENERATOR, REPORT), QZ_SHOW_COUNT, AT(report.failures[QZ_GEN_FAIL_NO_LOGPROBS])},
    {"texts_nul_replaced", U64, NULL, "texts whose NUL characters were replaced by U+FFFD",
     "NUL texts", RUN(GENERATOR, REPORT), QZ_SHOW_COUNT, AT(report.nul_texts)},
    {"last_failure", STR, NULL, "the reason of the last failure (highest sample index)",
     "last failure", RUN(GENERATOR, SET), QZ_SHOW_TEXT, CHARS(report.last_failure)},
    {"generator_servers", STR, NULL, "JSON list of the servers used (base URLs), over all ranks",
     "servers", RUN(GENERATOR, SET), QZ_SHOW_TEXT, CHARS(report.servers_text)},
    {"generator_server_requests", STR, NULL, "JSON list: attempts that reached each server",
     "server requests", RUN(GENERATOR, SET), QZ_SHOW_TEXT, CHARS(report.server_requests_text)},
    {"generator_server_failures", STR, NULL, "JSON list: failed attempts on each server",
     "server failures", RUN(GENERATOR, SET), QZ_SHOW_TEXT, CHARS(report.server_failures_text)},
    {"server_outages", U64, NULL, "times every server was down at once (summed over ranks)",
     "server outages", RUN(GENERATOR, REPORT), QZ_SHOW_COUNT, AT(report.outages)},
    {"server_outage_seconds", F64, "s",
     "seconds waited for a server to come back (summed over ranks)", "outage wait",
     RUN(GENERATOR, REPORT), QZ_SHOW_SECONDS, AT(report.outage_seconds)},

    {"source_file", STR, NULL, "the archive's file", "source file", RUN(SOURCE, SET), QZ_SHOW_TEXT,
     AT(source_file)},
    {"source_run", STR, NULL, "the archive's run", "source run", RUN(SOURCE, SET), QZ_SHOW_TEXT,
     AT(source_run)},

    {"host_name", STR, NULL, "host name of rank 0", "host", RUN(PROVENANCE, SET), QZ_SHOW_TEXT,
     CHARS(provenance.host)},
    {"hosts", I32, NULL, "distinct hosts among the ranks", "hosts", RUN(PROVENANCE, SET),
     QZ_SHOW_COUNT, AT(provenance.hosts)},
    {"source_revision", STR, NULL, "git describe of the source at build time, or \"unknown\"",
     "source revision", RUN(PROVENANCE, SET), QZ_SHOW_TEXT, AT(provenance.revision)},
    {"compiler", STR, NULL, "the compiler that built quantilize", "compiler", RUN(PROVENANCE, SET),
     QZ_SHOW_TEXT, AT(provenance.compiler)},
    {"mpi_library", STR, NULL, "the MPI library loaded (its version line)", "MPI library",
     RUN(PROVENANCE, SET), QZ_SHOW_TEXT, CHARS(provenance.mpi)},
    {"hdf5_version", STR, NULL, "the HDF5 library loaded", "HDF5", RUN(PROVENANCE, SET),
     QZ_SHOW_TEXT, CHARS(provenance.hdf5)},
    {"curl_version", STR, NULL, "the libcurl loaded", "libcurl", RUN(PROVENANCE, SET), QZ_SHOW_TEXT,
     AT(provenance.curl)},
    {"cjson_version", STR, NULL, "the cJSON loaded", "cJSON", RUN(PROVENANCE, SET), QZ_SHOW_TEXT,
     AT(provenance.cjson)},
    {"glibc_version", STR, NULL, "the C library loaded (glibc)", "glibc", RUN(PROVENANCE, SET),
     QZ_SHOW_TEXT, AT(provenance.glibc)},
    {"draw_kernel", STR, NULL, "the draw kernels that ran: \"avx512\", \"avx2\" or \"portable\"",
     "draw kernel", RUN(PROVENANCE, SET), QZ_SHOW_TEXT, AT(provenance.draw_kernel)},
    {"job_sha256", STR, NULL, "SHA-256 of the job file", "job SHA-256", RUN(PROVENANCE, SET),
     QZ_SHOW_TEXT, CHARS(provenance.job_sha256)},
    {"tasks_sha256", STR, NULL, "SHA-256 of the tasks file", "tasks SHA-256", RUN(PROVENANCE, SET),
     QZ_SHOW_TEXT, CHARS(provenance.tasks_sha256)},
    {"generator_sha256", STR, NULL,
     "SHA-256 of the generator's plugin library or program (command[0] as found on PATH)",
     "generator SHA-256", RUN(PROVENANCE, SET), QZ_SHOW_TEXT, CHARS(provenance.generator_sha256)},
    {"utility_sha256", STR, NULL, "SHA-256 of the utility scorer's plugin library or program",
     "utility SHA-256", RUN(PROVENANCE, SET), QZ_SHOW_TEXT, CHARS(provenance.utility_sha256)},
    {"cost_sha256", STR, NULL, "SHA-256 of the cost scorer's plugin library or program",
     "cost SHA-256", RUN(PROVENANCE, SET), QZ_SHOW_TEXT, CHARS(provenance.cost_sha256)},

    {"job", STR, NULL, "the job as JSON, secrets removed", "job", RUN(JOB, ALWAYS), QZ_SHOW_JOB,
     AT(job_json)},
};

const size_t qz_record_nfields = sizeof qz_record_fields / sizeof qz_record_fields[0];

const struct qz_field *qz_field_find(enum qz_field_group group, const char *name)
{
    for (size_t i = 0; i < qz_record_nfields; i++)
        if (qz_record_fields[i].group == group && strcmp(qz_record_fields[i].name, name) == 0)
            return &qz_record_fields[i];
    return NULL;
}

const char *qz_field_value(const struct qz_field *f, const struct qz_record *rec, void *out)
{
    const char *at = (const char *)rec + f->offset;
    const char *s = NULL;

    if (f->get) {
        f->get(rec, f->type == QZ_FIELD_STR ? (void *)&s : out);
        return s;
    }
    switch (f->type) {
    case QZ_FIELD_U64:
        memcpy(out, at, sizeof(uint64_t));
        break;
    case QZ_FIELD_F64:
        memcpy(out, at, sizeof(double));
        break;
    case QZ_FIELD_I32:
        memcpy(out, at, sizeof(int));
        break;
    case QZ_FIELD_STR:
        if (f->inline_chars)
            return at;
        memcpy(&s, at, sizeof s);
        break;
    }
    return s;
}

/* A QZ_WHEN_SET value is set: a string not NULL (inline: not empty), a number not 0. */
static int is_set(const struct qz_field *f, const struct qz_record *rec)
{
    union {
        uint64_t u;
        double d;
        int i;
    } v;
    const char *s = qz_field_value(f, rec, &v);

    switch (f->type) {
    case QZ_FIELD_U64:
        return v.u != 0;
    case QZ_FIELD_F64:
        return v.d != 0;
    case QZ_FIELD_I32:
        return v.i != 0;
    case QZ_FIELD_STR:
        break;
    }
    return s && (!f->inline_chars || s[0]);
}

int qz_field_present(const struct qz_field *f, const struct qz_record *rec)
{
    switch (f->when) {
    case QZ_WHEN_ALWAYS:
        return 1;
    case QZ_WHEN_COST:
        return rec->has_cost != 0;
    case QZ_WHEN_STATS:
        return rec->has_stats != 0;
    case QZ_WHEN_REPORT:
        return rec->has_report != 0;
    case QZ_WHEN_LOGPROBS:
        return rec->text && rec->has_logprobs;
    case QZ_WHEN_SET:
        return is_set(f, rec);
    case QZ_WHEN_PRICE:
        return rec->has_report && rec->has_stats && rec->report.has_price;
    case QZ_WHEN_COMMIT:
        break;
    }
    return 0;
}

const char *qz_field_section_name(enum qz_field_section s)
{
    switch (s) {
    case QZ_SECTION_RUN:
        return "run";
    case QZ_SECTION_SAFETY:
        return "safety";
    case QZ_SECTION_SELECTED:
        return "selected";
    case QZ_SECTION_TIMING:
        return "timing";
    case QZ_SECTION_CHECKPOINT:
        return "checkpoints";
    case QZ_SECTION_GENERATOR:
        return "generator";
    case QZ_SECTION_SOURCE:
        return "source";
    case QZ_SECTION_PROVENANCE:
        return "provenance";
    case QZ_SECTION_JOB:
        return "job";
    case QZ_SECTIONS:
        break;
    }
    return "?";
}
