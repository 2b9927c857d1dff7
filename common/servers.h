/* The servers of one HTTP client (a generator's base_url list): which one takes the
 * next request, which are set aside, when one is probed back. Pure logic: the caller
 * passes the time (monotonic seconds); no I/O, no allocation. Local.
 *
 * - Least load: a request goes to the server with the lowest (in flight + 1) x its
 *   measured seconds per answer (a moving average; servers not yet measured count the
 *   mean of those that are, or 1 when none is); ties go to the lowest index.
 * - Set aside: QZ_POOL_FAIL_LIMIT connection failures in a row (no answer in between)
 *   set a server aside. It takes no requests, except one probe at a time: the first
 *   probe may go QZ_POOL_PROBE_FIRST seconds after it was set aside, and each failed
 *   probe doubles the wait (at most QZ_POOL_PROBE_MAX). Any HTTP answer (even an
 *   error status) brings a server back.
 * - Outage: every server set aside (qz_pool_all_aside). */
#ifndef QZ_SERVERS_H
#define QZ_SERVERS_H

#include <stddef.h>
#include <stdint.h>

#define QZ_POOL_MAX 64       /* servers of one client */
#define QZ_POOL_URL_MAX 256  /* bytes of a base URL, NUL included */
#define QZ_POOL_FAIL_LIMIT 3 /* connection failures in a row that set a server aside */
#define QZ_POOL_PROBE_FIRST 0.25
#define QZ_POOL_PROBE_MAX 8.0

struct qz_server {
    char url[QZ_POOL_URL_MAX]; /* the base URL */
    unsigned in_flight;        /* attempts running on it */
    unsigned fails;            /* connection failures since its last answer */
    int aside;                 /* set aside */
    int probing;               /* aside, and a probe is running */
    double probe_at;           /* aside: when the next probe may start */
    unsigned probes;           /* aside: failed probes (the backoff exponent) */
    double latency;            /* moving average of seconds per answer; 0: unmeasured */
    uint64_t requests;         /* attempts that reached the wire */
    uint64_t failures;         /* failed attempts (any reason) */
};

struct qz_pool {
    size_t n;
    struct qz_server s[QZ_POOL_MAX];
};

/* An empty pool. */
void qz_pool_init(struct qz_pool *p);

/* Add server `url` (cut to QZ_POOL_URL_MAX - 1 bytes); its index, or -1 when the pool
 * is full or url is already in it. */
int qz_pool_add(struct qz_pool *p, const char *url);

/* The server that takes the next attempt at time `now`: a server aside whose probe is
 * due (the probe), else the least loaded server not aside; -1 when none may take one
 * now (all aside, none due). */
int qz_pool_pick(const struct qz_pool *p, double now);

/* An attempt starts on server i (picked at `now`). */
void qz_pool_start(struct qz_pool *p, int i);

/* The attempt on server i ended with an HTTP answer after `seconds`: a server aside
 * is back. Returns 1 when it was aside. */
int qz_pool_answered(struct qz_pool *p, int i, double seconds);

/* The attempt on server i failed to connect at `now` (refused, no such host, ...):
 * counted; the server is set aside at QZ_POOL_FAIL_LIMIT in a row, and a failed probe
 * pushes its next probe back. */
void qz_pool_unreachable(struct qz_pool *p, int i, double now);

/* The attempt on server i failed otherwise (timeout, reset, truncated) at `now`:
 * counted; a server aside stays aside (a failed probe), one not aside stays up. */
void qz_pool_failed(struct qz_pool *p, int i, double now);

/* 1 when the pool has servers and every one is set aside. */
int qz_pool_all_aside(const struct qz_pool *p);

/* The earliest time a probe of a server aside may start (a large value when none is
 * aside or all those aside are being probed). */
double qz_pool_next_probe(const struct qz_pool *p);

#endif
