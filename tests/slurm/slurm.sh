#!/usr/bin/env bash
# Slurm support on a real single-node cluster (slurm/cluster, started here and
# always stopped): the submit helper runs the demo job; a job told to stop with
# USR1 checkpoints, requeues itself and ends with the record of an uninterrupted
# run; a job array runs three jobs of a q-sweep; the signal lead fitted to -t (formats
# and refusals with a stand-in sbatch, then `submit -t 2` for real); model servers
# started inside the allocation (literal URL and the per-node "{host}" form), stopped
# at the end and around a requeue; a server that never answers fails the job (69).
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

# scancel --signal=TERM (to the ranks, not to srun): a checkpoint and a requeue.
failures_before=$qz_failures
cd long || exit 1
sed -e 's/"name": "long"/"name": "termed"/' -e 's/long.h5/termed.h5/' long.json > termed.json
if id=$(QZ_RUN_ARGS="--progress-every 1" "$submit" termed.json -n 2 2> submit.err); then
    log=$PWD/termed.$id.log
    if wait_log "$log" '^progress: ' 120; then
        check "scancel --signal=TERM $id" scancel --signal=TERM "$id"
        if wait_job "$id" 240; then
            check "TERM to the ranks: COMPLETED after a requeue" test "$states" = "COMPLETED "
            check "TERM to the ranks: restarted once" test "$(job_field "$id" Restarts)" = 1
            check "TERM to the ranks: they checkpointed and stopped" \
                grep -q "^quantilize: stopped by SIGTERM after checkpointing [0-9]* of 2000000000 samples" "$log"
            check "TERM to the ranks: resumed from the checkpoint" \
                grep -q "resuming from checkpoint .*termed.h5.termed.ckpt" "$log"
            check "TERM to the ranks: record written" has_run termed.h5 termed
        else
            bad "TERM to the ranks: the job did not finish"
        fi
    else
        bad "TERM to the ranks: no progress"
    fi
    [ "$qz_failures" -eq "$failures_before" ] || dump_logs "$log" submit.err
else
    cat submit.err
    bad "slurm/submit termed.json"
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

# (4) The warning's lead fitted to the time limit, with a stand-in sbatch that
# records its arguments: min(300 s, a quarter of the limit), every Slurm time format.
mkdir lead && cd lead || exit 1
printf '#!/bin/bash\nprintf "%%s\\n" "$@" > sbatch.args\necho 7\n' > fake_sbatch
chmod +x fake_sbatch
echo '{"name": "lead"}' > lead.json
# lead_for WANT TIME-OPTIONS...: submit gives sbatch --signal=WANT.
lead_for() {
    local want=$1
    shift
    rm -f sbatch.args
    QZ_SBATCH=$PWD/fake_sbatch "$submit" lead.json "$@" > /dev/null 2> lead.err &&
        grep -qx -- "--signal=$want" sbatch.args
}
check "-t 2: USR1 30 s before the end" lead_for B:USR1@30 -t 2
check "--time=5: 75 s" lead_for B:USR1@75 --time=5
check "--time 1:30:00 (H:M:S): 300 s" lead_for B:USR1@300 --time 1:30:00
check "-t10:00 (M:S): 150 s" lead_for B:USR1@150 -t10:00
check "-t 4:01 (M:S): 60 s" lead_for B:USR1@60 -t 4:01
check "-t 1-0 (D-H): 300 s" lead_for B:USR1@300 -t 1-0
check "-t 0-0:3 (D-H:M): 45 s" lead_for B:USR1@45 -t 0-0:3
check "-t 0-0:2:30 (D-H:M:S): 37 s" lead_for B:USR1@37 -t 0-0:2:30
check "-t infinite: 300 s" lead_for B:USR1@300 -t infinite
check "--time=unlimited: 300 s" lead_for B:USR1@300 --time=unlimited
check "no -t: 300 s" lead_for B:USR1@300 -n 2
check "a --signal of one's own is kept" lead_for USR1@100 -t 10 --signal=USR1@100
lead_for B:USR1@30 -t 2
check "submit says which lead it chose" grep -q ', USR1 30 s before the time limit$' lead.err
for t in 1=60 1:59=119 0-0:1=60; do
    expect -d "-t ${t%=*}: refused (exit 2), too short for a warning" 2 \
        "=slurm/submit: time limit \"${t%=*}\" (${t#*=} s) is too short: the job asks for USR1 a quarter of its limit before it ends, to checkpoint, and Slurm may send that up to 60 s early, so a limit under 2 minutes could be warned as soon as it starts; give -t 2 or more (or a --signal of your own)" \
        env QZ_SBATCH="$PWD/fake_sbatch" "$submit" lead.json -t "${t%=*}"
done
rm -f sbatch.args
expect -d "a --signal whose lead is not shorter than the limit: refused" 2 \
    '=slurm/submit: --signal=B:USR1@600: its lead (600 s) is not shorter than the time limit "10" (600 s), so the job would be warned as soon as it starts; give a lead under 600 s, or leave --signal out (the lead is then fitted to the limit)' \
    env QZ_SBATCH="$PWD/fake_sbatch" "$submit" lead.json -t 10 --signal=B:USR1@600
expect -d "a --signal without @ (lead 60 s) and -t 1: refused" 2 '~its lead (60 s) is not shorter' \
    env QZ_SBATCH="$PWD/fake_sbatch" "$submit" lead.json --signal USR1 -t 1
expect -d "a time that is not Slurm's: refused" 2 \
    '=slurm/submit: time limit "2h": not a Slurm time (M, M:S, H:M:S, D-H, D-H:M, D-H:M:S or infinite)' \
    env QZ_SBATCH="$PWD/fake_sbatch" "$submit" lead.json -t 2h
check "refusals submitted nothing" test ! -e sbatch.args
cd .. || exit 1

# The test server stands in for a model server (it binds 127.0.0.1 only): the jobs
# reach it by this machine's name, the cluster's one node.
node=$(hostname -s)
check "this machine's name $node resolves to 127.0.0.1 (the test server binds 127.0.0.1 only; the server tests below need it)" \
    bash -c "getent hosts '$node' | grep -q '^127\.0\.0\.1 '"
# free_port: a TCP port nothing listens on now.
free_port() {
    "$QZ_PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# start_times LOG / usr1_times LOG: the times (s since the epoch) of the job's starts
# and of the USR1s it got, one per line.
note_times() {
    grep -E "^quantilize.sbatch: [0-9TZ:-]+ job [0-9]+: $2" "$1" | awk '{print $2}' |
        while read -r t; do date -d "$t" +%s; done
}

failures_before=$qz_failures
# (5) submit -t 2 for real: a job that needs about 100 s (a model server answering each
# request after 1 s, one request in flight) gets USR1 30 s before its 2-minute limit
# (Slurm sends it up to 60 s early: 30 to 90 s after the start, never at once),
# checkpoints, requeues itself and finishes in a later start, with the record of an
# uninterrupted run.
mkdir tl && cd tl || exit 1
start_fake tl
printf '{"name": "tl", "seed": 9, "q": 0.05, "samples": 400, "chunk_size": 4,
  "generator": {"kind": "openai", "base_url": "%s", "model": "fake-model", "max_tokens": 6,
    "prompt": "Name a colour:", "n": 4, "concurrency": 1, "logprobs": true},
  "utility": {"kind": "logprob_mean"}}\n' "$FAKE_URL" > tl.json
qz_mpi 1 run tl.json -o reference.h5 --no-progress > reference.out 2>&1 ||
    bad "tl: the direct run failed: $(cat reference.out)"
arm slow -1 1
if id=$(QZ_RUN_ARGS="--progress-every 10" "$submit" --max-restarts 4 tl.json -n 1 -t 2 2> submit.err); then
    log=$PWD/tl.$id.log
    check "submit -t 2: USR1 30 s before the limit" grep -q ', USR1 30 s before the time limit$' submit.err
    if wait_job "$id" 600; then
        check "submit -t 2: job COMPLETED" test "$states" = "COMPLETED "
        restarts=$(job_field "$id" Restarts)
        check "submit -t 2: requeued at least once (Restarts=$restarts)" test "$restarts" -ge 1
        mapfile -t starts < <(note_times "$log" '.* restart [0-9]+ \(at most 4\)')
        mapfile -t usr1 < <(note_times "$log" 'got SIGUSR1')
        check "submit -t 2: one USR1 per start but the last (${#usr1[@]} USR1s, ${#starts[@]} starts)" \
            test "${#usr1[@]}" -eq $((${#starts[@]} - 1)) -a "${#starts[@]}" -eq $((restarts + 1))
        for i in "${!usr1[@]}"; do
            after=$((usr1[i] - starts[i]))
            check "submit -t 2: start $i got USR1 $after s after it began (25 to 100 s: near the end, not at once)" \
                test "$after" -ge 25 -a "$after" -le 100
        done
        check "submit -t 2: every stop checkpointed" \
            test "$(grep -c '^quantilize: stopped by SIGUSR1 after checkpointing [0-9]* of 400 samples' "$log")" -eq "${#usr1[@]}"
        check "submit -t 2: the record equals an uninterrupted run's" h5same_resumed reference.h5 tl tl.h5 tl
    else
        bad "submit -t 2: the job did not finish"
    fi
    [ "$qz_failures" -eq "$failures_before" ] || dump_logs "$log" submit.err
else
    cat submit.err
    bad "slurm/submit tl.json -t 2"
fi
cd .. || exit 1

# (6) Model servers inside the allocation: --server starts one per node (here the
# test server, on a free port), the job reaches it by node name, and it is gone after
# the job; a requeue stops and restarts it; a server that never answers fails the job
# with 69, naming the node and the server's log.
failures_before=$qz_failures
mkdir servers && cd servers || exit 1
port=$(free_port)
server_cmd="exec '$QZ_PYTHON' '$QZ_SOURCE/tests/tools/fake_openai.py' --port $port --port-file '$PWD/port.\$SLURMD_NODENAME' --log '$PWD/requests.log' --seconds-limit 900"
# server_job NAME BASE_URL SAMPLES: a text job against BASE_URL.
server_job() {
    printf '{"name": "%s", "seed": 4, "q": 0.05, "samples": %s, "chunk_size": 8,
  "generator": {"kind": "openai", "base_url": "%s", "model": "fake-model", "max_tokens": 6,
    "prompt": "Name a tree:", "n": 4, "concurrency": 2, "logprobs": true},
  "utility": {"kind": "logprob_mean"}}\n' "$1" "$3" "$2" > "$1.json"
}
no_server_left() { ! pgrep -f -- "fake_openai.py --port $port " > /dev/null; }
# reference JOB OUT: JOB run directly on 2 ranks into OUT against a test server on
# the same port (the texts depend on the request only, not on the server instance).
reference() {
    local pid
    "$QZ_PYTHON" "$QZ_SOURCE/tests/tools/fake_openai.py" --port "$port" --port-file "$PWD/ref.port" \
        --seconds-limit 600 &
    pid=$!
    wait_until 10 test -s ref.port
    qz_mpi 2 run "$1" -o "$2" --no-progress > "$2.out" 2>&1 || bad "reference run of $1: $(cat "$2.out")"
    kill "$pid"
    wait "$pid"
    rm -f ref.port
}
for form in literal host; do
    if [ $form = literal ]; then url="http://$node:$port/v1"; else url="http://{host}:$port/v1"; fi
    server_job "srv-$form" "$url" 160
    reference "srv-$form.json" "ref-$form.h5"
    : > requests.log
    if id=$("$submit" --server "$server_cmd" --server-port "$port" --server-wait 60 "srv-$form.json" -n 2 -t 5 2> submit.err); then
        log=$PWD/srv-$form.$id.log
        if wait_job "$id" 180; then
            check "servers ($form $url): job COMPLETED" test "$states" = "COMPLETED "
            check "servers ($form): the server was started on node $node" \
                grep -q "job $id: the model servers answer on all 1 node(s) after" "$log"
            check "servers ($form): its log is next to the job's" test -e "srv-$form.$id.server.$node.log"
            check "servers ($form): it served the job's requests" \
                grep -q ' POST /v1/completions 200 ' requests.log
            check "servers ($form): stopped at the end" grep -q "job $id: stopping the model servers" "$log"
            check "servers ($form): ... by TERM to the server, which removed its port file" \
                test ! -e "port.$node" -a -z "$(grep -E '(Killed|forcing job termination)' "$log")"
            check "servers ($form): no server process left" wait_until 30 no_server_left
            check "servers ($form): the record equals a run against a server of the test's" \
                h5same "ref-$form.h5" "srv-$form" "srv-$form.h5" "srv-$form"
        else
            bad "servers ($form): the job did not finish"
        fi
    else
        cat submit.err
        bad "servers ($form): slurm/submit"
    fi
done
[ "$qz_failures" -eq "$failures_before" ] || dump_logs "$log" submit.err

# Around a requeue: USR1 while the ranks wait for a slowed server; the servers are
# stopped before the requeue and started again, and the run resumes.
failures_before=$qz_failures
server_job requeue "http://$node:$port/v1" 320
reference requeue.json refq.h5
if id=$(QZ_RUN_ARGS="--progress-every 1" "$submit" --server "$server_cmd" --server-port "$port" requeue.json -n 2 2> submit.err); then
    log=$PWD/requeue.$id.log
    if wait_log "$log" 'the model servers answer on all' 120; then
        FAKE_CONTROL="http://127.0.0.1:$port/_control" arm slow -1 1
        wait_log "$log" '^progress: ' 60
        sleep 2
        check "requeue: scancel --signal=USR1 --batch $id" scancel --signal=USR1 --batch "$id"
        if wait_job "$id" 300; then
            check "requeue: job COMPLETED after the requeue" test "$states" = "COMPLETED "
            check "requeue: restarted once" test "$(job_field "$id" Restarts)" = 1
            check "requeue: servers started twice" \
                test "$(grep -c "job $id: starting the model server on 1 node(s)" "$log")" -eq 2
            check "requeue: servers stopped before the requeue and at the end" \
                test "$(grep -c "job $id: stopping the model servers" "$log")" -eq 2
            check "requeue: stopped, then requeued" grep -q "job $id: checkpointed; requeueing" "$log"
            check "requeue: resumed" grep -q "^resuming from checkpoint requeue.h5.requeue.ckpt" "$log"
            check "requeue: no server process left" wait_until 30 no_server_left
            check "requeue: the record equals an uninterrupted run's" h5same_resumed refq.h5 requeue requeue.h5 requeue
        else
            bad "requeue: the job did not finish"
        fi
    else
        bad "requeue: the servers never answered"
    fi
    [ "$qz_failures" -eq "$failures_before" ] || dump_logs "$log" submit.err
else
    cat submit.err
    bad "requeue: slurm/submit"
fi

# A server that never answers: the job fails with 69 after --server-wait, naming the
# node and the server's log, and the server step is gone.
failures_before=$qz_failures
server_job never "http://$node:$port/v1" 16
if id=$("$submit" --server "exec sleep 300.$$" --server-port "$port" --server-wait 5 never.json -n 1 2> submit.err); then
    log=$PWD/never.$id.log
    if wait_job "$id" 120; then
        check "no answer: job FAILED" test "$states" = "FAILED "
        check "no answer: exit code 69" test "$(job_field "$id" ExitCode)" = "69:0"
        check "no answer: the message names the node and the server's log" \
            grep -q "job $id: the model server on node $node did not answer http://$node:$port/v1/models within 5 s (QZ_SERVER_WAIT); its log: $PWD/never.$id.server.$node.log$" "$log"
        check "no answer: quantilize was not started" grep -q "job $id: quantilize was not started" "$log"
        check "no answer: no record" test ! -e never.h5
        check "no answer: the server command is gone" wait_until 30 bash -c '! pgrep -x -f "sleep 300.'$$'" > /dev/null'
    else
        bad "no answer: the job did not end"
    fi
    [ "$qz_failures" -eq "$failures_before" ] || dump_logs "$log" submit.err
else
    cat submit.err
    bad "no answer: slurm/submit"
fi
# A server command that ends at once (a typo, a missing model): 69 without waiting.
failures_before=$qz_failures
if id=$("$submit" --server "echo no such model >&2; exit 3" --server-port "$port" --server-wait 300 never.json -n 1 2> submit.err); then
    log=$PWD/never.$id.log
    if wait_job "$id" 120; then
        check "server ends: job FAILED with exit code 69" test "$states" = "FAILED " -a "$(job_field "$id" ExitCode)" = "69:0"
        check "server ends: the message says so and where its log is" \
            grep -q "job $id: the model server step ended (status 3) before every node answered; logs: $PWD/never.$id.server.NODE.log$" "$log"
        check "server ends: its log has what it said" grep -qx "no such model" "never.$id.server.$node.log"
    else
        bad "server ends: the job did not end"
    fi
    [ "$qz_failures" -eq "$failures_before" ] || dump_logs "$log" submit.err
else
    cat submit.err
    bad "server ends: slurm/submit"
fi
cd .. || exit 1

finish
