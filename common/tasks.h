/* Tasks: one job quantilizing many prompts. The job's `tasks` field names a JSONL file;
 * each line {"id": ..., "prompt": ...} (or "messages" for chat) is one independent
 * quantilization with its own record under /runs/<run>/tasks/<id>/. Local. */
#ifndef QZ_TASKS_H
#define QZ_TASKS_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "sha256.h"

#include "error.h"
#include "jsonv.h"
#include "scorer.h"

#define QZ_TASKS_MAX 100000
#define QZ_TASK_REFS_MAX 1000   /* reference answers on one line */
#define QZ_TASK_REF_BYTES 65536 /* bytes of one reference answer */

struct qz_tasks {
    size_t n;
    cJSON **line;   /* the parsed lines (owned); line[t] has "id" and the prompt fields */
    size_t *lineno; /* the line of the file task t was read from (from 1) */
    char *path;     /* the file as opened (owned) */
    char sha256[QZ_SHA256_HEX]; /* SHA-256 of the file's bytes as read (hex) */
};

/* Read and check the JSONL file `path` (relative paths are taken from the directory of
 * the job file `job_file`). `at` names the job's tasks field. Errors name the file,
 * line and field: `prompts.jsonl:3: id: must be 1 to 200 characters, got ""`. */
enum qz_status qz_tasks_load(struct qz_tasks *t, const char *path, const char *job_file,
                             const struct qz_jv *at, struct qz_error *err);
void qz_tasks_free(struct qz_tasks *t);

/* The id of task i. */
const char *qz_task_id(const struct qz_tasks *t, size_t i);

/* A copy of the generator spec with task i's prompt fields in place of the job's
 * (and "probe": false unless i == 0: the server was probed once). Caller deletes. */
cJSON *qz_task_generator(const struct qz_tasks *t, size_t i, const cJSON *spec);

/* A copy of the scorer spec `spec` for task i: for a scorer that scores against a
 * reference answer (ops->needs_reference), with the task line's "reference" in place of
 * the spec's when the line has one; other scorers' specs are copied as they are. Caller deletes;
 * NULL when out of memory. */
cJSON *qz_task_scorer(const struct qz_tasks *t, size_t i, const cJSON *spec);

/* Open sc for task i: the spec of qz_task_scorer, named by `at` (e.g. "utility"). */
enum qz_status qz_task_score_open(struct qz_score *sc, const struct qz_tasks *t, size_t i,
                                  const cJSON *spec, const struct qz_jv *at, struct qz_error *err);

/* Check, before it is opened for any task, the scorer spec `spec` named by `at` (e.g.
 * "utility" of the job file) in a job with tasks t. A kind that scores against a
 * reference answer (needs_reference) must find one on every tasks line or in spec: else
 * the error names the first line without. Each line's reference is checked by opening
 * that task's scorer (errors name the line: `prompts.jsonl:3: reference: ...`), the
 * spec's other fields once (errors name `at`). Other kinds are left to the caller. */
enum qz_status qz_tasks_check_scorer(const struct qz_tasks *t, const cJSON *spec,
                                     const struct qz_jv *at, struct qz_error *err);

/* Task i's seed, derived from the job's: tasks are independent quantilizations. */
uint64_t qz_task_seed(uint64_t job_seed, size_t i);

#endif
