#include "format.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

void qz_format_exact(char *buf, size_t n, double x)
{
    if (isfinite(x) && x == floor(x) && fabs(x) < 1e15) {
        snprintf(buf, n, "%.0f", x);
        return;
    }
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(buf, n, "%.*g", digits, x);
        if (!isfinite(x) || strtod(buf, NULL) == x)
            return;
    }
}

void qz_format_human(char *buf, size_t n, double x)
{
    if (isfinite(x) && fabs(x) >= 100 && fabs(x) < 1e15)
        snprintf(buf, n, "%.0f", x);
    else
        snprintf(buf, n, "%.3g", x);
}

void qz_format_duration(char *buf, size_t n, double s)
{
    if (!isfinite(s) || s < 60) {
        char num[QZ_FORMAT_MAX];
        qz_format_human(num, sizeof num, s);
        snprintf(buf, n, "%s s", num);
    } else if (s < 3600) {
        double t = round(s * 10) / 10, min = floor(t / 60);
        snprintf(buf, n, "%.0f min %.1f s", min, t - 60 * min);
    } else {
        double t = round(s), h = floor(t / 3600), min = floor((t - 3600 * h) / 60);
        snprintf(buf, n, "%.0f h %02.0f min %02.0f s", h, min, t - 3600 * h - 60 * min);
    }
}

void qz_format_mib(char *buf, size_t n, uint64_t bytes)
{
    snprintf(buf, n, "%.1f MiB", (double)bytes / (1024.0 * 1024.0));
}
