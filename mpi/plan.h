/* `quantilize plan JOB.json [--ranks P] [--calibrate SECONDS] [--price IN,OUT] [--json]`:
 * what a run of the job will take, before it runs (README "Commands"): N, K for each q,
 * chunks, memory per rank, the archive's size, a model server's requests and tokens, a
 * time estimate at a measured rate (--calibrate draws for a few seconds through the
 * run's own drawing code, writes nothing), a Slurm time limit and rank count, and the
 * cost at a price per 1k tokens. Collective over MPI_COMM_WORLD (every rank loads the
 * job and, with --calibrate, draws); only rank 0 prints. Returns the exit status. */
#ifndef QZ_PLAN_H
#define QZ_PLAN_H

#define QZ_PLAN_SAFETY 1.5        /* the Slurm time limit: the estimate times this ... */
#define QZ_PLAN_LEAD_SECONDS 300  /* ... plus the checkpoint lead (slurm/submit's) */
#define QZ_PLAN_DAY_SECONDS 86400 /* the suggested rank count keeps the limit within this */
#define QZ_PLAN_BYTES_PER_TOKEN 4 /* prompt tokens estimated from bytes, uncalibrated */

int qz_plan_main(int argc, char **argv);

#endif
