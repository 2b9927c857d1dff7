#!/usr/bin/env bash
# Slurm support on a real single-node cluster (slurm/cluster, started here and
# always stopped): the submit helper runs the demo job; a job told to stop with
# USR1 checkpoints, requeues itself and ends with the record of an uninterrupted
# run; a job array runs three jobs of a q-sweep.
. "$(dirname "$0")/../lib.sh"
cd "$QZ_TMP" || exit 1

cluster=$QZ_SOURCE/slurm/cluster
submit=$QZ_SOURCE/slurm/submit

# The cluster lives in its own directory (munged wants its socket directory
# world-readable; QZ_TMP is private). A watchdog outside this process tree stops
# it even if this test is killed (a ctest timeout) before its EXIT trap runs.
QZ_CLUSTER=$(mktemp -d "${TMPDIR:-/tmp}/qzslurm.XXXXXX")
stop_cluster() {
    "$cluster" stop "$QZ_CLUSTER" && rm -rf "$QZ_CLUSTER"
}
trap 'stop_cluster; qz_cleanup' EXIT
trap 'exit 1' INT TERM
(setsid bash -c 'while kill -0 "$1" 2> /dev/null; do sleep 2; done
    [ -d "$2" ] && "$3" stop "$2" && rm -rf "$2"' watchdog $$ "$QZ_CLUSTER" "$cluster" \
    > /dev/null 2>&1 &)

if ! "$cluster" start "$QZ_CLUSTER" > cluster.out 2>&1; then
    cat cluster.out
    bad "slurm/cluster start"
    finish
    exit 1
fi
ok "slurm/cluster start: $(tail -n 1 cluster.out)"
# shellcheck source=/dev/null
. "$QZ_CLUSTER/env"
export QZ_BIN

# dump_logs LOG...: show what happened, for a failure.
dump_logs() {
    local f
    for f in "$@" "$QZ_CLUSTER"/log/slurmctld.log "$QZ_CLUSTER"/log/slurmd.log; do
        echo "---- $f (last 40 lines)"
        tail -n 40 "$f" 2> /dev/null
    done
    echo "---- squeue"
    squeue 2>&1
}

# job_field ID NAME: NAME=value of every job (array task) with ID, one per line.
job_field() {
    scontrol show job -o "$1" 2> /dev/null | grep -o " $2=[^ ]*" | cut -d= -f2
}

# wait_job ID SECONDS: wait until every task of job ID is in a final state (the
# states are in $states afterwards); 1 on timeout.
wait_job() {
    local id=$1 limit=$2 t
    for ((t = 0; t < limit * 2; t++)); do
        states=$(job_field "$id" JobState | sort | tr '\n' ' ')
        if [ -n "$states" ] && ! grep -Eq 'PENDING|RUNNING|COMPLETING|REQUEUE|CONFIGURING|SUSPENDED|RESIZING|SIGNALING|STAGE_OUT' <<< "$states"; then
            return 0
        fi
        sleep 0.5
    done
    echo "job $id: still \"$states\" after $limit s"
    return 1
}

# wait_log FILE PATTERN SECONDS: wait until FILE has a line matching PATTERN.
wait_log() {
    wait_until "$3" grep -Eq -- "$2" "$1" && return 0
    echo "$1: no line matching \"$2\" after $3 s"
    return 1
}

# has_run FILE RUN: FILE holds /runs/RUN, complete.
has_run() {
    h5q assert "$1" "runs/$2" "a['status'] == 'complete'"
}

failures_before=$qz_failures
# (1) The demo job through the helper, on 2 ranks.
mkdir demo && cd demo || exit 1
if id=$("$submit" "$QZ_SOURCE/jobs/demo.json" -n 2 2> submit.err); then
    ok "slurm/submit jobs/demo.json: job $id"
    log=$PWD/demo.$id.log
    if wait_job "$id" 120; then
        check "demo job COMPLETED" test "$states" = "COMPLETED "
        check "demo record written in the submit directory: demo.h5 /runs/demo" \
            has_run demo.h5 demo
        check "demo log next to the record, with the summary" grep -q '^run "demo": selected sample' "$log"
        check "demo ran on 2 ranks" grep -q '(ranks: 2,' "$log"
    else
        bad "demo job did not finish"
    fi
    [ "$qz_failures" -eq "$failures_before" ] || dump_logs "$log" submit.err
else
    cat submit.err
    bad "slurm/submit jobs/demo.json"
fi
cd .. || exit 1

# Bad submissions: exit 2, one message, nothing submitted.
expect -d "submit of a missing job file: exit 2, message" 2 \
    '=slurm/submit: nothere.json: no such job file' "$submit" nothere.json
echo '{"seed": 1}' > noname.json
expect -d "submit of a job without a name: exit 2, message" 2 '~noname.json: cannot submit it' \
    "$submit" noname.json
check "bad submissions submitted nothing" test -z "$(squeue -h -o %i)"

failures_before=$qz_failures
# (2) A long job (about 20 s on 2 ranks) told to stop by USR1: it checkpoints
# (exit 75), requeues itself (SLURM_RESTART_COUNT 1), resumes and writes the record
# an uninterrupted run writes.
mkdir long && cd long || exit 1
sed -e 's/"name": "demo"/"name": "long"/' -e 's/"samples": 10000000/"samples": 2000000000/' \
    -e 's/"path": "demo.h5"/"path": "long.h5"/' "$QZ_SOURCE/jobs/demo.json" > long.json
if id=$(QZ_RUN_ARGS="--progress-every 1" "$submit" long.json -n 2 2> submit.err); then
    log=$PWD/long.$id.log
    if wait_log "$log" '^progress: ' 120; then
        sleep 2
        check "scancel --signal=USR1 --batch $id" scancel --signal=USR1 --batch "$id"
        if wait_job "$id" 240; then
            check "long job COMPLETED after the requeue" test "$states" = "COMPLETED "
            check "long job was restarted once (Restarts=1)" test "$(job_field "$id" Restarts)" = 1
            check "long job: USR1 passed to the ranks" grep -q "job $id: got SIGUSR1" "$log"
            check "long job: checkpointed and requeued itself" \
                grep -q "job $id: checkpointed; requeueing (restart 1 of at most 3)" "$log"
            check "long job: the ranks wrote a checkpoint and stopped" \
                grep -q "^quantilize: stopped by SIGUSR1 after checkpointing [0-9]* of 2000000000 samples" "$log"
            check "long job: second start has SLURM_RESTART_COUNT 1" grep -q "restart 1 (at most 3)" "$log"
            check "long job: second start resumed from the checkpoint" \
                grep -q "resuming from checkpoint .*long.h5.long.ckpt" "$log"
            check "long job: checkpoint removed after the record was written" test ! -e long.h5.long.ckpt
            check "long job: finished after the restart" grep -q "job $id: finished" "$log"
            check "long job: record written" has_run long.h5 long
            check "uninterrupted reference run (mpirun, 2 ranks)" \
                qz_mpi 2 run long.json -o reference.h5 --no-progress
            check "the requeued run's record equals the uninterrupted one" \
                h5same long.h5 long reference.h5 long
        else
            bad "long job did not finish"
        fi
    else
        bad "long job shows no progress"
    fi
    [ "$qz_failures" -eq "$failures_before" ] || dump_logs "$log" submit.err
else
    cat submit.err
    bad "slurm/submit long.json"
fi
cd .. || exit 1

# A plain scancel cancels: the job must not requeue itself, whatever the ranks did
# with the TERM Slurm sent them.
failures_before=$qz_failures
cd long || exit 1
sed -e 's/"name": "long"/"name": "cancelled"/' -e 's/long.h5/cancelled.h5/' long.json > cancelled.json
if id=$(QZ_RUN_ARGS="--progress-every 1" "$submit" cancelled.json -n 2 2> submit.err); then
    log=$PWD/cancelled.$id.log
    if wait_log "$log" '^progress: ' 120; then
        check "scancel $id" scancel "$id"
        if wait_job "$id" 120; then
            check "cancelled job: CANCELLED" test "$states" = "CANCELLED "
            check "cancelled job: not requeued (Restarts=0)" test "$(job_field "$id" Restarts)" = 0
            check "cancelled job: no second start" test "$(grep -c 'restart [0-9]* (at most' "$log")" -eq 1
        else
            bad "cancelled job did not end"
        fi
    else
        bad "cancelled job shows no progress"
    fi
    [ "$qz_failures" -eq "$failures_before" ] || dump_logs "$log" submit.err
else
    cat submit.err
    bad "slurm/submit cancelled.json"
fi
cd .. || exit 1

failures_before=$qz_failures
# (3) A q-sweep as a job array: three jobs, one per q, each its own run, in one
# submission; all three tasks run at once (1 rank each) and add their runs to one
# file.
mkdir sweep && cd sweep || exit 1
for q in 1e-2 1e-3 1e-4; do
    printf '{"name": "sweep-q%s", "seed": 7, "q": %s, "samples": 20000000,
  "generator": {"kind": "normal"}, "output": {"path": "sweep.h5"}}\n' "$q" "$q" \
        > "sweep-q$q.json"
done
if id=$("$submit" sweep-q1e-2.json sweep-q1e-3.json sweep-q1e-4.json -n 1 2> submit.err); then
    ok "slurm/submit of 3 jobs: array job $id"
    if wait_job "$id" 180; then
        check "all 3 array tasks COMPLETED" test "$states" = "COMPLETED COMPLETED COMPLETED "
        for q in 1e-2 1e-3 1e-4; do
            check "array: run sweep-q$q recorded in sweep.h5" has_run sweep.h5 "sweep-q$q"
        done
        qz_mpi 1 run sweep-q1e-3.json -o reference.h5 --no-progress > reference.out 2>&1 ||
            bad "array: the direct run failed: $(cat reference.out)"
        check "array: task 1's run equals one run directly" \
            h5same sweep.h5 sweep-q1e-3 reference.h5 sweep-q1e-3
        check "array: one log per task" test "$(ls sweep-q1e-2."${id}"_*.log | wc -l)" -eq 3
        check "array: task 2 ran the third job" \
            grep -q "array task ${id}_2 .*run $PWD/sweep-q1e-4.json" "sweep-q1e-2.${id}_2.log"
    else
        bad "array job did not finish"
    fi
    [ "$qz_failures" -eq "$failures_before" ] || dump_logs sweep-q1e-2."$id"_*.log submit.err
else
    cat submit.err
    bad "slurm/submit of 3 jobs"
fi
cd .. || exit 1

finish
