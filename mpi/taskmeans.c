#include "taskmeans.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "exactsum.h"

/* The q list of task run g: sweep/q, else its attribute q. 0 if it has neither. */
static int task_q(hid_t g, double **q, size_t *n)
{
    *q = NULL;
    *n = 0;
    if (H5Lexists(g, "sweep", H5P_DEFAULT) > 0 &&
        qz_h5_read_f64_1d(g, "sweep/q", q, n, NULL) == QZ_OK && *n > 0)
        return 1;
    free(*q);
    *n = 0;
    if (!(*q = malloc(sizeof **q)))
        return 0;
    if (qz_h5_read_num_attr(g, "q", H5T_NATIVE_DOUBLE, *q, NULL) != QZ_OK) {
        free(*q);
        *q = NULL;
        return 0;
    }
    *n = 1;
    return 1;
}

/* E_Q of metric `what` at the run's q: metrics/NAME's quantilized_mean. */
static int metric_figure(hid_t g, const char *what, double *v)
{
    hid_t m, mg = H5I_INVALID_HID;
    int ok = 0;

    if (H5Lexists(g, "metrics", H5P_DEFAULT) <= 0 || (m = H5Gopen2(g, "metrics", H5P_DEFAULT)) < 0)
        return 0;
    if (H5Lexists(m, what, H5P_DEFAULT) > 0 && (mg = H5Gopen2(m, what, H5P_DEFAULT)) >= 0) {
        ok = qz_h5_read_num_attr(mg, "quantilized_mean", H5T_NATIVE_DOUBLE, v, NULL) == QZ_OK;
        H5Gclose(mg);
    }
    H5Gclose(m);
    return ok;
}

int qz_task_curve_read(hid_t task, const char *what, struct qz_task_curve *c)
{
    char path[512];
    size_t nv = 0;
    int ok;

    memset(c, 0, sizeof *c);
    if (!task_q(task, &c->q, &c->n))
        return 0;
    if (H5Lexists(task, "sweep", H5P_DEFAULT) > 0 && c->n > 0) {
        if (what)
            snprintf(path, sizeof path, "sweep/metrics/%s/mean", what);
        /* H5Lexists needs every step of a path: a task without sweep/metrics has none */
        if ((!what || (H5Lexists(task, "sweep/metrics", H5P_DEFAULT) > 0 &&
                       H5Lexists(task, path, H5P_DEFAULT) > 0)) &&
            qz_h5_read_f64_1d(task, what ? path : "sweep/mean_utility", &c->v, &nv, NULL) ==
                QZ_OK &&
            nv >= c->n)
            return 1;
        qz_task_curve_free(c);
        return 0;
    }
    if (!(c->v = malloc(sizeof *c->v))) {
        qz_task_curve_free(c);
        return 0;
    }
    ok = what ? metric_figure(task, what, c->v)
              : qz_h5_read_num_attr(task, "utility_quantilized_mean", H5T_NATIVE_DOUBLE, c->v,
                                    NULL) == QZ_OK;
    if (!ok)
        qz_task_curve_free(c);
    return ok;
}

void qz_task_curve_free(struct qz_task_curve *c)
{
    free(c->q);
    free(c->v);
    memset(c, 0, sizeof *c);
}

struct names {
    char **name;
    size_t n, cap;
    int nomem;
};

static herr_t name_cb(hid_t loc, const char *name, const H5L_info_t *info, void *data)
{
    struct names *l = data;

    (void)loc;
    (void)info;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        char **grown = realloc(l->name, cap * sizeof *grown);
        if (!grown) {
            l->nomem = 1;
            return 1;
        }
        l->name = grown;
        l->cap = cap;
    }
    if (!(l->name[l->n] = strdup(name))) {
        l->nomem = 1;
        return 1;
    }
    l->n++;
    return 0;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Task g's curve of `what` into v[0], v[nt], ... v[(nq - 1) * nt] (NaN where it has no
 * value at the job's q list). */
static void get_curve(hid_t g, const char *what, const double *q, size_t nq, double *v, size_t nt)
{
    struct qz_task_curve c = {0};
    int same = g >= 0 && qz_task_curve_read(g, what, &c) && c.n == nq;

    for (size_t i = 0; same && i < nq; i++)
        same = c.q[i] == q[i];
    for (size_t i = 0; i < nq; i++)
        v[i * nt] = same ? c.v[i] : NAN;
    qz_task_curve_free(&c);
}

enum qz_status qz_task_means_read(hid_t job, struct qz_task_means *out)
{
    struct names l = {0};
    enum qz_status rc = QZ_OK;
    hid_t tasks = H5I_INVALID_HID, g;
    hsize_t at = 0;
    struct qz_exactsum *sum = NULL;
    double *acc, *v = NULL;
    size_t points;

    memset(out, 0, sizeof *out);
    if (H5Lexists(job, "tasks", H5P_DEFAULT) <= 0)
        return QZ_OK;
    if ((tasks = H5Gopen2(job, "tasks", H5P_DEFAULT)) < 0)
        return QZ_EHDF5;
    if (H5Literate(tasks, H5_INDEX_NAME, H5_ITER_INC, &at, name_cb, &l) < 0 && !l.nomem)
        rc = QZ_EHDF5;
    if (l.nomem)
        rc = QZ_ENOMEM;
    if (rc || l.n == 0)
        goto done;
    /* the first task is the first by its name's bytes, whatever order HDF5 lists them in */
    qsort(l.name, l.n, sizeof *l.name, name_cmp);
    out->tasks = l.n;
    if ((g = H5Gopen2(tasks, l.name[0], H5P_DEFAULT)) < 0)
        goto done;
    if (task_q(g, &out->q, &out->nq))
        rc = qz_h5_read_metrics(g, "metrics", H5I_INVALID_HID, &out->metrics);
    H5Gclose(g);
    if (rc || out->nq == 0)
        goto done;
    /* every task's value at every point (figure k at q i: point k * nq + i), then one
     * exact sum per point: the mean depends on the values only, not on their order */
    points = (out->metrics.n + 1) * out->nq;
    if (!(acc = calloc(points, sizeof *acc))) {
        rc = QZ_ENOMEM;
        goto done;
    }
    out->utility = acc;
    out->metric = acc + out->nq;
    if (points > SIZE_MAX / sizeof *v / l.n || !(v = malloc(points * l.n * sizeof *v)) ||
        !(sum = malloc(sizeof *sum))) {
        rc = QZ_ENOMEM;
        goto done;
    }
    for (size_t t = 0; t < l.n; t++) {
        g = H5Gopen2(tasks, l.name[t], H5P_DEFAULT);
        for (size_t k = 0; k <= out->metrics.n; k++)
            get_curve(g, k ? out->metrics.m[k - 1].name : NULL, out->q, out->nq,
                      v + k * out->nq * l.n + t, l.n);
        if (g >= 0)
            H5Gclose(g);
    }
    for (size_t p = 0; p < points; p++) {
        qz_exactsum_init(sum);
        for (size_t t = 0; t < l.n; t++)
            qz_exactsum_add(sum, v[p * l.n + t]);
        acc[p] = qz_exactsum_value(sum) / (double)l.n;
    }
done:
    free(sum);
    free(v);
    for (size_t i = 0; i < l.n; i++)
        free(l.name[i]);
    free(l.name);
    if (tasks >= 0)
        H5Gclose(tasks);
    return rc;
}

void qz_task_means_free(struct qz_task_means *tm)
{
    free(tm->q);
    free(tm->utility); /* metric points into the same block */
    qz_h5_metrics_free(&tm->metrics);
    memset(tm, 0, sizeof *tm);
}
