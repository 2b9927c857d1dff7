#include "sidefile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The suffix of a side file, and whether its name holds the run. */
static const char *suffix(enum qz_side kind, int *per_run)
{
    *per_run = 0;
    switch (kind) {
    case QZ_SIDE_CKPT:
        *per_run = 1;
        return "ckpt";
    case QZ_SIDE_STAGING:
        *per_run = 1;
        return "samples.tmp";
    case QZ_SIDE_TEXTS:
        return "text";
    case QZ_SIDE_LOCK:
        return "lock";
    case QZ_SIDE_RESERVE:
        return "reserve";
    case QZ_SIDE_LEDGER:
        return "ledger";
    case QZ_SIDE_RUNS:
        return "runs";
    }
    return NULL;
}

char *qz_side_path(const char *file, const char *run, enum qz_side kind)
{
    int per_run;
    const char *sfx = suffix(kind, &per_run);
    size_t len;
    char *p;

    if (!sfx || (per_run && !run))
        return NULL;
    len = strlen(file) + (per_run ? strlen(run) + 1 : 0) + strlen(sfx) + 2;
    if (!(p = malloc(len)))
        return NULL;
    if (per_run)
        snprintf(p, len, "%s.%s.%s", file, run, sfx);
    else
        snprintf(p, len, "%s.%s", file, sfx);
    return p;
}
