#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "agree.h"
#include "export.h"
#include "gen_archive.h"
#include "inspect.h"
#include "manage.h"
#include "job.h"
#include "plan.h"
#include "record.h"
#include "report.h"
#include "session.h"

#define QZ_PROGRESS_EVERY 10.0 /* seconds between progress lines in batch logs */

static const char usage[] =
    "usage: quantilize run JOB.json [-o OUT.h5] [--overwrite] [--fresh] [--no-progress]\n"
    "                              [--progress-every SECONDS]\n"
    "       quantilize select FILE.h5 --run RUN --q Q [--seed S] [--name NAME] [-o OUT.h5]\n"
    "                              [--overwrite] [--fresh] [--no-progress]\n"
    "       quantilize inspect OUT.h5 [--json]\n"
    "       quantilize report OUT.h5 [--run RUN] [-o REPORT.html]\n"
    "       quantilize export FILE.h5 --run RUN [--what selected|top|all] [-o OUT.jsonl]\n"
    "       quantilize rm FILE.h5 --run RUN\n"
    "       quantilize pack FILE.h5 -o ONE.h5\n"
    "       quantilize plan JOB.json [--ranks P] [--calibrate SECONDS] [--price IN,OUT]\n"
    "                              [--json]\n"
    "       quantilize --help | --version\n"
    "\n"
    "  run      draw the job's N samples on all MPI ranks (under mpirun or srun, or\n"
    "           alone as one rank), select per the q-quantilizer and add the record\n"
    "           to OUT.h5 (default: the job's output.path, else NAME.h5)\n"
    "           -o OUT.h5          write here instead\n"
    "           --overwrite        replace a run of the same name in OUT.h5\n"
    "           --fresh            delete the run's checkpoint instead of resuming it\n"
    "           --no-progress      show no progress on stderr\n"
    "           --progress-every S seconds between progress lines when stderr is\n"
    "                              not a terminal (default 10)\n"
    "  select   quantilize the archived samples of run RUN (output.archive) again\n"
    "           at q = Q, without drawing: a new run NAME (default RUN-qQ) in\n"
    "           FILE.h5 (or OUT.h5); --seed S selects with seed S instead of RUN's\n"
    "  inspect  print a summary of every run in OUT.h5\n"
    "           --json             as one JSON document, for scripts\n"
    "  report   write a self-contained HTML page (inline SVG plots) of the runs in\n"
    "           OUT.h5: figures, the utility distribution, sweeps over q\n"
    "           --run RUN          only this run (NAME, or NAME/tasks/ID)\n"
    "           -o REPORT.html     write here (default: OUT.html beside OUT.h5)\n"
    "  export   write run RUN's samples as JSON Lines for fine-tuning, each with its\n"
    "           weight under the quantilized distribution (RUN: NAME, every task of\n"
    "           a job with tasks, or NAME/tasks/ID)\n"
    "           --what W           selected (default), top (the top set) or all (the\n"
    "                              archive: every sample)\n"
    "           -o OUT.jsonl       write here, atomically (default: stdout)\n"
    "  rm       remove run RUN (NAME, a job with all its tasks, or NAME/tasks/ID)\n"
    "           from FILE.h5 and delete its run file\n"
    "  pack     write FILE.h5 with every run copied in as one self-contained file\n"
    "  plan     before a run: N, K, chunks, memory per rank, archive size, a model\n"
    "           server's requests and tokens, time, a Slurm limit; writes nothing\n"
    "           --ranks P          for P ranks (default 1)\n"
    "           --calibrate S      measure the rate: draw for about S seconds\n"
    "           --price IN,OUT     the cost at these prices per 1k prompt and\n"
    "                              completion tokens\n"
    "           --json             as one JSON object, for scripts\n"
    "\n"
    "  A run resumes from its checkpoint (OUT.h5.NAME.ckpt unless the job's\n"
    "  checkpoint.path says otherwise) by itself. On SIGUSR1 or SIGTERM it writes a\n"
    "  checkpoint and stops with exit status 75 (before the first sample is drawn:\n"
    "  without a checkpoint, or leaving the one it resumes unchanged).\n"
    "\n"
    "exit status: 0 success, 1 run-time failure, 2 bad job, bad arguments or a\n"
    "             checkpoint of another job, 75 checkpointed on a signal: run again\n";

struct run_args {
    const char *job; /* select: the archive's file */
    const char *run; /* select: --run, --q, --seed, --name */
    double q;
    int has_q;
    uint64_t seed;
    int has_seed;
    const char *name;
    const char *out;
    int overwrite;
    int fresh;
    int progress;
    double progress_every;
};

static int is_root(void)
{
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return rank == 0;
}

/* Print err on rank 0 and return the exit status for code. */
static int fail(enum qz_status code, const struct qz_error *err)
{
    if (is_root())
        fprintf(stderr, "quantilize: %s\n", err->msg[0] ? err->msg : qz_strerror(code));
    return qz_exit_status(code);
}

/* select's own options; 0 when arg is not one of them. */
static int parse_select_option(int argc, char **argv, int *i, struct run_args *a,
                               enum qz_status *rc, struct qz_error *err)
{
    const char *arg = argv[*i];
    char *end;

    if (strcmp(arg, "--run") != 0 && strcmp(arg, "--q") != 0 && strcmp(arg, "--seed") != 0 &&
        strcmp(arg, "--name") != 0)
        return 0;
    if (++*i == argc) {
        *rc = qz_error_set(err, QZ_EARGS, "select: %s needs a value", arg);
        return 1;
    }
    if (strcmp(arg, "--run") == 0)
        a->run = argv[*i];
    else if (strcmp(arg, "--name") == 0)
        a->name = argv[*i];
    else if (strcmp(arg, "--q") == 0) {
        a->q = strtod(argv[*i], &end);
        a->has_q = 1;
        if (*end || !(a->q > 0 && a->q <= 1))
            *rc =
                qz_error_set(err, QZ_EARGS, "select: --q: must be in (0, 1], got \"%s\"", argv[*i]);
    } else {
        unsigned long long v = strtoull(argv[*i], &end, 10);
        a->seed = v;
        a->has_seed = 1;
        if (*end || argv[*i][0] == '-' || !argv[*i][0] || (double)v > QZ_SAMPLES_MAX)
            *rc = qz_error_set(err, QZ_EARGS,
                               "select: --seed: must be an integer from 0 to 2^53, got \"%s\"",
                               argv[*i]);
    }
    return 1;
}

static enum qz_status parse_run_args(int argc, char **argv, struct run_args *a,
                                     struct qz_error *err)
{
    const char *cmd = argv[1];
    int select = strcmp(cmd, "select") == 0;
    enum qz_status rc = QZ_OK;

    memset(a, 0, sizeof *a);
    a->progress = 1;
    a->progress_every = QZ_PROGRESS_EVERY;
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        if (select && parse_select_option(argc, argv, &i, a, &rc, err)) {
            if (rc)
                return rc;
        } else if (strcmp(arg, "-o") == 0 || strcmp(arg, "--output") == 0) {
            if (++i == argc)
                return qz_error_set(err, QZ_EARGS, "%s needs a file name", arg);
            a->out = argv[i];
        } else if (strcmp(arg, "--overwrite") == 0) {
            a->overwrite = 1;
        } else if (strcmp(arg, "--fresh") == 0) {
            a->fresh = 1;
        } else if (strcmp(arg, "--no-progress") == 0) {
            a->progress = 0;
        } else if (strcmp(arg, "--progress-every") == 0) {
            char *end;
            if (++i == argc)
                return qz_error_set(err, QZ_EARGS, "%s needs a number of seconds", arg);
            a->progress_every = strtod(argv[i], &end);
            if (*end || !(a->progress_every > 0) || !isfinite(a->progress_every))
                return qz_error_set(err, QZ_EARGS,
                                    "--progress-every: must be a positive number, got \"%s\"",
                                    argv[i]);
        } else if (arg[0] == '-') {
            return qz_error_set(err, QZ_EARGS, "%s: unknown option \"%s\" (see --help)", cmd, arg);
        } else if (!a->job) {
            a->job = arg;
        } else {
            return qz_error_set(err, QZ_EARGS, "%s: more than one %s (\"%s\", \"%s\")", cmd,
                                select ? "file" : "job file", a->job, arg);
        }
    }
    if (!a->job)
        return qz_error_set(err, QZ_EARGS, "%s: missing %s (see --help)", cmd,
                            select ? "FILE.h5" : "JOB.json");
    if (select && !a->run)
        return qz_error_set(err, QZ_EARGS, "select: missing --run RUN (see --help)");
    if (select && !a->has_q)
        return qz_error_set(err, QZ_EARGS, "select: missing --q Q (see --help)");
    return QZ_OK;
}

/* run and select: load the job (from JOB.json, or build it from the archive's run),
 * then run its session. */
static int cmd_run(int argc, char **argv)
{
    struct qz_error err = {QZ_OK, ""};
    struct run_args a;
    struct qz_job job;
    int select = strcmp(argv[1], "select") == 0;
    enum qz_status rc;

    memset(&job, 0, sizeof job);
    if ((rc = parse_run_args(argc, argv, &a, &err)))
        return fail(rc, &err);
    if (select) {
        struct qz_archive_select sel = {a.job, a.run, a.q, a.has_seed, a.seed, a.name};
        rc = qz_gen_archive_job(&sel, &job, &err);
    } else {
        rc = qz_job_load(a.job, &job, &err);
    }
    /* A stop request while the job loaded (a server probe) ends the run here. */
    if ((rc = qz_session_startup_stop(
             rc, select ? "while reading the archive's run" : "while loading the job", NULL, &err)))
        return fail(rc, &err);
    {
        struct qz_session_args sa = {a.out,
                                     a.overwrite,
                                     a.fresh,
                                     a.progress,
                                     a.progress_every,
                                     select ? a.job : NULL,
                                     select ? a.run : NULL};
        rc = qz_session_run(&job, &sa, &err);
    }
    return rc ? fail(rc, &err) : 0;
}

static int cmd_inspect(int argc, char **argv)
{
    struct qz_error err = {QZ_OK, ""};
    enum qz_status rc = QZ_OK;
    const char *file = NULL;
    int json = 0;

    for (int i = 2; i < argc && rc == QZ_OK; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (argv[i][0] == '-')
            rc = qz_error_set(&err, QZ_EARGS, "inspect: unknown option \"%s\" (see --help)",
                              argv[i]);
        else if (!file)
            file = argv[i];
        else
            rc = qz_error_set(&err, QZ_EARGS, "inspect: expected one file (see --help)");
    }
    if (rc == QZ_OK && !file)
        rc = qz_error_set(&err, QZ_EARGS, "inspect: expected one file (see --help)");
    if (rc == QZ_OK && is_root())
        rc = json ? qz_inspect_json(file, stdout, &err) : qz_inspect(file, stdout, &err);
    rc = qz_agree(MPI_COMM_WORLD, rc, &err);
    return rc ? fail(rc, &err) : 0;
}

static int cmd_report(int argc, char **argv)
{
    struct qz_error err = {QZ_OK, ""};
    enum qz_status rc = QZ_OK;
    const char *file = NULL, *run = NULL, *out = NULL;

    for (int i = 2; i < argc && rc == QZ_OK; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-o") == 0 || strcmp(arg, "--output") == 0 || strcmp(arg, "--run") == 0) {
            if (++i == argc)
                rc = qz_error_set(&err, QZ_EARGS, "report: %s needs %s", arg,
                                  strcmp(arg, "--run") ? "a file name" : "a run name");
            else if (strcmp(arg, "--run") == 0)
                run = argv[i];
            else
                out = argv[i];
        } else if (arg[0] == '-') {
            rc = qz_error_set(&err, QZ_EARGS, "report: unknown option \"%s\" (see --help)", arg);
        } else if (!file) {
            file = arg;
        } else {
            rc = qz_error_set(&err, QZ_EARGS, "report: more than one record file (\"%s\", \"%s\")",
                              file, arg);
        }
    }
    if (rc == QZ_OK && !file)
        rc = qz_error_set(&err, QZ_EARGS, "report: missing OUT.h5 (see --help)");
    if (rc == QZ_OK && is_root())
        rc = qz_report(file, run, out, &err);
    rc = qz_agree(MPI_COMM_WORLD, rc, &err);
    return rc ? fail(rc, &err) : 0;
}

static int cmd_export(int argc, char **argv)
{
    struct qz_error err = {QZ_OK, ""};
    enum qz_status rc = QZ_OK;
    enum qz_export_what what = QZ_EXPORT_SELECTED;
    const char *file = NULL, *run = NULL, *out = NULL;

    for (int i = 2; i < argc && rc == QZ_OK; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-o") == 0 || strcmp(arg, "--output") == 0 || strcmp(arg, "--run") == 0 ||
            strcmp(arg, "--what") == 0) {
            if (++i == argc)
                rc = qz_error_set(&err, QZ_EARGS, "export: %s needs a value", arg);
            else if (strcmp(arg, "--run") == 0)
                run = argv[i];
            else if (strcmp(arg, "--what") == 0)
                rc = qz_export_parse_what(argv[i], &what, &err);
            else
                out = argv[i];
        } else if (arg[0] == '-') {
            rc = qz_error_set(&err, QZ_EARGS, "export: unknown option \"%s\" (see --help)", arg);
        } else if (!file) {
            file = arg;
        } else {
            rc = qz_error_set(&err, QZ_EARGS, "export: more than one record file (\"%s\", \"%s\")",
                              file, arg);
        }
    }
    if (rc == QZ_OK && !file)
        rc = qz_error_set(&err, QZ_EARGS, "export: missing FILE.h5 (see --help)");
    if (rc == QZ_OK && !run)
        rc = qz_error_set(&err, QZ_EARGS, "export: missing --run RUN (see --help)");
    if (rc == QZ_OK && is_root())
        rc = qz_export(file, run, what, out, stdout, &err);
    rc = qz_agree(MPI_COMM_WORLD, rc, &err);
    return rc ? fail(rc, &err) : 0;
}

/* rm FILE --run RUN, pack FILE -o OUT. */
static int cmd_manage(int argc, char **argv)
{
    struct qz_error err = {QZ_OK, ""};
    enum qz_status rc = QZ_OK;
    int rm = strcmp(argv[1], "rm") == 0;
    const char *file = NULL, *value = NULL, *want = rm ? "--run" : "-o";

    for (int i = 2; i < argc && rc == QZ_OK; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, want) == 0 || (!rm && strcmp(arg, "--output") == 0)) {
            if (++i == argc)
                rc = qz_error_set(&err, QZ_EARGS, "%s: %s needs a value", argv[1], arg);
            else
                value = argv[i];
        } else if (arg[0] == '-') {
            rc = qz_error_set(&err, QZ_EARGS, "%s: unknown option \"%s\" (see --help)", argv[1],
                              arg);
        } else if (!file) {
            file = arg;
        } else {
            rc = qz_error_set(&err, QZ_EARGS, "%s: more than one record file (\"%s\", \"%s\")",
                              argv[1], file, arg);
        }
    }
    if (rc == QZ_OK && (!file || !value))
        rc = qz_error_set(&err, QZ_EARGS, "%s: expected FILE.h5 %s %s (see --help)", argv[1], want,
                          rm ? "RUN" : "ONE.h5");
    if (rc == QZ_OK && is_root())
        rc = rm ? qz_manage_rm(file, value, &err) : qz_manage_pack(file, value, &err);
    rc = qz_agree(MPI_COMM_WORLD, rc, &err);
    return rc ? fail(rc, &err) : 0;
}

int qz_cli_stoppable(int argc, char **argv)
{
    return argc > 1 && (strcmp(argv[1], "run") == 0 || strcmp(argv[1], "select") == 0);
}

int qz_cli_main(int argc, char **argv)
{
    struct qz_error err = {QZ_OK, ""};
    const char *cmd = argc > 1 ? argv[1] : NULL;

    if (cmd && (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0)) {
        if (is_root())
            fputs(usage, stdout);
        return 0;
    }
    if (cmd && strcmp(cmd, "--version") == 0) {
        if (is_root())
            printf("quantilize %s\n", QZ_VERSION);
        return 0;
    }
    if (cmd && strcmp(cmd, "run") == 0)
        return cmd_run(argc, argv);
    if (cmd && strcmp(cmd, "inspect") == 0)
        return cmd_inspect(argc, argv);
    if (cmd && strcmp(cmd, "select") == 0)
        return cmd_run(argc, argv);
    if (cmd && strcmp(cmd, "report") == 0)
        return cmd_report(argc, argv);
    if (cmd && strcmp(cmd, "export") == 0)
        return cmd_export(argc, argv);
    if (cmd && (strcmp(cmd, "rm") == 0 || strcmp(cmd, "pack") == 0))
        return cmd_manage(argc, argv);
    if (cmd && strcmp(cmd, "plan") == 0)
        return qz_plan_main(argc, argv);
    if (!cmd && is_root())
        fputs(usage, stderr);
    if (cmd)
        qz_error_set(&err, QZ_EARGS, "unknown command \"%s\" (see --help)", cmd);
    else
        qz_error_set(&err, QZ_EARGS, "missing command");
    return fail(QZ_EARGS, &err);
}
