#include "progress.h"

#include <math.h>
#include <unistd.h>

#define QZ_BAR_WIDTH 30
#define QZ_TTY_EVERY 0.2 /* seconds between redraws on a terminal */

void qz_format_count(double n, char *buf, size_t len)
{
    static const char suffix[] = " kMGTPE";
    int i = 0;
    while (n >= 999.5 && i < 6) {
        n /= 1000;
        i++;
    }
    if (i == 0)
        snprintf(buf, len, "%.0f", n);
    else
        snprintf(buf, len, "%.3g%c", n, suffix[i]);
}

static void format_duration(double s, char *buf, size_t len)
{
    long t;
    if (!isfinite(s) || s < 0 || s > 1e9) {
        snprintf(buf, len, "--:--");
        return;
    }
    t = lround(s);
    if (t >= 3600)
        snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
}

void qz_progress_start(struct qz_progress *p, FILE *out, uint64_t total, double every, double now)
{
    p->out = out;
    p->tty = out && isatty(fileno(out));
    p->every = every;
    p->total = total;
    p->start = now;
    p->base = 0;
    p->last = now;
    p->shown = 0;
}

static void show(struct qz_progress *p, uint64_t done, double now, int final)
{
    double elapsed = now - p->start;
    double rate = elapsed > 0 && done >= p->base ? (double)(done - p->base) / elapsed : 0;
    double frac = p->total ? (double)done / (double)p->total : 1;
    char sdone[16], stotal[16], srate[16], seta[48];

    qz_format_count((double)done, sdone, sizeof sdone);
    qz_format_count((double)p->total, stotal, sizeof stotal);
    qz_format_count(rate, srate, sizeof srate);
    format_duration(final      ? elapsed
                    : rate > 0 ? (double)(p->total - done) / rate
                               : NAN,
                    seta, sizeof seta);
    if (p->tty) {
        char bar[QZ_BAR_WIDTH + 1];
        int fill = (int)(frac * QZ_BAR_WIDTH);
        for (int i = 0; i < QZ_BAR_WIDTH; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[QZ_BAR_WIDTH] = '\0';
        fprintf(p->out, "\r[%s] %5.1f%%  %s/%s samples  %s/s  %s %s\033[K%s", bar, 100 * frac,
                sdone, stotal, srate, final ? "took" : "ETA", seta, final ? "\n" : "");
        p->shown = !final;
    } else {
        fprintf(p->out, "progress: %s/%s samples (%.1f%%), %s/s, %s %s\n", sdone, stotal,
                100 * frac, srate, final ? "took" : "ETA", seta);
    }
    fflush(p->out);
    p->last = now;
}

void qz_progress_update(struct qz_progress *p, uint64_t done, double now)
{
    if (!p->out || now - p->last < (p->tty ? QZ_TTY_EVERY : p->every))
        return;
    show(p, done, now, 0);
}

void qz_progress_finish(struct qz_progress *p, uint64_t done, double now)
{
    if (!p->out)
        return;
    show(p, done, now, 1);
}
