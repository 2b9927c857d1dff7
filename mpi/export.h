/* `quantilize export FILE.h5 --run RUN [--what selected|top|all] [-o OUT.jsonl]`: a
 * run's samples as JSON Lines in the shapes fine-tuning tools read, each line with
 * its §2 weight under the run's quantilized distribution Q (README "Semantics").
 *
 * Local, read-only on the record, serial HDF5; rank 0 calls it. Memory stays bounded
 * whatever N and K are: every dataset is read in blocks. */
#ifndef QZ_EXPORT_H
#define QZ_EXPORT_H

#include <stdio.h>

#include "error.h"

enum qz_export_what {
    QZ_EXPORT_SELECTED, /* the selected sample of each run */
    QZ_EXPORT_TOP,      /* the top set (top/), best first */
    QZ_EXPORT_ALL       /* every archived sample (samples/), in index order */
};

/* Parse "selected", "top" or "all" into *what; QZ_EARGS naming the value otherwise. */
enum qz_status qz_export_parse_what(const char *s, enum qz_export_what *what, struct qz_error *err);

/* Export run `run` of the record file `path` ("NAME" exports every task of a job
 * with tasks, "NAME/tasks/ID" one task) to `out` (a file, replaced atomically: a
 * temporary beside it renamed over it once complete), or to `stdout` when out is
 * NULL. Everything is checked before the first line is written: QZ_EARGS (nothing
 * written) for a missing or foreign file, no such run, a run without what `what`
 * needs (top/, an "all" archive), an output that cannot be written; QZ_EHDF5,
 * QZ_EIO or QZ_ENOMEM while streaming (the output file is then left untouched). */
enum qz_status qz_export(const char *path, const char *run, enum qz_export_what what,
                         const char *out, FILE *stdout_stream, struct qz_error *err);

#endif
