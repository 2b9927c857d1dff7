/* The mean over a tasks job's tasks, per q, of each task's E_Q[u] and of each
 * metric's E_Q (README "Metrics", "Tasks"): computed by the readers (report,
 * inspect, inspect --json) from the tasks' own figures; the record stores no mean.
 * Local; reads only. */
#ifndef QZ_TASKMEANS_H
#define QZ_TASKMEANS_H

#include <stddef.h>

#include <hdf5.h>

#include "error.h"
#include "h5util.h"

/* One task's curve of a figure against q: v[i] at q[i], n points (malloc'd). */
struct qz_task_curve {
    double *q, *v;
    size_t n;
};

/* Task run `task`'s curve of `what` (NULL: the proxy utility E_Q[u]; else the name of
 * a metric): sweep/mean_utility or sweep/metrics/NAME/mean against sweep/q when the
 * task has a sweep, else its one figure (utility_quantilized_mean, or
 * metrics/NAME's quantilized_mean) at its attribute q. Returns 1 with the curve, 0
 * when the task has none (c empty). Free with qz_task_curve_free. */
int qz_task_curve_read(hid_t task, const char *what, struct qz_task_curve *c);
void qz_task_curve_free(struct qz_task_curve *c);

/* The means over the tasks of a job, per q of the job. */
struct qz_task_means {
    size_t tasks;                 /* tasks averaged (0: the job has none) */
    size_t nq;                    /* q values */
    double *q;                    /* [nq], the first task's (in name order) q list */
    double *utility;              /* [nq] mean over tasks of E_Q[u] */
    struct qz_h5_metrics metrics; /* the first task's metrics, in the job's order */
    double *metric;               /* [metrics.n * nq]: metric j at q i is metric[j * nq + i] */
};

/* The means of job group `job` (/runs/NAME, its tasks under tasks/ID, possibly
 * external links): an exact sum of the tasks' values (common/exactsum.h: the same
 * whatever the tasks' order), rounded once and divided by the number of tasks; NaN at
 * a q where a task's value is NaN or missing, or whose q list differs from the first
 * task's (by name). out->tasks is 0 when the job has no tasks.
 * QZ_ENOMEM, or QZ_EHDF5 when tasks/ is there but cannot be listed. Free with
 * qz_task_means_free (also after a failure). */
enum qz_status qz_task_means_read(hid_t job, struct qz_task_means *out);
void qz_task_means_free(struct qz_task_means *tm);

#endif
