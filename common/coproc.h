/* A co-process: a long-running child program that answers JSON lines on its stdout to
 * JSON lines written to its stdin (the exec generator and the exec scorer).
 *
 * The child is started from an argv array with posix_spawnp (argv[0] is looked up in
 * PATH as execvp does; never through a shell). Its stdin and stdout are pipes to us;
 * its stderr is ours, so what it prints there shows up in our stderr (and, under
 * mpirun, in the job's output). It starts with default signal dispositions and an
 * empty signal mask.
 *
 * A child that dies (end of file on its stdout, a broken pipe on its stdin) or does not
 * answer in time is killed, reaped and started again, up to `restarts` times over the
 * co-process's life, and the request is sent again. Writing to a dead child never
 * raises SIGPIPE in our process: the signal is blocked in the writing thread and a
 * pending one is consumed, so no global disposition changes.
 *
 * Not thread-safe: one thread uses a co-process at a time. All calls are local. */
#ifndef QZ_COPROC_H
#define QZ_COPROC_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "error.h"
#include "jsonv.h"

#define QZ_COPROC_LINE_MAX ((size_t)256 << 20) /* the longest answer line: 256 MiB */
#define QZ_COPROC_ARGS_MAX 1024                /* elements of a job's "command" */
#define QZ_COPROC_TIMEOUT_MAX 86400.0          /* timeout_seconds: at most a day */

struct qz_coproc;

/* Start argv[0] with arguments argv[1..] (a NULL-terminated array; copied). `name`
 * says what the co-process is in every message, e.g. `utility command "python3 s.py"`
 * (copied). timeout_seconds > 0 bounds the wait for each answer line and for each
 * request to be taken in. On success *cp owns the running child.
 *
 * When the program cannot be started (not found, not executable) returns QZ_EIO with
 * `cannot run "PROG": REASON` in err (callers that validate a job rephrase it). */
enum qz_status qz_coproc_open(struct qz_coproc **cp, const char *const *argv, const char *name,
                              double timeout_seconds, unsigned restarts, struct qz_error *err);

/* Called for answer line k (0-based) of a request: line[0..len) without the newline
 * (and without a trailing '\r'), NUL-terminated at line[len]; line NULL for a line
 * longer than the line cap (qz_coproc_set_line_max), len its length, which was read
 * to its end and dropped (the request goes on with the next line). Return QZ_OK, or an
 * error in err, which ends the request without a restart (a protocol error). After a
 * restart the lines of the request come again from k = 0. */
typedef enum qz_status (*qz_coproc_line_fn)(void *ctx, size_t k, const char *line, size_t len,
                                            struct qz_error *err);

/* Send req[0..len) (one line: it must not contain '\n'; the newline is added) and read
 * `lines` answer lines, handing each to on_line. If the child dies or times out on the
 * way, it is restarted (while restarts remain) and the request sent again; otherwise
 * returns QZ_EIO with `NAME: WHAT HAPPENED` in err, e.g. `utility command "x": the
 * program exited with status 3 (after 1 restart)`. Every wait looks for a stop request
 * (qz_interrupt_pending, interrupt.h) at least every 0.2 s: on one the child is
 * killed in the middle of its answer (the next request starts it again) and the call
 * returns QZ_ESTOPPED with `NAME: stopped`. */
enum qz_status qz_coproc_request(struct qz_coproc *cp, const char *req, size_t len, size_t lines,
                                 qz_coproc_line_fn on_line, void *ctx, struct qz_error *err);

/* The longest answer line kept (default QZ_COPROC_LINE_MAX): a longer one is read and
 * dropped, and handed to on_line as NULL, so memory stays bounded. */
void qz_coproc_set_line_max(struct qz_coproc *cp, size_t bytes);

/* Restarts so far. */
unsigned qz_coproc_restarts(const struct qz_coproc *cp);

/* The name given at open. */
const char *qz_coproc_name(const struct qz_coproc *cp);

/* Close the child's stdin (a well-behaved child exits on end of file), give it a
 * moment, then SIGTERM and, failing that, SIGKILL; reap it and free everything.
 * NULL is a no-op. */
void qz_coproc_close(struct qz_coproc *cp);

/* For backends configured by a job: validate spec.command (an array of 1 to
 * QZ_COPROC_ARGS_MAX strings, the first non-empty) and spec.timeout_seconds (> 0, at
 * most a day, default 60), then start the program as qz_coproc_open does with the
 * name `PATH command "ARGV"` (PATH: at's field path). A program that cannot be started
 * is a job error naming the field: `job.json: utility.command: cannot run "x": No such
 * file or directory, got ["x"]`. The co-process gets `restarts` restarts. */
enum qz_status qz_coproc_from_job(struct qz_coproc **cp, const struct qz_jv *at, const cJSON *spec,
                                  unsigned restarts, struct qz_error *err);

/* A display form of argv for messages: `"a b c"` with the arguments joined by spaces
 * and the whole quoted, shortened with "..." past about 200 bytes. malloc'd; NULL when
 * out of memory. */
char *qz_coproc_argv_text(const char *const *argv);

#endif
