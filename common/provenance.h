/* Provenance: what a reviewer needs to reproduce a run and trust its record: where it
 * ran, the source revision and compiler of the binary, the library versions loaded
 * at run time, which draw kernel ran, and the SHA-256 of every file that decided the
 * samples (job, tasks, plugin libraries, exec programs). Filled by the root before
 * the record is written; mpi/provenance.h adds what needs MPI or HDF5 (host count,
 * MPI and HDF5 versions). A field that does not apply (a `select` run has no job
 * file) stays empty and is left out of the record, never faked. */
#ifndef QZ_PROVENANCE_H
#define QZ_PROVENANCE_H

#include <cjson/cJSON.h>

#include "job.h"
#include "sha256.h"

#define QZ_PROVENANCE_TEXT 256 /* room for a host name or a version line */

struct qz_provenance {
    char host[QZ_PROVENANCE_TEXT]; /* host name of rank 0 */
    int hosts;                     /* distinct hosts among the ranks; 0 unknown */
    const char *revision;          /* `git describe --always --dirty` at build time */
    const char *compiler;          /* "gcc 12.2.0" */
    char mpi[QZ_PROVENANCE_TEXT];  /* the MPI library's version, first line */
    char hdf5[QZ_PROVENANCE_TEXT]; /* the HDF5 library's version */
    const char *curl;              /* the libcurl loaded */
    const char *cjson;             /* the cJSON loaded */
    const char *glibc;             /* the C library loaded; NULL when not glibc */
    const char *draw_kernel;       /* "avx512", "avx2" or "portable" */
    char job_sha256[QZ_SHA256_HEX];
    char tasks_sha256[QZ_SHA256_HEX];
    char generator_sha256[QZ_SHA256_HEX]; /* plugin library, or exec program */
    char utility_sha256[QZ_SHA256_HEX];
    char cost_sha256[QZ_SHA256_HEX];
};

/* Fill what needs neither MPI nor HDF5 (everything but host, hosts, mpi and hdf5):
 * build facts, library versions, the draw kernel, the digests of the job and tasks
 * files taken when the job was loaded (none for a job built in memory, as for
 * `select`), and of the program or plugin library of the job's generator, utility and
 * cost (kinds "exec": command[0] resolved through PATH as execvp does; "plugin":
 * path). A file that cannot be read is left out with a warning (qz_warn). Local;
 * call it on the root. */
void qz_provenance_local(struct qz_provenance *p, const struct qz_job *job);

/* Where execvp would find `program`: itself when it holds a '/', else the first
 * executable regular file PATH/program (PATH unset: /bin:/usr/bin). Malloc'd; NULL
 * when not found or out of memory. */
char *qz_provenance_which(const char *program);

#endif
