/* Run and task names: one rule for all of them. A run is the HDF5 group /runs/NAME of
 * its record file, a task's run the group /runs/NAME/tasks/ID, and a run's side files
 * are OUT.NAME.* beside the record (sidefile.h), so a name must be a plain group name
 * and a plain part of a file name. All calls are local. */
#ifndef QZ_RUNNAME_H
#define QZ_RUNNAME_H

#include <stddef.h>

#include "error.h"

#define QZ_NAME_MAX 200         /* bytes of a run or task name */
#define QZ_NAME_DERIVE_KEEP 150 /* bytes of a source run kept by qz_name_derive */

/* NULL when `name` is a valid run or task name: 1 to QZ_NAME_MAX bytes, no '/' or
 * control character, not "." or "..". Otherwise what is wrong, as the end of a
 * sentence about the name ("must not contain '/' or control characters"); a static
 * string. */
const char *qz_name_problem(const char *name);

/* A record's run: a run name or, when `nested`, also a task's run NAME/tasks/ID (every
 * '/'-separated part a valid name). QZ_OK, or QZ_EARGS with a message that starts
 * with `file`. */
enum qz_status qz_run_path_check(const char *file, const char *run, int nested,
                                 struct qz_error *err);

/* A run name made from the source run `run` (a run name, or a task's run NAME/tasks/ID)
 * and a printf-style suffix: the first QZ_NAME_DERIVE_KEEP bytes of run, then the
 * suffix, with every '/' replaced by '-' (a task's run NAME/tasks/ID gives
 * NAME-tasks-ID...). Written to out (cap bytes, cut to fit, NUL-terminated); with
 * cap > QZ_NAME_MAX and a short suffix it is a valid name. */
void qz_name_derive(char *out, size_t cap, const char *run, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
