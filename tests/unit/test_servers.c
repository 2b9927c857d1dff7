/* The server pool (servers.c): which server takes a request, when one is set aside,
 * how it is probed back, and when every server is down. Pure logic: times are given. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "servers.h"

/* n attempts started on the server the pool picks at `now`; how many went to each. */
static void start_n(struct qz_pool *p, int n, double now, int *per)
{
    for (int k = 0; k < n; k++) {
        int i = qz_pool_pick(p, now);
        if (i >= 0) {
            qz_pool_start(p, i);
            per[i]++;
        }
    }
}

static void test_add(void)
{
    struct qz_pool p;
    char url[32];

    qz_pool_init(&p);
    CHECK(qz_pool_pick(&p, 0) == -1, "an empty pool picks none");
    CHECK(!qz_pool_all_aside(&p), "an empty pool has no outage");
    CHECK(qz_pool_add(&p, "http://a/v1") == 0, "first server: index 0");
    CHECK(qz_pool_add(&p, "http://b/v1") == 1, "second server: index 1");
    CHECK(qz_pool_add(&p, "http://a/v1") == -1, "a repeated server is refused");
    for (int i = 2; i < QZ_POOL_MAX; i++) {
        snprintf(url, sizeof url, "http://s%d/v1", i);
        CHECK(qz_pool_add(&p, url) == i, "server %d added", i);
    }
    CHECK(qz_pool_add(&p, "http://more/v1") == -1, "no more than QZ_POOL_MAX servers");
}

static void test_least_load(void)
{
    struct qz_pool p;
    int per[3] = {0, 0, 0};

    qz_pool_init(&p);
    qz_pool_add(&p, "http://a/v1");
    qz_pool_add(&p, "http://b/v1");
    qz_pool_add(&p, "http://c/v1");
    /* unmeasured: in flight only, so requests spread evenly */
    start_n(&p, 9, 0, per);
    CHECK(per[0] == 3 && per[1] == 3 && per[2] == 3, "9 requests over 3 idle servers: %d %d %d",
          per[0], per[1], per[2]);
    /* measured: a is 4x faster than b and c; with nothing in flight, a takes 4 requests
     * for each of b's and c's */
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 3; k++)
            qz_pool_answered(&p, i, i == 0 ? 0.1 : 0.4);
    CHECK(p.s[0].in_flight == 0 && p.s[1].in_flight == 0, "answers end the attempts");
    memset(per, 0, sizeof per);
    start_n(&p, 12, 0, per);
    CHECK(per[0] == 8 && per[1] == 2 && per[2] == 2,
          "a 4x faster server takes 4x the requests: %d %d %d", per[0], per[1], per[2]);
}

static void test_aside_and_back(void)
{
    struct qz_pool p;
    int i;

    qz_pool_init(&p);
    qz_pool_add(&p, "http://a/v1");
    qz_pool_add(&p, "http://b/v1");
    /* a fails to connect QZ_POOL_FAIL_LIMIT times in a row: set aside */
    for (int k = 0; k < QZ_POOL_FAIL_LIMIT; k++) {
        qz_pool_start(&p, 0);
        CHECK(!p.s[0].aside, "not aside after %d failures", k);
        qz_pool_unreachable(&p, 0, 10.0);
    }
    CHECK(p.s[0].aside, "aside after %d connection failures in a row", QZ_POOL_FAIL_LIMIT);
    CHECK(p.s[0].failures == QZ_POOL_FAIL_LIMIT, "failures counted: %llu",
          (unsigned long long)p.s[0].failures);
    CHECK(!qz_pool_all_aside(&p), "b is up: no outage");
    /* while a is aside, everything goes to b, however loaded */
    for (int k = 0; k < 5; k++) {
        i = qz_pool_pick(&p, 10.0);
        CHECK(i == 1, "aside: b takes request %d (got %d)", k, i);
        qz_pool_start(&p, i);
    }
    /* a's probe is due QZ_POOL_PROBE_FIRST later: one request goes to a, one only */
    CHECK(fabs(qz_pool_next_probe(&p) - (10.0 + QZ_POOL_PROBE_FIRST)) < 1e-9, "first probe at %g",
          qz_pool_next_probe(&p));
    CHECK(qz_pool_pick(&p, 10.0 + QZ_POOL_PROBE_FIRST / 2) == 1, "no probe before it is due");
    i = qz_pool_pick(&p, 10.0 + QZ_POOL_PROBE_FIRST);
    CHECK(i == 0, "the probe goes to a when due (got %d)", i);
    qz_pool_start(&p, 0);
    CHECK(qz_pool_pick(&p, 11.0) == 1, "one probe at a time");
    /* the probe fails: the next waits twice as long */
    qz_pool_unreachable(&p, 0, 11.0);
    CHECK(p.s[0].aside, "a failed probe keeps it aside");
    CHECK(fabs(qz_pool_next_probe(&p) - (11.0 + 2 * QZ_POOL_PROBE_FIRST)) < 1e-9,
          "second probe at %g", qz_pool_next_probe(&p));
    /* probes back off up to QZ_POOL_PROBE_MAX */
    for (int k = 0; k < 20; k++) {
        double at = qz_pool_next_probe(&p);
        CHECK(qz_pool_pick(&p, at) == 0, "probe %d due", k);
        qz_pool_start(&p, 0);
        qz_pool_unreachable(&p, 0, at);
        CHECK(qz_pool_next_probe(&p) - at <= QZ_POOL_PROBE_MAX + 1e-9, "probe wait %g <= max",
              qz_pool_next_probe(&p) - at);
    }
    /* a probe answered (any HTTP answer): back */
    i = qz_pool_pick(&p, qz_pool_next_probe(&p));
    qz_pool_start(&p, i);
    CHECK(qz_pool_answered(&p, 0, 0.2) == 1, "the answer says a was aside");
    CHECK(!p.s[0].aside && p.s[0].fails == 0, "a is back");
    /* failures that are not connection failures never set a server aside */
    for (int k = 0; k < 10; k++) {
        qz_pool_start(&p, 1);
        qz_pool_failed(&p, 1, 20.0);
    }
    CHECK(!p.s[1].aside, "timeouts and resets do not set a server aside");
    /* an answer in between resets the count of connection failures in a row */
    for (int k = 0; k < 2 * QZ_POOL_FAIL_LIMIT; k++) {
        qz_pool_start(&p, 1);
        if (k % QZ_POOL_FAIL_LIMIT == QZ_POOL_FAIL_LIMIT - 1)
            qz_pool_answered(&p, 1, 0.1);
        else
            qz_pool_unreachable(&p, 1, 20.0);
    }
    CHECK(!p.s[1].aside, "connection failures with answers between do not set it aside");
}

static void test_all_down(void)
{
    struct qz_pool p;

    qz_pool_init(&p);
    qz_pool_add(&p, "http://a/v1");
    qz_pool_add(&p, "http://b/v1");
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < QZ_POOL_FAIL_LIMIT; k++) {
            qz_pool_start(&p, i);
            qz_pool_unreachable(&p, i, 5.0 + i);
        }
    CHECK(qz_pool_all_aside(&p), "both aside: an outage");
    CHECK(qz_pool_pick(&p, 5.1) == -1, "none may take a request before a probe is due");
    CHECK(fabs(qz_pool_next_probe(&p) - (5.0 + QZ_POOL_PROBE_FIRST)) < 1e-9,
          "the earliest probe: a's (%g)", qz_pool_next_probe(&p));
    CHECK(qz_pool_pick(&p, 5.0 + QZ_POOL_PROBE_FIRST) == 0, "a's probe");
    qz_pool_start(&p, 0);
    CHECK(qz_pool_pick(&p, 5.0 + QZ_POOL_PROBE_FIRST) == -1, "b's probe is not due yet");
    CHECK(qz_pool_pick(&p, 6.0 + QZ_POOL_PROBE_FIRST) == 1, "b's probe when due");
    qz_pool_start(&p, 1);
    qz_pool_answered(&p, 1, 0.3);
    CHECK(!qz_pool_all_aside(&p), "b answered: the outage is over");
    CHECK(qz_pool_pick(&p, 7.0) == 1, "requests go to b again");
}

int main(void)
{
    test_add();
    test_least_load();
    test_aside_and_back();
    test_all_down();
    return check_done("test_servers");
}
