/* `quantilize report FILE.h5 [--run R] [-o OUT.html]`: one self-contained HTML page
 * (inline SVG, no script, no network) per record file.
 *
 * For each run: a table of its key figures (and the safety figures when the record
 * has them), the utility distribution as a histogram with log-scale counts (of the
 * samples/ archive when there is one, read in blocks, else of top/utility) with the
 * threshold and the selected sample marked, and for sweeps mean utility and mean
 * cost against q on a log axis with the bound min(1, E_γ[c]/q). The element ids and
 * classes tests look for are listed in the README. */
#ifndef QZ_REPORT_H
#define QZ_REPORT_H

#include "error.h"

/* Write the report of the record file `path` to `out` (NULL: path without its .h5
 * suffix, plus .html), atomically: a temporary file beside out is renamed over it
 * only when complete. run NULL: every run in the file (tasks of a job included);
 * else only `run` ("NAME" or "NAME/tasks/ID"; a job's name includes its tasks).
 * Local, root only; serial HDF5, read-only on path. Nothing is written on failure:
 * QZ_EARGS for a missing or foreign file, an unknown run, or an out that cannot be
 * written (a directory, a missing directory, the record itself); QZ_EIO when writing
 * fails; QZ_EHDF5, QZ_ENOMEM. Figures a run lacks are left out, not errors. */
enum qz_status qz_report(const char *path, const char *run, const char *out, struct qz_error *err);

#endif
