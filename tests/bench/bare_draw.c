/* The baseline for the draw benchmark: draw the same samples `quantilize run` would
 * (the job's generator, same batches) and discard them, keeping only their maximum
 * so that the work is used. Prints one line: samples/s (wall time), then the maximum,
 * the wall time and the process CPU time (on a shared machine, wall < CPU rate means
 * the process was waiting for a core).
 *
 * usage: qz_bench_bare JOB.json */
#include <math.h>
#include <stdio.h>
#include <time.h>

#include "generator.h"
#include "job.h"

#define BATCH 16384
#define LANES 8 /* independent running maxima: no loop-carried latency chain */

static double now(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Folds v[0 .. n-1] into the running maxima m (NaNs are skipped, as by v > m ? v : m).
 * The maxima live in a local array while folding, so the loop vectorizes. */
static void fold_max(const double *v, size_t n, double m[LANES])
{
    double acc[LANES];
    size_t j = 0;

    for (size_t l = 0; l < LANES; l++)
        acc[l] = m[l];
    for (; j + LANES <= n; j += LANES)
        for (size_t l = 0; l < LANES; l++)
            acc[l] = v[j + l] > acc[l] ? v[j + l] : acc[l];
    for (; j < n; j++)
        acc[0] = v[j] > acc[0] ? v[j] : acc[0];
    for (size_t l = 0; l < LANES; l++)
        m[l] = acc[l];
}

int main(int argc, char **argv)
{
    struct qz_job job;
    struct qz_error err = {QZ_OK, ""};
    struct qz_batch b;
    double m[LANES], best = -INFINITY, t0, t1, c0, c1;

    if (argc != 2) {
        fprintf(stderr, "usage: qz_bench_bare JOB.json\n");
        return 2;
    }
    if (qz_job_load(argv[1], &job, &err) || qz_batch_init(&b, BATCH, &err)) {
        fprintf(stderr, "qz_bench_bare: %s\n", err.msg);
        return 1;
    }
    for (size_t l = 0; l < LANES; l++)
        m[l] = -INFINITY;
    t0 = now(CLOCK_MONOTONIC);
    c0 = now(CLOCK_PROCESS_CPUTIME_ID);
    for (uint64_t i = 0; i < job.samples; i += BATCH) {
        size_t n = job.samples - i < BATCH ? (size_t)(job.samples - i) : BATCH;
        if (job.gen.ops->draw(job.gen.state, i, n, &b, &err)) {
            fprintf(stderr, "qz_bench_bare: %s\n", err.msg);
            return 1;
        }
        fold_max(b.value, n, m);
    }
    t1 = now(CLOCK_MONOTONIC);
    c1 = now(CLOCK_PROCESS_CPUTIME_ID);
    for (size_t l = 0; l < LANES; l++)
        best = m[l] > best ? m[l] : best;
    printf("%.6g samples/s (max %.6g, %.3f s, cpu %.3f s: %.6g samples/s)\n",
           (double)job.samples / (t1 - t0), best, t1 - t0, c1 - c0,
           (double)job.samples / (c1 - c0));
    qz_batch_free(&b);
    qz_job_free(&job);
    return 0;
}
