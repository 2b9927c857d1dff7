#include "runlist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUN_PATH_MAX 4096

struct walk {
    struct qz_runlist *list;
    const char *prefix; /* "" under /runs, "NAME/tasks/" under a job's tasks */
    int nomem;
};

static int add(struct walk *w, const char *name)
{
    size_t len = strlen(w->prefix) + strlen(name) + 1;
    char **grown = realloc(w->list->name, (w->list->n + 1) * sizeof *grown);
    char *s = malloc(len);

    if (grown)
        w->list->name = grown;
    if (!grown || !s) {
        free(s);
        w->nomem = 1;
        return -1;
    }
    snprintf(s, len, "%s%s", w->prefix, name);
    w->list->name[w->list->n++] = s;
    return 0;
}

static herr_t walk_cb(hid_t parent, const char *name, const H5L_info_t *info, void *data)
{
    struct walk *w = data;
    hid_t run = H5I_INVALID_HID, tasks = H5I_INVALID_HID;
    int has_tasks, is_run;
    herr_t rc = 0;

    if (info->type != H5L_TYPE_HARD)
        return 0;
    if ((run = H5Gopen2(parent, name, H5P_DEFAULT)) < 0)
        return add(w, name); /* not a group: listed, and shown as unreadable */
    has_tasks = H5Lexists(run, "tasks", H5P_DEFAULT) > 0;
    is_run = !has_tasks || H5Aexists(run, "samples") > 0;
    if (is_run && add(w, name) < 0)
        rc = -1;
    if (rc == 0 && has_tasks && (tasks = H5Gopen2(run, "tasks", H5P_DEFAULT)) >= 0) {
        char prefix[RUN_PATH_MAX];
        struct walk inner = {w->list, prefix, 0};
        snprintf(prefix, sizeof prefix, "%s%s/tasks/", w->prefix, name);
        rc = H5Literate(tasks, H5_INDEX_NAME, H5_ITER_INC, NULL, walk_cb, &inner) < 0 ? -1 : 0;
        w->nomem |= inner.nomem;
        H5Gclose(tasks);
    }
    H5Gclose(run);
    return rc;
}

enum qz_status qz_runlist_read(hid_t file, const char *path, struct qz_runlist *list,
                               struct qz_error *err)
{
    struct walk w = {list, "", 0};
    htri_t has_runs = H5Lexists(file, "runs", H5P_DEFAULT);
    hid_t runs;
    herr_t rc;

    list->name = NULL;
    list->n = 0;
    if (has_runs == 0)
        return QZ_OK;
    if (has_runs < 0 || (runs = H5Gopen2(file, "runs", H5P_DEFAULT)) < 0)
        return qz_error_set(err, QZ_EHDF5, "%s: cannot read /runs", path);
    rc = H5Literate(runs, H5_INDEX_NAME, H5_ITER_INC, NULL, walk_cb, &w);
    H5Gclose(runs);
    if (w.nomem)
        return qz_error_set(err, QZ_ENOMEM, "%s: out of memory listing the runs", path);
    if (rc < 0)
        return qz_error_set(err, QZ_EHDF5, "%s: cannot list the runs under /runs", path);
    return QZ_OK;
}

void qz_runlist_filter(struct qz_runlist *list, const char *run, int *found)
{
    size_t len = strlen(run), kept = 0;

    for (size_t i = 0; i < list->n; i++) {
        const char *s = list->name[i];
        if (strcmp(s, run) == 0 ||
            (strncmp(s, run, len) == 0 && strncmp(s + len, "/tasks/", 7) == 0))
            list->name[kept++] = list->name[i];
        else
            free(list->name[i]);
    }
    list->n = kept;
    *found = kept > 0;
}

void qz_runlist_free(struct qz_runlist *list)
{
    for (size_t i = 0; i < list->n; i++)
        free(list->name[i]);
    free(list->name);
    list->name = NULL;
    list->n = 0;
}
