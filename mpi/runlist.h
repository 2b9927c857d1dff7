/* The runs of a record file, for its readers (inspect --json, report): every group
 * /runs/NAME, and every task /runs/NAME/tasks/ID of a job with tasks, each named by
 * its path under /runs ("NAME" or "NAME/tasks/ID").
 *
 * Local, read-only, serial HDF5; the file is opened by the caller (qz_output_open). */
#ifndef QZ_RUNLIST_H
#define QZ_RUNLIST_H

#include <stddef.h>

#include <hdf5.h>

#include "error.h"

struct qz_runlist {
    char **name; /* malloc'd paths under /runs, in name order, tasks after their job */
    size_t n;
};

/* List the runs of the open record file `file` (`path` names it in messages) into
 * *list, which the caller frees with qz_runlist_free (also after a failure). A group
 * with tasks/ and no `samples` attribute (a job with tasks) is not a run itself: only
 * its tasks are listed, as `inspect` shows them. No /runs is an empty list. QZ_EHDF5
 * when the groups cannot be walked, QZ_ENOMEM. */
enum qz_status qz_runlist_read(hid_t file, const char *path, struct qz_runlist *list,
                               struct qz_error *err);

/* Keep only the runs named `run` or below it (`run`/tasks/...): *found says whether
 * any was. Local, no HDF5. */
void qz_runlist_filter(struct qz_runlist *list, const char *run, int *found);

void qz_runlist_free(struct qz_runlist *list);

#endif
