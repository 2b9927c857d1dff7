/* An example quantilize plugin (common/plugin.h) with a generator and a scorer.
 *
 * Generator: sample i under seed s is u(s, i) = splitmix64(s ^ splitmix64(i)) >> 11
 * times 2^-53, a number in [0, 1) (config {"text": true}: a text of words chosen by the
 * same hash instead). Config {"fail_every": K}: every index i with i % K == K - 1
 * fails. Config {"latin1": true}: the word "café" in Latin-1 (an invalid UTF-8 byte), to
 * test the repair of texts. Scorer: numbers score 1 - v, texts their length in bytes; config
 * {"reject": true} makes open fail (to test the message).
 *
 * Both take {"slow_ms": M}: each sample then takes M milliseconds (a slow model), and a
 * call returns early once quantilize's host says a stop was requested (plugin.h), as
 * a plugin with long calls should.
 *
 * Build: cc -std=c11 -fPIC -shared -I common example_plugin.c -o libexample.so
 *
 * The config arrives as compact JSON text. A real plugin would parse it with a JSON
 * library; this one only looks for the few members it knows, and rejects any other. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugin.h"

/* Set by quantilize when it loads the library (plugin.h). */
QZ_PLUGIN_EXPORT const struct qz_plugin_host *qz_plugin_host;

struct gen {
    uint64_t seed;
    int text;
    int latin1; /* "caf\xe9" instead of "caf\xc3\xa9" */
    unsigned long fail_every;
    unsigned long slow_ms;
};

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* The member `name` of the compact JSON object text, or NULL. Good enough for the flat
 * configs of this example (no nesting, no escaped quotes in keys). */
static const char *member(const char *json, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = strchr(json, '"'); p; p = strchr(p + 1, '"'))
        if (strncmp(p + 1, name, n) == 0 && p[n + 1] == '"' && p[n + 2] == ':')
            return p + n + 3;
    return NULL;
}

/* Config "slow_ms": into *ms (0 when absent); -1 with a message when not a number. */
static int slow_option(const char *json, unsigned long *ms, char *errbuf, size_t errlen)
{
    const char *v = member(json, "slow_ms");
    char *end;
    *ms = 0;
    if (!v)
        return 0;
    *ms = strtoul(v, &end, 10);
    if (end == v || *ms > 60000) {
        snprintf(errbuf, errlen, "slow_ms must be an integer from 0 to 60000");
        return -1;
    }
    return 0;
}

/* A slow call's first line on stderr (one write), for tests to know a call is under
 * way: "example plugin: WHAT COUNT samples, M ms each". */
static void say_slow(const char *what, size_t count, unsigned long ms)
{
    char line[128];
    int n = snprintf(line, sizeof line, "example plugin: %s %zu samples, %lu ms each\n", what,
                     count, ms);
    if (n > 0 && (size_t)n < sizeof line)
        fwrite(line, 1, (size_t)n, stderr);
}

/* One sample's M milliseconds of work, or -1 (with a message) as soon as quantilize
 * asks to stop: looked at every 10 ms. */
static int slow_sample(unsigned long ms, char *errbuf, size_t errlen)
{
    for (unsigned long t = 0; t < ms; t += 10) {
        struct timespec d = {0, (long)(ms - t < 10 ? ms - t : 10) * 1000000L};
        if (qz_plugin_host && qz_plugin_host->stop_requested()) {
            snprintf(errbuf, errlen, "stopped on request");
            return -1;
        }
        nanosleep(&d, NULL);
    }
    return 0;
}

/* Every key of the flat object json is in `known`; else names the first other one. */
static int only_known(const char *json, const char *const *known, char *errbuf, size_t errlen)
{
    const char *p = json;
    while ((p = strchr(p, '"'))) {
        const char *end = strchr(p + 1, '"');
        int ok = 0;
        if (!end)
            break;
        if (end[1] == ':') {
            for (size_t k = 0; known[k]; k++)
                ok |= strlen(known[k]) == (size_t)(end - p - 1) &&
                      strncmp(p + 1, known[k], (size_t)(end - p - 1)) == 0;
            if (!ok) {
                snprintf(errbuf, errlen, "unknown option \"%.*s\"", (int)(end - p - 1), p + 1);
                return -1;
            }
        }
        p = end + 1;
    }
    return 0;
}

static int gen_open(const char *config, uint64_t seed, void **state, char *errbuf, size_t errlen)
{
    static const char *const known[] = {"text", "fail_every", "latin1", "slow_ms", NULL};
    const char *v;
    struct gen *g;

    if (only_known(config, known, errbuf, errlen))
        return -1;
    if (!(g = calloc(1, sizeof *g))) {
        snprintf(errbuf, errlen, "out of memory");
        return -1;
    }
    if (slow_option(config, &g->slow_ms, errbuf, errlen)) {
        free(g);
        return -1;
    }
    g->seed = seed;
    g->text = (v = member(config, "text")) && strncmp(v, "true", 4) == 0;
    g->latin1 = (v = member(config, "latin1")) && strncmp(v, "true", 4) == 0;
    if ((v = member(config, "fail_every"))) {
        char *end;
        g->fail_every = strtoul(v, &end, 10);
        if (end == v || g->fail_every == 0) {
            snprintf(errbuf, errlen, "fail_every must be a positive integer");
            free(g);
            return -1;
        }
    }
    *state = g;
    return 0;
}

static int gen_draw(void *state, uint64_t first, size_t count, double *values,
                    const struct qz_plugin_sink *sink, char *errbuf, size_t errlen)
{
    static const char *const words[] = {"alpha", "beta", "gamma",      "delta",
                                        "good",  "fine", "caf\xc3\xa9"};
    const struct gen *g = state;

    if (g->slow_ms)
        say_slow("drawing", count, g->slow_ms);
    for (size_t j = 0; j < count; j++) {
        uint64_t i = first + j, h = splitmix64(g->seed ^ splitmix64(i));
        char text[128];
        size_t len = 0;

        if (slow_sample(g->slow_ms, errbuf, errlen))
            return -1;
        if (g->fail_every && i % g->fail_every == g->fail_every - 1)
            continue; /* stays NaN: a failed sample */
        if (!g->text) {
            values[j] = (double)(h >> 11) * 0x1p-53;
            continue;
        }
        for (unsigned w = 0; w < 1 + (h & 3); w++) {
            const char *word = words[(h >> (8 + 4 * w)) % 7];
            if (g->latin1 && word == words[6])
                word = "caf\xe9";
            int n = snprintf(text + len, sizeof text - len, "%s%s", w ? " " : "", word);
            len += (size_t)n;
        }
        if (sink->emit_text(sink->ctx, j, text, len)) {
            snprintf(errbuf, errlen, "cannot store sample %llu", (unsigned long long)i);
            return -1;
        }
        sink->emit_logprobs(sink->ctx, j, -(double)len, 1 + (uint32_t)(h & 3));
    }
    return 0;
}

static void gen_close(void *state)
{
    free(state);
}

static int gen_produces_text(void *state)
{
    return ((const struct gen *)state)->text;
}

static int score_open(const char *config, void **state, char *errbuf, size_t errlen)
{
    static const char *const known[] = {"reject", "slow_ms", NULL};
    const char *v;
    unsigned long *ms;

    if (only_known(config, known, errbuf, errlen))
        return -1;
    if ((v = member(config, "reject")) && strncmp(v, "true", 4) == 0) {
        snprintf(errbuf, errlen, "rejected on purpose");
        return -1;
    }
    if (!(ms = malloc(sizeof *ms))) {
        snprintf(errbuf, errlen, "out of memory");
        return -1;
    }
    if (slow_option(config, ms, errbuf, errlen)) {
        free(ms);
        return -1;
    }
    *state = ms;
    return 0;
}

static int score(void *state, size_t count, const char *const *texts, const size_t *lens,
                 const double *values, double *out, char *errbuf, size_t errlen)
{
    const unsigned long *ms = state;
    if (*ms)
        say_slow("scoring", count, *ms);
    for (size_t j = 0; j < count; j++) {
        if (slow_sample(*ms, errbuf, errlen))
            return -1;
        out[j] =
            texts ? (double)lens[j] + (strlen(texts[j]) == lens[j] ? 0 : NAN) : 1.0 - values[j];
    }
    return 0;
}

static void score_close(void *state)
{
    free(state);
}

static const struct qz_plugin_generator generator = {gen_open, gen_draw, gen_close,
                                                     gen_produces_text};
static const struct qz_plugin_scorer scorer = {score_open, score, score_close};
static const struct qz_plugin plugin = {QZ_PLUGIN_ABI_VERSION, "example", &generator, &scorer};

const struct qz_plugin *qz_plugin_entry(void)
{
    return &plugin;
}
