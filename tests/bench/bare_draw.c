/* The baseline for the draw benchmark: draw the same samples `quantilize run` would
 * (the job's generator, same batches) and discard them, keeping only their maximum
 * so the compiler cannot drop the work. Prints one line: samples/s.
 *
 * usage: qz_bench_bare JOB.json */
#include <math.h>
#include <stdio.h>
#include <time.h>

#include "generator.h"
#include "job.h"

#define BATCH 16384

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    struct qz_job job;
    struct qz_error err = {QZ_OK, ""};
    struct qz_batch b;
    double best = -INFINITY, t0, t1;

    if (argc != 2) {
        fprintf(stderr, "usage: qz_bench_bare JOB.json\n");
        return 2;
    }
    if (qz_job_load(argv[1], &job, &err) || qz_batch_init(&b, BATCH, &err)) {
        fprintf(stderr, "qz_bench_bare: %s\n", err.msg);
        return 1;
    }
    t0 = now();
    for (uint64_t i = 0; i < job.samples; i += BATCH) {
        size_t n = job.samples - i < BATCH ? (size_t)(job.samples - i) : BATCH;
        if (job.gen.ops->draw(job.gen.state, i, n, &b, &err)) {
            fprintf(stderr, "qz_bench_bare: %s\n", err.msg);
            return 1;
        }
        for (size_t j = 0; j < n; j++)
            best = b.value[j] > best ? b.value[j] : best;
    }
    t1 = now();
    printf("%.6g samples/s (max %.6g, %.3f s)\n", (double)job.samples / (t1 - t0), best, t1 - t0);
    qz_batch_free(&b);
    qz_job_free(&job);
    return 0;
}
