#include "coproc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "interrupt.h"

extern char **environ;

#define READ_CHUNK 65536
#define EXIT_GRACE_SECONDS 2.0 /* how long close waits after end of file, then after SIGTERM */
#define STOP_SLICE_MS 200      /* a wait looks for a stop request this often */

/* What an exchange with the child came to (IO_STOPPED: a stop request, the child
 * killed in the middle of its answer). */
enum io { IO_OK, IO_DEAD, IO_FAIL, IO_STOPPED };

struct qz_coproc {
    char **argv; /* owned, NULL-terminated */
    char *name;  /* owned */
    double timeout;
    unsigned restarts_max, restarts;
    pid_t pid;  /* -1 when no child runs */
    pid_t pgid; /* the process group the child leads (its own descendants too); 0: none */
    int in_fd;  /* our end of the child's stdin; -1 when closed */
    int out_fd; /* our end of the child's stdout */
    char *buf;  /* bytes read from the child: buf[start..end) not yet consumed */
    size_t start, end, scan, size;
    size_t line_max; /* the longest answer line kept; longer ones are skipped */
    size_t skipped;  /* bytes of an over-long line dropped so far (0: not skipping) */
    char why[256];   /* how the child died, for messages */
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Milliseconds left until deadline, for poll (at least 0, at most a day). */
static int ms_left(double deadline)
{
    double left = (deadline - now()) * 1e3;
    return left <= 0 ? 0 : left > 86400e3 ? 86400000 : (int)left + 1;
}

/* poll one descriptor until it is ready or the deadline, in slices of STOP_SLICE_MS:
 * 1 ready, 0 timed out, -1 a stop request (qz_interrupt_pending). */
static int poll_until(int fd, short events, double deadline)
{
    for (;;) {
        struct pollfd p = {fd, events, 0};
        int left = ms_left(deadline), ready;
        if (qz_interrupt_pending())
            return -1;
        ready = poll(&p, 1, left < STOP_SLICE_MS ? left : STOP_SLICE_MS);
        if (ready > 0)
            return 1;
        if (ready < 0 && errno != EINTR)
            return 1; /* let read or write report it */
        if (ready == 0 && left <= STOP_SLICE_MS)
            return qz_interrupt_pending() ? -1 : 0;
    }
}

/* A pipe whose ends are close-on-exec and above 2 (so that dup2 onto 0 or 1 in the
 * child never meets the same descriptor). QZ_EIO with errno set when it fails. */
static enum qz_status make_pipe(int fds[2])
{
    int raw[2];
    if (pipe(raw) != 0)
        return QZ_EIO;
    for (int i = 0; i < 2; i++) {
        fds[i] = fcntl(raw[i], F_DUPFD_CLOEXEC, 3);
        if (fds[i] < 0) {
            int saved = errno;
            if (i == 1)
                close(fds[0]);
            close(raw[0]);
            close(raw[1]);
            errno = saved;
            return QZ_EIO;
        }
    }
    close(raw[0]);
    close(raw[1]);
    return QZ_OK;
}

static void describe_status(struct qz_coproc *cp, int status)
{
    if (WIFEXITED(status))
        snprintf(cp->why, sizeof cp->why, "the program exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(cp->why, sizeof cp->why, "the program was killed by signal %d (%s)",
                 WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(cp->why, sizeof cp->why, "the program stopped");
}

/* Wait up to `seconds` for the child to exit; 1 when it has been reaped. */
static int reap_within(struct qz_coproc *cp, double seconds, int *status)
{
    double deadline = now() + seconds;
    for (;;) {
        pid_t r = waitpid(cp->pid, status, WNOHANG);
        if (r == cp->pid || (r < 0 && errno == ECHILD)) {
            if (r < 0)
                *status = -1; /* someone else reaped it (SIGCHLD ignored) */
            cp->pid = -1;
            return 1;
        }
        if (r < 0 && errno != EINTR)
            return 0;
        if (now() >= deadline)
            return 0;
        pause_ms(10);
    }
}

/* The process groups of the running co-processes, for the handler below. */
#define GROUPS_MAX 64
static volatile sig_atomic_t groups[GROUPS_MAX];

/* A signal that would end quantilize with its default action (Ctrl-C's SIGINT, which
 * no longer reaches a co-process in its own group; SIGHUP, SIGQUIT; SIGTERM when no
 * stop handler is installed) first sends SIGTERM to every co-process's group, then
 * takes its default action (SA_RESETHAND). Async-signal-safe: kill and raise only. */
static void end_groups_and_die(int sig)
{
    for (int i = 0; i < GROUPS_MAX; i++)
        if (groups[i] > 0)
            kill(-(pid_t)groups[i], SIGTERM);
    raise(sig);
}

static void install_group_handlers(void)
{
    static const int sigs[] = {SIGINT, SIGHUP, SIGQUIT, SIGTERM};
    static int installed;
    struct sigaction sa, old;

    if (installed)
        return;
    installed = 1;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = end_groups_and_die;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND | SA_NODEFER;
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        if (sigaction(sigs[i], NULL, &old) == 0 && !(old.sa_flags & SA_SIGINFO) &&
            old.sa_handler == SIG_DFL)
            sigaction(sigs[i], &sa, NULL);
}

static void track_group(pid_t pgid, int on)
{
    for (int i = 0; i < GROUPS_MAX; i++)
        if (on ? groups[i] == 0 : groups[i] == pgid) {
            groups[i] = on ? pgid : 0;
            return;
        }
}

/* End what is left of the child's process group (programs it started and did not
 * wait for): SIGTERM, then SIGKILL to those still there after the grace. The group id
 * cannot be reused while any member lives, so this never reaches another group. */
static void end_group(struct qz_coproc *cp)
{
    double deadline;
    if (cp->pgid <= 0)
        return;
    if (kill(-cp->pgid, SIGTERM) == 0) {
        deadline = now() + EXIT_GRACE_SECONDS;
        while (kill(-cp->pgid, 0) == 0 && now() < deadline)
            pause_ms(10);
        /* members that are gone but not yet reaped by their parent take no signal */
        kill(-cp->pgid, SIGKILL);
    }
    track_group(cp->pgid, 0);
    cp->pgid = 0;
}

/* Kill the child and its whole process group, and reap the child. */
static void reap_now(struct qz_coproc *cp, int *status)
{
    if (cp->pgid > 0)
        kill(-cp->pgid, SIGKILL);
    kill(cp->pid, SIGKILL);
    while (waitpid(cp->pid, status, 0) < 0 && errno == EINTR)
        ;
    cp->pid = -1;
    if (cp->pgid > 0)
        track_group(cp->pgid, 0);
    cp->pgid = 0;
}

static void close_pipes(struct qz_coproc *cp)
{
    if (cp->in_fd >= 0)
        close(cp->in_fd);
    if (cp->out_fd >= 0)
        close(cp->out_fd);
    cp->in_fd = cp->out_fd = -1;
    cp->start = cp->end = cp->scan = 0;
    cp->skipped = 0;
}

/* The child closed a pipe: reap it (killing it if it lingers) and say how it ended.
 * A program that closed its pipes is exiting; on a loaded machine (several ranks'
 * co-processes on few cores) an interpreter's shutdown can take more than a second,
 * and killing it early would lose its exit status from the message. */
static void bury(struct qz_coproc *cp, const char *fallback)
{
    int status = -1;
    close_pipes(cp);
    if (cp->pid < 0)
        return;
    if (!reap_within(cp, 5.0, &status)) {
        reap_now(cp, &status);
        snprintf(cp->why, sizeof cp->why, "%s", fallback);
        return;
    }
    end_group(cp);
    if (status == -1)
        snprintf(cp->why, sizeof cp->why, "%s", fallback);
    else
        describe_status(cp, status);
}

static enum qz_status spawn(struct qz_coproc *cp, struct qz_error *err)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, pipe_only;
    int in[2], out[2], rc;

    if (make_pipe(in) != QZ_OK)
        return qz_error_set(err, QZ_EIO, "%s: cannot make a pipe: %s", cp->name, strerror(errno));
    if (make_pipe(out) != QZ_OK) {
        rc = errno;
        close(in[0]);
        close(in[1]);
        return qz_error_set(err, QZ_EIO, "%s: cannot make a pipe: %s", cp->name, strerror(rc));
    }
    sigemptyset(&none);
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    rc = posix_spawn_file_actions_init(&fa);
    if (rc == 0) {
        rc = posix_spawnattr_init(&attr);
        if (rc == 0) {
            /* dup2 clears close-on-exec on 0 and 1; every other pipe end closes on exec. */
            if (!(rc = posix_spawn_file_actions_adddup2(&fa, in[0], 0)) &&
                !(rc = posix_spawn_file_actions_adddup2(&fa, out[1], 1)) &&
                !(rc = posix_spawnattr_setsigmask(&attr, &none)) &&
                !(rc = posix_spawnattr_setsigdefault(&attr, &pipe_only)) &&
                !(rc = posix_spawnattr_setpgroup(&attr, 0)) &&
                !(rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
                                                           POSIX_SPAWN_SETSIGDEF |
                                                           POSIX_SPAWN_SETPGROUP)))
                rc = posix_spawnp(&cp->pid, cp->argv[0], &fa, &attr, cp->argv, environ);
            posix_spawnattr_destroy(&attr);
        }
        posix_spawn_file_actions_destroy(&fa);
    }
    close(in[0]);
    close(out[1]);
    if (rc != 0) {
        cp->pid = -1;
        close(in[1]);
        close(out[0]);
        return qz_error_set(err, QZ_EIO, "cannot run \"%s\": %s", cp->argv[0], strerror(rc));
    }
    cp->pgid = cp->pid; /* the child leads a new group (POSIX_SPAWN_SETPGROUP, 0) */
    install_group_handlers();
    track_group(cp->pgid, 1);
    cp->in_fd = in[1];
    cp->out_fd = out[0];
    cp->start = cp->end = cp->scan = 0;
    cp->skipped = 0;
    if (fcntl(cp->in_fd, F_SETFL, O_NONBLOCK) != 0 || fcntl(cp->out_fd, F_SETFL, O_NONBLOCK) != 0)
        return qz_error_set(err, QZ_EIO, "%s: cannot set up its pipes: %s", cp->name,
                            strerror(errno));
    return QZ_OK;
}

/* A stop request in the middle of an exchange: its answer will never be read, so the
 * child is killed (a restart would begin afresh). */
static enum io stopped(struct qz_coproc *cp)
{
    int status;
    close_pipes(cp);
    if (cp->pid >= 0)
        reap_now(cp, &status);
    snprintf(cp->why, sizeof cp->why, "stopped");
    return IO_STOPPED;
}

/* The child did not answer in time: kill it. */
static enum io timed_out(struct qz_coproc *cp, const char *what)
{
    int status;
    close_pipes(cp);
    if (cp->pid >= 0)
        reap_now(cp, &status);
    snprintf(cp->why, sizeof cp->why, "the program did not %s within %g s (killed it)", what,
             cp->timeout);
    return IO_DEAD;
}

/* Write data[0..len) with SIGPIPE blocked in this thread; a SIGPIPE the write raises
 * is consumed, so it never reaches the process. */
static enum io write_all(struct qz_coproc *cp, const char *data, size_t len, double deadline)
{
    sigset_t pipe_only, old, pending;
    int was_pending, broken = 0;
    enum io result = IO_OK;

    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
    sigpending(&pending);
    was_pending = sigismember(&pending, SIGPIPE) == 1;
    while (len > 0) {
        ssize_t w;
        int ready = poll_until(cp->in_fd, POLLOUT, deadline);
        if (ready < 0) {
            result = stopped(cp);
            break;
        }
        if (ready == 0) {
            result = timed_out(cp, "take in a request");
            break;
        }
        w = write(cp->in_fd, data, len);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                continue;
            broken = errno == EPIPE;
            bury(cp, "the program closed its stdin");
            result = IO_DEAD;
            break;
        }
        data += w;
        len -= (size_t)w;
    }
    if (broken && !was_pending) {
        const struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_only, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return result;
}

/* Read the next line into *line (NUL-terminated in the buffer, valid until the next
 * read); a line longer than line_max is read to its end without being kept (memory
 * stays bounded) and given as *line NULL, *len its length. IO_FAIL sets err (out of
 * memory). */
static enum io read_line(struct qz_coproc *cp, char **line, size_t *len, double deadline,
                         enum qz_status *fail, struct qz_error *err)
{
    for (;;) {
        char *nl = cp->end > cp->scan ? memchr(cp->buf + cp->scan, '\n', cp->end - cp->scan) : NULL;
        ssize_t r;
        int ready;

        if (nl && (cp->skipped || (size_t)(nl - (cp->buf + cp->start)) > cp->line_max)) {
            *line = NULL;
            *len = cp->skipped + (size_t)(nl - (cp->buf + cp->start));
            cp->skipped = 0;
            cp->start = cp->scan = (size_t)(nl - cp->buf) + 1;
            return IO_OK;
        }
        if (nl) {
            size_t n = (size_t)(nl - (cp->buf + cp->start));
            *line = cp->buf + cp->start;
            if (n > 0 && (*line)[n - 1] == '\r')
                n--;
            (*line)[n] = '\0';
            *len = n;
            cp->start = cp->scan = (size_t)(nl - cp->buf) + 1;
            return IO_OK;
        }
        cp->scan = cp->end;
        if (cp->skipped || cp->end - cp->start > cp->line_max) {
            /* drop what we have of the over-long line, read on to its end */
            cp->skipped += cp->end - cp->start;
            cp->start = cp->end = cp->scan = 0;
        }
        if (cp->start > 0) { /* keep the partial line at the front */
            memmove(cp->buf, cp->buf + cp->start, cp->end - cp->start);
            cp->end -= cp->start;
            cp->scan -= cp->start;
            cp->start = 0;
        }
        if (cp->size - cp->end < READ_CHUNK) {
            size_t size = cp->size ? cp->size * 2 : 2 * READ_CHUNK;
            char *grown = realloc(cp->buf, size);
            if (!grown) {
                *fail =
                    qz_error_set(err, QZ_ENOMEM, "%s: out of memory for an answer line", cp->name);
                return IO_FAIL;
            }
            cp->buf = grown;
            cp->size = size;
        }
        ready = poll_until(cp->out_fd, POLLIN, deadline);
        if (ready < 0)
            return stopped(cp);
        if (ready == 0)
            return timed_out(cp, "answer");
        /* room for the line's NUL: never fill the buffer to its last byte */
        r = read(cp->out_fd, cp->buf + cp->end, cp->size - cp->end - 1);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            continue;
        if (r <= 0) {
            bury(cp, "the program closed its stdout");
            return IO_DEAD;
        }
        cp->end += (size_t)r;
    }
}

void qz_coproc_set_line_max(struct qz_coproc *cp, size_t bytes)
{
    cp->line_max = bytes;
}

enum qz_status qz_coproc_open(struct qz_coproc **out, const char *const *argv, const char *name,
                              double timeout_seconds, unsigned restarts, struct qz_error *err)
{
    struct qz_coproc *cp = calloc(1, sizeof *cp);
    size_t n = 0;
    enum qz_status rc;

    *out = NULL;
    if (cp)
        cp->line_max = QZ_COPROC_LINE_MAX;
    if (!cp)
        return qz_error_set(err, QZ_ENOMEM, "out of memory");
    cp->pid = -1;
    cp->in_fd = cp->out_fd = -1;
    cp->timeout = timeout_seconds;
    cp->restarts_max = restarts;
    while (argv[n])
        n++;
    cp->argv = calloc(n + 1, sizeof *cp->argv);
    cp->name = strdup(name);
    if (!cp->argv || !cp->name) {
        qz_coproc_close(cp);
        return qz_error_set(err, QZ_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        if (!(cp->argv[i] = strdup(argv[i]))) {
            qz_coproc_close(cp);
            return qz_error_set(err, QZ_ENOMEM, "out of memory");
        }
    if ((rc = spawn(cp, err))) {
        qz_coproc_close(cp);
        return rc;
    }
    *out = cp;
    return QZ_OK;
}

/* One attempt at a request. */
static enum io exchange(struct qz_coproc *cp, const char *req, size_t len, size_t lines,
                        qz_coproc_line_fn on_line, void *ctx, enum qz_status *fail,
                        struct qz_error *err)
{
    double deadline = now() + cp->timeout;
    enum io r;

    if (cp->pid < 0) {
        snprintf(cp->why, sizeof cp->why, "the program is not running");
        return IO_DEAD;
    }
    if ((r = write_all(cp, req, len, deadline)) || (r = write_all(cp, "\n", 1, deadline)))
        return r;
    for (size_t k = 0; k < lines; k++) {
        char *line;
        size_t n;
        if ((r = read_line(cp, &line, &n, now() + cp->timeout, fail, err)))
            return r;
        if ((*fail = on_line(ctx, k, line, n, err)))
            return IO_FAIL;
    }
    return IO_OK;
}

enum qz_status qz_coproc_request(struct qz_coproc *cp, const char *req, size_t len, size_t lines,
                                 qz_coproc_line_fn on_line, void *ctx, struct qz_error *err)
{
    for (;;) {
        enum qz_status rc = QZ_OK;
        enum io r = exchange(cp, req, len, lines, on_line, ctx, &rc, err);

        if (r == IO_OK)
            return QZ_OK;
        if (r == IO_FAIL)
            return rc;
        if (r == IO_STOPPED || qz_interrupt_pending())
            return qz_error_set(err, QZ_ESTOPPED, "%s: stopped", cp->name);
        if (cp->restarts >= cp->restarts_max) {
            if (cp->restarts == 0)
                return qz_error_set(err, QZ_EIO, "%s: %s", cp->name, cp->why);
            return qz_error_set(err, QZ_EIO, "%s: %s, after %u restart%s", cp->name, cp->why,
                                cp->restarts, cp->restarts == 1 ? "" : "s");
        }
        cp->restarts++;
        qz_warn("%s: %s; restarting it (restart %u of %u)", cp->name, cp->why, cp->restarts,
                cp->restarts_max);
        if ((rc = spawn(cp, err))) {
            char why[QZ_ERROR_MSG_MAX];
            snprintf(why, sizeof why, "%s", err ? err->msg : "");
            return qz_error_set(err, rc, "%s: restarting it: %s", cp->name, why);
        }
    }
}

unsigned qz_coproc_restarts(const struct qz_coproc *cp)
{
    return cp->restarts;
}

const char *qz_coproc_name(const struct qz_coproc *cp)
{
    return cp->name;
}

void qz_coproc_close(struct qz_coproc *cp)
{
    if (!cp)
        return;
    close_pipes(cp);
    if (cp->pid >= 0) {
        int status;
        if (!reap_within(cp, EXIT_GRACE_SECONDS, &status)) {
            if (cp->pgid > 0)
                kill(-cp->pgid, SIGTERM);
            kill(cp->pid, SIGTERM);
            if (!reap_within(cp, EXIT_GRACE_SECONDS, &status))
                reap_now(cp, &status);
        }
    }
    end_group(cp);
    if (cp->argv)
        for (size_t i = 0; cp->argv[i]; i++)
            free(cp->argv[i]);
    free(cp->argv);
    free(cp->name);
    free(cp->buf);
    free(cp);
}

enum qz_status qz_coproc_from_job(struct qz_coproc **cp, const struct qz_jv *at, const cJSON *spec,
                                  unsigned restarts, struct qz_error *err)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(spec, "command"), *it;
    const char **argv = NULL;
    char *shown = NULL, *name = NULL;
    double timeout;
    size_t name_len, i = 0;
    int n;
    enum qz_status rc;

    *cp = NULL;
    if ((rc = qz_jv_number(at, spec, "timeout_seconds", 0, 60.0, &timeout, err)))
        return rc;
    if (!(timeout > 0 && timeout <= QZ_COPROC_TIMEOUT_MAX))
        return qz_jv_fail(at, "timeout_seconds",
                          cJSON_GetObjectItemCaseSensitive(spec, "timeout_seconds"), err,
                          "must be a number above 0 and at most %g", QZ_COPROC_TIMEOUT_MAX);
    if (!list)
        return qz_jv_fail(at, "command", NULL, err, "is required");
    n = cJSON_GetArraySize(list);
    if (!cJSON_IsArray(list) || n < 1 || n > QZ_COPROC_ARGS_MAX)
        return qz_jv_fail(at, "command", list, err,
                          "must be an array of 1 to %d strings: the program and its arguments",
                          QZ_COPROC_ARGS_MAX);
    cJSON_ArrayForEach(it, list)
    {
        if (!cJSON_IsString(it) || (i == 0 && it->valuestring[0] == '\0')) {
            struct qz_jv cat, iat;
            qz_jv_child(at, "command", &cat);
            qz_jv_item(&cat, (int)i, &iat);
            return qz_jv_fail(&iat, NULL, it, err,
                              i == 0 ? "must be the program to run (a non-empty string)"
                                     : "must be a string");
        }
        i++;
    }
    if (!(argv = calloc((size_t)n + 1, sizeof *argv)))
        return qz_error_set(err, QZ_ENOMEM, "out of memory");
    i = 0;
    cJSON_ArrayForEach(it, list) argv[i++] = it->valuestring;
    shown = qz_coproc_argv_text(argv);
    name_len = strlen(at->path) + (shown ? strlen(shown) : 0) + 16;
    name = malloc(name_len);
    if (!shown || !name) {
        rc = qz_error_set(err, QZ_ENOMEM, "out of memory");
        goto done;
    }
    snprintf(name, name_len, "%s command %s", at->path, shown);
    rc = qz_coproc_open(cp, argv, name, timeout, restarts, err);
    if (rc == QZ_EIO && err && strncmp(err->msg, "cannot run ", 11) == 0) {
        char why[QZ_ERROR_MSG_MAX];
        snprintf(why, sizeof why, "%s", err ? err->msg : "cannot run it");
        rc = qz_jv_fail(at, "command", list, err, "%s", why);
    }
done:
    free(shown);
    free(name);
    free(argv);
    return rc;
}

char *qz_coproc_argv_text(const char *const *argv)
{
    const size_t max = 200;
    size_t len = 0, cap = max + 8;
    char *s = malloc(cap);

    if (!s)
        return NULL;
    s[len++] = '"';
    for (size_t i = 0; argv[i]; i++) {
        size_t n = strlen(argv[i]);
        if (i > 0 && len < max)
            s[len++] = ' ';
        if (len + n > max) {
            memcpy(s + len, argv[i], max - len);
            len = max;
            memcpy(s + len, "...", 3);
            len += 3;
            break;
        }
        memcpy(s + len, argv[i], n);
        len += n;
    }
    s[len++] = '"';
    s[len] = '\0';
    return s;
}
