/* Co-processes (coproc.c) and the exec backends with system programs only (cat,
 * sleep, true, sh): a line round trip, a timeout, a child that dies at once (SIGPIPE
 * must not kill us), a program that does not exist, a restart that succeeds, closing a
 * child that ignores end of file; the exec generator's and scorer's protocol messages
 * and the exact round trip of numbers and escaped texts, through `cat`. The programs
 * and plugins end to end: tests/exec/exec.sh. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "coproc.h"
#include "job.h"

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct lines {
    char got[4][256];
    size_t n;
};

static enum qz_status keep_line(void *ctx, size_t k, const char *line, size_t len,
                                struct qz_error *err)
{
    struct lines *l = ctx;
    (void)err;
    if (k < 4)
        snprintf(l->got[k], sizeof l->got[k], "%.*s", (int)len, line);
    l->n = k + 1;
    return QZ_OK;
}

static void test_round_trip(void)
{
    const char *const argv[] = {"cat", NULL};
    struct qz_coproc *cp;
    struct qz_error err = {QZ_OK, ""};
    struct lines l = {{""}, 0};
    enum qz_status rc = qz_coproc_open(&cp, argv, "echo", 5, 0, &err);

    CHECK(rc == QZ_OK, "open cat: %s", err.msg);
    if (rc)
        return;
    rc = qz_coproc_request(cp, "{\"a\": 1}", 8, 1, keep_line, &l, &err);
    CHECK(rc == QZ_OK && l.n == 1 && strcmp(l.got[0], "{\"a\": 1}") == 0, "cat: %s / %s", err.msg,
          l.got[0]);
    rc = qz_coproc_request(cp, "second\r", 7, 1, keep_line, &l, &err);
    CHECK(rc == QZ_OK && strcmp(l.got[0], "second") == 0, "a trailing CR is dropped: %s", l.got[0]);
    CHECK(qz_coproc_restarts(cp) == 0, "no restarts");
    qz_coproc_close(cp);
}

static void test_timeout(void)
{
    const char *const argv[] = {"sleep", "30", NULL};
    struct qz_coproc *cp;
    struct qz_error err = {QZ_OK, ""};
    struct lines l = {{""}, 0};
    double t0 = seconds();
    enum qz_status rc = qz_coproc_open(&cp, argv, "sleeper", 0.2, 0, &err);

    CHECK(rc == QZ_OK, "open sleep: %s", err.msg);
    if (rc)
        return;
    rc = qz_coproc_request(cp, "x", 1, 1, keep_line, &l, &err);
    CHECK(rc == QZ_EIO, "timeout: status %d", (int)rc);
    CHECK(strcmp(err.msg, "sleeper: the program did not answer within 0.2 s (killed it)") == 0,
          "timeout message: %s", err.msg);
    CHECK(seconds() - t0 < 3, "timeout took %.1f s", seconds() - t0);
    qz_coproc_close(cp);
}

static void test_dies_at_once(void)
{
    const char *const argv[] = {"true", NULL};
    const size_t big = (size_t)4 << 20;
    struct qz_coproc *cp;
    struct qz_error err = {QZ_OK, ""};
    struct lines l = {{""}, 0};
    struct sigaction sa;
    sigset_t mask;
    char *req = malloc(big);
    enum qz_status rc = qz_coproc_open(&cp, argv, "quick", 5, 1, &err);

    CHECK(rc == QZ_OK && req, "open true: %s", err.msg);
    if (rc || !req) {
        free(req);
        return;
    }
    memset(req, 'x', big);
    nanosleep(&(struct timespec){0, 100000000L}, NULL); /* let it exit: the write meets EPIPE */
    rc = qz_coproc_request(cp, req, big, 1, keep_line, &l, &err);
    CHECK(rc == QZ_EIO, "dead child: status %d", (int)rc);
    CHECK(strcmp(err.msg, "quick: the program exited with status 0, after 1 restart") == 0,
          "dead child message: %s", err.msg);
    CHECK(qz_coproc_restarts(cp) == 1, "one restart, got %u", qz_coproc_restarts(cp));
    sigaction(SIGPIPE, NULL, &sa);
    CHECK(sa.sa_handler == SIG_DFL, "SIGPIPE's disposition is left alone");
    pthread_sigmask(SIG_BLOCK, NULL, &mask);
    CHECK(!sigismember(&mask, SIGPIPE), "SIGPIPE is not left blocked");
    qz_coproc_close(cp);
    free(req);
}

static void test_not_found(void)
{
    const char *const argv[] = {"/nonexistent/qz-prog", "arg", NULL};
    struct qz_coproc *cp;
    struct qz_error err = {QZ_OK, ""};
    enum qz_status rc = qz_coproc_open(&cp, argv, "missing", 5, 1, &err);

    CHECK(rc == QZ_EIO && cp == NULL, "missing program: status %d", (int)rc);
    CHECK(strcmp(err.msg, "cannot run \"/nonexistent/qz-prog\": No such file or directory") == 0,
          "missing program message: %s", err.msg);
}

static void test_restart(void)
{
    char marker[] = "/tmp/qz-test-exec-XXXXXX", script[512];
    const char *argv[] = {"sh", "-c", script, NULL};
    struct qz_coproc *cp;
    struct qz_error err = {QZ_OK, ""};
    struct lines l = {{""}, 0};
    int fd = mkstemp(marker);
    enum qz_status rc;

    CHECK(fd >= 0, "mkstemp");
    if (fd < 0)
        return;
    close(fd);
    unlink(marker);
    /* The first run creates the marker and dies; the second echoes. */
    snprintf(script, sizeof script, "if [ -e %s ]; then exec cat; else : > %s; exit 3; fi", marker,
             marker);
    rc = qz_coproc_open(&cp, argv, "once", 5, 1, &err);
    CHECK(rc == QZ_OK, "open sh: %s", err.msg);
    if (rc)
        return;
    rc = qz_coproc_request(cp, "hello", 5, 1, keep_line, &l, &err);
    CHECK(rc == QZ_OK && strcmp(l.got[0], "hello") == 0, "restarted: %s / %s", err.msg, l.got[0]);
    CHECK(qz_coproc_restarts(cp) == 1, "one restart, got %u", qz_coproc_restarts(cp));
    qz_coproc_close(cp);
    unlink(marker);
}

static void test_close_stubborn(void)
{
    const char *const argv[] = {"sleep", "30", NULL};
    struct qz_coproc *cp;
    struct qz_error err = {QZ_OK, ""};
    double t0;

    if (qz_coproc_open(&cp, argv, "stubborn", 5, 0, &err)) {
        CHECK(0, "open sleep: %s", err.msg);
        return;
    }
    t0 = seconds();
    qz_coproc_close(cp); /* sleep ignores end of file: SIGTERM after the grace period */
    CHECK(seconds() - t0 < 5, "close took %.1f s", seconds() - t0);
}

static void test_argv_text(void)
{
    const char *const argv[] = {"python3", "scorer.py", "--x", NULL};
    char long_arg[300];
    const char *const argv2[] = {"prog", long_arg, NULL};
    char *s = qz_coproc_argv_text(argv), *t;

    CHECK(s && strcmp(s, "\"python3 scorer.py --x\"") == 0, "argv text: %s", s ? s : "NULL");
    memset(long_arg, 'a', sizeof long_arg - 1);
    long_arg[sizeof long_arg - 1] = '\0';
    t = qz_coproc_argv_text(argv2);
    CHECK(t && strlen(t) == 204 && strcmp(t + 200, "...\"") == 0, "shortened: %s", t ? t : "NULL");
    free(s);
    free(t);
}

#define JOB_HEAD "{\"name\": \"a\", \"seed\": 3, \"q\": 0.5, \"samples\": 10, "

/* The exec generator through `cat`: the request comes back, which is no sample. */
static void test_gen_protocol(void)
{
    struct qz_job job;
    struct qz_error err = {QZ_OK, ""};
    struct qz_batch b;
    enum qz_status rc = qz_job_parse(JOB_HEAD "\"generator\": {\"kind\": \"exec\", \"command\": "
                                              "[\"cat\"], \"text\": false}}",
                                     "job.json", &job, &err);
    CHECK(rc == QZ_OK, "exec job: %s", err.msg);
    if (rc)
        return;
    if (qz_batch_init(&b, 4, &err) == QZ_OK) {
        rc = job.gen.ops->draw(job.gen.state, 0, 1, &b, &err);
        CHECK(rc == QZ_EIO, "echoed request: status %d", (int)rc);
        CHECK(strcmp(err.msg, "generator command \"cat\": answer line 1 to {\"first\": 0, "
                              "\"count\": 1, \"seed\": 3}: expected \"index\": 0: {\"first\": 0, "
                              "\"count\": 1, \"seed\": 3}") == 0,
              "message: %s", err.msg);
        qz_batch_free(&b);
    }
    qz_job_free(&job);
}

/* The exec scorer through `cat` with field "values": scores are the values themselves,
 * bit for bit; failed samples are not sent and score NaN. */
static void test_score_values(void)
{
    static const double v[] = {0.1,      -0.0,      1e-300, 1.7976931348623157e308,
                               INFINITY, -INFINITY, NAN,    3};
    const size_t n = sizeof v / sizeof *v;
    struct qz_job job;
    struct qz_error err = {QZ_OK, ""};
    struct qz_batch b;
    double out[8];
    enum qz_status rc =
        qz_job_parse(JOB_HEAD "\"generator\": {\"kind\": \"normal\"}, \"utility\": {\"kind\": "
                              "\"exec\", \"command\": [\"cat\"], \"field\": \"values\", "
                              "\"batch\": 3}}",
                     "job.json", &job, &err);
    CHECK(rc == QZ_OK, "exec scorer job: %s", err.msg);
    if (rc)
        return;
    if (qz_batch_init(&b, n, &err) == QZ_OK) {
        b.first = 0;
        b.n = n;
        memcpy(b.value, v, sizeof v);
        rc = job.utility.ops->score(job.utility.state, &b, out, &err);
        CHECK(rc == QZ_OK, "score: %s", err.msg);
        for (size_t j = 0; j < n && rc == QZ_OK; j++)
            CHECK(isnan(v[j]) ? isnan(out[j]) : memcmp(&out[j], &v[j], sizeof v[j]) == 0,
                  "value %zu: sent %.17g, got %.17g", j, v[j], out[j]);
        qz_batch_free(&b);
    }
    qz_job_free(&job);
}

/* Texts are escaped (quotes, backslashes, control characters) and invalid UTF-8 is
 * replaced: `cat` echoes the request, whose "texts" are no scores. */
static void test_score_texts(void)
{
    static const char t0[] = "a\"b\\c\x01\n\xff\xc3\xa9";
    struct qz_job job;
    struct qz_error err = {QZ_OK, ""};
    struct qz_batch b;
    double out[2];
    enum qz_status rc =
        qz_job_parse(JOB_HEAD "\"generator\": {\"kind\": \"normal\"}, \"utility\": {\"kind\": "
                              "\"exec\", \"command\": [\"cat\"], \"field\": \"texts\"}}",
                     "job.json", &job, &err);
    CHECK(rc == QZ_OK, "exec scorer job: %s", err.msg);
    if (rc)
        return;
    if (qz_batch_init(&b, 2, &err) == QZ_OK) {
        b.first = 0;
        b.n = 2;
        qz_batch_clear_text(&b);
        b.value[0] = b.value[1] = 0;
        qz_batch_put_text(&b, 0, t0, sizeof t0 - 1, &err);
        qz_batch_put_text(&b, 1, "", 0, &err);
        rc = job.utility.ops->score(job.utility.state, &b, out, &err);
        CHECK(rc == QZ_EIO, "texts as scores: status %d", (int)rc);
        CHECK(strcmp(err.msg, "utility command \"cat\": the answer to a batch of 2 has a score 0 "
                              "that is neither a number nor null: {\"texts\": "
                              "[\"a\\\"b\\\\c\\u0001\\u000a\xef\xbf\xbd"
                              "\xc3\xa9\", \"\"]}") == 0,
              "message: %s", err.msg);
        qz_batch_free(&b);
    }
    qz_job_free(&job);
}

static const struct {
    const char *text;
    const char *message;
} bad[] = {
    {JOB_HEAD "\"generator\": {\"kind\": \"exec\"}}", "job.json: generator.command: is required"},
    {JOB_HEAD "\"generator\": {\"kind\": \"exec\", \"command\": [\"\"]}}",
     "job.json: generator.command[0]: must be the program to run (a non-empty string), got \"\""},
    {JOB_HEAD "\"generator\": {\"kind\": \"exec\", \"command\": \"cat\"}}",
     "job.json: generator.command: must be an array of 1 to 1024 strings: the program and its "
     "arguments, got \"cat\""},
    {JOB_HEAD "\"generator\": {\"kind\": \"exec\", \"command\": [\"cat\"], \"text\": 1}}",
     "job.json: generator.text: must be true or false, got 1"},
    {JOB_HEAD "\"generator\": {\"kind\": \"normal\"}, \"utility\": {\"kind\": \"exec\", "
              "\"command\": [\"cat\"], \"field\": \"\"}}",
     "job.json: utility.field: must be a non-empty string, got \"\""},
    {JOB_HEAD "\"generator\": {\"kind\": \"exec\", \"command\": [\"/nonexistent/qz\"]}}",
     "job.json: generator.command: cannot run \"/nonexistent/qz\": No such file or directory, "
     "got [\"/nonexistent/qz\"]"},
    {JOB_HEAD "\"generator\": {\"kind\": \"plugin\"}}", "job.json: generator.path: is required"},
    {JOB_HEAD "\"generator\": {\"kind\": \"plugin\", \"path\": \"/x.so\", \"config\": 3}}",
     "job.json: generator.config: must be a JSON object, got 3"},
    {JOB_HEAD "\"generator\": {\"kind\": \"plugin\", \"path\": \"/nonexistent/x.so\"}}",
     "job.json: generator.path: cannot load plugin: /nonexistent/x.so: cannot open shared object "
     "file: No such file or directory"},
    {JOB_HEAD "\"generator\": {\"kind\": \"normal\"}, \"cost\": {\"kind\": \"plugin\", "
              "\"path\": \"/x.so\", \"conf\": {}}}",
     "job.json: cost.conf: unknown field (expected one of: kind, path, config)"},
};

int main(void)
{
    test_round_trip();
    test_timeout();
    test_dies_at_once();
    test_not_found();
    test_restart();
    test_close_stubborn();
    test_argv_text();
    test_gen_protocol();
    test_score_values();
    test_score_texts();
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct qz_job job;
        struct qz_error err = {QZ_OK, ""};
        enum qz_status rc = qz_job_parse(bad[i].text, "job.json", &job, &err);
        CHECK(rc == QZ_EJOB, "bad job %zu: status %d", i, (int)rc);
        CHECK(strcmp(err.msg, bad[i].message) == 0, "bad job %zu:\n  got  %s\n  want %s", i,
              err.msg, bad[i].message);
        if (rc == QZ_OK)
            qz_job_free(&job);
    }
    return check_done("test_exec");
}
