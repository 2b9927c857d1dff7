/* The run's phases (mpi/draw.h, mpi/selection.h, mpi/gather.h) driven directly, with
 * a built-in generator and the job parsed from a string: no job file, no record.
 * Under mpirun at 1 and 3 ranks; every rank also runs the same job alone on
 * MPI_COMM_SELF, and the results must be the same bits:
 *
 *   - a fresh run on all ranks and on MPI_COMM_SELF: the whole top set, threshold,
 *     selected entry, boundary ties, E_Q means and the exact cost sums; the selected
 *     sample's value (gathered from the rank that drew it) is the generator's value;
 *   - a checkpoint at every meeting (several meetings, so the schedule grows the
 *     intervals), and a run resumed from the last one, written at another rank count;
 *   - K above the gather limit: distributed selection and the top set's slices;
 *   - a stop request (SIGUSR1 on rank 0): every rank stops with QZ_ESTOPPED after a
 *     checkpoint, and runs resumed again and again until done give the same result;
 *   - a generator that can be interrupted (chunk_hint) returning QZ_EOUTAGE in the
 *     middle of an interval on whichever rank draws sample OUTAGE_AT: every rank rolls
 *     back to the interval's start (top set, counters, exact cost sums, payloads),
 *     checkpoints and returns QZ_EOUTAGE with the generator's message; resumed, the run
 *     is the undisturbed one and counts the discarded samples in samples_redone.
 *     Without a checkpoint path the same outage is an error (QZ_EIO).
 *
 * Usage: mpirun -n R test_draw */
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mpi.h>

#include "agree.h"
#include "checkpoint.h"
#include "draw.h"
#include "error.h"
#include "gather.h"
#include "interrupt.h"
#include "job.h"
#include "run.h"
#include "selection.h"

#include "mpicheck.h"

static int size;
static int outage_armed; /* the wrapped generator fails at OUTAGE_AT (below) */

/* 200 chunks of 1000: a mixture with a component cost, K = 2000 at q = 0.01. The
 * utility is the value, or the component cost (then the selected sample's value is
 * not its utility, and travels as a payload). */
static const char job_text[] =
    "{\"name\": \"draw\", \"seed\": 7, \"q\": 0.01, \"samples\": 200000, \"chunk_size\": 1000,"
    " \"generator\": {\"kind\": \"mixture\", \"components\": ["
    "   {\"weight\": 0.99, \"cost\": 0, \"generator\": {\"kind\": \"normal\", \"mean\": 0,"
    "    \"stddev\": 1}},"
    "   {\"weight\": 0.01, \"cost\": 1, \"generator\": {\"kind\": \"normal\", \"mean\": 2,"
    "    \"stddev\": 1}}]},"
    " \"utility\": {\"kind\": \"%s\"}, \"cost\": {\"kind\": \"component\"},"
    " \"output\": {\"top_gather_limit\": %d}}";

/* What a run found, the same on every rank of its communicator. */
struct outcome {
    enum qz_status rc;
    char msg[QZ_ERROR_MSG_MAX];
    struct qz_run_figures fig;
    struct qz_entry *top; /* the whole top set, best first (top_count entries) */
    double value;         /* the selected sample's value, as gathered */
};

static void outcome_free(struct outcome *o)
{
    free(o->top);
    memset(o, 0, sizeof *o);
}

static int same_entry(const struct qz_entry *a, const struct qz_entry *b)
{
    return memcmp(a, b, sizeof *a) == 0;
}

static int same_bits(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

static void load(struct qz_job *job, const char *utility, int gather_limit)
{
    char text[sizeof job_text + 64];
    struct qz_error err = {QZ_OK, ""};
    snprintf(text, sizeof text, job_text, utility, gather_limit);
    if (qz_job_parse(text, "test_draw", job, &err) != QZ_OK) {
        fprintf(stderr, "rank %d: the test job does not parse: %s\n", rank, err.msg);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
}

/* Collective over comm: every phase of one run; on success o->top holds the whole
 * top set on every rank of comm (gathered on the root, or put together from the
 * slices), for comparisons. */
static void run(MPI_Comm comm, const struct qz_job *job, const char *ckpt, double every,
                struct outcome *o)
{
    struct qz_run_options opt = {NULL, 10.0, ckpt, every, 0, 0, NULL, "draw"};
    struct qz_error err = {QZ_OK, ""};
    struct qz_run r;
    int crank, csize;

    CHECK(qz_job_hash(job, &opt.job_hash, &err) == QZ_OK);

    MPI_Comm_rank(comm, &crank);
    MPI_Comm_size(comm, &csize);
    memset(o, 0, sizeof *o);
    o->rc = qz_draw_resume(comm, job, &opt, &r, &err);
    if (o->rc == QZ_OK)
        o->rc = qz_draw(comm, job, &opt, &r, &err);
    if (o->rc == QZ_OK)
        o->rc = qz_select_global(comm, job, &r, &err);
    if (o->rc == QZ_OK)
        o->rc = qz_gather_payloads(comm, job, &r, &err);
    if (o->rc == QZ_OK) {
        uint64_t k = r.fig.top_count;
        o->fig = r.fig;
        o->value = r.root.selected_value;
        MPI_Bcast(&o->value, 1, MPI_DOUBLE, 0, comm);
        o->top = calloc(k, sizeof *o->top);
        if (r.fig.gathered && crank == 0) {
            CHECK(r.root.top_n == k);
            memcpy(o->top, r.root.top, k * sizeof *o->top);
        } else if (!r.fig.gathered) {
            /* The slices tile the top set: each rank's at its offset. */
            CHECK(r.slice.offset == k * (uint64_t)crank / (uint64_t)csize);
            CHECK(r.slice.n == k * (uint64_t)(crank + 1) / (uint64_t)csize - r.slice.offset);
            for (size_t i = 0; i < r.slice.n; i++)
                o->top[r.slice.offset + i] = r.slice.e[i];
            MPI_Allreduce(MPI_IN_PLACE, o->top, (int)(k * sizeof *o->top / sizeof(uint64_t)),
                          MPI_UINT64_T, MPI_BOR, comm);
        }
        if (r.fig.gathered)
            MPI_Bcast(o->top, (int)(k * sizeof *o->top), MPI_BYTE, 0, comm);
    } else if (o->rc != QZ_ESTOPPED && o->rc != QZ_EOUTAGE && !outage_armed) {
        fprintf(stderr, "rank %d: run failed: %s\n", rank, err.msg);
    }
    snprintf(o->msg, sizeof o->msg, "%s", err.msg);
    if (o->rc == QZ_ESTOPPED)
        CHECK(strstr(err.msg, rank == 0 ? "stopped by SIGUSR1" : "a signal to another rank") !=
              NULL);
    qz_run_free(&r);
}

/* The two outcomes are the same run: same top set and figures, bit for bit. */
static void check_same(const struct outcome *a, const struct outcome *b)
{
    CHECK(a->rc == QZ_OK && b->rc == QZ_OK);
    if (a->rc || b->rc)
        return;
    CHECK(a->fig.samples == b->fig.samples && a->fig.valid == b->fig.valid);
    CHECK(a->fig.top_count == b->fig.top_count);
    CHECK(a->fig.top_count && memcmp(a->top, b->top, a->fig.top_count * sizeof *a->top) == 0);
    CHECK(same_entry(&a->fig.threshold, &b->fig.threshold));
    CHECK(same_entry(&a->fig.selected, &b->fig.selected));
    CHECK(a->fig.selected_position == b->fig.selected_position);
    CHECK(a->fig.boundary_ties == b->fig.boundary_ties);
    CHECK(same_bits(a->fig.utility_q_mean, b->fig.utility_q_mean));
    CHECK(same_bits(a->fig.cost_q_mean, b->fig.cost_q_mean));
    CHECK(same_bits(a->fig.cost_base_mean, b->fig.cost_base_mean));
    CHECK(same_bits(a->fig.cost_base_stderr, b->fig.cost_base_stderr));
    CHECK(same_bits(a->value, b->value));
}

/* The generator of cjob wrapped: it can be interrupted (chunk_hint), and while
 * outage_armed its draw of a batch holding sample OUTAGE_AT fails with QZ_EOUTAGE. */
#define OUTAGE_AT 150500
static struct qz_generator_ops outage_ops;
static enum qz_status (*real_draw)(struct qz_generator *, uint64_t, size_t, struct qz_batch *,
                                   struct qz_error *);

static enum qz_status outage_draw(struct qz_generator *g, uint64_t first, size_t n,
                                  struct qz_batch *out, struct qz_error *err)
{
    if (outage_armed && first <= OUTAGE_AT && OUTAGE_AT < first + n)
        return qz_error_set(err, QZ_EOUTAGE, "generator: every server is down (test)");
    return real_draw(g, first, n, out, err);
}

static uint64_t outage_hint(const struct qz_generator *g)
{
    (void)g;
    return 1000;
}

/* A temporary directory, the same name on every rank (rank 0 makes it). */
static void make_dir(char *dir, size_t len)
{
    snprintf(dir, len, "/tmp/qz_test_draw.XXXXXX");
    if (rank == 0 && !mkdtemp(dir)) {
        perror("mkdtemp");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    MPI_Bcast(dir, (int)len, MPI_CHAR, 0, MPI_COMM_WORLD);
}

int main(int argc, char **argv)
{
    struct qz_job job, dist, cjob;
    struct outcome world, self, resumed, split, stopped;
    char dir[64], ckpt[128], self_ckpt[128], cself_ckpt[128];
    struct qz_batch b;
    struct qz_error err = {QZ_OK, ""};
    int sessions = 0, all;

    memset(&stopped, 0, sizeof stopped);
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    make_dir(dir, sizeof dir);
    snprintf(ckpt, sizeof ckpt, "%s/world.ckpt", dir);
    snprintf(self_ckpt, sizeof self_ckpt, "%s/self%d.ckpt", dir, rank);
    snprintf(cself_ckpt, sizeof cself_ckpt, "%s/cself%d.ckpt", dir, rank);
    load(&job, "value", 1000000);
    load(&dist, "value", 100);
    load(&cjob, "component", 1000000);

    /* Fresh, on all ranks and alone: the same run. K = 2000 of N = 200000. */
    run(MPI_COMM_WORLD, &job, NULL, 0, &world);
    run(MPI_COMM_SELF, &job, NULL, 0, &self);
    check_same(&world, &self);
    CHECK(world.fig.top_count == 2000 && world.fig.gathered);
    CHECK(world.fig.checkpoints == 0 && world.fig.resumes == 0);
    /* The gathered value is the generator's own for that sample. */
    CHECK(qz_batch_init(&b, 1, &err) == QZ_OK);
    CHECK(job.gen.ops->draw(job.gen.state, world.fig.selected.index, 1, &b, &err) == QZ_OK);
    CHECK(same_bits(b.value[0], world.value));
    CHECK(b.value[0] == world.fig.selected.utility); /* utility "value" */
    qz_batch_free(&b);

    /* The utility is not the value: the selected value comes from the rank that drew
     * it, through a checkpoint written by one rank and resumed by all. */
    run(MPI_COMM_SELF, &cjob, cself_ckpt, 1e-9, &split);
    CHECK(split.fig.checkpoints >= 3);
    if (rank == 0 && rename(cself_ckpt, ckpt) != 0)
        perror("rename");
    MPI_Barrier(MPI_COMM_WORLD);
    run(MPI_COMM_WORLD, &cjob, ckpt, 0, &resumed);
    check_same(&split, &resumed);
    CHECK(resumed.fig.resumes == 1);
    CHECK(qz_batch_init(&b, 1, &err) == QZ_OK);
    CHECK(cjob.gen.ops->draw(cjob.gen.state, resumed.fig.selected.index, 1, &b, &err) == QZ_OK);
    CHECK(same_bits(b.value[0], resumed.value));
    CHECK(resumed.value != resumed.fig.selected.utility);
    qz_batch_free(&b);
    outcome_free(&split);
    outcome_free(&resumed);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0)
        remove(ckpt);

    /* A checkpoint at every meeting but the last: several meetings, as the schedule
     * grows each interval at most 4-fold from one chunk per rank. The last one is
     * left, mid-run; resumed alone and on all ranks, it gives the same run. */
    run(MPI_COMM_SELF, &job, self_ckpt, 1e-9, &split);
    check_same(&world, &split);
    CHECK(split.fig.checkpoints >= 3);
    outcome_free(&split);
    run(MPI_COMM_SELF, &job, self_ckpt, 0, &resumed);
    check_same(&world, &resumed);
    CHECK(resumed.fig.resumes == 1);
    CHECK(resumed.fig.resumed_samples > 0 && resumed.fig.resumed_samples < 200000);
    outcome_free(&resumed);
    /* Written by one rank, resumed by all (rank 0's checkpoint). */
    if (rank == 0 && rename(self_ckpt, ckpt) != 0)
        perror("rename");
    MPI_Barrier(MPI_COMM_WORLD);
    run(MPI_COMM_WORLD, &job, ckpt, 0, &resumed);
    check_same(&world, &resumed);
    CHECK(resumed.fig.resumes == 1 && resumed.fig.checkpoints >= 3);
    outcome_free(&resumed);
    /* Written by all ranks, resumed alone. */
    run(MPI_COMM_WORLD, &job, ckpt, 1e-9, &split);
    check_same(&world, &split);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) {
        run(MPI_COMM_SELF, &job, ckpt, 0, &resumed);
        check_same(&world, &resumed);
        CHECK(resumed.fig.resumes == 2);
        outcome_free(&resumed);
    }
    outcome_free(&split);

    /* An outage in the middle of an interval: rolled back on every rank, checkpointed,
     * resumed to the undisturbed run (the reference: cjob drawn fresh). */
    {
        struct outcome ref, out, back;
        memset(&back, 0, sizeof back);
        run(MPI_COMM_WORLD, &cjob, NULL, 0, &ref);
        outage_ops = *cjob.gen.ops;
        real_draw = outage_ops.draw;
        outage_ops.draw = outage_draw;
        outage_ops.chunk_hint = outage_hint;
        cjob.gen.ops = &outage_ops;
        remove(ckpt);
        MPI_Barrier(MPI_COMM_WORLD);
        outage_armed = 1;
        run(MPI_COMM_WORLD, &cjob, ckpt, 0, &out);
        CHECK(out.rc == QZ_EOUTAGE);
        CHECK(strstr(out.msg, "model servers are down (generator: every server is down "
                              "(test)): checkpointed ") != NULL);
        /* without a checkpoint path: an error */
        outcome_free(&out);
        run(MPI_COMM_WORLD, &cjob, NULL, 0, &out);
        CHECK(out.rc == QZ_EIO && strstr(out.msg, "no checkpoint path") != NULL);
        outage_armed = 0;
        run(MPI_COMM_WORLD, &cjob, ckpt, 0, &back);
        check_same(&ref, &back);
        CHECK(back.fig.resumes == 1 && back.fig.outage_checkpoints == 1);
        CHECK(back.fig.resumed_samples > 0 && back.fig.resumed_samples <= OUTAGE_AT);
        CHECK(back.fig.samples_redone > 0);
        CHECK(back.fig.samples_redone < 200000);
        outcome_free(&out);
        outcome_free(&back);
        outcome_free(&ref);
    }

    /* K above the gather limit (100): distributed selection and slices. */
    run(MPI_COMM_WORLD, &dist, NULL, 0, &split);
    CHECK(!split.fig.gathered);
    check_same(&world, &split);
    outcome_free(&split);

    /* A stop request on rank 0 stops every rank at each session's first meeting,
     * after a checkpoint; sessions go on from it until the run is done. */
    remove(ckpt);
    MPI_Barrier(MPI_COMM_WORLD);
    CHECK(qz_interrupt_install(NULL) == QZ_OK);
    if (rank == 0)
        raise(SIGUSR1);
    do {
        outcome_free(&stopped);
        run(MPI_COMM_WORLD, &job, ckpt, 0, &stopped);
        sessions++;
        all = stopped.rc == QZ_ESTOPPED;
        CHECK(stopped.rc == QZ_OK || stopped.rc == QZ_ESTOPPED);
    } while (all && sessions < 1000);
    CHECK(sessions >= 3);
    check_same(&world, &stopped);
    CHECK(stopped.fig.resumes == (uint64_t)sessions - 1);
    CHECK(stopped.fig.checkpoints == (uint64_t)sessions - 1);
    outcome_free(&stopped);

    outcome_free(&world);
    outcome_free(&self);
    qz_job_free(&job);
    qz_job_free(&dist);
    qz_job_free(&cjob);
    MPI_Barrier(MPI_COMM_WORLD);
    remove(self_ckpt);
    remove(cself_ckpt);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) {
        remove(ckpt);
        rmdir(dir);
    }
    MPI_Allreduce(MPI_IN_PLACE, &failures, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("%s: %d failure%s on %d rank%s\n", failures ? "FAIL" : "ok", failures,
               failures == 1 ? "" : "s", size, size == 1 ? "" : "s");
    MPI_Finalize();
    return failures ? 1 : 0;
}
