/* quantilize plugin ABI, version 1: generators and scorers in a shared library.
 *
 * This header is all a plugin needs (it includes nothing of quantilize). A plugin is
 * a shared library that exports one function,
 *
 *     const struct qz_plugin *qz_plugin_entry(void);
 *
 * returning a pointer to a static description: the ABI version it was built for
 * (always QZ_PLUGIN_ABI_VERSION), its name, and a generator, a scorer, or both. A job
 * uses it with
 *
 *     "generator": {"kind": "plugin", "path": "/abs/path/libmine.so", "config": {...}}
 *     "utility":   {"kind": "plugin", "path": "/abs/path/libmine.so", "config": {...}}
 *
 * (likewise "cost"). quantilize loads the library with dlopen(RTLD_NOW | RTLD_LOCAL)
 * when it reads the job, on every MPI rank, and refuses it (a job error, exit status 2)
 * when the symbol is missing, the ABI version differs, or the callbacks the job needs
 * are absent. Each use opens its own instance: `open` gets the job's "config" object
 * as compact JSON text ("{}" when absent) and may reject it with a message, which
 * quantilize reports as `job.json: generator.config: plugin "NAME" rejected its
 * config: MESSAGE` (exit status 2).
 *
 * Rules for plugin authors:
 * - Reproducibility: a generator's sample i must depend only on (seed, i), never on
 *   which draw call, batch or rank produces it. Then a run gives the same record on
 *   any number of ranks. Scorers must score a sample the same wherever it is scored.
 * - Callbacks return 0 on success. On failure they return nonzero and write a short
 *   NUL-terminated message into errbuf (errlen bytes, at least 256); the run then
 *   stops with that message (exit status 1; 2 for a rejected config).
 * - A single instance is used by one thread at a time; different instances may be
 *   used concurrently. Keep state in the instance, not in globals.
 * - Do not print to stdout (it is quantilize's); stderr is fine.
 * - Build with -fPIC -shared and export qz_plugin_entry (QZ_PLUGIN_EXPORT does).
 *
 * - A long draw or score call should look at the host's stop_requested (below) now
 *   and then, and return early once it is nonzero, so that a stop request (Slurm's
 *   warning before the time limit) is honoured within seconds.
 *
 * A change that would break a plugin already built takes a new version number: a
 * plugin built for version 1 is refused by a quantilize that needs another, with a
 * message naming both. Additions a built plugin cannot notice (the optional host
 * symbol below) keep the number. */
#ifndef QZ_PLUGIN_H
#define QZ_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QZ_PLUGIN_ABI_VERSION 1
#define QZ_PLUGIN_ENTRY_SYMBOL "qz_plugin_entry"

#if defined(__GNUC__)
#define QZ_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define QZ_PLUGIN_EXPORT
#endif

/* Where a text generator puts its samples during one draw call. */
struct qz_plugin_sink {
    void *ctx; /* pass it back to the functions below */
    /* Set sample j's text (0 <= j < count of the draw) to a copy of text[0..len),
     * UTF-8. Marks the sample as valid (values[j] = 0). Returns 0, or nonzero when out
     * of memory: then return nonzero from draw. */
    int (*emit_text)(void *ctx, size_t j, const char *text, size_t len);
    /* Optional extras of sample j: the sum of its tokens' log-probabilities and the
     * number of tokens (for the logprob_mean and logprob_sum scorers). */
    void (*emit_logprobs)(void *ctx, size_t j, double logprob_sum, uint32_t tokens);
};

struct qz_plugin_generator {
    /* Open an instance that draws with the job's `seed`. config_json: the job's
     * "config" object. *state: anything; it is passed to draw and close. */
    int (*open)(const char *config_json, uint64_t seed, void **state, char *errbuf, size_t errlen);
    /* Draw samples first .. first+count-1; sample first+j goes to position j.
     * values[0..count) starts filled with NaN, which marks a failed (invalid) sample.
     * Numeric generators store each sample in values[j]. Text generators call
     * sink->emit_text for each sample that succeeded and leave failed ones alone. */
    int (*draw)(void *state, uint64_t first, size_t count, double *values,
                const struct qz_plugin_sink *sink, char *errbuf, size_t errlen);
    /* Release the instance. May be NULL. */
    void (*close)(void *state);
    /* 1 if this instance draws text, 0 for numbers. May be NULL: numbers. */
    int (*produces_text)(void *state);
};

struct qz_plugin_scorer {
    /* Open an instance; config_json as for generators. */
    int (*open)(const char *config_json, void **state, char *errbuf, size_t errlen);
    /* Score `count` valid samples into out[0..count) (NaN or a failure to score marks a
     * sample invalid). Text samples: texts[j] is sample j's UTF-8 text, lens[j] bytes,
     * also NUL-terminated; values[j] is 0. Numeric samples: texts and lens are NULL and
     * values[j] is the sample. Failed samples are never passed. */
    int (*score)(void *state, size_t count, const char *const *texts, const size_t *lens,
                 const double *values, double *out, char *errbuf, size_t errlen);
    /* Release the instance. May be NULL. */
    void (*close)(void *state);
};

struct qz_plugin {
    int abi_version;  /* QZ_PLUGIN_ABI_VERSION of the header the plugin was built with */
    const char *name; /* for messages, e.g. "example" */
    const struct qz_plugin_generator *generator; /* NULL when it has no generator */
    const struct qz_plugin_scorer *scorer;       /* NULL when it has no scorer */
};

/* The one symbol a plugin exports. Must return the same pointer every time. */
QZ_PLUGIN_EXPORT const struct qz_plugin *qz_plugin_entry(void);

/* What quantilize offers a plugin: optional. A plugin that wants it defines (once, in
 * one of its files)
 *
 *     QZ_PLUGIN_EXPORT const struct qz_plugin_host *qz_plugin_host;
 *
 * and quantilize sets it when it loads the library, before any open. It stays NULL
 * under a quantilize that does not offer it (before 2026-12), so check it. */
struct qz_plugin_host {
    /* Nonzero once the run has been asked to stop (SIGUSR1 or SIGTERM). A draw or
     * score call may then return nonzero at once (any message): its samples are not
     * kept, and the run checkpoints what its ranks finished before the call, exits
     * with status 75 and draws them again when it resumes. Cheap: call it between
     * samples. Safe from any thread. */
    int (*stop_requested)(void);
};
#define QZ_PLUGIN_HOST_SYMBOL "qz_plugin_host"

#ifdef __cplusplus
}
#endif

#endif
