/* The runs of a record file, for its readers (inspect, inspect --json, report, export)
 * and its writers (adding, rm, pack): every group /runs/NAME, and every task
 * /runs/NAME/tasks/ID of a job with tasks, each named by its path under /runs ("NAME"
 * or "NAME/tasks/ID").
 *
 * A run is either inline (a group in the record file: records of format version 1, and
 * packed files) or an HDF5 external link to a run file (README "The record"): file[i]
 * then holds the link's file name as stored (relative to the record's directory) and
 * obj[i] the object's path in it.
 *
 * The walk is bounded: a group met twice (a soft or hard link back up, e.g.
 * /runs/x/tasks -> /runs) is not entered again, with a warning, nor is anything deeper
 * than QZ_RUNLIST_DEPTH levels.
 *
 * Local, read-only, serial HDF5; the file is opened by the caller (qz_output_open). */
#ifndef QZ_RUNLIST_H
#define QZ_RUNLIST_H

#include <stddef.h>

#include <hdf5.h>

#include "error.h"

#define QZ_RUNLIST_DEPTH 16

struct qz_runlist {
    char **name; /* malloc'd paths under /runs, in name order, tasks after their job */
    char **file; /* per run: the external link's file name, NULL for an inline run */
    char **obj;  /* per run: the external link's object path, NULL for an inline run */
    size_t n;
};

/* List the runs of the open record file `file` (`path` names it in messages) into
 * *list, which the caller frees with qz_runlist_free (also after a failure). A group
 * with tasks/ and no `samples` attribute (a job with tasks) is not a run itself: only
 * its tasks are listed, as `inspect` shows them. No /runs is an empty list. QZ_EHDF5
 * when the groups cannot be walked, QZ_ENOMEM. */
enum qz_status qz_runlist_read(hid_t file, const char *path, struct qz_runlist *list,
                               struct qz_error *err);

/* Check that every linked run of list can be opened through the record `file` and
 * lies in a quantilize run file: QZ_EARGS with one message naming the run and the
 * file ("linked file ... is missing", "... is not a quantilize run file"). Call it
 * with HDF5 error printing silenced. */
enum qz_status qz_runlist_check(hid_t file, const char *path, const struct qz_runlist *list,
                                struct qz_error *err);

/* qz_runlist_read (without its warnings) then qz_runlist_check: for qz_output_open. */
enum qz_status qz_runlist_verify(hid_t file, const char *path, struct qz_error *err);

/* Keep only the runs named `run` or below it (`run`/tasks/...): *found says whether
 * any was. Local, no HDF5. */
void qz_runlist_filter(struct qz_runlist *list, const char *run, int *found);

/* Move from all to *dropped (which the caller frees with qz_runlist_free) the runs
 * named `run` or below it, a run that `run` lies below, and with `also` the runs
 * named `also` or below it; the others stay in all, in order. -1 when out of memory. */
int qz_runlist_split(struct qz_runlist *all, const char *run, const char *also,
                     struct qz_runlist *dropped);

/* Whether the run `name` is `run` or lies below it (`run`/tasks/...). */
int qz_runlist_under(const char *name, const char *run);

void qz_runlist_free(struct qz_runlist *list);

#endif
