/* Progress display for long runs (shown by the root only).
 *
 * On a terminal: one line redrawn in place with a bar. Otherwise (batch logs): a
 * plain line at most every `every` seconds. Both give samples done of N, the rate
 * and the estimated time left. Local; writes to the FILE it was given. */
#ifndef QZ_PROGRESS_H
#define QZ_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

struct qz_progress {
    FILE *out;      /* NULL: progress off */
    int tty;        /* redraw in place */
    double every;   /* seconds between plain lines */
    uint64_t total; /* N */
    uint64_t base;  /* samples done before start (a resumed run): not in the rate */
    double start;   /* time of qz_progress_start, seconds */
    double last;    /* time of the last line shown */
    int shown;      /* something was drawn on a tty line */
};

/* Begin; `out` NULL turns progress off. `now` is a monotonic time in seconds. */
void qz_progress_start(struct qz_progress *p, FILE *out, uint64_t total, double every, double now);

/* Report `done` samples at time `now` (shown if due). */
void qz_progress_update(struct qz_progress *p, uint64_t done, double now);

/* Final line (done of total, overall rate). */
void qz_progress_finish(struct qz_progress *p, uint64_t done, double now);

/* Format n with SI suffix (1.23M, 4.5G) into buf. */
void qz_format_count(double n, char *buf, size_t len);

#endif
