/* The HTTP layer stops promptly on a stop request (SIGUSR1): qz_http_run and
 * qz_http_probe, busy with a server that accepted the connection and never answers,
 * return QZ_ESTOPPED soon after the signal, long before their 30 s timeout.
 *
 * Each case runs in a child process of its own (a stop request cannot be taken back);
 * a grandchild sends the signal 0.3 s after the request started. */
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "http.h"
#include "interrupt.h"

/* The wait allowed from the signal to the return: 0.2 s promised, 1 s allowed for a
 * machine loaded several times over. */
#define ALLOWED_SECONDS 1.0

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A socket listening on 127.0.0.1 that never accepts: connections complete (the
 * kernel's backlog) and then nothing answers. Its port in *port. */
static int silent_server(int *port)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 64) ||
        getsockname(fd, (struct sockaddr *)&a, &len))
        return -1;
    *port = ntohs(a.sin_port);
    return fd;
}

static void on_give_up(void *ctx, void *tag, const char *why)
{
    (void)ctx, (void)tag, (void)why;
}

static enum qz_http_verdict on_answer(void *ctx, void *tag, const struct qz_http_result *res,
                                      struct qz_error *err)
{
    (void)ctx, (void)tag, (void)res, (void)err;
    return QZ_HTTP_ACCEPT;
}

/* In a child: signal the parent after 0.3 s; returns the time the signal goes. */
static double signal_later(void)
{
    pid_t parent = getpid();
    if (fork() == 0) {
        struct timespec d = {0, 300000000};
        nanosleep(&d, NULL);
        kill(parent, SIGUSR1);
        _exit(0);
    }
    return now() + 0.3;
}

/* One case in a child process: 0 when it passed. */
static int run_case(int probe, const char *url)
{
    struct qz_http_config cfg = {.who = "test",
                                 .concurrency = 4,
                                 .timeout_seconds = 30,
                                 .connect_timeout_seconds = 30,
                                 .retries = 3,
                                 .backoff_seconds = 0.01,
                                 .backoff_max_seconds = 1};
    struct qz_http_handler h = {on_answer, on_give_up};
    struct qz_http_client *c;
    struct qz_error err;
    enum qz_status rc;
    double sent, took;
    char why[256];

    if (qz_interrupt_install(&err) || qz_http_open(&c, &cfg, &err))
        return 2;
    for (int i = 0; i < 8 && !probe; i++)
        if (qz_http_submit(c, "POST", url, "{}", 2, &i, sizeof i, &err))
            return 2;
    sent = signal_later();
    rc = probe ? qz_http_probe(c, url, why, sizeof why) : qz_http_run(c, &h, NULL, &err);
    took = now() - sent;
    while (wait(NULL) > 0) {
    }
    if (rc != QZ_ESTOPPED || strcmp(probe ? why : err.msg, "stopped") != 0) {
        fprintf(stderr, "%s: status %d, \"%s\" (expected QZ_ESTOPPED, \"stopped\")\n",
                probe ? "probe" : "run", (int)rc, probe ? why : err.msg);
        return 1;
    }
    if (took > ALLOWED_SECONDS) {
        fprintf(stderr, "%s: returned %.3f s after the signal (allowed %.1f s)\n",
                probe ? "probe" : "run", took, ALLOWED_SECONDS);
        return 1;
    }
    fprintf(stderr, "%s: stopped %.3f s after the signal\n", probe ? "probe" : "run", took);
    /* a stop already pending: at once */
    sent = now();
    rc = probe ? qz_http_probe(c, url, why, sizeof why) : qz_http_run(c, &h, NULL, &err);
    if (!probe && !rc)
        rc = qz_http_submit(c, "POST", url, "{}", 2, NULL, 0, &err)
                 ? QZ_EINTERNAL
                 : qz_http_run(c, &h, NULL, &err);
    if (rc != QZ_ESTOPPED || now() - sent > ALLOWED_SECONDS) {
        fprintf(stderr, "%s with a stop pending: status %d after %.3f s\n", probe ? "probe" : "run",
                (int)rc, now() - sent);
        return 1;
    }
    qz_http_close(c);
    return 0;
}

int main(void)
{
    char url[64];
    int port, fd = silent_server(&port);

    CHECK(fd >= 0, "a listening socket on 127.0.0.1");
    if (fd < 0)
        return check_done("test_http_stop");
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/completions", port);
    for (int probe = 0; probe < 2; probe++) {
        int status = -1;
        pid_t pid = fork();
        if (pid == 0)
            _exit(run_case(probe, url));
        waitpid(pid, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "%s against a server that never answers: QZ_ESTOPPED soon after SIGUSR1",
              probe ? "qz_http_probe" : "qz_http_run");
    }
    close(fd);
    return check_done("test_http_stop");
}
