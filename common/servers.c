#include "servers.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define LATENCY_WEIGHT 0.2 /* of the newest answer in the moving average */
#define NEVER 1e300

void qz_pool_init(struct qz_pool *p)
{
    memset(p, 0, sizeof *p);
}

int qz_pool_add(struct qz_pool *p, const char *url)
{
    struct qz_server *s;

    if (p->n >= QZ_POOL_MAX)
        return -1;
    for (size_t i = 0; i < p->n; i++)
        if (strncmp(p->s[i].url, url, QZ_POOL_URL_MAX - 1) == 0)
            return -1;
    s = &p->s[p->n];
    memset(s, 0, sizeof *s);
    snprintf(s->url, sizeof s->url, "%s", url);
    return (int)p->n++;
}

int qz_pool_pick(const struct qz_pool *p, double now)
{
    double sum = 0, unknown, best_load = NEVER;
    size_t measured = 0;
    int best = -1;

    for (size_t i = 0; i < p->n; i++) {
        const struct qz_server *s = &p->s[i];
        if (s->aside && !s->probing && s->probe_at <= now)
            return (int)i;
        if (s->latency > 0) {
            sum += s->latency;
            measured++;
        }
    }
    unknown = measured ? sum / (double)measured : 1.0;
    for (size_t i = 0; i < p->n; i++) {
        const struct qz_server *s = &p->s[i];
        double load = (s->in_flight + 1.0) * (s->latency > 0 ? s->latency : unknown);
        if (!s->aside && load < best_load) {
            best_load = load;
            best = (int)i;
        }
    }
    return best;
}

void qz_pool_start(struct qz_pool *p, int i)
{
    struct qz_server *s = &p->s[i];
    s->in_flight++;
    if (s->aside)
        s->probing = 1;
}

static void ended(struct qz_server *s)
{
    if (s->in_flight)
        s->in_flight--;
}

/* A probe of server s (aside) ended without an answer: the next one waits longer. */
static void probe_failed(struct qz_server *s, double now)
{
    s->probing = 0;
    s->probes++;
    s->probe_at =
        now + fmin(QZ_POOL_PROBE_MAX, ldexp(QZ_POOL_PROBE_FIRST, (int)fmin(s->probes, 30)));
}

int qz_pool_answered(struct qz_pool *p, int i, double seconds)
{
    struct qz_server *s = &p->s[i];
    int was_aside = s->aside;

    ended(s);
    s->fails = 0;
    s->aside = s->probing = 0;
    s->probes = 0;
    if (seconds > 0 && isfinite(seconds))
        s->latency =
            s->latency > 0 ? (1 - LATENCY_WEIGHT) * s->latency + LATENCY_WEIGHT * seconds : seconds;
    return was_aside;
}

void qz_pool_unreachable(struct qz_pool *p, int i, double now)
{
    struct qz_server *s = &p->s[i];

    ended(s);
    s->failures++;
    s->fails++;
    if (s->aside) {
        /* a probe failed (or an attempt that started before it was set aside) */
        if (s->probing)
            probe_failed(s, now);
    } else if (s->fails >= QZ_POOL_FAIL_LIMIT) {
        s->aside = 1;
        s->probing = 0;
        s->probes = 0;
        s->probe_at = now + QZ_POOL_PROBE_FIRST;
    }
}

void qz_pool_failed(struct qz_pool *p, int i, double now)
{
    struct qz_server *s = &p->s[i];
    ended(s);
    s->failures++;
    if (s->aside && s->probing)
        probe_failed(s, now); /* no answer: it stays aside */
}

int qz_pool_all_aside(const struct qz_pool *p)
{
    for (size_t i = 0; i < p->n; i++)
        if (!p->s[i].aside)
            return 0;
    return p->n > 0;
}

double qz_pool_next_probe(const struct qz_pool *p)
{
    double t = NEVER;
    for (size_t i = 0; i < p->n; i++)
        if (p->s[i].aside && !p->s[i].probing && p->s[i].probe_at < t)
            t = p->s[i].probe_at;
    return t;
}
